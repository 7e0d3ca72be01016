/*
 * json_escape_bench.c - what json_add_str() costs per MB of real Sysmon
 * XML: the HEC output escapes each record's whole XML into its event
 * field, so this is the escaper's share of that path.  A benchmark run by
 * hand, never a test: it is not registered with ctest nor built by CMake.
 *
 * It loads every record line of CORPUS/windows-xml/ *.log into memory and
 * escapes them all, pass after pass, each into one strbuf reset per
 * record as the renderer does, for --seconds of the process's CPU time
 * (CLOCK_PROCESS_CPUTIME_ID, so a busy machine slows the figure less than
 * wall-clock time would).  It prints CPU ms per MB of input and MB/s.
 *
 * Built by hand against the strbuf.c to measure, with the flags of a
 * RelWithDebInfo build; to compare two versions, build one binary from
 * each tree (a git worktree of the old commit) and run them alternated:
 *
 *   cc -O2 -g -DNDEBUG -D_GNU_SOURCE -Iagent/event -Iagent/base \
 *       bench/json_escape_bench.c agent/event/strbuf.c \
 *       agent/event/timeutil.c agent/base/sys.c -o /tmp/json_escape_bench
 *   /tmp/json_escape_bench --corpus /work/shared/corpus [--seconds 3]
 */
#include "event.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rec {
	char	*s;
	size_t	 n;
};

static struct rec *recs;
static size_t nrecs, caprecs, total;

static void
load_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (f == NULL)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		if (nrecs == caprecs) {
			caprecs = caprecs ? caprecs * 2 : 1024;
			if ((recs = realloc(recs, caprecs * sizeof(*recs))) ==
			    NULL)
				abort();
		}
		if ((recs[nrecs].s = malloc((size_t)n)) == NULL)
			abort();
		memcpy(recs[nrecs].s, line, (size_t)n);
		recs[nrecs++].n = (size_t)n;
		total += (size_t)n;
	}
	free(line);
	fclose(f);
}

static void
load_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];
	size_t len;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 4 || strcmp(de->d_name + len - 4, ".log") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		load_file(path);
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

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "corpus", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct strbuf sb = { 0 };
	const char *corpus = NULL;
	double secs = 3, t0, t;
	size_t i, passes = 0, out = 0;
	char dir[4096];
	int c;

	while ((c = getopt_long(argc, argv, "c:s:", opts, NULL)) != -1) {
		if (c == 'c')
			corpus = optarg;
		else if (c == 's')
			secs = atof(optarg);
		else
			return 2;
	}
	if (corpus == NULL || secs <= 0) {
		fprintf(stderr, "usage: json_escape_bench --corpus DIR "
		    "[--seconds N]\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/windows-xml", corpus);
	load_dir(dir);
	if (nrecs == 0) {
		fprintf(stderr, "json_escape_bench: no records under %s\n",
		    dir);
		return 1;
	}
	t0 = cpu_now();
	do {
		for (i = 0; i < nrecs; i++) {
			strbuf_reset(&sb);
			if (json_add_str(&sb, recs[i].s, recs[i].n) != 0)
				abort();
			out += sb.len;
		}
		passes++;
	} while ((t = cpu_now() - t0) < secs);
	printf("records %zu, %.2f MB per pass, %zu passes, out/in %.4f: "
	    "%.3f CPU ms per MB, %.0f MB/s\n", nrecs, total / 1e6, passes,
	    (double)out / ((double)total * passes),
	    t * 1e3 / (total * passes / 1e6), total * passes / 1e6 / t);
	strbuf_free(&sb);
	return 0;
}
