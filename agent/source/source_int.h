/*
 * source_int.h - what the sources of this folder share, and nothing
 * outside it sees: the struct each source type starts with, its ops, and
 * the text positions (source_pos.c).  source.c does for every type what
 * is the same for all (the name, the stats, "finished", saving a text
 * position, checkpointing before closing), so a type's ops hold only what
 * is its own.
 */
#ifndef SYSMONFWD_SOURCE_INT_H
#define SYSMONFWD_SOURCE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "source.h"

/*
 * A type's ops (source.h says what each call does).  checkpoint may be
 * NULL: source.c then commits the text position s->pos.
 */
struct source_ops {
	ssize_t	(*poll)(struct source *s, struct buffer *b, size_t budget);
	int64_t	(*next_poll)(const struct source *s, int64_t now_ms);
	bool	(*at_end)(const struct source *s);
	void	(*checkpoint)(struct source *s, uint64_t durable_seq,
		    bool force);
	/* Release s; source_close() has saved its position already. */
	void	(*close)(struct source *s);
};

/* The first member of every type's struct: what source.c answers from. */
struct source {
	const struct source_ops *ops;
	const char	*name;		/* the input's (its cfg outlives it) */
	wait_handle	 fd;		/* to wait on; WAIT_HANDLE_NONE:
					 * polled by time */
	bool		 finished;	/* no more records will come */
	struct source_stats st;
	struct source_pos *pos;		/* a text position, or NULL */
	struct policy	*policy;	/* borrowed; NULL: none */
	uint64_t	 max_record;	/* the ring's max_record_size; 0: none */
	struct strbuf	 esc;		/* a record escaped (no policy) */
	struct strbuf	 cut;		/* a record cut to fit with its tags */
};

/*
 * A new source of the type whose struct, starting with struct source, is
 * size bytes: zeroed, its base naming ops and cfg's input, waiting on no
 * fd.  NULL when out of memory; free() releases it.
 */
void	*source_new(size_t size, const struct source_ops *ops,
	    const struct config_input *cfg);

/*
 * Text positions, for sources that keep one (a journal cursor, a file and
 * record number, a bookmark): remember which position is safe once which
 * ring sequence number is durable, and save the newest safe one to
 * state_dir/positions/NAME.pos (atomically, at most once a second unless
 * forced).
 */
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

/*
 * Set up p, the text position of s (a member of s's struct), in
 * state_dir/positions: s->pos points to it, and p->saved holds the
 * position saved there ("" when none) until the first commit.  0 or
 * -errno; source_pos_free() p either way.
 */
int	source_pos_init(struct source *s, struct source_pos *p,
	    const char *state_dir) __attribute__((warn_unused_result));
/* pos is safe once seq is durable. */
void	source_pos_note(struct source_pos *p, uint64_t seq, const char *pos);
/* Advance to what durable_seq covers and save it when due. */
void	source_pos_commit(struct source_pos *p, uint64_t durable_seq,
	    bool force);
void	source_pos_free(struct source_pos *p);

/*
 * The identity of the file sb describes (what a rename keeps, what a new
 * file at the name does not): st_dev and st_ino; on Windows, which has
 * no inode in struct stat, the volume serial number and the file index,
 * asked of fd, or of path when fd < 0.  0, or -errno when Windows could
 * not tell (*dev and *ino are then 0).
 */
int	source_file_id(const struct stat *sb, int fd, const char *path,
	    uint64_t *dev, uint64_t *ino);

#endif
