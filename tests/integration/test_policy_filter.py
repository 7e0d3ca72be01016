"""[filter] and [tag]: Sysmon's EventFiltering rules run by the real binary
on the whole corpus, before the ring.

The agent reads every Windows file and every Sysmon for Linux file of the
corpus (follow = true, so that it stays up), with a [filter] rules file
and a [tag] rules file, into an NDJSON file output, with heartbeats every
second and the monitor endpoint.  What each record should become is worked
out here independently (Python's ElementTree and a few lines per
condition used), then:

(a) exactly the records the rules keep are written, each once, with
    exactly the tags the [tag] rules give it (sysmon_tamper beside them
    for EventIDs 4 and 16), and event.original is the line as read;
(b) a heartbeat reports counters.filtered and the per-rule counts of
    sysmonfwd.filtered, equal to what was dropped per rule;
(c) /metrics has sysmonfwd_records_filtered_total{rule="..."} per rule,
    and sysmonfwd_records_tagged_total;
(d) a restart reads nothing again (a dropped record moved the position);
(e) --check-config reads the rules files: a broken one is refused with
    file:line: problem and exit code 2, a good one says configuration OK.
"""
import os
import re
import sys
import urllib.request

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402

WAIT = 60       # deadline (s) for a positive signal; never a measure
HB = "sysmonfwd.heartbeat"

FILTER = """<Sysmon schemaversion="4.90">
  <EventFiltering>
    <RuleGroup name="" groupRelation="or">
      <ImageLoad onmatch="include">
        <ImageLoaded condition="contains any"
            name="loads_from_user_dirs">\\Users\\;\\Temp\\</ImageLoaded>
      </ImageLoad>
    </RuleGroup>
    <CreateRemoteThread onmatch="exclude">
      <SourceImage condition="end with"
          name="noise_powershell_threads">powershell.exe</SourceImage>
    </CreateRemoteThread>
    <ProcessTerminate onmatch="exclude">
      <Image condition="begin with"
          name="elastic_agent_exits">/opt/Elastic/</Image>
    </ProcessTerminate>
  </EventFiltering>
</Sysmon>
"""

TAG = """<Sysmon schemaversion="4.90">
  <EventFiltering>
    <RuleGroup name="" groupRelation="or">
      <ProcessCreate onmatch="include">
        <Rule name="powershell_with_args" groupRelation="and">
          <Image condition="end with">\\powershell.exe</Image>
          <CommandLine condition="contains">-</CommandLine>
        </Rule>
        <ParentImage condition="image" name="child_of_cmd">cmd.exe</ParentImage>
      </ProcessCreate>
      <NetworkConnect onmatch="include">
        <DestinationPort condition="is any" name="web_port">80;443</DestinationPort>
      </NetworkConnect>
    </RuleGroup>
  </EventFiltering>
</Sysmon>
"""


def data_of(exp, name):
    for k, v in exp["data"]:
        if k == name:
            return v
    return None


def sysmon(exp):
    return exp["provider_name"] in ("Microsoft-Windows-Sysmon",
                                    "Linux-Sysmon")


def expected_verdict(exp):
    """(dropped by rule or None, tags) as the rule files above say."""
    if not sysmon(exp):
        return None, []
    eid = exp["event_id"]
    low = lambda n: (data_of(exp, n) or "").lower()  # noqa: E731
    if eid == "7":
        v = low("ImageLoaded")
        if "\\users\\" not in v and "\\temp\\" not in v:
            return "not included: ImageLoad", []
    if eid == "8" and low("SourceImage").endswith("powershell.exe"):
        return "noise_powershell_threads", []
    if eid == "5" and data_of(exp, "Image") is not None and \
            low("Image").startswith("/opt/elastic/"):
        return "elastic_agent_exits", []
    tags = []
    if eid == "1":
        if low("Image").endswith("\\powershell.exe") and \
                "-" in low("CommandLine"):
            tags.append("powershell_with_args")
        pi = low("ParentImage")
        if pi == "cmd.exe" or pi.rsplit("\\", 1)[-1].rsplit("/", 1)[-1] == \
                "cmd.exe":
            tags.append("child_of_cmd")
    if eid == "3" and low("DestinationPort") in ("80", "443"):
        tags.append("web_port")
    if eid in ("4", "16", "255"):
        tags.insert(0, "sysmon_tamper")
    return None, tags


def corpus_records(corpus):
    """(input name, path, [record lines (bytes)]) per corpus file."""
    out = []
    paths = it.windows_files(corpus) + it.linux_files(corpus)
    for i, p in enumerate(paths):
        with open(p, "rb") as f:
            lines = [l.rstrip(b"\r") for l in f.read().split(b"\n")]
        out.append(("in%d" % i, p, [l for l in lines if b"<Event" in l]))
    return out


def docs_of(path):
    """The documents of the output file so far (a line being written is
    left out until it is whole)."""
    return [d for d in it.read_ndjson(path)[0] if isinstance(d, dict)]


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode("utf-8")


def metrics_of(port):
    try:
        st, text = http_get("http://127.0.0.1:%d/metrics" % port)
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? '
                        r'([0-9.eE+-]+)$', line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def body(args, ck, tmp):
    files = corpus_records(args.corpus)
    fpath = it.write_config(os.path.join(tmp, "filter.xml"), FILTER)
    tpath = it.write_config(os.path.join(tmp, "tag.xml"), TAG)
    out = os.path.join(tmp, "out.ndjson")
    port = it.reserve_port()
    inputs = [(name, {"type": "file", "path": p, "follow": "true",
                      "poll_interval": "50ms"}) for name, p, _ in files]
    conf_text = it.file_config(
        os.path.join(tmp, "state"), inputs,
        [("out", {"type": "file", "path": out,
                  "keep_original": "true"})],
        agent_extra="heartbeat_interval = 1s", status=True)
    conf_text += ("[watchdog]\nenabled = false\n[monitor]\nlisten = "
                  "127.0.0.1:%d\n[filter]\nrules = %s\n[tag]\nrules = %s\n"
                  % (port.port, fpath, tpath))
    conf = it.write_config(os.path.join(tmp, "a.conf"), conf_text)

    # What the rules should do, worked out here.
    kept, dropped, tagged = {}, {}, 0
    total = 0
    for name, _, lines in files:
        for line in lines:
            total += 1
            exp = it.expected_from_line(line)
            rule, tags = expected_verdict(exp)
            key = (exp["computer_name"], exp["channel"], exp["record_id"],
                   exp["time_created"], exp["event_id"])
            if rule is not None:
                dropped[rule] = dropped.get(rule, 0) + 1
                continue
            if [t for t in tags if t != "sysmon_tamper"]:
                tagged += 1
            kept.setdefault(key, []).append((line, tags))
    n_kept = sum(len(v) for v in kept.values())
    n_dropped = sum(dropped.values())
    print("corpus: %d records, %d kept, %d dropped %r, %d tagged" %
          (total, n_kept, n_dropped, dropped, tagged), flush=True)
    ck.check(n_dropped > 500 and len(dropped) == 3 and tagged > 5,
             "the rules drop records by every rule and tag some")

    # (e) --check-config
    r = it.run(args.bin, ["-c", conf, "--check-config"])
    ck.eq((r.returncode, r.stdout.decode()), (0, "configuration OK\n"),
          "(e) --check-config with good rules files")
    bad = it.write_config(os.path.join(tmp, "bad.xml"),
                          "<Sysmon>\n<EventFiltering>\n"
                          "<ProcessCreate onmatch=\"include\">\n"
                          "<Image condition=\"ends with\">x</Image>\n"
                          "</ProcessCreate></EventFiltering></Sysmon>\n")
    bconf = it.write_config(os.path.join(tmp, "b.conf"),
                            conf_text.replace(fpath, bad))
    r = it.run(args.bin, ["-c", bconf, "--check-config"])
    ck.eq(r.returncode, 2, "(e) --check-config with a broken rules file")
    ck.check(("%s:4: <Image>: unknown condition \"ends with\"" % bad)
             in r.stderr.decode(), "(e) the problem names file:line: %r" %
             it.short(r.stderr.decode()))
    ck.eq(r.stdout, b"", "(e) nothing said OK")
    r = it.run(args.bin, ["-c", bconf])
    ck.eq(r.returncode, 2, "(e) a run with a broken rules file")

    # (a)-(c): the run.
    a = it.Agent([args.bin, "-c", conf], os.path.join(tmp, "err1.txt"))
    try:
        def records():
            return [d for d in docs_of(out)
                    if d.get("event", {}).get("dataset") is None and
                    d.get("event", {}).get("kind") == "event"]

        def last_hb():
            hbs = [d for d in docs_of(out)
                   if d.get("event", {}).get("dataset") == HB]
            return hbs[-1]["sysmonfwd"] if hbs else None

        ck.check(it.wait_for(lambda: len(records()) >= n_kept, WAIT),
                 "(a) %d records written (got %d)" % (n_kept,
                                                      len(records())))
        # (b) a heartbeat that has seen everything.
        ck.check(it.wait_for(
            lambda: (last_hb() or {}).get("counters", {}).get(
                "records_read") == n_kept, WAIT),
            "(b) a heartbeat with every record read")
        hb = last_hb() or {}
        ck.eq(hb.get("counters", {}).get("filtered"), n_dropped,
              "(b) heartbeat counters.filtered")
        ck.eq(hb.get("counters", {}).get("tagged"), tagged,
              "(b) heartbeat counters.tagged")
        ck.eq({f["rule"]: f["records"] for f in hb.get("filtered", [])},
              dropped, "(b) heartbeat sysmonfwd.filtered per rule")
        # (c) /metrics
        m = metrics_of(port.port)
        for rule, n in dropped.items():
            ck.eq(m.get(("sysmonfwd_records_filtered_total",
                         '{rule="%s"}' % rule)), float(n),
                  "(c) /metrics filtered for rule %s" % rule)
        ck.eq(m.get(("sysmonfwd_records_tagged_total", "")), float(tagged),
              "(c) /metrics sysmonfwd_records_tagged_total")
        ck.eq(m.get(("sysmonfwd_records_read_total", "")), float(n_kept),
              "(c) /metrics records read (the kept ones)")
        err = a.stop_ok(ck, "(a)")
        ck.check(("non-record lines ignored, %d dropped by [filter]," %
                  n_dropped) in err, "(a) the summary line counts the "
                 "records dropped: %r" % it.short(err[-400:]))
    finally:
        a.close()

    ck.eq(it.read_ndjson(out)[1], [], "(a) the output is strict NDJSON")
    docs = records()
    ck.eq(len(docs), n_kept, "(a) documents written")
    seen = {}
    for d in docs:
        w = d.get("winlog", {})
        key = (w.get("computer_name"), w.get("channel"), w.get("record_id"),
               w.get("time_created"), w.get("event_id"))
        if not ck.check(key in kept, "(a) a record the rules drop was "
                        "written: %r" % (key,)):
            continue
        i = seen.get(key, 0)
        seen[key] = i + 1
        if not ck.check(i < len(kept[key]), "(a) written twice: %r" %
                        (key,)):
            continue
        line, tags = kept[key][i]
        orig = d.get("event", {}).get("original", "").encode("utf-8")
        ck.eq(orig, line, "(a) event.original of %r is the line" % (key,))
        ck.eq(d.get("tags", []), tags, "(a) tags of %r" % (key,))

    # (d) a restart reads nothing again, dropped records included.
    before = len(docs_of(out))
    a = it.Agent([args.bin, "-c", conf, "--once"],
                 os.path.join(tmp, "err2.txt"))
    try:
        rc = a.wait(WAIT)
        ck.eq(rc, 0, "(d) the second run ends (--once)")
        again = [d for d in docs_of(out)[before:]
                 if d.get("event", {}).get("kind") == "event"]
        ck.eq(len(again), 0, "(d) records written again after a restart")
    finally:
        a.close()
    port.close()


if __name__ == "__main__":
    it.run_parts("policy_filter", "sysmonfwd-polit-", body)
