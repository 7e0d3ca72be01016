/*
 * buffer_mem.c - the bounded in-memory implementation of buffer.h.
 *
 * Records sit in a ring of slots, oldest first; slot i holds sequence
 * number base_seq + i.  Each slot owns one allocation holding the source
 * name and the record bytes.  Both the number of records and their bytes
 * are capped when the buffer is created.  A record leaves the ring when
 * every cursor has acknowledged it or, under BUFFER_FULL_DROP_OLDEST, when
 * room is needed; an eviction is counted.  Nothing here survives a crash,
 * so the durable sequence number is the lowest acknowledgement.
 */
#include "buffer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CURSORS	32

struct slot {
	char		*blob;		/* source name, NUL, record bytes */
	size_t		 srclen;
	size_t		 len;
	int64_t		 time_ms;
	uint32_t	 flags;
};

struct buffer_cursor {
	struct buffer	*b;
	char		*name;
	uint64_t	 acked;		/* last acknowledged seq */
	uint64_t	 next;		/* next seq to read */
};

struct buffer {
	struct buffer_opts	 opts;
	struct slot		*slots;
	size_t			 cap;	/* slots allocated (max_records) */
	size_t			 head;	/* index of the oldest slot */
	size_t			 count;
	uint64_t		 base_seq;	/* seq of slots[head] */
	uint64_t		 bytes;
	struct buffer_cursor	*cursors[MAX_CURSORS];
	size_t			 ncursors;
	struct buffer_stats	 st;
};

int
buffer_open(const struct buffer_opts *opts, struct buffer **out)
{
	struct buffer *b;

	*out = NULL;
	if (opts->max_records == 0 || opts->max_bytes == 0 ||
	    opts->max_records > (1u << 24))
		return -EINVAL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -ENOMEM;
	b->opts = *opts;
	b->cap = (size_t)opts->max_records;
	if ((b->slots = calloc(b->cap, sizeof(*b->slots))) == NULL) {
		free(b);
		return -ENOMEM;
	}
	b->base_seq = 1;
	*out = b;
	return 0;
}

static struct slot *
slot_at(const struct buffer *b, uint64_t seq)
{
	return &b->slots[(b->head + (size_t)(seq - b->base_seq)) % b->cap];
}

static void
pop_oldest(struct buffer *b)
{
	struct slot *s = &b->slots[b->head];

	b->bytes -= s->len;
	free(s->blob);
	memset(s, 0, sizeof(*s));
	b->head = (b->head + 1) % b->cap;
	b->count--;
	b->base_seq++;
}

void
buffer_close(struct buffer *b)
{
	if (b == NULL)
		return;
	while (b->count > 0)
		pop_oldest(b);
	for (size_t i = 0; i < b->ncursors; i++) {
		free(b->cursors[i]->name);
		free(b->cursors[i]);
	}
	free(b->slots);
	free(b);
}

static uint64_t
min_acked(const struct buffer *b)
{
	uint64_t m = b->base_seq + b->count - 1;

	for (size_t i = 0; i < b->ncursors; i++)
		if (b->cursors[i]->acked < m)
			m = b->cursors[i]->acked;
	return m;
}

/* Release records every cursor has acknowledged. */
static void
release_acked(struct buffer *b)
{
	uint64_t m = min_acked(b);

	while (b->count > 0 && b->base_seq <= m)
		pop_oldest(b);
}

bool
buffer_can_append(const struct buffer *b, size_t len)
{
	if (b->opts.full == BUFFER_FULL_DROP_OLDEST)
		return len <= b->opts.max_bytes;
	return b->count < b->cap && b->bytes + len <= b->opts.max_bytes;
}

int
buffer_append(struct buffer *b, const char *source, int64_t time_ms,
    uint32_t flags, const void *data, size_t len, uint64_t *seq)
{
	struct slot *s;
	size_t srclen = strlen(source);
	uint64_t newseq;

	if (len > b->opts.max_bytes)
		return -EMSGSIZE;
	while (b->count == b->cap || b->bytes + len > b->opts.max_bytes) {
		if (b->opts.full != BUFFER_FULL_DROP_OLDEST) {
			b->st.rejected_full++;
			return -ENOBUFS;
		}
		/* Cursors that had not acknowledged it lose the record. */
		for (size_t i = 0; i < b->ncursors; i++) {
			struct buffer_cursor *c = b->cursors[i];
			if (c->acked < b->base_seq)
				c->acked = b->base_seq;
			if (c->next <= b->base_seq)
				c->next = b->base_seq + 1;
		}
		b->st.dropped++;
		pop_oldest(b);
	}
	s = &b->slots[(b->head + b->count) % b->cap];
	if ((s->blob = malloc(srclen + 1 + len)) == NULL)
		return -ENOMEM;
	memcpy(s->blob, source, srclen + 1);
	if (len > 0)
		memcpy(s->blob + srclen + 1, data, len);
	s->srclen = srclen;
	s->len = len;
	s->time_ms = time_ms;
	s->flags = flags;
	newseq = b->base_seq + b->count;
	b->count++;
	b->bytes += len;
	b->st.appended++;
	if (seq != NULL)
		*seq = newseq;
	/* With no cursor nobody will read it: it is done at once. */
	if (b->ncursors == 0)
		release_acked(b);
	return 0;
}

uint64_t
buffer_last_seq(const struct buffer *b)
{
	return b->base_seq + b->count - 1;
}

uint64_t
buffer_durable_seq(const struct buffer *b)
{
	if (b->count == 0)
		return b->base_seq - 1;
	return min_acked(b);
}

void
buffer_get_stats(const struct buffer *b, struct buffer_stats *st)
{
	*st = b->st;
	st->records = b->count;
	st->bytes = b->bytes;
}

int
buffer_cursor_open(struct buffer *b, const char *name,
    struct buffer_cursor **out)
{
	struct buffer_cursor *c;

	*out = NULL;
	if (b->ncursors == MAX_CURSORS)
		return -ENOSPC;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	if ((c->name = strdup(name)) == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->b = b;
	c->acked = b->base_seq - 1;
	c->next = b->base_seq;
	b->cursors[b->ncursors++] = c;
	*out = c;
	return 0;
}

size_t
buffer_read(struct buffer_cursor *c, struct buffer_rec *out, size_t max,
    size_t max_bytes)
{
	struct buffer *b = c->b;
	uint64_t end = b->base_seq + b->count;
	size_t n = 0, bytes = 0;

	if (c->next < b->base_seq)
		c->next = b->base_seq;
	while (n < max && c->next < end) {
		struct slot *s = slot_at(b, c->next);

		if (n > 0 && bytes + s->len > max_bytes)
			break;
		out[n].seq = c->next;
		out[n].time_ms = s->time_ms;
		out[n].flags = s->flags;
		out[n].source = s->blob;
		out[n].data = s->blob + s->srclen + 1;
		out[n].len = s->len;
		bytes += s->len;
		n++;
		c->next++;
	}
	return n;
}

int
buffer_ack(struct buffer_cursor *c, uint64_t seq)
{
	struct buffer *b = c->b;

	if (seq >= b->base_seq + b->count)
		return -EINVAL;
	if (seq > c->acked)
		c->acked = seq;
	if (c->next <= seq)
		c->next = seq + 1;
	release_acked(b);
	return 0;
}

void
buffer_rewind(struct buffer_cursor *c)
{
	c->next = c->acked + 1;
}

uint64_t
buffer_cursor_pending(const struct buffer_cursor *c)
{
	uint64_t last = buffer_last_seq(c->b);

	return last > c->acked ? last - c->acked : 0;
}

uint64_t
buffer_cursor_unread(const struct buffer_cursor *c)
{
	uint64_t end = c->b->base_seq + c->b->count;

	return end > c->next ? end - c->next : 0;
}

const char *
buffer_cursor_name(const struct buffer_cursor *c)
{
	return c->name;
}
