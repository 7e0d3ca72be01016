/*
 * dynlib.c - libraries loaded on first use (POSIX builds only).
 *
 * libsystemd serves the journald input and the watchdog's question to
 * systemd, libevtx the evtx input.  Linked at build time they were mapped
 * into every process, with the compressors and libgcrypt libsystemd pulls
 * in (about 1.3 MiB of resident memory at idle), though most
 * configurations use neither.  So their users open them with dlopen()
 * when they first need them and call them through a table of function
 * pointers (see source_journald.c for the pattern).  A library once
 * loaded stays loaded: its functions are held for the life of the
 * process, and unloading libsystemd (threads, atexit handlers) is not
 * safe anyway.  The headers still come from the -dev packages; only the
 * link is gone.
 *
 * The tables are the one kind of mutable global outside the log: what a
 * shared library exports is per process by nature.  They are written
 * once, by the single-threaded event loop, before any call through them.
 */
#include "base.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int
dynlib_load(struct dynlib *dl, char *why, size_t len)
{
	void *h, *fn;
	const char *e;

	if (dl->loaded)
		return 0;
	/* RTLD_LOCAL: nothing of it is there for the next library's
	 * symbol lookup; RTLD_NOW: a function it lacks fails here. */
	if ((h = dlopen(dl->soname, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		snprintf(why, len, "%s, which cannot be loaded (%s): install "
		    "the Debian package %s", dl->soname, e != NULL ? e : "?",
		    dl->package);
		return -ELIBACC;
	}
	for (size_t i = 0; i < dl->nsyms; i++) {
		(void)dlerror();
		if ((fn = dlsym(h, dl->syms[i].name)) == NULL) {
			snprintf(why, len, "%s, whose copy here has no "
			    "function %s: install the Debian package %s this "
			    "build was made for", dl->soname, dl->syms[i].name,
			    dl->package);
			dlclose(h);
			return -ELIBACC;
		}
		/* A function pointer is stored through its bytes: POSIX
		 * makes it the size of a void * (dlsym() depends on it). */
		memcpy((char *)dl->tab + dl->syms[i].off, &fn, sizeof(fn));
	}
	dl->loaded = true;
	return 0;
}
