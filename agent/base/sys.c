/*
 * sys.c - the clocks, and small durable files (read positions, cursors,
 * the watchdog's state): written whole to a temporary file, renamed over
 * the old one, fsynced on request, so a crash leaves either the old or
 * the new contents, never a mix.
 */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
mono_now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t
time_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
file_write_atomic(const char *path, const void *data, size_t len, int mode,
    bool durable)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, data, len);
	if (rc == 0 && durable && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	if (!durable)
		return 0;
	snprintf(dir, sizeof(dir), "%s", path);	/* fits: shorter than tmp */
	return fsync_dir(dirname(dir));
}

int
file_mkdirs(const char *path, int mode)
{
	char buf[PATH_MAX];
	size_t len;

	if ((len = (size_t)snprintf(buf, sizeof(buf), "%s", path)) >=
	    sizeof(buf))
		return -ENAMETOOLONG;
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = i == len ? '\0' : '/';
	}
	return 0;
}

int
mem_grow(void *pp, size_t *cap, size_t need, size_t size)
{
	void *old, *n;
	size_t want = *cap * 2 > need ? *cap * 2 : need;

	if (need <= *cap)
		return 0;
	if (size != 0 && want > SIZE_MAX / size)
		return -ENOMEM;
	/* Through memcpy: *pp is a T *, not a void *. */
	memcpy(&old, pp, sizeof(old));
	if ((n = realloc(old, want * size)) == NULL)
		return -ENOMEM;
	memcpy(pp, &n, sizeof(n));
	*cap = want;
	return 0;
}
