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
 * Command lines and paths are attacker-controlled text, so nothing here
 * hand-parses XML: expat does, with document type declarations refused (no
 * entity expansion can happen) and the input forced to UTF-8.
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

/* System elements whose text is a field. */
static const struct {
	const char	*name;
	enum field	 f;
} system_text[] = {
	{ "EventID", F_EVENT_ID }, { "Version", F_VERSION },
	{ "Level", F_LEVEL }, { "Task", F_TASK }, { "Opcode", F_OPCODE },
	{ "Keywords", F_KEYWORDS }, { "EventRecordID", F_RECORD_ID },
	{ "Channel", F_CHANNEL }, { "Computer", F_COMPUTER },
};

/* System elements whose attributes are fields. */
static const struct {
	const char	*elem;
	const char	*attr;
	enum field	 f;
} system_attr[] = {
	{ "Provider", "Name", F_PROVIDER_NAME },
	{ "Provider", "Guid", F_PROVIDER_GUID },
	{ "EventID", "Qualifiers", F_QUALIFIERS },
	{ "TimeCreated", "SystemTime", F_TIME_CREATED },
	{ "Correlation", "ActivityID", F_ACTIVITY_ID },
	{ "Correlation", "RelatedActivityID", F_RELATED_ACTIVITY_ID },
	{ "Execution", "ProcessID", F_PID },
	{ "Execution", "ThreadID", F_TID },
	{ "Security", "UserID", F_USER_ID },
	{ "Security", "UserId", F_USER_ID },
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
	unsigned long	 salt;		/* expat hash salt, random per parser */
};

static void
fail(struct event_parser *p, const char *fmt, const char *arg)
{
	if (!p->failed) {
		snprintf(p->err, sizeof(p->err), fmt, arg);
		p->failed = true;
	}
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

/* Copy s into the arena with its NUL; return its offset or NO_OFF. */
static size_t
arena_str(struct event_parser *p, const char *s)
{
	size_t off = p->arena.len;
	int rc;

	if ((rc = strbuf_add(&p->arena, s, strlen(s) + 1)) != 0) {
		fail_arena(p, rc);
		return NO_OFF;
	}
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
		for (size_t i = 0; i < sizeof(system_attr) /
		    sizeof(system_attr[0]); i++) {
			const char *v;
			if (strcmp(name, system_attr[i].elem) != 0 ||
			    (v = attr_get(attrs, system_attr[i].attr)) == NULL)
				continue;
			p->off[system_attr[i].f] = arena_str(p, v);
		}
		for (size_t i = 0; i < sizeof(system_text) /
		    sizeof(system_text[0]); i++) {
			if (strcmp(name, system_text[i].name) == 0) {
				mine = C_CAPTURE;
				capture_begin(p, system_text[i].f);
				break;
			}
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
	int rc;

	(void)name;
	if (p->capturing && p->depth == p->cap_depth) {
		if ((rc = strbuf_addc(&p->arena, '\0')) != 0) {
			fail_arena(p, rc);
			return;
		}
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
	int rc;

	if (p->capturing && (rc = strbuf_add(&p->arena, s, (size_t)len)) != 0)
		fail_arena(p, rc);
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

/* Ready p and its expat parser for the next record. */
static void
parse_reset(struct event_parser *p)
{
	XML_ParserReset(p->xp, "UTF-8");
	XML_SetHashSalt(p->xp, p->salt);
	XML_SetUserData(p->xp, p);
	XML_SetElementHandler(p->xp, on_start, on_end);
	XML_SetCharacterDataHandler(p->xp, on_text);
	XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
	XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
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
	st = XML_Parse(p->xp, xml, (int)xlen, XML_TRUE);
	if ((rc = parse_status(p, st, start, err, errlen)) != 0)
		return rc;
	if ((rc = event_fill(p, ev, start)) != 0)
		snprintf(err, errlen, "out of memory");
	return rc;
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
