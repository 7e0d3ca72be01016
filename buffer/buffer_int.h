/*
 * buffer_int.h - private to buffer/: the segment format and block codec
 * (segment.c) used by the ring (buffer.c).
 */
#ifndef SYSMONFWD_BUFFER_INT_H
#define SYSMONFWD_BUFFER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libdeflate.h>
#include <zlib.h>

#include "buffer.h"

#define SEG_HEADER_LEN		32
#define BLOCK_HEADER_LEN	52
#define REC_HEADER_LEN		18	/* len, flags, time, srclen */
#define BLOCK_RAW_MAX		(96u << 20)	/* sanity bound */
#define BLOCK_META_MAX		65536		/* checkpoint area */
#define SEG_NAME_FMT		"seg-%016llx.sfw"

/* A growable byte buffer private to buffer/ (bounded by its users). */
struct bbuf {
	unsigned char	*p;
	size_t		 len;
	size_t		 cap;
};

int	bbuf_reserve(struct bbuf *b, size_t need);
int	bbuf_add(struct bbuf *b, const void *p, size_t n);
void	bbuf_free(struct bbuf *b);

/* Little-endian helpers: the format is little-endian on every host. */
void	put_le16(unsigned char *p, uint16_t v);
void	put_le32(unsigned char *p, uint32_t v);
void	put_le64(unsigned char *p, uint64_t v);
uint16_t get_le16(const unsigned char *p);
uint32_t get_le32(const unsigned char *p);
uint64_t get_le64(const unsigned char *p);

/* A block header, decoded. */
struct block_hdr {
	uint16_t	flags;
	uint64_t	first_seq;
	uint32_t	nrec;
	uint32_t	raw_len;
	uint32_t	stored_len;
	uint32_t	meta_len;	/* checkpoint area after the header */
	int64_t		first_ms;
	int64_t		last_ms;
	uint32_t	crc;
};

/* Records being gathered into the next block. */
struct block_builder {
	struct bbuf	raw;
	uint64_t	first_seq;
	uint32_t	nrec;
	int64_t		first_ms;
	int64_t		last_ms;
};

/*
 * The block codec: libdeflate (raw deflate) for blocks of BLOCK_DICT_MIN
 * raw bytes or more, zlib with the preset dictionary below that (and to
 * read blocks written before libdeflate).  The zlib streams are made on
 * first use: a ring of full blocks never needs them.
 */
struct codec {
	struct libdeflate_compressor	*ldc;	/* NULL at level 0 */
	struct libdeflate_decompressor	*ldd;
	z_stream	def;
	z_stream	inf;
	bool		def_ok;
	bool		inf_ok;
	int		level;
};

/* Block payload flavours (the header's flags). */
#define BLK_F_DEFLATE	0x1u	/* zlib stream, preset dictionary */
#define BLK_F_RAW	0x2u	/* raw deflate (RFC 1951), no dictionary */
/* From this many raw bytes on, a block is compressed with libdeflate. */
#define BLOCK_DICT_MIN	(48u << 10)

int	codec_init(struct codec *c, int level);
void	codec_free(struct codec *c);
/* CRC32 (the zlib/gzip one), continued from crc. */
uint32_t codec_crc32(uint32_t crc, const void *p, size_t n);

/* Write a segment header for first_seq into hdr[SEG_HEADER_LEN]. */
void	segment_header_make(unsigned char *hdr, uint64_t first_seq);
/* Check a segment header; store its first_seq.  0 or -EINVAL. */
int	segment_header_check(const unsigned char *hdr, uint64_t *first_seq);

/* Append one record to a block being built.  0 or -ENOMEM. */
int	block_add(struct block_builder *bb, uint64_t seq, const char *source,
	    int64_t time_ms, uint32_t flags, const void *data, size_t len);
/* Compress and frame the block into out (replacing its contents), with
 * meta (may be NULL) as its checkpoint area: the flavour its size picks. */
int	block_frame(struct codec *c, const struct block_builder *bb,
	    const struct bbuf *meta, struct bbuf *out);
/* The same in the flavour given: BLK_F_RAW, BLK_F_DEFLATE (what every
 * block was before BLK_F_RAW existed) or 0 (stored).  The payload is
 * stored instead when compressing does not make it smaller.  0, -ENOMEM,
 * -EINVAL or -EIO. */
int	block_frame_as(struct codec *c, const struct block_builder *bb,
	    const struct bbuf *meta, struct bbuf *out, unsigned flavour);

/* One entry of a checkpoint area (not NUL-terminated). */
struct block_ckpt {
	const char	*name;
	size_t		 name_len;
	const char	*pos;
	size_t		 pos_len;
};

/* Append an entry to a checkpoint area being built.  0 or -errno. */
int	block_ckpt_add(struct bbuf *meta, const char *name, const char *pos);
/* Read the entry at *off of a checkpoint area of len bytes.  0 or -EINVAL. */
int	block_ckpt_next(const unsigned char *meta, size_t len, size_t *off,
	    struct block_ckpt *ck);
/* Where the stored payload of a frame starts, and the frame's length. */
#define BLOCK_STORED(frame, h)	((frame) + BLOCK_HEADER_LEN + (h)->meta_len)
#define BLOCK_FRAME_LEN(h)	\
	((size_t)BLOCK_HEADER_LEN + (h)->meta_len + (h)->stored_len)

/* Decode a header from p[BLOCK_HEADER_LEN]; check the static fields.
 * 0 or -EINVAL. */
int	block_hdr_parse(const unsigned char *p, struct block_hdr *h);
/* Verify the CRC of a frame (header, checkpoint area, stored payload) and
 * the form of its checkpoint area. */
bool	block_crc_ok(const unsigned char *frame, const struct block_hdr *h);
/*
 * Decompress the stored payload of a verified frame into raw at offset at
 * (raw->len becomes at + raw length) and check that it holds exactly
 * h->nrec records.  0, -EINVAL when the block is damaged, or -ENOMEM (or
 * -EIO) when memory or zlib failed, which says nothing about the block.
 */
int	block_decode(struct codec *c, const struct block_hdr *h,
	    const unsigned char *stored, struct bbuf *raw, size_t at);

/* Walk the records of a decoded payload: fill r for the record at *off
 * (r->source is NOT terminated: its length goes to *srclen) and advance
 * *off.  Return 0, or -EINVAL at the end or on damage. */
int	block_next_rec(const struct bbuf *raw, size_t *off, uint64_t seq,
	    struct buffer_rec *r, size_t *srclen);

#endif
