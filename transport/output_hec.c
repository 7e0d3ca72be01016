/*
 * output_hec.c - the Splunk HTTP Event Collector output.
 *
 * A batch is the concatenated HEC event objects the agent rendered, sent
 * as one POST /services/collector/event (gzip by default) with
 * "Authorization: Splunk <token>" and a fixed channel per output in
 * X-Splunk-Request-Channel.  Answers are read as
 * ../shared/docs/PROTOCOLS.md section 2.5 classifies HEC codes:
 *   - 200 code 0 (transport/answer.c): the batch is taken; a 200 that
 *     says anything else, or nothing readable, is retried, never
 *     delivered.  Without indexer acknowledgement it is confirmed at
 *     once; with ack = true it waits for its ackId to be reported true by
 *     POST /services/collector/ack, polled every ack_poll_interval, and is
 *     sent again after ack_timeout without it.
 *   - "invalid-event-number" N: the N events before it were indexed.  A
 *     retryable answer (503 code 9, 500 code 8...) resends from N; a
 *     permanent one (400 code 6...) dead-letters event N with the server's
 *     reason and sends the rest at once.
 *   - token refused (codes 1 to 4): permanent for the batch, dead-lettered,
 *     logged clearly once (the token itself never appears in a log).
 *   - network and TLS errors, 408, 429, 5xx: retried with backoff and full
 *     jitter, or after Retry-After when the server says.
 *   - other 4xx: permanent, dead-lettered with the reason.
 * GET /services/collector/health is asked at start and before a retry
 * after a failure, to report the server's state; it never blocks sending.
 */
#include "transport_int.h"
#include "base.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum req { REQ_HEALTH = DL_REQ_OWN };

struct hec {
	struct delivery		 d;
	struct transport_hec_opts o;
	char			*url_event, *url_ack, *url_health;
	char			*auth;		/* "Authorization: Splunk ..." */
	char			 chan[96];	/* the channel header */
	bool			 need_health;
	bool			 health_logged;
	int64_t			 last_health_log;
	bool			 token_logged;
	bool			 noack_logged;
	struct tbuf		 ack_body;	/* the last ack poll's */
};

static int
hec_send(struct delivery *d, const struct transport_batch *b)
{
	struct hec *h = (struct hec *)d;
	const char *hdrs[3] = { h->auth, h->chan,
	    "Content-Type: application/json" };

	return delivery_post(d, b, h->url_event, NULL, h->o.http.gzip, hdrs, 3);
}

static int
hec_ack_poll(struct delivery *d)
{
	struct hec *h = (struct hec *)d;
	const char *hdrs[4] = { h->auth, h->chan,
	    "Content-Type: application/json", NULL };

	/* The body lives until the next poll: curl sends it from here. */
	h->ack_body.len = 0;
	tbuf_add(&h->ack_body, "{\"acks\":[", 9);
	for (size_t i = 0; i < d->nacks; i++)
		tbuf_printf(&h->ack_body, "%s%" PRId64, i > 0 ? "," : "",
		    d->acks[i].id);
	tbuf_add(&h->ack_body, "]}", 2);
	if (h->ack_body.oom) {
		free(h->ack_body.s);
		memset(&h->ack_body, 0, sizeof(h->ack_body));
		return -ENOMEM;
	}
	return delivery_http(d, DL_REQ_ACK, "POST", h->url_ack, hdrs,
	    h->ack_body.s, h->ack_body.len);
}

/* Splunk reports ackId id indexed. */
static void
on_acked(void *arg, int64_t id)
{
	delivery_acked(arg, id);
}

static void
hec_ack_answer(struct delivery *d, const struct http_response *r)
{
	(void)hec_acks_parse(r->body, r->body_len, on_acked, d);
}

/* Every event taken: delivered, or awaiting its acknowledgement. */
static void
on_taken(struct hec *h, struct dl_verdict *v, int64_t ack_id)
{
	enum dl_outcome o = DL_DELIVERED;

	if (h->o.ack && ack_id >= 0) {
		v->ack_id = ack_id;
		o = DL_ACCEPTED;
	} else if (h->o.ack && !h->noack_logged) {
		log_warnx("output %s: ack = true but the server gave no "
		    "ackId (the token does not use indexer acknowledgement): "
		    "counting a 200 as delivered", h->d.base.name);
		h->noack_logged = true;
	}
	for (size_t k = 0; k < h->d.nsent; k++)
		delivery_mark(&h->d, v, k, o);
	v->cls = DL_ANSWERED;
}

/*
 * "invalid-event-number" N: the N events before it were indexed.  A
 * retryable answer resends from N; a permanent one dead-letters event N
 * and sends the rest at once.
 */
static void
on_partial(struct hec *h, const struct http_response *r, int64_t now,
    struct dl_verdict *v, const struct hec_answer *a)
{
	size_t inv = (size_t)a->inv, n = h->d.nsent;

	for (size_t k = 0; k < inv && k < n; k++)
		delivery_mark(&h->d, v, k, DL_DELIVERED);
	if (hec_code_retryable(r->status, a->code)) {
		v->cls = DL_TRY_AGAIN;
		return;
	}
	if (inv < n) {
		transport_failed(&h->d.base, now, true, "event %zu of a batch "
		    "refused (%s): dead-lettered, sending the rest", inv,
		    v->why);
		delivery_mark(&h->d, v, inv, DL_DEAD_LETTER);
	}
	h->d.retry_at = now;
	v->cls = DL_HANDLED;
}

/* Token refused: permanent for the batch, said once (the state still
 * says what is wrong), never with the token. */
static void
on_token_refused(struct hec *h, int64_t now, struct dl_verdict *v)
{
	struct transport_output *t = &h->d.base;

	if (!h->token_logged)
		log_errorx("output %s: the HEC token was refused (%s): check "
		    "`token` of [output:%s]; records go to the dead-letter "
		    "file %s until it is fixed", t->name, v->why, t->name,
		    t->dlq_path != NULL ? t->dlq_path : "(none)");
	h->token_logged = true;
	snprintf(t->st.last_error, sizeof(t->st.last_error),
	    "token refused: %.200s", v->why);
	if (t->st.failing_since_ms == 0)
		t->st.failing_since_ms = now;
	v->cls = DL_REFUSED;
	v->quiet = true;
}

/* Read "code", "text", "invalid-event-number" and "ackId" (answer.c). */
static void
hec_answer(struct delivery *d, const struct http_response *r, int64_t now,
    struct dl_verdict *v)
{
	struct hec *h = (struct hec *)d;
	struct hec_answer a;

	if (r->status == 0)
		return;		/* no answer: again, in the error's words */
	hec_answer_parse(r->body, r->body_len, &a);
	if (hec_answer_ok(r->status, &a)) {
		on_taken(h, v, a.ack_id);
		return;
	}
	snprintf(v->whybuf, sizeof(v->whybuf), "HTTP %ld, HEC code %ld: %s",
	    r->status, a.code, a.text[0] != '\0' ? a.text : "(no text)");
	v->dl.status = r->status;
	v->dl.code = a.code;
	v->dl.type = "";
	v->dl.why = v->why;
	if (a.inv >= 0)
		on_partial(h, r, now, v, &a);
	else if (r->status == 413 && d->nsent > 1)
		v->cls = DL_TOO_LARGE;
	else if ((a.code >= 1 && a.code <= 4) || r->status == 401 ||
	    r->status == 403)
		on_token_refused(h, now, v);
	else	/* a 200 that is not a success is sent again */
		v->cls = hec_code_retryable(r->status, a.code) ?
		    DL_TRY_AGAIN : DL_REFUSED;
}

/* Ask the server's health again before the retry, to report it. */
static bool
hec_retrying(struct delivery *d, int64_t now, const struct http_response *r,
    const char *what, bool failover)
{
	(void)now;
	(void)r;
	(void)what;
	(void)failover;
	((struct hec *)d)->need_health = true;
	return false;
}

static bool
hec_prepare(struct delivery *d, int64_t now, bool pending, int64_t *wake)
{
	struct hec *h = (struct hec *)d;
	const char *hdrs[3] = { h->auth, h->chan, NULL };
	int rc;

	(void)now;
	(void)wake;
	if (!h->need_health || (!pending && h->health_logged))
		return false;
	if ((rc = delivery_http(d, REQ_HEALTH, "GET", h->url_health, hdrs,
	    NULL, 0)) != 0)
		log_warnx("output %s: cannot start a request: %s",
		    d->base.name, strerror(-rc));
	return true;
}

static void
hec_done(struct delivery *d, int req, const struct http_response *r,
    int64_t now)
{
	struct hec *h = (struct hec *)d;
	struct hec_answer a;

	if (req != REQ_HEALTH)
		return;
	h->need_health = false;
	hec_answer_parse(r->body, r->body_len, &a);
	if (r->status == 200) {
		if (!h->health_logged)
			log_info("output %s: HEC at %s: %s (code %ld)",
			    d->base.name, h->o.url, a.text[0] ? a.text :
			    "healthy", a.code);
	} else if (!h->health_logged || now - h->last_health_log >= 60000) {
		/* At start always; then as rarely as send failures. */
		if (r->status == 0)
			log_warnx("output %s: HEC health check: %s",
			    d->base.name, r->error);
		else
			log_warnx("output %s: HEC health check: HTTP %ld, "
			    "code %ld: %s", d->base.name, r->status, a.code,
			    a.text);
		h->last_health_log = now;
	}
	h->health_logged = true;
}

static enum prio_result
hec_prio_answer(struct delivery *d, const struct http_response *r,
    int64_t now, char *why, size_t whylen)
{
	struct hec_answer a;

	(void)d;
	(void)now;
	hec_answer_parse(r->body, r->body_len, &a);
	if (hec_answer_ok(r->status, &a))
		return PRIO_OK;
	snprintf(why, whylen, "%s", r->status == 0 ? r->error : a.text);
	if (r->status == 0)
		return PRIO_UNREACHABLE;
	return hec_code_retryable(r->status, a.code) ? PRIO_RETRY :
	    PRIO_REFUSED;
}

static int
hec_prio_send(struct delivery *d, const char *doc, size_t len)
{
	struct hec *h = (struct hec *)d;
	const char *hdrs[4] = { h->auth, h->chan,
	    "Content-Type: application/json", NULL };

	return delivery_prio_http(d, h->url_event, hdrs, doc, len);
}

static void
hec_free(struct delivery *d)
{
	struct hec *h = (struct hec *)d;

	free(h->url_event);
	free(h->url_ack);
	free(h->url_health);
	transport_free_secret(h->auth);
	free(h->ack_body.s);
}

static const struct delivery_ops hec_ops = {
	.unit = "events",
	.refused = "refused for good",
	.not_taken = "not taken",
	.too_large = "lower batch_max_bytes",
	.one_too_large = { 413, 0, "", "one event is larger than the "
	    "server's max_content_length" },
	.send = hec_send,
	.answer = hec_answer,
	.retrying = hec_retrying,
	.prepare = hec_prepare,
	.done = hec_done,
	.ack_poll = hec_ack_poll,
	.ack_answer = hec_ack_answer,
	.prio_send = hec_prio_send,
	.prio_answer = hec_prio_answer,
	.free = hec_free,
};

/* A channel id stable for this host and output: UUID-shaped FNV-1a. */
static void
make_channel(struct hec *h, char *out, size_t len)
{
	char host[256] = "";
	uint64_t a = 1469598103934665603ULL, b = 1099511628211ULL * 7;
	const char *parts[3] = { host, h->d.base.name, h->o.url };

	(void)host_name(host, sizeof(host) - 1);
	for (int k = 0; k < 3; k++)
		for (const unsigned char *p = (const unsigned char *)parts[k];
		    *p != '\0'; p++) {
			a = (a ^ *p) * 1099511628211ULL;
			b = (b ^ (*p + 31u)) * 1099511628211ULL;
		}
	snprintf(out, len, "%08x-%04x-4%03x-%04x-%012llx",
	    (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
	    (unsigned)a & 0xfff, (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
	    (unsigned long long)(b & 0xffffffffffffULL));
}

int
transport_hec_open(struct transport_loop *l, const char *name,
    const struct transport_hec_opts *o, const char *deadletter_dir,
    struct transport_output **out)
{
	struct hec *h;
	char base[1024], chan[64];
	size_t blen;
	int rc;

	*out = NULL;
	if (o->url == NULL || o->token == NULL)
		return -EINVAL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	if ((rc = delivery_init(&h->d, &hec_ops, l, name, &o->http,
	    deadletter_dir)) != 0)
		goto err;
	/* With acknowledgement, batches wait for it: take more of them. */
	h->d.slots = DL_SLOTS_MAX;
	h->d.ready_slots = o->ack ? DL_SLOTS_MAX : 2;
	h->d.ack = o->ack;
	h->d.ack_timeout_ms = o->ack_timeout_ms;
	h->d.ack_poll_ms = o->ack_poll_ms;
	h->o = *o;
	h->o.token = NULL;	/* kept only inside the header */
	snprintf(base, sizeof(base), "%s", o->url);
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		base[--blen] = '\0';
	make_channel(h, chan, sizeof(chan));
	snprintf(h->chan, sizeof(h->chan), "X-Splunk-Request-Channel: %s", chan);
	if (asprintf(&h->url_event, "%s/services/collector/event", base) < 0 ||
	    asprintf(&h->url_ack, "%s/services/collector/ack?channel=%s", base,
	    chan) < 0 ||
	    asprintf(&h->url_health, "%s/services/collector/health", base) < 0 ||
	    asprintf(&h->auth, "Authorization: Splunk %s", o->token) < 0) {
		rc = -ENOMEM;
		goto err;
	}
	h->need_health = true;
	*out = &h->d.base;
	return 0;
err:
	delivery_free(&h->d);
	return rc;
}
