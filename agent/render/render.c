/*
 * render.c - the Winlogbeat-compatible JSON document of a record.
 *
 * The shape is the one Elastic's Windows and Sysmon for Linux integrations
 * expect from Elastic Agent's decode_xml_wineventlog processor (their
 * ingest pipelines do not parse XML; PROTOCOLS.md section 1.7):
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
#include "render.h"

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

/* Chain appends; the first failure sticks in rc. */
struct out {
	struct strbuf	*sb;
	int		 rc;
};

static void
raw(struct out *o, const char *s)
{
	if (o->rc == 0)
		o->rc = strbuf_adds(o->sb, s);
}

static void
str(struct out *o, const char *s)
{
	if (o->rc == 0)
		o->rc = json_add_str(o->sb, s, strlen(s));
}

/* ,"key":"value" (skipped when value is NULL); first: no comma. */
static void
kv(struct out *o, bool *first, const char *key, const char *value)
{
	if (value == NULL)
		return;
	raw(o, *first ? "\"" : ",\"");
	raw(o, key);
	raw(o, "\":");
	str(o, value);
	*first = false;
}

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
kv_num(struct out *o, bool *first, const char *key, const char *value)
{
	if (value == NULL)
		return;
	if (!is_uint(value)) {
		kv(o, first, key, value);
		return;
	}
	raw(o, *first ? "\"" : ",\"");
	raw(o, key);
	raw(o, "\":");
	raw(o, value);
	*first = false;
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

static void
agent_obj(struct out *o, const struct render_ctx *ctx)
{
	raw(o, ",\"agent\":{\"type\":\"sysmonfwd\",\"name\":");
	str(o, ctx->agent_name);
	raw(o, ",\"version\":\"" SYSMONFWD_VERSION "\"}");
}

static void
original(struct out *o, const struct buffer_rec *rec)
{
	raw(o, ",\"original\":");
	if (o->rc == 0)
		o->rc = json_add_str(o->sb, rec->data, rec->len);
}

static void
event_data(struct out *o, const struct sysmon_event *ev, bool first)
{
	if (!first)
		raw(o, ",");
	raw(o, ev->user_data ? "\"user_data\":{" : "\"event_data\":{");
	for (size_t i = 0; i < ev->ndata; i++) {
		const char *name = ev->data[i].name;
		unsigned dup = 1;

		for (size_t j = 0; j < i; j++)
			if (strcmp(ev->data[j].name, name) == 0)
				dup++;
		if (i > 0)
			raw(o, ",");
		if (dup == 1) {
			str(o, name);
		} else {
			/* A repeated name must not make two equal keys. */
			struct strbuf key = { 0 };
			if (strbuf_addf(&key, "%s_%u", name, dup) == 0)
				str(o, key.s);
			else
				o->rc = -ENOMEM;
			strbuf_free(&key);
		}
		raw(o, ":");
		str(o, ev->data[i].value);
	}
	raw(o, "}");
}

/* The data stream a document is written to, named in the document. */
struct ds {
	const char	*dataset;
	const char	*ns;
};

/* ,"data_stream":{"type":"logs","dataset":..,"namespace":..} */
static void
data_stream(struct out *o, const struct ds *ds)
{
	if (ds == NULL)
		return;
	raw(o, ",\"data_stream\":{\"type\":\"logs\",\"dataset\":");
	str(o, ds->dataset);
	raw(o, ",\"namespace\":");
	str(o, ds->ns);
	raw(o, "}");
}

static int
render_event(const struct render_ctx *ctx, const struct buffer_rec *rec,
    const struct sysmon_event *ev, const struct ds *ds, struct strbuf *sb)
{
	struct out o = { sb, 0 };
	char ts[32];
	int64_t ms;
	bool first;

	if (ev->time_created == NULL ||
	    time_parse_rfc3339_ms(ev->time_created, &ms) != 0)
		ms = rec->time_ms;
	time_format_ms(ms, ts);
	raw(&o, "{\"@timestamp\":\"");
	raw(&o, ts);
	raw(&o, "\",\"event\":{\"kind\":\"event\"");
	first = false;
	kv(&o, &first, "code", ev->event_id);
	kv(&o, &first, "provider", ev->provider_name);
	if (ds != NULL)
		kv(&o, &first, "dataset", ds->dataset);
	if (ctx->keep_original)
		original(&o, rec);
	raw(&o, "},\"host\":{\"name\":");
	str(&o, ev->computer != NULL ? ev->computer : ctx->host_name);
	raw(&o, "}");
	agent_obj(&o, ctx);
	data_stream(&o, ds);

	raw(&o, ",\"winlog\":{");
	first = true;
	kv(&o, &first, "channel", ev->channel);
	kv(&o, &first, "provider_name", ev->provider_name);
	kv(&o, &first, "provider_guid", ev->provider_guid);
	kv(&o, &first, "event_id", ev->event_id);
	kv(&o, &first, "record_id", ev->record_id);
	kv(&o, &first, "computer_name", ev->computer);
	kv_num(&o, &first, "version", ev->version);
	kv(&o, &first, "level", level_name(ev->level));
	kv(&o, &first, "task", ev->task);
	kv(&o, &first, "opcode", opcode_name(ev->opcode));
	kv(&o, &first, "keywords", ev->keywords);
	kv(&o, &first, "time_created", ev->time_created);
	kv(&o, &first, "activity_id", ev->activity_id);
	kv(&o, &first, "related_activity_id", ev->related_activity_id);
	if (ev->pid != NULL || ev->tid != NULL) {
		bool pf = true;

		raw(&o, first ? "\"process\":{" : ",\"process\":{");
		kv_num(&o, &pf, "pid", ev->pid);
		if (ev->tid != NULL) {
			raw(&o, pf ? "\"thread\":{" : ",\"thread\":{");
			pf = true;
			kv_num(&o, &pf, "id", ev->tid);
			raw(&o, "}");
		}
		raw(&o, "}");
		first = false;
	}
	if (ev->user_id != NULL) {
		raw(&o, first ? "\"user\":{\"identifier\":" :
		    ",\"user\":{\"identifier\":");
		str(&o, ev->user_id);
		raw(&o, "}");
		first = false;
	}
	if (ev->ndata > 0)
		event_data(&o, ev, first);
	raw(&o, "}");
	if (ev->message != NULL) {
		raw(&o, ",\"message\":");
		str(&o, ev->message);
	}
	if ((rec->flags & BUFFER_REC_TRUNCATED) || event_is_tamper(ev)) {
		raw(&o, ",\"tags\":[");
		if (rec->flags & BUFFER_REC_TRUNCATED)
			raw(&o, event_is_tamper(ev) ? "\"" TAG_TRUNCATED "\"," :
			    "\"" TAG_TRUNCATED "\"");
		if (event_is_tamper(ev))
			raw(&o, "\"" TAG_TAMPER "\"");
		raw(&o, "]");
	}
	raw(&o, "}");
	return o.rc;
}

static int
render_error(const struct render_ctx *ctx, const struct buffer_rec *rec,
    const char *why, const struct ds *ds, struct strbuf *sb)
{
	struct out o = { sb, 0 };
	char ts[32];

	time_format_ms(rec->time_ms, ts);
	raw(&o, "{\"@timestamp\":\"");
	raw(&o, ts);
	raw(&o, "\",\"event\":{\"kind\":\"pipeline_error\"");
	if (ds != NULL) {
		raw(&o, ",\"dataset\":");
		str(&o, ds->dataset);
	}
	if (ctx->keep_original)
		original(&o, rec);
	raw(&o, "},\"host\":{\"name\":");
	str(&o, ctx->host_name);
	raw(&o, "}");
	agent_obj(&o, ctx);
	data_stream(&o, ds);
	raw(&o, ",\"message\":");
	if (o.rc == 0)
		o.rc = json_add_str(sb, rec->data, rec->len);
	raw(&o, ",\"tags\":[\"" TAG_PARSE_ERROR "\"");
	if (rec->flags & BUFFER_REC_TRUNCATED)
		raw(&o, ",\"" TAG_TRUNCATED "\"");
	raw(&o, "],\"error\":{\"message\":");
	str(&o, why);
	raw(&o, "},\"labels\":{\"sysmonfwd_input\":");
	str(&o, rec->source);
	raw(&o, "}}");
	return o.rc;
}

static int
render_gap(const struct render_ctx *ctx, const struct buffer_rec *rec,
    const struct ds *ds, struct strbuf *sb)
{
	struct out o = { sb, 0 };
	char ts[32], num[96];

	time_format_ms(time_now_ms(), ts);
	raw(&o, "{\"@timestamp\":\"");
	raw(&o, ts);
	raw(&o, "\",\"event\":{\"kind\":\"event\",\"action\":"
	    "\"records-dropped\",\"dataset\":\"sysmonfwd.gap\"},"
	    "\"host\":{\"name\":");
	str(&o, ctx->host_name);
	raw(&o, "}");
	agent_obj(&o, ctx);
	data_stream(&o, ds);
	if (o.rc == 0 && rec->gap_count == 0)
		o.rc = strbuf_adds(sb, ",\"message\":\"sysmonfwd: records "
		    "lost at the input (how many is not known): ");
	else if (o.rc == 0)
		o.rc = strbuf_addf(sb, ",\"message\":\"sysmonfwd: %" PRIu64
		    " records lost before this output received them: ",
		    rec->gap_count);
	if (o.rc == 0 && sb->len > 0) {
		/* Append the reason inside the same JSON string. */
		struct strbuf tmp = { 0 };
		if (json_add_str(&tmp, rec->data, rec->len) == 0)
			o.rc = strbuf_add(sb, tmp.s + 1, tmp.len - 1);
		else
			o.rc = -ENOMEM;
		strbuf_free(&tmp);
	}
	raw(&o, ",\"tags\":[\"sysmonfwd_gap\"],\"sysmonfwd\":{\"gap\":{");
	snprintf(num, sizeof(num), "\"records\":%" PRIu64 ",\"first_seq\":%"
	    PRIu64 ",\"last_seq\":%" PRIu64, rec->gap_count, rec->gap_first,
	    rec->seq);
	raw(&o, num);
	raw(&o, ",\"sources\":[");
	for (const char *p = rec->source; p != NULL && *p != '\0';) {
		size_t k = strcspn(p, ",");
		if (p != rec->source)
			raw(&o, ",");
		if (o.rc == 0)
			o.rc = json_add_str(sb, p, k);
		p += k + (p[k] == ',');
	}
	raw(&o, "]");
	if (rec->time_ms > 0) {
		time_format_ms(rec->time_ms, ts);
		raw(&o, ",\"first_time\":\"");
		raw(&o, ts);
		raw(&o, "\"");
	}
	if (rec->gap_last_ms > 0) {
		time_format_ms(rec->gap_last_ms, ts);
		raw(&o, ",\"last_time\":\"");
		raw(&o, ts);
		raw(&o, "\"");
	}
	raw(&o, ",\"reason\":");
	if (o.rc == 0)
		o.rc = json_add_str(sb, rec->data, rec->len);
	raw(&o, "}}}");
	return o.rc;
}

int
render_ecs(struct event_parser *p, const struct render_ctx *ctx,
    const struct buffer_rec *rec, struct strbuf *out)
{
	struct sysmon_event ev;
	char why[320];
	size_t mark = out->len;
	int rc;

	if (rec->flags & BUFFER_REC_GAP) {
		if ((rc = render_gap(ctx, rec, NULL, out)) == 0)
			return RENDER_GAP;
		out->len = mark;
		if (out->s != NULL)
			out->s[mark] = '\0';
		return rc;
	}
	if ((rc = event_parse(p, rec->data, rec->len, &ev, why,
	    sizeof(why))) == 0) {
		if ((rc = render_event(ctx, rec, &ev, NULL, out)) == 0)
			return RENDER_OK;
		out->len = mark;
		if (out->s != NULL)
			out->s[mark] = '\0';
		return rc;
	}
	if (rc == -ENOMEM)
		return rc;	/* not a parse error: try again */
	if (rec->flags & BUFFER_REC_TRUNCATED) {
		size_t n = strlen(why);
		snprintf(why + n, sizeof(why) - n, " (the record was cut at "
		    "the input's max_line_size: %zu bytes kept)", rec->len);
	}
	if ((rc = render_error(ctx, rec, why, NULL, out)) != 0) {
		out->len = mark;
		if (out->s != NULL)
			out->s[mark] = '\0';
		return rc;
	}
	return RENDER_PARSE_ERROR;
}

/* ---- Splunk HEC ------------------------------------------------------------ */

static void
hec_head(struct out *o, int64_t ms, const char *host, const char *source,
    const char *sourcetype, const struct render_hec_opts *h)
{
	char num[48];

	snprintf(num, sizeof(num), "{\"time\":%lld.%03d,\"host\":",
	    (long long)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000),
	    (int)(ms >= 0 ? ms % 1000 : (1000 + ms % 1000) % 1000));
	raw(o, num);
	str(o, h->host != NULL ? h->host : host);
	raw(o, ",\"source\":");
	str(o, h->source != NULL ? h->source : source);
	raw(o, ",\"sourcetype\":");
	str(o, h->sourcetype != NULL ? h->sourcetype : sourcetype);
	if (h->index != NULL) {
		raw(o, ",\"index\":");
		str(o, h->index);
	}
	raw(o, ",\"event\":");
}

int
render_hec(struct event_parser *p, const struct render_ctx *ctx,
    const struct render_hec_opts *h, const struct buffer_rec *rec,
    struct strbuf *sb, struct strbuf *scratch)
{
	struct out o = { sb, 0 };
	size_t mark = sb->len;
	struct event_peek pk;
	char source[300];
	int rc, res;

	if (!h->json && !(rec->flags & BUFFER_REC_GAP) &&
	    !(rec->flags & BUFFER_REC_TRUNCATED) &&
	    event_peek(rec->data, rec->len, &pk) == 0 && pk.has_time) {
		if (pk.linux_sysmon)
			snprintf(source, sizeof(source), "Syslog:%s",
			    pk.channel);
		else
			snprintf(source, sizeof(source), "XmlWinEventLog:%s",
			    pk.channel);
		hec_head(&o, pk.time_ms, pk.computer, source, pk.linux_sysmon ?
		    "sysmon:linux" : "XmlWinEventLog", h);
		if (o.rc == 0)
			o.rc = json_add_str(sb, rec->data + pk.start,
			    pk.end - pk.start);
		if (sysmon_tamper_id(pk.channel, pk.event_id))
			raw(&o, ",\"fields\":{\"sysmonfwd_tags\":\""
			    TAG_TAMPER "\"}");
		raw(&o, "}");
		res = RENDER_OK;
		goto done;
	}
	/* The document first; its fields give the envelope. */
	strbuf_reset(scratch);
	if ((res = render_ecs(p, ctx, rec, scratch)) < 0)
		return res;
	{
		struct sysmon_event ev;
		char why[64];
		int64_t ms = rec->time_ms;
		const char *host = ctx->host_name, *st, *src;

		if (res == RENDER_GAP) {
			ms = time_now_ms();
			st = "sysmonfwd:gap";
			src = "sysmonfwd";
		} else if (res == RENDER_PARSE_ERROR) {
			st = "sysmonfwd:error";
			src = "sysmonfwd";
		} else if ((rc = event_parse(p, rec->data, rec->len, &ev, why,
		    sizeof(why))) == -ENOMEM) {
			o.rc = rc;	/* not a parse error: try again */
			goto done;
		} else if (rc == 0) {
			if (ev.time_created != NULL)
				(void)time_parse_rfc3339_ms(ev.time_created,
				    &ms);
			if (ev.computer != NULL)
				host = ev.computer;
			st = ev.linux_sysmon ? "sysmon:linux" :
			    "XmlWinEventLog";
			snprintf(source, sizeof(source), "%s%s",
			    ev.linux_sysmon ? "Syslog:" : "XmlWinEventLog:",
			    ev.channel != NULL ? ev.channel : "");
			src = source;
			if (!h->json) {
				/* A whole record the quick look refused. */
				hec_head(&o, ms, host, src, st, h);
				if (o.rc == 0)
					o.rc = json_add_str(sb, rec->data +
					    ev.prefix_len, rec->len -
					    ev.prefix_len);
				if (event_is_tamper(&ev))
					raw(&o, ",\"fields\":{\"sysmonfwd_tags\""
					    ":\"" TAG_TAMPER "\"}");
				raw(&o, "}");
				goto done;
			}
		} else {
			st = "sysmonfwd:error";
			src = "sysmonfwd";
		}
		hec_head(&o, ms, host, src, st, h);
		if (o.rc == 0)
			o.rc = strbuf_add(sb, scratch->s, scratch->len);
		raw(&o, "}");
	}
done:
	if ((rc = o.rc) != 0) {
		sb->len = mark;
		if (sb->s != NULL)
			sb->s[mark] = '\0';
		return rc;
	}
	return res;
}

/* ---- Elasticsearch bulk ------------------------------------------------------ */

/* Feed one length-prefixed field, so that no two field lists collide. */
static int
id_field(EVP_MD_CTX *md, const char *s, size_t n)
{
	char len[24];
	int k = snprintf(len, sizeof(len), "%zu:", n);

	return EVP_DigestUpdate(md, len, (size_t)k) == 1 &&
	    EVP_DigestUpdate(md, s, n) == 1 ? 0 : -EIO;
}

int
render_es_id(const struct sysmon_event *ev, const struct buffer_rec *rec,
    const char *agent_name, char out[RENDER_ES_ID_LEN + 1])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *md;
	char num[64];
	int rc = 0;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return -EIO;
	}
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
	EVP_MD_CTX_free(md);
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

	if ((md = EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	snprintf(num, sizeof(num), "%lld/%" PRIu64, (long long)ms, n);
	rc = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    id_field(md, "s1", 2) == 0 &&
	    id_field(md, agent_name, strlen(agent_name)) == 0 &&
	    id_field(md, kind, strlen(kind)) == 0 &&
	    id_field(md, num, strlen(num)) == 0 &&
	    EVP_DigestFinal_ex(md, d, &dlen) == 1 ? 0 : -EIO;
	EVP_MD_CTX_free(md);
	if (rc == 0)
		base64_encode(d, RENDER_ES_ID_LEN / 4 * 3, out, true);
	return rc;
}

static void
action_line(struct out *o, const char *index, const struct ds *ds,
    const char *id)
{
	char name[384];

	raw(o, "{\"create\":{\"_index\":");
	if (index == NULL) {
		snprintf(name, sizeof(name), "logs-%s-%.200s", ds->dataset,
		    ds->ns);
		index = name;
	}
	str(o, index);
	raw(o, ",\"_id\":\"");
	raw(o, id);
	raw(o, "\"}}\n");
}

int
render_es(struct event_parser *p, const struct render_ctx *ctx,
    const struct render_es_opts *e, const struct buffer_rec *rec,
    struct strbuf *sb)
{
	struct out o = { sb, 0 };
	struct sysmon_event ev;
	struct ds dsv, *ds = e->index != NULL ? NULL : &dsv;
	char why[320], id[RENDER_ES_ID_LEN + 1];
	size_t mark = sb->len;
	bool parsed = false;
	int rc, res;

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
		if (rec->flags & BUFFER_REC_TRUNCATED) {
			size_t n = strlen(why);
			snprintf(why + n, sizeof(why) - n, " (the record was "
			    "cut at the input's max_line_size: %zu bytes "
			    "kept)", rec->len);
		}
	}
	if ((rc = render_es_id(parsed ? &ev : NULL, rec, ctx->agent_name,
	    id)) != 0)
		return rc;
	action_line(&o, e->index, &dsv, id);
	if (o.rc == 0) {
		if (res == RENDER_GAP)
			o.rc = render_gap(ctx, rec, ds, sb);
		else if (res == RENDER_OK)
			o.rc = render_event(ctx, rec, &ev, ds, sb);
		else
			o.rc = render_error(ctx, rec, why, ds, sb);
	}
	raw(&o, "\n");
	if ((rc = o.rc) != 0) {
		sb->len = mark;
		if (sb->s != NULL)
			sb->s[mark] = '\0';
		return rc;
	}
	return res;
}
