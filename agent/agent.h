/*
 * agent.h - the pipeline: sources append to the ring, each output reads
 * it through its own cursor, renders and sends, and the ring is
 * acknowledged only up to what the destination confirmed.  One thread,
 * one event loop (loop.c, waiting through evloop.h).
 */
#ifndef SYSMONFWD_AGENT_H
#define SYSMONFWD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* ---- the pipeline -------------------------------------------------------- */

struct agent_opts {
	bool	once;		/* stop when every input is at its end and
				   every output has acknowledged everything */
};

struct agent_summary {
	uint64_t	records_read;	/* appended to the buffer */
	uint64_t	lines_ignored;	/* non-record lines not forwarded */
	uint64_t	truncated;	/* records cut at max_line_size */
	uint64_t	filtered;	/* dropped by [filter] before the ring */
	uint64_t	parse_errors;	/* rendered as tagged documents */
	uint64_t	delivered;	/* acknowledged by every output */
	uint64_t	lost;		/* reported in gap documents (max over
					   outputs) */
	uint64_t	evicted;	/* buffer: dropped at the cap */
	uint64_t	dropped_io;	/* buffer: lost to write failures */
	uint64_t	corrupt_blocks;	/* buffer: damaged blocks skipped */
	uint64_t	elapsed_ms;
};

/*
 * Run the agent with cfg until a stop signal (SIGTERM, SIGINT), or until
 * --once is done, or until every input is finished (non-follow files at
 * their end, standard input closed) and every output caught up; then give
 * the outputs up to 5 s to deliver what is buffered.  SIGHUP reopens the
 * output files.  Return 0, or -errno when the agent could not start or an
 * input failed (the reason was logged).  *sum (not NULL) is filled once
 * the agent started, even when an input failed; left alone otherwise.
 */
int	agent_run(const struct config *cfg, const struct agent_opts *opts,
	    struct agent_summary *sum);

#endif
