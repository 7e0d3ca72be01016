/*
 * output_wazuh.c - the Wazuh manager output, through its server API.
 *
 * Wazuh 4.6 to 4.14 take events at POST /events
 * (../shared/docs/PROTOCOLS.md section 3.1): {"events": [string, ...]},
 * at most 100 per request and, by default, 30 requests a minute for that
 * endpoint.  The agent renders each
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

#define EVENTS_MAX		100	/* per request, the manager's limit */
#define RATE_MAX		600	/* max_requests_per_minute cap */
#define ITEM_TRIES		5	/* then a failing event is refused */
#define LOGIN_MIN_WAIT_MS	10000
#define GONE_WAIT_MS		600000	/* after a 404 at /events */
#define WINDOW_MS		60000
#define WINDOW_MARGIN_MS	250
#define RATE_INFLIGHT		INT64_MAX	/* in win[]: not answered yet */

enum req { REQ_LOGIN = DL_REQ_OWN, REQ_INFO };

struct wazuh {
	struct delivery		 d;
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
	int64_t			 win[RATE_MAX];	/* times of the last requests */
	size_t			 nwin, winhead;
	size_t			 rate_slot, prio_rate_slot; /* out now */
};

/* The event text of record i (its JSON string decoded); free it. */
static char *
event_text(const struct transport_batch *b, size_t i)
{
	size_t start, len;
	cJSON *j;
	char *out = NULL;

	delivery_span(b, i, &start, &len);
	if ((j = cJSON_ParseWithLength(b->body + start, len)) != NULL &&
	    cJSON_IsString(j))
		out = strdup(j->valuestring);
	cJSON_Delete(j);
	return out;
}

/* The dead letter of an event: its text, decoded when it can be. */
static void
wz_dead_letter(struct delivery *d, const struct transport_batch *b,
    size_t i, const struct dl_reason *r)
{
	char *ev = event_text(b, i);
	size_t start, len;

	delivery_span(b, i, &start, &len);
	if (ev != NULL)
		transport_dead_letter(&d->base, b->seqs[i], r->why, r->status,
		    r->code, ev, strlen(ev));
	else
		transport_dead_letter(&d->base, b->seqs[i], r->why, r->status,
		    r->code, b->body + start, len);
	free(ev);
}

/* ---- pacing -------------------------------------------------------------- */

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

static int64_t
wz_pace(struct delivery *d, int64_t now)
{
	return rate_next((struct wazuh *)d, now);
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

/* ---- requests ------------------------------------------------------------ */

static int
wz_send(struct delivery *d, const struct transport_batch *b)
{
	static const char *const frame[3] = { "{\"events\":[", ",", "]}" };
	struct wazuh *w = (struct wazuh *)d;
	const char *hdrs[2] = { w->bearer, "Content-Type: application/json" };
	int rc;

	if ((rc = delivery_post(d, b, w->url_events, frame, false, hdrs,
	    2)) != 0)
		return rc;
	w->rate_slot = rate_note(w);
	return 0;
}

/* Log in when the token is missing or due, and ask GET / once. */
static bool
wz_prepare(struct delivery *d, int64_t now, bool pending, int64_t *wake)
{
	struct wazuh *w = (struct wazuh *)d;
	const char *basic[2] = { w->basic, NULL };
	const char *bearer[2] = { w->bearer, NULL };
	int rc;

	if (w->bearer == NULL || now >= w->relogin_at) {
		if (!pending && !w->need_info && w->bearer != NULL &&
		    !transport_prio_pending(&d->base)) {
			if (w->relogin_at < *wake)
				*wake = w->relogin_at;
			return true;
		}
		if ((rc = delivery_http(d, REQ_LOGIN, "POST", w->url_login,
		    basic, "", 0)) != 0) {
			log_warnx("output %s: cannot start a request: %s",
			    d->base.name, strerror(-rc));
			d->retry_at = now + 1000;
		}
		return true;
	}
	if (!w->need_info)
		return false;
	if (delivery_http(d, REQ_INFO, "GET", w->url_info, bearer, NULL,
	    0) != 0)
		w->need_info = false;
	return true;
}

static void
on_login_done(struct wazuh *w, const struct http_response *r, int64_t now)
{
	struct delivery *d = &w->d;
	char *tok;
	int64_t life;
	char why[512];

	if (r->status != 200) {
		delivery_describe(d, r, why, sizeof(why));
		if (r->status == 401 || r->status == 403) {
			if (!w->login_logged)
				log_errorx("output %s: the Wazuh API refused "
				    "user %s (%s): check user and password of "
				    "[output:%s]; trying again every %d s at "
				    "most", d->base.name, w->o.user, why,
				    d->base.name, LOGIN_MIN_WAIT_MS / 1000);
			w->login_logged = true;
			delivery_retry_later(d, now, r, "login refused",
			    LOGIN_MIN_WAIT_MS, false);
		} else {
			delivery_retry_later(d, now, r, why, 0, false);
		}
		return;
	}
	if ((tok = wz_login_token(r->body, r->body_len)) == NULL) {
		delivery_retry_later(d, now, r, "the login answer holds no "
		    "token", 0, false);
		return;
	}
	transport_free_secret(w->bearer);
	if (asprintf(&w->bearer, "Authorization: Bearer %s", tok) < 0)
		w->bearer = NULL;
	life = wz_jwt_lifetime(tok);
	transport_free_secret(tok);
	if (w->bearer == NULL) {
		delivery_retry_later(d, now, r, "out of memory", 0, false);
		return;
	}
	if (life <= 0)
		life = 900;
	w->relogin_at = now + life * 1000 * 3 / 4;
	w->login_ok_at = now;
	if (w->login_logged)
		log_info("output %s: logged in to the Wazuh API again",
		    d->base.name);
	w->login_logged = false;
	log_debug("output %s: token for %" PRId64 " s", d->base.name, life);
}

static void
on_info_done(struct wazuh *w, const struct http_response *r, int64_t now)
{
	const char *name = w->d.base.name;
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
		delivery_describe(&w->d, r, why, sizeof(why));
		log_warnx("output %s: GET / of the Wazuh API: %s", name, why);
		return;
	}
	j = cJSON_ParseWithLength(r->body, r->body_len);
	data = cJSON_GetObjectItemCaseSensitive(j, "data");
	v = cJSON_GetObjectItemCaseSensitive(data, "api_version");
	snprintf(w->version, sizeof(w->version), "%s", cJSON_IsString(v) ?
	    v->valuestring : "");
	cJSON_Delete(j);
	log_info("output %s: Wazuh API %s at %s", name,
	    w->version[0] != '\0' ? w->version : "(version unknown)", w->o.url);
	if (w->version[0] >= '5' && w->version[0] <= '9')
		log_warnx("output %s: Wazuh %s has no POST /events (removed "
		    "in 5.0): this output cannot deliver to it; use a Wazuh "
		    "4.6 to 4.14 manager, or a Wazuh agent", name, w->version);
}

static void
wz_done(struct delivery *d, int req, const struct http_response *r,
    int64_t now)
{
	if (req == REQ_LOGIN)
		on_login_done((struct wazuh *)d, r, now);
	else if (req == REQ_INFO)
		on_info_done((struct wazuh *)d, r, now);
}

/* ---- what the manager says of the events --------------------------------- */

struct failed_read {
	struct wazuh		*w;
	struct dl_verdict	*v;
	size_t			 nretry;
};

_Static_assert(EVENTS_MAX <= WZ_EVENTS_MAX, "answer.c matches fewer");

static char *
sent_text(void *arg, size_t k)
{
	struct delivery *d = &((struct failed_read *)arg)->w->d;

	return event_text(d->q[d->req_slot].b, d->sent[k]);
}

/* Act on what the answer says of event k of the request. */
static void
on_item(void *arg, size_t k, const struct wz_item *it)
{
	struct failed_read *c = arg;
	struct dl_verdict *v = c->v;
	unsigned char *tries = delivery_tries(&c->w->d, k);

	if (!it->failed && it->uncertain && ++*tries < ITEM_TRIES) {
		/* Perhaps one of the failures we cannot place: send it again
		 * (a duplicate if it was taken), a few times at most. */
		c->nretry++;
	} else if (!it->failed) {
		delivery_mark(&c->w->d, v, k, DL_DELIVERED);	/* taken */
	} else if (it->code == 1012 || ++*tries >= ITEM_TRIES) {
		if (v->first[0] == '\0')
			snprintf(v->first, sizeof(v->first), "%.400s",
			    it->why);
		v->dl.status = 200;
		v->dl.code = it->code;
		v->dl.type = "";
		v->dl.why = it->why;
		delivery_mark(&c->w->d, v, k, DL_DEAD_LETTER);
	} else {
		c->nretry++;
	}
}

/*
 * Match the failed event strings of a 200 to the records sent (answer.c).
 * An answer that does not say which events were taken: all again.
 */
static void
read_failed(struct wazuh *w, const struct http_response *r, int64_t now,
    struct dl_verdict *v)
{
	struct failed_read c = { .w = w, .v = v };
	size_t unmatched = 0;

	if (r->body_cut || !wz_events_answer(r->body, r->body_len, w->d.nsent,
	    sent_text, on_item, &c, &unmatched)) {
		v->cls = DL_TRY_AGAIN;
		v->failover = false;
		v->why = "an answer that does not say which events were taken";
		return;
	}
	if (unmatched > 0)
		/* Not silent: the manager named failures we cannot place. */
		transport_failed(&w->d.base, now, true, "the manager reported "
		    "%zu failed events whose text matches none of the %zu "
		    "sent: the events not named are sent again (up to %d "
		    "times; duplicates if they were taken)", unmatched,
		    w->d.nsent, ITEM_TRIES);
	if (c.nretry == 0) {
		w->gone_logged = false;
		w->forbidden_logged = false;
	}
}

/* 404 at /events: Wazuh 5.0 removed it; said once, asked again later. */
static void
on_gone(struct wazuh *w, int64_t now, struct dl_verdict *v)
{
	struct transport_output *t = &w->d.base;

	if (!w->gone_logged)
		log_errorx("output %s: the Wazuh manager at %s has no POST "
		    "/events (%s; API version %s). Wazuh 5.0 removed it: this "
		    "output needs a 4.6 to 4.14 manager. The records wait in "
		    "the buffer; asking again in %d minutes", t->name, w->o.url,
		    v->why, w->version[0] != '\0' ? w->version : "unknown",
		    GONE_WAIT_MS / 60000);
	w->gone_logged = true;
	w->need_info = true;
	snprintf(t->st.last_error, sizeof(t->st.last_error),
	    "no POST /events at the manager (Wazuh 5?)");
	if (t->st.failing_since_ms == 0)
		t->st.failing_since_ms = now;
	w->d.retry_at = now + GONE_WAIT_MS;
	v->cls = DL_HANDLED;
}

static void
wz_answer(struct delivery *d, const struct http_response *r, int64_t now,
    struct dl_verdict *v)
{
	struct wazuh *w = (struct wazuh *)d;
	int64_t next;

	rate_done(w, w->rate_slot, now);
	switch (r->status) {
	case 200:
		read_failed(w, r, now, v);
		return;
	case 401:
		/* The token expired or was revoked: log in again, once at
		 * once; a token refused right after a login is a failure. */
		v->cls = now - w->login_ok_at > 2000 ? DL_HANDLED :
		    DL_TRY_AGAIN;
		w->relogin_at = now;
		return;
	case 403:
		if (!w->forbidden_logged)
			log_errorx("output %s: the Wazuh API forbids user %s "
			    "to send events (%s): give it the events_ingest "
			    "policy (action event:ingest); the records wait in "
			    "the buffer", d->base.name, w->o.user, v->why);
		w->forbidden_logged = true;
		v->at_least = LOGIN_MIN_WAIT_MS;
		return;
	case 404:
		on_gone(w, now, v);
		return;
	case 429:
		next = rate_next(w, now) - now;
		v->why = "rate limit of the manager reached (429)";
		v->at_least = next > 5000 ? next : 5000;
		return;
	}
	if (v->cls == DL_ANSWERED)
		v->cls = DL_REFUSED;	/* 400, 406 and the like: for good */
}

/* ---- the priority lane, within the same pace ----------------------------- */

static bool
wz_prio_may(struct delivery *d, int64_t now)
{
	struct wazuh *w = (struct wazuh *)d;

	return w->bearer != NULL && rate_next(w, now) <= now;
}

static int
wz_prio_send(struct delivery *d, const char *doc, size_t len)
{
	struct wazuh *w = (struct wazuh *)d;
	const char *hdrs[3] = { w->bearer, "Content-Type: application/json",
	    NULL };
	int rc;

	free(w->prio_body);
	if (asprintf(&w->prio_body, "{\"events\":[%.*s]}", (int)len, doc) <
	    0) {
		w->prio_body = NULL;
		return -ENOMEM;
	}
	if ((rc = delivery_prio_http(d, w->url_events, hdrs, w->prio_body,
	    strlen(w->prio_body))) != 0)
		return rc;
	w->prio_rate_slot = rate_note(w);
	return 0;
}

static enum prio_result
wz_prio_answer_of(struct delivery *d, const struct http_response *r,
    int64_t now, char *why, size_t whylen)
{
	struct wazuh *w = (struct wazuh *)d;
	enum prio_result res;

	(void)why;
	(void)whylen;
	rate_done(w, w->prio_rate_slot, now);
	if (r->status == 200) {
		res = wz_prio_answer(r->body, r->body_len);
	} else if (r->status == 401) {
		w->relogin_at = now;
		res = PRIO_RETRY;
	} else {
		res = delivery_prio_status(r->status);
	}
	free(w->prio_body);
	w->prio_body = NULL;
	return res;
}

static void
wz_free(struct delivery *d)
{
	struct wazuh *w = (struct wazuh *)d;

	free(w->prio_body);
	free(w->url_login);
	free(w->url_events);
	free(w->url_info);
	transport_free_secret(w->basic);
	transport_free_secret(w->bearer);
}

static const struct delivery_ops wz_ops = {
	.unit = "events",
	.refused = "refused by the manager",
	.not_taken = "not taken by the manager",
	.too_large = "lower batch_max_bytes, or raise the manager's "
	    "max_upload_size",
	.one_too_large = { 413, 0, "", "an event larger than the manager's "
	    "max_upload_size" },
	.request_max = EVENTS_MAX,
	.send = wz_send,
	.answer = wz_answer,
	.dead_letter = wz_dead_letter,
	.describe = wz_answer_describe,
	.prepare = wz_prepare,
	.pace = wz_pace,
	.done = wz_done,
	.prio_may = wz_prio_may,
	.prio_send = wz_prio_send,
	.prio_answer = wz_prio_answer_of,
	.free = wz_free,
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
	if ((rc = delivery_init(&w->d, &wz_ops, l, name, &o->http,
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
	    (w->basic = transport_auth_header("Basic", o->user,
	    o->password)) == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	/* A 200 echoes every event taken: up to 100 of 64 KiB, escaped. */
	http_client_set_body_max(w->d.http, 32u << 20);
	w->need_info = true;
	*out = &w->d.base;
	return 0;
err:
	delivery_free(&w->d);
	return rc;
}
