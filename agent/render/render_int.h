/*
 * render_int.h - what the renderers of this folder share and nothing
 * outside it sees: a ring record split into its raw bytes and the tags
 * that travel with it (event_rec_decode(), event.h), split once at each
 * public entry point, so no renderer ever shows the tag trailer.
 */
#ifndef SYSMONFWD_RENDER_INT_H
#define SYSMONFWD_RENDER_INT_H

#include "render.h"

/* A ring record seen by a renderer: rec.data/rec.len are the raw part. */
struct rec_view {
	struct buffer_rec	 rec;
	struct event_tags	 tags;
};

/* Split in (not a gap) into v; a gap is copied as it is. */
void	render_untag(const struct buffer_rec *in, struct rec_view *v);

/* render_ecs() of a record already split. */
int	render_ecs_view(struct event_parser *p, const struct render_ctx *ctx,
	    const struct rec_view *v, struct strbuf *out);

#endif
