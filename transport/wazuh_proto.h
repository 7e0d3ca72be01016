/*
 * wazuh_proto.h - private to transport/: the Wazuh agent protocol's codec,
 * pure functions with no I/O (wzp_uname() aside, which asks the system).
 * The output (output_wazuh_agent.c) owns sockets, TLS, timers and files;
 * this file only turns bytes into bytes.
 *
 * What each part follows (wazuh/wazuh tag v4.14.7; branch 5.0.1 keeps the
 * same files for the agent side unless noted in wazuh_proto.c):
 *   keys       src/os_crypto/shared/keys.c (OS_ReadKeys, OS_AddKey,
 *              w_get_key_hash), src/addagent/validate.c (OS_IsValidID,
 *              OS_IsValidName), src/headers/validate_op.h (isSingleHost)
 *   messages   src/os_crypto/shared/msgs.c (CreateSecMSG, ReadSecMSG),
 *              src/os_crypto/aes/aes_op.c (AES-256-CBC, fixed IV),
 *              src/os_zlib/os_zlib.c (compress2 level 9)
 *   framing    src/os_net/os_net.c (OS_SendSecureTCP, OS_RecvSecureTCP:
 *              4-byte little-endian length, then the message),
 *              src/remoted/netbuffer.c (nb_recv: a length > OS_MAXSTR
 *              closes the connection)
 *   enrollment src/shared/enrollment_op.c (the agent's request and how
 *              it reads the answer), src/os_auth/auth.c (authd's answers)
 *   control    src/headers/rc.h, src/client-agent/start_agent.c
 *              (startup), src/client-agent/notify.c (keepalive),
 *              src/shared/version_op.c (getuname)
 *
 * Buffers are struct tbuf (transport_int.h): output is appended, and an
 * allocation failure is reported as -ENOMEM (the tbuf's oom flag is set).
 */
#ifndef SYSMONFWD_WAZUH_PROTO_H
#define SYSMONFWD_WAZUH_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport_int.h"

/* OS_MAXSTR (src/headers/defs.h): logs, sockets, everything. */
#define WZP_MAXSTR		65536
/* OS_HEADER_SIZE (defs.h): CreateSecMSG keeps this much room. */
#define WZP_HEADER_SIZE		128
/* The largest payload CreateSecMSG takes (msg_length > OS_MAXSTR -
 * OS_HEADER_SIZE is refused, and so is an empty one). */
#define WZP_PAYLOAD_MAX		(WZP_MAXSTR - WZP_HEADER_SIZE)
/* The largest message remoted accepts in one TCP frame (nb_recv drops
 * the connection when the length prefix says more); the agent reads the
 * manager's frames with the same bound (OS_RecvSecureTCP). */
#define WZP_FRAME_MAX		WZP_MAXSTR
/* The 4-byte little-endian length before every TCP message. */
#define WZP_FRAME_HDR		4

/* Sizes of the client.keys fields as Wazuh allows them. */
#define WZP_ID_MAX		8	/* OS_IsValidID: up to 8 digits */
#define WZP_NAME_MAX		128	/* OS_IsValidName: 2 to 128 chars */
#define WZP_IP_MAX		64	/* IPSIZE (INET6_ADDRSTRLEN) and more */
#define WZP_KEYTEXT_MAX		128	/* KEYSIZE; authd makes 64 hex */
#define WZP_KEY_HASH_LEN	40	/* w_get_key_hash: SHA-1 in hex */

/*
 * One agent key: a client.keys line "ID NAME IP KEY".  aes is the 32-byte
 * AES-256 key OS_AddKey derives (the ASCII MD5 of the key text: the first
 * 32 bytes of its encryption_key, which is all EVP_aes_256_cbc reads).
 * prefix_id: messages begin "!ID!" (CreateSecMSG does so when the key's
 * IP is not a single host: "any", a network, any IPv6).  Wipe with
 * wzp_key_wipe() when done.
 */
struct wzp_key {
	char		id[WZP_ID_MAX + 1];
	char		name[WZP_NAME_MAX + 1];
	char		ip[WZP_IP_MAX + 1];
	char		key[WZP_KEYTEXT_MAX + 1];
	unsigned char	aes[32];
	bool		prefix_id;
};

/*
 * Parse one client.keys line (len bytes, a trailing "\n" or "\r\n"
 * allowed, no NUL needed) into k and derive its AES key.  Checked as the
 * agent checks an enrollment answer (enrollment_op.c): ID 1-8 digits,
 * NAME and KEY of [A-Za-z0-9._-] 2-128 chars not starting with '.', IP
 * "any" or an IPv4/IPv6 address with an optional /prefix.  A removed
 * entry ("ID !NAME ..." or "ID #...") is refused.  0, or -EINVAL (k
 * wiped).
 */
int	wzp_key_parse(const char *line, size_t len, struct wzp_key *k)
	    __attribute__((warn_unused_result));

/* The client.keys line for k, "ID NAME IP KEY\n", NUL-terminated into
 * out.  0, or -ENOSPC (out too small; out holds "" then). */
int	wzp_key_line(const struct wzp_key *k, char *out, size_t outlen)
	    __attribute__((warn_unused_result));

/* w_get_key_hash(): SHA-1 of ID NAME KEY concatenated, 40 lower-case hex
 * digits and a NUL into out (WZP_KEY_HASH_LEN + 1 bytes).  What the agent
 * sends as K:'...' when it enrolls again while holding a key.  0, -EIO. */
int	wzp_key_hash(const struct wzp_key *k,
	    char out[WZP_KEY_HASH_LEN + 1]) __attribute__((warn_unused_result));

/* OPENSSL_cleanse the whole of k.  NULL is fine. */
void	wzp_key_wipe(struct wzp_key *k);

/*
 * The sender's anti-replay counters (CreateSecMSG's global_count and
 * local_count; the agent keeps them in queue/rids/sender_counter as
 * "%u:%u:").  Start at { 0, 0 } for a new key.
 */
struct wzp_counter {
	uint32_t	global, local;
};

/* Advance c exactly as CreateSecMSG does before each message: local >=
 * 9997 goes to 0 and global grows by one, then local grows by one (so
 * local runs 1..9997 and the first message of a key is 0:1). */
void	wzp_counter_next(struct wzp_counter *c);

/*
 * Append to out ONE complete TCP frame: the 4-byte little-endian length,
 * then "[!ID!]#AES:" and AES-256-CBC (key k->aes, IV "FEDCBA0987654321",
 * PKCS#7) of "!"x(1..8) + zlib(MD5hex(body) + body), where body is
 * "%05hu%010u:%04u:" of rnd, c->global, c->local followed by the payload.
 * The caller advanced c (wzp_counter_next()) and persists it; rnd stands
 * for CreateSecMSG's os_random() (any value; the receiver ignores it).
 * The payload is what agentd hands CreateSecMSG: "Q:LOCATION:MESSAGE"
 * for events, "#!-..." for control messages.
 * 0; -EMSGSIZE (len 0 or over WZP_PAYLOAD_MAX: CreateSecMSG refuses
 * those too); -ENOMEM; -EIO (zlib or OpenSSL failed).  On error out is
 * as it was.
 */
int	wzp_seal(const struct wzp_key *k, const struct wzp_counter *c,
	    uint16_t rnd, const void *payload, size_t len, struct tbuf *out)
	    __attribute__((warn_unused_result));

/*
 * Find the first frame in buf (len bytes received so far).  1: a whole
 * frame is there; *msg points at its message (inside buf), *msglen is its
 * length, *consumed the bytes to drop (header + message).  0: need more
 * bytes (*consumed 0).  -EPROTO: the length prefix is over WZP_FRAME_MAX,
 * which neither side ever sends: drop the connection.  A zero-length
 * frame is returned as one (msglen 0); wzp_open() refuses it.
 */
int	wzp_frame_next(const char *buf, size_t len, size_t *consumed,
	    const char **msg, size_t *msglen)
	    __attribute__((warn_unused_result));

/*
 * Open a message from the manager ("#AES:" + ciphertext; an "!ID!"
 * prefix is accepted and must name k's ID): decrypt, strip the '!'
 * padding, inflate (at most WZP_MAXSTR bytes), check the MD5, read the
 * counters into *c (may be NULL), and append the payload after them to
 * plain (NUL-terminated; plain->len grows by its length).  As ReadSecMSG
 * does in CLIENT mode, counters are not checked here.  0, -EBADMSG
 * (wrong key, corrupt, MD5 mismatch, not AES), -ENOMEM.
 */
int	wzp_open(const struct wzp_key *k, const char *msg, size_t len,
	    struct tbuf *plain, struct wzp_counter *c)
	    __attribute__((warn_unused_result));

/*
 * The enrollment request the agent writes on the TLS connection to authd
 * (enrollment_op.c w_enrollment_send_message), newline included:
 *   [OSSEC PASS: <password> ]OSSEC A:'<name>'[ G:'<groups>'][ K:'<hash>']\n
 * No V:'version' (authd refuses an agent newer than itself by it; remoted
 * checks the version anyway) and no IP:'...' (authd then records "any",
 * so the key works from any address, as with a stock agent).  groups is
 * Wazuh's comma-separated list; key_hash is wzp_key_hash() of the key
 * held, or NULL.  0; -EINVAL (a name, group or hash authd would refuse,
 * or a password with a newline); -ENOMEM.
 */
int	wzp_enroll_request(const char *name, const char *groups,
	    const char *password, const char *key_hash, struct tbuf *out)
	    __attribute__((warn_unused_result));

enum wzp_enroll_result {
	WZP_ENROLL_OK,		/* k filled from OSSEC K:'ID NAME IP KEY' */
	WZP_ENROLL_NAME_TAKEN,	/* "ERROR: Duplicate agent name: ..." */
	WZP_ENROLL_BAD_PASSWORD,/* "ERROR: Invalid password" */
	WZP_ENROLL_REFUSED,	/* another "ERROR: ..."; why has its words */
	WZP_ENROLL_INCOMPLETE,	/* no whole line yet: read more */
	WZP_ENROLL_GARBAGE,	/* a line that is neither, or a bad key */
};

/*
 * Classify what authd sent so far (buf, len bytes).  authd writes one
 * answer WITHOUT a newline and closes the connection (main-server.c
 * process_message): "OSSEC K:'ID NAME IP KEY'" or "ERROR: <why>. Unable
 * to add agent".  A key answer is whole at its closing quote; an ERROR
 * is whole at a '\n' or when it ends in "Unable to add agent".  So: call
 * after each read; on INCOMPLETE read on; when the stream ends while
 * INCOMPLETE, call once more with a '\n' appended (then an ERROR is
 * classified, a cut key answer is GARBAGE, and INCOMPLETE again means
 * authd sent nothing at all).  why (may be NULL) gets a printable
 * description: the manager's own words for an ERROR (bytes outside
 * printable ASCII replaced by '?', cut to whylen), or what was wrong.
 * Wazuh's answers:
 * "Duplicate agent name: N" (NAME_TAKEN), "Invalid password"
 * (BAD_PASSWORD); REFUSED for the rest, e.g. "Invalid agent name: N",
 * "Invalid group: G", "Agent version must be lower or equal to manager
 * version", "Internal manager error adding agent: N", and in 5.0.1
 * "Enrollment password not available".
 */
enum wzp_enroll_result wzp_enroll_answer(const char *buf, size_t len,
	    struct wzp_key *k, char *why, size_t whylen);

/* "#!-agent startup {"version":"<version>"}" (start_agent.c
 * agent_handshake_to_server: a cJSON object with the one member). 0,
 * -EINVAL (version with characters JSON would escape), -ENOMEM. */
int	wzp_startup_msg(const char *version, struct tbuf *out)
	    __attribute__((warn_unused_result));

/*
 * The keepalive notify.c's run_notify() builds, with no agent.conf:
 *   "#!-<uname>\n<labels><md5|x> merged.mg\n#\"_agent_ip\":<ip>\n"
 * or, when agent_ip is NULL or empty, "...merged.mg\n\n".  labels (NULL:
 * none) is labels_format()'s text, each line ending in '\n'.  A NULL or
 * empty merged_md5 gives "x", what an agent without a merged.mg sends.
 * 0, -EINVAL (uname with a newline), -EMSGSIZE (over WZP_PAYLOAD_MAX),
 * -ENOMEM.
 */
int	wzp_keepalive_msg(const char *uname, const char *merged_md5,
	    const char *agent_ip, const char *labels, struct tbuf *out)
	    __attribute__((warn_unused_result));

/* "#!-agent shutdown " as the agent sends it when it stops. 0, -ENOMEM. */
int	wzp_shutdown_msg(struct tbuf *out) __attribute__((warn_unused_result));

/* What an opened manager message is. */
enum wzp_control {
	WZP_CONTROL_ACK,	/* "#!-agent ack " (HC_ACK) */
	WZP_CONTROL_ERR,	/* "#!-err ..." (HC_ERROR), e.g. a version
				 * remoted refuses */
	WZP_CONTROL_OTHER,	/* shared files, requests, active response:
				 * not for us, ignored */
};

enum wzp_control wzp_control_kind(const char *plain, size_t len);

/*
 * The OS string a Wazuh agent puts first in its keepalive (getuname()):
 * on Linux "<uname -s> |<nodename> |<release> |<version> |<machine>
 * [- <os_release NAME> <VERSION>]... - <version>" as version_op.c builds
 * it; on Windows the product name, build and architecture, as its Windows
 * branch does.  version is the agent version reported ("v4.14.7"); out is
 * always NUL-terminated (cut at len).
 */
void	wzp_uname(char *out, size_t len, const char *version);

#endif /* SYSMONFWD_WAZUH_PROTO_H */
