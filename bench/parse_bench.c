/*
 * parse_bench.c - what event_parse() costs per record on the real Sysmon
 * corpus, expat alone against the fast path (expat when it gives up).  A
 * benchmark run by hand, never a test: it is not registered with ctest.
 *
 * It loads every record line (one with "<Event") of CORPUS/windows-xml/
 * *.xml.log and of CORPUS/linux-syslog/ into memory, then parses the set
 * again and again until --records records have been parsed, once with
 * the parser forced to expat (event_parser_expat_only()) and once with
 * the fast path, alternating the two --rounds times (A B A B ...).  Times
 * are the process's CPU time (CLOCK_PROCESS_CPUTIME_ID), which a busy
 * machine disturbs less than wall-clock time.  It reports, per mode, the
 * best and the median round in ns per record and MB/s of record text,
 * and the share of the corpus records the fast path takes.
 *
 *   cmake -S . -B build-pb && cmake --build build-pb -j2 --target parse_bench
 *   build-pb/bench/parse_bench --corpus ../shared/corpus [--records 200000]
 *       [--rounds 5] [--only expat|fast]
 *
 * --only runs one mode (for perf record).
 *
 * Exit status: 0; 1 when a record parses in one mode and not in the
 * other; 2 on usage errors.
 */
#include "event.h"

#include <dirent.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rec {
	char	*s;
	size_t	 n;
};

struct set {
	struct rec	*v;
	size_t		 n, cap, bytes;
};

static void
add(struct set *s, const char *p, size_t n)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		if ((s->v = realloc(s->v, s->cap * sizeof(*s->v))) == NULL)
			exit(2);
	}
	if ((s->v[s->n].s = malloc(n + 1)) == NULL)
		exit(2);
	memcpy(s->v[s->n].s, p, n);
	s->v[s->n].s[n] = '\0';
	s->v[s->n].n = n;
	s->n++;
	s->bytes += n;
}

/* Every line of the files in dir ending in suffix that holds a record. */
static void
load_dir(struct set *s, const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];

	if (d == NULL) {
		fprintf(stderr, "parse_bench: cannot open %s\n", dir);
		exit(2);
	}
	while ((de = readdir(d)) != NULL) {
		size_t k = strlen(de->d_name), cap = 0;
		char *line = NULL;
		ssize_t got;
		FILE *f;

		if (k < strlen(suffix) || strcmp(de->d_name + k -
		    strlen(suffix), suffix) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((f = fopen(path, "rb")) == NULL)
			continue;
		while ((got = getline(&line, &cap, f)) > 0) {
			size_t n = (size_t)got;
			if (line[n - 1] == '\n')
				n--;
			if (event_find_start(line, n) >= 0)
				add(s, line, n);
		}
		free(line);
		fclose(f);
	}
	closedir(d);
}

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parse records of s until want have been parsed; CPU seconds taken.
 * *ok counts the records that parsed, *fast those the fast path took. */
static double
run(struct event_parser *p, const struct set *s, size_t want, size_t *ok,
    size_t *fast)
{
	struct sysmon_event ev;
	char err[256];
	double t0 = cpu_now();

	*ok = *fast = 0;
	for (size_t i = 0; i < want; i++) {
		const struct rec *r = &s->v[i % s->n];

		if (event_parse(p, r->s, r->n, &ev, err, sizeof(err)) == 0)
			(*ok)++;
		*fast += event_parser_was_fast(p);
	}
	return cpu_now() - t0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "corpus", required_argument, NULL, 'c' },
		{ "records", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *corpus = NULL;
	size_t want = 200000, rounds = 5, ok[2], fast[2];
	struct set s = { 0 };
	struct event_parser *p;
	char dir[4096];
	double *t[2];
	int c, m0 = 0, m1 = 2;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': corpus = optarg; break;
		case 'n': want = strtoul(optarg, NULL, 10); break;
		case 'r': rounds = strtoul(optarg, NULL, 10); break;
		case 'o':
			m0 = strcmp(optarg, "fast") == 0;
			m1 = m0 + 1;
			break;
		default: return 2;
		}
	}
	if (corpus == NULL || want == 0 || rounds == 0) {
		fprintf(stderr, "usage: parse_bench --corpus DIR "
		    "[--records N] [--rounds N]\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/windows-xml", corpus);
	load_dir(&s, dir, ".xml.log");
	snprintf(dir, sizeof(dir), "%s/linux-syslog", corpus);
	load_dir(&s, dir, ".log");
	snprintf(dir, sizeof(dir), "%s/linux-syslog/wazuh-engine-sysmon-"
	    "linux-tests", corpus);
	load_dir(&s, dir, "_input.txt");
	if (s.n == 0 || event_parser_new(&p) != 0)
		return 2;
	if ((t[0] = calloc(rounds, sizeof(double))) == NULL ||
	    (t[1] = calloc(rounds, sizeof(double))) == NULL)
		return 2;
	printf("%zu records, %zu bytes (%.0f per record); %zu parses per "
	    "round, %zu rounds\n", s.n, s.bytes, (double)s.bytes /
	    (double)s.n, want, rounds);
	(void)run(p, &s, s.n, &ok[0], &fast[0]);	/* warm up */
	for (size_t r = 0; r < rounds; r++) {
		for (int m = m0; m < m1; m++) {
			event_parser_expat_only(p, m == 0);
			t[m][r] = run(p, &s, want, &ok[m], &fast[m]);
		}
	}
	for (int m = m0; m < m1; m++) {
		double bytes = (double)s.bytes * (double)want / (double)s.n;
		double best, med;

		qsort(t[m], rounds, sizeof(double), cmp_double);
		best = t[m][0];
		med = t[m][rounds / 2];
		printf("%-10s %7.0f ns/record (median %7.0f)  %6.1f MB/s  "
		    "parsed %zu of %zu, fast path %zu (%.2f%%)\n",
		    m == 0 ? "expat" : "fast path", best * 1e9 / (double)want,
		    med * 1e9 / (double)want, bytes / best / 1e6, ok[m], want,
		    fast[m], 100.0 * (double)fast[m] / (double)want);
	}
	if (m1 - m0 == 1)
		return 0;
	printf("speed-up (best): %.2fx\n", t[0][0] / t[1][0]);
	return ok[0] == ok[1] ? 0 : 1;
}
