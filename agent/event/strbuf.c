/*
 * strbuf.c - bounded growable strings and the JSON string writer.
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

static int
strbuf_grow(struct strbuf *sb, size_t need)
{
	size_t max = sb->max != 0 ? sb->max : STRBUF_DEFAULT_MAX;
	size_t cap;
	char *n;

	if (sb->len + need > max) {
		sb->overflow = true;
		return -ENOBUFS;
	}
	if (sb->s != NULL && sb->len + need + 1 <= sb->cap)
		return 0;
	cap = sb->cap != 0 ? sb->cap : 256;
	while (cap < sb->len + need + 1)
		cap *= 2;
	if ((n = realloc(sb->s, cap)) == NULL)
		return -ENOMEM;
	sb->s = n;
	sb->cap = cap;
	return 0;
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

int
strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return strbuf_add(sb, small, (size_t)n);
	if ((rc = strbuf_grow(sb, (size_t)n)) != 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(sb->s + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
	return 0;
}

void
strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	sb->overflow = false;
	if (sb->s != NULL)
		sb->s[0] = '\0';
}

void
strbuf_free(struct strbuf *sb)
{
	if (sb == NULL)
		return;
	free(sb->s);
	sb->s = NULL;
	sb->len = sb->cap = 0;
	sb->overflow = false;
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
