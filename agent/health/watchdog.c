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
 * Those two questions are watchdog_linux.c's; on Windows the Service
 * Control Manager answers (watchdog_win.c).  This file keeps the states.
 *
 * The last state is kept in state_dir/watchdog.state, so that a change
 * that happened while the agent was down (Sysmon stopped, then the agent
 * restarted) is still reported as a change.
 */
#include "health.h"
#include "base.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#ifndef _WIN32
	struct watchdog_linux	 sys;	/* the systemd connection */
#endif
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

static enum sysmon_state
probe(struct watchdog *w)
{
#ifdef _WIN32
	return watchdog_win_probe(w->service);
#else
	return watchdog_linux_probe(&w->sys, w->service, w->unit,
	    w->seen_running);
#endif
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
#ifndef _WIN32
	watchdog_linux_close(&w->sys);
#endif
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
