#!/usr/bin/env python3
"""Corpus replay benchmark (run by hand, never as a timed test).

Builds an input of the Windows XML corpus repeated to about --records
records (EventRecordIDs made unique), runs `sysmonfwd --once` with a file
input and a file output, and reports records/s, MB/s of input, CPU seconds
per 100k records and the agent's peak RSS (its VmHWM, sampled while it runs).  Run it
twice and compare ratios rather than absolute numbers on a busy machine.

    python3 bench/replay_bench.py --bin build/sysmonfwd \
        --corpus ../shared/corpus --records 200000
"""
import argparse
import glob
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    lines = []
    for f in sorted(glob.glob(os.path.join(a.corpus, "windows-xml", "*.log"))):
        with open(f, "rb") as fh:
            lines += [l for l in fh.read().split(b"\n") if b"<Event" in l]
    if not lines:
        sys.exit("no corpus records found")
    tmp = tempfile.mkdtemp(prefix="sysmonfwd-bench-")
    inp = os.path.join(tmp, "in.log")
    rid = re.compile(rb"<EventRecordID>\d+</EventRecordID>")
    n = 0
    with open(inp, "wb") as out:
        while n < a.records:
            for l in lines:
                if n >= a.records:
                    break
                out.write(rid.sub(b"<EventRecordID>%d</EventRecordID>" % (n + 1), l, 1))
                out.write(b"\n")
                n += 1
    size = os.path.getsize(inp)
    conf = os.path.join(tmp, "bench.conf")
    with open(conf, "w") as c:
        c.write("[agent]\nstate_dir = %s/state\nlog_level = warn\n"
                "heartbeat_interval = 0\n[watchdog]\nenabled = false\n"
                "[input:bench]\ntype = file\npath = %s\nfollow = false\n"
                "[output:bench]\ntype = file\npath = %s/out.ndjson\n" % (tmp, inp, tmp))
    t0 = time.monotonic()
    p = subprocess.Popen([a.bin, "-c", conf, "--once"])
    # wait4's ru_maxrss would include the forked Python before exec: read
    # the agent's own high-water mark (VmHWM only grows) until it exits.
    hwm_kib = 0
    while p.poll() is None:
        try:
            with open("/proc/%d/status" % p.pid) as st:
                for line in st:
                    if line.startswith("VmHWM:"):
                        hwm_kib = max(hwm_kib, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.02)
    wall = time.monotonic() - t0
    status = p.returncode
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    if status != 0:
        sys.exit("agent failed: status %d" % status)
    with open(os.path.join(tmp, "out.ndjson"), "rb") as fh:
        docs = sum(1 for _ in fh)
    cpu = ru.ru_utime + ru.ru_stime
    print("records          %d (%d documents out)" % (n, docs))
    print("input            %.1f MB" % (size / 1e6))
    print("wall             %.2f s" % wall)
    print("records/s        %.0f" % (n / wall))
    print("MB/s (input)     %.1f" % (size / 1e6 / wall))
    print("CPU s / 100k     %.2f" % (cpu * 100000 / n))
    print("peak RSS         %.1f MiB (VmHWM, sampled every 20 ms)" %
          (hwm_kib / 1024))
    if not a.keep:
        shutil.rmtree(tmp)
    if docs != n:
        sys.exit("document count differs from record count")


if __name__ == "__main__":
    main()
