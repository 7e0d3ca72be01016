/*
 * config.c - table-driven INI loader; see config.h.
 *
 * inih splits "key = value" and strips comments, but knows nothing of line
 * numbers in its handler and silently cuts lines longer than INI_MAX_LINE.
 * So inih reads through ini_reader_lines() below, which counts lines, parses
 * section headers itself, and reports (instead of passing on) lines that are
 * too long or that are not "key = value".  Every problem becomes one
 * diagnostic; loading goes on so that one run shows all of them.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include <windows.h>
#include <aclapi.h>
#undef IN		/* windows.h's; config.c has its own */
#undef OUT

/* config/ links nothing of the agent's base: its own two Windows calls. */
static void
explicit_bzero(void *p, size_t n)
{
	SecureZeroMemory(p, n);
}

static int
gethostname(char *name, size_t len)
{
	DWORD n = len > 0xffff ? 0xffff : (DWORD)len;

	return GetComputerNameExA(ComputerNameDnsHostname, name, &n) ? 0 : -1;
}

/*
 * Windows rules for secrets.  Mode bits mean nothing there: who may read
 * a file is its DACL.  "Other users" are the three groups every local
 * account is in, whatever the host: Everyone (S-1-1-0), Authenticated
 * Users (S-1-5-11) and Users (S-1-5-32-545).  A grant to the owner, to
 * SYSTEM or to Administrators is not a leak; a grant to any of the three
 * is, as a world- or group-readable mode is on Linux.
 */
#define ACL_READ_BITS	(FILE_READ_DATA | GENERIC_READ | GENERIC_ALL)

static const struct {
	WELL_KNOWN_SID_TYPE	 type;
	const char		*name;
} acl_others[] = {
	{ WinWorldSid, "Everyone" },
	{ WinAuthenticatedUserSid, "Authenticated Users" },
	{ WinBuiltinUsersSid, "Users" },
};

/*
 * Whether dacl lets sid read.  The ACEs are taken in order, as Windows
 * evaluates them: the first that says anything about reading for sid
 * decides, and a deny to Everyone speaks for every sid.  Inherit-only
 * ACEs apply to the children of a directory, not to the object.
 */
static bool
acl_lets_read(PACL dacl, PSID sid, PSID world)
{
	for (DWORD i = 0; i < dacl->AceCount; i++) {
		ACE_HEADER *h;
		ACCESS_MASK mask;
		PSID who;

		if (!GetAce(dacl, i, (void **)&h) ||
		    (h->AceFlags & INHERIT_ONLY_ACE) != 0)
			continue;
		if (h->AceType == ACCESS_ALLOWED_ACE_TYPE) {
			ACCESS_ALLOWED_ACE *a = (ACCESS_ALLOWED_ACE *)h;
			mask = a->Mask;
			who = &a->SidStart;
			if ((mask & ACL_READ_BITS) != 0 && EqualSid(who, sid))
				return true;
		} else if (h->AceType == ACCESS_DENIED_ACE_TYPE) {
			ACCESS_DENIED_ACE *a = (ACCESS_DENIED_ACE *)h;
			mask = a->Mask;
			who = &a->SidStart;
			if ((mask & ACL_READ_BITS) != 0 &&
			    (EqualSid(who, sid) || EqualSid(who, world)))
				return false;
		}
	}
	return false;
}

/*
 * Who among the "other users" may read path, by its ACL: their names,
 * joined with " and ", into who (len bytes; "" when none).  0, or -errno
 * when the ACL cannot be read (the caller then refuses: a secret it
 * cannot vouch for is not used).
 */
static int
acl_other_readers(const char *path, char *who, size_t len)
{
	BYTE sids[3][SECURITY_MAX_SID_SIZE];
	PSECURITY_DESCRIPTOR sd = NULL;
	PACL dacl = NULL;
	wchar_t *wpath;
	DWORD rc;
	int n;

	who[0] = '\0';
	if ((n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1,
	    NULL, 0)) <= 0)
		return -EINVAL;
	if ((wpath = calloc((size_t)n, sizeof(*wpath))) == NULL)
		return -ENOMEM;
	(void)MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1,
	    wpath, n);
	rc = GetNamedSecurityInfoW(wpath, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL, &sd);
	free(wpath);
	if (rc != ERROR_SUCCESS)
		return rc == ERROR_FILE_NOT_FOUND ? -ENOENT : -EACCES;
	for (size_t i = 0; i < 3; i++) {
		DWORD sl = sizeof(sids[i]);
		bool reads;

		if (!CreateWellKnownSid(acl_others[i].type, NULL, sids[i],
		    &sl)) {
			LocalFree(sd);
			return -EIO;
		}
		/* No DACL at all: everyone may do everything. */
		reads = dacl == NULL || acl_lets_read(dacl, sids[i], sids[0]);
		if (reads && strlen(who) + strlen(acl_others[i].name) + 6 <
		    len) {
			if (who[0] != '\0')
				strncat(who, " and ", len - strlen(who) - 1);
			strncat(who, acl_others[i].name, len - strlen(who) - 1);
		}
	}
	LocalFree(sd);
	return 0;
}
#endif

#define INIH_LINE_MAX	200	/* what Debian's libinih was built with */

enum section_kind { SEC_AGENT = 1, SEC_BUFFER, SEC_INPUT, SEC_OUTPUT,
	SEC_WATCHDOG, SEC_MONITOR, SEC_FILTER, SEC_TAG, SEC_REDACT };
enum key_type { K_STRING, K_PATH, K_BOOL, K_SIZE, K_DURATION, K_UINT,
	K_ENUM, K_NAME_TYPE, K_SECRET };

struct enum_val {
	const char	*name;
	int		 value;
};

static const struct enum_val log_levels[] = {
	{ "error", 0 }, { "warn", 1 }, { "warning", 1 }, { "info", 2 },
	{ "debug", 3 }, { NULL, 0 }
};
static const struct enum_val full_vals[] = {
	{ "drop_oldest", CONFIG_FULL_DROP_OLDEST }, { "block", CONFIG_FULL_BLOCK },
	{ NULL, 0 }
};
static const struct enum_val fsync_vals[] = {
	{ "interval", CONFIG_FSYNC_INTERVAL }, { "always", CONFIG_FSYNC_ALWAYS },
	{ "never", CONFIG_FSYNC_NEVER }, { NULL, 0 }
};
static const struct enum_val input_types[] = {
	{ "file", CONFIG_INPUT_FILE }, { "journald", CONFIG_INPUT_JOURNALD },
	{ "evtx", CONFIG_INPUT_EVTX }, { "eventlog", CONFIG_INPUT_EVENTLOG },
	{ NULL, 0 }
};
static const struct enum_val output_types[] = {
	{ "file", CONFIG_OUTPUT_FILE }, { "stdout", CONFIG_OUTPUT_STDOUT },
	{ "splunk_hec", CONFIG_OUTPUT_SPLUNK_HEC },
	{ "elasticsearch", CONFIG_OUTPUT_ELASTICSEARCH },
	{ "wazuh", CONFIG_OUTPUT_WAZUH },
	{ "wazuh_agent", CONFIG_OUTPUT_WAZUH_AGENT }, { NULL, 0 }
};
static const struct enum_val format_vals[] = {
	{ "xml", CONFIG_FORMAT_XML }, { "json", CONFIG_FORMAT_JSON },
	{ NULL, 0 }
};
static const struct enum_val compression_vals[] = {
	{ "gzip", CONFIG_COMPRESS_GZIP }, { "none", CONFIG_COMPRESS_NONE },
	{ NULL, 0 }
};
static const struct enum_val tls_versions[] = {
	{ "1.2", 12 }, { "1.3", 13 }, { NULL, 0 }
};
static const struct enum_val replace_vals[] = {
	{ "hmac", CONFIG_REPLACE_HMAC }, { "remove", CONFIG_REPLACE_REMOVE },
	{ NULL, 0 }
};
static const struct enum_val start_vals[] = {
	{ "beginning", CONFIG_START_BEGINNING }, { "end", CONFIG_START_END },
	{ "oldest", CONFIG_START_BEGINNING }, { "newest", CONFIG_START_END },
	{ NULL, 0 }
};

#define T(x)	(1u << (x))
#define ALL	0u
#define HEC	T(CONFIG_OUTPUT_SPLUNK_HEC)
#define ES	T(CONFIG_OUTPUT_ELASTICSEARCH)
#define WZ	T(CONFIG_OUTPUT_WAZUH)
#define HTTP	(HEC | ES | WZ)	/* keys of every HTTPS output */
#define WA	T(CONFIG_OUTPUT_WAZUH_AGENT)
#define IFILE	T(CONFIG_INPUT_FILE)
#define IJRN	T(CONFIG_INPUT_JOURNALD)
#define IEVTX	T(CONFIG_INPUT_EVTX)
#define IEVL	T(CONFIG_INPUT_EVENTLOG)

/*
 * The key table.  `types` limits a key of an [input:] or [output:] section
 * to some values of its `type` (0: every type); `required` keys must be
 * set for those types.  Defaults are parsed by the same code as values.
 */
struct config_key {
	int			 section;
	const char		*name;
	enum key_type		 type;
	size_t			 offset;
	const char		*def;
	uint64_t		 min, max;
	const struct enum_val	*enums;
	unsigned		 types;
	bool			 required;
};

#define AG(f)	offsetof(struct config_agent, f)
#define BUF(f)	offsetof(struct config_buffer, f)
#define WD(f)	offsetof(struct config_watchdog, f)
#define MON(f)	offsetof(struct config_monitor, f)
#define RUL(f)	offsetof(struct config_rules, f)
#define RED(f)	offsetof(struct config_redact, f)
#define IN(f)	offsetof(struct config_input, f)
#define OUT(f)	offsetof(struct config_output, f)

static const struct config_key keys[] = {
	{ SEC_AGENT, "name", K_STRING, AG(name), NULL, 1, 255, NULL, ALL, false },
	{ SEC_AGENT, "state_dir", K_PATH, AG(state_dir), "/var/lib/sysmonfwd",
	  1, PATH_MAX, NULL, ALL, false },
	{ SEC_AGENT, "heartbeat_interval", K_DURATION,
	  AG(heartbeat_interval_ms), "30s", 0, 86400000, NULL, ALL, false },
	{ SEC_WATCHDOG, "enabled", K_BOOL, WD(enabled), "true", 0, 0, NULL, ALL,
	  false },
	{ SEC_WATCHDOG, "sysmon_service", K_STRING, WD(sysmon_service),
	  "sysmon", 1, 255, NULL, ALL, false },
	{ SEC_WATCHDOG, "check_interval", K_DURATION, WD(check_interval_ms),
	  "5s", 100, 3600000, NULL, ALL, false },
	{ SEC_WATCHDOG, "silence_alert", K_DURATION, WD(silence_alert_ms), "0",
	  0, 604800000, NULL, ALL, false },
	{ SEC_MONITOR, "listen", K_STRING, MON(listen), NULL, 3, 300, NULL, ALL,
	  false },
	{ SEC_FILTER, "rules", K_PATH, RUL(rules), NULL, 1, PATH_MAX, NULL,
	  ALL, false },
	{ SEC_TAG, "rules", K_PATH, RUL(rules), NULL, 1, PATH_MAX, NULL, ALL,
	  false },
	{ SEC_REDACT, "fields", K_STRING, RED(fields),
	  "CommandLine, ParentCommandLine", 1, 1024, NULL, ALL, false },
	{ SEC_REDACT, "arguments", K_STRING, RED(arguments), NULL, 0, 1024,
	  NULL, ALL, false },
	{ SEC_REDACT, "pattern", K_STRING, RED(pattern), NULL, 1, 1024, NULL,
	  ALL, false },
	{ SEC_REDACT, "replace", K_ENUM, RED(replace), "hmac", 0, 0,
	  replace_vals, ALL, false },
	{ SEC_REDACT, "key_file", K_PATH, RED(key_file), NULL, 1, PATH_MAX,
	  NULL, ALL, false },
	{ SEC_AGENT, "log_level", K_ENUM, AG(log_level), "info", 0, 0,
	  log_levels, ALL, false },

	{ SEC_BUFFER, "max_size", K_SIZE, BUF(max_size), "256MiB", 1ull << 20,
	  1ull << 40, NULL, ALL, false },
	{ SEC_BUFFER, "segment_size", K_SIZE, BUF(segment_size), "8MiB",
	  64u << 10, 1ull << 30, NULL, ALL, false },
	{ SEC_BUFFER, "block_size", K_SIZE, BUF(block_size), "64KiB", 4096,
	  16u << 20, NULL, ALL, false },
	{ SEC_BUFFER, "flush_interval", K_DURATION, BUF(flush_interval_ms),
	  "1s", 10, 60000, NULL, ALL, false },
	{ SEC_BUFFER, "full", K_ENUM, BUF(full), "drop_oldest", 0, 0,
	  full_vals, ALL, false },
	{ SEC_BUFFER, "fsync", K_ENUM, BUF(fsync), "interval", 0, 0,
	  fsync_vals, ALL, false },
	{ SEC_BUFFER, "fsync_interval", K_DURATION, BUF(fsync_interval_ms),
	  "1s", 10, 3600000, NULL, ALL, false },
	{ SEC_BUFFER, "compression_level", K_UINT, BUF(compression_level), "1",
	  0, 9, NULL, ALL, false },
	{ SEC_BUFFER, "max_record_size", K_SIZE, BUF(max_record_size), "1MiB",
	  1024, 64u << 20, NULL, ALL, false },
	{ SEC_BUFFER, "max_pending_size", K_SIZE, BUF(max_pending_size), "4MiB",
	  64u << 10, 1ull << 30, NULL, ALL, false },

	{ SEC_INPUT, "type", K_NAME_TYPE, IN(type), NULL, 0, 0, input_types,
	  ALL, true },
	{ SEC_INPUT, "path", K_PATH, IN(path), NULL, 1, PATH_MAX, NULL,
	  IFILE | IEVTX, true },
	{ SEC_INPUT, "follow", K_BOOL, IN(follow), "true", 0, 0, NULL,
	  IFILE | IEVTX, false },
	{ SEC_INPUT, "start", K_ENUM, IN(start), "beginning", 0, 0,
	  start_vals, IFILE | IJRN | IEVTX | IEVL, false },
	{ SEC_INPUT, "max_line_size", K_SIZE, IN(max_line_size), "1MiB",
	  1024, 16ull << 20, NULL, IFILE | IJRN, false },
	{ SEC_INPUT, "poll_interval", K_DURATION, IN(poll_interval_ms),
	  "250ms", 10, 60000, NULL, IFILE | IEVTX, false },
	{ SEC_INPUT, "keep_other_lines", K_BOOL, IN(keep_other_lines),
	  "false", 0, 0, NULL, IFILE, false },
	{ SEC_INPUT, "match", K_STRING, IN(match), "SYSLOG_IDENTIFIER=sysmon",
	  1, 1024, NULL, IJRN, false },
	{ SEC_INPUT, "journal_dir", K_PATH, IN(journal_dir), NULL, 1, PATH_MAX,
	  NULL, IJRN, false },
	{ SEC_INPUT, "channel", K_STRING, IN(channel),
	  "Microsoft-Windows-Sysmon/Operational", 1, 255, NULL, IEVL, false },
	{ SEC_INPUT, "query", K_STRING, IN(query), "*", 1, 1024, NULL, IEVL,
	  false },

	{ SEC_OUTPUT, "type", K_NAME_TYPE, OUT(type), NULL, 0, 0, output_types,
	  ALL, true },
	{ SEC_OUTPUT, "path", K_PATH, OUT(path), NULL, 1, PATH_MAX, NULL,
	  T(CONFIG_OUTPUT_FILE), true },
	{ SEC_OUTPUT, "keep_original", K_BOOL, OUT(keep_original), "false",
	  0, 0, NULL, ALL, false },
	{ SEC_OUTPUT, "batch_max_events", K_UINT, OUT(batch_max_events), "500",
	  1, 100000, NULL, ALL, false },
	{ SEC_OUTPUT, "batch_max_bytes", K_SIZE, OUT(batch_max_bytes), "1MiB",
	  1024, 64u << 20, NULL, ALL, false },
	{ SEC_OUTPUT, "flush_interval", K_DURATION, OUT(flush_interval_ms),
	  "1s", 0, 60000, NULL, ALL, false },
	{ SEC_OUTPUT, "retry_initial", K_DURATION, OUT(retry_initial_ms), "1s",
	  10, 3600000, NULL, ALL, false },
	{ SEC_OUTPUT, "retry_max", K_DURATION, OUT(retry_max_ms), "60s", 10,
	  86400000, NULL, ALL, false },
	{ SEC_OUTPUT, "retry_after_max", K_DURATION, OUT(retry_after_max_ms),
	  "5m", 0, 86400000, NULL, HTTP, false },
	{ SEC_OUTPUT, "url", K_STRING, OUT(url), NULL, 8, 2048, NULL,
	  HTTP, true },
	{ SEC_OUTPUT, "token", K_SECRET, OUT(token), NULL, 1, 4096, NULL,
	  HEC, false },
	{ SEC_OUTPUT, "token_file", K_PATH, OUT(token_file), NULL, 1, PATH_MAX,
	  NULL, HEC, false },
	{ SEC_OUTPUT, "format", K_ENUM, OUT(format), "xml", 0, 0, format_vals,
	  HEC, false },
	{ SEC_OUTPUT, "compression", K_ENUM, OUT(compression), "gzip", 0, 0,
	  compression_vals, HEC | ES, false },
	{ SEC_OUTPUT, "timeout", K_DURATION, OUT(timeout_ms), "30s", 100,
	  3600000, NULL, HTTP | WA, false },
	{ SEC_OUTPUT, "index", K_STRING, OUT(index), NULL, 1, 255, NULL,
	  HEC | ES, false },
	{ SEC_OUTPUT, "source", K_STRING, OUT(source), NULL, 1, 1024, NULL,
	  HEC, false },
	{ SEC_OUTPUT, "sourcetype", K_STRING, OUT(sourcetype), NULL, 1, 1024,
	  NULL, HEC, false },
	{ SEC_OUTPUT, "host", K_STRING, OUT(host), NULL, 1, 255, NULL,
	  HEC, false },
	{ SEC_OUTPUT, "ack", K_BOOL, OUT(ack), "false", 0, 0, NULL,
	  HEC, false },
	{ SEC_OUTPUT, "ack_timeout", K_DURATION, OUT(ack_timeout_ms), "5m",
	  1000, 86400000, NULL, HEC, false },
	{ SEC_OUTPUT, "ack_poll_interval", K_DURATION,
	  OUT(ack_poll_interval_ms), "1s", 100, 600000, NULL,
	  HEC, false },
	{ SEC_OUTPUT, "tls_ca_file", K_PATH, OUT(tls_ca_file), NULL, 1,
	  PATH_MAX, NULL, HTTP, false },
	{ SEC_OUTPUT, "tls_ca_path", K_PATH, OUT(tls_ca_path), NULL, 1,
	  PATH_MAX, NULL, HTTP, false },
	{ SEC_OUTPUT, "tls_client_cert", K_PATH, OUT(tls_client_cert), NULL, 1,
	  PATH_MAX, NULL, HTTP, false },
	{ SEC_OUTPUT, "tls_client_key", K_PATH, OUT(tls_client_key), NULL, 1,
	  PATH_MAX, NULL, HTTP, false },
	{ SEC_OUTPUT, "tls_min_version", K_ENUM, OUT(tls_min_version), "1.2", 0,
	  0, tls_versions, HTTP, false },
	{ SEC_OUTPUT, "tls_pinned_pubkey", K_STRING, OUT(tls_pinned_pubkey),
	  NULL, 8, 1024, NULL, HTTP, false },
	{ SEC_OUTPUT, "tls_verify", K_BOOL, OUT(tls_verify), "true", 0, 0, NULL,
	  HTTP, false },
	{ SEC_OUTPUT, "proxy", K_STRING, OUT(proxy), NULL, 1, 2048, NULL,
	  HTTP, false },
	{ SEC_OUTPUT, "api_key", K_SECRET, OUT(api_key), NULL, 1, 4096, NULL,
	  ES, false },
	{ SEC_OUTPUT, "api_key_file", K_PATH, OUT(api_key_file), NULL, 1,
	  PATH_MAX, NULL, ES, false },
	{ SEC_OUTPUT, "user", K_STRING, OUT(user), NULL, 1, 1024, NULL, ES | WZ,
	  false },
	{ SEC_OUTPUT, "password", K_SECRET, OUT(password), NULL, 1, 4096, NULL,
	  ES | WZ, false },
	{ SEC_OUTPUT, "password_file", K_PATH, OUT(password_file), NULL, 1,
	  PATH_MAX, NULL, ES | WZ, false },
	{ SEC_OUTPUT, "namespace", K_STRING, OUT(namespace), "default", 1, 100,
	  NULL, ES, false },
	{ SEC_OUTPUT, "pipeline", K_STRING, OUT(pipeline), NULL, 1, 512, NULL,
	  ES, false },
	{ SEC_OUTPUT, "max_requests_per_minute", K_UINT,
	  OUT(max_requests_per_minute), "30", 1, 600, NULL, WZ, false },
	{ SEC_OUTPUT, "manager", K_STRING, OUT(manager), NULL, 1, 2048, NULL,
	  WA, true },
	{ SEC_OUTPUT, "port", K_UINT, OUT(port), "1514", 1, 65535, NULL,
	  WA, false },
	{ SEC_OUTPUT, "enrollment_port", K_UINT, OUT(enrollment_port), "1515",
	  1, 65535, NULL, WA, false },
	{ SEC_OUTPUT, "enrollment_password_file", K_PATH,
	  OUT(enrollment_password_file), NULL, 1, PATH_MAX, NULL, WA, false },
	{ SEC_OUTPUT, "enrollment_ca_file", K_PATH, OUT(enrollment_ca_file),
	  NULL, 1, PATH_MAX, NULL, WA, false },
	{ SEC_OUTPUT, "agent_name", K_STRING, OUT(agent_name), NULL, 1, 128,
	  NULL, WA, false },
	{ SEC_OUTPUT, "agent_groups", K_STRING, OUT(agent_groups), NULL, 1,
	  1024, NULL, WA, false },
	{ SEC_OUTPUT, "agent_version", K_STRING, OUT(agent_version), "v4.0.0",
	  2, 32, NULL, WA, false },
	{ SEC_OUTPUT, "keepalive_interval", K_DURATION,
	  OUT(keepalive_interval_ms), "10s", 1000, 600000, NULL, WA, false },
	{ SEC_OUTPUT, "max_events_per_second", K_UINT,
	  OUT(max_events_per_second), "500", 1, 100000, NULL, WA, false },
};
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

/* One section as it is being read. */
struct section {
	int	 kind;
	void	*obj;		/* &cfg->agent, an input or an output */
	int	 line;
	char	 label[CONFIG_NAME_MAX + 16];	/* "[input:NAME]" */
	int	 set_line[NKEYS];	/* 0: not set */
};

struct loader {
	const char		*file;
	const char		*text;	/* remaining input */
	int			 lineno;
	struct config		*cfg;
	struct config_diag	*diag;
	struct section		*sections;
	size_t			 nsections;
	struct section		*cur;	/* NULL before the first header */
	bool			 bad_section; /* the last header was rejected */
	bool			 nomem;	/* an allocation failed: the file may
					   be fine, the answer is -ENOMEM */
	int			 errors;
};

static void
diag_vadd(struct loader *ld, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
diag_vadd(struct loader *ld, int line, const char *fmt, va_list ap)
{
	char msg[768], full[1024];
	char **n;

	ld->errors++;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0)
		snprintf(full, sizeof(full), "%s:%d: %s", ld->file, line, msg);
	else
		snprintf(full, sizeof(full), "%s: %s", ld->file, msg);
	if (ld->diag == NULL)
		return;
	n = realloc(ld->diag->msgs, (ld->diag->n + 1) * sizeof(*n));
	if (n == NULL) {
		ld->nomem = true;
		return;
	}
	ld->diag->msgs = n;
	if ((n[ld->diag->n] = strdup(full)) != NULL)
		ld->diag->n++;
	else
		ld->nomem = true;
}

static void
diag_add(struct loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
diag_add(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(ld, line, fmt, ap);
	va_end(ap);
}

/* A diagnostic about the file as a whole, from outside a load. */
static void
file_diag(const char *path, struct config_diag *diag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
file_diag(const char *path, struct config_diag *diag, const char *fmt, ...)
{
	struct loader ld = { .file = path, .diag = diag };
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(&ld, 0, fmt, ap);
	va_end(ap);
}

void
config_diag_free(struct config_diag *diag)
{
	if (diag == NULL)
		return;
	for (size_t i = 0; i < diag->n; i++)
		free(diag->msgs[i]);
	free(diag->msgs);
	diag->msgs = NULL;
	diag->n = 0;
}

/* ---- value parsers ---------------------------------------------------- */

static int
parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*end = p;
	*out = v;
	return 0;
}

struct unit {
	const char	*suf;
	uint64_t	 mul;
};

/*
 * A whole number, optional spaces, then one of units (case-insensitive
 * when nocase).  The reasons name the kind of value (what).
 */
static int
parse_with_unit(const char *s, const struct unit *units, size_t nunits,
    bool nocase, uint64_t *out, const char **why, const char *bad_number,
    const char *too_large, const char *bad_unit)
{
	const char *end;
	uint64_t v;
	int rc;

	if ((rc = parse_u64(s, &end, &v)) != 0) {
		*why = rc == -ERANGE ? "number too large" : bad_number;
		return -EINVAL;
	}
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < nunits; i++) {
		if ((nocase ? strcasecmp(end, units[i].suf) :
		    strcmp(end, units[i].suf)) != 0)
			continue;
		if (v != 0 && v > UINT64_MAX / units[i].mul) {
			*why = too_large;
			return -EINVAL;
		}
		*out = v * units[i].mul;
		return 0;
	}
	*why = bad_unit;
	return -EINVAL;
}

int
config_parse_size(const char *s, uint64_t *out, const char **why)
{
	static const struct unit units[] = {
		{ "", 1 }, { "b", 1 }, { "k", 1ull << 10 }, { "kb", 1ull << 10 },
		{ "kib", 1ull << 10 }, { "m", 1ull << 20 }, { "mb", 1ull << 20 },
		{ "mib", 1ull << 20 }, { "g", 1ull << 30 }, { "gb", 1ull << 30 },
		{ "gib", 1ull << 30 }, { "t", 1ull << 40 }, { "tib", 1ull << 40 },
	};

	return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]),
	    true, out, why, "not a size (examples: 4096, 64KiB, 8MiB, 1GiB)",
	    "size too large", "unknown size unit (use B, KiB, MiB, GiB or "
	    "TiB)");
}

int
config_parse_duration_ms(const char *s, uint64_t *out, const char **why)
{
	static const struct unit units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "min", 60000 }, { "h", 3600000 },
	};

	return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]),
	    false, out, why, "not a duration (examples: 250ms, 1s, 5m, 2h)",
	    "duration too large", "unknown duration unit (use ms, s, m or h)");
}

int
config_parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL ||
		    memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl > 255)
		return -EINVAL;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || p < 1 || p > 65535 || errno)
		return -EINVAL;
	if (host != NULL) {
		if (hl >= hostlen)
			return -ENAMETOOLONG;
		memcpy(host, h, hl);
		host[hl] = '\0';
	}
	if (port != NULL)
		*port = (int)p;
	return 0;
}

int
config_parse_bool(const char *s, bool *out)
{
	if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
	    strcasecmp(s, "on") == 0 || strcmp(s, "1") == 0) {
		*out = true;
		return 0;
	}
	if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 ||
	    strcasecmp(s, "off") == 0 || strcmp(s, "0") == 0) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static const char *
enum_name(const struct enum_val *e, int value)
{
	for (; e->name != NULL; e++)
		if (e->value == value)
			return e->name;
	return "?";
}

const char *
config_input_type_name(int type)
{
	return enum_name(input_types, type);
}

const char *
config_output_type_name(int type)
{
	return enum_name(output_types, type);
}

static void
enum_list(const struct enum_val *e, char *buf, size_t len)
{
	buf[0] = '\0';
	for (const struct enum_val *p = e; p->name != NULL; p++) {
		if (p != e)
			strncat(buf, ", ", len - strlen(buf) - 1);
		strncat(buf, p->name, len - strlen(buf) - 1);
	}
}

/*
 * Replace ${VAR} from the environment and $$ by $.  Return a new string, or
 * NULL with a reason in why (a static string or a message in whybuf).
 */
static char *
expand_env(const char *v, char *whybuf, size_t whylen)
{
	size_t cap = strlen(v) + 1, len = 0;
	char *out = malloc(cap), *n;

	whybuf[0] = '\0';		/* stays empty when out of memory */
	if (out == NULL)
		return NULL;
	for (const char *p = v; *p != '\0';) {
		const char *add = p;
		size_t addlen = 1;

		if (p[0] == '$' && p[1] == '$') {
			p += 2;
		} else if (p[0] == '$' && p[1] == '{') {
			const char *close = strchr(p + 2, '}');
			char name[128];
			size_t nlen;

			if (close == NULL || (nlen = (size_t)(close - p - 2)) == 0 ||
			    nlen >= sizeof(name)) {
				snprintf(whybuf, whylen,
				    "malformed ${VAR} reference");
				free(out);
				return NULL;
			}
			memcpy(name, p + 2, nlen);
			name[nlen] = '\0';
			if ((add = getenv(name)) == NULL) {
				snprintf(whybuf, whylen,
				    "environment variable %s is not set", name);
				free(out);
				return NULL;
			}
			addlen = strlen(add);
			p = close + 1;
		} else {
			p++;
		}
		if (len + addlen + 1 > cap) {
			cap = (len + addlen + 1) * 2;
			if ((n = realloc(out, cap)) == NULL) {
				free(out);
				return NULL;
			}
			out = n;
		}
		memcpy(out + len, add, addlen);
		len += addlen;
	}
	out[len] = '\0';
	return out;
}

/*
 * Store value into the field of key k in obj.  Return 0, or -EINVAL with a
 * message in why.
 */
static int
key_apply(const struct config_key *k, void *obj, const char *value,
    char *why, size_t whylen)
{
	char *field = (char *)obj + k->offset;
	const char *reason = NULL;
	uint64_t u;
	bool b;
	char list[256];

	switch (k->type) {
	case K_STRING:
	case K_PATH:
	case K_SECRET:
		if (strlen(value) < k->min || strlen(value) > k->max) {
			snprintf(why, whylen, "value must be %" PRIu64 " to %"
			    PRIu64 " characters long", k->min, k->max);
			return -EINVAL;
		}
		if (strlen(value) != strcspn(value, "\r\n")) {
			snprintf(why, whylen, "value holds a line break");
			return -EINVAL;
		}
		free(*(char **)field);
		if ((*(char **)field = strdup(value)) == NULL) {
			snprintf(why, whylen, "out of memory");
			return -ENOMEM;
		}
		return 0;
	case K_BOOL:
		if (config_parse_bool(value, &b) != 0) {
			snprintf(why, whylen, "value \"%s\" is not a boolean "
			    "(true or false)", value);
			return -EINVAL;
		}
		*(bool *)field = b;
		return 0;
	case K_SIZE:
	case K_DURATION:
	case K_UINT:
		if (k->type == K_SIZE)
			config_parse_size(value, &u, &reason);
		else if (k->type == K_DURATION)
			config_parse_duration_ms(value, &u, &reason);
		else {
			const char *end;
			if (parse_u64(value, &end, &u) != 0 || *end != '\0')
				reason = "not a whole number";
		}
		if (reason != NULL) {
			snprintf(why, whylen, "value \"%s\": %s", value, reason);
			return -EINVAL;
		}
		if (u < k->min || u > k->max) {
			const char *unit = k->type == K_SIZE ? " bytes" :
			    k->type == K_DURATION ? " ms" : "";
			if (u < k->min)
				snprintf(why, whylen, "value %s below minimum %"
				    PRIu64 "%s", value, k->min, unit);
			else
				snprintf(why, whylen, "value %s above maximum %"
				    PRIu64 "%s", value, k->max, unit);
			return -EINVAL;
		}
		*(uint64_t *)field = u;
		return 0;
	case K_ENUM:
	case K_NAME_TYPE:
		for (const struct enum_val *e = k->enums; e->name != NULL; e++) {
			if (strcmp(e->name, value) == 0) {
				*(int *)field = e->value;
				return 0;
			}
		}
		enum_list(k->enums, list, sizeof(list));
		snprintf(why, whylen, "unknown value \"%s\" (expected one of: "
		    "%s)", value, list);
		return -EINVAL;
	}
	snprintf(why, whylen, "internal error: bad key type");
	return -EINVAL;
}

static void
section_defaults(struct loader *ld, struct section *s)
{
	char why[256];

	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].section != s->kind || keys[i].def == NULL)
			continue;
		int rc = key_apply(&keys[i], s->obj, keys[i].def, why,
		    sizeof(why));

		if (rc == -ENOMEM)
			ld->nomem = true;
		else if (rc != 0)
			diag_add(ld, 0, "internal error: default of %s: %s",
			    keys[i].name, why);
	}
}

static bool
valid_name(const char *n, size_t len)
{
	if (len == 0 || len > CONFIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/*
 * The kind of the section header hdr (len bytes, without the brackets),
 * and for [input:NAME] and [output:NAME] where NAME is; 0 when unknown.
 */
static int
section_kind(const char *hdr, size_t len, const char **name,
    size_t *namelen)
{
	static const struct {
		const char	*word;	/* ends with ':' when named */
		int		 kind;
	} kinds[] = {
		{ "agent", SEC_AGENT }, { "buffer", SEC_BUFFER },
		{ "watchdog", SEC_WATCHDOG }, { "monitor", SEC_MONITOR },
		{ "filter", SEC_FILTER }, { "tag", SEC_TAG },
		{ "input:", SEC_INPUT }, { "output:", SEC_OUTPUT },
		{ "redact:", SEC_REDACT },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].word);
		bool named = kinds[i].word[n - 1] == ':';

		if ((named ? len > n : len == n) &&
		    memcmp(hdr, kinds[i].word, n) == 0) {
			*name = named ? hdr + n : NULL;
			*namelen = named ? len - n : 0;
			return kinds[i].kind;
		}
	}
	return 0;
}

/* The struct a section of kind fills: one of cfg, or a new input or
 * output named name (NULL, reported, when there are too many). */
static void *
section_obj(struct loader *ld, int kind, const char *name, size_t namelen)
{
	struct config *cfg = ld->cfg;
	struct config_input *in;
	struct config_output *out;

	switch (kind) {
	case SEC_AGENT:
		return &cfg->agent;
	case SEC_BUFFER:
		cfg->buffer.line = ld->lineno;
		return &cfg->buffer;
	case SEC_WATCHDOG:
		return &cfg->watchdog;
	case SEC_MONITOR:
		return &cfg->monitor;
	case SEC_FILTER:
		cfg->filter.line = ld->lineno;
		return &cfg->filter;
	case SEC_TAG:
		cfg->tag.line = ld->lineno;
		return &cfg->tag;
	case SEC_REDACT: {
		struct config_redact *rd;

		if (cfg->nredacts == CONFIG_MAX_REDACTS) {
			diag_add(ld, ld->lineno, "too many [redact:] sections "
			    "(at most %d)", CONFIG_MAX_REDACTS);
			return NULL;
		}
		rd = &cfg->redacts[cfg->nredacts++];
		memcpy(rd->name, name, namelen);
		rd->line = ld->lineno;
		return rd;
	}
	case SEC_INPUT:
		if (cfg->ninputs == CONFIG_MAX_INPUTS) {
			diag_add(ld, ld->lineno, "too many inputs (at most %d)",
			    CONFIG_MAX_INPUTS);
			return NULL;
		}
		in = &cfg->inputs[cfg->ninputs++];
		memcpy(in->name, name, namelen);
		in->line = ld->lineno;
		return in;
	default:
		if (cfg->noutputs == CONFIG_MAX_OUTPUTS) {
			diag_add(ld, ld->lineno, "too many outputs (at most "
			    "%d)", CONFIG_MAX_OUTPUTS);
			return NULL;
		}
		out = &cfg->outputs[cfg->noutputs++];
		memcpy(out->name, name, namelen);
		out->line = ld->lineno;
		return out;
	}
}

static void
section_open(struct loader *ld, const char *hdr, size_t len)
{
	struct section *s, *n;
	const char *name = NULL;
	size_t namelen = 0;
	void *obj;
	int kind;

	ld->cur = NULL;
	ld->bad_section = true;
	if ((kind = section_kind(hdr, len, &name, &namelen)) == 0) {
		diag_add(ld, ld->lineno, "[%.*s]: unknown section (expected "
		    "[agent], [buffer], [input:NAME] or [output:NAME])",
		    (int)len, hdr);
		return;
	}
	if (name != NULL && !valid_name(name, namelen)) {
		diag_add(ld, ld->lineno, "[%.*s]: section name must be 1 to %d "
		    "characters of A-Z a-z 0-9 _ - .", (int)len, hdr,
		    CONFIG_NAME_MAX);
		return;
	}
	for (size_t i = 0; i < ld->nsections; i++) {
		s = &ld->sections[i];
		if (strlen(s->label) == len + 2 &&
		    memcmp(s->label + 1, hdr, len) == 0) {
			diag_add(ld, ld->lineno, "[%.*s]: section appears twice "
			    "(first at line %d)", (int)len, hdr, s->line);
			return;
		}
	}
	if ((obj = section_obj(ld, kind, name, namelen)) == NULL)
		return;
	n = realloc(ld->sections, (ld->nsections + 1) * sizeof(*n));
	if (n == NULL) {
		ld->nomem = true;
		return;
	}
	ld->sections = n;
	s = &n[ld->nsections++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->obj = obj;
	s->line = ld->lineno;
	snprintf(s->label, sizeof(s->label), "[%.*s]", (int)len, hdr);
	ld->bad_section = false;
	/* The defaults of the other sections were applied before reading. */
	if (kind == SEC_INPUT || kind == SEC_OUTPUT || kind == SEC_REDACT)
		section_defaults(ld, s);
	ld->cur = s;
}

/*
 * inih's reader: hand inih one line at a time, counting lines; handle
 * section headers here and replace lines inih must not see by blank ones.
 */
static char *
ini_reader_lines(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	const char *p = ld->text, *eol;
	size_t len, start;

	if (*p == '\0')
		return NULL;
	eol = strchr(p, '\n');
	len = eol != NULL ? (size_t)(eol - p) : strlen(p);
	ld->text = eol != NULL ? eol + 1 : p + len;
	ld->lineno++;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	/* A UTF-8 byte order mark on the first line is allowed. */
	if (ld->lineno == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
		p += 3;
		len -= 3;
	}
	for (start = 0; start < len && (p[start] == ' ' || p[start] == '\t');)
		start++;
	p += start;
	len -= start;
	str[0] = '\0';
	if (len == 0 || p[0] == '#' || p[0] == ';')
		return str;
	if (len + 2 > (size_t)num || len + 2 > INIH_LINE_MAX) {
		diag_add(ld, ld->lineno, "line longer than %d characters",
		    INIH_LINE_MAX - 2);
		return str;
	}
	if (p[0] == '[') {
		const char *close = memchr(p, ']', len);
		size_t rest;

		if (close == NULL) {
			diag_add(ld, ld->lineno, "section header without ']'");
			ld->cur = NULL;
			ld->bad_section = true;
			return str;
		}
		rest = (size_t)(p + len - close - 1);
		for (size_t i = 0; i < rest; i++) {
			char c = close[1 + i];
			if (c == '#' || c == ';')
				break;
			if (c != ' ' && c != '\t') {
				diag_add(ld, ld->lineno, "text after section "
				    "header");
				break;
			}
		}
		section_open(ld, p + 1, (size_t)(close - p - 1));
		return str;
	}
	if (memchr(p, '=', len) == NULL) {
		/* Name only the first word: the line may hold a secret. */
		size_t w = 0;
		while (w < len && w < 32 && (isalnum((unsigned char)p[w]) ||
		    p[w] == '_'))
			w++;
		diag_add(ld, ld->lineno, "expected \"key = value\", found a "
		    "line starting \"%.*s\" without '='", (int)w, p);
		return str;
	}
	memcpy(str, p, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static int
on_ini_pair(void *user, const char *section, const char *name,
    const char *value)
{
	struct loader *ld = user;
	struct section *s = ld->cur;
	const struct config_key *k = NULL;
	char why[512];
	char *expanded;
	size_t i;
	int rc;

	(void)section;
	if (s == NULL) {
		/* Keys under a rejected header were reported with it. */
		if (!ld->bad_section)
			diag_add(ld, ld->lineno, "%s: key outside any section",
			    name);
		return 1;
	}
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].section == s->kind &&
		    strcmp(keys[i].name, name) == 0) {
			k = &keys[i];
			break;
		}
	}
	if (k == NULL) {
		diag_add(ld, ld->lineno, "%s: unknown key in %s", name,
		    s->label);
		return 1;
	}
	if (s->set_line[i] != 0) {
		diag_add(ld, ld->lineno, "%s: set twice in %s (first at line "
		    "%d)", name, s->label, s->set_line[i]);
		return 1;
	}
	s->set_line[i] = ld->lineno;
	if (k->type == K_SECRET && s->kind == SEC_OUTPUT &&
	    strstr(value, "${") == NULL)
		((struct config_output *)s->obj)->inline_secret = k->name;
	if ((expanded = expand_env(value, why, sizeof(why))) == NULL) {
		if (why[0] == '\0')
			ld->nomem = true;
		else
			diag_add(ld, ld->lineno, "%s: %s", name, why);
		return 1;
	}
	if ((rc = key_apply(k, s->obj, expanded, why, sizeof(why))) ==
	    -ENOMEM)
		ld->nomem = true;
	else if (rc != 0)
		diag_add(ld, ld->lineno, "%s: %s", name, why);
	free(expanded);
	return 1;
}

/* Read a secret (key `key`) from a file that other users cannot read. */
static void
read_secret_file(struct loader *ld, int line, const char *key,
    const char *path, char **out)
{
	char buf[4097];
	struct stat sb;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		diag_add(ld, line, "%s: cannot read %s: %s", key, path,
		    strerror(errno));
		return;
	}
#ifndef _WIN32
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & (S_IRWXG | S_IRWXO)) &
	    (S_IROTH | S_IWOTH)) {
		diag_add(ld, line, "%s: %s is readable by other users "
		    "(mode %04o): run chmod 600 %s", key, path,
		    (unsigned)(sb.st_mode & 07777), path);
		fclose(f);
		return;
	}
#else
	{
		char who[64];
		int rc;

		(void)sb;
		if ((rc = acl_other_readers(path, who, sizeof(who))) != 0) {
			diag_add(ld, line, "%s: cannot read the ACL of %s "
			    "(%s): a secret file must be one only its owner, "
			    "SYSTEM and Administrators may read", key, path,
			    strerror(-rc));
			fclose(f);
			return;
		}
		if (who[0] != '\0') {
			diag_add(ld, line, "%s: %s is readable by other users "
			    "(its ACL lets %s read it): run icacls \"%s\" "
			    "/inheritance:r /grant:r SYSTEM:F Administrators:F",
			    key, path, who, path);
			fclose(f);
			return;
		}
	}
#endif
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (n == 0 || n == sizeof(buf) - 1 || strlen(buf) != n ||
	    strcspn(buf, "\r\n") != n) {
		diag_add(ld, line, "%s: %s must hold one line: the secret",
		    key, path);
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	free(*out);
	if ((*out = strdup(buf)) == NULL)
		ld->nomem = true;
	explicit_bzero(buf, sizeof(buf));
}

static int
key_line(const struct section *s, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].section == s->kind && strcmp(keys[i].name, name) ==
		    0)
			return s->set_line[i];
	return 0;
}

/*
 * A secret given as `key` or as `key_file`, not both.  Return true when
 * one of them was given (and read).
 */
static bool
secret_pair(struct loader *ld, struct section *s, const char *key,
    const char *file_key, const char *path, char **out)
{
	int kl = key_line(s, key), fl = key_line(s, file_key);

	if (kl != 0 && fl != 0) {
		diag_add(ld, fl, "%s: give either %s or %s in %s, not both",
		    file_key, key, file_key, s->label);
		return true;
	}
	if (fl != 0)
		read_secret_file(ld, fl, file_key, path, out);
	return kl != 0 || fl != 0;
}

/* A character Elasticsearch refuses in index and data stream names. */
static bool
bad_index_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || c < 0x20 ||
	    strchr("\\/*?\"<>| ,#:", c) != NULL;
}

/* A data stream namespace as Elasticsearch accepts it. */
static bool
valid_namespace(const char *ns)
{
	if (ns[0] == '\0' || strlen(ns) > 100)
		return false;
	for (const char *p = ns; *p != '\0'; p++)
		if (*p == '-' || bad_index_char((unsigned char)*p))
			return false;
	return true;
}

/* An index or data stream name as Elasticsearch accepts it. */
static bool
valid_index(const char *ix)
{
	if (ix[0] == '\0' || strlen(ix) > 255 || ix[0] == '-' ||
	    ix[0] == '_' || ix[0] == '+' || strcmp(ix, ".") == 0 ||
	    strcmp(ix, "..") == 0)
		return false;
	for (const char *p = ix; *p != '\0'; p++)
		if (bad_index_char((unsigned char)*p))
			return false;
	return true;
}

/* Every URL of a comma-separated list starts with https:// or http://. */
static void
check_urls(struct loader *ld, struct section *s, const char *urls,
    bool list)
{
	const char *p = urls;
	int line = key_line(s, "url");

	if (!list && strcspn(urls, ", \t") != strlen(urls)) {
		diag_add(ld, line, "url: one URL only, without commas or "
		    "spaces");
		return;
	}
	for (;;) {
		size_t n;

		while (*p == ' ')
			p++;
		n = list ? strcspn(p, ",") : strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n == 0) {
			diag_add(ld, line, "url: empty URL in the list");
		} else if (!(n > 8 && strncmp(p, "https://", 8) == 0) &&
		    !(n > 7 && strncmp(p, "http://", 7) == 0)) {
			diag_add(ld, line, "url: must start with https:// (or "
			    "http:// for labs)%s", list ? "; give several URLs "
			    "separated by commas" : "");
			return;
		}
		p += list ? strcspn(p, ",") : strlen(p);
		if (*p != ',')
			break;
		p++;
	}
}

/*
 * A name as Wazuh's authd takes it (src/os_auth/main-server.c and
 * OS_IsValidName() at v4.14.7: letters, digits, '-', '_', '.'), or a
 * comma-separated list of group names (the same characters).
 */
static bool
wazuh_name_ok(const char *s, bool list)
{
	size_t n = 0;

	for (const char *p = s; *p != '\0'; p++, n++) {
		unsigned char c = (unsigned char)*p;

		if (list && c == ',') {
			if (n == 0 || p[1] == '\0')
				return false;
			n = (size_t)-1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return n > 0;
}

/* Checks of a wazuh_agent output: managers, names, the password file. */
static void
wazuh_agent_finish(struct loader *ld, struct section *s,
    struct config_output *o)
{
	const char *p;

	if (o->manager != NULL) {
		for (p = o->manager; ; ) {
			size_t n;

			while (*p == ' ')
				p++;
			n = strcspn(p, ",");
			while (n > 0 && p[n - 1] == ' ')
				n--;
			if (n == 0 || strcspn(p, " \t") < n) {
				diag_add(ld, key_line(s, "manager"), "manager: "
				    "a host name or address, or several "
				    "separated by commas (failover in order)");
				break;
			}
			p += strcspn(p, ",");
			if (*p != ',')
				break;
			p++;
		}
	}
	if (o->agent_name != NULL && !wazuh_name_ok(o->agent_name, false))
		diag_add(ld, key_line(s, "agent_name"), "agent_name: letters, "
		    "digits, '-', '_' and '.' only (what Wazuh's authd takes)");
	if (o->agent_groups != NULL && !wazuh_name_ok(o->agent_groups, true))
		diag_add(ld, key_line(s, "agent_groups"), "agent_groups: group "
		    "names of letters, digits, '-', '_' and '.', separated "
		    "by commas");
	if (o->agent_version != NULL && (o->agent_version[0] != 'v' ||
	    strspn(o->agent_version + 1, "0123456789.") !=
	    strlen(o->agent_version + 1) || o->agent_version[1] == '\0'))
		diag_add(ld, key_line(s, "agent_version"), "agent_version: a "
		    "Wazuh version such as v4.0.0 (a manager refuses agents "
		    "newer than itself)");
	if (o->enrollment_password_file != NULL)
		read_secret_file(ld, key_line(s, "enrollment_password_file"),
		    "enrollment_password_file", o->enrollment_password_file,
		    &o->enrollment_password);
}

/* Checks of an HTTP output: its secrets, URL scheme, TLS pairs. */
static void
http_output_finish(struct loader *ld, struct section *s,
    struct config_output *o)
{
	if (o->type == CONFIG_OUTPUT_SPLUNK_HEC) {
		if (!secret_pair(ld, s, "token", "token_file", o->token_file,
		    &o->token))
			diag_add(ld, s->line, "token: missing in %s (give token "
			    "or token_file)", s->label);
	} else if (o->type == CONFIG_OUTPUT_ELASTICSEARCH) {
		bool key = secret_pair(ld, s, "api_key", "api_key_file",
		    o->api_key_file, &o->api_key);
		bool pw = secret_pair(ld, s, "password", "password_file",
		    o->password_file, &o->password);

		if (key && (pw || o->user != NULL))
			diag_add(ld, key_line(s, "api_key") != 0 ?
			    key_line(s, "api_key") : key_line(s,
			    "api_key_file"), "api_key: give either api_key or "
			    "user and password in %s, not both", s->label);
		else if (o->user != NULL && !pw)
			diag_add(ld, key_line(s, "user"), "user: needs password "
			    "or password_file in %s", s->label);
		else if (pw && o->user == NULL)
			diag_add(ld, key_line(s, "password") != 0 ?
			    key_line(s, "password") : key_line(s,
			    "password_file"), "password: needs user in %s",
			    s->label);
		if (o->user != NULL && strchr(o->user, ':') != NULL)
			diag_add(ld, key_line(s, "user"), "user: must not hold "
			    "':' (basic authentication cannot carry it)");
		if (o->namespace != NULL && !valid_namespace(o->namespace))
			diag_add(ld, key_line(s, "namespace"), "namespace: "
			    "lower case, at most 100 bytes, none of "
			    "\\/*?\"<>|,#: - or spaces (Elasticsearch's rules)");
		if (o->index != NULL && !valid_index(o->index))
			diag_add(ld, key_line(s, "index"), "index: not a valid "
			    "index or data stream name (lower case, not starting "
			    "with - _ +, none of \\/*?\"<>|,#: or spaces)");
	}
	if (o->type == CONFIG_OUTPUT_WAZUH) {
		bool pw = secret_pair(ld, s, "password", "password_file",
		    o->password_file, &o->password);

		if (o->user == NULL)
			diag_add(ld, s->line, "user: missing in %s (the Wazuh "
			    "API user)", s->label);
		else if (strchr(o->user, ':') != NULL)
			diag_add(ld, key_line(s, "user"), "user: must not hold "
			    "':' (basic authentication cannot carry it)");
		if (!pw)
			diag_add(ld, s->line, "password: missing in %s (give "
			    "password or password_file)", s->label);
	}
	if (o->url != NULL)
		check_urls(ld, s, o->url,
		    o->type == CONFIG_OUTPUT_ELASTICSEARCH);
	if ((o->tls_client_cert == NULL) != (o->tls_client_key == NULL))
		diag_add(ld, key_line(s, o->tls_client_cert != NULL ?
		    "tls_client_cert" : "tls_client_key"), "%s: mutual TLS "
		    "needs both tls_client_cert and tls_client_key",
		    o->tls_client_cert != NULL ? "tls_client_cert" :
		    "tls_client_key");
	if (o->tls_pinned_pubkey != NULL &&
	    strncmp(o->tls_pinned_pubkey, "sha256//", 8) != 0)
		diag_add(ld, key_line(s, "tls_pinned_pubkey"), "tls_pinned_pubkey:"
		    " use the sha256//BASE64 form");
	/* Elasticsearch keeps the raw record unless told not to. */
	if (o->type == CONFIG_OUTPUT_ELASTICSEARCH &&
	    key_line(s, "keep_original") == 0)
		o->keep_original = true;
}

/*
 * Whether the comma-separated list l has 1 to 32 items, none empty (the
 * redactor's REDACT_LIST_MAX).
 */
static bool
valid_name_list(const char *l)
{
	size_t n = 0;

	for (const char *p = l;;) {
		size_t k = strcspn(p, ","), a = 0;

		while (a < k && (p[a] == ' ' || p[a] == '\t'))
			a++;
		if (a == k || ++n > 32)
			return false;
		if (p[k] == '\0')
			return true;
		p += k + 1;
	}
}

/*
 * [redact:NAME]: the lists, the pattern (compiled with the redactor's
 * options, so that --check-config gives PCRE2's message and offset), and
 * the key: replace = hmac reads it from key_file, a secret file.
 */
static void
redact_finish(struct loader *ld, struct section *s, struct config_redact *r)
{
	int al = key_line(s, "arguments"), pl = key_line(s, "pattern");

	if (r->fields != NULL && !valid_name_list(r->fields))
		diag_add(ld, key_line(s, "fields"), "fields: give 1 to 32 "
		    "EventData names separated by commas");
	if (r->arguments != NULL && r->arguments[0] != '\0' &&
	    !valid_name_list(r->arguments))
		diag_add(ld, al, "arguments: give 1 to 32 argument names "
		    "separated by commas, for example --text, --user_id");
	if (r->arguments != NULL && r->arguments[0] == '\0') {
		free(r->arguments);
		r->arguments = NULL;
	}
	if (r->arguments == NULL && r->pattern == NULL)
		diag_add(ld, al != 0 ? al : s->line, "arguments: %s and no "
		    "pattern in %s: nothing to redact", al != 0 ? "empty" :
		    "missing", s->label);
	if (r->pattern != NULL) {
		PCRE2_UCHAR msg[256];
		PCRE2_SIZE off;
		pcre2_code *re;
		int ec;

		re = pcre2_compile((PCRE2_SPTR)r->pattern,
		    PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
		    &ec, &off, NULL);
		if (re == NULL) {
			if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
				snprintf((char *)msg, sizeof(msg), "error %d",
				    ec);
			diag_add(ld, pl, "pattern: %s at offset %zu",
			    (const char *)msg, (size_t)off);
		}
		pcre2_code_free(re);
	}
	if (r->replace == CONFIG_REPLACE_HMAC) {
		if (r->key_file == NULL)
			diag_add(ld, key_line(s, "replace") != 0 ?
			    key_line(s, "replace") : s->line, "key_file: "
			    "replace = hmac needs key_file in %s (a file only "
			    "the agent can read holding the key)", s->label);
		else
			read_secret_file(ld, key_line(s, "key_file"),
			    "key_file", r->key_file, &r->key);
	} else if (r->key_file != NULL) {
		diag_add(ld, key_line(s, "key_file"), "key_file: not used by "
		    "replace = remove in %s", s->label);
	}
}

/* Checks that need the whole section: type-specific and required keys. */
static void
section_finish(struct loader *ld, struct section *s)
{
	int type = 0;
	int type_line = 0;

	if (s->kind == SEC_AGENT || s->kind == SEC_WATCHDOG)
		return;
	if (s->kind == SEC_REDACT) {
		redact_finish(ld, s, s->obj);
		return;
	}
	if (s->kind == SEC_FILTER || s->kind == SEC_TAG) {
		struct config_rules *r = s->obj;
		int l = key_line(s, "rules");
		if (l > 0)
			r->line = l;
		else
			diag_add(ld, s->line, "rules: missing in %s (the file "
			    "of Sysmon EventFiltering rules)", s->label);
		return;
	}
	if (s->kind == SEC_MONITOR) {
		struct config_monitor *m = s->obj;
		if (m->listen != NULL && config_parse_listen(m->listen, NULL,
		    0, NULL) != 0)
			diag_add(ld, key_line(s, "listen"), "listen: expected "
			    "ADDRESS:PORT, for example 127.0.0.1:2020 or "
			    "[::1]:2020");
		return;
	}
	if (s->kind == SEC_BUFFER) {
		struct config_buffer *b = s->obj;
		if (b->max_size < 2 * b->segment_size)
			diag_add(ld, s->line, "max_size: must be at least twice "
			    "segment_size (%" PRIu64 " < 2 x %" PRIu64 ")",
			    b->max_size, b->segment_size);
		if (b->block_size > b->segment_size / 2)
			diag_add(ld, s->line, "block_size: must be at most half "
			    "of segment_size");
		return;
	}
	type = s->kind == SEC_INPUT ? ((struct config_input *)s->obj)->type :
	    ((struct config_output *)s->obj)->type;
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].section == s->kind &&
		    strcmp(keys[i].name, "type") == 0)
			type_line = s->set_line[i];
	if (type == 0) {
		if (type_line == 0)
			diag_add(ld, s->line, "type: missing in %s", s->label);
		return;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &keys[i];
		bool applies;

		if (k->section != s->kind)
			continue;
		applies = k->types == ALL || (k->types & T(type)) != 0;
		if (s->set_line[i] != 0 && !applies)
			diag_add(ld, s->set_line[i], "%s: not used by type %s "
			    "in %s", k->name, s->kind == SEC_INPUT ?
			    config_input_type_name(type) :
			    config_output_type_name(type), s->label);
		if (s->set_line[i] == 0 && applies && k->required)
			diag_add(ld, s->line, "%s: missing in %s (required for "
			    "type %s)", k->name, s->label, s->kind == SEC_INPUT
			    ? config_input_type_name(type) :
			    config_output_type_name(type));
	}
#ifndef _WIN32
	if (s->kind == SEC_INPUT && type == CONFIG_INPUT_EVENTLOG)
		diag_add(ld, key_line(s, "type"), "type: eventlog reads the "
		    "Windows Event Log and exists only in the Windows build; "
		    "on Linux use journald or file");
#else
	if (s->kind == SEC_INPUT && type == CONFIG_INPUT_JOURNALD)
		diag_add(ld, key_line(s, "type"), "type: journald is Linux "
		    "only; on Windows use eventlog, evtx or file");
#endif
	if (s->kind == SEC_INPUT && (type == CONFIG_INPUT_JOURNALD ||
	    type == CONFIG_INPUT_EVENTLOG) && key_line(s, "start") == 0)
		((struct config_input *)s->obj)->start = CONFIG_START_END;
	if (s->kind == SEC_OUTPUT && (type == CONFIG_OUTPUT_SPLUNK_HEC ||
	    type == CONFIG_OUTPUT_ELASTICSEARCH ||
	    type == CONFIG_OUTPUT_WAZUH))
		http_output_finish(ld, s, s->obj);
	if (s->kind == SEC_OUTPUT && type == CONFIG_OUTPUT_WAZUH_AGENT)
		wazuh_agent_finish(ld, s, s->obj);
}

static int
load(const char *file, const char *text, struct config **out,
    struct config_diag *diag)
{
	static const int singles[] = { SEC_AGENT, SEC_BUFFER, SEC_WATCHDOG,
	    SEC_MONITOR };
	struct loader ld;
	struct config *cfg;
	struct section one;
	char host[256];
	int rc;

	*out = NULL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return -ENOMEM;
	cfg->inputs = calloc(CONFIG_MAX_INPUTS, sizeof(*cfg->inputs));
	cfg->outputs = calloc(CONFIG_MAX_OUTPUTS, sizeof(*cfg->outputs));
	cfg->redacts = calloc(CONFIG_MAX_REDACTS, sizeof(*cfg->redacts));
	cfg->path = strdup(file);
	if (cfg->inputs == NULL || cfg->outputs == NULL ||
	    cfg->redacts == NULL || cfg->path == NULL) {
		config_free(cfg);
		return -ENOMEM;
	}
	memset(&ld, 0, sizeof(ld));
	ld.file = file;
	ld.text = text;
	ld.cfg = cfg;
	ld.diag = diag;

	/* The sections a file need not have get their defaults now. */
	for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
		memset(&one, 0, sizeof(one));
		one.kind = singles[i];
		one.obj = section_obj(&ld, singles[i], NULL, 0);
		section_defaults(&ld, &one);
	}

	rc = ini_parse_stream(ini_reader_lines, &ld, on_ini_pair, &ld);
	if (rc < 0)
		diag_add(&ld, 0, "cannot parse (inih error %d)", rc);
	else if (rc > 0)
		diag_add(&ld, rc, "malformed line");
	for (size_t i = 0; i < ld.nsections; i++)
		section_finish(&ld, &ld.sections[i]);
	if (cfg->ninputs == 0)
		diag_add(&ld, 0, "no [input:NAME] section: nothing to read");
	if (cfg->noutputs == 0)
		diag_add(&ld, 0, "no [output:NAME] section: nowhere to send");
	for (size_t i = 0; i < cfg->noutputs; i++) {
		for (size_t j = 0; j < i; j++) {
			if (cfg->outputs[i].type == CONFIG_OUTPUT_FILE &&
			    cfg->outputs[j].type == CONFIG_OUTPUT_FILE &&
			    cfg->outputs[i].path != NULL &&
			    cfg->outputs[j].path != NULL &&
			    strcmp(cfg->outputs[i].path,
			    cfg->outputs[j].path) == 0)
				diag_add(&ld, cfg->outputs[i].line, "path: "
				    "[output:%s] writes the same file as "
				    "[output:%s]", cfg->outputs[i].name,
				    cfg->outputs[j].name);
		}
	}
	if (cfg->agent.name == NULL) {
		if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		cfg->agent.name = strdup(host);
	}
	free(ld.sections);
	if (cfg->agent.name == NULL)
		ld.nomem = true;
	if (ld.nomem) {
		/* Not the file's fault: no diagnostic would be true. */
		config_free(cfg);
		return -ENOMEM;
	}
	if (ld.errors > 0) {
		config_free(cfg);
		return -EINVAL;
	}
	*out = cfg;
	return 0;
}

int
config_load_string(const char *name, const char *text, struct config **out,
    struct config_diag *diag)
{
	return load(name, text, out, diag);
}

/*
 * A file that holds a secret itself must not be readable by other users:
 * world-readable never, group-readable only by the agent's own group.  On
 * Windows: no ACL grant of reading to Everyone, Users or Authenticated
 * Users (acl_other_readers()).
 */
static int
check_secret_file_mode(const char *path, const struct config *cfg,
    struct config_diag *diag)
{
#ifdef _WIN32
	char who[64];
	int rc;

	for (size_t i = 0; i < cfg->noutputs; i++) {
		const struct config_output *o = &cfg->outputs[i];
		if (o->inline_secret == NULL)
			continue;
		/* The file was read a moment ago: an unreadable ACL is odd,
		 * and a secret nobody can vouch for is refused. */
		if ((rc = acl_other_readers(path, who, sizeof(who))) != 0) {
			file_diag(path, diag, "holds the secret `%s` of "
			    "[output:%s] but its ACL cannot be read (%s): give "
			    "it as ${VAR} or %s_file", o->inline_secret,
			    o->name, strerror(-rc), o->inline_secret);
			return -EACCES;
		}
		if (who[0] == '\0')
			return 0;
		file_diag(path, diag, "holds the secret `%s` of [output:%s] "
		    "but is readable by other users (its ACL lets %s read it): "
		    "run icacls \"%s\" /inheritance:r /grant:r SYSTEM:F "
		    "Administrators:F, or give it as ${VAR} or %s_file",
		    o->inline_secret, o->name, who, path, o->inline_secret);
		return -EACCES;
	}
	return 0;
#else
	struct stat sb;

	for (size_t i = 0; i < cfg->noutputs; i++) {
		const struct config_output *o = &cfg->outputs[i];
		if (o->inline_secret == NULL)
			continue;
		if (stat(path, &sb) != 0)
			return 0;
		if ((sb.st_mode & S_IROTH) == 0 && ((sb.st_mode & S_IRGRP) == 0 ||
		    sb.st_gid == getegid()))
			return 0;
		file_diag(path, diag, "holds the secret `%s` of [output:%s] "
		    "but is readable by other users (mode %04o): run chmod 600 "
		    "%s, or give it as ${VAR} or %s_file", o->inline_secret,
		    o->name, (unsigned)(sb.st_mode & 07777), path,
		    o->inline_secret);
		return -EACCES;
	}
	return 0;
#endif
}

/*
 * Read the file at path into *text (NUL-terminated, the caller frees it).
 * 0 or -errno; problems of the file itself are reported in diag.
 */
static int
read_text(const char *path, struct config_diag *diag, char **text)
{
	FILE *f;
	char *t = NULL, *n;
	size_t len = 0, cap = 0, got;
	int rc;

	*text = NULL;
	if ((f = fopen(path, "r")) == NULL) {
		rc = -errno;
		file_diag(path, diag, "cannot open: %s", strerror(-rc));
		return rc;
	}
	do {
		if (len + 4096 + 1 > cap) {
			cap = cap == 0 ? 8192 : cap * 2;
			if (cap > (16u << 20)) {
				file_diag(path, diag, "file too large");
				rc = -EFBIG;
				goto out_free;
			}
			if ((n = realloc(t, cap)) == NULL) {
				rc = -ENOMEM;
				goto out_free;
			}
			t = n;
		}
		got = fread(t + len, 1, cap - len - 1, f);
		len += got;
	} while (got != 0);
	if (ferror(f)) {
		rc = -EIO;
		goto out_free;
	}
	fclose(f);
	t[len] = '\0';
	if (strlen(t) != len) {
		file_diag(path, diag, "file holds a NUL byte: not a text file");
		free(t);
		return -EINVAL;
	}
	*text = t;
	return 0;

out_free:
	free(t);
	fclose(f);
	return rc;
}

int
config_load_file(const char *path, struct config **out,
    struct config_diag *diag)
{
	char *text;
	int rc;

	*out = NULL;
	if ((rc = read_text(path, diag, &text)) != 0)
		return rc;
	rc = load(path, text, out, diag);
	free(text);
	if (rc == 0 && (rc = check_secret_file_mode(path, *out, diag)) != 0) {
		config_free(*out);
		*out = NULL;
	}
	return rc;
}

/* Free the strings of obj, a section of kind: the keys say which. */
static void
free_strings(int kind, void *obj)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &keys[i];
		char **p = (char **)(void *)((char *)obj + k->offset);

		if (k->section != kind || (k->type != K_STRING &&
		    k->type != K_PATH && k->type != K_SECRET))
			continue;
		if (k->type == K_SECRET && *p != NULL)
			explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free_strings(SEC_AGENT, &cfg->agent);
	free_strings(SEC_WATCHDOG, &cfg->watchdog);
	free_strings(SEC_MONITOR, &cfg->monitor);
	free_strings(SEC_FILTER, &cfg->filter);
	free_strings(SEC_TAG, &cfg->tag);
	for (size_t i = 0; i < cfg->ninputs; i++)
		free_strings(SEC_INPUT, &cfg->inputs[i]);
	for (size_t i = 0; i < cfg->noutputs; i++) {
		struct config_output *o = &cfg->outputs[i];

		free_strings(SEC_OUTPUT, o);
		if (o->enrollment_password != NULL)
			explicit_bzero(o->enrollment_password,
			    strlen(o->enrollment_password));
		free(o->enrollment_password);
	}
	for (size_t i = 0; i < cfg->nredacts; i++) {
		struct config_redact *rd = &cfg->redacts[i];

		free_strings(SEC_REDACT, rd);
		if (rd->key != NULL)
			explicit_bzero(rd->key, strlen(rd->key));
		free(rd->key);
	}
	free(cfg->redacts);
	free(cfg->inputs);
	free(cfg->outputs);
	free(cfg);
}
