/*
 * eventlog_util.c - pure helpers of the Windows event-log input (see
 * eventlog_util.h): UTF-16LE to UTF-8, XML on one line, bookmark checks.
 *
 * The ring and every output take one record per line, and the parser
 * (event.c, expat) decodes character references, so a record that the
 * Windows API lays out over several lines is put on one line here without
 * changing what it means.  The bookmark parser below is small and strict
 * on purpose: a bookmark comes from EvtRender or from our own position
 * file, never from a record, and anything unexpected in it means the
 * position is not to be trusted.
 */
#include "eventlog_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define REPLACEMENT	0xFFFDu

/* ---- UTF-16LE to UTF-8 ------------------------------------------------------ */

/* Encode cp (a scalar value) as UTF-8 into p; return its length. */
static size_t
utf8_put(unsigned char *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (unsigned char)(0xC0 | (cp >> 6));
		p[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (unsigned char)(0xE0 | (cp >> 12));
		p[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		p[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	p[0] = (unsigned char)(0xF0 | (cp >> 18));
	p[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	p[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	p[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

int
eventlog_utf16le_to_utf8(const void *src, size_t nbytes, struct strbuf *out,
    size_t *nbad)
{
	const unsigned char *p = src;
	unsigned char chunk[512];
	size_t nunits = nbytes / 2, used = 0, bad = 0, i;
	bool ended = false;
	int rc = 0;

	for (i = 0; i < nunits && rc == 0; i++) {
		uint32_t u = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
		uint32_t cp = u;

		if (u == 0) {
			ended = true;
			break;
		}
		if (u >= 0xD800 && u <= 0xDBFF) {
			uint32_t lo = i + 1 < nunits ? ((uint32_t)p[2 * i + 2] |
			    (uint32_t)p[2 * i + 3] << 8) : 0;
			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((u - 0xD800) << 10) +
				    (lo - 0xDC00);
				i++;
			} else {
				cp = REPLACEMENT;
				bad++;
			}
		} else if (u >= 0xDC00 && u <= 0xDFFF) {
			cp = REPLACEMENT;
			bad++;
		}
		used += utf8_put(chunk + used, cp);
		if (used > sizeof(chunk) - 4) {
			rc = strbuf_add(out, chunk, used);
			used = 0;
		}
	}
	if (rc == 0 && !ended && nbytes % 2 != 0) {
		used += utf8_put(chunk + used, REPLACEMENT);
		bad++;
	}
	if (rc == 0 && used > 0)
		rc = strbuf_add(out, chunk, used);
	if (nbad != NULL)
		*nbad = bad;
	return rc;
}

/* ---- XML on one line ---------------------------------------------------------- */

/* What came just before a run of text. */
enum prev {
	PREV_NONE,	/* nothing: the start of the document */
	PREV_START,	/* a start tag <a ...> */
	PREV_END,	/* an end tag </a> or an empty element <a/> */
	PREV_CDATA,	/* a CDATA section: we are inside a value */
	PREV_OTHER,	/* a comment, a processing instruction */
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
starts_with(const char *p, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	return n >= k && memcmp(p, lit, k) == 0;
}

/* Where lit starts in p[0..n), or n. */
static size_t
find(const char *p, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(p + i, lit, k) == 0)
			return i;
	return n;
}

/*
 * Append p[0..n) with its line breaks written out: as character
 * references (CR &#13;, LF &#10;), or when spaced, each break (CRLF, CR or
 * LF) as one space.
 */
static int
add_breaks(struct strbuf *out, const char *p, size_t n, bool spaced)
{
	size_t from = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\r' && p[i] != '\n')
			continue;
		if ((rc = strbuf_add(out, p + from, i - from)) != 0)
			return rc;
		if (spaced)
			rc = strbuf_addc(out, ' ');
		else
			rc = strbuf_adds(out, p[i] == '\r' ? "&#13;" : "&#10;");
		if (rc != 0)
			return rc;
		if (spaced && p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
			i++;
		from = i + 1;
	}
	return strbuf_add(out, p + from, n - from);
}

/*
 * Append the tag p[0..n) ("<" up to its ">"): line breaks between
 * attributes become spaces, those inside a quoted value references.
 */
static int
add_tag(struct strbuf *out, const char *p, size_t n)
{
	size_t i = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		size_t j = i;

		if (p[i] == '\'' || p[i] == '"') {
			const char *q = memchr(p + i + 1, p[i], n - i - 1);
			j = q != NULL ? (size_t)(q - p) + 1 : n;
			rc = add_breaks(out, p + i, j - i, false);
		} else {
			while (j < n && p[j] != '\'' && p[j] != '"')
				j++;
			rc = add_breaks(out, p + i, j - i, true);
		}
		i = j;
	}
	return rc;
}

/* Append a CDATA section p[0..n): a line break in it leaves the section
 * for the reference ("]]>&#10;<![CDATA["). */
static int
add_cdata(struct strbuf *out, const char *p, size_t n)
{
	static const char open[] = "<![CDATA[", close[] = "]]>";
	size_t body = sizeof(open) - 1, end = n;
	size_t from = body;
	int rc;

	if (n >= body + sizeof(close) - 1 &&
	    memcmp(p + n - (sizeof(close) - 1), close, sizeof(close) - 1) == 0)
		end = n - (sizeof(close) - 1);
	if ((rc = strbuf_add(out, p, body)) != 0)
		return rc;
	for (size_t i = body; i < end; i++) {
		if (p[i] != '\r' && p[i] != '\n')
			continue;
		if ((rc = strbuf_add(out, p + from, i - from)) != 0 ||
		    (rc = strbuf_adds(out, "]]>")) != 0 ||
		    (rc = strbuf_adds(out, p[i] == '\r' ? "&#13;" : "&#10;")) !=
		    0 || (rc = strbuf_adds(out, open)) != 0)
			return rc;
		from = i + 1;
	}
	return strbuf_add(out, p + from, n - from);
}

/* The end of the tag that starts at p[0] ('<'), quotes respected. */
static size_t
tag_end(const char *p, size_t n)
{
	char quote = 0;

	for (size_t i = 1; i < n; i++) {
		if (quote != 0) {
			if (p[i] == quote)
				quote = 0;
		} else if (p[i] == '\'' || p[i] == '"') {
			quote = p[i];
		} else if (p[i] == '>') {
			return i + 1;
		}
	}
	return n;
}

/*
 * A run of text p[0..n) between markup.  Keep it, references for line
 * breaks, unless it is layout: whitespace only, holding a CR, LF or tab,
 * and not the value of an element (after a start tag and before its end
 * tag or a CDATA section, or next to a CDATA section).
 */
static int
add_text(struct strbuf *out, const char *p, size_t n, enum prev prev,
    const char *next, size_t nnext)
{
	bool blank = true, layout = false;

	for (size_t i = 0; i < n && blank; i++) {
		if (!is_space(p[i]))
			blank = false;
		else if (p[i] != ' ')
			layout = true;
	}
	if (!blank)
		return add_breaks(out, p, n, false);
	if (prev == PREV_NONE || nnext == 0)
		return 0;	/* around the document */
	if (prev == PREV_CDATA || starts_with(next, nnext, "<![CDATA[") ||
	    (prev == PREV_START && starts_with(next, nnext, "</")))
		return add_breaks(out, p, n, false);
	return layout ? 0 : strbuf_add(out, p, n);
}

int
eventlog_xml_one_line(const char *xml, size_t n, struct strbuf *out)
{
	enum prev prev = PREV_NONE;
	size_t i = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		const char *p = xml + i;
		size_t left = n - i, end;

		if (*p != '<') {
			const char *lt = memchr(p, '<', left);
			end = lt != NULL ? (size_t)(lt - p) : left;
			rc = add_text(out, p, end, prev, p + end, left - end);
		} else if (starts_with(p, left, "<!--")) {
			end = find(p + 4, left - 4, "-->") + 4;
			end = end + 3 <= left ? end + 3 : left;
			rc = add_breaks(out, p, end, true);
			prev = PREV_OTHER;
		} else if (starts_with(p, left, "<![CDATA[")) {
			end = find(p + 9, left - 9, "]]>") + 9;
			end = end + 3 <= left ? end + 3 : left;
			rc = add_cdata(out, p, end);
			prev = PREV_CDATA;
		} else if (starts_with(p, left, "<?")) {
			end = find(p + 2, left - 2, "?>") + 2;
			end = end + 2 <= left ? end + 2 : left;
			rc = add_breaks(out, p, end, true);
			prev = PREV_OTHER;
		} else {
			end = tag_end(p, left);
			rc = add_tag(out, p, end);
			if (starts_with(p, left, "<!"))
				prev = PREV_OTHER;
			else if (starts_with(p, left, "</") ||
			    (end >= 2 && p[end - 2] == '/' && p[end - 1] == '>'))
				prev = PREV_END;
			else
				prev = PREV_START;
		}
		i += end;
	}
	return rc;
}

uint64_t
eventlog_xml_record_id(const char *xml, size_t n)
{
	static const char tag[] = "<EventRecordID>";
	size_t at = find(xml, n, tag), i;
	uint64_t v = 0;

	if (at == n)
		return 0;
	for (i = at + sizeof(tag) - 1; i < n && xml[i] >= '0' &&
	    xml[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(xml[i] - '0');
	}
	return i < n && xml[i] == '<' ? v : 0;
}

/* ---- bookmarks ----------------------------------------------------------------- */

#define VALUE_MAX	1024	/* an attribute value, decoded */

struct bparse {
	const char	*s;
	size_t		 n, i;
	char		*err;
	size_t		 errlen;
};

static int
bfail(struct bparse *b, const char *what)
{
	if (b->err != NULL && b->errlen > 0)
		snprintf(b->err, b->errlen, "bookmark: %s (at byte %zu)", what,
		    b->i);
	return -EINVAL;
}

static void
bskip(struct bparse *b)
{
	while (b->i < b->n && is_space(b->s[b->i]))
		b->i++;
}

/* Consume lit if it comes next. */
static bool
blit(struct bparse *b, const char *lit)
{
	if (!starts_with(b->s + b->i, b->n - b->i, lit))
		return false;
	b->i += strlen(lit);
	return true;
}

/* Consume the element name lit, which must end there. */
static bool
bname(struct bparse *b, const char *lit)
{
	size_t save = b->i;

	if (!blit(b, lit))
		return false;
	if (b->i < b->n && (is_space(b->s[b->i]) || b->s[b->i] == '/' ||
	    b->s[b->i] == '>'))
		return true;
	b->i = save;
	return false;
}

static bool
name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '-' ||
	    c == '.';
}

/* Decode the entity at b->i ('&') into v; 0 or -EINVAL. */
static int
bentity(struct bparse *b, char *v, size_t *vlen)
{
	static const struct {
		const char	*name;
		char		 c;
	} named[] = { { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
	    { "&apos;", '\'' }, { "&quot;", '"' } };
	uint32_t cp = 0;
	unsigned char u[4];
	size_t k;

	for (size_t e = 0; e < sizeof(named) / sizeof(named[0]); e++) {
		if (blit(b, named[e].name)) {
			v[(*vlen)++] = named[e].c;
			return 0;
		}
	}
	if (blit(b, "&#x")) {
		for (k = 0; b->i < b->n && k < 7; k++, b->i++) {
			char c = b->s[b->i];
			if (c >= '0' && c <= '9')
				cp = cp * 16 + (uint32_t)(c - '0');
			else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				cp = cp * 16 + (uint32_t)((c | 0x20) - 'a' + 10);
			else
				break;
		}
	} else if (blit(b, "&#")) {
		for (k = 0; b->i < b->n && k < 8; k++, b->i++) {
			char c = b->s[b->i];
			if (c < '0' || c > '9')
				break;
			cp = cp * 10 + (uint32_t)(c - '0');
		}
	} else {
		return bfail(b, "unknown entity in an attribute value");
	}
	if (k == 0 || !blit(b, ";") || cp == 0 || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return bfail(b, "bad character reference in an attribute value");
	k = utf8_put(u, cp);
	memcpy(v + *vlen, u, k);
	*vlen += k;
	return 0;
}

/* Parse name='value' or name="value" into name and v (decoded). */
static int
battr(struct bparse *b, char *name, size_t namesz, char *v)
{
	size_t k = 0, vlen = 0;
	char quote;
	int rc;

	while (b->i < b->n && name_char(b->s[b->i])) {
		if (k + 1 >= namesz)
			return bfail(b, "attribute name too long");
		name[k++] = b->s[b->i++];
	}
	name[k] = '\0';
	if (k == 0)
		return bfail(b, "attribute expected");
	bskip(b);
	if (!blit(b, "="))
		return bfail(b, "'=' expected after an attribute name");
	bskip(b);
	if (b->i >= b->n || (b->s[b->i] != '\'' && b->s[b->i] != '"'))
		return bfail(b, "quoted attribute value expected");
	quote = b->s[b->i++];
	for (;;) {
		char c;

		if (b->i >= b->n)
			return bfail(b, "attribute value not closed");
		if (vlen + 4 >= VALUE_MAX)
			return bfail(b, "attribute value too long");
		c = b->s[b->i];
		if (c == quote) {
			b->i++;
			break;
		}
		if (c == '<' || c == '\0')
			return bfail(b, "'<' or NUL in an attribute value");
		if (c == '&') {
			if ((rc = bentity(b, v, &vlen)) != 0)
				return rc;
			continue;
		}
		v[vlen++] = c;
		b->i++;
	}
	v[vlen] = '\0';
	return 0;
}

/* Parse one <Bookmark .../> (after its name); fill the entry fields. */
static int
bentry(struct bparse *b, char *channel, uint64_t *record, bool *current)
{
	char name[32], v[VALUE_MAX];
	bool have_channel = false, have_record = false;
	int rc;

	*current = false;
	for (;;) {
		bskip(b);
		if (blit(b, "/>"))
			break;
		if (blit(b, ">")) {
			bskip(b);
			if (!bname(b, "</Bookmark"))
				return bfail(b, "<Bookmark> has content");
			bskip(b);
			if (!blit(b, ">"))
				return bfail(b, "</Bookmark> not closed");
			break;
		}
		if (b->i >= b->n)
			return bfail(b, "<Bookmark> not closed");
		if ((rc = battr(b, name, sizeof(name), v)) != 0)
			return rc;
		if (strcmp(name, "Channel") == 0) {
			if (v[0] == '\0' || strlen(v) > EVENTLOG_CHANNEL_MAX)
				return bfail(b, "empty or overlong Channel");
			memcpy(channel, v, strlen(v) + 1);
			have_channel = true;
		} else if (strcmp(name, "RecordId") == 0) {
			uint64_t r = 0;
			if (v[0] == '\0')
				return bfail(b, "empty RecordId");
			for (const char *q = v; *q != '\0'; q++) {
				if (*q < '0' || *q > '9')
					return bfail(b, "RecordId is not a "
					    "number");
				if (r > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
					return bfail(b, "RecordId too large");
				r = r * 10 + (uint64_t)(*q - '0');
			}
			*record = r;
			have_record = true;
		} else if (strcmp(name, "IsCurrent") == 0) {
			*current = strcmp(v, "true") == 0;
		}
	}
	if (!have_channel || !have_record)
		return bfail(b, "a <Bookmark> lacks Channel or RecordId");
	return 0;
}

int
eventlog_bookmark_parse(const char *xml, size_t n,
    struct eventlog_bookmark *bm, char *err, size_t errlen)
{
	struct bparse b = { xml, n, 0, err, errlen };
	struct eventlog_bookmark got;
	char channel[EVENTLOG_CHANNEL_MAX + 1];
	size_t ncurrent = 0;
	int rc;

	memset(bm, 0, sizeof(*bm));
	memset(&got, 0, sizeof(got));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (n >= SOURCE_POS_MAX)
		return bfail(&b, "longer than a position may be");
	if (memchr(xml, '\0', n) != NULL)
		return bfail(&b, "holds a NUL byte");
	bskip(&b);
	if (blit(&b, "<?xml")) {
		size_t e = find(xml + b.i, n - b.i, "?>");
		if (e == n - b.i)
			return bfail(&b, "XML declaration not closed");
		b.i += e + 2;
		bskip(&b);
	}
	if (!bname(&b, "<BookmarkList"))
		return bfail(&b, "not a <BookmarkList>");
	bskip(&b);
	if (blit(&b, "/>"))
		return bfail(&b, "the bookmark list is empty");
	if (!blit(&b, ">"))
		return bfail(&b, "<BookmarkList> has attributes or is cut");
	for (;;) {
		uint64_t record = 0;
		bool current;

		bskip(&b);
		if (bname(&b, "</BookmarkList")) {
			bskip(&b);
			if (!blit(&b, ">"))
				return bfail(&b, "</BookmarkList> not closed");
			break;
		}
		if (b.i >= n)
			return bfail(&b, "cut before </BookmarkList>");
		if (!bname(&b, "<Bookmark"))
			return bfail(&b, "only <Bookmark> elements may be in "
			    "the list");
		if ((rc = bentry(&b, channel, &record, &current)) != 0)
			return rc;
		got.nentries++;
		if (current) {
			ncurrent++;
			memcpy(got.channel, channel, sizeof(channel));
			got.record_id = record;
		}
	}
	bskip(&b);
	if (b.i != n)
		return bfail(&b, "text after </BookmarkList>");
	if (got.nentries == 0)
		return bfail(&b, "the bookmark list is empty");
	if (ncurrent != 1)
		return bfail(&b, ncurrent == 0 ? "no entry has IsCurrent='true'" :
		    "more than one entry has IsCurrent='true'");
	*bm = got;
	return 0;
}

bool
eventlog_channel_equal(const char *a, const char *b)
{
	for (;; a++, b++) {
		char x = *a, y = *b;
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
		if (x == '\0')
			return true;
	}
}

const char *
eventlog_bookmark_choose(const char *a, const char *b, const char *channel)
{
	struct eventlog_bookmark ba, bb;
	bool oka, okb;

	oka = a != NULL && a[0] != '\0' && eventlog_bookmark_parse(a,
	    strlen(a), &ba, NULL, 0) == 0 &&
	    eventlog_channel_equal(ba.channel, channel);
	okb = b != NULL && b[0] != '\0' && eventlog_bookmark_parse(b,
	    strlen(b), &bb, NULL, 0) == 0 &&
	    eventlog_channel_equal(bb.channel, channel);
	if (oka && okb)
		return bb.record_id > ba.record_id ? b : a;
	return oka ? a : okb ? b : NULL;
}
