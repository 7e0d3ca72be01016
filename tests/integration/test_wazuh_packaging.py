"""The Wazuh manager files in packaging/wazuh/ (decoders, rules, install.sh).

There is no Wazuh here, so this test checks the files statically and by
emulation, against the real Sysmon for Linux lines of the corpus:

1. Every XML file is well-formed as Wazuh's XML reader (os_xml) sees it:
   os_xml takes "\\<" inside an element as the two characters "\\<" (an
   escaped "<"), where a standard parser would open an element, so "\\<" is
   rewritten "\\&lt;" and the file is wrapped in one root element before
   xml.etree parses it.  No <var> is declared (os_xml would then expand
   every "$"), no comment contains "!>" (os_xml ends comments there).
2. Decoders: the Windows decoder file holds exactly one decoder, named
   windows_eventchannel, with type ossec, prematch ^{"win": and plugin
   JSON_Decoder, nothing else, in a file whose name sorts before
   0006-json_decoders.xml; it claims every {"win":...} fixture line of
   Wazuh's ruleset tests and none of the other kinds of event.  Linux
   decoders: every <parent> exists, same-named children are contiguous
   (Wazuh's sibling groups) and only the first of a group has a prematch,
   each regex has as many groups as <order> fields, field names follow the
   sysmon.<lowerCamel> scheme and are unique within a group (also ignoring
   case: Wazuh looks fields up case-insensitively), no static field name
   is used, only the last group lacks a prematch, and every capture group
   is followed by \\< (see below).
3. The Linux child decoders are emulated with Python re and run on every
   Sysmon for Linux line of linux-syslog/ (with and without its CR): each
   line is claimed by the parent, the group of its EventID is chosen, and
   every extracted field equals what xml.etree reads from the same line
   (after undoing XML character references, which Wazuh keeps); every
   field of the group's list that the record has is extracted.
   Translation of the OS_Regex subset used (case-insensitive, like Wazuh):
   \\d -> [0-9], \\w -> [A-Za-z0-9@_-], \\s -> " ", \\S -> [^ ], \\. -> any
   character, \\< \\( \\) \\\\ \\$ \\| -> the literal character, "+" and "*"
   after a class -> lazy +? and *? (OS_Regex moves on to the rest of the
   pattern as soon as it matches, backtracking a little), a bare character
   -> itself ("." is a literal dot), "(" ")" -> a group, "^" and "$" at the
   ends of an alternative -> anchors, "|" -> alternatives.  Because every
   capture is followed by \\< and an XML text value never holds a raw "<",
   lazy, greedy and OS_Regex's limited backtracking all end a capture at
   the same place, so the translation is exact for these patterns.
   Pre-decoding is emulated for the one header format used
   ("Mmm dd HH:MM:SS host prog[pid]: msg").
4. Rules: the ID range is read from the rules file ("ID range: A - B") and
   must be the README's; ids are unique and in it; every if_sid names a
   rule of ours; decoded_as names our decoders or the stock json one; only
   base rules (no if_sid, with decoded_as) are level 0; no field twice in a
   rule; every pattern translates; every $(field) of a description is a
   field the rule's events have; the README's sed command for moving the
   range keeps the file consistent.  The rule tree is emulated the way
   analysisd orders it (children by level, level 0 first, then file order,
   first match wins) on every corpus line, on variants built from real lines
   that should trigger each example detection, on a parse-error document
   made by the real binary (--bin), and on the heartbeats, Sysmon alerts
   and gap documents the real binary makes (status_samples.py: a stand-in
   Sysmon killed and started again, a ring that overflows; their Wazuh
   form, derived as agent/render/render_status.c renders it, is checked against what the
   agent's Wazuh output sends to a test server); the field names used by
   the JSON rules exist in those documents, as Wazuh's JSON decoder
   extracts them (no arrays of objects).  Whatever the state of Sysmon, a
   heartbeat reaches no rule above level 3: the level-12 rules fire on
   alerts only.
5. README: each logtest/ example line appears verbatim in README.md and
   in the corpus where it came from; the README's table of expected
   decoder, rule, level and decoded fields equals the emulation (for the
   Windows line: the decoder and Wazuh's own fixture expectation).  The
   gap, heartbeat and alert lines were made by the agent: each has the
   same fields, event and state as a document of the same kind the binary
   makes now.
6. install.sh: sh -n, shellcheck when installed; run into a temporary fake
   manager (etc/ossec.conf, etc/decoders/, etc/rules/ and a stock file
   whose content and mtime must not change): installs with mode 0660, a
   second run changes nothing and says "unchanged", --check changes
   nothing (also when an update is pending), a file of the same name
   without the marker is not overwritten, --uninstall removes only our
   files, a directory without etc/ossec.conf is refused, WAZUH_HOME works.
"""
import glob
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from xml.sax.saxutils import unescape

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402
import status_samples  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PKG = os.path.join(ROOT, "packaging", "wazuh")
WIN_DECODER_FILE = "0005-sysmonfwd_decoders.xml"
LINUX_DECODER_FILE = "0005-sysmonfwd-linux_decoders.xml"
RULES_FILE = "sysmonfwd_rules.xml"
MARKER = "sysmonfwd-wazuh-package"
LINUX_PARENT = "sysmonfwd-sysmon-linux"

# Stock decoders the emulation needs (ruleset/decoders, Wazuh 4.14.7):
# 0005-wazuh_decoders.xml "wazuh" (no program name) and
# 0006-json_decoders.xml "json".
STOCK_NOPNAME_DECODERS = [
    ("0005-wazuh_decoders.xml", "wazuh", r"^wazuh: |^ossec: "),
    ("0006-json_decoders.xml", "json", r'^{\s*"'),
]
STOCK_DECODER_NAMES = {"json", "windows_eventchannel"}
# Order names analysisd maps to static fields (decode-xml.c): not ours.
STATIC_FIELDS = {"srcuser", "dstuser", "user", "srcip", "dstip", "srcport",
                 "dstport", "protocol", "action", "id", "url", "data",
                 "extra_data", "status", "system_name"}
SYSTEM_FIELDS = {"eventID": "EventID", "eventRecordID": "EventRecordID",
                 "computer": "Computer"}
# What each Linux group must extract when the record has it (README).
GROUP_FIELDS = {
    "1": ["processGuid", "processId", "image", "commandLine",
          "currentDirectory", "user", "parentProcessGuid", "parentProcessId",
          "parentImage", "parentCommandLine", "parentUser"],
    "3": ["processGuid", "processId", "image", "user", "protocol",
          "initiated", "sourceIp", "sourceHostname", "sourcePort",
          "destinationIp", "destinationHostname", "destinationPort"],
    "5": ["processGuid", "processId", "image", "user"],
    "11": ["processGuid", "processId", "image", "targetFilename", "user"],
    "23": ["processGuid", "processId", "image", "targetFilename", "user"],
}
EID_RULE = {"1": 100501, "3": 100502, "5": 100503, "11": 100504,
            "23": 100505, "4": 100506, "16": 100508}


# ---- Wazuh XML as os_xml reads it ----

def read_wazuh_xml(ck, path):
    """Return the root's children (or None) of a Wazuh XML file."""
    name = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for m in re.finditer(r"<!--(.*?)-->", text, re.S):
        ck.check("!>" not in m.group(1), "%s: a comment contains '!>', "
                 "where Wazuh's XML reader ends comments" % name)
    bare = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    ck.check(not re.search(r"<var[\s>]", bare), "%s: declares a <var>: "
             "Wazuh would then expand every '$' of the file" % name)
    wrapped = "<root>" + text.replace("\\<", "\\&lt;") + "</root>"
    try:
        root = ET.fromstring(wrapped)
    except ET.ParseError as e:
        ck.fail("%s: not well-formed (as os_xml reads it): %s" % (name, e))
        return None
    ck.checks += 1
    return list(root)


def children_text(elem):
    return [(c.tag, (c.text or "")) for c in elem]


# ---- OS_Regex / OS_Match emulation ----

OSREGEX_CLASSES = {"d": "[0-9]", "D": "[^0-9]", "w": "[A-Za-z0-9@_-]",
                   "W": "[^A-Za-z0-9@_-]", "s": " ", "S": "[^ ]",
                   ".": ".", "t": "\t"}
OSREGEX_LITERAL_ESCAPES = "()\\$|<"


def split_alternatives(pat):
    alts, cur, i = [], "", 0
    while i < len(pat):
        if pat[i] == "\\" and i + 1 < len(pat):
            cur += pat[i:i + 2]
            i += 2
        elif pat[i] == "|":
            alts.append(cur)
            cur = ""
            i += 1
        else:
            cur += pat[i]
            i += 1
    alts.append(cur)
    return alts


def osregex_to_re(pat):
    """Python regex for an OS_Regex pattern (the subset in the doc string)."""
    parts = []
    for alt in split_alternatives(pat):
        begin = alt.startswith("^")
        if begin:
            alt = alt[1:]
        end = alt.endswith("$") and not alt.endswith("\\$")
        if end:
            alt = alt[:-1]
        out, i, depth = "", 0, 0
        while i < len(alt):
            c = alt[i]
            if c == "\\":
                if i + 1 >= len(alt):
                    raise ValueError("trailing backslash in %r" % pat)
                n = alt[i + 1]
                i += 2
                if n in OSREGEX_CLASSES:
                    atom = OSREGEX_CLASSES[n]
                    if i < len(alt) and alt[i] in "+*":
                        atom += alt[i] + "?"
                        i += 1
                elif n in OSREGEX_LITERAL_ESCAPES:
                    atom = re.escape(n)
                else:
                    raise ValueError("escape \\%s not in the emulated "
                                     "subset (%r)" % (n, pat))
                out += atom
            elif c == "(":
                if depth:
                    raise ValueError("nested group in %r" % pat)
                depth += 1
                out += "("
                i += 1
            elif c == ")":
                depth -= 1
                out += ")"
                i += 1
            elif c in "+*":
                raise ValueError("'%s' after a plain character in %r (a "
                                 "literal in OS_Regex, not emulated)" %
                                 (c, pat))
            else:
                out += re.escape(c)
                i += 1
        if depth:
            raise ValueError("unbalanced group in %r" % pat)
        parts.append("(?:%s%s%s)" % ("^" if begin else "", out,
                                     r"\Z" if end else ""))
    return re.compile("|".join(parts), re.IGNORECASE | re.DOTALL)


def osmatch_to_re(pat):
    """Python regex for an OS_Match (sregex) pattern: literals, ^ $ |."""
    parts = []
    for alt in pat.split("|"):
        begin = alt.startswith("^")
        end = alt.endswith("$")
        core = alt[1 if begin else 0:len(alt) - 1 if end else len(alt)]
        parts.append("(?:%s%s%s)" % ("^" if begin else "", re.escape(core),
                                     r"\Z" if end else ""))
    return re.compile("|".join(parts), re.IGNORECASE | re.DOTALL)


SYSLOG_HEADER = re.compile(
    r"^(?P<ts>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}) "
    r"(?P<host>\S+) (?P<prog>[^\s\[:]+)(?:\[[0-9]+\])?: (?P<log>.*)$",
    re.S)


def predecode(line):
    """(program_name, hostname, log) like analysisd's syslog pre-decoder
    for the "Mmm dd HH:MM:SS host prog[pid]: msg" header; no header:
    (None, None, line)."""
    m = SYSLOG_HEADER.match(line)
    if m is None:
        return None, None, line
    return m.group("prog"), m.group("host"), m.group("log")


# ---- decoders ----

class Decoder:
    def __init__(self, elem, fname):
        self.file = fname
        self.name = elem.get("name")
        self.attrs = dict(elem.attrib)
        self.opts = children_text(elem)
        d = {}
        for tag, text in self.opts:
            d.setdefault(tag, []).append(text)
        self.d = d

    def one(self, tag):
        v = self.d.get(tag)
        return v[0] if v else None


def load_decoders(ck):
    decs = []
    for path in sorted(glob.glob(os.path.join(PKG, "decoders", "*.xml"))):
        fname = os.path.basename(path)
        elems = read_wazuh_xml(ck, path)
        if elems is None:
            continue
        for e in elems:
            if e.tag is ET.Comment:
                continue
            if not ck.check(e.tag == "decoder", "%s: root element <%s> is "
                            "not <decoder>" % (fname, e.tag)):
                continue
            decs.append(Decoder(e, fname))
    return decs


class LinuxDecoder:
    """The parent and its sibling groups, emulated like DecodeEvent()."""

    def __init__(self, parent, groups):
        self.parent = parent
        self.pname = osmatch_to_re(parent.one("program_name"))
        self.prematch = osregex_to_re(parent.one("prematch"))
        self.groups = []          # (name, prematch re or None, [(re, fields)])
        for name, members in groups:
            pm = members[0].one("prematch")
            regs = [(osregex_to_re(m.one("regex")),
                     [f.strip() for f in m.one("order").split(",")])
                    for m in members]
            self.groups.append((name, osregex_to_re(pm) if pm else None,
                                regs))

    def decode(self, line):
        """None, or (group name, {field: raw value}, program_name, host)."""
        prog, host, log = predecode(line)
        if prog is None or not self.pname.search(prog):
            return None
        if not self.prematch.search(log):
            return None
        for name, pm, regs in self.groups:
            if pm is not None and not pm.search(log):
                continue
            fields = {}
            for rx, order in regs:
                m = rx.search(log)
                if m is None:
                    continue
                for f, v in zip(order, m.groups()):
                    fields[f] = v
            return name, fields, prog, host
        return LINUX_PARENT, {}, prog, host


def check_decoders(ck, decs):
    """Static checks; returns the LinuxDecoder emulation (or None)."""
    files = sorted({d.file for d in decs})
    ck.eq(files, sorted([LINUX_DECODER_FILE, WIN_DECODER_FILE]),
          "decoder files")
    # Windows decoder, exactly as measured on a real manager.
    win = [d for d in decs if d.file == WIN_DECODER_FILE]
    if ck.eq(len(win), 1, "decoders in " + WIN_DECODER_FILE):
        w = win[0]
        ck.eq(w.attrs, {"name": "windows_eventchannel"},
              "Windows decoder attributes")
        ck.eq(sorted(w.opts), sorted([("type", "ossec"),
                                      ("prematch", '^{"win":'),
                                      ("plugin_decoder", "JSON_Decoder")]),
              "Windows decoder options")
    ck.check(WIN_DECODER_FILE < "0006-json_decoders.xml",
             "%s does not sort before 0006-json_decoders.xml" %
             WIN_DECODER_FILE)
    for path in glob.glob(os.path.join(PKG, "decoders", "*.xml")):
        with open(path, encoding="utf-8") as f:
            ck.check(MARKER in f.read(), "%s lacks the installer marker" %
                     path)

    # Linux decoders.
    lin = [d for d in decs if d.file == LINUX_DECODER_FILE]
    parents = [d for d in lin if "parent" not in d.d]
    if not ck.eq([p.name for p in parents], [LINUX_PARENT],
                 "Linux parent decoders"):
        return None
    parent = parents[0]
    ck.check(parent.one("program_name") is not None and
             parent.one("prematch") is not None,
             "the Linux parent needs program_name and prematch")
    known = {d.name for d in decs if "parent" not in d.d}
    groups, seen_names = [], set()
    for d in lin:
        if d is parent:
            continue
        ck.check(d.one("parent") in known, "decoder %s: parent %r does not "
                 "exist" % (d.name, d.one("parent")))
        ck.check("use_own_name" not in d.d, "decoder %s: use_own_name "
                 "(the rules expect the parent's name)" % d.name)
        if groups and groups[-1][0] == d.name:
            groups[-1][1].append(d)
            ck.check("prematch" not in d.d, "decoder %s: only the first of "
                     "a sibling group may have a prematch (Wazuh refuses "
                     "it)" % d.name)
        else:
            ck.check(d.name not in seen_names and d.name not in known,
                     "decoder name %s used twice, not contiguously" % d.name)
            seen_names.add(d.name)
            groups.append((d.name, [d]))
        regex, order = d.one("regex"), d.one("order")
        if not ck.check(regex and order and len(d.d["regex"]) == 1,
                        "decoder %s: needs exactly one regex and an order" %
                        d.name):
            continue
        try:
            rx = osregex_to_re(regex)
        except ValueError as e:
            ck.fail("decoder %s: %s" % (d.name, e))
            continue
        fields = [f.strip() for f in order.split(",")]
        ck.eq(rx.groups, len(fields), "decoder %s: groups in %r vs order "
              "fields" % (d.name, regex))
        for f in fields:
            ck.check(f not in STATIC_FIELDS and
                     re.fullmatch(r"sysmon\.[a-z][A-Za-z]*", f),
                     "decoder %s: field %r is not sysmon.<lowerCamel>" %
                     (d.name, f))
        # Each capture must end at \< (see the doc string).
        for m in re.finditer(r"\((.*?)\)", regex):
            ck.check(m.group(1) in ("\\.*", "\\d+"), "decoder %s: "
                     "capture %s is not (\\.*) or (\\d+)" % (d.name,
                                                             m.group(0)))
            ck.check(regex[m.end():].startswith("\\<"), "decoder %s: "
                     "capture %s is not followed by \\<" % (d.name,
                                                             m.group(0)))
    for name, members in groups:
        fields = [f.strip() for m in members
                  for f in (m.one("order") or "").split(",")]
        lower = [f.lower() for f in fields]
        ck.eq(len(set(lower)), len(lower), "group %s: duplicate fields "
              "(case-insensitively) %s" % (name, fields))
    no_pm = [i for i, (n, ms) in enumerate(groups) if "prematch" not in
             ms[0].d]
    ck.eq(no_pm, [len(groups) - 1], "only the last Linux group may lack a "
          "prematch")
    try:
        return LinuxDecoder(parent, groups)
    except ValueError as e:
        ck.fail("Linux decoder emulation: %s" % e)
        return None


def nopname_decoder_for(decs, line):
    """Which decoder without program name claims a line (load order)."""
    table = [(d.file, d.name, d.one("prematch")) for d in decs
             if "parent" not in d.d and "program_name" not in d.d]
    table += STOCK_NOPNAME_DECODERS
    for fname, name, pm in sorted(table, key=lambda t: t[0]):
        if osregex_to_re(pm).search(line):
            return name
    return None


# ---- corpus ----

def linux_lines(corpus):
    out = []
    for path in sorted(glob.glob(os.path.join(corpus, "linux-syslog", "**",
                                              "*"), recursive=True)):
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            for i, raw in enumerate(f.read().split(b"\n"), 1):
                if b"<Event>" in raw:
                    out.append(("%s:%d" % (os.path.relpath(path, corpus), i),
                                raw.decode("utf-8")))
    return out


def windows_fixture_lines(corpus):
    """[(file, line number, json text, rule, level)] of Wazuh's fixtures."""
    out = []
    for path in sorted(glob.glob(os.path.join(
            corpus, "reference", "wazuh-ruleset-tests", "*.ini"))):
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for i, l in enumerate(lines):
            m = re.match(r"log \d+ pass = (\{.*)$", l)
            if m is None:
                continue
            rule = level = None
            for follow in lines[i + 1:i + 4]:
                if follow.startswith("rule = "):
                    rule = int(follow[7:])
                elif follow.startswith("alert = "):
                    level = int(follow[8:])
            out.append((os.path.basename(path), i + 1, m.group(1), rule,
                        level))
    return out


def xml_unescape(v):
    return unescape(v, {"&quot;": '"', "&apos;": "'"})


def check_linux_corpus(ck, lindec, corpus, tree):
    lines = linux_lines(corpus)
    ck.check(len(lines) >= 50, "only %d Sysmon for Linux lines found" %
             len(lines))
    counts = {}
    for where, line in lines:
        exp = it.expected_from_line(line.encode("utf-8"))
        eid = exp["event_id"]
        counts[eid] = counts.get(eid, 0) + 1
        stripped = line.rstrip("\r")
        res = lindec.decode(stripped)
        if not ck.check(res is not None, "%s: not claimed by %s" %
                        (where, LINUX_PARENT)):
            continue
        if line != stripped:
            ck.eq(lindec.decode(line)[:2], res[:2], where +
                  ": decoding changes with the CR")
        group, fields, prog, host = res
        ck.eq(prog, "sysmon", where + " program_name")
        want_group = "%s-eid%s" % (LINUX_PARENT, eid) if eid in \
            GROUP_FIELDS else LINUX_PARENT + "-other"
        ck.eq(group, want_group, where + " decoder group")
        data = dict(exp["data"])
        want = {"sysmon.eventID": eid, "sysmon.computer":
                exp["computer_name"], "sysmon.eventRecordID":
                exp["record_id"]}
        for f, v in fields.items():
            ck.check("<" not in v, "%s: %s holds a raw '<': %r" %
                     (where, f, v))
            name = f.split(".", 1)[1]
            if name in SYSTEM_FIELDS:
                ck.eq(v, want[f], "%s %s" % (where, f))
            else:
                dn = name[0].upper() + name[1:]
                ck.eq(xml_unescape(v), data.get(dn), "%s %s (Data %s)" %
                      (where, f, dn))
        for f in want:
            ck.check(f in fields, "%s: %s not extracted" % (where, f))
        for name in GROUP_FIELDS.get(eid, []):
            dn = name[0].upper() + name[1:]
            if dn in data:
                ck.check("sysmon." + name in fields, "%s: sysmon.%s not "
                         "extracted" % (where, name))
        if eid == "4":
            ck.eq(fields.get("sysmon.state"), data.get("State"),
                  where + " sysmon.state")
        if eid == "16":
            ck.eq(fields.get("sysmon.configuration"),
                  data.get("Configuration"), where + " sysmon.configuration")
        # The rule chain.
        fired = tree.evaluate(LINUX_PARENT, fields)
        want_rule = EID_RULE.get(eid, 100509)
        if eid == "4" and data.get("State") == "Stopped":
            want_rule = 100507
        ck.eq(fired and fired[0], want_rule, where + " rule (EventID %s)" %
              eid)
    for eid in GROUP_FIELDS:
        ck.check(counts.get(eid, 0) >= 2, "corpus: only %d lines of "
                 "EventID %s" % (counts.get(eid, 0), eid))
    ck.note("Linux corpus: %d lines, by EventID %s" % (
        len(lines), dict(sorted(counts.items(), key=lambda kv:
                                int(kv[0])))))
    return lines


# ---- rules ----

class Rule:
    def __init__(self, elem, index):
        self.index = index
        self.id = int(elem.get("id"))
        self.level = int(elem.get("level"))
        self.attrs = dict(elem.attrib)
        self.if_sid = [int(x) for x in re.split(r"[,\s]+",
                                                (elem.findtext("if_sid")
                                                 or "").strip()) if x]
        self.decoded_as = elem.findtext("decoded_as")
        self.fields = [(f.get("name"), f.text or "", dict(f.attrib))
                       for f in elem.findall("field")]
        self.description = elem.findtext("description") or ""
        self.tags = [c.tag for c in elem]
        self.children = []
        self.compiled = None


class RuleTree:
    """Our rules, ordered and matched the way analysisd does it."""

    def __init__(self, rules):
        self.rules = {r.id: r for r in rules}
        self.top = [r for r in rules if not r.if_sid]
        for r in rules:
            for p in r.if_sid:
                if p in self.rules:
                    self.rules[p].children.append(r)
        for r in rules:
            r.children.sort(key=self.priority)
            r.compiled = [(n, osregex_to_re(p)) for n, p, _ in r.fields]

    @staticmethod
    def priority(r):
        # rules.c: level 0 is loaded as 99, then everything times 100;
        # children are kept highest first, equal levels in file order.
        return (-(99 if r.level == 0 else r.level), r.index)

    @staticmethod
    def _matches(r, decoder, fields):
        if r.decoded_as is not None and r.decoded_as != decoder:
            return False
        low = {k.lower(): v for k, v in fields.items()}
        for name, rx in r.compiled:
            v = low.get(name.lower())
            if v is None or not rx.search(v):
                return False
        return True

    def _descend(self, r, decoder, fields):
        for c in r.children:
            if self._matches(c, decoder, fields):
                return self._descend(c, decoder, fields)
        return r

    def evaluate(self, decoder, fields):
        """(rule id, level) of the deepest matching rule, or None."""
        for r in sorted(self.top, key=self.priority):
            if self._matches(r, decoder, fields):
                got = self._descend(r, decoder, fields)
                return got.id, got.level
        return None


def load_rules(ck, text=None):
    path = os.path.join(PKG, "rules", RULES_FILE)
    if text is None:
        elems = read_wazuh_xml(ck, path)
    else:
        root = ET.fromstring("<root>" + text.replace("\\<", "\\&lt;") +
                             "</root>")
        elems = list(root)
    if elems is None:
        return []
    rules = []
    for g in elems:
        if g.tag is ET.Comment:
            continue
        if not ck.check(g.tag == "group" and list(g.attrib) == ["name"],
                        "rules: root element <%s %s> is not <group name>" %
                        (g.tag, g.attrib)):
            continue
        for r in g:
            if r.tag is ET.Comment:
                continue
            if ck.check(r.tag == "rule", "rules: <%s> inside a group" %
                        r.tag):
                rules.append(Rule(r, len(rules)))
    return rules


def rule_range(text):
    m = re.search(r"ID range: (\d+) - (\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_rules(ck, rules, text, readme, decoder_fields):
    rng = rule_range(text)
    if not ck.check(rng is not None, "rules file has no 'ID range: A - B'"):
        return None
    lo, hi = rng
    ck.check(100000 <= lo <= hi <= 120000, "range %s outside Wazuh's "
             "100000-120000 for local rules" % (rng,))
    ck.check("%d–%d" % (lo, hi) in readme or "%d-%d" % (lo, hi) in readme,
             "README does not state the rule range %d-%d" % (lo, hi))
    ids = [r.id for r in rules]
    ck.eq(len(ids), len(set(ids)), "rule ids unique")
    ck.check(len(rules) >= 20, "only %d rules" % len(rules))
    for r in rules:
        w = "rule %d" % r.id
        ck.check(lo <= r.id <= hi, w + ": outside the range")
        ck.check(0 <= r.level <= 16, w + ": level %d" % r.level)
        ck.check(set(r.attrs) <= {"id", "level"}, w + ": attributes %s" %
                 r.attrs)
        for p in r.if_sid:
            ck.check(p in ids, w + ": if_sid %d is not a rule here" % p)
        if r.decoded_as is not None:
            ck.check(r.decoded_as in decoder_fields or r.decoded_as in
                     STOCK_DECODER_NAMES, w + ": decoded_as %r unknown" %
                     r.decoded_as)
        if not r.if_sid:
            ck.check(r.decoded_as is not None and r.level == 0, w + ": a "
                     "rule without if_sid must be a level-0 base rule with "
                     "decoded_as")
        else:
            ck.check(r.level != 0, w + ": a level-0 child would be tried "
                     "before its siblings")
        names = [n for n, _, _ in r.fields]
        ck.eq(len(names), len(set(names)), w + ": a field twice")
        for n, p, attrs in r.fields:
            ck.check(attrs == {"name": n}, w + ": field attributes %s" %
                     attrs)
            try:
                osregex_to_re(p)
            except ValueError as e:
                ck.fail("%s field %s: %s" % (w, n, e))
        ck.check(r.description.strip() != "", w + ": no description")
        ck.check(str(r.id) in readme, w + ": not in the README's table")
    # The catch-all child of the Linux base is tried last: lowest level of
    # its siblings and last in the file.
    kids = [r for r in rules if 100500 in r.if_sid]
    catch = [r for r in kids if ("sysmon.eventID", r"^\d+$") in
             [(n, p) for n, p, _ in r.fields]]
    if ck.eq(len(catch), 1, "catch-all rules under 100500"):
        c = catch[0]
        ck.check(c is kids[-1] and all(c.level <= k.level for k in kids),
                 "rule %d (catch-all) must be the last child of 100500 "
                 "with the lowest level" % c.id)
    try:
        return RuleTree(rules)
    except ValueError as e:
        ck.fail("rule emulation: %s" % e)
        return None


def family_of(tree, r):
    while r.if_sid:
        r = tree.rules[r.if_sid[0]]
    return r.id


def check_descriptions(ck, tree, family_fields):
    for r in tree.rules.values():
        have = family_fields.get(family_of(tree, r))
        if have is None:
            ck.fail("rule %d: no sample events for its family" % r.id)
            continue
        for m in re.finditer(r"\$\(([^)]+)\)", r.description):
            ck.check(m.group(1) in have, "rule %d: description uses "
                     "$(%s), which its events do not have" %
                     (r.id, m.group(1)))
        for n, _, _ in r.fields:
            ck.check(n in have, "rule %d: field %s does not exist in its "
                     "events" % (r.id, n))


def check_range_move(ck, text):
    """The README's sed command (s/1005\\([0-9][0-9]\\)/1017\\1/g)."""
    moved = re.sub(r"1005([0-9][0-9])", r"1017\1", text)
    sub = it.Checker("range-move", max_print=0)
    rules = load_rules(sub, moved)
    rng = rule_range(moved)
    ok = rng == (101700, 101799) and rules and not sub.failures
    ids = {r.id for r in rules}
    ok = ok and all(101700 <= i <= 101799 for i in ids)
    ok = ok and all(p in ids for r in rules for p in r.if_sid)
    ck.check(ok, "the README's sed command for moving the rule range "
             "leaves an inconsistent file (%s, %s)" % (rng, sub.failures))


# ---- JSON documents ----

def flatten_json(doc):
    """Fields as Wazuh's JSON decoder makes them (readJSON; see
    status_samples.wazuh_fields)."""
    return status_samples.wazuh_fields(doc)


def parse_error_doc(ck, args, tmp):
    """A parse-error document made by the real binary."""
    inp = os.path.join(tmp, "bad.log")
    with open(inp, "wb") as f:
        f.write(b"Oct 24 17:05:38 web01 sysmon: <Event><System>broken\n")
    cfg = it.write_config(os.path.join(tmp, "pe.conf"), it.file_config(
        os.path.join(tmp, "pe-state"),
        [("sysmon", {"type": "file", "path": inp, "follow": "false"})],
        [("out", {"type": "stdout"})]))
    res = it.run(args.bin, ["-c", cfg, "--once"], timeout=30)
    docs, problems = it.parse_ndjson_bytes(res.stdout)
    ck.eq(res.returncode, 0, "binary exit code (parse-error document)")
    ck.check(not problems and len(docs) == 1, "binary output: %s %s" %
             (problems, it.short(res.stdout)))
    return docs[0] if docs and isinstance(docs[0], dict) else None


def status_rule(w):
    """(rule, level) a heartbeat or alert in Wazuh form must reach."""
    s = w["sysmonfwd"]
    kind, act = s["event"]["kind"], s["event"]["action"]
    state = s["sysmon"]["state"]
    if kind == "metric":
        return (100560, 0) if state == "running" else (100566, 3)
    if act == "sysmon-silent":
        return (100563, 12)
    return {"stopped": (100561, 12), "not_installed": (100562, 12),
            "unknown": (100564, 6)}.get(state, (100565, 5))


def status_cases(ck, samples):
    """[(what, Wazuh-form document, rule, level)] for the heartbeats and
    alerts of the real binary, plus copies of real ones whose state is
    "unknown" (the stand-in cannot make Sysmon's state unknown)."""
    out = []
    for kind, d, line in samples.docs:
        if kind == "gap":
            continue
        try:
            w = json.loads(status_samples.wazuh_text(line))
        except ValueError as e:
            ck.fail("Wazuh form of %s: %s" % (it.short(line, 80), e))
            continue
        what = "%s %s %s" % (kind, w["sysmonfwd"]["event"]["action"],
                             w["sysmonfwd"]["sysmon"]["state"])
        out.append((what, w) + status_rule(w))
    for what, w, _, _ in list(out):
        if w["sysmonfwd"]["sysmon"]["state"] == "stopped":
            u = json.loads(json.dumps(w))
            u["sysmonfwd"]["sysmon"]["state"] = "unknown"
            out.append((what + " (made unknown)", u) + status_rule(u))
    return out


def gap_rule(doc):
    n = doc["sysmonfwd"]["gap"]["records"]
    return (100543, 12) if n >= 1000 else (100542, 10)


def check_json_docs(ck, args, tmp, tree, decs, samples):
    """Returns {family base rule: set of field names} for JSON rules."""
    pe = parse_error_doc(ck, args, tmp)
    with open(os.path.join(PKG, "logtest", "parse-error.log"),
              encoding="utf-8") as f:
        pe_example = json.loads(f.read())
    with open(os.path.join(PKG, "logtest", "gap.log"),
              encoding="utf-8") as f:
        gap = json.loads(f.read())
    if pe is not None:
        ck.eq(sorted(flatten_json(pe)), sorted(flatten_json(pe_example)),
              "fields of logtest/parse-error.log vs the binary's document")
        ck.eq(pe.get("tags"), ["sysmonfwd_parse_error"], "parse-error tags")
    small_gap = json.loads(json.dumps(gap))
    small_gap["sysmonfwd"]["gap"]["records"] = 7
    cases = [("parse error (binary)", pe, 100541, 5),
             ("logtest/parse-error.log", pe_example, 100541, 5),
             ("logtest/gap.log", gap, 100543, 12),
             ("gap.log with 7 records", small_gap, 100542, 10)]
    # Gap documents go to Wazuh as the file output writes them.
    cases += [("gap of %d records (binary)" %
               d["sysmonfwd"]["gap"]["records"], d) + gap_rule(d)
              for d in samples.of("gap")]
    status = status_cases(ck, samples)
    cases += status
    fam = {}
    for what, doc, rule, level in cases:
        if doc is None:
            continue
        line = json.dumps(doc, separators=(",", ":"))
        ck.eq(nopname_decoder_for(decs, line), "json", "decoder of %s" %
              what)
        fields = flatten_json(doc)
        got = tree.evaluate("json", fields)
        ck.eq(got, (rule, level), "rule for %s: %s" %
              (what, it.short(line, 160)))
        if got:
            base = family_of(tree, tree.rules[got[0]])
            fam.setdefault(base, set()).update(fields)
    # However Sysmon is, a heartbeat never raises a level-12 alert.
    for what, doc, _, _ in status:
        if doc["sysmonfwd"]["event"]["kind"] != "metric":
            continue
        for st in sorted(status_samples.SYSMON_STATES):
            v = json.loads(json.dumps(doc))
            v["sysmonfwd"]["sysmon"]["state"] = st
            got = tree.evaluate("json", flatten_json(v))
            ck.check(got is not None and got[1] <= 3, "a heartbeat saying "
                     "%s reaches %s (level above 3)" % (st, got))
    for base in (100540, 100560):
        ck.check(base in fam, "no sample document reached rule %d" % base)
    return fam


def check_logtest_real(ck, samples):
    """The logtest/ lines made by the agent have the fields a document of
    the same kind made now has, and the same event and state."""
    fresh = status_samples.logtest_lines(samples)
    for name, line in sorted(fresh.items()):
        with open(os.path.join(PKG, "logtest", name), encoding="utf-8") as f:
            have = json.loads(f.read())
        if not ck.check(line is not None, "no fresh sample for logtest/%s" %
                        name):
            continue
        now = json.loads(line)
        ck.eq(sorted(flatten_json(have)), sorted(flatten_json(now)),
              "fields of logtest/%s vs the same document from the binary "
              "now" % name)
        for k in ("event.kind", "event.action", "event.dataset",
                  "sysmon.state", "sysmon.previous_state", "gap.reason",
                  "agent.type"):
            for key in (k, "sysmonfwd." + k):
                a, b = flatten_json(have).get(key), flatten_json(now).get(key)
                if a is not None or b is not None:
                    ck.eq(a, b, "logtest/%s %s vs the binary now" %
                          (name, key))


# ---- README examples ----

README_ROW = re.compile(r"^\| `logtest/([\w.-]+)` \| `([\w-]+)` \| (\d+) \| "
                        r"(\d+) \| (.*) \|$", re.M)


def check_examples(ck, readme, decs, lindec, tree, corpus):
    examples = sorted(os.listdir(os.path.join(PKG, "logtest")))
    rows = {m.group(1): m for m in README_ROW.finditer(readme)}
    ck.eq(sorted(rows), examples, "README table rows vs logtest/ files")
    corpus_linux = {l.rstrip("\r") for _, l in linux_lines(corpus)}
    fixtures = {(f, n): (js, r, lv) for f, n, js, r, lv in
                windows_fixture_lines(corpus)}
    for name in examples:
        with open(os.path.join(PKG, "logtest", name), encoding="utf-8") as f:
            data = f.read()
        lines = data.split("\n")
        if not ck.check(len(lines) == 2 and lines[1] == "", "logtest/%s: "
                        "not exactly one line with a newline" % name):
            continue
        line = lines[0]
        ck.check("\n" + line + "\n" in readme, "logtest/%s: the line is not "
                 "verbatim in README.md" % name)
        m = rows.get(name)
        if m is None:
            continue
        decoder, rule, level = m.group(2), int(m.group(3)), int(m.group(4))
        documented = re.findall(r"`([\w.]+)=([^`]*)`", m.group(5))
        ck.check(len(documented) >= 3, "README row %s: few fields" % name)
        if name.startswith("linux-"):
            ck.check(line in corpus_linux, "logtest/%s is not a corpus "
                     "line" % name)
            res = lindec.decode(line)
            if not ck.check(res is not None, name + ": not decoded"):
                continue
            fields = res[1]
            ck.eq(LINUX_PARENT, decoder, name + " decoder")
        else:
            fields = flatten_json(json.loads(line))
            ck.eq(nopname_decoder_for(decs, line), decoder, name +
                  " decoder")
        for k, v in documented:
            ck.eq(fields.get(k), v, "README row %s field %s" % (name, k))
        if decoder == "windows_eventchannel":
            src = [(js, r, lv) for js, r, lv in fixtures.values()
                   if js == line]
            if ck.check(len(src) == 1, name + ": not one of Wazuh's "
                        "fixture lines"):
                ck.eq((src[0][1], src[0][2]), (rule, level), name +
                      ": rule/level vs the fixture's expectation")
        else:
            ck.eq(tree.evaluate(decoder, fields), (rule, level), name +
                  ": emulated rule/level")


def check_windows_fixtures(ck, decs, corpus):
    """Wazuh's fixtures, as compact JSON (what the agent sends), are all
    claimed by windows_eventchannel; the pretty-printed ones as written
    ("{ "win": ...") are not: the prematch is ^{"win": exactly."""
    fx = windows_fixture_lines(corpus)
    ck.check(len(fx) >= 140, "only %d Windows fixture lines" % len(fx))
    compact = spaced = 0
    for f, n, js, _, _ in fx:
        try:
            doc = json.loads(js)
        except ValueError:
            continue
        if "win" not in doc:
            continue
        line = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        ck.eq(nopname_decoder_for(decs, line), "windows_eventchannel",
              "decoder of fixture %s:%d (compact)" % (f, n))
        if js.startswith('{"win":'):
            compact += 1
            ck.eq(nopname_decoder_for(decs, js), "windows_eventchannel",
                  "decoder of fixture %s:%d" % (f, n))
        else:
            spaced += 1
            ck.eq(nopname_decoder_for(decs, js), "json",
                  "decoder of pretty-printed fixture %s:%d" % (f, n))
    ck.check(compact >= 100, "only %d compact {\"win\": fixtures" % compact)
    ck.note("Windows fixtures: %d compact, %d pretty-printed (claimed by "
            "windows_eventchannel only once compacted)" % (compact, spaced))


# ---- detections on variants of real lines ----

def set_data(line, name, value):
    new, n = re.subn(r'(<Data Name="%s">)[^<]*(</Data>)' % name,
                     lambda m: m.group(1) + value + m.group(2), line)
    if n != 1:
        raise ValueError("no Data %s in the line" % name)
    return new


def check_detections(ck, lindec, tree, corpus):
    by_eid = {}
    for _, line in linux_lines(corpus):
        line = line.rstrip("\r")
        eid = it.expected_from_line(line.encode())["event_id"]
        if "202-u20" in line:
            by_eid.setdefault(eid, line)
    e1, e3, e11 = by_eid.get("1"), by_eid.get("3"), by_eid.get("11")
    if not ck.check(e1 and e3 and e11, "corpus lines for EventIDs 1, 3, "
                    "11 of 202-u20-dev-agent not found"):
        return
    py_tts = ("/usr/bin/python3.10 /srv/index-tts/webui.py --port 7860 "
              "--model_dir checkpoints")
    cases = [
        ("shell from IndexTTS python", e1, {
            "Image": "/usr/bin/bash", "CommandLine": "bash -c id",
            "ParentImage": "/usr/bin/python3.10",
            "ParentCommandLine": py_tts}, 100520),
        ("python without a service command line", e1, {
            "Image": "/usr/bin/bash", "ParentImage": "/usr/bin/python3",
            "ParentCommandLine": "python3 /usr/local/bin/backup.py"},
         100501),
        ("shell from nginx", e1, {
            "Image": "/usr/bin/dash", "ParentImage": "/usr/sbin/nginx"},
         100521),
        ("run from /dev/shm", e1, {"Image": "/dev/shm/.x/upd4t3"}, 100522),
        ("reverse shell", e3, {"Image": "/usr/bin/bash", "Initiated":
                               "true"}, 100523),
        ("bash accepting", e3, {"Image": "/usr/bin/bash", "Initiated":
                                "false"}, 100502),
        ("cron file", e11, {"TargetFilename": "/etc/cron.d/updater"},
         100524),
        ("authorized_keys", e11, {"TargetFilename":
                                  "/root/.ssh/authorized_keys"}, 100524),
        ("script in /tmp", e11, {"TargetFilename": "/tmp/x/run.sh"}, 100525),
        ("log in /tmp", e11, {"TargetFilename": "/tmp/e11.log"}, 100504),
        ("script name in a subdirectory", e11, {
            "TargetFilename": "/tmp/a.sh.d/notes.txt"}, 100504),
    ]
    for what, base, changes, rule in cases:
        line = base
        for k, v in changes.items():
            line = set_data(line, k, v)
        res = lindec.decode(line)
        if not ck.check(res is not None, what + ": not decoded"):
            continue
        got = tree.evaluate(LINUX_PARENT, res[1])
        ck.eq(got and got[0], rule, "detection case %r" % what)


# ---- install.sh ----

def snapshot(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            st = os.stat(p)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = (fh.read(), st.st_mtime_ns,
                                                 stat.S_IMODE(st.st_mode),
                                                 st.st_ino)
    return out


def snap_diff(a, b):
    """Names of the files that differ between two snapshots, and how."""
    out = []
    for k in sorted(set(a) | set(b)):
        if k not in a:
            out.append("%s: appeared" % k)
        elif k not in b:
            out.append("%s: disappeared" % k)
        else:
            what = [n for n, x, y in zip(("content", "mtime", "mode",
                                          "inode"), a[k], b[k]) if x != y]
            if what:
                out.append("%s: %s changed" % (k, ", ".join(what)))
    return out


def same_snap(ck, a, b, what):
    ck.eq(snap_diff(a, b), [], what)


def run_install(argv, env_extra=None):
    env = dict(os.environ)
    env.pop("WAZUH_HOME", None)
    if env_extra:
        env.update(env_extra)
    return subprocess.run(["sh", os.path.join(PKG, "install.sh")] + argv,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=env, timeout=60, universal_newlines=True)


def fake_manager(base):
    os.makedirs(os.path.join(base, "etc", "decoders"))
    os.makedirs(os.path.join(base, "etc", "rules"))
    with open(os.path.join(base, "etc", "ossec.conf"), "w") as f:
        f.write("<ossec_config>\n  <ruleset>\n"
                "    <decoder_dir>ruleset/decoders</decoder_dir>\n"
                "    <rule_dir>ruleset/rules</rule_dir>\n"
                "    <decoder_dir>etc/decoders</decoder_dir>\n"
                "    <rule_dir>etc/rules</rule_dir>\n"
                "  </ruleset>\n</ossec_config>\n")
    stock = [os.path.join(base, "etc", "rules", "local_rules.xml"),
             os.path.join(base, "etc", "decoders", "local_decoder.xml")]
    for p in stock:
        with open(p, "w") as f:
            f.write("<!-- stock file, must not change -->\n")
        os.chmod(p, 0o660)
        os.utime(p, ns=(1500000000 * 10**9, 1500000000 * 10**9))
    return stock


def installed_names():
    return ([os.path.join("etc", "decoders", WIN_DECODER_FILE),
             os.path.join("etc", "decoders", LINUX_DECODER_FILE),
             os.path.join("etc", "rules", RULES_FILE)])


def check_install(ck, tmp):
    script = os.path.join(PKG, "install.sh")
    with open(script, encoding="utf-8") as f:
        text = f.read()
    ck.check(text.startswith("#!/bin/sh\n") and "\nset -eu\n" in text,
             "install.sh: not a /bin/sh script with set -eu")
    res = subprocess.run(["sh", "-n", script], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True)
    ck.eq(res.returncode, 0, "sh -n install.sh: %s" % res.stdout)
    if shutil.which("shellcheck"):
        res = subprocess.run(["shellcheck", "-s", "sh", script],
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT,
                             universal_newlines=True)
        ck.eq(res.returncode, 0, "shellcheck install.sh: %s" % res.stdout)
    else:
        ck.skip_or_fail("shellcheck is not installed: install.sh was not "
                        "linted")
    m = re.search(r'^DECODERS="([^"]*)"$', text, re.M)
    m2 = re.search(r'^RULES="([^"]*)"$', text, re.M)
    ck.eq(sorted(m.group(1).split()) if m else None,
          sorted(os.listdir(os.path.join(PKG, "decoders"))),
          "install.sh DECODERS vs decoders/")
    ck.eq(sorted(m2.group(1).split()) if m2 else None,
          sorted(os.listdir(os.path.join(PKG, "rules"))),
          "install.sh RULES vs rules/")

    mgr = os.path.join(tmp, "manager")
    stock = fake_manager(mgr)
    before = snapshot(mgr)
    sources = {n: os.path.join(PKG, n.split(os.sep)[1], os.path.basename(n))
               for n in installed_names()}

    # --check on a fresh manager writes nothing.
    res = run_install(["--prefix", mgr, "--check"])
    ck.eq(res.returncode, 0, "--check (fresh): %s" % res.stdout)
    same_snap(ck, before, snapshot(mgr),
              "--check (fresh) changed the manager")
    ck.eq(res.stdout.count("would be installed"), 3, "--check (fresh) "
          "output: %s" % res.stdout)

    # First install.
    res = run_install(["--prefix", mgr])
    ck.eq(res.returncode, 0, "first install: %s" % res.stdout)
    after1 = snapshot(mgr)
    for n, src in sources.items():
        with open(src, "rb") as f:
            want = f.read()
        got = after1.get(n)
        if ck.check(got is not None, "not installed: " + n):
            ck.eq(got[0], want, n + " content")
            ck.eq(oct(got[2]), oct(0o660), n + " mode")
    for p in stock:
        rel = os.path.relpath(p, mgr)
        ck.eq(after1.get(rel), before.get(rel), "stock file %s changed" %
              rel)
    ck.eq(sorted(after1), sorted(set(before) | set(sources)),
          "files after the first install")
    ck.check("wazuh-logtest" in res.stdout and "restart" in res.stdout,
             "first install does not say how to restart and test: %s" %
             res.stdout)

    # Second install: nothing changes.
    res = run_install(["--prefix", mgr])
    ck.eq(res.returncode, 0, "second install: %s" % res.stdout)
    same_snap(ck, after1, snapshot(mgr),
              "the second install changed something")
    ck.eq(res.stdout.count("unchanged:"), 3, "second install output: %s" %
          res.stdout)

    # --check with an update pending changes nothing; then the update.
    rules_dst = os.path.join(mgr, "etc", "rules", RULES_FILE)
    with open(rules_dst, "a") as f:
        f.write("<!-- local edit -->\n")
    pending = snapshot(mgr)
    res = run_install(["--check"], {"WAZUH_HOME": mgr})
    ck.eq(res.returncode, 0, "--check (pending): %s" % res.stdout)
    same_snap(ck, pending, snapshot(mgr),
              "--check (pending) changed the manager")
    ck.check("would be updated: " + rules_dst in res.stdout,
             "--check (pending) output: %s" % res.stdout)
    res = run_install([], {"WAZUH_HOME": mgr})
    ck.eq(res.returncode, 0, "update via WAZUH_HOME: %s" % res.stdout)
    ck.eq({k: v[0] for k, v in snapshot(mgr).items()},
          {k: v[0] for k, v in after1.items()}, "content after the update")

    # A file of ours' name without the marker is not overwritten.
    other = os.path.join(tmp, "other")
    fake_manager(other)
    foreign = os.path.join(other, "etc", "rules", RULES_FILE)
    with open(foreign, "w") as f:
        f.write("<group name=\"site,\"></group>\n")
    snap = snapshot(other)
    res = run_install(["--prefix", other])
    ck.check(res.returncode != 0, "a foreign %s was overwritten: %s" %
             (RULES_FILE, res.stdout))
    with open(foreign) as f:
        ck.eq(f.read(), "<group name=\"site,\"></group>\n",
              "foreign file content")
    same_snap(ck, snap, snapshot(other), "a refused install wrote")
    res = run_install(["--prefix", other, "--uninstall"])
    ck.check(res.returncode != 0, "a foreign %s was removed: %s" %
             (RULES_FILE, res.stdout))
    same_snap(ck, snap, snapshot(other), "a refused uninstall removed")

    # Uninstall removes only ours.
    cur = snapshot(mgr)
    res = run_install(["--prefix", mgr, "--uninstall", "--check"])
    ck.eq(res.returncode, 0, "--uninstall --check: %s" % res.stdout)
    same_snap(ck, cur, snapshot(mgr), "--uninstall --check changed files")
    ck.eq(res.stdout.count("would remove:"), 3, "--uninstall --check "
          "output: %s" % res.stdout)
    res = run_install(["--prefix", mgr, "--uninstall"])
    ck.eq(res.returncode, 0, "--uninstall: %s" % res.stdout)
    same_snap(ck, before, snapshot(mgr), "after --uninstall (stock files "
              "and their mtimes must be as before)")
    res = run_install(["--prefix", mgr, "--uninstall"])
    ck.eq(res.returncode, 0, "second --uninstall: %s" % res.stdout)
    same_snap(ck, before, snapshot(mgr),
              "after the second --uninstall")

    # Not a manager: refused, nothing written; --force accepts it.
    notmgr = os.path.join(tmp, "notmgr")
    os.makedirs(os.path.join(notmgr, "etc", "decoders"))
    os.makedirs(os.path.join(notmgr, "etc", "rules"))
    res = run_install(["--prefix", notmgr])
    ck.check(res.returncode != 0 and "ossec.conf" in res.stdout,
             "a directory without etc/ossec.conf was accepted: %s" %
             res.stdout)
    ck.eq(snapshot(notmgr), {}, "files written into a non-manager")
    res = run_install(["--prefix", notmgr, "--force"])
    ck.eq(res.returncode, 0, "--force: %s" % res.stdout)
    ck.eq(sorted(snapshot(notmgr)), sorted(installed_names()),
          "files after --force")
    res = run_install(["--prefix", os.path.join(tmp, "missing")])
    ck.check(res.returncode != 0, "a missing prefix was accepted")
    res = run_install(["--bogus"])
    ck.eq(res.returncode, 2, "unknown option exit code")


def main():
    args = it.parse_args()
    ck = it.Checker("test_wazuh_packaging")
    with open(os.path.join(PKG, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for phrase in ("100 events", "30 requests", "65,535", "Wazuh 5.0",
                   "events_ingest", "wazuh-logtest", "Verified on a real "
                   "manager", "Not run on a manager"):
        ck.check(phrase in readme, "README does not mention %r" % phrase)

    decs = load_decoders(ck)
    lindec = check_decoders(ck, decs)
    with open(os.path.join(PKG, "rules", RULES_FILE), encoding="utf-8") as f:
        rules_text = f.read()
    ck.check(MARKER in rules_text, "rules file lacks the installer marker")
    rules = load_rules(ck)
    linux_fields = set()
    for d in decs:
        if d.file == LINUX_DECODER_FILE and d.one("order"):
            linux_fields.update(f.strip() for f in d.one("order").split(","))
    tree = check_rules(ck, rules, rules_text, readme,
                       {LINUX_PARENT: linux_fields})
    check_range_move(ck, rules_text)
    check_windows_fixtures(ck, decs, args.corpus)
    tmp = tempfile.mkdtemp(prefix="sysmonfwd-wazuh-")
    try:
        samples = status_samples.collect(args.bin, args.corpus,
                                         tmp=os.path.join(tmp, "samples"))
        ck.problems(samples.problems, "status samples")
        if samples.wazuh_events is not None:
            ck.note("%d heartbeats and alerts sent by the Wazuh output "
                    "equal their derived Wazuh form" %
                    len(samples.wazuh_events))
        if lindec is not None and tree is not None:
            check_linux_corpus(ck, lindec, args.corpus, tree)
            check_detections(ck, lindec, tree, args.corpus)
            fam = check_json_docs(ck, args, tmp, tree, decs, samples)
            check_logtest_real(ck, samples)
            fam[100500] = linux_fields
            check_descriptions(ck, tree, fam)
            check_examples(ck, readme, decs, lindec, tree, args.corpus)
            # Linux lines never reach the Windows or json decoders' prematch.
            for _, line in linux_lines(args.corpus)[:5]:
                ck.eq(nopname_decoder_for(decs, predecode(line)[2]), None,
                      "a Linux line matches a decoder without program name")
        check_install(ck, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ck.finish()


if __name__ == "__main__":
    main()
