/*
 * source.c - the source interface: opening an input of any type, and
 * calls through each source's ops.
 */
#include "source.h"
#include "base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
source_open(const struct config_input *cfg, const char *state_dir,
    const struct buffer *b, struct source **out)
{
	switch (cfg->type) {
	case CONFIG_INPUT_FILE:
		return source_file_open(cfg, state_dir, b, out);
	case CONFIG_INPUT_JOURNALD:
		return source_journald_open(cfg, state_dir, b, out);
	case CONFIG_INPUT_EVTX:
		return source_evtx_open(cfg, state_dir, b, out);
#ifdef _WIN32
	case CONFIG_INPUT_EVENTLOG:
		return source_eventlog_open(cfg, state_dir, b, out);
#endif
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

/* ---- text positions ----------------------------------------------------------- */

int
source_pos_init(struct source_pos *p, const char *state_dir, const char *name,
    char *pos)
{
	char dir[4096];
	FILE *f;
	size_t n;
	int rc;

	memset(p, 0, sizeof(*p));
	p->name = name;
	pos[0] = '\0';
	if (snprintf(dir, sizeof(dir), "%s/positions", state_dir) >=
	    (int)sizeof(dir))
		return -ENAMETOOLONG;
	if ((rc = file_mkdirs(dir, 0750)) != 0)
		return rc;
	if (asprintf(&p->path, "%s/%s.pos", dir, name) < 0) {
		p->path = NULL;
		return -ENOMEM;
	}
	if ((f = fopen(p->path, "r")) != NULL) {
		n = fread(pos, 1, SOURCE_POS_MAX - 1, f);
		fclose(f);
		pos[n] = '\0';
		while (n > 0 && (pos[n - 1] == '\n' || pos[n - 1] == '\r'))
			pos[--n] = '\0';
		memcpy(p->committed, pos, n + 1);
		memcpy(p->saved, pos, n + 1);
	}
	return 0;
}

void
source_pos_note(struct source_pos *p, uint64_t seq, const char *pos)
{
	char *copy;

	if (p->npending > 0 && p->pending[p->npending - 1].seq == seq) {
		if ((copy = strdup(pos)) != NULL) {
			free(p->pending[p->npending - 1].pos);
			p->pending[p->npending - 1].pos = copy;
		}
		return;
	}
	if ((copy = strdup(pos)) == NULL)
		return;		/* the position only lags */
	if (p->npending == sizeof(p->pending) / sizeof(p->pending[0])) {
		/* Forget the oldest: the position only lags a little. */
		free(p->pending[0].pos);
		memmove(p->pending, p->pending + 1, (p->npending - 1) *
		    sizeof(p->pending[0]));
		p->npending--;
	}
	p->pending[p->npending].seq = seq;
	p->pending[p->npending].pos = copy;
	p->npending++;
}

void
source_pos_commit(struct source_pos *p, uint64_t durable_seq, bool force)
{
	size_t i = 0;
	int64_t now = mono_now_ms();
	int rc;

	while (i < p->npending && p->pending[i].seq <= durable_seq) {
		snprintf(p->committed, sizeof(p->committed), "%s",
		    p->pending[i].pos);
		free(p->pending[i].pos);
		i++;
	}
	if (i > 0) {
		memmove(p->pending, p->pending + i, (p->npending - i) *
		    sizeof(p->pending[0]));
		p->npending -= i;
	}
	if (p->path == NULL || strcmp(p->committed, p->saved) == 0 ||
	    (!force && now - p->last_save_ms < 1000))
		return;
	if ((rc = file_write_atomic(p->path, p->committed,
	    strlen(p->committed), 0640, true)) != 0) {
		if (!p->warned)
			log_warnx("input %s: cannot save position to %s: %s "
			    "(a restart would repeat records)", p->name, p->path,
			    strerror(-rc));
		p->warned = true;
		return;
	}
	p->warned = false;
	memcpy(p->saved, p->committed, sizeof(p->saved));
	p->last_save_ms = now;
}

void
source_pos_free(struct source_pos *p)
{
	for (size_t i = 0; i < p->npending; i++)
		free(p->pending[i].pos);
	p->npending = 0;
	free(p->path);
	p->path = NULL;
}
