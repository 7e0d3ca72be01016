/*
 * answer.c - what the servers' answers say, as pure functions: bytes in,
 * a verdict out; no I/O, no logging, no state.  The HTTPS outputs
 * (output_es.c, output_hec.c, output_wazuh.c) act on the verdicts; the
 * fuzz targets (tests/fuzz/fuzz_answer_*.c) feed them arbitrary bytes and
 * check their invariants.
 *
 * The rule shared by all of them: an answer that cannot be read never
 * makes a record delivered.  Numbers are taken only when they are whole
 * and in range (a status of 1e300 or -1 is no status at all).
 */
#include "transport_int.h"
#include "base.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* v as a whole number in [min, max] (both within +-2^53), or false. */
static bool
json_whole(const cJSON *v, double min, double max, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (!(d >= min && d <= max))	/* NaN too */
		return false;
	if ((double)(int64_t)d != d)
		return false;
	*out = (int64_t)d;
	return true;
}

#define WHOLE_MAX	9007199254740992.0	/* 2^53 */
#define INT31_MAX	2147483647.0

static cJSON *
parse(const char *body, size_t len)
{
	return body != NULL && len > 0 ? cJSON_ParseWithLength(body, len) :
	    NULL;
}

/* An HTTP status of an item, or 0 when it has none that is valid. */
static long
item_status(const cJSON *st)
{
	int64_t v;

	return json_whole(st, 100, 599, &v) ? (long)v : 0;
}

/* ---- Elasticsearch ------------------------------------------------------- */

/* "type: reason" of an Elasticsearch error object (or body). */
static void
es_error_text(const cJSON *err, char *type, size_t tlen, char *why,
    size_t wlen)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(err, "type");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(err, "reason");
	const cJSON *cause = cJSON_GetObjectItemCaseSensitive(err, "caused_by");

	snprintf(type, tlen, "%s", cJSON_IsString(t) ? t->valuestring : "");
	if (cJSON_IsString(r) && cJSON_IsObject(cause)) {
		const cJSON *cr = cJSON_GetObjectItemCaseSensitive(cause,
		    "reason");
		snprintf(why, wlen, "%.300s%s%.200s", r->valuestring,
		    cJSON_IsString(cr) ? ": " : "", cJSON_IsString(cr) ?
		    cr->valuestring : "");
	} else {
		snprintf(why, wlen, "%.500s", cJSON_IsString(r) ?
		    r->valuestring : cJSON_IsString(err) ? err->valuestring :
		    "(no reason given)");
	}
}

void
es_answer_describe(long status, const char *body, size_t len, char *out,
    size_t outlen)
{
	cJSON *j = parse(body, len);
	char type[96], why[512];

	if (j != NULL && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j,
	    "error"))) {
		es_error_text(cJSON_GetObjectItemCaseSensitive(j, "error"), type,
		    sizeof(type), why, sizeof(why));
		snprintf(out, outlen, "HTTP %ld %s: %.300s", status, type, why);
	} else {
		snprintf(out, outlen, "HTTP %ld", status);
	}
	cJSON_Delete(j);
}

bool
es_bulk_answer(const char *body, size_t len, size_t n, es_item_fn fn,
    void *arg)
{
	cJSON *j, *items, *it;
	const cJSON *errors;
	size_t k = 0;
	char type[96], why[512];
	struct es_item x;

	if ((j = parse(body, len)) == NULL)
		return false;
	errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
	items = cJSON_GetObjectItemCaseSensitive(j, "items");
	if (!cJSON_IsBool(errors)) {
		cJSON_Delete(j);
		return false;
	}
	if (cJSON_IsFalse(errors) && (items == NULL ||
	    (size_t)cJSON_GetArraySize(items) == n)) {
		/* All created (or already there, which also says errors). */
		memset(&x, 0, sizeof(x));
		x.result = ES_ITEM_DELIVERED;
		for (k = 0; k < n; k++)
			fn(arg, k, &x);
		cJSON_Delete(j);
		return true;
	}
	if (!cJSON_IsArray(items) || (size_t)cJSON_GetArraySize(items) != n) {
		cJSON_Delete(j);
		return false;
	}
	cJSON_ArrayForEach(it, items) {
		const cJSON *res = it->child;

		memset(&x, 0, sizeof(x));
		x.status = item_status(res != NULL ?
		    cJSON_GetObjectItemCaseSensitive(res, "status") : NULL);
		if (x.status == 409) {
			x.result = ES_ITEM_DUPLICATE;
		} else if (x.status >= 200 && x.status < 300) {
			x.result = ES_ITEM_DELIVERED;
		} else if (x.status < 200 || x.status == 429 ||
		    x.status >= 500) {
			/* No status (or 1xx): not known to be taken. */
			x.result = ES_ITEM_RETRY;
		} else {
			es_error_text(cJSON_GetObjectItemCaseSensitive(res,
			    "error"), type, sizeof(type), why, sizeof(why));
			x.result = ES_ITEM_REFUSED;
			x.type = type;
			x.why = why;
		}
		fn(arg, k++, &x);
	}
	cJSON_Delete(j);
	return true;
}

enum prio_result
es_prio_answer(const char *body, size_t len, long *item_status_out)
{
	cJSON *j = parse(body, len);
	const cJSON *it = cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(j, "items"), 0);
	long status = item_status(it != NULL && it->child != NULL ?
	    cJSON_GetObjectItemCaseSensitive(it->child, "status") : NULL);
	enum prio_result res;

	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "errors")) ||
	    status == 409 || (status >= 200 && status < 300))
		res = PRIO_OK;
	else if (status == 429 || status >= 500 || status < 200)
		res = PRIO_RETRY;
	else
		res = PRIO_REFUSED;
	cJSON_Delete(j);
	*item_status_out = status;
	return res;
}

/* ---- Splunk HEC ----------------------------------------------------------- */

void
hec_answer_parse(const char *body, size_t len, struct hec_answer *a)
{
	cJSON *j = parse(body, len);
	const cJSON *v;
	int64_t x;

	memset(a, 0, sizeof(*a));
	a->code = -1;
	a->inv = -1;
	a->ack_id = -1;
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return;
	}
	a->json = true;
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "code")) != NULL)
		a->code = json_whole(v, 0, INT31_MAX, &x) ? (long)x :
		    HEC_CODE_BAD;
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "text")) != NULL &&
	    cJSON_IsString(v))
		snprintf(a->text, sizeof(a->text), "%.120s", v->valuestring);
	if (json_whole(cJSON_GetObjectItemCaseSensitive(j,
	    "invalid-event-number"), 0, INT31_MAX, &x))
		a->inv = (long)x;
	if (json_whole(cJSON_GetObjectItemCaseSensitive(j, "ackId"), 0,
	    WHOLE_MAX, &x))
		a->ack_id = x;
	cJSON_Delete(j);
}

bool
hec_answer_ok(long status, const struct hec_answer *a)
{
	return status == 200 && a->json && (a->code == 0 || a->code == -1) &&
	    a->inv < 0;
}

bool
hec_code_retryable(long status, long code)
{
	if (code == 8 || code == 9 || (code >= 18 && code <= 20) ||
	    code == 23 || code == 26 || code == 27)
		return true;
	/* A 200 that does not say success was not understood: never a
	 * refusal, and never a delivery either. */
	if (status == 200)
		return true;
	return status == 408 || status == 429 || status >= 500;
}

int
hec_acks_parse(const char *body, size_t len,
    void (*fn)(void *arg, int64_t id), void *arg)
{
	cJSON *j = parse(body, len), *v;

	if (j == NULL)
		return -1;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(j, "acks")) {
		const char *s = v->string;
		int64_t id = 0;
		size_t i;

		if (s == NULL || !cJSON_IsTrue(v))
			continue;
		/* Only the decimal form Splunk writes: "0", "17" (at most
		 * 18 digits, so that it cannot overflow). */
		for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 18; i++)
			id = id * 10 + (s[i] - '0');
		if (i == 0 || s[i] != '\0' || (s[0] == '0' && i > 1))
			continue;
		fn(arg, id);
	}
	cJSON_Delete(j);
	return 0;
}

/* ---- Wazuh -------------------------------------------------------------- */

void
wz_answer_describe(long status, const char *body, size_t len, char *out,
    size_t outlen)
{
	cJSON *j = parse(body, len);
	const cJSON *t, *d;

	t = cJSON_GetObjectItemCaseSensitive(j, "title");
	d = cJSON_GetObjectItemCaseSensitive(j, "detail");
	if (cJSON_IsString(t) || cJSON_IsString(d))
		snprintf(out, outlen, "HTTP %ld %.100s%s%.300s", status,
		    cJSON_IsString(t) ? t->valuestring : "",
		    cJSON_IsString(d) ? ": " : "",
		    cJSON_IsString(d) ? d->valuestring : "");
	else
		snprintf(out, outlen, "HTTP %ld", status);
	cJSON_Delete(j);
}

bool
wz_events_answer(const char *body, size_t len, size_t n,
    char *(*text)(void *arg, size_t k),
    void (*fn)(void *arg, size_t k, const struct wz_item *it), void *arg,
    size_t *unmatched)
{
	cJSON *j;
	const cJSON *data, *nf, *failed, *f, *id;
	char *texts[WZ_EVENTS_MAX] = { 0 };
	const cJSON *group[WZ_EVENTS_MAX] = { 0 };
	char why[300];
	struct wz_item x;

	if (n > WZ_EVENTS_MAX || (j = parse(body, len)) == NULL)
		return false;
	data = cJSON_GetObjectItemCaseSensitive(j, "data");
	nf = cJSON_GetObjectItemCaseSensitive(data, "total_failed_items");
	failed = cJSON_GetObjectItemCaseSensitive(data, "failed_items");
	if (!cJSON_IsNumber(nf) || (nf->valuedouble > 0 &&
	    !cJSON_IsArray(failed))) {
		cJSON_Delete(j);
		return false;
	}
	/* Match the failed event strings to the events sent, each id to the
	 * first event of that text not matched yet.  An event whose text
	 * cannot be had (no memory) could be one that failed: then the
	 * answer cannot be read now. */
	if (unmatched != NULL)
		*unmatched = 0;
	cJSON_ArrayForEach(f, failed) {
		cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(f,
		    "id")) {
			bool found = false;

			if (!cJSON_IsString(id))
				continue;
			for (size_t k = 0; k < n && !found; k++) {
				if (group[k] != NULL)
					continue;
				if (texts[k] == NULL &&
				    (texts[k] = text(arg, k)) == NULL) {
					for (size_t m = 0; m < n; m++)
						free(texts[m]);
					cJSON_Delete(j);
					return false;
				}
				if (strcmp(texts[k], id->valuestring) != 0)
					continue;
				group[k] = f;
				found = true;
			}
			if (!found && unmatched != NULL)
				(*unmatched)++;
		}
	}
	for (size_t k = 0; k < n; k++) {
		memset(&x, 0, sizeof(x));
		x.uncertain = group[k] == NULL && unmatched != NULL &&
		    *unmatched > 0;
		if (group[k] != NULL) {
			const cJSON *err = cJSON_GetObjectItemCaseSensitive(
			    group[k], "error");
			const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err,
			    "message");
			int64_t c;

			x.failed = true;
			x.code = json_whole(cJSON_GetObjectItemCaseSensitive(
			    err, "code"), 0, INT31_MAX, &c) ? (long)c : 0;
			snprintf(why, sizeof(why), "Wazuh error %ld: %.250s",
			    x.code, cJSON_IsString(msg) ? msg->valuestring :
			    "(no message)");
			x.why = why;
		}
		fn(arg, k, &x);
		free(texts[k]);
	}
	cJSON_Delete(j);
	return true;
}

enum prio_result
wz_prio_answer(const char *body, size_t len)
{
	cJSON *j = parse(body, len);
	const cJSON *nf = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "data"), "total_failed_items");
	enum prio_result res = cJSON_IsNumber(nf) && nf->valuedouble == 0 ?
	    PRIO_OK : PRIO_RETRY;

	cJSON_Delete(j);
	return res;
}

char *
wz_login_token(const char *body, size_t len)
{
	cJSON *j = parse(body, len);
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "data"), "token");
	char *out = NULL;

	if (cJSON_IsString(tok) && tok->valuestring[0] != '\0' &&
	    strcspn(tok->valuestring, "\r\n") == strlen(tok->valuestring))
		out = strdup(tok->valuestring);
	if (cJSON_IsString(tok))
		explicit_bzero(tok->valuestring, strlen(tok->valuestring));
	cJSON_Delete(j);
	return out;
}

int64_t
wz_jwt_lifetime(const char *tok)
{
	const char *p = strchr(tok, '.'), *q;
	char *json = NULL;
	size_t n, o = 0;
	uint32_t acc = 0;
	int bits = 0;
	int64_t life = -1;
	cJSON *j;
	const cJSON *exp, *iat;

	if (p == NULL || (q = strchr(p + 1, '.')) == NULL)
		return -1;
	n = (size_t)(q - p - 1);
	if ((json = malloc(n + 1)) == NULL)
		return -1;
	for (const char *c = p + 1; c < q; c++) {
		int v;
		if (*c >= 'A' && *c <= 'Z')
			v = *c - 'A';
		else if (*c >= 'a' && *c <= 'z')
			v = *c - 'a' + 26;
		else if (*c >= '0' && *c <= '9')
			v = *c - '0' + 52;
		else if (*c == '-' || *c == '+')
			v = 62;
		else if (*c == '_' || *c == '/')
			v = 63;
		else
			break;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			json[o++] = (char)(acc >> bits & 0xff);
		}
	}
	json[o] = '\0';
	if ((j = cJSON_ParseWithLength(json, o)) != NULL) {
		exp = cJSON_GetObjectItemCaseSensitive(j, "exp");
		iat = cJSON_GetObjectItemCaseSensitive(j, "iat");
		if (!cJSON_IsNumber(iat))
			iat = cJSON_GetObjectItemCaseSensitive(j, "nbf");
		if (cJSON_IsNumber(exp) && cJSON_IsNumber(iat) &&
		    exp->valuedouble > iat->valuedouble) {
			double d = exp->valuedouble - iat->valuedouble;
			/* exp of 1e300 is no reason for undefined behaviour. */
			life = d < WZ_JWT_LIFE_MAX ? (int64_t)d :
			    WZ_JWT_LIFE_MAX;
		}
	}
	cJSON_Delete(j);
	free(json);
	return life;
}
