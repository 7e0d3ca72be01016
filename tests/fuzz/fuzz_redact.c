/*
 * fuzz_redact.c - libFuzzer harness for the redactor (agent/policy/
 * redact.c): redact_record() on any bytes, as a parsed and as an
 * unparsed record, with Windows and with Linux command-line rules.
 *
 * Two sections: [redact:a] arguments = --text, --user_id, replace = hmac
 * (CommandLine, ParentCommandLine); [redact:b] pattern = (?i)pass[=:](\S+),
 * replace = remove, fields CommandLine and Message.
 *
 * Invariants (abort() on a breach):
 *   - redact_record() returns 0 (no allocation fails here) and leaves
 *     out empty when it reports no change;
 *   - a rewritten record is bounded: at most the input plus, per value
 *     replaced, a token and an argument name with '=' (REDACT_TOKEN_MAX
 *     + REDACT_NAME_BOUND bytes);
 *   - a rewritten record holds a token ("hmac:" + 16 hex digits, or
 *     "[redacted]") and the counters say a value was replaced;
 *   - a parsed record without "<Data" or "<Message>" is never changed
 *     (only field values are searched then).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iagent/policy -Iagent/event -Iagent/base -Iconfig \
 *       tests/fuzz/fuzz_redact.c agent/policy/redact.c \
 *       agent/event/strbuf.c agent/event/timeutil.c agent/event/tags.c \
 *       agent/base/sys.c \
 *       agent/base/log.c -lpcre2-8 -lcrypto -o /tmp/fuzz_redact
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "policy.h"

#define REDACT_NAME_BOUND	16	/* "--user_id=" and more */

static struct redactor *R;

static void
setup(void)
{
	static struct config_redact rd[2];
	static struct config cfg;
	static char k[] = "fuzz-key";

	memset(rd, 0, sizeof(rd));
	snprintf(rd[0].name, sizeof(rd[0].name), "a");
	rd[0].arguments = "--text, --user_id";
	rd[0].replace = CONFIG_REPLACE_HMAC;
	rd[0].key = k;
	snprintf(rd[1].name, sizeof(rd[1].name), "b");
	rd[1].fields = "CommandLine, Message";
	rd[1].pattern = "(?i)pass[=:](\\S+)";
	rd[1].replace = CONFIG_REPLACE_REMOVE;
	cfg.path = "fuzz.conf";
	cfg.redacts = rd;
	cfg.nredacts = 2;
	if (redact_new(&cfg, &R, NULL, NULL) != 0 || R == NULL)
		abort();
}

/* Tokens in s (n bytes): "hmac:" + 16 hex digits, or "[redacted]". */
static size_t
tokens(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++) {
		if (n - i >= 10 && memcmp(s + i, "[redacted]", 10) == 0) {
			c++;
			continue;
		}
		if (n - i >= 21 && memcmp(s + i, "hmac:", 5) == 0) {
			size_t k = 5;
			while (k < 21 && ((s[i + k] >= '0' && s[i + k] <= '9') ||
			    (s[i + k] >= 'a' && s[i + k] <= 'f')))
				k++;
			if (k == 21)
				c++;
		}
	}
	return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf out = { 0 };
	const char *raw = (const char *)data;

	if (R == NULL)
		setup();
	for (int mode = 0; mode < 4; mode++) {
		struct redact_stats before, after;
		bool changed;
		size_t replaced;

		redact_get_stats(R, &before);
		strbuf_reset(&out);
		if (redact_record(R, raw, size, (mode & 1) != 0,
		    (mode & 2) != 0, &out, &changed) != 0)
			abort();
		redact_get_stats(R, &after);
		replaced = after.values - before.values;
		if (!changed) {
			if (out.len != 0 || replaced != 0)
				abort();
			continue;
		}
		if (replaced == 0 || out.len > size + replaced *
		    (REDACT_TOKEN_MAX + REDACT_NAME_BOUND))
			abort();
		if (tokens(out.s, out.len) == 0)
			abort();
		if ((mode & 2) != 0 && memmem(raw, size, "<Data", 5) == NULL &&
		    memmem(raw, size, "<Message>", 9) == NULL)
			abort();
	}
	strbuf_free(&out);
	return 0;
}
