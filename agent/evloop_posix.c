/*
 * evloop_posix.c - the agent's waiting on POSIX: poll(2) through curl's
 * multi wait (transport_loop_wait()), with the registered fds and the
 * signal self-pipe as extra fds.  The signal handler only sets a flag and
 * writes a byte to the pipe, which wakes the wait.
 */
#include "evloop.h"
#include "transport.h"
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct evloop {
	struct transport_loop	*tl;
	struct pollfd		*pfds;	/* [0]: the self-pipe */
	size_t			 n, cap;
	int			 nready;	/* what the last wait said */
};

/*
 * Process-wide: a handler may run at any moment, so the pipe is created
 * once and never closed (an evloop_close() racing a signal would write to
 * a closed or reused fd).
 */
static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t sig_stop, sig_hup;

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig == SIGHUP)
		sig_hup = 1;
	else
		sig_stop = 1;
	if (sig_pipe[1] >= 0)
		(void)!write(sig_pipe[1], &c, 1);
	errno = saved;
}

static int
signals_setup(void)
{
	struct sigaction sa;

	if (sig_pipe[0] < 0) {
		if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
			return -errno;
	}
	sig_stop = sig_hup = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* A file size limit makes write() fail with EFBIG, handled like a
	 * full disk, instead of killing the agent. */
	sigaction(SIGXFSZ, &sa, NULL);
	return 0;
}

int
evloop_open(size_t max_handles, struct evloop **out)
{
	struct evloop *ev = calloc(1, sizeof(*ev));
	int rc = ev == NULL ? -ENOMEM : signals_setup();

	*out = NULL;
	if (rc == 0) {
		ev->cap = max_handles + 1;
		if ((ev->pfds = calloc(ev->cap, sizeof(*ev->pfds))) == NULL)
			rc = -ENOMEM;
		else
			rc = transport_loop_new(&ev->tl);
	}
	if (rc == 0) {
		evloop_clear(ev);
		*out = ev;
	} else {
		evloop_close(ev);
	}
	return rc;
}

void
evloop_close(struct evloop *ev)
{
	if (ev == NULL)
		return;
	transport_loop_free(ev->tl);
	free(ev->pfds);
	free(ev);
}

bool
evloop_stopping(const struct evloop *ev)
{
	(void)ev;
	return sig_stop != 0;
}

bool
evloop_take_reopen(struct evloop *ev)
{
	(void)ev;
	if (!sig_hup)
		return false;
	sig_hup = 0;
	return true;
}

void
evloop_clear(struct evloop *ev)
{
	ev->pfds[0].fd = sig_pipe[0];
	ev->pfds[0].events = POLLIN;
	ev->n = 1;
	ev->nready = 0;
}

int
evloop_add(struct evloop *ev, wait_handle h)
{
	if (h < 0 || ev->n == ev->cap)
		return -1;
	ev->pfds[ev->n].fd = h;
	ev->pfds[ev->n].events = POLLIN;
	return (int)ev->n++;
}

int
evloop_wait(struct evloop *ev, int64_t now_ms, int64_t until_ms)
{
	char buf[64];
	int n;

	n = transport_loop_wait(ev->tl, ev->pfds, ev->n,
	    (int)(until_ms > now_ms ? until_ms - now_ms : 0));
	ev->nready = n > 0 ? n : 0;
	/* The flags say what the signals asked; the bytes only woke us. */
	if (evloop_ready(ev, 0))
		while (read(sig_pipe[0], buf, sizeof(buf)) > 0)
			;
	return n < 0 ? n : 0;
}

bool
evloop_ready(const struct evloop *ev, int slot)
{
	return ev->nready > 0 && slot >= 0 && (size_t)slot < ev->n &&
	    (ev->pfds[slot].revents & POLLIN);
}

void
evloop_run(struct evloop *ev)
{
	transport_loop_run(ev->tl);
}

struct transport_loop *
evloop_transport(struct evloop *ev)
{
	return ev->tl;
}
