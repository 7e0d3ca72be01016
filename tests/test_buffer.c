/*
 * test_buffer.c - the disk ring: append, read and acknowledge through
 * several cursors, persistence across reopen, wrap-around and eviction
 * with exact gap counts, the block policy, oversized records, and
 * recovery from damage: a segment cut at every byte offset and bytes
 * flipped inside blocks must reopen, deliver every intact record exactly
 * once and report the rest as gaps.  The block codec: every flavour
 * (libdeflate, zlib with the dictionary as every version before wrote,
 * stored) is read back, the size picks the flavour, and a libdeflate
 * payload that does not decode to exactly its stated length is damage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <zlib.h>

#include "buffer.h"
#include "buffer_int.h"
#include "base.h"

static char root[64];
static int dirno;

/* A fresh directory name for one ring (kept for the whole run). */
static const char *
newdir(void)
{
	static char names[4096][80];
	char *d = names[dirno % 4096];

	snprintf(d, sizeof(names[0]), "%s/r%d", root, dirno + 1);
	dirno++;
	return d;
}

static struct buffer *
open_ring(const char *dir, uint64_t max, uint64_t seg, uint64_t block,
    int full)
{
	struct buffer_opts o;
	struct buffer *b;

	buffer_opts_default(&o);
	o.dir = dir;
	o.max_size = max;
	o.segment_size = seg;
	o.block_size = block;
	o.full = full;
	o.fsync = BUFFER_FSYNC_NEVER;
	assert_int_equal(buffer_open(&o, &b), 0);
	return b;
}

static void
append_n(struct buffer *b, int from, int n)
{
	char rec[64];

	for (int i = from; i < from + n; i++) {
		int len = snprintf(rec, sizeof(rec), "record-%06d", i);
		assert_int_equal(buffer_append(b, i % 2 ? "win" : "lin",
		    1000 + i, 0, rec, (size_t)len, NULL), 0);
	}
}

/*
 * Read everything available through c; check records come in order with
 * their contents; count gap records.  Acknowledge as it goes.  Return the
 * number of real records; *gap gets the records reported as gaps.
 */
static uint64_t
drain(struct buffer_cursor *c, uint64_t *gap, uint64_t *first, uint64_t *last)
{
	struct buffer_rec r[128];
	uint64_t real = 0, prev = 0;
	size_t n;

	*gap = 0;
	if (first != NULL)
		*first = 0;
	while ((n = buffer_read(c, r, 128, 1 << 20)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (r[i].flags & BUFFER_REC_GAP) {
				assert_true(r[i].gap_count > 0);
				assert_int_equal(r[i].seq, r[i].gap_first +
				    r[i].gap_count - 1);
				assert_true(r[i].len > 0);
				*gap += r[i].gap_count;
				prev = r[i].seq;
				continue;
			}
			char want[64];
			int len = snprintf(want, sizeof(want), "record-%06d",
			    (int)(r[i].seq - 1));
			assert_true(prev == 0 || r[i].seq == prev + 1);
			assert_int_equal(r[i].len, (size_t)len);
			assert_memory_equal(r[i].data, want, (size_t)len);
			assert_string_equal(r[i].source, (r[i].seq - 1) % 2 ?
			    "win" : "lin");
			assert_int_equal(r[i].time_ms, 1000 + (int64_t)r[i].seq -
			    1);
			if (first != NULL && *first == 0)
				*first = r[i].seq;
			if (last != NULL)
				*last = r[i].seq;
			prev = r[i].seq;
			real++;
		}
		assert_int_equal(buffer_ack(c, r[n - 1].seq), 0);
	}
	return real;
}

static void
buffer_round_trip_and_several_cursors(void **state)
{
	const char *d = newdir();
	struct buffer *b = open_ring(d, 4 << 20, 1 << 20, 4096,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *c1, *c2;
	struct buffer_rec r[4];
	uint64_t gap, seq;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "a", &c1), 0);
	assert_int_equal(buffer_cursor_open(b, "b", &c2), 0);
	assert_int_equal(buffer_append(b, "win", 5, BUFFER_REC_TRUNCATED,
	    "x", 1, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(buffer_read(c1, r, 4, 1 << 20), 1);
	assert_int_equal(r[0].flags, BUFFER_REC_TRUNCATED);
	assert_memory_equal(r[0].data, "x", 1);
	assert_int_equal(buffer_ack(c1, 1), 0);
	assert_int_equal(buffer_ack(c2, 1), 0);
	append_n(b, 1, 2999);	/* seq = i + 1 from here on */
	assert_int_equal(buffer_cursor_pending(c1), 2999);
	/* Records in the block being filled are readable at once. */
	assert_true(buffer_cursor_unread(c1) == 2999);
	assert_int_equal(drain(c1, &gap, NULL, NULL), 2999);
	assert_int_equal(gap, 0);
	assert_int_equal(buffer_cursor_pending(c1), 0);
	assert_int_equal(buffer_cursor_pending(c2), 2999);
	/* Half for c2, then a rewind re-reads the unacknowledged. */
	assert_int_equal(buffer_read(c2, r, 4, 1 << 20), 4);
	assert_int_equal(r[0].seq, 2);
	assert_int_equal(buffer_ack(c2, 3), 0);
	buffer_rewind(c2);
	assert_int_equal(buffer_read(c2, r, 1, 1 << 20), 1);
	assert_int_equal(r[0].seq, 4);
	buffer_close(b);
}

static void
buffer_persists_records_and_cursors_across_reopen(void **state)
{
	const char *d = newdir();
	struct buffer *b = open_ring(d, 4 << 20, 1 << 20, 4096,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *c;
	struct buffer_rec r[64];
	struct buffer_stats st;
	uint64_t gap, first, last;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	append_n(b, 0, 1000);
	assert_int_equal(buffer_read(c, r, 64, 1 << 20), 64);
	assert_int_equal(buffer_ack(c, 64), 0);
	assert_int_equal(buffer_sync(b), 0);
	assert_int_equal(buffer_durable_seq(b), 1000);
	buffer_close(b);

	b = open_ring(d, 4 << 20, 1 << 20, 4096, BUFFER_FULL_DROP_OLDEST);
	buffer_get_stats(b, &st);
	assert_int_equal(st.last_seq, 1000);
	assert_int_equal(st.records, 1000);
	assert_true(st.raw_bytes > 8 * st.disk_bytes / 10);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	assert_int_equal(drain(c, &gap, &first, &last), 936);
	assert_int_equal(first, 65);
	assert_int_equal(last, 1000);
	assert_int_equal(gap, 0);
	/* New records continue the numbering. */
	append_n(b, 1000, 10);
	assert_int_equal(buffer_last_seq(b), 1010);
	assert_int_equal(drain(c, &gap, NULL, &last), 10);
	assert_int_equal(last, 1010);
	/* A cursor never seen before starts at the oldest record. */
	assert_int_equal(buffer_cursor_open(b, "late", &c), 0);
	assert_int_equal(buffer_read(c, r, 1, 1 << 20), 1);
	assert_true(r[0].seq <= 65);
	buffer_close(b);
}

static void
buffer_drop_oldest_reports_exact_gaps(void **state)
{
	const char *d = newdir();
	/* 64 KiB segments, 128 KiB cap: two segments at most. */
	struct buffer *b = open_ring(d, 128 << 10, 64 << 10, 4096,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *fast, *slow;
	struct buffer_stats st;
	uint64_t gap, real, first, last;
	char big[3000];

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "fast", &fast), 0);
	assert_int_equal(buffer_cursor_open(b, "slow", &slow), 0);
	/* Incompressible-ish records so the cap is reached quickly. */
	srand(7);
	for (int i = 0; i < 400; i++) {
		for (size_t k = 0; k < sizeof(big); k++)
			big[k] = (char)('a' + rand() % 26);
		int len = snprintf(big, 16, "record-%06d", i);
		big[len] = ' ';
		assert_int_equal(buffer_append(b, i % 2 ? "win" : "lin",
		    1000 + i, 0, big, sizeof(big), NULL), 0);
		if (i % 10 == 9) {
			struct buffer_rec r[16];
			size_t n;
			while ((n = buffer_read(fast, r, 16, 1 << 20)) > 0)
				assert_int_equal(buffer_ack(fast,
				    r[n - 1].seq), 0);
		}
	}
	buffer_get_stats(b, &st);
	assert_true(st.evicted > 0);
	assert_true(st.disk_bytes <= 128 << 10);
	/* The slow cursor: every record is either delivered or in a gap. */
	{
		struct buffer_rec r[64];
		size_t n;
		uint64_t seen = 0, gaps = 0, prev = 0;
		bool first_gap = true;
		while ((n = buffer_read(slow, r, 64, 1 << 20)) > 0) {
			for (size_t i = 0; i < n; i++) {
				if (r[i].flags & BUFFER_REC_GAP) {
					assert_int_equal(r[i].gap_first,
					    prev + 1);
					gaps += r[i].gap_count;
					if (first_gap)
						assert_non_null(strstr(r[i].data,
						    "max_size"));
					first_gap = false;
				} else {
					assert_int_equal(r[i].seq, prev + 1);
					assert_memory_equal(r[i].data, "record-",
					    7);
					seen++;
				}
				prev = r[i].seq;
			}
			assert_int_equal(buffer_ack(slow, r[n - 1].seq), 0);
		}
		assert_int_equal(seen + gaps, 400);
		assert_true(gaps > 0);
		assert_int_equal(gaps, st.evicted);
	}
	real = drain(fast, &gap, &first, &last);
	(void)real;
	buffer_close(b);
}

static void
buffer_block_policy_refuses_then_resumes(void **state)
{
	const char *d = newdir();
	struct buffer *b = open_ring(d, 128 << 10, 64 << 10, 4096,
	    BUFFER_FULL_BLOCK);
	struct buffer_cursor *c;
	struct buffer_stats st;
	char big[3000];
	int appended = 0, rc = 0;
	uint64_t gap;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "c", &c), 0);
	srand(11);
	while (appended < 1000) {
		for (size_t k = 0; k < sizeof(big); k++)
			big[k] = (char)('a' + rand() % 26);
		snprintf(big, 16, "record-%06d", appended);
		big[13] = ' ';
		rc = buffer_append(b, "win", 1000 + appended, 0, big,
		    sizeof(big), NULL);
		if (rc != 0)
			break;
		appended++;
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_true(appended > 10 && appended < 100);
	assert_false(buffer_can_append(b, sizeof(big)));
	buffer_get_stats(b, &st);
	assert_int_equal(st.evicted, 0);
	assert_int_equal(st.rejected_full, 1);
	/* Acknowledging everything makes room again; nothing was lost. */
	{
		struct buffer_rec r[64];
		size_t n;
		uint64_t seen = 0;
		while ((n = buffer_read(c, r, 64, 1 << 20)) > 0) {
			for (size_t i = 0; i < n; i++)
				assert_false(r[i].flags & BUFFER_REC_GAP);
			seen += n;
			assert_int_equal(buffer_ack(c, r[n - 1].seq), 0);
		}
		assert_int_equal(seen, (uint64_t)appended);
	}
	assert_true(buffer_can_append(b, sizeof(big)));
	assert_int_equal(buffer_append(b, "win", 0, 0, big, sizeof(big),
	    NULL), 0);
	(void)gap;
	buffer_close(b);
}

static void
buffer_cuts_oversized_records(void **state)
{
	const char *d = newdir();
	struct buffer_opts o;
	struct buffer *b;
	struct buffer_cursor *c;
	struct buffer_rec r[4];
	struct buffer_stats st;
	char *big = malloc(5000);

	(void)state;
	memset(big, 'z', 5000);
	buffer_opts_default(&o);
	o.dir = d;
	o.max_record_size = 2048;
	o.fsync = BUFFER_FSYNC_NEVER;
	assert_int_equal(buffer_open(&o, &b), 0);
	assert_int_equal(buffer_cursor_open(b, "c", &c), 0);
	assert_int_equal(buffer_append(b, "win", 1, 0, big, 5000, NULL), 0);
	assert_int_equal(buffer_read(c, r, 4, 1 << 20), 1);
	assert_int_equal(r[0].len, 2048);
	assert_int_equal(r[0].flags, BUFFER_REC_TRUNCATED);
	buffer_get_stats(b, &st);
	assert_int_equal(st.truncated, 1);
	buffer_close(b);
	free(big);
}

static void
buffer_second_opener_is_refused(void **state)
{
	const char *d = newdir();
	struct buffer *b = open_ring(d, 4 << 20, 1 << 20, 4096,
	    BUFFER_FULL_DROP_OLDEST), *b2;
	struct buffer_opts o;

	(void)state;
	buffer_opts_default(&o);
	o.dir = d;
	assert_int_equal(buffer_open(&o, &b2), -EBUSY);
	o.max_size = o.segment_size;	/* cap below two segments */
	assert_int_equal(buffer_open(&o, &b2), -EINVAL);
	buffer_close(b);
	buffer_close(NULL);
}

/* The path of the only segment file in d. */
static void
only_segment(const char *d, char *out, size_t len)
{
	DIR *dir = opendir(d);
	struct dirent *e;
	int n = 0;

	assert_non_null(dir);
	while ((e = readdir(dir)) != NULL)
		if (strncmp(e->d_name, "seg-", 4) == 0) {
			if (snprintf(out, len, "%s/%.64s", d, e->d_name) >=
			    (int)len)
				fail_msg("path too long");
			n++;
		}
	closedir(dir);
	assert_int_equal(n, 1);
}

static void
copy_file(const char *from, const char *to, off_t cut)
{
	char buf[1 << 16];
	int in = open(from, O_RDONLY), out;
	ssize_t n;
	off_t done = 0;

	assert_true(in >= 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (cut >= 0 && done + n > cut)
			n = cut - done;
		if (n > 0)
			assert_int_equal(write(out, buf, (size_t)n), n);
		done += n;
		if (cut >= 0 && done >= cut)
			break;
	}
	close(in);
	close(out);
}

/* Copy the cursor file of output "out" from ring src to ring d. */
static void
copy_cursor(const char *src, const char *d)
{
	char from[300], to[300];

	snprintf(to, sizeof(to), "%s/cursors", d);
	assert_int_equal(mkdir(to, 0750), 0);
	snprintf(from, sizeof(from), "%s/cursors/out.cur", src);
	snprintf(to, sizeof(to), "%s/cursors/out.cur", d);
	copy_file(from, to, -1);
}

/* Build a small ring of 300 records in d; return the segment size. */
static off_t
build_small(const char *d, char *seg, size_t seglen)
{
	struct buffer *b = open_ring(d, 4 << 20, 1 << 20, 1024,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *c;
	struct stat sb;

	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	append_n(b, 0, 300);
	buffer_close(b);
	only_segment(d, seg, seglen);
	assert_int_equal(stat(seg, &sb), 0);
	return sb.st_size;
}

static void
reopen_and_count(const char *d, uint64_t *real, uint64_t *gap)
{
	struct buffer *b = open_ring(d, 4 << 20, 1 << 20, 1024,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *c;

	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	*real = drain(c, gap, NULL, NULL);
	/* The ring stays usable: new records continue after the rest. */
	append_n(b, 300, 1);
	buffer_close(b);
}

static void
buffer_reopen_after_truncation_at_every_offset(void **state)
{
	const char *src = newdir();
	char seg[256], name[64], path[300];
	off_t size = build_small(src, seg, sizeof(seg));
	uint64_t total_real = 0;

	(void)state;
	snprintf(name, sizeof(name), "%s", strrchr(seg, '/') + 1);
	for (off_t cut = 0; cut <= size; cut++) {
		const char *d = newdir();
		uint64_t real, gap;
		char head[300];

		assert_int_equal(mkdir(d, 0750), 0);
		snprintf(path, sizeof(path), "%s/%s", d, name);
		copy_file(seg, path, cut);
		snprintf(head, sizeof(head), "%s/head", src);
		snprintf(path, sizeof(path), "%s/head", d);
		copy_file(head, path, -1);
		copy_cursor(src, d);
		reopen_and_count(d, &real, &gap);
		/* Every record is either delivered intact or in a gap. */
		if (real + gap != 300)
			fail_msg("cut at %jd: %ju records + %ju in gaps != 300",
			    (intmax_t)cut, (uintmax_t)real, (uintmax_t)gap);
		total_real += real;
		if (cut == size)
			assert_int_equal(real, 300);
	}
	assert_true(total_real > 0);
}

static void
buffer_reopen_after_flipped_bytes(void **state)
{
	const char *src = newdir();
	char seg[256], name[64], path[300], head[300];
	off_t size = build_small(src, seg, sizeof(seg));
	int damaged_runs = 0;

	(void)state;
	snprintf(name, sizeof(name), "%s", strrchr(seg, '/') + 1);
	snprintf(head, sizeof(head), "%s/head", src);
	/* Flip one byte at many places, inside headers and payloads. */
	for (off_t at = 0; at < size; at += 7) {
		const char *d = newdir();
		uint64_t real, gap;
		unsigned char byte;
		int fd;

		assert_int_equal(mkdir(d, 0750), 0);
		snprintf(path, sizeof(path), "%s/%s", d, name);
		copy_file(seg, path, -1);
		fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &byte, 1, at), 1);
		byte ^= 0x5a;
		assert_int_equal(pwrite(fd, &byte, 1, at), 1);
		close(fd);
		snprintf(path, sizeof(path), "%s/head", d);
		copy_file(head, path, -1);
		copy_cursor(src, d);
		reopen_and_count(d, &real, &gap);
		if (real + gap != 300)
			fail_msg("flip at %jd: %ju + %ju gaps != 300",
			    (intmax_t)at, (uintmax_t)real, (uintmax_t)gap);
		if (gap > 0)
			damaged_runs++;
	}
	assert_true(damaged_runs > 0);
}

static void
buffer_quarantines_unreadable_segment(void **state)
{
	const char *d = newdir();
	struct buffer *b = open_ring(d, 1 << 20, 64 << 10, 4096,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *c;
	char path[300], qpath[300];
	uint64_t real, gap;
	int fd;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	append_n(b, 0, 60000);	/* several segments */
	buffer_close(b);
	snprintf(path, sizeof(path), "%s/seg-0000000000000001.sfw", d);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
	close(fd);
	b = open_ring(d, 1 << 20, 64 << 10, 4096, BUFFER_FULL_DROP_OLDEST);
	snprintf(qpath, sizeof(qpath), "%s/quarantine/seg-0000000000000001.sfw",
	    d);
	assert_int_equal(access(qpath, F_OK), 0);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	{
		struct buffer_rec r[1];
		assert_int_equal(buffer_read(c, r, 1, 1 << 20), 1);
		assert_true(r[0].flags & BUFFER_REC_GAP);
		assert_int_equal(r[0].gap_first, 1);
		if (strstr(r[0].data, "quarantine") == NULL)
			fail_msg("reason: %.*s", (int)r[0].len, r[0].data);
		assert_int_equal(buffer_ack(c, r[0].seq), 0);
		gap = r[0].gap_count;
	}
	{
		uint64_t g2;
		real = drain(c, &g2, NULL, NULL);
		gap += g2;
	}
	assert_int_equal(real + gap, 60000);
	assert_true(real > 0);
	buffer_close(b);
}

static void
buffer_keeps_input_positions_with_the_records(void **state)
{
	const char *d = newdir();
	struct buffer *b = open_ring(d, 4 << 20, 1 << 20, 1024,
	    BUFFER_FULL_DROP_OLDEST);
	char seg[256];
	struct stat sb;
	off_t first_block_end;

	(void)state;
	assert_null(buffer_get_position(b, "win"));
	append_n(b, 0, 10);
	buffer_set_position(b, "win", "dev 1 ino 2 off 100 crc 0");
	buffer_set_position(b, "lin", "dev 1 ino 3 off 7 crc 0");
	/* Not on disk yet: only what a reopen would find is reported. */
	assert_null(buffer_get_position(b, "win"));
	assert_int_equal(buffer_sync(b), 0);
	only_segment(d, seg, sizeof(seg));
	assert_int_equal(stat(seg, &sb), 0);
	first_block_end = sb.st_size;
	append_n(b, 10, 10);
	buffer_set_position(b, "win", "dev 1 ino 2 off 200 crc 0");
	buffer_close(b);

	b = open_ring(d, 4 << 20, 1 << 20, 1024, BUFFER_FULL_DROP_OLDEST);
	assert_string_equal(buffer_get_position(b, "win"),
	    "dev 1 ino 2 off 200 crc 0");
	assert_string_equal(buffer_get_position(b, "lin"),
	    "dev 1 ino 3 off 7 crc 0");
	buffer_close(b);
	/* The block holding the newer position torn away: the older one. */
	assert_int_equal(truncate(seg, first_block_end + 20), 0);
	b = open_ring(d, 4 << 20, 1 << 20, 1024, BUFFER_FULL_DROP_OLDEST);
	assert_string_equal(buffer_get_position(b, "win"),
	    "dev 1 ino 2 off 100 crc 0");
	buffer_close(b);
}

/*
 * An input idle since its checkpoint went into a block: once the segment
 * holding that block is acknowledged and deleted, the ring still knows
 * the checkpoint (the next block carries it again), so a crash before the
 * input's own position file catches up does not send it back to its
 * start.
 */
static void
buffer_keeps_an_idle_inputs_position_past_deleted_segments(void **state)
{
	const char *d = newdir();
	struct buffer *b = open_ring(d, 4 << 20, 64 << 10, 1024,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *c;
	uint64_t gap;
	int n = 0;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	append_n(b, n, 10);
	n += 10;
	buffer_set_position(b, "idle", "dev 1 ino 9 off 4242 crc 0");
	append_n(b, n, 10);
	n += 10;
	assert_int_equal(buffer_sync(b), 0);
	/* Others go on writing: segments fill, are read and acknowledged,
	 * and the first one (the only one with the checkpoint) goes. */
	for (int round = 0; round < 40; round++) {
		append_n(b, n, 200);
		n += 200;
		assert_int_equal(buffer_sync(b), 0);
		(void)drain(c, &gap, NULL, NULL);
		assert_int_equal(gap, 0);
	}
	(void)buffer_tick(b, INT64_MAX / 2);
	append_n(b, n, 10);
	n += 10;
	assert_int_equal(buffer_sync(b), 0);
	buffer_close(b);

	b = open_ring(d, 4 << 20, 64 << 10, 1024, BUFFER_FULL_DROP_OLDEST);
	assert_non_null(buffer_get_position(b, "idle"));
	assert_string_equal(buffer_get_position(b, "idle"),
	    "dev 1 ino 9 off 4242 crc 0");
	buffer_close(b);
}

static void
write_fast(const char *d, const char *text)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cursors/out.cur.fast", d);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
buffer_cursor_quick_note_wins_unless_torn(void **state)
{
	const char *d = newdir();
	struct buffer *b = open_ring(d, 4 << 20, 1 << 20, 4096,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *c;
	struct buffer_rec r[1];
	char text[64];
	int n;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	append_n(b, 0, 300);
	assert_int_equal(buffer_ack(c, 100), 0);
	buffer_close(b);	/* out.cur says 100 */

	/* An agent crash left a newer quick note: it wins. */
	n = snprintf(text, sizeof(text), "acked %020d", 150);
	snprintf(text + n, sizeof(text) - (size_t)n, " %08x\n",
	    (unsigned)crc32(0L, (const unsigned char *)text, (unsigned)n));
	write_fast(d, text);
	b = open_ring(d, 4 << 20, 1 << 20, 4096, BUFFER_FULL_DROP_OLDEST);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	assert_int_equal(buffer_read(c, r, 1, 1 << 20), 1);
	assert_int_equal(r[0].seq, 151);
	buffer_close(b);

	/* A torn note (its CRC fails): the fsynced file decides. */
	write_fast(d, "acked 00000000000000000290 deadbeef\n");
	b = open_ring(d, 4 << 20, 1 << 20, 4096, BUFFER_FULL_DROP_OLDEST);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	assert_int_equal(buffer_read(c, r, 1, 1 << 20), 1);
	assert_int_equal(r[0].seq, 151);
	buffer_close(b);

	/*
	 * A real crash: the note the ring itself wrote (with "dropped") is
	 * read back.  A child acknowledges and dies without closing the
	 * ring; the parent reopens it.
	 */
	{
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0) {
			b = open_ring(d, 4 << 20, 1 << 20, 4096,
			    BUFFER_FULL_DROP_OLDEST);
			/* Quick notes are at most every 10 ms: sleeping
			 * longer than that makes this ack one (a lower bound,
			 * so not a race). */
			usleep(20000);
			if (buffer_cursor_open(b, "out", &c) != 0)
				_exit(1);
			usleep(20000);
			if (buffer_ack(c, 277) != 0)
				_exit(1);
			_exit(0);	/* no close: NAME.cur keeps 150 */
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	b = open_ring(d, 4 << 20, 1 << 20, 4096, BUFFER_FULL_DROP_OLDEST);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	assert_int_equal(buffer_read(c, r, 1, 1 << 20), 1);
	assert_int_equal(r[0].seq, 278);
	buffer_close(b);
}

static void
buffer_inspect_reports_backlog(void **state)
{
	const char *d = newdir();
	struct buffer *b = open_ring(d, 4 << 20, 1 << 20, 4096,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *c;
	struct buffer_stats st;
	struct buffer_rec r[100];

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	append_n(b, 0, 1000);
	assert_int_equal(buffer_read(c, r, 100, 1 << 20), 100);
	assert_int_equal(buffer_ack(c, 100), 0);
	buffer_close(b);
	assert_int_equal(buffer_inspect(d, &st, NULL, NULL), 0);
	assert_int_equal(st.records, 1000);
	assert_int_equal(st.last_seq, 1000);
	assert_true(st.raw_bytes > st.disk_bytes);
	assert_true(st.segments >= 1);
}

/*
 * A rewind (or an unread) to before the block the cursor has decoded reads
 * the records again, never a gap: "no longer in the buffer" is only for
 * records that are really gone.
 */
static void
buffer_rewind_and_unread_never_invent_a_gap(void **state)
{
	const char *d = newdir();
	struct buffer *b = open_ring(d, 4 << 20, 1 << 20, 1024,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *c;
	struct buffer_cursor_stats cs;
	struct buffer_rec r[64];
	uint64_t gap, first, last;
	size_t n, read = 0;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	append_n(b, 0, 3000);
	assert_int_equal(buffer_sync(b), 0);
	/* Read well into later blocks, acknowledging only the first 10. */
	while (read < 1500 && (n = buffer_read(c, r, 64, 1 << 20)) > 0) {
		for (size_t i = 0; i < n; i++)
			assert_false(r[i].flags & BUFFER_REC_GAP);
		read += n;
	}
	assert_int_equal(buffer_ack(c, 10), 0);
	buffer_rewind(c);
	n = buffer_read(c, r, 64, 1 << 20);
	assert_true(n > 0);
	assert_false(r[0].flags & BUFFER_REC_GAP);
	assert_int_equal(r[0].seq, 11);
	/* Unread to a record of an earlier block than the one decoded. */
	while (read < 2500 && (n = buffer_read(c, r, 64, 1 << 20)) > 0)
		read += n;
	buffer_unread(c, 700);
	n = buffer_read(c, r, 64, 1 << 20);
	assert_true(n > 0);
	assert_false(r[0].flags & BUFFER_REC_GAP);
	assert_int_equal(r[0].seq, 700);
	/* Unread before what is acknowledged starts after it. */
	buffer_unread(c, 3);
	n = buffer_read(c, r, 1, 1 << 20);
	assert_int_equal(r[0].seq, 11);
	buffer_rewind(c);
	assert_int_equal(drain(c, &gap, &first, &last), 3000 - 10);
	assert_int_equal(gap, 0);
	assert_int_equal(first, 11);
	assert_int_equal(last, 3000);
	buffer_cursor_get_stats(c, &cs);
	assert_int_equal(cs.unacked, 0);
	assert_int_equal(cs.dropped, 0);
	assert_int_equal(cs.gap_records, 0);
	buffer_close(b);
}

static uint64_t dropped_seen, unacked_seen;

static void
collect_cursor(void *arg, const char *name, const struct buffer_cursor_stats *cs)
{
	(void)arg;
	if (strcmp(name, "slow") == 0) {
		dropped_seen = cs->dropped;
		unacked_seen = cs->unacked;
	}
}

/*
 * Per output: records evicted before it acknowledged them are "dropped",
 * not "unacked"; the count matches what its gap records announce, counts a
 * gap read twice (after a rewind) once, and survives a reopen and
 * --buffer-stat (buffer_inspect).
 */
static void
buffer_dropped_records_match_the_gaps(void **state)
{
	const char *d = newdir();
	struct buffer *b = open_ring(d, 128 << 10, 64 << 10, 4096,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *slow;
	struct buffer_cursor_stats cs;
	struct buffer_stats st;
	struct buffer_rec r[64];
	uint64_t gaps = 0, seen = 0, stored;
	char big[3000];
	size_t n;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "slow", &slow), 0);
	srand(9);
	for (int i = 0; i < 400; i++) {
		for (size_t k = 0; k < sizeof(big); k++)
			big[k] = (char)('a' + rand() % 26);
		int len = snprintf(big, 16, "record-%06d", i);
		big[len] = ' ';
		assert_int_equal(buffer_append(b, "win", 1000 + i, 0, big,
		    sizeof(big), NULL), 0);
	}
	assert_int_equal(buffer_sync(b), 0);
	buffer_get_stats(b, &st);
	assert_true(st.evicted > 0);
	stored = st.last_seq - st.first_seq + 1;
	buffer_cursor_get_stats(slow, &cs);
	assert_int_equal(cs.unacked, stored);
	assert_int_equal(cs.dropped, st.evicted);
	assert_int_equal(cs.unacked + cs.dropped, 400);
	/* Read the gap and a few records, go back, read them again. */
	n = buffer_read(slow, r, 4, 1 << 20);
	assert_true(n >= 2);
	assert_true(r[0].flags & BUFFER_REC_GAP);
	assert_int_equal(r[0].gap_count, st.evicted);
	buffer_rewind(slow);
	while ((n = buffer_read(slow, r, 64, 1 << 20)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (r[i].flags & BUFFER_REC_GAP)
				gaps += r[i].gap_count;
			else
				seen++;
		}
		assert_int_equal(buffer_ack(slow, r[n - 1].seq), 0);
	}
	assert_int_equal(gaps, st.evicted);
	assert_int_equal(seen, stored);
	buffer_cursor_get_stats(slow, &cs);
	assert_int_equal(cs.gap_records, st.evicted);	/* counted once */
	assert_int_equal(cs.dropped, st.evicted);
	assert_int_equal(cs.unacked, 0);
	buffer_close(b);
	/* Kept with the cursor: after a reopen and for --buffer-stat. */
	dropped_seen = unacked_seen = 99999;
	assert_int_equal(buffer_inspect(d, &st, collect_cursor, NULL), 0);
	assert_int_equal(dropped_seen, 400 - stored);
	assert_int_equal(unacked_seen, 0);
	b = open_ring(d, 128 << 10, 64 << 10, 4096, BUFFER_FULL_DROP_OLDEST);
	assert_int_equal(buffer_cursor_open(b, "slow", &slow), 0);
	buffer_cursor_get_stats(slow, &cs);
	assert_int_equal(cs.dropped, 400 - stored);
	assert_int_equal(cs.unacked, 0);
	buffer_close(b);
}

/* An input's own loss travels through the ring, across a reopen. */
static void
buffer_source_gap_survives(void **state)
{
	const char *dir = newdir();
	struct buffer *b = open_ring(dir, 4u << 20, 1u << 20, 64u << 10,
	    BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *c;
	struct buffer_rec r[8];
	uint64_t seq = 0;
	size_t n;

	(void)state;
	append_n(b, 0, 2);
	assert_int_equal(buffer_append_gap(b, "jrn", 5000, 0,
	    "the journal cursor is gone", &seq), 0);
	assert_int_equal(seq, 3);
	append_n(b, 3, 1);
	assert_int_equal(buffer_sync(b), 0);
	buffer_close(b);
	b = open_ring(dir, 4u << 20, 1u << 20, 64u << 10,
	    BUFFER_FULL_DROP_OLDEST);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	n = buffer_read(c, r, 8, 1 << 20);
	assert_int_equal(n, 4);
	assert_int_equal(r[0].flags & BUFFER_REC_SOURCE_GAP, 0);
	assert_true(r[2].flags & BUFFER_REC_SOURCE_GAP);
	assert_string_equal(r[2].source, "jrn");
	assert_int_equal(r[2].time_ms, 5000);
	assert_int_equal(r[2].len, strlen("0\nthe journal cursor is gone"));
	assert_memory_equal(r[2].data, "0\nthe journal cursor is gone",
	    r[2].len);
	assert_int_equal(r[3].flags & BUFFER_REC_SOURCE_GAP, 0);
	buffer_close(b);
}

/* ---- the block codec ------------------------------------------------------ */

/* Record i of the codec tests: "big-%06d:" then 200 to 1400 bytes of
 * words that compress about as Sysmon's text does.  Its length. */
static size_t
big_rec(char *out, size_t cap, int i)
{
	static const char *const words[] = { "<Data Name='Image'>",
	    "C:\\Windows\\System32\\", "svchost.exe", "</Data>", " -k ",
	    "NT AUTHORITY\\SYSTEM", "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}",
	    "0x1fffff", "SHA256=", "powershell.exe", "<EventID>", "4" };
	uint32_t x = 2654435761u * (uint32_t)(i + 1);
	size_t n = (size_t)snprintf(out, cap, "big-%06d:", i);
	size_t want = 200 + (size_t)(i * 7919 % 1200);

	while (n < want && n + 64 < cap) {
		x = x * 1103515245u + 12345u;
		n += (size_t)snprintf(out + n, cap - n, "%s%u",
		    words[(x >> 16) % 12], (x >> 8) % 100);
	}
	return n;
}

/* Read records first..last through c (acknowledged), each equal to
 * big_rec(seq - 1); no gap.  Return how many came. */
static uint64_t
drain_big(struct buffer_cursor *c, uint64_t first, uint64_t last)
{
	static char want[2048];
	struct buffer_rec r[64];
	uint64_t next = first;
	size_t n;

	while ((n = buffer_read(c, r, 64, 1 << 20)) > 0) {
		for (size_t i = 0; i < n; i++) {
			size_t len = big_rec(want, sizeof(want),
			    (int)(r[i].seq - 1));

			assert_false(r[i].flags & BUFFER_REC_GAP);
			assert_int_equal(r[i].seq, next);
			assert_int_equal(r[i].len, len);
			assert_memory_equal(r[i].data, want, len);
			assert_string_equal(r[i].source, "big");
			next++;
		}
		assert_int_equal(buffer_ack(c, r[n - 1].seq), 0);
	}
	assert_int_equal(next, last + 1);
	return next - first;
}

/* Records from *seq into bb until it holds at least raw bytes. */
static void
build_block(struct block_builder *bb, uint64_t *seq, size_t raw)
{
	static char rec[2048];

	bb->raw.len = 0;
	bb->nrec = 0;
	while (bb->raw.len < raw) {
		size_t len = big_rec(rec, sizeof(rec), (int)(*seq - 1));

		assert_int_equal(block_add(bb, *seq, "big",
		    (int64_t)*seq * 10, 0, rec, len), 0);
		(*seq)++;
	}
}

/* The flags of each frame of segment path, into flags[] (at most max);
 * how many frames. */
static size_t
segment_flavours(const char *path, unsigned *flags, uint32_t *raw,
    size_t max)
{
	unsigned char hdr[BLOCK_HEADER_LEN];
	struct block_hdr h;
	off_t off = SEG_HEADER_LEN;
	size_t n = 0;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	while (n < max && pread(fd, hdr, sizeof(hdr), off) ==
	    (ssize_t)sizeof(hdr)) {
		assert_int_equal(block_hdr_parse(hdr, &h), 0);
		flags[n] = h.flags;
		raw[n++] = h.raw_len;
		off += (off_t)BLOCK_FRAME_LEN(&h);
	}
	close(fd);
	return n;
}

/*
 * A segment holding one block of each flavour, big and small, framed by
 * hand: libdeflate's raw deflate, zlib with the dictionary (what every
 * version before libdeflate wrote, whatever the size) and stored.  The
 * ring reads every record back, and block_frame() picks libdeflate for a
 * block of BLOCK_DICT_MIN raw bytes or more and zlib below.
 */
static void
buffer_reads_every_block_flavour(void **state)
{
	static const unsigned flavours[] = { BLK_F_RAW, BLK_F_DEFLATE, 0 };
	const char *d = newdir();
	char path[300];
	unsigned char seg[SEG_HEADER_LEN];
	struct block_builder bb = { 0 };
	struct bbuf out = { 0 };
	struct block_hdr h;
	struct codec codec;
	struct buffer *b;
	struct buffer_cursor *c;
	struct buffer_stats st;
	unsigned got[16];
	uint32_t raw[16];
	uint64_t seq = 1, written;
	int fd;

	(void)state;
	assert_int_equal(mkdir(d, 0750), 0);
	snprintf(path, sizeof(path), "%s/seg-%016llx.sfw", d, 1ull);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	assert_true(fd >= 0);
	segment_header_make(seg, 1);
	assert_int_equal(write(fd, seg, sizeof(seg)), (ssize_t)sizeof(seg));
	assert_int_equal(codec_init(&codec, 3), 0);
	for (size_t i = 0; i < 6; i++) {
		build_block(&bb, &seq, i < 3 ? BLOCK_DICT_MIN + 20000 : 3000);
		assert_int_equal(block_frame_as(&codec, &bb, NULL, &out,
		    flavours[i % 3]), 0);
		assert_int_equal(block_hdr_parse(out.p, &h), 0);
		assert_int_equal(h.flags, flavours[i % 3]);
		if (flavours[i % 3] != 0)
			assert_true(h.stored_len * 3 < h.raw_len);
		assert_int_equal(write(fd, out.p, out.len), (ssize_t)out.len);
	}
	close(fd);
	written = seq - 1;
	/* The flavour block_frame() picks, by size. */
	build_block(&bb, &seq, BLOCK_DICT_MIN);
	assert_int_equal(block_frame(&codec, &bb, NULL, &out), 0);
	assert_int_equal(block_hdr_parse(out.p, &h), 0);
	assert_int_equal(h.flags, BLK_F_RAW);
	build_block(&bb, &seq, 1);
	assert_int_equal(block_frame(&codec, &bb, NULL, &out), 0);
	assert_int_equal(block_hdr_parse(out.p, &h), 0);
	assert_int_equal(h.flags, BLK_F_DEFLATE);
	codec_free(&codec);
	bbuf_free(&out);
	bbuf_free(&bb.raw);

	assert_int_equal(segment_flavours(path, got, raw, 16), 6);
	b = open_ring(d, 4 << 20, 1 << 20, 64 << 10, BUFFER_FULL_DROP_OLDEST);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	assert_int_equal(buffer_last_seq(b), written);
	assert_int_equal(drain_big(c, 1, written), written);
	buffer_get_stats(b, &st);
	assert_int_equal(st.corrupt_blocks, 0);
	buffer_close(b);
}

/*
 * The ring with 64 KiB blocks writes libdeflate blocks (a partial one at
 * the end, sealed below BLOCK_DICT_MIN, takes zlib), reads them back after
 * a reopen, and a libdeflate payload cut short, longer than it says, or
 * decoding to more or fewer bytes than its header states is damage.
 */
static void
buffer_libdeflate_blocks_round_trip(void **state)
{
	const char *d = newdir();
	char path[300], rec[2048];
	unsigned got[64];
	uint32_t raw[64];
	struct buffer *b;
	struct buffer_cursor *c;
	size_t n, nraw = 0;

	(void)state;
	b = open_ring(d, 16 << 20, 4 << 20, 64 << 10, BUFFER_FULL_DROP_OLDEST);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	for (int i = 0; i < 700; i++) {
		size_t len = big_rec(rec, sizeof(rec), i);

		assert_int_equal(buffer_append(b, "big", (int64_t)i, 0, rec,
		    len, NULL), 0);
	}
	buffer_close(b);
	only_segment(d, path, sizeof(path));
	n = segment_flavours(path, got, raw, 64);
	assert_true(n >= 6);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(got[i], raw[i] >= BLOCK_DICT_MIN ? BLK_F_RAW :
		    BLK_F_DEFLATE);
		nraw += got[i] == BLK_F_RAW;
	}
	assert_true(nraw >= 5);
	b = open_ring(d, 16 << 20, 4 << 20, 64 << 10, BUFFER_FULL_DROP_OLDEST);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	assert_int_equal(drain_big(c, 1, 700), 700);
	buffer_close(b);

	/* block_decode() on the first frame, its header altered. */
	{
		unsigned char *frame = malloc(256 << 10);
		struct codec codec;
		struct block_hdr h, bad;
		struct bbuf out = { 0 };
		int fd = open(path, O_RDONLY);
		ssize_t len;

		assert_non_null(frame);
		assert_true(fd >= 0);
		len = pread(fd, frame, 256 << 10, SEG_HEADER_LEN);
		close(fd);
		assert_true(len > BLOCK_HEADER_LEN);
		assert_int_equal(block_hdr_parse(frame, &h), 0);
		assert_int_equal(h.flags, BLK_F_RAW);
		assert_true(BLOCK_FRAME_LEN(&h) + 1 <= (size_t)len);
		assert_true(block_crc_ok(frame, &h));
		assert_int_equal(codec_init(&codec, 1), 0);
		assert_int_equal(block_decode(&codec, &h, BLOCK_STORED(frame,
		    &h), &out, 0), 0);
		assert_int_equal(out.len, h.raw_len);
		bad = h;
		bad.stored_len--;
		assert_int_equal(block_decode(&codec, &bad, BLOCK_STORED(frame,
		    &h), &out, 0), -EINVAL);
		bad = h;
		bad.stored_len++;	/* a byte of the next frame after it */
		assert_int_equal(block_decode(&codec, &bad, BLOCK_STORED(frame,
		    &h), &out, 0), -EINVAL);
		bad = h;
		bad.raw_len++;
		assert_int_equal(block_decode(&codec, &bad, BLOCK_STORED(frame,
		    &h), &out, 0), -EINVAL);
		bad = h;
		bad.raw_len--;
		assert_int_equal(block_decode(&codec, &bad, BLOCK_STORED(frame,
		    &h), &out, 0), -EINVAL);
		bad = h;
		bad.flags = BLK_F_DEFLATE;	/* not a zlib stream */
		assert_int_equal(block_decode(&codec, &bad, BLOCK_STORED(frame,
		    &h), &out, 0), -EINVAL);
		/* Both flavours at once is no flavour. */
		put_le16(frame + 6, BLK_F_RAW | BLK_F_DEFLATE);
		assert_int_equal(block_hdr_parse(frame, &bad), -EINVAL);
		codec_free(&codec);
		bbuf_free(&out);
		free(frame);
	}
}

/*
 * Bytes flipped inside libdeflate blocks: every record is delivered
 * intact or reported in a gap, never altered.
 */
static void
buffer_libdeflate_block_damage_is_a_gap(void **state)
{
	const char *src = newdir();
	char seg[300], name[64], path[300], head[300], rec[2048];
	struct buffer *b;
	struct buffer_cursor *c;
	struct stat sb;
	int damaged = 0;

	(void)state;
	b = open_ring(src, 16 << 20, 4 << 20, 64 << 10,
	    BUFFER_FULL_DROP_OLDEST);
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	for (int i = 0; i < 300; i++) {
		size_t len = big_rec(rec, sizeof(rec), i);

		assert_int_equal(buffer_append(b, "big", (int64_t)i, 0, rec,
		    len, NULL), 0);
	}
	buffer_close(b);
	only_segment(src, seg, sizeof(seg));
	snprintf(name, sizeof(name), "%s", strrchr(seg, '/') + 1);
	assert_int_equal(stat(seg, &sb), 0);
	for (off_t at = SEG_HEADER_LEN; at < sb.st_size; at += 997) {
		const char *d = newdir();
		static char want[2048];
		struct buffer_rec r[64];
		uint64_t real = 0, gap = 0;
		unsigned char byte;
		size_t n;
		int fd;

		assert_int_equal(mkdir(d, 0750), 0);
		snprintf(path, sizeof(path), "%s/%s", d, name);
		copy_file(seg, path, -1);
		fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &byte, 1, at), 1);
		byte ^= 0x24;
		assert_int_equal(pwrite(fd, &byte, 1, at), 1);
		close(fd);
		/* The head file says they were durable: a cut tail is a gap. */
		snprintf(path, sizeof(path), "%s/head", src);
		snprintf(head, sizeof(head), "%s/head", d);
		copy_file(path, head, -1);
		copy_cursor(src, d);
		b = open_ring(d, 16 << 20, 4 << 20, 64 << 10,
		    BUFFER_FULL_DROP_OLDEST);
		assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
		while ((n = buffer_read(c, r, 64, 1 << 20)) > 0) {
			for (size_t i = 0; i < n; i++) {
				size_t len;

				if (r[i].flags & BUFFER_REC_GAP) {
					gap += r[i].gap_count;
					continue;
				}
				len = big_rec(want, sizeof(want),
				    (int)(r[i].seq - 1));
				assert_int_equal(r[i].len, len);
				assert_memory_equal(r[i].data, want, len);
				real++;
			}
			assert_int_equal(buffer_ack(c, r[n - 1].seq), 0);
		}
		buffer_close(b);
		if (real + gap != 300)
			fail_msg("flip at %jd: %ju + %ju gaps != 300",
			    (intmax_t)at, (uintmax_t)real, (uintmax_t)gap);
		damaged += gap > 0;
	}
	assert_true(damaged > 5);
}

/* The blocks' CRC (libdeflate's) is zlib's crc32(), as before. */
static void
buffer_block_crc_is_zlibs(void **state)
{
	static unsigned char p[70000];
	uint32_t x = 1;

	(void)state;
	for (size_t i = 0; i < sizeof(p); i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
	for (size_t n = 0; n < sizeof(p); n = n * 3 + 1) {
		uint32_t z = (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);

		assert_int_equal(codec_crc32(0, p, n), z);
		assert_int_equal(codec_crc32(codec_crc32(0, p, n / 2),
		    p + n / 2, n - n / 2), z);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buffer_round_trip_and_several_cursors),
		cmocka_unit_test(buffer_source_gap_survives),
		cmocka_unit_test(
		    buffer_persists_records_and_cursors_across_reopen),
		cmocka_unit_test(buffer_drop_oldest_reports_exact_gaps),
		cmocka_unit_test(buffer_block_policy_refuses_then_resumes),
		cmocka_unit_test(buffer_cuts_oversized_records),
		cmocka_unit_test(buffer_second_opener_is_refused),
		cmocka_unit_test(buffer_reopen_after_truncation_at_every_offset),
		cmocka_unit_test(buffer_reopen_after_flipped_bytes),
		cmocka_unit_test(buffer_quarantines_unreadable_segment),
		cmocka_unit_test(buffer_keeps_input_positions_with_the_records),
		cmocka_unit_test(
		    buffer_keeps_an_idle_inputs_position_past_deleted_segments),
		cmocka_unit_test(buffer_cursor_quick_note_wins_unless_torn),
		cmocka_unit_test(buffer_inspect_reports_backlog),
		cmocka_unit_test(buffer_rewind_and_unread_never_invent_a_gap),
		cmocka_unit_test(buffer_dropped_records_match_the_gaps),
		cmocka_unit_test(buffer_reads_every_block_flavour),
		cmocka_unit_test(buffer_libdeflate_blocks_round_trip),
		cmocka_unit_test(buffer_libdeflate_block_damage_is_a_gap),
		cmocka_unit_test(buffer_block_crc_is_zlibs),
	};
	char cmd[128];
	int rc;

	log_init("test_buffer", LOG_LEVEL_ERROR);
	snprintf(root, sizeof(root), "/tmp/sysmonfwd-tb-XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
