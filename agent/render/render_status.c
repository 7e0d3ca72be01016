/*
 * render_status.c - the heartbeat and alert documents.
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
 *                   "dead_lettered", "parse_errors", "truncated",
 *                   "filtered", "tagged", "redacted",
 *                   "redacted_values"},
 *      "filtered": [{"rule", "records"}], (records [filter] dropped, per
 *                   rule; only when there are any)
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
#include <stdio.h>
#include <string.h>

/* ,"key":"time" for a wall-clock time, skipped when 0. */
static void
time_kv(struct jw *w, const char *key, int64_t ms)
{
	bool first = false;

	if (ms <= 0)
		return;
	jw_key(w, &first, key);
	jw_time(w, ms);
}

static double
age_s(const struct agent_status *st, int64_t ms)
{
	return ms > 0 && st->now_ms > ms ? (double)(st->now_ms - ms) / 1000.0 :
	    0.0;
}

/* ,"last_record":..,"last_record_age_s":.. when there was a record. */
static void
last_record(struct jw *w, const struct agent_status *st, int64_t ms)
{
	time_kv(w, "last_record", ms);
	if (ms > 0)
		jw_fmt(w, ",\"last_record_age_s\":%.3f", age_s(st, ms));
}

static void
backlog(struct jw *w, uint64_t records, uint64_t bytes, double oldest)
{
	jw_fmt(w, ",\"backlog\":{\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
	    ",\"oldest_age_s\":%.3f}", records, bytes, oldest);
}


static void
heartbeat_sources(struct jw *w, const struct agent_status *st)
{
	jw_raw(w, ",\"sources\":[");
	for (size_t i = 0; i < st->nsources; i++) {
		const struct status_source *s = &st->sources[i];

		jw_raw(w, i > 0 ? ",{\"name\":" : "{\"name\":");
		jw_str(w, s->name);
		jw_fmt(w, ",\"records\":%" PRIu64, s->records);
		last_record(w, st, s->last_record_ms);
		jw_raw(w, "}");
	}
	jw_raw(w, "]");
}

static void
heartbeat_outputs(struct jw *w, const struct agent_status *st)
{
	jw_raw(w, ",\"outputs\":[");
	for (size_t i = 0; i < st->noutputs; i++) {
		const struct status_output *o = &st->outputs[i];
		bool first = false;

		jw_raw(w, i > 0 ? ",{\"name\":" : "{\"name\":");
		jw_str(w, o->name);
		jw_kv(w, &first, "type", o->type);
		jw_raw(w, o->ok ? ",\"state\":\"ok\"" :
		    ",\"state\":\"retrying\"");
		time_kv(w, "failing_since", o->failing_since_ms);
		if (!o->ok && o->last_error[0] != '\0')
			jw_kv(w, &first, "last_error", o->last_error);
		backlog(w, o->backlog_records, o->backlog_bytes, age_s(st,
		    o->oldest_ms));
		jw_fmt(w, ",\"delivered\":%" PRIu64 ",\"dead_lettered\":%"
		    PRIu64 "}", o->delivered, o->dead_lettered);
	}
	jw_raw(w, "]");
}

/* The members inside "sysmonfwd" of a heartbeat (no braces). */
static void
heartbeat_members(struct jw *w, const struct agent_status *st)
{
	uint64_t brec = 0, bbytes = 0, delivered = UINT64_MAX;
	int64_t oldest = 0;
	size_t failing = 0;
	bool first = false;

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
	jw_fmt(w, "\"heartbeat\":{\"interval_s\":%.3f,\"seq\":%" PRIu64 "}",
	    (double)st->heartbeat_interval_ms / 1000.0, st->heartbeat_seq);
	jw_fmt(w, ",\"uptime_s\":%.3f", age_s(st, st->started_ms));
	jw_raw(w, ",\"sysmon\":{\"state\":");
	jw_str(w, sysmon_state_name(st->sysmon));
	jw_kv(w, &first, "service", st->sysmon_service);
	time_kv(w, "since", st->sysmon_since_ms);
	last_record(w, st, st->sysmon_last_record_ms);
	jw_fmt(w, "},\"counters\":{\"records_read\":%" PRIu64 ",\"delivered\":%"
	    PRIu64 ",\"dropped\":%" PRIu64 ",\"rejected\":%" PRIu64
	    ",\"dead_lettered\":%" PRIu64 ",\"parse_errors\":%" PRIu64
	    ",\"truncated\":%" PRIu64 ",\"filtered\":%" PRIu64
	    ",\"tagged\":%" PRIu64 ",\"redacted\":%" PRIu64
	    ",\"redacted_values\":%" PRIu64 "}", st->records_read, delivered,
	    st->dropped, st->rejected, st->dead_lettered, st->parse_errors,
	    st->truncated, st->filtered, st->tagged, st->redacted,
	    st->redacted_values);
	if (st->nfiltered_rules > 0) {
		jw_raw(w, ",\"filtered\":[");
		for (size_t i = 0; i < st->nfiltered_rules; i++) {
			bool f = true;

			if (i > 0)
				jw_raw(w, ",");
			jw_raw(w, "{");
			jw_kv(w, &f, "rule", st->filtered_rules[i].name);
			jw_fmt(w, ",\"records\":%" PRIu64 "}",
			    st->filtered_rules[i].n);
		}
		jw_raw(w, "]");
	}
	backlog(w, brec, bbytes, age_s(st, oldest));
	jw_fmt(w, ",\"outputs_failing\":%zu", failing);
	heartbeat_sources(w, st);
	heartbeat_outputs(w, st);
}

static void
alert_members(struct jw *w, const struct agent_status *st,
    const struct status_event *ev)
{
	bool first = false;

	jw_raw(w, "\"sysmon\":{\"state\":");
	jw_str(w, sysmon_state_name(ev->state));
	if (ev->kind == STATUS_STATE_CHANGED)
		jw_kv(w, &first, "previous_state",
		    sysmon_state_name(ev->previous));
	jw_kv(w, &first, "service", st->sysmon_service);
	time_kv(w, "changed", ev->changed_ms);
	time_kv(w, "last_record", st->sysmon_last_record_ms);
	if (ev->kind == STATUS_SILENT)
		jw_fmt(w, ",\"silent_s\":%.3f", (double)ev->silent_ms / 1000.0);
	jw_raw(w, "}");
}

/* The event object and what follows it up to "message". */
static void
doc_head(struct jw *w, const struct agent_status *st, const char *kind,
    const char *dataset, const char *action, int severity,
    const char *es_ns)
{
	jw_raw(w, ",\"event\":{\"kind\":\"");
	jw_raw(w, kind);
	jw_raw(w, "\",\"dataset\":\"");
	jw_raw(w, dataset);
	jw_raw(w, "\",\"action\":\"");
	jw_raw(w, action);
	jw_raw(w, "\",\"module\":\"sysmonfwd\"");
	if (severity > 0)
		jw_fmt(w, ",\"severity\":%d", severity);
	jw_raw(w, "},\"host\":{\"name\":");
	jw_str(w, st->host);
	jw_raw(w, "},\"agent\":{\"type\":\"sysmonfwd\",\"name\":");
	jw_str(w, st->agent_name);
	jw_raw(w, ",\"version\":\"" SYSMONFWD_VERSION "\"}");
	if (es_ns != NULL) {
		jw_raw(w, ",\"data_stream\":{\"type\":\"logs\",\"dataset\":\"");
		jw_raw(w, dataset);
		jw_raw(w, "\",\"namespace\":");
		jw_str(w, es_ns);
		jw_raw(w, "}");
	}
}

int
status_render_doc(const struct agent_status *st, const struct status_event *ev,
    const char *es_ns, bool wazuh, struct strbuf *out)
{
	struct jw w = { out, 0 };
	struct strbuf msg = { 0 };
	size_t mark = out->len;
	const char *dataset, *action, *kind;
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
	jw_raw(&w, wazuh ? "{\"sysmonfwd\":{\"@timestamp\":" :
	    "{\"@timestamp\":");
	jw_time(&w, st->now_ms);
	doc_head(&w, st, kind, dataset, action, severity, es_ns);
	jw_raw(&w, ",\"message\":");
	jw_str(&w, msg.s);
	if (ev->kind != STATUS_HEARTBEAT && (ev->state != SYSMON_RUNNING ||
	    ev->kind == STATUS_SILENT))
		jw_raw(&w, ",\"tags\":[\"sysmon_tamper\"]");
	jw_raw(&w, wazuh ? "," : ",\"sysmonfwd\":{");
	if (ev->kind == STATUS_HEARTBEAT)
		heartbeat_members(&w, st);
	else
		alert_members(&w, st, ev);
	jw_raw(&w, "}}");
	strbuf_free(&msg);
	if (w.rc != 0)
		strbuf_truncate(out, mark);
	return w.rc;
}
