/*
 * wazuh_proto.c - the Wazuh agent protocol's codec (wazuh_proto.h).
 *
 * Written from wazuh/wazuh at tag v4.14.7, file by file as the header
 * lists; our own code, not theirs.  The same algorithms are written once
 * more in Python, independently, in tests/integration/wazuh_codec.py, and
 * tests/test_wazuh_proto.c checks this file against vectors computed
 * there (tests/tools/wazuh_vectors.py).
 *
 * A message, as CreateSecMSG (src/os_crypto/shared/msgs.c) builds it:
 *
 *   body    "%05hu%010u:%04u:" random, global, local; then the payload
 *   inner   MD5(body) in lower-case hex (32 bytes), then body
 *   comp    compress2(inner, Z_BEST_COMPRESSION)
 *   padded  '!' x (1 + n), n making 1 + n + |comp| a multiple of 8; comp
 *   cipher  AES-256-CBC, PKCS#7, IV "FEDCBA0987654321" (aes_op.c), key
 *           the first 32 bytes of OS_AddKey's encryption_key
 *   msg     ["!" ID "!"] "#AES:" cipher
 *   frame   uint32 little-endian |msg|, then msg (OS_SendSecureTCP)
 *
 * ReadSecMSG undoes it: the '!'s are skipped, zlib stops at the end of
 * its stream, the MD5 covers everything after itself, and the counters
 * are read at fixed places.  Branch 5.0.1 (src/shared/os_crypto/shared/
 * msgs.c) is the same but also refuses a ciphertext shorter than the
 * overhead; nothing we send is.
 */
#include "wazuh_proto.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <zlib.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <sys/utsname.h>
#endif

#define AES_IV		"FEDCBA0987654321"
#define AES_TOKEN	"#AES:"
#define MD5_HEX		32
#define BODY_HEAD	(5 + 10 + 1 + 4 + 1)	/* "%05hu%010u:%04u:" */
#define MSG_OVERHEAD	(MD5_HEX + BODY_HEAD)	/* msgs.c MSG_OVERHEAD */
#define LOCAL_WRAP	9997			/* CreateSecMSG */
#define CONTROL_HEADER	"#!-"
#define HC_ACK		"agent ack "
#define HC_ERROR	"err "
#define HC_STARTUP	"agent startup "
#define HC_SHUTDOWN	"agent shutdown "
#define ANSWER_KEY	"OSSEC K:'"
#define ANSWER_ERROR	"ERROR: "
#define ANSWER_SUFFIX	"Unable to add agent"	/* main-server.c */
#define ANSWER_MAX	4096	/* authd's answers fit in 2048 */

/* ---- small helpers -------------------------------------------------------- */

static void
hex_of(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* OS_MD5_Str: the MD5 of n bytes as 32 hex digits and a NUL. */
static int
md5_hex(const void *p, size_t n, char out[MD5_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(p, n, md, &mdlen, EVP_md5(), NULL) != 1 ||
	    mdlen != 16)
		return -EIO;
	hex_of(md, 16, out);
	return 0;
}

/* tbuf_add, reporting a failed allocation (sticky in b->oom). */
static int
add(struct tbuf *b, const void *p, size_t n)
{
	tbuf_add(b, p, n);
	return b->oom ? -ENOMEM : 0;
}

/* Undo what was appended since len was saved (an error on the way). */
static void
rewind_to(struct tbuf *b, size_t len)
{
	if (b->s != NULL && b->len > len) {
		b->len = len;
		b->s[len] = '\0';
	}
}

/* OS_IsValidName (src/addagent/validate.c): agent names and key texts. */
static bool
valid_name(const char *s, size_t n)
{
	if (n < 2 || n > WZP_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return false;
	}
	return true;
}

static bool
valid_id(const char *s, size_t n)
{
	if (n < 1 || n > WZP_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Groups as authd's w_validate_group_name and w_auth_validate_groups
 * take them: comma-separated names of [A-Za-z0-9_.-], none "." or "..". */
static bool
valid_groups(const char *s)
{
	const char *p = s;

	if (*s == '\0' || strlen(s) > WZP_MAXSTR / 2)
		return false;
	for (;;) {
		size_t n = strcspn(p, ",");

		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)p[i];

			if (!isalnum(c) && c != '_' && c != '.' && c != '-')
				return false;
		}
		if (p[n] == '\0')
			return true;
		p += n + 1;
	}
}

/* ---- addresses: how a key's IP field reads ------------------------------- */

/* One decimal octet of [0-9]{1,3} up to 255; *p advances.  -1 if none. */
static int
octet(const char **p)
{
	int v = 0, n = 0;

	while (n < 3 && isdigit((unsigned char)**p)) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n == 0 || v > 255 ? -1 : v;
}

/* A dotted quad ending at end; its 32-bit value in *v. */
static bool
ipv4(const char *p, const char *end, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int o = octet(&p);

		if (o < 0 || (i < 3 && *p++ != '.'))
			return false;
		*v = *v << 8 | (uint32_t)o;
	}
	return p == end;
}

/*
 * The prefix length OS_IsValidIP (src/shared/validate_op.c) gives the IP
 * field: "any" 0, an IPv4 address 32 unless "/N" or "/A.B.C.D" says
 * otherwise (a dotted mask other than all ones counts as 0 here: only 32
 * matters), -1 for IPv6 (isSingleHost is false for all of them), -2 if
 * the text is no address.
 */
static int
ip_prefix(const char *ip)
{
	const char *slash, *end = ip + strlen(ip);
	uint32_t v;

	if (*ip == '!')
		ip++;
	if (strcmp(ip, "any") == 0)
		return 0;
	if (strlen(ip) > 7 && ip[0] == ':' && ip[1] == ':' &&
	    toupper((unsigned char)ip[2]) == 'F' &&
	    toupper((unsigned char)ip[3]) == 'F' &&
	    toupper((unsigned char)ip[4]) == 'F' &&
	    toupper((unsigned char)ip[5]) == 'F' && ip[6] == ':' &&
	    strchr(ip + 7, ':') == NULL)
		ip += 7;		/* an IPv4 address written as IPv6 */
	slash = strchr(ip, '/');
	if (strchr(ip, ':') == NULL) {
		if (!ipv4(ip, slash ? slash : end, &v))
			return -2;
		if (slash == NULL)
			return 32;
		if (strchr(slash + 1, '.') != NULL)
			return ipv4(slash + 1, end, &v) ?
			    (v == 0xffffffffu ? 32 : 0) : -2;
		if (end - slash < 2 || end - slash > 3)
			return -2;
		for (const char *q = slash + 1; q < end; q++)
			if (!isdigit((unsigned char)*q))
				return -2;
		v = (uint32_t)atoi(slash + 1);
		return v <= 32 ? (int)v : -2;
	}
	/* IPv6: hex groups and colons, at least two colons, "/0-128". */
	{
		size_t colons = 0;
		const char *q;

		for (q = ip; q < (slash ? slash : end); q++) {
			if (*q == ':')
				colons++;
			else if (!isxdigit((unsigned char)*q))
				return -2;
		}
		if (colons < 2 || colons > 7)
			return -2;
		if (slash != NULL) {
			if (end - slash < 2 || end - slash > 4)
				return -2;
			for (q = slash + 1; q < end; q++)
				if (!isdigit((unsigned char)*q))
					return -2;
			if (atoi(slash + 1) > 128)
				return -2;
		}
	}
	return -1;
}

/* ---- keys ----------------------------------------------------------------- */

/*
 * OS_AddKey's derivation: encryption_key = MD5hex(KEY) followed by 15
 * hex digits of MD5hex(MD5hex(NAME) MD5hex(ID)).  EVP_aes_256_cbc reads
 * 32 bytes of it, so the AES key is the ASCII text MD5hex(KEY); the rest
 * only mattered for Blowfish.
 */
static int
derive_aes(struct wzp_key *k)
{
	char hex[MD5_HEX + 1];
	int rc;

	rc = md5_hex(k->key, strlen(k->key), hex);
	if (rc == 0)
		memcpy(k->aes, hex, sizeof(k->aes));
	OPENSSL_cleanse(hex, sizeof(hex));
	return rc;
}

static bool
field(const char **p, const char *end, char sep, char *out, size_t outmax)
{
	const char *q = memchr(*p, sep, (size_t)(end - *p));
	size_t n;

	if (q == NULL)
		q = end;
	n = (size_t)(q - *p);
	if (n > outmax)
		return false;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p = q < end ? q + 1 : q;
	return true;
}

int
wzp_key_parse(const char *line, size_t len, struct wzp_key *k)
{
	const char *p = line, *end;
	int prefix;

	memset(k, 0, sizeof(*k));
	if (memchr(line, '\0', len) != NULL)
		goto invalid;
	end = memchr(line, '\n', len);
	if (end == NULL)
		end = line + len;
	else if (end + 1 != line + len)
		goto invalid;		/* one line, not several */
	if (end > line && end[-1] == '\r')
		end--;
	/* OS_ReadKeys: "ID NAME IP KEY", the key running to the end. */
	if (!field(&p, end, ' ', k->id, WZP_ID_MAX) ||
	    !field(&p, end, ' ', k->name, WZP_NAME_MAX) ||
	    !field(&p, end, ' ', k->ip, WZP_IP_MAX) ||
	    !field(&p, end, '\n', k->key, WZP_KEYTEXT_MAX))
		goto invalid;
	if (!valid_id(k->id, strlen(k->id)) ||
	    !valid_name(k->name, strlen(k->name)) ||
	    !valid_name(k->key, strlen(k->key)))
		goto invalid;
	prefix = ip_prefix(k->ip);
	if (prefix == -2 || k->ip[0] == '!')
		goto invalid;
	/* CreateSecMSG: "!ID!" unless isSingleHost(ip). */
	k->prefix_id = prefix != 32;
	if (derive_aes(k) != 0)
		goto invalid;
	return 0;

invalid:
	wzp_key_wipe(k);
	return -EINVAL;
}

int
wzp_key_line(const struct wzp_key *k, char *out, size_t outlen)
{
	int n;

	n = snprintf(out, outlen, "%s %s %s %s\n", k->id, k->name, k->ip,
	    k->key);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			OPENSSL_cleanse(out, outlen);
		return -ENOSPC;
	}
	return 0;
}

int
wzp_key_hash(const struct wzp_key *k, char out[WZP_KEY_HASH_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int rc = -EIO;

	/* w_get_key_hash: OS_SHA1_strings(id, name, raw_key). */
	out[0] = '\0';
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, k->id, strlen(k->id)) == 1 &&
	    EVP_DigestUpdate(ctx, k->name, strlen(k->name)) == 1 &&
	    EVP_DigestUpdate(ctx, k->key, strlen(k->key)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20) {
		hex_of(md, 20, out);
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

void
wzp_key_wipe(struct wzp_key *k)
{
	if (k != NULL)
		OPENSSL_cleanse(k, sizeof(*k));
}

/* ---- messages ------------------------------------------------------------- */

void
wzp_counter_next(struct wzp_counter *c)
{
	if (c->local >= LOCAL_WRAP) {
		c->local = 0;
		c->global++;
	}
	c->local++;
}

/* AES-256-CBC with Wazuh's fixed IV; out has room for n + 16. */
static int
aes(const struct wzp_key *k, bool enc, const unsigned char *in, size_t n,
    unsigned char *out, size_t *outlen)
{
	EVP_CIPHER_CTX *ctx;
	int l1 = 0, l2 = 0, ok;

	if (n > INT32_MAX - 32)
		return -EMSGSIZE;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -ENOMEM;
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, k->aes,
	    (const unsigned char *)AES_IV, enc ? 1 : 0) == 1 &&
	    EVP_CipherUpdate(ctx, out, &l1, in, (int)n) == 1 &&
	    EVP_CipherFinal_ex(ctx, out + l1, &l2) == 1;
	EVP_CIPHER_CTX_free(ctx);
	*outlen = ok ? (size_t)l1 + (size_t)l2 : 0;
	return ok ? 0 : -EIO;
}

/* "!"x(1+pad) + compress2(md5hex(body) + body, 9), in a new buffer. */
static int
compress_inner(const struct wzp_counter *c, uint16_t rnd, const void *payload,
    size_t len, unsigned char **outp, size_t *outlen)
{
	char head[BODY_HEAD + 1], md5[MD5_HEX + 1];
	unsigned char *inner = NULL, *out = NULL;
	size_t innerlen = MD5_HEX + BODY_HEAD + len, pad;
	uLongf clen;
	int rc;

	if (snprintf(head, sizeof(head), "%05hu%010u:%04u:", rnd,
	    (unsigned)c->global, (unsigned)c->local) != BODY_HEAD)
		return -EINVAL;	/* local over 9999: never from counter_next */
	if ((inner = malloc(innerlen)) == NULL)
		return -ENOMEM;
	memcpy(inner + MD5_HEX, head, BODY_HEAD);
	memcpy(inner + MD5_HEX + BODY_HEAD, payload, len);
	if ((rc = md5_hex(inner + MD5_HEX, BODY_HEAD + len, md5)) != 0)
		goto out_free;
	memcpy(inner, md5, MD5_HEX);
	clen = compressBound((uLong)innerlen);
	/* Room for up to 8 '!' in front, as CreateSecMSG's 8-byte gap. */
	if ((out = malloc(clen + 8)) == NULL) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (compress2(out + 8, &clen, inner, (uLong)innerlen,
	    Z_BEST_COMPRESSION) != Z_OK) {
		rc = -EIO;
		goto out_free;
	}
	pad = (8 - (clen + 1) % 8) % 8;
	memset(out + 8 - 1 - pad, '!', 1 + pad);
	memmove(out, out + 8 - 1 - pad, clen + 1 + pad);
	*outp = out;
	*outlen = clen + 1 + pad;
	out = NULL;
	rc = 0;
out_free:
	free(out);
	free(inner);
	return rc;
}

int
wzp_seal(const struct wzp_key *k, const struct wzp_counter *c, uint16_t rnd,
    const void *payload, size_t len, struct tbuf *out)
{
	unsigned char *plain = NULL, *cipher = NULL, hdr[WZP_FRAME_HDR];
	char prefix[WZP_ID_MAX + 3 + sizeof(AES_TOKEN)];
	size_t plainlen = 0, cipherlen = 0, msglen, start = out->len;
	int n, rc;

	if (out->oom)
		return -ENOMEM;
	if (len < 1 || len > WZP_PAYLOAD_MAX)
		return -EMSGSIZE;
	if ((rc = compress_inner(c, rnd, payload, len, &plain, &plainlen)) != 0)
		return rc;
	if ((cipher = malloc(plainlen + 16)) == NULL) {
		rc = -ENOMEM;
		goto out_free;
	}
	if ((rc = aes(k, true, plain, plainlen, cipher, &cipherlen)) != 0)
		goto out_free;
	n = k->prefix_id ?
	    snprintf(prefix, sizeof(prefix), "!%s!%s", k->id, AES_TOKEN) :
	    snprintf(prefix, sizeof(prefix), "%s", AES_TOKEN);
	if (n < 0 || (size_t)n >= sizeof(prefix)) {
		rc = -EINVAL;
		goto out_free;
	}
	msglen = (size_t)n + cipherlen;
	if (msglen > WZP_FRAME_MAX) {
		rc = -EMSGSIZE;
		goto out_free;
	}
	for (int i = 0; i < WZP_FRAME_HDR; i++)
		hdr[i] = (unsigned char)(msglen >> (8 * i));
	if ((rc = add(out, (const char *)hdr, sizeof(hdr))) != 0 ||
	    (rc = add(out, prefix, (size_t)n)) != 0 ||
	    (rc = add(out, (const char *)cipher, cipherlen)) != 0)
		rewind_to(out, start);
out_free:
	free(cipher);
	if (plain != NULL)
		OPENSSL_cleanse(plain, plainlen);
	free(plain);
	return rc;
}

int
wzp_frame_next(const char *buf, size_t len, size_t *consumed,
    const char **msg, size_t *msglen)
{
	const unsigned char *u = (const unsigned char *)buf;
	uint32_t n;

	*consumed = 0;
	*msg = NULL;
	*msglen = 0;
	if (len < WZP_FRAME_HDR)
		return 0;
	n = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
	    (uint32_t)u[3] << 24;
	if (n > WZP_FRAME_MAX)
		return -EPROTO;
	if (len - WZP_FRAME_HDR < n)
		return 0;
	*msg = buf + WZP_FRAME_HDR;
	*msglen = n;
	*consumed = WZP_FRAME_HDR + n;
	return 1;
}

/* Ten or four digits at p: the counters as %010u and %04u wrote them. */
static bool
digits(const unsigned char *p, size_t n, uint32_t *v)
{
	uint64_t x = 0;

	for (size_t i = 0; i < n; i++) {
		if (!isdigit(p[i]))
			return false;
		x = x * 10 + (uint64_t)(p[i] - '0');
	}
	if (x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

/* Inflate src into a new buffer of at most WZP_MAXSTR bytes. */
static int
inflate_max(const unsigned char *src, size_t n, unsigned char **outp,
    size_t *outlen)
{
	unsigned char *out;
	uLongf dlen = WZP_MAXSTR;
	int zr;

	if ((out = malloc(WZP_MAXSTR)) == NULL)
		return -ENOMEM;
	zr = uncompress(out, &dlen, src, (uLong)n);
	if (zr == Z_MEM_ERROR) {
		free(out);
		return -ENOMEM;
	}
	if (zr != Z_OK) {
		free(out);
		return -EBADMSG;
	}
	*outp = out;
	*outlen = dlen;
	return 0;
}

/* The part of wzp_open() after the AES: clear is "!...!" + zlib. */
static int
open_clear(const unsigned char *clear, size_t n, struct tbuf *plain,
    struct wzp_counter *c)
{
	unsigned char *inner = NULL;
	char md5[MD5_HEX + 1];
	size_t i = 0, innerlen = 0;
	struct wzp_counter got;
	int rc;

	if (n == 0 || clear[0] != '!')
		return -EBADMSG;	/* the old, uncompressed format */
	while (i < n && clear[i] == '!')
		i++;
	if ((rc = inflate_max(clear + i, n - i, &inner, &innerlen)) != 0)
		return rc;
	rc = -EBADMSG;
	if (innerlen < MSG_OVERHEAD)
		goto out_free;
	if (md5_hex(inner + MD5_HEX, innerlen - MD5_HEX, md5) != 0 ||
	    memcmp(md5, inner, MD5_HEX) != 0)
		goto out_free;
	/* After the MD5: 5 random digits, global, ':', local, ':'. */
	if (!digits(inner + MD5_HEX + 5, 10, &got.global) ||
	    inner[MD5_HEX + 15] != ':' ||
	    !digits(inner + MD5_HEX + 16, 4, &got.local) ||
	    inner[MD5_HEX + 20] != ':')
		goto out_free;
	if ((rc = add(plain, (const char *)inner + MSG_OVERHEAD,
	    innerlen - MSG_OVERHEAD)) != 0)
		goto out_free;
	if (c != NULL)
		*c = got;
out_free:
	free(inner);
	return rc;
}

int
wzp_open(const struct wzp_key *k, const char *msg, size_t len,
    struct tbuf *plain, struct wzp_counter *c)
{
	const char *p = msg, *end = msg + len;
	unsigned char *clear;
	size_t clearlen = 0, start = plain->len;
	int rc;

	if (plain->oom)
		return -ENOMEM;
	if (len > 0 && *p == '!') {
		/* remoted's form for agents without a fixed address. */
		const char *q = ++p;

		while (q < end && isdigit((unsigned char)*q))
			q++;
		if (q == end || *q != '!' || (size_t)(q - p) !=
		    strlen(k->id) || memcmp(p, k->id, (size_t)(q - p)) != 0)
			return -EBADMSG;
		p = q + 1;
	}
	if ((size_t)(end - p) < sizeof(AES_TOKEN) - 1 ||
	    memcmp(p, AES_TOKEN, sizeof(AES_TOKEN) - 1) != 0)
		return -EBADMSG;
	p += sizeof(AES_TOKEN) - 1;
	if (end == p || (end - p) % 16 != 0)
		return -EBADMSG;
	if ((clear = malloc((size_t)(end - p) + 16)) == NULL)
		return -ENOMEM;
	rc = aes(k, false, (const unsigned char *)p, (size_t)(end - p), clear,
	    &clearlen);
	if (rc == -EIO)
		rc = -EBADMSG;		/* bad padding: the wrong key */
	if (rc == 0)
		rc = open_clear(clear, clearlen, plain, c);
	if (rc != 0 && rc != -ENOMEM)
		rewind_to(plain, start);
	OPENSSL_cleanse(clear, (size_t)(end - p) + 16);
	free(clear);
	return rc;
}

/* ---- enrollment ----------------------------------------------------------- */

static bool
valid_hash(const char *s)
{
	if (strlen(s) != WZP_KEY_HASH_LEN)
		return false;
	for (; *s != '\0'; s++)
		if (!isxdigit((unsigned char)*s))
			return false;
	return true;
}

int
wzp_enroll_request(const char *name, const char *groups, const char *password,
    const char *key_hash, struct tbuf *out)
{
	size_t start = out->len;
	int rc = 0;

	if (out->oom)
		return -ENOMEM;
	if (name == NULL || !valid_name(name, strlen(name)))
		return -EINVAL;
	if (groups != NULL && *groups != '\0' && !valid_groups(groups))
		return -EINVAL;
	if (key_hash != NULL && !valid_hash(key_hash))
		return -EINVAL;
	/* authd compares the password up to its length then wants ' '. */
	if (password != NULL && *password != '\0' &&
	    strpbrk(password, "\r\n") != NULL)
		return -EINVAL;
	if (password != NULL && *password != '\0') {
		(void)add(out, "OSSEC PASS: ", 12);
		(void)add(out, password, strlen(password));
		(void)add(out, " ", 1);
	}
	(void)add(out, "OSSEC A:'", 9);
	(void)add(out, name, strlen(name));
	(void)add(out, "'", 1);
	if (groups != NULL && *groups != '\0') {
		(void)add(out, " G:'", 4);
		(void)add(out, groups, strlen(groups));
		(void)add(out, "'", 1);
	}
	if (key_hash != NULL) {
		(void)add(out, " K:'", 4);
		(void)add(out, key_hash, strlen(key_hash));
		(void)add(out, "'", 1);
	}
	if (add(out, "\n", 1) != 0) {
		rewind_to(out, start);
		rc = -ENOMEM;
	}
	return rc;
}

/* The manager's words, printable and cut to whylen. */
static void
say(char *why, size_t whylen, const char *s, size_t n)
{
	size_t i;

	if (why == NULL || whylen == 0)
		return;
	for (i = 0; i < n && i + 1 < whylen; i++) {
		unsigned char ch = (unsigned char)s[i];

		why[i] = ch < 0x20 || ch == 0x7f || ch >= 0x80 ? '?' : (char)ch;
	}
	why[i] = '\0';
}

static void
say_lit(char *why, size_t whylen, const char *s)
{
	say(why, whylen, s, strlen(s));
}

static bool
starts(const char *buf, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len >= n && memcmp(buf, lit, n) == 0;
}

/* A prefix of lit shorter than it: more may come. */
static bool
prefix_of(const char *buf, size_t len, const char *lit)
{
	return len < strlen(lit) && memcmp(buf, lit, len) == 0;
}

static enum wzp_enroll_result
answer_key(const char *buf, size_t len, struct wzp_key *k, char *why,
    size_t whylen)
{
	const char *p = buf + sizeof(ANSWER_KEY) - 1;
	const char *q = memchr(p, '\'', len - (size_t)(p - buf));

	if (q == NULL) {
		if (len < sizeof(ANSWER_KEY) + WZP_ID_MAX + WZP_NAME_MAX +
		    WZP_IP_MAX + WZP_KEYTEXT_MAX + 4 &&
		    memchr(p, '\n', len - (size_t)(p - buf)) == NULL)
			return WZP_ENROLL_INCOMPLETE;
		say_lit(why, whylen, "key answer without its closing quote");
		return WZP_ENROLL_GARBAGE;
	}
	if (wzp_key_parse(p, (size_t)(q - p), k) != 0) {
		say_lit(why, whylen, "key answer with an invalid key entry");
		return WZP_ENROLL_GARBAGE;
	}
	return WZP_ENROLL_OK;
}

static enum wzp_enroll_result
answer_error(const char *buf, size_t len, char *why, size_t whylen)
{
	const char *w = buf + sizeof(ANSWER_ERROR) - 1;
	const char *nl = memchr(buf, '\n', len);
	size_t n;

	/* authd writes "ERROR: <why>. Unable to add agent" and closes. */
	if (nl == NULL && len < ANSWER_MAX &&
	    (len < sizeof(ANSWER_SUFFIX) - 1 || memcmp(buf + len -
	    (sizeof(ANSWER_SUFFIX) - 1), ANSWER_SUFFIX,
	    sizeof(ANSWER_SUFFIX) - 1) != 0))
		return WZP_ENROLL_INCOMPLETE;
	n = (nl != NULL ? (size_t)(nl - w) : len - (size_t)(w - buf));
	if (nl != NULL && nl > buf && nl[-1] == '\r')
		n--;
	say(why, whylen, w, n);
	if (starts(w, n, "Invalid password"))
		return WZP_ENROLL_BAD_PASSWORD;
	if (starts(w, n, "Duplicate agent name"))
		return WZP_ENROLL_NAME_TAKEN;
	return WZP_ENROLL_REFUSED;
}

enum wzp_enroll_result
wzp_enroll_answer(const char *buf, size_t len, struct wzp_key *k, char *why,
    size_t whylen)
{
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	/* Nothing but the newline a caller adds at the end: no answer. */
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r') &&
	    len <= 2)
		len--;
	if (len == 0 || prefix_of(buf, len, ANSWER_KEY) ||
	    prefix_of(buf, len, ANSWER_ERROR) ||
	    (len == sizeof(ANSWER_ERROR) - 1 && starts(buf, len, ANSWER_ERROR)))
		return WZP_ENROLL_INCOMPLETE;
	if (starts(buf, len, ANSWER_KEY))
		return answer_key(buf, len, k, why, whylen);
	/* The agent: strlen(buf) > 7 && "ERROR: " (enrollment_op.c). */
	if (starts(buf, len, ANSWER_ERROR) && len > sizeof(ANSWER_ERROR) - 1)
		return answer_error(buf, len, why, whylen);
	say_lit(why, whylen, "not an authd answer: ");
	if (why != NULL && whylen > 22)
		say(why + 21, whylen - 21, buf, len < 40 ? len : 40);
	return WZP_ENROLL_GARBAGE;
}

/* ---- control messages ----------------------------------------------------- */

int
wzp_startup_msg(const char *version, struct tbuf *out)
{
	size_t start = out->len;

	if (out->oom)
		return -ENOMEM;
	/* cJSON would escape these; a version never has them. */
	for (const char *p = version; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\')
			return -EINVAL;
	(void)add(out, CONTROL_HEADER HC_STARTUP "{\"version\":\"",
	    sizeof(CONTROL_HEADER HC_STARTUP "{\"version\":\"") - 1);
	(void)add(out, version, strlen(version));
	if (add(out, "\"}", 2) != 0) {
		rewind_to(out, start);
		return -ENOMEM;
	}
	return 0;
}

int
wzp_keepalive_msg(const char *uname, const char *merged_md5,
    const char *agent_ip, const char *labels, struct tbuf *out)
{
	size_t start = out->len;

	if (out->oom)
		return -ENOMEM;
	if (strchr(uname, '\n') != NULL ||
	    (merged_md5 != NULL && strpbrk(merged_md5, " \n") != NULL) ||
	    (agent_ip != NULL && strchr(agent_ip, '\n') != NULL))
		return -EINVAL;
	if (merged_md5 == NULL || *merged_md5 == '\0')
		merged_md5 = "x";	/* getsharedfiles(): no merged.mg */
	(void)add(out, CONTROL_HEADER, 3);
	(void)add(out, uname, strlen(uname));
	(void)add(out, "\n", 1);
	if (labels != NULL)
		(void)add(out, labels, strlen(labels));
	(void)add(out, merged_md5, strlen(merged_md5));
	(void)add(out, " merged.mg\n", 11);
	if (agent_ip != NULL && *agent_ip != '\0') {
		(void)add(out, "#\"_agent_ip\":", 13);
		(void)add(out, agent_ip, strlen(agent_ip));
	}
	if (add(out, "\n", 1) != 0) {
		rewind_to(out, start);
		return -ENOMEM;
	}
	if (out->len - start > WZP_PAYLOAD_MAX) {
		rewind_to(out, start);
		return -EMSGSIZE;
	}
	return 0;
}

int
wzp_shutdown_msg(struct tbuf *out)
{
	if (out->oom)
		return -ENOMEM;
	return add(out, CONTROL_HEADER HC_SHUTDOWN,
	    sizeof(CONTROL_HEADER HC_SHUTDOWN) - 1);
}

enum wzp_control
wzp_control_kind(const char *plain, size_t len)
{
	/* start_agent.c compares the whole text with HC_ACK after the
	 * header; receiver.c acts on prefixes.  An ack is exactly that. */
	if (len == sizeof(CONTROL_HEADER HC_ACK) - 1 &&
	    memcmp(plain, CONTROL_HEADER HC_ACK, len) == 0)
		return WZP_CONTROL_ACK;
	if (starts(plain, len, CONTROL_HEADER HC_ERROR))
		return WZP_CONTROL_ERR;
	return WZP_CONTROL_OTHER;
}

/* ---- the OS string (getuname) --------------------------------------------- */

#ifdef _WIN32

/* A REG_SZ or REG_DWORD value under HKLM\subkey, as text. */
static bool
reg_text(const char *subkey, const char *name, char *out, size_t outlen)
{
	HKEY h;
	DWORD type = 0, n;
	unsigned char buf[256];
	bool ok = false;

	if (RegOpenKeyExA(HKEY_LOCAL_MACHINE, subkey, 0,
	    KEY_READ | KEY_WOW64_64KEY, &h) != ERROR_SUCCESS)
		return false;
	n = sizeof(buf) - 1;
	if (RegQueryValueExA(h, name, NULL, &type, buf, &n) ==
	    ERROR_SUCCESS) {
		if (type == REG_SZ && n < sizeof(buf)) {
			buf[n] = '\0';
			ok = snprintf(out, outlen, "%s", (char *)buf) > 0;
		} else if (type == REG_DWORD && n == sizeof(DWORD)) {
			DWORD v;

			memcpy(&v, buf, sizeof(v));
			ok = snprintf(out, outlen, "%lu",
			    (unsigned long)v) > 0;
		}
	}
	RegCloseKey(h);
	return ok;
}

/*
 * version_op.c get_win_version() and file_op.c getuname() (Windows):
 * "Microsoft <ProductName> [Ver: <major>.<minor>.<build>[.<UBR>]]
 * |<ComputerName> |<x86_64|i686|unknown> - Wazuh <version>", with
 * "Windows 10" read as "Windows 11" from build 22000 on, as Wazuh does.
 */
void
wzp_uname(char *out, size_t len, const char *version)
{
	static const char cv[] =
	    "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";
	char product[160] = "", name[200], major[16] = "", minor[16] = "";
	char build[32] = "", ubr[16] = "", ver[96], node[128] = "";
	char arch[32] = "";
	const char *machine = "unknown";
	char *w10;

	if (len == 0)
		return;
	if (reg_text(cv, "ProductName", product, sizeof(product)))
		(void)snprintf(name, sizeof(name), "Microsoft %s", product);
	else
		(void)snprintf(name, sizeof(name), "%s",
		    "Microsoft Windows undefined version");
	(void)reg_text(cv, "CurrentBuildNumber", build, sizeof(build));
	if (reg_text(cv, "CurrentMajorVersionNumber", major, sizeof(major)) &&
	    reg_text(cv, "CurrentMinorVersionNumber", minor, sizeof(minor))) {
		if (reg_text(cv, "UBR", ubr, sizeof(ubr)))
			(void)snprintf(ver, sizeof(ver), "%s.%s.%s.%s", major,
			    minor, build, ubr);
		else
			(void)snprintf(ver, sizeof(ver), "%s.%s.%s", major,
			    minor, build);
	} else {
		char cur[16] = "";

		(void)reg_text(cv, "CurrentVersion", cur, sizeof(cur));
		(void)snprintf(ver, sizeof(ver), "%s.%s", cur[0] ? cur :
		    "unknown", build);
	}
	if ((w10 = strstr(name, "Windows 10")) != NULL && atoi(build) >= 22000)
		w10[9] = '1';
	if (reg_text("System\\CurrentControlSet\\Control\\Session Manager"
	    "\\Environment", "PROCESSOR_ARCHITECTURE", arch, sizeof(arch))) {
		if (strncmp(arch, "AMD64", 5) == 0 ||
		    strncmp(arch, "IA64", 4) == 0 ||
		    strncmp(arch, "ARM64", 5) == 0)
			machine = "x86_64";
		else if (strncmp(arch, "x86", 3) == 0)
			machine = "i686";
	}
	if (!reg_text("System\\CurrentControlSet\\Control\\ComputerName"
	    "\\ActiveComputerName", "ComputerName", node, sizeof(node)))
		(void)snprintf(node, sizeof(node), "%s", "unknown");
	(void)snprintf(out, len, "%s [Ver: %s] |%s |%s - Wazuh %s", name, ver,
	    node, machine, version);
}

#else /* !_WIN32 */

/* The value of KEY= in an os-release line, unquoted as Wazuh does (a
 * leading '"' up to the next one). */
static void
release_value(char *v, char *out, size_t outlen)
{
	char *e;

	v[strcspn(v, "\n")] = '\0';
	if (v[0] == '"' && (e = strchr(v + 1, '"')) != NULL) {
		*e = '\0';
		v++;
	}
	(void)snprintf(out, outlen, "%s", v);
}

#define REL_MAX	128

/*
 * get_unix_version(): NAME, ID and VERSION (else VERSION_ID) from
 * /etc/os-release or /usr/lib/os-release into name, id, ver (REL_MAX
 * each).  false if NAME or ID is missing.  No version at all reads "0.0";
 * Arch and openSUSE Tumbleweed report an empty one (version_op.c).
 */
static bool
os_release(char *name, char *id, char *ver)
{
	char line[256];
	bool have_ver = false, have_ver_id = false;
	FILE *f;

	name[0] = id[0] = ver[0] = '\0';
	if ((f = fopen("/etc/os-release", "r")) == NULL &&
	    (f = fopen("/usr/lib/os-release", "r")) == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "NAME=", 5) == 0 && name[0] == '\0')
			release_value(line + 5, name, REL_MAX);
		else if (strncmp(line, "VERSION=", 8) == 0 && !have_ver) {
			release_value(line + 8, ver, REL_MAX);
			have_ver = true;
		} else if (strncmp(line, "VERSION_ID=", 11) == 0 &&
		    !have_ver && !have_ver_id) {
			release_value(line + 11, ver, REL_MAX);
			have_ver_id = true;
		} else if (strncmp(line, "ID=", 3) == 0 && id[0] == '\0') {
			release_value(line + 3, id, REL_MAX);
			id[strcspn(id, " ")] = '\0';
		}
	}
	fclose(f);
	if (strcmp(id, "arch") == 0 || strcmp(id, "opensuse-tumbleweed") == 0)
		ver[0] = '\0';
	else if (!have_ver && !have_ver_id)
		(void)snprintf(ver, REL_MAX, "%s", "0.0");
	return name[0] != '\0' && id[0] != '\0';
}

/*
 * file_op.c getuname() (Unix): "<sysname> |<nodename> |<release>
 * |<version> |<machine> [<NAME>|<ID>: <VERSION>] - Wazuh <version>", or
 * without os-release "<sysname> <nodename> <release> <version>
 * <machine> - Wazuh <version>".  (Wazuh also reads centos-release and
 * friends when os-release lacks a field; we take the plain form then.)
 */
void
wzp_uname(char *out, size_t len, const char *version)
{
	struct utsname u;
	char name[REL_MAX], id[REL_MAX], ver[REL_MAX];

	if (len == 0)
		return;
	if (uname(&u) != 0) {
		(void)snprintf(out, len, "No system info available - Wazuh %s",
		    version);
		return;
	}
	if (os_release(name, id, ver))
		(void)snprintf(out, len, "%s |%s |%s |%s |%s [%s|%s: %s] - "
		    "Wazuh %s", u.sysname, u.nodename, u.release, u.version,
		    u.machine, name, id, ver, version);
	else
		(void)snprintf(out, len, "%s %s %s %s %s - Wazuh %s",
		    u.sysname, u.nodename, u.release, u.version, u.machine,
		    version);
}

#endif /* !_WIN32 */
