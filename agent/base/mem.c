/*
 * mem.c - growing arrays, the same on every system (sys.c and sys_win.c
 * hold what differs).
 */
#include "base.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
mem_grow(void *pp, size_t *cap, size_t need, size_t size)
{
	void *old, *n;
	size_t want = *cap * 2 > need ? *cap * 2 : need;

	if (need <= *cap)
		return 0;
	if (size != 0 && want > SIZE_MAX / size)
		return -ENOMEM;
	/* Through memcpy: *pp is a T *, not a void *. */
	memcpy(&old, pp, sizeof(old));
	if ((n = realloc(old, want * size)) == NULL)
		return -ENOMEM;
	memcpy(pp, &n, sizeof(n));
	*cap = want;
	return 0;
}
