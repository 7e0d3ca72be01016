/*
 * test_buffer_faults.c - the ring under failing calls (issue 12): a failed
 * allocation or read is retried, never reported as a gap; a failed fsync
 * leaves records not durable until one succeeds; a cursor file that cannot
 * be saved keeps the segments it covers; buffer_open() fails cleanly.
 *
 * The failures come from small interposers defined here (pread, realloc,
 * fdatasync, rename), armed by each test.  tests/torture/ does the same to
 * the whole agent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "buffer.h"
#include "base.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN	1
#endif
#endif

/* ---- interposers ------------------------------------------------------- */

static int	 fail_pread_in;		/* >0: that pread from now fails */
static int	 fail_realloc_in;	/* >0: that allocation (realloc or
					   malloc: zlib's) from now fails */
static char	 fail_fsync_path[PATH_MAX]; /* fdatasync of it fails */
static const char *fail_rename_sub;	/* rename of a path with it fails */
static bool	 fail_fsync_once;	/* then forget fail_fsync_path */
static int	 preads, fsyncs_failed;
static uint64_t	 seg_pwritten;		/* bytes pwritten to segments */

/* The file fd is open on, into path (PATH_MAX); false if unknown. */
static bool
fd_path(int fd, char *path)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, PATH_MAX - 1)) <= 0)
		return false;
	path[n] = '\0';
	return true;
}

ssize_t
pwrite(int fd, const void *p, size_t n, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	char path[PATH_MAX];
	ssize_t w;

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(
		    RTLD_NEXT, "pwrite");
	w = real(fd, p, n, off);
	if (w > 0 && fd_path(fd, path) && strstr(path, "/seg-") != NULL)
		seg_pwritten += (uint64_t)w;
	return w;
}

ssize_t
pread(int fd, void *p, size_t n, off_t off)
{
	static ssize_t (*real)(int, void *, size_t, off_t);

	if (real == NULL)
		real = (ssize_t (*)(int, void *, size_t, off_t))dlsym(
		    RTLD_NEXT, "pread");
	preads++;
	if (fail_pread_in > 0 && --fail_pread_in == 0) {
		errno = EIO;
		return -1;
	}
	return real(fd, p, n, off);
}

int
fdatasync(int fd)
{
	static int (*real)(int);
	char path[PATH_MAX];

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (fail_fsync_path[0] != '\0' && fd_path(fd, path) &&
	    strcmp(path, fail_fsync_path) == 0) {
		fsyncs_failed++;
		if (fail_fsync_once)
			fail_fsync_path[0] = '\0';
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int
rename(const char *from, const char *to)
{
	static int (*real)(const char *, const char *);

	if (real == NULL)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT,
		    "rename");
	if (fail_rename_sub != NULL && (strstr(from, fail_rename_sub) != NULL
	    || strstr(to, fail_rename_sub) != NULL)) {
		errno = EIO;
		return -1;
	}
	return real(from, to);
}

#ifndef UNDER_ASAN
/* Not under AddressSanitizer, whose allocator must not be replaced. */
extern void *__libc_malloc(size_t);

void *
malloc(size_t n)
{
	if (fail_realloc_in > 0 && --fail_realloc_in == 0) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

void *
realloc(void *p, size_t n)
{
	static void *(*real)(void *, size_t);

	if (real == NULL)
		real = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	if (n > 0 && fail_realloc_in > 0 && --fail_realloc_in == 0) {
		errno = ENOMEM;
		return NULL;
	}
	return real(p, n);
}
#endif

static void
disarm(void)
{
	fail_pread_in = fail_realloc_in = 0;
	fail_fsync_path[0] = '\0';
	fail_fsync_once = false;
	fail_rename_sub = NULL;
}

/* ---- helpers ------------------------------------------------------------- */

static char root[64];
static int dirno;

static void
newdir(char *out, size_t len)
{
	snprintf(out, len, "%s/r%d", root, ++dirno);
}

static int ring_level;		/* compression_level of open_ring() */
static uint64_t ring_block = 4096;	/* its block_size */

static struct buffer *
open_ring(const char *dir, int fsync_policy)
{
	struct buffer_opts o;
	struct buffer *b;

	buffer_opts_default(&o);
	o.dir = dir;
	o.max_size = 64u << 20;
	o.segment_size = 64u << 10;
	o.block_size = ring_block;
	o.fsync = fsync_policy;
	/* Stored blocks: several segments from a few records.  Compressed
	 * ones (ring_level > 0) go through zlib's inflate when read, or
	 * libdeflate's for blocks of 48 KiB and more (ring_block 64 KiB). */
	o.compression_level = ring_level;
	assert_int_equal(buffer_open(&o, &b), 0);
	return b;
}

#define NREC	2000

static void
fill(struct buffer *b, int n)
{
	char rec[128];

	for (int i = 0; i < n; i++) {
		int len = snprintf(rec, sizeof(rec), "record-%06d-%s", i,
		    "padding padding padding padding padding padding padding");
		assert_int_equal(buffer_append(b, "in", 1000 + i, 0, rec,
		    (size_t)len, NULL), 0);
	}
}

/*
 * Read every record first..last through c, acknowledging as it goes
 * unless peek (then the segments stay for the next reader); a read that
 * returns nothing is tried again (a fault was met).  Every record must
 * come, in order and intact; return the records reported as gaps (must be
 * 0 for the callers).
 */
static uint64_t
drain_opt(struct buffer_cursor *c, uint64_t first, uint64_t last, bool peek)
{
	struct buffer_rec r[64];
	uint64_t want = first, gaps = 0;
	int idle = 0;

	while (want <= last) {
		size_t n = buffer_read(c, r, 64, 1 << 20);

		if (n == 0) {
			assert_true(++idle < 100);
			continue;
		}
		idle = 0;
		for (size_t i = 0; i < n; i++) {
			char exp[32];
			int len;

			if (r[i].flags & BUFFER_REC_GAP) {
				gaps += r[i].gap_count;
				want = r[i].seq + 1;
				continue;
			}
			assert_int_equal(r[i].seq, want);
			len = snprintf(exp, sizeof(exp), "record-%06d-",
			    (int)(r[i].seq - 1));
			assert_memory_equal(r[i].data, exp, (size_t)len);
			want++;
		}
		if (!peek)
			assert_int_equal(buffer_ack(c, r[n - 1].seq), 0);
	}
	assert_int_equal(want, last + 1);
	if (!peek)
		assert_int_equal(buffer_cursor_pending(c), 0);
	return gaps;
}

static uint64_t
drain_all(struct buffer_cursor *c, uint64_t first, uint64_t last)
{
	return drain_opt(c, first, last, false);
}

static uint64_t
dir_bytes(const char *dir, int *nseg)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t t = 0;

	*nseg = 0;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char p[PATH_MAX];
		struct stat sb;

		if (strncmp(e->d_name, "seg-", 4) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		assert_int_equal(stat(p, &sb), 0);
		t += (uint64_t)sb.st_size;
		(*nseg)++;
	}
	closedir(d);
	return t;
}

/* A ring of NREC records in several segments, written and closed. */
static void
make_ring(char *dir, size_t len)
{
	struct buffer *b;
	struct buffer_stats st;

	newdir(dir, len);
	b = open_ring(dir, BUFFER_FSYNC_NEVER);
	fill(b, NREC);
	assert_int_equal(buffer_sync(b), 0);
	buffer_get_stats(b, &st);
	assert_true(st.segments >= 3 || ring_level > 0);
	buffer_close(b);
}

/* ---- tests ----------------------------------------------------------------- */

/*
 * Every one of the first allocations of a cursor reading from disk fails
 * in turn (the frame buffer, the decode arena, the record index, zlib's
 * inflate window): the read is tried again and nothing is reported lost.
 * (It used to be reported as a corrupt block and its records as a gap.)
 */
#ifndef UNDER_ASAN
static void
failed_read_allocation_is_retried(void **state)
{
	char dir[PATH_MAX];

	(void)state;
	ring_level = 3;		/* zlib's allocations too */
	make_ring(dir, sizeof(dir));
	for (int k = 1; k <= 40; k++) {
		struct buffer *b = open_ring(dir, BUFFER_FSYNC_NEVER);
		struct buffer_cursor *c;
		struct buffer_stats st;
		char name[16];

		snprintf(name, sizeof(name), "c%d", k);
		assert_int_equal(buffer_cursor_open(b, name, &c), 0);
		fail_realloc_in = k;
		assert_int_equal(drain_opt(c, 1, NREC, true), 0);
		disarm();
		buffer_get_stats(b, &st);
		assert_int_equal(st.corrupt_blocks, 0);
		buffer_close(b);
	}
	ring_level = 0;
}

/* The same with libdeflate's blocks (64 KiB), zlib's for the last one. */
static void
failed_read_allocation_is_retried_libdeflate(void **state)
{
	ring_block = 64u << 10;
	failed_read_allocation_is_retried(state);
	ring_block = 4096;
}

/*
 * Each of the first allocations while records go in fails in turn (the
 * builder, the frame, zlib's deflate state made when the first small
 * block is sealed): every record buffer_append() took is read back after
 * a reopen, none is reported lost.  Small blocks (zlib) and 64 KiB ones
 * (libdeflate).
 */
static void
failed_seal_allocation_keeps_records(void **state)
{
	(void)state;
	for (int big = 0; big <= 1; big++) {
		int k;

		for (k = 1; k <= 200; k++) {
			char dir[PATH_MAX], rec[128];
			struct buffer *b;
			struct buffer_cursor *c;
			bool fired;

			ring_level = big ? 1 : 3;
			ring_block = big ? 64u << 10 : 4096;
			newdir(dir, sizeof(dir));
			b = open_ring(dir, BUFFER_FSYNC_NEVER);
			fail_realloc_in = k;
			for (int i = 0; i < 1000; i++) {
				int len = snprintf(rec, sizeof(rec),
				    "record-%06d-%s", i, "padding padding "
				    "padding padding padding padding padding");

				if (buffer_append(b, "in", 1000 + i, 0, rec,
				    (size_t)len, NULL) == 0)
					continue;
				/* Refused (no memory): it goes in now. */
				disarm();
				assert_int_equal(buffer_append(b, "in",
				    1000 + i, 0, rec, (size_t)len, NULL), 0);
			}
			fired = fail_realloc_in == 0;
			disarm();
			assert_int_equal(buffer_sync(b), 0);
			buffer_close(b);
			b = open_ring(dir, BUFFER_FSYNC_NEVER);
			assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
			assert_int_equal(drain_all(c, 1, 1000), 0);
			buffer_close(b);
			if (!fired)
				break;	/* past the last allocation */
		}
		/* Several allocations were failed, not all. */
		assert_true(k > 3 && k <= 200);
	}
	ring_level = 0;
	ring_block = 4096;
}
#endif

/* The same with each pread of the reading cursor failing in turn. */
static void
failed_read_is_retried(void **state)
{
	char dir[PATH_MAX];

	(void)state;
	make_ring(dir, sizeof(dir));
	for (int k = 1; k <= 60; k++) {
		struct buffer *b = open_ring(dir, BUFFER_FSYNC_NEVER);
		struct buffer_cursor *c;
		struct buffer_stats st;
		char name[16];

		snprintf(name, sizeof(name), "c%d", k);
		assert_int_equal(buffer_cursor_open(b, name, &c), 0);
		fail_pread_in = k;
		assert_int_equal(drain_opt(c, 1, NREC, true), 0);
		disarm();
		buffer_get_stats(b, &st);
		assert_int_equal(st.corrupt_blocks, 0);
		buffer_close(b);
	}
}

/*
 * A read failing during recovery makes buffer_open() fail (-EIO) and
 * changes nothing: no segment is cut, moved to quarantine or called lost,
 * and the next open finds every record.
 */
static void
failed_read_at_open_fails_cleanly(void **state)
{
	char dir[PATH_MAX], q[PATH_MAX + 16];
	uint64_t bytes;
	int nseg, nseg2, failed = 0;

	(void)state;
	make_ring(dir, sizeof(dir));
	bytes = dir_bytes(dir, &nseg);
	for (int k = 1; k <= 400; k++) {
		struct buffer_opts o;
		struct buffer *b = (struct buffer *)&o;	/* must become NULL */
		int rc;

		buffer_opts_default(&o);
		o.dir = dir;
		o.max_size = 64u << 20;
		o.segment_size = 64u << 10;
		o.block_size = 4096;
		o.fsync = BUFFER_FSYNC_NEVER;
		preads = 0;
		fail_pread_in = k;
		rc = buffer_open(&o, &b);
		disarm();
		if (rc == 0) {
			buffer_close(b);
			if (preads < k)
				break;		/* past the last read */
			continue;
		}
		failed++;
		assert_int_equal(rc, -EIO);
		assert_null(b);
		assert_int_equal(dir_bytes(dir, &nseg2), bytes);
		assert_int_equal(nseg2, nseg);
	}
	assert_true(failed > 10);
	snprintf(q, sizeof(q), "%s/quarantine", dir);
	assert_int_equal(access(q, F_OK), -1);
	{
		struct buffer *b = open_ring(dir, BUFFER_FSYNC_NEVER);
		struct buffer_cursor *c;

		assert_int_equal(buffer_cursor_open(b, "after", &c), 0);
		assert_int_equal(drain_all(c, 1, NREC), 0);
		buffer_close(b);
	}
}

/*
 * The fsync of a segment being sealed fails: its records are not
 * durable, and durable_seq (which input positions follow) must not pass
 * them when the next segment's fsync succeeds, only once that segment is
 * fsynced again.
 */
static void
failed_seal_fsync_keeps_records_not_durable(void **state)
{
	char dir[PATH_MAX];
	struct buffer *b;
	struct buffer_stats st;

	(void)state;
	newdir(dir, sizeof(dir));
	b = open_ring(dir, BUFFER_FSYNC_INTERVAL);
	assert_true((size_t)snprintf(fail_fsync_path, sizeof(fail_fsync_path),
	    "%.*s/seg-0000000000000001.sfw", 200, dir) <
	    sizeof(fail_fsync_path));
	fsyncs_failed = 0;
	fill(b, 1000);			/* into the second segment */
	buffer_get_stats(b, &st);
	assert_true(st.segments >= 2);
	assert_true(fsyncs_failed >= 1);
	assert_int_equal(buffer_durable_seq(b), 0);
	assert_int_not_equal(buffer_sync(b), 0);
	assert_int_equal(buffer_durable_seq(b), 0);
	disarm();
	assert_int_equal(buffer_sync(b), 0);
	assert_int_equal(buffer_durable_seq(b), 1000);
	buffer_close(b);
}

/*
 * One fdatasync of the segment being written fails.  Linux may have
 * dropped the pages it could not write, so the next fsync succeeding
 * proves nothing: the frames since the last good fsync are written again
 * (from the page cache, checked) before durable_seq moves past them.
 */
static void
failed_fsync_writes_the_frames_again(void **state)
{
	char dir[PATH_MAX];
	struct buffer *b;
	struct buffer_cursor *c;

	(void)state;
	newdir(dir, sizeof(dir));
	b = open_ring(dir, BUFFER_FSYNC_ALWAYS);
	assert_true((size_t)snprintf(fail_fsync_path, sizeof(fail_fsync_path),
	    "%.*s/seg-0000000000000001.sfw", 200, dir) <
	    sizeof(fail_fsync_path));
	fail_fsync_once = true;
	fsyncs_failed = 0;
	seg_pwritten = 0;
	fill(b, 300);
	assert_int_equal(buffer_sync(b), 0);
	assert_int_equal(fsyncs_failed, 1);
	assert_true(seg_pwritten > 4096);	/* the frames, again */
	assert_int_equal(buffer_durable_seq(b), 300);
	disarm();
	buffer_close(b);
	b = open_ring(dir, BUFFER_FSYNC_NEVER);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	assert_int_equal(drain_all(c, 1, 300), 0);
	buffer_close(b);
}

/*
 * A segment every output has passed is deleted only once the cursor files
 * say so: while they cannot be saved it stays, and a restart that finds
 * the old acknowledgement reads its records again instead of announcing
 * them as lost.
 */
static void
unsaved_cursor_keeps_segments(void **state)
{
	char dir[PATH_MAX], fast[PATH_MAX + 32];
	struct buffer *b;
	struct buffer_cursor *c;
	struct buffer_stats st;
	uint64_t before;

	(void)state;
	newdir(dir, sizeof(dir));
	b = open_ring(dir, BUFFER_FSYNC_NEVER);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	fill(b, NREC);
	assert_int_equal(buffer_sync(b), 0);
	buffer_get_stats(b, &st);
	before = st.segments;
	assert_true(before >= 3);
	fail_rename_sub = "/cursors/";
	assert_int_equal(drain_all(c, 1, NREC), 0);
	buffer_get_stats(b, &st);
	assert_int_equal(st.segments, before);
	buffer_close(b);
	disarm();
	/* The quick note is not fsynced: a power cut may take it. */
	snprintf(fast, sizeof(fast), "%s/cursors/out.cur.fast", dir);
	(void)unlink(fast);
	b = open_ring(dir, BUFFER_FSYNC_NEVER);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	assert_int_equal(drain_all(c, 1, NREC), 0);
	/* Now saved: the segments go. */
	buffer_get_stats(b, &st);
	assert_true(st.segments < before);
	buffer_close(b);
}

/* buffer_open() never returns 0 without a ring (path_of() sets no errno). */
static void
open_error_is_never_success(void **state)
{
	char dir[PATH_MAX + 1], comp[201];
	struct buffer_opts o;
	struct buffer *b = (struct buffer *)&o;
	size_t len;

	(void)state;
	memset(comp, 'd', 200);
	comp[200] = '\0';
	/* A path of PATH_MAX - 6 bytes: its parents are made here, its last
	 * component by buffer_open(), and DIR/cursors is then too long. */
	len = (size_t)snprintf(dir, sizeof(dir), "%s", root);
	while (PATH_MAX - 6 - len > 250) {
		len += (size_t)snprintf(dir + len, sizeof(dir) - len, "/%s",
		    comp);
		assert_true(mkdir(dir, 0750) == 0 || errno == EEXIST);
	}
	dir[len++] = '/';
	while (len < PATH_MAX - 6)
		dir[len++] = 'x';
	dir[len] = '\0';
	buffer_opts_default(&o);
	o.dir = dir;
	errno = 0;
	assert_int_equal(buffer_open(&o, &b), -ENAMETOOLONG);
	assert_null(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#ifndef UNDER_ASAN
		/* realloc cannot be replaced under ASan (the normal build
		 * runs it; failed_read_is_retried takes the same path). */
		cmocka_unit_test(failed_read_allocation_is_retried),
		cmocka_unit_test(failed_read_allocation_is_retried_libdeflate),
		cmocka_unit_test(failed_seal_allocation_keeps_records),
#endif
		cmocka_unit_test(failed_read_is_retried),
		cmocka_unit_test(failed_read_at_open_fails_cleanly),
		cmocka_unit_test(failed_seal_fsync_keeps_records_not_durable),
		cmocka_unit_test(failed_fsync_writes_the_frames_again),
		cmocka_unit_test(unsaved_cursor_keeps_segments),
		cmocka_unit_test(open_error_is_never_success),
	};
	char cmd[128];
	int rc;

	log_init("test_buffer_faults", LOG_LEVEL_ERROR);
	snprintf(root, sizeof(root), "/tmp/sysmonfwd-tbf-XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
