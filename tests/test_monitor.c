/*
 * test_monitor.c - the status renderers (/health JSON, Prometheus text)
 * and the monitor endpoint itself, served from a poll loop in this
 * process to a libcurl multi handle over loopback.
 *
 * The Prometheus text is read back by a small checker that holds it to
 * the 0.0.4 text format rather than to a fixed string, so that adding a
 * metric does not break the test but a malformed line does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "health.h"
#include "base.h"

/* 2026-11-29T01:02:03.000Z */
#define T0	INT64_C(1795914123000)

/* ---- a hand-made status ---------------------------------------------- */

struct fixture {
	struct agent_status	st;
	struct status_source	src[2];
	struct status_output	out[2];
};

/*
 * Two sources (the second not read from yet, with a newline in its
 * name) and two outputs: "es" failing for a minute with a backlog, and a
 * healthy file output whose name holds a double quote and a backslash.
 */
static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->src[0].name = "sysmon-log";
	f->src[0].records = 1000;
	f->src[0].last_record_ms = T0 - 1500;
	f->src[1].name = "a\nb";
	f->src[1].records = 7;

	f->out[0].name = "es";
	f->out[0].type = "elasticsearch";
	f->out[0].ok = false;
	f->out[0].failing_since_ms = T0 - 60000;
	snprintf(f->out[0].last_error, sizeof(f->out[0].last_error),
	    "HTTP 503 from https://es.example:9200/_bulk");
	f->out[0].backlog_records = 120;
	f->out[0].backlog_bytes = 45678;
	f->out[0].oldest_ms = T0 - 90250;
	f->out[0].delivered = 880;
	f->out[0].dead_lettered = 3;
	f->out[0].duplicates = 2;
	f->out[0].retries = 41;
	f->out[0].lost = 5;
	f->out[0].heartbeats_sent = 10;
	f->out[0].heartbeats_failed = 4;
	f->out[0].alerts_sent = 1;

	f->out[1].name = "we\"ird\\name";
	f->out[1].type = "file";
	f->out[1].ok = true;
	f->out[1].delivered = 1000;
	f->out[1].heartbeats_sent = 14;

	f->st.host = "host-1";
	f->st.agent_name = "agent \"one\"";
	f->st.now_ms = T0;
	f->st.started_ms = T0 - 3723500;
	f->st.heartbeat_interval_ms = 60000;
	f->st.heartbeat_seq = 62;
	f->st.watchdog = true;
	f->st.sysmon = SYSMON_RUNNING;
	f->st.sysmon_service = "sysmon";
	f->st.sysmon_since_ms = T0 - 86400000;
	f->st.sysmon_last_record_ms = T0 - 2000;
	f->st.records_read = 1007;
	f->st.parse_errors = 11;
	f->st.truncated = 12;
	f->st.ignored = 13;
	f->st.dropped = 14;
	f->st.rejected = 15;
	f->st.dead_lettered = 3;
	f->st.sources = f->src;
	f->st.nsources = 2;
	f->st.outputs = f->out;
	f->st.noutputs = 2;
}

/* ---- a Prometheus text format 0.0.4 checker --------------------------- */

#define PROM_MAX_SAMPLES	256
#define PROM_MAX_FAMILIES	64
#define PROM_MAX_LABELS		4

struct prom_sample {
	char	name[128];
	char	lname[PROM_MAX_LABELS][32];
	char	lvalue[PROM_MAX_LABELS][128];	/* unescaped */
	int	nlabels;
	double	value;
};

struct prom_family {
	char	name[128];
	char	type[16];
	int	nsamples;
};

struct prom {
	struct prom_sample	s[PROM_MAX_SAMPLES];
	size_t			ns;
	struct prom_family	f[PROM_MAX_FAMILIES];
	size_t			nf;
};

static bool
prom_name_ok(const char *s, size_t n, bool metric)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (metric && c == ':');

		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

static struct prom_family *
prom_find_family(struct prom *p, const char *name)
{
	for (size_t i = 0; i < p->nf; i++)
		if (strcmp(p->f[i].name, name) == 0)
			return &p->f[i];
	return NULL;
}

/* Copy the metric name at *pp (up to a space or '{') into out. */
static void
prom_take_name(const char **pp, char *out, size_t outlen, int lineno)
{
	const char *p = *pp;
	size_t n = strcspn(p, " {");

	if (!prom_name_ok(p, n, true) || n >= outlen)
		fail_msg("line %d: bad metric name", lineno);
	memcpy(out, p, n);
	out[n] = '\0';
	*pp = p + n;
}

/* {name="value",...}: fill s's labels, unescaping values. */
static void
prom_parse_labels(const char **pp, struct prom_sample *s, int lineno)
{
	const char *p = *pp + 1;

	while (*p != '}') {
		size_t n = strcspn(p, "=");
		size_t vl = 0;
		char *v;

		if (s->nlabels == PROM_MAX_LABELS)
			fail_msg("line %d: too many labels", lineno);
		if (!prom_name_ok(p, n, false) || n >= sizeof(s->lname[0]))
			fail_msg("line %d: bad label name", lineno);
		memcpy(s->lname[s->nlabels], p, n);
		s->lname[s->nlabels][n] = '\0';
		for (int i = 0; i < s->nlabels; i++)
			if (strcmp(s->lname[i], s->lname[s->nlabels]) == 0)
				fail_msg("line %d: label twice", lineno);
		p += n;
		if (p[0] != '=' || p[1] != '"')
			fail_msg("line %d: label without =\"", lineno);
		p += 2;
		v = s->lvalue[s->nlabels];
		for (; *p != '"'; p++) {
			char c = *p;

			if (c == '\0' || c == '\n')
				fail_msg("line %d: open label value", lineno);
			if (c == '\\') {
				p++;
				if (*p == 'n')
					c = '\n';
				else if (*p == '\\' || *p == '"')
					c = *p;
				else
					fail_msg("line %d: bad escape \\%c",
					    lineno, *p);
			}
			if (vl + 1 >= sizeof(s->lvalue[0]))
				fail_msg("line %d: label value too long",
				    lineno);
			v[vl++] = c;
		}
		v[vl] = '\0';
		s->nlabels++;
		p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			fail_msg("line %d: expected , or }", lineno);
	}
	*pp = p + 1;
}

static bool
prom_same_series(const struct prom_sample *a, const struct prom_sample *b)
{
	if (strcmp(a->name, b->name) != 0 || a->nlabels != b->nlabels)
		return false;
	for (int i = 0; i < a->nlabels; i++)
		if (strcmp(a->lname[i], b->lname[i]) != 0 ||
		    strcmp(a->lvalue[i], b->lvalue[i]) != 0)
			return false;
	return true;
}

/*
 * Every line is "# HELP name text", "# TYPE name type" or a sample
 * "name{labels} value"; every family has HELP then TYPE before its
 * samples, which come together; counters end in _total; no series twice.
 */
static void
prom_parse(const char *text, struct prom *p)
{
	const char *line = text;
	struct prom_family *cur = NULL;
	int lineno = 0;

	memset(p, 0, sizeof(*p));
	assert_true(strlen(text) > 0);
	assert_int_equal(text[strlen(text) - 1], '\n');
	while (*line != '\0') {
		const char *nl = strchr(line, '\n');
		char buf[1024];
		const char *q = buf;
		size_t len = (size_t)(nl - line);

		lineno++;
		assert_non_null(nl);
		assert_true(len < sizeof(buf));
		memcpy(buf, line, len);
		buf[len] = '\0';
		line = nl + 1;

		if (strncmp(buf, "# HELP ", 7) == 0) {
			char name[128];

			q += 7;
			prom_take_name(&q, name, sizeof(name), lineno);
			if (*q != ' ' || q[1] == '\0')
				fail_msg("line %d: HELP without text", lineno);
			if (prom_find_family(p, name) != NULL)
				fail_msg("line %d: %s described twice", lineno,
				    name);
			assert_true(p->nf < PROM_MAX_FAMILIES);
			cur = &p->f[p->nf++];
			snprintf(cur->name, sizeof(cur->name), "%s", name);
			assert_int_equal(strncmp(name, "sysmonfwd_", 10), 0);
			continue;
		}
		if (strncmp(buf, "# TYPE ", 7) == 0) {
			char name[128];

			q += 7;
			prom_take_name(&q, name, sizeof(name), lineno);
			if (cur == NULL || strcmp(cur->name, name) != 0 ||
			    cur->type[0] != '\0')
				fail_msg("line %d: TYPE %s not right after its "
				    "HELP", lineno, name);
			if (strcmp(q, " counter") != 0 &&
			    strcmp(q, " gauge") != 0)
				fail_msg("line %d: type%s", lineno, q);
			snprintf(cur->type, sizeof(cur->type), "%s", q + 1);
			if (strcmp(cur->type, "counter") == 0) {
				size_t n = strlen(name);
				assert_true(n > 6 &&
				    strcmp(name + n - 6, "_total") == 0);
			}
			continue;
		}
		if (buf[0] == '#')
			fail_msg("line %d: stray comment", lineno);

		{
			struct prom_sample *s;
			char *end;

			assert_true(p->ns < PROM_MAX_SAMPLES);
			s = &p->s[p->ns];
			memset(s, 0, sizeof(*s));
			prom_take_name(&q, s->name, sizeof(s->name), lineno);
			if (cur == NULL || strcmp(cur->name, s->name) != 0 ||
			    cur->type[0] == '\0')
				fail_msg("line %d: sample of %s outside its "
				    "family", lineno, s->name);
			if (*q == '{')
				prom_parse_labels(&q, s, lineno);
			if (*q != ' ' || q[1] == ' ' || q[1] == '\0')
				fail_msg("line %d: expected one space", lineno);
			errno = 0;
			s->value = strtod(q + 1, &end);
			if (*end != '\0' || errno != 0 || !isfinite(s->value))
				fail_msg("line %d: bad value '%s'", lineno,
				    q + 1);
			if (strcmp(cur->type, "counter") == 0)
				assert_true(s->value >= 0);
			for (size_t i = 0; i < p->ns; i++)
				if (prom_same_series(&p->s[i], s))
					fail_msg("line %d: series twice",
					    lineno);
			cur->nsamples++;
			p->ns++;
		}
	}
	for (size_t i = 0; i < p->nf; i++)
		if (p->f[i].nsamples == 0)
			fail_msg("%s has no samples", p->f[i].name);
}

/* The sample name{lname="lvalue"} (any other labels), or NULL. */
static const struct prom_sample *
prom_get(const struct prom *p, const char *name, const char *lname,
    const char *lvalue)
{
	for (size_t i = 0; i < p->ns; i++) {
		const struct prom_sample *s = &p->s[i];

		if (strcmp(s->name, name) != 0)
			continue;
		if (lname == NULL)
			return s;
		for (int j = 0; j < s->nlabels; j++)
			if (strcmp(s->lname[j], lname) == 0 &&
			    strcmp(s->lvalue[j], lvalue) == 0)
				return s;
	}
	return NULL;
}

static double
prom_value(const struct prom *p, const char *name, const char *lname,
    const char *lvalue)
{
	const struct prom_sample *s = prom_get(p, name, lname, lvalue);

	if (s == NULL)
		fail_msg("no sample %s{%s=\"%s\"}", name,
		    lname != NULL ? lname : "", lvalue != NULL ? lvalue : "");
	return s->value;
}

static const char *
prom_type(const struct prom *p, const char *name)
{
	const struct prom_family *f = NULL;

	for (size_t i = 0; i < p->nf; i++)
		if (strcmp(p->f[i].name, name) == 0)
			f = &p->f[i];
	if (f == NULL)
		fail_msg("no family %s", name);
	return f->type;
}

#define assert_close(a, b)	assert_true(fabs((a) - (b)) < 0.0005)

/* ---- render tests ------------------------------------------------------ */

static void
prometheus_text_is_well_formed_with_exact_values(void **state)
{
	static const char *const counters[] = {
		"sysmonfwd_records_read_total", "sysmonfwd_parse_errors_total",
		"sysmonfwd_records_truncated_total",
		"sysmonfwd_lines_ignored_total",
		"sysmonfwd_records_dropped_total",
		"sysmonfwd_records_rejected_total",
		"sysmonfwd_dead_lettered_total",
		"sysmonfwd_source_records_total",
		"sysmonfwd_output_delivered_total",
		"sysmonfwd_output_dead_lettered_total",
		"sysmonfwd_output_duplicates_total",
		"sysmonfwd_output_retries_total", "sysmonfwd_output_lost_total",
		"sysmonfwd_output_heartbeats_sent_total",
		"sysmonfwd_output_heartbeats_failed_total",
		"sysmonfwd_output_alerts_sent_total",
	};
	struct fixture f;
	struct strbuf sb = { 0 };
	struct prom *p = calloc(1, sizeof(*p));
	const struct prom_sample *info;

	(void)state;
	assert_non_null(p);
	fixture_init(&f);
	assert_int_equal(status_render_prometheus(&f.st, &sb), 0);
	prom_parse(sb.s, p);

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		assert_string_equal(prom_type(p, counters[i]), "counter");
	assert_string_equal(prom_type(p, "sysmonfwd_up"), "gauge");
	assert_string_equal(prom_type(p, "sysmonfwd_output_backlog_records"),
	    "gauge");

	assert_close(prom_value(p, "sysmonfwd_up", NULL, NULL), 1);
	info = prom_get(p, "sysmonfwd_info", "version", SYSMONFWD_VERSION);
	assert_non_null(info);
	assert_close(info->value, 1);
	assert_non_null(prom_get(p, "sysmonfwd_info", "agent",
	    "agent \"one\""));
	assert_non_null(prom_get(p, "sysmonfwd_info", "host", "host-1"));
	assert_close(prom_value(p, "sysmonfwd_uptime_seconds", NULL, NULL),
	    3723.5);
	assert_close(prom_value(p, "sysmonfwd_records_read_total", NULL,
	    NULL), 1007);
	assert_close(prom_value(p, "sysmonfwd_parse_errors_total", NULL,
	    NULL), 11);
	assert_close(prom_value(p, "sysmonfwd_records_truncated_total", NULL,
	    NULL), 12);
	assert_close(prom_value(p, "sysmonfwd_lines_ignored_total", NULL,
	    NULL), 13);
	assert_close(prom_value(p, "sysmonfwd_records_dropped_total", NULL,
	    NULL), 14);
	assert_close(prom_value(p, "sysmonfwd_records_rejected_total", NULL,
	    NULL), 15);
	assert_close(prom_value(p, "sysmonfwd_dead_lettered_total", NULL,
	    NULL), 3);

	assert_close(prom_value(p, "sysmonfwd_sysmon_state", "state",
	    "running"), 1);
	assert_close(prom_value(p, "sysmonfwd_sysmon_state", "state",
	    "stopped"), 0);
	assert_close(prom_value(p, "sysmonfwd_sysmon_state", "state",
	    "not_installed"), 0);
	assert_close(prom_value(p, "sysmonfwd_sysmon_state", "state",
	    "unknown"), 0);
	assert_close(prom_value(p, "sysmonfwd_sysmon_last_record_age_seconds",
	    NULL, NULL), 2.0);
	assert_close(prom_value(p, "sysmonfwd_heartbeat_interval_seconds",
	    NULL, NULL), 60);

	assert_close(prom_value(p, "sysmonfwd_source_records_total", "source",
	    "sysmon-log"), 1000);
	assert_close(prom_value(p, "sysmonfwd_source_records_total", "source",
	    "a\nb"), 7);
	assert_close(prom_value(p, "sysmonfwd_source_last_record_age_seconds",
	    "source", "sysmon-log"), 1.5);
	/* No record yet: no age, rather than an age since 1970. */
	assert_null(prom_get(p, "sysmonfwd_source_last_record_age_seconds",
	    "source", "a\nb"));

	assert_close(prom_value(p, "sysmonfwd_output_up", "output", "es"), 0);
	assert_close(prom_value(p, "sysmonfwd_output_up", "output",
	    "we\"ird\\name"), 1);
	assert_close(prom_value(p, "sysmonfwd_output_delivered_total",
	    "output", "es"), 880);
	assert_close(prom_value(p, "sysmonfwd_output_delivered_total",
	    "output", "we\"ird\\name"), 1000);
	assert_close(prom_value(p, "sysmonfwd_output_dead_lettered_total",
	    "output", "es"), 3);
	assert_close(prom_value(p, "sysmonfwd_output_duplicates_total",
	    "output", "es"), 2);
	assert_close(prom_value(p, "sysmonfwd_output_retries_total",
	    "output", "es"), 41);
	assert_close(prom_value(p, "sysmonfwd_output_lost_total", "output",
	    "es"), 5);
	assert_close(prom_value(p, "sysmonfwd_output_backlog_records",
	    "output", "es"), 120);
	assert_close(prom_value(p, "sysmonfwd_output_backlog_bytes",
	    "output", "es"), 45678);
	assert_close(prom_value(p,
	    "sysmonfwd_output_backlog_oldest_age_seconds", "output", "es"),
	    90.25);
	assert_close(prom_value(p,
	    "sysmonfwd_output_backlog_oldest_age_seconds", "output",
	    "we\"ird\\name"), 0);
	assert_close(prom_value(p, "sysmonfwd_output_failing_since_seconds",
	    "output", "es"), (double)(T0 - 60000) / 1000);
	assert_close(prom_value(p, "sysmonfwd_output_failing_since_seconds",
	    "output", "we\"ird\\name"), 0);
	assert_close(prom_value(p, "sysmonfwd_output_heartbeats_sent_total",
	    "output", "es"), 10);
	assert_close(prom_value(p, "sysmonfwd_output_heartbeats_failed_total",
	    "output", "es"), 4);
	assert_close(prom_value(p, "sysmonfwd_output_alerts_sent_total",
	    "output", "es"), 1);
	assert_non_null(prom_get(p, "sysmonfwd_output_info", "type",
	    "elasticsearch"));

	/* The unix time is written whole, not rounded by a float. */
	assert_non_null(strstr(sb.s, "sysmonfwd_output_failing_since_seconds"
	    "{output=\"es\"} 1795914063.000\n"));
	strbuf_free(&sb);
	free(p);
}

static void
prometheus_escapes_label_values(void **state)
{
	struct fixture f;
	struct strbuf sb = { 0 };

	(void)state;
	fixture_init(&f);
	assert_int_equal(status_render_prometheus(&f.st, &sb), 0);
	assert_non_null(strstr(sb.s,
	    "sysmonfwd_output_up{output=\"we\\\"ird\\\\name\"} 1\n"));
	assert_non_null(strstr(sb.s,
	    "sysmonfwd_source_records_total{source=\"a\\nb\"} 7\n"));
	assert_non_null(strstr(sb.s, "agent=\"agent \\\"one\\\"\""));
	strbuf_free(&sb);
}

static void
prometheus_omits_ages_without_records(void **state)
{
	struct fixture f;
	struct strbuf sb = { 0 };
	struct prom *p = calloc(1, sizeof(*p));

	(void)state;
	assert_non_null(p);
	fixture_init(&f);
	f.st.sysmon_last_record_ms = 0;
	f.src[0].last_record_ms = 0;
	f.st.sysmon = SYSMON_UNKNOWN;
	f.st.watchdog = false;
	assert_int_equal(status_render_prometheus(&f.st, &sb), 0);
	prom_parse(sb.s, p);
	assert_null(strstr(sb.s, "sysmonfwd_sysmon_last_record_age_seconds"));
	assert_null(strstr(sb.s, "sysmonfwd_source_last_record_age_seconds"));
	assert_close(prom_value(p, "sysmonfwd_sysmon_state", "state",
	    "unknown"), 1);
	assert_close(prom_value(p, "sysmonfwd_sysmon_state", "state",
	    "running"), 0);
	strbuf_free(&sb);
	free(p);
}

static cJSON *
health(const struct agent_status *st, bool *ok)
{
	struct strbuf sb = { 0 };
	cJSON *j;

	assert_int_equal(status_render_health(st, &sb, ok), 0);
	j = cJSON_Parse(sb.s);
	if (j == NULL)
		fail_msg("health is not JSON: %s", sb.s);
	strbuf_free(&sb);
	return j;
}

static const char *
jget_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static void
health_names_the_failing_output(void **state)
{
	struct fixture f;
	cJSON *j, *outs, *o, *reasons;
	char since[32], want[512];
	bool ok = true;

	(void)state;
	fixture_init(&f);
	j = health(&f.st, &ok);
	assert_false(ok);
	assert_string_equal(jget_str(j, "status"), "failing");
	assert_string_equal(jget_str(cJSON_GetObjectItem(j, "sysmon"),
	    "state"), "running");
	assert_string_equal(jget_str(cJSON_GetObjectItem(j, "sysmon"),
	    "service"), "sysmon");
	assert_string_equal(jget_str(cJSON_GetObjectItem(j, "sysmon"),
	    "since"), "2026-11-28T01:02:03.000Z");
	assert_string_equal(jget_str(j, "version"), SYSMONFWD_VERSION);
	assert_int_equal(cJSON_GetObjectItem(j, "uptime_s")->valuedouble,
	    3723);

	outs = cJSON_GetObjectItem(j, "outputs");
	assert_int_equal(cJSON_GetArraySize(outs), 2);
	o = cJSON_GetArrayItem(outs, 0);
	assert_string_equal(jget_str(o, "name"), "es");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "ok")));
	time_format_ms(T0 - 60000, since);
	assert_string_equal(jget_str(o, "failing_since"), since);
	assert_string_equal(jget_str(o, "last_error"), f.out[0].last_error);
	assert_int_equal(cJSON_GetObjectItem(o, "backlog_records")->valuedouble,
	    120);
	o = cJSON_GetArrayItem(outs, 1);
	assert_string_equal(jget_str(o, "name"), "we\"ird\\name");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "failing_since")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "last_error")));

	reasons = cJSON_GetObjectItem(j, "reasons");
	assert_int_equal(cJSON_GetArraySize(reasons), 1);
	snprintf(want, sizeof(want), "output es failing since %s: %s", since,
	    f.out[0].last_error);
	assert_string_equal(cJSON_GetArrayItem(reasons, 0)->valuestring, want);
	cJSON_Delete(j);
}

static void
health_reports_stopped_sysmon(void **state)
{
	struct fixture f;
	cJSON *j, *reasons;
	bool ok = true;

	(void)state;
	fixture_init(&f);
	f.out[0].ok = true;
	f.out[0].failing_since_ms = 0;
	f.st.sysmon = SYSMON_STOPPED;
	j = health(&f.st, &ok);
	assert_false(ok);
	assert_string_equal(jget_str(j, "status"), "failing");
	reasons = cJSON_GetObjectItem(j, "reasons");
	assert_int_equal(cJSON_GetArraySize(reasons), 1);
	assert_string_equal(cJSON_GetArrayItem(reasons, 0)->valuestring,
	    "sysmon is stopped");
	cJSON_Delete(j);

	f.st.sysmon = SYSMON_NOT_INSTALLED;
	j = health(&f.st, &ok);
	assert_false(ok);
	reasons = cJSON_GetObjectItem(j, "reasons");
	assert_string_equal(cJSON_GetArrayItem(reasons, 0)->valuestring,
	    "sysmon is not installed");
	cJSON_Delete(j);
}

static void
health_ok_when_nothing_is_wrong(void **state)
{
	struct fixture f;
	cJSON *j;
	bool ok = false;

	(void)state;
	fixture_init(&f);
	f.out[0].ok = true;
	f.out[0].failing_since_ms = 0;
	/* A stale last_error of an output that recovered is no reason. */
	j = health(&f.st, &ok);
	assert_true(ok);
	assert_string_equal(jget_str(j, "status"), "ok");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "reasons")),
	    0);
	cJSON_Delete(j);

	/* A watchdog that is off, or cannot tell, is not a failure. */
	f.st.sysmon = SYSMON_UNKNOWN;
	f.st.watchdog = false;
	f.st.sysmon_since_ms = 0;
	j = health(&f.st, &ok);
	assert_true(ok);
	assert_string_equal(jget_str(cJSON_GetObjectItem(j, "sysmon"),
	    "state"), "unknown");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "sysmon"), "since")));
	cJSON_Delete(j);

	/* Nothing configured at all is fine too. */
	f.st.noutputs = 0;
	f.st.nsources = 0;
	j = health(&f.st, &ok);
	assert_true(ok);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "outputs")),
	    0);
	cJSON_Delete(j);
}

static void
sysmon_state_names(void **state)
{
	(void)state;
	assert_string_equal(sysmon_state_name(SYSMON_RUNNING), "running");
	assert_string_equal(sysmon_state_name(SYSMON_STOPPED), "stopped");
	assert_string_equal(sysmon_state_name(SYSMON_NOT_INSTALLED),
	    "not_installed");
	assert_string_equal(sysmon_state_name(SYSMON_UNKNOWN), "unknown");
}

/* ---- the endpoint, for real ------------------------------------------- */

struct fetch {
	const char	*method;	/* GET, HEAD or POST */
	const char	*path;
	const char	*body;		/* sent when not NULL */
	long		 code;
	char		 ctype[128];
	char		 allow[64];
	struct strbuf	 resp;
	CURL		*h;
};

static size_t
fetch_write(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *f = arg;

	if (strbuf_add(&f->resp, p, size * n) != 0)
		return 0;
	return size * n;
}

static size_t
fetch_header(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *f = arg;
	size_t len = size * n;

	if (len > 6 && strncasecmp(p, "Allow:", 6) == 0) {
		size_t s = 6, e = len;

		while (s < e && p[s] == ' ')
			s++;
		while (e > s && (p[e - 1] == '\r' || p[e - 1] == '\n'))
			e--;
		snprintf(f->allow, sizeof(f->allow), "%.*s", (int)(e - s),
		    p + s);
	}
	return len;
}

/*
 * Run the fetches against the monitor on port until all are done: this
 * is the agent's loop in miniature, waiting on the monitor's fd (and
 * curl's) no longer than monitor_timeout() says, then serving.
 */
static void
fetch_all(struct monitor *m, const struct agent_status *st, int port,
    struct fetch *fs, size_t n)
{
	CURLM *cm = curl_multi_init();
	int64_t deadline = mono_now_ms() + 15000;
	int running = 1;
	CURLMsg *msg;
	int left;

	assert_non_null(cm);
	for (size_t i = 0; i < n; i++) {
		struct fetch *f = &fs[i];
		char url[128];

		snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port,
		    f->path);
		f->h = curl_easy_init();
		assert_non_null(f->h);
		curl_easy_setopt(f->h, CURLOPT_URL, url);
		curl_easy_setopt(f->h, CURLOPT_NOPROXY, "*");
		curl_easy_setopt(f->h, CURLOPT_TIMEOUT_MS, 10000L);
		curl_easy_setopt(f->h, CURLOPT_WRITEFUNCTION, fetch_write);
		curl_easy_setopt(f->h, CURLOPT_WRITEDATA, f);
		curl_easy_setopt(f->h, CURLOPT_HEADERFUNCTION, fetch_header);
		curl_easy_setopt(f->h, CURLOPT_HEADERDATA, f);
		curl_easy_setopt(f->h, CURLOPT_PRIVATE, f);
		if (strcmp(f->method, "HEAD") == 0)
			curl_easy_setopt(f->h, CURLOPT_NOBODY, 1L);
		if (f->body != NULL)
			curl_easy_setopt(f->h, CURLOPT_POSTFIELDS, f->body);
		if (strcmp(f->method, "GET") == 0 && f->body != NULL)
			curl_easy_setopt(f->h, CURLOPT_CUSTOMREQUEST, "GET");
		assert_int_equal(curl_multi_add_handle(cm, f->h), CURLM_OK);
	}
	while (running > 0) {
		struct curl_waitfd wfd = { .fd = monitor_fd(m),
		    .events = CURL_WAIT_POLLIN };
		int64_t t = monitor_timeout(m);
		int nfds;

		if (mono_now_ms() > deadline)
			fail_msg("the monitor did not answer in time");
		assert_int_equal(curl_multi_perform(cm, &running), CURLM_OK);
		if (running == 0)
			break;
		if (t < 0 || t > 200)
			t = 200;
		assert_int_equal(curl_multi_poll(cm, &wfd, 1, (int)t, &nfds),
		    CURLM_OK);
		monitor_run(m, st);
	}
	while ((msg = curl_multi_info_read(cm, &left)) != NULL) {
		struct fetch *f;
		char *ct = NULL;

		assert_int_equal(msg->msg, CURLMSG_DONE);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&f);
		if (msg->data.result != CURLE_OK)
			fail_msg("%s %s: %s", f->method, f->path,
			    curl_easy_strerror(msg->data.result));
		curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &f->code);
		curl_easy_getinfo(f->h, CURLINFO_CONTENT_TYPE, &ct);
		if (ct != NULL)
			snprintf(f->ctype, sizeof(f->ctype), "%s", ct);
	}
	for (size_t i = 0; i < n; i++) {
		curl_multi_remove_handle(cm, fs[i].h);
		curl_easy_cleanup(fs[i].h);
		fs[i].h = NULL;
	}
	curl_multi_cleanup(cm);
}

/*
 * A loopback port nobody listens on right now: the kernel picks one for
 * a socket bound to port 0, which is then closed for the monitor to
 * take.  (The listen syntax has no port 0: the config refuses it.)
 */
static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd, port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static struct monitor *
open_on_loopback(int *port)
{
	struct monitor *m = NULL;
	char listen[64];

	/* Someone may take the port between free_port() and the bind. */
	for (int tries = 0; tries < 10; tries++) {
		*port = free_port();
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", *port);
		if (monitor_open(listen, &m) == 0)
			return m;
		assert_null(m);
	}
	fail_msg("cannot open the monitor on loopback");
	return NULL;
}

static void
monitor_serves_health_and_metrics(void **state)
{
	struct fetch fs[] = {
		{ .method = "GET", .path = "/health" },
		{ .method = "GET", .path = "/metrics" },
		{ .method = "GET", .path = "/nope" },
		{ .method = "POST", .path = "/metrics", .body = "x=1" },
		{ .method = "HEAD", .path = "/metrics" },
		{ .method = "GET", .path = "/health", .body = "hello" },
		{ .method = "GET", .path = "/metrics?name[]=x" },
	};
	struct fixture f;
	struct monitor *m;
	struct prom *p = calloc(1, sizeof(*p));
	cJSON *j;
	int port;

	(void)state;
	assert_non_null(p);
	fixture_init(&f);
	m = open_on_loopback(&port);
	assert_true(monitor_fd(m) >= 0);
	fetch_all(m, &f.st, port, fs, sizeof(fs) / sizeof(fs[0]));

	/* es is failing, so /health says 503 and why. */
	assert_int_equal(fs[0].code, 503);
	assert_string_equal(fs[0].ctype, "application/json");
	j = cJSON_Parse(fs[0].resp.s);
	assert_non_null(j);
	assert_string_equal(jget_str(j, "status"), "failing");
	assert_non_null(strstr(cJSON_GetArrayItem(cJSON_GetObjectItem(j,
	    "reasons"), 0)->valuestring, "output es failing since"));
	cJSON_Delete(j);

	assert_int_equal(fs[1].code, 200);
	assert_string_equal(fs[1].ctype,
	    "text/plain; version=0.0.4; charset=utf-8");
	prom_parse(fs[1].resp.s, p);
	assert_close(prom_value(p, "sysmonfwd_output_backlog_records",
	    "output", "es"), 120);

	assert_int_equal(fs[2].code, 404);
	assert_int_equal(fs[3].code, 405);
	assert_string_equal(fs[3].allow, "GET, HEAD");

	/* HEAD: the headers of GET, no body. */
	assert_int_equal(fs[4].code, 200);
	assert_string_equal(fs[4].ctype,
	    "text/plain; version=0.0.4; charset=utf-8");
	assert_int_equal(fs[4].resp.len, 0);

	assert_int_equal(fs[5].code, 413);
	/* The query string is not part of the path. */
	assert_int_equal(fs[6].code, 200);

	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		strbuf_free(&fs[i].resp);

	/* Once es recovers, /health says 200. */
	{
		struct fetch again[] = {
			{ .method = "GET", .path = "/health" },
		};

		f.out[0].ok = true;
		f.out[0].failing_since_ms = 0;
		fetch_all(m, &f.st, port, again, 1);
		assert_int_equal(again[0].code, 200);
		assert_string_equal(again[0].ctype, "application/json");
		j = cJSON_Parse(again[0].resp.s);
		assert_non_null(j);
		assert_string_equal(jget_str(j, "status"), "ok");
		cJSON_Delete(j);
		strbuf_free(&again[0].resp);
	}
	monitor_close(m);
	free(p);
}

static void
monitor_open_refuses_bad_addresses(void **state)
{
	static const char *const bad[] = {
		"", "2020", "localhost:2020", "127.0.0.1", "127.0.0.1:",
		"127.0.0.1:0", "127.0.0.1:65536", "256.0.0.1:2020",
		"::1:2020", "[::1]2020", "[127.0.0.1]:2020", "[nope]:2020",
		"127.0.0.1:20x0",
	};
	struct monitor *m = (struct monitor *)&m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(monitor_open(bad[i], &m), -EINVAL);
		assert_null(m);
	}
	/* Numeric and well formed, but not an address of this machine. */
	assert_true(monitor_open("192.0.2.1:2020", &m) < 0);
	assert_null(m);
	monitor_close(NULL);
}

static void
monitor_refuses_a_port_in_use(void **state)
{
	struct monitor *m, *m2 = NULL;
	char listen[64];
	int port;

	(void)state;
	m = open_on_loopback(&port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	assert_true(monitor_open(listen, &m2) < 0);
	assert_null(m2);
	monitor_close(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prometheus_text_is_well_formed_with_exact_values),
		cmocka_unit_test(prometheus_escapes_label_values),
		cmocka_unit_test(prometheus_omits_ages_without_records),
		cmocka_unit_test(health_names_the_failing_output),
		cmocka_unit_test(health_reports_stopped_sysmon),
		cmocka_unit_test(health_ok_when_nothing_is_wrong),
		cmocka_unit_test(sysmon_state_names),
		cmocka_unit_test(monitor_serves_health_and_metrics),
		cmocka_unit_test(monitor_open_refuses_bad_addresses),
		cmocka_unit_test(monitor_refuses_a_port_in_use),
	};
	int rc;

	log_init("test_monitor", LOG_LEVEL_ERROR);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
