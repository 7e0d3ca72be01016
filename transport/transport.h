/*
 * transport.h - where rendered documents go.
 *
 * An output takes a batch of documents (NDJSON bytes, rendered by the
 * agent) and reports one of three outcomes, the house rule for every
 * destination: TRANSPORT_SENT (the destination has it: acknowledge the
 * batch), TRANSPORT_RETRY (a passing failure: keep the records, try again
 * after a backoff) or TRANSPORT_REJECT (the destination refuses them for
 * good).  This issue brings the local outputs, `file` and `stdout`; the
 * HTTPS outputs come next behind the same interface.
 */
#ifndef SYSMONFWD_TRANSPORT_H
#define SYSMONFWD_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

struct transport_output;

enum transport_outcome {
	TRANSPORT_SENT = 0,
	TRANSPORT_RETRY = 1,
	TRANSPORT_REJECT = 2,
};

/*
 * Open a local NDJSON output named name: the file at path (created with
 * mode 0640 and appended to) or, when path is NULL, standard output.
 * Store it in *out and return 0, or -ENOMEM.  A file that cannot be
 * opened yet is not an error: it is logged, and every send tries again
 * (TRANSPORT_RETRY until it opens), like a destination that is down.
 */
int	transport_file_open(const char *name, const char *path,
	    struct transport_output **out) __attribute__((warn_unused_result));
/* Close and free t; NULL is a no-op. */
void	transport_close(struct transport_output *t);

/*
 * Write one batch: len bytes of whole NDJSON lines.  All or nothing: when
 * a write fails half way, the file is cut back to where the batch began,
 * so that no half document is left behind.  Returns an outcome.
 */
enum transport_outcome transport_send(struct transport_output *t,
	    const char *data, size_t len);
/* Reopen the file at its path (after logrotate moved it away). */
int	transport_reopen(struct transport_output *t)
	    __attribute__((warn_unused_result));
/* Make written batches durable (fsync); used at shutdown. */
int	transport_flush(struct transport_output *t)
	    __attribute__((warn_unused_result));
const char *transport_name(const struct transport_output *t);
/* The reason of the last failure, for the log. */
const char *transport_last_error(const struct transport_output *t);

#endif
