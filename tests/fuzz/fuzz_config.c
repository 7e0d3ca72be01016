/*
 * fuzz_config.c - libFuzzer harness for the configuration parser
 * (config/config.c): config_load_string() on any text, and the value
 * parsers it uses (sizes, durations, booleans, listen addresses) on the
 * input's first line.
 *
 * Invariants (abort() on a breach):
 *   - loading succeeds exactly when it reports no problem: 0 with a
 *     config and no diagnostic, or -EINVAL with no config and at least
 *     one diagnostic;
 *   - every diagnostic reads "fuzz.conf:LINE: ..." with LINE within the
 *     text, or "fuzz.conf: ..." for the file as a whole, and is at most
 *     1023 bytes;
 *   - a loaded config keeps every promise config.h makes: 1..64 inputs
 *     and 1..16 outputs with valid, distinct names and known types, no
 *     eventlog input on Linux, a path for file inputs and outputs, a URL
 *     starting with http(s):// for HTTP outputs, a HEC token, a Wazuh
 *     user and password, Elasticsearch credentials in pairs, values in
 *     their documented ranges (buffer sizes, batch limits, timeouts),
 *     max_size >= 2 x segment_size, block_size <= segment_size / 2, a
 *     listen address that parses, and no line break in any string (a
 *     header or a log line could be forged with one);
 *   - loading the same text twice gives the same result (no state kept);
 *   - a size or duration that parses is exactly its number times its
 *     unit (checked in 128-bit arithmetic, so no silent wrap), and
 *     printing it back as a plain number parses to the same value.
 *
 * Secret files the text may name exist in $TMPDIR/sysmonfwd-fuzz-config-UID/
 * (tok.secret mode 600, open.secret mode 644, empty.secret, two.secret
 * with two lines); the text names that directory @SECRETS@, which is
 * replaced before loading, so the seeds work for any user.
 * Run it with standard input from /dev/null: a key like
 * token_file = /dev/stdin would otherwise wait for a terminal.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iconfig tests/fuzz/fuzz_config.c config/config.c -linih \
 *       -o /tmp/fuzz_config
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(c)	do { if (!(c)) { fprintf(stderr, \
	"invariant broken: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
	abort(); } } while (0)

static void
put_secret(const char *dir, const char *name, const char *text, int mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)) < 0)
		return;		/* there already (another run made it) */
	if (write(fd, text, strlen(text)) < 0)
		perror(path);
	fchmod(fd, (mode_t)mode);
	close(fd);
}

static char secrets[128];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *dir = secrets;

	(void)argc;
	(void)argv;
	snprintf(secrets, sizeof(secrets), "%s/sysmonfwd-fuzz-config-%u",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp",
	    (unsigned)getuid());
	(void)mkdir(dir, 0700);
	put_secret(dir, "tok.secret", "0123-secret-token\n", 0600);
	put_secret(dir, "open.secret", "readable\n", 0644);
	put_secret(dir, "empty.secret", "", 0600);
	put_secret(dir, "two.secret", "one\ntwo\n", 0600);
	setenv("SYSMONFWD_FUZZ_TOKEN", "from-the-environment", 1);
	setenv("SYSMONFWD_FUZZ_NL", "a\nb", 1);
	return 0;
}

static bool
valid_name(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > CONFIG_NAME_MAX)
		return false;
	for (const char *p = n; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' &&
		    *p != '.')
			return false;
	return true;
}

static void
no_break(const char *s)
{
	if (s != NULL)
		CHECK(strcspn(s, "\r\n") == strlen(s));
}

static bool
in(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v >= lo && v <= hi;
}

static void
check_config(const struct config *c)
{
	CHECK(c->agent.name != NULL && c->agent.name[0] != '\0');
	no_break(c->agent.name);
	no_break(c->agent.state_dir);
	CHECK(c->agent.state_dir != NULL);
	CHECK(c->agent.log_level >= 0 && c->agent.log_level <= 3);
	CHECK(in(c->agent.heartbeat_interval_ms, 0, 86400000));
	CHECK(in(c->watchdog.check_interval_ms, 100, 3600000));
	no_break(c->watchdog.sysmon_service);
	if (c->monitor.listen != NULL) {
		char host[300];
		int port = 0;
		CHECK(config_parse_listen(c->monitor.listen, host,
		    sizeof(host), &port) == 0);
		CHECK(port >= 1 && port <= 65535);
	}
	CHECK(in(c->buffer.max_size, 1ull << 20, 1ull << 40));
	CHECK(in(c->buffer.segment_size, 64u << 10, 1ull << 30));
	CHECK(in(c->buffer.block_size, 4096, 16u << 20));
	CHECK(c->buffer.max_size >= 2 * c->buffer.segment_size);
	CHECK(c->buffer.block_size <= c->buffer.segment_size / 2);
	CHECK(in(c->buffer.compression_level, 0, 9));
	CHECK(in(c->buffer.max_record_size, 1024, 64u << 20));
	CHECK(c->ninputs >= 1 && c->ninputs <= CONFIG_MAX_INPUTS);
	CHECK(c->noutputs >= 1 && c->noutputs <= CONFIG_MAX_OUTPUTS);
	for (size_t i = 0; i < c->ninputs; i++) {
		const struct config_input *x = &c->inputs[i];

		CHECK(valid_name(x->name));
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(c->inputs[k].name, x->name) != 0);
		CHECK(x->type == CONFIG_INPUT_FILE ||
		    x->type == CONFIG_INPUT_JOURNALD ||
		    x->type == CONFIG_INPUT_EVTX);	/* eventlog: Windows */
		if (x->type != CONFIG_INPUT_JOURNALD)
			CHECK(x->path != NULL && x->path[0] != '\0');
		CHECK(in(x->max_line_size, 1024, 16ull << 20));
		CHECK(in(x->poll_interval_ms, 10, 60000));
		no_break(x->path);
		no_break(x->match);
		no_break(x->journal_dir);
	}
	for (size_t i = 0; i < c->noutputs; i++) {
		const struct config_output *o = &c->outputs[i];

		CHECK(valid_name(o->name));
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(c->outputs[k].name, o->name) != 0);
		CHECK(o->type >= CONFIG_OUTPUT_FILE &&
		    o->type <= CONFIG_OUTPUT_WAZUH);
		CHECK(in(o->batch_max_events, 1, 100000));
		CHECK(in(o->batch_max_bytes, 1024, 64u << 20));
		CHECK(in(o->retry_initial_ms, 10, 3600000));
		CHECK(in(o->retry_max_ms, 10, 86400000));
		if (o->type == CONFIG_OUTPUT_FILE)
			CHECK(o->path != NULL && o->path[0] != '\0');
		if (o->type >= CONFIG_OUTPUT_SPLUNK_HEC) {
			CHECK(o->url != NULL && (strncmp(o->url, "https://",
			    8) == 0 || strncmp(o->url, "http://", 7) == 0 ||
			    o->url[0] == ' '));
			CHECK(in(o->timeout_ms, 100, 3600000));
			CHECK(o->tls_min_version == 12 ||
			    o->tls_min_version == 13);
			CHECK((o->tls_client_cert == NULL) ==
			    (o->tls_client_key == NULL));
		}
		if (o->type == CONFIG_OUTPUT_SPLUNK_HEC)
			CHECK(o->token != NULL && o->token[0] != '\0');
		if (o->type == CONFIG_OUTPUT_WAZUH) {
			CHECK(o->user != NULL && o->password != NULL);
			CHECK(strchr(o->user, ':') == NULL);
			CHECK(in(o->max_requests_per_minute, 1, 600));
		}
		if (o->type == CONFIG_OUTPUT_ELASTICSEARCH) {
			CHECK(!(o->api_key != NULL && o->user != NULL));
			CHECK((o->user == NULL) == (o->password == NULL));
		}
		no_break(o->path);
		no_break(o->url);
		no_break(o->token);
		no_break(o->api_key);
		no_break(o->user);
		no_break(o->password);
		no_break(o->index);
		no_break(o->source);
		no_break(o->sourcetype);
		no_break(o->host);
		no_break(o->namespace);
		no_break(o->pipeline);
		no_break(o->proxy);
		no_break(o->tls_pinned_pubkey);
	}
}

static void
check_diag(const struct config_diag *d, int nlines)
{
	for (size_t i = 0; i < d->n; i++) {
		const char *m = d->msgs[i], *p;
		long line;
		char *end;

		CHECK(strlen(m) < 1024);
		CHECK(strncmp(m, "fuzz.conf:", 10) == 0);
		p = m + 10;
		if (*p == ' ')
			continue;		/* about the whole file */
		line = strtol(p, &end, 10);
		CHECK(end != p && *end == ':' && end[1] == ' ');
		CHECK(line >= 1 && line <= nlines);
	}
}

/* s as "<digits><spaces><unit>": its value in 128 bits, or -1. */
static __int128
oracle_unit(const char *s, bool size)
{
	static const struct { const char *u; uint64_t m; } sizes[] = {
		{ "", 1 }, { "b", 1 }, { "k", 1 << 10 }, { "kb", 1 << 10 },
		{ "kib", 1 << 10 }, { "m", 1 << 20 }, { "mb", 1 << 20 },
		{ "mib", 1 << 20 }, { "g", 1 << 30 }, { "gb", 1 << 30 },
		{ "gib", 1 << 30 }, { "t", 1ull << 40 }, { "tib", 1ull << 40 },
	}, durs[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "min", 60000 }, { "h", 3600000 },
	};
	__int128 v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > (__int128)UINT64_MAX)
			return -1;
	}
	while (*p == ' ')
		p++;
	if (size) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			if (strcasecmp(p, sizes[i].u) == 0)
				return v * sizes[i].m;
	} else {
		for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++)
			if (strcmp(p, durs[i].u) == 0)
				return v * durs[i].m;
	}
	return -1;
}

static void
check_values(const char *s)
{
	uint64_t v, w;
	const char *why = NULL;
	char buf[64], host[300];
	int port;
	bool b;
	__int128 want;

	want = oracle_unit(s, true);
	if (config_parse_size(s, &v, &why) == 0) {
		CHECK(want == (__int128)v);
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
		CHECK(config_parse_size(buf, &w, &why) == 0 && w == v);
	} else {
		CHECK(why != NULL);
		CHECK(want < 0 || want > (__int128)UINT64_MAX);
	}
	why = NULL;
	want = oracle_unit(s, false);
	if (config_parse_duration_ms(s, &v, &why) == 0) {
		CHECK(want == (__int128)v);
		snprintf(buf, sizeof(buf), "%llums", (unsigned long long)v);
		CHECK(config_parse_duration_ms(buf, &w, &why) == 0 && w == v);
	} else {
		CHECK(why != NULL);
		CHECK(want < 0 || want > (__int128)UINT64_MAX);
	}
	if (config_parse_bool(s, &b) == 0)
		CHECK(strlen(s) <= 5);
	port = -1;
	if (config_parse_listen(s, host, sizeof(host), &port) == 0) {
		CHECK(port >= 1 && port <= 65535);
		CHECK(host[0] != '\0' && strlen(host) <= 255);
		CHECK(strstr(s, host) != NULL);
	}
	(void)config_parse_listen(s, NULL, 0, NULL);
}

/* data as a string (a NUL inside ends it, as in a file), @SECRETS@
 * replaced by the directory of the secret files. */
static char *
with_secrets(const char *data, size_t size)
{
	static const char mark[] = "@SECRETS@";
	size_t n = 0, k = 0, dl = strlen(secrets);
	char *out;

	for (size_t i = 0; i + sizeof(mark) - 1 <= size; i++)
		n += memcmp(data + i, mark, sizeof(mark) - 1) == 0;
	if ((out = malloc(size + n * dl + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < size;) {
		if (i + sizeof(mark) - 1 <= size &&
		    memcmp(data + i, mark, sizeof(mark) - 1) == 0) {
			memcpy(out + k, secrets, dl);
			k += dl;
			i += sizeof(mark) - 1;
		} else {
			out[k++] = data[i++];
		}
	}
	out[k] = '\0';
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *nl;
	struct config *c1 = NULL, *c2 = NULL;
	struct config_diag d1 = { 0 }, d2 = { 0 };
	int rc1, rc2, nlines = 1;

	if ((text = with_secrets((const char *)data, size)) == NULL)
		return 0;
	for (const char *p = text; *p != '\0'; p++)
		nlines += *p == '\n';

	rc1 = config_load_string("fuzz.conf", text, &c1, &d1);
	if (rc1 == 0) {
		CHECK(c1 != NULL && d1.n == 0);
		check_config(c1);
	} else {
		CHECK(rc1 == -EINVAL && c1 == NULL && d1.n >= 1);
	}
	check_diag(&d1, nlines);
	rc2 = config_load_string("fuzz.conf", text, &c2, &d2);
	CHECK(rc1 == rc2 && d1.n == d2.n);
	for (size_t i = 0; i < d1.n; i++)
		CHECK(strcmp(d1.msgs[i], d2.msgs[i]) == 0);
	config_free(c1);
	config_free(c2);
	config_diag_free(&d1);
	config_diag_free(&d2);

	if ((nl = strchr(text, '\n')) != NULL)
		*nl = '\0';
	if (strlen(text) < 200)
		check_values(text);
	free(text);
	return 0;
}
