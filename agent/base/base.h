/*
 * base.h - what every room may use: the agent's own log, the clocks,
 * durable small files and base64.  The bottom of the tree: it includes
 * nothing of sysmonfwd, and it is the only piece of agent/ that buffer/
 * and transport/ link (as the `base` target).
 */
#ifndef SYSMONFWD_BASE_H
#define SYSMONFWD_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYSMONFWD_VERSION	"0.1.0"

/* ---- the log (log.c) -------------------------------------------------------
 * The agent's own diagnostics, to stderr, one line each: "sysmonfwd:
 * warn: message".  systemd's journal stamps them with time and unit.
 * Every function preserves errno.  Payloads (record contents) and secrets
 * are never logged above debug, and secrets never at all.
 */
enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Set the program name printed before each line and the threshold. */
void	log_init(const char *progname, enum log_level level);
void	log_set_level(enum log_level level);

/* log_warn and log_error append ": strerror(errno)"; the x forms do not. */
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- clocks and files (sys.c) -------------------------------------------- */

/* Milliseconds of the monotonic clock: every timer and deadline. */
int64_t	mono_now_ms(void);
/* Milliseconds since the epoch (wall clock): what documents say. */
int64_t	time_now_ms(void);

/*
 * Replace path's contents with len bytes of data atomically: write
 * "path.tmp" (created with mode, never through a link), rename it over
 * path.  durable: fsync the file before and the directory after (what
 * survives a power cut); otherwise the rename alone (survives a crash of
 * the agent).  A crash leaves the old or the new contents, never a mix.
 * 0 or -errno (the temporary file is removed).
 */
int	file_write_atomic(const char *path, const void *data, size_t len,
	    int mode, bool durable) __attribute__((warn_unused_result));
/* fsync the directory dir (after creating, renaming or removing in it). */
int	fsync_dir(const char *dir) __attribute__((warn_unused_result));
/* mkdir -p with mode for the directories it creates.  0 or -errno. */
int	file_mkdirs(const char *path, int mode)
	    __attribute__((warn_unused_result));

/* ---- what the event loop waits on (agent/evloop.h) -------------------------
 * A file descriptor on POSIX; a HANDLE (a waitable object) on Windows,
 * where an input's "something arrived" is an event object and not an fd.
 * Declared here, at the bottom, so that the rooms below agent/ (a source,
 * the monitor) can hand one to the loop.  WAIT_HANDLE_NONE: nothing to
 * wait on.
 */
#ifdef _WIN32
typedef void	*wait_handle;	/* HANDLE, without <windows.h> */
#define WAIT_HANDLE_NONE	NULL
#else
typedef int	 wait_handle;
#define WAIT_HANDLE_NONE	(-1)
#endif

/* ---- memory (sys.c) ------------------------------------------------------ */

/*
 * Make the array *pp (of *cap elements of size bytes) hold at least need
 * elements: grown with realloc() to need, or to twice *cap when that is
 * more, never shrunk.  0, or -ENOMEM with *pp and *cap unchanged.
 */
int	mem_grow(void *pp, size_t *cap, size_t need, size_t size)
	    __attribute__((warn_unused_result));

/* ---- base64 (base64.c) --------------------------------------------------- */

/* Characters base64_encode() writes for n bytes, padded form (the url
 * form writes at most this many). */
#define BASE64_LEN(n)	(((n) + 2) / 3 * 4)

/*
 * Encode n bytes of in into out (BASE64_LEN(n) + 1 bytes), NUL-terminated:
 * url false, the standard alphabet with '=' padding (RFC 4648 §4, HTTP
 * Basic and Elasticsearch API keys); url true, the URL-safe alphabet
 * without padding (§5, document ids).  Return the length written.
 */
size_t	base64_encode(const void *in, size_t n, char *out, bool url);

#endif
