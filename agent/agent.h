/*
 * agent.h - the pipeline: sources append to the ring, each output reads
 * it through its own cursor, renders and sends, and the ring is
 * acknowledged only up to what the destination confirmed.
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
 * Run the agent with cfg until a stop signal, or until --once is done, or
 * until every input is finished (non-follow files at their end, standard
 * input closed) and every output caught up.  Return 0, or -errno on a
 * runtime failure (the reason was logged).  Fills *sum when not NULL.
 */
int	agent_run(const struct config *cfg, const struct agent_opts *opts,
	    struct agent_summary *sum);

#endif
