/*
 * test_redact.c - the redactor of [redact:NAME] sections (agent/policy/
 * redact.c) on real record shapes (a Windows Sysmon EventID 1 of the
 * corpus and a Sysmon for Linux one, their command lines edited), and the
 * configuration checks of those sections (config.c).
 *
 * Every expected token below was computed outside this code, with
 *   printf '%s' VALUE | openssl dgst -sha256 -hmac KEY
 * (the first 16 hex digits), KEY being TEST_KEY: a fixed vector, so the
 * tokens are also those of every earlier and later run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "policy.h"

#define TEST_KEY	"sysmonfwd-test-key-0123456789abcdef"

/* HMAC-SHA256 under TEST_KEY, first 16 hex digits (openssl dgst). */
#define H_CJK		"hmac:d9ded600a7b4431c"	/* 机密会议纪要 */
#define H_U88765	"hmac:d667d987d096f99d"	/* u_88765 */
#define H_SAYHI		"hmac:cb73fa72343149ad"	/* say "hi" now */
#define H_U1		"hmac:ecfe1f3ce7909129"	/* u_1 */
#define H_ABC_Q		"hmac:a25bd5d39ca8fd09"	/* a "b" c */
#define H_CDIR		"hmac:371ca581e5d35521"	/* C:\dir\ */
#define H_A		"hmac:8ce10cdfd3245d19"	/* a */
#define H_B		"hmac:e0009e433fbd3016"	/* b */
#define H_A_B		"hmac:86ab1f9acb9821b3"	/* a b */
#define H_X		"hmac:3ffbc69bd7d5d868"	/* x */
#define H_CJK2		"hmac:54863d1c733ef3e3"	/* 机密 会议 */
#define H_ABC		"hmac:d0c42ba58fabe205"	/* abc */
#define H_SECRET	"hmac:2e769146afbf7d70"	/* secret */
#define H_HUNTER2	"hmac:4b7b87440ba2e163"	/* hunter2 */

/* A Windows EventID 1 of the corpus (IEWIN7, record 3), cut short. */
#define WIN_HEAD "<Event xmlns='http://schemas.microsoft.com/win/2004/08/" \
	"events/event'><System><Provider Name='Microsoft-Windows-Sysmon' " \
	"Guid='{5770385F-C22A-43E0-BF4C-06F5698FFBD9}'/><EventID>1</EventID>" \
	"<Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode>" \
	"<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime=" \
	"'2019-04-18T16:55:37.125139200Z'/><EventRecordID>3</EventRecordID>" \
	"<Correlation/><Execution ProcessID='3192' ThreadID='3288'/><Channel>" \
	"Microsoft-Windows-Sysmon/Operational</Channel><Computer>IEWIN7" \
	"</Computer><Security UserID='S-1-5-18'/></System><EventData>" \
	"<Data Name='RuleName'></Data><Data Name='UtcTime'>2019-04-18 " \
	"16:55:37.014</Data><Data Name='ProcessId'>3192</Data>" \
	"<Data Name='Image'>C:\\Python39\\python.exe</Data>"
#define WIN_MID "<Data Name='CurrentDirectory'>C:\\Windows\\system32\\" \
	"</Data><Data Name='User'>NT AUTHORITY\\SYSTEM</Data>" \
	"<Data Name='ParentImage'>C:\\Windows\\System32\\cmd.exe</Data>"
#define WIN_TAIL "</EventData></Event>"

/* A Sysmon for Linux EventID 1 of the corpus (syslog line), cut short. */
#define LNX_HEAD "Oct 24 17:05:46 james-ubuntu-demo sysmon: <Event><System>" \
	"<Provider Name=\"Linux-Sysmon\" Guid=\"{ff032593-a8d3-4f13-b0d6-" \
	"01fc615a0f97}\"/><EventID>1</EventID><Version>5</Version><Level>4" \
	"</Level><Task>1</Task><Opcode>0</Opcode><Keywords>" \
	"0x8000000000000000</Keywords><TimeCreated SystemTime=" \
	"\"2021-10-24T17:05:46.710002000Z\"/><EventRecordID>7</EventRecordID>" \
	"<Correlation/><Execution ProcessID=\"3099\" ThreadID=\"3099\"/>" \
	"<Channel>Linux-Sysmon/Operational</Channel><Computer>" \
	"james-ubuntu-demo</Computer><Security UserId=\"0\"/></System>" \
	"<EventData><Data Name=\"RuleName\">-</Data>" \
	"<Data Name=\"Image\">/usr/bin/python3</Data>"
#define LNX_TAIL "<Data Name=\"ParentImage\">/bin/bash</Data></EventData>" \
	"</Event>"

struct t {
	char			 dir[64];
	char			 key[96];
	struct config		*cfg;
	struct redactor		*r;
	struct event_parser	*ep;
	struct strbuf		 out;
};

static struct t T;

static void
write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Load the [redact:] sections text (plus an input and an output). */
static int
load(const char *sections, struct config **cfg, struct config_diag *d)
{
	char text[4096];

	snprintf(text, sizeof(text), "[input:in]\ntype = file\npath = -\n"
	    "[output:o]\ntype = stdout\n%s", sections);
	return config_load_string("t.conf", text, cfg, d);
}

/* Set up the redactor of sections; fails the test on any problem. */
static void
use(const char *sections)
{
	struct config_diag d = { 0 };
	char text[2048];

	redact_free(T.r);
	T.r = NULL;
	config_free(T.cfg);
	T.cfg = NULL;
	/* "KEY" in sections stands for the key file's path. */
	{
		const char *p = strstr(sections, "KEY");
		if (p != NULL)
			snprintf(text, sizeof(text), "%.*s%s%s",
			    (int)(p - sections), sections, T.key, p + 3);
		else
			snprintf(text, sizeof(text), "%s", sections);
	}
	if (load(text, &T.cfg, &d) != 0) {
		for (size_t i = 0; i < d.n; i++)
			print_error("%s\n", d.msgs[i]);
		fail_msg("configuration refused");
	}
	config_diag_free(&d);
	assert_int_equal(redact_new(T.cfg, &T.r, NULL, NULL), 0);
	assert_non_null(T.r);
}

static int
setup(void **state)
{
	char path[128];

	(void)state;
	memset(&T, 0, sizeof(T));
	snprintf(T.dir, sizeof(T.dir), "/tmp/test_redact-XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	snprintf(T.key, sizeof(T.key), "%s/key", T.dir);
	write_text(T.key, TEST_KEY "\n", 0600);
	snprintf(path, sizeof(path), "%s/key-644", T.dir);
	write_text(path, TEST_KEY "\n", 0644);
	assert_int_equal(event_parser_new(&T.ep), 0);
	return 0;
}

static int
teardown(void **state)
{
	char path[128];

	(void)state;
	redact_free(T.r);
	config_free(T.cfg);
	event_parser_free(T.ep);
	strbuf_free(&T.out);
	unlink(T.key);
	snprintf(path, sizeof(path), "%s/key-644", T.dir);
	unlink(path);
	rmdir(T.dir);
	return 0;
}

/*
 * Redact raw; return the record after it (rewritten or not) and check
 * that it still parses when it did (unless !parsed).  *changed says.
 */
static const char *
run(const char *raw, bool parsed, bool *changed)
{
	struct sysmon_event ev;
	struct event_tags tags = { 0 };
	char err[256];
	int rc;

	strbuf_reset(&T.out);
	if (parsed) {
		assert_int_equal(event_parse(T.ep, raw, strlen(raw), &ev, err,
		    sizeof(err)), 0);
		rc = redact_apply(T.r, "in", &ev, raw, strlen(raw), &T.out,
		    &tags);
	} else {
		rc = redact_apply(T.r, "in", NULL, raw, strlen(raw), &T.out,
		    &tags);
	}
	assert_true(rc == 0 || rc == 1);
	*changed = rc == 1;
	assert_int_equal(event_tags_has(&tags, REDACT_TAG), rc == 1);
	if (rc == 0) {
		assert_int_equal(T.out.len, 0);
		return raw;
	}
	return T.out.s;
}

/* The decoded value of Data Name=field in record raw (parsed). */
static const char *
field(const char *raw, const char *name)
{
	static char v[4096];
	struct sysmon_event ev;
	char err[256];

	if (event_parse(T.ep, raw, strlen(raw), &ev, err, sizeof(err)) != 0)
		fail_msg("does not parse (%s): %s", err, raw);
	for (size_t i = 0; i < ev.ndata; i++)
		if (strcmp(ev.data[i].name, name) == 0) {
			snprintf(v, sizeof(v), "%s", ev.data[i].value);
			return v;
		}
	fail_msg("no field %s", name);
	return NULL;
}

/* A Windows record with these (XML-escaped) command lines. */
static const char *
win(const char *cmd, const char *parent)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf), WIN_HEAD "<Data Name='CommandLine'>%s"
	    "</Data>" WIN_MID "<Data Name='ParentCommandLine'>%s</Data>"
	    WIN_TAIL, cmd, parent);
	return buf;
}

static const char *
lnx(const char *cmd, const char *parent)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf), LNX_HEAD "<Data Name=\"CommandLine\">%s"
	    "</Data><Data Name=\"ParentCommandLine\">%s</Data>" LNX_TAIL, cmd,
	    parent);
	return buf;
}

/* CommandLine of win(cmd, "-") after redaction must read want. */
static void
check_win(const char *cmd, const char *want)
{
	bool changed;
	const char *o = run(win(cmd, "-"), true, &changed);

	assert_string_equal(field(o, "CommandLine"), want);
	assert_string_equal(field(o, "ParentCommandLine"), "-");
	assert_string_equal(field(o, "Image"), "C:\\Python39\\python.exe");
}

static const char *ARGS_HMAC = "[redact:args]\narguments = --text, --user_id\n"
    "replace = hmac\nkey_file = KEY\n";

static void
windows_cjk(void **state)
{
	(void)state;
	use(ARGS_HMAC);
	check_win("python app.py --text 机密会议纪要 --user_id u_88765",
	    "python app.py --text " H_CJK " --user_id " H_U88765);
}

static void
windows_quoted_spaces_and_escaped_quotes(void **state)
{
	bool changed;
	const char *o;

	(void)state;
	use(ARGS_HMAC);
	/* "say \"hi\" now" in XML: the quotes are &quot;. */
	check_win("&quot;C:\\Python39\\python.exe&quot; app.py --text "
	    "&quot;say \\&quot;hi\\&quot; now&quot; --user_id u_1",
	    "\"C:\\Python39\\python.exe\" app.py --text " H_SAYHI
	    " --user_id " H_U1);
	/* "" inside quotes is a quote (MSVC 2008+). */
	check_win("app.py --text &quot;a &quot;&quot;b&quot;&quot; c&quot;",
	    "app.py --text " H_ABC_Q);
	/* 2n backslashes before a quote: n, and the quote closes. */
	check_win("app.py --text &quot;C:\\dir\\\\&quot; x",
	    "app.py --text " H_CDIR " x");
	/* The same value, quoted or not, gives the same token. */
	check_win("app.py --text &quot;abc&quot;", "app.py --text " H_ABC);
	check_win("app.py --text abc", "app.py --text " H_ABC);
	check_win("app.py --text a&quot; &quot;b", "app.py --text " H_A_B);
	/* The raw XML keeps every other byte, entities included. */
	o = run(win("&quot;C:\\Python39\\python.exe&quot; app.py --text "
	    "&quot;a b&quot; &amp;&amp; echo &lt;ok&gt;", "-"), true,
	    &changed);
	assert_true(changed);
	assert_non_null(strstr(o, "<Data Name='CommandLine'>&quot;C:\\Python39"
	    "\\python.exe&quot; app.py --text " H_A_B " &amp;&amp; echo "
	    "&lt;ok&gt;</Data>"));
	assert_null(strstr(o, "a b"));
}

static void
windows_repeated_end_and_equals(void **state)
{
	bool changed;

	(void)state;
	use(ARGS_HMAC);
	check_win("app.py --text a --text b --text a",
	    "app.py --text " H_A " --text " H_B " --text " H_A);
	/* At the end of the line: no value, nothing to replace. */
	run(win("app.py --user_id", "-"), true, &changed);
	assert_false(changed);
	check_win("app.py --user_id u_1 --text", "app.py --user_id " H_U1
	    " --text");
	/* NAME=VALUE, quoted or not: written NAME=token. */
	check_win("app.py --text=abc", "app.py --text=" H_ABC);
	check_win("app.py &quot;--text=a b&quot; --user_id=u_1",
	    "app.py --text=" H_A_B " --user_id=" H_U1);
	check_win("app.py --text=", "app.py --text=hmac:6cd2e0f13fb1ff44");
	/* Near names are not names. */
	run(win("app.py --textual a --user_idx b -text c", "-"), true,
	    &changed);
	assert_false(changed);
	/* argv[0] is never a name. */
	run(win("--text a", "-"), true, &changed);
	assert_false(changed);
}

static void
windows_value_that_is_a_name(void **state)
{
	(void)state;
	use(ARGS_HMAC);
	/* --text has no value: --user_id is a name; its value x goes. */
	check_win("app.py --text --user_id x", "app.py --text --user_id "
	    H_X);
	check_win("app.py --text --text a", "app.py --text --text " H_A);
	/* Anything else after a name is its value, dashes or not. */
	check_win("app.py --text -v x", "app.py --text "
	    "hmac:8595467b962a261d x");
}

static void
entities_and_cdata(void **state)
{
	bool changed;
	const char *o;

	(void)state;
	use(ARGS_HMAC);
	/* Numeric entities decode to the same value, the same token. */
	check_win("app.py --text &#x673A;&#x5BC6;&#20250;&#35758;纪要",
	    "app.py --text " H_CJK);
	/* A CDATA section is text like any other. */
	o = run(win("<![CDATA[app.py --text \"a b\" --user_id u_1]]>", "-"),
	    true, &changed);
	assert_true(changed);
	assert_string_equal(field(o, "CommandLine"), "app.py --text "
	    H_A_B " --user_id " H_U1);
	assert_null(strstr(o, "u_1]"));
	/* Any provider's field: a Security 4688 record's CommandLine. */
	o = run("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/"
	    "event'><System><Provider Name='Microsoft-Windows-Security-"
	    "Auditing'/><EventID>4688</EventID><Channel>Security</Channel>"
	    "<Computer>h</Computer></System><EventData><Data Name="
	    "'CommandLine'>app.py --user_id u_1</Data></EventData></Event>",
	    true, &changed);
	assert_true(changed);
	assert_string_equal(field(o, "CommandLine"), "app.py --user_id " H_U1);
}

static void
rendered_message(void **state)
{
	char raw[4096];
	bool changed;
	const char *o;
	struct sysmon_event ev;
	char err[256];

	(void)state;
	use(ARGS_HMAC);
	/* RenderedXml: the message repeats CommandLine and ParentCommandLine
	 * on lines of their own (CR LF as character references here). */
	snprintf(raw, sizeof(raw), "%.*s<RenderingInfo Culture='en-US'>"
	    "<Message>Process Create:&#13;&#10;RuleName: -&#13;&#10;"
	    "CommandLine: python app.py --text 机密会议纪要 --user_id u_88765"
	    "&#13;&#10;CurrentDirectory: C:\\&#13;&#10;ParentCommandLine: "
	    "cmd.exe /c &quot;app.py --text a b&quot;</Message><Level>"
	    "Information</Level></RenderingInfo></Event>",
	    (int)(strlen(win("python app.py --text 机密会议纪要", "-")) -
	    strlen("</Event>")), win("python app.py --text 机密会议纪要", "-"));
	o = run(raw, true, &changed);
	assert_true(changed);
	assert_null(strstr(o, "机密"));
	assert_null(strstr(o, "u_88765"));
	assert_int_equal(event_parse(T.ep, o, strlen(o), &ev, err,
	    sizeof(err)), 0);
	assert_non_null(ev.message);
	assert_string_equal(ev.message, "Process Create:\r\nRuleName: -\r\n"
	    "CommandLine: python app.py --text " H_CJK " --user_id " H_U88765
	    "\r\nCurrentDirectory: C:\\\r\nParentCommandLine: cmd.exe /c "
	    "\"app.py --text " H_A " b\"");
}

static void
parent_command_line(void **state)
{
	bool changed;
	const char *o;

	(void)state;
	use(ARGS_HMAC);
	o = run(win("notepad.exe", "cmd.exe /c &quot;python app.py --text "
	    "secret --user_id u_88765&quot;"), true, &changed);
	assert_true(changed);
	assert_string_equal(field(o, "CommandLine"), "notepad.exe");
	/* A quoted command line inside an argument is split too. */
	assert_string_equal(field(o, "ParentCommandLine"), "cmd.exe /c "
	    "\"python app.py --text " H_SECRET " --user_id " H_U88765 "\"");
	/* fields = CommandLine only: ParentCommandLine stays. */
	use("[redact:one]\nfields = CommandLine\narguments = --text\n"
	    "key_file = KEY\n");
	o = run(win("a.exe --text x", "b.exe --text x"), true, &changed);
	assert_string_equal(field(o, "CommandLine"), "a.exe --text " H_X);
	assert_string_equal(field(o, "ParentCommandLine"), "b.exe --text x");
}

static void
linux_argv(void **state)
{
	bool changed;
	const char *o;

	(void)state;
	use(ARGS_HMAC);
	/* argv joined by spaces: the value runs to the next -word. */
	o = run(lnx("python3 app.py --text 机密 会议 --user_id u_1 -v",
	    "/bin/bash -c python3 app.py --text 机密会议纪要"), true,
	    &changed);
	assert_true(changed);
	assert_string_equal(field(o, "CommandLine"), "python3 app.py --text "
	    H_CJK2 " --user_id " H_U1 " -v");
	assert_string_equal(field(o, "ParentCommandLine"), "/bin/bash -c "
	    "python3 app.py --text " H_CJK);
	assert_null(strstr(o, "机密"));
	/* Quotes mean nothing there; NAME=VALUE; a name as value. */
	o = run(lnx("app --text=a b --user_id --text x", "-"), true,
	    &changed);
	assert_string_equal(field(o, "CommandLine"), "app --text=" H_A_B
	    " --user_id --text " H_X);
	/* The corpus's own command lines hold none of the names. */
	run(lnx("/bin/sh -c test -e /run/systemd/system || SERVICE_MODE=1 "
	    "/sbin/e2scrub_all -A -r", "-"), true, &changed);
	assert_false(changed);
}

static void
remove_mode(void **state)
{
	(void)state;
	use("[redact:rm]\narguments = --text, --user_id\nreplace = remove\n");
	check_win("python app.py --text 机密会议纪要 --user_id u_88765",
	    "python app.py --text [redacted] --user_id [redacted]");
}

static void
pattern_mode(void **state)
{
	bool changed;
	const char *o;

	(void)state;
	/* Every match replaced. */
	use("[redact:ids]\npattern = u_[0-9]+\nkey_file = KEY\n");
	check_win("app.py --user_id u_88765 --x u_1",
	    "app.py --user_id " H_U88765 " --x " H_U1);
	/* With a group: only the group. */
	use("[redact:pw]\npattern = (?i)password[:=](\\S+)\n"
	    "replace = remove\n");
	check_win("app.exe PASSWORD=hunter2 x",
	    "app.exe PASSWORD=[redacted] x");
	/* The pattern sees decoded text: &quot; is a quote. */
	use("[redact:q]\npattern = \"([^\"]*)\"\nkey_file = KEY\n");
	check_win("app.exe &quot;hunter2&quot;", "app.exe \"" H_HUNTER2 "\"");
	/* Arguments and pattern together: one token per span, never a
	 * token of a token. */
	use("[redact:both]\narguments = --user_id\npattern = u_[0-9]+\n"
	    "key_file = KEY\n[redact:again]\narguments = --user_id\n"
	    "pattern = [0-9a-f]{16}\nreplace = remove\n");
	o = run(win("app.py --user_id u_88765", "-"), true, &changed);
	assert_true(changed);
	assert_string_equal(field(o, "CommandLine"), "app.py --user_id "
	    H_U88765);
}

static void
pattern_limits(void **state)
{
	char cmd[3000];
	bool changed;
	const char *o;
	struct redact_stats st;

	(void)state;
	/* Catastrophic backtracking: over the match limit, the whole
	 * value is replaced. */
	use("[redact:slow]\npattern = (a+)+$\nreplace = remove\n");
	memset(cmd, 'a', 2000);
	memcpy(cmd + 2000, "b", 2);
	o = run(win(cmd, "-"), true, &changed);
	assert_true(changed);
	assert_string_equal(field(o, "CommandLine"), "[redacted]");
	redact_get_stats(T.r, &st);
	assert_true(st.limit_hits >= 1);
	/* More than REDACT_SPANS_MAX replacements: the whole value once. */
	use(ARGS_HMAC);
	memcpy(cmd, "app.py", 7);
	for (size_t i = 0, n = 6; i < 100; i++, n += 9)
		memcpy(cmd + n, " --text a", 10);
	o = run(win(cmd, "-"), true, &changed);
	assert_true(changed);
	assert_int_equal(strncmp(field(o, "CommandLine"), "hmac:", 5), 0);
	assert_int_equal(strlen(field(o, "CommandLine")), 21);
}

static void
unparsed_records(void **state)
{
	char raw[4096];
	bool changed;
	const char *o;

	(void)state;
	use(ARGS_HMAC);
	/* A line cut in the middle of its command line. */
	snprintf(raw, sizeof(raw), WIN_HEAD "<Data Name='CommandLine'>"
	    "python app.py --text 机密会议纪要 --user_id u_8");
	o = run(raw, false, &changed);
	assert_true(changed);
	assert_null(strstr(o, "机密"));
	assert_null(strstr(o, "u_8"));
	assert_non_null(strstr(o, "--text " H_CJK " --user_id "));
	/* Not XML at all: the words after the names go. */
	o = run("garbage python app.py --text secret --user_id u_1", false,
	    &changed);
	assert_true(changed);
	assert_string_equal(o, "garbage python app.py --text " H_SECRET
	    " --user_id " H_U1);
	/* Broken elsewhere: the names in other elements are caught too. */
	o = run("<Event><EventData><Data Name='Foo'>--text secret</Data>"
	    "<Bad></EventData>", false, &changed);
	assert_true(changed);
	assert_null(strstr(o, ">secret<"));
	assert_non_null(strstr(o, "--text " H_SECRET "</Data>"));
	/* The pattern on the whole raw text. */
	use("[redact:pw]\npattern = hunter[0-9]\nreplace = remove\n");
	o = run("junk hunter2 <Data Name='X'>hunter3</Data>", false,
	    &changed);
	assert_true(changed);
	assert_string_equal(o, "junk [redacted] <Data Name='X'>[redacted]"
	    "</Data>");
}

static void
untouched_records(void **state)
{
	bool changed;
	const char *raw;

	(void)state;
	use(ARGS_HMAC);
	raw = win("python app.py --verbose", "cmd.exe");
	assert_ptr_equal(run(raw, true, &changed), raw);
	assert_false(changed);
	/* Image is not a field of the rule. */
	use("[redact:img]\nfields = Image\narguments = --text\n"
	    "key_file = KEY\n");
	raw = win("app.py --text a", "-");
	assert_ptr_equal(run(raw, true, &changed), raw);
}

struct acc {
	uint64_t	records, values;
	int		rules;
};

static void
acc_rule(void *arg, const char *rule, uint64_t records, uint64_t values)
{
	struct acc *a = arg;

	assert_string_equal(rule, "args");
	a->records += records;
	a->values += values;
	a->rules++;
}

static void
may_change(void **state)
{
	const char *raw;

	(void)state;
	use(ARGS_HMAC);
	/* None of the names: the policy need not parse it for the redactor. */
	raw = win("python app.py --verbose", "cmd.exe");
	assert_false(redact_may_change(T.r, raw, strlen(raw)));
	raw = win("python app.py --user_id u_1", "cmd.exe");
	assert_true(redact_may_change(T.r, raw, strlen(raw)));
	/* A numeric entity could spell a name: looked at. */
	raw = win("python app.py &#45;-text x", "cmd.exe");
	assert_true(redact_may_change(T.r, raw, strlen(raw)));
	/* A pattern can match anything: always looked at. */
	use("[redact:p]\npattern = u_[0-9]+\nreplace = remove\n");
	raw = win("python app.py", "cmd.exe");
	assert_true(redact_may_change(T.r, raw, strlen(raw)));
	assert_false(redact_may_change(NULL, raw, strlen(raw)));
}

static void
counters(void **state)
{
	struct redact_stats st;
	struct acc a = { 0, 0, 0 };
	bool changed;

	(void)state;
	use(ARGS_HMAC);
	run(win("app.py --text a --user_id b", "x --text c"), true, &changed);
	run(win("app.py", "x"), true, &changed);
	redact_get_stats(T.r, &st);
	assert_int_equal(st.records, 1);
	assert_int_equal(st.values, 3);
	redact_each(T.r, acc_rule, &a);
	assert_int_equal(a.rules, 1);
	assert_int_equal(a.records, 1);
	assert_int_equal(a.values, 3);
}

static void
config_errors(void **state)
{
	struct config *cfg = NULL;
	struct config_diag d = { 0 };
	char text[512], path[128];
	bool bad_re = false, no_key = false, mode = false, nothing = false;

	(void)state;
	snprintf(path, sizeof(path), "%s/key-644", T.dir);
	snprintf(text, sizeof(text),
	    "[redact:a]\narguments = --text\npattern = (ab\n"
	    "key_file = %s\n"
	    "[redact:b]\narguments = --text\n"
	    "[redact:c]\narguments = --text\nkey_file = %s\n"
	    "[redact:d]\narguments =\nreplace = remove\n", T.key, path);
	assert_int_equal(load(text, &cfg, &d), -EINVAL);
	assert_null(cfg);
	for (size_t i = 0; i < d.n; i++) {
		const char *m = d.msgs[i];

		print_message("%s\n", m);
		/* [input:in] 3 lines, [output:o] 2: [redact:a] is at 6. */
		if (strcmp(m, "t.conf:8: pattern: missing closing parenthesis "
		    "at offset 3") == 0)
			bad_re = true;
		if (strncmp(m, "t.conf:10: key_file: replace = hmac needs "
		    "key_file in [redact:b]", 63) == 0)
			no_key = true;
		if (strstr(m, "t.conf:14: key_file:") == m &&
		    strstr(m, "readable by other users") != NULL &&
		    strstr(m, "chmod 600") != NULL)
			mode = true;
		if (strcmp(m, "t.conf:16: arguments: empty and no pattern in "
		    "[redact:d]: nothing to redact") == 0)
			nothing = true;
		/* The key never appears in a message. */
		assert_null(strstr(m, TEST_KEY));
	}
	assert_true(bad_re);
	assert_true(no_key);
	assert_true(mode);
	assert_true(nothing);
	config_diag_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(windows_cjk),
		cmocka_unit_test(windows_quoted_spaces_and_escaped_quotes),
		cmocka_unit_test(windows_repeated_end_and_equals),
		cmocka_unit_test(windows_value_that_is_a_name),
		cmocka_unit_test(entities_and_cdata),
		cmocka_unit_test(rendered_message),
		cmocka_unit_test(parent_command_line),
		cmocka_unit_test(linux_argv),
		cmocka_unit_test(remove_mode),
		cmocka_unit_test(pattern_mode),
		cmocka_unit_test(pattern_limits),
		cmocka_unit_test(unparsed_records),
		cmocka_unit_test(untouched_records),
		cmocka_unit_test(may_change),
		cmocka_unit_test(counters),
		cmocka_unit_test(config_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
