"""The Wazuh agent protocol's codec, in Python: a reference written from
Wazuh's own source, for the test manager (authd + remoted) and to compute
the fixed vectors of tests/test_wazuh_proto.c.

It follows wazuh/wazuh at tag v4.14.7 (file by file below; branch 5.0.1
keeps the same algorithms under src/shared/os_crypto/, src/os_auth/src/,
src/remoted/src/).  It is not derived from our C code
(transport/wazuh_proto.c): where the two disagree, this one is meant to be
right.  Standard library plus python3-cryptography (Debian 12: 38.0.4;
only APIs that version has).

Keys (src/os_crypto/shared/keys.c OS_ReadKeys, OS_AddKey, w_get_key_hash)
    A client.keys line is "ID NAME IP KEY".  OS_AddKey derives the
    encryption key as the text md5(KEY) + md5(md5(NAME) + md5(ID))[:15]
    (MD5s in lower-case hex); AES-256 reads its first 32 bytes, that is the
    ASCII text md5(KEY).  Key.aes is those 32 bytes.

Messages (src/os_crypto/shared/msgs.c CreateSecMSG / ReadSecMSG,
src/os_crypto/aes/aes_op.c, src/os_zlib/os_zlib.c)
    body   = "%05hu%010u:%04u:" % (rand, global, local) + payload
    inner  = md5hex(body) + body
    comp   = zlib.compress(inner, 9)             (compress2, level 9)
    padded = "!" * (1 + (8 - (len(comp) + 1) % 8) % 8) + comp
    cipher = AES-256-CBC(key, iv=b"FEDCBA0987654321", PKCS#7)(padded)
    msg    = ["!" + ID + "!"] + "#AES:" + cipher
    The "!ID!" prefix is there when the sender is an agent and its key's
    IP is not a single host (isSingleHost, src/headers/validate_op.h:
    "any", an IPv4 network, any IPv6).  The manager's messages never have
    it.  Counters: before each message the sender does
    "if local >= 9997: local = 0; global += 1" then "local += 1".

TCP framing (src/os_net/os_net.c OS_SendSecureTCP / OS_RecvSecureTCP,
src/remoted/netbuffer.c nb_recv)
    Each message is preceded by its length as a 4-byte little-endian
    unsigned integer.  remoted closes the connection when a length is over
    OS_MAXSTR (65536); the agent refuses the same from the manager.

Enrollment (src/shared/enrollment_op.c, src/os_auth/auth.c
w_auth_parse_data, src/os_auth/main-server.c process_message)
    Request: "[OSSEC PASS: <pass> ]OSSEC A:'<name>'[ V:'<ver>'][ G:'<groups>']
    [ IP:'<ip>'][ K:'<sha1>']\n" (in that order; authd reads up to the
    newline).  Answer, no newline, then authd closes:
    "OSSEC K:'<id> <name> <ip> <key>'" or "ERROR: <why>. Unable to add agent".

Control messages (src/headers/rc.h, src/client-agent/start_agent.c,
notify.c, src/remoted/manager.c validate_control_msg)
    "#!-agent startup {"version":"v4.14.7"}"; keepalive
    "#!-<uname>\n<labels><md5|x> merged.mg\n[#"_agent_ip":<ip>]\n";
    "#!-agent shutdown "; the manager acks startup and keepalives with
    "#!-agent ack " (not the shutdown), and refuses a version newer than
    its own with '#!-err {"message":"..."}'.

Run as a script it checks itself (python3 wazuh_codec.py --self-test).
"""

import hashlib
import re
import struct
import zlib

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

OS_MAXSTR = 65536                      # src/headers/defs.h
OS_HEADER_SIZE = 128                   # defs.h
PAYLOAD_MAX = OS_MAXSTR - OS_HEADER_SIZE   # CreateSecMSG's limit
FRAME_MAX = OS_MAXSTR                  # nb_recv, OS_RecvSecureTCP
MSG_OVERHEAD = 32 + 5 + 10 + 4 + 2     # msgs.c MSG_OVERHEAD
AES_IV = b"FEDCBA0987654321"           # aes_op.c OS_AES_Str
CONTROL_HEADER = "#!-"                 # rc.h
HC_STARTUP = "agent startup "
HC_SHUTDOWN = "agent shutdown "
HC_ACK = "agent ack "
HC_ERROR = "err "
HC_INVALID_VERSION_RESPONSE = \
    "Agent version must be lower or equal to manager version"
ACK_MSG = CONTROL_HEADER + HC_ACK
SHUTDOWN_MSG = CONTROL_HEADER + HC_SHUTDOWN
# The MD5 of an empty file; a fresh agent has no merged.mg and sends "x".
NO_MERGED_MD5 = "x"

# authd's answers (src/os_auth/auth.c, main-server.c at v4.14.7; 5.0.1
# adds "ERROR: Enrollment password not available" and drops the "same as
# manager" name check).
ERR_BAD_PASSWORD = "ERROR: Invalid password"
ERR_NAME_TAKEN = "ERROR: Duplicate agent name: %s"
ERR_IP_TAKEN = "ERROR: Duplicate IP: %s"
ERR_BAD_NAME = "ERROR: Invalid agent name: %s"
ERR_BAD_REQUEST = "ERROR: Invalid request for new agent"
ERR_BAD_GROUP = "ERROR: Invalid group: %s"
ERR_VERSION = "ERROR: " + HC_INVALID_VERSION_RESPONSE
ANSWER_SUFFIX = ". Unable to add agent"


class CodecError(ValueError):
    """A message, frame or line that Wazuh's code would refuse."""


def md5hex(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.md5(data).hexdigest()


# ---- keys -------------------------------------------------------------------

_NAME_RE = re.compile(r"[A-Za-z0-9._-]{2,128}\Z")
_ID_RE = re.compile(r"[0-9]{1,8}\Z")
_IPV4 = r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}" \
        r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def valid_name(s):
    """OS_IsValidName (src/addagent/validate.c): 2-128 of [A-Za-z0-9._-],
    not starting with '.'.  The agent checks NAME and KEY with it."""
    return bool(_NAME_RE.match(s)) and not s.startswith(".")


def valid_id(s):
    """OS_IsValidID: 1-8 digits (an empty one passes Wazuh's loop; we
    refuse it, authd never makes one)."""
    return bool(_ID_RE.match(s))


def ip_netmask_bits(ip):
    """The prefix length OS_IsValidIP (src/shared/validate_op.c) gives an
    address: "any" 0, IPv4 32 unless "/n" or "/a.b.c.d" says otherwise,
    IPv6 -1 (isSingleHost is false for every IPv6).  None if invalid."""
    if ip.startswith("!"):
        ip = ip[1:]
    if ip == "any":
        return 0
    m = re.match(r"(?:::[fF]{4}:)?(" + _IPV4 + r")(?:/(.+))?\Z", ip)
    if m:
        mask = m.group(2)
        if mask is None:
            return 32
        if re.match(r"(3[0-2]|[1-2]?[0-9])\Z", mask):
            return int(mask)
        if re.match(_IPV4 + r"\Z", mask):
            n = struct.unpack(">I", bytes(int(x) for x in mask.split(".")))[0]
            return bin(n).count("1") if n == 0xFFFFFFFF else 0
        return None
    m = re.match(r"([0-9a-fA-F:]+)(?:/([0-9]{1,3}))?\Z", ip)
    if m and 2 <= m.group(1).count(":") <= 7 and \
            (m.group(2) is None or int(m.group(2)) <= 128):
        return -1
    return None


def is_single_host(ip):
    """isSingleHost(): an IPv4 address with a full /32 mask."""
    return ip_netmask_bits(ip) == 32


def derive_encryption_key(key_id, name, key):
    """OS_AddKey's encryption_key text (47 characters)."""
    half = md5hex(md5hex(name) + md5hex(key_id))[:15]
    return md5hex(key) + half


class Key:
    """One client.keys entry."""

    def __init__(self, key_id, name, ip, key):
        if not valid_id(key_id) or not valid_name(name) or \
                ip_netmask_bits(ip) is None or not valid_name(key):
            raise CodecError("invalid key entry")
        self.id, self.name, self.ip, self.key = key_id, name, ip, key
        self.aes = derive_encryption_key(key_id, name, key)[:32].encode()
        self.prefix_id = not is_single_host(ip)

    @classmethod
    def parse(cls, line):
        """A client.keys line (str or bytes), newline optional."""
        if isinstance(line, bytes):
            line = line.decode()
        line = line.rstrip("\r\n")
        parts = line.split(" ", 3)
        if len(parts) != 4:
            raise CodecError("a key line is ID NAME IP KEY")
        if parts[1][:1] in ("#", "!"):
            raise CodecError("a removed key")
        return cls(*parts)

    def line(self):
        return "%s %s %s %s\n" % (self.id, self.name, self.ip, self.key)

    def key_hash(self):
        """w_get_key_hash (keys.c) via OS_SHA1_strings: sha1(ID NAME KEY)."""
        return hashlib.sha1((self.id + self.name + self.key).encode()) \
            .hexdigest()

    def __repr__(self):
        return "Key(%r, %r, %r, ...)" % (self.id, self.name, self.ip)


def new_key_text(seed):
    """A key text shaped as authd makes them (OS_AddNewAgent: two MD5s in
    hex, 64 characters).  Deterministic from seed, for tests."""
    return md5hex("a" + str(seed)) + md5hex("b" + str(seed))


# ---- counters ---------------------------------------------------------------

def counter_next(glob, local):
    """What CreateSecMSG does to its counters before each message."""
    if local >= 9997:
        local = 0
        glob += 1
    local += 1
    return glob & 0xFFFFFFFF, local


def counter_newer(glob, local, saved_glob, saved_local):
    """ReadSecMSG's check when remoted.verify_msg_id=1: a message is
    accepted only if its counters are above the saved ones."""
    return glob > saved_glob or (glob == saved_glob and local > saved_local)


# ---- messages ---------------------------------------------------------------

def aes_encrypt(aes_key, data):
    p = padding.PKCS7(128).padder()
    data = p.update(data) + p.finalize()
    e = Cipher(algorithms.AES(aes_key), modes.CBC(AES_IV)).encryptor()
    return e.update(data) + e.finalize()


def aes_decrypt(aes_key, data):
    if len(data) == 0 or len(data) % 16:
        raise CodecError("ciphertext is not whole AES blocks")
    d = Cipher(algorithms.AES(aes_key), modes.CBC(AES_IV)).decryptor()
    data = d.update(data) + d.finalize()
    u = padding.PKCS7(128).unpadder()
    try:
        return u.update(data) + u.finalize()
    except ValueError as e:
        raise CodecError("bad padding (wrong key?)") from e


def plaintext(glob, local, rnd, payload):
    """md5hex(body) + body: what CreateSecMSG compresses."""
    if isinstance(payload, str):
        payload = payload.encode()
    if not 1 <= len(payload) <= PAYLOAD_MAX:
        raise CodecError("CreateSecMSG refuses a payload of %d bytes"
                         % len(payload))
    body = b"%05d%010d:%04d:" % (rnd & 0xFFFF, glob, local) + payload
    return md5hex(body).encode() + body


def seal(key, glob, local, rnd, payload, agent=True):
    """One message as CreateSecMSG builds it (no TCP length prefix).
    agent=False: as the manager sends it (never an "!ID!" prefix)."""
    comp = zlib.compress(plaintext(glob, local, rnd, payload), 9)
    size = len(comp) + 1
    pad = (8 - size % 8) % 8
    cipher = aes_encrypt(key.aes, b"!" * (1 + pad) + comp)
    head = b"#AES:"
    if agent and key.prefix_id:
        head = b"!" + key.id.encode() + b"!" + head
    return head + cipher


def frame(msg):
    """OS_SendSecureTCP: 4-byte little-endian length, then the message."""
    return struct.pack("<I", len(msg)) + msg


def seal_frame(key, glob, local, rnd, payload, agent=True):
    return frame(seal(key, glob, local, rnd, payload, agent))


def split_id(msg):
    """remoted's HandleSecureMessage: ("ID", rest) for "!ID!rest", (None,
    msg) otherwise.  Raises on "!" + digits without the closing "!"."""
    if msg[:1] != b"!":
        return None, msg
    i = 1
    while i < len(msg) and msg[i:i + 1].isdigit():
        i += 1
    if msg[i:i + 1] != b"!":
        raise CodecError("bad agent ID prefix")
    return msg[1:i].decode(), msg[i + 1:]


def open_msg(key, msg):
    """ReadSecMSG (AES, compressed format): (global, local, payload).  An
    "!ID!" prefix is removed first and must name key's ID.  Raises
    CodecError where ReadSecMSG returns KS_CORRUPT or KS_ENCKEY."""
    mid, msg = split_id(msg)
    if mid is not None and mid != key.id:
        raise CodecError("message for agent %s, not %s" % (mid, key.id))
    if not msg.startswith(b"#AES:"):
        raise CodecError("not an AES message")
    clear = aes_decrypt(key.aes, msg[5:])
    if clear[:1] != b"!":
        raise CodecError("not the compressed format")
    comp = clear.lstrip(b"!")
    try:
        d = zlib.decompressobj()
        inner = d.decompress(comp, OS_MAXSTR)
        if d.unconsumed_tail or not d.eof:
            raise CodecError("inflates past OS_MAXSTR or truncated")
    except zlib.error as e:
        raise CodecError("zlib: %s" % e) from e
    if len(inner) < MSG_OVERHEAD:
        raise CodecError("decompressed message too short")
    if md5hex(inner[32:]).encode() != inner[:32]:
        raise CodecError("MD5 mismatch")
    f = inner[32:]
    f = f[5:]                                  # the random number
    glob, f = _atoi(f[:10]), f[10:]
    if f[:1] != b":":
        raise CodecError("bad format after global counter")
    local, f = _atoi(f[1:5]), f[5:]
    if f[:1] != b":":
        raise CodecError("bad format after local counter")
    return glob, local, f[1:]


def _atoi(b):
    """atoi(): leading digits, 0 when none (ReadSecMSG uses atoi)."""
    m = re.match(rb"\s*([+-]?[0-9]+)", b)
    return int(m.group(1)) & 0xFFFFFFFF if m else 0


class FrameReader:
    """Splits a TCP byte stream into messages as nb_recv does."""

    def __init__(self, limit=FRAME_MAX):
        self.buf = b""
        self.limit = limit

    def feed(self, data):
        """Append data; return the complete messages now available.
        Raises CodecError on a length over the limit (remoted then closes
        the connection)."""
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            n = struct.unpack("<I", self.buf[:4])[0]
            if n > self.limit:
                raise CodecError("frame length %d over %d" % (n, self.limit))
            if len(self.buf) < 4 + n:
                break
            out.append(self.buf[4:4 + n])
            self.buf = self.buf[4 + n:]
        return out


# ---- enrollment -------------------------------------------------------------

def enroll_request(name, password=None, version=None, groups=None, ip=None,
                   key_hash=None):
    """The agent's request line (enrollment_op.c w_enrollment_send_message).
    A stock 4.14.7 agent always sends V:'v4.14.7'."""
    s = "OSSEC PASS: %s OSSEC A:'%s'" % (password, name) if password \
        else "OSSEC A:'%s'" % name
    if version:
        s += " V:'%s'" % version
    if groups:
        s += " G:'%s'" % groups
    if ip:
        s += " IP:'%s'" % ip
    if key_hash:
        s += " K:'%s'" % key_hash
    return (s + "\n").encode()


def parse_enroll_request(line, authpass=None):
    """authd's w_auth_parse_data: a dict with name, version, groups, ip,
    key_hash (None when absent), or CodecError whose str() is the
    "ERROR: ..." answer authd gives.  line: the request without its
    newline (authd cuts at the first one)."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    buf = line
    if authpass:
        ok = False
        if buf.startswith("OSSEC PASS: "):
            buf = buf[12:]
            if len(buf) > len(authpass) and buf.startswith(authpass):
                buf = buf[len(authpass):]
                if buf[:1] == " ":
                    buf = buf[1:]
                    ok = True
        if not ok:
            raise CodecError(ERR_BAD_PASSWORD)
    if not buf.startswith("OSSEC A:'") or "'" not in buf[9:]:
        raise CodecError(ERR_BAD_REQUEST)
    end = buf.index("'", 9)
    name = buf[9:end]
    buf = buf[end + 1:]
    if not valid_name(name):
        raise CodecError(ERR_BAD_NAME % name)
    r = {"name": name, "version": None, "groups": None, "ip": None,
         "key_hash": None}
    for tok, field in ((" V:'", "version"), (" G:'", "groups"),
                       (" IP:'", "ip"), (" K:'", "key_hash")):
        if buf.startswith(tok):
            rest = buf[len(tok):]
            if "'" not in rest:
                raise CodecError("ERROR: Unterminated %s field" % {
                    "version": "version", "groups": "group", "ip": "IP",
                    "key_hash": "key"}[field])
            val = rest[:rest.index("'")]
            r[field] = val
            buf = rest[len(val) + 1:]
    return r


def enroll_answer_key(key):
    """authd's answer for a new key (no newline; authd then closes)."""
    return ("OSSEC K:'%s %s %s %s'" % (key.id, key.name, key.ip, key.key)) \
        .encode()


def enroll_answer_error(error):
    """authd's answer for a refusal: "<ERROR: ...>. Unable to add agent"."""
    return (error + ANSWER_SUFFIX).encode()


def parse_enroll_answer(data):
    """As the agent reads authd's answer (w_enrollment_process_response):
    ("key", Key) or ("error", words) or ("garbage", data)."""
    s = data.decode("utf-8", "replace")
    if len(s) > 7 and s.startswith("ERROR: "):
        return "error", s[7:].rstrip("\n")
    if s.startswith("OSSEC K:'"):
        rest = s[9:]
        if "'" not in rest:
            return "garbage", data
        try:
            return "key", Key.parse(rest[:rest.index("'")])
        except CodecError:
            return "garbage", data
    return "garbage", data


# ---- control messages -------------------------------------------------------

def startup_msg(version):
    return '%s%s{"version":"%s"}' % (CONTROL_HEADER, HC_STARTUP, version)


def keepalive_msg(uname, merged_md5=None, agent_ip=None, labels=""):
    """notify.c run_notify() without agent.conf."""
    s = "%s%s\n%s%s merged.mg\n" % (CONTROL_HEADER, uname, labels or "",
                                   merged_md5 or NO_MERGED_MD5)
    if agent_ip:
        s += '#"_agent_ip":%s' % agent_ip
    return s + "\n"


def parse_keepalive(payload):
    """What remoted reads from a keepalive (manager.c): a dict with uname,
    the "<md5> <file>" lines, labels (lines beginning '#"' or '!"'), and
    agent_ip.  Raises CodecError when there is no newline (remoted then
    logs "Invalid message from agent" and sends no ack)."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", "replace")
    if not payload.startswith(CONTROL_HEADER) or "\n" not in payload:
        raise CodecError("not a keepalive")
    head, rest = payload[3:].split("\n", 1)
    r = {"uname": head, "files": {}, "labels": [], "agent_ip": None}
    for ln in rest.split("\n"):
        if ln.startswith('#"_agent_ip":'):
            r["agent_ip"] = ln[len('#"_agent_ip":'):]
        elif ln.startswith(('#"', '!"')):
            r["labels"].append(ln)
        elif " " in ln:
            md5, name = ln.split(" ", 1)
            r["files"][name] = md5
    return r


def error_msg(message):
    """remoted's send_wrong_version_response: '#!-err {"message":"..."}'."""
    import json
    return CONTROL_HEADER + HC_ERROR + json.dumps({"message": message},
                                                  separators=(",", ":"))


def control_kind(payload):
    """"ack", "err", "other" (not a control message: "event")."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", "replace")
    if payload == ACK_MSG:
        return "ack"
    if payload.startswith(CONTROL_HEADER + HC_ERROR):
        return "err"
    if payload.startswith(CONTROL_HEADER):
        return "other"
    return "event"


def split_event(payload):
    """An event payload "Q:LOCATION:MESSAGE" as analysisd reads it:
    (queue, location, message).  The location ends at the first ':' not
    preceded by '|' (an escaped colon, as agents write in Windows paths
    through the logcollector; not needed by us)."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", "replace")
    if len(payload) < 3 or payload[1] != ":":
        raise CodecError("not Q:LOCATION:MESSAGE")
    i = 2
    while True:
        j = payload.find(":", i)
        if j < 0:
            raise CodecError("no location end")
        if payload[j - 1] != "|":
            return payload[0], payload[2:j], payload[j + 1:]
        i = j + 1


# ---- self-test --------------------------------------------------------------

def _self_test():
    k = Key.parse("001 agent-one any " + new_key_text(1) + "\n")
    assert k.prefix_id and len(k.aes) == 32
    assert not Key("002", "a2", "10.0.0.5", new_key_text(2)).prefix_id
    assert Key("003", "a3", "10.0.0.0/24", new_key_text(3)).prefix_id
    assert Key("004", "a4", "fe80::1", new_key_text(4)).prefix_id
    g, l = 0, 0
    for _ in range(9998):
        g, l = counter_next(g, l)
    assert (g, l) == (1, 1), (g, l)
    m = seal(k, 7, 42, 12345, "1:journald:hello")
    assert m.startswith(b"!001!#AES:")
    assert open_msg(k, m) == (7, 42, b"hello"[0:0] + b"1:journald:hello")
    bad = Key("001", "agent-one", "any", new_key_text(9))
    try:
        open_msg(bad, m)
        raise AssertionError("wrong key opened a message")
    except CodecError:
        pass
    r = FrameReader()
    f = frame(m) + frame(b"x")
    out = []
    for i in range(len(f)):
        out += r.feed(f[i:i + 1])
    assert out == [m, b"x"]
    try:
        FrameReader().feed(struct.pack("<I", FRAME_MAX + 1))
        raise AssertionError("oversize frame accepted")
    except CodecError:
        pass
    req = enroll_request("host-1", password="pw", groups="default",
                         key_hash=k.key_hash())
    p = parse_enroll_request(req.decode().rstrip("\n"), authpass="pw")
    assert p["name"] == "host-1" and p["groups"] == "default"
    assert p["key_hash"] == k.key_hash()
    kind, got = parse_enroll_answer(enroll_answer_key(k))
    assert kind == "key" and got.line() == k.line()
    ka = keepalive_msg("Linux |h |6.1 |#1 |x86_64 - v4.14.7",
                       agent_ip="10.0.0.5")
    assert parse_keepalive(ka)["agent_ip"] == "10.0.0.5"
    assert parse_keepalive(ka)["files"] == {"merged.mg": "x"}
    assert split_event("f:EventChannel:{}") == ("f", "EventChannel", "{}")
    print("wazuh_codec self-test OK")


if __name__ == "__main__":
    import sys
    if "--self-test" in sys.argv:
        _self_test()
    else:
        print(__doc__)
