/*
 * strbuf.c - bounded growable strings, the JSON string writer, and jw,
 * the JSON document writer built on them (event.h).
 *
 * json_add_str() is the only way record text reaches a JSON document, so
 * it is where "every document is valid UTF-8 JSON" is enforced: it walks
 * the bytes as UTF-8 (RFC 3629: no overlongs, no surrogates, nothing past
 * U+10FFFF) and writes U+FFFD for each byte that does not fit.
 */
#include "event.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRBUF_DEFAULT_MAX	(256u << 20)

/* Make room for need more bytes and the NUL after them. */
static int
strbuf_grow(struct strbuf *sb, size_t need)
{
	size_t max = sb->max != 0 ? sb->max : STRBUF_DEFAULT_MAX;

	if (sb->len + need > max) {
		sb->overflow = true;
		return -ENOBUFS;
	}
	if (sb->s == NULL)
		sb->cap = 0;	/* its string was handed on: start again */
	need += sb->len + 1;
	return mem_grow(&sb->s, &sb->cap, need > 256 ? need : 256, 1);
}

int
strbuf_add(struct strbuf *sb, const void *p, size_t n)
{
	int rc;

	if ((rc = strbuf_grow(sb, n)) != 0)
		return rc;
	if (n > 0)
		memcpy(sb->s + sb->len, p, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
	return 0;
}

int
strbuf_adds(struct strbuf *sb, const char *s)
{
	return strbuf_add(sb, s, strlen(s));
}

int
strbuf_addc(struct strbuf *sb, char c)
{
	return strbuf_add(sb, &c, 1);
}

static int
strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list again;
	char small[256];
	int n, rc;

	va_copy(again, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n < 0 || (size_t)n < sizeof(small)) {
		va_end(again);
		return n < 0 ? -EINVAL : strbuf_add(sb, small, (size_t)n);
	}
	if ((rc = strbuf_grow(sb, (size_t)n)) == 0) {
		vsnprintf(sb->s + sb->len, (size_t)n + 1, fmt, again);
		sb->len += (size_t)n;
	}
	va_end(again);
	return rc;
}

int
strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = strbuf_vaddf(sb, fmt, ap);
	va_end(ap);
	return rc;
}

void
strbuf_truncate(struct strbuf *sb, size_t len)
{
	sb->len = len;
	if (sb->s != NULL)
		sb->s[len] = '\0';
}

void
strbuf_reset(struct strbuf *sb)
{
	strbuf_truncate(sb, 0);
	sb->overflow = false;
}

void
strbuf_free(struct strbuf *sb)
{
	if (sb != NULL) {
		free(sb->s);
		/* Empty again, with the same cap. */
		*sb = (struct strbuf){ .max = sb->max };
	}
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && p[1] < 0xA0)
			return 0;	/* overlong */
		if (c == 0xED && p[1] >= 0xA0)
			return 0;	/* surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
		    (p[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && p[1] < 0x90)
			return 0;	/* overlong */
		if (c == 0xF4 && p[1] >= 0x90)
			return 0;	/* past U+10FFFF */
		return 4;
	}
	return 0;
}

int
strbuf_add_utf8(struct strbuf *sb, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;
	int rc;

	while (i < n) {
		size_t k = utf8_seq(p + i, n - i);
		if (k > 0) {
			i += k;
			continue;
		}
		/* Flush the valid run, then U+FFFD for the bad byte. */
		if ((rc = strbuf_add(sb, s + run, i - run)) != 0 ||
		    (rc = strbuf_add(sb, "\xEF\xBF\xBD", 3)) != 0)
			return rc;
		run = ++i;
	}
	return strbuf_add(sb, s + run, n - run);
}

/*
 * What json_add_str() does with each byte: 0 copies it as it is, 1 marks
 * the first byte of a UTF-8 sequence to check, 2 needs an escape.  For
 * the bytes json_plain8() cannot take 8 at a time: a run's tail, and the
 * word in which it found something.
 */
static const unsigned char json_class[256] = {
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,	/* 0x00 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,	/* 0x10 */
	0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x20: '"' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,	/* 0x50: '\\' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* 0x80 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/*
 * strbuf_add() without the call when the bytes fit in what is already
 * allocated.  json_add_str() adds the same pieces, in the same order, as
 * it did byte by byte, each whole or not at all, so a string cut at the
 * cap still stops after the same piece.
 */
static inline int
json_put(struct strbuf *sb, size_t max, const void *p, size_t n)
{
	if (sb->s == NULL || sb->len + n >= sb->cap || sb->len + n > max)
		return strbuf_add(sb, p, n);
	memcpy(sb->s + sb->len, p, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
	return 0;
}

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

/*
 * Whether the 8 bytes at p are all plain: ASCII, none a control
 * character, '"' or '\\'.  Tested together, with the subtractions of "Bit
 * Twiddling Hacks" (hasless(), haszero()): with every byte below 0x80, a
 * byte below 0x20, or one that XORs to zero with '"' or '\\', borrows and
 * sets a high bit; none is missed, and after a refusal the bytewise scan
 * decides.
 */
static inline bool
json_plain8(const unsigned char *p)
{
	uint64_t x;

	memcpy(&x, p, 8);
	return ((x | (x - ONES * 0x20) | ((x ^ (ONES * '"')) - ONES) |
	    ((x ^ (ONES * '\\')) - ONES)) & HIGHS) == 0;
}

/* Length of the run at p that goes out as it is: plain ASCII, valid UTF-8. */
static size_t
json_clean_run(const unsigned char *p, size_t n)
{
	size_t i = 0, k;

	for (;;) {
		while (i + 8 <= n && json_plain8(p + i))
			i += 8;
		while (i < n && json_class[p[i]] == 0)
			i++;
		if (i == n || json_class[p[i]] != 1 ||
		    (k = utf8_seq(p + i, n - i)) == 0)
			return i;
		i += k;
	}
}

/*
 * The escape for byte c, which json_clean_run() stopped at, into esc (6
 * bytes); returns its length.
 */
static size_t
json_escape(unsigned char c, char *esc)
{
	static const char hex[] = "0123456789abcdef";

	esc[0] = '\\';
	switch (c) {
	case '"':
	case '\\':
		esc[1] = (char)c;
		return 2;
	case '\n':
		esc[1] = 'n';
		return 2;
	case '\r':
		esc[1] = 'r';
		return 2;
	case '\t':
		esc[1] = 't';
		return 2;
	}
	if (c >= 0x80) {
		memcpy(esc, "\\ufffd", 6);	/* not valid UTF-8 */
		return 6;
	}
	memcpy(esc, "\\u00", 4);
	esc[4] = hex[c >> 4];
	esc[5] = hex[c & 0xF];
	return 6;
}

/*
 * The string goes out in pieces: the quote, each clean run with one copy,
 * each escape, the quote.  Each piece is added whole or not at all, so at
 * the cap the document ends after the last piece that fitted.
 */
int
json_add_str(struct strbuf *sb, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t max = sb->max != 0 ? sb->max : STRBUF_DEFAULT_MAX;
	size_t i = 0, run, esclen;
	char esc[6];
	int rc;

	if ((rc = json_put(sb, max, "\"", 1)) != 0)
		return rc;
	while (i < n) {
		run = json_clean_run(p + i, n - i);
		if (run > 0 && (rc = json_put(sb, max, p + i, run)) != 0)
			return rc;
		if ((i += run) == n)
			break;
		esclen = json_escape(p[i], esc);
		if ((rc = json_put(sb, max, esc, esclen)) != 0)
			return rc;
		i++;
	}
	return json_put(sb, max, "\"", 1);
}

/* ---- jw ---------------------------------------------------------------- */

/* Every append goes through here: after a failure, nothing is added. */
static void
jw_add(struct jw *w, const char *s, size_t n, bool escape)
{
	if (w->rc == 0)
		w->rc = escape ? json_add_str(w->sb, s, n) :
		    strbuf_add(w->sb, s, n);
}

void
jw_rawn(struct jw *w, const char *s, size_t n)
{
	jw_add(w, s, n, false);
}

void
jw_raw(struct jw *w, const char *s)
{
	jw_add(w, s, strlen(s), false);
}

void
jw_strn(struct jw *w, const char *s, size_t n)
{
	jw_add(w, s, n, true);
}

void
jw_str(struct jw *w, const char *s)
{
	if (s == NULL)
		jw_raw(w, "null");
	else
		jw_strn(w, s, strlen(s));
}

void
jw_fmt(struct jw *w, const char *fmt, ...)
{
	va_list ap;

	if (w->rc != 0)
		return;
	va_start(ap, fmt);
	w->rc = strbuf_vaddf(w->sb, fmt, ap);
	va_end(ap);
}

void
jw_time(struct jw *w, int64_t ms)
{
	char ts[32];

	time_format_ms(ms, ts);
	jw_str(w, ts);
}

void
jw_comma(struct jw *w, bool *first)
{
	if (!*first)
		jw_raw(w, ",");
	*first = false;
}

void
jw_key(struct jw *w, bool *first, const char *key)
{
	jw_comma(w, first);
	jw_str(w, key);
	jw_raw(w, ":");
}

void
jw_kv(struct jw *w, bool *first, const char *key, const char *value)
{
	if (value == NULL)
		return;
	jw_key(w, first, key);
	jw_str(w, value);
}
