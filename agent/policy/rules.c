/*
 * rules.c - Sysmon's <EventFiltering> rules: read with expat, judged on
 * parsed records the way Sysmon judges its own events.
 *
 *   <Sysmon schemaversion="4.90">
 *     <EventFiltering>
 *       <RuleGroup name="..." groupRelation="or">
 *         <ProcessCreate onmatch="include">
 *           <Image condition="end with">python.exe</Image>      (a clause)
 *           <Rule name="..." groupRelation="and">               (a clause)
 *             <Image condition="image">python.exe</Image>
 *             <CommandLine condition="contains any">eval(;exec(</CommandLine>
 *           </Rule>
 *         </ProcessCreate>
 *       </RuleGroup>
 *       <NetworkConnect onmatch="exclude"> ... </NetworkConnect> (no group)
 *     </EventFiltering>
 *   </Sysmon>
 *
 * What Sysmon documents, and what this file does:
 *
 * - The event types and their EventIDs are the table "Event filtering
 *   entries" of learn.microsoft.com/sysinternals/downloads/sysmon
 *   (types[] below).  EventIDs 4, 16 and 255 "cannot be filtered": no tag
 *   names them, so they are always kept.
 * - onmatch="include": "only matched events are included"; "exclude":
 *   "the event will be included except if a rule match"; "You can specify
 *   both an include filter set and an exclude filter set for each event
 *   ID, where exclude matches take precedence" (same page).  An include
 *   block with no rule therefore keeps nothing of its type (the page's own
 *   example: <ProcessTerminate onmatch="include" /> "Do not log process
 *   termination"), and an empty exclude block keeps everything.
 * - An event type that no block names is kept: the record is already
 *   what Sysmon chose to log, and Sysmon itself logs a type its
 *   configuration does not filter.
 * - Several conditions directly in a block are each a rule of their own,
 *   combined with OR ("Sysmon - The rules about rules", Sysinternals blog,
 *   2019: rules on the same field "have always been ... combined using
 *   OR"), unless the block sits in a <RuleGroup groupRelation="and">,
 *   which makes them one rule whose conditions must all match.  A <Rule>
 *   (Sysmon 10.4, schema 4.22: "Sysmon 10.4 rule enhancements") is one
 *   rule; its groupRelation, like RuleGroup's, defaults to "and".  In an
 *   "and" RuleGroup the group's relation joins everything in the block:
 *   its conditions and each <Rule> must all match.
 * - Conditions (the page's table "condition type and features"): is,
 *   is not, is any, contains, contains any, contains all, excludes,
 *   excludes any ("does not contain one or more of"), excludes all ("does
 *   not contain any of"), begin with, not begin with, end with, not end
 *   with, less than and more than ("lexicographical comparison"), image
 *   ("full path or only image name").  "any"/"all" values are separated
 *   by ';'.  A condition without condition= is "is".  Comparisons ignore
 *   ASCII case, as Sysmon's do.  A condition on a field the record does
 *   not have never matches.
 * - RuleName: the name of the rule that matched: the <Rule>'s name, else
 *   the condition's own name, else the RuleGroup's.
 *
 * Bounded: the file is at most POLICY_RULES_FILE_MAX bytes, at most
 * POLICY_RULES_MAX conditions, POLICY_VALUE_MAX bytes per value,
 * POLICY_NAME_MAX per name; no DTD is accepted (no entity expansion).
 */
#include "policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

/* The event types of Sysmon's schema and the EventIDs each one filters. */
static const struct {
	const char	*tag;
	int		 ids[3];
} types[] = {
	{ "ProcessCreate", { 1 } },
	{ "FileCreateTime", { 2 } },
	{ "NetworkConnect", { 3 } },
	{ "ProcessTerminate", { 5 } },
	{ "DriverLoad", { 6 } },
	{ "ImageLoad", { 7 } },
	{ "CreateRemoteThread", { 8 } },
	{ "RawAccessRead", { 9 } },
	{ "ProcessAccess", { 10 } },
	{ "FileCreate", { 11 } },
	{ "RegistryEvent", { 12, 13, 14 } },
	{ "FileCreateStreamHash", { 15 } },
	{ "PipeEvent", { 17, 18 } },
	{ "WmiEvent", { 19, 20, 21 } },
	{ "DnsQuery", { 22 } },
	{ "FileDelete", { 23 } },
	{ "ClipboardChange", { 24 } },
	{ "ProcessTampering", { 25 } },
	{ "FileDeleteDetected", { 26 } },
	{ "FileBlockExecutable", { 27 } },
	{ "FileBlockShredding", { 28 } },
	{ "FileExecutableDetected", { 29 } },
};
#define NTYPES	(sizeof(types) / sizeof(types[0]))

enum op {
	OP_IS, OP_IS_NOT, OP_IS_ANY, OP_CONTAINS, OP_CONTAINS_ANY,
	OP_CONTAINS_ALL, OP_EXCLUDES, OP_EXCLUDES_ANY, OP_EXCLUDES_ALL,
	OP_BEGIN_WITH, OP_NOT_BEGIN_WITH, OP_END_WITH, OP_NOT_END_WITH,
	OP_LESS_THAN, OP_MORE_THAN, OP_IMAGE,
};

static const struct {
	const char	*word;
	enum op		 op;
} ops[] = {
	{ "is", OP_IS }, { "is not", OP_IS_NOT }, { "is any", OP_IS_ANY },
	{ "contains", OP_CONTAINS }, { "contains any", OP_CONTAINS_ANY },
	{ "contains all", OP_CONTAINS_ALL }, { "excludes", OP_EXCLUDES },
	{ "excludes any", OP_EXCLUDES_ANY }, { "excludes all", OP_EXCLUDES_ALL },
	{ "begin with", OP_BEGIN_WITH }, { "not begin with", OP_NOT_BEGIN_WITH },
	{ "end with", OP_END_WITH }, { "not end with", OP_NOT_END_WITH },
	{ "less than", OP_LESS_THAN }, { "more than", OP_MORE_THAN },
	{ "image", OP_IMAGE },
};

struct cond {
	char		*field;
	enum op		 op;
	char		*value;		/* as written */
	char		**vals;		/* ';' parts (any/all), else value */
	size_t		 nvals;
	char		*name;		/* its name=, or NULL */
};

/* One rule: conditions combined with AND or OR. */
struct clause {
	struct cond	*conds;
	size_t		 nconds;
	struct clause	*subs;		/* <Rule>s of an "and" RuleGroup */
	size_t		 nsubs;
	bool		 and;
	char		*name;		/* the <Rule>'s name, or NULL */
	char		*group;		/* its RuleGroup's name, or NULL */
};

struct block {
	struct clause	*v;
	size_t		 n;
	bool		 present;	/* a block of this kind exists */
};

struct policy_rules {
	struct block	 inc[NTYPES], exc[NTYPES];
	char		 drop_name[NTYPES][64];	/* "not included: TYPE" */
	char		 exc_name[NTYPES][64];	/* "exclude: TYPE" */
	size_t		 nconds;
};

/* ---- matching ---------------------------------------------------------- */

static const char *
field_value(const struct sysmon_event *ev, const char *field)
{
	for (size_t i = 0; i < ev->ndata; i++)
		if (strcmp(ev->data[i].name, field) == 0)
			return ev->data[i].value;
	return NULL;
}

/* Case-insensitive (ASCII) substring search. */
static bool
has_sub(const char *s, const char *sub)
{
	size_t n = strlen(sub), m = strlen(s);

	if (n == 0)
		return true;
	for (size_t i = 0; i + n <= m; i++)
		if (strncasecmp(s + i, sub, n) == 0)
			return true;
	return false;
}

static bool
begins(const char *s, const char *p)
{
	return strncasecmp(s, p, strlen(p)) == 0;
}

static bool
ends(const char *s, const char *p)
{
	size_t m = strlen(s), n = strlen(p);

	return n <= m && strcasecmp(s + m - n, p) == 0;
}

/* "image": the full path, or the name after the last separator. */
static bool
image_is(const char *s, const char *v)
{
	const char *b = s;

	if (strcasecmp(s, v) == 0)
		return true;
	for (const char *p = s; *p != '\0'; p++)
		if (*p == '\\' || *p == '/')
			b = p + 1;
	return strcasecmp(b, v) == 0;
}

static bool
cond_match(const struct cond *c, const struct sysmon_event *ev)
{
	const char *s = field_value(ev, c->field);
	size_t hits = 0;

	if (s == NULL)
		return false;
	switch (c->op) {
	case OP_IS:
		return strcasecmp(s, c->value) == 0;
	case OP_IS_NOT:
		return strcasecmp(s, c->value) != 0;
	case OP_IS_ANY:
		for (size_t i = 0; i < c->nvals; i++)
			if (strcasecmp(s, c->vals[i]) == 0)
				return true;
		return false;
	case OP_CONTAINS:
		return has_sub(s, c->value);
	case OP_EXCLUDES:
		return !has_sub(s, c->value);
	case OP_CONTAINS_ANY:
	case OP_CONTAINS_ALL:
	case OP_EXCLUDES_ANY:
	case OP_EXCLUDES_ALL:
		for (size_t i = 0; i < c->nvals; i++)
			if (has_sub(s, c->vals[i]))
				hits++;
		if (c->op == OP_CONTAINS_ANY)
			return hits > 0;
		if (c->op == OP_CONTAINS_ALL)
			return hits == c->nvals;
		if (c->op == OP_EXCLUDES_ANY)	/* misses one or more */
			return hits < c->nvals;
		return hits == 0;		/* excludes all */
	case OP_BEGIN_WITH:
		return begins(s, c->value);
	case OP_NOT_BEGIN_WITH:
		return !begins(s, c->value);
	case OP_END_WITH:
		return ends(s, c->value);
	case OP_NOT_END_WITH:
		return !ends(s, c->value);
	case OP_LESS_THAN:
		return strcasecmp(s, c->value) < 0;
	case OP_MORE_THAN:
		return strcasecmp(s, c->value) > 0;
	case OP_IMAGE:
		return image_is(s, c->value);
	}
	return false;
}

/* RuleName: the rule's name, else the condition's, else the group's. */
static const char *
rule_name(const struct clause *cl, const struct cond *c)
{
	if (cl->name != NULL)
		return cl->name;
	if (c != NULL && c->name != NULL)
		return c->name;
	return cl->group != NULL ? cl->group : "";
}

/*
 * Does the clause match?  Its RuleName into *name: for an "and" clause
 * its own name, else the first named <Rule> in it, else the first named
 * condition, else the group's.
 */
static bool
clause_match(const struct clause *cl, const struct sysmon_event *ev,
    const char **name)
{
	const struct cond *named = NULL;
	const char *subname = NULL, *sn;

	if (cl->nconds == 0 && cl->nsubs == 0)
		return false;
	for (size_t i = 0; i < cl->nconds; i++) {
		bool m = cond_match(&cl->conds[i], ev);

		if (cl->and && !m)
			return false;
		if (!cl->and && m) {
			*name = rule_name(cl, &cl->conds[i]);
			return true;
		}
		if (named == NULL && cl->conds[i].name != NULL)
			named = &cl->conds[i];
	}
	for (size_t i = 0; i < cl->nsubs; i++) {
		bool m = clause_match(&cl->subs[i], ev, &sn);

		if (cl->and && !m)
			return false;
		if (!cl->and && m) {
			*name = cl->name != NULL ? cl->name : sn[0] != '\0' ?
			    sn : rule_name(cl, NULL);
			return true;
		}
		if (subname == NULL && sn[0] != '\0')
			subname = sn;
	}
	*name = cl->name == NULL && subname != NULL ? subname :
	    rule_name(cl, named);
	return cl->and;
}

/* The index in types[] of EventID id, or -1. */
static int
type_of_id(long id)
{
	for (size_t t = 0; t < NTYPES; t++)
		for (size_t k = 0; k < 3 && types[t].ids[k] != 0; k++)
			if (types[t].ids[k] == id)
				return (int)t;
	return -1;
}

bool
policy_rules_covers(const struct policy_rules *r, long id)
{
	int t = type_of_id(id);

	return t >= 0 && (r->inc[t].present || r->exc[t].present);
}

/* The index in types[] of ev's EventID, or -1. */
static int
type_of(const struct sysmon_event *ev)
{
	char *end;
	long id;

	if (ev->event_id == NULL || ev->provider_name == NULL ||
	    (strcmp(ev->provider_name, "Microsoft-Windows-Sysmon") != 0 &&
	    strcmp(ev->provider_name, "Linux-Sysmon") != 0))
		return -1;
	id = strtol(ev->event_id, &end, 10);
	if (end == ev->event_id || *end != '\0')
		return -1;
	return type_of_id(id);
}

/* The first clause of b that matches ev, or NULL. */
static const struct clause *
block_match(const struct block *b, const struct sysmon_event *ev,
    const char **name)
{
	for (size_t i = 0; i < b->n; i++)
		if (clause_match(&b->v[i], ev, name))
			return &b->v[i];
	return NULL;
}

bool
policy_rules_keep(const struct policy_rules *r,
    const struct sysmon_event *ev, const char **rule)
{
	const char *name = "", *dummy;
	int t = type_of(ev);

	if (rule == NULL)
		rule = &dummy;
	*rule = "";
	if (t < 0)
		return true;
	if (block_match(&r->exc[t], ev, &name) != NULL) {
		*rule = name[0] != '\0' ? name : r->exc_name[t];
		return false;
	}
	if (!r->inc[t].present)
		return true;
	if (block_match(&r->inc[t], ev, &name) != NULL)
		return true;
	*rule = r->drop_name[t];
	return false;
}

size_t
policy_rules_tags(const struct policy_rules *r,
    const struct sysmon_event *ev, struct event_tags *tags,
    size_t *overflow)
{
	const char *name;
	size_t n = 0;
	int t = type_of(ev);

	if (t < 0 || block_match(&r->exc[t], ev, &name) != NULL)
		return 0;
	for (size_t i = 0; i < r->inc[t].n; i++) {
		if (!clause_match(&r->inc[t].v[i], ev, &name))
			continue;
		n++;
		/* Names were checked when read: only a full set fails. */
		if (name[0] != '\0' && event_tags_add(tags, name) != 0 &&
		    overflow != NULL)
			(*overflow)++;
	}
	return n;
}

size_t
policy_rules_count(const struct policy_rules *r)
{
	return r->nconds;
}

/* ---- reading ------------------------------------------------------------ */

enum level { L_ROOT, L_SYSMON, L_OTHER, L_FILTERING, L_GROUP, L_BLOCK,
	L_RULE, L_COND };

#define DEPTH_MAX	64
#define REPORT_MAX	50	/* problems reported per file */

struct loader {
	const char		*file;
	XML_Parser		 xp;
	struct policy_rules	*r;
	policy_report_fn	 report;
	void			*arg;
	int			 errors;
	bool			 nomem;
	bool			 stopped;	/* a fatal problem: parser halted */
	enum level		 stack[DEPTH_MAX];
	int			 depth;		/* elements open */
	int			 skip;		/* inside an ignored element */
	bool			 seen_sysmon;
	/* The RuleGroup open, if any. */
	bool			 in_group;
	bool			 group_and;
	char			*group_name;
	/* The event type block open. */
	int			 type;
	bool			 exclude;
	/* In the block's clauses: the <Rule> open, and the one rule of its
	 * bare conditions under groupRelation="and" (-1: none); under "and"
	 * a <Rule> is one of that rule's subs (index sub). */
	ssize_t			 rule;
	ssize_t			 bare;
	ssize_t			 sub;
	/* The condition open. */
	struct cond		 cond;
	struct strbuf		 text;
	int			 cond_line;
};

static void __attribute__((format(printf, 3, 4)))
problem(struct loader *ld, int line, const char *fmt, ...)
{
	char msg[512];
	int n;
	va_list ap;

	ld->errors++;
	if (ld->errors > REPORT_MAX || ld->report == NULL)
		return;
	n = snprintf(msg, sizeof(msg), "%s:%d: ", ld->file, line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	(void)vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	ld->report(ld->arg, msg);
}

static int
cur_line(const struct loader *ld)
{
	return (int)XML_GetCurrentLineNumber(ld->xp);
}

static const char *
attr(const char **atts, const char *name)
{
	for (size_t i = 0; atts[i] != NULL; i += 2)
		if (strcmp(atts[i], name) == 0)
			return atts[i + 1];
	return NULL;
}

/* Attributes other than those named (NULL-terminated list) are errors. */
static void
only_attrs(struct loader *ld, const char *el, const char **atts, ...)
{
	for (size_t i = 0; atts[i] != NULL; i += 2) {
		va_list ap;
		const char *ok;
		bool known = false;

		va_start(ap, atts);
		while ((ok = va_arg(ap, const char *)) != NULL)
			if (strcmp(ok, atts[i]) == 0)
				known = true;
		va_end(ap);
		if (!known)
			problem(ld, cur_line(ld), "<%s>: unknown attribute "
			    "%s", el, atts[i]);
	}
}

/* groupRelation: "and" or "or" (any case); absent: and. */
static bool
relation(struct loader *ld, const char *el, const char *v, bool *and)
{
	*and = true;
	if (v == NULL || strcasecmp(v, "and") == 0)
		return true;
	if (strcasecmp(v, "or") == 0) {
		*and = false;
		return true;
	}
	problem(ld, cur_line(ld), "<%s>: groupRelation \"%s\": expected "
	    "\"and\" or \"or\"", el, v);
	return false;
}

static bool
name_ok(struct loader *ld, const char *el, const char *name)
{
	size_t n = strlen(name);

	if (n > POLICY_NAME_MAX) {
		problem(ld, cur_line(ld), "<%s>: name is %zu bytes long, "
		    "at most %d", el, n, POLICY_NAME_MAX);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
			problem(ld, cur_line(ld), "<%s>: name holds a control "
			    "character", el);
			return false;
		}
	}
	return true;
}

static char *
dup_or_nomem(struct loader *ld, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		ld->nomem = true;
	return d;
}

static struct block *
cur_block(struct loader *ld)
{
	return ld->exclude ? &ld->r->exc[ld->type] : &ld->r->inc[ld->type];
}

/*
 * A new clause in the open block, named after the RuleGroup open (as a
 * fallback); its index, or -1 when out of memory.
 */
static ssize_t
new_clause(struct loader *ld)
{
	struct block *b = cur_block(ld);
	struct clause *v, *cl;

	if ((v = realloc(b->v, (b->n + 1) * sizeof(*v))) == NULL) {
		ld->nomem = true;
		return -1;
	}
	b->v = v;
	cl = &b->v[b->n++];
	memset(cl, 0, sizeof(*cl));
	if (ld->group_name != NULL)
		cl->group = dup_or_nomem(ld, ld->group_name);
	return (ssize_t)(b->n - 1);
}

/* The clause the conditions of the <Rule> open go to, or NULL. */
static struct clause *
open_rule(struct loader *ld)
{
	struct block *b = cur_block(ld);

	if (ld->sub >= 0 && ld->bare >= 0)
		return &b->v[ld->bare].subs[ld->sub];
	if (ld->rule >= 0)
		return &b->v[ld->rule];
	return NULL;
}

/* The block's one "and" rule of a RuleGroup groupRelation="and", made
 * when needed; its index, or -1 when out of memory. */
static ssize_t
group_and_clause(struct loader *ld)
{
	if (ld->bare < 0 && (ld->bare = new_clause(ld)) >= 0)
		cur_block(ld)->v[ld->bare].and = true;
	return ld->bare;
}

static void
cond_free(struct cond *c)
{
	free(c->field);
	free(c->value);
	free(c->vals);
	free(c->name);
	memset(c, 0, sizeof(*c));
}

/* Split value at ';' into vals (pointing into value, cut in place). */
static int
split_values(struct cond *c)
{
	size_t n = 1;

	for (const char *p = c->value; *p != '\0'; p++)
		n += *p == ';';
	if ((c->vals = calloc(n, sizeof(*c->vals))) == NULL)
		return -ENOMEM;
	c->nvals = 0;
	for (char *p = c->value;;) {
		char *semi = strchr(p, ';');

		if (semi != NULL)
			*semi = '\0';
		if (*p != '\0')		/* "a;;b" and a trailing ';' */
			c->vals[c->nvals++] = p;
		if (semi == NULL)
			break;
		p = semi + 1;
	}
	return 0;
}

static bool
op_splits(enum op op)
{
	return op == OP_IS_ANY || op == OP_CONTAINS_ANY ||
	    op == OP_CONTAINS_ALL || op == OP_EXCLUDES_ANY ||
	    op == OP_EXCLUDES_ALL;
}

/* The condition just closed: check it and add it to its clause. */
static void
cond_end(struct loader *ld)
{
	struct cond *c = &ld->cond;
	struct block *b = cur_block(ld);
	struct clause *cl = open_rule(ld);
	ssize_t k;
	struct cond *v;

	if (ld->text.overflow) {
		problem(ld, ld->cond_line, "<%s>: value longer than %d bytes",
		    c->field, POLICY_VALUE_MAX);
		goto out_free;
	}
	if ((c->value = dup_or_nomem(ld, ld->text.s != NULL ? ld->text.s :
	    "")) == NULL)
		goto out_free;
	if (op_splits(c->op)) {
		if (split_values(c) != 0) {
			ld->nomem = true;
			goto out_free;
		}
		if (c->nvals == 0) {
			problem(ld, ld->cond_line, "<%s>: no value between the "
			    "';'", c->field);
			goto out_free;
		}
	}
	if (ld->r->nconds == POLICY_RULES_MAX) {
		problem(ld, ld->cond_line, "more than %d conditions",
		    POLICY_RULES_MAX);
		goto out_free;
	}
	if (cl == NULL) {
		/* A bare condition: a rule of its own (OR), or one more
		 * condition of the block's one rule under
		 * <RuleGroup groupRelation="and">. */
		if (ld->in_group && ld->group_and)
			k = group_and_clause(ld);
		else
			k = new_clause(ld);
		if (k < 0)
			goto out_free;
		cl = &b->v[k];
	}
	if ((v = realloc(cl->conds, (cl->nconds + 1) * sizeof(*v))) == NULL) {
		ld->nomem = true;
		goto out_free;
	}
	cl->conds = v;
	cl->conds[cl->nconds++] = *c;
	ld->r->nconds++;
	memset(c, 0, sizeof(*c));
	return;
out_free:
	cond_free(c);
}

static void
cond_start(struct loader *ld, const char *el, const char **atts)
{
	const char *cv = attr(atts, "condition"), *name = attr(atts, "name");
	bool found = false;

	only_attrs(ld, el, atts, "condition", "name", NULL);
	memset(&ld->cond, 0, sizeof(ld->cond));
	ld->cond_line = cur_line(ld);
	strbuf_reset(&ld->text);
	ld->text.max = POLICY_VALUE_MAX;
	ld->text.overflow = false;
	for (size_t i = 0; el[i] != '\0'; i++) {
		char ch = el[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '_')) {
			problem(ld, ld->cond_line, "<%s>: not a field name", el);
			break;
		}
	}
	if (cv == NULL) {
		ld->cond.op = OP_IS;
		found = true;
	}
	for (size_t i = 0; !found && i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcasecmp(cv, ops[i].word) == 0) {
			ld->cond.op = ops[i].op;
			found = true;
		}
	}
	if (!found)
		problem(ld, ld->cond_line, "<%s>: unknown condition \"%s\" "
		    "(is, is not, is any, contains, contains any, contains "
		    "all, excludes, excludes any, excludes all, begin with, "
		    "not begin with, end with, not end with, less than, more "
		    "than, image)", el, cv);
	if (name != NULL && name[0] != '\0' && name_ok(ld, el, name))
		ld->cond.name = dup_or_nomem(ld, name);
	ld->cond.field = dup_or_nomem(ld, el);
	if (!found)
		ld->cond.op = (enum op)-1;
}

static int
type_index(const char *el)
{
	for (size_t t = 0; t < NTYPES; t++)
		if (strcmp(types[t].tag, el) == 0)
			return (int)t;
	/* The table of the documentation spells it DNSQuery. */
	if (strcmp(el, "DNSQuery") == 0)
		return type_index("DnsQuery");
	return -1;
}

/* An event type's block opens: false when el is none (then ignored). */
static bool
block_start(struct loader *ld, const char *el, const char **atts)
{
	const char *om = attr(atts, "onmatch");
	int t = type_index(el);

	only_attrs(ld, el, atts, "onmatch", NULL);
	ld->type = t < 0 ? 0 : t;
	ld->exclude = false;
	if (t < 0) {
		problem(ld, cur_line(ld), "<%s>: not a Sysmon event type "
		    "(ProcessCreate, NetworkConnect, FileCreate, ...)", el);
		return false;
	}
	if (om == NULL) {
		problem(ld, cur_line(ld), "<%s>: onmatch missing (include or "
		    "exclude)", el);
	} else if (strcasecmp(om, "exclude") == 0) {
		ld->exclude = true;
	} else if (strcasecmp(om, "include") != 0) {
		problem(ld, cur_line(ld), "<%s>: onmatch \"%s\": expected "
		    "include or exclude", el, om);
	}
	if (ld->exclude)
		ld->r->exc[t].present = true;
	else
		ld->r->inc[t].present = true;
	return true;
}

static void XMLCALL
on_start(void *arg, const char *el, const char **atts)
{
	struct loader *ld = arg;
	enum level up = ld->depth > 0 ? ld->stack[ld->depth - 1] : L_ROOT;
	enum level lv = L_OTHER;

	if (ld->depth == DEPTH_MAX) {
		problem(ld, cur_line(ld), "elements nested too deep");
		ld->stopped = true;
		XML_StopParser(ld->xp, XML_FALSE);
		return;
	}
	switch (up) {
	case L_ROOT:
		if (strcmp(el, "Sysmon") != 0)
			problem(ld, cur_line(ld), "<%s>: the root element must "
			    "be <Sysmon>", el);
		lv = L_SYSMON;
		ld->seen_sysmon = true;
		break;
	case L_SYSMON:
		/* HashAlgorithms, DnsLookup, ...: Sysmon's, not ours. */
		lv = strcmp(el, "EventFiltering") == 0 ? L_FILTERING : L_OTHER;
		break;
	case L_OTHER:
		lv = L_OTHER;
		break;
	case L_FILTERING:
	case L_GROUP:
		if (up == L_FILTERING && strcmp(el, "RuleGroup") == 0) {
			const char *n = attr(atts, "name");

			only_attrs(ld, el, atts, "name", "groupRelation",
			    NULL);
			ld->in_group = true;
			(void)relation(ld, el, attr(atts, "groupRelation"),
			    &ld->group_and);
			free(ld->group_name);
			ld->group_name = NULL;
			if (n != NULL && n[0] != '\0' && name_ok(ld, el, n))
				ld->group_name = dup_or_nomem(ld, n);
			lv = L_GROUP;
			break;
		}
		ld->rule = ld->bare = ld->sub = -1;
		lv = block_start(ld, el, atts) ? L_BLOCK : L_OTHER;
		break;
	case L_BLOCK:
		if (strcmp(el, "Rule") == 0) {
			const char *n = attr(atts, "name");
			struct clause *cl;

			only_attrs(ld, el, atts, "name", "groupRelation",
			    NULL);
			cl = NULL;
			if (ld->in_group && ld->group_and) {
				/* One more part of the group's "and" rule. */
				ssize_t k = group_and_clause(ld);
				struct clause *parent, *v;

				if (k >= 0) {
					parent = &cur_block(ld)->v[k];
					v = realloc(parent->subs,
					    (parent->nsubs + 1) * sizeof(*v));
					if (v == NULL) {
						ld->nomem = true;
					} else {
						parent->subs = v;
						cl = &v[parent->nsubs];
						memset(cl, 0, sizeof(*cl));
						ld->sub = (ssize_t)
						    parent->nsubs++;
					}
				}
			} else if ((ld->rule = new_clause(ld)) >= 0) {
				cl = &cur_block(ld)->v[ld->rule];
			}
			if (cl != NULL) {
				(void)relation(ld, el,
				    attr(atts, "groupRelation"), &cl->and);
				if (n != NULL && n[0] != '\0' &&
				    name_ok(ld, el, n))
					cl->name = dup_or_nomem(ld, n);
			}
			lv = L_RULE;
			break;
		}
		/* FALLTHROUGH */
	case L_RULE:
		cond_start(ld, el, atts);
		lv = L_COND;
		break;
	case L_COND:
		problem(ld, cur_line(ld), "<%s>: a condition holds no "
		    "elements", el);
		lv = L_OTHER;
		break;
	}
	ld->stack[ld->depth++] = lv;
}

static void XMLCALL
on_end(void *arg, const char *el)
{
	struct loader *ld = arg;
	enum level lv;

	(void)el;
	if (ld->depth == 0)
		return;
	lv = ld->stack[--ld->depth];
	switch (lv) {
	case L_COND:
		if (ld->cond.op == (enum op)-1)
			cond_free(&ld->cond);
		else
			cond_end(ld);
		break;
	case L_RULE:
		if (open_rule(ld) != NULL && open_rule(ld)->nconds == 0)
			problem(ld, cur_line(ld), "<Rule>: no condition in it");
		ld->rule = ld->sub = -1;
		break;
	case L_GROUP:
		ld->in_group = false;
		free(ld->group_name);
		ld->group_name = NULL;
		break;
	default:
		break;
	}
}

static void XMLCALL
on_text(void *arg, const char *s, int len)
{
	struct loader *ld = arg;

	if (ld->depth > 0 && ld->stack[ld->depth - 1] == L_COND)
		(void)strbuf_add(&ld->text, s, (size_t)len);
}

static void XMLCALL
on_doctype(void *arg, const char *name, const char *sysid,
    const char *pubid, int has_internal)
{
	struct loader *ld = arg;

	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal;
	problem(ld, cur_line(ld), "a document type declaration is not "
	    "accepted");
	ld->stopped = true;
	XML_StopParser(ld->xp, XML_FALSE);
}

static void
clause_free(struct clause *cl)
{
	for (size_t j = 0; j < cl->nconds; j++)
		cond_free(&cl->conds[j]);
	for (size_t j = 0; j < cl->nsubs; j++)
		clause_free(&cl->subs[j]);
	free(cl->conds);
	free(cl->subs);
	free(cl->name);
	free(cl->group);
}

void
policy_rules_free(struct policy_rules *r)
{
	if (r == NULL)
		return;
	for (size_t t = 0; t < NTYPES; t++) {
		struct block *bs[2] = { &r->inc[t], &r->exc[t] };

		for (size_t k = 0; k < 2; k++) {
			for (size_t i = 0; i < bs[k]->n; i++)
				clause_free(&bs[k]->v[i]);
			free(bs[k]->v);
		}
	}
	free(r);
}

int
policy_rules_load_string(const char *name, const char *xml, size_t len,
    struct policy_rules **out, policy_report_fn report, void *arg)
{
	struct loader ld;
	struct policy_rules *r;
	int rc = 0;

	*out = NULL;
	if (len > POLICY_RULES_FILE_MAX) {
		memset(&ld, 0, sizeof(ld));
		ld.file = name;
		ld.report = report;
		ld.arg = arg;
		problem(&ld, 0, "the file is %zu bytes, more than the %u "
		    "accepted", len, POLICY_RULES_FILE_MAX);
		return -EINVAL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	for (size_t t = 0; t < NTYPES; t++) {
		snprintf(r->drop_name[t], sizeof(r->drop_name[t]),
		    "not included: %s", types[t].tag);
		snprintf(r->exc_name[t], sizeof(r->exc_name[t]),
		    "exclude: %s", types[t].tag);
	}
	memset(&ld, 0, sizeof(ld));
	ld.file = name;
	ld.r = r;
	ld.report = report;
	ld.arg = arg;
	if ((ld.xp = XML_ParserCreate("UTF-8")) == NULL) {
		policy_rules_free(r);
		return -ENOMEM;
	}
	XML_SetUserData(ld.xp, &ld);
	XML_SetElementHandler(ld.xp, on_start, on_end);
	XML_SetCharacterDataHandler(ld.xp, on_text);
	XML_SetStartDoctypeDeclHandler(ld.xp, on_doctype);
	XML_SetParamEntityParsing(ld.xp, XML_PARAM_ENTITY_PARSING_NEVER);
	if (XML_Parse(ld.xp, xml, (int)len, XML_TRUE) == XML_STATUS_ERROR &&
	    !ld.stopped) {
		if (XML_GetErrorCode(ld.xp) == XML_ERROR_NO_MEMORY)
			ld.nomem = true;
		else
			problem(&ld, (int)XML_GetCurrentLineNumber(ld.xp),
			    "XML error at column %lu: %s",
			    (unsigned long)XML_GetCurrentColumnNumber(ld.xp) +
			    1, XML_ErrorString(XML_GetErrorCode(ld.xp)));
	}
	if (ld.errors == 0 && !ld.nomem && !ld.seen_sysmon)
		problem(&ld, 1, "no <Sysmon> element");
	XML_ParserFree(ld.xp);
	cond_free(&ld.cond);
	strbuf_free(&ld.text);
	free(ld.group_name);
	if (ld.nomem)
		rc = -ENOMEM;
	else if (ld.errors > 0)
		rc = -EINVAL;
	if (rc != 0) {
		policy_rules_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int
policy_rules_load_file(const char *path, struct policy_rules **out,
    policy_report_fn report, void *arg)
{
	struct strbuf sb = { 0 };
	char buf[65536], msg[600];
	size_t n;
	FILE *fp;
	int rc = 0;

	*out = NULL;
	/* Binary: the bytes as written (no CRLF or ^Z games on Windows). */
	if ((fp = fopen(path, "rb")) == NULL) {
		rc = -errno;
		snprintf(msg, sizeof(msg), "%s:0: cannot open the rules "
		    "file: %s", path, strerror(-rc));
		if (report != NULL)
			report(arg, msg);
		return rc;
	}
	sb.max = POLICY_RULES_FILE_MAX + 1;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		if (strbuf_add(&sb, buf, n) != 0)
			break;
	if (ferror(fp))
		rc = -EIO;
	fclose(fp);
	if (rc == 0 && !sb.overflow && sb.s == NULL &&
	    strbuf_add(&sb, "", 0) != 0)
		rc = -ENOMEM;
	if (rc != 0) {
		snprintf(msg, sizeof(msg), "%s:0: cannot read the rules file: "
		    "%s", path, strerror(-rc));
		if (report != NULL)
			report(arg, msg);
		strbuf_free(&sb);
		return rc;
	}
	if (sb.overflow) {
		snprintf(msg, sizeof(msg), "%s:0: the rules file is larger "
		    "than %u bytes", path, POLICY_RULES_FILE_MAX);
		if (report != NULL)
			report(arg, msg);
		strbuf_free(&sb);
		return -EINVAL;
	}
	rc = policy_rules_load_string(path, sb.s != NULL ? sb.s : "", sb.len,
	    out, report, arg);
	strbuf_free(&sb);
	return rc;
}
