/*
 * render_dest.c - one output's wire form: which renderer a ring record
 * goes through, how a record ends, and the envelope of a heartbeat or an
 * alert for each destination (the documents themselves: render_status.c).
 * The agent's loop holds a struct render_target per output and asks no
 * more about destinations.
 */
#include "render.h"

#include <errno.h>
#include <string.h>

int
render_record(struct event_parser *p, const struct render_target *t,
    const struct buffer_rec *rec, struct strbuf *out, struct strbuf *scratch)
{
	switch (t->dest) {
	case RENDER_DEST_HEC:
		return render_hec(p, &t->ctx, &t->hec, rec, out, scratch);
	case RENDER_DEST_ES:
		return render_es(p, &t->ctx, &t->es, rec, out);
	case RENDER_DEST_WAZUH:
		return render_wazuh(p, &t->ctx, &t->wz, rec, out, scratch);
	case RENDER_DEST_WAZUH_AGENT:
		return render_wazuh_agent(p, &t->ctx, rec, out, scratch);
	case RENDER_DEST_FILE:
		break;
	}
	return render_ecs(p, &t->ctx, rec, out);
}

int
render_record_end(const struct render_target *t, struct strbuf *out)
{
	if (t->dest == RENDER_DEST_FILE && strbuf_addc(out, '\n') != 0)
		return -ENOBUFS;
	return 0;
}

/* The namespace of the data streams of an ES output without an index. */
static const char *
es_namespace(const struct render_es_opts *e)
{
	return e->ns != NULL ? e->ns : "default";
}

/* {"time":..,"host":..,"source":..,"sourcetype":..,["index":..,]"event":DOC} */
static int
status_hec(const struct render_hec_opts *h, const struct agent_status *st,
    const char *what, const struct strbuf *doc, struct strbuf *out)
{
	const char *host = h->host != NULL ? h->host : st->host;
	int rc;

	rc = strbuf_addf(out, "{\"time\":%lld.%03d,\"host\":",
	    (long long)(st->now_ms / 1000), (int)(st->now_ms % 1000));
	if (rc == 0)
		rc = json_add_str(out, host, strlen(host));
	if (rc == 0)
		rc = strbuf_addf(out, ",\"source\":\"sysmonfwd\","
		    "\"sourcetype\":\"sysmonfwd:%s\"", what);
	if (rc == 0 && h->index != NULL) {
		rc = strbuf_adds(out, ",\"index\":");
		if (rc == 0)
			rc = json_add_str(out, h->index, strlen(h->index));
	}
	if (rc == 0)
		rc = strbuf_adds(out, ",\"event\":");
	if (rc == 0)
		rc = strbuf_add(out, doc->s, doc->len);
	if (rc == 0)
		rc = strbuf_addc(out, '}');
	return rc;
}

/* The bulk action line {"create":{"_index":..,"_id":..}}, then DOC. */
static int
status_es(const struct render_es_opts *e, const struct agent_status *st,
    const struct status_event *ev, const char *what,
    const struct strbuf *doc, struct strbuf *out)
{
	char id[RENDER_ES_ID_LEN + 1];
	int rc;

	/* A heartbeat is told apart by its number, an alert by the time of
	 * the change it reports. */
	if ((rc = render_es_status_id(st->agent_name, what, st->now_ms,
	    ev->kind != STATUS_HEARTBEAT ? (uint64_t)ev->changed_ms :
	    st->heartbeat_seq, id)) != 0)
		return rc;
	if (e->index != NULL) {
		rc = strbuf_adds(out, "{\"create\":{\"_index\":");
		if (rc == 0)
			rc = json_add_str(out, e->index, strlen(e->index));
	} else
		rc = strbuf_addf(out, "{\"create\":{\"_index\":"
		    "\"logs-sysmonfwd.%s-%s\"", what, es_namespace(e));
	if (rc == 0)
		rc = strbuf_addf(out, ",\"_id\":\"%s\"}}\n", id);
	if (rc == 0)
		rc = strbuf_add(out, doc->s, doc->len);
	if (rc == 0)
		rc = strbuf_addc(out, '\n');
	return rc;
}

int
render_status_for(const struct render_target *t,
    const struct agent_status *st, const struct status_event *ev,
    struct strbuf *out, struct strbuf *scratch)
{
	const char *what = ev->kind != STATUS_HEARTBEAT ? "alert" :
	    "heartbeat";
	struct strbuf *doc = scratch;
	int rc;

	strbuf_reset(doc);
	strbuf_reset(out);
	if (t->dest == RENDER_DEST_WAZUH) {
		/* The flat form, as one JSON string like every Wazuh event. */
		if ((rc = status_render_doc(st, ev, NULL, true, doc)) != 0)
			return rc;
		return json_add_str(out, doc->s, doc->len);
	}
	if (t->dest == RENDER_DEST_WAZUH_AGENT) {
		/* The same flat form, as the payload of one event. */
		if ((rc = status_render_doc(st, ev, NULL, true, doc)) != 0 ||
		    (rc = strbuf_adds(out, RENDER_WAZUH_AGENT_OWN)) != 0)
			return rc;
		return strbuf_add(out, doc->s, doc->len);
	}
	if ((rc = status_render_doc(st, ev, t->dest == RENDER_DEST_ES &&
	    t->es.index == NULL ? es_namespace(&t->es) : NULL, false,
	    doc)) != 0)
		return rc;
	switch (t->dest) {
	case RENDER_DEST_HEC:
		return status_hec(&t->hec, st, what, doc, out);
	case RENDER_DEST_ES:
		return status_es(&t->es, st, ev, what, doc, out);
	case RENDER_DEST_FILE:
	case RENDER_DEST_WAZUH:
	case RENDER_DEST_WAZUH_AGENT:
		break;
	}
	if ((rc = strbuf_add(out, doc->s, doc->len)) == 0)
		rc = strbuf_addc(out, '\n');
	return rc;
}
