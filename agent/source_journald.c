/*
 * source_journald.c - placeholder until the journald input lands (issue 8).
 */
#include "agent_int.h"
#include "log.h"

#include <errno.h>

int
source_journald_open(const struct config_input *cfg, const char *state_dir,
    const struct buffer *b, struct source **out)
{
	(void)state_dir;
	(void)b;
	*out = NULL;
	log_errorx("input %s: type journald is not built yet", cfg->name);
	return -ENOTSUP;
}
