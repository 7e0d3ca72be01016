/*
 * output_es.c - the Elasticsearch (and OpenSearch) bulk output.
 *
 * A batch is a run of bulk items the agent rendered: a "create" action
 * line naming the data stream and a deterministic _id, then the document.
 * It goes as one POST /_bulk (NDJSON, gzip by default) with
 * filter_path=errors,items.*.error,items.*.status, as Beats sends it.
 * Answers are read as ../shared/docs/PROTOCOLS.md section 1.4 says
 * Elastic's own clients read them:
 *   - 200: every item has a status.  2xx is delivered (an item without
 *     a valid status is sent again: transport/answer.c); 409 means the
 *     _id is there already (a resend of a record that was indexed): also
 *     delivered, and counted as a duplicate; 429 and 5xx items stay
 *     pending and only they are sent again, after a backoff; any other
 *     4xx (mapping errors, forbidden index) is refused for good and goes
 *     to the dead-letter file with the error type and reason.
 *   - 413 for the whole request: the batch goes out in requests of half
 *     as many documents, halved again at the next 413; a single document
 *     still too large is dead-lettered.  The next batch starts whole.
 *   - 408, 429, 5xx, network and TLS errors: the request is retried, on
 *     the next URL of the list at once, then after a capped exponential
 *     backoff with full jitter once every URL failed (Retry-After wins).
 *   - 401 and 403: the credentials are refused; logged once, clearly, and
 *     retried with backoff: the ring keeps the records until they are
 *     fixed (the agent needs a restart to read the new ones).
 *   - other 4xx: refused for good; the records are dead-lettered.
 * Nothing is confirmed before every item of it is done with: a partly
 * failed bulk request is never counted as delivered.
 *
 * At start GET / logs the cluster's name and version.  The first time a
 * data stream appears in a batch, GET /_index_template/logs-DATASET says
 * whether the integration's template is installed; a missing one is
 * warned about (its ingest pipeline would not run), never fatal.
 */
#include "transport_int.h"
#include "base.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_URLS	16
#define MAX_TARGETS	16	/* data streams whose template is checked */

enum req { REQ_INFO = DL_REQ_OWN, REQ_TEMPLATE };

enum tpl_state { TPL_UNCHECKED, TPL_CHECKING, TPL_DONE };

struct target {
	char		 index[256];
	char		 tpl[256];	/* template name; "" when not checked */
	enum tpl_state	 state;
};

struct es {
	struct delivery		 d;
	char			 prio_url[2400];
	struct transport_es_opts o;
	char			*urls[MAX_URLS];
	char			*bulk_path;	/* "/_bulk?filter_path=..." */
	size_t			 nurls;
	size_t			 cur;		/* URL in use */
	size_t			 failed_urls;	/* in a row since a success */
	char			*auth;		/* the header, or NULL */
	char			 req_url[2400];
	bool			 need_info;
	bool			 auth_logged;
	struct target		 targets[MAX_TARGETS];
	size_t			 ntargets;
	size_t			 tpl_req;	/* target being checked */
};

/* The document line of record i (the action line skipped). */
static void
doc_of(const struct transport_batch *b, size_t i, const char **doc,
    size_t *len)
{
	size_t start, n;
	const char *p, *nl;

	delivery_span(b, i, &start, &n);
	p = b->body + start;
	nl = memchr(p, '\n', n);
	if (nl == NULL || (size_t)(nl + 1 - p) >= n) {
		*doc = p;
		*len = n;
		return;
	}
	*doc = nl + 1;
	*len = n - (size_t)(nl + 1 - p);
}

/* Copy the _index or _id of record i's action line into out. */
static void
action_field(const struct transport_batch *b, size_t i, const char *key,
    char *out, size_t outlen)
{
	size_t start, n, klen = strlen(key);
	const char *p, *end, *q;

	out[0] = '\0';
	delivery_span(b, i, &start, &n);
	p = b->body + start;
	if ((end = memchr(p, '\n', n)) == NULL)
		return;
	for (q = p; q + klen + 3 < end; q++) {
		if (q[0] == '"' && memcmp(q + 1, key, klen) == 0 &&
		    q[klen + 1] == '"' && q[klen + 2] == ':' &&
		    q[klen + 3] == '"') {
			const char *v = q + klen + 4, *ve = v;
			while (ve < end && *ve != '"' && *ve != '\\')
				ve++;
			if (ve < end && *ve == '"')
				snprintf(out, outlen, "%.*s", (int)(ve - v), v);
			return;
		}
	}
}

/* The dead letter of a bulk item: the document, its _index and _id, and
 * the server's error type and reason. */
static void
es_dead_letter(struct delivery *d, const struct transport_batch *b,
    size_t i, const struct dl_reason *r)
{
	char index[256], id[128], reason[640];
	const char *doc;
	size_t len;
	cJSON *x = cJSON_CreateObject();
	char *extra = NULL;

	action_field(b, i, "_index", index, sizeof(index));
	action_field(b, i, "_id", id, sizeof(id));
	snprintf(reason, sizeof(reason), "HTTP %ld%s%s: %s", r->status,
	    r->type[0] != '\0' ? " " : "", r->type, r->why);
	if (x != NULL) {
		cJSON *err = cJSON_AddObjectToObject(x, "error");
		if (err != NULL) {
			cJSON_AddStringToObject(err, "type", r->type);
			cJSON_AddStringToObject(err, "reason", r->why);
		}
		cJSON_AddStringToObject(x, "index", index);
		cJSON_AddStringToObject(x, "id", id);
		if ((extra = cJSON_PrintUnformatted(x)) != NULL) {
			/* Members only: drop the braces. */
			size_t n = strlen(extra);
			memmove(extra, extra + 1, n - 2);
			extra[n - 2] = '\0';
		}
		cJSON_Delete(x);
	}
	doc_of(b, i, &doc, &len);
	transport_dead_letter_x(&d->base, b->seqs[i], reason, r->status, 0,
	    extra, doc, len);
	free(extra);
}

/* The chosen bulk items in one POST /_bulk. */
static int
es_send(struct delivery *d, const struct transport_batch *b)
{
	struct es *e = (struct es *)d;
	const char *hdrs[2] = { e->auth, "Content-Type: application/x-ndjson" };

	snprintf(e->req_url, sizeof(e->req_url), "%s%s", e->urls[e->cur],
	    e->bulk_path);
	return delivery_post(d, b, e->req_url, NULL, e->o.http.gzip, hdrs, 2);
}

static int
start_get(struct es *e, const char *path, enum req what)
{
	const char *hdrs[3] = { e->auth, NULL, NULL };

	snprintf(e->req_url, sizeof(e->req_url), "%s%s", e->urls[e->cur],
	    path);
	return delivery_http(&e->d, what, "GET", e->req_url, e->auth != NULL ?
	    hdrs : hdrs + 1, NULL, 0);
}

/* A whole request failed: on the next URL at once while some were not
 * tried yet (and the server did not say when to come back). */
static bool
es_retrying(struct delivery *d, int64_t now, const struct http_response *r,
    const char *what, bool failover)
{
	struct es *e = (struct es *)d;
	size_t was = e->cur;

	if (!failover || e->nurls < 2)
		return false;
	e->cur = (e->cur + 1) % e->nurls;
	if (++e->failed_urls < e->nurls && r->retry_after_ms < 0) {
		transport_failed(&d->base, now, false, "%s (at %s); trying %s",
		    what, e->urls[was], e->urls[e->cur]);
		return true;
	}
	e->failed_urls = 0;
	return false;
}

struct items_read {
	struct es		*e;
	struct dl_verdict	*v;
};

/* Act on what the answer says of document k of the request. */
static void
on_item(void *arg, size_t k, const struct es_item *it)
{
	struct items_read *c = arg;
	struct dl_verdict *v = c->v;

	if (it->result == ES_ITEM_DELIVERED) {
		delivery_mark(&c->e->d, v, k, DL_DELIVERED);
	} else if (it->result == ES_ITEM_DUPLICATE) {
		delivery_mark(&c->e->d, v, k, DL_DUPLICATE);
	} else if (it->result == ES_ITEM_REFUSED) {
		if (v->first[0] == '\0')
			snprintf(v->first, sizeof(v->first), "HTTP %ld %s: "
			    "%.500s", it->status, it->type, it->why);
		v->dl.status = it->status;
		v->dl.type = it->type;
		v->dl.why = it->why;
		delivery_mark(&c->e->d, v, k, DL_DEAD_LETTER);
	}
	/* ES_ITEM_RETRY: 429, 5xx, or no status: not known taken. */
}

static void
es_answer(struct delivery *d, const struct http_response *r, int64_t now,
    struct dl_verdict *v)
{
	struct es *e = (struct es *)d;
	struct items_read c = { .e = e, .v = v };

	(void)now;
	if (v->cls == DL_AUTH) {
		if (!e->auth_logged)
			log_errorx("output %s: Elasticsearch refused the "
			    "credentials (%s): check api_key, or user and "
			    "password, of [output:%s]; the records wait in the "
			    "buffer", d->base.name, v->why, d->base.name);
		e->auth_logged = true;
		return;
	}
	if (r->status != 200) {
		if (v->cls == DL_ANSWERED)
			v->cls = DL_REFUSED;	/* a 2xx we do not know */
		return;
	}
	if (!es_bulk_answer(r->body, r->body_len, d->nsent, on_item, &c)) {
		v->cls = DL_TRY_AGAIN;
		v->failover = false;
		v->why = "an answer that does not say what happened to each "
		    "document";
		return;
	}
	e->failed_urls = 0;
	e->auth_logged = false;
}

static void
on_info_done(struct es *e, const struct http_response *r)
{
	cJSON *j;
	const cJSON *v, *num, *dist, *cn;
	char why[700];

	e->need_info = false;
	if (r->status != 200) {
		delivery_describe(&e->d, r, why, sizeof(why));
		log_warnx("output %s: cannot ask %s what it is: %s",
		    e->d.base.name, e->urls[e->cur], why);
		return;
	}
	j = cJSON_ParseWithLength(r->body, r->body_len);
	v = cJSON_GetObjectItemCaseSensitive(j, "version");
	num = cJSON_GetObjectItemCaseSensitive(v, "number");
	dist = cJSON_GetObjectItemCaseSensitive(v, "distribution");
	cn = cJSON_GetObjectItemCaseSensitive(j, "cluster_name");
	log_info("output %s: %s %s at %s, cluster %s", e->d.base.name,
	    cJSON_IsString(dist) && strcmp(dist->valuestring, "opensearch") ==
	    0 ? "OpenSearch" : "Elasticsearch", cJSON_IsString(num) ?
	    num->valuestring : "(version unknown)", e->urls[e->cur],
	    cJSON_IsString(cn) ? cn->valuestring : "(unnamed)");
	cJSON_Delete(j);
}

static void
on_template_done(struct es *e, const struct http_response *r)
{
	struct target *t = &e->targets[e->tpl_req];
	char why[700];

	t->state = TPL_DONE;
	if (r->status == 200) {
		log_info("output %s: index template %s found for %s",
		    e->d.base.name, t->tpl, t->index);
	} else if (r->status == 404) {
		log_warnx("output %s: Elasticsearch has no index template %s: "
		    "documents for %s will not go through the integration's "
		    "ingest pipeline (install the Elastic %s integration in "
		    "Kibana, or set index)", e->d.base.name, t->tpl, t->index,
		    strstr(t->tpl, "sysmon_linux") != NULL ?
		    "\"Sysmon for Linux\"" : "\"Windows\"");
	} else {
		delivery_describe(&e->d, r, why, sizeof(why));
		log_info("output %s: cannot check the index template %s (%s): "
		    "the credentials may lack the monitor privilege, which "
		    "sending does not need", e->d.base.name, t->tpl, why);
	}
}

static void
es_done(struct delivery *d, int req, const struct http_response *r,
    int64_t now)
{
	(void)now;
	if (req == REQ_INFO)
		on_info_done((struct es *)d, r);
	else if (req == REQ_TEMPLATE)
		on_template_done((struct es *)d, r);
}

/* Note the data streams of batch b, to check their templates once. */
static void
es_submitted(struct delivery *d, const struct transport_batch *b)
{
	struct es *e = (struct es *)d;
	char index[256];

	for (size_t i = 0; i < b->n && e->ntargets < MAX_TARGETS; i++) {
		struct target *t;
		const char *dash;
		bool known = false;

		action_field(b, i, "_index", index, sizeof(index));
		for (size_t k = 0; k < e->ntargets && !known; k++)
			known = strcmp(e->targets[k].index, index) == 0;
		if (known || index[0] == '\0')
			continue;
		t = &e->targets[e->ntargets++];
		memset(t, 0, sizeof(*t));
		snprintf(t->index, sizeof(t->index), "%s", index);
		t->state = TPL_DONE;
		/* A data stream logs-DATASET-NAMESPACE from an integration
		 * has the template logs-DATASET; our own datasets need none. */
		if (strncmp(index, "logs-", 5) == 0 &&
		    strncmp(index, "logs-sysmonfwd.", 15) != 0 &&
		    (dash = strrchr(index, '-')) != NULL && dash > index + 5) {
			snprintf(t->tpl, sizeof(t->tpl), "%.*s",
			    (int)(dash - index), index);
			t->state = TPL_UNCHECKED;
		}
	}
}

static enum prio_result
es_prio_answer_of(struct delivery *d, const struct http_response *r,
    int64_t now, char *why, size_t whylen)
{
	enum prio_result res;
	long status;

	(void)d;
	(void)now;
	if (r->status == 401)
		return PRIO_RETRY;
	if (r->status != 200)
		return delivery_prio_status(r->status);
	res = es_prio_answer(r->body, r->body_len, &status);
	if (res == PRIO_REFUSED)
		snprintf(why, whylen, "item status %ld", status);
	return res;
}

static int
es_prio_send(struct delivery *d, const char *doc, size_t len)
{
	struct es *e = (struct es *)d;
	const char *hdrs[4];
	size_t n = 0;

	if (e->auth != NULL)
		hdrs[n++] = e->auth;
	hdrs[n++] = "Content-Type: application/x-ndjson";
	hdrs[n] = NULL;
	snprintf(e->prio_url, sizeof(e->prio_url), "%s%s", e->urls[e->cur],
	    e->bulk_path);
	return delivery_prio_http(d, e->prio_url, hdrs, doc, len);
}

/*
 * Before a batch: once the priority lane got through to a destination
 * that was down, ask the cluster what it is (once) and check the
 * templates of the data streams seen.
 */
static bool
es_prepare(struct delivery *d, int64_t now, bool pending, int64_t *wake)
{
	struct es *e = (struct es *)d;
	char path[300];
	int64_t gate;

	if (pending && (gate = transport_prio_gate(&d->base, now)) > now) {
		if (gate < *wake)
			*wake = gate;
		return true;
	}
	if (e->need_info) {
		if (start_get(e, "/", REQ_INFO) == 0)
			return true;
		e->need_info = false;
	}
	for (size_t k = 0; k < e->ntargets; k++) {
		if (e->targets[k].state != TPL_UNCHECKED)
			continue;
		snprintf(path, sizeof(path), "/_index_template/%s",
		    e->targets[k].tpl);
		e->tpl_req = k;
		e->targets[k].state = TPL_CHECKING;
		if (start_get(e, path, REQ_TEMPLATE) == 0)
			return true;
		e->targets[k].state = TPL_DONE;
	}
	return false;
}

static void
es_free(struct delivery *d)
{
	struct es *e = (struct es *)d;

	for (size_t i = 0; i < e->nurls; i++)
		free(e->urls[i]);
	free(e->bulk_path);
	transport_free_secret(e->auth);
}

static const struct delivery_ops es_ops = {
	.unit = "documents",
	.refused = "refused for good",
	.not_taken = "rejected for now (429 or 5xx)",
	.too_large = "lower batch_max_bytes, or raise the server's "
	    "http.max_content_length",
	.one_too_large = { 413, 0, "request_entity_too_large", "one document "
	    "is larger than the server's http.max_content_length" },
	.send = es_send,
	.answer = es_answer,
	.dead_letter = es_dead_letter,
	.describe = es_answer_describe,
	.retrying = es_retrying,
	.prepare = es_prepare,
	.done = es_done,
	.prio_send = es_prio_send,
	.prio_answer = es_prio_answer_of,
	.submitted = es_submitted,
	.free = es_free,
};

/* The Authorization header, or NULL (*rc says whether that is an error). */
static char *
make_auth(const struct transport_es_opts *o, int *rc)
{
	char *hdr;

	*rc = 0;
	if (o->api_key != NULL && strchr(o->api_key, ':') == NULL) {
		/* The encoded form Elasticsearch returned: sent as it is. */
		if (asprintf(&hdr, "Authorization: ApiKey %s", o->api_key) < 0)
			hdr = NULL;
	} else if (o->api_key != NULL) {
		hdr = transport_auth_header("ApiKey", NULL, o->api_key);
	} else if (o->user != NULL && o->password != NULL) {
		hdr = transport_auth_header("Basic", o->user, o->password);
	} else {
		return NULL;
	}
	if (hdr == NULL)
		*rc = -ENOMEM;
	return hdr;
}

/* Percent-encode s for a query string. */
static int
query_escape(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	    p++) {
		if (o + 4 > outlen)
			return -ENAMETOOLONG;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.' || *p == '~')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X",
			    *p);
	}
	out[o] = '\0';
	return 0;
}

int
transport_es_open(struct transport_loop *l, const char *name,
    const struct transport_es_opts *o, const char *deadletter_dir,
    struct transport_output **out)
{
	struct es *e;
	char pipe[1600];
	const char *p;
	int rc;

	*out = NULL;
	if (o->urls == NULL)
		return -EINVAL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -ENOMEM;
	if ((rc = delivery_init(&e->d, &es_ops, l, name, &o->http,
	    deadletter_dir)) != 0)
		goto err;
	e->o = *o;
	e->o.api_key = e->o.password = NULL;	/* only inside the header */
	for (p = o->urls; *p != '\0';) {
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '/'))
			n--;
		if (n > 0) {
			if (e->nurls == MAX_URLS || n > 2000) {
				log_errorx("output %s: at most %d URLs of at "
				    "most 2000 characters", name, MAX_URLS);
				rc = -EINVAL;
				goto err;
			}
			if ((e->urls[e->nurls++] = strndup(p, n)) == NULL) {
				rc = -ENOMEM;
				goto err;
			}
		}
		p += strcspn(p, ",");
	}
	if (e->nurls == 0) {
		rc = -EINVAL;
		goto err;
	}
	e->o.urls = NULL;
	pipe[0] = '\0';
	if (o->pipeline != NULL) {
		memcpy(pipe, "&pipeline=", 10);
		if ((rc = query_escape(o->pipeline, pipe + 10,
		    sizeof(pipe) - 10)) != 0)
			goto err;
	}
	if (asprintf(&e->bulk_path, "/_bulk?filter_path=errors,items.*.error,"
	    "items.*.status%s", pipe) < 0) {
		e->bulk_path = NULL;
		rc = -ENOMEM;
		goto err;
	}
	e->auth = make_auth(o, &rc);
	if (rc != 0)
		goto err;
	/* A bulk answer lists every failed item with its error. */
	http_client_set_body_max(e->d.http, 16u << 20);
	e->need_info = true;
	*out = &e->d.base;
	return 0;
err:
	delivery_free(&e->d);
	return rc;
}
