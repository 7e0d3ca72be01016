"""type = file with a glob pattern, and Sysmon for Linux lines framed by
rsyslog and syslog-ng.

Every record has a unique EventRecordID (made from corpus lines), and each
file gets its own range of ids, so that the order within a file shows.
  1. Two files at once: path = DIR/sysmon-*.log with follow = true and
     poll_interval = 50ms; both hold records at start and get more in
     turns while followed; a third file appears later; files that do not
     match (other.log, a directory matching the pattern) are not read.
     Every record must arrive exactly once, and each file's records in
     the order of that file.
  2. Rotation within the pattern: path = DIR/sysmon.log*; sysmon.log is
     renamed to sysmon.log.1 (over the previous sysmon.log.1, so both
     names always match) with a last record written just before the
     rename and one more written to the renamed file afterwards (the
     writer still holds it), and a new sysmon.log is created; several
     times.  A compressed sysmon.log.2.gz is not read.  Every record
     exactly once; the position files stay few (one per file followed at
     once); SIGTERM exits 0; a restart repeats nothing and reads what is
     appended afterwards.
  3. kill -9 and restart: three files of several thousand records behind
     a glob, with records appended and a rotation between runs; the agent
     is killed with SIGKILL at random times and restarted; a last run
     reads to the end.  Nothing may be lost, each run must resume each
     file at or before its first record not yet delivered and read on
     without a hole, and the only records a run may repeat are those in
     flight at the kill: first those the output wrote after its last
     saved acknowledgement, which the ring delivers again in the same
     order, then at most one block of the ring (not yet written at the
     kill), which the files give again.
  4. Framing: the Sysmon for Linux lines of the corpus
     (linux-syslog/), with their banner lines, written as syslog-ng's
     RFC 3164 with <PRI>, as rsyslog's RSYSLOG_FileFormat (ISO timestamp)
     and as RFC 5424 (structured data and a BOM before the message),
     produce the same documents as the bare <Event> records, checked
     against ElementTree (it.compare); the banner lines are counted as
     ignored.
"""
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402

WAIT = 60       # deadline (s) for records to come through; not a measure
RECORD_ID = re.compile(rb'"record_id":"([0-9]+)"')


class Agent:
    """One followed glob input and a file output, in directory d."""

    def __init__(self, args, ck, d, pattern, name="g"):
        self.args, self.ck, self.d = args, ck, d
        self.out = os.path.join(d, "out.ndjson")
        self.state = os.path.join(d, "state")
        self.cfg = it.write_config(
            os.path.join(d, "c.conf"),
            it.file_config(self.state,
                           [(name, {"type": "file",
                                    "path": os.path.join(d, pattern),
                                    "follow": "true",
                                    "poll_interval": "50ms"})],
                           [("out", {"type": "file", "path": self.out})]))
        self.proc = None

    def start(self):
        self.proc = it.Agent([self.args.bin, "-c", self.cfg], os.path.join(
            self.d, "stderr%d.txt" % time.monotonic_ns()))

    def stderr(self):
        return self.proc.stderr()

    def stop(self, what):
        self.proc.stop_ok(self.ck, what)

    def seen(self, *paths):
        """Wait until the agent has read each file up to its current size
        (its read offset, /proc/PID/fdinfo): the positive signal that it
        has seen what the test wrote."""
        for path in paths:
            if not it.wait_read(self.proc.pid, path, WAIT):
                self.ck.fail("the agent did not read %s to its end (%d "
                             "bytes) within %d s (offset %s)" %
                             (path, os.path.getsize(path), WAIT,
                              it.read_offset(self.proc.pid, path)))

    def kill(self):
        if self.proc is not None:
            self.proc.close()

    def ids(self):
        if not os.path.exists(self.out):
            return [], []       # killed before the output was opened
        docs, problems = it.read_ndjson(self.out)
        return it.record_ids(docs), problems

    def quick_ids(self):
        """The record ids in the output, without the strict parse."""
        try:
            with open(self.out, "rb") as f:
                return {m.decode() for m in RECORD_ID.findall(f.read())}
        except FileNotFoundError:
            return set()

    def wait_ids(self, want, what, timeout=WAIT):
        """Wait until every id of want came out."""
        want = set(want)
        ok = it.wait_for(lambda: want <= self.quick_ids(), timeout,
                         step=0.05)
        if not ok:
            got = set(self.ids()[0])
            self.ck.fail("%s: %d records missing after %d s: %s" %
                         (what, len(want - got), timeout,
                          it.short(sorted(want - got, key=int))))
        return ok


class Records:
    """Unique records; file k's records are numbered from k * 100000."""

    def __init__(self, corpus):
        self.pool = it.unique_records(corpus, 0, 40, shortest=True)
        self.next = {}
        self.sent = {}          # file key -> ids in the order written

    def make(self, key, n):
        base = self.next.setdefault(key, (len(self.next) + 1) * 100000)
        out = []
        for rid in range(base, base + n):
            out.append(it.with_record_id(self.pool[rid % len(self.pool)],
                                         rid))
            self.sent.setdefault(key, []).append(str(rid))
        self.next[key] = base + n
        return out

    def append(self, path, key, n):
        with open(path, "ab") as f:
            f.writelines(self.make(key, n))

    def all(self):
        return [i for ids in self.sent.values() for i in ids]


def check_exact(ck, what, ids, problems, recs):
    """Every record sent came out once, each file's in its own order."""
    for p in problems:
        ck.fail("%s: %s" % (what, p))
    sent = recs.all()
    counts = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    dups = sorted((i for i, c in counts.items() if c > 1), key=str)
    missing = [i for i in sent if i not in counts]
    sent_set = set(sent)
    extra = [i for i in counts if i not in sent_set]
    ck.check(not dups and not missing and not extra,
             "%s: sent %d records, got %d documents; duplicated %s, "
             "missing %s, unexpected %s" %
             (what, len(sent), len(ids), it.short(dups),
              it.short(missing), it.short(extra)))
    pos = {i: n for n, i in enumerate(ids)}
    for key, want in recs.sent.items():
        order = sorted((i for i in want if i in pos), key=lambda i: pos[i])
        ck.eq(order, [i for i in want if i in pos],
              "%s: order of the records of file %s" % (what, key))


def part1(args, ck, tmp):
    d = os.path.join(tmp, "p1")
    os.mkdir(d)
    recs = Records(args.corpus)
    a, b, c = (os.path.join(d, "sysmon-%s.log" % k) for k in "abc")
    recs.append(a, "a", 50)
    recs.append(b, "b", 50)
    with open(os.path.join(d, "other.log"), "wb") as f:
        f.writelines(Records(args.corpus).make("x", 3))
    os.mkdir(os.path.join(d, "sysmon-dir.log"))
    t = Agent(args, ck, d, "sysmon-*.log")
    t.start()
    try:
        t.wait_ids(recs.all(), "part 1: records present at start")
        for _ in range(5):              # in turns, each turn seen
            recs.append(a, "a", 4)
            recs.append(b, "b", 4)
            t.seen(a, b)
        t.wait_ids(recs.all(), "part 1: records appended to both files")
        recs.append(c, "c", 30)         # a file appearing later
        recs.append(a, "a", 5)
        # The end marker: c's records come from a glob scan after the
        # files that must not be read were there all along.
        t.wait_ids(recs.all(), "part 1: a file created later")
        t.stop("part 1")                # its exit: nothing more can come
        ids, problems = t.ids()
        check_exact(ck, "part 1 (two files, then a third)", ids, problems,
                    recs)
    finally:
        t.kill()


def count_pos(state):
    try:
        return len([n for n in os.listdir(os.path.join(state, "positions"))
                    if n.endswith(".pos")])
    except FileNotFoundError:
        return 0


def part2(args, ck, tmp):
    d = os.path.join(tmp, "p2")
    os.mkdir(d)
    recs = Records(args.corpus)
    log = os.path.join(d, "sysmon.log")
    gen = 0
    recs.append(log, gen, 10)
    t = Agent(args, ck, d, "sysmon.log*")
    t.start()
    try:
        t.wait_ids(recs.all(), "part 2: records present at start")
        for k in range(5):
            recs.append(log, gen, 5)
            if k % 2 == 0:
                t.wait_ids(recs.all(), "part 2 round %d: before the "
                           "rotation" % k)
            recs.append(log, gen, 1)    # just before the rename
            os.rename(log, log + ".1")
            recs.append(log + ".1", gen, 1)   # the writer still holds it
            gen += 1
            recs.append(log, gen, 3)    # the new file
            t.wait_ids(recs.all(), "part 2 round %d: after the rotation" % k)
        with open(log + ".2.gz", "wb") as f:
            f.writelines(Records(args.corpus).make("gz", 2))
        # One more rotation: the new sysmon.log is found by a glob scan
        # made after the .gz was there (the end marker for "not read").
        recs.append(log, gen, 1)
        os.rename(log, log + ".1")
        gen += 1
        recs.append(log, gen, 2)
        t.wait_ids(recs.all(), "part 2: after the last rotation")
        n = count_pos(t.state)
        ck.check(1 <= n <= 3, "part 2: %d position files for 2 files "
                 "followed at once" % n)
        t.stop("part 2")
        ids, problems = t.ids()
        check_exact(ck, "part 2 (rotation by rename within the pattern)",
                    ids, problems, recs)
        t.start()                       # a restart repeats nothing
        # Until it stands at the end of both files (resumed from its
        # positions), then more records.
        t.seen(log, log + ".1")
        recs.append(log, gen, 4)
        recs.append(log + ".1", gen - 1, 2)
        t.wait_ids(recs.all(), "part 2: records appended after a restart")
        t.stop("part 2 restarted")
        ids, problems = t.ids()
        check_exact(ck, "part 2 after a restart", ids, problems, recs)
    finally:
        t.kill()


def part3(args, ck, tmp, rnd):
    d = os.path.join(tmp, "p3")
    os.mkdir(d)
    recs = Records(args.corpus)
    paths = {k: os.path.join(d, "sysmon-%d.log" % k) for k in range(3)}
    for k, p in paths.items():
        recs.append(p, k, 6000)
    t = Agent(args, ck, d, "sysmon-*")
    # The records one block of the ring (64 KiB) can hold, and one more
    # per file.
    late_max = 65536 // min(len(l) for l in recs.pool) + 1 + 4
    seen = set()
    first_unseen = {}
    kills, repeated, repaired = 6, 0, 0
    for run in range(kills + 1):
        before = len(t.ids()[0])
        t.start()
        if run < kills:
            time.sleep(rnd.uniform(0.05, 0.4))
            t.proc.stop(signal.SIGKILL)
            if it.repair_torn_tail(t.out):
                repaired += 1
        else:
            t.wait_ids(recs.all(), "part 3: the last run", timeout=2 * WAIT)
            t.stop("part 3 last run")
        ids, problems = t.ids()
        for p in problems:
            ck.fail("part 3 run %d: %s" % (run, p))
        new = ids[before:]
        where = {k: {i: n for n, i in enumerate(want)}
                 for k, want in recs.sent.items()}
        # Each file resumed at or before its first undelivered record.
        for k, want in recs.sent.items():
            mine = [where[k][i] for i in new if i in where[k]]
            if mine and k in first_unseen:
                ck.check(mine[0] <= first_unseen[k],
                         "part 3 run %d: file %s resumed at record %s, "
                         "after its first undelivered record %s (skipped)" %
                         (run, k, want[mine[0]], want[first_unseen[k]]
                          if first_unseen[k] < len(want) else "(none)"))
        # What a run may repeat is what was in flight at the kill.  The
        # ring delivers again what the output wrote after the last
        # acknowledgement it saved: the run's first documents, which the
        # output wrote before in the same order.  The files give again
        # the records of the ring's block not written yet at the kill
        # (and a record before them, when a block was sealed by it):
        # at most one block, read on from where each file stood.  A file
        # read again from an older place would repeat more, or later.
        again = [i for i in new if i in seen]
        ring = 0
        while ring < len(new) and new[ring] in seen:
            ring += 1
        if ring > 0:
            ck.check(any(ids[p:p + ring] == new[:ring]
                         for p in range(before - ring + 1)
                         if ids[p] == new[0]),
                     "part 3 run %d: the %d records it began with are not "
                     "the output's documents of before in their order: %s" %
                     (run, ring, it.short(new[:ring])))
        late = [i for i in new[ring:] if i in seen]
        ck.check(len(late) <= late_max, "part 3 run %d: %d records read "
                 "again from the files (at most %d, one block of the ring, "
                 "may be): %s" % (run, len(late), late_max, it.short(late)))
        # Within a file, a run reads on without a hole.
        for k in recs.sent:
            idx = sorted({where[k][i] for i in new if i in where[k]})
            ck.check(idx == list(range(idx[0], idx[0] + len(idx)))
                     if idx else True, "part 3 run %d: the records of file "
                     "%s are not read in order without a hole" % (run, k))
        repeated += len(again)
        seen.update(i for i in new if i is not None)
        for k, want in recs.sent.items():
            first_unseen[k] = next((n for n, i in enumerate(want)
                                    if i not in seen), len(want))
        ck.check(None not in new, "part 3 run %d: documents that are not "
                 "records (gap or error documents?)" % run)
        print("part 3 run %d: %s, %d documents, %d of them delivered again "
              "by the ring, %d read again from the files" %
              (run, "killed" if run < kills else "stopped", len(new), ring,
               len(late)), flush=True)
        # Between runs: more records, and a rotation of one file.
        if run == 1:
            recs.append(paths[0], 0, 500)
        if run == 2:
            os.rename(paths[1], paths[1] + ".1")
            recs.append(paths[1], "1b", 500)
        if run == 3:
            recs.append(paths[2], 2, 500)
            recs.append(paths[1] + ".1", 1, 100)
    ids, _ = t.ids()
    got = set(ids)
    missing = [i for i in recs.all() if i not in got]
    ck.check(not missing, "part 3: %d records lost: %s" %
             (len(missing), it.short(missing)))
    print("part 3: %d records, %d kills, %d repeated, %d torn output tails "
          "repaired by the test" % (len(recs.all()), kills, repeated,
                                    repaired), flush=True)


def linux_lines(corpus):
    """(prefix, <Event...> record) of every line of the linux corpus."""
    out = []
    for _, line in it.linux_syslog_lines(corpus):
        start = line.find(b"<Event")
        if start < 0:
            # A banner line: "Oct 24 17:05:31 host sysmon[1]: msg"
            msg = line.split(b": ", 1)[-1]
            out.append((None, msg))
        else:
            out.append((line[:start], line[start:]))
    return out


FRAMINGS = {
    "rfc3164-pri": lambda msg: b"<14>Oct 24 17:05:38 host sysmon[1234]: " +
    msg,
    "rsyslog-iso": lambda msg: b"2021-10-24T17:05:38.412656+00:00 host "
    b"sysmon[1234]: " + msg,
    "rfc5424": lambda msg: b"<14>1 2021-10-24T17:05:38.412Z host sysmon "
    b"1234 - [x@1 a=\"b\"][meta sequenceId=\"7\"] \xef\xbb\xbf" + msg,
}


def run_once(args, d, name, lines):
    path = os.path.join(d, name + ".log")
    out = os.path.join(d, name + ".ndjson")
    with open(path, "wb") as f:
        f.writelines(l + b"\n" for l in lines)
    cfg = it.write_config(os.path.join(d, name + ".conf"), it.simple_config(
        d, os.path.join(d, name + "*.log"), out,
        state_dir=os.path.join(d, "state-" + name), name=name))
    res = it.run(args.bin, ["-c", cfg, "--once"], timeout=60)
    docs, problems = it.read_ndjson(out)
    return res, docs, problems


def part4(args, ck, tmp):
    d = os.path.join(tmp, "p4")
    os.mkdir(d)
    lines = linux_lines(args.corpus)
    records = [ev for pre, ev in lines if pre is not None]
    banners = [msg for pre, msg in lines if pre is None]
    ck.eq(len(records), 36 + 18, "number of Sysmon for Linux records in "
          "the corpus")
    ck.check(len(banners) >= 10, "banner lines in the corpus: %d" %
             len(banners))
    # The bare records: no syslog header at all.
    res, bare, problems = run_once(args, d, "bare", records)
    ck.eq(res.returncode, 0, "part 4 bare: exit code")
    for p in problems:
        ck.fail("part 4 bare: %s" % p)
    ck.eq(len(bare), len(records), "part 4 bare: documents")
    for n, (doc, rec) in enumerate(zip(bare, records)):
        it.compare(ck, "part 4 bare record %d" % (n + 1), doc,
                   it.expected_from_line(rec))
    for name, frame in sorted(FRAMINGS.items()):
        framed = [frame(msg) for pre, msg in lines]
        res, docs, problems = run_once(args, d, name, framed)
        what = "part 4 %s" % name
        ck.eq(res.returncode, 0, what + ": exit code")
        for p in problems:
            ck.fail("%s: %s" % (what, p))
        nums = it.summary_numbers(res.stderr.decode("utf-8", "replace"))
        if ck.check(nums is not None, what + ": no summary line"):
            ck.eq(nums["read"], len(records), what + ": records read")
            ck.eq(nums["ignored"], len(banners), what + ": banner lines "
                  "ignored")
            ck.eq(nums["parse_errors"], 0, what + ": parse errors")
        ck.eq(len(docs), len(records), what + ": documents")
        for n, (doc, rec) in enumerate(zip(docs, records)):
            it.compare(ck, "%s record %d" % (what, n + 1), doc,
                       it.expected_from_line(rec))
        ck.check(docs == bare, what + ": documents differ from those of "
                 "the bare records")
        print("%s: %d documents equal to the bare records'" %
              (what, sum(1 for a, b in zip(docs, bare) if a == b)),
              flush=True)


def main():
    def body(args, ck, tmp):
        part1(args, ck, tmp)
        part2(args, ck, tmp)
        part3(args, ck, tmp, args.rnd)
        part4(args, ck, tmp)
    it.run_parts("integration_file_glob", "sysmonfwd-glob-", body, seed=True)


if __name__ == "__main__":
    main()
