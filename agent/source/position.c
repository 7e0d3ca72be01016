/*
 * position.c - the text forms of the sources' read positions; see
 * position.h.  No I/O: the sources read and write the files.
 */
#include "position.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- file input ----------------------------------------------------------- */

int
file_pos_parse(const char *text, size_t len, struct file_pos *p)
{
	/* Line by line as fgets() into this buffer reads the file. */
	char line[PATH_MAX + 32];
	struct file_pos v = { 0 };
	size_t at = 0;
	int have = 0;

	while (at < len) {
		size_t n = len - at;
		const char *nl;

		if (n > sizeof(line) - 1)
			n = sizeof(line) - 1;
		if ((nl = memchr(text + at, '\n', n)) != NULL)
			n = (size_t)(nl - (text + at)) + 1;
		memcpy(line, text + at, n);
		line[n] = '\0';
		at += n;
		if (sscanf(line, "dev %" SCNu64, &v.dev) == 1)
			have |= 1;
		else if (sscanf(line, "ino %" SCNu64, &v.ino) == 1)
			have |= 2;
		else if (sscanf(line, "offset %" SCNu64, &v.off) == 1)
			have |= 4;
		else if (sscanf(line, "crc %" SCNu32, &v.crc) == 1)
			have |= 8;
	}
	if ((have & 7) != 7)
		return -EINVAL;
	if ((have & 8) == 0)
		v.crc = 0;
	*p = v;
	return 0;
}

int
file_pos_format(char *buf, size_t len, const char *path,
    const struct file_pos *p)
{
	int n = snprintf(buf, len, "sysmonfwd-position 1\npath %s\n"
	    "dev %" PRIu64 "\nino %" PRIu64 "\noffset %" PRIu64 "\n"
	    "crc %" PRIu32 "\n", path, p->dev, p->ino, p->off, p->crc);

	return n < 0 || (size_t)n >= len ? -1 : n;
}

int
file_pos_ring_parse(const char *text, struct file_pos *p)
{
	struct file_pos v = { 0 };

	if (sscanf(text, "dev %" SCNu64 " ino %" SCNu64 " off %" SCNu64
	    " crc %" SCNu32, &v.dev, &v.ino, &v.off, &v.crc) != 4)
		return -EINVAL;
	*p = v;
	return 0;
}

int
file_pos_ring_format(char *buf, size_t len, const struct file_pos *p)
{
	return snprintf(buf, len, "dev %" PRIu64 " ino %" PRIu64 " off %"
	    PRIu64 " crc %" PRIu32, p->dev, p->ino, p->off, p->crc);
}

/* ---- evtx input ------------------------------------------------------------ */

int
evtx_pos_parse(const char *text, char *name, size_t namelen, uint64_t *id)
{
	const char *sep = NULL, *p;
	char *end;
	size_t n;

	if (strncmp(text, "file ", 5) != 0)
		return -EINVAL;
	for (p = text + 5; (p = strstr(p, " record ")) != NULL; p++)
		sep = p;
	if (sep == NULL)
		return -EINVAL;
	n = (size_t)(sep - (text + 5));
	if (n >= namelen || memchr(text + 5, '/', n) != NULL)
		return -EINVAL;
	p = sep + 8;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	*id = strtoull(p, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	memcpy(name, text + 5, n);
	name[n] = '\0';
	return 0;
}

int
evtx_pos_format(char *buf, size_t len, const char *name, uint64_t id)
{
	return snprintf(buf, len, "file %s record %" PRIu64, name, id);
}

/* ---- journald input ------------------------------------------------------ */

uint64_t
journal_cursor_time(const char *c)
{
	const char *t;

	for (t = c; (t = strstr(t, "t=")) != NULL; t++)
		if (t == c || t[-1] == ';')
			return strtoull(t + 2, NULL, 16);
	return 0;
}
