/*
 * ring_smoke.c - the disk ring end to end, the same program on Linux and
 * on Windows (cross-built with mingw-w64, run under Wine by
 * ring-wine.sh), so that the Windows file calls of agent/base/sys_win.c
 * are seen working and a ring written on one system is read on the
 * other.
 *
 *   ring_smoke selftest DIR   in DIR/ring-ü日 (a UTF-8 name): the lock
 *                             refuses a second open; records appended
 *                             over many segments read back, are
 *                             acknowledged in part, and the rest come
 *                             back after a reopen with the input's
 *                             position; a torn write at the end is cut
 *                             off at open; buffer_inspect() agrees
 *   ring_smoke write DIR      leave a ring in DIR: N records, cursor
 *                             "out" acknowledged up to N/2, cursor
 *                             "other" at 0, a position for "eventlog"
 *   ring_smoke read DIR       check such a ring (written here or
 *                             elsewhere): each cursor resumes where it
 *                             was, every record equal byte for byte
 *   ring_smoke hold DIR       open the ring in DIR, say "holding", keep
 *                             it open until standard input ends
 *   ring_smoke busy DIR       check that opening it is refused (EBUSY):
 *                             another process holds it
 *   ring_smoke dump DIR       any ring (the agent's, copied): what
 *                             buffer_inspect() says, then every record
 *                             a new cursor reads, one line each (seq,
 *                             flags, source, time, length, CRC-32 of the
 *                             data), to compare between the systems
 *
 * Prints what it checked; exits 0 when all held, 1 otherwise.
 */
#include "base.h"
#include "buffer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define N_RECORDS	3000
#define POSITION	"bookmark RecordId=4242 Channel=Microsoft-Windows-" \
			"Sysmon/Operational"
/* "ring-" u-umlaut and the CJK "day", in UTF-8: a path Windows must get
 * as UTF-16. */
#define UTF8_NAME	"ring-\xc3\xbc\xe6\x97\xa5"

static int	failures;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "ring_smoke: FAILED: %s:%d: ", __FILE__,\
		    __LINE__);						\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		failures++;						\
		return -1;						\
	}								\
} while (0)

/* Record seq's contents: a Sysmon-like XML line of varying length. */
static size_t
rec_make(uint64_t seq, char *buf, size_t len)
{
	static char pad[401];
	int n;

	if (pad[0] == '\0')
		memset(pad, 'x', sizeof(pad) - 1);
	n = snprintf(buf, len, "<Event><System><EventID>%u</EventID>"
	    "<EventRecordID>%" PRIu64 "</EventRecordID></System><EventData>"
	    "<Data Name=\"Image\">C:\\Users\\tts\\python.exe</Data>"
	    "<Data Name=\"CommandLine\">python.exe -m indextts.infer "
	    "--text %" PRIu64 " %.*s</Data></EventData></Event>",
	    (unsigned)(seq % 29 + 1), seq, seq * 7919,
	    (int)(seq * 37 % 400), pad);
	return n < 0 ? 0 : (size_t)n;
}

static const char *
rec_source(uint64_t seq)
{
	return seq % 3 == 0 ? "eventlog" : "file:/var/log/sysmon.log";
}

static int64_t
rec_time(uint64_t seq)
{
	return 1700000000000LL + (int64_t)seq * 1000;
}

static int
ring_open(const char *dir, struct buffer **b)
{
	struct buffer_opts o;

	buffer_opts_default(&o);
	o.dir = dir;
	/* Small segments and blocks: many files, rotation, deletion. */
	o.segment_size = 32 * 1024;
	o.block_size = 4 * 1024;
	o.max_size = 64u << 20;
	o.fsync = BUFFER_FSYNC_ALWAYS;	/* every block: FlushFileBuffers */
	return buffer_open(&o, b);
}

/* Append records first..last (they must get those numbers). */
static int
fill(struct buffer *b, uint64_t first, uint64_t last)
{
	char buf[1024];

	for (uint64_t i = first; i <= last; i++) {
		size_t len = rec_make(i, buf, sizeof(buf));
		uint64_t seq;
		int rc = buffer_append(b, rec_source(i), rec_time(i), 0, buf,
		    len, &seq);

		CHECK(rc == 0, "append %" PRIu64 ": %s", i, strerror(-rc));
		CHECK(seq == i, "append gave seq %" PRIu64 ", wanted %"
		    PRIu64, seq, i);
	}
	return 0;
}

/* Read first..last through c, each equal to what was appended; ack the
 * records up to ack (0: none). */
static int
drain(struct buffer_cursor *c, uint64_t first, uint64_t last, uint64_t ack)
{
	struct buffer_rec r[64];
	char buf[1024];
	uint64_t want = first;

	while (want <= last) {
		size_t n = buffer_read(c, r, 64, 1u << 20);

		CHECK(n > 0, "read stopped at %" PRIu64 " of %" PRIu64, want,
		    last);
		for (size_t i = 0; i < n && want <= last; i++, want++) {
			size_t len = rec_make(want, buf, sizeof(buf));

			CHECK(r[i].seq == want, "read seq %" PRIu64 ", wanted %"
			    PRIu64 " (flags %#x)", r[i].seq, want,
			    (unsigned)r[i].flags);
			CHECK(r[i].flags == 0, "record %" PRIu64 " flags %#x",
			    want, (unsigned)r[i].flags);
			CHECK(r[i].len == len && memcmp(r[i].data, buf,
			    len) == 0, "record %" PRIu64 " differs", want);
			CHECK(strcmp(r[i].source, rec_source(want)) == 0 &&
			    r[i].time_ms == rec_time(want), "record %" PRIu64
			    " source or time differs", want);
		}
	}
	if (ack != 0) {
		int rc = buffer_ack(c, ack);

		CHECK(rc == 0, "ack %" PRIu64 ": %s", ack, strerror(-rc));
	}
	return 0;
}

static int
check_position(struct buffer *b)
{
	const char *pos = buffer_get_position(b, "eventlog");

	CHECK(pos != NULL && strcmp(pos, POSITION) == 0, "position of "
	    "eventlog: %s", pos != NULL ? pos : "(none)");
	return 0;
}

/* Leave a ring in dir: see the top. */
static int
ring_write(const char *dir)
{
	struct buffer *b;
	struct buffer_cursor *out, *other;
	struct buffer_stats st;
	int rc;

	CHECK((rc = ring_open(dir, &b)) == 0, "open %s: %s", dir,
	    strerror(-rc));
	if ((rc = buffer_cursor_open(b, "out", &out)) != 0 ||
	    (rc = buffer_cursor_open(b, "other", &other)) != 0) {
		buffer_close(b);
		CHECK(0, "cursor: %s", strerror(-rc));
	}
	if (fill(b, 1, N_RECORDS / 2) != 0)
		goto out_close;
	buffer_set_position(b, "eventlog", POSITION);
	if (fill(b, N_RECORDS / 2 + 1, N_RECORDS) != 0 ||
	    drain(out, 1, N_RECORDS / 2, N_RECORDS / 2) != 0)
		goto out_close;
	if ((rc = buffer_sync(b)) != 0) {
		buffer_close(b);
		CHECK(0, "sync: %s", strerror(-rc));
	}
	buffer_get_stats(b, &st);
	printf("ring_smoke: wrote %s: %" PRIu64 " records in %" PRIu64
	    " segments, %" PRIu64 " bytes on disk for %" PRIu64 " raw, "
	    "durable to %" PRIu64 "\n", dir, st.records, st.segments,
	    st.disk_bytes, st.raw_bytes, st.durable_seq);
	buffer_close(b);
	CHECK(st.segments > 2 && st.durable_seq == N_RECORDS, "segments %"
	    PRIu64 ", durable %" PRIu64, st.segments, st.durable_seq);
	return 0;

out_close:
	buffer_close(b);
	return -1;
}

/* Check a ring left by ring_write(), here or on the other system. */
static int
ring_read(const char *dir)
{
	struct buffer *b;
	struct buffer_cursor *out, *other;
	int rc;

	CHECK((rc = ring_open(dir, &b)) == 0, "open %s: %s", dir,
	    strerror(-rc));
	if ((rc = buffer_cursor_open(b, "out", &out)) != 0 ||
	    (rc = buffer_cursor_open(b, "other", &other)) != 0) {
		buffer_close(b);
		CHECK(0, "cursor: %s", strerror(-rc));
	}
	if (check_position(b) != 0 ||
	    drain(out, N_RECORDS / 2 + 1, N_RECORDS, 0) != 0 ||
	    drain(other, 1, N_RECORDS, 0) != 0) {
		buffer_close(b);
		return -1;
	}
	buffer_close(b);
	printf("ring_smoke: read %s: cursor out resumed at %d, cursor other "
	    "at 1, %d records equal, position \"%s\"\n", dir,
	    N_RECORDS / 2 + 1, N_RECORDS, POSITION);
	return 0;
}

/* buffer_inspect(): the cursor's acknowledgement, as its files say. */
static void
inspect_cursor(void *arg, const char *name,
    const struct buffer_cursor_stats *cs)
{
	uint64_t *acked = arg;

	if (strcmp(name, "out") == 0)
		*acked = cs->acked;
}

/* fs_list(): keep the greatest segment file name. */
static int
newest_seg(void *arg, const char *name)
{
	char *newest = arg;

	if (strncmp(name, "seg-", 4) == 0 && strlen(name) < 64 &&
	    strcmp(name, newest) > 0)
		strcpy(newest, name);
	return 0;
}

/*
 * A write torn by a crash: garbage after the last frame of the newest
 * segment.  The next open must cut it off (fs_truncate()) and lose
 * nothing.
 */
static int
torn_tail(const char *dir)
{
	char name[64] = "", path[600];
	uint64_t before, after;
	struct buffer *b;
	fs_handle fh;
	int rc;

	CHECK((rc = fs_list(dir, newest_seg, name)) == 0 && name[0] != '\0',
	    "list %s: %s", dir, strerror(-rc));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CHECK((rc = fs_open(path, FS_APPEND, 0, &fh)) == 0, "open %s: %s",
	    path, strerror(-rc));
	rc = fs_size(fh, &before) != 0 ||
	    fs_append(fh, "SFBK torn write", 15) != 15;
	fs_close(fh);
	CHECK(rc == 0, "appending to %s", path);
	CHECK((rc = ring_open(dir, &b)) == 0, "reopen: %s", strerror(-rc));
	buffer_close(b);
	CHECK((rc = fs_open(path, FS_READ, 0, &fh)) == 0, "open %s: %s",
	    path, strerror(-rc));
	rc = fs_size(fh, &after);
	fs_close(fh);
	CHECK(rc == 0 && after == before, "%s: %" PRIu64 " bytes after "
	    "recovery, %" PRIu64 " before the torn write", name, after,
	    before);
	printf("ring_smoke: torn write: 15 bytes after the last frame of %s "
	    "cut off at open (%" PRIu64 " bytes)\n", name, after);
	return 0;
}

static int
selftest(const char *top)
{
	char dir[512];
	struct buffer *b, *b2;
	struct buffer_cursor *out;
	struct buffer_stats st;
	uint64_t acked = 0;
	int rc;

	CHECK((rc = file_mkdirs(top, 0750)) == 0, "mkdirs %s: %s", top,
	    strerror(-rc));
	snprintf(dir, sizeof(dir), "%s/%s", top, UTF8_NAME);
	if (ring_write(dir) != 0)
		return -1;

	/* The lock: a second open of a ring in use is refused. */
	CHECK((rc = ring_open(dir, &b)) == 0, "reopen: %s", strerror(-rc));
	rc = ring_open(dir, &b2);
	if (rc == 0)
		buffer_close(b2);
	printf("ring_smoke: lock: a second open while open: %s\n",
	    rc == -EBUSY ? "refused (EBUSY)" : strerror(-rc));
	if (rc != -EBUSY) {
		buffer_close(b);
		CHECK(0, "second open gave %d, wanted -EBUSY", rc);
	}
	buffer_close(b);

	if (torn_tail(dir) != 0 || ring_read(dir) != 0)
		return -1;

	/* Acknowledge all, add more, and see the old segments go. */
	CHECK((rc = ring_open(dir, &b)) == 0, "reopen: %s", strerror(-rc));
	if ((rc = buffer_cursor_open(b, "out", &out)) != 0 ||
	    drain(out, N_RECORDS / 2 + 1, N_RECORDS, N_RECORDS) != 0 ||
	    fill(b, N_RECORDS + 1, N_RECORDS + 100) != 0 ||
	    drain(out, N_RECORDS + 1, N_RECORDS + 100, N_RECORDS + 100) != 0) {
		buffer_close(b);
		CHECK(0, "acknowledging all (%s)", strerror(-rc));
	}
	buffer_close(b);
	/* Only "out" open: the segments it passed are deleted. */
	CHECK((rc = ring_open(dir, &b)) == 0, "reopen: %s", strerror(-rc));
	if ((rc = buffer_cursor_open(b, "out", &out)) != 0) {
		buffer_close(b);
		CHECK(0, "cursor: %s", strerror(-rc));
	}
	buffer_tick(b, mono_now_ms() + 10000);
	buffer_close(b);
	CHECK((rc = buffer_inspect(dir, &st, inspect_cursor, &acked)) == 0,
	    "inspect: %s", strerror(-rc));
	printf("ring_smoke: inspect after acknowledging all: %" PRIu64
	    " segments, %" PRIu64 " records, last %" PRIu64 ", cursor out "
	    "acked %" PRIu64 "\n", st.segments, st.records, st.last_seq,
	    acked);
	CHECK(acked == N_RECORDS + 100 && st.last_seq == N_RECORDS + 100 &&
	    st.segments <= 1, "inspect disagrees");
	return 0;
}

/* buffer_inspect(): one line a cursor. */
static void
dump_cursor(void *arg, const char *name, const struct buffer_cursor_stats *cs)
{
	(void)arg;
	printf("cursor %s acked %" PRIu64 " unacked %" PRIu64 " dropped %"
	    PRIu64 "\n", name, cs->acked, cs->unacked, cs->dropped);
}

static int
ring_dump(const char *dir)
{
	struct buffer_rec r[64];
	struct buffer_stats st;
	struct buffer_cursor *c;
	struct buffer *b;
	uint64_t total = 0;
	size_t n;
	int rc;

	/* Before the new cursor exists: it would show. */
	CHECK((rc = buffer_inspect(dir, &st, dump_cursor, NULL)) == 0,
	    "inspect %s: %s", dir, strerror(-rc));
	printf("inspect segments %" PRIu64 " records %" PRIu64 " disk %"
	    PRIu64 " raw %" PRIu64 " first %" PRIu64 " last %" PRIu64
	    " durable %" PRIu64 "\n", st.segments, st.records, st.disk_bytes,
	    st.raw_bytes, st.first_seq, st.last_seq, st.durable_seq);
	CHECK((rc = ring_open(dir, &b)) == 0, "open %s: %s", dir,
	    strerror(-rc));
	if ((rc = buffer_cursor_open(b, "ring_smoke_dump", &c)) != 0) {
		buffer_close(b);
		CHECK(0, "cursor: %s", strerror(-rc));
	}
	while ((n = buffer_read(c, r, 64, 1u << 20)) > 0)
		for (size_t i = 0; i < n; i++, total++)
			printf("rec %" PRIu64 " %#x %s %" PRId64 " %zu %08lx\n",
			    r[i].seq, (unsigned)r[i].flags, r[i].source,
			    r[i].time_ms, r[i].len, crc32(0L,
			    (const Bytef *)r[i].data, (uInt)r[i].len));
	buffer_close(b);
	printf("records read %" PRIu64 "\n", total);
	return 0;
}

/* Keep the ring open (and locked) until standard input ends. */
static int
ring_hold(const char *dir)
{
	struct buffer *b;
	int rc;

	CHECK((rc = ring_open(dir, &b)) == 0, "open %s: %s", dir,
	    strerror(-rc));
	printf("ring_smoke: holding %s\n", dir);
	fflush(stdout);
	while (getchar() != EOF)
		;
	buffer_close(b);
	return 0;
}

/* Opening the ring must be refused: another process holds it. */
static int
ring_busy(const char *dir)
{
	struct buffer *b;
	int rc = ring_open(dir, &b);

	if (rc == 0)
		buffer_close(b);
	CHECK(rc == -EBUSY, "open of a ring another process holds gave %d, "
	    "wanted -EBUSY", rc);
	printf("ring_smoke: lock: open while another process holds it: "
	    "refused (EBUSY)\n");
	return 0;
}

int
main(int argc, char **argv)
{
	static const char usage[] = "usage: ring_smoke "
	    "selftest|write|read|dump|hold|busy DIR\n";
	int rc;

	log_init("ring_smoke", LOG_LEVEL_WARN);
	if (argc != 3) {
		fprintf(stderr, "%s", usage);
		return 2;
	}
	if (strcmp(argv[1], "selftest") == 0)
		rc = selftest(argv[2]);
	else if (strcmp(argv[1], "write") == 0)
		rc = ring_write(argv[2]);
	else if (strcmp(argv[1], "read") == 0)
		rc = ring_read(argv[2]);
	else if (strcmp(argv[1], "dump") == 0)
		rc = ring_dump(argv[2]);
	else if (strcmp(argv[1], "hold") == 0)
		rc = ring_hold(argv[2]);
	else if (strcmp(argv[1], "busy") == 0)
		rc = ring_busy(argv[2]);
	else {
		fprintf(stderr, "%s", usage);
		return 2;
	}
	if (rc != 0 || failures != 0)
		return 1;
	printf("ring_smoke: OK (%s)\n", argv[1]);
	return 0;
}
