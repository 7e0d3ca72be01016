/*
 * fuzz_cursor.c - libFuzzer harness for the ring's cursor files
 * (buffer/buffer.c): an output's acknowledgement, kept in
 * state_dir/buffer/cursors/NAME.cur (rewritten by rename) and
 * NAME.cur.fast (rewritten in place, with a CRC), read back at every start.
 * A damaged one must never make an output skip records it did not
 * acknowledge, nor keep the ring from opening.  Driven through the public
 * API only (buffer_open, buffer_cursor_open, buffer_ack, buffer_close), on
 * a ring of 50 records made once under $TMPDIR (or /tmp).
 *
 * Input: byte 0 says which files exist (bit 0: NAME.cur, bit 1:
 * NAME.cur.fast) and whether to give the quick note a valid CRC (bit 2,
 * so that what lies behind the CRC check is reached too); byte 1 is the
 * length of NAME.cur's text, which follows; the rest is NAME.cur.fast;
 * byte 2 picks the acknowledgement for the round trip.
 *
 * Every run starts from the same ring (its files are put back as they
 * were made), so runs do not depend on each other.
 *
 * Invariants (abort() on a breach):
 *   - the ring and the cursor always open;
 *   - the cursor's acknowledgement is never further than a number
 *     written after "acked" in one of the two files (digits only, below
 *     2^63): a sign, an overflow or garbage must not move it past records
 *     nobody acknowledged (the safe side is the oldest record: a resend);
 *   - the ring's last sequence number is its last record's, or what the
 *     cursor file says when that is further (recovery never numbers a
 *     record below an acknowledged one), and never wraps: the next record
 *     gets a higher number than anything acknowledged;
 *   - whatever the files held, acknowledging k, closing and opening again
 *     gives back exactly k.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Ibuffer -Iagent tests/fuzz/fuzz_cursor.c buffer/buffer.c \
 *       buffer/segment.c agent/base/log.c -lz -ldeflate -o /tmp/fuzz_cursor
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "buffer.h"
#include "base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(c)	do { if (!(c)) { fprintf(stderr, \
	"invariant broken: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
	abort(); } } while (0)

#define NREC	50

static char dir[128], cur[192], fast[192];
static struct buffer_opts opts;

/* The ring's files as made (dir and dir/cursors), put back every run. */
static struct snap {
	char	 path[256];
	char	*data;
	size_t	 len;
}		 snaps[16];
static size_t	 nsnaps;

static void
snap_dir(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;

	CHECK(dp != NULL);
	while ((e = readdir(dp)) != NULL) {
		struct snap *s;
		struct stat sb;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		CHECK(nsnaps < 16);
		s = &snaps[nsnaps];
		snprintf(s->path, sizeof(s->path), "%s/%s", d, e->d_name);
		if (stat(s->path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		CHECK((s->data = malloc((size_t)sb.st_size + 1)) != NULL);
		CHECK((f = fopen(s->path, "rb")) != NULL);
		s->len = fread(s->data, 1, (size_t)sb.st_size, f);
		fclose(f);
		nsnaps++;
	}
	closedir(dp);
}

/* Remove every file of d but the snapshot's, then write those back. */
static void
restore_dir(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	char path[300];

	if (dp == NULL)
		return;
	while ((e = readdir(dp)) != NULL) {
		struct stat sb;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", d, e->d_name);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			CHECK(unlink(path) == 0);
	}
	closedir(dp);
}

static void
restore(void)
{
	char sub[200];

	restore_dir(dir);
	snprintf(sub, sizeof(sub), "%s/cursors", dir);
	restore_dir(sub);
	snprintf(sub, sizeof(sub), "%s/quarantine", dir);
	restore_dir(sub);
	for (size_t i = 0; i < nsnaps; i++) {
		FILE *f = fopen(snaps[i].path, "wb");
		CHECK(f != NULL);
		CHECK(fwrite(snaps[i].data, 1, snaps[i].len, f) ==
		    snaps[i].len);
		fclose(f);
	}
}

static void
cleanup(void)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_cursor: could not remove %s\n", dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct buffer *b;
	uint64_t seq;
	char rec[64], cdir[sizeof(dir) + 16];

	(void)argc;
	(void)argv;
	log_init("fuzz_cursor", LOG_LEVEL_ERROR);
	/* Every path checked for truncation: a short PID once made a cut
	 * "DIR/c" of the cursors directory (a long one hid the cut). */
	CHECK(snprintf(dir, sizeof(dir), "%s/sysmonfwd-fuzz-cursor-%ld",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp",
	    (long)getpid()) < (int)sizeof(dir));
	CHECK(snprintf(cur, sizeof(cur), "%s/cursors/fz.cur", dir) <
	    (int)sizeof(cur));
	CHECK(snprintf(fast, sizeof(fast), "%s/cursors/fz.cur.fast", dir) <
	    (int)sizeof(fast));
	buffer_opts_default(&opts);
	opts.dir = dir;
	opts.fsync = BUFFER_FSYNC_NEVER;	/* speed; no power cut here */
	CHECK(buffer_open(&opts, &b) == 0 && b != NULL);
	for (int i = 1; i <= NREC; i++) {
		int n = snprintf(rec, sizeof(rec), "record %d", i);
		CHECK(buffer_append(b, "in", 1, 0, rec, (size_t)n, &seq) == 0);
	}
	CHECK(seq == NREC);
	buffer_close(b);
	atexit(cleanup);
	snap_dir(dir);
	CHECK(snprintf(cdir, sizeof(cdir), "%s/cursors", dir) <
	    (int)sizeof(cdir));
	snap_dir(cdir);
	return 0;
}

static void
put(const char *path, const uint8_t *p, size_t n, bool exists)
{
	int fd;

	if (!exists) {
		CHECK(unlink(path) == 0 || errno == ENOENT);
		return;
	}
	CHECK((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640)) >= 0);
	CHECK(write(fd, p, n) == (ssize_t)n);
	close(fd);
}

/* The largest number written right after "acked" (white space or a plus
 * sign between, as sscanf takes them), or 0; a number of 2^63 or more
 * counts as none. */
static uint64_t
acked_max(const uint8_t *p, size_t n)
{
	uint64_t best = 0;

	for (size_t i = 0; i + 5 <= n; i++) {
		uint64_t v = 0;
		size_t k = i + 5;
		bool digits = false, over = false;

		if (memcmp(p + i, "acked", 5) != 0)
			continue;
		while (k < n && (isspace(p[k]) || p[k] == '+'))
			k++;
		for (; k < n && isdigit(p[k]); k++) {
			digits = true;
			if (v > (UINT64_MAX - 9) / 10)
				over = true;
			v = v * 10 + (uint64_t)(p[k] - '0');
		}
		over = over || v > INT64_MAX;
		if (digits && !over && v > best)
			best = v;
	}
	return best;
}

static uint64_t
open_acked(struct buffer **bp, struct buffer_cursor **cp)
{
	struct buffer_cursor_stats st;

	CHECK(buffer_open(&opts, bp) == 0 && *bp != NULL);
	CHECK(buffer_cursor_open(*bp, "fz", cp) == 0 && *cp != NULL);
	memset(&st, 0, sizeof(st));
	buffer_cursor_get_stats(*cp, &st);
	return st.acked;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *ctext, *ftext;
	uint8_t *fcopy = NULL;
	size_t clen, flen;
	uint64_t acked, limit, lcur, last, k;
	struct buffer *b;
	struct buffer_cursor *c;

	if (size < 3)
		return 0;
	clen = data[1] < size - 3 ? data[1] : size - 3;
	ctext = data + 3;
	ftext = ctext + clen;
	flen = size - 3 - clen;
	if ((data[0] & 4) && flen > 0 && (fcopy = malloc(flen)) != NULL) {
		/* A valid CRC where the quick note has it. */
		char hex[9];
		size_t body = flen >= 64 && memcmp(ftext + 26, " dropped ",
		    9) == 0 ? 54 : 26;
		memcpy(fcopy, ftext, flen);
		if (flen >= body + 9) {
			snprintf(hex, sizeof(hex), "%08x", (unsigned)crc32(0L,
			    fcopy, (uInt)body));
			fcopy[body] = ' ';
			memcpy(fcopy + body + 1, hex, 8);
		}
		ftext = fcopy;
	}
	restore();
	put(cur, ctext, clen, data[0] & 1);
	put(fast, ftext, flen, data[0] & 2);

	acked = open_acked(&b, &c);
	last = buffer_last_seq(b);
	lcur = (data[0] & 1) ? acked_max(ctext, clen) : 0;
	limit = lcur;
	if (data[0] & 2) {
		uint64_t f = acked_max(ftext, flen);
		limit = f > limit ? f : limit;
	}
	CHECK(acked <= limit);		/* never past what a file says */
	CHECK(acked <= last);
	CHECK(last >= NREC && last <= (lcur > NREC ? lcur : NREC));
	CHECK(last <= INT64_MAX);	/* the next number cannot wrap */

	/* Round trip: acknowledge k, close, open: k again. */
	k = acked + data[2] % (last - acked + 1);
	if (k > acked)
		CHECK(buffer_ack(c, k) == 0);
	buffer_close(b);
	CHECK(open_acked(&b, &c) == k);
	buffer_close(b);
	free(fcopy);
	return 0;
}
