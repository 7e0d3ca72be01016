/*
 * evloop_win.c - the agent's waiting on Windows (evloop.h says the
 * design).  A wait_handle is a HANDLE; the stop request is a manual-reset
 * event set by the console control handler (Ctrl+C, Ctrl+Break, closing
 * the console, logoff, shutdown) or by the service's stop and shutdown
 * controls.  There is no reopen request (no SIGHUP).
 *
 * Without an HTTP output (no curl multi handle) the loop thread waits
 * itself: WaitForMultipleObjects() on the stop event and the registered
 * handles, the deadline as its timeout.  With one, curl's sockets are not
 * HANDLEs, so the loop thread sleeps in curl_multi_poll()
 * (transport_loop_wait()) while the waiter thread sleeps in
 * WaitForMultipleObjects() on a cancel event, the stop event and the
 * registered handles, and calls transport_loop_wakeup() when one of the
 * last two kinds is signalled.  After the poll the loop thread sets the
 * cancel event and waits for the waiter to be done: the wait set is the
 * waiter's only between the two, so a registration lasts exactly one wait.
 * Nothing polls: every sleep is one blocking wait with the deadline as its
 * timeout.
 *
 * Readiness: a handle is ready when it is signalled as the wait ends
 * (checked with a zero timeout, so an auto-reset event is consumed, as a
 * read would consume an fd's data), or when the wait ended on it.
 *
 * Stopping.  A console's Ctrl+C or Ctrl+Break only sets the stop event:
 * the loop drains and returns, and main() exits.  For CTRL_CLOSE_EVENT,
 * CTRL_LOGOFF_EVENT and CTRL_SHUTDOWN_EVENT Windows ends the process as
 * soon as the handler returns (and after about 5 s anyway), so the
 * handler, on its own thread, also waits for the loop to be closed (the
 * positions saved) before it returns, for at most CLOSE_WAIT_MS.  A
 * service is stopped by the SCM's controls instead (evloop_request_stop()
 * from service_win.c's handler), and ignores the logoff and shutdown
 * events every service process receives.
 */
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include <windows.h>

#include "evloop.h"
#include "transport.h"
#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct evloop {
	struct transport_loop	*tl;
	HANDLE			*objs;	/* [0] cancel, [1] stop, handles */
	bool			*ready;	/* per slot of objs */
	size_t			 n, cap;
	HANDLE			 thread;	/* the waiter, once needed */
	HANDLE			 go;	/* auto-reset: a wait set to wait on */
	HANDLE			 done;	/* auto-reset: the waiter is done */
	volatile LONG		 quit;	/* the waiter ends */
	DWORD			 fired;	/* the slot the waiter woke on */
};

#define SLOT_CANCEL	0
#define SLOT_STOP	1
#define SLOT_FIRST	2

/*
 * Windows gives a console's close, logoff and shutdown handler about 5 s
 * before it ends the process anyway; the agent's drain is bounded at 5 s
 * too.  Cut short, nothing is lost: a saved position only ever names
 * records already safe in the ring, and what was not delivered goes out
 * at the next start.  The wait lets the drain deliver what it can and
 * the last positions be saved.
 */
#define CLOSE_WAIT_MS	4500

/*
 * Process-wide, as signals are: the handlers may run (on threads of their
 * own) at any moment, so the events are created once (events_init()) and
 * never closed.
 *   stop_event   manual-reset: a stop was requested (wakes the wait);
 *   loop_done    manual-reset: no loop is open (set from the start, reset
 *                by evloop_open(), set by evloop_close());
 *   running      manual-reset: a loop runs (evloop_started() to
 *                evloop_close()): the service reports RUNNING on it.
 * stop_flag is the console's request, cleared by evloop_open();
 * stop_sticky the service's, kept for the life of the process.
 */
static INIT_ONCE events_once = INIT_ONCE_STATIC_INIT;
static HANDLE stop_event, loop_done, running;
static volatile LONG stop_flag, stop_sticky, as_service;

static BOOL CALLBACK
events_create(INIT_ONCE *once, void *arg, void **ctx)
{
	(void)once;
	(void)arg;
	(void)ctx;
	stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
	loop_done = CreateEventW(NULL, TRUE, TRUE, NULL);
	running = CreateEventW(NULL, TRUE, FALSE, NULL);
	return stop_event != NULL && loop_done != NULL && running != NULL;
}

static bool
events_init(void)
{
	return InitOnceExecuteOnce(&events_once, events_create, NULL, NULL) &&
	    stop_event != NULL;
}

static void
stop_now(void)
{
	InterlockedExchange(&stop_flag, 1);
	SetEvent(stop_event);
}

static BOOL WINAPI
on_console(DWORD type)
{
	switch (type) {
	case CTRL_C_EVENT:
	case CTRL_BREAK_EVENT:
		stop_now();
		return TRUE;
	case CTRL_LOGOFF_EVENT:
	case CTRL_SHUTDOWN_EVENT:
		/* Any user's logoff reaches a service: not a stop. */
		if (InterlockedCompareExchange(&as_service, 0, 0) != 0)
			return TRUE;
		/* FALLTHROUGH */
	case CTRL_CLOSE_EVENT:
		stop_now();
		/* The process ends when this returns: let the loop finish. */
		WaitForSingleObject(loop_done, CLOSE_WAIT_MS);
		return TRUE;
	default:
		return FALSE;
	}
}

void
evloop_request_stop(void)
{
	InterlockedExchange(&stop_sticky, 1);
	if (events_init())
		stop_now();
}

void
evloop_as_service(void)
{
	InterlockedExchange(&as_service, 1);
}

wait_handle
evloop_running_event(void)
{
	return events_init() ? running : NULL;
}

void
evloop_started(struct evloop *ev)
{
	(void)ev;
	SetEvent(running);
}

static int
errno_of(DWORD e)
{
	switch (e) {
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
		return ENOMEM;
	case ERROR_INVALID_HANDLE:
		return EBADF;
	default:
		return EIO;
	}
}

static int
stop_setup(void)
{
	if (!events_init())
		return -errno_of(GetLastError());
	/* Clear the console's request, then put back the service's: a
	 * request racing this is either seen here or sets the flag itself. */
	InterlockedExchange(&stop_flag, 0);
	ResetEvent(stop_event);
	if (InterlockedCompareExchange(&stop_sticky, 0, 0) != 0)
		stop_now();
	ResetEvent(running);
	ResetEvent(loop_done);
	/* A service may have no console to take a handler. */
	if (!SetConsoleCtrlHandler(on_console, TRUE) &&
	    InterlockedCompareExchange(&as_service, 0, 0) == 0) {
		SetEvent(loop_done);
		return -errno_of(GetLastError());
	}
	return 0;
}

static DWORD WINAPI
waiter(void *arg)
{
	struct evloop *ev = arg;
	DWORD r;

	for (;;) {
		if (WaitForSingleObject(ev->go, INFINITE) != WAIT_OBJECT_0)
			break;
		if (InterlockedCompareExchange(&ev->quit, 0, 0) != 0)
			break;
		r = WaitForMultipleObjects((DWORD)ev->n, ev->objs, FALSE,
		    INFINITE);
		ev->fired = r - WAIT_OBJECT_0 < ev->n ? r - WAIT_OBJECT_0 :
		    SLOT_CANCEL;
		if (ev->fired != SLOT_CANCEL)
			transport_loop_wakeup(ev->tl);
		SetEvent(ev->done);
	}
	return 0;
}

int
evloop_open(size_t max_handles, struct evloop **out)
{
	struct evloop *ev;
	int rc;

	*out = NULL;
	if ((rc = stop_setup()) != 0)
		return rc;
	if ((ev = calloc(1, sizeof(*ev))) == NULL) {
		SetEvent(loop_done);
		return -ENOMEM;
	}
	/* WaitForMultipleObjects() takes MAXIMUM_WAIT_OBJECTS (64). */
	ev->cap = max_handles + SLOT_FIRST;
	if (ev->cap > MAXIMUM_WAIT_OBJECTS)
		ev->cap = MAXIMUM_WAIT_OBJECTS;
	if ((ev->objs = calloc(ev->cap, sizeof(*ev->objs))) == NULL ||
	    (ev->ready = calloc(ev->cap, sizeof(*ev->ready))) == NULL)
		rc = -ENOMEM;
	else if ((ev->objs[SLOT_CANCEL] = CreateEventW(NULL, TRUE, FALSE,
	    NULL)) == NULL ||
	    (ev->go = CreateEventW(NULL, FALSE, FALSE, NULL)) == NULL ||
	    (ev->done = CreateEventW(NULL, FALSE, FALSE, NULL)) == NULL)
		rc = -errno_of(GetLastError());
	else
		rc = transport_loop_new(&ev->tl);
	if (rc != 0) {
		evloop_close(ev);
		return rc;
	}
	evloop_clear(ev);
	*out = ev;
	return 0;
}

struct transport_loop *
evloop_transport(struct evloop *ev)
{
	return ev->tl;
}

void
evloop_close(struct evloop *ev)
{
	if (ev == NULL)
		return;
	if (ev->thread != NULL) {
		InterlockedExchange(&ev->quit, 1);
		SetEvent(ev->go);
		WaitForSingleObject(ev->thread, INFINITE);
		CloseHandle(ev->thread);
	}
	transport_loop_free(ev->tl);
	if (ev->objs != NULL && ev->objs[SLOT_CANCEL] != NULL)
		CloseHandle(ev->objs[SLOT_CANCEL]);
	if (ev->go != NULL)
		CloseHandle(ev->go);
	if (ev->done != NULL)
		CloseHandle(ev->done);
	free(ev->objs);
	free(ev->ready);
	free(ev);
	/* The sources were closed before: the positions are saved. */
	ResetEvent(running);
	SetEvent(loop_done);
}

bool
evloop_stopping(const struct evloop *ev)
{
	(void)ev;
	return InterlockedCompareExchange(&stop_flag, 0, 0) != 0;
}

bool
evloop_take_reopen(struct evloop *ev)
{
	(void)ev;
	return false;
}

void
evloop_clear(struct evloop *ev)
{
	ev->objs[SLOT_STOP] = stop_event;
	ev->n = SLOT_FIRST;
	memset(ev->ready, 0, ev->cap * sizeof(*ev->ready));
}

int
evloop_add(struct evloop *ev, wait_handle h)
{
	if (h == WAIT_HANDLE_NONE || ev->n == ev->cap)
		return -1;
	ev->objs[ev->n] = h;
	return (int)ev->n++;
}

/* Which handles are signalled now; fired: the slot a wait ended on. */
static void
collect(struct evloop *ev, DWORD fired)
{
	for (size_t i = SLOT_FIRST; i < ev->n; i++)
		ev->ready[i] = i == fired ||
		    WaitForSingleObject(ev->objs[i], 0) == WAIT_OBJECT_0;
}

/* Wait in this thread: no HTTP transfer to move. */
static int
wait_here(struct evloop *ev, DWORD timeout)
{
	DWORD r;

	r = WaitForMultipleObjects((DWORD)(ev->n - SLOT_STOP),
	    ev->objs + SLOT_STOP, FALSE, timeout);
	if (r == WAIT_FAILED)
		return -errno_of(GetLastError());
	collect(ev, r < WAIT_OBJECT_0 + ev->n - SLOT_STOP ?
	    r - WAIT_OBJECT_0 + SLOT_STOP : SLOT_CANCEL);
	return 0;
}

/* Sleep in curl_multi_poll(), the waiter on the handles. */
static int
wait_split(struct evloop *ev, int timeout)
{
	int rc;

	if (ev->thread == NULL &&
	    (ev->thread = CreateThread(NULL, 0, waiter, ev, 0, NULL)) ==
	    NULL)
		return -errno_of(GetLastError());
	ResetEvent(ev->objs[SLOT_CANCEL]);
	ev->fired = SLOT_CANCEL;
	SetEvent(ev->go);
	rc = transport_loop_wait(ev->tl, NULL, 0, timeout);
	SetEvent(ev->objs[SLOT_CANCEL]);
	WaitForSingleObject(ev->done, INFINITE);
	collect(ev, ev->fired);
	return rc < 0 ? rc : 0;
}

int
evloop_wait(struct evloop *ev, int64_t now_ms, int64_t until_ms)
{
	int64_t t = until_ms > now_ms ? until_ms - now_ms : 0;

	if (t > INT32_MAX)
		t = INT32_MAX;
	memset(ev->ready, 0, ev->cap * sizeof(*ev->ready));
	if (!transport_loop_active(ev->tl))
		return wait_here(ev, (DWORD)t);
	return wait_split(ev, (int)t);
}

bool
evloop_ready(const struct evloop *ev, int slot)
{
	return slot >= SLOT_FIRST && (size_t)slot < ev->n && ev->ready[slot];
}

void
evloop_run(struct evloop *ev)
{
	transport_loop_run(ev->tl);
}
