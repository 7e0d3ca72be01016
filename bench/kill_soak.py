#!/usr/bin/env python3
"""Kill soak (run by hand, never as a timed test).

SIGKILLs the agent --kills times at random moments of a file -> disk ring
-> splunk_hec replay of --records unique Windows Sysmon records (the
corpus repeated, EventRecordID = 1..N), restarting it after each kill, then
runs it once more to completion (--once) and checks that the receiver got
every record id: lost must be 0; duplicates are counted.

    nice python3 bench/kill_soak.py --bin build-soak/sysmonfwd \\
        --corpus ../shared/corpus [--records 100000] [--kills 100] \\
        [--seed S] [--ack on|off] [--input append|replay]

What runs:
  - bench/hec_receiver (built next to the agent, under bench/) over TLS
    with certificates made now (tests/integration/tlsutil.py), started
    with --ids: it appends every <EventRecordID> of each request to a file
    once the whole request has arrived, before answering it (a request cut
    by the kill is not counted, as Splunk would not index it), and with
    --ack when --ack on (every ackId asked about is reported indexed).
  - the agent with one file input, state_dir on disk, one splunk_hec
    output (format = xml, gzip, ack = --ack), the shipped defaults
    otherwise ([buffer] fsync = interval, fsync_interval = 1s,
    flush_interval = 1s); heartbeats and the Sysmon watchdog are off so
    that the receiver gets only the records.  A SIGKILL leaves the kernel's
    page cache to the files, so the fsync policy cannot change what
    survives here (only a power cut would test it).  ack = false (the
    shipped default) counts an HTTP 200 as delivered; ack = true counts a
    batch only once its ackId was polled true, so more is in flight at a
    kill: run both.
  - --input append (the default): follow = true, and a writer appends the
    input while the agent runs and dies, in chunks of random size cut at
    any byte (so partial last lines are met; now and then a burst of a
    thousand records or so), at a rate that finishes the input at about
    85% of the kill schedule; the agent's position file, its partial-line
    handling and its catch-up after a restart are all under the kills.
    --input replay: the whole input is written first, follow = false; a
    "late" kill then comes once the receiver has got, in this run, a
    random number of record ids it had never seen (uniform in
    0..N/kills) and a random 0..10 ms more, so that the kills spread over
    the whole replay instead of its first second.
  - Kill moments (seeded, so the schedule repeats with --seed; kept in
    soak.json with the actual kill times): 20% "early", uniform in
    0..50 ms after the start (ring recovery, positions, TLS handshake); the
    rest uniform in 50 ms..--late-max (3 s: beyond flush_interval,
    fsync_interval and ack_poll_interval, all 1 s, so that kills land
    both before and after each of them) with --input append, or by
    progress as above with --input replay.
  - Final run: the agent with --once (exit 0 once the input reached its end
    and the output acknowledged everything); then --buffer-stat must say
    unacked_records 0 for the output: positive signals, not a sleep.

Reports: records input, unique records received, lost (the first ids if
any), duplicates (count and % of input), events without a record id and gap
documents (must be 0), kills done, wall time, and the distinct warnings
and errors of the agent's logs.  Exits 1 if anything was lost (or a gap
was announced, or the final run failed).  The work directory (input,
agent logs per run, received ids, schedule) is kept when something is
wrong, or with --keep.
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import sysmonfwd_it  # noqa: E402
import tlsutil  # noqa: E402

TOKEN = "11111111-2222-3333-4444-555555555555"
EARLY_SHARE = 0.2
EARLY_MAX = 0.05


class Receiver:
    """bench/hec_receiver --ids FILE [--ack]."""

    def __init__(self, path, cert, key, ids, ack, log):
        argv = [path, "--ids", ids] + (["--ack"] if ack else []) + [cert,
                                                                   key]
        self.p = sysmonfwd_it.popen(argv, stdout=subprocess.PIPE,
                                    stderr=log, text=True)
        self.port = int(self.p.stdout.readline())
        self.url = "https://127.0.0.1:%d" % self.port
        self.lock = threading.Lock()

    def counts(self):
        """(events, ids, events without id, gap documents, requests,
        distinct ids)."""
        with self.lock:
            self.p.send_signal(signal.SIGUSR1)
            line = self.p.stdout.readline()
        if not line:
            raise SystemExit("FAIL: the receiver died (exit %s)" %
                             self.p.poll())
        return tuple(int(x) for x in line.split())

    def stop(self):
        self.p.kill()
        self.p.wait()


def write_config(path, tmp, inp, url, ca, follow, ack):
    with open(path, "w") as f:
        f.write("[agent]\nname = soak\nstate_dir = %s/state\n"
                "log_level = info\nheartbeat_interval = 0\n"
                "[watchdog]\nenabled = false\n"
                "[input:soak]\ntype = file\npath = %s\nfollow = %s\n"
                "[output:hec]\ntype = splunk_hec\nurl = %s\ntoken = %s\n"
                "tls_ca_file = %s\nformat = xml\nack = %s\n" %
                (tmp, inp, "true" if follow else "false", url, TOKEN, ca,
                 "true" if ack else "false"))
    os.chmod(path, 0o600)


def make_input(corpus, n, path):
    """n unique records, EventRecordID 1..n, one per line; their size."""
    base = sysmonfwd_it.windows_lines(corpus)
    with open(path, "wb") as out:
        for i in range(n):
            out.write(sysmonfwd_it.with_record_id(base[i % len(base)], i + 1))
            out.write(b"\n")
    return os.path.getsize(path)


class Writer(threading.Thread):
    """Appends src to dst in chunks of random size (cut at any byte) at
    about rate bytes/s; chunk sizes come from rng, so they repeat with the
    seed (their timing cannot)."""

    def __init__(self, src, dst, rate, rng):
        super().__init__(daemon=True)
        self.src, self.dst, self.rate, self.rng = src, dst, rate, rng
        self.done = threading.Event()
        self.error = None

    def run(self):
        try:
            size = os.path.getsize(self.src)
            fi = os.open(self.src, os.O_RDONLY)
            fo = os.open(self.dst, os.O_WRONLY | os.O_APPEND)
            off = 0
            t0 = time.monotonic()
            while off < size:
                # Mostly small chunks, sometimes a burst of about a
                # thousand records.
                if self.rng.random() < 0.05:
                    n = self.rng.randint(500_000, 3_000_000)
                else:
                    n = self.rng.randint(1, 200_000)
                n = min(n, size - off)
                data = os.pread(fi, n, off)
                while data:
                    k = os.write(fo, data)
                    data = data[k:]
                off += n
                due = t0 + off / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            os.close(fi)
            os.close(fo)
        except Exception as e:      # reported by the main thread
            self.error = e
        self.done.set()


def schedule(rng, kills, n, replay, late_max):
    """[(kind, value)]: ("early", seconds), ("late", seconds) or, for
    replay, ("new_ids", record ids new to the receiver in this run before
    the kill)."""
    out = []
    for _ in range(kills):
        if rng.random() < EARLY_SHARE:
            out.append(("early", rng.uniform(0.0, EARLY_MAX)))
        elif replay:
            out.append(("new_ids", rng.randint(0, max(1, n // kills))))
        else:
            out.append(("late", rng.uniform(EARLY_MAX, late_max)))
    return out


def log_digest(paths):
    """Distinct warnings and errors of the agent's logs (digits folded to
    N), each with how many times and in how many runs it was seen."""
    count = collections.Counter()
    runs = collections.defaultdict(set)
    first = {}
    for i, p in enumerate(paths):
        try:
            with open(p, errors="replace") as f:
                for line in f:
                    if not line.startswith(("sysmonfwd: warn:",
                                            "sysmonfwd: error:")):
                        continue
                    key = re.sub(r"\d+", "N", line.strip())
                    count[key] += 1
                    runs[key].add(i)
                    first.setdefault(key, (os.path.basename(p),
                                           line.strip()))
        except OSError:
            pass
    return [(k, count[k], len(runs[k]), first[k]) for k in
            sorted(count, key=lambda k: -count[k])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--seed", type=int, default=None,
                    help="default: from the clock (printed)")
    ap.add_argument("--ack", choices=("on", "off"), default="off",
                    help="the output's indexer acknowledgement")
    ap.add_argument("--input", choices=("append", "replay"),
                    default="append")
    ap.add_argument("--receiver", default=None,
                    help="default: bench/hec_receiver next to --bin")
    ap.add_argument("--workdir", default=None,
                    help="parent of the work directory (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory even when all is well")
    ap.add_argument("--late-max", type=float, default=3.0,
                    help="--input append: late kills come 0.05 s to this "
                    "many seconds after the start")
    ap.add_argument("--final-timeout", type=float, default=600.0)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int(time.time()) % 1000000
    rng = random.Random(seed)
    replay = a.input == "replay"
    binp = os.path.abspath(a.bin)
    recv = a.receiver or os.path.join(os.path.dirname(binp), "bench",
                                      "hec_receiver")
    for p in (binp, recv):
        if not os.access(p, os.X_OK):
            sys.exit("FAIL: %s is not executable" % p)

    tmp = tempfile.mkdtemp(prefix="sysmonfwd-killsoak-", dir=a.workdir)
    keep = a.keep
    print("kill soak: seed %d, %d records, %d kills, input %s, ack %s, "
          "work dir %s" % (seed, a.records, a.kills, a.input, a.ack, tmp),
          flush=True)
    srv = None
    writer = None
    proc = None
    try:
        pki = tlsutil.make_pki(os.path.join(tmp, "pki"))
        ids_path = os.path.join(tmp, "received-ids.txt")
        srv = Receiver(recv, pki["server"], pki["server_key"], ids_path,
                       a.ack == "on",
                       open(os.path.join(tmp, "receiver.log"), "w"))
        full = os.path.join(tmp, "records.log")
        size = make_input(a.corpus, a.records, full)
        inp = os.path.join(tmp, "in.log")
        if replay:
            os.rename(full, inp)
        else:
            open(inp, "wb").close()
        conf = os.path.join(tmp, "soak.conf")
        write_config(conf, tmp, inp, srv.url, pki["ca"], not replay,
                     a.ack == "on")
        os.mkdir(os.path.join(tmp, "logs"))

        plan = schedule(rng, a.kills, a.records, replay, a.late_max)
        t_start = time.monotonic()
        if not replay:
            # The input is complete at about 85% of the planned schedule
            # (restarts take time too: a little less).
            planned = sum(v for _, v in plan) + 0.03 * len(plan)
            rate = size / (0.85 * planned)
            writer = Writer(full, inp, rate, random.Random(seed + 1))
            writer.start()

        runs = []       # per run: kind, planned, elapsed at kill, rc
        logs = []
        kills_done = 0
        for i, (kind, value) in enumerate(plan):
            log = os.path.join(tmp, "logs", "run-%03d.log" % i)
            logs.append(log)
            before = srv.counts()
            with open(log, "wb") as lf:
                t0 = time.monotonic()
                proc = sysmonfwd_it.popen([binp, "-c", conf], stdout=lf,
                                          stderr=lf)
                if kind == "new_ids":
                    # Until this run has brought value new record ids (or
                    # the agent ended by itself), then a random few ms.
                    deadline = t0 + 120
                    while proc.poll() is None and \
                            srv.counts()[5] - before[5] < value and \
                            time.monotonic() < deadline:
                        time.sleep(0.002)
                    time.sleep(rng.uniform(0.0, 0.01))
                else:
                    try:
                        proc.wait(timeout=value)
                    except subprocess.TimeoutExpired:
                        pass
                elapsed = time.monotonic() - t0
                alive = proc.poll() is None
                if alive:
                    proc.send_signal(signal.SIGKILL)
                rc = proc.wait()
            proc = None
            if alive and rc == -signal.SIGKILL:
                kills_done += 1
            after = srv.counts()
            runs.append({"run": i, "kind": kind, "planned": value,
                         "killed_at_s": round(elapsed, 4),
                         "killed": alive, "rc": rc,
                         "events_received": after[0] - before[0],
                         "new_ids": after[5] - before[5]})
            if not alive:
                print("note: run %d ended by itself (exit %s) before its "
                      "kill" % (i, rc), flush=True)
                if rc != 0:
                    keep = True
        kill_phase = time.monotonic() - t_start

        if writer is not None:
            writer.done.wait()
            if writer.error is not None:
                raise writer.error
        # Final run, to completion.
        log = os.path.join(tmp, "logs", "final.log")
        logs.append(log)
        t0 = time.monotonic()
        with open(log, "wb") as lf:
            proc = sysmonfwd_it.popen([binp, "-c", conf, "--once"],
                                      stdout=lf, stderr=lf)
            try:
                final_rc = proc.wait(timeout=a.final_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                final_rc = "timeout"
            proc = None
        final_s = time.monotonic() - t0
        wall = time.monotonic() - t_start
        st = subprocess.run([binp, "-c", conf, "--buffer-stat"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
        try:
            stat = json.loads(st.stdout)
            pending = stat["outputs"]["hec"]["unacked_records"]
        except (ValueError, KeyError, TypeError):
            stat, pending = st.stdout + st.stderr, None
        events, nids, noid, gaps, requests, _ = srv.counts()

        per_id = collections.Counter()
        with open(ids_path) as f:
            for line in f:
                per_id[int(line)] += 1
        expected = range(1, a.records + 1)
        lost = [r for r in expected if per_id[r] == 0]
        foreign = sorted(r for r in per_id if r < 1 or r > a.records)
        unique = sum(1 for r in expected if per_id[r] > 0)
        dups = sum(c - 1 for r, c in per_id.items()
                   if 1 <= r <= a.records and c > 1)
        most = max(per_id.values()) if per_id else 0
        digest = log_digest(logs)

        print("records input        %d (%.1f MB)" % (a.records, size / 1e6))
        print("kills done           %d of %d planned (%d early)" %
              (kills_done, a.kills,
               sum(1 for r in runs if r["kind"] == "early" and
                   r["killed"])))
        print("events received      %d in %d requests (%d with a record "
              "id)" % (events, requests, nids))
        print("unique received      %d" % unique)
        print("lost                 %d%s" % (len(lost), (
            "   first: %s" % lost[:20]) if lost else ""))
        print("duplicates           %d (%.2f%% of input; most copies of "
              "one record: %d)" % (dups, 100.0 * dups / a.records, most))
        print("without record id    %d, gap documents %d" % (noid, gaps))
        if foreign:
            print("unexpected ids       %d, first %s" % (len(foreign),
                                                       foreign[:10]))
        print("final run            exit %s in %.1f s; --buffer-stat "
              "unacked_records %s" % (final_rc, final_s, pending))
        print("wall time            %.1f s (kill phase %.1f s)" %
              (wall, kill_phase))
        if digest:
            print("agent warnings/errors (digits as N; times, runs):")
            for key, n, nruns, (where, text) in digest[:25]:
                print("  %5d %4d  %s" % (n, nruns, key[:220]))
        ok = (not lost and not foreign and noid == 0 and gaps == 0 and
              final_rc == 0 and pending == 0)
        with open(os.path.join(tmp, "soak.json"), "w") as f:
            json.dump({"seed": seed, "records": a.records,
                       "kills_planned": a.kills, "kills_done": kills_done,
                       "input": a.input, "ack": a.ack,
                       "lost": lost, "duplicates": dups,
                       "unique": unique, "events": events,
                       "noid": noid, "gaps": gaps, "final_rc": final_rc,
                       "buffer_stat": stat, "wall_s": wall,
                       "runs": runs}, f, indent=1)
        if not ok:
            keep = True
            print("FAIL: %s; everything is kept in %s (soak.json: the "
                  "schedule and the kill times; logs/: the agent's stderr "
                  "per run; received-ids.txt)" % (
                      "records lost" if lost else "see above", tmp))
            sys.exit(1)
        print("OK: nothing lost")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if srv is not None:
            srv.stop()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("work directory kept: %s" % tmp)


if __name__ == "__main__":
    main()
