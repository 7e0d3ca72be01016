/*
 * http.c - HTTPS over libcurl's multi interface; the only file that
 * includes <curl/curl.h>.
 *
 * One transport_loop holds the CURLM handle of the whole agent; each HTTP
 * output owns one http_client: one easy handle, reused, so its connection
 * stays alive (HTTP/1.1, one request at a time).  The event loop waits in
 * transport_loop_wait(), which is curl_multi_wait() with the agent's own
 * fds added: no thread, no busy loop.  On Windows it is curl_multi_poll()
 * alone, and agent/evloop_win.c's waiter thread ends it early with
 * transport_loop_wakeup() (curl_multi_wakeup()) when a HANDLE is ready.
 *
 * TLS is verified by default (peer and host name), with the system store
 * unless tls_ca_file/tls_ca_path say otherwise; client certificates, a
 * minimum version, a pinned public key and a proxy are options.  Failures
 * are turned into plain words naming the host ("the certificate of
 * 127.0.0.1:8088 is not trusted: unable to get local issuer certificate").
 */
#include "transport_int.h"
#include "base.h"

#include <curl/curl.h>
#include <errno.h>
#include <libdeflate.h>
#include <stddef.h>
#ifndef _WIN32
#include <poll.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CLIENTS	64
#define MAX_STREAMS	16

struct transport_loop {
	CURLM			*multi;
	struct http_client	*clients[MAX_CLIENTS];
	size_t			 nclients;
	struct http_stream	*streams[MAX_STREAMS];
	size_t			 nstreams;
	int			 depth;		/* in stream callbacks */
};

struct http_stream {
	struct transport_loop	*loop;
	char			*name;
	CURL			*easy;
	curl_socket_t		 sock;
	bool			 connected;
	bool			 want_write;
	bool			 dead;		/* closed, freed at the sweep */
	bool			 in_multi;
	stream_fn		 fn;
	void			*arg;
	unsigned		 revents;	/* from the last wait */
	char			 errbuf[CURL_ERROR_SIZE];
	char			 error[384];
	char			 peer[300];
	char			 local_ip[64];
};

static void streams_dispatch(struct transport_loop *l);
static bool stream_done(struct transport_loop *l, CURL *e, CURLcode code);

struct http_client {
	struct transport_loop	*loop;
	char			*name;
	CURL			*easy;
	struct curl_slist	*hdrs;
	bool			 busy;
	http_done_fn		 done;
	void			*arg;
	char			 errbuf[CURL_ERROR_SIZE];
	char			*body;		/* response */
	size_t			 body_len, body_cap;
	size_t			 body_max;	/* bytes kept (HTTP_BODY_MAX) */
	bool			 body_cut;
	int64_t			 retry_after_ms;
	char			 host[256];	/* host:port, for messages */
};

static bool curl_ready;

int
transport_loop_new(struct transport_loop **out)
{
	struct transport_loop *l;

	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -ENOMEM;
	*out = l;
	return 0;
}

/*
 * libcurl (and with it OpenSSL) is initialised only when the first HTTP
 * output opens: an agent with only local outputs never pays for it.
 */
static int
loop_curl(struct transport_loop *l)
{
	if (l->multi != NULL)
		return 0;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		curl_ready = true;
	}
	if ((l->multi = curl_multi_init()) == NULL)
		return -ENOMEM;
	return 0;
}

void
transport_loop_free(struct transport_loop *l)
{
	if (l == NULL)
		return;
	while (l->nstreams > 0)
		stream_close(l->streams[0]);
	if (l->multi != NULL)
		curl_multi_cleanup(l->multi);
	free(l);
}

/*
 * The failures a user can fix, in plain words: each format takes the host
 * and then curl's own words (it may leave them out).
 */
static const struct {
	CURLcode	 code;
	bool		 tls;
	const char	*fmt;
} failures[] = {
	{ CURLE_SSL_PINNEDPUBKEYNOTMATCH, true, "TLS: the public key of %s "
	    "does not match tls_pinned_pubkey" },
	{ CURLE_SSL_CACERT_BADFILE, true, "TLS: cannot read the CA "
	    "certificates given for %s (%s)" },
	{ CURLE_SSL_CERTPROBLEM, true, "TLS: the client certificate for %s "
	    "is unusable (%s)" },
	{ CURLE_SSL_CONNECT_ERROR, true, "TLS: the handshake with %s failed "
	    "(%s)" },
	{ CURLE_COULDNT_CONNECT, false, "cannot connect to %s (%s)" },
	{ CURLE_COULDNT_RESOLVE_HOST, false, "cannot resolve the host of %s "
	    "(%s)" },
	{ CURLE_COULDNT_RESOLVE_PROXY, false, "cannot resolve the host of %s "
	    "(%s)" },
	{ CURLE_OPERATION_TIMEDOUT, false, "%s did not answer in time (%s)" },
};

/* Put a failed transfer in words into out.  Was it TLS's doing? */
static bool
say_failure(CURLcode code, const char *host, const char *why, char *out,
    size_t outlen)
{
	const char *fmt = "%s: %s";
	bool tls = false;

	if (code == CURLE_PEER_FAILED_VERIFICATION) {
		tls = true;
		fmt = strstr(why, "name") != NULL ? "TLS: the certificate of "
		    "%s does not name that host (%s)" : "TLS: the certificate "
		    "of %s is not trusted (%s); set tls_ca_file to the CA that "
		    "signed it";
	}
	for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++)
		if (failures[i].code == code) {
			tls = failures[i].tls;
			fmt = failures[i].fmt;
		}
	snprintf(out, outlen, fmt, host, why);
	return tls;
}

static void
finish(struct http_client *c, CURLcode code)
{
	struct http_response r;
	long status = 0;
	char why[160], host[100];

	/* Bounded copies: every message below fits r.error. */
	snprintf(why, sizeof(why), "%.159s", c->errbuf[0] != '\0' ? c->errbuf :
	    curl_easy_strerror(code));
	snprintf(host, sizeof(host), "%.99s", c->host);

	memset(&r, 0, sizeof(r));
	r.curl_code = (int)code;
	r.retry_after_ms = c->retry_after_ms;
	if (code == CURLE_OK)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	r.status = status;
	if (code != CURLE_OK)
		r.tls_error = say_failure(code, host, why, r.error,
		    sizeof(r.error));
	if (c->body == NULL || c->body_len == 0)
		r.body = "";
	else
		r.body = c->body;
	r.body_len = c->body_len;
	r.body_cut = c->body_cut;
	c->busy = false;
	if (c->done != NULL)
		c->done(c->arg, &r);
}

static void
run(struct transport_loop *l)
{
	CURLMsg *m;
	int running, left;

	if (l->multi == NULL)
		return;
	curl_multi_perform(l->multi, &running);
	while ((m = curl_multi_info_read(l->multi, &left)) != NULL) {
		struct http_client *c = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		if (stream_done(l, m->easy_handle, m->data.result))
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &c);
		curl_multi_remove_handle(l->multi, m->easy_handle);
		if (c != NULL)
			finish(c, m->data.result);
	}
}

void
transport_loop_run(struct transport_loop *l)
{
	run(l);
	streams_dispatch(l);
}

/*
 * The streams' sockets for a wait, after the n entries of w already used
 * (at most cap in all).  Return the new count.
 */
static unsigned
streams_waitfds(struct transport_loop *l, struct curl_waitfd *w, unsigned n,
    unsigned cap)
{
	for (size_t i = 0; i < l->nstreams && n < cap; i++) {
		struct http_stream *st = l->streams[i];

		st->revents = 0;
		if (st->dead || !st->connected || st->sock == CURL_SOCKET_BAD)
			continue;
		w[n].fd = st->sock;
		w[n].events = CURL_WAIT_POLLIN |
		    (st->want_write ? CURL_WAIT_POLLOUT : 0);
		w[n].revents = 0;
		n++;
	}
	return n;
}

/* Copy the revents of the streams' entries (from index first) back. */
static void
streams_revents(struct transport_loop *l, const struct curl_waitfd *w,
    unsigned first, unsigned n)
{
	unsigned k = first;

	for (size_t i = 0; i < l->nstreams && k < n; i++) {
		struct http_stream *st = l->streams[i];

		if (st->dead || !st->connected || st->sock == CURL_SOCKET_BAD)
			continue;
		st->revents = w[k++].revents;
	}
}

#ifdef _WIN32
int
transport_loop_wait(struct transport_loop *l, struct pollfd *extra,
    size_t nextra, int timeout_ms)
{
	struct curl_waitfd w[MAX_STREAMS];
	unsigned n;
	int numfds = 0;

	/* No fds to add on Windows: the HANDLEs are the waiter thread's.
	 * The streams' sockets are curl's extra fds (it ties them to its
	 * event with WSAEventSelect). */
	(void)extra;
	if (l->multi == NULL || nextra != 0)
		return -EINVAL;
	n = streams_waitfds(l, w, 0, MAX_STREAMS);
	if (curl_multi_poll(l->multi, n > 0 ? w : NULL, n, timeout_ms,
	    &numfds) != CURLM_OK)
		return -EIO;
	streams_revents(l, w, 0, n);
	run(l);
	streams_dispatch(l);
	return 0;
}

bool
transport_loop_active(const struct transport_loop *l)
{
	return l->multi != NULL;
}

void
transport_loop_wakeup(struct transport_loop *l)
{
	if (l->multi != NULL)
		(void)curl_multi_wakeup(l->multi);
}
#else
int
transport_loop_wait(struct transport_loop *l, struct pollfd *extra,
    size_t nextra, int timeout_ms)
{
	struct curl_waitfd w[64 + MAX_STREAMS];
	int numfds = 0, ready = 0;
	unsigned n;
	CURLMcode mc;

	if (l->multi == NULL) {
		int k = poll(extra, nextra, timeout_ms);
		return k < 0 ? (errno == EINTR ? 0 : -errno) : k;
	}
	if (nextra > 64)
		nextra = 64;
	for (size_t i = 0; i < nextra; i++) {
		w[i].fd = extra[i].fd;
		w[i].events = (short)extra[i].events;
		w[i].revents = 0;
	}
	n = streams_waitfds(l, w, (unsigned)nextra, 64 + MAX_STREAMS);
	mc = curl_multi_wait(l->multi, w, n, timeout_ms, &numfds);
	if (mc != CURLM_OK)
		return -EIO;
	for (size_t i = 0; i < nextra; i++) {
		extra[i].revents = w[i].revents;
		if (w[i].revents != 0)
			ready++;
	}
	streams_revents(l, w, (unsigned)nextra, n);
	run(l);
	streams_dispatch(l);
	return ready;
}
#endif

/* ---- clients ---------------------------------------------------------------- */

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct http_client *c = arg;
	size_t len = size * n, keep = len;

	if (c->body_len + keep + 1 > c->body_max) {
		keep = c->body_len + 1 < c->body_max ?
		    c->body_max - c->body_len - 1 : 0;
		c->body_cut = true;
	}
	if (keep > 0) {
		if (c->body_len + keep + 1 > c->body_cap) {
			size_t cap = c->body_cap != 0 ? c->body_cap : 1024;
			char *nb;
			while (cap < c->body_len + keep + 1)
				cap *= 2;
			if ((nb = realloc(c->body, cap)) == NULL)
				return 0;
			c->body = nb;
			c->body_cap = cap;
		}
		memcpy(c->body + c->body_len, p, keep);
		c->body_len += keep;
		c->body[c->body_len] = '\0';
	}
	return len;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct http_client *c = arg;
	size_t len = size * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		char buf[32];
		size_t k = len - 12 < sizeof(buf) - 1 ? len - 12 :
		    sizeof(buf) - 1;
		char *end;
		long v;

		memcpy(buf, p + 12, k);
		buf[k] = '\0';
		v = strtol(buf, &end, 10);
		/* Seconds only; an HTTP date falls back to our backoff.  The
		 * output caps it at retry_after_max. */
		if (end != buf && v >= 0)
			c->retry_after_ms = (int64_t)(v < 86400 ? v : 86400) *
			    1000;
	}
	return len;
}

static void
host_of(const char *url, char *out, size_t len)
{
	const char *p = strstr(url, "://"), *end;

	p = p != NULL ? p + 3 : url;
	end = p + strcspn(p, "/?#");
	snprintf(out, len, "%.*s", (int)(end - p), p);
}

/* The TLS settings that are strings curl takes as they are, when set. */
static const struct {
	CURLoption	 opt;
	size_t		 off;
} tls_paths[] = {
	{ CURLOPT_CAINFO, offsetof(struct transport_tls, ca_file) },
	{ CURLOPT_CAPATH, offsetof(struct transport_tls, ca_path) },
	{ CURLOPT_SSLCERT, offsetof(struct transport_tls, client_cert) },
	{ CURLOPT_SSLKEY, offsetof(struct transport_tls, client_key) },
	{ CURLOPT_PINNEDPUBLICKEY, offsetof(struct transport_tls,
	    pinned_pubkey) },
	{ CURLOPT_PROXY, offsetof(struct transport_tls, proxy) },
};

int
http_client_new(struct transport_loop *l, const char *name,
    const struct transport_tls *tls, int64_t timeout_ms,
    struct http_client **out)
{
	struct http_client *c;
	CURLcode cc = CURLE_OK;
	CURL *e;
	int rc;

	*out = NULL;
	if (l->nclients == MAX_CLIENTS)
		return -ENOSPC;
	if ((rc = loop_curl(l)) != 0)
		return rc;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	if ((c->name = strdup(name)) == NULL || (e = curl_easy_init()) ==
	    NULL) {
		free(c->name);
		free(c);
		return -ENOMEM;
	}
	c->loop = l;
	c->easy = e;
	c->body_max = HTTP_BODY_MAX;
	/* Every option must take: a TLS option lost to a failed allocation
	 * (the CA, a pinned key) would change what the agent trusts. */
#define SET(opt, val)	do { if (cc == CURLE_OK) cc = curl_easy_setopt(e, \
	    opt, val); } while (0)
	SET(CURLOPT_PRIVATE, c);
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, c);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, c);
	SET(CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	SET(CURLOPT_PROTOCOLS_STR, "https,http");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_USERAGENT, "sysmonfwd");
	/* No TLS session cache: each output keeps its connection alive, so
	 * resumption saves little, and Debian 12's libcurl (7.88) frees a
	 * session twice when an allocation fails as a TLS 1.3 ticket arrives
	 * (the torture sweep: "double free or corruption" under SSL_read). */
	SET(CURLOPT_SSL_SESSIONID_CACHE, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, tls->verify ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, tls->verify ? 2L : 0L);
	SET(CURLOPT_SSLVERSION, tls->min_version >= 13 ?
	    CURL_SSLVERSION_TLSv1_3 : CURL_SSLVERSION_TLSv1_2);
	for (size_t i = 0; i < sizeof(tls_paths) / sizeof(tls_paths[0]); i++) {
		const char *v = *(const char *const *)(const void *)
		    ((const char *)tls + tls_paths[i].off);
		if (v != NULL)
			SET(tls_paths[i].opt, v);
	}
#ifdef _WIN32
	/*
	 * No CA given: trust what Windows trusts (the ROOT store, read by
	 * curl into OpenSSL's), as Linux trusts the system bundle.  The exe's
	 * curl has no bundle of its own (built with CURL_CA_BUNDLE=none), so
	 * without this every certificate would be refused.  A CA that is
	 * given replaces the store, as on Linux.
	 */
	if (tls->ca_file == NULL && tls->ca_path == NULL)
		SET(CURLOPT_SSL_OPTIONS, (long)CURLSSLOPT_NATIVE_CA);
#endif
#undef SET
	if (cc != CURLE_OK) {
		log_warnx("output %s: cannot set up the HTTP client: %s", name,
		    curl_easy_strerror(cc));
		curl_easy_cleanup(e);
		free(c->name);
		free(c);
		return cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
	}
	if (!tls->verify)
		log_warnx("output %s: tls_verify = false: the server's "
		    "certificate and host name are NOT checked; anyone on the "
		    "path can read and change what is sent (labs only)", name);
	l->clients[l->nclients++] = c;
	*out = c;
	return 0;
}

void
http_client_set_body_max(struct http_client *c, size_t max)
{
	c->body_max = max > 1 ? max : 2;
}

void
http_client_free(struct http_client *c)
{
	struct transport_loop *l;

	if (c == NULL)
		return;
	l = c->loop;
	http_cancel(c);
	for (size_t i = 0; i < l->nclients; i++)
		if (l->clients[i] == c) {
			l->clients[i] = l->clients[--l->nclients];
			break;
		}
	curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->hdrs);
	free(c->body);
	free(c->name);
	free(c);
}

bool
http_busy(const struct http_client *c)
{
	return c->busy;
}

void
http_cancel(struct http_client *c)
{
	if (c->busy) {
		curl_multi_remove_handle(c->loop->multi, c->easy);
		c->busy = false;
	}
}

int
http_start(struct http_client *c, const char *method, const char *url,
    const char *const *headers, const void *body, size_t len,
    http_done_fn done, void *arg)
{
	CURL *e = c->easy;

	if (c->busy)
		return -EBUSY;
	curl_slist_free_all(c->hdrs);
	c->hdrs = NULL;
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		struct curl_slist *n = curl_slist_append(c->hdrs, headers[i]);
		if (n == NULL)
			return -ENOMEM;
		c->hdrs = n;
	}
	/* No "Expect: 100-continue" round trip. */
	{
		struct curl_slist *n = curl_slist_append(c->hdrs, "Expect:");
		if (n == NULL)
			return -ENOMEM;
		c->hdrs = n;
	}
	host_of(url, c->host, sizeof(c->host));
	c->errbuf[0] = '\0';
	c->body_len = 0;
	c->body_cut = false;
	if (c->body_cap > (256u << 10)) {
		/* A big answer is rare: do not keep its buffer. */
		free(c->body);
		c->body = NULL;
		c->body_cap = 0;
	}
	c->retry_after_ms = -1;
	c->done = done;
	c->arg = arg;
	/* A URL that did not take (no memory) would send to the last one. */
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK)
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
	}
	if (curl_multi_add_handle(c->loop->multi, e) != CURLM_OK)
		return -EIO;
	c->busy = true;
	return 0;
}

/*
 * libdeflate at level 1: on HEC bodies of corpus records (1 MiB, 500
 * events) 8.3x at 280 MB/s, where zlib's level 1 made 7.2x at 157 MB/s;
 * libdeflate's levels 2 and up cost more CPU than that.  One compressor,
 * made on first use and kept (200 KiB): bodies are only gzipped on the
 * transport loop's thread.
 */
int
gzip_buf(const void *in, size_t len, char **out, size_t *outlen,
    size_t *outcap)
{
	static struct libdeflate_compressor *gz;
	size_t bound, n;

	if (gz == NULL && (gz = libdeflate_alloc_compressor(1)) == NULL)
		return -ENOMEM;
	bound = libdeflate_gzip_compress_bound(gz, len);
	if (*outcap < bound) {
		char *p = realloc(*out, bound);
		if (p == NULL)
			return -ENOMEM;
		*out = p;
		*outcap = bound;
	}
	if ((n = libdeflate_gzip_compress(gz, in, len, *out, bound)) == 0)
		return -EIO;
	*outlen = n;
	return 0;
}

/* ---- byte streams ------------------------------------------------------------ */

static void
stream_free(struct http_stream *st)
{
	struct transport_loop *l = st->loop;

	for (size_t i = 0; i < l->nstreams; i++)
		if (l->streams[i] == st) {
			memmove(&l->streams[i], &l->streams[i + 1],
			    (l->nstreams - i - 1) * sizeof(l->streams[0]));
			l->nstreams--;
			break;
		}
	free(st->name);
	free(st);
}

/* Free the streams closed from their callbacks. */
static void
streams_sweep(struct transport_loop *l)
{
	for (size_t i = 0; i < l->nstreams; )
		if (l->streams[i]->dead)
			stream_free(l->streams[i]);
		else
			i++;
}

static void
stream_fail(struct http_stream *st, CURLcode code)
{
	char why[160];

	snprintf(why, sizeof(why), "%.159s", st->errbuf[0] != '\0' ?
	    st->errbuf : curl_easy_strerror(code));
	(void)say_failure(code, st->peer, why, st->error, sizeof(st->error));
	st->fn(st->arg, st, STREAM_FAILED);
}

/*
 * A transfer is done: when it is a stream's connection, say so and keep
 * the handle in the multi (curl_easy_send/recv need it there).  Return
 * whether e was a stream's.
 */
static bool
stream_done(struct transport_loop *l, CURL *e, CURLcode code)
{
	struct http_stream *st = NULL;

	for (size_t i = 0; i < l->nstreams; i++)
		if (l->streams[i]->easy == e)
			st = l->streams[i];
	if (st == NULL)
		return false;
	if (st->dead)
		return true;
	l->depth++;
	if (code != CURLE_OK ||
	    curl_easy_getinfo(e, CURLINFO_ACTIVESOCKET, &st->sock) !=
	    CURLE_OK || st->sock == CURL_SOCKET_BAD) {
		if (code == CURLE_OK)
			code = CURLE_COULDNT_CONNECT;
		stream_fail(st, code);
	} else {
		char *ip = NULL;

		if (curl_easy_getinfo(e, CURLINFO_LOCAL_IP, &ip) == CURLE_OK &&
		    ip != NULL)
			snprintf(st->local_ip, sizeof(st->local_ip), "%s", ip);
		st->connected = true;
		st->fn(st->arg, st, STREAM_CONNECTED);
	}
	l->depth--;
	return true;
}

/* Tell the streams what their sockets said in the last wait. */
static void
streams_dispatch(struct transport_loop *l)
{
	l->depth++;
	for (size_t i = 0; i < l->nstreams; i++) {
		struct http_stream *st = l->streams[i];
		unsigned r = st->revents;

		st->revents = 0;
		if (st->dead || !st->connected || r == 0)
			continue;
		if ((r & CURL_WAIT_POLLOUT) && st->want_write)
			st->fn(st->arg, st, STREAM_WRITABLE);
		if (!st->dead && (r & (CURL_WAIT_POLLIN | CURL_WAIT_POLLPRI)))
			st->fn(st->arg, st, STREAM_READABLE);
	}
	l->depth--;
	if (l->depth == 0)
		streams_sweep(l);
}

int
stream_open(struct transport_loop *l, const char *name, const char *host,
    int port, const struct transport_tls *tls, int64_t connect_timeout_ms,
    stream_fn fn, void *arg, struct http_stream **out)
{
	struct http_stream *st;
	CURLcode cc = CURLE_OK;
	char url[400];
	bool v6 = strchr(host, ':') != NULL && host[0] != '[';
	int rc;
	CURL *e;

	*out = NULL;
	if (l->nstreams == MAX_STREAMS)
		return -ENOSPC;
	if ((rc = loop_curl(l)) != 0)
		return rc;
	if ((size_t)snprintf(url, sizeof(url), "%s://%s%s%s:%d/",
	    tls != NULL ? "https" : "http", v6 ? "[" : "", host, v6 ? "]" : "",
	    port) >= sizeof(url))
		return -EINVAL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return -ENOMEM;
	if ((st->name = strdup(name)) == NULL || (e = curl_easy_init()) ==
	    NULL) {
		free(st->name);
		free(st);
		return -ENOMEM;
	}
	st->loop = l;
	st->easy = e;
	st->sock = CURL_SOCKET_BAD;
	st->fn = fn;
	st->arg = arg;
	snprintf(st->peer, sizeof(st->peer), "%s%s%s:%d", v6 ? "[" : "",
	    host, v6 ? "]" : "", port);
#define SET(opt, val)	do { if (cc == CURLE_OK) cc = curl_easy_setopt(e, \
	    opt, val); } while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_CONNECT_ONLY, 1L);
	SET(CURLOPT_ERRORBUFFER, st->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout_ms);
	SET(CURLOPT_PROTOCOLS_STR, "https,http");
	/* A connection of its own, never one of the HTTP outputs' kept ones.
	 * (Not CURLOPT_FORBID_REUSE: curl would close it as soon as it is
	 * connected.  curl never lends a connect-only connection to another
	 * transfer, and closes it when the handle leaves the multi.) */
	SET(CURLOPT_FRESH_CONNECT, 1L);
	if (tls != NULL) {
		SET(CURLOPT_SSL_SESSIONID_CACHE, 0L);
		SET(CURLOPT_SSL_VERIFYPEER, tls->verify ? 1L : 0L);
		SET(CURLOPT_SSL_VERIFYHOST, tls->verify ? 2L : 0L);
		SET(CURLOPT_SSLVERSION, tls->min_version >= 13 ?
		    CURL_SSLVERSION_TLSv1_3 : CURL_SSLVERSION_TLSv1_2);
		for (size_t i = 0; i < sizeof(tls_paths) / sizeof(tls_paths[0]);
		    i++) {
			const char *v = *(const char *const *)(const void *)
			    ((const char *)tls + tls_paths[i].off);
			if (v != NULL)
				SET(tls_paths[i].opt, v);
		}
#ifdef _WIN32
		if (tls->ca_file == NULL && tls->ca_path == NULL)
			SET(CURLOPT_SSL_OPTIONS, (long)CURLSSLOPT_NATIVE_CA);
#endif
	}
	/* The protocol is not HTTP: an HTTP proxy from the environment
	 * (http_proxy) must not be asked to carry it. */
	if (tls == NULL || tls->proxy == NULL)
		SET(CURLOPT_PROXY, "");
#undef SET
	if (cc != CURLE_OK || curl_multi_add_handle(l->multi, e) !=
	    CURLM_OK) {
		curl_easy_cleanup(e);
		free(st->name);
		free(st);
		return cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	}
	st->in_multi = true;
	l->streams[l->nstreams++] = st;
	*out = st;
	return 0;
}

int
stream_send(struct http_stream *st, const void *p, size_t len, size_t *done)
{
	CURLcode cc;

	*done = 0;
	if (st->dead || !st->connected)
		return -EPIPE;
	cc = curl_easy_send(st->easy, p, len, done);
	if (cc == CURLE_AGAIN)
		return -EAGAIN;
	if (cc != CURLE_OK) {
		snprintf(st->error, sizeof(st->error), "sending to %s: %s",
		    st->peer, curl_easy_strerror(cc));
		return -EPIPE;
	}
	return 0;
}

int
stream_recv(struct http_stream *st, void *p, size_t cap, size_t *got)
{
	CURLcode cc;

	*got = 0;
	if (st->dead || !st->connected)
		return -EPIPE;
	cc = curl_easy_recv(st->easy, p, cap, got);
	if (cc == CURLE_AGAIN)
		return -EAGAIN;
	if (cc != CURLE_OK) {
		snprintf(st->error, sizeof(st->error), "reading from %s: %s",
		    st->peer, curl_easy_strerror(cc));
		return -EPIPE;
	}
	if (*got == 0) {
		snprintf(st->error, sizeof(st->error), "%s closed the "
		    "connection", st->peer);
		return -EPIPE;
	}
	return 0;
}

void
stream_want_write(struct http_stream *st, bool want)
{
	st->want_write = want;
}

const char *
stream_error(const struct http_stream *st)
{
	return st->error[0] != '\0' ? st->error : "no error";
}

const char *
stream_local_ip(const struct http_stream *st)
{
	return st->local_ip;
}

const char *
stream_peer(const struct http_stream *st)
{
	return st->peer;
}

void
stream_close(struct http_stream *st)
{
	if (st == NULL || st->dead)
		return;
	st->dead = true;
	if (st->in_multi) {
		curl_multi_remove_handle(st->loop->multi, st->easy);
		st->in_multi = false;
	}
	curl_easy_cleanup(st->easy);
	st->easy = NULL;
	if (st->loop->depth == 0)
		stream_free(st);
}
