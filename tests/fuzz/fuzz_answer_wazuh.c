/*
 * fuzz_answer_wazuh.c - libFuzzer harness for what reads the Wazuh API's
 * answers (transport/answer.c): the POST /events answer that says which
 * events the manager took (failed_items matched to the events sent by
 * their text), the priority lane's answer, the login answer and the
 * JWT's lifetime, and the description of an error answer.
 *
 * Input: byte 0 is the number of events sent (0..120: more than the 100
 * a request may hold must be refused), the rest is the body (exactly
 * that many bytes, no NUL after it).  Event k's text is "ev<k>", except
 * that every 7th repeats the one before (identical events) and every
 * 13th is unknown (NULL), so that the seeds' failed_items match some.
 *
 * Invariants (abort() on a breach), checked against an independent
 * reading of the same body with cJSON:
 *   - the answer is "not understood" (no callback at all: the caller
 *     sends every event again) when it is not JSON, has no numeric
 *     data.total_failed_items, names failures without a failed_items
 *     array, or when more than 100 events were sent; else exactly one
 *     outcome per event, in order;
 *   - an event is failed only when a failed_items id equals its text, and
 *     for each text, the events failed are exactly min(ids naming it,
 *     events with it): every id is matched once, none twice;
 *   - a failure's reason is bounded and says "Wazuh error CODE: ...";
 *   - every event text asked for is freed (ASan's leak check);
 *   - the priority lane is OK only when total_failed_items is 0;
 *   - a login token is the answer's data.token, non-empty, without CR or
 *     LF (it goes into a header);
 *   - a JWT's lifetime is -1 or exp - iat (or nbf) of its payload, cut
 *     to 0..WZ_JWT_LIFE_MAX, never undefined behaviour for huge values;
 *     the body is also tried as the JWT's payload (base64url-encoded).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Itransport tests/fuzz/fuzz_answer_wazuh.c transport/answer.c \
 *       -lcjson -o /tmp/fuzz_answer_wazuh
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

#define NMAX	120

struct run {
	size_t	 n;
	size_t	 calls;
	size_t	 asked;
	bool	 failed[NMAX];
	long	 code[NMAX];
};

/* The text of event k, or NULL when unknown. */
static void
event_name(size_t k, char *out, size_t len)
{
	if (k % 13 == 12) {
		out[0] = '\0';
		return;
	}
	if (k % 7 == 6)
		k--;		/* the same text as the one before */
	snprintf(out, len, "ev%zu", k);
}

static char *
text_of(void *arg, size_t k)
{
	struct run *r = arg;
	char name[32];

	CHECK(k < r->n);
	r->asked++;
	event_name(k, name, sizeof(name));
	return name[0] != '\0' ? strdup(name) : NULL;
}

static void
outcome(void *arg, size_t k, const struct wz_item *it)
{
	struct run *r = arg;

	CHECK(k == r->calls);		/* once each, in order */
	r->calls++;
	r->failed[k] = it->failed;
	r->code[k] = it->code;
	if (it->failed) {
		CHECK(it->why != NULL && strlen(it->why) < 300);
		CHECK(strncmp(it->why, "Wazuh error ", 12) == 0);
		CHECK(it->code >= 0);
	} else {
		CHECK(it->code == 0);
	}
}

/* How many failed_items ids equal name. */
static size_t
ids_naming(const cJSON *failed, const char *name)
{
	const cJSON *f, *id;
	size_t c = 0;

	cJSON_ArrayForEach(f, failed)
		cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(f,
		    "id"))
			if (cJSON_IsString(id) && strcmp(id->valuestring,
			    name) == 0)
				c++;
	return c;
}

static void
check_events(const char *body, size_t len, size_t n, const cJSON *j)
{
	struct run r = { .n = n };
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
	const cJSON *nf = cJSON_GetObjectItemCaseSensitive(data,
	    "total_failed_items");
	const cJSON *failed = cJSON_GetObjectItemCaseSensitive(data,
	    "failed_items");
	size_t unmatched = 0;
	bool ok = wz_events_answer(body, len, n, text_of, outcome, &r,
	    &unmatched);

	CHECK(ok ? r.calls == n : r.calls == 0);
	if (n > WZ_EVENTS_MAX || !cJSON_IsNumber(nf) ||
	    (nf->valuedouble > 0 && !cJSON_IsArray(failed)))
		CHECK(!ok);
	if (!ok)
		return;
	{
		/* Every failed id is matched to one event, or counted. */
		const cJSON *f, *id;
		size_t all = 0, matched = 0;

		cJSON_ArrayForEach(f, failed)
			cJSON_ArrayForEach(id,
			    cJSON_GetObjectItemCaseSensitive(f, "id"))
				all += cJSON_IsString(id);
		for (size_t k = 0; k < n; k++)
			matched += r.failed[k];
		CHECK(unmatched == all - matched);
	}
	for (size_t k = 0; k < n; k++) {
		char name[32];
		size_t events = 0, fails = 0, ids;

		event_name(k, name, sizeof(name));
		if (name[0] == '\0') {
			CHECK(!r.failed[k]);	/* unknown: never matched */
			continue;
		}
		for (size_t m = 0; m < n; m++) {
			char other[32];
			event_name(m, other, sizeof(other));
			if (strcmp(name, other) == 0) {
				events++;
				fails += r.failed[m];
			}
		}
		ids = ids_naming(failed, name);
		CHECK(fails == (ids < events ? ids : events));
	}
}

/* base64url without padding. */
static size_t
b64url(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
	    "tuvwxyz0123456789-_";
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
		out[o++] = a[v & 63];
	}
	if (n - i == 1) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
		out[o++] = a[v >> 10 & 63];
		out[o++] = a[v >> 4 & 63];
		out[o++] = a[(v & 15) << 2];
	}
	out[o] = '\0';
	return o;
}

/* The body as a JWT payload: its lifetime must be what the payload says. */
static void
check_jwt(const char *body, size_t len)
{
	char *tok = malloc(len * 4 / 3 + 16);
	cJSON *p;
	const cJSON *exp, *iat;
	int64_t life, want = -1;

	if (tok == NULL)
		return;
	memcpy(tok, "h.", 2);
	b64url((const unsigned char *)body, len, tok + 2);
	strcat(tok, ".s");
	life = wz_jwt_lifetime(tok);
	CHECK(life == -1 || (life >= 0 && life <= WZ_JWT_LIFE_MAX));
	p = cJSON_ParseWithLength(body, len);
	exp = cJSON_GetObjectItemCaseSensitive(p, "exp");
	iat = cJSON_GetObjectItemCaseSensitive(p, "iat");
	if (!cJSON_IsNumber(iat))
		iat = cJSON_GetObjectItemCaseSensitive(p, "nbf");
	if (cJSON_IsNumber(exp) && cJSON_IsNumber(iat) &&
	    exp->valuedouble > iat->valuedouble) {
		double d = exp->valuedouble - iat->valuedouble;
		want = d < WZ_JWT_LIFE_MAX ? (int64_t)d : WZ_JWT_LIFE_MAX;
	}
	CHECK(life == want);
	cJSON_Delete(p);
	free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	size_t len, n;
	cJSON *j;
	char *tok, out[600], tiny[10];
	const cJSON *otok, *onf;
	enum prio_result pr;

	if (size < 1)
		return 0;
	n = data[0] % (NMAX + 1);
	body = (const char *)data + 1;
	len = size - 1;
	j = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;

	check_events(body, len, n, j);

	pr = wz_prio_answer(body, len);
	onf = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "data"), "total_failed_items");
	CHECK(pr == PRIO_OK || pr == PRIO_RETRY);
	CHECK((pr == PRIO_OK) == (cJSON_IsNumber(onf) &&
	    onf->valuedouble == 0));

	tok = wz_login_token(body, len);
	otok = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "data"), "token");
	if (tok != NULL) {
		CHECK(tok[0] != '\0' && strcspn(tok, "\r\n") == strlen(tok));
		CHECK(cJSON_IsString(otok) && strcmp(tok,
		    otok->valuestring) == 0);
		(void)wz_jwt_lifetime(tok);
		free(tok);
	} else {
		CHECK(!cJSON_IsString(otok) || otok->valuestring[0] == '\0' ||
		    strcspn(otok->valuestring, "\r\n") !=
		    strlen(otok->valuestring));
	}
	cJSON_Delete(j);

	check_jwt(body, len);

	wz_answer_describe(200 + (long)n, body, len, out, sizeof(out));
	CHECK(memchr(out, '\0', sizeof(out)) != NULL &&
	    strncmp(out, "HTTP ", 5) == 0);
	wz_answer_describe(200, body, len, tiny, sizeof(tiny));
	CHECK(memchr(tiny, '\0', sizeof(tiny)) != NULL);
	return 0;
}
