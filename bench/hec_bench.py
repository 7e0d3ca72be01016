#!/usr/bin/env python3
"""Splunk HEC benchmark (run by hand, never as a timed test).

Replays the Windows XML corpus repeated to about --records records (record
ids made unique) through file input -> disk ring -> splunk_hec output over
TLS (gzip, format = xml) to a local HEC receiver that only counts events
(a minimal threaded receiver below, one sendall per answer so that Nagle
and delayed ACKs do not stall it; certificates made now with openssl).  Reports records/s, CPU seconds of the agent per 100k
records, the agent's peak RSS (VmHWM, sampled), and its idle RSS (the
agent following an empty file with the output connected, after 3 s).

    python3 bench/hec_bench.py --bin build/sysmonfwd \\
        --corpus ../shared/corpus --records 200000
"""
import argparse
import glob
import gzip
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import tlsutil  # noqa: E402

TOKEN = "11111111-2222-3333-4444-555555555555"


class Receiver:
    """Counts HEC events: gunzips each body, counts '"event"' keys."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = "https://127.0.0.1:%d" % self.port
        self.counted = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,),
                             daemon=True).start()

    def serve(self, raw):
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            c = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            return
        buf = b""
        ok = b'{"text":"Success","code":0}'
        health = b'{"text":"HEC is healthy","code":17}'
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?i)content-length: *(\d+)", head)
                n = int(m.group(1)) if m else 0
                while len(buf) < n:
                    d = c.recv(max(65536, n - len(buf)))
                    if not d:
                        return
                    buf += d
                body, buf = buf[:n], buf[n:]
                if head.startswith(b"GET"):
                    ans = health
                else:
                    if re.search(rb"(?i)content-encoding: *gzip", head):
                        body = gzip.decompress(body)
                    with self.lock:
                        self.counted += body.count(b'"event"')
                    ans = ok
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: "
                          b"application/json\r\nContent-Length: %d\r\n"
                          b"\r\n%s" % (len(ans), ans))
        except (ssl.SSLError, OSError):
            return

    def stop(self):
        self.sock.close()


class CReceiver:
    """bench/hec_receiver: threads in C, so it does not share the GIL."""

    def __init__(self, path, cert, key):
        self.p = subprocess.Popen([path, cert, key], stdout=subprocess.PIPE,
                                  text=True)
        self.port = int(self.p.stdout.readline())
        self.url = "https://127.0.0.1:%d" % self.port

    @property
    def counted(self):
        self.p.send_signal(signal.SIGUSR1)
        # The receiver prints when accept() is interrupted.
        return int(self.p.stdout.readline())

    def stop(self):
        self.p.kill()
        self.p.wait()


def status_kib(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def config(tmp, inp, url, ca, follow, extra=""):
    path = os.path.join(tmp, "bench.conf")
    with open(path, "w") as f:
        f.write(extra)
        f.write("[agent]\nstate_dir = %s/state-%s\nlog_level = warn\n"
                # Records only: no heartbeats or watchdog alerts to count.
                "heartbeat_interval = 0\n[watchdog]\nenabled = false\n"
                "[input:bench]\ntype = file\npath = %s\nfollow = %s\n"
                "[output:hec]\ntype = splunk_hec\nurl = %s\ntoken = %s\n"
                "tls_ca_file = %s\n" % (tmp, "f" if follow else "r", inp,
                                        "true" if follow else "false", url,
                                        TOKEN, ca))
    os.chmod(path, 0o600)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--ring-level", type=int, default=None,
                    help="[buffer] compression_level (default: the agent's)")
    ap.add_argument("--http-compression", default=None,
                    help="gzip or none (default: the agent's)")
    ap.add_argument("--receiver", default="c", choices=("c", "python"),
                    help="c: bench/hec_receiver (built next to the agent); "
                    "python: the one in this script")
    a = ap.parse_args()
    extra = ""
    if a.ring_level is not None:
        extra += "[buffer]\ncompression_level = %d\n" % a.ring_level

    tmp = tempfile.mkdtemp(prefix="sysmonfwd-hecbench-")
    try:
        pki = tlsutil.make_pki(os.path.join(tmp, "pki"))
        if a.receiver == "c":
            srv = CReceiver(os.path.join(os.path.dirname(
                os.path.abspath(a.bin)), "bench", "hec_receiver"),
                pki["server"], pki["server_key"])
        else:
            srv = Receiver(pki["server"], pki["server_key"])
        lines = []
        for f in sorted(glob.glob(os.path.join(a.corpus, "windows-xml",
                                               "*.log"))):
            with open(f, "rb") as fh:
                lines += [l for l in fh.read().split(b"\n") if b"<Event" in l]
        rid = re.compile(rb"<EventRecordID>\d+</EventRecordID>")
        inp = os.path.join(tmp, "in.log")
        with open(inp, "wb") as out:
            for n in range(a.records):
                out.write(rid.sub(b"<EventRecordID>%d</EventRecordID>" %
                                  (n + 1), lines[n % len(lines)], 1))
                out.write(b"\n")
        size = os.path.getsize(inp)

        conf = config(tmp, inp, srv.url, pki["ca"], False, extra)
        if a.http_compression is not None:
            with open(conf, "a") as f:
                f.write("compression = %s\n" % a.http_compression)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        p = subprocess.Popen([a.bin, "-c", conf, "--once"])
        hwm = anon = 0
        while p.poll() is None:
            hwm = max(hwm, status_kib(p.pid, "VmHWM"))
            anon = max(anon, status_kib(p.pid, "RssAnon"))
            time.sleep(0.02)
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime -
                                                    before.ru_stime)
        if p.returncode != 0:
            sys.exit("agent failed: exit %d" % p.returncode)
        counted = srv.counted

        # Idle: following an empty file, connected, nothing to do.
        empty = os.path.join(tmp, "empty.log")
        open(empty, "w").close()
        conf2 = config(tmp, empty, srv.url, pki["ca"], True)
        q = subprocess.Popen([a.bin, "-c", conf2])
        time.sleep(3.0)
        idle = status_kib(q.pid, "VmRSS")
        idle_anon = status_kib(q.pid, "RssAnon")
        q.terminate()
        q.wait(timeout=10)
        srv.stop()

        print("records          %d (%d events counted by the receiver)" %
              (a.records, counted))
        print("input            %.1f MB" % (size / 1e6))
        print("wall             %.2f s" % wall)
        print("records/s        %.0f   (aim >= 50,000)" % (a.records / wall))
        print("CPU s / 100k     %.2f" % (cpu * 100000 / a.records))
        print("peak RSS         %.1f MiB, private (RssAnon) %.1f MiB   "
              "(aim <= 16 MiB)" % (hwm / 1024, anon / 1024))
        print("idle RSS         %.1f MiB, private (RssAnon) %.1f MiB   "
              "(aim <= 4 MiB)" % (idle / 1024, idle_anon / 1024))
        if counted != a.records:
            sys.exit("the receiver counted %d events, not %d" %
                     (counted, a.records))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
