/*
 * monitor.c - the local health and metrics endpoint, and the two status
 * renderers behind it (the /health JSON and the Prometheus exposition).
 *
 * libmicrohttpd runs in its "external polling" mode with no threads of
 * its own: the agent's loop waits on one handle that stands for the
 * listening socket and every connection, with monitor_timeout() as a
 * deadline, and monitor_run() serves whatever is ready without blocking.
 * The agent stays single-threaded, so the status the answers are built
 * from needs no locking: the loop lends a snapshot for the length of one
 * monitor_run() and no request sees it after that call returns.
 *
 * On Linux that handle is the daemon's epoll fd.  On Windows
 * libmicrohttpd has no epoll (our build has select() and WSAPoll()), and
 * the loop waits on HANDLEs, not sockets: every socket of the daemon is
 * tied with WSAEventSelect() to one manual-reset event, which is the
 * handle.  Winsock sets it when a connection comes (FD_ACCEPT), data or
 * a close arrives (FD_READ, FD_CLOSE) or a send that would have blocked
 * can go on (FD_WRITE).  Those are edges, not levels: FD_READ comes again
 * only after a recv(), FD_WRITE only after a send() that would block.  So
 * monitor_run() clears the event before MHD_run() (whatever arrives from
 * then on sets it again), and after it asks select(), without waiting,
 * whether a socket the daemon still wants is ready already (an answer
 * queued and not yet sent, bytes left unread): then it sets the event
 * itself and the loop comes straight back.  Nothing polls on a timer.
 *
 * The endpoint is meant for a local scraper and a health check, so it is
 * small on purpose: numeric addresses only (no resolver in the loop), at
 * most MONITOR_MAX_CONNS connections, each dropped after
 * MONITOR_IDLE_TIMEOUT_S of silence and held to MONITOR_CONN_MEMORY bytes
 * of header space, and no request bodies.  Two resources, GET and HEAD:
 *
 *   /health   200 (ok) or 503 (failing), application/json
 *   /metrics  200, Prometheus text format 0.0.4
 *
 * Any other path is 404, any other method 405 (with Allow), a body 413.
 */
#include "health.h"
#include "base.h"

#include <sys/types.h>
#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <sys/socket.h>
#include <netdb.h>
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#define MONITOR_MAX_CONNS	16
#define MONITOR_IDLE_TIMEOUT_S	10
#define MONITOR_CONN_MEMORY	(16u << 10)	/* per connection (headers) */
#define MONITOR_BODY_MAX	(4u << 20)	/* cap on a rendered answer */

#define CT_JSON		"application/json"
#define CT_PROM		"text/plain; version=0.0.4; charset=utf-8"
#define CT_TEXT		"text/plain; charset=utf-8"

struct monitor {
	struct MHD_Daemon		*d;
#ifdef _WIN32
	WSAEVENT			 ev;	/* the loop's wait handle */
	/* The sockets tied to ev (a socket is tied once, see arm()). */
	SOCKET				 tied[MONITOR_MAX_CONNS + 1];
	size_t				 ntied;
#else
	int				 epfd;
#endif
	bool				 starting; /* inside MHD_start_daemon */
	const struct agent_status	*st;	/* lent during monitor_run() */
};

/* sysmon_state_name() lives in watchdog.c, beside the states it finds. */

/* ---- rendering helpers ----------------------------------------------- */

/* An RFC 3339 time as a JSON string, or null for 0 ("never"). */
static void
jtime(struct jw *o, int64_t ms)
{
	if (ms == 0)
		jw_raw(o, "null");
	else
		jw_time(o, ms);
}

/* How long ago `then` was, never negative: wall clocks step backwards. */
static int64_t
age_ms(const struct agent_status *st, int64_t then)
{
	return st->now_ms > then ? st->now_ms - then : 0;
}

/*
 * Milliseconds as decimal seconds with three places, in integers: the
 * value is exact, and Unix times in ms do not fit a double's %.3f safely
 * forever.
 */
static void
seconds(struct jw *o, int64_t ms)
{
	uint64_t u = ms < 0 ? -(uint64_t)ms : (uint64_t)ms;

	jw_fmt(o, "%s%" PRIu64 ".%03u", ms < 0 ? "-" : "", u / 1000,
	    (unsigned)(u % 1000));
}

static bool
output_failing(const struct status_output *so)
{
	return !so->ok;
}

static bool
sysmon_failing(const struct agent_status *st)
{
	return st->sysmon == SYSMON_STOPPED ||
	    st->sysmon == SYSMON_NOT_INSTALLED;
}

/* last_error is a fixed array that a writer may have filled to the end. */
static size_t
last_error_len(const struct status_output *so)
{
	return strnlen(so->last_error, sizeof(so->last_error));
}

/* ---- /health --------------------------------------------------------- */

/* One plain sentence for reasons[], built whole and written as a string. */
static void
reason(struct jw *o, bool *first, const char *text, size_t len)
{
	jw_comma(o, first);
	jw_strn(o, text, len);
}

static void
health_reasons(struct jw *o, const struct agent_status *st)
{
	struct strbuf r = { .max = 1024 };
	bool first = true;
	char ts[32];

	jw_raw(o, "\"reasons\":[");
	if (sysmon_failing(st)) {
		const char *why = st->sysmon == SYSMON_STOPPED ?
		    "sysmon is stopped" : "sysmon is not installed";

		reason(o, &first, why, strlen(why));
	}
	for (size_t i = 0; i < st->noutputs && o->rc == 0; i++) {
		const struct status_output *so = &st->outputs[i];
		size_t elen = last_error_len(so);
		int rc;

		if (!output_failing(so))
			continue;
		strbuf_reset(&r);
		rc = strbuf_addf(&r, "output %s failing", so->name);
		if (rc == 0 && so->failing_since_ms != 0) {
			time_format_ms(so->failing_since_ms, ts);
			rc = strbuf_addf(&r, " since %s", ts);
		}
		if (rc == 0 && elen > 0) {
			if ((rc = strbuf_adds(&r, ": ")) == 0)
				rc = strbuf_add(&r, so->last_error, elen);
		}
		/* A sentence cut at its cap still says what is wrong. */
		if (rc != 0 && rc != -ENOBUFS) {
			o->rc = rc;
			break;
		}
		reason(o, &first, r.s, r.len);
	}
	jw_raw(o, "]");
	strbuf_free(&r);
}

int
status_render_health(const struct agent_status *st, struct strbuf *out,
    bool *ok)
{
	struct jw o = { out, 0 };
	bool healthy = !sysmon_failing(st);

	for (size_t i = 0; i < st->noutputs; i++)
		if (output_failing(&st->outputs[i]))
			healthy = false;

	jw_raw(&o, "{\"status\":");
	jw_raw(&o, healthy ? "\"ok\"" : "\"failing\"");
	jw_raw(&o, ",\"sysmon\":{\"state\":");
	jw_str(&o, sysmon_state_name(st->sysmon));
	jw_raw(&o, ",\"service\":");
	jw_str(&o, st->sysmon_service);
	jw_raw(&o, ",\"since\":");
	jtime(&o, st->sysmon_since_ms);
	jw_raw(&o, ",\"last_record\":");
	jtime(&o, st->sysmon_last_record_ms);
	jw_raw(&o, ",\"watchdog\":");
	jw_raw(&o, st->watchdog ? "true" : "false");
	jw_raw(&o, "},\"outputs\":[");
	for (size_t i = 0; i < st->noutputs; i++) {
		const struct status_output *so = &st->outputs[i];
		size_t elen = last_error_len(so);

		jw_raw(&o, i == 0 ? "{\"name\":" : ",{\"name\":");
		jw_str(&o, so->name);
		jw_raw(&o, ",\"type\":");
		jw_str(&o, so->type);
		jw_raw(&o, ",\"ok\":");
		jw_raw(&o, output_failing(so) ? "false" : "true");
		jw_raw(&o, ",\"failing_since\":");
		jtime(&o, output_failing(so) ? so->failing_since_ms : 0);
		jw_raw(&o, ",\"last_error\":");
		if (elen > 0)
			jw_strn(&o, so->last_error, elen);
		else
			jw_raw(&o, "null");
		jw_fmt(&o, ",\"backlog_records\":%" PRIu64 "}",
		    so->backlog_records);
	}
	jw_raw(&o, "],");
	health_reasons(&o, st);
	jw_fmt(&o, ",\"uptime_s\":%" PRId64, age_ms(st, st->started_ms) / 1000);
	jw_raw(&o, ",\"version\":\"" SYSMONFWD_VERSION "\"}");
	if (o.rc == 0)
		*ok = healthy;
	return o.rc;
}

/* ---- /metrics -------------------------------------------------------- */

/*
 * Text format 0.0.4: every family is "# HELP", "# TYPE" and then all its
 * samples together; a label value escapes backslash, double quote and
 * newline, and is otherwise taken as it is.
 */
static void
prom_family(struct jw *o, const char *name, const char *type,
    const char *help)
{
	jw_raw(o, "# HELP ");
	jw_raw(o, name);
	jw_raw(o, " ");
	jw_raw(o, help);
	jw_raw(o, "\n# TYPE ");
	jw_raw(o, name);
	jw_raw(o, " ");
	jw_raw(o, type);
	jw_raw(o, "\n");
}

static void
prom_label_value(struct jw *o, const char *v)
{
	const char *p, *run = v;

	if (v == NULL)
		return;
	for (p = v; *p != '\0' && o->rc == 0; p++) {
		const char *esc;

		if (*p == '\\')
			esc = "\\\\";
		else if (*p == '"')
			esc = "\\\"";
		else if (*p == '\n')
			esc = "\\n";
		else
			continue;
		jw_rawn(o, run, (size_t)(p - run));
		jw_raw(o, esc);
		run = p + 1;
	}
	jw_rawn(o, run, (size_t)(p - run));
}

/* name{label="value"} or just name when label is NULL; the value next. */
static void
prom_series(struct jw *o, const char *name, const char *label,
    const char *value)
{
	jw_raw(o, name);
	if (label == NULL)
		return;
	jw_raw(o, "{");
	jw_raw(o, label);
	jw_raw(o, "=\"");
	prom_label_value(o, value);
	jw_raw(o, "\"}");
}

/* An info sample: head (the name, "{" and any constant labels), then
 * l1="v1",l2="v2"} 1. */
static void
prom_info(struct jw *o, const char *head, const char *l1, const char *v1,
    const char *l2, const char *v2)
{
	jw_raw(o, head);
	jw_raw(o, l1);
	jw_raw(o, "=\"");
	prom_label_value(o, v1);
	jw_raw(o, "\",");
	jw_raw(o, l2);
	jw_raw(o, "=\"");
	prom_label_value(o, v2);
	jw_raw(o, "\"} 1\n");
}

static void
prom_u64(struct jw *o, const char *name, const char *label,
    const char *value, uint64_t v)
{
	prom_series(o, name, label, value);
	jw_fmt(o, " %" PRIu64 "\n", v);
}

static void
prom_seconds(struct jw *o, const char *name, const char *label,
    const char *value, int64_t ms)
{
	prom_series(o, name, label, value);
	jw_raw(o, " ");
	seconds(o, ms);
	jw_raw(o, "\n");
}

#define U64_AT(p, off)	(*(const uint64_t *)((const char *)(p) + (off)))

struct counter {
	const char	*name;
	const char	*help;
	size_t		 off;
};

#define AGENT_COUNTER(name, field, help)				\
	{ name, help, offsetof(struct agent_status, field) }

static const struct counter agent_counters[] = {
	AGENT_COUNTER("sysmonfwd_records_read_total", records_read,
	    "Records read from the inputs and appended to the buffer."),
	AGENT_COUNTER("sysmonfwd_parse_errors_total", parse_errors, "Records "
	    "that did not parse and went out as tagged error documents."),
	AGENT_COUNTER("sysmonfwd_records_truncated_total", truncated,
	    "Records cut at max_line_size."),
	AGENT_COUNTER("sysmonfwd_lines_ignored_total", ignored,
	    "Input lines that are not records and were not forwarded."),
	AGENT_COUNTER("sysmonfwd_records_dropped_total", dropped,
	    "Records the buffer lost: evicted at its cap, lost to write "
	    "errors or in corrupt blocks."),
	AGENT_COUNTER("sysmonfwd_records_rejected_total", rejected,
	    "Records the buffer refused because it was full."),
	AGENT_COUNTER("sysmonfwd_dead_lettered_total", dead_lettered,
	    "Records set aside as dead letters, all outputs together."),
	AGENT_COUNTER("sysmonfwd_records_tagged_total", tagged,
	    "Records given at least one tag by the [tag] rules."),
	AGENT_COUNTER("sysmonfwd_values_redacted_total", redacted_values,
	    "Values the [redact:] sections replaced by a token."),
};

/* sysmonfwd_output_FIELD_total, from FIELD of struct status_output. */
#define OUTPUT_COUNTER(field, help)					\
	{ "sysmonfwd_output_" #field "_total", help,			\
	    offsetof(struct status_output, field) }

static const struct counter output_counters[] = {
	OUTPUT_COUNTER(delivered, "Records the output acknowledged."),
	OUTPUT_COUNTER(dead_lettered, "Records the output refused and that "
	    "were set aside as dead letters."),
	OUTPUT_COUNTER(duplicates,
	    "Records the output already had (sent again after a retry)."),
	OUTPUT_COUNTER(retries, "Sends to the output that are retried."),
	OUTPUT_COUNTER(lost,
	    "Records reported to the output as lost, in gap documents."),
	OUTPUT_COUNTER(heartbeats_sent, "Heartbeats the output accepted."),
	OUTPUT_COUNTER(heartbeats_failed,
	    "Heartbeats that could not be sent to the output."),
	OUTPUT_COUNTER(alerts_sent, "Alerts the output accepted."),
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * A counter family per rule (label rule="NAME"), or one bare sample of
 * total when no rule counted anything yet (the family is never absent).
 */
static void
prom_per_rule(struct jw *o, const char *name, const char *help,
    uint64_t total, const struct status_count *rules, size_t n)
{
	prom_family(o, name, "counter", help);
	if (n == 0)
		prom_u64(o, name, NULL, NULL, total);
	for (size_t i = 0; i < n; i++)
		prom_u64(o, name, "rule", rules[i].name, rules[i].n);
}

static void
prom_agent(struct jw *o, const struct agent_status *st)
{
	static const enum sysmon_state states[] = { SYSMON_RUNNING,
	    SYSMON_STOPPED, SYSMON_NOT_INSTALLED, SYSMON_UNKNOWN };

	prom_family(o, "sysmonfwd_up", "gauge",
	    "Whether the agent is up (always 1 when it answers).");
	jw_raw(o, "sysmonfwd_up 1\n");
	prom_family(o, "sysmonfwd_info", "gauge",
	    "The agent's version, name and host, as labels; the value is 1.");
	prom_info(o, "sysmonfwd_info{version=\"" SYSMONFWD_VERSION "\",",
	    "agent", st->agent_name, "host", st->host);
	prom_family(o, "sysmonfwd_uptime_seconds", "gauge",
	    "Seconds since the agent started.");
	prom_seconds(o, "sysmonfwd_uptime_seconds", NULL, NULL,
	    age_ms(st, st->started_ms));
	for (size_t i = 0; i < NELEM(agent_counters); i++) {
		const struct counter *c = &agent_counters[i];

		prom_family(o, c->name, "counter", c->help);
		prom_u64(o, c->name, NULL, NULL, U64_AT(st, c->off));
	}
	/* Never silent: every record a [filter] rule dropped, per rule. */
	prom_per_rule(o, "sysmonfwd_records_filtered_total",
	    "Records the [filter] rules dropped before the buffer, per rule "
	    "(its name, or \"not included: TYPE\" / \"exclude: TYPE\").",
	    st->filtered, st->filtered_rules, st->nfiltered_rules);
	/* Records a [redact:NAME] section rewrote, per section. */
	prom_per_rule(o, "sysmonfwd_records_redacted_total",
	    "Records a [redact:NAME] section rewrote before the buffer, per "
	    "section.", st->redacted, st->redacted_rules, st->nredacted_rules);

	prom_family(o, "sysmonfwd_sysmon_state", "gauge",
	    "The state of the Sysmon service: 1 for the current one.");
	for (size_t i = 0; i < NELEM(states); i++)
		prom_u64(o, "sysmonfwd_sysmon_state", "state",
		    sysmon_state_name(states[i]), st->sysmon == states[i]);
	prom_family(o, "sysmonfwd_watchdog_enabled", "gauge",
	    "Whether the Sysmon watchdog is on (when off, the state is "
	    "unknown).");
	prom_u64(o, "sysmonfwd_watchdog_enabled", NULL, NULL, st->watchdog);
	if (st->sysmon_last_record_ms != 0) {
		prom_family(o, "sysmonfwd_sysmon_last_record_age_seconds",
		    "gauge", "Seconds since the last Sysmon record was read.");
		prom_seconds(o, "sysmonfwd_sysmon_last_record_age_seconds",
		    NULL, NULL, age_ms(st, st->sysmon_last_record_ms));
	}
	prom_family(o, "sysmonfwd_heartbeat_interval_seconds", "gauge",
	    "Seconds between heartbeats (0: heartbeats are off).");
	prom_seconds(o, "sysmonfwd_heartbeat_interval_seconds", NULL, NULL,
	    st->heartbeat_interval_ms);
}

static void
prom_sources(struct jw *o, const struct agent_status *st)
{
	bool any = false;

	if (st->nsources == 0)
		return;
	prom_family(o, "sysmonfwd_source_records_total", "counter",
	    "Records the input appended to the buffer.");
	for (size_t i = 0; i < st->nsources; i++)
		prom_u64(o, "sysmonfwd_source_records_total", "source",
		    st->sources[i].name, st->sources[i].records);
	/* A source that has not read a record yet has no age to give. */
	for (size_t i = 0; i < st->nsources; i++) {
		const struct status_source *ss = &st->sources[i];

		if (ss->last_record_ms == 0)
			continue;
		if (!any)
			prom_family(o,
			    "sysmonfwd_source_last_record_age_seconds",
			    "gauge", "Seconds since the input read its last "
			    "record.");
		any = true;
		prom_seconds(o, "sysmonfwd_source_last_record_age_seconds",
		    "source", ss->name, age_ms(st, ss->last_record_ms));
	}
}

static void
prom_outputs(struct jw *o, const struct agent_status *st)
{
	const struct status_output *so;
	size_t i;

	if (st->noutputs == 0)
		return;
	prom_family(o, "sysmonfwd_output_info", "gauge",
	    "The output's type, as a label; the value is 1.");
	for (i = 0; i < st->noutputs; i++)
		prom_info(o, "sysmonfwd_output_info{", "output",
		    st->outputs[i].name, "type", st->outputs[i].type);
	prom_family(o, "sysmonfwd_output_up", "gauge",
	    "Whether the output is working (0: failing).");
	for (i = 0; i < st->noutputs; i++)
		prom_u64(o, "sysmonfwd_output_up", "output",
		    st->outputs[i].name, !output_failing(&st->outputs[i]));
	for (size_t c = 0; c < NELEM(output_counters); c++) {
		const struct counter *oc = &output_counters[c];

		prom_family(o, oc->name, "counter", oc->help);
		for (i = 0; i < st->noutputs; i++)
			prom_u64(o, oc->name, "output", st->outputs[i].name,
			    U64_AT(&st->outputs[i], oc->off));
	}
	prom_family(o, "sysmonfwd_output_backlog_records", "gauge",
	    "Records in the buffer the output has not acknowledged.");
	for (i = 0; i < st->noutputs; i++)
		prom_u64(o, "sysmonfwd_output_backlog_records", "output",
		    st->outputs[i].name, st->outputs[i].backlog_records);
	prom_family(o, "sysmonfwd_output_backlog_bytes", "gauge",
	    "Bytes of records the output has not acknowledged.");
	for (i = 0; i < st->noutputs; i++)
		prom_u64(o, "sysmonfwd_output_backlog_bytes", "output",
		    st->outputs[i].name, st->outputs[i].backlog_bytes);
	prom_family(o, "sysmonfwd_output_backlog_oldest_age_seconds", "gauge",
	    "Age of the oldest record the output has not acknowledged "
	    "(0: none).");
	for (i = 0; i < st->noutputs; i++) {
		so = &st->outputs[i];
		prom_seconds(o, "sysmonfwd_output_backlog_oldest_age_seconds",
		    "output", so->name,
		    so->backlog_records > 0 && so->oldest_ms != 0 ?
		    age_ms(st, so->oldest_ms) : 0);
	}
	prom_family(o, "sysmonfwd_output_failing_since_seconds", "gauge",
	    "Unix time the output started failing (0: it is not failing).");
	for (i = 0; i < st->noutputs; i++) {
		so = &st->outputs[i];
		prom_seconds(o, "sysmonfwd_output_failing_since_seconds",
		    "output", so->name,
		    output_failing(so) ? so->failing_since_ms : 0);
	}
}

int
status_render_prometheus(const struct agent_status *st, struct strbuf *out)
{
	struct jw o = { out, 0 };

	prom_agent(&o, st);
	prom_sources(&o, st);
	prom_outputs(&o, st);
	return o.rc;
}

/* ---- the endpoint ---------------------------------------------------- */

/*
 * libmicrohttpd's own messages.  While the daemon starts they explain why
 * it could not (a bind error), so they are warnings; afterwards they are
 * about single connections that any local client can provoke, so they go
 * to debug where they cannot flood the journal.
 */
static void
monitor_mhd_log(void *cls, const char *f, va_list ap)
{
	const struct monitor *m = cls;
	char msg[512];
	size_t n;

	if (vsnprintf(msg, sizeof(msg), f, ap) < 0)
		return;
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	/* libmicrohttpd 0.9.75 says this even when the logger is first. */
	if (strstr(msg, "is not the first option") != NULL)
		return;
	if (m->starting)
		log_warnx("monitor: %s", msg);
	else
		log_debug("monitor: %s", msg);
}

/* Queue a constant answer (a short text, never freed). */
static enum MHD_Result
answer_text(struct MHD_Connection *c, unsigned int status, const char *text,
    const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
	    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CT_TEXT);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Render /health or /metrics from the lent status and queue it. */
static enum MHD_Result
answer_status(struct monitor *m, struct MHD_Connection *c, bool health)
{
	struct strbuf sb = { .max = MONITOR_BODY_MAX };
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned int status = MHD_HTTP_OK;
	bool ok = true;
	int rc;

	if (m->st == NULL)
		return answer_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "no status yet\n", NULL);
	if (health)
		rc = status_render_health(m->st, &sb, &ok);
	else
		rc = status_render_prometheus(m->st, &sb);
	if (rc != 0) {
		log_warnx("monitor: cannot render %s: %s",
		    health ? "/health" : "/metrics", strerror(-rc));
		strbuf_free(&sb);
		return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "cannot render the status\n", NULL);
	}
	if (!ok)
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
	/* MUST_FREE hands sb's heap string to the response, which frees it. */
	r = MHD_create_response_from_buffer(sb.len, sb.s,
	    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		strbuf_free(&sb);
		return MHD_NO;
	}
	sb.s = NULL;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    health ? CT_JSON : CT_PROM);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static bool
has_body(struct MHD_Connection *c)
{
	const char *cl, *te;

	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING);
	return te != NULL || (cl != NULL && cl[strspn(cl, "0")] != '\0');
}

/*
 * Called once when the headers are in, and again when the request is
 * complete.  Refusals are answered on the first call, so that
 * libmicrohttpd never reads the body a client sends with them (it then
 * closes the connection); good requests are answered on the second, which
 * keeps the connection open for the next scrape.
 */
static enum MHD_Result
monitor_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct monitor *m = cls;
	bool health = strcmp(url, "/health") == 0;
	bool metrics = strcmp(url, "/metrics") == 0;

	(void)version;
	(void)upload_data;
	if (*req_cls == NULL) {
		*req_cls = m;
		if (!health && !metrics)
			return answer_text(c, MHD_HTTP_NOT_FOUND,
			    "not found: try /health or /metrics\n", NULL);
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
		    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
			return answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "method not allowed\n", "GET, HEAD");
		if (has_body(c))
			return answer_text(c, MHD_HTTP_CONTENT_TOO_LARGE,
			    "request bodies are not accepted\n", NULL);
		return MHD_YES;
	}
	/* A body that got past the header check: drop the connection. */
	if (*upload_data_size != 0)
		return MHD_NO;
	return answer_status(m, c, health);
}

#ifdef _WIN32
static bool
was_tied(const struct monitor *m, SOCKET s)
{
	for (size_t i = 0; i < m->ntied; i++)
		if (m->tied[i] == s)
			return true;
	return false;
}

/*
 * Tie every socket the daemon waits on to m->ev, each once: tying again
 * would clear the record of what already happened on it.  A socket the
 * daemon no longer lists (closed) is forgotten, so that a new one given
 * the same number is tied in its turn.  Then, if a socket is ready now,
 * set the event: the edge that announced it may be spent (see the top).
 * 0, or -errno when a socket cannot be tied (the caller sets the event,
 * so the loop comes back and tries again rather than sleeping on it).
 */
static int
arm(struct monitor *m)
{
	const long what = FD_ACCEPT | FD_READ | FD_WRITE | FD_CLOSE;
	fd_set rs, ws, es;
	SOCKET tied[MONITOR_MAX_CONNS + 1];
	size_t n = 0;
	MHD_socket max = MHD_INVALID_SOCKET;
	struct timeval zero = { 0, 0 };

	FD_ZERO(&rs);
	FD_ZERO(&ws);
	FD_ZERO(&es);
	if (MHD_get_fdset2(m->d, &rs, &ws, &es, &max, FD_SETSIZE) != MHD_YES)
		return -EIO;
	for (int set = 0; set < 2; set++) {
		const fd_set *fs = set == 0 ? &rs : &ws;

		for (u_int i = 0; i < fs->fd_count; i++) {
			SOCKET s = fs->fd_array[i];
			bool dup = false;

			for (size_t k = 0; k < n; k++)
				dup |= tied[k] == s;
			if (dup || n == sizeof(tied) / sizeof(tied[0]))
				continue;
			if (!was_tied(m, s) && WSAEventSelect(s, m->ev, what) !=
			    0) {
				log_warnx("monitor: WSAEventSelect: Winsock "
				    "error %d", WSAGetLastError());
				return -EIO;
			}
			tied[n++] = s;
		}
	}
	memcpy(m->tied, tied, n * sizeof(tied[0]));
	m->ntied = n;
	if (n > 0 && select(0, &rs, &ws, NULL, &zero) > 0)
		WSASetEvent(m->ev);
	return 0;
}
#endif

int
monitor_open(const char *listen, struct monitor **out)
{
	struct addrinfo hints, *ai = NULL;
	const union MHD_DaemonInfo *info;
	struct monitor *m;
#ifdef _WIN32
	unsigned int flags = MHD_USE_ERROR_LOG;		/* select() inside */
#else
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
#endif
	char host[256], portstr[8];
	int port, rc;

	*out = NULL;
	if (config_parse_listen(listen, host, sizeof(host), &port) != 0) {
		log_warnx("monitor: listen %s: expected ADDRESS:PORT, for "
		    "example 127.0.0.1:2020 or [::1]:2020", listen);
		return -EINVAL;
	}
	rc = snprintf(portstr, sizeof(portstr), "%d", port);
	if (rc < 0 || (size_t)rc >= sizeof(portstr))
		return -EINVAL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	/* Numeric only: a name would need a resolver before the loop runs. */
	if (getaddrinfo(host, portstr, &hints, &ai) != 0 ||
	    (listen[0] == '[' && ai->ai_family != AF_INET6)) {
		log_warnx("monitor: listen %s: %s is not a numeric IPv4 or "
		    "IPv6 address", listen, host);
		rc = -EINVAL;
		goto out_free_ai;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		rc = -ENOMEM;
		goto out_free_ai;
	}
	m->starting = true;
	errno = 0;
	m->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL,
	    monitor_access, m,
	    /* First, so that it hears about the options after it too. */
	    MHD_OPTION_EXTERNAL_LOGGER, monitor_mhd_log, m,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MONITOR_MAX_CONNS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)MONITOR_IDLE_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MONITOR_CONN_MEMORY,
	    MHD_OPTION_END);
	if (m->d == NULL) {
		rc = errno != 0 ? -errno : -EIO;
		log_errorx("monitor: cannot listen on %s: %s", listen,
		    strerror(-rc));
		goto out_free_monitor;
	}
	m->starting = false;
#ifdef _WIN32
	if ((info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_LISTEN_FD)) ==
	    NULL || info->listen_fd == INVALID_SOCKET) {
		log_errorx("monitor: libmicrohttpd has no listening socket");
		rc = -ENOTSUP;
		goto out_stop;
	}
	if ((m->ev = WSACreateEvent()) == WSA_INVALID_EVENT) {
		log_errorx("monitor: cannot create an event: Winsock error %d",
		    WSAGetLastError());
		rc = -ENOMEM;
		goto out_stop;
	}
	if ((rc = arm(m)) != 0)
		goto out_close_event;
#else
	if ((info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD)) ==
	    NULL || info->epoll_fd < 0) {
		log_errorx("monitor: libmicrohttpd has no epoll fd");
		rc = -ENOTSUP;
		goto out_stop;
	}
	m->epfd = info->epoll_fd;
#endif
	log_info("monitor: listening on %s for GET /health and /metrics",
	    listen);
	freeaddrinfo(ai);
	*out = m;
	return 0;

#ifdef _WIN32
out_close_event:
	WSACloseEvent(m->ev);
#endif
out_stop:
	MHD_stop_daemon(m->d);
out_free_monitor:
	free(m);
out_free_ai:
	if (ai != NULL)
		freeaddrinfo(ai);
	return rc;
}

wait_handle
monitor_fd(const struct monitor *m)
{
#ifdef _WIN32
	return m->ev;
#else
	return m->epfd;
#endif
}

int64_t
monitor_timeout(const struct monitor *m)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (MHD_get_timeout(m->d, &t) != MHD_YES)
		return -1;
	return t > INT64_MAX ? INT64_MAX : (int64_t)t;
}

void
monitor_run(struct monitor *m, const struct agent_status *st)
{
#ifdef _WIN32
	/* Before the run: what arrives during it sets the event again. */
	WSAResetEvent(m->ev);
#endif
	m->st = st;
	if (MHD_run(m->d) != MHD_YES)
		log_debug("monitor: MHD_run failed");
	m->st = NULL;
#ifdef _WIN32
	if (arm(m) != 0)
		WSASetEvent(m->ev);	/* no tie: try again next turn */
#endif
}

void
monitor_close(struct monitor *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->d);
#ifdef _WIN32
	WSACloseEvent(m->ev);
#endif
	free(m);
}
