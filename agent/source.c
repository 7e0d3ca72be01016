/*
 * source.c - the source interface: opening an input of any type, and
 * calls through each source's ops.
 */
#include "agent_int.h"
#include "log.h"

#include <errno.h>

int
source_open(const struct config_input *cfg, const char *state_dir,
    const struct buffer *b, struct source **out)
{
	switch (cfg->type) {
	case CONFIG_INPUT_FILE:
		return source_file_open(cfg, state_dir, b, out);
	default:
		log_errorx("input %s: type %s is not available in this build",
		    cfg->name, config_input_type_name(cfg->type));
		*out = NULL;
		return -ENOTSUP;
	}
}

const char *
source_name(const struct source *s)
{
	return s->ops->name(s);
}

ssize_t
source_poll(struct source *s, struct buffer *b, size_t budget)
{
	return s->ops->poll(s, b, budget);
}

int
source_wait_fd(const struct source *s)
{
	return s->ops->wait_fd(s);
}

int64_t
source_next_poll(const struct source *s, int64_t now_ms)
{
	return s->ops->next_poll(s, now_ms);
}

bool
source_at_end(const struct source *s)
{
	return s->ops->at_end(s);
}

bool
source_finished(const struct source *s)
{
	return s->ops->finished(s);
}

void
source_checkpoint(struct source *s, uint64_t durable_seq, bool force)
{
	s->ops->checkpoint(s, durable_seq, force);
}

void
source_get_stats(const struct source *s, struct source_stats *st)
{
	s->ops->get_stats(s, st);
}

void
source_close(struct source *s, const struct buffer *b)
{
	if (s != NULL)
		s->ops->close(s, b);
}
