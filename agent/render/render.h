/*
 * render.h - every document sysmonfwd sends, per destination: the
 * ECS/Winlogbeat document, the Splunk HEC envelope, the Elasticsearch
 * bulk item, the Wazuh event, and the heartbeat and alert documents.
 * Renderers read a ring record (buffer.h), parse it (event.h) and write
 * the destination's wire form; nothing else knows those forms.
 */
#ifndef SYSMONFWD_RENDER_H
#define SYSMONFWD_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buffer.h"
#include "event.h"
#include "health.h"

/* ---- renderers --------------------------------------------------------- */

struct render_ctx {
	const char	*agent_name;
	const char	*host_name;	/* the agent's host */
	bool		 keep_original;	/* add event.original */
};

/*
 * Parse error details from rendering, for counting.
 */
enum render_result {
	RENDER_OK = 0,
	RENDER_PARSE_ERROR = 1,	/* rendered as a tagged message document */
	RENDER_GAP = 2,		/* a gap record rendered as a gap document */
	RENDER_CUT = 3,		/* rendered, cut to fit the destination */
};

/*
 * Append the Winlogbeat-compatible JSON document for rec to out (no
 * newline).  A gap record (BUFFER_REC_GAP) becomes a gap document:
 * event.action "records-dropped", tags ["sysmonfwd_gap"] and
 * sysmonfwd.gap.{records, first_seq, last_seq, sources, first_time,
 * last_time, reason}.  Return RENDER_OK, RENDER_PARSE_ERROR or RENDER_GAP
 * (a document was appended), or -errno when out hit its cap.
 */
int	render_ecs(struct event_parser *p, const struct render_ctx *ctx,
	    const struct buffer_rec *rec, struct strbuf *out);

/* How a Splunk HEC output wants its events. */
struct render_hec_opts {
	bool		 json;		/* format = json: event is the document */
	const char	*index;		/* optional overrides */
	const char	*source;
	const char	*sourcetype;
	const char	*host;
};

/*
 * Append one HEC event object for rec: {"time": epoch.ms, "host",
 * "source", "sourcetype", ["index",] "event"}.  format = xml (default):
 * event is the raw <Event> XML, sourcetype XmlWinEventLog and source
 * XmlWinEventLog:<Channel> for Windows records, sourcetype sysmon:linux and
 * source Syslog:Linux-Sysmon/Operational for Sysmon for Linux.  json:
 * event is the document of render_ecs().  Parse errors and gaps go as
 * sourcetype sysmonfwd:error and sysmonfwd:gap with their documents.
 * Return like render_ecs().
 */
int	render_hec(struct event_parser *p, const struct render_ctx *ctx,
	    const struct render_hec_opts *h, const struct buffer_rec *rec,
	    struct strbuf *out, struct strbuf *scratch);

/* How an Elasticsearch output wants its documents. */
struct render_es_opts {
	const char	*index;		/* every document goes there; NULL:
					   the data stream of the record */
	const char	*ns;		/* namespace of those data streams */
};

#define RENDER_ES_ID_LEN	24	/* base64url characters of an _id */

/*
 * Append one bulk item for rec: the action line
 * {"create":{"_index":..,"_id":..}} and the document of render_ecs(), each
 * ending with a newline.  Without an index override the data stream is
 * logs-windows.sysmon_operational-NS for Windows Sysmon records,
 * logs-windows.forwarded-NS for other Windows channels,
 * logs-sysmon_linux.log-NS for Sysmon for Linux, logs-sysmonfwd.error-NS
 * for records that do not parse and logs-sysmonfwd.gap-NS for gap
 * records, and the document names it in data_stream.* and event.dataset.
 * Return like render_ecs().
 */
int	render_es(struct event_parser *p, const struct render_ctx *ctx,
	    const struct render_es_opts *e, const struct buffer_rec *rec,
	    struct strbuf *out);

/*
 * The deterministic _id of a record: base64url of a SHA-256 prefix over
 * (Computer, Channel, EventRecordID, TimeCreated) when the record has a
 * record id (ev is its parse), else over (agent name, input, ring
 * sequence number, raw bytes); a gap over (agent name, its sequence
 * range).  A record sent again gets the same _id, so Elasticsearch
 * answers 409 instead of indexing it twice.  0 or -errno.
 */
int	render_es_id(const struct sysmon_event *ev,
	    const struct buffer_rec *rec, const char *agent_name,
	    char out[RENDER_ES_ID_LEN + 1]);

/* How a Wazuh output wants its events. */
struct render_wazuh_opts {
	size_t		 max_event;	/* bytes the manager takes in one */
};

/*
 * Append one event for Wazuh's POST /events, as a JSON string (quotes
 * included): {"win":{"system":{..},"eventdata":{..}}} for Windows records
 * (Wazuh's eventchannel shape, values escaped as the agent path escapes
 * them), the syslog line for Sysmon for Linux, the render_ecs() document
 * for parse errors and gaps.  An event longer than max_event is cut (its
 * longest values) and tagged.  Return like render_ecs(), or RENDER_CUT.
 */
int	render_wazuh(struct event_parser *p, const struct render_ctx *ctx,
	    const struct render_wazuh_opts *o, const struct buffer_rec *rec,
	    struct strbuf *out, struct strbuf *scratch);
/*
 * The longest payload render_wazuh_agent() makes, QUEUE:LOCATION:
 * included.  CreateSecMSG() takes OS_MAXSTR - OS_HEADER_SIZE = 65,408
 * bytes (src/os_crypto/shared/msgs.c, src/headers/defs.h, wazuh v4.14.7);
 * 256 bytes (OS_FLSIZE) fewer, because remoted hands an event on to
 * analysisd with "[ID] (NAME) IP->" put before its location, cut at
 * 65,535 bytes (src/remoted/secure.c, src/shared/mq_op.c): a longer one
 * would reach the decoder as broken JSON.
 */
#define RENDER_WAZUH_AGENT_MAX	(65536 - 128 - 256)
/* The queue and location of our own events (parse errors, gaps,
 * heartbeats, alerts) on the agent protocol. */
#define RENDER_WAZUH_AGENT_OWN	"1:sysmonfwd:"

/*
 * Append the payload a Wazuh agent would hand CreateSecMSG() for rec,
 * "QUEUE:LOCATION:MESSAGE", at most RENDER_WAZUH_AGENT_MAX bytes, no
 * separator: a Windows record as the Windows agent's eventchannel reader
 * sends it, f:EventChannel:{"Message":..,"Event":"<the record's XML>"}
 * (no Message: we have none), its tags as <Sysmonfwd> inside the XML
 * (win.sysmonfwd.tags on the manager); Sysmon for Linux as its syslog
 * line (render_wazuh()'s) on 1:/var/log/syslog:; records that do not
 * parse and gaps as the render_wazuh() JSON document, unquoted, on
 * RENDER_WAZUH_AGENT_OWN.
 * A record too long has its longest values cut (RENDER_CUT) and is tagged
 * sysmonfwd_truncated.  The details, and the Wazuh sources followed, are
 * at the end of render_wazuh.c.  Return like render_wazuh().
 */
int	render_wazuh_agent(struct event_parser *p,
	    const struct render_ctx *ctx, const struct buffer_rec *rec,
	    struct strbuf *out, struct strbuf *scratch);

/* The {"win":...} JSON of a parsed Windows record (not quoted). */
int	render_wazuh_win(const struct sysmon_event *ev, size_t max,
	    struct strbuf *out, bool *cut);

/* The _id of a heartbeat or alert document: (agent, kind, time, n). */
int	render_es_status_id(const char *agent_name, const char *kind,
	    int64_t ms, uint64_t n, char out[RENDER_ES_ID_LEN + 1]);

/* ---- heartbeat and alert documents (status.c) ---- */

enum status_kind {
	STATUS_HEARTBEAT,
	STATUS_STATE_CHANGED,	/* alert: sysmon-state-changed */
	STATUS_SILENT,		/* alert: sysmon-silent */
};

struct status_event {
	enum status_kind	 kind;
	enum sysmon_state	 state;
	enum sysmon_state	 previous;
	int64_t			 changed_ms;	/* wall clock */
	int64_t			 silent_ms;	/* STATUS_SILENT: for how long */
};

/*
 * The document of a heartbeat or an alert (no newline).  es_ns: add
 * data_stream.* for logs-sysmonfwd.{heartbeat,alert}-ES_NS.  wazuh: the
 * form {"sysmonfwd":{...}} with every member at one level.  0 or -errno.
 */
int	status_render_doc(const struct agent_status *st,
	    const struct status_event *ev, const char *es_ns, bool wazuh,
	    struct strbuf *out) __attribute__((warn_unused_result));

/* ---- one output's wire form (render_dest.c) ---- */

enum render_dest {
	RENDER_DEST_FILE,	/* a file or stdout: NDJSON of render_ecs() */
	RENDER_DEST_HEC,
	RENDER_DEST_ES,
	RENDER_DEST_WAZUH,
	RENDER_DEST_WAZUH_AGENT, /* the Wazuh agent protocol: one payload */
};

/*
 * The longest event a Wazuh output sends: the manager's queue takes
 * 65,535 bytes with the 14-byte "1:API-Webhook:" header.
 */
#define RENDER_WAZUH_MAX_EVENT	(65535 - 14)

/* How one output renders: its destination and that one's options. */
struct render_target {
	enum render_dest		 dest;
	struct render_ctx		 ctx;
	struct render_hec_opts		 hec;	/* RENDER_DEST_HEC */
	struct render_es_opts		 es;	/* RENDER_DEST_ES */
	struct render_wazuh_opts	 wz;	/* RENDER_DEST_WAZUH */
};

/*
 * Append rec in t's wire form to out: render_ecs(), render_hec(),
 * render_es() or render_wazuh() (scratch: their working space).  Return
 * like those.  Then render_record_end() once the record is final.
 */
int	render_record(struct event_parser *p, const struct render_target *t,
	    const struct buffer_rec *rec, struct strbuf *out,
	    struct strbuf *scratch);
/*
 * Close a record render_record() appended to out: the newline of a file's
 * NDJSON; nothing for the others (HEC events go back to back, a bulk item
 * ends with its own newline, a Wazuh event is one string of an array, a
 * Wazuh agent payload is one message: its output knows where it ends).
 * 0 or -ENOBUFS.
 */
int	render_record_end(const struct render_target *t, struct strbuf *out)
	    __attribute__((warn_unused_result));
/*
 * A heartbeat or an alert (status_render_doc()) in t's wire form, in place
 * of out's contents: a HEC event of sourcetype sysmonfwd:heartbeat or
 * sysmonfwd:alert, a bulk item into logs-sysmonfwd.{heartbeat,alert}-NS
 * (or the index override) with the _id of render_es_status_id(), a Wazuh
 * JSON string, a Wazuh agent payload (RENDER_WAZUH_AGENT_OWN and the
 * same document), an NDJSON line.  scratch: working space.  0 or -errno.
 */
int	render_status_for(const struct render_target *t,
	    const struct agent_status *st, const struct status_event *ev,
	    struct strbuf *out, struct strbuf *scratch)
	    __attribute__((warn_unused_result));

#endif
