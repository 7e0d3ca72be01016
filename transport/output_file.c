/*
 * output_file.c - the `file` and `stdout` outputs: NDJSON, one document
 * per line, appended.  A batch is written whole or not at all: a failed
 * write (a full disk, say) is cut back so the file holds only complete
 * lines, and the batch is retried later.
 */
#include "transport.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct transport_output {
	char	*name;
	char	*path;		/* NULL: standard output */
	int	 fd;
	char	 err[256];
};

/*
 * A crash in the middle of a write can leave a last line without its
 * newline.  That document was never acknowledged and will be written
 * again, so cut the fragment off rather than glue the next document to it.
 */
static void
repair_tail(struct transport_output *t, int fd)
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
					    "record is written again", t->name,
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
		    t->name, t->path);
}

static int
open_fd(struct transport_output *t)
{
	int fd;

	if (t->path == NULL) {
		t->fd = STDOUT_FILENO;
		return 0;
	}
	fd = open(t->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		int rc = -errno;
		log_warnx("output %s: cannot open %s: %s", t->name, t->path,
		    strerror(errno));
		return rc;
	}
	repair_tail(t, fd);
	t->fd = fd;
	return 0;
}

int
transport_file_open(const char *name, const char *path,
    struct transport_output **out)
{
	struct transport_output *t;
	int rc;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	t->fd = -1;
	if ((t->name = strdup(name)) == NULL ||
	    (path != NULL && (t->path = strdup(path)) == NULL)) {
		rc = -ENOMEM;
		goto err;
	}
	/* A file that cannot be opened yet is an output that is down: the
	 * records wait in the buffer and every send tries again. */
	if (open_fd(t) != 0)
		log_warnx("output %s: will keep trying to open %s", t->name,
		    t->path);
	*out = t;
	return 0;
err:
	free(t->name);
	free(t->path);
	free(t);
	return rc;
}

void
transport_close(struct transport_output *t)
{
	if (t == NULL)
		return;
	if (t->fd >= 0 && t->path != NULL)
		close(t->fd);
	free(t->name);
	free(t->path);
	free(t);
}

enum transport_outcome
transport_send(struct transport_output *t, const char *data, size_t len)
{
	struct stat sb;
	off_t start = -1;
	size_t done = 0;

	if (t->fd < 0) {
		int fd = open(t->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);
		if (fd < 0) {
			snprintf(t->err, sizeof(t->err), "cannot open %s: %s",
			    t->path, strerror(errno));
			return TRANSPORT_RETRY;
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
			snprintf(t->err, sizeof(t->err), "write to %s: %s",
			    t->path != NULL ? t->path : "standard output",
			    strerror(e));
			if (done > 0 && start >= 0 &&
			    ftruncate(t->fd, start) != 0)
				log_warn("output %s: cannot cut back %s after a "
				    "failed write", t->name, t->path);
			/* A closed pipe on stdout will not come back. */
			return e == EPIPE ? TRANSPORT_REJECT : TRANSPORT_RETRY;
		}
		done += (size_t)n;
	}
	return TRANSPORT_SENT;
}

int
transport_reopen(struct transport_output *t)
{
	if (t->path == NULL)
		return 0;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	return open_fd(t);
}

int
transport_flush(struct transport_output *t)
{
	if (t->fd < 0 || t->path == NULL)
		return 0;
	if (fsync(t->fd) != 0)
		return -errno;
	return 0;
}

const char *
transport_name(const struct transport_output *t)
{
	return t->name;
}

const char *
transport_last_error(const struct transport_output *t)
{
	return t->err;
}
