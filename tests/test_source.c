/*
 * test_source.c - the source room (agent/source): the file input on one
 * path (classifying lines, cutting long ones, positions, follow mode with
 * rotation and truncation, start = end), and the atomic, private state
 * files of base that the positions are written with.
 *
 * Each test gets the fixture of unit_fixture.h, reading dir/in.log with
 * lines of at most 1024 bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "source.h"
#include "base.h"
#include "unit_fixture.h"

static int
fx_setup(void **state)
{
	*state = fx_new("sysmonfwd-ut", 1024);
	return 0;
}

static int
fx_teardown(void **state)
{
	fx_free(*state);
	return 0;
}

static void
source_classifies_lines(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	struct source_stats st;
	char out[4096];

	write_file(f->path,
	    "<Event>a</Event>\r\n"
	    "\n"
	    "Oct 24 17:05:31 host sysmon[3041]: Sysmon v1.0.0 banner\n"
	    "2021-10-24T17:05:31.000000+00:00 host cron[1]: other program\n"
	    "<13>1 2021-10-24T17:05:31Z host app - - - rfc5424 line\n"
	    "total garbage\n"
	    "Oct 24 17:05:38 host sysmon: <Event>b</Event>\n"
	    "last line without newline <Event>", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	assert_true(source_poll(s, f->buf, 1 << 20) > 0);
	assert_true(source_finished(s));
	assert_int_equal(collect(f, out, sizeof(out)), 4);
	assert_string_equal(out, "<Event>a</Event>|total garbage|Oct 24 "
	    "17:05:38 host sysmon: <Event>b</Event>|last line without newline "
	    "<Event>|");
	source_get_stats(s, &st);
	assert_int_equal(st.records, 4);
	assert_int_equal(st.ignored, 3);
	source_close(s, f->buf);
}

static void
source_cuts_overlong_lines_and_continues(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	struct source_stats st;
	char *big = malloc(5000), out[8192];

	memset(big, 'x', 4000);
	strcpy(big + 4000, "\n<Event>next</Event>\n");
	write_file(f->path, big, "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 100) >= 0);
	assert_int_equal(collect(f, out, sizeof(out)), 2);
	assert_int_equal(strlen(out), 1024 + 2 + strlen("<Event>next</Event>|"));
	assert_non_null(strstr(out, "x!|<Event>next</Event>|"));
	source_get_stats(s, &st);
	assert_int_equal(st.truncated, 1);
	source_close(s, f->buf);
	free(big);
}

static void
source_resumes_from_saved_position(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[4096];

	write_file(f->path, "<Event>1</Event>\n<Event>2</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	assert_true(source_poll(s, f->buf, 1 << 20) > 0);
	/* Nothing acknowledged yet: the position must not move. */
	source_checkpoint(s, buffer_durable_seq(f->buf), true);
	source_close(s, NULL);
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	assert_true(source_poll(s, f->buf, 1 << 20) > 0);
	assert_int_equal(collect(f, out, sizeof(out)), 4);
	assert_int_equal(buffer_sync(f->buf), 0);
	source_close(s, f->buf);	/* now durable: saved */

	write_file(f->path, "<Event>3</Event>\n", "a");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	assert_true(source_poll(s, f->buf, 1 << 20) > 0);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>3</Event>|");
	assert_int_equal(buffer_sync(f->buf), 0);
	source_close(s, f->buf);

	/* A different file at the path is read from its start. */
	assert_int_equal(unlink(f->path), 0);
	write_file(f->path, "<Event>new</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	assert_true(source_poll(s, f->buf, 1 << 20) > 0);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>new</Event>|");
	source_close(s, f->buf);
}

static void
source_follow_partial_rotation_truncation(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[4096], old[160];

	f->in.follow = true;
	write_file(f->path, "<Event>1</Event>\n<Event>2", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	wait_poll(s, f->buf);
	assert_true(source_at_end(s));
	assert_false(source_finished(s));
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	/* The partial line waits for its newline. */
	write_file(f->path, "</Event>\n", "a");
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>2</Event>|");
	/* Rotation by rename: a last line lands in the old file first. */
	write_file(f->path, "<Event>3</Event>\n", "a");
	snprintf(old, sizeof(old), "%s.1", f->path);
	assert_int_equal(rename(f->path, old), 0);
	write_file(f->path, "<Event>4</Event>\n", "w");
	wait_poll(s, f->buf);
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 2);
	assert_string_equal(out, "<Event>3</Event>|<Event>4</Event>|");
	/* Truncation (copytruncate): start again at 0. */
	assert_int_equal(truncate(f->path, 0), 0);
	write_file(f->path, "<Event>5</Event>\n", "a");
	wait_poll(s, f->buf);
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>5</Event>|");
	source_close(s, f->buf);
}

static void
source_follow_waits_for_missing_file(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[256];

	f->in.follow = true;
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 0);
	write_file(f->path, "<Event>late</Event>\n", "w");
	wait_poll(s, f->buf);
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	source_close(s, f->buf);
	/* Without follow, a missing file is an error at once. */
	f->in.follow = false;
	f->in.path = "/nonexistent/sysmon.log";
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), -ENOENT);
}

static void
source_start_end_skips_existing_on_first_run(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[256];

	f->in.follow = true;
	f->in.start = CONFIG_START_END;
	write_file(f->path, "<Event>old</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	write_file(f->path, "<Event>new</Event>\n", "a");
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>new</Event>|");
	source_close(s, f->buf);
}

static void
state_write_is_atomic_and_private(void **state)
{
	struct fixture *f = *state;
	char path[160], buf[32];
	struct stat sb;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/a/b/c", f->dir);
	assert_int_equal(file_mkdirs(path, 0750), 0);
	assert_int_equal(file_mkdirs(path, 0750), 0);
	snprintf(path, sizeof(path), "%s/a/b/c/pos", f->dir);
	assert_int_equal(file_write_atomic(path, "one", 3, 0640, true), 0);
	assert_int_equal(file_write_atomic(path, "two!", 4, 0640, true), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "two!");
	strcat(path, ".tmp");
	assert_int_not_equal(access(path, F_OK), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(source_classifies_lines,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
		    source_cuts_overlong_lines_and_continues, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(
		    source_resumes_from_saved_position, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
		    source_follow_partial_rotation_truncation, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(
		    source_follow_waits_for_missing_file, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(
		    source_start_end_skips_existing_on_first_run, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(
		    state_write_is_atomic_and_private, fx_setup, fx_teardown),
	};

	log_init("test_source", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
