/*
 * test_config.c - the INI loader: defaults, every value type, and the
 * "file:line: key: problem" diagnostics for each kind of mistake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static const char *const good =
    "[agent]\n"
    "name = tts-01\n"
    "state_dir = /tmp/x\n"
    "[input:win]\n"
    "type = file\n"
    "path = /var/log/sysmon.log\n"
    "[output:out]\n"
    "type = file\n"
    "path = /tmp/out.ndjson\n";

/* Load text; return the diagnostics joined by newlines (caller frees). */
static char *
load_errors(const char *text, int *rc, struct config **cfg)
{
	struct config_diag d = { 0 };
	struct config *c = NULL;
	size_t len = 1;
	char *all;

	*rc = config_load_string("t.conf", text, &c, &d);
	for (size_t i = 0; i < d.n; i++)
		len += strlen(d.msgs[i]) + 1;
	all = calloc(1, len);
	assert_non_null(all);
	for (size_t i = 0; i < d.n; i++) {
		strcat(all, d.msgs[i]);
		strcat(all, "\n");
	}
	config_diag_free(&d);
	if (cfg != NULL)
		*cfg = c;
	else
		config_free(c);
	return all;
}

static void
expect_error(const char *text, const char *needle)
{
	int rc;
	char *errs = load_errors(text, &rc, NULL);

	if (strstr(errs, needle) == NULL)
		fail_msg("expected \"%s\" in:\n%s", needle, errs);
	assert_int_not_equal(rc, 0);
	free(errs);
}

static void
config_good_file_loads_with_defaults(void **state)
{
	struct config *cfg;
	int rc;
	char *errs = load_errors(good, &rc, &cfg);

	(void)state;
	assert_string_equal(errs, "");
	assert_int_equal(rc, 0);
	assert_string_equal(cfg->agent.name, "tts-01");
	assert_string_equal(cfg->agent.state_dir, "/tmp/x");
	assert_int_equal(cfg->agent.log_level, 2);
	assert_int_equal(cfg->ninputs, 1);
	assert_string_equal(cfg->inputs[0].name, "win");
	assert_int_equal(cfg->inputs[0].type, CONFIG_INPUT_FILE);
	assert_true(cfg->inputs[0].follow);
	assert_int_equal(cfg->inputs[0].max_line_size, 1 << 20);
	assert_int_equal(cfg->inputs[0].poll_interval_ms, 250);
	assert_int_equal(cfg->inputs[0].start, CONFIG_START_BEGINNING);
	assert_false(cfg->inputs[0].keep_other_lines);
	assert_int_equal(cfg->noutputs, 1);
	assert_int_equal(cfg->outputs[0].type, CONFIG_OUTPUT_FILE);
	assert_int_equal(cfg->outputs[0].batch_max_events, 500);
	assert_false(cfg->outputs[0].keep_original);
	config_free(cfg);
	free(errs);
}

static void
config_agent_name_defaults_to_hostname(void **state)
{
	struct config *cfg;
	int rc;
	char *errs = load_errors("[input:a]\ntype=file\npath=-\n"
	    "[output:b]\ntype=stdout\n", &rc, &cfg);

	(void)state;
	assert_int_equal(rc, 0);
	assert_non_null(cfg->agent.name);
	assert_true(strlen(cfg->agent.name) > 0);
	assert_string_equal(cfg->agent.state_dir, "/var/lib/sysmonfwd");
	config_free(cfg);
	free(errs);
}

static void
config_values_are_parsed(void **state)
{
	struct config *cfg;
	int rc;
	char *errs = load_errors(
	    "\xEF\xBB\xBF# comment\n"
	    "[agent]\n"
	    "  log_level = debug ; inline comment\n"
	    "[input:a]\n"
	    "type = file\n"
	    "path = /x\n"
	    "follow = no\n"
	    "start = end\n"
	    "max_line_size = 64 KiB\n"
	    "poll_interval = 2s\n"
	    "keep_other_lines = yes\n"
	    "[output:b]\n"
	    "type = stdout\n"
	    "keep_original = true\n"
	    "batch_max_events = 42\n", &rc, &cfg);

	(void)state;
	assert_string_equal(errs, "");
	assert_int_equal(rc, 0);
	assert_int_equal(cfg->agent.log_level, 3);
	assert_false(cfg->inputs[0].follow);
	assert_int_equal(cfg->inputs[0].start, CONFIG_START_END);
	assert_int_equal(cfg->inputs[0].max_line_size, 65536);
	assert_int_equal(cfg->inputs[0].poll_interval_ms, 2000);
	assert_true(cfg->inputs[0].keep_other_lines);
	assert_int_equal(cfg->outputs[0].type, CONFIG_OUTPUT_STDOUT);
	assert_true(cfg->outputs[0].keep_original);
	assert_int_equal(cfg->outputs[0].batch_max_events, 42);
	config_free(cfg);
	free(errs);
}

static void
config_env_vars_are_expanded(void **state)
{
	struct config *cfg;
	int rc;
	char *errs;

	(void)state;
	setenv("SYSMONFWD_TEST_DIR", "/srv/logs", 1);
	errs = load_errors("[input:a]\ntype=file\n"
	    "path=${SYSMONFWD_TEST_DIR}/s$$1.log\n"
	    "[output:b]\ntype=stdout\n", &rc, &cfg);
	assert_string_equal(errs, "");
	assert_string_equal(cfg->inputs[0].path, "/srv/logs/s$1.log");
	config_free(cfg);
	free(errs);
	expect_error("[input:a]\ntype=file\npath=${SYSMONFWD_NOPE_X}\n"
	    "[output:b]\ntype=stdout\n",
	    "t.conf:3: path: environment variable SYSMONFWD_NOPE_X is not set");
	expect_error("[input:a]\ntype=file\npath=${OPEN\n"
	    "[output:b]\ntype=stdout\n", "t.conf:3: path: malformed ${VAR}");
}

static void
config_errors_name_file_line_and_key(void **state)
{
	(void)state;
	expect_error("[agent]\ncolour = blue\n[input:a]\ntype=file\npath=-\n"
	    "[output:b]\ntype=stdout\n",
	    "t.conf:2: colour: unknown key in [agent]");
	expect_error("[inptu:a]\ntype=file\n[input:a]\ntype=file\npath=-\n"
	    "[output:b]\ntype=stdout\n",
	    "t.conf:1: [inptu:a]: unknown section");
	expect_error("[input:a]\ntype=file\npath=-\nfollow=maybe\n"
	    "[output:b]\ntype=stdout\n",
	    "t.conf:4: follow: value \"maybe\" is not a boolean");
	expect_error("[input:a]\ntype=file\npath=-\nmax_line_size=10\n"
	    "[output:b]\ntype=stdout\n",
	    "t.conf:4: max_line_size: value 10 below minimum 1024 bytes");
	expect_error("[input:a]\ntype=file\npath=-\nmax_line_size=1 PiB\n"
	    "[output:b]\ntype=stdout\n",
	    "t.conf:4: max_line_size: value \"1 PiB\": unknown size unit");
	expect_error("[input:a]\ntype=file\npath=-\npoll_interval=soon\n"
	    "[output:b]\ntype=stdout\n",
	    "t.conf:4: poll_interval: value \"soon\": not a duration");
	expect_error("[input:a]\npath=-\n[output:b]\ntype=stdout\n",
	    "t.conf:1: type: missing in [input:a]");
	expect_error("[input:a]\ntype=file\n[output:b]\ntype=stdout\n",
	    "t.conf:1: path: missing in [input:a] (required for type file)");
	expect_error("[input:a]\ntype=file\npath=-\n[output:b]\ntype=stdout\n"
	    "path=/x\n", "t.conf:6: path: not used by type stdout in "
	    "[output:b]");
	expect_error("[input:a]\ntype=file\npath=-\npath=/y\n[output:b]\n"
	    "type=stdout\n", "t.conf:4: path: set twice in [input:a] (first "
	    "at line 3)");
	expect_error("[input:a]\ntype=file\npath=-\n[input:a]\ntype=file\n"
	    "path=-\n[output:b]\ntype=stdout\n",
	    "t.conf:4: [input:a]: section appears twice (first at line 1)");
	expect_error("[input:a]\ntype=sql\npath=-\n[output:b]\n"
	    "type=stdout\n", "t.conf:2: type: unknown value \"sql\" "
	    "(expected one of: file, journald, evtx, eventlog)");
	expect_error("[input:a]\ntype=file\npath=-\njust words\n"
	    "[output:b]\ntype=stdout\n", "t.conf:4: expected \"key = value\"");
	expect_error("name = x\n[input:a]\ntype=file\npath=-\n[output:b]\n"
	    "type=stdout\n", "t.conf:1: name: key outside any section");
	expect_error("[input:a b]\ntype=file\n", "t.conf:1: [input:a b]: "
	    "section name must be");
	expect_error("[agent]\n", "t.conf: no [input:NAME] section");
	expect_error("[input:a]\ntype=file\npath=-\n", "t.conf: no "
	    "[output:NAME] section");
	expect_error("[input:a]\ntype=file\npath=-\n[output:b]\ntype=file\n"
	    "path=/o\n[output:c]\ntype=file\npath=/o\n",
	    "t.conf:7: path: [output:c] writes the same file as [output:b]");
	expect_error("[agent\n", "t.conf:1: section header without ']'");
	expect_error("[agent] x\n", "t.conf:1: text after section header");
	expect_error("[agent]\nlog_level = loud\n",
	    "t.conf:2: log_level: unknown value \"loud\"");
	expect_error("[output:b]\ntype=stdout\nbatch_max_events=0\n",
	    "t.conf:3: batch_max_events: value 0 below minimum 1");
}

static void
config_reports_every_error_not_only_the_first(void **state)
{
	int rc;
	char *errs = load_errors("[agent]\nfoo=1\nbar=2\n[input:a]\n"
	    "type=file\npath=-\nfollow=x\n[output:b]\ntype=stdout\n", &rc,
	    NULL);

	(void)state;
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(errs, "t.conf:2: foo"));
	assert_non_null(strstr(errs, "t.conf:3: bar"));
	assert_non_null(strstr(errs, "t.conf:7: follow"));
	free(errs);
}

static void
config_long_lines_are_refused_not_cut(void **state)
{
	char text[1024];
	char path[400];

	(void)state;
	memset(path, 'x', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	snprintf(text, sizeof(text), "[input:a]\ntype=file\npath=/%s\n"
	    "[output:b]\ntype=stdout\n", path);
	expect_error(text, "t.conf:3: line longer than 198 characters");
}

static void
config_file_errors(void **state)
{
	struct config_diag d = { 0 };
	struct config *cfg = NULL;
	char path[] = "/tmp/sysmonfwd-test-XXXXXX";
	int fd, rc;
	FILE *f;

	(void)state;
	rc = config_load_file("/nonexistent/sysmonfwd.conf", &cfg, &d);
	assert_int_not_equal(rc, 0);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.msgs[0], "/nonexistent/sysmonfwd.conf: "
	    "cannot open"));
	config_diag_free(&d);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(good, f);
	fclose(f);
	rc = config_load_file(path, &cfg, &d);
	assert_int_equal(rc, 0);
	assert_int_equal(d.n, 0);
	assert_string_equal(cfg->path, path);
	config_free(cfg);
	unlink(path);
}

static void
config_size_and_duration_parsers(void **state)
{
	uint64_t v;
	const char *why;
	bool b;

	(void)state;
	assert_int_equal(config_parse_size("0", &v, &why), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_size("8MiB", &v, &why), 0);
	assert_int_equal(v, 8u << 20);
	assert_int_equal(config_parse_size("2 g", &v, &why), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(config_parse_size("64KB", &v, &why), 0);
	assert_int_equal(v, 65536);
	assert_int_not_equal(config_parse_size("-1", &v, &why), 0);
	assert_int_not_equal(config_parse_size("1.5MiB", &v, &why), 0);
	assert_int_not_equal(config_parse_size("", &v, &why), 0);
	assert_int_not_equal(config_parse_size("99999999999999999999", &v,
	    &why), 0);
	assert_int_not_equal(config_parse_size("17179869184 GiB", &v, &why),
	    0);
	assert_int_equal(config_parse_duration_ms("250ms", &v, &why), 0);
	assert_int_equal(v, 250);
	assert_int_equal(config_parse_duration_ms("5m", &v, &why), 0);
	assert_int_equal(v, 300000);
	assert_int_equal(config_parse_duration_ms("2h", &v, &why), 0);
	assert_int_equal(v, 7200000);
	assert_int_equal(config_parse_duration_ms("3", &v, &why), 0);
	assert_int_equal(v, 3000);
	assert_int_not_equal(config_parse_duration_ms("1d", &v, &why), 0);
	assert_int_equal(config_parse_bool("On", &b), 0);
	assert_true(b);
	assert_int_equal(config_parse_bool("0", &b), 0);
	assert_false(b);
	assert_int_not_equal(config_parse_bool("tru", &b), 0);
}

#define ES_HEAD "[input:win]\ntype = file\npath = /x\n[output:es]\n" \
	"type = elasticsearch\n"

static void
config_elasticsearch_output(void **state)
{
	struct config *cfg;
	int rc;
	char *errs;

	(void)state;
	errs = load_errors(ES_HEAD "url = https://a:9200, https://b:9200/\n"
	    "api_key = id:secret\nnamespace = prod\n", &rc, &cfg);
	assert_string_equal(errs, "");
	assert_int_equal(rc, 0);
	assert_int_equal(cfg->outputs[0].type, CONFIG_OUTPUT_ELASTICSEARCH);
	assert_string_equal(cfg->outputs[0].api_key, "id:secret");
	assert_string_equal(cfg->outputs[0].namespace, "prod");
	/* Elasticsearch keeps event.original unless told otherwise. */
	assert_true(cfg->outputs[0].keep_original);
	assert_int_equal(cfg->outputs[0].compression, CONFIG_COMPRESS_GZIP);
	assert_true(cfg->outputs[0].tls_verify);
	assert_string_equal(cfg->outputs[0].inline_secret, "api_key");
	free(errs);
	config_free(cfg);

	errs = load_errors(ES_HEAD "url = https://a:9200\nuser = elastic\n"
	    "password = pw\nkeep_original = false\nindex = sysmon-x\n", &rc,
	    &cfg);
	assert_string_equal(errs, "");
	assert_false(cfg->outputs[0].keep_original);
	assert_string_equal(cfg->outputs[0].namespace, "default");
	free(errs);
	config_free(cfg);

	/* No credentials at all is allowed (a lab, or a proxy that adds
	 * them). */
	errs = load_errors(ES_HEAD "url = http://127.0.0.1:9200\n", &rc, &cfg);
	assert_string_equal(errs, "");
	free(errs);
	config_free(cfg);

	expect_error(ES_HEAD "url = https://a\napi_key = k\nuser = u\n"
	    "password = p\n", "t.conf:7: api_key: give either api_key or user");
	expect_error(ES_HEAD "url = https://a\nuser = u\n",
	    "t.conf:7: user: needs password");
	expect_error(ES_HEAD "url = https://a\npassword = p\n",
	    "t.conf:7: password: needs user");
	expect_error(ES_HEAD "url = https://a, ftp://b\n",
	    "t.conf:6: url: must start with https://");
	expect_error(ES_HEAD "url = https://a,,https://b\n",
	    "t.conf:6: url: empty URL");
	expect_error(ES_HEAD "url = https://a\nnamespace = Prod-1\n",
	    "t.conf:7: namespace: lower case");
	expect_error(ES_HEAD "url = https://a\nindex = _bad\n",
	    "t.conf:7: index: not a valid");
	expect_error(ES_HEAD "url = https://a\napi_key = k\n"
	    "api_key_file = /nonexistent\n",
	    "t.conf:8: api_key_file: give either api_key or api_key_file");
	expect_error(ES_HEAD "url = https://a\nuser = u\n"
	    "password_file = /nonexistent/pw\n",
	    "t.conf:8: password_file: cannot read /nonexistent/pw");
	/* HEC keys do not apply, and the reverse. */
	expect_error(ES_HEAD "url = https://a\ntoken = t\n",
	    "t.conf:7: token: not used by type elasticsearch");
	expect_error("[input:win]\ntype = file\npath = /x\n[output:h]\n"
	    "type = splunk_hec\nurl = https://a\ntoken = t\napi_key = k\n",
	    "t.conf:8: api_key: not used by type splunk_hec");
	expect_error(ES_HEAD "api_key = k\n",
	    "url: missing in [output:es] (required for type elasticsearch)");

	/* Retry-After is honoured up to retry_after_max (5 minutes). */
	errs = load_errors(ES_HEAD "url = https://a:9200\n", &rc, &cfg);
	assert_int_equal(cfg->outputs[0].retry_after_max_ms, 300000);
	free(errs);
	config_free(cfg);
	errs = load_errors(ES_HEAD "url = https://a:9200\n"
	    "retry_after_max = 30s\n", &rc, &cfg);
	assert_string_equal(errs, "");
	assert_int_equal(cfg->outputs[0].retry_after_max_ms, 30000);
	free(errs);
	config_free(cfg);
	expect_error(ES_HEAD "url = https://a\nretry_after_max = 2d\n",
	    "t.conf:7: retry_after_max:");
	expect_error("[input:win]\ntype = file\npath = /x\n[output:f]\n"
	    "type = file\npath = /tmp/o\nretry_after_max = 1m\n",
	    "t.conf:7: retry_after_max: not used by type file");
}

#define WZ_HEAD "[input:win]\ntype = file\npath = /x\n[output:wz]\n" \
	"type = wazuh\n"

static void
config_wazuh_output(void **state)
{
	struct config *cfg;
	int rc;
	char *errs;

	(void)state;
	errs = load_errors(WZ_HEAD "url = https://manager:55000\n"
	    "user = sysmonfwd\npassword = pw\n", &rc, &cfg);
	assert_string_equal(errs, "");
	assert_int_equal(rc, 0);
	assert_int_equal(cfg->outputs[0].type, CONFIG_OUTPUT_WAZUH);
	assert_int_equal(cfg->outputs[0].max_requests_per_minute, 30);
	assert_string_equal(cfg->outputs[0].inline_secret, "password");
	free(errs);
	config_free(cfg);

	expect_error(WZ_HEAD "url = https://m:55000\npassword = pw\n",
	    "t.conf:4: user: missing in [output:wz]");
	expect_error(WZ_HEAD "url = https://m:55000\nuser = u\n",
	    "t.conf:4: password: missing in [output:wz]");
	expect_error(WZ_HEAD "url = https://m:55000\nuser = u\npassword = p\n"
	    "max_requests_per_minute = 0\n",
	    "t.conf:9: max_requests_per_minute: value 0 below minimum 1");
	expect_error(WZ_HEAD "url = https://m:55000\nuser = u\npassword = p\n"
	    "compression = gzip\n",
	    "t.conf:9: compression: not used by type wazuh");
	expect_error(WZ_HEAD "url = https://a:1, https://b:2\nuser = u\n"
	    "password = p\n", "t.conf:6: url: one URL only");
	expect_error(ES_HEAD "url = https://a\nmax_requests_per_minute = 5\n",
	    "t.conf:7: max_requests_per_minute: not used by type "
	    "elasticsearch");
}

static void
config_secret_files_are_read_and_checked(void **state)
{
	char path[] = "/tmp/sysmonfwd-test-secret-XXXXXX";
	char text[512];
	struct config *cfg;
	int fd, rc;
	char *errs;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "id:s3cr3t\n", 10), 10);
	close(fd);
	snprintf(text, sizeof(text), ES_HEAD "url = https://a\n"
	    "api_key_file = %s\n", path);
	errs = load_errors(text, &rc, &cfg);
	assert_string_equal(errs, "");
	assert_string_equal(cfg->outputs[0].api_key, "id:s3cr3t");
	assert_null(cfg->outputs[0].inline_secret);
	free(errs);
	config_free(cfg);

	chmod(path, 0644);
	errs = load_errors(text, &rc, NULL);
	assert_non_null(strstr(errs, "api_key_file: "));
	assert_non_null(strstr(errs, "is readable by other users"));
	/* The secret itself never appears in a diagnostic. */
	assert_null(strstr(errs, "s3cr3t"));
	free(errs);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_good_file_loads_with_defaults),
		cmocka_unit_test(config_agent_name_defaults_to_hostname),
		cmocka_unit_test(config_values_are_parsed),
		cmocka_unit_test(config_env_vars_are_expanded),
		cmocka_unit_test(config_errors_name_file_line_and_key),
		cmocka_unit_test(config_reports_every_error_not_only_the_first),
		cmocka_unit_test(config_long_lines_are_refused_not_cut),
		cmocka_unit_test(config_file_errors),
		cmocka_unit_test(config_size_and_duration_parsers),
		cmocka_unit_test(config_elasticsearch_output),
		cmocka_unit_test(config_wazuh_output),
		cmocka_unit_test(config_secret_files_are_read_and_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
