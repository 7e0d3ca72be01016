/*
 * service.h - sysmonfwd.exe as a Windows service (service_win.c): its
 * installation, its removal, and its run under the Service Control
 * Manager; and the Windows places main.c needs (%ProgramData%\sysmonfwd,
 * the demo's private directory).  Windows builds only.
 *
 * Functions that print return the process's exit code (0, 1 runtime
 * failure, 2 usage or configuration error); the others 0 or -errno.
 * Paths are UTF-8.
 */
#ifndef SYSMONFWD_SERVICE_H
#define SYSMONFWD_SERVICE_H

#include <stddef.h>

/* The service's name in the SCM, and its log's size cap and files. */
#define SERVICE_NAME		"sysmonfwd"
#define SERVICE_LOG_MAX		(10ULL * 1024 * 1024)
#define SERVICE_LOG_KEEP	5

/*
 * %ProgramData%\sysmonfwd, then "\name" unless name is NULL, into buf
 * (len bytes).  0 or -errno.
 */
int	service_data_path(const char *name, char *buf, size_t len)
	    __attribute__((warn_unused_result));

/*
 * --install-service: as an administrator, make %ProgramData%\sysmonfwd
 * with state\ and log\ (a protected DACL: SYSTEM and Administrators,
 * full control, applied to existing directories too), write the default
 * configuration there when cfgpath is NULL and none exists, check the
 * configuration, and create the service sysmonfwd (automatic, delayed
 * start, LocalSystem with its privileges cut to one, restarted on
 * failure) that runs this exe with --service -c CONFIG.  Says on stdout
 * what it did, and what this system would not store.  Already installed
 * with the same command line: says so, exit 0.
 */
int	service_install(const char *cfgpath);
/*
 * --uninstall-service: stop the service when it runs (waiting for it to
 * save its positions) and delete it; the data stays.  Not installed:
 * says so, exit 0.
 */
int	service_uninstall(void);

/*
 * --service: hand the process to the SCM (StartServiceCtrlDispatcherW)
 * and run fn(arg) on a thread of its own as the service sysmonfwd, the
 * log in logpath (NULL: %ProgramData%\sysmonfwd\log\sysmonfwd.log,
 * rotated at SERVICE_LOG_MAX).  START_PENDING until the agent's loop
 * runs, then RUNNING; a stop or shutdown control stops the agent as
 * SIGTERM does (STOP_PENDING with a wait hint and checkpoints while it
 * drains and saves positions), then STOPPED with fn's exit code.  Return
 * that code, or -1 when the process was not started by the SCM (a
 * console): nothing was done and the caller runs in the foreground.
 */
int	service_run(int (*fn)(void *), void *arg, const char *logpath);

/* The user's temporary directory (GetTempPathW(), with its final '\'),
 * and the directory of this exe (without), into buf.  0 or -errno. */
int	win_temp_dir(char *buf, size_t len) __attribute__((warn_unused_result));
int	win_exe_dir(char *buf, size_t len) __attribute__((warn_unused_result));

/*
 * Make dir (under %TEMP%) a directory only the current user may use: a
 * new one gets a protected DACL granting that user alone; an existing
 * one must be a real directory (no link) whose DACL grants nothing to
 * Everyone, Users, Authenticated Users or anonymous logons.  0, -EPERM
 * when it is not private, or -errno.
 */
int	win_private_dir(const char *dir) __attribute__((warn_unused_result));

#endif
