/*
 * source.h - where records come from: files (and stdin), the systemd
 * journal, .evtx files and, on Windows, the Event Log.  Each source
 * appends the records it reads to the ring and keeps its read position
 * safe only once the ring holds them durably.
 */
#ifndef SYSMONFWD_SOURCE_H
#define SYSMONFWD_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buffer.h"
#include "config.h"
#include "event.h"
#include "policy.h"

/* A source (its ops and fields: source_int.h, for the sources only). */
struct source;

struct source_stats {
	uint64_t	records;	/* appended to the buffer */
	uint64_t	ignored;	/* non-record lines not forwarded */
	uint64_t	truncated;	/* records cut at max_line_size */
	uint64_t	bytes;		/* bytes consumed */
	uint64_t	filtered;	/* dropped by [filter] before the ring */
};

/*
 * Open the source of input cfg (any type), resuming from its saved
 * position: the furthest of its position file under state_dir and the
 * checkpoint the ring b holds for it (b may be NULL).  Store it in *out
 * and return 0, or return -errno after logging why.  cfg must outlive the
 * source.
 */
int	source_open(const struct config_input *cfg, const char *state_dir,
	    const struct buffer *b, struct source **out)
	    __attribute__((warn_unused_result));
int	source_file_open(const struct config_input *cfg, const char *state_dir,
	    const struct buffer *b, struct source **out)
	    __attribute__((warn_unused_result));
int	source_journald_open(const struct config_input *cfg,
	    const char *state_dir, const struct buffer *b, struct source **out)
	    __attribute__((warn_unused_result));
int	source_evtx_open(const struct config_input *cfg, const char *state_dir,
	    const struct buffer *b, struct source **out)
	    __attribute__((warn_unused_result));
#ifdef _WIN32
int	source_eventlog_open(const struct config_input *cfg,
	    const char *state_dir, const struct buffer *b, struct source **out)
	    __attribute__((warn_unused_result));
#endif

/* The longest read position a source keeps as text (a journal cursor, a
 * file and record number, a bookmark). */
#define SOURCE_POS_MAX	4096

/* Save the position (when durable) and release s.  NULL is a no-op. */
void	source_close(struct source *s, const struct buffer *b);

/*
 * Read what is available now (at most about `budget` bytes) and append
 * its records to b.  Stops early when b cannot take a record of the
 * largest size.  Return the number of bytes consumed, or -errno on an
 * error that ends this source (logged).
 */
ssize_t	source_poll(struct source *s, struct buffer *b, size_t budget);
/* The fd (a HANDLE on Windows) to wait on for readability, or
 * WAIT_HANDLE_NONE (-1 on POSIX) when the source is polled by time
 * (regular files). */
wait_handle source_wait_fd(const struct source *s);
/* When the source wants source_poll() next (monotonic ms), or -1: "as
 * soon as possible" when it has not reached its end. */
int64_t	source_next_poll(const struct source *s, int64_t now_ms);
/* At the current end of the input (nothing to read right now). */
bool	source_at_end(const struct source *s);
/* Will never produce more records (non-follow file or stdin at EOF). */
bool	source_finished(const struct source *s);
/* Advance the saved position to cover records up to durable_seq; write
 * the position file if it changed and `force` or a second has passed. */
void	source_checkpoint(struct source *s, uint64_t durable_seq, bool force);
void	source_get_stats(const struct source *s, struct source_stats *st);
const char *source_name(const struct source *s);

/*
 * Run p (policy.h; NULL: none) on every record s reads from now on, and
 * keep its records within max_record bytes with their tag trailer (the
 * ring's max_record_size; 0: no limit here).  p is borrowed and must
 * outlive s.
 */
void	source_set_policy(struct source *s, struct policy *p,
	    uint64_t max_record);

/*
 * The one way a source puts a record into the ring, instead of
 * buffer_append(): the policy first (filter, redaction, tags), then the
 * append of what it kept.  Return 0 when the record was appended (its
 * sequence number in *seq, which may be NULL), SOURCE_FILTERED when the
 * filter dropped it (counted in the stats and by the policy; nothing was
 * appended, so the source moves its position past the record as past a
 * line it ignores: a dropped record is never read again and never holds
 * a checkpoint back), or -errno as buffer_append() (-ENOBUFS: try the
 * same record again later) or -ENOMEM.
 */
#define SOURCE_FILTERED	1
/* The most a record grows by on its way (its tag trailer): what a source
 * adds to the size it asks buffer_can_append() about. */
#define SOURCE_TRAILER_MAX \
	(EVENT_TAGS_MAX * (EVENT_TAG_MAX + 1) + 2 + EVENT_TAGS_MAGIC_LEN)
int	source_append(struct source *s, struct buffer *b, int64_t time_ms,
	    uint32_t flags, const void *data, size_t len, uint64_t *seq)
	    __attribute__((warn_unused_result));


#endif
