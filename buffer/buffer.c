/*
 * buffer.c - the disk ring: segments, the block being filled, cursors,
 * eviction, gaps and recovery.  The format is specified in segment.c.
 *
 * Writing.  buffer_append() adds a record to the block builder; a block is
 * sealed when it reaches block_size raw bytes or is older than
 * flush_interval, compressed, framed and written with one write() to the
 * newest segment.  A segment past segment_size is closed and a new one
 * begun.  Before a frame is written the cap is enforced: under
 * drop_oldest the oldest segments are deleted (their unread records
 * become gaps for the cursors that had not read them); under block the
 * append was already refused by buffer_can_append().
 *
 * When a write fails (a full disk, an I/O error) the frame is kept in
 * memory, in order, up to max_pending_bytes, and written again every
 * second; past that limit appends are refused (block) or the oldest
 * frame kept is dropped and counted (drop_oldest).  A half-written frame
 * is cut off again, so the segment only ever holds whole frames.
 *
 * Reading.  Each cursor reads on its own: from its segment file through
 * its own fd, from a frame kept in memory, or from a copy of the block
 * being filled; it decodes one block at a time into its own memory.
 * Whenever the next record it can find has a higher sequence number than
 * the one it expected, the records in between are lost to it: it returns
 * a gap record first, with the reason noted when they were lost.
 *
 * Gaps are not announced twice: acknowledging a gap moves the cursor past
 * it, and cursor files are saved before any segment is deleted.
 */
#include "buffer_int.h"
#include "base.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CURSORS	32
#define MAX_LOST	64
#define MAX_NAMES	64
#define SOURCES_LEN	128
#define REASON_LEN	160
#define SAVE_EVERY_MS	1000
#define RETRY_EVERY_MS	1000
#define IO_LOG_EVERY_MS	60000
#define READ_GIVE_UP_MS	60000	/* a segment failing reads this long is
				   counted lost (see cursor_read_failed()) */

/* Records known to be lost, with why: looked up when a gap is reported. */
struct lost_range {
	uint64_t	first, last;
	int64_t		first_ms, last_ms;
	char		reason[REASON_LEN];
	char		sources[SOURCES_LEN];
};

struct segment {
	uint64_t	first_seq;	/* from its name and header */
	uint64_t	last_seq;	/* first_seq - 1 while empty */
	uint64_t	disk_bytes;	/* whole frames only */
	uint64_t	raw_bytes;
	int64_t		first_ms, last_ms;
	char		sources[SOURCES_LEN];
	bool		sealed;		/* no more appends */
	/* An fsync of it failed: durable_seq waits until the bytes after
	 * synced_bytes are written again and fsynced (do_fsync()). */
	bool		unsynced;
	uint64_t	synced_bytes;	/* known on disk (fsync succeeded) */
};

/* A framed block that could not be written yet. */
struct pending {
	struct bbuf	frame;
	uint64_t	first_seq, last_seq;
	int64_t		first_ms, last_ms;
	uint64_t	raw_len;
	char		sources[SOURCES_LEN];
};

struct buffer_cursor {
	struct buffer	*b;
	char		*name;
	char		*path;
	uint64_t	 acked;
	uint64_t	 saved_acked;
	uint64_t	 next;		/* next seq to return */
	/*
	 * Decoded blocks live in the arena; recs indexes the current one,
	 * with data held as arena offsets (the arena may move while one
	 * buffer_read() decodes several blocks; offsets become pointers on
	 * the way out).
	 */
	struct bbuf	 arena;
	size_t		 blk_off;	/* where the current block starts */
	size_t		 blk_end;	/* and ends */
	struct buffer_rec *recs;
	size_t		 nrecs, recs_cap, idx;
	char		 names[MAX_NAMES][64];
	size_t		 nnames;
	/* Where it reads in the segments. */
	uint64_t	 rseg;		/* first_seq of the segment open */
	fs_handle	 rfd;
	uint64_t	 roff;		/* offset of the next frame */
	uint64_t	 roff_seq;	/* first seq of that frame */
	struct bbuf	 frame;
	uint64_t	 gaps, gap_records;
	/*
	 * Records this output will never get, announced to it in gap
	 * records: dropped counts those it acknowledged (saved with the
	 * cursor), gapq those read but not acknowledged yet, as (last seq,
	 * count) in order; gap_hw is the last seq a gap counted, so that a
	 * gap read again after a rewind is not counted twice.
	 */
	uint64_t	 dropped, saved_dropped, gap_hw;
	struct { uint64_t last, count; } gapq[16];
	size_t		 ngapq;
	bool		 durable_saved;	/* saved_acked was fsynced */
	int64_t		 last_quick;	/* last quick note (monotonic ms) */
	fs_handle	 fast_fd;	/* NAME.cur.fast, rewritten in place */
	uint64_t	 fast_acked;	/* what it says */
	/* Reads of the ring failing at c->next (an I/O error, no memory):
	 * since when, and when it was last said. */
	uint64_t	 rfail_seq;
	int64_t		 rfail_since, rfail_logged;
};

/* An input's latest position, as it goes into the checkpoint areas. */
struct src_pos {
	char	name[256];
	char	pos[256];	/* latest, set by the input */
	char	found[256];	/* newest found on disk at open */
	bool	dirty;		/* pos not yet in a sealed block */
};

#define MAX_POSITIONS	128
#define RECENT_BLOCKS	8	/* sealed blocks kept raw for readers */

/* A block just sealed, kept uncompressed so that a cursor close behind
 * the writer reads it without inflating it from disk. */
struct recent {
	struct bbuf	raw;
	uint64_t	first_seq;
	uint32_t	nrec;
};

struct buffer {
	struct buffer_opts	 o;
	char			*dir;
	fs_handle		 lockfd;
	struct segment		*segs;
	size_t			 nsegs, segs_cap;
	fs_handle		 wfd;		/* newest segment, to write */
	struct block_builder	 bb;
	char			 bb_sources[SOURCES_LEN];
	int64_t			 bb_started;	/* monotonic ms */
	struct bbuf		 scratch;	/* frame being written */
	struct codec		 codec;
	struct pending		*pend;
	size_t			 npend, pend_cap;
	uint64_t		 pend_bytes;
	int64_t			 retry_at;
	int64_t			 last_io_log;
	bool			 warned_meta;	/* head/cursor save failed */
	bool			 dir_unsynced;	/* a segment created, the
						   directory not fsynced */
	uint64_t		 evict_unlogged;
	int64_t			 last_evict_log;
	uint64_t		 next_seq;
	uint64_t		 written_seq;
	uint64_t		 durable;
	uint64_t		 head_saved;
	int64_t			 last_fsync;
	int64_t			 last_save;
	struct buffer_cursor	*cursors[MAX_CURSORS];
	size_t			 ncursors;
	struct lost_range	 lost[MAX_LOST];
	size_t			 nlost;
	uint64_t		 max_cursor_acked; /* from files at open */
	struct recent		 recent[RECENT_BLOCKS];
	size_t			 recent_next;	/* slot to overwrite */
	struct src_pos		 pos[MAX_POSITIONS];
	size_t			 npos;
	struct bbuf		 meta;		/* checkpoint area being built */
	struct bbuf		 rewrite;	/* a frame written again after
						   a failed fsync */
	struct buffer_stats	 st;
};


void
buffer_opts_default(struct buffer_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_size = 256ull << 20;
	o->segment_size = 8ull << 20;
	o->block_size = 64u << 10;
	o->flush_interval_ms = 1000;
	o->full = BUFFER_FULL_DROP_OLDEST;
	o->fsync = BUFFER_FSYNC_INTERVAL;
	o->fsync_interval_ms = 1000;
	/* libdeflate's 1: the ratio zlib's 3 had, in 60% of its CPU. */
	o->compression_level = 1;
	o->max_record_size = 1u << 20;
	o->max_pending_bytes = 4u << 20;
}

/* ---- small file helpers ------------------------------------------------ */

static int
path_of(char *out, size_t len, const char *dir, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
path_of(char *out, size_t len, const char *dir, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(out, len, "%s/", dir), m;

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	m = vsnprintf(out + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return -ENAMETOOLONG;
	return 0;
}


static int
read_u64_file(const char *path, const char *key, uint64_t *v)
{
	char line[128], fmt[32];
	FILE *f = fs_fopen(path, "r");
	uint64_t x;
	int rc = -EINVAL;

	if (f == NULL)
		return -errno;
	snprintf(fmt, sizeof(fmt), "%s %%" SCNu64, key);
	/* Sequence numbers and counts stay below 2^63: more is a sign or an
	 * overflow that sscanf took (a cursor at 2^64 - 1 would skip every
	 * record, and the ring's numbering would wrap to 0). */
	if (fgets(line, sizeof(line), f) != NULL &&
	    sscanf(line, fmt, &x) == 1 && x <= INT64_MAX) {
		*v = x;
		rc = 0;
	}
	fclose(f);
	return rc;
}

/* Like read_u64_file(), but key may be on any line of the file. */
static int
read_u64_key(const char *path, const char *key, uint64_t *v)
{
	char line[128], fmt[32];
	FILE *f = fs_fopen(path, "r");
	int rc = -ENOENT;

	if (f == NULL)
		return -errno;
	snprintf(fmt, sizeof(fmt), "%s %%" SCNu64, key);
	while (rc != 0 && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, fmt, v) == 1)
			rc = 0;
	fclose(f);
	return rc;
}

static void
sources_add(char *list, const char *name)
{
	size_t n = strlen(name), len = strlen(list);
	const char *p = list;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return;
		p += n;
	}
	if (len + n + 2 > SOURCES_LEN)
		return;		/* the list is only informative */
	if (len > 0)
		list[len++] = ',';
	memcpy(list + len, name, n + 1);
}

/* Add every name of the comma-separated list from to the list dst. */
static void
sources_merge(char *dst, const char *from)
{
	for (const char *p = from; p != NULL && *p != '\0';) {
		char name[64];
		size_t k = strcspn(p, ",");

		snprintf(name, sizeof(name), "%.*s", (int)k, p);
		sources_add(dst, name);
		p += k + (p[k] == ',');
	}
}

/* ---- lost ranges ------------------------------------------------------------ */

static void
lost_note(struct buffer *b, uint64_t first, uint64_t last, int64_t first_ms,
    int64_t last_ms, const char *sources, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void
lost_note(struct buffer *b, uint64_t first, uint64_t last, int64_t first_ms,
    int64_t last_ms, const char *sources, const char *fmt, ...)
{
	struct lost_range *l;
	va_list ap;

	if (first > last)
		return;
	va_start(ap, fmt);
	{
		char reason[REASON_LEN];
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
		/* Extend the newest range when this one continues it for the
		 * same reason (segment after segment evicted): the table then
		 * keeps the whole story however long the outage. */
		if (b->nlost > 0) {
			l = &b->lost[b->nlost - 1];
			if (strcmp(l->reason, reason) == 0 && first <= l->last + 1
			    && last >= l->first) {
				if (first < l->first)
					l->first = first;
				if (last > l->last)
					l->last = last;
				if (first_ms != 0 && (l->first_ms == 0 ||
				    first_ms < l->first_ms))
					l->first_ms = first_ms;
				if (last_ms > l->last_ms)
					l->last_ms = last_ms;
				sources_merge(l->sources, sources);
				return;
			}
		}
		if (b->nlost == MAX_LOST) {
			memmove(b->lost, b->lost + 1, (MAX_LOST - 1) *
			    sizeof(*l));
			b->nlost--;
		}
		l = &b->lost[b->nlost++];
		l->first = first;
		l->last = last;
		l->first_ms = first_ms;
		l->last_ms = last_ms;
		snprintf(l->sources, sizeof(l->sources), "%s",
		    sources != NULL ? sources : "");
		memcpy(l->reason, reason, sizeof(l->reason));
	}
}


static const struct lost_range *
lost_find(const struct buffer *b, uint64_t seq)
{
	for (size_t i = b->nlost; i-- > 0;)
		if (b->lost[i].first <= seq && seq <= b->lost[i].last)
			return &b->lost[i];
	return NULL;
}

/* ---- segments ------------------------------------------------------------------ */

static uint64_t
min_acked(const struct buffer *b)
{
	uint64_t m = UINT64_MAX;

	for (size_t i = 0; i < b->ncursors; i++)
		if (b->cursors[i]->acked < m)
			m = b->cursors[i]->acked;
	return m;
}

static uint64_t
disk_total(const struct buffer *b)
{
	uint64_t t = 0;

	for (size_t i = 0; i < b->nsegs; i++)
		t += b->segs[i].disk_bytes;
	return t;
}

static struct segment *
seg_push(struct buffer *b, uint64_t first_seq)
{
	struct segment *s;

	if (mem_grow(&b->segs, &b->segs_cap, b->nsegs + 1,
	    sizeof(*b->segs)) != 0)
		return NULL;
	s = &b->segs[b->nsegs++];
	memset(s, 0, sizeof(*s));
	s->first_seq = first_seq;
	s->last_seq = first_seq - 1;
	s->disk_bytes = SEG_HEADER_LEN;
	return s;
}

static void
seg_name(char *out, size_t len, const struct buffer *b, uint64_t first)
{
	if (path_of(out, len, b->dir, SEG_NAME_FMT,
	    (unsigned long long)first) != 0)
		out[0] = '\0';
}

static int cursors_save(struct buffer *b, bool force);

/* Forget cursor read state tied to segment first (it is going away). */
static void
cursors_leave_segment(struct buffer *b, uint64_t first)
{
	for (size_t i = 0; i < b->ncursors; i++) {
		struct buffer_cursor *c = b->cursors[i];
		if (c->rseg == first) {
			fs_close(c->rfd);
			c->rfd = FS_HANDLE_NONE;
			c->rseg = 0;
		}
	}
}

/* Announce evictions: the first at once, then at most once a minute. */
static void
evict_log(struct buffer *b, const char *why, uint64_t n)
{
	int64_t now = mono_now_ms();

	b->evict_unlogged += n;
	if (b->last_evict_log != 0 && now - b->last_evict_log < IO_LOG_EVERY_MS)
		return;
	log_warnx("buffer: %s: dropped %" PRIu64 " records not yet "
	    "acknowledged by every output (%" PRIu64 " since start); each "
	    "output that misses them receives a gap document", why,
	    b->evict_unlogged, b->st.evicted);
	b->evict_unlogged = 0;
	b->last_evict_log = now;
}

/*
 * The cursor files could not be saved for want of room (NAME.cur is
 * written new and renamed, which needs some).  The quick notes are
 * rewritten in place and need none; they survive an agent crash, and a power cut that
 * tore one would make a restart announce delivered records as lost (noise,
 * not loss).  Without this a full disk would never get room back: no
 * segment could be deleted.  0 when every cursor's note says where it is.
 */
static void cursor_note_fast(struct buffer_cursor *c);

static int
cursors_note_in_place(struct buffer *b)
{
	for (size_t i = 0; i < b->ncursors; i++) {
		struct buffer_cursor *c = b->cursors[i];

		if (c->fast_acked != c->acked)
			cursor_note_fast(c);
		if (c->fast_fd == FS_HANDLE_NONE ||
		    c->fast_acked != c->acked)
			return -EIO;
	}
	return 0;
}

/*
 * Delete the oldest segment.  Record what unread records it takes.  The
 * cursor files are saved first: if they cannot be, nothing is deleted
 * (return -errno), since a restart would read the old acknowledgements
 * and announce as lost records that were delivered.
 */
static int
seg_delete_oldest(struct buffer *b, const char *why)
{
	struct segment *s = &b->segs[0];
	char path[PATH_MAX];
	uint64_t unacked_by_some = 0;
	int rc;

	/* Cursor files first: a restart must not see a false gap. */
	if ((rc = cursors_save(b, true)) != 0 && (rc != -ENOSPC &&
	    rc != -EDQUOT ? true : (rc = cursors_note_in_place(b)) != 0))
		return rc;
	for (size_t i = 0; i < b->ncursors; i++) {
		struct buffer_cursor *c = b->cursors[i];
		uint64_t from = c->acked + 1 > s->first_seq ? c->acked + 1 :
		    s->first_seq;
		if (from <= s->last_seq && s->last_seq - from + 1 >
		    unacked_by_some)
			unacked_by_some = s->last_seq - from + 1;
		/* A decoded block from it is dropped too: consistent gaps. */
		if (c->nrecs > 0 && c->recs[0].seq <= s->last_seq)
			c->nrecs = c->idx = 0;
	}
	if (why != NULL && unacked_by_some > 0) {
		uint64_t first = s->last_seq - unacked_by_some + 1;
		b->st.evicted += unacked_by_some;
		lost_note(b, first, s->last_seq, s->first_ms, s->last_ms,
		    s->sources, "%s", why);
		evict_log(b, why, unacked_by_some);
	}
	cursors_leave_segment(b, s->first_seq);
	seg_name(path, sizeof(path), b, s->first_seq);
	if ((rc = fs_remove(path)) != 0 && rc != -ENOENT)
		log_warnx("buffer: cannot delete %s: %s", path, strerror(-rc));
	memmove(b->segs, b->segs + 1, (b->nsegs - 1) * sizeof(*s));
	b->nsegs--;
	/*
	 * The deleted segment may have held the only block carrying some
	 * input's checkpoint (an input idle since): the next block carries
	 * every known one again, so that a crash before the input's own
	 * position file catches up still finds it in the ring.
	 */
	for (size_t i = 0; i < b->npos; i++)
		if (b->pos[i].pos[0] != '\0')
			b->pos[i].dirty = true;
	return 0;
}

/* Delete sealed segments every cursor has passed (those that cannot be
 * yet are tried again at the next acknowledgement or tick). */
static void
release_acked(struct buffer *b)
{
	uint64_t m = min_acked(b);

	while (b->nsegs > 1 && b->segs[0].sealed && b->segs[0].last_seq <= m)
		if (seg_delete_oldest(b, NULL) != 0)
			break;
}

static int
seg_create(struct buffer *b, uint64_t first_seq)
{
	unsigned char hdr[SEG_HEADER_LEN];
	char path[PATH_MAX];
	fs_handle fd;
	ssize_t n;
	int rc;

	seg_name(path, sizeof(path), b, first_seq);
	/* FS_APPEND: after a torn write is cut back, the next frame must
	 * go to the new end, not past a hole. */
	if ((rc = fs_open(path, FS_APPEND | FS_CREATE | FS_EXCL,
	    0640, &fd)) != 0)
		return rc;
	segment_header_make(hdr, first_seq);
	if ((n = fs_append(fd, hdr, sizeof(hdr))) != (ssize_t)sizeof(hdr)) {
		rc = n < 0 ? (int)n : -EIO;
		fs_close(fd);
		fs_remove(path);
		return rc;
	}
	if (seg_push(b, first_seq) == NULL) {
		fs_close(fd);
		fs_remove(path);
		return -ENOMEM;
	}
	/* Without it the new file may vanish in a power cut: until the
	 * directory is fsynced, durable_seq does not pass its records. */
	if (b->o.fsync != BUFFER_FSYNC_NEVER && fsync_dir(b->dir) != 0)
		b->dir_unsynced = true;
	b->wfd = fd;
	return 0;
}

static int	frame_read(fs_handle fd, uint64_t off, uint64_t end,
		    struct block_hdr *h, struct bbuf *buf);

/*
 * An fsync of segment s failed.  Linux may then have dropped the dirty
 * pages it could not write (it marks them clean and reports the error
 * once), so a later fsync that succeeds proves nothing about them.  Write
 * every frame after the last good fsync again, from what the page cache
 * still holds and only after its CRC checks out, so that the next fsync
 * really covers them; with fsync_fd open (the segment being written),
 * fsync there, else through a descriptor of its own.  Frames that no
 * longer check out were lost in the failed writeback: they are not
 * written back over good data, and the segment stays unsynced (durable_seq
 * never passes them; recovery will find the damage).  0 or -errno.
 */
static int
seg_sync_again(struct buffer *b, struct segment *s, fs_handle fsync_fd)
{
	char path[PATH_MAX];
	unsigned char hdr[SEG_HEADER_LEN];
	struct block_hdr h;
	uint64_t off = s->synced_bytes;
	fs_handle fd;
	ssize_t n;
	int rc;

	seg_name(path, sizeof(path), b, s->first_seq);
	/* Not FS_APPEND: fs_pwrite() must go where it is told. */
	if ((rc = fs_open(path, FS_RDWR, 0, &fd)) != 0)
		return rc;
	if (off < SEG_HEADER_LEN) {
		segment_header_make(hdr, s->first_seq);
		if ((n = fs_pwrite(fd, hdr, sizeof(hdr), 0)) !=
		    (ssize_t)sizeof(hdr))
			rc = n < 0 ? (int)n : -EIO;
		off = SEG_HEADER_LEN;
	}
	while (rc == 0 && off < s->disk_bytes) {
		if ((rc = frame_read(fd, off, s->disk_bytes, &h,
		    &b->rewrite)) != 0) {
			if (rc == -EINVAL) {
				log_errorx("buffer: segment %016" PRIx64 " lost "
				    "what was written from byte %" PRIu64 " when"
				    " an fsync failed; those records are not "
				    "durable", s->first_seq, off);
				rc = -EIO;
			}
			break;
		}
		if ((n = fs_pwrite(fd, b->rewrite.p, b->rewrite.len, off)) !=
		    (ssize_t)b->rewrite.len) {
			rc = n < 0 ? (int)n : -EIO;
			break;
		}
		off += b->rewrite.len;
	}
	if (rc == 0)
		rc = fs_datasync(fsync_fd != FS_HANDLE_NONE ? fsync_fd :
		    fd);
	fs_close(fd);
	if (rc == 0) {
		s->unsynced = false;
		s->synced_bytes = s->disk_bytes;
	}
	return rc;
}

/*
 * Make every record written so far durable: the segments sealed without
 * a successful fsync, the newest one, and the directory if a segment was
 * created since it was last fsynced.  Only when all of that worked does
 * durable_seq (which input positions follow) move.  0 or -errno.
 */
static int
do_fsync(struct buffer *b)
{
	int rc;

	if (b->written_seq > b->durable) {
		struct segment *w = b->wfd != FS_HANDLE_NONE &&
		    b->nsegs > 0 ? &b->segs[b->nsegs - 1] : NULL;

		for (size_t i = 0; i < b->nsegs; i++)
			if (b->segs[i].unsynced &&
			    (rc = seg_sync_again(b, &b->segs[i],
			    &b->segs[i] == w ? b->wfd : FS_HANDLE_NONE)) != 0)
				return rc;
		if (w != NULL && w->synced_bytes < w->disk_bytes) {
			if ((rc = fs_datasync(b->wfd)) != 0) {
				w->unsynced = true;	/* write it again */
				return rc;
			}
			w->synced_bytes = w->disk_bytes;
		}
		if (b->dir_unsynced) {
			if ((rc = fsync_dir(b->dir)) != 0)
				return rc;
			b->dir_unsynced = false;
		}
	}
	b->durable = b->written_seq;
	b->last_fsync = mono_now_ms();
	return 0;
}

static void
head_save(struct buffer *b)
{
	char path[PATH_MAX], text[64];
	int rc;

	if (b->durable == b->head_saved || path_of(path, sizeof(path), b->dir,
	    "head") != 0)
		return;
	snprintf(text, sizeof(text), "durable %" PRIu64 "\n", b->durable);
	if ((rc = file_write_atomic(path, text, strlen(text), 0640,
	    true)) != 0) {
		if (!b->warned_meta)
			log_warnx("buffer: cannot save %s: %s (warned once)",
			    path, strerror(-rc));
		b->warned_meta = true;
		return;
	}
	b->head_saved = b->durable;
}

/* Close the newest segment for appends (fsync it first; when that
 * fails it is fsynced again later, see do_fsync()). */
static void
seg_seal_newest(struct buffer *b)
{
	bool unsynced = false;
	int rc;

	if (b->wfd != FS_HANDLE_NONE) {
		if (b->o.fsync != BUFFER_FSYNC_NEVER &&
		    (rc = do_fsync(b)) != 0) {
			log_warnx("buffer: fsync: %s; trying again later",
			    strerror(-rc));
			unsynced = true;
		}
		fs_close(b->wfd);
		b->wfd = FS_HANDLE_NONE;
	}
	if (b->nsegs > 0) {
		b->segs[b->nsegs - 1].sealed = true;
		b->segs[b->nsegs - 1].unsynced |= unsynced;
	}
}

static void
io_failed(struct buffer *b, const char *what, int err)
{
	int64_t now = mono_now_ms();

	b->st.write_errors++;
	if (b->st.write_errors == 1 || now - b->last_io_log >= IO_LOG_EVERY_MS) {
		log_warnx("buffer: %s: %s; keeping blocks in memory (up to %"
		    PRIu64 " bytes) and retrying", what, strerror(err),
		    b->o.max_pending_bytes);
		b->last_io_log = now;
	}
	b->retry_at = now + RETRY_EVERY_MS;
}

/*
 * Write one frame to the newest segment (opening one when needed),
 * enforcing the cap first.  Return 0 or -errno (nothing half-written).
 */
static int
frame_write(struct buffer *b, const unsigned char *frame, size_t len,
    uint64_t first_seq, uint64_t last_seq, int64_t first_ms, int64_t last_ms,
    uint64_t raw_len, const char *sources)
{
	struct segment *s;
	uint64_t need;
	ssize_t n;
	int rc;

	if (b->nsegs > 0 && b->wfd != FS_HANDLE_NONE &&
	    b->segs[b->nsegs - 1].disk_bytes + len > b->o.segment_size &&
	    b->segs[b->nsegs - 1].last_seq >= b->segs[b->nsegs - 1].first_seq)
		seg_seal_newest(b);
	need = len + (b->wfd == FS_HANDLE_NONE ? SEG_HEADER_LEN : 0);
	while (disk_total(b) + need > b->o.max_size && b->nsegs > 0 &&
	    b->segs[0].sealed) {
		if (b->o.full == BUFFER_FULL_BLOCK && b->segs[0].last_seq >
		    min_acked(b))
			break;		/* can_append() keeps us below */
		/* Cursors not saved: no room made, the frame waits. */
		if ((rc = seg_delete_oldest(b, "the buffer reached max_size"))
		    != 0)
			return rc;
	}
	if (b->wfd == FS_HANDLE_NONE) {
		if ((rc = seg_create(b, first_seq)) != 0)
			return rc;
	}
	s = &b->segs[b->nsegs - 1];
	n = fs_append(b->wfd, frame, len);
	if (n != (ssize_t)len) {
		rc = n < 0 ? (int)n : -ENOSPC;
		if (n > 0 && fs_truncate(b->wfd, s->disk_bytes) != 0) {
			/* Cannot cut it back: append elsewhere from now on. */
			log_warn("buffer: cannot cut back a torn frame");
			seg_seal_newest(b);
		}
		return rc;
	}
	if (s->last_seq < s->first_seq) {
		s->first_ms = first_ms;
	}
	s->last_seq = last_seq;
	s->last_ms = last_ms;
	s->disk_bytes += len;
	s->raw_bytes += raw_len;
	sources_merge(s->sources, sources);
	b->written_seq = last_seq;
	if (b->o.fsync == BUFFER_FSYNC_ALWAYS) {
		if ((rc = do_fsync(b)) != 0)
			log_warnx("buffer: fsync: %s", strerror(-rc));
	} else if (b->o.fsync == BUFFER_FSYNC_NEVER) {
		b->durable = b->written_seq;
	}
	(void)first_seq;
	return 0;
}

static void
pend_drop_oldest(struct buffer *b, const char *why)
{
	struct pending *p = &b->pend[0];

	b->st.dropped_io += p->last_seq - p->first_seq + 1;
	lost_note(b, p->first_seq, p->last_seq, p->first_ms, p->last_ms,
	    p->sources, "%s", why);
	log_warnx("buffer: dropped %" PRIu64 " records that could not be "
	    "written (%s)", p->last_seq - p->first_seq + 1, why);
	b->pend_bytes -= p->frame.len;
	bbuf_free(&p->frame);
	memmove(b->pend, b->pend + 1, (b->npend - 1) * sizeof(*p));
	b->npend--;
}

/* Write frames kept in memory, oldest first, until one fails. */
static void
pend_flush(struct buffer *b)
{
	while (b->npend > 0) {
		struct pending *p = &b->pend[0];
		int rc = frame_write(b, p->frame.p, p->frame.len, p->first_seq,
		    p->last_seq, p->first_ms, p->last_ms, p->raw_len,
		    p->sources);
		if (rc != 0) {
			io_failed(b, "cannot write to the buffer", -rc);
			return;
		}
		b->pend_bytes -= p->frame.len;
		bbuf_free(&p->frame);
		memmove(b->pend, b->pend + 1, (b->npend - 1) * sizeof(*p));
		b->npend--;
		if (b->npend == 0)
			log_info("buffer: writing again after %" PRIu64
			    " failed writes", b->st.write_errors);
	}
}

/* Keep the frame in *frame (taken over: *frame is left empty) for a
 * later write.  0 or -ENOMEM (then *frame is untouched). */
static int
pend_push(struct buffer *b, struct bbuf *frame)
{
	struct pending *p;

	if (mem_grow(&b->pend, &b->pend_cap, b->npend + 1,
	    sizeof(*b->pend)) != 0)
		return -ENOMEM;
	p = &b->pend[b->npend];
	memset(p, 0, sizeof(*p));
	p->frame = *frame;
	memset(frame, 0, sizeof(*frame));
	p->first_seq = b->bb.first_seq;
	p->last_seq = b->bb.first_seq + b->bb.nrec - 1;
	p->first_ms = b->bb.first_ms;
	p->last_ms = b->bb.last_ms;
	p->raw_len = b->bb.raw.len;
	memcpy(p->sources, b->bb_sources, sizeof(p->sources));
	b->npend++;
	b->pend_bytes += p->frame.len;
	return 0;
}

/* Seal the block being built: frame it and write it (or keep it). */
static int
block_seal(struct buffer *b)
{
	struct block_builder *bb = &b->bb;
	int rc;

	if (bb->nrec == 0)
		return 0;
	b->meta.len = 0;
	for (size_t i = 0; i < b->npos; i++)
		if (b->pos[i].dirty && block_ckpt_add(&b->meta, b->pos[i].name,
		    b->pos[i].pos) != 0)
			break;
	if ((rc = block_frame(&b->codec, bb, &b->meta, &b->scratch)) != 0)
		return rc;
	if (bb->raw.len <= 4 * b->o.block_size) {
		struct recent *r = &b->recent[b->recent_next];
		r->raw.len = 0;
		if (bbuf_add(&r->raw, bb->raw.p, bb->raw.len) == 0) {
			r->first_seq = bb->first_seq;
			r->nrec = bb->nrec;
			b->recent_next = (b->recent_next + 1) % RECENT_BLOCKS;
		} else {
			r->nrec = 0;
		}
	}
	rc = b->npend > 0 ? -EAGAIN : frame_write(b, b->scratch.p,
	    b->scratch.len, bb->first_seq, bb->first_seq + bb->nrec - 1,
	    bb->first_ms, bb->last_ms, bb->raw.len, b->bb_sources);
	if (rc != 0) {
		if (rc != -EAGAIN)
			io_failed(b, "cannot write to the buffer", -rc);
		/* Not kept either (no memory): the records stay in the
		 * builder, with their checkpoints, and are sealed again. */
		if ((rc = pend_push(b, &b->scratch)) != 0)
			return rc;
		while (b->pend_bytes > b->o.max_pending_bytes && b->npend > 1)
			pend_drop_oldest(b, "the disk refused writes and the "
			    "memory kept for them was full");
	}
	/* The checkpoints went with the frame, written or kept. */
	for (size_t i = 0; i < b->npos; i++)
		b->pos[i].dirty = false;
	bb->raw.len = 0;
	bb->nrec = 0;
	b->bb_sources[0] = '\0';
	/* Keep the builder's memory bounded after an oversized record. */
	if (bb->raw.cap > 4 * b->o.block_size + (1u << 20)) {
		bbuf_free(&bb->raw);
	}
	return 0;
}

/* ---- input positions --------------------------------------------------------- */

static struct src_pos *
pos_slot(struct buffer *b, const char *name, size_t len)
{
	for (size_t i = 0; i < b->npos; i++)
		if (strlen(b->pos[i].name) == len &&
		    memcmp(b->pos[i].name, name, len) == 0)
			return &b->pos[i];
	if (b->npos == MAX_POSITIONS || len >= sizeof(b->pos[0].name))
		return NULL;
	memcpy(b->pos[b->npos].name, name, len);
	b->pos[b->npos].name[len] = '\0';
	b->pos[b->npos].pos[0] = '\0';
	b->pos[b->npos].found[0] = '\0';
	b->pos[b->npos].dirty = false;
	return &b->pos[b->npos++];
}

/* Remember the checkpoints of a valid frame met while scanning. */
static void
positions_from_frame(struct buffer *b, const unsigned char *frame,
    const struct block_hdr *h)
{
	size_t off = 0;
	struct block_ckpt ck;
	struct src_pos *p;

	while (off < h->meta_len &&
	    block_ckpt_next(frame + BLOCK_HEADER_LEN, h->meta_len, &off,
	    &ck) == 0) {
		if ((p = pos_slot(b, ck.name, ck.name_len)) == NULL ||
		    ck.pos_len >= sizeof(p->pos))
			continue;
		memcpy(p->pos, ck.pos, ck.pos_len);
		p->pos[ck.pos_len] = '\0';
		memcpy(p->found, p->pos, ck.pos_len + 1);
	}
}

void
buffer_set_position(struct buffer *b, const char *source, const char *pos)
{
	struct src_pos *p = pos_slot(b, source, strlen(source));

	if (p == NULL || strlen(pos) >= sizeof(p->pos) ||
	    strcmp(p->pos, pos) == 0)
		return;
	snprintf(p->pos, sizeof(p->pos), "%s", pos);
	p->dirty = true;
}

const char *
buffer_get_position(const struct buffer *b, const char *source)
{
	for (size_t i = 0; i < b->npos; i++)
		if (strcmp(b->pos[i].name, source) == 0 &&
		    b->pos[i].found[0] != '\0')
			return b->pos[i].found;
	return NULL;
}

/* ---- appending -------------------------------------------------------------- */

bool
buffer_can_append(const struct buffer *b, size_t len)
{
	uint64_t rec = (len > b->o.max_record_size ? b->o.max_record_size :
	    len) + REC_HEADER_LEN + 64;
	uint64_t held = b->bb.raw.len + rec;

	if (b->npend > 0 && b->o.full == BUFFER_FULL_BLOCK &&
	    b->pend_bytes + held > b->o.max_pending_bytes)
		return false;
	if (b->o.full != BUFFER_FULL_BLOCK)
		return true;
	/* Block: what is stored and not passed by every cursor, plus what
	 * is on its way, must stay under the cap (raw bytes: no credit is
	 * taken for compression). */
	{
		uint64_t m = min_acked(b), used = 0;
		for (size_t i = 0; i < b->nsegs; i++)
			if (b->segs[i].last_seq > m || !b->segs[i].sealed)
				used += b->segs[i].disk_bytes;
		return used + b->pend_bytes + held + BLOCK_HEADER_LEN +
		    SEG_HEADER_LEN <= b->o.max_size;
	}
}

int
buffer_append(struct buffer *b, const char *source, int64_t time_ms,
    uint32_t flags, const void *data, size_t len, uint64_t *seq)
{
	uint64_t s;
	int rc;

	if (!buffer_can_append(b, len)) {
		b->st.rejected_full++;
		return -ENOBUFS;
	}
	if (len > b->o.max_record_size) {
		len = (size_t)b->o.max_record_size;
		flags |= BUFFER_REC_TRUNCATED;
		b->st.truncated++;
	}
	if (b->bb.nrec > 0 &&
	    b->bb.raw.len + len + REC_HEADER_LEN > b->o.block_size &&
	    (rc = block_seal(b)) != 0)
		return rc;
	s = b->next_seq;
	if ((rc = block_add(&b->bb, s, source, time_ms, flags &
	    (BUFFER_REC_TRUNCATED | BUFFER_REC_SOURCE_GAP), data, len)) != 0)
		return rc;
	if (b->bb.nrec == 1)
		b->bb_started = mono_now_ms();
	sources_add(b->bb_sources, source);
	b->next_seq++;
	b->st.appended++;
	if (seq != NULL)
		*seq = s;
	/* The record is in: a block that cannot be sealed now (no memory)
	 * stays in the builder and is sealed again by buffer_tick(). */
	if (b->bb.raw.len >= b->o.block_size && block_seal(b) != 0)
		log_warnx("buffer: cannot seal a block now; trying again");
	return 0;
}

int
buffer_append_gap(struct buffer *b, const char *source, int64_t time_ms,
    uint64_t count, const char *reason, uint64_t *seq)
{
	char buf[1024];
	int n;

	n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n%s", count, reason);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	return buffer_append(b, source, time_ms, BUFFER_REC_SOURCE_GAP, buf,
	    (size_t)n, seq);
}

uint64_t
buffer_last_seq(const struct buffer *b)
{
	return b->next_seq - 1;
}

uint64_t
buffer_durable_seq(const struct buffer *b)
{
	return b->durable;
}

/* ---- cursors ----------------------------------------------------------------- */

/*
 * NAME.cur.fast holds "acked <20 digits> dropped <20 digits> <crc32 of
 * that, 8 hex>\n" (before 0.2: without "dropped"), rewritten in place:
 * cheaper than a rename by far.  A write torn by a power cut fails its
 * CRC and the fsynced NAME.cur is used instead.
 */
static void
cursor_note_fast(struct buffer_cursor *c)
{
	char text[80];
	int n;

	if (c->fast_fd == FS_HANDLE_NONE)
		return;
	n = snprintf(text, sizeof(text), "acked %020" PRIu64 " dropped %020"
	    PRIu64, c->acked, c->dropped);
	n += snprintf(text + n, sizeof(text) - (size_t)n, " %08x\n",
	    (unsigned)crc32(0L, (const Bytef *)text, (uInt)n));
	if (fs_pwrite(c->fast_fd, text, (size_t)n, 0) == n) {
		c->fast_acked = c->acked;
		c->last_quick = mono_now_ms();
	}
}

static int
cursor_read_fast(fs_handle fd, uint64_t *acked, uint64_t *dropped)
{
	char text[80];
	unsigned crc;
	ssize_t n = fs_pread(fd, text, sizeof(text) - 1, 0);

	if (n < 36)
		return -EINVAL;
	text[n] = '\0';
	*dropped = 0;
	if (n >= 64 && sscanf(text, "acked %20" SCNu64 " dropped %20" SCNu64
	    " %8x", acked, dropped, &crc) == 3 &&
	    crc == (unsigned)crc32(0L, (const Bytef *)text, 55))
		return *acked <= INT64_MAX ? 0 : -EINVAL; /* as read_u64_file */
	*dropped = 0;
	if (sscanf(text, "acked %20" SCNu64 " %8x", acked, &crc) != 2 ||
	    crc != (unsigned)crc32(0L, (const Bytef *)text, 26) ||
	    *acked > INT64_MAX)
		return -EINVAL;
	return 0;
}

/*
 * Open the fast note of the cursor file path (flags: FS_READ, or
 * FS_RDWR | FS_CREATE) and read it: *ok when it holds a valid note.
 * Return the handle, or FS_HANDLE_NONE when it cannot be opened.
 */
static fs_handle
cursor_open_fast(const char *path, int flags, uint64_t *acked,
    uint64_t *dropped, bool *ok)
{
	char fpath[PATH_MAX];
	fs_handle fd;

	*ok = false;
	if (snprintf(fpath, sizeof(fpath), "%s.fast", path) >=
	    (int)sizeof(fpath) || fs_open(fpath, flags | FS_NOFOLLOW, 0640,
	    &fd) != 0)
		return FS_HANDLE_NONE;
	*ok = cursor_read_fast(fd, acked, dropped) == 0;
	return fd;
}

static int
cursor_save_opt(struct buffer_cursor *c, bool durable)
{
	char text[64];
	int rc;

	if (c->acked == c->saved_acked && c->dropped == c->saved_dropped &&
	    (!durable || c->durable_saved))
		return 0;
	snprintf(text, sizeof(text), "acked %" PRIu64 "\ndropped %" PRIu64
	    "\n", c->acked, c->dropped);
	if ((rc = file_write_atomic(c->path, text, strlen(text), 0640,
	    durable)) != 0) {
		if (!c->b->warned_meta)
			log_warnx("buffer: cannot save cursor %s: %s (warned "
			    "once)", c->path, strerror(-rc));
		c->b->warned_meta = true;
		return rc;
	}
	c->saved_acked = c->acked;
	c->saved_dropped = c->dropped;
	c->durable_saved = durable;
	c->last_quick = mono_now_ms();
	return 0;
}

static int
cursor_save(struct buffer_cursor *c)
{
	return cursor_save_opt(c, true);
}

/* Save every cursor (durably); 0, or the first error met. */
static int
cursors_save(struct buffer *b, bool force)
{
	int64_t now = mono_now_ms();
	int rc = 0, r;

	if (!force && now - b->last_save < SAVE_EVERY_MS)
		return 0;
	for (size_t i = 0; i < b->ncursors; i++)
		if ((r = cursor_save(b->cursors[i])) != 0 && rc == 0)
			rc = r;
	b->last_save = now;
	return rc;
}

static uint64_t
oldest_seq(const struct buffer *b)
{
	if (b->nsegs > 0)
		return b->segs[0].first_seq;
	if (b->npend > 0)
		return b->pend[0].first_seq;
	if (b->bb.nrec > 0)
		return b->bb.first_seq;
	return b->next_seq;
}

int
buffer_cursor_open(struct buffer *b, const char *name,
    struct buffer_cursor **out)
{
	struct buffer_cursor *c;
	char dir[PATH_MAX], path[PATH_MAX];
	uint64_t acked, dropped = 0, fast, fdropped;
	bool fast_ok;
	int rc;

	*out = NULL;
	if (b->ncursors == MAX_CURSORS)
		return -ENOSPC;
	if ((rc = path_of(dir, sizeof(dir), b->dir, "cursors")) != 0 ||
	    (rc = path_of(path, sizeof(path), dir, "%s.cur", name)) != 0)
		return rc;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	c->rfd = FS_HANDLE_NONE;
	c->b = b;
	if ((c->name = strdup(name)) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		free(c->name);
		free(c);
		return -ENOMEM;
	}
	rc = read_u64_file(path, "acked", &acked);
	(void)read_u64_key(path, "dropped", &dropped);
	c->fast_fd = cursor_open_fast(path, FS_RDWR | FS_CREATE, &fast,
	    &fdropped, &fast_ok);
	if (fast_ok && (rc != 0 || fast > acked)) {
		/* The quick note is newer (an agent crash). */
		acked = fast;
		if (fdropped > dropped)
			dropped = fdropped;
		rc = 0;
	}
	if (rc == 0) {
		if (acked >= b->next_seq)
			acked = b->next_seq - 1;
		c->acked = c->saved_acked = acked;
		c->dropped = c->saved_dropped = dropped;
		c->durable_saved = false;	/* write NAME.cur again */
	} else {
		if (rc != -ENOENT)
			log_warnx("buffer: cursor file %s unreadable; output %s "
			    "starts at the oldest record", path, name);
		c->acked = oldest_seq(b) - 1;
		c->saved_acked = UINT64_MAX;	/* save it */
	}
	c->next = c->acked + 1;
	c->gap_hw = c->acked;
	b->cursors[b->ncursors++] = c;
	cursor_save(c);
	/* Written now, the quick note has its room on disk: rewritten in
	 * place, it still works when the disk is full (see
	 * cursors_note_in_place()). */
	cursor_note_fast(c);
	*out = c;
	return 0;
}


uint64_t
buffer_cursor_pending(const struct buffer_cursor *c)
{
	uint64_t last = c->b->next_seq - 1;

	return last > c->acked ? last - c->acked : 0;
}

uint64_t
buffer_cursor_unread(const struct buffer_cursor *c)
{
	uint64_t last = c->b->next_seq - 1;

	return last >= c->next ? last - c->next + 1 : 0;
}

int
buffer_ack(struct buffer_cursor *c, uint64_t seq)
{
	struct buffer *b = c->b;

	if (seq >= b->next_seq)
		return -EINVAL;
	if (seq > c->acked)
		c->acked = seq;
	if (c->next <= seq)
		c->next = seq + 1;
	/* Gaps announced up to here are now known to the destination. */
	while (c->ngapq > 0 && c->gapq[0].last <= c->acked) {
		c->dropped += c->gapq[0].count;
		memmove(&c->gapq[0], &c->gapq[1], --c->ngapq *
		    sizeof(c->gapq[0]));
	}
	/*
	 * Note it at once in NAME.cur.fast (one pwrite, no fsync: it
	 * survives a crash of the agent, not a power cut) so that a restart
	 * does not send again what was acknowledged; at most every 10 ms.
	 * The fsynced NAME.cur follows within a second (buffer_tick()).
	 */
	if (c->acked != c->fast_acked && mono_now_ms() - c->last_quick >= 10)
		cursor_note_fast(c);
	release_acked(b);
	return 0;
}

void
buffer_rewind(struct buffer_cursor *c)
{
	buffer_unread(c, c->acked + 1);
}

void
buffer_unread(struct buffer_cursor *c, uint64_t seq)
{
	if (seq <= c->acked)
		seq = c->acked + 1;
	if (seq >= c->next)
		return;
	c->next = seq;
	/* Decode again from the block that holds seq: the one indexed now
	 * may start after it (and would read as a gap). */
	c->nrecs = c->idx = 0;
	/* A gap after seq is announced again, but counted once (gap_hw):
	 * its gapq entry stays until the destination confirms it. */
}

/* Intern a source name of len bytes; return a NUL-terminated copy. */
static const char *
cursor_name(struct buffer_cursor *c, const char *p, size_t len)
{
	if (len >= sizeof(c->names[0]))
		len = sizeof(c->names[0]) - 1;
	for (size_t i = 0; i < c->nnames; i++)
		if (strncmp(c->names[i], p, len) == 0 &&
		    c->names[i][len] == '\0')
			return c->names[i];
	if (c->nnames == MAX_NAMES)
		return "?";
	memcpy(c->names[c->nnames], p, len);
	c->names[c->nnames][len] = '\0';
	return c->names[c->nnames++];
}

#define OFF(x)	((const char *)(uintptr_t)(x))
#define OFFV(p)	((size_t)(uintptr_t)(p))

/* Index the decoded payload at c->arena + at, first record first_seq. */
static int
cursor_index(struct buffer_cursor *c, uint64_t first_seq, uint32_t nrec,
    size_t at)
{
	size_t off = at, srclen;

	if (mem_grow(&c->recs, &c->recs_cap, nrec, sizeof(*c->recs)) != 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < nrec; i++) {
		struct buffer_rec *r = &c->recs[i];
		if (block_next_rec(&c->arena, &off, first_seq + i, r,
		    &srclen) != 0)
			return -EINVAL;
		r->source = cursor_name(c, r->source, srclen);
		r->data = OFF((const unsigned char *)r->data - c->arena.p);
	}
	c->blk_off = at;
	c->blk_end = c->arena.len;
	c->nrecs = nrec;
	c->idx = 0;
	return 0;
}

/* Decode a frame held in memory (pending) into the arena at `at`. */
static int
cursor_load_frame(struct buffer_cursor *c, const unsigned char *frame,
    size_t at)
{
	struct block_hdr h;

	if (block_hdr_parse(frame, &h) != 0 ||
	    block_decode(&c->b->codec, &h, BLOCK_STORED(frame, &h),
	    &c->arena, at) != 0)
		return -EINVAL;
	return cursor_index(c, h.first_seq, h.nrec, at);
}

static int
cursor_open_seg(struct buffer_cursor *c, const struct segment *s)
{
	char path[PATH_MAX];
	int rc;

	if (c->rseg == s->first_seq && c->rfd != FS_HANDLE_NONE)
		return 0;
	fs_close(c->rfd);
	c->rfd = FS_HANDLE_NONE;
	c->rseg = 0;
	seg_name(path, sizeof(path), c->b, s->first_seq);
	if ((rc = fs_open(path, FS_READ, 0, &c->rfd)) != 0)
		return rc;
	c->rseg = s->first_seq;
	c->roff = SEG_HEADER_LEN;
	c->roff_seq = s->first_seq;
	return 0;
}

/*
 * pread exactly n bytes at off: 0, -EINVAL when the file ends before
 * (damage), or -errno when the read itself failed (which says nothing
 * about the data: try again).
 */
static int
pread_all(fs_handle fd, void *p, size_t n, uint64_t off)
{
	ssize_t r = fs_pread(fd, p, n, off);

	if (r < 0)
		return r != -EINVAL ? (int)r : -EIO;
	return (size_t)r == n ? 0 : -EINVAL;
}

/*
 * Read and check the frame at off of fd (file size limit end).  Fill h,
 * and the frame bytes into buf.  0, or -EINVAL when it is not a valid
 * frame.  Any other error (-EIO, -ENOMEM...) is a failure to read, not
 * damage: the frame may well be intact (see READ_TRANSIENT()).
 */
static int
frame_read(fs_handle fd, uint64_t off, uint64_t end, struct block_hdr *h,
    struct bbuf *buf)
{
	size_t flen;
	int rc;

	if (off + BLOCK_HEADER_LEN > end)
		return -EINVAL;
	if (bbuf_reserve(buf, BLOCK_HEADER_LEN) != 0)
		return -ENOMEM;
	if ((rc = pread_all(fd, buf->p, BLOCK_HEADER_LEN, off)) != 0)
		return rc;
	if (block_hdr_parse(buf->p, h) != 0)
		return -EINVAL;
	flen = BLOCK_FRAME_LEN(h);
	if (off + flen > end)
		return -EINVAL;
	if (bbuf_reserve(buf, flen) != 0)
		return -ENOMEM;
	if ((rc = pread_all(fd, buf->p + BLOCK_HEADER_LEN, flen -
	    BLOCK_HEADER_LEN, off + BLOCK_HEADER_LEN)) != 0)
		return rc;
	buf->len = flen;
	return block_crc_ok(buf->p, h) ? 0 : -EINVAL;
}

/* A read that failed without finding damage: the data may be intact. */
#define READ_TRANSIENT(rc)	((rc) != 0 && (rc) != -EINVAL)

/*
 * Look for the next valid frame after a damaged one at off, with a first
 * sequence number of at least min_seq.  Return its offset, or 0 when
 * there is none; *err is set (and 0 returned) when a read failed on the
 * way (READ_TRANSIENT: nothing is known then).
 */
static uint64_t
frame_resync(fs_handle fd, uint64_t off, uint64_t end, uint64_t min_seq,
    struct block_hdr *h, struct bbuf *buf, int *err)
{
	unsigned char chunk[16384];

	*err = 0;
	for (uint64_t pos = off + 1; pos + BLOCK_HEADER_LEN <= end;) {
		ssize_t n = fs_pread(fd, chunk, sizeof(chunk), pos);
		if (n < 0) {
			*err = n != -EINVAL ? (int)n : -EIO;
			return 0;
		}
		if (n < 4)
			return 0;
		for (ssize_t i = 0; i + 4 <= n; i++) {
			int rc;

			if (chunk[i] != 'S' || memcmp(chunk + i, "SFBK", 4) != 0)
				continue;
			rc = frame_read(fd, pos + (uint64_t)i, end, h, buf);
			if (READ_TRANSIENT(rc)) {
				*err = rc;
				return 0;
			}
			if (rc == 0 && h->first_seq >= min_seq)
				return pos + (uint64_t)i;
		}
		pos += (uint64_t)n - 3;
	}
	return 0;
}

/* The segment holding seq or the first one after it (NULL: none). */
static const struct segment *
seg_find(const struct buffer *b, uint64_t seq)
{
	for (size_t i = 0; i < b->nsegs; i++)
		if (b->segs[i].last_seq >= seq &&
		    b->segs[i].last_seq >= b->segs[i].first_seq)
			return &b->segs[i];
	return NULL;
}

/* What cursor_load() found; LOAD_AGAIN only inside it (read on). */
enum { LOAD_NONE, LOAD_OK, LOAD_DAMAGED, LOAD_AGAIN };

/*
 * Reading segment s for cursor c failed with err (an I/O error, no
 * memory, no file descriptor) without showing any damage: the records
 * are still there, so the read is tried again (LOAD_NONE: the output
 * waits), said once a minute.  Only when the same place has failed for
 * READ_GIVE_UP_MS is the rest of the segment given up (return true).
 */
static bool
cursor_read_failed(struct buffer_cursor *c, const struct segment *s,
    const char *what, int err)
{
	int64_t now = mono_now_ms();

	if (c->rfail_since == 0 || c->rfail_seq != c->next) {
		c->rfail_seq = c->next;
		c->rfail_since = now;
		c->rfail_logged = 0;
	}
	if (c->rfail_logged == 0 || now - c->rfail_logged >= IO_LOG_EVERY_MS) {
		log_warnx("buffer: output %s: %s segment %016" PRIx64 ": %s; "
		    "trying again", c->name, what, s->first_seq,
		    strerror(-err));
		c->rfail_logged = now;
	}
	return now - c->rfail_since >= READ_GIVE_UP_MS;
}

/* The rest of segment s is lost to c (noted): read on after it. */
static int
cursor_skip_seg(struct buffer_cursor *c, const struct segment *s)
{
	c->rfail_since = 0;
	c->roff = s->disk_bytes;
	c->roff_seq = s->last_seq + 1;
	return LOAD_DAMAGED;
}

/* Segment s could not be opened (rc): gone, or failing for too long. */
static int
cursor_seg_unopened(struct buffer_cursor *c, const struct segment *s,
    int rc)
{
	/* Gone: lost.  Failing to open (EIO, EMFILE...): try again, for a
	 * while. */
	if (rc != -ENOENT && !cursor_read_failed(c, s, "cannot open", rc))
		return LOAD_NONE;
	log_warnx("buffer: output %s: cannot open segment %016" PRIx64 ": %s",
	    c->name, s->first_seq, strerror(-rc));
	lost_note(c->b, c->next, s->last_seq, s->first_ms, s->last_ms,
	    s->sources, "segment file unreadable (%s)", strerror(-rc));
	c->rfail_since = 0;
	return LOAD_DAMAGED;
}

/*
 * Reading or decoding the frame at c->roff failed with rc, which says
 * nothing about the block: try again, until it has failed for too long.
 */
static int
cursor_seg_unreadable(struct buffer_cursor *c, const struct segment *s,
    int rc)
{
	if (!cursor_read_failed(c, s, "cannot read", rc))
		return LOAD_NONE;
	lost_note(c->b, c->next, s->last_seq, 0, 0, s->sources, "segment %016"
	    PRIx64 " unreadable from byte %" PRIu64 " (%s)", s->first_seq,
	    c->roff, strerror(-rc));
	log_warnx("buffer: output %s: segment %016" PRIx64 " still unreadable "
	    "from byte %" PRIu64 " after %d s: the rest of it is lost", c->name,
	    s->first_seq, c->roff, READ_GIVE_UP_MS / 1000);
	return cursor_skip_seg(c, s);
}

/*
 * The frame at c->roff is damaged: find the next valid one (into h).
 * Return LOAD_AGAIN (read on from it; the records between are noted
 * lost), LOAD_DAMAGED (the rest of s is lost, noted) or LOAD_NONE (a read
 * failed on the way: try again).
 */
static int
cursor_seg_resync(struct buffer_cursor *c, const struct segment *s,
    struct block_hdr *h)
{
	uint64_t bad = c->roff, to;
	int err = 0;

	to = frame_resync(c->rfd, c->roff, s->disk_bytes, c->roff_seq, h,
	    &c->frame, &err);
	if (err != 0 && !cursor_read_failed(c, s, "cannot read", err))
		return LOAD_NONE;
	c->b->st.corrupt_blocks++;
	c->rfail_since = 0;
	if (to == 0 || h->first_seq > s->last_seq) {
		lost_note(c->b, c->roff_seq, s->last_seq, 0, 0, s->sources,
		    "corrupt block in segment %016" PRIx64 " at byte %" PRIu64,
		    s->first_seq, bad);
		return cursor_skip_seg(c, s);
	}
	lost_note(c->b, c->roff_seq, h->first_seq - 1, 0, 0, s->sources,
	    "corrupt block in segment %016" PRIx64 " at byte %" PRIu64,
	    s->first_seq, bad);
	log_warnx("buffer: output %s: corrupt block in segment %016" PRIx64
	    " at byte %" PRIu64, c->name, s->first_seq, bad);
	c->roff = to;
	c->roff_seq = h->first_seq;
	return LOAD_AGAIN;
}

/* cursor_load() from segment s, which holds c->next. */
static int
cursor_load_seg(struct buffer_cursor *c, const struct segment *s, size_t at)
{
	struct block_hdr h;
	int rc;

	if ((rc = cursor_open_seg(c, s)) != 0)
		return cursor_seg_unopened(c, s, rc);
	if (c->roff_seq > c->next) {
		/* Behind our read position: start the segment over. */
		c->roff = SEG_HEADER_LEN;
		c->roff_seq = s->first_seq;
	}
	while (c->roff < s->disk_bytes) {
		rc = frame_read(c->rfd, c->roff, s->disk_bytes, &h, &c->frame);
		if (rc == 0 && h.first_seq != c->roff_seq)
			rc = -EINVAL;
		if (rc == 0 && h.first_seq + h.nrec <= c->next) {
			/* Before what we want: skip, undecoded. */
			c->roff += c->frame.len;
			c->roff_seq = h.first_seq + h.nrec;
			continue;
		}
		/* block_decode(): -EINVAL is damage; anything else (no
		 * memory) is not. */
		if (rc == 0)
			rc = block_decode(&c->b->codec, &h,
			    BLOCK_STORED(c->frame.p, &h), &c->arena, at);
		/* A failed read or allocation says nothing about the block:
		 * never a gap for it. */
		if (READ_TRANSIENT(rc))
			return cursor_seg_unreadable(c, s, rc);
		if (rc != 0) {
			if ((rc = cursor_seg_resync(c, s, &h)) != LOAD_AGAIN)
				return rc;
			continue;
		}
		c->roff += c->frame.len;
		c->roff_seq = h.first_seq + h.nrec;
		c->rfail_since = 0;
		return cursor_index(c, h.first_seq, h.nrec, at) == 0 ?
		    LOAD_OK : LOAD_NONE;
	}
	lost_note(c->b, c->next, s->last_seq, 0, 0, s->sources,
	    "records missing from segment %016" PRIx64, s->first_seq);
	return LOAD_DAMAGED;
}

/* cursor_load() from a copy of raw, a block kept uncompressed. */
static int
cursor_load_raw(struct buffer_cursor *c, const struct bbuf *raw,
    uint64_t first_seq, uint32_t nrec, size_t at)
{
	c->arena.len = at;
	if (bbuf_add(&c->arena, raw->p, raw->len) != 0 ||
	    cursor_index(c, first_seq, nrec, at) != 0)
		return LOAD_NONE;
	return LOAD_OK;
}

/*
 * Decode into the arena at `at` the block holding c->next (which
 * first_available() found to be stored).  Return LOAD_OK, LOAD_NONE, or
 * LOAD_DAMAGED when the rest of its segment cannot be read (noted lost).
 */
static int
cursor_load(struct buffer_cursor *c, size_t at)
{
	struct buffer *b = c->b;
	const struct segment *s = seg_find(b, c->next);

	/* A block sealed a moment ago: no need to read and inflate it. */
	for (size_t i = 0; i < RECENT_BLOCKS; i++) {
		const struct recent *r = &b->recent[i];
		if (r->nrec == 0 || c->next < r->first_seq ||
		    c->next >= r->first_seq + r->nrec)
			continue;
		return cursor_load_raw(c, &r->raw, r->first_seq, r->nrec, at);
	}
	if (s != NULL && s->first_seq <= c->next)
		return cursor_load_seg(c, s, at);
	for (size_t i = 0; i < b->npend; i++) {
		if (b->pend[i].last_seq < c->next)
			continue;
		return cursor_load_frame(c, b->pend[i].frame.p, at) == 0 ?
		    LOAD_OK : LOAD_NONE;
	}
	if (b->bb.nrec > 0 && b->bb.first_seq + b->bb.nrec > c->next)
		return cursor_load_raw(c, &b->bb.raw, b->bb.first_seq,
		    b->bb.nrec, at);
	return LOAD_NONE;
}

/* The first seq still stored at or after seq (next_seq if none). */
static uint64_t
first_available(const struct buffer *b, uint64_t seq)
{
	const struct segment *s = seg_find(b, seq);

	if (s != NULL)
		return s->first_seq > seq ? s->first_seq : seq;
	for (size_t i = 0; i < b->npend; i++)
		if (b->pend[i].last_seq >= seq)
			return b->pend[i].first_seq > seq ?
			    b->pend[i].first_seq : seq;
	if (b->bb.nrec > 0 && b->bb.first_seq + b->bb.nrec > seq)
		return b->bb.first_seq > seq ? b->bb.first_seq : seq;
	return b->next_seq;
}

/* Count the gap first..last for this cursor, the part not counted yet. */
static void
gap_count_once(struct buffer_cursor *c, uint64_t first, uint64_t last)
{
	uint64_t n;

	if (last <= c->gap_hw)
		return;		/* read again after a rewind */
	if (first <= c->gap_hw)
		first = c->gap_hw + 1;
	n = last - first + 1;
	c->gap_hw = last;
	c->gaps++;
	c->gap_records += n;
	if (c->ngapq == sizeof(c->gapq) / sizeof(c->gapq[0])) {
		/* Full (a storm of gaps): fold into the newest entry. */
		c->gapq[c->ngapq - 1].last = last;
		c->gapq[c->ngapq - 1].count += n;
		return;
	}
	c->gapq[c->ngapq].last = last;
	c->gapq[c->ngapq].count = n;
	c->ngapq++;
}

/* Fill r as the report of the gap c->next .. until - 1 (text in the
 * arena, as offsets). */
static int
make_gap(struct buffer_cursor *c, uint64_t until, struct buffer_rec *r)
{
	const struct buffer *b = c->b;
	const struct lost_range *l = lost_find(b, c->next);
	const char *reason = l != NULL ? l->reason : "the records are no "
	    "longer in the buffer (deleted or damaged while the agent was "
	    "not running)";
	char src[SOURCES_LEN] = "";
	int64_t first_ms = 0, last_ms = 0;
	size_t at = c->arena.len;

	/* Times and sources of every noted range the gap overlaps. */
	for (size_t i = 0; i < b->nlost; i++) {
		const struct lost_range *x = &b->lost[i];
		if (x->last < c->next || x->first >= until)
			continue;
		if (l == NULL)
			reason = x->reason;
		if (x->first_ms != 0 && (first_ms == 0 || x->first_ms <
		    first_ms))
			first_ms = x->first_ms;
		if (x->last_ms > last_ms)
			last_ms = x->last_ms;
		sources_merge(src, x->sources);
	}

	if (bbuf_add(&c->arena, reason, strlen(reason) + 1) != 0 ||
	    bbuf_add(&c->arena, src, strlen(src) + 1) != 0)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->flags = BUFFER_REC_GAP;
	r->seq = until - 1;
	r->gap_first = c->next;
	r->gap_count = until - c->next;
	r->time_ms = first_ms;
	r->gap_last_ms = last_ms;
	r->data = OFF(at);
	r->len = strlen(reason);
	r->source = OFF(at + strlen(reason) + 1);
	gap_count_once(c, c->next, until - 1);
	c->next = until;
	return 0;
}

size_t
buffer_read(struct buffer_cursor *c, struct buffer_rec *out, size_t max,
    size_t max_bytes)
{
	struct buffer *b = c->b;
	size_t n = 0, bytes = 0;

	/* Keep what is left of the current block at the arena's start. */
	if (c->idx < c->nrecs) {
		size_t len = c->blk_end - c->blk_off;
		if (c->blk_off > 0) {
			memmove(c->arena.p, c->arena.p + c->blk_off, len);
			for (size_t i = 0; i < c->nrecs; i++)
				c->recs[i].data = OFF(OFFV(c->recs[i].data) -
				    c->blk_off);
		}
		c->arena.len = c->blk_end = len;
		c->blk_off = 0;
	} else {
		c->arena.len = 0;
		c->nrecs = c->idx = 0;
	}
	while (n < max && c->next < b->next_seq) {
		uint64_t avail;

		if (c->idx < c->nrecs) {
			struct buffer_rec *r = &c->recs[c->idx];
			if (r->seq < c->next) {
				c->idx++;
				continue;
			}
			if (r->seq > c->next) {
				if (make_gap(c, r->seq, &out[n]) != 0)
					break;
				n++;
				continue;
			}
			if (n > 0 && bytes + r->len > max_bytes)
				break;
			out[n++] = *r;
			bytes += r->len;
			c->idx++;
			c->next++;
			continue;
		}
		if (n > 0 && bytes >= max_bytes)
			break;
		c->nrecs = c->idx = 0;
		avail = first_available(b, c->next);
		if (avail > c->next) {
			if (make_gap(c, avail, &out[n]) != 0)
				break;
			n++;
			continue;
		}
		switch (cursor_load(c, c->arena.len)) {
		case LOAD_OK:
			continue;
		case LOAD_DAMAGED: {
			const struct segment *s = seg_find(b, c->next);
			if (s != NULL && make_gap(c, s->last_seq + 1, &out[n])
			    == 0)
				n++;
			continue;
		}
		default:
			break;
		}
		break;
	}
	/* Offsets into the arena become pointers now that it stays put. */
	for (size_t i = 0; i < n; i++) {
		out[i].data = (const char *)c->arena.p + OFFV(out[i].data);
		if (out[i].flags & BUFFER_REC_GAP)
			out[i].source = (const char *)c->arena.p +
			    OFFV(out[i].source);
	}
	return n;
}

void
buffer_cursor_get_stats(const struct buffer_cursor *c,
    struct buffer_cursor_stats *st)
{
	const struct buffer *b = c->b;

	memset(st, 0, sizeof(*st));
	st->acked = c->acked;
	st->gaps = c->gaps;
	st->gap_records = c->gap_records;
	/* Only records still stored are waiting; the rest of what follows
	 * acked is lost to this output (and announced as a gap). */
	for (size_t i = 0; i < b->nsegs; i++) {
		const struct segment *s = &b->segs[i];
		uint64_t nrec = s->last_seq + 1 - s->first_seq, from;
		if (s->last_seq <= c->acked || nrec == 0)
			continue;
		from = c->acked >= s->first_seq ? c->acked : s->first_seq - 1;
		if (st->oldest_ms == 0)
			st->oldest_ms = s->first_ms;
		st->unacked += s->last_seq - from;
		st->unacked_bytes += s->raw_bytes * (s->last_seq - from) / nrec;
	}
	for (size_t i = 0; i < b->npend; i++)
		if (b->pend[i].last_seq > c->acked) {
			const struct pending *p = &b->pend[i];
			if (st->oldest_ms == 0)
				st->oldest_ms = p->first_ms;
			st->unacked += p->last_seq - (c->acked >= p->first_seq ?
			    c->acked : p->first_seq - 1);
			st->unacked_bytes += p->raw_len;
		}
	if (b->bb.nrec > 0 && b->bb.first_seq + b->bb.nrec - 1 > c->acked) {
		uint64_t last = b->bb.first_seq + b->bb.nrec - 1;
		if (st->oldest_ms == 0)
			st->oldest_ms = b->bb.first_ms;
		st->unacked += last - (c->acked >= b->bb.first_seq ? c->acked :
		    b->bb.first_seq - 1);
		st->unacked_bytes += b->bb.raw.len;
	}
	st->dropped = c->dropped + (buffer_cursor_pending(c) > st->unacked ?
	    buffer_cursor_pending(c) - st->unacked : 0);
}

/* ---- timers, sync, stats -------------------------------------------------- */

int64_t
buffer_tick(struct buffer *b, int64_t now)
{
	int64_t next = now + SAVE_EVERY_MS;

	if (b->npend > 0) {
		if (now >= b->retry_at)
			pend_flush(b);
		if (b->npend > 0 && b->retry_at < next)
			next = b->retry_at;
	}
	if (b->bb.nrec > 0) {
		int64_t due = b->bb_started + (int64_t)b->o.flush_interval_ms;
		if (now >= due) {
			if (block_seal(b) != 0)
				log_warnx("buffer: cannot seal a block");
		} else if (due < next) {
			next = due;
		}
	}
	if (b->o.fsync == BUFFER_FSYNC_INTERVAL && b->written_seq > b->durable) {
		int64_t due = b->last_fsync + (int64_t)b->o.fsync_interval_ms;
		if (now >= due) {
			int rc = do_fsync(b);
			if (rc != 0)
				io_failed(b, "fsync", -rc);
		} else if (due < next) {
			next = due;
		}
	}
	if (now - b->last_save >= SAVE_EVERY_MS) {
		cursors_save(b, true);
		head_save(b);
	}
	return next;
}

int
buffer_sync(struct buffer *b)
{
	int rc;

	if ((rc = block_seal(b)) != 0)
		return rc;
	if (b->npend > 0) {
		pend_flush(b);
		if (b->npend > 0)
			return -EIO;
	}
	if (b->o.fsync != BUFFER_FSYNC_NEVER && (rc = do_fsync(b)) != 0)
		return rc;
	b->durable = b->written_seq;
	cursors_save(b, true);
	head_save(b);
	return 0;
}

void
buffer_get_stats(const struct buffer *b, struct buffer_stats *st)
{
	*st = b->st;
	st->segments = b->nsegs;
	st->disk_bytes = disk_total(b);
	st->raw_bytes = 0;
	st->records = 0;
	for (size_t i = 0; i < b->nsegs; i++) {
		st->raw_bytes += b->segs[i].raw_bytes;
		st->records += b->segs[i].last_seq + 1 - b->segs[i].first_seq;
	}
	st->pending_bytes = b->pend_bytes;
	st->first_seq = oldest_seq(b);
	st->last_seq = b->next_seq - 1;
	st->durable_seq = b->durable;
}

/* ---- recovery --------------------------------------------------------------- */

static int
seg_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The first seqs of the segment files found, as list_segments() grows
 * them. */
struct seg_list {
	uint64_t	*v;
	size_t		 n, cap;
};

/* fs_list(): keep the name if it is a segment's.  0 or -ENOMEM. */
static int
seg_list_add(void *arg, const char *name)
{
	struct seg_list *l = arg;
	unsigned long long first;
	char tail[8];

	if (sscanf(name, "seg-%16llx.%4s", &first, tail) != 2 ||
	    strcmp(tail, "sfw") != 0 || strlen(name) != 24)
		return 0;
	if (mem_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) != 0)
		return -ENOMEM;
	l->v[l->n++] = first;
	return 0;
}

/* List the first seqs of the segment files in dir, sorted. */
static int
list_segments(const char *dir, uint64_t **out, size_t *n)
{
	struct seg_list l = { NULL, 0, 0 };
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = fs_list(dir, seg_list_add, &l)) != 0) {
		free(l.v);
		return rc;
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), seg_cmp);
	*out = l.v;
	*n = l.n;
	return 0;
}

/*
 * Walk the frames of one segment file (fd, size), checking each.  Fill s
 * (last_seq, disk_bytes, raw_bytes, times).  Corrupt stretches are noted
 * as lost; the offset where valid data ends is stored in *valid_end.
 * Return 0, or -errno when a read failed (READ_TRANSIENT): then nothing
 * may be concluded about the segment, and nothing was noted.
 */
static int
seg_scan(struct buffer *b, fs_handle fd, uint64_t size, struct segment *s,
    uint64_t *valid_end, bool *torn, struct bbuf *buf)
{
	uint64_t off = SEG_HEADER_LEN, expect = s->first_seq;
	struct block_hdr h;

	*torn = false;
	while (off < size) {
		int rc = frame_read(fd, off, size, &h, buf), err;
		if (READ_TRANSIENT(rc))
			return rc;
		if (rc == 0 && h.first_seq != expect)
			rc = -EINVAL;
		if (rc != 0) {
			uint64_t to = frame_resync(fd, off, size, expect, &h,
			    buf, &err);
			if (err != 0)
				return err;
			if (to == 0) {
				*torn = true;
				break;
			}
			b->st.corrupt_blocks++;
			lost_note(b, expect, h.first_seq - 1, 0, 0, "",
			    "corrupt block in segment %016" PRIx64 " at byte %"
			    PRIu64, s->first_seq, off);
			log_warnx("buffer: corrupt block in segment %016" PRIx64
			    " at byte %" PRIu64 ": %" PRIu64 " records will be "
			    "reported as lost", s->first_seq, off,
			    h.first_seq - expect);
			off = to;
			expect = h.first_seq;
			continue;
		}
		if (s->last_seq < s->first_seq)
			s->first_ms = h.first_ms;
		s->last_ms = h.last_ms;
		s->raw_bytes += h.raw_len;
		positions_from_frame(b, buf->p, &h);
		off += buf->len;
		expect = h.first_seq + h.nrec;
		s->last_seq = expect - 1;
	}
	*valid_end = off < size ? off : size;
	s->disk_bytes = *valid_end;
	s->synced_bytes = *valid_end;	/* found on disk */
	return 0;
}

static void
quarantine(struct buffer *b, const char *path, const char *name)
{
	char qdir[PATH_MAX], dst[PATH_MAX];
	int rc;

	if (path_of(qdir, sizeof(qdir), b->dir, "quarantine") != 0 ||
	    path_of(dst, sizeof(dst), qdir, "%s", name) != 0)
		return;
	if ((rc = fs_mkdir(qdir, 0750)) != 0 ||
	    (rc = fs_rename(path, dst)) != 0)
		log_warnx("buffer: cannot move %s to %s: %s", path, qdir,
		    strerror(-rc));
	else
		log_warnx("buffer: %s is unreadable: moved to %s", name, qdir);
}

/* What cursor_files() hands to fs_list(). */
struct cursor_walk {
	const char	*cdir;
	void		(*fn)(void *arg, const char *path, const char *file,
			    size_t len);
	void		*arg;
};

/* fs_list(): call the walk's fn if name is a cursor file's. */
static int
cursor_file(void *arg, const char *name)
{
	const struct cursor_walk *w = arg;
	char path[PATH_MAX];
	size_t len = strlen(name);

	if (len >= 5 && strcmp(name + len - 4, ".cur") == 0 &&
	    path_of(path, sizeof(path), w->cdir, "%s", name) == 0)
		w->fn(w->arg, path, name, len);
	return 0;
}

/*
 * Call fn for each cursor file, NAME.cur, in dir/cursors: its path, its
 * file name and the length of that.
 */
static void
cursor_files(const char *dir, void (*fn)(void *arg, const char *path,
    const char *file, size_t len), void *arg)
{
	char cdir[PATH_MAX];
	struct cursor_walk w = { cdir, fn, arg };

	if (path_of(cdir, sizeof(cdir), dir, "cursors") != 0)
		return;
	/* A directory that cannot be read has no cursors to tell of. */
	(void)!fs_list(cdir, cursor_file, &w);
}

/* cursor_files(): the highest acknowledgement bounds the sequence. */
static void
recover_cursor(void *arg, const char *path, const char *file, size_t len)
{
	struct buffer *b = arg;
	uint64_t acked;

	(void)file;
	(void)len;
	if (read_u64_file(path, "acked", &acked) == 0 &&
	    acked > b->max_cursor_acked)
		b->max_cursor_acked = acked;
}

/*
 * The frames of segment s (fd, path, name) end before its file does:
 * valid_end of size bytes.  next is the first seq of the segment after
 * it, unless s is the newest.
 */
static void
recover_torn(struct buffer *b, const struct segment *s, fs_handle fd,
    const char *path, const char *name, bool newest, uint64_t next,
    uint64_t size, uint64_t valid_end)
{
	int rc;

	if (!newest && s->last_seq + 1 < next) {
		b->st.corrupt_blocks++;
		lost_note(b, s->last_seq + 1, next - 1, 0, 0, "", "damaged end "
		    "of segment %s", name);
		log_warnx("buffer: segment %s is damaged from byte %" PRIu64
		    "; the rest of it is reported as lost", name, valid_end);
		return;
	}
	if (!newest)
		/* Its records go on in the next segment: the tail is a frame
		 * whose write was cut short and that could not be cut off
		 * then (it was written again after it). */
		log_info("buffer: segment %s ends with %" PRIu64 " bytes of a "
		    "torn write, written again in the next segment: cut off",
		    name, size - valid_end);
	else
		log_warnx("buffer: segment %s ends with %" PRIu64 " bytes of a "
		    "torn write: cut off", name, size - valid_end);
	if ((rc = fs_truncate(fd, valid_end)) != 0)
		log_warnx("buffer: cannot truncate %s: %s", path,
		    strerror(-rc));
}

/*
 * Recover segment i of the nfirst found (firsts, in order): move it to
 * quarantine when its header is bad, else scan it and cut a torn tail;
 * whatever is lost is noted.  *last is the highest seq accounted for.  0,
 * or -errno when it cannot be read now.
 */
static int
recover_segment(struct buffer *b, const uint64_t *firsts, size_t nfirst,
    size_t i, uint64_t head, uint64_t *last, struct bbuf *buf)
{
	unsigned char hdr[SEG_HEADER_LEN];
	char path[PATH_MAX], name[32];
	uint64_t hfirst, valid_end, size;
	struct segment *s;
	bool newest = i + 1 == nfirst, torn;
	fs_handle fd;
	int rc;

	snprintf(name, sizeof(name), SEG_NAME_FMT,
	    (unsigned long long)firsts[i]);
	seg_name(path, sizeof(path), b, firsts[i]);
	/*
	 * A segment that cannot be opened or read now (an I/O error, no
	 * memory, no descriptor) is not known to be damaged: refuse to start
	 * rather than call its records lost, or write new ones over its
	 * sequence numbers.
	 */
	if ((rc = fs_open(path, FS_RDWR, 0, &fd)) != 0 ||
	    (rc = fs_size(fd, &size)) != 0) {
		fs_close(fd);
		if (rc == -ENOENT)
			return 0;	/* gone since listed */
		log_errorx("buffer: cannot open %s: %s", path, strerror(-rc));
		return rc;
	}
	if (size < SEG_HEADER_LEN && newest) {
		/* Created but its header never made it: empty. */
		fs_close(fd);
		fs_remove(path);
		return 0;
	}
	if ((rc = pread_all(fd, hdr, sizeof(hdr), 0)) != 0 &&
	    READ_TRANSIENT(rc)) {
		log_errorx("buffer: cannot read %s: %s", path, strerror(-rc));
		goto out_close;
	}
	if (rc != 0 || segment_header_check(hdr, &hfirst) != 0 ||
	    hfirst != firsts[i] || firsts[i] <= *last) {
		uint64_t until = i + 1 < nfirst ? firsts[i + 1] - 1 : head;

		fs_close(fd);
		quarantine(b, path, name);
		lost_note(b, firsts[i], until, 0, 0, "", "segment %s was "
		    "unreadable and moved to quarantine", name);
		if (until > *last)
			*last = until;
		return 0;
	}
	if ((s = seg_push(b, firsts[i])) == NULL) {
		rc = -ENOMEM;
		goto out_close;
	}
	if ((rc = seg_scan(b, fd, size, s, &valid_end, &torn, buf)) != 0) {
		log_errorx("buffer: cannot read %s: %s", path, strerror(-rc));
		goto out_close;
	}
	s->sealed = true;
	if (torn)
		recover_torn(b, s, fd, path, name, newest, newest ? 0 :
		    firsts[i + 1], size, valid_end);
	fs_close(fd);
	if (*last < s->first_seq - 1)
		*last = s->first_seq - 1;
	if (s->last_seq >= s->first_seq) {
		*last = s->last_seq;
	} else {
		/* No records in it: nothing to keep. */
		fs_remove(path);
		b->nsegs--;
	}
	return 0;

out_close:
	fs_close(fd);
	return rc;
}

static int
recover(struct buffer *b)
{
	uint64_t *firsts = NULL, head = 0, last = 0;
	size_t nfirst = 0;
	char path[PATH_MAX];
	struct bbuf buf = { 0 };
	int rc;

	if ((rc = list_segments(b->dir, &firsts, &nfirst)) != 0)
		return rc;
	if (path_of(path, sizeof(path), b->dir, "head") == 0 &&
	    read_u64_file(path, "durable", &head) == 0)
		b->head_saved = head;
	for (size_t i = 0; i < nfirst && rc == 0; i++)
		rc = recover_segment(b, firsts, nfirst, i, head, &last, &buf);
	free(firsts);
	bbuf_free(&buf);
	if (rc != 0)
		return rc;
	cursor_files(b->dir, recover_cursor, b);
	if (head > last) {
		lost_note(b, last + 1, head, 0, 0, "", "records that were on "
		    "disk are missing from the buffer (damaged or deleted "
		    "segment files)");
		log_warnx("buffer: %" PRIu64 " records the head file counts as "
		    "written are missing; they will be reported as lost",
		    head - last);
		last = head;
	}
	if (b->max_cursor_acked > last)
		last = b->max_cursor_acked;
	b->next_seq = last + 1;
	b->written_seq = b->durable = last;
	return 0;
}

int
buffer_open(const struct buffer_opts *opts, struct buffer **out)
{
	struct buffer *b;
	char path[PATH_MAX];
	int rc;

	*out = NULL;
	if (opts->dir == NULL || opts->segment_size < 4096 ||
	    opts->max_size < 2 * opts->segment_size || opts->block_size == 0 ||
	    opts->block_size > opts->segment_size ||
	    opts->max_record_size == 0 || opts->max_record_size > (64u << 20))
		return -EINVAL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -ENOMEM;
	b->o = *opts;
	b->lockfd = b->wfd = FS_HANDLE_NONE;
	if ((b->dir = strdup(opts->dir)) == NULL) {
		free(b);
		return -ENOMEM;
	}
	b->o.dir = b->dir;
	if ((rc = codec_init(&b->codec, opts->compression_level)) != 0)
		goto err;
	if ((rc = fs_mkdir(b->dir, 0750)) != 0 ||
	    (rc = path_of(path, sizeof(path), b->dir, "cursors")) != 0 ||
	    (rc = fs_mkdir(path, 0750)) != 0 ||
	    (rc = path_of(path, sizeof(path), b->dir, "lock")) != 0 ||
	    (rc = fs_open(path, FS_RDWR | FS_CREATE, 0640,
	    &b->lockfd)) != 0 ||
	    (rc = fs_lock(b->lockfd)) != 0)
		goto err;
	b->last_fsync = b->last_save = mono_now_ms();
	if ((rc = recover(b)) != 0)
		goto err;
	/* Appends go to a new segment: the old ones stay as they are. */
	*out = b;
	return 0;
err:
	buffer_close(b);
	return rc;
}

void
buffer_close(struct buffer *b)
{
	if (b == NULL)
		return;
	if (b->lockfd != FS_HANDLE_NONE && b->next_seq > 0) {
		int rc = buffer_sync(b);
		if (rc != 0)
			log_warnx("buffer: closing with %" PRIu64 " records not "
			    "written: %s", b->next_seq - 1 - b->written_seq,
			    strerror(-rc));
	}
	fs_close(b->wfd);
	for (size_t i = 0; i < b->ncursors; i++) {
		struct buffer_cursor *c = b->cursors[i];
		fs_close(c->rfd);
		fs_close(c->fast_fd);
		bbuf_free(&c->arena);
		bbuf_free(&c->frame);
		free(c->recs);
		free(c->name);
		free(c->path);
		free(c);
	}
	for (size_t i = 0; i < b->npend; i++)
		bbuf_free(&b->pend[i].frame);
	free(b->pend);
	bbuf_free(&b->bb.raw);
	bbuf_free(&b->scratch);
	bbuf_free(&b->meta);
	bbuf_free(&b->rewrite);
	for (size_t i = 0; i < RECENT_BLOCKS; i++)
		bbuf_free(&b->recent[i].raw);
	codec_free(&b->codec);
	free(b->segs);
	fs_close(b->lockfd);
	free(b->dir);
	free(b);
}

/* ---- inspection ------------------------------------------------------------- */

/* buffer_inspect(): scan the segment first, if it can be read. */
static int
inspect_segment(struct buffer *b, uint64_t first, struct bbuf *buf)
{
	unsigned char hdr[SEG_HEADER_LEN];
	char path[PATH_MAX];
	uint64_t hfirst, valid_end, size;
	struct segment *s;
	fs_handle fd;
	bool torn;
	int rc;

	seg_name(path, sizeof(path), b, first);
	if (fs_open(path, FS_READ, 0, &fd) != 0)
		return 0;
	if (fs_size(fd, &size) != 0 || fs_pread(fd, hdr, sizeof(hdr), 0) !=
	    (ssize_t)sizeof(hdr) || segment_header_check(hdr,
	    &hfirst) != 0 || (s = seg_push(b, first)) == NULL) {
		fs_close(fd);
		return 0;
	}
	rc = seg_scan(b, fd, size, s, &valid_end, &torn, buf);
	s->disk_bytes = size;
	fs_close(fd);
	return rc;
}

/* What buffer_inspect() hands to cursor_files(). */
struct inspect {
	struct buffer	*b;
	void		(*fn)(void *arg, const char *name,
			    const struct buffer_cursor_stats *cs);
	void		*arg;
};

/* cursor_files(): the stats of one cursor, as its files say. */
static void
inspect_cursor(void *arg, const char *path, const char *file, size_t len)
{
	const struct inspect *in = arg;
	struct buffer_cursor c;
	struct buffer_cursor_stats cs;
	uint64_t acked, dropped;
	char name[256];
	fs_handle fd;
	bool ok;

	if (len > 200)
		return;
	memset(&c, 0, sizeof(c));
	c.b = in->b;
	if (read_u64_file(path, "acked", &c.acked) != 0)
		return;
	(void)read_u64_key(path, "dropped", &c.dropped);
	/* The quick note of a running (or crashed) agent, when newer. */
	fd = cursor_open_fast(path, FS_READ, &acked, &dropped, &ok);
	if (ok && acked > c.acked) {
		c.acked = acked;
		if (dropped > c.dropped)
			c.dropped = dropped;
	}
	fs_close(fd);
	snprintf(name, sizeof(name), "%.*s", (int)(len - 4), file);
	buffer_cursor_get_stats(&c, &cs);
	in->fn(in->arg, name, &cs);
}

int
buffer_inspect(const char *dir, struct buffer_stats *st,
    void (*fn)(void *arg, const char *name,
    const struct buffer_cursor_stats *cs), void *arg)
{
	struct buffer b;
	struct inspect in = { &b, fn, arg };
	uint64_t *firsts = NULL;
	size_t nfirst = 0;
	struct bbuf buf = { 0 };
	char path[PATH_MAX];
	int rc;

	memset(&b, 0, sizeof(b));
	b.dir = (char *)(uintptr_t)dir;
	b.lockfd = b.wfd = FS_HANDLE_NONE;
	if ((rc = list_segments(dir, &firsts, &nfirst)) != 0)
		return rc;
	for (size_t i = 0; i < nfirst && rc == 0; i++)
		rc = inspect_segment(&b, firsts[i], &buf);
	free(firsts);
	bbuf_free(&buf);
	if (rc != 0) {
		free(b.segs);
		return rc;
	}
	b.next_seq = b.nsegs > 0 ? b.segs[b.nsegs - 1].last_seq + 1 : 1;
	buffer_get_stats(&b, st);
	if (path_of(path, sizeof(path), dir, "head") == 0)
		(void)read_u64_file(path, "durable", &st->durable_seq);
	if (fn != NULL)
		cursor_files(dir, inspect_cursor, &in);
	free(b.segs);
	return 0;
}
