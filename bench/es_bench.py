#!/usr/bin/env python3
"""Elasticsearch benchmark (run by hand, never as a timed test).

The sibling of bench/hec_bench.py, measured the same way.  Replays the
Windows XML corpus repeated to about --records records (record ids made
unique, so that every document and its _id is distinct) through file
input -> disk ring -> elasticsearch output over TLS to bench/hec_receiver
--es, a receiver in C that answers GET / and GET /_index_template/NAME and
counts the items of each POST /_bulk (gunzipped when Content-Encoding says
gzip), checking that each body ends with a newline and that every action
line starts with {"create":.  Certificates are made now with openssl
(tests/integration/tlsutil.py).

The output is [output:es] type = elasticsearch, url = the receiver,
tls_ca_file, api_key = bench:key, and the default batch settings
(batch_max_events = 500, batch_max_bytes = 1MiB, flush_interval = 1s,
keep_original = true, compression = gzip unless --http-compression says).

Reports, per run and their mean: records/s, CPU seconds of the agent per
100k records, the agent's peak RSS (VmHWM, sampled) and private memory
(RssAnon, sampled), and its idle RSS (the agent following an empty file
with the output connected, after 3 s).  Fails when the agent fails, when
the receiver did not count exactly --records items, or when it saw any
violation.

    python3 bench/es_bench.py --bin build/sysmonfwd \\
        --corpus ../shared/corpus --records 200000 --runs 3
"""
import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import tlsutil  # noqa: E402

API_KEY = "bench:key"


class CReceiver:
    """bench/hec_receiver --es: threads in C, so it does not share the
    GIL."""

    def __init__(self, path, cert, key):
        self.p = subprocess.Popen([path, "--es", cert, key],
                                  stdout=subprocess.PIPE, text=True)
        self.port = int(self.p.stdout.readline())
        self.url = "https://127.0.0.1:%d" % self.port

    def counts(self):
        """(items, violations, bulk requests, body bytes decompressed,
        body bytes received) so far."""
        self.p.send_signal(signal.SIGUSR1)
        return tuple(int(x) for x in self.p.stdout.readline().split())

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


def config(tmp, state, inp, url, ca, follow, extra=""):
    path = os.path.join(tmp, "bench-%s.conf" % state)
    with open(path, "w") as f:
        f.write(extra)
        f.write("[agent]\nstate_dir = %s/state-%s\nlog_level = warn\n"
                # Records only: no heartbeats or watchdog alerts to count.
                "heartbeat_interval = 0\n[watchdog]\nenabled = false\n"
                "[input:bench]\ntype = file\npath = %s\nfollow = %s\n"
                "[output:es]\ntype = elasticsearch\nurl = %s\n"
                "api_key = %s\ntls_ca_file = %s\n" %
                (tmp, state, inp, "true" if follow else "false", url,
                 API_KEY, ca))
    os.chmod(path, 0o600)
    return path


def one_run(a, tmp, run, inp, recv_path, pki, extra):
    srv = CReceiver(recv_path, pki["server"], pki["server_key"])
    try:
        conf = config(tmp, "r%d" % run, inp, srv.url, pki["ca"], False,
                      extra)
        if a.http_compression is not None:
            with open(conf, "a") as f:
                f.write("compression = %s\n" % a.http_compression)
        t0 = time.monotonic()
        p = subprocess.Popen([a.bin, "-c", conf, "--once"])
        hwm = anon = 0
        while True:
            # wait4: this child's own rusage (user + system CPU), what
            # hec_bench takes from RUSAGE_CHILDREN, without counting the
            # receivers of earlier runs.
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            hwm = max(hwm, status_kib(p.pid, "VmHWM"))
            anon = max(anon, status_kib(p.pid, "RssAnon"))
            time.sleep(0.02)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu = ru.ru_utime + ru.ru_stime
        if p.returncode != 0:
            sys.exit("run %d: agent failed: exit %d" % (run, p.returncode))
        counted, bad, bulks, plain, wire = srv.counts()

        # Idle: following an empty file, connected, nothing to do.
        empty = os.path.join(tmp, "empty.log")
        open(empty, "w").close()
        conf2 = config(tmp, "f%d" % run, empty, srv.url, pki["ca"], True)
        q = subprocess.Popen([a.bin, "-c", conf2])
        time.sleep(3.0)
        idle = status_kib(q.pid, "VmRSS")
        idle_anon = status_kib(q.pid, "RssAnon")
        q.terminate()
        q.wait(timeout=10)
        bad_after_idle = srv.counts()[1]
    finally:
        srv.stop()
    return {"wall": wall, "cpu": cpu, "hwm": hwm, "anon": anon,
            "idle": idle, "idle_anon": idle_anon, "counted": counted,
            "bad": max(bad, bad_after_idle), "bulks": bulks,
            "plain": plain, "wire": wire}


def report(a, r, size):
    print("records          %d (%d items counted by the receiver in %d "
          "bulk requests, %d violations)" % (a.records, r["counted"],
                                             r["bulks"], r["bad"]))
    print("input            %.1f MB" % (size / 1e6))
    print("bulk bodies      %.1f MB NDJSON, %.1f MB on the wire" %
          (r["plain"] / 1e6, r["wire"] / 1e6))
    print("wall             %.2f s" % r["wall"])
    print("records/s        %.0f   (aim >= 50,000)" %
          (a.records / r["wall"]))
    print("CPU s / 100k     %.2f" % (r["cpu"] * 100000 / a.records))
    print("peak RSS         %.1f MiB, private (RssAnon) %.1f MiB   "
          "(aim <= 16 MiB)" % (r["hwm"] / 1024, r["anon"] / 1024))
    print("idle RSS         %.1f MiB, private (RssAnon) %.1f MiB   "
          "(aim <= 4 MiB)" % (r["idle"] / 1024, r["idle_anon"] / 1024))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=1,
                    help="runs, each with a fresh receiver and state_dir")
    ap.add_argument("--ring-level", type=int, default=None,
                    help="[buffer] compression_level (default: the agent's)")
    ap.add_argument("--http-compression", default=None,
                    help="gzip or none (default: the agent's)")
    a = ap.parse_args()
    extra = ""
    if a.ring_level is not None:
        extra += "[buffer]\ncompression_level = %d\n" % a.ring_level
    recv_path = os.path.join(os.path.dirname(os.path.abspath(a.bin)),
                             "bench", "hec_receiver")

    tmp = tempfile.mkdtemp(prefix="sysmonfwd-esbench-")
    try:
        pki = tlsutil.make_pki(os.path.join(tmp, "pki"))
        lines = []
        for f in sorted(glob.glob(os.path.join(a.corpus, "windows-xml",
                                               "*.log"))):
            with open(f, "rb") as fh:
                lines += [l for l in fh.read().split(b"\n") if b"<Event" in l]
        if not lines:
            sys.exit("no <Event lines under %s/windows-xml" % a.corpus)
        rid = re.compile(rb"<EventRecordID>\d+</EventRecordID>")
        inp = os.path.join(tmp, "in.log")
        with open(inp, "wb") as out:
            for n in range(a.records):
                out.write(rid.sub(b"<EventRecordID>%d</EventRecordID>" %
                                  (n + 1), lines[n % len(lines)], 1))
                out.write(b"\n")
        size = os.path.getsize(inp)

        results = []
        failures = []
        for run in range(1, a.runs + 1):
            r = one_run(a, tmp, run, inp, recv_path, pki, extra)
            results.append(r)
            print("--- run %d/%d (compression %s)" %
                  (run, a.runs, a.http_compression or "default (gzip)"))
            report(a, r, size)
            sys.stdout.flush()
            if r["counted"] != a.records:
                failures.append("run %d: the receiver counted %d items, "
                                "not %d" % (run, r["counted"], a.records))
            if r["bad"] != 0:
                failures.append("run %d: the receiver saw %d violations "
                                "(described on standard error)" %
                                (run, r["bad"]))
            shutil.rmtree(os.path.join(tmp, "state-r%d" % run),
                          ignore_errors=True)

        n = len(results)
        print("--- summary, %d records, %d run(s)" % (a.records, n))
        print("%-5s %9s %9s %9s %9s %9s %9s" %
              ("run", "rec/s", "CPU/100k", "peak MiB", "peakAnon",
               "idle MiB", "idleAnon"))
        rows = []
        for i, r in enumerate(results, 1):
            row = (a.records / r["wall"], r["cpu"] * 100000 / a.records,
                   r["hwm"] / 1024, r["anon"] / 1024, r["idle"] / 1024,
                   r["idle_anon"] / 1024)
            rows.append(row)
            print("%-5d %9.0f %9.2f %9.1f %9.1f %9.1f %9.1f" % ((i,) + row))
        if n > 1:
            mean = [sum(col) / n for col in zip(*rows)]
            print("%-5s %9.0f %9.2f %9.1f %9.1f %9.1f %9.1f" %
                  (("mean",) + tuple(mean)))
        if failures:
            sys.exit("FAILED:\n  " + "\n  ".join(failures))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
