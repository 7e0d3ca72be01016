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

/*
 * A source: each type's struct starts with struct source, whose ops the
 * functions below call.  Types: file (source_file.c), and the event-log
 * subscribers of their own files.
 */
struct source;

struct source_stats {
	uint64_t	records;	/* appended to the buffer */
	uint64_t	ignored;	/* non-record lines not forwarded */
	uint64_t	truncated;	/* records cut at max_line_size */
	uint64_t	bytes;		/* bytes consumed */
};

struct source_ops {
	const char *(*name)(const struct source *s);
	ssize_t	(*poll)(struct source *s, struct buffer *b, size_t budget);
	int	(*wait_fd)(const struct source *s);
	int64_t	(*next_poll)(const struct source *s, int64_t now_ms);
	bool	(*at_end)(const struct source *s);
	bool	(*finished)(const struct source *s);
	void	(*checkpoint)(struct source *s, uint64_t durable_seq,
		    bool force);
	void	(*get_stats)(const struct source *s, struct source_stats *st);
	void	(*close)(struct source *s, const struct buffer *b);
};

struct source {
	const struct source_ops *ops;
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

/*
 * Helpers for sources that keep a position as text (a journal cursor, a
 * file and record number, a bookmark): remember which position is safe
 * once which ring sequence number is durable, and save the newest safe
 * one to state_dir/positions/NAME.pos (atomically, at most once a second
 * unless forced).
 */
#define SOURCE_POS_MAX	4096

struct source_pos {
	char		*path;		/* the position file */
	char		 committed[SOURCE_POS_MAX]; /* durable position */
	char		 saved[SOURCE_POS_MAX];	/* what the file holds */
	struct {
		uint64_t	 seq;
		char		*pos;
	}		 pending[64];
	size_t		 npending;
	int64_t		 last_save_ms;
	bool		 warned;
	const char	*name;		/* the input, for messages */
};

/* Set up p for input name; load the saved position into pos (size
 * SOURCE_POS_MAX; "" when none).  0 or -errno. */
int	source_pos_init(struct source_pos *p, const char *state_dir,
	    const char *name, char *pos) __attribute__((warn_unused_result));
/* pos is safe once seq is durable. */
void	source_pos_note(struct source_pos *p, uint64_t seq, const char *pos);
/* Advance to what durable_seq covers and save it when due. */
void	source_pos_commit(struct source_pos *p, uint64_t durable_seq,
	    bool force);
void	source_pos_free(struct source_pos *p);
/* Save the position (when durable) and release s.  NULL is a no-op. */
void	source_close(struct source *s, const struct buffer *b);

/*
 * Read what is available now (at most about `budget` bytes) and append
 * its records to b.  Stops early when b cannot take a record of the
 * largest size.  Return the number of bytes consumed, or -errno on an
 * error that ends this source (logged).
 */
ssize_t	source_poll(struct source *s, struct buffer *b, size_t budget);
/* The fd to wait on for readability, or -1 when the source is polled by
 * time (regular files). */
int	source_wait_fd(const struct source *s);
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


#endif
