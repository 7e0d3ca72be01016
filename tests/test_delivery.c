/*
 * test_delivery.c - the delivery machinery every HTTPS output shares
 * (transport/delivery.c), driven through transport.h's verbs by a fake
 * output: no network, no curl.  Its requests are only noted, and the test
 * answers them by hand with delivery_done(), so each step of the delivery
 * invariant can be checked: which records a request carries, what an
 * answer does to each, and how far transport_confirmed() may move.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "transport_int.h"
#include "base.h"

/* The out-of-memory test asks calloc() for more than can be had: under
 * AddressSanitizer too, that must be NULL, not a report. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

#define REC_MAX	64

struct fake {
	struct delivery	 d;
	int		 send_rc;	/* what the next send returns */
	size_t		 nreq;		/* requests started */
	size_t		 sizes[REC_MAX]; /* records in each */
	uint64_t	 last[REC_MAX];	/* the seqs of the last one */
	size_t		 nlast;
	enum dl_outcome	 script[REC_MAX]; /* a 200 says this of each */
	int64_t		 ack_id;	/* for DL_ACCEPTED */
	size_t		 polls;
	int64_t		 acks[4];	/* the next poll's answer says */
	size_t		 nacks;
};

static const struct transport_retry fast = { .initial_ms = 10,
	.max_ms = 40 };

static int
fake_send(struct delivery *d, const struct transport_batch *b)
{
	struct fake *f = (struct fake *)d;

	if (f->send_rc != 0)
		return f->send_rc;
	f->nlast = d->nsent;
	for (size_t k = 0; k < d->nsent; k++)
		f->last[k] = b->seqs[d->sent[k]];
	if (f->nreq < REC_MAX)
		f->sizes[f->nreq] = d->nsent;
	f->nreq++;
	return 0;
}

static void
fake_answer(struct delivery *d, const struct http_response *r, int64_t now,
    struct dl_verdict *v)
{
	struct fake *f = (struct fake *)d;

	(void)now;
	if (r->status != 200)
		return;		/* the machinery's classes */
	v->ack_id = f->ack_id;
	v->dl.status = 200;
	v->dl.type = "";
	v->dl.why = "refused by the fake";
	for (size_t k = 0; k < d->nsent; k++)
		delivery_mark(d, v, k, f->script[k]);
}

static int
fake_ack_poll(struct delivery *d)
{
	((struct fake *)d)->polls++;
	d->req = DL_REQ_ACK;	/* out now, answered by the test */
	return 0;
}

static void
fake_ack_answer(struct delivery *d, const struct http_response *r)
{
	struct fake *f = (struct fake *)d;

	(void)r;
	for (size_t i = 0; i < f->nacks; i++)
		delivery_acked(d, f->acks[i]);
	f->nacks = 0;
}

static const struct delivery_ops fake_ops = {
	.unit = "records",
	.refused = "refused for good",
	.not_taken = "not taken",
	.too_large = "smaller batches",
	.one_too_large = { 413, 0, "", "one record too large" },
	.send = fake_send,
	.answer = fake_answer,
	.ack_poll = fake_ack_poll,
	.ack_answer = fake_ack_answer,
};

static struct fake *
fake_new(bool ack)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct transport_http http = { .timeout_ms = 1000, .retry = fast };

	assert_non_null(f);
	assert_int_equal(delivery_init(&f->d, &fake_ops, NULL, "fake", &http,
	    NULL), 0);
	if (ack) {
		f->d.slots = f->d.ready_slots = DL_SLOTS_MAX;
		f->d.ack = true;
		f->d.ack_timeout_ms = 5000;
		f->d.ack_poll_ms = 100;
	}
	return f;
}

/* A batch of n records with sequence numbers first, first + 1, ... */
static struct transport_batch *
batch(uint64_t first, size_t n)
{
	struct transport_batch *b = transport_batch_new(NULL);

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		char rec[32];
		int len = snprintf(rec, sizeof(rec), "{\"seq\":%llu}\n",
		    (unsigned long long)(first + i));
		assert_int_equal(transport_batch_add(b, rec, (size_t)len,
		    first + i), 0);
	}
	return b;
}

static void
submit(struct fake *f, uint64_t first, size_t n)
{
	assert_int_equal(transport_submit(&f->d.base, batch(first, n),
	    mono_now_ms()), 0);
}

/* Answer the request out now with status (the script says the rest). */
static void
answer(struct fake *f, long status)
{
	struct http_response r;

	memset(&r, 0, sizeof(r));
	r.status = status;
	r.body = "";
	r.retry_after_ms = -1;
	if (status == 0)
		snprintf(r.error, sizeof(r.error), "cannot connect (fake)");
	assert_int_not_equal(f->d.req, DL_REQ_NONE);
	delivery_done(&f->d, &r);
}

/* Past every backoff of `fast`. */
static void
later(struct fake *f)
{
	transport_tick(&f->d.base, mono_now_ms() + 1000);
}

static void
script(struct fake *f, size_t n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (size_t k = 0; k < n; k++)
		f->script[k] = (enum dl_outcome)va_arg(ap, int);
	va_end(ap);
}

static void
assert_last(const struct fake *f, size_t n, ...)
{
	va_list ap;

	assert_int_equal(f->nlast, n);
	va_start(ap, n);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(f->last[k], va_arg(ap, int));
	va_end(ap);
}

/*
 * Some records delivered, some refused, some to retry: only the retried
 * ones go again, after a backoff, and every count says what happened.
 */
static void
delivery_resends_only_the_failed_records(void **state)
{
	struct fake *f = fake_new(false);
	struct transport_stats st;

	(void)state;
	submit(f, 11, 6);
	assert_int_equal(f->nreq, 1);
	assert_last(f, 6, 11, 12, 13, 14, 15, 16);
	script(f, 6, DL_DELIVERED, DL_RETRY, DL_DEAD_LETTER, DL_DELIVERED,
	    DL_RETRY, DL_DUPLICATE);
	answer(f, 200);
	/* 12 is not taken: nothing after 11 is confirmed, and nothing goes
	 * again before the backoff. */
	assert_int_equal(transport_confirmed(&f->d.base), 11);
	assert_int_equal(f->nreq, 1);
	transport_get_stats(&f->d.base, &st);
	assert_int_equal(st.delivered, 3);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.dead_lettered, 1);
	assert_int_equal(st.retries, 1);
	assert_true(st.failing_since_ms > 0);
	later(f);
	assert_int_equal(f->nreq, 2);
	assert_last(f, 2, 12, 15);
	script(f, 2, DL_DELIVERED, DL_DELIVERED);
	answer(f, 200);
	assert_int_equal(transport_confirmed(&f->d.base), 16);
	assert_true(transport_idle(&f->d.base));
	transport_get_stats(&f->d.base, &st);
	assert_int_equal(st.delivered, 5);
	assert_int_equal(st.failing_since_ms, 0);
	transport_close(&f->d.base);
}

static void
check_confirmed(struct fake *f, uint64_t *was, uint64_t want)
{
	uint64_t c = transport_confirmed(&f->d.base);

	assert_true(c >= *was);		/* never backwards */
	assert_int_equal(c, want);
	*was = c;
}

/*
 * confirmed stops before the first record not done with, covers the
 * dead-lettered ones, and never moves back; batches go in order.
 */
static void
delivery_confirms_in_order(void **state)
{
	struct fake *f = fake_new(false);
	uint64_t was = 0;

	(void)state;
	submit(f, 1, 4);
	submit(f, 5, 4);
	assert_int_equal(f->nreq, 1);
	assert_last(f, 4, 1, 2, 3, 4);
	script(f, 4, DL_DEAD_LETTER, DL_DELIVERED, DL_RETRY, DL_DELIVERED);
	answer(f, 200);
	check_confirmed(f, &was, 2);
	/* The first batch's record 3 goes before anything of the second. */
	later(f);
	assert_last(f, 1, 3);
	script(f, 1, DL_RETRY);
	answer(f, 200);
	check_confirmed(f, &was, 2);
	later(f);
	assert_last(f, 1, 3);
	script(f, 1, DL_DELIVERED);
	answer(f, 200);
	check_confirmed(f, &was, 4);
	/* Done with the first batch: the second went at once. */
	assert_int_equal(f->nreq, 4);
	assert_last(f, 4, 5, 6, 7, 8);
	script(f, 4, DL_DELIVERED, DL_DELIVERED, DL_DEAD_LETTER, DL_RETRY);
	answer(f, 200);
	check_confirmed(f, &was, 7);
	later(f);
	assert_last(f, 1, 8);
	script(f, 1, DL_DEAD_LETTER);
	answer(f, 200);
	check_confirmed(f, &was, 8);
	assert_true(transport_idle(&f->d.base));
	transport_close(&f->d.base);
}

/* Whole-request answers: no answer and 503 again later, 400 refused. */
static void
delivery_classifies_whole_answers(void **state)
{
	struct fake *f = fake_new(false);
	struct transport_stats st;

	(void)state;
	assert_int_equal(delivery_classify(0), DL_TRY_AGAIN);
	assert_int_equal(delivery_classify(408), DL_TRY_AGAIN);
	assert_int_equal(delivery_classify(429), DL_TRY_AGAIN);
	assert_int_equal(delivery_classify(502), DL_TRY_AGAIN);
	assert_int_equal(delivery_classify(401), DL_AUTH);
	assert_int_equal(delivery_classify(403), DL_AUTH);
	assert_int_equal(delivery_classify(413), DL_TOO_LARGE);
	assert_int_equal(delivery_classify(400), DL_REFUSED);
	assert_int_equal(delivery_classify(204), DL_ANSWERED);
	submit(f, 1, 3);
	answer(f, 0);
	assert_int_equal(transport_confirmed(&f->d.base), 0);
	later(f);
	assert_last(f, 3, 1, 2, 3);
	answer(f, 503);
	assert_int_equal(transport_confirmed(&f->d.base), 0);
	later(f);
	assert_last(f, 3, 1, 2, 3);
	answer(f, 400);
	assert_int_equal(transport_confirmed(&f->d.base), 3);
	assert_true(transport_idle(&f->d.base));
	transport_get_stats(&f->d.base, &st);
	assert_int_equal(st.retries, 2);
	assert_int_equal(st.dead_lettered, 3);
	assert_int_equal(st.delivered, 0);
	transport_close(&f->d.base);
}

/* A batch the output has no room for stays the caller's, untouched. */
static void
delivery_full_queue_leaves_the_batch_with_the_caller(void **state)
{
	struct fake *f = fake_new(false);
	struct transport_batch *c = batch(9, 2);

	(void)state;
	submit(f, 1, 4);
	submit(f, 5, 4);
	assert_false(transport_ready(&f->d.base, mono_now_ms()));
	assert_int_equal(transport_submit(&f->d.base, c, mono_now_ms()),
	    -ENOBUFS);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->first_seq, 9);
	assert_memory_equal(c->body, "{\"seq\":9}\n", 10);
	assert_int_equal(f->nreq, 1);
	assert_int_equal(transport_confirmed(&f->d.base), 0);
	/* Once a batch is done with, there is room again. */
	script(f, 4, DL_DELIVERED, DL_DELIVERED, DL_DELIVERED, DL_DELIVERED);
	answer(f, 200);
	assert_true(transport_ready(&f->d.base, mono_now_ms()));
	assert_int_equal(transport_submit(&f->d.base, c, mono_now_ms()), 0);
	transport_close(&f->d.base);
}

/* Out of memory on submit: -ENOMEM, and the batch is the caller's. */
static void
delivery_failed_submit_leaves_the_batch_with_the_caller(void **state)
{
	struct fake *f = fake_new(true);
	struct transport_batch *b = batch(1, 2);
	size_t n = b->n;

	(void)state;
	/* More records than memory can note: the note fails, not the
	 * batch (never read past its count: nothing is sent). */
	b->n = (size_t)1 << 60;
	assert_int_equal(transport_submit(&f->d.base, b, mono_now_ms()),
	    -ENOMEM);
	b->n = n;
	assert_int_equal(b->first_seq, 1);
	assert_memory_equal(b->body, "{\"seq\":1}\n", 10);
	assert_int_equal(f->nreq, 0);
	assert_true(transport_idle(&f->d.base));
	/* A request that cannot start: nothing lost, tried again later. */
	f->send_rc = -ENOMEM;
	assert_int_equal(transport_submit(&f->d.base, b, mono_now_ms()), 0);
	assert_int_equal(f->nreq, 0);
	f->send_rc = 0;
	transport_tick(&f->d.base, mono_now_ms() + 2000);
	assert_int_equal(f->nreq, 1);
	assert_last(f, 2, 1, 2);
	transport_close(&f->d.base);
}

/*
 * Records taken but awaiting their acknowledgement are not done: nothing
 * after them is confirmed, a later batch delivered meanwhile included.
 * Without the acknowledgement in time they are sent again.
 */
static void
delivery_awaits_acknowledgements(void **state)
{
	struct fake *f = fake_new(true);
	struct transport_stats st;
	uint64_t was = 0;

	(void)state;
	submit(f, 1, 3);
	f->ack_id = 7;
	script(f, 3, DL_ACCEPTED, DL_ACCEPTED, DL_ACCEPTED);
	answer(f, 200);
	check_confirmed(f, &was, 0);
	assert_false(transport_idle(&f->d.base));
	/* The next batch goes meanwhile, and is delivered. */
	submit(f, 4, 2);
	assert_last(f, 2, 4, 5);
	script(f, 2, DL_DELIVERED, DL_DELIVERED);
	answer(f, 200);
	check_confirmed(f, &was, 0);
	/* A poll that says nothing of ackId 7. */
	transport_tick(&f->d.base, mono_now_ms() + 200);
	assert_int_equal(f->polls, 1);
	answer(f, 200);
	check_confirmed(f, &was, 0);
	/* ack_timeout passes: the three go again, and only they. */
	transport_tick(&f->d.base, mono_now_ms() + 6000);
	assert_int_equal(f->nreq, 3);
	assert_last(f, 3, 1, 2, 3);
	f->ack_id = 8;
	script(f, 3, DL_ACCEPTED, DL_ACCEPTED, DL_ACCEPTED);
	answer(f, 200);
	check_confirmed(f, &was, 0);
	transport_tick(&f->d.base, mono_now_ms() + 200);
	assert_int_equal(f->polls, 2);
	f->acks[f->nacks++] = 8;
	answer(f, 200);
	check_confirmed(f, &was, 5);
	assert_true(transport_idle(&f->d.base));
	transport_get_stats(&f->d.base, &st);
	assert_int_equal(st.delivered, 5);
	assert_int_equal(st.retries, 1);
	transport_close(&f->d.base);
}

/* 413 halves the records per request until they fit; one record alone
 * too large is refused. */
static void
delivery_halves_requests_on_413(void **state)
{
	struct fake *f = fake_new(false);
	struct transport_stats st;
	const size_t want[] = { 8, 4, 2, 2, 2, 2 };

	(void)state;
	submit(f, 1, 8);
	answer(f, 413);
	assert_int_equal(f->nreq, 2);
	assert_last(f, 4, 1, 2, 3, 4);
	answer(f, 413);
	assert_last(f, 2, 1, 2);
	for (size_t k = 0; k < 2; k++)
		f->script[k] = DL_DELIVERED;
	while (!transport_idle(&f->d.base))
		answer(f, 200);
	assert_int_equal(f->nreq, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < f->nreq; i++)
		assert_int_equal(f->sizes[i], want[i]);
	assert_int_equal(transport_confirmed(&f->d.base), 8);
	/* The next batch starts whole; alone and too large: refused. */
	submit(f, 9, 1);
	assert_last(f, 1, 9);
	answer(f, 413);
	assert_int_equal(transport_confirmed(&f->d.base), 9);
	transport_get_stats(&f->d.base, &st);
	assert_int_equal(st.delivered, 8);
	assert_int_equal(st.dead_lettered, 1);
	transport_close(&f->d.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(delivery_resends_only_the_failed_records),
		cmocka_unit_test(delivery_confirms_in_order),
		cmocka_unit_test(delivery_classifies_whole_answers),
		cmocka_unit_test(
		    delivery_full_queue_leaves_the_batch_with_the_caller),
		cmocka_unit_test(
		    delivery_failed_submit_leaves_the_batch_with_the_caller),
		cmocka_unit_test(delivery_awaits_acknowledgements),
		cmocka_unit_test(delivery_halves_requests_on_413),
	};

	log_init("test_delivery", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
