/*
 * fuzz_answer_hec.c - libFuzzer harness for what reads Splunk HEC's
 * answers (transport/answer.c): the event endpoint's answer (code, text,
 * invalid-event-number, ackId), the verdict "every event taken", the
 * retry classification, and the acknowledgement poll's answer.
 *
 * Input: byte 0 picks the HTTP status (from the statuses HEC uses, and a
 * few it does not), byte 1 the number of events of the batch, the rest is
 * the body (exactly that many bytes, no NUL after it).
 *
 * Invariants (abort() on a breach), checked against an independent
 * reading of the same body with cJSON:
 *   - the fields read are those the body holds: code only when it is a
 *     whole number 0..2^31-1 (HEC_CODE_BAD when present otherwise, -1
 *     when absent), invalid-event-number and ackId only when whole and
 *     not negative, text at most 120 bytes and NUL-terminated;
 *   - "every event taken" only for HTTP 200 with a JSON object whose code
 *     is 0 or absent and with no invalid-event-number: an empty, cut,
 *     HTML or otherwise unreadable 200 is never a delivery, and it is
 *     never a refusal either (retryable), so it cannot dead-letter;
 *   - 408, 429 and 5xx are always retryable;
 *   - the events counted as indexed before invalid-event-number never
 *     exceed the batch;
 *   - an ackId is reported indexed only when the "acks" object holds
 *     exactly its decimal name with the value true; at most once per
 *     member; an unreadable ack answer acknowledges nothing.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Itransport tests/fuzz/fuzz_answer_hec.c transport/answer.c \
 *       -lcjson -o /tmp/fuzz_answer_hec
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "transport_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)	do { if (!(c)) { fprintf(stderr, \
	"invariant broken: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
	abort(); } } while (0)

static const long statuses[] = { 200, 200, 200, 200, 400, 401, 403, 404,
	408, 413, 429, 500, 503, 0, 201, 204, 302, 599 };

/* A member as a whole number in [0, max], or -1 (-2: present, not). */
static long long
oracle_whole(const cJSON *j, const char *key, double max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	double d;

	if (v == NULL)
		return -1;
	if (!cJSON_IsNumber(v))
		return -2;
	d = v->valuedouble;
	if (!(d >= 0 && d <= max) || (double)(long long)d != d)
		return -2;
	return (long long)d;
}

struct acks {
	const cJSON	*obj;		/* the oracle's "acks" */
	size_t		 n;
};

static void
acked(void *arg, int64_t id)
{
	struct acks *a = arg;
	char name[32];
	const cJSON *v;
	size_t same = 0;

	CHECK(id >= 0);
	a->n++;
	snprintf(name, sizeof(name), "%lld", (long long)id);
	/* Its exact decimal name is a member, true. */
	cJSON_ArrayForEach(v, a->obj)
		if (v->string != NULL && strcmp(v->string, name) == 0 &&
		    cJSON_IsTrue(v))
			same++;
	CHECK(same > 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hec_answer a, b;
	struct acks ak;
	const char *body;
	size_t len, nevents;
	long status;
	long long oc, oi, oa;
	cJSON *j;
	bool ok;
	int rc;

	if (size < 2)
		return 0;
	status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
	nevents = (size_t)data[1] + 1;
	body = (const char *)data + 2;
	len = size - 2;

	hec_answer_parse(body, len, &a);
	hec_answer_parse(body, len, &b);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);	/* no stray bytes */
	CHECK(memchr(a.text, '\0', sizeof(a.text)) != NULL);
	CHECK(strlen(a.text) <= 120);
	CHECK(a.code == -1 || a.code == HEC_CODE_BAD ||
	    (a.code >= 0 && a.code <= 2147483647L));
	CHECK(a.inv >= -1 && a.ack_id >= -1);

	j = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
	CHECK(a.json == cJSON_IsObject(j));
	if (a.json) {
		oc = oracle_whole(j, "code", 2147483647.0);
		oi = oracle_whole(j, "invalid-event-number", 2147483647.0);
		oa = oracle_whole(j, "ackId", 9007199254740992.0);
		CHECK(oc == -2 ? a.code == HEC_CODE_BAD : a.code == oc);
		CHECK(a.inv == (oi < 0 ? -1 : oi));
		CHECK(a.ack_id == (oa < 0 ? -1 : oa));
	} else {
		CHECK(a.code == -1 && a.inv == -1 && a.ack_id == -1 &&
		    a.text[0] == '\0');
	}

	ok = hec_answer_ok(status, &a);
	if (ok)
		CHECK(status == 200 && a.json && (a.code == 0 ||
		    a.code == -1) && a.inv < 0);
	if (!a.json)
		CHECK(!ok);			/* unreadable: not delivered */
	if (status == 200 && !ok)
		CHECK(hec_code_retryable(status, a.code)); /* nor refused */
	if (status == 408 || status == 429 || status >= 500)
		CHECK(hec_code_retryable(status, a.code));
	if (a.inv >= 0) {
		/* output_hec.c counts min(inv, batch) events as indexed. */
		size_t idx = (size_t)a.inv < nevents ? (size_t)a.inv : nevents;
		CHECK(idx <= nevents);
	}

	/* The same bytes as an answer of the ack endpoint. */
	ak.obj = cJSON_GetObjectItemCaseSensitive(j, "acks");
	ak.n = 0;
	rc = hec_acks_parse(body, len, acked, &ak);
	CHECK(rc == 0 || rc == -1);
	CHECK((rc == -1) == (j == NULL));
	CHECK(ak.n <= (size_t)cJSON_GetArraySize(ak.obj));
	cJSON_Delete(j);
	return 0;
}
