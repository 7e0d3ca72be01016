/*
 * health.h - what the agent knows about itself and about Sysmon: the
 * status counters heartbeats and alerts report, the Sysmon watchdog (a
 * systemd or Service Control Manager probe), and the local monitor
 * endpoint (/health, /metrics).
 */
#ifndef SYSMONFWD_HEALTH_H
#define SYSMONFWD_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "event.h"

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

/* Records one [filter] rule dropped (policy.h: policy_filtered_each()). */
struct status_count {
	const char	*name;
	uint64_t	 n;
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
	uint64_t		 filtered;	/* dropped by [filter] rules */
	uint64_t		 tagged;	/* given a tag by [tag] rules */
	const struct status_count *filtered_rules; /* per rule name */
	size_t			 nfiltered_rules;
	uint64_t		 redacted;	/* rewritten by [redact:] */
	uint64_t		 redacted_values; /* values replaced */
	const struct status_count *redacted_rules; /* records per section */
	size_t			 nredacted_rules;
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

/* ---- the local monitor endpoint (monitor.c, libmicrohttpd) ---- */

struct monitor;

/*
 * Listen on listen ("127.0.0.1:2020", "[::1]:2020") for GET /health and
 * GET /metrics, served from inside the event loop (no threads).  0 or
 * -errno (logged).
 */
int	monitor_open(const char *listen, struct monitor **out)
	    __attribute__((warn_unused_result));
/*
 * What the loop waits on: the daemon's epoll fd; on Windows an event
 * that its sockets set (WSAEventSelect()).  Either way, ready means "call
 * monitor_run()".
 */
wait_handle monitor_fd(const struct monitor *m);
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

#ifndef _WIN32
/* What the Linux probe keeps between checks (watchdog_linux.c). */
struct watchdog_linux {
	struct sd_bus	*bus;		/* systemd's, once reached */
	bool		 bus_failed_logged;
};
/*
 * Ask systemd about the unit (when it is the init system), else /proc
 * about a process called service: running, stopped (none, but Sysmon was
 * seen_running before), not installed, or unknown.
 */
enum sysmon_state watchdog_linux_probe(struct watchdog_linux *w,
	    const char *service, const char *unit, bool seen_running);
/* Close the connection to systemd. */
void	watchdog_linux_close(struct watchdog_linux *w);
#else
/*
 * Ask the Service Control Manager about Sysmon (watchdog_win.c).  service
 * is the configured name; NULL, "" or the default "sysmon" mean: Sysmon64,
 * then Sysmon (the services the 64- and 32-bit binaries install).  Return
 * running (also while starting or continuing), stopped (also stopping or
 * paused), not installed (no such service), or unknown (the SCM could not
 * be asked, for instance access denied).
 */
enum sysmon_state watchdog_win_probe(const char *service);
#endif

#endif
