/*
 * source_file.c - the `file` input: one record per line, from a file, from
 * the files a glob pattern matches, or from standard input (path = -).
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
 *
 * A path with glob characters (path = /var/log/sysmon*.log) makes the
 * input a set of files, expanded with glob(3) when it opens and, with
 * follow, again every poll_interval.  Each regular file it matches is a
 * member, read as above, and the members are polled in turn.  Members are
 * told apart by device and inode, never by name: a file renamed to a name
 * that still matches (sysmon.log -> sysmon.log.1 under sysmon.log*) is
 * the same member, and the new sysmon.log a new one, read from its start.
 * A member no longer matched is read to its end once more and closed.  At
 * most GLOB_MAX_FILES are followed at once (more matches wait, with a
 * warning), and compressed rotations (.gz, .xz, ...) are skipped.  Each
 * member holds a slot k, and its position lives under the name "NAME#k"
 * (file state_dir/positions/NAME#k.pos and the ring's checkpoints): the
 * names stay bounded however many files come and go, and on opening every
 * saved position is matched to the files by device and inode.
 */
#include "source_int.h"
#include "base.h"
#include "position.h"

#include <errno.h>
#include <fcntl.h>
#ifndef _WIN32
#include <glob.h>
#endif
#include <inttypes.h>
#include <limits.h>
#ifndef _WIN32
#include <poll.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libdeflate.h>	/* crc32: the same values as zlib's, faster */

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
	struct source	*owner;		/* what appends (the glob's, for a
					   member): its policy and stats */
	const struct config_input *cfg;
	const char	*path;		/* cfg->path, or path_buf */
	char		*path_buf;	/* a glob member: where it was found */
	const char	*pos_name;	/* the name of its ring checkpoints */
	char		 pos_name_buf[CONFIG_NAME_MAX + 16];
	char		*pos_path;	/* NULL for stdin */
	bool		 member;	/* one of a glob's files (see below) */
	bool		 gone;		/* member: no longer matched */
	bool		 failed;	/* member: a read error ended it */
	int		 slot;		/* member: its number, for its names */
	unsigned	 gen;		/* member: last glob scan that saw it */
	int		 fd;
	bool		 is_stdin;
	bool		 piped;		/* a pipe or terminal (stdin) */
	uint64_t	 dev;		/* source_file_id() */
	uint64_t	 ino;
	uint64_t	 read_off;	/* file offset of rbuf's end */
	uint64_t	 line_off;	/* file offset where `line` starts */
	char		*rbuf;
	size_t		 rpos, rlen;
	struct strbuf	 line;		/* a partial line across reads */
	bool		 discarding;	/* skipping the tail of a long line */
	bool		 eof;		/* read() returned 0 last time */
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
	uint64_t	 saved_dev;
	uint64_t	 saved_ino;
	int64_t		 last_save_ms;
	bool		 warned_save;
	struct source_stats *st;	/* base.st, or a member's glob's */
};

#define FS(s)	((struct file_source *)(s))
#define CFS(s)	((const struct file_source *)(s))

static bool
file_at_end(const struct source *src)
{
	const struct file_source *s = CFS(src);

	return s->base.finished || (s->eof && s->rpos == s->rlen);
}

static int64_t
file_next_poll(const struct source *src, int64_t now_ms)
{
	const struct file_source *s = CFS(src);

	if (s->base.finished)
		return INT64_MAX;
#ifdef _WIN32
	/* Windows: a pipe has no handle to wait on here (an anonymous
	 * pipe signals nothing): looked at again every poll_interval. */
	if (s->piped)
		return s->drained ? s->next_look_ms : now_ms;
#else
	if (s->piped)
		return s->drained ? INT64_MAX : now_ms;
#endif
	if (!file_at_end(src))
		return now_ms;
	if (s->piped)
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
	*crc = libdeflate_crc32(0, buf, n);
	return 0;
}

/* ---- position file ----------------------------------------------------- */

/* The position file at path (file_pos_parse() of position.c reads it). */
static int
pos_load(const char *path, uint64_t *dev, uint64_t *ino, uint64_t *off,
    uint32_t *crc)
{
	FILE *f;
	char text[2 * (PATH_MAX + 160)];	/* pos_save() writes less */
	struct file_pos p;
	size_t len;
	int rc;

	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? -ENOENT : -errno;
	len = fread(text, 1, sizeof(text), f);
	fclose(f);
	if ((rc = file_pos_parse(text, len, &p)) != 0)
		return rc;
	*dev = p.dev;
	*ino = p.ino;
	*off = p.off;
	*crc = p.crc;
	return 0;
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
	{
		struct file_pos p = { .dev = (uint64_t)s->dev,
		    .ino = (uint64_t)s->ino, .off = s->committed_off,
		    .crc = crc };
		if ((n = file_pos_format(buf, sizeof(buf), s->path, &p)) < 0)
			return;
	}
	if ((rc = file_write_atomic(s->pos_path, buf, (size_t)n, 0640, true)) !=
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
file_checkpoint(struct source *src, uint64_t durable_seq, bool force)
{
	struct file_source *s = FS(src);
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

	/* A glob member is a regular file: never block opening a FIFO that
	 * took its name. */
	if ((fd = open(s->path, O_RDONLY | O_CLOEXEC |
	    (s->member ? O_NONBLOCK : 0))) < 0) {
		int rc = -errno;
		if (!quiet)
			log_warnx("input %s: cannot open %s: %s", s->cfg->name,
			    s->path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
		int rc = S_ISDIR(sb.st_mode) ? -EISDIR : -errno;
		log_warnx("input %s: %s: %s", s->cfg->name, s->path,
		    strerror(-rc));
		close(fd);
		return rc;
	}
	s->fd = fd;
	/* Unknown (Windows only): 0, which a later look tells apart. */
	(void)source_file_id(&sb, fd, s->path, &s->dev, &s->ino);
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
	struct file_pos rp;
	const char *ring = b != NULL ? buffer_get_position(b, s->pos_name) :
	    NULL;
	const char *from = NULL;
	struct stat sb;
	int rc, why = 0, found = 0;

	if (fstat(s->fd, &sb) != 0)
		return;
	rc = pos_load(s->pos_path, &dev, &ino, &off, &crc);
	if (rc == 0) {
		found++;
		if ((why = candidate_check(s, &sb, dev, ino, off, crc)) == 0) {
			best = off;
			from = "position file";
		}
	}
	if (ring != NULL && file_pos_ring_parse(ring, &rp) == 0) {
		int w;

		dev = rp.dev;
		ino = rp.ino;
		off = rp.off;
		crc = rp.crc;
		w = candidate_check(s, &sb, dev, ino, off, crc);
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
				    " (from the %s)", s->cfg->name, s->path,
				    best, from);
			/* The ring lets go of that checkpoint once its
			 * segment is acknowledged, and the input does not
			 * set it again until it moves: the position file
			 * must hold it first. */
			if (best > 0 && strcmp(from, "buffer checkpoint") == 0)
				pos_save(s, mono_now_ms());
		}
		return;
	}
	if (found > 0) {
		if (why == 1)
			log_info("input %s: %s is another file than at the last "
			    "run (rotated or replaced); reading it from the "
			    "start", s->cfg->name, s->path);
		else if (why == 2)
			log_warnx("input %s: %s is shorter than the saved "
			    "position: it was truncated; reading from the start",
			    s->cfg->name, s->path);
		else
			log_warnx("input %s: %s was rewritten since the last "
			    "run (the bytes before the saved position changed);"
			    " reading from the start", s->cfg->name,
			    s->path);
		return;
	}
	if (rc != -ENOENT)
		log_warnx("input %s: position file %s unreadable (%s); "
		    "reading from the start", s->cfg->name, s->pos_path,
		    strerror(-rc));
	/* start = end is for a first run only: a position file that exists
	 * but cannot be read now (EIO, no memory) is not one, and skipping
	 * to the end would lose what came after that position. */
	if (rc == -ENOENT && s->cfg->start == CONFIG_START_END &&
	    s->cfg->follow && sb.st_size > 0) {
		if (seek_to(s, (uint64_t)sb.st_size) == 0) {
			s->committed_off = (uint64_t)sb.st_size;
			log_info("input %s: first run with start = end: "
			    "skipping the %jd bytes already in %s",
			    s->cfg->name, (intmax_t)sb.st_size, s->path);
		}
	}
}

static void
file_close(struct source *src)
{
	struct file_source *s = FS(src);

	if (s->fd >= 0 && !s->is_stdin)
		close(s->fd);
	strbuf_free(&s->line);
	free(s->pos_path);
	free(s->path_buf);
	free(s->rbuf);
	free(s);
}

static const struct source_ops file_ops;
static int	glob_open(const struct config_input *cfg, const char *state_dir,
		    const struct buffer *b, struct source **out);

int
source_file_open(const struct config_input *cfg, const char *state_dir,
    const struct buffer *b, struct source **out)
{
	struct file_source *s;
	char dir[PATH_MAX];
	int rc;

	*out = NULL;
	if (strcmp(cfg->path, "-") != 0 && strpbrk(cfg->path, "*?[") != NULL)
		return glob_open(cfg, state_dir, b, out);
	if ((s = source_new(sizeof(*s), &file_ops, cfg)) == NULL)
		return -ENOMEM;
	s->st = &s->base.st;
	s->owner = &s->base;
	s->cfg = cfg;
	s->path = cfg->path;
	s->pos_name = cfg->name;
	s->fd = -1;
	s->line.max = (size_t)cfg->max_line_size + 1;
	if ((s->rbuf = malloc(READ_CHUNK)) == NULL) {
		rc = -ENOMEM;
		goto err_close;
	}
	if (strcmp(cfg->path, "-") == 0) {
		struct stat sb;

		s->is_stdin = true;
		s->fd = STDIN_FILENO;
		/* A pipe or terminal is waited on; poll() on a regular file
		 * always says readable. */
		if (fstat(s->fd, &sb) == 0 && !S_ISREG(sb.st_mode)) {
			s->piped = true;
#ifndef _WIN32
			s->base.fd = s->fd;
#endif
		}
		*out = &s->base;
		return 0;
	}
	if (snprintf(dir, sizeof(dir), "%s/positions", state_dir) >=
	    (int)sizeof(dir) || (rc = file_mkdirs(dir, 0750)) != 0) {
		rc = -ENAMETOOLONG;
		log_warnx("input %s: cannot create %s/positions", cfg->name,
		    state_dir);
		goto err_close;
	}
	if (asprintf(&s->pos_path, "%s/%s.pos", dir, cfg->name) < 0) {
		s->pos_path = NULL;
		rc = -ENOMEM;
		goto err_close;
	}
	if ((rc = open_path(s, cfg->follow)) != 0) {
		if (!cfg->follow || rc != -ENOENT)
			goto err_close;
		log_info("input %s: %s does not exist yet; waiting for it",
		    cfg->name, cfg->path);
		s->waiting_file = true;
		s->eof = true;
	} else {
		resume(s, b);
	}
	*out = &s->base;
	return 0;

err_close:
	file_close(&s->base);
	return rc;
}

/* ---- reading ----------------------------------------------------------------- */

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Does the line start like a syslog message, as rsyslog and syslog-ng
 * write them to files?  RFC 3164 ("Oct 24 17:05:38 host ...", syslog-ng
 * may add fractions of a second), an ISO timestamp (rsyslog's
 * RSYSLOG_FileFormat "2021-10-24T17:05:38.412656+00:00 host ...",
 * syslog-ng's ts_format(iso)), RFC 5424 ("<13>1 2021-...", or "<13>1 -"
 * without a timestamp), or a "<PRI>" in front of the others.  A byte order
 * mark may come first (the first line of a file).
 */
static bool
looks_like_syslog(const char *p, size_t n)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
		p += 3;
		n -= 3;
	}
	if (n > 0 && p[0] == '<') {
		size_t i = 1;
		while (i < n && i < 5 && is_digit(p[i]))
			i++;
		if (i > 1 && i < n && p[i] == '>') {
			p += i + 1;
			n -= i + 1;
			/* RFC 5424: VERSION (1-99), then the timestamp. */
			i = 0;
			while (i < n && i < 3 && is_digit(p[i]))
				i++;
			if (i > 0 && i < 3 && i < n && p[i] == ' ') {
				p += i + 1;
				n -= i + 1;
				if (n >= 2 && p[0] == '-' && p[1] == ' ')
					return true;	/* NILVALUE */
			}
		}
	}
	if (n >= 16 && p[3] == ' ' && (p[4] == ' ' || is_digit(p[4])) &&
	    is_digit(p[5]) && p[6] == ' ' && is_digit(p[7]) &&
	    is_digit(p[8]) && p[9] == ':' && p[12] == ':' && (p[15] == ' ' ||
	    (p[15] == '.' && n > 16 && is_digit(p[16])))) {
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
		s->st->ignored++;
		return 0;
	}
	rc = source_append(s->owner, b, time_now_ms(), flags, p, n,
	    &s->last_seq);
	if (rc == SOURCE_FILTERED)
		return 0;	/* passed like an ignored line */
	if (rc != 0) {
		/* The agent stops; the position stays before this line, so
		 * the next start reads it again. */
		log_errorx("input %s: cannot add the record at byte %" PRIu64
		    " of %s to the buffer: %s", s->cfg->name, s->line_off,
		    s->path, strerror(-rc));
		return rc;
	}
	s->st->records++;
	if (flags & BUFFER_REC_TRUNCATED)
		s->st->truncated++;
	return 0;
}

/* A line grew past max_line_size: emit what we have, skip the rest. */
static int
emit_truncated(struct file_source *s, struct buffer *b)
{
	int rc;

	log_warnx("input %s: line at byte %" PRIu64 " of %s is longer than "
	    "max_line_size (%" PRIu64 " bytes): forwarding it cut and tagged",
	    s->cfg->name, s->line_off, s->path, s->cfg->max_line_size);
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
	uint64_t dev, ino;

	if (s->member) {
		/* The glob scan follows names; here only the inode counts. */
		if (fstat(s->fd, &sb) != 0)
			return;
	} else if (stat(s->path, &sb) != 0) {
		/* Moved away, not replaced yet: keep reading the old file. */
		if (s->fd >= 0 && fstat(s->fd, &sb) == 0 &&
		    (uint64_t)sb.st_size > s->read_off)
			s->eof = false;
		return;
	}
	if (!s->member) {
		if (source_file_id(&sb, -1, s->path, &dev, &ino) != 0)
			return;		/* cannot tell now: the next look */
		if (s->waiting_file || dev != s->dev || ino != s->ino) {
			s->rotated = true;
			s->eof = s->fd < 0;
			return;
		}
	}
	if ((uint64_t)sb.st_size >= s->read_off && s->sig_valid) {
		uint32_t crc;
		if (sig_at(s->fd, s->line_off, &crc) != 0 || crc != s->sig_crc) {
			log_warnx("input %s: %s was truncated and written again"
			    " (its content before byte %" PRIu64 " changed); "
			    "reading from the start", s->cfg->name,
			    s->path, s->line_off);
			goto restart;
		}
	}
	if ((uint64_t)sb.st_size < s->read_off) {
		log_warnx("input %s: %s was truncated (%jd < %" PRIu64 " bytes);"
		    " reading from the start", s->cfg->name, s->path,
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
			    "file", s->cfg->name, s->path);
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
 * The signature of line_off (see sig_at()), from the bytes still in rbuf
 * when they are there, as they nearly always are right after a line.
 */
static int
sig_here(const struct file_source *s, uint32_t *crc)
{
	uint64_t n = s->line_off < SIG_BYTES ? s->line_off : SIG_BYTES;
	uint64_t start = s->read_off - s->rlen;	/* file offset of rbuf[0] */

	if (s->rbuf != NULL && s->line_off <= s->read_off &&
	    s->line_off >= start + n) {
		*crc = libdeflate_crc32(0, s->rbuf +
		    (s->line_off - n - start), (size_t)n);
		return 0;
	}
	return sig_at(s->fd, s->line_off, crc);
}

/*
 * Tell the ring where this input stands, so that the position travels
 * with the records in the next block (see buffer_set_position()).  It is
 * called after every line: the ring seals a block as soon as a record
 * fills it, with the position set until then, so the block's checkpoint
 * stays at most one line behind its last record.  (Set every 32 KiB, it
 * could lag by dozens of lines that a restart after a crash would read
 * again although the ring holds them.)
 */
static void
ring_position(struct file_source *s, struct buffer *b)
{
	char pos[128];
	uint32_t crc = 0;

	if (s->is_stdin || s->fd < 0 || s->line_off == s->ring_off)
		return;
	if (s->line_off > 0 && sig_here(s, &crc) != 0)
		crc = 0;
	{
		struct file_pos p = { .dev = (uint64_t)s->dev,
		    .ino = (uint64_t)s->ino, .off = s->line_off, .crc = crc };
		(void)file_pos_ring_format(pos, sizeof(pos), &p);
	}
	buffer_set_position(b, s->pos_name, pos);
	s->ring_off = s->line_off;
}

/*
 * At the end of the file, in follow mode: is there more now?  A file
 * truncated and written again past our offset must be noticed before we
 * read from the middle of its new contents, so look before reading.
 * 0: read on; 1: nothing yet; -errno.
 */
static int
wake_at_end(struct file_source *s, struct buffer *b)
{
	int64_t now = mono_now_ms();
	int rc;

	if (!s->cfg->follow || s->is_stdin || now < s->next_look_ms)
		return 1;
	s->next_look_ms = now + (int64_t)s->cfg->poll_interval_ms;
	look_again(s);
	if (s->rotated && s->fd < 0 && (rc = switch_file(s, b)) != 0)
		return rc;
	return s->eof ? 1 : 0;
}

/* What read_chunk() found. */
enum chunk {
	CHUNK_READ,		/* rbuf holds new bytes */
	CHUNK_STOP,		/* nothing more in this poll */
	CHUNK_AGAIN,		/* the file changed: go round again */
};

/*
 * read() said 0.  Following: wait for more, or move to the rotated file.
 * Otherwise the input ends, and a last line without newline still counts.
 * A chunk value, or -errno.
 */
static int
reached_eof(struct file_source *s, struct buffer *b)
{
	int rc;

	s->eof = true;
	if (s->cfg->follow && !s->is_stdin && !s->gone) {
		s->next_look_ms = mono_now_ms() +
		    (int64_t)s->cfg->poll_interval_ms;
		if (!s->sig_valid && s->line_off > 0)
			s->sig_valid = sig_at(s->fd, s->line_off,
			    &s->sig_crc) == 0;
		if (s->rotated) {
			if ((rc = switch_file(s, b)) != 0)
				return rc;
			return CHUNK_AGAIN;
		}
		look_again(s);
		return s->eof ? CHUNK_STOP : CHUNK_AGAIN;
	}
	if (s->line.len > 0 && !s->discarding &&
	    (rc = emit_line(s, b, s->line.s, s->line.len, 0)) != 0)
		return rc;
	s->line_off = s->read_off;
	strbuf_reset(&s->line);
	s->base.finished = true;
	return CHUNK_STOP;
}

/* rbuf is used up: read the next chunk.  A chunk value, or -errno. */
static int
read_chunk(struct file_source *s, struct buffer *b)
{
	ssize_t n;
	int rc;

	if (s->eof || s->fd < 0)
		return CHUNK_STOP;
	if (s->rbuf == NULL && (s->rbuf = malloc(READ_CHUNK)) == NULL)
		return -ENOMEM;
	if (s->piped) {
		/* A pipe or terminal: never block in read(). */
#ifdef _WIN32
		/* Only pipes are asked (PeekNamedPipe()); a console is not a
		 * pipe and reads as drained (path = - from a console is not
		 * supported on Windows). */
		s->drained = !win_fd_readable(s->fd);
		s->next_look_ms = mono_now_ms() +
		    (int64_t)s->cfg->poll_interval_ms;
#else
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		s->drained = poll(&pfd, 1, 0) <= 0;
#endif
		if (s->drained)
			return CHUNK_STOP;
	}
#ifdef _WIN32
	/* The C runtime's read() stays at 0 once it met the end. */
	n = win_read(s->fd, s->rbuf, READ_CHUNK);
#else
	n = read(s->fd, s->rbuf, READ_CHUNK);
#endif
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return CHUNK_STOP;
	if (n < 0) {
		rc = -errno;
		log_warnx("input %s: read %s: %s", s->cfg->name, s->path,
		    strerror(errno));
		s->failed = s->member;
		return rc;
	}
	if (n == 0)
		return reached_eof(s, b);
	s->rpos = 0;
	s->rlen = (size_t)n;
	s->read_off += (uint64_t)n;
	return CHUNK_READ;
}

/*
 * Take rbuf's bytes up to the next newline (or all of them): they end the
 * line being built, or start one, or are the skipped tail of a long line.
 * Adds what it took to *consumed.  0 or -errno.
 */
static int
take_segment(struct file_source *s, struct buffer *b, size_t *consumed)
{
	const char *seg = s->rbuf + s->rpos;
	const char *nl = memchr(seg, '\n', s->rlen - s->rpos);
	size_t seglen = nl != NULL ? (size_t)(nl - seg) : s->rlen - s->rpos;
	int rc;

	*consumed += seglen + (nl != NULL);
	s->rpos += seglen + (nl != NULL);
	s->sig_valid = false;
	if (s->discarding) {
		/* Skip the rest of an overlong line. */
	} else if (s->line.len + seglen > s->cfg->max_line_size) {
		size_t room = (size_t)s->cfg->max_line_size - s->line.len;
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
		ring_position(s, b);
	}
	return 0;
}

static ssize_t
file_poll(struct source *src, struct buffer *b, size_t budget)
{
	struct file_source *s = FS(src);
	size_t consumed = 0;
	int rc;

	if (s->base.finished)
		return 0;
	if (s->eof && s->rpos == s->rlen && (rc = wake_at_end(s, b)) != 0) {
		if (rc < 0)
			return rc;
		goto out;
	}
	while (consumed < budget && !s->base.finished) {
		if (!buffer_can_append(b, (size_t)s->cfg->max_line_size +
		    SOURCE_TRAILER_MAX))
			break;
		if (s->rpos == s->rlen) {
			if ((rc = read_chunk(s, b)) < 0)
				return rc;
			if (rc == CHUNK_STOP)
				break;
			if (rc == CHUNK_AGAIN)
				continue;
		}
		if ((rc = take_segment(s, b, &consumed)) != 0)
			return rc;
	}
out:
	if (!s->is_stdin && s->line_off != (s->nckpts > 0 ?
	    s->ckpts[s->nckpts - 1].off : s->committed_off))
		ckpt_push(s, s->line_off);
	ring_position(s, b);
	s->st->bytes += consumed;
	if (s->member && (s->eof || s->base.finished) && s->rpos == s->rlen) {
		/* An idle member keeps no read buffer. */
		free(s->rbuf);
		s->rbuf = NULL;
		s->rpos = s->rlen = 0;
	}
	return (ssize_t)consumed;
}

/*
 * A file or standard input: a pipe or terminal is waited on, a regular
 * file polled by time.  The position is the file's own (file_checkpoint()).
 */
static const struct source_ops file_ops = {
	.poll = file_poll,
	.next_poll = file_next_poll,
	.at_end = file_at_end,
	.checkpoint = file_checkpoint,
	.close = file_close,
};

/* ---- globs: a set of files -------------------------------------------- */

#define GLOB_MAX_FILES	256	/* files followed at once by one input */

/* A saved position met while opening a glob input. */
struct cand {
	uint64_t	 dev, ino, off;
	uint32_t	 crc;
	int		 slot;		/* -1: under the input's own name */
	const char	*from;		/* where it was found */
};

struct glob_source {
	struct source	 base;
	const struct config_input *cfg;
	char		*pos_dir;	/* state_dir/positions */
	struct file_source *files[GLOB_MAX_FILES];
	size_t		 nfiles;
	size_t		 next;		/* the member the next poll starts at */
	unsigned	 gen;		/* scans so far */
	int64_t		 next_scan_ms;
	bool		 finished;
	bool		 warned_scan;
	bool		 warned_open;
	bool		 warned_packed;
	size_t		 warned_over;	/* matches left out when last warned */
	struct cand	*cands;		/* while opening: the saved positions */
	size_t		 ncands;
	bool		 pos_unreadable; /* a position file could not be read */
};

#define GS(s)	((struct glob_source *)(s))
#define CGS(s)	((const struct glob_source *)(s))

/* Compressed rotations (sysmon.log.2.gz) match `sysmon.log*` too, but
 * their bytes are not lines. */
static bool
is_packed(const char *path)
{
	static const char *const ext[] = {
		".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z",
	};
	size_t n = strlen(path);

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		size_t e = strlen(ext[i]);
		if (n > e && strcmp(path + n - e, ext[i]) == 0)
			return true;
	}
	return false;
}

/* The name of slot k's checkpoints ("NAME#k"; k < 0: "NAME").  Names
 * are [A-Za-z0-9_.-]{1,64}: CONFIG_NAME_MAX + 16 bytes always hold it. */
static void
slot_name(const struct config_input *cfg, int k, char *out, size_t len)
{
	if (k < 0)
		snprintf(out, len, "%s", cfg->name);
	else
		snprintf(out, len, "%s#%d", cfg->name, k);
}

/*
 * Collect every position saved for this input: each slot's position file
 * and ring checkpoint, and those under the input's own name (left by a
 * plain path before the pattern).  Members find theirs by device and
 * inode, whatever slot or name they had.  0 or -errno.
 */
static int
cands_load(struct glob_source *g, const struct buffer *b)
{
	char name[CONFIG_NAME_MAX + 16], path[PATH_MAX];
	const char *ring;
	struct file_pos rp;
	struct cand *c;
	int rc;

	g->cands = calloc(2 * (GLOB_MAX_FILES + 1), sizeof(*g->cands));
	if (g->cands == NULL)
		return -ENOMEM;
	for (int k = -1; k < GLOB_MAX_FILES; k++) {
		slot_name(g->cfg, k, name, sizeof(name));
		if (snprintf(path, sizeof(path), "%s/%s.pos", g->pos_dir,
		    name) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		c = &g->cands[g->ncands];
		rc = pos_load(path, &c->dev, &c->ino, &c->off, &c->crc);
		if (rc == 0) {
			c->slot = k;
			c->from = "position file";
			c = &g->cands[++g->ncands];
		} else if (rc != -ENOENT) {
			log_warnx("input %s: position file %s unreadable (%s);"
			    " ignoring it", g->cfg->name, path, strerror(-rc));
			g->pos_unreadable = true;	/* not a first run */
		}
		if (b != NULL && (ring = buffer_get_position(b, name)) !=
		    NULL && file_pos_ring_parse(ring, &rp) == 0) {
			c->dev = rp.dev;
			c->ino = rp.ino;
			c->off = rp.off;
			c->crc = rp.crc;
			c->slot = k;
			c->from = "buffer checkpoint";
			g->ncands++;
		}
	}
	return 0;
}

/*
 * Where a member found when the input opens starts: the furthest usable
 * saved position of its inode (its slot then keeps the same names), else
 * its start, or its end on a first run with start = end.
 */
static void
member_resume(struct glob_source *g, struct file_source *m)
{
	const struct cand *best = NULL;
	struct stat sb;
	int why = 0;

	if (fstat(m->fd, &sb) != 0)
		return;
	for (size_t i = 0; i < g->ncands; i++) {
		const struct cand *c = &g->cands[i];
		int w = candidate_check(m, &sb, c->dev, c->ino, c->off, c->crc);

		if (w == 0 && (best == NULL || c->off > best->off))
			best = c;
		else if (w > 1)
			why = w;
	}
	if (best != NULL) {
		m->slot = best->slot;
		if (seek_to(m, best->off) == 0) {
			m->committed_off = best->off;
			if (strcmp(best->from, "position file") == 0) {
				/* What its slot's file says already (unless
				 * members_place() gives it another slot). */
				m->saved_off = best->off;
				m->saved_dev = best->dev;
				m->saved_ino = best->ino;
			}
			if (best->off > 0)
				log_info("input %s: resuming %s at byte %" PRIu64
				    " (from the %s)", g->cfg->name, m->path,
				    best->off, best->from);
		}
		return;
	}
	if (why == 2)
		log_warnx("input %s: %s is shorter than the saved position: "
		    "it was truncated; reading from the start", g->cfg->name,
		    m->path);
	else if (why == 3)
		log_warnx("input %s: %s was rewritten since the last run (the "
		    "bytes before the saved position changed); reading from "
		    "the start", g->cfg->name, m->path);
	if (why == 0 && g->ncands == 0 && !g->pos_unreadable &&
	    g->cfg->start == CONFIG_START_END && g->cfg->follow &&
	    sb.st_size > 0 &&
	    seek_to(m, (uint64_t)sb.st_size) == 0) {
		m->committed_off = (uint64_t)sb.st_size;
		log_info("input %s: first run with start = end: skipping the "
		    "%jd bytes already in %s", g->cfg->name,
		    (intmax_t)sb.st_size, m->path);
	}
}

/* Open the file found at path (dev, ino: what stat() said) as a new
 * member. */
static int
member_new(struct glob_source *g, const char *path, uint64_t dev,
    uint64_t ino, struct file_source **out)
{
	struct file_source *m;
	int rc;

	*out = NULL;
	if ((m = source_new(sizeof(*m), &file_ops, g->cfg)) == NULL)
		return -ENOMEM;
	m->st = &g->base.st;	/* the glob counts for all its members */
	m->owner = &g->base;
	m->cfg = g->cfg;
	m->member = true;
	m->fd = -1;
	m->slot = -1;
	m->line.max = (size_t)g->cfg->max_line_size + 1;
	if ((m->path_buf = strdup(path)) == NULL) {
		rc = -ENOMEM;
		goto err_close;
	}
	m->path = m->path_buf;
	if ((rc = open_path(m, true)) != 0)
		goto err_close;
	if (m->dev != dev || m->ino != ino) {
		rc = -EAGAIN;	/* replaced since: the next scan sees it */
		goto err_close;
	}
	*out = m;
	return 0;

err_close:
	file_close(&m->base);
	return rc;
}

/* Give member m its slot's names.  0 or -errno. */
static int
member_name(struct glob_source *g, struct file_source *m)
{
	slot_name(g->cfg, m->slot, m->pos_name_buf, sizeof(m->pos_name_buf));
	m->pos_name = m->pos_name_buf;
	if (asprintf(&m->pos_path, "%s/%s.pos", g->pos_dir,
	    m->pos_name) < 0) {
		m->pos_path = NULL;
		return -ENOMEM;
	}
	return 0;
}

static struct file_source *
member_find(const struct glob_source *g, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < g->nfiles; i++)
		if (g->files[i]->dev == dev && g->files[i]->ino == ino)
			return g->files[i];
	return NULL;
}

static bool
slot_used(const struct glob_source *g, int slot,
    const struct file_source *except)
{
	for (size_t i = 0; i < g->nfiles; i++)
		if (g->files[i] != except && g->files[i]->slot == slot)
			return true;
	return false;
}

/* Forget member i (its records are in the ring already). */
static void
member_drop(struct glob_source *g, size_t i)
{
	struct file_source *m = g->files[i];

	file_close(&m->base);
	memmove(&g->files[i], &g->files[i + 1],
	    (g->nfiles - i - 1) * sizeof(g->files[0]));
	g->nfiles--;
}

/* A member the scan met again, perhaps under another name (rotated). */
static void
member_seen(struct glob_source *g, struct file_source *m, const char *path)
{
	char *p;

	m->gen = g->gen;
	if (m->gone) {
		m->gone = false;
		log_info("input %s: %s matches again", g->cfg->name, path);
	}
	if (strcmp(m->path, path) == 0 || (p = strdup(path)) == NULL)
		return;
	log_info("input %s: %s is now %s (renamed); still following it",
	    g->cfg->name, m->path, path);
	free(m->path_buf);
	m->path = m->path_buf = p;
}

/*
 * One path the pattern matched: a member already (perhaps renamed), or a
 * new one appended to g->files.  Counts in *over a match left out for
 * GLOB_MAX_FILES; sets *open_failed when it cannot be opened.
 */
static void
scan_path(struct glob_source *g, const char *path, size_t *over,
    bool *open_failed)
{
	struct stat sb;
	struct file_source *m;
	uint64_t dev, ino;
	int rc;

	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    source_file_id(&sb, -1, path, &dev, &ino) != 0)
		return;
	if ((m = member_find(g, dev, ino)) != NULL) {
		if (m->gen != g->gen)
			member_seen(g, m, path);
		return;
	}
	if (is_packed(path)) {
		if (!g->warned_packed)
			log_info("input %s: skipping compressed files such as "
			    "%s", g->cfg->name, path);
		g->warned_packed = true;
		return;
	}
	if (g->nfiles == GLOB_MAX_FILES) {
		(*over)++;
		return;
	}
	if ((rc = member_new(g, path, dev, ino, &m)) != 0) {
		if (rc != -EAGAIN && !g->warned_open)
			log_warnx("input %s: cannot open %s: %s (trying again "
			    "every poll_interval)", g->cfg->name, path,
			    strerror(-rc));
		*open_failed |= rc != -EAGAIN;
		return;
	}
	m->gen = g->gen;
	g->files[g->nfiles++] = m;
}

/*
 * The members from first_new on are new: where each starts (its saved
 * position while opening), and its slot, the one its saved position came
 * from when no other member holds it.  A member that cannot be named is
 * dropped.
 *
 * While opening, each member's position file is then made to hold where
 * it resumes: a position found in the ring's checkpoints lives only in a
 * segment the ring deletes once the outputs acknowledged it, and a member
 * that does not move (at its end) sets no newer checkpoint; one found
 * under a slot another member took is overwritten by that member.  The
 * members given another slot are written first, before a member keeping
 * a slot overwrites the file they were found in.
 */
static void
members_place(struct glob_source *g, size_t first_new)
{
	bool moved[GLOB_MAX_FILES];
	struct file_source *m;
	int64_t now;

	for (size_t i = first_new; i < g->nfiles; i++) {
		m = g->files[i];
		if (g->cands != NULL)
			member_resume(g, m);
		else
			log_info("input %s: following %s from its start",
			    g->cfg->name, m->path);
	}
	for (size_t i = first_new; i < g->nfiles; i++) {
		m = g->files[i];
		if (m->slot >= 0 && slot_used(g, m->slot, m))
			m->slot = -1;
	}
	for (size_t i = first_new; i < g->nfiles; i++) {
		m = g->files[i];
		moved[i] = m->slot < 0;
		if (m->slot < 0) {
			int k = 0;
			/* Its new slot's file says nothing of it yet. */
			m->saved_off = m->saved_dev = m->saved_ino = 0;
			while (slot_used(g, k, NULL))
				k++;
			m->slot = k;
		}
	}
	for (size_t i = first_new; i < g->nfiles; ) {
		if (member_name(g, g->files[i]) != 0) {
			memmove(&moved[i], &moved[i + 1],
			    (g->nfiles - i - 1) * sizeof(moved[0]));
			member_drop(g, i);
		} else {
			i++;
		}
	}
	if (g->cands == NULL)
		return;
	now = mono_now_ms();
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = first_new; i < g->nfiles; i++)
			if (moved[i] == (pass == 0) &&
			    g->files[i]->committed_off > 0)
				pos_save(g->files[i], now);
}

/*
 * Expand the pattern and bring the members up to date: a file not
 * followed yet becomes a member (from its start; while opening, from its
 * saved position), a file followed under another name is the same file,
 * and a member no longer matched is read to its end once more and then
 * closed.  Files are told apart by device and inode, never by name, so
 * that a rotation by rename within the pattern reads nothing twice.
 */
static void
glob_scan(struct glob_source *g)
{
	glob_t gl;
	struct file_source *m;
	size_t first_new = g->nfiles, over = 0;
	bool open_failed = false;
	int rc;

	memset(&gl, 0, sizeof(gl));
	rc = glob(g->cfg->path, 0, NULL, &gl);
	if (rc != 0 && rc != GLOB_NOMATCH) {
		/* Nothing is taken as gone on a failed scan. */
		if (!g->warned_scan)
			log_warnx("input %s: cannot expand %s (%s); trying "
			    "again every poll_interval", g->cfg->name,
			    g->cfg->path, rc == GLOB_NOSPACE ? "out of memory" :
			    "read error");
		g->warned_scan = true;
		globfree(&gl);
		return;
	}
	g->warned_scan = false;
	g->gen++;
	for (size_t i = 0; rc == 0 && i < gl.gl_pathc; i++)
		scan_path(g, gl.gl_pathv[i], &over, &open_failed);
	globfree(&gl);
	g->warned_open = open_failed;

	for (size_t i = 0; i < first_new; i++) {
		m = g->files[i];
		if (m->gen == g->gen || m->gone)
			continue;
		log_info("input %s: %s no longer matches %s; closing it once "
		    "read to its end", g->cfg->name, m->path, g->cfg->path);
		m->gone = true;
		m->eof = false;		/* read it to its end once more */
	}
	members_place(g, first_new);

	if (over > 0 && g->warned_over == 0)
		log_warnx("input %s: %zu more files match %s than the %d "
		    "followed at once; they wait until followed ones are "
		    "closed", g->cfg->name, over, g->cfg->path,
		    GLOB_MAX_FILES);
	g->warned_over = over;
}

static void
glob_close(struct source *src)
{
	struct glob_source *g = GS(src);

	for (size_t i = 0; i < g->nfiles; i++)
		file_close(&g->files[i]->base);
	free(g->cands);
	free(g->pos_dir);
	free(g);
}

static const struct source_ops glob_ops;

static int
glob_open(const struct config_input *cfg, const char *state_dir,
    const struct buffer *b, struct source **out)
{
	struct glob_source *g;
	char dir[PATH_MAX];
	int rc;

	*out = NULL;
	if ((g = source_new(sizeof(*g), &glob_ops, cfg)) == NULL)
		return -ENOMEM;
	g->cfg = cfg;
	if (snprintf(dir, sizeof(dir), "%s/positions", state_dir) >=
	    (int)sizeof(dir) || file_mkdirs(dir, 0750) != 0) {
		rc = -ENAMETOOLONG;
		log_warnx("input %s: cannot create %s/positions", cfg->name,
		    state_dir);
		goto err_free;
	}
	if ((g->pos_dir = strdup(dir)) == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	if ((rc = cands_load(g, b)) != 0)
		goto err_free;
	glob_scan(g);
	free(g->cands);
	g->cands = NULL;
	g->ncands = 0;
	if (g->nfiles == 0 && !cfg->follow) {
		log_warnx("input %s: no file matches %s", cfg->name, cfg->path);
		rc = -ENOENT;
		goto err_free;
	}
	if (g->nfiles == 0)
		log_info("input %s: no file matches %s yet; waiting for one",
		    cfg->name, cfg->path);
	else
		log_info("input %s: %zu file(s) match %s", cfg->name,
		    g->nfiles, cfg->path);
	g->next_scan_ms = mono_now_ms() + (int64_t)cfg->poll_interval_ms;
	*out = &g->base;
	return 0;

err_free:
	glob_close(&g->base);
	return rc;
}

/*
 * Poll the members in turn, starting one further each time, so that the
 * records of files written at once interleave in the order they are read.
 */
static ssize_t
glob_poll(struct source *src, struct buffer *b, size_t budget)
{
	struct glob_source *g = GS(src);
	int64_t now = mono_now_ms();
	size_t consumed = 0, n;
	bool all_done = true;

	if (g->base.finished)
		return 0;
	if (g->cfg->follow && now >= g->next_scan_ms) {
		glob_scan(g);
		g->next_scan_ms = now + (int64_t)g->cfg->poll_interval_ms;
	}
	n = g->nfiles;
	for (size_t i = 0; i < n && consumed < budget; i++) {
		struct file_source *m = g->files[(g->next + i) % n];
		ssize_t got;

		if (m->base.finished || file_next_poll(&m->base, now) > now)
			continue;
		if (!buffer_can_append(b, (size_t)g->cfg->max_line_size +
		    SOURCE_TRAILER_MAX))
			break;
		if ((got = file_poll(&m->base, b, budget - consumed)) < 0) {
			if (!m->failed)
				return got;
			log_warnx("input %s: no longer reading %s after that "
			    "error", g->cfg->name, m->path);
			m->base.finished = true;
			close(m->fd);
			m->fd = -1;
			continue;
		}
		consumed += (size_t)got;
	}
	if (n > 0)
		g->next = (g->next + 1) % n;
	for (size_t i = 0; i < g->nfiles; ) {
		struct file_source *m = g->files[i];

		if (m->base.finished && m->gone) {
			log_info("input %s: closing %s (read to its end)",
			    g->cfg->name, m->path);
			if (m->pos_path != NULL)
				(void)unlink(m->pos_path);
			member_drop(g, i);
			continue;
		}
		all_done &= m->base.finished;
		i++;
	}
	if (!g->cfg->follow && all_done)
		g->base.finished = true;
	return (ssize_t)consumed;
}

static int64_t
glob_next_poll(const struct source *src, int64_t now_ms)
{
	const struct glob_source *g = CGS(src);
	int64_t t = g->cfg->follow ? g->next_scan_ms : INT64_MAX;

	if (g->base.finished)
		return INT64_MAX;
	for (size_t i = 0; i < g->nfiles; i++) {
		int64_t m;

		if (g->files[i]->base.finished)
			continue;
		if ((m = file_next_poll(&g->files[i]->base, now_ms)) < t)
			t = m;
	}
	return t;
}

static bool
glob_at_end(const struct source *src)
{
	const struct glob_source *g = CGS(src);

	for (size_t i = 0; i < g->nfiles; i++)
		if (!file_at_end(&g->files[i]->base))
			return false;
	return true;
}

static void
glob_checkpoint(struct source *src, uint64_t durable_seq, bool force)
{
	struct glob_source *g = GS(src);

	for (size_t i = 0; i < g->nfiles; i++)
		file_checkpoint(&g->files[i]->base, durable_seq, force);
}

/* Regular files: polled by time.  Each member keeps its own position. */
static const struct source_ops glob_ops = {
	.poll = glob_poll,
	.next_poll = glob_next_poll,
	.at_end = glob_at_end,
	.checkpoint = glob_checkpoint,
	.close = glob_close,
};
