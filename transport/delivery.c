/*
 * delivery.c - the delivery invariant, once for every HTTPS output.
 *
 * An output takes a few batches (slots) from the agent.  Each record of a
 * slot is pending (to send), awaiting (taken, its acknowledgement not
 * come yet) or done (delivered, or dead-lettered and counted).  A request
 * carries pending records of one slot, at most `limit` of them (a 413
 * halves it); its answer marks each record (the output's protocol reads
 * it), and the records it did not take stay pending and go again after a
 * backoff.  base.confirmed moves over the done records at the head of the
 * queue only: it never passes a record the destination did not confirm,
 * and it never moves back.
 */
#include "transport_int.h"
#include "base.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_PENDING, ST_AWAIT, ST_DONE };

static struct dl_slot *
slot_at(struct delivery *d, size_t i)
{
	return &d->q[(d->head + i) % d->slots];
}

static void
slot_free(struct delivery *d, struct dl_slot *s)
{
	transport_batch_recycle(&d->base, s->b);
	free(s->state);		/* tries lives in the same block */
	free(s->ack);
	memset(s, 0, sizeof(*s));
}

static void
set_state(struct dl_slot *s, size_t i, unsigned char st)
{
	if (s->state[i] == ST_PENDING)
		s->npending--;
	if (st == ST_PENDING)
		s->npending++;
	s->state[i] = (unsigned char)st;
}

static int64_t
earlier(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

void
delivery_span(const struct transport_batch *b, size_t i, size_t *start,
    size_t *len)
{
	*start = i > 0 ? b->ends[i - 1] : 0;
	*len = b->ends[i] - *start;
}

enum dl_class
delivery_classify(long status)
{
	if (status >= 200 && status < 300)
		return DL_ANSWERED;
	if (status == 0 || status == 408 || status == 429 || status >= 500)
		return DL_TRY_AGAIN;
	if (status == 401 || status == 403)
		return DL_AUTH;
	if (status == 413)
		return DL_TOO_LARGE;
	return DL_REFUSED;
}

/* Pop finished batches and move `confirmed` as far as it may go. */
static void
advance(struct delivery *d)
{
	while (d->count > 0) {
		struct dl_slot *s = slot_at(d, 0);

		while (s->from < s->b->n && s->state[s->from] == ST_DONE)
			s->from++;
		if (s->from > 0 && s->b->seqs[s->from - 1] > d->base.confirmed)
			d->base.confirmed = s->b->seqs[s->from - 1];
		if (s->from < s->b->n)
			break;
		slot_free(d, s);
		d->head = (d->head + 1) % d->slots;
		d->count--;
	}
}

/* The slot to send next: the first one with pending records. */
static bool
next_to_send(struct delivery *d, size_t *idx)
{
	for (size_t i = 0; i < d->count; i++)
		if (slot_at(d, i)->npending > 0) {
			*idx = i;
			return true;
		}
	return false;
}

/* The first pending records of slot idx (at most its limit), in one
 * request. */
static int
start_send(struct delivery *d, size_t idx)
{
	size_t at = (d->head + idx) % d->slots;
	struct dl_slot *s = &d->q[at];
	size_t lim = s->limit, max = d->ops->request_max;
	int rc;

	if (max != 0 && (lim == 0 || lim > max))
		lim = max;
	if ((rc = mem_grow(&d->sent, &d->sentcap, s->b->n,
	    sizeof(*d->sent))) != 0)
		return rc;
	d->nsent = 0;
	for (size_t i = s->from; i < s->b->n && (lim == 0 || d->nsent < lim);
	    i++)
		if (s->state[i] == ST_PENDING)
			d->sent[d->nsent++] = i;
	if (d->nsent == 0)
		return -EINVAL;
	d->req_slot = at;
	if ((rc = d->ops->send(d, s->b)) != 0)
		return rc;
	d->req = DL_REQ_SEND;
	d->base.st.requests++;
	return 0;
}

static int
body_of(struct delivery *d, const struct transport_batch *b,
    const char *pre, const char *sep, const char *suf, bool gzip,
    const char **body, size_t *len)
{
	size_t st, l, need, npre = strlen(pre), nsep = strlen(sep),
	    nsuf = strlen(suf);
	bool slice = npre + nsep + nsuf == 0;
	int rc;

	for (size_t k = 1; k < d->nsent && slice; k++)
		slice = d->sent[k] == d->sent[0] + k;
	if (slice) {
		delivery_span(b, d->sent[0], &st, &l);
		*body = b->body + st;
		*len = b->ends[d->sent[d->nsent - 1]] - st;
	} else {
		need = npre + nsuf + d->nsent * nsep;
		for (size_t k = 0; k < d->nsent; k++) {
			delivery_span(b, d->sent[k], &st, &l);
			need += l;
		}
		if ((rc = mem_grow(&d->body, &d->bodycap, need, 1)) != 0)
			return rc;
		memcpy(d->body, pre, npre);
		d->bodylen = npre;
		for (size_t k = 0; k < d->nsent; k++) {
			delivery_span(b, d->sent[k], &st, &l);
			if (k > 0) {
				memcpy(d->body + d->bodylen, sep, nsep);
				d->bodylen += nsep;
			}
			memcpy(d->body + d->bodylen, b->body + st, l);
			d->bodylen += l;
		}
		memcpy(d->body + d->bodylen, suf, nsuf);
		d->bodylen += nsuf;
		*body = d->body;
		*len = d->bodylen;
	}
	if (!gzip)
		return 0;
	if ((rc = gzip_buf(*body, *len, &d->gz, &d->gzlen, &d->gzcap)) != 0)
		return rc;
	*body = d->gz;
	*len = d->gzlen;
	return 0;
}

int
delivery_post(struct delivery *d, const struct transport_batch *b,
    const char *url, const char *const *frame, bool gzip,
    const char *const *headers, size_t nheaders)
{
	static const char *const none[3] = { "", "", "" };
	const char *body, *hdrs[8];
	size_t len, n = 0;
	int rc;

	if (frame == NULL)
		frame = none;
	if ((rc = body_of(d, b, frame[0], frame[1], frame[2], gzip, &body,
	    &len)) != 0)
		return rc;
	if (gzip)
		hdrs[n++] = "Content-Encoding: gzip";
	for (size_t i = 0; i < nheaders && n < 7; i++)
		if (headers[i] != NULL)
			hdrs[n++] = headers[i];
	hdrs[n] = NULL;
	return delivery_http(d, DL_REQ_SEND, "POST", url, hdrs, body, len);
}

/* ---- what an answer says of each record ---------------------------------- */

static void
dead_letter(struct delivery *d, const struct transport_batch *b, size_t i,
    const struct dl_reason *why)
{
	size_t st, l;

	if (d->ops->dead_letter != NULL) {
		d->ops->dead_letter(d, b, i, why);
		return;
	}
	delivery_span(b, i, &st, &l);
	transport_dead_letter(&d->base, b->seqs[i], why->why, why->status,
	    why->code, b->body + st, l);
}

/* Note that ackId id stands for one more record.  false: no memory. */
static bool
ack_note(struct delivery *d, int64_t id, int64_t now)
{
	struct dl_ack *a = d->nacks > 0 ? &d->acks[d->nacks - 1] : NULL;

	if (a == NULL || a->id != id || a->sent_ms != now) {
		if (mem_grow(&d->acks, &d->ackcap, d->nacks + 1,
		    sizeof(*d->acks)) != 0)
			return false;
		a = &d->acks[d->nacks++];
		a->id = id;
		a->sent_ms = now;
		a->n = 0;
	}
	a->n++;
	if (d->next_ack_poll == 0 || d->next_ack_poll > now + d->ack_poll_ms)
		d->next_ack_poll = now + d->ack_poll_ms;
	return true;
}

void
delivery_mark(struct delivery *d, struct dl_verdict *v, size_t k,
    enum dl_outcome o)
{
	struct dl_slot *s = &d->q[d->req_slot];
	size_t i = d->sent[k];

	if (s->state[i] != ST_PENDING)
		return;		/* marked already */
	switch (o) {
	case DL_RETRY:
		break;
	case DL_ACCEPTED:
		/* Without room to remember the ackId: not known taken. */
		if (s->ack == NULL || !ack_note(d, v->ack_id, v->now))
			break;
		s->ack[i] = v->ack_id;
		set_state(s, i, ST_AWAIT);
		break;
	case DL_DUPLICATE:
		v->ndup++;
		d->base.st.duplicates++;
		/* FALLTHROUGH */
	case DL_DELIVERED:
		d->base.st.delivered++;
		set_state(s, i, ST_DONE);
		break;
	case DL_DEAD_LETTER:
		dead_letter(d, s->b, i, &v->dl);
		v->nrefused++;
		set_state(s, i, ST_DONE);
		break;
	}
}

unsigned char *
delivery_tries(struct delivery *d, size_t k)
{
	return &d->q[d->req_slot].tries[d->sent[k]];
}

/* ---- indexer acknowledgement --------------------------------------------- */

/* The records awaiting ackId id become st; forget the id.  How many? */
static size_t
ack_settle(struct delivery *d, int64_t id, unsigned char st)
{
	size_t n = 0, a = 0;

	for (size_t k = 0; k < d->count; k++) {
		struct dl_slot *s = slot_at(d, k);
		for (size_t i = s->from; i < s->b->n; i++)
			if (s->state[i] == ST_AWAIT && s->ack[i] == id) {
				set_state(s, i, st);
				n++;
			}
	}
	for (size_t k = 0; k < d->nacks; k++)
		if (d->acks[k].id != id)
			d->acks[a++] = d->acks[k];
	d->nacks = a;
	return n;
}

void
delivery_acked(struct delivery *d, int64_t id)
{
	d->base.st.delivered += ack_settle(d, id, ST_DONE);
}

/* Records that waited too long for their acknowledgement: send again. */
static int64_t
ack_expire(struct delivery *d, int64_t now, int64_t wake)
{
	for (size_t k = 0; k < d->nacks;) {
		struct dl_ack a = d->acks[k];

		if (now - a.sent_ms < d->ack_timeout_ms) {
			wake = earlier(wake, a.sent_ms + d->ack_timeout_ms);
			k++;
			continue;
		}
		log_warnx("output %s: no acknowledgement for ackId %" PRId64
		    " within %.0f s: sending its %zu %s again", d->base.name,
		    a.id, (double)d->ack_timeout_ms / 1000.0,
		    ack_settle(d, a.id, ST_PENDING), d->ops->unit);
		d->base.st.retries++;
	}
	return wake;
}

/* Poll acknowledgements when due. */
static int64_t
ack_due(struct delivery *d, int64_t now, int64_t wake)
{
	int rc;

	if (d->nacks == 0 || d->ops->ack_poll == NULL)
		return wake;
	if (now < d->next_ack_poll)
		return earlier(wake, d->next_ack_poll);
	if ((rc = d->ops->ack_poll(d)) != 0)
		log_warnx("output %s: cannot poll acknowledgements: %s",
		    d->base.name, strerror(-rc));
	return wake;
}

static void
ack_done(struct delivery *d, const struct http_response *r, int64_t now)
{
	d->next_ack_poll = now + d->ack_poll_ms;
	if (r->status != 200) {
		transport_failed(&d->base, now, false, "acknowledgement poll "
		    "failed: %s", r->status == 0 ? r->error : "HTTP error");
		return;
	}
	d->ops->ack_answer(d, r);
}

/* ---- what an answer says of the request ---------------------------------- */

void
delivery_retry_later(struct delivery *d, int64_t now,
    const struct http_response *r, const char *what, int64_t at_least,
    bool failover)
{
	const char *how;
	int64_t wait;

	d->base.st.retries++;
	if (d->ops->retrying != NULL &&
	    d->ops->retrying(d, now, r, what, failover)) {
		d->retry_at = now;
		return;
	}
	wait = transport_retry_wait(&d->base, r, &how);
	if (wait < at_least)
		wait = at_least;
	d->retry_at = now + wait;
	transport_failed(&d->base, now, false, "%s; retrying in %.1f s%s",
	    what, (double)wait / 1000.0, how);
}

void
delivery_describe(const struct delivery *d, const struct http_response *r,
    char *out, size_t outlen)
{
	if (r->status == 0)
		snprintf(out, outlen, "%s", r->error);
	else if (d->ops->describe != NULL)
		d->ops->describe(r->status, r->body, r->body_len, out, outlen);
	else
		snprintf(out, outlen, "HTTP %ld", r->status);
}

/* The output marked each record: send those it did not take again. */
static void
answered(struct delivery *d, const struct http_response *r, int64_t now,
    struct dl_verdict *v)
{
	const struct dl_slot *s = &d->q[d->req_slot];
	size_t nretry = 0;
	char what[200];

	for (size_t k = 0; k < d->nsent; k++)
		if (s->state[d->sent[k]] == ST_PENDING)
			nretry++;
	if (v->nrefused > 0)
		transport_failed(&d->base, now, true, "%zu of %zu %s %s "
		    "(first: %s): written to the dead-letter file %s",
		    v->nrefused, d->nsent, d->ops->unit, d->ops->refused,
		    v->first, d->base.dlq_path != NULL ? d->base.dlq_path :
		    "(none)");
	if (v->ndup > 0)
		log_debug("output %s: %zu %s were there already: a resend, "
		    "counted as delivered", d->base.name, v->ndup,
		    d->ops->unit);
	if (nretry > 0) {
		snprintf(what, sizeof(what), "%zu of %zu %s %s; sending only "
		    "those again", nretry, d->nsent, d->ops->unit,
		    d->ops->not_taken);
		delivery_retry_later(d, now, r, what, 0, false);
		return;
	}
	transport_recovered(&d->base);
	d->retry_at = now;
}

/* 413: halve the request until it fits; the slot keeps that size (the
 * server's limit does not move).  One record alone is refused. */
static void
too_large(struct delivery *d, int64_t now, struct dl_verdict *v)
{
	struct dl_slot *s = &d->q[d->req_slot];

	if (d->nsent > 1) {
		s->limit = d->nsent / 2;
		transport_failed(&d->base, now, false, "%s: request too large, "
		    "sending the batch in halves of %zu %s (%s)", v->why,
		    s->limit, d->ops->unit, d->ops->too_large);
	} else {
		v->dl = d->ops->one_too_large;
		delivery_mark(d, v, 0, DL_DEAD_LETTER);
		transport_failed(&d->base, now, true, "%s (HTTP 413): "
		    "dead-lettered", v->dl.why);
	}
	d->retry_at = now;
}

static void
refuse_all(struct delivery *d, const struct http_response *r, int64_t now,
    struct dl_verdict *v)
{
	if (v->dl.why == NULL) {
		v->dl.status = r->status;
		v->dl.type = "request_refused";
		v->dl.why = v->why;
	}
	if (!v->quiet)
		transport_failed(&d->base, now, true, "%zu %s refused (%s): "
		    "dead-lettered", d->nsent, d->ops->unit, v->why);
	for (size_t k = 0; k < d->nsent; k++)
		delivery_mark(d, v, k, DL_DEAD_LETTER);
	d->retry_at = now;
}

static void
send_done(struct delivery *d, const struct http_response *r, int64_t now)
{
	struct dl_verdict v;

	memset(&v, 0, sizeof(v));
	v.cls = delivery_classify(r->status);
	v.failover = v.cls == DL_TRY_AGAIN;
	v.now = now;
	delivery_describe(d, r, v.whybuf, sizeof(v.whybuf));
	v.why = v.whybuf;
	d->ops->answer(d, r, now, &v);
	switch (v.cls) {
	case DL_ANSWERED:
		answered(d, r, now, &v);
		break;
	case DL_TRY_AGAIN:
	case DL_AUTH:
		delivery_retry_later(d, now, r, v.why, v.at_least,
		    v.cls == DL_TRY_AGAIN && v.failover);
		break;
	case DL_TOO_LARGE:
		too_large(d, now, &v);
		break;
	case DL_REFUSED:
		refuse_all(d, r, now, &v);
		break;
	case DL_HANDLED:
		break;
	}
}

void
delivery_done(void *arg, const struct http_response *r)
{
	struct delivery *d = arg;
	int64_t now = mono_now_ms();
	int req = d->req;

	d->req = DL_REQ_NONE;
	if (req == DL_REQ_SEND)
		send_done(d, r, now);
	else if (req == DL_REQ_ACK)
		ack_done(d, r, now);
	else if (d->ops->done != NULL)
		d->ops->done(d, req, r, now);
	advance(d);
	/* Keep the connection busy: start what is due right away. */
	transport_tick(&d->base, now);
}

int
delivery_http(struct delivery *d, int req, const char *method,
    const char *url, const char *const *headers, const void *body,
    size_t len)
{
	int rc;

	if ((rc = http_start(d->http, method, url, headers, body, len,
	    delivery_done, d)) != 0)
		return rc;
	d->req = req;
	return 0;
}

/* ---- the priority lane: its own connection, never behind a batch --------- */

enum prio_result
delivery_prio_status(long status)
{
	if (status == 0)
		return PRIO_UNREACHABLE;
	if (status == 408 || status == 429 || status >= 500)
		return PRIO_RETRY;
	return PRIO_REFUSED;
}

static void
prio_done(void *arg, const struct http_response *r)
{
	struct delivery *d = arg;
	int64_t now = mono_now_ms();
	enum prio_result res;
	char why[700];

	delivery_describe(d, r, why, sizeof(why));
	res = d->ops->prio_answer(d, r, now, why, sizeof(why));
	transport_prio_finish(&d->base, now, res, why);
	transport_tick(&d->base, now);
}

int
delivery_prio_http(struct delivery *d, const char *url,
    const char *const *headers, const void *body, size_t len)
{
	return http_start(d->prio_http, "POST", url, headers, body, len,
	    prio_done, d);
}

static void
prio_tick(struct delivery *d, int64_t now)
{
	const char *doc;
	size_t len;
	bool alert;

	if (d->ops->prio_send == NULL || !transport_prio_pending(&d->base) ||
	    (d->ops->prio_may != NULL && !d->ops->prio_may(d, now)))
		return;
	if (d->prio_http == NULL && (d->loop == NULL ||
	    http_client_new(d->loop, d->base.name, &d->o.tls, d->o.timeout_ms,
	    &d->prio_http) != 0))
		return;
	if (http_busy(d->prio_http) ||
	    !transport_prio_take(&d->base, now, &doc, &len, &alert))
		return;
	if (d->ops->prio_send(d, doc, len) != 0)
		transport_prio_finish(&d->base, now, PRIO_RETRY,
		    "cannot start a request");
}

/* ---- the output's verbs -------------------------------------------------- */

static int64_t
dl_tick(struct transport_output *t, int64_t now)
{
	struct delivery *d = (struct delivery *)t;
	int64_t wake = now + 1000, at;
	size_t idx = 0;
	bool pending;
	int rc;

	wake = ack_expire(d, now, wake);
	prio_tick(d, now);
	if (transport_prio_pending(t) && t->prio.retry_at > now)
		wake = earlier(wake, t->prio.retry_at);
	if (d->req != DL_REQ_NONE)
		return wake;
	pending = next_to_send(d, &idx);
	if (now < d->retry_at)
		return ack_due(d, now, earlier(wake, d->retry_at));
	if (d->ops->prepare != NULL && d->ops->prepare(d, now, pending, &wake))
		return wake;
	if (d->ops->pace != NULL && (pending || transport_prio_pending(t)) &&
	    (at = d->ops->pace(d, now)) > now)
		return earlier(wake, at);
	if (!pending)
		return ack_due(d, now, wake);
	/* The heartbeat probes a destination that was down. */
	if ((at = transport_prio_gate(t, now)) > now)
		return earlier(wake, at);
	if ((rc = start_send(d, idx)) != 0) {
		log_warnx("output %s: cannot start a request: %s", d->base.name,
		    strerror(-rc));
		d->retry_at = now + 1000;
	}
	return wake;
}

static bool
dl_ready(const struct transport_output *t, int64_t now)
{
	const struct delivery *d = (const struct delivery *)t;

	(void)now;
	return d->count < d->ready_slots;
}

static int
dl_submit(struct transport_output *t, struct transport_batch *b,
    int64_t now)
{
	struct delivery *d = (struct delivery *)t;
	struct dl_slot *s;
	unsigned char *st;

	/* On failure b stays the caller's, its records to be sent again. */
	if (d->count == d->slots)
		return -ENOBUFS;
	if (b->n == 0) {
		transport_batch_recycle(t, b);
		return 0;
	}
	if (b->n > SIZE_MAX / 2 || (st = calloc(2, b->n)) == NULL)
		return -ENOMEM;
	s = &d->q[(d->head + d->count) % d->slots];
	memset(s, 0, sizeof(*s));
	if (d->ack && (s->ack = calloc(b->n, sizeof(*s->ack))) == NULL) {
		free(st);
		return -ENOMEM;
	}
	s->state = st;
	s->tries = st + b->n;
	s->b = b;
	s->npending = b->n;
	d->count++;
	if (d->ops->submitted != NULL)
		d->ops->submitted(d, b);
	transport_tick(t, now);
	return 0;
}

static bool
dl_idle(const struct transport_output *t)
{
	return ((const struct delivery *)t)->count == 0;
}

static void
dl_close(struct transport_output *t)
{
	delivery_free((struct delivery *)t);
}

static const struct transport_ops dl_transport_ops = {
	.ready = dl_ready,
	.submit = dl_submit,
	.tick = dl_tick,
	.idle = dl_idle,
	.close = dl_close,
};

int
delivery_init(struct delivery *d, const struct delivery_ops *ops,
    struct transport_loop *l, const char *name,
    const struct transport_http *http, const char *deadletter_dir)
{
	int rc;

	d->ops = ops;
	d->loop = l;
	d->o = *http;
	d->slots = d->ready_slots = 2;
	if ((rc = transport_base_init(&d->base, &dl_transport_ops, name,
	    &http->retry, deadletter_dir)) != 0)
		return rc;
	if (l != NULL && (rc = http_client_new(l, name, &http->tls,
	    http->timeout_ms, &d->http)) != 0)
		return rc;
	return 0;
}

void
delivery_free(struct delivery *d)
{
	if (d == NULL)
		return;
	http_client_free(d->http);
	http_client_free(d->prio_http);
	while (d->count > 0) {
		slot_free(d, slot_at(d, 0));
		d->head = (d->head + 1) % d->slots;
		d->count--;
	}
	free(d->sent);
	free(d->body);
	free(d->gz);
	free(d->acks);
	if (d->ops != NULL && d->ops->free != NULL)
		d->ops->free(d);
	transport_base_free(&d->base);
	free(d);
}
