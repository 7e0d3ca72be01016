"""A Splunk HTTP Event Collector (HEC) test server, standard library only.

Not a test itself: test_hec.py imports it, and it runs as a script too
(python3 hec_server.py --help; --self-test checks the server itself with
the curl command-line tool).  It answers like Splunk's HEC as described in
../shared/docs/PROTOCOLS.md section 2, over HTTPS (or plain HTTP when no
certificate is given) with HTTP/1.1 keep-alive, bound to 127.0.0.1 on an
ephemeral port (or a chosen one, so that a test can stop it and start it
again on the same port):

- POST /services/collector/event (also /services/collector and
  /services/collector/event/1.0): the Authorization header must be
  "Splunk <token>" (missing: 401 code 2; no "Splunk " prefix: 401 code 3;
  unknown token: 403 code 4; disabled token: 403 code 1).  A body with
  Content-Encoding: gzip is decoded.  The body is a sequence of JSON
  objects (no array; whitespace between them allowed); each must be an
  object with a non-empty "event" (string or object), a number "time" if
  present, strings "host", "source", "sourcetype" and "index" if present,
  an "index" from the allowed list if one is set, and no duplicate keys.
  The first object that is not is answered 400 {"text":"Invalid data
  format","code":6,"invalid-event-number":N}; the objects before N are
  stored.  Every stored event keeps the request's channel and receive time
  and is appended to a JSONL file (flushed per request) when one is given.
- Indexer acknowledgement (ack=True): every event request must carry a
  channel (X-Splunk-Request-Channel or ?channel=; missing: 400 code 10;
  not a GUID: 400 code 11) and its 200 answer carries an "ackId" counted
  per channel from 0.  POST /services/collector/ack with {"acks":[ids]}
  answers {"acks":{"id":bool}}.  An ackId turns true ack_delay seconds
  after its request (late acks) or never (lost acks, lose_next_acks()).
  As in Splunk, an ackId reported true is then forgotten (later queries
  say false).  The "indexed" view holds the events of requests whose ackId
  was reported true (without ack mode: every stored event), so that events
  whose acknowledgement was lost are stored but not indexed.
- GET /services/collector/health: 200 {"text":"HEC is healthy","code":17},
  or 503 code 18 after set_healthy(False).
- Scripted faults, settable at any time from another thread: answer the
  next K event requests (or every one for some seconds) with a given HTTP
  status and HEC code, optionally with Retry-After and invalid-event-number
  (the events before it are stored); drop the connection without an answer,
  after storing the events or not ("stored but the answer was lost");
  delay every answer by D seconds (a slow server; the events are stored
  before the delay).
- Counting mode (count_only=True): events are counted (occurrences of
  "event" keys after gunzip), not parsed or stored, for benchmarks.

Everything the server saw is kept for the test: the request log (with the
parsed batch of each event request, its answer and when it was answered),
the stored and indexed events, counters per HTTP status and per HEC code,
health and ack requests, TLS handshake failures and invalid data found.
"""
import collections
import functools
import gzip
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it  # noqa: E402  (strict_decoder)
import testserver  # noqa: E402

EVENT_PATHS = ("/services/collector/event", "/services/collector",
               "/services/collector/event/1.0")
ACK_PATHS = ("/services/collector/ack", "/services/collector/ack/1.0")
HEALTH_PATHS = ("/services/collector/health",
                "/services/collector/health/1.0")

# HEC code -> (HTTP status, text), ../shared/docs/PROTOCOLS.md section 2.5.
CODES = {
    0: (200, "Success"),
    1: (403, "Token disabled"),
    2: (401, "Token is required"),
    3: (401, "Invalid authorization"),
    4: (403, "Invalid token"),
    5: (400, "No data"),
    6: (400, "Invalid data format"),
    7: (400, "Incorrect index"),
    8: (500, "Internal server error"),
    9: (503, "Server is busy"),
    10: (400, "Data channel is missing"),
    11: (400, "Invalid data channel"),
    12: (400, "Event field is required"),
    13: (400, "Event field cannot be blank"),
    14: (400, "ACK is disabled"),
    15: (400, "Error in handling indexed fields"),
    16: (400, "Query string authorization is not enabled"),
    17: (200, "HEC is healthy"),
    18: (503, "HEC is unhealthy, queues are full"),
    404: (404, "The requested URL was not found on this server."),
}

GUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                     r"[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
JSON_WS = " \t\n\r"


class _Invalid(ValueError):
    pass


_DECODER = sysmonfwd_it.strict_decoder(_Invalid)


def validate_event(obj, allowed_indexes=None):
    """Why obj is not a valid HEC event object, or None when it is."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    if "event" not in obj:
        return "event field is required"
    ev = obj["event"]
    if isinstance(ev, str):
        if ev.strip() == "":
            return "event field is blank"
    elif isinstance(ev, dict):
        if not ev:
            return "event field is an empty object"
    else:
        return "event is a %s, not a string or an object" % type(ev).__name__
    if "time" in obj:
        t = obj["time"]
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            return "time is not a number: %r" % (t,)
    for k in ("host", "source", "sourcetype", "index"):
        if k in obj and not isinstance(obj[k], str):
            return "%s is not a string: %r" % (k, obj[k])
    if ("index" in obj and allowed_indexes is not None and
            obj["index"] not in allowed_indexes):
        return "index %r is not allowed" % obj["index"]
    if "fields" in obj:
        f = obj["fields"]
        if not isinstance(f, dict) or any(isinstance(v, dict)
                                          for v in f.values()):
            return "fields is not a flat object"
    return None


def parse_batch(text, allowed_indexes=None):
    """Split a HEC body into objects.  Return (objs, raws, bad, reason):
    the valid objects before the first invalid one, their source text, the
    0-based number of the first invalid object (None if all are valid) and
    why it is invalid."""
    objs, raws = [], []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in JSON_WS:
            i += 1
        if i >= n:
            return objs, raws, None, None
        try:
            obj, end = _DECODER.raw_decode(text, i)
        except _Invalid as e:
            return objs, raws, len(objs), str(e)
        except ValueError as e:
            return objs, raws, len(objs), "not JSON: %s" % e
        why = validate_event(obj, allowed_indexes)
        if why is not None:
            return objs, raws, len(objs), why
        objs.append(obj)
        raws.append(text[i:end])
        i = end


class _Handler(testserver.Handler):
    server_version = "hec-test-server/1"

    # ---- helpers ----

    def _send(self, status, obj, headers=()):
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        return self._send_data(status, data,
                               "application/json; charset=UTF-8", headers)

    def _answer(self, code, extra=None, status=None, headers=()):
        st, text = CODES.get(code, (status or 500, "Error"))
        obj = {"text": text, "code": code}
        if extra:
            obj.update(extra)
        return self._send(status or st, obj, headers), status or st, obj

    def _auth(self):
        """None when the token is valid, else the HEC code to answer."""
        hec = self.server.owner
        h = self.headers.get("Authorization")
        if h is None:
            return 2
        if not h.startswith("Splunk "):
            return 3
        tok = h[len("Splunk "):].strip()
        with hec._lock:
            hec.tokens_seen[tok] += 1
        if tok in hec.disabled_tokens:
            return 1
        if tok not in hec.tokens:
            return 4
        return None

    def _channel(self, query):
        ch = self.headers.get("X-Splunk-Request-Channel")
        if ch is None:
            ch = (query.get("channel") or [None])[0]
        return ch

    # ---- methods ----

    def do_GET(self):
        hec = self.server.owner
        url = urllib.parse.urlsplit(self.path)
        self._read_body()
        if url.path in HEALTH_PATHS:
            with hec._lock:
                hec.health_times.append(time.monotonic())
                healthy = hec.healthy
            ok, st, _ = self._answer(17 if healthy else 18)
            hec._count(st, 17 if healthy else 18)
            return
        ok, st, _ = self._answer(404, status=404)
        hec._count(404, 404)

    def do_POST(self):
        hec = self.server.owner
        t0 = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        if url.path in EVENT_PATHS:
            self._event(t0, url.path, query, body)
        elif url.path in ACK_PATHS:
            self._ack(query, body)
        else:
            ok, st, _ = self._answer(404, status=404)
            hec._count(st, 404)

    def _event(self, t0, path, query, body):
        hec = self.server.owner
        enc = self.headers.get("Content-Encoding", "").strip().lower()
        req = self._log_request({
            "t": t0, "wall": time.time(), "path": path,
            "gzip": enc == "gzip", "bytes": len(body),
            "channel": self._channel(query),
            "authorization": self.headers.get("Authorization"),
            "batch": [], "n_events": 0, "stored": 0, "ack_id": None})
        code = self._auth()
        if code is None and hec.ack and req["channel"] is None:
            code = 10
        if (code is None and hec.ack and
                not GUID_RE.fullmatch(req["channel"] or "")):
            code = 11
        if code is not None:
            if not hec.count_only:
                self._log_batch(req, body, enc)
            self._finish(req, *self._answer(code)[1:])
            return
        if enc == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, ValueError) as e:
                hec._note_invalid(req, "gzip body does not decode: %s" %
                                  e)
                self._finish(req, *self._answer(
                    6, {"invalid-event-number": 0})[1:])
                return
        elif enc not in ("", "identity"):
            hec._note_invalid(req, "unknown Content-Encoding %r" % enc)
            self._finish(req, *self._answer(6)[1:])
            return
        if hec.count_only:
            n = body.count(b'"event"')
            req["n_events"] = n
            with hec._cond:
                hec.counted += n
                hec._cond.notify_all()
            self._delay_then(req, lambda: self._answer(0))
            return
        if body.strip() == b"":
            self._finish(req, *self._answer(5)[1:])
            return
        bad, why = None, None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            text = body[:e.start].decode("utf-8")
            bad, why = None, "invalid UTF-8 at byte %d" % e.start
        objs, raws, bad2, why2 = parse_batch(text, hec.allowed_indexes)
        if why is not None and bad2 is None:
            bad2, why2 = len(objs), why
        req["batch"] = objs
        req["n_events"] = len(objs) + (0 if bad2 is None else 1)
        if bad2 is not None:
            hec._note_invalid(req, "event %d: %s" % (bad2, why2))
            self._store(req, objs[:bad2], raws[:bad2], ack=False)
            self._delay_then(req, lambda: self._answer(
                6, {"invalid-event-number": bad2}))
            return
        rule = self._take_rule(req, len(objs))
        if rule is None:
            ack_id = self._store(req, objs, raws, ack=hec.ack)
            extra = {"ackId": ack_id} if hec.ack else None
            self._delay_then(req, lambda: self._answer(0, extra))
            return
        if rule.kind == "drop":
            if rule.store:
                self._store(req, objs, raws, ack=hec.ack)
            self._drop(req)
            return
        extra = {}
        if rule.invalid_event_number is not None:
            k = rule.invalid_event_number
            extra["invalid-event-number"] = k
            self._store(req, objs[:k], raws[:k], ack=False)
        st, text0 = CODES.get(rule.code, (rule.status, "Error"))
        self._delay_then(req, lambda: self._answer(
            rule.code, dict(extra, text=rule.text or text0),
            status=rule.status or st, headers=rule.headers()))

    def _log_batch(self, req, body, enc):
        """Parse a refused request's body for the request log only."""
        try:
            if enc == "gzip":
                body = gzip.decompress(body)
            objs, _, bad, _ = parse_batch(body.decode("utf-8"))
        except (OSError, EOFError, ValueError):
            return
        req["batch"] = objs
        req["n_events"] = len(objs) + (0 if bad is None else 1)

    def _store(self, req, objs, raws, ack):
        """Store objs for req; return the ackId given (ack mode) or None."""
        hec = self.server.owner
        now, wall = time.monotonic(), time.time()
        entries = [{"envelope": o, "raw": r, "channel": req["channel"],
                    "received": wall, "t": now, "request": req["n"]}
                   for o, r in zip(objs, raws)]
        with hec._cond:
            ack_id = None
            if ack:
                ch = req["channel"]
                ack_id = hec._next_ack.get(ch, 0)
                hec._next_ack[ch] = ack_id + 1
                if hec._lose_acks > 0:
                    hec._lose_acks -= 1
                    ready = None
                    hec.lost_acks.append((ch, ack_id, req["n"]))
                else:
                    ready = hec.clock() + hec.ack_delay
                hec._pending[(ch, ack_id)] = {"ready": ready,
                                              "events": entries}
                req["ack_id"] = ack_id
            for e in entries:
                e["ack_id"] = ack_id
            hec.events.extend(entries)
            if not ack:
                hec.indexed.extend(entries)
            req["stored"] += len(entries)
            hec._write_store([{k: v for k, v in e.items() if k != "t"}
                              for e in entries])
            hec._cond.notify_all()
        return ack_id

    def _delay_then(self, req, answer):
        self._delay()
        ok, st, obj = answer()
        self._finish(req, ok, st, obj)

    def _finish(self, req, ok, status, obj):
        hec = self.server.owner
        with hec._cond:
            req["status"] = status
            req["code"] = obj.get("code")
            req["answer"] = obj
            if ok:
                req["answered"] = time.monotonic()
            hec._cond.notify_all()
        hec._count(status, obj.get("code"))

    def _ack(self, query, body):
        hec = self.server.owner
        with hec._lock:
            hec.ack_requests += 1
        code = self._auth()
        ch = self._channel(query)
        if code is None and not hec.ack:
            code = 14
        if code is None and ch is None:
            code = 10
        if code is not None:
            ok, st, obj = self._answer(code)
            hec._count(st, code)
            return
        try:
            q = json.loads(body.decode("utf-8"))
            ids = q["acks"]
            if not isinstance(ids, list) or not all(
                    isinstance(i, int) and not isinstance(i, bool)
                    for i in ids):
                raise ValueError("acks is not a list of integers")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            with hec._lock:
                hec.invalid.append("ack query %r: %s" % (body[:200], e))
            ok, st, obj = self._answer(6)
            hec._count(st, 6)
            return
        now = hec.clock()
        res = {}
        with hec._cond:
            hec.ack_queries.append((now, ch, list(ids)))
            for i in ids:
                p = hec._pending.get((ch, i))
                done = (p is not None and p["ready"] is not None and
                        now >= p["ready"])
                res[str(i)] = done
                if done:
                    hec.indexed.extend(p["events"])
                    del hec._pending[(ch, i)]
                    hec.acked.append((ch, i))
            hec._cond.notify_all()
        ok = self._send(200, {"acks": res})
        hec._count(200, None)


class HecServer(testserver.Server):
    """The HEC test server; see the module docstring.  certfile/keyfile:
    serve HTTPS (plain HTTP when None); client_ca: require client
    certificates signed by it; tokens / disabled_tokens: accepted and
    disabled tokens; ack: indexer acknowledgement; allowed_indexes: None
    (any) or a list; store_path: JSONL file of stored events;
    tls_max_version: "1.2" to refuse TLS 1.3.  The rule clock (clock) is
    the clock of the acknowledgements (ack_delay) too."""
    name = "hec_server"
    handler = _Handler

    def __init__(self, certfile=None, keyfile=None, client_ca=None,
                 tokens=(), disabled_tokens=(), ack=False, ack_delay=0.0,
                 allowed_indexes=None, store_path=None, count_only=False,
                 port=0, host="127.0.0.1", tls_max_version=None,
                 verbose=False):
        super().__init__(certfile, keyfile, client_ca, port, host,
                         tls_max_version, store_path, verbose)
        self.tokens = set(tokens)
        self.disabled_tokens = set(disabled_tokens)
        self.ack = ack
        self.ack_delay = ack_delay
        self.allowed_indexes = (None if allowed_indexes is None
                                else list(allowed_indexes))
        self.count_only = count_only
        self._next_ack = {}
        self._pending = {}
        self._lose_acks = 0
        self.healthy = True
        self.reset_views()

    def _reset(self):
        """Forget what was seen (not the scripted rules or ack state)."""
        self.request_log = []
        self.events = []
        self.indexed = []
        self.code_counts = collections.Counter()
        self.tokens_seen = collections.Counter()
        self.health_times = []
        self.ack_requests = 0
        self.ack_queries = []
        self.acked = []
        self.lost_acks = []
        self.counted = 0

    # ---- scripting (thread-safe) ----

    def answer_next(self, count, status, code, text=None, retry_after=None,
                    invalid_event_number=None, min_events=0):
        """Answer the next count event requests (with at least min_events
        events) with this status and HEC code."""
        self._add_rule(testserver.Rule(
            "answer", count=count, status=status, code=code, text=text,
            retry_after=retry_after,
            invalid_event_number=invalid_event_number, min_n=min_events))

    def fail_for(self, seconds, status, code, text=None, retry_after=None):
        """Answer every event request for the next seconds so."""
        self._add_rule(testserver.Rule(
            "answer", count=None, until=self.clock() + seconds,
            status=status, code=code, text=text, retry_after=retry_after))

    def set_healthy(self, healthy):
        with self._lock:
            self.healthy = bool(healthy)

    def set_ack_delay(self, seconds):
        with self._lock:
            self.ack_delay = float(seconds)

    def lose_next_acks(self, count):
        """The ackIds of the next count accepted requests never turn
        true."""
        with self._lock:
            self._lose_acks += count

    # ---- bookkeeping used by the handler ----

    def _count(self, status, code):
        with self._lock:
            self.status_counts[status] += 1
            if code is not None:
                self.code_counts[code] += 1

    # ---- views (copies, thread-safe) ----

    def snapshot(self):
        """A consistent copy: (request_log, events, indexed)."""
        with self._lock:
            return ([dict(r) for r in self.request_log], list(self.events),
                    list(self.indexed))

    def event_requests(self):
        return self._view("request_log", testserver.dicts)

    def stored(self):
        return self._view("events")

    def indexed_events(self):
        return self._view("indexed")

    def wait_events(self, n, timeout, indexed=False):
        return self.wait(lambda s: len(s.indexed if indexed else s.events)
                         >= n, timeout)

    def _stats(self):
        """Its own counters (under the lock)."""
        reqs = self.request_log
        return {
            "requests": len(reqs) + len(self.health_times) +
            self.ack_requests,
            "event_requests": len(reqs),
            "gzip_requests": sum(1 for r in reqs if r["gzip"]),
            "health_requests": len(self.health_times),
            "ack_requests": self.ack_requests,
            "events_stored": len(self.events),
            "events_indexed": len(self.indexed),
            "events_counted": self.counted,
            "code_counts": {str(k): v for k, v in
                            self.code_counts.items()},
        }


# ---- self-test with the curl command-line tool ----


_curl = testserver.curl


def self_test(verbose=False):
    """Check the server with curl; return a list of failures."""
    return testserver.SelfTest("hec_server", verbose).run(_self_test)


def _self_test(selftest, tmp, pki):
    check = selftest.check

    def expect(res, status, code, what, extra=None):
        rc, st, body, _ = res
        ok = (rc == 0 and st == status and isinstance(body, dict) and
              body.get("code") == code)
        if ok and extra:
            ok = all(body.get(k) == v for k, v in extra.items())
        check(ok, "%s: expected HTTP %s code %s %s, got curl exit %s, "
              "HTTP %s, %r" % (what, status, code, extra or "", rc, st,
                               body))

    tok, dis = "11111111-2222-3333-4444-555555555555", "dead-token"
    auth = "Authorization: Splunk " + tok
    store = os.path.join(tmp, "store.jsonl")
    s = HecServer(pki["server"], pki["server_key"], client_ca=pki["ca"],
                  tokens=[tok], disabled_tokens=[dis],
                  allowed_indexes=["main"], store_path=store).start()
    try:
        expect(_curl(s, pki, "/services/collector/health"), 200, 17,
               "health")
        rc, st, body, _ = _curl(s, pki, "/services/collector/health",
                                client=False)
        check(rc != 0 and st is None, "a client without certificate "
              "is refused (curl exit %s, HTTP %s)" % (rc, st))
        # The server's thread records the failed handshake after curl
        # has seen it fail: wait for it.
        check(sysmonfwd_it.wait_for(lambda: len(s.tls_failures) >= 1, 60),
              "the refused handshake is counted: %r" % s.tls_failures)
        expect(_curl(s, pki, "/services/collector/event",
                     '{"event":"a"}\n {"event":{"x":1},"time":1.5,'
                     '"index":"main"}', [auth]), 200, 0, "two events")
        check([e["envelope"]["event"] for e in s.stored()] ==
              ["a", {"x": 1}], "two events stored: %r" % s.stored())
        expect(_curl(s, pki, "/services/collector",
                     '{"event":"c"}{"event":"d"}', [auth], gz=True),
               200, 0, "gzip body")
        check(s.stats()["gzip_requests"] == 1, "gzip request counted")
        check(len(s.stored()) == 4, "gzip events stored")
        expect(_curl(s, pki, "/services/collector/event",
                     '{"event":"a"}'), 401, 2, "no Authorization")
        expect(_curl(s, pki, "/services/collector/event",
                     '{"event":"a"}', ["Authorization: Basic eDp5"]),
               401, 3, "no Splunk prefix")
        expect(_curl(s, pki, "/services/collector/event",
                     '{"event":"a"}', ["Authorization: Splunk nope"]),
               403, 4, "unknown token")
        expect(_curl(s, pki, "/services/collector/event",
                     '{"event":"a"}', ["Authorization: Splunk " + dis]),
               403, 1, "disabled token")
        expect(_curl(s, pki, "/services/collector/event", " ", [auth]),
               400, 5, "no data")
        n0 = len(s.stored())
        expect(_curl(s, pki, "/services/collector/event",
                     '{"event":"e"} {"event":""} {"event":"f"}',
                     [auth]), 400, 6, "blank event",
               {"invalid-event-number": 1})
        check(len(s.stored()) == n0 + 1, "events before the invalid "
              "one are stored")
        for body, what in (('[{"event":"a"}]', "an array"),
                           ('{"event":"a","index":"other"}',
                            "an index not allowed"),
                           ('{"event":"a","time":"1.5"}',
                            "a string time"),
                           ('{"event":"a","event":"b"}',
                            "a duplicate key"),
                           ('{"event":"a"},{"event":"b"}', "a comma"),
                           ('{"event":7}', "a number event"),
                           ('{"time":1}', "no event")):
            n0 = len(s.stored())
            want = 1 if what == "a comma" else 0
            expect(_curl(s, pki, "/services/collector/event", body,
                         [auth]), 400, 6, what,
                   {"invalid-event-number": want})
            check(len(s.stored()) == n0 + want, "%s: %d stored" %
                  (what, want))
        check(len(s.invalid) >= 8, "invalid data is recorded")
        s.answer_next(1, 503, 9, retry_after=2)
        res = _curl(s, pki, "/services/collector/event", '{"event":"g"}',
                    [auth])
        expect(res, 503, 9, "scripted busy")
        check(re.search(r"(?im)^Retry-After: 2\s*$", res[3]),
              "Retry-After header: %r" % res[3])
        expect(_curl(s, pki, "/services/collector/event", '{"event":"g"}',
                     [auth]), 200, 0, "after the scripted answer")
        n0 = len(s.stored())
        s.answer_next(1, 400, 6, invalid_event_number=2, min_events=3)
        expect(_curl(s, pki, "/services/collector/event",
                     '{"event":"h"}', [auth]), 200, 0,
               "rule waits for min_events")
        expect(_curl(s, pki, "/services/collector/event",
                     '{"event":"i"}{"event":"j"}{"event":"k"}', [auth]),
               400, 6, "scripted partial batch",
               {"invalid-event-number": 2})
        check([e["envelope"]["event"] for e in s.stored()[n0:]] ==
              ["h", "i", "j"], "partial: events before N stored")
        n0 = len(s.stored())
        s.drop_next(1, store=True)
        rc, st, body, _ = _curl(s, pki, "/services/collector/event",
                                '{"event":"l"}', [auth])
        check(rc == 52 and len(s.stored()) == n0 + 1,
              "drop after storing: curl exit %s (52 expected), stored "
              "%d" % (rc, len(s.stored()) - n0))
        s.drop_next(1)
        rc, st, body, _ = _curl(s, pki, "/services/collector/event",
                                '{"event":"m"}', [auth])
        check(rc == 52 and len(s.stored()) == n0 + 1,
              "drop without storing: curl exit %s" % rc)
        # fail_for on the rule clock, faked here: no wall-clock window
        # that a slow curl could miss on a loaded machine.
        fake = [time.monotonic()]
        s.clock = lambda: fake[0]
        s.fail_for(0.5, 500, 8)
        expect(_curl(s, pki, "/services/collector/event", '{"event":"n"}',
                     [auth]), 500, 8, "fail_for")
        fake[0] += 0.6
        expect(_curl(s, pki, "/services/collector/event", '{"event":"n"}',
                     [auth]), 200, 0, "fail_for expired")
        s.clock = time.monotonic
        s.set_delay(1.0)
        t = time.monotonic()
        expect(_curl(s, pki, "/services/collector/event", '{"event":"o"}',
                     [auth]), 200, 0, "delayed")
        check(time.monotonic() - t >= 1.0, "the answer was delayed")
        s.set_delay(0)
        c0 = s.connections
        # Two requests in one curl run share one connection.
        rc, st, body, head = _curl(
            s, pki, "/services/collector/health", extra=[
                "--next", "--cacert", pki["ca"], "--cert",
                pki["client"], "--key", pki["client_key"],
                s.url + "/services/collector/health"])
        check(rc == 0 and s.connections == c0 + 1 and
              len(s.health_times) >= 3,
              "keep-alive: %d connections for 2 requests" %
              (s.connections - c0))
        s.set_healthy(False)
        expect(_curl(s, pki, "/services/collector/health"), 503, 18,
               "unhealthy")
        s.set_healthy(True)
        expect(_curl(s, pki, "/services/collector/ack", '{"acks":[0]}',
                     [auth, "X-Splunk-Request-Channel: "
                      "00000000-0000-0000-0000-000000000000"]),
               400, 14, "ack disabled")
        expect(_curl(s, pki, "/services/collector/raw", "x", [auth]),
               404, 404, "unknown path")
        port = s.port
        s.stop()
        rc, st, _, _ = _curl(s, pki, "/services/collector/health")
        check(rc == 7, "stopped: connection refused (curl exit %s)" % rc)
        s.start()
        check(s.port == port, "restarted on the same port")
        expect(_curl(s, pki, "/services/collector/health"), 200, 17,
               "health after restart")
        check(not any(t in l for l in open(store).read().splitlines()
                      for t in ("\"t\":",)), "store file has no "
              "monotonic times")
        lines = open(store).read().splitlines()
        check(len(lines) == len(s.stored()),
              "store file: %d lines for %d events" %
              (len(lines), len(s.stored())))
        check(s.status_counts[200] >= 8 and s.code_counts[6] >= 8,
              "counters: %r %r" % (s.status_counts, s.code_counts))
    finally:
        s.close()
    # Indexer acknowledgement.
    a = HecServer(pki["server"], pki["server_key"], tokens=[tok],
                  ack=True, ack_delay=1.0).start()
    # The acknowledgements on a fake clock: "not yet" and "after the
    # delay" do not depend on how fast curl runs.
    fake = [time.monotonic()]
    a.clock = lambda: fake[0]
    try:
        ch = "X-Splunk-Request-Channel: 6f1c2b8e-0d4f-4a57-9e1b-" \
             "3c5d7e9f1a2b"
        expect(_curl(a, pki, "/services/collector/event", '{"event":"a"}',
                     [auth]), 400, 10, "ack mode without channel")
        expect(_curl(a, pki, "/services/collector/event", '{"event":"a"}',
                     [auth, "X-Splunk-Request-Channel: x"]), 400, 11,
               "ack mode with a channel that is not a GUID")
        expect(_curl(a, pki, "/services/collector/event", '{"event":"a"}',
                     [auth, ch], client=False), 200, 0, "ackId 0",
               {"ackId": 0})
        a.lose_next_acks(1)
        expect(_curl(a, pki, "/services/collector/event",
                     '{"event":"b"}{"event":"c"}', [auth, ch],
                     gz=True), 200, 0, "ackId 1", {"ackId": 1})
        expect(_curl(a, pki,
                     "/services/collector/event?channel=6f1c2b8e-0d4f-"
                     "4a57-9e1b-000000000000", '{"event":"d"}', [auth]),
               200, 0, "channel in the query", {"ackId": 0})
        rc, st, body, _ = _curl(a, pki, "/services/collector/ack",
                                '{"acks":[0,1,7]}', [auth, ch])
        check(st == 200 and body == {"acks": {"0": False, "1": False,
                                              "7": False}},
              "acks before the delay: %r" % (body,))
        check(len(a.indexed_events()) == 0, "nothing indexed yet")
        fake[0] += 1.1
        rc, st, body, _ = _curl(a, pki, "/services/collector/ack",
                                '{"acks":[0,1]}', [auth, ch])
        check(st == 200 and body == {"acks": {"0": True, "1": False}},
              "acks after the delay (1 lost): %r" % (body,))
        check([e["envelope"]["event"] for e in a.indexed_events()] ==
              ["a"], "indexed view: %r" % a.indexed_events())
        rc, st, body, _ = _curl(a, pki, "/services/collector/ack",
                                '{"acks":[0]}', [auth, ch])
        check(body == {"acks": {"0": False}}, "an ackId reported true "
              "is forgotten: %r" % (body,))
        expect(_curl(a, pki, "/services/collector/ack", '{"acks":[0]}',
                     [auth]), 400, 10, "ack query without channel")
        check(len(a.stored()) == 4, "ack mode stores: %d" %
              len(a.stored()))
    finally:
        a.close()
    # Counting mode, plain HTTP.
    c = HecServer(tokens=[tok], count_only=True).start()
    try:
        expect(_curl(c, pki, "/services/collector/event",
                     '{"event":"a"}{"event" : "b"}{"event":"\\"event\\""}',
                     [auth], gz=True), 200, 0, "count mode")
        check(c.counted == 3 and not c.stored(), "counted %d" %
              c.counted)
    finally:
        c.close()
    # TLS 1.2 at most.
    expect(selftest.tls12(functools.partial(HecServer, tokens=[tok]),
                          pki, "/services/collector/health"), 200, 17,
           "tls 1.2 client")


def main():
    ap = testserver.arg_parser("Splunk HEC test server")
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--disabled-token", action="append", default=[])
    ap.add_argument("--index", action="append", default=None,
                    help="allowed index (repeat); default: any")
    ap.add_argument("--ack", action="store_true")
    ap.add_argument("--ack-delay", type=float, default=0.0)
    ap.add_argument("--store", help="append stored events to this JSONL")
    ap.add_argument("--count-only", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        testserver.self_test_main("hec_server", self_test, a.verbose)
    testserver.serve(HecServer(
        a.cert, a.key, client_ca=a.client_ca, tokens=a.token,
        disabled_tokens=a.disabled_token, ack=a.ack, ack_delay=a.ack_delay,
        allowed_indexes=a.index, store_path=a.store,
        count_only=a.count_only, port=a.port, verbose=a.verbose), a.delay)


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    main()
