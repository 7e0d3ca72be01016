/*
 * source.c - the source interface: opening an input of any type, calls
 * through each source's ops, and what is the same for every type (the
 * defaults of source_int.h).
 */
#include "source_int.h"
#include "base.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The input types this build reads, and how each opens. */
static const struct {
	int			 type;	/* enum config_input_type */
	int	(*open)(const struct config_input *, const char *,
		    const struct buffer *, struct source **);
} openers[] = {
	{ CONFIG_INPUT_FILE, source_file_open },
	{ CONFIG_INPUT_EVTX, source_evtx_open },
#ifdef _WIN32
	{ CONFIG_INPUT_EVENTLOG, source_eventlog_open },
#else
	{ CONFIG_INPUT_JOURNALD, source_journald_open },
#endif
};

int
source_open(const struct config_input *cfg, const char *state_dir,
    const struct buffer *b, struct source **out)
{
	for (size_t i = 0; i < sizeof(openers) / sizeof(openers[0]); i++)
		if (openers[i].type == cfg->type)
			return openers[i].open(cfg, state_dir, b, out);
	log_errorx("input %s: type %s is not available in this build",
	    cfg->name, config_input_type_name(cfg->type));
	*out = NULL;
	return -ENOTSUP;
}

void *
source_new(size_t size, const struct source_ops *ops,
    const struct config_input *cfg)
{
	struct source *s;

	if ((s = calloc(1, size)) == NULL)
		return NULL;
	s->ops = ops;
	s->name = cfg->name;
	s->fd = WAIT_HANDLE_NONE;
	return s;
}

const char *
source_name(const struct source *s)
{
	return s->name;
}

ssize_t
source_poll(struct source *s, struct buffer *b, size_t budget)
{
	return s->ops->poll(s, b, budget);
}

wait_handle
source_wait_fd(const struct source *s)
{
	return s->finished ? WAIT_HANDLE_NONE : s->fd;
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
	return s->finished;
}

void
source_checkpoint(struct source *s, uint64_t durable_seq, bool force)
{
	if (s->ops->checkpoint != NULL)
		s->ops->checkpoint(s, durable_seq, force);
	else if (s->pos != NULL)
		source_pos_commit(s->pos, durable_seq, force);
}

void
source_get_stats(const struct source *s, struct source_stats *st)
{
	*st = s->st;
}

void
source_close(struct source *s, const struct buffer *b)
{
	if (s == NULL)
		return;
	/* Before the type closes its files: the file input reads the
	 * bytes before its position to save it. */
	if (b != NULL)
		source_checkpoint(s, buffer_durable_seq(b), true);
	strbuf_free(&s->esc);
	strbuf_free(&s->cut);
	s->ops->close(s);
}

void
source_set_policy(struct source *s, struct policy *p, uint64_t max_record)
{
	s->policy = p;
	s->max_record = max_record;
}

/*
 * A record whose tag trailer would push it past the ring's
 * max_record_size: cut its raw part so that the trailer fits (the ring
 * would otherwise cut the trailer off), flagged truncated.
 */
static int
fit_record(struct source *s, const struct policy_out *o, const char **data,
    size_t *len, uint32_t *flags)
{
	struct event_tags t;
	size_t raw = event_rec_decode(o->data, o->len, &t);
	size_t trailer = o->len - raw;
	int rc;

	if (trailer >= s->max_record)
		return -EINVAL;	/* cannot happen: max_record >= 1 KiB */
	raw = (size_t)s->max_record - trailer;
	strbuf_reset(&s->cut);
	/* Encoding a cut raw part may need the escape trailer less or more:
	 * encode again rather than copy. */
	if ((rc = event_rec_encode(&s->cut, o->data, raw, &t)) != 0)
		return rc;
	while (s->cut.len > s->max_record && raw > 0) {
		raw--;
		strbuf_reset(&s->cut);
		if ((rc = event_rec_encode(&s->cut, o->data, raw, &t)) != 0)
			return rc;
	}
	*data = s->cut.s;
	*len = s->cut.len;
	*flags |= BUFFER_REC_TRUNCATED;
	return 0;
}

int
source_append(struct source *s, struct buffer *b, int64_t time_ms,
    uint32_t flags, const void *data, size_t len, uint64_t *seq)
{
	struct policy_out o;
	const char *d;
	size_t n;
	int rc;

	if (s->policy == NULL) {
		if (!event_rec_needs_trailer(data, len))
			return buffer_append(b, s->name, time_ms, flags, data,
			    len, seq);
		/* Bytes that end like a tag trailer: escaped (event.h). */
		memset(&o, 0, sizeof(o));
		strbuf_reset(&s->esc);
		if ((rc = event_rec_encode(&s->esc, data, len, NULL)) != 0)
			return -ENOMEM;
		o.data = s->esc.s;
		o.len = s->esc.len;
		rc = POLICY_KEEP;
	} else if ((rc = policy_apply(s->policy, s->name, data, len, &o)) <
	    0) {
		return rc;
	}
	if (rc == POLICY_DROP) {
		s->st.filtered++;
		return SOURCE_FILTERED;
	}
	d = o.data;
	n = o.len;
	if (s->max_record > 0 && n > s->max_record &&
	    (rc = fit_record(s, &o, &d, &n, &flags)) != 0)
		return rc;
	return buffer_append(b, s->name, time_ms, flags, d, n, seq);
}

/* What rename keeps and a new file does not (source_int.h). */
int
source_file_id(const struct stat *sb, int fd, const char *path, uint64_t *dev,
    uint64_t *ino)
{
#ifdef _WIN32
	(void)sb;
	if ((fd >= 0 ? win_fd_id(fd, dev, ino) :
	    win_path_id(path, dev, ino)) != 0) {
		*dev = *ino = 0;
		return -errno;
	}
#else
	(void)fd;
	(void)path;
	*dev = (uint64_t)sb->st_dev;
	*ino = (uint64_t)sb->st_ino;
#endif
	return 0;
}
