/*
 * source_evtx.c - the `evtx` input: Windows XML Event Log files (.evtx),
 * read with libevtx.
 *
 * path names one .evtx file, or a directory whose files are read one after
 * the other in name order (strcmp; names starting with "." are skipped, so
 * a writer can copy a file in under a dot name and rename it).  Records of
 * every provider are kept: exported logs often mix Security and Sysmon.
 *
 * Each record becomes one ring record holding one <Event> element on one
 * line, in the form EvtRender(EvtRenderEventXml) gives on Windows, so that
 * it takes the same path through event_parse() as the Windows XML lines of
 * the file input:
 *   - libevtx renders the record as pretty-printed XML; expat reads that
 *     back and it is written out again without the whitespace between
 *     elements (a value that is only whitespace, such as a lone LF, is a
 *     value and stays), attributes in single quotes, an empty <Data> as
 *     <Data Name='X'></Data>, CR and LF inside values as &#13; and &#10;;
 *   - libevtx zero-pads HexInt32/HexInt64 values ("0x001fffff") where
 *     Windows does not ("0x1fffff"): the value types are read from the
 *     record's substitution array in the file itself, and a value equal to
 *     the padded text of one of the record's hex values is unpadded;
 *   - XML that expat refuses (libevtx passes some control characters
 *     through raw) is forwarded as libevtx gave it, on one line: the
 *     renderer then makes a tagged parse-error document of it.
 * A record libevtx cannot decode at all is logged and counted as ignored.
 * libevtx 20181227 leaks memory inside itself each time it fails to
 * decode a record (tens of KiB), so a record that failed is never tried
 * again while its file is open, and after DECODE_FAILS_MAX failures the
 * rest of the file's undecodable records are skipped untried.
 *
 * Order and cost: libevtx lists a file's records chunk by chunk at open
 * (reading the whole file) and decodes a record's binary XML when it
 * hands it out, so records are never all decoded up front.  They are
 * taken in number order: a log that wrapped around holds its newest
 * chunks first, and a binary search on a few records finds the oldest;
 * another finds the first record after the position.  A poll decodes at
 * most about `budget` bytes of records and POLL_MAX_MS of work.
 *
 * Position: "file NAME record N", NAME the file (its name in the
 * directory, or the basename of path), N the number, in the record
 * header (not EventRecordID), of the last record of it appended; files
 * sorting before NAME are done.  It goes to the ring after every record
 * (buffer_set_position(): it is written with the records) and to
 * state_dir/positions/NAME.pos once durable (source_pos_*); a restart
 * resumes at the furthest of the two, so it repeats at most one record
 * on the input's side.
 *
 * follow = true: libevtx reads a file's layout when it opens it, so a live
 * file is looked at every poll_interval (longer for a large file: 20
 * times what opening it took) and opened again when its size,
 * modification time or inode changed; only records numbered above the
 * position are taken.  Records at the end that do not decode (a chunk the
 * writer is in the middle of) are left for the next look unless records
 * after them decode.  A file whose numbers all lie below the position
 * (the log was cleared or replaced) is read from its start.  In a
 * directory, files whose names sort after the current one are picked up
 * as they appear; a file appearing with a name sorting before it is not
 * read.  start = end skips what exists at the first run.
 */
#include "source_int.h"
#include "base.h"
#include "position.h"

#include <dirent.h>
#include <errno.h>
#include <expat.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Debian's libevtx.h includes libbfio.h, which libevtx-dev does not
 * bring; the libbfio-based calls are not used here, so leave them out.
 */
#include <libevtx/features.h>
#undef LIBEVTX_HAVE_BFIO
#include <libevtx.h>

#ifndef _WIN32
/*
 * libevtx is not linked on Linux: the first evtx input loads it
 * (dynlib.c), so that an agent without one maps none of it (nor
 * libbfio and the rest it pulls in).  The functions used are called
 * through evtx_api, each name below made to mean its pointer so that the
 * calls read as the library's own.  The Windows build links its static
 * libevtx as before.
 */
#define EVTX_FUNCS(X)							\
	X(libevtx_error_free) X(libevtx_error_sprint)			\
	X(libevtx_file_close) X(libevtx_file_free)			\
	X(libevtx_file_get_number_of_records)				\
	X(libevtx_file_get_record_by_index) X(libevtx_file_initialize)	\
	X(libevtx_file_open) X(libevtx_record_free)			\
	X(libevtx_record_get_identifier)				\
	X(libevtx_record_get_utf8_xml_string)				\
	X(libevtx_record_get_utf8_xml_string_size)

static struct evtx_api {
#define X(f)	__typeof__(f) *f;
	EVTX_FUNCS(X)
#undef X
} evtx_api;

static const struct dynlib_sym evtx_syms[] = {
#define X(f)	{ #f, offsetof(struct evtx_api, f) },
	EVTX_FUNCS(X)
#undef X
};

static struct dynlib libevtx = {
	.soname = "libevtx.so.1",
	.package = "libevtx1",
	.syms = evtx_syms,
	.nsyms = sizeof(evtx_syms) / sizeof(evtx_syms[0]),
	.tab = &evtx_api,
};

#define libevtx_error_free		evtx_api.libevtx_error_free
#define libevtx_error_sprint		evtx_api.libevtx_error_sprint
#define libevtx_file_close		evtx_api.libevtx_file_close
#define libevtx_file_free		evtx_api.libevtx_file_free
#define libevtx_file_get_number_of_records \
	evtx_api.libevtx_file_get_number_of_records
#define libevtx_file_get_record_by_index \
	evtx_api.libevtx_file_get_record_by_index
#define libevtx_file_initialize		evtx_api.libevtx_file_initialize
#define libevtx_file_open		evtx_api.libevtx_file_open
#define libevtx_record_free		evtx_api.libevtx_record_free
#define libevtx_record_get_identifier	evtx_api.libevtx_record_get_identifier
#define libevtx_record_get_utf8_xml_string \
	evtx_api.libevtx_record_get_utf8_xml_string
#define libevtx_record_get_utf8_xml_string_size \
	evtx_api.libevtx_record_get_utf8_xml_string_size
#endif

#define EVTX_HEADER_SIZE	4096	/* file header */
#define EVTX_CHUNK_SIZE		65536
#define XML_MAX			(16u << 20)	/* libevtx's rendering */
#define HEX_MAX			256	/* hex values kept per record */
#define BAD_LOG_MAX		5	/* damaged records logged per file */
#define BLOCKED_RETRY_MS	10	/* the ring was full */
#define PROBE_MAX		64	/* records tried past a bad one */
#define DECODE_FAILS_MAX	256	/* per opening of a file */
#define BAD_COST		1024	/* budget used by a skipped record */
#define REOPEN_COST_FACTOR	20	/* live file: wait 20 x open time */
#define POLL_MAX_MS		20	/* decoding time per poll */

struct evtx_source {
	struct source	 base;
	const struct config_input *cfg;
	struct source_pos pos;
	bool		 is_dir;
	bool		 kind_known;	/* is_dir is set (path was seen) */
	bool		 waiting_path;	/* follow: path does not exist */
	bool		 warned_dir;	/* the directory was unreadable */
	/* Where the input stands: the position. */
	char		 cur[NAME_MAX + 1];	/* "" before the first file */
	uint64_t	 last_id;
	bool		 skip_existing;	/* start = end on the first run */
	/* The file of cur when it was last opened. */
	bool		 have_st;
	struct stat	 cur_st;
	uint64_t	 cur_dev, cur_ino;	/* source_file_id() */
	bool		 cur_open_failed;
	/*
	 * The file being read.  libevtx's records in index order are the
	 * records in number order rotated by rot (a log that wrapped).
	 */
	libevtx_file_t	*ef;
	int		 fd;		/* the same file: raw record bytes */
	size_t		 nrec;		/* libevtx's records */
	size_t		 rot;		/* libevtx's index of the oldest */
	size_t		 next;		/* next position (0..nrec) to take */
	size_t		 nbad;		/* undecodable records before next */
	uint8_t		*badmap;	/* by index: does not decode */
	int		 fails;		/* decoding failures */
	int64_t		 open_ms;	/* how long opening it took */
	uint64_t	 bad_in_file;
	bool		 told_tail;
	/* State of the poll loop. */
	bool		 finished;
	bool		 idle;		/* nothing to read before next_look */
	bool		 blocked;	/* the ring was full */
	int64_t		 next_look_ms;
	uint64_t	 last_seq;
	char		 noted[SOURCE_POS_MAX];	/* last position noted */
	bool		 noted_valid;
	/* Rendering. */
	char		*xml;		/* libevtx's rendering */
	size_t		 xml_cap;
	unsigned char	*chunk;		/* a chunk of the file */
	int64_t		 chunk_no;	/* which one; -1: none */
	int64_t		 nchunks;
	struct strbuf	 out;		/* the one-line record */
	struct strbuf	 text;		/* character data of one element */
	XML_Parser	 xp;
	int		 depth;
	bool		 tag_open;	/* the '>' of a start tag is pending */
	bool		 has_child[64];
	bool		 xml_failed;
	uint32_t	 hex32[HEX_MAX];
	uint64_t	 hex64[HEX_MAX];
	size_t		 nhex32, nhex64;
};

#define ES(s)	((struct evtx_source *)(s))
#define CES(s)	((const struct evtx_source *)(s))

/* ---- small helpers ------------------------------------------------------- */

static const char *
evtx_err(libevtx_error_t **err, char *buf, size_t len)
{
	char *nl;

	buf[0] = '\0';
	if (err == NULL || *err == NULL) {
		snprintf(buf, len, "unknown error");
		return buf;
	}
	if (libevtx_error_sprint(*err, buf, len) < 0 || buf[0] == '\0')
		snprintf(buf, len, "unknown error");
	libevtx_error_free(err);
	/* The library writes one line per level: keep the first. */
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	return buf;
}

static void
evtx_err_free(libevtx_error_t **err)
{
	if (*err != NULL)
		libevtx_error_free(err);
}

static uint16_t
le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

/* The file of name cur, in full.  0 or -ENAMETOOLONG. */
static int
cur_path(const struct evtx_source *s, char *buf, size_t len)
{
	int n;

	if (s->is_dir)
		n = snprintf(buf, len, "%s/%s", s->cfg->path, s->cur);
	else
		n = snprintf(buf, len, "%s", s->cfg->path);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * libevtx_file_open() of path.  On Windows by the wide call: libcfile
 * makes a narrow path "\\?\\" + the absolute path, where the '/' of
 * our UTF-8 paths is an invalid name, and the narrow calls would read
 * UTF-8 as the ANSI code page.  1 when open, as libevtx says.
 */
static int
evtx_open(libevtx_file_t *ef, const char *path, libevtx_error_t **err)
{
#ifdef _WIN32
	wchar_t *w;
	int rc;

	if (win_wpath(path, &w) != 0)
		return -1;
	rc = libevtx_file_open_wide(ef, w, LIBEVTX_OPEN_READ, err);
	free(w);
	return rc;
#else
	return libevtx_file_open(ef, path, LIBEVTX_OPEN_READ, err);
#endif
}

/*
 * path (sb) is the file cur was when last opened: the same identity
 * (device and inode; on Windows the volume and the file index), size and
 * modification time.
 */
static bool
same_file(const struct evtx_source *s, const char *path,
    const struct stat *sb)
{
	uint64_t dev, ino;

	if (source_file_id(sb, -1, path, &dev, &ino) != 0 ||
	    dev != s->cur_dev || ino != s->cur_ino ||
	    sb->st_size != s->cur_st.st_size)
		return false;
#ifdef _WIN32
	return sb->st_mtime == s->cur_st.st_mtime;
#else
	return sb->st_mtim.tv_sec == s->cur_st.st_mtim.tv_sec &&
	    sb->st_mtim.tv_nsec == s->cur_st.st_mtim.tv_nsec;
#endif
}

/* ---- the position -------------------------------------------------------- */

static void
pos_format(const struct evtx_source *s, char *buf, size_t len)
{
	(void)evtx_pos_format(buf, len, s->cur, s->last_id);	/* position.c */
}

/*
 * Tell the ring where the input stands, after every record: the ring
 * writes the position with the block it seals next, which may be during
 * the next append, so a crash repeats at most one record.  The ring keeps
 * at most 255 bytes; the position file has it all.
 */
static void
pos_ring(struct evtx_source *s, struct buffer *b)
{
	char buf[SOURCE_POS_MAX];

	pos_format(s, buf, sizeof(buf));
	if (strlen(buf) <= 255)
		buffer_set_position(b, s->cfg->name, buf);
}

/*
 * And the position file, once it moved: safe once the last record
 * appended is durable.
 */
static void
pos_note(struct evtx_source *s, struct buffer *b)
{
	char buf[SOURCE_POS_MAX];

	pos_format(s, buf, sizeof(buf));
	if (s->noted_valid && strcmp(buf, s->noted) == 0)
		return;
	source_pos_note(&s->pos, s->last_seq, buf);
	if (b != NULL)
		pos_ring(s, b);
	memcpy(s->noted, buf, sizeof(s->noted));
	s->noted_valid = true;
}

/* ---- hex values of a record ---------------------------------------------- */

/*
 * Collect the HexInt32 and HexInt64 values of the binary XML p[0..n),
 * found at chunk offset base: a fragment header, a template instance
 * (with the template's definition inline the first time a chunk uses
 * it), then the substitution array of (size, type) descriptors and the
 * values.  BinXml values (type 0x21) hold nested instances.
 */
static void
hex_walk(struct evtx_source *s, const unsigned char *p, size_t n,
    uint64_t base, int depth)
{
	size_t i = 0, vals;
	uint32_t count;

	if (n >= 4 && p[0] == 0x0f)
		i = 4;
	if (i + 10 > n || p[i] != 0x0c)
		return;
	if (le32(p + i + 6) == base + i + 10) {
		uint32_t size;

		i += 10;
		if (i + 24 > n)
			return;
		size = le32(p + i + 20);
		if (size > n - i - 24)
			return;
		i += 24 + size;
	} else {
		i += 10;
	}
	if (i + 4 > n)
		return;
	count = le32(p + i);
	i += 4;
	if (count > (n - i) / 4)
		return;
	vals = i + (size_t)count * 4;
	for (uint32_t k = 0; k < count; k++) {
		const unsigned char *d = p + i + (size_t)k * 4;
		size_t size = le16(d);
		unsigned type = d[2];

		if (size > n - vals)
			return;
		if (type == 0x14 && size == 4 && s->nhex32 < HEX_MAX)
			s->hex32[s->nhex32++] = le32(p + vals);
		else if (type == 0x15 && size == 8 && s->nhex64 < HEX_MAX)
			s->hex64[s->nhex64++] = le64(p + vals);
		else if (type == 0x21 && depth < 4)
			hex_walk(s, p + vals, size, base + vals, depth + 1);
		vals += size;
	}
}

/* Load chunk k of the open file.  True when it is a chunk. */
static bool
chunk_load(struct evtx_source *s, int64_t k)
{
	off_t off = (off_t)(EVTX_HEADER_SIZE + k * EVTX_CHUNK_SIZE);

	if (s->chunk_no == k)
		return true;
	s->chunk_no = -1;
	if (pread(s->fd, s->chunk, EVTX_CHUNK_SIZE, off) != EVTX_CHUNK_SIZE ||
	    memcmp(s->chunk, "ElfChnk", 8) != 0)
		return false;
	s->chunk_no = k;
	return true;
}

/* Find record id in the loaded chunk: its offset in the chunk, or 0. */
static size_t
chunk_find(const struct evtx_source *s, uint64_t id)
{
	size_t off = 512;

	while (off + 28 <= EVTX_CHUNK_SIZE) {
		const unsigned char *r = s->chunk + off;
		uint32_t size = le32(r + 4);

		if (memcmp(r, "\x2a\x2a\x00\x00", 4) != 0 || size < 28 ||
		    size > EVTX_CHUNK_SIZE - off)
			return 0;
		if (le64(r + 8) == id)
			return off;
		off += size;
	}
	return 0;
}

/*
 * Find record id in the file (libevtx does not say where a record is)
 * and collect its hex values.  The chunk of the previous record is
 * looked at first, then the chunks after it whose header says they may
 * hold id.  Anything unexpected leaves the lists empty.
 */
static void
hex_collect(struct evtx_source *s, uint64_t id)
{
	unsigned char hdr[24];
	int64_t k0 = s->chunk_no >= 0 ? s->chunk_no : 0;
	size_t off = 0;

	s->nhex32 = s->nhex64 = 0;
	if (s->fd < 0 || s->nchunks == 0)
		return;
	if (s->chunk_no >= 0)
		off = chunk_find(s, id);
	for (int64_t i = 0; off == 0 && i < s->nchunks; i++) {
		int64_t k = (k0 + i) % s->nchunks;
		uint64_t first, last;

		if (k == s->chunk_no)
			continue;
		if (pread(s->fd, hdr, sizeof(hdr), (off_t)(EVTX_HEADER_SIZE +
		    k * EVTX_CHUNK_SIZE)) != (ssize_t)sizeof(hdr) ||
		    memcmp(hdr, "ElfChnk", 8) != 0)
			continue;
		first = le64(hdr + 8);
		last = le64(hdr + 16);
		/* A chunk being written may not have its header updated. */
		if (id < first || (id > last && k != s->nchunks - 1))
			continue;
		if (chunk_load(s, k))
			off = chunk_find(s, id);
	}
	if (off == 0)
		return;
	hex_walk(s, s->chunk + off + 24, le32(s->chunk + off + 4) - 28,
	    off + 24, 0);
}

/* Is v (n bytes) libevtx's padded text of one of the record's hex
 * values?  Then store the unpadded text in out. */
static bool
hex_unpad(const struct evtx_source *s, const char *v, size_t n, char *out,
    size_t outlen)
{
	uint64_t x = 0;

	if ((n != 10 && n != 18) || v[0] != '0' || v[1] != 'x' || v[2] != '0')
		return false;
	for (size_t i = 2; i < n; i++) {
		char c = v[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		x = x << 4 | d;
	}
	if (n == 10) {
		for (size_t i = 0; i < s->nhex32; i++)
			if (s->hex32[i] == x)
				goto found;
	} else {
		for (size_t i = 0; i < s->nhex64; i++)
			if (s->hex64[i] == x)
				goto found;
	}
	return false;
found:
	snprintf(out, outlen, "0x%" PRIx64, x);
	return true;
}

/* ---- one line of XML ----------------------------------------------------- */

/* Append value v (n bytes) escaped: as an attribute value or as text. */
static int
add_escaped(struct evtx_source *s, const char *v, size_t n, bool attr)
{
	char hex[32];
	size_t i, run = 0;
	int rc;

	if (hex_unpad(s, v, n, hex, sizeof(hex)))
		return strbuf_adds(&s->out, hex);
	for (i = 0; i < n; i++) {
		const char *rep = NULL;

		switch (v[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '\r': rep = "&#13;"; break;
		case '\n': rep = "&#10;"; break;
		case '\'': rep = attr ? "&apos;" : NULL; break;
		case '\t': rep = attr ? "&#9;" : NULL; break;
		}
		if (rep == NULL)
			continue;
		if ((rc = strbuf_add(&s->out, v + run, i - run)) != 0 ||
		    (rc = strbuf_adds(&s->out, rep)) != 0)
			return rc;
		run = i + 1;
	}
	return strbuf_add(&s->out, v + run, n - run);
}

static bool
all_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return false;
	return true;
}

static void
xml_fail(struct evtx_source *s)
{
	s->xml_failed = true;
	XML_StopParser(s->xp, XML_FALSE);
}

/* Before a child element or the end tag: write out the pending '>' and
 * the text so far, unless it is whitespace between elements. */
static int
flush_text(struct evtx_source *s, bool before_child)
{
	int rc;

	if (before_child && all_space(s->text.s, s->text.len)) {
		strbuf_reset(&s->text);
		if (s->tag_open) {
			s->tag_open = false;
			return strbuf_addc(&s->out, '>');
		}
		return 0;
	}
	if (s->tag_open) {
		s->tag_open = false;
		if ((rc = strbuf_addc(&s->out, '>')) != 0)
			return rc;
	}
	rc = add_escaped(s, s->text.s != NULL ? s->text.s : "", s->text.len,
	    false);
	strbuf_reset(&s->text);
	return rc;
}

static void
on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct evtx_source *s = ud;

	if (s->depth >= (int)(sizeof(s->has_child) / sizeof(s->has_child[0])))
		goto fail;
	if (s->depth > 0) {
		s->has_child[s->depth - 1] = true;
		if (flush_text(s, true) != 0)
			goto fail;
	}
	if (strbuf_addc(&s->out, '<') != 0 || strbuf_adds(&s->out, name) != 0)
		goto fail;
	for (size_t i = 0; attrs[i] != NULL; i += 2) {
		if (strbuf_addc(&s->out, ' ') != 0 ||
		    strbuf_adds(&s->out, attrs[i]) != 0 ||
		    strbuf_adds(&s->out, "='") != 0 ||
		    add_escaped(s, attrs[i + 1], strlen(attrs[i + 1]), true) !=
		    0 || strbuf_addc(&s->out, '\'') != 0)
			goto fail;
	}
	s->has_child[s->depth++] = false;
	s->tag_open = true;
	return;
fail:
	xml_fail(s);
}

static void
on_end(void *ud, const XML_Char *name)
{
	struct evtx_source *s = ud;
	bool leaf = !s->has_child[--s->depth];

	if (leaf && s->tag_open && s->text.len == 0 &&
	    strcmp(name, "Data") != 0) {
		/* An empty element other than Data: <Correlation/>. */
		s->tag_open = false;
		if (strbuf_adds(&s->out, "/>") != 0)
			xml_fail(s);
		return;
	}
	if (flush_text(s, !leaf) != 0 || strbuf_adds(&s->out, "</") != 0 ||
	    strbuf_adds(&s->out, name) != 0 || strbuf_addc(&s->out, '>') != 0)
		xml_fail(s);
}

static void
on_text(void *ud, const XML_Char *t, int len)
{
	struct evtx_source *s = ud;

	if (strbuf_add(&s->text, t, (size_t)len) != 0)
		xml_fail(s);
}

static void
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal;
	xml_fail(ud);
}

/*
 * libevtx's XML was refused: put it on one line as it is.  Line breaks
 * between a '>' and a '<' (with the indentation after them) go; any other
 * CR or LF is written as a character reference.
 */
static int
one_line_raw(struct evtx_source *s, const char *x, size_t n)
{
	int rc = 0;

	strbuf_reset(&s->out);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (x[i] == '\n' && i > 0 && x[i - 1] == '>') {
			size_t j = i + 1;
			while (j < n && x[j] == ' ')
				j++;
			if (j == n || x[j] == '<') {
				i = j - 1;
				continue;
			}
		}
		if (x[i] == '\n')
			rc = strbuf_adds(&s->out, "&#10;");
		else if (x[i] == '\r')
			rc = strbuf_adds(&s->out, "&#13;");
		else
			rc = strbuf_addc(&s->out, x[i]);
	}
	return rc;
}

/* Turn libevtx's rendering x (n bytes) into the one-line record in
 * s->out.  0 or -errno. */
static int
one_line(struct evtx_source *s, const char *x, size_t n)
{
	while (n > 0 && (x[n - 1] == '\n' || x[n - 1] == '\r' ||
	    x[n - 1] == ' ' || x[n - 1] == '\0'))
		n--;
	strbuf_reset(&s->out);
	strbuf_reset(&s->text);
	s->depth = 0;
	s->tag_open = false;
	s->xml_failed = false;
	if (XML_ParserReset(s->xp, "UTF-8") != XML_TRUE)
		return -ENOMEM;
	XML_SetUserData(s->xp, s);
	XML_SetElementHandler(s->xp, on_start, on_end);
	XML_SetCharacterDataHandler(s->xp, on_text);
	XML_SetStartDoctypeDeclHandler(s->xp, on_doctype);
	XML_SetParamEntityParsing(s->xp, XML_PARAM_ENTITY_PARSING_NEVER);
	if (n > INT32_MAX || XML_Parse(s->xp, x, (int)n, XML_TRUE) !=
	    XML_STATUS_OK || s->xml_failed || s->depth != 0 ||
	    s->out.overflow)
		return one_line_raw(s, x, n);
	return 0;
}

/* ---- reading a file ------------------------------------------------------ */

static void
file_close(struct evtx_source *s)
{
	libevtx_error_t *err = NULL;

	if (s->ef != NULL) {
		libevtx_file_close(s->ef, &err);
		evtx_err_free(&err);
		libevtx_file_free(&s->ef, &err);
		evtx_err_free(&err);
		s->ef = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->nrec = s->rot = s->next = s->nbad = 0;
	free(s->badmap);
	s->badmap = NULL;
	s->fails = 0;
}

static void
rec_free(libevtx_record_t **r)
{
	libevtx_error_t *err = NULL;

	if (*r != NULL)
		libevtx_record_free(r, &err);
	evtx_err_free(&err);
	*r = NULL;
}

/*
 * The record at position p in number order, and its number in *id; NULL
 * when libevtx cannot decode it (why says what went wrong).  Decoding
 * happens here: libevtx parses the record's binary XML when it hands out
 * the record.
 */
static libevtx_record_t *
rec_at(struct evtx_source *s, size_t p, uint64_t *id, char *why,
    size_t whylen)
{
	libevtx_error_t *err = NULL;
	libevtx_record_t *r = NULL;
	size_t idx = (s->rot + p) % s->nrec;

	*id = 0;
	if (s->badmap[idx / 8] & (1u << (idx % 8))) {
		if (why != NULL)
			snprintf(why, whylen, "it did not decode before");
		return NULL;
	}
	if (s->fails >= DECODE_FAILS_MAX) {
		if (why != NULL)
			snprintf(why, whylen, "too many records of this file "
			    "do not decode");
		return NULL;
	}
	if (libevtx_file_get_record_by_index(s->ef, (int)idx, &r, &err) !=
	    1 || libevtx_record_get_identifier(r, id, &err) != 1 ||
	    *id == 0) {
		if (why != NULL)
			evtx_err(&err, why, whylen);
		evtx_err_free(&err);
		rec_free(&r);
		s->badmap[idx / 8] |= (uint8_t)(1u << (idx % 8));
		if (++s->fails == DECODE_FAILS_MAX)
			log_warnx("input %s: %s: %d records do not decode; "
			    "skipping the rest of this file's records that do "
			    "not decode at once (libevtx leaks memory on "
			    "each)", s->cfg->name, s->cur, DECODE_FAILS_MAX);
		return NULL;
	}
	return r;
}

/*
 * The number of the first record at position p or after it that decodes
 * (looking PROBE_MAX positions ahead, below end), its position in *at;
 * 0 when there is none.
 */
static uint64_t
probe(struct evtx_source *s, size_t p, size_t end, size_t *at)
{
	for (size_t i = p; i < end && i < p + PROBE_MAX; i++) {
		libevtx_record_t *r;
		uint64_t id;

		if ((r = rec_at(s, i, &id, NULL, 0)) != NULL) {
			rec_free(&r);
			*at = i;
			return id;
		}
	}
	return 0;
}

/* The same, looking back from position p. */
static uint64_t
probe_back(struct evtx_source *s, size_t p, size_t *at)
{
	for (size_t i = 0; i <= p && i < PROBE_MAX; i++) {
		libevtx_record_t *r;
		uint64_t id;

		if ((r = rec_at(s, p - i, &id, NULL, 0)) != NULL) {
			rec_free(&r);
			*at = p - i;
			return id;
		}
	}
	return 0;
}

/*
 * libevtx lists records chunk by chunk in file order.  A log that
 * wrapped around holds its newest chunks before its oldest ones, so the
 * numbers rise along that list, drop once, and rise again: find where
 * the oldest record is (binary search, a few records decoded) and set rot
 * so that position 0 is the oldest record.
 */
static void
find_rotation(struct evtx_source *s)
{
	size_t lo = 0, hi, at;
	uint64_t last, first, v;

	s->rot = 0;
	if ((last = probe_back(s, s->nrec - 1, &at)) == 0 ||
	    (first = probe(s, 0, s->nrec, &at)) == 0 || first <= last)
		return;
	hi = s->nrec - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		v = probe(s, mid, s->nrec, &at);
		if (v == 0 || v <= last)
			hi = mid;
		else
			lo = at + 1;
	}
	s->rot = lo;
}

/*
 * The first position whose record (or the first one after it that
 * decodes) is numbered above n: where to start after record n.
 */
static size_t
find_start(struct evtx_source *s, uint64_t n)
{
	size_t lo = 0, hi = s->nrec, at;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t v = probe(s, mid, s->nrec, &at);

		if (v == 0 || v > n)
			hi = mid;
		else
			lo = at + 1;
	}
	return lo;
}

/*
 * In the file just opened (at path), find the first record numbered above
 * last_id: 0, or 1 (the file closed again) when it has nothing new.
 */
static int
file_seek(struct evtx_source *s, const char *path)
{
	uint64_t max_id;
	size_t at;

	find_rotation(s);
	max_id = probe_back(s, s->nrec - 1, &at);
	if (s->skip_existing) {
		s->skip_existing = false;
		s->last_id = max_id;
		if (max_id > 0)
			log_info("input %s: first run with start = end: "
			    "skipping the records of %s up to number %" PRIu64,
			    s->cfg->name, path, max_id);
		file_close(s);
		return 1;
	}
	if (max_id > 0 && max_id < s->last_id) {
		log_warnx("input %s: %s holds records up to number %" PRIu64
		    " only, below the position (%" PRIu64 "): the log was "
		    "cleared or replaced; reading it from the start",
		    s->cfg->name, path, max_id, s->last_id);
		s->last_id = 0;
	}
	s->next = s->last_id > 0 ? find_start(s, s->last_id) : 0;
	s->nbad = 0;
	if (s->next == s->nrec) {
		file_close(s);
		return 1;
	}
	log_debug("input %s: %s: %zu records, reading from position %zu "
	    "(after number %" PRIu64 ")", s->cfg->name, path, s->nrec,
	    s->next, s->last_id);
	return 0;
}

/*
 * Open the file of cur and find the first record numbered above last_id.
 * Return 0, 1 when it has nothing new, or -errno (logged unless quiet).
 */
static int
file_open(struct evtx_source *s, bool quiet)
{
	libevtx_error_t *err = NULL;
	char path[PATH_MAX], ebuf[512];
	int64_t t0;
	int n = 0, rc;

	if ((rc = cur_path(s, path, sizeof(path))) != 0)
		return rc;
	if ((s->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		if (!quiet)
			log_warnx("input %s: cannot open %s: %s", s->cfg->name,
			    path, strerror(errno));
		return rc;
	}
	if (fstat(s->fd, &s->cur_st) != 0 || !S_ISREG(s->cur_st.st_mode)) {
		rc = S_ISDIR(s->cur_st.st_mode) ? -EISDIR : -EINVAL;
		log_warnx("input %s: %s is not a regular file", s->cfg->name,
		    path);
		goto err_close;
	}
	(void)source_file_id(&s->cur_st, s->fd, path, &s->cur_dev,
	    &s->cur_ino);
	s->have_st = true;
	s->chunk_no = -1;
	s->nchunks = s->cur_st.st_size > EVTX_HEADER_SIZE ?
	    (s->cur_st.st_size - EVTX_HEADER_SIZE) / EVTX_CHUNK_SIZE : 0;
	if (libevtx_file_initialize(&s->ef, &err) != 1) {
		evtx_err_free(&err);
		rc = -ENOMEM;
		goto err_close;
	}
	t0 = mono_now_ms();
	if (evtx_open(s->ef, path, &err) != 1) {
		rc = -EINVAL;
		evtx_err(&err, ebuf, sizeof(ebuf));
		libevtx_file_free(&s->ef, &err);
		evtx_err_free(&err);
		s->ef = NULL;
		if (!quiet)
			log_warnx("input %s: %s is not a readable .evtx file: "
			    "%s", s->cfg->name, path, ebuf);
		goto err_close;
	}
	s->open_ms = mono_now_ms() - t0;
	if (libevtx_file_get_number_of_records(s->ef, &n, &err) != 1 ||
	    n < 0) {
		evtx_err_free(&err);
		n = 0;
	}
	s->nrec = (size_t)n;
	s->cur_open_failed = false;
	if (s->nrec == 0) {
		file_close(s);
		return 1;
	}
	if ((s->badmap = calloc((s->nrec + 7) / 8, 1)) == NULL) {
		rc = -ENOMEM;
		goto err_close;
	}
	return file_seek(s, path);

err_close:
	file_close(s);
	s->cur_open_failed = true;
	return rc;
}

/* Count and log the nbad records before position next that libevtx
 * could not decode: they are skipped. */
static void
report_bad(struct evtx_source *s)
{
	if (s->nbad == 0)
		return;
	s->base.st.ignored += s->nbad;
	s->bad_in_file += s->nbad;
	if (s->bad_in_file - s->nbad < BAD_LOG_MAX)
		log_warnx("input %s: %s: %zu record(s) after number %" PRIu64
		    " cannot be decoded; skipping them", s->cfg->name, s->cur,
		    s->nbad, s->last_id);
	s->nbad = 0;
}

/*
 * Render record r (number id) into s->out.  Return 0, -EINVAL when
 * libevtx cannot give its XML (why says why), or -ENOMEM.
 */
static int
render(struct evtx_source *s, libevtx_record_t *r, uint64_t id, char *why,
    size_t whylen)
{
	libevtx_error_t *err = NULL;
	size_t size = 0;

	why[0] = '\0';
	if (libevtx_record_get_utf8_xml_string_size(r, &size, &err) != 1) {
		evtx_err(&err, why, whylen);
		return -EINVAL;
	}
	if (size < 2 || size > XML_MAX) {
		snprintf(why, whylen, "XML of %zu bytes", size);
		return -EINVAL;
	}
	if (mem_grow(&s->xml, &s->xml_cap, size, 1) != 0)
		return -ENOMEM;
	if (libevtx_record_get_utf8_xml_string(r, (uint8_t *)s->xml, size,
	    &err) != 1) {
		evtx_err(&err, why, whylen);
		return -EINVAL;
	}
	hex_collect(s, id);
	return one_line(s, s->xml, strnlen(s->xml, size));
}

/* ---- choosing the next file ---------------------------------------------- */

/*
 * The first name in the directory after `after` ("" for the first), or
 * its last name when `last`: regular files not starting with ".".  0,
 * 1 when there is none, or -errno.
 */
static int
dir_pick(const struct evtx_source *s, const char *after, bool last,
    char *name, size_t len)
{
	DIR *d;
	struct dirent *de;
	int found = 0;
#ifndef _WIN32
	int dfd;
#endif

	if ((d = opendir(s->cfg->path)) == NULL)
		return -errno;
#ifndef _WIN32
	dfd = dirfd(d);
#endif
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= len)
			continue;
		if (last) {
			if (found && strcmp(de->d_name, name) <= 0)
				continue;
		} else if (strcmp(de->d_name, after) <= 0 ||
		    (found && strcmp(de->d_name, name) >= 0)) {
			continue;
		}
#ifdef _WIN32
		{
			char p[PATH_MAX];

			if (snprintf(p, sizeof(p), "%s/%s", s->cfg->path,
			    de->d_name) >= (int)sizeof(p) ||
			    stat(p, &sb) != 0 || !S_ISREG(sb.st_mode))
				continue;
		}
#else
		if (fstatat(dfd, de->d_name, &sb, 0) != 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
#endif
		snprintf(name, len, "%s", de->d_name);
		found = 1;
	}
	closedir(d);
	return found ? 0 : 1;
}

/* Is path there, and which kind?  0, or -errno. */
static int
path_kind(struct evtx_source *s)
{
	struct stat sb;

	if (stat(s->cfg->path, &sb) != 0)
		return -errno;
	s->is_dir = S_ISDIR(sb.st_mode);
	s->kind_known = true;
	if (!s->is_dir && s->cur[0] != '\0' &&
	    strcmp(s->cur, base_name(s->cfg->path)) != 0) {
		log_info("input %s: the saved position is in %s, not %s; "
		    "reading %s from the start", s->cfg->name, s->cur,
		    base_name(s->cfg->path), s->cfg->path);
		s->last_id = 0;
	}
	if (!s->is_dir)
		snprintf(s->cur, sizeof(s->cur), "%s", base_name(s->cfg->path));
	return 0;
}

/*
 * Nothing is open: find something to read.  Return 0 when a file with
 * records to read is open, 1 when there is nothing now (idle or
 * finished), or -errno on an error that ends the input.
 */
static int
advance(struct evtx_source *s)
{
	char name[NAME_MAX + 1], path[PATH_MAX];
	struct stat sb;
	int rc;

	if (!s->kind_known) {
		if ((rc = path_kind(s)) != 0) {
			if (!s->cfg->follow)
				return rc;
			if (!s->waiting_path)
				log_info("input %s: %s does not exist yet; "
				    "waiting for it", s->cfg->name,
				    s->cfg->path);
			s->waiting_path = true;
			return 1;
		}
		if (s->waiting_path)
			log_info("input %s: %s appeared", s->cfg->name,
			    s->cfg->path);
		s->waiting_path = false;
	}
	if (s->skip_existing && s->is_dir && s->cur[0] == '\0') {
		/* start = end: the last file there is where we stand. */
		s->skip_existing = false;
		if (dir_pick(s, "", true, name, sizeof(name)) == 0) {
			snprintf(s->cur, sizeof(s->cur), "%s", name);
			s->skip_existing = true;
		}
	}
	for (;;) {
		/* The current file, when new or changed since it was read. */
		if (s->cur[0] != '\0' && cur_path(s, path, sizeof(path)) == 0 &&
		    stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    (!s->have_st || !same_file(s, path, &sb))) {
			rc = file_open(s, s->have_st && s->cur_open_failed);
			s->skip_existing = false;
			if (rc == 0)
				return 0;
			if (rc == -ENOMEM || (rc < 0 && !s->is_dir &&
			    !s->cfg->follow))
				return rc;
			if (rc < 0) {
				/* Try it again only once it changes. */
				s->cur_st = sb;
				(void)source_file_id(&sb, -1, path,
				    &s->cur_dev, &s->cur_ino);
				s->have_st = true;
				s->cur_open_failed = true;
			}
		}
		if (!s->is_dir)
			break;
		if ((rc = dir_pick(s, s->cur, false, name, sizeof(name))) < 0) {
			if (!s->warned_dir)
				log_warnx("input %s: cannot read directory "
				    "%s: %s", s->cfg->name, s->cfg->path,
				    strerror(-rc));
			s->warned_dir = true;
			if (!s->cfg->follow)
				return rc;
			break;
		}
		s->warned_dir = false;
		if (rc == 1)
			break;
		snprintf(s->cur, sizeof(s->cur), "%s", name);
		s->last_id = 0;
		s->have_st = false;
		s->bad_in_file = 0;
		s->told_tail = false;
	}
	if (!s->cfg->follow) {
		s->base.finished = true;
		log_info("input %s: every record of %s read", s->cfg->name,
		    s->cfg->path);
	} else {
		/*
		 * libevtx reads the whole file at each opening: look at a
		 * large live file less often than poll_interval.
		 */
		int64_t wait = (int64_t)s->cfg->poll_interval_ms;
		if (wait < REOPEN_COST_FACTOR * s->open_ms)
			wait = REOPEN_COST_FACTOR * s->open_ms;
		s->idle = true;
		s->next_look_ms = mono_now_ms() + wait;
	}
	return 1;
}

/*
 * The records of the open file are all taken (or bad).  Trailing bad
 * records of a followed file may be a chunk being written: leave them for
 * the next look (the position stays before them), unless a file after it
 * exists.
 */
static void
file_done(struct evtx_source *s)
{
	char name[NAME_MAX + 1];

	if (s->nbad > 0) {
		if (s->cfg->follow && !(s->is_dir && dir_pick(s, s->cur, false,
		    name, sizeof(name)) == 0)) {
			if (!s->told_tail)
				log_info("input %s: %s: the last %zu "
				    "record(s) do not decode (yet); trying "
				    "again when the file changes",
				    s->cfg->name, s->cur, s->nbad);
			s->told_tail = true;
		} else {
			report_bad(s);
		}
	}
	if (s->bad_in_file > BAD_LOG_MAX)
		log_warnx("input %s: %s: %" PRIu64 " records could not be "
		    "decoded in all", s->cfg->name, s->cur, s->bad_in_file);
	file_close(s);
}

/* ---- polling ------------------------------------------------------------- */

/*
 * Take the record at position next: append it to b, or skip it (bad, or
 * taken already).  Adds what it cost to *cost and the bytes appended to
 * *consumed.  0, 1 when the ring cannot take it now, or -errno.
 */
static int
take_record(struct evtx_source *s, struct buffer *b, size_t max,
    size_t *cost, size_t *consumed)
{
	libevtx_record_t *r;
	uint32_t flags = 0;
	uint64_t id;
	size_t len;
	char why[512];
	int rc;

	if ((r = rec_at(s, s->next, &id, why, sizeof(why))) != NULL &&
	    id <= s->last_id) {
		/* Out of order (a damaged file): taken already. */
		rec_free(&r);
		s->next++;
		*cost += BAD_COST;
		return 0;
	}
	rc = r != NULL ? render(s, r, id, why, sizeof(why)) : -EINVAL;
	rec_free(&r);
	if (rc == -ENOMEM)
		return rc;
	if (rc != 0) {
		if (s->bad_in_file + s->nbad < BAD_LOG_MAX)
			log_debug("input %s: %s: the record at position %zu: "
			    "%s", s->cfg->name, s->cur, s->next, why);
		s->nbad++;
		s->next++;
		*cost += BAD_COST;
		return 0;
	}
	len = s->out.len;
	if (len > max) {
		log_warnx("input %s: %s: record %" PRIu64 " is %zu bytes, "
		    "longer than max_line_size (%zu): forwarding it cut and "
		    "tagged", s->cfg->name, s->cur, id, len, max);
		len = max;
		flags |= BUFFER_REC_TRUNCATED;
	}
	rc = source_append(&s->base, b, time_now_ms(), flags, s->out.s,
	    len, &s->last_seq);
	if (rc == -ENOBUFS)
		return 1;
	if (rc < 0)
		return rc;
	report_bad(s);
	s->last_id = id;
	pos_ring(s, b);
	s->next++;
	if (rc == SOURCE_FILTERED) {
		*cost += len;	/* counted; the position moves past it */
		return 0;
	}
	s->base.st.records++;
	if (flags & BUFFER_REC_TRUNCATED)
		s->base.st.truncated++;
	*consumed += len;
	*cost += len;
	return 0;
}

static ssize_t
evtx_poll(struct source *src, struct buffer *b, size_t budget)
{
	struct evtx_source *s = ES(src);
	size_t consumed = 0, cost = 0, max = (size_t)s->cfg->max_line_size;
	int64_t until = mono_now_ms() + POLL_MAX_MS;
	int rc;

	if (s->base.finished)
		return 0;
	if (max == 0)
		max = 1u << 20;
	s->blocked = false;
	if (s->ef == NULL) {
		if (s->idle && mono_now_ms() < s->next_look_ms)
			return 0;
		s->idle = false;
		if ((rc = advance(s)) < 0)
			return rc;
		if (rc == 1)
			goto out;
	}
	/* Decoding costs far more than its bytes: bound the time too. */
	while (cost < budget && (cost == 0 || mono_now_ms() < until)) {
		if (s->next == s->nrec) {
			file_done(s);
			if ((rc = advance(s)) < 0)
				return rc;
			if (rc == 1)
				break;
			continue;
		}
		if (!buffer_can_append(b, max + SOURCE_TRAILER_MAX)) {
			s->blocked = true;
			break;
		}
		if ((rc = take_record(s, b, max, &cost, &consumed)) < 0)
			return rc;
		if (rc == 1) {
			s->blocked = true;
			break;
		}
	}
out:
	pos_note(s, b);
	s->base.st.bytes += consumed;
	return (ssize_t)consumed;
}

/* ---- opening and closing ------------------------------------------------- */

/*
 * Where to start: the furthest of the position file's and the ring's
 * positions (names compare first: earlier files are done).
 */
static void
resume(struct evtx_source *s, const struct buffer *b, const char *saved)
{
	const char *ring = b != NULL ? buffer_get_position(b, s->cfg->name) :
	    NULL;
	char name[NAME_MAX + 1], best[NAME_MAX + 1];
	uint64_t id, best_id = 0;
	const char *from = NULL;

	if (saved[0] != '\0') {
		if (evtx_pos_parse(saved, best, sizeof(best), &best_id) == 0)
			from = "position file";
		else
			log_warnx("input %s: position file unreadable "
			    "(\"%.80s\"); reading from the start",
			    s->cfg->name, saved);
	}
	if (ring != NULL &&
	    evtx_pos_parse(ring, name, sizeof(name), &id) == 0 &&
	    (from == NULL || strcmp(name, best) > 0 ||
	    (strcmp(name, best) == 0 && id > best_id))) {
		memcpy(best, name, sizeof(best));
		best_id = id;
		from = "buffer checkpoint";
	}
	if (from == NULL) {
		if (s->cfg->start == CONFIG_START_END && s->cfg->follow)
			s->skip_existing = true;
		return;
	}
	if (s->kind_known && !s->is_dir && strcmp(best, s->cur) != 0) {
		log_info("input %s: the saved position is in %s, not %s; "
		    "reading %s from the start", s->cfg->name, best, s->cur,
		    s->cfg->path);
		return;
	}
	if (best[0] == '\0' && !s->is_dir)
		return;
	snprintf(s->cur, sizeof(s->cur), "%s", best);
	s->last_id = best_id;
	if (best_id > 0 || s->is_dir)
		log_info("input %s: resuming at record %" PRIu64 " of %s (from "
		    "the %s)", s->cfg->name, best_id, best, from);
}

static void
evtx_close(struct source *src)
{
	struct evtx_source *s = ES(src);

	file_close(s);
	source_pos_free(&s->pos);
	XML_ParserFree(s->xp);
	strbuf_free(&s->out);
	strbuf_free(&s->text);
	free(s->xml);
	free(s->chunk);
	free(s);
}

static const struct source_ops evtx_ops;

/* Load libevtx on Linux, once (EVTX_FUNCS).  0, or -ELIBACC logged. */
static int
load_libevtx(const struct config_input *cfg)
{
#ifndef _WIN32
	char why[512];
	int rc;

	if ((rc = dynlib_load(&libevtx, why, sizeof(why))) != 0) {
		log_errorx("input %s: the evtx input needs %s", cfg->name,
		    why);
		return rc;
	}
#else
	(void)cfg;
#endif
	return 0;
}

int
source_evtx_open(const struct config_input *cfg, const char *state_dir,
    const struct buffer *b, struct source **out)
{
	struct evtx_source *s;
	int rc;

	*out = NULL;
	if ((rc = load_libevtx(cfg)) != 0)
		return rc;
	if ((s = source_new(sizeof(*s), &evtx_ops, cfg)) == NULL)
		return -ENOMEM;
	s->cfg = cfg;
	s->fd = -1;
	s->out.max = XML_MAX;
	s->text.max = XML_MAX;
	if ((rc = source_pos_init(&s->base, &s->pos, state_dir)) != 0) {
		log_warnx("input %s: cannot set up %s/positions: %s", cfg->name,
		    state_dir, strerror(-rc));
		goto err_close;
	}
	if ((s->chunk = malloc(EVTX_CHUNK_SIZE)) == NULL ||
	    (s->xp = XML_ParserCreate("UTF-8")) == NULL) {
		rc = -ENOMEM;
		goto err_close;
	}
	if ((rc = path_kind(s)) != 0) {
		if (!cfg->follow || rc != -ENOENT) {
			log_warnx("input %s: %s: %s", cfg->name, cfg->path,
			    strerror(-rc));
			goto err_close;
		}
	}
	resume(s, b, s->pos.saved);
	if (!s->kind_known)
		s->skip_existing = false;	/* nothing there to skip */
	if (s->kind_known && !s->is_dir && !cfg->follow &&
	    (rc = file_open(s, false)) < 0)
		goto err_close;	/* the one file cannot be read at all */
	*out = &s->base;
	return 0;

err_close:
	evtx_close(&s->base);
	return rc;
}

/* ---- the source interface ------------------------------------------------ */

static bool
evtx_at_end(const struct source *s)
{
	return s->finished || CES(s)->idle;
}

static int64_t
evtx_next_poll(const struct source *s, int64_t now_ms)
{
	if (s->finished)
		return INT64_MAX;
	if (CES(s)->idle)
		return CES(s)->next_look_ms;
	if (CES(s)->blocked)
		return now_ms + BLOCKED_RETRY_MS;
	return now_ms;
}

/* Files are polled by time; the position is text (s->pos). */
static const struct source_ops evtx_ops = {
	.poll = evtx_poll,
	.next_poll = evtx_next_poll,
	.at_end = evtx_at_end,
	.close = evtx_close,
};
