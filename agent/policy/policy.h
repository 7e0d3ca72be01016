/*
 * policy.h - what happens to a record between its source and the ring:
 * the [filter] rules drop it, the redactor ([redact:NAME]) rewrites it,
 * the [tag] rules name it.  Rules are written in Sysmon's own
 * <EventFiltering> schema (rules.c) and read with expat.
 *
 * Every source hands each record to source_append() (source.h), which
 * calls policy_apply() once and appends what it says to the ring: nothing
 * (the record was filtered: counted per rule, never silent), or the raw
 * bytes, possibly rewritten, followed by the tags the record carries
 * (event_rec_encode(), event.h).  Records of other providers and records
 * that do not parse are never filtered and never tagged by rules.
 *
 * The room sits above event/ and below source/:
 *   base <- event <- policy <- source
 * Single owner: the agent's event loop.  Not thread-safe.
 */
#ifndef SYSMONFWD_POLICY_H
#define SYSMONFWD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"

/* ---- Sysmon's EventFiltering rules (rules.c) --------------------------- */

/* Bounds: a rules file is refused past any of these. */
#define POLICY_RULES_FILE_MAX	(4u << 20)	/* bytes of XML */
#define POLICY_RULES_MAX	4096		/* conditions in one file */
#define POLICY_VALUE_MAX	4096		/* bytes of one condition value */
#define POLICY_NAME_MAX		EVENT_TAG_MAX	/* bytes of a rule's name */

/* A parsed rules file. */
struct policy_rules;

/*
 * Called once for every problem found, with "file:line: problem".  The
 * message is valid during the call only.
 */
typedef void	(*policy_report_fn)(void *arg, const char *msg);

/*
 * Read the EventFiltering rules of the file at path (or of the len bytes
 * of xml, named name in messages).  Store them in *out (free with
 * policy_rules_free()) and return 0, or report every problem found and
 * return -EINVAL (-errno when the file cannot be read, -ENOMEM).
 */
int	policy_rules_load_file(const char *path, struct policy_rules **out,
	    policy_report_fn report, void *arg)
	    __attribute__((warn_unused_result));
int	policy_rules_load_string(const char *name, const char *xml,
	    size_t len, struct policy_rules **out, policy_report_fn report,
	    void *arg) __attribute__((warn_unused_result));
void	policy_rules_free(struct policy_rules *r);

/*
 * Sysmon's verdict on ev as a filter: true when the record is kept.  When
 * it is not, *rule (may be NULL) names the exclude rule that matched, or
 * is "" when the record was dropped because no include rule matched.  A
 * record of another provider, or an EventID the rules do not mention,
 * is kept.
 */
bool	policy_rules_keep(const struct policy_rules *r,
	    const struct sysmon_event *ev, const char **rule);
/*
 * The rules as detections: add to tags the name (RuleName) of every rule
 * of an onmatch="include" block that ev matches, and return how many
 * matched.  Exclude wins here too: a record that an exclude rule of its
 * event type matches gets no tag.  A name that does not fit in tags
 * (EVENT_TAGS_MAX) is counted in *overflow (may be NULL).
 */
size_t	policy_rules_tags(const struct policy_rules *r,
	    const struct sysmon_event *ev, struct event_tags *tags,
	    size_t *overflow);
/*
 * Does any block of r name the event type of Sysmon EventID id?  A record
 * of a type no block names is kept untagged whatever it holds, so the
 * policy need not parse it.
 */
bool	policy_rules_covers(const struct policy_rules *r, long id);
/* How many conditions were loaded (for the log). */
size_t	policy_rules_count(const struct policy_rules *r);

/* ---- the policy: filter, redact, tag ------------------------------------ */

struct policy;

/*
 * The redaction hook: policy_apply() calls apply() on every record the
 * filter kept, before the tags.  ev is the parsed record, or NULL when it
 * does not parse (it may still hold clear text).  apply() returns 0 when
 * it changed nothing (out untouched), 1 when out holds the whole record
 * rewritten (raw bytes, same framing as raw; the ring then stores out
 * instead of raw), or -errno (the record is kept as it is and the error
 * counted; -ENOMEM is passed up).  It adds its tags with
 * event_tags_add(tags, "sysmonfwd_redacted").  arg is the hook's own.
 */
struct policy_redact_hook {
	int	(*apply)(void *arg, const char *source,
		    const struct sysmon_event *ev, const char *raw,
		    size_t len, struct strbuf *out, struct event_tags *tags);
	void	*arg;
};

/*
 * Build the policy of cfg: [filter] rules and [tag] rules (each loaded
 * with policy_rules_load_file()); store it in *out (free with
 * policy_free()).  A policy with no rules and no hook costs no parse: it
 * only escapes records whose bytes end like a tag trailer.  0, or -errno
 * after reporting every problem.
 */
int	policy_new(const struct config *cfg, struct policy **out,
	    policy_report_fn report, void *arg)
	    __attribute__((warn_unused_result));
void	policy_free(struct policy *p);
/* Set (or, with NULL, clear) the redaction hook; h is copied. */
void	policy_set_redact_hook(struct policy *p,
	    const struct policy_redact_hook *h);

enum policy_verdict {
	POLICY_KEEP = 0,	/* append out->data */
	POLICY_DROP = 1,	/* filtered: append nothing, move on */
};

/*
 * What policy_apply() decided.  data/len: the bytes to append to the
 * ring, raw or rewritten, with the tag trailer when there are tags; they
 * point into the caller's data or into p, valid until the next
 * policy_apply() or policy_free().  rule: for POLICY_DROP, the rule's
 * name ("" unnamed), valid as long as p.
 */
struct policy_out {
	const char		*data;
	size_t			 len;
	const char		*rule;
	struct event_tags	 tags;
	bool			 rewritten;	/* the redactor changed it */
};

/*
 * Run p on one record (len bytes of data) read by input source.  Return
 * POLICY_KEEP or POLICY_DROP, or -ENOMEM (nothing is known: try again).
 * Without a policy, a source appends the record as it is, escaped with
 * event_rec_encode() when its bytes end like a tag trailer.
 */
int	policy_apply(struct policy *p, const char *source, const void *data,
	    size_t len, struct policy_out *out)
	    __attribute__((warn_unused_result));

/* Counters since policy_new(). */
struct policy_stats {
	uint64_t	seen;		/* records given to policy_apply() */
	uint64_t	filtered;	/* dropped by [filter] */
	uint64_t	tagged;		/* given at least one [tag] tag */
	uint64_t	tag_overflow;	/* tags left out: EVENT_TAGS_MAX */
	uint64_t	redact_errors;	/* the hook failed; kept as it was */
};

void	policy_get_stats(const struct policy *p, struct policy_stats *st);

/*
 * The filtered counts per rule name, for heartbeats and /metrics: call fn
 * for each rule that dropped records ("" for "no include rule matched").
 * At most POLICY_COUNTED_RULES names are kept; drops by further rules
 * are counted under "other".
 */
#define POLICY_COUNTED_RULES	64
void	policy_filtered_each(const struct policy *p,
	    void (*fn)(void *arg, const char *rule, uint64_t n), void *arg);

/* ---- redaction: [redact:NAME] sections (redact.c) ------------------------
 * (This block belongs to the redaction; the filter and tag API is above.)
 *
 * The redactor rewrites a record's raw bytes before the ring: the values
 * of the EventData fields a rule names (CommandLine, ParentCommandLine by
 * default) lose the value after each of its arguments and each match of
 * its pattern, replaced by hmac:<16 hex digits of HMAC-SHA256 under the
 * rule's key> or [redacted].  redact.c's header comment gives the rules
 * (Windows and Linux command-line splitting, records that do not parse,
 * bounds).  policy_new() installs redact_apply() as the redaction hook.
 */
#define REDACT_TAG		"sysmonfwd_redacted"
#define REDACT_DEFAULT_FIELDS	"CommandLine, ParentCommandLine"
#define REDACT_LIST_MAX		32	/* names in fields or arguments */
#define REDACT_TOKEN_MAX	32	/* "hmac:" + 16 hex digits, or
					   "[redacted]" */
#define REDACT_VALUE_MAX	(256u << 10) /* decoded bytes searched in one
					   value; a longer one is replaced
					   whole */
#define REDACT_SPANS_MAX	64	/* replacements in one value; more:
					   the whole value, once */
#define REDACT_MATCH_LIMIT	100000	/* pcre2_set_match_limit() */
#define REDACT_DEPTH_LIMIT	1000	/* pcre2_set_depth_limit() */
#define REDACT_HEAP_LIMIT_KIB	1024	/* pcre2_set_heap_limit() */

struct redactor;

/* Counters since redact_new(). */
struct redact_stats {
	uint64_t	records;	/* records rewritten */
	uint64_t	values;		/* values (spans) replaced */
	uint64_t	limit_hits;	/* values replaced whole: a pattern
					   ran out of its limits */
	uint64_t	errors;		/* out of memory: nothing appended */
	uint64_t	tag_overflow;	/* rewritten, but no room for the tag */
};

/*
 * The redactor of cfg's [redact:NAME] sections, in their order, into
 * *out (NULL when there are none); it copies the keys it needs.  0, or
 * -EINVAL after reporting each problem ("file:line: [redact:NAME]: ..."),
 * or -ENOMEM.  Free with redact_free() (NULL is a no-op).
 */
int	redact_new(const struct config *cfg, struct redactor **out,
	    policy_report_fn report, void *arg)
	    __attribute__((warn_unused_result));
void	redact_free(struct redactor *r);
/* The redactor policy_new() made for p's [redact:NAME] sections (it
 * installed it as the hook), or NULL: for its counters. */
const struct redactor *policy_redactor(const struct policy *p);

/*
 * The hook (struct policy_redact_hook, arg a struct redactor *): redact
 * raw (len bytes) into out, add REDACT_TAG to tags when anything was
 * replaced.  ev NULL means the record does not parse: then the safety
 * net of redact.c applies too.  1: out holds the rewritten record; 0:
 * nothing to replace (out untouched); -ENOMEM: nothing is known, the
 * record must not be appended as it is (never fails open otherwise).
 */
int	redact_apply(void *arg, const char *source,
	    const struct sysmon_event *ev, const char *raw, size_t len,
	    struct strbuf *out, struct event_tags *tags);
/*
 * The same without a parsed record: linux_sysmon picks the command-line
 * rules, parsed false adds the safety net.  Appends the record, rewritten,
 * to out and sets *changed, or appends nothing and leaves *changed false
 * when nothing was replaced.  0 or -ENOMEM (out as it was).
 */
int	redact_record(struct redactor *r, const char *raw, size_t len,
	    bool linux_sysmon, bool parsed, struct strbuf *out, bool *changed)
	    __attribute__((warn_unused_result));
/*
 * Could r change this record at all?  False only when no section has a
 * pattern and none of the argument names occurs in the raw bytes (nor a
 * numeric entity or CDATA that could spell one): then redact_apply()
 * would return 0, parsed or not, and the policy need not parse the
 * record for it.
 */
bool	redact_may_change(const struct redactor *r, const void *data,
	    size_t len);
/* The token rule number `rule` writes for value v (n bytes) into tok;
 * its length. */
size_t	redact_token(const struct redactor *r, size_t rule, const char *v,
	    size_t n, char tok[REDACT_TOKEN_MAX]);
void	redact_get_stats(const struct redactor *r, struct redact_stats *st);
/* Per rule, for heartbeats and /metrics: records and values replaced. */
void	redact_each(const struct redactor *r, void (*fn)(void *arg,
	    const char *rule, uint64_t records, uint64_t values), void *arg);

#endif
