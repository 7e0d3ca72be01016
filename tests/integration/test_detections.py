"""The IndexTTS packaging: Sysmon configurations (packaging/sysmon/), the
[filter]/[tag] rule files (packaging/filters/) and the same detections in
each SIEM's language (packaging/detections/), checked statically and by
emulation against the real corpus and the real binary's documents.

1. Sysmon schema.  Every file in Sysmon's <Sysmon><EventFiltering> schema
   (the two configurations, the two rule files) is well-formed and uses
   only event types, fields and conditions of Sysmon's schema
   (SCHEMA_FIELDS below: the event types and fields `sysmon -s` prints
   for schema 4.90, i.e. the manifest's event templates, which the corpus
   confirms: every field used here is a Data name of a real corpus record
   of that EventID, or used for that event type by one of the three real
   configurations in corpus/configs/), onmatch include|exclude,
   groupRelation and|or, one block per event type and onmatch.  The same
   validator accepts the corpus's three real configurations (a check of
   the lists themselves).  The Linux configuration uses only the event
   types Sysmon for Linux supports.  Every rule has a name; in the Sysmon
   configurations names are unique; in the [tag] file every name is one
   of the documented detections, and every detection has rules.
2. Semantics.  An evaluator of Sysmon's filtering (include/exclude per
   event type, exclude wins, rules OR'd, groupRelation, every condition,
   case-insensitive, ";" lists) runs the [tag] file and the noise filter on
   synthetic attack records made by editing real corpus records (Image,
   ParentImage, CommandLine, TargetFilename, DestinationIp, Initiated) and
   on near misses: exactly the expected detections, exactly the expected
   drops; and on the whole corpus (counts in a note; a corpus record that
   gets a detection must be one the list below expects).
3. Sigma: every document parses (python3-yaml), has the required keys, a
   UUID id unique over the directory, a valid status and level, a
   logsource of product windows/linux with a known category, and only
   field names of Sigma's Sysmon taxonomy for that category; conditions
   name only their selections.  A small Sigma evaluator (the modifiers
   used: contains, startswith, endswith; lists, "all of", "1 of", and,
   or, not) runs every rule on the same synthetic records: each fires
   exactly where the [tag] rule of the same detection does.  The
   correlation rule names base rules of the file.  The Sysmon tamper
   rules (Sigma, Splunk, Kibana) are run on every corpus record: they
   find exactly EventID 4 saying Stopped, 16 and 255.
4. Splunk: savedsearches.conf in Splunk's .conf syntax (the parser of
   test_dashboards.py); every search is a scheduled, tracked alert using
   the macro of packaging/dashboards/splunk/macros.conf and only the
   sourcetypes the HEC output sends; the real HEC output (format = xml)
   runs on the corpus and the synthetic records against the test HEC
   server (hec_server.py, plain HTTP): it sends those sourcetypes and the
   indexed field sysmonfwd_tags; every field a search names is EventCode
   (the add-on's name for <EventID>), an indexed field, a Data name of an
   XML event it sent, or a Splunk or search-computed field.  The night
   search has bin span=1m, the hour filter and calls > 10.  A small
   evaluator of SPL's search part (terms with globs, NOT > OR > AND,
   parentheses) runs each detection's search on the HEC events of the
   synthetic records (fields as the add-ons extract them from the XML):
   it finds exactly the records of its detection, and on the corpus's
   events exactly what the [tag] rules find.
5. Kibana: detection-rules.ndjson is one rule object per line with the
   keys Elastic Security's import needs; indices match the data streams
   the agent writes; every field of every query is an ECS field the
   integrations' ingest pipelines derive (PROTOCOLS.md section 1.7) from a
   field present in the documents the real binary writes for the corpus
   (or a field present as such); the threshold rule counts per host.name
   with value 11 (Elastic counts "at least": more than 10).  The ECS
   view of each document is made as the pipelines make it (Image to
   process.executable, Initiated to network.direction egress/ingress,
   DestinationIp as an ip, empty and "-" values dropped, ...), and small
   evaluators of the EQL and KQL used run every detection rule on the
   synthetic records' documents: exactly the records of its detection,
   and on the corpus what the [tag] rules find.  ES|QL: fields only.
6. Wazuh: indextts_rules.xml read as os_xml reads it (the helpers of
   test_wazuh_packaging.py); ids unique, in the file's stated range, not
   colliding with packaging/wazuh/rules; every if_sid is a stock rule of
   the emulated chain (PROTOCOLS.md section 3.2) or one of
   packaging/wazuh's; every field is one the decoded events have; the
   rule tree (stock chain 60000 > 60004 > 61600/61602 > per-EventID,
   then packaging/wazuh's Linux rules, then these; negate and pcre2
   emulated) is run on the synthetic records and on every corpus record
   in their Wazuh form (Windows: the form test_wazuh.py
   checks the agent sends; Linux: the syslog line through the emulated
   decoders): each reaches exactly the expected rule.  The frequency rule
   is checked statically: frequency, timeframe, same_field, the night
   <time> window.
7. The agent itself: when the binary has a [tag] and [filter] section
   (the engine of agent/policy/), it runs with packaging/filters/*.xml on
   the corpus and the synthetic records and must give exactly the tags
   and drops of the evaluator; when it does not, a note says so.
8. README files: every detection is described in
   packaging/detections/README.md with its file in each SIEM; every file
   of packaging/detections/ and packaging/sysmon/ is listed there.

Runs the binary on the corpus twice (a file output, a HEC output), a
few seconds.
"""
import fnmatch
import glob
import ipaddress
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402
import status_samples  # noqa: E402
import test_dashboards as dash  # noqa: E402
import test_wazuh  # noqa: E402
import hec_server  # noqa: E402
import test_wazuh_packaging as wzp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PKG = os.path.join(ROOT, "packaging")
SYSMON_DIR = os.path.join(PKG, "sysmon")
FILTER_DIR = os.path.join(PKG, "filters")
DET_DIR = os.path.join(PKG, "detections")

DETECTIONS = ["indextts_python_drops_binary",
              "indextts_python_external_connect",
              "indextts_suspicious_cmdline",
              "indextts_python_spawns_shell",
              "indextts_call"]

# ---- Sysmon's schema ----

# Event type -> EventIDs and fields (schema 4.90, `sysmon -s`; the
# manifest's templates, microsoft/SysmonCommon manifest.xml).
_COMMON = ["RuleName", "UtcTime"]
SCHEMA_FIELDS = {
    "ProcessCreate": ((1,), _COMMON + [
        "ProcessGuid", "ProcessId", "Image", "FileVersion", "Description",
        "Product", "Company", "OriginalFileName", "CommandLine",
        "CurrentDirectory", "User", "LogonGuid", "LogonId",
        "TerminalSessionId", "IntegrityLevel", "Hashes",
        "ParentProcessGuid", "ParentProcessId", "ParentImage",
        "ParentCommandLine", "ParentUser"]),
    "FileCreateTime": ((2,), _COMMON + [
        "ProcessGuid", "ProcessId", "Image", "TargetFilename",
        "CreationUtcTime", "PreviousCreationUtcTime", "User"]),
    "NetworkConnect": ((3,), _COMMON + [
        "ProcessGuid", "ProcessId", "Image", "User", "Protocol",
        "Initiated", "SourceIsIpv6", "SourceIp", "SourceHostname",
        "SourcePort", "SourcePortName", "DestinationIsIpv6", "DestinationIp",
        "DestinationHostname", "DestinationPort", "DestinationPortName"]),
    "ProcessTerminate": ((5,), _COMMON + [
        "ProcessGuid", "ProcessId", "Image", "User"]),
    "DriverLoad": ((6,), _COMMON + [
        "ImageLoaded", "Hashes", "Signed", "Signature", "SignatureStatus"]),
    "ImageLoad": ((7,), _COMMON + [
        "ProcessGuid", "ProcessId", "Image", "ImageLoaded", "FileVersion",
        "Description", "Product", "Company", "OriginalFileName", "Hashes",
        "Signed", "Signature", "SignatureStatus", "User"]),
    "CreateRemoteThread": ((8,), _COMMON + [
        "SourceProcessGuid", "SourceProcessId", "SourceImage",
        "TargetProcessGuid", "TargetProcessId", "TargetImage",
        "NewThreadId", "StartAddress", "StartModule", "StartFunction",
        "SourceUser", "TargetUser"]),
    "RawAccessRead": ((9,), _COMMON + [
        "ProcessGuid", "ProcessId", "Image", "Device", "User"]),
    "ProcessAccess": ((10,), _COMMON + [
        "SourceProcessGUID", "SourceProcessId", "SourceThreadId",
        "SourceImage", "TargetProcessGUID", "TargetProcessId",
        "TargetImage", "GrantedAccess", "CallTrace", "SourceUser",
        "TargetUser"]),
    "FileCreate": ((11,), _COMMON + [
        "ProcessGuid", "ProcessId", "Image", "TargetFilename",
        "CreationUtcTime", "User"]),
    "RegistryEvent": ((12, 13, 14), _COMMON + [
        "EventType", "ProcessGuid", "ProcessId", "Image", "TargetObject",
        "Details", "NewName", "User"]),
    "FileCreateStreamHash": ((15,), _COMMON + [
        "ProcessGuid", "ProcessId", "Image", "TargetFilename",
        "CreationUtcTime", "Hash", "Contents", "User"]),
    "PipeEvent": ((17, 18), _COMMON + [
        "EventType", "ProcessGuid", "ProcessId", "PipeName", "Image",
        "User"]),
    "WmiEvent": ((19, 20, 21), _COMMON + [
        "EventType", "Operation", "User", "EventNamespace", "Name", "Query",
        "Type", "Destination", "Consumer", "Filter"]),
    "DnsQuery": ((22,), _COMMON + [
        "ProcessGuid", "ProcessId", "QueryName", "QueryStatus",
        "QueryResults", "Image", "User"]),
    "FileDelete": ((23,), _COMMON + [
        "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename",
        "Hashes", "IsExecutable", "Archived"]),
    "ClipboardChange": ((24,), _COMMON + [
        "ProcessGuid", "ProcessId", "Image", "Session", "ClientInfo",
        "Hashes", "Archived", "User"]),
    "ProcessTampering": ((25,), _COMMON + [
        "ProcessGuid", "ProcessId", "Image", "Type", "User"]),
    "FileDeleteDetected": ((26,), _COMMON + [
        "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename",
        "Hashes", "IsExecutable"]),
    "FileBlockExecutable": ((27,), _COMMON + [
        "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename",
        "Hashes"]),
    "FileBlockShredding": ((28,), _COMMON + [
        "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename",
        "Hashes", "IsExecutable"]),
    "FileExecutableDetected": ((29,), _COMMON + [
        "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename",
        "Hashes"]),
}
EID_TYPE = {e: t for t, (eids, _) in SCHEMA_FIELDS.items() for e in eids}
# Sysmon for Linux (PROTOCOLS.md section 4.1: the events it emits).
LINUX_TYPES = {"ProcessCreate", "NetworkConnect", "ProcessTerminate",
               "RawAccessRead", "ProcessAccess", "FileCreate", "FileDelete"}
CONDITIONS = {"is", "is not", "is any", "contains", "contains any",
              "contains all", "excludes", "excludes any", "excludes all",
              "begin with", "not begin with", "end with", "not end with",
              "less than", "more than", "image"}
TOP_OPTIONS = {"HashAlgorithms", "CheckRevocation", "DnsLookup",
               "ArchiveDirectory", "CopyOnDeletePE", "CopyOnDeleteSIDs",
               "CopyOnDeleteExtensions", "CopyOnDeleteProcesses",
               "FieldSizes", "EventFiltering"}


class SysmonFile:
    """A parsed EventFiltering file: blocks [(type, onmatch, [rules])],
    a rule being (name, relation, [(field, condition, value)])."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.relpath(path, ROOT) if path.startswith(ROOT) \
            else os.path.basename(path)
        with open(path, "rb") as f:
            data = f.read()
        self.root = ET.fromstring(data[3:] if data.startswith(
            b"\xef\xbb\xbf") else data)
        self.blocks = []
        self.problems = []
        self.used = set()            # (type, field)

    def load(self):
        p = self.problems
        if self.root.tag != "Sysmon" or not self.root.get("schemaversion"):
            p.append("root is <%s %s>, not <Sysmon schemaversion>" %
                     (self.root.tag, self.root.attrib))
        for c in self.root:
            if c.tag not in TOP_OPTIONS:
                p.append("unknown top-level element <%s>" % c.tag)
        for ef in self.root.findall("EventFiltering"):
            for c in ef:
                if c.tag == "RuleGroup":
                    if c.get("groupRelation") not in ("and", "or"):
                        p.append("RuleGroup %r: groupRelation %r" %
                                 (c.get("name"), c.get("groupRelation")))
                    for t in c:
                        self._block(t, c.get("groupRelation") == "and")
                else:
                    self._block(c, False)
        seen = set()
        for t, om, _ in self.blocks:
            if (t, om) in seen:
                p.append("two %s onmatch=%s blocks" % (t, om))
            seen.add((t, om))
        return self

    def _block(self, t, group_and):
        p = self.problems
        if t.tag not in SCHEMA_FIELDS:
            p.append("unknown event type <%s>" % t.tag)
            return
        om = t.get("onmatch")
        if om not in ("include", "exclude"):
            p.append("<%s> onmatch %r" % (t.tag, om))
        rules = []
        for r in t:
            if r.tag == "Rule":
                rel = r.get("groupRelation", "and")     # Sysmon's default
                if rel not in ("and", "or"):
                    p.append("<%s> rule %r: groupRelation %r" %
                             (t.tag, r.get("name"), rel))
                conds = [self._cond(t.tag, c) for c in r]
                if not conds:
                    p.append("<%s> rule %r has no condition" %
                             (t.tag, r.get("name")))
                rules.append((r.get("name"), rel, conds))
            else:
                rules.append((r.get("name"), "bare", [self._cond(t.tag, r)]))
        bare = [x for x in rules if x[1] == "bare"]
        rules = [x for x in rules if x[1] != "bare"]
        if group_and and bare:
            # In a <RuleGroup groupRelation="and">, the conditions written
            # directly in the block are one rule whose conditions all
            # must match.
            rules.append((bare[0][0], "and", [c for x in bare
                                              for c in x[2]]))
        else:
            rules += [(n, "or", c) for n, _, c in bare]
        self.blocks.append((t.tag, om, rules))

    def _cond(self, etype, c):
        fields = SCHEMA_FIELDS[etype][1]
        cond = c.get("condition", "is")
        if c.tag not in fields:
            self.problems.append("<%s> has no field %s" % (etype, c.tag))
        if cond not in CONDITIONS:
            self.problems.append("<%s> %s: unknown condition %r" %
                                 (etype, c.tag, cond))
        self.used.add((etype, c.tag))
        return (c.tag, cond, c.text or "")

    def rules(self):
        for t, om, rules in self.blocks:
            for r in rules:
                yield t, om, r


# ---- Sysmon's filtering, evaluated ----

def _values(cond, v):
    return [x for x in v.split(";")] if cond in (
        "is any", "contains any", "contains all", "excludes any",
        "excludes all") else [v]


def cond_match(cond, want, have):
    """One Sysmon condition (case-insensitive) on a field value."""
    if have is None:
        return False
    h = have.lower()
    vals = [w.lower() for w in _values(cond, want)]
    w = vals[0]
    if cond == "is":
        return h == w
    if cond == "is not":
        return h != w
    if cond == "is any":
        return h in vals
    if cond == "contains":
        return w in h
    if cond == "contains any":
        return any(x in h for x in vals)
    if cond == "contains all":
        return all(x in h for x in vals)
    if cond == "excludes":
        return w not in h
    # Sysmon's table: "excludes any" does not contain one or more of the
    # values, "excludes all" does not contain any of them.
    if cond == "excludes any":
        return not all(x in h for x in vals)
    if cond == "excludes all":
        return not any(x in h for x in vals)
    if cond == "begin with":
        return h.startswith(w)
    if cond == "not begin with":
        return not h.startswith(w)
    if cond == "end with":
        return h.endswith(w)
    if cond == "not end with":
        return not h.endswith(w)
    if cond in ("less than", "more than"):     # lexicographical
        return h < w if cond == "less than" else h > w
    if cond == "image":
        return h == w or h.endswith("\\" + w) or h.endswith("/" + w)
    raise ValueError(cond)


def rule_match(rule, data):
    _, rel, conds = rule
    res = [cond_match(c, v, data.get(f)) for f, c, v in conds]
    return all(res) if rel == "and" else any(res)


def evaluate(sf, eid, data):
    """(kept, names of the include rules that matched) under Sysmon's
    semantics for one record of EventID eid.  An event type the file does
    not name is kept."""
    etype = EID_TYPE.get(eid)
    has = {om for t, om, _ in sf.blocks if t == etype}
    inc = [r for t, om, rs in sf.blocks if t == etype and om == "include"
           for r in rs]
    exc = [r for t, om, rs in sf.blocks if t == etype and om == "exclude"
           for r in rs]
    names = {r[0] for r in inc if rule_match(r, data)}
    if any(rule_match(r, data) for r in exc):
        return False, set()
    if "include" in has:          # an empty include block keeps nothing
        return bool(names), names
    return True, set()            # exclude only, or not named: kept


# ---- records ----

def set_data(line, name, value):
    """A copy of a record line (str) with Data `name` set to value (XML
    escaped), in either quoting style."""
    esc = value.replace("&", "&amp;").replace("<", "&lt;").replace(">",
                                                                  "&gt;")
    new, n = re.subn(r"""(<Data Name=['"]%s['"]>)[^<]*(</Data>)""" % name,
                     lambda m: m.group(1) + esc + m.group(2), line)
    if n != 1:
        raise ValueError("no Data %s in the record" % name)
    return new


def record_data(line):
    exp = it.expected_from_line(line.encode("utf-8"))
    return int(exp["event_id"]), {k: (v or "") for k, v in exp["data"]}


def corpus_records(corpus):
    """[(where, line str)] of every Sysmon record of the corpus (Windows
    XML and Sysmon for Linux syslog lines)."""
    out = []
    for path in it.windows_files(corpus):
        with open(path, encoding="utf-8") as f:
            for i, l in enumerate(f.read().split("\n"), 1):
                if "<Event" in l and "Microsoft-Windows-Sysmon" in l:
                    out.append(("%s:%d" % (os.path.basename(path), i), l))
    for path, l in it.linux_syslog_lines(corpus):
        if b"<Event>" in l:
            out.append((os.path.basename(path), l.decode("utf-8")))
    return out


def bases(corpus):
    """Real records to edit: {key: line}."""
    recs = corpus_records(corpus)
    out = {}

    def pick(key, pred):
        for _, l in recs:
            if pred(l):
                out[key] = l
                return

    pick("w1", lambda l: "python.exe" in l and "<EventID>1<" in l)
    pick("w3", lambda l: "<EventID>3<" in l and "Microsoft-Windows" in l)
    pick("w11", lambda l: "<EventID>11<" in l and "Microsoft-Windows" in l)
    pick("l1", lambda l: "<EventID>1<" in l and "202-u20" in l)
    pick("l3", lambda l: "<EventID>3<" in l and "202-u20" in l)
    pick("l11", lambda l: "<EventID>11<" in l and "202-u20" in l)
    return out


PYW = r"C:\Users\svc-tts\AppData\Local\Programs\Python\Python311\python.exe"
PYL = "/usr/bin/python3.10"
# (case, base, changes, detections, dropped by the noise filter)
CASES = [
    ("win: python drops a DLL under C:\\Users\\", "w11",
     {"Image": PYW, "TargetFilename":
      r"C:\Users\svc-tts\AppData\Local\Temp\vcruntime_x.dll"},
     {"indextts_python_drops_binary"}, False),
    ("win: pythonw drops an EXE under C:\\Temp\\", "w11",
     {"Image": r"C:\Python311\pythonw.exe", "TargetFilename":
      r"C:\Temp\upd\svch0st.EXE"}, {"indextts_python_drops_binary"},
     False),
    ("win near: python writes audio under C:\\Users\\", "w11",
     {"Image": PYW, "TargetFilename": r"C:\Users\svc-tts\out\a.wav"},
     set(), False),
    ("win near: notepad writes a DLL under C:\\Users\\", "w11",
     {"Image": r"C:\Windows\System32\notepad.exe", "TargetFilename":
      r"C:\Users\bob\x.dll"}, set(), False),
    ("win near: python writes a DLL under D:\\Users\\", "w11",
     {"Image": PYW, "TargetFilename": r"D:\Users\bob\x.dll"}, set(), False),
    ("win near: python writes x.dll.txt", "w11",
     {"Image": PYW, "TargetFilename": r"C:\Users\bob\x.dll.txt"}, set(),
     False),
    ("win: python connects out", "w3",
     {"Image": PYW, "DestinationIp": "203.0.113.7", "Initiated": "true"},
     {"indextts_python_external_connect"}, False),
    ("win near: python to 127.0.0.1", "w3",
     {"Image": PYW, "DestinationIp": "127.0.0.1", "Initiated": "true"},
     set(), False),
    ("win near: python to 0:0:0:0:0:0:0:1", "w3",
     {"Image": PYW, "DestinationIp": "0:0:0:0:0:0:0:1",
      "Initiated": "true"}, set(), False),
    ("win near: python to ::1", "w3",
     {"Image": PYW, "DestinationIp": "::1", "Initiated": "true"}, set(),
     False),
    ("win near: chrome connects out", "w3",
     {"Image": r"C:\Program Files\Google\Chrome\Application\chrome.exe",
      "DestinationIp": "203.0.113.7", "Initiated": "true"}, set(), False),
    ("win near: python accepts a connection", "w3",
     {"Image": PYW, "DestinationIp": "203.0.113.7", "Initiated": "false"},
     set(), False),
    ("win: python -c eval(...)", "w1",
     {"Image": PYW, "CommandLine":
      'python.exe -c "eval(compile(open(\'x\').read(),\'x\',\'exec\'))"'},
     {"indextts_suspicious_cmdline"}, False),
    ("win: python starts powershell -enc", "w1",
     {"Image": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
      "CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgA",
      "ParentImage": PYW}, {"indextts_suspicious_cmdline",
                            "indextts_python_spawns_shell"}, False),
    ("win: python starts cmd.exe", "w1",
     {"Image": r"C:\Windows\System32\cmd.exe", "CommandLine":
      "cmd.exe /c whoami", "ParentImage": PYW},
     {"indextts_python_spawns_shell"}, False),
    ("win near: python evaluate(x) in a text", "w1",
     {"Image": PYW, "CommandLine": 'python.exe app.py --text "evaluate(x)"'},
     set(), False),
    ("win: an IndexTTS call", "w1",
     {"Image": PYW, "CommandLine":
      r"python.exe C:\srv\index-tts\indextts\infer.py --text hello"},
     {"indextts_call"}, False),
    ("win noise: the demo's dry run", "w1",
     {"Image": PYW, "CommandLine":
      r"python.exe C:\srv\index-tts\index_tts_demo.py --dry-run"},
     set(), True),
    ("win noise: --help", "w1",
     {"Image": PYW, "CommandLine": "python.exe app.py --help"}, set(), True),
    ("win noise: indextts --help is no call", "w1",
     {"Image": PYW, "CommandLine": "python.exe -m indextts.infer --help"},
     set(), True),
    ("win noise: --help after --cfg (the guard's \" -c \" has spaces)",
     "w1", {"Image": PYW, "CommandLine":
            "python.exe tools\\probe.py --cfg a.yaml --help"}, set(), True),
    ("win noise: --version", "w1",
     {"Image": PYW, "CommandLine": "python.exe -m indextts --version"},
     set(), True),
    ("win evasion: python -c os.system(...) --help is kept", "w1",
     {"Image": PYW, "CommandLine":
      'python.exe -c "import os;os.system(\'calc\')" --help'},
     {"indextts_suspicious_cmdline"}, False),
    ("win evasion: --help after a pipe is kept", "w1",
     {"Image": PYW, "CommandLine":
      "python.exe app.py | certutil -decode a b --help"}, set(), False),
    ("linux: python3 drops a .so in /tmp", "l11",
     {"Image": PYL, "TargetFilename": "/tmp/.x/libnss_evil.so"},
     {"indextts_python_drops_binary"}, False),
    ("linux: python3 drops a .bin in /var/tmp", "l11",
     {"Image": PYL, "TargetFilename": "/var/tmp/payload.bin"},
     {"indextts_python_drops_binary"}, False),
    ("linux near: python3 writes audio in /tmp", "l11",
     {"Image": PYL, "TargetFilename": "/tmp/gradio/out.wav"}, set(), False),
    ("linux near: touch creates a .so in /tmp", "l11",
     {"Image": "/usr/bin/touch", "TargetFilename": "/tmp/a.so"}, set(),
     False),
    ("linux near: model weights under /home", "l11",
     {"Image": PYL, "TargetFilename":
      "/home/tts/.cache/huggingface/hub/pytorch_model.bin"}, set(), False),
    ("linux: python3 connects out", "l3",
     {"Image": PYL, "DestinationIp": "34.120.127.130", "Initiated": "true"},
     {"indextts_python_external_connect"}, False),
    ("linux near: python3 to 127.0.0.1", "l3",
     {"Image": PYL, "DestinationIp": "127.0.0.1", "Initiated": "true"},
     set(), False),
    ("linux: python3 -c pty.spawn", "l1",
     {"Image": PYL, "CommandLine":
      "python3 -c import pty;pty.spawn('/bin/sh')"},
     {"indextts_suspicious_cmdline"}, False),
    ("linux: python3 starts bash", "l1",
     {"Image": "/usr/bin/bash", "CommandLine": "bash -i",
      "ParentImage": PYL}, {"indextts_python_spawns_shell"}, False),
    ("linux near: python3 starts shred", "l1",
     {"Image": "/usr/bin/shred", "CommandLine": "shred x",
      "ParentImage": PYL}, set(), False),
    ("linux: an IndexTTS call", "l1",
     {"Image": PYL, "CommandLine":
      "/usr/bin/python3 /usr/local/bin/indextts hello -v voice.wav"},
     {"indextts_call"}, False),
    ("linux noise: the demo's dry run", "l1",
     {"Image": PYL, "CommandLine":
      "python3 /srv/index-tts/index_tts_demo.py --dry-run"}, set(), True),
]
# What the [tag] file finds in the corpus, all true positives: the real
# python.exe of sysmon_20_21_1 (winpwnage.py, a UAC-bypass tool) starting
# WMIC.exe six times to set up WMI persistence, and PowerShell -enc
# command lines.  The python records themselves are not IndexTTS calls.
CORPUS_TAGS = {"indextts_suspicious_cmdline": 3,
               "indextts_python_spawns_shell": 6}


def synthetic(ck, base):
    """[(case, line, eid, data, detections, dropped)]"""
    out = []
    for what, key, changes, dets, dropped in CASES:
        line = base.get(key)
        if not ck.check(line is not None, "no corpus record for %s" % key):
            continue
        for k, v in changes.items():
            line = set_data(line, k, v)
        eid, data = record_data(line)
        for k, v in changes.items():
            ck.eq(data.get(k), v, "%s: %s after editing" % (what, k))
        out.append((what, line, eid, data, dets, dropped))
    return out


# ---- 1 and 2: the Sysmon files ----

def corpus_names(corpus):
    """{EventID: set of Data names} of the real records, and {event type:
    fields} used by the corpus's real configurations."""
    names = {}
    for _, l in corpus_records(corpus):
        eid, data = record_data(l)
        names.setdefault(eid, set()).update(data)
    for path in glob.glob(os.path.join(corpus, "json", "*")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(d, dict) or "Sysmon" not in str(
                        d.get("SourceName", d.get("Channel", ""))):
                    continue
                try:
                    eid = int(d.get("EventID"))
                except (TypeError, ValueError):
                    continue
                names.setdefault(eid, set()).update(d)
    used = {}
    for path in glob.glob(os.path.join(corpus, "configs", "*.xml")):
        sf = SysmonFile(path).load()
        for t, f in sf.used:
            used.setdefault(t, set()).add(f)
    return names, used


def check_sysmon_files(ck, corpus):
    names, cfg_used = corpus_names(corpus)
    # The validator accepts the real configurations of the corpus.
    real = sorted(glob.glob(os.path.join(corpus, "configs", "*.xml")))
    ck.eq(len(real), 3, "real Sysmon configurations in the corpus")
    for path in real:
        sf = SysmonFile(path).load()
        ck.eq(sf.problems, [], "validator on the real configuration %s" %
              os.path.basename(path))
    files = {}
    for name, linux, kind in (
            ("sysmon/indextts-windows.xml", False, "config"),
            ("sysmon/indextts-linux.xml", True, "config"),
            ("filters/indextts-noise.xml", None, "noise"),
            ("filters/indextts-detections.xml", None, "tag")):
        path = os.path.join(PKG, name)
        try:
            sf = SysmonFile(path).load()
        except (OSError, ET.ParseError) as e:
            ck.fail("%s: %s" % (name, e))
            continue
        files[name] = sf
        ck.eq(sf.problems, [], "%s against Sysmon's schema" % name)
        ck.eq(sf.root.get("schemaversion"), "4.81" if linux else "4.90",
              name + " schemaversion")
        for t, f in sorted(sf.used):
            eids = SCHEMA_FIELDS[t][0]
            seen = any(f in names.get(e, ()) for e in eids) or \
                f in cfg_used.get(t, ())
            ck.check(seen, "%s: %s.%s is in no real record of EventID %s "
                     "nor in a real configuration's %s" %
                     (name, t, f, eids, t))
        if linux:
            for t, _, _ in sf.blocks:
                ck.check(t in LINUX_TYPES, "%s: %s is not an event type "
                         "of Sysmon for Linux" % (name, t))
            ck.eq({t for t, _, _ in sf.blocks}, LINUX_TYPES,
                  name + ": every Linux event type stated")
        elif kind == "config":
            ck.eq({t for t, _, _ in sf.blocks}, set(SCHEMA_FIELDS),
                  name + ": every event type stated")
        rnames = [r[0] for _, _, r in sf.rules()]
        ck.check(all(rnames), "%s: a rule without a name" % name)
        if kind == "config":
            ck.eq(len(rnames), len(set(rnames)), name + ": rule names "
                  "unique")
        elif kind == "tag":
            ck.eq(sorted(set(rnames)), sorted(DETECTIONS),
                  name + ": the detections")
            ck.check(all(om == "include" for _, om, _ in sf.blocks),
                     name + ": only include blocks")
        else:
            ck.check(all(om == "exclude" for _, om, _ in sf.blocks),
                     name + ": only exclude blocks")
            ck.eq(len(rnames), len(set(rnames)), name + ": rule names "
                  "unique")
        # An "and" group is what the write-up got wrong: every FileCreate
        # rule of the configurations ANDs a place with a suffix.
        if kind == "config":
            for t, om, (rn, rel, conds) in sf.rules():
                if t == "FileCreate":
                    cs = {c for _, c, _ in conds}
                    ck.check(rel == "and" and {"begin with", "end with"} <=
                             cs, "%s: FileCreate rule %s is not place AND "
                             "suffix" % (name, rn))
    return files


def check_config_semantics(ck, files, syn, corpus):
    """The Windows configuration keeps what its README says."""
    win = files.get("sysmon/indextts-windows.xml")
    lin = files.get("sysmon/indextts-linux.xml")
    if win is None or lin is None:
        return
    for what, line, eid, data, dets, _ in syn:
        sf = lin if "Linux-Sysmon" in line else win
        kept, names = evaluate(sf, eid, data)
        if "drops" in what and "near" not in what:
            ck.check(kept, "config keeps: %s" % what)
        if "connects out" in what and "near" not in what:
            ck.check(kept, "config keeps: %s" % what)
        if "to 127.0.0.1" in what or "0:0:0:0:0:0:0:1" in what or \
                "to ::1" in what:
            ck.check(not kept, "config drops loopback: %s (%s)" %
                     (what, names))
        if "python" in data.get("Image", "").lower() and eid == 1:
            ck.check(kept, "config keeps every Python process: %s" % what)
    # What the shipped configurations keep of the corpus, per EventID
    # (4, 16, 255 are not filterable: Sysmon always writes them).
    for sf, linux in ((win, False), (lin, True)):
        kept, total = {}, {}
        for where, line in corpus_records(corpus):
            if ("Linux-Sysmon" in line) != linux:
                continue
            eid, data = record_data(line)
            total[eid] = total.get(eid, 0) + 1
            k = eid in (4, 16, 255) or evaluate(sf, eid, data)[0]
            kept[eid] = kept.get(eid, 0) + k
            if eid in (1, 5) and "python" in data.get("Image", "").lower():
                ck.check(k, "%s drops a real Python record %s" %
                         (sf.name, where))
        ck.note("%s on the corpus: kept/total per EventID %s" % (
            sf.name, ", ".join("%d: %d/%d" % (e, kept[e], total[e])
                               for e in sorted(total))))
    # The write-up's OR'd block would keep any file under C:\Users\.
    ok, _ = evaluate(win, 11, {"Image": "x.exe", "TargetFilename":
                               r"C:\Users\bob\AppData\cache\f_0001"})
    ck.check(not ok, "windows config: a plain file under C:\\Users\\ "
             "is not logged")


def check_tag_semantics(ck, files, syn, corpus):
    tag = files.get("filters/indextts-detections.xml")
    noise = files.get("filters/indextts-noise.xml")
    if tag is None or noise is None:
        return
    for what, line, eid, data, dets, dropped in syn:
        _, names = evaluate(tag, eid, data)
        ck.eq(names, dets, "[tag] detections of %r" % what)
        kept, _ = evaluate(noise, eid, data)
        ck.eq(not kept, dropped, "[filter] drops %r" % what)
    counts, tagged, dropped = {}, {}, 0
    for where, line in corpus_records(corpus):
        eid, data = record_data(line)
        counts[eid] = counts.get(eid, 0) + 1
        _, names = evaluate(tag, eid, data)
        for n in names:
            tagged[n] = tagged.get(n, 0) + 1
        kept, _ = evaluate(noise, eid, data)
        dropped += not kept
    ck.eq(dropped, 0, "corpus records the noise filter drops")
    ck.eq(tagged, CORPUS_TAGS, "detections the [tag] file finds in the "
          "corpus")
    ck.note("corpus: %d Sysmon records; [tag] detections %s; noise "
            "filter drops %d" % (sum(counts.values()), tagged, dropped))
    for d in DETECTIONS:
        ck.check(any(d in c[4] for c in syn), "no synthetic case for %s" % d)


# ---- the agent's documents ----

def run_agent(ck, args, tmp, lines, name, extra=""):
    """The file output's documents for the record lines, as the real
    binary writes them (extra: more configuration)."""
    inp = os.path.join(tmp, name + ".log")
    with open(inp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    out = os.path.join(tmp, name + ".ndjson")
    cfg = it.simple_config(tmp, inp, out, state_dir=os.path.join(
        tmp, name + "-state")) + extra
    path = it.write_config(os.path.join(tmp, name + ".conf"), cfg)
    res = it.run(args.bin, ["-c", path, "--once"], timeout=120)
    if not ck.eq(res.returncode, 0, "binary exit code (%s): %s" %
                 (name, it.short(res.stderr))):
        return None
    docs, problems = it.read_ndjson(out)
    ck.eq(problems, [], "documents of %s" % name)
    return docs


def doc_fields(docs):
    """{dotted path: set of values} over the documents."""
    out = {}
    for d in docs:
        for k, vs in dash.field_values(d).items():
            out.setdefault(k, set()).update(
                v for v in vs if isinstance(v, (str, int, float)))
    return out


def hec_events(ck, args, tmp, lines):
    """What the real HEC output (format = xml, the default) sends for the
    record lines, as a plain-HTTP test HEC stores it: [event objects]."""
    inp = os.path.join(tmp, "hec.log")
    with open(inp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    d = os.path.join(tmp, "hec")
    os.mkdir(d)
    s = hec_server.HecServer(tokens=["det-token"])
    s.reserve()
    s.start()
    try:
        cfg = it.output_config(d, [("in", inp)], "hec", {
            "type": "splunk_hec", "url": s.url, "token": "det-token",
            "flush_interval": "100ms"}, {})
        res = it.run(args.bin, ["-c", cfg, "--once"], timeout=120)
        ck.eq(res.returncode, 0, "binary exit code (HEC): %s" %
              it.short(res.stderr))
        events = [e["envelope"] for e in s.stored()]
    finally:
        s.close()
    ck.check(len(events) >= len(lines), "HEC stored %d events for %d "
             "records" % (len(events), len(lines)))
    return events


def hec_names(ck, events):
    """The field names Splunk's Sysmon add-ons get from the HEC events:
    sourcetypes, the Data names of each XML event, EventCode, and the
    indexed fields."""
    names, sourcetypes, indexed = set(), set(), set()
    for e in events:
        sourcetypes.add(e.get("sourcetype"))
        indexed.update(e.get("fields", {}))
        ev = e.get("event")
        if not isinstance(ev, str) or "<Event" not in ev:
            continue
        names.update(re.findall(r"""<Data Name=['"]([^'"]+)['"]""", ev))
        if "<EventID>" in ev:
            names.add("EventCode")
    ck.eq(sourcetypes, {"XmlWinEventLog", "sysmon:linux"},
          "sourcetypes the HEC output sends for Sysmon records")
    ck.check("sysmonfwd_tags" in indexed, "HEC events carry no "
             "sysmonfwd_tags indexed field (EventID 4/16 should)")
    return names | indexed


# ---- 3: Sigma ----

SIGMA_REQUIRED = ["title", "id", "status", "description", "author", "date",
                  "level", "falsepositives"]
SIGMA_STATUS = {"stable", "test", "experimental", "deprecated",
                "unsupported"}
SIGMA_LEVELS = {"informational", "low", "medium", "high", "critical"}
# Sigma's taxonomy for Sysmon-sourced categories: the Sysmon field names
# of the matching EventID (sigma-specification, Taxonomy Appendix).
SIGMA_CATEGORY = {"process_creation": 1, "network_connection": 3,
                  "file_event": 11}
SIGMA_SERVICE_FIELDS = {"sysmon": {"EventID", "State", "Configuration",
                                   "ConfigurationFileHash", "ID",
                                   "Description", "Version",
                                   "SchemaVersion", "UtcTime"}}
SIGMA_MODIFIERS = {"contains", "startswith", "endswith", "all"}


def sigma_value(v):
    """A Sigma string value as (literal text, wildcards?): "\\*" "\\?"
    "\\\\" are escapes, a backslash before anything else is literal."""
    out, i, wild = "", 0, False
    v = str(v)
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v) and v[i + 1] in "*?\\":
            out += v[i + 1]
            i += 2
            continue
        if c in "*?":
            wild = True
        out += c
        i += 1
    return out, wild


def sigma_item(key, values, data):
    parts = key.split("|")
    field, mods = parts[0], parts[1:]
    have = data.get(field)
    if have is None:
        return False
    have = str(have).lower()
    vals = values if isinstance(values, list) else [values]
    res = []
    for v in vals:
        lit, wild = sigma_value(v)
        lit = lit.lower()
        if wild:
            raise ValueError("wildcards are not emulated: %r" % v)
        if "contains" in mods:
            res.append(lit in have)
        elif "startswith" in mods:
            res.append(have.startswith(lit))
        elif "endswith" in mods:
            res.append(have.endswith(lit))
        else:
            res.append(have == lit)
    return all(res) if "all" in mods else any(res)


def sigma_selection(sel, data):
    if isinstance(sel, list):
        return any(sigma_selection(s, data) for s in sel)
    return all(sigma_item(k, v, data) for k, v in sel.items())


def sigma_eval(det, data):
    cond = det["condition"]
    sels = {k: v for k, v in det.items() if k != "condition"}

    def of(quant, pat):
        names = [k for k in sels if fnmatch.fnmatchcase(k, pat)]
        if not names:
            raise ValueError("no selection matches %r" % pat)
        r = [sigma_selection(sels[n], data) for n in names]
        return all(r) if quant == "all" else any(r)

    expr = re.sub(r"\b(all|1) of ([\w*]+)",
                  lambda m: "of(%r, %r)" % (m.group(1), m.group(2)), cond)

    def ident(m):
        w = m.group(0)
        if w in ("and", "or", "not", "of") or w.startswith(("'", '"')):
            return w
        if w not in sels:
            raise ValueError("condition names %r, not a selection" % w)
        return "sel(%r)" % w
    expr = re.sub(r"'[^']*'|\b[A-Za-z_]\w*\b", ident, expr)
    return eval(expr, {"__builtins__": {}},           # noqa: S307
                {"of": of, "sel": lambda n: sigma_selection(sels[n], data)})


def sigma_fields(det):
    out = set()
    for k, v in det.items():
        if k == "condition":
            continue
        for s in (v if isinstance(v, list) else [v]):
            for key in s:
                parts = key.split("|")
                out.add(parts[0])
                for m in parts[1:]:
                    if m not in SIGMA_MODIFIERS:
                        raise ValueError("modifier %s" % m)
    return out


def load_sigma(ck, yaml):
    docs = []
    for path in sorted(glob.glob(os.path.join(DET_DIR, "sigma", "*.yml"))):
        with open(path, encoding="utf-8") as f:
            try:
                for d in yaml.safe_load_all(f):
                    docs.append((os.path.basename(path), d))
            except yaml.YAMLError as e:
                ck.fail("%s: not YAML: %s" % (path, e))
    return docs


def check_sigma(ck, syn, tag, corpus):
    try:
        import yaml
    except ImportError:
        ck.skip_or_fail("python3-yaml is not installed: Sigma rules not "
                        "parsed (packaging/install-deps.sh installs it)")
        return
    docs = load_sigma(ck, yaml)
    ck.check(len(docs) >= 10, "only %d Sigma documents" % len(docs))
    ids, rule_names = set(), {}
    for fname, d in docs:
        where = "%s (%s)" % (fname, d.get("name") if isinstance(d, dict)
                             else "?")
        if not ck.check(isinstance(d, dict), where + ": not a mapping"):
            continue
        for k in SIGMA_REQUIRED:
            ck.check(k in d, "%s: no %s" % (where, k))
        try:
            u = uuid.UUID(str(d.get("id")))
            ck.eq(str(u), d.get("id"), where + ": id is a UUID")
        except ValueError:
            ck.fail(where + ": id is not a UUID")
        ck.check(d.get("id") not in ids, where + ": id repeated")
        ids.add(d.get("id"))
        ck.check(d.get("status") in SIGMA_STATUS, where + ": status")
        ck.check(d.get("level") in SIGMA_LEVELS, where + ": level")
        ck.check(re.fullmatch(r"\d{4}-\d\d-\d\d", str(d.get("date"))),
                 where + ": date is YYYY-MM-DD")
        ck.check(isinstance(d.get("falsepositives"), list),
                 where + ": falsepositives is a list")
        if d.get("name"):
            ck.check(d["name"] not in rule_names, where + ": name repeated")
            rule_names[d["name"]] = d
        if "correlation" in d:
            c = d["correlation"]
            ck.eq(c.get("type"), "event_count", where + ": correlation type")
            ck.eq(c.get("timespan"), "1m", where + ": timespan")
            ck.eq(c.get("condition"), {"gt": 10}, where + ": condition")
            ck.check(c.get("group-by"), where + ": group-by")
            continue
        ls, det = d.get("logsource", {}), d.get("detection", {})
        ck.check(ls.get("product") in ("windows", "linux"),
                 where + ": logsource product")
        if "category" in ls:
            if not ck.check(ls["category"] in SIGMA_CATEGORY,
                            where + ": category %s" % ls.get("category")):
                continue
            allowed = set(SCHEMA_FIELDS[EID_TYPE[SIGMA_CATEGORY[
                ls["category"]]]][1]) | {"EventID"}
        else:
            allowed = SIGMA_SERVICE_FIELDS.get(ls.get("service"), set())
            ck.check(allowed, where + ": logsource service %s" %
                     ls.get("service"))
        try:
            fields = sigma_fields(det)
        except (ValueError, AttributeError) as e:
            ck.fail("%s: detection: %s" % (where, e))
            continue
        for f in sorted(fields):
            ck.check(f in allowed, "%s: field %s is not in Sigma's "
                     "taxonomy for %s" % (where, f, ls))
        dets = [t.split(".", 1)[1] for t in d.get("tags", [])
                if t.startswith("detection.")]
        ck.eq(len(dets), 1, where + ": one detection.* tag")
        if ls.get("service") == "sysmon":
            n = 0
            for w, l, e, data in corpus:
                if "Linux-Sysmon" in l:
                    continue
                want = tamper_expected(l)
                ck.eq(sigma_eval(det, dict(data, EventID=str(e))), want,
                      "%s on %s" % (where, w))
                n += want
            ck.check(n >= 2, where + ": only %d tamper records" % n)
            continue
        # Fires exactly where the [tag] rule of the same detection does.
        if "category" not in ls or not dets:
            continue
        eid = SIGMA_CATEGORY[ls["category"]]
        cases = list(syn)
        if tag is not None:       # and every corpus record, as [tag] sees it
            cases += [(w, l, e, d, evaluate(tag, e, d)[1], False)
                      for w, l, e, d in corpus]
        for what, line, reid, data, want, _ in cases:
            if reid != eid or (("Linux-Sysmon" in line) !=
                               (ls["product"] == "linux")):
                continue
            try:
                got = sigma_eval(det, data)
            except (ValueError, NameError, SyntaxError) as e:
                ck.fail("%s: condition: %s" % (where, e))
                break
            ck.eq(got, dets[0] in want, "%s on %r" % (where, what))
    for fname, d in docs:
        if isinstance(d, dict) and "correlation" in d:
            for r in d["correlation"].get("rules", []):
                ck.check(r in rule_names, "%s: correlation names unknown "
                         "rule %s" % (fname, r))
    covered = {t.split(".", 1)[1] for _, d in docs if isinstance(d, dict)
               for t in d.get("tags", []) if t.startswith("detection.")}
    for det in DETECTIONS + ["indextts_calls_at_night", "sysmon_tamper"]:
        ck.check(det in covered, "no Sigma rule for %s" % det)
    ck.note("Sigma: %d documents, %d with a UUID" % (len(docs), len(ids)))


# ---- 4: Splunk ----

SPLUNK_OWN = {"_time", "host", "source", "sourcetype", "index", "_raw"}
SPL_COMPUTED = {"local_hour", "calls"}
SPL_FIELD = re.compile(r"(?<![\w.*\\/\-])([A-Za-z_][\w]*)\s*(?:::|=|!=)")


def spl_fields(q):
    q = re.sub(r"`[^`]*`", " ", q)
    q = dash.QUOTED.sub('""', q)
    names = set(SPL_FIELD.findall(q))
    for m in re.finditer(r"\|\s*(?:table|fields)\s+([^|]+)", q):
        names |= set(m.group(1).split())
    for m in re.finditer(r"\bBY\s+([\w\s]+)", q):
        names |= set(m.group(1).split())
    for m in re.finditer(r"\|\s*(?:where|eval)\s+([^|]+)", q):
        body = m.group(1)
        names |= {w for w in re.findall(r"\b([A-Za-z_]\w*)\b", body)
                  if w not in ("OR", "AND", "NOT", "tonumber", "strftime",
                               "_time")}
    return names - {"span", "AS", "count"}


# A small evaluator of the search part of an SPL query (before the first
# "|"): field=value and field::value terms (value a case-insensitive glob,
# "\\" in a quoted value one backslash), macros (true), parentheses,
# NOT, OR and the implied AND, with Splunk's precedence: NOT, then OR,
# then AND.

SPL_TOKEN = re.compile(r'\s*(?:(\()|(\))|(`[^`]*`)|'
                       r'([A-Za-z_][\w]*)\s*(::|=)\s*'
                       r'("(?:[^"\\]|\\.)*"|[^\s()]+)|(\S+))')


def spl_tokens(q):
    out, pos = [], 0
    q = q.strip()
    while pos < len(q):
        m = SPL_TOKEN.match(q, pos)
        if m is None or m.end() == pos:
            raise ValueError("cannot read SPL at %r" % q[pos:pos + 30])
        pos = m.end()
        if m.group(1) or m.group(2):
            out.append(m.group(1) or m.group(2))
        elif m.group(3):
            out.append(("macro",))
        elif m.group(4):
            v = m.group(6)
            if v.startswith('"'):
                v = re.sub(r'\\(.)', r'\1', v[1:-1])
            out.append(("term", m.group(4), v))
        elif m.group(7) in ("OR", "NOT", "AND"):
            out.append(m.group(7))
        else:
            raise ValueError("bare SPL word %r" % m.group(7))
    return out


def spl_match(q, event):
    """Does the search part of q match event ({field: [values]})?"""
    toks = spl_tokens(q.split("|", 1)[0])
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take():
        pos[0] += 1
        return toks[pos[0] - 1]

    def atom():
        t = take()
        if t == "NOT":
            return not atom()
        if t == "(":
            v = conj()
            if take() != ")":
                raise ValueError("unbalanced parentheses")
            return v
        if isinstance(t, tuple) and t[0] == "macro":
            return True
        if isinstance(t, tuple):
            rx = re.compile(fnmatch.translate(t[2].lower()), re.S)
            return any(rx.match(str(v).lower())
                       for v in event.get(t[1], []))
        raise ValueError("unexpected %r" % (t,))

    def disj():
        v = atom()
        while peek() == "OR":
            take()
            v = atom() or v
        return v

    def conj():
        v = disj()
        while peek() not in (None, ")"):
            if peek() == "AND":
                take()
            v = disj() and v
        return v

    v = conj()
    if pos[0] != len(toks):
        raise ValueError("trailing tokens")
    return v


def hec_event_fields(e):
    """{field: [values]} as Splunk and the add-ons give them for one HEC
    event sent as XML."""
    ev = e.get("event", "")
    out = {"sourcetype": [e.get("sourcetype")], "host": [e.get("host")]}
    for k, v in e.get("fields", {}).items():
        out.setdefault(k, []).extend(v if isinstance(v, list) else [v])
    m = re.search(r"<EventID>(\d+)</EventID>", ev)
    if m:
        out["EventCode"] = [m.group(1)]
    for n, v in re.findall(r"""<Data Name=['"]([^'"]+)['"]>([^<]*)</Data>""",
                           ev):
        out.setdefault(n, []).append(xml_unescape(v))
    return out


def xml_unescape(v):
    return v.replace("&lt;", "<").replace("&gt;", ">").replace(
        "&quot;", '"').replace("&apos;", "'").replace("&amp;", "&")


# The searches and the detection each one is; the synthetic records it
# must find (no other).
SPL_DETECTION = {
    "IndexTTS - Python drops an executable or DLL":
        "indextts_python_drops_binary",
    "IndexTTS - Python connects to a non-loopback address":
        "indextts_python_external_connect",
    "IndexTTS - inline code or encoded payload in a command line":
        "indextts_suspicious_cmdline",
    "IndexTTS - Python starts a shell or download tool":
        "indextts_python_spawns_shell",
    "IndexTTS - more than 10 IndexTTS calls a minute at night":
        "indextts_call",
}


def tamper_expected(line):
    """Sysmon stopped (EventID 4 State Stopped), reconfigured (16) or in
    error (255): what every sysmon_tamper rule must find."""
    eid, data = record_data(line)
    return (eid == 4 and data.get("State") == "Stopped") or \
        eid in (16, 255)


TAMPER_SPL = "IndexTTS - Sysmon stopped, reconfigured or failing"
TAMPER_KIB = "IndexTTS host - Sysmon stopped, reconfigured or failing"


def check_spl_semantics(ck, saved, events, syn):
    by_rid = {}
    for e in events:
        m = re.search(r"<EventRecordID>(\d+)</EventRecordID>",
                      e.get("event", ""))
        if m:
            by_rid.setdefault(m.group(1), e)
    for name, det in SPL_DETECTION.items():
        q = saved.get(name, {}).get("search")
        if not ck.check(q, "savedsearches.conf: no [%s]" % name):
            continue
        for i, (what, _, _, _, dets, _) in enumerate(syn):
            e = by_rid.get(str(800000 + i))
            if not ck.check(e is not None, "HEC sent no event for %r" %
                            what):
                continue
            try:
                got = spl_match(q, hec_event_fields(e))
            except ValueError as err:
                ck.fail("[%s]: %s" % (name, err))
                break
            ck.eq(got, det in dets, "[%s] on %r" % (name, what))
        hits = 0
        for e in events:
            ev = e.get("event", "")
            m = re.search(r"<EventRecordID>(\d+)</EventRecordID>", ev)
            if m and m.group(1).startswith("8000") and len(m.group(1)) == 6:
                continue
            try:
                hits += spl_match(q, hec_event_fields(e))
            except ValueError:
                break
        ck.eq(hits, CORPUS_TAGS.get(det, 0), "[%s]: corpus events it "
              "finds (as the [tag] rules)" % name)
    q = saved.get(TAMPER_SPL, {}).get("search")
    if ck.check(q, "savedsearches.conf: no [%s]" % TAMPER_SPL):
        want = got = 0
        for e in events:
            ev = e.get("event", "")
            if not isinstance(ev, str) or "<Event" not in ev:
                continue
            w = tamper_expected(ev[ev.find("<Event"):])
            g = spl_match(q, hec_event_fields(e))
            ck.eq(g, w, "[%s] on %s" % (TAMPER_SPL, it.short(ev, 120)))
            want += w
            got += g
        ck.check(want >= 3, "only %d Sysmon tamper records" % want)


def check_splunk(ck, hec):
    path = os.path.join(DET_DIR, "splunk", "savedsearches.conf")
    saved = dash.parse_conf(ck, path)
    macros = dict(dash.parse_conf(ck, os.path.join(
        PKG, "dashboards", "splunk", "macros.conf")))
    ck.check(len(saved) >= 7, "savedsearches.conf: %d searches" % len(saved))
    allowed = set(hec) | SPLUNK_OWN | SPL_COMPUTED
    night = None
    for name, kv in saved:
        where = "saved search [%s]" % name
        q = kv.get("search", "")
        ck.check(q.startswith("`sysmonfwd_index`"), where + ": does not "
                 "start with `sysmonfwd_index`")
        for m in re.findall(r"`([\w.:-]+)`", q):
            ck.check(m in macros, "%s: macro %s is not in "
                     "packaging/dashboards/splunk/macros.conf" % (where, m))
        for st in re.findall(r'sourcetype\s*=\s*"?([\w:*-]+)', q):
            ck.check(st in ("XmlWinEventLog", "sysmon:linux"), "%s: "
                     "sourcetype %s is not one the HEC output sends for "
                     "Sysmon records" % (where, st))
        for f in sorted(spl_fields(q)):
            ck.check(f in allowed, "%s: field %s is not in the events "
                     "the HEC output sent (a Data name, EventCode, an "
                     "indexed field) nor a Splunk or computed field" %
                     (where, f))
        for k, v in (("enableSched", "1"), ("alert.track", "1")):
            ck.eq(kv.get(k), v, "%s %s" % (where, k))
        ck.eq(len(kv.get("cron_schedule", "").split()), 5,
              where + ": cron_schedule fields")
        ck.check(kv.get("dispatch.earliest_time"), where + ": time range")
        bare = dash.QUOTED.sub('""', q)
        ck.check(bare.count("(") == bare.count(")"), where + ": parentheses")
        if "night" in name:
            night = q
    if ck.check(night is not None, "savedsearches.conf: no night search"):
        for part in ("bin _time span=1m", "local_hour >= 22",
                     "local_hour < 6", "stats count AS calls BY _time host",
                     "where calls > 10"):
            ck.check(part in night, "night search lacks %r" % part)


# ---- 5: Kibana ----

# ECS field -> what the integrations' pipelines derive it from
# (PROTOCOLS.md section 1.7): ("data", Data name) or ("doc", path in
# the agent's document).
ECS_FROM = {
    "process.executable": ("data", "Image"),
    "process.command_line": ("data", "CommandLine"),
    "process.parent.executable": ("data", "ParentImage"),
    "file.path": ("data", "TargetFilename"),
    "destination.ip": ("data", "DestinationIp"),
    "network.direction": ("data", "Initiated"),
    "event.code": ("doc", "winlog.event_id"),
    "host.name": ("doc", "host.name"),
    "tags": ("doc", "tags"),
    "@timestamp": ("doc", "@timestamp"),
    "winlog.event_data.State": ("doc", "winlog.event_data.State"),
}
KIB_DOTTED = re.compile(r"(?<![\w.@\-*\\/])(@?[A-Za-z_][\w@]*(?:\.[\w@]+)+)"
                        r"(?![\w\-*(])")
WIN_DS = "logs-windows.sysmon_operational-default"
LIN_DS = "logs-sysmon_linux.log-default"


def kib_fields(q, lang):
    q = dash.QUOTED.sub('""', q)
    if lang == "esql":
        q = re.sub(r"(?i)\bFROM\s+[^|]+", "FROM ", q)
    names = set(KIB_DOTTED.findall(q))
    if re.search(r"(?<![\w.])tags\s*:", q):
        names.add("tags")
    if "@timestamp" in q:
        names.add("@timestamp")
    return names


# The ECS fields of a document as the integrations' ingest pipelines make
# them (PROTOCOLS.md section 1.7), for the fields the rules use; then small
# evaluators of the EQL and KQL the rules are written in.

def ecs_view(doc):
    w = doc.get("winlog", {})
    ed = {k: v for k, v in w.get("event_data", {}).items()
          if v not in ("", "-", None)}      # the pipeline drops these
    out = {"event.code": w.get("event_id"),
           "host.name": doc.get("host", {}).get("name"),
           "tags": doc.get("tags", [])}
    for ecs, (kind, src) in ECS_FROM.items():
        if kind == "data" and src in ed:
            out[ecs] = ed[src]
    if "Initiated" in ed:
        out["network.direction"] = {"true": "egress", "false": "ingress"}.get(
            ed["Initiated"].lower())
    if "destination.ip" in out:
        try:
            out["destination.ip"] = str(ipaddress.ip_address(
                out["destination.ip"]))
        except ValueError:
            pass
    if "State" in ed:
        out["winlog.event_data.State"] = ed["State"]
    return out


EQL_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(==|!=|:|\(|\)|,)|'
                       r'([A-Za-z_@][\w.@]*))')


def eql_tokens(q):
    out, pos = [], 0
    q = q.strip()
    while pos < len(q):
        m = EQL_TOKEN.match(q, pos)
        if m is None or m.end() == pos:
            raise ValueError("cannot read EQL at %r" % q[pos:pos + 30])
        pos = m.end()
        if m.group(1):
            out.append(("str", re.sub(r"\\(.)", r"\1", m.group(1)[1:-1])))
        else:
            out.append(m.group(2) or m.group(3))
    return out


def eql_match(q, ecs):
    toks = eql_tokens(q)
    if toks[:2] != ["any", "where"]:
        raise ValueError("only 'any where' queries are emulated")
    pos = [2]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take():
        pos[0] += 1
        return toks[pos[0] - 1]

    def strings():
        if peek() == "(":
            take()
            vals = []
            while True:
                t = take()
                vals.append(t[1])
                t = take()
                if t == ")":
                    return vals
                if t != ",":
                    raise ValueError("list")
        return [take()[1]]

    def atom():
        t = take()
        if t == "not":
            return not atom()
        if t == "(":
            v = disj()
            if take() != ")":
                raise ValueError("parentheses")
            return v
        if t == "cidrmatch":
            take()
            field = take()
            nets = []
            while take() == ",":
                nets.append(take()[1])
            v = ecs.get(field)
            if v is None:
                return False
            ip = ipaddress.ip_address(v)
            return any(ip in ipaddress.ip_network(n) for n in nets)
        field, op = t, take()
        v = ecs.get(field)
        vals = strings()
        if v is None:
            return False
        if op == ":":
            return any(fnmatch.fnmatchcase(str(v).lower(), x.lower())
                       for x in vals)
        if op == "==":
            return str(v) == vals[0]
        if op == "in":
            return str(v) in vals
        raise ValueError("operator %r" % op)

    def conj():
        v = atom()
        while peek() == "and":
            take()
            v = atom() and v
        return v

    def disj():
        v = conj()
        while peek() == "or":
            take()
            v = conj() or v
        return v

    v = disj()
    if pos[0] != len(toks):
        raise ValueError("trailing tokens %r" % toks[pos[0]:])
    return v


def kql_match(q, ecs):
    """KQL of the form used here: field:"v" | field:(a or b ...) with
    wildcards, and, not, parentheses.  Wildcard matches are
    case-sensitive (keyword fields)."""
    toks = re.findall(r'"(?:[^"\\]|\\.)*"|\(|\)|:|[^\s():]+', q)
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take():
        pos[0] += 1
        return toks[pos[0] - 1]

    def value(v):
        return v[1:-1] if v.startswith('"') else v

    def atom():
        t = take()
        if t == "not":
            return not atom()
        if t == "(":
            v = disj()
            take()
            return v
        field = t
        if take() != ":":
            raise ValueError("KQL: expected ':' after %s" % field)
        have = ecs.get(field)
        have = have if isinstance(have, list) else [have]
        if peek() == "(":
            take()
            vals = [value(take())]
            while peek() == "or":
                take()
                vals.append(value(take()))
            take()
        else:
            vals = [value(take())]
        return any(h is not None and fnmatch.fnmatchcase(str(h), x)
                   for h in have for x in vals)

    def conj():
        v = atom()
        while peek() == "and":
            take()
            v = atom() and v
        return v

    def disj():
        v = conj()
        while peek() == "or":
            take()
            v = conj() or v
        return v

    v = disj()
    if pos[0] != len(toks):
        raise ValueError("trailing KQL tokens")
    return v


KIBANA_DETECTION = {  # rule name prefix -> detection
    "IndexTTS host - Python drops": "indextts_python_drops_binary",
    "IndexTTS host - Python connects": "indextts_python_external_connect",
    "IndexTTS host - inline code": "indextts_suspicious_cmdline",
    "IndexTTS host - Python starts": "indextts_python_spawns_shell",
    "IndexTTS host - more than 10 IndexTTS calls in a minute (threshold":
        "indextts_call",
}


def check_kibana_semantics(ck, docs, syn):
    path = os.path.join(DET_DIR, "kibana", "detection-rules.ndjson")
    with open(path, encoding="utf-8") as f:
        rules = [json.loads(l) for l in f if l.strip()]
    by_rid = {d.get("winlog", {}).get("record_id"): d for d in docs}
    syn_ids = {str(800000 + i) for i in range(len(syn))}
    for r in rules:
        det = next((d for p, d in KIBANA_DETECTION.items()
                    if r["name"].startswith(p)), None)
        if det is None:
            continue
        match = eql_match if r["type"] == "eql" else kql_match
        where = "Kibana rule %r" % r["name"]
        try:
            for i, (what, _, _, _, dets, _) in enumerate(syn):
                d = by_rid.get(str(800000 + i))
                if not ck.check(d is not None, "no document for %r" % what):
                    continue
                ck.eq(match(r["query"], ecs_view(d)), det in dets,
                      "%s on %r" % (where, what))
            hits = sum(match(r["query"], ecs_view(d)) for d in docs
                       if d.get("winlog", {}).get("record_id") not in syn_ids)
        except (ValueError, IndexError) as e:
            ck.fail("%s: query not emulated: %s" % (where, e))
            continue
        ck.eq(hits, CORPUS_TAGS.get(det, 0), "%s: corpus documents it "
              "finds (as the [tag] rules)" % where)
    tr = [r for r in rules if r["name"] == TAMPER_KIB]
    if ck.eq(len(tr), 1, "Kibana: the Sysmon tamper rule"):
        n = 0
        for d in docs:
            w = d.get("winlog", {})
            want = (w.get("event_id") == "4" and w.get("event_data", {}).get(
                "State") == "Stopped") or w.get("event_id") in ("16", "255")
            ck.eq(eql_match(tr[0]["query"], ecs_view(d)), want,
                  "%s on record %s" % (TAMPER_KIB, w.get("record_id")))
            n += want
        ck.check(n >= 3, "Kibana tamper: only %d records" % n)


def check_kibana(ck, fields):
    path = os.path.join(DET_DIR, "kibana", "detection-rules.ndjson")
    rules = []
    with open(path, "rb") as f:
        data = f.read()
    ck.check(data.endswith(b"\n"), path + ": no final newline")
    for i, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            rules.append(json.loads(line))
        except ValueError as e:
            ck.fail("%s:%d: %s" % (path, i, e))
    ck.check(len(rules) >= 8, "only %d Kibana rules" % len(rules))
    ids = [r.get("rule_id") for r in rules]
    ck.eq(len(ids), len(set(ids)), "Kibana rule_ids unique")
    kinds = set()
    for r in rules:
        where = "Kibana rule %r" % r.get("name")
        for k in ("rule_id", "name", "description", "type", "language",
                  "query", "severity", "risk_score", "from", "interval"):
            ck.check(r.get(k) not in (None, ""), "%s: no %s" % (where, k))
        ck.check(r.get("severity") in ("low", "medium", "high",
                                       "critical"), where + ": severity")
        ck.check(isinstance(r.get("risk_score"), int) and
                 0 <= r["risk_score"] <= 100, where + ": risk_score")
        lang = {"eql": "eql", "query": "kuery", "threshold": "kuery",
                "esql": "esql"}.get(r.get("type"))
        ck.eq(r.get("language"), lang, where + ": language of its type")
        kinds.add(r.get("type"))
        if r.get("type") != "esql":
            for pat in r.get("index", []):
                ck.check(any(fnmatch.fnmatchcase(ds, pat) for ds in
                             (WIN_DS, LIN_DS)), "%s: index %s matches no "
                         "data stream the agent writes" % (where, pat))
            ck.check(r.get("index"), where + ": no index")
        else:
            for src in re.findall(r"(?i)\bFROM\s+([^|\n]+)", r["query"]):
                for pat in src.replace(",", " ").split():
                    ck.check(any(fnmatch.fnmatchcase(ds, pat) for ds in
                                 (WIN_DS, LIN_DS)), "%s: FROM %s" %
                             (where, pat))
        used = kib_fields(r.get("query", ""), lang)
        if r.get("type") == "threshold":
            th = r.get("threshold", {})
            ck.eq(th, {"field": ["host.name"], "value": 11},
                  where + ": threshold (at least 11 = more than 10)")
            used |= set(th.get("field", []))
        ck.check(used, where + ": no field found in the query")
        for f in sorted(used):
            src = ECS_FROM.get(f)
            if not ck.check(src is not None, "%s: field %s is not one "
                            "whose source is known (ECS_FROM)" %
                            (where, f)):
                continue
            path_ = "winlog.event_data." + src[1] if src[0] == "data" \
                else src[1]
            ck.check(path_ in fields, "%s: %s comes from %s, which no "
                     "document of the agent has" % (where, f, path_))
    esql = [r for r in rules if r.get("type") == "esql"]
    if ck.eq(len(esql), 1, "Kibana: one ES|QL rule (the night window)"):
        q = " ".join(esql[0]["query"].split())
        for part in ('event.code == "1"', "DATE_EXTRACT(\"hour_of_day\"",
                     "WHERE local_hour >= 22 OR local_hour < 6",
                     "DATE_TRUNC(1 minute, @timestamp)",
                     "STATS calls = COUNT(*) BY host.name, minute",
                     "WHERE calls > 10"):
            ck.check(part in q, "ES|QL night rule lacks %r" % part)
        th = [r for r in rules if r.get("type") == "threshold"]
        # The threshold rule and the ES|QL rule count the same calls.
        if ck.eq(len(th), 1, "Kibana: one threshold rule"):
            for word in ("indextts", "index-tts", "index_tts", "--help",
                         "--version", "--dry-run", "python.exe",
                         "pythonw.exe", "/bin/python3"):
                ck.check(word in th[0]["query"] and word in q,
                         "threshold and ES|QL rules differ on %r" % word)
            ck.check(th[0].get("enabled") is False and
                     esql[0].get("enabled") is True, "Kibana: the ES|QL "
                     "night rule enabled, the all-day threshold rule not")
    ck.check({"eql", "threshold", "esql", "query"} <= kinds,
             "Kibana rule types: %s" % sorted(kinds))


# ---- 6: Wazuh ----

# The stock chain as Wazuh 4.14.7 ships it (PROTOCOLS.md section 3.2:
# ruleset/rules/0575-win-base_rules.xml and 0595-win-sysmon_rules.xml).
STOCK_CHAIN = """
<group name="windows,">
  <rule id="60000" level="0"><decoded_as>windows_eventchannel</decoded_as>
    <field name="win.system.providerName">\\.+</field>
    <description>stock</description></rule>
  <rule id="60004" level="0"><if_sid>60000</if_sid>
    <field name="win.system.channel"
    >^Microsoft-Windows-Sysmon/Operational$</field>
    <description>stock</description></rule>
  <rule id="61600" level="0"><if_sid>60004</if_sid>
    <field name="win.system.severityValue">^INFORMATION$</field>
    <description>stock</description></rule>
  <rule id="61602" level="0"><if_sid>60004</if_sid>
    <field name="win.system.severityValue">^ERROR$</field>
    <description>stock</description></rule>
  <rule id="61603" level="0"><if_sid>61600</if_sid>
    <field name="win.system.eventID">^1$</field>
    <description>stock</description></rule>
  <rule id="61605" level="0"><if_sid>61600</if_sid>
    <field name="win.system.eventID">^3$</field>
    <description>stock</description></rule>
  <rule id="61606" level="0"><if_sid>61600</if_sid>
    <field name="win.system.eventID">^4$</field>
    <description>stock</description></rule>
  <rule id="61613" level="0"><if_sid>61600</if_sid>
    <field name="win.system.eventID">^11$</field>
    <description>stock</description></rule>
  <rule id="61644" level="0"><if_sid>61600</if_sid>
    <field name="win.system.eventID">^16$</field>
    <description>stock</description></rule>
  <rule id="61655" level="0"><if_sid>61602</if_sid>
    <field name="win.system.eventID">^255$</field>
    <description>stock</description></rule>
</group>
"""


class WRule:
    def __init__(self, e, index, origin):
        self.id = int(e.get("id"))
        self.level = int(e.get("level"))
        self.attrs = dict(e.attrib)
        self.index = index
        self.origin = origin
        self.if_sid = [int(x) for x in re.split(r"[,\s]+", (
            e.findtext("if_sid") or "").strip()) if x]
        self.if_matched = e.findtext("if_matched_sid")
        self.decoded_as = e.findtext("decoded_as")
        self.fields = []
        for f in e.findall("field"):
            pat = f.text or ""
            if f.get("type") == "pcre2":
                rx = re.compile(pat)
            else:
                rx = wzp.osregex_to_re(pat)
            self.fields.append((f.get("name"), rx, f.get("negate") == "yes",
                                dict(f.attrib)))
        self.description = e.findtext("description") or ""
        self.elem = e
        self.children = []

    def matches(self, decoder, fields):
        if self.if_matched:
            return False          # frequency rules: checked statically
        if self.decoded_as is not None and self.decoded_as != decoder:
            return False
        low = {k.lower(): v for k, v in fields.items()}
        for name, rx, neg, _ in self.fields:
            v = low.get(name.lower())
            hit = v is not None and rx.search(v) is not None
            if hit == neg:
                return False
        return True


def load_wrules(ck, text, origin):
    root = ET.fromstring("<root>" + text.replace("\\<", "\\&lt;") +
                         "</root>")
    out = []
    for g in root:
        if g.tag is ET.Comment:
            continue
        for r in g:
            if r.tag == "rule":
                out.append(WRule(r, 0, origin))
    return out


class WTree:
    def __init__(self, rules):
        for i, r in enumerate(rules):
            r.index = i
        self.rules = {r.id: r for r in rules}
        for r in rules:
            for p in r.if_sid:
                if p in self.rules:
                    self.rules[p].children.append(r)
        for r in rules:
            r.children.sort(key=lambda c: (-(99 if c.level == 0 else
                                             c.level), c.index))
        self.top = sorted([r for r in rules if not r.if_sid and
                           not r.if_matched],
                          key=lambda c: (-(99 if c.level == 0 else
                                           c.level), c.index))

    def evaluate(self, decoder, fields):
        for r in self.top:
            if r.matches(decoder, fields):
                while True:
                    nxt = next((c for c in r.children
                                if c.matches(decoder, fields)), None)
                    if nxt is None:
                        return r.id
                    r = nxt
        return None


WAZUH_EXPECT = {  # (detections, Linux?) -> rule
    ("indextts_python_drops_binary", False): 100600,
    ("indextts_python_external_connect", False): 100601,
    ("indextts_suspicious_cmdline", False): 100602,
    ("indextts_python_spawns_shell", False): 100603,
    ("indextts_call", False): 100605,
    ("indextts_python_drops_binary", True): 100620,
    ("indextts_python_external_connect", True): 100621,
    ("indextts_suspicious_cmdline", True): 100622,
    ("indextts_python_spawns_shell", True): 100623,
    ("indextts_call", True): 100625,
}
STOCK_PER_EID = {1: 61603, 3: 61605, 11: 61613, 4: 61606, 16: 61644,
                 255: 61655}
LINUX_PER_EID = {1: 100501, 3: 100502, 11: 100504}


def time_window(text):
    """(start, end) minutes of a Wazuh <time> value like '10 pm - 6 am',
    read as OS_IsValidTime() and __gethour() (Wazuh's shared
    validate_op.c) read it: "pm" adds 12 hours, and a range whose first
    hour is later than its second runs across midnight."""
    def mins(s):
        m = re.fullmatch(r"\s*(\d{1,2})(?::(\d\d))?\s*(am|pm)?\s*", s,
                         re.I)
        if m is None:
            raise ValueError(s)
        h, mi = int(m.group(1)), int(m.group(2) or 0)
        if (m.group(3) or "").lower() == "pm":
            h += 12
        if not 0 <= h < 24:
            raise ValueError(s)
        return h * 60 + mi
    a, b = text.split("-")
    return mins(a), mins(b)


def check_wazuh(ck, args, syn, corpus):
    path = os.path.join(DET_DIR, "wazuh", "indextts_rules.xml")
    elems = wzp.read_wazuh_xml(ck, path)
    if elems is None:
        return
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(os.path.join(PKG, "wazuh", "rules", wzp.RULES_FILE),
              encoding="utf-8") as f:
        ours_text = f.read()
    try:
        mine = load_wrules(ck, text, "indextts")
        ours = load_wrules(ck, ours_text, "sysmonfwd")
        stock = load_wrules(ck, STOCK_CHAIN, "stock")
    except (ValueError, re.error) as e:
        ck.fail("Wazuh rules: %s" % e)
        return
    rng = wzp.rule_range(text)
    if not ck.check(rng is not None, "indextts_rules.xml: no ID range"):
        return
    lo, hi = rng
    other = wzp.rule_range(ours_text)
    ck.check(hi < other[0] or lo > other[1], "ID range %s overlaps "
             "packaging/wazuh's %s" % (rng, other))
    ids = [r.id for r in mine]
    ck.eq(len(ids), len(set(ids)), "Wazuh rule ids unique")
    known = {r.id for r in stock + ours + mine}
    decs = wzp.load_decoders(ck)
    linux_fields = set()
    for d in decs:
        if d.file == wzp.LINUX_DECODER_FILE and d.one("order"):
            linux_fields.update(x.strip() for x in d.one("order").split(","))
    # The fields Wazuh decodes from the Windows records the agent sends
    # (the form test_wazuh.py checks against the Wazuh output).
    win_fields = set()
    for _, line in corpus_records(corpus):
        if "Linux-Sysmon" not in line:
            win_fields.update(status_samples.wazuh_fields(
                test_wazuh.expected_win(line.encode("utf-8"))))
    for r in mine:
        w = "rule %d" % r.id
        ck.check(lo <= r.id <= hi, w + ": outside the range")
        ck.check(r.id not in {x.id for x in ours}, w + ": collides with "
                 "packaging/wazuh")
        ck.check(1 <= r.level <= 16, w + ": level")
        ck.check(r.if_sid or r.if_matched, w + ": no parent")
        for p in r.if_sid:
            ck.check(p in known, w + ": if_sid %d is neither a stock rule "
                     "of the chain nor ours" % p)
        names = [n for n, _, _, _ in r.fields]
        ck.eq(len(names), len(set(names)), w + ": a field twice")
        for n, _, _, attrs in r.fields:
            ck.check(set(attrs) <= {"name", "negate", "type"},
                     w + ": field attributes %s" % attrs)
            if n.startswith("sysmon."):
                ck.check(n in linux_fields, "%s: %s is not decoded by "
                         "packaging/wazuh's Linux decoders" % (w, n))
            else:
                ck.check(n in win_fields, "%s: %s is in the Wazuh form of "
                         "no corpus record" % (w, n))
        for m in re.finditer(r"\$\(([^)]+)\)", r.description):
            f = m.group(1)
            ck.check(f in linux_fields if f.startswith("sysmon.") else
                     f in win_fields,
                     "%s: description uses $(%s)" % (w, f))
        if r.if_matched:
            ck.check(int(r.if_matched) in ids, w + ": if_matched_sid")
            ck.eq((r.attrs.get("frequency"), r.attrs.get("timeframe")),
                  ("10", "60"), w + ": frequency and timeframe")
            sf = r.elem.findtext("same_field")
            ck.check(sf in ("win.system.computer", "sysmon.computer"),
                     w + ": same_field %s" % sf)
            try:
                ck.eq(time_window(r.elem.findtext("time") or ""),
                      (22 * 60, 6 * 60), w + ": the night window")
            except ValueError as e:
                ck.fail("%s: <time>: %s" % (w, e))
    tree = WTree(stock + ours + mine)
    lindec = wzp.check_decoders(it.Checker("decoders", max_print=0), decs)
    if not ck.check(lindec is not None, "Linux decoders not emulated"):
        return
    fired = set()
    for what, line, eid, data, dets, _ in syn:
        linux = "Linux-Sysmon" in line
        if linux:
            res = lindec.decode(line)
            if not ck.check(res is not None, what + ": not decoded"):
                continue
            got = tree.evaluate(wzp.LINUX_PARENT, res[1])
            default = LINUX_PER_EID.get(eid)
        else:
            fields = status_samples.wazuh_fields(
                test_wazuh.expected_win(line.encode("utf-8")))
            got = tree.evaluate("windows_eventchannel", fields)
            default = STOCK_PER_EID.get(eid)
        want = [WAZUH_EXPECT[(d, linux)] for d in sorted(dets)]
        if len(want) > 1:        # two detections: the higher level wins
            want = [max(want, key=lambda i: (tree.rules[i].level, -i))]
        if want:
            ck.eq(got, want[0], "Wazuh rule for %r" % what)
        else:             # a near miss: no rule of ours (another may fire)
            ck.check(got is not None and not 100600 <= got <= 100649,
                     "Wazuh rule for near miss %r: %s (stock or "
                     "per-EventID %s expected)" % (what, got, default))
        fired.add(got)
    # A record tagged at the host and matching no other rule: 100604.
    base = next(l for w, l, e, d, s, _ in syn if "notepad" in w)
    doc = test_wazuh.expected_win(base.encode("utf-8"))
    doc["sysmonfwd"] = {"tags": ["indextts_python_drops_binary"]}
    got = tree.evaluate("windows_eventchannel",
                        status_samples.wazuh_fields(doc))
    ck.eq(got, 100604, "Wazuh rule for a record tagged at the host")
    fired.add(got)
    for r in mine:
        if not r.if_matched and r.id not in (100607, 100608):
            ck.check(r.id in fired, "rule %d fired on no synthetic record" %
                     r.id)
    # Sysmon's own records of the corpus: 16 reaches 100607, 4 does not.
    seen16 = 0
    for where, line in corpus_records(corpus):
        if "Linux-Sysmon" in line:
            continue
        eid, _ = record_data(line)
        if eid not in (4, 16):
            continue
        got = tree.evaluate("windows_eventchannel", status_samples.
                            wazuh_fields(test_wazuh.expected_win(
                                line.encode("utf-8"))))
        ck.eq(got, 100607 if eid == 16 else 61606, "Wazuh rule for %s "
              "(EventID %d)" % (where, eid))
        seen16 += eid == 16
    ck.check(seen16 >= 1, "no EventID 16 record in the corpus")
    # A real EventID 4 record edited to say Stopped: 100608.
    e4 = next((l for _, l in corpus_records(corpus)
               if "Linux-Sysmon" not in l and "<EventID>4<" in l), None)
    if ck.check(e4 is not None, "no Windows EventID 4 record"):
        got = tree.evaluate("windows_eventchannel", status_samples.
                            wazuh_fields(test_wazuh.expected_win(set_data(
                                e4, "State", "Stopped").encode("utf-8"))))
        ck.eq(got, 100608, "Wazuh rule for Sysmon's EventID 4 Stopped")
        fired.add(got)
    # No corpus record reaches a rule of ours other than those expected.
    hits = {}
    for where, line in corpus_records(corpus):
        if "Linux-Sysmon" in line:
            res = lindec.decode(line.rstrip("\r"))
            got = tree.evaluate(wzp.LINUX_PARENT, res[1]) if res else None
        else:
            got = tree.evaluate("windows_eventchannel", status_samples.
                                wazuh_fields(test_wazuh.expected_win(
                                    line.encode("utf-8"))))
        if got is not None and lo <= got <= hi:
            hits[got] = hits.get(got, 0) + 1
    ck.eq(hits, {100602: 3, 100603: 6, 100607: 2}, "corpus records "
          "reaching the IndexTTS Wazuh rules (as the [tag] file finds, and "
          "the two EventID 16)")
    ck.note("Wazuh: corpus records reaching indextts rules: %s" % hits)


# ---- 7: the agent's own [filter] and [tag] ----

def engine_available(args, tmp):
    cfg = it.simple_config(tmp, "/dev/null", os.path.join(tmp, "x.ndjson"),
                           state_dir=os.path.join(tmp, "probe-state")) + \
        "[tag]\nrules = %s\n[filter]\nrules = %s\n" % (
            os.path.join(FILTER_DIR, "indextts-detections.xml"),
            os.path.join(FILTER_DIR, "indextts-noise.xml"))
    path = it.write_config(os.path.join(tmp, "probe.conf"), cfg)
    res = it.run(args.bin, ["-c", path, "--check-config"], timeout=30)
    return res.returncode == 0, res.stdout + res.stderr


def record_key(host, rid, time_created):
    return (host, str(rid), time_created)


def check_agent_engine(ck, args, tmp, syn, files):
    ok, out = engine_available(args, tmp)
    if not ok:
        ck.note("the binary has no [tag]/[filter] engine yet (--check-config "
                "says: %s): packaging/filters/*.xml checked by the Python "
                "evaluator only" % it.short(out.decode("utf-8", "replace"),
                                            200))
        return
    extra = "[tag]\nrules = %s\n[filter]\nrules = %s\n" % (
        os.path.join(FILTER_DIR, "indextts-detections.xml"),
        os.path.join(FILTER_DIR, "indextts-noise.xml"))
    lines = [it.with_record_id(l.encode("utf-8"), 900000 + i).decode()
             for i, (_, l, _, _, _, _) in enumerate(syn)]
    corpus = corpus_records(args.corpus)
    docs = run_agent(ck, args, tmp, lines + [l for _, l in corpus],
                     "engine", extra)
    if docs is None:
        return
    by_id = {d.get("winlog", {}).get("record_id"): d for d in docs}
    applied = sum(1 for d in docs if set(d.get("tags", [])) &
                  set(DETECTIONS)) + len(syn) - len(by_id)
    if applied == 0:
        # The configuration is accepted but no record was tagged or
        # dropped: an engine not wired into the pipeline yet.
        ck.skip_or_fail("the binary accepts [tag] and [filter] but applied "
                        "no rule to %d records (engine not wired in yet?)" %
                        len(syn))
        return
    ck.note("the agent's own [tag]/[filter] engine checked on %d records" %
            len(syn))
    for i, (what, _, _, _, dets, dropped) in enumerate(syn):
        d = by_id.get(str(900000 + i))
        if dropped:
            ck.check(d is None, "agent [filter] drops %r" % what)
            continue
        if not ck.check(d is not None, "agent keeps %r" % what):
            continue
        tags = set(d.get("tags", [])) & set(DETECTIONS)
        ck.eq(tags, dets, "agent [tag] tags of %r" % what)
    # The whole corpus: the same tags and drops as the evaluator.
    tag, noise = files.get("filters/indextts-detections.xml"), \
        files.get("filters/indextts-noise.xml")
    got = {}
    for d in docs:
        w = d.get("winlog", {})
        got[record_key(d.get("host", {}).get("name"), w.get("record_id"),
                       w.get("time_created"))] = d
    n = 0
    for where, line in corpus:
        exp = it.expected_from_line(line.encode("utf-8"))
        key = record_key(exp["computer_name"], exp["record_id"],
                         exp["time_created"])
        eid, data = record_data(line)
        kept, _ = evaluate(noise, eid, data)
        _, names = evaluate(tag, eid, data)
        d = got.get(key)
        if not kept:
            ck.check(d is None, "agent keeps corpus record %s" % where)
            continue
        if not ck.check(d is not None, "agent drops corpus record %s" %
                        where):
            continue
        ck.eq(set(d.get("tags", [])) & set(DETECTIONS), names,
              "agent [tag] tags of corpus record %s" % where)
        n += 1
    ck.note("the agent's [tag]/[filter] agree with the evaluator on %d "
            "corpus records" % n)
    # The shipped Sysmon configurations as [filter] rules: the agent's
    # parser reads them and keeps what the evaluator keeps.
    for name in ("sysmon/indextts-windows.xml", "sysmon/indextts-linux.xml"):
        sf = files.get(name)
        if sf is None:
            continue
        tag_name = os.path.basename(name).replace(".xml", "")
        docs = run_agent(ck, args, tmp, [l for _, l in corpus], tag_name,
                         "[filter]\nrules = %s\n" % sf.path)
        if docs is None:
            continue
        have = {record_key(d.get("host", {}).get("name"),
                           d.get("winlog", {}).get("record_id"),
                           d.get("winlog", {}).get("time_created"))
                for d in docs}
        kept = 0
        for where, line in corpus:
            exp = it.expected_from_line(line.encode("utf-8"))
            eid, data = record_data(line)
            want = evaluate(sf, eid, data)[0]
            kept += want
            ck.eq(record_key(exp["computer_name"], exp["record_id"],
                             exp["time_created"]) in have, want,
                  "agent with [filter] rules = %s keeps %s" % (name, where))
        ck.note("agent with [filter] rules = %s: keeps %d of %d corpus "
                "records, as the evaluator" % (name, kept, len(corpus)))


# ---- 8: READMEs ----

def check_readmes(ck):
    with open(os.path.join(DET_DIR, "README.md"), encoding="utf-8") as f:
        text = f.read()
    for d in DETECTIONS + ["indextts_calls_at_night", "sysmon_tamper"]:
        ck.check("`%s`" % d in text, "detections README: %s not described"
                 % d)
    for path in sorted(glob.glob(os.path.join(DET_DIR, "*", "*"))):
        rel = os.path.relpath(path, DET_DIR)
        ck.check(rel in text, "detections README does not list %s" % rel)
    for p in ("22:00", "06:00", "10", "60"):
        ck.check(p in text, "detections README: parameter %s" % p)
    with open(os.path.join(SYSMON_DIR, "README.md"), encoding="utf-8") as f:
        stext = f.read()
    for n in ("Sysmon64.exe -accepteula -i indextts-windows.xml",
              "sysmon -accepteula -i indextts-linux.xml",
              "0:0:0:0:0:0:0:1", "EventID 4, 16, 255"):
        ck.check(n in stext, "sysmon README lacks %r" % n)


def main():
    args = it.parse_args()
    ck = it.Checker("detections")
    tmp = tempfile.mkdtemp(prefix="sysmonfwd-det-")
    try:
        base = bases(args.corpus)
        syn = synthetic(ck, base)
        files = check_sysmon_files(ck, args.corpus)
        check_config_semantics(ck, files, syn, args.corpus)
        check_tag_semantics(ck, files, syn, args.corpus)
        # The agent's documents for the corpus and the synthetic records.
        lines = [l for _, l in corpus_records(args.corpus)]
        lines += [it.with_record_id(l.encode("utf-8"), 800000 + i).decode()
                  for i, (_, l, _, _, _, _) in enumerate(syn)]
        docs = run_agent(ck, args, tmp, lines, "corpus") or []
        ck.check(len(docs) >= len(lines), "agent wrote %d documents for %d "
                 "records" % (len(docs), len(lines)))
        fields = doc_fields(docs)
        check_sigma(ck, syn, files.get("filters/indextts-detections.xml"),
                    [(w, l) + record_data(l) for w, l in
                     corpus_records(args.corpus)])
        events = hec_events(ck, args, tmp, lines)
        check_splunk(ck, hec_names(ck, events))
        check_spl_semantics(ck, dict(dash.parse_conf(ck, os.path.join(
            DET_DIR, "splunk", "savedsearches.conf"))), events, syn)
        check_kibana(ck, fields)
        check_kibana_semantics(ck, docs, syn)
        check_wazuh(ck, args, syn, args.corpus)
        check_agent_engine(ck, args, tmp, syn, files)
        check_readmes(ck)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ck.finish()


if __name__ == "__main__":
    main()
