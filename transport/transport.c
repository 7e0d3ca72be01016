/*
 * transport.c - what every output shares: batches, the dispatch through
 * the vtable, backoff with full jitter, failure reporting, dead letters.
 */
#include "transport_int.h"
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* ---- batches --------------------------------------------------------------- */

struct transport_batch *
transport_batch_new(struct transport_output *t)
{
	if (t != NULL && t->npool > 0) {
		struct transport_batch *b = t->pool[--t->npool];
		transport_batch_reset(b);
		return b;
	}
	return calloc(1, sizeof(struct transport_batch));
}

/*
 * A batch's body grows to about batch_max_bytes; growing a fresh one for
 * every batch costs page faults and copies (measured: about 8% of the HEC
 * path's CPU).  So an output keeps two finished batches for the next ones.
 */
void
transport_batch_recycle(struct transport_output *t, struct transport_batch *b)
{
	if (b == NULL)
		return;
	if (t->npool < sizeof(t->pool) / sizeof(t->pool[0]) &&
	    b->cap <= (4u << 20)) {
		t->pool[t->npool++] = b;
		return;
	}
	transport_batch_free(b);
}

void
transport_batch_free(struct transport_batch *b)
{
	if (b == NULL)
		return;
	free(b->body);
	free(b->ends);
	free(b->seqs);
	free(b);
}

void
transport_batch_reset(struct transport_batch *b)
{
	b->len = 0;
	b->n = 0;
	b->first_seq = b->last_seq = 0;
}

int
transport_batch_add(struct transport_batch *b, const char *p, size_t len,
    uint64_t seq)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : 65536;
		char *n;
		while (cap < b->len + len)
			cap *= 2;
		if ((n = realloc(b->body, cap)) == NULL)
			return -ENOMEM;
		b->body = n;
		b->cap = cap;
	}
	if (b->n == b->ncap) {
		size_t cap = b->ncap != 0 ? b->ncap * 2 : 64;
		size_t *e = realloc(b->ends, cap * sizeof(*e));
		uint64_t *s;
		if (e == NULL)
			return -ENOMEM;
		b->ends = e;
		if ((s = realloc(b->seqs, cap * sizeof(*s))) == NULL)
			return -ENOMEM;
		b->seqs = s;
		b->ncap = cap;
	}
	memcpy(b->body + b->len, p, len);
	b->len += len;
	b->ends[b->n] = b->len;
	b->seqs[b->n] = seq;
	if (b->n == 0)
		b->first_seq = seq;
	b->last_seq = seq;
	b->n++;
	return 0;
}

/* ---- dispatch ------------------------------------------------------------------ */

bool
transport_ready(const struct transport_output *t, int64_t now)
{
	return t->ops->ready(t, now);
}

int
transport_submit(struct transport_output *t, struct transport_batch *b,
    int64_t now)
{
	return t->ops->submit(t, b, now);
}

int64_t
transport_tick(struct transport_output *t, int64_t now)
{
	return t->ops->tick(t, now);
}

uint64_t
transport_confirmed(const struct transport_output *t)
{
	return t->confirmed;
}

bool
transport_take_rewind(struct transport_output *t)
{
	bool r = t->rewind;

	t->rewind = false;
	return r;
}

bool
transport_idle(const struct transport_output *t)
{
	return t->ops->idle(t);
}

void
transport_reopen(struct transport_output *t)
{
	if (t->ops->reopen != NULL)
		t->ops->reopen(t);
}

int
transport_flush(struct transport_output *t)
{
	if (t->dlq_fd >= 0 && fsync(t->dlq_fd) != 0)
		return -errno;
	return t->ops->flush != NULL ? t->ops->flush(t) : 0;
}

void
transport_close(struct transport_output *t)
{
	if (t == NULL)
		return;
	t->ops->close(t);
}

void
transport_get_stats(const struct transport_output *t,
    struct transport_stats *st)
{
	*st = t->st;
	st->alerts_pending = t->prio.acount + (t->prio.inflight &&
	    t->prio.cur_alert ? 1 : 0);
}

const char *
transport_name(const struct transport_output *t)
{
	return t->name;
}

/* ---- shared helpers --------------------------------------------------------- */

int
transport_base_init(struct transport_output *t,
    const struct transport_ops *ops, const char *name,
    const struct transport_retry *retry, const char *deadletter_dir)
{
	t->ops = ops;
	t->dlq_fd = -1;
	t->retry = *retry;
	if (t->retry.initial_ms <= 0)
		t->retry.initial_ms = 1000;
	if (t->retry.max_ms < t->retry.initial_ms)
		t->retry.max_ms = t->retry.initial_ms;
	if (t->retry.after_max_ms <= 0)
		t->retry.after_max_ms = 300000;
	if ((t->name = strdup(name)) == NULL)
		return -ENOMEM;
	if (deadletter_dir != NULL &&
	    asprintf(&t->dlq_path, "%s/%s.ndjson", deadletter_dir, name) < 0) {
		t->dlq_path = NULL;
		return -ENOMEM;
	}
	return 0;
}

void
transport_base_free(struct transport_output *t)
{
	while (t->npool > 0)
		transport_batch_free(t->pool[--t->npool]);
	free(t->prio.hb);
	free(t->prio.cur);
	while (t->prio.acount > 0) {
		free(t->prio.alerts[t->prio.ahead]);
		t->prio.ahead = (t->prio.ahead + 1) % PRIO_ALERTS_MAX;
		t->prio.acount--;
	}
	if (t->dlq_fd >= 0)
		close(t->dlq_fd);
	free(t->dlq_path);
	free(t->name);
}

int64_t
transport_backoff_next(struct transport_output *t)
{
	int64_t cap;

	t->backoff = t->backoff == 0 ? t->retry.initial_ms :
	    t->backoff * 2 > t->retry.max_ms ? t->retry.max_ms :
	    t->backoff * 2;
	cap = t->backoff;
	/* Full jitter, but never a busy loop. */
	return cap / 10 + (int64_t)(random() % (cap - cap / 10 + 1));
}

void
transport_backoff_reset(struct transport_output *t)
{
	t->backoff = 0;
}

int64_t
transport_retry_wait(struct transport_output *t, const struct http_response *r,
    const char **how)
{
	int64_t wait = transport_backoff_next(t);

	*how = "";
	if (r == NULL || r->retry_after_ms < 0)
		return wait;
	*how = " (as Retry-After says)";
	if (r->retry_after_ms <= t->retry.after_max_ms)
		return r->retry_after_ms;
	*how = " (Retry-After asked for longer: capped at retry_after_max)";
	log_warnx("output %s: the server asked to wait %.0f s (Retry-After); "
	    "waiting retry_after_max, %.0f s, instead", t->name,
	    (double)r->retry_after_ms / 1000.0,
	    (double)t->retry.after_max_ms / 1000.0);
	return t->retry.after_max_ms;
}

bool
transport_failed(struct transport_output *t, int64_t now, bool always,
    const char *fmt, ...)
{
	va_list ap;
	bool log = always || t->st.failing_since_ms == 0 ||
	    now - t->last_fail_log >= 60000;

	va_start(ap, fmt);
	vsnprintf(t->st.last_error, sizeof(t->st.last_error), fmt, ap);
	va_end(ap);
	if (t->st.failing_since_ms == 0)
		t->st.failing_since_ms = now;
	if (log) {
		log_warnx("output %s: %s", t->name, t->st.last_error);
		t->last_fail_log = now;
	}
	return log;
}

void
transport_recovered(struct transport_output *t)
{
	if (t->st.failing_since_ms != 0)
		log_info("output %s: delivering again after %.1f s of failures",
		    t->name, (double)(mono_now_ms() -
		    t->st.failing_since_ms) / 1000.0);
	t->st.failing_since_ms = 0;
	t->st.last_error[0] = '\0';
	transport_backoff_reset(t);
}

/* ---- text in memory (transport_int.h) ------------------------------------ */

void
tbuf_add(struct tbuf *b, const char *p, size_t n)
{
	if (b->oom)
		return;
	if (n >= SIZE_MAX - b->len || mem_grow(&b->s, &b->cap,
	    b->len + n + 1 < 256 ? 256 : b->len + n + 1, 1) != 0) {
		b->oom = true;
		return;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
tbuf_printf(struct tbuf *b, const char *fmt, ...)
{
	char small[128];
	va_list ap;
	int n;

	/* Short texts only (numbers, a time stamp): no second pass needed. */
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(small)) {
		b->oom = true;
		return;
	}
	tbuf_add(b, small, (size_t)n);
}

void
tbuf_json_str(struct tbuf *b, const char *s, size_t n)
{
	size_t run = 0;

	tbuf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c != '"' && c != '\\' && c >= 0x20)
			continue;
		tbuf_add(b, s + run, i - run);
		if (c == '"' || c == '\\')
			tbuf_printf(b, "\\%c", c);
		else
			tbuf_printf(b, "\\u%04x", c);
		run = i + 1;
	}
	tbuf_add(b, s + run, n - run);
	tbuf_add(b, "\"", 1);
}

void
transport_dead_letter(struct transport_output *t, uint64_t seq,
    const char *reason, long status, long code, const char *rec, size_t len)
{
	transport_dead_letter_x(t, seq, reason, status, code, NULL, rec, len);
}

void
transport_dead_letter_x(struct transport_output *t, uint64_t seq,
    const char *reason, long status, long code, const char *extra,
    const char *rec, size_t len)
{
	struct tbuf line = { 0 };
	time_t now = time(NULL);
	struct tm tm;
	char ts[32];

	t->st.dead_lettered++;
	if (t->dlq_path == NULL)
		return;
	if (t->dlq_fd < 0) {
		char dir[4096];
		const char *slash = strrchr(t->dlq_path, '/');
		if (slash != NULL && (size_t)(slash - t->dlq_path) < sizeof(dir)) {
			memcpy(dir, t->dlq_path, (size_t)(slash - t->dlq_path));
			dir[slash - t->dlq_path] = '\0';
			if (mkdir(dir, 0750) != 0 && errno != EEXIST)
				log_warn("output %s: cannot create %s", t->name,
				    dir);
		}
		t->dlq_fd = open(t->dlq_path, O_WRONLY | O_APPEND | O_CREAT |
		    O_CLOEXEC, 0640);
		if (t->dlq_fd < 0) {
			log_warn("output %s: cannot open the dead-letter file "
			    "%s; the refused record %" PRIu64 " is only counted",
			    t->name, t->dlq_path, seq);
			return;
		}
	}
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	tbuf_printf(&line, "{\"time\":\"%s\",\"output\":", ts);
	tbuf_json_str(&line, t->name, strlen(t->name));
	tbuf_printf(&line, ",\"seq\":%" PRIu64 ",\"reason\":", seq);
	tbuf_json_str(&line, reason, strlen(reason));
	tbuf_printf(&line, ",\"status\":%ld,\"code\":%ld,", status, code);
	if (extra != NULL && extra[0] != '\0') {
		tbuf_add(&line, extra, strlen(extra));
		tbuf_add(&line, ",", 1);
	}
	tbuf_add(&line, "\"record\":", 9);
	while (len > 0 && (rec[len - 1] == '\n' || rec[len - 1] == ' '))
		len--;
	if (len > 0 && rec[0] == '{' && rec[len - 1] == '}')
		tbuf_add(&line, rec, len);	/* rendered JSON: embed it */
	else
		tbuf_json_str(&line, rec, len);
	tbuf_add(&line, "}\n", 2);
	if (line.oom)
		log_warnx("output %s: no memory for the dead letter of record "
		    "%" PRIu64 "; it is only counted", t->name, seq);
	else if (write(t->dlq_fd, line.s, line.len) != (ssize_t)line.len)
		log_warn("output %s: cannot write the dead-letter file %s",
		    t->name, t->dlq_path);
	free(line.s);
}

/* ---- the priority lane ------------------------------------------------------ */

static void
prio_push_alert(struct transport_output *t, char *doc, size_t len, bool front)
{
	struct transport_prio *p = &t->prio;
	size_t i;

	if (p->acount == PRIO_ALERTS_MAX) {
		/* Keep the newest: drop the oldest waiting, and say so. */
		free(p->alerts[p->ahead]);
		p->ahead = (p->ahead + 1) % PRIO_ALERTS_MAX;
		p->acount--;
		t->st.alerts_dropped++;
		log_warnx("output %s: more than %d alerts waiting: the oldest "
		    "is dropped", t->name, PRIO_ALERTS_MAX);
	}
	if (front) {
		p->ahead = (p->ahead + PRIO_ALERTS_MAX - 1) % PRIO_ALERTS_MAX;
		i = p->ahead;
	} else {
		i = (p->ahead + p->acount) % PRIO_ALERTS_MAX;
	}
	p->alerts[i] = doc;
	p->alen[i] = len;
	p->acount++;
}

int
transport_send_priority(struct transport_output *t,
    enum transport_prio_kind kind, const char *doc, size_t len, int64_t now)
{
	struct transport_prio *p = &t->prio;
	char *copy;
	int rc;

	if (t->ops->prio_now != NULL && (kind == TRANSPORT_HEARTBEAT ||
	    p->acount == 0)) {
		/* A file: write it now. */
		if ((rc = t->ops->prio_now(t, doc, len)) == 0) {
			if (kind == TRANSPORT_HEARTBEAT)
				t->st.heartbeats_sent++;
			else
				t->st.alerts_sent++;
			return 0;
		}
		if (kind == TRANSPORT_HEARTBEAT) {
			t->st.heartbeats_failed++;
			return 0;
		}
		if (rc == -EPIPE) {
			t->st.alerts_dropped++;
			return 0;
		}
	}
	if ((copy = malloc(len + 1)) == NULL)
		return -ENOMEM;
	memcpy(copy, doc, len);
	copy[len] = '\0';
	if (kind == TRANSPORT_HEARTBEAT) {
		if (p->hb != NULL)
			t->st.heartbeats_failed++;	/* replaced unsent */
		free(p->hb);
		p->hb = copy;
		p->hblen = len;
	} else {
		prio_push_alert(t, copy, len, false);
	}
	if (t->ops->prio_now == NULL)
		(void)t->ops->tick(t, now);
	return 0;
}

bool
transport_prio_pending(const struct transport_output *t)
{
	const struct transport_prio *p = &t->prio;

	return p->inflight || p->hb != NULL || p->acount > 0;
}

bool
transport_prio_take(struct transport_output *t, int64_t now, const char **doc,
    size_t *len, bool *alert)
{
	struct transport_prio *p = &t->prio;

	if (p->inflight || now < p->retry_at)
		return false;
	if (p->acount > 0) {
		p->cur = p->alerts[p->ahead];
		p->curlen = p->alen[p->ahead];
		p->ahead = (p->ahead + 1) % PRIO_ALERTS_MAX;
		p->acount--;
		p->cur_alert = true;
	} else if (p->hb != NULL) {
		p->cur = p->hb;
		p->curlen = p->hblen;
		p->hb = NULL;
		p->cur_alert = false;
	} else {
		return false;
	}
	p->inflight = true;
	p->last_attempt = now;
	*doc = p->cur;
	*len = p->curlen;
	*alert = p->cur_alert;
	return true;
}

void
transport_prio_finish(struct transport_output *t, int64_t now,
    enum prio_result r, const char *why)
{
	struct transport_prio *p = &t->prio;

	if (!p->inflight)
		return;
	p->inflight = false;
	p->down = r == PRIO_UNREACHABLE;
	if (r == PRIO_OK) {
		if (p->cur_alert)
			t->st.alerts_sent++;
		else
			t->st.heartbeats_sent++;
		free(p->cur);
	} else if (r == PRIO_REFUSED) {
		log_warnx("output %s: the destination refused %s: %s", t->name,
		    p->cur_alert ? "an alert" : "a heartbeat", why);
		if (p->cur_alert)
			t->st.alerts_dropped++;
		else
			t->st.heartbeats_failed++;
		free(p->cur);
	} else {
		/* Try again soon: an alert until it is delivered, a heartbeat
		 * until a newer one replaces it. */
		p->retry_at = now + PRIO_RETRY_MS;
		if (p->cur_alert)
			prio_push_alert(t, p->cur, p->curlen, true);
		else if (p->hb == NULL) {
			p->hb = p->cur;
			p->hblen = p->curlen;
		} else {
			t->st.heartbeats_failed++;
			free(p->cur);
		}
	}
	p->cur = NULL;
	p->curlen = 0;
}

int64_t
transport_prio_gate(struct transport_output *t, int64_t now)
{
	struct transport_prio *p = &t->prio;

	if (t->st.failing_since_ms == 0 || !transport_prio_pending(t))
		return 0;
	/* Its completion wakes the loop; the time is only a fallback. */
	if (p->inflight)
		return now + PRIO_RETRY_MS;
	/* Not tried since the output started failing: the lane goes at its
	 * next tick, and the batch may go too (nothing to be first). */
	if (!p->down)
		return 0;
	return p->retry_at > now ? p->retry_at : now + 10;
}


char *
transport_auth_header(const char *scheme, const char *user,
    const char *secret)
{
	char *plain = NULL, *enc = NULL, *hdr = NULL;
	size_t n;

	if (user != NULL ? asprintf(&plain, "%s:%s", user, secret) < 0 :
	    (plain = strdup(secret)) == NULL)
		return NULL;
	n = strlen(plain);
	if ((enc = malloc(BASE64_LEN(n) + 1)) != NULL) {
		base64_encode(plain, n, enc, false);
		if (asprintf(&hdr, "Authorization: %s %s", scheme, enc) < 0)
			hdr = NULL;
		transport_free_secret(enc);
	}
	explicit_bzero(plain, n);
	free(plain);
	return hdr;
}

void
transport_free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
