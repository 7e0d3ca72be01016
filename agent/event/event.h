/*
 * event.h - the Sysmon event model: what a record says, read with expat
 * from any of its dialects (Windows XML, Sysmon for Linux, syslog
 * prefixes), and the strings and times documents are made of.  Parsing
 * only: nothing here writes a destination's format.
 *
 * A record travels as raw bytes: a source appends the line it read to the
 * ring, and every output renders it in its own format when it reads it.
 * A record that does not parse is never dropped but rendered as a tagged
 * document that carries the raw text (render.h).
 */
#ifndef SYSMONFWD_EVENT_H
#define SYSMONFWD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base.h"

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
/* Cut sb back to its first len bytes (len <= sb->len): undo appends. */
void	strbuf_truncate(struct strbuf *sb, size_t len);
void	strbuf_reset(struct strbuf *sb);
void	strbuf_free(struct strbuf *sb);

/*
 * Append s (n bytes) as a JSON string, quotes included.  Invalid UTF-8
 * bytes become U+FFFD, control characters are escaped: the result is
 * always valid JSON and valid UTF-8, whatever s holds.
 */
int	json_add_str(struct strbuf *sb, const char *s, size_t n);

/* ---- jw: a JSON writer whose first error sticks ---------------------- */

/*
 * A document is written as a chain of appends to sb without a check
 * after each: the first one that fails leaves its -errno in rc, every
 * later one does nothing, and the caller looks at rc once at the end
 * (and cuts sb back to where the document started).  Keys are written
 * escaped, like values.  first, where a call takes it, is true before
 * the first member of an object or array (no comma) and set to false.
 */
struct jw {
	struct strbuf	*sb;
	int		 rc;
};

/* Append s (or n bytes of it) as it is: JSON text, no escaping. */
void	jw_raw(struct jw *w, const char *s);
void	jw_rawn(struct jw *w, const char *s, size_t n);
/* Append s as a JSON string, or null for NULL. */
void	jw_str(struct jw *w, const char *s);
/* Append n bytes of s as a JSON string (json_add_str()). */
void	jw_strn(struct jw *w, const char *s, size_t n);
/* Append printf output as it is: numbers. */
void	jw_fmt(struct jw *w, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Append Unix milliseconds as an RFC 3339 JSON string (time_format_ms()). */
void	jw_time(struct jw *w, int64_t ms);
/* Append "," unless *first. */
void	jw_comma(struct jw *w, bool *first);
/* Append ,"key": (no comma when *first). */
void	jw_key(struct jw *w, bool *first, const char *key);
/* Append ,"key":"value", or nothing when value is NULL. */
void	jw_kv(struct jw *w, bool *first, const char *key, const char *value);

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
	/* From <System>: */
	const char	*provider_name;	/* Provider/@Name */
	const char	*provider_guid;	/* Provider/@Guid */
	const char	*event_id;	/* EventID */
	const char	*qualifiers;	/* EventID/@Qualifiers */
	const char	*version;	/* Version */
	const char	*level;		/* Level (4: information) */
	const char	*task;		/* Task (Sysmon: its event id) */
	const char	*opcode;	/* Opcode */
	const char	*keywords;	/* Keywords, 0x8000000000000000 */
	const char	*time_created;	/* TimeCreated/@SystemTime */
	const char	*record_id;	/* EventRecordID */
	const char	*activity_id;	/* Correlation/@ActivityID */
	const char	*related_activity_id; /* Correlation/@Related... */
	const char	*pid;		/* Execution/@ProcessID (Sysmon's) */
	const char	*tid;		/* Execution/@ThreadID */
	const char	*channel;	/* Channel, the log it was written to */
	const char	*computer;	/* Computer: the host's name */
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
 * For tests and benchmarks.  event_parse() reads the usual shape of a
 * record with a scanner of its own and gives everything else to expat,
 * with the same results; with expat_only set (off by default) expat
 * reads every record.  event_parser_was_fast(): did the last
 * event_parse() succeed without expat?
 */
void	event_parser_expat_only(struct event_parser *p, bool on);
bool	event_parser_was_fast(const struct event_parser *p);

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

/* ---- tags a record carries through the ring (tags.c) ----------------- */

/*
 * Tags decided before the ring ([tag] rules, redaction) travel inside the
 * ring record, as a trailer after the source's raw bytes:
 *
 *   RAW | TAGS | LEN | MAGIC
 *
 * TAGS is LEN bytes: the tags separated by '\n' (none when LEN is 0); LEN
 * is 2 bytes, little-endian; MAGIC the 8 bytes EVENT_TAGS_MAGIC.  A tag
 * is 1 to EVENT_TAG_MAX bytes of UTF-8 text without control characters.
 * A record is read as RAW and tags only when the whole trailer is valid;
 * any other record is all raw bytes (rings written before tags existed
 * read as they did).  A raw record that itself ends like a valid trailer
 * is stored with an empty trailer after it, so a source's bytes can never
 * pass for tags: the renderers strip exactly one trailer and show RAW
 * (event.original, the XML sent to HEC) byte for byte.
 */
#define EVENT_TAGS_MAX		16	/* tags on one record */
#define EVENT_TAG_MAX		128	/* bytes of one tag */
#define EVENT_TAGS_MAGIC	"\0SFWTAGS"	/* 8 bytes, NUL first */
#define EVENT_TAGS_MAGIC_LEN	8

struct event_tags {
	size_t	n;
	char	v[EVENT_TAGS_MAX][EVENT_TAG_MAX + 1];
};

/*
 * Add tag to t unless t has it.  0 (also when already there), -EINVAL
 * when tag is empty, too long or holds a control character, -ENOSPC when
 * t holds EVENT_TAGS_MAX tags.
 */
int	event_tags_add(struct event_tags *t, const char *tag)
	    __attribute__((warn_unused_result));
bool	event_tags_has(const struct event_tags *t, const char *tag);

/*
 * Append the ring form of a record to out: the len bytes of raw, then
 * the trailer of t (t may be NULL or empty: a trailer only when raw needs
 * escaping).  0 or -ENOBUFS/-ENOMEM (out cut back as it was).
 */
int	event_rec_encode(struct strbuf *out, const void *raw, size_t len,
	    const struct event_tags *t) __attribute__((warn_unused_result));
/* Would event_rec_encode() with no tags add anything to raw? */
bool	event_rec_needs_trailer(const void *raw, size_t len);
/*
 * Read a ring record (len bytes of data): return the length of its raw
 * part, and fill t (may be NULL) with its tags (none when it has no
 * valid trailer).
 */
size_t	event_rec_decode(const char *data, size_t len, struct event_tags *t);

/*
 * Convert an RFC 3339 time such as 2019-04-30T20:26:51.793589000Z into
 * Unix milliseconds.  Return 0 or -EINVAL.
 */
int	time_parse_rfc3339_ms(const char *s, int64_t *ms);
/* Write Unix milliseconds as 2019-04-30T20:26:51.793Z (25 bytes + NUL). */
void	time_format_ms(int64_t ms, char buf[32]);

#endif
