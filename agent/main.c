/*
 * main.c - command line, configuration, the embedded demo, exit codes.
 *
 *   sysmonfwd [-c FILE] [--once] [--check-config] [--buffer-stat]
 *             [--log-file FILE] [--version] [--help]
 *   sysmonfwd.exe [-c FILE] --install-service | --uninstall-service
 *   sysmonfwd.exe --service -c FILE          (what the SCM runs)
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage or configuration
 * error.  Without -c the agent reads /etc/sysmonfwd/sysmonfwd.conf
 * (%ProgramData%\sysmonfwd\sysmonfwd.conf on Windows); when that file does
 * not exist either, it runs its embedded default: a replay of the demo
 * events shipped in packaging/demo (on Windows, the exe's own copy of
 * them) into a private NDJSON file under $TMPDIR (%TEMP% on Windows).
 * The Windows service's side is service_win.c.
 */
#include "agent.h"
#include "buffer.h"
#include "event.h"
#include "policy.h"
#include "base.h"
#ifdef _WIN32
#include "service.h"
#endif

#include <errno.h>
#ifndef _WIN32
#include <ftw.h>
#endif
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SYSMONFWD_SOURCE_DIR
#define SYSMONFWD_SOURCE_DIR	"."
#endif
#ifndef SYSMONFWD_DATA_DIR
#define SYSMONFWD_DATA_DIR	"/usr/local/share/sysmonfwd"
#endif
#define DEMO_FILE	"indextts-sysmon.xml.log"

#define EXIT_RUNTIME	1
#define EXIT_USAGE	2

/* --log-file: the same cap as the Windows service's log. */
#define LOG_FILE_MAX	(10ULL * 1024 * 1024)
#define LOG_FILE_KEEP	5

/* The configuration read without -c. */
static const char *
default_config(void)
{
#ifdef _WIN32
	static char path[PATH_MAX];

	if (path[0] == '\0' && service_data_path("sysmonfwd.conf", path,
	    sizeof(path)) != 0)
		snprintf(path, sizeof(path), "%s",
		    "C:\\ProgramData\\sysmonfwd\\sysmonfwd.conf");
	return path;
#else
	return CONFIG_DEFAULT_PATH;
#endif
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sysmonfwd [-c FILE] [--once] [--check-config] [--buffer-stat]"
	    " [--log-file FILE] [--version] [--help]\n"
#ifdef _WIN32
	    "       sysmonfwd [-c FILE] --install-service | "
	    "--uninstall-service\n"
#endif
	    "  -c, --config FILE  configuration file (default %s;\n"
	    "                     when it does not exist: the embedded demo)\n"
	    "      --once         exit once every input is at its end and\n"
	    "                     every output has acknowledged everything\n"
	    "      --check-config validate the configuration and exit\n"
	    "      --buffer-stat  print the disk buffer's state as JSON and "
	    "exit\n"
	    "      --log-file FILE  log to FILE (UTC time on each line, cut "
	    "at 10 MiB,\n"
	    "                     FILE.1 to FILE.4 kept) instead of standard "
	    "error\n"
#ifdef _WIN32
	    "      --install-service  (as an administrator) install the "
	    "Windows service\n"
	    "                     sysmonfwd: automatic delayed start, "
	    "restarted on failure,\n"
	    "                     running this exe with -c FILE (default: the "
	    "file above,\n"
	    "                     written when missing); makes "
	    "%%ProgramData%%\\sysmonfwd\\\n"
	    "                     (state\\, log\\) for SYSTEM and "
	    "Administrators only\n"
	    "      --uninstall-service  stop and remove the service; the "
	    "data stays\n"
	    "      --service      run as the service (what the Service "
	    "Control Manager\n"
	    "                     starts; from a console: in the "
	    "foreground); logs to\n"
	    "                     %%ProgramData%%\\sysmonfwd\\log\\"
	    "sysmonfwd.log\n"
#endif
	    "      --version      print the version and exit\n"
	    "      --help         print this help and exit\n"
	    "exit codes: 0 success, 1 runtime failure, 2 usage or "
	    "configuration error\n", default_config());
}

#ifdef _WIN32
#define SEP	"\\"

static int rm_tree(const char *path);

static int
rm_child(void *arg, const char *name)
{
	char sub[PATH_MAX];

	if (snprintf(sub, sizeof(sub), "%s" SEP "%s", (const char *)arg,
	    name) >= (int)sizeof(sub))
		return -ENAMETOOLONG;
	return rm_tree(sub);
}

/*
 * Remove path and all below it.  The C runtime's remove() takes files
 * only, and mingw-w64's nftw() does not report a failure: the entries
 * are listed (fs_list()), then each directory removed once empty.  A
 * link is removed, not entered: fs_list() fails on it as on a file.
 */
static int
rm_tree(const char *path)
{
	int rc;

	if (fs_remove(path) == 0)
		return 0;
	if ((rc = fs_list(path, rm_child, (void *)path)) != 0)
		return rc == -ENOTDIR ? -EACCES : rc;
	return _rmdir(path) == 0 ? 0 : -errno;
}
#else
#define SEP	"/"

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}
#endif

#ifdef _WIN32
#include "demo_records_win.h"

/*
 * Find the demo events: SYSMONFWD_DEMO_DATA, or demo\ next to the exe.
 * NULL: the exe's own copy (demo_records_win), written out by
 * demo_setup(), serves; a build tree's path means nothing on a host.
 */
static const char *
demo_data_path(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("SYSMONFWD_DEMO_DATA");
	char exe[PATH_MAX];

	if (env != NULL && access(env, R_OK) == 0)
		return env;
	if (win_exe_dir(exe, sizeof(exe)) == 0 && snprintf(path, sizeof(path),
	    "%s\\demo\\" DEMO_FILE, exe) < (int)sizeof(path) &&
	    access(path, R_OK) == 0)
		return path;
	return NULL;
}
#else
/* Find the demo events: next to the sources, or installed. */
static const char *
demo_data_path(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("SYSMONFWD_DEMO_DATA");
	const char *dirs[] = { SYSMONFWD_SOURCE_DIR "/packaging/demo",
	    SYSMONFWD_DATA_DIR "/demo", "/usr/share/sysmonfwd/demo" };

	if (env != NULL && access(env, R_OK) == 0)
		return env;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (snprintf(path, sizeof(path), "%s/" DEMO_FILE, dirs[i]) <
		    (int)sizeof(path) && access(path, R_OK) == 0)
			return path;
	}
	return NULL;
}
#endif

/*
 * Prepare the demo's private directory (mode 0700, ours, not a link) and
 * write its configuration text into *text.  Return 0 or -errno.
 */
static int
demo_setup(char **text, char *outpath, size_t outlen)
{
	const char *tmp = getenv("TMPDIR"), *data;
	char dir[600], pos[700];
	struct stat sb;
#ifdef _WIN32
	char tdir[520], own[700];
	int rc;
#endif

	data = demo_data_path();
#ifdef _WIN32
	/*
	 * %TEMP% (the user's own) \sysmonfwd-demo, made with a DACL for
	 * this user alone, or refused when it exists and others may use it
	 * or it is a link.  TMPDIR is not a Windows name: not asked.  The
	 * records are the exe's own copy unless found on disk.
	 */
	(void)tmp;
	(void)sb;
	if ((rc = win_temp_dir(tdir, sizeof(tdir))) != 0)
		return rc;
	if (snprintf(dir, sizeof(dir), "%ssysmonfwd-demo", tdir) >=
	    (int)sizeof(dir))
		return -ENAMETOOLONG;
	if ((rc = win_private_dir(dir)) != 0 && rc != -EPERM)
		return rc;
	if (rc == -EPERM) {
#else
	if (data == NULL) {
		log_errorx("no configuration file (%s) and no demo data "
		    "found; give one with -c FILE", default_config());
		return -ENOENT;
	}
	if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 512)
		tmp = "/tmp";
	if (snprintf(dir, sizeof(dir), "%s/sysmonfwd-demo-%u", tmp,
	    (unsigned)getuid()) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &sb) != 0)
		return -errno;
	if (!S_ISDIR(sb.st_mode) || sb.st_uid != getuid() ||
	    (sb.st_mode & 0077) != 0) {
#endif
		log_errorx("%s is not a private directory of ours; remove it "
		    "and try again", dir);
		return -EPERM;
	}
	/* A demo replays from the start every time: fresh state. */
	if (snprintf(outpath, outlen, "%s" SEP "events.ndjson", dir) >=
	    (int)outlen || snprintf(pos, sizeof(pos), "%s" SEP "state", dir) >=
	    (int)sizeof(pos))
		return -ENAMETOOLONG;
	unlink(outpath);
#ifdef _WIN32
	if ((rc = rm_tree(pos)) != 0 && rc != -ENOENT) {
		errno = -rc;
		log_warn("cannot clear %s", pos);
	}
	if (data == NULL) {
		/* The exe's own copy, into the private directory. */
		if (snprintf(own, sizeof(own), "%s" SEP DEMO_FILE, dir) >=
		    (int)sizeof(own))
			return -ENAMETOOLONG;
		if ((rc = file_write_atomic(own, demo_records_win,
		    strlen(demo_records_win), 0600, false)) != 0)
			return rc;
		data = own;
	}
#else
	if (nftw(pos, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 &&
	    errno != ENOENT)
		log_warn("cannot clear %s", pos);
#endif
	if (asprintf(text,
	    "# sysmonfwd embedded demo configuration\n"
	    "[agent]\n"
	    "name = sysmonfwd-demo\n"
	    "state_dir = %s" SEP "state\n"
	    "[input:demo]\n"
	    "type = file\n"
	    "path = %s\n"
	    "follow = false\n"
	    "[output:demo]\n"
	    "type = file\n"
	    "path = %s\n", dir, data, outpath) < 0)
		return -ENOMEM;
	log_info("no configuration file (%s): running the embedded demo, "
	    "a replay of %s", default_config(), data);
	return 0;
}

struct stat_cursor {
	char				name[CONFIG_NAME_MAX + 1];
	struct buffer_cursor_stats	cs;
};

struct stat_cursors {
	struct stat_cursor	c[CONFIG_MAX_OUTPUTS * 2];
	size_t			n;
};

static void
stat_collect(void *arg, const char *name,
    const struct buffer_cursor_stats *cs)
{
	struct stat_cursors *sc = arg;

	if (sc->n == sizeof(sc->c) / sizeof(sc->c[0]) ||
	    strlen(name) > CONFIG_NAME_MAX)
		return;
	snprintf(sc->c[sc->n].name, sizeof(sc->c[0].name), "%s", name);
	sc->c[sc->n++].cs = *cs;
}

/*
 * --buffer-stat: one JSON object describing the ring of cfg, read without
 * changing it (the agent may be running).
 */
static int
buffer_stat(const struct config *cfg)
{
	struct buffer_stats st;
	struct stat_cursors sc;
	struct strbuf out = { 0 };
	char dir[PATH_MAX];
	int64_t now = time_now_ms();
	int rc;

	memset(&sc, 0, sizeof(sc));
	if (snprintf(dir, sizeof(dir), "%s/buffer", cfg->agent.state_dir) >=
	    (int)sizeof(dir))
		return -ENAMETOOLONG;
	if ((rc = buffer_inspect(dir, &st, stat_collect, &sc)) != 0) {
		log_errorx("cannot read the buffer in %s: %s", dir,
		    strerror(-rc));
		return rc;
	}
	strbuf_adds(&out, "{\"buffer_dir\":");
	json_add_str(&out, dir, strlen(dir));
	strbuf_addf(&out, ",\"segments\":%" PRIu64 ",\"disk_bytes\":%" PRIu64
	    ",\"raw_bytes\":%" PRIu64 ",\"records\":%" PRIu64
	    ",\"compression_ratio\":%.2f,\"first_seq\":%" PRIu64
	    ",\"last_seq\":%" PRIu64 ",\"durable_seq\":%" PRIu64
	    ",\"max_size\":%" PRIu64 ",\"outputs\":{", st.segments,
	    st.disk_bytes, st.raw_bytes, st.records, st.disk_bytes > 0 ?
	    (double)st.raw_bytes / (double)st.disk_bytes : 0.0, st.first_seq,
	    st.last_seq, st.durable_seq, cfg->buffer.max_size);
	for (size_t i = 0; i < cfg->noutputs; i++) {
		const char *name = cfg->outputs[i].name;
		struct buffer_cursor_stats cs = { 0 };
		bool found = false;

		for (size_t k = 0; k < sc.n; k++)
			if (strcmp(sc.c[k].name, name) == 0) {
				cs = sc.c[k].cs;
				found = true;
			}
		if (!found) {
			/* Never started: everything stored is unread. */
			cs.acked = st.first_seq - 1;
			cs.unacked = st.records;
			cs.unacked_bytes = st.raw_bytes;
		}
		if (i > 0)
			strbuf_addc(&out, ',');
		json_add_str(&out, name, strlen(name));
		strbuf_addf(&out, ":{\"acked_seq\":%" PRIu64
		    ",\"unacked_records\":%" PRIu64 ",\"unacked_bytes\":%"
		    PRIu64 ",\"dropped_records\":%" PRIu64
		    ",\"oldest_unacked_age_s\":%.3f}", cs.acked,
		    cs.unacked, cs.unacked_bytes, cs.dropped, cs.oldest_ms > 0 &&
		    cs.unacked > 0 ? (double)(now - cs.oldest_ms) / 1000.0 :
		    0.0);
	}
	strbuf_adds(&out, "}}\n");
	fputs(out.s, stdout);
	strbuf_free(&out);
	return 0;
}

static void
print_diag(const struct config_diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		/* A service has no stderr: the log file has them. */
		if (log_to_file())
			log_errorx("%s", d->msgs[i]);
		else
			fprintf(stderr, "%s\n", d->msgs[i]);
	}
}

/* A problem of a rules file, "file:line: problem", as print_diag(). */
static void
print_policy_problem(void *arg, const char *msg)
{
	(void)arg;
	if (log_to_file())
		log_errorx("%s", msg);
	else
		fprintf(stderr, "%s\n", msg);
}

/*
 * The [filter] and [tag] rules files are part of the configuration: read
 * them now, so that --check-config checks them and a run refuses a bad
 * one with the configuration's exit code.  0 or EXIT_USAGE/EXIT_RUNTIME.
 */
static int
check_policy(const struct config *cfg)
{
	struct policy *p = NULL;
	int rc;

	rc = policy_new(cfg, &p, print_policy_problem, NULL);
	policy_free(p);
	if (rc == -ENOMEM) {
		log_errorx("out of memory reading the rules files");
		return EXIT_RUNTIME;
	}
	return rc == 0 ? 0 : EXIT_USAGE;
}

/* What the command line asks for. */
struct cli {
	const char		*cfgpath;	/* NULL: default file or demo */
	const char		*logfile;	/* --log-file; NULL: stderr */
	bool			 check;		/* --check-config */
	bool			 bstat;		/* --buffer-stat */
	bool			 service;	/* --service (Windows) */
	bool			 install;	/* --install-service */
	bool			 uninstall;	/* --uninstall-service */
	struct agent_opts	 opts;
};

/*
 * Read the command line into *cli.  Return -1 to go on, or the exit code
 * when there is nothing more to do (--version, --help, a usage error).
 */
static int
cli_parse(int argc, char **argv, struct cli *cli)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, 'o' },
		{ "check-config", no_argument, NULL, 'n' },
		{ "buffer-stat", no_argument, NULL, 'b' },
		{ "log-file", required_argument, NULL, 'l' },
#ifdef _WIN32
		{ "service", no_argument, NULL, 'S' },
		{ "install-service", no_argument, NULL, 'I' },
		{ "uninstall-service", no_argument, NULL, 'U' },
#else
		/* Known, to say so rather than "unrecognized". */
		{ "service", no_argument, NULL, 'W' },
		{ "install-service", no_argument, NULL, 'W' },
		{ "uninstall-service", no_argument, NULL, 'W' },
#endif
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(cli, 0, sizeof(*cli));
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cli->cfgpath = optarg;
			break;
		case 'o':
			cli->opts.once = true;
			break;
		case 'n':
			cli->check = true;
			break;
		case 'b':
			cli->bstat = true;
			break;
		case 'l':
			cli->logfile = optarg;
			break;
		case 'S':
			cli->service = true;
			break;
		case 'I':
			cli->install = true;
			break;
		case 'U':
			cli->uninstall = true;
			break;
		case 'W':
			fprintf(stderr, "sysmonfwd: %s is for the Windows "
			    "build (sysmonfwd.exe); on Linux the systemd unit "
			    "packaging/sysmonfwd.service runs the agent\n",
			    argv[optind - 1]);
			return EXIT_USAGE;
		case 'V':
			printf("sysmonfwd %s\n", SYSMONFWD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sysmonfwd: unexpected argument: %s\n",
		    argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((cli->install || cli->uninstall) && (cli->install +
	    cli->uninstall + cli->service + cli->check + cli->bstat +
	    cli->opts.once > 1 || cli->logfile != NULL ||
	    (cli->uninstall && cli->cfgpath != NULL))) {
		fprintf(stderr, "sysmonfwd: --install-service takes only -c "
		    "FILE, --uninstall-service nothing else\n");
		return EXIT_USAGE;
	}
	return -1;
}

/*
 * Load the configuration into *cfg: cfgpath, else the default file, else
 * the embedded demo (then *demo is set and demo_out names its output).
 * Return -1 to go on, or the exit code.
 */
static int
config_get(const char *cfgpath, struct config **cfg, bool *demo,
    char *demo_out, size_t outlen)
{
	struct config_diag diag = { 0 };
	char *demo_text = NULL;
	int rc;

	if (cfgpath == NULL && access(default_config(), F_OK) == 0)
		cfgpath = default_config();
	*demo = cfgpath == NULL;
	if (*demo && (rc = demo_setup(&demo_text, demo_out, outlen)) != 0) {
		if (rc != -ENOENT)
			log_errorx("cannot prepare the demo: %s",
			    strerror(-rc));
		return rc == -ENOENT ? EXIT_USAGE : EXIT_RUNTIME;
	}
	if (*demo)
		rc = config_load_string("<embedded demo>", demo_text, cfg,
		    &diag);
	else
		rc = config_load_file(cfgpath, cfg, &diag);
	free(demo_text);
	if (rc == -ENOMEM) {
		/* Not a configuration error: nothing to fix in the file. */
		config_diag_free(&diag);
		log_errorx("out of memory reading the configuration");
		return EXIT_RUNTIME;
	}
	if (rc != 0) {
		print_diag(&diag);
		config_diag_free(&diag);
		return EXIT_USAGE;
	}
	config_diag_free(&diag);
	return -1;
}

/* Run the agent on cfg and say what it did (demo_out: the demo's file). */
static int
run(const struct config *cfg, const struct agent_opts *opts,
    const char *demo_out)
{
	struct agent_summary sum;
	double secs;

	memset(&sum, 0, sizeof(sum));
	if (agent_run(cfg, opts, &sum) != 0)
		return EXIT_RUNTIME;
	secs = (double)sum.elapsed_ms / 1000.0;
	log_info("done: %" PRIu64 " records read, %" PRIu64
	    " delivered to every output, %" PRIu64 " parse errors "
	    "(forwarded tagged), %" PRIu64 " cut at max_line_size, %"
	    PRIu64 " non-record lines ignored, %" PRIu64 " dropped by "
	    "[filter], in %.2f s (%.0f records/s)", sum.records_read,
	    sum.delivered, sum.parse_errors, sum.truncated,
	    sum.lines_ignored, sum.filtered, secs,
	    secs > 0 ? (double)sum.records_read / secs : 0.0);
	if (demo_out != NULL)
		printf("demo: %" PRIu64 " documents written to %s\n",
		    sum.delivered, demo_out);
	return 0;
}

/* Load the configuration and do what the command line asks. */
static int
agent_main(void *arg)
{
	const struct cli *cli = arg;
	struct config *cfg = NULL;
	char demo_out[PATH_MAX];
	bool demo;
	int code;

	if ((code = config_get(cli->cfgpath, &cfg, &demo, demo_out,
	    sizeof(demo_out))) >= 0)
		return code;
	if (!cli->bstat && (code = check_policy(cfg)) != 0) {
		config_free(cfg);
		return code;
	}
	if (cli->check) {
		printf("configuration OK\n");
		code = 0;
	} else if (cli->bstat) {
		code = buffer_stat(cfg) == 0 ? 0 : EXIT_RUNTIME;
	} else {
		log_set_level((enum log_level)cfg->agent.log_level);
		code = run(cfg, &cli->opts, demo ? demo_out : NULL);
	}
	config_free(cfg);
	return code;
}

int
main(int argc, char **argv)
{
	struct cli cli;
	int code, rc;

	log_init("sysmonfwd", LOG_LEVEL_INFO);
#ifdef _WIN32
	/* Documents are bytes: no "\r\n" for "\n" on standard output, and
	 * none taken away from standard input (path = -). */
	(void)_setmode(_fileno(stdout), _O_BINARY);
	(void)_setmode(_fileno(stdin), _O_BINARY);
#endif
	if ((code = cli_parse(argc, argv, &cli)) >= 0)
		return code;
#ifdef _WIN32
	if (cli.install)
		return service_install(cli.cfgpath);
	if (cli.uninstall)
		return service_uninstall();
	/* The service opens its own log (--log-file or ProgramData's). */
	if (cli.service && (code = service_run(agent_main, &cli,
	    cli.logfile)) >= 0)
		return code;
	if (cli.service)
		log_warnx("--service: not started by the Service Control "
		    "Manager: running in the foreground");
#endif
	if (cli.logfile != NULL && (rc = log_open_file(cli.logfile,
	    LOG_FILE_MAX, LOG_FILE_KEEP)) != 0) {
		log_errorx("cannot open the log file %s: %s", cli.logfile,
		    strerror(-rc));
		return EXIT_RUNTIME;
	}
	return agent_main(&cli);
}
