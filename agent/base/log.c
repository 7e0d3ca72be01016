/*
 * log.c - the agent's own log (base.h).  The log sink's state is one of
 * the two kinds of mutable global the house style allows.
 */
#include "base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *log_progname = "sysmonfwd";
static enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *progname, enum log_level level)
{
	if (progname != NULL)
		log_progname = progname;
	log_threshold = level;
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

static void
log_vemit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[2048];

	if (level > log_threshold)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);	/* truncation is acceptable */
	if (errnum != 0)
		fprintf(stderr, "%s: %s: %s: %s\n", log_progname,
		    level_names[level], msg, strerror(errnum));
	else
		fprintf(stderr, "%s: %s: %s\n", log_progname,
		    level_names[level], msg);
}

#define LOG_BODY(level, with_errno)				\
	do {							\
		int saved_errno = errno;			\
		va_list ap;					\
		va_start(ap, fmt);				\
		log_vemit(level, with_errno ? saved_errno : 0, fmt, ap); \
		va_end(ap);					\
		errno = saved_errno;				\
	} while (0)

void log_error(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_ERROR, 1); }
void log_errorx(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_ERROR, 0); }
void log_warn(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_WARN, 1); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_WARN, 0); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_INFO, 0); }
void log_debug(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_DEBUG, 0); }
