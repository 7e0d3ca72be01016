/*
 * render_wazuh.c - events for the Wazuh manager's POST /events.
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
	if (rc == 0) {
		if (ev.linux_sysmon) {
			/* Wazuh's pre-decoder wants an RFC 3164 header: keep
			 * one that is, make one for anything else (none,
			 * <PRI>, RFC 5424, ISO times, a BOM). */
			const char *d = rec->data;
			bool plain = ev.prefix_len > 4 && d[0] >= 'A' &&
			    d[0] <= 'Z' && d[1] >= 'a' && d[1] <= 'z' &&
			    d[2] >= 'a' && d[2] <= 'z' && d[3] == ' ';

			rc = 0;
			if (!plain)
				rc = linux_header(&ev, rec->time_ms, scratch);
			/* The manager gets valid UTF-8: measure that. */
			if (rc == 0)
				rc = plain ? strbuf_add_utf8(scratch, d,
				    rec->len) : strbuf_add_utf8(scratch, d +
				    ev.prefix_len, rec->len - ev.prefix_len);
			if (rc == 0 && scratch->len > o->max_event) {
				cut_utf8(scratch, 0, o->max_event);
				cut = true;
			}
		} else {
			rc = wazuh_win(&ev, &v.tags, o->max_event, scratch,
			    &cut);
		}
	} else {
		struct rec_view r = v;

		/* A JSON document cannot be cut: render less of the raw
		 * record until it fits (tagged sysmonfwd_truncated). */
		for (int round = 0; round < 16; round++) {
			strbuf_reset(scratch);
			if ((res = render_ecs_view(p, ctx, &r, scratch)) < 0 ||
			    scratch->len <= o->max_event || r.rec.len == 0)
				break;
			r.rec.len = r.rec.len * (o->max_event / 2) /
			    scratch->len;
			r.rec.flags |= BUFFER_REC_TRUNCATED;
			cut = true;
		}
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
