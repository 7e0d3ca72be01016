/*
 * status.c - the heartbeat and alert documents.
 *
 * A heartbeat says the agent is alive and how it is doing:
 *
 *   {"@timestamp", "event": {"kind": "metric", "dataset":
 *    "sysmonfwd.heartbeat", "action": "heartbeat", "module": "sysmonfwd"},
 *    "host": {"name"}, "agent": {"type", "name", "version"}, "message",
 *    "sysmonfwd": {"heartbeat": {"interval_s", "seq"}, "uptime_s",
 *      "sysmon": {"state", "service", "since", "last_record",
 *                 "last_record_age_s"},
 *      "counters": {"records_read", "delivered", "dropped", "rejected",
 *                   "dead_lettered", "parse_errors", "truncated"},
 *      "backlog": {"records", "bytes", "oldest_age_s"}, (all outputs)
 *      "outputs_failing",
 *      "sources": [{"name", "records", "last_record", "last_record_age_s"}],
 *      "outputs": [{"name", "type", "state", "failing_since", "last_error",
 *                   "backlog": {...}, "delivered", "dead_lettered"}]}}
 *
 * An alert (Sysmon changed state, or went silent) is
 *
 *   {"@timestamp", "event": {"kind": "alert", "dataset": "sysmonfwd.alert",
 *    "action": "sysmon-state-changed" | "sysmon-silent", "module",
 *    "severity"}, "host", "agent", "message", "tags": ["sysmon_tamper"],
 *    "sysmonfwd": {"sysmon": {"state", "previous_state", "service",
 *                  "changed", "last_record", "silent_s"}}}
 *
 * For Wazuh the same members go one level down, under "sysmonfwd".
 */
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct w {
	struct strbuf	*sb;
	int		 rc;
};

static void
raw(struct w *w, const char *s)
{
	if (w->rc == 0)
		w->rc = strbuf_adds(w->sb, s);
}

static void
str(struct w *w, const char *s)
{
	if (w->rc == 0)
		w->rc = json_add_str(w->sb, s, strlen(s));
}

static void
num(struct w *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
num(struct w *w, const char *fmt, ...)
{
	char buf[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	raw(w, buf);
}

/* "key":"time" for a wall-clock time, skipped when 0. */
static void
time_kv(struct w *w, const char *key, int64_t ms, bool comma)
{
	char ts[32];

	if (ms <= 0)
		return;
	time_format_ms(ms, ts);
	if (comma)
		raw(w, ",");
	raw(w, "\"");
	raw(w, key);
	raw(w, "\":\"");
	raw(w, ts);
	raw(w, "\"");
}

static double
age_s(const struct agent_status *st, int64_t ms)
{
	return ms > 0 && st->now_ms > ms ? (double)(st->now_ms - ms) / 1000.0 :
	    0.0;
}

static void
backlog(struct w *w, uint64_t records, uint64_t bytes, double oldest)
{
	num(w, "{\"records\":%" PRIu64, records);
	num(w, ",\"bytes\":%" PRIu64, bytes);
	num(w, ",\"oldest_age_s\":%.3f}", oldest);
}

/* The members inside "sysmonfwd" of a heartbeat (no braces). */
static void
heartbeat_members(struct w *w, const struct agent_status *st)
{
	uint64_t brec = 0, bbytes = 0, delivered = UINT64_MAX;
	int64_t oldest = 0;
	size_t failing = 0;

	for (size_t i = 0; i < st->noutputs; i++) {
		const struct status_output *o = &st->outputs[i];
		brec += o->backlog_records;
		bbytes += o->backlog_bytes;
		if (o->oldest_ms > 0 && (oldest == 0 || o->oldest_ms < oldest))
			oldest = o->oldest_ms;
		if (!o->ok)
			failing++;
		if (o->delivered < delivered)
			delivered = o->delivered;
	}
	if (st->noutputs == 0)
		delivered = 0;
	num(w, "\"heartbeat\":{\"interval_s\":%.3f", (double)
	    st->heartbeat_interval_ms / 1000.0);
	num(w, ",\"seq\":%" PRIu64 "}", st->heartbeat_seq);
	num(w, ",\"uptime_s\":%.3f", age_s(st, st->started_ms));
	raw(w, ",\"sysmon\":{\"state\":");
	str(w, sysmon_state_name(st->sysmon));
	if (st->sysmon_service != NULL) {
		raw(w, ",\"service\":");
		str(w, st->sysmon_service);
	}
	time_kv(w, "since", st->sysmon_since_ms, true);
	time_kv(w, "last_record", st->sysmon_last_record_ms, true);
	if (st->sysmon_last_record_ms > 0)
		num(w, ",\"last_record_age_s\":%.3f", age_s(st,
		    st->sysmon_last_record_ms));
	raw(w, "}");
	num(w, ",\"counters\":{\"records_read\":%" PRIu64, st->records_read);
	num(w, ",\"delivered\":%" PRIu64, delivered);
	num(w, ",\"dropped\":%" PRIu64, st->dropped);
	num(w, ",\"rejected\":%" PRIu64, st->rejected);
	num(w, ",\"dead_lettered\":%" PRIu64, st->dead_lettered);
	num(w, ",\"parse_errors\":%" PRIu64, st->parse_errors);
	num(w, ",\"truncated\":%" PRIu64 "}", st->truncated);
	raw(w, ",\"backlog\":");
	backlog(w, brec, bbytes, age_s(st, oldest));
	num(w, ",\"outputs_failing\":%zu", failing);
	raw(w, ",\"sources\":[");
	for (size_t i = 0; i < st->nsources; i++) {
		const struct status_source *s = &st->sources[i];
		raw(w, i > 0 ? ",{\"name\":" : "{\"name\":");
		str(w, s->name);
		num(w, ",\"records\":%" PRIu64, s->records);
		time_kv(w, "last_record", s->last_record_ms, true);
		if (s->last_record_ms > 0)
			num(w, ",\"last_record_age_s\":%.3f", age_s(st,
			    s->last_record_ms));
		raw(w, "}");
	}
	raw(w, "],\"outputs\":[");
	for (size_t i = 0; i < st->noutputs; i++) {
		const struct status_output *o = &st->outputs[i];
		raw(w, i > 0 ? ",{\"name\":" : "{\"name\":");
		str(w, o->name);
		raw(w, ",\"type\":");
		str(w, o->type);
		raw(w, o->ok ? ",\"state\":\"ok\"" : ",\"state\":\"retrying\"");
		time_kv(w, "failing_since", o->failing_since_ms, true);
		if (!o->ok && o->last_error[0] != '\0') {
			raw(w, ",\"last_error\":");
			str(w, o->last_error);
		}
		raw(w, ",\"backlog\":");
		backlog(w, o->backlog_records, o->backlog_bytes, age_s(st,
		    o->oldest_ms));
		num(w, ",\"delivered\":%" PRIu64, o->delivered);
		num(w, ",\"dead_lettered\":%" PRIu64 "}", o->dead_lettered);
	}
	raw(w, "]");
}

static void
alert_members(struct w *w, const struct agent_status *st,
    const struct status_event *ev)
{
	raw(w, "\"sysmon\":{\"state\":");
	str(w, sysmon_state_name(ev->state));
	if (ev->kind == STATUS_STATE_CHANGED) {
		raw(w, ",\"previous_state\":");
		str(w, sysmon_state_name(ev->previous));
	}
	if (st->sysmon_service != NULL) {
		raw(w, ",\"service\":");
		str(w, st->sysmon_service);
	}
	time_kv(w, "changed", ev->changed_ms, true);
	time_kv(w, "last_record", st->sysmon_last_record_ms, true);
	if (ev->kind == STATUS_SILENT)
		num(w, ",\"silent_s\":%.3f", (double)ev->silent_ms / 1000.0);
	raw(w, "}");
}

int
status_render_doc(const struct agent_status *st, const struct status_event *ev,
    const char *es_ns, bool wazuh, struct strbuf *out)
{
	struct w w = { out, 0 };
	struct strbuf msg = { 0 };
	size_t mark = out->len;
	const char *dataset, *action, *kind;
	char ts[32];
	int severity = 0;
	uint64_t brec = 0, dropped = st->dropped;

	for (size_t i = 0; i < st->noutputs; i++)
		brec += st->outputs[i].backlog_records;
	switch (ev->kind) {
	case STATUS_HEARTBEAT:
		dataset = "sysmonfwd.heartbeat";
		action = "heartbeat";
		kind = "metric";
		w.rc = strbuf_addf(&msg, "sysmonfwd heartbeat: sysmon %s, "
		    "backlog %" PRIu64 " records, %" PRIu64 " dropped",
		    sysmon_state_name(st->sysmon), brec, dropped);
		break;
	case STATUS_STATE_CHANGED:
		dataset = "sysmonfwd.alert";
		action = "sysmon-state-changed";
		kind = "alert";
		severity = ev->state == SYSMON_RUNNING ? 3 : 8;
		w.rc = strbuf_addf(&msg, "Sysmon is %s on %s (it was %s)",
		    sysmon_state_name(ev->state), st->host,
		    sysmon_state_name(ev->previous));
		break;
	default:
		dataset = "sysmonfwd.alert";
		action = "sysmon-silent";
		kind = "alert";
		severity = 6;
		w.rc = strbuf_addf(&msg, "Sysmon is running on %s but sent "
		    "no record for %.0f s", st->host,
		    (double)ev->silent_ms / 1000.0);
		break;
	}
	time_format_ms(st->now_ms, ts);
	raw(&w, wazuh ? "{\"sysmonfwd\":{\"@timestamp\":\"" :
	    "{\"@timestamp\":\"");
	raw(&w, ts);
	raw(&w, "\",\"event\":{\"kind\":\"");
	raw(&w, kind);
	raw(&w, "\",\"dataset\":\"");
	raw(&w, dataset);
	raw(&w, "\",\"action\":\"");
	raw(&w, action);
	raw(&w, "\",\"module\":\"sysmonfwd\"");
	if (severity > 0)
		num(&w, ",\"severity\":%d", severity);
	raw(&w, "},\"host\":{\"name\":");
	str(&w, st->host);
	raw(&w, "},\"agent\":{\"type\":\"sysmonfwd\",\"name\":");
	str(&w, st->agent_name);
	raw(&w, ",\"version\":\"" SYSMONFWD_VERSION "\"}");
	if (es_ns != NULL) {
		raw(&w, ",\"data_stream\":{\"type\":\"logs\",\"dataset\":\"");
		raw(&w, dataset);
		raw(&w, "\",\"namespace\":");
		str(&w, es_ns);
		raw(&w, "}");
	}
	raw(&w, ",\"message\":");
	if (w.rc == 0)
		str(&w, msg.s);
	if (ev->kind != STATUS_HEARTBEAT && (ev->state != SYSMON_RUNNING ||
	    ev->kind == STATUS_SILENT))
		raw(&w, ",\"tags\":[\"sysmon_tamper\"]");
	raw(&w, wazuh ? "," : ",\"sysmonfwd\":{");
	if (ev->kind == STATUS_HEARTBEAT)
		heartbeat_members(&w, st);
	else
		alert_members(&w, st, ev);
	raw(&w, "}}");
	strbuf_free(&msg);
	if (w.rc != 0) {
		out->len = mark;
		if (out->s != NULL)
			out->s[mark] = '\0';
	}
	return w.rc;
}
