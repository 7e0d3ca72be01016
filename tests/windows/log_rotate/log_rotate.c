/*
 * log_rotate.c - the log file of base.h (log_open_file()) with a small
 * cap, for tests/cross/service-wine.sh: the service's log is cut at
 * 10 MiB, too much to fill in a test, and the rotation is the same code
 * at any cap.  Built against the base library, for Windows (run under
 * Wine) and for Linux alike:
 *
 *   log_rotate DIR
 *
 * logs 400 lines of about 100 bytes each to DIR/t.log with a cap of
 * 4 KiB and 3 files kept, then checks, printing what it finds:
 *   - t.log, t.log.1 and t.log.2 exist, t.log.3 does not;
 *   - no file is over the cap;
 *   - every line is whole and stamped ("YYYY-MM-DDTHH:MM:SS.mmmZ log_rotate:
 *     info: line N ...") and the line numbers run on without a gap from
 *     the oldest kept file through t.log to the last line, 399.
 * Exit 0 when all hold, 1 otherwise.
 */
#include "base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP	4096
#define KEEP	3
#define LINES	400

static int fails;

static void
check(int ok, const char *what)
{
	printf("log_rotate: %s: %s\n", ok ? "ok" : "FAILED", what);
	fails += !ok;
}

/* The numbers of the lines of path, in order, into nums; -1 if absent. */
static long
read_lines(const char *path, int *nums, int max, long *size)
{
	char line[512];
	FILE *f;
	long n = 0;

	*size = 0;
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		int num, y, mo, d, h, mi, s, ms;
		char z;

		*size += (long)strlen(line);
		if (strchr(line, '\n') == NULL ||
		    sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c log_rotate: "
		    "info: line %d ", &y, &mo, &d, &h, &mi, &s, &ms, &z,
		    &num) != 9 || z != 'Z') {
			printf("log_rotate: bad line in %s: %s", path, line);
			fails++;
			continue;
		}
		if (n < max)
			nums[n++] = num;
	}
	fclose(f);
	return n;
}

int
main(int argc, char **argv)
{
	static int nums[KEEP + 1][LINES];
	char path[KEEP + 1][600];
	long n[KEEP + 1], size;
	int next = -1, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: log_rotate DIR\n");
		return 2;
	}
	log_init("log_rotate", LOG_LEVEL_INFO);
	snprintf(path[0], sizeof(path[0]), "%s/t.log", argv[1]);
	for (int i = 1; i <= KEEP; i++)
		snprintf(path[i], sizeof(path[i]), "%s/t.log.%d", argv[1], i);
	if ((rc = log_open_file(path[0], CAP, KEEP)) != 0) {
		fprintf(stderr, "log_rotate: cannot open %s: %s\n", path[0],
		    strerror(-rc));
		return 1;
	}
	for (int i = 0; i < LINES; i++)
		log_info("line %d %s", i, "................................"
		    "..................");
	log_close_file();

	/* Oldest first: t.log.2, t.log.1, t.log. */
	for (int i = KEEP; i >= 0; i--) {
		char what[700];

		n[i] = read_lines(path[i], nums[i], LINES, &size);
		snprintf(what, sizeof(what), "%s: %s", path[i], n[i] < 0 ?
		    "absent" : "present");
		check(i == KEEP ? n[i] < 0 : n[i] > 0, what);
		if (n[i] < 0)
			continue;
		snprintf(what, sizeof(what), "%s: %ld bytes, at most %d",
		    path[i], size, CAP);
		check(size <= CAP, what);
		for (long k = 0; k < n[i]; k++) {
			if (next >= 0 && nums[i][k] != next) {
				printf("log_rotate: %s: line %d after %d\n",
				    path[i], nums[i][k], next - 1);
				fails++;
			}
			next = nums[i][k] + 1;
		}
	}
	check(next == LINES, "the last line is the last logged");
	return fails == 0 ? 0 : 1;
}
