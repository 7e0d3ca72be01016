"""The Elasticsearch output (type = elasticsearch) against es_server.py.

The real binary sends records read from the shared corpus (or made from it
with unique EventRecordIDs) to the Elasticsearch test server over HTTPS
with certificates made at test time by tlsutil.py.  The server parses the
bulk NDJSON strictly, stores documents by (_index, _id) and answers 409 for
an _id it has.  Every scenario says in one sentence what it checks:

(0) The test server itself answers like Elasticsearch (checked with curl).
(a) api_key given as id:key, gzip: every record of Windows and Sysmon for
    Linux corpus files is stored once, in logs-windows.sysmon_operational-
    default or logs-sysmon_linux.log-default, under the _id computed here
    from (Computer, Channel, EventRecordID, TimeCreated), as the document
    Elastic's integrations expect (winlog.*, event.original = the record,
    data_stream.*); every request is POST /_bulk with application/x-ndjson,
    gzip and filter_path=errors,items.*.error,items.*.status; GET / and the
    two template lookups come first.
(b) user + password (Basic), compression = none, namespace = prod,
    keep_original = false and pipeline: the documents land in the -prod
    data streams without event.original, the pipeline is in the query.
(c) api_key in the encoded form is sent as is; index overrides the data
    stream; missing templates are warned about, not fatal.
(d) Items failing 429 (and 500) once: each document is stored exactly
    once, and only the failed items are sent again.
(e) Mapping errors (400 on chosen items, for good): those records are in
    the dead-letter file with the error type, reason, index and _id; the
    others are stored once; nothing is sent twice.
(f) A whole-request 413 (max_content_length 24 KiB): the batch is split in
    halves until it fits; every document is stored once; a document
    larger than the limit alone is dead-lettered as too large.
(g) Whole-request 503 with Retry-After and 429: the agent waits and sends
    again; every document is stored once.
(h) The connection cut after the server stored a batch but before it
    answered: the resend is answered 409 and each document is stored once.
(i) Failover: the first URL refuses connections, the second works.
(j) The server is down while the agent reads a backlog; the agent is
    stopped and restarted after the server is back: everything is stored
    once.  Then the agent killed with SIGKILL while the server answers
    slowly and restarted: every document stored exactly once (409s).
(k) Refused credentials (401): logged once, nothing dead-lettered, the
    agent keeps trying and obeys SIGTERM; an untrusted certificate is
    refused naming the host; api_key_file works; an inline password in a
    file others can read is refused (exit 2).
Finally, no secret ever appears in the agent's stderr.
"""
import base64
import hashlib
import os
import re
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402
import es_server  # noqa: E402

KEY_ID, KEY_SECRET = "sysmonfwd-key-id", "s3cr3t-api-key-Zq9"
USER, PASSWORD = "fwd_writer", "pa55-W0rd-Xk7"
SECRETS = (KEY_SECRET, PASSWORD,
           base64.b64encode(("%s:%s" % (KEY_ID, KEY_SECRET)).encode())
           .decode(),
           base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode())

WIN_DS = "logs-windows.sysmon_operational-default"
LINUX_DS = "logs-sysmon_linux.log-default"
FORWARDED_DS = "logs-windows.forwarded-default"    # other channels
FILTER_PATH = "errors,items.*.error,items.*.status"
RID_RE = re.compile(r"<EventRecordID>(\d+)</EventRecordID>")
WAIT = 60       # deadline (s) for a positive signal; never a measure


class Ctx(it.Ctx):
    def server(self, cert="server", down=False, **kw):
        """A started test server; down=True: its port is held but not
        listening (connections refused) until its start()."""
        kw.setdefault("api_keys", [(KEY_ID, KEY_SECRET)])
        return self.add_server(es_server.EsServer(
            self.pki[cert], self.pki[cert + "_key"], **kw), down)


# ---- configurations and inputs ----


def es_config(ctx, d, url, inputs, mode=0o600, follow=False, **kv):
    """A configuration in d with inputs [(name, path)] and one output es;
    kv overrides output keys (None removes one)."""
    return it.output_config(d, inputs, "es", {
        "type": "elasticsearch", "url": url,
        "api_key": "%s:%s" % (KEY_ID, KEY_SECRET),
        "tls_ca_file": ctx.pki["ca"], "batch_max_events": "50",
        "flush_interval": "200ms", "retry_initial": "200ms",
        "retry_max": "2s", "timeout": "10s"}, kv, mode, follow)


# ---- what must arrive ----


def es_id(computer, channel, record_id, time_created):
    """The _id the agent must give a record (the scheme of render.c)."""
    h = hashlib.sha256()
    for f in ("r1", computer, channel, record_id, time_created):
        b = (f or "").encode("utf-8")
        h.update(b"%d:" % len(b) + b)
    return base64.urlsafe_b64encode(h.digest()[:18]).decode()


def expected(line):
    """(data stream, _id, expectations, raw text) of a record line."""
    exp = it.expected_from_line(line)
    if exp["channel"] == "Linux-Sysmon/Operational":
        ds = LINUX_DS
    elif exp["channel"] == "Microsoft-Windows-Sysmon/Operational":
        ds = WIN_DS
    else:
        ds = FORWARDED_DS
    return (ds, es_id(exp["computer_name"], exp["channel"], exp["record_id"],
                      exp["time_created"]), exp,
            line.rstrip(b"\r\n").decode("utf-8"))


def exactly_once(ck, what, s, lines, index=None):
    """Every line is stored under its expected (_index, _id); nothing
    else is stored.  Return {key: line expectation}."""
    want = {}
    for l in lines:
        ds, doc_id, exp, raw = expected(l)
        if index is not None:
            ds = index.replace("*", ds.rsplit("-", 1)[0])
        want[(ds, doc_id)] = (exp, raw)
    stored = s.stored()
    missing = [k for k in want if k not in stored]
    extra = [k for k in stored if k not in want]
    ck.check(len(want) == len(lines), "%s: the inputs hold %d distinct "
             "records (%d)" % (what, len(lines), len(want)))
    ck.check(not missing, "%s: %d of %d records not stored (first: %s)" %
             (what, len(missing), len(want), missing[:3]))
    ck.check(not extra, "%s: %d unexpected documents stored (first: %s)" %
             (what, len(extra), extra[:3]))
    return want


def sent_twice(s):
    return sorted(i for i, n in s.sent_counts().items() if n > 1)


def dead_letters(ctx, d, what):
    return ctx.dead_letters(d, "es", what)


def check_requests(ck, what, s, auth, gzip=True, pipeline=None):
    reqs = s.requests("bulk")
    ck.check(len(reqs) > 0, what + ": bulk requests were made")
    bad = [r for r in reqs if r["method"] != "POST" or
           r["path"] != "/_bulk" or r["filter_path"] != FILTER_PATH or
           (r["content_type"] or "") != "application/x-ndjson" or
           ((r["content_encoding"] or "") == "gzip") != gzip or
           r["auth"] != auth]
    ck.check(not bad, "%s: every bulk request is POST /_bulk?filter_path="
             "%s, application/x-ndjson, %s, Authorization %s (first bad: "
             "%s)" % (what, FILTER_PATH, "gzip" if gzip else "not gzip",
                      auth, it.short(bad[:1], 500)))
    if pipeline is not None:
        ck.check(all(("pipeline=" + pipeline) in r["query"] for r in reqs),
                 "%s: every request names pipeline=%s" % (what, pipeline))
    it.check_server_clean(ck, what, s)


# ---- scenarios ----


def scenario_server(ctx):
    print("(0) the Elasticsearch test server answers like Elasticsearch "
          "(checked with curl)", flush=True)
    ctx.self_test("Elasticsearch test server", es_server)


def scenario_happy(ctx):
    """(a) api_key id:key, gzip: corpus records stored once each, in the
    integrations' data streams, with the integrations' document shape and
    deterministic _ids"""
    ck, what, d, s, lines, err = ctx.happy_run(
        "(a) happy path", "happy",
        lambda d, url, inputs: es_config(ctx, d, url, inputs), 90)
    want = exactly_once(ck, what, s, lines)
    stored = s.stored()
    nlinux = sum(1 for k in want if k[0] == LINUX_DS)
    ck.check(nlinux == 36 and len(want) - nlinux == 190,
             "%s: 190 Windows and 36 Linux records (%d, %d)" %
             (what, len(want) - nlinux, nlinux))
    bad = 0
    for key, (exp, raw) in want.items():
        if key not in stored:
            continue
        doc = stored[key]["doc"]
        before = len(ck.failures)
        where = "%s %s/%s" % (what, key[0], key[1])
        it.compare(ck, where, doc, exp)
        ev = doc.get("event", {})
        ck.eq(ev.get("original"), raw, where + " event.original")
        dataset = key[0][len("logs-"):-len("-default")]
        ck.eq(doc.get("data_stream"), {"type": "logs", "dataset": dataset,
                                       "namespace": "default"},
              where + " data_stream")
        ck.eq(ev.get("dataset"), dataset, where + " event.dataset")
        if len(ck.failures) > before:
            bad += 1
            if bad >= 5:
                ck.fail("%s: stopping document checks after 5 bad ones" %
                        what)
                break
    check_requests(ck, what, s, "ApiKey")
    ck.eq(sent_twice(s), [], what + ": documents sent twice")
    info = s.requests("info")
    tpl = s.requests("template")
    bulk = s.requests("bulk")
    ck.check(len(info) == 1 and bulk and info[0]["t"] <= bulk[0]["t"],
             "%s: GET / once, before the first bulk request (%d)" %
             (what, len(info)))
    ck.eq(sorted(r["path"] for r in tpl),
          ["/_index_template/logs-sysmon_linux.log",
           "/_index_template/logs-windows.sysmon_operational"],
          what + ": template lookups")
    ck.check("Elasticsearch 8.15.0" in err and "sysmonfwd-test" in err,
             what + ": stderr logs the cluster version and name")
    ck.check("no index template" not in err,
             what + ": no template warning when the templates exist")
    sm = it.summary_numbers(err)
    if ck.check(sm is not None, what + ": summary line in stderr"):
        ck.eq(sm["delivered"], len(lines), what + ": summary delivered")
    ck.eq(dead_letters(ctx, d, what), [], what + ": dead letters")


def scenario_basic(ctx):
    """(b) basic auth, compression = none, namespace, keep_original = false,
    pipeline"""
    ck, what, d = ctx.begin("(b) basic auth", "basic")
    path, lines = ctx.unique_input(d, 1000, 120)
    s = ctx.server(api_keys=(), users={USER: PASSWORD})
    conf = es_config(ctx, d, s.url, [("w", path)], api_key=None, user=USER,
                     password=PASSWORD, compression="none",
                     namespace="prod", keep_original="false",
                     pipeline="sysmon-custom.v1")
    rc, err = ctx.run_once(conf, 90)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    want = exactly_once(ck, what, s, lines, index="*-prod")
    docs = s.docs()
    ck.check(all("original" not in doc.get("event", {})
                 for doc in docs.values()),
             what + ": keep_original = false leaves event.original out")
    ck.check(all(doc.get("data_stream", {}).get("namespace") == "prod"
                 for doc in docs.values()),
             what + ": data_stream.namespace is prod")
    check_requests(ck, what, s, "Basic", gzip=False,
                   pipeline="sysmon-custom.v1")
    ck.eq(len(want), 120, what + ": records")


def scenario_override(ctx):
    """(c) encoded api_key sent as is, index override, missing templates
    warned about"""
    ck, what, d = ctx.begin("(c) index override", "override")
    path, lines = ctx.unique_input(d, 2000, 60)
    s = ctx.server(templates=())
    enc = base64.b64encode(("%s:%s" % (KEY_ID, KEY_SECRET)).encode())
    conf = es_config(ctx, d, s.url, [("w", path)], api_key=enc.decode(),
                     index="sysmon-archive")
    rc, err = ctx.run_once(conf, 90)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    exactly_once(ck, what, s, lines, index="sysmon-archive")
    ck.check(all("data_stream" not in doc for doc in s.docs().values()),
             what + ": no data_stream fields with an index override")
    check_requests(ck, what, s, "ApiKey")
    # The default data streams, without their templates: a warning.
    d2 = ctx.dir("override2")
    path, lines = ctx.unique_input(d2, 2100, 20)
    conf = es_config(ctx, d2, s.url, [("w", path)])
    rc, err = ctx.run_once(conf, 90)
    ck.eq(rc, 0, what + ": exit code without templates")
    ck.check(re.search(r"no index template logs-windows\.sysmon_operational"
                       r".*Windows", err) is not None,
             what + ": stderr warns that the Windows integration's template "
             "is missing: %s" % err[-600:])


def scenario_item_retries(ctx):
    """(d) items failing 429 or 500 once: stored once, only they are sent
    again"""
    ck, what, d = ctx.begin("(d) item retries", "items")
    path, lines = ctx.unique_input(d, 3000, 200)
    s = ctx.server()
    fail429 = set(expected(l)[1] for l in lines[::7])
    fail500 = set(expected(l)[1] for l in lines[3::11]) - fail429
    s.fail_items(429, "es_rejected_execution_exception",
                 match=lambda ix, i, doc: i in fail429, times=1)
    s.fail_items(500, "internal_server_error",
                 match=lambda ix, i, doc: i in fail500, times=1)
    conf = es_config(ctx, d, s.url, [("w", path)])
    rc, err = ctx.run_once(conf, 90)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    exactly_once(ck, what, s, lines)
    ck.eq(sent_twice(s), sorted(fail429 | fail500),
          what + ": exactly the failed items were sent again")
    ck.check(max(s.sent_counts().values()) == 2,
             what + ": no document sent three times")
    ck.eq(dead_letters(ctx, d, what), [], what + ": dead letters")
    ck.eq(s.item_status_counts.get(409, 0), 0, what + ": 409 answers (none "
          "expected: nothing stored was sent again)")
    check_requests(ck, what, s, "ApiKey")


def scenario_mapping(ctx):
    """(e) mapping errors: dead-lettered with type and reason, the rest
    stored once"""
    ck, what, d = ctx.begin("(e) mapping errors", "mapping")
    path, lines = ctx.unique_input(d, 4000, 150)
    s = ctx.server()
    bad = {expected(l)[1]: l for l in lines[5::13]}
    s.fail_items(400, "document_parsing_exception",
                 "[1:532] failed to parse field [winlog.event_data.Hashes] "
                 "of type [long]",
                 match=lambda ix, i, doc: i in bad, times=None)
    conf = es_config(ctx, d, s.url, [("w", path)])
    rc, err = ctx.run_once(conf, 90)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    good = [l for l in lines if expected(l)[1] not in bad]
    exactly_once(ck, what, s, good)
    ck.eq(sent_twice(s), [], what + ": documents sent twice")
    dl = dead_letters(ctx, d, what)
    ck.eq(sorted(x.get("id") for x in dl), sorted(bad),
          what + ": the dead letters name exactly the refused _ids")
    for x in dl[:3]:
        ck.check(x.get("index") in (WIN_DS, FORWARDED_DS),
                 what + ": dead letter index %s" % x.get("index"))
        ck.eq(x.get("status"), 400, what + ": dead letter status")
        ck.eq(x.get("error", {}).get("type"), "document_parsing_exception",
              what + ": dead letter error type")
        ck.check("failed to parse field" in x.get("reason", ""),
                 what + ": dead letter reason: %s" % x.get("reason"))
        rec = x.get("record", {})
        ck.check(isinstance(rec, dict) and
                 es_id(rec.get("winlog", {}).get("computer_name"),
                       rec.get("winlog", {}).get("channel"),
                       rec.get("winlog", {}).get("record_id"),
                       rec.get("winlog", {}).get("time_created")) ==
                 x.get("id"),
                 what + ": the dead letter holds the refused document")
    ck.check("refused for good" in err and "document_parsing_exception"
             in err, what + ": stderr reports the refusals")
    sm = it.summary_numbers(err)
    if ck.check(sm is not None, what + ": summary line"):
        ck.eq(sm["delivered"], len(good), what + ": summary delivered")


def big_record(ctx, rid, pad):
    line = it.unique_records(ctx.args.corpus, rid, 1)[0]
    return line.replace(b"</EventData>", b"<Data Name='Pad'>" + b"x" * pad +
                        b"</Data></EventData>", 1)


def scenario_too_large(ctx):
    """(f) 413: batches split in halves until they fit; a document too large
    alone is dead-lettered"""
    ck, what, d = ctx.begin("(f) 413 split", "large")
    path, lines = ctx.unique_input(d, 5000, 160)
    huge = big_record(ctx, 5999, 40000)
    with open(path, "ab") as f:
        f.write(huge)
    s = ctx.server(max_content_length=24 * 1024)
    conf = es_config(ctx, d, s.url, [("w", path)], batch_max_events="100",
                     batch_max_bytes="512KiB")
    rc, err = ctx.run_once(conf, 90)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    exactly_once(ck, what, s, lines)
    st = s.stats()
    ck.check(st["status_counts"].get("413", 0) > 0,
             what + ": the server answered 413 (%s)" % st["status_counts"])
    dl = dead_letters(ctx, d, what)
    ck.eq([x.get("id") for x in dl], [expected(huge)[1]],
          what + ": the one huge document is dead-lettered")
    if dl:
        ck.eq(dl[0].get("status"), 413, what + ": dead letter status")
    ck.check("in halves" in err, what + ": stderr says batches are split")


def scenario_whole_request(ctx):
    """(g) whole-request 503 (Retry-After) and 429: retried, stored once"""
    ck, what, d = ctx.begin("(g) whole-request retries", "whole")
    path, lines = ctx.unique_input(d, 6000, 100)
    s = ctx.server()
    s.answer_next(2, 503, retry_after=1)
    s.answer_next(1, 429)
    t0 = time.monotonic()
    conf = es_config(ctx, d, s.url, [("w", path)])
    rc, err = ctx.run_once(conf, 90)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    exactly_once(ck, what, s, lines)
    ck.check(time.monotonic() - t0 >= 2.0,
             what + ": Retry-After: 1 was waited twice")
    st = s.stats()
    ck.eq((st["status_counts"].get("503"), st["status_counts"].get("429")),
          (2, 1), what + ": 503 and 429 answers")
    ck.eq(dead_letters(ctx, d, what), [], what + ": dead letters")
    ck.check("Retry-After" in err, what + ": stderr says it follows "
             "Retry-After")


def scenario_lost_answer(ctx):
    """(h) the connection cut after the batch was stored: the resend gets
    409s, each document stored once"""
    ck, what, d = ctx.begin("(h) lost answer", "lost")
    path, lines = ctx.unique_input(d, 7000, 150)
    s = ctx.server()
    s.drop_next(1, store=True, min_items=10)
    conf = es_config(ctx, d, s.url, [("w", path)])
    rc, err = ctx.run_once(conf, 90)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    exactly_once(ck, what, s, lines)
    twice = sent_twice(s)
    ck.check(10 <= len(twice) <= 50, what + ": the dropped batch (and only "
             "it) was sent again (%d documents)" % len(twice))
    ck.eq(s.item_status_counts.get(409, 0), len(twice),
          what + ": each resent document was answered 409")
    ck.eq(s.stats()["dropped"], 1, what + ": connections cut")
    ck.eq(dead_letters(ctx, d, what), [], what + ": dead letters")
    sm = it.summary_numbers(err)
    if ck.check(sm is not None, what + ": summary line"):
        ck.eq(sm["delivered"], len(lines), what + ": summary delivered")


def scenario_failover(ctx):
    """(i) failover: the first URL refuses connections, the second takes
    everything"""
    ck, what, d = ctx.begin("(i) failover", "failover")
    path, lines = ctx.unique_input(d, 8000, 100)
    s = ctx.server()
    # A port held but not listening refuses connections for as long as
    # this scenario runs (nobody else can take it meanwhile).
    with it.reserve_port() as held:
        dead = "https://127.0.0.1:%d" % held.port
        # A backoff would be 6 to 60 s (full jitter of 60 s): the agent's
        # own log says which it did, on the first failure.
        conf = es_config(ctx, d, dead + ", " + s.url + "/", [("w", path)],
                         retry_initial="60s", retry_max="60s")
        rc, err = ctx.run_once(conf, 90)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
    exactly_once(ck, what, s, lines)
    ck.check(re.search(r"127\.0\.0\.1:%d\)?; trying %s" % (
        held.port, re.escape(s.url)), err) is not None and
        "retrying in" not in err, what + ": the second URL was tried at "
        "once, without a backoff (the agent's log): %s" % err[-500:])
    ck.check(("trying " + s.url) in err, what + ": stderr says it moves "
             "to the next URL: %s" % err[-500:])


def scenario_backlog(ctx):
    """(j) a backlog read while the server is down, delivered after a
    restart; SIGKILL under a slow server: every document once"""
    ck, what, d = ctx.begin("(j) backlog", "backlog")
    path, lines = ctx.unique_input(d, 9000, 400)
    s = ctx.server(down=True)
    conf = es_config(ctx, d, s.url, [("w", path)], follow=True)
    a = ctx.agent(conf, once=False)
    # Until the agent has met the outage (its log names the host).
    it.wait_log(a.err_path, r"output es: .*127\.0\.0\.1", WAIT)
    ck.eq(a.stop(), 0, what + ": SIGTERM while the server is down: exit 0")
    err = a.stderr()
    ck.check("127.0.0.1" in err, what + ": the failure names the host")
    s.start()
    a = ctx.agent(conf, once=False)
    ok = s.wait_docs(len(lines), WAIT)
    ck.check(ok, what + ": every record arrives after the restart (%d of "
             "%d)" % (s.stored_count(), len(lines)))
    ck.eq(a.stop(), 0, what + ": exit code")
    exactly_once(ck, what, s, lines)
    ck.eq(sent_twice(s), [], what + ": documents sent twice")

    what = "(j2) SIGKILL"
    d = ctx.dir("kill")
    path, lines = ctx.unique_input(d, 10000, 600)
    s = ctx.server()
    s.set_delay(0.7)
    conf = es_config(ctx, d, s.url, [("w", path)], follow=True)
    a = ctx.agent(conf, once=False)
    ck.check(s.wait_docs(150, WAIT), what + ": 150 documents stored before "
             "the kill")
    a.kill9()
    a.stderr()
    s.set_delay(0)
    a = ctx.agent(conf, once=False)
    ok = s.wait_docs(len(lines), WAIT)
    ck.check(ok, what + ": every record arrives after the restart (%d of "
             "%d)" % (s.stored_count(), len(lines)))
    ck.eq(a.stop(), 0, what + ": exit code")
    a.stderr()
    exactly_once(ck, what, s, lines)
    twice = sent_twice(s)
    ck.eq(s.item_status_counts.get(409, 0), sum(
        n - 1 for n in s.sent_counts().values()),
        what + ": every document sent again was answered 409")
    ck.check(len(twice) <= 150, what + ": only batches in flight were sent "
             "again (%d documents)" % len(twice))
    print("%s: %d documents stored once; %d were sent again after the kill "
          "and answered 409" % (what, s.stored_count(), len(twice)))


def scenario_refusals(ctx):
    """(k) refused credentials, untrusted certificate, api_key_file, readable
    inline password"""
    ck, what, d = ctx.begin("(k) refused credentials", "refused")
    path, lines = ctx.unique_input(d, 11000, 30)
    s = ctx.server()
    conf = es_config(ctx, d, s.url, [("w", path)],
                     api_key=KEY_ID + ":wrong-" + KEY_SECRET)
    a = ctx.agent(conf, once=True)
    # Until the server has refused it twice (it retried), not a fixed time.
    s.wait(lambda srv: srv.auth_failures >= 2, WAIT)
    ck.check(a.alive(), what + ": the agent keeps trying")
    ck.eq(a.stop(), 0, what + ": SIGTERM: exit 0")
    err = a.stderr()
    ck.eq(err.count("refused the credentials"), 1,
          what + ": the refusal is logged once")
    ck.check(s.stats()["auth_failures"] >= 2,
             what + ": it retried (%d attempts)" % s.stats()["auth_failures"])
    ck.eq(s.stored_count(), 0, what + ": nothing stored")
    ck.eq(dead_letters(ctx, d, what), [], what + ": nothing dead-lettered")

    what = "(k2) untrusted certificate"
    d = ctx.dir("untrusted")
    path, lines = ctx.unique_input(d, 11100, 10)
    s = ctx.server(cert="other_server")
    conf = es_config(ctx, d, s.url, [("w", path)])
    a = ctx.agent(conf, once=True)
    it.wait_log(a.err_path, r"certificate of 127\.0\.0\.1(:\d+)? is not "
                r"trusted", WAIT)
    ck.eq(a.stop(), 0, what + ": SIGTERM: exit 0")
    err = a.stderr()
    ck.check(re.search(r"certificate of 127\.0\.0\.1(:\d+)? is not "
                       r"trusted", err) is not None, what + ": stderr names the host and the problem: "
             "%s" % err[-400:])
    ck.eq(s.stored_count(), 0, what + ": nothing stored")

    what = "(k3) api_key_file"
    d = ctx.dir("keyfile")
    path, lines = ctx.unique_input(d, 11200, 40)
    s = ctx.server()
    kf = it.write_config(os.path.join(d, "es.apikey"),
                         "%s:%s\n" % (KEY_ID, KEY_SECRET), 0o600)
    conf = es_config(ctx, d, s.url, [("w", path)], api_key=None,
                     api_key_file=kf, mode=0o644)
    rc, err = ctx.run_once(conf, 90)
    ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-600:])
    exactly_once(ck, what, s, lines)
    os.chmod(kf, 0o644)
    rc, err = ctx.run_once(conf, 90)
    ck.check(rc == 2 and "api_key_file" in err and "chmod 600" in err,
             what + ": a key file others can read is refused (exit %s): %s"
             % (rc, err[-300:]))

    what = "(k4) inline password"
    d = ctx.dir("inline")
    conf = es_config(ctx, d, s.url, [("w", path)], api_key=None, user=USER,
                     password=PASSWORD, mode=0o644)
    rc, err = ctx.run_once(conf, 90)
    ck.check(rc == 2 and "`password`" in err and "0644" in err,
             what + ": a configuration holding a password that others can "
             "read is refused (exit %s): %s" % (rc, err[-300:]))


def check_no_secret_leak(ctx):
    leaks = [(where, sec) for where, text in ctx.texts for sec in SECRETS
             if sec in text]
    ctx.ck.eq(leaks[:3], [], "a secret appears in the agent's output")


def main():
    def body(ctx):
        ctx.run_scenarios((
            scenario_server, scenario_happy, scenario_basic,
            scenario_override, scenario_item_retries, scenario_mapping,
            scenario_too_large, scenario_whole_request, scenario_lost_answer,
            scenario_failover, scenario_backlog, scenario_refusals))
        check_no_secret_leak(ctx)
    it.output_test("integration_es", "sysmonfwd-es-", body, ctx_class=Ctx)


if __name__ == "__main__":
    main()
