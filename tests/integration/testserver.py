"""What the three test servers share (hec_server.py, es_server.py,
wazuh_server.py), standard library only.

Not a test itself, and not for the scenarios (their helpers are in
sysmonfwd_it.py): the servers import it.  It holds

- Server: the life of a threaded HTTP/1.1 server bound to 127.0.0.1 over
  HTTPS (or plain HTTP without a certificate): reserve() holds its port
  (connections refused), start() listens and serves in a thread, stop()
  stops listening and cuts every open connection (start() serves again on
  the same port), close() lets the port go; the scripted rules (answer
  the next K requests, or every one for some seconds, or drop the
  connection without an answer), the answer delay, the views' lock and
  condition, wait(), the connection, TLS failure and handler error
  bookkeeping.
- Handler: the request handler's connection life (TLS handshake, which
  connection a request came on), body reading and dropping a connection.
- Rule and Fault: one scripted whole-request behaviour, one scripted
  per-item (per-event) failure.
- curl(): a request with the curl command-line tool, and SelfTest: the
  frame of a server's --self-test; arg_parser() and serve(): the frame of
  a server run as a script (its command-line flags and its life until
  SIGINT or SIGTERM).
"""
import argparse
import collections
import gzip
import http.server
import itertools
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it  # noqa: E402  (ReservedPort)


class HandshakeFailed(Exception):
    """A TLS handshake failure, already recorded in tls_failures."""


class Rule:
    """One scripted behaviour for the requests that carry data: kind
    "answer" (answer with status and the rest of answer: body, or code
    and text for HEC, retry_after, invalid_event_number; storing nothing
    unless the server says otherwise) or "drop" (close the connection
    without an answer, after storing the data when store is true).  It
    applies to the next count requests with at least min_n events (items),
    or to every one until the rule clock's time until."""

    def __init__(self, kind, count=1, until=None, store=False, min_n=0,
                 status=None, body=None, code=None, text=None,
                 retry_after=None, invalid_event_number=None):
        self.kind = kind
        self.count = count
        self.until = until
        self.store = store
        self.min_n = min_n
        self.status = status
        self.body = body
        self.code = code
        self.text = text
        self.retry_after = retry_after
        self.invalid_event_number = invalid_event_number
        self.used = 0

    def describe(self):
        if self.kind == "drop":
            return "drop%s" % (" after storing" if self.store else "")
        s = "answer %s" % self.status
        if self.code is not None:
            s += " code %s" % self.code
        if self.retry_after is not None:
            s += " Retry-After %s" % self.retry_after
        if self.invalid_event_number is not None:
            s += " invalid-event-number %d" % self.invalid_event_number
        return s

    def headers(self):
        """The headers of the answer: Retry-After when set."""
        if self.retry_after is None:
            return []
        return [("Retry-After", str(self.retry_after))]


class Fault:
    """A scripted failure of the items (events) for which match is true
    (every one when match is None): each distinct key at most times times
    (None: always), at most count in all (None: no limit)."""

    def __init__(self, match, times, count):
        self.match = match
        self.times = times
        self.count = count
        self.failed = collections.Counter()
        self.used = 0

    def take(self, key):
        """Use the fault for key if it still applies (under the server's
        lock)."""
        if self.count is not None and self.used >= self.count:
            return False
        if self.times is not None and self.failed[key] >= self.times:
            return False
        self.failed[key] += 1
        self.used += 1
        return True


def dicts(items):
    """Copies of the dicts items (a view of a log)."""
    return [dict(e) for e in items]


def ssl_context(certfile, keyfile, client_ca=None, tls_max_version=None):
    """The server's TLS context (None without a certificate): client_ca
    requires client certificates signed by it; tls_max_version "1.2"
    refuses TLS 1.3."""
    if certfile is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    if tls_max_version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if not isinstance(e, HandshakeFailed):
            self.owner._note_error(e)


class Handler(http.server.BaseHTTPRequestHandler):
    """The connection life every server's handler shares; self.owner is
    the Server."""
    protocol_version = "HTTP/1.1"
    timeout = 120

    @property
    def owner(self):
        return self.server.owner

    def setup(self):
        srv = self.server.owner
        # Which connection a request came on, and when the server began
        # it (before the TLS handshake: no request on it can be older).
        self.conn_id = next(srv._conn_ids)
        self.conn_t = time.monotonic()
        srv._track(self.request, True)
        if srv.ssl_ctx is not None:
            raw = self.request
            raw.settimeout(10)
            try:
                self.request = srv.ssl_ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as e:
                srv._tls_failed(e)
                srv._track(raw, False)
                raw.close()
                raise HandshakeFailed() from e
            srv._track(raw, False)
            srv._track(self.request, True)
        super().setup()

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        self.server.owner._track(self.request, False)
        try:
            self.request.close()
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.owner.verbose:
            sys.stderr.write("%s: %s\n" % (self.server.owner.name,
                                           fmt % args))

    def _read_body(self):
        return self._read_body_sized(float("inf"))[0]

    def _read_body_sized(self, limit):
        """(body, size): the body, or None when it is larger than limit
        bytes (then read and thrown away, to keep the connection)."""
        te = self.headers.get("Transfer-Encoding", "").lower()
        parts, size = [], 0
        if "chunked" in te:
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ValueError("connection closed in a chunk size")
                n = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                             b""):
                        pass
                    break
                size += self._read_exactly(n, size, limit, parts)
                self.rfile.readline(3)
        else:
            n = int(self.headers.get("Content-Length") or 0)
            if n < 0:
                raise ValueError("negative Content-Length")
            size += self._read_exactly(n, size, limit, parts)
        return (b"".join(parts) if size <= limit else None), size

    def _read_exactly(self, n, size, limit, parts):
        """Read n bytes of the body (size read before), keeping them in
        parts while the body is within limit; return n."""
        left = n
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                raise ValueError("connection closed in the body")
            left -= len(chunk)
            size += len(chunk)
            if size <= limit:
                parts.append(chunk)
        return n

    def _send_data(self, status, data, ctype, headers=()):
        """Send an answer with body data (bytes) of Content-Type ctype
        (None: no such header) and the extra headers; return whether it
        was sent."""
        try:
            self.send_response(status)
            for k, v in self._server_headers():
                self.send_header(k, v)
            if ctype:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:
            self.close_connection = True
            return False

    def _server_headers(self):
        """Headers every answer of the server carries."""
        return ()

    def _log_request(self, req):
        """Append the request log entry req (a dict) to the log, with its
        number (n), its connection (conn, conn_t) and, when absent, what
        the answer fills in (rule, status, code, answered, invalid)."""
        for k in ("rule", "status", "code", "answered", "invalid"):
            req.setdefault(k, None)
        req.update(conn=self.conn_id, conn_t=self.conn_t)
        srv = self.server.owner
        with srv._lock:
            req["n"] = len(srv.request_log)
            srv.request_log.append(req)
        return req

    def _take_rule(self, req, n):
        """The scripted rule for a request req with n events (items), or
        None; noted in the request log."""
        rule = self.server.owner._take_rule(n)
        if rule is not None:
            req["rule"] = rule.describe()
        return rule

    def _scripted(self, req, n, store):
        """What the scripted rules say for the request req with n events
        (items): store() stores them unless a rule answers instead; a drop
        rule drops the connection (after storing when it says so), else
        the delay is waited out.  Return (the rule or None, what store()
        returned or None, whether the connection was dropped)."""
        rule = self._take_rule(req, n)
        stored = None
        if rule is None or (rule.kind == "drop" and rule.store):
            stored = store()
        if rule is not None and rule.kind == "drop":
            self._drop(req)
            return rule, stored, True
        self._delay()
        return rule, stored, False

    def _delay(self):
        d = self.server.owner.delay
        if d > 0:
            time.sleep(d)

    def _drop(self, req):
        """Close the connection without an answer."""
        srv = self.server.owner
        with srv._cond:
            req["status"] = "dropped"
            srv.dropped += 1
            srv._cond.notify_all()
        self.close_connection = True
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Server:
    """The life, scripting and bookkeeping every test server shares.  A
    server sets name (for its log lines), handler (its Handler class) and
    _reset() (its own views, under the lock)."""
    name = "test-server"
    handler = Handler

    def __init__(self, certfile=None, keyfile=None, client_ca=None,
                 port=0, host="127.0.0.1", tls_max_version=None,
                 store_path=None, verbose=False):
        self.host = host
        self.port = port
        self._held = None     # the port, held from reserve() to close()
        self._conn_ids = itertools.count(1)
        # The clock of the scripted rules (fail_for): a self-test may set
        # a fake one.
        self.clock = time.monotonic
        self.verbose = verbose
        self.ssl_ctx = ssl_context(certfile, keyfile, client_ca,
                                   tls_max_version)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._store_file = (open(store_path, "a", encoding="utf-8")
                            if store_path else None)
        self._httpd = None
        self._thread = None
        self._conns = set()
        self._rules = []
        self._faults = []
        self.delay = 0.0

    def reset_views(self):
        """Forget what was seen (not the scripted rules)."""
        with self._lock:
            self.status_counts = collections.Counter()
            self.tls_failures = []
            self.invalid = []
            self.errors = []
            self.connections = 0
            self.dropped = 0
            self._reset()

    def _reset(self):
        pass

    # ---- life ----

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.ssl_ctx else "http",
                                      self.port)

    def reserve(self):
        """Take the port now (port 0: the kernel picks one; url names it)
        without listening yet: connections are refused until start().
        The port stays held by a socket that does not listen until
        close(), so start() after stop() gets it back and no other
        program can take it in between.  Return self."""
        if self._held is None:
            self._held = sysmonfwd_it.ReservedPort(self.host, self.port)
            self.port = self._held.port
        return self

    def start(self):
        """Listen (on the same port again after stop()) and serve in a
        thread; return self."""
        self.reserve()
        httpd = _HTTPServer((self.host, self.port), self.handler)
        httpd.owner = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop listening and cut every open connection (the state is
        kept, start() serves again on the same port)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
        self._httpd = None
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stop()
        if self._held is not None:
            self._held.close()
            self._held = None
        if self._store_file is not None:
            self._store_file.close()
            self._store_file = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ---- scripting (thread-safe) ----

    def answer_next(self, count, status, body=None, retry_after=None,
                    min_events=0, min_items=0):
        """Answer the next count requests with data (with at least
        min_events events, min_items items for Elasticsearch) with this
        status, storing nothing.  body: a JSON value, or bytes or str sent
        verbatim, or None for the server's error body for status."""
        self._add_rule(Rule("answer", count=count, status=status, body=body,
                            retry_after=retry_after,
                            min_n=max(min_events, min_items)))

    def fail_for(self, seconds, status, body=None, retry_after=None):
        """Answer every request with data for the next seconds so."""
        self._add_rule(Rule("answer", count=None,
                            until=self.clock() + seconds, status=status,
                            body=body, retry_after=retry_after))

    def drop_next(self, count, store=False, min_events=0, min_items=0):
        """Close the connection of the next count requests with data
        without answering, after storing their data when store is true."""
        self._add_rule(Rule("drop", count=count, store=store,
                            min_n=max(min_events, min_items)))

    def clear_rules(self):
        """Forget every scripted whole-request rule and item fault."""
        with self._lock:
            self._rules = []
            self._faults = []

    def set_delay(self, seconds):
        """Delay every answer to data (after storing) by seconds."""
        with self._lock:
            self.delay = float(seconds)

    def _add_rule(self, rule):
        with self._lock:
            self._rules.append(rule)

    def _take_rule(self, n):
        now = self.clock()
        with self._lock:
            self._rules = [r for r in self._rules
                           if (r.until is None or now < r.until) and
                           (r.count is None or r.used < r.count)]
            for r in self._rules:
                if n >= r.min_n:
                    r.used += 1
                    return r
        return None

    # ---- bookkeeping used by the handler ----

    def _track(self, sock, add):
        with self._lock:
            if add:
                if sock not in self._conns:
                    self.connections += 1 if not isinstance(
                        sock, ssl.SSLSocket) else 0
                self._conns.add(sock)
            else:
                self._conns.discard(sock)

    def _tls_failed(self, e):
        with self._lock:
            self.tls_failures.append(str(e))

    def _note_error(self, e):
        with self._lock:
            self.errors.append(repr(e))

    def _note_invalid(self, req, why):
        """Record invalid data received (request req)."""
        req["invalid"] = why
        with self._lock:
            self.invalid.append("request %d: %s" % (req["n"], why))

    def _write_store(self, entries):
        """Append entries (dicts) to the store file, if any (under the
        lock)."""
        if self._store_file is not None and entries:
            for e in entries:
                self._store_file.write(json.dumps(
                    e, separators=(",", ":")) + "\n")
            self._store_file.flush()

    # ---- views ----

    def _view(self, attr, copy=list):
        """A copy of attribute attr, taken under the lock."""
        with self._lock:
            return copy(getattr(self, attr))

    def stats(self):
        """The counters, for a report (a server run as a script prints
        them when it stops)."""
        with self._lock:
            out = {"status_counts": {str(k): v for k, v in
                                     self.status_counts.items()},
                   "dropped": self.dropped, "connections": self.connections,
                   "tls_failures": len(self.tls_failures),
                   "invalid": len(self.invalid), "errors": len(self.errors)}
            out.update(self._stats())
            return out

    def wait(self, pred, timeout):
        """Wait until pred(self) is true (called under the lock, so it
        must read attributes, not call the views)."""
        end = time.monotonic() + timeout
        with self._cond:
            while not pred(self):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
            return True


# ---- the frame of a self-test, with the curl command-line tool ----


def curl(server, pki, path, data=None, headers=(), gz=False, client=True,
         ctype=None, user=None, token=None, method=None, extra=(),
         timeout=30):
    """Run curl against server; return (exit code, HTTP status, body JSON
    or text, response headers text).  pki: the certificates (None: curl
    does not trust the server's CA); client: send the client certificate.
    data (str or bytes) is POSTed, gzipped when gz, with Content-Type
    ctype when given ("": an empty Content-Type header; None: curl's
    own); user "name:pw" for Basic; token for Bearer."""
    argv = ["curl", "-sS", "--http1.1", "--max-time", "20",
            "-D", "-", "-o", "-"]
    if server.ssl_ctx is not None and pki is not None:
        argv += ["--cacert", pki["ca"]]
        if client:
            argv += ["--cert", pki["client"], "--key", pki["client_key"]]
    if user is not None:
        argv += ["-u", user]
    if token is not None:
        argv += ["-H", "Authorization: Bearer " + token]
    for h in headers:
        argv += ["-H", h]
    tmpname = None
    if data is not None:
        raw = data.encode() if isinstance(data, str) else data
        if gz:
            raw = gzip.compress(raw)
            argv += ["-H", "Content-Encoding: gzip"]
        if ctype is not None:
            argv += ["-H", "Content-Type:" + (" " + ctype if ctype else "")]
        fd, tmpname = tempfile.mkstemp(suffix=".body")
        os.write(fd, raw)
        os.close(fd)
        argv += ["--data-binary", "@" + tmpname]
    if method:
        argv += ["-X", method]
    argv += list(extra)
    argv.append(server.url + path)
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    finally:
        if tmpname:
            os.unlink(tmpname)
    out = r.stdout.decode("utf-8", "replace")
    head, _, body = out.partition("\r\n\r\n")
    while re.match(r"HTTP/\S+ 100", head):
        head, _, body = body.partition("\r\n\r\n")
    m = re.match(r"HTTP/\S+ (\d+)", head)
    status = int(m.group(1)) if m else None
    try:
        body = json.loads(body)
    except ValueError:
        pass
    return r.returncode, status, body, head


class SelfTest:
    """The failures of a server's self-test: check() records one (and
    prints it; verbose: prints the passed checks too)."""

    def __init__(self, name, verbose=False):
        self.name = name
        self.verbose = verbose
        self.fails = []

    def check(self, cond, msg):
        if not cond:
            self.fails.append(msg)
            print("FAIL: %s self-test: %s" % (self.name, msg), flush=True)
        elif self.verbose:
            print("ok: " + msg, flush=True)
        return bool(cond)

    def run(self, body):
        """body(self, tmp, pki) with a temporary directory tmp holding test
        certificates (tlsutil.make_pki()), removed afterwards; return the
        failures (curl not installed: that one)."""
        if shutil.which("curl") is None:
            return ["curl is not installed"]
        import tlsutil
        tmp = tempfile.mkdtemp(prefix="%s-selftest-" % self.name)
        try:
            body(self, tmp, tlsutil.make_pki(os.path.join(tmp, "pki")))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self.fails

    def tls12(self, make, pki, path="/"):
        """The server make(certfile, keyfile, tls_max_version="1.2")
        refuses a TLS 1.3 client; return curl()'s result of a TLS 1.2
        client's request for path."""
        s = make(pki["server"], pki["server_key"],
                 tls_max_version="1.2").start()
        try:
            rc = curl(s, pki, path, extra=["--tlsv1.3"])[0]
            self.check(rc != 0, "tls_max_version 1.2 refuses a TLS 1.3 "
                       "client (curl exit %s)" % rc)
            return curl(s, pki, path, extra=["--tlsv1.2", "--tls-max",
                                             "1.2"])
        finally:
            s.close()


# ---- the frame of a server run as a script ----


def arg_parser(description):
    """The command line every server takes (--cert, --key, --client-ca,
    --delay, --port, --verbose, --self-test); the server adds its own."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--cert", help="server certificate (PEM); none: HTTP")
    ap.add_argument("--key", help="server key (PEM)")
    ap.add_argument("--client-ca", help="require client certificates "
                    "signed by this CA")
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--self-test", action="store_true",
                    help="check the server with curl and exit")
    return ap


def self_test_main(name, self_test, verbose):
    """Run self_test(verbose) and exit with its verdict."""
    fails = self_test(verbose)
    print("%s self-test: %s" % (name, "%d failures" % len(fails)
                                if fails else "all passed"))
    sys.exit(1 if fails else 0)


def serve(server, delay=0.0):
    """Serve until SIGINT or SIGTERM, then print the server's stats()."""
    server.set_delay(delay)
    server.start()
    print("%s: listening on %s" % (server.name, server.url), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    server.close()
    print(json.dumps(server.stats(), sort_keys=True), flush=True)
