"""[redact:NAME]: command lines are redacted before the ring, so the clear
text reaches neither the disk nor any output.

The real binary reads records made by editing real corpus records (a
Windows EventID 1 of windows-xml/ and a Sysmon for Linux EventID 1 of
linux-syslog/) so that their CommandLine and ParentCommandLine carry
secrets: CJK text after --text, a user id after --user_id, a quoted value
with spaces and escaped quotes (&quot; in the XML), --user_id=VALUE, a
password for a PCRE2 pattern, a quoted command line inside cmd /c; plus a
line cut in the middle of its command line and a line that is not XML at
all (both forwarded as parse errors).  Outputs: a file (keep_original =
true: event.original) and Splunk HEC with format = xml (the raw XML) to
hec_server.py over TLS, whose first batch gets a partial answer (code 6)
so that one event is dead-lettered.

(a) No secret appears anywhere: not in the ring's segment files
    (state_dir/buffer, every block inflated with the ring's preset
    dictionary, read from buffer/segment.c), not in the NDJSON file (raw
    bytes and decoded JSON), not in any byte the HEC server received
    (every request body, refused ones included), not in the dead-letter
    file, not in the agent's stderr.  That the search saw the records is
    checked too: the tokens are found in each place.
(b) The tokens are hmac: + the first 16 hex digits of HMAC-SHA256 under
    the key file's key, computed here with Python's hmac module; each
    rewritten record carries the tag sysmonfwd_redacted (ECS tags, HEC
    fields.sysmonfwd_tags).
(c) Restarted on the same state_dir with new records holding the same
    values, the agent writes the same tokens.
(d) Heartbeats count what was redacted (counters.redacted: records,
    counters.redacted_values: values) and /metrics says it per section
    (sysmonfwd_records_redacted_total{rule="tts"}, {rule="pw"}).
"""
import glob
import hashlib
import hmac
import json
import os
import re
import struct
import sys
import urllib.request
import zlib

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402
import hec_server  # noqa: E402

KEY = "redact-integration-key-5f0c3a9d7e21b846"
TOKEN = "11111111-2222-3333-4444-555555555555"
SECRETS = ["机密会议纪要", "u_88765", "u_44321", "Zebra", "Quartz",
           "OpalWhisper", "hunter2", "LinuxSecretWord"]
SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def tok(value):
    return "hmac:" + hmac.new(KEY.encode(), value.encode("utf-8"),
                              hashlib.sha256).hexdigest()[:16]


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&quot;"))


# (CommandLine, ParentCommandLine, the CommandLine expected after).
WIN_CASES = [
    ("python app.py --text 机密会议纪要 --user_id u_88765",
     'cmd.exe /c "python app.py --text 机密会议纪要"',
     "python app.py --text %s --user_id %s" % (tok("机密会议纪要"),
                                               tok("u_88765"))),
    ('"C:\\Python39\\python.exe" app.py --text "Zebra Quartz \\"OpalWhisper'
     '\\"" --user_id=u_44321',
     "explorer.exe",
     '"C:\\Python39\\python.exe" app.py --text %s --user_id=%s' % (
         tok('Zebra Quartz "OpalWhisper"'), tok("u_44321"))),
    ("app.exe --password=hunter2 --text 机密会议纪要",
     "services.exe",
     "app.exe --password=%s --text %s" % (tok("hunter2"),
                                          tok("机密会议纪要"))),
]
LNX_CMD = "python3 app.py --text LinuxSecretWord 机密会议纪要 --user_id u_88765"
LNX_WANT = "python3 app.py --text %s --user_id %s" % (
    tok("LinuxSecretWord 机密会议纪要"), tok("u_88765"))


def base_records(corpus):
    """A Windows EventID 1 line and a Sysmon for Linux EventID 1 line of
    the corpus (str)."""
    win = lnx = None
    for line in it.windows_lines(corpus):
        if (b"<EventID>1</EventID>" in line and
                b"<Data Name='ParentCommandLine'>" in line):
            win = line.decode("utf-8")
            break
    for _, line in it.linux_syslog_lines(corpus):
        if (b"<EventID>1</EventID>" in line and
                b'<Data Name="CommandLine">' in line):
            lnx = line.decode("utf-8")
            break
    return win, lnx


def set_data(line, name, value, q):
    """line with the value of <Data Name=q name q> replaced by value
    (already XML-escaped)."""
    pat = re.compile(r"(<Data Name=%s%s%s>)[^<]*(</Data>)" % (q, name, q))
    new, n = pat.subn(lambda m: m.group(1) + value + m.group(2), line,
                      count=1)
    if n != 1:
        raise ValueError("no %s in the record" % name)
    return new


def set_rid(line, rid):
    return re.sub(r"<EventRecordID>\d+</EventRecordID>",
                  "<EventRecordID>%d</EventRecordID>" % rid, line, count=1)


def make_input(corpus, path, first_rid, copies):
    """Write the test records to path; return the record ids of the
    Windows records per case (lists) and of the Linux ones."""
    win, lnx = base_records(corpus)
    lines, ids, lids = [], [[] for _ in WIN_CASES], []
    rid = first_rid
    for _ in range(copies):
        for i, (cmd, parent, _) in enumerate(WIN_CASES):
            line = set_data(win, "CommandLine", xml_escape(cmd), "'")
            line = set_data(line, "ParentCommandLine", xml_escape(parent),
                            "'")
            lines.append(set_rid(line, rid))
            ids[i].append(rid)
            rid += 1
        line = set_data(lnx, "CommandLine", xml_escape(LNX_CMD), '"')
        lines.append(set_rid(line, rid))
        lids.append(rid)
        rid += 1
    # Cut in the middle of its command line, and not XML at all.
    cut = set_rid(set_data(win, "CommandLine", xml_escape(
        WIN_CASES[0][0]), "'"), rid)
    lines.append(cut[:cut.index("u_88765") + len("u_88765")])
    lines.append("not xml: python app.py --text 机密会议纪要 --user_id "
                 "u_88765")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return ids, lids


def ring_dictionary():
    """dict_v1 of buffer/segment.c, the ring's preset zlib dictionary."""
    with open(os.path.join(SOURCE_DIR, "buffer", "segment.c"),
              encoding="utf-8") as f:
        src = f.read()
    m = re.search(r"static const char dict_v1\[\] =(.*?);\n", src, re.S)
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
    return "".join(parts).encode("latin-1").decode(
        "unicode_escape").encode("latin-1")


def ring_payloads(state_dir, problems):
    """The decompressed payloads of every block of every segment."""
    zdict = ring_dictionary()
    out = []
    for seg in sorted(glob.glob(os.path.join(state_dir, "buffer",
                                             "seg-*.sfw"))):
        with open(seg, "rb") as f:
            data = f.read()
        if data[:8] != b"SFWDSEG\0":
            problems.append("%s: not a segment" % seg)
            continue
        off = struct.unpack_from("<I", data, 12)[0]
        while off + 52 <= len(data):
            if data[off:off + 4] != b"SFBK":
                problems.append("%s: no block at %d" % (seg, off))
                break
            flags = struct.unpack_from("<H", data, off + 6)[0]
            raw_len, stored, m = struct.unpack_from("<III", data, off + 20)
            payload = data[off + 52 + m:off + 52 + m + stored]
            if flags & 1:
                d = zlib.decompressobj(zdict=zdict)
                payload = d.decompress(payload) + d.flush()
            elif flags & 2:
                # Raw deflate (libdeflate, blocks of 48 KiB and more).
                payload = zlib.decompress(payload, -15)
            if len(payload) != raw_len:
                problems.append("%s: block at %d inflates to %d bytes, not "
                                "%d" % (seg, off, len(payload), raw_len))
            out.append(payload)
            off += 52 + m + stored
    return out


class Ctx(it.Ctx):
    def server(self):
        return self.add_server(hec_server.HecServer(
            self.pki["server"], self.pki["server_key"], tokens=[TOKEN]))


def config(ctx, d, inp, url, out_path):
    key = it.write_config(os.path.join(d, "redact.key"), KEY + "\n", 0o600)
    text = it.file_config(os.path.join(d, "state"), [
        ("in", {"type": "file", "path": inp, "follow": "false"})], [
        ("file", {"type": "file", "path": out_path,
                  "keep_original": "true"}),
        ("hec", {"type": "splunk_hec", "url": url, "token": TOKEN,
                 "tls_ca_file": ctx.pki["ca"], "format": "xml",
                 "batch_max_events": "4", "flush_interval": "100ms",
                 "retry_initial": "100ms", "retry_max": "1s"})])
    text += ("[redact:tts]\narguments = --text, --user_id\nkey_file = %s\n"
             "[redact:pw]\nfields = CommandLine\n"
             "pattern = (?i)password=(\\S+)\nkey_file = %s\n" % (key, key))
    return it.write_config(os.path.join(d, "agent.conf"), text, 0o600)


def search(ck, what, data, want_tokens):
    """No secret in data (bytes); the tokens wanted are there."""
    for s in SECRETS:
        ck.check(s.encode("utf-8") not in data, "%s: the secret %r appears "
                 "in clear" % (what, s))
    for t in want_tokens:
        ck.check(t.encode() in data, "%s: token %s not found (was the "
                 "right data searched?)" % (what, t))


def body(ctx):
    ck = ctx.ck
    hec_bodies = []
    real_parse = hec_server.parse_batch

    def recording_parse(text, *a, **kw):
        hec_bodies.append(text)
        return real_parse(text, *a, **kw)
    hec_server.parse_batch = recording_parse

    d = ctx.dir("run")
    inp = os.path.join(d, "in.log")
    out = os.path.join(d, "out.ndjson")
    ids, lids = make_input(ctx.args.corpus, inp, 9100, 2)
    s = ctx.server()
    s.answer_next(1, 400, 6, invalid_event_number=1, min_events=2)
    conf = config(ctx, d, inp, s.url, out)
    rc, err = ctx.run_once(conf, 120)
    ck.eq(rc, 0, "(a) exit code (stderr: %s)" % err[-800:])
    every = [tok("机密会议纪要"), tok("u_88765")]

    # (a) the ring
    problems = []
    payloads = ring_payloads(os.path.join(d, "state"), problems)
    ck.eq(problems, [], "(a) the ring's segments read")
    ck.check(payloads, "(a) the ring holds blocks")
    search(ck, "(a) the ring's segments", b"".join(payloads), every)
    # the file output
    with open(out, "rb") as f:
        raw = f.read()
    search(ck, "(a) the NDJSON file", raw, every)
    docs, probs = it.read_ndjson(out)
    ck.eq(probs, [], "(a) the NDJSON file is valid")
    decoded = "\n".join(json.dumps(x, ensure_ascii=False) for x in docs)
    search(ck, "(a) the NDJSON documents, decoded",
           decoded.encode("utf-8"), every)
    # HEC: every body it received, and what it stored
    search(ck, "(a) the bodies HEC received", "\n".join(
        hec_bodies).encode("utf-8"), every)
    ck.check(len(hec_bodies) >= 2, "(a) HEC received requests")
    _, stored, _ = s.snapshot()
    nxml = sum(1 for e in stored if isinstance(e["envelope"].get("event"),
                                                str))
    # All but the dead letter went as raw XML (the two parse errors as
    # their JSON documents).
    ck.check(nxml in (7, 8), "(a) raw XML events HEC stored: %d" % nxml)
    # dead letters
    dl = ctx.dead_letters(d, "hec", "(a)")
    ck.check(len(dl) >= 1, "(a) a dead letter was written")
    dl_path = os.path.join(d, "state", "deadletter", "hec.ndjson")
    if os.path.exists(dl_path):
        with open(dl_path, "rb") as f:
            dl_raw = f.read()
        search(ck, "(a) the dead letters", dl_raw, [])
        ck.check(b"hmac:" in dl_raw, "(a) the dead letter holds a token")
    for where, text in ctx.texts:
        search(ck, "(a) " + where, text.encode("utf-8"), [])

    # (b) tokens and tags, record by record
    by_rid = {}
    for x in docs:
        try:
            by_rid[int(x["winlog"]["record_id"])] = x
        except (KeyError, TypeError, ValueError):
            pass
    for i, (_, _, want) in enumerate(WIN_CASES):
        for rid in ids[i]:
            x = by_rid.get(rid)
            if not ck.check(x is not None, "(b) record %d arrived" % rid):
                continue
            ev = x["winlog"]["event_data"]
            ck.eq(ev.get("CommandLine"), want, "(b) record %d CommandLine"
                  % rid)
            ck.check("sysmonfwd_redacted" in x.get("tags", []),
                     "(b) record %d tagged sysmonfwd_redacted: %s" %
                     (rid, x.get("tags")))
            orig = x.get("event", {}).get("original", "")
            ck.check(xml_escape(want) in orig, "(b) record %d: "
                     "event.original carries the tokens" % rid)
    x = by_rid.get(ids[0][0])
    if x is not None:
        ck.eq(x["winlog"]["event_data"].get("ParentCommandLine"),
              'cmd.exe /c "python app.py --text %s"' % tok("机密会议纪要"),
              "(b) ParentCommandLine, a command line inside cmd /c")
    for rid in lids:
        x = by_rid.get(rid)
        if ck.check(x is not None, "(b) Linux record %d arrived" % rid):
            ck.eq(x["winlog"]["event_data"].get("CommandLine"), LNX_WANT,
                  "(b) Linux record %d CommandLine" % rid)
    errs = [x for x in docs if x.get("event", {}).get("kind") ==
            "pipeline_error"]
    ck.eq(len(errs), 2, "(b) the two unparsable lines arrived")
    for x in errs:
        ck.check(tok("机密会议纪要") in x.get("message", ""),
                 "(b) a parse error's message carries the token: %s" %
                 it.short(x.get("message")))
    stored_xml = "\n".join(e["envelope"]["event"] for e in stored
                           if isinstance(e["envelope"].get("event"), str))
    ck.check(xml_escape(WIN_CASES[1][2]) in stored_xml,
             "(b) the XML sent to HEC carries the tokens (with &quot;)")
    for e in stored:
        env = e["envelope"]
        if isinstance(env.get("event"), str) and "hmac:" in env["event"]:
            tags = env.get("fields", {}).get("sysmonfwd_tags")
            tags = [tags] if isinstance(tags, str) else tags or []
            ck.check("sysmonfwd_redacted" in tags, "(b) a redacted HEC "
                     "event has fields.sysmonfwd_tags sysmonfwd_redacted: "
                     "%s" % it.short(env.get("fields")))

    # (c) a restart: the same values, the same tokens
    inp2 = os.path.join(d, "in2.log")
    ids2, _ = make_input(ctx.args.corpus, inp2, 9500, 1)
    conf2 = config(ctx, d, inp2, s.url, out)
    rc, err = ctx.run_once(conf2, 120)
    ck.eq(rc, 0, "(c) exit code after the restart (stderr: %s)" %
          err[-800:])
    docs2, _ = it.read_ndjson(out)
    for x in docs2:
        try:
            rid = int(x["winlog"]["record_id"])
        except (KeyError, TypeError, ValueError):
            continue
        for i, (_, _, want) in enumerate(WIN_CASES):
            if rid in ids2[i]:
                ck.eq(x["winlog"]["event_data"].get("CommandLine"), want,
                      "(c) record %d after the restart" % rid)
    with open(out, "rb") as f:
        search(ck, "(c) the NDJSON file after the restart", f.read(),
               every)
    hec_server.parse_batch = real_parse
    scenario_counters(ctx)


def metrics(port):
    """{(name, rule label or None): value} of the agent's /metrics."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                    timeout=5) as r:
            text = r.read().decode("utf-8")
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(\w+)(?:\{rule="([^"]*)"\})? (\S+)$', line)
        if m:
            out[(m.group(1), m.group(2))] = float(m.group(3))
    return out


def scenario_counters(ctx):
    """(d) counters.redacted in heartbeats, per section in /metrics"""
    ck = ctx.ck
    d = ctx.dir("counters")
    inp = os.path.join(d, "in.log")
    out = os.path.join(d, "out.ndjson")
    make_input(ctx.args.corpus, inp, 9900, 1)
    key = it.write_config(os.path.join(d, "redact.key"), KEY + "\n", 0o600)
    port = ctx.port()
    text = it.file_config(os.path.join(d, "state"), [
        ("in", {"type": "file", "path": inp, "follow": "true",
                "poll_interval": "50ms"})], [
        ("file", {"type": "file", "path": out})],
        agent_extra="heartbeat_interval = 1s", status=True)
    text += ("[watchdog]\nenabled = false\n" if "[watchdog]" not in text
             else "")
    text += ("[monitor]\nlisten = 127.0.0.1:%d\n"
             "[redact:tts]\narguments = --text, --user_id\nkey_file = %s\n"
             "[redact:pw]\nfields = CommandLine\n"
             "pattern = (?i)password=(\\S+)\nkey_file = %s\n" %
             (port, key, key))
    conf = it.write_config(os.path.join(d, "agent.conf"), text, 0o600)
    a = ctx.agent(conf, once=False)
    # 3 Windows records, 1 Linux one, a cut line and a non-XML line:
    # [redact:tts] rewrites all 6, [redact:pw] one (hunter2); 13 values
    # in all (3 + 2 + 2 for the Windows ones, 2 for each of the others).
    want = {("sysmonfwd_records_redacted_total", "tts"): 6.0,
            ("sysmonfwd_records_redacted_total", "pw"): 1.0}
    got = {}

    def reached():
        got.update(metrics(port))
        return all(got.get(k) == v for k, v in want.items())
    ck.check(it.wait_for(reached, 60), "(d) /metrics per section: %s" %
             {k: got.get(k) for k in want})
    vals = got.get(("sysmonfwd_values_redacted_total", None))

    def heartbeat():
        docs, _ = it.read_ndjson(out) if os.path.exists(out) else ([], [])
        hb = [x for x in docs if x.get("event", {}).get("dataset") ==
              "sysmonfwd.heartbeat"]
        return hb and hb[-1]["sysmonfwd"]["counters"].get("redacted") == 6
    ck.check(it.wait_for(heartbeat, 60), "(d) a heartbeat counts 6 "
             "records redacted")
    docs, _ = it.read_ndjson(out)
    hb = [x for x in docs if x.get("event", {}).get("dataset") ==
          "sysmonfwd.heartbeat"]
    if hb:
        c = hb[-1]["sysmonfwd"]["counters"]
        ck.eq(c.get("redacted_values"), vals, "(d) heartbeat "
              "redacted_values equals /metrics' sysmonfwd_values_redacted_"
              "total")
        ck.eq(vals, 13.0, "(d) values replaced")
    a.stop_ok(ck, "(d)")


def main():
    it.output_test("integration_redact", "sysmonfwd-redact-", body,
                   ctx_class=Ctx)


if __name__ == "__main__":
    main()
