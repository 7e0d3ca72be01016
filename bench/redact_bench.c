/*
 * redact_bench.c - what [redact:NAME] costs per record, on the real
 * Sysmon corpus.  A benchmark run by hand, never a test: it is not
 * registered with ctest.
 *
 * It loads every record line of CORPUS/windows-xml/ *.log and
 * CORPUS/linux-syslog/ (the syslog sample) into memory, and a second set:
 * the same records with the secrets of issue 15 written into every
 * CommandLine and ParentCommandLine (" --text 机密会议纪要 --user_id
 * u_88765" appended to the value), so that every record there is
 * rewritten.  Then, for --seconds each:
 *
 *   parse     event_parse() of each record: what policy_apply() does for
 *             every record anyway (the baseline: the agent without
 *             redaction pays it too when it has a policy, and expat is
 *             about half of the agent's time per record);
 *   redact    what the policy does for [redact:tts] (arguments = --text,
 *             --user_id, replace = hmac): redact_may_change(), and for a
 *             record where a name occurs, redact_record(), the hook's work
 *             after the parse (which only those records then need);
 *
 * Times are the process's CPU time (CLOCK_PROCESS_CPUTIME_ID), so that a
 * busy machine slows the figures less than it would wall-clock ones,
 * on the plain corpus (most records have no command line, and none of
 * the arguments) and on the edited one (every command line is
 * rewritten).  It reports ns per record for each, and the redaction as a
 * share of the parse.
 *
 *   cmake -S . -B build-red && cmake --build build-red -j2
 *   build-red/bench/redact_bench --corpus ../shared/corpus [--seconds 3]
 *
 * Exit status: 0; 1 when a record that should be rewritten was not; 2 on
 * usage errors.
 */
#include "policy.h"
#include "config.h"
#include "event.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct rec {
	char	*s;
	size_t	 n;
};

struct set {
	struct rec	*v;
	size_t		 n, cap;
};

static void
add(struct set *s, const char *p, size_t n)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		if ((s->v = realloc(s->v, s->cap * sizeof(*s->v))) == NULL)
			exit(2);
	}
	if ((s->v[s->n].s = malloc(n + 1)) == NULL)
		exit(2);
	memcpy(s->v[s->n].s, p, n);
	s->v[s->n].s[n] = '\0';
	s->v[s->n].n = n;
	s->n++;
}

static void
load_file(struct set *s, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (f == NULL)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (memmem(line, (size_t)n, "<Event", 6) != NULL)
			add(s, line, (size_t)n);
	}
	free(line);
	fclose(f);
}

static void
load_dir(struct set *s, const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), k = strlen(suffix);

		if (l < k || strcmp(e->d_name + l - k, suffix) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		load_file(s, path);
	}
	closedir(d);
}

/* rec with the secrets appended to each command line's value. */
static void
add_secrets(struct set *out, const struct rec *r)
{
	static const char secret[] = " --text 机密会议纪要 --user_id u_88765";
	char *buf = malloc(r->n * 2 + 256);
	size_t o = 0;

	if (buf == NULL)
		exit(2);
	for (size_t i = 0; i < r->n;) {
		static const char *names[] = { "Name='CommandLine'>",
		    "Name='ParentCommandLine'>", "Name=\"CommandLine\">",
		    "Name=\"ParentCommandLine\">" };
		const char *hit = NULL;

		for (size_t k = 0; k < 4; k++) {
			size_t l = strlen(names[k]);
			if (r->n - i >= l && memcmp(r->s + i, names[k], l) ==
			    0) {
				memcpy(buf + o, names[k], l);
				o += l;
				i += l;
				hit = names[k];
				break;
			}
		}
		if (hit == NULL) {
			buf[o++] = r->s[i++];
			continue;
		}
		while (i < r->n && r->s[i] != '<')
			buf[o++] = r->s[i++];
		memcpy(buf + o, secret, sizeof(secret) - 1);
		o += sizeof(secret) - 1;
	}
	add(out, buf, o);
	free(buf);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ns per record of parsing set, over at least secs seconds. */
static double
measure_parse(const struct set *set, struct event_parser *ep, double secs,
    bool *is_linux)
{
	struct sysmon_event ev;
	char err[128];
	size_t done = 0;
	double t0 = now_s(), t;

	do {
		for (size_t i = 0; i < set->n; i++) {
			const struct rec *x = &set->v[i];

			if (event_parse(ep, x->s, x->n, &ev, err,
			    sizeof(err)) == 0 && done == 0)
				is_linux[i] = ev.linux_sysmon;
		}
		done++;
		t = now_s();
	} while (t - t0 < secs);
	return (t - t0) * 1e9 / ((double)done * (double)set->n);
}

/*
 * ns per record of redacting set alone (redact_record(), as the hook
 * does it after the policy's parse), over at least secs seconds;
 * *rewritten: records rewritten in one pass.
 */
static double
measure_redact(const struct set *set, struct redactor *r, double secs,
    const bool *is_linux, size_t *rewritten)
{
	struct strbuf out = { 0 };
	size_t done = 0;
	double t0 = now_s(), t;

	*rewritten = 0;
	do {
		for (size_t i = 0; i < set->n; i++) {
			const struct rec *x = &set->v[i];
			bool changed;

			/* As policy_apply() does: a record none of whose
			 * names occur is left alone (and not parsed). */
			if (!redact_may_change(r, x->s, x->n))
				continue;
			strbuf_reset(&out);
			if (redact_record(r, x->s, x->n, is_linux[i], true, &out,
			    &changed) != 0)
				exit(1);
			if (changed && done == 0)
				(*rewritten)++;
		}
		done++;
		t = now_s();
	} while (t - t0 < secs);
	strbuf_free(&out);
	return (t - t0) * 1e9 / ((double)done * (double)set->n);
}

int
main(int argc, char **argv)
{
	const char *corpus = NULL;
	double secs = 3;
	char dir[4096], keypath[] = "/tmp/redact_bench-key-XXXXXX";
	char conf[1024];
	struct set plain = { 0 }, secret = { 0 };
	struct config *cfg;
	struct config_diag d = { 0 };
	struct redactor *r;
	struct event_parser *ep;
	double p0, r0, p1, r1;
	size_t w0, w1;
	bool *lin;
	int c, fd;
	static const struct option opts[] = {
		{ "corpus", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'c')
			corpus = optarg;
		else if (c == 's')
			secs = strtod(optarg, NULL);
		else
			return 2;
	}
	if (corpus == NULL || secs <= 0) {
		fprintf(stderr, "usage: redact_bench --corpus DIR "
		    "[--seconds S]\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/windows-xml", corpus);
	load_dir(&plain, dir, ".log");
	snprintf(dir, sizeof(dir), "%s/linux-syslog", corpus);
	load_dir(&plain, dir, ".log");
	if (plain.n == 0) {
		fprintf(stderr, "redact_bench: no records under %s\n", corpus);
		return 2;
	}
	for (size_t i = 0; i < plain.n; i++)
		add_secrets(&secret, &plain.v[i]);

	if ((fd = mkstemp(keypath)) < 0 || write(fd, "bench-key-0123456789\n",
	    21) != 21 || close(fd) != 0)
		return 2;
	snprintf(conf, sizeof(conf), "[input:in]\ntype = file\npath = -\n"
	    "[output:o]\ntype = stdout\n"
	    "[redact:tts]\narguments = --text, --user_id\nkey_file = %s\n",
	    keypath);
	if (config_load_string("bench.conf", conf, &cfg, &d) != 0) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", d.msgs[i]);
		return 2;
	}
	unlink(keypath);
	if (redact_new(cfg, &r, NULL, NULL) != 0 || event_parser_new(&ep) != 0)
		return 2;

	if ((lin = calloc(plain.n, sizeof(*lin))) == NULL)
		return 2;
	p0 = measure_parse(&plain, ep, secs, lin);
	r0 = measure_redact(&plain, r, secs, lin, &w0);
	p1 = measure_parse(&secret, ep, secs, lin);
	r1 = measure_redact(&secret, r, secs, lin, &w1);
	printf("records: %zu (corpus: windows-xml and linux-syslog)\n",
	    plain.n);
	printf("%-34s %14s %15s %9s %10s\n", "set", "parse ns/rec",
	    "redact ns/rec", "redact %", "rewritten");
	printf("%-34s %14.0f %15.0f %8.1f%% %10zu\n", "corpus as it is", p0,
	    r0, 100 * r0 / p0, w0);
	printf("%-34s %14.0f %15.0f %8.1f%% %10zu\n",
	    "corpus, secrets in every cmdline", p1, r1, 100 * r1 / p1, w1);
	free(lin);
	event_parser_free(ep);
	redact_free(r);
	config_free(cfg);
	config_diag_free(&d);
	return w1 == 0 ? 1 : 0;
}
