/*
 * watchdog_linux.c - is Sysmon running?  The Linux part of the watchdog
 * (watchdog.c keeps the states; watchdog_win.c asks the Service Control
 * Manager on Windows): systemd over D-Bus, then /proc.
 */
#include "health.h"
#include "base.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

/*
 * libsystemd is not linked: the watchdog loads it when it first asks
 * systemd (dynlib.c), so that an agent that never does maps none of it.
 * The functions used are called through bus_api, each name below made
 * to mean its pointer so that the calls read as the library's own.
 */
#define BUS_FUNCS(X)							\
	X(sd_bus_call_method) X(sd_bus_error_free)			\
	X(sd_bus_flush_close_unref) X(sd_bus_get_property_string)	\
	X(sd_bus_message_read) X(sd_bus_message_unref)			\
	X(sd_bus_open_system) X(sd_bus_set_method_call_timeout)

static struct bus_api {
#define X(f)	__typeof__(f) *f;
	BUS_FUNCS(X)
#undef X
} bus_api;

static const struct dynlib_sym bus_syms[] = {
#define X(f)	{ #f, offsetof(struct bus_api, f) },
	BUS_FUNCS(X)
#undef X
};

static struct dynlib libsystemd = {
	.soname = "libsystemd.so.0",
	.package = "libsystemd0",
	.syms = bus_syms,
	.nsyms = sizeof(bus_syms) / sizeof(bus_syms[0]),
	.tab = &bus_api,
};

#define sd_bus_call_method		bus_api.sd_bus_call_method
#define sd_bus_error_free		bus_api.sd_bus_error_free
#define sd_bus_flush_close_unref	bus_api.sd_bus_flush_close_unref
#define sd_bus_get_property_string	bus_api.sd_bus_get_property_string
#define sd_bus_message_read		bus_api.sd_bus_message_read
#define sd_bus_message_unref		bus_api.sd_bus_message_unref
#define sd_bus_open_system		bus_api.sd_bus_open_system
#define sd_bus_set_method_call_timeout	bus_api.sd_bus_set_method_call_timeout

/* Is a live process called name running?  -1 when /proc cannot be read. */
static int
proc_running(const char *name)
{
	char path[300], buf[512], want[16];
	DIR *d;
	struct dirent *de;
	int found = 0;

	/* The kernel keeps 15 bytes of a process name. */
	snprintf(want, sizeof(want), "%.15s", name);
	if ((d = opendir("/proc")) == NULL)
		return -1;
	while (!found && (de = readdir(d)) != NULL) {
		char *lp, *rp;
		ssize_t n;
		int fd;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%.255s/stat", de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* "PID (COMM) S ...": COMM may hold spaces and parentheses. */
		if ((lp = strchr(buf, '(')) == NULL ||
		    (rp = strrchr(buf, ')')) == NULL || rp < lp)
			continue;
		*rp = '\0';
		if (strcmp(lp + 1, want) != 0)
			continue;
		if (rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
			continue;	/* a zombie is not running */
		found = 1;
	}
	closedir(d);
	return found;
}

/* Ask systemd.  The state, or SYSMON_UNKNOWN when it cannot tell. */
static enum sysmon_state
systemd_state(struct watchdog_linux *w, const char *unit, bool *known)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *path;
	char *load = NULL, *active = NULL;
	enum sysmon_state st = SYSMON_UNKNOWN;
	int rc;

	*known = false;
	if (w->bus == NULL) {
		char why[512];

		if (dynlib_load(&libsystemd, why, sizeof(why)) != 0) {
			if (!w->bus_failed_logged)
				log_warnx("watchdog: asking systemd needs %s; "
				    "looking at /proc instead", why);
			w->bus_failed_logged = true;
			return SYSMON_UNKNOWN;
		}
		if ((rc = sd_bus_open_system(&w->bus)) < 0) {
			if (!w->bus_failed_logged)
				log_warnx("watchdog: cannot reach systemd over "
				    "D-Bus (%s): looking at /proc instead",
				    strerror(-rc));
			w->bus_failed_logged = true;
			w->bus = NULL;
			return SYSMON_UNKNOWN;
		}
		/* Never stall the event loop for long. */
		(void)sd_bus_set_method_call_timeout(w->bus, 2000000);
	}
	rc = sd_bus_call_method(w->bus, "org.freedesktop.systemd1",
	    "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
	    "LoadUnit", &err, &reply, "s", unit);
	if (rc < 0 || sd_bus_message_read(reply, "o", &path) < 0) {
		if (!w->bus_failed_logged)
			log_warnx("watchdog: systemd did not answer about %s "
			    "(%s): looking at /proc instead", unit,
			    err.message != NULL ? err.message : strerror(-rc));
		w->bus_failed_logged = true;
		sd_bus_error_free(&err);
		sd_bus_message_unref(reply);
		/* A broken connection is opened again next time. */
		w->bus = sd_bus_flush_close_unref(w->bus);
		return SYSMON_UNKNOWN;
	}
	if (sd_bus_get_property_string(w->bus, "org.freedesktop.systemd1",
	    path, "org.freedesktop.systemd1.Unit", "LoadState", &err,
	    &load) >= 0 && sd_bus_get_property_string(w->bus,
	    "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit",
	    "ActiveState", &err, &active) >= 0) {
		*known = true;
		if (strcmp(load, "not-found") == 0)
			st = SYSMON_NOT_INSTALLED;
		else if (strcmp(active, "active") == 0 ||
		    strcmp(active, "activating") == 0 ||
		    strcmp(active, "reloading") == 0)
			st = SYSMON_RUNNING;
		else
			st = SYSMON_STOPPED;
	}
	free(load);
	free(active);
	sd_bus_error_free(&err);
	sd_bus_message_unref(reply);
	return st;
}

enum sysmon_state
watchdog_linux_probe(struct watchdog_linux *w, const char *service,
    const char *unit, bool seen_running)
{
	struct stat sb;
	enum sysmon_state st = SYSMON_UNKNOWN;
	bool known = false;
	int pr;

	if (stat("/run/systemd/system", &sb) == 0)
		st = systemd_state(w, unit, &known);
	if (known && st != SYSMON_NOT_INSTALLED)
		return st;
	/* No systemd, or a unit it does not know: look for the process. */
	if ((pr = proc_running(service)) < 0)
		return known ? st : SYSMON_UNKNOWN;
	if (pr > 0)
		return SYSMON_RUNNING;
	if (known)
		return st;	/* not installed, as systemd says */
	return seen_running ? SYSMON_STOPPED : SYSMON_NOT_INSTALLED;
}

void
watchdog_linux_close(struct watchdog_linux *w)
{
	if (w->bus != NULL)
		sd_bus_flush_close_unref(w->bus);
	w->bus = NULL;
}
