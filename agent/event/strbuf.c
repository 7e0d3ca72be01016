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

int
json_add_str(struct strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;
	int rc;

	if ((rc = strbuf_addc(sb, '"')) != 0)
		return rc;
	while (i < n) {
		unsigned char c = p[i];
		size_t k;
		char esc[8];
		size_t esclen = 0;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			run++;
			i++;
			continue;
		}
		if (c >= 0x80 && (k = utf8_seq(p + i, n - i)) != 0) {
			run += k;
			i += k;
			continue;
		}
		/* Flush the plain run before this byte. */
		if (run > 0 && (rc = strbuf_add(sb, p + i - run, run)) != 0)
			return rc;
		run = 0;
		if (c >= 0x80) {
			memcpy(esc, "\\ufffd", 6);
			esclen = 6;
		} else if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			esclen = 2;
		} else if (c == '\n') {
			memcpy(esc, "\\n", 2);
			esclen = 2;
		} else if (c == '\r') {
			memcpy(esc, "\\r", 2);
			esclen = 2;
		} else if (c == '\t') {
			memcpy(esc, "\\t", 2);
			esclen = 2;
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xF];
			esclen = 6;
		}
		if ((rc = strbuf_add(sb, esc, esclen)) != 0)
			return rc;
		i++;
	}
	if (run > 0 && (rc = strbuf_add(sb, p + n - run, run)) != 0)
		return rc;
	return strbuf_addc(sb, '"');
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
