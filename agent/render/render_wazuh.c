/*
 * render_wazuh.c - events for the Wazuh manager: for its POST /events (the
 * wazuh output, first), and as the payloads a Wazuh agent sends over the
 * agent protocol (the wazuh_agent output, the section at the end).
 *
 * A Windows record becomes the JSON Wazuh's own eventchannel decoder
 * (src/analysisd/decoders/winevtchannel.c, 4.14) makes of a record a
 * Wazuh agent sends, so that with the decoder of packaging/wazuh/ the
 * stock Windows and Sysmon rules fire as they do for a Wazuh agent
 * (../shared/docs/PROTOCOLS.md section 3.2, and what issue 6 measured on
 * a real wazuh-analysisd):
 *
 *   {"win":{"system":{"providerName", "providerGuid", "eventID",
 *     "version", "level", "task", "opcode", "keywords", "systemTime",
 *     "eventRecordID", "processID", "threadID", "channel", "computer",
 *     "severityValue", ["message"]}, "eventdata":{"image": ...}}}
 *
 * eventdata keys are the Data Names with only the first character lower
 * cased; values that are empty, "-" or "(NULL)" are left out; trailing
 * white space is cut.  Every value carries the escaping the agent path
 * gives it (the manager prints the record's XML as a JSON string before
 * parsing it): a backslash is two, a quote is \", a tab \t.  Wazuh's
 * detection rules are written for that form (C:\\Windows\\...).
 *
 * Sysmon for Linux records go as their syslog line (a header is made when
 * the record has none), records that do not parse and gap reports as the
 * JSON document of render_ecs().  An event longer than the manager takes
 * has its longest eventdata values cut and is tagged
 * "sysmonfwd":{"tags":["sysmonfwd_truncated"],"cut_fields":[...]}.
 */
#include "render_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_CUT_ROUNDS	64

/* Cut sb at byte n, or before it at a UTF-8 character boundary, not below
 * floor. */
static void
cut_utf8(struct strbuf *sb, size_t floor, size_t n)
{
	while (n > floor && ((unsigned char)sb->s[n] & 0xC0) == 0x80)
		n--;
	strbuf_truncate(sb, n);
}

/* Append v with the agent path's escaping (cJSON's string printing). */
static int
wz_escape(struct strbuf *sb, const char *v, size_t cap, bool trim)
{
	static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
	size_t mark = sb->len;
	int rc = 0;

	for (const unsigned char *p = (const unsigned char *)v; *p != '\0' &&
	    rc == 0; p++) {
		const char *e = strchr(from, *p);
		char u[8];

		if (e != NULL) {
			u[0] = '\\';
			u[1] = to[e - from];
			rc = strbuf_add(sb, u, 2);
		} else if (*p < 0x20) {
			snprintf(u, sizeof(u), "\\u%04x", *p);
			rc = strbuf_add(sb, u, 6);
		} else {
			rc = strbuf_addc(sb, (char)*p);
		}
		if (sb->len - mark > cap)
			break;
	}
	if (rc != 0)
		return rc;
	if (sb->len - mark > cap)
		cut_utf8(sb, mark, mark + cap);
	if (trim) {
		size_t n = sb->len;

		while (n > mark && isspace((unsigned char)sb->s[n - 1]))
			n--;
		strbuf_truncate(sb, n);
	}
	return 0;
}

static bool
dropped_value(const char *v)
{
	return v == NULL || v[0] == '\0' || strcmp(v, "-") == 0 ||
	    strcmp(v, "(NULL)") == 0;
}

struct wz {
	struct jw	 j;
	struct strbuf	 tmp;
	bool		 first;
};

/* ,"key":"escaped value" */
static void
wz_kv(struct wz *w, const char *key, const char *v, size_t cap, bool trim)
{
	if (w->j.rc != 0 || v == NULL)
		return;
	strbuf_reset(&w->tmp);
	if ((w->j.rc = wz_escape(&w->tmp, v, cap, trim)) != 0)
		return;
	jw_key(&w->j, &w->first, key);
	jw_strn(&w->j, w->tmp.s != NULL ? w->tmp.s : "", w->tmp.len);
}

/* A System child; empty ones only when empty_too (the agent's rule). */
static void
wz_sys(struct wz *w, const char *key, const char *v, bool empty_too)
{
	if (v != NULL && (v[0] != '\0' || empty_too))
		wz_kv(w, key, v, SIZE_MAX, false);
}

static const char *
severity_value(const char *level, const char *keywords)
{
	unsigned long long kw;
	char *end;

	kw = strtoull(keywords, &end, 16);
	switch (strtol(level, NULL, 10)) {
	case 1:
		return "CRITICAL";
	case 2:
		return "ERROR";
	case 3:
		return "WARNING";
	case 4:
		return "INFORMATION";
	case 5:
		return "VERBOSE";
	case 0:
		if (kw & 0x10000000000000ULL)
			return "AUDIT_FAILURE";
		if (kw & 0x20000000000000ULL)
			return "AUDIT_SUCCESS";
		return "UNKNOWN";
	default:
		return "UNKNOWN";
	}
}

/* The "system" object: the record's System element. */
static void
win_system(struct wz *w, const struct sysmon_event *ev)
{
	w->first = true;
	jw_raw(&w->j, "\"system\":{");
	wz_sys(w, "providerName", ev->provider_name, false);
	wz_sys(w, "providerGuid", ev->provider_guid, false);
	wz_sys(w, "eventID", ev->event_id, false);
	wz_sys(w, "version", ev->version, false);
	wz_sys(w, "level", ev->level, true);
	wz_sys(w, "task", ev->task, false);
	wz_sys(w, "opcode", ev->opcode, false);
	wz_sys(w, "keywords", ev->keywords, true);
	wz_sys(w, "systemTime", ev->time_created, false);
	wz_sys(w, "eventRecordID", ev->record_id, false);
	wz_sys(w, "processID", ev->pid, false);
	wz_sys(w, "threadID", ev->tid, false);
	wz_sys(w, "channel", ev->channel, true);
	wz_sys(w, "computer", ev->computer, false);
	if (ev->level != NULL && ev->keywords != NULL)
		wz_kv(w, "severityValue", severity_value(ev->level,
		    ev->keywords), SIZE_MAX, false);
	if (ev->message != NULL && w->j.rc == 0) {
		/* The manager keeps the quotes of the printed string. */
		struct strbuf m = { 0 };
		if ((w->j.rc = strbuf_addf(&m, "\"%s\"", ev->message)) == 0) {
			while (m.len > 0 && isspace((unsigned char)m.s[m.len -
			    1]))
				m.s[--m.len] = '\0';
			jw_key(&w->j, &w->first, "message");
			jw_strn(&w->j, m.s, m.len);
		}
		strbuf_free(&m);
	}
	jw_raw(&w->j, "}");
}

/* An eventdata key: the Data Name with its first character lower cased. */
static void
wz_key(char key[256], const char *name)
{
	snprintf(key, 256, "%s", name);
	key[0] = (char)tolower((unsigned char)key[0]);
}

/* The "eventdata" object, when any value is left; caps as in win_json(). */
static void
win_eventdata(struct wz *w, const struct sysmon_event *ev, const size_t *caps)
{
	char key[256];

	w->first = true;
	for (size_t i = 0; i < ev->ndata && w->j.rc == 0; i++) {
		const struct sysmon_data *d = &ev->data[i];
		bool dup = false;

		if (dropped_value(d->value))
			continue;
		for (size_t j = 0; j < i && !dup; j++)
			dup = !dropped_value(ev->data[j].value) &&
			    strcasecmp(ev->data[j].name, d->name) == 0 &&
			    ev->data[j].name[0] != '\0' &&
			    strcmp(ev->data[j].name + 1, d->name + 1) == 0;
		if (dup)
			continue;
		if (w->first)
			jw_raw(&w->j, ",\"eventdata\":{");
		wz_key(key, d->name);
		wz_kv(w, key, d->value, caps != NULL ? caps[i] : SIZE_MAX,
		    true);
	}
	if (!w->first)
		jw_raw(&w->j, "}");
}

/*
 * The "sysmonfwd" member: its tags (sysmonfwd_truncated for a cut event,
 * sysmon_tamper, then the record's own: [tag] rules, redaction), and for a
 * cut event the fields cut.
 */
static void
win_tags(struct jw *j, const struct sysmon_event *ev,
    const struct event_tags *t, const size_t *caps, bool tagged)
{
	bool tamper = event_is_tamper(ev), first = true;
	char key[256];

	if (!tagged && !tamper && (t == NULL || t->n == 0))
		return;
	jw_raw(j, ",\"sysmonfwd\":{\"tags\":[");
	if (tagged) {
		jw_comma(j, &first);
		jw_raw(j, "\"sysmonfwd_truncated\"");
	}
	if (tamper) {
		jw_comma(j, &first);
		jw_raw(j, "\"sysmon_tamper\"");
	}
	for (size_t i = 0; t != NULL && i < t->n; i++) {
		if ((tagged && strcmp(t->v[i], "sysmonfwd_truncated") == 0) ||
		    (tamper && strcmp(t->v[i], "sysmon_tamper") == 0))
			continue;
		jw_comma(j, &first);
		jw_str(j, t->v[i]);
	}
	if (!tagged) {
		jw_raw(j, "]}");
		return;
	}
	jw_raw(j, "],\"cut_fields\":[");
	first = true;
	for (size_t i = 0; i < ev->ndata && j->rc == 0; i++) {
		if (caps == NULL || caps[i] == SIZE_MAX)
			continue;
		wz_key(key, ev->data[i].name);
		jw_comma(j, &first);
		jw_str(j, key);
	}
	jw_raw(j, "]}");
}

/*
 * The {"win":...} JSON of ev into out; caps[i] limits the escaped length
 * of eventdata value i (SIZE_MAX: whole); tagged: name the fields cut.
 */
static int
win_json(const struct sysmon_event *ev, const struct event_tags *t,
    const size_t *caps, bool tagged, struct strbuf *out)
{
	struct wz w = { .j = { out, 0 } };

	jw_raw(&w.j, "{\"win\":{");
	win_system(&w, ev);
	win_eventdata(&w, ev, caps);
	jw_raw(&w.j, "}");
	win_tags(&w.j, ev, t, caps, tagged);
	jw_raw(&w.j, "}");
	strbuf_free(&w.tmp);
	return w.j.rc;
}

/* render_wazuh_win() with the record's tags (may be NULL). */
static int
wazuh_win(const struct sysmon_event *ev, const struct event_tags *tags,
    size_t max, struct strbuf *out, bool *cut)
{
	size_t mark = out->len, caps_static[64], *caps = caps_static;
	size_t room = 256;
	int rc;

	for (size_t i = 0; tags != NULL && i < tags->n; i++)
		room += strlen(tags->v[i]) * 6 + 3;	/* escaped, "", */

	*cut = false;
	if ((rc = win_json(ev, tags, NULL, false, out)) != 0 ||
	    out->len - mark <= max)
		return rc;
	/* Too long: cut the longest values until it fits. */
	if (ev->ndata > 64 && (caps = calloc(ev->ndata, sizeof(*caps))) ==
	    NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ev->ndata; i++)
		caps[i] = SIZE_MAX;
	*cut = true;
	for (int round = 0; round < MAX_CUT_ROUNDS; round++) {
		size_t len = out->len - mark, excess, longest = 0;
		size_t li = SIZE_MAX;
		struct strbuf t = { 0 };

		if (round > 0 && len <= max)
			break;
		/* Room for the tags and the names of the fields cut. */
		excess = len - (len > max ? max : len) + room +
		    16 * (size_t)round;
		for (size_t i = 0; i < ev->ndata; i++) {
			size_t n;
			if (dropped_value(ev->data[i].value) || caps[i] == 0)
				continue;
			strbuf_reset(&t);
			if (wz_escape(&t, ev->data[i].value, caps[i],
			    true) != 0)
				continue;
			n = t.len;
			if (n > longest) {
				longest = n;
				li = i;
			}
		}
		strbuf_free(&t);
		if (li == SIZE_MAX)
			break;		/* nothing left to cut */
		caps[li] = longest > excess ? longest - excess : 0;
		strbuf_truncate(out, mark);
		if ((rc = win_json(ev, tags, caps, true, out)) != 0)
			break;
	}
	if (caps != caps_static)
		free(caps);
	return rc;
}

int
render_wazuh_win(const struct sysmon_event *ev, size_t max, struct strbuf *out,
    bool *cut)
{
	return wazuh_win(ev, NULL, max, out, cut);
}

/* A syslog header for a Sysmon for Linux record read without one. */
static int
linux_header(const struct sysmon_event *ev, int64_t ms, struct strbuf *out)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ev->time_created != NULL)
		(void)time_parse_rfc3339_ms(ev->time_created, &ms);
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	return strbuf_addf(out, "%s %2d %02d:%02d:%02d %s sysmon: ",
	    mon[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ev->computer != NULL && ev->computer[0] != '\0' ? ev->computer :
	    "localhost");
}

/*
 * A Sysmon for Linux record as the syslog line Wazuh's pre-decoder reads,
 * into out (at most max bytes, cut: *cut).  Wazuh wants an RFC 3164
 * header: keep one that is, make one for anything else (none, <PRI>,
 * RFC 5424, ISO times, a BOM).
 */
static int
wz_linux(const struct sysmon_event *ev, const struct buffer_rec *rec,
    size_t max, struct strbuf *out, bool *cut)
{
	const char *d = rec->data;
	size_t mark = out->len;
	bool plain = ev->prefix_len > 4 && d[0] >= 'A' && d[0] <= 'Z' &&
	    d[1] >= 'a' && d[1] <= 'z' && d[2] >= 'a' && d[2] <= 'z' &&
	    d[3] == ' ';
	int rc = 0;

	if (!plain)
		rc = linux_header(ev, rec->time_ms, out);
	/* The manager gets valid UTF-8: measure that. */
	if (rc == 0)
		rc = plain ? strbuf_add_utf8(out, d, rec->len) :
		    strbuf_add_utf8(out, d + ev->prefix_len, rec->len -
		    ev->prefix_len);
	if (rc == 0 && out->len - mark > max) {
		cut_utf8(out, mark, mark + max);
		*cut = true;
	}
	return rc;
}

/*
 * A record that does not parse, or a gap: the render_ecs() document, into
 * out.  A JSON document cannot be cut: render less of the raw record
 * until it fits in max (tagged sysmonfwd_truncated, *cut).  Return like
 * render_ecs().
 */
static int
wz_doc(struct event_parser *p, const struct render_ctx *ctx,
    const struct rec_view *v, size_t max, struct strbuf *out, bool *cut)
{
	struct rec_view r = *v;
	size_t mark = out->len;
	int res = 0;

	for (int round = 0; round < 16; round++) {
		strbuf_truncate(out, mark);
		if ((res = render_ecs_view(p, ctx, &r, out)) < 0 ||
		    out->len - mark <= max || r.rec.len == 0)
			break;
		r.rec.len = r.rec.len * (max / 2) / (out->len - mark);
		r.rec.flags |= BUFFER_REC_TRUNCATED;
		*cut = true;
	}
	return res;
}

int
render_wazuh(struct event_parser *p, const struct render_ctx *ctx,
    const struct render_wazuh_opts *o, const struct buffer_rec *rec,
    struct strbuf *out, struct strbuf *scratch)
{
	struct sysmon_event ev;
	struct rec_view v;
	char why[64];
	size_t mark = out->len;
	bool cut = false;
	int rc, res = RENDER_OK;

	render_untag(rec, &v);
	rec = &v.rec;
	strbuf_reset(scratch);
	rc = (rec->flags & BUFFER_REC_GAP) ? -EINVAL : event_parse(p,
	    rec->data, rec->len, &ev, why, sizeof(why));
	if (rc == -ENOMEM)
		return rc;	/* not a parse error: try again */
	if (rc == 0 && ev.linux_sysmon)
		rc = wz_linux(&ev, rec, o->max_event, scratch, &cut);
	else if (rc == 0)
		rc = wazuh_win(&ev, &v.tags, o->max_event, scratch, &cut);
	else {
		res = wz_doc(p, ctx, &v, o->max_event, scratch, &cut);
		rc = res < 0 ? res : 0;
	}
	if (rc == 0)
		rc = json_add_str(out, scratch->s != NULL ? scratch->s : "",
		    scratch->len);
	if (rc != 0) {
		strbuf_truncate(out, mark);
		return rc;
	}
	return cut && res == RENDER_OK ? RENDER_CUT : res;
}

/* ---- the Wazuh agent protocol (output type wazuh_agent) ---------------- */

/*
 * What a Wazuh agent hands CreateSecMSG() for an event is the string
 * "QUEUE:LOCATION:MESSAGE" that SendMSG() builds (src/shared/mq_op.c and
 * src/win32/win_utils.c, wazuh v4.14.7), the location escaped by
 * wstr_escape(): '|' as "||", ':' as "|:".
 *
 * Windows records go as the Windows agent's logcollector sends an event
 * of a channel (src/logcollector/read_win_event_channel.c,
 * send_channel_event(), v4.14.7): queue 'f' (WIN_EVT_MQ), location
 * EventChannel, and the JSON cJSON_PrintUnformatted() makes of
 * {"Message": EvtFormatMessage()'s text, "Event": EvtRender()'s XML}, the
 * Message left out when the agent could not format one, the XML after
 * win_format_event_string() (src/logcollector/logcollector.c): CR and LF
 * become spaces, and so do the tabs right after a CR, an LF or a ':'.
 * The manager's windows_eventchannel decoder (DecodeWinevt(),
 * src/analysisd/decoders/winevtchannel.c) makes {"win":...} of that; see
 * tests/integration/wazuh_winevt.py, its model.
 *
 * The XML is the record's own, with only what makes it what EvtRender()
 * gave the Wazuh agent for the same event:
 *   - the CR and LF a value held, which our eventlog input (and the
 *     corpus) write as &#13; and &#10; to keep a record on one line, are
 *     CR and LF again (then spaces, as above): the manager decodes no
 *     XML reference, so "&#10;" would reach the rules as those 5 bytes;
 *   - attributes in double quotes are put in single quotes, as EvtRender
 *     writes them: the manager reads the XML after printing it as a JSON
 *     string, where a double quote is \", which its XML reader
 *     (src/os_xml/os_xml.c) does not take for a quote;
 *   - a <RenderingInfo> element (wevtutil /rd, Get-WinEvent exports) is
 *     taken out, its Message going to "Message" as EvtFormatMessage()'s
 *     would: EvtRender(EvtRenderEventXml) never writes one, and the
 *     decoder would make a win.renderingInfo object of it;
 *   - bytes that are not UTF-8 are U+FFFD (the agent converts from UTF-16).
 * Our event model has a message only from RenderingInfo: the eventlog,
 * evtx and file inputs read none, so their records go without "Message",
 * as the agent's do when EvtFormatMessage() fails (the decoder then makes
 * no win.system.message).
 *
 * Tags (sysmonfwd_truncated, sysmon_tamper, [tag] rules) go inside the
 * XML, as one more child of <Event> before </Event>:
 *   <Sysmonfwd><sysmonfwd><tags>T1, T2</tags>
 *     [<cut_fields>F1, F2</cut_fields>]</sysmonfwd></Sysmonfwd>
 * DecodeWinevt() turns a child of <Event> other than System and EventData
 * into an object named after that child's child, with one member per
 * grandchild: win.sysmonfwd.tags and win.sysmonfwd.cut_fields, strings
 * joined with ", ".  win.system and win.eventdata are left as they are.
 * (A record with <UserData> has such an object already, which ours would
 * merge with: its tags are not sent.  Sysmon writes no UserData.)
 *
 * Records longer than CreateSecMSG() takes (RENDER_WAZUH_AGENT_MAX) have
 * their longest <Data> values (and Message) cut in the XML text, at a
 * UTF-8 boundary and never inside an entity reference, so the XML stays
 * well-formed, and are tagged as above.  One that cannot be made to fit
 * so (thousands of values) goes as a record that does not parse does,
 * cut (RENDER_CUT all the same).
 *
 * Sysmon for Linux records go as their syslog line (render_wazuh()'s)
 * on queue '1' (LOCALFILE_MQ), location /var/log/syslog: what a Linux
 * agent's syslog <localfile> sends (src/logcollector/read_syslog.c), a
 * line of exactly that form ("Oct  4 ..." as rsyslog writes it, which the
 * journald input and the file input both give, and render_wazuh() makes
 * for a record without one); the manager's syslog pre-decoder takes
 * program_name sysmon from it.  (A Wazuh agent's journald reader would
 * send "Oct 04 ..." on location journald; the rules see the same.)
 * Records that do not parse, gaps, heartbeats and alerts go as the JSON
 * document the wazuh output sends, on queue '1', location sysmonfwd.
 */

#define WA_WIN_QUEUE	'f'		/* WIN_EVT_MQ, src/headers/mq_op.h */
#define WA_WIN_LOC	"EventChannel"
#define WA_LOG_QUEUE	'1'		/* LOCALFILE_MQ */
#define WA_SYSLOG_LOC	"/var/log/syslog"
#define WA_OWN_LOC	"sysmonfwd"	/* RENDER_WAZUH_AGENT_OWN's */
/*
 * The manager's XML reader fails on a whole record when one text is
 * XML_MAXSIZE bytes or more (src/os_xml/os_xml_internal.h, os_xml.c
 * _ReadElem(): "String overflow"; the text as printed in JSON, escapes
 * counted): a longer <Data> value is cut to one byte less, and tagged.
 * A Wazuh agent sends such a record whole and the manager decodes
 * nothing of it.
 */
#define WA_XML_MAXSIZE	20480

/* "Q:LOCATION:" with the location escaped as wstr_escape() does. */
static int
wa_head(struct strbuf *out, char queue, const char *loc)
{
	int rc;

	if ((rc = strbuf_addc(out, queue)) != 0 ||
	    (rc = strbuf_addc(out, ':')) != 0)
		return rc;
	for (; *loc != '\0' && rc == 0; loc++) {
		if (*loc == '|' || *loc == ':')
			rc = strbuf_addc(out, '|');
		if (rc == 0)
			rc = strbuf_addc(out, *loc);
	}
	return rc == 0 ? strbuf_addc(out, ':') : rc;
}

/* Bytes of the unit at s (n > 0 left): an entity reference, else one
 * UTF-8 character (s is valid UTF-8). */
static size_t
wa_unit(const char *s, size_t n, bool refs)
{
	unsigned char c = (unsigned char)s[0];
	size_t k;

	if (refs && c == '&') {
		for (k = 1; k < n && k < 12; k++) {
			if (s[k] == ';')
				return k + 1;
			if (!isalnum((unsigned char)s[k]) && s[k] != '#')
				break;
		}
	}
	k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	return k < n ? k : n;
}

/* Bytes cJSON's printing makes of c. */
static size_t
wa_esc_len(unsigned char c)
{
	if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' ||
	    c == '\r' || c == '\t')
		return 2;
	return c < 0x20 ? 6 : 1;
}

/* Append n bytes of s as cJSON's print_string_ptr() writes them. */
static int
wz_escape_n(struct strbuf *sb, const char *s, size_t n)
{
	static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *e = c != '\0' ? strchr(from, c) : NULL;
		char u[8];

		if (e != NULL) {
			u[0] = '\\';
			u[1] = to[e - from];
			rc = strbuf_add(sb, u, 2);
		} else if (c < 0x20) {
			snprintf(u, sizeof(u), "\\u%04x", c);
			rc = strbuf_add(sb, u, 6);
		} else
			rc = strbuf_addc(sb, (char)c);
	}
	return rc;
}

/*
 * Append n bytes of s as cJSON prints a string's content (no quotes),
 * whole units only and no more than cap printed bytes.  *printed (may be
 * NULL) gets the bytes it would print, and nothing is appended when out is
 * NULL: the measure of a value.
 */
static int
wa_esc(struct strbuf *out, const char *s, size_t n, size_t cap, bool refs,
    size_t *printed)
{
	size_t i = 0, done = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		size_t k = wa_unit(s + i, n - i, refs), e = 0;

		for (size_t j = 0; j < k; j++)
			e += wa_esc_len((unsigned char)s[i + j]);
		if (done + e > cap)
			break;
		if (out != NULL)
			rc = wz_escape_n(out, s + i, k);
		done += e;
		i += k;
	}
	if (printed != NULL)
		*printed = done;
	return rc;
}

/* Where close starts in s[i..n), or n. */
static size_t
wa_find(const char *s, size_t n, size_t i, const char *close)
{
	size_t l = strlen(close);

	for (; i + l <= n; i++)
		if (s[i] == close[0] && memcmp(s + i, close, l) == 0)
			return i;
	return n;
}

/* Does s[i..n) start with the tag <name or </name (close)? */
static bool
wa_is_tag(const char *s, size_t n, size_t i, const char *name, bool close)
{
	size_t l = strlen(name), o = close ? 2 : 1;

	if (i + o + l >= n || s[i] != '<' || (close && s[i + 1] != '/') ||
	    memcmp(s + i + o, name, l) != 0)
		return false;
	return s[i + o + l] == '>' || s[i + o + l] == '/' ||
	    isspace((unsigned char)s[i + o + l]);
}

/* Just past the '>' that ends the tag at s[i] ('<'), quotes minded. */
static size_t
wa_tag_end(const char *s, size_t n, size_t i)
{
	char q = 0;

	for (i++; i < n; i++) {
		if (q != 0) {
			if (s[i] == q)
				q = 0;
		} else if (s[i] == '"' || s[i] == '\'')
			q = s[i];
		else if (s[i] == '>')
			return i + 1;
	}
	return n;
}

/* Copy the tag s[i..e) to x with its attributes in single quotes. */
static int
wa_copy_tag(struct strbuf *x, const char *s, size_t i, size_t e)
{
	char q = 0;
	int rc = 0;

	for (; i < e && rc == 0; i++) {
		if (q == '"' && s[i] == '\'')
			rc = strbuf_adds(x, "&apos;");
		else if ((q == 0 && (s[i] == '"' || s[i] == '\'')) ||
		    (q != 0 && s[i] == q)) {
			q = q == 0 ? s[i] : 0;
			rc = strbuf_addc(x, '\'');
		} else
			rc = strbuf_addc(x, s[i]);
	}
	return rc;
}

/*
 * The tab, LF or CR a character reference at s stands for (&#10;,
 * &#xD;, ...), its length in *k; 0 when s holds none of those.
 */
static char
wa_ws_ref(const char *s, size_t n, size_t *k)
{
	unsigned long v = 0;
	size_t i = 2;
	bool hex;

	if (n < 4 || s[0] != '&' || s[1] != '#')
		return 0;
	if ((hex = s[2] == 'x'))
		i++;
	for (; i < n && i < 12 && s[i] != ';'; i++) {
		int d = isdigit((unsigned char)s[i]) ? s[i] - '0' :
		    hex && isxdigit((unsigned char)s[i]) ?
		    tolower((unsigned char)s[i]) - 'a' + 10 : -1;
		if (d < 0)
			return 0;
		v = v * (hex ? 16 : 10) + (unsigned long)d;
	}
	if (i >= n || s[i] != ';' || (v != 9 && v != 10 && v != 13))
		return 0;
	*k = i + 1;
	return (char)v;
}

/*
 * The record's XML s (n bytes of UTF-8) as EvtRender() gave it (see
 * above): CR, LF and tab references as those characters, attributes in
 * single quotes, no RenderingInfo.  Comments, CDATA and processing
 * instructions are copied as they are.
 */
static int
wa_evtrender(const char *s, size_t n, struct strbuf *x)
{
	size_t i = 0, e, k;
	int rc = 0;
	char c;

	while (i < n && rc == 0) {
		if (s[i] == '&' && (c = wa_ws_ref(s + i, n - i, &k)) != 0) {
			rc = strbuf_addc(x, c);
			i += k;
			continue;
		}
		if (s[i] != '<') {
			rc = strbuf_addc(x, s[i++]);
			continue;
		}
		if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0)
			e = wa_find(s, n, i, "-->") + 3;
		else if (n - i >= 9 && memcmp(s + i, "<![CDATA[", 9) == 0)
			e = wa_find(s, n, i, "]]>") + 3;
		else if (n - i >= 2 && (s[i + 1] == '?' || s[i + 1] == '!'))
			e = wa_tag_end(s, n, i);
		else if (wa_is_tag(s, n, i, "RenderingInfo", false)) {
			e = wa_tag_end(s, n, i);
			if (s[e - 1] == '>' && s[e - 2] != '/') {
				e = wa_find(s, n, e, "</RenderingInfo");
				e = e < n ? wa_tag_end(s, n, e) : n;
			}
			i = e;		/* left out */
			continue;
		} else {
			e = wa_tag_end(s, n, i);
			rc = wa_copy_tag(x, s, i, e);
			i = e;
			continue;
		}
		e = e < n ? e : n;
		rc = strbuf_add(x, s + i, e - i);
		i = e;
	}
	return rc;
}

/* win_format_event_string() (src/logcollector/logcollector.c, v4.14.7). */
static void
wa_win_format(char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (s[i] != '\n' && s[i] != '\r' && s[i] != ':') {
			i++;
			continue;
		}
		if (s[i] != ':')
			s[i] = ' ';
		for (i++; i < n && s[i] == '\t'; i++)
			s[i] = ' ';
	}
}

/* A <Data> value of the XML: where it is, how much of it is sent. */
struct wa_val {
	size_t	 off, len;
	size_t	 cap;		/* printed bytes kept; SIZE_MAX: all */
	char	 key[64];	/* its eventdata key, for cut_fields */
};

/* A Windows record on its way to the agent protocol. */
struct wa_ev {
	struct strbuf	 x;		/* its XML, wa_evtrender()ed */
	struct wa_val	*v;
	size_t		 nv, vcap;
	size_t		 end;		/* the last </Event>; SIZE_MAX: none */
	const char	*msg;		/* "Message", or NULL */
	size_t		 msglen, msgcap;
};

/* The eventdata key of the Data tag x[i..e): its Name, first letter
 * lower cased, as DecodeWinevt() names it. */
static void
wa_key(const char *x, size_t i, size_t e, char key[64])
{
	size_t p = wa_find(x, e, i, " Name="), k = 0;
	char q;

	key[0] = '\0';
	if (p + 7 > e)
		return;
	q = x[p + 6];
	for (p += 7; p < e && x[p] != q && k < 63; p++)
		key[k++] = x[p];
	key[k] = '\0';
	key[0] = (char)tolower((unsigned char)key[0]);
}

/* Find the <Data> values and the last </Event> of w->x. */
static int
wa_scan(struct wa_ev *w)
{
	const char *x = w->x.s;
	size_t n = w->x.len, i = 0;

	w->end = SIZE_MAX;
	while (i < n) {
		size_t e;

		if (wa_is_tag(x, n, i, "Event", true))
			w->end = i;
		if (!wa_is_tag(x, n, i, "Data", false)) {
			i++;
			continue;
		}
		e = wa_tag_end(x, n, i);
		if (e - i < 2 || x[e - 2] == '/') {
			i = e;		/* <Data .../>: no value */
			continue;
		}
		if (mem_grow(&w->v, &w->vcap, w->nv + 1, sizeof(*w->v)) != 0)
			return -ENOMEM;
		w->v[w->nv].off = e;
		w->v[w->nv].len = wa_find(x, n, e, "<") - e;
		w->v[w->nv].cap = SIZE_MAX;
		wa_key(x, i, e, w->v[w->nv].key);
		i = e + w->v[w->nv++].len;
	}
	return 0;
}

/* Append s as XML text: &, < and > as references. */
static int
wa_xml_text(struct strbuf *out, const char *s)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		if (*s == '&')
			rc = strbuf_adds(out, "&amp;");
		else if (*s == '<')
			rc = strbuf_adds(out, "&lt;");
		else if (*s == '>')
			rc = strbuf_adds(out, "&gt;");
		else
			rc = strbuf_addc(out, *s);
	}
	return rc;
}

/*
 * The element that carries the tags (see above) into out, or nothing when
 * there are none: the API output's tags (win_tags()), in its order.
 */
static int
wa_tags(const struct sysmon_event *ev, const struct event_tags *t,
    const struct wa_ev *w, bool cut, struct strbuf *out)
{
	bool tamper = event_is_tamper(ev), first = true;
	int rc = 0;

	strbuf_reset(out);
	if ((!cut && !tamper && t->n == 0) || ev->user_data)
		return 0;
	rc = strbuf_adds(out, "<Sysmonfwd><sysmonfwd><tags>");
	if (rc == 0 && cut) {
		rc = strbuf_adds(out, "sysmonfwd_truncated");
		first = false;
	}
	if (rc == 0 && tamper) {
		rc = strbuf_adds(out, first ? "sysmon_tamper" :
		    ", sysmon_tamper");
		first = false;
	}
	for (size_t i = 0; i < t->n && rc == 0; i++) {
		if ((cut && strcmp(t->v[i], "sysmonfwd_truncated") == 0) ||
		    (tamper && strcmp(t->v[i], "sysmon_tamper") == 0))
			continue;
		if (!first)
			rc = strbuf_adds(out, ", ");
		if (rc == 0)
			rc = wa_xml_text(out, t->v[i]);
		first = false;
	}
	if (rc == 0)
		rc = strbuf_adds(out, "</tags>");
	if (rc == 0 && cut) {
		first = true;
		rc = strbuf_adds(out, "<cut_fields>");
		if (rc == 0 && w->msgcap != SIZE_MAX) {
			rc = strbuf_adds(out, "message");
			first = false;
		}
		for (size_t i = 0; i < w->nv && rc == 0; i++) {
			if (w->v[i].cap == SIZE_MAX)
				continue;
			if (!first)
				rc = strbuf_adds(out, ", ");
			if (rc == 0)
				rc = wa_xml_text(out, w->v[i].key);
			first = false;
		}
		if (rc == 0)
			rc = strbuf_adds(out, "</cut_fields>");
	}
	if (rc == 0)
		rc = strbuf_adds(out, "</sysmonfwd></Sysmonfwd>");
	return rc;
}

/*
 * f:EventChannel:{"Message":"...","Event":"..."} of w into out, each value
 * cut to its cap, the tags element tags (may be empty) before </Event>.
 */
static int
wa_compose(const struct wa_ev *w, const struct strbuf *tags,
    struct strbuf *out)
{
	const char *x = w->x.s;
	size_t pos = 0;
	int rc;

	rc = wa_head(out, WA_WIN_QUEUE, WA_WIN_LOC);
	if (rc == 0 && w->msg != NULL) {
		rc = strbuf_adds(out, "{\"Message\":\"");
		if (rc == 0)
			rc = wa_esc(out, w->msg, w->msglen, w->msgcap, false,
			    NULL);
		if (rc == 0)
			rc = strbuf_adds(out, "\",\"Event\":\"");
	} else if (rc == 0)
		rc = strbuf_adds(out, "{\"Event\":\"");
	for (size_t i = 0; i < w->nv && rc == 0; i++) {
		rc = wa_esc(out, x + pos, w->v[i].off - pos, SIZE_MAX, false,
		    NULL);
		if (rc == 0)
			rc = wa_esc(out, x + w->v[i].off, w->v[i].len,
			    w->v[i].cap, true, NULL);
		pos = w->v[i].off + w->v[i].len;
	}
	if (rc == 0 && tags->len > 0 && w->end != SIZE_MAX && w->end >= pos) {
		rc = wa_esc(out, x + pos, w->end - pos, SIZE_MAX, false, NULL);
		if (rc == 0)
			rc = wa_esc(out, tags->s, tags->len, SIZE_MAX, false,
			    NULL);
		pos = w->end;
	}
	if (rc == 0)
		rc = wa_esc(out, x + pos, w->x.len - pos, SIZE_MAX, false,
		    NULL);
	if (rc == 0)
		rc = strbuf_adds(out, "\"}");
	return rc;
}

/*
 * Cut the longest of w's values (and Message) by excess printed bytes;
 * false when nothing is left to cut.
 */
static bool
wa_cut_longest(struct wa_ev *w, size_t excess)
{
	size_t longest = 0, printed, *cap = NULL;

	if (w->msg != NULL && w->msgcap != 0) {
		(void)wa_esc(NULL, w->msg, w->msglen, w->msgcap, false,
		    &longest);
		cap = &w->msgcap;
	}
	for (size_t i = 0; i < w->nv; i++) {
		if (w->v[i].cap == 0)
			continue;
		(void)wa_esc(NULL, w->x.s + w->v[i].off, w->v[i].len,
		    w->v[i].cap, true, &printed);
		if (printed > longest) {
			longest = printed;
			cap = &w->v[i].cap;
		}
	}
	if (cap == NULL || longest == 0)
		return false;
	*cap = longest > excess ? longest - excess : 0;
	return true;
}

/*
 * A parsed Windows record (its XML: n bytes at raw) as the Wazuh agent
 * sends it, appended to out: 0, 1 when it cannot be made to fit in max,
 * or -errno.  *cut: values were cut.
 */
static int
wa_win(const struct sysmon_event *ev, const struct event_tags *t,
    const char *raw, size_t n, size_t max, struct strbuf *out, bool *cut)
{
	struct wa_ev w = { .msg = ev->message, .msgcap = SIZE_MAX };
	struct strbuf utf8 = { 0 }, tags = { 0 };
	size_t mark = out->len;
	int rc;

	if (w.msg != NULL)
		w.msglen = strlen(w.msg);
	if ((rc = strbuf_add_utf8(&utf8, raw, n)) == 0 &&
	    (rc = wa_evtrender(utf8.s != NULL ? utf8.s : "", utf8.len,
	    &w.x)) == 0 && w.x.s != NULL) {
		wa_win_format(w.x.s, w.x.len);
		rc = wa_scan(&w);
	}
	if (rc == 0 && w.end != SIZE_MAX)	/* nothing after </Event> */
		strbuf_truncate(&w.x, wa_tag_end(w.x.s, w.x.len, w.end));
	for (size_t i = 0; rc == 0 && i < w.nv; i++) {
		size_t printed;

		(void)wa_esc(NULL, w.x.s + w.v[i].off, w.v[i].len, SIZE_MAX,
		    true, &printed);
		if (printed >= WA_XML_MAXSIZE) {
			w.v[i].cap = WA_XML_MAXSIZE - 1;
			*cut = true;
		}
	}
	for (int round = 0; rc == 0; round++) {
		strbuf_truncate(out, mark);
		if ((rc = wa_tags(ev, t, &w, *cut, &tags)) != 0 ||
		    (rc = wa_compose(&w, &tags, out)) != 0 ||
		    out->len - mark <= max)
			break;
		*cut = true;
		/* Room for the tags and the names of the fields cut. */
		if (round == MAX_CUT_ROUNDS || !wa_cut_longest(&w,
		    out->len - mark - max + 128 + 16 * (size_t)round))
			rc = 1;
	}
	if (rc != 0)
		strbuf_truncate(out, mark);
	strbuf_free(&utf8);
	strbuf_free(&tags);
	strbuf_free(&w.x);
	free(w.v);
	return rc;
}

/*
 * The manager reads a payload as a C string: a NUL byte (a syslog header
 * may hold one) becomes U+FFFD, and sb is cut again to max.
 */
static int
wa_no_nul(struct strbuf *sb, size_t max, bool *cut)
{
	struct strbuf t = { 0 };
	int rc = 0;

	if (sb->len == 0 || memchr(sb->s, '\0', sb->len) == NULL)
		return 0;
	for (size_t i = 0; i < sb->len && rc == 0; i++)
		rc = sb->s[i] != '\0' ? strbuf_addc(&t, sb->s[i]) :
		    strbuf_add(&t, "\xEF\xBF\xBD", 3);
	if (rc == 0 && t.len > max) {
		cut_utf8(&t, 0, max);
		*cut = true;
	}
	strbuf_reset(sb);
	if (rc == 0)
		rc = strbuf_add(sb, t.s, t.len);
	strbuf_free(&t);
	return rc;
}

int
render_wazuh_agent(struct event_parser *p, const struct render_ctx *ctx,
    const struct buffer_rec *rec, struct strbuf *out, struct strbuf *scratch)
{
	struct sysmon_event ev;
	struct rec_view v;
	char why[64];
	size_t mark = out->len;
	bool cut = false, fallback = false;
	int rc, res = RENDER_OK;

	render_untag(rec, &v);
	rec = &v.rec;
	strbuf_reset(scratch);
	rc = (rec->flags & BUFFER_REC_GAP) ? -EINVAL : event_parse(p,
	    rec->data, rec->len, &ev, why, sizeof(why));
	if (rc == -ENOMEM)
		return rc;	/* not a parse error: try again */
	if (rc == 0 && !ev.linux_sysmon) {
		rc = wa_win(&ev, &v.tags, rec->data + ev.prefix_len,
		    rec->len - ev.prefix_len, RENDER_WAZUH_AGENT_MAX, out,
		    &cut);
		if (rc <= 0)
			goto done;
		/* Too long even cut (thousands of values): the document of a
		 * record that does not parse, cut, but counted as cut. */
		rc = -EINVAL;
		fallback = true;
	}
	if (rc == 0) {
		size_t max = RENDER_WAZUH_AGENT_MAX -
		    (sizeof("1:" WA_SYSLOG_LOC ":") - 1);

		rc = wz_linux(&ev, rec, max, scratch, &cut);
		if (rc == 0)
			rc = wa_no_nul(scratch, max, &cut);
		if (rc == 0)
			rc = wa_head(out, WA_LOG_QUEUE, WA_SYSLOG_LOC);
	} else {
		res = wz_doc(p, ctx, &v, RENDER_WAZUH_AGENT_MAX -
		    (sizeof("1:" WA_OWN_LOC ":") - 1), scratch, &cut);
		rc = res < 0 ? res : wa_head(out, WA_LOG_QUEUE, WA_OWN_LOC);
	}
	if (rc == 0)
		rc = strbuf_add(out, scratch->s != NULL ? scratch->s : "",
		    scratch->len);
done:
	if (rc != 0) {
		strbuf_truncate(out, mark);
		return rc;
	}
	if (fallback)
		return RENDER_CUT;
	return cut && res == RENDER_OK ? RENDER_CUT : res;
}
