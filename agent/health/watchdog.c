/*
 * watchdog.c - is Sysmon running?
 *
 * Attackers stop Sysmon before they act; the agent says so at once.  Every
 * check_interval the watchdog asks, on Linux:
 *   - systemd, over D-Bus (sd-bus), when it is the init system: the unit
 *     sysmon_service (".service" added when it has no suffix) is running
 *     when its ActiveState is active, activating or reloading, stopped
 *     when it is inactive, failed or deactivating, and not installed when
 *     systemd does not know it (LoadState not-found);
 *   - else, and when systemd does not know the unit, /proc: a live (not
 *     zombie) process whose name is sysmon_service means running.  None
 *     means stopped when Sysmon was seen running before (in this run or,
 *     as the state file says, an earlier one), else not installed.
 * The Windows Service Control Manager part belongs to the Windows build.
 *
 * The last state is kept in state_dir/watchdog.state, so that a change
 * that happened while the agent was down (Sysmon stopped, then the agent
 * restarted) is still reported as a change.
 */
#include "health.h"
#include "base.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef _WIN32
#else
#include <systemd/sd-bus.h>
#endif

struct watchdog {
	char			 service[256];	/* as configured */
	char			 unit[272];	/* "NAME.service" */
	char			*state_path;
	int64_t			 interval_ms;
	int64_t			 next_ms;	/* monotonic */
	enum sysmon_state	 state;
	int64_t			 since_ms;	/* wall clock */
	bool			 checked;	/* at least once */
	bool			 seen_running;	/* ever, as far as we know */
	bool			 bus_failed_logged;
	sd_bus			*bus;
};

const char *
sysmon_state_name(enum sysmon_state s)
{
	switch (s) {
	case SYSMON_RUNNING:
		return "running";
	case SYSMON_STOPPED:
		return "stopped";
	case SYSMON_NOT_INSTALLED:
		return "not_installed";
	default:
		return "unknown";
	}
}

static enum sysmon_state
state_from_name(const char *s)
{
	if (strcmp(s, "running") == 0)
		return SYSMON_RUNNING;
	if (strcmp(s, "stopped") == 0)
		return SYSMON_STOPPED;
	if (strcmp(s, "not_installed") == 0)
		return SYSMON_NOT_INSTALLED;
	return SYSMON_UNKNOWN;
}

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
systemd_state(struct watchdog *w, bool *known)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *path;
	char *load = NULL, *active = NULL;
	enum sysmon_state st = SYSMON_UNKNOWN;
	int rc;

	*known = false;
	if (w->bus == NULL) {
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
	    "LoadUnit", &err, &reply, "s", w->unit);
	if (rc < 0 || sd_bus_message_read(reply, "o", &path) < 0) {
		if (!w->bus_failed_logged)
			log_warnx("watchdog: systemd did not answer about %s "
			    "(%s): looking at /proc instead", w->unit,
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

static enum sysmon_state
probe(struct watchdog *w)
{
#ifdef _WIN32
	return watchdog_win_probe(w->service);
#endif
	struct stat sb;
	enum sysmon_state st = SYSMON_UNKNOWN;
	bool known = false;
	int pr;

	if (stat("/run/systemd/system", &sb) == 0)
		st = systemd_state(w, &known);
	if (known && st != SYSMON_NOT_INSTALLED)
		return st;
	/* No systemd, or a unit it does not know: look for the process. */
	if ((pr = proc_running(w->service)) < 0)
		return known ? st : SYSMON_UNKNOWN;
	if (pr > 0)
		return SYSMON_RUNNING;
	if (known)
		return st;	/* not installed, as systemd says */
	return w->seen_running ? SYSMON_STOPPED : SYSMON_NOT_INSTALLED;
}

static void
save_state(struct watchdog *w)
{
	char buf[160];
	int n, rc;

	n = snprintf(buf, sizeof(buf), "%s %" PRId64 " %d\n",
	    sysmon_state_name(w->state), w->since_ms, w->seen_running ? 1 : 0);
	if ((rc = file_write_atomic(w->state_path, buf, (size_t)n, 0640,
	    true)) != 0)
		log_warnx("watchdog: cannot save %s: %s", w->state_path,
		    strerror(-rc));
}

static void
load_state(struct watchdog *w)
{
	char name[32];
	long long since;
	int seen;
	FILE *f;

	if ((f = fopen(w->state_path, "r")) == NULL)
		return;
	if (fscanf(f, "%31s %lld %d", name, &since, &seen) == 3) {
		w->state = state_from_name(name);
		w->since_ms = since;
		w->seen_running = seen != 0;
	}
	fclose(f);
}

int
watchdog_open(const struct config_watchdog *cfg, const char *state_dir,
    struct watchdog **out)
{
	struct watchdog *w;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	snprintf(w->service, sizeof(w->service), "%s", cfg->sysmon_service);
	snprintf(w->unit, sizeof(w->unit), "%s%s", cfg->sysmon_service,
	    strchr(cfg->sysmon_service, '.') != NULL ? "" : ".service");
	w->interval_ms = (int64_t)cfg->check_interval_ms;
	if (asprintf(&w->state_path, "%s/watchdog.state", state_dir) < 0) {
		free(w);
		return -ENOMEM;
	}
	load_state(w);
	*out = w;
	return 0;
}

void
watchdog_close(struct watchdog *w)
{
	if (w == NULL)
		return;
	if (w->bus != NULL)
		sd_bus_flush_close_unref(w->bus);
	free(w->state_path);
	free(w);
}

bool
watchdog_check(struct watchdog *w, int64_t now_mono, int64_t now_wall,
    enum sysmon_state *prev)
{
	enum sysmon_state st;
	bool first = !w->checked;

	if (w->checked && now_mono < w->next_ms)
		return false;
	w->next_ms = now_mono + w->interval_ms;
	w->checked = true;
	st = probe(w);
	if (st == SYSMON_RUNNING)
		w->seen_running = true;
	*prev = w->state;
	if (st == w->state) {
		if (first)
			log_info("watchdog: Sysmon (%s) is %s", w->service,
			    sysmon_state_name(st));
		return false;
	}
	/* The first look after a start with no saved state is not a
	 * change, unless Sysmon is missing: that is worth saying. */
	w->state = st;
	w->since_ms = now_wall;
	save_state(w);
	if (first && *prev == SYSMON_UNKNOWN) {
		log_info("watchdog: Sysmon (%s) is %s", w->service,
		    sysmon_state_name(st));
		return st == SYSMON_STOPPED || st == SYSMON_NOT_INSTALLED;
	}
	log_warnx("watchdog: Sysmon (%s) is %s (it was %s)", w->service,
	    sysmon_state_name(st), sysmon_state_name(*prev));
	return true;
}

enum sysmon_state
watchdog_state(const struct watchdog *w)
{
	return w->state;
}

int64_t
watchdog_since_ms(const struct watchdog *w)
{
	return w->since_ms;
}

int64_t
watchdog_next(const struct watchdog *w)
{
	return w->next_ms;
}

const char *
watchdog_service(const struct watchdog *w)
{
	return w->service;
}
