/*
 * test_render.c - the render room (agent/render): the ECS document, the
 * Elasticsearch bulk items and the Wazuh events, the last against
 * Wazuh's own Sysmon rule-test fixtures.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "render.h"
#include "base.h"
#include "unit_records.h"

static cJSON *
render_one(const char *raw, uint32_t flags, bool keep_original, int *res)
{
	struct event_parser *p;
	struct render_ctx ctx = { .agent_name = "tts-agent",
	    .host_name = "agenthost", .keep_original = keep_original };
	struct buffer_rec rec = { .seq = 1, .time_ms = 1700000000123LL,
	    .flags = flags, .source = "win", .data = raw, .len = strlen(raw) };
	struct strbuf sb = { 0 };
	cJSON *doc;

	assert_int_equal(event_parser_new(&p), 0);
	*res = render_ecs(p, &ctx, &rec, &sb);
	assert_true(*res >= 0);
	doc = cJSON_Parse(sb.s);
	if (doc == NULL)
		fail_msg("invalid JSON: %s", sb.s);
	strbuf_free(&sb);
	event_parser_free(p);
	return doc;
}

/* The item at a dotted path of doc, or NULL. */
static const cJSON *
jget(const cJSON *doc, const char *path)
{
	char copy[256], *save = NULL, *tok;
	const cJSON *cur = doc;

	snprintf(copy, sizeof(copy), "%s", path);
	for (tok = strtok_r(copy, ".", &save); tok != NULL;
	    tok = strtok_r(NULL, ".", &save))
		cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
	return cur;
}

static const char *
jstr(const cJSON *doc, const char *path)
{
	const cJSON *v = jget(doc, path);

	if (!cJSON_IsString(v))
		fail_msg("%s is not a string", path);
	return v->valuestring;
}

static double
jnum(const cJSON *doc, const char *path)
{
	const cJSON *v = jget(doc, path);

	if (!cJSON_IsNumber(v))
		fail_msg("%s is not a number", path);
	return v->valuedouble;
}

static void
render_windows_document_shape(void **state)
{
	int res;
	cJSON *doc = render_one(win_line, 0, false, &res);
	const cJSON *ed;

	(void)state;
	assert_int_equal(res, RENDER_OK);
	assert_string_equal(jstr(doc, "@timestamp"), "2019-04-30T20:26:51.793Z");
	assert_string_equal(jstr(doc, "event.code"), "1");
	assert_string_equal(jstr(doc, "event.kind"), "event");
	assert_string_equal(jstr(doc, "host.name"), "IEWIN7");
	assert_string_equal(jstr(doc, "agent.type"), "sysmonfwd");
	assert_string_equal(jstr(doc, "agent.name"), "tts-agent");
	assert_string_equal(jstr(doc, "agent.version"), SYSMONFWD_VERSION);
	assert_string_equal(jstr(doc, "winlog.channel"),
	    "Microsoft-Windows-Sysmon/Operational");
	assert_string_equal(jstr(doc, "winlog.provider_name"),
	    "Microsoft-Windows-Sysmon");
	assert_string_equal(jstr(doc, "winlog.provider_guid"),
	    "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}");
	assert_string_equal(jstr(doc, "winlog.event_id"), "1");
	assert_string_equal(jstr(doc, "winlog.record_id"), "9804");
	assert_string_equal(jstr(doc, "winlog.computer_name"), "IEWIN7");
	assert_true(jnum(doc, "winlog.version") == 5);
	assert_string_equal(jstr(doc, "winlog.level"), "information");
	assert_string_equal(jstr(doc, "winlog.task"), "1");
	assert_string_equal(jstr(doc, "winlog.opcode"), "Info");
	assert_string_equal(jstr(doc, "winlog.time_created"),
	    "2019-04-30T20:26:51.793589000Z");
	assert_true(jnum(doc, "winlog.process.pid") == 1964);
	assert_true(jnum(doc, "winlog.process.thread.id") == 1664);
	assert_string_equal(jstr(doc, "winlog.user.identifier"), "S-1-5-18");
	assert_string_equal(jstr(doc, "winlog.event_data.CommandLine"),
	    "cmd /c \"echo <x> & a\tb\nc\"");
	assert_string_equal(jstr(doc, "winlog.event_data.RuleName"), "");
	assert_string_equal(jstr(doc, "winlog.event_data.SourceImage"), "\n");
	ed = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    doc, "winlog"), "event_data");
	assert_int_equal(cJSON_GetArraySize(ed), 6);
	/* Keys keep the record's order. */
	assert_string_equal(ed->child->string, "RuleName");
	assert_null(cJSON_GetObjectItemCaseSensitive(doc, "tags"));
	assert_null(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(doc, "event"), "original"));
	cJSON_Delete(doc);

	doc = render_one(win_line, 0, true, &res);
	assert_string_equal(jstr(doc, "event.original"), win_line);
	cJSON_Delete(doc);
}

static void
render_linux_document(void **state)
{
	int res;
	cJSON *doc = render_one(linux_line, 0, false, &res);

	(void)state;
	assert_int_equal(res, RENDER_OK);
	assert_string_equal(jstr(doc, "winlog.channel"),
	    "Linux-Sysmon/Operational");
	assert_string_equal(jstr(doc, "winlog.user.identifier"), "0");
	assert_string_equal(jstr(doc, "host.name"), "james-ubuntu-demo");
	assert_string_equal(jstr(doc, "winlog.event_data.State"), "Started");
	cJSON_Delete(doc);
}

static void
render_parse_error_keeps_raw_text(void **state)
{
	int res;
	const char *raw = "garbage \xff\xfe <Event><System>";
	cJSON *doc = render_one(raw, BUFFER_REC_TRUNCATED, false, &res);
	const cJSON *tags;

	(void)state;
	assert_int_equal(res, RENDER_PARSE_ERROR);
	assert_string_equal(jstr(doc, "message"),
	    "garbage \xEF\xBF\xBD\xEF\xBF\xBD <Event><System>");
	assert_string_equal(jstr(doc, "event.kind"), "pipeline_error");
	assert_string_equal(jstr(doc, "@timestamp"), "2023-11-14T22:13:20.123Z");
	assert_string_equal(jstr(doc, "host.name"), "agenthost");
	assert_string_equal(jstr(doc, "labels.sysmonfwd_input"), "win");
	assert_non_null(strstr(jstr(doc, "error.message"), "XML error"));
	assert_non_null(strstr(jstr(doc, "error.message"), "max_line_size"));
	tags = cJSON_GetObjectItemCaseSensitive(doc, "tags");
	assert_int_equal(cJSON_GetArraySize(tags), 2);
	assert_string_equal(cJSON_GetArrayItem(tags, 0)->valuestring,
	    "sysmonfwd_parse_error");
	assert_string_equal(cJSON_GetArrayItem(tags, 1)->valuestring,
	    "sysmonfwd_truncated");
	cJSON_Delete(doc);
}

static void
render_duplicate_data_names_stay_distinct(void **state)
{
	int res;
	cJSON *doc = render_one("<Event><System><EventID>1</EventID>"
	    "<Version>x5</Version></System><EventData><Data Name='A'>1</Data>"
	    "<Data Name='A'>2</Data></EventData></Event>", 0, false, &res);

	(void)state;
	assert_string_equal(jstr(doc, "winlog.event_data.A"), "1");
	assert_string_equal(jstr(doc, "winlog.event_data.A_2"), "2");
	/* A non-numeric version is kept as text rather than lost. */
	assert_string_equal(jstr(doc, "winlog.version"), "x5");
	/* No TimeCreated: the time the agent read it. */
	assert_string_equal(jstr(doc, "@timestamp"), "2023-11-14T22:13:20.123Z");
	assert_string_equal(jstr(doc, "host.name"), "agenthost");
	cJSON_Delete(doc);
}

/* ---- Elasticsearch bulk items -------------------------------------------- */

struct es_item {
	cJSON	*action;
	cJSON	*doc;
	char	 id[64];
	char	 index[256];
};

/* Render rec as a bulk item; check it is two newline-ended JSON lines. */
static int
render_es_item(struct buffer_rec *rec, const struct render_es_opts *eo,
    struct es_item *it)
{
	struct event_parser *p;
	struct render_ctx ctx = { .agent_name = "tts-agent",
	    .host_name = "agenthost", .keep_original = true };
	struct strbuf sb = { 0 };
	char *nl;
	int res;

	assert_int_equal(event_parser_new(&p), 0);
	res = render_es(p, &ctx, eo, rec, &sb);
	assert_true(res >= 0);
	assert_true(sb.len > 2 && sb.s[sb.len - 1] == '\n');
	nl = strchr(sb.s, '\n');
	assert_non_null(nl);
	assert_ptr_equal(strchr(nl + 1, '\n'), sb.s + sb.len - 1);
	*nl = '\0';
	sb.s[sb.len - 1] = '\0';
	it->action = cJSON_Parse(sb.s);
	it->doc = cJSON_Parse(nl + 1);
	assert_non_null(it->action);
	assert_non_null(it->doc);
	snprintf(it->id, sizeof(it->id), "%s", jstr(it->action, "create._id"));
	snprintf(it->index, sizeof(it->index), "%s",
	    jstr(it->action, "create._index"));
	/* create only: data streams take nothing else. */
	assert_int_equal(cJSON_GetArraySize(it->action), 1);
	assert_int_equal(cJSON_GetArraySize(it->action->child), 2);
	strbuf_free(&sb);
	event_parser_free(p);
	return res;
}

static void
es_item_free(struct es_item *it)
{
	cJSON_Delete(it->action);
	cJSON_Delete(it->doc);
}

static void
render_es_routes_and_names_data_streams(void **state)
{
	struct render_es_opts eo = { .index = NULL, .ns = "prod" };
	struct buffer_rec rec = { .seq = 7, .time_ms = 1700000000123LL,
	    .source = "win", .data = win_line, .len = strlen(win_line) };
	struct es_item it;
	const char *fwd = "<Event><System><Provider Name='Microsoft-Windows-"
	    "Security-Auditing'/><EventID>4624</EventID><EventRecordID>5"
	    "</EventRecordID><Channel>Security</Channel><Computer>DC1"
	    "</Computer></System></Event>";

	(void)state;
	assert_int_equal(render_es_item(&rec, &eo, &it), RENDER_OK);
	assert_string_equal(it.index, "logs-windows.sysmon_operational-prod");
	assert_string_equal(jstr(it.doc, "data_stream.type"), "logs");
	assert_string_equal(jstr(it.doc, "data_stream.dataset"),
	    "windows.sysmon_operational");
	assert_string_equal(jstr(it.doc, "data_stream.namespace"), "prod");
	assert_string_equal(jstr(it.doc, "event.dataset"),
	    "windows.sysmon_operational");
	/* The raw record rides along for the integration (keep_original). */
	assert_string_equal(jstr(it.doc, "event.original"), win_line);
	assert_string_equal(jstr(it.doc, "winlog.event_data.Image"),
	    "C:\\Windows\\System32\\cmd.exe");
	assert_int_equal(strlen(it.id), RENDER_ES_ID_LEN);
	assert_int_equal(strspn(it.id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
	    "klmnopqrstuvwxyz0123456789-_"), RENDER_ES_ID_LEN);
	es_item_free(&it);

	rec.data = linux_line;
	rec.len = strlen(linux_line);
	assert_int_equal(render_es_item(&rec, &eo, &it), RENDER_OK);
	assert_string_equal(it.index, "logs-sysmon_linux.log-prod");
	assert_string_equal(jstr(it.doc, "data_stream.dataset"),
	    "sysmon_linux.log");
	es_item_free(&it);

	rec.data = fwd;
	rec.len = strlen(fwd);
	assert_int_equal(render_es_item(&rec, &eo, &it), RENDER_OK);
	assert_string_equal(it.index, "logs-windows.forwarded-prod");
	es_item_free(&it);

	rec.data = "not a record";
	rec.len = strlen(rec.data);
	assert_int_equal(render_es_item(&rec, &eo, &it), RENDER_PARSE_ERROR);
	assert_string_equal(it.index, "logs-sysmonfwd.error-prod");
	assert_string_equal(jstr(it.doc, "event.kind"), "pipeline_error");
	assert_string_equal(jstr(it.doc, "event.dataset"), "sysmonfwd.error");
	es_item_free(&it);

	rec.flags = BUFFER_REC_GAP;
	rec.gap_count = 5;
	rec.gap_first = 2;
	rec.data = "evicted";
	rec.len = 7;
	assert_int_equal(render_es_item(&rec, &eo, &it), RENDER_GAP);
	assert_string_equal(it.index, "logs-sysmonfwd.gap-prod");
	assert_string_equal(jstr(it.doc, "event.dataset"), "sysmonfwd.gap");
	assert_true(jnum(it.doc, "sysmonfwd.gap.records") == 5);
	es_item_free(&it);

	/* index overrides every route, and then names no data stream. */
	eo.index = "sysmon-archive";
	rec.flags = 0;
	rec.data = win_line;
	rec.len = strlen(win_line);
	assert_int_equal(render_es_item(&rec, &eo, &it), RENDER_OK);
	assert_string_equal(it.index, "sysmon-archive");
	assert_null(cJSON_GetObjectItemCaseSensitive(it.doc, "data_stream"));
	es_item_free(&it);
}

static void
render_es_ids_are_deterministic(void **state)
{
	struct render_es_opts eo = { .index = NULL, .ns = "default" };
	struct buffer_rec rec = { .seq = 7, .time_ms = 1700000000123LL,
	    .source = "win", .data = win_line, .len = strlen(win_line) };
	struct es_item a, b;
	char *other;
	const char *t;

	(void)state;
	/* The same record read again later, elsewhere in the ring: same _id. */
	render_es_item(&rec, &eo, &a);
	rec.seq = 99999;
	rec.time_ms += 3600000;
	rec.source = "again";
	render_es_item(&rec, &eo, &b);
	assert_string_equal(a.id, b.id);
	es_item_free(&b);

	/* Another record id, computer, or time: another _id.  A cleared log
	 * starts its record ids again; the time keeps new records new. */
	other = strdup(win_line);
	memcpy(strstr(other, "9804"), "9805", 4);
	rec.data = other;
	render_es_item(&rec, &eo, &b);
	assert_string_not_equal(a.id, b.id);
	es_item_free(&b);
	memcpy(strstr(other, "9805"), "9804", 4);
	memcpy(strstr(other, "IEWIN7"), "IEWIN8", 6);
	render_es_item(&rec, &eo, &b);
	assert_string_not_equal(a.id, b.id);
	es_item_free(&b);
	memcpy(strstr(other, "IEWIN8"), "IEWIN7", 6);
	t = strstr(other, "20:26:51.793589");
	memcpy((char *)t, "20:26:52", 8);
	render_es_item(&rec, &eo, &b);
	assert_string_not_equal(a.id, b.id);
	es_item_free(&b);
	free(other);
	es_item_free(&a);

	/* No record id: two equal lines at two places stay two documents,
	 * and one place always gives the same _id. */
	rec.data = "garbage";
	rec.len = 7;
	rec.seq = 10;
	render_es_item(&rec, &eo, &a);
	render_es_item(&rec, &eo, &b);
	assert_string_equal(a.id, b.id);
	es_item_free(&b);
	rec.seq = 11;
	render_es_item(&rec, &eo, &b);
	assert_string_not_equal(a.id, b.id);
	es_item_free(&b);
	es_item_free(&a);
}

/* ---- Wazuh events --------------------------------------------------------- */

static cJSON *
render_wz(const char *raw, size_t max, int *res)
{
	struct event_parser *p;
	struct render_ctx ctx = { .agent_name = "tts-agent",
	    .host_name = "agenthost" };
	struct render_wazuh_opts wo = { .max_event = max };
	struct buffer_rec rec = { .seq = 3, .time_ms = 1700000000123LL,
	    .source = "win", .data = raw, .len = strlen(raw) };
	struct strbuf sb = { 0 }, scratch = { 0 };
	cJSON *str, *doc;

	assert_int_equal(event_parser_new(&p), 0);
	*res = render_wazuh(p, &ctx, &wo, &rec, &sb, &scratch);
	assert_true(*res >= 0);
	/* One JSON string: the event. */
	str = cJSON_Parse(sb.s);
	assert_non_null(str);
	assert_true(cJSON_IsString(str));
	assert_true(strlen(str->valuestring) <= max);
	doc = cJSON_Parse(str->valuestring);
	if (doc == NULL)	/* a syslog line: hand it back as a string */
		doc = cJSON_CreateString(str->valuestring);
	cJSON_Delete(str);
	strbuf_free(&sb);
	strbuf_free(&scratch);
	event_parser_free(p);
	return doc;
}

static void
render_wazuh_windows_shape_and_escaping(void **state)
{
	int res;
	cJSON *doc = render_wz(win_line, 65521, &res);
	const cJSON *ed = jget(doc, "win.eventdata");

	(void)state;
	assert_int_equal(res, RENDER_OK);
	assert_string_equal(jstr(doc, "win.system.providerName"),
	    "Microsoft-Windows-Sysmon");
	assert_string_equal(jstr(doc, "win.system.eventID"), "1");
	assert_string_equal(jstr(doc, "win.system.eventRecordID"), "9804");
	assert_string_equal(jstr(doc, "win.system.systemTime"),
	    "2019-04-30T20:26:51.793589000Z");
	assert_string_equal(jstr(doc, "win.system.processID"), "1964");
	assert_string_equal(jstr(doc, "win.system.computer"), "IEWIN7");
	assert_string_equal(jstr(doc, "win.system.severityValue"),
	    "INFORMATION");
	/* The agent path's escaping: two backslashes, \" and \t, \n. */
	assert_string_equal(jstr(doc, "win.eventdata.image"),
	    "C:\\\\Windows\\\\System32\\\\cmd.exe");
	assert_string_equal(jstr(doc, "win.eventdata.commandLine"),
	    "cmd /c \\\"echo <x> & a\\tb\\nc\\\"");
	/* Empty and "-" values are left out, like Wazuh's decoder does. */
	assert_null(cJSON_GetObjectItemCaseSensitive(ed, "ruleName"));
	assert_null(cJSON_GetObjectItemCaseSensitive(ed, "user"));
	/* A value of white space only ends up empty (trailing space cut). */
	assert_string_equal(jstr(doc, "win.eventdata.sourceImage"), "\\n");
	assert_null(cJSON_GetObjectItemCaseSensitive(doc, "sysmonfwd"));
	assert_string_equal(doc->child->string, "win");
	cJSON_Delete(doc);

	/* Sysmon for Linux: the syslog line as read. */
	doc = render_wz(linux_line, 65521, &res);
	assert_true(cJSON_IsString(doc));
	assert_string_equal(doc->valuestring, linux_line);
	cJSON_Delete(doc);

	/* Without a syslog header, one is made from TimeCreated and Computer. */
	doc = render_wz(strstr(linux_line, "<Event>"), 65521, &res);
	assert_true(cJSON_IsString(doc));
	assert_true(strncmp(doc->valuestring, "Oct 24 17:05:38 "
	    "james-ubuntu-demo sysmon: <Event>", 49) == 0);
	cJSON_Delete(doc);

	/* A long Sysmon for Linux line with invalid bytes: cut so that
	 * what the manager gets (valid UTF-8) still fits (fuzzer finding). */
	{
		struct strbuf bad = { 0 };
		assert_int_equal(strbuf_adds(&bad, "Oct 24 17:05:38 "), 0);
		for (int i = 0; i < 400; i++)
			assert_int_equal(strbuf_adds(&bad, "\xc7"), 0);
		assert_int_equal(strbuf_adds(&bad, " sysmon: "), 0);
		assert_int_equal(strbuf_adds(&bad, strstr(linux_line,
		    "<Event>")), 0);
		doc = render_wz(bad.s, 512, &res);	/* checks <= 512 */
		assert_int_equal(res, RENDER_CUT);
		cJSON_Delete(doc);
		strbuf_free(&bad);
	}

	/* A record that does not parse: the tagged JSON document. */
	doc = render_wz("not xml at all", 65521, &res);
	assert_int_equal(res, RENDER_PARSE_ERROR);
	assert_string_equal(jstr(doc, "event.kind"), "pipeline_error");
	cJSON_Delete(doc);
}

static void
render_wazuh_cuts_the_longest_fields_to_fit(void **state)
{
	struct strbuf rec = { 0 };
	const cJSON *cut;
	cJSON *doc;
	int res;

	(void)state;
	assert_int_equal(strbuf_adds(&rec, "<Event><System><Provider "
	    "Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID><Level>4"
	    "</Level><Keywords>0x8000000000000000</Keywords><Channel>"
	    "Microsoft-Windows-Sysmon/Operational</Channel></System><EventData>"
	    "<Data Name='Image'>C:\\a.exe</Data><Data Name='CommandLine'>"), 0);
	for (int i = 0; i < 50000; i++)
		assert_int_equal(strbuf_adds(&rec, "\\x"), 0);
	assert_int_equal(strbuf_adds(&rec, "</Data><Data Name='ParentCommand"
	    "Line'>"), 0);
	for (int i = 0; i < 30000; i++)
		assert_int_equal(strbuf_adds(&rec, "y\xc3\xa9"), 0);
	assert_int_equal(strbuf_adds(&rec, "</Data></EventData></Event>"), 0);
	doc = render_wz(rec.s, 65521, &res);
	assert_int_equal(res, RENDER_CUT);
	/* The short field is whole; the long ones were cut; it says so. */
	assert_string_equal(jstr(doc, "win.eventdata.image"), "C:\\\\a.exe");
	assert_true(strlen(jstr(doc, "win.eventdata.commandLine")) < 200000);
	assert_string_equal(jstr(doc, "win.system.eventID"), "1");
	cut = jget(doc, "sysmonfwd.cut_fields");
	assert_true(cJSON_GetArraySize(cut) >= 1);
	assert_string_equal(cJSON_GetArrayItem(jget(doc, "sysmonfwd.tags"),
	    0)->valuestring, "sysmonfwd_truncated");
	cJSON_Delete(doc);
	strbuf_free(&rec);
}

/* XML-escape s into sb. */
static void
xml_add(struct strbuf *sb, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '&')
			strbuf_adds(sb, "&amp;");
		else if (*s == '<')
			strbuf_adds(sb, "&lt;");
		else if (*s == '>')
			strbuf_adds(sb, "&gt;");
		else if (*s == '\'')
			strbuf_adds(sb, "&apos;");
		else
			strbuf_addc(sb, *s);
	}
}

/* The agent path's escaping of a plain value (as render_wazuh does). */
static void
wz_esc(struct strbuf *sb, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			strbuf_addc(sb, '\\');
		strbuf_addc(sb, *s);
	}
	while (sb->len > 0 && (sb->s[sb->len - 1] == ' ' ||
	    sb->s[sb->len - 1] == '\t'))
		sb->s[--sb->len] = '\0';
}

/*
 * One Wazuh fixture: rebuild the record (System from win.system, EventData
 * from the "Name: value" lines of its message), render it, compare.
 * Counts field-name differences and value differences where the fixture
 * agrees with its own message.
 */
static void
wz_fixture(struct event_parser *p, const cJSON *fx, const char *where,
    int *name_diffs, int *value_diffs, int *values_checked, int *skipped)
{
	const cJSON *sys = jget(fx, "win.system"), *ed = jget(fx,
	    "win.eventdata"), *msg = cJSON_GetObjectItemCaseSensitive(sys,
	    "message"), *v;
	struct strbuf xml = { 0 }, out = { 0 }, e = { 0 };
	struct sysmon_event ev;
	char err[256], *m, *line, *save = NULL;
	cJSON *ours;
	bool cut;

#define SYS(k)	(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(sys, k)) ? \
	cJSON_GetObjectItemCaseSensitive(sys, k)->valuestring : "")
	strbuf_adds(&xml, "<Event><System><Provider Name='");
	xml_add(&xml, SYS("providerName"));
	strbuf_adds(&xml, "' Guid='");
	xml_add(&xml, SYS("providerGuid"));
	strbuf_addf(&xml, "'/><EventID>%s</EventID><Version>%s</Version>"
	    "<Level>%s</Level><Task>%s</Task><Opcode>%s</Opcode><Keywords>%s"
	    "</Keywords><TimeCreated SystemTime='%s'/><EventRecordID>%s"
	    "</EventRecordID><Correlation/><Execution ProcessID='%s' "
	    "ThreadID='%s'/><Channel>%s</Channel><Computer>", SYS("eventID"),
	    SYS("version"), SYS("level"), SYS("task"), SYS("opcode"),
	    SYS("keywords"), SYS("systemTime"), SYS("eventRecordID"),
	    SYS("processID"), SYS("threadID"), SYS("channel"));
	xml_add(&xml, SYS("computer"));
	strbuf_adds(&xml, "</Computer><Security UserID='S-1-5-18'/></System>"
	    "<EventData>");
	if (!cJSON_IsString(msg)) {
		(*skipped)++;
		strbuf_free(&xml);
		return;
	}
	m = strdup(msg->valuestring);
	/* "\"Process Create:\r\nName: value\r\n...\"" */
	if (m[0] == '"')
		memmove(m, m + 1, strlen(m));
	if (strlen(m) > 0 && m[strlen(m) - 1] == '"')
		m[strlen(m) - 1] = '\0';
	for (line = strtok_r(m, "\r\n", &save); line != NULL;
	    line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strstr(line, ": ");
		if (colon == NULL && strlen(line) > 0 &&
		    line[strlen(line) - 1] == ':' && strchr(line, ' ') == NULL)
			colon = line + strlen(line) - 1;	/* "Name:" */
		if (colon == NULL || colon == line ||
		    (strchr(line, ' ') != NULL && strchr(line, ' ') < colon))
			continue;	/* the title line, or text */
		*colon = '\0';
		strbuf_adds(&xml, "<Data Name='");
		xml_add(&xml, line);
		strbuf_adds(&xml, "'>");
		xml_add(&xml, colon[1] == ' ' ? colon + 2 : "");
		strbuf_adds(&xml, "</Data>");
	}
	strbuf_adds(&xml, "</EventData></Event>");
#undef SYS
	if (event_parse(p, xml.s, xml.len, &ev, err, sizeof(err)) != 0)
		fail_msg("%s: rebuilt record does not parse: %s", where, err);
	assert_int_equal(render_wazuh_win(&ev, SIZE_MAX, &out, &cut), 0);
	ours = cJSON_Parse(out.s);
	assert_non_null(ours);
	/* Field names: every one of the fixture's, and no other. */
	for (int pass = 0; pass < 2; pass++) {
		const cJSON *a = pass == 0 ? ed : jget(ours, "win.eventdata");
		const cJSON *b = pass == 0 ? jget(ours, "win.eventdata") : ed;
		cJSON_ArrayForEach(v, a) {
			if (cJSON_GetObjectItemCaseSensitive(b, v->string) ==
			    NULL) {
				(*name_diffs)++;
				print_message("%s: eventdata.%s only in %s\n",
				    where, v->string, pass == 0 ? "the fixture" :
				    "ours");
			}
		}
	}
	cJSON_ArrayForEach(v, sys) {
		if (strcmp(v->string, "message") != 0 &&
		    cJSON_GetObjectItemCaseSensitive(jget(ours, "win.system"),
		    v->string) == NULL) {
			(*name_diffs)++;
			print_message("%s: system.%s missing\n", where,
			    v->string);
		}
	}
	/* Values, where the fixture agrees with its own message. */
	for (size_t i = 0; i < ev.ndata; i++) {
		const cJSON *want, *got;
		char key[128];

		snprintf(key, sizeof(key), "%s", ev.data[i].name);
		key[0] = (char)tolower((unsigned char)key[0]);
		want = cJSON_GetObjectItemCaseSensitive(ed, key);
		got = cJSON_GetObjectItemCaseSensitive(jget(ours,
		    "win.eventdata"), key);
		if (!cJSON_IsString(want) || !cJSON_IsString(got))
			continue;
		strbuf_reset(&e);
		wz_esc(&e, ev.data[i].value);
		if (strcmp(e.s != NULL ? e.s : "", want->valuestring) != 0)
			continue;	/* the fixture was edited by hand */
		(*values_checked)++;
		if (strcmp(got->valuestring, want->valuestring) != 0) {
			(*value_diffs)++;
			print_message("%s: eventdata.%s: want %s, got %s\n",
			    where, key, want->valuestring, got->valuestring);
		}
	}
	cJSON_ArrayForEach(v, sys) {
		const cJSON *got = cJSON_GetObjectItemCaseSensitive(jget(ours,
		    "win.system"), v->string);
		if (strcmp(v->string, "message") == 0 || !cJSON_IsString(got))
			continue;
		(*values_checked)++;
		if (strcmp(got->valuestring, v->valuestring) != 0) {
			(*value_diffs)++;
			print_message("%s: system.%s: want %s, got %s\n", where,
			    v->string, v->valuestring, got->valuestring);
		}
	}
	cJSON_Delete(ours);
	free(m);
	strbuf_free(&xml);
	strbuf_free(&out);
	strbuf_free(&e);
}

static void
render_wazuh_matches_wazuh_fixtures(void **state)
{
	static const char *const files[] = { "sysmon.ini", "sysmon_eid_1.ini",
	    "sysmon_eid_3.ini", "sysmon_eid_7.ini", "sysmon_eid_8.ini",
	    "sysmon_eid_10.ini", "sysmon_eid_11.ini", "sysmon_eid_13.ini",
	    "sysmon_eid_20.ini" };
	struct event_parser *p;
	int fixtures = 0, name_diffs = 0, value_diffs = 0, checked = 0;
	int skipped = 0;

	(void)state;
	assert_int_equal(event_parser_new(&p), 0);
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		char path[1024], line[262144], where[1100];
		FILE *fp;
		int n = 0;

		snprintf(path, sizeof(path), "%s/reference/wazuh-ruleset-tests/"
		    "%s", CORPUS_DIR, files[f]);
		if ((fp = fopen(path, "r")) == NULL)
			fail_msg("cannot read %s", path);
		while (fgets(line, sizeof(line), fp) != NULL) {
			const char *j = strstr(line, " pass = {");
			cJSON *fx;

			if (strncmp(line, "log ", 4) != 0 || j == NULL)
				continue;
			n++;
			snprintf(where, sizeof(where), "%s #%d", files[f], n);
			if ((fx = cJSON_Parse(j + 8)) == NULL)
				fail_msg("%s: fixture is not JSON", where);
			if (jget(fx, "win.system") == NULL) {
				cJSON_Delete(fx);
				continue;
			}
			wz_fixture(p, fx, where, &name_diffs, &value_diffs,
			    &checked, &skipped);
			fixtures++;
			cJSON_Delete(fx);
		}
		fclose(fp);
	}
	print_message("wazuh fixtures: %d compared, %d values checked, %d "
	    "skipped (no message), %d field-name and %d value differences\n",
	    fixtures, checked, skipped, name_diffs, value_diffs);
	assert_true(fixtures >= 140);
	assert_true(checked >= 2000);
	assert_int_equal(name_diffs, 0);
	assert_int_equal(value_diffs, 0);
	event_parser_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(render_windows_document_shape),
		cmocka_unit_test(render_linux_document),
		cmocka_unit_test(render_parse_error_keeps_raw_text),
		cmocka_unit_test(render_duplicate_data_names_stay_distinct),
		cmocka_unit_test(render_es_routes_and_names_data_streams),
		cmocka_unit_test(render_es_ids_are_deterministic),
		cmocka_unit_test(render_wazuh_windows_shape_and_escaping),
		cmocka_unit_test(render_wazuh_cuts_the_longest_fields_to_fit),
		cmocka_unit_test(render_wazuh_matches_wazuh_fixtures),
	};

	log_init("test_render", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
