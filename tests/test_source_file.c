/*
 * test_source_file.c - the file input (agent/source/source_file.c): how Sysmon for
 * Linux lines framed by rsyslog and syslog-ng are classified, and glob
 * patterns (several files followed at once, files appearing, rotating,
 * going away, the cap, positions kept per file across restarts).
 *
 * Each test gets the fixture of unit_fixture.h (a temporary directory with
 * a ring and one cursor), reads with source_poll() and drains the ring
 * with collect().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "source.h"
#include "render.h"
#include "base.h"
#include "unit_fixture.h"

/* The fixture of unit_fixture.h, reading the pattern dir/logs/sysmon*.log
 * with lines of at most 64 KiB. */
static int
fx_setup(void **state)
{
	struct fixture *f = fx_new("sysmonfwd-sf", 1 << 16);

	f->in.path = f->pattern;
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* dir/logs/name */
static const char *
lpath(const struct fixture *f, const char *name)
{
	static char path[2][256];
	static int i;

	i = !i;
	snprintf(path[i], sizeof(path[i]), "%s/%s", f->logs, name);
	return path[i];
}

static int
count_pos_files(const struct fixture *f)
{
	char dir[128];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/positions", f->dir);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		n += strstr(de->d_name, ".pos") != NULL;
	closedir(d);
	return n;
}

/* ---- syslog framing ---------------------------------------------------- */

/* The first Sysmon for Linux record of the corpus, from "<Event". */
static char *
corpus_record(void)
{
	char path[512], *line = NULL, *rec = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/linux-syslog/elastic-integrations_"
	    "sysmon_linux_sample_sysmon.log", CORPUS_DIR);
	assert_non_null(fp = fopen(path, "r"));
	while ((n = getline(&line, &cap, fp)) > 0) {
		char *ev = strstr(line, "<Event>");
		if (ev != NULL) {
			ev[strcspn(ev, "\r\n")] = '\0';
			assert_non_null(rec = strdup(ev));
			break;
		}
	}
	free(line);
	fclose(fp);
	assert_non_null(rec);
	return rec;
}

static char *
render(const char *raw, size_t len)
{
	struct event_parser *p;
	struct render_ctx ctx = { .agent_name = "a", .host_name = "h" };
	struct buffer_rec rec = { .seq = 1, .time_ms = 1700000000123LL,
	    .source = "t", .data = raw, .len = len };
	struct strbuf sb = { 0 };
	char *doc;

	assert_int_equal(event_parser_new(&p), 0);
	assert_int_equal(render_ecs(p, &ctx, &rec, &sb), RENDER_OK);
	assert_non_null(doc = strndup(sb.s, sb.len));
	strbuf_free(&sb);
	event_parser_free(p);
	return doc;
}

static const char *const framed[] = {
	/* RFC 3164 with its PRI, as syslog-ng writes it to a file. */
	"<14>Oct 24 17:05:38 host sysmon[1234]: ",
	/* RFC 3164, fractions of a second (syslog-ng frac_digits). */
	"Oct 24 17:05:38.412 host sysmon[1234]: ",
	/* rsyslog RSYSLOG_FileFormat, syslog-ng ts_format(iso). */
	"2021-10-24T17:05:38.412656+00:00 host sysmon[1234]: ",
	"<14>2021-10-24T17:05:38+00:00 host sysmon[1234]: ",
	/* RFC 5424 (rsyslog RSYSLOG_SyslogProtocol23Format, syslog-ng). */
	"<14>1 2021-10-24T17:05:38.412Z host sysmon 1234 - - ",
	"<14>1 2021-10-24T17:05:38.412Z host sysmon 1234 - [x@1 a=\"b\"] "
	    "\xEF\xBB\xBF",
	"<14>1 2021-10-24T17:05:38.412Z host sysmon 1234 ID47 "
	    "[x@1 a=\"b\\\"]\"][y@2 c=\"d\"] \xEF\xBB\xBF",
	"<14>1 - host sysmon - - - ",
};

static const char *const others[] = {
	"\xEF\xBB\xBFOct 24 17:05:31 host sysmon[3041]: Sysmon v1.0.0",
	"<30>Oct 24 17:05:31 host sysmon[3041]: Configuration file validated.",
	"Oct  4 17:05:31.123456 host cron[1]: (root) CMD (true)",
	"2021-10-24T17:05:31.000000+00:00 host sshd[1]: Accepted publickey",
	"2021-10-24 17:05:31 host sshd[1]: space instead of T",
	"<86>1 2021-10-24T17:05:31.412Z host sshd 1 - [x@1 a=\"b\"] "
	    "\xEF\xBB\xBFsession opened",
	"<13>1 - host app - - - no timestamp",
	"<191>12 2021-10-24T17:05:31Z host app - - - version 12",
};

static void
framed_sysmon_lines_are_records(void **state)
{
	struct fixture *f = *state;
	const size_t nf = sizeof(framed) / sizeof(framed[0]);
	const size_t no = sizeof(others) / sizeof(others[0]);
	char *ev = corpus_record(), *want, *text, *out;
	size_t cap = 1 << 20, used = 0, i, k;
	struct buffer_rec r[64];
	struct source_stats st;
	struct source *s;
	FILE *fp;

	f->in.path = (char *)lpath(f, "syslog");
	/* Non-record lines first, then one framed record per format, with
	 * the framings mixed in between. */
	assert_non_null(text = malloc(cap));
	for (i = 0; i < no; i++)
		used += (size_t)snprintf(text + used, cap - used, "%s\n",
		    others[i]);
	for (i = 0; i < nf; i++)
		used += (size_t)snprintf(text + used, cap - used, "%s%s\n",
		    framed[i], ev);
	assert_true(used < cap);
	assert_non_null(fp = fopen(f->in.path, "w"));
	assert_int_equal(fwrite(text, 1, used, fp), used);
	fclose(fp);

	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	source_get_stats(s, &st);
	assert_int_equal(st.records, nf);
	assert_int_equal(st.ignored, no);
	source_close(s, f->buf);

	/* Each record renders to the document of the unframed record. */
	want = render(ev, strlen(ev));
	k = 0;
	while ((i = buffer_read(f->cur, r, 64, 1 << 20)) > 0) {
		for (size_t j = 0; j < i; j++, k++) {
			assert_true(k < nf);
			assert_int_equal(r[j].len, strlen(framed[k]) +
			    strlen(ev));
			assert_int_equal(memcmp(r[j].data, framed[k],
			    strlen(framed[k])), 0);
			out = render(r[j].data, r[j].len);
			if (strcmp(out, want) != 0)
				fail_msg("framing %zu: %s\n  differs from %s",
				    k, out, want);
			free(out);
		}
		assert_int_equal(buffer_ack(f->cur, r[i - 1].seq), 0);
	}
	assert_int_equal(k, nf);
	free(want);
	free(text);
	free(ev);
}

static void
framed_lines_kept_with_keep_other_lines(void **state)
{
	struct fixture *f = *state;
	struct source_stats st;
	struct source *s;
	char out[4096];

	f->in.path = (char *)lpath(f, "syslog");
	f->in.keep_other_lines = true;
	write_file(f->in.path, "<14>1 - host app - - - one\n"
	    "Oct 24 17:05:38.5 host app: two\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	source_get_stats(s, &st);
	assert_int_equal(st.records, 2);
	assert_int_equal(st.ignored, 0);
	source_close(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 2);
}

/* ---- glob patterns ----------------------------------------------------- */

static void
glob_reads_every_match_interleaved(void **state)
{
	struct fixture *f = *state;
	struct source_stats st;
	struct source *s;
	char out[4096];

	write_file(lpath(f, "sysmon-a.log"), "<Event>a1</Event>\n"
	    "<Event>a2</Event>\n<Event>a3</Event>\n", "w");
	write_file(lpath(f, "sysmon-b.log"), "<Event>b1</Event>\n"
	    "<Event>b2</Event>\n<Event>b3</Event>\n", "w");
	write_file(lpath(f, "sysmon-c.txt"), "<Event>no</Event>\n", "w");
	write_file(lpath(f, "other.log"), "<Event>no</Event>\n", "w");
	assert_int_equal(mkdir(lpath(f, "sysmon-dir.log"), 0700), 0);
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	assert_string_equal(source_name(s), "t");
	assert_int_equal(source_wait_fd(s), -1);
	/* A budget of one byte reads one line per member and poll. */
	for (int i = 0; i < 20 && !source_finished(s); i++)
		assert_true(source_poll(s, f->buf, 1) >= 0);
	assert_true(source_finished(s));
	assert_true(source_at_end(s));
	assert_int_equal(collect(f, out, sizeof(out)), 6);
	assert_string_equal(out, "<Event>a1</Event>|<Event>b1</Event>|"
	    "<Event>a2</Event>|<Event>b2</Event>|<Event>a3</Event>|"
	    "<Event>b3</Event>|");
	source_get_stats(s, &st);
	assert_int_equal(st.records, 6);
	assert_int_equal(st.bytes, 18 * 6);
	source_close(s, f->buf);
}

static void
glob_without_match(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[256];

	/* Without follow: an error at once, like a missing plain path. */
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s),
	    -ENOENT);
	/* With follow: waited for. */
	f->in.follow = true;
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	wait_poll(s, f->buf);
	assert_true(source_at_end(s));
	assert_false(source_finished(s));
	assert_true(source_next_poll(s, 0) > 0);
	write_file(lpath(f, "sysmon.log"), "<Event>late</Event>\n", "w");
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>late</Event>|");
	source_close(s, f->buf);
}

static void
glob_follows_new_rotated_and_removed_files(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[4096], line[64];

	f->in.follow = true;
	snprintf(f->pattern, sizeof(f->pattern), "%s/sysmon.log*", f->logs);
	write_file(lpath(f, "sysmon.log"),
	    "<Event>1</Event>\n<Event>2</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 2);

	/* A file appearing later is read from its start. */
	write_file(lpath(f, "sysmon.log.x"), "<Event>x</Event>\n", "w");
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>x</Event>|");

	/* Rotation by rename within the pattern: nothing is read twice, and
	 * a last line (even without its newline) written before the rename
	 * comes out once. */
	write_file(lpath(f, "sysmon.log"), "<Event>3</Event>\n<Event>4", "a");
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_int_equal(rename(lpath(f, "sysmon.log"),
	    lpath(f, "sysmon.log.1")), 0);
	write_file(lpath(f, "sysmon.log"), "<Event>5</Event>\n", "w");
	wait_poll(s, f->buf);
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>5</Event>|");
	write_file(lpath(f, "sysmon.log.1"), "</Event>\n", "a");
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>4</Event>|");

	/* Compressed rotations are not read. */
	write_file(lpath(f, "sysmon.log.2.gz"), "<Event>gz</Event>\n", "w");
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 0);

	/* Many rotations: every record once, and the positions stay few
	 * (one per file followed at once, whatever the names). */
	for (int i = 0; i < 20; i++) {
		snprintf(line, sizeof(line), "<Event>r%d</Event>\n", i);
		write_file(lpath(f, "sysmon.log"), line, "a");
		if (i % 2 == 0)
			wait_poll(s, f->buf);
		assert_int_equal(rename(lpath(f, "sysmon.log"),
		    lpath(f, "sysmon.log.1")), 0);
		write_file(lpath(f, "sysmon.log"), "", "w");
		wait_poll(s, f->buf);
		wait_poll(s, f->buf);
		assert_int_equal(collect(f, out, sizeof(out)), 1);
		snprintf(line, sizeof(line), "<Event>r%d</Event>|", i);
		assert_string_equal(out, line);
	}
	source_checkpoint(s, buffer_durable_seq(f->buf), true);
	assert_true(count_pos_files(f) <= 3);

	/* A file removed after being read is closed; nothing repeats. */
	assert_int_equal(unlink(lpath(f, "sysmon.log.x")), 0);
	assert_int_equal(unlink(lpath(f, "sysmon.log.1")), 0);
	wait_poll(s, f->buf);
	wait_poll(s, f->buf);
	write_file(lpath(f, "sysmon.log"), "<Event>6</Event>\n", "a");
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>6</Event>|");
	assert_true(buffer_sync(f->buf) == 0);
	source_checkpoint(s, buffer_durable_seq(f->buf), true);
	assert_true(count_pos_files(f) <= 2);
	source_close(s, f->buf);
}

static void
glob_resumes_each_file_by_inode(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[4096];

	write_file(lpath(f, "sysmon-a.log"), "<Event>a1</Event>\n", "w");
	write_file(lpath(f, "sysmon-b.log"), "<Event>b1</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	assert_int_equal(collect(f, out, sizeof(out)), 2);
	assert_int_equal(buffer_sync(f->buf), 0);
	source_close(s, f->buf);	/* durable: saved */

	/* While stopped: a renamed (a -> c) and grown, b grown, d new. */
	assert_int_equal(rename(lpath(f, "sysmon-a.log"),
	    lpath(f, "sysmon-c.log")), 0);
	write_file(lpath(f, "sysmon-c.log"), "<Event>a2</Event>\n", "a");
	write_file(lpath(f, "sysmon-b.log"), "<Event>b2</Event>\n", "a");
	write_file(lpath(f, "sysmon-d.log"), "<Event>d1</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	assert_int_equal(collect(f, out, sizeof(out)), 3);
	assert_non_null(strstr(out, "<Event>a2</Event>|"));
	assert_non_null(strstr(out, "<Event>b2</Event>|"));
	assert_non_null(strstr(out, "<Event>d1</Event>|"));
	assert_int_equal(buffer_sync(f->buf), 0);
	source_close(s, f->buf);

	/* Nothing new: nothing read. */
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	assert_int_equal(collect(f, out, sizeof(out)), 0);
	source_close(s, f->buf);

	/* A file truncated and rewritten while stopped: from its start. */
	write_file(lpath(f, "sysmon-b.log"), "<Event>B</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>B</Event>|");
	source_close(s, f->buf);
}

static void
glob_resumes_from_the_ring_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[4096];

	write_file(lpath(f, "sysmon-a.log"), "<Event>a1</Event>\n", "w");
	write_file(lpath(f, "sysmon-b.log"), "<Event>b1</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	/* The records reach the disk with their positions; the position
	 * files are never written (a crash). */
	assert_int_equal(buffer_sync(f->buf), 0);
	source_close(s, NULL);
	assert_int_equal(count_pos_files(f), 0);
	buffer_close(f->buf);
	fx_open_buffer(f);
	assert_int_equal(collect(f, out, sizeof(out)), 2);

	write_file(lpath(f, "sysmon-a.log"), "<Event>a2</Event>\n", "a");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>a2</Event>|");
	source_close(s, f->buf);
}

static int
count_segments(const struct fixture *f)
{
	char dir[128];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/buffer", f->dir);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, "seg-", 4) == 0;
	closedir(d);
	return n;
}

/*
 * A member resumed from the ring's checkpoint and not moving since (at
 * its end) sets no newer checkpoint, and the ring deletes the segment
 * holding the old one once the outputs acknowledged it: its position file
 * must hold that position from the opening on, or a crash after the
 * deletion reads the file again from its start.
 */
static void
glob_keeps_ring_positions_when_the_ring_lets_go(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[4096];

	write_file(lpath(f, "sysmon-a.log"), "<Event>a1</Event>\n", "w");
	write_file(lpath(f, "sysmon-b.log"), "<Event>b1</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	assert_int_equal(buffer_sync(f->buf), 0);
	source_close(s, NULL);		/* a crash: no position file */
	assert_int_equal(count_pos_files(f), 0);
	buffer_close(f->buf);
	fx_open_buffer(f);
	assert_int_equal(collect(f, out, sizeof(out)), 2);

	/* a and b resume from the ring, at their end; c is new.  Its record
	 * goes to a new segment, and once acknowledged the old one, with
	 * the checkpoints of a and b, is deleted.  Then a crash before any
	 * checkpoint of the input. */
	write_file(lpath(f, "sysmon-c.log"), "<Event>c1</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	assert_int_equal(buffer_sync(f->buf), 0);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>c1</Event>|");
	(void)buffer_tick(f->buf, mono_now_ms());
	assert_int_equal(count_segments(f), 1);
	source_close(s, NULL);
	buffer_close(f->buf);
	fx_open_buffer(f);

	write_file(lpath(f, "sysmon-b.log"), "<Event>b2</Event>\n", "a");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>b2</Event>|");
	source_close(s, f->buf);
}

static void
glob_start_end_skips_existing_on_first_run(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[256];

	f->in.follow = true;
	f->in.start = CONFIG_START_END;
	write_file(lpath(f, "sysmon-a.log"), "<Event>old</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	write_file(lpath(f, "sysmon-a.log"), "<Event>new</Event>\n", "a");
	write_file(lpath(f, "sysmon-b.log"), "<Event>b</Event>\n", "w");
	wait_poll(s, f->buf);
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "<Event>new</Event>|"));
	assert_non_null(strstr(out, "<Event>b</Event>|"));
	source_close(s, f->buf);
}

static void
glob_caps_the_files_followed(void **state)
{
	struct fixture *f = *state;
	struct source_stats st;
	struct source *s;
	char name[32], line[64], *out;
	size_t total = 0;

	f->in.follow = true;
	assert_non_null(out = malloc(1 << 16));
	for (int i = 0; i < 260; i++) {
		snprintf(name, sizeof(name), "sysmon%03d.log", i);
		snprintf(line, sizeof(line), "<Event>%d</Event>\n", i);
		write_file(lpath(f, name), line, "w");
	}
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	wait_poll(s, f->buf);
	wait_poll(s, f->buf);
	source_get_stats(s, &st);
	assert_int_equal(st.records, 256);
	total += collect(f, out, 1 << 16);
	assert_null(strstr(out, "<Event>256</Event>"));
	/* Room made by files that go away lets the others in. */
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "sysmon%03d.log", i);
		assert_int_equal(unlink(lpath(f, name)), 0);
	}
	for (int i = 0; i < 4; i++)
		wait_poll(s, f->buf);
	total += collect(f, out, 1 << 16);
	assert_int_equal(total, 260);
	assert_non_null(strstr(out, "<Event>259</Event>"));
	source_get_stats(s, &st);
	assert_int_equal(st.records, 260);
	source_close(s, f->buf);
	free(out);
}

static void
plain_path_with_hash_is_not_a_glob(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[256];

	/* Only * ? [ make a pattern. */
	f->in.path = (char *)lpath(f, "sysmon#1.log");
	write_file(f->in.path, "<Event>p</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	while (!source_finished(s))
		assert_true(source_poll(s, f->buf, 1 << 20) >= 0);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	source_close(s, f->buf);
	assert_int_equal(count_pos_files(f), 1);
}

/*
 * start = end is for a first run: a position file that exists but cannot
 * be read (here a directory in its place; an I/O error or no memory in
 * life) is not a first run, and the input reads from the start instead
 * of skipping what came after its position.  Plain path, then a glob.
 */
static void
start_end_not_when_position_unreadable(void **state)
{
	struct fixture *f = *state;
	struct source *s;
	char out[256], pos[160];

	f->in.follow = true;
	f->in.start = CONFIG_START_END;
	snprintf(pos, sizeof(pos), "%s/positions", f->dir);
	assert_int_equal(mkdir(pos, 0750), 0);
	snprintf(pos, sizeof(pos), "%s/positions/t.pos", f->dir);
	assert_int_equal(mkdir(pos, 0750), 0);

	f->in.path = (char *)lpath(f, "plain.log");
	write_file(f->in.path, "<Event>a</Event>\n<Event>b</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 2);
	assert_string_equal(out, "<Event>a</Event>|<Event>b</Event>|");
	source_close(s, f->buf);

	f->in.path = f->pattern;
	write_file(lpath(f, "sysmon-a.log"), "<Event>c</Event>\n", "w");
	assert_int_equal(source_file_open(&f->in, f->dir, f->buf, &s), 0);
	wait_poll(s, f->buf);
	assert_int_equal(collect(f, out, sizeof(out)), 1);
	assert_string_equal(out, "<Event>c</Event>|");
	source_close(s, f->buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(framed_sysmon_lines_are_records,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
		    framed_lines_kept_with_keep_other_lines, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(
		    glob_reads_every_match_interleaved, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(glob_without_match, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(
		    glob_follows_new_rotated_and_removed_files, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(
		    glob_resumes_each_file_by_inode, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
		    glob_resumes_from_the_ring_checkpoint, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(
		    glob_keeps_ring_positions_when_the_ring_lets_go, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(
		    glob_start_end_skips_existing_on_first_run, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(glob_caps_the_files_followed,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
		    plain_path_with_hash_is_not_a_glob, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
		    start_end_not_when_position_unreadable, fx_setup,
		    fx_teardown),
	};

	log_init("test_source_file", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
