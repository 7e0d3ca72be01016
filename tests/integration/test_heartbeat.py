"""Heartbeats, the Sysmon watchdog, alerts and the monitor endpoint.

The real binary runs with check_interval = 1s and heartbeat_interval = 2s,
watching a stand-in for Sysmon: a copy of sleep started under the watched
name.  Every scenario says in one sentence what it checks:

(a) File output: heartbeats arrive every 2 s with counters that match the
    records written; killing the stand-in brings a sysmon-state-changed
    alert (stopped, was running) within 2 check intervals, starting it
    again one saying running; /health turns 503 while it is stopped and
    200 again; /metrics parses as Prometheus text and its counters match
    the records sent; Sysmon's EventIDs 4 and 16 are tagged sysmon_tamper.
(b) A Sysmon that never existed: an alert "not_installed" at start, and
    heartbeats that say so.
(c) silence_alert: Sysmon running but no record for 3 s: one
    sysmon-silent alert.
(d) Elasticsearch down while a backlog builds up: once it is back, the
    first documents it stores are a heartbeat (and the alert), before any
    record of the backlog; the heartbeat reports the backlog.
(e) Splunk HEC and Wazuh get heartbeats in their own form (sourcetype
    sysmonfwd:heartbeat; a {"sysmonfwd":...} event string).
"""
import json
import os
import re
import sys
import time
import urllib.request

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402
import es_server  # noqa: E402
import hec_server  # noqa: E402
import wazuh_server  # noqa: E402

HB = "sysmonfwd.heartbeat"
ALERT = "sysmonfwd.alert"
WAIT = 60       # deadline (s) for a positive signal; never a measure


def agent_runtime(text):
    """The agent's own measure of how long it ran: the "in X s" of its
    summary line; None without one."""
    m = re.search(r"done: .* in ([0-9.]+) s \(", text)
    return float(m.group(1)) if m else None


def conf_text(tmp, name, service, inputs, outputs, extra_agent="",
              watchdog_extra="", monitor=None):
    lines = ["[agent]", "name = hb-agent",
             "state_dir = %s" % os.path.join(tmp, name, "state"),
             "heartbeat_interval = 2s"]
    if extra_agent:
        lines.append(extra_agent)
    lines += ["[watchdog]", "sysmon_service = %s" % service,
              "check_interval = 1s"]
    if watchdog_extra:
        lines.append(watchdog_extra)
    if monitor:
        lines += ["[monitor]", "listen = %s" % monitor]
    for n, kv in inputs:
        lines.append("[input:%s]" % n)
        lines += ["%s = %s" % x for x in kv.items()]
    for n, kv in outputs:
        lines.append("[output:%s]" % n)
        lines += ["%s = %s" % x for x in kv.items()]
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "agent.conf")
    it.write_config(path, "\n".join(lines) + "\n", 0o600)
    return path


def docs_of(path):
    docs, problems = it.read_ndjson(path) if os.path.exists(path) else \
        ([], [])
    return [d for d in docs if isinstance(d, dict)], problems


def status_docs(docs, dataset):
    return [d for d in docs if d.get("event", {}).get("dataset") == dataset]


def ts(doc):
    """@timestamp as epoch seconds."""
    t = doc["@timestamp"]
    return time.mktime(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) - \
        time.timezone + float("0." + t[20:23])


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode("utf-8"), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8"), e.headers


def metrics_of(port):
    """{(name, labels): value} of the agent's /metrics ({} when it does
    not answer), without checking the format (parse_prometheus does)."""
    try:
        st, text, _ = http_get("http://127.0.0.1:%d/metrics" % port)
    except OSError:
        return {}
    out = {}
    for line in text.splitlines() if st == 200 else ():
        m = PROM_LINE.match(line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def health_of(port):
    try:
        return http_get("http://127.0.0.1:%d/health" % port)[0]
    except OSError:
        return None


PROM_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? '
                       r'(-?[0-9.eE+-]+|NaN|[+-]Inf)$')


def parse_prometheus(ck, text):
    """{(name, labels): value}; checks HELP/TYPE before each metric."""
    out, seen_type = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            seen_type.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        m = PROM_LINE.match(line)
        if not ck.check(m is not None, "metrics: bad line %r" % line):
            continue
        name = m.group(1)
        ck.check(name in seen_type, "metrics: %s has no TYPE" % name)
        out[(name, m.group(2) or "")] = float(m.group(3))
    return out


# ---- scenarios ----


def scenario_file(ctx):
    print("(a) file output: heartbeats, stopped/running alerts, /health, "
          "/metrics", flush=True)
    ck, tmp, what = ctx.ck, ctx.tmp, "(a)"
    sb = it.Standin(tmp, "sfwd-standin-a")
    sb.start()
    inp = os.path.join(tmp, "a-in.log")
    recs = it.unique_records(ctx.args.corpus, 1000, 40)
    demo = os.path.join(ctx.args.source_dir, "packaging", "demo",
                        "indextts-sysmon.xml.log")
    with open(demo, "rb") as f:
        demo_lines = [l + b"\n" for l in f.read().split(b"\n") if l]
    with open(inp, "wb") as f:
        f.writelines(recs[:20] + demo_lines[:2])
    out = os.path.join(tmp, "a-out.ndjson")
    port = ctx.port()
    conf = conf_text(tmp, "a", "sfwd-standin-a",
                     [("w", {"type": "file", "path": inp, "follow": "true",
                             "poll_interval": "100ms"})],
                     [("f", {"type": "file", "path": out})],
                     monitor="127.0.0.1:%d" % port)
    a = ctx.agent(conf, once=False)
    ck.check(it.wait_for(lambda: len(status_docs(docs_of(out)[0], HB)) >=
                         1, WAIT), what + ": a first heartbeat")
    with open(inp, "ab") as f:
        f.writelines(recs[20:])
    # Until the agent says it has read and delivered the 42 records and
    # sent 3 heartbeats (its own counters), not for a fixed time.
    fo = '{output="f"}'
    ck.check(it.wait_for(lambda: (lambda m: m.get(
        ("sysmonfwd_records_read_total", "")) == 42 and m.get(
        ("sysmonfwd_output_delivered_total", fo)) == 42 and (m.get(
            ("sysmonfwd_output_heartbeats_sent_total", fo)) or 0) >= 3)(
        metrics_of(port)), WAIT, 0.1),
        what + ": /metrics reaches 42 records read and delivered and 3 "
        "heartbeats sent")
    st, body, hdr = http_get("http://127.0.0.1:%d/health" % port)
    ck.eq(st, 200, what + ": /health while Sysmon runs: %s" % body)
    st, metrics, hdr = http_get("http://127.0.0.1:%d/metrics" % port)
    ck.eq(st, 200, what + ": /metrics status")
    ck.check(hdr.get("Content-Type", "").startswith("text/plain"),
             what + ": /metrics content type %r" %
             hdr.get("Content-Type"))
    m = parse_prometheus(ck, metrics)
    ck.eq(m.get(("sysmonfwd_records_read_total", "")), 42.0,
          what + ": /metrics records read")
    ck.eq(m.get(("sysmonfwd_output_delivered_total", '{output="f"}')), 42.0,
          what + ": /metrics delivered by output f")
    ck.eq(m.get(("sysmonfwd_sysmon_state", '{state="running"}')), 1.0,
          what + ": /metrics Sysmon running")
    ck.eq(m.get(("sysmonfwd_output_backlog_records", '{output="f"}')), 0.0,
          what + ": /metrics backlog")
    ck.check((m.get(("sysmonfwd_output_heartbeats_sent_total",
                     '{output="f"}')) or 0) >= 3,
             what + ": /metrics heartbeats sent")
    t_kill = time.time()
    sb.kill()
    got = it.wait_for(lambda: any(
        d["sysmonfwd"]["sysmon"]["state"] == "stopped"
        for d in status_docs(docs_of(out)[0], ALERT)), WAIT)
    ck.check(got, what + ": a stopped alert arrives")
    # When the agent noticed (its own clock), not when we looked.
    changed = [ts({"@timestamp": d["sysmonfwd"]["sysmon"]["changed"]})
               for d in status_docs(docs_of(out)[0], ALERT)
               if d["sysmonfwd"]["sysmon"]["state"] == "stopped"]
    ck.check(changed and changed[0] - t_kill <= 2.1,
             what + ": the stopped alert came within 2 check intervals "
             "(%s s)" % ["%.2f" % (c - t_kill) for c in changed])
    st, body, _ = http_get("http://127.0.0.1:%d/health" % port)
    ck.eq(st, 503, what + ": /health while Sysmon is stopped")
    ck.check("sysmon is stopped" in body, what + ": /health says why: %s" %
             body)
    sb.start()
    got = it.wait_for(lambda: any(
        d["sysmonfwd"]["sysmon"]["state"] == "running"
        for d in status_docs(docs_of(out)[0], ALERT)), WAIT)
    ck.check(got, what + ": a running alert arrives after the restart")
    it.wait_for(lambda: health_of(port) == 200, WAIT, 0.1)
    ck.eq(health_of(port), 200, what + ": /health after Sysmon is back")
    ck.eq(a.stop(), 0, what + ": SIGTERM: exit 0")
    sb.kill()
    elapsed = agent_runtime(a.stderr())     # on the agent's own clock
    docs, problems = docs_of(out)
    ck.eq(problems, [], what + ": output is valid NDJSON")
    hbs = status_docs(docs, HB)
    alerts = status_docs(docs, ALERT)
    recs_out = it.without_status(docs)
    ck.eq(len(recs_out), 42, what + ": records written")
    ck.check(elapsed is not None and abs(len(hbs) - elapsed / 2) <= 2,
             what + ": %d heartbeats in the %s s the agent ran (its own "
             "summary) at 2 s" % (len(hbs), elapsed))
    gaps = [ts(b) - ts(a_) for a_, b in zip(hbs, hbs[1:])]
    ck.check(gaps and all(1.5 <= g <= 3.0 for g in gaps),
             what + ": heartbeats 2 s apart: %s" %
             ["%.2f" % g for g in gaps])
    seqs = [h["sysmonfwd"]["heartbeat"]["seq"] for h in hbs]
    ck.eq(seqs, list(range(seqs[0], seqs[0] + len(seqs))) if seqs else [],
          what + ": heartbeat sequence numbers")
    last = hbs[-1]["sysmonfwd"] if hbs else {}
    ck.eq(last.get("counters", {}).get("records_read"), 42,
          what + ": the last heartbeat counts 42 records read")
    ck.eq(last.get("counters", {}).get("delivered"), 42,
          what + ": the last heartbeat counts 42 delivered")
    ck.eq(last.get("counters", {}).get("dropped"), 0,
          what + ": heartbeat dropped")
    ck.eq([o.get("name") for o in last.get("outputs", [])], ["f"],
          what + ": heartbeat outputs")
    ck.eq(last.get("sources", [{}])[0].get("records"), 42,
          what + ": heartbeat source records")
    ck.eq(last.get("heartbeat", {}).get("interval_s"), 2.0,
          what + ": heartbeat interval")
    for h in hbs:
        ck.eq((h["event"]["kind"], h["event"]["action"]),
              ("metric", "heartbeat"), what + ": heartbeat event fields")
    states = [(x["sysmonfwd"]["sysmon"]["state"],
               x["sysmonfwd"]["sysmon"].get("previous_state"))
              for x in alerts]
    ck.eq(states, [("stopped", "running"), ("running", "stopped")],
          what + ": alerts")
    for x in alerts:
        ck.eq((x["event"]["kind"], x["event"]["action"]),
              ("alert", "sysmon-state-changed"), what + ": alert fields")
    tamper = [d for d in recs_out if d.get("tags") == ["sysmon_tamper"]]
    ck.eq(sorted(d["winlog"]["event_id"] for d in tamper), ["16", "4"],
          what + ": Sysmon's EventIDs 4 and 16 are tagged sysmon_tamper")
    ctx.samples += hbs[-1:] + alerts


def scenario_not_installed(ctx):
    print("(b) a Sysmon that never existed: not_installed", flush=True)
    ck, tmp, what = ctx.ck, ctx.tmp, "(b)"
    inp = os.path.join(tmp, "b-in.log")
    with open(inp, "wb") as f:
        f.writelines(it.unique_records(ctx.args.corpus, 2000, 5))
    out = os.path.join(tmp, "b-out.ndjson")
    conf = conf_text(tmp, "b", "sfwd-never-b",
                     [("w", {"type": "file", "path": inp, "follow": "true"})],
                     [("f", {"type": "file", "path": out})])
    a = ctx.agent(conf, once=False)
    ck.check(it.wait_for(lambda: len(status_docs(docs_of(out)[0], HB)) >=
                         2, WAIT), what + ": two heartbeats")
    ck.eq(a.stop(), 0, what + ": exit code")
    docs, _ = docs_of(out)
    alerts = status_docs(docs, ALERT)
    ck.eq([(x["sysmonfwd"]["sysmon"]["state"],
            x["sysmonfwd"]["sysmon"]["previous_state"]) for x in alerts],
          [("not_installed", "unknown")], what + ": the alert at start")
    hbs = status_docs(docs, HB)
    ck.check(hbs and all(h["sysmonfwd"]["sysmon"]["state"] ==
                         "not_installed" for h in hbs),
             what + ": heartbeats say not_installed")


def scenario_silence(ctx):
    print("(c) silence_alert: running but silent for 3 s", flush=True)
    ck, tmp, what = ctx.ck, ctx.tmp, "(c)"
    sb = it.Standin(tmp, "sfwd-standin-c")
    sb.start()
    inp = os.path.join(tmp, "c-in.log")
    with open(inp, "wb") as f:
        f.writelines(it.unique_records(ctx.args.corpus, 3000, 3))
    out = os.path.join(tmp, "c-out.ndjson")
    conf = conf_text(tmp, "c", "sfwd-standin-c",
                     [("w", {"type": "file", "path": inp, "follow": "true"})],
                     [("f", {"type": "file", "path": out})],
                     watchdog_extra="silence_alert = 3s")
    a = ctx.agent(conf, once=False)
    got = it.wait_for(lambda: any(
        d["event"]["action"] == "sysmon-silent"
        for d in status_docs(docs_of(out)[0], ALERT)), WAIT)
    # A second alert for the same silence would come within 4 s: run on
    # until a heartbeat stamped 4 s after the alert (the agent's clock).
    if got:
        t_alert = min(ts(d) for d in status_docs(docs_of(out)[0], ALERT)
                      if d["event"]["action"] == "sysmon-silent")
        ck.check(it.wait_for(lambda: any(
            ts(h) >= t_alert + 4 for h in status_docs(docs_of(out)[0], HB)),
            WAIT), what + ": a heartbeat 4 s after the alert")
    ck.eq(a.stop(), 0, what + ": exit code")
    sb.kill()
    ck.check(got, what + ": a sysmon-silent alert arrives")
    silent = [d for d in status_docs(docs_of(out)[0], ALERT)
              if d["event"]["action"] == "sysmon-silent"]
    ck.eq(len(silent), 1, what + ": one silence alert for one silence")
    if silent:
        ck.check(silent[0]["sysmonfwd"]["sysmon"]["silent_s"] >= 3,
                 what + ": silent_s >= 3")
        ctx.samples.append(silent[0])


def scenario_backlog(ctx):
    print("(d) Elasticsearch back after an outage: heartbeat before the "
          "backlog", flush=True)
    ck, tmp, what = ctx.ck, ctx.tmp, "(d)"
    sb = it.Standin(tmp, "sfwd-standin-d")
    sb.start()
    inp = os.path.join(tmp, "d-in.log")
    with open(inp, "wb") as f:
        f.writelines(it.unique_records(ctx.args.corpus, 4000, 1500))
    # The server's port is held, not listening: connections are refused
    # until s.start().
    s = ctx.add_server(es_server.EsServer(ctx.pki["server"],
                                          ctx.pki["server_key"]), down=True)
    mport = ctx.port()
    conf = conf_text(tmp, "d", "sfwd-standin-d",
                     [("w", {"type": "file", "path": inp, "follow": "true"})],
                     [("es", {"type": "elasticsearch",
                              "url": s.url,
                              "tls_ca_file": ctx.pki["ca"],
                              "retry_initial": "200ms",
                              "retry_max": "1s"})],
                     monitor="127.0.0.1:%d" % mport)
    a = ctx.agent(conf, once=False)
    # The outage as the agent sees it (its /metrics), not a fixed time:
    # every record read and in the backlog, the output down, both the
    # batches and a heartbeat tried and failed.
    eo = '{output="es"}'

    def outage_seen():
        m = metrics_of(mport)
        return (m.get(("sysmonfwd_records_read_total", "")) == 1500 and
                m.get(("sysmonfwd_output_backlog_records", eo)) == 1500 and
                m.get(("sysmonfwd_output_up", eo)) == 0 and
                (m.get(("sysmonfwd_output_retries_total", eo)) or 0) >= 1
                and (m.get(("sysmonfwd_output_heartbeats_failed_total",
                            eo)) or 0) >= 1)
    ck.check(it.wait_for(outage_seen, WAIT, 0.1), what + ": the agent "
             "reports the outage (backlog of 1500, output down, batches "
             "and a heartbeat failed): %s" % it.short(
                 {k[0]: v for k, v in metrics_of(mport).items()
                  if k[1] in ("", eo)}, 900))
    s.start()
    ok = s.wait_docs(1500, WAIT)
    # Two heartbeats stored (the one after the outage and a later one).
    ck.check(s.wait(lambda srv: sum(
        1 for e in srv.store.values()
        if e["index"] == "logs-sysmonfwd.heartbeat-default") >= 2, WAIT),
        what + ": a second heartbeat stored")
    ck.eq(a.stop(), 0, what + ": exit code")
    sb.kill()
    stored = s.stored()
    recs = [e for e in stored.values()
            if not e["index"].startswith("logs-sysmonfwd.")]
    hbs = sorted((e for e in stored.values()
                  if e["index"] == "logs-sysmonfwd.heartbeat-default"),
                 key=lambda e: e["t"])
    ck.check(ok and len(recs) == 1500, what + ": every record arrives "
             "(%d)" % len(recs))
    ck.check(len(hbs) >= 2, what + ": heartbeats stored (%d)" % len(hbs))
    if recs and hbs:
        first_rec = min(e["request"] for e in recs)
        first_hb = hbs[0]
        ck.check(first_hb["t"] <= min(e["t"] for e in recs) and
                 first_hb["request"] < first_rec,
                 what + ": the first heartbeat (request %d) came before the "
                 "first record (request %d)" % (first_hb["request"],
                                                first_rec))
        b = first_hb["doc"]["sysmonfwd"]["backlog"]["records"]
        ck.check(b > 0, what + ": the first heartbeat after the outage "
                 "reports the backlog (%d records)" % b)
        outs = first_hb["doc"]["sysmonfwd"]["outputs"]
        ck.check(outs and outs[0]["state"] == "retrying" and
                 "failing_since" in outs[0],
                 what + ": it says the output was retrying: %s" %
                 it.short(outs, 300))
        ck.eq(first_hb["doc"].get("data_stream", {}).get("dataset"), HB,
              what + ": heartbeat data_stream.dataset")
    ck.check(all(e["doc"]["event"]["dataset"] == HB for e in hbs),
             what + ": heartbeat documents")
    ck.eq(s.invalid, [], what + ": invalid requests at the server")


def scenario_formats(ctx):
    print("(e) heartbeats in HEC and Wazuh form", flush=True)
    ck, tmp, what = ctx.ck, ctx.tmp, "(e)"
    inp = os.path.join(tmp, "e-in.log")
    with open(inp, "wb") as f:
        f.writelines(it.unique_records(ctx.args.corpus, 5000, 5))
    token = "11111111-2222-3333-4444-555555555555"
    h = ctx.add_server(hec_server.HecServer(
        ctx.pki["server"], ctx.pki["server_key"], tokens=[token]))
    w = ctx.add_server(wazuh_server.WazuhServer(
        ctx.pki["server"], ctx.pki["server_key"], users={"u": "p"}))
    conf = conf_text(tmp, "e", "sfwd-never-e",
                     [("w", {"type": "file", "path": inp, "follow": "true"})],
                     [("hec", {"type": "splunk_hec", "url": h.url,
                               "token": token,
                               "tls_ca_file": ctx.pki["ca"]}),
                      ("wz", {"type": "wazuh", "url": w.url, "user": "u",
                              "password": "p",
                              "tls_ca_file": ctx.pki["ca"]})])
    a = ctx.agent(conf, once=False)

    def hec_st(st):
        return [e for e in h.snapshot()[1]
                if e["envelope"].get("sourcetype") == st]

    def wz_ds(ds):
        return [e for e in w.events() if e.startswith("{\"sysmonfwd\"") and
                json.loads(e)["sysmonfwd"]["event"]["dataset"] == ds]
    ck.check(it.wait_for(lambda: len(hec_st("sysmonfwd:heartbeat")) >= 2
                         and len(hec_st("sysmonfwd:alert")) >= 1 and
                         len(wz_ds(HB)) >= 2 and len(wz_ds(ALERT)) >= 1,
                         WAIT, 0.1),
             what + ": two heartbeats and the alert reach HEC and Wazuh")
    ck.eq(a.stop(), 0, what + ": exit code")
    _, stored, _ = h.snapshot()
    hb = [e["envelope"] for e in stored
          if e["envelope"].get("sourcetype") == "sysmonfwd:heartbeat"]
    al = [e["envelope"] for e in stored
          if e["envelope"].get("sourcetype") == "sysmonfwd:alert"]
    ck.check(len(hb) >= 2, what + ": HEC heartbeats (%d)" % len(hb))
    ck.eq(len(al), 1, what + ": HEC alert (not_installed)")
    if hb:
        ck.eq(hb[0]["event"]["event"]["dataset"], HB,
              what + ": HEC heartbeat event")
        ck.eq(hb[0]["source"], "sysmonfwd", what + ": HEC source")
    wz = [json.loads(e) for e in w.events() if e.startswith("{\"sysmonfwd\"")]
    whb = [e for e in wz if e["sysmonfwd"]["event"]["dataset"] == HB]
    wal = [e for e in wz if e["sysmonfwd"]["event"]["dataset"] == ALERT]
    ck.check(len(whb) >= 2, what + ": Wazuh heartbeats (%d)" % len(whb))
    ck.eq(len(wal), 1, what + ": Wazuh alert")
    if whb:
        ck.check("sysmon" in whb[0]["sysmonfwd"] and
                 "counters" in whb[0]["sysmonfwd"],
                 what + ": Wazuh heartbeat members at one level")


def main():
    def body(ctx):
        ctx.samples = []
        ctx.run_scenarios((scenario_file, scenario_not_installed,
                           scenario_silence, scenario_backlog,
                           scenario_formats))
        out = os.environ.get("SYSMONFWD_STATUS_SAMPLES")
        if out:
            with open(out, "w") as f:
                json.dump(ctx.samples, f, indent=1)
    it.output_test("integration_heartbeat", "sysmonfwd-hb-", body,
                   source_dir=True)


if __name__ == "__main__":
    main()
