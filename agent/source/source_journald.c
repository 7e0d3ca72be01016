/*
 * source_journald.c - the `journald` input: Sysmon for Linux records from
 * the systemd journal, read with libsystemd's sd-journal.
 *
 * The journal is opened once: the system journal of this machine (local
 * files of system services and the kernel only, so that a user's own
 * `logger -t sysmon` cannot inject records), or every journal file of
 * journal_dir.  `match` filters it: whitespace-separated FIELD=value
 * terms (terms of different fields must all hold, terms of one field are
 * alternatives), and a lone "+" between groups of terms means OR.  The
 * data threshold is 0, so fields over 64 KiB come whole.
 *
 * Each entry that passes is one record: its MESSAGE field, after a
 * syslog-style header made from the entry itself,
 *
 *	"Oct 24 17:05:38 HOST IDENT[PID]: " MESSAGE
 *
 * (__REALTIME_TIMESTAMP in UTC, _HOSTNAME, SYSLOG_IDENTIFIER, _PID), so
 * the record reads as the line the file input takes from /var/log/syslog
 * and every renderer treats both alike.  _PID is journald's own (trusted)
 * field; SYSLOG_PID, which the sender writes itself, is the fallback.  An
 * entry whose MESSAGE holds no "<Event" (Sysmon's start-up banner) is not
 * a record and is counted as ignored.  A record longer than max_line_size
 * is cut there and flagged.  The record's time is the entry's realtime.
 *
 * Position: the cursor of the last entry consumed.  It travels with the
 * records in the ring (buffer_set_position(), exact after a crash) and is
 * saved to state_dir/positions/NAME.pos once the records before it are
 * durable (source_pos_*).  A restart seeks to the furthest of the two
 * that the journal still holds and skips that entry, which was delivered.
 * When neither is there any more (the journal was vacuumed or rotated
 * away) the source starts at the oldest entry left, logs an error and
 * reports a gap of an unknown count (buffer_append_gap()), which every
 * output receives as a gap document before the records that follow.  A
 * first run starts at the oldest or the newest entry (`start`); with
 * newest, the newest entry's cursor is saved at once.
 *
 * Waiting: the journal's inotify fd is the source's wait fd, and every
 * poll calls sd_journal_process() first; sd_journal_get_timeout() bounds
 * the wait (journal files on file systems inotify does not cover).
 */
#include "source_int.h"
#include "base.h"
#include "position.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-journal.h>

/*
 * libsystemd is not linked: the first journald input loads it
 * (load_libsystemd(), dynlib.c), so that an agent without one maps none
 * of it.  The functions used are called through journal_api, and each
 * name below is made to mean its pointer, so that the calls read as the
 * library's own.
 */
#define JOURNAL_FUNCS(X)						\
	X(sd_journal_add_disjunction) X(sd_journal_add_match)		\
	X(sd_journal_close) X(sd_journal_get_cursor)			\
	X(sd_journal_get_data) X(sd_journal_get_fd)			\
	X(sd_journal_get_realtime_usec) X(sd_journal_get_timeout)	\
	X(sd_journal_next) X(sd_journal_open)				\
	X(sd_journal_open_directory) X(sd_journal_previous)		\
	X(sd_journal_process) X(sd_journal_seek_cursor)			\
	X(sd_journal_seek_head) X(sd_journal_seek_tail)			\
	X(sd_journal_set_data_threshold) X(sd_journal_test_cursor)

static struct journal_api {
#define X(f)	__typeof__(f) *f;
	JOURNAL_FUNCS(X)
#undef X
} journal_api;

static const struct dynlib_sym journal_syms[] = {
#define X(f)	{ #f, offsetof(struct journal_api, f) },
	JOURNAL_FUNCS(X)
#undef X
};

static struct dynlib libsystemd = {
	.soname = "libsystemd.so.0",
	.package = "libsystemd0",
	.syms = journal_syms,
	.nsyms = sizeof(journal_syms) / sizeof(journal_syms[0]),
	.tab = &journal_api,
};

#define sd_journal_add_disjunction	journal_api.sd_journal_add_disjunction
#define sd_journal_add_match		journal_api.sd_journal_add_match
#define sd_journal_close		journal_api.sd_journal_close
#define sd_journal_get_cursor		journal_api.sd_journal_get_cursor
#define sd_journal_get_data		journal_api.sd_journal_get_data
#define sd_journal_get_fd		journal_api.sd_journal_get_fd
#define sd_journal_get_realtime_usec	journal_api.sd_journal_get_realtime_usec
#define sd_journal_get_timeout		journal_api.sd_journal_get_timeout
#define sd_journal_next			journal_api.sd_journal_next
#define sd_journal_open			journal_api.sd_journal_open
#define sd_journal_open_directory	journal_api.sd_journal_open_directory
#define sd_journal_previous		journal_api.sd_journal_previous
#define sd_journal_process		journal_api.sd_journal_process
#define sd_journal_seek_cursor		journal_api.sd_journal_seek_cursor
#define sd_journal_seek_head		journal_api.sd_journal_seek_head
#define sd_journal_seek_tail		journal_api.sd_journal_seek_tail
#define sd_journal_set_data_threshold	\
	journal_api.sd_journal_set_data_threshold
#define sd_journal_test_cursor		journal_api.sd_journal_test_cursor

#define FIELD_MAX	64	/* bytes kept of a header field */
#define HEADER_MAX	(32 + 3 * FIELD_MAX)
#define RING_POS_MAX	255	/* buffer_set_position() takes no more */
#define NOFD_POLL_MS	1000	/* no inotify fd: look this often */
#define BLOCKED_POLL_MS	50	/* the ring refused: try again after */

struct jrn_source {
	struct source	 base;
	const struct config_input *cfg;
	sd_journal	*j;		/* its inotify fd: base.fd, or -1 */
	struct source_pos pos;
	struct strbuf	 rec;		/* the record being built */
	char		*gap;		/* to announce before the next record */
	int64_t		 gap_ms;	/* when the records lost began */
	char		*ring_pos;	/* to give the ring at the next poll */
	char		*rec_pos;	/* cursor of the last record appended */
	bool		 held;		/* on an entry the ring refused */
	bool		 at_end;	/* sd_journal_next() found nothing */
	bool		 blocked;	/* the ring could not take a record */
	bool		 moved;		/* consumed entries not yet noted */
	bool		 warned;	/* a journal error was logged */
	bool		 warned_msg;	/* an unreadable MESSAGE was logged */
	uint64_t	 last_seq;	/* last record this source appended */
};

#define JS(s)	((struct jrn_source *)(s))
#define CJS(s)	((const struct jrn_source *)(s))

/* ---- matches ------------------------------------------------------------ */

/*
 * Add the terms of cfg->match to the journal's filter.  0, or -errno after
 * logging the term sd-journal refused.
 */
static int
add_matches(struct jrn_source *s)
{
	const char *p = s->cfg->match != NULL ? s->cfg->match : "";
	size_t nterms = 0;
	int rc;

	for (;;) {
		size_t n;

		p += strspn(p, " \t\r\n");
		if (*p == '\0')
			break;
		n = strcspn(p, " \t\r\n");
		if (n == 1 && *p == '+')
			rc = sd_journal_add_disjunction(s->j);
		else if ((rc = sd_journal_add_match(s->j, p, n)) >= 0)
			nterms++;
		if (rc < 0) {
			log_errorx("input %s: match: %.*s: %s (terms are "
			    "FIELD=value, FIELD in capitals, and \"+\" for OR)",
			    s->cfg->name, (int)n, p, strerror(-rc));
			return rc;
		}
		p += n;
	}
	if (nterms == 0)
		log_warnx("input %s: match is empty: every journal entry is "
		    "read", s->cfg->name);
	return 0;
}

/* ---- positions ---------------------------------------------------------- */

/*
 * Put the journal on the entry of cursor c.  Return 1 when it is there
 * (with its realtime in *usec), 0 when the journal no longer holds it,
 * -EINVAL when c is not a cursor.
 */
static int
locate(struct jrn_source *s, const char *c, uint64_t *usec)
{
	int rc;

	if ((rc = sd_journal_seek_cursor(s->j, c)) < 0)
		return rc == -EINVAL ? -EINVAL : 0;
	if (sd_journal_next(s->j) <= 0 || sd_journal_test_cursor(s->j, c) <= 0)
		return 0;
	if (sd_journal_get_realtime_usec(s->j, usec) < 0)
		*usec = 0;
	return 1;
}

/*
 * The entry the journal stands on is the input's position once seq is
 * durable.  Tell the ring too: now when b is given, else at the next poll.
 */
static void
note_position(struct jrn_source *s, uint64_t seq, struct buffer *b)
{
	char *c;

	if (sd_journal_get_cursor(s->j, &c) < 0)
		return;
	source_pos_note(&s->pos, seq, c);
	free(s->ring_pos);
	s->ring_pos = NULL;
	if (b == NULL)
		s->ring_pos = c;
	else {
		if (strlen(c) <= RING_POS_MAX)
			buffer_set_position(b, s->cfg->name, c);
		free(c);
	}
}

static void
format_usec(uint64_t usec, char *out, size_t len)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;

	if (usec == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, len, "an unknown time");
}

/*
 * The saved cursor is gone: start at the oldest entry still there, and
 * announce that records may have been lost in between (a gap report of
 * an unknown count, buffer_append_gap(), at the next poll).
 */
static int
start_after_gap(struct jrn_source *s, const char *cursor)
{
	char saved[32], oldest[32];
	uint64_t usec = 0;
	int rc;

	if ((rc = sd_journal_seek_head(s->j)) < 0)
		return rc;
	if (sd_journal_next(s->j) > 0 &&
	    sd_journal_get_realtime_usec(s->j, &usec) < 0)
		usec = 0;
	if ((rc = sd_journal_seek_head(s->j)) < 0)
		return rc;
	format_usec(journal_cursor_time(cursor), saved, sizeof(saved));
	format_usec(usec, oldest, sizeof(oldest));
	log_errorx("input %s: the journal no longer holds the entry of the "
	    "saved cursor (written at %s; vacuumed or rotated away): reading "
	    "from the oldest entry still there (%s); Sysmon records written "
	    "in between may be lost", s->cfg->name, saved,
	    usec != 0 ? oldest : "none yet");
	if (asprintf(&s->gap, "input %s: the journal no longer holds the "
	    "entry after which the last run stopped (written at %s; the "
	    "journal was vacuumed or rotated away); reading again from the "
	    "oldest entry still there (%s), so Sysmon records written in "
	    "between may be lost", s->cfg->name, saved,
	    usec != 0 ? oldest : "none yet") < 0) {
		s->gap = NULL;
		return -ENOMEM;
	}
	s->gap_ms = journal_cursor_time(cursor) != 0 ?
	    (int64_t)(journal_cursor_time(cursor) / 1000) : time_now_ms();
	return 0;
}

/* No saved position: start where `start` says. */
static int
start_first_run(struct jrn_source *s)
{
	int rc;

	if (s->cfg->start == CONFIG_START_BEGINNING) {
		log_info("input %s: first run with start = oldest: reading "
		    "the journal from its oldest entry", s->cfg->name);
		return sd_journal_seek_head(s->j);
	}
	if ((rc = sd_journal_seek_tail(s->j)) < 0)
		return rc;
	if ((rc = sd_journal_previous(s->j)) < 0)
		return rc;
	if (rc == 0) {
		/* Nothing there yet: whatever comes is new. */
		log_info("input %s: first run with start = newest: no entry "
		    "yet", s->cfg->name);
		return sd_journal_seek_head(s->j);
	}
	log_info("input %s: first run with start = newest: skipping the "
	    "entries already in the journal", s->cfg->name);
	/* Saved at once: a restart before the next entry skips no more. */
	note_position(s, 0, NULL);
	return 0;
}

/*
 * Decide where to start.  Two places may say: the position file (written
 * once the records before it were durable) and the ring's checkpoint
 * area (written with the records themselves, so exact after a crash).
 * The furthest one the journal still holds wins; on a tie in time, the
 * ring's (it is never behind the file).
 */
static int
resume(struct jrn_source *s, const struct buffer *b, const char *saved)
{
	const char *ring = b != NULL ? buffer_get_position(b, s->cfg->name) :
	    NULL;
	const char *cand[2] = { saved[0] != '\0' ? saved : NULL,
	    ring != NULL && ring[0] != '\0' ? ring : NULL };
	const char *from[2] = { "position file", "buffer checkpoint" };
	const char *best = NULL, *best_from = NULL, *gone = NULL;
	uint64_t usec, best_usec = 0;
	int rc;

	for (int i = 0; i < 2; i++) {
		if (cand[i] == NULL)
			continue;
		if ((rc = locate(s, cand[i], &usec)) < 0)
			log_warnx("input %s: the %s holds no journal cursor; "
			    "ignored", s->cfg->name, from[i]);
		if (rc <= 0) {
			gone = cand[i];
			continue;
		}
		if (best == NULL || usec >= best_usec) {
			best = cand[i];
			best_from = from[i];
			best_usec = usec;
		}
	}
	if (best != NULL) {
		if (locate(s, best, &usec) <= 0) {
			log_errorx("input %s: cannot seek the journal to the "
			    "saved cursor", s->cfg->name);
			return -EIO;
		}
		log_info("input %s: resuming after the journal entry of %s "
		    "(from the %s)", s->cfg->name, best, best_from);
		if (best != cand[0])
			note_position(s, 0, NULL);
		return 0;
	}
	if (gone != NULL)
		return start_after_gap(s, gone);
	return start_first_run(s);
}

/* ---- opening ------------------------------------------------------------ */

static void
jrn_close(struct source *src)
{
	struct jrn_source *s = JS(src);

	if (s->j != NULL)
		sd_journal_close(s->j);
	source_pos_free(&s->pos);
	strbuf_free(&s->rec);
	free(s->ring_pos);
	free(s->rec_pos);
	free(s->gap);
	free(s);
}

static const struct source_ops jrn_ops;

int
source_journald_open(const struct config_input *cfg, const char *state_dir,
    const struct buffer *b, struct source **out)
{
	struct jrn_source *s;
	char why[512];
	int rc;

	*out = NULL;
	if ((rc = dynlib_load(&libsystemd, why, sizeof(why))) != 0) {
		log_errorx("input %s: the journald input needs %s",
		    cfg->name, why);
		return rc;
	}
	if ((s = source_new(sizeof(*s), &jrn_ops, cfg)) == NULL)
		return -ENOMEM;
	s->cfg = cfg;
	s->rec.max = (size_t)cfg->max_line_size + HEADER_MAX + 1;
	if ((rc = source_pos_init(&s->base, &s->pos, state_dir)) != 0) {
		log_warnx("input %s: cannot use %s/positions: %s", cfg->name,
		    state_dir, strerror(-rc));
		goto err_close;
	}
	if (cfg->journal_dir != NULL)
		rc = sd_journal_open_directory(&s->j, cfg->journal_dir, 0);
	else
		rc = sd_journal_open(&s->j, SD_JOURNAL_LOCAL_ONLY |
		    SD_JOURNAL_SYSTEM);
	if (rc < 0) {
		s->j = NULL;
		log_errorx("input %s: cannot open the journal%s%s: %s",
		    cfg->name, cfg->journal_dir != NULL ? " in " : "",
		    cfg->journal_dir != NULL ? cfg->journal_dir : "",
		    strerror(-rc));
		goto err_close;
	}
	if ((rc = sd_journal_set_data_threshold(s->j, 0)) < 0) {
		log_errorx("input %s: cannot lift the journal's data "
		    "threshold: %s", cfg->name, strerror(-rc));
		goto err_close;
	}
	if ((rc = add_matches(s)) != 0)
		goto err_close;
	/* Before reading, so that no change goes unnoticed. */
	if ((s->base.fd = sd_journal_get_fd(s->j)) < 0) {
		log_warnx("input %s: cannot watch the journal (%s): looking "
		    "every %d ms instead", cfg->name, strerror(-s->base.fd),
		    NOFD_POLL_MS);
		s->base.fd = -1;
	}
	if ((rc = resume(s, b, s->pos.saved)) != 0) {
		if (rc != -EIO)
			log_errorx("input %s: cannot seek the journal: %s",
			    cfg->name, strerror(-rc));
		goto err_close;
	}
	if (cfg->journal_dir != NULL)
		log_info("input %s: reading the journal files of %s",
		    cfg->name, cfg->journal_dir);
	*out = &s->base;
	return 0;

err_close:
	jrn_close(&s->base);
	return rc;
}

/* ---- reading ------------------------------------------------------------ */

/*
 * Copy field name of the current entry into out (size FIELD_MAX + 1), at
 * most FIELD_MAX bytes, with every byte that could break the header (a
 * space, a control character, "<[]:") made "_".  False when it is absent.
 */
static bool
get_field(struct jrn_source *s, const char *name, char *out)
{
	const void *d;
	size_t len, nl = strlen(name), n;
	const char *v;

	if (sd_journal_get_data(s->j, name, &d, &len) < 0 || len <= nl + 1)
		return false;
	v = (const char *)d + nl + 1;
	n = len - nl - 1 > FIELD_MAX ? FIELD_MAX : len - nl - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		out[i] = c <= ' ' || c == 0x7f || strchr("<>[]:", c) != NULL ?
		    '_' : (char)c;
	}
	out[n] = '\0';
	return true;
}

/* Start s->rec with the syslog-style header of the current entry. */
static int
make_header(struct jrn_source *s, uint64_t usec)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char host[FIELD_MAX + 1], ident[FIELD_MAX + 1], pid[FIELD_MAX + 1];
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	if (!get_field(s, "_HOSTNAME", host))
		snprintf(host, sizeof(host), "localhost");
	if (!get_field(s, "SYSLOG_IDENTIFIER", ident) &&
	    !get_field(s, "_COMM", ident))
		snprintf(ident, sizeof(ident), "journal");
	strbuf_reset(&s->rec);
	if (get_field(s, "_PID", pid) || get_field(s, "SYSLOG_PID", pid))
		return strbuf_addf(&s->rec, "%s %2d %02d:%02d:%02d %s %s[%s]: ",
		    mon[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, host, ident, pid);
	return strbuf_addf(&s->rec, "%s %2d %02d:%02d:%02d %s %s: ",
	    mon[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, host,
	    ident);
}

/*
 * Turn the entry the journal stands on into a record and append it (or
 * count it ignored).  Store the bytes it took in *used.  0, -EAGAIN when
 * the ring refused it (try the same entry again later), or -errno.
 */
static int
take_entry(struct jrn_source *s, struct buffer *b, size_t *used)
{
	const void *d;
	const char *msg;
	size_t len, room;
	uint64_t usec, seq;
	uint32_t flags = 0;
	char *c;
	int rc;

	*used = 1;
	if (sd_journal_get_realtime_usec(s->j, &usec) < 0)
		usec = (uint64_t)time_now_ms() * 1000;
	if ((rc = make_header(s, usec)) != 0)
		return rc;
	/* Last: it invalidates what sd_journal_get_data() returned before. */
	if ((rc = sd_journal_get_data(s->j, "MESSAGE", &d, &len)) < 0) {
		if (rc != -ENOENT && !s->warned_msg)
			log_warnx("input %s: cannot read an entry's MESSAGE "
			    "(%s); skipping it", s->cfg->name, strerror(-rc));
		s->warned_msg = rc != -ENOENT;
		s->base.st.ignored++;
		return 0;
	}
	s->warned_msg = false;
	msg = (const char *)d + 8;		/* "MESSAGE=" */
	len -= 8;
	*used = len;
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		len--;
	if (event_find_start(msg, len) < 0) {
		s->base.st.ignored++;
		return 0;
	}
	room = s->rec.len < s->cfg->max_line_size ?
	    (size_t)s->cfg->max_line_size - s->rec.len : 0;
	if (len > room) {
		log_warnx("input %s: a journal entry of %zu bytes is longer "
		    "than max_line_size (%" PRIu64 " bytes with its header): "
		    "forwarding it cut and tagged", s->cfg->name, len,
		    s->cfg->max_line_size);
		len = room;
		flags |= BUFFER_REC_TRUNCATED;
	}
	if ((rc = strbuf_add(&s->rec, msg, len)) != 0)
		return rc;
	rc = source_append(&s->base, b, (int64_t)(usec / 1000), flags,
	    s->rec.s, s->rec.len, &seq);
	if (rc < 0)
		return rc == -ENOBUFS ? -EAGAIN : rc;
	if (rc == 0) {
		s->last_seq = seq;
		s->base.st.records++;
		if (flags & BUFFER_REC_TRUNCATED)
			s->base.st.truncated++;
	}
	/* The ring's copy of the position follows every record. */
	if (sd_journal_get_cursor(s->j, &c) >= 0) {
		if (strlen(c) <= RING_POS_MAX)
			buffer_set_position(b, s->cfg->name, c);
		free(s->rec_pos);
		s->rec_pos = c;
	}
	return 0;
}

static ssize_t
jrn_poll(struct source *src, struct buffer *b, size_t budget)
{
	struct jrn_source *s = JS(src);
	size_t consumed = 0, used;
	int rc;

	if (s->base.fd >= 0 && (rc = sd_journal_process(s->j)) < 0 &&
	    !s->warned) {
		log_warnx("input %s: journal: %s", s->cfg->name,
		    strerror(-rc));
		s->warned = true;
	}
	s->blocked = false;
	if (s->ring_pos != NULL) {
		/* From the open: the position where this run started. */
		if (strlen(s->ring_pos) <= RING_POS_MAX)
			buffer_set_position(b, s->cfg->name, s->ring_pos);
		free(s->ring_pos);
		s->ring_pos = NULL;
	}
	if (s->gap != NULL) {
		size_t n = strlen(s->gap);
		if (!buffer_can_append(b, n + 32) || buffer_append_gap(b,
		    s->cfg->name, s->gap_ms, 0, s->gap, &s->last_seq) != 0) {
			s->blocked = true;
			return 0;
		}
		free(s->gap);
		s->gap = NULL;
		consumed += n;
	}
	while (consumed < budget) {
		if (!buffer_can_append(b, (size_t)s->cfg->max_line_size +
		    SOURCE_TRAILER_MAX)) {
			s->blocked = true;
			break;
		}
		if (!s->held) {
			if ((rc = sd_journal_next(s->j)) < 0) {
				if (!s->warned)
					log_warnx("input %s: reading the "
					    "journal: %s", s->cfg->name,
					    strerror(-rc));
				s->warned = true;
				s->at_end = true;
				break;
			}
			if (rc == 0) {
				s->at_end = true;
				break;
			}
			s->warned = false;
		}
		s->held = false;
		s->at_end = false;
		if ((rc = take_entry(s, b, &used)) == -EAGAIN) {
			s->held = true;
			s->blocked = true;
			break;
		}
		if (rc != 0) {
			log_warnx("input %s: %s", s->cfg->name, strerror(-rc));
			return rc;
		}
		s->moved = true;
		consumed += used;
	}
	if (s->moved) {
		s->moved = false;
		/* On a held entry the position is the last record's. */
		if (!s->held)
			note_position(s, s->last_seq, b);
		else if (s->rec_pos != NULL)
			source_pos_note(&s->pos, s->last_seq, s->rec_pos);
	}
	s->base.st.bytes += consumed;
	return (ssize_t)consumed;
}

static bool
jrn_at_end(const struct source *src)
{
	const struct jrn_source *s = CJS(src);

	return s->at_end && !s->held && s->gap == NULL;
}

static int64_t
jrn_next_poll(const struct source *src, int64_t now_ms)
{
	const struct jrn_source *s = CJS(src);
	uint64_t usec;

	if (s->blocked)
		return now_ms + BLOCKED_POLL_MS;
	if (!jrn_at_end(src))
		return now_ms;
	if (s->base.fd < 0)
		return now_ms + NOFD_POLL_MS;
	/* A monotonic deadline in usec, or (uint64_t)-1 for none. */
	if (sd_journal_get_timeout(s->j, &usec) < 0 || usec == UINT64_MAX)
		return INT64_MAX;
	return (int64_t)((usec + 999) / 1000);
}

/* The journal is followed for ever: never finished.  Its cursor is a
 * text position (s->pos): source.c saves it. */
static const struct source_ops jrn_ops = {
	.poll = jrn_poll,
	.next_poll = jrn_next_poll,
	.at_end = jrn_at_end,
	.close = jrn_close,
};
