"""An Elasticsearch _bulk test server, standard library only.

Not a test itself: the Elasticsearch output tests import it, and it runs
as a script too (python3 es_server.py --help; --self-test checks the
server itself with the curl command-line tool).  It answers like
Elasticsearch as described in ../shared/docs/PROTOCOLS.md section 1, over
HTTPS (or plain HTTP when no certificate is given) with HTTP/1.1
keep-alive, bound to 127.0.0.1 on an ephemeral port (or a chosen one, so
that a test can stop it and start it again on the same port):

- Authentication, on every request: with api_keys, "Authorization: ApiKey
  base64(id:key)" is accepted; with users, "Authorization: Basic
  base64(user:password)"; with neither, no credential is needed.  A missing
  or wrong credential is answered 401 security_exception with
  WWW-Authenticate headers, as Elasticsearch does.  The scheme of every
  request is recorded (never the credential itself).
- GET / answers the cluster information (version.number = version;
  distribution="opensearch" adds version.distribution = "opensearch").
  Every answer carries "X-Elastic-Product: Elasticsearch" unless the
  distribution is OpenSearch.
- GET /_index_template/<name> answers the template when name is one of
  templates, else 404 resource_not_found_exception.
- POST (or PUT) /_bulk and /<target>/_bulk: a body with Content-Encoding
  gzip (or deflate) is decoded; a decoded body larger than
  max_content_length is answered 413 with an empty body.  Content-Type
  must be application/x-ndjson or application/json (optionally with
  "; charset=UTF-8"), else 406.  The body is strict NDJSON ending with a
  newline: pairs of an action line {"create":{"_index":..,"_id":..}} (only
  create, as for data streams; "pipeline" is the only other key allowed;
  _index may be left out when the path names a target; _id is a non-empty
  string of at most 512 bytes) and a source line, a JSON object with a
  string "@timestamp"; no empty line, duplicate key or NaN/Infinity
  anywhere.  The first violation fails the whole request with 400
  (illegal_argument_exception, x_content_parse_exception or
  parse_exception), nothing is stored, and the violation is recorded in
  the invalid list.  Otherwise each item is created (201) or, when its
  (_index, _id) is already stored, refused 409
  version_conflict_engine_exception.  The answer is the full bulk response
  ({"took","errors","items"}), filtered by the filter_path query parameter
  as Elasticsearch does (comma-separated dotted paths, "*" within a name,
  "**" for any depth); error answers are never filtered.
- Scripted faults, settable at any time from another thread: fail chosen
  items with a status and error type (each _id a number of times, a
  number of items in all); answer the next K bulk requests (or every one
  for some seconds) with a whole-request status, optionally with
  Retry-After; drop the connection without an answer, after storing the
  items or not ("stored but the answer was lost"); delay every bulk answer
  by D seconds (a slow server; the items are stored before the delay).
- Counting mode (count_only=True): items are counted (lines / 2 after
  decoding), not parsed or stored, and the answer is {"errors":false}; for
  benchmarks.

Everything the server saw is kept for the test: the request log (bulk,
info, template and other requests, with the query string, the
Content-Type, Content-Encoding and authorization scheme, the item
statuses and the answer), the stored documents by (_index, _id), how many
times each _id was sent, every item outcome, counters per HTTP status and
per item status, authentication failures, TLS handshake failures and
invalid data found.
"""
import base64
import collections
import functools
import gzip
import hashlib
import json
import os
import re
import sys
import time
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it  # noqa: E402  (strict_decoder)
import testserver  # noqa: E402

DEFAULT_TEMPLATES = ("logs-windows.sysmon_operational",
                     "logs-sysmon_linux.log")
MAX_ID_BYTES = 512
BULK_PATH_RE = re.compile(r"/(?:([^/]+)/)?_bulk")
TEMPLATE_PATH_RE = re.compile(r"/_index_template/([^/]+)")
CONTENT_TYPES = ("application/x-ndjson", "application/json")
# Characters Elasticsearch refuses in an index name.
INDEX_BAD_CHARS = set('\\/*?"<>| ,#:')
UNAUTHORIZED_REASON = ("unable to authenticate with provided credentials "
                       "and anonymous access is not allowed for this "
                       "request")

# Default whole-request error (type, reason) per HTTP status, for scripted
# answers without a body.
STATUS_ERRORS = {
    400: ("illegal_argument_exception", "scripted bad request"),
    401: ("security_exception", UNAUTHORIZED_REASON),
    403: ("security_exception", "action [indices:data/write/bulk] is "
          "unauthorized for user [sysmonfwd]"),
    404: ("index_not_found_exception", "no such index [logs]"),
    429: ("es_rejected_execution_exception", "rejected execution of "
          "coordinating operation [coordinating_and_primary_bytes=0, "
          "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024,"
          " max_coordinating_and_primary_bytes=0]"),
    500: ("exception", "scripted internal server error"),
    503: ("unavailable_shards_exception", "[logs][0] primary shard is not "
          "active Timeout: [1m]"),
}


class BulkError(ValueError):
    """A whole-request 400: Elasticsearch's error type and reason."""

    def __init__(self, etype, reason):
        super().__init__(reason)
        self.etype = etype
        self.reason = reason


class _TooLarge(Exception):
    pass


_DECODER = sysmonfwd_it.strict_decoder(
    lambda msg: BulkError("x_content_parse_exception", msg),
    dup="Duplicate field '%s'", constant="Non-standard token '%s'")


def _uuid(name):
    """A stable 22-character Elasticsearch-style UUID for name."""
    return base64.urlsafe_b64encode(
        hashlib.sha256(name.encode()).digest()[:16]).decode().rstrip("=")


def es_error(status, etype, reason, **extra):
    """Elasticsearch's whole-request error body."""
    cause = dict({"type": etype, "reason": reason}, **extra)
    return {"error": dict({"root_cause": [dict(cause)]}, **cause),
            "status": status}


def index_name_problem(name):
    """Why Elasticsearch would refuse name as an index, or None."""
    if not name:
        return "must not be empty"
    if name != name.lower():
        return "must be lowercase"
    if name[0] in "-_+":
        return "must not start with '_', '-', or '+'"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    bad = sorted(set(name) & INDEX_BAD_CHARS)
    if bad:
        return "must not contain %r" % "".join(bad)
    if len(name.encode()) > 255:
        return "index name is too long"
    return None


def decode_body(raw, encoding, limit):
    """The body decoded per Content-Encoding (gzip, x-gzip, deflate,
    x-deflate or none).  Raises _TooLarge when the decoded body exceeds
    limit bytes and BulkError when it does not decode."""
    if encoding in ("", "identity"):
        if len(raw) > limit:
            raise _TooLarge()
        return raw
    if encoding in ("gzip", "x-gzip"):
        wbits = (16 + zlib.MAX_WBITS,)
    elif encoding in ("deflate", "x-deflate"):
        wbits = (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    else:
        raise BulkError("x_content_parse_exception", "Content-Encoding "
                        "[%s] is not supported: the body is not NDJSON" %
                        encoding)
    last = None
    for wb in wbits:
        try:
            return _inflate(raw, wb, limit)
        except zlib.error as e:
            last = e
    raise BulkError("parse_exception", "the %s body does not decode: %s" %
                    (encoding, last))


def _inflate(raw, wbits, limit):
    """Inflate every member of raw (concatenated gzip members are one
    body), refusing more than limit bytes of output."""
    out, size, data = [], 0, raw
    while True:
        d = zlib.decompressobj(wbits)
        chunk = d.decompress(data, limit + 1 - size)
        out.append(chunk)
        size += len(chunk)
        if size > limit or d.unconsumed_tail:
            raise _TooLarge()
        if not d.eof:
            raise zlib.error("truncated body")
        data = d.unused_data
        if wbits < 16 + zlib.MAX_WBITS or not data:
            if data:
                raise zlib.error("trailing data after the deflate stream")
            return b"".join(out)


def check_content_type(value):
    """None when value is an accepted bulk Content-Type, else the reason
    Elasticsearch gives (406)."""
    if value is None:
        return "Content-Type header is missing"
    parts = [p.strip() for p in value.split(";")]
    ok = parts[0].lower() in CONTENT_TYPES and all(
        re.fullmatch(r'(?i)charset="?utf-8"?', p) for p in parts[1:])
    return None if ok else ("Content-Type header [%s] is not supported" %
                            value)


def _json_line(line, n, what):
    if not line.strip():
        raise BulkError("illegal_argument_exception",
                        "%s line [%d] is empty" % (what, n))
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BulkError("x_content_parse_exception", "[%d:%d] invalid "
                        "UTF-8 in the %s line" % (n, e.start + 1, what))
    try:
        return _DECODER.decode(text), text
    except BulkError as e:
        raise BulkError(e.etype, "[%d:1] %s" % (n, e.reason))
    except ValueError as e:
        raise BulkError("x_content_parse_exception", "[%d:1] %s line: %s"
                        % (n, what, e))


def _parse_action(obj, n, target):
    """(index, id, pipeline) of the action line obj (line n)."""
    if not isinstance(obj, dict):
        raise BulkError("illegal_argument_exception", "Malformed action/"
                        "metadata line [%d], expected START_OBJECT but "
                        "found a %s" % (n, type(obj).__name__))
    if len(obj) != 1:
        raise BulkError("illegal_argument_exception", "Malformed action/"
                        "metadata line [%d], expected one action but found "
                        "%s" % (n, sorted(obj)))
    (action, meta), = obj.items()
    if action in ("index", "update", "delete"):
        raise BulkError("illegal_argument_exception", "action [%s] on line "
                        "[%d]: only write ops with an op_type of create are "
                        "allowed in data streams" % (action, n))
    if action != "create":
        raise BulkError("illegal_argument_exception", "Malformed action/"
                        "metadata line [%d], expected field [create], "
                        "[delete], [index] or [update] but found [%s]" %
                        (n, action))
    if not isinstance(meta, dict):
        raise BulkError("illegal_argument_exception", "Malformed action/"
                        "metadata line [%d], expected START_OBJECT after "
                        "[create]" % n)
    for k in meta:
        if k not in ("_index", "_id", "pipeline"):
            raise BulkError("illegal_argument_exception", "Action/metadata "
                            "line [%d] contains an unknown parameter [%s]" %
                            (n, k))
    index = meta.get("_index", target)
    if not isinstance(index, str):
        raise BulkError("illegal_argument_exception", "line [%d]: _index "
                        "is %s, not a string" %
                        (n, "missing" if index is None else repr(index)))
    why = index_name_problem(index)
    if why is not None:
        raise BulkError("illegal_argument_exception", "line [%d]: invalid "
                        "index name [%s], %s" % (n, index, why))
    doc_id = meta.get("_id")
    if not isinstance(doc_id, str) or doc_id == "":
        raise BulkError("illegal_argument_exception", "line [%d]: _id must "
                        "be a non-empty string (deterministic ids), got %r"
                        % (n, doc_id))
    if len(doc_id.encode()) > MAX_ID_BYTES:
        raise BulkError("illegal_argument_exception", "line [%d]: id [%s] "
                        "is too long, must be no longer than 512 bytes but "
                        "was: %d" % (n, doc_id, len(doc_id.encode())))
    pipeline = meta.get("pipeline")
    if "pipeline" in meta and (not isinstance(pipeline, str) or
                               not pipeline):
        raise BulkError("illegal_argument_exception", "line [%d]: pipeline "
                        "must be a non-empty string" % n)
    return index, doc_id, pipeline


def parse_bulk(body, target=None):
    """Parse a decoded bulk body strictly (see the module docstring).
    target: the index named in the path, the default _index.  Return the
    items as dicts (index, id, pipeline, doc, raw); raise BulkError."""
    if body == b"":
        raise BulkError("parse_exception", "request body is required")
    if not body.endswith(b"\n"):
        raise BulkError("illegal_argument_exception", "The bulk request "
                        "must be terminated by a newline [\\n]")
    lines = [ln[:-1] if ln.endswith(b"\r") else ln
             for ln in body[:-1].split(b"\n")]
    if len(lines) % 2:
        raise BulkError("illegal_argument_exception", "line [%d]: an "
                        "action line without a source line" % len(lines))
    items = []
    for i in range(0, len(lines), 2):
        action, _ = _json_line(lines[i], i + 1, "action")
        index, doc_id, pipeline = _parse_action(action, i + 1, target)
        doc, raw = _json_line(lines[i + 1], i + 2, "source")
        if not isinstance(doc, dict):
            raise BulkError("illegal_argument_exception", "source line [%d] "
                            "is not a JSON object" % (i + 2))
        ts = doc.get("@timestamp")
        if not isinstance(ts, str) or not ts:
            raise BulkError("illegal_argument_exception", "source line [%d]"
                            ": data stream timestamp field [@timestamp] is "
                            "missing or not a string" % (i + 2))
        items.append({"index": index, "id": doc_id, "pipeline": pipeline,
                      "doc": doc, "raw": raw})
    return items


def compile_filter_path(value):
    """The filter_path query value as a list of paths, each a list of
    compiled name patterns (None standing for "**")."""
    paths = []
    for p in value.split(","):
        p = p.strip()
        if p:
            paths.append([None if seg == "**" else re.compile(
                ".*".join(re.escape(s) for s in seg.split("*")))
                for seg in p.split(".")])
    return paths


def apply_filter_path(value, paths):
    """(filtered value, kept) of value under the compiled paths, as
    Elasticsearch's filter_path does: arrays are transparent and objects
    or arrays left empty are dropped."""
    if any(not p for p in paths):
        return value, True
    if isinstance(value, list):
        out = [v for v, keep in (apply_filter_path(x, paths)
                                 for x in value) if keep]
        return out, bool(out)
    if not isinstance(value, dict):
        return None, False
    out = {}
    for k, v in value.items():
        sub = _child_paths(paths, k)
        if sub:
            fv, keep = apply_filter_path(v, sub)
            if keep:
                out[k] = fv
    return out, bool(out)


def _child_paths(paths, key):
    out = []
    for p in paths:
        if p[0] is None:
            out.append(p)
            if len(p) == 1:
                out.append([])
            else:
                out.extend(_child_paths([p[1:]], key))
        elif p[0].fullmatch(key):
            out.append(p[1:])
    return out


class ItemFault(testserver.Fault):
    """Items for which match(index, id, doc) is true (every item when
    match is None) fail with status and error type/reason: each _id at
    most times times (None: always), at most count items in all (None:
    no limit)."""

    def __init__(self, status, error_type, reason, match, times, count):
        super().__init__(match, times, count)
        self.status = status
        self.error_type = error_type
        self.reason = reason or "scripted %s" % error_type


class _Handler(testserver.Handler):
    server_version = "es-test-server/1"

    # ---- helpers ----

    def _send(self, status, body, headers=()):
        """Send body (a JSON value, bytes, or None/"" for no body)."""
        if body is None or body == "" or body == b"":
            data, ctype = b"", None
        elif isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
            ctype = "application/json; charset=UTF-8"
        else:
            data = json.dumps(body, separators=(",", ":")).encode()
            ctype = "application/json; charset=UTF-8"
        return self._send_data(status, data, ctype, headers)

    def _server_headers(self):
        if self.server.owner.opensearch:
            return ()
        return (("X-Elastic-Product", "Elasticsearch"),)

    def _auth(self):
        """(scheme as sent or None, reason of refusal or None)."""
        es = self.server.owner
        h = self.headers.get("Authorization")
        scheme, _, cred = (h or "").strip().partition(" ")
        scheme = scheme or None
        if not es.api_keys and not es.users:
            return scheme, None
        if h is None:
            return None, ("missing authentication credentials for REST "
                          "request [%s]" % self.path)
        try:
            ident, sep, secret = base64.b64decode(
                cred.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return scheme, UNAUTHORIZED_REASON
        kind = scheme.lower()
        if sep and kind == "apikey" and (ident, secret) in es.api_keys:
            return scheme, None
        if sep and kind == "basic" and es.users.get(ident) == secret:
            return scheme, None
        if kind == "basic" and es.users:
            return scheme, ("unable to authenticate user [%s] for REST "
                            "request [%s]" % (ident, self.path))
        return scheme, UNAUTHORIZED_REASON

    def _unauthorized(self, reason):
        """Answer 401 as Elasticsearch does; return (sent, status)."""
        challenges = self.server.owner.challenges()
        body = es_error(401, "security_exception", reason,
                        header={"WWW-Authenticate": challenges})
        return self._send(401, body, [("WWW-Authenticate", c)
                                      for c in challenges]), 401

    def _entry(self, kind, url):
        """A new request log entry (appended to the log)."""
        fp = urllib.parse.parse_qs(url.query).get("filter_path")
        return self._log_request({
            "kind": kind, "t": time.monotonic(), "wall": time.time(),
            "method": self.command, "path": url.path, "query": url.query,
            "filter_path": fp[-1] if fp else None,
            "content_type": self.headers.get("Content-Type"),
            "content_encoding": self.headers.get("Content-Encoding"),
            "user_agent": self.headers.get("User-Agent"), "auth": None,
            "auth_ok": None, "bytes": 0, "body_bytes": None,
            "n_items": None, "statuses": [], "stored": 0})

    def _begin(self, kind, url):
        """Log the request, read its body and check its credential.
        Return (entry, body) when it may go on, (entry, None) when it was
        answered (401) or the connection is lost."""
        es = self.server.owner
        req = self._entry(kind, url)
        scheme, refused = self._auth()
        req["auth"] = scheme
        req["auth_ok"] = refused is None
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            self._finish(req, False, "aborted")
            return req, None
        req["bytes"] = len(body)
        if refused is not None:
            with es._lock:
                es.auth_failures += 1
            self._finish(req, *self._unauthorized(refused))
            return req, None
        return req, body

    def _finish(self, req, sent, status):
        es = self.server.owner
        with es._cond:
            req["status"] = status
            if sent:
                req["answered"] = time.monotonic()
            es.status_counts[status] += 1
            es._cond.notify_all()

    def _invalid(self, req, status, why, body):
        """Record invalid data and answer status with body."""
        self.server.owner._note_invalid(req, why)
        self._finish(req, self._send(status, body), status)

    # ---- methods ----

    def do_GET(self):
        es = self.server.owner
        url = urllib.parse.urlsplit(self.path)
        m = TEMPLATE_PATH_RE.fullmatch(url.path)
        kind = ("info" if url.path == "/" else "template" if m else
                "bulk" if BULK_PATH_RE.fullmatch(url.path) else "other")
        req, body = self._begin(kind, url)
        if body is None:
            return
        if kind == "info":
            st, obj = 200, es.info()
        elif kind == "template":
            name = urllib.parse.unquote(m.group(1))
            req["template"] = name
            if name in es.templates:
                st, obj = 200, {"index_templates": [{
                    "name": name, "index_template": {
                        "index_patterns": [name + "-*"],
                        "data_stream": {}}}]}
            else:
                st, obj = 404, es_error(
                    404, "resource_not_found_exception",
                    "index template matching [%s] not found" % name)
        elif kind == "bulk":
            st, obj = 405, {"error": "Incorrect HTTP method for uri [%s] "
                            "and method [GET], allowed: [POST, PUT]" %
                            self.path, "status": 405}
        else:
            st, obj = 400, {"error": "no handler found for uri [%s] and "
                            "method [GET]" % self.path, "status": 400}
        self._finish(req, self._send(st, obj), st)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        m = BULK_PATH_RE.fullmatch(url.path)
        req, body = self._begin("bulk" if m else "other", url)
        if body is None:
            return
        if m:
            target = m.group(1)
            self._bulk(req, body, target and urllib.parse.unquote(target))
            return
        self._finish(req, self._send(400, {
            "error": "no handler found for uri [%s] and method [%s]" %
            (self.path, self.command), "status": 400}), 400)

    do_PUT = do_POST

    def _bulk(self, req, raw, target):
        es = self.server.owner
        enc = (req["content_encoding"] or "").strip().lower()
        try:
            body = decode_body(raw, enc, es.max_content_length)
        except _TooLarge:
            self._finish(req, self._send(413, None), 413)
            return
        except BulkError as e:
            self._invalid(req, 400, e.reason, es_error(400, e.etype,
                                                       e.reason))
            return
        req["body_bytes"] = len(body)
        why = check_content_type(req["content_type"])
        if why is not None:
            self._invalid(req, 406, why, {"error": why, "status": 406})
            return
        if es.count_only:
            n = body.count(b"\n") // 2
            req["n_items"] = n
            with es._cond:
                es.counted += n
                es._cond.notify_all()
            self._delay()
            self._finish(req, self._send(200, {"errors": False}), 200)
            return
        if target is not None and index_name_problem(target):
            why = "invalid target [%s] in the path: %s" % (
                target, index_name_problem(target))
            self._invalid(req, 400, why, es_error(
                400, "invalid_index_name_exception", why))
            return
        try:
            items = parse_bulk(body, target)
        except BulkError as e:
            self._invalid(req, 400, e.reason, es_error(400, e.etype,
                                                       e.reason))
            return
        req["n_items"] = len(items)
        with es._lock:
            es.sent.update(it["id"] for it in items)
        rule, results, dropped = self._scripted(
            req, len(items), lambda: es._apply_items(req, items))
        if dropped:
            return
        if rule is not None:
            headers = rule.headers()
            if rule.status == 401:
                headers += [("WWW-Authenticate", c)
                            for c in es.challenges()]
            body = rule.body
            if body is None and rule.status != 413:
                etype, reason = STATUS_ERRORS.get(
                    rule.status, ("exception", "scripted error"))
                body = es_error(rule.status, etype, reason)
            self._finish(req, self._send(rule.status, body, headers),
                         rule.status)
            return
        answer = {"took": max(1, int((time.monotonic() - req["t"]) * 1000)),
                  "errors": any(r["create"]["status"] >= 300
                                for r in results),
                  "items": results}
        if req["filter_path"] is not None:
            answer = apply_filter_path(
                answer, compile_filter_path(req["filter_path"]))[0]
        self._finish(req, self._send(200, answer), 200)

class EsServer(testserver.Server):
    """The Elasticsearch test server; see the module docstring.
    certfile/keyfile: serve HTTPS (plain HTTP when None); client_ca:
    require client certificates signed by it; api_keys: (id, key) pairs
    accepted as ApiKey; users: {user: password} accepted as Basic (neither:
    no authentication); templates: names GET /_index_template/<name>
    finds; version and distribution ("opensearch" or None) for GET /;
    max_content_length: largest decoded bulk body; store_path: JSONL file
    of stored documents; tls_max_version: "1.2" to refuse TLS 1.3."""

    name = "es_server"
    handler = _Handler

    def __init__(self, certfile=None, keyfile=None, client_ca=None,
                 api_keys=(), users=None, templates=DEFAULT_TEMPLATES,
                 version="8.15.0", distribution=None,
                 max_content_length=100 * 1024 * 1024, store_path=None,
                 count_only=False, port=0, host="127.0.0.1",
                 tls_max_version=None, verbose=False):
        super().__init__(certfile, keyfile, client_ca, port, host,
                         tls_max_version, store_path, verbose)
        self.api_keys = {tuple(k) for k in api_keys}
        self.users = dict(users or {})
        self.templates = set(templates)
        self.version = version
        self.opensearch = distribution == "opensearch"
        self.max_content_length = max_content_length
        self.count_only = count_only
        self.reset_views()

    def _reset(self):
        """Forget what was seen, stored documents included (not the
        scripted rules)."""
        self.request_log = []
        self.store = {}
        self.sent = collections.Counter()
        self.outcomes = []
        self.seq_no = collections.Counter()
        self.item_status_counts = collections.Counter()
        self.auth_failures = 0
        self.counted = 0

    # ---- answers ----

    def info(self):
        """The GET / answer."""
        version = {"number": self.version, "build_flavor": "default",
                   "build_type": "docker", "build_snapshot": False,
                   "lucene_version": "9.11.1",
                   "minimum_wire_compatibility_version": "7.17.0",
                   "minimum_index_compatibility_version": "7.0.0"}
        if self.opensearch:
            version["distribution"] = "opensearch"
        return {"name": "node-1", "cluster_name": "sysmonfwd-test",
                "cluster_uuid": _uuid("sysmonfwd-test"), "version": version,
                "tagline": "You Know, for Search"}

    def challenges(self):
        """The WWW-Authenticate values of a 401."""
        out = []
        if self.users or not self.api_keys:
            out.append('Basic realm="security", charset="UTF-8"')
        if self.api_keys or not self.users:
            out.append("ApiKey")
        return out

    # ---- scripting (thread-safe) ----

    def fail_items(self, status, error_type, reason=None, match=None,
                   times=1, count=None):
        """Items for which match(index, id, doc) is true (None: every
        item) fail with this status and error (not stored): each distinct
        _id times times (None: forever), at most count items in all
        (None: unlimited).  Checked before the 409 of a stored _id."""
        with self._lock:
            self._faults.append(ItemFault(status, error_type, reason, match,
                                          times, count))

    # ---- bookkeeping used by the handler ----

    def _apply_items(self, req, items):
        """Create the items of req (item faults first, then 409 for a
        stored (_index, _id)); return the full-form response items."""
        with self._lock:
            faults = list(self._faults)
        # match() runs outside the lock: it may use the server's views.
        matched = [[f for f in faults if f.match is None or
                    f.match(it["index"], it["id"], it["doc"])]
                   for it in items]
        now, wall = time.monotonic(), time.time()
        results, stored = [], []
        with self._cond:
            for it, cands in zip(items, matched):
                index, doc_id = it["index"], it["id"]
                key = (index, doc_id)
                fault = next((f for f in cands if f.take(doc_id)), None)
                if fault is not None:
                    status, etype, reason = (fault.status, fault.error_type,
                                             fault.reason)
                elif key in self.store:
                    status, etype = 409, "version_conflict_engine_exception"
                    reason = ("[%s]: version conflict, document already "
                              "exists (current version [1])" % doc_id)
                else:
                    status = 201
                    entry = {"index": index, "id": doc_id, "doc": it["doc"],
                             "raw": it["raw"], "pipeline": it["pipeline"],
                             "request": req["n"], "received": wall,
                             "t": now}
                    self.store[key] = entry
                    stored.append(entry)
                    seq = self.seq_no[index]
                    self.seq_no[index] += 1
                    results.append({"create": {
                        "_index": index, "_id": doc_id, "_version": 1,
                        "result": "created", "_shards": {
                            "total": 2, "successful": 1, "failed": 0},
                        "_seq_no": seq, "_primary_term": 1,
                        "status": 201}})
                if status != 201:
                    results.append({"create": {
                        "_index": index, "_id": doc_id, "status": status,
                        "error": {"type": etype, "reason": reason,
                                  "index_uuid": _uuid(index), "shard": "0",
                                  "index": index}}})
                self.outcomes.append({
                    "request": req["n"], "index": index, "id": doc_id,
                    "status": status, "error": None if status == 201
                    else etype})
                self.item_status_counts[status] += 1
                req["statuses"].append(status)
            req["stored"] += len(stored)
            self._write_store([{k: e[k] for k in ("index", "id", "doc",
                                                  "request", "received")}
                               for e in stored])
            self._cond.notify_all()
        return results

    # ---- views (copies, thread-safe) ----

    def snapshot(self):
        """A consistent copy: (bulk request log, stored entries by
        (_index, _id), item outcomes)."""
        with self._lock:
            return ([dict(r, statuses=list(r["statuses"]))
                     for r in self.request_log if r["kind"] == "bulk"],
                    dict(self.store),
                    list(self.outcomes))

    def requests(self, kind="bulk"):
        """The request log entries of this kind ("bulk", "info",
        "template", "other"; None: all)."""
        with self._lock:
            return [dict(r, statuses=list(r["statuses"]))
                    for r in self.request_log
                    if kind is None or r["kind"] == kind]

    def docs(self):
        """{(_index, _id): document} of every stored document."""
        with self._lock:
            return {k: e["doc"] for k, e in self.store.items()}

    def stored(self):
        """{(_index, _id): entry} with the document ("doc"), its source
        line ("raw"), "pipeline", the request number ("request") and the
        receive times ("received": epoch, "t": monotonic)."""
        with self._lock:
            return dict(self.store)

    def stored_count(self):
        with self._lock:
            return len(self.store)

    def sent_counts(self):
        """Counter: _id -> how many times it came in a bulk request that
        passed authentication and parsing."""
        with self._lock:
            return collections.Counter(self.sent)

    def item_outcomes(self):
        """Every item outcome in order: dicts request, index, id, status,
        error (error type or None)."""
        with self._lock:
            return list(self.outcomes)

    def wait_docs(self, n, timeout):
        """Wait until at least n documents are stored."""
        return self.wait(lambda s: len(s.store) >= n, timeout)

    def _stats(self):
        """Its own counters (under the lock)."""
        reqs = self.request_log
        bulk = [r for r in reqs if r["kind"] == "bulk"]
        return {
            "requests": len(reqs),
            "bulk_requests": len(bulk),
            "gzip_requests": sum(
                1 for r in bulk if (r["content_encoding"] or "").strip()
                .lower() in ("gzip", "x-gzip")),
            "info_requests": sum(1 for r in reqs
                                 if r["kind"] == "info"),
            "template_requests": sum(1 for r in reqs
                                     if r["kind"] == "template"),
            "docs_stored": len(self.store),
            "items_counted": self.counted,
            "item_status_counts": {str(k): v for k, v in
                                   self.item_status_counts.items()},
            "auth_failures": self.auth_failures,
        }


# ---- self-test with the curl command-line tool ----


_curl = functools.partial(testserver.curl, ctype="application/x-ndjson")


def _ndjson(*docs, index="logs-windows.sysmon_operational-default"):
    """A bulk body creating docs, each (id, extra fields) or an id."""
    out = []
    for d in docs:
        doc_id, fields = d if isinstance(d, tuple) else (d, {})
        out.append(json.dumps({"create": {"_index": index, "_id": doc_id}}))
        out.append(json.dumps(dict({"@timestamp": "2024-05-01T10:00:00Z"},
                                   **fields)))
    return "\n".join(out) + "\n"


def self_test(verbose=False):
    """Check the server with curl; return a list of failures."""
    return testserver.SelfTest("es_server", verbose).run(_self_test)


def _self_test(selftest, tmp, pki):
    check = selftest.check

    def expect(res, status, what, etype=None):
        """res is HTTP status (and error type etype when given)."""
        rc, st, body, _ = res
        ok = rc == 0 and st == status
        if ok and etype is not None:
            ok = (isinstance(body, dict) and
                  body.get("error", {}).get("type") == etype and
                  body["error"]["root_cause"][0]["type"] == etype and
                  body.get("status") == status)
        check(ok, "%s: expected HTTP %s %s, got curl exit %s, HTTP %s, %r"
              % (what, status, etype or "", rc, st, body))
        return body

    def item_statuses(body):
        try:
            return [i["create"]["status"] for i in body["items"]]
        except (TypeError, KeyError):
            return body

    key_id, key = "kid-1", "key-secret-1"
    api = "Authorization: ApiKey " + base64.b64encode(
        ("%s:%s" % (key_id, key)).encode()).decode()
    basic = "Authorization: Basic " + base64.b64encode(
        b"elastic:changeme").decode()
    fp = "?filter_path=errors,items.*.error,items.*.status"
    store = os.path.join(tmp, "store.jsonl")
    s = EsServer(pki["server"], pki["server_key"], client_ca=pki["ca"],
                 api_keys=[(key_id, key)], users={"elastic": "changeme"},
                 store_path=store).start()
    try:
        # Cluster information, TLS and authentication.
        rc, st, body, head = _curl(s, pki, "/", headers=[api])
        check(st == 200 and body["version"]["number"] == "8.15.0" and
              body["version"]["build_flavor"] == "default" and
              body["tagline"] == "You Know, for Search" and
              "distribution" not in body["version"],
              "GET /: HTTP %s %r" % (st, body))
        check(re.search(r"(?im)^X-Elastic-Product: Elasticsearch\s*$",
                        head), "X-Elastic-Product header: %r" % head)
        rc, st, body, _ = _curl(s, pki, "/", headers=[api],
                                client=False)
        check(rc != 0 and st is None, "a client without certificate "
              "is refused (curl exit %s, HTTP %s)" % (rc, st))
        # The server's thread records the failed handshake after curl
        # has seen it fail: wait for it.
        check(sysmonfwd_it.wait_for(lambda: len(s.tls_failures) >= 1, 60),
              "the refused handshake is counted: %r" % s.tls_failures)
        res = _curl(s, pki, "/")
        body = expect(res, 401, "GET / without credentials",
                      "security_exception")
        check(re.search(r"(?im)^WWW-Authenticate: ApiKey\s*$", res[3])
              and re.search(r"(?im)^WWW-Authenticate: Basic ", res[3]),
              "WWW-Authenticate headers: %r" % res[3])
        check("missing authentication credentials" in
              str(body.get("error", {}).get("reason")),
              "401 reason: %r" % (body,))
        wrong_key = "Authorization: ApiKey " + base64.b64encode(
            ("%s:nope" % key_id).encode()).decode()
        body = expect(_curl(s, pki, "/_bulk", _ndjson("w1"),
                            [wrong_key]), 401, "wrong API key",
                      "security_exception")
        check(body.get("error", {}).get("reason", "").startswith(
            "unable to authenticate"), "401 reason: %r" % (body,))
        expect(_curl(s, pki, "/_bulk", _ndjson("w1"),
                     ["Authorization: Basic " + base64.b64encode(
                         b"elastic:wrong").decode()]),
               401, "wrong password", "security_exception")
        expect(_curl(s, pki, "/_bulk", _ndjson("w1"),
                     ["Authorization: Bearer abc"]), 401,
               "an unknown scheme", "security_exception")
        check(s.auth_failures == 4 and s.stored_count() == 0,
              "auth failures counted (%d), nothing stored" %
              s.auth_failures)
        # Bulk: filter_path shape, full form, 409, gzip.
        body = expect(_curl(s, pki, "/_bulk" + fp, _ndjson("a", "b"),
                            [api]), 200, "ApiKey bulk")
        check(body == {"errors": False, "items": [
            {"create": {"status": 201}}, {"create": {"status": 201}}]},
            "filter_path answer: %r" % (body,))
        last = s.requests()[-1]
        check(last["auth"] == "ApiKey" and last["auth_ok"] and
              last["query"] == fp[1:] and last["filter_path"] ==
              "errors,items.*.error,items.*.status" and
              last["statuses"] == [201, 201] and last["status"] == 200
              and last["content_type"] == "application/x-ndjson",
              "request log: %r" % last)
        check(key not in repr(s.requests(None)) and api.split()[-1]
              not in repr(s.requests(None)),
              "no credential in the request log")
        body = expect(_curl(s, pki, "/_bulk", _ndjson("c", "a"),
                            [basic], ctype="application/json; "
                            "charset=UTF-8"), 200,
                      "Basic bulk, full form, a resent _id")
        check(body.get("errors") is True and isinstance(
            body.get("took"), int) and item_statuses(body) == [201, 409],
            "full form with a 409: %r" % (body,))
        c0, c1 = body["items"][0]["create"], body["items"][1]["create"]
        check(c0["_index"] == "logs-windows.sysmon_operational-default"
              and c0["_id"] == "c" and c0["_version"] == 1 and
              c0["result"] == "created", "created item: %r" % c0)
        check(c1["error"] == {
            "type": "version_conflict_engine_exception",
            "reason": "[a]: version conflict, document already exists "
            "(current version [1])", "index_uuid": c1["error"].get(
                "index_uuid"), "shard": "0",
            "index": "logs-windows.sysmon_operational-default"},
            "409 item: %r" % c1)
        check(s.requests()[-1]["auth"] == "Basic", "Basic recorded")
        check(s.sent_counts() == {"a": 2, "b": 1, "c": 1},
              "sent counts: %r" % s.sent_counts())
        body = expect(_curl(s, pki, "/_bulk" + fp, _ndjson(
            ("g1", {"x": "é"}), "g2"), [api], gz=True), 200,
            "gzip body")
        check(item_statuses(body) == [201, 201] and
              s.docs()[("logs-windows.sysmon_operational-default",
                        "g1")]["x"] == "é", "gzip body stored")
        check(s.stats()["gzip_requests"] == 1 and
              s.requests()[-1]["content_encoding"] == "gzip",
              "gzip request recorded")
        body = expect(_curl(s, pki, "/logs-sysmon_linux.log-default/"
                            "_bulk" + fp, '{"create":{"_id":"t1"}}\n'
                            '{"@timestamp":"2024-01-01T00:00:00Z"}\n',
                            [api]), 200, "target in the path")
        check(("logs-sysmon_linux.log-default", "t1") in s.docs(),
              "_index from the path: %r" % list(s.docs()))
        body = expect(_curl(s, pki, "/_bulk?filter_path=items.*._id,"
                            "took", _ndjson("f1"), [api]), 200,
                      "generic filter_path")
        check(set(body) == {"took", "items"} and
              body["items"] == [{"create": {"_id": "f1"}}],
              "generic filter_path answer: %r" % (body,))
        body = expect(_curl(s, pki, "/_bulk?filter_path=**.result",
                            _ndjson("f2"), [api]), 200,
                      "filter_path with **")
        check(body == {"items": [{"create": {"result": "created"}}]},
              "** filter_path answer: %r" % (body,))
        check(s.wait_docs(8, 1) and s.stored_count() == 8,
              "8 documents stored: %d" % s.stored_count())
        # Invalid bodies: whole-request errors, nothing stored.
        n0, inv0 = s.stored_count(), len(s.invalid)
        ok_line = '{"create":{"_index":"logs-x","_id":"v1"}}\n'
        src = '{"@timestamp":"2024-01-01T00:00:00Z"}\n'
        for body, etype, what in (
                (ok_line + src.rstrip("\n"),
                 "illegal_argument_exception", "no final newline"),
                ('{"index":{"_index":"logs-x","_id":"v1"}}\n' + src,
                 "illegal_argument_exception", "an index action"),
                ('{"create":{"_index":"logs-x","_id":"v1",'
                 '"_id":"v2"}}\n' + src, "x_content_parse_exception",
                 "a duplicate key in the action"),
                ('{"create":{"_index":"logs-x","_id":"v1"},'
                 '"index":{}}\n' + src, "illegal_argument_exception",
                 "two actions on a line"),
                (ok_line + '{"@timestamp":"2024","a":1,"a":2}\n',
                 "x_content_parse_exception",
                 "a duplicate key in the source"),
                (ok_line + '{"@timestamp":"2024","n":{"m":1,"m":1}}\n',
                 "x_content_parse_exception", "a nested duplicate key"),
                (ok_line + '{"@timestamp":"2024","a":NaN}\n',
                 "x_content_parse_exception", "NaN"),
                (ok_line + '{"a":1}\n', "illegal_argument_exception",
                 "no @timestamp"),
                (ok_line + '{"@timestamp":5}\n',
                 "illegal_argument_exception", "a number @timestamp"),
                (ok_line + "\n" + ok_line + src,
                 "illegal_argument_exception", "an empty line"),
                (ok_line, "illegal_argument_exception",
                 "no source line"),
                ('{"create":{"_index":"logs-x","_id":"v1","x":1}}\n' +
                 src, "illegal_argument_exception", "an unknown key"),
                ('{"create":{"_index":"logs-x"}}\n' + src,
                 "illegal_argument_exception", "no _id"),
                ('{"create":{"_index":"logs-x","_id":""}}\n' + src,
                 "illegal_argument_exception", "an empty _id"),
                ('{"create":{"_index":"logs-x","_id":"%s"}}\n' %
                 ("i" * 513) + src, "illegal_argument_exception",
                 "a 513-byte _id"),
                ('{"create":{"_id":"v1"}}\n' + src,
                 "illegal_argument_exception", "no _index"),
                ('{"create":{"_index":"Logs-X","_id":"v1"}}\n' + src,
                 "illegal_argument_exception", "an upper-case index"),
                ('{"create":{"_index":"logs-x","_id":"v1"}}{}\n' + src,
                 "x_content_parse_exception", "two objects on a line"),
                ("", "parse_exception", "an empty body")):
            res = expect(_curl(s, pki, "/_bulk" + fp, body, [api]), 400,
                         what, etype)
        check("The bulk request must be terminated by a newline [\\n]"
              in s.invalid[inv0], "newline reason: %r" %
              s.invalid[inv0])
        check(len(s.invalid) == inv0 + 19 and s.stored_count() == n0,
              "invalid bodies recorded (%d), nothing stored" %
              (len(s.invalid) - inv0))
        body = expect(_curl(s, pki, "/_bulk", _ndjson("v3"), [api],
                            ctype="text/plain"), 406,
                      "a text/plain Content-Type")
        check(body == {"error": "Content-Type header [text/plain] is "
                       "not supported", "status": 406}, "406: %r" %
              (body,))
        expect(_curl(s, pki, "/_bulk", _ndjson("v3"), [api],
                     ctype=None), 406, "no Content-Type")
        check(s.stored_count() == n0 and len(s.invalid) == inv0 + 21,
              "Content-Type refusals recorded")
        # Item faults.
        s.fail_items(429, "es_rejected_execution_exception")
        body = expect(_curl(s, pki, "/_bulk" + fp, _ndjson("r1", "r2"),
                            [api]), 200, "429 items")
        check(body.get("errors") is True and item_statuses(body) ==
              [429, 429] and body["items"][0]["create"]["error"][
                  "type"] == "es_rejected_execution_exception" and
              set(body["items"][0]["create"]) == {"status", "error"},
              "429 items with filter_path: %r" % (body,))
        body = expect(_curl(s, pki, "/_bulk" + fp,
                            _ndjson("r1", "r2", "r3"), [api]), 200,
                      "429 once per _id")
        check(item_statuses(body) == [201, 201, 429],
              "429 once per _id: %r" % (body,))
        s.clear_rules()
        s.fail_items(400, "document_parsing_exception",
                     "[1:2] failed to parse", times=None,
                     match=lambda i, d, doc: doc.get("bad") is True)
        s.fail_items(500, "internal_server_error", count=1)
        for _ in range(2):
            body = expect(_curl(s, pki, "/_bulk" + fp, _ndjson(
                ("p1", {"bad": True}), "p2", "p3"), [api]), 200,
                "permanent and counted item faults")
        check(item_statuses(body) == [400, 201, 409],
              "400 forever, 500 once in all: %r" % (body,))
        check([o["status"] for o in s.item_outcomes()[-6:]] ==
              [400, 500, 201, 400, 201, 409] and
              s.item_outcomes()[-6]["error"] ==
              "document_parsing_exception", "item outcomes: %r" %
              s.item_outcomes()[-6:])
        s.clear_rules()
        # Whole-request answers, drops, delay.
        n0 = s.stored_count()
        s.answer_next(1, 429, retry_after=3)
        res = _curl(s, pki, "/_bulk" + fp, _ndjson("q1"), [api])
        expect(res, 429, "scripted 429",
               "es_rejected_execution_exception")
        check(re.search(r"(?im)^Retry-After: 3\s*$", res[3]),
              "Retry-After header: %r" % res[3])
        s.answer_next(1, 503)
        expect(_curl(s, pki, "/_bulk" + fp, _ndjson("q1"), [api]), 503,
               "scripted 503", "unavailable_shards_exception")
        s.answer_next(1, 413, min_items=2)
        expect(_curl(s, pki, "/_bulk" + fp, _ndjson("q1"), [api]), 200,
               "413 rule waits for 2 items")
        res = _curl(s, pki, "/_bulk" + fp, _ndjson("q2", "q3"), [api])
        check(res[1] == 413 and res[2] == "", "scripted 413: %r" %
              (res[:3],))
        s.answer_next(1, 401)
        expect(_curl(s, pki, "/_bulk" + fp, _ndjson("q2"), [api]), 401,
               "scripted 401", "security_exception")
        check(s.stored_count() == n0 + 1, "scripted answers store "
              "nothing")
        s.drop_next(1, store=True)
        rc, st, body, _ = _curl(s, pki, "/_bulk" + fp, _ndjson("d1"),
                                [api])
        check(rc == 52 and s.stored_count() == n0 + 2 and
              s.requests()[-1]["status"] == "dropped",
              "drop after storing: curl exit %s (52 expected)" % rc)
        body = expect(_curl(s, pki, "/_bulk" + fp, _ndjson("d1"),
                            [api]), 200, "resend after the drop")
        check(item_statuses(body) == [409], "resend after the drop "
              "is a 409: %r" % (body,))
        s.drop_next(1)
        rc, st, body, _ = _curl(s, pki, "/_bulk" + fp, _ndjson("d2"),
                                [api])
        check(rc == 52 and s.stored_count() == n0 + 2,
              "drop without storing: curl exit %s" % rc)
        # fail_for on the rule clock, faked here: no wall-clock window
        # that a slow curl could miss on a loaded machine.
        fake = [time.monotonic()]
        s.clock = lambda: fake[0]
        s.fail_for(0.5, 500)
        expect(_curl(s, pki, "/_bulk" + fp, _ndjson("d2"), [api]), 500,
               "fail_for")
        fake[0] += 0.6
        expect(_curl(s, pki, "/_bulk" + fp, _ndjson("d2"), [api]), 200,
               "fail_for expired")
        s.clock = time.monotonic
        s.set_delay(1.0)
        t = time.monotonic()
        expect(_curl(s, pki, "/_bulk" + fp, _ndjson("d3"), [api]), 200,
               "delayed")
        check(time.monotonic() - t >= 1.0, "the answer was delayed")
        s.set_delay(0)
        # Templates, keep-alive, other paths, restart.
        expect(_curl(s, pki, "/_index_template/logs-windows."
                     "sysmon_operational", headers=[basic]), 200,
               "known template")
        body = expect(_curl(s, pki, "/_index_template/logs-sysmon_"
                            "linux.log", headers=[api]), 200,
                      "known Linux template")
        check(body["index_templates"][0]["index_template"] == {
            "index_patterns": ["logs-sysmon_linux.log-*"],
            "data_stream": {}}, "template answer: %r" % (body,))
        body = expect(_curl(s, pki, "/_index_template/logs-nope",
                            headers=[api]), 404, "unknown template",
                      "resource_not_found_exception")
        check(body["error"]["reason"] == "index template matching "
              "[logs-nope] not found", "404 reason: %r" % (body,))
        expect(_curl(s, pki, "/_index_template/logs-nope"), 401,
               "template without credentials", "security_exception")
        check([r["template"] for r in s.requests("template")
               if r["status"] != 401] ==
              ["logs-windows.sysmon_operational",
               "logs-sysmon_linux.log", "logs-nope"],
              "template requests recorded")
        c0 = s.connections
        rc, st, body, head = _curl(s, pki, "/", headers=[api], extra=[
            "--next", "--cacert", pki["ca"], "--cert", pki["client"],
            "--key", pki["client_key"], "-H", api, s.url + "/"])
        check(rc == 0 and s.connections == c0 + 1,
              "keep-alive: %d connections for 2 requests" %
              (s.connections - c0))
        expect(_curl(s, pki, "/_search", "{}", [api]), 400,
               "unknown path")
        expect(_curl(s, pki, "/_bulk", headers=[api]), 405,
               "GET /_bulk")
        port = s.port
        s.stop()
        rc, st, _, _ = _curl(s, pki, "/", headers=[api])
        check(rc == 7, "stopped: connection refused (curl exit %s)" % rc)
        s.start()
        check(s.port == port, "restarted on the same port")
        expect(_curl(s, pki, "/", headers=[api]), 200,
               "GET / after restart")
        lines = open(store).read().splitlines()
        check(len(lines) == s.stored_count() and
              json.loads(lines[0])["id"] == "a",
              "store file: %d lines for %d documents" %
              (len(lines), s.stored_count()))
        st = s.stats()
        check(st["item_status_counts"].get("409", 0) >= 3 and
              st["status_counts"].get("400", 0) >= 18 and
              st["auth_failures"] == 5 and not s.errors,
              "counters: %r, errors %r" % (st, s.errors))
    finally:
        s.close()
    # Plain HTTP, no authentication, OpenSearch, a small
    # max_content_length.
    o = EsServer(distribution="opensearch", version="2.11.0",
                 max_content_length=300).start()
    try:
        rc, st, body, head = _curl(o, pki, "/")
        check(st == 200 and body["version"]["distribution"] ==
              "opensearch" and body["version"]["number"] == "2.11.0" and
              "X-Elastic-Product" not in head,
              "OpenSearch GET / without auth: %r" % (body,))
        body = expect(_curl(o, pki, "/_bulk" + fp, _ndjson("z1"),
                            ["Authorization: ApiKey eDp5"]), 200,
                      "no auth configured: any credential passes")
        check(o.requests()[-1]["auth"] == "ApiKey", "scheme recorded "
              "without auth")
        big = _ndjson(*["big%d" % i for i in range(6)])
        res = _curl(o, pki, "/_bulk" + fp, big)
        check(len(big) > 300 and res[1] == 413 and res[2] == "" and
              re.search(r"(?im)^Content-Length: 0\s*$", res[3]),
              "413 with an empty body: %r" % (res[1:],))
        res = _curl(o, pki, "/_bulk" + fp, big, gz=True)
        check(len(gzip.compress(big.encode())) < 300 and res[1] == 413,
              "413 is checked after decompression: %r" % (res[1:3],))
        check(o.stored_count() == 1 and not o.invalid,
              "413 stores nothing and is not invalid data")
    finally:
        o.close()
    # TLS 1.2 at most.
    expect(selftest.tls12(EsServer, pki), 200, "tls 1.2 client")
    # Counting mode.
    c = EsServer(count_only=True).start()
    try:
        body = expect(_curl(c, pki, "/_bulk" + fp, _ndjson(
            "a", "b", "c"), gz=True), 200, "count mode")
        check(body == {"errors": False} and c.counted == 3 and
              not c.stored(), "counted %d: %r" % (c.counted, body))
    finally:
        c.close()


def main():
    ap = testserver.arg_parser("Elasticsearch _bulk test server")
    ap.add_argument("--api-key", action="append", default=[],
                    metavar="ID:KEY", help="accepted API key (repeat)")
    ap.add_argument("--user", action="append", default=[],
                    metavar="USER:PASSWORD", help="accepted user (repeat)")
    ap.add_argument("--template", action="append", default=None,
                    help="known index template (repeat); default: the "
                    "Windows and Linux Sysmon ones")
    ap.add_argument("--version", default="8.15.0", dest="es_version")
    ap.add_argument("--opensearch", action="store_true")
    ap.add_argument("--max-content-length", type=int,
                    default=100 * 1024 * 1024)
    ap.add_argument("--jsonl", help="append stored documents to this file")
    ap.add_argument("--count-only", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        testserver.self_test_main("es_server", self_test, a.verbose)
    for v in a.api_key + a.user:
        if ":" not in v:
            ap.error("--api-key and --user take name:secret")
    testserver.serve(EsServer(
        a.cert, a.key, client_ca=a.client_ca,
        api_keys=[v.split(":", 1) for v in a.api_key],
        users=dict(v.split(":", 1) for v in a.user),
        templates=(DEFAULT_TEMPLATES if a.template is None
                   else a.template),
        version=a.es_version,
        distribution="opensearch" if a.opensearch else None,
        max_content_length=a.max_content_length, store_path=a.jsonl,
        count_only=a.count_only, port=a.port, verbose=a.verbose), a.delay)


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    main()
