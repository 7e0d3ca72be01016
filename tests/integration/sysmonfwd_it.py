"""Shared helpers for the sysmonfwd integration tests.

Not a test itself: the test_*.py scripts import it.  It parses the common
command line (--bin, --corpus), writes configuration files, runs the real
binary, reads its NDJSON output strictly (UTF-8 and JSON, no lone
surrogates, no NaN), builds inputs from the shared corpus and collects
failures so that a script reports every difference before exiting 1.

Rules every test script keeps (so that the suite is deterministic):
- Wait for a positive signal (a document, a log line, a counter, the
  agent's exit), never for a fixed time: wait_for(), wait_log(),
  wait_read().  "Nothing more arrived" is checked after an end marker (a
  last record that must arrive after the others, or the agent's exit).
- Timing bounds come from the agent's own clock (the timestamps in its
  documents) or from the order of events, not from wall-clock windows.
- Ports: the test servers bind port 0 and report the port they got; a
  port that must refuse connections, or that a server takes later, is
  held with reserve_port() for as long as it is needed.
- A script that ran no check fails, and a scenario that cannot run here
  calls Checker.skip_or_fail(): a note on a developer's machine, a
  failure under CI=true.
"""
import argparse
import ctypes
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET

RECORD_ID_RE = re.compile(rb"<EventRecordID>[0-9]*</EventRecordID>")


def _die_with_parent():
    """In the child before exec: be killed when the test process dies, so
    that a test killed by its ctest TIMEOUT leaves no agent running."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)    # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def popen(argv, **kw):
    """subprocess.Popen for the agent: it dies with the test."""
    return subprocess.Popen(argv, preexec_fn=_die_with_parent, **kw)


def _on_sigterm(signum, frame):
    raise SystemExit("FAIL: stopped by signal %d" % signum)


def parse_args(extra=None, seed=False, source_dir=False):
    """The command line: --bin, --corpus; --seed (args.rnd: a
    random.Random seeded with it, or with the time, said on stdout) when
    seed; --source-dir (required) when source_dir; extra(ap) adds more."""
    # SIGTERM (a ctest timeout) still runs the cleanups: temporary
    # directories are removed and agents killed.
    signal.signal(signal.SIGTERM, _on_sigterm)
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the sysmonfwd binary")
    ap.add_argument("--corpus", required=True,
                    help="the shared corpus directory (SYSMONFWD_CORPUS_DIR)")
    if seed:
        ap.add_argument("--seed", type=int, default=None)
    if source_dir:
        ap.add_argument("--source-dir", required=True)
    if extra is not None:
        extra(ap)
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit("FAIL: binary %r is not executable" % args.bin)
    if not os.path.isdir(os.path.join(args.corpus, "windows-xml")):
        sys.exit("FAIL: corpus %r has no windows-xml/" % args.corpus)
    if seed:
        n = args.seed if args.seed is not None else int(time.time())
        print("random seed %d (rerun with --seed %d)" % (n, n))
        args.rnd = random.Random(n)
    return args


def run_parts(name, prefix, body, **parse):
    """The frame of a test in parts: parse the command line (parse: what
    parse_args() takes), then body(args, ck, tmp) with a Checker called
    name and a temporary directory (prefix) removed afterwards; report."""
    args = parse_args(**parse)
    ck = Checker(name)
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        body(args, ck, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ck.finish()


class Checker:
    """Collects failures; finish() prints them and exits non-zero."""

    def __init__(self, name, max_print=60):
        self.name = name
        self.failures = []
        self.max_print = max_print
        self.checks = 0
        self.skipped = []

    def check(self, cond, msg):
        self.checks += 1
        if not cond:
            self.fail(msg)
        return bool(cond)

    def eq(self, actual, expected, what):
        self.checks += 1
        if actual != expected:
            self.fail("%s: expected %s, got %s" % (what, short(expected),
                                                   short(actual)))
            return False
        return True

    def fail(self, msg):
        self.failures.append(msg)
        if len(self.failures) <= self.max_print:
            print("FAIL: " + msg, flush=True)

    def note(self, msg):
        print("note: " + msg, flush=True)

    def problems(self, problems, what):
        """Report what a helper found: "note: ..." as a note, "skip: ..."
        as skip_or_fail(), anything else as a failure about what."""
        for p in problems:
            if p.startswith("note:"):
                self.note(p[5:].strip())
            elif p.startswith("skip:"):
                self.skip_or_fail(p[5:].strip())
            else:
                self.fail("%s: %s" % (what, p))

    def skip_or_fail(self, reason):
        """A scenario cannot run here (a tool missing, not root, ...): a
        note on a developer's machine, a failure under CI (CI=true), where
        packaging/install-deps.sh has installed everything and the tests
        run as root.  The caller then leaves the scenario out."""
        if in_ci():
            self.checks += 1
            self.fail("cannot run under CI: %s (CI=%s; install what is "
                      "missing in packaging/install-deps.sh)" %
                      (reason, os.environ.get("CI")))
        else:
            self.skipped.append(reason)
            print("SKIPPED: %s (this fails under CI=true)" % reason,
                  flush=True)

    def finish(self):
        for reason in self.skipped:
            print("%s: SKIPPED: %s" % (self.name, reason))
        if self.checks == 0 and not self.failures:
            print("%s: FAILED: no check ran (a test that checks nothing "
                  "proves nothing)" % self.name)
            sys.exit(1)
        if self.failures:
            if len(self.failures) > self.max_print:
                print("... and %d more failures" %
                      (len(self.failures) - self.max_print))
            print("%s: %d of %d checks FAILED" % (self.name,
                                                 len(self.failures),
                                                 self.checks))
            sys.exit(1)
        print("%s: all %d checks passed%s" % (
            self.name, self.checks, ", %d scenario(s) SKIPPED" %
            len(self.skipped) if self.skipped else ""))
        sys.exit(0)


def in_ci():
    """True under CI (the CI variable set to anything but empty, 0 or
    false): there, a scenario that would be skipped fails instead."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0",
                                                             "false", "no")


class ReservedPort:
    """A loopback TCP port held for the test: a socket bound to it (with
    SO_REUSEADDR) that does not listen.  While nothing listens on the
    port, a connection to it is refused at once; nothing else can bind it
    (a socket that asks for port 0 never gets it), yet a server that sets
    SO_REUSEADDR too (the test servers, the agent's monitor through
    libmicrohttpd) can listen on it, stop and listen again.  So a test can
    name a port that is down now and up later, or down for good, without
    the race of closing a probe socket and hoping nobody takes the port.
    """

    def __init__(self, host="127.0.0.1", port=0):
        self.host = host
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def reserve_port(host="127.0.0.1"):
    """A ReservedPort on host; close() it when the test is done."""
    return ReservedPort(host)


def short(v, n=300):
    s = repr(v)
    if len(s) > n:
        s = s[:n] + "...(%d chars)" % len(s)
    return s


def write_config(path, text, mode=None):
    """Write text (a configuration, a secret) to path, then give the file
    mode when one is given; return path."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)
    return path


def file_config(state_dir, inputs, outputs, agent_extra="", status=False):
    """inputs/outputs: lists of (name, {key: value}) in order.  Unless
    status is true, heartbeats and the Sysmon watchdog are turned off, so
    that outputs hold only what the inputs gave (test_heartbeat.py tests
    them)."""
    lines = ["[agent]", "name = it-agent", "state_dir = %s" % state_dir]
    if agent_extra:
        lines.append(agent_extra)
    if not status:
        if "heartbeat_interval" not in agent_extra:
            lines.append("heartbeat_interval = 0")
        lines += ["[watchdog]", "enabled = false"]
    for name, kv in inputs:
        lines.append("[input:%s]" % name)
        lines += ["%s = %s" % (k, v) for k, v in kv.items()]
    for name, kv in outputs:
        lines.append("[output:%s]" % name)
        lines += ["%s = %s" % (k, v) for k, v in kv.items()]
    return "\n".join(lines) + "\n"


def simple_config(tmp, in_path, out_path, follow=False, extra_in=None,
                  state_dir=None, name="in"):
    kv = {"type": "file", "path": in_path,
          "follow": "true" if follow else "false"}
    if extra_in:
        kv.update(extra_in)
    return file_config(state_dir or os.path.join(tmp, "state"),
                       [(name, kv)],
                       [("out", {"type": "file", "path": out_path})])


def run(bin_path, argv, timeout=60, env=None, input=None):
    """Run the binary to completion; return CompletedProcess (bytes)."""
    return subprocess.run([bin_path] + argv, input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, env=env,
                          preexec_fn=_die_with_parent)


def _check_str(s):
    s.encode("utf-8")   # raises on lone surrogates from \udXXX escapes


def _walk(v):
    if isinstance(v, str):
        _check_str(v)
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_str(k)
            _walk(x)
    elif isinstance(v, list):
        for x in v:
            _walk(x)


def strict_decoder(error=ValueError, dup="duplicate key %r",
                   constant="non-standard JSON constant %s"):
    """A json.JSONDecoder that refuses what a strict reader must: a
    duplicate key (it raises error(dup % key)) and NaN or Infinity
    (error(constant % name))."""
    def pairs(items):
        seen = set()
        for k, _ in items:
            if k in seen:
                raise error(dup % k)
            seen.add(k)
        return dict(items)

    def reject(c):
        raise error(constant % c)
    return json.JSONDecoder(object_pairs_hook=pairs, parse_constant=reject)


STRICT_JSON = strict_decoder()


def parse_ndjson_bytes(data):
    """Return (docs, problems): strict NDJSON parse of a byte string.

    Every line must be valid UTF-8 and one JSON object without duplicate
    keys; the data must end with a newline (no torn last line).
    """
    docs, problems = [], []
    if data and not data.endswith(b"\n"):
        problems.append("output does not end with a newline (torn last "
                        "line: %s)" % short(data[-200:]))
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for i, line in enumerate(lines, 1):
        try:
            text = line.decode("utf-8")
            doc = STRICT_JSON.decode(text)
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            _walk(doc)
        except (UnicodeDecodeError, ValueError) as e:
            problems.append("output line %d is not valid NDJSON (%s): %s" %
                            (i, e, short(line, 200)))
            docs.append(None)
            continue
        docs.append(doc)
    return docs, problems


def read_ndjson(path):
    if not os.path.exists(path):
        return [], ["output file %s does not exist" % path]
    with open(path, "rb") as f:
        return parse_ndjson_bytes(f.read())


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for(pred, timeout, step=0.02):
    """Wait until pred() is true (a positive signal); False after timeout
    seconds.  The timeout is only a deadline for a failure, never a
    measure: make it generous (a loaded machine is slow)."""
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(step)


def read_text(path):
    """A file's text (UTF-8, errors replaced); "" when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def wait_log(path, pattern, timeout, count=1):
    """Wait until the file at path (an agent's stderr) holds count matches
    of the regular expression pattern; return whether it did."""
    rx = re.compile(pattern)
    return wait_for(lambda: len(rx.findall(read_text(path))) >= count,
                    timeout, 0.05)


def read_offset(pid, path):
    """The file offset of process pid's open descriptor for the file at
    path (matched by device and inode, so a renamed file still counts),
    from /proc/PID/fdinfo; None when it has no such descriptor.  The file
    input reads with read(), so the offset is how far it has read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    fddir = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(fddir)
    except OSError:
        return None
    best = None
    for fd in fds:
        try:
            fst = os.stat(os.path.join(fddir, fd))
            if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    if line.startswith("pos:"):
                        pos = int(line.split()[1])
                        best = pos if best is None else max(best, pos)
        except (OSError, ValueError):
            continue
    return best


def pipe_unread(fd):
    """How many bytes written into a pipe (either end's fd) are not read
    yet (FIONREAD)."""
    import fcntl
    import struct
    import termios
    buf = fcntl.ioctl(fd, termios.FIONREAD, struct.pack("i", 0))
    return struct.unpack("i", buf)[0]


def wait_pipe_read(fd, timeout):
    """Wait until the reader of the pipe has read everything written into
    it: the positive signal that the agent has seen it."""
    return wait_for(lambda: pipe_unread(fd) == 0, timeout, 0.01)


def wait_read(pid, path, timeout, size=None):
    """Wait until process pid has read the file at path up to size bytes
    (default: its current size): the positive signal that the agent has
    seen what the test wrote."""
    if size is None:
        size = os.path.getsize(path)
    return wait_for(lambda: (read_offset(pid, path) or 0) >= size,
                    timeout, 0.01)


def wait_lines(path, n, timeout):
    """Wait until the file at path (an output) holds n lines."""
    return wait_for(lambda: count_lines(path) >= n, timeout, 0.05)


def repair_torn_tail(path):
    """Cut a torn last line (an agent killed while writing) off the file
    at path; return whether there was one."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return False
    if not data or data.endswith(b"\n"):
        return False
    with open(path, "r+b") as f:
        f.truncate(data.rfind(b"\n") + 1)
    return True


# ---- processes in the background ----


class Agent:
    """A process running in the background (the agent: argv is [binary,
    "-c", conf, ...]), stdout thrown away, stderr to the file err_path
    (appended to when append).  texts: a list to which stderr() adds
    ("stderr of PATH", text), for the tests that look for leaked
    secrets."""

    def __init__(self, argv, err_path, texts=None, append=False):
        self.err_path = err_path
        self.log = open(err_path, "ab" if append else "wb")
        self.p = popen(argv, stdout=subprocess.DEVNULL, stderr=self.log)
        self.t0 = time.monotonic()
        self.texts = texts

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def wait(self, timeout):
        """Exit code, or None when it did not exit in time (then killed)."""
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Send sig (None: none) unless it has exited, wait for the exit
        and close the stderr file: the exit code, None when it did not
        exit within timeout seconds (then killed)."""
        if sig is not None and self.alive():
            self.p.send_signal(sig)
        rc = self.wait(timeout)
        self.log.close()
        return rc

    def stop_ok(self, ck, what, timeout=20):
        """stop(): a failure unless it exits 0 within timeout seconds of
        SIGTERM (its stderr printed then); return its stderr."""
        rc = self.stop(timeout=timeout)
        if rc is None:
            ck.fail("%s: agent did not stop within %d s of SIGTERM" %
                    (what, timeout))
        err = self.stderr()
        if not ck.eq(rc, 0, "%s: exit code after SIGTERM" % what):
            print(err)
        return err

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()

    def close(self):
        """Kill it if it still runs (a test's clean-up)."""
        if self.alive():
            self.p.kill()
            self.p.wait()
        self.log.close()

    def stderr(self):
        if not self.log.closed:
            self.log.flush()
        text = read_text(self.err_path)
        if self.texts is not None:
            self.texts.append(("stderr of %s" % self.err_path, text))
        return text

    def cpu_seconds(self):
        """The CPU time (user and system) it used so far."""
        with open("/proc/%d/stat" % self.p.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Standin:
    """A process called name (a copy of sleep), for the Sysmon watchdog
    to find."""

    def __init__(self, tmp, name):
        self.path = os.path.join(tmp, name)
        if not os.path.exists(self.path):
            shutil.copy("/bin/sleep", self.path)
        self.p = None

    def start(self):
        self.p = popen([self.path, "1000"])

    def kill(self):
        if self.p is not None:
            self.p.kill()
            self.p.wait()
            self.p = None


# ---- the frame of the output tests (test servers, certificates) ----


class Ctx:
    """What the scenarios of an output test share: the command line
    (args), the Checker (ck), a temporary directory (tmp) with test
    certificates (pki, tlsutil.make_pki()), the agents and servers
    started and the ports held (stopped at the end), and every text the
    agent wrote (texts: (where, text)), for the leaked-secret checks."""

    def __init__(self, args, ck, tmp, pki):
        self.args = args
        self.ck = ck
        self.tmp = tmp
        self.pki = pki
        self.agents = []
        self.servers = []
        self.ports = []
        self.texts = []

    def dir(self, name):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        return d

    def add_server(self, s, down=False):
        """Start the test server s (stopped at the end); down=True: its
        port is held but not listening (connections refused) until its
        start()."""
        self.servers.append(s)
        return s.reserve() if down else s.start()

    def begin(self, what, dirname, headline=None):
        """The start of a scenario (or of a part of one): say what it
        checks (headline, on stdout; run_scenarios() says a scenario's
        docstring) and make its directory; return (ck, what,
        directory)."""
        if headline is not None:
            print(headline, flush=True)
        return self.ck, what, self.dir(dirname)

    def port(self):
        """A port held by the test until the end (see ReservedPort)."""
        held = reserve_port()
        self.ports.append(held)
        return held.port

    def agent(self, conf, once=True):
        """The agent running on conf in the background (--once when
        once), stderr to a file next to conf."""
        a = Agent([self.args.bin, "-c", conf] + (["--once"] if once else []),
                  conf + ".stderr.%d" % len(self.agents), self.texts)
        self.agents.append(a)
        return a

    def run_once(self, conf, timeout=60):
        """Run the agent on conf with --once; return (exit code or None
        on timeout, stderr)."""
        try:
            r = run(self.args.bin, ["-c", conf, "--once"], timeout=timeout)
        except subprocess.TimeoutExpired as e:
            err = (e.stderr or b"").decode("utf-8", "replace")
            self.texts.append(("stderr of " + conf, err))
            return None, err
        err = r.stderr.decode("utf-8", "replace")
        self.texts.append(("stderr of " + conf, err))
        self.texts.append(("stdout of " + conf,
                           r.stdout.decode("utf-8", "replace")))
        return r.returncode, err

    def unique_input(self, d, first_id, n, name="in.log"):
        """A file in d of n corpus records with the ids first_id...;
        return (its path, its lines)."""
        path = os.path.join(d, name)
        lines = unique_records(self.args.corpus, first_id, n)
        with open(path, "wb") as f:
            f.writelines(lines)
        return path, lines

    def dead_letters(self, d, output, what):
        """The dead letters of the output named output of the agent whose
        state_dir is d/state (checked to be valid NDJSON)."""
        path = os.path.join(d, "state", "deadletter", output + ".ndjson")
        if not os.path.exists(path):
            return []
        docs, problems = read_ndjson(path)
        self.ck.check(not problems, "%s: the dead-letter file is valid "
                      "NDJSON: %s" % (what, problems[:3]))
        self.texts.append(("dead letters " + path, read_text(path)))
        return [x for x in docs if x is not None]

    def run_scenarios(self, scenarios):
        """Run each scenario(ctx) after saying its docstring (what it
        checks), reporting how long it took and how many failures it
        added; one that raises is a failure, and the next runs."""
        for sc in scenarios:
            if sc.__doc__:
                print(" ".join(sc.__doc__.split()), flush=True)
            t = time.monotonic()
            n = len(self.ck.failures)
            try:
                sc(self)
            except Exception as e:  # report and go on with the next
                traceback.print_exc()
                self.ck.fail("%s raised %r" % (sc.__name__, e))
            print("  %s: %.1f s, %d failures" %
                  (sc.__name__, time.monotonic() - t,
                   len(self.ck.failures) - n), flush=True)

    def happy_run(self, what, dirname, config, timeout):
        """The output tests' happy path: the files of happy_inputs() sent
        with --once to a test server (self.server()) by the configuration
        config(directory, url, inputs); return (ck, what, directory,
        server, record lines, stderr)."""
        ck, what, d = self.begin(what, dirname)
        inputs, lines = happy_inputs(self.args.corpus)
        s = self.server()
        rc, err = self.run_once(config(d, s.url, inputs), timeout)
        ck.eq(rc, 0, what + ": exit code (stderr: %s)" % err[-800:])
        return ck, what, d, s, lines, err

    def self_test(self, label, server_module):
        """Scenario (0) of an output test: the test server's own
        self-test with curl."""
        if shutil.which("curl") is None:
            self.ck.skip_or_fail("(0) curl is not installed: the test "
                                 "server's self-test cannot run")
            return
        self.ck.eq(server_module.self_test(), [],
                   "(0) %s self-test failures" % label)

    def close(self):
        for a in self.agents:
            a.close()
        for s in self.servers:
            s.close()
        for p in self.ports:
            p.close()


def output_test(name, prefix, body, ctx_class=Ctx, **parse):
    """The frame of an output test: parse the command line (parse: what
    parse_args() takes), make test certificates in a temporary directory
    (prefix), run body(ctx) with a ctx_class (a Ctx), then stop every
    agent and server, remove the directory and report."""
    import tlsutil
    args = parse_args(**parse)
    ck = Checker(name)
    tmp = tempfile.mkdtemp(prefix=prefix)
    ctx = None
    t0 = time.monotonic()
    try:
        try:
            pki = tlsutil.make_pki(os.path.join(tmp, "pki"))
        except (tlsutil.PkiError, OSError) as e:
            ck.fail("cannot make test certificates: %s" % e)
            ck.finish()
        ctx = ctx_class(args, ck, tmp, pki)
        body(ctx)
    finally:
        if ctx is not None:
            ctx.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("total %.1f s" % (time.monotonic() - t0))
    ck.finish()


def output_config(d, inputs, name, out, overrides, mode=0o600,
                  follow=False):
    """d/agent.conf (of mode mode) with file inputs [(name, path)] (follow
    or not) and one output called name with the keys out, overridden by
    overrides (None removes a key); state_dir is d/state."""
    out = dict(out)
    for k, v in overrides.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    ins = [(n, {"type": "file", "path": p,
                "follow": "true" if follow else "false"})
           for n, p in inputs]
    path = write_config(os.path.join(d, "agent.conf"), file_config(
        os.path.join(d, "state"), ins, [(name, out)]))
    os.chmod(path, mode)
    return path


def check_server_clean(ck, what, s):
    """The test server s saw no invalid data and no handler error."""
    ck.eq(s.invalid, [], what + ": invalid data seen by the server")
    ck.eq(s.errors, [], what + ": server handler errors")


# ---- the corpus ----


def windows_files(corpus):
    return sorted(glob.glob(os.path.join(corpus, "windows-xml", "*.log")))


def linux_files(corpus):
    """The Sysmon for Linux syslog files of the corpus, in order."""
    base = os.path.join(corpus, "linux-syslog")
    sub = os.path.join(base, "wazuh-engine-sysmon-linux-tests")
    return ([os.path.join(base, "elastic-integrations_sysmon_linux_sample_"
                          "sysmon.log")] +
            sorted(os.path.join(sub, n) for n in os.listdir(sub)))


def linux_syslog_lines(corpus):
    """(path, line) of every non-empty line (without CR) of linux_files()."""
    for path in linux_files(corpus):
        with open(path, "rb") as f:
            for line in f.read().split(b"\n"):
                line = line.rstrip(b"\r")
                if line:
                    yield path, line


HAPPY_WINDOWS = ("DE_sysmon-3-rdp-tun.xml.log",
                 "de_unmanagedpowershell_psinject_sysmon_7_8_10.xml.log",
                 "babyshark_mimikatz_powershell.xml.log")
HAPPY_LINUX = "elastic-integrations_sysmon_linux_sample_sysmon.log"


def happy_inputs(corpus):
    """The inputs [(name, path)] of the output tests' happy paths (three
    Windows files and one Sysmon for Linux file of the corpus) and their
    record lines (bytes), in order."""
    inputs, lines = [], []
    paths = [os.path.join(corpus, "windows-xml", n) for n in HAPPY_WINDOWS]
    for i, p in enumerate(paths + [os.path.join(corpus, "linux-syslog",
                                                HAPPY_LINUX)]):
        inputs.append(("win%d" % i if i < len(paths) else "lin", p))
        with open(p, "rb") as f:
            lines += [l for l in f.read().split(b"\n") if b"<Event" in l]
    return inputs, lines


def windows_lines(corpus):
    """All Windows record lines of the corpus (bytes, no newline)."""
    out = []
    for f in windows_files(corpus):
        with open(f, "rb") as fh:
            out += [l for l in fh.read().split(b"\n") if b"<Event" in l]
    return out


def with_record_id(line, rid):
    """A copy of a corpus record line with EventRecordID set to rid."""
    new, n = RECORD_ID_RE.subn(b"<EventRecordID>%d</EventRecordID>" % rid,
                               line, count=1)
    if n != 1:
        raise ValueError("record has no EventRecordID")
    return new


def unique_records(corpus, first_id, count, shortest=False):
    """count record lines (bytes, newline-terminated) with ids first_id..."""
    base = windows_lines(corpus)
    if shortest:
        base = sorted(base, key=len)[:50]
    return [with_record_id(base[i % len(base)], first_id + i) + b"\n"
            for i in range(count)]


STATUS_DATASETS = ("sysmonfwd.heartbeat", "sysmonfwd.alert")


def without_status(docs):
    """docs without the agent's heartbeats and watchdog alerts."""
    return [d for d in docs if not (isinstance(d, dict) and
                                    d.get("event", {}).get("dataset") in
                                    STATUS_DATASETS)]


def record_ids(docs):
    """winlog.record_id of each document (None for others)."""
    out = []
    for d in docs:
        try:
            out.append(d["winlog"]["record_id"])
        except (TypeError, KeyError):
            out.append(None)
    return out


def summary_numbers(stderr_text):
    """Parse the 'done: ...' summary line of the agent's stderr."""
    m = re.search(r"done: (\d+) records read, (\d+) delivered to every "
                  r"output, (\d+) parse errors \(forwarded tagged\), (\d+) "
                  r"cut at max_line_size, (\d+) non-record lines ignored",
                  stderr_text)
    if m is None:
        return None
    keys = ("read", "delivered", "parse_errors", "truncated", "ignored")
    return dict(zip(keys, map(int, m.groups())))


# ---- expectations from xml.etree (shared by several tests) ----


def local(tag):
    return tag.rsplit("}", 1)[-1]


def child(elem, name):
    if elem is None:
        return None
    for c in elem:
        if local(c.tag) == name:
            return c
    return None


def text_of(elem):
    if elem is None:
        return None
    return elem.text if elem.text is not None else ""


def expected_from_line(line):
    """What ElementTree says about one record line (bytes)."""
    start = line.find(b"<Event")
    root = ET.fromstring(line[start:])
    system = child(root, "System")
    prov = child(system, "Provider")
    tc = child(system, "TimeCreated")
    sec = child(system, "Security")
    ex = child(system, "Execution")
    data = []
    ed = child(root, "EventData")
    if ed is not None:
        for d in ed:
            if local(d.tag) == "Data":
                data.append((d.get("Name"), text_of(d)))
    uid = None
    if sec is not None:
        uid = sec.get("UserID", sec.get("UserId"))
    return {
        "event_id": text_of(child(system, "EventID")),
        "record_id": text_of(child(system, "EventRecordID")),
        "computer_name": text_of(child(system, "Computer")),
        "channel": text_of(child(system, "Channel")),
        "provider_name": prov.get("Name") if prov is not None else None,
        "provider_guid": prov.get("Guid") if prov is not None else None,
        "time_created": tc.get("SystemTime") if tc is not None else None,
        "user_id": uid,
        "pid": ex.get("ProcessID") if ex is not None else None,
        "tid": ex.get("ThreadID") if ex is not None else None,
        "data": data,
    }


def ms_timestamp(system_time):
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z",
                     system_time)
    if m is None:
        raise ValueError("unexpected SystemTime %r" % system_time)
    return "%s.%sZ" % (m.group(1), (m.group(2) or "")[:3].ljust(3, "0"))


def compare(ck, where, doc, exp):
    if not isinstance(doc, dict):
        ck.fail("%s: document is not valid JSON" % where)
        return
    wl = doc.get("winlog")
    if not ck.check(isinstance(wl, dict), "%s: no winlog object in %s" %
                    (where, short(doc))):
        return
    ck.eq(doc.get("event", {}).get("kind"), "event", where + " event.kind")
    tamper = (exp["channel"] in ("Microsoft-Windows-Sysmon/Operational",
                                 "Linux-Sysmon/Operational") and
              exp["event_id"] in ("4", "16", "255"))
    ck.eq(doc.get("tags"), ["sysmon_tamper"] if tamper else None,
          where + " tags (sysmon_tamper for Sysmon's EventIDs 4, 16, 255)")
    for key in ("event_id", "record_id", "computer_name", "channel",
                "provider_name", "provider_guid", "time_created"):
        ck.eq(wl.get(key), exp[key], "%s winlog.%s" % (where, key))
    ck.eq(doc.get("event", {}).get("code"), exp["event_id"],
          where + " event.code")
    ck.eq(doc.get("host", {}).get("name"), exp["computer_name"],
          where + " host.name")
    ck.eq(wl.get("user", {}).get("identifier"), exp["user_id"],
          where + " winlog.user.identifier")
    proc = wl.get("process", {})
    if exp["pid"] is not None:
        ck.eq(str(proc.get("pid")), exp["pid"], where +
              " winlog.process.pid")
    if exp["tid"] is not None:
        ck.eq(str(proc.get("thread", {}).get("id")), exp["tid"],
              where + " winlog.process.thread.id")
    ck.eq(doc.get("@timestamp"), ms_timestamp(exp["time_created"]),
          where + " @timestamp")
    got = list(wl.get("event_data", {}).items())
    if got != exp["data"]:
        # Name the first difference precisely.
        for i in range(max(len(got), len(exp["data"]))):
            g = got[i] if i < len(got) else None
            e = exp["data"][i] if i < len(exp["data"]) else None
            if g != e:
                ck.fail("%s event_data item %d: expected %s, got %s "
                        "(%d items expected, %d got)" %
                        (where, i, short(e), short(g),
                         len(exp["data"]), len(got)))
                break
    else:
        ck.checks += 1
    for k, v in wl.get("event_data", {}).items():
        ck.check(isinstance(v, str), "%s event_data %s is not a string" %
                 (where, k))
