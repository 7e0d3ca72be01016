/*
 * fuzz_event.c - libFuzzer harness for what reads attacker-controlled
 * text: the record parser and every renderer (ECS document, HEC event,
 * Elasticsearch item, Wazuh API event, Wazuh agent payload),
 * and the quick look used for HEC.  Any input must give a document that
 * is valid JSON, never a crash or a leak.  And event_parse() must give
 * the same result with its fast path as expat alone: the same return,
 * error message and event, field by field.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iagent -Ibuffer -Iconfig tests/fuzz/fuzz_event.c agent/event/event.c \
 *       agent/render/render.c agent/event/strbuf.c agent/event/timeutil.c -lexpat -lcjson \
 *       -o /tmp/fuzz_event
 *   /tmp/fuzz_event -max_total_time=60 -max_len=8192 \
 *       ../shared/corpus/windows-xml     (seeds, read in place)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* The fast path (and expat where it gives up) against expat alone. */
static void
fast_same_as_expat(struct event_parser *fast, struct event_parser *slow,
    const char *rec, size_t len)
{
	struct sysmon_event a, b;
	char ea[256] = "", eb[256] = "";
	int ra = event_parse(fast, rec, len, &a, ea, sizeof(ea));
	int rb = event_parse(slow, rec, len, &b, eb, sizeof(eb));

	if (ra != rb || strcmp(ea, eb) != 0 || event_parser_was_fast(slow))
		abort();
	if (ra != 0)
		return;
	if (!same_str(a.provider_name, b.provider_name) ||
	    !same_str(a.provider_guid, b.provider_guid) ||
	    !same_str(a.event_id, b.event_id) ||
	    !same_str(a.qualifiers, b.qualifiers) ||
	    !same_str(a.version, b.version) ||
	    !same_str(a.level, b.level) || !same_str(a.task, b.task) ||
	    !same_str(a.opcode, b.opcode) ||
	    !same_str(a.keywords, b.keywords) ||
	    !same_str(a.time_created, b.time_created) ||
	    !same_str(a.record_id, b.record_id) ||
	    !same_str(a.activity_id, b.activity_id) ||
	    !same_str(a.related_activity_id, b.related_activity_id) ||
	    !same_str(a.pid, b.pid) || !same_str(a.tid, b.tid) ||
	    !same_str(a.channel, b.channel) ||
	    !same_str(a.computer, b.computer) ||
	    !same_str(a.user_id, b.user_id) ||
	    !same_str(a.message, b.message) || a.ndata != b.ndata ||
	    a.user_data != b.user_data || a.linux_sysmon != b.linux_sysmon ||
	    a.prefix_len != b.prefix_len)
		abort();
	for (size_t i = 0; i < a.ndata; i++)
		if (!same_str(a.data[i].name, b.data[i].name) ||
		    !same_str(a.data[i].value, b.data[i].value))
			abort();
}

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
	static struct event_parser *p, *slow;
	struct render_ctx ctx = { .agent_name = "fuzz", .host_name = "h",
	    .keep_original = true };
	struct render_hec_opts xml = { .json = false }, json = { .json = true };
	struct render_es_opts es = { .index = NULL, .ns = "default" };
	struct render_wazuh_opts wz = { .max_event = 4096 };
	struct buffer_rec rec = { .seq = 1, .time_ms = 1, .source = "in",
	    .data = (const char *)data, .len = size };
	struct strbuf out = { 0 }, scratch = { 0 };
	struct event_peek pk;

	if (p == NULL && event_parser_new(&p) != 0)
		abort();
	if (slow == NULL) {
		if (event_parser_new(&slow) != 0)
			abort();
		event_parser_expat_only(slow, true);
	}
	fast_same_as_expat(p, slow, (const char *)data, size);
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
	/* Elasticsearch: two JSON lines, each ending with a newline. */
	strbuf_reset(&out);
	if (render_es(p, &ctx, &es, &rec, &out) < 0)
		abort();
	{
		char *nl = memchr(out.s, '\n', out.len);
		if (nl == NULL || out.s[out.len - 1] != '\n' ||
		    memchr(nl + 1, '\n', out.len - (size_t)(nl + 1 - out.s) -
		    1) != NULL)
			abort();
		out.s[out.len - 1] = '\0';
		out.len--;
		*nl = '\0';
		{
			struct strbuf a = { .s = out.s, .len = (size_t)(nl -
			    out.s) };
			struct strbuf b = { .s = nl + 1, .len = strlen(nl + 1) };
			must_be_json(&a);
			must_be_json(&b);
		}
	}
	/* Wazuh: one JSON string, no longer than the manager takes. */
	strbuf_reset(&out);
	if (render_wazuh(p, &ctx, &wz, &rec, &out, &scratch) < 0)
		abort();
	must_be_json(&out);
	{
		cJSON *j = cJSON_ParseWithLength(out.s, out.len);
		if (!cJSON_IsString(j) || strlen(j->valuestring) > wz.max_event)
			abort();
		cJSON_Delete(j);
	}
	/* The Wazuh agent protocol: one payload, no longer than remoted
	 * takes, no NUL (the manager reads a C string), QUEUE:LOCATION:;
	 * an f:EventChannel: one is a JSON object whose Event is a string
	 * of XML. */
	strbuf_reset(&out);
	if (render_wazuh_agent(p, &ctx, &rec, &out, &scratch) < 0)
		abort();
	if (out.len == 0 || out.len > RENDER_WAZUH_AGENT_MAX ||
	    memchr(out.s, '\0', out.len) != NULL)
		abort();
	if (out.len > 16 && memcmp(out.s, "f:EventChannel:", 15) == 0) {
		cJSON *j = cJSON_ParseWithLength(out.s + 15, out.len - 15);
		cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "Event");

		if (!cJSON_IsString(ev) ||
		    strncmp(ev->valuestring, "<Event", 6) != 0)
			abort();
		cJSON_Delete(j);
	} else if (out.len < 3 || out.s[0] != '1' || out.s[1] != ':' ||
	    memchr(out.s + 2, ':', out.len - 2) == NULL) {
		abort();
	}
	(void)event_peek((const char *)data, size, &pk);
	strbuf_free(&out);
	strbuf_free(&scratch);
	return 0;
}
