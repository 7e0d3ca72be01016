/*
 * event.c - parse one Sysmon record into struct sysmon_event, with expat.
 *
 * Two dialects arrive here, one record per line:
 *   Windows, as EvtRender writes it:
 *     <Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>
 *       <System>...<Security UserID='S-1-5-18'/></System>
 *       <EventData><Data Name='Image'>C:\...</Data>...</EventData></Event>
 *   Sysmon for Linux, after a syslog header:
 *     Oct 24 17:05:38 host sysmon: <Event><System><Provider
 *       Name="Linux-Sysmon" .../>...<Security UserId="0"/>...
 * Command lines and paths are attacker-controlled text, and expat is the
 * judge of what is XML: document type declarations refused (no entity
 * expansion can happen), the input forced to UTF-8.  Expat costs about as
 * much as the rest of rendering, so a narrow scanner (below, "the fast
 * path") reads the shape real records have and calls the same handlers
 * with what expat would give them; anything it is not sure of, it hands
 * to expat, whose result (and error message) then stands.
 *
 * Values are kept exactly as the XML says after entity decoding: empty
 * values, "-", whitespace-only values, tabs and newlines included.  All
 * strings live in one arena (a strbuf) that is reused from record to
 * record, so a steady stream parses without allocating.
 */
#include "event.h"

#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/random.h>
#endif
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH	64
#define MAX_DATA	4096
#define NO_OFF		((size_t)-1)

enum field {
	F_PROVIDER_NAME, F_PROVIDER_GUID, F_EVENT_ID, F_QUALIFIERS, F_VERSION,
	F_LEVEL, F_TASK, F_OPCODE, F_KEYWORDS, F_TIME_CREATED, F_RECORD_ID,
	F_ACTIVITY_ID, F_RELATED_ACTIVITY_ID, F_PID, F_TID, F_CHANNEL,
	F_COMPUTER, F_USER_ID, F_MESSAGE, NFIELDS
};

enum ctx {
	C_OTHER, C_EVENT, C_SYSTEM, C_EVENTDATA, C_USERDATA, C_USERDATA_WRAP,
	C_RENDERING, C_CAPTURE
};

/*
 * The children of <System> that hold fields: in their text (text, or
 * NFIELDS) and in up to two attributes (attr[i] into af[i]; when both
 * are there, the second wins: Windows writes UserID, Sysmon for Linux
 * UserId).
 */
static const struct system_elem {
	const char	*name;
	enum field	 text;
	const char	*attr[2];
	enum field	 af[2];
} system_elems[] = {
	{ "Provider", NFIELDS, { "Name", "Guid" },
	    { F_PROVIDER_NAME, F_PROVIDER_GUID } },
	{ "EventID", F_EVENT_ID, { "Qualifiers", NULL }, { F_QUALIFIERS } },
	{ "Version", F_VERSION, { NULL }, { 0 } },
	{ "Level", F_LEVEL, { NULL }, { 0 } },
	{ "Task", F_TASK, { NULL }, { 0 } },
	{ "Opcode", F_OPCODE, { NULL }, { 0 } },
	{ "Keywords", F_KEYWORDS, { NULL }, { 0 } },
	{ "TimeCreated", NFIELDS, { "SystemTime", NULL },
	    { F_TIME_CREATED } },
	{ "EventRecordID", F_RECORD_ID, { NULL }, { 0 } },
	{ "Correlation", NFIELDS, { "ActivityID", "RelatedActivityID" },
	    { F_ACTIVITY_ID, F_RELATED_ACTIVITY_ID } },
	{ "Execution", NFIELDS, { "ProcessID", "ThreadID" },
	    { F_PID, F_TID } },
	{ "Channel", F_CHANNEL, { NULL }, { 0 } },
	{ "Computer", F_COMPUTER, { NULL }, { 0 } },
	{ "Security", NFIELDS, { "UserID", "UserId" },
	    { F_USER_ID, F_USER_ID } },
};

struct data_off {
	size_t	name;
	size_t	value;
};

struct event_parser {
	XML_Parser	 xp;
	struct strbuf	 arena;
	size_t		 off[NFIELDS];
	struct data_off	*data;
	size_t		 ndata;
	size_t		 data_cap;
	struct sysmon_data *out_data;
	size_t		 out_cap;
	int		 depth;
	enum ctx	 ctx[MAX_DEPTH];
	bool		 seen_root;
	bool		 user_data;
	int		 unnamed;	/* Data elements without Name so far */
	/* The element whose text is being captured. */
	bool		 capturing;
	int		 cap_depth;
	size_t		 cap_start;
	enum field	 cap_field;	/* NFIELDS: a data value */
	char		 err[256];
	bool		 failed;
	bool		 nomem;		/* failed for want of memory */
	bool		 in_expat;	/* the handlers run under XML_Parse() */
	unsigned long	 salt;		/* expat hash salt, random per parser */
	/* The fast path: */
	char		*scratch;	/* a tag's names and values */
	size_t		 scratch_cap;
	bool		 expat_only;	/* tests: never take it */
	bool		 was_fast;	/* the last record took it */
};

static void
fail(struct event_parser *p, const char *fmt, const char *arg)
{
	if (!p->failed) {
		snprintf(p->err, sizeof(p->err), fmt, arg);
		p->failed = true;
	}
	if (p->in_expat)
		XML_StopParser(p->xp, XML_FALSE);
}

/* The arena could not grow (rc from strbuf): too large, or no memory,
 * which says nothing about the record (event_parse() returns -ENOMEM). */
static void
fail_arena(struct event_parser *p, int rc)
{
	if (rc == -ENOMEM)
		p->nomem = true;
	fail(p, "%s", rc == -ENOMEM ? "out of memory" :
	    "record too large to parse");
}

/*
 * strbuf_add() to the arena, with the common case (it has room) here:
 * a record appends to it some fifty times.  On failure, fail_arena().
 */
static inline int
arena_add(struct event_parser *p, const char *s, size_t n)
{
	struct strbuf *a = &p->arena;
	int rc;

	if (a->s != NULL && n < a->cap - a->len && a->len + n <= a->max) {
		memcpy(a->s + a->len, s, n);
		a->len += n;
		a->s[a->len] = '\0';
		return 0;
	}
	if ((rc = strbuf_add(a, s, n)) != 0)
		fail_arena(p, rc);
	return rc;
}

/* Copy s into the arena with its NUL; return its offset or NO_OFF. */
static size_t
arena_str(struct event_parser *p, const char *s)
{
	size_t off = p->arena.len;

	if (arena_add(p, s, strlen(s) + 1) != 0)
		return NO_OFF;
	return off;
}

static int
data_push(struct event_parser *p, size_t name_off)
{
	if (p->ndata == MAX_DATA) {
		fail(p, "%s", "more than 4096 data elements");
		return -1;
	}
	if (p->ndata == p->data_cap) {
		size_t cap = p->data_cap != 0 ? p->data_cap * 2 : 64;
		struct data_off *n = realloc(p->data, cap * sizeof(*n));
		if (n == NULL) {
			p->nomem = true;
			fail(p, "%s", "out of memory");
			return -1;
		}
		p->data = n;
		p->data_cap = cap;
	}
	p->data[p->ndata].name = name_off;
	p->data[p->ndata].value = NO_OFF;
	p->ndata++;
	return 0;
}

static void
capture_begin(struct event_parser *p, enum field f)
{
	p->capturing = true;
	p->cap_depth = p->depth;
	p->cap_start = p->arena.len;
	p->cap_field = f;
}

static const char *
attr_get(const XML_Char **attrs, const char *name)
{
	for (size_t i = 0; attrs[i] != NULL; i += 2)
		if (strcmp(attrs[i], name) == 0)
			return attrs[i + 1];
	return NULL;
}

/* The entry of system_elems for name, or NULL. */
static const struct system_elem *
system_find(const char *name)
{
	for (size_t i = 0; i < sizeof(system_elems) / sizeof(system_elems[0]);
	    i++) {
		const struct system_elem *e = &system_elems[i];
		if (e->name[0] == name[0] && strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct event_parser *p = ud;
	enum ctx parent = p->depth > 0 && p->depth <= MAX_DEPTH ?
	    p->ctx[p->depth - 1] : C_OTHER;
	enum ctx mine = C_OTHER;

	p->depth++;
	if (p->depth == 1) {
		if (strcmp(name, "Event") != 0) {
			fail(p, "root element is <%s>, not <Event>", name);
			return;
		}
		p->seen_root = true;
		mine = C_EVENT;
	} else if (p->capturing) {
		mine = C_OTHER;	/* markup inside a value: keep its text */
	} else if (parent == C_EVENT) {
		if (strcmp(name, "System") == 0)
			mine = C_SYSTEM;
		else if (strcmp(name, "EventData") == 0)
			mine = C_EVENTDATA;
		else if (strcmp(name, "UserData") == 0)
			mine = C_USERDATA;
		else if (strcmp(name, "RenderingInfo") == 0)
			mine = C_RENDERING;
	} else if (parent == C_SYSTEM) {
		const struct system_elem *e = system_find(name);

		for (size_t i = 0; e != NULL && i < 2 && e->attr[i] != NULL;
		    i++) {
			const char *v = attr_get(attrs, e->attr[i]);
			if (v != NULL)
				p->off[e->af[i]] = arena_str(p, v);
		}
		if (e != NULL && e->text != NFIELDS) {
			mine = C_CAPTURE;
			capture_begin(p, e->text);
		}
	} else if (parent == C_EVENTDATA) {
		const char *dn = attr_get(attrs, "Name");
		char gen[32];
		size_t off;

		if (strcmp(name, "Data") == 0 && dn == NULL) {
			snprintf(gen, sizeof(gen), "param%d", ++p->unnamed);
			dn = gen;
		} else if (strcmp(name, "Data") != 0) {
			dn = name;	/* <Binary> and friends */
		}
		if ((off = arena_str(p, dn)) == NO_OFF ||
		    data_push(p, off) != 0)
			return;
		mine = C_CAPTURE;
		capture_begin(p, NFIELDS);
	} else if (parent == C_USERDATA) {
		mine = C_USERDATA_WRAP;
		p->user_data = true;
	} else if (parent == C_USERDATA_WRAP) {
		size_t off;

		if ((off = arena_str(p, name)) == NO_OFF ||
		    data_push(p, off) != 0)
			return;
		mine = C_CAPTURE;
		capture_begin(p, NFIELDS);
	} else if (parent == C_RENDERING && strcmp(name, "Message") == 0) {
		mine = C_CAPTURE;
		capture_begin(p, F_MESSAGE);
	}
	if (p->depth <= MAX_DEPTH)
		p->ctx[p->depth - 1] = mine;
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
	struct event_parser *p = ud;

	(void)name;
	if (p->capturing && p->depth == p->cap_depth) {
		if (arena_add(p, "", 1) != 0)
			return;
		if (p->cap_field == NFIELDS)
			p->data[p->ndata - 1].value = p->cap_start;
		else
			p->off[p->cap_field] = p->cap_start;
		p->capturing = false;
	}
	p->depth--;
}

static void XMLCALL
on_text(void *ud, const XML_Char *s, int len)
{
	struct event_parser *p = ud;

	if (p->capturing)
		(void)arena_add(p, s, (size_t)len);
}

static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal_subset)
{
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	fail(ud, "document type declaration <!DOCTYPE %s> refused", name);
}

/* ---- the fast path -------------------------------------------------------- */

/*
 * A scanner for the subset of XML that records are written in: elements
 * with ASCII names (no prefixes), attributes in quotes, character data
 * with the five predefined entities and character references, and valid
 * UTF-8.  It checks what expat would check on that subset (names, quotes,
 * white space between attributes, duplicate attributes, matching end
 * tags, "]]>", characters XML forbids, nothing but white space after the
 * root) and calls on_start, on_end and on_text with what expat would pass
 * them: references decoded, CR LF and CR as LF in text, and in attribute
 * values each literal tab, newline and CR (CR LF as one) a space (XML 1.0
 * 3.3.3, the rule for undeclared attributes).  Anything else (comments,
 * CDATA sections, processing instructions, other entities, names with a
 * colon or beyond ASCII, deep nesting, many attributes, any doubt) makes
 * it give up: the record goes to expat from its first byte.
 */
#define SCAN_DEPTH	32		/* deeper records go to expat */
#define SCAN_ATTRS	16		/* attributes of one element */
#define SCAN_MAX	(16u << 20)	/* larger records go to expat */

enum {
	K_TEXT	= 0x01,		/* ends a run of character data */
	K_ATTR	= 0x02,		/* ends a run of an attribute value */
	K_NAME0	= 0x04,		/* starts a name */
	K_NAME	= 0x08,		/* continues a name */
	K_SPACE	= 0x10,		/* XML white space */
};

#define K_CTL(c)	((c) < 0x20 && (c) != '\t' && (c) != '\n' && \
			    (c) != '\r')
#define K_ALPHA(c)	(((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && \
			    (c) <= 'z'))
#define K_DIGIT(c)	((c) >= '0' && (c) <= '9')
#define K(c)								\
	(((c) == '<' || (c) == '&' || (c) == '\r' || (c) == ']' ||	\
	    K_CTL(c) || (c) >= 0x80 ? K_TEXT : 0) |			\
	((c) == '<' || (c) == '&' || (c) == '\t' || (c) == '\n' ||	\
	    (c) == '\r' || (c) == '"' || (c) == '\'' || K_CTL(c) ||	\
	    (c) >= 0x80 ? K_ATTR : 0) |					\
	(K_ALPHA(c) || (c) == '_' ? K_NAME0 | K_NAME : 0) |		\
	(K_DIGIT(c) || (c) == '-' || (c) == '.' ? K_NAME : 0) |		\
	((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r' ?	\
	    K_SPACE : 0))
#define K4(c)	K(c), K((c) + 1), K((c) + 2), K((c) + 3)
#define K16(c)	K4(c), K4((c) + 4), K4((c) + 8), K4((c) + 12)
#define K64(c)	K16(c), K16((c) + 16), K16((c) + 32), K16((c) + 48)

static const unsigned char ktab[256] = {
	K64(0), K64(64), K64(128), K64(192)
};

#define KIS(c, k)	((ktab[(unsigned char)(c)] & (k)) != 0)

struct scan_attr {
	const char	*name;
	size_t		 name_len;
	const char	*value;		/* between the quotes, as written */
	size_t		 value_len;
	bool		 plain;		/* no reference, tab, newline or CR */
};

struct scan {
	struct event_parser *p;
	const char	*end;
	int		 depth;
	const char	*open[SCAN_DEPTH];	/* names of open elements */
	size_t		 open_len[SCAN_DEPTH];
};

/*
 * Length of the UTF-8 sequence at s if expat takes it as a character
 * (shortest form, no surrogate, not U+FFFE or U+FFFF, at most
 * U+10FFFF), else 0.
 */
static size_t
scan_utf8(const char *cs, const char *end)
{
	const unsigned char *s = (const unsigned char *)cs;
	size_t n = (size_t)(end - cs);
	unsigned char lo = 0x80, hi = 0xBF;

	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		if (s[0] == 0xE0)
			lo = 0xA0;
		else if (s[0] == 0xED)
			hi = 0x9F;
		if (n < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80)
			return 0;
		if (s[0] == 0xEF && s[1] == 0xBF && s[2] >= 0xBE)
			return 0;
		return 3;
	}
	if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		if (s[0] == 0xF0)
			lo = 0x90;
		else if (s[0] == 0xF4)
			hi = 0x8F;
		if (n < 4 || s[1] < lo || s[1] > hi ||
		    (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/*
 * The reference at s (an '&'): one of the five predefined entities or a
 * character reference to a character XML allows.  Return its length and
 * put what it stands for in out (*outlen bytes of UTF-8), or return 0.
 */
static size_t
scan_ref(const char *s, const char *end, char out[4], size_t *outlen)
{
	static const struct {
		char	name[6];
		size_t	len;
		char	c;
	} ents[] = {
		{ "amp;", 4, '&' }, { "lt;", 3, '<' }, { "gt;", 3, '>' },
		{ "quot;", 5, '"' }, { "apos;", 5, '\'' },
	};
	size_t n = (size_t)(end - s), i, first;
	uint32_t cp = 0;

	if (n < 3)
		return 0;
	if (s[1] != '#') {
		for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
			if (n - 1 >= ents[i].len &&
			    memcmp(s + 1, ents[i].name, ents[i].len) == 0) {
				out[0] = ents[i].c;
				*outlen = 1;
				return ents[i].len + 1;
			}
		}
		return 0;
	}
	if (s[2] == 'x') {		/* XML has no "&#X" */
		for (i = first = 3; i < n; i++) {
			char c = s[i];
			int d = K_DIGIT(c) ? c - '0' : c >= 'a' && c <= 'f' ?
			    c - 'a' + 10 : c >= 'A' && c <= 'F' ?
			    c - 'A' + 10 : -1;
			if (d < 0)
				break;
			if ((cp = cp * 16 + (uint32_t)d) > 0x10FFFF)
				return 0;
		}
	} else {
		for (i = first = 2; i < n && K_DIGIT(s[i]); i++)
			if ((cp = cp * 10 + (uint32_t)(s[i] - '0')) > 0x10FFFF)
				return 0;
	}
	if (i == first || i == n || s[i] != ';')
		return 0;
	if (cp < 0x20 ? !(cp == '\t' || cp == '\n' || cp == '\r') :
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
		return 0;
	if (cp < 0x80) {
		out[0] = (char)cp;
		*outlen = 1;
	} else if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		*outlen = 2;
	} else if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		*outlen = 3;
	} else {
		out[0] = (char)(0xF0 | cp >> 18);
		out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[3] = (char)(0x80 | (cp & 0x3F));
		*outlen = 4;
	}
	return i + 1;
}

/* The end of the name at s, or NULL when no name starts there. */
static const char *
scan_name(const char *s, const char *end)
{
	if (s == end || !KIS(*s, K_NAME0))
		return NULL;
	while (++s < end && KIS(*s, K_NAME))
		;
	return s;
}

static const char *
scan_space(const char *s, const char *end)
{
	while (s < end && KIS(*s, K_SPACE))
		s++;
	return s;
}

/*
 * Character data from s to the next '<', handed to on_text as expat
 * would.  Return where the '<' is, or NULL to give up.
 */
static const char *
scan_text(struct event_parser *p, const char *s, const char *end)
{
	const char *run = s;
	char ref[4];
	size_t n, rn;

	for (;;) {
		while (s < end && !KIS(*s, K_TEXT))
			s++;
		if (s == end)
			return NULL;
		if ((unsigned char)*s >= 0x80) {
			if ((n = scan_utf8(s, end)) == 0)
				return NULL;
			s += n;
			continue;
		}
		if (*s == ']') {
			if (end - s >= 3 && s[1] == ']' && s[2] == '>')
				return NULL;	/* not allowed in text */
			s++;
			continue;
		}
		if (p->capturing && s > run)
			on_text(p, run, (int)(s - run));
		if (*s == '<')
			return p->failed ? NULL : s;
		if (*s == '&') {
			if ((n = scan_ref(s, end, ref, &rn)) == 0)
				return NULL;
			if (p->capturing)
				on_text(p, ref, (int)rn);
			s += n;
		} else if (*s == '\r') {
			if (p->capturing)
				on_text(p, "\n", 1);
			s += end - s >= 2 && s[1] == '\n' ? 2 : 1;
		} else {
			return NULL;	/* a control character */
		}
		if (p->failed)
			return NULL;
		run = s;
	}
}

/*
 * The attribute value after the quote at s: check it, note in a whether
 * it needs decoding, and return where its closing quote is (NULL: give
 * up).
 */
static const char *
scan_value(const char *s, const char *end, struct scan_attr *a)
{
	char q = *s++, ref[4];
	size_t n, rn;

	a->value = s;
	a->plain = true;
	for (;;) {
		while (s < end && !KIS(*s, K_ATTR))
			s++;
		if (s == end)
			return NULL;
		if (*s == q)
			break;
		if (*s == '"' || *s == '\'') {
			s++;
		} else if ((unsigned char)*s >= 0x80) {
			if ((n = scan_utf8(s, end)) == 0)
				return NULL;
			s += n;
		} else if (*s == '&') {
			if ((n = scan_ref(s, end, ref, &rn)) == 0)
				return NULL;
			s += n;
			a->plain = false;
		} else if (*s == '\t' || *s == '\n' || *s == '\r') {
			s++;
			a->plain = false;
		} else {
			return NULL;	/* '<' or a control character */
		}
	}
	a->value_len = (size_t)(s - a->value);
	return s;
}

/* Write a's value to o as expat passes it; return its length (at most
 * a->value_len). */
static size_t
scan_value_copy(char *o, const struct scan_attr *a)
{
	const char *s = a->value, *end = s + a->value_len;
	char *o0 = o;
	size_t n, rn;

	if (a->plain) {
		memcpy(o, s, a->value_len);
		return a->value_len;
	}
	while (s < end) {
		if (*s == '&') {
			n = scan_ref(s, end, o, &rn);	/* checked before */
			o += rn;
			s += n;
		} else if (*s == '\t' || *s == '\n' || *s == '\r') {
			*o++ = ' ';
			s += *s == '\r' && end - s >= 2 && s[1] == '\n' ? 2 : 1;
		} else {
			*o++ = *s++;
		}
	}
	return (size_t)(o - o0);
}

/* Make room for n bytes in p->scratch.  false: no memory. */
static bool
scan_room(struct event_parser *p, size_t n)
{
	return n <= p->scratch_cap || mem_grow(&p->scratch, &p->scratch_cap,
	    n, 1) == 0;
}

/*
 * Hand a start tag's name and attributes to on_start as NUL-terminated
 * strings, the way expat does.  false: give up.
 */
static bool
scan_call_start(struct event_parser *p, const char *name, size_t name_len,
    const struct scan_attr *at, size_t na)
{
	const char *av[2 * SCAN_ATTRS + 1];
	size_t need = name_len + 1;
	char *o;

	/* A value never grows in decoding: a reference is longer than its
	 * UTF-8, a CR LF becomes one space. */
	for (size_t i = 0; i < na; i++)
		need += at[i].name_len + at[i].value_len + 2;
	if (!scan_room(p, need))
		return false;
	o = p->scratch;
	memcpy(o, name, name_len);
	o += name_len;
	*o++ = '\0';
	for (size_t i = 0; i < na; i++) {
		av[2 * i] = o;
		memcpy(o, at[i].name, at[i].name_len);
		o += at[i].name_len;
		*o++ = '\0';
		av[2 * i + 1] = o;
		o += scan_value_copy(o, &at[i]);
		*o++ = '\0';
	}
	av[2 * na] = NULL;
	on_start(p, p->scratch, av);
	return !p->failed;
}

/*
 * The start tag after the '<' at s.  Return the first byte after it, or
 * NULL to give up.
 */
static const char *
scan_start(struct scan *sc, const char *s)
{
	struct event_parser *p = sc->p;
	const char *end = sc->end, *name = s, *e;
	struct scan_attr at[SCAN_ATTRS];
	size_t name_len, na = 0;
	bool empty = false;

	if ((e = scan_name(s, end)) == NULL || sc->depth == SCAN_DEPTH)
		return NULL;
	name_len = (size_t)(e - s);
	for (s = e;;) {
		struct scan_attr *a = &at[na];

		e = scan_space(s, end);
		if (e == end)
			return NULL;
		if (*e == '>' || *e == '/') {
			if (*e == '/' && (end - e < 2 || e[1] != '>'))
				return NULL;
			empty = *e == '/';
			s = e + (empty ? 2 : 1);
			break;
		}
		/* White space must separate attributes. */
		if (e == s || na == SCAN_ATTRS)
			return NULL;
		a->name = e;
		if ((s = scan_name(e, end)) == NULL)
			return NULL;
		a->name_len = (size_t)(s - e);
		s = scan_space(s, end);
		if (s == end || *s != '=')
			return NULL;
		s = scan_space(s + 1, end);
		if (s == end || (*s != '"' && *s != '\'') ||
		    (s = scan_value(s, end, a)) == NULL)
			return NULL;
		s++;
		for (size_t i = 0; i < na; i++)
			if (at[i].name_len == a->name_len &&
			    memcmp(at[i].name, a->name, a->name_len) == 0)
				return NULL;	/* expat's error */
		na++;
	}
	if (!scan_call_start(p, name, name_len, at, na))
		return NULL;
	if (empty) {
		on_end(p, p->scratch);
		return p->failed ? NULL : s;
	}
	sc->open[sc->depth] = name;
	sc->open_len[sc->depth] = name_len;
	sc->depth++;
	return s;
}

/*
 * The end tag after the "</" at s: it must close the element open last.
 * Return the first byte after it, or NULL to give up.
 */
static const char *
scan_end(struct scan *sc, const char *s)
{
	struct event_parser *p = sc->p;
	const char *e;
	size_t n;

	if ((e = scan_name(s, sc->end)) == NULL || sc->depth == 0)
		return NULL;
	n = (size_t)(e - s);
	if (n != sc->open_len[sc->depth - 1] ||
	    memcmp(s, sc->open[sc->depth - 1], n) != 0)
		return NULL;
	e = scan_space(e, sc->end);
	if (e == sc->end || *e != '>')
		return NULL;
	if (!scan_room(p, n + 1))
		return NULL;
	memcpy(p->scratch, s, n);
	p->scratch[n] = '\0';
	sc->depth--;
	on_end(p, p->scratch);
	return p->failed ? NULL : e + 1;
}

/*
 * Read the record xml (len bytes, starting with "<Event") through the
 * handlers.  true: it is well-formed XML and the handlers have seen it
 * all as expat would have shown it; false: give it to expat (the
 * handlers' state is then partial: reset it).
 */
static bool
scan_record(struct event_parser *p, const char *xml, size_t len)
{
	struct scan sc = { .p = p, .end = xml + len };
	const char *s = xml;

	for (;;) {
		/* s is at a '<'. */
		if (sc.end - s < 2)
			return false;
		if (s[1] == '/')
			s = scan_end(&sc, s + 2);
		else
			s = scan_start(&sc, s + 1);
		if (s == NULL)
			return false;
		if (sc.depth == 0)
			break;
		if ((s = scan_text(p, s, sc.end)) == NULL)
			return false;
	}
	return scan_space(s, sc.end) == sc.end;
}

int
event_parser_new(struct event_parser **out)
{
	struct event_parser *p;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	p->arena.max = 128u << 20;
	/*
	 * expat draws a fresh hash salt from the kernel at every reset,
	 * which costs more than parsing a record.  One random salt per
	 * parser keeps the protection against hash flooding.
	 */
	if (getrandom(&p->salt, sizeof(p->salt), 0) != sizeof(p->salt))
		p->salt = (unsigned long)time(NULL) ^ (unsigned long)getpid();
	if ((p->xp = XML_ParserCreate("UTF-8")) == NULL) {
		free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void
event_parser_free(struct event_parser *p)
{
	if (p == NULL)
		return;
	XML_ParserFree(p->xp);
	strbuf_free(&p->arena);
	free(p->scratch);
	free(p->data);
	free(p->out_data);
	free(p);
}

ssize_t
event_find_start(const char *raw, size_t len)
{
	const char *p = raw, *end = raw + len;

	while ((p = memmem(p, (size_t)(end - p), "<Event", 6)) != NULL) {
		if (p + 6 < end && (p[6] == '>' || p[6] == ' ' ||
		    p[6] == '\t' || p[6] == '/' || p[6] == '\r' ||
		    p[6] == '\n'))
			return p - raw;
		p += 6;
	}
	return -1;
}

static const char *
field(const struct event_parser *p, enum field f)
{
	return p->off[f] == NO_OFF ? NULL : p->arena.s + p->off[f];
}

/* Ready p's expat parser for the next record. */
static void
expat_reset(struct event_parser *p)
{
	XML_ParserReset(p->xp, "UTF-8");
	XML_SetHashSalt(p->xp, p->salt);
	XML_SetUserData(p->xp, p);
	XML_SetElementHandler(p->xp, on_start, on_end);
	XML_SetCharacterDataHandler(p->xp, on_text);
	XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
	XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
}

/* Ready p's handler state for the next record. */
static void
parse_reset(struct event_parser *p)
{
	strbuf_reset(&p->arena);
	for (int i = 0; i < NFIELDS; i++)
		p->off[i] = NO_OFF;
	p->ndata = 0;
	p->depth = 0;
	p->seen_root = false;
	p->user_data = false;
	p->unnamed = 0;
	p->capturing = false;
	p->failed = false;
	p->nomem = false;
	p->err[0] = '\0';
}

/*
 * What parsing the record (its <Event> at column start) came to, given
 * XML_Parse()'s status st: 0 when it is an event, else -ENOMEM or -EINVAL
 * with err saying why.
 */
static int
parse_status(struct event_parser *p, enum XML_Status st, ssize_t start,
    char *err, size_t errlen)
{
	/* No memory (ours or expat's) says nothing about the record: the
	 * caller tries again rather than call it unparsable. */
	if (p->nomem || (st != XML_STATUS_OK && !p->failed &&
	    XML_GetErrorCode(p->xp) == XML_ERROR_NO_MEMORY)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (p->failed) {
		snprintf(err, errlen, "%s", p->err);
		return -EINVAL;
	}
	if (st != XML_STATUS_OK) {
		enum XML_Error code = XML_GetErrorCode(p->xp);
		unsigned long col = XML_GetCurrentColumnNumber(p->xp);

		snprintf(err, errlen, "XML error at column %lu: %s",
		    col + (unsigned long)start + 1, XML_ErrorString(code));
		return -EINVAL;
	}
	if (!p->seen_root) {
		snprintf(err, errlen, "no <Event> element in the record");
		return -EINVAL;
	}
	if (p->off[F_EVENT_ID] == NO_OFF) {
		snprintf(err, errlen, "<Event> has no <System><EventID>");
		return -EINVAL;
	}
	return 0;
}

/* Point ev's fields into p's arena.  0, or -ENOMEM. */
static int
event_fill(struct event_parser *p, struct sysmon_event *ev, ssize_t start)
{
	if (p->out_cap < p->ndata) {
		struct sysmon_data *n = realloc(p->out_data,
		    p->ndata * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		p->out_data = n;
		p->out_cap = p->ndata;
	}
	for (size_t i = 0; i < p->ndata; i++) {
		p->out_data[i].name = p->arena.s + p->data[i].name;
		/* An element cut short by markup still ends as a value. */
		p->out_data[i].value = p->data[i].value == NO_OFF ? "" :
		    p->arena.s + p->data[i].value;
	}
	ev->provider_name = field(p, F_PROVIDER_NAME);
	ev->provider_guid = field(p, F_PROVIDER_GUID);
	ev->event_id = field(p, F_EVENT_ID);
	ev->qualifiers = field(p, F_QUALIFIERS);
	ev->version = field(p, F_VERSION);
	ev->level = field(p, F_LEVEL);
	ev->task = field(p, F_TASK);
	ev->opcode = field(p, F_OPCODE);
	ev->keywords = field(p, F_KEYWORDS);
	ev->time_created = field(p, F_TIME_CREATED);
	ev->record_id = field(p, F_RECORD_ID);
	ev->activity_id = field(p, F_ACTIVITY_ID);
	ev->related_activity_id = field(p, F_RELATED_ACTIVITY_ID);
	ev->pid = field(p, F_PID);
	ev->tid = field(p, F_TID);
	ev->channel = field(p, F_CHANNEL);
	ev->computer = field(p, F_COMPUTER);
	ev->user_id = field(p, F_USER_ID);
	ev->message = field(p, F_MESSAGE);
	ev->data = p->out_data;
	ev->ndata = p->ndata;
	ev->user_data = p->user_data;
	ev->prefix_len = (size_t)start;
	ev->linux_sysmon = (ev->provider_name != NULL &&
	    strcmp(ev->provider_name, "Linux-Sysmon") == 0) ||
	    (ev->channel != NULL && strncmp(ev->channel, "Linux-", 6) == 0);
	return 0;
}

int
event_parse(struct event_parser *p, const char *raw, size_t len,
    struct sysmon_event *ev, char *err, size_t errlen)
{
	ssize_t start;
	const char *xml;
	size_t xlen;
	enum XML_Status st;
	int rc;

	memset(ev, 0, sizeof(*ev));
	p->was_fast = false;
	if ((start = event_find_start(raw, len)) < 0) {
		snprintf(err, errlen, "no <Event> element in the record");
		return -EINVAL;
	}
	xml = raw + start;
	xlen = len - (size_t)start;
	if (memchr(xml, '\0', xlen) != NULL) {
		snprintf(err, errlen, "NUL byte at column %zu",
		    (size_t)((const char *)memchr(raw, '\0', len) - raw) + 1);
		return -EINVAL;
	}
	if (xlen > (size_t)INT32_MAX) {
		snprintf(err, errlen, "record too large to parse");
		return -EINVAL;
	}
	parse_reset(p);
	if (!p->expat_only && xlen <= SCAN_MAX) {
		/* Only a record read to its end with an EventID: every other
		 * outcome, errors included, is expat's to tell. */
		if (scan_record(p, xml, xlen) && p->off[F_EVENT_ID] != NO_OFF) {
			p->was_fast = true;
			goto fill;
		}
		parse_reset(p);
	}
	expat_reset(p);
	p->in_expat = true;
	st = XML_Parse(p->xp, xml, (int)xlen, XML_TRUE);
	p->in_expat = false;
	if ((rc = parse_status(p, st, start, err, errlen)) != 0)
		return rc;
fill:
	if ((rc = event_fill(p, ev, start)) != 0)
		snprintf(err, errlen, "out of memory");
	return rc;
}

void
event_parser_expat_only(struct event_parser *p, bool on)
{
	p->expat_only = on;
}

bool
event_parser_was_fast(const struct event_parser *p)
{
	return p->was_fast;
}

/* ---- peek ---------------------------------------------------------------- */

/* Copy the XML text p[0..n) into out, decoding the five entities and
 * numeric references to ASCII; false when it holds anything else. */
static bool
xml_text(const char *p, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c == '<')
			return false;
		if (c == '&') {
			static const struct { const char *e; char c; } ents[] = {
				{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
				{ "&quot;", '"' }, { "&apos;", '\'' },
			};
			bool ok = false;
			for (size_t k = 0; k < 5; k++) {
				size_t el = strlen(ents[k].e);
				if (n - i >= el && memcmp(p + i, ents[k].e, el) ==
				    0) {
					c = ents[k].c;
					i += el - 1;
					ok = true;
					break;
				}
			}
			if (!ok)
				return false;	/* numeric: leave it to expat */
		}
		if (o + 1 >= outlen)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return true;
}

static const char *
find_between(const char *p, const char *end, const char *open,
    const char *close, size_t *len)
{
	const char *a = memmem(p, (size_t)(end - p), open, strlen(open)), *b;

	if (a == NULL)
		return NULL;
	a += strlen(open);
	if ((b = memmem(a, (size_t)(end - a), close, strlen(close))) == NULL)
		return NULL;
	*len = (size_t)(b - a);
	return a;
}

int
event_peek(const char *raw, size_t len, struct event_peek *pk)
{
	const char *end = raw + len, *v, *q;
	ssize_t start = event_find_start(raw, len);
	size_t n;

	memset(pk, 0, sizeof(*pk));
	if (start < 0)
		return -EINVAL;
	while (end > raw && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r' || end[-1] == '\n'))
		end--;
	if (end - raw < start + 8 || memcmp(end - 8, "</Event>", 8) != 0)
		return -EINVAL;
	pk->start = (size_t)start;
	pk->end = (size_t)(end - raw);
	raw += start;
	if ((v = memmem(raw, (size_t)(end - raw), "SystemTime=", 11)) != NULL &&
	    (v[11] == '\'' || v[11] == '"') &&
	    (q = memchr(v + 12, v[11], (size_t)(end - v - 12))) != NULL &&
	    q - v - 12 < 40) {
		char ts[48];
		memcpy(ts, v + 12, (size_t)(q - v - 12));
		ts[q - v - 12] = '\0';
		pk->has_time = time_parse_rfc3339_ms(ts, &pk->time_ms) == 0;
	}
	if ((v = find_between(raw, end, "<Computer>", "</Computer>", &n)) ==
	    NULL || !xml_text(v, n, pk->computer, sizeof(pk->computer)))
		return -EINVAL;
	if ((v = find_between(raw, end, "<Channel>", "</Channel>", &n)) ==
	    NULL || !xml_text(v, n, pk->channel, sizeof(pk->channel)))
		return -EINVAL;
	pk->linux_sysmon = strncmp(pk->channel, "Linux-", 6) == 0;
	pk->event_id = -1;
	if ((v = memmem(raw, (size_t)(end - raw), "<EventID", 8)) != NULL) {
		const char *gt = memchr(v, '>', (size_t)(end - v));
		long id = 0;
		int digits = 0;

		for (const char *d = gt != NULL ? gt + 1 : end; d < end &&
		    *d >= '0' && *d <= '9' && digits < 9; d++, digits++)
			id = id * 10 + (*d - '0');
		if (digits > 0)
			pk->event_id = id;
	}
	return 0;
}
