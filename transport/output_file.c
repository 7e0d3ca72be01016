/*
 * output_file.c - the `file` and `stdout` outputs: NDJSON, one document
 * per line, appended.  A batch is written whole or not at all: a failed
 * write (a full disk, say) is cut back so the file holds only complete
 * lines, and the batch is retried later.
 */
#include "transport_int.h"
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct file_out {
	struct transport_output	 base;
	char			*path;	/* NULL: standard output */
	int			 fd;
	struct transport_batch	*pending;	/* waiting to be retried */
	int64_t			 retry_at;
};

/*
 * A crash in the middle of a write can leave a last line without its
 * newline.  That document was never acknowledged and will be written
 * again, so cut the fragment off rather than glue the next document to it.
 */
static void
repair_tail(struct file_out *t, int fd)
{
	char buf[4096];
	struct stat sb;
	off_t end, pos;

	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0)
		return;
	end = sb.st_size;
	if (pread(fd, buf, 1, end - 1) != 1 || buf[0] == '\n')
		return;
	for (pos = end; pos > 0;) {
		size_t n = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
		ssize_t got = pread(fd, buf, n, pos - (off_t)n);
		if (got != (ssize_t)n)
			return;
		for (size_t i = n; i-- > 0;) {
			if (buf[i] == '\n') {
				off_t cut = pos - (off_t)n + (off_t)i + 1;
				if (ftruncate(fd, cut) == 0)
					log_warnx("output %s: %s ended with a "
					    "partial line (%jd bytes, from an "
					    "interrupted write): removed; its "
					    "record is written again", t->base.name,
					    t->path, (intmax_t)(end - cut));
				return;
			}
		}
		pos -= (off_t)n;
		if (end - pos > (64 << 20))
			return;		/* not a fragment of ours */
	}
	if (ftruncate(fd, 0) == 0)
		log_warnx("output %s: %s held only a partial line: removed",
		    t->base.name, t->path);
}

static int
open_fd(struct file_out *t)
{
	int fd;

	if (t->path == NULL) {
		t->fd = STDOUT_FILENO;
		return 0;
	}
	fd = open(t->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		int rc = -errno;
		log_warnx("output %s: cannot open %s: %s", t->base.name, t->path,
		    strerror(errno));
		return rc;
	}
	repair_tail(t, fd);
	t->fd = fd;
	return 0;
}

/*
 * Write one batch whole.  When a write fails half way, the file is cut
 * back to where the batch began, so no half document stays behind.
 * Return 0, -EAGAIN to retry later, or -EPIPE (standard output closed).
 */
static int
write_batch(struct file_out *t, const char *data, size_t len)
{
	struct stat sb;
	off_t start = -1;
	size_t done = 0;

	if (t->fd < 0) {
		int fd = open(t->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);
		if (fd < 0) {
			snprintf(t->base.st.last_error,
			    sizeof(t->base.st.last_error), "cannot open %s: %s",
			    t->path, strerror(errno));
			return -EAGAIN;
		}
		repair_tail(t, fd);
		t->fd = fd;
	}
	if (t->path != NULL && fstat(t->fd, &sb) == 0 && S_ISREG(sb.st_mode))
		start = sb.st_size;
	while (done < len) {
		ssize_t n = write(t->fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			snprintf(t->base.st.last_error,
			    sizeof(t->base.st.last_error), "write to %s: %s",
			    t->path != NULL ? t->path : "standard output",
			    strerror(e));
			if (done > 0 && start >= 0 &&
			    ftruncate(t->fd, start) != 0)
				log_warn("output %s: cannot cut back %s after a "
				    "failed write", t->base.name, t->path);
			/* A closed pipe on stdout will not come back. */
			return e == EPIPE ? -EPIPE : -EAGAIN;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Try the pending batch now. */
static void
file_try(struct file_out *t, int64_t now)
{
	struct transport_batch *b = t->pending;
	int rc;

	if (b == NULL || now < t->retry_at)
		return;
	char err[sizeof(t->base.st.last_error)];

	rc = write_batch(t, b->body, b->len);
	memcpy(err, t->base.st.last_error, sizeof(err));
	if (rc == -EAGAIN) {
		int64_t wait = transport_backoff_next(&t->base);
		t->retry_at = now + wait;
		t->base.st.retries++;
		transport_failed(&t->base, now, false, "%.200s; keeping %zu "
		    "records, retrying in %.1f s", err, b->n,
		    (double)wait / 1000.0);
		return;
	}
	if (rc == -EPIPE) {
		transport_failed(&t->base, now, true, "%.200s; %zu records "
		    "dropped and counted", err, b->n);
		t->base.st.dead_lettered += b->n;
	} else {
		transport_recovered(&t->base);
		t->base.st.delivered += b->n;
	}
	t->base.confirmed = b->last_seq;
	t->base.st.requests++;
	transport_batch_recycle(&t->base, b);
	t->pending = NULL;
}

static bool
file_ready(const struct transport_output *base, int64_t now)
{
	(void)now;
	return ((const struct file_out *)base)->pending == NULL;
}

static int
file_submit(struct transport_output *base, struct transport_batch *b,
    int64_t now)
{
	struct file_out *t = (struct file_out *)base;

	if (t->pending != NULL)
		return -ENOBUFS;	/* b stays the caller's */
	t->pending = b;
	t->retry_at = 0;
	file_try(t, now);
	return 0;
}

/* A heartbeat or alert line, written now. */
static int
file_prio_now(struct transport_output *base, const char *doc, size_t len)
{
	struct file_out *t = (struct file_out *)base;

	return write_batch(t, doc, len);
}

static int64_t
file_tick(struct transport_output *base, int64_t now)
{
	struct file_out *t = (struct file_out *)base;
	const char *doc;
	size_t len;
	bool alert;
	int64_t wake;

	/* Alerts that could not be written yet go first. */
	while (transport_prio_take(base, now, &doc, &len, &alert)) {
		int rc = write_batch(t, doc, len);
		transport_prio_finish(base, now, rc == 0 ? PRIO_OK : rc ==
		    -EPIPE ? PRIO_REFUSED : PRIO_RETRY, base->st.last_error);
		if (rc != 0)
			break;
	}
	file_try(t, now);
	wake = t->pending != NULL ? t->retry_at : now + 1000;
	if (transport_prio_pending(base) && base->prio.retry_at < wake)
		wake = base->prio.retry_at;
	return wake;
}

static bool
file_idle(const struct transport_output *base)
{
	return ((const struct file_out *)base)->pending == NULL;
}

static void
file_reopen(struct transport_output *base)
{
	struct file_out *t = (struct file_out *)base;

	if (t->path == NULL)
		return;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (open_fd(t) != 0)
		log_warnx("output %s: reopen failed; will retry", base->name);
}

static int
file_flush(struct transport_output *base)
{
	struct file_out *t = (struct file_out *)base;

	if (t->fd < 0 || t->path == NULL)
		return 0;
	/* Devices and pipes cannot be synced: nothing to make durable. */
	if (fsync(t->fd) != 0 && errno != EINVAL && errno != EROFS)
		return -errno;
	return 0;
}

static void
file_close(struct transport_output *base)
{
	struct file_out *t = (struct file_out *)base;

	if (t->fd >= 0 && t->path != NULL)
		close(t->fd);
	transport_batch_free(t->pending);
	free(t->path);
	transport_base_free(&t->base);
	free(t);
}

static const struct transport_ops file_ops = {
	.ready = file_ready,
	.submit = file_submit,
	.tick = file_tick,
	.idle = file_idle,
	.reopen = file_reopen,
	.flush = file_flush,
	.close = file_close,
	.prio_now = file_prio_now,
};

int
transport_file_open(const char *name, const char *path,
    const struct transport_retry *retry, struct transport_output **out)
{
	struct file_out *t;
	int rc;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	t->fd = -1;
	if ((rc = transport_base_init(&t->base, &file_ops, name, retry,
	    NULL)) != 0 || (path != NULL && (t->path = strdup(path)) == NULL)) {
		file_close(&t->base);
		return rc != 0 ? rc : -ENOMEM;
	}
	/* A file that cannot be opened yet is an output that is down: the
	 * records wait in the buffer and every send tries again. */
	if (open_fd(t) != 0)
		log_warnx("output %s: will keep trying to open %s", name,
		    t->path);
	*out = &t->base;
	return 0;
}
