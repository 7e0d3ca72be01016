/*
 * position.h - the text forms of the sources' read positions, written and
 * read without I/O (position.c), so that the sources and the fuzz target
 * (tests/fuzz/fuzz_position.c) use the same code:
 *   - the file input's position file state_dir/positions/NAME.pos
 *     ("sysmonfwd-position 1", then "path P", "dev N", "ino N",
 *     "offset N", "crc N", one per line) and its checkpoint in the ring
 *     ("dev N ino N off N crc N");
 *   - the evtx input's "file NAME record N";
 *   - the time in a journal cursor ("...;t=HEX;...").
 * The Windows event-log bookmark is eventlog_bookmark_parse() of
 * eventlog_util.h.
 */
#ifndef SYSMONFWD_POSITION_H
#define SYSMONFWD_POSITION_H

#include <stddef.h>
#include <stdint.h>

struct file_pos {
	uint64_t	dev, ino, off;
	uint32_t	crc;		/* of the bytes before off; 0: none */
};

/*
 * The position file's len bytes: 0 when it names dev, ino and offset
 * (crc 0 when it names none; a later line wins over an earlier one), else
 * -EINVAL (*p untouched).
 */
int	file_pos_parse(const char *text, size_t len, struct file_pos *p);
/* Write the position file for path into buf: its length, or -1 when it
 * does not fit. */
int	file_pos_format(char *buf, size_t len, const char *path,
	    const struct file_pos *p);
/* The ring's checkpoint: 0, or -EINVAL (*p untouched). */
int	file_pos_ring_parse(const char *text, struct file_pos *p);
int	file_pos_ring_format(char *buf, size_t len, const struct file_pos *p);

/* "file NAME record N" (NAME without '/'): 0, or -EINVAL. */
int	evtx_pos_parse(const char *text, char *name, size_t namelen,
	    uint64_t *id);
int	evtx_pos_format(char *buf, size_t len, const char *name, uint64_t id);

/* The realtime (usec) a journal cursor names in its "t=" field, or 0. */
uint64_t journal_cursor_time(const char *cursor);

#endif
