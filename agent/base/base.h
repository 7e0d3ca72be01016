/*
 * base.h - what every room may use: the agent's own log, the clocks,
 * durable small files and base64.  The bottom of the tree: it includes
 * nothing of sysmonfwd, and it is the only piece of agent/ that buffer/
 * and transport/ link (as the `base` target).
 */
#ifndef SYSMONFWD_BASE_H
#define SYSMONFWD_BASE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef _WIN32
#include "compat_win.h"
#endif

#define SYSMONFWD_VERSION	"0.1.0"

/* ---- the log (log.c) -------------------------------------------------------
 * The agent's own diagnostics, to stderr, one line each: "sysmonfwd:
 * warn: message".  systemd's journal stamps them with time and unit; a
 * log file (log_open_file()) gets the time on each line.
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

/*
 * Send the log to the file path instead of stderr (a Windows service has
 * neither a console nor a journal): each line stamped with the UTC time,
 * "2026-12-07T10:35:35.123Z sysmonfwd: warn: message".  Before a line
 * would take the file past max_bytes it is renamed path.1 (path.1 to
 * path.2, ..., keep files in all, the oldest dropped) and a new one
 * begun.  A line that cannot be written goes to stderr.  Safe to call
 * from several threads.  0, or -errno (the log stays on stderr).
 */
int	log_open_file(const char *path, uint64_t max_bytes, int keep)
	    __attribute__((warn_unused_result));
/* Back to stderr.  Lines are written at once: nothing to flush. */
void	log_close_file(void);
/* The log goes to a file (log_open_file()). */
bool	log_to_file(void);

/* log_warn and log_error append ": strerror(errno)"; the x forms do not. */
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- clocks and files (sys.c; sys_win.c on Windows) ---------------------- */

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
/*
 * fsync the directory dir (after creating, renaming or removing in it).
 * A no-op on Windows, where a directory cannot be flushed (sys_win.c).
 */
int	fsync_dir(const char *dir) __attribute__((warn_unused_result));
/*
 * The host's name into buf (len bytes, NUL-terminated): gethostname(); on
 * Windows the DNS host name (GetComputerNameExA()).  0, or -1 with errno.
 */
int	host_name(char *buf, size_t len);
/*
 * Let only the owner (and, on Windows, SYSTEM) into
 * path, a directory or a file holding secrets: chmod 0700 or 0600; on
 * Windows a protected DACL (nothing inherited), inheritable on a
 * directory so that what is made in it is private too.  0 or -errno.
 */
int	file_make_private(const char *path, bool dir)
	    __attribute__((warn_unused_result));
/* mkdir -p with mode for the directories it creates.  0 or -errno. */
int	file_mkdirs(const char *path, int mode)
	    __attribute__((warn_unused_result));

/* ---- open files (sys.c; sys_win.c on Windows) -----------------------------
 * What the disk ring (buffer/) does with its files, the same on every
 * system: paths are UTF-8 ('/' separates on Windows too), results are 0
 * or -errno, byte counts are ssize_t (<0: -errno).  On POSIX each call is
 * the one libc call named, so that the fault tests that interpose libc
 * (tests/torture/, tests/test_buffer_faults.c) see what they always saw.
 * On Windows a file is opened sharing read, write and delete, so that a
 * reader, a writer and a rename or delete of the file coexist as they do
 * on POSIX, and its handle is never inherited (O_CLOEXEC).  fs_, not
 * file_: several rooms have static file_open() and file_close().
 */
#ifdef _WIN32
typedef void	*fs_handle;	/* HANDLE, without <windows.h> */
#define FS_HANDLE_NONE	((void *)(intptr_t)-1)	/* INVALID_HANDLE_VALUE */
#ifndef EDQUOT
#define EDQUOT		ENOSPC	/* not in the CRT's errno.h: no quotas */
#endif
#else
typedef int	 fs_handle;
#define FS_HANDLE_NONE	(-1)
#endif

/* fs_open()'s flags: one of READ, RDWR and APPEND, with any of the rest. */
#define FS_READ		0x01	/* read only */
#define FS_RDWR		0x02	/* read and write (fs_pwrite()) */
#define FS_APPEND	0x04	/* write only, with fs_append() */
#define FS_CREATE	0x10	/* create it when missing, with mode */
#define FS_EXCL		0x20	/* with CREATE: -EEXIST if it exists */
#define FS_NOFOLLOW	0x40	/* -ELOOP if it is a symbolic link */

/* Open path into *fh (FS_HANDLE_NONE on failure).  mode: the POSIX
 * permissions of a created file (on Windows, the directory's ACL). */
int	fs_open(const char *path, int flags, int mode, fs_handle *fh)
	    __attribute__((warn_unused_result));
/* Close fh; FS_HANDLE_NONE is ignored. */
void	fs_close(fs_handle fh);
/* One read of up to n bytes at off: the bytes read (0 at the end). */
ssize_t	fs_pread(fs_handle fh, void *p, size_t n, uint64_t off);
/* One write of up to n bytes at off (FS_RDWR): the bytes written. */
ssize_t	fs_pwrite(fs_handle fh, const void *p, size_t n, uint64_t off);
/* One write of up to n bytes at the end of fh (FS_APPEND): the bytes
 * written. */
ssize_t	fs_append(fs_handle fh, const void *p, size_t n);
/* fsync, and fdatasync (the data and what is needed to read it back). */
int	fs_sync(fs_handle fh) __attribute__((warn_unused_result));
int	fs_datasync(fs_handle fh) __attribute__((warn_unused_result));
/* Cut fh (opened for writing) to len bytes. */
int	fs_truncate(fs_handle fh, uint64_t len)
	    __attribute__((warn_unused_result));
/* The size of fh in bytes, into *size. */
int	fs_size(fs_handle fh, uint64_t *size)
	    __attribute__((warn_unused_result));
/*
 * Take the exclusive lock of fh without waiting: -EBUSY when another
 * handle, in this process or another, holds it.  It lasts until fh is
 * closed or the process ends, a crash included.
 */
int	fs_lock(fs_handle fh) __attribute__((warn_unused_result));
/* Rename from over to, atomically replacing to if it exists. */
int	fs_rename(const char *from, const char *to)
	    __attribute__((warn_unused_result));
/* Delete path (-ENOENT when it does not exist). */
int	fs_remove(const char *path);
/* fopen(), for reading small text files: NULL with errno set. */
FILE	*fs_fopen(const char *path, const char *how);
/* Make the directory path (one level) with mode: 0 when it was made or
 * already exists. */
int	fs_mkdir(const char *path, int mode)
	    __attribute__((warn_unused_result));
/*
 * Call fn with the name of each entry of the directory dir ("." and ".."
 * left out), in no particular order, until fn returns non-zero: return
 * that, 0 when every entry was seen, or -errno when dir cannot be read.
 */
int	fs_list(const char *dir, int (*fn)(void *arg, const char *name),
	    void *arg) __attribute__((warn_unused_result));

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

/* ---- libraries loaded on first use (dynlib.c; POSIX only) -----------------
 * libsystemd and libevtx are opened with dlopen() by the code that needs
 * them, when it first does: a process without a journald or evtx input
 * maps none of their pages.  The user keeps a struct of function
 * pointers (tab) and a table of their names and offsets in it (syms).
 */
struct dynlib_sym {
	const char	*name;		/* as dlsym() knows it */
	size_t		 off;		/* offsetof() its pointer in tab */
};

struct dynlib {
	const char		*soname;	/* "libsystemd.so.0" */
	const char		*package;	/* Debian's, for the message */
	const struct dynlib_sym	*syms;
	size_t			 nsyms;
	void			*tab;
	bool			 loaded;	/* tab is filled */
};

/*
 * Load dl->soname (for good) and fill dl->tab; at once when done before.
 * 0, or -ELIBACC with why (len bytes) completing "... needs " in one
 * phrase: the library, what failed, the package to install.
 */
int	dynlib_load(struct dynlib *dl, char *why, size_t len)
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
