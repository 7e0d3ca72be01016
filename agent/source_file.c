/*
 * source_file.c - the `file` input: one record per line, from a file or
 * from standard input (path = -).
 *
 * Each line is classified cheaply (the full parse happens when an output
 * renders it):
 *   - a line holding "<Event" is a record (Windows XML or a Sysmon for
 *     Linux syslog line);
 *   - a syslog line without one (Sysmon's start-up banner, other programs
 *     sharing /var/log/syslog) is not a record: it is counted as ignored,
 *     or forwarded when keep_other_lines = true;
 *   - anything else (garbage, binary, a cut record) is forwarded so that
 *     it becomes a tagged parse-error document: nothing is lost silently.
 * A line longer than max_line_size is cut there, flagged, and the rest of
 * it skipped; memory stays bounded whatever the input.
 *
 * With follow = true the file is tailed like `tail -F`: at the end it
 * looks again every poll_interval, notices rotation by rename (another
 * inode at the path: the old file is drained first) and truncation (the
 * file got shorter: start again at 0), and a last line without its newline
 * waits for it.  Without follow, the end of the file ends the input and a
 * last line without newline is still a record.
 *
 * Position: state_dir/positions/NAME.pos holds the file's device, inode
 * and the offset just past the last line whose records are durable
 * (buffer_durable_seq()), so a restart resumes there and never skips a
 * record; at worst it repeats the ones in flight at a crash.
 */
#include "agent_int.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK	(64u * 1024)
#define CKPT_MAX	64	/* pending (seq, offset) checkpoints */
#define SAVE_EVERY_MS	1000
#define SIG_BYTES	1024	/* bytes before a position that identify it */

struct ckpt {
	uint64_t	seq;	/* durable once this seq is */
	uint64_t	off;	/* the position it allows */
};

struct file_source {
	struct source	 base;
	const struct config_input *cfg;
	char		*pos_path;	/* NULL for stdin */
	int		 fd;
	bool		 is_stdin;
	dev_t		 dev;
	ino_t		 ino;
	uint64_t	 read_off;	/* file offset of rbuf's end */
	uint64_t	 line_off;	/* file offset where `line` starts */
	char		*rbuf;
	size_t		 rpos, rlen;
	struct strbuf	 line;		/* a partial line across reads */
	bool		 discarding;	/* skipping the tail of a long line */
	bool		 eof;		/* read() returned 0 last time */
	bool		 finished;
	bool		 waiting_file;	/* follow: the path does not exist */
	bool		 rotated;	/* follow: drain, then reopen */
	bool		 drained;	/* a pipe had nothing to read */
	uint64_t	 ring_off;	/* last position given to the ring */
	bool		 sig_valid;	/* sig_crc describes line_off */
	uint32_t	 sig_crc;
	int64_t		 next_look_ms;
	uint64_t	 last_seq;	/* last record this source appended */
	struct ckpt	 ckpts[CKPT_MAX];
	size_t		 nckpts;
	uint64_t	 committed_off;	/* durable position */
	uint64_t	 saved_off;	/* what the position file says */
	dev_t		 saved_dev;
	ino_t		 saved_ino;
	int64_t		 last_save_ms;
	bool		 warned_save;
	struct source_stats st;
};

static const char *
file_name(const struct file_source *s)
{
	return s->cfg->name;
}

static void
file_get_stats(const struct file_source *s, struct source_stats *st)
{
	*st = s->st;
}

static int
file_wait_fd(const struct file_source *s)
{
	if (s->finished || s->fd < 0)
		return -1;
	if (s->is_stdin) {
		struct stat sb;
		/* poll() on a regular file always says readable. */
		if (fstat(s->fd, &sb) == 0 && !S_ISREG(sb.st_mode))
			return s->fd;
	}
	return -1;
}

static bool
file_at_end(const struct file_source *s)
{
	return s->finished || (s->eof && s->rpos == s->rlen);
}

static bool
file_finished(const struct file_source *s)
{
	return s->finished;
}

static int64_t
file_next_poll(const struct file_source *s, int64_t now_ms)
{
	if (s->finished)
		return INT64_MAX;
	if (file_wait_fd(s) >= 0)
		return s->drained ? INT64_MAX : now_ms;
	if (!file_at_end(s))
		return now_ms;
	if (file_wait_fd(s) >= 0)
		return INT64_MAX;	/* the fd wakes us */
	return s->next_look_ms;
}

/*
 * The CRC32 of the (up to) SIG_BYTES bytes before offset off.  A file that
 * was truncated and written again up to the same size or beyond keeps its
 * inode and looks unchanged by size; these bytes tell it apart.
 */
static int
sig_at(int fd, uint64_t off, uint32_t *crc)
{
	unsigned char buf[SIG_BYTES];
	size_t n = off < SIG_BYTES ? (size_t)off : SIG_BYTES;
	ssize_t got;

	got = pread(fd, buf, n, (off_t)(off - n));
	if (got < 0 || (size_t)got != n)
		return -EIO;
	*crc = (uint32_t)crc32(0L, buf, (uInt)n);
	return 0;
}

/* ---- position file ----------------------------------------------------- */

static int
pos_load(struct file_source *s, uint64_t *dev, uint64_t *ino, uint64_t *off,
    uint32_t *crc)
{
	FILE *f;
	char line[PATH_MAX + 32];
	int have = 0;

	if ((f = fopen(s->pos_path, "r")) == NULL)
		return errno == ENOENT ? -ENOENT : -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "dev %" SCNu64, dev) == 1)
			have |= 1;
		else if (sscanf(line, "ino %" SCNu64, ino) == 1)
			have |= 2;
		else if (sscanf(line, "offset %" SCNu64, off) == 1)
			have |= 4;
		else if (sscanf(line, "crc %" SCNu32, crc) == 1)
			have |= 8;
	}
	fclose(f);
	if ((have & 8) == 0)
		*crc = 0;
	return (have & 7) == 7 ? 0 : -EINVAL;
}

static void
pos_save(struct file_source *s, int64_t now)
{
	char buf[PATH_MAX + 160];
	uint32_t crc;
	int n, rc;

	if (s->pos_path == NULL)
		return;
	if (s->committed_off == s->saved_off && s->dev == s->saved_dev &&
	    s->ino == s->saved_ino)
		return;
	if (s->fd < 0 || sig_at(s->fd, s->committed_off, &crc) != 0)
		crc = 0;
	n = snprintf(buf, sizeof(buf), "sysmonfwd-position 1\npath %s\n"
	    "dev %" PRIu64 "\nino %" PRIu64 "\noffset %" PRIu64 "\n"
	    "crc %" PRIu32 "\n", s->cfg->path, (uint64_t)s->dev,
	    (uint64_t)s->ino, s->committed_off, crc);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	if ((rc = state_write_atomic(s->pos_path, buf, (size_t)n, 0640)) !=
	    0) {
		if (!s->warned_save)
			log_warnx("input %s: cannot save position to %s: %s "
			    "(a restart would repeat records)", s->cfg->name,
			    s->pos_path, strerror(-rc));
		s->warned_save = true;
		return;
	}
	s->warned_save = false;
	s->saved_off = s->committed_off;
	s->saved_dev = s->dev;
	s->saved_ino = s->ino;
	s->last_save_ms = now;
}

static void
file_checkpoint(struct file_source *s, uint64_t durable_seq, bool force)
{
	size_t i = 0;
	int64_t now = mono_now_ms();

	while (i < s->nckpts && s->ckpts[i].seq <= durable_seq)
		s->committed_off = s->ckpts[i++].off;
	if (i > 0) {
		memmove(s->ckpts, s->ckpts + i,
		    (s->nckpts - i) * sizeof(s->ckpts[0]));
		s->nckpts -= i;
	}
	if (force || now - s->last_save_ms >= SAVE_EVERY_MS)
		pos_save(s, now);
}

/* Remember that offset off is safe once last_seq is durable. */
static void
ckpt_push(struct file_source *s, uint64_t off)
{
	if (s->nckpts > 0 && s->ckpts[s->nckpts - 1].seq == s->last_seq) {
		s->ckpts[s->nckpts - 1].off = off;
		return;
	}
	if (s->nckpts == CKPT_MAX) {
		/* Forget the oldest: the position only lags a little. */
		memmove(s->ckpts, s->ckpts + 1,
		    (CKPT_MAX - 1) * sizeof(s->ckpts[0]));
		s->nckpts--;
	}
	s->ckpts[s->nckpts].seq = s->last_seq;
	s->ckpts[s->nckpts].off = off;
	s->nckpts++;
}

/* ---- opening ---------------------------------------------------------------- */

static int
open_path(struct file_source *s, bool quiet)
{
	struct stat sb;
	int fd;

	if ((fd = open(s->cfg->path, O_RDONLY | O_CLOEXEC)) < 0) {
		int rc = -errno;
		if (!quiet)
			log_warnx("input %s: cannot open %s: %s", s->cfg->name,
			    s->cfg->path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
		int rc = S_ISDIR(sb.st_mode) ? -EISDIR : -errno;
		log_warnx("input %s: %s: %s", s->cfg->name, s->cfg->path,
		    strerror(-rc));
		close(fd);
		return rc;
	}
	s->fd = fd;
	s->dev = sb.st_dev;
	s->ino = sb.st_ino;
	s->read_off = 0;
	s->line_off = 0;
	s->rpos = s->rlen = 0;
	s->eof = false;
	s->discarding = false;
	s->sig_valid = false;
	strbuf_reset(&s->line);
	return 0;
}

static int
seek_to(struct file_source *s, uint64_t off)
{
	if (lseek(s->fd, (off_t)off, SEEK_SET) < 0)
		return -errno;
	s->read_off = s->line_off = off;
	return 0;
}

/*
 * Check one candidate position for the file just opened.  Return 0 when it
 * is usable, else a reason: 1 another file, 2 file shorter, 3 rewritten.
 */
static int
candidate_check(struct file_source *s, const struct stat *sb, uint64_t dev,
    uint64_t ino, uint64_t off, uint32_t crc)
{
	uint32_t now_crc;

	if (dev != (uint64_t)s->dev || ino != (uint64_t)s->ino)
		return 1;
	if (off > (uint64_t)sb->st_size)
		return 2;
	if (off > 0 && crc != 0 &&
	    (sig_at(s->fd, off, &now_crc) != 0 || now_crc != crc))
		return 3;
	return 0;
}

/*
 * Decide where to start in the file just opened.  Two places may say: the
 * position file (written once the records before it were durable) and
 * the ring's checkpoint area (written with the records themselves, so it
 * is exact after a crash).  The furthest usable one wins.
 */
static void
resume(struct file_source *s, const struct buffer *b)
{
	uint64_t dev = 0, ino = 0, off = 0, best = 0;
	uint32_t crc = 0;
	const char *ring = b != NULL ? buffer_get_position(b, s->cfg->name) :
	    NULL;
	const char *from = NULL;
	struct stat sb;
	int rc, why = 0, found = 0;

	if (fstat(s->fd, &sb) != 0)
		return;
	rc = pos_load(s, &dev, &ino, &off, &crc);
	if (rc == 0) {
		found++;
		if ((why = candidate_check(s, &sb, dev, ino, off, crc)) == 0) {
			best = off;
			from = "position file";
		}
	}
	if (ring != NULL && sscanf(ring, "dev %" SCNu64 " ino %" SCNu64
	    " off %" SCNu64 " crc %" SCNu32, &dev, &ino, &off, &crc) == 4) {
		int w = candidate_check(s, &sb, dev, ino, off, crc);
		found++;
		if (w == 0 && (from == NULL || off > best)) {
			best = off;
			from = "buffer checkpoint";
		} else if (from == NULL && why == 0) {
			why = w;
		}
	}
	if (from != NULL) {
		if (seek_to(s, best) == 0) {
			s->committed_off = best;
			if (best > 0)
				log_info("input %s: resuming %s at byte %" PRIu64
				    " (from the %s)", s->cfg->name, s->cfg->path,
				    best, from);
		}
		return;
	}
	if (found > 0) {
		if (why == 1)
			log_info("input %s: %s is another file than at the last "
			    "run (rotated or replaced); reading it from the "
			    "start", s->cfg->name, s->cfg->path);
		else if (why == 2)
			log_warnx("input %s: %s is shorter than the saved "
			    "position: it was truncated; reading from the start",
			    s->cfg->name, s->cfg->path);
		else
			log_warnx("input %s: %s was rewritten since the last "
			    "run (the bytes before the saved position changed);"
			    " reading from the start", s->cfg->name,
			    s->cfg->path);
		return;
	}
	if (rc != -ENOENT)
		log_warnx("input %s: position file %s unreadable (%s); "
		    "reading from the start", s->cfg->name, s->pos_path,
		    strerror(-rc));
	if (s->cfg->start == CONFIG_START_END && s->cfg->follow &&
	    sb.st_size > 0) {
		if (seek_to(s, (uint64_t)sb.st_size) == 0) {
			s->committed_off = (uint64_t)sb.st_size;
			log_info("input %s: first run with start = end: "
			    "skipping the %jd bytes already in %s",
			    s->cfg->name, (intmax_t)sb.st_size, s->cfg->path);
		}
	}
}

static const struct source_ops file_ops;

int
source_file_open(const struct config_input *cfg, const char *state_dir,
    const struct buffer *b, struct source **out)
{
	struct file_source *s;
	char dir[PATH_MAX];
	int rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->base.ops = &file_ops;
	s->cfg = cfg;
	s->fd = -1;
	s->line.max = (size_t)cfg->max_line_size + 1;
	if ((s->rbuf = malloc(READ_CHUNK)) == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	if (strcmp(cfg->path, "-") == 0) {
		s->is_stdin = true;
		s->fd = STDIN_FILENO;
		*out = &s->base;
		return 0;
	}
	if (snprintf(dir, sizeof(dir), "%s/positions", state_dir) >=
	    (int)sizeof(dir) || (rc = state_mkdirs(dir, 0750)) != 0) {
		rc = -ENAMETOOLONG;
		log_warnx("input %s: cannot create %s/positions", cfg->name,
		    state_dir);
		goto err_free;
	}
	if (asprintf(&s->pos_path, "%s/%s.pos", dir, cfg->name) < 0) {
		s->pos_path = NULL;
		rc = -ENOMEM;
		goto err_free;
	}
	if ((rc = open_path(s, cfg->follow)) != 0) {
		if (!cfg->follow || rc != -ENOENT)
			goto err_free;
		log_info("input %s: %s does not exist yet; waiting for it",
		    cfg->name, cfg->path);
		s->waiting_file = true;
		s->eof = true;
	} else {
		resume(s, b);
	}
	*out = &s->base;
	return 0;

err_free:
	free(s->pos_path);
	free(s->rbuf);
	free(s);
	return rc;
}

static void
file_close(struct file_source *s, const struct buffer *b)
{
	if (s == NULL)
		return;
	if (b != NULL)
		file_checkpoint(s, buffer_durable_seq(b), true);
	if (s->fd >= 0 && !s->is_stdin)
		close(s->fd);
	strbuf_free(&s->line);
	free(s->pos_path);
	free(s->rbuf);
	free(s);
}

/* ---- reading ----------------------------------------------------------------- */

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Does the line start like a syslog message?  RFC 3164 ("Oct 24 17:05:38
 * host ..."), RFC 5424 or rsyslog's high-precision format ("<13>1 2021-..."
 * or "2021-10-24T17:05:38..."), or a "<PRI>" in front of either.
 */
static bool
looks_like_syslog(const char *p, size_t n)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	if (n > 0 && p[0] == '<') {
		size_t i = 1;
		while (i < n && i < 5 && is_digit(p[i]))
			i++;
		if (i > 1 && i < n && p[i] == '>') {
			p += i + 1;
			n -= i + 1;
			if (n >= 2 && is_digit(p[0]) && p[1] == ' ') {
				p += 2;
				n -= 2;
			}
		}
	}
	if (n >= 16 && p[3] == ' ' && (p[4] == ' ' || is_digit(p[4])) &&
	    is_digit(p[5]) && p[6] == ' ' && is_digit(p[7]) &&
	    is_digit(p[8]) && p[9] == ':' && p[12] == ':' && p[15] == ' ') {
		for (size_t m = 0; m < 36; m += 3)
			if (memcmp(p, months + m, 3) == 0)
				return true;
	}
	return n >= 19 && is_digit(p[0]) && is_digit(p[3]) && p[4] == '-' &&
	    p[7] == '-' && (p[10] == 'T' || p[10] == ' ') && p[13] == ':' &&
	    p[16] == ':';
}

/* Handle one whole line (without its newline).  Return 0 or -errno. */
static int
emit_line(struct file_source *s, struct buffer *b, const char *p, size_t n,
    uint32_t flags)
{
	int rc;

	while (n > 0 && (p[n - 1] == '\r'))
		n--;
	if (n == 0 && flags == 0)
		return 0;
	if (flags == 0 && event_find_start(p, n) < 0 &&
	    looks_like_syslog(p, n) && !s->cfg->keep_other_lines) {
		s->st.ignored++;
		return 0;
	}
	rc = buffer_append(b, s->cfg->name, time_now_ms(), flags, p, n,
	    &s->last_seq);
	if (rc != 0)
		return rc;
	s->st.records++;
	if (flags & BUFFER_REC_TRUNCATED)
		s->st.truncated++;
	return 0;
}

/* A line grew past max_line_size: emit what we have, skip the rest. */
static int
emit_truncated(struct file_source *s, struct buffer *b)
{
	int rc;

	log_warnx("input %s: line at byte %" PRIu64 " of %s is longer than "
	    "max_line_size (%" PRIu64 " bytes): forwarding it cut and tagged",
	    s->cfg->name, s->line_off, s->cfg->path, s->cfg->max_line_size);
	rc = emit_line(s, b, s->line.s, s->line.len, BUFFER_REC_TRUNCATED);
	strbuf_reset(&s->line);
	s->discarding = true;
	return rc;
}

/*
 * Follow mode, at the end of the file: has the path been rotated (another
 * inode there), truncated, or grown?  A rotation is not acted on at once:
 * the old file is read to its end once more first (the writer may have
 * added lines before renaming it); switch_file() then moves on.
 */
static void
look_again(struct file_source *s)
{
	struct stat sb;

	if (stat(s->cfg->path, &sb) != 0) {
		/* Moved away, not replaced yet: keep reading the old file. */
		if (s->fd >= 0 && fstat(s->fd, &sb) == 0 &&
		    (uint64_t)sb.st_size > s->read_off)
			s->eof = false;
		return;
	}
	if (s->waiting_file || sb.st_dev != s->dev || sb.st_ino != s->ino) {
		s->rotated = true;
		s->eof = s->fd < 0;
		return;
	}
	if ((uint64_t)sb.st_size >= s->read_off && s->sig_valid) {
		uint32_t crc;
		if (sig_at(s->fd, s->line_off, &crc) != 0 || crc != s->sig_crc) {
			log_warnx("input %s: %s was truncated and written again"
			    " (its content before byte %" PRIu64 " changed); "
			    "reading from the start", s->cfg->name,
			    s->cfg->path, s->line_off);
			goto restart;
		}
	}
	if ((uint64_t)sb.st_size < s->read_off) {
		log_warnx("input %s: %s was truncated (%jd < %" PRIu64 " bytes);"
		    " reading from the start", s->cfg->name, s->cfg->path,
		    (intmax_t)sb.st_size, s->read_off);
restart:
		strbuf_reset(&s->line);
		s->discarding = false;
		s->rpos = s->rlen = 0;
		s->sig_valid = false;
		if (seek_to(s, 0) == 0) {
			s->committed_off = 0;
			s->nckpts = 0;
		}
		s->eof = false;
	} else if ((uint64_t)sb.st_size > s->read_off) {
		s->eof = false;
	}
}

/* The rotated file is drained: forward its unterminated last line, if
 * any, and open the file now at the path. */
static int
switch_file(struct file_source *s, struct buffer *b)
{
	int rc = 0;

	s->rotated = false;
	if (!s->waiting_file && s->line.len > 0 && !s->discarding) {
		log_info("input %s: rotated file ended without a newline; "
		    "forwarding its last line", s->cfg->name);
		rc = emit_line(s, b, s->line.s, s->line.len, 0);
	}
	strbuf_reset(&s->line);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (open_path(s, true) == 0) {
		if (!s->waiting_file)
			log_info("input %s: %s was rotated; following the new "
			    "file", s->cfg->name, s->cfg->path);
		s->waiting_file = false;
		s->committed_off = 0;
		s->nckpts = 0;
	} else {
		s->waiting_file = true;
		s->eof = true;
	}
	return rc;
}

/*
 * Tell the ring where this input stands, so that the position travels
 * with the records in the next block (see buffer_set_position()).
 */
static void
ring_position(struct file_source *s, struct buffer *b)
{
	char pos[128];
	uint32_t crc = 0;

	if (s->is_stdin || s->fd < 0 || s->line_off == s->ring_off)
		return;
	if (s->line_off > 0 && sig_at(s->fd, s->line_off, &crc) != 0)
		crc = 0;
	snprintf(pos, sizeof(pos), "dev %" PRIu64 " ino %" PRIu64 " off %"
	    PRIu64 " crc %" PRIu32, (uint64_t)s->dev, (uint64_t)s->ino,
	    s->line_off, crc);
	buffer_set_position(b, s->cfg->name, pos);
	s->ring_off = s->line_off;
}

static ssize_t
file_poll(struct file_source *s, struct buffer *b, size_t budget)
{
	size_t consumed = 0;
	int rc;

	if (s->finished)
		return 0;
	if (s->eof && s->rpos == s->rlen) {
		int64_t now = mono_now_ms();
		if (!s->cfg->follow || s->is_stdin || now < s->next_look_ms)
			goto out;
		s->next_look_ms = now + (int64_t)s->cfg->poll_interval_ms;
		/*
		 * Look before reading: a file truncated and written again
		 * past our offset must be noticed before we read from the
		 * middle of its new contents.
		 */
		look_again(s);
		if (s->rotated && s->fd < 0 && (rc = switch_file(s, b)) != 0)
			return rc;
		if (s->eof)
			goto out;
	}
	while (consumed < budget && !s->finished) {
		const char *nl, *seg;
		size_t seglen;

		if (!buffer_can_append(b, (size_t)s->cfg->max_line_size))
			break;
		if (s->rpos == s->rlen) {
			ssize_t n;

			if (s->eof || s->fd < 0)
				break;
			if (file_wait_fd(s) >= 0) {
				/* A pipe or terminal: never block in read(). */
				struct pollfd pfd = { .fd = s->fd,
				    .events = POLLIN };
				s->drained = poll(&pfd, 1, 0) <= 0;
				if (s->drained)
					break;
			}
			n = read(s->fd, s->rbuf, READ_CHUNK);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				break;
			if (n < 0) {
				rc = -errno;
				log_warnx("input %s: read %s: %s", s->cfg->name,
				    s->cfg->path, strerror(errno));
				return rc;
			}
			if (n == 0) {
				s->eof = true;
				if (s->cfg->follow && !s->is_stdin) {
					s->next_look_ms = mono_now_ms() +
					    (int64_t)s->cfg->poll_interval_ms;
					if (!s->sig_valid && s->line_off > 0)
						s->sig_valid = sig_at(s->fd,
						    s->line_off, &s->sig_crc) == 0;
					if (s->rotated) {
						if ((rc = switch_file(s, b)) != 0)
							return rc;
						continue;
					}
					look_again(s);
					if (!s->eof)
						continue;
					break;
				}
				/* The end: a last line without newline counts. */
				if (s->line.len > 0 && !s->discarding &&
				    (rc = emit_line(s, b, s->line.s,
				    s->line.len, 0)) != 0)
					return rc;
				s->line_off = s->read_off;
				strbuf_reset(&s->line);
				s->finished = true;
				break;
			}
			s->rpos = 0;
			s->rlen = (size_t)n;
			s->read_off += (uint64_t)n;
		}
		seg = s->rbuf + s->rpos;
		nl = memchr(seg, '\n', s->rlen - s->rpos);
		seglen = nl != NULL ? (size_t)(nl - seg) : s->rlen - s->rpos;
		consumed += seglen + (nl != NULL);
		s->rpos += seglen + (nl != NULL);
		s->sig_valid = false;
		if (s->discarding) {
			/* Skip the rest of an overlong line. */
		} else if (s->line.len + seglen > s->cfg->max_line_size) {
			size_t room = (size_t)s->cfg->max_line_size -
			    s->line.len;
			if ((rc = strbuf_add(&s->line, seg, room)) != 0 ||
			    (rc = emit_truncated(s, b)) != 0)
				return rc;
		} else if (nl != NULL && s->line.len == 0) {
			if ((rc = emit_line(s, b, seg, seglen, 0)) != 0)
				return rc;
		} else {
			if ((rc = strbuf_add(&s->line, seg, seglen)) != 0)
				return rc;
			if (nl != NULL) {
				rc = emit_line(s, b, s->line.s, s->line.len, 0);
				strbuf_reset(&s->line);
				if (rc != 0)
					return rc;
			}
		}
		if (nl != NULL) {
			s->discarding = false;
			s->line_off = s->read_off - (s->rlen - s->rpos);
			/* Keep the ring's checkpoint close behind. */
			if (s->line_off - s->ring_off >= 32768)
				ring_position(s, b);
		}
	}
out:
	if (!s->is_stdin && s->line_off != (s->nckpts > 0 ?
	    s->ckpts[s->nckpts - 1].off : s->committed_off))
		ckpt_push(s, s->line_off);
	ring_position(s, b);
	s->st.bytes += consumed;
	return (ssize_t)consumed;
}

/* ---- the source interface ----------------------------------------------------- */

#define FS(s)	((struct file_source *)(s))
#define CFS(s)	((const struct file_source *)(s))

static const char *
op_name(const struct source *s)
{
	return file_name(CFS(s));
}

static ssize_t
op_poll(struct source *s, struct buffer *b, size_t budget)
{
	return file_poll(FS(s), b, budget);
}

static int
op_wait_fd(const struct source *s)
{
	return file_wait_fd(CFS(s));
}

static int64_t
op_next_poll(const struct source *s, int64_t now_ms)
{
	return file_next_poll(CFS(s), now_ms);
}

static bool
op_at_end(const struct source *s)
{
	return file_at_end(CFS(s));
}

static bool
op_finished(const struct source *s)
{
	return file_finished(CFS(s));
}

static void
op_checkpoint(struct source *s, uint64_t durable_seq, bool force)
{
	file_checkpoint(FS(s), durable_seq, force);
}

static void
op_get_stats(const struct source *s, struct source_stats *st)
{
	file_get_stats(CFS(s), st);
}

static void
op_close(struct source *s, const struct buffer *b)
{
	file_close(FS(s), b);
}

static const struct source_ops file_ops = {
	.name = op_name,
	.poll = op_poll,
	.wait_fd = op_wait_fd,
	.next_poll = op_next_poll,
	.at_end = op_at_end,
	.finished = op_finished,
	.checkpoint = op_checkpoint,
	.get_stats = op_get_stats,
	.close = op_close,
};
