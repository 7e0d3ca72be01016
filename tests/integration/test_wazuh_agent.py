"""The Wazuh agent protocol output (type = wazuh_agent) against
wazuh_manager.py, a test manager (authd + remoted) written from Wazuh
4.14.7's source.

The real binary enrolls over TLS (certificates made at test time) and
sends records read from the shared corpus, or made from it with unique
EventRecordIDs, as encrypted messages; the manager checks MD5s and the
anti-replay counters (remoted.verify_msg_id=1, stricter than a stock
manager) and records everything with its own receive times.  Every
scenario says in one sentence what it checks:

(0) The test manager itself, with a tiny agent on wazuh_codec.py: it
    refuses a bad MD5, a replayed or older counter, an unknown id, a key
    not loaded yet, an oversize frame; authd's answers are Wazuh's.
(a) Enrollment (password file, CA-verified TLS) gives one key, kept in
    state_dir/wazuh/client.keys (0600) as the manager has it; every corpus
    record decrypts, and is what the `wazuh` API output sends for it:
    Windows records as f:EventChannel JSON that the model of Wazuh's
    DecodeWinevt (wazuh_winevt.py) turns into exactly the API's JSON,
    Linux records as their syslog line on queue 1; a restart reuses the
    key (no second enrollment) and its counters go on.
(a2) A new key is refused by remoted for a while (key reload delay): the
    agent retries and delivers, without enrolling again.
(b) Keepalives come every keepalive_interval (counted against the
    agent's own interval on the manager's clock, generous bounds), carry
    the OS, the merged.mg sum and are acked; the first message is the
    startup, and SIGTERM sends the shutdown.
(c) The connection cut mid-batch (after the 250th event): every record
    arrives, and the only records sent twice are ones no ack had
    confirmed when the cut came.
(c2) Records that reached remoted but that no ack confirmed are not
    delivered: with the manager withholding acks, then kill -9 and a
    restart, every one is sent again.
(d) kill -9 in the middle of a stream, then a restart: nothing lost, the
    counters go on (no "duplicated counter" with verify_msg_id on), no
    second enrollment.
(d2) The manager restarts in the middle of a stream (remoted's counters
    come back from queue/rids, up to 10 messages behind): the agent
    connects again and delivers everything, no refusal.
(d3) Failover: manager = A,B; A's remoted stops in the middle of a
    stream and the agent delivers the rest to B (a second node sharing
    A's keys, on 127.0.0.2), nothing lost, no second enrollment.
(e) The manager forgets the key: the agent enrolls again and delivers
    the rest under its new id.
(f) A wrong enrollment password and (g) a name already taken: one clear
    log line each, retries that are not a busy loop, no crash, SIGTERM
    obeyed, nothing sent.
(g2) An authd whose certificate enrollment_ca_file does not sign: the
    agent sends no request (so never its password), says why, retries.
(g3) A Wazuh 5.0.1 authd at its agent limit: the same (its own words).
(h) Pacing: with max_events_per_second = 200, 900 records arrive no
    faster than 250 a second on the manager's clock (a lower bound on
    the time taken, which load cannot break).
(i) A record over CreateSecMSG's limit is cut and tagged, accepted by
    remoted and read by the model of the manager's decoder.
(j) Heartbeats go as the API output's JSON on 1:sysmonfwd:, in order.
Finally, no secret appears in the agent's output.
"""
import collections
import hashlib
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402
import wazuh_manager  # noqa: E402
import wazuh_server  # noqa: E402
import wazuh_winevt  # noqa: E402

AUTHD_PASS = "Wz-enr0ll-7Qp"
WRONG_PASS = "Wz-wr0ng-3Xk"
API_USER, API_PASS = "sysmonfwd", "Wz-api-p4ss-9L"
AGENT_NAME = "it-agent"         # [agent] name of sysmonfwd_it.file_config
WAIT = 60       # deadline (s) for a positive signal; never a measure
RID_RE = re.compile(r"<EventRecordID>(\d+)</EventRecordID>")


class Ctx(it.Ctx):
    def manager(self, **kw):
        """A test manager (started), verify_msg_id on unless said."""
        kw.setdefault("verify_msg_id", True)
        return self.add_server(wazuh_manager.WazuhManager(
            self.pki["server"], self.pki["server_key"], **kw))

    def api_server(self):
        return self.add_server(wazuh_server.WazuhServer(
            self.pki["server"], self.pki["server_key"],
            users={API_USER: API_PASS}))


def wa_config(ctx, d, m, inputs, password=None, mode=0o600, follow=False,
              **kv):
    """d/agent.conf: file inputs [(name, path)] and a wazuh_agent output
    "wz" to the manager m (password: the content of the password file
    given to the agent; by default the manager's)."""
    out = {"type": "wazuh_agent", "manager": "127.0.0.1",
           "port": str(m.remoted_port),
           "enrollment_port": str(m.authd_port),
           "enrollment_ca_file": ctx.pki["ca"], "agent_groups": "default",
           "flush_interval": "200ms", "retry_initial": "200ms",
           "retry_max": "2s", "timeout": "10s"}
    pw = password if password is not None else m.password
    if pw is not None:
        out["enrollment_password_file"] = it.write_config(
            os.path.join(d, "authd.pass"), pw + "\n", 0o600)
    return it.output_config(d, inputs, "wz", out, kv, mode, follow)


def api_config(ctx, d, s, inputs):
    """The same inputs to the `wazuh` (API) output, for comparison."""
    return it.output_config(d, inputs, "api", {
        "type": "wazuh", "url": s.url, "user": API_USER,
        "password": API_PASS, "tls_ca_file": ctx.pki["ca"],
        "max_requests_per_minute": "600", "flush_interval": "200ms",
        "retry_initial": "200ms", "retry_max": "2s", "timeout": "10s"}, {})


def manager_clean(ck, what, m, allow=()):
    """The manager refused nothing (but the kinds in allow) and its
    handlers raised nothing."""
    errs = [e for e in m.errors() if e["kind"] not in allow]
    ck.eq([e["message"] for e in errs][:5], [], what + ": manager "
          "refusals")
    ck.eq(m.handler_errors, [], what + ": manager handler errors")
    ck.eq(m.tls_failures, [], what + ": failed TLS handshakes at authd")


def wait_agent(m, a, pred, timeout):
    """m.wait_for(pred), but give up early when the agent a has exited
    (then pred() is asked once more)."""
    m.wait_for(lambda: pred() or not a.alive(), timeout)
    return pred()


def records(m):
    """The events the manager received but the agent's own startup event
    (1:wazuh-agent:ossec: Agent started: ..., which a Wazuh agent sends
    after its startup message: src/client-agent/start_agent.c)."""
    return [e for e in m.event_log() if e["location"] != "wazuh-agent"]


def merged_sends(m):
    """The times the manager began sending merged.mg."""
    return [x for x in m.acks() if x["text"].startswith("#!-up file ")]


def rid(payload):
    m = RID_RE.search(payload)
    return int(m.group(1)) if m else None


def enrolled(m):
    return [e for e in m.enrollments() if e["ok"]]


def check_key_file(ck, what, d, m, agent_id):
    """state_dir/wazuh/client.keys: mode 0600, the manager's line."""
    path = os.path.join(d, "state", "wazuh", "client.keys")
    if not ck.check(os.path.exists(path), what + ": %s exists" % path):
        return
    mode = os.stat(path).st_mode & 0o777
    if getattr(ck, "wine_modes", False):
        # Under Wine (tests/cross/outputs-wine.sh) the file's mode is
        # Wine's picture of its DACL, which shows any SID but the owner's
        # and Everyone as the group's bits: only "others" can be judged
        # (0644 before the agent made the key private, 0660 after).
        ck.eq(oct(mode & 0o007), oct(0), what + ": client.keys readable "
              "by others (mode %s under Wine)" % oct(mode))
    else:
        ck.eq(oct(mode), oct(0o600), what + ": client.keys mode")
    line = next(("%s %s %s %s\n" % k for k in m.keys() if k[0] ==
                 agent_id), None)
    ck.eq(it.read_text(path), line, what + ": client.keys holds the "
          "manager's key line")


def agent_messages(m, agent_id=None):
    """Events and control messages of the agent (all agents: None) in
    the manager's order: (seq, global, local)."""
    out = [(x["seq"], x["global"], x["local"])
           for x in m.event_log() + m.controls()
           if agent_id is None or x["agent"] == agent_id]
    return sorted(out)


def check_counters_grow(ck, what, m, agent_id):
    """What verify_msg_id enforces, said directly: each message's
    counters above the previous one's."""
    msgs = agent_messages(m, agent_id)
    bad = [(a, b) for a, b in zip(msgs, msgs[1:])
           if (b[1], b[2]) <= (a[1], a[2])]
    ck.check(not bad, what + ": counters grow from message to message "
             "(first fall: %s)" % (bad[:1],))


# ---- scenarios ----


def scenario_self_test(ctx):
    """(0) the test manager against a tiny agent on wazuh_codec.py"""
    ctx.ck.eq(wazuh_manager.self_test(), [], "(0) wazuh_manager self-test "
              "failures")


def corpus_inputs(corpus):
    ins = [("w%d" % i, p) for i, p in enumerate(it.windows_files(corpus))]
    ins += [("l%d" % i, p) for i, p in enumerate(it.linux_files(corpus))]
    return ins


def scenario_corpus(ctx):
    """(a) enrollment, the whole corpus as the API output sends it, the key
    reused"""
    ck, what, d = ctx.begin("(a) corpus", "corpus")
    m = ctx.manager(password=AUTHD_PASS)
    ins = corpus_inputs(ctx.args.corpus)
    rc, err = ctx.run_once(wa_config(ctx, d, m, ins), 300)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    ck.eq([(e["name"], e["id"]) for e in m.enrollments()],
          [(AGENT_NAME, "001")], what + ": one enrollment")
    check_key_file(ck, what, d, m, "001")
    ev = records(m)
    ck.check(all(e["agent"] == "001" for e in ev), what + ": every event "
             "from agent 001")
    started = [e["payload"] for e in m.event_log() if e not in ev]
    ck.eq(started, ["1:wazuh-agent:ossec: Agent started: '%s->any'." %
                    AGENT_NAME], what + ": the agent's own startup event "
          "(as start_agent.c sends it)")
    ctl = m.controls()
    ck.check(ctl and ctl[0]["kind"] == "startup" and ctl[0]["acked"] and
             '"version":"v' in ctl[0]["text"], what + ": the first control "
             "message is an acked startup with a version: %s" %
             it.short(ctl[:1]))
    ck.check(ev and min(e["seq"] for e in ev) > ctl[0]["seq"],
             what + ": no event before the startup")
    ck.check(ctl and ctl[-1]["kind"] == "shutdown", what + ": the last "
             "control message is the shutdown: %s" % it.short(ctl[-1:]))
    manager_clean(ck, what, m)
    check_counters_grow(ck, what, m, "001")
    # Every event's form.
    kinds = collections.Counter((e["queue"], e["location"]) for e in ev)
    ck.note("%s: %d events, by queue and location: %s" %
            (what, len(ev), dict(kinds)))
    for e in ev:
        if e["queue"] == "f":
            ok_f = e["location"] == "EventChannel"
            try:
                doc = json.loads(e["message"])
                ok_f = ok_f and isinstance(doc, dict) and \
                    isinstance(doc.get("Event"), str) and \
                    doc["Event"].startswith("<Event")
            except ValueError:
                ok_f = False
            if not ck.check(ok_f, what + ": an f event is "
                            "EventChannel:{..\"Event\":\"<Event..\"}: %s" %
                            it.short(e["payload"])):
                break
        elif not ck.check(e["queue"] == "1" and e["location"],
                          what + ": other events on queue 1 with a "
                          "location: %s" % it.short(e["payload"])):
            break
    # The same inputs through the API output.
    d2 = ctx.dir("corpus-api")
    s = ctx.api_server()
    rc2, err2 = ctx.run_once(api_config(ctx, d2, s, ins), 300)
    ck.eq(rc2, 0, what + ": API output exit code (stderr: %s)" %
          err2[-800:])
    # Counted in the terms of wazuh_winevt.py: the model of the
    # manager's DecodeWinevt on our payload against the API output's event
    # (its docstring says which differences between the two paths are
    # Wazuh's own and are taken into account).
    api = collections.Counter(wazuh_winevt.api_comparable(x)
                              for x in s.events())
    got = collections.Counter()
    strict = 0
    api_by_text = set(s.events())
    for e in ev:
        try:
            got[wazuh_winevt.agent_comparable(e["payload"])] += 1
        except Exception as x:  # the model refused it: say which
            ck.fail("%s: DecodeWinevt model failed (%r) on %s" %
                    (what, x, it.short(e["payload"], 400)))
            continue
        if e["queue"] != "f" and e["message"] in api_by_text:
            strict += 1
        elif e["queue"] == "f" and wazuh_winevt.decode_winevt(
                e["message"]) in api_by_text:
            strict += 1
    ck.eq(sum(got.values()), sum(api.values()), what + ": as many "
          "events as the API output sent")
    extra = sorted((got - api).elements())
    missing = sorted((api - got).elements())
    ck.eq(extra[:2], [], what + ": agent events (decoded) that the API "
          "output did not send (%d)" % len(extra))
    ck.eq(missing[:2], [], what + ": API events the agent did not send "
          "(%d)" % len(missing))
    ck.note("%s: %d of %d events byte-equal to the API output's, the "
            "others equal but for the differences wazuh_winevt.py names" %
            (what, strict, len(ev)))
    lin = [e for e in ev if "Linux-Sysmon" in e["message"]]
    ck.check(lin and all(e["queue"] == "1" and
                         e["location"] == "/var/log/syslog" for e in lin),
             what + ": Sysmon for Linux records on 1:/var/log/syslog (%d)"
             % len(lin))
    # A restart: the same key, counters going on, no new enrollment, the
    # merged.mg sum remembered.
    path, lines = ctx.unique_input(d, 10000, 30, "again.log")
    n0 = len(ev)
    ups = len(merged_sends(m))
    msum = hashlib.md5(m.merged_mg("default")).hexdigest()
    had_sum = any(k["merged_sum"] == msum for k in m.keepalives())
    rc, err = ctx.run_once(wa_config(ctx, d, m, [("again", path)]), 120)
    ck.eq(rc, 0, what + ": second run exit code (%s)" % err[-600:])
    ck.eq(len(m.enrollments()), 1, what + ": no enrollment on the second "
          "run")
    ev2 = records(m)[n0:]
    ck.eq(sorted(rid(e["payload"]) for e in ev2 if
                 rid(e["payload"]) is not None),
          list(range(10000, 10030)), what + ": the second run's records")
    ck.check(all(e["agent"] == "001" for e in ev2), what + ": under the "
             "same id")
    if had_sum:
        ck.eq(len(merged_sends(m)), ups, what + ": merged.mg not sent "
              "again (the agent kept its sum)")
    else:
        ck.note("%s: the first run ended before it had merged.mg" % what)
    manager_clean(ck, what + " (second run)", m)
    check_counters_grow(ck, what + " (second run)", m, "001")


def scenario_reload_delay(ctx):
    """(a2) a new key refused for 3 s: retried, one enrollment"""
    ck, what, d = ctx.begin("(a2) key reload delay", "reload")
    m = ctx.manager(key_reload_delay=3.0)
    path, lines = ctx.unique_input(d, 20000, 20)
    t0 = time.monotonic()
    rc, err = ctx.run_once(wa_config(ctx, d, m, [("w", path)]), 120)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    ck.eq(len(m.enrollments()), 1, what + ": one enrollment request")
    ids = sorted(rid(e["payload"]) for e in records(m))
    ck.eq(sorted(set(ids)), list(range(20000, 20020)), what + ": every "
          "record delivered")
    refused = [e for e in m.errors() if e["kind"] == "unknown id"]
    ck.note("%s: %d connection(s) refused before remoted loaded the key "
            "(run took %.1f s)" % (what, len(refused),
                                   time.monotonic() - t0))
    manager_clean(ck, what, m, allow=("unknown id",))


def scenario_keepalive(ctx):
    """(b) keepalives every keepalive_interval, acked, with the OS; startup
    first, shutdown on SIGTERM"""
    ck, what, d = ctx.begin("(b) keepalives", "keepalive")
    m = ctx.manager()
    path, lines = ctx.unique_input(d, 30000, 10)
    interval = 1.0
    a = ctx.agent(wa_config(ctx, d, m, [("w", path)], follow=True,
                            keepalive_interval="1s"), once=False)
    ck.check(wait_agent(m, a, lambda: len(records(m)) >= 10, WAIT),
             what + ": the records arrived")
    last_ev = max((e["seq"] for e in records(m)), default=0)
    # Keepalives after everything was sent: the steady state, with no
    # batch to confirm.
    def steady():
        return [k for k in m.keepalives() if k["seq"] > last_ev]
    ck.check(wait_agent(m, a, lambda: len(steady()) >= 7,
                        WAIT + 10 * interval),
             what + ": 7 keepalives after the records (%d)" % len(steady()))
    rc = a.stop()
    ck.eq(rc, 0, what + ": SIGTERM: exit 0")
    ka = steady()[1:]   # the first may still confirm the records
    if len(ka) >= 2:
        span = ka[-1]["t"] - ka[0]["t"]
        gaps = [y["t"] - x["t"] for x, y in zip(ka, ka[1:])]
        # Not more often than the interval allows (the agent's own
        # interval; 1.25 and one extra for timer jitter), and none
        # missing for long (a generous bound on a loaded machine).
        ck.check(len(ka) - 1 <= span / interval * 1.25 + 1,
                 what + ": %d keepalives in %.2f s with a %.0f s interval"
                 % (len(ka), span, interval))
        ck.check(max(gaps) <= 5 * interval + 5, what + ": the longest gap "
                 "between keepalives is %.2f s" % max(gaps))
        ck.note("%s: keepalive gaps (manager clock): %s" %
                (what, ["%.2f" % g for g in gaps]))
    allka = m.keepalives()
    ck.check(allka and all(k["acked"] for k in allka), what + ": every "
             "keepalive acked")
    k0 = allka[0] if allka else {}
    ck.check(k0.get("uname") and k0.get("version"), what + ": the keepalive "
             "says the OS and the version: %s" % it.short(k0.get("text")))
    ck.check(k0.get("merged_sum") is not None, what + ": the keepalive "
             "carries a merged.mg sum: %s" % it.short(k0.get("text")))
    ck.note("%s: keepalive text %r" % (what, k0.get("text")))
    ups = merged_sends(m)
    ck.note("%s: merged.mg sent %d times for %d keepalives" %
            (what, len(ups), len(allka)))
    # remoted sends the group's merged.mg after each keepalive whose sum
    # is not the group's: an agent that took it reports its sum, so it is
    # sent once (twice if a keepalive crossed it on the way).
    ck.check(1 <= len(ups) <= 2, what + ": merged.mg sent once, not after "
             "every keepalive (%d times)" % len(ups))
    msum = hashlib.md5(m.merged_mg("default")).hexdigest()
    ck.eq(allka[-1].get("merged_sum") if allka else None, msum,
          what + ": the last keepalive reports the group's merged.mg sum")
    ctl = m.controls()
    ck.check(ctl and ctl[0]["kind"] == "startup", what + ": startup "
             "first: %s" % it.short(ctl[:1]))
    ck.check(m.wait_for(lambda: m.controls()[-1:] and
                        m.controls()[-1]["kind"] == "shutdown", 10),
             what + ": shutdown sent on SIGTERM: %s" %
             it.short(m.controls()[-1:]))
    manager_clean(ck, what, m)


def scenario_cut(ctx):
    """(c) a cut mid-batch: nothing lost, only unconfirmed records resent"""
    ck, what, d = ctx.begin("(c) cut mid-batch", "cut")
    m = ctx.manager()
    path, lines = ctx.unique_input(d, 40000, 600)
    m.drop_after(250)
    rc, err = ctx.run_once(wa_config(ctx, d, m, [("w", path)],
                                     batch_max_events="100"), 180)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    ev = records(m)
    ids = collections.Counter(rid(e["payload"]) for e in ev)
    want = set(range(40000, 40600))
    ck.eq(sorted(want - set(ids)), [], what + ": records lost")
    ck.eq(sorted(set(ids) - want), [], what + ": unexpected events")
    ck.check(max(ids.values(), default=0) <= 2,
             what + ": no record more than twice")
    # An instance is confirmed when the manager acked a control message
    # sent after it on the same connection.  The agent may send a record
    # again only if its earlier instances were all unconfirmed.
    acked = collections.defaultdict(list)
    for c in m.controls():
        if c["acked"]:
            acked[c["conn"]].append(c["seq"])
    confirmed = {e["seq"] for e in ev
                 if any(s > e["seq"] for s in acked[e["conn"]])}
    by_rec = collections.defaultdict(list)
    for e in ev:
        by_rec[rid(e["payload"])].append(e)
    bad = [r for r, es in by_rec.items()
           if any(x["seq"] in confirmed for x in es[:-1])]
    ck.eq(sorted(bad)[:5], [], what + ": records sent again after an ack "
          "had confirmed them (%d)" % len(bad))
    dups = [r for r, n in ids.items() if n > 1]
    ck.check(dups, what + ": the cut was mid-batch: the unconfirmed "
             "records were sent again (%d)" % len(dups))
    ck.note("%s: %d events, %d records sent twice, %d connections" %
            (what, len(ev), len(dups), len({e["conn"] for e in ev})))
    manager_clean(ck, what, m)
    check_counters_grow(ck, what, m, "001")


def scenario_no_ack(ctx):
    """(c2) records that reached remoted but were never acked are not
    delivered: after kill -9 they are all sent again"""
    ck, what, d = ctx.begin("(c2) no ack", "noack")
    m = ctx.manager()
    m.stop_acking(kinds=("keepalive",))
    path, lines = ctx.unique_input(d, 45000, 100)
    conf = wa_config(ctx, d, m, [("w", path)])
    a = ctx.agent(conf)

    def sent_all():
        ev = records(m)
        if len({rid(e["payload"]) for e in ev}) < 100:
            return False
        last = max(e["seq"] for e in ev)
        return any(c["seq"] > last and c.get("ack_withheld")
                   for c in m.controls())
    ck.check(wait_agent(m, a, sent_all, WAIT), what + ": the 100 records "
             "and a control message after them reached remoted")
    ck.check(a.alive(), what + ": without acks the agent does not finish")
    a.kill9()
    n0 = len(records(m))
    m.resume_acking()
    rc, err = ctx.run_once(conf, 120)
    ck.eq(rc, 0, what + ": exit code once acked (stderr: %s)" %
          err[-800:])
    again = collections.Counter(rid(e["payload"])
                                for e in records(m)[n0:])
    ck.eq(sorted(set(range(45000, 45100)) - set(again)), [],
          what + ": records not sent again after the restart")
    ck.eq(len(m.enrollments()), 1, what + ": one enrollment")
    manager_clean(ck, what, m)
    check_counters_grow(ck, what, m, "001")


def scenario_kill9(ctx):
    """(d) kill -9 mid-stream and a restart: counters go on, nothing lost"""
    ck, what, d = ctx.begin("(d) kill -9", "kill9")
    m = ctx.manager()
    path, lines = ctx.unique_input(d, 50000, 600)
    conf = wa_config(ctx, d, m, [("w", path)], max_events_per_second="100")
    a = ctx.agent(conf)
    ck.check(wait_agent(m, a, lambda: len(records(m)) >= 150, WAIT),
             what + ": 150 events before the kill")
    a.kill9()
    n_kill = len(records(m))
    ck.check(n_kill < 600, what + ": killed mid-stream (%d events)" %
             n_kill)
    rc, err = ctx.run_once(conf, 180)
    ck.eq(rc, 0, what + ": restart exit code (stderr: %s)" % err[-800:])
    ids = collections.Counter(rid(e["payload"]) for e in records(m))
    ck.eq(sorted(set(range(50000, 50600)) - set(ids)), [],
          what + ": records lost")
    ck.eq(len(m.enrollments()), 1, what + ": one enrollment")
    manager_clean(ck, what, m)
    check_counters_grow(ck, what, m, "001")
    ck.note("%s: %d events for 600 records" % (what, sum(ids.values())))


def scenario_manager_restart(ctx):
    """(d2) the manager restarts mid-stream: the agent connects again,
    nothing lost, its counters still above what remoted reloaded"""
    ck, what, d = ctx.begin("(d2) manager restart", "mrestart")
    m = ctx.manager()
    path, lines = ctx.unique_input(d, 55000, 600)
    a = ctx.agent(wa_config(ctx, d, m, [("w", path)],
                            max_events_per_second="100"))
    ck.check(wait_agent(m, a, lambda: len(records(m)) >= 150, WAIT),
             what + ": 150 events before the restart")
    n0 = len(records(m))
    m.restart()
    ck.check(n0 < 600, what + ": restarted mid-stream (%d events)" % n0)
    ck.eq(a.wait(180), 0, what + ": exit code (stderr: %s)" %
          a.stderr()[-800:])
    ids = collections.Counter(rid(e["payload"]) for e in records(m))
    ck.eq(sorted(set(range(55000, 55600)) - set(ids)), [],
          what + ": records lost")
    ck.check(len({e["conn"] for e in records(m)}) >= 2,
             what + ": delivered over a new connection")
    ck.eq(len(m.enrollments()), 1, what + ": one enrollment")
    manager_clean(ck, what, m)
    check_counters_grow(ck, what, m, "001")


def scenario_failover(ctx):
    """(d3) manager = A,B: A's remoted stops mid-stream, the agent goes on
    with B (another node with the same keys), nothing lost"""
    ck, what, d = ctx.begin("(d3) failover", "failover")
    a_m = ctx.manager()
    try:
        b_m = ctx.add_server(wazuh_manager.WazuhManager(
            ctx.pki["server"], ctx.pki["server_key"], verify_msg_id=True,
            host="127.0.0.2", remoted_port=a_m.remoted_port,
            keys_from=a_m))
    except OSError as e:
        ck.skip_or_fail("(d3) cannot listen on 127.0.0.2:%d: %s" %
                        (a_m.remoted_port, e))
        return
    path, lines = ctx.unique_input(d, 58000, 600)
    a = ctx.agent(wa_config(ctx, d, a_m, [("w", path)],
                            manager="127.0.0.1,127.0.0.2",
                            max_events_per_second="100"))
    ck.check(wait_agent(a_m, a, lambda: len(records(a_m)) >= 150, WAIT),
             what + ": 150 events at A first")
    a_m.stop_remoted()
    ck.eq(a.wait(180), 0, what + ": exit code (stderr: %s)" %
          a.stderr()[-800:])
    got = records(a_m) + records(b_m)
    ids = collections.Counter(rid(e["payload"]) for e in got)
    ck.eq(sorted(set(range(58000, 58600)) - set(ids)), [],
          what + ": records lost")
    ck.check(records(b_m) and all(e["agent"] == "001"
                                  for e in records(b_m)),
             what + ": B took the rest under the same id (%d events)" %
             len(records(b_m)))
    ck.eq(len(a_m.enrollments()) + len(b_m.enrollments()), 1,
          what + ": one enrollment")
    manager_clean(ck, what + " (A)", a_m)
    manager_clean(ck, what + " (B)", b_m)


def scenario_forget(ctx):
    """(e) the manager forgets the key: enrolled again, the rest delivered"""
    ck, what, d = ctx.begin("(e) key forgotten", "forget")
    m = ctx.manager()
    path = os.path.join(d, "in.log")
    first = it.unique_records(ctx.args.corpus, 60000, 50)
    with open(path, "wb") as f:
        f.writelines(first)
    a = ctx.agent(wa_config(ctx, d, m, [("w", path)], follow=True),
                  once=False)

    def confirmed():
        ev = records(m)
        if len({rid(e["payload"]) for e in ev}) < 50:
            return False
        last = max(e["seq"] for e in ev)
        return any(c["acked"] and c["seq"] > last for c in m.controls())
    ck.check(wait_agent(m, a, confirmed, WAIT),
             what + ": the first 50 records "
             "arrived and were confirmed")
    ck.check(m.forget_key("001"), what + ": key 001 forgotten")
    with open(path, "ab") as f:
        f.writelines(it.unique_records(ctx.args.corpus, 60050, 50))

    def all_there():
        return set(range(60000, 60100)) <= {rid(e["payload"])
                                            for e in records(m)}
    ck.check(wait_agent(m, a, all_there, 2 * WAIT), what + ": all 100 records "
             "arrived")
    ck.eq(a.stop(), 0, what + ": SIGTERM: exit 0")
    ok = enrolled(m)
    ck.eq([e["id"] for e in ok], ["001", "002"], what + ": enrolled again "
          "(all requests: %s)" % [e["answer"] for e in m.enrollments()])
    late = [e for e in records(m) if rid(e["payload"]) >= 60050]
    ck.check(late and all(e["agent"] == "002" for e in late),
             what + ": the later records come from agent 002")
    check_key_file(ck, what, d, m, "002")
    manager_clean(ck, what, m, allow=("unknown id",))


def refused_enrollment(ctx, what, d, m, password, pattern):
    """The agent whose enrollment authd refuses: it tries again, not in a
    busy loop, says so once, sends nothing, stops on SIGTERM."""
    ck = ctx.ck
    path, lines = ctx.unique_input(d, 70000, 5)
    a = ctx.agent(wa_config(ctx, d, m, [("w", path)], password=password),
                  once=False)
    ck.check(wait_agent(m, a, lambda: len(m.enrollments()) >= 2,
                        2 * WAIT), what + ": the agent tries "
             "again")
    ck.check(a.alive(), what + ": the agent keeps running")
    ck.eq(a.stop(), 0, what + ": SIGTERM: exit 0")
    err = a.stderr()
    reqs = m.enrollments()
    gaps = [y["t"] - x["t"] for x, y in zip(reqs, reqs[1:])]
    ck.check(gaps and min(gaps) >= 1.0, what + ": enrollment attempts at "
             "least 1 s apart (no busy loop): %s" %
             ["%.2f" % g for g in gaps])
    ck.note("%s: %d attempts, gaps %s s" % (what, len(reqs),
                                           ["%.2f" % g for g in gaps]))
    ck.check(not any(r["ok"] for r in reqs), what + ": never enrolled")
    said = [l for l in err.splitlines() if re.search(pattern, l)]
    ck.eq(len(said), 1, what + ": the refusal is logged once (%s): %s" %
          (pattern, it.short(said[:3]) if said else err[-600:]))
    ck.eq(m.events(), [], what + ": nothing sent")
    return err


def scenario_wrong_password(ctx):
    """(f) a wrong password: said once, slow retries"""
    ck, what, d = ctx.begin("(f) wrong password", "wrongpw")
    m = ctx.manager(password=AUTHD_PASS)
    refused_enrollment(ctx, what, d, m, WRONG_PASS,
                       r"(?i)invalid password|password.*(refus|reject|"
                       r"wrong)")


def scenario_name_taken(ctx):
    """(g) a name already taken: said once, slow retries"""
    ck, what, d = ctx.begin("(g) name taken", "taken")
    m = ctx.manager()
    m.add_key(AGENT_NAME)
    refused_enrollment(ctx, what, d, m, None,
                       r"(?i)duplicate agent name|name.*(taken|in use|"
                       r"already)")


def scenario_agent_limit(ctx):
    """(g3) a Wazuh 5.0.1 authd at its agent limit: said once, slow
    retries"""
    ck, what, d = ctx.begin("(g3) agent limit (5.0.1)", "limit")
    m = ctx.manager(version="v5.0.1", max_agents=1)
    m.add_key("another-agent")
    refused_enrollment(ctx, what, d, m, None, r"(?i)agent limit")


def scenario_untrusted(ctx):
    """(g2) an authd whose certificate enrollment_ca_file does not sign: no
    enrollment, the password never sent, said in the log, retried"""
    ck, what, d = ctx.begin("(g2) untrusted authd", "untrusted")
    m = ctx.manager(password=AUTHD_PASS)
    path, lines = ctx.unique_input(d, 75000, 5)
    a = ctx.agent(wa_config(ctx, d, m, [("w", path)],
                            enrollment_ca_file=ctx.pki["other_ca"]),
                  once=False)
    ck.check(wait_agent(m, a, lambda: len(m.tls_failures) >= 2, 2 * WAIT),
             what + ": the agent refused the handshake twice (%d)" %
             len(m.tls_failures))
    ck.check(a.alive(), what + ": the agent keeps running")
    ck.eq(a.stop(), 0, what + ": SIGTERM: exit 0")
    err = a.stderr()
    ck.eq(m.enrollments(), [], what + ": no request reached authd")
    ck.eq(m.events(), [], what + ": nothing sent")
    ck.check(re.search(r"(?i)certificate|verif", err), what + ": the log "
             "says why: %s" % err[-600:])


def scenario_pacing(ctx):
    """(h) max_events_per_second = 200 holds on the manager's clock"""
    ck, what, d = ctx.begin("(h) pacing", "pacing")
    m = ctx.manager()
    path, lines = ctx.unique_input(d, 80000, 900)
    rc, err = ctx.run_once(wa_config(ctx, d, m, [("w", path)],
                                     max_events_per_second="200"), 180)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    ev = records(m)
    ck.eq(len({rid(e["payload"]) for e in ev}), 900, what + ": records")
    if len(ev) > 1:
        span = ev[-1]["t"] - ev[0]["t"]
        rate = (len(ev) - 1) / span if span > 0 else float("inf")
        ck.check(rate <= 1.25 * 200, what + ": %d events in %.2f s: %.1f "
                 "a second (limit 200, at most 250 allowed)" %
                 (len(ev), span, rate))
        ck.note("%s: %.1f events a second over %.2f s" % (what, rate,
                                                          span))
    manager_clean(ck, what, m)


def scenario_oversized(ctx):
    """(i) a record over CreateSecMSG's limit: cut, tagged, accepted by
    remoted, still read by the manager's decoder"""
    ck, what, d = ctx.begin("(i) oversized record", "big")
    m = ctx.manager()
    line = it.unique_records(ctx.args.corpus, 500000, 1)[0]
    big = line.replace(b"</EventData>", b"<Data Name='Pad'>" +
                       b"C:\\x" * 20000 + b"</Data></EventData>", 1)
    path = os.path.join(d, "in.log")
    with open(path, "wb") as f:
        f.write(big)
    rc, err = ctx.run_once(wa_config(ctx, d, m, [("w", path)]), 120)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    ev = records(m)
    if not ck.eq(len(ev), 1, what + ": events"):
        return
    ck.check(len(ev[0]["raw"]) <= wazuh_manager.OS_MAXSTR - 128,
             what + ": %d bytes, within CreateSecMSG's %d" %
             (len(ev[0]["raw"]), wazuh_manager.OS_MAXSTR - 128))
    doc = json.loads(wazuh_winevt.agent_comparable(ev[0]["payload"]))
    ck.check("sysmonfwd_truncated" in doc.get("sysmonfwd", {})
             .get("tags", []), what + ": tagged sysmonfwd_truncated: %s" %
             it.short(doc.get("sysmonfwd")))
    ck.eq(doc.get("sysmonfwd", {}).get("cut_fields"), ["pad"],
          what + ": the long field is named")
    ck.eq(doc.get("win", {}).get("system", {}).get("eventRecordID"),
          "500000", what + ": the record is whole otherwise")
    manager_clean(ck, what, m)


def scenario_heartbeat(ctx):
    """(j) heartbeats go as the API output's JSON on 1:sysmonfwd:"""
    ck, what, d = ctx.begin("(j) heartbeats", "heartbeat")
    m = ctx.manager()
    path, lines = ctx.unique_input(d, 46000, 3)
    conf = wa_config(ctx, d, m, [("w", path)], follow=True)
    text = it.read_text(conf)
    ck.check("heartbeat_interval = 0" in text, what + ": the config "
             "turns heartbeats off, for this scenario to turn them on")
    it.write_config(conf, text.replace("heartbeat_interval = 0",
                                       "heartbeat_interval = 1s"), 0o600)
    a = ctx.agent(conf, once=False)

    def beats():
        return [e for e in m.event_log() if e["location"] == "sysmonfwd"]
    ck.check(wait_agent(m, a, lambda: len(beats()) >= 2, WAIT),
             what + ": two heartbeats arrived")
    ck.eq(a.stop(), 0, what + ": SIGTERM: exit 0")
    seqs = []
    for e in beats():
        try:
            doc = json.loads(e["message"])["sysmonfwd"]
        except (ValueError, KeyError, TypeError):
            ck.fail(what + ": not the API output's heartbeat JSON: %s" %
                    it.short(e["payload"]))
            continue
        if doc.get("event", {}).get("dataset") == "sysmonfwd.heartbeat":
            seqs.append(doc.get("heartbeat", {}).get("seq"))
    ck.check(len(seqs) >= 2 and seqs == sorted(seqs) and
             all(e["queue"] == "1" for e in beats()),
             what + ": heartbeats on queue 1, in order: %s" % seqs)
    manager_clean(ck, what, m)


def check_no_secret_leak(ctx):
    leaks = [(w, sec) for w, text in ctx.texts
             for sec in (AUTHD_PASS, WRONG_PASS, API_PASS) if sec in text]
    ctx.ck.eq(leaks[:3], [], "a secret appears in the agent's output")
    keys = [k[3] for s in ctx.servers
            if isinstance(s, wazuh_manager.WazuhManager) for k in s.keys()]
    leaks = [w for w, text in ctx.texts for k in keys if k in text]
    ctx.ck.eq(leaks[:3], [], "an agent key appears in the agent's output")


SCENARIOS = (("0", scenario_self_test), ("a", scenario_corpus),
             ("a2", scenario_reload_delay), ("b", scenario_keepalive),
             ("c", scenario_cut), ("c2", scenario_no_ack),
             ("d", scenario_kill9),
             ("d2", scenario_manager_restart), ("d3", scenario_failover),
             ("e", scenario_forget), ("f", scenario_wrong_password),
             ("g", scenario_name_taken), ("g2", scenario_untrusted),
             ("g3", scenario_agent_limit),
             ("h", scenario_pacing), ("i", scenario_oversized),
             ("j", scenario_heartbeat))


def main():
    def extra(ap):
        ap.add_argument("--only", help="run only these scenarios (letters, "
                        "comma-separated: 0,a,a2,b,...), for development")

    def body(ctx):
        only = ctx.args.only.split(",") if ctx.args.only else None
        ctx.run_scenarios([sc for k, sc in SCENARIOS
                           if only is None or k in only])
        check_no_secret_leak(ctx)
    it.output_test("integration_wazuh_agent", "sysmonfwd-wazuh-agent-",
                   body, ctx_class=Ctx, extra=extra)


if __name__ == "__main__":
    main()
