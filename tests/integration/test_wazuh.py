"""The Wazuh output (type = wazuh) against wazuh_server.py.

The real binary sends records read from the shared corpus (or made from
it with unique EventRecordIDs) to the Wazuh server API test server over
HTTPS with certificates made at test time.  Every scenario says in one
sentence what it checks:

(0) The test server itself answers like the Wazuh API (checked with curl).
(a) Every record of Windows and Sysmon for Linux corpus files is accepted
    once: Windows records as {"win":...} exactly as an independent Python
    rendering of Wazuh's eventchannel decoding says (lowerCamel keys, "-"
    and empty values left out, agent-path escaping, severityValue),
    Linux records as their syslog line; at most 100 events per request,
    application/json, a Bearer token from one login; GET / was asked.
(b) The token expires (a short lifetime, then all tokens revoked) in the
    middle of a stream: the agent logs in again, every event arrives once.
(c) 10,000 events queued against a manager allowing 10 requests a minute:
    the agent sends 10 requests at once, then waits for the window: never
    a 429, never more than 10 requests in any 60 s.  (Runs in the
    background while the other scenarios run.)
(d) failed_items: events failing once (error 1000) are sent again and
    accepted once; events failing with 1012 are dead-lettered with the
    reason; the rest is accepted once.
(e) A wrong password: said once, clearly, without the password; logins
    no more often than every 10 s; nothing sent; SIGTERM obeyed.
(f) A Wazuh 5 manager (404 at /events): said once, naming Wazuh 5.0 and
    the version; no more requests to /events for minutes.
(g) An event over the manager's 65,535-byte limit is cut, tagged and
    accepted, not dropped.
(h) The connection cut after the manager took a request: the events of
    that request (and only those) arrive twice; nothing is lost.
(i) password_file works; a password in a configuration file other users
    can read is refused (exit 2).
Finally, no secret appears in the agent's output.
"""
import json
import os
import re
import sys
import threading
import time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402
import wazuh_server  # noqa: E402

USER, PASSWORD = "sysmonfwd", "Wz-pa55-Q8r"
MAX_EVENT = 65535 - len("1:API-Webhook:")
WAIT = 60       # deadline (s) for a positive signal; never a measure


class Ctx(it.Ctx):
    def server(self, **kw):
        kw.setdefault("users", {USER: PASSWORD})
        return self.add_server(wazuh_server.WazuhServer(
            self.pki["server"], self.pki["server_key"], **kw))


def wz_config(ctx, d, url, inputs, mode=0o600, **kv):
    return it.output_config(d, inputs, "wz", {
        "type": "wazuh", "url": url, "user": USER, "password": PASSWORD,
        "tls_ca_file": ctx.pki["ca"], "max_requests_per_minute": "600",
        "flush_interval": "200ms", "retry_initial": "200ms",
        "retry_max": "2s", "timeout": "10s"}, kv, mode)


def dead_letters(ctx, d):
    return ctx.dead_letters(d, "wz", "dead letters")


# ---- an independent rendering of Wazuh's eventchannel decoding ----


def wz_escape(v):
    """What the agent path does to a value: cJSON's string escaping."""
    out = []
    for ch in v:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def severity(level, keywords):
    try:
        lv = int(level)
    except ValueError:
        return "UNKNOWN"
    kw = int(keywords, 16) if re.fullmatch(r"0x[0-9a-fA-F]+", keywords) \
        else 0
    names = {1: "CRITICAL", 2: "ERROR", 3: "WARNING", 4: "INFORMATION",
             5: "VERBOSE"}
    if lv in names:
        return names[lv]
    if lv == 0 and kw & 0x10000000000000:
        return "AUDIT_FAILURE"
    if lv == 0 and kw & 0x20000000000000:
        return "AUDIT_SUCCESS"
    return "UNKNOWN"


def expected_win(line):
    text = line.decode("utf-8")
    root = ET.fromstring(text[text.find("<Event"):])
    system = it.child(root, "System")
    out = {}
    level = keywords = None
    for c in system:
        tag = it.local(c.tag)
        content = c.text or ""
        if tag == "Provider":
            for a, k in (("Name", "providerName"), ("Guid", "providerGuid"),
                         ("EventSourceName", "eventSourceName")):
                if c.get(a) is not None:
                    out[k] = wz_escape(c.get(a))
        elif tag == "TimeCreated":
            if c.get("SystemTime") is not None:
                out["systemTime"] = wz_escape(c.get("SystemTime"))
        elif tag == "Execution":
            for a, k in (("ProcessID", "processID"),
                         ("ThreadID", "threadID")):
                if c.get(a) is not None:
                    out[k] = wz_escape(c.get(a))
        elif tag == "Channel":
            out["channel"] = wz_escape(content)
        elif tag in ("Level", "Keywords"):
            out[tag[0].lower() + tag[1:]] = wz_escape(content)
            if tag == "Level":
                level = content
            else:
                keywords = content
        elif tag in ("Correlation", "Security"):
            pass
        elif content:
            out[tag[0].lower() + tag[1:]] = wz_escape(content)
    if level is not None and keywords is not None:
        out["severityValue"] = severity(level, keywords)
    ed = {}
    evd = it.child(root, "EventData")
    if evd is not None:
        for d in evd:
            name, v = d.get("Name"), d.text or ""
            if it.local(d.tag) != "Data" or name is None:
                continue
            if v in ("", "-", "(NULL)"):
                continue
            key = name[0].lower() + name[1:]
            if key not in ed:
                ed[key] = wz_escape(v).rstrip(" \t\n\r\f\v")
    win = {"system": out}
    if ed:
        win["eventdata"] = ed
    doc = {"win": win}
    if out.get("channel") in ("Microsoft-Windows-Sysmon/Operational",
                              "Linux-Sysmon/Operational") and \
            out.get("eventID") in ("4", "16", "255"):
        doc["sysmonfwd"] = {"tags": ["sysmon_tamper"]}
    return doc


def expected_event(line):
    """(kind, value): ("json", dict) for Windows, ("line", str) else."""
    text = line.decode("utf-8").rstrip("\r\n")
    if 'Name="Linux-Sysmon"' in text:
        return "line", text.rstrip("\r")
    return "json", expected_win(line)


def check_accepted(ck, what, s, lines, allow_dups=()):
    """Every line accepted exactly once (allow_dups: indices that may
    arrive twice); nothing else accepted.  Return the accepted list."""
    got = s.events()
    want_json = {}
    want_line = {}
    for i, l in enumerate(lines):
        kind, v = expected_event(l)
        if kind == "json":
            want_json.setdefault(json.dumps(v, sort_keys=True), []).append(i)
        else:
            want_line.setdefault(v, []).append(i)
    seen = [0] * len(lines)
    extra = []
    for ev in got:
        try:
            key = json.dumps(json.loads(ev), sort_keys=True)
            idx = want_json.get(key)
        except ValueError:
            idx = want_line.get(ev)
        if not idx:
            extra.append(ev)
            continue
        j = next((k for k in idx if seen[k] == 0), idx[0])
        seen[j] += 1
    missing = [i for i, n in enumerate(seen) if n == 0]
    twice = [i for i, n in enumerate(seen) if n > 1 and i not in allow_dups]
    ck.check(not missing, "%s: %d of %d records not accepted (first: %s)" %
             (what, len(missing), len(lines),
              it.short(lines[missing[0]] if missing else None, 300)))
    ck.check(not twice, "%s: %d records accepted twice" % (what, len(twice)))
    ck.check(not extra, "%s: %d events accepted that match no record "
             "(first: %s)" % (what, len(extra),
                              it.short(extra[:1], 600)))
    return got


# ---- scenarios ----


def scenario_server(ctx):
    print("(0) the Wazuh API test server (checked with curl)", flush=True)
    ctx.self_test("test server", wazuh_server)


class RateScenario:
    """(c), run in the background: 10,000 events, 10 requests a minute."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.d = ctx.dir("rate")
        self.path, self.lines = ctx.unique_input(self.d, 900000, 10000)
        self.s = ctx.server(events_per_minute=10)
        self.conf = wz_config(ctx, self.d, self.s.url, [("w", self.path)],
                              max_requests_per_minute="10",
                              batch_max_events="500")
        self.t0 = time.monotonic()
        self.a = ctx.agent(self.conf)

    def finish(self):
        ck, what, s = self.ctx.ck, "(c) rate limit", self.s
        # Until the 11th request, the first after the window moved, has
        # arrived (a positive signal, not 63 s of wall clock).
        ok = s.wait(lambda srv: sum(1 for r in srv.request_log
                                    if r["kind"] == "events") >= 11,
                    60 + 2 * WAIT)
        ck.check(ok, what + ": an 11th request came after the window")
        ck.check(self.a.alive(), what + ": the agent is still sending")
        ck.eq(self.a.stop(), 0, what + ": SIGTERM: exit 0")
        err = self.a.stderr()
        reqs = s.requests("events")
        times = [r["t"] for r in reqs]
        # The manager's view: arrival times, as Wazuh counts them.
        ck.eq(len(s.rate_limited()), 0, what + ": 429 answers (the agent "
              "must pace itself)")
        ck.check(s.max_events_requests_per_60s() <= 10,
                 what + ": at most 10 requests in any 60 s (%d): %s" %
                 (s.max_events_requests_per_60s(), pacing_report(s)))
        # The agent's view: when could it have sent each request?  Not
        # before the answer to the previous request on its connection had
        # come (or before the connection began), not after the request
        # arrived.  So whatever the load, request i+10 went out at most
        # arrival(i+10) - earliest(i) after request i: under 60 s, the
        # agent surely sent 11 requests within 60 s.
        lo = send_bounds(s.requests())
        ev = [r for r in s.requests() if r["kind"] == "events"]
        worst = min((ev[i + 10]["t"] - lo[ev[i]["n"]], i)
                    for i in range(len(ev) - 10)) if len(ev) > 10 else None
        ck.check(worst is None or worst[0] >= 60.0,
                 what + ": the agent sent requests %s and %s within %.2f s "
                 "at most (11 in 60 s on its own send times): %s" %
                 (worst and worst[1] + 1, worst and worst[1] + 11,
                  worst and worst[0], pacing_report(s)))
        if worst is not None:
            ck.note("%s: request i+10 arrived at least %.3f s after request "
                    "i arrived, and at least %.3f s after the earliest "
                    "moment request i can have been sent" % (what, min(
                        ev[i + 10]["t"] - ev[i]["t"]
                        for i in range(len(ev) - 10)), worst[0]))
        ck.check(11 <= len(reqs) <= 20,
                 what + ": 10 requests at once, more after the window "
                 "moved (%d in %.0f s)" % (len(reqs),
                                           time.monotonic() - self.t0))
        if len(times) > 10:
            ck.check(times[10] - times[0] >= 60.0,
                     what + ": the 11th request waited for the window "
                     "(%.1f s after the first)" % (times[10] - times[0]))
            # At once: before each of requests 2 to 10 the agent did not
            # wait (from the answer to the previous one to the next
            # request) anything like the 6 s that spreading 10 requests
            # over the minute would take.
            idle = [ev[i]["t"] - lo[ev[i]["n"]] for i in range(1, 10)]
            ck.check(max(idle) < 6.0,
                     what + ": the first 10 went out at once (the agent's "
                     "waits before requests 2-10: %s s)" %
                     ["%.2f" % x for x in idle])
        ck.check(all(r["n_events"] <= 100 for r in reqs),
                 what + ": at most 100 events per request")
        ck.check("429" not in err, what + ": no rate-limit failure in the "
                 "log")
        it.check_server_clean(ck, what, s)


def send_bounds(reqs):
    """{request number: the earliest the agent can have sent it}: the
    answer to the previous request on the same connection (an HTTP/1.1
    client sends the next request only once it has read that answer), or
    the moment the server began the connection (before the TLS
    handshake)."""
    last, out = {}, {}
    for r in sorted(reqs, key=lambda r: r["n"]):
        prev = last.get(r["conn"])
        out[r["n"]] = (prev["answered"] if prev is not None and
                       prev["answered"] is not None else r["conn_t"])
        last[r["conn"]] = r
    return out


def pacing_report(s):
    """The /events requests as the server saw them, relative to the
    first: arrival, earliest send, connection."""
    reqs = s.requests()
    lo = send_bounds(reqs)
    ev = [r for r in reqs if r["kind"] == "events"]
    if not ev:
        return "no requests"
    t0 = ev[0]["t"]
    return ", ".join("#%d conn %d sent >= %.2f arrived %.2f" %
                     (k + 1, r["conn"], lo[r["n"]] - t0, r["t"] - t0)
                     for k, r in enumerate(ev[:22]))


def scenario_happy(ctx):
    """(a) corpus records accepted once, in the shape of Wazuh's eventchannel
    decoding"""
    ck, what, d, s, lines, err = ctx.happy_run(
        "(a) happy path", "happy",
        lambda d, url, inputs: wz_config(ctx, d, url, inputs), 120)
    got = check_accepted(ck, what, s, lines)
    ck.check(len(got) == 226, what + ": 226 events (%d)" % len(got))
    reqs = s.requests("events")
    ck.check(reqs and all(r["n_events"] <= 100 for r in reqs),
             what + ": at most 100 events per request")
    ck.check(all((r["content_type"] or "").startswith("application/json")
                 and r["auth"] == "Bearer" for r in reqs),
             what + ": application/json with a Bearer token")
    ck.eq(len(s.logins()), 1, what + ": logins")
    ck.eq(len(s.requests("info")), 1, what + ": GET / asked once")
    ck.check("Wazuh API 4.14.7" in err, what + ": the API version is "
             "logged: %s" % err[-400:])
    ck.eq(dead_letters(ctx, d), [], what + ": dead letters")
    it.check_server_clean(ck, what, s)
    sm = it.summary_numbers(err)
    if ck.check(sm is not None, what + ": summary line"):
        ck.eq(sm["delivered"], len(lines), what + ": summary delivered")


def scenario_expiry(ctx):
    """(b) the token expires mid-stream: a new login, every event once"""
    ck, what, d = ctx.begin("(b) token expiry", "expiry")
    path, lines = ctx.unique_input(d, 100000, 1200)
    s = ctx.server(token_lifetime=4)
    s.set_delay(0.5)        # 12 requests take longer than a token lives
    conf = wz_config(ctx, d, s.url, [("w", path)],
                     max_requests_per_minute="90", batch_max_events="100")

    def revoke():
        s.wait(lambda srv: len(srv.accepted_log) >= 300, 30)
        s.expire_tokens()
    th = threading.Thread(target=revoke, daemon=True)
    th.start()
    rc, err = ctx.run_once(conf, 120)
    th.join(1)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    check_accepted(ck, what, s, lines)
    logins = s.logins()
    ck.check(len(logins) >= 3, what + ": logged in again before the token "
             "expired and after it was revoked (%d logins)" % len(logins))
    ck.check(len(s.unauthorized()) <= 2, what + ": few 401s (%s)" %
             s.unauthorized()[:5])
    it.check_server_clean(ck, what, s)


def scenario_failed_items(ctx):
    """(d) failed_items: retried once or dead-lettered (1012)"""
    ck, what, d = ctx.begin("(d) failed items", "failed")
    path, lines = ctx.unique_input(d, 200000, 300)
    retry_ids = set(range(200000, 200300, 17))
    bad_ids = set(range(200005, 200300, 41)) - retry_ids
    rid = re.compile(r"eventRecordID\":\"(\d+)\"")

    def rec_id(ev):
        m = rid.search(ev)
        return int(m.group(1)) if m else None
    s = ctx.server()
    s.fail_events(match=lambda ev: rec_id(ev) in retry_ids, code=1000,
                  message="Error communicating with queue", times=1)
    s.fail_events(match=lambda ev: rec_id(ev) in bad_ids, code=1012,
                  message="Invalid message to queue", times=None)
    conf = wz_config(ctx, d, s.url, [("w", path)])
    rc, err = ctx.run_once(conf, 120)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    good = [l for l in lines
            if int(it.RECORD_ID_RE.search(l).group(0)[15:-16]) not in
            bad_ids]
    check_accepted(ck, what, s, good)
    dl = dead_letters(ctx, d)
    ids = sorted(int(x.get("record", {}).get("win", {}).get("system", {})
                     .get("eventRecordID", -1)) for x in dl)
    ck.eq(ids, sorted(bad_ids), what + ": exactly the 1012 events are "
          "dead-lettered")
    ck.check(all("1012" in x.get("reason", "") and
                 "Invalid message" in x.get("reason", "") for x in dl),
             what + ": dead letters carry Wazuh's code and message")
    it.check_server_clean(ck, what, s)


def scenario_failed_items_renamed(ctx):
    """(d2) failed_items naming events by a text we never sent: the unnamed
    events of that request are sent again, nothing lost"""
    ck, what, d = ctx.begin("(d2) unplaceable failures", "renamed")
    path, lines = ctx.unique_input(d, 250000, 120)
    fail_ids = set(range(250003, 250120, 29))
    rid = re.compile(r"eventRecordID\":\"(\d+)\"")

    def rec_id(ev):
        m = rid.search(ev)
        return int(m.group(1)) if m else None
    s = ctx.server()
    # Each fails once, reported under a text that matches no event sent.
    s.fail_events(match=lambda ev: rec_id(ev) in fail_ids, code=1000,
                  message="Error communicating with queue", times=1,
                  rename=lambda ev: ev.replace("eventRecordID",
                                               "EventRecordId"))
    conf = wz_config(ctx, d, s.url, [("w", path)])
    rc, err = ctx.run_once(conf, 120)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    # Every record arrives; the others of the requests that had a failure
    # we could not place may arrive twice (the price of losing nothing).
    check_accepted(ck, what, s, lines, allow_dups=range(len(lines)))
    failed_again = [e for e in s.events() if rec_id(e) in fail_ids]
    ck.eq(sorted(rec_id(e) for e in failed_again), sorted(fail_ids),
          what + ": each failed event accepted once, after its failure")
    ck.check("matches none of the" in err and "sent again" in err,
             what + ": the agent says it could not place a failure")
    ck.check(len(s.events()) <= 2 * len(lines), what + ": at most one "
             "resend per event (%d accepted for %d)" %
             (len(s.events()), len(lines)))
    it.check_server_clean(ck, what, s)


def scenario_wrong_password(ctx):
    """(e) a wrong password: said once, logins at least 10 s apart"""
    ck, what, d = ctx.begin("(e) wrong password", "wrongpw")
    path, lines = ctx.unique_input(d, 300000, 20)
    s = ctx.server()
    conf = wz_config(ctx, d, s.url, [("w", path)],
                     password=PASSWORD + "-wrong")
    a = ctx.agent(conf)
    # Until the second refused login (the agent tried again), not for a
    # fixed time.
    ck.check(s.wait(lambda srv: sum(1 for x in srv.login_log
                                    if not x["ok"]) >= 2, 10 + WAIT),
             what + ": the agent tries to log in again")
    ck.check(a.alive(), what + ": the agent keeps waiting")
    ck.eq(a.stop(), 0, what + ": SIGTERM: exit 0")
    err = a.stderr()
    fails = [x for x in s.logins() if not x["ok"]]
    reqs = {r["n"]: r for r in s.requests()}
    if len(fails) >= 2:
        # From the answer to one refused login to the next login: the
        # agent waited at least 10 s (the server's clock, lower bound).
        waited = [reqs[b["request"]]["t"] -
                  (reqs[a_["request"]]["answered"] or reqs[a_["request"]]["t"])
                  for a_, b in zip(fails, fails[1:])]
        ck.check(all(w >= 10.0 for w in waited), what + ": logins at least "
                 "10 s apart (no tight loop): waited %s s" %
                 ["%.2f" % w for w in waited])
    ck.eq(err.count("refused user sysmonfwd"), 1,
          what + ": the refusal is logged once")
    ck.eq(len(s.requests("events")), 0, what + ": nothing sent")
    ck.eq(dead_letters(ctx, d), [], what + ": nothing dead-lettered")


def scenario_wazuh5(ctx):
    """(f) Wazuh 5 (404 at /events): said once, no spinning"""
    ck, what, d = ctx.begin("(f) Wazuh 5", "v5")
    path, lines = ctx.unique_input(d, 400000, 20)
    s = ctx.server(version="v5.0.0")
    conf = wz_config(ctx, d, s.url, [("w", path)])
    a = ctx.agent(conf)
    # First the positive signal: the agent has met the 404 and said so.
    ck.check(it.wait_log(a.err_path, r"Wazuh 5\.0 removed it", WAIT),
             what + ": the 404 is explained")
    # Then 5 s in which an agent that spins would send again (a loaded
    # machine only makes such requests fewer): an observation window
    # after the signal, not a wait for one.
    time.sleep(5)
    ck.eq(a.stop(), 0, what + ": SIGTERM: exit 0")
    err = a.stderr()
    ck.eq(len(s.requests("events")), 1, what + ": one request to /events "
          "in the 5 s after the 404")
    ck.check(err.count("Wazuh 5.0 removed it") == 1 and "5.0.0" in err,
             what + ": the 404 is explained once, with the version: %s" %
             err[-600:])


def scenario_oversized(ctx):
    """(g) an event over 65,535 bytes: cut, tagged, accepted"""
    ck, what, d = ctx.begin("(g) oversized event", "big")
    line = it.unique_records(ctx.args.corpus, 500000, 1)[0]
    big = line.replace(b"</EventData>", b"<Data Name='Pad'>" +
                       b"C:\\x" * 20000 + b"</Data></EventData>", 1)
    path = os.path.join(d, "in.log")
    with open(path, "wb") as f:
        f.write(big)
    s = ctx.server()
    conf = wz_config(ctx, d, s.url, [("w", path)])
    rc, err = ctx.run_once(conf, 120)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    got = s.events()
    ck.eq(len(got), 1, what + ": accepted events")
    if got:
        ev = json.loads(got[0])
        ck.check(len(got[0].encode()) <= MAX_EVENT,
                 what + ": %d bytes <= %d" % (len(got[0].encode()),
                                              MAX_EVENT))
        ck.eq(ev.get("sysmonfwd", {}).get("tags"), ["sysmonfwd_truncated"],
              what + ": tagged")
        ck.eq(ev.get("sysmonfwd", {}).get("cut_fields"), ["pad"],
              what + ": the long field is named")
        ck.eq(ev["win"]["system"].get("eventRecordID"), "500000",
              what + ": the record is whole otherwise")
    ck.check("cut" in err, what + ": the cut is logged")


def scenario_lost_answer(ctx):
    """(h) an answer lost after the manager took the events: only those
    arrive twice"""
    ck, what, d = ctx.begin("(h) lost answer", "lost")
    path, lines = ctx.unique_input(d, 600000, 250)
    s = ctx.server()
    s.drop_next(1, store=True)
    conf = wz_config(ctx, d, s.url, [("w", path)], batch_max_events="100")
    rc, err = ctx.run_once(conf, 120)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    first = [l for l in lines[:100]]
    check_accepted(ck, what, s, lines, allow_dups=set(range(100)))
    counts = s.accepted_counts()
    twice = sum(1 for n in counts.values() if n > 1)
    ck.eq(twice, 100, what + ": the 100 events of the cut request arrived "
          "twice (Wazuh cannot tell)")
    ck.eq(len(first), 100, what + ": batch size")


def scenario_secrets(ctx):
    """(i) password_file; a readable inline password refused"""
    ck, what, d = ctx.begin("(i) secrets", "secrets")
    path, lines = ctx.unique_input(d, 700000, 30)
    pf = it.write_config(os.path.join(d, "wazuh.password"),
                         PASSWORD + "\n", 0o600)
    s = ctx.server()
    conf = wz_config(ctx, d, s.url, [("w", path)], password=None,
                     password_file=pf, mode=0o644)
    rc, err = ctx.run_once(conf, 120)
    ck.eq(rc, 0, what + ": password_file: exit code (%s)" % err[-300:])
    check_accepted(ck, what, s, lines)
    d2 = ctx.dir("secrets2")
    conf = wz_config(ctx, d2, s.url, [("w", path)], mode=0o644)
    rc, err = ctx.run_once(conf, 120)
    ck.check(rc == 2 and "`password`" in err,
             what + ": an inline password readable by others is refused "
             "(exit %s): %s" % (rc, err[-300:]))


def check_no_secret_leak(ctx):
    leaks = [(w, sec) for w, text in ctx.texts
             for sec in (PASSWORD, PASSWORD + "-wrong") if sec in text]
    ctx.ck.eq(leaks[:3], [], "a secret appears in the agent's output")


def main():
    def body(ctx):
        rate = None
        try:
            print("(c) 10,000 events at 10 requests a minute (in the "
                  "background)", flush=True)
            rate = RateScenario(ctx)
        except Exception as e:
            ctx.ck.fail("rate scenario did not start: %r" % e)
        ctx.run_scenarios((
            scenario_server, scenario_happy, scenario_expiry,
            scenario_failed_items, scenario_failed_items_renamed,
            scenario_wrong_password, scenario_wazuh5, scenario_oversized,
            scenario_lost_answer, scenario_secrets))
        if rate is not None:
            def scenario_rate(ctx):     # (c), started at the beginning
                rate.finish()
            ctx.run_scenarios((scenario_rate,))
        check_no_secret_leak(ctx)
    it.output_test("integration_wazuh", "sysmonfwd-wazuh-", body,
                   ctx_class=Ctx)


if __name__ == "__main__":
    main()
