/*
 * log.h - the agent's own diagnostics, to stderr, one line each.
 *
 * This is the only piece of agent/ that the other modules link (as the
 * `log` target).  Lines look like "sysmonfwd: warn: message".  systemd's
 * journal stamps them with time and unit.  Every function preserves errno.
 * Payloads (record contents) and secrets are never logged above debug,
 * and secrets never at all.
 */
#ifndef SYSMONFWD_LOG_H
#define SYSMONFWD_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Set the program name printed before each line and the threshold. */
void	log_init(const char *progname, enum log_level level);
void	log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error", "warn", "info" or "debug"; return -1 when unknown. */
int	log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

/* log_warn and log_error append ": strerror(errno)"; the x forms do not. */
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
