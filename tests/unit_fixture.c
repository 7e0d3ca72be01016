/*
 * unit_fixture.c - the fixture of the sources' unit tests; see
 * unit_fixture.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit_fixture.h"

struct fixture *
fx_new(const char *prefix, uint64_t max_line)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/%s-XXXXXX", prefix);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->logs, sizeof(f->logs), "%s/logs", f->dir);
	assert_int_equal(mkdir(f->logs, 0700), 0);
	snprintf(f->pattern, sizeof(f->pattern), "%s/sysmon*.log", f->logs);
	snprintf(f->path, sizeof(f->path), "%s/in.log", f->dir);
	snprintf(f->in.name, sizeof(f->in.name), "t");
	f->in.type = CONFIG_INPUT_FILE;
	f->in.path = f->path;
	f->in.follow = false;
	f->in.max_line_size = max_line;
	f->in.poll_interval_ms = 10;
	fx_open_buffer(f);
	return f;
}

void
fx_open_buffer(struct fixture *f)
{
	struct buffer_opts bo;
	char bdir[96];

	snprintf(bdir, sizeof(bdir), "%s/buffer", f->dir);
	buffer_opts_default(&bo);
	bo.dir = bdir;
	bo.fsync = BUFFER_FSYNC_NEVER;
	assert_int_equal(buffer_open(&bo, &f->buf), 0);
	assert_int_equal(buffer_cursor_open(f->buf, "o", &f->cur), 0);
}

void
fx_free(struct fixture *f)
{
	char cmd[128];

	buffer_close(f->buf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
}

void
write_file(const char *path, const char *text, const char *mode)
{
	FILE *fp = fopen(path, mode);

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

size_t
collect(struct fixture *f, char *out, size_t len)
{
	struct buffer_rec r[64];
	size_t n, total = 0, used = 0;

	out[0] = '\0';
	while ((n = buffer_read(f->cur, r, 64, 1 << 20)) > 0) {
		for (size_t i = 0; i < n; i++) {
			int w = snprintf(out + used, len - used, "%.*s%s|",
			    (int)r[i].len, r[i].data,
			    r[i].flags & BUFFER_REC_TRUNCATED ? "!" : "");
			assert_true(w >= 0 && (size_t)w < len - used);
			used += (size_t)w;
		}
		assert_int_equal(buffer_ack(f->cur, r[n - 1].seq), 0);
		total += n;
	}
	return total;
}

void
wait_poll(struct source *s, struct buffer *b)
{
	usleep(20 * 1000);
	assert_true(source_poll(s, b, 1 << 20) >= 0);
	assert_true(source_poll(s, b, 1 << 20) >= 0);
}
