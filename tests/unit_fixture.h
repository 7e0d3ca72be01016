/*
 * unit_fixture.h - what the unit tests of the sources share: a temporary
 * directory holding a ring (buffer_open, one cursor "o") and the config
 * of one file input "t", and the helpers that write its files and read
 * the ring back.  Compiled into each test that uses it (unit_fixture.c).
 */
#ifndef SYSMONFWD_UNIT_FIXTURE_H
#define SYSMONFWD_UNIT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "source.h"

struct fixture {
	char			 dir[64];	/* the temporary directory */
	char			 logs[96];	/* dir/logs: the inputs */
	char			 pattern[128];	/* dir/logs/sysmon*.log */
	char			 path[128];	/* dir/in.log */
	struct config_input	 in;
	struct buffer		*buf;		/* dir/buffer */
	struct buffer_cursor	*cur;
};

/*
 * A fixture in a new /tmp/PREFIX-XXXXXX: the ring open, input "t" of type
 * file with lines up to max_line bytes, polled every 10 ms, not followed,
 * reading path (dir/in.log; dir/logs exists for tests that change it).
 * Asserts on any failure.
 */
struct fixture *fx_new(const char *prefix, uint64_t max_line);
/* Close the ring, remove the directory, free f. */
void	fx_free(struct fixture *f);
/* (Re)open the ring dir/buffer and its cursor "o" (after buffer_close). */
void	fx_open_buffer(struct fixture *f);

/* Write text to path with fopen() mode ("w" or "a"). */
void	write_file(const char *path, const char *text, const char *mode);
/*
 * Drain every record the ring holds into out (len bytes), each followed by
 * '|', or by "!|" when it was cut at max_line_size; acknowledge them.
 * Return how many there were.  Asserts that they fit.
 */
size_t	collect(struct fixture *f, char *out, size_t len);
/* Poll past a poll_interval, twice (a look or scan, then the reads it
 * allows). */
void	wait_poll(struct source *s, struct buffer *b);

#endif
