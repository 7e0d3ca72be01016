/*
 * fuzz_position.c - libFuzzer harness for the parsers of the inputs' saved
 * positions, read back at every start (a damaged one must never make an
 * input skip records or crash the agent):
 *   - the Windows event-log bookmark (eventlog_bookmark_parse() and
 *     eventlog_bookmark_choose() of agent/source/eventlog_util.c);
 *   - the file input's position file and ring checkpoint, the evtx
 *     input's "file NAME record N", the time in a journal cursor
 *     (agent/source/position.c).
 * The ring's own cursor files are fuzzed by fuzz_cursor.c.
 *
 * Input: byte 0 picks the parser, the rest is its text.
 *
 * Invariants (abort() on a breach):
 *   - bookmark: a bookmark that parses has one current entry, a channel
 *     of 1..255 bytes without NUL, and at least one entry; the error
 *     message is NUL-terminated within its buffer; what the agent would
 *     write for the channel and record parsed (the EvtRender layout, the
 *     channel XML-escaped) parses back to the same channel and record;
 *   - choose: the result is one of the two bookmarks or none; the one
 *     chosen parses and names the channel asked (ASCII case ignored); of
 *     two such, the one further on (the first on a tie); never a bookmark
 *     of another channel;
 *   - file position file / ring checkpoint / evtx position: parsing is
 *     deterministic, leaves the output alone on failure, and what the
 *     writer makes of the values parsed (or of values and a path or file
 *     name taken from the input) parses back to exactly those values;
 *   - journal cursor time: the same value twice; a cursor written with
 *     t=<hex> gives that value back.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iagent -Ibuffer -Iconfig tests/fuzz/fuzz_position.c \
 *       agent/source/eventlog_util.c agent/source/position.c agent/event/strbuf.c \
 *       -o /tmp/fuzz_position
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventlog_util.h"
#include "position.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)	do { if (!(c)) { fprintf(stderr, \
	"invariant broken: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
	abort(); } } while (0)

/* Append s XML-escaped as Windows writes an attribute value. */
static size_t
xml_escape(char *out, const char *s)
{
	size_t o = 0;

	for (; *s != '\0'; s++) {
		const char *e = NULL;
		switch (*s) {
		case '&': e = "&amp;"; break;
		case '<': e = "&lt;"; break;
		case '>': e = "&gt;"; break;
		case '\'': e = "&apos;"; break;
		case '"': e = "&quot;"; break;
		}
		if (e != NULL) {
			memcpy(out + o, e, strlen(e));
			o += strlen(e);
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return o;
}

static void
bookmark(const char *text, size_t len)
{
	struct eventlog_bookmark bm, again;
	char err[64], xml[2048], esc[EVENTLOG_CHANNEL_MAX * 6 + 1];
	int rc;

	memset(err, 'x', sizeof(err));
	rc = eventlog_bookmark_parse(text, len, &bm, err, sizeof(err));
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (rc != 0) {
		CHECK(rc == -EINVAL && err[0] != '\0');
		return;
	}
	CHECK(len < SOURCE_POS_MAX && memchr(text, '\0', len) == NULL);
	CHECK(bm.nentries >= 1);
	CHECK(bm.channel[0] != '\0' && strlen(bm.channel) <=
	    EVENTLOG_CHANNEL_MAX);
	/* What EvtRender(EvtRenderBookmark) writes for it parses back. */
	xml_escape(esc, bm.channel);
	snprintf(xml, sizeof(xml), "<BookmarkList>\r\n  <Bookmark Channel='%s'"
	    " RecordId='%" PRIu64 "' IsCurrent='true'/>\r\n</BookmarkList>",
	    esc, bm.record_id);
	CHECK(eventlog_bookmark_parse(xml, strlen(xml), &again, NULL, 0) ==
	    0);
	CHECK(strcmp(again.channel, bm.channel) == 0 && again.record_id ==
	    bm.record_id && again.nentries == 1);
	CHECK(eventlog_bookmark_choose(xml, NULL, bm.channel) == xml);
}

/* text is "A\x01B\x01CHANNEL": two saved bookmarks and the channel. */
static void
choose(const char *text, size_t len)
{
	char *copy = strndup(text, len), *a, *b, *ch, *p;
	const char *r;
	struct eventlog_bookmark ba, bb, br;
	bool oka, okb;

	if (copy == NULL)
		return;
	a = copy;
	b = (p = strchr(a, '\x01')) != NULL ? (*p = '\0', p + 1) : NULL;
	ch = b != NULL && (p = strchr(b, '\x01')) != NULL ? (*p = '\0', p + 1) :
	    "Microsoft-Windows-Sysmon/Operational";
	r = eventlog_bookmark_choose(a, b, ch);
	CHECK(r == NULL || r == a || r == b);
	oka = eventlog_bookmark_parse(a, strlen(a), &ba, NULL, 0) == 0 &&
	    eventlog_channel_equal(ba.channel, ch);
	okb = b != NULL && eventlog_bookmark_parse(b, strlen(b), &bb, NULL,
	    0) == 0 && eventlog_channel_equal(bb.channel, ch);
	if (r != NULL) {
		CHECK(eventlog_bookmark_parse(r, strlen(r), &br, NULL, 0) == 0);
		CHECK(eventlog_channel_equal(br.channel, ch));
	}
	if (oka && okb)
		CHECK(r == (bb.record_id > ba.record_id ? b : a));
	else
		CHECK(r == (oka ? a : okb ? b : NULL));
	free(copy);
}

/* Field by field: memcmp would compare the padding too. */
static bool
same_pos(const struct file_pos *a, const struct file_pos *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->off == b->off &&
	    a->crc == b->crc;
}

static uint64_t
u64_of(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void
file_position(const char *text, size_t len)
{
	struct file_pos p, q, keep, w;
	char buf[PATH_MAX + 160], path[512];
	int rc, n;

	memset(&p, 0xa5, sizeof(p));
	keep = p;
	rc = file_pos_parse(text, len, &p);
	CHECK(rc == 0 || rc == -EINVAL);
	if (rc != 0) {
		CHECK(same_pos(&p, &keep));
	} else {
		CHECK(file_pos_parse(text, len, &q) == 0 &&
		    same_pos(&p, &q));
		/* What the writer makes of it reads back the same. */
		n = file_pos_format(buf, sizeof(buf), "/var/log/sysmon.log", &p);
		CHECK(n > 0);
		CHECK(file_pos_parse(buf, (size_t)n, &q) == 0 &&
		    same_pos(&p, &q));
	}
	/* Any path (a line break in it included) with values from the
	 * input: the values come back, whatever the path holds. */
	n = (int)(len < sizeof(path) - 1 ? len : sizeof(path) - 1);
	memcpy(path, text, (size_t)n);
	path[n] = '\0';
	w.dev = u64_of((const uint8_t *)text, len);
	w.ino = len > 8 ? u64_of((const uint8_t *)text + 8, len - 8) : 7;
	w.off = len > 16 ? u64_of((const uint8_t *)text + 16, len - 16) : 0;
	w.crc = (uint32_t)(w.dev ^ w.off);
	n = file_pos_format(buf, sizeof(buf), path, &w);
	CHECK(n > 0);
	CHECK(file_pos_parse(buf, (size_t)n, &q) == 0);
	CHECK(same_pos(&w, &q));
}

static void
ring_position(const char *text, size_t len)
{
	char *s = strndup(text, len), buf[160];
	struct file_pos p, q, keep;
	int rc;

	if (s == NULL)
		return;
	memset(&p, 0x5a, sizeof(p));
	keep = p;
	rc = file_pos_ring_parse(s, &p);
	CHECK(rc == 0 || rc == -EINVAL);
	if (rc != 0) {
		CHECK(same_pos(&p, &keep));
	} else {
		CHECK(file_pos_ring_format(buf, sizeof(buf), &p) <
		    (int)sizeof(buf));
		CHECK(strlen(buf) <= 255);	/* what the ring keeps */
		CHECK(file_pos_ring_parse(buf, &q) == 0 &&
		    same_pos(&p, &q));
	}
	free(s);
}

static void
evtx_position(const char *text, size_t len)
{
	char *s = strndup(text, len), name[NAME_MAX + 1], again[NAME_MAX + 1];
	char buf[NAME_MAX + 64];
	uint64_t id, id2;

	if (s == NULL)
		return;
	if (evtx_pos_parse(s, name, sizeof(name), &id) == 0) {
		CHECK(strchr(name, '/') == NULL && strlen(name) <= NAME_MAX);
		CHECK(evtx_pos_format(buf, sizeof(buf), name, id) <
		    (int)sizeof(buf));
		CHECK(evtx_pos_parse(buf, again, sizeof(again), &id2) == 0);
		CHECK(strcmp(name, again) == 0 && id == id2);
	}
	/* The input as a file name: a name without '/' that fits comes back
	 * exactly, even when it holds " record 12". */
	if (strlen(s) <= NAME_MAX && strchr(s, '/') == NULL) {
		id = u64_of((const uint8_t *)text, len);
		CHECK(evtx_pos_format(buf, sizeof(buf), s, id) <
		    (int)sizeof(buf));
		CHECK(evtx_pos_parse(buf, again, sizeof(again), &id2) == 0);
		CHECK(strcmp(s, again) == 0 && id == id2);
	}
	free(s);
}

static void
journal_cursor(const char *text, size_t len)
{
	char *s = strndup(text, len), buf[600];
	uint64_t t = u64_of((const uint8_t *)text, len);

	if (s == NULL)
		return;
	CHECK(journal_cursor_time(s) == journal_cursor_time(s));
	if (strlen(s) < 400 && strstr(s, "t=") == NULL) {
		/* The layout journald writes: s=..;i=..;b=..;m=..;t=..;x=.. */
		snprintf(buf, sizeof(buf), "s=%s;i=1;b=2;m=3;t=%" PRIx64 ";x=4",
		    s, t);
		CHECK(journal_cursor_time(buf) == t);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	size_t len = size - 1;

	if (size < 1)
		return 0;
	switch (data[0] % 6) {
	case 0:
		bookmark(text, len);
		break;
	case 1:
		choose(text, len);
		break;
	case 2:
		file_position(text, len);
		break;
	case 3:
		ring_position(text, len);
		break;
	case 4:
		evtx_position(text, len);
		break;
	default:
		journal_cursor(text, len);
		break;
	}
	return 0;
}
