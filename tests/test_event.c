/*
 * test_event.c - the event room (agent/event): the Sysmon event model
 * (expat parser, and its fast path checked against expat alone on the
 * corpus and on mutations of it), the JSON writer, the string buffer and the time helpers.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "event.h"
#include "base.h"
#include "unit_records.h"

static void
event_parses_windows_record_exactly(void **state)
{
	struct event_parser *p;
	struct sysmon_event ev;
	char err[256];

	(void)state;
	assert_int_equal(event_parser_new(&p), 0);
	assert_int_equal(event_parse(p, win_line, strlen(win_line), &ev, err,
	    sizeof(err)), 0);
	assert_string_equal(ev.provider_name, "Microsoft-Windows-Sysmon");
	assert_string_equal(ev.provider_guid,
	    "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}");
	assert_string_equal(ev.event_id, "1");
	assert_string_equal(ev.version, "5");
	assert_string_equal(ev.level, "4");
	assert_string_equal(ev.task, "1");
	assert_string_equal(ev.opcode, "0");
	assert_string_equal(ev.keywords, "0x8000000000000000");
	assert_string_equal(ev.time_created, "2019-04-30T20:26:51.793589000Z");
	assert_string_equal(ev.record_id, "9804");
	assert_string_equal(ev.pid, "1964");
	assert_string_equal(ev.tid, "1664");
	assert_string_equal(ev.channel, "Microsoft-Windows-Sysmon/Operational");
	assert_string_equal(ev.computer, "IEWIN7");
	assert_string_equal(ev.user_id, "S-1-5-18");
	assert_null(ev.activity_id);
	assert_false(ev.linux_sysmon);
	assert_int_equal(ev.prefix_len, 0);
	assert_int_equal(ev.ndata, 6);
	assert_string_equal(data_value(&ev, "RuleName"), "");
	assert_string_equal(data_value(&ev, "Image"),
	    "C:\\Windows\\System32\\cmd.exe");
	assert_string_equal(data_value(&ev, "CommandLine"),
	    "cmd /c \"echo <x> & a\tb\nc\"");
	/* A value that is only a newline is kept, not stripped. */
	assert_string_equal(data_value(&ev, "SourceImage"), "\n");
	assert_string_equal(data_value(&ev, "Description"),
	    "\xC2\xAE \xEC\xA3\xBC\xEC\x8B\x9D");
	assert_string_equal(data_value(&ev, "User"), "-");
	event_parser_free(p);
}

static void
event_parses_linux_syslog_line(void **state)
{
	struct event_parser *p;
	struct sysmon_event ev;
	char err[256];

	(void)state;
	assert_int_equal(event_parser_new(&p), 0);
	assert_int_equal(event_parse(p, linux_line, strlen(linux_line), &ev,
	    err, sizeof(err)), 0);
	assert_true(ev.linux_sysmon);
	assert_string_equal(ev.user_id, "0");
	assert_string_equal(ev.provider_name, "Linux-Sysmon");
	assert_string_equal(ev.channel, "Linux-Sysmon/Operational");
	assert_string_equal(ev.record_id, "1");
	assert_int_equal(ev.prefix_len, strlen("Oct 24 17:05:38 "
	    "james-ubuntu-demo sysmon: "));
	assert_string_equal(data_value(&ev, "State"), "Started");
	event_parser_free(p);
}

static void
event_keeps_userdata_and_unnamed_data(void **state)
{
	static const char rec[] =
	    "<Event><System><EventID>1102</EventID><Channel>Security</Channel>"
	    "<Correlation ActivityID='{A}' RelatedActivityID='{B}'/></System>"
	    "<UserData><LogFileCleared xmlns='x'><SubjectUserName>bob"
	    "</SubjectUserName><SubjectDomainName>D</SubjectDomainName>"
	    "</LogFileCleared></UserData>"
	    "<RenderingInfo Culture='en-US'><Message>The log was cleared."
	    "</Message></RenderingInfo></Event>";
	static const char rec2[] =
	    "<Event><System><EventID>7</EventID></System><EventData>"
	    "<Data>first</Data><Data>second</Data><Binary>00FF</Binary>"
	    "</EventData></Event>";
	struct event_parser *p;
	struct sysmon_event ev;
	char err[256];

	(void)state;
	assert_int_equal(event_parser_new(&p), 0);
	assert_int_equal(event_parse(p, rec, strlen(rec), &ev, err,
	    sizeof(err)), 0);
	assert_true(ev.user_data);
	assert_int_equal(ev.ndata, 2);
	assert_string_equal(data_value(&ev, "SubjectUserName"), "bob");
	assert_string_equal(ev.activity_id, "{A}");
	assert_string_equal(ev.related_activity_id, "{B}");
	assert_string_equal(ev.message, "The log was cleared.");
	assert_int_equal(event_parse(p, rec2, strlen(rec2), &ev, err,
	    sizeof(err)), 0);
	assert_int_equal(ev.ndata, 3);
	assert_string_equal(data_value(&ev, "param1"), "first");
	assert_string_equal(data_value(&ev, "param2"), "second");
	assert_string_equal(data_value(&ev, "Binary"), "00FF");
	event_parser_free(p);
}

static void
expect_parse_error(struct event_parser *p, const char *rec, size_t len,
    const char *needle)
{
	struct sysmon_event ev;
	char err[256];

	assert_int_equal(event_parse(p, rec, len, &ev, err, sizeof(err)),
	    -EINVAL);
	if (strstr(err, needle) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", needle, err);
}

static void
event_rejects_malformed_records_with_a_reason(void **state)
{
	struct event_parser *p;
	char cut[200];
	static const char bomb[] =
	    "<!DOCTYPE Event [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;"
	    "&a;&a;&a;&a;&a;&a;&a;\">]><Event><System><EventID>&b;</EventID>"
	    "</System></Event>";
	static const char bomb2[] =
	    "<Event><!DOCTYPE x [<!ENTITY a \"x\">]><System></System></Event>";

	(void)state;
	assert_int_equal(event_parser_new(&p), 0);
	memcpy(cut, win_line, 150);
	expect_parse_error(p, cut, 150, "XML error at column");
	expect_parse_error(p, "hello world", 11, "no <Event> element");
	expect_parse_error(p, "<Events><x/></Events>", 21,
	    "no <Event> element");
	expect_parse_error(p, "<Event><System></System></Event>", 32,
	    "has no <System><EventID>");
	expect_parse_error(p, "<Event><System><EventID>1</EventID></Sys>"
	    "</Event>", 49, "mismatched tag");
	expect_parse_error(p, "<Event><System><EventID>1</EventID></System>"
	    "</Event> trailing", 60, "junk after document element");
	expect_parse_error(p, "x <Event>\xff\xfe</Event>", 19, "XML error");
	expect_parse_error(p, "<Event>\0</Event>", 16, "NUL byte at column 8");
	/* The DOCTYPE sits before <Event>: it is outside what we parse,
	 * so the entity reference is undefined; never expanded. */
	expect_parse_error(p, bomb, strlen(bomb), "XML error");
	expect_parse_error(p, bomb2, strlen(bomb2), "XML error");
	/* The parser is reusable after errors. */
	{
		struct sysmon_event ev;
		char err[256];
		assert_int_equal(event_parse(p, win_line, strlen(win_line), &ev,
		    err, sizeof(err)), 0);
		assert_string_equal(ev.record_id, "9804");
	}
	event_parser_free(p);
}

static void
event_refuses_doctype_inside_record(void **state)
{
	struct event_parser *p;
	static const char rec[] =
	    "<Event xmlns='x'>"
	    "</Event>";

	(void)state;
	assert_int_equal(event_parser_new(&p), 0);
	/* DOCTYPE right at the start of what we parse is refused by name. */
	expect_parse_error(p, "<Event/>", 8, "has no <System><EventID>");
	expect_parse_error(p, rec, strlen(rec), "has no <System><EventID>");
	event_parser_free(p);
}

static void
event_find_start_needs_the_whole_tag(void **state)
{
	(void)state;
	assert_int_equal(event_find_start("<EventData>", 11), -1);
	assert_int_equal(event_find_start("ab <Event>", 10), 3);
	assert_int_equal(event_find_start("<EventX> <Event xmlns='a'>", 26), 9);
	assert_int_equal(event_find_start("<Event", 6), -1);
}

/* ---- the fast path against expat ------------------------------------------ */

/* A record, shown in a failure message: printable ASCII, the rest as \xNN. */
static const char *
shown(const char *s, size_t n)
{
	static char buf[4096];
	size_t o = 0;

	for (size_t i = 0; i < n && o + 8 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7F && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o,
			    "\\x%02X", c);
	}
	buf[o] = '\0';
	return buf;
}

static bool
same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/*
 * Parse rec with fast (the fast path, expat when it gives up) and with
 * slow (expat alone): the same return, the same error message, the same
 * event, field by field.  Return whether fast took the fast path.
 */
static bool
fast_same_as_expat(struct event_parser *fast, struct event_parser *slow,
    const char *rec, size_t len)
{
	struct sysmon_event a, b;
	char ea[256], eb[256];
	int ra, rb;
	const char *what = NULL;

	ea[0] = eb[0] = '\0';
	ra = event_parse(fast, rec, len, &a, ea, sizeof(ea));
	rb = event_parse(slow, rec, len, &b, eb, sizeof(eb));
	if (event_parser_was_fast(slow))
		fail_msg("expat_only took the fast path");
	if (ra != rb)
		fail_msg("fast %d (%s), expat %d (%s) on %s", ra, ea, rb, eb,
		    shown(rec, len));
	if (ra != 0) {
		if (strcmp(ea, eb) != 0)
			fail_msg("errors \"%s\" and \"%s\" on %s", ea, eb,
			    shown(rec, len));
		if (event_parser_was_fast(fast))
			fail_msg("an error on the fast path: %s",
			    shown(rec, len));
		return false;
	}
#define SAME(f)	if (what == NULL && !same_str(a.f, b.f)) what = #f
	SAME(provider_name); SAME(provider_guid); SAME(event_id);
	SAME(qualifiers); SAME(version); SAME(level); SAME(task);
	SAME(opcode); SAME(keywords); SAME(time_created); SAME(record_id);
	SAME(activity_id); SAME(related_activity_id); SAME(pid); SAME(tid);
	SAME(channel); SAME(computer); SAME(user_id); SAME(message);
#undef SAME
	if (what == NULL && (a.ndata != b.ndata || a.user_data != b.user_data ||
	    a.linux_sysmon != b.linux_sysmon || a.prefix_len != b.prefix_len))
		what = "ndata, user_data, linux_sysmon or prefix_len";
	for (size_t i = 0; what == NULL && i < a.ndata; i++)
		if (!same_str(a.data[i].name, b.data[i].name) ||
		    !same_str(a.data[i].value, b.data[i].value))
			what = "a data name or value";
	if (what != NULL)
		fail_msg("%s differs on %s", what, shown(rec, len));
	return event_parser_was_fast(fast);
}

struct lines {
	char	**v;
	size_t	*len;
	size_t	 n;
	size_t	 windows;	/* the first ones: windows-xml/ */
	size_t	 records;	/* then linux-syslog/, then configs/ */
};

/* Add every line of the files in dir whose names end in suffix. */
static void
lines_load(struct lines *l, const char *dir, const char *suffix)
{
	char path[1024];
	DIR *d;
	struct dirent *de;
	size_t files = 0;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		size_t k = strlen(de->d_name), cap = 0;
		char *line = NULL;
		ssize_t got;
		FILE *f;

		if (k < strlen(suffix) || strcmp(de->d_name + k -
		    strlen(suffix), suffix) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_non_null(f = fopen(path, "r"));
		while ((got = getline(&line, &cap, f)) > 0) {
			size_t n = (size_t)got;

			if (line[n - 1] == '\n')
				n--;
			assert_non_null(l->v = realloc(l->v, (l->n + 1) *
			    sizeof(*l->v)));
			assert_non_null(l->len = realloc(l->len, (l->n + 1) *
			    sizeof(*l->len)));
			assert_non_null(l->v[l->n] = malloc(n + 1));
			memcpy(l->v[l->n], line, n);
			l->v[l->n][n] = '\0';
			l->len[l->n++] = n;
		}
		free(line);
		fclose(f);
		files++;
	}
	closedir(d);
	assert_true(files > 0);
}

static void
lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->len);
}

static uint64_t
mut_rand(uint64_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 7;
	*st ^= *st << 17;
	return *st;
}

/* What the mutations put into records: what the fast path must either
 * read as expat does or give to expat. */
static const char *const mut_bytes = "<>&;#x/='\"] \t\r\n:!?-.\x01\x0B\x7F"
    "\x80\xBF\xC0\xC2\xE0\xED\xEF\xF0\xF4\xF5\xFF";
static const char *const mut_snippets[] = {
	"&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#10;", "&#13;",
	"&#9;", "&#x41;", "&#X41;", "&#x1F600;", "&#0;", "&#31;",
	"&#xD800;", "&#xFFFE;", "&#x10FFFF;", "&#x110000;", "&#;", "&#x;",
	"&foo;", "&amp", "&", "\r\n", "\r", "\n", "\t", "\r\r\n", "]]>",
	"]]", "<!-- c -->", "<![CDATA[x]]>", "<?pi x?>", "<!DOCTYPE x>",
	"\xC2\xA9", "\xC2\x80", "\xC1\xBF", "\xE0\x9F\xBF", "\xED\x9F\xBF",
	"\xED\xA0\x80", "\xEF\xBF\xBD", "\xEF\xBF\xBE", "\xEF\xBF\xBF",
	"\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xE2\x82",
	"<x/>", "<x>t</x>", "<Data>v</Data>", "<Data Name='n'>v</Data>",
	"<Data Name='a' Name='b'/>", "<Data Name='a'Foo='b'/>", "</Data>",
	"<a:b/>", "<_x-1.2/>", "<1x/>", "<x y=\"a\tb\r\nc\rd&#10;e\"/>",
	"<Message>m</Message>", "<EventID>9</EventID>", "<System>",
	"</System>", "<UserData><W><K>v</K></W></UserData>", " x='1'",
	"<EventData><Data>1</Data></EventData>", "<Binary>00</Binary>",
	"<x\xC3\xA9/>", "</Event>", "<Event>", "\xEF\xBB\xBF", "\0",
};

/* One mutation of rec (len bytes) into out; its length. */
static size_t
mutate(uint64_t *st, const char *rec, size_t len, char *out)
{
	size_t at = len == 0 ? 0 : (size_t)(mut_rand(st) % (len + 1));
	size_t n = 0;
	const char *ins;
	size_t ins_len;

	switch (mut_rand(st) % 3) {
	case 0:		/* a byte replaced */
		memcpy(out, rec, len);
		if (at < len)
			out[at] = mut_bytes[mut_rand(st) % strlen(mut_bytes)];
		return len;
	case 1:		/* a byte removed */
		memcpy(out, rec, at);
		if (at < len) {
			memcpy(out + at, rec + at + 1, len - at - 1);
			return len - 1;
		}
		return len;
	default:	/* a snippet inserted */
		n = mut_rand(st) % (sizeof(mut_snippets) /
		    sizeof(mut_snippets[0]));
		ins = mut_snippets[n];
		ins_len = ins[0] == '\0' ? 1 : strlen(ins);
		memcpy(out, rec, at);
		memcpy(out + at, ins, ins_len);
		memcpy(out + at + ins_len, rec + at, len - at);
		return len + ins_len;
	}
}

static void
event_fast_path_matches_expat_on_the_corpus(void **state)
{
	struct event_parser *fast, *slow;
	struct lines l = { 0 };
	size_t nfast = 0, nwinfast = 0, nmut = 0, nmutfast = 0;
	uint64_t st = 0x9E3779B97F4A7C15ull;
	char *buf;

	(void)state;
	assert_int_equal(event_parser_new(&fast), 0);
	assert_int_equal(event_parser_new(&slow), 0);
	event_parser_expat_only(slow, true);
	lines_load(&l, CORPUS_DIR "/windows-xml", ".xml.log");
	l.windows = l.n;
	lines_load(&l, CORPUS_DIR "/linux-syslog", ".log");
	lines_load(&l, CORPUS_DIR "/linux-syslog/wazuh-engine-sysmon-linux-"
	    "tests", "_input.txt");
	l.records = l.n;
	/* Sysmon configurations: XML that is not a record. */
	lines_load(&l, CORPUS_DIR "/configs", ".xml");
	assert_true(l.windows >= 800);
	for (size_t i = 0; i < l.n; i++) {
		bool f = fast_same_as_expat(fast, slow, l.v[i], l.len[i]);
		nfast += f;
		nwinfast += f && i < l.windows;
	}
	/* Real Windows records all take the fast path. */
	assert_int_equal(nwinfast, l.windows);
	/* Every record mutated, some many times: bytes replaced or removed,
	 * snippets inserted. */
	assert_non_null(buf = malloc(1 << 20));
	for (size_t i = 0; i < l.records; i++) {
		int rounds = i % 50 == 0 ? 400 : 24;

		if (l.len[i] + 64 > 1 << 20)
			continue;
		for (int r = 0; r < rounds; r++) {
			size_t n = mutate(&st, l.v[i], l.len[i], buf);
			/* And sometimes a second one on top. */
			if (r % 3 == 0 && n + 64 < 1 << 20) {
				char *two = malloc(n + 64);
				assert_non_null(two);
				n = mutate(&st, memcpy(two, buf, n), n, buf);
				free(two);
			}
			nmutfast += fast_same_as_expat(fast, slow, buf, n);
			nmut++;
		}
	}
	/* Truncations at every offset of a few records. */
	for (size_t i = 0; i < l.records; i += l.records / 4) {
		for (size_t n = 0; n <= l.len[i]; n++) {
			memcpy(buf, l.v[i], n);
			nmutfast += fast_same_as_expat(fast, slow, buf, n);
			nmut++;
		}
	}
	print_message("fast path: %zu of %zu corpus lines (%zu of %zu "
	    "windows-xml, %zu other records), %zu of %zu mutations\n", nfast,
	    l.n, nwinfast, l.windows, l.records - l.windows, nmutfast, nmut);
	/* The mutations must reach both paths to test anything. */
	assert_true(nmutfast > nmut / 10 && nmutfast < nmut - nmut / 10);
	free(buf);
	lines_free(&l);
	event_parser_free(fast);
	event_parser_free(slow);
}

static void
event_fast_path_reads_what_expat_reads(void **state)
{
	/* Each is read by the fast path (the test says so), with the
	 * values expat gives. */
	static const char *const fast_ok[] = {
		win_line, linux_line,
		"<Event><System><EventID>1</EventID></System></Event>\r\n",
		/* Attribute values: tab, newline, CR, CR LF a space each;
		 * references kept as they are. */
		"<Event><System><EventID>1</EventID><Provider Name=\"a\tb\r\n"
		"c\rd\ne&#9;f&#10;g&#13;h&amp;&lt;&gt;&quot;&apos;'\"/>"
		"</System></Event>",
		/* Text: CR LF and CR become LF; &#13; stays a CR. */
		"<Event><System><EventID>1\r\n2\r3\n4&#13;5&#x0000041;&#65;"
		"&#x1F600;\xF0\x9F\x98\x80\xEF\xBF\xBD]]</EventID></System>"
		"</Event>",
		/* Markup inside a value keeps its text; UserData; an unnamed
		 * Data; Binary; RenderingInfo; two EventData. */
		"<Event xmlns='x'><System><EventID>1<b>2</b>3</EventID>"
		"<Security UserID='S' UserId='L'/></System><EventData>"
		"<Data>a<i x='1'>b</i></Data><Data Name=''>e</Data><Binary>"
		"00</Binary><Data/></EventData><EventData><Data>c</Data>"
		"</EventData><UserData><W xmlns='y'><K>v</K><L/></W><W2>"
		"<M>w</M></W2></UserData><RenderingInfo Culture='en'>"
		"<Message>m\r\n</Message><Level>x</Level></RenderingInfo>"
		"</Event >\n\t \r\n",
		"<Event\n><System\t><EventID >7</EventID ></System></Event>",
	};
	struct event_parser *fast, *slow;
	struct sysmon_event ev;
	char err[256];

	(void)state;
	assert_int_equal(event_parser_new(&fast), 0);
	assert_int_equal(event_parser_new(&slow), 0);
	event_parser_expat_only(slow, true);
	for (size_t i = 0; i < sizeof(fast_ok) / sizeof(fast_ok[0]); i++)
		if (!fast_same_as_expat(fast, slow, fast_ok[i],
		    strlen(fast_ok[i])))
			fail_msg("not on the fast path: %s", fast_ok[i]);
	assert_int_equal(event_parse(fast, fast_ok[3], strlen(fast_ok[3]),
	    &ev, err, sizeof(err)), 0);
	assert_string_equal(ev.provider_name,
	    "a b c d e\tf\ng\rh&<>\"''");
	assert_int_equal(event_parse(fast, fast_ok[4], strlen(fast_ok[4]),
	    &ev, err, sizeof(err)), 0);
	assert_string_equal(ev.event_id, "1\n2\n3\n4\r5AA\xF0\x9F\x98\x80"
	    "\xF0\x9F\x98\x80\xEF\xBF\xBD]]");
	assert_int_equal(event_parse(fast, fast_ok[5], strlen(fast_ok[5]),
	    &ev, err, sizeof(err)), 0);
	assert_true(event_parser_was_fast(fast));
	assert_string_equal(ev.event_id, "123");
	assert_string_equal(ev.user_id, "L");
	assert_string_equal(ev.message, "m\n");
	assert_true(ev.user_data);
	assert_int_equal(ev.ndata, 8);
	assert_string_equal(ev.data[0].name, "param1");
	assert_string_equal(ev.data[0].value, "ab");
	assert_string_equal(ev.data[1].name, "");
	assert_string_equal(ev.data[2].name, "Binary");
	assert_string_equal(ev.data[3].name, "param2");
	assert_string_equal(ev.data[3].value, "");
	assert_string_equal(ev.data[4].name, "param3");
	assert_string_equal(ev.data[5].name, "K");
	assert_string_equal(ev.data[6].name, "L");
	assert_string_equal(ev.data[7].name, "M");
	event_parser_free(fast);
	event_parser_free(slow);
}

static void
event_fast_path_gives_up_where_it_should(void **state)
{
	/* Each goes to expat (well-formed or not), with expat's result. */
	static const char *const slow[] = {
		"<Event><System><EventID>1</EventID><!-- c --></System></Event>",
		"<Event><System><EventID><![CDATA[1]]></EventID></System></Event>",
		"<Event><System><EventID>1</EventID><?pi?></System></Event>",
		"<Event><System><EventID>1</EventID></System></Event><!--c-->",
		"<Event><System><EventID>&foo;</EventID></System></Event>",
		"<Event><System><EventID>&#0;</EventID></System></Event>",
		"<Event><System><EventID>&#xD800;</EventID></System></Event>",
		"<Event><System><EventID>&#X41;</EventID></System></Event>",
		"<Event><System><EventID>a]]>b</EventID></System></Event>",
		"<Event><System><EventID>\xC0\x80</EventID></System></Event>",
		"<Event><System><EventID>\xEF\xBF\xBE</EventID></System></Event>",
		"<Event><System><EventID>\x0C</EventID></System></Event>",
		"<Event><e:System><EventID>1</EventID></e:System></Event>",
		"<Event><System><EventID a='1' a='2'>1</EventID></System></Event>",
		"<Event><System><EventID a='1'b='2'>1</EventID></System></Event>",
		"<Event><System><EventID a='<'>1</EventID></System></Event>",
		"<Event><System><EventID>1</EventID></Sys></Event>",
		"<Event><System><EventID>1</EventID></System></Event> x",
		"<Event><System></System></Event>",
		"<Event/>",
		"<Event><System><EventID>1</EventID></System>",
	};
	struct event_parser *fast, *slowp;

	(void)state;
	assert_int_equal(event_parser_new(&fast), 0);
	assert_int_equal(event_parser_new(&slowp), 0);
	event_parser_expat_only(slowp, true);
	for (size_t i = 0; i < sizeof(slow) / sizeof(slow[0]); i++)
		if (fast_same_as_expat(fast, slowp, slow[i], strlen(slow[i])))
			fail_msg("on the fast path: %s", slow[i]);
	/* Deeper than the scanner goes, and more attributes than it
	 * takes. */
	{
		char deep[2048], *o = deep;
		o += sprintf(o, "<Event><System><EventID>1</EventID></System>");
		for (int d = 0; d < 70; d++)
			o += sprintf(o, "<d>");
		for (int d = 0; d < 70; d++)
			o += sprintf(o, "</d>");
		o += sprintf(o, "</Event>");
		assert_false(fast_same_as_expat(fast, slowp, deep,
		    (size_t)(o - deep)));
		o = deep;
		o += sprintf(o, "<Event><System><EventID");
		for (int a = 0; a < 17; a++)
			o += sprintf(o, " a%d='%d'", a, a);
		o += sprintf(o, ">1</EventID></System></Event>");
		assert_false(fast_same_as_expat(fast, slowp, deep,
		    (size_t)(o - deep)));
	}
	/* More Data elements than a record may have: expat's error. */
	{
		struct strbuf many = { 0 };

		assert_int_equal(strbuf_adds(&many, "<Event><System><EventID>1"
		    "</EventID></System><EventData>"), 0);
		for (int i = 0; i < 4097; i++)
			assert_int_equal(strbuf_adds(&many, "<Data>x</Data>"), 0);
		assert_int_equal(strbuf_adds(&many, "</EventData></Event>"), 0);
		assert_false(fast_same_as_expat(fast, slowp, many.s, many.len));
		strbuf_free(&many);
	}
	event_parser_free(fast);
	event_parser_free(slowp);
}

static void
json_strings_are_valid_utf8_and_escaped(void **state)
{
	struct strbuf sb = { 0 };

	(void)state;
	assert_int_equal(json_add_str(&sb, "a\"b\\c\n\r\t\x01\x1f", 10), 0);
	assert_string_equal(sb.s, "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f\"");
	strbuf_reset(&sb);
	/* Valid multi-byte UTF-8 passes through. */
	assert_int_equal(json_add_str(&sb, "\xC2\xAE\xEC\xB5\x8D\xF0\x9F\x98\x80",
	    9), 0);
	assert_string_equal(sb.s, "\"\xC2\xAE\xEC\xB5\x8D\xF0\x9F\x98\x80\"");
	strbuf_reset(&sb);
	/* Invalid bytes, overlongs, surrogates, truncated sequences. */
	assert_int_equal(json_add_str(&sb, "x\xff" "y\xC0\xAF" "z\xED\xA0\x80"
	    "w\xE2\x82", 12), 0);
	assert_string_equal(sb.s, "\"x\\ufffdy\\ufffd\\ufffdz\\ufffd\\ufffd"
	    "\\ufffdw\\ufffd\\ufffd\"");
	strbuf_reset(&sb);
	assert_int_equal(json_add_str(&sb, "a\0b", 3), 0);
	assert_string_equal(sb.s, "\"a\\u0000b\"");
	strbuf_free(&sb);
}

/*
 * The reference for json_add_str(): its algorithm before it escaped in
 * runs (commit 45cfe4e), byte by byte through the public strbuf calls.
 * The fast one must give the same bytes, the same len, the same overflow
 * and the same return code on every input, cut at the cap or not.
 */
static size_t
ref_utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && p[1] < 0xA0)
			return 0;
		if (c == 0xED && p[1] >= 0xA0)
			return 0;
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
		    (p[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && p[1] < 0x90)
			return 0;
		if (c == 0xF4 && p[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

static int
ref_json_add_str(struct strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;
	int rc;

	if ((rc = strbuf_addc(sb, '"')) != 0)
		return rc;
	while (i < n) {
		unsigned char c = p[i];
		size_t k;
		char esc[8];
		size_t esclen = 0;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			run++;
			i++;
			continue;
		}
		if (c >= 0x80 && (k = ref_utf8_seq(p + i, n - i)) != 0) {
			run += k;
			i += k;
			continue;
		}
		if (run > 0 && (rc = strbuf_add(sb, p + i - run, run)) != 0)
			return rc;
		run = 0;
		if (c >= 0x80) {
			memcpy(esc, "\\ufffd", 6);
			esclen = 6;
		} else if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			esclen = 2;
		} else if (c == '\n') {
			memcpy(esc, "\\n", 2);
			esclen = 2;
		} else if (c == '\r') {
			memcpy(esc, "\\r", 2);
			esclen = 2;
		} else if (c == '\t') {
			memcpy(esc, "\\t", 2);
			esclen = 2;
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xF];
			esclen = 6;
		}
		if ((rc = strbuf_add(sb, esc, esclen)) != 0)
			return rc;
		i++;
	}
	if (run > 0 && (rc = strbuf_add(sb, p + n - run, run)) != 0)
		return rc;
	return strbuf_addc(sb, '"');
}

static unsigned long json_checked;

/*
 * s through both, into strbufs that start with the same prefix and the
 * same max (0: the default), and, when given a max, through each max from
 * the prefix's length to one past the full result, so that every place a
 * cut can fall is met.
 */
static void
json_same_as_ref_at(const char *s, size_t n, const char *prefix, size_t max)
{
	struct strbuf a = { .max = max }, b = { .max = max };
	int ra, rb;

	if (prefix != NULL) {
		assert_int_equal(strbuf_adds(&a, prefix), 0);
		assert_int_equal(strbuf_adds(&b, prefix), 0);
	}
	ra = json_add_str(&a, s, n);
	rb = ref_json_add_str(&b, s, n);
	assert_int_equal(ra, rb);
	assert_int_equal(a.len, b.len);
	assert_int_equal(a.overflow, b.overflow);
	assert_true((a.s == NULL) == (b.s == NULL));
	if (a.s != NULL) {
		assert_memory_equal(a.s, b.s, a.len + 1);	/* and the NUL */
		assert_int_equal(strlen(a.s) <= a.len, 1);
	}
	json_checked++;
	strbuf_free(&a);
	strbuf_free(&b);
}

static void
json_same_as_ref(const char *s, size_t n)
{
	struct strbuf full = { 0 };
	size_t max, step;

	json_same_as_ref_at(s, n, NULL, 0);
	json_same_as_ref_at(s, n, "{\"k\":", 0);
	assert_int_equal(ref_json_add_str(&full, s, n), 0);
	/* Every cut for short results, a spread of cuts for long ones. */
	step = full.len > 512 ? full.len / 97 : 1;
	for (max = 1; max <= full.len + 1; max += step) {
		json_same_as_ref_at(s, n, NULL, max);
		if (max >= 5)
			json_same_as_ref_at(s, n, "{\"k\":", max);
	}
	for (max = full.len > 8 ? full.len - 8 : 1; max <= full.len + 1; max++)
		json_same_as_ref_at(s, n, NULL, max);
	strbuf_free(&full);
}

/* xorshift64*: the same buffers on every run, on every machine. */
static uint64_t
json_rand(uint64_t *st)
{
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return *st * 2685821657736338717ULL;
}

static void
json_fast_escape_matches_the_reference(void **state)
{
	/* Pieces that random buffers are made of, valid and not. */
	static const char *const bits[] = {
		"a", "Name=\"", "\\", "\n", "\r\n", "\t", "\x01", "\x1f",
		"\x7f", " ", "\xC2\xAE", "\xEC\xB5\x8D", "\xF0\x9F\x98\x80",
		"\xC0\xAF", "\xED\xA0\x80", "\xE0\x80\x80", "\xF4\x90\x80\x80",
		"\xF5", "\xFF", "\x80", "\xE2\x82", "\xF0\x9F\x98",
		"<Data Name='Image'>C:\\Windows\\System32\\svchost.exe</Data>",
	};
	static const char *const fixed[] = {
		"", "\"", "\\\\", "plain", "\xC3", "\xC3\xA9", "\xE2\x82\xAC",
		"\xF4\x8F\xBF\xBF", "\xEF\xBF\xBF", "\xED\x9F\xBF", "\xC1\xBF",
	};
	char buf[4096], big[70000];
	uint64_t st = 0x9E3779B97F4A7C15ULL;
	size_t i, n, k, len;
	unsigned c, d;

	(void)state;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		json_same_as_ref(fixed[i], strlen(fixed[i]));
	/* Every byte alone, and in every pair, between clean text. */
	for (c = 0; c < 256; c++) {
		buf[0] = (char)c;
		json_same_as_ref(buf, 1);
		for (d = 0; d < 256; d++) {
			memcpy(buf, "ab", 2);
			buf[2] = (char)c;
			buf[3] = (char)d;
			memcpy(buf + 4, "cd", 2);
			json_same_as_ref_at(buf, 6, NULL, 0);
			json_same_as_ref_at(buf, 6, NULL, 9);
		}
	}
	/* Every byte at every place of two words of clean text. */
	for (c = 0; c < 256; c++)
		for (n = 0; n < 24; n++) {
			memset(buf, 'x', 24);
			buf[n] = (char)c;
			json_same_as_ref_at(buf, 24, NULL, 0);
			if (n < 23) {
				buf[n + 1] = (char)(c ^ 0x80);
				json_same_as_ref_at(buf, 24, NULL, 0);
			}
		}
	/* Every 3-byte sequence led by a multi-byte lead, at the end too. */
	for (c = 0xC0; c < 256; c++)
		for (d = 0x70; d < 0xD0; d += 3) {
			buf[0] = (char)c;
			buf[1] = (char)d;
			buf[2] = (char)0x80;
			buf[3] = (char)0xBF;
			for (n = 1; n <= 4; n++)
				json_same_as_ref_at(buf, n, NULL, 0);
		}
	/* Long clean runs of every length around the unrolled scan. */
	memset(big, 'x', sizeof(big));
	for (n = 0; n < 40; n++) {
		json_same_as_ref(big, n);
		big[n] = '"';
		json_same_as_ref(big, n + 1);
		big[n] = 'x';
	}
	json_same_as_ref(big, sizeof(big));
	big[sizeof(big) - 1] = '\x01';
	json_same_as_ref(big, sizeof(big));
	/* Seeded random buffers: of the pieces above, and of any bytes. */
	for (i = 0; i < 3000; i++) {
		len = json_rand(&st) % 300;
		for (n = 0; n < len;) {
			const char *b = bits[json_rand(&st) %
			    (sizeof(bits) / sizeof(bits[0]))];
			k = strlen(b);
			if (n + k > len)
				break;
			memcpy(buf + n, b, k);
			n += k;
		}
		json_same_as_ref(buf, n);
		for (n = 0; n < len; n++)
			buf[n] = (char)(json_rand(&st) >> 56);
		json_same_as_ref_at(buf, len, NULL, 0);
		json_same_as_ref_at(buf, len, "[", json_rand(&st) % (len * 6 + 4) + 1);
	}
	/* A test that checks nothing must not pass. */
	assert_true(json_checked > 200000);
}

static void
strbuf_honours_its_cap(void **state)
{
	struct strbuf sb = { .max = 8 };

	(void)state;
	assert_int_equal(strbuf_adds(&sb, "12345678"), 0);
	assert_int_equal(strbuf_addc(&sb, '9'), -ENOBUFS);
	assert_true(sb.overflow);
	assert_int_equal(sb.len, 8);
	strbuf_reset(&sb);
	assert_int_equal(strbuf_addf(&sb, "%d-%s", 12, "ab"), 0);
	assert_string_equal(sb.s, "12-ab");
	strbuf_free(&sb);
	strbuf_free(NULL);
}

static void
time_round_trips(void **state)
{
	int64_t ms;
	char buf[32];

	(void)state;
	assert_int_equal(time_parse_rfc3339_ms("2019-04-30T20:26:51.793589000Z",
	    &ms), 0);
	assert_int_equal(ms, 1556656011793LL);
	time_format_ms(ms, buf);
	assert_string_equal(buf, "2019-04-30T20:26:51.793Z");
	assert_int_equal(time_parse_rfc3339_ms("1970-01-01T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(time_parse_rfc3339_ms("2024-02-29T23:59:59.5+01:00",
	    &ms), 0);
	time_format_ms(ms, buf);
	assert_string_equal(buf, "2024-02-29T22:59:59.500Z");
	assert_int_not_equal(time_parse_rfc3339_ms("2019-13-01T00:00:00Z", &ms),
	    0);
	assert_int_not_equal(time_parse_rfc3339_ms("2019-04-30 20:26:51", &ms),
	    0);
	assert_int_not_equal(time_parse_rfc3339_ms("garbage", &ms), 0);
	time_format_ms(-1, buf);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(event_parses_windows_record_exactly),
		cmocka_unit_test(event_parses_linux_syslog_line),
		cmocka_unit_test(event_keeps_userdata_and_unnamed_data),
		cmocka_unit_test(event_rejects_malformed_records_with_a_reason),
		cmocka_unit_test(event_refuses_doctype_inside_record),
		cmocka_unit_test(event_find_start_needs_the_whole_tag),
		cmocka_unit_test(event_fast_path_reads_what_expat_reads),
		cmocka_unit_test(event_fast_path_gives_up_where_it_should),
		cmocka_unit_test(event_fast_path_matches_expat_on_the_corpus),
		cmocka_unit_test(json_strings_are_valid_utf8_and_escaped),
		cmocka_unit_test(json_fast_escape_matches_the_reference),
		cmocka_unit_test(strbuf_honours_its_cap),
		cmocka_unit_test(time_round_trips),
	};

	log_init("test_event", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
