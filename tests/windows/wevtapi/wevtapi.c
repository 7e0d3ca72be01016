/*
 * wevtapi.c - a test-only stand-in for Windows' wevtapi.dll, so that the
 * eventlog input of sysmonfwd.exe runs for real under Wine
 * (tests/cross/eventlog-wine.sh).  Wine's own wevtapi is a stub
 * (EvtSubscribe() returns NULL, EvtRender() aborts).  This is our model of
 * the Windows Event Log, written from Microsoft's documentation
 * (../shared/docs/PROTOCOLS.md §5.1), not Windows: whatever passes only
 * against it is checked against our reading of the documents.
 *
 * The channel.  One channel, Microsoft-Windows-Sysmon/Operational (names
 * compared ignoring ASCII case, as Windows does), served from the
 * directory named by the environment variable SYSMONFWD_WEVT_DIR (a
 * Windows path, or a Unix one, taken as Wine's Z: drive).  Its files:
 *
 *   log      the records, one <Event> per line, as EvtRender() writes
 *            them (the corpus's windows-xml lines are in that form).  Lines
 *            are taken once complete (ended by LF); only appending is
 *            modelled (a file that shrinks is read again from the start:
 *            a recreated log).  No `log`: the channel does not exist
 *            (Sysmon not installed): EvtSubscribe() fails with
 *            ERROR_EVT_CHANNEL_NOT_FOUND.
 *   first    a record id N: the records below N are gone (the log
 *            wrapped or was cleared).  Absent: none gone.
 *   stale    present: the next EvtNext() of a subscription fails with
 *            ERROR_EVT_QUERY_RESULT_STALE, and the file is deleted
 *            (one shot: the test may wait for it to go).
 *   denied   present: EvtSubscribe() fails with ERROR_ACCESS_DENIED.
 *   strict-needs-bookmark
 *            present: EvtSubscribe() with EvtSubscribeStrict and a start
 *            other than EvtSubscribeStartAfterBookmark fails with
 *            ERROR_INVALID_PARAMETER (what a Windows that took the flag
 *            for bookmarks only might do: not documented, a what-if).
 *
 * Record ids.  A record's id is its <EventRecordID>, so that a bookmark
 * and the record it names agree as on Windows.  Ids must increase line by
 * line; a line whose id is missing or does not increase (the corpus mixes
 * two Security records into one file) gets the previous id + 1 as its
 * position (bookmarks) and is still served with its XML unchanged.
 *
 * What is modelled, and how:
 *   - EvtSubscribe(), pull mode only (a signal event, no callback; a
 *     session, a callback or a query other than NULL or "*" are refused:
 *     ERROR_INVALID_PARAMETER, ERROR_NOT_SUPPORTED, ERROR_EVT_INVALID_QUERY).
 *     EvtSubscribeToFutureEvents, EvtSubscribeStartAtOldestRecord,
 *     EvtSubscribeStartAfterBookmark; with EvtSubscribeStrict a bookmark
 *     whose record is gone (below `first`, absent, or of another channel)
 *     fails with ERROR_NOT_FOUND; without it reading starts after the
 *     bookmark or at the oldest record, whichever is later.
 *   - The signal event is set when the subscription has something to
 *     read: at EvtSubscribe() when records wait, and then whenever a
 *     change in the directory leaves records (or a stale result) waiting.
 *     A thread per subscription sleeps in FindFirstChangeNotification()
 *     on the directory (Wine backs it with inotify, so appends made from
 *     Linux wake it); only if that cannot be set up does it look every
 *     100 ms (said on stderr).  The stand-in never resets the event:
 *     Microsoft's pull sample resets it in the subscriber.
 *   - EvtNext() returns up to N event handles at once, or fails with
 *     ERROR_NO_MORE_ITEMS (its timeout is not waited: nothing comes
 *     while it would wait).  A strict subscription whose next record is
 *     gone (below `first`) fails once with ERROR_EVT_QUERY_RESULT_STALE
 *     and then goes on from the oldest record; a non-strict one skips
 *     the lost records silently.  Microsoft documents the strict flag as
 *     the way to be told about missing records.
 *   - EvtRender(): EvtRenderEventXml on an event and EvtRenderBookmark
 *     on a bookmark, in UTF-16 with the terminating NUL counted, and the
 *     size protocol (Buffer NULL or too small: FALSE,
 *     ERROR_INSUFFICIENT_BUFFER, *BufferUsed the bytes needed).  Event
 *     XML is the log line, but that &#13; and &#10; in element text are
 *     written as raw CR and LF, as Windows writes them (the corpus
 *     escaped them to keep one record per line).  A bookmark renders as
 *     "<BookmarkList>\r\n  <Bookmark Channel='C' RecordId='N'
 *     IsCurrent='true'/>\r\n</BookmarkList>" (the form tests of other
 *     projects record from real Windows), an empty one as
 *     "<BookmarkList/>".
 *   - EvtCreateBookmark() from NULL (empty) or from such XML (either
 *     quote, the current entry); XML it cannot read fails with
 *     ERROR_INVALID_PARAMETER (the code Windows gives is not known to us).
 *     EvtUpdateBookmark() moves it to an event.  EvtClose() on any of the
 *     handles (a subscription stops its thread first).
 *
 * Not modelled: XPath queries, sessions (remote logs), push subscriptions,
 * EvtRenderEventValues, rendered messages (EvtFormatMessage), several
 * channels, the log's own size limit (wrapping happens only when the test
 * writes `first`), and whatever Windows does that its documentation does
 * not say.
 *
 * Built with mingw-w64 by tests/windows/build-standins.sh; loaded by
 * putting it next to a copy of sysmonfwd.exe and running Wine with
 * WINEDLLOVERRIDES=wevtapi=n.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <winevt.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHANNEL		L"Microsoft-Windows-Sysmon/Operational"
#define OBJ_MAGIC	0x57455654u	/* "WEVT" */
#define READ_CHUNK	65536
#define FALLBACK_MS	100		/* no change notification: look */

enum kind { K_SUB = 1, K_EVENT, K_BOOKMARK };

struct obj {
	uint32_t	 magic;
	enum kind	 kind;
};

struct record {
	uint64_t	 id;
	char		*xml;		/* one line, UTF-8, no line end */
	size_t		 len;
};

struct sub {
	struct obj	 hdr;
	HANDLE		 signal;	/* our duplicate of the caller's */
	HANDLE		 change;	/* directory notification, or NULL */
	HANDLE		 quit;		/* set by EvtClose() */
	HANDLE		 thread;
	uint64_t	 next;		/* lowest record id not delivered */
	BOOL		 strict;
};

struct event {
	struct obj	 hdr;
	uint64_t	 id;
	char		*xml;		/* a copy of the record's line */
	size_t		 len;
};

struct bookmark {
	struct obj	 hdr;
	BOOL		 set;		/* names a record */
	BOOL		 ours;		/* of our channel */
	uint64_t	 id;
};

/* The channel, shared by every subscription; lock held to touch it. */
static CRITICAL_SECTION lock;
static wchar_t dir[MAX_PATH];
static struct record *recs;
static size_t nrecs, caprecs;
static uint64_t log_off;	/* bytes of `log` taken */
static char *part;		/* an incomplete last line */
static size_t npart;
static uint64_t first;		/* records below are gone */

BOOL WINAPI
DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
	(void)inst;
	(void)reserved;
	if (reason == DLL_PROCESS_ATTACH)
		InitializeCriticalSection(&lock);
	return TRUE;
}

/* ---- the directory ------------------------------------------------------- */

/* Read SYSMONFWD_WEVT_DIR once.  FALSE when it is not set. */
static BOOL
dir_init(void)
{
	wchar_t v[MAX_PATH];
	DWORD n;

	if (dir[0] != L'\0')
		return TRUE;
	n = GetEnvironmentVariableW(L"SYSMONFWD_WEVT_DIR", v, MAX_PATH);
	if (n == 0 || n >= MAX_PATH - 3)
		return FALSE;
	if (v[0] == L'/') {
		/* A Unix path: Wine's Z: drive is the Unix root. */
		dir[0] = L'Z';
		dir[1] = L':';
		for (DWORD i = 0; i <= n; i++)
			dir[i + 2] = v[i] == L'/' ? L'\\' : v[i];
	} else {
		memcpy(dir, v, (n + 1) * sizeof(wchar_t));
	}
	return TRUE;
}

static void
path_of(const wchar_t *name, wchar_t *out)
{
	_snwprintf(out, MAX_PATH, L"%ls\\%ls", dir, name);
	out[MAX_PATH - 1] = L'\0';
}

static BOOL
exists(const wchar_t *name)
{
	wchar_t p[MAX_PATH];

	path_of(name, p);
	return GetFileAttributesW(p) != INVALID_FILE_ATTRIBUTES;
}

/* The number in file name, or 0. */
static uint64_t
read_number(const wchar_t *name)
{
	wchar_t p[MAX_PATH];
	char buf[32];
	DWORD got = 0;
	HANDLE h;

	path_of(name, p);
	h = CreateFileW(p, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE |
	    FILE_SHARE_DELETE, NULL, OPEN_EXISTING, 0, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return 0;
	if (!ReadFile(h, buf, sizeof(buf) - 1, &got, NULL))
		got = 0;
	CloseHandle(h);
	buf[got] = '\0';
	return strtoull(buf, NULL, 10);
}

/* The <EventRecordID> of a line, or 0. */
static uint64_t
line_record_id(const char *s, size_t n)
{
	static const char tag[] = "<EventRecordID>";
	size_t k = sizeof(tag) - 1;
	uint64_t id = 0;

	for (size_t i = 0; i + k < n; i++) {
		if (memcmp(s + i, tag, k) != 0)
			continue;
		for (i += k; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			id = id * 10 + (uint64_t)(s[i] - '0');
		return id;
	}
	return 0;
}

static void
forget_records(void)
{
	for (size_t i = 0; i < nrecs; i++)
		free(recs[i].xml);
	nrecs = 0;
	log_off = 0;
	npart = 0;
}

static void
add_record(const char *s, size_t n)
{
	uint64_t last = nrecs > 0 ? recs[nrecs - 1].id : 0, id;
	struct record *r;

	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	if (n == 0)
		return;
	if (nrecs == caprecs) {
		size_t cap = caprecs ? caprecs * 2 : 1024;
		if ((r = realloc(recs, cap * sizeof(*r))) == NULL)
			abort();	/* a test stand-in: out of memory ends it */
		recs = r;
		caprecs = cap;
	}
	id = line_record_id(s, n);
	if (id <= last)
		id = last + 1;
	r = &recs[nrecs];
	if ((r->xml = malloc(n + 1)) == NULL)
		abort();
	memcpy(r->xml, s, n);
	r->xml[n] = '\0';
	r->len = n;
	r->id = id;
	nrecs++;
}

/* Take bytes of `log`: complete lines become records. */
static void
take(const char *buf, size_t n)
{
	const char *nl;

	while (n > 0 && (nl = memchr(buf, '\n', n)) != NULL) {
		size_t k = (size_t)(nl - buf) + 1;

		if (npart > 0) {
			char *j = realloc(part, npart + k);
			if (j == NULL)
				abort();
			part = j;
			memcpy(part + npart, buf, k);
			add_record(part, npart + k);
			npart = 0;
		} else {
			add_record(buf, k);
		}
		buf += k;
		n -= k;
	}
	if (n > 0) {
		char *j = realloc(part, npart + n);
		if (j == NULL)
			abort();
		part = j;
		memcpy(part + npart, buf, n);
		npart += n;
	}
}

/*
 * Bring the channel up to date with the directory: `first`, and the lines
 * appended to `log` since the last look.  With ReadFile (Wine's msvcrt
 * read() stays at EOF once it saw it).  FALSE: there is no `log`.
 */
static BOOL
refresh(void)
{
	wchar_t p[MAX_PATH];
	LARGE_INTEGER size, at;
	static char buf[READ_CHUNK];
	HANDLE h;
	DWORD got;

	first = read_number(L"first");
	path_of(L"log", p);
	h = CreateFileW(p, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE |
	    FILE_SHARE_DELETE, NULL, OPEN_EXISTING, 0, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return FALSE;
	if (!GetFileSizeEx(h, &size)) {
		CloseHandle(h);
		return TRUE;
	}
	if ((uint64_t)size.QuadPart < log_off)
		forget_records();
	at.QuadPart = (LONGLONG)log_off;
	if (SetFilePointerEx(h, at, NULL, FILE_BEGIN)) {
		while (log_off < (uint64_t)size.QuadPart &&
		    ReadFile(h, buf, sizeof(buf), &got, NULL) && got > 0) {
			take(buf, got);
			log_off += got;
		}
	}
	CloseHandle(h);
	return TRUE;
}

/* The index of the first record with an id >= id (nrecs: none). */
static size_t
find_from(uint64_t id)
{
	size_t lo = 0, hi = nrecs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (recs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t
max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* The subscription has something for EvtNext() (lock held). */
static BOOL
waiting(const struct sub *s)
{
	if (s->strict && s->next < first)
		return TRUE;
	if (exists(L"stale"))
		return TRUE;
	return find_from(max_u64(s->next, first)) < nrecs;
}

/* ---- handles ------------------------------------------------------------- */

static void *
obj_new(size_t size, enum kind kind)
{
	struct obj *o = calloc(1, size);

	if (o == NULL) {
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	o->magic = OBJ_MAGIC;
	o->kind = kind;
	return o;
}

/* h as an object of kind, or NULL with ERROR_INVALID_HANDLE. */
static void *
obj_get(EVT_HANDLE h, enum kind kind)
{
	struct obj *o = h;

	if (o == NULL || o->magic != OBJ_MAGIC || o->kind != kind) {
		SetLastError(ERROR_INVALID_HANDLE);
		return NULL;
	}
	return o;
}

/* ---- subscribing --------------------------------------------------------- */

/*
 * One per subscription: sleep until the directory changes, then set the
 * signal when something waits.  Re-armed before looking, so that a change
 * made while looking wakes it again.
 */
static DWORD WINAPI
watcher(void *arg)
{
	struct sub *s = arg;
	HANDLE hs[2] = { s->quit, s->change };
	DWORD r;

	for (;;) {
		if (s->change != NULL)
			r = WaitForMultipleObjects(2, hs, FALSE, INFINITE);
		else
			r = WaitForSingleObject(s->quit, FALLBACK_MS);
		if (r == WAIT_OBJECT_0)
			break;
		if (s->change != NULL && !FindNextChangeNotification(s->change))
			break;
		EnterCriticalSection(&lock);
		refresh();
		if (waiting(s))
			SetEvent(s->signal);
		LeaveCriticalSection(&lock);
	}
	return 0;
}

static void
sub_free(struct sub *s)
{
	if (s->thread != NULL) {
		SetEvent(s->quit);
		WaitForSingleObject(s->thread, INFINITE);
		CloseHandle(s->thread);
	}
	if (s->change != NULL)
		FindCloseChangeNotification(s->change);
	if (s->quit != NULL)
		CloseHandle(s->quit);
	if (s->signal != NULL)
		CloseHandle(s->signal);
	s->hdr.magic = 0;
	free(s);
}

/*
 * Where a subscription with flags starts (lock held): 0 and *next, or a
 * Windows error.
 */
static DWORD
start_at(DWORD flags, EVT_HANDLE bookmark, uint64_t *next)
{
	struct bookmark *b;
	size_t i;

	switch (flags & EvtSubscribeOriginMask) {
	case EvtSubscribeToFutureEvents:
		*next = nrecs > 0 ? recs[nrecs - 1].id + 1 : 1;
		break;
	case EvtSubscribeStartAtOldestRecord:
		*next = 0;
		break;
	case EvtSubscribeStartAfterBookmark:
		if ((b = obj_get(bookmark, K_BOOKMARK)) == NULL)
			return ERROR_INVALID_PARAMETER;
		i = b->set ? find_from(b->id) : nrecs;
		if ((flags & EvtSubscribeStrict) && (!b->set || !b->ours ||
		    b->id < first || i == nrecs || recs[i].id != b->id))
			return ERROR_NOT_FOUND;
		*next = b->set && b->ours ? b->id + 1 : 0;
		break;
	default:
		return ERROR_INVALID_PARAMETER;
	}
	*next = max_u64(*next, first);
	return 0;
}

EVT_HANDLE WINAPI
EvtSubscribe(EVT_HANDLE session, HANDLE signal, LPCWSTR path, LPCWSTR query,
    EVT_HANDLE bookmark, PVOID context, EVT_SUBSCRIBE_CALLBACK callback,
    DWORD flags)
{
	struct sub *s;
	uint64_t next = 0;
	DWORD e;

	(void)context;
	if (session != NULL || signal == NULL || path == NULL)
		e = callback != NULL ? ERROR_NOT_SUPPORTED :
		    ERROR_INVALID_PARAMETER;
	else if (callback != NULL)
		e = ERROR_NOT_SUPPORTED;
	else if (query != NULL && wcscmp(query, L"*") != 0)
		e = ERROR_EVT_INVALID_QUERY;
	else if (!dir_init() || _wcsicmp(path, CHANNEL) != 0)
		e = ERROR_EVT_CHANNEL_NOT_FOUND;
	else
		e = 0;
	if (e != 0) {
		SetLastError(e);
		return NULL;
	}
	EnterCriticalSection(&lock);
	if (exists(L"denied"))
		e = ERROR_ACCESS_DENIED;
	else if ((flags & EvtSubscribeStrict) && (flags &
	    EvtSubscribeOriginMask) != EvtSubscribeStartAfterBookmark &&
	    exists(L"strict-needs-bookmark"))
		e = ERROR_INVALID_PARAMETER;
	else if (!refresh())
		e = ERROR_EVT_CHANNEL_NOT_FOUND;
	else
		e = start_at(flags, bookmark, &next);
	LeaveCriticalSection(&lock);
	if (e != 0) {
		SetLastError(e);
		return NULL;
	}
	if ((s = obj_new(sizeof(*s), K_SUB)) == NULL)
		return NULL;
	s->next = next;
	s->strict = (flags & EvtSubscribeStrict) != 0;
	if (!DuplicateHandle(GetCurrentProcess(), signal, GetCurrentProcess(),
	    &s->signal, 0, FALSE, DUPLICATE_SAME_ACCESS) ||
	    (s->quit = CreateEventW(NULL, TRUE, FALSE, NULL)) == NULL) {
		e = GetLastError();
		sub_free(s);
		SetLastError(e);
		return NULL;
	}
	s->change = FindFirstChangeNotificationW(dir, FALSE,
	    FILE_NOTIFY_CHANGE_FILE_NAME | FILE_NOTIFY_CHANGE_SIZE |
	    FILE_NOTIFY_CHANGE_LAST_WRITE);
	if (s->change == INVALID_HANDLE_VALUE) {
		s->change = NULL;
		fprintf(stderr, "wevtapi stand-in: no change notification on "
		    "%ls (error %lu): looking every %d ms\n", dir,
		    GetLastError(), FALLBACK_MS);
	}
	EnterCriticalSection(&lock);
	if (waiting(s))
		SetEvent(s->signal);
	LeaveCriticalSection(&lock);
	if ((s->thread = CreateThread(NULL, 0, watcher, s, 0, NULL)) == NULL) {
		e = GetLastError();
		sub_free(s);
		SetLastError(e);
		return NULL;
	}
	return s;
}

/* ---- reading ------------------------------------------------------------- */

BOOL WINAPI
EvtNext(EVT_HANDLE result, DWORD size, EVT_HANDLE *events, DWORD timeout,
    DWORD flags, PDWORD returned)
{
	struct sub *s;
	struct event *ev;
	DWORD n = 0, e = 0;
	size_t i;

	(void)timeout;
	if ((s = obj_get(result, K_SUB)) == NULL)
		return FALSE;
	if (size == 0 || events == NULL || returned == NULL || flags != 0) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	*returned = 0;
	EnterCriticalSection(&lock);
	refresh();
	if (exists(L"stale")) {
		wchar_t p[MAX_PATH];

		path_of(L"stale", p);
		DeleteFileW(p);
		s->next = max_u64(s->next, first);
		e = ERROR_EVT_QUERY_RESULT_STALE;
	} else if (s->strict && s->next < first) {
		s->next = first;
		e = ERROR_EVT_QUERY_RESULT_STALE;
	} else {
		for (i = find_from(max_u64(s->next, first)); i < nrecs &&
		    n < size; i++) {
			if ((ev = obj_new(sizeof(*ev), K_EVENT)) == NULL ||
			    (ev->xml = malloc(recs[i].len + 1)) == NULL) {
				free(ev);
				e = ERROR_NOT_ENOUGH_MEMORY;
				break;
			}
			memcpy(ev->xml, recs[i].xml, recs[i].len + 1);
			ev->len = recs[i].len;
			ev->id = recs[i].id;
			events[n++] = ev;
			s->next = recs[i].id + 1;
		}
		if (n == 0 && e == 0)
			e = ERROR_NO_MORE_ITEMS;
	}
	LeaveCriticalSection(&lock);
	*returned = n;
	if (n > 0)
		return TRUE;
	SetLastError(e);
	return FALSE;
}

/* ---- rendering ----------------------------------------------------------- */

/*
 * The event's XML as Windows renders it: &#13; and &#10; (and their hex
 * forms) in element text become raw CR and LF.  A new NUL-terminated
 * string (caller frees), or NULL.
 */
static char *
event_xml(const struct event *ev)
{
	static const struct {
		const char	*ref;
		char		 c;
	} refs[] = {
		{ "&#13;", '\r' }, { "&#10;", '\n' },
		{ "&#xD;", '\r' }, { "&#xA;", '\n' },
		{ "&#xd;", '\r' }, { "&#xa;", '\n' },
	};
	char *out = malloc(ev->len + 1), q = 0;
	size_t o = 0;
	BOOL tag = FALSE;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < ev->len; i++) {
		char c = ev->xml[i];
		size_t r;

		if (tag) {
			if (q != 0 && c == q)
				q = 0;
			else if (q == 0 && (c == '\'' || c == '"'))
				q = c;
			else if (q == 0 && c == '>')
				tag = FALSE;
		} else if (c == '<') {
			tag = TRUE;
		} else if (c == '&') {
			for (r = 0; r < sizeof(refs) / sizeof(refs[0]); r++) {
				size_t k = strlen(refs[r].ref);
				if (i + k <= ev->len &&
				    memcmp(ev->xml + i, refs[r].ref, k) == 0)
					break;
			}
			if (r < sizeof(refs) / sizeof(refs[0])) {
				out[o++] = refs[r].c;
				i += strlen(refs[r].ref) - 1;
				continue;
			}
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

static char *
bookmark_xml(const struct bookmark *b)
{
	char *out = malloc(256);

	if (out == NULL)
		return NULL;
	if (!b->set)
		snprintf(out, 256, "<BookmarkList/>");
	else
		snprintf(out, 256, "<BookmarkList>\r\n  <Bookmark Channel='%ls' "
		    "RecordId='%llu' IsCurrent='true'/>\r\n</BookmarkList>",
		    CHANNEL, (unsigned long long)b->id);
	return out;
}

BOOL WINAPI
EvtRender(EVT_HANDLE context, EVT_HANDLE fragment, DWORD flags, DWORD size,
    PVOID buffer, PDWORD used, PDWORD props)
{
	const struct obj *o = fragment;
	char *u8 = NULL;
	wchar_t *w;
	int n;
	DWORD bytes;

	if (context != NULL || used == NULL || props == NULL || o == NULL ||
	    o->magic != OBJ_MAGIC) {
		SetLastError(o == NULL || o->magic != OBJ_MAGIC ?
		    ERROR_INVALID_HANDLE : ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	if (flags == EvtRenderEventXml && o->kind == K_EVENT)
		u8 = event_xml(fragment);
	else if (flags == EvtRenderBookmark && o->kind == K_BOOKMARK)
		u8 = bookmark_xml(fragment);
	else {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	if (u8 == NULL) {
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return FALSE;
	}
	/* Invalid UTF-8 becomes U+FFFD, as a rendering never fails on it. */
	n = MultiByteToWideChar(CP_UTF8, 0, u8, -1, NULL, 0);
	if (n <= 0 || (w = calloc((size_t)n, sizeof(*w))) == NULL) {
		free(u8);
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return FALSE;
	}
	MultiByteToWideChar(CP_UTF8, 0, u8, -1, w, n);
	free(u8);
	bytes = (DWORD)n * sizeof(wchar_t);
	*used = bytes;
	*props = 0;
	if (buffer == NULL || size < bytes) {
		free(w);
		SetLastError(ERROR_INSUFFICIENT_BUFFER);
		return FALSE;
	}
	memcpy(buffer, w, bytes);
	free(w);
	return TRUE;
}

/* ---- bookmarks ----------------------------------------------------------- */

/* The value of attribute name in the element at s (up to its '>'). */
static BOOL
attr(const char *s, const char *name, char *out, size_t len)
{
	const char *end = strchr(s, '>'), *p = s;
	size_t k = strlen(name), n;

	while (end != NULL && (p = strstr(p, name)) != NULL && p < end) {
		char q;

		if (p[k] != '=' || (p[k + 1] != '\'' && p[k + 1] != '"') ||
		    (p > s && p[-1] != ' ' && p[-1] != '\t' && p[-1] != '\n' &&
		    p[-1] != '\r')) {
			p += k;
			continue;
		}
		q = p[k + 1];
		p += k + 2;
		for (n = 0; p[n] != '\0' && p[n] != q; n++)
			;
		if (p[n] != q || n >= len)
			return FALSE;
		memcpy(out, p, n);
		out[n] = '\0';
		return TRUE;
	}
	return FALSE;
}

/* Fill b from bookmark XML s: FALSE when it cannot be read. */
static BOOL
bookmark_parse(const char *s, struct bookmark *b)
{
	char chan[256], rec[32], cur[16];
	const char *p;
	BOOL found = FALSE;

	if (strstr(s, "<BookmarkList") == NULL)
		return FALSE;
	for (p = s; (p = strstr(p, "<Bookmark")) != NULL; p++) {
		char *endp;
		unsigned long long id;

		if (p[9] != ' ' && p[9] != '\t' && p[9] != '\r' && p[9] != '\n')
			continue;
		if (!attr(p, "Channel", chan, sizeof(chan)) ||
		    !attr(p, "RecordId", rec, sizeof(rec)))
			return FALSE;
		id = strtoull(rec, &endp, 10);
		if (*endp != '\0' || rec[0] == '\0')
			return FALSE;
		if (found && !(attr(p, "IsCurrent", cur, sizeof(cur)) &&
		    strcmp(cur, "true") == 0))
			continue;
		found = TRUE;
		b->set = TRUE;
		b->id = id;
		b->ours = _stricmp(chan, "Microsoft-Windows-Sysmon/Operational") ==
		    0;
	}
	return TRUE;
}

EVT_HANDLE WINAPI
EvtCreateBookmark(LPCWSTR xml)
{
	struct bookmark *b;
	char *u8;
	int n;

	if ((b = obj_new(sizeof(*b), K_BOOKMARK)) == NULL)
		return NULL;
	if (xml == NULL)
		return b;
	n = WideCharToMultiByte(CP_UTF8, 0, xml, -1, NULL, 0, NULL, NULL);
	if (n <= 0 || (u8 = malloc((size_t)n)) == NULL) {
		free(b);
		SetLastError(ERROR_INVALID_PARAMETER);
		return NULL;
	}
	WideCharToMultiByte(CP_UTF8, 0, xml, -1, u8, n, NULL, NULL);
	if (!bookmark_parse(u8, b)) {
		free(u8);
		free(b);
		SetLastError(ERROR_INVALID_PARAMETER);
		return NULL;
	}
	free(u8);
	return b;
}

BOOL WINAPI
EvtUpdateBookmark(EVT_HANDLE bookmark, EVT_HANDLE event)
{
	struct bookmark *b;
	struct event *ev;

	if ((b = obj_get(bookmark, K_BOOKMARK)) == NULL ||
	    (ev = obj_get(event, K_EVENT)) == NULL)
		return FALSE;
	b->set = TRUE;
	b->ours = TRUE;
	b->id = ev->id;
	return TRUE;
}

BOOL WINAPI
EvtClose(EVT_HANDLE h)
{
	struct obj *o = h;

	if (o == NULL || o->magic != OBJ_MAGIC) {
		SetLastError(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	switch (o->kind) {
	case K_SUB:
		sub_free(h);
		break;
	case K_EVENT:
		free(((struct event *)h)->xml);
		/* FALLTHROUGH */
	default:
		o->magic = 0;
		free(o);
		break;
	}
	return TRUE;
}
