/*
 * render_wazuh.c - events for the Wazuh manager's POST /events.
 *
 * A Windows record becomes the JSON Wazuh's own eventchannel decoder
 * (src/analysisd/decoders/winevtchannel.c, 4.14) makes of a record a
 * Wazuh agent sends, so that with the decoder of packaging/wazuh/ the
 * stock Windows and Sysmon rules fire as they do for a Wazuh agent
 * (PROTOCOLS.md section 3.2, and what issue 6 measured on a real
 * wazuh-analysisd):
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
#include "render.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_CUT_ROUNDS	64

/* Append v with the agent path's escaping (cJSON's string printing). */
static int
wz_escape(struct strbuf *sb, const char *v, size_t cap, bool trim)
{
	size_t mark = sb->len;
	int rc = 0;

	for (const unsigned char *p = (const unsigned char *)v; *p != '\0' &&
	    rc == 0; p++) {
		char u[8];

		switch (*p) {
		case '"':
			rc = strbuf_add(sb, "\\\"", 2);
			break;
		case '\\':
			rc = strbuf_add(sb, "\\\\", 2);
			break;
		case '\b':
			rc = strbuf_add(sb, "\\b", 2);
			break;
		case '\f':
			rc = strbuf_add(sb, "\\f", 2);
			break;
		case '\n':
			rc = strbuf_add(sb, "\\n", 2);
			break;
		case '\r':
			rc = strbuf_add(sb, "\\r", 2);
			break;
		case '\t':
			rc = strbuf_add(sb, "\\t", 2);
			break;
		default:
			if (*p < 0x20) {
				snprintf(u, sizeof(u), "\\u%04x", *p);
				rc = strbuf_add(sb, u, 6);
			} else {
				rc = strbuf_addc(sb, (char)*p);
			}
		}
		if (sb->len - mark > cap)
			break;
	}
	if (rc != 0)
		return rc;
	if (sb->len - mark > cap) {
		/* Cut at a character boundary. */
		size_t n = mark + cap;
		while (n > mark && ((unsigned char)sb->s[n] & 0xC0) == 0x80)
			n--;
		sb->len = n;
		sb->s[n] = '\0';
	}
	if (trim) {
		while (sb->len > mark && isspace((unsigned char)sb->s[sb->len -
		    1]))
			sb->len--;
		if (sb->s != NULL)
			sb->s[sb->len] = '\0';
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
	struct strbuf	*out;
	struct strbuf	 tmp;
	bool		 first;
	int		 rc;
};

/* ,"key":"escaped value" */
static void
wz_kv(struct wz *w, const char *key, const char *v, size_t cap, bool trim)
{
	if (w->rc != 0 || v == NULL)
		return;
	strbuf_reset(&w->tmp);
	if ((w->rc = wz_escape(&w->tmp, v, cap, trim)) != 0)
		return;
	if (!w->first)
		w->rc = strbuf_addc(w->out, ',');
	w->first = false;
	if (w->rc == 0)
		w->rc = json_add_str(w->out, key, strlen(key));
	if (w->rc == 0)
		w->rc = strbuf_addc(w->out, ':');
	if (w->rc == 0)
		w->rc = json_add_str(w->out, w->tmp.s != NULL ? w->tmp.s : "",
		    w->tmp.len);
}

/* A System child other than Level and Keywords: only when not empty. */
static void
wz_sys(struct wz *w, const char *key, const char *v)
{
	if (v != NULL && v[0] != '\0')
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

/*
 * The {"win":...} JSON of ev into out; caps[i] limits the escaped length
 * of eventdata value i (SIZE_MAX: whole); cut names the fields cut.
 */
static int
win_json(const struct sysmon_event *ev, const size_t *caps, bool tagged,
    struct strbuf *out)
{
	struct wz w = { .out = out, .first = true };
	char key[256];

	w.rc = strbuf_adds(out, "{\"win\":{\"system\":{");
	wz_sys(&w, "providerName", ev->provider_name);
	wz_sys(&w, "providerGuid", ev->provider_guid);
	wz_sys(&w, "eventID", ev->event_id);
	wz_sys(&w, "version", ev->version);
	if (ev->level != NULL)
		wz_kv(&w, "level", ev->level, SIZE_MAX, false);
	wz_sys(&w, "task", ev->task);
	wz_sys(&w, "opcode", ev->opcode);
	if (ev->keywords != NULL)
		wz_kv(&w, "keywords", ev->keywords, SIZE_MAX, false);
	wz_sys(&w, "systemTime", ev->time_created);
	wz_sys(&w, "eventRecordID", ev->record_id);
	wz_sys(&w, "processID", ev->pid);
	wz_sys(&w, "threadID", ev->tid);
	if (ev->channel != NULL)
		wz_kv(&w, "channel", ev->channel, SIZE_MAX, false);
	wz_sys(&w, "computer", ev->computer);
	if (ev->level != NULL && ev->keywords != NULL)
		wz_kv(&w, "severityValue", severity_value(ev->level,
		    ev->keywords), SIZE_MAX, false);
	if (ev->message != NULL && w.rc == 0) {
		/* The manager keeps the quotes of the printed string. */
		struct strbuf m = { 0 };
		if ((w.rc = strbuf_addf(&m, "\"%s\"", ev->message)) == 0) {
			while (m.len > 0 && isspace((unsigned char)m.s[m.len -
			    1]))
				m.s[--m.len] = '\0';
			if (!w.first)
				w.rc = strbuf_addc(out, ',');
			if (w.rc == 0)
				w.rc = strbuf_adds(out, "\"message\":");
			if (w.rc == 0)
				w.rc = json_add_str(out, m.s, m.len);
		}
		strbuf_free(&m);
	}
	if (w.rc == 0)
		w.rc = strbuf_adds(out, "}");
	w.first = true;
	for (size_t i = 0; i < ev->ndata && w.rc == 0; i++) {
		const struct sysmon_data *d = &ev->data[i];
		bool dup = false;

		if (dropped_value(d->value))
			continue;
		snprintf(key, sizeof(key), "%s", d->name);
		key[0] = (char)tolower((unsigned char)key[0]);
		for (size_t j = 0; j < i && !dup; j++)
			dup = !dropped_value(ev->data[j].value) &&
			    strcasecmp(ev->data[j].name, d->name) == 0 &&
			    ev->data[j].name[0] != '\0' &&
			    strcmp(ev->data[j].name + 1, d->name + 1) == 0;
		if (dup)
			continue;
		if (w.first)
			w.rc = strbuf_adds(out, ",\"eventdata\":{");
		wz_kv(&w, key, d->value, caps != NULL ? caps[i] : SIZE_MAX,
		    true);
	}
	if (!w.first && w.rc == 0)
		w.rc = strbuf_adds(out, "}");
	if (w.rc == 0)
		w.rc = strbuf_adds(out, "}");
	if (!tagged && event_is_tamper(ev) && w.rc == 0)
		w.rc = strbuf_adds(out, ",\"sysmonfwd\":{\"tags\":["
		    "\"sysmon_tamper\"]}");
	if (tagged && w.rc == 0) {
		bool first = true;

		w.rc = strbuf_adds(out, event_is_tamper(ev) ?
		    ",\"sysmonfwd\":{\"tags\":[\"sysmonfwd_truncated\","
		    "\"sysmon_tamper\"],\"cut_fields\":[" :
		    ",\"sysmonfwd\":{\"tags\":[\"sysmonfwd_truncated\"],"
		    "\"cut_fields\":[");
		for (size_t i = 0; i < ev->ndata && w.rc == 0; i++) {
			if (caps == NULL || caps[i] == SIZE_MAX)
				continue;
			snprintf(key, sizeof(key), "%s", ev->data[i].name);
			key[0] = (char)tolower((unsigned char)key[0]);
			if (!first)
				w.rc = strbuf_addc(out, ',');
			first = false;
			if (w.rc == 0)
				w.rc = json_add_str(out, key, strlen(key));
		}
		if (w.rc == 0)
			w.rc = strbuf_adds(out, "]}");
	}
	if (w.rc == 0)
		w.rc = strbuf_adds(out, "}");
	strbuf_free(&w.tmp);
	return w.rc;
}

int
render_wazuh_win(const struct sysmon_event *ev, size_t max, struct strbuf *out,
    bool *cut)
{
	size_t mark = out->len, caps_static[64], *caps = caps_static;
	int rc;

	*cut = false;
	if ((rc = win_json(ev, NULL, false, out)) != 0 ||
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
		size_t len = out->len - mark, excess, longest = 0, li = SIZE_MAX;
		struct strbuf t = { 0 };

		if (round > 0 && len <= max)
			break;
		/* Room for the tag and its field names. */
		excess = len - (len > max ? max : len) + 256 +
		    16 * (size_t)round;
		for (size_t i = 0; i < ev->ndata; i++) {
			size_t n;
			if (dropped_value(ev->data[i].value) || caps[i] == 0)
				continue;
			strbuf_reset(&t);
			if (wz_escape(&t, ev->data[i].value, caps[i], true) != 0)
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
		out->len = mark;
		if (out->s != NULL)
			out->s[mark] = '\0';
		if ((rc = win_json(ev, caps, true, out)) != 0)
			break;
	}
	if (caps != caps_static)
		free(caps);
	return rc;
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
	char why[64];
	size_t mark = out->len;
	bool cut = false;
	int rc, res = RENDER_OK;

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
			/* What the manager gets is valid UTF-8: measure that. */
			if (rc == 0)
				rc = plain ? strbuf_add_utf8(scratch, d,
				    rec->len) : strbuf_add_utf8(scratch, d +
				    ev.prefix_len, rec->len - ev.prefix_len);
			if (rc == 0 && scratch->len > o->max_event) {
				size_t n = o->max_event;
				while (n > 0 && ((unsigned char)scratch->s[n] &
				    0xC0) == 0x80)
					n--;
				scratch->len = n;
				scratch->s[n] = '\0';
				cut = true;
			}
		} else {
			rc = render_wazuh_win(&ev, o->max_event, scratch, &cut);
		}
	} else {
		struct buffer_rec r = *rec;

		/* A JSON document cannot be cut: render less of the raw
		 * record until it fits (tagged sysmonfwd_truncated). */
		for (int round = 0; round < 16; round++) {
			strbuf_reset(scratch);
			if ((res = render_ecs(p, ctx, &r, scratch)) < 0 ||
			    scratch->len <= o->max_event || r.len == 0)
				break;
			r.len = r.len * (o->max_event / 2) / scratch->len;
			r.flags |= BUFFER_REC_TRUNCATED;
			cut = true;
		}
		rc = res < 0 ? res : 0;
	}
	if (rc == 0)
		rc = json_add_str(out, scratch->s != NULL ? scratch->s : "",
		    scratch->len);
	if (rc != 0) {
		out->len = mark;
		if (out->s != NULL)
			out->s[mark] = '\0';
		return rc;
	}
	return cut && res == RENDER_OK ? RENDER_CUT : res;
}
