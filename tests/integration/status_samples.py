"""Real heartbeat, alert and gap documents from the agent, for the tests of
the files in packaging/ (test_dashboards.py, test_wazuh_packaging.py).

Not a test itself.  collect() runs the real binary twice at the same time,
for about 7 s in all, and returns what it wrote:

A. Sysmon's stand-in, a copy of /bin/sleep started under the watched name
   (sfwds<pid>, 15 characters at most, like a process name), is running.
   heartbeat_interval = 1s; [watchdog] check_interval = 1s, silence_alert
   = 2s; one input file of 3 records (followed); a file output and, when
   the Wazuh test server (wazuh_server.py, plain HTTP) starts, a Wazuh
   output.  Steps: heartbeats while Sysmon runs; 2 s without a record: a
   sysmon-silent alert; the stand-in killed: a sysmon-state-changed alert
   (stopped, was running) and heartbeats saying stopped; the stand-in
   started again: an alert saying running.
B. A Sysmon that does not exist (not_installed alert and heartbeats), a
   1 MiB ring without compression (full = drop_oldest, the default), 3,000
   records read at once (--once, follow = false), an output "ok" and an
   output "down" whose path is a directory, so that every write fails and
   is retried.  The ring evicts records "down" has not received: gap
   documents (records-dropped); heartbeats in "ok" report "down" as
   retrying with a backlog and records dropped.  After 2 s the directory
   is removed, "down" delivers again and the agent exits.

The documents are the file output's lines: the ECS form, as the
Elasticsearch output indexes them (without its data_stream member) and the
Splunk HEC output sends them as "event".  The Wazuh output sends a
heartbeat or an alert as the event string that status_render_doc(...,
wazuh = true) in agent/render/render_status.c writes: {"sysmonfwd":{ every top-level
member but "sysmonfwd", in order, then the members of the ECS document's
"sysmonfwd" object }}.  wazuh_text() derives it from the file line as
text; when run A had a Wazuh output, every event the test server received
is checked to be exactly the derived text of a line of the file output
(both come from the same rendering of the same status).

Run as a script it prints the samples (or writes the Wazuh lines used as
packaging/wazuh/logtest/ examples, see --help).
"""
import json
import os
import shutil
import signal
import sys
import tempfile
import threading

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402

HB = "sysmonfwd.heartbeat"
ALERT = "sysmonfwd.alert"
WAIT = 60       # deadline (s) for a positive signal; never a measure
GAP = "sysmonfwd.gap"
KIND = {HB: "heartbeat", ALERT: "alert", GAP: "gap"}
# sysmon_state_name() in agent/health/watchdog.c
SYSMON_STATES = {"running", "stopped", "not_installed", "unknown"}


# ---- the Wazuh form ----

def _top_level_key(line, key):
    """Offset of the ',' before the top-level member "key" of a compact
    JSON object (None if absent)."""
    want = '"%s":' % key
    depth, i, n = 0, 0, len(line)
    while i < n:
        c = line[i]
        if c == '"':
            j = i + 1
            while line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            if depth == 1 and line[i - 1] == "," and \
                    line.startswith(want, i):
                return i - 1
            i = j + 1
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        i += 1
    return None


def wazuh_text(line):
    """The Wazuh event string of a heartbeat or alert, from the file
    output's line (ECS form), as status_render_doc(..., wazuh = true)
    writes it."""
    cut = _top_level_key(line, "sysmonfwd")
    if not line.startswith('{"@timestamp":') or cut is None or \
            not line.endswith("}}"):
        raise ValueError("not a heartbeat or alert line: %s" %
                         it.short(line, 120))
    head = line[1:cut]
    inner = line[cut + len(',"sysmonfwd":{'):-2]
    return '{"sysmonfwd":{' + head + "," + inner + "}}"


def wazuh_form(doc):
    """The same as wazuh_text() on a parsed document."""
    inner = {k: v for k, v in doc.items() if k != "sysmonfwd"}
    for k, v in doc.get("sysmonfwd", {}).items():
        inner[k] = v
    return {"sysmonfwd": inner}


def _ordered(text):
    return json.loads(text, object_pairs_hook=list)


def wazuh_fields(doc, parent=None, out=None):
    """{field: value} as Wazuh 4.x's JSON decoder (readJSON in
    src/analysisd/decoders/plugins/json_decoder.c) extracts them: nested
    keys joined with ".", a number written "%i" when it is an int (as a C
    int) and "%f" otherwise, true/false/null as words, an array of scalars
    as its values each followed by ",", and no field for an object inside
    an array ("an array of objects is not supported")."""
    if out is None:
        out = {}

    def num(v):
        if float(v).is_integer() and -2**31 <= v < 2**31:
            return "%d" % int(v)
        return "%f" % v

    def scalar(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if v is None:
            return "null"
        if isinstance(v, (int, float)):
            return num(v)
        return v

    for k, v in doc.items():
        key = "%s.%s" % (parent, k) if parent else k
        if isinstance(v, dict):
            wazuh_fields(v, key, out)
        elif isinstance(v, list):
            text = "".join(scalar(x) + "," for x in v
                           if not isinstance(x, (dict, list)))
            if text:
                out[key] = text
        else:
            out[key] = scalar(v)
    return out


# ---- running the agent ----

class Samples:
    """What collect() got.  docs: [(kind, document, line)] in the order
    written (run A's file output, then run B's "ok" and "down");
    kind is "heartbeat", "alert" or "gap".  wazuh_events: the event
    strings run A's Wazuh output delivered (None: no Wazuh output).
    problems: what went wrong (empty when all is as expected)."""

    def __init__(self):
        self.docs = []
        self.wazuh_events = None
        self.problems = []
        self.stderr = []

    def of(self, kind, pred=lambda d: True):
        return [d for k, d, _ in self.docs if k == kind and pred(d)]

    def lines_of(self, kind, pred=lambda d: True):
        return [l for k, d, l in self.docs if k == kind and pred(d)]


def state(doc):
    return doc.get("sysmonfwd", {}).get("sysmon", {}).get("state")


def action(doc):
    return doc.get("event", {}).get("action")


class _Proc(it.Agent):
    """The agent, in a UTS namespace of its own named hostname when one is
    given."""

    def __init__(self, argv, err_path, hostname=None):
        if hostname is not None:
            argv = ["unshare", "-u", "sh", "-c", 'hostname "$0" && exec '
                    '"$@"', hostname] + argv
        super().__init__(argv, err_path)

    def end(self, signum=signal.SIGTERM, timeout=20):
        """(exit code, stderr) after stop()."""
        rc = self.stop(signum, timeout)
        return rc, self.stderr()


def _conf(path, lines, sections):
    for name, kv in sections:
        lines.append("[%s]" % name)
        lines += ["%s = %s" % x for x in kv.items()]
    it.write_config(path, "\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def _status_lines(path):
    """[(kind, doc, line)] of the heartbeats, alerts and gaps in a file
    output, and the problems of reading it."""
    out, problems = [], []
    if not os.path.exists(path):
        return out, ["%s was not written" % path]
    with open(path, "rb") as f:
        data = f.read()
    docs, bad = it.parse_ndjson_bytes(data)
    problems += ["%s: %s" % (path, b) for b in bad]
    lines = data.decode("utf-8", "replace").split("\n")
    for line, d in zip(lines, docs):
        kind = KIND.get(d.get("event", {}).get("dataset")) \
            if isinstance(d, dict) else None
        if kind:
            out.append((kind, d, line))
    return out, problems


def _has(path, kind, pred=lambda d: True):
    docs, _ = _status_lines(path) if os.path.exists(path) else ([], [])
    return any(k == kind and pred(d) for k, d, _ in docs)


def _run_a(s, binary, corpus, tmp, service, agent_name, hostname):
    standin = it.Standin(tmp, service)
    inp = os.path.join(tmp, "a-in.log")
    with open(inp, "wb") as f:
        f.writelines(it.unique_records(corpus, 7000, 3))
    out = os.path.join(tmp, "a-out.ndjson")
    outputs = [("output:siem", {"type": "file", "path": out})]
    wz = None
    try:
        import wazuh_server
        wz = wazuh_server.WazuhServer(users={"sysmonfwd": "pw"}).start()
        outputs.append(("output:wazuh", {"type": "wazuh", "url": wz.url,
                                         "user": "sysmonfwd",
                                         "password": "pw"}))
    except Exception as e:      # the samples do not need it
        s.problems.append("skip: no Wazuh test server (%r): the Wazuh form "
                          "is derived only, not checked against the Wazuh "
                          "output" % e)
        wz = None
    conf = _conf(os.path.join(tmp, "a.conf"), [
        "[agent]", "name = %s" % agent_name,
        "state_dir = %s" % os.path.join(tmp, "a-state"),
        "heartbeat_interval = 1s",
        "[watchdog]", "sysmon_service = %s" % service,
        "check_interval = 1s", "silence_alert = 2s"],
        [("input:sysmon", {"type": "file", "path": inp, "follow": "true",
                           "poll_interval": "100ms"})] + outputs)
    standin.start()
    agent = _Proc([binary, "-c", conf], conf + ".stderr", hostname)
    try:
        # Each step waits for its document (a positive signal); the
        # number is only a deadline for a failure.
        steps = [
            ("a heartbeat saying running", lambda: _has(
                out, "heartbeat", lambda d: state(d) == "running"), WAIT),
            ("a sysmon-silent alert", lambda: _has(
                out, "alert", lambda d: action(d) == "sysmon-silent"), WAIT),
            ("kill", standin.kill, 0),
            ("a stopped alert", lambda: _has(
                out, "alert", lambda d: state(d) == "stopped"), WAIT),
            ("a heartbeat saying stopped", lambda: _has(
                out, "heartbeat", lambda d: state(d) == "stopped"), WAIT),
            ("start", standin.start, 0),
            ("a running alert", lambda: _has(
                out, "alert", lambda d: action(d) ==
                "sysmon-state-changed" and state(d) == "running"), WAIT),
        ]
        for what, fn, timeout in steps:
            if timeout == 0:
                fn()
            elif not it.wait_for(fn, timeout, 0.05):
                s.problems.append("run A: no %s within %d s" % (what,
                                                               timeout))
                break
        if wz is not None:
            # Until the Wazuh output has delivered heartbeats and alerts
            # (check() wants 3), not for a fixed time.
            it.wait_for(lambda: sum(1 for e in wz.events()
                                    if e.startswith('{"sysmonfwd":')) >= 3,
                        WAIT, 0.05)
    finally:
        rc, err = agent.end()
        standin.kill()
        if wz is not None:
            s.wazuh_events = [e for e in wz.events()
                              if e.startswith('{"sysmonfwd":')]
            wz.close()
    s.stderr.append(err)
    if rc != 0:
        s.problems.append("run A: exit code %s: %s" % (rc,
                                                      it.short(err, 500)))
    docs, problems = _status_lines(out)
    s.problems += problems
    return docs


def _run_b(box, binary, corpus, tmp, service, agent_name, hostname):
    """In a thread: box gets (docs, problems, stderr)."""
    problems = []
    inp = os.path.join(tmp, "b-in.log")
    with open(inp, "wb") as f:
        f.writelines(it.unique_records(corpus, 8000, 3000))
    ok = os.path.join(tmp, "b-ok.ndjson")
    down = os.path.join(tmp, "b-down.ndjson")
    os.mkdir(down)                      # this output is down
    conf = _conf(os.path.join(tmp, "b.conf"), [
        "[agent]", "name = %s" % agent_name,
        "state_dir = %s" % os.path.join(tmp, "b-state"),
        "heartbeat_interval = 1s",
        "[watchdog]", "sysmon_service = %s" % service,
        "check_interval = 1s",
        "[buffer]", "max_size = 1MiB", "segment_size = 128KiB",
        "block_size = 16KiB", "compression_level = 0"],
        [("input:sysmon", {"type": "file", "path": inp, "follow": "false"}),
         ("output:ok", {"type": "file", "path": ok}),
         ("output:down", {"type": "file", "path": down,
                          "retry_initial": "100ms", "retry_max": "300ms"})])
    agent = _Proc([binary, "-c", conf, "--once"], conf + ".stderr",
                  hostname)
    rc, err = None, ""
    try:
        pos = os.path.join(tmp, "b-state", "positions", "sysmon.pos")
        size = os.path.getsize(inp)
        if not it.wait_for(lambda: os.path.exists(pos) and b"offset %d" %
                           size in open(pos, "rb").read(), WAIT, 0.05):
            problems.append("run B: the input was not read within %d s" %
                            WAIT)
        # Heartbeats while "down" fails: until "ok" has one that reports
        # "down" failing, not for a fixed time.
        if not it.wait_for(lambda: _has(
                ok, "heartbeat", lambda d: d["sysmonfwd"].get(
                    "outputs_failing", 0) > 0), WAIT, 0.05):
            problems.append("run B: no heartbeat reporting the failing "
                            "output within %d s" % WAIT)
        os.rmdir(down)                  # "down" is back
        rc, err = agent.end(signum=None, timeout=30)
    finally:
        if rc is None:
            rc, err = agent.end()
    if rc != 0:
        problems.append("run B: exit code %s: %s" % (rc, it.short(err, 500)))
    docs = []
    for path in (ok, down):
        d, p = _status_lines(path)
        docs += d
        problems += p
    box.extend([docs, problems, err])


def collect(binary, corpus, tmp=None, hostname=None, service=None,
            agent_name="sample-agent"):
    """Run the agent as the doc string says; return a Samples.

    hostname: run the agent in a UTS namespace with this host name
    (unshare -u; root only), for documents to show to people.  service:
    the stand-in's name for run A (default sfwds<pid>; run B watches
    sfwdn<pid>, which never exists)."""
    s = Samples()
    own = tmp is None
    if own:
        tmp = tempfile.mkdtemp(prefix="sysmonfwd-samples-")
    else:
        os.makedirs(tmp, exist_ok=True)
    pid = os.getpid()
    service = service or "sfwds%d" % pid
    try:
        box = []
        tb = threading.Thread(target=_run_b, args=(
            box, binary, corpus, tmp, "sfwdn%d" % pid, agent_name,
            hostname))
        tb.start()
        try:
            docs_a = _run_a(s, binary, corpus, tmp, service, agent_name,
                            hostname)
        finally:
            tb.join(4 * WAIT)
        s.docs = docs_a
        if len(box) == 3:
            s.docs += box[0]
            s.problems += box[1]
            s.stderr.append(box[2])
        else:
            s.problems.append("run B did not finish")
    finally:
        if own:
            shutil.rmtree(tmp, ignore_errors=True)
    s.problems += check(s)
    return s


def check(s):
    """Problems with the samples: a kind missing, or the Wazuh form."""
    out = []
    want = [
        ("heartbeat", "a heartbeat saying running",
         lambda d: state(d) == "running"),
        ("heartbeat", "a heartbeat saying stopped",
         lambda d: state(d) == "stopped"),
        ("heartbeat", "a heartbeat saying not_installed",
         lambda d: state(d) == "not_installed"),
        ("heartbeat", "a heartbeat with a failing output",
         lambda d: d["sysmonfwd"].get("outputs_failing", 0) > 0),
        ("alert", "a stopped alert", lambda d: state(d) == "stopped"),
        ("alert", "a running alert", lambda d: action(d) ==
         "sysmon-state-changed" and state(d) == "running"),
        ("alert", "a not_installed alert",
         lambda d: state(d) == "not_installed"),
        ("alert", "a sysmon-silent alert",
         lambda d: action(d) == "sysmon-silent"),
        ("gap", "a gap document of 1000 records or more",
         lambda d: d["sysmonfwd"]["gap"]["records"] >= 1000),
    ]
    for kind, what, pred in want:
        try:
            ok = bool(s.of(kind, pred))
        except (KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            out.append("samples: no %s" % what)
    derived = {}
    for kind, d, line in s.docs:
        if kind == "gap":
            continue
        try:
            w = wazuh_text(line)
        except (ValueError, IndexError) as e:
            out.append("wazuh_text: %s" % e)
            continue
        if _ordered(w) != _ordered(json.dumps(wazuh_form(d))):
            out.append("wazuh_text and wazuh_form differ for %s" %
                       it.short(line, 120))
        derived[w] = d
    if s.wazuh_events is not None:
        if len(s.wazuh_events) < 3:
            out.append("the Wazuh output delivered only %d heartbeats and "
                       "alerts" % len(s.wazuh_events))
        for e in s.wazuh_events:
            if e not in derived:
                out.append("an event the Wazuh output sent is not the "
                           "derived Wazuh form of any line of the file "
                           "output: %s" % it.short(e, 300))
    return out


def logtest_lines(s):
    """{logtest file name: Wazuh event string} of real documents (a gap
    document goes to Wazuh as the other outputs get it, render_wazuh.c)."""
    def first(kind, pred):
        lines = s.lines_of(kind, pred)
        return wazuh_text(lines[0]) if lines else None
    gaps = s.lines_of("gap", lambda d: d["sysmonfwd"]["gap"]["records"] >=
                      1000)
    return {
        "gap.log": gaps[0] if gaps else None,     # sent as it is
        "heartbeat.log": first("heartbeat", lambda d: state(d) ==
                               "stopped"),
        "sysmon-stopped.log": first("alert", lambda d: state(d) ==
                                    "stopped"),
        "sysmon-silent.log": first("alert", lambda d: action(d) ==
                                   "sysmon-silent"),
    }


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--hostname", help="host name for the documents "
                    "(unshare -u, root only)")
    ap.add_argument("--service", help="the stand-in's name (15 "
                    "characters at most)")
    ap.add_argument("--agent-name", default="sample-agent")
    ap.add_argument("--logtest", metavar="DIR", help="write the Wazuh "
                    "examples " + ", ".join(sorted(logtest_lines(
                        Samples()))) + " into DIR")
    a = ap.parse_args()
    s = collect(a.bin, a.corpus, hostname=a.hostname, service=a.service,
                agent_name=a.agent_name)
    for p in s.problems:
        print("PROBLEM: " + p)
    if a.logtest:
        for name, line in logtest_lines(s).items():
            if line is None:
                print("no sample for %s" % name)
                continue
            with open(os.path.join(a.logtest, name), "w",
                      encoding="utf-8") as f:
                f.write(line + "\n")
            print("wrote %s" % name)
    else:
        for kind, _, line in s.docs:
            print(kind, line)
        print("%d Wazuh events" % len(s.wazuh_events or []))
    sys.exit(1 if any(not p.startswith("note:") for p in s.problems)
             else 0)


if __name__ == "__main__":
    main()
