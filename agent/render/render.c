/*
 * render.c - the Winlogbeat-compatible JSON document of a record.
 *
 * The shape is the one Elastic's Windows and Sysmon for Linux integrations
 * expect from Elastic Agent's decode_xml_wineventlog processor (their
 * ingest pipelines do not parse XML; ../shared/docs/PROTOCOLS.md section
 * 1.7):
 *
 *   {"@timestamp": TimeCreated in RFC 3339 UTC, millisecond precision,
 *    "event": {"kind": "event", "code": EventID, "provider": ...},
 *    "host": {"name": Computer},
 *    "agent": {"type": "sysmonfwd", "name": ..., "version": ...},
 *    "winlog": {"channel", "provider_name", "provider_guid", "event_id",
 *               "record_id", "computer_name", "version", "level", "task",
 *               "opcode", "keywords", "time_created",
 *               "process": {"pid", "thread": {"id"}},
 *               "user": {"identifier"}, "event_data": {Data Name: value}}}
 *
 * event_id and record_id are strings, version and the process ids numbers,
 * as in Winlogbeat.  event_data keys are the Data Names verbatim and every
 * value a string exactly as the record holds it.  A record that does not
 * parse becomes {"event": {"kind": "pipeline_error"}, "message": raw text,
 * "tags": ["sysmonfwd_parse_error"], "error": {"message": why}}.
 */
#include "render_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#define TAG_PARSE_ERROR	"sysmonfwd_parse_error"
#define TAG_TRUNCATED	"sysmonfwd_truncated"
#define TAG_TAMPER	"sysmon_tamper"

static bool
is_uint(const char *s)
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; s[n] != '\0'; n++)
		if (s[n] < '0' || s[n] > '9')
			return false;
	return n <= 18 && (s[0] != '0' || n == 1);
}

/* A number when it is one, else the text: the document keeps the value. */
static void
kv_num(struct jw *o, bool *first, const char *key, const char *value)
{
	if (!is_uint(value)) {
		jw_kv(o, first, key, value);
		return;
	}
	jw_key(o, first, key);
	jw_raw(o, value);
}

static const char *
level_name(const char *level)
{
	static const char *const names[] = { "information", "critical",
	    "error", "warning", "information", "verbose" };

	if (level != NULL && level[0] >= '0' && level[0] <= '5' &&
	    level[1] == '\0')
		return names[level[0] - '0'];
	return level;
}

static const char *
opcode_name(const char *op)
{
	static const char *const names[] = { "Info", "Start", "Stop" };

	if (op != NULL && op[0] >= '0' && op[0] <= '2' && op[1] == '\0')
		return names[op[0] - '0'];
	return op;
}

bool
sysmon_tamper_id(const char *channel, long event_id)
{
	if (channel == NULL || (strcasecmp(channel,
	    "Microsoft-Windows-Sysmon/Operational") != 0 &&
	    strcmp(channel, "Linux-Sysmon/Operational") != 0))
		return false;
	return event_id == 4 || event_id == 16 || event_id == 255;
}

bool
event_is_tamper(const struct sysmon_event *ev)
{
	char *end;
	long id;

	if (ev->event_id == NULL)
		return false;
	id = strtol(ev->event_id, &end, 10);
	return *end == '\0' && end != ev->event_id &&
	    sysmon_tamper_id(ev->channel, id);
}

void
render_untag(const struct buffer_rec *in, struct rec_view *v)
{
	v->rec = *in;
	v->tags.n = 0;
	if (!(in->flags & BUFFER_REC_GAP) && in->data != NULL)
		v->rec.len = event_rec_decode(in->data, in->len, &v->tags);
}

/*
 * ,"tags":[...] when there is any: sysmonfwd_parse_error, then
 * sysmonfwd_truncated, sysmon_tamper and the record's own tags ([tag]
 * rules, redaction), each once.
 */
static void
doc_tags(struct jw *o, bool parse_error, bool cut, bool tamper,
    const struct event_tags *t)
{
	bool first = true;

	if (!parse_error && !cut && !tamper && (t == NULL || t->n == 0))
		return;
	jw_raw(o, ",\"tags\":[");
	if (parse_error) {
		jw_comma(o, &first);
		jw_raw(o, "\"" TAG_PARSE_ERROR "\"");
	}
	if (cut) {
		jw_comma(o, &first);
		jw_raw(o, "\"" TAG_TRUNCATED "\"");
	}
	if (tamper) {
		jw_comma(o, &first);
		jw_raw(o, "\"" TAG_TAMPER "\"");
	}
	for (size_t i = 0; t != NULL && i < t->n; i++) {
		if ((parse_error && strcmp(t->v[i], TAG_PARSE_ERROR) == 0) ||
		    (cut && strcmp(t->v[i], TAG_TRUNCATED) == 0) ||
		    (tamper && strcmp(t->v[i], TAG_TAMPER) == 0))
			continue;
		jw_comma(o, &first);
		jw_str(o, t->v[i]);
	}
	jw_raw(o, "]");
}

/* A parse error of a record cut at the input says so: that is often why. */
static void
why_cut(char *why, size_t len, const struct buffer_rec *rec)
{
	size_t n = strlen(why);

	if (rec->flags & BUFFER_REC_TRUNCATED)
		snprintf(why + n, len - n, " (the record was cut at the "
		    "input's max_line_size: %zu bytes kept)", rec->len);
}

/* The data stream a document is written to, named in the document. */
struct ds {
	const char	*dataset;
	const char	*ns;
};

/* {"@timestamp":..,"event":{"kind":"KIND" (the event object left open) */
static void
doc_open(struct jw *o, int64_t ms, const char *kind)
{
	jw_raw(o, "{\"@timestamp\":");
	jw_time(o, ms);
	jw_raw(o, ",\"event\":{\"kind\":\"");
	jw_raw(o, kind);
	jw_raw(o, "\"");
}

/*
 * Close the event object (with event.original, the raw record, when rec is
 * given and the output keeps it), then write "host", "agent" and, for a
 * data stream, "data_stream".
 */
static void
doc_origin(struct jw *o, const struct render_ctx *ctx,
    const struct buffer_rec *rec, const char *host, const struct ds *ds)
{
	if (rec != NULL && ctx->keep_original) {
		jw_raw(o, ",\"original\":");
		jw_strn(o, rec->data, rec->len);
	}
	jw_raw(o, "},\"host\":{\"name\":");
	jw_str(o, host);
	jw_raw(o, "},\"agent\":{\"type\":\"sysmonfwd\",\"name\":");
	jw_str(o, ctx->agent_name);
	jw_raw(o, ",\"version\":\"" SYSMONFWD_VERSION "\"}");
	if (ds == NULL)
		return;
	jw_raw(o, ",\"data_stream\":{\"type\":\"logs\",\"dataset\":");
	jw_str(o, ds->dataset);
	jw_raw(o, ",\"namespace\":");
	jw_str(o, ds->ns);
	jw_raw(o, "}");
}

/* FNV-1a of a Data name: a cheap first test before strcmp(). */
static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

#define DUP_HASHED	64	/* names compared by hash first */

static void
event_data(struct jw *o, const struct sysmon_event *ev, bool first)
{
	uint32_t hash[DUP_HASHED];

	jw_comma(o, &first);
	jw_raw(o, ev->user_data ? "\"user_data\":{" : "\"event_data\":{");
	first = true;
	for (size_t i = 0; i < ev->ndata; i++) {
		const char *name = ev->data[i].name;
		unsigned dup = 1;

		/* Every earlier name is compared: ~20 per Sysmon event, so
		 * the hashes spare ~190 strcmp() calls an event. */
		if (i < DUP_HASHED) {
			hash[i] = name_hash(name);
			for (size_t j = 0; j < i; j++)
				if (hash[j] == hash[i] &&
				    strcmp(ev->data[j].name, name) == 0)
					dup++;
		} else {
			for (size_t j = 0; j < i; j++)
				if (strcmp(ev->data[j].name, name) == 0)
					dup++;
		}
		if (dup == 1) {
			jw_key(o, &first, name);
		} else {
			/* A repeated name must not make two equal keys. */
			struct strbuf key = { 0 };
			if (strbuf_addf(&key, "%s_%u", name, dup) == 0)
				jw_key(o, &first, key.s);
			else
				o->rc = -ENOMEM;
			strbuf_free(&key);
		}
		jw_str(o, ev->data[i].value);
	}
	jw_raw(o, "}");
}

/* The members of "winlog" (no braces). */
static void
winlog(struct jw *o, const struct sysmon_event *ev)
{
	bool first = true;

	jw_kv(o, &first, "channel", ev->channel);
	jw_kv(o, &first, "provider_name", ev->provider_name);
	jw_kv(o, &first, "provider_guid", ev->provider_guid);
	jw_kv(o, &first, "event_id", ev->event_id);
	jw_kv(o, &first, "record_id", ev->record_id);
	jw_kv(o, &first, "computer_name", ev->computer);
	kv_num(o, &first, "version", ev->version);
	jw_kv(o, &first, "level", level_name(ev->level));
	jw_kv(o, &first, "task", ev->task);
	jw_kv(o, &first, "opcode", opcode_name(ev->opcode));
	jw_kv(o, &first, "keywords", ev->keywords);
	jw_kv(o, &first, "time_created", ev->time_created);
	jw_kv(o, &first, "activity_id", ev->activity_id);
	jw_kv(o, &first, "related_activity_id", ev->related_activity_id);
	if (ev->pid != NULL || ev->tid != NULL) {
		bool pf = true;

		jw_key(o, &first, "process");
		jw_raw(o, "{");
		kv_num(o, &pf, "pid", ev->pid);
		if (ev->tid != NULL) {
			jw_key(o, &pf, "thread");
			jw_raw(o, "{");
			pf = true;
			kv_num(o, &pf, "id", ev->tid);
			jw_raw(o, "}");
		}
		jw_raw(o, "}");
	}
	if (ev->user_id != NULL) {
		jw_key(o, &first, "user");
		jw_raw(o, "{\"identifier\":");
		jw_str(o, ev->user_id);
		jw_raw(o, "}");
	}
	if (ev->ndata > 0)
		event_data(o, ev, first);
}

static int
render_event(const struct render_ctx *ctx, const struct buffer_rec *rec,
    const struct event_tags *tags, const struct sysmon_event *ev,
    const struct ds *ds, struct strbuf *sb)
{
	struct jw o = { sb, 0 };
	bool cut = rec->flags & BUFFER_REC_TRUNCATED;
	bool tamper = event_is_tamper(ev);
	bool first = false;	/* every object here has a member already */
	int64_t ms;

	if (ev->time_created == NULL ||
	    time_parse_rfc3339_ms(ev->time_created, &ms) != 0)
		ms = rec->time_ms;
	doc_open(&o, ms, "event");
	jw_kv(&o, &first, "code", ev->event_id);
	jw_kv(&o, &first, "provider", ev->provider_name);
	if (ds != NULL)
		jw_kv(&o, &first, "dataset", ds->dataset);
	doc_origin(&o, ctx, rec, ev->computer != NULL ? ev->computer :
	    ctx->host_name, ds);
	jw_raw(&o, ",\"winlog\":{");
	winlog(&o, ev);
	jw_raw(&o, "}");
	jw_kv(&o, &first, "message", ev->message);
	doc_tags(&o, false, cut, tamper, tags);
	jw_raw(&o, "}");
	return o.rc;
}

static int
render_error(const struct render_ctx *ctx, const struct buffer_rec *rec,
    const struct event_tags *tags, const char *why, const struct ds *ds,
    struct strbuf *sb)
{
	struct jw o = { sb, 0 };
	bool first = false;

	doc_open(&o, rec->time_ms, "pipeline_error");
	if (ds != NULL)
		jw_kv(&o, &first, "dataset", ds->dataset);
	doc_origin(&o, ctx, rec, ctx->host_name, ds);
	jw_raw(&o, ",\"message\":");
	jw_strn(&o, rec->data, rec->len);
	doc_tags(&o, true, rec->flags & BUFFER_REC_TRUNCATED, false, tags);
	jw_raw(&o, ",\"error\":{\"message\":");
	jw_str(&o, why);
	jw_raw(&o, "},\"labels\":{\"sysmonfwd_input\":");
	jw_str(&o, rec->source);
	jw_raw(&o, "}}");
	return o.rc;
}

/* Append n bytes of s, escaped, to a JSON string already open in o. */
static void
str_inside(struct jw *o, const char *s, size_t n)
{
	struct strbuf tmp = { 0 };

	if (o->rc != 0)
		return;
	if (json_add_str(&tmp, s, n) == 0)
		o->rc = strbuf_add(o->sb, tmp.s + 1, tmp.len - 1);
	else
		o->rc = -ENOMEM;
	strbuf_free(&tmp);
}

static int
render_gap(const struct render_ctx *ctx, const struct buffer_rec *rec,
    const struct ds *ds, struct strbuf *sb)
{
	struct jw o = { sb, 0 };
	bool first = true;

	doc_open(&o, time_now_ms(), "event");
	jw_raw(&o, ",\"action\":\"records-dropped\",\"dataset\":"
	    "\"sysmonfwd.gap\"");
	doc_origin(&o, ctx, NULL, ctx->host_name, ds);
	if (rec->gap_count == 0)
		jw_raw(&o, ",\"message\":\"sysmonfwd: records lost at the "
		    "input (how many is not known): ");
	else
		jw_fmt(&o, ",\"message\":\"sysmonfwd: %" PRIu64 " records "
		    "lost before this output received them: ", rec->gap_count);
	str_inside(&o, rec->data, rec->len);
	jw_raw(&o, ",\"tags\":[\"sysmonfwd_gap\"],\"sysmonfwd\":{\"gap\":{");
	jw_fmt(&o, "\"records\":%" PRIu64 ",\"first_seq\":%" PRIu64
	    ",\"last_seq\":%" PRIu64, rec->gap_count, rec->gap_first,
	    rec->seq);
	jw_raw(&o, ",\"sources\":[");
	for (const char *p = rec->source; p != NULL && *p != '\0';) {
		size_t k = strcspn(p, ",");

		jw_comma(&o, &first);
		jw_strn(&o, p, k);
		p += k + (p[k] == ',');
	}
	jw_raw(&o, "]");
	first = false;
	if (rec->time_ms > 0) {
		jw_key(&o, &first, "first_time");
		jw_time(&o, rec->time_ms);
	}
	if (rec->gap_last_ms > 0) {
		jw_key(&o, &first, "last_time");
		jw_time(&o, rec->gap_last_ms);
	}
	jw_raw(&o, ",\"reason\":");
	jw_strn(&o, rec->data, rec->len);
	jw_raw(&o, "}}}");
	return o.rc;
}

int
render_ecs(struct event_parser *p, const struct render_ctx *ctx,
    const struct buffer_rec *rec, struct strbuf *out)
{
	struct rec_view v;

	render_untag(rec, &v);
	return render_ecs_view(p, ctx, &v, out);
}

int
render_ecs_view(struct event_parser *p, const struct render_ctx *ctx,
    const struct rec_view *v, struct strbuf *out)
{
	const struct buffer_rec *rec = &v->rec;
	struct sysmon_event ev;
	char why[320];
	size_t mark = out->len;
	int rc, res;

	if (rec->flags & BUFFER_REC_GAP) {
		rc = render_gap(ctx, rec, NULL, out);
		res = RENDER_GAP;
	} else if ((rc = event_parse(p, rec->data, rec->len, &ev, why,
	    sizeof(why))) == 0) {
		rc = render_event(ctx, rec, &v->tags, &ev, NULL, out);
		res = RENDER_OK;
	} else if (rc == -ENOMEM) {
		return rc;	/* not a parse error: try again */
	} else {
		why_cut(why, sizeof(why), rec);
		rc = render_error(ctx, rec, &v->tags, why, NULL, out);
		res = RENDER_PARSE_ERROR;
	}
	if (rc != 0) {
		strbuf_truncate(out, mark);
		return rc;
	}
	return res;
}

/* ---- Splunk HEC ------------------------------------------------------- */

/* {"time":..,"host":..,"source":..,"sourcetype":..[,"index":..],"event": */
static void
hec_head(struct jw *o, int64_t ms, const char *host, const char *source,
    const char *sourcetype, const struct render_hec_opts *h)
{
	bool first = false;

	jw_fmt(o, "{\"time\":%lld.%03d,\"host\":",
	    (long long)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000),
	    (int)(ms >= 0 ? ms % 1000 : (1000 + ms % 1000) % 1000));
	jw_str(o, h->host != NULL ? h->host : host);
	jw_kv(o, &first, "source", h->source != NULL ? h->source : source);
	jw_kv(o, &first, "sourcetype", h->sourcetype != NULL ? h->sourcetype :
	    sourcetype);
	jw_kv(o, &first, "index", h->index);
	jw_raw(o, ",\"event\":");
}

/* The source and sourcetype of a record sent as its XML. */
static const char *
hec_xml_source(bool linux_sysmon, const char *channel, char *source,
    size_t len)
{
	snprintf(source, len, "%s%s", linux_sysmon ? "Syslog:" :
	    "XmlWinEventLog:", channel != NULL ? channel : "");
	return linux_sysmon ? "sysmon:linux" : "XmlWinEventLog";
}

/*
 * ,"fields":{"sysmonfwd_tags":...} for a tagged record: sysmon_tamper
 * and the record's own tags, a string for one tag (as before there were
 * others), an array of strings (a multi-value indexed field) for more.
 */
static void
hec_fields(struct jw *o, bool tamper, const struct event_tags *t)
{
	size_t n = (tamper ? 1 : 0);
	bool first = true;

	for (size_t i = 0; t != NULL && i < t->n; i++)
		if (!tamper || strcmp(t->v[i], TAG_TAMPER) != 0)
			n++;
	if (n == 0)
		return;
	jw_raw(o, ",\"fields\":{\"sysmonfwd_tags\":");
	if (n > 1)
		jw_raw(o, "[");
	if (tamper) {
		jw_comma(o, &first);
		jw_raw(o, "\"" TAG_TAMPER "\"");
	}
	for (size_t i = 0; t != NULL && i < t->n; i++) {
		if (tamper && strcmp(t->v[i], TAG_TAMPER) == 0)
			continue;
		jw_comma(o, &first);
		jw_str(o, t->v[i]);
	}
	jw_raw(o, n > 1 ? "]}" : "}");
}

/* The XML (n bytes) as the event, with the record's tags as a field. */
static void
hec_xml_event(struct jw *o, const char *xml, size_t n, bool tamper,
    const struct event_tags *t)
{
	jw_strn(o, xml, n);
	hec_fields(o, tamper, t);
	jw_raw(o, "}");
}

/*
 * The event for a record the quick look refused, or for any record with
 * format = json: doc is its render_ecs() document, res what that said.
 */
static void
hec_from_doc(struct jw *o, struct event_parser *p,
    const struct render_ctx *ctx, const struct render_hec_opts *h,
    const struct rec_view *v, int res, const struct strbuf *doc)
{
	const struct buffer_rec *rec = &v->rec;
	struct sysmon_event ev;
	char why[64], source[300];
	int64_t ms = rec->time_ms;
	const char *host = ctx->host_name, *st, *src;
	int rc;

	if (res == RENDER_GAP) {
		ms = time_now_ms();
		st = "sysmonfwd:gap";
		src = "sysmonfwd";
	} else if (res == RENDER_PARSE_ERROR) {
		st = "sysmonfwd:error";
		src = "sysmonfwd";
	} else if ((rc = event_parse(p, rec->data, rec->len, &ev, why,
	    sizeof(why))) == -ENOMEM) {
		o->rc = rc;	/* not a parse error: try again */
		return;
	} else if (rc == 0) {
		if (ev.time_created != NULL)
			(void)time_parse_rfc3339_ms(ev.time_created, &ms);
		if (ev.computer != NULL)
			host = ev.computer;
		st = hec_xml_source(ev.linux_sysmon, ev.channel, source,
		    sizeof(source));
		src = source;
		if (!h->json) {
			/* A whole record the quick look refused. */
			hec_head(o, ms, host, src, st, h);
			hec_xml_event(o, rec->data + ev.prefix_len, rec->len -
			    ev.prefix_len, event_is_tamper(&ev), &v->tags);
			return;
		}
		/* format = json: the document has the tags; a record with
		 * tags of its own has the indexed field too, so that one
		 * search finds them in both formats. */
		hec_head(o, ms, host, src, st, h);
		jw_rawn(o, doc->s, doc->len);
		hec_fields(o, v->tags.n > 0 && event_is_tamper(&ev),
		    &v->tags);
		jw_raw(o, "}");
		return;
	} else {
		st = "sysmonfwd:error";
		src = "sysmonfwd";
	}
	hec_head(o, ms, host, src, st, h);
	jw_rawn(o, doc->s, doc->len);
	hec_fields(o, false, &v->tags);	/* a record's own (redaction) */
	jw_raw(o, "}");
}

int
render_hec(struct event_parser *p, const struct render_ctx *ctx,
    const struct render_hec_opts *h, const struct buffer_rec *rec,
    struct strbuf *sb, struct strbuf *scratch)
{
	struct jw o = { sb, 0 };
	size_t mark = sb->len;
	struct event_peek pk;
	struct rec_view v;
	char source[300];
	const char *st;
	int res = RENDER_OK;

	render_untag(rec, &v);
	rec = &v.rec;
	if (!h->json && !(rec->flags & BUFFER_REC_GAP) &&
	    !(rec->flags & BUFFER_REC_TRUNCATED) &&
	    event_peek(rec->data, rec->len, &pk) == 0 && pk.has_time) {
		st = hec_xml_source(pk.linux_sysmon, pk.channel, source,
		    sizeof(source));
		hec_head(&o, pk.time_ms, pk.computer, source, st, h);
		hec_xml_event(&o, rec->data + pk.start, pk.end - pk.start,
		    sysmon_tamper_id(pk.channel, pk.event_id), &v.tags);
	} else {
		/* The document first; its fields give the envelope. */
		strbuf_reset(scratch);
		if ((res = render_ecs_view(p, ctx, &v, scratch)) < 0)
			return res;
		hec_from_doc(&o, p, ctx, h, &v, res, scratch);
	}
	if (o.rc != 0) {
		strbuf_truncate(sb, mark);
		return o.rc;
	}
	return res;
}

/* ---- Elasticsearch bulk ----------------------------------------------- */

/* Feed one length-prefixed field, so that no two field lists collide. */
static int
id_field(EVP_MD_CTX *md, const char *s, size_t n)
{
	char len[24], *q = len + sizeof(len);
	size_t v = n;

	/* "%zu:" without snprintf(): five of these per document. */
	*--q = ':';
	do
		*--q = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return EVP_DigestUpdate(md, q, (size_t)(len + sizeof(len) - q)) == 1 &&
	    EVP_DigestUpdate(md, s, n) == 1 ? 0 : -EIO;
}

/*
 * A SHA-256 context ready for a new digest.  The method is fetched once and
 * the context kept for the process (the agent is one thread): with
 * EVP_sha256() OpenSSL 3 looks the algorithm up again in every
 * EVP_DigestInit_ex(), and a context was allocated per document.
 * -ENOMEM when one of the two cannot be had (the next call tries again).
 */
static int
sha256_begin(EVP_MD_CTX **out)
{
	static EVP_MD *sha256;
	static EVP_MD_CTX *md;

	if (sha256 == NULL &&
	    (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return -ENOMEM;
	if (md == NULL && (md = EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	if (EVP_DigestInit_ex2(md, sha256, NULL) != 1)
		return -EIO;
	*out = md;
	return 0;
}

int
render_es_id(const struct sysmon_event *ev, const struct buffer_rec *rec,
    const char *agent_name, char out[RENDER_ES_ID_LEN + 1])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *md;
	char num[64];
	int rc;

	if ((rc = sha256_begin(&md)) != 0)
		return rc;
#define F(s, n)	do { if (rc == 0) rc = id_field(md, (s), (n)); } while (0)
#define FS(s)	F((s) != NULL ? (s) : "", (s) != NULL ? strlen(s) : 0)
	if (ev != NULL && ev->record_id != NULL && ev->record_id[0] != '\0') {
		/* The record's identity.  TimeCreated is part of it because
		 * record ids start again at 1: when the log is cleared, and
		 * at every start of Sysmon for Linux. */
		F("r1", 2);
		FS(ev->computer);
		FS(ev->channel);
		FS(ev->record_id);
		FS(ev->time_created);
	} else if (rec->flags & BUFFER_REC_GAP) {
		F("g1", 2);
		FS(agent_name);
		snprintf(num, sizeof(num), "%" PRIu64 "-%" PRIu64,
		    rec->gap_first, rec->seq);
		FS(num);
	} else {
		/* No record id: the raw record, where it came from and its
		 * place in the ring, so that two equal lines stay two. */
		F("h1", 2);
		FS(agent_name);
		FS(rec->source);
		snprintf(num, sizeof(num), "%" PRIu64, rec->seq);
		FS(num);
		F(rec->data, rec->len);
	}
#undef F
#undef FS
	if (rc == 0 && EVP_DigestFinal_ex(md, d, &dlen) != 1)
		rc = -EIO;
	if (rc != 0)
		return rc;
	/* 144 bits, 24 characters: collisions are out of reach. */
	base64_encode(d, RENDER_ES_ID_LEN / 4 * 3, out, true);
	return 0;
}

int
render_es_status_id(const char *agent_name, const char *kind, int64_t ms,
    uint64_t n, char out[RENDER_ES_ID_LEN + 1])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char num[64];
	EVP_MD_CTX *md;
	int rc;

	if ((rc = sha256_begin(&md)) != 0)
		return rc;
	snprintf(num, sizeof(num), "%lld/%" PRIu64, (long long)ms, n);
	rc = id_field(md, "s1", 2) == 0 &&
	    id_field(md, agent_name, strlen(agent_name)) == 0 &&
	    id_field(md, kind, strlen(kind)) == 0 &&
	    id_field(md, num, strlen(num)) == 0 &&
	    EVP_DigestFinal_ex(md, d, &dlen) == 1 ? 0 : -EIO;
	if (rc == 0)
		base64_encode(d, RENDER_ES_ID_LEN / 4 * 3, out, true);
	return rc;
}

static void
action_line(struct jw *o, const char *index, const struct ds *ds,
    const char *id)
{
	char name[384];

	jw_raw(o, "{\"create\":{\"_index\":");
	if (index == NULL) {
		/* "logs-%s-%.200s" without snprintf(): one per document. */
		size_t dl = strnlen(ds->dataset, sizeof(name) - 207);
		size_t nl = strnlen(ds->ns, 200);

		memcpy(name, "logs-", 5);
		memcpy(name + 5, ds->dataset, dl);
		name[5 + dl] = '-';
		memcpy(name + 6 + dl, ds->ns, nl);
		name[6 + dl + nl] = '\0';
		index = name;
	}
	jw_str(o, index);
	jw_raw(o, ",\"_id\":\"");
	jw_raw(o, id);
	jw_raw(o, "\"}}\n");
}

int
render_es(struct event_parser *p, const struct render_ctx *ctx,
    const struct render_es_opts *e, const struct buffer_rec *rec,
    struct strbuf *sb)
{
	struct jw o = { sb, 0 };
	struct sysmon_event ev;
	struct ds dsv, *ds = e->index != NULL ? NULL : &dsv;
	char why[320], id[RENDER_ES_ID_LEN + 1];
	size_t mark = sb->len;
	bool parsed = false;
	struct rec_view v;
	int rc, res;

	render_untag(rec, &v);
	rec = &v.rec;
	dsv.ns = e->ns != NULL ? e->ns : "default";
	if (rec->flags & BUFFER_REC_GAP) {
		dsv.dataset = "sysmonfwd.gap";
		res = RENDER_GAP;
	} else if ((rc = event_parse(p, rec->data, rec->len, &ev, why,
	    sizeof(why))) == -ENOMEM) {
		return rc;	/* not a parse error: try again */
	} else if (rc == 0) {
		parsed = true;
		if (ev.linux_sysmon)
			dsv.dataset = "sysmon_linux.log";
		else if (ev.channel != NULL && strcasecmp(ev.channel,
		    "Microsoft-Windows-Sysmon/Operational") == 0)
			dsv.dataset = "windows.sysmon_operational";
		else
			dsv.dataset = "windows.forwarded";
		res = RENDER_OK;
	} else {
		dsv.dataset = "sysmonfwd.error";
		res = RENDER_PARSE_ERROR;
		why_cut(why, sizeof(why), rec);
	}
	if ((rc = render_es_id(parsed ? &ev : NULL, rec, ctx->agent_name,
	    id)) != 0)
		return rc;
	action_line(&o, e->index, &dsv, id);
	if (o.rc == 0) {
		if (res == RENDER_GAP)
			o.rc = render_gap(ctx, rec, ds, sb);
		else if (res == RENDER_OK)
			o.rc = render_event(ctx, rec, &v.tags, &ev, ds, sb);
		else
			o.rc = render_error(ctx, rec, &v.tags, why, ds, sb);
	}
	jw_raw(&o, "\n");
	if (o.rc != 0) {
		strbuf_truncate(sb, mark);
		return o.rc;
	}
	return res;
}
