"""A restart resumes where the last run stopped, even after SIGKILL.

Part 1: --once on a file of N records, then M records appended and --once
again on the same state_dir: the output file must hold exactly the N+M
records once each, in order, and the position file must point at the end
of the input after each run; a third run adds nothing.

Part 2: a large input (~50k records made from corpus lines with unique
EventRecordIDs) is read with a stdout output into a pipe that the test
reads slowly, and the agent is killed with SIGKILL at random times, then
restarted, several times, before a last run goes to the end (exit 0).
After every kill the saved input position lies on a line boundary, and
the next run's first document is at or before the first record not yet
delivered in full (it resumes where it stopped, never after, whether from
the input or from the disk buffer).  No gap or error document may appear.
At the end every record id is present; duplicates are allowed and
counted.

Part 3: the same with a file output, killed at random times: every record
id must be present in the output file.  A kill can tear the file's last
line; the test repairs such a tail itself between runs (and says how
often) so that this part only checks positions, not the tear.

Part 4: a previous run that died in the middle of writing a document left
the output file ending without a newline.  A new run must still write
each of its documents as a valid NDJSON line of its own: the first new
document must not be glued to the torn fragment.

Part 5: the input changes while the agent is stopped: truncated and
rewritten shorter, truncated and rewritten longer (same inode, so only the
content before the saved position can tell), replaced by a new file; and a
position file holding garbage.  Each time the next run must read the new
content from its start (and only that), exit 0 and save the new end.

Part 6: an output that keeps failing (path = /dev/full): --once must not
finish, SIGTERM must stop the agent and the error must be logged; a run
with a working output of the same name must then deliver every record
exactly once, in order (from the input or from the buffer).
"""
import os
import shutil
import select
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402

BIG = 50000


def read_pos(path):
    fields = {}
    try:
        with open(path) as f:
            for l in f:
                k, _, v = l.strip().partition(" ")
                fields[k] = v
    except FileNotFoundError:
        return None
    return int(fields["offset"]) if "offset" in fields else None


def part1(args, ck, tmp):
    d = os.path.join(tmp, "p1")
    os.mkdir(d)
    inp, out = os.path.join(d, "in.log"), os.path.join(d, "out.ndjson")
    recs = it.unique_records(args.corpus, 100, 25)
    n, m = 17, 8
    with open(inp, "wb") as f:
        f.writelines(recs[:n])
    cfg = it.write_config(os.path.join(d, "c.conf"),
                          it.simple_config(d, inp, out, name="res"))
    pos = os.path.join(d, "state", "positions", "res.pos")
    want = [str(100 + i) for i in range(n + m)]
    for step, add in (("first run", None), ("second run", recs[n:]),
                      ("third run (nothing new)", None)):
        if add:
            with open(inp, "ab") as f:
                f.writelines(add)
        res = it.run(args.bin, ["-c", cfg, "--once"])
        ck.eq(res.returncode, 0, "part 1 %s: exit code" % step)
        ck.eq(read_pos(pos), os.path.getsize(inp),
              "part 1 %s: saved position (input size)" % step)
    docs, problems = it.read_ndjson(out)
    ck.check(not problems, "part 1: %s" % problems)
    ck.eq(it.record_ids(docs), want, "part 1: record ids after N + M")


def line_offsets(data):
    """Start offset of each line, and the offset after it."""
    starts, ends, off = [], [], 0
    for line in data.split(b"\n")[:-1]:
        starts.append(off)
        off += len(line) + 1
        ends.append(off)
    return starts, ends


def complete_ids(chunk):
    """Record ids of the complete (newline-terminated) documents."""
    docs, _ = it.parse_ndjson_bytes(chunk[:chunk.rfind(b"\n") + 1])
    return it.record_ids(docs)


def part2(args, ck, tmp, rnd):
    d = os.path.join(tmp, "p2")
    os.mkdir(d)
    inp = os.path.join(d, "big.log")
    recs = it.unique_records(args.corpus, 1, BIG, shortest=True)
    data = b"".join(recs)
    with open(inp, "wb") as f:
        f.write(data)
    _, ends = line_offsets(data)
    ends_set = set(ends)
    seen_set = None
    cfg = it.write_config(os.path.join(d, "c.conf"), it.file_config(
        os.path.join(d, "state"),
        [("big", {"type": "file", "path": inp, "follow": "false"})],
        [("out", {"type": "stdout"})]))
    pos = os.path.join(d, "state", "positions", "big.pos")
    seen = []
    kills, done, run_no = 5, False, 0
    while not done and run_no < kills + 3:
        run_no += 1
        last = run_no > kills
        before = read_pos(pos)
        t0 = time.monotonic()
        p = it.popen([args.bin, "-c", cfg, "--once"],
                     stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL)
        fd = p.stdout.fileno()
        chunks = []
        # Kill after a random share of what is left has come out, so
        # that every run but the last is killed whatever the speed.
        target = rnd.randint(BIG // 20, BIG // 8)
        got_lines = 0
        deadline = time.monotonic() + 30
        while last or (got_lines < target and
                       time.monotonic() < deadline):
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                b = os.read(fd, 65536)
                if not b:
                    break
                chunks.append(b)
                got_lines += b.count(b"\n")
            if not last:
                time.sleep(0.005)       # a slow reader: ~10 MB/s
        if not last and p.poll() is None:
            p.send_signal(signal.SIGKILL)
        while True:                     # what was written before the kill
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
        rc = p.wait()
        p.stdout.close()
        got = b"".join(chunks)
        ids = complete_ids(got)
        torn = not got.endswith(b"\n") and got != b""
        print("part 2 run %d: %s after %.2f s, %d documents%s, started at "
              "saved offset %s, saved offset now %s" %
              (run_no, "killed" if rc == -signal.SIGKILL else
               "exit %d" % rc, time.monotonic() - t0, len(ids),
               " (+ a torn one)" if torn else "", before, read_pos(pos)),
              flush=True)
        if rc == 0:
            done = True
            ck.eq(read_pos(pos), len(data), "part 2: saved position after "
                  "the run that reached the end")
        elif last:
            ck.fail("part 2: the last run exited with %d" % rc)
            break
        # Resume where it stopped, never after: the run's first document
        # is at or before the first record not yet delivered in full.
        if ids and seen_set is not None:
            first_unseen = next(i for i in range(1, BIG + 2)
                                if str(i) not in seen_set)
            if ck.check(ids[0] is not None and int(ids[0]) <= first_unseen,
                        "part 2 run %d: first document is record %s, but "
                        "record %d was never delivered (skipped)" %
                        (run_no, ids[0], first_unseen)):
                print("part 2 run %d: resumed %d records before the first "
                      "undelivered one" % (run_no,
                                           first_unseen - int(ids[0])))
        odd = [k + 1 for k, i in enumerate(ids) if i is None]
        ck.check(not odd, "part 2 run %d: documents %s are not records (gap "
                 "or error documents?)" % (run_no, it.short(odd)))
        seen += ids
        seen_set = set(seen)
        after = read_pos(pos)
        if after is not None:
            ck.check(after == 0 or after in ends_set, "part 2 run %d: "
                     "saved position %d is not at a line end" %
                     (run_no, after))
    ck.check(done, "part 2: no run reached the end")
    ck.check(run_no >= 3, "part 2: only %d runs: the agent was killed "
             "fewer than twice before finishing" % run_no)
    report(ck, "part 2", seen)


def part3(args, ck, tmp, rnd):
    d = os.path.join(tmp, "p3")
    os.mkdir(d)
    inp, out = os.path.join(d, "big.log"), os.path.join(d, "out.ndjson")
    with open(inp, "wb") as f:
        f.writelines(it.unique_records(args.corpus, 1, BIG // 2,
                                       shortest=True))
    cfg = it.write_config(os.path.join(d, "c.conf"),
                          it.simple_config(d, inp, out, name="big"))
    repaired = 0
    for k in range(4):
        p = it.popen([args.bin, "-c", cfg, "--once"],
                     stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.05, 0.5))
        p.send_signal(signal.SIGKILL)
        p.wait()
        if it.repair_torn_tail(out):
            repaired += 1
    res = it.run(args.bin, ["-c", cfg, "--once"], timeout=60)
    ck.eq(res.returncode, 0, "part 3: last run exit code")
    docs, problems = it.read_ndjson(out)
    for pr in problems:
        ck.fail("part 3: " + pr)
    print("part 3: %d kills tore the output's last line (repaired by the "
          "test)" % repaired)
    report(ck, "part 3", it.record_ids(docs), total=BIG // 2)


def part4(args, ck, tmp):
    d = os.path.join(tmp, "p4")
    os.mkdir(d)
    inp, out = os.path.join(d, "in.log"), os.path.join(d, "out.ndjson")
    with open(inp, "wb") as f:
        f.writelines(it.unique_records(args.corpus, 500, 5))
    # A complete document, then one cut by a crash in mid-write.
    with open(out, "wb") as f:
        f.write(b'{"@timestamp":"2021-04-20T20:32:55.368Z","event":'
                b'{"kind":"event"},"winlog":{"record_id":"499"}}\n'
                b'{"@timestamp":"2021-04-20T20:32:55.368Z","event":{"kin')
    cfg = it.write_config(os.path.join(d, "c.conf"),
                          it.simple_config(d, inp, out, name="torn"))
    res = it.run(args.bin, ["-c", cfg, "--once"])
    ck.eq(res.returncode, 0, "part 4: exit code")
    with open(out, "rb") as f:
        lines = f.read().split(b"\n")
    docs, bad = [], []
    for line in lines[1:]:
        if not line:
            continue
        one, problems = it.parse_ndjson_bytes(line + b"\n")
        if problems:
            bad.append(line)
        else:
            docs += one
    ids = it.record_ids(docs)
    ck.eq(ids, [str(i) for i in range(500, 505)], "part 4: record ids of "
          "the documents written after a torn last line (the first one "
          "is glued to the fragment when the tail is not repaired)")
    ck.check(all(b.startswith(b'{"@timestamp":"2021-04-20T20:32:55.368Z",'
                              b'"event":{"kin') and len(b) < 60
                 for b in bad),
             "part 4: invalid lines other than the old fragment: %s" %
             it.short(bad))


def part5(args, ck, tmp):
    """The input changes while the agent is stopped."""
    d = os.path.join(tmp, "p5")
    os.mkdir(d)
    inp, out = os.path.join(d, "in.log"), os.path.join(d, "out.ndjson")
    cfg = it.write_config(os.path.join(d, "c.conf"),
                          it.simple_config(d, inp, out, name="rw"))
    pos = os.path.join(d, "state", "positions", "rw.pos")
    want = []

    def run(step, lines, mode):
        with open(inp, mode) as f:          # "r+b" keeps the inode
            f.truncate(0)
            f.seek(0)
            f.writelines(lines)
        want.extend(it.expected_from_line(l)["record_id"] for l in lines)
        res = it.run(args.bin, ["-c", cfg, "--once"])
        ck.eq(res.returncode, 0, "part 5 %s: exit code" % step)
        docs, problems = it.read_ndjson(out)
        ck.check(not problems, "part 5 %s: %s" % (step, problems))
        ck.eq(it.record_ids(docs), want, "part 5 %s: record ids" % step)
        ck.eq(read_pos(pos), os.path.getsize(inp),
              "part 5 %s: saved position" % step)

    with open(inp, "wb"):
        pass
    run("first run", it.unique_records(args.corpus, 2000, 6), "r+b")
    ino = os.stat(inp).st_ino
    # Truncated and rewritten shorter while stopped (same inode).
    run("rewritten shorter", it.unique_records(args.corpus, 3000, 2), "r+b")
    # Truncated and rewritten longer while stopped (same inode): the size
    # says nothing, only the content before the saved position does.
    run("rewritten longer", it.unique_records(args.corpus, 4000, 9), "r+b")
    ck.eq(os.stat(inp).st_ino, ino, "part 5: the input kept its inode")
    # Replaced by another file (new inode).
    os.unlink(inp)
    run("replaced", it.unique_records(args.corpus, 5000, 3), "wb")
    # A position file that holds garbage: the checkpoint kept in the ring
    # with the records still says where the input stands, so nothing is
    # read twice.
    with open(pos, "wb") as f:
        f.write(b"\x00garbage\nnot a position\n")
    res = it.run(args.bin, ["-c", cfg, "--once"])
    ck.eq(res.returncode, 0, "part 5 garbage position file: exit code")
    docs, _ = it.read_ndjson(out)
    ck.eq(it.record_ids(docs), want, "part 5 garbage position file: record "
          "ids (resumed from the ring's checkpoint)")
    # Garbage position file and no ring (state/buffer deleted): the input
    # is read again from its start.
    with open(pos, "wb") as f:
        f.write(b"\x00garbage\nnot a position\n")
    shutil.rmtree(os.path.join(d, "state", "buffer"))
    want.extend(want[-3:])
    res = it.run(args.bin, ["-c", cfg, "--once"])
    ck.eq(res.returncode, 0, "part 5 garbage position file, no ring: exit "
          "code")
    docs, _ = it.read_ndjson(out)
    ck.eq(it.record_ids(docs), want, "part 5 garbage position file, no ring:"
          " record ids (the file read again from its start)")


def part6(args, ck, tmp):
    """An output that keeps failing must not advance the position."""
    if not os.path.exists("/dev/full"):
        ck.skip_or_fail("part 6: no /dev/full (an output that keeps "
                        "failing cannot be made)")
        return
    d = os.path.join(tmp, "p6")
    os.mkdir(d)
    inp, out = os.path.join(d, "in.log"), os.path.join(d, "out.ndjson")
    with open(inp, "wb") as f:
        f.writelines(it.unique_records(args.corpus, 6000, 7))
    bad = it.write_config(os.path.join(d, "full.conf"),
                          it.simple_config(d, inp, "/dev/full", name="df"))
    errpath = os.path.join(d, "full.stderr")
    with open(errpath, "wb") as errf:
        p = it.popen([args.bin, "-c", bad, "--once"],
                     stdout=subprocess.DEVNULL, stderr=errf)
    # Until the agent has met the failure (its log), not a fixed time;
    # then it must still be running, retrying.
    it.wait_log(errpath, r"No space left", 60)
    ck.check(p.poll() is None, "part 6: --once exited (%s) although the "
             "output never took the records" % p.poll())
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        ck.fail("part 6: no exit within 30 s of SIGTERM")
    with open(errpath, "rb") as f:
        err = f.read()
    ck.check(b"No space left" in err, "part 6: the write error is not "
             "logged: %r" % err[-500:])
    ck.check(b"stopping on signal" in err, "part 6: the agent did not "
             "stop on SIGTERM (did --once end by itself?): %r" % err[-500:])
    good = it.write_config(os.path.join(d, "good.conf"),
                           it.simple_config(d, inp, out, name="df"))
    res = it.run(args.bin, ["-c", good, "--once"])
    ck.eq(res.returncode, 0, "part 6: exit code with a working output")
    docs, _ = it.read_ndjson(out)
    ck.eq(it.record_ids(docs), [str(6000 + i) for i in range(7)],
          "part 6: every record delivered after the output failure")


def report(ck, what, ids, total=BIG):
    counts = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    missing = [i for i in range(1, total + 1) if str(i) not in counts]
    dups = sum(c - 1 for c in counts.values() if c > 1)
    extra = [i for i in counts if i is None or not 1 <= int(i) <= total]
    print("%s: %d documents, %d distinct records of %d, %d duplicates, "
          "%d missing" % (what, len(ids), len(counts), total, dups,
                          len(missing)), flush=True)
    ck.check(not missing, "%s: %d record ids missing: %s" %
             (what, len(missing), it.short(missing)))
    ck.check(not extra, "%s: unexpected record ids %s" % (what,
                                                          it.short(extra)))


def main():
    def body(args, ck, tmp):
        rnd = args.rnd
        part1(args, ck, tmp)
        part2(args, ck, tmp, rnd)
        part3(args, ck, tmp, rnd)
        part4(args, ck, tmp)
        part5(args, ck, tmp)
        part6(args, ck, tmp)
    it.run_parts("integration_resume", "sysmonfwd-resume-", body, seed=True)


if __name__ == "__main__":
    main()
