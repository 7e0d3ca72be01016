/*
 * sys.c - the clocks, and files on POSIX; mem_grow(), the same on every
 * system.  On Windows only mem_grow() is compiled from here: sys_win.c
 * has the rest.  Small durable files (read positions, cursors, the
 * watchdog's state) are written whole to a temporary file, renamed over
 * the old one, fsynced on request, so a crash leaves either the old or
 * the new contents, never a mix.  The open-file calls of the disk ring
 * are thin: each is the libc call it names, which the fault tests
 * interpose.
 */
#include "base.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

#ifndef _WIN32

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/file.h>
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
host_name(char *buf, size_t len)
{
	return gethostname(buf, len);
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
file_make_private(const char *path, bool dir)
{
	return chmod(path, dir ? 0700 : 0600) == 0 ? 0 : -errno;
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
fs_open(const char *path, int flags, int mode, fs_handle *fh)
{
	int o = O_CLOEXEC;

	if (flags & FS_RDWR)
		o |= O_RDWR;
	else if (flags & FS_APPEND)
		/* After a torn write is cut back, the next write goes to the
		 * new end, not past a hole. */
		o |= O_WRONLY | O_APPEND;
	else
		o |= O_RDONLY;
	if (flags & FS_CREATE)
		o |= O_CREAT;
	if (flags & FS_EXCL)
		o |= O_EXCL;
	if (flags & FS_NOFOLLOW)
		o |= O_NOFOLLOW;
	if ((*fh = open(path, o, (mode_t)mode)) < 0)
		return -errno;
	return 0;
}

void
fs_close(fs_handle fh)
{
	if (fh >= 0)
		close(fh);
}

/* A failed call's -errno (-EIO should errno be 0). */
static ssize_t
neg_errno(void)
{
	return errno != 0 ? -(ssize_t)errno : -EIO;
}

/* One pread() or pwrite(): n bytes at off. */
static ssize_t
at_offset(fs_handle fh, void *rp, const void *wp, size_t n, uint64_t off)
{
	ssize_t r;

	if (off > INT64_MAX)
		return -EINVAL;
	r = rp != NULL ? pread(fh, rp, n, (off_t)off) :
	    pwrite(fh, wp, n, (off_t)off);
	return r < 0 ? neg_errno() : r;
}

ssize_t
fs_pread(fs_handle fh, void *p, size_t n, uint64_t off)
{
	return at_offset(fh, p, NULL, n, off);
}

ssize_t
fs_pwrite(fs_handle fh, const void *p, size_t n, uint64_t off)
{
	return at_offset(fh, NULL, p, n, off);
}

ssize_t
fs_append(fs_handle fh, const void *p, size_t n)
{
	ssize_t r = write(fh, p, n);

	return r < 0 ? neg_errno() : r;
}

int
fs_sync(fs_handle fh)
{
	return fsync(fh) != 0 ? (int)neg_errno() : 0;
}

int
fs_datasync(fs_handle fh)
{
	return fdatasync(fh) != 0 ? (int)neg_errno() : 0;
}

int
fs_truncate(fs_handle fh, uint64_t len)
{
	if (len > INT64_MAX)
		return -EINVAL;
	return ftruncate(fh, (off_t)len) != 0 ? (int)neg_errno() : 0;
}

int
fs_size(fs_handle fh, uint64_t *size)
{
	struct stat sb;

	if (fstat(fh, &sb) != 0)
		return (int)neg_errno();
	*size = (uint64_t)sb.st_size;
	return 0;
}

int
fs_lock(fs_handle fh)
{
	/* flock(), not fcntl() locks: those of a process do not exclude
	 * each other, and a second open in the same process must fail. */
	if (flock(fh, LOCK_EX | LOCK_NB) != 0)
		return errno == EWOULDBLOCK ? -EBUSY : (int)neg_errno();
	return 0;
}

int
fs_rename(const char *from, const char *to)
{
	return rename(from, to) != 0 ? (int)neg_errno() : 0;
}

int
fs_remove(const char *path)
{
	return unlink(path) != 0 ? (int)neg_errno() : 0;
}

FILE *
fs_fopen(const char *path, const char *how)
{
	return fopen(path, how);
}

int
fs_mkdir(const char *path, int mode)
{
	if (mkdir(path, (mode_t)mode) != 0 && errno != EEXIST)
		return (int)neg_errno();
	return 0;
}

int
fs_list(const char *dir, int (*fn)(void *arg, const char *name), void *arg)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (d == NULL)
		return (int)neg_errno();
	while (rc == 0 && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			rc = fn(arg, e->d_name);
	closedir(d);
	return rc;
}

#endif /* !_WIN32 */
