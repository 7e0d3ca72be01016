/*
 * segment.c - the on-disk format of the ring, and the block codec.
 *
 * DIRECTORY (state_dir/buffer/)
 *
 *   seg-<first seq, 16 hex digits>.sfw   segment files, append-only
 *   cursors/<output name>.cur            one per output: "acked <seq>\n"
 *                                        "dropped <n>\n" (records it was
 *                                        told were lost, in gaps it
 *                                        acknowledged; absent: 0)
 *   cursors/<output name>.cur.fast       the fast cursor note (below)
 *   head                                 "durable <seq>": the highest seq
 *                                        known to be on disk
 *   lock                                 flock()ed by the running agent
 *   quarantine/                          segments that could not be read
 *
 * All integers are little-endian.  Sequence numbers are contiguous: the
 * first record of a segment follows the last record of the one before.
 *
 * SEGMENT HEADER (32 bytes)
 *
 *    0   8  magic "SFWDSEG\0"
 *    8   4  format version, 1
 *   12   4  header length, 32
 *   16   8  sequence number of the segment's first record (as in its name)
 *   24   4  id of the compression dictionary, 1 (dict_v1 below)
 *   28   4  CRC32 of bytes 0..27
 *
 * BLOCK FRAME (52-byte header, then the stored payload), back to back:
 *
 *    0   4  magic "SFBK"
 *    4   2  frame version, 1
 *    6   2  flags, at most one bit set: bit 0 = payload is a zlib
 *           stream compressed with the preset dictionary (blocks under
 *           BLOCK_DICT_MIN raw bytes, and every compressed block written
 *           before bit 1 existed); bit 1 = payload is raw deflate
 *           (RFC 1951) without a dictionary, written with libdeflate
 *           (blocks of BLOCK_DICT_MIN raw bytes or more); neither =
 *           payload stored as is
 *    8   8  sequence number of the block's first record
 *   16   4  number of records, at least 1
 *   20   4  raw length: payload bytes once decompressed
 *   24   4  stored length: payload bytes that follow this header
 *   28   4  length M of the checkpoint area, at most 65536
 *   32   8  read time of the first record (Unix ms)
 *   40   8  read time of the last record (Unix ms)
 *   48   4  CRC32 of header bytes 0..47, the checkpoint area and the
 *           stored payload
 *   52   M  checkpoint area (never compressed)
 * 52+M      stored payload
 *
 * CHECKPOINT AREA: for each input that moved since the previous block,
 *    0   2  input name length N,  then N bytes of name
 *    N+2 2  position length P,    then P bytes: the input's own text
 *           telling where it stands after its records in this block and
 *           before it (a file input writes "dev D ino I off O crc C")
 * After a crash, an input resumes at the position in the newest valid
 * block that has one for it: the records the ring kept are not read again
 * and those it lost are.  The position files in state_dir/positions only
 * matter when the ring has none.
 *
 * PAYLOAD (once decompressed): the records, back to back, each
 *
 *    0   4  data length N
 *    4   4  flags (BUFFER_REC_TRUNCATED)
 *    8   8  read time (Unix ms)
 *   16   2  source name length S
 *   18   S  source name (the input's name)
 *   18+S N  data: the raw record, exactly as the source read it
 *
 * VALIDITY.  A block is valid if and only if its magic, version and flags
 * are known, its lengths are within bounds and inside the file, its
 * checkpoint area is well formed, its CRC32
 * matches, its first sequence number is the one expected at that place
 * (the previous block's first + count, or the segment's first), and its
 * payload decompresses to exactly raw length bytes holding exactly the
 * stated number of records.  A segment is readable if its header is valid.
 *
 * RECOVERY (buffer.c, at open).  Segments are scanned in order of their
 * first sequence number.  A segment whose header is invalid is moved to
 * quarantine/ and its records are reported as a gap.  Within a segment the
 * frames are walked; at the first invalid frame the scan looks ahead for
 * the next valid frame (by magic, then full validation):
 *   - found: the bytes between are a corrupt block; its records (up to the
 *     found frame's first sequence number) are reported as a gap;
 *   - not found, newest segment: a torn tail; the file is truncated there;
 *   - not found, older segment: the rest of the segment is reported as a
 *     gap up to the next segment's first record.
 * Records that the head file says were durable but that recovery did not
 * find are reported as a gap too.  Recovery never refuses to start.
 *
 * FAST CURSOR NOTE (NAME.cur.fast).  An acknowledgement is noted at once
 * (at most every 10 ms) by rewriting this file in place with one
 * pwrite() at offset 0, without fsync: it survives a crash of the agent,
 * not a power cut.  It holds 65 bytes of text:
 *
 *    0  55  "acked %020llu dropped %020llu": acked and dropped as in
 *           NAME.cur, each as 20 zero-padded decimal digits
 *   55  10  " %08x\n": CRC32 of bytes 0..54, 8 lowercase hex digits
 *
 * The form written before "dropped" existed, "acked %020llu %08x\n" (36
 * bytes, the CRC over bytes 0..25, dropped taken as 0), is still read.  A
 * note counts when its CRC matches, its acked is at most 2^63 - 1, and it
 * is newer than NAME.cur (a higher acked) or, when the agent opens the
 * cursor, NAME.cur cannot be read; its dropped is taken when higher.  A
 * torn note fails the CRC and NAME.cur stands.  The file is created and
 * written with the cursor, so that rewriting it needs no new disk space:
 * the notes still move when the disk is full.
 *
 * DURABILITY.  Frames are written with one write() each at the end of the
 * newest segment; fsync follows under the fsync policy, and only then does
 * the head file (and buffer_durable_seq(), which sources checkpoint
 * against) move.  Cursor and head files are replaced atomically: write a
 * temporary file, fsync it, rename it, fsync the directory; the fast
 * cursor note is the one file rewritten in place.
 */
#include "buffer_int.h"
#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char seg_magic[8] = { 'S', 'F', 'W', 'D', 'S', 'E',
	'G', 0 };
static const unsigned char blk_magic[4] = { 'S', 'F', 'B', 'K' };

#define DICT_ID		1

/*
 * Preset dictionary, version 1: strings that recur in nearly every Sysmon
 * record, most frequent last (deflate reaches the end of the dictionary
 * with the shortest distances).  It lets even a block of one record
 * compress well at low event rates.  Never change it: write a dict_v2 and
 * bump DICT_ID instead, and keep decoding v1.
 *
 * libdeflate, about twice as fast as zlib both ways, has no preset
 * dictionary, so the two share the blocks by size.  On the corpus's
 * Windows records (2026-12-07, level 1) the dictionary's gain shrinks as
 * a block grows: 5.0x against libdeflate's 3.0x for a block of one
 * record (2 KiB), 7.0x against 5.4x at 8 KiB, 8.4x against 8.0x at
 * 32 KiB; from 48 KiB on libdeflate alone does as well (8.5x) and better
 * above (9.3x against 8.6x at 128 KiB).  Small blocks come from quiet
 * hosts, where the CPU does not matter and the ring's reach does; full
 * blocks (block_size, 64 KiB) take libdeflate.
 */
static const char dict_v1[] =
    "<Data Name='Signature'></Data><Data Name='SignatureStatus'>Valid</Data>"
    "<Data Name='Signed'>true</Data><Data Name='ImageLoaded'>"
    "<Data Name='QueryName'></Data><Data Name='QueryStatus'>0</Data>"
    "<Data Name='QueryResults'></Data><Data Name='TargetObject'>HKLM\\"
    "<Data Name='EventType'>SetValue</Data><Data Name='Details'>"
    "<Data Name='SourceProcessGUID'><Data Name='TargetProcessGUID'>"
    "<Data Name='GrantedAccess'>0x1fffff</Data><Data Name='CallTrace'>"
    "C:\\Windows\\SYSTEM32\\ntdll.dll+|C:\\Windows\\System32\\KERNELBASE.dll+"
    "<Data Name='Protocol'>tcp</Data><Data Name='Initiated'>true</Data>"
    "<Data Name='SourceIsIpv6'>false</Data><Data Name='SourceIp'>"
    "<Data Name='SourceHostname'></Data><Data Name='SourcePort'>"
    "<Data Name='SourcePortName'></Data><Data Name='DestinationIsIpv6'>false"
    "</Data><Data Name='DestinationIp'><Data Name='DestinationHostname'>"
    "</Data><Data Name='DestinationPort'>443</Data>"
    "<Data Name='DestinationPortName'>https</Data>"
    "<Data Name='TargetFilename'>C:\\Users\\<Data Name='CreationUtcTime'>"
    "<Data Name='FileVersion'><Data Name='Description'>"
    "<Data Name='Product'>Microsoft\xC2\xAE Windows\xC2\xAE Operating System"
    "</Data><Data Name='Company'>Microsoft Corporation</Data>"
    "<Data Name='OriginalFileName'><Data Name='CommandLine'>"
    "<Data Name='CurrentDirectory'>C:\\Windows\\system32\\</Data>"
    "<Data Name='User'>NT AUTHORITY\\SYSTEM</Data><Data Name='LogonGuid'>"
    "<Data Name='LogonId'>0x3e7</Data><Data Name='TerminalSessionId'>0</Data>"
    "<Data Name='IntegrityLevel'>System</Data><Data Name='Hashes'>"
    "SHA1=,MD5=,SHA256=,IMPHASH=</Data><Data Name='ParentProcessGuid'>"
    "<Data Name='ParentProcessId'><Data Name='ParentImage'>"
    "<Data Name='ParentCommandLine'><Data Name='ParentUser'>"
    "Oct 24 17:05:38 host sysmon: <Event><System><Provider Name=\""
    "Linux-Sysmon\" Guid=\"{ff032593-a8d3-4f13-b0d6-01fc615a0f97}\"/>"
    "<EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task>"
    "<Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated "
    "SystemTime=\"2021-10-24T17:05:38.412656000Z\"/><EventRecordID>"
    "</EventRecordID><Correlation/><Execution ProcessID=\"\" ThreadID=\"\"/>"
    "<Channel>Linux-Sysmon/Operational</Channel><Computer></Computer>"
    "<Security UserId=\"0\"/></System><EventData><Data Name=\"UtcTime\">"
    "<Data Name=\"ProcessGuid\">{</Data><Data Name=\"ProcessId\">"
    "<Data Name=\"Image\">/usr/bin/</Data><Data Name=\"User\">root</Data>"
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
    "<System><Provider Name='Microsoft-Windows-Sysmon' "
    "Guid='{5770385F-C22A-43E0-BF4C-06F5698FFBD9}'/><EventID>7</EventID>"
    "<Version>3</Version><Level>4</Level><Task>7</Task><Opcode>0</Opcode>"
    "<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2020-"
    "10-20T11:50:51.000000000Z'/><EventRecordID></EventRecordID>"
    "<Correlation/><Execution ProcessID='' ThreadID=''/>"
    "<Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>"
    "</Computer><Security UserID='S-1-5-18'/></System><EventData>"
    "<Data Name='RuleName'>-</Data><Data Name='UtcTime'>2020-10-20 "
    "</Data><Data Name='ProcessGuid'>{</Data><Data Name='ProcessId'>"
    "</Data><Data Name='Image'>C:\\Windows\\System32\\</Data>"
    "</Data></EventData></Event>";

/* ---- small helpers ---------------------------------------------------- */

int
bbuf_reserve(struct bbuf *b, size_t need)
{
	if (need <= b->cap)
		return 0;
	return mem_grow(&b->p, &b->cap, need > 4096 ? need : 4096, 1);
}

int
bbuf_add(struct bbuf *b, const void *p, size_t n)
{
	int rc;

	if ((rc = bbuf_reserve(b, b->len + n)) != 0)
		return rc;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void
bbuf_free(struct bbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
put_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

void
put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

void
put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

uint16_t
get_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t
get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

uint64_t
get_le64(const unsigned char *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* ---- segment header ------------------------------------------------------ */

void
segment_header_make(unsigned char *hdr, uint64_t first_seq)
{
	memcpy(hdr, seg_magic, 8);
	put_le32(hdr + 8, 1);
	put_le32(hdr + 12, SEG_HEADER_LEN);
	put_le64(hdr + 16, first_seq);
	put_le32(hdr + 24, DICT_ID);
	put_le32(hdr + 28, codec_crc32(0, hdr, 28));
}

int
segment_header_check(const unsigned char *hdr, uint64_t *first_seq)
{
	if (memcmp(hdr, seg_magic, 8) != 0 || get_le32(hdr + 8) != 1 ||
	    get_le32(hdr + 12) != SEG_HEADER_LEN ||
	    get_le32(hdr + 24) != DICT_ID ||
	    get_le32(hdr + 28) != codec_crc32(0, hdr, 28))
		return -EINVAL;
	*first_seq = get_le64(hdr + 16);
	return *first_seq == 0 ? -EINVAL : 0;
}

/* ---- codec ----------------------------------------------------------------- */

int
codec_init(struct codec *c, int level)
{
	memset(c, 0, sizeof(*c));
	if (level < 0 || level > 9)
		return -EINVAL;
	c->level = level;
	if (level > 0 &&
	    (c->ldc = libdeflate_alloc_compressor(level)) == NULL)
		return -ENOMEM;
	if ((c->ldd = libdeflate_alloc_decompressor()) == NULL) {
		codec_free(c);
		return -ENOMEM;
	}
	return 0;
}

void
codec_free(struct codec *c)
{
	libdeflate_free_compressor(c->ldc);
	libdeflate_free_decompressor(c->ldd);
	c->ldc = NULL;
	c->ldd = NULL;
	if (c->def_ok)
		deflateEnd(&c->def);
	if (c->inf_ok)
		inflateEnd(&c->inf);
	c->def_ok = c->inf_ok = false;
}

uint32_t
codec_crc32(uint32_t crc, const void *p, size_t n)
{
	/* libdeflate's: the same values as zlib's crc32(), several times
	 * faster (PCLMULQDQ where the CPU has it). */
	return libdeflate_crc32(crc, p, n);
}

/* zlib with dict_v1 into out[0..avail): *len is its length, 0 when it
 * does not fit.  0 or -errno. */
static int
zlib_dict_compress(struct codec *c, const struct bbuf *raw,
    unsigned char *out, size_t avail, size_t *len)
{
	if (!c->def_ok) {
		if (deflateInit2(&c->def, c->level, Z_DEFLATED, 15, 8,
		    Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		c->def_ok = true;
	}
	if (deflateReset(&c->def) != Z_OK ||
	    deflateSetDictionary(&c->def, (const Bytef *)dict_v1,
	    (uInt)(sizeof(dict_v1) - 1)) != Z_OK)
		return -EIO;
	c->def.next_in = raw->p;
	c->def.avail_in = (uInt)raw->len;
	c->def.next_out = out;
	c->def.avail_out = (uInt)avail;
	*len = 0;
	switch (deflate(&c->def, Z_FINISH)) {
	case Z_STREAM_END:
		*len = avail - c->def.avail_out;
		return 0;
	case Z_OK:
	case Z_BUF_ERROR:
		return 0;	/* out is full: not smaller */
	default:
		return -EIO;
	}
}

int
block_add(struct block_builder *bb, uint64_t seq, const char *source,
    int64_t time_ms, uint32_t flags, const void *data, size_t len)
{
	size_t srclen = strlen(source);
	unsigned char h[REC_HEADER_LEN];
	int rc;

	if (srclen > UINT16_MAX || len > UINT32_MAX)
		return -EINVAL;
	if ((rc = bbuf_reserve(&bb->raw, bb->raw.len + REC_HEADER_LEN +
	    srclen + len)) != 0)
		return rc;
	put_le32(h, (uint32_t)len);
	put_le32(h + 4, flags);
	put_le64(h + 8, (uint64_t)time_ms);
	put_le16(h + 16, (uint16_t)srclen);
	(void)bbuf_add(&bb->raw, h, sizeof(h));
	(void)bbuf_add(&bb->raw, source, srclen);
	(void)bbuf_add(&bb->raw, data, len);
	if (bb->nrec == 0) {
		bb->first_seq = seq;
		bb->first_ms = time_ms;
	}
	bb->last_ms = time_ms;
	bb->nrec++;
	return 0;
}

int
block_frame(struct codec *c, const struct block_builder *bb,
    const struct bbuf *meta, struct bbuf *out)
{
	unsigned flavour = BLK_F_RAW;

	if (c->level == 0)
		flavour = 0;
	else if (bb->raw.len < BLOCK_DICT_MIN)
		flavour = BLK_F_DEFLATE;
	return block_frame_as(c, bb, meta, out, flavour);
}

int
block_frame_as(struct codec *c, const struct block_builder *bb,
    const struct bbuf *meta, struct bbuf *out, unsigned flavour)
{
	unsigned char *h, *payload;
	size_t stored = 0, mlen = meta != NULL ? meta->len : 0;
	size_t room = bb->raw.len;
	uint32_t crc;
	int rc;

	if (mlen > BLOCK_META_MAX || (flavour != 0 && c->level == 0) ||
	    (flavour != 0 && flavour != BLK_F_RAW && flavour != BLK_F_DEFLATE))
		return -EINVAL;
	/* libdeflate is fastest with its bound as room; the others stop
	 * where compressing stops paying (the payload is then stored). */
	if (flavour == BLK_F_RAW)
		room = libdeflate_deflate_compress_bound(c->ldc, bb->raw.len);
	out->len = 0;
	if ((rc = bbuf_reserve(out, BLOCK_HEADER_LEN + mlen + room)) != 0)
		return rc;
	h = out->p;
	if (mlen > 0)
		memcpy(h + BLOCK_HEADER_LEN, meta->p, mlen);
	payload = h + BLOCK_HEADER_LEN + mlen;
	if (flavour == BLK_F_RAW) {
		stored = libdeflate_deflate_compress(c->ldc, bb->raw.p,
		    bb->raw.len, payload, room);
	} else if (flavour == BLK_F_DEFLATE &&
	    (rc = zlib_dict_compress(c, &bb->raw, payload, room,
	    &stored)) != 0) {
		return rc;
	}
	if (stored == 0 || stored >= bb->raw.len) {
		/* Incompressible, or level 0: store it. */
		memcpy(payload, bb->raw.p, bb->raw.len);
		stored = bb->raw.len;
		flavour = 0;
	}
	memcpy(h, blk_magic, 4);
	put_le16(h + 4, 1);
	put_le16(h + 6, (uint16_t)flavour);
	put_le64(h + 8, bb->first_seq);
	put_le32(h + 16, bb->nrec);
	put_le32(h + 20, (uint32_t)bb->raw.len);
	put_le32(h + 24, (uint32_t)stored);
	put_le32(h + 28, (uint32_t)mlen);
	put_le64(h + 32, (uint64_t)bb->first_ms);
	put_le64(h + 40, (uint64_t)bb->last_ms);
	crc = codec_crc32(0, h, 48);
	crc = codec_crc32(crc, h + BLOCK_HEADER_LEN, mlen + stored);
	put_le32(h + 48, crc);
	out->len = BLOCK_HEADER_LEN + mlen + stored;
	return 0;
}

int
block_hdr_parse(const unsigned char *p, struct block_hdr *h)
{
	if (memcmp(p, blk_magic, 4) != 0 || get_le16(p + 4) != 1)
		return -EINVAL;
	h->flags = get_le16(p + 6);
	h->first_seq = get_le64(p + 8);
	h->nrec = get_le32(p + 16);
	h->raw_len = get_le32(p + 20);
	h->stored_len = get_le32(p + 24);
	h->meta_len = get_le32(p + 28);
	h->first_ms = (int64_t)get_le64(p + 32);
	h->last_ms = (int64_t)get_le64(p + 40);
	h->crc = get_le32(p + 48);
	if ((h->flags != 0 && h->flags != BLK_F_DEFLATE &&
	    h->flags != BLK_F_RAW) || h->meta_len > BLOCK_META_MAX ||
	    h->nrec == 0 || h->first_seq == 0 ||
	    h->raw_len > BLOCK_RAW_MAX ||
	    (uint64_t)h->nrec * REC_HEADER_LEN > h->raw_len ||
	    h->stored_len > BLOCK_RAW_MAX ||
	    (h->flags == 0 && h->stored_len != h->raw_len))
		return -EINVAL;
	return 0;
}

bool
block_crc_ok(const unsigned char *frame, const struct block_hdr *h)
{
	uint32_t crc = codec_crc32(0, frame, 48);
	size_t off = 0;
	struct block_ckpt ck;

	crc = codec_crc32(crc, frame + BLOCK_HEADER_LEN,
	    (size_t)h->meta_len + h->stored_len);
	if (crc != h->crc)
		return false;
	while (off < h->meta_len)
		if (block_ckpt_next(frame + BLOCK_HEADER_LEN, h->meta_len, &off,
		    &ck) != 0)
			return false;
	return true;
}

/* A BLK_F_DEFLATE payload into out[0..h->raw_len). */
static int
zlib_dict_decode(struct codec *c, const struct block_hdr *h,
    const unsigned char *stored, unsigned char *out)
{
	int zrc;

	if (!c->inf_ok) {
		if (inflateInit2(&c->inf, 15) != Z_OK)
			return -ENOMEM;
		c->inf_ok = true;
	}
	if (inflateReset(&c->inf) != Z_OK)
		return -EIO;
	c->inf.next_in = (Bytef *)(uintptr_t)stored;
	c->inf.avail_in = h->stored_len;
	c->inf.next_out = out;
	c->inf.avail_out = h->raw_len + 1;
	zrc = inflate(&c->inf, Z_FINISH);
	if (zrc == Z_NEED_DICT) {
		/* (It allocates the window: Z_MEM_ERROR is possible.) */
		zrc = inflateSetDictionary(&c->inf, (const Bytef *)dict_v1,
		    (uInt)(sizeof(dict_v1) - 1));
		if (zrc == Z_OK)
			zrc = inflate(&c->inf, Z_FINISH);
	}
	/* No memory says nothing about the block: not damage. */
	if (zrc == Z_MEM_ERROR)
		return -ENOMEM;
	if (zrc != Z_STREAM_END || c->inf.avail_out != 1 ||
	    c->inf.avail_in != 0)
		return -EINVAL;
	return 0;
}

/* A BLK_F_RAW payload into out[0..h->raw_len): all of it, exactly. */
static int
raw_decode(struct codec *c, const struct block_hdr *h,
    const unsigned char *stored, unsigned char *out)
{
	size_t in_used, out_len;

	if (libdeflate_deflate_decompress_ex(c->ldd, stored, h->stored_len,
	    out, h->raw_len, &in_used, &out_len) != LIBDEFLATE_SUCCESS ||
	    in_used != h->stored_len || out_len != h->raw_len)
		return -EINVAL;
	return 0;
}

int
block_decode(struct codec *c, const struct block_hdr *h,
    const unsigned char *stored, struct bbuf *raw, size_t at)
{
	size_t off = at, srclen;
	struct buffer_rec r;
	int rc = 0;

	raw->len = at;
	if (bbuf_reserve(raw, at + h->raw_len + 1) != 0)
		return -ENOMEM;
	if (h->flags == BLK_F_RAW)
		rc = raw_decode(c, h, stored, raw->p + at);
	else if (h->flags == BLK_F_DEFLATE)
		rc = zlib_dict_decode(c, h, stored, raw->p + at);
	else
		memcpy(raw->p + at, stored, h->raw_len);
	if (rc != 0)
		return rc;
	raw->len = at + h->raw_len;
	for (uint32_t i = 0; i < h->nrec; i++)
		if (block_next_rec(raw, &off, h->first_seq + i, &r,
		    &srclen) != 0)
			return -EINVAL;
	return off == raw->len ? 0 : -EINVAL;
}

int
block_ckpt_add(struct bbuf *meta, const char *name, const char *pos)
{
	unsigned char len[2];
	size_t n = strlen(name), p = strlen(pos);
	int rc;

	if (n > 255 || p > 255 || meta->len + n + p + 4 > BLOCK_META_MAX)
		return -EINVAL;
	put_le16(len, (uint16_t)n);
	if ((rc = bbuf_add(meta, len, 2)) != 0 ||
	    (rc = bbuf_add(meta, name, n)) != 0)
		return rc;
	put_le16(len, (uint16_t)p);
	if ((rc = bbuf_add(meta, len, 2)) != 0 ||
	    (rc = bbuf_add(meta, pos, p)) != 0)
		return rc;
	return 0;
}

int
block_ckpt_next(const unsigned char *meta, size_t len, size_t *off,
    struct block_ckpt *ck)
{
	size_t o = *off;

	if (o + 2 > len)
		return -EINVAL;
	ck->name_len = get_le16(meta + o);
	ck->name = (const char *)meta + o + 2;
	o += 2 + ck->name_len;
	if (ck->name_len == 0 || ck->name_len > 255 || o + 2 > len)
		return -EINVAL;
	ck->pos_len = get_le16(meta + o);
	ck->pos = (const char *)meta + o + 2;
	o += 2 + ck->pos_len;
	if (ck->pos_len > 255 || o > len)
		return -EINVAL;
	*off = o;
	return 0;
}

int
block_next_rec(const struct bbuf *raw, size_t *off, uint64_t seq,
    struct buffer_rec *r, size_t *srclen_out)
{
	const unsigned char *p = raw->p + *off;
	size_t left = raw->len - *off;
	uint32_t len;
	uint16_t srclen;

	if (*off > raw->len || left < REC_HEADER_LEN)
		return -EINVAL;
	len = get_le32(p);
	srclen = get_le16(p + 16);
	if ((uint64_t)len + srclen > left - REC_HEADER_LEN)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->seq = seq;
	r->flags = get_le32(p + 4) & (BUFFER_REC_TRUNCATED |
	    BUFFER_REC_SOURCE_GAP);
	r->time_ms = (int64_t)get_le64(p + 8);
	r->source = (const char *)p + REC_HEADER_LEN;	/* not terminated */
	r->data = (const char *)p + REC_HEADER_LEN + srclen;
	r->len = len;
	*srclen_out = srclen;
	*off += REC_HEADER_LEN + srclen + len;
	return 0;
}
