/*
 * service_win.c - sysmonfwd.exe as a Windows service (service.h).
 *
 * Installation.  The service runs as LocalSystem, the one built-in
 * account that may read Sysmon's channel (its ACL grants SYSTEM and
 * Administrators), with its token's privileges cut to
 * SeChangeNotifyPrivilege (SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO): the
 * agent reads a channel and writes its own directory, and needs no
 * backup, debug or impersonation rights.  Its data lives in
 * %ProgramData%\sysmonfwd (the configuration, state\, log\), whose
 * protected DACL grants SYSTEM and Administrators alone, because the
 * configuration may hold an output's secret.  Start is automatic and
 * delayed, so that the Event Log service and the network come first, and
 * the SCM restarts it after a failure (10 s, 30 s, then every 60 s; the
 * count reset after a day), an exit with an error code included.
 *
 * A run.  StartServiceCtrlDispatcherW() takes the main thread; the SCM
 * calls service_main() on a thread of its own, which opens the log file,
 * says START_PENDING and starts the agent on a worker thread.  It then
 * waits for the agent's loop running (evloop_started(): RUNNING) or the
 * worker's end (STOPPED, with its exit code).  A stop or shutdown control
 * comes on the dispatcher's thread: the handler says STOP_PENDING and
 * asks the loop to stop, as SIGTERM does.  The two threads say the state
 * under one lock (set_state()).  While pending, service_main() adds a
 * checkpoint every second, up to a bound: the agent's drain is bounded
 * at 5 s, so a stop that outlives the wait hint and the bound is a hung
 * agent, which the SCM is then free to say.
 *
 * Links with advapi32.
 */
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include "service.h"
#include "evloop.h"
#include "config.h"
#include "base.h"

#include "default_conf_win.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define SERVICE_NAME_W		L"sysmonfwd"
#define SERVICE_DISPLAY_W	L"sysmonfwd (Sysmon forwarder)"
#define SERVICE_DESCRIPTION_W	L"Forwards the records of Sysmon " \
	L"(Microsoft-Windows-Sysmon/Operational) to the SIEM through a disk " \
	L"buffer, and alerts when Sysmon stops.  Configuration, state and " \
	L"log: %ProgramData%\\sysmonfwd."

/* SYSTEM and Administrators, full control, inherited, nobody else. */
#define DATA_SDDL		L"D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

#define START_HINT_MS		10000	/* the ring and the inputs open */
#define STOP_HINT_MS		10000	/* a 5 s drain, positions saved */
#define MAX_START_BUMPS		120	/* checkpoints, one a second */
#define MAX_STOP_BUMPS		30
#define UNINSTALL_WAIT_MS	60000

#define EXIT_RUNTIME	1
#define EXIT_USAGE	2

/* ---- text ---------------------------------------------------------------- */

/* UTF-8 to a new UTF-16 string (free() it); NULL on failure. */
static wchar_t *
wide(const char *s)
{
	wchar_t *w;
	int n;

	if ((n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1,
	    NULL, 0)) <= 0 || (w = malloc((size_t)n * sizeof(*w))) == NULL)
		return NULL;
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w,
	    n) != n) {
		free(w);
		return NULL;
	}
	return w;
}

/* UTF-16 to UTF-8 into buf; 0 or -ENAMETOOLONG. */
static int
narrow(const wchar_t *w, char *buf, size_t len)
{
	if (len > INT32_MAX || WideCharToMultiByte(CP_UTF8, 0, w, -1, buf,
	    (int)len, NULL, NULL) <= 0)
		return -ENAMETOOLONG;
	return 0;
}

/* What Windows says of error e, on one line, into buf. */
static const char *
win_strerror(DWORD e, char *buf, size_t len)
{
	wchar_t w[256];
	size_t n;

	if (FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
	    FORMAT_MESSAGE_IGNORE_INSERTS, NULL, e, 0, w,
	    (DWORD)(sizeof(w) / sizeof(w[0])), NULL) == 0 ||
	    narrow(w, buf, len) != 0)
		snprintf(buf, len, "Windows error %lu", (unsigned long)e);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == '\n' ||
	    buf[n - 1] == ' ' || buf[n - 1] == '.'))
		buf[--n] = '\0';
	return buf;
}

#define WERR(e, b)	win_strerror((e), (b), sizeof(b))

/* ---- places -------------------------------------------------------------- */

/*
 * Where ProgramData is, as Windows defines it for every process: the
 * registry's ProfileList (a REG_EXPAND_SZ on Windows, expanded by
 * RegGetValueW() when RRF_RT_REG_SZ alone is asked).  The environment
 * variable comes from there on Windows; under Wine 8, services.exe hands
 * its services ProgramData=C:\users\Public, so the registry is asked
 * first.
 */
static bool
programdata(wchar_t *buf, DWORD n)
{
	DWORD size = n * sizeof(*buf), got;

	if (RegGetValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Microsoft\\Windows NT"
	    L"\\CurrentVersion\\ProfileList", L"ProgramData",
	    RRF_RT_REG_SZ, NULL, buf, &size) == ERROR_SUCCESS &&
	    buf[0] != L'\0')
		return true;
	/* The known folder API would bring shell32 and ole32 into a static
	 * exe for this. */
	got = GetEnvironmentVariableW(L"ProgramData", buf, n);
	return got > 0 && got < n;
}

int
service_data_path(const char *name, char *buf, size_t len)
{
	wchar_t pd[MAX_PATH];
	char base[MAX_PATH * 3];

	if (!programdata(pd, (DWORD)(sizeof(pd) / sizeof(pd[0]))))
		wcscpy(pd, L"C:\\ProgramData");
	if (narrow(pd, base, sizeof(base)) != 0)
		return -ENAMETOOLONG;
	if (snprintf(buf, len, "%s\\sysmonfwd%s%s", base, name != NULL ?
	    "\\" : "", name != NULL ? name : "") >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * ${ProgramData} in the configuration (the default one has it) must name
 * the directory --install-service made: when the service's environment
 * says otherwise (Wine), it is set from the registry, and said.
 */
static void
programdata_env(void)
{
	wchar_t reg[MAX_PATH], env[MAX_PATH];
	char r8[MAX_PATH * 3], e8[MAX_PATH * 3];
	DWORD n;

	if (RegGetValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Microsoft\\Windows NT"
	    L"\\CurrentVersion\\ProfileList", L"ProgramData",
	    RRF_RT_REG_SZ, NULL, reg, &(DWORD){ sizeof(reg) }) !=
	    ERROR_SUCCESS || reg[0] == L'\0')
		return;
	n = GetEnvironmentVariableW(L"ProgramData", env,
	    (DWORD)(sizeof(env) / sizeof(env[0])));
	if (n > 0 && n < sizeof(env) / sizeof(env[0]) &&
	    _wcsicmp(env, reg) == 0)
		return;
	if (n == 0 || n >= sizeof(env) / sizeof(env[0]))
		wcscpy(env, L"(not set)");
	if (narrow(reg, r8, sizeof(r8)) != 0 || narrow(env, e8,
	    sizeof(e8)) != 0)
		return;
	/* _wputenv_s() sets the C runtime's copy, which getenv() reads,
	 * and the process's. */
	if (_wputenv_s(L"ProgramData", reg) == 0)
		log_info("service: ProgramData is %s (the registry's), not "
		    "%s as the service's environment said", r8, e8);
}

int
win_temp_dir(char *buf, size_t len)
{
	wchar_t w[MAX_PATH + 1];
	DWORD n;

	n = GetTempPathW((DWORD)(sizeof(w) / sizeof(w[0])), w);
	if (n == 0 || n >= sizeof(w) / sizeof(w[0]))
		return -ENOENT;
	return narrow(w, buf, len);
}

int
win_exe_dir(char *buf, size_t len)
{
	wchar_t w[MAX_PATH * 2], *slash;
	DWORD n;

	n = GetModuleFileNameW(NULL, w, (DWORD)(sizeof(w) / sizeof(w[0])));
	if (n == 0 || n >= sizeof(w) / sizeof(w[0]) ||
	    (slash = wcsrchr(w, L'\\')) == NULL)
		return -ENOENT;
	*slash = L'\0';
	return narrow(w, buf, len);
}

/* ---- ACLs ---------------------------------------------------------------- */

/* The caller is a member of Administrators (and elevated). */
static bool
is_admin(void)
{
	SID_IDENTIFIER_AUTHORITY nt = SECURITY_NT_AUTHORITY;
	PSID admins;
	BOOL member = FALSE;

	if (!AllocateAndInitializeSid(&nt, 2, SECURITY_BUILTIN_DOMAIN_RID,
	    DOMAIN_ALIAS_RID_ADMINS, 0, 0, 0, 0, 0, 0, &admins))
		return false;
	if (!CheckTokenMembership(NULL, admins, &member))
		member = FALSE;
	FreeSid(admins);
	return member != FALSE;
}

/*
 * Does the DACL let anybody at large in: a NULL DACL (everyone, full
 * control) or an allow ACE for Everyone, Users, Authenticated Users,
 * Interactive or Anonymous?  True when it cannot tell, too.
 */
static bool
dacl_open(PACL dacl)
{
	static const WELL_KNOWN_SID_TYPE others[] = { WinWorldSid,
	    WinBuiltinUsersSid, WinAuthenticatedUserSid, WinInteractiveSid,
	    WinAnonymousSid };
	ACL_SIZE_INFORMATION info;

	if (dacl == NULL || !GetAclInformation(dacl, &info, sizeof(info),
	    AclSizeInformation))
		return true;
	for (DWORD i = 0; i < info.AceCount; i++) {
		ACCESS_ALLOWED_ACE *ace;

		if (!GetAce(dacl, i, (void **)&ace))
			return true;
		if (ace->Header.AceType != ACCESS_ALLOWED_ACE_TYPE)
			continue;
		for (size_t k = 0; k < sizeof(others) / sizeof(others[0]); k++)
			if (IsWellKnownSid((PSID)&ace->SidStart, others[k]))
				return true;
	}
	return false;
}

/*
 * Give path the protected DACL of sddl.  0 or the Windows error.
 * SetNamedSecurityInfoW() is the call that also carries the change to
 * what the directory already holds (inheritance).  Wine 8 returns
 * success from it without changing a file's DACL, so when the DACL read
 * back still lets others in, SetFileSecurityW() (which Wine maps onto
 * the mode bits) is tried too; acl_read() then says what holds.
 */
static DWORD
acl_apply(const wchar_t *path, const wchar_t *sddl)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	BOOL present = FALSE, dflt = FALSE;
	PACL dacl = NULL, now = NULL;
	PSECURITY_DESCRIPTOR cur = NULL;
	DWORD e;

	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, &sd, NULL))
		return GetLastError();
	if (!GetSecurityDescriptorDacl(sd, &present, &dacl, &dflt) ||
	    !present) {
		LocalFree(sd);
		return ERROR_INVALID_SECURITY_DESCR;
	}
	/* Protected: nothing inherited from ProgramData's "Users may
	 * read"; applied to what the directory already holds too. */
	e = SetNamedSecurityInfoW((wchar_t *)path, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
	    NULL, NULL, dacl, NULL);
	if (e == 0 && GetNamedSecurityInfoW(path, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION, NULL, NULL, &now, NULL, &cur) == 0 &&
	    dacl_open(now) && !SetFileSecurityW(path,
	    DACL_SECURITY_INFORMATION, sd))
		e = GetLastError();
	if (cur != NULL)
		LocalFree(cur);
	LocalFree(sd);
	return e;
}

/* The DACL of path as SDDL into buf, and whether others may get in. */
static DWORD
acl_read(const wchar_t *path, char *buf, size_t len, bool *open)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PACL dacl = NULL;
	wchar_t *text = NULL;
	DWORD e;

	*open = true;
	if ((e = GetNamedSecurityInfoW(path, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL, &sd)) != 0)
		return e;
	*open = dacl_open(dacl);
	if (ConvertSecurityDescriptorToStringSecurityDescriptorW(sd,
	    SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &text, NULL)) {
		if (narrow(text, buf, len) != 0)
			snprintf(buf, len, "?");
		LocalFree(text);
	} else {
		snprintf(buf, len, "?");
	}
	LocalFree(sd);
	return 0;
}

int
win_private_dir(const char *dir)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, FALSE };
	TOKEN_USER *tu = NULL;
	wchar_t *wdir, *sid = NULL, sddl[256];
	HANDLE tok = NULL;
	DWORD need = 0, attr;
	char acl[512];
	bool open;
	int rc = -EIO;

	if ((wdir = wide(dir)) == NULL)
		return -EINVAL;
	/* The current user's SID, for "D:P(A;OICI;FA;;;SID)". */
	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
		goto out;
	(void)GetTokenInformation(tok, TokenUser, NULL, 0, &need);
	if (need == 0 || (tu = malloc(need)) == NULL ||
	    !GetTokenInformation(tok, TokenUser, tu, need, &need) ||
	    !ConvertSidToStringSidW(tu->User.Sid, &sid))
		goto out;
	if (_snwprintf(sddl, sizeof(sddl) / sizeof(sddl[0]),
	    L"D:P(A;OICI;FA;;;%ls)", sid) < 0 ||
	    !ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, &sd, NULL))
		goto out;
	sa.lpSecurityDescriptor = sd;
	if (CreateDirectoryW(wdir, &sa)) {
		rc = 0;
		goto out;
	}
	if (GetLastError() != ERROR_ALREADY_EXISTS)
		goto out;
	/* There already: ours only if a real directory nobody else uses. */
	attr = GetFileAttributesW(wdir);
	rc = -EPERM;
	if (attr == INVALID_FILE_ATTRIBUTES ||
	    !(attr & FILE_ATTRIBUTE_DIRECTORY) ||
	    (attr & FILE_ATTRIBUTE_REPARSE_POINT))
		goto out;
	if (acl_read(wdir, acl, sizeof(acl), &open) == 0 && !open)
		rc = 0;
	else
		log_debug("%s: DACL %s", dir, acl);
out:
	if (rc == -EIO)
		log_debug("%s: Windows error %lu", dir,
		    (unsigned long)GetLastError());
	if (sd != NULL)
		LocalFree(sd);
	if (sid != NULL)
		LocalFree(sid);
	free(tu);
	if (tok != NULL)
		CloseHandle(tok);
	free(wdir);
	return rc;
}

/* ---- installation -------------------------------------------------------- */

/* Make dir (one level) and give it the data DACL; say so. */
static int
data_dir(const char *dir)
{
	wchar_t *w = wide(dir);
	char eb[256];
	DWORD e;

	if (w == NULL)
		return -EINVAL;
	if (!CreateDirectoryW(w, NULL) &&
	    (e = GetLastError()) != ERROR_ALREADY_EXISTS) {
		log_errorx("cannot create %s: %s", dir, WERR(e, eb));
		free(w);
		return -EIO;
	}
	if ((e = acl_apply(w, DATA_SDDL)) != 0) {
		log_errorx("cannot set the ACL of %s: %s", dir, WERR(e, eb));
		free(w);
		return -EIO;
	}
	free(w);
	return 0;
}

/*
 * The directories, the ACLs, the configuration; cfg gets the path the
 * service will read.  0 or the exit code.
 */
static int
install_data(const char *cfgpath, char *cfg, size_t cfglen)
{
	static const char *subs[] = { "state", "log" };
	char top[MAX_PATH * 3], sub[MAX_PATH * 3 + 16], acl[512], eb[256];
	wchar_t *w;
	bool open;
	DWORD e;
	int rc;

	if (service_data_path(NULL, top, sizeof(top)) != 0 ||
	    data_dir(top) != 0)
		return EXIT_RUNTIME;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (service_data_path(subs[i], sub, sizeof(sub)) != 0 ||
		    data_dir(sub) != 0)
			return EXIT_RUNTIME;
	}
	if (cfgpath == NULL) {
		if (service_data_path("sysmonfwd.conf", cfg, cfglen) != 0 ||
		    (w = wide(cfg)) == NULL)
			return EXIT_RUNTIME;
		e = GetFileAttributesW(w);
		free(w);
		if (e != INVALID_FILE_ATTRIBUTES) {
			printf("configuration: kept the existing %s\n", cfg);
		} else if ((rc = file_write_atomic(cfg, default_conf_win,
		    strlen(default_conf_win), 0600, true)) != 0) {
			log_errorx("cannot write %s: %s", cfg, strerror(-rc));
			return EXIT_RUNTIME;
		} else {
			printf("configuration: wrote the default %s (reads "
			    "Microsoft-Windows-Sysmon/Operational; add a SIEM "
			    "output there)\n", cfg);
		}
		/* It may hold a secret: the directory's DACL, whatever it
		 * had before. */
		if ((w = wide(cfg)) == NULL)
			return EXIT_RUNTIME;
		e = acl_apply(w, DATA_SDDL);
		free(w);
		if (e != 0) {
			log_errorx("cannot set the ACL of %s: %s", cfg,
			    WERR(e, eb));
			return EXIT_RUNTIME;
		}
	} else {
		wchar_t full[MAX_PATH * 2], *wc = wide(cfgpath);
		DWORD n = 0;

		if (wc != NULL)
			n = GetFullPathNameW(wc, (DWORD)(sizeof(full) /
			    sizeof(full[0])), full, NULL);
		free(wc);
		if (n == 0 || n >= sizeof(full) / sizeof(full[0]) ||
		    narrow(full, cfg, cfglen) != 0) {
			log_errorx("%s: not a usable path", cfgpath);
			return EXIT_USAGE;
		}
		if (GetFileAttributesW(full) == INVALID_FILE_ATTRIBUTES) {
			log_errorx("%s: no such file", cfg);
			return EXIT_USAGE;
		}
		printf("configuration: %s (as given; not copied)\n", cfg);
	}
	if ((w = wide(top)) == NULL)
		return EXIT_RUNTIME;
	e = acl_read(w, acl, sizeof(acl), &open);
	free(w);
	if (e != 0 || open) {
		log_errorx("%s: the ACL did not take (%s): other users may "
		    "read it", top, e != 0 ? WERR(e, eb) : acl);
		return EXIT_RUNTIME;
	}
	printf("data: %s (state\\, log\\), ACL %s: nothing for Everyone, "
	    "Users or Authenticated Users\n", top, acl);
	return 0;
}

/* The configuration must load as the service will load it. */
static int
install_check(const char *cfg)
{
	struct config_diag diag = { 0 };
	struct config *c = NULL;
	int rc;

	rc = config_load_file(cfg, &c, &diag);
	if (rc != 0) {
		for (size_t i = 0; i < diag.n; i++)
			fprintf(stderr, "%s\n", diag.msgs[i]);
		config_diag_free(&diag);
		log_errorx("%s: the configuration has errors; fix them and "
		    "install again", cfg);
		return rc == -ENOMEM ? EXIT_RUNTIME : EXIT_USAGE;
	}
	config_diag_free(&diag);
	config_free(c);
	return 0;
}

/*
 * One ChangeServiceConfig2W() level; what it set, or why not.  A level
 * this system does not know (ERROR_INVALID_LEVEL: Wine, for most) is
 * said and passed over: the service works without it.
 */
static void
config2(SC_HANDLE svc, DWORD level, void *info, const char *what,
    const char *without)
{
	char eb[256];
	DWORD e;

	if (ChangeServiceConfig2W(svc, level, info)) {
		printf("  %s: set\n", what);
		return;
	}
	e = GetLastError();
	printf("  %s: NOT set, this system refused it (%s, error %lu): %s\n",
	    what, WERR(e, eb), (unsigned long)e, without);
}

static void
install_settings(SC_HANDLE svc)
{
	SERVICE_DESCRIPTIONW desc = { (wchar_t *)SERVICE_DESCRIPTION_W };
	SERVICE_DELAYED_AUTO_START_INFO delayed = { TRUE };
	SC_ACTION actions[] = { { SC_ACTION_RESTART, 10000 },
	    { SC_ACTION_RESTART, 30000 }, { SC_ACTION_RESTART, 60000 } };
	SERVICE_FAILURE_ACTIONSW fa = { 86400, NULL, NULL,
	    sizeof(actions) / sizeof(actions[0]), actions };
	SERVICE_FAILURE_ACTIONS_FLAG faf = { TRUE };
	/* Two NULs end the list. */
	static wchar_t privs[] = SE_CHANGE_NOTIFY_NAME L"\0";
	SERVICE_REQUIRED_PRIVILEGES_INFOW rp = { privs };
	SERVICE_SID_INFO sid = { SERVICE_SID_TYPE_UNRESTRICTED };

	config2(svc, SERVICE_CONFIG_DESCRIPTION, &desc, "description",
	    "the service has none");
	config2(svc, SERVICE_CONFIG_DELAYED_AUTO_START_INFO, &delayed,
	    "delayed automatic start", "it starts with the other "
	    "automatic services");
	config2(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa,
	    "restart on failure (10 s, 30 s, then every 60 s; reset after "
	    "a day)", "a failed service stays stopped");
	config2(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &faf,
	    "restart after an exit with an error code too",
	    "only a crash restarts it");
	config2(svc, SERVICE_CONFIG_SERVICE_SID_INFO, &sid,
	    "service SID (NT SERVICE\\sysmonfwd)", "no per-service SID");
	config2(svc, SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO, &rp,
	    "privileges cut to SeChangeNotifyPrivilege",
	    "it keeps every privilege of LocalSystem");
}

/* The installed service's command line is cmd: exit 0; else say. */
static int
install_exists(SC_HANDLE scm, const wchar_t *cmd)
{
	QUERY_SERVICE_CONFIGW *qc = NULL;
	SC_HANDLE svc;
	DWORD need = 0;
	char have[MAX_PATH * 6], eb[256];
	int code = EXIT_RUNTIME;

	if ((svc = OpenServiceW(scm, SERVICE_NAME_W, SERVICE_QUERY_CONFIG)) ==
	    NULL) {
		log_errorx("the service " SERVICE_NAME " exists but cannot be "
		    "read: %s", WERR(GetLastError(), eb));
		return EXIT_RUNTIME;
	}
	(void)QueryServiceConfigW(svc, NULL, 0, &need);
	if (need > 0 && (qc = malloc(need)) != NULL &&
	    QueryServiceConfigW(svc, qc, need, &need)) {
		if (narrow(qc->lpBinaryPathName, have, sizeof(have)) != 0)
			snprintf(have, sizeof(have), "?");
		if (_wcsicmp(qc->lpBinaryPathName, cmd) == 0) {
			printf("the service " SERVICE_NAME " is already "
			    "installed, as asked: %s\n", have);
			code = 0;
		} else {
			log_errorx("the service " SERVICE_NAME " is already "
			    "installed, and runs another command line: %s; "
			    "to change it, run --uninstall-service, then "
			    "--install-service", have);
		}
	} else {
		log_errorx("the service " SERVICE_NAME " exists but its "
		    "configuration cannot be read: %s",
		    WERR(GetLastError(), eb));
	}
	free(qc);
	CloseServiceHandle(svc);
	return code;
}

int
service_install(const char *cfgpath)
{
	wchar_t exe[MAX_PATH * 2], *wcfg = NULL, *cmd = NULL;
	char cfg[MAX_PATH * 6], cmd8[MAX_PATH * 12], eb[256];
	SC_HANDLE scm = NULL, svc = NULL;
	size_t cmdlen;
	DWORD n, e;
	int code;

	if (!is_admin()) {
		log_errorx("--install-service must be run as an administrator "
		    "(from an elevated prompt: Run as administrator)");
		return EXIT_RUNTIME;
	}
	n = GetModuleFileNameW(NULL, exe, (DWORD)(sizeof(exe) /
	    sizeof(exe[0])));
	if (n == 0 || n >= sizeof(exe) / sizeof(exe[0])) {
		log_errorx("cannot tell where this program is");
		return EXIT_RUNTIME;
	}
	if ((code = install_data(cfgpath, cfg, sizeof(cfg))) != 0 ||
	    (code = install_check(cfg)) != 0)
		return code;
	/* Quoted: Program Files has a space.  No path holds a '"'. */
	if (strchr(cfg, '"') != NULL || (wcfg = wide(cfg)) == NULL) {
		log_errorx("%s: not a usable path", cfg);
		return EXIT_USAGE;
	}
	cmdlen = wcslen(exe) + wcslen(wcfg) + 32;
	if ((cmd = malloc(cmdlen * sizeof(*cmd))) == NULL) {
		free(wcfg);
		return EXIT_RUNTIME;
	}
	_snwprintf(cmd, cmdlen, L"\"%ls\" --service -c \"%ls\"", exe, wcfg);
	cmd[cmdlen - 1] = L'\0';
	free(wcfg);
	if (narrow(cmd, cmd8, sizeof(cmd8)) != 0)
		snprintf(cmd8, sizeof(cmd8), "?");

	code = EXIT_RUNTIME;
	if ((scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT |
	    SC_MANAGER_CREATE_SERVICE)) == NULL) {
		e = GetLastError();
		log_errorx("cannot open the Service Control Manager: %s%s",
		    WERR(e, eb), e == ERROR_ACCESS_DENIED ? " (run as an "
		    "administrator)" : "");
		goto out;
	}
	svc = CreateServiceW(scm, SERVICE_NAME_W, SERVICE_DISPLAY_W,
	    SERVICE_CHANGE_CONFIG | SERVICE_QUERY_CONFIG | SERVICE_START,
	    SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
	    cmd, NULL, NULL, NULL, NULL, NULL);
	if (svc == NULL) {
		e = GetLastError();
		if (e == ERROR_SERVICE_EXISTS)
			code = install_exists(scm, cmd);
		else if (e == ERROR_SERVICE_MARKED_FOR_DELETE)
			log_errorx("the service " SERVICE_NAME " is being "
			    "deleted and goes once every program holding it "
			    "(services.msc, Event Viewer) is closed; then "
			    "install again");
		else
			log_errorx("cannot create the service " SERVICE_NAME
			    ": %s", WERR(e, eb));
		goto out;
	}
	printf("installed the service " SERVICE_NAME ": automatic start, "
	    "account LocalSystem, command line %s\n", cmd8);
	install_settings(svc);
	printf("start it now with: sc start " SERVICE_NAME " (it logs to "
	    "%%ProgramData%%\\sysmonfwd\\log\\sysmonfwd.log); the service "
	    "runs this exe where it is: do not move it\n");
	code = 0;
out:
	if (svc != NULL)
		CloseServiceHandle(svc);
	if (scm != NULL)
		CloseServiceHandle(scm);
	free(cmd);
	return code;
}

/* ---- removal ------------------------------------------------------------- */

/* Ask svc to stop and wait until it has, UNINSTALL_WAIT_MS at most. */
static bool
stop_and_wait(SC_HANDLE svc)
{
	SERVICE_STATUS_PROCESS ssp;
	SERVICE_STATUS ss;
	ULONGLONG end = GetTickCount64() + UNINSTALL_WAIT_MS;
	DWORD need, wait;
	char eb[256];

	if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)&ssp,
	    sizeof(ssp), &need))
		return false;
	if (ssp.dwCurrentState == SERVICE_STOPPED)
		return true;
	printf("stopping the service " SERVICE_NAME " (it saves its "
	    "positions first)\n");
	if (ssp.dwCurrentState != SERVICE_STOP_PENDING &&
	    !ControlService(svc, SERVICE_CONTROL_STOP, &ss) &&
	    GetLastError() != ERROR_SERVICE_NOT_ACTIVE) {
		log_errorx("cannot stop the service: %s",
		    WERR(GetLastError(), eb));
		return false;
	}
	/* The SCM has no "stopped" notification short of
	 * NotifyServiceStatusChange; its wait hint paces the look. */
	while (QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO,
	    (BYTE *)&ssp, sizeof(ssp), &need) &&
	    ssp.dwCurrentState != SERVICE_STOPPED) {
		if (GetTickCount64() > end) {
			log_errorx("the service did not stop within %d s",
			    UNINSTALL_WAIT_MS / 1000);
			return false;
		}
		wait = ssp.dwWaitHint / 10;
		Sleep(wait < 100 ? 100 : wait > 1000 ? 1000 : wait);
	}
	printf("stopped (exit code %lu)\n", (unsigned long)
	    (ssp.dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR ?
	    ssp.dwServiceSpecificExitCode : ssp.dwWin32ExitCode));
	return true;
}

int
service_uninstall(void)
{
	SC_HANDLE scm, svc;
	char top[MAX_PATH * 3], eb[256];
	int code = EXIT_RUNTIME;
	DWORD e;

	if (!is_admin()) {
		log_errorx("--uninstall-service must be run as an "
		    "administrator (from an elevated prompt)");
		return EXIT_RUNTIME;
	}
	if ((scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT)) == NULL) {
		log_errorx("cannot open the Service Control Manager: %s",
		    WERR(GetLastError(), eb));
		return EXIT_RUNTIME;
	}
	if ((svc = OpenServiceW(scm, SERVICE_NAME_W, SERVICE_STOP |
	    SERVICE_QUERY_STATUS | DELETE)) == NULL) {
		e = GetLastError();
		if (e == ERROR_SERVICE_DOES_NOT_EXIST) {
			printf("the service " SERVICE_NAME " is not "
			    "installed: nothing to do\n");
			code = 0;
		} else {
			log_errorx("cannot open the service " SERVICE_NAME
			    ": %s", WERR(e, eb));
		}
		CloseServiceHandle(scm);
		return code;
	}
	if (!stop_and_wait(svc)) {
		log_errorx("not removed: stop it first (sc stop " SERVICE_NAME
		    ")");
	} else if (!DeleteService(svc) &&
	    (e = GetLastError()) != ERROR_SERVICE_MARKED_FOR_DELETE) {
		log_errorx("cannot delete the service " SERVICE_NAME ": %s",
		    WERR(e, eb));
	} else {
		if (service_data_path(NULL, top, sizeof(top)) != 0)
			snprintf(top, sizeof(top),
			    "%%ProgramData%%\\sysmonfwd");
		printf("removed the service " SERVICE_NAME "; kept %s (the "
		    "configuration, state and log): delete it to remove "
		    "them too\n", top);
		code = 0;
	}
	CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	return code;
}

/* ---- a run under the SCM ------------------------------------------------- */

static struct {
	int			(*fn)(void *);
	void			 *arg;
	const char		 *logpath;
	SERVICE_STATUS_HANDLE	  status;
	CRITICAL_SECTION	  lock;		/* the three below */
	DWORD			  state;	/* as last said to the SCM */
	DWORD			  checkpoint;
	DWORD			  bumps;	/* checkpoints in this state */
	int			  code;
} svc_run;

static const char *
state_name(DWORD state)
{
	switch (state) {
	case SERVICE_START_PENDING:
		return "START_PENDING";
	case SERVICE_RUNNING:
		return "RUNNING";
	case SERVICE_STOP_PENDING:
		return "STOP_PENDING";
	default:
		return "STOPPED";
	}
}

/*
 * Say state to the SCM, from either thread: a new state, or a pending
 * one again with its checkpoint one on (until the bound: then nothing
 * more is said, and the SCM judges by the wait hint).  RUNNING only
 * comes after START_PENDING: a stop that came first wins.  code: the
 * exit code, with STOPPED.
 */
static void
set_state(DWORD state, int code)
{
	SERVICE_STATUS ss;

	EnterCriticalSection(&svc_run.lock);
	if (state == SERVICE_RUNNING &&
	    svc_run.state != SERVICE_START_PENDING)
		goto out;
	if (state == svc_run.state) {
		if ((state != SERVICE_START_PENDING &&
		    state != SERVICE_STOP_PENDING) || svc_run.bumps >=
		    (state == SERVICE_START_PENDING ? MAX_START_BUMPS :
		    MAX_STOP_BUMPS))
			goto out;
		svc_run.bumps++;
		svc_run.checkpoint++;
	} else {
		svc_run.state = state;
		svc_run.bumps = 0;
		svc_run.checkpoint = state == SERVICE_START_PENDING ||
		    state == SERVICE_STOP_PENDING ? 1 : 0;
		log_info("service: %s", state_name(state));
	}
	memset(&ss, 0, sizeof(ss));
	ss.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	ss.dwCurrentState = state;
	/* A stop while starting is taken too: evloop_request_stop() keeps
	 * it for the loop about to open. */
	ss.dwControlsAccepted = state == SERVICE_START_PENDING ||
	    state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP |
	    SERVICE_ACCEPT_SHUTDOWN : 0;
	if (code != 0) {
		ss.dwWin32ExitCode = ERROR_SERVICE_SPECIFIC_ERROR;
		ss.dwServiceSpecificExitCode = (DWORD)code;
	}
	ss.dwCheckPoint = svc_run.checkpoint;
	ss.dwWaitHint = state == SERVICE_START_PENDING ? START_HINT_MS :
	    state == SERVICE_STOP_PENDING ? STOP_HINT_MS : 0;
	if (!SetServiceStatus(svc_run.status, &ss))
		log_warnx("service: SetServiceStatus(%s): Windows error %lu",
		    state_name(state), (unsigned long)GetLastError());
out:
	LeaveCriticalSection(&svc_run.lock);
}

static DWORD
get_state(void)
{
	DWORD state;

	EnterCriticalSection(&svc_run.lock);
	state = svc_run.state;
	LeaveCriticalSection(&svc_run.lock);
	return state;
}

/*
 * On the dispatcher's thread.  STOP_PENDING is said before the handler
 * returns, so that the answer to the stop (sc stop) already carries the
 * wait hint.
 */
static DWORD WINAPI
on_control(DWORD control, DWORD type, void *data, void *ctx)
{
	(void)type;
	(void)data;
	(void)ctx;
	switch (control) {
	case SERVICE_CONTROL_STOP:
	case SERVICE_CONTROL_SHUTDOWN:
		log_info("service: %s requested: flushing and saving "
		    "positions", control == SERVICE_CONTROL_STOP ? "stop" :
		    "system shutdown: stop");
		set_state(SERVICE_STOP_PENDING, 0);
		evloop_request_stop();
		return NO_ERROR;
	case SERVICE_CONTROL_INTERROGATE:
		return NO_ERROR;
	default:
		return ERROR_CALL_NOT_IMPLEMENTED;
	}
}

static DWORD WINAPI
agent_thread(void *arg)
{
	(void)arg;
	return (DWORD)svc_run.fn(svc_run.arg);
}

/* Open the service's log file (its directory made when missing). */
static void
open_log(void)
{
	char path[MAX_PATH * 3 + 32], dir[MAX_PATH * 3];
	int rc;

	if (svc_run.logpath != NULL)
		snprintf(path, sizeof(path), "%s", svc_run.logpath);
	else if (service_data_path("log", dir, sizeof(dir)) != 0 ||
	    snprintf(path, sizeof(path), "%s\\sysmonfwd.log", dir) >=
	    (int)sizeof(path) || file_mkdirs(dir, 0750) != 0)
		return;
	/* No console and no journal: a failure here has nowhere to go. */
	if ((rc = log_open_file(path, SERVICE_LOG_MAX, SERVICE_LOG_KEEP)) != 0)
		return;
}

static void WINAPI
service_main(DWORD argc, wchar_t **argv)
{
	HANDLE worker, w[2];
	DWORD n = 2, r, state, code = EXIT_RUNTIME;

	(void)argc;
	(void)argv;
	if ((svc_run.status = RegisterServiceCtrlHandlerExW(SERVICE_NAME_W,
	    on_control, NULL)) == NULL)
		return;
	open_log();
	log_info("service: sysmonfwd %s, process %lu", SYSMONFWD_VERSION,
	    (unsigned long)GetCurrentProcessId());
	set_state(SERVICE_START_PENDING, 0);
	programdata_env();
	evloop_as_service();
	if ((w[1] = evloop_running_event()) == NULL ||
	    (worker = CreateThread(NULL, 0, agent_thread, NULL, 0, NULL)) ==
	    NULL) {
		log_errorx("service: cannot start: Windows error %lu",
		    (unsigned long)GetLastError());
		set_state(SERVICE_STOPPED, EXIT_RUNTIME);
		return;
	}
	w[0] = worker;
	for (;;) {
		r = WaitForMultipleObjects(n, w, FALSE, 1000);
		if (r == WAIT_OBJECT_0 || r == WAIT_FAILED)
			break;
		if (r == WAIT_OBJECT_0 + 1) {
			/* The loop runs (the event stays set). */
			set_state(SERVICE_RUNNING, 0);
			n = 1;
		} else if ((state = get_state()) == SERVICE_START_PENDING ||
		    state == SERVICE_STOP_PENDING) {
			/* Still at it: the agent's thread is alive. */
			set_state(state, 0);
		}
	}
	WaitForSingleObject(worker, INFINITE);
	if (!GetExitCodeThread(worker, &code))
		code = EXIT_RUNTIME;
	CloseHandle(worker);
	svc_run.code = (int)code;
	log_info("service: the agent ended, exit code %lu",
	    (unsigned long)code);
	/* Last: once STOPPED is said, the process may be ended. */
	set_state(SERVICE_STOPPED, (int)code);
}

int
service_run(int (*fn)(void *), void *arg, const char *logpath)
{
	SERVICE_TABLE_ENTRYW table[] = {
		{ (wchar_t *)SERVICE_NAME_W, service_main },
		{ NULL, NULL },
	};
	char eb[256];
	DWORD e;

	svc_run.fn = fn;
	svc_run.arg = arg;
	svc_run.logpath = logpath;
	svc_run.code = EXIT_RUNTIME;
	InitializeCriticalSection(&svc_run.lock);
	if (!StartServiceCtrlDispatcherW(table)) {
		e = GetLastError();
		if (e == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
			return -1;
		log_errorx("cannot run as a service: %s", WERR(e, eb));
		return EXIT_RUNTIME;
	}
	return svc_run.code;
}
