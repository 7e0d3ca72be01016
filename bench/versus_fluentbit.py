#!/usr/bin/env python3
"""sysmonfwd against Fluent Bit, side by side (issue 17; run by hand through
bench/versus_fluentbit.sh, never as a timed test).

Both forwarders get the same input: --records real Windows Sysmon XML
records from CORPUS/windows-xml, repeated with their EventRecordIDs made
unique, one per line in a file.  Both send to the same receiver: a Fluent
Bit of its own (in_splunk for the HEC path, in_elasticsearch for the
Elasticsearch path, over TLS, into out_null) whose HTTP server's
/api/v1/metrics counts the records its input took in.  Each forwarder runs
with its defaults:

  sysmonfwd   file input (follow = false) -> ring -> splunk_hec or
              elasticsearch output, tls_ca_file set (TLS verified);
              heartbeats and the watchdog off so that only records are
              counted.
  Fluent Bit  tail (a position DB, storage.type filesystem, read_from_head
              so that it reads the file it finds) -> out_splunk or out_es
              (index logs-windows.sysmon_operational-default), tls on,
              tls.verify on with the test CA.

Runs alternate A B A B A B per path.  A run ends when the receiver has
counted every record.  The receiver's counter (Fluent Bit's /api/v1/metrics)
is refreshed only once a second, so it says whether all arrived but not
when: the end is the forwarder's last write (wchar of /proc/PID/io: its
last send, or the position/ring bookkeeping right after it; sysmonfwd's own
exit once everything is acknowledged), sampled every 20 ms.  records/s is
the records over the time from starting the forwarder to that end (median
of the runs); CPU is the forwarder's user + system time at that end (its
own rusage when it ended by itself); peak RSS its VmHWM, sampled.

Idle: each forwarder following an empty file with its output configured
and the receiver up, sampled after --idle-settle seconds: total RSS (VmRSS,
what ps shows), private memory (Private_Clean + Private_Dirty of
/proc/PID/smaps_rollup; Private_Clean includes library pages no other
process maps at that moment) and anonymous memory (Anonymous, which does
not depend on other processes); --smaps prints the resident memory per
mapping (library) too.  --steady: each forwarder follows a file that gets
--steady-rate records a second (in ten slices a second) for
--steady-seconds, after a warm-up second; its CPU over that window as % of
one core.  --perf DIR: one more sysmonfwd run per path under perf record.
--output-set KEY=VALUE and --buffer-set KEY=VALUE measure a variant of
sysmonfwd (e.g. compression=none, Fluent Bit's default for both outputs);
the figures of issue 17 are with neither.

The receiver costs CPU on the same machine: compare the ratios of one
invocation, not absolute figures across machines or days.  Each run also
prints the receiver's CPU (its whole life, start included) per 100k
records and as a share of one core over the run's wall time: near 100%
means the receiver, not the forwarder, set the pace.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import tlsutil  # noqa: E402

TOKEN = "11111111-2222-3333-4444-555555555555"
ES_INDEX = "logs-windows.sysmon_operational-default"
CLK = os.sysconf("SC_CLK_TCK")
DEADLINE = 600.0        # a run that takes longer than this has failed


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, what, deadline=60.0, step=0.05):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise RuntimeError("timed out waiting for " + what)


def proc_cpu(pid):
    """User + system seconds of pid so far, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK


def io_wchar(pid):
    """Bytes pid has written (files and sockets), or None once it is gone."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def status_kib(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rollup_kib(pid):
    """Rss, private (clean + dirty) and anonymous KiB from
    /proc/PID/smaps_rollup.  Private_Clean also holds the pages of a
    library that no other process maps at the moment, so "private" moves
    with what else runs; Anonymous does not."""
    v = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            if m:
                v[m.group(1)] = int(m.group(2))
    return (v["Rss"], v.get("Private_Clean", 0) + v.get("Private_Dirty", 0),
            v.get("Anonymous", 0))


def smaps_by_mapping(pid):
    """{name: [rss, private clean, private dirty] KiB} over /proc/PID/smaps,
    anonymous mappings as [anon], [heap], [stack]."""
    out = {}
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = re.match(r"[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$",
                            line)
            if head:
                name = os.path.basename(head.group(1)) or "[anon]"
                out.setdefault(name, [0, 0, 0])
                continue
            m = re.match(r"(Rss|Private_Clean|Private_Dirty):\s+(\d+) kB",
                         line)
            if m:
                out[name][("Rss", "Private_Clean",
                           "Private_Dirty").index(m.group(1))] += \
                    int(m.group(2))
    return out


class Receiver:
    """A Fluent Bit with in_splunk or in_elasticsearch over TLS into
    out_null; count() reads its input's record counter."""

    def __init__(self, fb, tmp, path, pki, tag):
        self.port = free_port()
        self.mport = free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        conf = os.path.join(tmp, "receiver-%s.conf" % tag)
        plugin = "splunk" if path == "hec" else "elasticsearch"
        with open(conf, "w") as f:
            f.write("[SERVICE]\n    flush 1\n    log_level warn\n"
                    "    http_server on\n    http_listen 127.0.0.1\n"
                    "    http_port %d\n"
                    "[INPUT]\n    name %s\n    listen 127.0.0.1\n"
                    "    port %d\n    tls on\n    tls.verify off\n"
                    "    tls.crt_file %s\n    tls.key_file %s\n" %
                    (self.mport, plugin, self.port, pki["server"],
                     pki["server_key"]))
            if path == "hec":
                f.write("    splunk_token %s\n" % TOKEN)
            f.write("[OUTPUT]\n    name null\n    match *\n")
        self.key = plugin + ".0"
        self.log = open(os.path.join(tmp, "receiver-%s.log" % tag), "w")
        self.p = subprocess.Popen([fb, "-c", conf], stdout=self.log,
                                  stderr=subprocess.STDOUT)
        wait_for(lambda: self.count() is not None and self.listening(),
                 "the receiver to listen")

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 1).close()
            return True
        except OSError:
            return False

    def count(self):
        if self.p.poll() is not None:
            raise RuntimeError("the receiver exited: %d" % self.p.returncode)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/metrics"
                                        % self.mport, timeout=5) as r:
                m = json.load(r)
        except OSError:
            return None
        return m["input"][self.key]["records"]

    def stop(self):
        # It holds nothing worth a graceful stop (out_null), and its
        # grace period would add 5 s to every run.
        self.p.kill()
        self.p.wait()
        self.log.close()


def sysmonfwd_conf(d, path, inp, url, ca, follow, buffer_set=(),
                   output_set=()):
    conf = os.path.join(d, "sysmonfwd.conf")
    with open(conf, "w") as f:
        if buffer_set:
            f.write("[buffer]\n" + "".join("%s\n" % kv.replace("=", " = ", 1)
                                            for kv in buffer_set))
        f.write("[agent]\nstate_dir = %s/state\nlog_level = warn\n"
                # Records only: no heartbeats or watchdog alerts to count.
                "heartbeat_interval = 0\n[watchdog]\nenabled = false\n"
                "[input:bench]\ntype = file\npath = %s\nfollow = %s\n" %
                (d, inp, "true" if follow else "false"))
        if path == "hec":
            f.write("[output:hec]\ntype = splunk_hec\nurl = %s\n"
                    "token = %s\ntls_ca_file = %s\n" % (url, TOKEN, ca))
        else:
            f.write("[output:es]\ntype = elasticsearch\nurl = %s\n"
                    "api_key = bench:key\ntls_ca_file = %s\n" % (url, ca))
        f.write("".join("%s\n" % kv.replace("=", " = ", 1)
                        for kv in output_set))
    os.chmod(conf, 0o600)
    return conf


def fluentbit_conf(d, path, inp, port, ca):
    conf = os.path.join(d, "fluent-bit.conf")
    os.makedirs(os.path.join(d, "storage"), exist_ok=True)
    with open(conf, "w") as f:
        f.write("[SERVICE]\n    log_level warn\n    storage.path %s\n"
                "[INPUT]\n    name tail\n    path %s\n    db %s\n"
                "    read_from_head true\n    storage.type filesystem\n"
                "    tag sysmon\n" %
                (os.path.join(d, "storage"), inp, os.path.join(d, "pos.db")))
        f.write("[OUTPUT]\n    name %s\n    match *\n    host 127.0.0.1\n"
                "    port %d\n    tls on\n    tls.verify on\n"
                "    tls.ca_file %s\n" %
                ("splunk" if path == "hec" else "es", port, ca))
        if path == "hec":
            f.write("    splunk_token %s\n" % TOKEN)
        else:
            f.write("    index %s\n" % ES_INDEX)
    return conf


def forwarder_cmd(a, who, d, path, inp, recv, pki, follow):
    if who == "sysmonfwd":
        return [a.sysmonfwd, "-c",
                sysmonfwd_conf(d, path, inp, recv.url, pki["ca"], follow,
                               a.buffer_set, a.output_set)]
    return [a.fluentbit, "-c",
            fluentbit_conf(d, path, inp, recv.port, pki["ca"])]


def start(cmd, d, prefix=()):
    log = open(os.path.join(d, "forwarder.log"), "w")
    p = subprocess.Popen(list(prefix) + cmd, stdout=log,
                         stderr=subprocess.STDOUT)
    p.logfile = log
    return p


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    p.logfile.close()


def throughput_run(a, tmp, who, path, run, inp, pki, prefix=(),
                   records=None):
    records = records or a.records
    d = os.path.join(tmp, "%s-%s-%s" % (path, who, run))
    os.makedirs(d)
    recv = Receiver(a.fluentbit, d, path, pki, "r")
    try:
        cmd = forwarder_cmd(a, who, d, path, inp, recv, pki, False)
        t0 = time.monotonic()
        p = start(cmd, d, prefix)
        cpu = hwm = 0
        wchar = -1
        t_last = t0
        n = 0
        next_count = t0
        t_full = None
        while True:
            now = time.monotonic()
            pid, status, r = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                # Ended by itself (sysmonfwd does once all is delivered):
                # its own rusage is exact, and so is the end.
                p.returncode = os.waitstatus_to_exitcode(status)
                if p.returncode != 0:
                    raise RuntimeError("%s exited %d: see %s" %
                                       (who, p.returncode, d))
                # (Not ru_maxrss: Linux carries it over exec from the
                # forked Python.)
                cpu = r.ru_utime + r.ru_stime
                t_last = now
                n = wait_for(lambda: recv.count() if (recv.count() or 0)
                             >= records else None,
                             "the receiver's count after %s ended" % who)
                break
            w = io_wchar(p.pid)
            c = proc_cpu(p.pid)
            hwm = max(hwm, status_kib(p.pid, "VmHWM"))
            if w is not None and w != wchar:
                # The last write (to the network, the ring, the storage
                # or the position DB) of a forwarder is its last send or
                # the bookkeeping right after it: that is the end.
                wchar, t_last = w, now
                cpu = c if c is not None else cpu
            if now >= next_count:
                # The receiver's /api/v1/metrics is refreshed once a
                # second: it says *whether* all arrived, the forwarder's
                # last write says *when*.
                next_count = now + 0.25
                n = recv.count() or 0
                if n >= records and t_full is None:
                    t_full = now
                # Quiet for 1.5 s, or (a forwarder that keeps writing
                # when idle) 10 s after the count was complete.
                if t_full is not None and (now - t_last > 1.5 or
                                           now - t_full > 10):
                    t_last = min(t_last, t_full)
                    break
            if now - t0 > DEADLINE:
                raise RuntimeError("%s: %d of %d records after %.0f s" %
                                   (who, n, records, DEADLINE))
            time.sleep(0.02)
        wall = t_last - t0
        # The receiver's CPU over its whole life (its start and the run):
        # near one core for the run's wall time means the receiver, not
        # the forwarder, set the pace.
        rcpu = proc_cpu(recv.p.pid) or 0.0
        stop(p)
        extra = recv.count() - records
    finally:
        recv.stop()
    return {"rate": records / wall, "cpu100k": cpu * 100000 / records,
            "hwm": hwm, "wall": wall, "extra": extra,
            "rcpu100k": rcpu * 100000 / records, "rbusy": rcpu / wall}


def idle_run(a, tmp, who, path, pki):
    d = os.path.join(tmp, "%s-%s-idle" % (path, who))
    os.makedirs(d)
    empty = os.path.join(d, "empty.log")
    open(empty, "w").close()
    recv = Receiver(a.fluentbit, d, path, pki, "r")
    try:
        p = start(forwarder_cmd(a, who, d, path, empty, recv, pki, True), d)
        try:
            # The measurement is "after idle_settle seconds", so this wait
            # is the definition, not a guess at readiness.
            time.sleep(a.idle_settle)
            if p.poll() is not None:
                raise RuntimeError("%s exited %d while idle: see %s" %
                                   (who, p.returncode, d))
            rss = status_kib(p.pid, "VmRSS")
            _, private, anon = rollup_kib(p.pid)
            maps = smaps_by_mapping(p.pid) if a.smaps else None
        finally:
            stop(p)
    finally:
        recv.stop()
    return {"rss": rss, "private": private, "anon": anon, "maps": maps}


def steady_run(a, tmp, who, path, pki, lines):
    d = os.path.join(tmp, "%s-%s-steady" % (path, who))
    os.makedirs(d)
    inp = os.path.join(d, "in.log")
    open(inp, "w").close()
    recv = Receiver(a.fluentbit, d, path, pki, "r")
    total = a.steady_rate * a.steady_seconds
    try:
        p = start(forwarder_cmd(a, who, d, path, inp, recv, pki, True), d)
        try:
            # Warm up: the first records through, so that connection set-up
            # is not in the window.
            warm = a.steady_rate
            with open(inp, "ab") as f:
                f.write(b"".join(lines[i % len(lines)] for i in range(warm)))
            wait_for(lambda: (recv.count() or 0) >= warm, "warm-up records")
            slice_n = max(1, a.steady_rate // 10)
            c0 = proc_cpu(p.pid)
            t0 = time.monotonic()
            sent = 0
            with open(inp, "ab", buffering=0) as f:
                k = 0
                while sent < total:
                    k += 1
                    chunk = b"".join(lines[(warm + sent + i) % len(lines)]
                                     for i in range(slice_n))
                    f.write(chunk)
                    sent += slice_n
                    pause = t0 + k * 0.1 - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
            c1 = proc_cpu(p.pid)
            t1 = time.monotonic()
            if c0 is None or c1 is None:
                raise RuntimeError("%s ended during the steady run" % who)
            wait_for(lambda: (recv.count() or 0) >= warm + total,
                     "the steady records at the receiver", deadline=120)
        finally:
            stop(p)
    finally:
        recv.stop()
    return {"core_pct": 100.0 * (c1 - c0) / (t1 - t0),
            "rate": total / (t1 - t0)}


def perf_run(a, tmp, path, inp, pki):
    """One more sysmonfwd run under perf record, with DWARF call chains
    (the build has no frame pointers; Debian's zlib has no symbols for its
    static functions, so its time is attributed to our callers through the
    chains), and three reports: by library, by function (self), and by
    function including callees."""
    os.makedirs(a.perf, exist_ok=True)
    data = os.path.join(a.perf, "perf-%s.data" % path)
    small = os.path.join(tmp, "perf-in.log")
    n = min(a.perf_records, a.records)
    with open(inp, "rb") as src, open(small, "wb") as dst:
        for _ in range(n):
            dst.write(src.readline())
    throughput_run(a, tmp, "sysmonfwd", path, "perf", small, pki,
                   prefix=("perf", "record", "-F", "499", "--call-graph",
                           "dwarf,16384", "-o", data, "--"),
                   records=n)
    reports = (("dso", ["--no-children", "--sort", "dso"]),
               ("self", ["--no-children", "--sort", "symbol,dso",
                         "--percent-limit", "0.5"]),
               ("children", ["--children", "--sort", "symbol",
                             "--percent-limit", "2"]))
    for name, args in reports:
        rep = os.path.join(a.perf, "perf-%s-%s.txt" % (path, name))
        with open(rep, "w") as f:
            subprocess.run(["perf", "report", "-i", data, "--stdio",
                            "-g", "none"] + args, stdout=f,
                           stderr=subprocess.DEVNULL, check=False)
        print("%s: perf report (%s) in %s" % (path, name, rep), flush=True)


def load_lines(corpus, count):
    base = []
    for f in sorted(glob.glob(os.path.join(corpus, "windows-xml", "*.log"))):
        with open(f, "rb") as fh:
            base += [l for l in fh.read().split(b"\n") if b"<Event" in l]
    if not base:
        sys.exit("no Windows XML records in %s/windows-xml" % corpus)
    rid = re.compile(rb"<EventRecordID>\d+</EventRecordID>")
    out = []
    for n in range(count):
        line, k = rid.subn(b"<EventRecordID>%d</EventRecordID>" % (n + 1),
                           base[n % len(base)], count=1)
        if k != 1:
            sys.exit("a corpus record has no EventRecordID")
        out.append(line + b"\n")
    return out


def mib(kib):
    return "%.1f MiB" % (kib / 1024)


def ratio(ours, theirs, invert=False):
    if not theirs or not ours:
        return "-"
    if invert and ours < theirs:
        return "1/%.1f" % (theirs / ours)
    return "%.2f×" % (ours / theirs)


def table(results, paths):
    head = "| figure |"
    rule = "|---|"
    for path in paths:
        name = "HEC" if path == "hec" else "ES"
        head += " %s: sysmonfwd | %s: Fluent Bit | ratio |" % (name, name)
        rule += "---|---|---|"
    rows = [head, rule]

    def row(label, get, fmt, inv=False):
        line = "| %s |" % label
        for path in paths:
            r = results.get(path, {})
            o = get(r.get("sysmonfwd")) if r.get("sysmonfwd") else None
            t = get(r.get("fluentbit")) if r.get("fluentbit") else None
            line += " %s | %s | %s |" % (fmt(o) if o is not None else "-",
                                         fmt(t) if t is not None else "-",
                                         ratio(o, t, inv) if o and t
                                         else "-")
        rows.append(line)

    def med(key):
        return lambda r: statistics.median(x[key] for x in r["runs"]) \
            if r.get("runs") else None

    row("records/s (median of %d)" % max(
        [len(results[p]["sysmonfwd"].get("runs", []))
         for p in paths if "sysmonfwd" in results.get(p, {})] or [0]),
        med("rate"), lambda v: "{:,.0f}".format(v))
    row("CPU seconds per 100k records (median)", med("cpu100k"),
        lambda v: "%.2f" % v)
    row("peak RSS (largest VmHWM of the runs)",
        lambda r: max(x["hwm"] for x in r["runs"]) if r.get("runs")
        else None, mib, True)
    row("idle RSS (VmRSS), following an empty file",
        lambda r: r["idle"]["rss"] if r.get("idle") else None, mib)
    row("idle private memory (smaps_rollup Private_*)",
        lambda r: r["idle"]["private"] if r.get("idle") else None, mib)
    row("idle anonymous memory (smaps_rollup Anonymous)",
        lambda r: r["idle"]["anon"] if r.get("idle") else None, mib)
    if results.get("steady_rate"):
        row("CPU at a steady %s records/s, %% of one core" %
            "{:,}".format(results["steady_rate"]),
            lambda r: r["steady"]["core_pct"] if r.get("steady") else None,
            lambda v: "%.2f %%" % v)
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sysmonfwd", required=True)
    ap.add_argument("--fluentbit", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--paths", default="hec,es")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--idle-settle", type=float, default=5.0)
    ap.add_argument("--smaps", action="store_true",
                    help="print idle resident memory per mapping")
    ap.add_argument("--steady", action="store_true",
                    help="also measure CPU at a steady rate")
    ap.add_argument("--steady-rate", type=int, default=1000)
    ap.add_argument("--steady-seconds", type=int, default=60)
    ap.add_argument("--perf", metavar="DIR",
                    help="after the measured runs, one more sysmonfwd run "
                    "per path (--perf-records records) under perf record "
                    "--call-graph dwarf, its data and reports into DIR")
    ap.add_argument("--perf-records", type=int, default=100000)
    ap.add_argument("--output-set", action="append", default=[],
                    metavar="KEY=VALUE", help="a non-default key in "
                    "sysmonfwd's output section (to measure a variant, "
                    "e.g. compression=none); repeatable")
    ap.add_argument("--buffer-set", action="append", default=[],
                    metavar="KEY=VALUE", help="a key in sysmonfwd's "
                    "[buffer] section (e.g. compression_level=1)")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    paths = a.paths.split(",")

    tmp = tempfile.mkdtemp(prefix="sysmonfwd-versus-")
    results = {"steady_rate": a.steady_rate if a.steady else 0}
    try:
        pki = tlsutil.make_pki(os.path.join(tmp, "pki"))
        lines = load_lines(a.corpus, max(a.records, 1000))
        inp = os.path.join(tmp, "in.log")
        with open(inp, "wb") as f:
            f.write(b"".join(lines[:a.records]))
        if a.buffer_set or a.output_set:
            print("sysmonfwd NOT at its defaults: [buffer] %s, output %s" %
                  (", ".join(a.buffer_set) or "-",
                   ", ".join(a.output_set) or "-"))
        print("input: %d records, %.1f MB, %s" %
              (a.records, os.path.getsize(inp) / 1e6, inp), flush=True)
        for path in paths:
            res = results.setdefault(path, {})
            for who in ("sysmonfwd", "fluentbit"):
                res.setdefault(who, {"runs": []})
            for run in range(0 if a.no_throughput else a.runs):
                for who in ("sysmonfwd", "fluentbit"):     # A B A B A B
                    r = throughput_run(a, tmp, who, path, run, inp, pki)
                    res[who]["runs"].append(r)
                    print("%s %s run %d: %.0f records/s, %.2f CPU s/100k, "
                          "peak %s, %.1f s; receiver %.2f CPU s/100k, "
                          "%.0f%% of a core%s" %
                          (path, who, run + 1, r["rate"], r["cpu100k"],
                           mib(r["hwm"]), r["wall"], r["rcpu100k"],
                           100 * r["rbusy"],
                           ", %d records more than sent" % r["extra"]
                           if r["extra"] else ""), flush=True)
            for who in ("sysmonfwd", "fluentbit"):
                r = idle_run(a, tmp, who, path, pki)
                res[who]["idle"] = r
                print("%s %s idle: RSS %s, private %s, anonymous %s" %
                      (path, who, mib(r["rss"]), mib(r["private"]),
                       mib(r["anon"])), flush=True)
                if r["maps"]:
                    print("    %7s %7s %7s  (KiB)" %
                          ("rss", "p.clean", "p.dirty"))
                    for name, (rss, pc, pd) in sorted(
                            r["maps"].items(), key=lambda kv: -kv[1][0]):
                        if rss >= 64:
                            print("    %7d %7d %7d  %s" %
                                  (rss, pc, pd, name))
            if a.steady:
                for who in ("sysmonfwd", "fluentbit"):
                    r = steady_run(a, tmp, who, path, pki, lines)
                    res[who]["steady"] = r
                    print("%s %s steady %.0f records/s: %.2f %% of one "
                          "core" % (path, who, r["rate"], r["core_pct"]),
                          flush=True)
            if a.perf:
                perf_run(a, tmp, path, inp, pki)
        print()
        print(table(results, paths))
    finally:
        if a.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
