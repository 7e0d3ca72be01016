/*
 * compat_win.h - the few POSIX names the agent's files use that the
 * Windows C runtime (mingw-w64's msvcrt) spells otherwise; included by
 * base.h on Windows only.  Each is the Windows call that does the same
 * thing, never a pretend one:
 *   O_CLOEXEC: _O_NOINHERIT (the handle is not inherited), with _O_BINARY
 *     so that the bytes written are the bytes given (no CRLF);
 *   mkdir(path, mode): _mkdir(path): the mode is not applied (the new
 *     directory inherits its parent's ACL; issue 14's ACL step sets them);
 *   fsync(fd): _commit(fd) (FlushFileBuffers);
 *   pread(): one read at an offset (sys_win.c: fs_pread(), ReadFile at
 *     an OVERLAPPED offset, which moves the position of a synchronous
 *     handle; pread() puts it back, as POSIX leaves it).
 *   explicit_bzero(): SecureZeroMemory(); strndup(); random() and
 *     getrandom(): rand_s() (RtlGenRandom, the system's CSPRNG);
 *   gethostname(): not declared here (winsock2.h has one that needs
 *     WSAStartup()): host_name() in base.h is the portable call.
 *   open_memstream() is not here: the Windows C runtime has no memory
 *     stream, so transport/ composes its texts in a struct tbuf.
 * off_t is 64 bits: CMakeLists.txt sets _FILE_OFFSET_BITS=64 on Windows.
 */
#ifndef SYSMONFWD_COMPAT_WIN_H
#define SYSMONFWD_COMPAT_WIN_H
#ifdef _WIN32

#include <direct.h>
#include <fcntl.h>
#include <io.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC	(_O_NOINHERIT | _O_BINARY)
#endif
#ifndef O_NONBLOCK
#define O_NONBLOCK	0	/* opening a FIFO does not block on Windows */
#endif
#ifndef O_NOFOLLOW
#define O_NOFOLLOW	0	/* the CRT cannot refuse a symbolic link */
#endif
#define mkdir(path, mode)	_mkdir(path)
#define fsync(fd)		_commit(fd)

ssize_t	pread(int fd, void *p, size_t n, off_t off);
void	explicit_bzero(void *p, size_t n);
char	*strndup(const char *s, size_t n);
long	random(void);
ssize_t	getrandom(void *p, size_t n, unsigned int flags);
void	*memmem(const void *hay, size_t hlen, const void *needle, size_t nlen);

/*
 * A file's identity, for telling a rotation (the file at a name is
 * another one): the volume serial number and the 64-bit file index of
 * GetFileInformationByHandle(), of an open fd or of path (opened sharing
 * everything, a directory too).  0 or -1 with errno.
 */
int	win_fd_id(int fd, uint64_t *dev, uint64_t *ino);
/*
 * path (UTF-8) as a UTF-16 path for the wide calls, '/' made '\\', a
 * long drive path given the "\\?\\" prefix: *out, which the caller
 * frees.  0, -EINVAL (not UTF-8) or -ENOMEM.
 */
int	win_wpath(const char *path, wchar_t **out);
int	win_path_id(const char *path, uint64_t *dev, uint64_t *ino);
/*
 * read(2) of fd at its position, by ReadFile(): the C runtime's read()
 * remembers the end of a file once met and returns 0 from then on, even
 * when the file has grown since (a tailed log).
 */
ssize_t	win_read(int fd, void *p, size_t n);
/* Bytes wait in the pipe fd (PeekNamedPipe()); false when not a pipe. */
bool	win_fd_readable(int fd);

#ifndef NAME_MAX
#define NAME_MAX	255	/* a name's length (UTF-16 units, NTFS) */
#endif

/*
 * glob(3) for the file input's patterns: wildcards (* ? [...]) in the
 * last component only (FindFirstFileExW() matches a name, not a path),
 * names sorted as glob() sorts them, hidden ".*" names left out unless
 * the pattern starts with ".".  flags and errfunc are not supported
 * (must be 0 and NULL).
 */
#define GLOB_NOSPACE	1
#define GLOB_ABORTED	2
#define GLOB_NOMATCH	3
typedef struct {
	size_t	  gl_pathc;
	char	**gl_pathv;
	size_t	  gl_offs;
} glob_t;
int	glob(const char *pattern, int flags,
	    int (*errfunc)(const char *, int), glob_t *g);
void	globfree(glob_t *g);

#endif
#endif
