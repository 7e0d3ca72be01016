/*
 * buffer.h - the queue between sources and outputs.
 *
 * Sources append raw records (the source's own bytes plus a little
 * metadata: which input, when it was read).  Every output reads through
 * its own cursor and acknowledges what its destination confirmed; a record
 * is released once every cursor has acknowledged it.  Records are numbered
 * by a sequence number that only grows (the first record is 1).
 *
 * buffer_durable_seq() tells sources how far they may checkpoint their own
 * read position: every record up to that number survives a crash of the
 * agent.  For the in-memory implementation that is "acknowledged by every
 * output"; the disk ring will answer "written to disk under the fsync
 * policy", without the callers changing.
 *
 * Single owner: the agent's event loop.  Not thread-safe.
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
#define BUFFER_REC_TRUNCATED	0x1u	/* the source cut an oversized record */

enum buffer_full_policy {
	BUFFER_FULL_BLOCK = 0,		/* appends fail; sources wait */
	BUFFER_FULL_DROP_OLDEST,	/* evict the oldest, count the loss */
};

struct buffer_opts {
	uint64_t	max_bytes;	/* cap on stored record bytes */
	uint64_t	max_records;	/* cap on stored records */
	int		full;		/* enum buffer_full_policy */
};

/* One record as read back.  Pointers stay valid until the next
 * buffer_read() on the same cursor, buffer_append() or buffer_close(). */
struct buffer_rec {
	uint64_t	 seq;
	int64_t		 time_ms;	/* when the agent read it (Unix ms) */
	uint32_t	 flags;		/* BUFFER_REC_* */
	const char	*source;	/* input name, NUL-terminated */
	const char	*data;		/* raw record, not NUL-terminated */
	size_t		 len;
};

struct buffer_stats {
	uint64_t	appended;	/* records ever appended */
	uint64_t	rejected_full;	/* appends refused while full */
	uint64_t	dropped;	/* records evicted before every ack */
	uint64_t	records;	/* records stored now */
	uint64_t	bytes;		/* record bytes stored now */
};

/* Create a buffer.  Store it in *out (release with buffer_close()) and
 * return 0, or return -errno. */
int	buffer_open(const struct buffer_opts *opts, struct buffer **out)
	    __attribute__((warn_unused_result));
/* Release b and every cursor of it.  NULL is a no-op. */
void	buffer_close(struct buffer *b);

/*
 * Append one record of len bytes read from input `source` at time_ms.
 * Store its sequence number in *seq (may be NULL) and return 0.  Return
 * -ENOBUFS when the buffer is full under BUFFER_FULL_BLOCK (try again after
 * outputs acknowledge), -EMSGSIZE when the record alone exceeds the cap.
 */
int	buffer_append(struct buffer *b, const char *source, int64_t time_ms,
	    uint32_t flags, const void *data, size_t len, uint64_t *seq)
	    __attribute__((warn_unused_result));
/* Would an append of len bytes succeed now? */
bool	buffer_can_append(const struct buffer *b, size_t len);
/* The highest sequence number below which every record is safe. */
uint64_t buffer_durable_seq(const struct buffer *b);
/* The sequence number of the last record appended (0: none yet). */
uint64_t buffer_last_seq(const struct buffer *b);
void	buffer_get_stats(const struct buffer *b, struct buffer_stats *st);

/* Open a named cursor that starts at the oldest record still stored.
 * The cursor belongs to b and is released with it. */
int	buffer_cursor_open(struct buffer *b, const char *name,
	    struct buffer_cursor **out) __attribute__((warn_unused_result));
/*
 * Read up to max records that follow the last one read, and no more than
 * max_bytes of record data (at least one record is returned if any is
 * waiting).  Return the number of records stored in out[], 0 when there
 * is nothing new.
 */
size_t	buffer_read(struct buffer_cursor *c, struct buffer_rec *out,
	    size_t max, size_t max_bytes);
/* Acknowledge every record up to and including seq. */
int	buffer_ack(struct buffer_cursor *c, uint64_t seq)
	    __attribute__((warn_unused_result));
/* Make the next read start again at the first unacknowledged record. */
void	buffer_rewind(struct buffer_cursor *c);
/* Records appended but not yet acknowledged through this cursor. */
uint64_t buffer_cursor_pending(const struct buffer_cursor *c);
/* Records the cursor has not read yet. */
uint64_t buffer_cursor_unread(const struct buffer_cursor *c);
const char *buffer_cursor_name(const struct buffer_cursor *c);

#endif
