/*
 * transport_int.h - private to transport/: the output vtable, helpers
 * shared by outputs, the HTTP client over libcurl's multi interface, the
 * delivery machinery the HTTPS outputs share (delivery.c), and what the
 * destinations' answers say (answer.c).
 */
#ifndef SYSMONFWD_TRANSPORT_INT_H
#define SYSMONFWD_TRANSPORT_INT_H

#include "transport.h"

#define PRIO_ALERTS_MAX	32	/* alerts waiting; then the oldest goes */
#define PRIO_RETRY_MS	2000	/* a failed heartbeat or alert: again */

/* The priority lane: heartbeats and alerts, ahead of every batch. */
struct transport_prio {
	char		*hb;		/* the latest heartbeat not yet sent */
	size_t		 hblen;
	char		*alerts[PRIO_ALERTS_MAX];
	size_t		 alen[PRIO_ALERTS_MAX];
	size_t		 ahead, acount;
	char		*cur;		/* the document out now */
	size_t		 curlen;
	bool		 cur_alert;
	bool		 inflight;
	bool		 down;		/* the last try got no answer */
	int64_t		 retry_at;
	int64_t		 last_attempt;
};

/* UNREACHABLE: retry, and no answer came at all (the destination is
 * down: batches wait for the lane, see transport_prio_gate()). */
enum prio_result { PRIO_OK, PRIO_RETRY, PRIO_UNREACHABLE, PRIO_REFUSED };

struct transport_ops {
	bool	(*ready)(const struct transport_output *t, int64_t now);
	int	(*submit)(struct transport_output *t, struct transport_batch *b,
		    int64_t now);
	int64_t	(*tick)(struct transport_output *t, int64_t now);
	bool	(*idle)(const struct transport_output *t);
	void	(*reopen)(struct transport_output *t);
	int	(*flush)(struct transport_output *t);
	void	(*close)(struct transport_output *t);
	/* Outputs that write at once (files): write one priority document
	 * now.  0, or -errno. */
	int	(*prio_now)(struct transport_output *t, const char *doc,
		    size_t len);
};

/* The part every output shares; each output's struct starts with it. */
struct transport_output {
	const struct transport_ops *ops;
	char			*name;
	uint64_t		 confirmed;
	bool			 rewind;
	struct transport_retry	 retry;
	int64_t			 backoff;	/* current step, ms */
	int64_t			 last_fail_log;
	struct transport_stats	 st;
	int			 dlq_fd;	/* dead letters, lazily opened */
	char			*dlq_path;
	struct transport_batch	*pool[2];	/* finished, kept for reuse */
	size_t			 npool;
	struct transport_prio	 prio;
};

/*
 * The priority lane, for outputs that send asynchronously.  take: the next
 * document to send (alerts first), or false when there is none or it is
 * not time yet; the output sends it and calls finish with the outcome.
 * gate: whether a batch may start now.  While the output is failing and
 * the lane holds a document whose last attempt failed too (or is out
 * now), no batch starts until the lane's attempt got through: once the
 * destination is back, the heartbeat is the first thing it receives, by
 * construction and not by timing.  Return the time to wait until (a
 * fallback: the lane's completion wakes the loop), or 0 to go on.
 */
bool	transport_prio_take(struct transport_output *t, int64_t now,
	    const char **doc, size_t *len, bool *alert);
void	transport_prio_finish(struct transport_output *t, int64_t now,
	    enum prio_result r, const char *why);
int64_t	transport_prio_gate(struct transport_output *t, int64_t now);
bool	transport_prio_pending(const struct transport_output *t);

/* Give a finished batch back to t's pool (or free it). */
void	transport_batch_recycle(struct transport_output *t,
	    struct transport_batch *b);

int	transport_base_init(struct transport_output *t,
	    const struct transport_ops *ops, const char *name,
	    const struct transport_retry *retry, const char *deadletter_dir);
void	transport_base_free(struct transport_output *t);
/* The next wait after a failure: capped exponential, full jitter. */
int64_t	transport_backoff_next(struct transport_output *t);
void	transport_backoff_reset(struct transport_output *t);
struct http_response;
/*
 * The wait after a failed request: the server's Retry-After when r has one
 * (honoured up to retry.after_max_ms; a longer one is capped and logged),
 * else the next backoff step.  *how gets words for the log ("" for a
 * backoff step).  r may be NULL.
 */
int64_t	transport_retry_wait(struct transport_output *t,
	    const struct http_response *r, const char **how);
/* Note a failure (message kept for stats; logged at most once a minute
 * unless `always`).  Returns true when it was logged. */
bool	transport_failed(struct transport_output *t, int64_t now,
	    bool always, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
void	transport_recovered(struct transport_output *t);
/*
 * Append one dead letter: {"time", "output", "seq", "reason", "status",
 * "code", "record": <rendered record, embedded when it is JSON>}.
 */
void	transport_dead_letter(struct transport_output *t, uint64_t seq,
	    const char *reason, long status, long code, const char *rec,
	    size_t len);
/* The same with more members: extra is `"name":value,...` (JSON) or NULL. */
void	transport_dead_letter_x(struct transport_output *t, uint64_t seq,
	    const char *reason, long status, long code, const char *extra,
	    const char *rec, size_t len);
int64_t	transport_mono_ms(void);

/*
 * A text composed in memory: a growable NUL-terminated string for the few
 * texts transport/ writes itself (a dead-letter line, a HEC ack poll's
 * body).  It stands where open_memstream() stood, which the Windows C
 * runtime does not have.  Start from { 0 }; the caller owns s and frees
 * it (free(), or keep it and set len to 0 to write again).  An allocation
 * that fails is sticky: oom is set, later appends do nothing, and the
 * caller checks once at the end, as with ferror() on a FILE.
 */
struct tbuf {
	char	*s;
	size_t	 len, cap;
	bool	 oom;
};

void	tbuf_add(struct tbuf *b, const char *p, size_t n);
void	tbuf_printf(struct tbuf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* s (n bytes) as a JSON string, quotes included; bytes < 0x20, '"' and
 * '\\' escaped, the rest as they are (records here are UTF-8 already). */
void	tbuf_json_str(struct tbuf *b, const char *s, size_t n);

/* "Authorization: SCHEME base64(USER:SECRET)" (user NULL: of SECRET
 * alone), or NULL (no memory).  The copies made on the way are wiped; the
 * caller wipes and frees the header. */
char	*transport_auth_header(const char *scheme, const char *user,
	    const char *secret);
/* Wipe and free a secret (a header holding one); NULL is a no-op. */
void	transport_free_secret(char *s);

/* ---- HTTP client (http.c) ------------------------------------------------ */

struct http_client;

#define HTTP_BODY_MAX	(64u << 10)	/* response bytes kept */

struct http_response {
	long		 status;	/* 0: no answer */
	int		 curl_code;
	char		 error[384];	/* plain words when status is 0 */
	const char	*body;		/* NUL-terminated, may be cut */
	size_t		 body_len;
	int64_t		 retry_after_ms; /* -1: none */
	bool		 tls_error;	/* certificate, host name, pin, ... */
	bool		 body_cut;	/* longer than the client keeps */
};

typedef void (*http_done_fn)(void *arg, const struct http_response *r);

int	http_client_new(struct transport_loop *l, const char *name,
	    const struct transport_tls *tls, int64_t timeout_ms,
	    struct http_client **out) __attribute__((warn_unused_result));
void	http_client_free(struct http_client *c);
/* Keep up to max bytes of each answer (default HTTP_BODY_MAX). */
void	http_client_set_body_max(struct http_client *c, size_t max);
bool	http_busy(const struct http_client *c);
/*
 * Start one request.  headers is NULL-terminated ("Name: value").  body
 * (len bytes) must stay valid until done() is called from
 * transport_loop_wait()/run().  0 or -errno.
 */
int	http_start(struct http_client *c, const char *method, const char *url,
	    const char *const *headers, const void *body, size_t len,
	    http_done_fn done, void *arg) __attribute__((warn_unused_result));
/* Abandon the request in flight (done() is not called). */
void	http_cancel(struct http_client *c);

/* gzip len bytes of in into out (replacing it).  0 or -errno. */
int	gzip_buf(const void *in, size_t len, char **out, size_t *outlen,
	    size_t *outcap) __attribute__((warn_unused_result));

/* ---- byte streams over curl (http.c) ---------------------------------------
 * A TCP connection, or a TLS one, for protocols that are not HTTP (the
 * Wazuh agent protocol): curl connects it (its resolver, timeouts and TLS
 * settings, CURLOPT_CONNECT_ONLY) and then only carries bytes
 * (curl_easy_send/recv).  Its socket joins the loop's wait, so nothing
 * blocks and nothing polls.  fn is called from transport_loop_wait() and
 * transport_loop_run(): STREAM_CONNECTED once, then STREAM_READABLE and
 * STREAM_WRITABLE (only while stream_want_write() asked for it) as the
 * socket says, or STREAM_FAILED once (stream_error() says why); the
 * stream may be closed from fn. */
struct http_stream;
enum stream_event { STREAM_CONNECTED, STREAM_READABLE, STREAM_WRITABLE,
	STREAM_FAILED };
typedef void (*stream_fn)(void *arg, struct http_stream *s,
    enum stream_event ev);
/* host (a name or an address), port; tls NULL: plain TCP. */
int	stream_open(struct transport_loop *l, const char *name,
	    const char *host, int port, const struct transport_tls *tls,
	    int64_t connect_timeout_ms, stream_fn fn, void *arg,
	    struct http_stream **out) __attribute__((warn_unused_result));
/* 0 (*done bytes taken, maybe fewer than len), -EAGAIN, or -EPIPE. */
int	stream_send(struct http_stream *s, const void *p, size_t len,
	    size_t *done);
/* 0 (*got > 0), -EAGAIN, -EPIPE (closed by the peer or broken). */
int	stream_recv(struct http_stream *s, void *p, size_t cap, size_t *got);
void	stream_want_write(struct http_stream *s, bool want);
const char *stream_error(const struct http_stream *s);
/* The local address of a connected stream ("" when unknown). */
const char *stream_local_ip(const struct http_stream *s);
/* "host:port", for messages. */
const char *stream_peer(const struct http_stream *s);
/* Close and free s (NULL: no-op).  Safe from its own fn. */
void	stream_close(struct http_stream *s);

/* ---- the delivery invariant (delivery.c) ---------------------------------
 * The HTTPS outputs (HEC, Elasticsearch, Wazuh) share one machinery: a
 * queue of batches taken from the agent, the choice of the records of
 * each request, what to do with an answer, retries, dead letters, and
 * the one number the agent sees, base.confirmed: every record up to it
 * is done with (delivered, or dead-lettered and counted).  It never
 * passes a record the destination did not confirm, and never moves back.
 * Each output keeps only its protocol, in a struct delivery_ops: how to
 * send the chosen records and how to read what the answer says of each.
 * An output's struct starts with a struct delivery (which starts with
 * the struct transport_output). */

#define DL_SLOTS_MAX	16	/* batches taken, not yet done with */

/* What an answer says of one record of the request. */
enum dl_outcome {
	DL_RETRY,	/* not known taken: sent again, after a backoff */
	DL_DELIVERED,
	DL_DUPLICATE,	/* the destination had it already: delivered */
	DL_DEAD_LETTER,	/* refused for good: to the dead letters */
	DL_ACCEPTED,	/* taken, but done only once acknowledged
			   (delivery_acked()); sent again after
			   ack_timeout_ms without it */
};

/* What an answer says of the whole request, first from its HTTP status
 * (delivery_classify()); the output may say otherwise. */
enum dl_class {
	DL_ANSWERED,	/* 2xx: the output marked each record */
	DL_TRY_AGAIN,	/* 0 (no answer), 408, 429, 5xx: later */
	DL_AUTH,	/* 401, 403: later, as TRY_AGAIN without failover */
	DL_TOO_LARGE,	/* 413: halve the request; one record: refused */
	DL_REFUSED,	/* other answers: every record refused for good */
	DL_HANDLED,	/* the output did all there is to do */
};

/* Requests on the output's connection; outputs number theirs from
 * DL_REQ_OWN. */
enum { DL_REQ_NONE, DL_REQ_SEND, DL_REQ_ACK, DL_REQ_OWN };

/* Why a record is refused, for its dead letter. */
struct dl_reason {
	long		 status;
	long		 code;		/* the destination's own, 0: none */
	const char	*type;		/* Elasticsearch's error type, or "" */
	const char	*why;
};

struct dl_verdict {
	enum dl_class	 cls;
	bool		 failover;	/* TRY_AGAIN from the status: another
					   URL may be tried at once */
	bool		 quiet;		/* REFUSED: the output said it */
	const char	*why;		/* the answer in words (whybuf) */
	char		 whybuf[700];
	struct dl_reason dl;		/* for the next DL_DEAD_LETTER, and
					   for every record on DL_REFUSED */
	char		 first[700];	/* the first refusal, for the log */
	int64_t		 at_least;	/* TRY_AGAIN: the least wait, ms */
	int64_t		 ack_id;	/* for DL_ACCEPTED */
	int64_t		 now;
	size_t		 nrefused, ndup;
};

struct delivery;

struct delivery_ops {
	const char	*unit;		/* "documents", "events": for logs */
	const char	*refused;	/* "refused for good" and the like */
	const char	*not_taken;	/* "rejected for now" and the like */
	const char	*too_large;	/* a hint after "request too large" */
	struct dl_reason one_too_large;	/* 413 for one record alone */
	size_t		 request_max;	/* records per request, 0: no cap */
	/* Start the request for the records d->sent[0 .. d->nsent) of b
	 * (delivery_post()).  0 or -errno. */
	int	(*send)(struct delivery *d, const struct transport_batch *b);
	/* Read the answer to it: v->cls and v->why are preset; mark the
	 * records (delivery_mark()) and change v->cls as the answer says. */
	void	(*answer)(struct delivery *d, const struct http_response *r,
		    int64_t now, struct dl_verdict *v);
	/* Optional, the rest. */
	/* Write record i of b to the dead letters (default:
	 * transport_dead_letter() of the record as it is). */
	void	(*dead_letter)(struct delivery *d,
		    const struct transport_batch *b, size_t i,
		    const struct dl_reason *why);
	/* "STATUS words" of an error answer, for logs (default: the status;
	 * an answer of status 0 is always its error). */
	void	(*describe)(long status, const char *body, size_t len,
		    char *out, size_t outlen);
	/* A request will be retried: true to retry at once (URL failover;
	 * failover says whether the status allows it). */
	bool	(*retrying)(struct delivery *d, int64_t now,
		    const struct http_response *r, const char *what,
		    bool failover);
	/* Before a batch: start another request (login, info, template,
	 * health) or wait (*wake).  true: stop here. */
	bool	(*prepare)(struct delivery *d, int64_t now, bool pending,
		    int64_t *wake);
	/* Requests to the destination are paced: when may one start? */
	int64_t	(*pace)(struct delivery *d, int64_t now);
	/* The answer to a request of the output's own (DL_REQ_OWN...). */
	void	(*done)(struct delivery *d, int req,
		    const struct http_response *r, int64_t now);
	/* Indexer acknowledgement (d->ack): ask about
	 * d->acks[0 .. d->nacks) (DL_REQ_ACK); read the answer (status 200)
	 * and call delivery_acked() for each id it confirms. */
	int	(*ack_poll)(struct delivery *d);
	void	(*ack_answer)(struct delivery *d,
		    const struct http_response *r);
	/* The priority lane: may a document go now (default: yes)?  Start
	 * it (delivery_prio_http()), and read its answer. */
	bool	(*prio_may)(struct delivery *d, int64_t now);
	int	(*prio_send)(struct delivery *d, const char *doc, size_t len);
	enum prio_result (*prio_answer)(struct delivery *d,
		    const struct http_response *r, int64_t now, char *why,
		    size_t whylen);
	/* A batch was taken; the output's own teardown. */
	void	(*submitted)(struct delivery *d,
		    const struct transport_batch *b);
	void	(*free)(struct delivery *d);
};

struct dl_slot {
	struct transport_batch	*b;
	size_t			 from;	/* first record not done with */
	unsigned char		*state;	/* per record (delivery.c) */
	unsigned char		*tries;	/* per record: answers not taking it */
	int64_t			*ack;	/* per record accepted: its ackId */
	size_t			 npending; /* records to send */
	size_t			 limit;	/* records per request, 0: all (a
					   413 halves it) */
};

struct dl_ack {
	int64_t		 id;
	int64_t		 sent_ms;
	size_t		 n;		/* records it stands for */
};

struct delivery {
	struct transport_output	 base;
	const struct delivery_ops *ops;
	struct transport_loop	*loop;
	struct transport_http	 o;		/* connection, retries */
	struct http_client	*http;		/* batches and the rest */
	struct http_client	*prio_http;	/* heartbeats, alerts */
	struct dl_slot		 q[DL_SLOTS_MAX];
	size_t			 head, count;
	size_t			 slots;		/* taken at most (default 2) */
	size_t			 ready_slots;	/* ready below (default 2) */
	int			 req;		/* out now, DL_REQ_NONE: none */
	size_t			 req_slot;
	size_t			*sent;		/* record indices of the request */
	size_t			 nsent, sentcap;
	char			*body;		/* a request body built */
	size_t			 bodylen, bodycap;
	char			*gz;
	size_t			 gzlen, gzcap;
	int64_t			 retry_at;
	bool			 ack;		/* indexer acknowledgement */
	int64_t			 ack_timeout_ms;
	int64_t			 ack_poll_ms;
	int64_t			 next_ack_poll;
	struct dl_ack		*acks;		/* awaited, oldest first */
	size_t			 nacks, ackcap;
};

/* l NULL: no connection (tests).  tls is copied (not its strings). */
int	delivery_init(struct delivery *d, const struct delivery_ops *ops,
	    struct transport_loop *l, const char *name,
	    const struct transport_http *http, const char *deadletter_dir)
	    __attribute__((warn_unused_result));
/* Abandon what is in flight and free d and the output it starts. */
void	delivery_free(struct delivery *d);
enum dl_class delivery_classify(long status);
/* An answer in words, for logs (ops->describe). */
void	delivery_describe(const struct delivery *d,
	    const struct http_response *r, char *out, size_t outlen);
/* Start a request on d->http; its answer comes to delivery_done(). */
int	delivery_http(struct delivery *d, int req, const char *method,
	    const char *url, const char *const *headers, const void *body,
	    size_t len) __attribute__((warn_unused_result));
/* The http_done_fn of d's requests. */
void	delivery_done(void *arg, const struct http_response *r);
/*
 * POST the records sent to url: each after frame[0] for the first and
 * frame[1] for the others, then frame[2] (frame NULL: back to back, a
 * slice of the batch when they are), gzip'd when gzip says (with its
 * header), with the output's nheaders headers (at most 6; NULL ones
 * are left out).  0 or -errno.
 */
int	delivery_post(struct delivery *d, const struct transport_batch *b,
	    const char *url, const char *const *frame, bool gzip,
	    const char *const *headers, size_t nheaders)
	    __attribute__((warn_unused_result));
/* Where record i is in its batch. */
void	delivery_span(const struct transport_batch *b, size_t i,
	    size_t *start, size_t *len);
/* What the answer says of record k of the request (one not marked is
 * DL_RETRY). */
void	delivery_mark(struct delivery *d, struct dl_verdict *v, size_t k,
	    enum dl_outcome o);
/* How many answers did not take record k yet (the output counts). */
unsigned char *delivery_tries(struct delivery *d, size_t k);
/* The destination confirms ackId id: its records are delivered. */
void	delivery_acked(struct delivery *d, int64_t id);
/* Retry later: after the next backoff (at least at_least ms), or at
 * once when ops->retrying says so. */
void	delivery_retry_later(struct delivery *d, int64_t now,
	    const struct http_response *r, const char *what, int64_t at_least,
	    bool failover);
/* Start the priority lane's document on d->prio_http. */
int	delivery_prio_http(struct delivery *d, const char *url,
	    const char *const *headers, const void *body, size_t len)
	    __attribute__((warn_unused_result));
/* The lane's usual reading of an HTTP status other than success. */
enum prio_result delivery_prio_status(long status);

/* ---- what the answers say (answer.c) -------------------------------------
 * Pure functions: len bytes of an answer body (not necessarily
 * NUL-terminated; NULL when none) in, a verdict out; no I/O, no logging.
 * The outputs act on the verdicts; tests/fuzz/fuzz_answer_*.c fuzz them.
 * An answer that cannot be read never makes a record delivered. */

/* Elasticsearch: the fate of document k of a bulk request. */
enum es_item_result { ES_ITEM_DELIVERED, ES_ITEM_DUPLICATE, ES_ITEM_RETRY,
	ES_ITEM_REFUSED };
struct es_item {
	enum es_item_result result;
	long		 status;	/* the item's, 0 when none (or all
					   delivered by "errors":false) */
	const char	*type, *why;	/* ES_ITEM_REFUSED: the error's type
					   ("" when none) and reason; valid
					   during the call only */
};
typedef void (*es_item_fn)(void *arg, size_t k, const struct es_item *it);
/*
 * The 200 answer to a bulk request of n documents.  false: it does not
 * say what happened to each document (fn is not called; send them
 * again).  true: fn was called once for each k = 0 .. n-1, in order.
 */
bool	es_bulk_answer(const char *body, size_t len, size_t n,
	    es_item_fn fn, void *arg);
/* The priority lane's one-document bulk answer (HTTP 200); *item_status
 * is the item's status or 0. */
enum prio_result es_prio_answer(const char *body, size_t len,
	    long *item_status);
/* "HTTP STATUS type: reason" of an error answer, for logs. */
void	es_answer_describe(long status, const char *body, size_t len,
	    char *out, size_t outlen);

/* Splunk HEC: the event endpoint's answer. */
#define HEC_CODE_BAD	(-2)	/* "code" present but not a valid code */
struct hec_answer {
	bool		 json;		/* the body is a JSON object */
	long		 code;		/* -1: none */
	char		 text[128];	/* "" when none */
	long		 inv;		/* invalid-event-number, -1: none */
	int64_t		 ack_id;	/* ackId, -1: none */
};
void	hec_answer_parse(const char *body, size_t len, struct hec_answer *a);
/* Did the server take every event (HTTP 200, code 0 or none)? */
bool	hec_answer_ok(long status, const struct hec_answer *a);
/* Is a failure with this HTTP status and HEC code worth sending again?
 * (A 200 that is not hec_answer_ok() always is.) */
bool	hec_code_retryable(long status, long code);
/* The ack endpoint's answer {"acks":{"ID":true,...}}: fn(arg, id) for
 * each id reported true.  0, or -1 when it is not JSON. */
int	hec_acks_parse(const char *body, size_t len,
	    void (*fn)(void *arg, int64_t id), void *arg);

/* Wazuh. */
#define WZ_EVENTS_MAX	100		/* events per POST /events */
#define WZ_JWT_LIFE_MAX	(366 * 86400)	/* seconds; longer is capped */
struct wz_item {
	bool		 failed;	/* named in failed_items */
	bool		 uncertain;	/* not named, but some failed ids
					   match no event: it may have
					   failed (the manager changed its
					   text) */
	long		 code;		/* its Wazuh error code, 0: none */
	const char	*why;		/* "Wazuh error CODE: message" */
};
/*
 * The 200 answer to POST /events of n events (at most WZ_EVENTS_MAX).
 * text(arg, k) returns the text of event k (malloc'd; NULL when it cannot
 * be had, e.g. no memory: then the answer cannot be read now), asked only
 * when failed items must be matched.  false: the answer does not say
 * which events were taken (fn not called).  true: fn was called once for
 * each k = 0 .. n-1, in order, and *unmatched (when not NULL) got the
 * number of failed ids that match no event sent.
 */
bool	wz_events_answer(const char *body, size_t len, size_t n,
	    char *(*text)(void *arg, size_t k),
	    void (*fn)(void *arg, size_t k, const struct wz_item *it),
	    void *arg,
	    size_t *unmatched);
enum prio_result wz_prio_answer(const char *body, size_t len);
/* "HTTP STATUS title: detail" of an error answer, for logs. */
void	wz_answer_describe(long status, const char *body, size_t len,
	    char *out, size_t outlen);
/* The token of a login answer (malloc'd; the caller wipes and frees it),
 * or NULL when it holds none usable in a header. */
char	*wz_login_token(const char *body, size_t len);
/* Seconds a JWT lives (exp - iat, or exp - nbf; at most
 * WZ_JWT_LIFE_MAX), or -1. */
int64_t	wz_jwt_lifetime(const char *tok);

#endif
