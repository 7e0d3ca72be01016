/*
 * tags.c - the tags a record carries through the ring: the trailer that
 * follows a source's raw bytes (its layout is in event.h), written before
 * the ring by the policy (agent/policy) and read back by every renderer,
 * which strips it before it shows a raw byte.
 */
#include "event.h"

#include <errno.h>
#include <string.h>

#define TRAILER_FIXED	(2 + EVENT_TAGS_MAGIC_LEN)
#define TAGS_BYTES_MAX	(EVENT_TAGS_MAX * (EVENT_TAG_MAX + 1))

static bool
tag_ok(const char *s, size_t n)
{
	if (n == 0 || n > EVENT_TAG_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int
event_tags_add(struct event_tags *t, const char *tag)
{
	size_t n = strlen(tag);

	if (!tag_ok(tag, n))
		return -EINVAL;
	if (event_tags_has(t, tag))
		return 0;
	if (t->n == EVENT_TAGS_MAX)
		return -ENOSPC;
	memcpy(t->v[t->n], tag, n + 1);
	t->n++;
	return 0;
}

bool
event_tags_has(const struct event_tags *t, const char *tag)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i], tag) == 0)
			return true;
	return false;
}

/*
 * The length of data's raw part when it ends with a valid trailer (its
 * tags into t when t is not NULL), else len.
 */
size_t
event_rec_decode(const char *data, size_t len, struct event_tags *t)
{
	const unsigned char *u = (const unsigned char *)data;
	size_t tlen, start, ntags = 0;

	if (t != NULL)
		t->n = 0;
	if (len < TRAILER_FIXED || memcmp(data + len - EVENT_TAGS_MAGIC_LEN,
	    EVENT_TAGS_MAGIC, EVENT_TAGS_MAGIC_LEN) != 0)
		return len;
	tlen = (size_t)u[len - TRAILER_FIXED] |
	    (size_t)u[len - TRAILER_FIXED + 1] << 8;
	if (tlen > TAGS_BYTES_MAX || tlen > len - TRAILER_FIXED)
		return len;
	start = len - TRAILER_FIXED - tlen;
	/* Check the whole block before taking anything from it. */
	for (size_t i = start, b = start; tlen > 0 && i <= start + tlen; i++) {
		if (i < start + tlen && data[i] != '\n')
			continue;
		if (!tag_ok(data + b, i - b) || ++ntags > EVENT_TAGS_MAX)
			return len;
		b = i + 1;
	}
	if (t != NULL) {
		for (size_t i = start, b = start; tlen > 0 &&
		    i <= start + tlen; i++) {
			if (i < start + tlen && data[i] != '\n')
				continue;
			memcpy(t->v[t->n], data + b, i - b);
			t->v[t->n][i - b] = '\0';
			t->n++;
			b = i + 1;
		}
	}
	return start;
}

bool
event_rec_needs_trailer(const void *raw, size_t len)
{
	return event_rec_decode(raw, len, NULL) != len;
}

int
event_rec_encode(struct strbuf *out, const void *raw, size_t len,
    const struct event_tags *t)
{
	size_t mark = out->len, tlen = 0;
	unsigned char l[2];
	int rc;

	if ((rc = strbuf_add(out, raw, len)) != 0)
		goto undo;
	if ((t == NULL || t->n == 0) && !event_rec_needs_trailer(raw, len))
		return 0;
	for (size_t i = 0; t != NULL && i < t->n; i++) {
		if (i > 0 && (rc = strbuf_addc(out, '\n')) != 0)
			goto undo;
		if ((rc = strbuf_adds(out, t->v[i])) != 0)
			goto undo;
	}
	tlen = out->len - mark - len;
	l[0] = (unsigned char)(tlen & 0xff);
	l[1] = (unsigned char)(tlen >> 8);
	if ((rc = strbuf_add(out, l, 2)) != 0 ||
	    (rc = strbuf_add(out, EVENT_TAGS_MAGIC, EVENT_TAGS_MAGIC_LEN)) != 0)
		goto undo;
	return 0;
undo:
	strbuf_truncate(out, mark);
	return rc;
}
