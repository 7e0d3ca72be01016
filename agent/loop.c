/*
 * loop.c - the agent's single-threaded event loop.
 *
 * Each turn: sources read what is available and append records to the
 * buffer; every output reads a batch through its own cursor, renders it,
 * sends it and acknowledges it when the destination took it; sources then
 * checkpoint up to buffer_durable_seq().  poll() waits for standard input,
 * the signal self-pipe, or the next timer (a followed file's next look, an
 * output's retry).  Signals only write a byte to the self-pipe.
 */
#include "agent_int.h"
#include "log.h"
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_BUDGET		(1u << 20)	/* per source per turn */
#define BATCH_MAX_RAW		(4u << 20)	/* raw bytes per batch */
#define BATCH_MAX_RENDERED	(128u << 20)
#define RETRY_INITIAL_MS	1000
#define RETRY_MAX_MS		60000
#define FAIL_LOG_EVERY_MS	60000

struct output {
	const struct config_output	*cfg;
	struct transport_output		*t;
	struct buffer_cursor		*cur;
	struct render_ctx		 rctx;
	struct strbuf			 batch;	/* rendered, not yet sent */
	uint64_t			 batch_last;	/* its last seq */
	size_t				 batch_n;
	int64_t				 retry_at;
	int64_t				 backoff;
	int64_t				 last_fail_log;
	uint64_t			 failures;
	uint64_t			 delivered;
	uint64_t			 parse_errors;
	uint64_t			 rejected;
	uint64_t			 gap_records;	/* reported lost */
};

struct agent {
	const struct config	*cfg;
	struct buffer		*buf;
	struct event_parser	*parser;
	struct source		**sources;
	size_t			 nsources;
	struct output		*outputs;
	size_t			 noutputs;
	struct buffer_rec	*recs;
	char			 host[256];
	bool			 failed;
};

static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t sig_stop, sig_hup;

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig == SIGHUP)
		sig_hup = 1;
	else
		sig_stop = 1;
	if (sig_pipe[1] >= 0)
		(void)!write(sig_pipe[1], &c, 1);
	errno = saved;
}

static int
signals_setup(void)
{
	struct sigaction sa;

	if (sig_pipe[0] < 0) {
		if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
			return -errno;
	}
	sig_stop = sig_hup = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* A file size limit makes write() fail with EFBIG, handled like a
	 * full disk, instead of killing the agent. */
	sigaction(SIGXFSZ, &sa, NULL);
	return 0;
}

static void
signals_drain(void)
{
	char buf[64];

	while (read(sig_pipe[0], buf, sizeof(buf)) > 0)
		;
}

/* Capped exponential backoff with full jitter. */
static int64_t
backoff_next(struct output *o)
{
	int64_t cap;

	o->backoff = o->backoff == 0 ? RETRY_INITIAL_MS :
	    o->backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : o->backoff * 2;
	cap = o->backoff;
	return cap / 2 + (int64_t)(random() % (cap / 2 + 1));
}

/* Render the next batch of o into o->batch.  Return records in it. */
static size_t
render_batch(struct agent *a, struct output *o)
{
	size_t max = (size_t)o->cfg->batch_max_events, n, done = 0;

	n = buffer_read(o->cur, a->recs, max, BATCH_MAX_RAW);
	for (size_t i = 0; i < n; i++) {
		size_t mark = o->batch.len;
		int rc = render_ecs(a->parser, &o->rctx, &a->recs[i],
		    &o->batch);

		if (rc >= 0 && strbuf_addc(&o->batch, '\n') == 0) {
			if (rc == RENDER_PARSE_ERROR)
				o->parse_errors++;
			if (rc == RENDER_GAP) {
				o->gap_records += a->recs[i].gap_count;
				log_warnx("output %s: %" PRIu64 " records lost "
				    "before it could read them (%.*s); a gap "
				    "document says so", o->cfg->name,
				    a->recs[i].gap_count, (int)a->recs[i].len,
				    a->recs[i].data);
			}
			o->batch_last = a->recs[i].seq;
			done++;
			continue;
		}
		o->batch.len = mark;
		o->batch.s[mark] = '\0';
		o->batch.overflow = false;
		if (done > 0) {
			/* Send what fits; the rest is read again next time. */
			buffer_rewind(o->cur);
			break;
		}
		log_warnx("output %s: record %" PRIu64 " from input %s cannot "
		    "be rendered within %u MiB; dropping it (counted)",
		    o->cfg->name, a->recs[i].seq, a->recs[i].source,
		    BATCH_MAX_RENDERED >> 20);
		o->rejected++;
		o->batch_last = a->recs[i].seq;
		if (buffer_ack(o->cur, a->recs[i].seq) != 0)
			log_warnx("output %s: cannot acknowledge", o->cfg->name);
		buffer_rewind(o->cur);
		break;
	}
	o->batch_n = done;
	return done;
}

/* Move batches to output o until it is caught up or must wait. */
static bool
output_pump(struct agent *a, struct output *o, int64_t now)
{
	bool progress = false;

	for (int turns = 0; turns < 16; turns++) {
		enum transport_outcome res;

		if (now < o->retry_at)
			break;
		if (o->batch_n == 0 && render_batch(a, o) == 0)
			break;
		res = transport_send(o->t, o->batch.s, o->batch.len);
		if (res == TRANSPORT_RETRY) {
			int64_t wait = backoff_next(o);
			o->failures++;
			if (o->failures == 1 ||
			    now - o->last_fail_log >= FAIL_LOG_EVERY_MS) {
				log_warnx("output %s: %s; keeping %zu records, "
				    "retrying in %.1f s (failure %" PRIu64 ")",
				    o->cfg->name, transport_last_error(o->t),
				    o->batch_n, (double)wait / 1000,
				    o->failures);
				o->last_fail_log = now;
			}
			o->retry_at = now + wait;
			break;
		}
		if (res == TRANSPORT_REJECT) {
			log_warnx("output %s: %s; %zu records rejected and "
			    "counted", o->cfg->name, transport_last_error(o->t),
			    o->batch_n);
			o->rejected += o->batch_n;
		} else {
			if (o->failures > 0)
				log_info("output %s: delivering again after %"
				    PRIu64 " failures", o->cfg->name,
				    o->failures);
			o->failures = 0;
			o->backoff = 0;
			o->delivered += o->batch_n;
		}
		if (buffer_ack(o->cur, o->batch_last) != 0)
			log_warnx("output %s: cannot acknowledge record %"
			    PRIu64, o->cfg->name, o->batch_last);
		strbuf_reset(&o->batch);
		o->batch_n = 0;
		progress = true;
	}
	return progress;
}

static bool
outputs_idle(const struct agent *a)
{
	for (size_t i = 0; i < a->noutputs; i++)
		if (buffer_cursor_pending(a->outputs[i].cur) > 0)
			return false;
	return true;
}

static void
agent_teardown(struct agent *a)
{
	int rc;

	/* Ring first: sources may then checkpoint all they appended. */
	if (a->buf != NULL && (rc = buffer_sync(a->buf)) != 0)
		log_warnx("buffer: final sync failed: %s; positions stay where "
		    "the records are safe", strerror(-rc));
	for (size_t i = 0; i < a->nsources; i++)
		source_close(a->sources[i], a->buf);
	for (size_t i = 0; i < a->noutputs; i++) {
		struct output *o = &a->outputs[i];
		if (o->t != NULL && transport_flush(o->t) != 0)
			log_warn("output %s: fsync", o->cfg->name);
		transport_close(o->t);
		strbuf_free(&o->batch);
	}
	free(a->sources);
	free(a->outputs);
	free(a->recs);
	event_parser_free(a->parser);
	buffer_close(a->buf);
}

static int
agent_setup(struct agent *a, const struct config *cfg)
{
	const struct config_buffer *cb = &cfg->buffer;
	struct buffer_opts bo;
	char bdir[4096];
	size_t maxbatch = 1;
	int rc;

	memset(a, 0, sizeof(*a));
	a->cfg = cfg;
	if (gethostname(a->host, sizeof(a->host)) != 0 || a->host[0] == '\0')
		snprintf(a->host, sizeof(a->host), "localhost");
	a->host[sizeof(a->host) - 1] = '\0';
	if ((rc = state_mkdirs(cfg->agent.state_dir, 0750)) != 0) {
		log_errorx("cannot create state_dir %s: %s",
		    cfg->agent.state_dir, strerror(-rc));
		return rc;
	}
	if (snprintf(bdir, sizeof(bdir), "%s/buffer", cfg->agent.state_dir) >=
	    (int)sizeof(bdir))
		return -ENAMETOOLONG;
	buffer_opts_default(&bo);
	bo.dir = bdir;
	bo.max_size = cb->max_size;
	bo.segment_size = cb->segment_size;
	bo.block_size = cb->block_size;
	bo.flush_interval_ms = cb->flush_interval_ms;
	bo.full = cb->full == CONFIG_FULL_BLOCK ? BUFFER_FULL_BLOCK :
	    BUFFER_FULL_DROP_OLDEST;
	bo.fsync = cb->fsync == CONFIG_FSYNC_ALWAYS ? BUFFER_FSYNC_ALWAYS :
	    cb->fsync == CONFIG_FSYNC_NEVER ? BUFFER_FSYNC_NEVER :
	    BUFFER_FSYNC_INTERVAL;
	bo.fsync_interval_ms = cb->fsync_interval_ms;
	bo.compression_level = (int)cb->compression_level;
	bo.max_record_size = cb->max_record_size;
	bo.max_pending_bytes = cb->max_pending_size;
	if ((rc = buffer_open(&bo, &a->buf)) != 0) {
		if (rc == -EBUSY)
			log_errorx("the buffer in %s is in use by another "
			    "sysmonfwd (one agent per state_dir)", bdir);
		else
			log_errorx("cannot open the buffer in %s: %s", bdir,
			    strerror(-rc));
		a->failed = true;
		return rc;
	}
	if ((rc = event_parser_new(&a->parser)) != 0)
		return rc;
	a->sources = calloc(cfg->ninputs, sizeof(*a->sources));
	a->outputs = calloc(cfg->noutputs, sizeof(*a->outputs));
	if (a->sources == NULL || a->outputs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->noutputs; i++) {
		const struct config_output *oc = &cfg->outputs[i];
		struct output *o = &a->outputs[a->noutputs];

		o->cfg = oc;
		o->rctx.agent_name = cfg->agent.name;
		o->rctx.host_name = a->host;
		o->rctx.keep_original = oc->keep_original;
		o->batch.max = BATCH_MAX_RENDERED;
		if ((rc = transport_file_open(oc->name,
		    oc->type == CONFIG_OUTPUT_FILE ? oc->path : NULL,
		    &o->t)) != 0)
			return rc;
		a->noutputs++;
		if ((rc = buffer_cursor_open(a->buf, oc->name, &o->cur)) != 0)
			return rc;
		if (oc->batch_max_events > maxbatch)
			maxbatch = (size_t)oc->batch_max_events;
	}
	if ((a->recs = calloc(maxbatch, sizeof(*a->recs))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->ninputs; i++) {
		if ((rc = source_file_open(&cfg->inputs[i],
		    cfg->agent.state_dir, a->buf, &a->sources[a->nsources])) !=
		    0)
			return rc;
		a->nsources++;
	}
	return 0;
}

static void
summarize(const struct agent *a, struct agent_summary *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (size_t i = 0; i < a->nsources; i++) {
		struct source_stats st;
		source_get_stats(a->sources[i], &st);
		sum->records_read += st.records;
		sum->lines_ignored += st.ignored;
		sum->truncated += st.truncated;
	}
	sum->delivered = UINT64_MAX;
	for (size_t i = 0; i < a->noutputs; i++) {
		const struct output *o = &a->outputs[i];
		if (o->parse_errors > sum->parse_errors)
			sum->parse_errors = o->parse_errors;
		if (o->delivered < sum->delivered)
			sum->delivered = o->delivered;
		if (o->gap_records > sum->lost)
			sum->lost = o->gap_records;
	}
	if (a->noutputs == 0)
		sum->delivered = 0;
}

/* Give outputs a last chance to take what is buffered (stop or end). */
static void
drain(struct agent *a, int64_t deadline)
{
	while (!outputs_idle(a) && mono_now_ms() < deadline) {
		bool progress = false;
		int64_t now = mono_now_ms();

		for (size_t i = 0; i < a->noutputs; i++)
			progress |= output_pump(a, &a->outputs[i], now);
		if (!progress)
			poll(NULL, 0, 50);
	}
}

int
agent_run(const struct config *cfg, const struct agent_opts *opts,
    struct agent_summary *sum)
{
	struct agent a;
	struct pollfd *pfds = NULL;
	int64_t start = mono_now_ms();
	int rc;

	if ((rc = signals_setup()) != 0) {
		log_errorx("cannot set up signal handling: %s", strerror(-rc));
		return rc;
	}
	if ((rc = agent_setup(&a, cfg)) != 0)
		goto out;
	if ((pfds = calloc(a.nsources + 1, sizeof(*pfds))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	log_info("started: %zu input(s), %zu output(s), state in %s",
	    a.nsources, a.noutputs, cfg->agent.state_dir);

	while (!sig_stop) {
		int64_t now = mono_now_ms(), wake = now + 1000;
		bool progress = false, all_finished = true, all_at_end = true;
		nfds_t nfds = 0;

		if (sig_hup) {
			sig_hup = 0;
			for (size_t i = 0; i < a.noutputs; i++)
				if (transport_reopen(a.outputs[i].t) != 0)
					log_warnx("output %s: reopen failed; "
					    "will retry", a.outputs[i].cfg->name);
			log_info("SIGHUP: output files reopened");
		}
		for (size_t i = 0; i < a.nsources; i++) {
			struct source *s = a.sources[i];
			ssize_t n;

			if (source_finished(s))
				continue;
			if (source_wait_fd(s) >= 0 ||
			    source_next_poll(s, now) <= now) {
				n = source_poll(s, a.buf, READ_BUDGET);
				if (n < 0) {
					log_errorx("input %s stopped after an "
					    "error", source_name(s));
					a.failed = true;
					rc = (int)n;
					goto stop;
				}
				progress |= n > 0;
			}
		}
		for (size_t i = 0; i < a.noutputs; i++)
			progress |= output_pump(&a, &a.outputs[i], now);
		{
			int64_t t = buffer_tick(a.buf, mono_now_ms());
			if (t < wake)
				wake = t;
		}
		{
			uint64_t durable = buffer_durable_seq(a.buf);
			for (size_t i = 0; i < a.nsources; i++)
				source_checkpoint(a.sources[i], durable, false);
		}
		for (size_t i = 0; i < a.nsources; i++) {
			struct source *s = a.sources[i];
			all_finished &= source_finished(s);
			all_at_end &= source_at_end(s);
		}
		if (outputs_idle(&a) && (all_finished ||
		    (opts->once && all_at_end)))
			break;
		if (progress)
			continue;

		/* Nothing moved: sleep until something can. */
		pfds[nfds].fd = sig_pipe[0];
		pfds[nfds++].events = POLLIN;
		for (size_t i = 0; i < a.nsources; i++) {
			struct source *s = a.sources[i];
			int64_t t = source_next_poll(s, now);
			int fd = source_wait_fd(s);

			if (fd >= 0) {
				pfds[nfds].fd = fd;
				pfds[nfds++].events = POLLIN;
			}
			if (t < wake)
				wake = t;
		}
		for (size_t i = 0; i < a.noutputs; i++) {
			struct output *o = &a.outputs[i];
			if (o->retry_at > now && o->retry_at < wake &&
			    (o->batch_n > 0 || buffer_cursor_unread(o->cur)))
				wake = o->retry_at;
		}
		if (wake < now)
			wake = now;
		if (poll(pfds, nfds, (int)(wake - now)) > 0 &&
		    (pfds[0].revents & POLLIN))
			signals_drain();
	}
stop:
	if (sig_stop)
		log_info("stopping on signal: flushing and saving positions");
	/* Local outputs finish at once; bounded for those that do not. */
	drain(&a, mono_now_ms() + 5000);
	if (!outputs_idle(&a))
		log_warnx("stopping with records not delivered; they will be "
		    "read again from the input at the next start");
	summarize(&a, sum);
	{
		struct buffer_stats bs;
		buffer_get_stats(a.buf, &bs);
		sum->evicted = bs.evicted;
		sum->dropped_io = bs.dropped_io;
		sum->corrupt_blocks = bs.corrupt_blocks;
	}
	sum->elapsed_ms = (uint64_t)(mono_now_ms() - start);
out:
	if (rc != 0 && !a.failed)
		log_errorx("cannot start: %s", strerror(-rc));
	free(pfds);
	agent_teardown(&a);
	return rc;
}
