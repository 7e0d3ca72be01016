/*
 * test_buffer.c - the buffer between sources and outputs: append, read and
 * acknowledge through several cursors, caps, the block and drop_oldest
 * policies with exact drop counts, and the durable sequence number sources
 * checkpoint against.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "buffer.h"

static struct buffer *
open_buf(uint64_t recs, uint64_t bytes, int full)
{
	struct buffer_opts o = { .max_records = recs, .max_bytes = bytes,
	    .full = full };
	struct buffer *b;

	assert_int_equal(buffer_open(&o, &b), 0);
	return b;
}

static void
append_n(struct buffer *b, int from, int n)
{
	char rec[32];

	for (int i = from; i < from + n; i++) {
		int len = snprintf(rec, sizeof(rec), "record-%d", i);
		uint64_t seq;
		assert_int_equal(buffer_append(b, "in", 1000 + i, 0, rec,
		    (size_t)len, &seq), 0);
	}
}

static void
buffer_append_read_ack_round_trip(void **state)
{
	struct buffer *b = open_buf(16, 1024, BUFFER_FULL_BLOCK);
	struct buffer_cursor *c;
	struct buffer_rec r[8];
	uint64_t seq;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "out", &c), 0);
	assert_int_equal(buffer_last_seq(b), 0);
	assert_int_equal(buffer_append(b, "win", 42, BUFFER_REC_TRUNCATED,
	    "abc", 3, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(buffer_read(c, r, 8, 1 << 20), 1);
	assert_int_equal(r[0].seq, 1);
	assert_int_equal(r[0].time_ms, 42);
	assert_int_equal(r[0].flags, BUFFER_REC_TRUNCATED);
	assert_string_equal(r[0].source, "win");
	assert_int_equal(r[0].len, 3);
	assert_memory_equal(r[0].data, "abc", 3);
	assert_int_equal(buffer_read(c, r, 8, 1 << 20), 0);
	assert_int_equal(buffer_cursor_pending(c), 1);
	assert_int_equal(buffer_durable_seq(b), 0);
	assert_int_equal(buffer_ack(c, 1), 0);
	assert_int_equal(buffer_cursor_pending(c), 0);
	assert_int_equal(buffer_durable_seq(b), 1);
	assert_int_equal(buffer_ack(c, 5), -EINVAL);
	buffer_close(b);
}

static void
buffer_every_cursor_sees_every_record(void **state)
{
	struct buffer *b = open_buf(64, 1 << 20, BUFFER_FULL_BLOCK);
	struct buffer_cursor *c1, *c2;
	struct buffer_rec r[64];
	struct buffer_stats st;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "a", &c1), 0);
	assert_int_equal(buffer_cursor_open(b, "b", &c2), 0);
	append_n(b, 0, 10);
	assert_int_equal(buffer_read(c1, r, 64, 1 << 20), 10);
	assert_int_equal(buffer_ack(c1, 10), 0);
	/* c2 has not acknowledged: nothing is released or durable. */
	buffer_get_stats(b, &st);
	assert_int_equal(st.records, 10);
	assert_int_equal(buffer_durable_seq(b), 0);
	assert_int_equal(buffer_read(c2, r, 4, 1 << 20), 4);
	assert_int_equal(r[3].seq, 4);
	assert_memory_equal(r[3].data, "record-3", 8);
	assert_int_equal(buffer_ack(c2, 4), 0);
	assert_int_equal(buffer_durable_seq(b), 4);
	buffer_get_stats(b, &st);
	assert_int_equal(st.records, 6);
	assert_int_equal(buffer_cursor_unread(c2), 6);
	assert_int_equal(buffer_read(c2, r, 64, 1 << 20), 6);
	assert_int_equal(r[0].seq, 5);
	assert_int_equal(buffer_ack(c2, 10), 0);
	buffer_get_stats(b, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(buffer_durable_seq(b), 10);
	buffer_close(b);
}

static void
buffer_rewind_rereads_unacknowledged(void **state)
{
	struct buffer *b = open_buf(64, 1 << 20, BUFFER_FULL_BLOCK);
	struct buffer_cursor *c;
	struct buffer_rec r[64];

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "a", &c), 0);
	append_n(b, 0, 5);
	assert_int_equal(buffer_read(c, r, 64, 1 << 20), 5);
	assert_int_equal(buffer_ack(c, 2), 0);
	buffer_rewind(c);
	assert_int_equal(buffer_read(c, r, 64, 1 << 20), 3);
	assert_int_equal(r[0].seq, 3);
	buffer_close(b);
}

static void
buffer_read_respects_byte_limit_but_returns_one(void **state)
{
	struct buffer *b = open_buf(64, 1 << 20, BUFFER_FULL_BLOCK);
	struct buffer_cursor *c;
	struct buffer_rec r[64];

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "a", &c), 0);
	append_n(b, 0, 10);	/* 8 bytes each */
	assert_int_equal(buffer_read(c, r, 64, 20), 2);
	assert_int_equal(buffer_read(c, r, 64, 1), 1);
	buffer_close(b);
}

static void
buffer_block_policy_refuses_when_full(void **state)
{
	struct buffer *b = open_buf(4, 1 << 20, BUFFER_FULL_BLOCK);
	struct buffer_cursor *c;
	struct buffer_rec r[8];
	struct buffer_stats st;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "a", &c), 0);
	append_n(b, 0, 4);
	assert_false(buffer_can_append(b, 1));
	assert_int_equal(buffer_append(b, "in", 0, 0, "x", 1, NULL), -ENOBUFS);
	buffer_get_stats(b, &st);
	assert_int_equal(st.rejected_full, 1);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(buffer_read(c, r, 8, 1 << 20), 4);
	assert_int_equal(buffer_ack(c, 2), 0);
	assert_true(buffer_can_append(b, 1));
	append_n(b, 4, 2);
	assert_int_equal(buffer_read(c, r, 8, 1 << 20), 2);
	assert_int_equal(r[1].seq, 6);
	/* Byte cap too. */
	buffer_close(b);
	b = open_buf(100, 20, BUFFER_FULL_BLOCK);
	assert_int_equal(buffer_cursor_open(b, "a", &c), 0);
	append_n(b, 0, 2);
	assert_false(buffer_can_append(b, 5));
	assert_int_equal(buffer_append(b, "in", 0, 0, "toolarge-record-xx",
	    21, NULL), -EMSGSIZE);
	buffer_close(b);
}

static void
buffer_drop_oldest_counts_exact_losses(void **state)
{
	struct buffer *b = open_buf(4, 1 << 20, BUFFER_FULL_DROP_OLDEST);
	struct buffer_cursor *fast, *slow;
	struct buffer_rec r[16];
	struct buffer_stats st;

	(void)state;
	assert_int_equal(buffer_cursor_open(b, "fast", &fast), 0);
	assert_int_equal(buffer_cursor_open(b, "slow", &slow), 0);
	append_n(b, 0, 10);
	buffer_get_stats(b, &st);
	assert_int_equal(st.appended, 10);
	assert_int_equal(st.dropped, 6);
	assert_int_equal(st.records, 4);
	/* Both cursors continue at the oldest record still stored. */
	assert_int_equal(buffer_read(slow, r, 16, 1 << 20), 4);
	assert_int_equal(r[0].seq, 7);
	assert_memory_equal(r[0].data, "record-6", 8);
	assert_int_equal(buffer_read(fast, r, 16, 1 << 20), 4);
	assert_int_equal(r[3].seq, 10);
	buffer_close(b);
}

static void
buffer_without_cursor_releases_at_once(void **state)
{
	struct buffer *b = open_buf(2, 1 << 20, BUFFER_FULL_BLOCK);
	struct buffer_stats st;

	(void)state;
	append_n(b, 0, 5);
	buffer_get_stats(b, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(buffer_durable_seq(b), 5);
	assert_int_equal(buffer_last_seq(b), 5);
	buffer_close(b);
}

static void
buffer_rejects_bad_options(void **state)
{
	struct buffer_opts o = { .max_records = 0, .max_bytes = 10 };
	struct buffer *b;

	(void)state;
	assert_int_equal(buffer_open(&o, &b), -EINVAL);
	o.max_records = 10;
	o.max_bytes = 0;
	assert_int_equal(buffer_open(&o, &b), -EINVAL);
	buffer_close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buffer_append_read_ack_round_trip),
		cmocka_unit_test(buffer_every_cursor_sees_every_record),
		cmocka_unit_test(buffer_rewind_rereads_unacknowledged),
		cmocka_unit_test(buffer_read_respects_byte_limit_but_returns_one),
		cmocka_unit_test(buffer_block_policy_refuses_when_full),
		cmocka_unit_test(buffer_drop_oldest_counts_exact_losses),
		cmocka_unit_test(buffer_without_cursor_releases_at_once),
		cmocka_unit_test(buffer_rejects_bad_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
