/*
 * smoke.c - proves the Windows libraries that build-deps.sh builds work
 * when linked statically into one exe, run under Wine by smoke.sh.
 *
 *   smoke.exe PORT GOOD_CA WRONG_CA
 *
 * PORT is a local HTTPS server (127.0.0.1) whose certificate GOOD_CA
 * signed; WRONG_CA did not sign it. Prints each library's version, then
 * one line per check, then "smoke: N passed, N failed"; exits 0 only if
 * every check passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winsock2.h>
#include <ws2tcpip.h>

#include <curl/curl.h>
#include <expat.h>
#include <cJSON.h>
#include <ini.h>
#include <microhttpd.h>
#include <libevtx.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <zlib.h>

#ifndef SMOKE_INIH_VERSION
#define SMOKE_INIH_VERSION "?"
#endif

static int passed, failed;

static void check(int ok, const char *what, const char *detail)
{
	printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what,
	       detail && *detail ? ": " : "", detail ? detail : "");
	if (ok)
		passed++;
	else
		failed++;
}

/* ---- curl -------------------------------------------------------------- */

struct buf {
	char data[256];
	size_t len;
	CURL *curl;
	char *tls;		/* if set: the TLS version and cipher go here */
	size_t tlslen;
};

static size_t on_body(char *ptr, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;
	size_t len = size * n;
	size_t room = sizeof(b->data) - 1 - b->len;
	struct curl_tlssessioninfo *si = NULL;

	memcpy(b->data + b->len, ptr, len < room ? len : room);
	b->len += len < room ? len : room;
	b->data[b->len] = '\0';
	/* the SSL pointer is valid while the transfer runs */
	if (b->tls &&
	    curl_easy_getinfo(b->curl, CURLINFO_TLS_SSL_PTR, &si) == CURLE_OK &&
	    si && si->backend == CURLSSLBACKEND_OPENSSL && si->internals)
		snprintf(b->tls, b->tlslen, "%s %s",
			 SSL_get_version(si->internals),
			 SSL_get_cipher_name(si->internals));
	return len;
}

/* GET url; returns the CURLcode, fills body, status and the TLS version */
static CURLcode get(const char *url, const char *cafile, struct buf *body,
		    long *status, char *tls, size_t tlslen)
{
	CURL *c = curl_easy_init();
	CURLcode rc;

	if (c == NULL)
		return CURLE_FAILED_INIT;
	memset(body, 0, sizeof(*body));
	body->curl = c;
	body->tls = tls;
	body->tlslen = tlslen;
	*status = 0;
	if (tls)
		snprintf(tls, tlslen, "-");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (cafile)
		curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	return rc;
}

static void check_https(const char *port, const char *good_ca,
			const char *wrong_ca)
{
	char url[128], detail[512], tls[128];
	struct buf body;
	long status;
	CURLcode rc;

	snprintf(url, sizeof(url), "https://127.0.0.1:%s/smoke", port);

	rc = get(url, good_ca, &body, &status, tls, sizeof(tls));
	snprintf(detail, sizeof(detail), "%s -> %d (%s), HTTP %ld, %s, body %lu bytes",
		 url, (int)rc, curl_easy_strerror(rc), status, tls, (unsigned long)body.len);
	check(rc == CURLE_OK && status == 200 &&
	      strcmp(body.data, "sysmonfwd-smoke\n") == 0,
	      "curl+OpenSSL HTTPS GET, certificate verified with the test CA",
	      detail);
	check(strncmp(tls, "TLSv1.3 ", 8) == 0, "TLS 1.3 negotiated", tls);

	rc = get(url, wrong_ca, &body, &status, NULL, 0);
	snprintf(detail, sizeof(detail), "%d (%s)", (int)rc,
		 curl_easy_strerror(rc));
	check(rc == CURLE_PEER_FAILED_VERIFICATION,
	      "curl+OpenSSL HTTPS GET refused with the wrong CA", detail);
}

/* ---- libmicrohttpd ------------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	static const char text[] = "mhd-ok\n";
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls; (void)url; (void)version; (void)upload;
	(void)upload_size; (void)con_cls;
	if (strcmp(method, "GET") != 0)
		return MHD_NO;
	r = MHD_create_response_from_buffer(sizeof(text) - 1, (void *)text,
					    MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void check_mhd(void)
{
	struct sockaddr_in sin;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	char url[128], detail[256];
	struct buf body;
	long status;
	CURLcode rc;
	unsigned port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = 0;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, on_request, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
			     MHD_OPTION_END);
	check(d != NULL, "libmicrohttpd daemon started on 127.0.0.1", NULL);
	if (d == NULL)
		return;
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port = info ? info->port : 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/health", port);
	rc = get(url, NULL, &body, &status, NULL, 0);
	snprintf(detail, sizeof(detail), "%s -> %d, HTTP %ld, body %lu bytes",
		 url, (int)rc, status, (unsigned long)body.len);
	check(rc == CURLE_OK && status == 200 &&
	      strcmp(body.data, "mhd-ok\n") == 0,
	      "libmicrohttpd answered a curl GET", detail);
	MHD_stop_daemon(d);
	check(1, "libmicrohttpd daemon stopped", NULL);
}

/* ---- expat -------------------------------------------------------------- */

struct xml_state {
	int elements;
	int in_event_id;
	char event_id[16];
	char data_name[64];
};

static void XMLCALL on_start(void *ud, const XML_Char *name,
			     const XML_Char **attrs)
{
	struct xml_state *s = ud;

	s->elements++;
	s->in_event_id = strcmp(name, "EventID") == 0;
	for (int i = 0; attrs[i]; i += 2)
		if (strcmp(name, "Data") == 0 && strcmp(attrs[i], "Name") == 0)
			snprintf(s->data_name, sizeof(s->data_name), "%s",
				 attrs[i + 1]);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct xml_state *s = ud;

	(void)name;
	s->in_event_id = 0;
}

static void XMLCALL on_text(void *ud, const XML_Char *text, int len)
{
	struct xml_state *s = ud;
	size_t have = strlen(s->event_id);

	if (s->in_event_id && have + (size_t)len < sizeof(s->event_id))
		memcpy(s->event_id + have, text, (size_t)len);
}

static void check_expat(void)
{
	static const char xml[] =
		"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
		"<System><EventID>1</EventID></System>"
		"<EventData><Data Name='Image'>C:\\Windows\\python.exe</Data>"
		"</EventData></Event>";
	struct xml_state s;
	XML_Parser p = XML_ParserCreate("UTF-8");
	char detail[256];
	int ok;

	memset(&s, 0, sizeof(s));
	XML_SetUserData(p, &s);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	ok = XML_Parse(p, xml, (int)strlen(xml), 1) == XML_STATUS_OK;
	snprintf(detail, sizeof(detail), "%d elements, EventID %s, Data Name %s",
		 s.elements, s.event_id, s.data_name);
	check(ok && s.elements == 5 && strcmp(s.event_id, "1") == 0 &&
	      strcmp(s.data_name, "Image") == 0, "expat parsed an event", detail);
	XML_ParserFree(p);
}

/* ---- cJSON -------------------------------------------------------------- */

static void check_cjson(void)
{
	cJSON *j = cJSON_Parse("{\"winlog\":{\"event_id\":\"1\"},\"n\":[1,2,3]}");
	cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "winlog");
	cJSON *id = cJSON_GetObjectItemCaseSensitive(w, "event_id");
	char *out = j ? cJSON_PrintUnformatted(j) : NULL;

	check(cJSON_IsString(id) && strcmp(id->valuestring, "1") == 0 &&
	      cJSON_GetArraySize(cJSON_GetObjectItem(j, "n")) == 3,
	      "cJSON parsed and printed", out ? out : "(null)");
	cJSON_free(out);
	cJSON_Delete(j);
}

/* ---- inih --------------------------------------------------------------- */

struct ini_state {
	char url[64];
	int pairs;
};

static int on_pair(void *user, const char *section, const char *name,
		   const char *value)
{
	struct ini_state *s = user;

	s->pairs++;
	if (strcmp(section, "output.hec") == 0 && strcmp(name, "url") == 0)
		snprintf(s->url, sizeof(s->url), "%s", value);
	return 1;
}

static void check_inih(void)
{
	struct ini_state s;
	char detail[128];
	int rc;

	memset(&s, 0, sizeof(s));
	rc = ini_parse_string("; comment\n[agent]\nname = smoke\n"
			      "[output.hec]\nurl = https://127.0.0.1:8088\n",
			      on_pair, &s);
	snprintf(detail, sizeof(detail), "rc %d, %d pairs, url %s", rc,
		 s.pairs, s.url);
	check(rc == 0 && s.pairs == 2 &&
	      strcmp(s.url, "https://127.0.0.1:8088") == 0,
	      "inih parsed an INI string", detail);
}

/* ---- OpenSSL, zlib, libevtx ---------------------------------------------- */

static void check_sha256(void)
{
	static const char want[] =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1] = "";

	if (EVP_Digest("abc", 3, md, &len, EVP_sha256(), NULL))
		for (unsigned int i = 0; i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
	check(strcmp(hex, want) == 0, "OpenSSL SHA-256(\"abc\")", hex);
}

/* openssl.cnf is read from OPENSSLDIR (curl asks libssl to load it): it
 * must be a directory only administrators can create */
static void check_openssldir(void)
{
	const char *dir = OpenSSL_version(OPENSSL_DIR);

	check(strcmp(dir, "OPENSSLDIR: \"C:/Program Files/Common Files/SSL\"") == 0,
	      "OpenSSL's configuration directory is under C:/Program Files", dir);
}

static void check_zlib(void)
{
	static const char text[] = "Microsoft-Windows-Sysmon/Operational "
				   "Microsoft-Windows-Sysmon/Operational";
	unsigned char packed[256], back[256];
	uLongf plen = sizeof(packed), blen = sizeof(back);
	char detail[64];
	int ok;

	ok = compress(packed, &plen, (const Bytef *)text, sizeof(text)) == Z_OK &&
	     uncompress(back, &blen, packed, plen) == Z_OK &&
	     blen == sizeof(text) && memcmp(back, text, blen) == 0;
	snprintf(detail, sizeof(detail), "%u -> %lu -> %lu bytes",
		 (unsigned)sizeof(text), (unsigned long)plen,
		 (unsigned long)blen);
	check(ok, "zlib round trip", detail);
}

static void check_evtx(void)
{
	libevtx_file_t *file = NULL;
	libevtx_error_t *error = NULL;
	int ok;

	ok = libevtx_file_initialize(&file, &error) == 1;
	if (ok)
		ok = libevtx_file_free(&file, &error) == 1;
	if (error)
		libevtx_error_free(&error);
	check(ok, "libevtx file object created and freed", NULL);
}

int main(int argc, char **argv)
{
	WSADATA wsa;

	if (argc != 4) {
		fprintf(stderr, "usage: smoke.exe PORT GOOD_CA WRONG_CA\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
		fprintf(stderr, "WSAStartup failed\n");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_ALL);

	printf("OpenSSL       %s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("curl          %s\n", curl_version());
	printf("expat         %s\n", XML_ExpatVersion());
	printf("cJSON         %s\n", cJSON_Version());
	printf("inih          %s\n", SMOKE_INIH_VERSION);
	printf("libmicrohttpd %s\n", MHD_get_version());
	printf("libevtx       %s\n", libevtx_get_version());
	printf("zlib          %s\n", zlibVersion());

	check_sha256();
	check_openssldir();
	check_zlib();
	check_expat();
	check_cjson();
	check_inih();
	check_evtx();
	check_https(argv[1], argv[2], argv[3]);
	check_mhd();

	curl_global_cleanup();
	WSACleanup();
	printf("smoke: %d passed, %d failed\n", passed, failed);
	return failed == 0 && passed > 0 ? 0 : 1;
}
