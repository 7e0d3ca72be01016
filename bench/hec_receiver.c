/*
 * hec_receiver.c - a fast Splunk HEC (or Elasticsearch bulk) receiver for
 * the benchmarks: HTTPS on loopback, keep-alive HTTP/1.1, one thread per
 * connection.
 *
 * HEC mode (bench/hec_bench.py): gunzips each request and counts its
 * "event" keys, answers {"text":"Success","code":0} (and code 17 for the
 * health check).  It checks nothing.
 *
 * Elasticsearch mode, --es (bench/es_bench.py): answers GET / (the
 * cluster's name and version) and GET /_index_template/NAME (found);
 * POST /_bulk... bodies (gzip when Content-Encoding says so, else plain
 * NDJSON) are counted as items = '\n'-terminated lines / 2 and checked:
 * the body ends with '\n', holds an even number of lines, and every action
 * line starts with {"create":.  Any other request, a body that does not
 * gunzip or a failed check is a violation (the first few are described on
 * standard error).  Every bulk request is answered {"errors":false}.
 *
 * Record ids, --ids FILE (bench/kill_soak.py): in HEC mode, every
 * <EventRecordID>N</EventRecordID> of a request's (decompressed) body is
 * appended to FILE as "N\n" once the whole request has arrived and before
 * it is answered (a request cut by a killed client is not counted); the
 * events of the request that carry no record id (gap documents, errors)
 * are counted apart, and gap documents (sourcetype sysmonfwd:gap) too.
 * SIGUSR1 then prints "EVENTS IDS NOID GAPS REQUESTS UNIQUE\n" (UNIQUE:
 * distinct record ids below 2^26 seen so far).
 *
 * Indexer acknowledgement, --ack: each event request is answered with an
 * "ackId" (counted from 0, one counter for every channel), and POST
 * /services/collector/ack answers every ackId it is asked about as true
 * (the events were stored when the request arrived).
 *
 * Not a test server (tests/integration/hec_server.py and es_server.py
 * are): it only counts and checks cheaply, so that the benchmark measures
 * the agent, not a Python receiver sharing the two cores.
 *
 *   hec_receiver [--es] [--ids FILE] [--ack] CERT KEY
 *        prints "PORT\n", then serves until killed; SIGUSR1 prints the
 *        count so far ("EVENTS\n"; with --es "ITEMS VIOLATIONS
 *        REQUESTS PLAIN WIRE\n": bulk requests, and the bytes of their
 *        bodies decompressed and as received).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

static SSL_CTX *ctx;
static int es_mode;
static atomic_ullong counted;
static atomic_ullong violations;
static atomic_ullong bulks;
static atomic_ullong plain_bytes;	/* bulk bodies, decompressed */
static atomic_ullong wire_bytes;	/* bulk bodies as received */
static volatile sig_atomic_t report;
static FILE *ids_file;			/* --ids */
static pthread_mutex_t ids_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ullong ids_seen, noid_events, gap_events, requests;
static atomic_ullong unique_ids;
static unsigned char *seen;		/* seen[id]: id received (under lock) */
static size_t seen_cap;
#define SEEN_MAX	((size_t)1 << 26)
static int ack_mode;			/* --ack */
static atomic_ullong next_ack_id;

static void
on_usr1(int sig)
{
	(void)sig;
	report = 1;
}

/* Count occurrences of "\"event\"" in p[0..n). */
static unsigned long long
count_events(const unsigned char *p, size_t n)
{
	static const char key[] = "\"event\"";
	unsigned long long c = 0;
	const unsigned char *end = p + n;

	while (p < end) {
		const unsigned char *q = memmem(p, (size_t)(end - p), key, 7);
		if (q == NULL)
			break;
		c++;
		p = q + 7;
	}
	return c;
}

static int
gunzip(const unsigned char *in, size_t len, unsigned char **out,
    size_t *cap, size_t *outlen)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return -1;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	*outlen = 0;
	do {
		if (*cap - *outlen < 65536) {
			size_t nc = *cap != 0 ? *cap * 2 : 1 << 20;
			unsigned char *n = realloc(*out, nc);
			if (n == NULL) {
				inflateEnd(&z);
				return -1;
			}
			*out = n;
			*cap = nc;
		}
		z.next_out = *out + *outlen;
		z.avail_out = (uInt)(*cap - *outlen);
		rc = inflate(&z, Z_NO_FLUSH);
		*outlen = *cap - z.avail_out;
	} while (rc == Z_OK);
	inflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

/* A violation of the Elasticsearch mode: counted; the first few told. */
static void
violation(const char *what, const unsigned char *at, size_t len)
{
	unsigned long long n = atomic_fetch_add(&violations, 1);

	if (n < 10)
		fprintf(stderr, "hec_receiver: violation: %s: %.*s\n", what,
		    (int)(len < 120 ? len : 120), at != NULL ?
		    (const char *)at : "");
}

/* Whether header NAME (lower case, with the leading "\n" and the ':')
 * of the head [p, p + hlen) holds VALUE (case-insensitive). */
static int
header_has(const unsigned char *p, size_t hlen, const char *name,
    const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	for (const unsigned char *q = p; q + nl <= p + hlen; q++) {
		const unsigned char *v, *e;

		if (strncasecmp((const char *)q, name, nl) != 0)
			continue;
		v = q + nl;
		e = memchr(v, '\r', (size_t)(p + hlen - v));
		if (e == NULL)
			e = p + hlen;
		for (; v + vl <= e; v++)
			if (strncasecmp((const char *)v, value, vl) == 0)
				return 1;
	}
	return 0;
}

/* Count the items of a bulk body and check its shape. */
static void
count_bulk(const unsigned char *p, size_t n)
{
	static const char create[] = "{\"create\":";
	const unsigned char *end = p + n;
	unsigned long long lines = 0;

	if (n == 0 || p[n - 1] != '\n') {
		violation("bulk body empty or not ending with a newline",
		    n > 120 ? end - 120 : p, n > 120 ? 120 : n);
		if (n == 0)
			return;
	}
	while (p < end) {
		const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			break;		/* unterminated tail: told above */
		if ((lines & 1) == 0 && ((size_t)(nl - p) < sizeof(create) - 1
		    || memcmp(p, create, sizeof(create) - 1) != 0))
			violation("action line not {\"create\":", p,
			    (size_t)(nl - p));
		lines++;
		p = nl + 1;
	}
	if (lines & 1)
		violation("odd number of bulk lines", NULL, 0);
	atomic_fetch_add(&counted, lines / 2);
	atomic_fetch_add(&bulks, 1);
	atomic_fetch_add(&plain_bytes, n);
}

/* The answer of the Elasticsearch mode to the request in buf. */
static const char *
es_answer(const unsigned char *buf, size_t hlen, const unsigned char *body,
    size_t blen, unsigned char **plain, size_t *pcap, char *tmp,
    size_t tmplen, int *status)
{
	static const char info[] = "{\"name\":\"bench\",\"cluster_name\":"
	    "\"bench\",\"version\":{\"number\":\"8.15.0\"}}";
	static const char tplpfx[] = "GET /_index_template/";
	const unsigned char *eol = memchr(buf, '\r', hlen);
	size_t ll = eol != NULL ? (size_t)(eol - buf) : hlen, plen;

	*status = 200;
	if (ll >= 6 && memcmp(buf, "GET / ", 6) == 0)
		return info;
	if (ll > sizeof(tplpfx) - 1 &&
	    memcmp(buf, tplpfx, sizeof(tplpfx) - 1) == 0) {
		const unsigned char *nm = buf + sizeof(tplpfx) - 1;
		size_t k = 0;

		while (nm + k < buf + ll && nm[k] != ' ' && nm[k] != '?' &&
		    nm[k] != '"' && nm[k] != '\\' && k < 200)
			k++;
		snprintf(tmp, tmplen, "{\"index_templates\":[{\"name\":"
		    "\"%.*s\"}]}", (int)k, (const char *)nm);
		return tmp;
	}
	if (ll >= 12 && (memcmp(buf, "POST /_bulk?", 12) == 0 ||
	    memcmp(buf, "POST /_bulk ", 12) == 0)) {
		atomic_fetch_add(&wire_bytes, blen);
		if (header_has(buf, hlen, "\ncontent-encoding:", "gzip")) {
			if (gunzip(body, blen, plain, pcap, &plen) == 0)
				count_bulk(*plain, plen);
			else
				violation("body does not gunzip", NULL, 0);
		} else {
			count_bulk(body, blen);
		}
		return "{\"errors\":false}";
	}
	violation("unexpected request", buf, ll);
	*status = 404;
	return "{\"error\":{\"type\":\"bench\",\"reason\":\"not served\"},"
	    "\"status\":404}";
}

/* Note id as seen; the caller holds ids_lock. */
static void
see(unsigned long long id)
{
	if (id >= SEEN_MAX)
		return;
	if (id >= seen_cap) {
		size_t nc = seen_cap != 0 ? seen_cap : 1 << 16;
		unsigned char *n;

		while (nc <= id)
			nc *= 2;
		if ((n = realloc(seen, nc)) == NULL)
			abort();
		memset(n + seen_cap, 0, nc - seen_cap);
		seen = n;
		seen_cap = nc;
	}
	if (!seen[id]) {
		seen[id] = 1;
		atomic_fetch_add(&unique_ids, 1);
	}
}

/* --ids: write the record ids of one request's body p[0..n) to ids_file
 * (one write under the lock, flushed) and count the events without one. */
static void
record_ids(const unsigned char *p, size_t n, unsigned long long events)
{
	static const char tag[] = "<EventRecordID>";
	static const char gap[] = "sysmonfwd:gap";
	const unsigned char *end = p + n, *q = p;
	char *out = NULL;
	size_t olen = 0;
	unsigned long long ids = 0, gaps = 0;
	FILE *m = open_memstream(&out, &olen);
	unsigned long long *list = NULL;
	size_t nlist = 0, caplist = 0;

	if (m == NULL)
		abort();
	while ((q = memmem(q, (size_t)(end - q), tag, sizeof(tag) - 1))
	    != NULL) {
		const unsigned char *d = q + sizeof(tag) - 1;
		unsigned long long id = 0;

		while (d < end && *d >= '0' && *d <= '9')
			id = id * 10 + (unsigned long long)(*d++ - '0');
		if (d > q + sizeof(tag) - 1) {
			fprintf(m, "%llu\n", id);
			ids++;
			if (nlist == caplist) {
				caplist = caplist != 0 ? caplist * 2 : 1024;
				list = realloc(list, caplist * sizeof(*list));
				if (list == NULL)
					abort();
			}
			list[nlist++] = id;
		}
		q = d;
	}
	for (q = p; (q = memmem(q, (size_t)(end - q), gap, sizeof(gap) - 1))
	    != NULL; q += sizeof(gap) - 1)
		gaps++;
	fclose(m);
	pthread_mutex_lock(&ids_lock);
	if (fwrite(out, 1, olen, ids_file) != olen || fflush(ids_file) != 0) {
		perror("hec_receiver: --ids");
		exit(1);
	}
	for (size_t i = 0; i < nlist; i++)
		see(list[i]);
	atomic_fetch_add(&ids_seen, ids);
	atomic_fetch_add(&noid_events, events > ids ? events - ids : 0);
	atomic_fetch_add(&gap_events, gaps);
	atomic_fetch_add(&counted, events);
	atomic_fetch_add(&requests, 1);
	pthread_mutex_unlock(&ids_lock);
	free(out);
	free(list);
}

/* --ack: the answer to POST /services/collector/ack {"acks":[1,2,...]}:
 * {"acks":{"1":true,"2":true,...}} in *out (malloc'd). */
static const char *
ack_answer(const unsigned char *p, size_t n, char **out)
{
	const unsigned char *end = p + n;
	const unsigned char *q = memchr(p, '[', n);
	size_t cap = 64 + n * 8, len;
	char *a = malloc(cap);

	if (a == NULL)
		abort();
	len = (size_t)snprintf(a, cap, "{\"acks\":{");
	while (q != NULL && q < end && *q != ']') {
		unsigned long long id = 0;
		int digits = 0;

		while (q < end && (*q < '0' || *q > '9') && *q != ']')
			q++;
		while (q < end && *q >= '0' && *q <= '9') {
			id = id * 10 + (unsigned long long)(*q++ - '0');
			digits++;
		}
		if (digits > 0 && len + 40 < cap)
			len += (size_t)snprintf(a + len, cap - len,
			    "%s\"%llu\":true", a[len - 1] == '{' ? "" : ",",
			    id);
	}
	snprintf(a + len, cap - len, "}}");
	*out = a;
	return a;
}

static void *
serve(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1;
	SSL *ssl = SSL_new(ctx);
	unsigned char *buf = NULL, *plain = NULL;
	size_t cap = 0, len = 0, pcap = 0, plen;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) <= 0)
		goto out;
	for (;;) {
		unsigned char *hend;
		size_t hlen, body = 0;
		const char *ans;
		char *ans_buf = NULL, resp[512], tmp[320];
		int n, rlen, status = 200;

		while (buf == NULL ||
		    (hend = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
			if (cap - len < 65536) {
				size_t nc = cap != 0 ? cap * 2 : 1 << 20;
				unsigned char *nb = realloc(buf, nc);
				if (nb == NULL)
					goto out;
				buf = nb;
				cap = nc;
			}
			if ((n = SSL_read(ssl, buf + len, (int)(cap - len))) <= 0)
				goto out;
			len += (size_t)n;
		}
		hlen = (size_t)(hend - buf) + 4;
		for (unsigned char *p = buf; p < hend; p++)
			if (strncasecmp((const char *)p, "\ncontent-length:", 16)
			    == 0)
				body = strtoul((const char *)p + 16, NULL, 10);
		while (len < hlen + body) {
			if (cap < hlen + body + 1) {
				unsigned char *nb = realloc(buf, hlen + body + 1);
				if (nb == NULL)
					goto out;
				buf = nb;
				cap = hlen + body + 1;
			}
			if ((n = SSL_read(ssl, buf + len, (int)(cap - len))) <= 0)
				goto out;
			len += (size_t)n;
		}
		if (es_mode) {
			ans = es_answer(buf, hlen, buf + hlen, body, &plain,
			    &pcap, tmp, sizeof(tmp), &status);
		} else if (memcmp(buf, "GET", 3) == 0) {
			ans = "{\"text\":\"HEC is healthy\",\"code\":17}";
		} else if (ack_mode && hlen > 27 &&
		    memcmp(buf, "POST /services/collector/ack", 28) == 0) {
			const unsigned char *b = buf + hlen;
			size_t bl = body;

			if (header_has(buf, hlen, "\ncontent-encoding:",
			    "gzip") && gunzip(buf + hlen, body, &plain, &pcap,
			    &plen) == 0) {
				b = plain;
				bl = plen;
			}
			ans = ack_answer(b, bl, &ans_buf);
		} else {
			const unsigned char *b = buf + hlen;
			size_t bl = body;

			if (memmem(buf, hlen, "gzip", 4) != NULL) {
				if (gunzip(buf + hlen, body, &plain, &pcap,
				    &plen) == 0) {
					b = plain;
					bl = plen;
				} else {
					bl = 0;
				}
			}
			if (ids_file != NULL)
				record_ids(b, bl, count_events(b, bl));
			else
				atomic_fetch_add(&counted, count_events(b, bl));
			if (ack_mode) {
				snprintf(tmp, sizeof(tmp), "{\"text\":"
				    "\"Success\",\"code\":0,\"ackId\":%llu}",
				    (unsigned long long)
				    atomic_fetch_add(&next_ack_id, 1));
				ans = tmp;
			} else {
				ans = "{\"text\":\"Success\",\"code\":0}";
			}
		}
		if (ans_buf != NULL) {
			char *r = NULL;

			rlen = asprintf(&r, "HTTP/1.1 %d %s\r\nContent-Type: "
			    "application/json\r\nContent-Length: %zu\r\n\r\n"
			    "%s", status, status == 200 ? "OK" : "Not Found",
			    strlen(ans), ans);
			free(ans_buf);
			if (rlen < 0)
				goto out;
			n = SSL_write(ssl, r, rlen);
			free(r);
			if (n <= 0)
				goto out;
		} else {
			rlen = snprintf(resp, sizeof(resp), "HTTP/1.1 %d %s"
			    "\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\n\r\n%s", status,
			    status == 200 ? "OK" : "Not Found", strlen(ans),
			    ans);
			if (SSL_write(ssl, resp, rlen) <= 0)
				goto out;
		}
		memmove(buf, buf + hlen + body, len - hlen - body);
		len -= hlen + body;
	}
out:
	SSL_free(ssl);
	close(fd);
	free(buf);
	free(plain);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int ls, one = 1;

	while (argc > 3) {
		if (strcmp(argv[1], "--es") == 0) {
			es_mode = 1;
		} else if (strcmp(argv[1], "--ack") == 0) {
			ack_mode = 1;
		} else if (strcmp(argv[1], "--ids") == 0 && argc > 4) {
			if ((ids_file = fopen(argv[2], "a")) == NULL) {
				perror(argv[2]);
				return 1;
			}
			argv++;
			argc--;
		} else {
			break;
		}
		argv++;
		argc--;
	}
	if (argc != 3 || (es_mode && (ack_mode || ids_file != NULL))) {
		fprintf(stderr, "usage: hec_receiver [--es] [--ids FILE] "
		    "[--ack] CERT KEY\n");
		return 2;
	}
	struct sigaction act;
	sigset_t usr1, waitmask;

	memset(&act, 0, sizeof(act));
	act.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &act, NULL);
	act.sa_handler = on_usr1;	/* no SA_RESTART: ppoll() returns */
	sigaction(SIGUSR1, &act, NULL);
	/* SIGUSR1 stays blocked but in the main thread's ppoll(): a serving
	 * thread (which inherits the mask) never takes it, so the report is
	 * never left waiting for the next connection. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, &waitmask);
	sigdelset(&waitmask, SIGUSR1);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(ls, 16) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) != 0) {
		perror("hec_receiver");
		return 1;
	}
	printf("%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		struct pollfd pfd = { .fd = ls, .events = POLLIN };
		pthread_t t;
		int fd = -1;

		if (ppoll(&pfd, 1, NULL, &waitmask) < 0 && errno != EINTR) {
			perror("ppoll");
			return 1;
		}
		if (pfd.revents & POLLIN)
			fd = accept(ls, NULL, NULL);
		else
			errno = EINTR;
		if (report) {
			report = 0;
			if (ids_file != NULL)
				printf("%llu %llu %llu %llu %llu %llu\n",
				    (unsigned long long)atomic_load(&counted),
				    (unsigned long long)atomic_load(&ids_seen),
				    (unsigned long long)atomic_load(&noid_events),
				    (unsigned long long)atomic_load(&gap_events),
				    (unsigned long long)atomic_load(&requests),
				    (unsigned long long)atomic_load(&unique_ids));
			else if (es_mode)
				printf("%llu %llu %llu %llu %llu\n",
				    (unsigned long long)atomic_load(&counted),
				    (unsigned long long)atomic_load(&violations),
				    (unsigned long long)atomic_load(&bulks),
				    (unsigned long long)atomic_load(&plain_bytes),
				    (unsigned long long)atomic_load(&wire_bytes));
			else
				printf("%llu\n",
				    (unsigned long long)atomic_load(&counted));
			fflush(stdout);
		}
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("accept");
			return 1;
		}
		if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) == 0)
			pthread_detach(t);
		else
			close(fd);
	}
}
