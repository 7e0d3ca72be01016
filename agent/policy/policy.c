/*
 * policy.c - the policy a record meets before the ring: the [filter]
 * rules (drop, counted per rule), the redaction hook ([redact:NAME]),
 * the [tag] rules (names that travel with the record), in that order.
 * It parses a record once, only when a rule or the hook needs it.
 *
 * What reaches the ring is the record's raw bytes (or the redactor's
 * rewrite of them) and a tag trailer (event.h); see source_append().
 */
#include "policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct rule_count {
	char		 name[POLICY_NAME_MAX + 1];
	uint64_t	 n;
};

struct policy {
	struct policy_rules	*filter;	/* NULL: no [filter] */
	struct policy_rules	*tag;		/* NULL: no [tag] */
	struct policy_redact_hook hook;		/* apply NULL: none */
	struct redactor		*redact;	/* [redact:NAME]; NULL: none */
	struct event_parser	*parser;
	struct strbuf		 rewrite;	/* the redactor's output */
	struct strbuf		 out;		/* raw + trailer */
	struct policy_stats	 st;
	struct rule_count	 counts[POLICY_COUNTED_RULES];
	size_t			 ncounts;
	uint64_t		 other;		/* drops past the table */
};

/* The provider of a record the rules may judge: Sysmon's own. */
static bool
is_sysmon(const struct sysmon_event *ev)
{
	return ev->provider_name != NULL &&
	    (strcmp(ev->provider_name, "Microsoft-Windows-Sysmon") == 0 ||
	    strcmp(ev->provider_name, "Linux-Sysmon") == 0);
}

static void
count_drop(struct policy *p, const char *rule)
{
	p->st.filtered++;
	for (size_t i = 0; i < p->ncounts; i++) {
		if (strcmp(p->counts[i].name, rule) == 0) {
			p->counts[i].n++;
			return;
		}
	}
	if (p->ncounts == POLICY_COUNTED_RULES) {
		p->other++;
		return;
	}
	/* Rule names are at most POLICY_NAME_MAX bytes (rules.c). */
	strncpy(p->counts[p->ncounts].name, rule, POLICY_NAME_MAX);
	p->counts[p->ncounts].name[POLICY_NAME_MAX] = '\0';
	p->counts[p->ncounts].n = 1;
	p->ncounts++;
}

int
policy_new(const struct config *cfg, struct policy **out,
    policy_report_fn report, void *arg)
{
	struct policy *p;
	int rc = 0, r;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	/* A record is at most the ring's max_record_size (64 MiB at most). */
	p->rewrite.max = 64u << 20;
	p->out.max = (64u << 20) + 4096;
	if ((r = event_parser_new(&p->parser)) != 0)
		rc = r;
	if (rc == 0 && cfg->filter.rules != NULL &&
	    (r = policy_rules_load_file(cfg->filter.rules, &p->filter,
	    report, arg)) != 0)
		rc = r;
	/* The tag rules are read even when the filter's failed: every
	 * problem is reported in one run. */
	if ((rc == 0 || rc == -EINVAL) && cfg->tag.rules != NULL &&
	    (r = policy_rules_load_file(cfg->tag.rules, &p->tag, report,
	    arg)) != 0 && rc == 0)
		rc = r;
	/* [redact:NAME] sections: the redactor is the hook (redact.c). */
	if ((rc == 0 || rc == -EINVAL) && (r = redact_new(cfg, &p->redact,
	    report, arg)) != 0 && rc == 0)
		rc = r;
	if (p->redact != NULL) {
		p->hook.apply = redact_apply;
		p->hook.arg = p->redact;
	}
	if (rc != 0) {
		policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	policy_rules_free(p->filter);
	policy_rules_free(p->tag);
	redact_free(p->redact);
	event_parser_free(p->parser);
	strbuf_free(&p->rewrite);
	strbuf_free(&p->out);
	free(p);
}

const struct redactor *
policy_redactor(const struct policy *p)
{
	return p != NULL ? p->redact : NULL;
}

void
policy_set_redact_hook(struct policy *p, const struct policy_redact_hook *h)
{
	if (h == NULL)
		memset(&p->hook, 0, sizeof(p->hook));
	else
		p->hook = *h;
}

/* out->data/len: raw with the trailer of out->tags, when it needs one. */
static int
finish(struct policy *p, const char *raw, size_t len, struct policy_out *out)
{
	int rc;

	if (out->tags.n == 0 && !event_rec_needs_trailer(raw, len)) {
		out->data = raw;
		out->len = len;
		return POLICY_KEEP;
	}
	strbuf_reset(&p->out);
	if ((rc = event_rec_encode(&p->out, raw, len, &out->tags)) != 0)
		return rc == -ENOBUFS ? -ENOMEM : rc;
	out->data = p->out.s;
	out->len = p->out.len;
	return POLICY_KEEP;
}

int
policy_apply(struct policy *p, const char *source, const void *data,
    size_t len, struct policy_out *out)
{
	struct sysmon_event ev, *evp = NULL;
	const char *raw = data;
	char why[64];
	bool hook;
	int rc;

	memset(out, 0, sizeof(*out));
	out->rule = "";
	p->st.seen++;
	/* The redactor says when a record cannot concern it (none of its
	 * argument names in it, no pattern): then it needs no parse. */
	hook = p->hook.apply != NULL && (p->redact == NULL ||
	    p->hook.arg != p->redact || redact_may_change(p->redact, data,
	    len));
	if (p->filter == NULL && p->tag == NULL && !hook)
		return finish(p, raw, len, out);	/* nothing to ask */
	if (!hook) {
		/* A quick look first: no rule names this EventID's type, so
		 * the record goes as it is and costs no parse (a record the
		 * look cannot read is parsed). */
		struct event_peek pk;

		if (event_peek(data, len, &pk) == 0 && pk.event_id >= 0 &&
		    (p->filter == NULL || !policy_rules_covers(p->filter,
		    pk.event_id)) && (p->tag == NULL ||
		    !policy_rules_covers(p->tag, pk.event_id)))
			return finish(p, raw, len, out);
	}
	rc = event_parse(p->parser, data, len, &ev, why, sizeof(why));
	if (rc == -ENOMEM)
		return rc;
	if (rc == 0)
		evp = &ev;
	if (evp != NULL && is_sysmon(evp) && p->filter != NULL &&
	    !policy_rules_keep(p->filter, evp, &out->rule)) {
		count_drop(p, out->rule);
		return POLICY_DROP;
	}
	if (hook) {
		strbuf_reset(&p->rewrite);
		rc = p->hook.apply(p->hook.arg, source, evp, data, len,
		    &p->rewrite, &out->tags);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0) {
			p->st.redact_errors++;
		} else if (rc == 1) {
			raw = p->rewrite.s != NULL ? p->rewrite.s : "";
			len = p->rewrite.len;
			out->rewritten = true;
		}
	}
	if (evp != NULL && is_sysmon(evp) && p->tag != NULL) {
		size_t over = 0;

		/* After the redactor's: its tags are never pushed out. */
		if (policy_rules_tags(p->tag, evp, &out->tags, &over) > 0)
			p->st.tagged++;
		p->st.tag_overflow += over;
	}
	return finish(p, raw, len, out);
}

void
policy_get_stats(const struct policy *p, struct policy_stats *st)
{
	if (p == NULL)
		memset(st, 0, sizeof(*st));
	else
		*st = p->st;
}

void
policy_filtered_each(const struct policy *p,
    void (*fn)(void *arg, const char *rule, uint64_t n), void *arg)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->ncounts; i++)
		fn(arg, p->counts[i].name, p->counts[i].n);
	if (p->other > 0)
		fn(arg, "other", p->other);
}
