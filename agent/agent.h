/*
 * agent.h - the agent's public interface: the Sysmon event model, the
 * document renderers, the sources and the pipeline that joins them.
 *
 * A record travels as raw bytes: a source appends the line it read to the
 * buffer, and every output renders it in its own format when it reads it
 * (buffer.h).  Parsing is done by the renderer, with expat; a record that
 * does not parse is never dropped but rendered as a tagged document that
 * carries the raw text.
 */
#ifndef SYSMONFWD_AGENT_H
#define SYSMONFWD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "config.h"

#define SYSMONFWD_VERSION	"0.1.0"

/* ---- strbuf: a bounded, growable byte string ------------------------- */

struct strbuf {
	char	*s;		/* NUL-terminated when non-NULL */
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* hard cap on len; 0 means 256 MiB */
	bool	 overflow;	/* an append hit the cap and was cut */
};

/* Append n bytes; on reaching the cap set overflow and return -ENOBUFS. */
int	strbuf_add(struct strbuf *sb, const void *p, size_t n);
int	strbuf_adds(struct strbuf *sb, const char *s);
int	strbuf_addc(struct strbuf *sb, char c);
int	strbuf_addf(struct strbuf *sb, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Append n bytes, each invalid UTF-8 byte replaced by U+FFFD. */
int	strbuf_add_utf8(struct strbuf *sb, const char *s, size_t n);
void	strbuf_reset(struct strbuf *sb);
void	strbuf_free(struct strbuf *sb);

/*
 * Append s (n bytes) as a JSON string, quotes included.  Invalid UTF-8
 * bytes become U+FFFD, control characters are escaped: the result is
 * always valid JSON and valid UTF-8, whatever s holds.
 */
int	json_add_str(struct strbuf *sb, const char *s, size_t n);

/* ---- the Sysmon event model ----------------------------------------- */

struct sysmon_data {
	const char	*name;		/* Data Name, or param1.. when absent */
	const char	*value;		/* as written, entities decoded */
};

/*
 * One parsed record.  Every string is NUL-terminated UTF-8 owned by the
 * parser and valid until its next event_parse() or event_parser_free();
 * a field absent from the record is NULL.
 */
struct sysmon_event {
	const char	*provider_name;
	const char	*provider_guid;
	const char	*event_id;
	const char	*qualifiers;
	const char	*version;
	const char	*level;
	const char	*task;
	const char	*opcode;
	const char	*keywords;
	const char	*time_created;	/* TimeCreated/@SystemTime */
	const char	*record_id;
	const char	*activity_id;
	const char	*related_activity_id;
	const char	*pid;
	const char	*tid;
	const char	*channel;
	const char	*computer;
	const char	*user_id;	/* Security/@UserID (Windows: UserID,
					   Sysmon for Linux: UserId) */
	const char	*message;	/* RenderingInfo/Message, if any */
	struct sysmon_data *data;	/* EventData (or UserData) in order */
	size_t		 ndata;
	bool		 user_data;	/* data came from <UserData> */
	bool		 linux_sysmon;	/* the Sysmon for Linux XML dialect */
	size_t		 prefix_len;	/* bytes before "<Event" (syslog) */
};

struct event_parser;

int	event_parser_new(struct event_parser **out)
	    __attribute__((warn_unused_result));
void	event_parser_free(struct event_parser *p);

/*
 * Parse one record: optional text before "<Event" (a syslog header), then
 * one <Event> element.  Return 0 and fill *ev, or -EINVAL with a reason
 * in err (a plain sentence naming the position of the problem), or
 * -ENOMEM when memory ran out (nothing is known about the record then:
 * never render it as unparsable).
 */
int	event_parse(struct event_parser *p, const char *raw, size_t len,
	    struct sysmon_event *ev, char *err, size_t errlen);

/*
 * A quick look at a record, without parsing it: where <Event> starts and
 * ends, TimeCreated, Computer and Channel.  Used where the record goes out
 * as it is (HEC format = xml).  Return 0, or -EINVAL when the record does
 * not look whole (then a full event_parse() decides).
 */
struct event_peek {
	size_t	start, end;	/* the <Event>...</Event> part of raw */
	int64_t	time_ms;
	bool	has_time;
	bool	linux_sysmon;
	char	computer[256];
	char	channel[256];
	long	event_id;	/* -1: none found */
};

int	event_peek(const char *raw, size_t len, struct event_peek *pk);

/*
 * Sysmon's own EventIDs 4 (service state changed), 16 (configuration
 * changed) and 255 (error) are tagged sysmon_tamper in every format.
 */
bool	sysmon_tamper_id(const char *channel, long event_id);
bool	event_is_tamper(const struct sysmon_event *ev);

/* Where "<Event" starts in raw, or -1 when there is none. */
ssize_t	event_find_start(const char *raw, size_t len);

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
/* The {"win":...} JSON of a parsed Windows record (not quoted). */
int	render_wazuh_win(const struct sysmon_event *ev, size_t max,
	    struct strbuf *out, bool *cut);

/* The _id of a heartbeat or alert document: (agent, kind, time, n). */
int	render_es_status_id(const char *agent_name, const char *kind,
	    int64_t ms, uint64_t n, char out[RENDER_ES_ID_LEN + 1]);

/*
 * Convert an RFC 3339 time such as 2019-04-30T20:26:51.793589000Z into
 * Unix milliseconds.  Return 0 or -EINVAL.
 */
int	time_parse_rfc3339_ms(const char *s, int64_t *ms);
/* Write Unix milliseconds as 2019-04-30T20:26:51.793Z (25 bytes + NUL). */
void	time_format_ms(int64_t ms, char buf[32]);
int64_t	time_now_ms(void);

/* ---- the pipeline -------------------------------------------------------- */

struct agent_opts {
	bool	once;		/* stop when every input is at its end and
				   every output has acknowledged everything */
};

struct agent_summary {
	uint64_t	records_read;	/* appended to the buffer */
	uint64_t	lines_ignored;	/* non-record lines not forwarded */
	uint64_t	truncated;	/* records cut at max_line_size */
	uint64_t	parse_errors;	/* rendered as tagged documents */
	uint64_t	delivered;	/* acknowledged by every output */
	uint64_t	lost;		/* reported in gap documents (max over
					   outputs) */
	uint64_t	evicted;	/* buffer: dropped at the cap */
	uint64_t	dropped_io;	/* buffer: lost to write failures */
	uint64_t	corrupt_blocks;	/* buffer: damaged blocks skipped */
	uint64_t	elapsed_ms;
};

/*
 * Run the agent with cfg until a stop signal, or until --once is done, or
 * until every input is finished (non-follow files at their end, standard
 * input closed) and every output caught up.  Return 0, or -errno on a
 * runtime failure (the reason was logged).  Fills *sum when not NULL.
 */
int	agent_run(const struct config *cfg, const struct agent_opts *opts,
	    struct agent_summary *sum);

#endif
