/*
 * test_policy.c - the policy before the ring (agent/policy): Sysmon's
 * <EventFiltering> rules read and judged as Sysmon documents them
 * (rules.c), on real corpus records; the [tag] rules; the rules files'
 * errors with their line numbers; the tag trailer (event.h) through a
 * real ring and out of every renderer.
 *
 * Links the rooms it tests: policy, source (source_append(), the file
 * input), render (the three destinations' forms), and what they link.
 * The corpus is read in place (CORPUS_DIR).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "policy.h"
#include "render.h"
#include "source.h"
#include "unit_fixture.h"
#include "unit_records.h"

#define WIN_DIR		CORPUS_DIR "/windows-xml"
#define UAC_FILE	WIN_DIR "/sysmon_11_1_15_WScriptBypassUAC.xml.log"
#define LINUX_FILE	CORPUS_DIR \
	"/linux-syslog/elastic-integrations_sysmon_linux_sample_sysmon.log"

/* ---- helpers ------------------------------------------------------------ */

/* Line n (1-based) of path, without its newline; the caller frees it. */
static char *
file_line(const char *path, int n)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len = -1;

	assert_non_null(fp);
	for (int i = 0; i < n; i++)
		assert_true((len = getline(&line, &cap, fp)) > 0);
	fclose(fp);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	return line;
}

/* Every line of every corpus file of dir (names ending in suffix). */
struct corpus {
	char	**lines;
	size_t	  n;
};

static void
corpus_add_file(struct corpus *c, const char *path)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	assert_non_null(fp);
	while ((len = getline(&line, &cap, fp)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		c->lines = realloc(c->lines, (c->n + 1) * sizeof(*c->lines));
		assert_non_null(c->lines);
		c->lines[c->n++] = strdup(line);
	}
	free(line);
	fclose(fp);
}

static void
corpus_load(struct corpus *c, const char *dir, const char *suffix)
{
	char cmd[512], path[1024];
	FILE *ls;

	memset(c, 0, sizeof(*c));
	snprintf(cmd, sizeof(cmd), "ls '%s'/*%s", dir, suffix);
	assert_non_null(ls = popen(cmd, "r"));
	while (fgets(path, sizeof(path), ls) != NULL) {
		path[strcspn(path, "\n")] = '\0';
		corpus_add_file(c, path);
	}
	pclose(ls);
	assert_true(c->n > 0);
}

static void
corpus_free(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->lines[i]);
	free(c->lines);
}

/* Messages a rules file's loading reported. */
struct reports {
	char	msgs[16][512];
	size_t	n;
};

static void
on_report(void *arg, const char *msg)
{
	struct reports *r = arg;

	if (r->n < 16)
		snprintf(r->msgs[r->n++], sizeof(r->msgs[0]), "%s", msg);
}

static struct policy_rules *
load(const char *xml)
{
	struct policy_rules *r = NULL;
	struct reports rep = { .n = 0 };
	int rc = policy_rules_load_string("t.xml", xml, strlen(xml), &r,
	    on_report, &rep);

	if (rc != 0)
		fail_msg("rules refused (%d): %s", rc, rep.n ? rep.msgs[0] :
		    "");
	return r;
}

/* A rules file of one event type block (body inside EventFiltering). */
static struct policy_rules *
load_filtering(const char *body)
{
	char xml[8192];

	snprintf(xml, sizeof(xml), "<Sysmon schemaversion=\"4.90\">"
	    "<EventFiltering>%s</EventFiltering></Sysmon>", body);
	return load(xml);
}

static struct event_parser *parser;
static struct sysmon_event ev;

static void
parse(const char *line)
{
	char why[256];

	if (event_parse(parser, line, strlen(line), &ev, why,
	    sizeof(why)) != 0)
		fail_msg("does not parse: %s", why);
}

static int
setup(void **state)
{
	(void)state;
	return event_parser_new(&parser);
}

static int
teardown(void **state)
{
	(void)state;
	event_parser_free(parser);
	return 0;
}

/* ---- every condition, on a real ProcessCreate record ---------------------- */

/*
 * Line 2 of the UAC corpus file: ProcessCreate of
 * C:\Windows\System32\makecab.exe, ProcessId 1292, IntegrityLevel
 * Medium, a CommandLine naming wscript.exe.manifest and uf3huvkczgk.tmp.
 * Each case is the documented meaning of its condition (rules.c's header
 * quotes the table), checked both as an include rule (kept when it
 * matches) and as an exclude rule (kept when it does not).
 */
static const struct {
	const char	*field, *cond, *value;
	bool		 match;
} cond_cases[] = {
	{ "Image", NULL, "C:\\Windows\\System32\\makecab.exe", true },
	{ "Image", "is", "c:\\windows\\system32\\MAKECAB.EXE", true },
	{ "Image", "is", "makecab.exe", false },
	{ "Image", "is not", "C:\\Windows\\System32\\cmd.exe", true },
	{ "Image", "is not", "C:\\Windows\\System32\\makecab.exe", false },
	{ "Image", "is any", "cmd.exe;C:\\Windows\\System32\\makecab.exe",
	  true },
	{ "Image", "is any", "cmd.exe;makecab.exe", false },
	{ "CommandLine", "contains", "WSCRIPT.exe.manifest", true },
	{ "CommandLine", "contains", "python", false },
	{ "CommandLine", "contains any", "python;uf3huvkczgk", true },
	{ "CommandLine", "contains any", "python;perl", false },
	{ "CommandLine", "contains all", "makecab;manifest;.tmp", true },
	{ "CommandLine", "contains all", "makecab;python", false },
	{ "CommandLine", "excludes", "python", true },
	{ "CommandLine", "excludes", "makecab", false },
	{ "CommandLine", "excludes any", "makecab;python", true },
	{ "CommandLine", "excludes any", "makecab;manifest", false },
	{ "CommandLine", "excludes all", "python;perl", true },
	{ "CommandLine", "excludes all", "python;makecab", false },
	{ "Image", "begin with", "C:\\WINDOWS\\", true },
	{ "Image", "begin with", "C:\\Users\\", false },
	{ "Image", "not begin with", "C:\\Users\\", true },
	{ "Image", "not begin with", "c:\\windows", false },
	{ "Image", "end with", "\\MakeCab.exe", true },
	{ "Image", "end with", ".dll", false },
	{ "Image", "not end with", ".dll", true },
	{ "Image", "not end with", "makecab.exe", false },
	/* "Lexicographical comparison": text, not numbers. */
	{ "ProcessId", "less than", "2", true },
	{ "ProcessId", "less than", "1000", false },
	{ "ProcessId", "more than", "1000", true },
	{ "ProcessId", "more than", "2", false },
	{ "IntegrityLevel", "less than", "medium", false },
	/* "full path or only image name" */
	{ "Image", "image", "makecab.exe", true },
	{ "Image", "image", "MAKECAB.EXE", true },
	{ "Image", "image", "C:\\Windows\\System32\\makecab.exe", true },
	{ "Image", "image", "cab.exe", false },
	{ "Image", "image", "System32\\makecab.exe", false },
	/* A field the record does not have never matches. */
	{ "NoSuchField", "is not", "x", false },
	{ "NoSuchField", "excludes", "x", false },
};

static void
every_condition_as_sysmon_documents(void **state)
{
	char *line = file_line(UAC_FILE, 2);
	char body[2048], attr[64];
	size_t checked = 0;

	(void)state;
	parse(line);
	assert_string_equal(data_value(&ev, "Image"),
	    "C:\\Windows\\System32\\makecab.exe");
	for (size_t i = 0; i < sizeof(cond_cases) / sizeof(cond_cases[0]);
	    i++) {
		for (int exc = 0; exc < 2; exc++) {
			struct policy_rules *r;
			const char *rule = NULL;
			bool kept;

			attr[0] = '\0';
			if (cond_cases[i].cond != NULL)
				snprintf(attr, sizeof(attr), " condition=\"%s\"",
				    cond_cases[i].cond);
			snprintf(body, sizeof(body), "<ProcessCreate onmatch="
			    "\"%s\"><%s%s name=\"c%zu\">%s</%s>"
			    "</ProcessCreate>", exc ? "exclude" : "include",
			    cond_cases[i].field, attr, i, cond_cases[i].value,
			    cond_cases[i].field);
			r = load_filtering(body);
			kept = policy_rules_keep(r, &ev, &rule);
			if (kept != (exc ? !cond_cases[i].match :
			    cond_cases[i].match))
				fail_msg("case %zu (%s %s %s) as %s: kept=%d",
				    i, cond_cases[i].field,
				    cond_cases[i].cond ? cond_cases[i].cond :
				    "(none)", cond_cases[i].value,
				    exc ? "exclude" : "include", kept);
			if (!kept && exc) {
				char want[16];
				snprintf(want, sizeof(want), "c%zu", i);
				assert_string_equal(rule, want);
			}
			if (!kept && !exc)
				assert_string_equal(rule,
				    "not included: ProcessCreate");
			policy_rules_free(r);
			checked++;
		}
	}
	assert_int_equal(checked, 2 * sizeof(cond_cases) /
	    sizeof(cond_cases[0]));
	free(line);
}

/* ---- include, exclude, groups, rules, names -------------------------------- */

/*
 * Three real records: makecab.exe and wusa.exe started (ProcessCreate,
 * UAC file lines 2 and 3; only makecab's CommandLine names "manifest",
 * only wusa's "/quiet") and a NetworkConnect (DE_sysmon-3-rdp-tun line 1).
 * For each rules body: kept (K) or dropped (D) and the rule named, per
 * record.  Sources: learn.microsoft.com/sysinternals/downloads/sysmon
 * ("exclude matches take precedence", an empty include logs nothing),
 * "Sysmon - The rules about rules" (conditions in a block combine with OR
 * unless the RuleGroup says and), "Sysmon 10.4 rule enhancements"
 * (<Rule>, groupRelation defaulting to and).
 */
static const struct {
	const char	*what, *body;
	const char	*verdict[3];	/* "K" or the rule of a drop */
} sem_cases[] = {
	{ "include only",
	  "<ProcessCreate onmatch=\"include\"><Image condition=\"end with\">"
	  "makecab.exe</Image></ProcessCreate>",
	  { "K", "not included: ProcessCreate", "K" } },
	{ "exclude only",
	  "<ProcessCreate onmatch=\"exclude\"><Image condition=\"end with\" "
	  "name=\"no_makecab\">makecab.exe</Image></ProcessCreate>",
	  { "no_makecab", "K", "K" } },
	{ "include and exclude: exclude wins",
	  "<ProcessCreate onmatch=\"include\"><Image condition=\"contains\">"
	  "System32</Image></ProcessCreate><ProcessCreate onmatch=\"exclude\">"
	  "<Image condition=\"end with\">makecab.exe</Image></ProcessCreate>",
	  { "exclude: ProcessCreate", "K", "K" } },
	{ "an empty include keeps nothing of its type",
	  "<ProcessCreate onmatch=\"include\"/>",
	  { "not included: ProcessCreate", "not included: ProcessCreate",
	    "K" } },
	{ "an empty exclude keeps everything",
	  "<ProcessCreate onmatch=\"exclude\"/>", { "K", "K", "K" } },
	{ "a type without a block is kept",
	  "<NetworkConnect onmatch=\"include\"><DestinationPort>1"
	  "</DestinationPort></NetworkConnect>",
	  { "K", "K", "not included: NetworkConnect" } },
	{ "RuleGroup and: the block's conditions are one rule",
	  "<RuleGroup name=\"grp\" groupRelation=\"and\"><ProcessCreate "
	  "onmatch=\"exclude\"><Image condition=\"end with\">.exe</Image>"
	  "<CommandLine condition=\"contains\">manifest</CommandLine>"
	  "</ProcessCreate></RuleGroup>",
	  { "grp", "K", "K" } },
	{ "RuleGroup or: each condition is a rule",
	  "<RuleGroup name=\"grp\" groupRelation=\"or\"><ProcessCreate "
	  "onmatch=\"exclude\"><Image condition=\"end with\">.exe</Image>"
	  "<CommandLine condition=\"contains\">manifest</CommandLine>"
	  "</ProcessCreate></RuleGroup>",
	  { "grp", "grp", "K" } },
	{ "no RuleGroup: conditions on different fields are ORed",
	  "<ProcessCreate onmatch=\"include\"><Image condition=\"image\">"
	  "makecab.exe</Image><CommandLine condition=\"contains\">/quiet"
	  "</CommandLine></ProcessCreate>",
	  { "K", "K", "K" } },
	{ "Rule and",
	  "<RuleGroup groupRelation=\"or\"><ProcessCreate onmatch=\"include\">"
	  "<Rule name=\"r\" groupRelation=\"and\"><Image condition=\"image\">"
	  "wusa.exe</Image><CommandLine condition=\"contains\">/quiet"
	  "</CommandLine></Rule></ProcessCreate></RuleGroup>",
	  { "not included: ProcessCreate", "K", "K" } },
	{ "Rule without groupRelation is and",
	  "<ProcessCreate onmatch=\"include\"><Rule><Image condition=\"image\">"
	  "makecab.exe</Image><CommandLine condition=\"contains\">/quiet"
	  "</CommandLine></Rule></ProcessCreate>",
	  { "not included: ProcessCreate", "not included: ProcessCreate",
	    "K" } },
	{ "Rule or",
	  "<ProcessCreate onmatch=\"include\"><Rule groupRelation=\"or\">"
	  "<Image condition=\"image\">makecab.exe</Image><CommandLine "
	  "condition=\"contains\">/quiet</CommandLine></Rule></ProcessCreate>",
	  { "K", "K", "K" } },
	{ "RuleGroup and: its conditions and its Rule must all match",
	  "<RuleGroup name=\"g\" groupRelation=\"and\"><ProcessCreate "
	  "onmatch=\"exclude\"><Image condition=\"end with\">.exe</Image>"
	  "<Rule name=\"r_or\" groupRelation=\"or\"><CommandLine condition="
	  "\"contains\">manifest</CommandLine><CommandLine condition="
	  "\"contains\">zzzz</CommandLine></Rule></ProcessCreate></RuleGroup>",
	  { "r_or", "K", "K" } },
	{ "RuleGroup and: every Rule must match",
	  "<RuleGroup groupRelation=\"and\"><ProcessCreate onmatch="
	  "\"exclude\"><Rule><Image condition=\"image\">wusa.exe</Image>"
	  "</Rule><Rule name=\"q\"><CommandLine condition=\"contains\">"
	  "/quiet</CommandLine></Rule></ProcessCreate></RuleGroup>",
	  { "K", "q", "K" } },
	{ "two groups for one type add up",
	  "<RuleGroup groupRelation=\"or\"><ProcessCreate onmatch=\"include\">"
	  "<Image condition=\"image\">makecab.exe</Image></ProcessCreate>"
	  "</RuleGroup><RuleGroup groupRelation=\"or\"><NetworkConnect "
	  "onmatch=\"include\"><Image condition=\"contains\">zzzz</Image>"
	  "</NetworkConnect></RuleGroup><RuleGroup groupRelation=\"or\">"
	  "<ProcessCreate onmatch=\"include\"><Image condition=\"image\">"
	  "wusa.exe</Image></ProcessCreate></RuleGroup>",
	  { "K", "K", "not included: NetworkConnect" } },
	{ "RuleName: the Rule's name before the condition's",
	  "<ProcessCreate onmatch=\"exclude\"><Rule name=\"rule_name\" "
	  "groupRelation=\"or\"><Image condition=\"image\" name=\"cond_name\">"
	  "makecab.exe</Image></Rule></ProcessCreate>",
	  { "rule_name", "K", "K" } },
	{ "RuleName: the condition's name before the group's",
	  "<RuleGroup name=\"group_name\" groupRelation=\"or\"><ProcessCreate "
	  "onmatch=\"exclude\"><Image condition=\"image\" name=\"cond_name\">"
	  "makecab.exe</Image><Image condition=\"image\">wusa.exe</Image>"
	  "</ProcessCreate></RuleGroup>",
	  { "cond_name", "group_name", "K" } },
};

static void
include_exclude_groups_and_names(void **state)
{
	char *lines[3] = { file_line(UAC_FILE, 2), file_line(UAC_FILE, 3),
	    file_line(WIN_DIR "/DE_sysmon-3-rdp-tun.xml.log", 1) };
	size_t checked = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(sem_cases) / sizeof(sem_cases[0]);
	    i++) {
		struct policy_rules *r = load_filtering(sem_cases[i].body);

		for (size_t k = 0; k < 3; k++) {
			const char *rule = NULL;
			bool kept;

			parse(lines[k]);
			kept = policy_rules_keep(r, &ev, &rule);
			if (strcmp(sem_cases[i].verdict[k], "K") == 0 ?
			    !kept : kept || strcmp(rule,
			    sem_cases[i].verdict[k]) != 0)
				fail_msg("%s, record %zu: kept=%d rule=\"%s\", "
				    "want %s", sem_cases[i].what, k, kept,
				    kept ? "" : rule, sem_cases[i].verdict[k]);
			checked++;
		}
		policy_rules_free(r);
	}
	assert_int_equal(checked, 3 * sizeof(sem_cases) /
	    sizeof(sem_cases[0]));
	for (size_t k = 0; k < 3; k++)
		free(lines[k]);
}

/*
 * Every event type of Sysmon's table against the whole corpus: an empty
 * include block of a type drops exactly the Sysmon records of its
 * EventIDs (counted here from the records themselves), and never one of
 * EventIDs 4 and 16 ("cannot be filtered") or of another provider.
 */
static const struct {
	const char	*tag;
	int		 ids[3];
} type_table[] = {
	{ "ProcessCreate", { 1 } }, { "FileCreateTime", { 2 } },
	{ "NetworkConnect", { 3 } }, { "ProcessTerminate", { 5 } },
	{ "DriverLoad", { 6 } }, { "ImageLoad", { 7 } },
	{ "CreateRemoteThread", { 8 } }, { "RawAccessRead", { 9 } },
	{ "ProcessAccess", { 10 } }, { "FileCreate", { 11 } },
	{ "RegistryEvent", { 12, 13, 14 } },
	{ "FileCreateStreamHash", { 15 } }, { "PipeEvent", { 17, 18 } },
	{ "WmiEvent", { 19, 20, 21 } }, { "DnsQuery", { 22 } },
	{ "FileDelete", { 23 } }, { "ClipboardChange", { 24 } },
	{ "ProcessTampering", { 25 } }, { "FileDeleteDetected", { 26 } },
	{ "FileBlockExecutable", { 27 } }, { "FileBlockShredding", { 28 } },
	{ "FileExecutableDetected", { 29 } },
};

static bool
sysmon_provider(void)
{
	return ev.provider_name != NULL &&
	    (strcmp(ev.provider_name, "Microsoft-Windows-Sysmon") == 0 ||
	    strcmp(ev.provider_name, "Linux-Sysmon") == 0);
}

static void
event_types_map_to_sysmon_event_ids(void **state)
{
	struct corpus c, lc;
	size_t seen_ids = 0, total_dropped = 0, other = 0, tamper = 0;

	(void)state;
	corpus_load(&c, WIN_DIR, ".xml.log");
	for (int d = 0; d < 2; d++) {
		corpus_load(&lc, d == 0 ? CORPUS_DIR "/linux-syslog" :
		    CORPUS_DIR "/linux-syslog/wazuh-engine-sysmon-linux-tests",
		    d == 0 ? ".log" : "_input.txt");
		for (size_t i = 0; i < lc.n; i++) {
			c.lines = realloc(c.lines, (c.n + 1) *
			    sizeof(*c.lines));
			assert_non_null(c.lines);
			c.lines[c.n++] = lc.lines[i];
		}
		free(lc.lines);
	}
	for (size_t t = 0; t < sizeof(type_table) / sizeof(type_table[0]);
	    t++) {
		char body[256];
		struct policy_rules *r;
		size_t want = 0, dropped = 0;

		snprintf(body, sizeof(body), "<%s onmatch=\"include\"/>",
		    type_table[t].tag);
		r = load_filtering(body);
		for (size_t i = 0; i < c.n; i++) {
			char why[128];
			long id;

			if (event_parse(parser, c.lines[i], strlen(c.lines[i]),
			    &ev, why, sizeof(why)) != 0)
				continue;
			id = ev.event_id != NULL ? strtol(ev.event_id, NULL,
			    10) : -1;
			for (size_t k = 0; k < 3 && type_table[t].ids[k]; k++)
				if (sysmon_provider() &&
				    id == type_table[t].ids[k])
					want++;
			if (!policy_rules_keep(r, &ev, NULL)) {
				dropped++;
				assert_true(sysmon_provider());
				assert_true(id != 4 && id != 16 && id != 255);
			}
			if (t == 0 && !sysmon_provider())
				other++;
			if (t == 0 && sysmon_provider() && (id == 4 ||
			    id == 16))
				tamper++;
		}
		assert_int_equal(dropped, want);
		if (want > 0)
			seen_ids++;
		total_dropped += dropped;
		policy_rules_free(r);
	}
	/* The corpus has records of 15 of the types (RawAccessRead from
	 * Sysmon for Linux), Security records (4624, 5145) and Sysmon's own
	 * 4 and 16. */
	assert_true(seen_ids >= 15);
	assert_true(other >= 2);
	assert_true(tamper >= 2);
	print_message("event types: %zu with records, %zu records dropped "
	    "in all, %zu of other providers and %zu tamper events never\n",
	    seen_ids, total_dropped, other, tamper);
	corpus_free(&c);
}

/* Which EventIDs a rules file names (the policy parses only those). */
static void
rules_cover_the_event_ids_of_their_types(void **state)
{
	struct policy_rules *r = load_filtering(
	    "<RuleGroup groupRelation=\"or\"><RegistryEvent onmatch="
	    "\"exclude\"/></RuleGroup><ProcessCreate onmatch=\"include\">"
	    "<Image>x</Image></ProcessCreate>");

	(void)state;
	assert_true(policy_rules_covers(r, 1));
	assert_true(policy_rules_covers(r, 12));
	assert_true(policy_rules_covers(r, 13));
	assert_true(policy_rules_covers(r, 14));
	assert_false(policy_rules_covers(r, 3));
	assert_false(policy_rules_covers(r, 4));
	assert_false(policy_rules_covers(r, 16));
	assert_false(policy_rules_covers(r, 4624));
	assert_false(policy_rules_covers(r, -1));
	policy_rules_free(r);
}

/* A record of another provider is never judged, whatever its EventID. */
static void
other_providers_are_never_filtered(void **state)
{
	char *line = file_line(UAC_FILE, 2);
	char *p = strstr(line, "Microsoft-Windows-Sysmon'");
	struct policy_rules *r = load_filtering(
	    "<ProcessCreate onmatch=\"include\"/>");
	const char *rule;

	(void)state;
	parse(line);
	assert_false(policy_rules_keep(r, &ev, &rule));
	assert_non_null(p);
	memcpy(p, "Microsoft-Windows-SysmoX", 24);
	parse(line);
	assert_true(policy_rules_keep(r, &ev, &rule));
	policy_rules_free(r);
	free(line);
}

/* Sysmon for Linux records: the same types, the same rules. */
static void
linux_records_are_filtered_too(void **state)
{
	struct corpus c;
	struct policy_rules *r = load_filtering(
	    "<ProcessTerminate onmatch=\"exclude\"><Image condition=\"begin "
	    "with\" name=\"elastic\">/opt/Elastic/</Image></ProcessTerminate>"
	    "<ProcessCreate onmatch=\"include\"><Image condition=\"image\" "
	    "name=\"ssh\">ssh</Image></ProcessCreate>");
	size_t linux_recs = 0, dropped = 0, kept = 0, by_rule = 0;

	(void)state;
	corpus_load(&c, CORPUS_DIR "/linux-syslog", ".log");
	for (size_t i = 0; i < c.n; i++) {
		char why[128];
		const char *rule = NULL;
		const char *img;

		if (event_parse(parser, c.lines[i], strlen(c.lines[i]), &ev,
		    why, sizeof(why)) != 0 || !ev.linux_sysmon)
			continue;
		linux_recs++;
		img = data_value(&ev, "Image");
		if (policy_rules_keep(r, &ev, &rule)) {
			kept++;
			continue;
		}
		dropped++;
		if (strcmp(rule, "elastic") == 0) {
			assert_string_equal(ev.event_id, "5");
			assert_non_null(img);
			assert_memory_equal(img, "/opt/Elastic/", 13);
			by_rule++;
		} else {
			assert_string_equal(rule,
			    "not included: ProcessCreate");
			assert_string_equal(ev.event_id, "1");
		}
	}
	assert_true(linux_recs > 0);
	assert_true(by_rule > 0);
	assert_true(kept > 0);
	assert_int_equal(kept + dropped, linux_recs);
	policy_rules_free(r);
	corpus_free(&c);
}

/* ---- [tag] rules ------------------------------------------------------------ */

static void
tag_rules_name_every_matching_rule(void **state)
{
	char *mk = file_line(UAC_FILE, 2), *wu = file_line(UAC_FILE, 3);
	struct policy_rules *r = load_filtering(
	    "<RuleGroup name=\"\" groupRelation=\"or\">"
	    "<ProcessCreate onmatch=\"include\">"
	    "<Rule name=\"parent_powershell\" groupRelation=\"and\">"
	    "<ParentImage condition=\"end with\">\\powershell.exe</ParentImage>"
	    "<Image condition=\"begin with\">C:\\Windows\\</Image></Rule>"
	    "<Image condition=\"image\" name=\"cabinet\">makecab.exe</Image>"
	    "<CommandLine condition=\"contains any\" name=\"tmp_file\">"
	    ".tmp;.bat</CommandLine>"
	    "<CommandLine condition=\"contains\">unnamed</CommandLine>"
	    "</ProcessCreate>"
	    "<ProcessCreate onmatch=\"exclude\">"
	    "<CommandLine condition=\"contains\">/quiet</CommandLine>"
	    "</ProcessCreate></RuleGroup>");
	struct event_tags t = { 0 };
	size_t over = 0;

	(void)state;
	parse(mk);
	assert_int_equal(policy_rules_tags(r, &ev, &t, &over), 3);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.v[0], "parent_powershell");
	assert_string_equal(t.v[1], "cabinet");
	assert_string_equal(t.v[2], "tmp_file");
	/* Excluded: wusa.exe's /quiet takes every tag away. */
	memset(&t, 0, sizeof(t));
	parse(wu);
	assert_int_equal(policy_rules_tags(r, &ev, &t, &over), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(over, 0);
	policy_rules_free(r);
	free(mk);
	free(wu);
}

static void
tags_past_the_limit_are_counted(void **state)
{
	char *mk = file_line(UAC_FILE, 2);
	char body[8192];
	size_t n = 0, over = 0;
	struct policy_rules *r;
	struct event_tags t = { 0 };

	(void)state;
	n += (size_t)snprintf(body + n, sizeof(body) - n,
	    "<ProcessCreate onmatch=\"include\">");
	for (int i = 0; i < EVENT_TAGS_MAX + 3; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "<Image "
		    "condition=\"image\" name=\"t%02d\">makecab.exe</Image>", i);
	snprintf(body + n, sizeof(body) - n, "</ProcessCreate>");
	r = load_filtering(body);
	parse(mk);
	assert_int_equal(policy_rules_tags(r, &ev, &t, &over),
	    EVENT_TAGS_MAX + 3);
	assert_int_equal(t.n, EVENT_TAGS_MAX);
	assert_int_equal(over, 3);
	policy_rules_free(r);
	free(mk);
}

/* ---- errors name file:line -------------------------------------------------- */

static const struct {
	const char	*xml;
	const char	*want;	/* the first message */
} bad_cases[] = {
	{ "<Sysmon>\n<EventFiltering>\n<ProcessCreat onmatch=\"include\"/>\n"
	  "</EventFiltering></Sysmon>",
	  "t.xml:3: <ProcessCreat>: not a Sysmon event type" },
	{ "<Sysmon><EventFiltering>\n\n<ProcessCreate onmatch=\"maybe\"/>"
	  "</EventFiltering></Sysmon>",
	  "t.xml:3: <ProcessCreate>: onmatch \"maybe\": expected include or "
	  "exclude" },
	{ "<Sysmon><EventFiltering>\n<ProcessCreate/></EventFiltering>"
	  "</Sysmon>",
	  "t.xml:2: <ProcessCreate>: onmatch missing" },
	{ "<Sysmon><EventFiltering><ProcessCreate onmatch=\"include\">\n"
	  "\n\n<Image condition=\"ends with\">x</Image></ProcessCreate>"
	  "</EventFiltering></Sysmon>",
	  "t.xml:4: <Image>: unknown condition \"ends with\"" },
	{ "<Sysmon><EventFiltering>\n<RuleGroup groupRelation=\"xor\">"
	  "</RuleGroup></EventFiltering></Sysmon>",
	  "t.xml:2: <RuleGroup>: groupRelation \"xor\"" },
	{ "<Sysmon><EventFiltering><ProcessCreate onmatch=\"include\">\n"
	  "<Rule name=\"x\">\n</Rule></ProcessCreate></EventFiltering>"
	  "</Sysmon>",
	  "t.xml:3: <Rule>: no condition in it" },
	{ "<Sysmon><EventFiltering><ProcessCreate onmatch=\"include\">\n"
	  "<Image condition=\"is any\">;;</Image></ProcessCreate>"
	  "</EventFiltering></Sysmon>",
	  "t.xml:2: <Image>: no value between the ';'" },
	{ "<Sysmon><EventFiltering>\n<ProcessCreate onmatch=\"include\">\n"
	  "<Image>x</Imag>\n</ProcessCreate></EventFiltering></Sysmon>",
	  "t.xml:3: XML error at column" },
	{ "<!DOCTYPE x [<!ENTITY a \"b\">]>\n<Sysmon/>",
	  "t.xml:1: a document type declaration is not accepted" },
	{ "<Config/>", "t.xml:1: <Config>: the root element must be <Sysmon>" },
	{ "<Sysmon><EventFiltering><ProcessCreate onmatch=\"include\" "
	  "colour=\"red\"/></EventFiltering></Sysmon>",
	  "t.xml:1: <ProcessCreate>: unknown attribute colour" },
	{ "<Sysmon><EventFiltering><ProcessCreate onmatch=\"include\">"
	  "<Image><b/></Image></ProcessCreate></EventFiltering></Sysmon>",
	  "t.xml:1: <b>: a condition holds no elements" },
	{ "", "t.xml:1: XML error at column" },
};

static void
errors_name_file_and_line(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]);
	    i++) {
		struct policy_rules *r = NULL;
		struct reports rep = { .n = 0 };
		int rc = policy_rules_load_string("t.xml", bad_cases[i].xml,
		    strlen(bad_cases[i].xml), &r, on_report, &rep);

		assert_int_equal(rc, -EINVAL);
		assert_null(r);
		assert_true(rep.n >= 1);
		if (strncmp(rep.msgs[0], bad_cases[i].want,
		    strlen(bad_cases[i].want)) != 0)
			fail_msg("case %zu: \"%s\", want \"%s...\"", i,
			    rep.msgs[0], bad_cases[i].want);
	}
}

/* Every problem of a file in one run, and a missing file by its name. */
static void
errors_all_reported_and_files(void **state)
{
	const char *xml = "<Sysmon><EventFiltering>\n"
	    "<ProcessCreat onmatch=\"include\"/>\n"
	    "<NetworkConnect onmatch=\"maybe\"/>\n"
	    "<FileCreate onmatch=\"include\"><X condition=\"nope\">a</X>"
	    "</FileCreate>\n</EventFiltering></Sysmon>";
	const char *full = "<Sysmon schemaversion=\"4.90\">"
	    "<HashAlgorithms>md5,sha256</HashAlgorithms><CheckRevocation/>"
	    "<EventFiltering><RuleGroup name=\"\" groupRelation=\"or\">"
	    "<ProcessCreate onmatch=\"exclude\"/></RuleGroup>"
	    "</EventFiltering></Sysmon>";
	struct policy_rules *r = NULL;
	struct reports rep = { .n = 0 };
	char path[64];
	int fd;

	(void)state;
	assert_int_equal(policy_rules_load_string("t.xml", xml, strlen(xml),
	    &r, on_report, &rep), -EINVAL);
	assert_int_equal(rep.n, 3);
	assert_memory_equal(rep.msgs[1], "t.xml:3:", 8);
	assert_memory_equal(rep.msgs[2], "t.xml:4:", 8);
	rep.n = 0;
	assert_int_equal(policy_rules_load_file("/nonexistent/r.xml", &r,
	    on_report, &rep), -ENOENT);
	assert_int_equal(rep.n, 1);
	assert_non_null(strstr(rep.msgs[0], "/nonexistent/r.xml:0: cannot "
	    "open"));
	/* A whole Sysmon configuration loads: its other sections are
	 * Sysmon's own and left alone. */
	snprintf(path, sizeof(path), "/tmp/sysmonfwd-pol-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_true(write(fd, full, strlen(full)) == (ssize_t)strlen(full));
	close(fd);
	rep.n = 0;
	assert_int_equal(policy_rules_load_file(path, &r, on_report, &rep),
	    0);
	assert_int_equal(rep.n, 0);
	assert_int_equal(policy_rules_count(r), 0);
	policy_rules_free(r);
	unlink(path);
}

/* ---- the tag trailer --------------------------------------------------------- */

static void
trailer_round_trip_and_escape(void **state)
{
	struct event_tags t = { 0 }, back;
	struct strbuf sb = { 0 }, sb2 = { 0 };
	const char raw[] = "<Event>x</Event>";

	(void)state;
	assert_int_equal(event_tags_add(&t, "indextts_python_drops_binary"),
	    0);
	assert_int_equal(event_tags_add(&t, "technique_id=T1059,technique_"
	    "name=Command and Scripting Interpreter"), 0);
	assert_int_equal(event_tags_add(&t, "indextts_python_drops_binary"),
	    0);
	assert_int_equal(t.n, 2);
	assert_int_equal(event_tags_add(&t, ""), -EINVAL);
	assert_int_equal(event_tags_add(&t, "a\nb"), -EINVAL);
	/* No tags, ordinary bytes: nothing added. */
	assert_int_equal(event_rec_encode(&sb, raw, strlen(raw), NULL), 0);
	assert_int_equal(sb.len, strlen(raw));
	assert_int_equal(event_rec_decode(sb.s, sb.len, &back), strlen(raw));
	assert_int_equal(back.n, 0);
	/* Tags: RAW | TAGS | LEN | MAGIC, decoded back. */
	strbuf_reset(&sb);
	assert_int_equal(event_rec_encode(&sb, raw, strlen(raw), &t), 0);
	assert_int_equal(event_rec_decode(sb.s, sb.len, &back), strlen(raw));
	assert_int_equal(back.n, 2);
	assert_string_equal(back.v[0], t.v[0]);
	assert_string_equal(back.v[1], t.v[1]);
	assert_memory_equal(sb.s + sb.len - 8, "\0SFWTAGS", 8);
	/* A source's bytes that end like a trailer are escaped: read back,
	 * they are the source's bytes, whole, and carry no tag. */
	assert_true(event_rec_needs_trailer(sb.s, sb.len));
	assert_int_equal(event_rec_encode(&sb2, sb.s, sb.len, NULL), 0);
	assert_int_equal(sb2.len, sb.len + 10);
	assert_int_equal(event_rec_decode(sb2.s, sb2.len, &back), sb.len);
	assert_int_equal(back.n, 0);
	/* A broken trailer is raw bytes. */
	sb.s[sb.len - 10] = (char)0xff;	/* LEN too large */
	assert_int_equal(event_rec_decode(sb.s, sb.len, &back), sb.len);
	strbuf_free(&sb);
	strbuf_free(&sb2);
}

/* ---- through a source, the ring and every renderer --------------------------- */

static cJSON *
json_parse_n(const char *s, size_t n)
{
	char *z = strndup(s, n);
	cJSON *j = cJSON_Parse(z);

	free(z);
	if (j == NULL)
		fail_msg("not JSON: %.*s", (int)(n > 300 ? 300 : n), s);
	return j;
}

/* The strings of a JSON array as "a|b|", or "" when it is not one. */
static void
strings_of(const cJSON *a, char *out, size_t len)
{
	const cJSON *e;
	size_t used = 0;

	out[0] = '\0';
	if (cJSON_IsString(a)) {
		snprintf(out, len, "%s|", a->valuestring);
		return;
	}
	cJSON_ArrayForEach(e, a) {
		int w = snprintf(out + used, len - used, "%s|",
		    cJSON_IsString(e) ? e->valuestring : "?");
		assert_true(w > 0 && (size_t)w < len - used);
		used += (size_t)w;
	}
}

static void
write_rules(const char *path, const char *body)
{
	char xml[4096];

	snprintf(xml, sizeof(xml), "<Sysmon schemaversion=\"4.90\">"
	    "<EventFiltering>%s</EventFiltering></Sysmon>\n", body);
	write_file(path, xml, "w");
}

#define TAG_SPACES	"technique_id=T1105,technique_name=Ingress Tool"

static void
tags_travel_through_the_ring_to_every_renderer(void **state)
{
	struct fixture *f = fx_new("sysmonfwd-pol", 1 << 20);
	char *mk = file_line(UAC_FILE, 2), *wu = file_line(UAC_FILE, 3);
	char *net = file_line(WIN_DIR "/DE_sysmon-3-rdp-tun.xml.log", 1);
	/* A line whose bytes end like a tag trailer naming "evil". */
	static const char forged[] = "not a record evil\x04\x00\0SFWTAGS";
	char fpath[160], tpath[160], buf[256];
	struct config cfg;
	struct policy *p = NULL;
	struct reports rep = { .n = 0 };
	struct source *s;
	struct source_stats ss;
	struct policy_stats ps;
	struct buffer_rec r[8];
	struct render_ctx ctx = { "agent1", "host1", true };
	struct render_hec_opts hx = { .json = false }, hj = { .json = true };
	struct render_es_opts eo = { NULL, "default" };
	struct render_wazuh_opts wo = { RENDER_WAZUH_MAX_EVENT };
	struct strbuf out = { 0 }, scratch = { 0 };
	size_t n;
	FILE *fp;
	cJSON *j, *inner;

	(void)state;
	snprintf(fpath, sizeof(fpath), "%s/filter.xml", f->dir);
	snprintf(tpath, sizeof(tpath), "%s/tag.xml", f->dir);
	write_rules(fpath, "<ProcessCreate onmatch=\"exclude\"><Image "
	    "condition=\"image\" name=\"drop_wusa\">wusa.exe</Image>"
	    "</ProcessCreate>");
	write_rules(tpath, "<RuleGroup groupRelation=\"or\"><ProcessCreate "
	    "onmatch=\"include\"><Image condition=\"image\" name=\"cabinet\">"
	    "makecab.exe</Image><CommandLine condition=\"contains\" name=\""
	    TAG_SPACES "\">.tmp</CommandLine></ProcessCreate></RuleGroup>");
	/* makecab, the forged line, the NetworkConnect, wusa (filtered,
	 * last: the position must still pass it). */
	assert_non_null(fp = fopen(f->path, "w"));
	fprintf(fp, "%s\n", mk);
	fwrite(forged, 1, sizeof(forged) - 1, fp);
	fprintf(fp, "\n%s\n%s\n", net, wu);
	fclose(fp);

	memset(&cfg, 0, sizeof(cfg));
	cfg.filter.rules = fpath;
	cfg.tag.rules = tpath;
	assert_int_equal(policy_new(&cfg, &p, on_report, &rep), 0);
	assert_int_equal(rep.n, 0);
	assert_int_equal(source_open(&f->in, f->dir, f->buf, &s), 0);
	source_set_policy(s, p, 1 << 20);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	source_get_stats(s, &ss);
	assert_int_equal(ss.records, 3);
	assert_int_equal(ss.filtered, 1);
	policy_get_stats(p, &ps);
	assert_int_equal(ps.filtered, 1);
	assert_int_equal(ps.tagged, 1);

	n = buffer_read(f->cur, r, 8, 1 << 20);
	assert_int_equal(n, 3);
	/* The ring holds the raw bytes and the trailer; every renderer
	 * shows the raw bytes only, and the tags. */
	assert_true(r[0].len > strlen(mk));
	assert_memory_equal(r[0].data, mk, strlen(mk));
	assert_int_equal(r[2].len, strlen(net));	/* no tags: as read */
	assert_int_equal(r[1].len, sizeof(forged) - 1 + 10);	/* escaped */

	/* ECS */
	assert_int_equal(render_ecs(parser, &ctx, &r[0], &out), RENDER_OK);
	j = json_parse_n(out.s, out.len);
	strings_of(cJSON_GetObjectItem(j, "tags"), buf, sizeof(buf));
	assert_string_equal(buf, "cabinet|" TAG_SPACES "|");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "event"), "original")->valuestring, mk);
	cJSON_Delete(j);
	/* HEC, format = xml: the XML as read, the tags as a field. */
	strbuf_reset(&out);
	assert_int_equal(render_hec(parser, &ctx, &hx, &r[0], &out,
	    &scratch), RENDER_OK);
	j = json_parse_n(out.s, out.len);
	assert_string_equal(cJSON_GetObjectItem(j, "event")->valuestring, mk);
	strings_of(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "fields"),
	    "sysmonfwd_tags"), buf, sizeof(buf));
	assert_string_equal(buf, "cabinet|" TAG_SPACES "|");
	cJSON_Delete(j);
	/* HEC, format = json */
	strbuf_reset(&out);
	assert_int_equal(render_hec(parser, &ctx, &hj, &r[0], &out,
	    &scratch), RENDER_OK);
	j = json_parse_n(out.s, out.len);
	strings_of(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "event"),
	    "tags"), buf, sizeof(buf));
	assert_string_equal(buf, "cabinet|" TAG_SPACES "|");
	strings_of(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "fields"),
	    "sysmonfwd_tags"), buf, sizeof(buf));
	assert_string_equal(buf, "cabinet|" TAG_SPACES "|");
	cJSON_Delete(j);
	/* Elasticsearch: the document after the action line. */
	strbuf_reset(&out);
	assert_int_equal(render_es(parser, &ctx, &eo, &r[0], &out),
	    RENDER_OK);
	j = json_parse_n(strchr(out.s, '\n') + 1, out.len - (size_t)(strchr(
	    out.s, '\n') + 1 - out.s));
	strings_of(cJSON_GetObjectItem(j, "tags"), buf, sizeof(buf));
	assert_string_equal(buf, "cabinet|" TAG_SPACES "|");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "event"), "original")->valuestring, mk);
	cJSON_Delete(j);
	/* Wazuh: a JSON string holding {"win":...,"sysmonfwd":{"tags"}}. */
	strbuf_reset(&out);
	assert_int_equal(render_wazuh(parser, &ctx, &wo, &r[0], &out,
	    &scratch), RENDER_OK);
	j = json_parse_n(out.s, out.len);
	assert_true(cJSON_IsString(j));
	inner = cJSON_Parse(j->valuestring);
	assert_non_null(inner);
	assert_non_null(cJSON_GetObjectItem(inner, "win"));
	strings_of(cJSON_GetObjectItem(cJSON_GetObjectItem(inner,
	    "sysmonfwd"), "tags"), buf, sizeof(buf));
	assert_string_equal(buf, "cabinet|" TAG_SPACES "|");
	cJSON_Delete(inner);
	cJSON_Delete(j);

	/* The forged line: its own bytes, whole, and no tag of its own. */
	strbuf_reset(&out);
	assert_int_equal(render_ecs(parser, &ctx, &r[1], &out),
	    RENDER_PARSE_ERROR);
	j = json_parse_n(out.s, out.len);
	strings_of(cJSON_GetObjectItem(j, "tags"), buf, sizeof(buf));
	assert_string_equal(buf, "sysmonfwd_parse_error|");
	assert_int_equal(strlen(cJSON_GetObjectItem(j,
	    "message")->valuestring), strlen("not a record evil\x04"));
	cJSON_Delete(j);
	/* An untagged record: no tags member, the original as read. */
	strbuf_reset(&out);
	assert_int_equal(render_ecs(parser, &ctx, &r[2], &out), RENDER_OK);
	j = json_parse_n(out.s, out.len);
	assert_null(cJSON_GetObjectItem(j, "tags"));
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "event"), "original")->valuestring, net);
	cJSON_Delete(j);
	assert_int_equal(buffer_ack(f->cur, r[n - 1].seq), 0);

	/* The filtered last line does not hold the position back: after a
	 * restart only a new line is read. */
	assert_int_equal(buffer_sync(f->buf), 0);
	source_close(s, f->buf);
	write_file(f->path, "appended line\n", "a");
	assert_int_equal(source_open(&f->in, f->dir, f->buf, &s), 0);
	source_set_policy(s, p, 1 << 20);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	n = buffer_read(f->cur, r, 8, 1 << 20);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].len, strlen("appended line"));
	assert_memory_equal(r[0].data, "appended line", r[0].len);
	assert_int_equal(buffer_ack(f->cur, r[0].seq), 0);
	source_close(s, f->buf);

	policy_free(p);
	strbuf_free(&out);
	strbuf_free(&scratch);
	free(mk);
	free(wu);
	free(net);
	fx_free(f);
}

/* A record whose tags would pass the ring's max_record_size is cut so
 * that they fit, and flagged. */
static void
tags_fit_within_max_record_size(void **state)
{
	struct fixture *f = fx_new("sysmonfwd-pol", 1 << 20);
	char *mk = file_line(UAC_FILE, 2);
	char tpath[160];
	struct config cfg;
	struct policy *p = NULL;
	struct source *s;
	struct buffer_rec r[2];
	struct event_tags t;
	size_t max = strlen(mk) - 100;

	(void)state;
	snprintf(tpath, sizeof(tpath), "%s/tag.xml", f->dir);
	write_rules(tpath, "<ProcessCreate onmatch=\"include\"><Image "
	    "condition=\"image\" name=\"cabinet\">makecab.exe</Image>"
	    "</ProcessCreate>");
	write_file(f->path, mk, "w");
	write_file(f->path, "\n", "a");
	memset(&cfg, 0, sizeof(cfg));
	cfg.tag.rules = tpath;
	assert_int_equal(policy_new(&cfg, &p, NULL, NULL), 0);
	assert_int_equal(source_open(&f->in, f->dir, f->buf, &s), 0);
	source_set_policy(s, p, max);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	assert_int_equal(buffer_read(f->cur, r, 2, 1 << 20), 1);
	assert_int_equal(r[0].len, max);
	assert_true(r[0].flags & BUFFER_REC_TRUNCATED);
	assert_int_equal(event_rec_decode(r[0].data, r[0].len, &t),
	    max - strlen("cabinet") - 10);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.v[0], "cabinet");
	assert_int_equal(buffer_ack(f->cur, r[0].seq), 0);
	source_close(s, f->buf);
	policy_free(p);
	free(mk);
	fx_free(f);
}

/*
 * A record that does not parse but carries a tag (the redactor tags the
 * unparsable records it rewrites): every form shows the tag beside
 * sysmonfwd_parse_error, and the message is the raw text only.
 */
static void
tags_of_unparsable_records_in_every_form(void **state)
{
	struct event_tags t = { 0 };
	struct strbuf rec_sb = { 0 }, out = { 0 }, scratch = { 0 };
	struct render_ctx ctx = { "agent1", "host1", false };
	struct render_hec_opts hx = { .json = false };
	struct render_wazuh_opts wo = { RENDER_WAZUH_MAX_EVENT };
	struct buffer_rec r = { .seq = 7, .time_ms = 1, .source = "in" };
	char buf[256];
	cJSON *j, *inner;

	(void)state;
	assert_int_equal(event_tags_add(&t, "sysmonfwd_redacted"), 0);
	assert_int_equal(event_rec_encode(&rec_sb, "<Event><Sys", 11, &t), 0);
	r.data = rec_sb.s;
	r.len = rec_sb.len;
	assert_int_equal(render_ecs(parser, &ctx, &r, &out),
	    RENDER_PARSE_ERROR);
	j = json_parse_n(out.s, out.len);
	strings_of(cJSON_GetObjectItem(j, "tags"), buf, sizeof(buf));
	assert_string_equal(buf, "sysmonfwd_parse_error|sysmonfwd_redacted|");
	assert_string_equal(cJSON_GetObjectItem(j, "message")->valuestring,
	    "<Event><Sys");
	cJSON_Delete(j);
	strbuf_reset(&out);
	assert_int_equal(render_hec(parser, &ctx, &hx, &r, &out, &scratch),
	    RENDER_PARSE_ERROR);
	j = json_parse_n(out.s, out.len);
	strings_of(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "fields"),
	    "sysmonfwd_tags"), buf, sizeof(buf));
	assert_string_equal(buf, "sysmonfwd_redacted|");
	cJSON_Delete(j);
	strbuf_reset(&out);
	assert_int_equal(render_wazuh(parser, &ctx, &wo, &r, &out, &scratch),
	    RENDER_PARSE_ERROR);
	j = json_parse_n(out.s, out.len);
	inner = cJSON_Parse(j->valuestring);
	assert_non_null(inner);
	strings_of(cJSON_GetObjectItem(inner, "tags"), buf, sizeof(buf));
	assert_string_equal(buf, "sysmonfwd_parse_error|sysmonfwd_redacted|");
	cJSON_Delete(inner);
	cJSON_Delete(j);
	strbuf_free(&rec_sb);
	strbuf_free(&out);
	strbuf_free(&scratch);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_condition_as_sysmon_documents),
		cmocka_unit_test(include_exclude_groups_and_names),
		cmocka_unit_test(event_types_map_to_sysmon_event_ids),
		cmocka_unit_test(rules_cover_the_event_ids_of_their_types),
		cmocka_unit_test(other_providers_are_never_filtered),
		cmocka_unit_test(linux_records_are_filtered_too),
		cmocka_unit_test(tag_rules_name_every_matching_rule),
		cmocka_unit_test(tags_past_the_limit_are_counted),
		cmocka_unit_test(errors_name_file_and_line),
		cmocka_unit_test(errors_all_reported_and_files),
		cmocka_unit_test(trailer_round_trip_and_escape),
		cmocka_unit_test(tags_travel_through_the_ring_to_every_renderer),
		cmocka_unit_test(tags_fit_within_max_record_size),
		cmocka_unit_test(tags_of_unparsable_records_in_every_form),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
