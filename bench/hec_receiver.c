/*
 * hec_receiver.c - a fast Splunk HEC receiver for the benchmark: HTTPS on
 * loopback, one thread per connection, gunzips each request and counts
 * its "event" keys, answers {"text":"Success","code":0} (and code 17 for
 * the health check).  Not a test server (tests/integration/hec_server.py
 * is): it checks nothing, so that the benchmark measures the agent, not a
 * Python receiver sharing the two cores.
 *
 *   hec_receiver CERT KEY      prints "PORT\n", then serves until killed;
 *                              SIGUSR1 prints the count so far.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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
static atomic_ullong counted;
static volatile sig_atomic_t report;

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
		char resp[256];
		int n, rlen;

		while ((hend = memmem(buf, len, "\r\n\r\n", 4)) == NULL ||
		    buf == NULL) {
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
		if (memcmp(buf, "GET", 3) == 0) {
			ans = "{\"text\":\"HEC is healthy\",\"code\":17}";
		} else {
			if (memmem(buf, hlen, "gzip", 4) != NULL) {
				if (gunzip(buf + hlen, body, &plain, &pcap,
				    &plen) == 0)
					atomic_fetch_add(&counted,
					    count_events(plain, plen));
			} else {
				atomic_fetch_add(&counted,
				    count_events(buf + hlen, body));
			}
			ans = "{\"text\":\"Success\",\"code\":0}";
		}
		rlen = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n"
		    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		    "\r\n%s", strlen(ans), ans);
		if (SSL_write(ssl, resp, rlen) <= 0)
			goto out;
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

	if (argc != 3) {
		fprintf(stderr, "usage: hec_receiver CERT KEY\n");
		return 2;
	}
	struct sigaction act;

	memset(&act, 0, sizeof(act));
	act.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &act, NULL);
	act.sa_handler = on_usr1;	/* no SA_RESTART: accept() returns */
	sigaction(SIGUSR1, &act, NULL);
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
		pthread_t t;
		int fd = accept(ls, NULL, NULL);

		if (report) {
			report = 0;
			printf("%llu\n", (unsigned long long)atomic_load(&counted));
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
