/*
 * transport.h - where rendered batches go: the local outputs (file,
 * stdout) and the HTTPS outputs (Splunk HEC, Elasticsearch, Wazuh),
 * behind one asynchronous interface.
 *
 * The agent reads records from its ring cursor, renders each into the
 * output's wire form and hands the output a batch (transport_submit()).
 * The output sends it when it can, retries passing failures with capped
 * exponential backoff and full jitter (or as Retry-After says), writes
 * records the destination refuses for good to a dead-letter file, and
 * reports back one number: every record up to transport_confirmed() is
 * done with (delivered, or dead-lettered and counted), so the agent may
 * acknowledge the ring up to there.  Nothing is confirmed before the
 * destination confirmed it.
 *
 * HTTP goes through libcurl's multi interface (transport/http.c is the
 * only file that includes curl.h): transfers never block the event loop,
 * which waits in transport_loop_wait() on curl's sockets and its own fds.
 * The Wazuh agent protocol's TCP and TLS connections go through curl too
 * (connect only, then bytes: http.c's streams).
 * Single owner: the agent's event loop.  Not thread-safe.
 */
#ifndef SYSMONFWD_TRANSPORT_H
#define SYSMONFWD_TRANSPORT_H

#ifdef _WIN32
struct pollfd;		/* transport_loop_wait() takes none on Windows */
#else
#include <poll.h>
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct transport_loop;
struct transport_output;

/* ---- batches -------------------------------------------------------------- */

/*
 * A batch: the rendered records back to back in body, record i ending at
 * ends[i] (exclusive) and carrying ring sequence number seqs[i].  For NDJSON
 * outputs each record includes its newline.  Filled by the agent with
 * transport_batch_add(); owned by the output after transport_submit().
 */
struct transport_batch {
	char		*body;
	size_t		 len, cap;
	size_t		*ends;
	uint64_t	*seqs;
	size_t		 n, ncap;
	uint64_t	 first_seq, last_seq;
};

/*
 * A new, empty batch for output t: one of the few t keeps from batches it
 * finished (their buffers already grown), or a fresh one when t is NULL or
 * has none.  NULL when out of memory.
 */
struct transport_batch *transport_batch_new(struct transport_output *t);
void	transport_batch_free(struct transport_batch *b);
void	transport_batch_reset(struct transport_batch *b);
/* Append one rendered record.  0 or -ENOMEM. */
int	transport_batch_add(struct transport_batch *b, const char *p,
	    size_t len, uint64_t seq) __attribute__((warn_unused_result));

/* ---- the event loop's waiting ---------------------------------------------- */

int	transport_loop_new(struct transport_loop **out)
	    __attribute__((warn_unused_result));
void	transport_loop_free(struct transport_loop *l);
/*
 * Wait up to timeout_ms for curl's sockets or for one of the extra fds
 * (their revents are filled in), then move every transfer forward and run
 * the completions.  Return the number of extra fds ready, or -errno.
 */
int	transport_loop_wait(struct transport_loop *l, struct pollfd *extra,
	    size_t nextra, int timeout_ms);
/* Move transfers forward without waiting (after other work). */
void	transport_loop_run(struct transport_loop *l);
#ifdef _WIN32
/*
 * Windows (agent/evloop_win.c): transport_loop_wait() takes no extra fds
 * (nextra 0) and sleeps in curl_multi_poll(); it needs an HTTP output
 * opened (-EINVAL otherwise), which transport_loop_active() tells.
 * transport_loop_wakeup(), from any thread, ends that sleep early
 * (curl_multi_wakeup(); a wake-up sent before the sleep ends the next).
 */
bool	transport_loop_active(const struct transport_loop *l);
void	transport_loop_wakeup(struct transport_loop *l);
#endif

/* ---- outputs ------------------------------------------------------------------ */

struct transport_tls {
	const char	*ca_file;	/* NULL: the system store */
	const char	*ca_path;
	const char	*client_cert;	/* mutual TLS, with client_key */
	const char	*client_key;
	const char	*pinned_pubkey;	/* "sha256//..." as curl takes it */
	const char	*proxy;
	int		 min_version;	/* 12 or 13 */
	bool		 verify;	/* false: labs only (warned) */
};

struct transport_retry {
	int64_t		initial_ms;
	int64_t		max_ms;
	int64_t		after_max_ms;	/* a server's Retry-After, capped */
};

/* What every HTTPS output takes: the connection and the pace of retries. */
struct transport_http {
	int64_t			 timeout_ms;	/* per request */
	bool			 gzip;		/* compress request bodies */
	struct transport_tls	 tls;
	struct transport_retry	 retry;
};

enum transport_hec_format {
	TRANSPORT_HEC_XML = 0,
	TRANSPORT_HEC_JSON,
};

struct transport_hec_opts {
	const char		*url;		/* https://host:8088 */
	const char		*token;		/* never logged */
	bool			 ack;
	int64_t			 ack_timeout_ms;
	int64_t			 ack_poll_ms;
	struct transport_http	 http;
};

struct transport_es_opts {
	const char		*urls;		/* comma-separated; failover */
	const char		*api_key;	/* "id:key" or encoded; secret */
	const char		*user;		/* basic, with password */
	const char		*password;	/* secret */
	const char		*pipeline;	/* ?pipeline= override, or NULL */
	struct transport_http	 http;
};

/*
 * Open an Elasticsearch (or OpenSearch) bulk output.  Batches hold bulk
 * items: a "create" action line with _index and _id, then the document,
 * each line ending with a newline.  Items refused for good go to
 * deadletter_dir/NAME.ndjson with the server's error.  0 or -errno.
 */
int	transport_es_open(struct transport_loop *l, const char *name,
	    const struct transport_es_opts *o, const char *deadletter_dir,
	    struct transport_output **out)
	    __attribute__((warn_unused_result));

struct transport_wazuh_opts {
	const char		*url;		/* https://manager:55000 */
	const char		*user;
	const char		*password;	/* secret */
	int			 requests_per_minute; /* to /events */
	struct transport_http	 http;		/* gzip: not taken by
						   the manager, ignored */
};

/*
 * Open a Wazuh server API output (POST /events, Wazuh 4.6 to 4.14).
 * Batches hold JSON strings, one per event (render_wazuh()).  0 or
 * -errno.
 */
int	transport_wazuh_open(struct transport_loop *l, const char *name,
	    const struct transport_wazuh_opts *o, const char *deadletter_dir,
	    struct transport_output **out)
	    __attribute__((warn_unused_result));

struct transport_wazuh_agent_opts {
	const char		*managers;	/* comma-separated: failover */
	int			 port;		/* remoted, 1514 */
	int			 enrollment_port; /* authd, 1515 */
	const char		*password;	/* authd.pass; secret; or NULL */
	const char		*ca_file;	/* verify authd with it, or NULL:
						   not verified (as the Wazuh
						   agent without server_ca_path) */
	const char		*agent_name;
	const char		*agent_groups;	/* or NULL */
	const char		*agent_version;	/* "v4.0.0" */
	const char		*state_dir;	/* keys, counters: state_dir/wazuh */
	int64_t			 keepalive_ms;
	int64_t			 timeout_ms;	/* an ack, at most this late */
	uint32_t		 max_eps;	/* events per second */
	struct transport_retry	 retry;
};

/*
 * Open an output speaking the Wazuh agent protocol (enrollment with authd,
 * encrypted messages to remoted: output_wazuh_agent.c).  Batches hold
 * "QUEUE:LOCATION:MESSAGE" strings back to back (render_wazuh_agent()),
 * one message each.  0 or -errno.
 */
int	transport_wazuh_agent_open(struct transport_loop *l, const char *name,
	    const struct transport_wazuh_agent_opts *o,
	    const char *deadletter_dir, struct transport_output **out)
	    __attribute__((warn_unused_result));

/*
 * Open a local NDJSON output named name: the file at path (created with
 * mode 0640 and appended to) or, when path is NULL, standard output.
 * Store it in *out and return 0, or -ENOMEM.  A file that cannot be
 * opened yet is not an error: it is logged, and every send tries again,
 * like a destination that is down.
 */
int	transport_file_open(const char *name, const char *path,
	    const struct transport_retry *retry, struct transport_output **out)
	    __attribute__((warn_unused_result));

/*
 * Open a Splunk HTTP Event Collector output.  Batches hold concatenated
 * HEC event objects.  deadletter_dir receives NAME.ndjson with refused
 * records.  Never fails because the server is down: it reports and
 * retries.  0 or -errno (bad options, logged).
 */
int	transport_hec_open(struct transport_loop *l, const char *name,
	    const struct transport_hec_opts *o, const char *deadletter_dir,
	    struct transport_output **out)
	    __attribute__((warn_unused_result));

/* Close and free t (in-flight transfers are abandoned); NULL is a no-op. */
void	transport_close(struct transport_output *t);

/* Can t take another batch now? */
bool	transport_ready(const struct transport_output *t, int64_t now_ms);
/*
 * Hand batch b to t.  0: t owns b from now on.  -errno (-ENOBUFS: no room
 * now, -ENOMEM): b is still the caller's, untouched, and its records were
 * not sent; the caller keeps it and submits it again later.
 */
int	transport_submit(struct transport_output *t, struct transport_batch *b,
	    int64_t now_ms) __attribute__((warn_unused_result));
/* Timers: retries, acknowledgement polls.  Return when to call again. */
int64_t	transport_tick(struct transport_output *t, int64_t now_ms);
/* Every record up to this sequence number is done with (0: none yet). */
uint64_t transport_confirmed(const struct transport_output *t);
/*
 * Has t given up batches it had (after an acknowledgement timeout) so that
 * the agent must read again from the first unconfirmed record?  Clears
 * the flag.
 */
bool	transport_take_rewind(struct transport_output *t);
/* Nothing submitted is still waiting. */
bool	transport_idle(const struct transport_output *t);
enum transport_prio_kind {
	TRANSPORT_HEARTBEAT,	/* replaced by the next one if not sent */
	TRANSPORT_ALERT,	/* kept until delivered (up to 32 waiting) */
};

/*
 * Send doc (rendered in t's wire form: a line for files, an HEC event, a
 * bulk item, a Wazuh event string) on the priority lane: ahead of every
 * batch, on a connection of its own, never stored in the ring.  0 or
 * -ENOMEM.
 */
int	transport_send_priority(struct transport_output *t,
	    enum transport_prio_kind kind, const char *doc, size_t len,
	    int64_t now_ms) __attribute__((warn_unused_result));

/* Reopen files (SIGHUP). */
void	transport_reopen(struct transport_output *t);
/* Make delivered data durable (fsync a file); at shutdown. */
int	transport_flush(struct transport_output *t)
	    __attribute__((warn_unused_result));

struct transport_stats {
	uint64_t	delivered;	/* records confirmed by the destination */
	uint64_t	dead_lettered;	/* refused for good, in the dead letters */
	uint64_t	duplicates;	/* the destination had them already
					   (Elasticsearch 409: delivered) */
	uint64_t	retries;	/* failed attempts retried */
	uint64_t	heartbeats_sent;
	uint64_t	heartbeats_failed; /* replaced or refused */
	uint64_t	alerts_sent;
	uint64_t	alerts_dropped;	/* refused, or too many waiting */
	uint64_t	alerts_pending;	/* waiting or in flight now */
	uint64_t	requests;
	int64_t		failing_since_ms; /* 0: ok */
	char		last_error[256];
};

void	transport_get_stats(const struct transport_output *t,
	    struct transport_stats *st);
const char *transport_name(const struct transport_output *t);

#endif
