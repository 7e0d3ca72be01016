/*
 * loop.c - the agent's single-threaded event loop.
 *
 * Each turn: sources read what is available and append records to the
 * ring; every output reads records through its own cursor, renders them
 * into its wire form and hands batches to its transport, which sends them
 * (asynchronously for HTTP) and reports how far the destination confirmed;
 * the ring is acknowledged up to there; sources then checkpoint up to
 * buffer_durable_seq().  transport_loop_wait() waits on curl's sockets,
 * standard input, the signal self-pipe, or the next timer (a followed
 * file's next look, a retry, an acknowledgement poll, a batch's
 * flush_interval).  Signals only write a byte to the self-pipe.
 */
#include "agent.h"
#include "health.h"
#include "render.h"
#include "source.h"
#include "transport.h"
#include "base.h"

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
#define RENDER_MAX		(128u << 20)	/* one rendered record */
#define READ_CHUNK		64		/* records per buffer_read */
#define OOM_RETRY_MS		100		/* after a failed allocation */

struct output {
	const struct config_output	*cfg;
	struct transport_output		*t;
	struct buffer_cursor		*cur;
	struct render_ctx		 rctx;
	struct render_hec_opts		 hec;
	struct render_es_opts		 es;
	struct render_wazuh_opts	 wz;
	bool				 is_hec;
	bool				 is_es;
	bool				 is_wazuh;
	bool				 local;	/* file/stdout: no waiting */
	struct transport_batch		*building;
	int64_t				 started;	/* building's first */
	struct strbuf			 one;	/* one rendered record */
	struct strbuf			 scratch;
	uint64_t			 acked;	/* ring acked up to */
	uint64_t			 parse_errors;
	uint64_t			 gap_records;	/* reported lost */
	uint64_t			 cut_records;	/* cut to fit */
	int64_t				 oom_since;	/* 0: not failing */
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
	struct transport_loop	*loop;
	char			 host[256];
	bool			 failed;
	bool			 flush_now;	/* no more input is coming: send
						   partial batches at once */
	/* heartbeats, the watchdog, alerts, the monitor */
	struct watchdog		*wd;
	struct monitor		*mon;
	int64_t			 started_wall;
	int64_t			 next_heartbeat;	/* monotonic */
	uint64_t		 hb_seq;
	int64_t			 last_record_wall;	/* any input */
	int64_t			*src_last;		/* per input */
	bool			 silent_alerted;
	int64_t			 mon_next;	/* monotonic */
	struct agent_status	 st;
	struct status_source	*st_src;
	struct status_output	*st_out;
	struct strbuf		 sdoc, swrap;
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

/* Render r in o's wire form, appended to o->one. */
static int
render_for(struct agent *a, struct output *o, const struct buffer_rec *r)
{
	if (o->is_hec)
		return render_hec(a->parser, &o->rctx, &o->hec, r, &o->one,
		    &o->scratch);
	if (o->is_es)
		return render_es(a->parser, &o->rctx, &o->es, r, &o->one);
	if (o->is_wazuh)
		return render_wazuh(a->parser, &o->rctx, &o->wz, r, &o->one,
		    &o->scratch);
	return render_ecs(a->parser, &o->rctx, r, &o->one);
}

/* Render one record into o->one; on failure, a stand-in that says so. */
static int
render_one(struct agent *a, struct output *o, const struct buffer_rec *r)
{
	struct buffer_rec g;
	int rc;

	if (r->flags & BUFFER_REC_SOURCE_GAP) {
		/* An input's own loss: "COUNT\nREASON", rendered as a gap. */
		const char *nl = memchr(r->data, '\n', r->len);
		char num[24];
		size_t k = nl != NULL ? (size_t)(nl - r->data) : 0;

		g = *r;
		snprintf(num, sizeof(num), "%.*s", (int)(k < 20 ? k : 20),
		    r->data);
		g.flags = BUFFER_REC_GAP;
		g.gap_count = strtoull(num, NULL, 10);
		g.gap_first = r->seq;
		g.gap_last_ms = r->time_ms;
		g.data = nl != NULL ? nl + 1 : r->data;
		g.len = nl != NULL ? r->len - k - 1 : r->len;
		r = &g;
	}

	strbuf_reset(&o->one);
	rc = render_for(a, o, r);
	if (rc == -ENOMEM)
		return rc;	/* says nothing about the record: retried */
	if (rc < 0) {
		/* Too big to render: forward its start, tagged. */
		struct buffer_rec cut = *r;
		log_warnx("output %s: record %" PRIu64 " from input %s cannot "
		    "be rendered within %u MiB: forwarding its first 64 KiB, "
		    "tagged", o->cfg->name, r->seq, r->source,
		    RENDER_MAX >> 20);
		cut.len = cut.len > 65536 ? 65536 : cut.len;
		cut.flags |= BUFFER_REC_TRUNCATED;
		strbuf_reset(&o->one);
		rc = render_for(a, o, &cut);
		if (rc < 0)
			return rc;
	}
	if (rc == RENDER_PARSE_ERROR)
		o->parse_errors++;
	if (rc == RENDER_CUT) {
		o->cut_records++;
		log_warnx("output %s: record %" PRIu64 " from input %s is "
		    "longer than the destination takes: its longest fields "
		    "were cut and it is tagged sysmonfwd_truncated",
		    o->cfg->name, r->seq, r->source);
	}
	if (rc == RENDER_GAP) {
		o->gap_records += r->gap_count;
		if (r->gap_count == 0)
			log_warnx("output %s: records lost at input %s, how many "
			    "is not known (%.*s); a gap document says so",
			    o->cfg->name, r->source, (int)r->len, r->data);
		else
			log_warnx("output %s: %" PRIu64 " records lost before it "
			    "could read them (%.*s); a gap document says so",
			    o->cfg->name, r->gap_count, (int)r->len, r->data);
	}
	if (!o->is_hec && !o->is_es && !o->is_wazuh &&
	    strbuf_addc(&o->one, '\n') != 0)
		return -ENOBUFS;
	return 0;
}

/* Acknowledge in the ring what o's destination confirmed since last time. */
static bool
ack_confirmed(struct output *o)
{
	uint64_t conf = transport_confirmed(o->t);

	if (conf <= o->acked)
		return false;
	if (buffer_ack(o->cur, conf) != 0)
		log_warnx("output %s: cannot acknowledge record %" PRIu64,
		    o->cfg->name, conf);
	o->acked = conf;
	return true;
}

/*
 * r and the records read after it did not make it into a batch: read them
 * again next time (a gap record from its first lost record on).
 */
static void
unread_from(struct output *o, const struct buffer_rec *r)
{
	buffer_unread(o->cur, (r->flags & BUFFER_REC_GAP) ? r->gap_first :
	    r->seq);
}

/*
 * An allocation failed while o was building or handing over a batch.
 * Nothing is lost (the records stay in the ring, unread or in the batch);
 * say so once and come back in a moment.  Returns false.
 */
static bool
out_of_memory(struct output *o, int64_t now, int64_t *wake)
{
	if (o->oom_since == 0) {
		o->oom_since = now;
		log_warnx("output %s: out of memory building a batch; the "
		    "records stay in the buffer and are tried again",
		    o->cfg->name);
	}
	if (now + OOM_RETRY_MS < *wake)
		*wake = now + OOM_RETRY_MS;
	return false;
}

/*
 * Move output o forward: acknowledge in the ring what its destination
 * confirmed, fill batches from the cursor and hand them over.  Return
 * true when anything moved; *wake gets the next time it needs a turn.
 */
static bool
output_pump(struct agent *a, struct output *o, int64_t now, int64_t *wake)
{
	const struct config_output *oc = o->cfg;
	struct transport_batch *nb;
	bool progress;
	int64_t t;
	int rc;

	progress = ack_confirmed(o);
	if (transport_take_rewind(o->t)) {
		buffer_rewind(o->cur);
		transport_batch_reset(o->building);
	}
	while (transport_ready(o->t, now)) {
		struct transport_batch *b = o->building;
		bool drained = false;

		while (b->n < oc->batch_max_events &&
		    b->len < oc->batch_max_bytes) {
			size_t want = oc->batch_max_events - b->n, n;

			if (want > READ_CHUNK)
				want = READ_CHUNK;
			n = buffer_read(o->cur, a->recs, want,
			    (size_t)(oc->batch_max_bytes - b->len));
			if (n == 0) {
				drained = true;
				break;
			}
			for (size_t i = 0; i < n; i++) {
				if (render_one(a, o, &a->recs[i]) != 0 ||
				    transport_batch_add(b, o->one.s, o->one.len,
				    a->recs[i].seq) != 0) {
					/* Out of memory: the batch keeps what
					 * it has, the rest is read again. */
					unread_from(o, &a->recs[i]);
					return out_of_memory(o, now, wake) ||
					    progress;
				}
				if (b->n == 1)
					o->started = now;
			}
			progress = true;
		}
		if (b->n == 0)
			break;
		/* A batch leaves at the first limit reached; a local output
		 * does not wait for more. */
		if (drained && !o->local && !a->flush_now &&
		    b->n < oc->batch_max_events &&
		    b->len < oc->batch_max_bytes &&
		    now - o->started < (int64_t)oc->flush_interval_ms) {
			t = o->started + (int64_t)oc->flush_interval_ms;
			if (t < *wake)
				*wake = t;
			break;
		}
		if ((nb = transport_batch_new(o->t)) == NULL) {
			(void)out_of_memory(o, now, wake);
			break;
		}
		if ((rc = transport_submit(o->t, b, now)) != 0) {
			/* Not taken: b stays ours, to be submitted again. */
			transport_batch_free(nb);
			if (rc == -ENOMEM)
				(void)out_of_memory(o, now, wake);
			else if (now + 100 < *wake)
				*wake = now + 100;
			break;
		}
		o->building = nb;
		o->oom_since = 0;
		progress = true;
	}
	t = transport_tick(o->t, now);
	if (t < *wake)
		*wake = t;
	return ack_confirmed(o) || progress;
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
		transport_batch_free(o->building);
		strbuf_free(&o->one);
		strbuf_free(&o->scratch);
	}
	transport_loop_free(a->loop);
	watchdog_close(a->wd);
	monitor_close(a->mon);
	free(a->src_last);
	free(a->st_src);
	free(a->st_out);
	strbuf_free(&a->sdoc);
	strbuf_free(&a->swrap);
	free(a->sources);
	free(a->outputs);
	free(a->recs);
	event_parser_free(a->parser);
	buffer_close(a->buf);
}

/* The TLS options every HTTPS output takes from its section. */
static struct transport_tls
output_tls(const struct config_output *oc)
{
	struct transport_tls t = {
		.ca_file = oc->tls_ca_file,
		.ca_path = oc->tls_ca_path,
		.client_cert = oc->tls_client_cert,
		.client_key = oc->tls_client_key,
		.pinned_pubkey = oc->tls_pinned_pubkey,
		.proxy = oc->proxy,
		.min_version = oc->tls_min_version,
		.verify = oc->tls_verify,
	};

	return t;
}

static int
agent_setup(struct agent *a, const struct config *cfg)
{
	const struct config_buffer *cb = &cfg->buffer;
	struct buffer_opts bo;
	char bdir[4096], dlq[4096];
	size_t maxbatch = 1;
	int rc;

	memset(a, 0, sizeof(*a));
	a->cfg = cfg;
	if (gethostname(a->host, sizeof(a->host)) != 0 || a->host[0] == '\0')
		snprintf(a->host, sizeof(a->host), "localhost");
	a->host[sizeof(a->host) - 1] = '\0';
	if ((rc = file_mkdirs(cfg->agent.state_dir, 0750)) != 0) {
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
	if ((rc = transport_loop_new(&a->loop)) != 0)
		return rc;
	if (snprintf(dlq, sizeof(dlq), "%s/deadletter", cfg->agent.state_dir) >=
	    (int)sizeof(dlq))
		return -ENAMETOOLONG;
	for (size_t i = 0; i < cfg->noutputs; i++) {
		const struct config_output *oc = &cfg->outputs[i];
		struct output *o = &a->outputs[a->noutputs];
		struct transport_retry retry = {
			.initial_ms = (int64_t)oc->retry_initial_ms,
			.max_ms = (int64_t)oc->retry_max_ms,
			.after_max_ms = (int64_t)oc->retry_after_max_ms,
		};

		o->cfg = oc;
		o->rctx.agent_name = cfg->agent.name;
		o->rctx.host_name = a->host;
		o->rctx.keep_original = oc->keep_original;
		o->one.max = RENDER_MAX;
		o->scratch.max = RENDER_MAX;
		if ((o->building = transport_batch_new(NULL)) == NULL)
			return -ENOMEM;
		if (oc->type == CONFIG_OUTPUT_SPLUNK_HEC) {
			struct transport_hec_opts ho = {
				.url = oc->url,
				.token = oc->token,
				.ack = oc->ack,
				.ack_timeout_ms = (int64_t)oc->ack_timeout_ms,
				.ack_poll_ms = (int64_t)oc->ack_poll_interval_ms,
				.timeout_ms = (int64_t)oc->timeout_ms,
				.gzip = oc->compression == CONFIG_COMPRESS_GZIP,
				.tls = output_tls(oc),
				.retry = retry,
			};
			o->is_hec = true;
			o->hec.json = oc->format == CONFIG_FORMAT_JSON;
			o->hec.index = oc->index;
			o->hec.source = oc->source;
			o->hec.sourcetype = oc->sourcetype;
			o->hec.host = oc->host;
			rc = transport_hec_open(a->loop, oc->name, &ho, dlq,
			    &o->t);
		} else if (oc->type == CONFIG_OUTPUT_ELASTICSEARCH) {
			struct transport_es_opts eo = {
				.urls = oc->url,
				.api_key = oc->api_key,
				.user = oc->user,
				.password = oc->password,
				.pipeline = oc->pipeline,
				.timeout_ms = (int64_t)oc->timeout_ms,
				.gzip = oc->compression == CONFIG_COMPRESS_GZIP,
				.tls = output_tls(oc),
				.retry = retry,
			};
			o->is_es = true;
			o->es.index = oc->index;
			o->es.ns = oc->namespace;
			rc = transport_es_open(a->loop, oc->name, &eo, dlq,
			    &o->t);
		} else if (oc->type == CONFIG_OUTPUT_WAZUH) {
			struct transport_wazuh_opts wo = {
				.url = oc->url,
				.user = oc->user,
				.password = oc->password,
				.requests_per_minute =
				    (int)oc->max_requests_per_minute,
				.timeout_ms = (int64_t)oc->timeout_ms,
				.tls = output_tls(oc),
				.retry = retry,
			};
			o->is_wazuh = true;
			/* The manager's queue takes 65,535 bytes with the
			 * 14-byte "1:API-Webhook:" header. */
			o->wz.max_event = 65535 - 14;
			rc = transport_wazuh_open(a->loop, oc->name, &wo, dlq,
			    &o->t);
		} else {
			o->local = true;
			rc = transport_file_open(oc->name,
			    oc->type == CONFIG_OUTPUT_FILE ? oc->path : NULL,
			    &retry, &o->t);
		}
		if (rc != 0) {
			transport_batch_free(o->building);
			return rc;
		}
		a->noutputs++;
		if ((rc = buffer_cursor_open(a->buf, oc->name, &o->cur)) != 0)
			return rc;
		{
			struct buffer_cursor_stats cs;
			buffer_cursor_get_stats(o->cur, &cs);
			o->acked = cs.acked;
		}
	}
	maxbatch = READ_CHUNK;
	if ((a->recs = calloc(maxbatch, sizeof(*a->recs))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->ninputs; i++) {
		if ((rc = source_open(&cfg->inputs[i],
		    cfg->agent.state_dir, a->buf, &a->sources[a->nsources])) !=
		    0)
			return rc;
		a->nsources++;
	}
	a->started_wall = time_now_ms();
	a->src_last = calloc(cfg->ninputs + 1, sizeof(*a->src_last));
	a->st_src = calloc(cfg->ninputs + 1, sizeof(*a->st_src));
	a->st_out = calloc(cfg->noutputs + 1, sizeof(*a->st_out));
	if (a->src_last == NULL || a->st_src == NULL || a->st_out == NULL)
		return -ENOMEM;
	if (cfg->watchdog.enabled && (rc = watchdog_open(&cfg->watchdog,
	    cfg->agent.state_dir, &a->wd)) != 0)
		return rc;
	if (cfg->monitor.listen != NULL && (rc = monitor_open(
	    cfg->monitor.listen, &a->mon)) != 0) {
		a->failed = true;
		return rc;
	}
	/* The first heartbeat goes out once everything had a first look. */
	a->next_heartbeat = mono_now_ms() + 1000;
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
		struct transport_stats ts;
		transport_get_stats(o->t, &ts);
		if (ts.delivered < sum->delivered)
			sum->delivered = ts.delivered;
		if (o->gap_records > sum->lost)
			sum->lost = o->gap_records;
	}
	if (a->noutputs == 0)
		sum->delivered = 0;
}


/* ---- status: heartbeats, alerts, the monitor -------------------------------- */

static const char *
output_type_name(const struct output *o)
{
	return config_output_type_name(o->cfg->type);
}

/* Fill a->st with how things are now. */
static const struct agent_status *
status_fill(struct agent *a)
{
	struct agent_status *st = &a->st;
	struct buffer_stats bs;
	int64_t now_wall = time_now_ms(), now_mono = mono_now_ms();

	memset(st, 0, sizeof(*st));
	st->host = a->host;
	st->agent_name = a->cfg->agent.name;
	st->now_ms = now_wall;
	st->started_ms = a->started_wall;
	st->heartbeat_interval_ms = (int64_t)a->cfg->agent.heartbeat_interval_ms;
	st->heartbeat_seq = a->hb_seq;
	st->watchdog = a->wd != NULL;
	if (a->wd != NULL) {
		st->sysmon = watchdog_state(a->wd);
		st->sysmon_service = watchdog_service(a->wd);
		st->sysmon_since_ms = watchdog_since_ms(a->wd);
	}
	st->sysmon_last_record_ms = a->last_record_wall;
	for (size_t i = 0; i < a->nsources; i++) {
		struct source_stats ss;
		source_get_stats(a->sources[i], &ss);
		st->records_read += ss.records;
		st->truncated += ss.truncated;
		st->ignored += ss.ignored;
		a->st_src[i].name = source_name(a->sources[i]);
		a->st_src[i].records = ss.records;
		a->st_src[i].last_record_ms = a->src_last[i];
	}
	st->sources = a->st_src;
	st->nsources = a->nsources;
	buffer_get_stats(a->buf, &bs);
	st->dropped = bs.evicted + bs.dropped_io;
	st->rejected = bs.rejected_full;
	for (size_t i = 0; i < a->noutputs; i++) {
		const struct output *o = &a->outputs[i];
		struct status_output *so = &a->st_out[i];
		struct transport_stats ts;
		struct buffer_cursor_stats cs;

		transport_get_stats(o->t, &ts);
		buffer_cursor_get_stats(o->cur, &cs);
		memset(so, 0, sizeof(*so));
		so->name = o->cfg->name;
		so->type = output_type_name(o);
		so->ok = ts.failing_since_ms == 0;
		if (!so->ok)
			so->failing_since_ms = now_wall - (now_mono -
			    ts.failing_since_ms);
		snprintf(so->last_error, sizeof(so->last_error), "%s",
		    ts.last_error);
		/* Only what the ring still holds is waiting; records evicted
		 * before this output read them are lost (and announced in
		 * gap documents): the same figures as --buffer-stat. */
		so->backlog_records = cs.unacked;
		so->backlog_bytes = cs.unacked_bytes;
		so->oldest_ms = cs.oldest_ms;
		so->delivered = ts.delivered;
		so->dead_lettered = ts.dead_lettered;
		so->duplicates = ts.duplicates;
		so->retries = ts.retries;
		so->lost = o->gap_records;
		so->heartbeats_sent = ts.heartbeats_sent;
		so->heartbeats_failed = ts.heartbeats_failed;
		so->alerts_sent = ts.alerts_sent;
		st->dead_lettered += ts.dead_lettered;
		if (o->parse_errors > st->parse_errors)
			st->parse_errors = o->parse_errors;
	}
	st->outputs = a->st_out;
	st->noutputs = a->noutputs;
	return st;
}

/* A heartbeat or alert for output o, in o's wire form, into a->swrap. */
static int
status_wrap(struct agent *a, struct output *o, const struct agent_status *st,
    const struct status_event *ev)
{
	bool alert = ev->kind != STATUS_HEARTBEAT;
	const char *what = alert ? "alert" : "heartbeat";
	struct strbuf *d = &a->sdoc, *w = &a->swrap;
	char id[RENDER_ES_ID_LEN + 1];
	int rc;

	strbuf_reset(d);
	strbuf_reset(w);
	if (o->is_wazuh) {
		if ((rc = status_render_doc(st, ev, NULL, true, d)) != 0)
			return rc;
		return json_add_str(w, d->s, d->len);
	}
	if ((rc = status_render_doc(st, ev, o->is_es && o->es.index == NULL ?
	    (o->es.ns != NULL ? o->es.ns : "default") : NULL, false, d)) != 0)
		return rc;
	if (o->is_hec) {
		rc = strbuf_addf(w, "{\"time\":%lld.%03d,\"host\":",
		    (long long)(st->now_ms / 1000), (int)(st->now_ms % 1000));
		if (rc == 0)
			rc = json_add_str(w, o->hec.host != NULL ? o->hec.host :
			    st->host, strlen(o->hec.host != NULL ? o->hec.host :
			    st->host));
		if (rc == 0)
			rc = strbuf_addf(w, ",\"source\":\"sysmonfwd\","
			    "\"sourcetype\":\"sysmonfwd:%s\"", what);
		if (rc == 0 && o->hec.index != NULL) {
			rc = strbuf_adds(w, ",\"index\":");
			if (rc == 0)
				rc = json_add_str(w, o->hec.index,
				    strlen(o->hec.index));
		}
		if (rc == 0)
			rc = strbuf_adds(w, ",\"event\":");
		if (rc == 0)
			rc = strbuf_add(w, d->s, d->len);
		if (rc == 0)
			rc = strbuf_addc(w, '}');
		return rc;
	}
	if (o->is_es) {
		if ((rc = render_es_status_id(st->agent_name, what, st->now_ms,
		    alert ? (uint64_t)ev->changed_ms : st->heartbeat_seq,
		    id)) != 0)
			return rc;
		if (o->es.index != NULL)
			rc = strbuf_adds(w, "{\"create\":{\"_index\":");
		else
			rc = strbuf_addf(w, "{\"create\":{\"_index\":"
			    "\"logs-sysmonfwd.%s-%s\"", what, o->es.ns != NULL ?
			    o->es.ns : "default");
		if (rc == 0 && o->es.index != NULL)
			rc = json_add_str(w, o->es.index, strlen(o->es.index));
		if (rc == 0)
			rc = strbuf_addf(w, ",\"_id\":\"%s\"}}\n", id);
		if (rc == 0)
			rc = strbuf_add(w, d->s, d->len);
		if (rc == 0)
			rc = strbuf_addc(w, '\n');
		return rc;
	}
	if ((rc = strbuf_add(w, d->s, d->len)) == 0)
		rc = strbuf_addc(w, '\n');
	return rc;
}

/* Send a heartbeat or an alert to every output, on the priority lane. */
static void
status_send(struct agent *a, const struct status_event *ev, int64_t now)
{
	const struct agent_status *st = status_fill(a);

	for (size_t i = 0; i < a->noutputs; i++) {
		struct output *o = &a->outputs[i];

		if (status_wrap(a, o, st, ev) != 0 ||
		    transport_send_priority(o->t, ev->kind == STATUS_HEARTBEAT ?
		    TRANSPORT_HEARTBEAT : TRANSPORT_ALERT, a->swrap.s,
		    a->swrap.len, now) != 0)
			log_warnx("output %s: cannot queue a %s", o->cfg->name,
			    ev->kind == STATUS_HEARTBEAT ? "heartbeat" :
			    "alert");
	}
}

/* Heartbeats, the watchdog and silence; return when to come back. */
static int64_t
status_tick(struct agent *a, int64_t now)
{
	const struct config *cfg = a->cfg;
	int64_t wake = now + 1000, wall = time_now_ms();
	struct status_event ev;
	enum sysmon_state prev;

	if (a->wd != NULL) {
		if (watchdog_check(a->wd, now, wall, &prev)) {
			memset(&ev, 0, sizeof(ev));
			ev.kind = STATUS_STATE_CHANGED;
			ev.state = watchdog_state(a->wd);
			ev.previous = prev;
			ev.changed_ms = watchdog_since_ms(a->wd);
			status_send(a, &ev, now);
			a->silent_alerted = false;
		}
		if (watchdog_next(a->wd) < wake)
			wake = watchdog_next(a->wd);
		if (cfg->watchdog.silence_alert_ms > 0 &&
		    watchdog_state(a->wd) == SYSMON_RUNNING) {
			/* Quiet since the last record, or since Sysmon (or the
			 * agent) started, whichever is later. */
			int64_t since = a->last_record_wall > a->started_wall ?
			    a->last_record_wall : a->started_wall;
			if (watchdog_since_ms(a->wd) > since)
				since = watchdog_since_ms(a->wd);
			int64_t quiet = wall - since;
			if (quiet >= (int64_t)cfg->watchdog.silence_alert_ms &&
			    !a->silent_alerted) {
				memset(&ev, 0, sizeof(ev));
				ev.kind = STATUS_SILENT;
				ev.state = SYSMON_RUNNING;
				ev.changed_ms = since;
				ev.silent_ms = quiet;
				log_warnx("watchdog: Sysmon is running but sent no "
				    "record for %.0f s", (double)quiet / 1000.0);
				status_send(a, &ev, now);
				a->silent_alerted = true;
			}
		}
	}
	if (cfg->agent.heartbeat_interval_ms > 0) {
		if (now >= a->next_heartbeat) {
			memset(&ev, 0, sizeof(ev));
			ev.kind = STATUS_HEARTBEAT;
			a->hb_seq++;
			status_send(a, &ev, now);
			a->next_heartbeat = now +
			    (int64_t)cfg->agent.heartbeat_interval_ms;
		}
		if (a->next_heartbeat < wake)
			wake = a->next_heartbeat;
	}
	return wake;
}

/* An alert still waiting for some output (heartbeats do not count). */
static bool
alerts_pending(const struct agent *a)
{
	for (size_t i = 0; i < a->noutputs; i++) {
		struct transport_stats ts;
		transport_get_stats(a->outputs[i].t, &ts);
		if (ts.alerts_pending > 0)
			return true;
	}
	return false;
}

/* Give outputs a last chance to take what is buffered (stop or end). */
static void
drain(struct agent *a, int64_t deadline)
{
	struct pollfd pfd = { .fd = sig_pipe[0], .events = POLLIN };

	a->flush_now = true;
	while ((!outputs_idle(a) || alerts_pending(a)) &&
	    mono_now_ms() < deadline) {
		int64_t now = mono_now_ms(), wake = now + 100;
		bool progress = false;

		for (size_t i = 0; i < a->noutputs; i++)
			progress |= output_pump(a, &a->outputs[i], now, &wake);
		if (!progress) {
			if (wake > deadline)
				wake = deadline;
			if (wake < now)
				wake = now;
			(void)transport_loop_wait(a->loop, &pfd, 1,
			    (int)(wake - now));
		} else {
			transport_loop_run(a->loop);
		}
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
	if ((pfds = calloc(a.nsources + 2, sizeof(*pfds))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	log_info("started: %zu input(s), %zu output(s), state in %s",
	    a.nsources, a.noutputs, cfg->agent.state_dir);

	while (!sig_stop) {
		int64_t now = mono_now_ms(), wake = now + 1000;
		bool progress = false, all_finished = true, all_at_end = true;
		size_t nfds = 0;
		int n;

		if (sig_hup) {
			sig_hup = 0;
			for (size_t i = 0; i < a.noutputs; i++)
				transport_reopen(a.outputs[i].t);
			log_info("SIGHUP: output files reopened");
		}
		for (size_t i = 0; i < a.nsources; i++) {
			struct source *s = a.sources[i];
			ssize_t got;

			if (source_finished(s))
				continue;
			if (source_wait_fd(s) >= 0 ||
			    source_next_poll(s, now) <= now) {
				uint64_t before = a.st_src[i].records;
				struct source_stats ss;

				got = source_poll(s, a.buf, READ_BUDGET);
				source_get_stats(s, &ss);
				if (ss.records != before) {
					a.st_src[i].records = ss.records;
					a.src_last[i] = a.last_record_wall =
					    time_now_ms();
					a.silent_alerted = false;
				}
				if (got < 0) {
					log_errorx("input %s stopped after an "
					    "error", source_name(s));
					a.failed = true;
					rc = (int)got;
					goto stop;
				}
				progress |= got > 0;
			}
		}
		{
			int64_t t = status_tick(&a, now);
			if (t < wake)
				wake = t;
		}
		for (size_t i = 0; i < a.noutputs; i++)
			progress |= output_pump(&a, &a.outputs[i], now, &wake);
		{
			int64_t t = buffer_tick(a.buf, mono_now_ms());
			uint64_t durable = buffer_durable_seq(a.buf);

			if (t < wake)
				wake = t;
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
		if (!a.flush_now && (all_finished || (opts->once &&
		    all_at_end))) {
			a.flush_now = true;
			continue;
		}
		if (progress) {
			transport_loop_run(a.loop);
			/* Busy: still answer the monitor now and then. */
			if (a.mon != NULL && now >= a.mon_next) {
				monitor_run(a.mon, status_fill(&a));
				a.mon_next = now + 100;
			}
			continue;
		}

		/* Nothing moved: sleep until something can. */
		pfds[nfds].fd = sig_pipe[0];
		pfds[nfds++].events = POLLIN;
		if (a.mon != NULL) {
			int64_t mt = monitor_timeout(a.mon);
			pfds[nfds].fd = monitor_fd(a.mon);
			pfds[nfds++].events = POLLIN;
			if (mt >= 0 && now + mt < wake)
				wake = now + mt;
		}
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
		if (wake < now)
			wake = now;
		if (wake - now > 1000)
			wake = now + 1000;
		n = transport_loop_wait(a.loop, pfds, nfds, (int)(wake - now));
		if (n > 0 && (pfds[0].revents & POLLIN))
			signals_drain();
		if (a.mon != NULL && ((n > 0 && (pfds[1].revents & POLLIN)) ||
		    mono_now_ms() >= a.mon_next)) {
			monitor_run(a.mon, status_fill(&a));
			a.mon_next = mono_now_ms() + 100;
		}
	}
stop:
	if (sig_stop)
		log_info("stopping on signal: flushing and saving positions");
	/* Local outputs finish at once; bounded for those that do not. */
	drain(&a, mono_now_ms() + 5000);
	if (!outputs_idle(&a))
		log_warnx("stopping with records not delivered; they stay in "
		    "the buffer and go out at the next start");
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
