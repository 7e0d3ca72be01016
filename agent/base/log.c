/*
 * log.c - the agent's own log (base.h).  The log sink's state is one of
 * the two kinds of mutable global the house style allows.
 *
 * By default a line goes to stderr, where journald (or the console) takes
 * it.  log_open_file() sends the lines to a file of the agent's own
 * instead, for a Windows service, which has neither: each line stamped
 * with the UTC time, written with one append each, and the file cut at a
 * size by renaming (FILE, FILE.1, ... FILE.(keep-1), the oldest dropped),
 * so that a noisy failure fills at most max_bytes * keep of disk.
 *
 * Lines may come from several threads (the Windows service's own thread
 * and the agent's); a spin lock covers the file's size and its rotation.
 * Held for one write at most, it is never contended for long.
 */
#include "base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_progname = "sysmonfwd";
static enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* The file, when log_open_file() took one. */
static struct {
	atomic_flag	 lock;
	fs_handle	 fh;
	char		*path;
	uint64_t	 size;		/* bytes in the file, as far as known */
	uint64_t	 max;		/* rotate past this */
	uint64_t	 next_try;	/* after a failed rotation */
	int		 keep;		/* files kept, the current one too */
	bool		 open;
} lf = { ATOMIC_FLAG_INIT, FS_HANDLE_NONE, NULL, 0, 0, 0, 0, false };

void
log_init(const char *progname, enum log_level level)
{
	if (progname != NULL)
		log_progname = progname;
	log_threshold = level;
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

static void
lf_lock(void)
{
	while (atomic_flag_test_and_set_explicit(&lf.lock,
	    memory_order_acquire))
		;
}

static void
lf_unlock(void)
{
	atomic_flag_clear_explicit(&lf.lock, memory_order_release);
}

/* Open lf.path for appending and learn its size.  0 or -errno. */
static int
lf_reopen(void)
{
	int rc;

	if ((rc = fs_open(lf.path, FS_APPEND | FS_CREATE | FS_NOFOLLOW, 0640,
	    &lf.fh)) != 0)
		return rc;
	if (fs_size(lf.fh, &lf.size) != 0)
		lf.size = 0;
	return 0;
}

/*
 * FILE.(keep-2) to FILE.(keep-1), ..., FILE to FILE.1, and a new FILE.
 * A rename that fails (a reader holding an old file without sharing
 * delete, on Windows) leaves the files where they are: the current one
 * grows on, and the next attempt is an eighth of max_bytes later.
 */
static void
lf_rotate(void)
{
	char from[1100], to[1100];
	bool ok = true;
	int rc;

	fs_close(lf.fh);
	lf.fh = FS_HANDLE_NONE;
	for (int i = lf.keep - 1; i >= 1 && ok; i--) {
		if (i == 1)
			snprintf(from, sizeof(from), "%s", lf.path);
		else
			snprintf(from, sizeof(from), "%s.%d", lf.path, i - 1);
		snprintf(to, sizeof(to), "%s.%d", lf.path, i);
		/* An old file that cannot move is dropped instead. */
		if ((rc = fs_rename(from, to)) != 0 && rc != -ENOENT)
			ok = (rc = fs_remove(from)) == 0 || rc == -ENOENT;
	}
	if (lf.keep <= 1)
		(void)fs_remove(lf.path);
	if (lf_reopen() != 0) {
		lf.open = false;	/* back to stderr */
		return;
	}
	lf.next_try = lf.size > lf.max ? lf.size + lf.max / 8 : 0;
}

/* Write one whole line to the file; false when it could not be. */
static bool
lf_write(const char *line, size_t len)
{
	bool ok = false;

	lf_lock();
	if (lf.open) {
		if (lf.size + len > lf.max && lf.size > 0 &&
		    lf.size >= lf.next_try)
			lf_rotate();
		if (lf.open && fs_append(lf.fh, line, len) == (ssize_t)len) {
			lf.size += len;
			ok = true;
		}
	}
	lf_unlock();
	return ok;
}

/* "2026-12-07T10:35:35.123Z", from milliseconds since the epoch. */
static void
utc_stamp(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000, days = s / 86400, secs = s % 86400;
	int64_t z = days + 719468, era, doe, yoe, doy, mp, y, m, d;

	/* Days to a civil date (proleptic Gregorian), by 400-year eras. */
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    (int)(y % 10000), (int)m, (int)d, (int)(secs / 3600),
	    (int)(secs / 60 % 60), (int)(secs % 60), (int)(ms % 1000));
}

static void
log_vemit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[2048], line[2200], stamp[64];
	int n;

	if (level > log_threshold)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);	/* truncation is acceptable */
	if (lf.open) {
		utc_stamp(time_now_ms(), stamp, sizeof(stamp));
		if (errnum != 0)
			n = snprintf(line, sizeof(line), "%s %s: %s: %s: %s\n",
			    stamp, log_progname, level_names[level], msg,
			    strerror(errnum));
		else
			n = snprintf(line, sizeof(line), "%s %s: %s: %s\n",
			    stamp, log_progname, level_names[level], msg);
		if (n >= (int)sizeof(line)) {
			/* Cut, but still one line. */
			n = (int)sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		if (n > 0 && lf_write(line, (size_t)n))
			return;
	}
	if (errnum != 0)
		fprintf(stderr, "%s: %s: %s: %s\n", log_progname,
		    level_names[level], msg, strerror(errnum));
	else
		fprintf(stderr, "%s: %s: %s\n", log_progname,
		    level_names[level], msg);
}

int
log_open_file(const char *path, uint64_t max_bytes, int keep)
{
	char *p;
	int rc;

	if (strlen(path) > 1000)
		return -ENAMETOOLONG;
	if ((p = strdup(path)) == NULL)
		return -ENOMEM;
	lf_lock();
	if (lf.open)
		fs_close(lf.fh);
	free(lf.path);
	lf.path = p;
	lf.max = max_bytes > 0 ? max_bytes : 1;
	lf.keep = keep > 0 ? keep : 1;
	lf.next_try = 0;
	rc = lf_reopen();
	lf.open = rc == 0;
	lf_unlock();
	return rc;
}

void
log_close_file(void)
{
	lf_lock();
	if (lf.open)
		fs_close(lf.fh);
	lf.fh = FS_HANDLE_NONE;
	lf.open = false;
	free(lf.path);
	lf.path = NULL;
	lf_unlock();
}

bool
log_to_file(void)
{
	return lf.open;
}

#define LOG_BODY(level, with_errno)				\
	do {							\
		int saved_errno = errno;			\
		va_list ap;					\
		va_start(ap, fmt);				\
		log_vemit(level, with_errno ? saved_errno : 0, fmt, ap); \
		va_end(ap);					\
		errno = saved_errno;				\
	} while (0)

void log_error(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_ERROR, 1); }
void log_errorx(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_ERROR, 0); }
void log_warn(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_WARN, 1); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_WARN, 0); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_INFO, 0); }
void log_debug(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_DEBUG, 0); }
