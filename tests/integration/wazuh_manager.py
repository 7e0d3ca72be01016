"""A test Wazuh manager: authd (enrollment, TLS) and remoted (secure
messages over TCP), in threads, written from Wazuh 4.14.7's source.

Not a test itself: test_wazuh_agent.py imports it (and runs its
self_test()); run as a script it serves until SIGINT for manual runs
(ports and key directory printed).  Standard library only, plus
wazuh_codec.py (the reference codec: key derivation, CreateSecMSG /
ReadSecMSG), which holds every byte-level algorithm; this file holds what
the daemons do around it.

What follows which Wazuh file (wazuh/wazuh v4.14.7):

- authd: src/os_auth/main-server.c (process_message(): one request line
  ended by '\\n', the answer "OSSEC K:'ID NAME IP KEY'" or "<error>. Unable
  to add agent", then the connection is closed), src/os_auth/auth.c
  (w_auth_parse_data(): "OSSEC PASS: <pw> " prefix when a password is
  set, "OSSEC A:'name'", optional " V:'version'", " G:'groups'",
  " IP:'ip'", " K:'sha1'"; w_auth_validate_data(): duplicate IP, name of
  the manager, duplicate name with the <force> options;
  w_auth_replace_agent()), src/config/authd-config.c (the <force>
  defaults: enabled, key_mismatch, disconnected_time 1h,
  after_registration_time 1h), src/addagent/validate.c (OS_AddNewAgent():
  ids "%03d" from 001, the key as two MD5 hex digests; OS_IsValidName()).
- remoted: src/remoted/netbuffer.c (nb_recv(): frames of a 4-byte
  little-endian length and at most OS_MAXSTR bytes, a longer one closes
  the connection; nb_queue(): what the manager sends is framed the same),
  src/remoted/secure.c (HandleSecureMessage(): "!ID!" names the agent, an
  unknown ID, a bad format or any ReadSecMSG failure closes the
  connection; "Agent key already in use" within connection_overtake_time;
  "#ping" answered "#pong"), src/remoted/manager.c
  (validate_control_msg(): startup and keepalives are acknowledged with
  "#!-agent ack ", shutdown is not, a keepalive without '\\n' is invalid
  and not acknowledged, "req " messages are handled apart; a startup
  whose version is newer than the manager's gets "#!-err {...}" and no
  ack; send_wrong_version_response()), src/remoted/sendmsg.c
  (send_msg_with_key_control(): CreateSecMSG with the manager's own
  sender counter, no "!ID!" prefix), src/shared/remoted_op.c
  (parse_agent_update_msg(): the keepalive's fields),
  src/os_crypto/shared/msgs.c (ReadSecMSG(): with verify_msg_id the
  counters must grow, an equal global with a local not above the saved
  one is "(1407) Duplicated counter", a smaller global falls through to
  "(1404) Authentication error"; the received counters are stored to
  queue/rids every recv_counter_flush (10) messages, so a restarted
  remoted may start a few messages behind), src/remoted/secure.c
  rem_keyupdate_main() (client.keys reloaded every keyupdate_interval, 10
  s: a new key is refused for up to 10 s; key_reload_delay models it),
  manager.c save_controlmsg(), wait_for_msgs(), send_file_toagent() and
  src/shared/file_op.c MergeAppendFile() (after a keepalive whose
  merged.mg sum is not the group's, the group's merged.mg goes to the
  agent: "#!-up file <md5> merged.mg\n", the file in 900-byte plain
  messages, "#!-close file ").

What is not Wazuh's: the test's own cuts (drop_after(),
drop_connections()) close gracefully (FIN, then whatever the agent still
sends is dropped unread) so that the agent surely reads every ack sent
before the cut; remoted's own refusals close at once, as _close_sock()
does.  wazuh-db is not modelled beyond what authd's <force> rules ask
(never connected, active, disconnected after a shutdown).

Guarantee of the model: remoted's worker_pool=1 (required by
verify_msg_id): one connection's messages are handled in order, so the
ack to a control message is sent only after every message before it on
that connection has been decrypted and recorded.
"""
import argparse
import collections
import hashlib
import itertools
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it  # noqa: E402  (ReservedPort)
import testserver  # noqa: E402  (ssl_context)
import wazuh_codec as wc  # noqa: E402

OS_MAXSTR = 65536                   # src/headers/defs.h
MAX_SSL_MSG_SIZE = 65536 + 4096     # src/os_auth/auth.h
MANAGER_VERSION = "v4.14.7"
DRAIN_TIME = 10.0       # a connection cut gracefully is closed after it
CONTROL_HEADER = "#!-"              # src/headers/rc.h
HC_STARTUP = "agent startup "
HC_SHUTDOWN = "agent shutdown "
HC_ACK = "agent ack "
HC_REQUEST = "req "
HC_ERROR = "err "
FILE_UPDATE_HEADER = "up file "
FILE_CLOSE_HEADER = "close file "
# etc/shared/default/agent.conf as a manager installs it.
DEFAULT_AGENT_CONF = ("<agent_config>\n\n  <!-- Shared agent configuration "
                      "here -->\n\n</agent_config>\n")
HC_INVALID_VERSION_RESPONSE = ("Agent version must be lower or equal to "
                               "manager version")
HC_RETRIEVE_VERSION = "Couldn't retrieve version"
SHAREDCFG_FILENAME = "merged.mg"
AGENT_IP_LABEL = '#"_agent_ip":'

# The <force> defaults of src/config/authd-config.c.
FORCE_DEFAULTS = {"enabled": True, "key_mismatch": True,
                  "disconnected_time_enabled": True,
                  "disconnected_time": 3600,
                  "after_registration_time": 3600}


def is_valid_name(name):
    """OS_IsValidName() (src/addagent/validate.c)."""
    if not 2 <= len(name) <= 128 or name.startswith("."):
        return False
    return all(c.isascii() and (c.isalnum() or c in "-_.") for c in name)


def version_tuple(v):
    """compare_wazuh_versions(..., compare_patch=false)
    (src/shared/version_op.c): major and minor only, "v" ignored."""
    m = re.match(r"\s*v?(\d+)(?:\.(\d+))?", v or "")
    if not m:
        return (0, 0)
    return (int(m.group(1)), int(m.group(2) or 0))


class Key:
    """One client.keys entry and what remoted keeps for it."""

    def __init__(self, id_, name, ip, raw, group=None):
        self.id = id_
        self.name = name
        self.ip = ip
        self.raw = raw
        self.group = group
        self.codec = wc_key(id_, name, ip, raw)
        self.time_added = time.time()
        self.visible_at = 0.0       # monotonic: remoted sees it from then
        self.global_ = 0            # the last counters received
        self.local = 0
        self.conn = None            # the connection of its control msgs
        self.rcvd = None            # monotonic time of the last message
        self.first_seen = None
        self.shutdown_at = None     # wall clock of its last shutdown
        self.shared_pending = False  # merged.mg being sent to it

    def line(self):
        return "%s %s %s %s" % (self.id, self.name, self.ip, self.raw)


# ---- the codec (wazuh_codec.py), behind small functions ----


def wc_key(id_, name, ip, raw):
    return wc.Key(id_, name, ip, raw)


class BadChecksum(Exception):
    """ReadSecMSG's "(1406) Checksum mismatch" (KS_CORRUPT)."""


def wc_open(key, body):
    """ReadSecMSG on body ("#AES:" + ciphertext, the "!ID!" already
    removed): (global, local, payload bytes).  Raises BadChecksum for an
    MD5 mismatch, wc.CodecError for anything else (wrong key, bad
    format)."""
    try:
        return wc.open_msg(key.codec, body)
    except wc.CodecError as e:
        if str(e) == "MD5 mismatch":
            raise BadChecksum() from e
        raise


def wc_seal_from_manager(key, g, l, rnd, payload):
    """A manager message (CreateSecMSG without the "!ID!" prefix, as
    remoted builds it), framed as nb_queue() frames it."""
    return wc.seal_frame(key.codec, g, l, rnd, payload, agent=False)


class _Conn:
    """One remoted TCP connection."""

    def __init__(self, cid, sock, peer):
        self.id = cid
        self.sock = sock
        self.peer = peer
        self.t0 = time.monotonic()
        self.send_lock = threading.Lock()
        self.closed = False
        self.draining = None        # cut gracefully: read, drop, until then
        self.agent = None           # the agent id its messages named

    def send(self, data):
        with self.send_lock:
            if self.closed:
                return False
            try:
                self.sock.sendall(data)
                return True
            except OSError:
                return False

    def cut(self, graceful=False):
        """Close at once (what remoted's _close_sock() does); graceful:
        send FIN now and drop whatever arrives until the agent closes (at
        most DRAIN_TIME s), so that the agent reads everything sent before
        the cut (an RST would let its kernel throw away acks not read
        yet, a race no agent can be blamed for)."""
        with self.send_lock:
            if self.closed:
                return
            if graceful:
                if self.draining is None:
                    self.draining = time.monotonic() + DRAIN_TIME
                    try:
                        self.sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                return
            self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class _Listener:
    """A TCP listening socket on a held port, accepting in a thread."""

    def __init__(self, host, held_port, on_accept):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, held_port))
        self.sock.listen(64)
        self.stop_ev = threading.Event()
        self.on_accept = on_accept
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                r, _, _ = select.select([self.sock], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                s, addr = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.on_accept, args=(s, addr),
                             daemon=True).start()

    def close(self):
        self.stop_ev.set()
        self.thread.join(5)
        self.sock.close()


class WazuhManager:
    """authd and remoted of one Wazuh manager, in this process.

    certfile/keyfile: authd's TLS certificate (from tlsutil); password:
    the content of authd.pass (None: no password, as use_password=no);
    verify_msg_id: remoted.verify_msg_id (a stock manager has 0; the
    tests use 1); key_reload_delay: seconds before remoted accepts a newly
    enrolled key (real remoted: up to keyupdate_interval, 10 s);
    use_source_ip: authd's <use_source_ip> (the key's IP is the client's
    instead of "any"); force: overrides of FORCE_DEFAULTS; groups: the
    groups that exist (etc/shared/NAME); hostname: the manager's name
    (an agent may not take it); state_dir: when given, client.keys and
    queue/rids/ are written there too (for manual runs); host,
    authd_port, remoted_port: where to listen (0: a port the kernel
    picks); keys_from: another WazuhManager whose key store this one
    shares, as the nodes of a cluster share client.keys (for failover
    tests); shared_files: send the group's merged.mg (with agent_conf)
    to an agent whose keepalive reports another sum, as remoted does;
    max_agents: Wazuh 5.0.1's authd limit ("ERROR: Agent limit (N)
    reached"; 4.14.7 has none).

    Branch 5.0.1 (src/os_auth/src/, src/remoted/src/,
    src/shared/os_crypto/) keeps these answers, the ack, merged.mg and
    the counter rules; it adds the agent limit and "ERROR: Enrollment
    password not available" (a worker not synced yet)."""

    name = "wazuh-manager"

    def __init__(self, certfile, keyfile, password=None, verify_msg_id=True,
                 key_reload_delay=0.0, use_source_ip=False, force=None,
                 groups=("default",), hostname="wazuh-manager",
                 version=MANAGER_VERSION, recv_counter_flush=10,
                 connection_overtake_time=60, state_dir=None,
                 host="127.0.0.1", authd_port=0, remoted_port=0,
                 keys_from=None, shared_files=True, max_agents=None,
                 agent_conf=DEFAULT_AGENT_CONF, verbose=False):
        self.host = host
        self.certfile = certfile
        self.keyfile = keyfile
        self.ssl_ctx = testserver.ssl_context(certfile, keyfile)
        self.password = password
        self.verify_msg_id = verify_msg_id
        self.key_reload_delay = float(key_reload_delay)
        self.use_source_ip = use_source_ip
        self.force = dict(FORCE_DEFAULTS, **(force or {}))
        self.groups = set(groups)
        self.hostname = hostname
        self.version = version
        self.recv_counter_flush = recv_counter_flush
        self.connection_overtake_time = connection_overtake_time
        self.state_dir = state_dir
        self.verbose = verbose
        self.shared_files = shared_files
        self.max_agents = max_agents
        self.agent_conf = agent_conf
        self._send_lock = threading.Lock()
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        # id -> Key; another node of a cluster shares its master's
        # client.keys (keys_from): the same entries, counters included.
        self._keys = (keys_from._keys if keys_from is not None else
                      collections.OrderedDict())
        self._id_counter = 0
        self._rids = (keys_from._rids if keys_from is not None else
                      {})           # "queue/rids/ID": id -> (global, local)
        self._rcv_count = 0
        self._sender = [0, 0]       # "queue/rids/sender_counter"
        self._held = {}             # "authd"/"remoted" -> ReservedPort
        self._listeners = {}
        self._conns = set()
        self._conn_ids = itertools.count(1)
        self._seq = itertools.count(1)  # orders events, controls and acks
        self._no_ack = set()        # kinds of control msgs not acked
        self._drop_rules = []       # [events left before the cut]
        self.authd_port = authd_port
        self.remoted_port = remoted_port
        self.reset_views()

    def reset_views(self):
        """Forget what was seen (not the keys or the counters)."""
        with self._lock:
            self._events = []
            self._controls = []
            self._errors = []
            self._enrollments = []
            self._acks = []
            self.connections = 0
            self.tls_failures = []
            self.handler_errors = []

    # ---- life ----

    def reserve(self):
        """Take both ports (connections refused until start())."""
        for name in ("authd", "remoted"):
            if name not in self._held:
                self._held[name] = sysmonfwd_it.ReservedPort(
                    self.host, getattr(self, name + "_port"))
        self.authd_port = self._held["authd"].port
        self.remoted_port = self._held["remoted"].port
        return self

    def start(self):
        """Listen (again, on the same ports) with authd and remoted."""
        self.reserve()
        self.start_authd()
        self.start_remoted()
        return self

    def start_authd(self):
        self.reserve()
        if "authd" not in self._listeners:
            self._listeners["authd"] = _Listener(
                self.host, self.authd_port, self._authd_conn)
        return self

    def start_remoted(self):
        self.reserve()
        if "remoted" not in self._listeners:
            # OS_ReadKeys() and OS_StartCounter() at remoted's start: every
            # key in client.keys is known at once, the counters are what
            # queue/rids holds.
            with self._lock:
                now = time.monotonic()
                for k in self._keys.values():
                    k.visible_at = min(k.visible_at, now)
                    k.global_, k.local = self._rids.get(k.id, (0, 0))
                    k.conn = None
            self._listeners["remoted"] = _Listener(
                self.host, self.remoted_port, self._remoted_conn)
        return self

    def stop_authd(self):
        ls = self._listeners.pop("authd", None)
        if ls is not None:
            ls.close()

    def stop_remoted(self):
        """Stop remoted: no more connections, every open one cut."""
        ls = self._listeners.pop("remoted", None)
        if ls is not None:
            ls.close()
        self.drop_connections()

    def stop(self):
        self.stop_authd()
        self.stop_remoted()

    def restart(self):
        """Restart both daemons: same keys; remoted's received counters
        come back from what it stored in queue/rids (every
        recv_counter_flush messages), its sender counter as stored."""
        self.stop()
        self.start()
        return self

    def close(self):
        self.stop()
        for h in self._held.values():
            h.close()
        self._held = {}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ---- control ----

    def drop_connections(self):
        """Cut every open remoted connection now."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            self._close_conn(c, "dropped by the test", graceful=True)
        return len(conns)

    def drop_after(self, n):
        """Cut the connection that carries the n-th event from now, right
        after that event (the rest of its batch is thrown away unread)."""
        with self._lock:
            self._drop_rules.append(int(n))

    def forget_key(self, agent_id):
        """Remove the agent from the key store (as manage_agents -r):
        remoted closes its connections and refuses its ID; authd accepts
        its name again."""
        with self._lock:
            k = self._keys.pop(agent_id, None)
            self._rids.pop(agent_id, None)
            conns = [c for c in self._conns if c.agent == agent_id]
            self._write_keys()
        for c in conns:
            self._close_conn(c, "key removed")
        return k is not None

    def refuse_key(self, agent_id=None):
        """forget_key() for agent_id, or for every agent."""
        ids = [agent_id] if agent_id else self.agent_ids()
        return [i for i in ids if self.forget_key(i)]

    def stop_acking(self, kinds=("startup", "keepalive")):
        """Withhold the acks to these kinds of control messages (a
        startup left unanswered makes a Wazuh agent give up the
        connection, and enroll again after a few)."""
        with self._lock:
            self._no_ack = set(kinds)

    def resume_acking(self):
        with self._lock:
            self._no_ack = set()

    def add_key(self, name, ip="any", raw=None, group=None, id_=None):
        """A key added by hand (manage_agents -a); return its Key."""
        with self._lock:
            k = self._new_key(name, ip, group, id_, raw)
            k.visible_at = 0.0
            return k

    # ---- views ----

    def key_loaded(self, agent_id):
        """Whether remoted knows agent_id's key (enrolled, and the key
        reload delay is over)."""
        with self._lock:
            k = self._keys.get(agent_id)
            return k is not None and k.visible_at <= time.monotonic()

    def agent_ids(self):
        with self._lock:
            return list(self._keys)

    def keys(self):
        """[(id, name, ip, key)] of the key store."""
        with self._lock:
            return [(k.id, k.name, k.ip, k.raw) for k in
                    self._keys.values()]

    def client_keys(self):
        """The key store as client.keys text."""
        with self._lock:
            return "".join(k.line() + "\n" for k in self._keys.values())

    def event_log(self):
        """Every decrypted event (not control messages), in order: dicts
        with payload (str), raw (bytes), queue, location, message, agent,
        global, local, t (monotonic time of receipt), conn, seq (one
        order for events, control messages and acks)."""
        with self._lock:
            return [dict(e) for e in self._events]

    def events(self):
        """The decrypted "queue:location:message" payloads, in order."""
        with self._lock:
            return [e["payload"] for e in self._events]

    def controls(self):
        """Every control message: dicts with kind (startup, shutdown,
        keepalive, request, invalid), text (after "#!-"), acked, agent,
        global, local, t, conn, seq."""
        with self._lock:
            return [dict(c) for c in self._controls]

    def keepalives(self):
        """The keepalives, parsed as parse_agent_update_msg() does: dicts
        with uname, version, config_sum, merged_sum, agent_ip, labels, t,
        agent, conn, text, acked."""
        with self._lock:
            return [dict(c) for c in self._controls
                    if c["kind"] == "keepalive"]

    def acks(self):
        """Every message the manager sent: dicts with kind ("ack", "err",
        "shared": a piece of merged.mg), text, agent, conn, t, sent,
        global, local, seq."""
        with self._lock:
            return [dict(a) for a in self._acks]

    def errors(self):
        """Every refusal: dicts with kind ("unknown id", "bad format",
        "bad md5", "duplicated counter", "old counter", "wrong key",
        "too big", "key in use", "empty", "too long"), message (Wazuh's
        log text), agent, conn, t."""
        with self._lock:
            return [dict(e) for e in self._errors]

    def enrollments(self):
        """authd's requests: dicts with request (text, the password
        masked), name, answer, ok, id, t."""
        with self._lock:
            return [dict(e) for e in self._enrollments]

    def stats(self):
        with self._lock:
            return {"events": len(self._events),
                    "controls": len(self._controls),
                    "errors": collections.Counter(
                        e["kind"] for e in self._errors),
                    "enrollments": len(self._enrollments),
                    "connections": self.connections,
                    "keys": len(self._keys)}

    def wait_for(self, pred, timeout):
        """Wait until pred() is true (it may call the views); False after
        timeout seconds (a deadline for a failure, never a measure)."""
        end = time.monotonic() + timeout
        while True:
            if pred():
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            with self._cond:
                self._cond.wait(min(left, 0.1))

    def wait_events(self, n, timeout):
        return self.wait_for(lambda: len(self._events) >= n, timeout)

    def wait_keepalives(self, n, timeout):
        return self.wait_for(lambda: len(self.keepalives()) >= n, timeout)

    def wait_enrollments(self, n, timeout):
        return self.wait_for(lambda: len(self._enrollments) >= n, timeout)

    # ---- the key store ----

    def _new_key(self, name, ip, group, id_=None, raw=None):
        """OS_AddNewAgent() (src/addagent/validate.c); under the lock."""
        if id_ is None:
            self._id_counter += 1
            id_ = "%03d" % self._id_counter
        elif id_.isdigit() and int(id_) > self._id_counter:
            self._id_counter = int(id_)
        if raw is None:
            uname = "Linux |%s |test manager" % self.hostname
            s1 = "%d%s%d%s" % (int(time.time()), name,
                               random.getrandbits(31), uname)
            s2 = "%s%s%d" % (ip, id_, random.getrandbits(31))
            raw = (hashlib.md5(s1.encode()).hexdigest() +
                   hashlib.md5(s2.encode()).hexdigest())
        k = Key(id_, name, ip or "any", raw, group)
        k.visible_at = time.monotonic() + self.key_reload_delay
        self._keys[id_] = k
        self._write_keys()
        return k

    def _write_keys(self):
        if not self.state_dir:
            return
        os.makedirs(self.state_dir, exist_ok=True)
        path = os.path.join(self.state_dir, "client.keys")
        with open(path + ".tmp", "w") as f:
            f.write("".join(k.line() + "\n" for k in self._keys.values()))
        os.chmod(path + ".tmp", 0o640)
        os.replace(path + ".tmp", path)

    def _write_rids(self, name, g, l):
        if not self.state_dir:
            return
        d = os.path.join(self.state_dir, "queue", "rids")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "w") as f:
            f.write("%u:%u:" % (g, l))

    def _status(self, k):
        """(connection_status, disconnection_time) as wazuh-db would say:
        never_connected, active, or disconnected (after a shutdown)."""
        if k.first_seen is None:
            return "never_connected", 0
        if k.shutdown_at is not None:
            return "disconnected", k.shutdown_at
        return "active", 0

    # ---- authd ----

    def _authd_conn(self, raw, addr):
        with self._lock:
            self.connections += 1
        raw.settimeout(10)
        try:
            s = self.ssl_ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self._cond:
                self.tls_failures.append(str(e))
                self._cond.notify_all()
            raw.close()
            return
        try:
            buf = b""
            while b"\n" not in buf and len(buf) < MAX_SSL_MSG_SIZE:
                chunk = s.recv(MAX_SSL_MSG_SIZE - len(buf))
                if not chunk:
                    break
                buf += chunk
            if b"\n" not in buf:
                return      # closed (or too long) before a whole request
            line = buf.split(b"\n", 1)[0].decode("utf-8", "replace")
            answer = self._enroll(line, addr[0])
            s.sendall(answer.encode())
        except (OSError, ssl.SSLError) as e:
            with self._lock:
                self.handler_errors.append("authd: %r" % e)
        except Exception as e:  # a bug in the model: make it visible
            with self._lock:
                self.handler_errors.append("authd: %r" % e)
            raise
        finally:
            try:
                s.close()
            except OSError:
                pass

    def _enroll(self, line, srcip):
        """process_message() of main-server.c: the answer to one
        request line."""
        rec = {"request": self._mask(line), "t": time.monotonic(),
               "name": None, "ok": False, "id": None}
        with self._cond:
            why, name, ip, groups, khash = self._parse_request(line, srcip)
            rec["name"] = name
            if why is None:
                why = self._validate(ip, name, groups, khash)
            if why is None and self.max_agents is not None and \
                    len(self._keys) >= self.max_agents:
                # Wazuh 5.0.1 w_auth_add_agent() (src/os_auth/src/auth.c).
                why = "ERROR: Agent limit (%u) reached" % self.max_agents
            if why is None:
                k = self._new_key(name, ip, groups)
                answer = "OSSEC K:'%s %s %s %s'" % (k.id, k.name, k.ip,
                                                    k.raw)
                rec.update(ok=True, id=k.id)
            else:
                answer = "%s. %s" % (why, "Unable to add agent")
            rec["answer"] = answer if not rec["ok"] else \
                "OSSEC K:'%s %s %s <key>'" % (k.id, k.name, k.ip)
            self._enrollments.append(rec)
            self._cond.notify_all()
        return answer

    def _mask(self, line):
        if line.startswith("OSSEC PASS: "):
            rest = line[12:]
            i = rest.find(" OSSEC A:")
            return "OSSEC PASS: <%d chars>%s" % (
                i if i >= 0 else len(rest), rest[i:] if i >= 0 else "")
        return line

    def _parse_request(self, buf, srcip):
        """w_auth_parse_data() (auth.c): (error or None, name, ip,
        groups, key hash)."""
        name = groups = khash = None
        ip = srcip
        if self.password is not None:
            ok = False
            if buf.startswith("OSSEC PASS: "):
                buf = buf[12:]
                pw = self.password
                if len(buf) > len(pw) and buf.startswith(pw):
                    buf = buf[len(pw):]
                    if buf.startswith(" "):
                        buf = buf[1:]
                        ok = True
            if not ok:
                return "ERROR: Invalid password", None, ip, None, None
        if not buf.startswith("OSSEC A:'") or "'" not in buf[9:]:
            return ("ERROR: Invalid request for new agent", None, ip,
                    None, None)
        end = buf.index("'", 9)
        name = buf[9:end]
        buf = buf[end + 1:]
        if not is_valid_name(name):
            return "ERROR: Invalid agent name: %s" % name, name, ip, None, \
                None
        m = re.match(r" V:'([^']*)'", buf)
        if buf.startswith(" V:"):
            if not m:
                return "ERROR: Unterminated version field", name, ip, \
                    None, None
            if version_tuple(self.version) < version_tuple(m.group(1)):
                return ("ERROR: " + HC_INVALID_VERSION_RESPONSE, name, ip,
                        None, None)
            buf = buf[m.end():]
        if buf.startswith(" G:"):
            m = re.match(r" G:'([^']*)'", buf)
            if not m:
                return "ERROR: Unterminated group field", name, ip, None, \
                    None
            groups = ",".join(dict.fromkeys(
                g for g in m.group(1).split(",") if g))
            buf = buf[m.end():]
        if buf.startswith(" IP:"):
            m = re.match(r" IP:'([^' ]*)'", buf)
            if not m:
                return "ERROR: Unterminated IP field", name, ip, groups, \
                    None
            if m.group(1) != "src":
                if not re.fullmatch(r"[0-9.]+(/\d+)?|any|[0-9a-fA-F:]+",
                                    m.group(1)):
                    return ("ERROR: Invalid IP: %s" % m.group(1), name, ip,
                            groups, None)
                ip = m.group(1)
            buf = buf[m.end():]
        elif not self.use_source_ip:
            ip = "any"
        if buf.startswith(" K:"):
            m = re.match(r" K:'([^']*)'", buf)
            if not m:
                return "ERROR: Unterminated key field", name, ip, groups, \
                    None
            khash = m.group(1)
        return None, name, ip, groups, khash

    def _validate(self, ip, name, groups, khash):
        """w_auth_validate_data() (auth.c); under the lock."""
        if groups:
            for g in groups.split(","):
                if not re.fullmatch(r"[a-zA-Z0-9_.\-]+", g) or \
                        g in (".", ".."):
                    return "ERROR: Invalid group name: %s" % g
                if g not in self.groups:
                    return "ERROR: Invalid group: %s" % g
        if ip != "any":
            k = next((k for k in self._keys.values() if k.ip == ip), None)
            if k is not None and not self._replace(k, khash):
                return "ERROR: Duplicate IP: %s" % ip
        if name == self.hostname:
            return "ERROR: Invalid agent name: %s" % name
        k = next((k for k in self._keys.values() if k.name == name), None)
        if k is not None and not self._replace(k, khash):
            return "ERROR: Duplicate agent name: %s" % name
        return None

    def _replace(self, k, khash):
        """w_auth_replace_agent() (auth.c): whether the <force> options
        let a new enrollment replace the key k (then it is removed)."""
        f = self.force
        if not f["enabled"]:
            return False
        status, disc = self._status(k)
        if f["disconnected_time_enabled"] and status != "never_connected":
            if status == "disconnected" and disc > 0 and \
                    time.time() - disc < f["disconnected_time"]:
                return False
            if disc == 0:
                return False
        if f["after_registration_time"] > 0 and \
                time.time() - k.time_added < f["after_registration_time"]:
            return False
        if khash and f["key_mismatch"] and k.codec.key_hash() == khash:
            return False
        del self._keys[k.id]
        self._rids.pop(k.id, None)
        return True

    # ---- remoted ----

    def _remoted_conn(self, sock, addr):
        c = _Conn(next(self._conn_ids), sock, addr[0])
        with self._lock:
            self._conns.add(c)
            self.connections += 1
        buf = b""
        sock.settimeout(0.2)
        try:
            while not c.closed:
                if c.draining is not None and \
                        time.monotonic() > c.draining:
                    break
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                if c.draining is not None:
                    continue
                buf += chunk
                # nb_recv(): dispatch every whole frame.
                while len(buf) >= 4 and not c.closed and \
                        c.draining is None:
                    n = struct.unpack("<I", buf[:4])[0]
                    if n > OS_MAXSTR:
                        self._refuse(c, "too big", None, "Too big message "
                                     "size from socket [%d]." % c.id)
                        break
                    if len(buf) < 4 + n:
                        break
                    frame, buf = buf[4:4 + n], buf[4 + n:]
                    self._handle(c, frame)
        except Exception as e:  # a bug in the model: make it visible
            with self._lock:
                self.handler_errors.append("remoted: %r" % e)
            raise
        finally:
            self._close_conn(c, None)

    def _close_conn(self, c, why, graceful=False):
        """_close_sock(): OS_DeleteSocket() and close (graceful: see
        _Conn.cut())."""
        c.cut(graceful)
        with self._cond:
            self._conns.discard(c)
            for k in self._keys.values():
                if k.conn is c:
                    k.conn = None
            self._cond.notify_all()

    def _refuse(self, c, kind, agent, message):
        """Record a refusal and close the connection, as remoted does for
        each of them."""
        with self._cond:
            self._errors.append({"kind": kind, "message": message,
                                 "agent": agent, "conn": c.id,
                                 "t": time.monotonic()})
            self._cond.notify_all()
        if self.verbose:
            sys.stderr.write("remoted: %s\n" % message)
        self._close_conn(c, kind)

    def _handle(self, c, frame):
        """HandleSecureMessage() (secure.c) for one frame."""
        if frame.startswith(b"!"):
            m = re.match(rb"!(\d*)(!?)", frame)
            if not m.group(2):
                return self._refuse(c, "bad format", None, "(1403): "
                                    "Incorrectly formatted message from "
                                    "agent '(unknown)' (host '%s')." %
                                    c.peer)
            aid = m.group(1).decode()
            body = frame[m.end():]
            with self._lock:
                k = self._keys.get(aid)
                if k is not None and k.visible_at > time.monotonic():
                    k = None
            if k is None:
                return self._refuse(c, "unknown id", aid, "(1408): Invalid "
                                    "ID %s for the source ip: '%s' (name "
                                    "'unknown')." % (aid, c.peer))
        elif frame.startswith(b"#ping"):
            c.send(struct.pack("<I", 5) + b"#pong")
            return
        else:
            with self._lock:
                k = next((k for k in self._keys.values()
                          if k.ip == c.peer and
                          k.visible_at <= time.monotonic()), None)
            if k is None:
                return self._refuse(c, "unknown id", None, "(1213): Message "
                                    "from '%s' not allowed. Cannot find "
                                    "the ID of the agent. Source agent ID "
                                    "is unknown." % c.peer)
            body = frame
        with self._lock:
            other = k.conn
            if other is not None and other is not c and not other.closed:
                idle = time.monotonic() - (k.rcvd or 0)
                if not (self.connection_overtake_time > 0 and
                        idle > self.connection_overtake_time):
                    other = "busy"
        if other == "busy":
            return self._refuse(c, "key in use", k.id, "Agent key already "
                                "in use: agent ID '%s'" % k.id)
        if other is not None and other is not c:
            self._close_conn(other, "idle socket overtaken")
        c.agent = k.id
        if not body:
            return self._refuse(c, "empty", k.id, "Received message is "
                                "empty")
        try:
            g, l, payload = wc_open(k, body)
        except BadChecksum:
            return self._refuse(c, "bad md5", k.id, "(1406): Checksum "
                                "mismatch. Message received from agent "
                                "'%s' at '%s'." % (k.id, k.ip))
        except wc.CodecError as e:
            return self._refuse(c, "wrong key", k.id, "(1404): "
                                "Authentication error. Wrong key or "
                                "corrupt payload. Message received from "
                                "agent '%s' at '%s'. (%s)" % (k.id, c.peer,
                                                               e))
        if not self._counters_ok(c, k, g, l):
            return
        if len(payload) > OS_MAXSTR:
            return self._refuse(c, "too long", k.id, "Message length (%d) "
                                "exceeds maximum allowed size" %
                                len(payload))
        now = time.monotonic()
        with self._lock:
            k.rcvd = now
            if k.first_seen is None:
                k.first_seen = now
        if payload.startswith(CONTROL_HEADER.encode()):
            return self._control(c, k, g, l, payload[3:], now)
        self._event(c, k, g, l, payload, now)

    def _counters_ok(self, c, k, g, l):
        """The counter part of ReadSecMSG() (msgs.c)."""
        with self._lock:
            if self._rcv_count >= self.recv_counter_flush:
                store = True
                self._rcv_count = 0
            else:
                store = False
            if not self.verify_msg_id or g > k.global_ or \
                    (g == k.global_ and l > k.local):
                k.global_, k.local = g, l
                if store:
                    self._rids[k.id] = (g, l)
                    self._write_rids(k.id, g, l)
                self._rcv_count += 1
                return True
            saved = (k.global_, k.local)
        if g == saved[0]:
            self._refuse(c, "duplicated counter", k.id,
                         "Duplicate error:  global: %u, local: %u, saved "
                         "global: %u, saved local:%u; (1407): Duplicated "
                         "counter for '%s'." % (g, l, saved[0], saved[1],
                                                k.name))
        else:
            self._refuse(c, "old counter", k.id, "(1404): Authentication "
                         "error. Wrong key or corrupt payload. Message "
                         "received from agent '%s' at '%s'. (global %u "
                         "below the saved %u)" % (k.id, c.peer, g,
                                                   saved[0]))
        return False

    def _event(self, c, k, g, l, payload, now):
        text = payload.decode("utf-8", "replace")
        queue, location, message = split_payload(text)
        with self._cond:
            self._events.append({
                "payload": text, "raw": payload, "queue": queue,
                "location": location, "message": message, "agent": k.id,
                "global": g, "local": l, "t": now, "conn": c.id,
                "seq": next(self._seq)})
            cut = False
            if self._drop_rules:
                self._drop_rules = [n - 1 for n in self._drop_rules]
                if self._drop_rules[0] <= 0:
                    self._drop_rules.pop(0)
                    cut = True
            self._cond.notify_all()
        if cut:
            self._close_conn(c, "drop_after", graceful=True)

    def _control(self, c, k, g, l, body, now):
        """validate_control_msg() and save_controlmsg() (manager.c)."""
        text = body.decode("utf-8", "replace")
        rec = {"text": text, "agent": k.id, "global": g, "local": l,
               "t": now, "conn": c.id, "acked": False}
        ack = True
        err = None
        if text.startswith(HC_REQUEST):
            rec["kind"] = "request"
            ack = False
        elif text.startswith(HC_STARTUP) or text == HC_SHUTDOWN:
            if text == HC_SHUTDOWN:
                rec["kind"] = "shutdown"
                ack = False
            else:
                rec["kind"] = "startup"
                err = self._startup_error(text)
                if err is not None:
                    ack = False
        elif "\n" in text:
            rec["kind"] = "keepalive"
            rec.update(parse_keepalive(text))
        else:
            rec["kind"] = "invalid"
            ack = False
        with self._cond:
            if rec["kind"] != "shutdown":
                k.conn = c      # OS_AddSocket(): where the answers go
                k.shutdown_at = None
            else:
                k.shutdown_at = time.time()
            if rec["kind"] in self._no_ack and ack:
                ack = False
                rec["ack_withheld"] = True
            rec["seq"] = next(self._seq)
            self._controls.append(rec)
            self._cond.notify_all()
        if ack:
            rec["acked"] = self._send(k, CONTROL_HEADER + HC_ACK, c,
                                      kind="ack")
        elif err is not None:
            self._send(k, CONTROL_HEADER + HC_ERROR + err, c, kind="err")
        if rec["kind"] == "keepalive":
            self._push_shared(k, c, rec.get("merged_sum"))

    def _push_shared(self, k, c, agent_sum):
        """save_controlmsg(): a keepalive whose merged.mg sum is not the
        group's has the group's merged.mg sent (wait_for_msgs(), another
        thread, after the ack), unless a sending is pending; an agent that
        never reports the sum gets it after every keepalive."""
        if not self.shared_files:
            return
        group = (k.group or "default").split(",")[0]
        merged = self.merged_mg(group)
        msum = hashlib.md5(merged).hexdigest()
        with self._lock:
            if agent_sum == msum or k.shared_pending:
                return
            k.shared_pending = True
        threading.Thread(target=self._send_shared,
                         args=(k, c, merged, msum), daemon=True).start()

    def _send_shared(self, k, c, merged, msum):
        """send_file_toagent(): "#!-up file <sum> merged.mg\n", the file
        in pieces of 900 bytes (plain messages, no header), then
        "#!-close file "."""
        try:
            if not self._send(k, "%s%s%s %s\n" % (
                    CONTROL_HEADER, FILE_UPDATE_HEADER, msum,
                    SHAREDCFG_FILENAME), c, kind="shared"):
                return
            for i in range(0, len(merged), 900):
                if not self._send(k, merged[i:i + 900].decode(), c,
                                  kind="shared"):
                    return
            self._send(k, CONTROL_HEADER + FILE_CLOSE_HEADER, c,
                       kind="shared")
        finally:
            with self._lock:
                k.shared_pending = False

    def merged_mg(self, group):
        """The group's merged.mg as the manager builds it (the group's
        name, then each file as "!<size> <name>\n<content>",
        MergeAppendFile() in src/shared/file_op.c): here one agent.conf."""
        conf = self.agent_conf.encode()
        return b"#%s\n!%d agent.conf\n" % (group.encode(), len(conf)) + \
            conf

    def _startup_error(self, text):
        """What save_controlmsg() answers a startup with instead of an ack
        (None: an ack): a version newer than the manager's (major.minor),
        or none."""
        i = text.find("{")
        if i < 0:
            return None
        try:
            info = json.loads(text[i:])
        except ValueError:
            return None
        v = info.get("version") if isinstance(info, dict) else None
        if not isinstance(v, str):
            msg = HC_RETRIEVE_VERSION
        elif version_tuple(self.version) < version_tuple(v):
            msg = HC_INVALID_VERSION_RESPONSE
        else:
            return None
        return json.dumps({"message": msg}, separators=(",", ":"))

    def _send(self, k, text, c, kind):
        """send_msg_with_key_control(): CreateSecMSG with the manager's
        sender counter (stored at each message, StoreSenderCounter()),
        queued on the agent's connection; the counters go out in the
        order they were taken (one sender at a time)."""
        with self._send_lock:
            return self._send_locked(k, text, c, kind)

    def _send_locked(self, k, text, c, kind):
        with self._lock:
            if self._sender[1] >= 9997:
                self._sender = [self._sender[0] + 1, 0]
            self._sender[1] += 1
            g, l = self._sender
            self._write_rids("sender_counter", g, l)
            conn = k.conn or c
        frame = wc_seal_from_manager(k, g, l, random.getrandbits(16),
                                     text.encode())
        # Recorded before it is sent: whoever has read it finds it here.
        rec = {"agent": k.id, "conn": conn.id, "kind": kind, "text": text,
               "t": time.monotonic(), "sent": None, "global": g,
               "local": l}
        with self._cond:
            rec["seq"] = next(self._seq)
            self._acks.append(rec)
            self._cond.notify_all()
        ok = conn.send(frame)
        with self._cond:
            rec["sent"] = ok
            self._cond.notify_all()
        return ok


def split_payload(text):
    """(queue, location, message) of "queue:location:message" as
    analysisd reads it (wazuh_codec.split_event); (None, None, text) when
    the payload does not have that form."""
    try:
        return wc.split_event(text)
    except wc.CodecError:
        return None, None, text


def parse_keepalive(text):
    """parse_agent_update_msg() (src/shared/remoted_op.c) on the text of
    a keepalive (after "#!-"), plus what validate_control_msg() keeps."""
    out = {"uname": None, "version": None, "config_sum": None,
           "merged_sum": None, "agent_ip": None, "labels": []}
    for line in [x for x in text.split("\n") if x]:
        if line[0] in "#!\"":
            if line.startswith(AGENT_IP_LABEL):
                out["agent_ip"] = line[len(AGENT_IP_LABEL):]
            else:
                out["labels"].append(line)
        elif " - " in line:
            uname, rest = line.split(" - ", 1)
            out["uname"] = uname
            if " / " in rest:
                out["version"], out["config_sum"] = rest.split(" / ", 1)
            elif "Wazuh" in rest:
                out["version"] = rest[rest.index("Wazuh"):]
        elif " " in line:
            s, f = line.split(" ", 1)
            if f.startswith(SHAREDCFG_FILENAME[:-1]):
                out["merged_sum"] = s
    return out


# ---- a tiny agent for the self-test (and for manual runs) ----


class TinyAgent:
    """A minimal Wazuh agent on wazuh_codec.py: enrolls over TLS, then
    sends sealed frames to remoted and reads what the manager answers."""

    def __init__(self, mgr, cafile=None):
        self.mgr = mgr
        self.cafile = cafile
        self.key = None
        self.sock = None
        self.g, self.l = 0, 0
        self.buf = b""
        self.shared = []

    def enroll(self, name, password=None, groups=None, raw=None):
        """The answer text of authd to an enrollment of name (raw: the
        request line sent verbatim instead)."""
        ctx = ssl.create_default_context(cafile=self.cafile)
        if self.cafile is None:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        req = raw if raw is not None else wc.enroll_request(
            name, groups=groups, password=password)
        if isinstance(req, str):
            req = req.encode()
        with socket.create_connection((self.mgr.host, self.mgr.authd_port),
                                      10) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                t.sendall(req)
                out = b""
                while True:
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    out += chunk
        ans = out.decode("utf-8", "replace")
        m = re.match(r"OSSEC K:'(\S+) (\S+) (\S+) (\S+)'", ans)
        if m:
            self.key = wc_key(*m.groups())
        return ans

    def connect(self):
        self.sock = socket.create_connection(
            (self.mgr.host, self.mgr.remoted_port), 10)
        self.buf = b""

    def next_counters(self):
        if self.l >= 9997:
            self.g, self.l = self.g + 1, 0
        self.l += 1
        return self.g, self.l

    def frame(self, payload, g=None, l=None):
        if g is None:
            g, l = self.next_counters()
        return wc.seal_frame(self.key, g, l, random.getrandbits(16),
                             payload.encode() if isinstance(payload, str)
                             else payload)

    def send(self, payload, g=None, l=None):
        self.sock.sendall(self.frame(payload, g, l))

    def recv_plain(self, timeout=10, shared=False):
        """The next manager message, decrypted (None: the connection was
        closed); the pieces of a merged.mg being sent are kept in
        self.shared and skipped, unless shared is true."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack("<I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    msg, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    text = wc.open_msg(self.key, msg)[2].decode()
                    if shared or text.startswith(
                            (CONTROL_HEADER + HC_ACK,
                             CONTROL_HEADER + HC_ERROR)):
                        return text
                    self.shared.append(text)
                    continue
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, OSError):
                return None
            if not chunk:
                return None
            self.buf += chunk

    def closed_by_peer(self, timeout=10):
        """Whether the manager closed the connection (EOF or reset)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def self_test(verbose=False):
    """The manager against TinyAgent: enrollment answers (a key, a name
    taken, a wrong password, a bad request), acks, and the refusals (a bad
    MD5, a replayed counter, an unknown id, a key not loaded yet, a frame
    too big); return the failures."""
    import tlsutil
    st = testserver.SelfTest("wazuh_manager", verbose)
    tmp = tempfile.mkdtemp(prefix="wazuh-manager-selftest-")
    try:
        pki = tlsutil.make_pki(os.path.join(tmp, "pki"))
        _self_test_body(st, pki)
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return st.fails


def _self_test_body(st, pki):
    m = WazuhManager(pki["server"], pki["server_key"], password="s3cr3t",
                     verify_msg_id=True).start()
    try:
        a = TinyAgent(m, pki["ca"])
        ans = a.enroll("agent-one", password="s3cr3t", groups="default")
        st.check(re.fullmatch(r"OSSEC K:'001 agent-one any [0-9a-f]{64}'",
                              ans) is not None, "enrollment answer: %r" %
                 ans)
        st.check(m.keys()[0][:3] == ("001", "agent-one", "any"),
                 "the key is in the store: %r" % m.keys())
        b = TinyAgent(m, pki["ca"])
        st.check(b.enroll("agent-one", password="s3cr3t") ==
                 "ERROR: Duplicate agent name: agent-one. Unable to add "
                 "agent", "a name taken (force: registered < 1 h ago)")
        st.check(b.enroll("agent-two", password="wrong") ==
                 "ERROR: Invalid password. Unable to add agent",
                 "a wrong password")
        st.check(b.enroll("agent-two") ==
                 "ERROR: Invalid password. Unable to add agent",
                 "no password")
        st.check(b.enroll(None, raw="OSSEC PASS: s3cr3t HELLO\n") ==
                 "ERROR: Invalid request for new agent. Unable to add "
                 "agent", "a bad request")
        st.check(b.enroll(None, raw="OSSEC PASS: s3cr3t OSSEC A:'a b'\n")
                 == "ERROR: Invalid agent name: a b. Unable to add agent",
                 "an invalid name")
        st.check(b.enroll("agent-two", password="s3cr3t",
                          groups="nosuch") ==
                 "ERROR: Invalid group: nosuch. Unable to add agent",
                 "an unknown group")
        st.check(b.enroll("agent-two", password="s3cr3t").startswith(
            "OSSEC K:'002 agent-two any "), "a second agent gets 002")
        # Messages: startup and keepalive acked, events recorded in order.
        a.connect()
        a.send("#!-agent startup {\"version\":\"v4.14.7\"}")
        st.check(a.recv_plain() == "#!-agent ack ", "startup acked")
        a.send("1:/var/log/syslog:hello")
        a.send("f:EventChannel:{\"Message\":\"x\"}")
        a.send("#!-Linux |h |6.1 |#1 |x86_64 [Debian GNU/Linux|debian: 12]"
               " - Wazuh v4.14.7\nd41d8cd98f00b204e9800998ecf8427e "
               "merged.mg\n#\"_agent_ip\":10.0.0.5\n")
        st.check(a.recv_plain() == "#!-agent ack ", "keepalive acked")
        merged = m.merged_mg("default")
        msum = hashlib.md5(merged).hexdigest()
        up = a.recv_plain(shared=True)
        body = ""
        while True:
            x = a.recv_plain(shared=True)
            if x is None or x.startswith("#!-close file"):
                break
            body += x
        st.check(up == "#!-up file %s merged.mg\n" % msum and
                 body.encode() == merged and x == "#!-close file ",
                 "merged.mg sent after a keepalive with another sum: %r %r "
                 "%r" % (up, body, x))
        st.check(m.events() == ["1:/var/log/syslog:hello",
                                "f:EventChannel:{\"Message\":\"x\"}"],
                 "events in order: %r" % m.events())
        ka = m.keepalives()
        st.check(len(ka) == 1 and ka[0]["agent_ip"] == "10.0.0.5" and
                 ka[0]["merged_sum"] == "d41d8cd98f00b204e9800998ecf8427e"
                 and ka[0]["version"] == "Wazuh v4.14.7" and
                 ka[0]["uname"].startswith("Linux |h"),
                 "keepalive parsed: %r" % ka)
        # A replayed counter: refused and the connection closed.
        a.send("1:x:replayed", a.g, a.l)
        st.check(a.closed_by_peer(), "a replayed counter closes the "
                 "connection")
        st.check(m.errors()[-1]["kind"] == "duplicated counter",
                 "duplicated counter recorded: %r" % m.errors()[-1:])
        # A bad MD5: the frame sealed over a payload changed afterwards.
        a.connect()
        g, l = a.next_counters()
        st.check(_bad_md5(m, a, g, l), "a bad MD5 closes the connection")
        st.check(m.errors()[-1]["kind"] == "bad md5",
                 "bad MD5 recorded: %r" % m.errors()[-1:])
        # An older global counter.
        a.connect()
        a.g, a.l = a.g + 5, 0
        a.send("1:x:jump")
        a.send("1:x:old", a.g - 1, 100)
        st.check(a.closed_by_peer(), "an older global closes the "
                 "connection")
        st.check(m.errors()[-1]["kind"] == "old counter",
                 "older counter recorded: %r" % m.errors()[-1:])
        # Unknown id.
        a.connect()
        a.sock.sendall(_with_id(a.frame("1:x:y"), "077"))
        st.check(a.closed_by_peer(), "an unknown id closes the connection")
        st.check(m.errors()[-1]["kind"] == "unknown id" and
                 m.errors()[-1]["agent"] == "077",
                 "unknown id recorded: %r" % m.errors()[-1:])
        # Too big a frame.
        a.connect()
        a.sock.sendall(struct.pack("<I", OS_MAXSTR + 1) + b"!001!")
        st.check(a.closed_by_peer() and
                 m.errors()[-1]["kind"] == "too big", "a frame over "
                 "OS_MAXSTR closes the connection")
        # Shutdown: not acked.
        a.connect()
        a.send("#!-agent shutdown ")
        a.send("#!-Linux |h - Wazuh v4.14.7\nx merged.mg\n")
        st.check(a.recv_plain() == "#!-agent ack ", "only the keepalive "
                 "after a shutdown is acked")
        st.check(m.controls()[-2]["kind"] == "shutdown" and
                 not m.controls()[-2]["acked"], "shutdown recorded")
        # stop_acking; a dropped connection; a forgotten key.
        m.stop_acking()
        def n_acks():
            return sum(1 for x in m.acks() if x["kind"] == "ack")
        n_ack0, n_ka = n_acks(), len(m.keepalives())
        a.send("#!-Linux |h - Wazuh v4.14.7\nx merged.mg\n")
        st.check(m.wait_keepalives(n_ka + 1, 10) and
                 m.keepalives()[-1].get("ack_withheld") and
                 n_acks() == n_ack0, "acks withheld")
        m.resume_acking()
        m.drop_after(2)
        a.send("1:x:a")
        a.send("1:x:b")
        a.send("1:x:c")
        st.check(a.closed_by_peer(), "drop_after(2) cuts the connection")
        st.check(m.events()[-2:] == ["1:x:a", "1:x:b"], "the cut is right "
                 "after the 2nd event: %r" % m.events()[-3:])
        # Restart: counters from queue/rids, possibly behind by < 10.
        g0 = a.g
        m.restart()
        a.connect()
        a.send("1:x:after-restart")
        a.send("#!-Linux |h - Wazuh v4.14.7\nx merged.mg\n")
        st.check(a.recv_plain() == "#!-agent ack " and
                 m.events()[-1] == "1:x:after-restart",
                 "after restart (counters at %d)" % g0)
        st.check(m.forget_key("001") and a.closed_by_peer(),
                 "forget_key closes the agent's connection")
        a.connect()
        a.send("1:x:forgotten")
        st.check(a.closed_by_peer() and
                 m.errors()[-1]["kind"] == "unknown id",
                 "a forgotten key is an unknown id")
        st.check(a.enroll("agent-one", password="s3cr3t").startswith(
            "OSSEC K:'003 agent-one any "), "its name can enroll again")
        st.check(not m.handler_errors, "handler errors: %r" %
                 m.handler_errors)
    finally:
        m.close()
    # The key reload delay: a new key is refused until remoted has it.
    m = WazuhManager(pki["server"], pki["server_key"],
                     key_reload_delay=3.0).start()
    try:
        a = TinyAgent(m, pki["ca"])
        t = time.monotonic()    # before the key exists: a lower bound
        ans = a.enroll("late-agent")
        a.connect()
        a.send("#!-agent startup {\"version\":\"v4.14.7\"}")
        st.check(a.closed_by_peer() and
                 m.errors()[-1]["kind"] == "unknown id",
                 "a key not reloaded yet is refused (%r)" % ans)
        st.check(m.wait_for(lambda: m.key_loaded("001"), 10) and
                 time.monotonic() - t >= 3.0, "remoted loads the key "
                 "after the delay")
        a.connect()
        a.send("#!-agent startup {\"version\":\"v4.14.7\"}")
        st.check(a.recv_plain() == "#!-agent ack ", "accepted after the "
                 "reload delay")
        a.send("#!-agent startup {\"version\":\"v5.0.0\"}")
        r = a.recv_plain()
        st.check(r is not None and r.startswith("#!-err ") and
                 HC_INVALID_VERSION_RESPONSE in r, "a newer version: %r" % r)
    finally:
        m.close()


def _with_id(frame, aid):
    """frame (length prefix + "!ID!#AES:...") with its ID replaced."""
    body = frame[4:]
    end = body.index(b"!", 1)
    body = b"!" + aid.encode() + body[end:]
    return struct.pack("<I", len(body)) + body


def _bad_md5(m, a, g, l):
    """Send a frame sealed as CreateSecMSG does but with an MD5 that does
    not match its content; whether the manager closed the connection."""
    inner = wc.plaintext(g, l, 1, b"1:x:tampered")
    inner = b"0" * 32 + inner[32:]
    comp = zlib.compress(inner, 9)
    pad = (8 - (len(comp) + 1) % 8) % 8
    msg = (b"!" + a.key.id.encode() + b"!#AES:" +
           wc.aes_encrypt(a.key.aes, b"!" * (1 + pad) + comp))
    a.sock.sendall(wc.frame(msg))
    return a.closed_by_peer()


def main():
    ap = argparse.ArgumentParser(description="Wazuh test manager (authd "
                                 "and remoted)")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--password", help="authd.pass content")
    ap.add_argument("--no-verify-msg-id", action="store_true")
    ap.add_argument("--key-reload-delay", type=float, default=0.0)
    ap.add_argument("--state-dir", help="client.keys and queue/rids here")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        testserver.self_test_main("wazuh_manager", self_test, a.verbose)
    tmp = None
    if a.cert is None:
        import tlsutil
        tmp = tempfile.mkdtemp(prefix="wazuh-manager-")
        pki = tlsutil.make_pki(os.path.join(tmp, "pki"))
        a.cert, a.key = pki["server"], pki["server_key"]
        print("CA file: %s" % pki["ca"])
    state = a.state_dir or tempfile.mkdtemp(prefix="wazuh-manager-keys-")
    m = WazuhManager(a.cert, a.key, password=a.password,
                     verify_msg_id=not a.no_verify_msg_id,
                     key_reload_delay=a.key_reload_delay, state_dir=state,
                     verbose=a.verbose).start()
    print("authd on 127.0.0.1:%d, remoted on 127.0.0.1:%d, keys in %s" %
          (m.authd_port, m.remoted_port, state), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    seen = 0
    while not stop.wait(0.5):
        ev = m.event_log()
        for e in ev[seen:]:
            print("%s %d:%d %s" % (e["agent"], e["global"], e["local"],
                                   sysmonfwd_it.short(e["payload"], 200)),
                  flush=True)
        seen = len(ev)
    m.close()
    print(json.dumps(m.stats(), sort_keys=True, default=str), flush=True)


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    main()
