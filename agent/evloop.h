/*
 * evloop.h - what the agent's loop waits on, and the one place it waits.
 *
 * A turn of the loop (loop.c) does its work, then, when nothing moved,
 * registers what may bring more (each input's wait_handle, the monitor's)
 * and sleeps in evloop_wait() until one of them is ready, an HTTP transfer
 * moves, a stop is requested, or the turn's deadline (the next timer: a
 * retry, a batch's flush_interval, a heartbeat) comes.  Nothing here
 * busy-polls: a deadline is the timeout of one blocking wait.
 *
 * Stop requests (SIGTERM, SIGINT) and reopen requests (SIGHUP) are taken
 * by evloop_open() and only raise a flag and wake the wait; the loop reads
 * the flags at the top of its turn.
 *
 * POSIX (evloop_posix.c): a wait_handle is an fd; the wait is
 * transport_loop_wait(), curl's multi wait with the registered fds and a
 * self-pipe written by the signal handler added.
 *
 * Windows (evloop_win.c): a wait_handle is a HANDLE and the same
 * interface holds.  The stop request becomes an event object set by the
 * console control handler or by the service's stop and shutdown controls
 * (evloop_request_stop(), service_win.c).  curl's
 * sockets are not HANDLEs, so the wait is split in two without polling:
 * the loop thread sleeps in curl_multi_poll() (transport_loop_wait() with
 * no extra handle) while a helper thread sleeps in
 * WaitForMultipleObjects() on the registered handles and the stop event
 * and, when one is signalled, records which and calls curl_multi_wakeup()
 * (transport_loop_wakeup()).  Without an HTTP output (no multi handle)
 * the loop thread waits in WaitForMultipleObjects() itself.  evloop_wait()
 * hands the helper the wait set before and collects it after, so a
 * registration stays valid for exactly one wait, as here.
 * WaitForMultipleObjects() takes 64 handles; transport_loop_wait() takes
 * 64 extra fds: the same bound.
 *
 * Single owner: the agent's loop.  The signal handling is process-wide:
 * one evloop open at a time.
 */
#ifndef SYSMONFWD_EVLOOP_H
#define SYSMONFWD_EVLOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

struct evloop;
struct transport_loop;

/*
 * Take the stop and reopen requests (clearing any earlier ones), and
 * prepare to wait on up to max_handles registrations besides them.
 * 0 or -errno.
 */
int	evloop_open(size_t max_handles, struct evloop **out)
	    __attribute__((warn_unused_result));
/* Close every output opened on evloop_transport() first.  Accepts NULL. */
void	evloop_close(struct evloop *ev);
/* The transfers this loop moves: the HTTP outputs are opened on it. */
struct transport_loop *evloop_transport(struct evloop *ev);

/* A stop was requested: finish the turn, drain, and return. */
bool	evloop_stopping(const struct evloop *ev);
/* A reopen (of output files) was requested since the last call. */
bool	evloop_take_reopen(struct evloop *ev);

/* Forget the registrations of the last wait: a new wait set. */
void	evloop_clear(struct evloop *ev);
/*
 * Wait on h in the next evloop_wait() (WAIT_HANDLE_NONE: ignored).  Return
 * its slot, for evloop_ready(), or -1 when it was not registered.
 */
int	evloop_add(struct evloop *ev, wait_handle h);
/*
 * Sleep until a registered handle is ready, a stop or reopen is requested,
 * an HTTP transfer can move, or until_ms (monotonic; in the past: do not
 * sleep); then move the transfers forward.  0, or -errno when the wait
 * failed (nothing is ready then).
 */
int	evloop_wait(struct evloop *ev, int64_t now_ms, int64_t until_ms);
/* The handle in slot was ready for reading when the last wait ended. */
bool	evloop_ready(const struct evloop *ev, int slot);
/* Move the transfers forward without sleeping (after a busy turn). */
void	evloop_run(struct evloop *ev);

/*
 * The agent's setup is done and its loop starts turning.  On Windows it
 * sets the event of evloop_running_event(), on which the service reports
 * SERVICE_RUNNING; nothing on POSIX (no sd_notify yet).
 */
#ifdef _WIN32
void	evloop_started(struct evloop *ev);
#else
static inline void
evloop_started(struct evloop *ev)
{
	(void)ev;
}
#endif

#ifdef _WIN32
/*
 * What the Windows service (service_win.c) needs of the loop.
 *
 * evloop_request_stop(): stop the agent as Ctrl+C does, from any thread
 * (the service's control handler), at any moment, an evloop open or not.
 * Unlike a console's request it is for the process, not for one loop: a
 * later evloop_open() keeps it, so that a stop that arrives while the
 * service is still starting is not lost.
 *
 * evloop_as_service(): the process is a service.  Windows sends a
 * service process CTRL_LOGOFF_EVENT whenever any user logs off and
 * CTRL_SHUTDOWN_EVENT at shutdown; the console handler then ignores
 * both (the SCM's stop and shutdown controls stop the agent), and a
 * process without a console may go on without the handler.  Call before
 * evloop_open().
 *
 * evloop_running_event(): a manual-reset event, signalled from
 * evloop_started() until the loop closes: the service reports RUNNING
 * when it is.  Created at the first call (before any loop opens), never
 * closed.  NULL when it cannot be created.
 */
void	evloop_request_stop(void);
void	evloop_as_service(void);
wait_handle evloop_running_event(void);
#endif

#endif
