"""The dashboards and alert rules in packaging/dashboards/, checked against
the documents they read.

Without Kibana or Splunk at hand, the test checks the files statically:

1. Kibana (kibana/sysmonfwd.ndjson).  Every line is one JSON object with a
   string id and type, an attributes object, and a references list of
   {name, type, id}.  Ids are unique, reference names are unique within an
   object, and every reference resolves to an object of that type in the
   file.  The data view is `logs-sysmonfwd.*` on `@timestamp` and matches
   the data streams the agent writes.  Saved searches: searchSourceJSON
   parses and its indexRefName names a reference.  The dashboard:
   panelsJSON parses; panel ids are unique and equal their gridData.i; the
   grid is 48 columns wide; a panelRefName resolves (as `panel_N`, or in
   the 8.x form `<panelIndex>:panel_N`) to a reference of the panel's
   type; a Lens panel embedded by value has, for each layer, the reference
   `<panelIndex>:indexpattern-datasource-layer-<layer>` on the dashboard
   and the unprefixed one in its own attributes; columnOrder lists exactly
   the layer's columns; every column the visualization or a terms orderBy
   names exists; and every reference of the dashboard is used by a panel.
2. Kibana rules (kibana/rules.md).  Every ```json block parses as a rule
   for POST /api/alerting/rule (name, rule_type_id, consumer, schedule,
   params).  A data view it names is in the NDJSON file.  Every plain
   ``` block (the ES|QL and KQL shown to the reader) is, apart from
   whitespace, the query of one of the JSON rules.
3. Splunk (splunk/).  The dashboard XML parses with xml.etree, is a form
   or dashboard with a label, and every <query> is non-empty, starts with
   the `sysmonfwd_index` macro, and uses only tokens that an input defines.
   The .conf files are read with Splunk's syntax: [stanza] lines, key =
   value, a trailing backslash continues the value on the next line, and
   # comments.  No key appears twice in a stanza.  Every macro the searches
   use is in macros.conf.  Every saved search is a scheduled alert with a
   five-field cron_schedule, a trigger condition, and alert.track = 1.
   Every sourcetype it searches is one the agent sends.
4. Field names.  Every field that a dashboard, saved search or rule names
   must exist in a sample document of the matching form.  The names are
   taken from KQL (`field :`), Lens (sourceField, sortField, column
   filters), saved-search columns and sort, ES|QL and SPL (dotted names,
   and SPL's 'quoted' eval names), and the Wazuh rules
   (packaging/wazuh/rules, `sysmonfwd.*` names in <field> and $(...),
   against the Wazuh form of the documents).  Splunk's own fields (host,
   _time, ...), names the searches compute, and the data view's runtime
   fields are exempt.  A quoted value compared with a field (`field :
   "v"`, `field="v"`) must be a value that field has in the samples, or a
   Sysmon state.  The per-host panels of both dashboards must show the
   heartbeat time, Sysmon state, backlog records and oldest age, dropped
   and lost records, and failing outputs, and both dashboards must have a
   table of Sysmon alerts.
5. README (packaging/dashboards/README.md).  Every field in its field list
   exists in the samples.  Every field the dashboards and rules use is in
   that list.  What its mapping notes rely on holds in the agent's lines:
   every *_s number has a fraction, and date fields are dates, never empty.

sample_documents() is the only source of documents: it runs the real
binary (args.bin) through status_samples.collect(), which makes heartbeats
(Sysmon running, stopped, not installed; an output failing with a backlog
and records dropped), Sysmon alerts (stopped, running again, not
installed, silent) and gap documents, in about 7 s.  Wazuh's field names
are those its JSON decoder extracts from the Wazuh form of these documents
(status_samples.wazuh_form and wazuh_fields).
"""
import fnmatch
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402
import status_samples  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DASH = os.path.join(ROOT, "packaging", "dashboards")
WAZUH_RULES = os.path.join(ROOT, "packaging", "wazuh", "rules",
                           "sysmonfwd_rules.xml")

SYSMON_STATES = {"running", "stopped", "not_installed", "unknown"}
# Where each kind of document lands (README: Elasticsearch, Splunk HEC).
DATA_STREAMS = {"heartbeat": "logs-sysmonfwd.heartbeat-default",
                "alert": "logs-sysmonfwd.alert-default",
                "gap": "logs-sysmonfwd.gap-default"}
SOURCETYPES = {"heartbeat": "sysmonfwd:heartbeat",
               "alert": "sysmonfwd:alert", "gap": "sysmonfwd:gap"}
# Splunk's own fields and the HEC metadata: not in the JSON event.
SPLUNK_BUILTIN = {"host", "source", "sourcetype", "index", "_time", "_raw"}
DATAVIEW_ID = "sysmonfwd-logs"
DASHBOARD_ID = "sysmonfwd-agents-and-sysmon"
# What the per-host panel must show (the brief of the dashboard).
REQUIRED_PER_HOST = ["sysmonfwd.sysmon.state", "sysmonfwd.backlog.records",
                     "sysmonfwd.backlog.oldest_age_s",
                     "sysmonfwd.counters.dropped", "sysmonfwd.gap.records",
                     "sysmonfwd.outputs_failing"]


# ---- the documents ----

def sample_documents(args):
    """Return [(kind, document)]: the heartbeats, Sysmon alerts and gap
    documents the real binary (args.bin) writes to a file output, i.e. as
    Elasticsearch indexes them (less data_stream) and as the Splunk HEC
    output sends them as "event".  kind is "heartbeat", "alert" or "gap"
    (what it is, hence where it lands).  status_samples.collect() says how
    they are made; any problem making them is a failure.  Returns
    (documents, their lines as written, problems)."""
    samples = status_samples.collect(args.bin, args.corpus)
    return ([(k, d) for k, d, _ in samples.docs],
            [l for _, _, l in samples.docs], samples.problems)


SECONDS = re.compile(r'"(\w+_s)":(-?[0-9][0-9.eE+-]*)')
DATES = ("since", "last_record", "changed", "failing_since", "first_time",
         "last_time", "@timestamp")


def check_mapping(ck, docs, lines):
    """What the README's mapping notes rely on: every *_s number is written
    with a fraction (so that Elasticsearch maps it as a floating-point
    field whichever document comes first), and a date field is left out
    rather than empty."""
    for line in lines:
        for name, num in SECONDS.findall(line):
            ck.check("." in num, "%s written without a fraction (%s): %s" %
                     (name, num, it.short(line, 160)))
    for _, d in docs:
        for path, vals in field_values(d).items():
            if path.split(".")[-1] in DATES:
                for v in vals:
                    ck.check(isinstance(v, str) and
                             re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:"
                                      r"\d\d\.\d{3}Z$", v),
                             "%s is not a date: %r" % (path, v))


def wazuh_names(docs):
    """The field names Wazuh's JSON decoder gets from what the Wazuh
    output sends: heartbeats and alerts in their Wazuh form (every member
    under one "sysmonfwd" key), gap documents as they are; arrays of
    objects (sysmonfwd.sources, sysmonfwd.outputs) give no field."""
    names = set()
    for k, d in docs:
        w = status_samples.wazuh_form(d) if k in ("heartbeat", "alert") \
            else d
        names |= set(status_samples.wazuh_fields(w))
    return names


def field_values(doc):
    """{dotted path: [leaf values]} for every object path of doc (lists are
    looked through: "a.b" for {"a":[{"b":1}]})."""
    out = {}

    def walk(v, path):
        if isinstance(v, dict):
            if path:
                out.setdefault(path, [])
            for k, x in v.items():
                walk(x, path + "." + k if path else k)
        elif isinstance(v, list):
            out.setdefault(path, [])
            for x in v:
                if isinstance(x, (dict, list)):
                    walk(x, path)
                else:
                    out[path].append(x)
        else:
            out.setdefault(path, []).append(v)
    walk(doc, "")
    return out


class Fields:
    """The field names (and string values) of a set of documents."""

    def __init__(self, docs):
        self.values = {}
        for d in docs:
            for k, vs in field_values(d).items():
                self.values.setdefault(k, set()).update(
                    v for v in vs if isinstance(v, (str, int, float)))

    def has(self, name):
        return name.replace("{}", "") in self.values

    def value_ok(self, name, value):
        """A string compared with the field is one it takes (or a Sysmon
        state, for the state fields)."""
        vals = self.values.get(name.replace("{}", ""), set())
        strs = {v for v in vals if isinstance(v, str)}
        if not strs:
            return True           # not a string field: nothing to compare
        if name.endswith("sysmon.state") or name.endswith("previous_state"):
            strs = strs | SYSMON_STATES
        return value in strs


# ---- query languages: field names and compared values ----

QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
KQL_FIELD = re.compile(r'(?<![\w.@*])([A-Za-z_@][\w.@]*)\s*:')
KQL_PAIR = re.compile(r'([A-Za-z_@][\w.@]*)\s*:\s*"((?:[^"\\]|\\.)*)"')
DOTTED = re.compile(r'(?<![\w.@$\-*])(@?[A-Za-z_][\w@]*(?:\.[\w@{}]+)+)'
                    r'(?![\w\-*(])')
SPL_SQUOTED = re.compile(r"'([A-Za-z_@][\w.@{}]*)'")
SPL_PAIR = re.compile(r"(?<![\w.])'?([A-Za-z_@][\w.@{}]*)'?\s*(?:==|!=|=)\s*"
                      r'"((?:[^"\\]|\\.)*)"')
ESQL_PAIR = re.compile(r'([A-Za-z_@][\w.@]*)\s*(?:==|!=)\s*'
                       r'"((?:[^"\\]|\\.)*)"')


def kql_fields(q):
    return set(KQL_FIELD.findall(QUOTED.sub('""', q)))


def kql_pairs(q):
    return set(KQL_PAIR.findall(q))


def esql_fields(q):
    """Dotted names and @timestamp of an ES|QL query, its FROM sources
    left out."""
    q = QUOTED.sub('""', q)
    q = re.sub(r'(?i)\bFROM\s+[^|]+', "FROM ", q)
    names = set(DOTTED.findall(q))
    if "@timestamp" in q:
        names.add("@timestamp")
    return names


def spl_fields(q):
    """Dotted field names of an SPL search: outside double-quoted strings
    (values) and backquoted macros, plus 'single-quoted' eval names."""
    names = set(SPL_SQUOTED.findall(q))
    q = re.sub(r"`[^`]*`", " ", q)
    q = SPL_SQUOTED.sub(" ", q)
    q = QUOTED.sub('""', q)
    names |= set(DOTTED.findall(q))
    return {n for n in names if "." in n or n.startswith("@")}


def spl_pairs(q):
    pairs = set(SPL_PAIR.findall(q))
    return {(f.strip("'"), v) for f, v in pairs}


class Uses:
    """The field names a set of files uses, with where."""

    def __init__(self):
        self.fields = {}      # name -> set of places
        self.pairs = {}       # (name, value) -> set of places

    def add(self, names, where):
        for n in names:
            self.fields.setdefault(n, set()).add(where)

    def add_pairs(self, pairs, where):
        for p in pairs:
            self.pairs.setdefault(p, set()).add(where)

    def check(self, ck, fields, exempt, what):
        for name in sorted(self.fields):
            if name in exempt:
                continue
            places = ", ".join(sorted(self.fields[name]))
            ck.check(fields.has(name), "%s: field %s (used in %s) is in no "
                     "sample document" % (what, name, places))
        for (name, value) in sorted(self.pairs):
            if name in exempt or name in ("sourcetype", "source", "index"):
                continue
            if "$" in value or "*" in value:
                continue
            ck.check(fields.value_ok(name, value), "%s: %s compared with %r "
                     "(in %s), a value no sample document has" %
                     (what, name, value,
                      ", ".join(sorted(self.pairs[(name, value)]))))


# ---- Kibana ----

def load_ndjson(ck, path):
    objs = []
    with open(path, "rb") as f:
        data = f.read()
    ck.check(data.endswith(b"\n"), "%s does not end with a newline" % path)
    for i, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            o = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            ck.fail("%s:%d: not JSON: %s" % (path, i, e))
            continue
        if not ck.check(isinstance(o, dict), "%s:%d: not an object" %
                        (path, i)):
            continue
        ok = (isinstance(o.get("id"), str) and o["id"] and
              isinstance(o.get("type"), str) and
              isinstance(o.get("attributes"), dict) and
              isinstance(o.get("references"), list))
        if not ck.check(ok, "%s:%d: needs string id and type, attributes "
                        "and references" % (path, i)):
            continue
        for r in o["references"]:
            ck.check(isinstance(r, dict) and all(
                isinstance(r.get(k), str) and r.get(k)
                for k in ("name", "type", "id")),
                "%s: reference %s lacks name, type or id" % (o["id"], r))
        objs.append(o)
    return objs


def json_attr(ck, o, key):
    """An attribute holding a JSON string, parsed (None if it does not)."""
    v = o["attributes"]
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    try:
        return json.loads(v)
    except (TypeError, ValueError) as e:
        ck.fail("%s: %s is not a JSON string: %s" % (o["id"], key, e))
        return None


def check_lens(ck, pid, attrs, dash_refs, uses, used_refs):
    where = "lens panel %s" % pid
    ck.eq(attrs.get("type"), "lens", "%s: attributes.type" % where)
    state = attrs.get("state", {})
    ds = state.get("datasourceStates", {})
    layers = {}
    for key in ("formBased", "indexpattern"):
        layers.update(ds.get(key, {}).get("layers", {}))
    ck.check(layers, "%s: no form-based layer" % where)
    inner = {r.get("name") for r in attrs.get("references", [])}
    for lid, layer in layers.items():
        name = "indexpattern-datasource-layer-" + lid
        ck.check(name in inner, "%s: attributes.references lacks %s" %
                 (where, name))
        full = pid + ":" + name
        ref = dash_refs.get(full)
        if ck.check(ref is not None, "%s: dashboard references lack %s" %
                    (where, full)):
            used_refs.add(full)
            ck.eq(ref["type"], "index-pattern", "%s: type of %s" %
                  (where, full))
        cols = layer.get("columns", {})
        ck.eq(sorted(layer.get("columnOrder", [])), sorted(cols),
              "%s layer %s: columnOrder vs columns" % (where, lid))
        for cid, col in cols.items():
            f = col.get("sourceField")
            if f and f != "___records___":
                uses.add([f], where)
            sf = col.get("params", {}).get("sortField")
            if sf:
                uses.add([sf], where)
            ob = col.get("params", {}).get("orderBy", {})
            if ob.get("type") == "column":
                ck.check(ob.get("columnId") in cols, "%s: column %s orders "
                         "by unknown column %s" % (where, cid,
                                                   ob.get("columnId")))
            flt = col.get("filter")
            if flt:
                ck.eq(flt.get("language"), "kuery", "%s %s filter language" %
                      (where, cid))
                uses.add(kql_fields(flt.get("query", "")), where)
                uses.add_pairs(kql_pairs(flt.get("query", "")), where)
            for k in ("label", "dataType", "operationType"):
                ck.check(col.get(k), "%s: column %s lacks %s" %
                         (where, cid, k))
        vis = state.get("visualization", {})
        named = set()
        for c in vis.get("columns", []):
            named.add(c.get("columnId"))
        for lay in vis.get("layers", []):
            named.update(lay.get("accessors", []))
            for k in ("xAccessor", "splitAccessor"):
                if lay.get(k):
                    named.add(lay[k])
        if vis.get("accessor"):
            named.add(vis["accessor"])
        for c in named:
            ck.check(c in cols, "%s: the visualization names unknown column "
                     "%s" % (where, c))
    q = state.get("query", {})
    ck.eq(q.get("language"), "kuery", "%s: query language" % where)
    uses.add(kql_fields(q.get("query", "")), where)
    uses.add_pairs(kql_pairs(q.get("query", "")), where)
    return layers


def check_kibana(ck, uses, runtime):
    path = os.path.join(DASH, "kibana", "sysmonfwd.ndjson")
    objs = load_ndjson(ck, path)
    ids = [o["id"] for o in objs]
    for i in sorted(set(ids)):
        ck.check(ids.count(i) == 1, "kibana: id %s used %d times" %
                 (i, ids.count(i)))
    by_id = {o["id"]: o for o in objs}
    for o in objs:
        names = [r["name"] for r in o["references"]]
        ck.check(len(names) == len(set(names)), "%s: reference names "
                 "repeat: %s" % (o["id"], names))
        for r in o["references"]:
            t = by_id.get(r["id"])
            ck.check(t is not None and t["type"] == r["type"],
                     "%s: reference %s -> %s %s is not in the file" %
                     (o["id"], r["name"], r["type"], r["id"]))
    views = [o for o in objs if o["type"] == "index-pattern"]
    ck.eq([v["id"] for v in views], [DATAVIEW_ID], "kibana: data views")
    for v in views:
        a = v["attributes"]
        ck.eq(a.get("title"), "logs-sysmonfwd.*", "data view title")
        ck.eq(a.get("timeFieldName"), "@timestamp", "data view time field")
        uses.add(["@timestamp"], "data view")
        for kind, ds in sorted(DATA_STREAMS.items()):
            ck.check(fnmatch.fnmatchcase(ds, a.get("title", "")),
                     "data view %s does not match %s" % (a.get("title"), ds))
        rt = json_attr(ck, v, "runtimeFieldMap") or {}
        fm = json_attr(ck, v, "fieldFormatMap") or {}
        runtime.update(rt)
        for name in fm:
            ck.check(name in rt or name == "@timestamp", "data view: format "
                     "for unknown field %s" % name)
        for name, spec in rt.items():
            ck.check(spec.get("type") and spec.get("script", {}).get("source"),
                     "runtime field %s lacks type or script" % name)
    searches = {}
    for o in objs:
        if o["type"] != "search":
            continue
        where = "saved search %s" % o["id"]
        ss = json_attr(ck, o, "kibanaSavedObjectMeta.searchSourceJSON") or {}
        ref = ss.get("indexRefName")
        refs = {r["name"]: r for r in o["references"]}
        ck.check(ref in refs and refs[ref]["type"] == "index-pattern",
                 "%s: indexRefName %s is not an index-pattern reference" %
                 (where, ref))
        q = ss.get("query", {})
        ck.eq(q.get("language"), "kuery", "%s query language" % where)
        uses.add(kql_fields(q.get("query", "")), where)
        uses.add_pairs(kql_pairs(q.get("query", "")), where)
        uses.add(o["attributes"].get("columns", []), where)
        uses.add([s[0] for s in o["attributes"].get("sort", [])], where)
        searches[o["id"]] = (q.get("query", ""),
                             o["attributes"].get("columns", []))
    dashes = [o for o in objs if o["type"] == "dashboard"]
    ck.eq([d["id"] for d in dashes], [DASHBOARD_ID], "kibana: dashboards")
    for d in dashes:
        check_dashboard(ck, d, uses, searches)


def check_dashboard(ck, d, uses, searches):
    ck.eq(d["attributes"].get("title"), "sysmonfwd: agents and Sysmon",
          "dashboard title")
    json_attr(ck, d, "optionsJSON")
    json_attr(ck, d, "kibanaSavedObjectMeta.searchSourceJSON")
    panels = json_attr(ck, d, "panelsJSON")
    if not ck.check(isinstance(panels, list) and panels,
                    "dashboard: panelsJSON is not a list of panels"):
        return
    refs = {r["name"]: r for r in d["references"]}
    used, pids = set(), []
    per_host, alert_table = set(), False
    for p in panels:
        pid = p.get("panelIndex")
        pids.append(pid)
        g = p.get("gridData", {})
        ck.eq(g.get("i"), pid, "panel %s: gridData.i" % pid)
        ck.check(all(isinstance(g.get(k), int) for k in "xywh") and
                 g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 48,
                 "panel %s: gridData %s outside 48 columns" % (pid, g))
        ck.check(p.get("type") in ("lens", "search"),
                 "panel %s: type %s needs a plugin (only lens and search "
                 "panels are used)" % (pid, p.get("type")))
        if p.get("panelRefName"):
            name = p["panelRefName"]
            r = refs.get(name) or refs.get("%s:%s" % (pid, name))
            if ck.check(r is not None, "panel %s: panelRefName %s has no "
                        "reference" % (pid, name)):
                used.add(r["name"])
                ck.eq(r["type"], p.get("type"), "panel %s: reference type" %
                      pid)
                if r["type"] == "search" and r["id"] in searches:
                    q, _ = searches[r["id"]]
                    if "sysmonfwd.alert" in q:
                        alert_table = True
        attrs = p.get("embeddableConfig", {}).get("attributes")
        if p.get("type") == "lens":
            if ck.check(attrs is not None, "lens panel %s is not by value" %
                        pid):
                layers = check_lens(ck, pid, attrs, refs, uses, used)
                q = attrs.get("state", {}).get("query", {}).get("query", "")
                if attrs.get("visualizationType") == "lnsDatatable" and \
                        "sysmonfwd.heartbeat" in q:
                    for layer in layers.values():
                        for col in layer.get("columns", {}).values():
                            per_host.add(col.get("sourceField"))
    ck.check(len(pids) == len(set(pids)), "dashboard: panel ids repeat")
    for name in refs:
        ck.check(name in used, "dashboard: reference %s is used by no panel" %
                 name)
    for f in ["host.name", "@timestamp"] + REQUIRED_PER_HOST:
        ck.check(f in per_host, "kibana dashboard: the per-host table does "
                 "not show %s" % f)
    ck.check(alert_table, "kibana dashboard: no table of Sysmon alerts")


FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.M | re.S)


def check_kibana_rules(ck, uses):
    path = os.path.join(DASH, "kibana", "rules.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    blocks = FENCE.findall(text)
    rules, plain = [], []
    for lang, body in blocks:
        if lang == "json":
            try:
                rules.append(json.loads(body))
            except ValueError as e:
                ck.fail("rules.md: a json block does not parse: %s" % e)
        elif lang == "":
            plain.append(body)
    ck.check(len(rules) >= 2, "rules.md: expected the two rules as JSON, "
             "found %d" % len(rules))
    queries = []
    for r in rules:
        where = "rule %r" % r.get("name")
        for k in ("name", "rule_type_id", "consumer", "schedule", "params"):
            ck.check(k in r, "%s lacks %s" % (where, k))
        p = r.get("params", {})
        if p.get("searchType") == "esqlQuery":
            q = p.get("esqlQuery", {}).get("esql", "")
            ck.check(q, "%s: empty ES|QL" % where)
            uses.add(esql_fields(q), where)
            uses.add_pairs(set(ESQL_PAIR.findall(q)), where)
            for src in re.findall(r"(?i)\bFROM\s+([^|]+)", q):
                for pat in src.replace(",", " ").split():
                    ck.check(any(fnmatch.fnmatchcase(ds, pat)
                                 for ds in DATA_STREAMS.values()),
                             "%s: FROM %s matches no sysmonfwd data stream" %
                             (where, pat))
            queries.append(q)
        elif p.get("searchType") == "searchSource":
            sc = p.get("searchConfiguration", {})
            ck.eq(sc.get("index"), DATAVIEW_ID, "%s: data view" % where)
            q = sc.get("query", {}).get("query", "")
            uses.add(kql_fields(q), where)
            uses.add_pairs(kql_pairs(q), where)
            queries.append(q)
        else:
            ck.fail("%s: unexpected searchType %r" % (where,
                                                      p.get("searchType")))
        for k in ("timeField", "termField"):
            if p.get(k):
                uses.add([p[k]], where)
        ck.check(isinstance(p.get("threshold"), list) and
                 p.get("thresholdComparator") and p.get("timeWindowSize") and
                 p.get("timeWindowUnit"), "%s: incomplete condition" % where)
    norm = [" ".join(q.split()) for q in queries]
    for body in plain:
        ck.check(" ".join(body.split()) in norm, "rules.md: the query shown "
                 "as %s is not the query of a JSON rule" % it.short(body, 80))


# ---- Splunk ----

def parse_conf(ck, path):
    """[(stanza, {key: value})] in Splunk's .conf syntax."""
    stanzas, cur = [], None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line, lineno = lines[i], i + 1
        i += 1
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.match(r"^\[([^\]]+)\]$", s)
        if m:
            cur = (m.group(1), {})
            stanzas.append(cur)
            continue
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + "\n" + lines[i]
            i += 1
        m = re.match(r"^\s*([\w.:-]+)\s*=\s?(.*)$", line, re.S)
        if not ck.check(m and cur is not None, "%s:%d: not a key = value "
                        "line inside a stanza: %s" % (path, lineno,
                                                      it.short(s, 60))):
            continue
        key, value = m.group(1), m.group(2).strip()
        ck.check(key not in cur[1], "%s:%d: [%s] %s set twice" %
                 (path, lineno, cur[0], key))
        cur[1][key] = value
    return stanzas


def check_spl(ck, q, where, uses, macros):
    uses.add(spl_fields(q), where)
    uses.add_pairs(spl_pairs(q), where)
    for m in re.findall(r"`([\w.:-]+)(?:\([^`]*\))?`", q):
        ck.check(m in macros, "%s: macro %s is not in macros.conf" %
                 (where, m))
    for st in re.findall(r'sourcetype\s*=\s*"?([\w:*-]+)', q):
        ck.check(st in SOURCETYPES.values(), "%s: sourcetype %s is not one "
                 "sysmonfwd sends" % (where, st))


def check_splunk(ck, uses):
    sdir = os.path.join(DASH, "splunk")
    macros = dict(parse_conf(ck, os.path.join(sdir, "macros.conf")))
    ck.check("sysmonfwd_index" in macros and
             macros["sysmonfwd_index"].get("definition") == "index=*",
             "macros.conf: sysmonfwd_index must default to index=*")
    saved = parse_conf(ck, os.path.join(sdir, "savedsearches.conf"))
    ck.eq(len(saved), 2, "savedsearches.conf: number of alerts")
    for name, kv in saved:
        where = "saved search [%s]" % name
        q = kv.get("search", "")
        ck.check(q.startswith("`sysmonfwd_index`"), "%s: search does not "
                 "start with `sysmonfwd_index`" % where)
        check_spl(ck, q, where, uses, macros)
        ck.eq(kv.get("enableSched"), "1", "%s enableSched" % where)
        ck.eq(kv.get("alert.track"), "1", "%s alert.track" % where)
        ck.eq(len(kv.get("cron_schedule", "").split()), 5,
              "%s: fields of cron_schedule" % where)
        ck.check(kv.get("alert_condition") or
                 all(kv.get(k) for k in ("counttype", "relation",
                                         "quantity")),
                 "%s: no alert condition" % where)
        ck.check(kv.get("dispatch.earliest_time"), "%s: no time range" %
                 where)
    names = " ".join(n for n, _ in saved).lower()
    ck.check("heartbeat" in names and "not running" in names,
             "savedsearches.conf: the two alerts are the heartbeat and the "
             "Sysmon-not-running one")
    path = os.path.join(sdir, "sysmonfwd_dashboard.xml")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        ck.fail("%s: %s" % (path, e))
        return
    ck.check(root.tag in ("form", "dashboard"), "dashboard root is <%s>" %
             root.tag)
    ck.check((root.findtext("label") or "").strip(), "dashboard: no label")
    tokens = {"tr.earliest", "tr.latest"} if root.find(
        ".//input[@type='time'][@token='tr']") is not None else set()
    for inp in root.iter("input"):
        if inp.get("type") != "time":
            tokens.add(inp.get("token"))
    per_host, alert_table = "", False
    for n, search in enumerate(root.iter("search"), 1):
        where = "dashboard search %d" % n
        q = (search.findtext("query") or "").strip()
        if not ck.check(q, "%s: empty query" % where):
            continue
        ck.check(q.startswith("`sysmonfwd_index`"), "%s: does not start "
                 "with `sysmonfwd_index`" % where)
        for el in search:
            for tok in re.findall(r"\$([\w.]+)\$", el.text or ""):
                ck.check(tok in tokens, "%s: token $%s$ is not defined" %
                         (where, tok))
        check_spl(ck, q, where, uses, macros)
    for panel in root.iter("panel"):
        table = panel.find("table")
        if table is None:
            continue
        q = table.findtext("search/query") or ""
        if 'sourcetype="sysmonfwd:alert"' in q and \
                "sysmonfwd.sysmon.state" in q:
            alert_table = True
        if "BY host" in q and 'sourcetype="sysmonfwd:heartbeat"' in q:
            per_host = q
    for f in ["_time"] + REQUIRED_PER_HOST:
        ck.check(f in per_host, "splunk dashboard: the per-host table does "
                 "not show %s" % f)
    ck.check(alert_table, "splunk dashboard: no table of Sysmon alerts")


# ---- Wazuh rules (read only: they live in packaging/wazuh) ----

def check_wazuh(ck, names):
    if not os.path.exists(WAZUH_RULES):
        ck.skip_or_fail("no %s: Wazuh field names not checked" %
                        WAZUH_RULES)
        return
    with open(WAZUH_RULES, encoding="utf-8") as f:
        text = f.read()
    used = set(re.findall(r'<field name="(sysmonfwd\.[^"]+)"', text))
    used |= set(re.findall(r"\$\((sysmonfwd\.[^)]+)\)", text))
    for n in sorted(used):
        ck.check(n in names, "packaging/wazuh rules: field %s is not a "
                 "field Wazuh decodes from what the Wazuh output sends "
                 "(heartbeats and alerts in Wazuh form, gap documents)" % n)


# ---- README ----

def check_readme(ck, used, fields, exempt):
    with open(os.path.join(DASH, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Fields\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not ck.check(m, "README.md: no '## Fields' section"):
        return
    listed = set(re.findall(r"^\| `([^`]+)`", m.group(1), re.M))
    ck.check(listed, "README.md: the field list is empty")
    for n in sorted(listed):
        ck.check(fields.has(n), "README.md lists %s, which no sample "
                 "document has" % n)
    for n in sorted(used):
        if n in exempt:
            continue
        ck.check(n in listed, "README.md: field %s is used but not listed" %
                 n)


def main():
    args = it.parse_args()
    ck = it.Checker("dashboards")
    docs, lines, problems = sample_documents(args)
    ck.problems(problems, "sample documents")
    kinds = {k for k, _ in docs}
    ck.check({"heartbeat", "alert", "gap"} <= kinds,
             "sample documents lack a kind: have %s" % sorted(kinds))
    es = Fields([d for _, d in docs])
    for k, d in docs:
        ck.check(isinstance(d.get("@timestamp"), str) and
                 d.get("host", {}).get("name"),
                 "sample %s lacks @timestamp or host.name" % k)
    runtime = {}
    kib, spl = Uses(), Uses()
    check_kibana(ck, kib, runtime)
    check_kibana_rules(ck, kib)
    check_splunk(ck, spl)
    kib.check(ck, es, set(runtime), "kibana")
    spl.check(ck, es, SPLUNK_BUILTIN, "splunk")
    check_wazuh(ck, wazuh_names(docs))
    check_mapping(ck, docs, lines)
    check_readme(ck, set(kib.fields) | set(spl.fields), es,
                 set(runtime) | SPLUNK_BUILTIN)
    ck.note("%d fields used by Kibana objects and rules, %d by Splunk" %
            (len(kib.fields), len(spl.fields)))
    ck.finish()


if __name__ == "__main__":
    main()
