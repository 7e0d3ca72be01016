/*
 * sys_win.c - sys.c for Windows: the clocks, small durable files and the
 * disk ring's open files, over the Win32 wide-character calls.  Paths
 * come in UTF-8 (what the config and the ring's names are) and go to
 * Windows in UTF-16; failures come back as -errno, as from sys.c, so
 * that buffer/ reads the same on both.  The files written are the same
 * bytes as on POSIX: a ring copied between the two systems reads.
 */
/* GetSystemTimePreciseAsFileTime() is Windows 8 and later. */
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0602
#undef _WIN32_WINNT
#define _WIN32_WINNT	0x0602
#endif

#define _CRT_RAND_S	/* rand_s() */
#include "base.h"

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 100 ns intervals from 1601-01-01 (FILETIME) to 1970-01-01. */
#define FILETIME_UNIX_EPOCH	116444736000000000LL

/* Sharing that lets a reader, a writer and a rename or delete of the
 * file go on at once, as on POSIX. */
#define SHARE_ALL	(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)

/* ---- clocks ------------------------------------------------------------- */

int64_t
mono_now_ms(void)
{
	/* Never goes back; 10 to 16 ms steps, plenty for timers.  Unlike
	 * CLOCK_MONOTONIC it runs on while the machine sleeps: a timer
	 * due during the sleep fires at wakeup, which is what we want. */
	return (int64_t)GetTickCount64();
}

int64_t
time_now_ms(void)
{
	FILETIME ft;
	ULARGE_INTEGER t;

	GetSystemTimePreciseAsFileTime(&ft);
	t.LowPart = ft.dwLowDateTime;
	t.HighPart = ft.dwHighDateTime;
	return ((int64_t)t.QuadPart - FILETIME_UNIX_EPOCH) / 10000;
}

/* ---- errors and paths ---------------------------------------------------- */

/* The errno closest to a Windows error: what buffer/ and the rest test
 * for (ENOENT, ENOSPC, EEXIST, EBUSY) first; EIO when nothing fits. */
static int
win_errno(DWORD e)
{
	switch (e) {
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
	case ERROR_INVALID_DRIVE:
	case ERROR_BAD_NETPATH:
	case ERROR_BAD_NET_NAME:
		return ENOENT;
	case ERROR_ACCESS_DENIED:
	case ERROR_WRITE_PROTECT:
	case ERROR_PRIVILEGE_NOT_HELD:
		return EACCES;
	case ERROR_DISK_FULL:
	case ERROR_HANDLE_DISK_FULL:
		return ENOSPC;
	case ERROR_LOCK_VIOLATION:
	case ERROR_SHARING_VIOLATION:
		/* Another handle holds a lock on it or refused to share it. */
		return EBUSY;
	case ERROR_ALREADY_EXISTS:
	case ERROR_FILE_EXISTS:
		return EEXIST;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
		return ENOMEM;
	case ERROR_TOO_MANY_OPEN_FILES:
		return EMFILE;
	case ERROR_FILENAME_EXCED_RANGE:
		return ENAMETOOLONG;
	case ERROR_DIRECTORY:
		return ENOTDIR;
	case ERROR_DIR_NOT_EMPTY:
		return ENOTEMPTY;
	case ERROR_INVALID_HANDLE:
		return EBADF;
	case ERROR_INVALID_NAME:
	case ERROR_BAD_PATHNAME:
	case ERROR_INVALID_PARAMETER:
	case ERROR_NEGATIVE_SEEK:
		return EINVAL;
	default:
		return EIO;
	}
}

/* -errno of the last failed call. */
static int
fail(void)
{
	return -win_errno(GetLastError());
}

/*
 * path (UTF-8) as UTF-16, with '/' turned into '\': *out, which the
 * caller frees.  A drive path too long for the classic calls (MAX_PATH)
 * gets the "\\?\" prefix, which lifts the limit where the system allows
 * it; such a path is taken as it is, so it must not hold "." or ".."
 * parts.  0, -EINVAL (not UTF-8) or -ENOMEM.
 */
int
win_wpath(const char *path, wchar_t **out)
{
	static const wchar_t longp[] = L"\\\\?\\";
	size_t plen = sizeof(longp) / sizeof(longp[0]) - 1;
	wchar_t *w;
	int n;

	*out = NULL;
	n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1,
	    NULL, 0);
	if (n <= 0)
		return -EINVAL;
	if ((w = malloc(((size_t)n + plen) * sizeof(*w))) == NULL)
		return -ENOMEM;
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1,
	    w + plen, n) != n) {
		free(w);
		return -EINVAL;
	}
	for (wchar_t *p = w + plen; *p != L'\0'; p++)
		if (*p == L'/')
			*p = L'\\';
	/* 248: CreateDirectoryW's limit, below MAX_PATH. */
	if (n - 1 >= 248 && w[plen + 1] == L':' && w[plen + 2] == L'\\')
		memcpy(w, longp, plen * sizeof(*w));
	else
		memmove(w, w + plen, (size_t)n * sizeof(*w));
	*out = w;
	return 0;
}

/* ---- open files ---------------------------------------------------------- */

int
fs_open(const char *path, int flags, int mode, fs_handle *fh)
{
	FILE_ATTRIBUTE_TAG_INFO tag;
	DWORD access, disp, attrs = FILE_ATTRIBUTE_NORMAL;
	wchar_t *w;
	HANDLE h;
	int rc;

	/* No mode bits: a new file takes the ACL of its directory (the
	 * service's install restricts the state directory). */
	(void)mode;
	*fh = FS_HANDLE_NONE;
	if ((rc = win_wpath(path, &w)) != 0)
		return rc;
	if (flags & FS_RDWR)
		access = GENERIC_READ | GENERIC_WRITE;
	else if (flags & FS_APPEND)
		/* Not FILE_APPEND_DATA alone: a torn write must be cut back
		 * (SetEndOfFile needs GENERIC_WRITE).  fs_append() writes at
		 * the end by itself. */
		access = GENERIC_WRITE;
	else
		access = GENERIC_READ;
	if ((flags & (FS_CREATE | FS_EXCL)) == (FS_CREATE | FS_EXCL))
		disp = CREATE_NEW;
	else if (flags & FS_CREATE)
		disp = OPEN_ALWAYS;
	else
		disp = OPEN_EXISTING;
	if (flags & FS_NOFOLLOW)
		/* Open the link itself, not what it points to. */
		attrs |= FILE_FLAG_OPEN_REPARSE_POINT;
	/* No SECURITY_ATTRIBUTES: the handle is not inherited. */
	h = CreateFileW(w, access, SHARE_ALL, NULL, disp, attrs, NULL);
	rc = h == INVALID_HANDLE_VALUE ? fail() : 0;
	free(w);
	if (rc != 0)
		return rc;
	if ((flags & FS_NOFOLLOW) && GetFileInformationByHandleEx(h,
	    FileAttributeTagInfo, &tag, sizeof(tag)) &&
	    (tag.FileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) &&
	    (tag.ReparseTag == IO_REPARSE_TAG_SYMLINK ||
	    tag.ReparseTag == IO_REPARSE_TAG_MOUNT_POINT)) {
		CloseHandle(h);
		return -ELOOP;
	}
	*fh = h;
	return 0;
}

void
fs_close(fs_handle fh)
{
	if (fh != FS_HANDLE_NONE)
		CloseHandle(fh);
}

/* An OVERLAPPED that only says where: the handles are synchronous. */
static void
at_offset(OVERLAPPED *ov, uint64_t off)
{
	memset(ov, 0, sizeof(*ov));
	ov->Offset = (DWORD)off;
	ov->OffsetHigh = (DWORD)(off >> 32);
}

/* One call moves at most this much (DWORD, and ssize_t on the way out). */
static DWORD
io_len(size_t n)
{
	return n > 0x40000000 ? 0x40000000 : (DWORD)n;
}

ssize_t
fs_pread(fs_handle fh, void *p, size_t n, uint64_t off)
{
	OVERLAPPED ov;
	DWORD got;

	at_offset(&ov, off);
	if (!ReadFile(fh, p, io_len(n), &got, &ov))
		return GetLastError() == ERROR_HANDLE_EOF ? 0 : fail();
	return (ssize_t)got;
}

ssize_t
fs_pwrite(fs_handle fh, const void *p, size_t n, uint64_t off)
{
	OVERLAPPED ov;
	DWORD put;

	at_offset(&ov, off);
	if (!WriteFile(fh, p, io_len(n), &put, &ov))
		return fail();
	return (ssize_t)put;
}

ssize_t
fs_append(fs_handle fh, const void *p, size_t n)
{
	OVERLAPPED ov;
	DWORD put;

	/* Both halves 0xFFFFFFFF: at the end of the file, as O_APPEND
	 * (WriteFile's documentation), wherever the last cut left it. */
	memset(&ov, 0, sizeof(ov));
	ov.Offset = ov.OffsetHigh = 0xFFFFFFFF;
	if (!WriteFile(fh, p, io_len(n), &put, &ov))
		return fail();
	return (ssize_t)put;
}

int
fs_sync(fs_handle fh)
{
	/* The data and the metadata, as fsync. */
	return FlushFileBuffers(fh) ? 0 : fail();
}

int
fs_datasync(fs_handle fh)
{
	/* Windows has no data-only flush. */
	return fs_sync(fh);
}

int
fs_truncate(fs_handle fh, uint64_t len)
{
	LARGE_INTEGER li;

	if (len > INT64_MAX)
		return -EINVAL;
	li.QuadPart = (LONGLONG)len;
	/* Moving the file pointer is harmless: every read and write here
	 * says where it goes. */
	if (!SetFilePointerEx(fh, li, NULL, FILE_BEGIN) || !SetEndOfFile(fh))
		return fail();
	return 0;
}

int
fs_size(fs_handle fh, uint64_t *size)
{
	LARGE_INTEGER li;

	if (!GetFileSizeEx(fh, &li))
		return fail();
	*size = (uint64_t)li.QuadPart;
	return 0;
}

int
fs_lock(fs_handle fh)
{
	OVERLAPPED ov;

	/*
	 * The whole range, exclusive, without waiting.  A lock belongs to
	 * the handle, so a second open in the same process is refused too
	 * (as flock() does); Windows drops it when the handle is closed or
	 * the process ends.  The lock file is never read: that a lock here
	 * is mandatory (it stops reads and writes) does not matter.
	 */
	at_offset(&ov, 0);
	if (!LockFileEx(fh, LOCKFILE_EXCLUSIVE_LOCK |
	    LOCKFILE_FAIL_IMMEDIATELY, 0, MAXDWORD, MAXDWORD, &ov)) {
		DWORD e = GetLastError();

		return e == ERROR_LOCK_VIOLATION || e == ERROR_IO_PENDING ?
		    -EBUSY : -win_errno(e);
	}
	return 0;
}

/* Rename from over to (flags: MoveFileExW's, beside REPLACE_EXISTING). */
static int
move_file(const char *from, const char *to, DWORD flags)
{
	wchar_t *wf, *wt;
	int rc;

	if ((rc = win_wpath(from, &wf)) != 0)
		return rc;
	if ((rc = win_wpath(to, &wt)) != 0) {
		free(wf);
		return rc;
	}
	/*
	 * Atomic within a volume.  WRITE_THROUGH: it returns only once
	 * the rename is on disk, which is what fsync_dir() would do after
	 * a rename on POSIX.  It fails (-EACCES) while to is open by a
	 * handle that does not share delete: never one of ours.
	 */
	if (!MoveFileExW(wf, wt, MOVEFILE_REPLACE_EXISTING | flags))
		rc = fail();
	free(wf);
	free(wt);
	return rc;
}

int
fs_rename(const char *from, const char *to)
{
	return move_file(from, to, MOVEFILE_WRITE_THROUGH);
}

int
fs_remove(const char *path)
{
	wchar_t *w;
	int rc;

	if ((rc = win_wpath(path, &w)) != 0)
		return rc;
	/* A file still open elsewhere (sharing delete) goes when the last
	 * handle closes; its name stays taken until then.  The ring never
	 * reuses a segment's name, and closes its own handles first. */
	if (!DeleteFileW(w))
		rc = fail();
	free(w);
	return rc;
}

FILE *
fs_fopen(const char *path, const char *how)
{
	wchar_t *w;
	HANDLE h;
	FILE *f;
	int rc, fd;

	/* For reading only: what the ring does with it. */
	if (how[0] != 'r' || strchr(how, '+') != NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((rc = win_wpath(path, &w)) != 0) {
		errno = -rc;
		return NULL;
	}
	/* Not _wfopen(): it does not share delete, and a cursor file being
	 * read (--buffer-stat) must not stop the agent renaming over it. */
	h = CreateFileW(w, GENERIC_READ, SHARE_ALL, NULL, OPEN_EXISTING,
	    FILE_ATTRIBUTE_NORMAL, NULL);
	rc = h == INVALID_HANDLE_VALUE ? fail() : 0;
	free(w);
	if (rc != 0) {
		errno = -rc;
		return NULL;
	}
	if ((fd = _open_osfhandle((intptr_t)h, _O_RDONLY |
	    (strchr(how, 'b') != NULL ? _O_BINARY : _O_TEXT))) < 0) {
		CloseHandle(h);
		errno = EMFILE;
		return NULL;
	}
	if ((f = _fdopen(fd, how)) == NULL) {
		rc = errno;
		_close(fd);		/* and the handle */
		errno = rc;
	}
	return f;
}

int
fs_mkdir(const char *path, int mode)
{
	wchar_t *w;
	int rc;

	(void)mode;	/* the ACL of the parent directory applies */
	if ((rc = win_wpath(path, &w)) != 0)
		return rc;
	if (!CreateDirectoryW(w, NULL) && GetLastError() !=
	    ERROR_ALREADY_EXISTS)
		rc = fail();
	free(w);
	return rc;
}

int
fs_list(const char *dir, int (*fn)(void *arg, const char *name), void *arg)
{
	char name[MAX_PATH * 4];	/* UTF-8 of a name: 4 bytes a unit */
	WIN32_FIND_DATAW fd;
	size_t len = strlen(dir);
	char *pattern;
	wchar_t *w;
	HANDLE h;
	int rc;

	if ((pattern = malloc(len + 3)) == NULL)
		return -ENOMEM;
	snprintf(pattern, len + 3, "%s/*", dir);
	rc = win_wpath(pattern, &w);
	free(pattern);
	if (rc != 0)
		return rc;
	h = FindFirstFileW(w, &fd);
	free(w);
	if (h == INVALID_HANDLE_VALUE)
		/* No entry at all (not even "."): an empty volume root. */
		return GetLastError() == ERROR_FILE_NOT_FOUND ? 0 : fail();
	do {
		if (WideCharToMultiByte(CP_UTF8, 0, fd.cFileName, -1, name,
		    (int)sizeof(name), NULL, NULL) <= 0)
			continue;	/* cannot be one of ours */
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		rc = fn(arg, name);
	} while (rc == 0 && FindNextFileW(h, &fd));
	if (rc == 0 && GetLastError() != ERROR_NO_MORE_FILES)
		rc = fail();
	FindClose(h);
	return rc;
}

/* ---- small durable files ------------------------------------------------- */

int
fsync_dir(const char *dir)
{
	/*
	 * Nothing to do, and nothing that could be done: FlushFileBuffers
	 * needs a handle open for writing, which a directory gets only
	 * with the backup privilege.  NTFS keeps directory changes in its
	 * journal; a rename here is made with MOVEFILE_WRITE_THROUGH (on
	 * disk when it returns), and the entry of a new file goes to disk
	 * with the file's own FlushFileBuffers.
	 */
	(void)dir;
	return 0;
}

int
file_write_atomic(const char *path, const void *data, size_t len, int mode,
    bool durable)
{
	char tmp[PATH_MAX];
	const char *p = data;
	fs_handle fh;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* Never written through a link: whatever is at tmp goes first. */
	(void)fs_remove(tmp);
	if ((rc = fs_open(tmp, FS_APPEND | FS_CREATE | FS_EXCL, mode,
	    &fh)) != 0)
		return rc;
	while (rc == 0 && len > 0) {
		ssize_t n = fs_append(fh, p, len);

		if (n <= 0)
			rc = n < 0 ? (int)n : -EIO;
		else {
			p += n;
			len -= (size_t)n;
		}
	}
	if (rc == 0 && durable)
		rc = fs_sync(fh);
	fs_close(fh);
	if (rc == 0)
		rc = move_file(tmp, path, durable ? MOVEFILE_WRITE_THROUGH :
		    0);
	if (rc != 0)
		(void)fs_remove(tmp);
	return rc;
}

int
file_mkdirs(const char *path, int mode)
{
	char buf[PATH_MAX];
	size_t len, root = 0;
	int rc;

	if ((len = (size_t)snprintf(buf, sizeof(buf), "%s", path)) >=
	    sizeof(buf))
		return -ENAMETOOLONG;
#define IS_SEP(c)	((c) == '/' || (c) == '\\')
	/* What is not to be made: "C:", "C:\", "\", or "\\server\share\". */
	if (len >= 2 && buf[1] == ':')
		root = len >= 3 && IS_SEP(buf[2]) ? 3 : 2;
	else if (len >= 2 && IS_SEP(buf[0]) && IS_SEP(buf[1])) {
		int seps = 0;

		for (root = 2; root < len && seps < 2; root++)
			if (IS_SEP(buf[root]))
				seps++;
	} else if (len >= 1 && IS_SEP(buf[0]))
		root = 1;
	for (size_t i = root + 1; i <= len; i++) {
		char c = buf[i];

		if ((!IS_SEP(c) && c != '\0') || IS_SEP(buf[i - 1]))
			continue;
		buf[i] = '\0';
		rc = fs_mkdir(buf, mode);
		buf[i] = c;
		if (rc != 0)
			return rc;
	}
#undef IS_SEP
	return 0;
}

/* compat_win.h: pread() on a C runtime fd. */
ssize_t
pread(int fd, void *p, size_t n, off_t off)
{
	HANDLE h = (HANDLE)_get_osfhandle(fd);
	LARGE_INTEGER zero = { .QuadPart = 0 }, pos;
	ssize_t r;

	if (h == INVALID_HANDLE_VALUE) {
		errno = EBADF;
		return -1;
	}
	if (off < 0) {
		errno = EINVAL;
		return -1;
	}
	/* ReadFile() at an offset moves a synchronous handle's position;
	 * pread() must not: put it back. */
	if (!SetFilePointerEx(h, zero, &pos, FILE_CURRENT)) {
		errno = -fail();
		return -1;
	}
	r = fs_pread(h, p, n, (uint64_t)off);
	if (!SetFilePointerEx(h, pos, NULL, FILE_BEGIN) && r >= 0)
		r = fail();
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* compat_win.h: what the Windows C runtime lacks. */
void
explicit_bzero(void *p, size_t n)
{
	SecureZeroMemory(p, n);
}

char *
strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d;

	if ((d = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

long
random(void)
{
	unsigned int r = 0;

	if (rand_s(&r) != 0)
		r = (unsigned int)rand();
	return (long)(r & 0x7fffffff);
}

ssize_t
getrandom(void *p, size_t n, unsigned int flags)
{
	unsigned char *b = p;

	(void)flags;
	for (size_t i = 0; i < n; i += sizeof(unsigned int)) {
		unsigned int r;
		size_t k = n - i < sizeof(r) ? n - i : sizeof(r);

		if (rand_s(&r) != 0) {
			errno = EIO;
			return -1;
		}
		memcpy(b + i, &r, k);
	}
	return (ssize_t)n;
}

int
host_name(char *buf, size_t len)
{
	DWORD n = len > 0xffff ? 0xffff : (DWORD)len;

	if (len == 0 || !GetComputerNameExA(ComputerNameDnsHostname, buf,
	    &n)) {
		errno = EIO;
		return -1;
	}
	return 0;
}

void *
memmem(const void *hay, size_t hlen, const void *needle, size_t nlen)
{
	const char *h = hay;

	if (nlen == 0)
		return (void *)h;
	for (size_t i = 0; nlen <= hlen && i <= hlen - nlen; i++)
		if (h[i] == *(const char *)needle &&
		    memcmp(h + i, needle, nlen) == 0)
			return (void *)(h + i);
	return NULL;
}

/* The identity of the open file h (compat_win.h). */
static int
handle_id(HANDLE h, uint64_t *dev, uint64_t *ino)
{
	BY_HANDLE_FILE_INFORMATION bi;

	if (!GetFileInformationByHandle(h, &bi)) {
		errno = -fail();
		return -1;
	}
	*dev = bi.dwVolumeSerialNumber;
	*ino = (uint64_t)bi.nFileIndexHigh << 32 | bi.nFileIndexLow;
	return 0;
}

int
win_fd_id(int fd, uint64_t *dev, uint64_t *ino)
{
	HANDLE h = (HANDLE)_get_osfhandle(fd);

	if (h == INVALID_HANDLE_VALUE) {
		errno = EBADF;
		return -1;
	}
	return handle_id(h, dev, ino);
}

int
win_path_id(const char *path, uint64_t *dev, uint64_t *ino)
{
	wchar_t *w;
	HANDLE h;
	int rc;

	if ((rc = win_wpath(path, &w)) != 0) {
		errno = -rc;
		return -1;
	}
	/* No access asked: the attributes only, whoever holds the file. */
	h = CreateFileW(w, 0, SHARE_ALL, NULL, OPEN_EXISTING,
	    FILE_FLAG_BACKUP_SEMANTICS, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE) {
		errno = -fail();
		return -1;
	}
	rc = handle_id(h, dev, ino);
	CloseHandle(h);
	return rc;
}

bool
win_fd_readable(int fd)
{
	HANDLE h = (HANDLE)_get_osfhandle(fd);
	DWORD avail = 0;

	if (h == INVALID_HANDLE_VALUE ||
	    !PeekNamedPipe(h, NULL, 0, NULL, &avail, NULL))
		return false;
	return avail > 0;
}

/* fnmatch() of one name: * ? [set] [!set] [a-z], no escapes. */
static bool
name_match(const char *p, const char *s)
{
	for (; *p != '\0'; p++, s++) {
		if (*p == '*') {
			while (p[1] == '*')
				p++;
			for (const char *t = s;; t++) {
				if (name_match(p + 1, t))
					return true;
				if (*t == '\0')
					return false;
			}
		}
		if (*s == '\0')
			return false;
		if (*p == '?')
			continue;
		if (*p == '[' && strchr(p + 1, ']') != NULL) {
			bool neg = p[1] == '!' || p[1] == '^', in = false;
			const char *q = p + 1 + (neg ? 1 : 0);

			do {
				unsigned char c = (unsigned char)*s;

				if (q[1] == '-' && q[2] != ']' &&
				    q[2] != '\0') {
					if (c >= (unsigned char)q[0] &&
					    c <= (unsigned char)q[2])
						in = true;
					q += 3;
				} else {
					if (*q == *s)
						in = true;
					q++;
				}
			} while (*q != ']' && *q != '\0');
			if (*q == '\0' || in == neg)
				return false;
			p = q;
			continue;
		}
		if (*p != *s)
			return false;
	}
	return *s == '\0';
}

struct glob_scan {
	const char	*dir;	/* with its separator, or "" */
	size_t		 dirlen;
	const char	*pat;	/* the last component */
	glob_t		*g;
	size_t		 cap;
};

static int
glob_one(void *arg, const char *name)
{
	struct glob_scan *gs = arg;
	glob_t *g = gs->g;
	char *path;

	if (name[0] == '.' && gs->pat[0] != '.')
		return 0;
	if (!name_match(gs->pat, name))
		return 0;
	if (g->gl_pathc + 1 >= gs->cap) {
		size_t cap = gs->cap == 0 ? 16 : gs->cap * 2;
		char **v = realloc(g->gl_pathv, cap * sizeof(*v));
		if (v == NULL)
			return GLOB_NOSPACE;
		g->gl_pathv = v;
		gs->cap = cap;
	}
	if ((path = malloc(gs->dirlen + strlen(name) + 1)) == NULL)
		return GLOB_NOSPACE;
	memcpy(path, gs->dir, gs->dirlen);
	strcpy(path + gs->dirlen, name);
	g->gl_pathv[g->gl_pathc++] = path;
	g->gl_pathv[g->gl_pathc] = NULL;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
glob(const char *pattern, int flags, int (*errfunc)(const char *, int),
    glob_t *g)
{
	struct glob_scan gs = { .g = g };
	const char *slash = NULL;
	char *dir;
	int rc;

	memset(g, 0, sizeof(*g));
	if (flags != 0 || errfunc != NULL)
		return GLOB_ABORTED;
	for (const char *p = pattern; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			slash = p;
	gs.dirlen = slash != NULL ? (size_t)(slash - pattern) + 1 : 0;
	gs.pat = pattern + gs.dirlen;
	if (strpbrk(gs.pat, "*?[") == NULL ||
	    (gs.dirlen > 0 && strcspn(pattern, "*?[") < gs.dirlen))
		return GLOB_ABORTED;	/* wildcards in the last part only */
	if ((dir = malloc(gs.dirlen + 2)) == NULL)
		return GLOB_NOSPACE;
	if (gs.dirlen == 0)
		strcpy(dir, ".");
	else {
		memcpy(dir, pattern, gs.dirlen);
		dir[gs.dirlen] = '\0';
	}
	gs.dir = pattern;
	rc = fs_list(dir, glob_one, &gs);
	free(dir);
	if (rc < 0 && g->gl_pathc == 0) {
		globfree(g);
		return rc == -ENOENT ? GLOB_NOMATCH : GLOB_ABORTED;
	}
	if (rc > 0) {
		globfree(g);
		return rc;
	}
	if (g->gl_pathc == 0) {
		globfree(g);
		return GLOB_NOMATCH;
	}
	qsort(g->gl_pathv, g->gl_pathc, sizeof(*g->gl_pathv), cmp_str);
	return 0;
}

void
globfree(glob_t *g)
{
	for (size_t i = 0; i < g->gl_pathc; i++)
		free(g->gl_pathv[i]);
	free(g->gl_pathv);
	memset(g, 0, sizeof(*g));
}

ssize_t
win_read(int fd, void *p, size_t n)
{
	HANDLE h = (HANDLE)_get_osfhandle(fd);
	DWORD got;

	if (h == INVALID_HANDLE_VALUE) {
		errno = EBADF;
		return -1;
	}
	if (!ReadFile(h, p, n > 0x40000000 ? 0x40000000 : (DWORD)n, &got,
	    NULL)) {
		DWORD e = GetLastError();

		/* A pipe whose writer is gone: the end, as read(2) says. */
		if (e == ERROR_BROKEN_PIPE || e == ERROR_HANDLE_EOF)
			return 0;
		errno = win_errno(e);
		return -1;
	}
	return (ssize_t)got;
}

/* The SID of the process's user as SDDL text (LocalFree it), or NULL. */
static wchar_t *
self_sid(void)
{
	union {
		TOKEN_USER	tu;
		char		buf[256];
	} u;
	HANDLE tok;
	DWORD n = 0;
	wchar_t *text = NULL;

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
		return NULL;
	if (GetTokenInformation(tok, TokenUser, &u, sizeof(u), &n))
		(void)ConvertSidToStringSidW(u.tu.User.Sid, &text);
	CloseHandle(tok);
	return text;
}

/*
 * A protected DACL with one entry: the user the agent runs as (SYSTEM
 * for the service), full control of a directory (inherited by what it
 * holds), read, write and delete of a file (0x13019f: FILE_GENERIC_READ,
 * FILE_GENERIC_WRITE, DELETE; as 0600).  Not Administrators: they may
 * take ownership, but need not read it by default.
 * SetNamedSecurityInfoW() carries it to what a directory holds already;
 * SetFileSecurityW() too, which Wine maps onto the mode bits (its
 * SetNamedSecurityInfoW() leaves a file's as they were; and it shows any
 * SID but the owner's and Everyone as the group's bits).
 */
int
file_make_private(const char *path, bool dir)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	BOOL present = FALSE, dflt = FALSE;
	PACL dacl = NULL;
	wchar_t sddl[256], *w, *me;
	DWORD e;
	int rc;

	if ((me = self_sid()) == NULL)
		return -EIO;
	_snwprintf(sddl, sizeof(sddl) / sizeof(sddl[0]), dir ?
	    L"D:PAI(A;OICI;FA;;;%ls)" : L"D:PAI(A;;0x13019f;;;%ls)", me);
	sddl[sizeof(sddl) / sizeof(sddl[0]) - 1] = L'\0';
	LocalFree(me);
	if ((rc = win_wpath(path, &w)) != 0)
		return rc;
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, &sd, NULL)) {
		free(w);
		return -ENOMEM;
	}
	e = GetSecurityDescriptorDacl(sd, &present, &dacl, &dflt) && present ?
	    SetNamedSecurityInfoW(w, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION |
	    PROTECTED_DACL_SECURITY_INFORMATION, NULL, NULL, dacl, NULL) :
	    ERROR_INVALID_SECURITY_DESCR;
	if (e == 0 && !SetFileSecurityW(w, DACL_SECURITY_INFORMATION, sd))
		e = GetLastError();
	LocalFree(sd);
	free(w);
	return e == 0 ? 0 : (e == ERROR_ACCESS_DENIED ? -EACCES : -EIO);
}
