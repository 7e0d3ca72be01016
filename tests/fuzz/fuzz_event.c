/*
 * fuzz_event.c - libFuzzer harness for what reads attacker-controlled
 * text: the record parser and every renderer (ECS document, HEC event),
 * and the quick look used for HEC.  Any input must give a document that
 * is valid JSON, never a crash or a leak.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iagent -Ibuffer -Iconfig tests/fuzz/fuzz_event.c agent/event.c \
 *       agent/render.c agent/strbuf.c agent/timeutil.c -lexpat -lcjson \
 *       -o /tmp/fuzz_event
 *   /tmp/fuzz_event -max_total_time=60 -max_len=8192 \
 *       ../shared/corpus/windows-xml     (seeds, read in place)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must_be_json(const struct strbuf *sb)
{
	cJSON *j = cJSON_ParseWithLength(sb->s, sb->len);

	if (j == NULL)
		abort();
	cJSON_Delete(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event_parser *p;
	struct render_ctx ctx = { .agent_name = "fuzz", .host_name = "h",
	    .keep_original = true };
	struct render_hec_opts xml = { .json = false }, json = { .json = true };
	struct buffer_rec rec = { .seq = 1, .time_ms = 1, .source = "in",
	    .data = (const char *)data, .len = size };
	struct strbuf out = { 0 }, scratch = { 0 };
	struct event_peek pk;

	if (p == NULL && event_parser_new(&p) != 0)
		abort();
	if (render_ecs(p, &ctx, &rec, &out) < 0)
		abort();
	must_be_json(&out);
	strbuf_reset(&out);
	if (render_hec(p, &ctx, &xml, &rec, &out, &scratch) < 0)
		abort();
	must_be_json(&out);
	strbuf_reset(&out);
	if (render_hec(p, &ctx, &json, &rec, &out, &scratch) < 0)
		abort();
	must_be_json(&out);
	(void)event_peek((const char *)data, size, &pk);
	strbuf_free(&out);
	strbuf_free(&scratch);
	return 0;
}
