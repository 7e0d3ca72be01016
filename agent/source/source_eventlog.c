/*
 * source_eventlog.c - the `eventlog` input (Windows builds only): Sysmon
 * records straight from the Windows Event Log.
 *
 * Reading.  A pull subscription: EvtSubscribe() on `channel`
 * (Microsoft-Windows-Sysmon/Operational unless configured) with the XPath
 * `query`, no callback, and a manual-reset event that the service sets
 * when records are waiting.  That event is this source's wait handle: the
 * agent's loop sleeps on it among its other handles (evloop_win.c) and
 * polls the source when it is set.  A poll that finds it set resets it
 * first and then drains the subscription with EvtNext() in batches until
 * ERROR_NO_MORE_ITEMS, so a record arriving while we drain sets it again
 * and is never missed.  Each record is rendered with
 * EvtRender(EvtRenderEventXml), converted from UTF-16 to UTF-8 and put on
 * one line (eventlog_util.c: layout between elements dropped, a CR or LF
 * inside a value written as &#13; or &#10;, which the parser decodes
 * back), then appended to the ring like a line of the file input.  The
 * outputs parse it with the same event model as every other record.
 *
 * Position.  A bookmark (EvtCreateBookmark(), EvtUpdateBookmark() after
 * every record appended) is the checkpoint: its XML, from
 * EvtRender(EvtRenderBookmark), put on one line, is noted with the ring
 * sequence number of the last record it covers and saved once that record
 * is durable (the source_pos helpers of source_pos.c:
 * state_dir/positions/NAME.pos), and it travels with the ring's blocks
 * when it fits there (buffer_set_position()).  On restart the further of
 * the two resumes the subscription with EvtSubscribeStartAfterBookmark |
 * EvtSubscribeStrict.  Strict matters: without it Windows silently starts
 * "near" a bookmark whose record is gone.  With it, EvtSubscribe() fails
 * with ERROR_NOT_FOUND when the log wrapped or was cleared past our
 * position, and EvtNext() fails with ERROR_EVT_QUERY_RESULT_STALE when
 * that happens while we read; both are announced as a gap (logged at once
 * with the bookmark's record id, and again with the range of record ids
 * lost once the next record shows where reading went on) and reading
 * starts again at the oldest record still in the log.  A stale result
 * before any record was read has no bookmark to measure the loss by: its
 * gap is of unknown size.  On a first run, `start` picks the oldest record
 * (beginning) or only new ones (end, the default for this input).
 *
 * Every subscription is strict, a first run's too: besides failing
 * EvtSubscribe() on a lost bookmark, the flag makes EvtNext() report
 * records that went missing before we read them (Microsoft's
 * EVT_SUBSCRIBE_FLAGS page), which would otherwise pass unnoticed when the
 * log wraps while a first run is still reading it.  That it is taken
 * without a bookmark is checked only against our stand-in
 * (tests/windows/wevtapi/); should Windows refuse it there
 * (ERROR_INVALID_PARAMETER), we say so and subscribe without it.
 *
 * Errors.  Only a query Windows rejects and missing rights stop the
 * input, when it opens.  Any other subscription that cannot be made (the
 * event log service not up yet, the channel not there until Sysmon is
 * installed) or that fails later is logged and tried again every RETRY_MS
 * from the bookmark.  A record that cannot be rendered is logged and
 * skipped (the bookmark moves past it, so it cannot block the input).
 *
 * Waiting.  Nothing here polls.  Subscribed, the source waits on its
 * signal only (next_poll says "never" when idle).  Without a subscription
 * it has no wait handle and asks for a poll at the retry time.  When the
 * ring refuses a record (full, under full = block) it asks for nothing
 * either: the ring makes room when an output acknowledges, the loop turns
 * again after every acknowledgement (and at least once a second), and it
 * polls a source with a wait handle at every turn.  The signal is reset at
 * every poll that finds it set, even in the middle of a drain, so records
 * arriving while the ring is full cannot keep the loop's wait returning at
 * once.
 *
 * Links with wevtapi (and kernel32).
 */
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include <windows.h>
#include <winevt.h>

#include "eventlog_util.h"
#include "source_int.h"
#include "base.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH		64		/* event handles per EvtNext() */
#define RETRY_MS	5000		/* a failed subscription, again */
#define RENDER_MAX	(8u << 20)	/* bytes of UTF-16 EvtRender may use */
#define LINE_MAX_DEFAULT (1u << 20)	/* when max_line_size is 0 */
#define RING_POS_MAX	255		/* what buffer_set_position() keeps */

struct eventlog_source {
	struct source	 base;
	const struct config_input *cfg;
	wchar_t		*channel_w;
	wchar_t		*query_w;
	HANDLE		 signal;	/* set by the service: records wait */
	EVT_HANDLE	 sub;		/* NULL: to (re)subscribe at retry_ms */
	EVT_HANDLE	 bookmark;	/* after the last record appended */
	bool		 bookmark_moved; /* since its XML was last noted */
	DWORD		 fresh_flags;	/* where to start without a bookmark */
	bool		 fresh_plain;	/* Windows refused it strict */
	char		*resume_xml;	/* saved bookmark not yet subscribed
					   after (NULL: none, or gone) */
	EVT_HANDLE	 handles[BATCH]; /* from EvtNext(), not yet appended */
	DWORD		 nhandles, next;
	bool		 draining;	/* signal reset, EvtNext() not empty */
	bool		 blocked;	/* the ring refused the last record */
	bool		 opened;	/* source_eventlog_open() returned */
	int64_t		 retry_ms;	/* monotonic: subscribe again */
	DWORD		 last_error;	/* logged once until it changes */
	bool		 gap_pending;	/* say what was lost at next record */
	bool		 gap_unknown;	/* lost before any record was read */
	uint64_t	 gap_after;	/* the bookmark's record id */
	uint64_t	 gaps;		/* gaps announced */
	uint64_t	 render_errors;	/* records skipped */
	void		*wbuf;		/* EvtRender() output */
	size_t		 wcap;		/* its size in bytes */
	struct strbuf	 utf8;		/* a rendering in UTF-8 */
	struct strbuf	 line;		/* the same on one line */
	uint64_t	 last_seq;	/* ring seq of the last record */
	struct source_pos pos;
};

#define ES(s)	((struct eventlog_source *)(s))
#define CES(s)	((const struct eventlog_source *)(s))

/* ---- helpers ------------------------------------------------------------------ */

/* "NNNN (text)" for a Windows error code, into buf. */
static const char *
win_strerror(DWORD e, char *buf, size_t len)
{
	char text[256];
	DWORD n;

	n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM |
	    FORMAT_MESSAGE_IGNORE_INSERTS, NULL, e, 0, text,
	    (DWORD)sizeof(text), NULL);
	while (n > 0 && (text[n - 1] == '\r' || text[n - 1] == '\n' ||
	    text[n - 1] == ' ' || text[n - 1] == '.'))
		n--;
	text[n < sizeof(text) ? n : sizeof(text) - 1] = '\0';
	if (snprintf(buf, len, "Windows error %lu%s%s%s", (unsigned long)e,
	    n > 0 ? " (" : "", text, n > 0 ? ")" : "") >= (int)len && len > 4)
		memcpy(buf + len - 4, "...", 4);
	return buf;
}

static int
win_errno(DWORD e)
{
	switch (e) {
	case ERROR_ACCESS_DENIED:
		return -EACCES;
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
	case ERROR_EVT_CHANNEL_NOT_FOUND:
		return -ENOENT;
	case ERROR_EVT_INVALID_QUERY:
	case ERROR_EVT_INVALID_CHANNEL_PATH:
	case ERROR_INVALID_PARAMETER:
		return -EINVAL;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* A wide copy of UTF-8 s (caller frees), or NULL. */
static wchar_t *
wide(const char *s)
{
	wchar_t *w;
	int n;

	n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
	if (n <= 0 || (w = calloc((size_t)n, sizeof(*w))) == NULL)
		return NULL;
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) !=
	    n) {
		free(w);
		return NULL;
	}
	return w;
}

/* Log a Windows failure once until another one (or success) comes. */
static void
warn_once(struct eventlog_source *s, DWORD e, const char *what)
{
	char why[384];

	if (e == s->last_error)
		return;
	s->last_error = e;
	log_warnx("input %s: %s: %s", s->cfg->name, what,
	    win_strerror(e, why, sizeof(why)));
}

/*
 * Render h (an event: EvtRenderEventXml; a bookmark: EvtRenderBookmark)
 * into s->line as one line of UTF-8.  0, -EIO with *err set (the API
 * failed), -EMSGSIZE (larger than RENDER_MAX) or -ENOMEM.
 */
static int
render(struct eventlog_source *s, EVT_HANDLE h, DWORD flags, DWORD *err)
{
	DWORD used = 0, props = 0;
	size_t bad = 0;
	int rc;

	*err = 0;
	if (!EvtRender(NULL, h, flags, (DWORD)s->wcap, s->wbuf, &used,
	    &props)) {
		if ((*err = GetLastError()) != ERROR_INSUFFICIENT_BUFFER)
			return -EIO;
		if (used > RENDER_MAX)
			return -EMSGSIZE;
		/* At most twice RENDER_MAX: a DWORD still. */
		if (mem_grow(&s->wbuf, &s->wcap, used, 1) != 0)
			return -ENOMEM;
		if (!EvtRender(NULL, h, flags, (DWORD)s->wcap, s->wbuf, &used,
		    &props)) {
			*err = GetLastError();
			return -EIO;
		}
		*err = 0;
	}
	strbuf_reset(&s->utf8);
	strbuf_reset(&s->line);
	if ((rc = eventlog_utf16le_to_utf8(s->wbuf, used, &s->utf8, &bad)) !=
	    0)
		return rc == -ENOBUFS ? -EMSGSIZE : rc;
	if (bad > 0)
		log_debug("input %s: %" PRIu64 " invalid UTF-16 unit(s) "
		    "replaced with U+FFFD", s->cfg->name, (uint64_t)bad);
	if (s->utf8.len == 0) {
		*err = ERROR_INVALID_DATA;
		return -EIO;
	}
	rc = eventlog_xml_one_line(s->utf8.s, s->utf8.len, &s->line);
	return rc == -ENOBUFS ? -EMSGSIZE : rc;
}

/* ---- subscribing -------------------------------------------------------------- */

static EVT_HANDLE
subscribe_raw(struct eventlog_source *s, EVT_HANDLE bookmark, DWORD flags)
{
	return EvtSubscribe(NULL, s->signal, s->channel_w, s->query_w,
	    bookmark, NULL, NULL, flags);
}

static void
drop_handles(struct eventlog_source *s)
{
	for (DWORD i = s->next; i < s->nhandles; i++)
		EvtClose(s->handles[i]);
	s->next = s->nhandles = 0;
	s->draining = false;
}

/*
 * The bookmarked record is gone (the log wrapped or was cleared while we
 * were not reading it): say so now, and once the next record shows where
 * reading goes on, say which records were lost.
 */
static void
announce_gap(struct eventlog_source *s, const char *xml, const char *when)
{
	struct eventlog_bookmark bm;

	if (eventlog_bookmark_parse(xml, strlen(xml), &bm, NULL, 0) != 0)
		memset(&bm, 0, sizeof(bm));
	s->gaps++;
	s->gap_pending = true;
	s->gap_unknown = false;
	s->gap_after = bm.record_id;
	log_warnx("input %s: GAP: the last record read from %s (record id %"
	    PRIu64 ") is no longer in the event log %s (the log wrapped or was "
	    "cleared); the records after it that were overwritten are lost; "
	    "reading on from the oldest record still there", s->cfg->name,
	    s->cfg->channel, bm.record_id, when);
}

/*
 * Subscribe after the bookmark xml (one line), or, when it is NULL or not
 * accepted, with fresh (EvtSubscribeStartAtOldestRecord or
 * EvtSubscribeToFutureEvents); after a gap, from the oldest record.  Set
 * s->sub and s->bookmark.  0 or -errno (logged).  A bookmark that is gone
 * or refused also clears s->resume_xml (xml may be that string).
 */
static int
subscribe(struct eventlog_source *s, const char *xml, DWORD fresh,
    const char *when)
{
	EVT_HANDLE bm;
	DWORD e;
	char why[384];

	if (s->bookmark != NULL) {
		EvtClose(s->bookmark);
		s->bookmark = NULL;
	}
	s->bookmark_moved = false;
	if (xml != NULL) {
		wchar_t *w = wide(xml);

		bm = w != NULL ? EvtCreateBookmark(w) : NULL;
		e = w == NULL ? ERROR_NO_UNICODE_TRANSLATION : GetLastError();
		free(w);
		if (bm == NULL) {
			log_warnx("input %s: the saved bookmark is not accepted "
			    "by Windows (%s); reading from the oldest record "
			    "(records may repeat)", s->cfg->name,
			    win_strerror(e, why, sizeof(why)));
			xml = NULL;
			free(s->resume_xml);	/* may be xml */
			s->resume_xml = NULL;
			fresh = EvtSubscribeStartAtOldestRecord;
		} else {
			s->sub = subscribe_raw(s, bm,
			    EvtSubscribeStartAfterBookmark | EvtSubscribeStrict);
			if (s->sub != NULL) {
				s->bookmark = bm;
				goto done;
			}
			e = GetLastError();
			EvtClose(bm);
			if (e != ERROR_NOT_FOUND)
				goto fail;
			announce_gap(s, xml, when);
			xml = NULL;
			free(s->resume_xml);	/* may be xml */
			s->resume_xml = NULL;
			fresh = EvtSubscribeStartAtOldestRecord;
		}
	}
	if ((s->bookmark = EvtCreateBookmark(NULL)) == NULL) {
		e = GetLastError();
		goto fail;
	}
	s->sub = subscribe_raw(s, NULL, fresh | (s->fresh_plain ? 0 :
	    EvtSubscribeStrict));
	e = s->sub == NULL ? GetLastError() : 0;
	if (s->sub == NULL && e == ERROR_INVALID_PARAMETER && !s->fresh_plain) {
		/*
		 * Microsoft documents the flag with any start; should a
		 * Windows refuse it without a bookmark, go without (a wrap
		 * before the first record read then passes unnoticed).
		 */
		s->fresh_plain = true;
		log_warnx("input %s: Windows refuses EvtSubscribeStrict without "
		    "a bookmark; subscribing without it until the first "
		    "record is read", s->cfg->name);
		s->sub = subscribe_raw(s, NULL, fresh);
		e = s->sub == NULL ? GetLastError() : 0;
	}
	if (s->sub == NULL)
		goto fail;
	s->fresh_flags = fresh;
done:
	/* After failures (the channel missing, say): say that it works now. */
	if (s->opened && s->last_error != 0)
		log_info("input %s: subscribed to %s (query %s) again",
		    s->cfg->name, s->cfg->channel, s->cfg->query);
	s->last_error = 0;
	s->base.fd = s->signal;
	return 0;

fail:
	s->sub = NULL;
	s->base.fd = WAIT_HANDLE_NONE;
	/* At open, a bad query or missing rights end the input (see there). */
	if (!s->opened && (win_errno(e) == -EINVAL ||
	    win_errno(e) == -EACCES))
		log_errorx("input %s: cannot subscribe to %s (query %s): %s",
		    s->cfg->name, s->cfg->channel, s->cfg->query,
		    win_strerror(e, why, sizeof(why)));
	else if (e != s->last_error)
		log_errorx("input %s: cannot subscribe to %s (query %s): %s; "
		    "trying again every %d s", s->cfg->name, s->cfg->channel,
		    s->cfg->query, win_strerror(e, why, sizeof(why)),
		    RETRY_MS / 1000);
	s->last_error = e;
	return win_errno(e);
}

/*
 * The XML of the current bookmark (in s->line), or NULL when it has none
 * yet (no record since a subscription without one: an empty list).
 */
static const char *
bookmark_xml(struct eventlog_source *s)
{
	struct eventlog_bookmark bm;
	DWORD e;

	if (s->bookmark == NULL || render(s, s->bookmark, EvtRenderBookmark,
	    &e) != 0 || eventlog_bookmark_parse(s->line.s, s->line.len, &bm,
	    NULL, 0) != 0)
		return NULL;
	return s->line.s;
}

/*
 * Close the subscription and subscribe again after our bookmark (strict:
 * a gap is noticed): the current one, else the saved one never subscribed
 * after (the first subscription failed, say the event log service was not
 * up yet), else as before.  Used after a stale result and after errors.
 */
static int
resubscribe(struct eventlog_source *s, const char *when)
{
	const char *xml;
	char *copy = NULL;
	int rc;

	drop_handles(s);
	if (s->sub != NULL) {
		EvtClose(s->sub);
		s->sub = NULL;
	}
	if ((xml = bookmark_xml(s)) == NULL)
		xml = s->resume_xml;
	if (xml != NULL && (copy = strdup(xml)) == NULL)
		return -ENOMEM;
	rc = subscribe(s, copy, s->fresh_flags, when);
	free(copy);
	/* Whatever is waiting is fetched by the first poll. */
	if (rc == 0)
		SetEvent(s->signal);
	return rc;
}

/* ---- reading ------------------------------------------------------------------- */

/* Fill s->handles.  1: some, 0: none now, -1: the subscription was
 * closed (retry at s->retry_ms). */
static int
fetch(struct eventlog_source *s)
{
	DWORD n = 0, e;

	s->next = s->nhandles = 0;
	if (EvtNext(s->sub, BATCH, s->handles, 0, 0, &n)) {
		s->nhandles = n;
		s->draining = n > 0;
		return n > 0;
	}
	e = GetLastError();
	/* Polling with nothing there may say ERROR_INVALID_OPERATION. */
	if (e == ERROR_NO_MORE_ITEMS || e == ERROR_TIMEOUT ||
	    (e == ERROR_INVALID_OPERATION && n == 0)) {
		s->draining = false;
		return 0;
	}
	if (e == ERROR_EVT_QUERY_RESULT_STALE) {
		log_warnx("input %s: the subscription to %s went stale (the "
		    "log rolled over or was cleared while we read it); "
		    "subscribing again after the last record read, and a gap "
		    "is reported if records were lost", s->cfg->name,
		    s->cfg->channel);
		if (bookmark_xml(s) == NULL && s->resume_xml == NULL) {
			/* Nothing read yet: no bookmark to tell the loss by. */
			s->gaps++;
			s->gap_pending = true;
			s->gap_unknown = true;
			log_warnx("input %s: GAP: records of %s were lost before "
			    "the first one was read; how many is not known",
			    s->cfg->name, s->cfg->channel);
		}
		if (resubscribe(s, "after the subscription went stale") != 0)
			s->retry_ms = mono_now_ms() + RETRY_MS;
		return -1;
	}
	warn_once(s, e, "reading the subscription failed; subscribing again");
	if (resubscribe(s, "after a read error") != 0)
		s->retry_ms = mono_now_ms() + RETRY_MS;
	return -1;
}

/*
 * After a gap, the first record tells which record ids were lost: said in
 * the log and, as a gap report in the ring, to every output.
 */
static void
gap_report(struct eventlog_source *s, struct buffer *b)
{
	uint64_t id = eventlog_xml_record_id(s->line.s, s->line.len);
	char why[512];

	s->gap_pending = false;
	if (s->gap_unknown || id == 0) {
		/* No bookmark, or no record id to measure with. */
		snprintf(why, sizeof(why), "records of %s were lost before "
		    "this input read them (the log wrapped or was cleared); how "
		    "many is not known", s->cfg->channel);
		id = 0;
	} else if (id > s->gap_after + 1)
		snprintf(why, sizeof(why), "the event-log bookmark rolled off: "
		    "record ids %" PRIu64 " to %" PRIu64 " of %s were lost",
		    s->gap_after + 1, id - 1, s->cfg->channel);
	else
		snprintf(why, sizeof(why), "%s was cleared or recreated: "
		    "records after %" PRIu64 " that were not read are lost",
		    s->cfg->channel, s->gap_after);
	if (buffer_append_gap(b, s->cfg->name, time_now_ms(), id >
	    s->gap_after + 1 ? id - 1 - s->gap_after : 0, why, NULL) != 0)
		log_warnx("input %s: cannot report the gap in the buffer",
		    s->cfg->name);
	s->gap_unknown = false;
	if (id == 0)
		return;
	if (id > s->gap_after + 1)
		log_warnx("input %s: GAP: record ids %" PRIu64 " to %" PRIu64
		    " of %s were lost (at most %" PRIu64 " records; fewer when "
		    "the query filters some); reading on at %" PRIu64,
		    s->cfg->name, s->gap_after + 1, id - 1, s->cfg->channel,
		    id - 1 - s->gap_after, id);
	else if (id <= s->gap_after)
		log_warnx("input %s: GAP: %s was cleared or recreated (record "
		    "ids start again at %" PRIu64 "); records after %" PRIu64
		    " that were not read are lost", s->cfg->name,
		    s->cfg->channel, id, s->gap_after);
}

/*
 * Append the record of handle h.  0 (appended or skipped), -ENOBUFS
 * (the ring refused it: keep h for later) or -ENOMEM.
 */
static int
emit(struct eventlog_source *s, struct buffer *b, EVT_HANDLE h,
    size_t *len)
{
	uint64_t max = s->cfg->max_line_size > 0 ? s->cfg->max_line_size :
	    LINE_MAX_DEFAULT;
	uint32_t flags = 0;
	size_t n;
	DWORD e;
	int rc;

	*len = 0;
	if ((rc = render(s, h, EvtRenderEventXml, &e)) != 0) {
		char why[384];

		if (rc == -ENOMEM)
			return rc;
		s->render_errors++;
		log_warnx("input %s: a record of %s cannot be rendered (%s); "
		    "skipped (%" PRIu64 " so far)", s->cfg->name,
		    s->cfg->channel, rc == -EIO ? win_strerror(e, why,
		    sizeof(why)) : "larger than the agent takes",
		    s->render_errors);
		goto advance;
	}
	n = s->line.len;
	if (n > max) {
		n = (size_t)max;
		flags |= BUFFER_REC_TRUNCATED;
	}
	if (!buffer_can_append(b, n + 1024 + SOURCE_TRAILER_MAX))
		return -ENOBUFS;
	if (s->gap_pending)
		gap_report(s, b);
	if ((rc = source_append(&s->base, b, time_now_ms(), flags,
	    s->line.s, n, &s->last_seq)) < 0)
		return rc == -ENOMEM ? rc : -ENOBUFS;
	if (rc == SOURCE_FILTERED) {
		*len = n;	/* it was read: the budget counts it */
		goto advance;	/* counted; the bookmark moves past it */
	}
	if (flags & BUFFER_REC_TRUNCATED) {
		s->base.st.truncated++;
		log_warnx("input %s: a record of %" PRIu64 " bytes is longer "
		    "than max_line_size (%" PRIu64 " bytes): forwarding it cut "
		    "and tagged", s->cfg->name, (uint64_t)s->line.len, max);
	}
	s->base.st.records++;
	*len = n;
advance:
	if (EvtUpdateBookmark(s->bookmark, h))
		s->bookmark_moved = true;
	else
		warn_once(s, GetLastError(), "cannot move the bookmark");
	return 0;
}

/* Note the bookmark, which now covers s->last_seq. */
static void
note_position(struct eventlog_source *s, struct buffer *b)
{
	const char *xml;

	if (!s->bookmark_moved || (xml = bookmark_xml(s)) == NULL)
		return;
	s->bookmark_moved = false;
	source_pos_note(&s->pos, s->last_seq, xml);
	if (strlen(xml) <= RING_POS_MAX)
		buffer_set_position(b, s->cfg->name, xml);
}

static ssize_t
evl_poll(struct source *src, struct buffer *b, size_t budget)
{
	struct eventlog_source *s = ES(src);
	int64_t now = mono_now_ms();
	size_t consumed = 0, len;
	int rc = 0;

	s->blocked = false;
	if (s->sub == NULL) {
		if (now < s->retry_ms)
			return 0;
		if (resubscribe(s, "when subscribing again") != 0) {
			s->retry_ms = now + RETRY_MS;
			return 0;
		}
	}
	/*
	 * Reset before draining: a record arriving meanwhile sets it again.
	 * Reset in a drain too (the ring full), or the loop's wait on it
	 * would return at once until the drain is over.
	 */
	if (WaitForSingleObject(s->signal, 0) == WAIT_OBJECT_0) {
		ResetEvent(s->signal);
		s->draining = true;
	}
	if (!s->draining && s->next == s->nhandles)
		return 0;
	while (consumed < budget) {
		if (s->next == s->nhandles) {
			if (!s->draining || s->sub == NULL ||
			    fetch(s) <= 0)
				break;
		}
		if ((rc = emit(s, b, s->handles[s->next], &len)) != 0)
			break;
		EvtClose(s->handles[s->next]);
		s->next++;
		consumed += len;
	}
	note_position(s, b);
	s->base.st.bytes += consumed;
	if (rc == -ENOMEM) {
		log_errorx("input %s: out of memory", s->cfg->name);
		return rc;
	}
	if (rc == -ENOBUFS)
		s->blocked = true;
	return (ssize_t)consumed;
}

/* ---- the source interface --------------------------------------------------------- */

static bool
evl_at_end(const struct source *s)
{
	const struct eventlog_source *e = CES(s);

	if (e->sub == NULL)
		return true;
	return e->next == e->nhandles && !e->draining &&
	    WaitForSingleObject(e->signal, 0) != WAIT_OBJECT_0;
}

/*
 * Subscribed and idle: never (the signal wakes the loop); blocked by a
 * full ring: never either (see the top).  Otherwise the retry, or now.
 */
static int64_t
evl_next_poll(const struct source *s, int64_t now_ms)
{
	const struct eventlog_source *e = CES(s);

	if (e->sub == NULL)
		return e->retry_ms;
	if (e->blocked || evl_at_end(s))
		return INT64_MAX;
	return now_ms;
}

static void
evl_free(struct eventlog_source *s)
{
	drop_handles(s);
	if (s->sub != NULL)
		EvtClose(s->sub);
	if (s->bookmark != NULL)
		EvtClose(s->bookmark);
	if (s->signal != NULL)
		CloseHandle(s->signal);
	source_pos_free(&s->pos);
	strbuf_free(&s->utf8);
	strbuf_free(&s->line);
	free(s->wbuf);
	free(s->resume_xml);
	free(s->channel_w);
	free(s->query_w);
	free(s);
}

static void
evl_close(struct source *s)
{
	struct eventlog_source *e = ES(s);

	if (e->gaps > 0 || e->render_errors > 0)
		log_info("input %s: %" PRIu64 " gap(s) announced, %" PRIu64
		    " record(s) that could not be rendered", e->cfg->name,
		    e->gaps, e->render_errors);
	evl_free(e);
}

/*
 * The wait handle (base.fd) is the signal while subscribed (see the top).
 * A subscription never ends.  The bookmark is a text position (s->pos).
 */
static const struct source_ops eventlog_ops = {
	.poll = evl_poll,
	.next_poll = evl_next_poll,
	.at_end = evl_at_end,
	.close = evl_close,
};

/* ---- opening ----------------------------------------------------------------------- */

/*
 * Which saved bookmark to resume from (file or ring), or NULL for a
 * first run.  *unusable: a position existed but cannot be used.
 */
static const char *
pick_resume(struct eventlog_source *s, const char *saved, const char *ring,
    bool *unusable)
{
	const char *from = eventlog_bookmark_choose(saved, ring,
	    s->cfg->channel);
	const char *any = saved[0] != '\0' ? saved : ring;
	struct eventlog_bookmark bm;
	char why[160];

	*unusable = false;
	if (from != NULL || any == NULL || any[0] == '\0')
		return from;
	if (eventlog_bookmark_parse(any, strlen(any), &bm, why,
	    sizeof(why)) != 0) {
		log_warnx("input %s: the saved position is not a usable "
		    "bookmark (%s); reading from the oldest record of %s "
		    "(records may repeat)", s->cfg->name, why,
		    s->cfg->channel);
		*unusable = true;
	} else {
		log_info("input %s: the saved position belongs to channel %s, "
		    "not %s; starting as on a first run", s->cfg->name,
		    bm.channel, s->cfg->channel);
	}
	return NULL;
}

int
source_eventlog_open(const struct config_input *cfg, const char *state_dir,
    const struct buffer *b, struct source **out)
{
	struct eventlog_source *s;
	const char *ring = b != NULL ? buffer_get_position(b, cfg->name) :
	    NULL;
	const char *from;
	bool unusable;
	DWORD fresh;
	int rc;

	*out = NULL;
	if ((s = source_new(sizeof(*s), &eventlog_ops, cfg)) == NULL)
		return -ENOMEM;
	s->cfg = cfg;
	s->utf8.max = RENDER_MAX;
	s->line.max = RENDER_MAX + RENDER_MAX / 2;
	if ((rc = source_pos_init(&s->base, &s->pos, state_dir)) != 0) {
		log_errorx("input %s: cannot use %s/positions: %s", cfg->name,
		    state_dir, strerror(-rc));
		goto err_free;
	}
	if ((s->channel_w = wide(cfg->channel)) == NULL ||
	    (s->query_w = wide(cfg->query)) == NULL) {
		log_errorx("input %s: channel or query is not valid UTF-8",
		    cfg->name);
		rc = -EINVAL;
		goto err_free;
	}
	/* Manual reset, set: the first poll looks at once. */
	if ((s->signal = CreateEventW(NULL, TRUE, TRUE, NULL)) == NULL) {
		char why[384];
		log_errorx("input %s: CreateEvent: %s", cfg->name,
		    win_strerror(GetLastError(), why, sizeof(why)));
		rc = -ENOMEM;
		goto err_free;
	}
	from = pick_resume(s, s->pos.saved, ring, &unusable);
	if (from != NULL && (s->resume_xml = strdup(from)) == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	fresh = !unusable && cfg->start == CONFIG_START_END ?
	    EvtSubscribeToFutureEvents : EvtSubscribeStartAtOldestRecord;
	s->fresh_flags = fresh;
	if ((rc = subscribe(s, s->resume_xml, fresh,
	    "since the agent last ran")) != 0) {
		/*
		 * A bad query or missing rights end here.  The rest is
		 * retried: a missing channel too (Sysmon not installed yet;
		 * the watchdog says so).
		 */
		if (rc == -EINVAL || rc == -EACCES)
			goto err_free;
		s->retry_ms = mono_now_ms() + RETRY_MS;
	}
	s->opened = true;
	if (s->sub != NULL)
		log_info("input %s: subscribed to %s (query %s), %s",
		    cfg->name, cfg->channel, cfg->query,
		    s->resume_xml != NULL ? "after the saved bookmark" :
		    s->fresh_flags == EvtSubscribeToFutureEvents ?
		    "new records only" : "from the oldest record");
	*out = &s->base;
	return 0;

err_free:
	evl_free(s);
	return rc;
}
