/*
 * output_wazuh_agent.c - the Wazuh agent protocol: sysmonfwd as a Wazuh
 * agent, for Wazuh 4.x and 5.x managers (issue 16).
 *
 * Enrollment: when the output holds no key (state_dir/wazuh/client.keys)
 * or the manager no longer knows it, a TLS connection to authd
 * (enrollment_port, 1515) asks for one as the Wazuh agent does
 * (src/shared/enrollment_op.c at v4.14.7); authd's certificate is checked
 * against enrollment_ca_file when one is given (the agent's
 * server_ca_path), and only then.  The key is kept, mode 0600, and reused
 * across restarts.
 *
 * Messages: a TCP connection to remoted (port, 1514); each record is one
 * message "QUEUE:LOCATION:MESSAGE" (render_wazuh_agent()), sealed as
 * CreateSecMSG does (wazuh_proto.c) and framed as OS_SendSecureTCP does.
 * The connection starts with "#!-agent startup" and, once remoted answers
 * it, a keepalive (src/client-agent/start_agent.c, notify.c); keepalives
 * then go every keepalive_interval, and "#!-agent shutdown" on close.
 *
 * What "delivered" means: the protocol has no acknowledgement of events.
 * remoted reads one connection's messages in order and answers each
 * control message but shutdown with "#!-agent ack " (src/remoted/
 * manager.c, validate_control_msg()), so once the answer to a keepalive
 * sent after a record comes back, remoted has received, decrypted and
 * queued that record.  Only then is the record confirmed to the ring.  It
 * says nothing of analysisd: a record remoted queued and a manager that
 * then crashed before analysing it is lost to the manager, as it is for a
 * stock agent.  On a lost connection every record not yet confirmed is
 * sent again (so the manager may see a record twice, never zero times).
 *
 * Anti-replay counters: remoted may refuse a message whose counters are
 * not above the last it saw from the key (remoted.verify_msg_id=1).  The
 * output reserves a global counter on disk before using it (the file
 * state_dir/wazuh/counter holds the first global not yet used): a restart
 * starts at the reserved one, above every counter sent before, whatever
 * the crash.  One fsync per 9,997 messages and per start.
 *
 * Pacing: a token bucket of max_events_per_second (a Wazuh agent's
 * client_buffer default is 500), so a backlog never floods the manager.
 * Bounded: at most WA_SLOTS batches held, WA_OUT_MAX framed bytes waiting
 * for the socket, one frame being read.
 */
#include "transport_int.h"
#include "wazuh_proto.h"
#include "base.h"

#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WA_SLOTS		4		/* batches held */
#define WA_MARKS_MAX		64		/* keepalives awaiting an ack */
#define WA_OUT_MAX		(256u << 10)	/* framed, not yet written */
#define WA_IN_MAX		(WZP_FRAME_MAX + WZP_FRAME_HDR)
#define WA_MARK_EVERY_MS	1000	/* a keepalive after records, at
					   most this often while one waits */
#define WA_REFUSED_MS		20000	/* connections closed unanswered for
					   this long (two key reloads of
					   remoted): the key is not known */
#define WA_REFUSED_MIN		3
#define WA_CONNECT_TIMEOUT_MS	10000

enum wa_state { WA_DOWN, WA_CONNECTING, WA_HELLO, WA_UP };

/* A control message awaiting remoted's ack: records up to seq (n of
 * them since the previous mark) are confirmed by it. */
struct wa_mark {
	uint64_t	 seq;
	size_t		 n;
	bool		 prio;		/* a priority document is before it */
	int64_t		 at;
};

struct wa_output {
	struct transport_output	 base;
	struct transport_loop	*loop;
	/* options */
	char			**managers;
	size_t			 nmanagers, mi;
	int			 port, eport;
	char			*password;	/* secret, or NULL */
	char			*ca_file;
	char			*agent_name, *groups, *version;
	char			*keys_path, *ctr_path;
	int64_t			 keepalive_ms, timeout_ms;
	uint32_t		 eps;
	/* the key and the counters */
	struct wzp_key		 key;
	bool			 have_key;
	bool			 key_unsaved;	/* enrolled, not yet on disk */
	int64_t			 key_save_at;
	bool			 need_enroll;
	struct wzp_counter	 ctr;
	uint32_t		 reserved;	/* globals below it are ours */
	/* enrollment */
	struct http_stream	*es;
	struct tbuf		 ereq, eans;
	size_t			 ereq_off;
	int64_t			 enroll_at;
	int64_t			 enrolled_at;
	int			 enroll_last;	/* last failure logged, -1 */
	/* the connection to remoted */
	struct http_stream	*s;
	enum wa_state		 state;
	struct tbuf		 out;
	size_t			 out_off;
	char			*in;
	size_t			 inlen;
	struct tbuf		 plain;
	int64_t			 retry_at;
	int64_t			 next_keepalive;
	int64_t			 last_mark;
	bool			 answered;	/* an ack on this connection */
	int64_t			 refused_since;
	int			 refused;
	bool			 refused_said;
	struct wa_mark		 marks[WA_MARKS_MAX];
	size_t			 mhead, mcount;
	/* batches, oldest first; records up to sent_seq are framed on this
	 * connection, n_unmarked of them since the last mark */
	struct transport_batch	*q[WA_SLOTS];
	size_t			 qhead, qcount;
	size_t			 fslot, frec;	/* the next record to frame */
	uint64_t		 sent_seq;
	size_t			 n_unmarked;
	bool			 prio_unmarked;
	/* pacing */
	double			 tokens;
	int64_t			 tokens_at;
	char			 uname[512];
	/* the group's shared files (merged.mg), as remoted sends them: only
	 * their MD5 is kept, to say in keepalives that we have them */
	char			 merged_md5[33];	/* "" until we do */
	char			*merged_path;
	EVP_MD_CTX		*up;		/* a merged.mg coming in */
	char			 up_sum[33];
};

static void wa_event(void *arg, struct http_stream *s, enum stream_event ev);
static void wa_enroll_event(void *arg, struct http_stream *s,
    enum stream_event ev);
static void wa_pump(struct wa_output *w, int64_t now);

/* ---- the key and the counters on disk ------------------------------------- */

static int
wa_load_key(struct wa_output *w)
{
	char buf[1024];
	ssize_t n = 0;
	fs_handle fh;
	int rc;

	if ((rc = fs_open(w->keys_path, FS_READ, 0, &fh)) != 0)
		return rc;
	n = fs_pread(fh, buf, sizeof(buf) - 1, 0);
	fs_close(fh);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	rc = wzp_key_parse(buf, strcspn(buf, "\n") + (buf[strcspn(buf,
	    "\n")] == '\n'), &w->key);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

static int
wa_save_key(struct wa_output *w)
{
	char line[512];
	int rc;

	if ((rc = wzp_key_line(&w->key, line, sizeof(line))) != 0)
		return rc;
	rc = file_write_atomic(w->keys_path, line, strlen(line), 0600, true);
	explicit_bzero(line, sizeof(line));
	/* On Windows the directory's DACL is inherited already; this makes
	 * sure (and says so when it cannot). */
	if (rc == 0)
		rc = file_make_private(w->keys_path, false);
	return rc;
}

/* Reserve globals up to (not including) upto: the file says so first. */
static int
wa_reserve(struct wa_output *w, uint32_t upto)
{
	char buf[32];
	int n, rc;

	n = snprintf(buf, sizeof(buf), "%" PRIu32 "\n", upto);
	if ((rc = file_write_atomic(w->ctr_path, buf, (size_t)n, 0600,
	    true)) != 0)
		return rc;
	w->reserved = upto;
	return 0;
}

/* The counters of the last run: start above them, reserved on disk. */
static int
wa_load_counter(struct wa_output *w)
{
	char buf[32];
	unsigned long v = 0;
	fs_handle fh;
	ssize_t n;

	if (fs_open(w->ctr_path, FS_READ, 0, &fh) == 0) {
		n = fs_pread(fh, buf, sizeof(buf) - 1, 0);
		fs_close(fh);
		if (n > 0) {
			char *end;

			buf[n] = '\0';
			v = strtoul(buf, &end, 10);
			if (end == buf || v >= UINT32_MAX - 1) {
				log_warnx("output %s: %s is unreadable; "
				    "counters start again at 0 (a manager "
				    "that checks them may refuse messages "
				    "until the key is enrolled again)",
				    w->base.name, w->ctr_path);
				v = 0;
			}
		}
	}
	w->ctr.global = (uint32_t)v;
	w->ctr.local = 0;
	return wa_reserve(w, (uint32_t)v + 1);
}

/* The sum of the group's merged.mg received last time, if any. */
static void
wa_load_merged(struct wa_output *w)
{
	char buf[40];
	fs_handle fh;
	ssize_t n;

	if (fs_open(w->merged_path, FS_READ, 0, &fh) != 0)
		return;
	n = fs_pread(fh, buf, sizeof(buf) - 1, 0);
	fs_close(fh);
	if (n == 32) {
		buf[32] = '\0';
		if (strspn(buf, "0123456789abcdef") == 32)
			memcpy(w->merged_md5, buf, 33);
	}
}

/* ---- batches ------------------------------------------------------------ */

static struct transport_batch *
wa_slot(const struct wa_output *w, size_t i)
{
	return w->q[(w->qhead + i) % WA_SLOTS];
}

/* Frame again from the first record not confirmed (a new connection). */
static void
wa_rewind(struct wa_output *w)
{
	w->fslot = 0;
	w->frec = 0;
	while (w->fslot < w->qcount) {
		const struct transport_batch *b = wa_slot(w, w->fslot);

		while (w->frec < b->n && b->seqs[w->frec] <= w->base.confirmed)
			w->frec++;
		if (w->frec < b->n)
			break;
		w->fslot++;
		w->frec = 0;
	}
	w->sent_seq = w->base.confirmed;
	w->n_unmarked = 0;
	w->prio_unmarked = false;
	w->mhead = w->mcount = 0;
}

/* Let go of the batches every record of which is confirmed. */
static void
wa_release(struct wa_output *w)
{
	while (w->qcount > 0) {
		struct transport_batch *b = wa_slot(w, 0);

		if (b->n > 0 && b->last_seq > w->base.confirmed)
			break;
		transport_batch_recycle(&w->base, b);
		w->q[w->qhead] = NULL;
		w->qhead = (w->qhead + 1) % WA_SLOTS;
		w->qcount--;
		if (w->fslot > 0)
			w->fslot--;
		else
			w->frec = 0;
	}
}

/* ---- framing ------------------------------------------------------------- */

/* Seal one payload into the output buffer, with the next counters. */
static int
wa_seal(struct wa_output *w, const char *p, size_t len)
{
	struct wzp_counter c = w->ctr;
	int rc;

	wzp_counter_next(&c);
	if (c.global >= w->reserved &&
	    (rc = wa_reserve(w, c.global + 1)) != 0) {
		transport_failed(&w->base, mono_now_ms(), true, "cannot keep "
		    "the message counters in %s (%s): nothing is sent until "
		    "they can be", w->ctr_path,
		    strerror(-rc));
		return rc;
	}
	if ((rc = wzp_seal(&w->key, &c, (uint16_t)(rand() % 65536), p, len,
	    &w->out)) != 0) {
		w->out.oom = false;
		return rc;
	}
	w->ctr = c;
	return 0;
}

static int
wa_control(struct wa_output *w, int64_t now, bool keepalive)
{
	struct tbuf m = { 0 };
	int rc;

	if (keepalive)
		rc = wzp_keepalive_msg(w->uname, w->merged_md5,
		    w->s != NULL ? stream_local_ip(w->s) : NULL, NULL, &m);
	else
		rc = wzp_startup_msg(w->version, &m);
	if (rc == 0)
		rc = wa_seal(w, m.s, m.len);
	free(m.s);
	if (rc != 0)
		return rc;
	if (w->mcount == WA_MARKS_MAX) {
		/* Never: marks are capped below.  Keep the oldest. */
		return -ENOBUFS;
	}
	w->marks[(w->mhead + w->mcount) % WA_MARKS_MAX] = (struct wa_mark){
		.seq = w->sent_seq, .n = w->n_unmarked,
		.prio = w->prio_unmarked, .at = now,
	};
	w->mcount++;
	w->n_unmarked = 0;
	w->prio_unmarked = false;
	w->last_mark = now;
	if (keepalive)
		w->next_keepalive = now + w->keepalive_ms;
	return 0;
}

static void
wa_refill(struct wa_output *w, int64_t now)
{
	double cap = w->eps >= 5 ? w->eps / 5.0 : 1.0;

	if (now > w->tokens_at) {
		w->tokens += (double)(now - w->tokens_at) * w->eps / 1000.0;
		if (w->tokens > cap)
			w->tokens = cap;
	}
	w->tokens_at = now;
}

/* Frame what may go now: the priority lane, records as paced. */
static void
wa_frame(struct wa_output *w, int64_t now)
{
	const char *doc;
	size_t len;
	bool alert;

	if (w->state != WA_UP)
		return;
	if (!w->prio_unmarked && w->mcount < WA_MARKS_MAX - 2 &&
	    transport_prio_take(&w->base, now, &doc, &len, &alert)) {
		int rc = wa_seal(w, doc, len);

		if (rc == 0)
			w->prio_unmarked = true;
		else
			transport_prio_finish(&w->base, now, rc == -EMSGSIZE ?
			    PRIO_REFUSED : PRIO_RETRY, rc == -EMSGSIZE ?
			    "longer than a Wazuh message can be" :
			    "it could not be sealed now");
	}
	wa_refill(w, now);
	while (w->fslot < w->qcount && w->tokens >= 1.0 &&
	    w->out.len - w->out_off < WA_OUT_MAX) {
		const struct transport_batch *b = wa_slot(w, w->fslot);
		size_t start = w->frec == 0 ? 0 : b->ends[w->frec - 1];
		int rc;

		rc = wa_seal(w, b->body + start, b->ends[w->frec] - start);
		if (rc == -EMSGSIZE) {
			/* Never from our renderer (it cuts to fit); done
			 * with, counted, and confirmed with the records
			 * around it. */
			transport_dead_letter(&w->base, b->seqs[w->frec],
			    "longer than a Wazuh message can be", 0, 0,
			    b->body + start, b->ends[w->frec] - start);
		} else if (rc != 0) {
			break;
		} else {
			w->n_unmarked++;
		}
		w->sent_seq = b->seqs[w->frec];
		w->tokens -= 1.0;
		if (++w->frec == b->n) {
			w->fslot++;
			w->frec = 0;
		}
	}
	/* Records or a priority document out since the last mark: ask for
	 * an ack soon after them. */
	if ((w->n_unmarked > 0 || w->prio_unmarked) &&
	    w->mcount < WA_MARKS_MAX - 1 &&
	    (w->mcount == 0 || now - w->last_mark >= WA_MARK_EVERY_MS))
		(void)wa_control(w, now, true);
	else if (now >= w->next_keepalive && w->mcount < WA_MARKS_MAX - 1)
		(void)wa_control(w, now, true);
}

/* ---- the connection --------------------------------------------------------- */

static void
wa_drop(struct wa_output *w, int64_t now, const char *why)
{
	bool unanswered = w->state >= WA_HELLO && !w->answered;

	stream_close(w->s);
	w->s = NULL;
	w->state = WA_DOWN;
	w->out.len = 0;
	w->out_off = 0;
	w->inlen = 0;
	if (w->base.prio.inflight || w->prio_unmarked)
		transport_prio_finish(&w->base, now, PRIO_UNREACHABLE, why);
	wa_rewind(w);
	if (unanswered && now - w->enrolled_at >= 2 * 10000) {
		/* remoted closes a connection whose key it does not know
		 * (src/remoted/secure.c): after a while of that, enroll. */
		if (w->refused++ == 0)
			w->refused_since = now;
		if (w->refused == 2 && !w->refused_said) {
			/* What remoted does not say: it only closes. */
			log_warnx("output %s: the manager %s closes the "
			    "connection without answering agent %s (%s); "
			    "remoted does so for a key it does not know "
			    "(the agent removed there: sysmonfwd enrolls "
			    "again after %d s of this), a key another "
			    "connection holds (for up to a minute after a "
			    "network cut), or message counters not above "
			    "the last it saw (%s lost or restored from a "
			    "backup?); its ossec.log says which",
			    w->base.name, w->managers[w->mi], w->key.id,
			    w->key.name, WA_REFUSED_MS / 1000, w->ctr_path);
			w->refused_said = true;
		}
		if (w->refused >= WA_REFUSED_MIN &&
		    now - w->refused_since >= WA_REFUSED_MS) {
			log_warnx("output %s: the manager %s keeps closing the "
			    "connection before answering: it does not know "
			    "agent %s (%s) any more; enrolling again",
			    w->base.name, w->managers[w->mi], w->key.id,
			    w->key.name);
			w->need_enroll = true;
			w->enroll_at = now;
			w->refused = 0;
		}
	}
	transport_failed(&w->base, now, false, "%s%s", why,
	    w->nmanagers > 1 ? "; trying the next manager" : "");
	if (w->nmanagers > 1)
		w->mi = (w->mi + 1) % w->nmanagers;
	w->retry_at = now + transport_backoff_next(&w->base);
}

/* Write what is framed. */
static void
wa_flush(struct wa_output *w, int64_t now)
{
	while (w->s != NULL && w->out_off < w->out.len) {
		size_t done = 0;
		int rc = stream_send(w->s, w->out.s + w->out_off,
		    w->out.len - w->out_off, &done);

		if (rc == -EAGAIN) {
			stream_want_write(w->s, true);
			return;
		}
		if (rc != 0) {
			wa_drop(w, now, stream_error(w->s));
			return;
		}
		w->out_off += done;
	}
	if (w->s != NULL)
		stream_want_write(w->s, false);
	if (w->out_off == w->out.len) {
		w->out.len = 0;
		w->out_off = 0;
		if (w->out.cap > 4 * WA_OUT_MAX) {
			free(w->out.s);
			w->out = (struct tbuf){ 0 };
		}
	}
}

static void
wa_acked(struct wa_output *w, int64_t now)
{
	struct wa_mark m;

	if (w->mcount == 0)
		return;		/* an ack we did not ask for */
	m = w->marks[w->mhead];
	w->mhead = (w->mhead + 1) % WA_MARKS_MAX;
	w->mcount--;
	if (!w->answered) {
		/* The key works: no enrollment needed (one started because
		 * remoted closed connections, e.g. while an old connection
		 * still held the key, is not wanted any more). */
		w->answered = true;
		w->need_enroll = false;
		w->refused = 0;
		w->refused_said = false;
		transport_backoff_reset(&w->base);
		if (w->base.st.failing_since_ms != 0)
			log_info("output %s: connected to the manager %s as "
			    "agent %s (%s)", w->base.name, stream_peer(w->s),
			    w->key.id, w->key.name);
		transport_recovered(&w->base);
	}
	if (m.seq > w->base.confirmed) {
		w->base.confirmed = m.seq;
		w->base.st.delivered += m.n;
	}
	if (m.prio)
		transport_prio_finish(&w->base, now, PRIO_OK, "");
	wa_release(w);
	if (w->es != NULL && w->have_key) {
		stream_close(w->es);
		w->es = NULL;
	}
	if (w->state == WA_HELLO) {
		char started[WZP_NAME_MAX + WZP_IP_MAX + 64];

		/* The startup was answered: what a Wazuh agent says then
		 * (start_agent.c: OS_AG_STARTED, rule 503 "Wazuh agent
		 * started"), the keepalive that makes the agent active, then
		 * records. */
		w->state = WA_UP;
		snprintf(started, sizeof(started), "1:wazuh-agent:ossec: Agent "
		    "started: '%s->%s'.", w->key.name, w->key.ip);
		(void)wa_seal(w, started, strlen(started));
		(void)wa_control(w, now, true);
	}
}

/*
 * The group's shared files.  remoted sends merged.mg after any keepalive
 * whose merged.mg sum is not the group's (src/remoted/manager.c): "#!-up
 * file SUM merged.mg", the file in pieces, "#!-close file ".  A Wazuh
 * agent writes the pieces out and keeps the file when its MD5 is SUM
 * (src/client-agent/receiver.c); sysmonfwd applies no agent.conf, so it
 * only hashes the pieces and, when the sum holds, reports it in its
 * keepalives from then on (kept in state_dir/wazuh/merged.sum): without
 * that, remoted would send the whole file again after every keepalive.
 * Return true when plain was part of this.
 */
static bool
wa_shared(struct wa_output *w, const char *plain, size_t len)
{
	static const char up[] = "#!-up file ", close_[] = "#!-close file ";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[33];

	if (strncmp(plain, "#!-", 3) != 0) {
		/* A piece (the agent writes it with "%s": up to a NUL). */
		if (w->up != NULL)
			(void)EVP_DigestUpdate(w->up, plain, strlen(plain));
		return true;
	}
	if (strcmp(plain, "#!-agent ack ") == 0)
		return false;	/* acks come between pieces too */
	if (strncmp(plain, close_, sizeof(close_) - 1) == 0) {
		if (w->up != NULL && EVP_DigestFinal_ex(w->up, md, &mdlen) &&
		    mdlen == 16) {
			for (unsigned i = 0; i < 16; i++)
				snprintf(hex + 2 * i, 3, "%02x", md[i]);
			if (strcmp(hex, w->up_sum) == 0 &&
			    strcmp(hex, w->merged_md5) != 0) {
				memcpy(w->merged_md5, hex, sizeof(hex));
				if (file_write_atomic(w->merged_path, hex, 32,
				    0600, false) != 0)
					log_debug("output %s: cannot keep the "
					    "merged.mg sum (it comes again "
					    "after a restart)", w->base.name);
				log_debug("output %s: the group's merged.mg "
				    "(%s) received", w->base.name, hex);
			}
		}
		EVP_MD_CTX_free(w->up);
		w->up = NULL;
		return true;
	}
	/* Any other message ends a file being received, as the agent's
	 * receiver closes it. */
	EVP_MD_CTX_free(w->up);
	w->up = NULL;
	if (strncmp(plain, up, sizeof(up) - 1) == 0) {
		const char *sum = plain + sizeof(up) - 1;
		size_t n = strspn(sum, "0123456789abcdef");

		if (n == 32 && strncmp(sum + 32, " merged.mg", 10) == 0 &&
		    (w->up = EVP_MD_CTX_new()) != NULL &&
		    !EVP_DigestInit_ex(w->up, EVP_md5(), NULL)) {
			EVP_MD_CTX_free(w->up);
			w->up = NULL;
		}
		if (w->up != NULL)
			snprintf(w->up_sum, sizeof(w->up_sum), "%.32s", sum);
		return true;
	}
	(void)len;
	return false;
}

/* Read and act on what the manager sent. */
static void
wa_read(struct wa_output *w, int64_t now)
{
	for (;;) {
		const char *msg;
		size_t got = 0, used, mlen;
		int rc;

		if (w->inlen == WA_IN_MAX) {
			wa_drop(w, now, "the manager sent a frame too long");
			return;
		}
		rc = stream_recv(w->s, w->in + w->inlen, WA_IN_MAX - w->inlen,
		    &got);
		if (rc == -EAGAIN)
			return;
		if (rc != 0) {
			wa_drop(w, now, stream_error(w->s));
			return;
		}
		w->inlen += got;
		while ((rc = wzp_frame_next(w->in, w->inlen, &used, &msg,
		    &mlen)) == 1) {
			w->plain.len = 0;
			if (wzp_open(&w->key, msg, mlen, &w->plain, NULL) != 0) {
				wa_drop(w, now, "a message from the manager "
				    "does not open with our key");
				return;
			}
			if (wa_shared(w, w->plain.s, w->plain.len)) {
				/* merged.mg: counted, nothing else */
			} else switch (wzp_control_kind(w->plain.s,
			    w->plain.len)) {
			case WZP_CONTROL_ACK:
				wa_acked(w, now);
				break;
			case WZP_CONTROL_ERR:
				log_warnx("output %s: the manager answered: "
				    "%.200s%s", w->base.name, w->plain.s,
				    strstr(w->plain.s, "version") != NULL ?
				    " (set agent_version to the manager's "
				    "version or lower)" : "");
				wa_drop(w, now, "the manager refused the agent");
				return;
			default:
				break;	/* shared files, requests: not ours */
			}
			if (w->s == NULL)
				return;
			memmove(w->in, w->in + used, w->inlen - used);
			w->inlen -= used;
		}
		if (rc < 0) {
			wa_drop(w, now, "the manager sent a frame that is not "
			    "Wazuh's");
			return;
		}
	}
}

static void
wa_event(void *arg, struct http_stream *s, enum stream_event ev)
{
	struct wa_output *w = arg;
	int64_t now = mono_now_ms();

	if (s != w->s)
		return;
	switch (ev) {
	case STREAM_CONNECTED:
		w->state = WA_HELLO;
		w->answered = false;
		w->next_keepalive = now + w->keepalive_ms;
		if (wa_control(w, now, false) != 0) {
			wa_drop(w, now, "cannot build the startup message");
			return;
		}
		break;
	case STREAM_FAILED:
		wa_drop(w, now, stream_error(s));
		return;
	case STREAM_READABLE:
		wa_read(w, now);
		break;
	case STREAM_WRITABLE:
		break;
	}
	if (w->s != NULL)
		wa_pump(w, now);
}

/* ---- enrollment -------------------------------------------------------------- */

static const char *const enroll_words[] = {
	[WZP_ENROLL_OK] = "",
	[WZP_ENROLL_NAME_TAKEN] = "the agent name is already registered on "
	    "the manager: remove the old agent there (manage_agents -r, or "
	    "DELETE /agents in the API) or set agent_name",
	[WZP_ENROLL_BAD_PASSWORD] = "authd refused the password: "
	    "enrollment_password_file must hold the manager's authd.pass",
	[WZP_ENROLL_REFUSED] = "authd refused the enrollment",
	[WZP_ENROLL_INCOMPLETE] = "authd closed the connection without an "
	    "answer",
	[WZP_ENROLL_GARBAGE] = "authd's answer is not an enrollment answer",
};

/* An enrollment that did not give a key: say it once, try again later. */
static void
wa_enroll_failed(struct wa_output *w, int64_t now, int result,
    const char *why)
{
	transport_failed(&w->base, now, w->enroll_last != result, "cannot "
	    "enroll as %s with %s:%d: %s%s%s; trying again every %" PRId64
	    " s", w->agent_name, w->managers[w->mi], w->eport,
	    result >= 0 ? enroll_words[result] : why,
	    result >= 0 && why[0] != '\0' ? ": " : "",
	    result >= 0 ? why : "", w->base.retry.max_ms / 1000);
	w->enroll_last = result;
	stream_close(w->es);
	w->es = NULL;
	w->enroll_at = now + w->base.retry.max_ms;
}

static void
wa_enroll_done(struct wa_output *w, int64_t now, bool closed)
{
	struct wzp_key k;
	char why[256] = "";
	enum wzp_enroll_result r;
	int rc;

	if (closed && (w->eans.len == 0 || w->eans.s[w->eans.len - 1] !=
	    '\n'))
		tbuf_add(&w->eans, "\n", 1);
	r = wzp_enroll_answer(w->eans.s, w->eans.len, &k, why, sizeof(why));
	if (r == WZP_ENROLL_INCOMPLETE && !closed)
		return;
	if (r != WZP_ENROLL_OK) {
		wa_enroll_failed(w, now, (int)r, why);
		return;
	}
	stream_close(w->es);
	w->es = NULL;
	wzp_key_wipe(&w->key);
	w->key = k;
	wzp_key_wipe(&k);
	if ((rc = wa_save_key(w)) != 0) {
		/* The key is used from memory and written again at every turn
		 * until it is on disk: without it there, a restart would
		 * enroll again under the same name, which authd refuses. */
		log_warnx("output %s: cannot write %s: %s; trying again",
		    w->base.name, w->keys_path, strerror(-rc));
		w->key_unsaved = true;
		w->key_save_at = now + 1000;
	}
	w->have_key = true;
	w->need_enroll = false;
	w->enroll_last = -2;
	w->enrolled_at = now;
	w->refused = 0;
	log_info("output %s: enrolled with %s:%d as agent %s (%s); the key is "
	    "in %s", w->base.name, w->managers[w->mi], w->eport, w->key.id,
	    w->key.name, w->keys_path);
	/* A connection that used the old key goes. */
	if (w->s != NULL) {
		stream_close(w->s);
		w->s = NULL;
		w->state = WA_DOWN;
		w->out.len = w->out_off = 0;
		w->inlen = 0;
		if (w->base.prio.inflight)
			transport_prio_finish(&w->base, now, PRIO_UNREACHABLE,
			    "enrolled again");
		wa_rewind(w);
	}
	w->retry_at = now;
}

static void
wa_enroll_event(void *arg, struct http_stream *s, enum stream_event ev)
{
	struct wa_output *w = arg;
	int64_t now = mono_now_ms();
	char buf[2048];
	size_t got;
	int rc;

	if (s != w->es)
		return;
	switch (ev) {
	case STREAM_FAILED:
		wa_enroll_failed(w, now, -1, stream_error(s));
		return;
	case STREAM_CONNECTED:
	case STREAM_WRITABLE:
		while (w->ereq_off < w->ereq.len) {
			size_t done = 0;

			rc = stream_send(s, w->ereq.s + w->ereq_off,
			    w->ereq.len - w->ereq_off, &done);
			if (rc == -EAGAIN) {
				stream_want_write(s, true);
				return;
			}
			if (rc != 0) {
				wa_enroll_failed(w, now, -1, stream_error(s));
				return;
			}
			w->ereq_off += done;
		}
		stream_want_write(s, false);
		/* The request holds the password: not kept. */
		explicit_bzero(w->ereq.s, w->ereq.len);
		return;
	case STREAM_READABLE:
		for (;;) {
			rc = stream_recv(s, buf, sizeof(buf), &got);
			if (rc == -EAGAIN)
				return;
			if (rc != 0) {
				wa_enroll_done(w, now, true);
				return;
			}
			if (w->eans.len + got > 8192) {
				wa_enroll_failed(w, now, WZP_ENROLL_GARBAGE,
				    "more than 8 KiB");
				return;
			}
			tbuf_add(&w->eans, buf, got);
			wa_enroll_done(w, now, false);
			if (w->es != s)
				return;
		}
	}
}

static void
wa_enroll_start(struct wa_output *w, int64_t now)
{
	struct transport_tls tls = {
		.ca_file = w->ca_file,
		.verify = w->ca_file != NULL,
		.min_version = 12,
	};
	char hash[WZP_KEY_HASH_LEN + 1];
	int rc;

	w->ereq.len = 0;
	w->ereq.oom = false;
	w->ereq_off = 0;
	w->eans.len = 0;
	w->eans.oom = false;
	rc = wzp_enroll_request(w->agent_name, w->groups, w->password,
	    w->have_key && wzp_key_hash(&w->key, hash) == 0 ? hash : NULL,
	    &w->ereq);
	if (rc != 0) {
		wa_enroll_failed(w, now, -1, "cannot build the request");
		return;
	}
	if (w->ca_file == NULL && w->enroll_last == -2)
		log_warnx("output %s: enrolling with %s:%d without checking "
		    "its certificate (no enrollment_ca_file)%s", w->base.name,
		    w->managers[w->mi], w->eport, w->password != NULL ?
		    ": whoever answers there gets the enrollment password" :
		    "");
	rc = stream_open(w->loop, w->base.name, w->managers[w->mi], w->eport,
	    &tls, WA_CONNECT_TIMEOUT_MS, wa_enroll_event, w, &w->es);
	if (rc != 0)
		wa_enroll_failed(w, now, -1, strerror(-rc));
	else
		w->enroll_at = INT64_MAX;
}

/* ---- the output's turn ------------------------------------------------------- */

static void
wa_pump(struct wa_output *w, int64_t now)
{
	if (w->key_unsaved && now >= w->key_save_at) {
		int rc = wa_save_key(w);

		if (rc == 0) {
			w->key_unsaved = false;
			log_info("output %s: the key is now in %s", w->base.name,
			    w->keys_path);
		} else {
			w->key_save_at = now + 1000;
		}
	}
	if (w->need_enroll || !w->have_key) {
		if (w->es == NULL && now >= w->enroll_at)
			wa_enroll_start(w, now);
		if (!w->have_key)
			return;
	}
	if (w->state == WA_DOWN && now >= w->retry_at && w->es == NULL) {
		int rc = stream_open(w->loop, w->base.name,
		    w->managers[w->mi], w->port, NULL, WA_CONNECT_TIMEOUT_MS,
		    wa_event, w, &w->s);

		if (rc != 0) {
			transport_failed(&w->base, now, false, "cannot "
			    "connect: %s", strerror(-rc));
			w->retry_at = now + transport_backoff_next(&w->base);
			return;
		}
		w->state = WA_CONNECTING;
		w->answered = false;
		w->retry_at = now + WA_CONNECT_TIMEOUT_MS + 1000;
		return;
	}
	if (w->state < WA_HELLO)
		return;
	/* remoted answers at once: one that has not answered for timeout
	 * is gone (or stuck), and what it did not confirm goes again. */
	if (w->mcount > 0 && now - w->marks[w->mhead].at >= w->timeout_ms) {
		wa_drop(w, now, "the manager did not answer a keepalive in "
		    "time");
		return;
	}
	wa_frame(w, now);
	wa_flush(w, now);
}

/* ---- transport_ops ----------------------------------------------------------- */

static bool
wa_ready(const struct transport_output *t, int64_t now)
{
	const struct wa_output *w = (const struct wa_output *)t;

	(void)now;
	return w->qcount < WA_SLOTS;
}

static int
wa_submit(struct transport_output *t, struct transport_batch *b, int64_t now)
{
	struct wa_output *w = (struct wa_output *)t;

	if (w->qcount == WA_SLOTS)
		return -ENOBUFS;
	w->q[(w->qhead + w->qcount) % WA_SLOTS] = b;
	w->qcount++;
	wa_pump(w, now);
	return 0;
}

static int64_t
wa_tick(struct transport_output *t, int64_t now)
{
	struct wa_output *w = (struct wa_output *)t;
	int64_t next = now + 1000;

	wa_pump(w, now);
	if ((w->need_enroll || !w->have_key) && w->es == NULL &&
	    w->enroll_at < next)
		next = w->enroll_at;
	if (w->state == WA_DOWN && w->have_key && w->retry_at < next)
		next = w->retry_at;
	if (w->state == WA_UP) {
		if (w->next_keepalive < next)
			next = w->next_keepalive;
		if (w->fslot < w->qcount && w->tokens < 1.0) {
			int64_t t2 = now + (int64_t)((1.0 - w->tokens) *
			    1000.0 / w->eps) + 1;
			if (t2 < next)
				next = t2;
		}
		if ((w->n_unmarked > 0 || w->prio_unmarked) &&
		    w->last_mark + WA_MARK_EVERY_MS < next)
			next = w->last_mark + WA_MARK_EVERY_MS;
	}
	if (w->mcount > 0 && w->marks[w->mhead].at + w->timeout_ms < next)
		next = w->marks[w->mhead].at + w->timeout_ms;
	return next > now ? next : now + 1;
}

static bool
wa_idle(const struct transport_output *t)
{
	const struct wa_output *w = (const struct wa_output *)t;

	return w->qcount == 0 && !transport_prio_pending(t);
}

static void
wa_reopen(struct transport_output *t)
{
	(void)t;
}

static int
wa_flush_op(struct transport_output *t)
{
	(void)t;
	return 0;
}

static void
wa_close(struct transport_output *t)
{
	struct wa_output *w = (struct wa_output *)t;
	struct tbuf m = { 0 };

	/* Say goodbye, as an agent that stops does (best effort: one try,
	 * never waiting). */
	if (w->s != NULL && w->state >= WA_HELLO && wzp_shutdown_msg(&m) ==
	    0 && wa_seal(w, m.s, m.len) == 0)
		wa_flush(w, mono_now_ms());
	free(m.s);
	stream_close(w->s);
	stream_close(w->es);
	for (size_t i = 0; i < w->qcount; i++)
		transport_batch_free(wa_slot(w, i));
	for (size_t i = 0; i < w->nmanagers; i++)
		free(w->managers[i]);
	free(w->managers);
	if (w->password != NULL)
		transport_free_secret(w->password);
	if (w->ereq.s != NULL)
		explicit_bzero(w->ereq.s, w->ereq.cap);
	free(w->ereq.s);
	free(w->eans.s);
	free(w->out.s);
	free(w->plain.s);
	free(w->in);
	free(w->ca_file);
	free(w->agent_name);
	free(w->groups);
	free(w->version);
	free(w->keys_path);
	free(w->ctr_path);
	free(w->merged_path);
	EVP_MD_CTX_free(w->up);
	wzp_key_wipe(&w->key);
	transport_base_free(&w->base);
	free(w);
}

static const struct transport_ops wa_ops = {
	.ready = wa_ready,
	.submit = wa_submit,
	.tick = wa_tick,
	.idle = wa_idle,
	.reopen = wa_reopen,
	.flush = wa_flush_op,
	.close = wa_close,
};

static int
wa_split_managers(struct wa_output *w, const char *list)
{
	const char *p = list;

	for (;;) {
		size_t n;
		char **nm;

		while (*p == ' ')
			p++;
		n = strcspn(p, ",");
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n > 0) {
			if ((nm = realloc(w->managers, (w->nmanagers + 1) *
			    sizeof(*nm))) == NULL)
				return -ENOMEM;
			w->managers = nm;
			if ((nm[w->nmanagers] = strndup(p, n)) == NULL)
				return -ENOMEM;
			w->nmanagers++;
		}
		p += strcspn(p, ",");
		if (*p != ',')
			break;
		p++;
	}
	return w->nmanagers > 0 ? 0 : -EINVAL;
}

static char *
dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*oom = true;
	return d;
}

int
transport_wazuh_agent_open(struct transport_loop *l, const char *name,
    const struct transport_wazuh_agent_opts *o, const char *deadletter_dir,
    struct transport_output **out)
{
	struct wa_output *w;
	char *dir = NULL;
	bool oom = false;
	int rc;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	if ((rc = transport_base_init(&w->base, &wa_ops, name, &o->retry,
	    deadletter_dir)) != 0) {
		free(w);
		return rc;
	}
	w->loop = l;
	w->port = o->port;
	w->eport = o->enrollment_port;
	w->keepalive_ms = o->keepalive_ms;
	w->timeout_ms = o->timeout_ms;
	w->eps = o->max_eps > 0 ? o->max_eps : 500;
	w->enroll_last = -2;
	w->enrolled_at = INT64_MIN / 2;
	w->tokens_at = mono_now_ms();
	w->tokens = 1.0;
	w->password = dup_or_null(o->password, &oom);
	w->ca_file = dup_or_null(o->ca_file, &oom);
	w->agent_name = dup_or_null(o->agent_name, &oom);
	w->groups = dup_or_null(o->agent_groups, &oom);
	w->version = dup_or_null(o->agent_version != NULL ? o->agent_version :
	    "v4.0.0", &oom);
	if (asprintf(&dir, "%s/wazuh", o->state_dir) < 0)
		dir = NULL;
	if (dir == NULL || asprintf(&w->keys_path, "%s/client.keys", dir) < 0 ||
	    asprintf(&w->ctr_path, "%s/counter", dir) < 0 ||
	    asprintf(&w->merged_path, "%s/merged.sum", dir) < 0 ||
	    (w->in = malloc(WA_IN_MAX)) == NULL)
		oom = true;
	if (oom || wa_split_managers(w, o->managers) == -ENOMEM) {
		free(dir);
		wa_close(&w->base);
		return -ENOMEM;
	}
	if (w->nmanagers == 0 || w->agent_name == NULL) {
		free(dir);
		wa_close(&w->base);
		return -EINVAL;
	}
	if ((rc = file_mkdirs(dir, 0700)) != 0 ||
	    (rc = file_make_private(dir, true)) != 0) {
		log_warnx("output %s: cannot create %s, or keep others out of "
		    "it: %s", name, dir, strerror(-rc));
		free(dir);
		wa_close(&w->base);
		return rc;
	}
	free(dir);
	if ((rc = wa_load_counter(w)) != 0) {
		log_warnx("output %s: cannot write %s: %s", name, w->ctr_path,
		    strerror(-rc));
		wa_close(&w->base);
		return rc;
	}
	rc = wa_load_key(w);
	if (rc == 0) {
		w->have_key = true;
		if (strcmp(w->key.name, w->agent_name) != 0)
			log_warnx("output %s: %s holds the key of agent %s, "
			    "not %s: it is used as it is (remove the file "
			    "to enroll under the new name)", name,
			    w->keys_path, w->key.name, w->agent_name);
	} else {
		if (rc != -ENOENT)
			log_warnx("output %s: %s is not a usable key (%s): "
			    "enrolling again", name, w->keys_path,
			    strerror(-rc));
		w->need_enroll = true;
	}
	wa_load_merged(w);
	wzp_uname(w->uname, sizeof(w->uname), w->version);
	*out = &w->base;
	return 0;
}
