"""A Wazuh server API test server, standard library only.

Not a test itself: the Wazuh output tests import it, and it runs as a
script too (python3 wazuh_server.py --help; --self-test checks the server
itself with the curl command-line tool).  It answers like the Wazuh 4.14
server API (the manager's port 55000) as described in
../shared/docs/PROTOCOLS.md section 3.1, over HTTPS (or plain HTTP when no
certificate is given) with HTTP/1.1 keep-alive, bound to 127.0.0.1 on an
ephemeral port (or a chosen one, so that a test can stop it and start it
again on the same port).  Every request goes through the same steps as in
Wazuh, in this order:

- Rate limits, as Wazuh 4.14's CheckRateLimitsMiddleware (before anything
  else, so every request counts, refused ones included): fixed 60-second
  windows kept by counters.  Every request counts toward
  general_per_minute; a request to /events also counts toward the /events
  limit, min(events_per_minute, general_per_minute).  A window starts at
  the first request and the counter restarts at 0 (not 1) with the first
  request after it ended, so every window after the first lets limit + 1
  requests through, as in Wazuh.  For /events only the /events verdict
  counts (Wazuh overwrites the general one), so /events is refused 429
  code 6005 only; other paths 429 code 6001.  general_per_minute = 0
  turns both off, events_per_minute = 0 the /events one.
- Expect: an "Expect: 100-continue" with a Content-Length above
  max_upload_size, or any other Expect value, is answered 417.
- Routing: unknown paths 404 {"title":"Not Found","detail":"404: Not
  Found"} and wrong methods 405, before any credential check.  With a
  version 5 (version="v5.0.0") POST /events is such a 404 (the endpoint
  was removed in Wazuh 5.0); it is counted in v5_not_found.
- POST /security/user/authenticate with HTTP Basic: a valid user and
  password gets 200 {"data":{"token":"<JWT>"},"error":0}, or the bare
  token as text/plain with ?raw=true; otherwise 401 {"title":
  "Unauthorized","detail":"Invalid credentials"}.  Brute-force guard as
  Wazuh's: after max_login_attempts failed logins from an address
  (counted from the first failure) every login from it is answered 403
  Permission Denied until block_time seconds have passed since that
  first failure.  The JWT is a real HS256 JWT (Wazuh signs ES512; HS256
  keeps this standard library only) with Wazuh's claims: iss "wazuh", aud
  "Wazuh API REST", nbf (the issue time), exp = nbf + token_lifetime,
  sub, run_as false, rbac_roles [1], rbac_mode "white".
- Every other endpoint needs "Authorization: Bearer <JWT>": none (or
  another scheme) is answered 401 "No authorization token provided"
  (reason "missing"); a bad signature, claims or unknown user 401 "Invalid
  token" (reason "invalid"); an expired token (the server clock has
  reached exp), a token revoked by expire_tokens() or one whose lifetime
  is no longer the configured one (Wazuh revokes those too) 401 "Invalid
  token" (reason "expired").
- GET / answers the API information (title "Wazuh API REST",
  api_version and revision from version, license, hostname, timestamp).
- POST /events (Wazuh 4.6 to 4.14): a body larger than max_upload_size is
  answered 413; a Content-Type other than application/json (parameters
  such as charset allowed) 406 with code 6002; a body that is not JSON,
  not an object, without "events", with "events" not an array or an item
  that is not a string 400 Bad Request; more than max_events items 400
  "Events bulk size exceeded".  Each of these is recorded in the invalid
  list (the agent must never send them).  Otherwise each event is
  "forwarded to analysisd" in order: one longer than max_event_bytes UTF-8
  bytes fails with Wazuh error 1012 (the datagram "1:API-Webhook:<event>"
  would exceed 65535 bytes), as do events chosen by fail_events(); the
  others are stored.  The answer is 200 with Wazuh's
  AffectedItemsWazuhResult: affected_items (the stored event strings),
  total_affected_items, total_failed_items, failed_items grouped by error
  (sorted by code; ids are the failed event strings, each once, sorted),
  message "All / Some / No events were forwarded to analisysd" (sic) and
  error 0 / 2 / 1.  An event that cannot be encoded as UTF-8 (a lone
  surrogate) is answered 500 after the events before it were stored, as
  Wazuh would.
- Scripted faults for /events, settable at any time from another thread
  and applied to valid requests only: answer the next K requests (or every
  one for some seconds) with a status (and Wazuh's error body for it),
  optionally with Retry-After; drop the connection without an answer,
  after storing the events or not ("stored but the answer was lost");
  delay every answer by D seconds (the events are stored before the
  delay); make chosen events fail in failed_items; revoke every token
  issued so far (a forced re-login); change a password; move the server
  clock (tokens expire without waiting).

Everything the server saw is kept for the test: the request log (kind,
method, path, query, Content-Type, authorization scheme but never the
secret, the user, the issue time of the token used, the number of events,
stored and failed events, the rule applied, the status and Wazuh error
code, the answer time), the accepted events in order with how many times
each was accepted, the failed events, logins, 401s with their reason,
429s, blocked logins, /events request times (and the most /events
requests seen in any 60 seconds), counters per status, TLS handshake
failures and invalid data found.
"""
import base64
import collections
import functools
import hashlib
import hmac
import http
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it  # noqa: E402  (wait_for)
import testserver  # noqa: E402

MSG_HEADER = "1:API-Webhook:"
MAX_MSG_SIZE = 65535
LOGIN_PATH = "/security/user/authenticate"
EVENTS_PATH = "/events"
JWT_ISSUER = "wazuh"
JWT_AUDIENCE = "Wazuh API REST"
JSON_TYPE = "application/json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
ALL_MSG = "All events were forwarded to analisysd"
SOME_MSG = "Some events were forwarded to analisysd"
NONE_MSG = "No events were forwarded to analisysd"
BLOCKED_DETAIL = ("Limit of login attempts reached. The current IP has been "
                  "blocked due to a high number of login attempts")
RATE_MSG = "Maximum number of requests per minute reached"
RATE_6001_REMEDIATION = (
    "This limit can be changed in the api.yaml file. More information "
    "here: https://documentation.wazuh.com/4.14/user-manual/api/"
    "configuration.html#configuration-file")

# Wazuh error code -> (message, remediation or None), for failed items.
WAZUH_ERRORS = {
    1000: ("Wazuh Internal Error",
           "Please, check `WAZUH_HOME/logs/ossec.log`, "
           "`WAZUH_HOME/logs/cluster.log` and `WAZUH_HOME/logs/api.log` to "
           "get more information about the error"),
    1010: ("Unable to connect to queue", None),
    1011: ("Error communicating with queue", None),
    1012: ("Invalid message to queue", None),
    1014: ("Error communicating with socket",
           "Please, restart Wazuh to restore sockets"),
}


def _phrase(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(title, detail=None, **ext):
    """A Wazuh error body: title, detail (left out when None), then the
    extra fields (remediation, error...)."""
    body = {"title": title}
    if detail is not None:
        body["detail"] = detail
    body.update(ext)
    return body


def wazuh_error_message(code, extra=None):
    """Wazuh's message for error code, with extra appended as
    WazuhException does ("<message>: <extra>")."""
    msg = WAZUH_ERRORS.get(code, ("Wazuh error %d" % code, None))[0]
    return "%s: %s" % (msg, extra) if extra else msg


def default_body(status):
    """Wazuh's error body for a scripted whole-request status."""
    if status == 400:
        return problem("Bad Request", "scripted bad request")
    if status == 401:
        return problem("Unauthorized", "Invalid token")
    if status == 403:
        return problem("Permission Denied", "Permission denied: Resource "
                       "type: *:*", remediation="Please, make sure you have "
                       "permissions to execute the current request",
                       error=4000)
    if status == 413:
        return problem("Content size exceeded.", "Maximum content size "
                       "limit (10485760) exceeded")
    if status == 429:
        return problem("Too Many Requests", RATE_MSG, error=6005)
    if status == 500:
        return problem("Wazuh Internal Error", WAZUH_ERRORS[1000][0],
                       remediation=WAZUH_ERRORS[1000][1], error=1000)
    return problem(_phrase(status), "%d: %s" % (status, _phrase(status)))


# ---- JWT (HS256) ----


def _b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64u_decode(text):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(claims, secret):
    """An HS256 JWT of claims (a dict) signed with secret (bytes)."""
    head = _b64u(json.dumps({"alg": "HS256", "typ": "JWT"},
                            separators=(",", ":")).encode())
    body = _b64u(json.dumps(claims, separators=(",", ":")).encode())
    signing = ("%s.%s" % (head, body)).encode("ascii")
    sig = hmac.new(secret, signing, hashlib.sha256).digest()
    return "%s.%s.%s" % (head, body, _b64u(sig))


def jwt_claims(token, secret=None):
    """The claims of token (a dict), or None when it is not a JWT or, when
    secret is given, when it is not an HS256 JWT signed with it."""
    try:
        head, body, sig = token.split(".")
        header = json.loads(_b64u_decode(head))
        claims = json.loads(_b64u_decode(body))
        raw_sig = _b64u_decode(sig)
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    if secret is not None:
        if header.get("alg") != "HS256":
            return None
        want = hmac.new(secret, ("%s.%s" % (head, body)).encode("ascii"),
                        hashlib.sha256).digest()
        if not hmac.compare_digest(want, raw_sig):
            return None
    return claims


def parse_version(version):
    """(major, minor, patch) of "v4.14.7" or "4.14.7"."""
    nums = [int(n) for n in re.findall(r"\d+", version)[:3]]
    return tuple(nums + [0] * (3 - len(nums)))


class EventFault(testserver.Fault):
    """Events for which match(event) is true (every event when match is
    None) fail with Wazuh error code/message/remediation: each distinct
    event string at most times times (None: always), at most count events
    in all (None: no limit)."""

    def __init__(self, match, code, message, remediation, times, count,
                 rename=None):
        super().__init__(match, times, count)
        self.rename = rename    # the id the answer gives instead of event
        self.code = code
        dflt_msg, dflt_rem = WAZUH_ERRORS.get(code, (None, None))
        self.message = message if message is not None else (
            dflt_msg or "scripted error %d" % code)
        self.remediation = (remediation if remediation is not None
                            else dflt_rem)


class _Handler(testserver.Handler):
    server_version = "Wazuh"
    _expect_refused = False

    # ---- connection ----

    def version_string(self):
        return "Wazuh"

    def handle_expect_100(self):
        n = self._content_length()
        if n is not None and n > self.server.owner.max_upload_size:
            # Wazuh's CheckExpectHeaderMiddleware: 417, no 100 Continue.
            self._expect_refused = True
            return True
        return super().handle_expect_100()

    # ---- helpers ----

    def _content_length(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return None
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return n if n >= 0 else None

    def _send(self, status, body, ctype=None, headers=()):
        """Send body: a JSON value (Content-Type JSON, or ctype), str or
        bytes (ctype, default text/plain), or None for no body."""
        if body is None:
            data = b""
        elif isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
            ctype = ctype or TEXT_TYPE
        else:
            data = json.dumps(body).encode()
            ctype = ctype or JSON_TYPE
        return self._send_data(status, data, ctype, headers)

    def _answer(self, req, status, body, ctype=None, headers=()):
        """Send and finish req; error bodies (dicts with a title) go as
        application/problem+json."""
        if ctype is None and isinstance(body, dict) and "title" in body:
            ctype = PROBLEM_TYPE
        sent = self._send(status, body, ctype, headers)
        code = body.get("error") if isinstance(body, dict) else None
        self._finish(req, sent, status, code)

    def _finish(self, req, sent, status, code=None):
        wz = self.server.owner
        now = time.monotonic()
        with wz._cond:
            req["status"] = status
            req["code"] = code
            if sent:
                req["answered"] = now
            wz.status_counts[status] += 1
            if status == 429:
                wz.rate_limit_log.append({
                    "t": now, "request": req["n"], "path": req["path"],
                    "code": code, "scripted": req["rule"] is not None})
            wz._cond.notify_all()

    def _entry(self, kind, url, t0):
        h = self.headers.get("Authorization")
        return self._log_request({
            "kind": kind, "t": t0, "wall": time.time(),
            "method": self.command, "path": url.path, "query": url.query,
            "content_type": self.headers.get("Content-Type"),
            "user_agent": self.headers.get("User-Agent"),
            "auth": (h.strip().partition(" ")[0] or None) if h else None,
            "user": None, "token_issued": None, "token_status": None,
            "bytes": 0, "n_events": None, "stored": 0, "failed": 0})

    def _invalid(self, req, status, why, body):
        self.server.owner._note_invalid(req, why)
        self._answer(req, status, body)

    def _unauthorized(self, req, reason, body):
        wz = self.server.owner
        with wz._lock:
            wz.unauthorized_log.append((time.monotonic(), reason))
        self._answer(req, 401, body)

    # ---- dispatch ----

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _dispatch(self):
        wz = self.server.owner
        t0 = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        kind = {"/": "info", LOGIN_PATH: "auth",
                EVENTS_PATH: "events"}.get(path, "other")
        req = self._entry(kind, url, t0)
        expect_refused, self._expect_refused = self._expect_refused, False
        limited = wz._rate_check(path, t0)
        if expect_refused:
            # No 100 Continue was sent: answer without reading the body.
            self.close_connection = True
            if limited:
                self._answer(req, 429, wz._too_many(limited))
            else:
                self._answer(req, 417, problem(
                    "Expectation failed", "Unknown Expect", error=417))
            return
        try:
            body, size = self._read_body_sized(wz.max_upload_size)
        except (OSError, ValueError):
            self.close_connection = True
            self._finish(req, False, "aborted")
            return
        req["bytes"] = size
        if limited:
            self._answer(req, 429, wz._too_many(limited))
            return
        expect = self.headers.get("Expect")
        if expect is not None and expect.strip().lower() != "100-continue":
            self._answer(req, 417, problem("Expectation failed",
                                           "Unknown Expect", error=417))
            return
        # Routing (before any credential check, as connexion does).
        allowed = {"info": "GET", "auth": "POST", "events": "POST"}
        if kind == "other" or (kind == "events" and wz.v5):
            if kind == "events":
                with wz._lock:
                    wz.v5_not_found += 1
            self._answer(req, 404, problem("Not Found", "404: Not Found"))
            return
        if self.command != allowed[kind]:
            self._answer(req, 405, problem(
                "Method Not Allowed", "405: Method Not Allowed"))
            return
        if kind == "auth":
            self._login(req, url)
            return
        reason, claims = wz._check_bearer(self.headers.get("Authorization"))
        if claims is not None:
            req["user"] = claims.get("sub")
            req["token_issued"] = claims.get("nbf")
        req["token_status"] = reason or "valid"
        if reason is not None:
            self._unauthorized(req, reason, problem(
                "Unauthorized", "No authorization token provided"
                if reason == "missing" else "Invalid token"))
            return
        if kind == "info":
            self._answer(req, 200, wz.info())
            return
        self._events(req, body, size)

    # ---- login ----

    def _login(self, req, url):
        wz = self.server.owner
        host = self.client_address[0]
        user, password = None, None
        h = self.headers.get("Authorization") or ""
        scheme, _, cred = h.strip().partition(" ")
        if scheme.lower() == "basic":
            try:
                raw = base64.b64decode(cred.strip(), validate=True)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("latin-1")
                u, sep, p = text.partition(":")
                if sep:
                    user, password = u, p
            except ValueError:
                pass
        req["user"] = user
        q = urllib.parse.parse_qs(url.query)
        as_raw = (q.get("raw") or ["false"])[-1].lower() == "true"
        entry = {"t": req["t"], "wall": req["wall"], "user": user,
                 "ok": False, "status": None, "raw": as_raw,
                 "request": req["n"]}
        if wz._login_blocked(host):
            entry["status"] = 403
            with wz._lock:
                wz.login_log.append(entry)
                wz.blocked_log.append(req["t"])
            self._answer(req, 403, problem("Permission Denied",
                                           BLOCKED_DETAIL))
            return
        with wz._lock:
            known = wz.users.get(user) if user is not None else None
        if known is None or not hmac.compare_digest(
                known.encode("utf-8"), (password or "").encode("utf-8")):
            wz._login_failed(host)
            entry["status"] = 401
            with wz._lock:
                wz.login_log.append(entry)
            self._unauthorized(req, "credentials", problem(
                "Unauthorized", "Invalid credentials"))
            return
        token, claims = wz._issue(user)
        req["token_issued"] = claims["nbf"]
        entry.update(ok=True, status=200, token_issued=claims["nbf"],
                     token_expires=claims["exp"])
        with wz._lock:
            wz.login_log.append(entry)
        if as_raw:
            self._answer(req, 200, token, TEXT_TYPE)
        else:
            self._answer(req, 200, {"data": {"token": token}, "error": 0})

    # ---- events ----

    def _events(self, req, body, size):
        wz = self.server.owner
        if body is None:
            self._answer(req, 413, problem(
                "Content size exceeded.", "Maximum content size limit (%d) "
                "exceeded (%d bytes read)" % (wz.max_upload_size, size)))
            return
        ctype = req["content_type"]
        mime = (ctype or "").split(";", 1)[0].strip().lower()
        if mime != "application/json":
            self._invalid(req, 406, "Content-Type %r is not application/"
                          "json" % ctype, problem(
                              "Not Acceptable", "The body type is not the "
                              "one specified in the content-type",
                              error=6002))
            return
        try:
            obj = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            self._invalid(req, 400, "body is not JSON: %s" % e, problem(
                "Bad Request", "Request body is not valid JSON"))
            return
        why, detail = self._check_body(obj)
        if why is not None:
            self._invalid(req, 400, why, problem("Bad Request", detail))
            return
        events = obj["events"]
        req["n_events"] = len(events)
        if len(events) > wz.max_events:
            self._invalid(req, 400, "%d events in one request (at most %d)"
                          % (len(events), wz.max_events), problem(
                              "Events bulk size exceeded", "The size of the "
                              "events bulk is exceeding the limit"))
            return
        rule, answer, dropped = self._scripted(
            req, len(events), lambda: wz._apply_events(req, events))
        if dropped:
            return
        if rule is not None:
            body = rule.body if rule.body is not None else default_body(
                rule.status)
            if rule.status == 401:
                with wz._lock:
                    wz.unauthorized_log.append((time.monotonic(),
                                                "scripted"))
            self._answer(req, rule.status, body, headers=rule.headers())
            return
        if answer is None:
            self._answer(req, 500, default_body(500))
            return
        self._answer(req, 200, answer)

    @staticmethod
    def _check_body(obj):
        """(why, Wazuh's detail) when obj is not {"events": [str...]}."""
        def show(v):
            s = json.dumps(v)
            return s if len(s) <= 60 else s[:57] + "..."
        if not isinstance(obj, dict):
            return ("the body is a %s, not an object" % type(obj).__name__,
                    "%s is not of type 'object'" % show(obj))
        if "events" not in obj:
            return ("the body has no \"events\"",
                    "'events' is a required property")
        events = obj["events"]
        if not isinstance(events, list):
            return ("\"events\" is a %s, not an array" %
                    type(events).__name__,
                    "%s is not of type 'array' - 'events'" % show(events))
        for i, ev in enumerate(events):
            if not isinstance(ev, str):
                return ("event %d is a %s, not a string" %
                        (i, type(ev).__name__),
                        "%s is not of type 'string' - 'events.%d'" %
                        (show(ev), i))
        return None, None

def _sort_ids(ids):
    """Wazuh's sort_ids: numerically when every id is an int, else as
    strings."""
    try:
        return sorted(ids, key=int)
    except ValueError:
        return sorted(ids)


class WazuhServer(testserver.Server):
    """The Wazuh server API test server; see the module docstring.
    certfile/keyfile: serve HTTPS (plain HTTP when None); client_ca:
    require client certificates signed by it; users: {user: password};
    token_lifetime: seconds (auth_token_exp_timeout); events_per_minute,
    general_per_minute: the rate limits (0: none); max_events: events per
    request; max_event_bytes: longest event in UTF-8 bytes;
    max_upload_size: largest body; max_login_attempts / block_time: the
    brute-force guard; version: "v4.14.7", or "v5..." for a Wazuh without
    POST /events; store_path: JSONL file of accepted events;
    tls_max_version: "1.2" to refuse TLS 1.3."""
    name = "wazuh_server"
    handler = _Handler

    def __init__(self, certfile=None, keyfile=None, client_ca=None,
                 users=None, token_lifetime=900, events_per_minute=30,
                 general_per_minute=300, max_events=100,
                 max_event_bytes=MAX_MSG_SIZE - len(MSG_HEADER),
                 max_upload_size=10485760, version="v4.14.7", port=0,
                 host="127.0.0.1", max_login_attempts=50, block_time=300,
                 hostname="wazuh-manager", store_path=None,
                 tls_max_version=None, verbose=False):
        super().__init__(certfile, keyfile, client_ca, port, host,
                         tls_max_version, store_path, verbose)
        self.users = dict({"wazuh-wui": "pw"} if users is None else users)
        self.token_lifetime = int(token_lifetime)
        self.events_per_minute = int(events_per_minute)
        self.general_per_minute = int(general_per_minute)
        self.max_events = int(max_events)
        self.max_event_bytes = int(max_event_bytes)
        self.max_upload_size = int(max_upload_size)
        self.max_login_attempts = int(max_login_attempts)
        self.block_time = float(block_time)
        self.version = version
        self.version_tuple = parse_version(version)
        self.v5 = self.version_tuple[0] >= 5
        self.hostname = hostname
        self.secret = os.urandom(32)
        self._tokens = {}
        self._revoked = set()
        self._clock_offset = 0.0
        self.reset_views()
        self.reset_rate_limits()
        self.unblock()

    def _reset(self):
        """Forget what was seen, accepted events included (not the
        scripted rules, tokens, rate-limit counters or blocked
        addresses)."""
        self.request_log = []
        self.accepted_log = []
        self.accepted = collections.Counter()
        self.failed_log = []
        self.login_log = []
        self.unauthorized_log = []
        self.rate_limit_log = []
        self.blocked_log = []
        self.events_times = []
        self.v5_not_found = 0

    def reset_rate_limits(self):
        """Start the rate-limit windows afresh (as a Wazuh API restart)."""
        with self._lock:
            self._rate = {"general": [0, None], "events": [0, None]}

    def unblock(self):
        """Forget failed logins and blocked addresses."""
        with self._lock:
            self._ip_stats = {}
            self._ip_block = set()

    # ---- answers ----

    def now(self):
        """The server clock (epoch seconds, moved by advance_clock())."""
        return time.time() + self._clock_offset

    def info(self):
        """The GET / answer."""
        major, minor, patch = self.version_tuple
        return {"data": {
            "title": "Wazuh API REST",
            "api_version": "%d.%d.%d" % (major, minor, patch),
            "revision": major * 10000 + minor * 100 + patch,
            "license_name": "GPL 2.0",
            "license_url": "https://github.com/wazuh/wazuh/blob/%s/LICENSE"
                           % self.version,
            "hostname": self.hostname,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                       time.gmtime(self.now()))},
            "error": 0}

    def _too_many(self, code):
        if code == 6001:
            return problem("Too Many Requests", RATE_MSG,
                           remediation=RATE_6001_REMEDIATION, error=6001)
        return problem("Too Many Requests", RATE_MSG, error=code)

    # ---- scripting (thread-safe) ----

    def fail_events(self, match=None, code=1012, message=None, times=1,
                    count=None, remediation=None, rename=None):
        """Events for which match(event_str) is true (None: every event)
        fail in failed_items with Wazuh error code (message and
        remediation: Wazuh's for the code unless given; the request is
        still 200): each distinct event string times times (None:
        forever), at most count events in all (None: unlimited).
        rename(event_str): the id failed_items gives instead of the event
        (a manager that changed the text on its way)."""
        with self._lock:
            self._faults.append(EventFault(match, code, message,
                                           remediation, times, count,
                                           rename))

    def expire_tokens(self):
        """Revoke every token issued so far (they are refused 401 "Invalid
        token", reason "expired"); return how many.  A new login gets a
        valid token, even within the same second."""
        with self._lock:
            n = len(set(self._tokens) - self._revoked)
            self._revoked |= set(self._tokens)
            return n

    def set_password(self, user, password):
        """Add user or change its password (None: remove the user, which
        also invalidates its tokens)."""
        with self._lock:
            if password is None:
                self.users.pop(user, None)
            else:
                self.users[user] = password

    def set_token_lifetime(self, seconds):
        """Change the token lifetime; as in Wazuh, tokens issued with
        another lifetime are refused from then on (reason "expired")."""
        with self._lock:
            self.token_lifetime = int(seconds)

    def set_limits(self, events_per_minute=None, general_per_minute=None):
        """Change the rate limits (the counters go on)."""
        with self._lock:
            if events_per_minute is not None:
                self.events_per_minute = int(events_per_minute)
            if general_per_minute is not None:
                self.general_per_minute = int(general_per_minute)

    def advance_clock(self, seconds):
        """Move the server clock (tokens, the brute-force window and GET /
        timestamp; not the rate-limit windows) forward by seconds."""
        with self._lock:
            self._clock_offset += float(seconds)

    def token_for(self, user=None):
        """Issue a token as a login would (no request logged); for
        tests."""
        user = user if user is not None else next(iter(self.users))
        return self._issue(user)[0]

    # ---- bookkeeping used by the handler ----

    def _rate_check(self, path, t):
        """Wazuh's CheckRateLimitsMiddleware: 0, 6001 or 6005."""
        with self._lock:
            if path == EVENTS_PATH:
                self.events_times.append(t)
            gen = self.general_per_minute
            if gen <= 0:
                return 0
            code = self._window("general", gen, 6001, t)
            if path == EVENTS_PATH and not self.v5 and \
                    self.events_per_minute > 0:
                code = self._window("events",
                                    min(self.events_per_minute, gen), 6005,
                                    t)
            return code

    def _window(self, key, limit, code, t):
        """Wazuh's check_rate_limit (under the lock)."""
        st = self._rate[key]
        if st[1] is None:
            st[1] = t
        if t - 60 <= st[1]:
            st[0] += 1
        else:
            st[0] = 0
            st[1] = t
        return code if st[0] > limit else 0

    def _login_blocked(self, host):
        now = self.now()
        with self._lock:
            st = self._ip_stats.get(host)
            if st is not None and now - self.block_time >= st["timestamp"]:
                del self._ip_stats[host]
                self._ip_block.discard(host)
            return host in self._ip_block

    def _login_failed(self, host):
        now = self.now()
        with self._lock:
            st = self._ip_stats.setdefault(host, {"attempts": 0,
                                                  "timestamp": now})
            st["attempts"] += 1
            if st["attempts"] >= self.max_login_attempts:
                self._ip_block.add(host)

    def _issue(self, user):
        """(token, claims) of a new token for user."""
        iat = int(self.now())
        with self._lock:
            claims = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "nbf": iat,
                      "exp": iat + self.token_lifetime, "sub": str(user),
                      "run_as": False, "rbac_roles": [1],
                      "rbac_mode": "white"}
            token = make_jwt(claims, self.secret)
            self._tokens[token] = {"user": user, "nbf": iat,
                                   "exp": claims["exp"],
                                   "t": time.monotonic()}
            self._revoked.discard(token)
        return token, claims

    def _check_bearer(self, header):
        """(reason or None, claims or None) for an Authorization header:
        reason "missing", "invalid" or "expired"; claims when the
        signature is good (even when refused)."""
        if not header:
            return "missing", None
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "missing", None
        claims = jwt_claims(token, self.secret)
        if claims is None:
            return "invalid", None
        nbf, exp = claims.get("nbf"), claims.get("exp")
        if (claims.get("aud") != JWT_AUDIENCE or
                claims.get("iss") != JWT_ISSUER or
                not isinstance(nbf, int) or not isinstance(exp, int)):
            return "invalid", claims
        now = self.now()
        with self._lock:
            if claims.get("sub") not in self.users:
                return "invalid", claims
            if nbf > now:
                return "invalid", claims
            if now >= exp or token in self._revoked or \
                    exp - nbf != self.token_lifetime:
                return "expired", claims
        return None, claims

    def _apply_events(self, req, events):
        """Forward the events of req: store the good ones, fail the others;
        return the 200 answer, or None when an event cannot be encoded (a
        500, the events before it stored)."""
        with self._lock:
            faults = list(self._faults)
        # match() runs outside the lock: it may use the server's views.
        matched = [[f for f in faults if f.match is None or f.match(ev)]
                   for ev in events]
        now, wall = time.monotonic(), time.time()
        affected, groups, stored = [], {}, []
        broken = False
        limit = self.max_event_bytes + len(MSG_HEADER)
        with self._cond:
            for i, (ev, cands) in enumerate(zip(events, matched)):
                try:
                    size = len((MSG_HEADER + ev).encode("utf-8"))
                except UnicodeEncodeError as e:
                    req["invalid"] = ("event %d does not encode as UTF-8: "
                                      "%s" % (i, e))
                    self.invalid.append("request %d: %s" %
                                        (req["n"], req["invalid"]))
                    broken = True
                    break
                err = None
                if size > limit:
                    err = (1012, wazuh_error_message(
                        1012, "The event is too large to be sent to "
                        "analysisd (maximum is %dB)" % limit), None)
                    named = ev
                else:
                    fault = next((f for f in cands if f.take(ev)), None)
                    if fault is not None:
                        err = (fault.code, fault.message, fault.remediation)
                    named = (fault.rename(ev) if fault is not None and
                             fault.rename is not None else ev)
                if err is not None:
                    groups.setdefault(err, set()).add(named)
                    self.failed_log.append({
                        "event": ev, "request": req["n"], "index": i,
                        "code": err[0], "message": err[1], "t": now})
                    req["failed"] += 1
                    continue
                affected.append(ev)
                entry = {"event": ev, "request": req["n"], "index": i,
                         "t": now, "received": wall}
                self.accepted_log.append(entry)
                self.accepted[ev] += 1
                stored.append(entry)
            req["stored"] += len(stored)
            self._write_store([{k: e[k] for k in ("event", "request",
                                                  "received")}
                               for e in stored])
            self._cond.notify_all()
        if broken:
            return None
        failed_items = []
        for (code, message, remediation), ids in sorted(
                groups.items(), key=lambda kv: kv[0][0]):
            error = {"code": code, "message": message}
            if remediation is not None:
                error["remediation"] = remediation
            failed_items.append({"error": error, "id": _sort_ids(ids)})
        n_ok = len(affected)
        n_failed = sum(len(ids) for ids in groups.values())
        if n_ok == 0:
            message = NONE_MSG
        elif n_failed == 0:
            message = ALL_MSG
        else:
            message = SOME_MSG
        error = 2 if n_ok and n_failed else 0 if n_ok else 1 if n_failed \
            else 0
        return {"data": {"affected_items": affected,
                         "total_affected_items": n_ok,
                         "total_failed_items": n_failed,
                         "failed_items": failed_items},
                "message": message, "error": error}

    # ---- views (copies, thread-safe) ----

    def requests(self, kind=None):
        """The request log entries of this kind ("auth", "events", "info",
        "other"; None: all)."""
        with self._lock:
            return [dict(r) for r in self.request_log
                    if kind is None or r["kind"] == kind]

    def events(self):
        """Every accepted event string, in the order accepted."""
        with self._lock:
            return [e["event"] for e in self.accepted_log]

    def accepted_entries(self):
        """Every accepted event as a dict: event, request (number), index
        (in its request), t (monotonic), received (epoch)."""
        return self._view("accepted_log", testserver.dicts)

    def accepted_counts(self):
        """Counter: event string -> how many times it was accepted."""
        with self._lock:
            return collections.Counter(self.accepted)

    def failed_events(self):
        """Every event that failed in failed_items: dicts event, request,
        index, code, message, t."""
        return self._view("failed_log", testserver.dicts)

    def logins(self):
        """Every login request: dicts t, wall, user, ok, status (200, 401
        or 403), raw, request and, when ok, token_issued and
        token_expires (epoch seconds of the server clock)."""
        return self._view("login_log", testserver.dicts)

    def unauthorized(self):
        """Every 401 sent, as (monotonic time, reason): "missing",
        "invalid", "expired" (bearer checks), "credentials" (a refused
        login) or "scripted" (answer_next/fail_for 401)."""
        return self._view("unauthorized_log")

    def rate_limited(self):
        """The monotonic times of every 429 sent (scripted ones too)."""
        with self._lock:
            return [e["t"] for e in self.rate_limit_log]

    def rate_limit_details(self):
        """Every 429 sent: dicts t, request, path, code (6001/6005),
        scripted."""
        return self._view("rate_limit_log", testserver.dicts)

    def blocked(self):
        """The monotonic times of the logins refused 403 (blocked)."""
        return self._view("blocked_log")

    def events_request_times(self):
        """The monotonic arrival times of every request to /events."""
        return self._view("events_times")

    def max_events_requests_per_60s(self, window=60.0):
        """The most requests to /events (any answer) that arrived within
        any window seconds."""
        with self._lock:
            times = sorted(self.events_times)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    def wait_events(self, n, timeout):
        """Wait until at least n events were accepted."""
        return self.wait(lambda s: len(s.accepted_log) >= n, timeout)

    def _stats(self):
        """Its own counters (under the lock)."""
        reqs = self.request_log
        reasons = collections.Counter(r for _, r in
                                      self.unauthorized_log)
        return {
            "requests": len(reqs),
            "events_requests": sum(1 for r in reqs
                                   if r["kind"] == "events"),
            "auth_requests": sum(1 for r in reqs if r["kind"] == "auth"),
            "info_requests": sum(1 for r in reqs if r["kind"] == "info"),
            "other_requests": sum(1 for r in reqs
                                  if r["kind"] == "other"),
            "events_accepted": len(self.accepted_log),
            "distinct_events": len(self.accepted),
            "duplicate_events": sum(c - 1 for c in
                                    self.accepted.values()),
            "events_failed": len(self.failed_log),
            "logins_ok": sum(1 for e in self.login_log if e["ok"]),
            "logins_failed": sum(1 for e in self.login_log
                                 if not e["ok"]),
            "blocked": len(self.blocked_log),
            "unauthorized": dict(reasons),
            "rate_limited": len(self.rate_limit_log),
            "v5_not_found": self.v5_not_found,
        }


# ---- self-test with the curl command-line tool ----


_curl = functools.partial(testserver.curl, ctype="application/json",
                          timeout=60)


def _events_body(*events):
    return json.dumps({"events": list(events)})


def self_test(verbose=False):
    """Check the server with curl; return a list of failures."""
    return testserver.SelfTest("wazuh_server", verbose).run(_self_test)


def _self_test(selftest, tmp, pki):
    check = selftest.check

    def expect(res, status, what, title=None, code=None, detail=None):
        """res is HTTP status (and problem title, error code and detail
        when given)."""
        rc, st, body, _ = res
        ok = rc == 0 and st == status
        if ok and title is not None:
            ok = isinstance(body, dict) and body.get("title") == title
        if ok and code is not None:
            ok = isinstance(body, dict) and body.get("error") == code
        if ok and detail is not None:
            ok = isinstance(body, dict) and body.get("detail") == detail
        check(ok, "%s: expected HTTP %s %s %s %s, got curl exit %s, HTTP "
              "%s, %r" % (what, status, title or "", code or "",
                          detail or "", rc, st, body))
        return body

    def login(s, pki, user="wazuh-wui:pw"):
        body = expect(_curl(s, pki, LOGIN_PATH, method="POST", user=user),
                      200, "login %s" % user.split(":")[0])
        try:
            return body["data"]["token"]
        except (TypeError, KeyError):
            return "none"

    store = os.path.join(tmp, "store.jsonl")
    s = WazuhServer(pki["server"], pki["server_key"], client_ca=pki["ca"],
                    users={"wazuh-wui": "pw", "ingest": "s3cr3t"},
                    events_per_minute=1000, general_per_minute=1000,
                    store_path=store).start()
    try:
        # TLS.
        rc, st, _, _ = _curl(s, pki, "/", client=False)
        # The server's thread records the failed handshake after curl
        # has seen it fail: wait for it.
        check(rc != 0 and st is None and
              sysmonfwd_it.wait_for(lambda: len(s.tls_failures) >= 1, 60),
              "a client without certificate is refused and counted "
              "(curl exit %s, %r)" % (rc, s.tls_failures))
        rc, st, _, _ = _curl(s, None, "/")
        check(rc != 0 and st is None, "a client that does not trust "
              "the CA fails (curl exit %s)" % rc)
        # GET / needs a token.
        res = _curl(s, pki, "/")
        expect(res, 401, "GET / without a token", "Unauthorized",
               detail="No authorization token provided")
        check("application/problem+json" in res[3] and
              re.search(r"(?im)^Server: Wazuh\s*$", res[3]),
              "problem+json and Server: Wazuh: %r" % res[3])
        # Logins.
        expect(_curl(s, pki, LOGIN_PATH, method="POST",
                     user="wazuh-wui:nope"), 401, "wrong password",
               "Unauthorized", detail="Invalid credentials")
        expect(_curl(s, pki, LOGIN_PATH, method="POST"), 401,
               "login without credentials", "Unauthorized",
               detail="Invalid credentials")
        expect(_curl(s, pki, LOGIN_PATH, method="POST",
                     user="nobody:pw"), 401, "unknown user",
               "Unauthorized")
        expect(_curl(s, pki, LOGIN_PATH, method="GET",
                     user="wazuh-wui:pw"), 405, "GET login")
        t_before = int(time.time())
        rc, st, body, head = _curl(s, pki, LOGIN_PATH, method="POST",
                                   user="wazuh-wui:pw")
        token = (body.get("data", {}).get("token")
                 if isinstance(body, dict) else None)
        check(st == 200 and body.get("error") == 0 and
              isinstance(token, str) and set(body) == {"data", "error"},
              "login answer: HTTP %s %r" % (st, body))
        token = token or "none"
        parts = token.split(".")
        head_json = json.loads(_b64u_decode(parts[0])) \
            if len(parts) == 3 else None
        claims = jwt_claims(token, s.secret)
        check(head_json == {"alg": "HS256", "typ": "JWT"} and
              claims is not None and set(claims) == {
                  "iss", "aud", "nbf", "exp", "sub", "run_as",
                  "rbac_roles", "rbac_mode"} and
              claims["iss"] == "wazuh" and
              claims["aud"] == "Wazuh API REST" and
              claims["sub"] == "wazuh-wui" and
              claims["exp"] - claims["nbf"] == 900 and
              t_before <= claims["nbf"] <= time.time() and
              claims["run_as"] is False and
              claims["rbac_roles"] == [1] and
              claims["rbac_mode"] == "white" and
              "=" not in token and jwt_claims(token, b"x") is None,
              "JWT: %r %r" % (head_json, claims))
        rc, st, raw, head = _curl(s, pki, LOGIN_PATH + "?raw=true",
                                  method="POST", user="ingest:s3cr3t")
        check(st == 200 and isinstance(raw, str) and
              jwt_claims(raw, s.secret) is not None and
              jwt_claims(raw)["sub"] == "ingest" and
              re.search(r"(?im)^Content-Type: text/plain", head),
              "raw token: HTTP %s %r" % (st, raw))
        lg = s.logins()
        check([(e["user"], e["ok"], e["status"]) for e in lg] == [
            ("wazuh-wui", False, 401), (None, False, 401),
            ("nobody", False, 401), ("wazuh-wui", True, 200),
            ("ingest", True, 200)] and lg[-1]["raw"] and
            lg[-2]["token_issued"] == claims["nbf"],
            "logins recorded: %r" % lg)
        check("pw" not in repr([r["auth"] for r in s.requests()]) and
              token not in repr(s.requests()) and
              s.requests("auth")[-1]["auth"] == "Basic",
              "schemes recorded, never secrets")
        # GET / with the token.
        body = expect(_curl(s, pki, "/", token=token), 200, "GET /")
        d = body.get("data", {}) if isinstance(body, dict) else {}
        check(body.get("error") == 0 and d.get("title") ==
              "Wazuh API REST" and d.get("api_version") == "4.14.7" and
              d.get("revision") == 41407 and
              d.get("license_name") == "GPL 2.0" and
              d.get("hostname") == "wazuh-manager" and
              re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                           d.get("timestamp", "")),
              "GET / answer: %r" % (body,))
        info = s.requests("info")[-1]
        check(info["auth"] == "Bearer" and info["user"] == "wazuh-wui"
              and info["token_issued"] == claims["nbf"] and
              info["token_status"] == "valid", "info log: %r" % info)
        # Bad tokens.
        bad = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        expect(_curl(s, pki, "/", token=bad), 401, "tampered token",
               "Unauthorized", detail="Invalid token")
        expect(_curl(s, pki, "/", token="garbage"), 401, "garbage "
               "token", "Unauthorized", detail="Invalid token")
        other = make_jwt(dict(claims), b"another secret")
        expect(_curl(s, pki, EVENTS_PATH, _events_body("x"),
                     token=other), 401, "token of another server",
               "Unauthorized", detail="Invalid token")
        expect(_curl(s, pki, EVENTS_PATH, _events_body("x"),
                     headers=["Authorization: Basic " +
                              base64.b64encode(b"wazuh-wui:pw")
                              .decode()]), 401,
               "Basic credentials at /events", "Unauthorized",
               detail="No authorization token provided")
        check([r for _, r in s.unauthorized()] == [
            "missing", "credentials", "credentials", "credentials",
            "invalid", "invalid", "invalid", "missing"] and not
            s.events(), "401 reasons: %r" % s.unauthorized())
        # Events accepted.
        res = _curl(s, pki, EVENTS_PATH, _events_body(
            "first event", '{"win":{"x":"\\\\d"}}', "é"), token=token)
        body = expect(res, 200, "POST /events")
        check(body == {"data": {"affected_items": [
            "first event", '{"win":{"x":"\\\\d"}}', "é"],
            "total_affected_items": 3, "total_failed_items": 0,
            "failed_items": []}, "message": ALL_MSG, "error": 0},
            "events answer: %r" % (body,))
        check(re.search(r"(?im)^Content-Type: application/json", res[3]),
              "JSON Content-Type: %r" % res[3])
        check(s.events() == ["first event", '{"win":{"x":"\\\\d"}}',
                             "é"] and s.wait_events(3, 1),
              "events stored: %r" % s.events())
        last = s.requests("events")[-1]
        check(last["auth"] == "Bearer" and last["user"] == "wazuh-wui"
              and last["token_issued"] == claims["nbf"] and
              last["n_events"] == 3 and last["stored"] == 3 and
              last["status"] == 200 and last["code"] == 0 and
              last["content_type"] == "application/json" and
              last["method"] == "POST" and last["answered"] >= last["t"],
              "events log: %r" % last)
        body = expect(_curl(s, pki, EVENTS_PATH, _events_body(
            "first event", "second"), token=token,
            ctype="application/json; charset=utf-8"), 200,
            "a resent event, with a charset")
        check(s.accepted_counts() == collections.Counter({
            "first event": 2, '{"win":{"x":"\\\\d"}}': 1, "é": 1,
            "second": 1}), "accepted counts: %r" % s.accepted_counts())
        body = expect(_curl(s, pki, EVENTS_PATH, _events_body(),
                            token=token), 200, "no events")
        check(body.get("message") == NONE_MSG and body.get("error") == 0,
              "empty events: %r" % (body,))
        # Invalid bodies.
        inv0, n0 = len(s.invalid), len(s.events())
        expect(_curl(s, pki, EVENTS_PATH, _events_body("x"),
                     token=token, ctype="text/plain"), 406,
               "text/plain", "Not Acceptable", 6002)
        expect(_curl(s, pki, EVENTS_PATH, _events_body("x"),
                     token=token, ctype=None), 406, "no Content-Type",
               "Not Acceptable", 6002)
        for data, what in (
                ('{"events":["a",1]}', "a number item"),
                ('{"events":["a",{"b":1}]}', "an object item"),
                ('{"events":[null]}', "a null item"),
                ('{"events":"a"}', "events a string"),
                ('{"event":["a"]}', "no events"),
                ('["a"]', "an array body"),
                ('{"events":["a"', "broken JSON"),
                (b'{"events":["\xff"]}', "bad UTF-8")):
            body = expect(_curl(s, pki, EVENTS_PATH, data, token=token),
                          400, what, "Bad Request")
        check(body.get("detail") == "Request body is not valid JSON",
              "400 detail: %r" % (body,))
        body = expect(_curl(s, pki, EVENTS_PATH, '{"events":[1]}',
                            token=token), 400, "item 0 not a string")
        check(body.get("detail") == "1 is not of type 'string' - "
              "'events.0'", "schema detail: %r" % (body,))
        body = expect(_curl(s, pki, EVENTS_PATH, _events_body(
            *["e%d" % i for i in range(100)]), token=token), 200,
            "100 events")
        check(body.get("data", {}).get("total_affected_items") == 100,
              "100 events accepted")
        n0 += 100
        expect(_curl(s, pki, EVENTS_PATH, _events_body(
            *["f%d" % i for i in range(101)]), token=token), 400,
            "101 events", "Events bulk size exceeded",
            detail="The size of the events bulk is exceeding the limit")
        check(len(s.invalid) == inv0 + 12 and len(s.events()) == n0,
              "invalid requests recorded (%d), nothing stored: %r" %
              (len(s.invalid) - inv0, s.invalid[inv0:]))
        check(s.requests("events")[-1]["invalid"] ==
              "101 events in one request (at most 100)",
              "invalid reason in the log")
        # Oversized events: 1012 in failed_items, still 200.
        fit = "a" * (65535 - len(MSG_HEADER))
        big = "b" * (65535 - len(MSG_HEADER) + 1)
        big_utf8 = "é" * ((65535 - len(MSG_HEADER)) // 2 + 1)
        body = expect(_curl(s, pki, EVENTS_PATH, _events_body(
            "ok-1", big, fit, big_utf8, big), token=token), 200,
            "oversized events")
        msg1012 = ("Invalid message to queue: The event is too large to "
                   "be sent to analysisd (maximum is 65535B)")
        check(isinstance(body, dict) and body.get("error") == 2 and
              body.get("message") == SOME_MSG and
              body["data"]["affected_items"] == ["ok-1", fit] and
              body["data"]["total_affected_items"] == 2 and
              body["data"]["total_failed_items"] == 2 and
              body["data"]["failed_items"] == [{
                  "error": {"code": 1012, "message": msg1012},
                  "id": sorted([big, big_utf8])}],
              "oversized answer: %r" % (str(body)[:300],))
        check(s.events()[-2:] == ["ok-1", fit] and
              [(f["code"], f["index"]) for f in s.failed_events()] ==
              [(1012, 1), (1012, 3), (1012, 4)], "failed events: %r" %
              [(f["code"], f["index"]) for f in s.failed_events()])
        # Scripted event faults.
        s.fail_events(lambda e: e.startswith("bad"), code=1014)
        body = expect(_curl(s, pki, EVENTS_PATH, _events_body(
            "bad-1", "good-1", "bad-2"), token=token), 200,
            "fail_events once")
        check(body.get("error") == 2 and
              body["data"]["affected_items"] == ["good-1"] and
              body["data"]["failed_items"] == [{"error": {
                  "code": 1014, "message": "Error communicating with "
                  "socket", "remediation": "Please, restart Wazuh to "
                  "restore sockets"}, "id": ["bad-1", "bad-2"]}],
              "fail_events answer: %r" % (body,))
        body = expect(_curl(s, pki, EVENTS_PATH, _events_body(
            "bad-1", "bad-2"), token=token), 200, "fail_events spent")
        check(body.get("error") == 0 and
              body["data"]["affected_items"] == ["bad-1", "bad-2"],
              "each event fails once: %r" % (body,))
        s.clear_rules()
        s.fail_events(lambda e: e.startswith("x"), times=None,
                      message="scripted")
        s.fail_events(lambda e: e == "y", code=1010, times=None)
        for _ in range(2):
            body = expect(_curl(s, pki, EVENTS_PATH, _events_body(
                "y", "x2", "x1", "x1"), token=token), 200,
                "all events failing")
        check(body.get("error") == 1 and body.get("message") ==
              NONE_MSG and body["data"]["total_failed_items"] == 3 and
              body["data"]["failed_items"] == [
                  {"error": {"code": 1010, "message":
                             "Unable to connect to queue"}, "id": ["y"]},
                  {"error": {"code": 1012, "message": "scripted"},
                   "id": ["x1", "x2"]}],
              "failed forever, grouped by code: %r" % (body,))
        s.clear_rules()
        # Whole-request answers, drops, delay.
        n0 = len(s.events())
        s.answer_next(1, 429, retry_after=3)
        res = _curl(s, pki, EVENTS_PATH, _events_body("q1"), token=token)
        expect(res, 429, "scripted 429", "Too Many Requests", 6005)
        check(re.search(r"(?im)^Retry-After: 3\s*$", res[3]) and
              s.rate_limit_details()[-1]["scripted"],
              "Retry-After and the 429 recorded: %r" % res[3])
        s.answer_next(1, 503)
        expect(_curl(s, pki, EVENTS_PATH, _events_body("q1"),
                     token=token), 503, "scripted 503",
               "Service Unavailable")
        s.answer_next(1, 500, min_events=2)
        expect(_curl(s, pki, EVENTS_PATH, _events_body("q1"),
                     token=token), 200, "the 500 rule waits for 2 "
               "events")
        expect(_curl(s, pki, EVENTS_PATH, _events_body("q2", "q3"),
                     token=token), 500, "scripted 500",
               "Wazuh Internal Error", 1000)
        s.answer_next(1, 401)
        expect(_curl(s, pki, EVENTS_PATH, _events_body("q2"),
                     token=token), 401, "scripted 401", "Unauthorized")
        check(s.unauthorized()[-1][1] == "scripted" and
              len(s.events()) == n0 + 1, "scripted answers store "
              "nothing; scripted 401 recorded")
        s.drop_next(1, store=True)
        rc, st, _, _ = _curl(s, pki, EVENTS_PATH, _events_body("d1"),
                             token=token)
        check(rc == 52 and s.events()[-1] == "d1" and
              s.requests("events")[-1]["status"] == "dropped",
              "drop after storing: curl exit %s (52 expected)" % rc)
        s.drop_next(1)
        rc, st, _, _ = _curl(s, pki, EVENTS_PATH, _events_body("d2"),
                             token=token)
        check(rc == 52 and len(s.events()) == n0 + 2,
              "drop without storing: curl exit %s" % rc)
        expect(_curl(s, pki, EVENTS_PATH, _events_body("d1"),
                     token=token), 200, "resend after the drop")
        check(s.accepted_counts()["d1"] == 2 and
              s.stats()["dropped"] == 2, "d1 accepted twice")
        # fail_for on the rule clock, faked here: no wall-clock window
        # that a slow curl could miss on a loaded machine.
        fake = [time.monotonic()]
        s.clock = lambda: fake[0]
        s.fail_for(0.5, 500)
        expect(_curl(s, pki, EVENTS_PATH, _events_body("d2"),
                     token=token), 500, "fail_for")
        fake[0] += 0.6
        expect(_curl(s, pki, EVENTS_PATH, _events_body("d2"),
                     token=token), 200, "fail_for expired")
        s.clock = time.monotonic
        s.set_delay(1.0)
        t = time.monotonic()
        expect(_curl(s, pki, EVENTS_PATH, _events_body("d3"),
                     token=token), 200, "delayed")
        check(time.monotonic() - t >= 1.0, "the answer was delayed")
        s.set_delay(0)
        # Forced re-login.
        check(s.expire_tokens() == 2, "two tokens revoked")
        expect(_curl(s, pki, EVENTS_PATH, _events_body("r1"),
                     token=token), 401, "revoked token",
               "Unauthorized", detail="Invalid token")
        check(s.unauthorized()[-1][1] == "expired" and
              s.requests("events")[-1]["token_status"] == "expired",
              "revoked token recorded as expired")
        token2 = login(s, pki)
        expect(_curl(s, pki, EVENTS_PATH, _events_body("r1"),
                     token=token2), 200, "new token after expire_tokens "
               "(same second)")
        s.set_token_lifetime(600)
        expect(_curl(s, pki, EVENTS_PATH, _events_body("r2"),
                     token=token2), 401, "token of another lifetime",
               "Unauthorized")
        token3 = login(s, pki)
        check(jwt_claims(token3)["exp"] - jwt_claims(token3)["nbf"] ==
              600, "new lifetime")
        expect(_curl(s, pki, EVENTS_PATH, _events_body("r2"),
                     token=token3), 200, "token of the new lifetime")
        s.advance_clock(601)
        expect(_curl(s, pki, EVENTS_PATH, _events_body("r3"),
                     token=token3), 401, "expired by the server clock",
               "Unauthorized")
        token3 = login(s, pki)
        expect(_curl(s, pki, EVENTS_PATH, _events_body("r3"),
                     token=token3), 200, "new token, moved clock")
        s.set_password("wazuh-wui", "new")
        expect(_curl(s, pki, LOGIN_PATH, method="POST",
                     user="wazuh-wui:pw"), 401, "old password")
        token3 = login(s, pki, "wazuh-wui:new")
        s.set_password("ingest", None)
        expect(_curl(s, pki, LOGIN_PATH, method="POST",
                     user="ingest:s3cr3t"), 401, "removed user")
        expect(_curl(s, pki, "/", token=raw), 401, "token of a removed "
               "user", "Unauthorized", detail="Invalid token")
        # Routing, keep-alive, restart.
        expect(_curl(s, pki, EVENTS_PATH, token=token3), 405,
               "GET /events", "Method Not Allowed")
        expect(_curl(s, pki, "/agents", token=token3), 404,
               "unknown path", "Not Found", detail="404: Not Found")
        expect(_curl(s, pki, "/nope"), 404, "unknown path without a "
               "token", "Not Found")
        c0 = s.connections
        rc, st, _, _ = _curl(s, pki, "/", token=token3, extra=[
            "--next", "--cacert", pki["ca"], "--cert", pki["client"],
            "--key", pki["client_key"], "-H",
            "Authorization: Bearer " + token3, s.url + "/"])
        check(rc == 0 and s.connections == c0 + 1,
              "keep-alive: %d connections for 2 requests" %
              (s.connections - c0))
        port = s.port
        s.stop()
        rc, st, _, _ = _curl(s, pki, "/", token=token3)
        check(rc == 7, "stopped: connection refused (curl exit %s)" % rc)
        s.start()
        check(s.port == port, "restarted on the same port")
        expect(_curl(s, pki, "/", token=token3), 200,
               "GET / after restart: tokens survive")
        lines = open(store).read().splitlines()
        check(len(lines) == len(s.events()) and
              json.loads(lines[0])["event"] == "first event",
              "store file: %d lines for %d events" %
              (len(lines), len(s.events())))
        st = s.stats()
        check(st["unauthorized"].get("expired") == 3 and
              st["dropped"] == 2 and st["tls_failures"] >= 1 and
              st["duplicate_events"] == 2 and not s.errors,
              "stats: %r, errors %r" % (st, s.errors))
    finally:
        s.close()
    # Expiry by the real clock (plain HTTP).
    e = WazuhServer(token_lifetime=3).start()
    try:
        time.sleep(1 - time.time() % 1)     # log in early in a second
        tok = login(e, None)
        expect(_curl(e, None, EVENTS_PATH, _events_body("e1"),
                     token=tok), 200, "fresh 3-second token")
        # Until the token's exp has passed on the server's clock.
        exp = (jwt_claims(tok, e.secret) or {}).get("exp", 0)
        while e.now() < exp:
            time.sleep(0.05)
        expect(_curl(e, None, EVENTS_PATH, _events_body("e2"),
                     token=tok), 401, "expired token", "Unauthorized",
               detail="Invalid token")
        check(e.unauthorized() and e.unauthorized()[-1][1] == "expired"
              and e.events() == ["e1"], "expiry recorded: %r" %
              e.unauthorized())
    finally:
        e.close()
    # The /events rate limit.
    r = WazuhServer(events_per_minute=3).start()
    try:
        tok = login(r, None)
        for i in range(3):
            expect(_curl(r, None, EVENTS_PATH, _events_body("m%d" % i),
                         token=tok), 200, "/events request %d" % (i + 1))
        for i in range(2):
            res = _curl(r, None, EVENTS_PATH, _events_body("n%d" % i),
                        token=tok)
            expect(res, 429, "/events request %d" % (i + 4),
                   "Too Many Requests", 6005, RATE_MSG)
        expect(_curl(r, None, "/", token=tok), 200,
               "GET / is under the general limit")
        check(len(r.rate_limited()) == 2 and
              r.max_events_requests_per_60s() == 5 and
              len(r.events_request_times()) == 5 and
              r.events() == ["m0", "m1", "m2"] and not r.invalid and
              [d["code"] for d in r.rate_limit_details()] == [6005,
                                                              6005],
              "rate limit: %d 429s, max %d per 60 s, events %r" %
              (len(r.rate_limited()), r.max_events_requests_per_60s(),
               r.events()))
        check(r.max_events_requests_per_60s(0.0001) == 1,
              "sliding window of 0.1 ms")
        # A new window: the counter restarts at 0, so limit + 1 pass.
        r.reset_rate_limits()
        r._window("events", 3, 6005, time.monotonic() - 61)
        for i in range(4):
            expect(_curl(r, None, EVENTS_PATH, _events_body("w%d" % i),
                         token=tok), 200, "second window request %d" %
                   (i + 1))
        expect(_curl(r, None, EVENTS_PATH, _events_body("w4"),
                     token=tok), 429, "second window request 5",
               "Too Many Requests", 6005)
    finally:
        r.close()
    # The general rate limit (and /events judged by its own only).
    g = WazuhServer(general_per_minute=4).start()
    try:
        tok = login(g, None)
        for i in range(3):
            expect(_curl(g, None, "/", token=tok), 200,
                   "general request %d" % (i + 2))
        body = expect(_curl(g, None, "/", token=tok), 429,
                      "general request 5", "Too Many Requests", 6001,
                      RATE_MSG)
        check("api.yaml" in str(body.get("remediation")),
              "6001 remediation: %r" % (body,))
        expect(_curl(g, None, LOGIN_PATH, method="POST",
                     user="wazuh-wui:pw"), 429, "login over the general "
               "limit", "Too Many Requests", 6001)
        expect(_curl(g, None, EVENTS_PATH, _events_body("g1"),
                     token=tok), 200, "/events is judged by the /events "
               "counter only (as in Wazuh)")
    finally:
        g.close()
    # The brute-force guard.
    b = WazuhServer(max_login_attempts=3, block_time=60).start()
    try:
        for i in range(3):
            expect(_curl(b, None, LOGIN_PATH, method="POST",
                         user="wazuh-wui:bad"), 401,
                   "failed login %d" % (i + 1), "Unauthorized")
        expect(_curl(b, None, LOGIN_PATH, method="POST",
                     user="wazuh-wui:pw"), 403, "blocked login",
               "Permission Denied", detail=BLOCKED_DETAIL)
        check(len(b.blocked()) == 1 and
              b.logins()[-1]["status"] == 403, "block recorded")
        b.advance_clock(61)     # block_time is over (server clock)
        login(b, None)
        check(b.stats()["logins_ok"] == 1 and
              b.stats()["logins_failed"] == 4, "logins counted: %r" %
              b.stats())
    finally:
        b.close()
    # Wazuh 5: no POST /events.
    v = WazuhServer(version="v5.0.0").start()
    try:
        tok = login(v, None)
        body = expect(_curl(v, None, "/", token=tok), 200, "v5 GET /")
        check(body.get("data", {}).get("api_version") == "5.0.0" and
              body["data"]["revision"] == 50000,
              "v5 version: %r" % (body,))
        expect(_curl(v, None, EVENTS_PATH, _events_body("v"),
                     token=tok), 404, "v5 POST /events", "Not Found",
               detail="404: Not Found")
        expect(_curl(v, None, EVENTS_PATH, _events_body("v")), 404,
               "v5 POST /events without a token", "Not Found")
        check(v.v5_not_found == 2 and not v.events() and not v.invalid,
              "v5 404s counted: %d" % v.v5_not_found)
    finally:
        v.close()
    # A small upload limit; Expect: 100-continue.
    u = WazuhServer(max_upload_size=1000).start()
    try:
        tok = login(u, None)
        big = _events_body("z" * 2000)
        expect(_curl(u, None, EVENTS_PATH, big, token=tok), 413,
               "body over max_upload_size", "Content size exceeded.")
        expect(_curl(u, None, EVENTS_PATH, big, token=tok,
                     headers=["Expect: 100-continue"]), 417,
               "Expect with a body over max_upload_size",
               "Expectation failed")
        expect(_curl(u, None, EVENTS_PATH, _events_body("small"),
                     token=tok, headers=["Expect: 100-continue"]), 200,
               "Expect: 100-continue")
        expect(_curl(u, None, EVENTS_PATH, _events_body("c1"),
                     token=tok, headers=["Transfer-Encoding: chunked"]),
               200, "chunked body")
        check(u.events() == ["small", "c1"] and not u.invalid and
              not u.errors, "upload limit: %r %r" % (u.events(),
                                                      u.errors))
        expect(_curl(u, None, EVENTS_PATH, '{"events":["s1","\\ud800",'
                     '"s2"]}', token=tok), 500, "a lone surrogate",
               "Wazuh Internal Error", 1000)
        check(u.events() == ["small", "c1", "s1"] and
              len(u.invalid) == 1 and "UTF-8" in u.invalid[0],
              "events before the lone surrogate stored: %r %r" %
              (u.events(), u.invalid))
    finally:
        u.close()
    # TLS 1.2 at most.
    expect(selftest.tls12(WazuhServer, pki), 401, "tls 1.2 client")


def main():
    ap = testserver.arg_parser("Wazuh server API test server")
    ap.add_argument("--user", action="append", default=[],
                    metavar="USER:PASSWORD", help="API user (repeat); "
                    "default wazuh-wui:pw")
    ap.add_argument("--version", default="v4.14.7", dest="wazuh_version",
                    help="v4.x (POST /events) or v5.x (no POST /events)")
    ap.add_argument("--token-lifetime", type=int, default=900)
    ap.add_argument("--events-per-minute", type=int, default=30)
    ap.add_argument("--general-per-minute", type=int, default=300)
    ap.add_argument("--max-events", type=int, default=100)
    ap.add_argument("--max-upload-size", type=int, default=10485760)
    ap.add_argument("--max-login-attempts", type=int, default=50)
    ap.add_argument("--block-time", type=float, default=300)
    ap.add_argument("--jsonl", help="append accepted events to this file")
    a = ap.parse_args()
    if a.self_test:
        testserver.self_test_main("wazuh_server", self_test, a.verbose)
    for v in a.user:
        if ":" not in v:
            ap.error("--user takes name:password")
    testserver.serve(WazuhServer(
        a.cert, a.key, client_ca=a.client_ca,
        users=dict(v.split(":", 1) for v in a.user) if a.user else None,
        token_lifetime=a.token_lifetime,
        events_per_minute=a.events_per_minute,
        general_per_minute=a.general_per_minute, max_events=a.max_events,
        max_upload_size=a.max_upload_size,
        max_login_attempts=a.max_login_attempts, block_time=a.block_time,
        version=a.wazuh_version, store_path=a.jsonl, port=a.port,
        verbose=a.verbose), a.delay)


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    main()
