/*
 * redact.c - [redact:NAME]: command-line redaction before the ring, so
 * that the clear text never reaches disk or the network (event.original,
 * the raw XML HEC format = xml sends, dead letters: they all come from the
 * ring's bytes, which are the rewritten record).
 *
 * A record is rewritten in its raw form.  The value of every <Data
 * Name='F'> element whose name F a rule lists is located in the raw bytes
 * (single or double quoted attribute; a value running to the end of the
 * record when a cut line lost its </Data>), XML-decoded (the five named
 * entities, numeric entities, CDATA sections) with a map from each
 * decoded byte back to the raw byte it came from, and searched:
 *
 *   arguments   the value after an argument named in the rule, and the
 *               VALUE of NAME=VALUE.  Windows records are split the way
 *               CommandLineToArgvW and the MSVC runtime (2008 and later)
 *               split a command line: space and tab separate, "..."
 *               groups, 2n backslashes before a quote give n and a
 *               quote, 2n+1 give n and a literal quote, "" inside quotes
 *               is a literal quote, argv[0] ends at its closing quote
 *               and is never a name.  A quoted argument holding spaces
 *               (cmd /c "python app.py --text x") is split again, twice
 *               deep at most.  Sysmon for Linux joins argv with single
 *               spaces and no quoting, so argv boundaries are lost: a
 *               value there runs from the word after NAME to the last
 *               word before the next word starting with '-' (or the
 *               end), so a value with spaces is redacted whole; a later
 *               positional argument may be redacted with it.
 *               A value that is itself one of the rule's argument names
 *               (--text --user_id x) is not a value: --text has none and
 *               --user_id's value x is redacted.  Any other next
 *               argument is the value, even one starting with '-'
 *               (redacting too much is safer than too little).
 *   pattern     every match of the PCRE2 pattern, or of its first
 *               capturing group when it has one (the whole match when
 *               that group did not take part).  A value the pattern
 *               cannot be run on within its limits (match, depth and
 *               heap limits) is replaced whole.
 *
 * Every span found is replaced in the raw bytes by a token: hmac: and the
 * first 16 hex digits of HMAC-SHA256 over the value under the rule's key
 * (the same value, however it was quoted, gives the same token on every
 * host and after every restart), or [redacted].  Spans of all rules are
 * found on the same decoded value and merged (one inside another: the
 * outer one wins; overlapping: their union, hashed as decoded text), so
 * a token is never redacted again.  The bytes outside the spans are kept
 * byte for byte.
 *
 * A rendered message (RenderingInfo/Message: wevtutil's RenderedXml, or
 * EvtFormatMessage's XML) repeats the fields on lines "FIELD: value"; the
 * value of each line whose FIELD a rule lists is searched the same way.
 *
 * Records that do not parse (ev NULL) may still hold clear text, so they
 * get more, not less: the Data values found are redacted as above and,
 * in the rest of the record, every rule's pattern is applied to the raw
 * bytes and every rule's arguments to words separated by white space or
 * '<' (Sysmon for Linux rules).
 *
 * Bounds: values over REDACT_VALUE_MAX decoded bytes, and values with
 * more than REDACT_SPANS_MAX spans, are replaced whole; PCRE2 runs under
 * REDACT_MATCH_LIMIT, REDACT_DEPTH_LIMIT and REDACT_HEAP_LIMIT_KIB;
 * every buffer is bounded by the record's size.  The key is never logged.
 */
#include "policy.h"
#include "base.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDACT_NEST_MAX		2	/* quoted arguments split again */

struct redact_rule {
	char		 name[CONFIG_NAME_MAX + 1];
	char		*fields[REDACT_LIST_MAX];
	size_t		 nfields;
	char		*args[REDACT_LIST_MAX];
	size_t		 argslen[REDACT_LIST_MAX];
	size_t		 nargs;
	pcre2_code	*re;
	pcre2_match_data *md;
	bool		 group;		/* replace capture group 1 */
	int		 replace;	/* enum config_replace */
	unsigned char	*key;
	size_t		 keylen;
	uint64_t	 records;	/* records it replaced something in */
	uint64_t	 values;	/* spans it replaced */
	bool		 hit;		/* in the current record */
};

/* A part of the decoded value to replace. */
struct span {
	size_t		 start, end;	/* decoded bytes */
	size_t		 rule;
	size_t		 voff, vlen;	/* the value hashed, in r->vals */
	bool		 text;		/* hash the decoded text instead */
	const char	*prefix;	/* NAME: NAME= goes before the token */
	size_t		 prefix_len;
};

/* One argument of a split command line. */
struct arg {
	size_t		 dstart, dend;	/* its decoded bytes, quotes included */
	size_t		 toff, tlen;	/* its parsed text, in r->atext */
	bool		 used;		/* a name or a value */
};

struct redactor {
	struct redact_rule *rules;
	size_t		 nrules;
	pcre2_match_context *mctx;
	struct strbuf	 dec;		/* the decoded value */
	uint32_t	*dmap;		/* raw offset of each decoded byte */
	uint32_t	*dend;		/* where its raw bytes end */
	size_t		 dmap_cap, dend_cap;
	struct strbuf	 vals;		/* hashed values of spans */
	struct span	*spans;
	size_t		 nspans, spans_cap;
	struct arg	*args;
	size_t		 nargs, args_cap;
	struct strbuf	 atext;		/* parsed argument text */
	uint32_t	*apos;		/* decoded offset of each atext byte */
	size_t		 apos_cap;
	struct redact_stats st;
	bool		 always;	/* redact_may_change() cannot rule
					   a record out: a pattern, or a name
					   XML would escape */
};

/* ---- set-up ------------------------------------------------------------ */

/*
 * Split a comma-separated list into at most REDACT_LIST_MAX trimmed,
 * non-empty items, each a new string.  0, -EINVAL (too many, or an
 * empty item) or -ENOMEM.
 */
static int
split_list(const char *s, char **items, size_t *n)
{
	*n = 0;
	if (s == NULL)
		return 0;
	for (const char *p = s;;) {
		const char *e = p + strcspn(p, ",");
		const char *a = p, *b = e;

		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (a == b || *n == REDACT_LIST_MAX)
			return -EINVAL;
		if ((items[*n] = strndup(a, (size_t)(b - a))) == NULL)
			return -ENOMEM;
		(*n)++;
		if (*e == '\0')
			return 0;
		p = e + 1;
	}
}

/*
 * Compile pattern as config.c checks it (the same options: UTF-8, invalid
 * UTF-8 in subjects allowed).  0, or -EINVAL with PCRE2's message and
 * the offset in err.
 */
static int
compile_pattern(const char *pattern, pcre2_code **out, char *err,
    size_t errlen)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int ec;
	pcre2_code *re;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ec, &off, NULL);
	if (re == NULL) {
		if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", ec);
		snprintf(err, errlen, "%s at offset %zu", (const char *)msg,
		    (size_t)off);
		return -EINVAL;
	}
	*out = re;
	return 0;
}

void
redact_free(struct redactor *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrules; i++) {
		struct redact_rule *ru = &r->rules[i];

		for (size_t j = 0; j < ru->nfields; j++)
			free(ru->fields[j]);
		for (size_t j = 0; j < ru->nargs; j++)
			free(ru->args[j]);
		pcre2_match_data_free(ru->md);
		pcre2_code_free(ru->re);
		if (ru->key != NULL)
			explicit_bzero(ru->key, ru->keylen);
		free(ru->key);
	}
	free(r->rules);
	pcre2_match_context_free(r->mctx);
	strbuf_free(&r->dec);
	strbuf_free(&r->vals);
	strbuf_free(&r->atext);
	free(r->dmap);
	free(r->dend);
	free(r->spans);
	free(r->args);
	free(r->apos);
	free(r);
}

static void
report(policy_report_fn fn, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(policy_report_fn fn, void *arg, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(arg, msg);
}

int
redact_new(const struct config *cfg, struct redactor **out,
    policy_report_fn fn, void *farg)
{
	struct redactor *r;
	int rc = 0;

	*out = NULL;
	if (cfg->nredacts == 0)
		return 0;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	if ((r->rules = calloc(cfg->nredacts, sizeof(*r->rules))) == NULL ||
	    (r->mctx = pcre2_match_context_create(NULL)) == NULL) {
		redact_free(r);
		return -ENOMEM;
	}
	pcre2_set_match_limit(r->mctx, REDACT_MATCH_LIMIT);
	pcre2_set_depth_limit(r->mctx, REDACT_DEPTH_LIMIT);
	pcre2_set_heap_limit(r->mctx, REDACT_HEAP_LIMIT_KIB);
	for (size_t i = 0; i < cfg->nredacts; i++) {
		const struct config_redact *c = &cfg->redacts[i];
		struct redact_rule *ru = &r->rules[r->nrules++];
		char err[320];
		uint32_t ncap = 0;
		int lrc;

		snprintf(ru->name, sizeof(ru->name), "%s", c->name);
		ru->replace = c->replace;
		if ((lrc = split_list(c->fields != NULL ? c->fields :
		    REDACT_DEFAULT_FIELDS, ru->fields, &ru->nfields)) != 0 ||
		    (lrc = split_list(c->arguments, ru->args,
		    &ru->nargs)) != 0) {
			if (lrc == -ENOMEM) {
				rc = -ENOMEM;
				break;
			}
			report(fn, farg, "%s:%d: [redact:%s]: fields and "
			    "arguments are lists of 1 to %d names separated by "
			    "commas", cfg->path, c->line, c->name,
			    REDACT_LIST_MAX);
			rc = -EINVAL;
			continue;
		}
		for (size_t j = 0; j < ru->nargs; j++) {
			ru->argslen[j] = strlen(ru->args[j]);
			if (strpbrk(ru->args[j], "&<>\"'") != NULL)
				r->always = true;
		}
		if (c->pattern != NULL)
			r->always = true;
		if (c->pattern != NULL) {
			if (compile_pattern(c->pattern, &ru->re, err,
			    sizeof(err)) != 0) {
				report(fn, farg, "%s:%d: [redact:%s]: pattern: "
				    "%s", cfg->path, c->line, c->name, err);
				rc = -EINVAL;
				continue;
			}
			(void)pcre2_pattern_info(ru->re,
			    PCRE2_INFO_CAPTURECOUNT, &ncap);
			ru->group = ncap > 0;
			ru->md = pcre2_match_data_create_from_pattern(ru->re,
			    NULL);
			if (ru->md == NULL) {
				rc = -ENOMEM;
				break;
			}
		}
		if (ru->nargs == 0 && ru->re == NULL) {
			report(fn, farg, "%s:%d: [redact:%s]: nothing to "
			    "redact: give arguments or pattern", cfg->path,
			    c->line, c->name);
			rc = -EINVAL;
			continue;
		}
		if (c->replace == CONFIG_REPLACE_HMAC) {
			if (c->key == NULL || c->key[0] == '\0') {
				report(fn, farg, "%s:%d: [redact:%s]: "
				    "replace = hmac needs key_file", cfg->path,
				    c->line, c->name);
				rc = -EINVAL;
				continue;
			}
			ru->keylen = strlen(c->key);
			if ((ru->key = malloc(ru->keylen)) == NULL) {
				rc = -ENOMEM;
				break;
			}
			memcpy(ru->key, c->key, ru->keylen);
		}
	}
	if (rc != 0) {
		redact_free(r);
		return rc;
	}
	r->dec.max = REDACT_VALUE_MAX + 8;
	*out = r;
	return 0;
}

/* ---- tokens ------------------------------------------------------------- */

/* The token for value v (n bytes) under ru into tok (REDACT_TOKEN_MAX). */
static size_t
make_token(const struct redact_rule *ru, const char *v, size_t n,
    char tok[REDACT_TOKEN_MAX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (ru->replace == CONFIG_REPLACE_REMOVE ||
	    HMAC(EVP_sha256(), ru->key, (int)ru->keylen,
	    (const unsigned char *)v, n, md, &mdlen) == NULL || mdlen < 8) {
		/* An HMAC that cannot be made still must not leak. */
		memcpy(tok, "[redacted]", 10);
		return 10;
	}
	memcpy(tok, "hmac:", 5);
	for (size_t i = 0; i < 8; i++) {
		tok[5 + 2 * i] = hex[md[i] >> 4];
		tok[6 + 2 * i] = hex[md[i] & 15];
	}
	explicit_bzero(md, sizeof(md));
	return 21;
}

size_t
redact_token(const struct redactor *r, size_t rule, const char *v,
    size_t n, char tok[REDACT_TOKEN_MAX])
{
	return make_token(&r->rules[rule], v, n, tok);
}

/* ---- spans ------------------------------------------------------------- */

static int
span_add(struct redactor *r, size_t start, size_t end, size_t rule,
    const char *v, size_t vlen, bool text, const char *prefix,
    size_t prefix_len)
{
	struct span *s;

	if (r->nspans == r->spans_cap &&
	    mem_grow((char **)&r->spans, &r->spans_cap, r->nspans + 1,
	    sizeof(*r->spans)) != 0)
		return -ENOMEM;
	s = &r->spans[r->nspans];
	s->start = start;
	s->end = end;
	s->rule = rule;
	s->text = text;
	s->prefix = prefix;
	s->prefix_len = prefix_len;
	s->voff = r->vals.len;
	s->vlen = vlen;
	if (!text && strbuf_add(&r->vals, v, vlen) != 0)
		return -ENOMEM;
	r->nspans++;
	return 0;
}

static int
span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end > y->end ? -1 : 1;	/* outer first */
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/*
 * Sort and merge the spans of one value of n bytes: a span inside
 * another goes, overlapping ones become their union (hashed as text).
 * More than REDACT_SPANS_MAX: the whole value, one span.
 */
static void
spans_merge(struct redactor *r, size_t n)
{
	size_t k = 0;

	if (r->nspans == 0)
		return;
	qsort(r->spans, r->nspans, sizeof(*r->spans), span_cmp);
	for (size_t i = 1; i < r->nspans; i++) {
		struct span *cur = &r->spans[k], *s = &r->spans[i];

		if (s->start >= cur->end && !(s->start == cur->start &&
		    s->end == cur->end)) {
			r->spans[++k] = *s;
			continue;
		}
		if (s->end <= cur->end)
			continue;	/* inside cur */
		cur->end = s->end;
		cur->text = true;
		cur->prefix = NULL;
		cur->prefix_len = 0;
	}
	r->nspans = k + 1;
	if (r->nspans > REDACT_SPANS_MAX) {
		r->spans[0].start = 0;
		r->spans[0].end = n;
		r->spans[0].text = true;
		r->spans[0].prefix = NULL;
		r->spans[0].prefix_len = 0;
		r->nspans = 1;
	}
}

/* ---- command lines ----------------------------------------------------- */

static int
arg_push(struct redactor *r, size_t dstart)
{
	struct arg *a;

	if (r->nargs == r->args_cap && mem_grow((char **)&r->args,
	    &r->args_cap, r->nargs + 1, sizeof(*r->args)) != 0)
		return -ENOMEM;
	a = &r->args[r->nargs++];
	memset(a, 0, sizeof(*a));
	a->dstart = dstart;
	a->toff = r->atext.len;
	return 0;
}

/* Add byte c, which came from decoded offset pos, to the current arg. */
static int
arg_addc(struct redactor *r, char c, uint32_t pos)
{
	if (r->atext.len + 1 > r->apos_cap && mem_grow((char **)&r->apos,
	    &r->apos_cap, r->atext.len + 1, sizeof(*r->apos)) != 0)
		return -ENOMEM;
	if (strbuf_addc(&r->atext, c) != 0)
		return -ENOMEM;
	r->apos[r->atext.len - 1] = pos;
	r->args[r->nargs - 1].tlen++;
	return 0;
}

/*
 * Split s (n bytes; pos[i] the decoded offset of s[i]) as the MSVC
 * runtime splits a command line, appending the arguments to r->args.
 * argv0: the first argument follows the program name's rule.
 */
static int
split_windows(struct redactor *r, const char *s, const uint32_t *pos,
    size_t n, bool argv0)
{
	size_t i = 0;
	bool first = argv0;

	for (;;) {
		bool inq = false;

		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i >= n)
			return 0;
		if (arg_push(r, pos[i]) != 0)
			return -ENOMEM;
		if (first) {
			first = false;
			if (s[i] == '"') {
				for (i++; i < n && s[i] != '"'; i++)
					if (arg_addc(r, s[i], pos[i]) != 0)
						return -ENOMEM;
				if (i < n)
					i++;
			}
			for (; i < n && s[i] != ' ' && s[i] != '\t'; i++)
				if (arg_addc(r, s[i], pos[i]) != 0)
					return -ENOMEM;
			r->args[r->nargs - 1].dend = pos[i - 1] + 1;
			continue;
		}
		while (i < n && (inq || (s[i] != ' ' && s[i] != '\t'))) {
			if (s[i] == '\\') {
				size_t k = 0;

				while (i + k < n && s[i + k] == '\\')
					k++;
				if (i + k < n && s[i + k] == '"') {
					for (size_t j = 0; j < k / 2; j++)
						if (arg_addc(r, '\\',
						    pos[i + 2 * j]) != 0)
							return -ENOMEM;
					i += k;
					if (k % 2 == 1) {
						if (arg_addc(r, '"',
						    pos[i]) != 0)
							return -ENOMEM;
						i++;
					}
				} else {
					for (size_t j = 0; j < k; j++)
						if (arg_addc(r, '\\',
						    pos[i + j]) != 0)
							return -ENOMEM;
					i += k;
				}
			} else if (s[i] == '"') {
				if (inq && i + 1 < n && s[i + 1] == '"') {
					if (arg_addc(r, '"', pos[i + 1]) != 0)
						return -ENOMEM;
					i += 2;
				} else {
					inq = !inq;
					i++;
				}
			} else {
				if (arg_addc(r, s[i], pos[i]) != 0)
					return -ENOMEM;
				i++;
			}
		}
		r->args[r->nargs - 1].dend = pos[i - 1] + 1;
	}
}

/*
 * Split s into words separated by spaces (and, for unparsed text,
 * white space and '<' too); no quoting: Sysmon for Linux joins argv with
 * spaces.
 */
static int
split_words(struct redactor *r, const char *s, const uint32_t *pos,
    size_t n, bool loose)
{
	size_t i = 0;

#define SEP(c)	((c) == ' ' || (loose && ((c) == '\t' || (c) == '\n' || \
		    (c) == '\r' || (c) == '<' || (c) == '>')))
	for (;;) {
		while (i < n && SEP(s[i]))
			i++;
		if (i >= n)
			return 0;
		if (arg_push(r, pos[i]) != 0)
			return -ENOMEM;
		for (; i < n && !SEP(s[i]); i++)
			if (arg_addc(r, s[i], pos[i]) != 0)
				return -ENOMEM;
		r->args[r->nargs - 1].dend = pos[i - 1] + 1;
		/* Markup ends a run of value words in loose mode. */
		if (loose && i < n && (s[i] == '<' || s[i] == '>')) {
			if (arg_push(r, pos[i]) != 0 || arg_addc(r, '<',
			    pos[i]) != 0)
				return -ENOMEM;
			r->args[r->nargs - 1].dend = pos[i] + 1;
			r->args[r->nargs - 1].used = true;	/* a stop */
			i++;
		}
	}
#undef SEP
}

/* Which argument name of ru arg a is: exactly (eq), or NAME=VALUE. */
static ssize_t
arg_name(const struct redactor *r, const struct redact_rule *ru,
    const struct arg *a, bool *eq)
{
	const char *t = r->atext.s + a->toff;

	for (size_t j = 0; j < ru->nargs; j++) {
		size_t l = ru->argslen[j];

		if (a->tlen == l && memcmp(t, ru->args[j], l) == 0) {
			*eq = true;
			return (ssize_t)j;
		}
		if (a->tlen > l && t[l] == '=' && memcmp(t, ru->args[j], l) ==
		    0) {
			*eq = false;
			return (ssize_t)j;
		}
	}
	return -1;
}

/*
 * The argument spans of rule ru in the command line s (n bytes, pos as
 * above; dec is the whole decoded value the offsets refer to).
 */
static int
scan_cmdline(struct redactor *r, size_t rule, const char *s,
    const uint32_t *pos, size_t n, bool linux_argv, bool loose, int depth)
{
	const struct redact_rule *ru = &r->rules[rule];
	size_t first = r->nargs, tmark = r->atext.len, last;
	int rc;

	rc = linux_argv ? split_words(r, s, pos, n, loose) :
	    split_windows(r, s, pos, n, depth == 0);
	if (rc != 0)
		return rc;
	last = r->nargs;
	for (size_t i = first + (linux_argv || depth > 0 ? 0 : 1); i < last;
	    i++) {
		struct arg *a = &r->args[i];
		bool eq;
		ssize_t j;

		if (a->used || (j = arg_name(r, ru, a, &eq)) < 0)
			continue;
		a->used = true;
		if (!linux_argv) {
			struct arg *v;

			if (!eq) {
				size_t l = ru->argslen[j] + 1;
				if ((rc = span_add(r, a->dstart, a->dend, rule,
				    r->atext.s + a->toff + l, a->tlen - l,
				    false, ru->args[j], l - 1)) != 0)
					return rc;
				continue;
			}
			if (i + 1 >= last)
				continue;
			v = &r->args[i + 1];
			if (arg_name(r, ru, v, &eq) >= 0)
				continue;	/* a name, not a value */
			v->used = true;
			if ((rc = span_add(r, v->dstart, v->dend, rule,
			    r->atext.s + v->toff, v->tlen, false, NULL,
			    0)) != 0)
				return rc;
			i++;
			continue;
		}
		/* Linux: NAME=V or NAME, then words up to the next '-'. */
		{
			size_t start = SIZE_MAX, end = 0, k = i + 1;

			if (!eq && a->tlen > ru->argslen[j] + 1) {
				start = r->apos[a->toff + ru->argslen[j] + 1];
				end = a->dend;
			}
			for (; k < last; k++) {
				struct arg *w = &r->args[k];

				if (w->used || (w->tlen > 0 &&
				    r->atext.s[w->toff] == '-'))
					break;
				w->used = true;
				if (start == SIZE_MAX)
					start = w->dstart;
				end = w->dend;
			}
			if (start != SIZE_MAX && (rc = span_add(r, start, end,
			    rule, NULL, 0, true, NULL, 0)) != 0)
				return rc;
			i = k - 1;
		}
	}
	/* Quoted arguments holding a command line of their own. */
	if (!linux_argv && depth < REDACT_NEST_MAX) {
		for (size_t i = first; i < last; i++) {
			struct arg a = r->args[i];
			char *t;
			uint32_t *p;

			if (a.used || a.tlen == 0 || memchr(r->atext.s + a.toff,
			    ' ', a.tlen) == NULL)
				continue;
			t = malloc(a.tlen);
			p = malloc(a.tlen * sizeof(*p));
			if (t == NULL || p == NULL) {
				free(t);
				free(p);
				return -ENOMEM;
			}
			memcpy(t, r->atext.s + a.toff, a.tlen);
			memcpy(p, r->apos + a.toff, a.tlen * sizeof(*p));
			rc = scan_cmdline(r, rule, t, p, a.tlen, false, false,
			    depth + 1);
			free(t);
			free(p);
			if (rc != 0)
				return rc;
		}
	}
	r->nargs = first;
	strbuf_truncate(&r->atext, tmark);
	return 0;
}

/* The pattern spans of rule ru in s (n bytes at decoded offset base). */
static int
scan_pattern(struct redactor *r, size_t rule, const char *s, size_t n,
    size_t base)
{
	struct redact_rule *ru = &r->rules[rule];
	PCRE2_SIZE off = 0;
	int rc;

	while (off <= n) {
		PCRE2_SIZE *ov, a, b;

		rc = pcre2_match(ru->re, (PCRE2_SPTR)s, n, off, 0, ru->md,
		    r->mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			return 0;
		if (rc < 0) {
			/* Over a limit (or worse): the whole text. */
			r->st.limit_hits++;
			return span_add(r, base, base + n, rule, NULL, 0, true,
			    NULL, 0);
		}
		ov = pcre2_get_ovector_pointer(ru->md);
		a = ov[0];
		b = ov[1];
		if (ru->group && rc > 1 && ov[2] != PCRE2_UNSET) {
			a = ov[2];
			b = ov[3];
		}
		if (b > a && (rc = span_add(r, base + a, base + b, rule, NULL,
		    0, true, NULL, 0)) != 0)
			return rc;
		if (ov[1] > off)
			off = ov[1];
		else {
			/* An empty match: on to the next character. */
			off++;
			while (off < n &&
			    ((unsigned char)s[off] & 0xc0) == 0x80)
				off++;
		}
	}
	return 0;
}

/* ---- the record -------------------------------------------------------- */

/* Whether rule ru names field f (n bytes). */
static bool
rule_has_field(const struct redact_rule *ru, const char *f, size_t n)
{
	for (size_t j = 0; j < ru->nfields; j++)
		if (strlen(ru->fields[j]) == n && memcmp(ru->fields[j], f, n) ==
		    0)
			return true;
	return false;
}

static bool
any_rule_has_field(const struct redactor *r, const char *f, size_t n)
{
	for (size_t i = 0; i < r->nrules; i++)
		if (rule_has_field(&r->rules[i], f, n))
			return true;
	return false;
}

static void
put_utf8(char *o, size_t *k, uint32_t c)
{
	if (c < 0x80) {
		o[(*k)++] = (char)c;
	} else if (c < 0x800) {
		o[(*k)++] = (char)(0xc0 | (c >> 6));
		o[(*k)++] = (char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		o[(*k)++] = (char)(0xe0 | (c >> 12));
		o[(*k)++] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[(*k)++] = (char)(0x80 | (c & 0x3f));
	} else {
		o[(*k)++] = (char)(0xf0 | (c >> 18));
		o[(*k)++] = (char)(0x80 | ((c >> 12) & 0x3f));
		o[(*k)++] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[(*k)++] = (char)(0x80 | (c & 0x3f));
	}
}

/* An entity at p (n bytes, p[0] == '&'): its bytes into o, its length. */
static size_t
entity(const char *p, size_t n, char o[4], size_t *olen)
{
	static const struct {
		const char	*name;
		char		 c;
	} named[] = { { "lt;", '<' }, { "gt;", '>' }, { "amp;", '&' },
	    { "quot;", '"' }, { "apos;", '\'' } };
	uint32_t c = 0;
	size_t i;

	*olen = 0;
	for (size_t j = 0; j < 5; j++) {
		size_t l = strlen(named[j].name);
		if (n > l && memcmp(p + 1, named[j].name, l) == 0) {
			o[0] = named[j].c;
			*olen = 1;
			return l + 1;
		}
	}
	if (n < 4 || p[1] != '#')
		return 0;
	if (p[2] == 'x' || p[2] == 'X') {
		for (i = 3; i < n && i < 12 && p[i] != ';'; i++) {
			int d = p[i] >= '0' && p[i] <= '9' ? p[i] - '0' :
			    p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10 :
			    p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10 : -1;
			if (d < 0)
				return 0;
			c = c * 16 + (uint32_t)d;
		}
		if (i == 3)
			return 0;
	} else {
		for (i = 2; i < n && i < 12 && p[i] != ';'; i++) {
			if (p[i] < '0' || p[i] > '9')
				return 0;
			c = c * 10 + (uint32_t)(p[i] - '0');
		}
		if (i == 2)
			return 0;
	}
	if (i >= n || p[i] != ';' || c == 0 || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	put_utf8(o, olen, c);
	return i + 1;
}

/* Append n decoded bytes p, made from the raw bytes [a, b). */
static int
dec_add(struct redactor *r, const char *p, size_t n, size_t a, size_t b)
{
	if (r->dec.len + n > r->dmap_cap && mem_grow((char **)&r->dmap,
	    &r->dmap_cap, r->dec.len + n, sizeof(*r->dmap)) != 0)
		return -ENOMEM;
	if (r->dec.len + n > r->dend_cap && mem_grow((char **)&r->dend,
	    &r->dend_cap, r->dec.len + n, sizeof(*r->dend)) != 0)
		return -ENOMEM;
	if (strbuf_add(&r->dec, p, n) != 0)
		return r->dec.overflow ? -EFBIG : -ENOMEM;
	for (size_t k = r->dec.len - n; k < r->dec.len; k++) {
		r->dmap[k] = (uint32_t)a;
		r->dend[k] = (uint32_t)b;
	}
	return 0;
}

/*
 * Decode the value at raw[0..n) into r->dec, r->dmap and r->dend.  Return how
 * many raw bytes the value takes (up to the '<' that ends it).
 */
static int
decode_value(struct redactor *r, const char *raw, size_t n, size_t *used)
{
	size_t i = 0;

	strbuf_reset(&r->dec);
	while (i < n) {
		size_t add = 1, take = 1;
		char o[4];
		const char *src = raw + i;

		if (raw[i] == '<') {
			if (n - i >= 9 &&
			    memcmp(raw + i, "<![CDATA[", 9) == 0) {
				const char *e = NULL;
				size_t j;

				for (j = i + 9; j + 2 < n; j++)
					if (memcmp(raw + j, "]]>", 3) == 0) {
						e = raw + j;
						break;
					}
				j = e != NULL ? (size_t)(e - raw) : n;
				for (size_t k = i + 9; k < j; k++) {
					int rc = dec_add(r, raw + k, 1, k,
					    k + 1);
					if (rc != 0)
						return rc;
				}
				i = e != NULL ? j + 3 : n;
				continue;
			}
			break;
		}
		if (raw[i] == '&' && (take = entity(raw + i, n - i, o,
		    &add)) > 0)
			src = o;
		else
			take = add = 1;
		{
			int rc = dec_add(r, src, add, i, i + take);
			if (rc != 0)
				return rc;
		}
		i += take;
	}
	*used = i;
	return 0;
}

/*
 * Where the raw bytes of the decoded span [d, e) start and end: from the
 * start of the raw unit (a byte, an entity) of its first byte to the end
 * of that of its last, so a span never splits an entity.
 */
static void
raw_span(const struct redactor *r, size_t d, size_t e, size_t rawlen,
    size_t *a, size_t *b)
{
	if (e > d) {
		*a = r->dmap[d];
		*b = r->dend[e - 1];
	} else {
		*a = *b = d < r->dec.len ? r->dmap[d] : rawlen;
	}
}

/*
 * Write raw[0..rawlen) to out with the spans (over r->dec, mapped by
 * r->dmap; identity when ident) replaced by their tokens.
 */
static int
emit_spans(struct redactor *r, const char *raw, size_t rawlen, bool ident,
    struct strbuf *out)
{
	size_t at = 0;
	char tok[REDACT_TOKEN_MAX];

	for (size_t i = 0; i < r->nspans; i++) {
		struct span *s = &r->spans[i];
		struct redact_rule *ru = &r->rules[s->rule];
		size_t a = s->start, b = s->end;
		const char *v;
		size_t vn = s->text ? s->end - s->start : s->vlen;
		size_t tl;

		if (!ident)
			raw_span(r, s->start, s->end, rawlen, &a, &b);
		if (!s->text)
			v = r->vals.s + s->voff;
		else if (ident)
			v = raw + s->start;
		else
			v = r->dec.s + s->start;
		if (a < at)
			a = at;
		tl = make_token(ru, v, vn, tok);
		if (strbuf_add(out, raw + at, a - at) != 0 ||
		    (s->prefix != NULL && (strbuf_add(out, s->prefix,
		    s->prefix_len) != 0 || strbuf_addc(out, '=') != 0)) ||
		    strbuf_add(out, tok, tl) != 0)
			return -ENOMEM;
		at = b > a ? b : a;
		ru->values++;
		ru->hit = true;
		r->st.values++;
	}
	return strbuf_add(out, raw + at, rawlen - at) != 0 ? -ENOMEM : 0;
}

/* The spans of every rule naming field (fn bytes) in r->dec. */
static int
scan_value(struct redactor *r, const char *f, size_t fn, bool linux_argv)
{
	const char *s = r->dec.s;
	size_t n = r->dec.len;
	uint32_t *ident = NULL;
	int rc = 0;

	r->nspans = 0;
	strbuf_reset(&r->vals);
	for (size_t i = 0; i < r->nrules && rc == 0; i++) {
		struct redact_rule *ru = &r->rules[i];

		if (!rule_has_field(ru, f, fn))
			continue;
		if (ru->nargs > 0) {
			if (ident == NULL) {
				if ((ident = malloc((n + 1) *
				    sizeof(*ident))) == NULL)
					return -ENOMEM;
				for (size_t k = 0; k < n; k++)
					ident[k] = (uint32_t)k;
			}
			rc = scan_cmdline(r, i, s, ident, n, linux_argv, false,
			    0);
		}
		if (rc == 0 && ru->re != NULL)
			rc = scan_pattern(r, i, s, n, 0);
	}
	free(ident);
	r->nargs = 0;
	strbuf_reset(&r->atext);
	if (rc == 0)
		spans_merge(r, n);
	return rc;
}

/* The whole value replaced by the first rule naming field f. */
static int
whole_value(struct redactor *r, const char *f, size_t fn, size_t n)
{
	r->nspans = 0;
	strbuf_reset(&r->vals);
	for (size_t i = 0; i < r->nrules; i++)
		if (rule_has_field(&r->rules[i], f, fn))
			return span_add(r, 0, n, i, NULL, 0, true, NULL, 0);
	return 0;
}

/*
 * The spans of a rendered message (RenderingInfo/Message, as wevtutil's
 * RenderedXml and EvtFormatMessage write it) in r->dec: Sysmon's message
 * has a line "FIELD: value" per field, so the value of each line whose
 * FIELD a rule lists is searched as that field's value.
 */
static int
scan_message(struct redactor *r, bool linux_argv)
{
	const char *s = r->dec.s;
	size_t n = r->dec.len, ls = 0;
	uint32_t *ident;
	int rc = 0;

	r->nspans = 0;
	strbuf_reset(&r->vals);
	if ((ident = malloc((n + 1) * sizeof(*ident))) == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++)
		ident[k] = (uint32_t)k;
	while (ls < n && rc == 0) {
		const char *nl = memchr(s + ls, '\n', n - ls);
		size_t le = nl != NULL ? (size_t)(nl - s) : n, f = ls, vs;

		while (f < le && (s[f] == ' ' || s[f] == '\t' || s[f] == '\r'))
			f++;
		vs = f;
		while (vs + 1 < le && !(s[vs] == ':' && s[vs + 1] == ' '))
			vs++;
		if (vs + 1 < le) {
			size_t fl = vs - f, ve = le;

			vs += 2;
			while (ve > vs && s[ve - 1] == '\r')
				ve--;
			for (size_t i = 0; i < r->nrules && rc == 0 && ve > vs;
			    i++) {
				struct redact_rule *ru = &r->rules[i];

				if (!rule_has_field(ru, s + f, fl))
					continue;
				if (ru->nargs > 0)
					rc = scan_cmdline(r, i, s + vs, ident +
					    vs, ve - vs, linux_argv, false, 0);
				if (rc == 0 && ru->re != NULL)
					rc = scan_pattern(r, i, s + vs, ve - vs,
					    vs);
			}
		}
		ls = le + 1;
	}
	free(ident);
	r->nargs = 0;
	strbuf_reset(&r->atext);
	if (rc == 0)
		spans_merge(r, n);
	return rc;
}

/*
 * The safety net of a record that does not parse: raw[0..n), outside
 * the Data values already handled, gets every rule's arguments (loose
 * words) and pattern, on its raw bytes.
 */
static int
redact_outside(struct redactor *r, const char *raw, size_t n,
    struct strbuf *out)
{
	uint32_t *ident;
	int rc = 0;

	if (n == 0)
		return 0;
	r->nspans = 0;
	strbuf_reset(&r->vals);
	if ((ident = malloc(n * sizeof(*ident))) == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++)
		ident[k] = (uint32_t)k;
	for (size_t i = 0; i < r->nrules && rc == 0; i++) {
		if (r->rules[i].nargs > 0)
			rc = scan_cmdline(r, i, raw, ident, n, true, true, 0);
		if (rc == 0 && r->rules[i].re != NULL)
			rc = scan_pattern(r, i, raw, n, 0);
	}
	free(ident);
	r->nargs = 0;
	strbuf_reset(&r->atext);
	if (rc != 0)
		return rc;
	spans_merge(r, n);
	return emit_spans(r, raw, n, true, out);
}

/*
 * At raw[i] == '<': a <Data ...> start tag?  Store where its Name
 * attribute's value is and where its content starts; false otherwise.
 */
static bool
data_tag(const char *raw, size_t len, size_t i, const char **name,
    size_t *namelen, size_t *content)
{
	size_t j = i + 5;

	if (len - i < 6 || memcmp(raw + i, "<Data", 5) != 0 ||
	    !(raw[j] == ' ' || raw[j] == '\t' || raw[j] == '\n' ||
	    raw[j] == '\r' || raw[j] == '>' || raw[j] == '/'))
		return false;
	*name = NULL;
	*namelen = 0;
	for (;;) {
		size_t an, as, ns;
		char q;

		while (j < len && (raw[j] == ' ' || raw[j] == '\t' ||
		    raw[j] == '\n' || raw[j] == '\r'))
			j++;
		if (j >= len)
			return false;
		if (raw[j] == '>') {
			*content = j + 1;
			return *name != NULL;
		}
		if (raw[j] == '/')
			return false;	/* <Data .../>: empty */
		ns = j;
		while (j < len && raw[j] != '=' && raw[j] != '>' &&
		    raw[j] != ' ' && raw[j] != '/' && raw[j] != '\t')
			j++;
		an = j - ns;
		while (j < len && (raw[j] == ' ' || raw[j] == '\t'))
			j++;
		if (j >= len || raw[j] != '=')
			return false;
		j++;
		while (j < len && (raw[j] == ' ' || raw[j] == '\t'))
			j++;
		if (j >= len || (raw[j] != '\'' && raw[j] != '"'))
			return false;
		q = raw[j++];
		as = j;
		while (j < len && raw[j] != q)
			j++;
		if (j >= len)
			return false;
		if (an == 4 && memcmp(raw + ns, "Name", 4) == 0) {
			*name = raw + as;
			*namelen = j - as;
		}
		j++;
	}
}

int
redact_record(struct redactor *r, const char *raw, size_t len,
    bool linux_sysmon, bool parsed, struct strbuf *out, bool *changed)
{
	size_t at = 0, i = 0, mark = out->len, msg;
	uint64_t values0 = r->st.values;
	const char *m;
	int rc;

	*changed = false;
	for (size_t k = 0; k < r->nrules; k++)
		r->rules[k].hit = false;
	/* A rendered message repeats the fields: it is searched too. */
	m = memmem(raw, len, "<Message>", 9);
	msg = m != NULL ? (size_t)(m - raw) : SIZE_MAX;
	while (i < len) {
		const char *name = NULL, *lt;
		size_t namelen = 0, content, used;
		bool is_msg = false;

		lt = memmem(raw + i, len - i, "<Data", 5);
		if (msg != SIZE_MAX && msg >= i && (lt == NULL ||
		    msg < (size_t)(lt - raw))) {
			is_msg = true;
			content = msg + 9;
			msg = SIZE_MAX;
		} else if (lt == NULL) {
			break;
		} else {
			i = (size_t)(lt - raw);
			if (!data_tag(raw, len, i, &name, &namelen,
			    &content) || !any_rule_has_field(r, name,
			    namelen)) {
				i++;
				continue;
			}
		}
		/* raw[at..content) is outside any value. */
		if (!parsed)
			rc = redact_outside(r, raw + at, content - at, out);
		else
			rc = strbuf_add(out, raw + at, content - at) != 0 ?
			    -ENOMEM : 0;
		if (rc != 0)
			goto fail;
		rc = decode_value(r, raw + content, len - content, &used);
		if (rc == -EFBIG) {
			/* Too long to search: replaced whole. */
			const char *e = memchr(raw + content, '<',
			    len - content);
			used = e != NULL ? (size_t)(e - raw) - content :
			    len - content;
			strbuf_reset(&r->dec);
			if (is_msg) {
				r->nspans = 0;
				strbuf_reset(&r->vals);
				rc = span_add(r, 0, used, 0, NULL, 0, true,
				    NULL, 0);
			} else {
				rc = whole_value(r, name, namelen, used);
			}
			if (rc != 0)
				goto fail;
			rc = emit_spans(r, raw + content, used, true, out);
		} else if (rc == 0) {
			rc = is_msg ? scan_message(r, linux_sysmon) :
			    scan_value(r, name, namelen, linux_sysmon);
			if (rc == 0)
				rc = emit_spans(r, raw + content, used, false,
				    out);
		}
		if (rc != 0)
			goto fail;
		at = i = content + used;
	}
	if (!parsed)
		rc = redact_outside(r, raw + at, len - at, out);
	else
		rc = strbuf_add(out, raw + at, len - at) != 0 ? -ENOMEM : 0;
	if (rc != 0)
		goto fail;
	if (r->st.values != values0) {
		*changed = true;
		r->st.records++;
		for (size_t k = 0; k < r->nrules; k++)
			if (r->rules[k].hit)
				r->rules[k].records++;
	} else {
		strbuf_truncate(out, mark);
	}
	return 0;

fail:
	strbuf_truncate(out, mark);
	r->st.errors++;
	return -ENOMEM;
}

bool
redact_may_change(const struct redactor *r, const void *data, size_t len)
{
	const char *raw = data;

	if (r == NULL)
		return false;
	if (r->always || memmem(raw, len, "&#", 2) != NULL ||
	    memmem(raw, len, "<![CDATA[", 9) != NULL)
		return true;
	for (size_t i = 0; i < r->nrules; i++)
		for (size_t j = 0; j < r->rules[i].nargs; j++)
			if (memmem(raw, len, r->rules[i].args[j],
			    r->rules[i].argslen[j]) != NULL)
				return true;
	return false;
}

/* Does raw look like a Sysmon for Linux record (no parse at hand)? */
static bool
looks_linux(const char *raw, size_t len)
{
	static const char needle[] = "Linux-Sysmon";
	size_t n = sizeof(needle) - 1;

	for (const char *p = raw; (size_t)(p - raw) + n <= len;) {
		const char *q = memchr(p, 'L', len - (size_t)(p - raw));
		if (q == NULL || (size_t)(q - raw) + n > len)
			return false;
		if (memcmp(q, needle, n) == 0)
			return true;
		p = q + 1;
	}
	return false;
}

int
redact_apply(void *arg, const char *source, const struct sysmon_event *ev,
    const char *raw, size_t len, struct strbuf *out, struct event_tags *tags)
{
	struct redactor *r = arg;
	bool changed;
	int rc;

	(void)source;
	if (r == NULL)
		return 0;
	rc = redact_record(r, raw, len, ev != NULL ? ev->linux_sysmon :
	    looks_linux(raw, len), ev != NULL, out, &changed);
	if (rc != 0)
		return rc;
	if (!changed)
		return 0;
	/* A full tag list still gets the rewritten record. */
	if (tags != NULL && event_tags_add(tags, REDACT_TAG) != 0)
		r->st.tag_overflow++;
	return 1;
}

void
redact_get_stats(const struct redactor *r, struct redact_stats *st)
{
	if (r == NULL) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = r->st;
}

void
redact_each(const struct redactor *r, void (*fn)(void *arg,
    const char *rule, uint64_t records, uint64_t values), void *arg)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrules; i++)
		fn(arg, r->rules[i].name, r->rules[i].records,
		    r->rules[i].values);
}
