"""The Splunk HEC output (type = splunk_hec) against a test HEC server.

The real binary sends records read from the shared corpus (or made from it
with unique EventRecordIDs) to hec_server.py over HTTPS with certificates
made at test time by tlsutil.py.  Every scenario says in one sentence what
it checks:

(0) The test server itself answers like Splunk's HEC (checked with curl).
(a) Over mutual TLS with gzip, every record of Windows and Sysmon for Linux
    corpus files arrives exactly once, with the HEC envelope the Splunk
    Sysmon add-ons expect (time = TimeCreated in epoch seconds with
    milliseconds, host = Computer, source/sourcetype per platform, index,
    event = the raw XML), and the health endpoint was asked first (k).
(a2) With format = json, "event" is the JSON document (winlog.*) and no
    index is sent when none is configured.
(a3) index, source, sourcetype and host overrides win, and compression =
    none sends plain bodies.
(b) A server certificate from an unknown CA, one for another host name, a
    server limited to TLS 1.2 under tls_min_version = 1.3, and a wrong
    tls_pinned_pubkey (i) are all refused: nothing is delivered or
    dead-lettered, stderr names 127.0.0.1 and the problem, and the agent
    keeps retrying until SIGTERM, which it obeys.
(b2) tls_verify = false accepts an untrusted certificate and warns.
(c) A 503 storm (code 9, Retry-After: 2) for 3 s: the agent waits at least
    the Retry-After before each new request, and then everything arrives
    exactly once.
(d) An unknown token (403 code 4) and a disabled token (403 code 1) are
    permanent: every record is dead-lettered once with a reason, no batch
    is sent twice, stderr says the token is invalid or disabled once,
    without printing it.
(e) A partial batch (400 code 6, invalid-event-number 7): the events before
    it are stored once, event 7 is dead-lettered with the reason, the rest
    is resent and stored once.
(f) Indexer acknowledgement: with acks that turn true only after 2 s all
    records are indexed exactly once and none is sent twice; with one ack
    lost and ack_timeout = 3s that batch (and only it) is sent again after
    the timeout and everything is indexed exactly once.
(g) The server is down when the agent starts and comes up 3 s later:
    everything arrives once; the server stopped and restarted on the same
    port in the middle of a stream: everything arrives, duplicates only
    from the batches in flight.
(h) The agent killed with SIGKILL while the server answers slowly, then
    restarted with the same state_dir: everything arrives, duplicates only
    from batches in flight (unanswered, or answered within the last
    cursor-save interval).
(i) The right tls_pinned_pubkey works.
(j) A token given as token_file (0600) works from a 0644 configuration; a
    configuration holding token that is readable by others or by a group
    other than the agent's own, and a token_file readable by others, are
    refused with exit 2 naming the file and the mode 0600.
Finally, no token ever appears in the agent's stderr.
"""
import calendar
import collections
import decimal
import json
import os
import threading
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402
import hec_server  # noqa: E402
import tlsutil  # noqa: E402

TOKEN = "11111111-2222-3333-4444-555555555555"
BAD_TOKEN = "99999999-8888-7777-6666-000000000bad"
DISABLED_TOKEN = "99999999-8888-7777-6666-0000000000d1"
TOKENS = (TOKEN, BAD_TOKEN, DISABLED_TOKEN)

WIN_SOURCE = "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"
WIN_SOURCETYPE = "XmlWinEventLog"
LINUX_SOURCE = "Syslog:Linux-Sysmon/Operational"
LINUX_SOURCETYPE = "sysmon:linux"


RID_RE = re.compile(r"<EventRecordID>(\d+)</EventRecordID>")
TIME_RE = re.compile(r'"time"\s*:\s*(-?[0-9][0-9.eE+-]*)')
SYSTIME_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)"
                        r"(?:\.(\d+))?Z")
WAIT = 60       # deadline (s) for a positive signal; never a measure


class Ctx(it.Ctx):
    def server(self, mtls=False, cert="server", down=False, **kw):
        """A started test server; down=True: its port is held but not
        listening (connections refused) until its start()."""
        return self.add_server(hec_server.HecServer(
            self.pki[cert], self.pki[cert + "_key"],
            client_ca=self.pki["ca"] if mtls else None, tokens=[TOKEN],
            **kw), down)


# ---- configurations ----


def hec_config(ctx, d, url, inputs, mode=0o600, **kv):
    """A configuration in d with the given inputs ([(name, path)]) and one
    HEC output named hec; kv overrides output keys (None removes one)."""
    return it.output_config(d, inputs, "hec", {
        "type": "splunk_hec", "url": url, "token": TOKEN,
        "tls_ca_file": ctx.pki["ca"], "batch_max_events": "50",
        "flush_interval": "200ms", "retry_initial": "200ms",
        "retry_max": "2s", "timeout": "10s"}, kv, mode)


def unique_input(ctx, d, first_id, n):
    """A file of n unique records in d: (its path, their ids)."""
    return ctx.unique_input(d, first_id, n)[0], list(range(first_id,
                                                          first_id + n))


def unread_answers(reqs):
    """The requests whose answer the agent may not have read: not
    answered, or answered with no later request on the same connection
    (an HTTP/1.1 client sends the next request on a connection only once
    it has read the answer to the previous one).  Event order, no clock."""
    out = []
    for r in reqs:
        later = any(q["conn"] == r["conn"] and q["n"] > r["n"] for q in reqs)
        if r["answered"] is None or not later:
            out.append(r)
    return out


# ---- what arrived ----


def rid_of(entry):
    """The EventRecordID of a stored event (XML string or JSON document)."""
    ev = entry["envelope"].get("event")
    if isinstance(ev, str):
        m = RID_RE.search(ev)
        return int(m.group(1)) if m else None
    try:
        return int(ev["winlog"]["record_id"])
    except (TypeError, KeyError, ValueError):
        return None


def dead_letters(ctx, d, what):
    return ctx.dead_letters(d, "hec", what)


def ids_in(value):
    """Record ids mentioned anywhere in a dead letter."""
    out = set()
    if isinstance(value, str):
        out.update(int(x) for x in RID_RE.findall(value))
    elif isinstance(value, dict):
        for k, v in value.items():
            if k == "record_id":
                try:
                    out.add(int(v))
                except (TypeError, ValueError):
                    pass
            out |= ids_in(v)
    elif isinstance(value, list):
        for v in value:
            out |= ids_in(v)
    return out


def check_dead_letters(ctx, what, docs, want_ids, reason_re):
    """Each dead letter has a reason matching reason_re and names exactly
    one record; together they name want_ids once each."""
    ck = ctx.ck
    seen = []
    for i, doc in enumerate(docs):
        reason = doc.get("reason")
        if not ck.check(isinstance(reason, str) and reason_re.search(reason),
                        "%s: dead letter %d has a reason matching %r: %s" %
                        (what, i, reason_re.pattern, it.short(reason))):
            pass
        ids = ids_in(doc)
        ck.check(len(ids) == 1, "%s: dead letter %d carries one record "
                 "(ids found: %s): %s" % (what, i, sorted(ids)[:5],
                                          it.short(doc, 400)))
        seen += sorted(ids)
    c = collections.Counter(seen)
    ck.eq(sorted(c), sorted(want_ids), "%s: records dead-lettered" % what)
    ck.eq([i for i, n in c.items() if n > 1], [],
          "%s: records dead-lettered twice" % what)


def exactly_once(ck, what, got, want):
    c = collections.Counter(got)
    wantset = set(want)
    missing = [i for i in want if c[i] == 0]
    dups = sorted(i for i, n in c.items() if n > 1)
    extra = sorted(i for i in c if i not in wantset)
    ck.check(not missing, "%s: %d of %d records missing (first: %s)" %
             (what, len(missing), len(want), missing[:5]))
    ck.check(not dups, "%s: %d records arrived more than once (first: %s)"
             % (what, len(dups), dups[:5]))
    ck.check(not extra, "%s: %d unexpected records (first: %s)" %
             (what, len(extra), extra[:5]))
    return c


def epoch_ms(system_time):
    m = SYSTIME_RE.fullmatch(system_time)
    if m is None:
        raise ValueError("SystemTime %r" % system_time)
    secs = calendar.timegm(tuple(int(m.group(i)) for i in range(1, 7)))
    frac = (m.group(7) or "")[:3].ljust(3, "0")
    return decimal.Decimal("%d.%s" % (secs, frac))


def expected_envelope(line):
    """What the envelope of one corpus line (bytes) must hold."""
    text = line.decode("utf-8").rstrip("\r\n")
    start = text.find("<Event")
    exp = it.expected_from_line(line)
    linux = exp["channel"] == "Linux-Sysmon/Operational"
    sysmon_win = exp["channel"] == "Microsoft-Windows-Sysmon/Operational"
    return {
        "event": text[start:] if linux else text,
        "time": epoch_ms(exp["time_created"]),
        "host": exp["computer_name"],
        "source": (LINUX_SOURCE if linux else
                   WIN_SOURCE if sysmon_win else None),
        "sourcetype": (LINUX_SOURCETYPE if linux else
                       WIN_SOURCETYPE if sysmon_win else None),
        "linux": linux,
    }


def check_envelope(ck, what, entry, exp, index=None, overrides=None):
    env = entry["envelope"]
    overrides = overrides or {}
    m = TIME_RE.search(entry["raw"])
    if ck.check(m is not None, "%s: envelope has a numeric time: %s" %
                (what, it.short(entry["raw"], 200))):
        tok = m.group(1)
        ck.check(re.fullmatch(r"\d+(\.\d{1,3})?", tok) and
                 decimal.Decimal(tok) == exp["time"],
                 "%s: time %s, expected %s (TimeCreated in epoch seconds "
                 "with milliseconds)" % (what, tok, exp["time"]))
    ck.eq(env.get("host"), overrides.get("host", exp["host"]),
          what + ": host")
    for k in ("source", "sourcetype"):
        want = overrides.get(k, exp[k])
        if want is not None:
            ck.eq(env.get(k), want, "%s: %s" % (what, k))
    want_index = overrides.get("index", index)
    if want_index is None:
        ck.check("index" not in env, "%s: no index sent when none is "
                 "configured: %r" % (what, env.get("index")))
    else:
        ck.eq(env.get("index"), want_index, what + ": index")


# ---- scenarios ----


def scenario_server(ctx):
    print("(0) the HEC test server answers like Splunk's HEC "
          "(checked with curl)", flush=True)
    ctx.self_test("HEC test server", hec_server)


def preflight(ctx):
    d = ctx.dir("preflight")
    conf = hec_config(ctx, d, "https://127.0.0.1:1", [("w", "/dev/null")])
    r = it.run(ctx.args.bin, ["-c", conf, "--check-config"], timeout=30)
    err = (r.stdout + r.stderr).decode("utf-8", "replace")
    ctx.texts.append(("check-config", err))
    return ctx.ck.check(r.returncode == 0, "preflight: --check-config "
                        "accepts a splunk_hec output (exit %d): %s" %
                        (r.returncode, err.strip()[:600]))


def scenario_happy(ctx):
    """(a) mutual TLS + gzip: every record of Windows and Linux corpus files
    arrives once with the right HEC envelope; (k) health is asked first"""
    ck, what, d = ctx.begin("(a) happy path", "happy")
    inputs, lines = it.happy_inputs(ctx.args.corpus)
    exps = [expected_envelope(l) for l in lines]
    by_event = {e["event"]: e for e in exps}
    s = ctx.server(mtls=True, allowed_indexes=["main"])
    conf = hec_config(ctx, d, s.url, inputs, index="main",
                      compression="gzip",
                      tls_client_cert=ctx.pki["client"],
                      tls_client_key=ctx.pki["client_key"])
    t0 = time.monotonic()
    rc, err = ctx.run_once(conf, 90)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    reqs, stored, _ = s.snapshot()
    got = [e["envelope"].get("event") for e in stored]
    c = collections.Counter(got if all(isinstance(g, str) for g in got)
                            else map(json.dumps, got))
    want = collections.Counter(e["event"] for e in exps)
    missing = sum((want - c).values())
    extra = sum((c - want).values())
    ck.check(missing == 0 and extra == 0,
             "%s: %d records expected, %d stored; %d expected events not "
             "stored (e.g. %s), %d stored events not expected or repeated "
             "(e.g. %s)" % (what, len(exps), len(stored), missing,
                            it.short(next(iter(want - c), None), 200),
                            extra, it.short(next(iter(c - want), None),
                                            200)))
    nlinux = sum(1 for e in exps if e["linux"])
    ck.check(nlinux == 36 and len(exps) - nlinux == 190,
             "%s: inputs hold 190 Windows and 36 Linux records (%d, %d)" %
             (what, len(exps) - nlinux, nlinux))
    bad = 0
    for n, entry in enumerate(stored):
        ev = entry["envelope"].get("event")
        exp = by_event.get(ev) if isinstance(ev, str) else None
        if exp is None:
            continue
        before = len(ck.failures)
        check_envelope(ck, "%s event %d (%s)" % (what, n, "linux" if
                                                  exp["linux"] else
                                                  "windows"),
                       entry, exp, index="main")
        if len(ck.failures) > before:
            bad += 1
            if bad >= 5:
                ck.fail("%s: stopping envelope checks after 5 bad events"
                        % what)
                break
    ck.check(reqs and all(r["gzip"] for r in reqs),
             "%s: every request body was gzip (%d of %d)" %
             (what, sum(1 for r in reqs if r["gzip"]), len(reqs)))
    ck.check(reqs and all(r["status"] == 200 for r in reqs),
             "%s: every request answered 200: %s" %
             (what, [r["status"] for r in reqs]))
    ck.check(all(r["authorization"] == "Splunk " + TOKEN for r in reqs),
             "%s: every request carries Authorization: Splunk <token>" %
             what)
    ck.check(max((r["n_events"] for r in reqs), default=0) <= 50,
             "%s: batch_max_events = 50 is respected (largest batch %d)" %
             (what, max((r["n_events"] for r in reqs), default=0)))
    ck.eq(len(s.tls_failures), 0, what + ": TLS handshake failures")
    it.check_server_clean(ck, what, s)
    # (k)
    ck.check(len(s.health_times) >= 1,
             "(k) health: /services/collector/health was requested at "
             "start (%d requests)" % len(s.health_times))
    if s.health_times and reqs:
        ck.check(s.health_times[0] <= reqs[0]["t"],
                 "(k) health: asked before the first event request")
    sm = it.summary_numbers(err)
    if ck.check(sm is not None, what + ": summary line in stderr"):
        ck.eq(sm["delivered"], len(exps), what + ": summary delivered")
    ck.eq(dead_letters(ctx, d, what), [], what + ": dead letters")
    print("%s: %d records in %d requests, %.1f s" %
          (what, len(stored), len(reqs), time.monotonic() - t0))


def scenario_json(ctx):
    """(a2) format = json: event is the JSON document, no index unless
    configured"""
    ck, what, d = ctx.begin("(a2) format json", "json")
    inp, ids = unique_input(ctx, d, 7000, 60)
    with open(inp, "rb") as f:
        exps = {int(RID_RE.search(l.decode()).group(1)):
                expected_envelope(l) for l in f.read().splitlines()}
    s = ctx.server()
    conf = hec_config(ctx, d, s.url, [("win", inp)], format="json")
    rc, err = ctx.run_once(conf)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    stored = s.stored()
    exactly_once(ck, what, [rid_of(e) for e in stored], ids)
    for n, entry in enumerate(stored[:60]):
        ev = entry["envelope"].get("event")
        if not ck.check(isinstance(ev, dict) and isinstance(
                ev.get("winlog"), dict), "%s event %d: event is an object "
                "with winlog: %s" % (what, n, it.short(ev, 200))):
            break
        exp = exps.get(rid_of(entry))
        if exp is None:
            continue
        ck.eq(ev["winlog"].get("computer_name"), exp["host"],
              "%s event %d: event.winlog.computer_name" % (what, n))
        check_envelope(ck, "%s event %d" % (what, n), entry, exp)
    it.check_server_clean(ck, what, s)


def scenario_overrides(ctx):
    """(a3) index/source/sourcetype/host overrides win; compression = none
    sends plain bodies"""
    ck, what, d = ctx.begin("(a3) overrides", "overrides")
    inp, ids = unique_input(ctx, d, 8000, 60)
    s = ctx.server(allowed_indexes=["main", "sysmon"])
    ov = {"index": "sysmon", "source": "custom:source",
          "sourcetype": "custom:sourcetype", "host": "override-host"}
    conf = hec_config(ctx, d, s.url, [("win", inp)], compression="none",
                      **ov)
    rc, err = ctx.run_once(conf)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    reqs, stored, _ = s.snapshot()
    exactly_once(ck, what, [rid_of(e) for e in stored], ids)
    with open(inp, "rb") as f:
        exps = {int(RID_RE.search(l.decode()).group(1)):
                expected_envelope(l) for l in f.read().splitlines()}
    for n, entry in enumerate(stored):
        exp = exps.get(rid_of(entry))
        if exp is None:
            continue
        before = len(ck.failures)
        check_envelope(ck, "%s event %d" % (what, n), entry, exp,
                       overrides=ov)
        if len(ck.failures) > before:
            break
    ck.check(reqs and not any(r["gzip"] for r in reqs),
             "%s: compression = none: no gzip body (%d of %d gzip)" %
             (what, sum(1 for r in reqs if r["gzip"]), len(reqs)))
    it.check_server_clean(ck, what, s)


def scenario_refusals(ctx):
    print("(b)/(i) untrusted CA, wrong host name, TLS 1.3 required from a "
          "TLS 1.2 server, wrong pinned key: refused, nothing delivered, "
          "stderr names host and problem, the agent retries until SIGTERM",
          flush=True)
    ck = ctx.ck
    cases = [
        ("(b) wrong CA", {}, {"tls_ca_file": ctx.pki["other_ca"]},
         r"not trusted|untrusted"),
        ("(b) wrong host name", {"cert": "wrong_host"}, {},
         r"host ?name|does not match|doesn't match"),
        ("(b) tls_min_version 1.3", {"tls_max_version": "1.2"},
         {"tls_min_version": "1.3"}, r"TLS|version|protocol"),
        ("(i) wrong tls_pinned_pubkey", {},
         {"tls_pinned_pubkey": tlsutil.pinned_pubkey(
             ctx.pki["other_server"])}, r"pin|public key"),
    ]
    running = []
    for n, (what, skw, akw, _) in enumerate(cases):
        d = ctx.dir("refuse%d" % n)
        inp, _ = unique_input(ctx, d, 9000 + 100 * n, 40)
        s = ctx.server(**skw)
        conf = hec_config(ctx, d, s.url, [("win", inp)], **akw)
        running.append((d, s, ctx.agent(conf)))
    # Until every agent has come back at least once (a retry), not for a
    # fixed time.
    it.wait_for(lambda: all(s.connections >= 2 for _, s, _ in running),
                WAIT, 0.05)
    for (what, _, _, _), (d, s, a) in zip(cases, running):
        ck.check(a.alive(), "%s: the agent keeps running (exit code %s)" %
                 (what, a.p.returncode))
        ck.eq(len(s.stored()), 0, what + ": events delivered")
        # Host name and pin are checked by the client after the handshake:
        # the server sees a connection closed without a request.
        ck.check(s.connections >= 2,
                 "%s: the agent retries (%d connections, %d refused "
                 "TLS handshakes, %d requests)" %
                 (what, s.connections, len(s.tls_failures),
                  len(s.request_log)))
        ck.eq(len(s.request_log), 0, what + ": requests sent over the "
              "refused connection")
        if a.alive():
            a.p.send_signal(signal.SIGTERM)
    for (what, _, _, problem), (d, s, a) in zip(cases, running):
        rc = a.wait(20)
        err = a.stderr()
        ck.eq(rc, 0, what + ": exit code after SIGTERM")
        ck.check("127.0.0.1" in err, "%s: stderr names the host: %s" %
                 (what, err[-600:]))
        ck.check(re.search(problem, err, re.I), "%s: stderr names the "
                 "problem (/%s/): %s" % (what, problem, err[-600:]))
        ck.eq(dead_letters(ctx, d, what), [], what + ": dead letters (a "
              "TLS failure is not permanent)")


def scenario_verify_off(ctx):
    """(b2) tls_verify = false accepts an untrusted certificate and warns"""
    ck, what, d = ctx.begin("(b2) tls_verify false", "verifyoff")
    inp, ids = unique_input(ctx, d, 9900, 30)
    s = ctx.server(cert="other_server")
    conf = hec_config(ctx, d, s.url, [("win", inp)], tls_verify="false")
    rc, err = ctx.run_once(conf)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    exactly_once(ck, what, [rid_of(e) for e in s.stored()], ids)
    ck.check(re.search(r"warn", err, re.I) and "tls_verify" in err,
             "%s: stderr warns about tls_verify: %s" % (what, err[-600:]))


def scenario_busy(ctx):
    """(c) 503 code 9 with Retry-After: 2 for 3 s: the agent waits per
    Retry-After, then everything arrives once"""
    ck, what, d = ctx.begin("(c) 503 storm", "busy")
    inp, ids = unique_input(ctx, d, 10000, 300)
    s = ctx.server()
    s.fail_for(3.0, 503, 9, retry_after=2)
    conf = hec_config(ctx, d, s.url, [("win", inp)])
    t0 = time.monotonic()
    rc, err = ctx.run_once(conf, 60)
    took = time.monotonic() - t0
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    reqs, stored, _ = s.snapshot()
    exactly_once(ck, what, [rid_of(e) for e in stored], ids)
    busy = [r for r in reqs if r["status"] == 503]
    ck.check(busy, "%s: the agent met the storm (%d answers 503)" %
             (what, len(busy)))
    gaps = []
    for r in busy:
        if r["answered"] is None:
            continue
        nxt = [q["t"] for q in reqs if q["t"] > r["answered"]]
        if nxt:
            gaps.append(round(min(nxt) - r["answered"], 2))
            ck.check(min(nxt) - r["answered"] >= 1.9,
                     "%s: next request %.2f s after a 503 with "
                     "Retry-After: 2 (at least 2 s expected)" %
                     (what, min(nxt) - r["answered"]))
    # The wait the agent chose, as it says (its own clock): the server's
    # Retry-After, and the recovery said once the storm was over.
    ck.check(re.search(r"retrying in 2\.0 s", err) is not None,
             "%s: the agent says it waits the Retry-After (2.0 s): %s" %
             (what, err[-600:]))
    ck.check("delivering again after" in err, "%s: the agent says it "
             "delivers again after the storm: %s" % (what, err[-600:]))
    print("%s: %d answers 503, next request %s s later, done in %.1f s" %
          (what, len(busy), gaps, took))
    ck.eq(dead_letters(ctx, d, what), [], what + ": dead letters")
    it.check_server_clean(ck, what, s)


def scenario_too_large(ctx):
    """(e2) 413 for a batch of 50 or more events: the agent sends it in
    halves, everything arrives once, nothing is dead-lettered"""
    ck, what, d = ctx.begin("(e2) 413 split", "toolarge")
    inp, ids = unique_input(ctx, d, 11000, 200)
    s = ctx.server()
    s.answer_next(2, 413, -1, text="Content too large", min_events=50)
    conf = hec_config(ctx, d, s.url, [("win", inp)])
    rc, err = ctx.run_once(conf, 60)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    reqs, stored, _ = s.snapshot()
    exactly_once(ck, what, [rid_of(e) for e in stored], ids)
    big = [r for r in reqs if r["status"] == 413]
    ck.eq(len(big), 2, what + ": requests answered 413")
    ck.check(big and all(any(q["t"] > r["t"] and 0 < q["n_events"] <
                             r["n_events"] for q in reqs) for r in big),
             "%s: smaller requests follow each 413" % what)
    ck.eq(dead_letters(ctx, d, what), [], what + ": dead letters")


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback that counts tunnels."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.tunnels = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                d = c.recv(4096)
                if not d:
                    return
                head += d
            line = head.split(b"\r\n", 1)[0].decode("ascii", "replace")
            parts = line.split()
            if len(parts) < 2 or parts[0] != "CONNECT":
                c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            host, port = parts[1].rsplit(":", 1)
            self.tunnels.append(parts[1])
            up = socket.create_connection((host, int(port)))
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            for a, b in ((c, up), (up, c)):
                threading.Thread(target=self._pump, args=(a, b),
                                 daemon=True).start()
        except OSError:
            c.close()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.sock.close()


def scenario_options(ctx):
    ck = ctx.ck
    _, what, d = ctx.begin(
        "(l1) batch_max_bytes", "maxbytes",
        "(l1) batch_max_bytes = 8KiB (compression = none): no request "
        "holds more than 8 KiB plus the one record that crossed the "
        "limit, everything arrives once")
    inp, ids = unique_input(ctx, d, 40000, 120)
    longest = max(len(l) for l in open(inp, "rb"))
    s = ctx.server()
    conf = hec_config(ctx, d, s.url, [("win", inp)], batch_max_bytes="8KiB",
                      batch_max_events="500", compression="none")
    rc, err = ctx.run_once(conf, 60)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    reqs, stored, _ = s.snapshot()
    exactly_once(ck, what, [rid_of(e) for e in stored], ids)
    ev = [r for r in reqs if r["n_events"] > 0]
    ck.check(len(ev) > 10, "%s: many small requests (%d)" % (what, len(ev)))
    over = [r["bytes"] for r in ev if r["bytes"] > 8192 + 2 * longest]
    ck.eq(over, [], what + ": request bodies over the limit")

    _, what, d = ctx.begin(
        "(l2) timeout", "timeout",
        "(l2) timeout = 1s against a server answering after 3 s, then on "
        "time: the agent says the server did not answer in time, retries,"
        " and everything arrives")
    inp, ids = unique_input(ctx, d, 41000, 60)
    s = ctx.server()
    s.set_delay(3.0)
    conf = hec_config(ctx, d, s.url, [("win", inp)], timeout="1s")
    a = ctx.agent(conf)
    # Until the agent has given up on a slow answer (its log), not for a
    # fixed time.
    it.wait_log(a.err_path, r"did not answer in time", WAIT)
    s.set_delay(0)
    rc = a.wait(WAIT)
    err = a.stderr()
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-600:])
    got = set(rid_of(e) for e in s.stored())
    ck.check(got >= set(ids), "%s: every record arrived (%d missing)" %
             (what, len(set(ids) - got)))
    ck.check(re.search(r"did not answer in time", err), "%s: stderr says "
             "the server did not answer in time: %s" % (what, err[-600:]))

    _, what, d = ctx.begin(
        "(l3) tls_ca_path", "capath",
        "(l3) tls_ca_path, a hashed directory holding the CA, works like "
        "tls_ca_file")
    cadir = os.path.join(d, "cas")
    os.mkdir(cadir)
    shutil.copy(ctx.pki["ca"], os.path.join(cadir, "ca.pem"))
    r = subprocess.run(["openssl", "rehash", cadir], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    ck.eq(r.returncode, 0, what + ": openssl rehash")
    inp, ids = unique_input(ctx, d, 42000, 40)
    s = ctx.server()
    conf = hec_config(ctx, d, s.url, [("win", inp)], tls_ca_file=None,
                      tls_ca_path=cadir)
    rc, err = ctx.run_once(conf, 60)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-600:])
    exactly_once(ck, what, [rid_of(e) for e in s.stored()], ids)

    _, what, d = ctx.begin(
        "(l4) proxy", "proxy",
        "(l4) proxy: requests go through an HTTP CONNECT proxy, TLS "
        "end to end, everything arrives once")
    inp, ids = unique_input(ctx, d, 43000, 40)
    s = ctx.server()
    px = ConnectProxy()
    try:
        conf = hec_config(ctx, d, s.url, [("win", inp)], proxy=px.url)
        rc, err = ctx.run_once(conf, 60)
    finally:
        px.stop()
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-600:])
    exactly_once(ck, what, [rid_of(e) for e in s.stored()], ids)
    port = s.url.rsplit(":", 1)[1]
    ck.check(any(t.endswith(":" + port) for t in px.tunnels),
             "%s: the proxy carried the connection (%s)" % (what,
                                                           px.tunnels))


def scenario_tokens(ctx):
    ck = ctx.ck
    for what, tok, reason_re, log_re in (
            ("(d) invalid token", BAD_TOKEN,
             re.compile(r"token|code 4|403", re.I),
             r"invalid token|token[^\n]{0,60}(invalid|not valid|unknown|"
             r"refused|rejected)"),
            ("(d) disabled token", DISABLED_TOKEN,
             re.compile(r"token|code 1|403", re.I),
             r"token[^\n]{0,60}disabled|disabled[^\n]{0,60}token")):
        print("%s: the refusal is permanent, every record is dead-lettered "
              "once with a reason, logged once without the token" % what,
              flush=True)
        d = ctx.dir("tok-" + what.split()[1][:3])
        inp, ids = unique_input(ctx, d, 20000, 120)
        s = ctx.server(disabled_tokens=[DISABLED_TOKEN])
        conf = hec_config(ctx, d, s.url, [("win", inp)], token=tok)
        rc, err = ctx.run_once(conf, 60)
        ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
        reqs, stored, _ = s.snapshot()
        ck.eq(len(stored), 0, what + ": events stored")
        sent = sum(r["n_events"] for r in reqs)
        ck.eq(sent, len(ids), what + ": events sent in all requests (each "
              "refused batch is sent once, not retried)")
        ck.check(all(r["authorization"] == "Splunk " + tok for r in reqs),
                 what + ": the configured token is sent")
        check_dead_letters(ctx, what, dead_letters(ctx, d, what), ids,
                           reason_re)
        lines = [l for l in err.splitlines() if re.search(log_re, l, re.I)]
        ck.check(len(lines) == 1, "%s: the refused token is logged once "
                 "(/%s/), got %d lines: %s" % (what, log_re, len(lines),
                                               it.short(lines, 900)))
        ck.check(re.search(r"dead.?letter", err, re.I),
                 "%s: stderr mentions the dead letters: %s" %
                 (what, err[-600:]))


def scenario_partial(ctx):
    """(e) a partial batch (code 6, invalid-event-number 7): events before it
    stored once, event 7 dead-lettered, the rest resent once"""
    ck, what, d = ctx.begin("(e) partial batch", "partial")
    inp, ids = unique_input(ctx, d, 30000, 120)
    s = ctx.server()
    s.answer_next(1, 400, 6, invalid_event_number=7, min_events=10)
    conf = hec_config(ctx, d, s.url, [("win", inp)])
    rc, err = ctx.run_once(conf, 60)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    reqs, stored, _ = s.snapshot()
    ruled = [r for r in reqs if r["rule"]]
    if not ck.eq(len(ruled), 1, what + ": requests given the partial "
                 "answer"):
        return
    batch = ruled[0]["batch"]
    bad = rid_of({"envelope": batch[7]})
    before = [rid_of({"envelope": o}) for o in batch[:7]]
    got = [rid_of(e) for e in stored]
    c = exactly_once(ck, what + " (all but event 7)", got,
                     [i for i in ids if i != bad])
    ck.eq(c[bad], 0, "%s: times event 7 (record %s) was stored" %
          (what, bad))
    ck.check(all(c[i] == 1 for i in before), "%s: the 7 events before it "
             "stored once each: %s" % (what, [c[i] for i in before]))
    later = [r for r in reqs if r["n"] > ruled[0]["n"]]
    resent = set(rid_of({"envelope": o}) for r in later for o in r["batch"])
    ck.check(not (resent & set(before)), "%s: the events before N are not "
             "resent" % what)
    ck.check(bad not in resent, "%s: event N is not resent" % what)
    check_dead_letters(ctx, what, dead_letters(ctx, d, what), [bad],
                       re.compile(r"invalid|code 6|format", re.I))


def scenario_acks(ctx):
    ck = ctx.ck
    _, what, d = ctx.begin(
        "(f) late acks", "acklate",
        "(f) late acks (true after 2 s): all indexed exactly once, "
        "nothing sent twice")
    inp, ids = unique_input(ctx, d, 40000, 150)
    s = ctx.server(ack=True, ack_delay=2.0)
    conf = hec_config(ctx, d, s.url, [("win", inp)], ack="true",
                      ack_timeout="30s", ack_poll_interval="500ms")
    t0 = time.monotonic()
    rc, err = ctx.run_once(conf, 60)
    took = time.monotonic() - t0
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    reqs, stored, indexed = s.snapshot()
    exactly_once(ck, what + " (indexed)", [rid_of(e) for e in indexed], ids)
    exactly_once(ck, what + " (stored)", [rid_of(e) for e in stored], ids)
    chans = set(r["channel"] for r in reqs)
    ck.check(reqs and all(r["status"] == 200 for r in reqs),
             "%s: every event request accepted (statuses %s; codes 10/11 "
             "mean a missing or malformed channel)" %
             (what, collections.Counter((r["status"], r["code"])
                                        for r in reqs)))
    ck.check(s.ack_queries, what + ": the agent queried "
             "/services/collector/ack")
    ck.check(all(q[1] in chans for q in s.ack_queries),
             "%s: ack queries use the event requests' channel" % what)
    ck.check(took >= 2.0, "%s: --once waited for the acks (%.1f s)" %
             (what, took))
    it.check_server_clean(ck, what, s)

    _, what, d = ctx.begin(
        "(f) lost ack", "acklost",
        "(f) a lost ack with ack_timeout = 3s: that batch alone is sent "
        "again after the timeout, all indexed exactly once")
    inp, ids = unique_input(ctx, d, 41000, 150)
    s = ctx.server(ack=True, ack_delay=0.3)
    s.lose_next_acks(1)
    conf = hec_config(ctx, d, s.url, [("win", inp)], ack="true",
                      ack_timeout="3s", ack_poll_interval="300ms")
    rc, err = ctx.run_once(conf, 60)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    reqs, stored, indexed = s.snapshot()
    exactly_once(ck, what + " (indexed)", [rid_of(e) for e in indexed], ids)
    if not ck.eq(len(s.lost_acks), 1, what + ": acks lost"):
        return
    lost_req = reqs[s.lost_acks[0][2]]
    lost_ids = set(rid_of({"envelope": o}) for o in lost_req["batch"])
    c = collections.Counter(rid_of(e) for e in stored)
    dups = {i: n for i, n in c.items() if n > 1}
    ck.check(set(dups) <= lost_ids and all(n == 2 for n in dups.values()),
             "%s: duplicates only from the unacknowledged batch, once: %d "
             "duplicated records, %d outside that batch" %
             (what, len(dups), len(set(dups) - lost_ids)))
    ck.eq(set(dups), lost_ids, what + ": the unacknowledged batch was "
          "sent again (records sent twice)")
    again = [r for r in reqs if r["n"] > lost_req["n"] and
             set(rid_of({"envelope": o}) for o in r["batch"]) & lost_ids]
    if again:
        gap = again[0]["t"] - lost_req["t"]
        ck.check(gap >= 2.7, "%s: resent %.1f s after the first send "
                 "(ack_timeout = 3s)" % (what, gap))
    it.check_server_clean(ck, what, s)


def scenario_down(ctx):
    ck = ctx.ck
    _, what, d = ctx.begin(
        "(g) down at start", "down",
        "(g) the server is down when the agent starts and comes up 3 s "
        "later: everything arrives once")
    inp, ids = unique_input(ctx, d, 50000, 150)
    s = ctx.server(down=True)
    conf = hec_config(ctx, d, s.url, [("win", inp)])
    a = ctx.agent(conf)
    # Until the agent has met the outage (its log names the host).
    it.wait_log(a.err_path, r"output hec: .*127\.0\.0\.1", WAIT)
    ck.check(a.alive(), "%s: the agent waits for the server (exit code %s)"
             % (what, a.p.returncode))
    s.start()
    rc = a.wait(WAIT)
    err = a.stderr()
    ck.eq(rc, 0, what + ": exit code once the server is up (stderr: %s)" %
          err[-800:])
    exactly_once(ck, what, [rid_of(e) for e in s.stored()], ids)
    ck.check("127.0.0.1" in err, "%s: stderr names the unreachable host: "
             "%s" % (what, err[-400:]))
    ck.eq(dead_letters(ctx, d, what), [], what + ": dead letters")

    _, what, d = ctx.begin(
        "(g) restart", "restart",
        "(g) the server stopped and restarted on the same port during a "
        "stream: everything arrives, duplicates only from batches in "
        "flight")
    inp, ids = unique_input(ctx, d, 51000, 300)
    s = ctx.server()
    s.set_delay(0.3)
    conf = hec_config(ctx, d, s.url, [("win", inp)],
                      batch_max_events="25")
    a = ctx.agent(conf)
    ok = s.wait_events(75, WAIT)
    ck.check(ok, what + ": 75 events arrived before the stop")
    # Stop with a batch in flight (received, its answer still delayed).
    ck.check(s.wait(lambda srv: any(r["answered"] is None and
                                    r["status"] is None
                                    for r in srv.request_log), WAIT),
             what + ": a batch in flight")
    n_fail = len(re.findall(r"output hec: ", a.stderr()))
    s.stop()
    n_stop = len(s.stored())
    ck.check(n_stop < len(ids), "%s: stopped in the middle of the stream "
             "(%d of %d stored)" % (what, n_stop, len(ids)))
    # In flight: the batches whose answer the agent may not have read.
    inflight = set()
    for r in unread_answers(s.event_requests()):
        inflight |= set(rid_of({"envelope": o}) for o in r["batch"])
    # Down until the agent has met the outage (a new failure in its log).
    it.wait_log(a.err_path, r"output hec: ", WAIT, count=n_fail + 1)
    s.set_delay(0)
    s.start()
    rc = a.wait(WAIT)
    err = a.stderr()
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    c = collections.Counter(rid_of(e) for e in s.stored())
    missing = [i for i in ids if c[i] == 0]
    ck.check(not missing, "%s: %d records missing (first %s)" %
             (what, len(missing), missing[:5]))
    dups = set(i for i, n in c.items() if n > 1)
    ck.check(dups <= inflight, "%s: %d duplicated records, %d of them not "
             "in the %d records in flight at the stop (answers the agent "
             "may not have read)" %
             (what, len(dups), len(dups - inflight), len(inflight)))
    print("%s: stopped after %d stored, %d duplicates, %d records were in "
          "flight" % (what, n_stop, len(dups), len(inflight)))
    ck.eq(dead_letters(ctx, d, what), [], what + ": dead letters")


def scenario_kill(ctx):
    """(h) SIGKILL during a slow transfer, restart with the same state_dir:
    everything arrives, duplicates only from batches in flight"""
    ck, what, d = ctx.begin("(h) SIGKILL", "kill")
    inp, ids = unique_input(ctx, d, 60000, 200)
    s = ctx.server(store_path=os.path.join(d, "hec-store.jsonl"))
    s.set_delay(2.0)
    conf = hec_config(ctx, d, s.url, [("win", inp)],
                      batch_max_events="40")

    def third_in_flight(srv):
        rl = srv.request_log
        return (sum(1 for r in rl if r["answered"] is not None) >= 2 and
                any(r["answered"] is None and r["stored"] for r in rl))
    a = ctx.agent(conf)
    ok = s.wait(third_in_flight, WAIT)
    ck.check(ok, what + ": two batches answered and a third in flight")
    a.kill9()
    a.stderr()
    reqs = s.event_requests()
    # In flight at the kill: unanswered (strict), or answered with no
    # later request on the connection, so that the agent may not have
    # read the answer and saved its acknowledgement (lenient).  Event
    # order: the agent saves an acknowledgement (NAME.cur.fast) as soon as
    # it reads the answer, before it starts the next request.
    strict, lenient = set(), set()
    for r in unread_answers(reqs):
        rids = set(rid_of({"envelope": o}) for o in r["batch"])
        if r["answered"] is None:
            strict |= rids
        else:
            lenient |= rids
    n_before = len(s.stored())
    s.set_delay(0)
    rc, err = ctx.run_once(conf, 60)
    ck.eq(rc, 0, what + ": exit code of the restarted agent (stderr: %s)"
          % err[-800:])
    stored = s.stored()
    c = collections.Counter(rid_of(e) for e in stored)
    missing = [i for i in ids if c[i] == 0]
    ck.check(not missing, "%s: %d records missing (first %s)" %
             (what, len(missing), missing[:5]))
    dups = set(i for i, n in c.items() if n > 1)
    ck.check(dups <= strict | lenient,
             "%s: %d duplicated records; %d unanswered at the kill, %d "
             "answered with no later request on their connection; %d "
             "duplicates outside them" % (what, len(dups), len(strict), len(lenient),
                       len(dups - strict - lenient)))
    ck.check(sum(c[i] - 1 for i in dups) <= len(strict | lenient),
             "%s: extra copies (%d) at most the records in flight (%d)" %
             (what, sum(c[i] - 1 for i in dups), len(strict | lenient)))
    with open(os.path.join(d, "hec-store.jsonl")) as f:
        ck.eq(sum(1 for _ in f), len(stored), what + ": server store file "
              "lines")
    print("%s: %d stored before the kill, %d duplicates, in flight: %d "
          "unanswered + %d answered last" %
          (what, n_before, len(dups), len(strict), len(lenient)))


def scenario_pin_ok(ctx):
    """(i) the right tls_pinned_pubkey works"""
    ck, what, d = ctx.begin("(i) right pin", "pin")
    inp, ids = unique_input(ctx, d, 70000, 30)
    s = ctx.server()
    conf = hec_config(ctx, d, s.url, [("win", inp)],
                      tls_pinned_pubkey=tlsutil.pinned_pubkey(
                          ctx.pki["server"]))
    rc, err = ctx.run_once(conf)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    exactly_once(ck, what, [rid_of(e) for e in s.stored()], ids)


def scenario_secrets(ctx):
    ck = ctx.ck
    _, what, d = ctx.begin(
        "(j) token_file", "tokenfile",
        "(j) token_file (0600) works from a 0644 configuration; a "
        "configuration holding token readable by others (or another "
        "group), or a token_file readable by others, is refused with "
        "exit 2")
    inp, ids = unique_input(ctx, d, 80000, 30)
    tf = it.write_config(os.path.join(d, "hec.token"),
                         TOKEN + "\n", 0o600)
    s = ctx.server()
    conf = hec_config(ctx, d, s.url, [("win", inp)], mode=0o644,
                      token=None, token_file=tf)
    rc, err = ctx.run_once(conf)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    reqs, stored, _ = s.snapshot()
    exactly_once(ck, what, [rid_of(e) for e in stored], ids)
    ck.check(reqs and all(r["authorization"] == "Splunk " + TOKEN
                          for r in reqs),
             what + ": the token from the file (without its newline) is "
             "sent")
    # A group-readable file is refused when the group is not the agent's
    # own (as root the test can give the file another group).
    other_gid = None
    if os.geteuid() == 0:
        other_gid = next(g for g in (65534, 1, 2, 3) if g != os.getegid())
    else:
        ctx.ck.skip_or_fail("(j) not root: the case of a configuration "
                            "readable by another group cannot be made")
    for n, (what, mode, kv, named) in enumerate((
            ("(j) token in a 0644 configuration", 0o644, {}, "conf"),
            ("(j) token in a 0640 configuration of another group", 0o640,
             {}, "conf"),
            ("(j) token in a 0604 configuration", 0o604, {}, "conf"),
            ("(j) token_file readable by others", 0o600,
             {"token": None, "token_file": "TF"}, "tf"))):
        if mode == 0o640 and other_gid is None:
            continue
        d = ctx.dir("secret%d" % n)
        tf = os.path.join(d, "hec.token")
        with open(tf, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(tf, 0o644)
        kv = {k: (tf if v == "TF" else v) for k, v in kv.items()}
        conf = hec_config(ctx, d, "https://127.0.0.1:1",
                          [("win", "/dev/null")], mode=mode, **kv)
        if mode == 0o640:
            os.chown(conf, -1, other_gid)
        rc, err = ctx.run_once(conf, 20)
        path = conf if named == "conf" else tf
        ck.eq(rc, 2, "%s: exit code (stderr: %s)" % (what, err[-600:]))
        ck.check(path in err, "%s: stderr names %s: %s" %
                 (what, path, err[-600:]))
        ck.check(re.search(r"\b0?600\b", err), "%s: stderr says to set "
                 "mode 0600: %s" % (what, err[-600:]))


def check_no_token_leak(ctx):
    print("no token appears in any stderr, stdout or dead letter",
          flush=True)
    for where, text in ctx.texts:
        for tok in TOKENS:
            ctx.ck.check(tok not in text, "the token %s... appears in %s" %
                         (tok[:4], where))


def main():
    def body(ctx):
        scenario_server(ctx)
        if preflight(ctx):
            ctx.run_scenarios((
                scenario_happy, scenario_json, scenario_overrides,
                scenario_refusals, scenario_verify_off, scenario_busy,
                scenario_tokens, scenario_partial, scenario_too_large,
                scenario_acks, scenario_down, scenario_kill, scenario_pin_ok,
                scenario_secrets, scenario_options))
        check_no_token_leak(ctx)
    it.output_test("integration_hec", "sysmonfwd-hec-", body, ctx_class=Ctx)


if __name__ == "__main__":
    main()
