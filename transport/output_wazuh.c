/*
 * output_wazuh.c - the Wazuh manager output, through its server API.
 *
 * Wazuh 4.6 to 4.14 take events at POST /events (PROTOCOLS.md section
 * 3.1): {"events": [string, ...]}, at most 100 per request and, by
 * default, 30 requests a minute for that endpoint.  The agent renders each
 * record as one JSON string (render_wazuh()); a batch is those strings
 * joined with commas.
 *
 *   - Login: POST /security/user/authenticate with basic authentication
 *     gives a JWT, sent as "Authorization: Bearer".  Its lifetime is read
 *     from the token (exp - iat; 900 s by default) and the agent logs in
 *     again when three quarters of it passed, and at once on a 401.  A
 *     refused password is logged once and tried again no faster than
 *     every 10 s (the manager blocks an address after 50 failed logins in
 *     5 minutes).
 *   - Pace: never more than max_requests_per_minute requests to /events
 *     in any 60 s (a sliding window over the times the answers came, so
 *     the manager's fixed windows, which count arrivals, never see more
 *     either, however slow the network or busy the agent).  A 429 waits
 *     for the window to move.
 *   - A 200 lists failed_items (by the event strings themselves): those
 *     records are sent again after a backoff (error 1012, an event the
 *     manager's queue cannot take, and any record failing 5 times, go to
 *     the dead-letter file with the reason); the others are delivered.
 *   - 404 at /events: Wazuh 5.0 removed the endpoint.  Said once, in plain
 *     words, with the version GET / reported; the output then waits 10
 *     minutes before it asks again (the records stay in the buffer).
 *   - 413 halves the events per request; 400/406 dead-letter the request
 *     with the reason; 403 (the user lacks event:ingest) is logged once
 *     and retried slowly; network errors and 5xx back off.
 * The manager has no way to tell a resent event from a new one: an
 * answer lost after the manager took a request means those events arrive
 * twice.  Nothing is counted as delivered before a 200 said so.
 */
#include "transport_int.h"
#include "base.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SLOTS		2
#define EVENTS_MAX		100	/* per request, the manager's limit */
#define RATE_MAX		600	/* max_requests_per_minute cap */
#define ITEM_TRIES		5	/* then a failing event is refused */
#define LOGIN_MIN_WAIT_MS	10000
#define GONE_WAIT_MS		600000	/* after a 404 at /events */
#define WINDOW_MS		60000
#define WINDOW_MARGIN_MS	250
#define RATE_INFLIGHT		INT64_MAX	/* in win[]: not answered yet */

struct slot {
	struct transport_batch	*b;
	size_t			 end;
	size_t			 from;
	unsigned char		*done;
	unsigned char		*tries;
	size_t			 limit;	/* events per request (413 halves) */
};

enum req { REQ_NONE, REQ_LOGIN, REQ_INFO, REQ_SEND };

struct wazuh {
	struct transport_output	 base;
	struct http_client	*http;
	struct http_client	*prio_http;	/* heartbeats, alerts */
	struct transport_loop	*loop;
	char			*prio_body;
	struct transport_wazuh_opts o;
	char			*url_login, *url_events, *url_info;
	char			*basic;		/* Authorization: Basic ... */
	char			*bearer;	/* Authorization: Bearer ... */
	int64_t			 relogin_at;	/* refresh the token then */
	int64_t			 login_ok_at;	/* last good login */
	bool			 login_logged;	/* a refusal was said */
	bool			 forbidden_logged;
	bool			 gone_logged;
	bool			 need_info;
	char			 version[64];	/* from GET / */
	struct slot		 q[MAX_SLOTS];
	size_t			 head, count;
	enum req		 req;
	size_t			 req_slot;
	size_t			*sent;
	size_t			 nsent, sentcap;
	char			*body;
	size_t			 bodylen, bodycap;
	int64_t			 retry_at;
	int64_t			 win[RATE_MAX];	/* times of the last requests */
	size_t			 nwin, winhead;
	size_t			 rate_slot, prio_rate_slot; /* out now */
};

static struct slot *
slot_at(struct wazuh *w, size_t i)
{
	return &w->q[(w->head + i) % MAX_SLOTS];
}

static void
slot_free(struct wazuh *w, struct slot *s)
{
	transport_batch_recycle(&w->base, s->b);
	free(s->done);
	free(s->tries);
	memset(s, 0, sizeof(*s));
}

static void
rec_span(const struct transport_batch *b, size_t i, size_t *start,
    size_t *len)
{
	*start = i > 0 ? b->ends[i - 1] : 0;
	*len = b->ends[i] - *start;
}

static void
advance(struct wazuh *w)
{
	while (w->count > 0) {
		struct slot *s = slot_at(w, 0);

		while (s->from < s->end && s->done[s->from])
			s->from++;
		if (s->from == s->end) {
			w->base.confirmed = s->b->seqs[s->end - 1];
			slot_free(w, s);
			w->head = (w->head + 1) % MAX_SLOTS;
			w->count--;
			continue;
		}
		if (s->from > 0 && s->b->seqs[s->from - 1] > w->base.confirmed)
			w->base.confirmed = s->b->seqs[s->from - 1];
		break;
	}
}

/* The event text of record i (its JSON string decoded); free it. */
static char *
event_text(const struct transport_batch *b, size_t i)
{
	size_t start, len;
	cJSON *j;
	char *out = NULL;

	rec_span(b, i, &start, &len);
	if ((j = cJSON_ParseWithLength(b->body + start, len)) != NULL &&
	    cJSON_IsString(j))
		out = strdup(j->valuestring);
	cJSON_Delete(j);
	return out;
}

static void
dead_letter(struct wazuh *w, struct slot *s, size_t i, long status,
    long code, const char *why)
{
	char *ev = event_text(s->b, i);
	size_t start, len;

	rec_span(s->b, i, &start, &len);
	if (ev != NULL)
		transport_dead_letter(&w->base, s->b->seqs[i], why, status,
		    code, ev, strlen(ev));
	else
		transport_dead_letter(&w->base, s->b->seqs[i], why, status,
		    code, s->b->body + start, len);
	free(ev);
	s->done[i] = 1;
}

/* ---- pacing ---------------------------------------------------------------- */

/* When may the next request to /events start? */
static int64_t
rate_next(const struct wazuh *w, int64_t now)
{
	size_t n = (size_t)w->o.requests_per_minute;

	int64_t t;

	if (w->nwin < n)
		return now;
	/* The n-th last request must be a window ago: its answer came a
	 * window ago.  Still out: its answer wakes us. */
	t = w->win[(w->winhead + RATE_MAX - n) % RATE_MAX];
	if (t == RATE_INFLIGHT)
		return now + WINDOW_MS;
	return t + WINDOW_MS + WINDOW_MARGIN_MS;
}

/*
 * A request to /events starts: note it as out; rate_done() stamps it with
 * the time its answer came (or it failed).  The manager counted it when it
 * arrived, before it answered, so by stamping the answer's time the
 * windows we keep can only be later than the manager's, however long the
 * request took or the loop was busy: never n + 1 in its 60 s.
 */
static size_t
rate_note(struct wazuh *w)
{
	size_t i = w->winhead;

	w->win[i] = RATE_INFLIGHT;
	w->winhead = (w->winhead + 1) % RATE_MAX;
	if (w->nwin < RATE_MAX)
		w->nwin++;
	return i;
}

static void
rate_done(struct wazuh *w, size_t i, int64_t now)
{
	if (w->win[i] == RATE_INFLIGHT)
		w->win[i] = now;
}

/* ---- requests --------------------------------------------------------------- */

static void on_done(void *arg, const struct http_response *r);

static int
start_login(struct wazuh *w)
{
	const char *hdrs[2] = { w->basic, NULL };
	int rc;

	if ((rc = http_start(w->http, "POST", w->url_login, hdrs, "", 0,
	    on_done, w)) != 0)
		return rc;
	w->req = REQ_LOGIN;
	return 0;
}

static int
start_info(struct wazuh *w)
{
	const char *hdrs[2] = { w->bearer, NULL };
	int rc;

	if ((rc = http_start(w->http, "GET", w->url_info, hdrs, NULL, 0,
	    on_done, w)) != 0)
		return rc;
	w->req = REQ_INFO;
	return 0;
}

static int
start_send(struct wazuh *w, size_t idx)
{
	struct slot *s = slot_at(w, idx);
	const char *hdrs[3] = { w->bearer, "Content-Type: application/json",
	    NULL };
	size_t need = 16, limit = s->limit != 0 ? s->limit : EVENTS_MAX;
	int rc;

	if (limit > EVENTS_MAX)
		limit = EVENTS_MAX;
	w->nsent = 0;
	if (w->sentcap < s->end) {
		size_t *ns = realloc(w->sent, s->end * sizeof(*ns));
		if (ns == NULL)
			return -ENOMEM;
		w->sent = ns;
		w->sentcap = s->end;
	}
	for (size_t i = s->from; i < s->end && w->nsent < limit; i++) {
		size_t st, l;
		if (s->done[i])
			continue;
		w->sent[w->nsent++] = i;
		rec_span(s->b, i, &st, &l);
		need += l + 1;
	}
	if (w->nsent == 0)
		return -EINVAL;
	if (need > w->bodycap) {
		char *nb = realloc(w->body, need);
		if (nb == NULL)
			return -ENOMEM;
		w->body = nb;
		w->bodycap = need;
	}
	memcpy(w->body, "{\"events\":[", 11);
	w->bodylen = 11;
	for (size_t k = 0; k < w->nsent; k++) {
		size_t st, l;
		rec_span(s->b, w->sent[k], &st, &l);
		if (k > 0)
			w->body[w->bodylen++] = ',';
		memcpy(w->body + w->bodylen, s->b->body + st, l);
		w->bodylen += l;
	}
	memcpy(w->body + w->bodylen, "]}", 2);
	w->bodylen += 2;
	if ((rc = http_start(w->http, "POST", w->url_events, hdrs, w->body,
	    w->bodylen, on_done, w)) != 0)
		return rc;
	w->rate_slot = rate_note(w);
	w->req = REQ_SEND;
	w->req_slot = idx;
	w->base.st.requests++;
	return 0;
}

/* "title: detail" or the body of a Wazuh API error answer. */
static void
describe(const struct http_response *r, char *out, size_t outlen)
{
	if (r->status == 0)
		snprintf(out, outlen, "%s", r->error);
	else
		wz_answer_describe(r->status, r->body, r->body_len, out,
		    outlen);
}

static void
retry_later(struct wazuh *w, int64_t now, const struct http_response *r,
    const char *what, int64_t at_least)
{
	const char *how;
	int64_t wait = transport_retry_wait(&w->base, r, &how);

	if (wait < at_least)
		wait = at_least;
	w->retry_at = now + wait;
	w->base.st.retries++;
	transport_failed(&w->base, now, false, "%s; retrying in %.1f s%s",
	    what, (double)wait / 1000.0, how);
}

static void
on_login_done(struct wazuh *w, const struct http_response *r, int64_t now)
{
	char *tok;
	int64_t life;
	char why[512];

	if (r->status != 200) {
		describe(r, why, sizeof(why));
		if (r->status == 401 || r->status == 403) {
			if (!w->login_logged)
				log_errorx("output %s: the Wazuh API refused "
				    "user %s (%s): check user and password of "
				    "[output:%s]; trying again every %d s at "
				    "most", w->base.name, w->o.user, why,
				    w->base.name, LOGIN_MIN_WAIT_MS / 1000);
			w->login_logged = true;
			retry_later(w, now, r, "login refused",
			    LOGIN_MIN_WAIT_MS);
		} else {
			retry_later(w, now, r, why, 0);
		}
		return;
	}
	if ((tok = wz_login_token(r->body, r->body_len)) == NULL) {
		retry_later(w, now, r, "the login answer holds no token", 0);
		return;
	}
	if (w->bearer != NULL) {
		explicit_bzero(w->bearer, strlen(w->bearer));
		free(w->bearer);
	}
	if (asprintf(&w->bearer, "Authorization: Bearer %s", tok) < 0)
		w->bearer = NULL;
	life = wz_jwt_lifetime(tok);
	explicit_bzero(tok, strlen(tok));
	free(tok);
	if (w->bearer == NULL) {
		retry_later(w, now, r, "out of memory", 0);
		return;
	}
	if (life <= 0)
		life = 900;
	w->relogin_at = now + life * 1000 * 3 / 4;
	w->login_ok_at = now;
	if (w->login_logged)
		log_info("output %s: logged in to the Wazuh API again",
		    w->base.name);
	w->login_logged = false;
	log_debug("output %s: token for %" PRId64 " s", w->base.name, life);
}

static void
on_info_done(struct wazuh *w, const struct http_response *r, int64_t now)
{
	cJSON *j;
	const cJSON *data, *v;
	char why[512];

	w->need_info = false;
	if (r->status == 401) {
		w->relogin_at = now;	/* the token went stale */
		w->need_info = true;
		return;
	}
	if (r->status != 200) {
		describe(r, why, sizeof(why));
		log_warnx("output %s: GET / of the Wazuh API: %s", w->base.name,
		    why);
		return;
	}
	j = cJSON_ParseWithLength(r->body, r->body_len);
	data = cJSON_GetObjectItemCaseSensitive(j, "data");
	v = cJSON_GetObjectItemCaseSensitive(data, "api_version");
	snprintf(w->version, sizeof(w->version), "%s", cJSON_IsString(v) ?
	    v->valuestring : "");
	cJSON_Delete(j);
	log_info("output %s: Wazuh API %s at %s", w->base.name,
	    w->version[0] != '\0' ? w->version : "(version unknown)", w->o.url);
	if (w->version[0] >= '5' && w->version[0] <= '9')
		log_warnx("output %s: Wazuh %s has no POST /events (removed "
		    "in 5.0): this output cannot deliver to it; use a Wazuh "
		    "4.6 to 4.14 manager, or a Wazuh agent", w->base.name,
		    w->version);
}

struct failed_read {
	struct wazuh	*w;
	struct slot	*s;
	size_t		 nretry, nrefused;
	char		 first[400];
};

_Static_assert(EVENTS_MAX <= WZ_EVENTS_MAX, "answer.c matches fewer");

static char *
sent_text(void *arg, size_t k)
{
	struct failed_read *c = arg;

	return event_text(c->s->b, c->w->sent[k]);
}

/* Act on what the answer says of event k of the request. */
static void
on_item(void *arg, size_t k, const struct wz_item *it)
{
	struct failed_read *c = arg;
	size_t i = c->w->sent[k];

	if (!it->failed && it->uncertain && ++c->s->tries[i] < ITEM_TRIES) {
		/* Perhaps one of the failures we cannot place: send it again
		 * (a duplicate if it was taken), a few times at most. */
		c->nretry++;
	} else if (!it->failed) {
		c->s->done[i] = 1;	/* taken */
		c->w->base.st.delivered++;
	} else if (it->code == 1012 || ++c->s->tries[i] >= ITEM_TRIES) {
		dead_letter(c->w, c->s, i, 200, it->code, it->why);
		c->nrefused++;
		if (c->first[0] == '\0')
			snprintf(c->first, sizeof(c->first), "%s", it->why);
	} else {
		c->nretry++;
	}
}

/*
 * Match the failed event strings of a 200 to the records sent (answer.c).
 * false: the answer does not say which events were taken.
 */
static bool
read_failed(struct wazuh *w, struct slot *s, const struct http_response *r,
    int64_t now, size_t *nretry, size_t *nrefused)
{
	struct failed_read c = { .w = w, .s = s };
	size_t unmatched = 0;

	if (r->body_cut || !wz_events_answer(r->body, r->body_len, w->nsent,
	    sent_text, on_item, &c, &unmatched))
		return false;
	if (unmatched > 0)
		/* Not silent: the manager named failures we cannot place. */
		transport_failed(&w->base, now, true, "the manager reported "
		    "%zu failed events whose text matches none of the %zu "
		    "sent: the events not named are sent again (up to %d "
		    "times; duplicates if they were taken)", unmatched,
		    w->nsent, ITEM_TRIES);
	*nretry = c.nretry;
	*nrefused = c.nrefused;
	if (c.nrefused > 0)
		transport_failed(&w->base, now, true, "%zu of %zu events "
		    "refused by the manager (first: %s): written to the "
		    "dead-letter file %s", c.nrefused, w->nsent, c.first,
		    w->base.dlq_path != NULL ? w->base.dlq_path : "(none)");
	return true;
}

static void
on_send_done(struct wazuh *w, const struct http_response *r, int64_t now)
{
	struct slot *s = slot_at(w, w->req_slot);
	char why[512];

	describe(r, why, sizeof(why));
	if (r->status == 200) {
		size_t nretry = 0, nrefused = 0;

		if (!read_failed(w, s, r, now, &nretry, &nrefused)) {
			retry_later(w, now, r, "an answer that does not say "
			    "which events were taken", 0);
			return;
		}
		if (nretry > 0) {
			char what[160];
			snprintf(what, sizeof(what), "%zu of %zu events not "
			    "taken by the manager; sending those again", nretry,
			    w->nsent);
			retry_later(w, now, r, what, 0);
			return;
		}
		w->gone_logged = false;
		w->forbidden_logged = false;
		transport_recovered(&w->base);
		return;
	}
	if (r->status == 401) {
		/* The token expired or was revoked: log in again, once at
		 * once; a token refused right after a login is a failure. */
		if (now - w->login_ok_at > 2000) {
			w->relogin_at = now;
			return;
		}
		w->relogin_at = now;
		retry_later(w, now, r, why, 0);
		return;
	}
	if (r->status == 404) {
		if (!w->gone_logged)
			log_errorx("output %s: the Wazuh manager at %s has no "
			    "POST /events (%s; API version %s). Wazuh 5.0 "
			    "removed it: this output needs a 4.6 to 4.14 "
			    "manager. The records wait in the buffer; asking "
			    "again in %d minutes", w->base.name, w->o.url, why,
			    w->version[0] != '\0' ? w->version : "unknown",
			    GONE_WAIT_MS / 60000);
		w->gone_logged = true;
		w->need_info = true;
		snprintf(w->base.st.last_error, sizeof(w->base.st.last_error),
		    "no POST /events at the manager (Wazuh 5?)");
		if (w->base.st.failing_since_ms == 0)
			w->base.st.failing_since_ms = now;
		w->retry_at = now + GONE_WAIT_MS;
		return;
	}
	if (r->status == 403) {
		if (!w->forbidden_logged)
			log_errorx("output %s: the Wazuh API forbids user %s to "
			    "send events (%s): give it the events_ingest "
			    "policy (action event:ingest); the records wait in "
			    "the buffer", w->base.name, w->o.user, why);
		w->forbidden_logged = true;
		retry_later(w, now, r, why, LOGIN_MIN_WAIT_MS);
		return;
	}
	if (r->status == 429) {
		int64_t next = rate_next(w, now) - now;
		retry_later(w, now, r, "rate limit of the manager reached (429)",
		    next > 5000 ? next : 5000);
		return;
	}
	if (r->status == 413) {
		if (w->nsent > 1) {
			s->limit = w->nsent / 2;
			transport_failed(&w->base, now, false, "%s: request too "
			    "large, sending %zu events per request", why,
			    s->limit);
		} else {
			dead_letter(w, s, w->sent[0], 413, 0, "an event larger "
			    "than the manager's max_upload_size");
		}
		w->retry_at = now;
		return;
	}
	if (r->status == 0 || r->status == 408 || r->status >= 500) {
		retry_later(w, now, r, why, 0);
		return;
	}
	/* 400, 406 and other answers: refused for good. */
	for (size_t k = 0; k < w->nsent; k++)
		dead_letter(w, s, w->sent[k], r->status, 0, why);
	transport_failed(&w->base, now, true, "%zu events refused (%s): "
	    "dead-lettered", w->nsent, why);
	w->retry_at = now;
}

static void
on_done(void *arg, const struct http_response *r)
{
	struct wazuh *w = arg;
	int64_t now = mono_now_ms();
	enum req req = w->req;

	w->req = REQ_NONE;
	if (req == REQ_SEND)
		rate_done(w, w->rate_slot, now);
	if (req == REQ_LOGIN)
		on_login_done(w, r, now);
	else if (req == REQ_INFO)
		on_info_done(w, r, now);
	else if (req == REQ_SEND)
		on_send_done(w, r, now);
	advance(w);
	transport_tick(&w->base, now);
}

static void
on_prio_done(void *arg, const struct http_response *r)
{
	struct wazuh *w = arg;
	int64_t now = mono_now_ms();
	enum prio_result res = PRIO_REFUSED;
	char why[512];

	rate_done(w, w->prio_rate_slot, now);
	describe(r, why, sizeof(why));
	if (r->status == 200) {
		res = wz_prio_answer(r->body, r->body_len);
	} else if (r->status == 401) {
		w->relogin_at = now;
		res = PRIO_RETRY;
	} else if (r->status == 0 || r->status == 408 || r->status == 429 ||
	    r->status >= 500) {
		res = r->status == 0 ? PRIO_UNREACHABLE : PRIO_RETRY;
	}
	free(w->prio_body);
	w->prio_body = NULL;
	transport_prio_finish(&w->base, now, res, why);
	transport_tick(&w->base, now);
}

/*
 * The priority lane: its own connection, never behind a batch, but within
 * the same pace (the manager counts every request to /events).
 */
static void
prio_tick(struct wazuh *w, int64_t now)
{
	const char *doc, *hdrs[3] = { w->bearer,
	    "Content-Type: application/json", NULL };
	size_t len;
	bool alert;

	if (!transport_prio_pending(&w->base) || w->bearer == NULL ||
	    rate_next(w, now) > now)
		return;
	if (w->prio_http == NULL && http_client_new(w->loop, w->base.name,
	    &w->o.tls, w->o.timeout_ms, &w->prio_http) != 0)
		return;
	if (http_busy(w->prio_http) ||
	    !transport_prio_take(&w->base, now, &doc, &len, &alert))
		return;
	free(w->prio_body);
	if (asprintf(&w->prio_body, "{\"events\":[%.*s]}", (int)len, doc) < 0 ||
	    http_start(w->prio_http, "POST", w->url_events, hdrs,
	    w->prio_body, strlen(w->prio_body), on_prio_done, w) != 0) {
		transport_prio_finish(&w->base, now, PRIO_RETRY,
		    "cannot start a request");
		return;
	}
	w->prio_rate_slot = rate_note(w);
}

static int64_t
wz_tick(struct transport_output *t, int64_t now)
{
	struct wazuh *w = (struct wazuh *)t;
	int64_t wake = now + 1000, at;
	size_t idx = 0;
	bool pending = false;
	int rc;

	prio_tick(w, now);
	if (transport_prio_pending(t) && t->prio.retry_at > now &&
	    t->prio.retry_at < wake)
		wake = t->prio.retry_at;
	if (http_busy(w->http))
		return wake;
	for (size_t i = 0; i < w->count && !pending; i++) {
		struct slot *s = slot_at(w, i);
		while (s->from < s->end && s->done[s->from])
			s->from++;
		if (s->from < s->end) {
			pending = true;
			idx = i;
		}
	}
	if (now < w->retry_at)
		return w->retry_at < wake ? w->retry_at : wake;
	if (w->bearer == NULL || now >= w->relogin_at) {
		if (!pending && !w->need_info && w->bearer != NULL &&
		    !transport_prio_pending(t))
			return w->relogin_at < wake ? w->relogin_at : wake;
		if ((rc = start_login(w)) != 0) {
			log_warnx("output %s: cannot start a request: %s",
			    w->base.name, strerror(-rc));
			w->retry_at = now + 1000;
		}
		return wake;
	}
	if (w->need_info) {
		if (start_info(w) != 0)
			w->need_info = false;
		return wake;
	}
	if (!pending && !transport_prio_pending(t))
		return wake;
	if ((at = rate_next(w, now)) > now)
		return at < wake ? at : wake;
	if (!pending)
		return wake;
	if ((at = transport_prio_gate(t, now)) > now)
		return at < wake ? at : wake;
	if ((rc = start_send(w, idx)) != 0) {
		log_warnx("output %s: cannot start a request: %s",
		    w->base.name, strerror(-rc));
		w->retry_at = now + 1000;
	}
	return wake;
}

static bool
wz_ready(const struct transport_output *t, int64_t now)
{
	(void)now;
	return ((const struct wazuh *)t)->count < MAX_SLOTS;
}

static int
wz_submit(struct transport_output *t, struct transport_batch *b,
    int64_t now)
{
	struct wazuh *w = (struct wazuh *)t;
	struct slot *s;

	/* On failure b stays the caller's, its records to be sent again. */
	if (w->count == MAX_SLOTS)
		return -ENOBUFS;
	if (b->n == 0) {
		transport_batch_recycle(t, b);
		return 0;
	}
	s = &w->q[(w->head + w->count) % MAX_SLOTS];
	memset(s, 0, sizeof(*s));
	if ((s->done = calloc(b->n, 1)) == NULL ||
	    (s->tries = calloc(b->n, 1)) == NULL) {
		free(s->done);
		s->done = NULL;
		return -ENOMEM;
	}
	s->b = b;
	s->end = b->n;
	w->count++;
	transport_tick(t, now);
	return 0;
}

static bool
wz_idle(const struct transport_output *t)
{
	return ((const struct wazuh *)t)->count == 0;
}

static void
wz_close(struct transport_output *t)
{
	struct wazuh *w = (struct wazuh *)t;

	http_client_free(w->http);
	http_client_free(w->prio_http);
	free(w->prio_body);
	while (w->count > 0) {
		slot_free(w, slot_at(w, 0));
		w->head = (w->head + 1) % MAX_SLOTS;
		w->count--;
	}
	free(w->url_login);
	free(w->url_events);
	free(w->url_info);
	if (w->basic != NULL) {
		explicit_bzero(w->basic, strlen(w->basic));
		free(w->basic);
	}
	if (w->bearer != NULL) {
		explicit_bzero(w->bearer, strlen(w->bearer));
		free(w->bearer);
	}
	free(w->sent);
	free(w->body);
	transport_base_free(&w->base);
	free(w);
}

static const struct transport_ops wz_ops = {
	.ready = wz_ready,
	.submit = wz_submit,
	.tick = wz_tick,
	.idle = wz_idle,
	.close = wz_close,
};

int
transport_wazuh_open(struct transport_loop *l, const char *name,
    const struct transport_wazuh_opts *o, const char *deadletter_dir,
    struct transport_output **out)
{
	struct wazuh *w;
	char base[2100];
	size_t blen;
	int rc;

	*out = NULL;
	if (o->url == NULL || o->user == NULL || o->password == NULL ||
	    o->requests_per_minute < 1 || o->requests_per_minute > RATE_MAX)
		return -EINVAL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	if ((rc = transport_base_init(&w->base, &wz_ops, name, &o->retry,
	    deadletter_dir)) != 0)
		goto err;
	w->o = *o;
	w->o.password = NULL;	/* only inside the header */
	snprintf(base, sizeof(base), "%s", o->url);
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		base[--blen] = '\0';
	if (asprintf(&w->url_login, "%s/security/user/authenticate", base) <
	    0 || asprintf(&w->url_events, "%s/events", base) < 0 ||
	    asprintf(&w->url_info, "%s/", base) < 0 ||
	    (w->basic = transport_auth_header("Basic", o->user, o->password)) == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	if ((rc = http_client_new(l, name, &o->tls, o->timeout_ms,
	    &w->http)) != 0)
		goto err;
	/* A 200 echoes every event taken: up to 100 of 64 KiB, escaped. */
	http_client_set_body_max(w->http, 32u << 20);
	w->loop = l;
	w->need_info = true;
	*out = &w->base;
	return 0;
err:
	wz_close(&w->base);
	return rc;
}
