/*
 * loop.c - the agent's single-threaded event loop, and its wiring.
 *
 * Each turn: sources read what is available and append records to the
 * ring (the read phase); every output reads records through its own
 * cursor, renders them into its wire form (render_record()) and hands
 * batches to its transport, which sends them (asynchronously for HTTP)
 * and reports how far the destination confirmed; the ring is acknowledged
 * up to there; sources then checkpoint up to buffer_durable_seq() (the
 * write phase).  When nothing moved, the loop sleeps in evloop_wait() on
 * the inputs, the monitor, curl's sockets and stop requests, or until the
 * next timer (a followed file's next look, a retry, an acknowledgement
 * poll, a batch's flush_interval).
 */
#include "agent.h"
#include "evloop.h"
#include "health.h"
#include "policy.h"
#include "render.h"
#include "source.h"
#include "transport.h"
#include "base.h"

#include <errno.h>
#include <inttypes.h>
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
	struct render_target		 rt;	/* its wire form */
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
	struct policy		*policy;	/* before the ring (policy.h) */
	struct status_count	 filt[POLICY_COUNTED_RULES + 1];
	size_t			 nfilt;
	struct status_count	 red[CONFIG_MAX_REDACTS];	/* [redact:] */
	size_t			 nred;
	struct source		**sources;
	size_t			 nsources;
	struct output		*outputs;
	size_t			 noutputs;
	struct buffer_rec	*recs;
	struct evloop		*ev;
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
	rc = render_record(a->parser, &o->rt, r, &o->one, &o->scratch);
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
		rc = render_record(a->parser, &o->rt, &cut, &o->one,
		    &o->scratch);
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
	return render_record_end(&o->rt, &o->one);
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

/* Open the ring in state_dir/buffer, as the [buffer] section says. */
static int
ring_open(struct agent *a)
{
	const struct config_buffer *cb = &a->cfg->buffer;
	struct buffer_opts bo;
	char bdir[4096];
	int rc;

	if (snprintf(bdir, sizeof(bdir), "%s/buffer",
	    a->cfg->agent.state_dir) >= (int)sizeof(bdir))
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
	return 0;
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

/* o's wire form: which renderer, with what its section says. */
static void
output_target(struct output *o)
{
	const struct config_output *oc = o->cfg;

	switch (oc->type) {
	case CONFIG_OUTPUT_SPLUNK_HEC:
		o->rt.dest = RENDER_DEST_HEC;
		o->rt.hec.json = oc->format == CONFIG_FORMAT_JSON;
		o->rt.hec.index = oc->index;
		o->rt.hec.source = oc->source;
		o->rt.hec.sourcetype = oc->sourcetype;
		o->rt.hec.host = oc->host;
		break;
	case CONFIG_OUTPUT_ELASTICSEARCH:
		o->rt.dest = RENDER_DEST_ES;
		o->rt.es.index = oc->index;
		o->rt.es.ns = oc->namespace;
		break;
	case CONFIG_OUTPUT_WAZUH:
		o->rt.dest = RENDER_DEST_WAZUH;
		o->rt.wz.max_event = RENDER_WAZUH_MAX_EVENT;
		break;
	case CONFIG_OUTPUT_WAZUH_AGENT:
		o->rt.dest = RENDER_DEST_WAZUH_AGENT;
		o->rt.wz.max_event = RENDER_WAZUH_AGENT_MAX;
		break;
	default:
		o->rt.dest = RENDER_DEST_FILE;
		break;
	}
}

/*
 * o's transport, opened on tl with the dead-letter directory dlq, as its
 * section says.
 */
static int
output_transport(struct output *o, struct transport_loop *tl,
    const struct transport_retry *retry, const char *dlq,
    const char *state_dir)
{
	const struct config_output *oc = o->cfg;
	struct transport_http http = {
		.timeout_ms = (int64_t)oc->timeout_ms,
		.gzip = oc->compression == CONFIG_COMPRESS_GZIP,
		.tls = output_tls(oc),
		.retry = *retry,
	};

	if (oc->type == CONFIG_OUTPUT_SPLUNK_HEC) {
		struct transport_hec_opts ho = {
			.url = oc->url,
			.token = oc->token,
			.ack = oc->ack,
			.ack_timeout_ms = (int64_t)oc->ack_timeout_ms,
			.ack_poll_ms = (int64_t)oc->ack_poll_interval_ms,
			.http = http,
		};
		return transport_hec_open(tl, oc->name, &ho, dlq, &o->t);
	}
	if (oc->type == CONFIG_OUTPUT_ELASTICSEARCH) {
		struct transport_es_opts eo = {
			.urls = oc->url,
			.api_key = oc->api_key,
			.user = oc->user,
			.password = oc->password,
			.pipeline = oc->pipeline,
			.http = http,
		};
		return transport_es_open(tl, oc->name, &eo, dlq, &o->t);
	}
	if (oc->type == CONFIG_OUTPUT_WAZUH) {
		struct transport_wazuh_opts wo = {
			.url = oc->url,
			.user = oc->user,
			.password = oc->password,
			.requests_per_minute =
			    (int)oc->max_requests_per_minute,
			.http = http,
		};
		return transport_wazuh_open(tl, oc->name, &wo, dlq, &o->t);
	}
	if (oc->type == CONFIG_OUTPUT_WAZUH_AGENT) {
		struct transport_wazuh_agent_opts ao = {
			.managers = oc->manager,
			.port = (int)oc->port,
			.enrollment_port = (int)oc->enrollment_port,
			.password = oc->enrollment_password,
			.ca_file = oc->enrollment_ca_file,
			.agent_name = oc->agent_name != NULL ? oc->agent_name :
			    o->rt.ctx.agent_name,
			.agent_groups = oc->agent_groups,
			.agent_version = oc->agent_version,
			.state_dir = state_dir,
			.keepalive_ms = (int64_t)oc->keepalive_interval_ms,
			.timeout_ms = (int64_t)oc->timeout_ms,
			.max_eps = (uint32_t)oc->max_events_per_second,
			.retry = *retry,
		};
		return transport_wazuh_agent_open(tl, oc->name, &ao, dlq,
		    &o->t);
	}
	/* A file, or standard output (no path): nothing to wait for. */
	o->local = true;
	return transport_file_open(oc->name,
	    oc->type == CONFIG_OUTPUT_FILE ? oc->path : NULL, retry, &o->t);
}

/*
 * Open output oc as a->outputs[a->noutputs]: its transport and wire form,
 * then its cursor.  It counts in a->noutputs (and teardown closes it) from
 * the moment its transport is open.
 */
static int
output_open(struct agent *a, const struct config_output *oc, const char *dlq)
{
	struct output *o = &a->outputs[a->noutputs];
	struct transport_loop *tl = evloop_transport(a->ev);
	struct transport_retry retry = {
		.initial_ms = (int64_t)oc->retry_initial_ms,
		.max_ms = (int64_t)oc->retry_max_ms,
		.after_max_ms = (int64_t)oc->retry_after_max_ms,
	};
	struct buffer_cursor_stats cs;
	int rc;

	o->cfg = oc;
	o->rt.ctx.agent_name = a->cfg->agent.name;
	o->rt.ctx.host_name = a->host;
	o->rt.ctx.keep_original = oc->keep_original;
	o->one.max = RENDER_MAX;
	o->scratch.max = RENDER_MAX;
	if ((o->building = transport_batch_new(NULL)) == NULL)
		return -ENOMEM;
	output_target(o);
	if ((rc = output_transport(o, tl, &retry, dlq,
	    a->cfg->agent.state_dir)) != 0) {
		transport_batch_free(o->building);
		o->building = NULL;
		return rc;
	}
	a->noutputs++;
	if ((rc = buffer_cursor_open(a->buf, oc->name, &o->cur)) != 0)
		return rc;
	buffer_cursor_get_stats(o->cur, &cs);
	o->acked = cs.acked;
	return 0;
}

/* Write out what o holds and release it (a file's data is fsynced). */
static void
output_close(struct output *o)
{
	if (o->t != NULL && transport_flush(o->t) != 0)
		log_warn("output %s: fsync", o->cfg->name);
	transport_close(o->t);
	transport_batch_free(o->building);
	strbuf_free(&o->one);
	strbuf_free(&o->scratch);
}

/* What heartbeats, alerts and the monitor need: figures, watchdog, monitor. */
static int
status_setup(struct agent *a)
{
	const struct config *cfg = a->cfg;
	int rc;

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

/* What heartbeats, alerts and the monitor hold (status_setup()). */
static void
status_close(struct agent *a)
{
	watchdog_close(a->wd);
	monitor_close(a->mon);
	free(a->src_last);
	free(a->st_src);
	free(a->st_out);
	strbuf_free(&a->sdoc);
	strbuf_free(&a->swrap);
}

/*
 * Everything cfg describes, waiting through ev: the ring, the outputs,
 * the inputs, the status side.  On failure a is left for agent_teardown().
 */
/* A problem in a [filter] or [tag] rules file: "file:line: problem". */
static void
policy_log(void *arg, const char *msg)
{
	(void)arg;
	log_errorx("%s", msg);
}

static int
agent_setup(struct agent *a, const struct config *cfg, struct evloop *ev)
{
	char dlq[4096];
	int rc;

	memset(a, 0, sizeof(*a));
	a->cfg = cfg;
	a->ev = ev;
	if (host_name(a->host, sizeof(a->host)) != 0 || a->host[0] == '\0')
		snprintf(a->host, sizeof(a->host), "localhost");
	a->host[sizeof(a->host) - 1] = '\0';
	if ((rc = file_mkdirs(cfg->agent.state_dir, 0750)) != 0) {
		log_errorx("cannot create state_dir %s: %s",
		    cfg->agent.state_dir, strerror(-rc));
		return rc;
	}
	if ((rc = ring_open(a)) != 0)
		return rc;
	if ((rc = event_parser_new(&a->parser)) != 0)
		return rc;
	if ((rc = policy_new(cfg, &a->policy, policy_log, NULL)) != 0)
		return rc;
	a->sources = calloc(cfg->ninputs, sizeof(*a->sources));
	a->outputs = calloc(cfg->noutputs, sizeof(*a->outputs));
	if (a->sources == NULL || a->outputs == NULL)
		return -ENOMEM;
	if (snprintf(dlq, sizeof(dlq), "%s/deadletter", cfg->agent.state_dir) >=
	    (int)sizeof(dlq))
		return -ENAMETOOLONG;
	for (size_t i = 0; i < cfg->noutputs; i++)
		if ((rc = output_open(a, &cfg->outputs[i], dlq)) != 0)
			return rc;
	if ((a->recs = calloc(READ_CHUNK, sizeof(*a->recs))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->ninputs; i++) {
		if ((rc = source_open(&cfg->inputs[i],
		    cfg->agent.state_dir, a->buf, &a->sources[a->nsources])) !=
		    0)
			return rc;
		source_set_policy(a->sources[a->nsources], a->policy,
		    cfg->buffer.max_record_size);
		a->nsources++;
	}
	return status_setup(a);
}

/* Release all agent_setup() opened, as far as it went. */
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
	for (size_t i = 0; i < a->noutputs; i++)
		output_close(&a->outputs[i]);
	/* After the outputs: their transfers are on its transport loop. */
	evloop_close(a->ev);
	status_close(a);
	free(a->sources);
	free(a->outputs);
	free(a->recs);
	event_parser_free(a->parser);
	policy_free(a->policy);
	buffer_close(a->buf);
}

/* The run's figures (agent.h), but for elapsed_ms. */
static void
summarize(const struct agent *a, struct agent_summary *sum)
{
	struct buffer_stats bs;

	memset(sum, 0, sizeof(*sum));
	for (size_t i = 0; i < a->nsources; i++) {
		struct source_stats st;
		source_get_stats(a->sources[i], &st);
		sum->records_read += st.records;
		sum->lines_ignored += st.ignored;
		sum->truncated += st.truncated;
		sum->filtered += st.filtered;
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
	buffer_get_stats(a->buf, &bs);
	sum->evicted = bs.evicted;
	sum->dropped_io = bs.dropped_io;
	sum->corrupt_blocks = bs.corrupt_blocks;
}


/* ---- status: heartbeats, alerts, the monitor -------------------------------- */

static const char *
output_type_name(const struct output *o)
{
	return config_output_type_name(o->cfg->type);
}

static void
filtered_one(void *arg, const char *rule, uint64_t n)
{
	struct agent *a = arg;

	if (a->nfilt < sizeof(a->filt) / sizeof(a->filt[0])) {
		a->filt[a->nfilt].name = rule;
		a->filt[a->nfilt].n = n;
		a->nfilt++;
	}
}

static void
redacted_one(void *arg, const char *rule, uint64_t records, uint64_t values)
{
	struct agent *a = arg;

	(void)values;
	if (a->nred < sizeof(a->red) / sizeof(a->red[0])) {
		a->red[a->nred].name = rule;
		a->red[a->nred].n = records;
		a->nred++;
	}
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
	{
		struct policy_stats ps;

		policy_get_stats(a->policy, &ps);
		st->filtered = ps.filtered;
		st->tagged = ps.tagged;
		a->nfilt = 0;
		policy_filtered_each(a->policy, filtered_one, a);
		st->filtered_rules = a->filt;
		st->nfiltered_rules = a->nfilt;
	}
	{
		const struct redactor *r = policy_redactor(a->policy);
		struct redact_stats rs;

		redact_get_stats(r, &rs);
		st->redacted = rs.records;
		st->redacted_values = rs.values;
		a->nred = 0;
		redact_each(r, redacted_one, a);
		st->redacted_rules = a->red;
		st->nredacted_rules = a->nred;
	}
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

/* Send a heartbeat or an alert to every output, on the priority lane. */
static void
status_send(struct agent *a, const struct status_event *ev, int64_t now)
{
	const struct agent_status *st = status_fill(a);
	bool hb = ev->kind == STATUS_HEARTBEAT;

	for (size_t i = 0; i < a->noutputs; i++) {
		struct output *o = &a->outputs[i];

		if (render_status_for(&o->rt, st, ev, &a->swrap,
		    &a->sdoc) != 0 ||
		    transport_send_priority(o->t, hb ? TRANSPORT_HEARTBEAT :
		    TRANSPORT_ALERT, a->swrap.s, a->swrap.len, now) != 0)
			log_warnx("output %s: cannot queue a %s", o->cfg->name,
			    hb ? "heartbeat" : "alert");
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
			/* Transfers and a further signal only. */
			evloop_clear(a->ev);
			(void)evloop_wait(a->ev, now, wake);
		} else {
			evloop_run(a->ev);
		}
	}
}

/* ---- the loop ------------------------------------------------------------ */

/*
 * The read phase: every input that may have something (it has a wait
 * handle, or its next look is due) appends up to READ_BUDGET to the ring.
 * *progress is set when one read anything.  0, or -errno when an input
 * failed for good (said in the log).
 */
static int
read_phase(struct agent *a, int64_t now, bool *progress)
{
	for (size_t i = 0; i < a->nsources; i++) {
		struct source *s = a->sources[i];
		uint64_t before = a->st_src[i].records;
		struct source_stats ss;
		ssize_t got;

		if (source_finished(s))
			continue;
		if (source_wait_fd(s) == WAIT_HANDLE_NONE &&
		    source_next_poll(s, now) > now)
			continue;
		got = source_poll(s, a->buf, READ_BUDGET);
		source_get_stats(s, &ss);
		if (ss.records != before) {
			a->st_src[i].records = ss.records;
			a->src_last[i] = a->last_record_wall = time_now_ms();
			a->silent_alerted = false;
		}
		if (got < 0) {
			log_errorx("input %s stopped after an error",
			    source_name(s));
			a->failed = true;
			return (int)got;
		}
		*progress |= got > 0;
	}
	return 0;
}

/*
 * The write phase: heartbeats and alerts, every output moved forward,
 * then the ring's timers, and the inputs checkpoint what the ring holds
 * durably.  True when anything moved; *wake gets the next timer.
 */
static bool
write_phase(struct agent *a, int64_t now, int64_t *wake)
{
	bool progress = false;
	uint64_t durable;
	int64_t t;

	if ((t = status_tick(a, now)) < *wake)
		*wake = t;
	for (size_t i = 0; i < a->noutputs; i++)
		progress |= output_pump(a, &a->outputs[i], now, wake);
	t = buffer_tick(a->buf, mono_now_ms());
	durable = buffer_durable_seq(a->buf);
	if (t < *wake)
		*wake = t;
	for (size_t i = 0; i < a->nsources; i++)
		source_checkpoint(a->sources[i], durable, false);
	return progress;
}

/* No more input is coming: every input finished, or with once, at its end. */
static bool
inputs_done(const struct agent *a, bool once)
{
	bool all_finished = true, all_at_end = true;

	for (size_t i = 0; i < a->nsources; i++) {
		all_finished &= source_finished(a->sources[i]);
		all_at_end &= source_at_end(a->sources[i]);
	}
	return all_finished || (once && all_at_end);
}

/*
 * Nothing moved: sleep until something can (a second at most), then
 * answer the monitor when it asked or every 100 ms.
 */
static void
wait_phase(struct agent *a, int64_t now, int64_t wake)
{
	int mon_slot = -1;

	evloop_clear(a->ev);
	if (a->mon != NULL) {
		int64_t mt = monitor_timeout(a->mon);

		mon_slot = evloop_add(a->ev, monitor_fd(a->mon));
		if (mt >= 0 && now + mt < wake)
			wake = now + mt;
	}
	for (size_t i = 0; i < a->nsources; i++) {
		struct source *s = a->sources[i];
		int64_t t = source_next_poll(s, now);

		(void)evloop_add(a->ev, source_wait_fd(s));
		if (t < wake)
			wake = t;
	}
	if (wake < now)
		wake = now;
	if (wake - now > 1000)
		wake = now + 1000;
	(void)evloop_wait(a->ev, now, wake);
	if (a->mon != NULL && (evloop_ready(a->ev, mon_slot) ||
	    mono_now_ms() >= a->mon_next)) {
		monitor_run(a->mon, status_fill(a));
		a->mon_next = mono_now_ms() + 100;
	}
}

/*
 * Turn until a stop is requested, the inputs are done and the outputs
 * caught up, or an input fails (its -errno).  A reopen request reopens
 * the output files at the top of a turn.
 */
static int
agent_loop(struct agent *a, const struct agent_opts *opts)
{
	int rc;

	while (!evloop_stopping(a->ev)) {
		int64_t now = mono_now_ms(), wake = now + 1000;
		bool progress = false, done;

		if (evloop_take_reopen(a->ev)) {
			for (size_t i = 0; i < a->noutputs; i++)
				transport_reopen(a->outputs[i].t);
			log_info("SIGHUP: output files reopened");
		}
		if ((rc = read_phase(a, now, &progress)) != 0)
			return rc;
		progress |= write_phase(a, now, &wake);
		done = inputs_done(a, opts->once);
		if (outputs_idle(a) && done)
			break;
		if (!a->flush_now && done) {
			/* Partial batches go at once from now on. */
			a->flush_now = true;
			continue;
		}
		if (progress) {
			evloop_run(a->ev);
			/* Busy: still answer the monitor now and then. */
			if (a->mon != NULL && now >= a->mon_next) {
				monitor_run(a->mon, status_fill(a));
				a->mon_next = now + 100;
			}
			continue;
		}
		wait_phase(a, now, wake);
	}
	return 0;
}

int
agent_run(const struct config *cfg, const struct agent_opts *opts,
    struct agent_summary *sum)
{
	struct agent a;
	struct evloop *ev;
	int64_t start = mono_now_ms();
	int rc;

	/* First, so that a stop during the setup is a stop, not a kill. */
	if ((rc = evloop_open(cfg->ninputs + 1, &ev)) != 0) {
		log_errorx("cannot set up the event loop: %s", strerror(-rc));
		return rc;
	}
	if ((rc = agent_setup(&a, cfg, ev)) != 0)
		goto out;
	log_info("started: %zu input(s), %zu output(s), state in %s",
	    a.nsources, a.noutputs, cfg->agent.state_dir);
	evloop_started(a.ev);
	rc = agent_loop(&a, opts);
	if (evloop_stopping(a.ev))
		log_info("stopping on signal: flushing and saving positions");
	/* Local outputs finish at once; bounded for those that do not. */
	drain(&a, mono_now_ms() + 5000);
	if (!outputs_idle(&a))
		log_warnx("stopping with records not delivered; they stay in "
		    "the buffer and go out at the next start");
	summarize(&a, sum);
	sum->elapsed_ms = (uint64_t)(mono_now_ms() - start);
out:
	if (rc != 0 && !a.failed)
		log_errorx("cannot start: %s", strerror(-rc));
	agent_teardown(&a);
	return rc;
}
