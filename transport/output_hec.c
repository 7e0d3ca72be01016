/*
 * output_hec.c - the Splunk HTTP Event Collector output.
 *
 * A batch is the concatenated HEC event objects the agent rendered, sent
 * as one POST /services/collector/event (gzip by default) with
 * "Authorization: Splunk <token>" and a fixed channel per output in
 * X-Splunk-Request-Channel.  Answers are read as PROTOCOLS.md section 2.5
 * classifies HEC codes:
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

#define MAX_SLOTS	16	/* batches taken but not yet confirmed */

struct slot {
	struct transport_batch	*b;
	size_t			 end;	/* records [0, end) are this slot's */
	size_t			 from;	/* first record not done with */
	size_t			 sent_from; /* first record of the request */
	char			*gz;
	size_t			 gzlen, gzcap;
	bool			 accepted; /* 200 got; waiting for its ack */
	bool			 acked;
	int64_t			 ack_id;
	int64_t			 sent_ms;
};

enum req { REQ_NONE, REQ_SEND, REQ_ACK, REQ_HEALTH };

struct hec {
	struct transport_output	 base;
	struct http_client	*http;
	struct http_client	*prio_http;	/* heartbeats, alerts */
	struct transport_loop	*loop;
	struct transport_hec_opts o;
	char			*url_event, *url_ack, *url_health;
	char			*auth;		/* "Authorization: Splunk ..." */
	char			 chan[96];	/* the channel header */
	struct slot		 q[MAX_SLOTS];
	size_t			 head, count;
	enum req		 req;
	size_t			 req_slot;	/* index in q */
	int64_t			 retry_at;
	int64_t			 next_ack_poll;
	bool			 need_health;
	bool			 health_logged;
	int64_t			 last_health_log;
	bool			 token_logged;
	bool			 noack_logged;
	char			*ack_body;
	size_t			 ack_len, ack_cap;
};

static struct slot *
slot_at(struct hec *h, size_t i)
{
	return &h->q[(h->head + i) % MAX_SLOTS];
}

static void
slot_free(struct hec *h, struct slot *s)
{
	transport_batch_recycle(&h->base, s->b);
	free(s->gz);
	memset(s, 0, sizeof(*s));
}

/* Records of s done with (delivered or dead-lettered), counting a batch
 * that waits for its acknowledgement as not done. */
static size_t
slot_done(const struct slot *s)
{
	return s->accepted && !s->acked ? s->sent_from : s->from;
}

/* Pop finished batches and move `confirmed` as far as it may go. */
static void
advance(struct hec *h)
{
	while (h->count > 0) {
		struct slot *s = slot_at(h, 0);
		size_t done = slot_done(s);

		if (done == s->end) {
			h->base.confirmed = s->b->seqs[s->end - 1];
			slot_free(h, s);
			h->head = (h->head + 1) % MAX_SLOTS;
			h->count--;
			continue;
		}
		if (done > 0 && s->b->seqs[done - 1] > h->base.confirmed)
			h->base.confirmed = s->b->seqs[done - 1];
		break;
	}
}

/* The slot to send next: the first one with records left to send. */
static struct slot *
next_to_send(struct hec *h, size_t *idx)
{
	for (size_t i = 0; i < h->count; i++) {
		struct slot *s = slot_at(h, i);
		if (!s->accepted && s->from < s->end) {
			*idx = i;
			return s;
		}
	}
	return NULL;
}

static void
dead_letter_range(struct hec *h, struct slot *s, size_t from, size_t to,
    const char *reason, long status, long code)
{
	for (size_t i = from; i < to; i++) {
		size_t start = i > 0 ? s->b->ends[i - 1] : 0;
		transport_dead_letter(&h->base, s->b->seqs[i], reason, status,
		    code, s->b->body + start, s->b->ends[i] - start);
	}
}

static bool
code_retryable(long status, long code)
{
	return hec_code_retryable(status, code);	/* answer.c */
}

static void on_done(void *arg, const struct http_response *r);

/*
 * The server found the request too large (413): move the second half of
 * the records left in slot idx into a new slot right after it.  0, or
 * -ENOBUFS when no slot is free, -ENOMEM (then it is tried again later).
 */
static int
split_slot(struct hec *h, size_t idx)
{
	struct slot *s = slot_at(h, idx), *n;
	struct transport_batch *b2;
	size_t mid = s->from + (s->end - s->from) / 2;

	if (h->count == MAX_SLOTS || (b2 = transport_batch_new(NULL)) == NULL)
		return -ENOBUFS;
	for (size_t i = mid; i < s->end; i++) {
		size_t start = i > 0 ? s->b->ends[i - 1] : 0;
		if (transport_batch_add(b2, s->b->body + start,
		    s->b->ends[i] - start, s->b->seqs[i]) != 0) {
			transport_batch_free(b2);
			return -ENOMEM;
		}
	}
	/* Shift the slots after idx one place back. */
	for (size_t i = h->count; i > idx + 1; i--)
		*slot_at(h, i) = *slot_at(h, i - 1);
	h->count++;
	s = slot_at(h, idx);
	s->end = mid;
	n = slot_at(h, idx + 1);
	memset(n, 0, sizeof(*n));
	n->b = b2;
	n->end = b2->n;
	return 0;
}

static int
start_send(struct hec *h, size_t idx, int64_t now)
{
	struct slot *s = slot_at(h, idx);
	size_t off = s->from > 0 ? s->b->ends[s->from - 1] : 0;
	const char *body = s->b->body + off;
	size_t len = s->b->ends[s->end - 1] - off;
	const char *hdrs[6];
	size_t n = 0;
	int rc;

	if (h->o.gzip) {
		if ((rc = gzip_buf(body, len, &s->gz, &s->gzlen, &s->gzcap)) !=
		    0)
			return rc;
		body = s->gz;
		len = s->gzlen;
		hdrs[n++] = "Content-Encoding: gzip";
	}
	hdrs[n++] = h->auth;
	hdrs[n++] = h->chan;
	hdrs[n++] = "Content-Type: application/json";
	hdrs[n] = NULL;
	s->sent_from = s->from;
	if ((rc = http_start(h->http, "POST", h->url_event, hdrs, body, len,
	    on_done, h)) != 0)
		return rc;
	h->req = REQ_SEND;
	h->req_slot = idx;
	h->base.st.requests++;
	(void)now;
	return 0;
}

static int
start_ack_poll(struct hec *h)
{
	const char *hdrs[4] = { h->auth, h->chan,
	    "Content-Type: application/json", NULL };
	FILE *f;
	bool first = true;
	int rc;

	free(h->ack_body);
	h->ack_body = NULL;
	if ((f = open_memstream(&h->ack_body, &h->ack_len)) == NULL)
		return -ENOMEM;
	fputs("{\"acks\":[", f);
	for (size_t i = 0; i < h->count; i++) {
		struct slot *s = slot_at(h, i);
		if (s->accepted && !s->acked) {
			fprintf(f, "%s%" PRId64, first ? "" : ",", s->ack_id);
			first = false;
		}
	}
	fputs("]}", f);
	fclose(f);
	if ((rc = http_start(h->http, "POST", h->url_ack, hdrs, h->ack_body,
	    h->ack_len, on_done, h)) != 0)
		return rc;
	h->req = REQ_ACK;
	return 0;
}

static int
start_health(struct hec *h)
{
	const char *hdrs[3] = { h->auth, h->chan, NULL };
	int rc;

	if ((rc = http_start(h->http, "GET", h->url_health, hdrs, NULL, 0,
	    on_done, h)) != 0)
		return rc;
	h->req = REQ_HEALTH;
	return 0;
}

/*
 * Read "code", "text", "invalid-event-number" and "ackId" (answer.c).
 * true when the answer says every event was taken: HTTP 200 with a JSON
 * object whose code is 0 or absent (a 200 that says anything else, or
 * nothing readable, is sent again: code_retryable()).
 */
static bool
parse_answer(const struct http_response *r, long *code, char *text,
    size_t textlen, long *inv, int64_t *ack_id)
{
	struct hec_answer a;

	hec_answer_parse(r->body, r->body_len, &a);
	*code = a.code;
	*inv = a.inv;
	*ack_id = a.ack_id;
	snprintf(text, textlen, "%s", a.text);
	return hec_answer_ok(r->status, &a);
}

static void
retry_later(struct hec *h, int64_t now, const struct http_response *r,
    const char *what)
{
	const char *how;
	int64_t wait = transport_retry_wait(&h->base, r, &how);

	h->retry_at = now + wait;
	h->need_health = true;
	h->base.st.retries++;
	transport_failed(&h->base, now, false, "%s; retrying in %.1f s%s",
	    what, (double)wait / 1000.0, how);
}

static void
on_send_done(struct hec *h, const struct http_response *r, int64_t now)
{
	struct slot *s = slot_at(h, h->req_slot);
	size_t nsent = s->end - s->from;
	long code, inv;
	int64_t ack_id;
	char text[128], why[512];

	if (r->status == 0) {
		retry_later(h, now, r, r->error);
		return;
	}
	if (parse_answer(r, &code, text, sizeof(text), &inv, &ack_id)) {
		transport_recovered(&h->base);
		if (h->o.ack && ack_id >= 0) {
			s->accepted = true;
			s->ack_id = ack_id;
			s->sent_ms = now;
			s->from = s->end;
			if (h->next_ack_poll == 0 || h->next_ack_poll > now +
			    h->o.ack_poll_ms)
				h->next_ack_poll = now + h->o.ack_poll_ms;
			return;
		}
		if (h->o.ack && !h->noack_logged) {
			log_warnx("output %s: ack = true but the server gave no "
			    "ackId (the token does not use indexer "
			    "acknowledgement): counting a 200 as delivered",
			    h->base.name);
			h->noack_logged = true;
		}
		h->base.st.delivered += nsent;
		s->from = s->end;
		return;
	}
	snprintf(why, sizeof(why), "HTTP %ld, HEC code %ld: %s", r->status,
	    code, text[0] != '\0' ? text : "(no text)");
	if (inv >= 0) {
		size_t idx = s->from + (size_t)inv;
		if (idx > s->end)
			idx = s->end;
		h->base.st.delivered += idx - s->from;
		s->from = idx;
		if (code_retryable(r->status, code)) {
			retry_later(h, now, r, why);
			return;
		}
		if (idx < s->end) {
			transport_failed(&h->base, now, true, "event %zu of a "
			    "batch refused (%s): dead-lettered, sending the "
			    "rest", (size_t)inv, why);
			dead_letter_range(h, s, idx, idx + 1, why, r->status,
			    code);
			s->from = idx + 1;
		}
		h->retry_at = now;
		return;
	}
	if (r->status == 413 && s->end - s->from > 1) {
		if (split_slot(h, h->req_slot) != 0) {
			/* No slot or no memory to split now: that is ours,
			 * not the records' fault; try again later. */
			retry_later(h, now, r, "request too large, and no room "
			    "to split it yet");
			return;
		}
		transport_failed(&h->base, now, false, "%s: request too large, "
		    "sending the batch in halves (lower batch_max_bytes)", why);
		h->retry_at = now;
		return;
	}
	if ((code >= 1 && code <= 4) || r->status == 401 || r->status == 403) {
		if (!h->token_logged)
			log_errorx("output %s: the HEC token was refused (%s): "
			    "check `token` of [output:%s]; records go to the "
			    "dead-letter file %s until it is fixed", h->base.name,
			    why, h->base.name, h->base.dlq_path != NULL ?
			    h->base.dlq_path : "(none)");
		h->token_logged = true;
		/* Logged once above; the state still says what is wrong. */
		snprintf(h->base.st.last_error, sizeof(h->base.st.last_error),
		    "token refused: %.200s", why);
		if (h->base.st.failing_since_ms == 0)
			h->base.st.failing_since_ms = now;
		dead_letter_range(h, s, s->from, s->end, why, r->status, code);
		s->from = s->end;
		return;
	}
	if (code_retryable(r->status, code)) {
		retry_later(h, now, r, why);
		return;
	}
	transport_failed(&h->base, now, true, "%zu records refused (%s): "
	    "dead-lettered", nsent, why);
	dead_letter_range(h, s, s->from, s->end, why, r->status, code);
	s->from = s->end;
}

/* Splunk reports ackId id indexed. */
static void
on_acked(void *arg, int64_t id)
{
	struct hec *h = arg;

	for (size_t i = 0; i < h->count; i++) {
		struct slot *s = slot_at(h, i);
		if (s->accepted && !s->acked && s->ack_id == id) {
			s->acked = true;
			h->base.st.delivered += s->end - s->sent_from;
		}
	}
}

static void
on_ack_done(struct hec *h, const struct http_response *r, int64_t now)
{
	h->next_ack_poll = now + h->o.ack_poll_ms;
	if (r->status != 200) {
		transport_failed(&h->base, now, false, "acknowledgement poll "
		    "failed: %s", r->status == 0 ? r->error : "HTTP error");
		return;
	}
	(void)hec_acks_parse(r->body, r->body_len, on_acked, h);
}

static void
on_health_done(struct hec *h, const struct http_response *r)
{
	long code, inv;
	int64_t ack_id;
	char text[128];

	h->need_health = false;
	(void)parse_answer(r, &code, text, sizeof(text), &inv, &ack_id);
	if (r->status == 200) {
		if (!h->health_logged)
			log_info("output %s: HEC at %s: %s (code %ld)",
			    h->base.name, h->o.url, text[0] ? text : "healthy",
			    code);
		h->health_logged = true;
	} else {
		/* At start always; then as rarely as send failures. */
		int64_t now = mono_now_ms();
		if (!h->health_logged || now - h->last_health_log >= 60000) {
			if (r->status == 0)
				log_warnx("output %s: HEC health check: %s",
				    h->base.name, r->error);
			else
				log_warnx("output %s: HEC health check: HTTP "
				    "%ld, code %ld: %s", h->base.name,
				    r->status, code, text);
			h->last_health_log = now;
		}
		h->health_logged = true;
	}
}

static void
on_done(void *arg, const struct http_response *r)
{
	struct hec *h = arg;
	int64_t now = mono_now_ms();
	enum req req = h->req;

	h->req = REQ_NONE;
	if (req == REQ_SEND)
		on_send_done(h, r, now);
	else if (req == REQ_ACK)
		on_ack_done(h, r, now);
	else if (req == REQ_HEALTH)
		on_health_done(h, r);
	advance(h);
	/* Keep the connection busy: start what is due right away. */
	transport_tick(&h->base, now);
}

static void
on_prio_done(void *arg, const struct http_response *r)
{
	struct hec *h = arg;
	int64_t now = mono_now_ms();
	long code, inv;
	int64_t ack_id;
	char text[128], why[400];

	if (parse_answer(r, &code, text, sizeof(text), &inv, &ack_id))
		transport_prio_finish(&h->base, now, PRIO_OK, "");
	else {
		snprintf(why, sizeof(why), "%s", r->status == 0 ? r->error :
		    text);
		transport_prio_finish(&h->base, now, r->status == 0 ?
		    PRIO_UNREACHABLE : code_retryable(r->status, code) ?
		    PRIO_RETRY : PRIO_REFUSED, why);
	}
	transport_tick(&h->base, now);
}

/* The priority lane: its own connection, never behind a batch. */
static void
prio_tick(struct hec *h, int64_t now)
{
	const char *doc, *hdrs[4] = { h->auth, h->chan,
	    "Content-Type: application/json", NULL };
	size_t len;
	bool alert;

	if (!transport_prio_pending(&h->base))
		return;
	if (h->prio_http == NULL && http_client_new(h->loop, h->base.name,
	    &h->o.tls, h->o.timeout_ms, &h->prio_http) != 0)
		return;
	if (http_busy(h->prio_http) ||
	    !transport_prio_take(&h->base, now, &doc, &len, &alert))
		return;
	if (http_start(h->prio_http, "POST", h->url_event, hdrs, doc, len,
	    on_prio_done, h) != 0)
		transport_prio_finish(&h->base, now, PRIO_RETRY,
		    "cannot start a request");
}

static int64_t
hec_tick(struct transport_output *t, int64_t now)
{
	struct hec *h = (struct hec *)t;
	int64_t wake = now + 1000;
	struct slot *s;
	size_t idx;
	int rc;

	/* Batches that waited too long for their acknowledgement. */
	for (size_t i = 0; h->o.ack && i < h->count; i++) {
		s = slot_at(h, i);
		if (s->accepted && !s->acked && now - s->sent_ms >=
		    h->o.ack_timeout_ms) {
			log_warnx("output %s: no acknowledgement for ackId %"
			    PRId64 " within %.0f s: sending its %zu events again",
			    h->base.name, s->ack_id,
			    (double)h->o.ack_timeout_ms / 1000.0,
			    s->end - s->sent_from);
			s->accepted = false;
			s->from = s->sent_from;
			h->base.st.retries++;
		}
		if (s->accepted && !s->acked && s->sent_ms +
		    h->o.ack_timeout_ms < wake)
			wake = s->sent_ms + h->o.ack_timeout_ms;
	}
	prio_tick(h, now);
	if (transport_prio_pending(t) && t->prio.retry_at > now &&
	    t->prio.retry_at < wake)
		wake = t->prio.retry_at;
	if (http_busy(h->http))
		return wake;
	s = next_to_send(h, &idx);
	if (h->need_health && (s != NULL || !h->health_logged) &&
	    now >= h->retry_at) {
		if ((rc = start_health(h)) != 0)
			log_warnx("output %s: cannot start a request: %s",
			    h->base.name, strerror(-rc));
		return wake;
	}
	if (s != NULL) {
		int64_t gate = transport_prio_gate(t, now);
		if (gate > now) {
			/* The heartbeat probes a destination that was down. */
			return gate < wake ? gate : wake;
		}
		if (now >= h->retry_at) {
			if ((rc = start_send(h, idx, now)) != 0) {
				log_warnx("output %s: cannot start a request: %s",
				    h->base.name, strerror(-rc));
				h->retry_at = now + 1000;
			}
			return wake;
		}
		if (h->retry_at < wake)
			wake = h->retry_at;
	}
	if (h->o.ack) {
		bool waiting = false;
		for (size_t i = 0; i < h->count; i++)
			if (slot_at(h, i)->accepted && !slot_at(h, i)->acked)
				waiting = true;
		if (waiting) {
			if (now >= h->next_ack_poll) {
				if ((rc = start_ack_poll(h)) != 0)
					log_warnx("output %s: cannot poll "
					    "acknowledgements: %s", h->base.name,
					    strerror(-rc));
				return wake;
			}
			if (h->next_ack_poll < wake)
				wake = h->next_ack_poll;
		}
	}
	return wake;
}

static bool
hec_ready(const struct transport_output *t, int64_t now)
{
	const struct hec *h = (const struct hec *)t;

	(void)now;
	return h->count < (h->o.ack ? MAX_SLOTS : 2);
}

static int
hec_submit(struct transport_output *t, struct transport_batch *b,
    int64_t now)
{
	struct hec *h = (struct hec *)t;
	struct slot *s;

	if (h->count == MAX_SLOTS)
		return -ENOBUFS;	/* b stays the caller's */
	s = &h->q[(h->head + h->count) % MAX_SLOTS];
	memset(s, 0, sizeof(*s));
	s->b = b;
	s->end = b->n;
	h->count++;
	transport_tick(t, now);
	return 0;
}

static bool
hec_idle(const struct transport_output *t)
{
	return ((const struct hec *)t)->count == 0;
}

static void
hec_close(struct transport_output *t)
{
	struct hec *h = (struct hec *)t;

	http_client_free(h->http);
	http_client_free(h->prio_http);
	while (h->count > 0) {
		slot_free(h, slot_at(h, 0));
		h->head = (h->head + 1) % MAX_SLOTS;
		h->count--;
	}
	free(h->url_event);
	free(h->url_ack);
	free(h->url_health);
	if (h->auth != NULL) {
		explicit_bzero(h->auth, strlen(h->auth));
		free(h->auth);
	}
	free(h->ack_body);
	transport_base_free(&h->base);
	free(h);
}

static const struct transport_ops hec_ops = {
	.ready = hec_ready,
	.submit = hec_submit,
	.tick = hec_tick,
	.idle = hec_idle,
	.close = hec_close,
};

/* A channel id stable for this host and output: UUID-shaped FNV-1a. */
static void
make_channel(struct hec *h, char *out, size_t len)
{
	char host[256] = "";
	uint64_t a = 1469598103934665603ULL, b = 1099511628211ULL * 7;
	const char *parts[3] = { host, h->base.name, h->o.url };

	gethostname(host, sizeof(host) - 1);
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
	if ((rc = transport_base_init(&h->base, &hec_ops, name, &o->retry,
	    deadletter_dir)) != 0)
		goto err;
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
	if ((rc = http_client_new(l, name, &o->tls, o->timeout_ms,
	    &h->http)) != 0)
		goto err;
	h->loop = l;
	h->need_health = true;
	*out = &h->base;
	return 0;
err:
	hec_close(&h->base);
	return rc;
}
