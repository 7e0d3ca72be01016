/*
 * test_eventlog_util.c - the pure helpers of the Windows event-log input
 * (agent/source/eventlog_util.c), on Linux: UTF-16LE to UTF-8, XML on one line
 * (checked against the parser with every record of the Windows corpus
 * laid out over many lines), record ids, bookmark checks and choice.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "eventlog_util.h"
#include "unit_records.h"

/* UTF-16LE bytes of the units in u[0..n). */
static size_t
le_bytes(const uint16_t *u, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = (unsigned char)(u[i] & 0xFF);
		out[2 * i + 1] = (unsigned char)(u[i] >> 8);
	}
	return 2 * n;
}

static void
utf16_converts_bmp_and_surrogate_pairs(void **state)
{
	/* "A", e acute, euro, a CJK ideograph, G clef (a pair), "<". */
	static const uint16_t u[] = { 0x0041, 0x00E9, 0x20AC, 0x4E2D,
	    0xD834, 0xDD1E, 0x003C };
	unsigned char b[64];
	struct strbuf sb = { 0 };
	size_t nb = le_bytes(u, sizeof(u) / sizeof(u[0]), b), bad = 99;

	(void)state;
	assert_int_equal(eventlog_utf16le_to_utf8(b, nb, &sb, &bad), 0);
	assert_int_equal(bad, 0);
	assert_string_equal(sb.s, "A\xC3\xA9\xE2\x82\xAC\xE4\xB8\xAD"
	    "\xF0\x9D\x84\x9E<");
	/* Odd alignment of the source does not matter. */
	{
		unsigned char shifted[65];
		memcpy(shifted + 1, b, nb);
		strbuf_reset(&sb);
		assert_int_equal(eventlog_utf16le_to_utf8(shifted + 1, nb, &sb,
		    NULL), 0);
		assert_int_equal(sb.len, 14);
	}
	/* A U+0000 ends the text (EvtRender counts it in its size). */
	{
		static const uint16_t z[] = { 'o', 'k', 0, 'x' };
		strbuf_reset(&sb);
		nb = le_bytes(z, 4, b);
		assert_int_equal(eventlog_utf16le_to_utf8(b, nb, &sb, &bad),
		    0);
		assert_string_equal(sb.s, "ok");
		assert_int_equal(bad, 0);
	}
	/* Long text crosses the internal chunks intact. */
	{
		uint16_t big[3000];
		unsigned char bb[6000];
		for (size_t i = 0; i < 3000; i++)
			big[i] = i % 3 == 0 ? 0x20AC : (uint16_t)('a' + i % 26);
		strbuf_reset(&sb);
		nb = le_bytes(big, 3000, bb);
		assert_int_equal(eventlog_utf16le_to_utf8(bb, nb, &sb, &bad),
		    0);
		assert_int_equal(sb.len, 1000 * 3 + 2000);
		assert_memory_equal(sb.s, "\xE2\x82\xAC" "bc", 5);
		/* Units 2997..2999 start at byte 999 * 5. */
		assert_memory_equal(sb.s + 4995, "\xE2\x82\xAC" "ij", 5);
	}
	strbuf_free(&sb);
}

static void
utf16_replaces_invalid_units(void **state)
{
	static const struct {
		uint16_t	 u[4];
		size_t		 n;
		const char	*want;
		size_t		 bad;
	} cases[] = {
		/* A high surrogate at the end. */
		{ { 'a', 0xD800 }, 2, "a\xEF\xBF\xBD", 1 },
		/* A high surrogate followed by a non-surrogate. */
		{ { 0xD83D, 'b' }, 2, "\xEF\xBF\xBD" "b", 1 },
		/* A lone low surrogate. */
		{ { 'c', 0xDC00, 'd' }, 3, "c\xEF\xBF\xBD" "d", 1 },
		/* Two highs then a low: the first is lone, the rest a pair. */
		{ { 0xD800, 0xD83D, 0xDE00 }, 3,
		    "\xEF\xBF\xBD\xF0\x9F\x98\x80", 1 },
		/* Low then high: both lone. */
		{ { 0xDC00, 0xD800 }, 2, "\xEF\xBF\xBD\xEF\xBF\xBD", 2 },
	};
	unsigned char b[16];
	struct strbuf sb = { 0 };
	size_t bad;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t nb = le_bytes(cases[i].u, cases[i].n, b);
		strbuf_reset(&sb);
		assert_int_equal(eventlog_utf16le_to_utf8(b, nb, &sb, &bad),
		    0);
		assert_string_equal(sb.s, cases[i].want);
		assert_int_equal(bad, cases[i].bad);
	}
	/* An odd byte count: the last byte is half a unit. */
	strbuf_reset(&sb);
	b[0] = 'x';
	b[1] = 0;
	b[2] = 'y';
	assert_int_equal(eventlog_utf16le_to_utf8(b, 3, &sb, &bad), 0);
	assert_string_equal(sb.s, "x\xEF\xBF\xBD");
	assert_int_equal(bad, 1);
	/* Nothing at all. */
	strbuf_reset(&sb);
	assert_int_equal(eventlog_utf16le_to_utf8(b, 0, &sb, &bad), 0);
	assert_int_equal(sb.len, 0);
	assert_int_equal(bad, 0);
	strbuf_free(&sb);
}

static void
utf16_honours_the_cap(void **state)
{
	uint16_t u[2000];
	unsigned char b[4000];
	struct strbuf sb = { .max = 1000 };
	size_t nb;

	(void)state;
	for (size_t i = 0; i < 2000; i++)
		u[i] = 0x00E9;
	nb = le_bytes(u, 2000, b);
	assert_int_equal(eventlog_utf16le_to_utf8(b, nb, &sb, NULL), -ENOBUFS);
	assert_true(sb.len <= 1000);
	assert_int_equal(sb.len % 2, 0);	/* whole characters only */
	strbuf_free(&sb);
}

/* ---- XML on one line ------------------------------------------------------------ */

static char *
one_line(const char *xml)
{
	struct strbuf sb = { 0 };

	assert_int_equal(eventlog_xml_one_line(xml, strlen(xml), &sb), 0);
	assert_non_null(sb.s);
	assert_null(strchr(sb.s, '\r'));
	assert_null(strchr(sb.s, '\n'));
	return sb.s;
}

static void
xml_one_line_removes_layout_and_keeps_values(void **state)
{
	static const char in[] =
	    "\r\n  <Event xmlns='http://schemas.microsoft.com/win/2004/08/"
	    "events/event'>\r\n"
	    "  <System>\r\n"
	    "    <Provider Name='Microsoft-Windows-Sysmon'\r\n"
	    "        Guid='{5770385F-C22A-43E0-BF4C-06F5698FFBD9}'/>\r\n"
	    "\t<EventID>1</EventID>\n"
	    "    <Computer>HOST</Computer>\r\n"
	    "  </System>\r\n"
	    "  <EventData>\r\n"
	    "    <Data Name='CommandLine'>powershell\r\n-enc AAA\r\n</Data>\r\n"
	    "    <Data Name='Blank'>\r\n</Data>\r\n"
	    "    <Data Name='Tab'>\t</Data>\r\n"
	    "    <Data Name='Space'> </Data>\r\n"
	    "    <Data Name='Lone'>a\rb\nc</Data>\r\n"
	    "    <Data Name='Attr\nBreak'>x</Data>\r\n"
	    "    <Data Name='Cdata'><![CDATA[1 < 2\r\n]]></Data>\r\n"
	    "    <!-- a comment\r\n over lines -->\r\n"
	    "  </EventData>\r\n"
	    "</Event>\r\n\r\n";
	static const char want[] =
	    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/"
	    "events/event'>"
	    "<System>"
	    "<Provider Name='Microsoft-Windows-Sysmon'         "
	    "Guid='{5770385F-C22A-43E0-BF4C-06F5698FFBD9}'/>"
	    "<EventID>1</EventID>"
	    "<Computer>HOST</Computer>"
	    "</System>"
	    "<EventData>"
	    "<Data Name='CommandLine'>powershell&#13;&#10;-enc AAA&#13;&#10;"
	    "</Data>"
	    "<Data Name='Blank'>&#13;&#10;</Data>"
	    "<Data Name='Tab'>\t</Data>"
	    "<Data Name='Space'> </Data>"
	    "<Data Name='Lone'>a&#13;b&#10;c</Data>"
	    "<Data Name='Attr&#10;Break'>x</Data>"
	    "<Data Name='Cdata'><![CDATA[1 < 2]]>&#13;<![CDATA[]]>&#10;"
	    "<![CDATA[]]></Data>"
	    "<!-- a comment  over lines -->"
	    "</EventData>"
	    "</Event>";
	struct event_parser *p;
	struct sysmon_event ev;
	char err[256];
	char *out;

	(void)state;
	out = one_line(in);
	assert_string_equal(out, want);
	assert_int_equal(event_parser_new(&p), 0);
	assert_int_equal(event_parse(p, out, strlen(out), &ev, err,
	    sizeof(err)), 0);
	assert_string_equal(ev.provider_guid,
	    "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}");
	assert_string_equal(ev.event_id, "1");
	assert_string_equal(ev.computer, "HOST");
	assert_string_equal(data_value(&ev, "CommandLine"),
	    "powershell\r\n-enc AAA\r\n");
	assert_string_equal(data_value(&ev, "Blank"), "\r\n");
	assert_string_equal(data_value(&ev, "Tab"), "\t");
	assert_string_equal(data_value(&ev, "Space"), " ");
	assert_string_equal(data_value(&ev, "Lone"), "a\rb\nc");
	assert_string_equal(data_value(&ev, "Attr\nBreak"), "x");
	assert_string_equal(data_value(&ev, "Cdata"), "1 < 2\r\n");
	event_parser_free(p);
	free(out);

	/* A line already flat comes out the same, byte for byte. */
	out = one_line(want);
	assert_string_equal(out, want);
	free(out);
}

static void
xml_one_line_never_leaves_a_line_break(void **state)
{
	static const char alphabet[] = "<>/!?-[]'\"=\r\n\t aCDAT&;#";
	struct strbuf sb = { 0 };
	char in[64];
	unsigned int seed = 12345;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(round % 63) + 1;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		strbuf_reset(&sb);
		assert_int_equal(eventlog_xml_one_line(in, n, &sb), 0);
		if (sb.len > 0) {
			assert_null(memchr(sb.s, '\r', sb.len));
			assert_null(memchr(sb.s, '\n', sb.len));
		}
	}
	/* The cap is honoured. */
	{
		struct strbuf small = { .max = 8 };
		assert_int_equal(eventlog_xml_one_line("<a>\n\n\n\n</a>", 13,
		    &small), -ENOBUFS);
		strbuf_free(&small);
	}
	strbuf_free(&sb);
}

/*
 * Lay a one-line record out the way a pretty printer would: a CRLF and
 * indentation between pieces of markup (never inside a leaf value), and
 * the space before the first attribute of every <Provider> tag turned
 * into a CRLF.
 */
static char *
pretty(const char *line, size_t n)
{
	struct strbuf sb = { 0 };
	int depth = 0;
	bool prev_start = false;
	size_t i = 0;

	while (i < n) {
		if (line[i] != '<') {
			const char *lt = memchr(line + i, '<', n - i);
			size_t k = lt != NULL ? (size_t)(lt - line) - i : n - i;
			assert_int_equal(strbuf_add(&sb, line + i, k), 0);
			i += k;
			prev_start = false;	/* a value: no layout after it */
			continue;
		}
		size_t e = i + 1;
		char quote = 0;
		for (; e < n; e++) {
			if (quote != 0 && line[e] == quote)
				quote = 0;
			else if (quote == 0 && (line[e] == '\'' ||
			    line[e] == '"'))
				quote = line[e];
			else if (quote == 0 && line[e] == '>')
				break;
		}
		e++;
		bool is_end = line[i + 1] == '/';
		bool is_empty = line[e - 2] == '/';
		if (is_end)
			depth--;
		/* Layout before this tag, unless it closes a leaf. */
		if (i > 0 && line[i - 1] == '>' && !(prev_start && is_end)) {
			assert_int_equal(strbuf_adds(&sb, "\r\n"), 0);
			for (int d = 0; d < depth; d++)
				assert_int_equal(strbuf_adds(&sb,
				    d % 2 ? "\t" : "  "), 0);
		}
		if (strncmp(line + i, "<Provider ", 10) == 0) {
			assert_int_equal(strbuf_adds(&sb, "<Provider\r\n"), 0);
			assert_int_equal(strbuf_add(&sb, line + i + 10,
			    e - i - 10), 0);
		} else {
			assert_int_equal(strbuf_add(&sb, line + i, e - i), 0);
		}
		if (!is_end && !is_empty)
			depth++;
		prev_start = !is_end && !is_empty;
		i = e;
	}
	assert_int_equal(strbuf_adds(&sb, "\r\n"), 0);
	return sb.s;
}

static void
assert_same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void
assert_same_event(const struct sysmon_event *a, const struct sysmon_event *b)
{
	assert_same_str(a->provider_name, b->provider_name);
	assert_same_str(a->provider_guid, b->provider_guid);
	assert_same_str(a->event_id, b->event_id);
	assert_same_str(a->qualifiers, b->qualifiers);
	assert_same_str(a->version, b->version);
	assert_same_str(a->level, b->level);
	assert_same_str(a->task, b->task);
	assert_same_str(a->opcode, b->opcode);
	assert_same_str(a->keywords, b->keywords);
	assert_same_str(a->time_created, b->time_created);
	assert_same_str(a->record_id, b->record_id);
	assert_same_str(a->activity_id, b->activity_id);
	assert_same_str(a->related_activity_id, b->related_activity_id);
	assert_same_str(a->pid, b->pid);
	assert_same_str(a->tid, b->tid);
	assert_same_str(a->channel, b->channel);
	assert_same_str(a->computer, b->computer);
	assert_same_str(a->user_id, b->user_id);
	assert_same_str(a->message, b->message);
	assert_int_equal(a->user_data, b->user_data);
	assert_int_equal(a->linux_sysmon, b->linux_sysmon);
	assert_int_equal(a->ndata, b->ndata);
	for (size_t i = 0; i < a->ndata; i++) {
		assert_string_equal(a->data[i].name, b->data[i].name);
		assert_string_equal(a->data[i].value, b->data[i].value);
	}
}

/* One real record, laid out, put back on one line: same line, same parse. */
static void
check_record(struct event_parser *pa, struct event_parser *pb,
    const char *line, size_t n)
{
	struct sysmon_event a, b;
	struct strbuf sb = { 0 };
	char err[256];
	char *laid = pretty(line, n);

	assert_non_null(strchr(laid, '\n'));
	assert_int_equal(eventlog_xml_one_line(laid, strlen(laid), &sb), 0);
	assert_int_equal(sb.len, n);
	assert_memory_equal(sb.s, line, n);
	assert_int_equal(event_parse(pa, line, n, &a, err, sizeof(err)), 0);
	assert_int_equal(event_parse(pb, sb.s, sb.len, &b, err, sizeof(err)),
	    0);
	assert_same_event(&a, &b);
	assert_int_equal(eventlog_xml_record_id(sb.s, sb.len),
	    strtoull(a.record_id, NULL, 10));
	free(laid);
	strbuf_free(&sb);
}

static void
xml_one_line_real_records_parse_the_same(void **state)
{
	struct event_parser *pa, *pb;
	char path[4096];
	DIR *d;
	struct dirent *de;
	size_t records = 0, files = 0;

	(void)state;
	assert_int_equal(event_parser_new(&pa), 0);
	assert_int_equal(event_parser_new(&pb), 0);
	snprintf(path, sizeof(path), "%s/windows-xml", CORPUS_DIR);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t k = strlen(de->d_name);
		char *line = NULL;
		size_t cap = 0;
		ssize_t got;
		FILE *f;

		if (k < 8 || strcmp(de->d_name + k - 8, ".xml.log") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/windows-xml/%s", CORPUS_DIR,
		    de->d_name);
		f = fopen(path, "r");
		assert_non_null(f);
		while ((got = getline(&line, &cap, f)) > 0) {
			size_t n = (size_t)got;
			while (n > 0 && (line[n - 1] == '\n' ||
			    line[n - 1] == '\r'))
				n--;
			if (n == 0)
				continue;
			check_record(pa, pb, line, n);
			records++;
		}
		free(line);
		fclose(f);
		files++;
	}
	closedir(d);
	assert_true(files >= 10);
	assert_true(records >= 800);
	event_parser_free(pa);
	event_parser_free(pb);
}

static void
xml_record_id_is_found_or_zero(void **state)
{
	static const char ok[] = "<Event><System><EventRecordID>17715"
	    "</EventRecordID></System></Event>";
	static const char none[] = "<Event><System></System></Event>";
	static const char bad[] = "<EventRecordID>12x</EventRecordID>";
	static const char huge[] =
	    "<EventRecordID>99999999999999999999999</EventRecordID>";

	(void)state;
	assert_int_equal(eventlog_xml_record_id(ok, strlen(ok)), 17715);
	assert_int_equal(eventlog_xml_record_id(none, strlen(none)), 0);
	assert_int_equal(eventlog_xml_record_id(bad, strlen(bad)), 0);
	assert_int_equal(eventlog_xml_record_id(huge, strlen(huge)), 0);
	assert_int_equal(eventlog_xml_record_id(ok, 20), 0);
}

/* ---- bookmarks --------------------------------------------------------------------- */

/* As EvtRender(EvtRenderBookmark) writes it. */
static const char win_bookmark[] =
    "<BookmarkList>\r\n"
    "  <Bookmark Channel='Microsoft-Windows-Sysmon/Operational' "
    "RecordId='1234567' IsCurrent='true'/>\r\n"
    "</BookmarkList>";

static void
bookmark_accepts_what_windows_renders(void **state)
{
	struct eventlog_bookmark bm;
	struct strbuf sb = { 0 };
	char err[128];

	(void)state;
	assert_int_equal(eventlog_bookmark_parse(win_bookmark,
	    strlen(win_bookmark), &bm, err, sizeof(err)), 0);
	assert_string_equal(bm.channel, "Microsoft-Windows-Sysmon/Operational");
	assert_int_equal(bm.record_id, 1234567);
	assert_int_equal(bm.nentries, 1);
	assert_string_equal(err, "");

	/* Its one-line form, as it is saved, says the same. */
	assert_int_equal(eventlog_xml_one_line(win_bookmark,
	    strlen(win_bookmark), &sb), 0);
	assert_string_equal(sb.s, "<BookmarkList><Bookmark Channel='Microsoft-"
	    "Windows-Sysmon/Operational' RecordId='1234567' IsCurrent='true'/>"
	    "</BookmarkList>");
	assert_true(sb.len < 255);	/* fits a ring position */
	assert_int_equal(eventlog_bookmark_parse(sb.s, sb.len, &bm, err,
	    sizeof(err)), 0);
	assert_int_equal(bm.record_id, 1234567);
	strbuf_free(&sb);
}

static void
bookmark_variants_that_are_fine(void **state)
{
	struct eventlog_bookmark bm;
	char err[128];
	static const char dq[] = "<?xml version=\"1.0\"?>\n<BookmarkList >"
	    "<Bookmark IsCurrent=\"true\" RecordId=\"0\" "
	    "Channel=\"A&amp;B&#x41;&#66;\" Extra='x'></Bookmark>"
	    "</BookmarkList >\n";
	static const char multi[] = "<BookmarkList>"
	    "<Bookmark Channel='Application' RecordId='10'/>"
	    "<Bookmark Channel='System' RecordId='18446744073709551615' "
	    "IsCurrent='true'/>"
	    "<Bookmark Channel='Security' RecordId='7' IsCurrent='false'/>"
	    "</BookmarkList>";

	(void)state;
	assert_int_equal(eventlog_bookmark_parse(dq, strlen(dq), &bm, err,
	    sizeof(err)), 0);
	assert_string_equal(bm.channel, "A&BAB");
	assert_int_equal(bm.record_id, 0);
	assert_int_equal(eventlog_bookmark_parse(multi, strlen(multi), &bm,
	    err, sizeof(err)), 0);
	assert_string_equal(bm.channel, "System");
	assert_true(bm.record_id == UINT64_MAX);
	assert_int_equal(bm.nentries, 3);
}

static void
bookmark_rejects_what_is_not_one(void **state)
{
	static const char *bad[] = {
		"",
		"   ",
		"<Event/>",
		"<BookmarkListX><Bookmark Channel='a' RecordId='1' "
		    "IsCurrent='true'/></BookmarkListX>",
		"<BookmarkList/>",
		"<BookmarkList>\r\n</BookmarkList>",
		"<BookmarkList a='b'><Bookmark Channel='a' RecordId='1' "
		    "IsCurrent='true'/></BookmarkList>",
		/* No current entry, or two. */
		"<BookmarkList><Bookmark Channel='a' RecordId='1'/>"
		    "</BookmarkList>",
		"<BookmarkList><Bookmark Channel='a' RecordId='1' "
		    "IsCurrent='true'/><Bookmark Channel='b' RecordId='2' "
		    "IsCurrent='true'/></BookmarkList>",
		/* Missing or bad attributes. */
		"<BookmarkList><Bookmark RecordId='1' IsCurrent='true'/>"
		    "</BookmarkList>",
		"<BookmarkList><Bookmark Channel='a' IsCurrent='true'/>"
		    "</BookmarkList>",
		"<BookmarkList><Bookmark Channel='' RecordId='1' "
		    "IsCurrent='true'/></BookmarkList>",
		"<BookmarkList><Bookmark Channel='a' RecordId='' "
		    "IsCurrent='true'/></BookmarkList>",
		"<BookmarkList><Bookmark Channel='a' RecordId='-1' "
		    "IsCurrent='true'/></BookmarkList>",
		"<BookmarkList><Bookmark Channel='a' RecordId='1e3' "
		    "IsCurrent='true'/></BookmarkList>",
		"<BookmarkList><Bookmark Channel='a' "
		    "RecordId='18446744073709551616' IsCurrent='true'/>"
		    "</BookmarkList>",
		"<BookmarkList><Bookmark Channel='a<b' RecordId='1' "
		    "IsCurrent='true'/></BookmarkList>",
		"<BookmarkList><Bookmark Channel='a&foo;' RecordId='1' "
		    "IsCurrent='true'/></BookmarkList>",
		"<BookmarkList><Bookmark Channel='a&#0;' RecordId='1' "
		    "IsCurrent='true'/></BookmarkList>",
		"<BookmarkList><Bookmark Channel='a' RecordId=1 "
		    "IsCurrent='true'/></BookmarkList>",
		"<BookmarkList><Bookmark Channel='a' RecordId='1' "
		    "IsCurrent='true'>x</Bookmark></BookmarkList>",
		/* Other elements, cut, trailing text. */
		"<BookmarkList><Other/></BookmarkList>",
		"<BookmarkList><BookmarkX Channel='a' RecordId='1' "
		    "IsCurrent='true'/></BookmarkList>",
		"<BookmarkList><Bookmark Channel='a' RecordId='1' "
		    "IsCurrent='true'/>",
		"<BookmarkList><Bookmark Channel='a' RecordId='1' "
		    "IsCurrent='tr",
		"<BookmarkList><Bookmark Channel='a' RecordId='1' "
		    "IsCurrent='true'/></BookmarkList>x",
		"<BookmarkList><Bookmark Channel='a' RecordId='1' "
		    "IsCurrent='true'/></BookmarkList><BookmarkList/>",
	};
	struct eventlog_bookmark bm;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (eventlog_bookmark_parse(bad[i], strlen(bad[i]), &bm, err,
		    sizeof(err)) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(strncmp(err, "bookmark: ", 10) == 0);
		assert_int_equal(bm.record_id, 0);
		assert_string_equal(bm.channel, "");
	}
	/* A NUL inside, an overlong channel, an overlong bookmark. */
	{
		static const char nul[] = "<BookmarkList>\0<Bookmark/>";
		char big[SOURCE_POS_MAX + 16];
		int k;

		assert_int_equal(eventlog_bookmark_parse(nul, sizeof(nul) - 1,
		    &bm, err, sizeof(err)), -EINVAL);
		k = snprintf(big, sizeof(big), "<BookmarkList><Bookmark "
		    "Channel='%0300d' RecordId='1' IsCurrent='true'/>"
		    "</BookmarkList>", 7);
		assert_true(k > 0 && (size_t)k < sizeof(big));
		assert_int_equal(eventlog_bookmark_parse(big, (size_t)k, &bm,
		    err, sizeof(err)), -EINVAL);
		memset(big, ' ', sizeof(big));
		assert_int_equal(eventlog_bookmark_parse(big, SOURCE_POS_MAX,
		    &bm, NULL, 0), -EINVAL);
	}
}

static void
bookmark_choose_prefers_the_further_one_of_the_channel(void **state)
{
	static const char b10[] = "<BookmarkList><Bookmark Channel="
	    "'Microsoft-Windows-Sysmon/Operational' RecordId='10' "
	    "IsCurrent='true'/></BookmarkList>";
	static const char b20[] = "<BookmarkList><Bookmark Channel="
	    "'microsoft-windows-sysmon/operational' RecordId='20' "
	    "IsCurrent='true'/></BookmarkList>";
	static const char other[] = "<BookmarkList><Bookmark Channel="
	    "'Security' RecordId='99' IsCurrent='true'/></BookmarkList>";
	const char *ch = "Microsoft-Windows-Sysmon/Operational";

	(void)state;
	assert_ptr_equal(eventlog_bookmark_choose(b10, b20, ch), b20);
	assert_ptr_equal(eventlog_bookmark_choose(b20, b10, ch), b20);
	assert_ptr_equal(eventlog_bookmark_choose(b10, b10, ch), b10);
	assert_ptr_equal(eventlog_bookmark_choose(b10, NULL, ch), b10);
	assert_ptr_equal(eventlog_bookmark_choose("", b10, ch), b10);
	assert_ptr_equal(eventlog_bookmark_choose("garbage", b10, ch), b10);
	assert_ptr_equal(eventlog_bookmark_choose(other, b10, ch), b10);
	assert_null(eventlog_bookmark_choose(other, "x", ch));
	assert_null(eventlog_bookmark_choose(NULL, NULL, ch));
	assert_true(eventlog_channel_equal("Abc/Z", "aBC/z"));
	assert_false(eventlog_channel_equal("Abc", "Abcd"));
	assert_false(eventlog_channel_equal("Ab\xC3\x89", "Ab\xC3\xA9"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf16_converts_bmp_and_surrogate_pairs),
		cmocka_unit_test(utf16_replaces_invalid_units),
		cmocka_unit_test(utf16_honours_the_cap),
		cmocka_unit_test(xml_one_line_removes_layout_and_keeps_values),
		cmocka_unit_test(xml_one_line_never_leaves_a_line_break),
		cmocka_unit_test(xml_one_line_real_records_parse_the_same),
		cmocka_unit_test(xml_record_id_is_found_or_zero),
		cmocka_unit_test(bookmark_accepts_what_windows_renders),
		cmocka_unit_test(bookmark_variants_that_are_fine),
		cmocka_unit_test(bookmark_rejects_what_is_not_one),
		cmocka_unit_test(
		    bookmark_choose_prefers_the_further_one_of_the_channel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
