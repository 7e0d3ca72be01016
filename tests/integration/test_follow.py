"""follow = true tails a file like tail -F, across rotation and truncation.

The agent runs (without --once) on a file in a temporary directory with
follow = true and poll_interval = 50ms while the test writes to it, every
record with a unique EventRecordID:
  1. records already in the file at start, then records appended later;
  2. a record written in two halves with a pause: nothing may come out
     before its newline, and then it must come out whole (not as a parse
     error);
  3. rotation by rename: a last record appended to the file right before
     it is renamed to f.1, a new f created and written to;
  4. copytruncate-style truncation: f cut to zero length and rewritten.
Every record must arrive exactly once, in order, as a parsed document.
SIGTERM must then stop the agent with exit code 0, leaving
state_dir/positions/NAME.pos naming the file's inode and its full size.
A restart on the same state_dir must not repeat anything; records appended
afterwards (only those) must arrive; a line half written when the agent
is stopped must come out whole, once, after the next start.  Finally
--once with follow = true must exit 0 by itself once it has reached the
current end of the file.

Also, each with its own agent: a followed file cut to zero length and at
once rewritten longer than it was (same inode, larger size: only the
content before the read position tells) must be read again from its
start, every new record once; a file that does not exist yet is waited
for and read from its start once created; SIGHUP reopens the output file,
so that records after an output rotation (rename + SIGHUP) go to the new
file and none is lost or repeated; a second agent started on the same
state_dir while one runs exits 1.
"""
import os
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402

WAIT = 60       # deadline (s) for a record to come through; not a measure


class Follow:
    def __init__(self, args, ck, tmp):
        self.args, self.ck, self.tmp = args, ck, tmp
        self.path = os.path.join(tmp, "f")
        self.out = os.path.join(tmp, "out.ndjson")
        self.state = os.path.join(tmp, "state")
        self.cfg = it.write_config(
            os.path.join(tmp, "follow.conf"),
            it.simple_config(tmp, self.path, self.out, follow=True,
                             extra_in={"poll_interval": "50ms"},
                             state_dir=self.state, name="tail"))
        self.next_id = 1000
        self.sent = []          # record ids, in the order written
        self.pool = it.unique_records(args.corpus, 0, 40, shortest=True)
        self.proc = None

    def record(self):
        rid = self.next_id
        self.next_id += 1
        line = it.with_record_id(self.pool[rid % len(self.pool)], rid)
        self.sent.append(str(rid))
        return line

    def append(self, path, n):
        with open(path, "ab") as f:
            for _ in range(n):
                f.write(self.record())

    def start(self):
        self.proc = it.Agent([self.args.bin, "-c", self.cfg], os.path.join(
            self.tmp, "stderr%d.txt" % time.monotonic_ns()))

    def stop(self, what):
        return self.proc.stop_ok(self.ck, what)

    def docs(self):
        docs, _ = it.read_ndjson(self.out)
        return docs

    def seen(self, what, path=None):
        """Wait until the agent has read the file up to its current size
        (its read offset, /proc/PID/fdinfo): the positive signal that it
        has seen what the test wrote."""
        path = path or self.path
        if not it.wait_read(self.proc.pid, path, WAIT):
            self.ck.fail("%s: the agent did not read %s to its end (%d "
                         "bytes) within %d s (offset %s)" %
                         (what, path, os.path.getsize(path), WAIT,
                          it.read_offset(self.proc.pid, path)))

    def err_path(self):
        return self.proc.err_path

    def wait_count(self, n, what, timeout=WAIT):
        ok = it.wait_lines(self.out, n, timeout)
        if not ok:
            self.ck.fail("%s: expected %d documents within %d s, have %d" %
                         (what, n, timeout, it.count_lines(self.out)))
        return ok

    def check_exact(self, what):
        """The output holds exactly the records sent, once each, in order."""
        docs, problems = it.read_ndjson(self.out)
        for p in problems:
            self.ck.fail("%s: %s" % (what, p))
        for i, d in enumerate(docs):
            if isinstance(d, dict) and "tags" in d and \
                    d["tags"] != ["sysmon_tamper"]:
                self.ck.fail("%s: document %d is tagged %r: %s" %
                             (what, i + 1, d["tags"],
                              it.short(d.get("message"))))
        ids = it.record_ids(docs)
        if ids != self.sent:
            dups = sorted({i for i in ids if ids.count(i) > 1})
            missing = [i for i in self.sent if i not in ids]
            self.ck.fail("%s: record ids differ: sent %d, got %d; "
                         "duplicated %s, missing %s, got %s" %
                         (what, len(self.sent), len(ids), dups, missing,
                          it.short(ids, 600)))
        else:
            self.ck.checks += 1


def main():
    args = it.parse_args()
    ck = it.Checker("integration_follow")
    with tempfile.TemporaryDirectory(prefix="sysmonfwd-follow-") as tmp:
        t = Follow(args, ck, tmp)
        t.append(t.path, 3)
        t.start()
        try:
            scenario(t, ck)
        finally:
            t.proc.close()

        waiting_file(args, ck, os.path.join(tmp, "w"))
        rewrite_longer(args, ck, os.path.join(tmp, "r"))
        sighup_reopen(args, ck, os.path.join(tmp, "h"))

        # --once with follow = true ends at the current end.
        once_out = os.path.join(tmp, "once.ndjson")
        cfg = it.write_config(os.path.join(tmp, "once.conf"),
                              it.simple_config(
                                  tmp, t.path, once_out, follow=True,
                                  extra_in={"poll_interval": "50ms"},
                                  state_dir=os.path.join(tmp, "st-once"),
                                  name="tail"))
        try:
            res = it.run(args.bin, ["-c", cfg, "--once"], timeout=20)
            ck.eq(res.returncode, 0, "--once with follow = true: exit code")
            with open(t.path, "rb") as f:
                want = [l for l in f.read().split(b"\n") if l]
            docs, problems = it.read_ndjson(once_out)
            ck.check(not problems, "--once follow: %s" % problems)
            ck.eq(it.record_ids(docs),
                  [it.expected_from_line(l)["record_id"] for l in want],
                  "--once with follow = true: record ids")
        except Exception as e:   # subprocess.TimeoutExpired
            ck.fail("--once with follow = true did not exit: %s" % e)
    ck.finish()


def waiting_file(args, ck, d):
    """follow = true on a path that does not exist yet."""
    os.mkdir(d)
    t = Follow(args, ck, d)
    t.start()
    try:
        # Until the agent says it waits for the file (and has started).
        it.wait_log(t.err_path(), r"does not exist yet; waiting for it",
                    WAIT)
        it.wait_log(t.err_path(), r"started: ", WAIT)
        ck.check(t.proc.p.poll() is None, "missing file: the agent exited "
                 "(%s) instead of waiting for the file" % t.proc.p.poll())
        t.append(t.path, 2)
        t.wait_count(2, "missing file: records of the file created later")
        t.append(t.path, 1)
        t.wait_count(3, "missing file: records appended after that")
        t.stop("missing file")
        t.check_exact("missing file")
    finally:
        t.proc.close()


def sighup_reopen(args, ck, d):
    """SIGHUP reopens the output file (logrotate on the output)."""
    os.mkdir(d)
    t = Follow(args, ck, d)
    t.append(t.path, 2)
    t.start()
    try:
        t.wait_count(2, "SIGHUP: first records")
        # A second agent on the same state_dir must refuse to start.
        res = it.run(args.bin, ["-c", t.cfg, "--once"], timeout=20)
        ck.eq(res.returncode, 1, "second agent on the same state_dir: exit "
              "code (stderr %r)" % res.stderr[-300:])
        os.rename(t.out, t.out + ".1")
        t.proc.p.send_signal(signal.SIGHUP)
        ok = it.wait_for(lambda: os.path.exists(t.out), 10)
        ck.check(ok, "SIGHUP: the output file was not reopened at its path")
        t.append(t.path, 2)
        t.wait_count(2, "SIGHUP: records after the reopen")
        t.stop("SIGHUP")
        old, _ = it.read_ndjson(t.out + ".1")
        new, problems = it.read_ndjson(t.out)
        ck.check(not problems, "SIGHUP: %s" % problems)
        ck.eq((it.record_ids(old), it.record_ids(new)),
              (t.sent[:2], t.sent[2:]), "SIGHUP: record ids in the rotated "
              "and in the reopened output file")
    finally:
        t.proc.close()


def rewrite_longer(args, ck, d):
    """Truncated and at once rewritten longer than before, while followed:
    same inode, larger size, so only the content tells."""
    os.mkdir(d)
    t = Follow(args, ck, d)
    t.append(t.path, 3)
    t.start()
    try:
        t.wait_count(3, "rewrite longer: first records")
        t.seen("rewrite longer")        # the agent stands at the end
        old_size = os.path.getsize(t.path)
        with open(t.path, "r+b") as f:
            f.truncate(0)
            f.seek(0)
            f.writelines(t.record() for _ in range(5))
        ck.check(os.path.getsize(t.path) > old_size, "test setup: the "
                 "rewritten file is not longer than before")
        t.wait_count(8, "rewrite longer: records of the rewritten file")
        t.stop("rewrite longer")
        t.check_exact("file truncated and rewritten longer while followed")
    finally:
        t.proc.close()


def scenario(t, ck):
    # 1. Existing records, then appended ones.
    t.wait_count(3, "records present at start")
    t.append(t.path, 2)
    t.seen("appended records")          # two appends, seen one by one
    t.append(t.path, 1)
    t.wait_count(6, "appended records")
    t.check_exact("after appends")

    # 2. A line written in two halves: it must wait for its newline.
    line = t.record()
    half = len(line) // 2
    with open(t.path, "ab") as f:
        f.write(line[:half])
        f.flush()
        # Until the agent has read the half line; whatever it wrongly
        # made of it would come before the whole line (checked below).
        t.seen("a line half written")
        ck.eq(it.count_lines(t.out), 6, "documents while a line is half "
              "written (the partial line must wait for its newline)")
        f.write(line[half:])
    t.wait_count(7, "the line completed")
    t.check_exact("after the line written in two halves")

    # 3. Rotation by rename, with a last line written just before it.
    t.append(t.path, 2)
    t.wait_count(9, "before rotation")
    t.append(t.path, 1)                 # last line of the old file
    os.rename(t.path, t.path + ".1")
    t.append(t.path, 3)                 # the new file
    t.wait_count(13, "after rotation")
    t.append(t.path, 1)                 # the end marker: after it, nothing
    t.wait_count(14, "after rotation, a last record")
    t.check_exact("after rotation by rename")

    # 4. copytruncate: copy, cut to 0, write new (shorter) content.
    with open(t.path, "rb") as f, open(t.path + ".2", "wb") as g:
        g.write(f.read())
    with open(t.path, "r+b") as f:
        f.truncate(0)
    t.append(t.path, 1)
    t.wait_count(15, "after truncation")
    t.append(t.path, 2)
    t.wait_count(17, "appended after truncation")

    # Stop: exit 0 and a position file for the input.
    t.stop("first run")
    t.check_exact("after copytruncate")
    pos = os.path.join(t.state, "positions", "tail.pos")
    if ck.check(os.path.isfile(pos), "position file %s missing" % pos):
        fields = {}
        with open(pos) as f:
            for l in f:
                k, _, v = l.strip().partition(" ")
                fields[k] = v
        st = os.stat(t.path)
        ck.eq(fields.get("ino"), str(st.st_ino), "position file inode")
        ck.eq(fields.get("dev"), str(st.st_dev), "position file device")
        ck.eq(fields.get("offset"), str(st.st_size),
              "position file offset (the whole file was delivered)")

    # Restart: nothing repeated; new records (only) arrive.
    t.start()
    t.seen("restart")                   # it stands at the saved end
    ck.eq(it.count_lines(t.out), 17, "documents after a restart with "
          "nothing new (nothing may be repeated)")
    t.append(t.path, 2)
    t.wait_count(19, "records appended after the restart")
    t.check_exact("after restart and append")

    # Stopped while a line is half written: the next run must pick the
    # line up whole once its newline arrives.
    line = t.record()
    half = len(line) // 2
    with open(t.path, "ab") as f:
        f.write(line[:half])
    t.seen("a line half written before a stop")
    t.stop("second run (a line half written)")
    ck.eq(it.count_lines(t.out), 19, "documents after stopping with a "
          "half-written line")
    t.start()
    t.seen("restart with a line half written")
    with open(t.path, "ab") as f:
        f.write(line[half:])
    t.append(t.path, 1)
    t.wait_count(21, "the half-written line completed after a restart")
    t.stop("third run")
    t.check_exact("at the end")


if __name__ == "__main__":
    main()
