/*
 * output_es.c - the Elasticsearch (and OpenSearch) bulk output.
 *
 * A batch is a run of bulk items the agent rendered: a "create" action
 * line naming the data stream and a deterministic _id, then the document.
 * It goes as one POST /_bulk (NDJSON, gzip by default) with
 * filter_path=errors,items.*.error,items.*.status, as Beats sends it.
 * Answers are read as PROTOCOLS.md section 1.4 says Elastic's own clients
 * read them:
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

#define MAX_SLOTS	2	/* batches taken, not yet done with */
#define MAX_URLS	16
#define MAX_TARGETS	16	/* data streams whose template is checked */

struct slot {
	struct transport_batch	*b;
	size_t			 end;	/* records [0, end) are this slot's */
	size_t			 from;	/* first record not done with */
	unsigned char		*done;	/* per record: delivered or refused */
	size_t			 limit;	/* records per request; 0: all (a
					   413 halves it) */
};

enum req { REQ_NONE, REQ_SEND, REQ_INFO, REQ_TEMPLATE };

enum tpl_state { TPL_UNCHECKED, TPL_CHECKING, TPL_DONE };

struct target {
	char		 index[256];
	char		 tpl[256];	/* template name; "" when not checked */
	enum tpl_state	 state;
};

struct es {
	struct transport_output	 base;
	struct http_client	*http;
	struct http_client	*prio_http;	/* heartbeats, alerts */
	struct transport_loop	*loop;
	char			 prio_url[2400];
	struct transport_es_opts o;
	char			*urls[MAX_URLS];
	char			*bulk_path;	/* "/_bulk?filter_path=..." */
	size_t			 nurls;
	size_t			 cur;		/* URL in use */
	size_t			 failed_urls;	/* in a row since a success */
	char			*auth;		/* the header, or NULL */
	char			 req_url[2400];
	struct slot		 q[MAX_SLOTS];
	size_t			 head, count;
	enum req		 req;
	size_t			 req_slot;
	size_t			*sent;		/* record indices in the request */
	size_t			 nsent, sentcap;
	char			*body;		/* request body when copied */
	size_t			 bodylen, bodycap;
	char			*gz;
	size_t			 gzlen, gzcap;
	int64_t			 retry_at;
	bool			 need_info;
	bool			 auth_logged;
	struct target		 targets[MAX_TARGETS];
	size_t			 ntargets;
	size_t			 tpl_req;	/* target being checked */
};

static struct slot *
slot_at(struct es *e, size_t i)
{
	return &e->q[(e->head + i) % MAX_SLOTS];
}

static void
slot_free(struct es *e, struct slot *s)
{
	transport_batch_recycle(&e->base, s->b);
	free(s->done);
	memset(s, 0, sizeof(*s));
}

static void
rec_span(const struct transport_batch *b, size_t i, size_t *start,
    size_t *len)
{
	*start = i > 0 ? b->ends[i - 1] : 0;
	*len = b->ends[i] - *start;
}

/* Move s->from over records done with. */
static void
slot_skip_done(struct slot *s)
{
	while (s->from < s->end && s->done[s->from])
		s->from++;
}

/* Pop finished batches and move `confirmed` as far as it may go. */
static void
advance(struct es *e)
{
	while (e->count > 0) {
		struct slot *s = slot_at(e, 0);

		slot_skip_done(s);
		if (s->from == s->end) {
			e->base.confirmed = s->b->seqs[s->end - 1];
			slot_free(e, s);
			e->head = (e->head + 1) % MAX_SLOTS;
			e->count--;
			continue;
		}
		if (s->from > 0 && s->b->seqs[s->from - 1] > e->base.confirmed)
			e->base.confirmed = s->b->seqs[s->from - 1];
		break;
	}
}

/* The slot to send next: the first one with records not done with. */
static struct slot *
next_to_send(struct es *e, size_t *idx)
{
	for (size_t i = 0; i < e->count; i++) {
		struct slot *s = slot_at(e, i);
		slot_skip_done(s);
		if (s->from < s->end) {
			*idx = i;
			return s;
		}
	}
	return NULL;
}

/* The document line of record i (the action line skipped). */
static void
doc_of(const struct transport_batch *b, size_t i, const char **doc,
    size_t *len)
{
	size_t start, n;
	const char *p, *nl;

	rec_span(b, i, &start, &n);
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
	rec_span(b, i, &start, &n);
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

static void
dead_letter_item(struct es *e, struct slot *s, size_t i, long status,
    const char *type, const char *why)
{
	char index[256], id[128], reason[640];
	const char *doc;
	size_t len;
	cJSON *x = cJSON_CreateObject();
	char *extra = NULL;

	action_field(s->b, i, "_index", index, sizeof(index));
	action_field(s->b, i, "_id", id, sizeof(id));
	snprintf(reason, sizeof(reason), "HTTP %ld%s%s: %s", status,
	    type[0] != '\0' ? " " : "", type, why);
	if (x != NULL) {
		cJSON *err = cJSON_AddObjectToObject(x, "error");
		if (err != NULL) {
			cJSON_AddStringToObject(err, "type", type);
			cJSON_AddStringToObject(err, "reason", why);
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
	doc_of(s->b, i, &doc, &len);
	transport_dead_letter_x(&e->base, s->b->seqs[i], reason, status, 0,
	    extra, doc, len);
	free(extra);
	s->done[i] = 1;
}

static void on_done(void *arg, const struct http_response *r);

/*
 * The first pending records of slot idx (at most s->limit) in one request
 * body: a slice of the batch when they are contiguous, else a copy.
 */
static int
start_send(struct es *e, size_t idx)
{
	struct slot *s = slot_at(e, idx);
	const char *body, *hdrs[6];
	size_t len, n = 0, off;
	bool contiguous = true;
	int rc;

	e->nsent = 0;
	if (e->sentcap < s->end) {
		size_t *ns = realloc(e->sent, s->end * sizeof(*ns));
		if (ns == NULL)
			return -ENOMEM;
		e->sent = ns;
		e->sentcap = s->end;
	}
	for (size_t i = s->from; i < s->end; i++) {
		if (s->limit != 0 && e->nsent == s->limit)
			break;
		if (s->done[i])
			contiguous = false;
		else
			e->sent[e->nsent++] = i;
	}
	if (e->nsent == 0)
		return -EINVAL;
	if (contiguous) {
		off = s->from > 0 ? s->b->ends[s->from - 1] : 0;
		body = s->b->body + off;
		len = s->b->ends[e->sent[e->nsent - 1]] - off;
	} else {
		size_t need = 0;
		for (size_t k = 0; k < e->nsent; k++) {
			size_t st, l;
			rec_span(s->b, e->sent[k], &st, &l);
			need += l;
		}
		if (need > e->bodycap) {
			char *nb = realloc(e->body, need);
			if (nb == NULL)
				return -ENOMEM;
			e->body = nb;
			e->bodycap = need;
		}
		e->bodylen = 0;
		for (size_t k = 0; k < e->nsent; k++) {
			size_t st, l;
			rec_span(s->b, e->sent[k], &st, &l);
			memcpy(e->body + e->bodylen, s->b->body + st, l);
			e->bodylen += l;
		}
		body = e->body;
		len = e->bodylen;
	}
	if (e->o.gzip) {
		if ((rc = gzip_buf(body, len, &e->gz, &e->gzlen, &e->gzcap)) !=
		    0)
			return rc;
		body = e->gz;
		len = e->gzlen;
		hdrs[n++] = "Content-Encoding: gzip";
	}
	if (e->auth != NULL)
		hdrs[n++] = e->auth;
	hdrs[n++] = "Content-Type: application/x-ndjson";
	hdrs[n] = NULL;
	snprintf(e->req_url, sizeof(e->req_url), "%s%s", e->urls[e->cur],
	    e->bulk_path);
	if ((rc = http_start(e->http, "POST", e->req_url, hdrs, body, len,
	    on_done, e)) != 0)
		return rc;
	e->req = REQ_SEND;
	e->req_slot = idx;
	e->base.st.requests++;
	return 0;
}

static int
start_get(struct es *e, const char *path, enum req what)
{
	const char *hdrs[3] = { e->auth, NULL, NULL };
	int rc;

	snprintf(e->req_url, sizeof(e->req_url), "%s%s", e->urls[e->cur],
	    path);
	if ((rc = http_start(e->http, "GET", e->req_url, e->auth != NULL ?
	    hdrs : hdrs + 1, NULL, 0, on_done, e)) != 0)
		return rc;
	e->req = what;
	return 0;
}

/* A short description of a whole-request answer, for logs. */
static void
describe(const struct http_response *r, char *out, size_t outlen)
{
	if (r->status == 0)
		snprintf(out, outlen, "%s", r->error);
	else
		es_answer_describe(r->status, r->body, r->body_len, out,
		    outlen);
}

/* Retry later: on the next URL at once while some were not tried yet. */
static void
retry_later(struct es *e, int64_t now, const struct http_response *r,
    const char *what, bool rotate)
{
	const char *how;
	int64_t wait;

	e->base.st.retries++;
	if (rotate && e->nurls > 1 && ++e->failed_urls < e->nurls &&
	    r->retry_after_ms < 0) {
		size_t was = e->cur;
		e->cur = (e->cur + 1) % e->nurls;
		transport_failed(&e->base, now, false, "%s (at %s); trying %s",
		    what, e->urls[was], e->urls[e->cur]);
		e->retry_at = now;
		return;
	}
	if (rotate && e->nurls > 1) {
		e->cur = (e->cur + 1) % e->nurls;
		e->failed_urls = 0;
	}
	wait = transport_retry_wait(&e->base, r, &how);
	e->retry_at = now + wait;
	transport_failed(&e->base, now, false, "%s; retrying in %.1f s%s",
	    what, (double)wait / 1000.0, how);
}

struct items_read {
	struct es	*e;
	struct slot	*s;
	size_t		 retry, refused, dups;
	char		 first[700];
};

/* Act on what the answer says of document k of the request. */
static void
on_item(void *arg, size_t k, const struct es_item *it)
{
	struct items_read *c = arg;
	size_t i = c->e->sent[k];

	if (it->result == ES_ITEM_DELIVERED ||
	    it->result == ES_ITEM_DUPLICATE) {
		c->s->done[i] = 1;
		c->e->base.st.delivered++;
		if (it->result == ES_ITEM_DUPLICATE)
			c->dups++;
	} else if (it->result == ES_ITEM_RETRY) {
		c->retry++;	/* 429, 5xx, or no status: not known taken */
	} else {
		if (c->first[0] == '\0')
			snprintf(c->first, sizeof(c->first), "HTTP %ld %s: "
			    "%.500s", it->status, it->type, it->why);
		dead_letter_item(c->e, c->s, i, it->status, it->type, it->why);
		c->refused++;
	}
}

/* Read the items of a 200 answer.  false: it cannot be matched. */
static bool
read_items(struct es *e, struct slot *s, const struct http_response *r,
    int64_t now, size_t *retry, size_t *refused)
{
	struct items_read c = { .e = e, .s = s };

	*retry = *refused = 0;
	if (!es_bulk_answer(r->body, r->body_len, e->nsent, on_item, &c))
		return false;
	*retry = c.retry;
	*refused = c.refused;
	e->base.st.duplicates += c.dups;
	if (*refused > 0)
		transport_failed(&e->base, now, true, "%zu of %zu documents "
		    "refused for good (first: %s): written to the dead-letter "
		    "file %s", *refused, e->nsent, c.first, e->base.dlq_path !=
		    NULL ? e->base.dlq_path : "(none)");
	if (c.dups > 0)
		log_debug("output %s: %zu documents were there already (409): "
		    "a resend, counted as delivered", e->base.name, c.dups);
	return true;
}

static void
on_send_done(struct es *e, const struct http_response *r, int64_t now)
{
	struct slot *s = slot_at(e, e->req_slot);
	size_t retry, refused;
	char why[700];

	describe(r, why, sizeof(why));
	if (r->status == 200) {
		if (!read_items(e, s, r, now, &retry, &refused)) {
			retry_later(e, now, r, "an answer that does not say "
			    "what happened to each document", false);
			return;
		}
		e->failed_urls = 0;
		e->auth_logged = false;
		if (retry > 0) {
			char what[160];
			snprintf(what, sizeof(what), "%zu of %zu documents "
			    "rejected for now (429 or 5xx); sending only those "
			    "again", retry, e->nsent);
			retry_later(e, now, r, what, false);
			return;
		}
		transport_recovered(&e->base);
		e->retry_at = now;
		return;
	}
	if (r->status == 413) {
		if (e->nsent > 1) {
			/* Halve the request until it fits; the batch keeps
			 * that size (the server's limit does not move). */
			s->limit = e->nsent / 2;
			transport_failed(&e->base, now, false, "%s: request too "
			    "large, sending the batch in halves of %zu "
			    "documents (lower batch_max_bytes, or raise the "
			    "server's http.max_content_length)", why, s->limit);
		} else {
			dead_letter_item(e, s, e->sent[0], 413,
			    "request_entity_too_large", "one document is "
			    "larger than the server's http.max_content_length");
			transport_failed(&e->base, now, true, "a document is too "
			    "large for the server (HTTP 413): dead-lettered");
		}
		e->retry_at = now;
		return;
	}
	if (r->status == 401 || r->status == 403) {
		if (!e->auth_logged)
			log_errorx("output %s: Elasticsearch refused the "
			    "credentials (%s): check api_key, or user and "
			    "password, of [output:%s]; the records wait in the "
			    "buffer", e->base.name, why, e->base.name);
		e->auth_logged = true;
		retry_later(e, now, r, why, false);
		return;
	}
	if (r->status == 0 || r->status == 408 || r->status == 429 ||
	    r->status >= 500) {
		retry_later(e, now, r, why, true);
		return;
	}
	/* Any other answer: refused for good. */
	for (size_t k = 0; k < e->nsent; k++)
		dead_letter_item(e, s, e->sent[k], r->status, "request_refused",
		    why);
	transport_failed(&e->base, now, true, "%zu records refused (%s): "
	    "dead-lettered", e->nsent, why);
	e->retry_at = now;
}

static void
on_info_done(struct es *e, const struct http_response *r)
{
	cJSON *j;
	const cJSON *v, *num, *dist, *cn;
	char why[700];

	e->need_info = false;
	if (r->status != 200) {
		describe(r, why, sizeof(why));
		log_warnx("output %s: cannot ask %s what it is: %s",
		    e->base.name, e->urls[e->cur], why);
		return;
	}
	j = cJSON_ParseWithLength(r->body, r->body_len);
	v = cJSON_GetObjectItemCaseSensitive(j, "version");
	num = cJSON_GetObjectItemCaseSensitive(v, "number");
	dist = cJSON_GetObjectItemCaseSensitive(v, "distribution");
	cn = cJSON_GetObjectItemCaseSensitive(j, "cluster_name");
	log_info("output %s: %s %s at %s, cluster %s", e->base.name,
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
		    e->base.name, t->tpl, t->index);
	} else if (r->status == 404) {
		log_warnx("output %s: Elasticsearch has no index template %s: "
		    "documents for %s will not go through the integration's "
		    "ingest pipeline (install the Elastic %s integration in "
		    "Kibana, or set index)", e->base.name, t->tpl, t->index,
		    strstr(t->tpl, "sysmon_linux") != NULL ?
		    "\"Sysmon for Linux\"" : "\"Windows\"");
	} else {
		describe(r, why, sizeof(why));
		log_info("output %s: cannot check the index template %s (%s): "
		    "the credentials may lack the monitor privilege, which "
		    "sending does not need", e->base.name, t->tpl, why);
	}
}

static void
on_done(void *arg, const struct http_response *r)
{
	struct es *e = arg;
	int64_t now = mono_now_ms();
	enum req req = e->req;

	e->req = REQ_NONE;
	if (req == REQ_SEND)
		on_send_done(e, r, now);
	else if (req == REQ_INFO)
		on_info_done(e, r);
	else if (req == REQ_TEMPLATE)
		on_template_done(e, r);
	advance(e);
	transport_tick(&e->base, now);
}

/* Note the data streams of batch b, to check their templates once. */
static void
note_targets(struct es *e, const struct transport_batch *b)
{
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

static void
on_prio_done(void *arg, const struct http_response *r)
{
	struct es *e = arg;
	int64_t now = mono_now_ms();
	enum prio_result res = PRIO_REFUSED;
	char why[700];

	describe(r, why, sizeof(why));
	if (r->status == 200) {
		long status;

		res = es_prio_answer(r->body, r->body_len, &status);
		if (res == PRIO_REFUSED)
			snprintf(why, sizeof(why), "item status %ld", status);
	} else if (r->status == 0 || r->status == 408 || r->status == 429 ||
	    r->status >= 500 || r->status == 401) {
		res = r->status == 0 ? PRIO_UNREACHABLE : PRIO_RETRY;
	}
	transport_prio_finish(&e->base, now, res, why);
	transport_tick(&e->base, now);
}

/* The priority lane: its own connection, never behind a batch. */
static void
prio_tick(struct es *e, int64_t now)
{
	const char *doc, *hdrs[4];
	size_t len, n = 0;
	bool alert;

	if (!transport_prio_pending(&e->base))
		return;
	if (e->prio_http == NULL && http_client_new(e->loop, e->base.name,
	    &e->o.tls, e->o.timeout_ms, &e->prio_http) != 0)
		return;
	if (http_busy(e->prio_http) ||
	    !transport_prio_take(&e->base, now, &doc, &len, &alert))
		return;
	if (e->auth != NULL)
		hdrs[n++] = e->auth;
	hdrs[n++] = "Content-Type: application/x-ndjson";
	hdrs[n] = NULL;
	snprintf(e->prio_url, sizeof(e->prio_url), "%s%s", e->urls[e->cur],
	    e->bulk_path);
	if (http_start(e->prio_http, "POST", e->prio_url, hdrs, doc, len,
	    on_prio_done, e) != 0)
		transport_prio_finish(&e->base, now, PRIO_RETRY,
		    "cannot start a request");
}

static int64_t
es_tick(struct transport_output *t, int64_t now)
{
	struct es *e = (struct es *)t;
	int64_t wake = now + 1000;
	char path[300];
	struct slot *s;
	size_t idx = 0;
	int64_t gate;
	int rc;

	prio_tick(e, now);
	if (transport_prio_pending(t) && t->prio.retry_at > now &&
	    t->prio.retry_at < wake)
		wake = t->prio.retry_at;
	if (http_busy(e->http))
		return wake;
	s = next_to_send(e, &idx);
	if (now < e->retry_at)
		return e->retry_at < wake ? e->retry_at : wake;
	if (s != NULL && (gate = transport_prio_gate(t, now)) > now)
		return gate < wake ? gate : wake;
	if (e->need_info) {
		if ((rc = start_get(e, "/", REQ_INFO)) != 0)
			e->need_info = false;
		else
			return wake;
	}
	for (size_t k = 0; k < e->ntargets; k++) {
		if (e->targets[k].state != TPL_UNCHECKED)
			continue;
		snprintf(path, sizeof(path), "/_index_template/%s",
		    e->targets[k].tpl);
		e->tpl_req = k;
		e->targets[k].state = TPL_CHECKING;
		if (start_get(e, path, REQ_TEMPLATE) == 0)
			return wake;
		e->targets[k].state = TPL_DONE;
	}
	if (s != NULL) {
		if ((rc = start_send(e, idx)) != 0) {
			log_warnx("output %s: cannot start a request: %s",
			    e->base.name, strerror(-rc));
			e->retry_at = now + 1000;
		}
	}
	return wake;
}

static bool
es_ready(const struct transport_output *t, int64_t now)
{
	(void)now;
	return ((const struct es *)t)->count < MAX_SLOTS;
}

static int
es_submit(struct transport_output *t, struct transport_batch *b,
    int64_t now)
{
	struct es *e = (struct es *)t;
	struct slot *s;

	/* On failure b stays the caller's, its records to be sent again. */
	if (e->count == MAX_SLOTS)
		return -ENOBUFS;
	if (b->n == 0) {
		transport_batch_recycle(t, b);
		return 0;
	}
	s = &e->q[(e->head + e->count) % MAX_SLOTS];
	memset(s, 0, sizeof(*s));
	if ((s->done = calloc(b->n, 1)) == NULL)
		return -ENOMEM;
	s->b = b;
	s->end = b->n;
	e->count++;
	if (e->ntargets < MAX_TARGETS)
		note_targets(e, b);
	transport_tick(t, now);
	return 0;
}

static bool
es_idle(const struct transport_output *t)
{
	return ((const struct es *)t)->count == 0;
}

static void
es_close(struct transport_output *t)
{
	struct es *e = (struct es *)t;

	http_client_free(e->http);
	http_client_free(e->prio_http);
	while (e->count > 0) {
		slot_free(e, slot_at(e, 0));
		e->head = (e->head + 1) % MAX_SLOTS;
		e->count--;
	}
	for (size_t i = 0; i < e->nurls; i++)
		free(e->urls[i]);
	free(e->bulk_path);
	if (e->auth != NULL) {
		explicit_bzero(e->auth, strlen(e->auth));
		free(e->auth);
	}
	free(e->sent);
	free(e->body);
	free(e->gz);
	transport_base_free(&e->base);
	free(e);
}

static const struct transport_ops es_ops = {
	.ready = es_ready,
	.submit = es_submit,
	.tick = es_tick,
	.idle = es_idle,
	.close = es_close,
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
	if ((rc = transport_base_init(&e->base, &es_ops, name, &o->retry,
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
	if ((rc = http_client_new(l, name, &o->tls, o->timeout_ms,
	    &e->http)) != 0)
		goto err;
	/* A bulk answer lists every failed item with its error. */
	http_client_set_body_max(e->http, 16u << 20);
	e->loop = l;
	e->need_info = true;
	*out = &e->base;
	return 0;
err:
	es_close(&e->base);
	return rc;
}
