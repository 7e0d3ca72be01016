/*
 * test_transport.c - the local file output: appends whole NDJSON batches,
 * and when a write fails half way (the file size limit stands in for a
 * full disk) cuts the file back so no half document is left, reports
 * RETRY, and succeeds again once there is room.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "transport.h"
#include "log.h"

static char dir[64];

static off_t
file_size(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

static void
transport_file_appends_batches(void **state)
{
	struct transport_output *t;
	char path[128];
	struct stat sb;

	(void)state;
	snprintf(path, sizeof(path), "%s/out.ndjson", dir);
	assert_int_equal(transport_file_open("o", path, &t), 0);
	assert_string_equal(transport_name(t), "o");
	assert_int_equal(transport_send(t, "{\"a\":1}\n", 8), TRANSPORT_SENT);
	assert_int_equal(transport_send(t, "{\"b\":2}\n", 8), TRANSPORT_SENT);
	assert_int_equal(file_size(path), 16);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	/* After logrotate moved it away, a reopen starts a new file. */
	char moved[160];
	snprintf(moved, sizeof(moved), "%s.1", path);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(transport_reopen(t), 0);
	assert_int_equal(transport_send(t, "{\"c\":3}\n", 8), TRANSPORT_SENT);
	assert_int_equal(file_size(path), 8);
	assert_int_equal(transport_flush(t), 0);
	transport_close(t);
	transport_close(NULL);
}

static void
transport_file_failed_write_is_cut_back(void **state)
{
	struct transport_output *t;
	char path[128], big[8192];
	struct rlimit old, lim;

	(void)state;
	snprintf(path, sizeof(path), "%s/full.ndjson", dir);
	assert_int_equal(transport_file_open("o", path, &t), 0);
	assert_int_equal(transport_send(t, "{\"a\":1}\n", 8), TRANSPORT_SENT);
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(transport_send(t, big, sizeof(big)), TRANSPORT_RETRY);
	assert_non_null(strstr(transport_last_error(t), "File too large"));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	/* Nothing of the failed batch stays behind. */
	assert_int_equal(file_size(path), 8);
	assert_int_equal(transport_send(t, big, sizeof(big)), TRANSPORT_SENT);
	assert_int_equal(file_size(path), 8 + (off_t)sizeof(big));
	transport_close(t);
}

static void
transport_file_unopenable_is_retried_until_it_opens(void **state)
{
	struct transport_output *t;
	char sub[128], path[160];

	(void)state;
	snprintf(sub, sizeof(sub), "%s/later", dir);
	snprintf(path, sizeof(path), "%s/out.ndjson", sub);
	assert_int_equal(transport_file_open("o", path, &t), 0);
	assert_int_equal(transport_send(t, "{}\n", 3), TRANSPORT_RETRY);
	assert_non_null(strstr(transport_last_error(t), "cannot open"));
	assert_int_equal(mkdir(sub, 0750), 0);
	assert_int_equal(transport_send(t, "{}\n", 3), TRANSPORT_SENT);
	assert_int_equal(file_size(path), 3);
	transport_close(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(transport_file_appends_batches),
		cmocka_unit_test(transport_file_failed_write_is_cut_back),
		cmocka_unit_test(transport_file_unopenable_is_retried_until_it_opens),
	};
	int rc;
	char cmd[128];

	log_init("test_transport", LOG_LEVEL_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/sysmonfwd-tt-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
