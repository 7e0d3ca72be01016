/*
 * fuzz_wazuh_proto.c - libFuzzer harness for what the wazuh_agent output
 * reads from the network (transport/wazuh_proto.c): the manager's frames
 * and messages and authd's enrollment answer, none of which the agent
 * controls.  Invariants: never a crash, a leak or a read past the input;
 * a frame found lies inside the input; a message that opens gives a
 * NUL-terminated payload; an enrollment answer taken as a key gives a key
 * that parses again from its own client.keys line; and what wzp_seal()
 * makes of the input (as a payload) opens again to the same bytes.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iagent/base -Itransport tests/fuzz/fuzz_wazuh_proto.c \
 *       transport/wazuh_proto.c transport/transport.c ... -lcrypto -lz
 *   (tests/run-all.sh has the whole line)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wazuh_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key_line[] = "001 fuzz-agent any "
    "d4f2a1b3c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wzp_key k;
	static bool ready;
	const char *in = (const char *)data, *msg;
	struct tbuf plain = { 0 }, frame = { 0 };
	struct wzp_counter c = { 7, 42 }, got;
	struct wzp_key ek;
	size_t used, mlen, off = 0;
	char why[128], line[512];
	int rc;

	if (!ready) {
		if (wzp_key_parse(key_line, sizeof(key_line) - 1, &k) != 0)
			abort();
		ready = true;
	}
	/* The manager's stream: frames, each opened with our key. */
	while ((rc = wzp_frame_next(in + off, size - off, &used, &msg,
	    &mlen)) == 1) {
		if (msg < in + off || msg + mlen > in + size || used == 0 ||
		    used > size - off)
			abort();
		plain.len = 0;
		if (wzp_open(&k, msg, mlen, &plain, NULL) == 0) {
			if (plain.s == NULL || plain.s[plain.len] != '\0')
				abort();
			(void)wzp_control_kind(plain.s, plain.len);
		}
		off += used;
	}
	/* The input as one message, unframed. */
	plain.len = 0;
	if (wzp_open(&k, in, size, &plain, NULL) == 0 &&
	    plain.s[plain.len] != '\0')
		abort();
	(void)wzp_control_kind(in, size);
	/* authd's answer. */
	memset(&ek, 0, sizeof(ek));
	if (wzp_enroll_answer(in, size, &ek, why, sizeof(why)) ==
	    WZP_ENROLL_OK) {
		struct wzp_key again;

		if (wzp_key_line(&ek, line, sizeof(line)) != 0 ||
		    wzp_key_parse(line, strlen(line), &again) != 0 ||
		    memcmp(again.aes, ek.aes, sizeof(ek.aes)) != 0)
			abort();
		wzp_key_wipe(&again);
	}
	wzp_key_wipe(&ek);
	if (memchr(why, '\0', sizeof(why)) == NULL)
		abort();
	/* The input as a payload: sealed, it opens to the same bytes. */
	if (size > 0 && size <= WZP_PAYLOAD_MAX) {
		if (wzp_seal(&k, &c, 12345, in, size, &frame) != 0)
			abort();
		if (wzp_frame_next(frame.s, frame.len, &used, &msg, &mlen) != 1 ||
		    used != frame.len)
			abort();
		plain.len = 0;
		if (wzp_open(&k, msg, mlen, &plain, &got) != 0 ||
		    plain.len != size || memcmp(plain.s, in, size) != 0 ||
		    got.global != c.global || got.local != c.local)
			abort();
	}
	free(plain.s);
	free(frame.s);
	return 0;
}
