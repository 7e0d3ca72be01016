/*
 * agent_int.h - interfaces private to agent/: sources and state files.
 */
#ifndef SYSMONFWD_AGENT_INT_H
#define SYSMONFWD_AGENT_INT_H

#include "agent.h"

/*
 * A source: each type's struct starts with struct source, whose ops the
 * functions below call.  Types: file (source_file.c), and the event-log
 * subscribers of their own files.
 */
struct source;

struct source_stats {
	uint64_t	records;	/* appended to the buffer */
	uint64_t	ignored;	/* non-record lines not forwarded */
	uint64_t	truncated;	/* records cut at max_line_size */
	uint64_t	bytes;		/* bytes consumed */
};

struct source_ops {
	const char *(*name)(const struct source *s);
	ssize_t	(*poll)(struct source *s, struct buffer *b, size_t budget);
	int	(*wait_fd)(const struct source *s);
	int64_t	(*next_poll)(const struct source *s, int64_t now_ms);
	bool	(*at_end)(const struct source *s);
	bool	(*finished)(const struct source *s);
	void	(*checkpoint)(struct source *s, uint64_t durable_seq,
		    bool force);
	void	(*get_stats)(const struct source *s, struct source_stats *st);
	void	(*close)(struct source *s, const struct buffer *b);
};

struct source {
	const struct source_ops *ops;
};

/*
 * Open the source of input cfg (any type), resuming from its saved
 * position: the furthest of its position file under state_dir and the
 * checkpoint the ring b holds for it (b may be NULL).  Store it in *out
 * and return 0, or return -errno after logging why.  cfg must outlive the
 * source.
 */
int	source_open(const struct config_input *cfg, const char *state_dir,
	    const struct buffer *b, struct source **out)
	    __attribute__((warn_unused_result));
int	source_file_open(const struct config_input *cfg, const char *state_dir,
	    const struct buffer *b, struct source **out)
	    __attribute__((warn_unused_result));
int	source_journald_open(const struct config_input *cfg,
	    const char *state_dir, const struct buffer *b, struct source **out)
	    __attribute__((warn_unused_result));
int	source_evtx_open(const struct config_input *cfg, const char *state_dir,
	    const struct buffer *b, struct source **out)
	    __attribute__((warn_unused_result));
#ifdef _WIN32
int	source_eventlog_open(const struct config_input *cfg,
	    const char *state_dir, const struct buffer *b, struct source **out)
	    __attribute__((warn_unused_result));
#endif

/*
 * Helpers for sources that keep a position as text (a journal cursor, a
 * file and record number, a bookmark): remember which position is safe
 * once which ring sequence number is durable, and save the newest safe
 * one to state_dir/positions/NAME.pos (atomically, at most once a second
 * unless forced).
 */
#define SOURCE_POS_MAX	4096

struct source_pos {
	char		*path;		/* the position file */
	char		 committed[SOURCE_POS_MAX]; /* durable position */
	char		 saved[SOURCE_POS_MAX];	/* what the file holds */
	struct {
		uint64_t	 seq;
		char		*pos;
	}		 pending[64];
	size_t		 npending;
	int64_t		 last_save_ms;
	bool		 warned;
	const char	*name;		/* the input, for messages */
};

/* Set up p for input name; load the saved position into pos (size
 * SOURCE_POS_MAX; "" when none).  0 or -errno. */
int	source_pos_init(struct source_pos *p, const char *state_dir,
	    const char *name, char *pos) __attribute__((warn_unused_result));
/* pos is safe once seq is durable. */
void	source_pos_note(struct source_pos *p, uint64_t seq, const char *pos);
/* Advance to what durable_seq covers and save it when due. */
void	source_pos_commit(struct source_pos *p, uint64_t durable_seq,
	    bool force);
void	source_pos_free(struct source_pos *p);
/* Save the position (when durable) and release s.  NULL is a no-op. */
void	source_close(struct source *s, const struct buffer *b);

/*
 * Read what is available now (at most about `budget` bytes) and append
 * its records to b.  Stops early when b cannot take a record of the
 * largest size.  Return the number of bytes consumed, or -errno on an
 * error that ends this source (logged).
 */
ssize_t	source_poll(struct source *s, struct buffer *b, size_t budget);
/* The fd to wait on for readability, or -1 when the source is polled by
 * time (regular files). */
int	source_wait_fd(const struct source *s);
/* When the source wants source_poll() next (monotonic ms), or -1: "as
 * soon as possible" when it has not reached its end. */
int64_t	source_next_poll(const struct source *s, int64_t now_ms);
/* At the current end of the input (nothing to read right now). */
bool	source_at_end(const struct source *s);
/* Will never produce more records (non-follow file or stdin at EOF). */
bool	source_finished(const struct source *s);
/* Advance the saved position to cover records up to durable_seq; write
 * the position file if it changed and `force` or a second has passed. */
void	source_checkpoint(struct source *s, uint64_t durable_seq, bool force);
void	source_get_stats(const struct source *s, struct source_stats *st);
const char *source_name(const struct source *s);

/*
 * Replace path's contents atomically with len bytes of data: write a
 * temporary file beside it, fsync it, rename it over path, fsync the
 * directory.  mode is the new file's permission bits.  Return 0 or -errno.
 */
int	state_write_atomic(const char *path, const void *data, size_t len,
	    int mode) __attribute__((warn_unused_result));
/* mkdir -p with mode for the directories it creates.  Return 0 or -errno. */
int	state_mkdirs(const char *path, int mode)
	    __attribute__((warn_unused_result));
int64_t	mono_now_ms(void);

/* ---- status: what heartbeats, alerts and the monitor endpoint say ---- */

enum sysmon_state {
	SYSMON_UNKNOWN = 0,	/* not checked (yet), or cannot tell */
	SYSMON_RUNNING,
	SYSMON_STOPPED,
	SYSMON_NOT_INSTALLED,
};

/* "running", "stopped", "not_installed", "unknown". */
const char *sysmon_state_name(enum sysmon_state s);

struct status_source {
	const char	*name;
	uint64_t	 records;	/* appended to the ring since start */
	int64_t		 last_record_ms; /* wall clock; 0: none yet */
};

struct status_output {
	const char	*name;
	const char	*type;		/* "file", "elasticsearch", ... */
	bool		 ok;		/* not failing now */
	int64_t		 failing_since_ms; /* wall clock; 0: ok */
	char		 last_error[256];
	uint64_t	 backlog_records; /* in the ring, not acknowledged */
	uint64_t	 backlog_bytes;
	int64_t		 oldest_ms;	/* wall clock of the oldest of them */
	uint64_t	 delivered;
	uint64_t	 dead_lettered;
	uint64_t	 duplicates;
	uint64_t	 retries;
	uint64_t	 lost;		/* reported to it in gap documents */
	uint64_t	 heartbeats_sent;
	uint64_t	 heartbeats_failed;
	uint64_t	 alerts_sent;
};

struct agent_status {
	const char		*host;		/* this machine */
	const char		*agent_name;
	int64_t			 now_ms;	/* wall clock */
	int64_t			 started_ms;	/* wall clock */
	int64_t			 heartbeat_interval_ms;
	uint64_t		 heartbeat_seq;
	bool			 watchdog;	/* the watchdog is on */
	enum sysmon_state	 sysmon;
	const char		*sysmon_service;
	int64_t			 sysmon_since_ms; /* in this state since */
	int64_t			 sysmon_last_record_ms; /* 0: none */
	uint64_t		 records_read;
	uint64_t		 parse_errors;
	uint64_t		 truncated;
	uint64_t		 ignored;
	uint64_t		 dropped;	/* evicted, lost to I/O, corrupt */
	uint64_t		 rejected;	/* appends refused (ring full) */
	uint64_t		 dead_lettered;	/* all outputs */
	struct status_source	*sources;
	size_t			 nsources;
	struct status_output	*outputs;
	size_t			 noutputs;
};

/* ---- the Sysmon watchdog (watchdog.c) ---- */

struct watchdog;

int	watchdog_open(const struct config_watchdog *cfg, const char *state_dir,
	    struct watchdog **out) __attribute__((warn_unused_result));
void	watchdog_close(struct watchdog *w);
/*
 * Check Sysmon if a check is due.  Return true when there is something to
 * report: its state changed (the previous one in *prev), or the first
 * check found it stopped or not installed.
 */
bool	watchdog_check(struct watchdog *w, int64_t now_mono, int64_t now_wall,
	    enum sysmon_state *prev);
enum sysmon_state watchdog_state(const struct watchdog *w);
int64_t	watchdog_since_ms(const struct watchdog *w);	/* wall clock */
int64_t	watchdog_next(const struct watchdog *w);	/* monotonic */
const char *watchdog_service(const struct watchdog *w);

/* ---- heartbeat and alert documents (status.c) ---- */

enum status_kind {
	STATUS_HEARTBEAT,
	STATUS_STATE_CHANGED,	/* alert: sysmon-state-changed */
	STATUS_SILENT,		/* alert: sysmon-silent */
};

struct status_event {
	enum status_kind	 kind;
	enum sysmon_state	 state;
	enum sysmon_state	 previous;
	int64_t			 changed_ms;	/* wall clock */
	int64_t			 silent_ms;	/* STATUS_SILENT: for how long */
};

/*
 * The document of a heartbeat or an alert (no newline).  es_ns: add
 * data_stream.* for logs-sysmonfwd.{heartbeat,alert}-ES_NS.  wazuh: the
 * form {"sysmonfwd":{...}} with every member at one level.  0 or -errno.
 */
int	status_render_doc(const struct agent_status *st,
	    const struct status_event *ev, const char *es_ns, bool wazuh,
	    struct strbuf *out) __attribute__((warn_unused_result));

/* ---- the local monitor endpoint (monitor.c, libmicrohttpd) ---- */

struct monitor;

/*
 * Listen on listen ("127.0.0.1:2020", "[::1]:2020") for GET /health and
 * GET /metrics, served from inside the event loop (no threads).  0 or
 * -errno (logged).
 */
int	monitor_open(const char *listen, struct monitor **out)
	    __attribute__((warn_unused_result));
/* The fd to poll for readability (the daemon's epoll fd). */
int	monitor_fd(const struct monitor *m);
/* How long until the daemon needs monitor_run() anyway (ms), or -1. */
int64_t	monitor_timeout(const struct monitor *m);
/* Serve what is ready, answering from st. */
void	monitor_run(struct monitor *m, const struct agent_status *st);
void	monitor_close(struct monitor *m);
/*
 * The Prometheus text exposition of st, and the /health JSON (*ok is
 * false when Sysmon is stopped or not installed, or an output is
 * failing).  0 or -errno.
 */
int	status_render_prometheus(const struct agent_status *st,
	    struct strbuf *out) __attribute__((warn_unused_result));
int	status_render_health(const struct agent_status *st, struct strbuf *out,
	    bool *ok) __attribute__((warn_unused_result));

#endif
