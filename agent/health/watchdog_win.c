/*
 * watchdog_win.c - is Sysmon running?  The Windows part of the watchdog
 * (watchdog.c asks systemd and /proc on Linux): the Service Control
 * Manager knows.
 *
 * Sysmon installs a service named after its executable: Sysmon64
 * (Sysmon64.exe) or Sysmon (Sysmon.exe), or whatever the binary was
 * renamed to, plus its driver SysmonDrv.  With the default sysmon_service
 * ("sysmon", the Linux process name) both stock names are asked, Sysmon64
 * first; a configured name is asked alone.  Service names are not case
 * sensitive.
 *
 * Only SERVICE_QUERY_STATUS is asked for, which every authenticated user
 * holds on ordinary services, so the agent needs no extra rights.
 *
 * Links with advapi32.
 */
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include <windows.h>

#include "health.h"
#include "base.h"

#include <stdlib.h>
#include <string.h>

/* What the SCM says of one service. */
static enum sysmon_state
probe_one(SC_HANDLE scm, const char *name)
{
	SERVICE_STATUS_PROCESS ssp;
	SC_HANDLE svc;
	wchar_t wname[257];
	DWORD need = 0;
	enum sysmon_state st;

	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, name, -1, wname,
	    (int)(sizeof(wname) / sizeof(wname[0]))) <= 0)
		return SYSMON_UNKNOWN;
	if ((svc = OpenServiceW(scm, wname, SERVICE_QUERY_STATUS)) == NULL) {
		DWORD e = GetLastError();
		if (e == ERROR_SERVICE_DOES_NOT_EXIST)
			return SYSMON_NOT_INSTALLED;
		log_debug("watchdog: OpenService %s: Windows error %lu", name,
		    (unsigned long)e);
		return SYSMON_UNKNOWN;
	}
	if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (LPBYTE)&ssp,
	    sizeof(ssp), &need)) {
		log_debug("watchdog: QueryServiceStatusEx %s: Windows error "
		    "%lu", name, (unsigned long)GetLastError());
		CloseServiceHandle(svc);
		return SYSMON_UNKNOWN;
	}
	CloseServiceHandle(svc);
	switch (ssp.dwCurrentState) {
	case SERVICE_RUNNING:
	case SERVICE_START_PENDING:
	case SERVICE_CONTINUE_PENDING:
		st = SYSMON_RUNNING;
		break;
	case SERVICE_STOPPED:
	case SERVICE_STOP_PENDING:
	case SERVICE_PAUSED:
	case SERVICE_PAUSE_PENDING:
		st = SYSMON_STOPPED;
		break;
	default:
		st = SYSMON_UNKNOWN;
		break;
	}
	return st;
}

/* Is name the default, which means the stock service names? */
static bool
default_name(const char *name)
{
	return name == NULL || name[0] == '\0' ||
	    _stricmp(name, "sysmon") == 0;
}

enum sysmon_state
watchdog_win_probe(const char *service)
{
	static const char *stock[] = { "Sysmon64", "Sysmon" };
	enum sysmon_state st = SYSMON_NOT_INSTALLED;
	SC_HANDLE scm;

	if ((scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT)) == NULL) {
		log_debug("watchdog: OpenSCManager: Windows error %lu",
		    (unsigned long)GetLastError());
		return SYSMON_UNKNOWN;
	}
	if (!default_name(service)) {
		st = probe_one(scm, service);
	} else {
		for (size_t i = 0; i < sizeof(stock) / sizeof(stock[0]); i++) {
			st = probe_one(scm, stock[i]);
			if (st != SYSMON_NOT_INSTALLED)
				break;
		}
	}
	CloseServiceHandle(scm);
	return st;
}
