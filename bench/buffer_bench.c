/*
 * buffer_bench.c - throughput, compression and memory of the disk ring
 * (buffer/) on the real Sysmon corpus.  A benchmark run by hand, never a
 * test: it is not registered with ctest.
 *
 * It loads every line holding "<Event" from CORPUS/windows-xml/ *.log into
 * memory (the 845 records of the shared corpus), then:
 *
 *   1. Append: a fresh ring (defaults, compression --level, a cap large
 *      enough for everything) gets the corpus records again and again
 *      (source "bench", read times increasing, buffer_tick() as an event
 *      loop would call it) until --mib MiB of record bytes went in, then
 *      buffer_sync().  Reports raw MB/s, records/s, disk bytes and the
 *      compression ratio raw_bytes / disk_bytes of buffer_get_stats().
 *   2. Read: one cursor reads it all back (buffer_read() by 500 records
 *      or 4 MiB, each batch acknowledged), every record compared in full
 *      with the corpus line it came from.  Reports MB/s and records/s.
 *      The segments are still in the page cache: this measures decoding
 *      and the ring's own work, not the disk.
 *   3. Memory with a full ring: a fresh ring with the default 256 MiB cap
 *      and one cursor that never reads gets --backlog-gib GiB of records,
 *      so that drop_oldest evicts (when the ratio is high, 1 GiB may not
 *      fill it: the bench says so).  VmRSS is sampled on the way; the peak
 *      (VmHWM, reset before this phase through /proc/self/clear_refs) is
 *      reported with the disk bytes (must stay within the cap), the
 *      evicted count, and the gap record the cursor then reads first; the
 *      rest of the backlog is then read back and checked.
 *
 * A summary compares the results with the project's aims: compression
 * >= 8x on the corpus, append >= 100 MB/s raw, peak RSS < 16 MiB with a
 * full ring.  MB are 10^6 bytes; MiB and GiB are powers of 2.
 *
 * Run it from the repository (the build directory is yours to choose):
 *
 *   cmake -S . -B build -DSYSMONFWD_WERROR=ON && cmake --build build -j2
 *   build/bench/buffer_bench --corpus ../shared/corpus
 *
 * Options: --dir TMPDIR (default $TMPDIR, else /tmp: a private directory
 * is made in it and removed at the end), --mib N (512), --level L
 * (compression_level 0..9, 3: libdeflate's level for blocks of 48 KiB and
 * more, zlib's below), --backlog-gib G (1, fractions allowed).  Append and
 * read also report the process's CPU seconds, steadier than their wall
 * time when builds share the machine.  To see where the
 * memory goes:
 *
 *   valgrind --tool=massif build/bench/buffer_bench \
 *       --corpus ../shared/corpus --mib 32 --backlog-gib 0.25
 *   ms_print massif.out.<pid>
 *
 * Exit status: 0 when every record read back was intact, the counts
 * matched and the ring stayed within its cap; 1 otherwise; 2 on usage
 * errors.  The aims are reported, not enforced.
 */
#include "buffer.h"
#include "base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SOURCE_NAME	"bench"
#define READ_BATCH	500
#define READ_MAX_BYTES	(4u << 20)
#define TICK_EVERY	1024		/* appends between buffer_tick() */
#define RSS_EVERY	(8ull << 20)	/* raw bytes between RSS samples */
#define MAX_BAD_SHOWN	5
#define AIM_RATIO	8.0
#define AIM_APPEND_MBS	100.0
#define AIM_RSS_MIB	16.0

struct corpus {
	char		**line;
	size_t		 *len;
	size_t		  n, cap;
	uint64_t	  bytes;
	size_t		  files;
};

/* What was appended: record k (from 0) is corpus line k % n, sequence
 * number first_seq + k, read time base_ms + k. */
struct appended {
	uint64_t	first_seq;
	uint64_t	records;
	uint64_t	bytes;
	int64_t		base_ms;
};

/* What a cursor read back. */
struct readback {
	uint64_t	records, bytes;
	uint64_t	gaps, gap_records;
	uint64_t	bad;
	bool		any;
	bool		first_is_gap;
	uint64_t	first_gap_count, first_gap_first, first_gap_seq;
	int64_t		first_gap_ms, first_gap_last_ms;
	char		first_gap_reason[256];
	char		first_gap_sources[128];
};

struct mem {
	uint64_t	rss_kb, hwm_kb;
};

struct results {
	double		append_s, read_s;
	double		append_cpu, read_cpu;	/* CPU seconds */
	uint64_t	app_records, app_bytes;
	uint64_t	read_records, read_bytes;
	uint64_t	disk_bytes, raw_bytes;
	double		ratio;
	double		peak_rss_mib, peak_drain_mib, base_rss_mib;
	bool		hwm_reset;
	uint64_t	full_disk, full_max, full_evicted;
	uint64_t	full_appended, full_bytes;
	bool		full_gap;
	bool		ok;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: buffer_bench --corpus DIR [--dir TMPDIR] [--mib N] "
	    "[--level L] [--backlog-gib G]\n"
	    "  --corpus DIR       the shared corpus (reads DIR/windows-xml/"
	    "*.log)\n"
	    "  --dir TMPDIR       where to make the scratch rings (default "
	    "$TMPDIR or /tmp)\n"
	    "  --mib N            MiB of raw records to append and read (512)"
	    "\n"
	    "  --level L          compression level 0..9 (3)\n"
	    "  --backlog-gib G    GiB of raw records for the full ring (1)\n");
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of the process (user + system): steadier than the wall
 * clock on a machine shared with builds. */
static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The monotonic clock in ms, as buffer_tick() wants it. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double
mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

static double
per_s(double v, double secs)
{
	return secs > 0 ? v / secs : 0;
}

/* ---- corpus ----------------------------------------------------------- */

static int
corpus_add(struct corpus *c, const char *p, size_t len)
{
	char *copy;

	if (c->n == c->cap) {
		size_t cap = c->cap != 0 ? c->cap * 2 : 1024;
		char **nl = realloc(c->line, cap * sizeof(*nl));
		size_t *nn;

		if (nl == NULL)
			return -ENOMEM;
		c->line = nl;
		if ((nn = realloc(c->len, cap * sizeof(*nn))) == NULL)
			return -ENOMEM;
		c->len = nn;
		c->cap = cap;
	}
	if ((copy = malloc(len > 0 ? len : 1)) == NULL)
		return -ENOMEM;
	memcpy(copy, p, len);
	c->line[c->n] = copy;
	c->len[c->n] = len;
	c->n++;
	c->bytes += len;
	return 0;
}

/* Add the "<Event" lines of one file, without their line ends. */
static int
corpus_load_file(struct corpus *c, const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (f == NULL)
		return -errno;
	while ((n = getline(&buf, &cap, f)) > 0) {
		size_t len = (size_t)n;

		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		if (memmem(buf, len, "<Event", 6) == NULL)
			continue;
		if ((rc = corpus_add(c, buf, len)) != 0)
			break;
	}
	if (rc == 0 && ferror(f))
		rc = -EIO;
	free(buf);
	fclose(f);
	return rc;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load DIR/windows-xml/ *.log in name order.  0 or -errno. */
static int
corpus_load(struct corpus *c, const char *dir)
{
	char xdir[PATH_MAX], path[PATH_MAX];
	char **names = NULL;
	size_t nnames = 0, cap = 0;
	struct dirent *e;
	DIR *d;
	int rc = 0;

	if (snprintf(xdir, sizeof(xdir), "%s/windows-xml", dir) >=
	    (int)sizeof(xdir))
		return -ENAMETOOLONG;
	if ((d = opendir(xdir)) == NULL) {
		rc = -errno;
		fprintf(stderr, "buffer_bench: %s: %s\n", xdir, strerror(-rc));
		return rc;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len < 5 || strcmp(e->d_name + len - 4, ".log") != 0)
			continue;
		if (nnames == cap) {
			size_t ncap = cap != 0 ? cap * 2 : 32;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (nn == NULL) {
				rc = -ENOMEM;
				break;
			}
			names = nn;
			cap = ncap;
		}
		if ((names[nnames] = strdup(e->d_name)) == NULL) {
			rc = -ENOMEM;
			break;
		}
		nnames++;
	}
	closedir(d);
	if (rc == 0 && nnames > 0)
		qsort(names, nnames, sizeof(*names), name_cmp);
	for (size_t i = 0; rc == 0 && i < nnames; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", xdir, names[i]) >=
		    (int)sizeof(path)) {
			rc = -ENAMETOOLONG;
			break;
		}
		if ((rc = corpus_load_file(c, path)) != 0)
			fprintf(stderr, "buffer_bench: %s: %s\n", path,
			    strerror(-rc));
		else
			c->files++;
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	return rc;
}

static void
corpus_free(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->line[i]);
	free(c->line);
	free(c->len);
	memset(c, 0, sizeof(*c));
}

/* ---- memory and files --------------------------------------------------- */

static void
mem_read(struct mem *m)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	m->rss_kb = m->hwm_kb = 0;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			m->rss_kb = strtoull(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			m->hwm_kb = strtoull(line + 6, NULL, 10);
	}
	fclose(f);
}

/* Reset VmHWM to the current RSS (Linux >= 4.0).  False if refused. */
static bool
hwm_reset(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok;
}

/* Bytes of the segment files in a ring directory, as the disk has them. */
static uint64_t
segments_on_disk(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat sb;
	uint64_t total = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "seg-", 4) != 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			total += (uint64_t)sb.st_size;
	}
	closedir(d);
	return total;
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "buffer_bench: cannot remove %s: %s\n", path,
		    strerror(errno));
	return 0;
}

static void
rm_tree(const char *path)
{
	(void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- appending and reading ------------------------------------------------ */

/* Sampling of VmRSS while appending (phase 3). */
struct sampler {
	uint64_t	next_sample;	/* raw bytes */
	uint64_t	max_rss_kb;
	uint64_t	next_report;
	uint64_t	report_every;
	uint64_t	samples;
};

static void
sample(struct buffer *b, struct sampler *s, uint64_t bytes, bool report)
{
	struct buffer_stats st;
	struct mem m;

	mem_read(&m);
	s->samples++;
	if (m.rss_kb > s->max_rss_kb)
		s->max_rss_kb = m.rss_kb;
	if (!report)
		return;
	buffer_get_stats(b, &st);
	printf("    %7.2f GiB in: disk %6.1f MiB, %3" PRIu64 " segments, "
	    "evicted %9" PRIu64 ", VmRSS %5.1f MiB, VmHWM %5.1f MiB\n",
	    mib(bytes) / 1024.0, mib(st.disk_bytes), st.segments, st.evicted,
	    (double)m.rss_kb / 1024.0, (double)m.hwm_kb / 1024.0);
	fflush(stdout);
}

/*
 * Append corpus records, cycling, until target record bytes went in.
 * Fill a.  Sample memory into s when not NULL.  0 or -errno.
 */
static int
append_until(struct buffer *b, const struct corpus *c, uint64_t target,
    struct appended *a, struct sampler *s)
{
	size_t i = 0;
	int rc;

	a->records = a->bytes = 0;
	a->base_ms = wall_ms();
	while (a->bytes < target) {
		uint64_t seq;

		rc = buffer_append(b, SOURCE_NAME, a->base_ms +
		    (int64_t)a->records, 0, c->line[i], c->len[i], &seq);
		if (rc != 0) {
			fprintf(stderr, "buffer_bench: append of record %" PRIu64
			    ": %s\n", a->records, strerror(-rc));
			return rc;
		}
		if (a->records == 0)
			a->first_seq = seq;
		a->records++;
		a->bytes += c->len[i];
		if (++i == c->n)
			i = 0;
		if (a->records % TICK_EVERY == 0)
			(void)buffer_tick(b, mono_ms());
		if (s != NULL && a->bytes >= s->next_sample) {
			bool report = a->bytes >= s->next_report;

			sample(b, s, a->bytes, report);
			s->next_sample = a->bytes + RSS_EVERY;
			if (report)
				s->next_report += s->report_every;
		}
	}
	return 0;
}

/* Check one record read back against what was appended. */
static bool
rec_ok(const struct buffer_rec *r, const struct corpus *c,
    const struct appended *a)
{
	uint64_t k = r->seq - a->first_seq;
	size_t i = (size_t)(k % c->n);

	return r->seq >= a->first_seq && k < a->records &&
	    r->flags == 0 && r->len == c->len[i] &&
	    memcmp(r->data, c->line[i], r->len) == 0 &&
	    strcmp(r->source, SOURCE_NAME) == 0 &&
	    r->time_ms == a->base_ms + (int64_t)k;
}

/*
 * Read everything the cursor has, acknowledging each batch, checking
 * every record and that sequence numbers follow each other (gaps
 * included).  0, or -errno when an acknowledgement fails.
 */
static int
read_all(struct buffer_cursor *cur, const struct corpus *c,
    const struct appended *a, struct readback *v)
{
	static struct buffer_rec recs[READ_BATCH];
	uint64_t want = 0;
	size_t n;
	int rc;

	memset(v, 0, sizeof(*v));
	while ((n = buffer_read(cur, recs, READ_BATCH, READ_MAX_BYTES)) > 0) {
		for (size_t i = 0; i < n; i++) {
			const struct buffer_rec *r = &recs[i];

			if (!v->any) {
				v->any = true;
				want = r->flags & BUFFER_REC_GAP ?
				    r->gap_first : r->seq;
				if (want != a->first_seq && !(r->flags &
				    BUFFER_REC_GAP)) {
					fprintf(stderr, "buffer_bench: first "
					    "record read is %" PRIu64 ", "
					    "expected %" PRIu64 "\n", want,
					    a->first_seq);
					v->bad++;
				}
			}
			if (r->flags & BUFFER_REC_GAP) {
				if (v->gaps == 0 && v->records == 0) {
					v->first_is_gap = true;
					v->first_gap_count = r->gap_count;
					v->first_gap_first = r->gap_first;
					v->first_gap_seq = r->seq;
					v->first_gap_ms = r->time_ms;
					v->first_gap_last_ms = r->gap_last_ms;
					/* Copies for display, larger than what
					 * buffer.c keeps (reasons < 160 bytes,
					 * sources < 128): never cut. */
					snprintf(v->first_gap_sources,
					    sizeof(v->first_gap_sources), "%s",
					    r->source);
					snprintf(v->first_gap_reason,
					    sizeof(v->first_gap_reason),
					    "%.*s", (int)r->len, r->data);
				}
				if (r->gap_first != want || r->gap_count == 0 ||
				    r->seq != r->gap_first + r->gap_count - 1) {
					if (v->bad++ < MAX_BAD_SHOWN)
						fprintf(stderr, "buffer_bench: "
						    "gap %" PRIu64 "..%" PRIu64
						    " (%" PRIu64 ") where %"
						    PRIu64 " was due\n",
						    r->gap_first, r->seq,
						    r->gap_count, want);
				}
				v->gaps++;
				v->gap_records += r->gap_count;
				want = r->seq + 1;
				continue;
			}
			if (r->seq != want || !rec_ok(r, c, a)) {
				if (v->bad++ < MAX_BAD_SHOWN)
					fprintf(stderr, "buffer_bench: record "
					    "%" PRIu64 " (expected %" PRIu64
					    ", %zu bytes, flags %#x) differs "
					    "from what was appended\n", r->seq,
					    want, r->len, r->flags);
			}
			want = r->seq + 1;
			v->records++;
			v->bytes += r->len;
		}
		if ((rc = buffer_ack(cur, recs[n - 1].seq)) != 0) {
			fprintf(stderr, "buffer_bench: ack %" PRIu64 ": %s\n",
			    recs[n - 1].seq, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* ---- the phases ------------------------------------------------------------ */

static int
ring_open(const char *dir, int level, uint64_t max_size, struct buffer **b)
{
	struct buffer_opts o;
	int rc;

	buffer_opts_default(&o);
	o.dir = dir;
	o.compression_level = level;
	if (max_size != 0)
		o.max_size = max_size;
	if ((rc = buffer_open(&o, b)) != 0)
		fprintf(stderr, "buffer_bench: cannot open a ring in %s: %s\n",
		    dir, strerror(-rc));
	return rc;
}

/* Phases 1 and 2: append target bytes, read them back. */
static int
bench_throughput(const char *dir, const struct corpus *c, int level,
    uint64_t target, struct results *res)
{
	struct buffer *b = NULL;
	struct buffer_cursor *cur = NULL;
	struct buffer_stats st;
	struct appended a;
	struct readback v;
	uint64_t files;
	double t0;
	int rc;

	/* Room for everything even stored uncompressed, with the framing. */
	if ((rc = ring_open(dir, level, target + target / 4 + (64ull << 20),
	    &b)) != 0)
		return rc;
	printf("append: %.0f MiB of records, level %d, fsync interval\n",
	    mib(target), level);
	fflush(stdout);
	t0 = now_s();
	res->append_cpu = cpu_s();
	if ((rc = append_until(b, c, target, &a, NULL)) != 0)
		goto out;
	if ((rc = buffer_sync(b)) != 0) {
		fprintf(stderr, "buffer_bench: buffer_sync: %s\n",
		    strerror(-rc));
		goto out;
	}
	res->append_s = now_s() - t0;
	res->append_cpu = cpu_s() - res->append_cpu;
	res->app_records = a.records;
	res->app_bytes = a.bytes;
	buffer_get_stats(b, &st);
	files = segments_on_disk(dir);
	res->disk_bytes = st.disk_bytes;
	res->raw_bytes = st.raw_bytes;
	res->ratio = st.disk_bytes > 0 ? (double)st.raw_bytes /
	    (double)st.disk_bytes : 0;
	printf("  %" PRIu64 " records, %.1f MB in %.2f s: %.1f MB/s, %.0f "
	    "records/s\n", a.records, (double)a.bytes / 1e6, res->append_s,
	    per_s((double)a.bytes / 1e6, res->append_s),
	    per_s((double)a.records, res->append_s));
	printf("  CPU %.2f s: %.2f us per record\n", res->append_cpu,
	    per_s(res->append_cpu * 1e6, (double)a.records));
	printf("  disk %" PRIu64 " bytes (%.1f MiB, %" PRIu64 " segments; "
	    "files: %" PRIu64 "), raw_bytes %" PRIu64 "\n", st.disk_bytes,
	    mib(st.disk_bytes), st.segments, files, st.raw_bytes);
	printf("  ratio raw_bytes/disk %.2fx (record data only: %.2fx)\n",
	    res->ratio, st.disk_bytes > 0 ? (double)a.bytes /
	    (double)st.disk_bytes : 0);
	if (files != st.disk_bytes) {
		printf("  ODD: the segment files hold %" PRIu64 " bytes, the "
		    "stats say %" PRIu64 "\n", files, st.disk_bytes);
	}
	if (st.appended != a.records || st.write_errors != 0 ||
	    st.truncated != 0 || st.evicted != 0) {
		printf("  ODD: stats appended %" PRIu64 " truncated %" PRIu64
		    " evicted %" PRIu64 " write_errors %" PRIu64 "\n",
		    st.appended, st.truncated, st.evicted, st.write_errors);
		res->ok = false;
	}

	if ((rc = buffer_cursor_open(b, "bench", &cur)) != 0) {
		fprintf(stderr, "buffer_bench: cursor: %s\n", strerror(-rc));
		goto out;
	}
	printf("read: batches of %d records / %u MiB, each acknowledged\n",
	    READ_BATCH, READ_MAX_BYTES >> 20);
	fflush(stdout);
	t0 = now_s();
	res->read_cpu = cpu_s();
	if ((rc = read_all(cur, c, &a, &v)) != 0)
		goto out;
	res->read_s = now_s() - t0;
	res->read_cpu = cpu_s() - res->read_cpu;
	res->read_records = v.records;
	res->read_bytes = v.bytes;
	printf("  %" PRIu64 " records, %.1f MB in %.2f s: %.1f MB/s, %.0f "
	    "records/s\n", v.records, (double)v.bytes / 1e6, res->read_s,
	    per_s((double)v.bytes / 1e6, res->read_s),
	    per_s((double)v.records, res->read_s));
	printf("  CPU %.2f s: %.2f us per record (the check included)\n",
	    res->read_cpu, per_s(res->read_cpu * 1e6, (double)v.records));
	if (v.records == a.records && v.bytes == a.bytes && v.bad == 0 &&
	    v.gaps == 0 && buffer_cursor_unread(cur) == 0) {
		printf("  count confirmed: %" PRIu64 " of %" PRIu64 " records, "
		    "every one identical\n", v.records, a.records);
	} else {
		printf("  MISMATCH: read %" PRIu64 " of %" PRIu64 " records, "
		    "%" PRIu64 " differing, %" PRIu64 " gaps (%" PRIu64
		    " records), %" PRIu64 " unread\n", v.records, a.records,
		    v.bad, v.gaps, v.gap_records, buffer_cursor_unread(cur));
		res->ok = false;
	}
	rc = 0;
out:
	buffer_close(b);
	return rc;
}

/* Phase 3: a full ring with a cursor that never reads. */
static int
bench_full(const char *dir, const struct corpus *c, int level,
    uint64_t target, struct results *res)
{
	struct buffer *b = NULL;
	struct buffer_cursor *cur = NULL;
	struct buffer_stats st;
	struct buffer_opts o;
	struct appended a;
	struct readback v;
	struct sampler s;
	struct mem m;
	uint64_t files;
	double t0;
	int rc;

	buffer_opts_default(&o);
	res->full_max = o.max_size;
	mem_read(&m);
	res->base_rss_mib = (double)m.rss_kb / 1024.0;
	res->hwm_reset = hwm_reset();
	if ((rc = ring_open(dir, level, 0, &b)) != 0)
		return rc;
	if ((rc = buffer_cursor_open(b, "stalled", &cur)) != 0) {
		fprintf(stderr, "buffer_bench: cursor: %s\n", strerror(-rc));
		goto out;
	}
	printf("full ring: cap %.0f MiB, one cursor that never reads, %.2f GiB "
	    "of records (VmRSS before: %.1f MiB%s)\n", mib(o.max_size),
	    mib(target) / 1024.0, res->base_rss_mib, res->hwm_reset ? "" :
	    "; VmHWM could not be reset: it includes the phases before");
	fflush(stdout);
	memset(&s, 0, sizeof(s));
	s.report_every = target / 4 > 0 ? target / 4 : 1;
	s.next_report = s.report_every;
	t0 = now_s();
	if ((rc = append_until(b, c, target, &a, &s)) != 0)
		goto out;
	if ((rc = buffer_sync(b)) != 0) {
		fprintf(stderr, "buffer_bench: buffer_sync: %s\n",
		    strerror(-rc));
		goto out;
	}
	t0 = now_s() - t0;
	sample(b, &s, a.bytes, false);
	mem_read(&m);
	buffer_get_stats(b, &st);
	files = segments_on_disk(dir);
	res->peak_rss_mib = (double)m.hwm_kb / 1024.0;
	res->full_disk = st.disk_bytes;
	res->full_evicted = st.evicted;
	res->full_appended = a.records;
	res->full_bytes = a.bytes;
	printf("  %" PRIu64 " records, %.1f MB in %.2f s (%.1f MB/s)\n",
	    a.records, (double)a.bytes / 1e6, t0,
	    per_s((double)a.bytes / 1e6, t0));
	printf("  peak RSS (VmHWM) %.1f MiB; highest VmRSS sampled %.1f MiB "
	    "(%" PRIu64 " samples)\n", res->peak_rss_mib,
	    (double)s.max_rss_kb / 1024.0, s.samples);
	printf("  disk %" PRIu64 " bytes (%.1f MiB, files: %" PRIu64 ") of a "
	    "%" PRIu64 " cap: %s; %" PRIu64 " segments\n", st.disk_bytes,
	    mib(st.disk_bytes), files, o.max_size, st.disk_bytes <=
	    o.max_size && files <= o.max_size ? "within" : "OVER THE CAP",
	    st.segments);
	printf("  evicted %" PRIu64 " records; stored %" PRIu64 " (seq %"
	    PRIu64 "..%" PRIu64 ")\n", st.evicted, st.records, st.first_seq,
	    st.last_seq);
	if (st.disk_bytes > o.max_size || files > o.max_size)
		res->ok = false;
	if (files != st.disk_bytes)
		printf("  ODD: the segment files hold %" PRIu64 " bytes, the "
		    "stats say %" PRIu64 "\n", files, st.disk_bytes);
	if (st.evicted == 0)
		printf("  NOTE: the ring never filled (%.1fx compression): "
		    "raise --backlog-gib past %.1f to make it evict\n",
		    (double)a.bytes / (double)(st.disk_bytes > 0 ?
		    st.disk_bytes : 1), (double)a.bytes / (double)(st.disk_bytes
		    > 0 ? st.disk_bytes : 1) * mib(o.max_size) / 1024.0);

	/* The cursor now reads: a gap first, then the rest, all checked. */
	t0 = now_s();
	if ((rc = read_all(cur, c, &a, &v)) != 0)
		goto out;
	t0 = now_s() - t0;
	mem_read(&m);
	res->peak_drain_mib = (double)m.hwm_kb / 1024.0;
	res->full_gap = v.first_is_gap;
	if (v.first_is_gap) {
		printf("  first read: gap of %" PRIu64 " records (seq %" PRIu64
		    "..%" PRIu64 "): \"%s\"\n", v.first_gap_count,
		    v.first_gap_first, v.first_gap_seq, v.first_gap_reason);
		/* Read times were base_ms + k: show them as record indexes. */
		printf("    its sources \"%s\", read times of records %" PRId64
		    "..%" PRId64 " (expected %" PRIu64 "..%" PRIu64 ")\n",
		    v.first_gap_sources, v.first_gap_ms != 0 ?
		    v.first_gap_ms - a.base_ms : -1, v.first_gap_last_ms != 0 ?
		    v.first_gap_last_ms - a.base_ms : -1,
		    v.first_gap_first - a.first_seq,
		    v.first_gap_seq - a.first_seq);
	} else {
		printf("  first read: a record, no gap\n");
	}
	printf("  drained %" PRIu64 " records + %" PRIu64 " in %" PRIu64
	    " gaps in %.2f s (%.1f MB/s); VmHWM after %.1f MiB\n", v.records,
	    v.gap_records, v.gaps, t0, per_s((double)v.bytes / 1e6, t0),
	    res->peak_drain_mib);
	if (v.bad != 0 || v.records + v.gap_records != a.records ||
	    v.gap_records != st.evicted || (st.evicted > 0 &&
	    !v.first_is_gap)) {
		printf("  MISMATCH: %" PRIu64 " bad, %" PRIu64 " + %" PRIu64
		    " read of %" PRIu64 " appended, %" PRIu64 " evicted\n",
		    v.bad, v.records, v.gap_records, a.records, st.evicted);
		res->ok = false;
	} else {
		printf("  counts confirmed: read + gap = appended, gap = "
		    "evicted, every record identical\n");
	}
	rc = 0;
out:
	buffer_close(b);
	return rc;
}

static const char *
aim_mark(bool met)
{
	return met ? "met" : "MISSED";
}

static void
summary(const struct results *r, int level, const struct corpus *c)
{
	double amb = per_s((double)r->app_bytes / 1e6, r->append_s);
	double rmb = per_s((double)r->read_bytes / 1e6, r->read_s);

	printf("\nsummary (level %d, corpus %zu records, %.2f MB)\n", level,
	    c->n, (double)c->bytes / 1e6);
	printf("  %-30s %14s  %-10s %s\n", "", "measured", "aim", "");
	printf("  %-30s %13.2fx  %-10s %s\n", "compression (raw/disk)",
	    r->ratio, ">= 8x", aim_mark(r->ratio >= AIM_RATIO));
	printf("  %-30s %14.1f  %-10s %s\n", "append, raw MB/s", amb,
	    ">= 100", aim_mark(amb >= AIM_APPEND_MBS));
	printf("  %-30s %14.0f\n", "append, records/s",
	    per_s((double)r->app_records, r->append_s));
	printf("  %-30s %14.1f\n", "read, raw MB/s", rmb);
	printf("  %-30s %14.0f\n", "read, records/s",
	    per_s((double)r->read_records, r->read_s));
	printf("  %-30s %10.1f MiB  %-10s %s%s\n", "peak RSS, full ring",
	    r->peak_rss_mib, "< 16 MiB", aim_mark(r->peak_rss_mib <
	    AIM_RSS_MIB), r->full_evicted > 0 ? "" : " (ring never filled)");
	printf("  %-30s %10.1f MiB\n", "peak RSS, draining it",
	    r->peak_drain_mib);
	printf("  %-30s %10.1f MiB  %-10s %s\n", "full ring disk",
	    mib(r->full_disk), "<= 256 MiB", aim_mark(r->full_disk <=
	    r->full_max));
	printf("  %-30s %14" PRIu64 "\n", "full ring evicted records",
	    r->full_evicted);
	printf("  %-30s %14s\n", "gap read first",
	    r->full_gap ? "yes" : "no");
	printf("  %-30s %14s\n", "verification", r->ok ? "ok" : "FAILED");
}

/* ---- main ------------------------------------------------------------------ */

static int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' ||
	    x < min || x > max)
		return -1;
	*v = x;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "corpus", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ "mib", required_argument, NULL, 'm' },
		{ "level", required_argument, NULL, 'l' },
		{ "backlog-gib", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *corpus_dir = NULL, *tmp = getenv("TMPDIR");
	char root[PATH_MAX], ring1[PATH_MAX], ring2[PATH_MAX];
	uint64_t mibs = 512, level = 3;
	double backlog_gib = 1.0;
	struct corpus c;
	struct results res;
	char *end;
	int ch, rc;

	log_init("buffer_bench", LOG_LEVEL_WARN);
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			corpus_dir = optarg;
			break;
		case 'd':
			tmp = optarg;
			break;
		case 'm':
			if (parse_u64(optarg, 1, 1u << 20, &mibs) != 0) {
				fprintf(stderr, "buffer_bench: bad --mib\n");
				return 2;
			}
			break;
		case 'l':
			if (parse_u64(optarg, 0, 9, &level) != 0) {
				fprintf(stderr, "buffer_bench: bad --level\n");
				return 2;
			}
			break;
		case 'g':
			errno = 0;
			backlog_gib = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(backlog_gib > 0 && backlog_gib <= 1024)) {
				fprintf(stderr, "buffer_bench: bad "
				    "--backlog-gib\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || corpus_dir == NULL) {
		usage(stderr);
		return 2;
	}
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";

	memset(&c, 0, sizeof(c));
	if ((rc = corpus_load(&c, corpus_dir)) != 0 || c.n == 0) {
		fprintf(stderr, "buffer_bench: no corpus records in %s/"
		    "windows-xml\n", corpus_dir);
		corpus_free(&c);
		return 1;
	}
	printf("corpus: %zu records from %zu files, %" PRIu64 " bytes "
	    "(%.0f bytes on average)\n", c.n, c.files, c.bytes,
	    (double)c.bytes / (double)c.n);

	if (snprintf(root, sizeof(root), "%s/buffer_bench.XXXXXX", tmp) >=
	    (int)sizeof(root) || mkdtemp(root) == NULL) {
		fprintf(stderr, "buffer_bench: cannot make a directory in %s: "
		    "%s\n", tmp, strerror(errno));
		corpus_free(&c);
		return 1;
	}
	if (snprintf(ring1, sizeof(ring1), "%s/append", root) >=
	    (int)sizeof(ring1) || snprintf(ring2, sizeof(ring2), "%s/full",
	    root) >= (int)sizeof(ring2)) {
		fprintf(stderr, "buffer_bench: %s: name too long\n", root);
		rm_tree(root);
		corpus_free(&c);
		return 1;
	}
	printf("scratch: %s\n", root);

	memset(&res, 0, sizeof(res));
	res.ok = true;
	rc = bench_throughput(ring1, &c, (int)level, mibs << 20, &res);
	rm_tree(ring1);
	if (rc == 0)
		rc = bench_full(ring2, &c, (int)level, (uint64_t)(backlog_gib *
		    1024.0 * 1024.0 * 1024.0), &res);
	rm_tree(root);
	if (rc == 0)
		summary(&res, (int)level, &c);
	corpus_free(&c);
	return rc == 0 && res.ok ? 0 : 1;
}
