/*
 * fuzz_rules.c - libFuzzer harness for the [filter] and [tag] rules
 * reader (agent/policy/rules.c): any input is either refused with at
 * least one "file:line: problem" or read; rules that were read judge real
 * records without a crash, name a rule for every drop, and give tags that
 * go through the ring's trailer and come back the same.
 *
 *   see the fuzz_rules line of tests/run-all.sh; seeds in
 *   tests/fuzz/seeds/rules
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Two records: a Windows ProcessCreate and a Sysmon for Linux one. */
static const char *const records[] = {
	"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
	"<System><Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385F-"
	"C22A-43E0-BF4C-06F5698FFBD9}'/><EventID>1</EventID><Version>5"
	"</Version><Computer>h</Computer></System><EventData>"
	"<Data Name='RuleName'></Data><Data Name='Image'>C:\\Windows\\"
	"System32\\cmd.exe</Data><Data Name='CommandLine'>cmd /c python.exe "
	"app.py --text x</Data><Data Name='ProcessId'>1292</Data>"
	"</EventData></Event>",
	"Jun  7 03:36:33 u20 sysmon: <Event><System><Provider Name="
	"\"Linux-Sysmon\" Guid=\"{ff032593-a8d3-4f13-b0d6-01fc615a0f97}\"/>"
	"<EventID>3</EventID><Computer>u</Computer></System><EventData>"
	"<Data Name=\"Image\">/usr/bin/python3</Data><Data Name="
	"\"DestinationIp\">10.0.0.1</Data><Data Name=\"DestinationPort\">443"
	"</Data></EventData></Event>",
};

static void
count(void *arg, const char *msg)
{
	if (strchr(msg, ':') == NULL)
		abort();
	(*(int *)arg)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event_parser *p;
	struct policy_rules *r = NULL;
	int reports = 0, rc;

	if (p == NULL && event_parser_new(&p) != 0)
		abort();
	rc = policy_rules_load_string("f.xml", (const char *)data, size, &r,
	    count, &reports);
	if (rc == -ENOMEM)
		return 0;
	if (rc != 0) {
		if (reports == 0 || r != NULL)
			abort();
		return 0;
	}
	for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		struct sysmon_event ev;
		struct event_tags t = { 0 }, back;
		struct strbuf sb = { 0 };
		const char *rule = NULL;
		size_t over = 0;
		char why[64];

		if (event_parse(p, records[i], strlen(records[i]), &ev, why,
		    sizeof(why)) != 0)
			abort();
		if (!policy_rules_keep(r, &ev, &rule) && (rule == NULL ||
		    rule[0] == '\0'))
			abort();
		(void)policy_rules_tags(r, &ev, &t, &over);
		if (t.n > EVENT_TAGS_MAX)
			abort();
		if (event_rec_encode(&sb, records[i], strlen(records[i]),
		    &t) != 0)
			abort();
		if (event_rec_decode(sb.s, sb.len, &back) !=
		    strlen(records[i]) || back.n != t.n)
			abort();
		for (size_t k = 0; k < t.n; k++)
			if (strcmp(back.v[k], t.v[k]) != 0)
				abort();
		strbuf_free(&sb);
	}
	policy_rules_free(r);
	return 0;
}
