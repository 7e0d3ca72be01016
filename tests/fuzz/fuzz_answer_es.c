/*
 * fuzz_answer_es.c - libFuzzer harness for what reads Elasticsearch's
 * answers (transport/answer.c): the bulk answer that decides each
 * document's fate, the priority lane's one-document answer, and the
 * description of an error answer.
 *
 * Input: byte 0 is the number of documents in the request (0..255), the
 * rest is the answer body (exactly that many bytes, no NUL after it).
 *
 * Invariants (abort() on a breach), checked against an independent
 * reading of the same body with cJSON:
 *   - a bulk answer is either "not understood" (no callback at all) or
 *     gives exactly one outcome per document, in order;
 *   - nothing is delivered unless the answer says so: "errors":false, or
 *     the item's own "status" is a whole 2xx (delivered) or 409
 *     (duplicate); an answer that is not JSON, has no boolean "errors",
 *     or whose items do not match the documents one for one, is not
 *     understood (the caller sends everything again);
 *   - a retried item has no valid status, a 1xx, 429 or 5xx; a refused
 *     one a 3xx/4xx other than 409 and 429, with a type and a reason of
 *     bounded length;
 *   - the priority lane is OK only under the same conditions, and an
 *     unreadable answer is a retry;
 *   - descriptions are NUL-terminated, fit their buffer and start with
 *     "HTTP <status>";
 *   - the same body read twice gives the same outcomes.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Itransport tests/fuzz/fuzz_answer_es.c transport/answer.c \
 *       -lcjson -o /tmp/fuzz_answer_es
 *   /tmp/fuzz_answer_es -max_total_time=60 tests/fuzz/seeds/answer_es
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

struct seen {
	size_t			 calls;
	enum es_item_result	 result[256];
	long			 status[256];
	char			 text[256][64];	/* type: start of why */
};

static void
record(void *arg, size_t k, const struct es_item *it)
{
	struct seen *s = arg;

	CHECK(k == s->calls);		/* once each, in order */
	CHECK(k < 256);
	s->calls++;
	s->result[k] = it->result;
	s->status[k] = it->status;
	s->text[k][0] = '\0';
	switch (it->result) {
	case ES_ITEM_DELIVERED:
		CHECK(it->status == 0 || (it->status >= 200 &&
		    it->status < 300));
		break;
	case ES_ITEM_DUPLICATE:
		CHECK(it->status == 409);
		break;
	case ES_ITEM_RETRY:
		CHECK(it->status == 0 || (it->status >= 100 &&
		    it->status < 200) || it->status == 429 ||
		    (it->status >= 500 && it->status <= 599));
		break;
	case ES_ITEM_REFUSED:
		CHECK(it->status >= 300 && it->status < 500 &&
		    it->status != 409 && it->status != 429);
		CHECK(it->type != NULL && it->why != NULL);
		CHECK(strlen(it->type) < 96 && strlen(it->why) < 512);
		snprintf(s->text[k], sizeof(s->text[k]), "%s: %s", it->type,
		    it->why);
		break;
	default:
		CHECK(!"an outcome outside the enum");
	}
}

/* The item's status as the answer writes it: a whole number, or -1. */
static long
oracle_status(const cJSON *items, size_t k)
{
	const cJSON *it = cJSON_GetArrayItem(items, (int)k);
	const cJSON *st = it != NULL && it->child != NULL ?
	    cJSON_GetObjectItemCaseSensitive(it->child, "status") : NULL;
	double d;

	if (!cJSON_IsNumber(st))
		return -1;
	d = st->valuedouble;
	if (!(d >= 0 && d <= 1e6) || (double)(long)d != d)
		return -1;
	return (long)d;
}

static void
check_describe(long status, const char *body, size_t len)
{
	char out[700], tiny[12], want[32];

	memset(out, 'x', sizeof(out));
	es_answer_describe(status, body, len, out, sizeof(out));
	CHECK(memchr(out, '\0', sizeof(out)) != NULL);
	snprintf(want, sizeof(want), "HTTP %ld", status);
	CHECK(strncmp(out, want, strlen(want)) == 0);
	es_answer_describe(status, body, len, tiny, sizeof(tiny));
	CHECK(memchr(tiny, '\0', sizeof(tiny)) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seen a, b;
	const char *body;
	size_t len, n;
	bool ok, ok2;
	cJSON *j;
	const cJSON *errors, *items;
	long st;
	enum prio_result pr;

	if (size < 1)
		return 0;
	n = data[0];
	body = (const char *)data + 1;
	len = size - 1;

	memset(&a, 0, sizeof(a));
	ok = es_bulk_answer(body, len, n, record, &a);
	CHECK(ok ? a.calls == n : a.calls == 0);
	memset(&b, 0, sizeof(b));
	ok2 = es_bulk_answer(body, len, n, record, &b);
	CHECK(ok == ok2 && a.calls == b.calls);
	for (size_t k = 0; k < a.calls; k++)
		CHECK(a.result[k] == b.result[k] && a.status[k] ==
		    b.status[k] && strcmp(a.text[k], b.text[k]) == 0);

	/* Against an independent reading of the body. */
	j = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
	errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
	items = cJSON_GetObjectItemCaseSensitive(j, "items");
	if (!cJSON_IsBool(errors))
		CHECK(!ok);		/* unreadable: never delivered */
	if (cJSON_IsTrue(errors) && (!cJSON_IsArray(items) ||
	    (size_t)cJSON_GetArraySize(items) != n))
		CHECK(!ok);		/* not one item per document */
	for (size_t k = 0; ok && k < n; k++) {
		long os = cJSON_IsFalse(errors) ? -2 : oracle_status(items, k);

		if (a.result[k] == ES_ITEM_DELIVERED)
			CHECK(os == -2 || (os >= 200 && os < 300));
		else if (a.result[k] == ES_ITEM_DUPLICATE)
			CHECK(os == 409);
		else if (a.result[k] == ES_ITEM_REFUSED)
			CHECK(os == a.status[k]);
		else
			CHECK(os == -1 || os == a.status[k] || os > 599 ||
			    (os >= 0 && os < 100));
		CHECK(os != -2 || a.result[k] == ES_ITEM_DELIVERED);
	}

	/* The priority lane (one document). */
	pr = es_prio_answer(body, len, &st);
	CHECK(pr == PRIO_OK || pr == PRIO_RETRY || pr == PRIO_REFUSED);
	CHECK(st == 0 || (st >= 100 && st <= 599));
	if (j == NULL)
		CHECK(pr == PRIO_RETRY);
	if (pr == PRIO_OK)
		CHECK(cJSON_IsFalse(errors) || st == 409 || (st >= 200 &&
		    st < 300));
	if (pr == PRIO_REFUSED)
		CHECK(st >= 300 && st < 500 && st != 409 && st != 429);
	cJSON_Delete(j);

	check_describe(n == 0 ? 400 : 100 + (long)n, body, len);
	return 0;
}
