"""Fault tests of the disk ring, with the real binary.

While the output is down (its path is a directory, so every write fails and
is retried), records pile up in the ring under state_dir/buffer.  Three
scenarios check what happens then:

1. The ring reaches max_size (full = drop_oldest): the oldest segments are
   evicted, --buffer-stat shows the backlog and a compression ratio, and
   once the output is back it receives gap documents (tags sysmonfwd_gap,
   event.action records-dropped) whose counts plus the documents delivered
   equal exactly the records read; no record is delivered twice.
2. The disk holding state_dir is full (a 1 MiB tmpfs, so write() fails with
   ENOSPC) and the memory kept for unwritten blocks is small: the agent
   keeps running, says it cannot write, drops and announces what does not
   fit, and when space returns (the output drains the ring) writes again;
   again delivered + announced = read.
3. The same full disk with full = block: the input waits instead, nothing
   is lost and every record arrives exactly once.

The tmpfs is mounted in a temporary directory (the tests run as root in CI)
and unmounted at the end.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402


def start(binary, conf, log):
    return subprocess.Popen([binary, "-c", conf, "--once"],
                            stdout=subprocess.DEVNULL, stderr=log)


def config(state, inp, out, buffer_kv):
    text = it.file_config(state, [("win", {"type": "file", "path": inp,
                                           "follow": "false"})],
                          [("siem", {"type": "file", "path": out})])
    lines = ["[buffer]"] + ["%s = %s" % kv for kv in buffer_kv.items()]
    return text + "\n".join(lines) + "\n"


def account(ck, what, out, n_records, first_id):
    """Every record is delivered once or counted in a gap document."""
    docs, problems = it.read_ndjson(out)
    ck.check(not problems, "%s: output is valid NDJSON: %s" % (what,
                                                             problems[:3]))
    ids = [d.get("winlog", {}).get("record_id") for d in docs
           if "sysmonfwd_gap" not in d.get("tags", [])]
    gaps = [d for d in docs if "sysmonfwd_gap" in d.get("tags", [])]
    lost = 0
    for g in gaps:
        gp = g.get("sysmonfwd", {}).get("gap", {})
        ck.eq(g.get("event", {}).get("action"), "records-dropped",
              "%s: gap event.action" % what)
        ck.check(isinstance(gp.get("records"), int) and gp["records"] > 0,
                 "%s: gap records is a positive number: %s" % (what, gp))
        ck.check(gp.get("reason"), "%s: gap has a reason" % what)
        ck.eq(gp.get("last_seq", 0) - gp.get("first_seq", 0) + 1,
              gp.get("records"), "%s: gap seq range matches its count" % what)
        lost += gp.get("records", 0)
    dup = len(ids) - len(set(ids))
    ck.eq(dup, 0, "%s: records delivered twice" % what)
    ck.eq(len(set(ids)) + lost, n_records,
          "%s: delivered (%d) + announced lost (%d) = read" %
          (what, len(set(ids)), lost))
    want = set(str(first_id + i) for i in range(n_records))
    ck.check(set(ids) <= want, "%s: only input records delivered" % what)
    return len(set(ids)), lost, gaps


def scenario_evict(args, ck, tmp):
    d = os.path.join(tmp, "evict")
    os.mkdir(d)
    inp, out = os.path.join(d, "in.log"), os.path.join(d, "out.ndjson")
    n = 30000
    with open(inp, "wb") as f:
        f.writelines(it.unique_records(args.corpus, 100000, n))
    conf = it.write_config(os.path.join(d, "c.conf"), config(
        os.path.join(d, "state"), inp, out,
        {"max_size": "1MiB", "segment_size": "128KiB",
         "block_size": "16KiB"}))
    os.mkdir(out)                       # the output is down
    with open(os.path.join(d, "err.log"), "wb") as log:
        p = start(args.bin, conf, log)
        # Wait until the input is read (its position is saved at the end).
        pos = os.path.join(d, "state", "positions", "win.pos")
        it.wait_for(lambda: os.path.exists(pos) and
                    b"offset %d" % os.path.getsize(inp) in
                    open(pos, "rb").read(), 60, 0.1)
        st = it.run(args.bin, ["-c", conf, "--buffer-stat"])
        ck.eq(st.returncode, 0, "evict: --buffer-stat exit code")
        try:
            stat = json.loads(st.stdout)
        except ValueError:
            stat = {}
            ck.fail("evict: --buffer-stat is not JSON: %r" % st.stdout[:200])
        ck.check(stat.get("disk_bytes", 1 << 30) <= 1 << 20,
                 "evict: disk bytes within max_size: %s" %
                 stat.get("disk_bytes"))
        ck.check(stat.get("compression_ratio", 0) > 5,
                 "evict: compression ratio shown: %s" %
                 stat.get("compression_ratio"))
        siem = stat.get("outputs", {}).get("siem", {})
        ck.check(siem.get("unacked_records", 0) > 0 and
                 siem.get("oldest_unacked_age_s", -1) >= 0,
                 "evict: backlog of output siem shown: %s" % siem)
        # Only records still in the ring are unacknowledged; the evicted
        # ones are dropped_records, and the two add up to what was read.
        ck.eq(siem.get("unacked_records"), stat.get("records"),
              "evict: unacked_records counts only records still stored")
        ck.eq(siem.get("unacked_records", 0) +
              siem.get("dropped_records", 0), n,
              "evict: unacked + dropped records = records read (%s)" % siem)
        ck.check(siem.get("unacked_bytes", 1 << 40) <=
                 stat.get("raw_bytes", 0),
                 "evict: unacked_bytes within the bytes stored: %s" % siem)
        os.rmdir(out)                   # the output is back
        try:
            rc = p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = None
    err = open(os.path.join(d, "err.log"), "rb").read().decode("utf-8",
                                                               "replace")
    ck.eq(rc, 0, "evict: exit code")
    delivered, lost, gaps = account(ck, "evict", out, n, 100000)
    ck.check(lost > 0, "evict: some records were evicted (%d)" % lost)
    ck.check(any("max_size" in g["sysmonfwd"]["gap"]["reason"]
                 for g in gaps), "evict: a gap says the ring reached "
             "max_size")
    ck.check(all(g["sysmonfwd"]["gap"].get("sources") == ["win"]
                 for g in gaps), "evict: gaps name the input")
    ck.check("records lost before it could read them" in err,
             "evict: stderr announces the loss")
    st = it.run(args.bin, ["-c", conf, "--buffer-stat"])
    try:
        siem = json.loads(st.stdout)["outputs"]["siem"]
    except (ValueError, KeyError):
        siem = {}
    ck.eq(siem.get("dropped_records"), lost, "evict: --buffer-stat "
          "dropped_records after delivery = records its gaps announced")
    ck.eq(siem.get("unacked_records"), 0, "evict: nothing left unacked")
    print("evict: %d delivered, %d announced lost in %d gap documents" %
          (delivered, lost, len(gaps)))


def mount_tmpfs(path, size):
    os.makedirs(path)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size,
                        "tmpfs", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return r.returncode == 0, r.stderr.decode("utf-8", "replace")


def scenario_enospc(args, ck, tmp, full):
    what = "enospc/%s" % full
    d = os.path.join(tmp, "enospc-" + full)
    os.mkdir(d)
    inp, out = os.path.join(d, "in.log"), os.path.join(d, "out.ndjson")
    mnt = os.path.join(d, "small")
    ok, why = mount_tmpfs(mnt, "1m")
    if not ck.check(ok, "%s: mount a 1 MiB tmpfs: %s" % (what, why)):
        return
    try:
        n = 20000
        with open(inp, "wb") as f:
            f.writelines(it.unique_records(args.corpus, 500000, n))
        conf = it.write_config(os.path.join(d, "c.conf"), config(
            os.path.join(mnt, "state"), inp, out,
            {"segment_size": "128KiB", "block_size": "16KiB",
             "full": full, "max_pending_size": "256KiB"}))
        os.mkdir(out)
        errpath = os.path.join(d, "err.log")
        with open(errpath, "wb") as log:
            p = start(args.bin, conf, log)
            ck.check(it.wait_log(errpath, r"cannot write to the buffer",
                                 60), "%s: the agent meets the full disk" %
                     what)
            # Until the full disk has had its effect, not a fixed time:
            # drop_oldest drops what does not fit (its log); block stops
            # the input short of the end (its read offset stays put).
            if full == "block":
                last = []

                def input_waits():
                    off = it.read_offset(p.pid, inp)
                    last.append(off)
                    return (off is not None and off < os.path.getsize(inp)
                            and last[-40:].count(off) == 40)
                it.wait_for(input_waits, 60, 0.02)
            else:
                ck.check(it.wait_log(errpath, r"buffer: dropped \d+ "
                                     r"records", 60), "%s: the agent drops "
                         "what does not fit" % what)
            ck.check(p.poll() is None, "%s: the agent survives a full "
                     "disk" % what)
            os.rmdir(out)
            try:
                rc = p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = None
        err = open(errpath, "rb").read().decode("utf-8", "replace")
        ck.eq(rc, 0, "%s: exit code" % what)
        ck.check("No space left on device" in err,
                 "%s: stderr names the full disk" % what)
        ck.check("writing again" in err, "%s: stderr says writing "
                 "resumed" % what)
        delivered, lost, gaps = account(ck, what, out, n, 500000)
        if full == "block":
            ck.eq(lost, 0, "%s: nothing lost when inputs can wait" % what)
            ck.eq(delivered, n, "%s: every record delivered" % what)
        else:
            ck.check(lost > 0 and all("disk refused writes" in
                                      g["sysmonfwd"]["gap"]["reason"]
                                      for g in gaps),
                     "%s: the blocks that did not fit are announced as "
                     "lost because the disk refused writes" % what)
        print("%s: %d delivered, %d announced lost" % (what, delivered,
                                                       lost))
    finally:
        subprocess.run(["umount", "-l", mnt])


def main():
    def body(args, ck, tmp):
        scenario_evict(args, ck, tmp)
        scenario_enospc(args, ck, tmp, "drop_oldest")
        scenario_enospc(args, ck, tmp, "block")
    it.run_parts("integration_ring_faults", "sysmonfwd-ring-", body)


if __name__ == "__main__":
    main()
