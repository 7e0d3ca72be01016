/*
 * buffer.h - the disk-backed, compressed, checksummed ring between sources
 * and outputs.
 *
 * Sources append raw records (the source's own bytes plus a little
 * metadata: which input, when it was read).  Records are grouped into
 * blocks, each compressed with zlib and framed with a CRC32, and appended
 * to segment files under DIR (buffer/segment.c specifies the format).
 * Every output reads through its own named, persisted cursor and
 * acknowledges what its destination confirmed; a segment is deleted once
 * every cursor has passed it.  Records are numbered by a sequence number
 * that only grows (the first record ever is 1) and survives restarts.
 *
 * The total size on disk is capped.  When a new block would pass the cap,
 * BUFFER_FULL_DROP_OLDEST deletes the oldest segment even if a cursor has
 * not read it, and BUFFER_FULL_BLOCK refuses appends until cursors move on.
 * Every record a cursor will never see (evicted, in a corrupt block, lost
 * in a torn segment tail, dropped after a write error) comes back from
 * buffer_read() as a gap record, in order, so an output can say "we lost N
 * records here" instead of staying silent.
 *
 * buffer_durable_seq() tells sources how far they may checkpoint their own
 * read position: every record up to it is on disk under the fsync policy.
 *
 * Memory stays bounded whatever the backlog: the block being filled, one
 * decoded block per cursor, and a few blocks kept while the disk refuses
 * writes.  Single owner: the agent's event loop.  Not thread-safe.
 */
#ifndef SYSMONFWD_BUFFER_H
#define SYSMONFWD_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buffer;
struct buffer_cursor;

/* Flags of a record. */
#define BUFFER_REC_TRUNCATED	0x1u	/* cut at the source or at
					   max_record_size */
#define BUFFER_REC_GAP		0x2u	/* not a record: a gap report */
#define BUFFER_REC_SOURCE_GAP	0x4u	/* not a record: an input says it
					   lost records before the ring
					   (data: "COUNT\nREASON", COUNT 0
					   when unknown) */

enum buffer_full_policy {
	BUFFER_FULL_DROP_OLDEST = 0,	/* evict the oldest, count the loss */
	BUFFER_FULL_BLOCK,		/* appends fail; sources wait */
};

enum buffer_fsync_policy {
	BUFFER_FSYNC_INTERVAL = 0,	/* every fsync_interval_ms */
	BUFFER_FSYNC_ALWAYS,		/* every block */
	BUFFER_FSYNC_NEVER,		/* leave it to the kernel */
};

struct buffer_opts {
	const char	*dir;		/* created if missing (mode 0750) */
	uint64_t	 max_size;	/* cap on all segments together */
	uint64_t	 segment_size;	/* a segment is sealed past this */
	uint64_t	 block_size;	/* raw bytes per block (64 KiB) */
	uint64_t	 flush_interval_ms; /* a partial block waits no longer */
	int		 full;		/* enum buffer_full_policy */
	int		 fsync;		/* enum buffer_fsync_policy */
	uint64_t	 fsync_interval_ms;
	int		 compression_level; /* 0 (store)..9 */
	uint64_t	 max_record_size; /* longer records are cut, flagged */
	uint64_t	 max_pending_bytes; /* blocks kept in memory while the
					   disk refuses writes */
};

/* Fill o with the defaults (dir excluded). */
void	buffer_opts_default(struct buffer_opts *o);

/*
 * One record as read back.  Pointers stay valid until the next
 * buffer_read() on the same cursor or buffer_close().
 *
 * A gap record (flags & BUFFER_REC_GAP) stands for gap_count records that
 * this cursor will never see, sequence numbers gap_first..seq; data holds
 * the reason in words; source the input names when known (comma
 * separated, else ""); time_ms and gap_last_ms the time range when known
 * (else 0).
 */
struct buffer_rec {
	uint64_t	 seq;
	int64_t		 time_ms;	/* when the agent read it (Unix ms) */
	uint32_t	 flags;		/* BUFFER_REC_* */
	const char	*source;	/* input name, NUL-terminated */
	const char	*data;		/* raw record, not NUL-terminated */
	size_t		 len;
	uint64_t	 gap_count;
	uint64_t	 gap_first;
	int64_t		 gap_last_ms;
};

struct buffer_stats {
	uint64_t	appended;	/* records appended since open */
	uint64_t	truncated;	/* cut at max_record_size */
	uint64_t	rejected_full;	/* appends refused while full */
	uint64_t	evicted;	/* records deleted before every ack */
	uint64_t	write_errors;	/* failed block writes (ENOSPC, EIO) */
	uint64_t	dropped_io;	/* records lost to write failures */
	uint64_t	corrupt_blocks;	/* found at recovery or reading */
	uint64_t	segments;
	uint64_t	disk_bytes;	/* segment files, headers included */
	uint64_t	raw_bytes;	/* record bytes those hold, uncompressed */
	uint64_t	records;	/* records in segments */
	uint64_t	pending_bytes;	/* blocks waiting in memory */
	uint64_t	first_seq;	/* oldest record still stored */
	uint64_t	last_seq;	/* newest record appended */
	uint64_t	durable_seq;
};

struct buffer_cursor_stats {
	uint64_t	acked;		/* last acknowledged seq */
	uint64_t	unacked;	/* records still stored, not acked */
	uint64_t	unacked_bytes;	/* their raw bytes (estimate) */
	uint64_t	dropped;	/* records this output will never get:
					   evicted or lost before it acked
					   them (what its gaps announce) */
	int64_t		oldest_ms;	/* read time of the oldest unacked
					   record (0: none) */
	uint64_t	gap_records;	/* records reported as gaps */
	uint64_t	gaps;		/* gap reports */
};

/*
 * Open (or create) the ring in opts->dir and recover it: a torn tail is
 * cut off, a corrupt block is skipped and reported as a gap, an unreadable
 * segment is moved to DIR/quarantine.  Recovery always succeeds unless the
 * directory itself cannot be used.  Store the ring in *out (release with
 * buffer_close()) and return 0, or return -errno.
 */
int	buffer_open(const struct buffer_opts *opts, struct buffer **out)
	    __attribute__((warn_unused_result));
/* Write the pending block, fsync, save cursors, release b and every cursor
 * of it.  NULL is a no-op. */
void	buffer_close(struct buffer *b);

/*
 * Append one record of len bytes read from input `source` at time_ms.
 * Store its sequence number in *seq (may be NULL) and return 0.  A record
 * longer than max_record_size is cut there and flagged TRUNCATED.  Return
 * -ENOBUFS when the ring is full under BUFFER_FULL_BLOCK, or when the disk
 * refuses writes and the memory kept for that is full: try again later.
 */
int	buffer_append(struct buffer *b, const char *source, int64_t time_ms,
	    uint32_t flags, const void *data, size_t len, uint64_t *seq)
	    __attribute__((warn_unused_result));
/*
 * An input lost records before they reached the ring (a journal cursor
 * that was vacuumed away, an event-log bookmark that rolled off): append
 * a report of it, which every output renders as a gap document.  count is
 * 0 when unknown.  Return like buffer_append().
 */
int	buffer_append_gap(struct buffer *b, const char *source, int64_t time_ms,
	    uint64_t count, const char *reason, uint64_t *seq)
	    __attribute__((warn_unused_result));

/*
 * Record where input `source` stands after the records it appended so far:
 * pos is the input's own text (at most 255 bytes).  It is written with the
 * next block, so that after a crash the input can resume exactly after
 * the records the ring kept (buffer_get_position()).
 */
void	buffer_set_position(struct buffer *b, const char *source,
	    const char *pos);
/* The newest position of source found on disk when the ring was opened
 * (what survived the last run), or NULL.  The string belongs to b. */
const char *buffer_get_position(const struct buffer *b, const char *source);

/* Would an append of len bytes succeed now? */
bool	buffer_can_append(const struct buffer *b, size_t len);

/*
 * Timers: write a partial block older than flush_interval, fsync under
 * the interval policy, retry writes after an error, save cursors.  Call it
 * from the event loop; return the monotonic ms when it wants to run again.
 */
int64_t	buffer_tick(struct buffer *b, int64_t now_ms);
/* Write the pending block and fsync now (shutdown, --once).  0 or -errno. */
int	buffer_sync(struct buffer *b) __attribute__((warn_unused_result));

/* Every record up to this sequence number is on disk (fsync policy). */
uint64_t buffer_durable_seq(const struct buffer *b);
/* The sequence number of the last record appended (0: none yet). */
uint64_t buffer_last_seq(const struct buffer *b);
void	buffer_get_stats(const struct buffer *b, struct buffer_stats *st);

/*
 * Open the cursor called name (an output's name), resuming from its saved
 * acknowledgement; a new cursor starts at the oldest record stored.  The
 * cursor belongs to b and is released with it.
 */
int	buffer_cursor_open(struct buffer *b, const char *name,
	    struct buffer_cursor **out) __attribute__((warn_unused_result));
/*
 * Read up to max records that follow the last one read, and no more than
 * max_bytes of record data (at least one record is returned if any is
 * waiting).  Gap records come in order among them.  Return how many were
 * stored in out[], 0 when there is nothing new.
 */
size_t	buffer_read(struct buffer_cursor *c, struct buffer_rec *out,
	    size_t max, size_t max_bytes);
/* Acknowledge every record up to and including seq. */
int	buffer_ack(struct buffer_cursor *c, uint64_t seq)
	    __attribute__((warn_unused_result));
/* Make the next read start again at the first unacknowledged record. */
void	buffer_rewind(struct buffer_cursor *c);
/*
 * Make the next read start again at seq, a record already read and not
 * acknowledged (the caller could not use it and the ones after it).  A
 * gap read again is announced again but counted once.
 */
void	buffer_unread(struct buffer_cursor *c, uint64_t seq);
/* Records appended but not yet acknowledged through this cursor. */
uint64_t buffer_cursor_pending(const struct buffer_cursor *c);
/* Records the cursor has not read yet. */
uint64_t buffer_cursor_unread(const struct buffer_cursor *c);
void	buffer_cursor_get_stats(const struct buffer_cursor *c,
	    struct buffer_cursor_stats *st);

/*
 * Scan the ring in dir without changing anything (for --buffer-stat):
 * fill *st and, for each cursor file found, call fn.  0 or -errno.
 */
int	buffer_inspect(const char *dir, struct buffer_stats *st,
	    void (*fn)(void *arg, const char *name,
	    const struct buffer_cursor_stats *cs), void *arg)
	    __attribute__((warn_unused_result));

#endif
