/*
 * source_pos.c - the text positions of the sources that keep one (a
 * journal cursor, a file and record number, a bookmark): which one is
 * safe once which ring sequence number is durable, and its file
 * state_dir/positions/NAME.pos.  See source_int.h.
 */
#include "source_int.h"
#include "base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
source_pos_init(struct source *s, struct source_pos *p, const char *state_dir)
{
	char dir[4096];
	FILE *f;
	size_t n;
	int rc;

	memset(p, 0, sizeof(*p));
	s->pos = p;
	p->name = s->name;
	if (snprintf(dir, sizeof(dir), "%s/positions", state_dir) >=
	    (int)sizeof(dir))
		return -ENAMETOOLONG;
	if ((rc = file_mkdirs(dir, 0750)) != 0)
		return rc;
	if (asprintf(&p->path, "%s/%s.pos", dir, p->name) < 0) {
		p->path = NULL;
		return -ENOMEM;
	}
	if ((f = fopen(p->path, "r")) != NULL) {
		n = fread(p->saved, 1, SOURCE_POS_MAX - 1, f);
		fclose(f);
		p->saved[n] = '\0';
		while (n > 0 && (p->saved[n - 1] == '\n' ||
		    p->saved[n - 1] == '\r'))
			p->saved[--n] = '\0';
		memcpy(p->committed, p->saved, n + 1);
	}
	return 0;
}

void
source_pos_note(struct source_pos *p, uint64_t seq, const char *pos)
{
	char *copy;

	if (p->npending > 0 && p->pending[p->npending - 1].seq == seq) {
		if ((copy = strdup(pos)) != NULL) {
			free(p->pending[p->npending - 1].pos);
			p->pending[p->npending - 1].pos = copy;
		}
		return;
	}
	if ((copy = strdup(pos)) == NULL)
		return;		/* the position only lags */
	if (p->npending == sizeof(p->pending) / sizeof(p->pending[0])) {
		/* Forget the oldest: the position only lags a little. */
		free(p->pending[0].pos);
		memmove(p->pending, p->pending + 1, (p->npending - 1) *
		    sizeof(p->pending[0]));
		p->npending--;
	}
	p->pending[p->npending].seq = seq;
	p->pending[p->npending].pos = copy;
	p->npending++;
}

void
source_pos_commit(struct source_pos *p, uint64_t durable_seq, bool force)
{
	size_t i = 0;
	int64_t now = mono_now_ms();
	int rc;

	while (i < p->npending && p->pending[i].seq <= durable_seq) {
		snprintf(p->committed, sizeof(p->committed), "%s",
		    p->pending[i].pos);
		free(p->pending[i].pos);
		i++;
	}
	if (i > 0) {
		memmove(p->pending, p->pending + i, (p->npending - i) *
		    sizeof(p->pending[0]));
		p->npending -= i;
	}
	if (p->path == NULL || strcmp(p->committed, p->saved) == 0 ||
	    (!force && now - p->last_save_ms < 1000))
		return;
	if ((rc = file_write_atomic(p->path, p->committed,
	    strlen(p->committed), 0640, true)) != 0) {
		if (!p->warned)
			log_warnx("input %s: cannot save position to %s: %s "
			    "(a restart would repeat records)", p->name, p->path,
			    strerror(-rc));
		p->warned = true;
		return;
	}
	p->warned = false;
	memcpy(p->saved, p->committed, sizeof(p->saved));
	p->last_save_ms = now;
}

void
source_pos_free(struct source_pos *p)
{
	for (size_t i = 0; i < p->npending; i++)
		free(p->pending[i].pos);
	p->npending = 0;
	free(p->path);
	p->path = NULL;
}
