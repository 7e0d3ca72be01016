"""Torture tests: every allocation, every file call of the ring and the
positions failing in turn (issue 12).  Python 3, standard library only.

For each output (the file output, then Splunk HEC, Elasticsearch and Wazuh
against the test servers of tests/integration/, over TLS with a CA made at
test time) the scenario is the same short, real replay: a file input of
RECORDS unique corpus records (sysmonfwd_it.unique_records) -> the disk
ring (small blocks and segments, so that segments roll over, are deleted
and are read back from disk) -> the output.

A counting run (no failure) says how many calls there are.  Then for each N
chosen, with faultinject.so preloaded into the agent only (never into this
script or its servers):

  1. the agent runs with call N armed (--once, with a timeout);
  2. it runs again without any fault (--once);
  3. sysmonfwd --buffer-stat reads the ring.

A run passes when:
  - neither agent died of a signal or hung, and the first exited 0, or 1
    with an ERROR line on stderr saying why; the second exited 0;
  - no sanitizer report appears;
  - every input record reached the destination at least once (duplicates
    are allowed: a record may be sent again after a fault);
  - the destination received no gap document, and the agent reported no
    lost records.  THE RULE: one failed allocation or one failed file
    call never destroys a record the agent holds.  A failed allocation is
    retried or stops the agent (exit 1) and the records are read again at
    the restart; a failed write keeps the block in memory and writes it
    again; a failed read is retried; a failed fsync leaves the records
    not durable (input positions do not pass them) until a later fsync
    succeeds.  So in this scenario (a few hundred KiB, far below
    max_pending_size, one fault at a time) no fault may end in a gap: a
    gap here is always a record reported lost that was still there.
  - --buffer-stat shows no record left unacknowledged for the output (and
    no dropped_records when the ring reports that figure).

Modes:
  alloc   FI_MODE=alloc: the Nth allocation made from the agent's own code,
          expat, cJSON, libcurl, zlib or inih (FI_SCOPE) returns NULL,
          once (--all-later: N and every later one).
  io      FI_MODE=io: the Nth call of one kind (open, write, pwrite, fsync,
          fdatasync, rename, ftruncate, read, pread) on a path under the
          agent's state_dir fails with EIO, ENOSPC, or SHORT (a write
          that writes half: a disk filling in the middle of a frame).

--sample (CI): every k-th N, k chosen so that the whole run fits --budget
seconds.  --full (tests/torture/sweep.sh): every N.  Figures are printed at
the end; a JSON report with --report.  Exit 1 when any run failed.
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
IT_DIR = os.path.join(os.path.dirname(HERE), "integration")
sys.path.insert(0, IT_DIR)
import sysmonfwd_it as it  # noqa: E402
import tlsutil  # noqa: E402

HEC_TOKEN = "11111111-2222-3333-4444-555555555555"
ES_KEY = ("torture-key-id", "torture-api-key-secret")
WZ_USER, WZ_PASSWORD = "torture", "t0rture-Pa55"
OUTPUTS = ("file", "hec", "es", "wazuh", "wazuh_agent")
KINDS = ("open", "write", "pwrite", "fsync", "fdatasync", "rename",
         "ftruncate", "read", "pread")
# SHORT: a write that writes half (a disk filling up mid-frame); SHORT_NOCUT:
# the same, and the ftruncate that would cut the torn frame off fails too.
ERRNOS = ("EIO", "ENOSPC", "SHORT", "SHORT_NOCUT")
WRITE_KINDS = ("write", "pwrite")
DEFAULT_SCOPE = "sysmonfwd,libexpat,libcjson,libcurl,libz.so,libinih"
RID_RE = re.compile(r"<EventRecordID>(\d+)</EventRecordID>")
WZ_RID_RE = re.compile(r'eventRecordID\\?"\s*:\s*\\?"(\d+)')
FIRST_ID = 700000
POWERCUT_WINDOW_S = 3   # the destination is down this long
SAMPLE_RUN_S = 1.2


def log(msg):
    print(msg, flush=True)


# ---- destinations ----


class Dest:
    """One output under test: its configuration section, its server (if
    any) and what arrived there: (record ids seen, gap documents)."""

    def __init__(self, kind, ctx):
        self.kind = kind
        self.ctx = ctx
        self.server = None

    def start(self, d):
        self.d = d
        pki = self.ctx.pki
        if self.kind == "hec":
            import hec_server
            self.server = hec_server.HecServer(
                pki["server"], pki["server_key"], tokens=[HEC_TOKEN]).start()
        elif self.kind == "es":
            import es_server
            self.server = es_server.EsServer(
                pki["server"], pki["server_key"], api_keys=[ES_KEY]).start()
        elif self.kind == "wazuh":
            import wazuh_server
            self.server = wazuh_server.WazuhServer(
                pki["server"], pki["server_key"],
                users={WZ_USER: WZ_PASSWORD}, events_per_minute=0,
                general_per_minute=0).start()
        elif self.kind == "wazuh_agent":
            # The agent protocol's test manager (authd, remoted), checking
            # the anti-replay counters: a fault must never make the agent
            # send a counter twice either.  A manager per job: its runs
            # share the key enrolled by the first (the state_dir's).
            import wazuh_manager
            self.server = wazuh_manager.WazuhManager(
                pki["server"], pki["server_key"],
                verify_msg_id=True).start()

    def stop(self):
        if self.server is not None:
            self.server.stop()
            self.server = None

    def section(self):
        common = {"flush_interval": "100ms", "retry_initial": "100ms",
                  "retry_max": "1s", "timeout": "10s",
                  "batch_max_events": "50"}
        pki = self.ctx.pki
        if self.kind == "file":
            return {"type": "file", "path": os.path.join(self.d, "out.ndjson")}
        if self.kind == "wazuh_agent":
            self.ctx.seq += 1
            kv = {"type": "wazuh_agent", "manager": "127.0.0.1",
                  "port": str(self.server.remoted_port),
                  "enrollment_port": str(self.server.authd_port),
                  "enrollment_ca_file": pki["ca"],
                  "agent_name": "torture-%d-%d" % (os.getpid(),
                                                   self.ctx.seq),
                  "max_events_per_second": "100000",
                  "keepalive_interval": "2s"}
            kv.update(common)
            return kv
        url = self.server.url
        if self.kind == "hec":
            kv = {"type": "splunk_hec", "url": url, "token": HEC_TOKEN}
        elif self.kind == "es":
            kv = {"type": "elasticsearch", "url": url,
                  "api_key": "%s:%s" % ES_KEY}
        else:
            kv = {"type": "wazuh", "url": url, "user": WZ_USER,
                  "password": WZ_PASSWORD, "max_requests_per_minute": "600"}
            del common["batch_max_events"]
        kv["tls_ca_file"] = pki["ca"]
        kv.update(common)
        return kv

    def received(self):
        """(Counter of record ids, [gap document texts], [documents
        tagged as damaged: parse error or truncated])."""
        ids = collections.Counter()
        gaps = []
        self.tagged = []
        if self.kind == "file":
            path = os.path.join(self.d, "out.ndjson")
            docs, _ = it.read_ndjson(path)
            for doc in docs:
                if doc is None:
                    continue
                self.tag_check(json.dumps(doc))
                if "sysmonfwd_gap" in (doc.get("tags") or []):
                    gaps.append(json.dumps(doc)[:600])
                    continue
                rid = doc.get("winlog", {}).get("record_id")
                if rid is not None:
                    ids[int(rid)] += 1
        elif self.kind == "hec":
            for e in self.server.stored():
                text = json.dumps(e.get("envelope"))
                self.tag_check(text)
                if "sysmonfwd_gap" in text:
                    gaps.append(text[:600])
                    continue
                ev = e["envelope"].get("event")
                if isinstance(ev, str):
                    m = RID_RE.search(ev)
                    if m:
                        ids[int(m.group(1))] += 1
                elif isinstance(ev, dict):
                    rid = ev.get("winlog", {}).get("record_id")
                    if rid is not None:
                        ids[int(rid)] += 1
        elif self.kind == "es":
            for (index, _id), doc in self.server.docs().items():
                text = json.dumps(doc)
                self.tag_check(text + index)
                if "sysmonfwd_gap" in text or "sysmonfwd.gap" in index:
                    gaps.append(text[:600])
                    continue
                rid = doc.get("winlog", {}).get("record_id")
                if rid is not None:
                    ids[int(rid)] += 1
        elif self.kind == "wazuh_agent":
            for ev in self.server.events():
                self.tag_check(ev)
                if "sysmonfwd_gap" in ev or "records-dropped" in ev:
                    gaps.append(ev[:600])
                    continue
                m = RID_RE.search(ev)
                if m:
                    ids[int(m.group(1))] += 1
            errs = self.server.errors()
            if errs:
                # A refused message (bad MD5, a counter sent twice) is a
                # record the manager never took: say it as damage.
                self.tagged.extend("manager refused: " + str(e)[:300]
                                   for e in errs)
        else:
            for ev in self.server.events():
                self.tag_check(ev)
                if "sysmonfwd_gap" in ev or "records-dropped" in ev:
                    gaps.append(ev[:600])
                    continue
                m = WZ_RID_RE.search(ev)
                if m:
                    ids[int(m.group(1))] += 1
        return ids, gaps, self.tagged

    DAMAGE_RE = re.compile(r"sysmonfwd_parse_error|sysmonfwd_truncated|"
                           r"sysmonfwd:error|sysmonfwd\.error")

    def tag_check(self, text):
        """Every input record is whole and valid: a document saying it
        could not be parsed or was cut means a fault changed it."""
        m = self.DAMAGE_RE.search(text)
        if m:
            self.tagged.append(m.group(0) + ": " + text[:300])


# ---- one run ----


class Ctx:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.pki = tlsutil.make_pki(os.path.join(tmp, "pki"))
        self.input = os.path.join(tmp, "in.log")
        self.records = it.unique_records(args.corpus, FIRST_ID, args.records)
        with open(self.input, "wb") as f:
            f.writelines(self.records)
        self.want = set(range(FIRST_ID, FIRST_ID + args.records))
        self.seq = 0
        self.lock = threading.Lock()

    def new_dir(self, tag):
        with self.lock:
            self.seq += 1
            n = self.seq
        d = os.path.join(self.tmp, "run-%05d-%s" % (n, tag))
        os.makedirs(d)
        return d


def config_text(ctx, d, dest, input_path):
    state = os.path.join(d, "state")
    buf = ["[buffer]", "segment_size = 64KiB", "block_size = 4KiB",
           "flush_interval = 50ms"]
    if dest.kind == "file":
        buf.append("fsync = always")
    text = it.file_config(state, [("in", {"type": "file", "path": input_path,
                                          "follow": "false"})],
                          [(dest.kind, dest.section())])
    return text + "\n".join(buf) + "\n"


def run_agent(ctx, conf, env, timeout):
    """(exit code, or 'hang'; stderr text; seconds)."""
    t0 = time.monotonic()
    argv = [ctx.args.bin, "-c", conf, "--once"]
    if (os.environ.get("TORTURE_GDB") and "LD_PRELOAD" in env and
            env.get("FI_N", "0") != "0"):
        # To see where a faulted run crashes: under gdb, the interposer
        # preloaded into the agent only, a backtrace on any signal.
        env = dict(env)
        pre = env.pop("LD_PRELOAD")
        argv = ["gdb", "-q", "-batch", "-ex", "set startup-with-shell off",
                "-ex", "set environment LD_PRELOAD=" + pre, "-ex", "run",
                "-ex", "bt", "-ex", "info registers rip", "--args"] + argv
    p = it.popen(argv, stdout=subprocess.PIPE if os.environ.get(
                     "TORTURE_GDB") else subprocess.DEVNULL,
                 stderr=subprocess.PIPE, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
        if out:
            err = err + b"\n--- gdb ---\n" + out
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        rc = "hang"
    return rc, err.decode("utf-8", "replace"), time.monotonic() - t0


def read_counts(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(" ")
                out[k] = int(v)
    except (OSError, ValueError):
        pass
    return out


SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:|"
                          r"UndefinedBehaviorSanitizer")
LOSS_RE = re.compile(r"corrupt block|records lost|dropped \d+ records|"
                     r"gap document|reported as lost|moved to quarantine|"
                     r"no longer in the buffer")


def one(ctx, job):
    """Run job (dict: output, mode, n, kind, errno, all_later, scenario);
    return a result dict with "problems" (empty: passed) and "counts".

    Scenario "powercut" (io mode, HTTP outputs): the destination is down
    while the agent reads every record into the ring, and the power is cut
    just before its Nth file call (see FI_ACTION in faultinject.c: what
    was not fsynced is lost, files made since their directory was fsynced
    vanish, SIGKILL).  Then the destination comes up and a clean run must
    deliver every record, with no gap: whatever the agent took as durable
    (input positions, the head and cursor files) was.

    Scenario "fresh": the fault is armed in the first run of the agent,
    on an empty state_dir.  Scenario "restart": a first run without fault
    forwards half of the records, the other half is appended to the input
    file, and the fault is armed in the run that follows, so that it falls
    in what a restart does: recovering the ring (segment scans, the head
    and cursor files), resuming the input from its position file and the
    ring's checkpoints, then forwarding."""
    a = ctx.args
    scen = job.get("scenario", "fresh")
    tag = "%s-%s-%s-%s%s" % (job["output"], scen, job["mode"],
                             job.get("kind") or "", job["n"])
    d = ctx.new_dir(tag)
    dest = Dest(job["output"], ctx)
    dest.start(d)
    res = dict(job, dir=d, problems=[])
    try:
        input_path = ctx.input
        env0 = {k: v for k, v in os.environ.items()
                if k != "LD_PRELOAD" and not k.startswith("FI_")}
        if scen == "restart":
            input_path = os.path.join(d, "in.log")
            half = len(ctx.records) // 2
            with open(input_path, "wb") as f:
                f.writelines(ctx.records[:half])
        conf = it.write_config(os.path.join(d, "agent.conf"),
                               config_text(ctx, d, dest, input_path))
        os.chmod(conf, 0o600)
        if scen == "powercut":
            dest.server.stop()      # down; the same port when it comes back
        if scen == "restart":
            rc0, err0, _ = run_agent(ctx, conf, env0, a.timeout * 2)
            if rc0 != 0:
                res["problems"].append("restart scenario: the first run "
                                       "(no fault) exited %s: %s" %
                                       (rc0, err0[-300:]))
                return res
            with open(input_path, "ab") as f:
                f.writelines(ctx.records[half:])
        state = os.path.realpath(os.path.join(d, "state"))
        env = dict(os.environ)
        env.update({"LD_PRELOAD": os.path.abspath(a.lib),
                    "FI_MODE": job["mode"], "FI_N": str(job["n"]),
                    "FI_COUNT_FILE": os.path.join(d, "fi.counts"),
                    "FI_LOG": os.path.join(d, "fi.log")})
        if job.get("all_later"):
            env["FI_ALL"] = "1"
        if scen == "powercut":
            env["FI_ACTION"] = "powercut"
        if job["mode"] == "alloc":
            env["FI_SCOPE"] = a.scope
        else:
            os.makedirs(state, exist_ok=True)
            env["FI_DIR"] = state
            env["FI_KINDS"] = job.get("kind") or "all"
            if scen == "powercut":
                env["FI_KINDS"] = "all"
            e = job.get("errno") or "EIO"
            env["FI_ERRNO"] = "SHORT" if e == "SHORT_NOCUT" else e
            if e == "SHORT_NOCUT":
                env["FI_THEN"] = "ftruncate"
        rc1, err1, t1 = run_agent(ctx, conf, env, POWERCUT_WINDOW_S
                                  if scen == "powercut" else a.timeout)
        if scen == "powercut":
            dest.server.start()
        res["counts"] = read_counts(os.path.join(d, "fi.counts"))
        res["rc1"], res["t1"] = rc1, round(t1, 2)
        res["fired"] = res["counts"].get("fired", 0)
        with open(os.path.join(d, "stderr.1"), "w") as f:
            f.write(err1)
        if job["n"] == 0:
            # A counting run must simply work (a power-cut one is stopped
            # by SIGTERM at the end of its window).
            if rc1 != 0 and not (scen == "powercut" and rc1 == "hang"):
                res["problems"].append("counting run (no fault) exited %s:"
                                       " %s" % (rc1, err1[-400:]))
            return res
        rc2, err2, t2 = run_agent(ctx, conf, env0, a.timeout * 2)
        res["rc2"], res["t2"] = rc2, round(t2, 2)
        with open(os.path.join(d, "stderr.2"), "w") as f:
            f.write(err2)
        p = res["problems"]
        if scen == "powercut" and (rc1 == "hang" or
                                   (rc1 == -9 and res["fired"])):
            pass    # stopped by the window's end, or by the power cut
        elif rc1 == "hang":
            p.append("run 1 (fault armed) did not finish in %d s" % a.timeout)
        elif rc1 < 0:
            p.append("run 1 died of signal %d" % -rc1)
        elif rc1 not in (0, 1):
            p.append("run 1 exited %d" % rc1)
        elif rc1 == 1 and not re.search(r"sysmonfwd: error: \S", err1):
            p.append("run 1 exited 1 without an error line saying why")
        if rc2 != 0:
            p.append("run 2 (no fault) exited %s" % rc2)
        for n, err in (("1", err1), ("2", err2)):
            if SANITIZER_RE.search(err):
                p.append("run %s: sanitizer report" % n)
            m = LOSS_RE.search(err)
            if m:
                line = err[err.rfind("\n", 0, m.start()) + 1:
                           err.find("\n", m.end())]
                p.append("run %s reports lost records: %s" % (n, line[:300]))
        ids, gaps, tagged = dest.received()
        missing = sorted(ctx.want - set(ids))
        if missing:
            p.append("%d of %d records never reached the %s output "
                     "(first: %s)" % (len(missing), len(ctx.want),
                                      job["output"], missing[:5]))
        if gaps:
            p.append("%d gap document(s) at the destination: %s" %
                     (len(gaps), gaps[0][:400]))
        if tagged:
            p.append("%d document(s) marked unparsable or cut, for valid "
                     "whole records: %s" % (len(tagged), tagged[0][:300]))
        res["duplicates"] = sum(n - 1 for n in ids.values() if n > 1)
        st = subprocess.run([a.bin, "-c", conf, "--buffer-stat"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=60)
        try:
            stat = json.loads(st.stdout)
            o = stat["outputs"][job["output"]]
            if o.get("unacked_records", 0) != 0:
                p.append("--buffer-stat: %d records left unacknowledged" %
                         o["unacked_records"])
            if o.get("dropped_records", 0) != 0:
                p.append("--buffer-stat: dropped_records %d" %
                         o["dropped_records"])
        except (ValueError, KeyError) as e:
            p.append("--buffer-stat failed (%s): %s %s" %
                     (e, st.stdout[:200], st.stderr[:200]))
        if p:
            res["site"] = site_of(ctx, d)
            res["stderr1"] = tail(err1)
            res["stderr2"] = tail(err2)
    finally:
        dest.stop()
        if not res["problems"] and not a.keep:
            shutil.rmtree(d, ignore_errors=True)
    return res


def tail(text, n=12):
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-n:]


FRAME_RE = re.compile(r"^(\S+?)\((\S*?)\+?(0x[0-9a-f]+)?\)\s*\[(0x[0-9a-f]+)\]")


def site_of(ctx, d):
    """The stack of the injected failure, frames in the agent resolved to
    function and file:line with addr2line."""
    path = os.path.join(d, "fi.log")
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    binpath = os.path.realpath(ctx.args.bin)
    for l in lines[:40]:
        m = FRAME_RE.match(l)
        if not m or "faultinject" in m.group(1):
            if l.startswith("=="):
                out.append(l)
            continue
        obj, sym, off = m.group(1), m.group(2), m.group(3)
        if os.path.realpath(obj) == binpath and off and not sym:
            try:
                r = subprocess.run(["addr2line", "-f", "-i", "-C", "-e",
                                    binpath, "%#x" % (int(off, 16) - 1)],
                                   stdout=subprocess.PIPE, timeout=10,
                                   universal_newlines=True)
                parts = r.stdout.split("\n")
                for i in range(0, len(parts) - 1, 2):
                    out.append("%s %s" % (parts[i],
                                          re.sub(r".*/(?=[^/]+/[^/]+$)", "",
                                                 parts[i + 1])))
                continue
            except (OSError, subprocess.SubprocessError):
                pass
        out.append("%s %s%s" % (os.path.basename(obj), sym or "",
                                "+" + off if off else ""))
    return out


PROBLEM_KINDS = (
    ("exited 2", "exit 2 (a configuration error) for a failed call"),
    ("marked unparsable or cut", "a valid record delivered as unparsable "
     "or cut"),
    ("gap document", "gap document for records that were there"),
    ("never reached", "records never delivered"),
    ("reports lost records", "the agent reports records lost"),
    ("unacknowledged", "records left unacknowledged"),
    ("signal", "crash"),
    ("did not finish", "hang"),
    ("without an error line", "exit 1 without saying why"),
    ("exited", "unexpected exit code"),
    ("sanitizer", "sanitizer report"),
    ("driver error", "driver error"))


def site_key(r):
    """(the first agent frames of the injected call's stack, the first
    kind of problem): failures with the same key are one bug."""
    frames = [l.split(" ")[0] for l in r.get("site", [])
              if not l.startswith("==") and ".so" not in l.split(" ")[0]
              and not l.startswith("_start") and "??" not in l]
    text = "; ".join(r["problems"])
    kind = next((k[1] for k in PROBLEM_KINDS if k[0] in text), text[:60])
    return (" < ".join(frames[:3]), kind)


# ---- planning ----


def planned(args, counts):
    """The jobs of the sweep: for each target (output, scenario, mode,
    kind, errno) its Ns.  counts: (output, scenario, mode, kind) -> calls
    counted."""
    jobs = []
    for key, total in counts.items():
        output, scen, mode, kind = key
        if total == 0:
            continue
        errnos = [None] if mode == "alloc" or scen == "powercut" else [
            e for e in args.errnos if not e.startswith("SHORT") or
            kind in WRITE_KINDS]
        if args.sample and len(errnos) > 1:
            # A sample takes the errors in turn along the Ns.
            errnos = ["|".join(errnos)]
        for e in errnos:
            ns = list(range(1, total + 1 + args.margin))
            jobs.append(((output, scen, mode, kind, e), ns))
    return jobs


def choose(args, jobs, per_run):
    """Pick the Ns to run: all of them (--full), or every k-th so that the
    estimated time fits the budget (--sample)."""
    if args.only is not None:
        return [(t, [n for n in ns if n in args.only]) for t, ns in jobs]
    if not args.sample:
        if args.stride > 1:
            return [(t, ns[args.offset % args.stride::args.stride])
                    for t, ns in jobs]
        return jobs
    budget_runs = max(len(jobs), int(args.budget / max(per_run, 0.05)))
    k = 1
    while sum(-(-len(ns) // k) for _, ns in jobs) > budget_runs:
        k += 1
    out = []
    for i, (t, ns) in enumerate(jobs):
        # A different offset per target, the same on every run.
        start = (i * 7) % k if k > 1 else 0
        out.append((t, ns[start::k] or ns[:1]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--lib", required=True, help="faultinject.so")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--records", type=int, default=300)
    ap.add_argument("--modes", default="alloc,io")
    ap.add_argument("--scenarios", default="fresh,restart,powercut",
                    help="fresh: the fault in a first run; restart: in "
                    "the run after one that left state; powercut: a power "
                    "cut before the Nth file call (see one())")
    ap.add_argument("--outputs", default=",".join(OUTPUTS))
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--errnos", default="EIO,ENOSPC,SHORT,SHORT_NOCUT")
    ap.add_argument("--scope", default=DEFAULT_SCOPE,
                    help="FI_SCOPE for alloc mode ('all': every allocation)")
    ap.add_argument("--sample", action="store_true",
                    help="every k-th N within --budget seconds (CI)")
    ap.add_argument("--budget", type=float, default=170.0)
    ap.add_argument("--full", action="store_true", help="every N")
    ap.add_argument("--stride", type=int, default=1,
                    help="with --full: every k-th N only")
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--margin", type=int, default=2,
                    help="Ns past the count tried as well")
    ap.add_argument("--only", default=None,
                    help="comma-separated Ns: run just these")
    ap.add_argument("--all-later", action="store_true",
                    help="fail call N and every later one")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=30)
    ap.add_argument("--keep", action="store_true",
                    help="keep every run's directory (failed ones are "
                    "always kept)")
    ap.add_argument("--workdir", default=None,
                    help="where the run directories go (default: a "
                    "temporary directory, removed unless a run failed)")
    ap.add_argument("--report", default=None, help="write a JSON report")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    args.lib = os.path.abspath(args.lib)
    if args.only is not None:
        args.only = {int(x) for x in args.only.split(",") if x}
    args.errnos = [e for e in args.errnos.split(",") if e]
    for e in args.errnos:
        if e not in ERRNOS:
            ap.error("unknown errno %r" % e)
    if not (args.sample or args.full or args.only):
        ap.error("say --sample, --full or --only")
    for p in (args.bin, args.lib):
        if not os.path.exists(p):
            sys.exit("FAIL: %s does not exist" % p)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(
        "FAIL: stopped by signal %d" % s))

    tmp = args.workdir or tempfile.mkdtemp(prefix="sysmonfwd-torture-")
    os.makedirs(tmp, exist_ok=True)
    # Private copies: a rebuild during a long sweep changes nothing.
    os.makedirs(os.path.join(tmp, "bin"), exist_ok=True)
    for attr in ("bin", "lib"):
        dst = os.path.join(tmp, "bin", os.path.basename(getattr(args, attr)))
        shutil.copy2(getattr(args, attr), dst)
        setattr(args, attr, dst)
    ctx = Ctx(args, tmp)
    t_start = time.monotonic()
    modes = [m for m in args.modes.split(",") if m]
    outputs = [o for o in args.outputs.split(",") if o]
    kinds = [k for k in args.kinds.split(",") if k]

    # Counting runs.
    counts, per_run, problems = {}, [], []
    scenarios = [x for x in args.scenarios.split(",") if x]
    for output in outputs:
        for scen in scenarios:
            for mode in modes:
                if scen == "powercut" and (mode != "io" or output == "file"):
                    continue
                res = one(ctx, {"output": output, "mode": mode, "n": 0,
                                "kind": None, "errno": None,
                                "scenario": scen})
                per_run.append(res.get("t1", 1.0))
                if res["problems"]:
                    problems.append(res)
                    log("FAIL: %s" % res["problems"])
                    continue
                c = res["counts"]
                if mode == "alloc":
                    counts[(output, scen, mode, None)] = c.get("calls", 0)
                elif scen == "powercut":
                    counts[(output, scen, mode, "all")] = c.get("calls", 0)
                else:
                    for k in kinds:
                        counts[(output, scen, mode, k)] = c.get(k, 0)
                log("count %-6s %-7s %-5s %s" % (output, scen, mode, " ".join(
                    "%s=%d" % (k, v) for k, v in sorted(c.items())
                    if k != "fired")))
    # A run is a faulted run, a clean one and --buffer-stat: about 2.5
    # counting runs, plus the servers.  The sample's plan does not depend
    # on how busy the machine is (the same Ns on every run): it assumes
    # SAMPLE_RUN_S a run.
    est = 2.5 * (sum(per_run) / max(len(per_run), 1)) + 0.3
    plan = choose(args, planned(args, counts),
                  SAMPLE_RUN_S if args.sample else est)
    per_target = []
    for (output, scen, mode, kind, e), ns in plan:
        cycle = (e or "").split("|")
        per_target.append([{"output": output, "scenario": scen,
                            "mode": mode, "kind": kind,
                            "errno": cycle[i % len(cycle)] or None, "n": n,
                            "all_later": args.all_later}
                           for i, n in enumerate(ns)])
    # Round robin over the targets: a sample stopped early is still spread
    # over every output, scenario and call kind.
    jobs = []
    for i in range(max((len(t) for t in per_target), default=0)):
        jobs += [t[i] for t in per_target if i < len(t)]
    log("plan: %d runs (%s), about %.1f s each" % (
        len(jobs), "sample" if args.sample else "full" if args.full else
        "chosen", est / max(args.jobs, 1)))

    results = []
    # The plan fits the budget at SAMPLE_RUN_S a run; on a machine so
    # busy that it does not, stop at 1.5 times the budget (and say so).
    deadline = t_start + 1.5 * args.budget if args.sample else None
    lock = threading.Lock()
    queue = list(jobs)
    skipped = [0]
    seen_sites = set()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                if deadline is not None and time.monotonic() > deadline:
                    skipped[0] += len(queue)
                    queue.clear()
                    return
                job = queue.pop(0)
            try:
                res = one(ctx, job)
            except Exception as e:     # a driver problem is a failure too
                res = dict(job, dir="-", problems=["driver error: %r" % e])
            with lock:
                results.append(res)
                if res["problems"]:
                    site = [l for l in res.get("site", [])
                            if not l.startswith("==")]
                    sig = tuple(site[:4])
                    first = sig not in seen_sites
                    seen_sites.add(sig)
                    log("FAIL %s %s %s %s %s N=%d: %s\n  dir %s%s" % (
                        res["output"], res.get("scenario", "fresh"),
                        res["mode"], res["kind"] or "",
                        res["errno"] or "", res["n"],
                        "; ".join(res["problems"])[:600], res["dir"],
                        ("\n  site (first time seen):\n    " +
                         "\n    ".join(site[:12]) +
                         "\n  stderr 1:\n    " +
                         "\n    ".join(res.get("stderr1", [])[-6:]))
                        if first else "\n  site: " + " < ".join(
                            x.split(" ")[0] for x in site[:4])))
                elif len(results) % 50 == 0:
                    log("... %d/%d runs, %d failed, %.0f s" % (
                        len(results), len(jobs),
                        sum(1 for r in results if r["problems"]),
                        time.monotonic() - t_start))

    threads = [threading.Thread(target=worker) for _ in range(args.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Figures.
    by = collections.OrderedDict()
    for r in results:
        key = (r["output"], r.get("scenario", "fresh"), r["mode"],
               r["kind"] or "-", r["errno"] or "-")
        f = by.setdefault(key, {"tried": 0, "fired": 0, "failed": 0,
                                "exit1": 0, "dups": 0, "failed_ns": []})
        f["tried"] += 1
        f["fired"] += 1 if r.get("fired") else 0
        f["exit1"] += 1 if r.get("rc1") == 1 else 0
        f["dups"] += r.get("duplicates", 0)
        if r["problems"]:
            f["failed"] += 1
            f["failed_ns"].append(r["n"])
    log("\n%-6s %-7s %-5s %-9s %-6s %6s %6s %6s %6s %s" % (
        "output", "start", "mode", "kind", "errno", "tried", "fired", "exit1",
        "failed", "failed N"))
    for key, f in by.items():
        log("%-6s %-7s %-5s %-9s %-6s %6d %6d %6d %6d %s" % (
            key + (f["tried"], f["fired"], f["exit1"], f["failed"],
                   ",".join(map(str, f["failed_ns"][:12])) +
                   ("..." if len(f["failed_ns"]) > 12 else ""))))
    failed = [r for r in results if r["problems"]] + problems
    groups = collections.OrderedDict()
    for r in failed:
        key = site_key(r)
        groups.setdefault(key, []).append(r)
    if groups:
        log("\ndistinct failures (by the agent's own frames at the injected "
            "call, and what went wrong): %d" % len(groups))
        for key, rs in groups.items():
            log("  %4d x  %s\n         at %s\n         e.g. %s %s %s %s %s "
                "N=%s (%s)" % (len(rs), key[1], key[0] or "?",
                           rs[0]["output"], rs[0].get("scenario", "fresh"),
                           rs[0]["mode"], rs[0].get("kind") or "",
                           rs[0].get("errno") or "", rs[0]["n"],
                           rs[0]["dir"]))
    total_sites = {m: sum(f["tried"] for k, f in by.items() if k[2] == m)
                   for m in ("alloc", "io")}
    log("\nsites tried: %d allocation, %d I/O; runs failed: %d; "
        "not run (budget): %d; %.0f s" % (
            total_sites["alloc"], total_sites["io"], len(failed),
            skipped[0], time.monotonic() - t_start))
    if args.report:
        with open(args.report, "w") as f:
            json.dump({"counts": {"%s/%s/%s/%s" % k: v
                                  for k, v in counts.items()},
                       "figures": [dict(zip(("output", "scenario", "mode",
                                             "kind", "errno"), k), **v)
                                   for k, v in by.items()],
                       "failures": [{k: r.get(k) for k in (
                           "output", "scenario", "mode", "kind", "errno",
                           "n", "dir",
                           "problems", "site", "stderr1", "stderr2",
                           "rc1", "rc2")} for r in failed]},
                      f, indent=1)
    if not results and not problems:
        log("FAIL: no run was made")
        sys.exit(1)
    if not failed and not args.workdir and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    elif failed:
        log("run directories kept under %s" % tmp)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
