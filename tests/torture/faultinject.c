/*
 * faultinject.c - an LD_PRELOAD interposer that makes one chosen call fail,
 * for the torture tests (tests/torture/torture.py drives it).  glibc only.
 *
 * Nothing is counted or failed before main() starts (__libc_start_main is
 * wrapped): the dynamic loader's and the libraries' constructors'
 * allocations are left alone.  Environment:
 *
 *   FI_MODE=alloc    the Nth allocation fails with ENOMEM: malloc, calloc,
 *                    realloc (size > 0), reallocarray, strdup, strndup,
 *                    posix_memalign, aligned_alloc, memalign.
 *   FI_SCOPE=LIST    alloc mode: count only allocations called from the
 *                    objects whose file name contains one of the comma-
 *                    separated words (e.g. "sysmonfwd,libexpat,libcjson,
 *                    libcurl,libz.so"); a call made from inside libc
 *                    (fopen, asprintf, opendir...) is attributed to libc's
 *                    caller.  Unset or "all": every allocation.
 *   FI_MODE=io       the Nth call, among those of the kinds in FI_KINDS,
 *                    on a path under FI_DIR (or an fd opened there) fails:
 *                      open      open, open64, openat, openat64, creat,
 *                                fopen, fopen64
 *                      write     write, writev
 *                      pwrite    pwrite, pwrite64, pwritev, pwritev64
 *                      fsync     fsync
 *                      fdatasync fdatasync
 *                      rename    rename, renameat, renameat2
 *                      ftruncate ftruncate, ftruncate64
 *                      read      read, readv, fgets, fread
 *                      pread     pread, pread64, preadv
 *                    (default: every kind).
 *   FI_DIR=PATH      io mode: the directory watched (absolute).
 *   FI_ERRNO=EIO|ENOSPC|SHORT   io mode: the error (default EIO).  SHORT:
 *                    a write or pwrite writes half of what it was given
 *                    and returns that (a disk that fills in the middle);
 *                    other kinds fail with ENOSPC.
 *   FI_THEN=KIND     io mode: once call N has failed, the next call of KIND
 *                    on a watched file fails too (as FI_ERRNO says; ENOSPC
 *                    after SHORT), whatever FI_KINDS says: e.g. a short
 *                    write, then the ftruncate that would cut it back.
 *   FI_ACTION=powercut   io mode: instead of failing call N, cut the power
 *                    just before it: every file under FI_DIR loses what
 *                    was written to it since its last successful fsync or
 *                    fdatasync (it is truncated back to that size; files
 *                    are taken to be appended to, as the ring's segments
 *                    are), a file created since its directory was last
 *                    fsynced disappears, and the process is killed
 *                    (SIGKILL).  A rename is taken as durable at once (the
 *                    agent fsyncs the directory right after each).
 *   FI_N=N           the call to fail, counted from 1; 0 or unset: only
 *                    count.
 *   FI_ALL=1         fail call N and every later one (default: only N).
 *   FI_COUNT_FILE=P  at exit, write "calls C" (calls counted), "fired F"
 *                    (failures injected) and, in io mode, one line per
 *                    kind "kind K" to P.
 *   FI_LOG=P         append the stack of every injected failure to P
 *                    (backtrace_symbols_fd: resolve with addr2line).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

/* glibc's own allocator entry points: they never come back here. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

enum kind {
	K_OPEN, K_WRITE, K_PWRITE, K_FSYNC, K_FDATASYNC, K_RENAME,
	K_FTRUNCATE, K_READ, K_PREAD, K_NKINDS
};
static const char *const kind_names[K_NKINDS] = {
	"open", "write", "pwrite", "fsync", "fdatasync", "rename",
	"ftruncate", "read", "pread",
};

#define MAX_FDS		65536
#define MAX_SCOPE	16

static int		 mode;		/* 0 off, 1 alloc, 2 io */
static volatile int	 armed;		/* main() has started */
static unsigned long	 fail_n;
static int		 fail_all;
static int		 fail_errno = EIO;
static int		 fail_short;
static unsigned		 kinds_mask = (1u << K_NKINDS) - 1;
static int		 then_kind = -1;	/* FI_THEN */
static int		 then_armed;
static char		 dir[PATH_MAX];
static size_t		 dirlen;
static char		 count_file[PATH_MAX];
static char		 log_file[PATH_MAX];
static unsigned long	 calls;		/* counted calls */
static unsigned long	 fired;
static unsigned long	 kind_calls[K_NKINDS];
static unsigned char	 tracked[MAX_FDS];
static __thread int	 in_hook;
static int		 reported;

/* Scope of alloc mode: address ranges of the objects named. */
struct range {
	uintptr_t	lo, hi;
};
static char		 scope_words[MAX_SCOPE][64];
static size_t		 nscope_words;
static struct range	 scope[64];
static size_t		 nscope;
static struct range	 libc_range[4];
static size_t		 nlibc;

/* ---- the real functions --------------------------------------------- */

#define REAL(name, ret, ...)						\
	static ret (*real_##name)(__VA_ARGS__);				\
	static ret (*get_##name(void))(__VA_ARGS__)			\
	{								\
		if (real_##name == NULL)				\
			real_##name = (ret (*)(__VA_ARGS__))dlsym(	\
			    RTLD_NEXT, #name);				\
		return real_##name;					\
	}

REAL(open, int, const char *, int, ...)
REAL(open64, int, const char *, int, ...)
REAL(openat, int, int, const char *, int, ...)
REAL(openat64, int, int, const char *, int, ...)
REAL(creat, int, const char *, mode_t)
REAL(fopen, FILE *, const char *, const char *)
REAL(fopen64, FILE *, const char *, const char *)
REAL(fclose, int, FILE *)
REAL(close, int, int)
REAL(write, ssize_t, int, const void *, size_t)
REAL(writev, ssize_t, int, const struct iovec *, int)
REAL(pwrite, ssize_t, int, const void *, size_t, off_t)
REAL(pwrite64, ssize_t, int, const void *, size_t, off_t)
REAL(pwritev, ssize_t, int, const struct iovec *, int, off_t)
REAL(pwritev64, ssize_t, int, const struct iovec *, int, off_t)
REAL(fsync, int, int)
REAL(fdatasync, int, int)
REAL(rename, int, const char *, const char *)
REAL(renameat, int, int, const char *, int, const char *)
REAL(renameat2, int, int, const char *, int, const char *, unsigned)
REAL(ftruncate, int, int, off_t)
REAL(ftruncate64, int, int, off_t)
REAL(read, ssize_t, int, void *, size_t)
REAL(readv, ssize_t, int, const struct iovec *, int)
REAL(pread, ssize_t, int, void *, size_t, off_t)
REAL(pread64, ssize_t, int, void *, size_t, off_t)
REAL(preadv, ssize_t, int, const struct iovec *, int, off_t)
REAL(fgets, char *, char *, int, FILE *)
REAL(unlink, int, const char *)
REAL(unlinkat, int, int, const char *, int)
REAL(fread, size_t, void *, size_t, size_t, FILE *)

static void write_counts(void);
static void report_site(const char *what);

/* ---- power cut (FI_ACTION=powercut) ------------------------------------ */

#define MAX_PFILES	512

/* A file under FI_DIR this process opened: what a power cut leaves. */
struct pfile {
	char		path[512];
	long long	synced;		/* bytes known on disk */
	int		created;	/* made by this process... */
	int		linked;		/* ...and its directory fsynced since */
	int		used;
};
static int		 powercut;
static struct pfile	 pfiles[MAX_PFILES];
static short		 fd_pfile[MAX_FDS];	/* 1 + index into pfiles */

static struct pfile *
pf_find(const char *path)
{
	for (int i = 0; i < MAX_PFILES; i++)
		if (pfiles[i].used && strcmp(pfiles[i].path, path) == 0)
			return &pfiles[i];
	return NULL;
}

static void
pc_opened(int fd, const char *path, int flags, int existed)
{
	struct pfile *p;
	struct stat st;

	if (!powercut || fd < 0 || fd >= MAX_FDS || path[0] != '/' ||
	    strlen(path) >= sizeof(pfiles[0].path))
		return;
	if ((p = pf_find(path)) == NULL) {
		for (int i = 0; i < MAX_PFILES && p == NULL; i++)
			if (!pfiles[i].used)
				p = &pfiles[i];
		if (p == NULL)
			return;
		memset(p, 0, sizeof(*p));
		snprintf(p->path, sizeof(p->path), "%s", path);
		p->used = 1;
		p->created = !existed;
		p->linked = existed;
		p->synced = existed && stat(path, &st) == 0 ?
		    (long long)st.st_size : 0;
	}
	if (flags & O_TRUNC)
		p->synced = 0;
	fd_pfile[fd] = (short)(p - pfiles + 1);
}

static void
pc_synced(int fd)
{
	struct pfile *p;
	struct stat st;
	size_t n;

	if (!powercut || fd < 0 || fd >= MAX_FDS || fd_pfile[fd] == 0 ||
	    fstat(fd, &st) != 0)
		return;
	p = &pfiles[fd_pfile[fd] - 1];
	if (!S_ISDIR(st.st_mode)) {
		p->synced = (long long)st.st_size;
		return;
	}
	/* A directory: the names made in it are durable now. */
	n = strlen(p->path);
	for (int i = 0; i < MAX_PFILES; i++)
		if (pfiles[i].used && strncmp(pfiles[i].path, p->path, n) == 0 &&
		    pfiles[i].path[n] == '/' &&
		    strchr(pfiles[i].path + n + 1, '/') == NULL)
			pfiles[i].linked = 1;
}

static void
pc_truncated(int fd, off_t len)
{
	struct pfile *p;

	if (!powercut || fd < 0 || fd >= MAX_FDS || fd_pfile[fd] == 0)
		return;
	p = &pfiles[fd_pfile[fd] - 1];
	if ((long long)len < p->synced)
		p->synced = (long long)len;
}

static void
pc_renamed(const char *from, const char *to)
{
	struct pfile *p, *q;

	if (!powercut || from[0] != '/' || to[0] != '/' ||
	    strlen(to) >= sizeof(pfiles[0].path))
		return;
	if ((q = pf_find(to)) != NULL)
		q->used = 0;
	if ((p = pf_find(from)) != NULL) {
		snprintf(p->path, sizeof(p->path), "%s", to);
		p->linked = 1;
	}
}

static void
pc_unlinked(const char *path)
{
	struct pfile *p;

	if (powercut && path[0] == '/' && (p = pf_find(path)) != NULL)
		p->used = 0;
}

/* Cut the power now: see FI_ACTION. */
__attribute__((noreturn)) static void
power_cut(const char *what)
{
	struct stat st;

	report_site(what);
	for (int i = 0; i < MAX_PFILES; i++) {
		struct pfile *p = &pfiles[i];

		if (!p->used || stat(p->path, &st) != 0 || S_ISDIR(st.st_mode))
			continue;
		if (p->created && !p->linked)
			(void)get_unlink()(p->path);
		else if ((long long)st.st_size > p->synced)
			(void)truncate(p->path, (off_t)p->synced);
	}
	__atomic_add_fetch(&fired, 1, __ATOMIC_RELAXED);
	armed = 0;
	write_counts();
	kill(getpid(), SIGKILL);
	_exit(137);
}

/* ---- reporting ------------------------------------------------------- */

static void
put_str(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = get_write()(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void
put_num(int fd, unsigned long v)
{
	char buf[24];
	int i = (int)sizeof(buf) - 1;

	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put_str(fd, buf + i);
}

static void
report_site(const char *what)
{
	void *frames[48];
	int n, fd;

	if (log_file[0] == '\0')
		return;
	fd = get_open()(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return;
	put_str(fd, "== injected: ");
	put_str(fd, what);
	put_str(fd, " (call ");
	put_num(fd, calls);
	put_str(fd, ")\n");
	n = backtrace(frames, 48);
	backtrace_symbols_fd(frames, n, fd);
	get_close()(fd);
}

static void
write_counts(void)
{
	int fd;

	if (reported || mode == 0 || count_file[0] == '\0')
		return;
	reported = 1;
	fd = get_open()(count_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return;
	put_str(fd, "calls ");
	put_num(fd, __atomic_load_n(&calls, __ATOMIC_RELAXED));
	put_str(fd, "\nfired ");
	put_num(fd, __atomic_load_n(&fired, __ATOMIC_RELAXED));
	put_str(fd, "\n");
	if (mode == 2)
		for (int k = 0; k < K_NKINDS; k++) {
			put_str(fd, kind_names[k]);
			put_str(fd, " ");
			put_num(fd, kind_calls[k]);
			put_str(fd, "\n");
		}
	get_close()(fd);
}

/* Count one call; true when it must fail. */
static int
count_call(void)
{
	unsigned long n = __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);

	if (fail_n == 0 || n < fail_n || (n > fail_n && !fail_all))
		return 0;
	__atomic_add_fetch(&fired, 1, __ATOMIC_RELAXED);
	return 1;
}

/* ---- alloc mode ------------------------------------------------------ */

static int
phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	const char *name = info->dlpi_name;
	int ours = 0, libc;

	(void)size;
	(void)arg;
	if (name == NULL || name[0] == '\0') {
		/* The main program: its name is its argv[0]. */
		name = "(main)";
		for (size_t i = 0; i < nscope_words; i++)
			if (strcmp(scope_words[i], "sysmonfwd") == 0 ||
			    strcmp(scope_words[i], "(main)") == 0)
				ours = 1;
	}
	for (size_t i = 0; i < nscope_words; i++)
		if (strstr(name, scope_words[i]) != NULL)
			ours = 1;
	libc = strstr(name, "/libc.so") != NULL;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		struct range r;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		r.lo = info->dlpi_addr + ph->p_vaddr;
		r.hi = r.lo + ph->p_memsz;
		if (ours && nscope < sizeof(scope) / sizeof(scope[0]))
			scope[nscope++] = r;
		if (libc && nlibc < sizeof(libc_range) / sizeof(libc_range[0]))
			libc_range[nlibc++] = r;
	}
	return 0;
}

static int
in_ranges(const struct range *r, size_t n, uintptr_t a)
{
	for (size_t i = 0; i < n; i++)
		if (a >= r[i].lo && a < r[i].hi)
			return 1;
	return 0;
}

/* Is this allocation, called from ret, one we count? */
static int
alloc_in_scope(void *ret)
{
	void *frames[6];
	int n;

	if (nscope_words == 0)
		return 1;
	if (!in_ranges(libc_range, nlibc, (uintptr_t)ret))
		return in_ranges(scope, nscope, (uintptr_t)ret);
	/* Called from inside libc (fopen, asprintf...): whose call was it?
	 * frames: 0 us, 1 our hook's caller in libc, ...: the first frame
	 * outside libc decides. */
	n = backtrace(frames, 6);
	for (int i = 1; i < n; i++)
		if (!in_ranges(libc_range, nlibc, (uintptr_t)frames[i]))
			return in_ranges(scope, nscope, (uintptr_t)frames[i]);
	return 0;
}

/* true when this allocation must fail (errno is then ENOMEM). */
static int
alloc_fails(void *ret, const char *what)
{
	int f;

	if (mode != 1 || !armed || in_hook)
		return 0;
	in_hook = 1;
	f = alloc_in_scope(ret) && count_call();
	if (f)
		report_site(what);
	in_hook = 0;
	if (f)
		errno = ENOMEM;
	return f;
}

#define CALLER	__builtin_return_address(0)

void *
malloc(size_t n)
{
	if (alloc_fails(CALLER, "malloc"))
		return NULL;
	return __libc_malloc(n);
}

void *
calloc(size_t a, size_t b)
{
	if (alloc_fails(CALLER, "calloc"))
		return NULL;
	return __libc_calloc(a, b);
}

void *
realloc(void *p, size_t n)
{
	if (n > 0 && alloc_fails(CALLER, "realloc"))
		return NULL;
	return __libc_realloc(p, n);
}

void *
reallocarray(void *p, size_t a, size_t b)
{
	size_t n;

	if (__builtin_mul_overflow(a, b, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	if (n > 0 && alloc_fails(CALLER, "reallocarray"))
		return NULL;
	return __libc_realloc(p, n);
}

char *
strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d;

	if (alloc_fails(CALLER, "strdup") || (d = __libc_malloc(n)) == NULL)
		return NULL;
	return memcpy(d, s, n);
}

char *
strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *d;

	if (alloc_fails(CALLER, "strndup") || (d = __libc_malloc(n + 1)) ==
	    NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

int
posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (alloc_fails(CALLER, "posix_memalign"))
		return ENOMEM;
	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	if ((p = __libc_memalign(align, n)) == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

void *
aligned_alloc(size_t align, size_t n)
{
	if (alloc_fails(CALLER, "aligned_alloc"))
		return NULL;
	return __libc_memalign(align, n);
}

void *
memalign(size_t align, size_t n)
{
	if (alloc_fails(CALLER, "memalign"))
		return NULL;
	return __libc_memalign(align, n);
}

/* ---- io mode --------------------------------------------------------- */

static int
under_dir(int dirfd, const char *path)
{
	char cwd[PATH_MAX], full[PATH_MAX];

	if (path == NULL || dirlen == 0)
		return 0;
	if (path[0] != '/') {
		if (dirfd != AT_FDCWD)
			return dirfd >= 0 && dirfd < MAX_FDS && tracked[dirfd];
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return 0;
		if ((size_t)snprintf(full, sizeof(full), "%s/%s", cwd, path) >=
		    sizeof(full))
			return 0;
		path = full;
	}
	return strncmp(path, dir, dirlen) == 0 &&
	    (path[dirlen] == '\0' || path[dirlen] == '/');
}

static int
fd_tracked(int fd)
{
	return fd >= 0 && fd < MAX_FDS && tracked[fd];
}

static void
track(int fd, int on)
{
	if (fd >= 0 && fd < MAX_FDS)
		tracked[fd] = (unsigned char)on;
}

/* A call of kind k on a watched file: true when it must fail. */
static int
io_fails(enum kind k, const char *what)
{
	int f;

	if (mode != 2 || !armed || in_hook)
		return 0;
	if (then_armed && (int)k == then_kind) {
		then_armed = 0;
		__atomic_add_fetch(&fired, 1, __ATOMIC_RELAXED);
		in_hook = 1;
		report_site(what);
		in_hook = 0;
		return 1;
	}
	if (!(kinds_mask & (1u << k)))
		return 0;
	in_hook = 1;
	__atomic_add_fetch(&kind_calls[k], 1, __ATOMIC_RELAXED);
	f = count_call();
	if (f && powercut)
		power_cut(what);
	if (f) {
		report_site(what);
		if (then_kind >= 0)
			then_armed = 1;
	}
	in_hook = 0;
	return f;
}

static int
fail_int(void)
{
	errno = fail_short ? ENOSPC : fail_errno;
	return -1;
}

static int
mode_arg(int flags)
{
	return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

#define OPEN_BODY(callexpr, dirfd, path, flags)				\
	do {								\
		int w_ = under_dir(dirfd, path), fd_, ex_ = 0;		\
		struct stat st_;					\
		if (w_ && io_fails(K_OPEN, "open"))			\
			return fail_int();				\
		if (w_ && powercut)					\
			ex_ = stat(path, &st_) == 0;			\
		fd_ = callexpr;						\
		if (fd_ >= 0)						\
			track(fd_, w_);					\
		if (fd_ >= 0 && w_)					\
			pc_opened(fd_, path, flags, ex_);		\
		return fd_;						\
	} while (0)

int
open(const char *path, int flags, ...)
{
	mode_t m = 0;

	if (mode_arg(flags)) {
		va_list ap;
		va_start(ap, flags);
		m = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	OPEN_BODY(get_open()(path, flags, m), AT_FDCWD, path, flags);
}

int
open64(const char *path, int flags, ...)
{
	mode_t m = 0;

	if (mode_arg(flags)) {
		va_list ap;
		va_start(ap, flags);
		m = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	OPEN_BODY(get_open64()(path, flags, m), AT_FDCWD, path, flags);
}

int
openat(int dfd, const char *path, int flags, ...)
{
	mode_t m = 0;

	if (mode_arg(flags)) {
		va_list ap;
		va_start(ap, flags);
		m = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	OPEN_BODY(get_openat()(dfd, path, flags, m), dfd, path, flags);
}

int
openat64(int dfd, const char *path, int flags, ...)
{
	mode_t m = 0;

	if (mode_arg(flags)) {
		va_list ap;
		va_start(ap, flags);
		m = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	OPEN_BODY(get_openat64()(dfd, path, flags, m), dfd, path, flags);
}

int
creat(const char *path, mode_t m)
{
	OPEN_BODY(get_creat()(path, m), AT_FDCWD, path,
	    O_CREAT | O_TRUNC | O_WRONLY);
}

static FILE *
fopen_common(FILE *(*real)(const char *, const char *), const char *path,
    const char *how)
{
	int w = under_dir(AT_FDCWD, path), ex = 0;
	struct stat st;
	FILE *f;

	if (w && io_fails(K_OPEN, "fopen")) {
		errno = fail_short ? ENOSPC : fail_errno;
		return NULL;
	}
	if (w && powercut)
		ex = stat(path, &st) == 0;
	f = real(path, how);
	if (f != NULL)
		track(fileno(f), w);
	if (f != NULL && w)
		pc_opened(fileno(f), path, how[0] == 'w' ? O_CREAT | O_TRUNC :
		    how[0] == 'a' ? O_CREAT : 0, ex);
	return f;
}

FILE *
fopen(const char *path, const char *how)
{
	return fopen_common(get_fopen(), path, how);
}

FILE *
fopen64(const char *path, const char *how)
{
	return fopen_common(get_fopen64(), path, how);
}

int
fclose(FILE *f)
{
	if (f != NULL) {
		track(fileno(f), 0);
		if (fileno(f) >= 0 && fileno(f) < MAX_FDS)
			fd_pfile[fileno(f)] = 0;
	}
	return get_fclose()(f);
}

int
close(int fd)
{
	track(fd, 0);
	if (fd >= 0 && fd < MAX_FDS)
		fd_pfile[fd] = 0;
	return get_close()(fd);
}

int
unlink(const char *path)
{
	int rc = get_unlink()(path);

	if (rc == 0)
		pc_unlinked(path);
	return rc;
}

int
unlinkat(int dfd, const char *path, int flags)
{
	int rc = get_unlinkat()(dfd, path, flags);

	if (rc == 0 && dfd == AT_FDCWD)
		pc_unlinked(path);
	return rc;
}

ssize_t
write(int fd, const void *p, size_t n)
{
	if (fd_tracked(fd) && io_fails(K_WRITE, "write")) {
		if (fail_short && n > 1)
			return get_write()(fd, p, n / 2);
		return fail_int();
	}
	return get_write()(fd, p, n);
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	if (fd_tracked(fd) && io_fails(K_WRITE, "writev"))
		return fail_int();
	return get_writev()(fd, iov, cnt);
}

ssize_t
pwrite(int fd, const void *p, size_t n, off_t off)
{
	if (fd_tracked(fd) && io_fails(K_PWRITE, "pwrite")) {
		if (fail_short && n > 1)
			return get_pwrite()(fd, p, n / 2, off);
		return fail_int();
	}
	return get_pwrite()(fd, p, n, off);
}

ssize_t
pwrite64(int fd, const void *p, size_t n, off_t off)
{
	if (fd_tracked(fd) && io_fails(K_PWRITE, "pwrite64")) {
		if (fail_short && n > 1)
			return get_pwrite64()(fd, p, n / 2, off);
		return fail_int();
	}
	return get_pwrite64()(fd, p, n, off);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (fd_tracked(fd) && io_fails(K_PWRITE, "pwritev"))
		return fail_int();
	return get_pwritev()(fd, iov, cnt, off);
}

ssize_t
pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (fd_tracked(fd) && io_fails(K_PWRITE, "pwritev64"))
		return fail_int();
	return get_pwritev64()(fd, iov, cnt, off);
}

int
fsync(int fd)
{
	int rc;

	if (fd_tracked(fd) && io_fails(K_FSYNC, "fsync"))
		return fail_int();
	if ((rc = get_fsync()(fd)) == 0)
		pc_synced(fd);
	return rc;
}

int
fdatasync(int fd)
{
	int rc;

	if (fd_tracked(fd) && io_fails(K_FDATASYNC, "fdatasync"))
		return fail_int();
	if ((rc = get_fdatasync()(fd)) == 0)
		pc_synced(fd);
	return rc;
}

int
rename(const char *from, const char *to)
{
	int rc;

	if ((under_dir(AT_FDCWD, from) || under_dir(AT_FDCWD, to)) &&
	    io_fails(K_RENAME, "rename"))
		return fail_int();
	if ((rc = get_rename()(from, to)) == 0)
		pc_renamed(from, to);
	return rc;
}

int
renameat(int fd1, const char *from, int fd2, const char *to)
{
	if ((under_dir(fd1, from) || under_dir(fd2, to)) &&
	    io_fails(K_RENAME, "renameat"))
		return fail_int();
	return get_renameat()(fd1, from, fd2, to);
}

int
renameat2(int fd1, const char *from, int fd2, const char *to, unsigned fl)
{
	if ((under_dir(fd1, from) || under_dir(fd2, to)) &&
	    io_fails(K_RENAME, "renameat2"))
		return fail_int();
	return get_renameat2()(fd1, from, fd2, to, fl);
}

int
ftruncate(int fd, off_t len)
{
	int rc;

	if (fd_tracked(fd) && io_fails(K_FTRUNCATE, "ftruncate"))
		return fail_int();
	if ((rc = get_ftruncate()(fd, len)) == 0)
		pc_truncated(fd, len);
	return rc;
}

int
ftruncate64(int fd, off_t len)
{
	int rc;

	if (fd_tracked(fd) && io_fails(K_FTRUNCATE, "ftruncate64"))
		return fail_int();
	if ((rc = get_ftruncate64()(fd, len)) == 0)
		pc_truncated(fd, len);
	return rc;
}

ssize_t
read(int fd, void *p, size_t n)
{
	if (fd_tracked(fd) && io_fails(K_READ, "read"))
		return fail_int();
	return get_read()(fd, p, n);
}

ssize_t
readv(int fd, const struct iovec *iov, int cnt)
{
	if (fd_tracked(fd) && io_fails(K_READ, "readv"))
		return fail_int();
	return get_readv()(fd, iov, cnt);
}

ssize_t
pread(int fd, void *p, size_t n, off_t off)
{
	if (fd_tracked(fd) && io_fails(K_PREAD, "pread"))
		return fail_int();
	return get_pread()(fd, p, n, off);
}

ssize_t
pread64(int fd, void *p, size_t n, off_t off)
{
	if (fd_tracked(fd) && io_fails(K_PREAD, "pread64"))
		return fail_int();
	return get_pread64()(fd, p, n, off);
}

ssize_t
preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (fd_tracked(fd) && io_fails(K_PREAD, "preadv"))
		return fail_int();
	return get_preadv()(fd, iov, cnt, off);
}

char *
fgets(char *s, int n, FILE *f)
{
	if (f != NULL && fd_tracked(fileno(f)) && io_fails(K_READ, "fgets")) {
		errno = fail_short ? ENOSPC : fail_errno;
		return NULL;
	}
	return get_fgets()(s, n, f);
}

size_t
fread(void *p, size_t size, size_t n, FILE *f)
{
	if (f != NULL && fd_tracked(fileno(f)) && io_fails(K_READ, "fread")) {
		errno = fail_short ? ENOSPC : fail_errno;
		return 0;
	}
	return get_fread()(p, size, n, f);
}

/* ---- set-up ---------------------------------------------------------- */

static void
parse_env(void)
{
	const char *m = getenv("FI_MODE"), *v;

	if (m == NULL)
		return;
	if (strcmp(m, "alloc") == 0)
		mode = 1;
	else if (strcmp(m, "io") == 0)
		mode = 2;
	else
		return;
	if ((v = getenv("FI_N")) != NULL)
		fail_n = strtoul(v, NULL, 10);
	fail_all = (v = getenv("FI_ALL")) != NULL && strcmp(v, "1") == 0;
	if ((v = getenv("FI_ERRNO")) != NULL) {
		if (strcmp(v, "ENOSPC") == 0)
			fail_errno = ENOSPC;
		else if (strcmp(v, "SHORT") == 0)
			fail_short = 1;
		else if (strcmp(v, "EIO") == 0)
			fail_errno = EIO;
		else
			fail_errno = atoi(v) > 0 ? atoi(v) : EIO;
	}
	if ((v = getenv("FI_DIR")) != NULL) {
		snprintf(dir, sizeof(dir), "%s", v);
		dirlen = strlen(dir);
		while (dirlen > 1 && dir[dirlen - 1] == '/')
			dir[--dirlen] = '\0';
	}
	if ((v = getenv("FI_KINDS")) != NULL && *v != '\0' &&
	    strcmp(v, "all") != 0) {
		kinds_mask = 0;
		for (int k = 0; k < K_NKINDS; k++) {
			size_t len = strlen(kind_names[k]);
			for (const char *p = v; (p = strstr(p, kind_names[k]))
			    != NULL; p += len)
				if ((p == v || p[-1] == ',') &&
				    (p[len] == '\0' || p[len] == ','))
					kinds_mask |= 1u << k;
		}
	}
	if ((v = getenv("FI_SCOPE")) != NULL && strcmp(v, "all") != 0) {
		while (*v != '\0' && nscope_words < MAX_SCOPE) {
			size_t k = strcspn(v, ",");
			if (k > 0 && k < sizeof(scope_words[0])) {
				memcpy(scope_words[nscope_words], v, k);
				scope_words[nscope_words++][k] = '\0';
			}
			v += k + (v[k] == ',');
		}
	}
	powercut = (v = getenv("FI_ACTION")) != NULL &&
	    strcmp(v, "powercut") == 0;
	if ((v = getenv("FI_THEN")) != NULL)
		for (int k = 0; k < K_NKINDS; k++)
			if (strcmp(v, kind_names[k]) == 0)
				then_kind = k;
	if ((v = getenv("FI_COUNT_FILE")) != NULL)
		snprintf(count_file, sizeof(count_file), "%s", v);
	if ((v = getenv("FI_LOG")) != NULL)
		snprintf(log_file, sizeof(log_file), "%s", v);
}

static int (*real_main)(int, char **, char **);

static int
wrapped_main(int argc, char **argv, char **envp)
{
	int rc;

	parse_env();
	if (mode != 0) {
		void *frames[2];

		/* Load the unwinder now, not inside a hook. */
		(void)backtrace(frames, 2);
		if (mode == 1 && nscope_words > 0)
			dl_iterate_phdr(phdr_cb, NULL);
		/* Resolve every real function before arming. */
		(void)get_open(); (void)get_open64(); (void)get_openat();
		(void)get_openat64(); (void)get_creat(); (void)get_fopen();
		(void)get_fopen64(); (void)get_fclose(); (void)get_close();
		(void)get_write(); (void)get_writev(); (void)get_pwrite();
		(void)get_pwrite64(); (void)get_pwritev();
		(void)get_pwritev64(); (void)get_fsync();
		(void)get_fdatasync(); (void)get_rename();
		(void)get_renameat(); (void)get_renameat2();
		(void)get_ftruncate(); (void)get_ftruncate64();
		(void)get_read(); (void)get_readv(); (void)get_pread();
		(void)get_pread64(); (void)get_preadv(); (void)get_fgets();
		(void)get_fread(); (void)get_unlink(); (void)get_unlinkat();
		armed = 1;
	}
	rc = real_main(argc, argv, envp);
	armed = 0;
	write_counts();
	return rc;
}

__attribute__((destructor)) static void
fi_fini(void)
{
	armed = 0;
	write_counts();
}

int
__libc_start_main(int (*main_fn)(int, char **, char **), int argc,
    char **argv, void (*init)(void), void (*fini)(void),
    void (*rtld_fini)(void), void *stack_end)
{
	int (*real)(int (*)(int, char **, char **), int, char **,
	    void (*)(void), void (*)(void), void (*)(void), void *);

	real = (int (*)(int (*)(int, char **, char **), int, char **,
	    void (*)(void), void (*)(void), void (*)(void), void *))
	    dlsym(RTLD_NEXT, "__libc_start_main");
	real_main = main_fn;
	return real(wrapped_main, argc, argv, init, fini, rtld_fini,
	    stack_end);
}
