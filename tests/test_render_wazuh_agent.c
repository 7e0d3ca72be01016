/*
 * test_render_wazuh_agent.c - what the wazuh_agent output sends for each
 * record (render_wazuh_agent(), render_status_for()): the payload a
 * Wazuh agent hands CreateSecMSG(), QUEUE:LOCATION:MESSAGE.
 *
 * The corpus check: every Windows and Sysmon for Linux record of the
 * corpus (CORPUS_DIR) is rendered for both Wazuh outputs and the pairs
 * are handed to tests/integration/wazuh_winevt.py --check, a model of the
 * manager's DecodeWinevt() (wazuh v4.14.7), which fails on any
 * difference between what the manager makes of our agent payload and the
 * event the API output sends, except the one class it names (the API
 * output decodes XML references, a Wazuh agent's event keeps them).  A
 * pair made wrong on purpose shows that the check can fail.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "render.h"
#include "base.h"
#include "unit_records.h"

#define CHECK_PY	SOURCE_DIR "/tests/integration/wazuh_winevt.py"

static struct render_ctx ctx = { .agent_name = "tts-agent",
    .host_name = "agenthost" };

/* render_wazuh_agent() of raw (len bytes) into out; its result. */
static int
agent(struct event_parser *p, const char *raw, size_t len, uint32_t flags,
    struct strbuf *out)
{
	struct buffer_rec rec = { .seq = 7, .time_ms = 1700000000123LL,
	    .flags = flags, .source = "in", .data = raw, .len = len };
	struct strbuf scratch = { 0 };
	int res;

	strbuf_reset(out);
	res = render_wazuh_agent(p, &ctx, &rec, out, &scratch);
	strbuf_free(&scratch);
	assert_true(res >= 0);
	assert_non_null(out->s);
	assert_true(out->len <= RENDER_WAZUH_AGENT_MAX);
	assert_int_equal(strlen(out->s), out->len);	/* no NUL inside */
	return res;
}

/* The API output's event for the same record (a JSON string). */
static int
api(struct event_parser *p, const char *raw, size_t len, struct strbuf *out)
{
	struct render_wazuh_opts wo = { .max_event = RENDER_WAZUH_MAX_EVENT };
	struct buffer_rec rec = { .seq = 7, .time_ms = 1700000000123LL,
	    .source = "in", .data = raw, .len = len };
	struct strbuf scratch = { 0 };
	int res;

	strbuf_reset(out);
	res = render_wazuh(p, &ctx, &wo, &rec, out, &scratch);
	strbuf_free(&scratch);
	assert_true(res >= 0);
	return res;
}

/* The "Message"/"Event" JSON of an f:EventChannel: payload. */
static cJSON *
win_json(const struct strbuf *pl)
{
	const char *head = "f:EventChannel:";
	cJSON *j;

	if (strncmp(pl->s, head, strlen(head)) != 0)
		fail_msg("not an EventChannel payload: %.80s", pl->s);
	if ((j = cJSON_Parse(pl->s + strlen(head))) == NULL)
		fail_msg("not JSON: %.200s", pl->s + strlen(head));
	return j;
}

static const char *
member(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Run the model with opt on path: its exit status. */
static int
run_model(const char *opt, const char *path)
{
	char cmd[1024];
	int st;

	snprintf(cmd, sizeof(cmd), "python3 '%s' %s '%s'", CHECK_PY, opt,
	    path);
	st = system(cmd);
	assert_true(st != -1 && WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int
run_check(const char *path, bool strict)
{
	return run_model(strict ? "--strict --check" : "--check", path);
}

/* One pair [agent payload, API event] as a line of fp. */
static void
write_pair(FILE *fp, const struct strbuf *agent_pl, const struct strbuf *api_ev)
{
	struct strbuf line = { 0 };

	assert_int_equal(strbuf_addc(&line, '['), 0);
	assert_int_equal(json_add_str(&line, agent_pl->s, agent_pl->len), 0);
	assert_int_equal(strbuf_addc(&line, ','), 0);
	assert_int_equal(strbuf_add(&line, api_ev->s, api_ev->len), 0);
	assert_int_equal(strbuf_adds(&line, "]\n"), 0);
	assert_int_equal(fwrite(line.s, 1, line.len, fp), line.len);
	strbuf_free(&line);
}

/* Render every line of every file of dir ending in ext into fp. */
static size_t
corpus_pairs(struct event_parser *p, const char *dir, const char *ext,
    FILE *fp, size_t *windows)
{
	struct strbuf a = { 0 }, b = { 0 };
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		fail_msg("cannot read %s", dir);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		char path[1024], *line = NULL;
		size_t cap = 0;
		ssize_t len;
		FILE *in;

		if (l < strlen(ext) || strcmp(de->d_name + l - strlen(ext),
		    ext) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((in = fopen(path, "r")) == NULL)
			fail_msg("cannot read %s", path);
		while ((len = getline(&line, &cap, in)) > 0) {
			while (len > 0 && line[len - 1] == '\n')
				line[--len] = '\0';
			if (len == 0 || strstr(line, "<Event") == NULL)
				continue;
			agent(p, line, (size_t)len, 0, &a);
			api(p, line, (size_t)len, &b);
			if (strncmp(a.s, "f:", 2) == 0)
				(*windows)++;
			write_pair(fp, &a, &b);
			n++;
		}
		free(line);
		fclose(in);
	}
	closedir(d);
	strbuf_free(&a);
	strbuf_free(&b);
	return n;
}

static size_t
count_lines(const char *dir, const char *ext)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		char path[1024];
		FILE *in;
		int c;

		if (l < strlen(ext) || strcmp(de->d_name + l - strlen(ext),
		    ext) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_non_null(in = fopen(path, "r"));
		while ((c = fgetc(in)) != EOF)
			n += c == '\n';
		fclose(in);
	}
	closedir(d);
	return n;
}

/* A record with its tags in the ring's trailer. */
static void
tagged(struct strbuf *out, const char *raw, const char *tag)
{
	struct event_tags t = { 0 };

	assert_int_equal(event_tags_add(&t, tag), 0);
	strbuf_reset(out);
	assert_int_equal(event_rec_encode(out, raw, strlen(raw), &t), 0);
}

static const char rendered_line[] =
    "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">"
    "<System><Provider Name=\"Microsoft-Windows-Sysmon\" "
    "Guid=\"{5770385f-c22a-43e0-bf4c-06f5698ffbd9}\"/><EventID>1</EventID>"
    "<Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode>"
    "<Keywords>0x8000000000000000</Keywords>"
    "<TimeCreated SystemTime=\"2021-04-28T20:11:55.3643213Z\"/>"
    "<EventRecordID>144504</EventRecordID><Correlation/>"
    "<Execution ProcessID=\"2204\" ThreadID=\"3300\"/>"
    "<Channel>Microsoft-Windows-Sysmon/Operational</Channel>"
    "<Computer>DESKTOP-2QKFOBA</Computer><Security UserID=\"S-1-5-18\"/>"
    "</System><EventData><Data Name=\"RuleName\">it's</Data>"
    "<Data Name=\"Image\">C:\\Windows\\System32\\wscript.exe</Data>"
    "<Data Name=\"CommandLine\">\"C:\\a b\\w.exe\" //x</Data></EventData>"
    "<RenderingInfo Culture=\"en-US\"><Message>Process Create:&#13;&#10;"
    "RuleName: it's&#13;&#10;Image: C:\\Windows\\System32\\wscript.exe"
    "</Message><Level>Information</Level><Task>Process Create (rule: "
    "ProcessCreate)</Task></RenderingInfo></Event>";

/*
 * Every Windows and Sysmon for Linux record of the corpus, agent path
 * decoded by the model against the API output; then records of our own
 * (tags, RenderingInfo, double quotes, references); then a pair made
 * wrong, which must fail.
 */
static void
corpus_agent_path_decodes_to_the_api_event(void **state)
{
	char path[] = "/tmp/test_render_wazuh_agent.XXXXXX";
	struct event_parser *p;
	struct strbuf a = { 0 }, b = { 0 }, r = { 0 };
	size_t n, windows = 0, want;
	FILE *fp;
	int fd;

	(void)state;
	assert_int_equal(event_parser_new(&p), 0);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(fp = fdopen(fd, "w"));
	n = corpus_pairs(p, CORPUS_DIR "/windows-xml", ".xml.log", fp,
	    &windows);
	want = count_lines(CORPUS_DIR "/windows-xml", ".xml.log");
	print_message("corpus: %zu Windows records of %zu lines\n", windows,
	    want);
	assert_true(want >= 845);
	assert_int_equal(windows, want);
	n += corpus_pairs(p, CORPUS_DIR "/linux-syslog", ".log", fp,
	    &windows);
	n += corpus_pairs(p, CORPUS_DIR "/linux-syslog/wazuh-engine-sysmon-"
	    "linux-tests", ".txt", fp, &windows);
	assert_true(n >= want + 36 + 18);
	/* Ours: a tag, a rendered message, double quotes, references. */
	tagged(&r, rendered_line, "indextts_shell");
	agent(p, r.s, r.len, 0, &a);
	api(p, r.s, r.len, &b);
	write_pair(fp, &a, &b);
	agent(p, win_line, strlen(win_line), 0, &a);
	api(p, win_line, strlen(win_line), &b);
	write_pair(fp, &a, &b);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(run_check(path, false), 0);
	/* win_line holds references the API output decodes: --strict sees
	 * that divergence. */
	assert_int_equal(run_check(path, true), 1);

	/* A pair made wrong (one value changed) is a mismatch. */
	assert_non_null(fp = fopen(path, "w"));
	agent(p, rendered_line, strlen(rendered_line), 0, &a);
	api(p, rendered_line, strlen(rendered_line), &b);
	{
		char *w = strstr(b.s, "wscript.exe");
		assert_non_null(w);
		w[0] = 'c';
	}
	write_pair(fp, &a, &b);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(run_check(path, false), 1);
	unlink(path);
	strbuf_free(&a);
	strbuf_free(&b);
	strbuf_free(&r);
	event_parser_free(p);
}

/* A Windows record: f:EventChannel:, the record's own XML as EvtRender
 * gives it, no Message (we have none). */
static void
windows_record_goes_as_the_windows_agent_sends_it(void **state)
{
	struct event_parser *p;
	struct strbuf a = { 0 };
	const char *ev;
	cJSON *j;

	(void)state;
	assert_int_equal(event_parser_new(&p), 0);
	assert_int_equal(agent(p, win_line, strlen(win_line), 0, &a),
	    RENDER_OK);
	/* Exactly as cJSON_PrintUnformatted() prints {"Event": ...}. */
	assert_true(strncmp(a.s, "f:EventChannel:{\"Event\":\"<Event xmlns='"
	    "http://schemas.microsoft.com/win/2004/08/events/event'><System>",
	    89) == 0);
	j = win_json(&a);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "Message"));
	ev = member(j, "Event");
	assert_non_null(ev);
	/* &#10; is the LF EvtRender wrote, then a space
	 * (win_format_event_string()); the other references stay; a tab
	 * not after a newline or ':' stays a tab. */
	assert_non_null(strstr(ev, "<Data Name='CommandLine'>cmd /c \"echo "
	    "&lt;x&gt; &amp; a\tb c\"</Data>"));
	assert_non_null(strstr(ev, "<Data Name='SourceImage'> </Data>"));
	assert_null(strstr(ev, "&#10;"));
	assert_int_equal(strcmp(ev + strlen(ev) - 8, "</Event>"), 0);
	assert_null(strstr(ev, "Sysmonfwd"));	/* no tags */
	cJSON_Delete(j);

	/* A rendered record: Message from RenderingInfo (which leaves the
	 * XML), attributes in single quotes. */
	assert_int_equal(agent(p, rendered_line, strlen(rendered_line), 0,
	    &a), RENDER_OK);
	assert_true(strncmp(a.s, "f:EventChannel:{\"Message\":\"Process "
	    "Create:\\r\\nRuleName: it's\\r\\nImage: C:\\\\Windows", 70) ==
	    0);
	j = win_json(&a);
	ev = member(j, "Event");
	assert_null(strstr(ev, "RenderingInfo"));
	assert_null(strstr(ev, "\""
	    "Microsoft"));
	assert_non_null(strstr(ev, "<Provider Name='Microsoft-Windows-Sysmon'"
	    " Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/>"));
	assert_non_null(strstr(ev, "<Data Name='CommandLine'>\"C:\\a b\\w.exe"
	    "\" //x</Data></EventData></Event>"));
	cJSON_Delete(j);
	strbuf_free(&a);
	event_parser_free(p);
}

/* Sysmon for Linux: the syslog line on queue 1; our events: the API
 * output's JSON on 1:sysmonfwd:. */
static void
linux_records_errors_gaps_and_heartbeats_go_on_queue_1(void **state)
{
	struct event_parser *p;
	struct strbuf a = { 0 }, b = { 0 }, s = { 0 };
	const char *bare = strstr(linux_line, "<Event>");
	struct render_target t = { .dest = RENDER_DEST_WAZUH_AGENT,
	    .ctx = { .agent_name = "tts-agent", .host_name = "agenthost" } };
	struct agent_status st = { .host = "agenthost",
	    .agent_name = "tts-agent", .now_ms = 1700000000123LL,
	    .started_ms = 1700000000000LL, .heartbeat_interval_ms = 60000,
	    .heartbeat_seq = 3 };
	struct status_event hb = { .kind = STATUS_HEARTBEAT };
	cJSON *j, *s1;

	(void)state;
	assert_int_equal(event_parser_new(&p), 0);
	/* The line as read, its header its own: a syslog <localfile>. */
	assert_int_equal(agent(p, linux_line, strlen(linux_line), 0, &a),
	    RENDER_OK);
	assert_true(strncmp(a.s, "1:/var/log/syslog:", 18) == 0);
	assert_string_equal(a.s + 18, linux_line);
	/* No header: render_wazuh()'s, rsyslog's form. */
	assert_int_equal(agent(p, bare, strlen(bare), 0, &a), RENDER_OK);
	assert_string_equal(a.s, "1:/var/log/syslog:Oct 24 17:05:38 "
	    "james-ubuntu-demo sysmon: <Event><System><Provider "
	    "Name=\"Linux-Sysmon\" Guid=\"{ff032593-a8d3-4f13-b0d6-"
	    "01fc615a0f97}\"/><EventID>4</EventID><Version>3</Version>"
	    "<Level>4</Level><Task>4</Task><Opcode>0</Opcode><Keywords>"
	    "0x8000000000000000</Keywords><TimeCreated SystemTime=\""
	    "2021-10-24T17:05:38.412656000Z\"/><EventRecordID>1"
	    "</EventRecordID><Correlation/><Execution ProcessID=\"3099\" "
	    "ThreadID=\"3099\"/><Channel>Linux-Sysmon/Operational</Channel>"
	    "<Computer>james-ubuntu-demo</Computer><Security UserId=\"0\"/>"
	    "</System><EventData><Data Name=\"UtcTime\">2021-10-24 "
	    "17:05:38.412</Data><Data Name=\"State\">Started</Data>"
	    "</EventData></Event>\r");

	/* A NUL in the header: U+FFFD (the manager reads a C string). */
	{
		char nul[] = "Oct 24 17:05:38 h\0st sysmon: <Event><System>"
		    "<Provider Name=\"Linux-Sysmon\"/><EventID>4</EventID>"
		    "</System></Event>";
		agent(p, nul, sizeof(nul) - 1, 0, &a);	/* checks no NUL */
		assert_true(strncmp(a.s, "1:/var/log/syslog:Oct 24 17:05:38 "
		    "h\xEF\xBF\xBDst sysmon: <Event>", 56) == 0);
	}

	/* A record that does not parse: the API's document, unquoted. */
	assert_int_equal(agent(p, "not xml at all", 14, 0, &a),
	    RENDER_PARSE_ERROR);
	assert_int_equal(api(p, "not xml at all", 14, &b),
	    RENDER_PARSE_ERROR);
	assert_true(strncmp(a.s, RENDER_WAZUH_AGENT_OWN, 12) == 0);
	assert_non_null(j = cJSON_Parse(a.s + 12));
	assert_non_null(s1 = cJSON_Parse(b.s));
	assert_string_equal(s1->valuestring, a.s + 12);
	assert_string_equal(member(cJSON_GetObjectItemCaseSensitive(j,
	    "event"), "kind"), "pipeline_error");
	cJSON_Delete(j);
	cJSON_Delete(s1);

	/* A gap. */
	{
		char gap[128];
		int gl = snprintf(gap, sizeof(gap), "{\"records\":5,"
		    "\"first_seq\":10,\"last_seq\":14}");
		assert_int_equal(agent(p, gap, (size_t)gl, BUFFER_REC_GAP, &a),
		    RENDER_GAP);
		assert_true(strncmp(a.s, "1:sysmonfwd:{", 13) == 0);
		assert_non_null(j = cJSON_Parse(a.s + 12));
		assert_string_equal(member(cJSON_GetObjectItemCaseSensitive(j,
		    "event"), "action"), "records-dropped");
		cJSON_Delete(j);
	}

	/* Through render_record(): the same payload, nothing after it. */
	{
		struct buffer_rec rec = { .seq = 7, .time_ms =
		    1700000000123LL, .source = "in", .data = linux_line,
		    .len = strlen(linux_line) };
		struct strbuf one = { 0 };

		assert_int_equal(render_record(p, &t, &rec, &one, &s),
		    RENDER_OK);
		assert_int_equal(render_record_end(&t, &one), 0);
		assert_string_equal(one.s, "1:/var/log/syslog:Oct 24 "
		    "17:05:38 james-ubuntu-demo sysmon: <Event><System>"
		    "<Provider Name=\"Linux-Sysmon\" Guid=\"{ff032593-a8d3-"
		    "4f13-b0d6-01fc615a0f97}\"/><EventID>4</EventID><Version>3"
		    "</Version><Level>4</Level><Task>4</Task><Opcode>0</Opcode>"
		    "<Keywords>0x8000000000000000</Keywords><TimeCreated "
		    "SystemTime=\"2021-10-24T17:05:38.412656000Z\"/>"
		    "<EventRecordID>1</EventRecordID><Correlation/><Execution "
		    "ProcessID=\"3099\" ThreadID=\"3099\"/><Channel>"
		    "Linux-Sysmon/Operational</Channel><Computer>"
		    "james-ubuntu-demo</Computer><Security UserId=\"0\"/>"
		    "</System><EventData><Data Name=\"UtcTime\">2021-10-24 "
		    "17:05:38.412</Data><Data Name=\"State\">Started</Data>"
		    "</EventData></Event>\r");
		strbuf_free(&one);
	}

	/* A heartbeat: the wazuh output's flat document. */
	assert_int_equal(render_status_for(&t, &st, &hb, &a, &s), 0);
	assert_true(strncmp(a.s, "1:sysmonfwd:{\"sysmonfwd\":", 25) == 0);
	assert_non_null(j = cJSON_Parse(a.s + 12));
	cJSON_Delete(j);
	t.dest = RENDER_DEST_WAZUH;
	assert_int_equal(render_status_for(&t, &st, &hb, &b, &s), 0);
	assert_non_null(s1 = cJSON_Parse(b.s));
	assert_string_equal(s1->valuestring, a.s + 12);
	cJSON_Delete(s1);

	/* Tags never show their trailer, whatever the record. */
	{
		const char *recs[] = { linux_line, win_line, "not xml" };
		for (size_t i = 0; i < 3; i++) {
			tagged(&s, recs[i], "indextts_shell");
			assert_true(s.len > strlen(recs[i]));
			agent(p, s.s, s.len, 0, &a);
			assert_null(strstr(a.s, "SFWTAGS"));
			assert_null(memchr(a.s, '\0', a.len));
		}
		assert_non_null(strstr(a.s, "indextts_shell"));
	}
	strbuf_free(&a);
	strbuf_free(&b);
	strbuf_free(&s);
	event_parser_free(p);
}

/* A record built around long values. */
static void
long_record(struct strbuf *rec, size_t cmd, size_t parent)
{
	strbuf_reset(rec);
	assert_int_equal(strbuf_adds(rec, "<Event xmlns='http://schemas."
	    "microsoft.com/win/2004/08/events/event'><System><Provider "
	    "Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID><Level>4"
	    "</Level><Keywords>0x8000000000000000</Keywords><Channel>"
	    "Microsoft-Windows-Sysmon/Operational</Channel></System>"
	    "<EventData><Data Name='Image'>C:\\a.exe</Data><Data "
	    "Name='CommandLine'>"), 0);
	for (size_t i = 0; i < cmd; i++)	/* 3 bytes, 5 printed */
		assert_int_equal(strbuf_adds(rec, i % 2 ? "\\&amp;" :
		    "\\\xc3\xa9"), 0);
	assert_int_equal(strbuf_adds(rec, "</Data><Data Name='ParentCommand"
	    "Line'>"), 0);
	for (size_t i = 0; i < parent; i++)
		assert_int_equal(strbuf_adds(rec, "y\xe2\x82\xac\""), 0);
	assert_int_equal(strbuf_adds(rec, "</Data></EventData></Event>"), 0);
}

/* The printed length of each <Data> value of the payload's Event, and
 * that the XML is whole: event_parse() reads it. */
static void
check_cut_xml(struct event_parser *p, const struct strbuf *a, size_t *nvals)
{
	struct sysmon_event ev;
	struct strbuf esc = { 0 };
	char err[256];
	cJSON *j = win_json(a);
	const char *x = member(j, "Event");

	assert_non_null(x);
	if (event_parse(p, x, strlen(x), &ev, err, sizeof(err)) != 0)
		fail_msg("the cut XML does not parse: %s", err);
	assert_non_null(strstr(x, "<Sysmonfwd><sysmonfwd><tags>"
	    "sysmonfwd_truncated</tags><cut_fields>"));
	assert_int_equal(strcmp(x + strlen(x) - 32, "</sysmonfwd></Sysmonfwd>"
	    "</Event>"), 0);
	*nvals = ev.ndata;
	for (size_t i = 0; i < ev.ndata; i++) {
		/* The manager's XML reader takes a text of < 20480 printed
		 * bytes (entities as written: re-escape &). */
		size_t n = 0;
		for (const char *c = ev.data[i].value; *c != '\0'; c++)
			n += *c == '&' ? 5 : *c == '\\' || *c == '"' ? 2 : 1;
		assert_true(n < 20480);
	}
	assert_string_equal(ev.data[0].value, "C:\\a.exe");
	cJSON_Delete(j);
	strbuf_free(&esc);
}

/* Whether the model's XML reader reads the Event of payload pl. */
static int
model_reads(const struct strbuf *pl)
{
	char path[] = "/tmp/test_render_wazuh_agent.XXXXXX";
	struct strbuf line = { 0 };
	FILE *fp;
	int fd, rc;

	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(fp = fdopen(fd, "w"));
	assert_int_equal(json_add_str(&line, pl->s, pl->len), 0);
	assert_int_equal(fwrite(line.s, 1, line.len, fp), line.len);
	assert_int_equal(fclose(fp), 0);
	rc = run_model("--readable", path);
	unlink(path);
	strbuf_free(&line);
	return rc;
}

/* Too long for CreateSecMSG(), or one value too long for the manager's
 * XML reader: cut inside the XML, still well-formed, and tagged. */
static void
oversize_records_are_cut_inside_the_xml(void **state)
{
	struct event_parser *p;
	struct strbuf rec = { 0 }, a = { 0 };
	size_t nv;
	cJSON *j;

	(void)state;
	assert_int_equal(event_parser_new(&p), 0);
	/* 150 KB printed: over the payload limit. */
	long_record(&rec, 30000, 20000);
	assert_int_equal(agent(p, rec.s, rec.len, 0, &a), RENDER_CUT);
	check_cut_xml(p, &a, &nv);
	assert_int_equal(nv, 3);
	assert_int_equal(model_reads(&a), 0);
	assert_non_null(strstr(a.s, "<cut_fields>commandLine, "
	    "parentCommandLine</cut_fields>"));
	/* Cut at a character, never inside a reference: every & of the
	 * record's value is still "&amp;". */
	{
		const char *c = strstr(a.s, "Name='CommandLine'>");
		const char *e = strstr(c, "</Data>");
		for (const char *q = c; q < e; q++)
			if (*q == '&')
				assert_true(strncmp(q, "&amp;", 5) == 0);
	}
	/* 25 KB in one value: under the payload limit, over what the
	 * manager's XML reader takes. */
	long_record(&rec, 5000, 10);
	assert_int_equal(agent(p, rec.s, rec.len, 0, &a), RENDER_CUT);
	check_cut_xml(p, &a, &nv);
	assert_non_null(strstr(a.s, "<cut_fields>commandLine</cut_fields>"));
	assert_non_null(strstr(a.s, "y\xe2\x82\xac\\\"</Data>"));
	/* The manager's reader (the model) reads it; at 20480 printed bytes
	 * (the payload holds the value printed) it would not have. */
	assert_int_equal(model_reads(&a), 0);
	{
		char *v = strstr(a.s, "Name='CommandLine'>") + 19;
		size_t vl = (size_t)(strstr(v, "</Data>") - v);
		struct strbuf whole = { 0 };

		assert_true(vl <= 20479 && vl > 20400);
		for (size_t more = 20479 - vl; more <= 20480 - vl; more++) {
			strbuf_reset(&whole);
			assert_int_equal(strbuf_add(&whole, a.s,
			    (size_t)(v - a.s)), 0);
			for (size_t k = 0; k < more; k++)
				assert_int_equal(strbuf_addc(&whole, 'x'), 0);
			assert_int_equal(strbuf_adds(&whole, v), 0);
			assert_int_equal(model_reads(&whole),
			    vl + more < 20480 ? 0 : 1);
		}
		strbuf_free(&whole);
	}
	/* Thousands of small values: no cutting of the longest makes it
	 * fit, it goes as the API's document, cut, on 1:sysmonfwd:. */
	strbuf_reset(&rec);
	assert_int_equal(strbuf_adds(&rec, "<Event><System><Provider "
	    "Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID></System>"
	    "<EventData>"), 0);
	for (int i = 0; i < 4000; i++)
		assert_int_equal(strbuf_addf(&rec, "<Data Name='F%d'>"
		    "value number %d of many</Data>", i, i), 0);
	assert_int_equal(strbuf_adds(&rec, "</EventData></Event>"), 0);
	assert_int_equal(agent(p, rec.s, rec.len, 0, &a), RENDER_CUT);
	assert_true(strncmp(a.s, RENDER_WAZUH_AGENT_OWN "{", 13) == 0);
	assert_non_null(j = cJSON_Parse(a.s + 12));
	cJSON_Delete(j);
	/* A record that fits is not cut. */
	long_record(&rec, 3000, 10);
	assert_int_equal(agent(p, rec.s, rec.len, 0, &a), RENDER_OK);
	j = win_json(&a);
	assert_null(strstr(member(j, "Event"), "Sysmonfwd"));
	cJSON_Delete(j);
	strbuf_free(&rec);
	strbuf_free(&a);
	event_parser_free(p);
}

/*
 * The model itself, against what Wazuh shows: each of Wazuh's decoded
 * Sysmon rule-test fixtures (ruleset/testing/tests/sysmon*.ini, v4.14.7)
 * decoded again from the agent message it implies gives it back, member
 * for member (System names, severityValue, eventdata names and dropping,
 * message through wstr_unescape_json()).
 */
static void
model_gives_back_wazuhs_own_fixtures(void **state)
{
	(void)state;
	assert_int_equal(run_model("--fixtures", CORPUS_DIR
	    "/reference/wazuh-ruleset-tests"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    windows_record_goes_as_the_windows_agent_sends_it),
		cmocka_unit_test(
		    linux_records_errors_gaps_and_heartbeats_go_on_queue_1),
		cmocka_unit_test(oversize_records_are_cut_inside_the_xml),
		cmocka_unit_test(model_gives_back_wazuhs_own_fixtures),
		cmocka_unit_test(corpus_agent_path_decodes_to_the_api_event),
	};

	log_init("test_render_wazuh_agent", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
