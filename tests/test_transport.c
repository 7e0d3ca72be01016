/*
 * test_transport.c - batches, the local file output (whole batches only:
 * a write that fails half way, the file size limit standing in for a full
 * disk, is cut back and retried until it succeeds), backoff with jitter,
 * dead letters (and the text buffer they are composed in), and gzip of
 * request bodies.
 */
#include <errno.h>
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
#include <zlib.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "transport_int.h"
#include "base.h"

static char dir[64];
static const struct transport_retry fast = { .initial_ms = 10,
	.max_ms = 40 };

static off_t
file_size(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

/* Submit one batch holding text as one record with sequence seq. */
static void
submit(struct transport_output *t, const char *text, uint64_t seq)
{
	struct transport_batch *b = transport_batch_new(NULL);

	assert_non_null(b);
	assert_true(transport_ready(t, mono_now_ms()));
	assert_int_equal(transport_batch_add(b, text, strlen(text), seq), 0);
	assert_int_equal(transport_submit(t, b, mono_now_ms()), 0);
}

static void
transport_batch_keeps_record_bounds(void **state)
{
	struct transport_batch *b = transport_batch_new(NULL);

	(void)state;
	for (int i = 0; i < 1000; i++) {
		char rec[32];
		int n = snprintf(rec, sizeof(rec), "{\"i\":%d}\n", i);
		assert_int_equal(transport_batch_add(b, rec, (size_t)n,
		    (uint64_t)i + 7), 0);
	}
	assert_int_equal(b->n, 1000);
	assert_int_equal(b->first_seq, 7);
	assert_int_equal(b->last_seq, 1006);
	assert_memory_equal(b->body + b->ends[499], "{\"i\":500}\n", 10);
	transport_batch_reset(b);
	assert_int_equal(b->n, 0);
	assert_int_equal(b->len, 0);
	transport_batch_free(b);
	transport_batch_free(NULL);
}

static void
transport_file_appends_batches(void **state)
{
	struct transport_output *t;
	struct transport_stats st;
	char path[128], moved[160];
	struct stat sb;

	(void)state;
	snprintf(path, sizeof(path), "%s/out.ndjson", dir);
	assert_int_equal(transport_file_open("o", path, &fast, &t), 0);
	assert_string_equal(transport_name(t), "o");
	assert_true(transport_idle(t));
	submit(t, "{\"a\":1}\n", 1);
	assert_int_equal(transport_confirmed(t), 1);
	submit(t, "{\"b\":2}\n", 2);
	assert_int_equal(transport_confirmed(t), 2);
	assert_int_equal(file_size(path), 16);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	/* After logrotate moved it away, a reopen starts a new file. */
	snprintf(moved, sizeof(moved), "%s.1", path);
	assert_int_equal(rename(path, moved), 0);
	transport_reopen(t);
	submit(t, "{\"c\":3}\n", 3);
	assert_int_equal(file_size(path), 8);
	assert_int_equal(transport_flush(t), 0);
	transport_get_stats(t, &st);
	assert_int_equal(st.delivered, 3);
	transport_close(t);
	transport_close(NULL);
}

static void
transport_file_failed_write_is_cut_back(void **state)
{
	struct transport_output *t;
	char path[128], big[8192];
	struct rlimit old, lim;
	struct transport_stats st;

	(void)state;
	snprintf(path, sizeof(path), "%s/full.ndjson", dir);
	assert_int_equal(transport_file_open("o", path, &fast, &t), 0);
	submit(t, "{\"a\":1}\n", 1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	submit(t, big, 2);
	/* Not confirmed, kept, nothing of it left in the file. */
	assert_int_equal(transport_confirmed(t), 1);
	assert_false(transport_idle(t));
	assert_false(transport_ready(t, mono_now_ms()));
	assert_int_equal(file_size(path), 8);
	transport_get_stats(t, &st);
	assert_non_null(strstr(st.last_error, "File too large"));
	assert_true(st.failing_since_ms > 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	/* The retry, once due, succeeds. */
	usleep(60 * 1000);
	transport_tick(t, mono_now_ms());
	assert_int_equal(transport_confirmed(t), 2);
	assert_true(transport_idle(t));
	assert_int_equal(file_size(path), 8 + (off_t)strlen(big));
	transport_get_stats(t, &st);
	assert_int_equal(st.failing_since_ms, 0);
	assert_true(st.retries >= 1);
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
	assert_int_equal(transport_file_open("o", path, &fast, &t), 0);
	submit(t, "{}\n", 1);
	assert_int_equal(transport_confirmed(t), 0);
	assert_int_equal(mkdir(sub, 0750), 0);
	usleep(60 * 1000);
	transport_tick(t, mono_now_ms());
	assert_int_equal(transport_confirmed(t), 1);
	assert_int_equal(file_size(path), 3);
	transport_close(t);
}

static void
transport_backoff_grows_to_its_cap_with_jitter(void **state)
{
	struct transport_output t;
	struct transport_retry r = { .initial_ms = 1000, .max_ms = 60000 };
	int64_t w;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.retry = r;
	for (int i = 0; i < 20; i++) {
		w = transport_backoff_next(&t);
		assert_true(w >= t.backoff / 10 && w <= t.backoff);
	}
	assert_int_equal(t.backoff, 60000);
	transport_backoff_reset(&t);
	w = transport_backoff_next(&t);
	assert_true(w <= 1000);
}

static void
transport_dead_letters_are_json_lines(void **state)
{
	struct transport_output t;
	struct transport_retry r = { .initial_ms = 10, .max_ms = 10 };
	const struct transport_ops ops = { 0 };
	char path[160], line[2048];
	FILE *f;
	cJSON *j;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(transport_base_init(&t, &ops, "hec", &r, dir), 0);
	transport_dead_letter(&t, 42, "HTTP 400, HEC code 6: Invalid data "
	    "format", 400, 6, "{\"event\":\"x\"}", 13);
	transport_dead_letter(&t, 43, "bad", 400, 7, "not json \"q\"\n", 13);
	snprintf(path, sizeof(path), "%s/hec.ndjson", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	j = cJSON_Parse(line);
	assert_non_null(j);
	assert_int_equal(cJSON_GetObjectItem(j, "seq")->valuedouble, 42);
	assert_int_equal(cJSON_GetObjectItem(j, "code")->valuedouble, 6);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "record"), "event")->valuestring, "x");
	cJSON_Delete(j);
	assert_non_null(fgets(line, sizeof(line), f));
	j = cJSON_Parse(line);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "record")->valuestring,
	    "not json \"q\"");
	cJSON_Delete(j);
	fclose(f);
	assert_int_equal(t.st.dead_lettered, 2);
	transport_base_free(&t);
}

/*
 * The text buffer that replaced open_memstream(): it grows from nothing
 * across many appends, escapes what JSON needs, and stays NUL-terminated.
 */
static void
transport_tbuf_grows_and_escapes(void **state)
{
	struct tbuf b = { 0 };
	char want[64];

	(void)state;
	for (int i = 0; i < 10000; i++)
		tbuf_printf(&b, "%s%d", i > 0 ? "," : "", i);
	assert_false(b.oom);
	assert_int_equal(strlen(b.s), b.len);
	assert_memory_equal(b.s, "0,1,2,", 6);
	snprintf(want, sizeof(want), ",%d", 9999);
	assert_string_equal(b.s + b.len - strlen(want), want);
	assert_true(b.cap > b.len);
	b.len = 0;
	tbuf_json_str(&b, "a\"b\\c\n\x01" "d", 8);
	assert_string_equal(b.s, "\"a\\\"b\\\\c\\u000a\\u0001d\"");
	free(b.s);
}

/*
 * A dead letter far longer than any first guess (a 200 KiB record that is
 * not JSON, every third byte escaped) is written whole, as one line.
 */
static void
transport_dead_letter_of_a_long_record_is_whole(void **state)
{
	struct transport_output t;
	struct transport_retry r = { .initial_ms = 10, .max_ms = 10 };
	const struct transport_ops ops = { 0 };
	size_t n = 200 * 1024, got = 0;
	char path[160], *rec, *line = NULL;
	size_t cap = 0;
	FILE *f;
	cJSON *j;

	(void)state;
	rec = malloc(n);
	assert_non_null(rec);
	for (size_t i = 0; i < n; i++)
		rec[i] = i % 3 == 0 ? '"' : (char)('a' + i % 26);
	memset(&t, 0, sizeof(t));
	assert_int_equal(transport_base_init(&t, &ops, "long", &r, dir), 0);
	transport_dead_letter(&t, 7, "too long", 413, 0, rec, n);
	snprintf(path, sizeof(path), "%s/long.ndjson", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_true(getline(&line, &cap, f) > 0);
	assert_int_equal(getline(&line, &cap, f), -1);	/* one line */
	fclose(f);
	j = cJSON_Parse(line);
	assert_non_null(j);
	got = strlen(cJSON_GetObjectItem(j, "record")->valuestring);
	assert_int_equal(got, n);
	assert_memory_equal(cJSON_GetObjectItem(j, "record")->valuestring, rec,
	    n);
	cJSON_Delete(j);
	free(line);
	free(rec);
	transport_base_free(&t);
}

/*
 * A batch the output cannot take stays the caller's, whole: its records
 * are submitted again later, never confirmed unsent.
 */
static void
transport_refused_submit_leaves_the_batch_with_the_caller(void **state)
{
	struct transport_output *t;
	struct transport_batch *a = transport_batch_new(NULL), *b;
	char path[160];
	int64_t now = mono_now_ms();

	(void)state;
	/* A file that cannot be opened: the first batch waits inside. */
	snprintf(path, sizeof(path), "%s/missing-dir/out.ndjson", dir);
	assert_int_equal(transport_file_open("o", path, &fast, &t), 0);
	assert_int_equal(transport_batch_add(a, "{\"a\":1}\n", 8, 1), 0);
	assert_int_equal(transport_submit(t, a, now), 0);
	assert_false(transport_ready(t, now));
	b = transport_batch_new(NULL);
	assert_int_equal(transport_batch_add(b, "{\"b\":2}\n", 8, 2), 0);
	assert_int_equal(transport_submit(t, b, now), -ENOBUFS);
	/* Still ours and intact (ASan would catch a use after free). */
	assert_int_equal(b->n, 1);
	assert_int_equal(b->first_seq, 2);
	assert_memory_equal(b->body, "{\"b\":2}\n", 8);
	assert_int_equal(transport_confirmed(t), 0);
	transport_batch_free(b);
	transport_close(t);
}

static int64_t
no_tick(struct transport_output *t, int64_t now)
{
	(void)t;
	return now + 1000;
}

/*
 * While the destination is unreachable, batches wait for the priority
 * lane: the heartbeat is the first thing sent once it is back, by the
 * order of events, not by timers.
 */
static void
transport_batches_wait_for_the_lane_after_an_outage(void **state)
{
	struct transport_output t;
	const struct transport_ops ops = { .tick = no_tick };
	const char *doc;
	size_t len;
	bool alert;
	int64_t now = 100000;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(transport_base_init(&t, &ops, "es", &fast, NULL), 0);
	/* Not failing: never gated. */
	assert_int_equal(transport_send_priority(&t, TRANSPORT_HEARTBEAT,
	    "hb1", 3, now), 0);
	assert_int_equal(transport_prio_gate(&t, now), 0);
	t.st.failing_since_ms = now;
	/* Failing, but the lane has not tried yet: nothing to be first. */
	assert_int_equal(transport_prio_gate(&t, now), 0);
	assert_true(transport_prio_take(&t, now, &doc, &len, &alert));
	assert_false(alert);
	/* Its attempt is out: the batch waits for it to finish. */
	assert_true(transport_prio_gate(&t, now) > now);
	transport_prio_finish(&t, now + 5, PRIO_UNREACHABLE, "refused");
	/* No answer at all: batches wait until the lane got through. */
	assert_int_equal(transport_prio_gate(&t, now + 10), now + 5 +
	    PRIO_RETRY_MS);
	assert_true(transport_prio_gate(&t, now + 9000) > now + 9000);
	/* A newer heartbeat replaces the waiting one; still gated. */
	assert_int_equal(transport_send_priority(&t, TRANSPORT_HEARTBEAT,
	    "hb2", 3, now + 9000), 0);
	assert_true(transport_prio_gate(&t, now + 9000) > now + 9000);
	assert_true(transport_prio_take(&t, now + 9000, &doc, &len, &alert));
	assert_memory_equal(doc, "hb2", 3);
	assert_true(transport_prio_gate(&t, now + 9001) > now + 9001);
	/* The server answered (a 503): reachable, batches may go too. */
	transport_prio_finish(&t, now + 9002, PRIO_RETRY, "503");
	assert_int_equal(transport_prio_gate(&t, now + 9003), 0);
	assert_true(transport_prio_take(&t, now + 9002 + PRIO_RETRY_MS, &doc,
	    &len, &alert));
	transport_prio_finish(&t, now + 12000, PRIO_OK, "");
	assert_false(transport_prio_pending(&t));
	assert_int_equal(transport_prio_gate(&t, now + 12001), 0);
	assert_int_equal(t.st.heartbeats_sent, 1);
	assert_int_equal(t.st.heartbeats_failed, 1);	/* hb1, replaced */
	transport_base_free(&t);
}

/* Retry-After is honoured up to retry_after_max, and no further. */
static void
transport_retry_after_is_capped(void **state)
{
	struct transport_output t;
	struct transport_retry r = { .initial_ms = 1000, .max_ms = 8000,
	    .after_max_ms = 300000 };
	const struct transport_ops ops = { .tick = no_tick };
	struct http_response resp;
	const char *how;
	int64_t w;

	(void)state;
	memset(&t, 0, sizeof(t));
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(transport_base_init(&t, &ops, "hec", &r, NULL), 0);
	resp.retry_after_ms = 86400000;
	assert_int_equal(transport_retry_wait(&t, &resp, &how), 300000);
	assert_non_null(strstr(how, "retry_after_max"));
	resp.retry_after_ms = 7000;
	assert_int_equal(transport_retry_wait(&t, &resp, &how), 7000);
	assert_non_null(strstr(how, "Retry-After"));
	resp.retry_after_ms = -1;
	w = transport_retry_wait(&t, &resp, &how);
	assert_true(w >= 0 && w <= 8000);
	assert_string_equal(how, "");
	assert_true(transport_retry_wait(&t, NULL, &how) <= 8000);
	transport_base_free(&t);
	/* 0 (unset) means the default, five minutes. */
	r.after_max_ms = 0;
	assert_int_equal(transport_base_init(&t, &ops, "hec", &r, NULL), 0);
	resp.retry_after_ms = 3600000;
	assert_int_equal(transport_retry_wait(&t, &resp, &how), 300000);
	transport_base_free(&t);
}

static void
transport_gzip_round_trips(void **state)
{
	char *out = NULL, back[4096];
	size_t len = 0, cap = 0;
	const char *text = "{\"event\":\"hello\"}{\"event\":\"world\"}";
	z_stream z;

	(void)state;
	assert_int_equal(gzip_buf(text, strlen(text), &out, &len, &cap), 0);
	assert_true(len > 18);
	assert_int_equal((unsigned char)out[0], 0x1f);
	assert_int_equal((unsigned char)out[1], 0x8b);
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)out;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)back;
	z.avail_out = sizeof(back);
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(sizeof(back) - z.avail_out, strlen(text));
	assert_memory_equal(back, text, strlen(text));
	inflateEnd(&z);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(transport_batch_keeps_record_bounds),
		cmocka_unit_test(
		    transport_refused_submit_leaves_the_batch_with_the_caller),
		cmocka_unit_test(
		    transport_batches_wait_for_the_lane_after_an_outage),
		cmocka_unit_test(transport_retry_after_is_capped),
		cmocka_unit_test(transport_file_appends_batches),
		cmocka_unit_test(transport_file_failed_write_is_cut_back),
		cmocka_unit_test(
		    transport_file_unopenable_is_retried_until_it_opens),
		cmocka_unit_test(transport_backoff_grows_to_its_cap_with_jitter),
		cmocka_unit_test(transport_dead_letters_are_json_lines),
		cmocka_unit_test(transport_tbuf_grows_and_escapes),
		cmocka_unit_test(
		    transport_dead_letter_of_a_long_record_is_whole),
		cmocka_unit_test(transport_gzip_round_trips),
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
