"""type = evtx reads .evtx files with libevtx, as the Windows XML lines.

Part 1, conformance: each .evtx of the corpus (evtx/) is read alone, with
keep_original = true, by an evtx input (follow = false).  Every record
must come out once, in record order, as a parsed document, and match the
line of windows-xml/<same name>.xml.log with the same EventRecordID (the
MANIFEST says that file renders that .evtx, one line per record, in file
order): the document fields (it.compare: winlog.event_id, record_id,
computer_name, channel, provider, time, user, process, every
winlog.event_data value in order) and event.original byte for byte.  The
MANIFEST lists how windows-xml may differ from a real EvtRender, and so
from what the agent makes of the .evtx: GUID letter case, and HexInt
values written unpadded ("0x3e7") where libevtx pads them
("0x00000000000003e7").  Those two are the only differences tolerated in
event.original, each counted and reported as a documented exception; any
other difference fails.  Records of other providers (Security-Auditing
4624 and 5145 in the ImpersonateUser file) must be kept.

Part 2, a directory: the corpus files, linked into a directory under
names that sort in another order than theirs, are read in name order, all
of them; the position file then names the last file and its last record
number, and a second run adds nothing.  A log that wrapped around (the
chunks of the largest file rotated, so that it starts with its newest
records) is read in record-number order, and from record 300 on when a
position file says so.

Part 3, crash: a directory of many such links (ten rounds of the
corpus) is read into a file output (batch_max_events = 50); the agent is
killed with SIGKILL once a random number of documents came out, and
restarted, six times, then runs to its end (exit 0).  Every run's
documents must continue the expected sequence at or before the point the
previous runs reached and be one contiguous stretch of it: a restart may
repeat what was in flight, never skip, reorder or repeat inside a run.
A run sends first what the ring kept and had not had acknowledged, then
what the input reads from where its "resuming at record N of FILE" line
says: that point must lie at or after the run's first document and never
move back from one run to the next.  In the end every record has come
out.  A kill may tear the output's last line; the test cuts it off
between runs (the output's business, tested elsewhere).  Repeats are
counted and reported.

Part 4, follow = true on a directory (poll_interval = 50ms): the records
of the file present at start arrive; a second file renamed into the
directory arrives; a third file written in two steps (its first chunks,
then the rest, as a live log grows) arrives in full, each record once.
SIGTERM ends the agent with exit 0, the position names the third file
and its last record; a restart (--once) adds nothing.  The same for one
file (path = the file) that does not exist when the agent starts and is
then written in two steps.  Then start = end:
a new state directory skips the files already there and reads only a
file added afterwards.

Part 5, damaged input: a directory holding an empty file, garbage, a
header alone, a file cut inside a chunk, a file whose chunk header is
corrupt, files with bytes overwritten in the record area and a record
size field broken, next to an intact file.  The agent must exit 0 and
every record of the intact file must come out equal to its windows-xml
line.  libevtx 20181227 leaks memory inside itself when it gives up on
a file or a record; for this part only, LeakSanitizer is told to ignore
leaks allocated by libevtx's internal helpers (libcdata, libfdata,
libfvalue, libfwevt); a leak of ours still fails.
"""
import os
import re
import signal
import subprocess
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402

WAIT = 60               # deadline (s) for records to come through; not a measure
GUID_RE = re.compile(r"\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                     r"[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}")
HEX_RE = re.compile(r"0x0+([0-9a-f])")


class Corpus:
    """The .evtx files and, for each, its windows-xml lines by record id."""

    def __init__(self, corpus):
        self.evtx = sorted(f for f in os.listdir(os.path.join(corpus,
                                                              "evtx"))
                           if f.endswith(".evtx"))
        self.path = {f: os.path.join(corpus, "evtx", f) for f in self.evtx}
        self.lines = {}         # name -> [line bytes] in file order
        for f in self.evtx:
            xml = os.path.join(corpus, "windows-xml",
                               f[:-len(".evtx")] + ".xml.log")
            with open(xml, "rb") as fh:
                self.lines[f] = [l for l in fh.read().split(b"\n")
                                 if b"<Event" in l]

    def ids(self, name):
        return [it.expected_from_line(l)["record_id"]
                for l in self.lines[name]]


def agent_config(d, inputs, out=None, stdout=False, keep=False,
                 extra_out=None):
    kv = {"type": "stdout"} if stdout else {"type": "file", "path": out}
    if keep:
        kv["keep_original"] = "true"
    if extra_out:
        kv.update(extra_out)
    return it.write_config(os.path.join(d, "c.conf"), it.file_config(
        os.path.join(d, "state"), inputs, [("out", kv)]))


def evtx_input(path, follow=False, **kw):
    kv = {"type": "evtx", "path": path,
          "follow": "true" if follow else "false"}
    kv.update(kw)
    return kv


def read_pos(d, name):
    try:
        with open(os.path.join(d, "state", "positions", name + ".pos")) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


# ---- part 1 ----


def exceptions_of(got, want):
    """The documented differences that turn want into got, or None when
    something else differs too."""
    used = []
    g, w = got, want
    if g == w:
        return used
    g2, w2 = GUID_RE.sub(lambda m: m.group(0).lower(), g), \
        GUID_RE.sub(lambda m: m.group(0).lower(), w)
    if g2 != g or w2 != w:
        if g2 == w2 or g2 != g.lower():
            used.append("GUID letter case")
        g, w = g2, w2
    if g == w:
        return used
    g2, w2 = HEX_RE.sub(r"0x\1", g), HEX_RE.sub(r"0x\1", w)
    if g2 == w2:
        used.append("HexInt zero padding")
        return used
    return None


def first_diff(a, b):
    n = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]),
             min(len(a), len(b)))
    return "at character %d: got %r, expected %r" % (
        n, a[max(0, n - 60):n + 60], b[max(0, n - 60):n + 60])


def check_file_docs(ck, where, docs, lines, counts):
    """docs (in order) against the windows-xml lines of the same file."""
    want_ids = [it.expected_from_line(l)["record_id"] for l in lines]
    by_id = {it.expected_from_line(l)["record_id"]: l for l in lines}
    ck.eq(it.record_ids(docs), want_ids, where + ": record ids in order")
    for k, doc in enumerate(docs):
        if not isinstance(doc, dict):
            ck.fail("%s: document %d is not JSON" % (where, k + 1))
            continue
        rid = it.record_ids([doc])[0]
        line = by_id.get(rid)
        if line is None:
            ck.fail("%s: record %s is not in windows-xml" % (where, rid))
            continue
        w = "%s record %s" % (where, rid)
        it.compare(ck, w, doc, it.expected_from_line(line))
        orig = doc.get("event", {}).get("original")
        exp = line.decode("utf-8")
        used = exceptions_of(orig, exp) if isinstance(orig, str) else None
        if ck.check(used is not None, "%s event.original differs from the "
                    "windows-xml line beyond the documented exceptions: %s"
                    % (w, first_diff(orig or "", exp))):
            for u in used:
                counts[u] = counts.get(u, 0) + 1
        counts["records"] = counts.get("records", 0) + 1
        prov = doc.get("winlog", {}).get("provider_name")
        counts.setdefault("providers", {})
        counts["providers"][prov] = counts["providers"].get(prov, 0) + 1


def part1(args, ck, tmp, cor):
    counts = {}
    ck.check(len(cor.evtx) > 0, "part 1: no .evtx in the corpus")
    for name in cor.evtx:
        d = os.path.join(tmp, "p1-" + name)
        os.mkdir(d)
        out = os.path.join(d, "out.ndjson")
        cfg = agent_config(d, [("ev", evtx_input(cor.path[name]))], out,
                           keep=True)
        res = it.run(args.bin, ["-c", cfg, "--once"], timeout=120)
        ck.eq(res.returncode, 0, "part 1 %s: exit code (stderr: %s)" %
              (name, res.stderr.decode(errors="replace")[-600:]))
        docs, problems = it.read_ndjson(out)
        for p in problems:
            ck.fail("part 1 %s: %s" % (name, p))
        check_file_docs(ck, "part 1 " + name, docs, cor.lines[name],
                        counts)
        n = len(cor.lines[name])
        ck.eq(read_pos(d, "ev"), "file %s record %d" % (name, n),
              "part 1 %s: position file" % name)
        print("part 1: %s: %d records" % (name, len(docs)), flush=True)
    provs = counts.get("providers", {})
    print("part 1: %d records in %d files; providers %s; documented "
          "exceptions used: GUID letter case %d, HexInt zero padding %d" %
          (counts.get("records", 0), len(cor.evtx), provs,
           counts.get("GUID letter case", 0),
           counts.get("HexInt zero padding", 0)), flush=True)
    ck.check(provs.get("Microsoft-Windows-Security-Auditing", 0) > 0 or
             "ImpersonateUser-via_local_Pass_The_Hash_Sysmon_and_Security"
             ".evtx" not in cor.evtx,
             "part 1: the Security-Auditing records were not kept")


# ---- part 2 ----


def linked_dir(d, cor, names):
    """d/in with links NEWNAME -> corpus file, for (newname, name)."""
    ind = os.path.join(d, "in")
    os.makedirs(ind, exist_ok=True)
    for new, name in names:
        os.symlink(cor.path[name], os.path.join(ind, new))
    return ind


def part2(args, ck, tmp, cor):
    d = os.path.join(tmp, "p2")
    os.mkdir(d)
    # Reverse the corpus order: z-prefixed names sort first.
    order = list(reversed(cor.evtx))
    names = [("%c%02d_%s" % ("a", i, name), name)
             for i, name in enumerate(order)]
    ind = linked_dir(d, cor, names)
    out = os.path.join(d, "out.ndjson")
    cfg = agent_config(d, [("dir", evtx_input(ind))], out)
    res = it.run(args.bin, ["-c", cfg, "--once"], timeout=120)
    ck.eq(res.returncode, 0, "part 2: exit code")
    docs, problems = it.read_ndjson(out)
    for p in problems:
        ck.fail("part 2: " + p)
    want = []
    for _, name in names:
        want += cor.ids(name)
    ck.eq(it.record_ids(docs), want, "part 2: every record of the "
          "directory, files in name order")
    last_new, last = names[-1]
    ck.eq(read_pos(d, "dir"), "file %s record %d" %
          (last_new, len(cor.lines[last])), "part 2: position file")
    res = it.run(args.bin, ["-c", cfg, "--once"], timeout=60)
    ck.eq(res.returncode, 0, "part 2: second run exit code")
    docs2, _ = it.read_ndjson(out)
    ck.eq(len(docs2), len(docs), "part 2: documents after a second run "
          "(nothing new)")
    print("part 2: %d records from %d files in name order" %
          (len(docs), len(names)), flush=True)

    # A log that wrapped around: the chunks of the largest file rotated,
    # so that the file starts with its newest records.
    big = max(cor.evtx, key=lambda n: os.path.getsize(cor.path[n]))
    with open(cor.path[big], "rb") as f:
        data = f.read()
    chunks = [data[k:k + 65536] for k in range(4096, len(data), 65536)]
    used = [c for c in chunks if int.from_bytes(c[8:16], "little") > 0]
    if len(used) < 3:
        ck.fail("part 2: %s has too few chunks to wrap" % big)
        return
    r = len(used) // 2
    wrapped = os.path.join(d, "wrapped.evtx")
    with open(wrapped, "wb") as f:
        f.write(data[:4096] + b"".join(used[r:] + used[:r] +
                                       chunks[len(used):]))
    for what, saved, skip in (("wrapped", None, 0),
                              ("wrapped, resumed", 300, 300)):
        w = os.path.join(d, what.replace(", ", "-"))
        os.mkdir(w)
        if saved is not None:
            # A position file in its documented form: the run resumes
            # after record number 300 (the 300th record: numbers are
            # 1..N here).
            os.makedirs(os.path.join(w, "state", "positions"))
            with open(os.path.join(w, "state", "positions", "wr.pos"),
                      "w") as f:
                f.write("file wrapped.evtx record %d\n" % saved)
        out = os.path.join(w, "out.ndjson")
        cfg = agent_config(w, [("wr", evtx_input(wrapped))], out)
        res = it.run(args.bin, ["-c", cfg, "--once"], timeout=120)
        ck.eq(res.returncode, 0, "part 2 %s: exit code" % what)
        docs, _ = it.read_ndjson(out)
        ck.eq(it.record_ids(docs), cor.ids(big)[skip:], "part 2 %s: "
              "records in number order (the file starts with chunk %d of "
              "%d)" % (what, r + 1, len(used)))
        print("part 2: %s log: %d records in number order" %
              (what, len(docs)), flush=True)


# ---- part 3 ----


RESUME_RE = re.compile(r"resuming at record (\d+) of (.+) \(from the ")


def part3(args, ck, tmp, cor, rnd):
    d = os.path.join(tmp, "p3")
    os.mkdir(d)
    rounds, batch = 10, 50
    names, want, start_of = [], [], {}
    for r in range(rounds):
        for name in cor.evtx:
            names.append(("r%02d_%s" % (r, name), name))
            start_of[names[-1][0]] = len(want)
            want += cor.ids(name)
    ind = linked_dir(d, cor, names)
    out = os.path.join(d, "out.ndjson")
    cfg = agent_config(d, [("big", evtx_input(ind))], out,
                       extra_out={"batch_max_events": str(batch)})
    covered, seen, dups, kills, repaired, done = 0, 0, 0, 0, 0, False
    prev_resumed = 0
    for run_no in range(1, 8):
        last = run_no == 7
        errpath = os.path.join(d, "stderr%d.txt" % run_no)
        with open(errpath, "wb") as err:
            p = it.popen([args.bin, "-c", cfg, "--once"],
                         stdout=subprocess.DEVNULL, stderr=err)
            if not last:
                # Kill once a random number of new documents came out.
                target = seen + rnd.randint(50, len(want) // 6)
                it.wait_for(lambda: p.poll() is not None or
                            it.count_lines(out) >= target, 60, step=0.005)
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    kills += 1
            rc = p.wait(timeout=120)
        with open(errpath, encoding="utf-8", errors="replace") as f:
            m = RESUME_RE.search(f.read())
        # Where the input said it resumed, as an index into want (the
        # record numbers of the corpus files are 1..N, part 1 checks).
        resumed = start_of.get(m.group(2), -1) + int(m.group(1)) if m \
            else 0
        if os.path.exists(out):
            with open(out, "rb") as f:
                data = f.read()
            if data and not data.endswith(b"\n"):
                repaired += 1       # a kill tore the last line
                with open(out, "r+b") as f:
                    f.truncate(data.rfind(b"\n") + 1)
        docs, problems = it.read_ndjson(out)
        for pr in problems:
            ck.fail("part 3 run %d: %s" % (run_no, pr))
        ids = it.record_ids(docs)[seen:]
        seen += len(ids)
        if rc not in (0, -signal.SIGKILL):
            ck.fail("part 3 run %d: exit code %d" % (run_no, rc))
            break
        if ids:
            # This run's documents continue the expected sequence at the
            # furthest q <= covered where they match: a restart may
            # repeat what was in flight, never skip or reorder.
            q = next((q for q in range(covered, -1, -1)
                      if want[q:q + len(ids)] == ids), None)
            if not ck.check(q is not None, "part 3 run %d: its %d "
                            "documents (first %s) do not continue the "
                            "expected sequence at or before record %d of "
                            "%d (a skip or a disorder)" %
                            (run_no, len(ids), ids[0], covered, len(want))):
                break
            # The run sends first what the ring kept and had not had
            # acknowledged (from q on), then what the input reads: from
            # where it says it resumed, which never moves back.
            ck.check(max(prev_resumed, q) <= resumed, "part 3 run %d: the "
                     "input resumed at record %d of the sequence, before "
                     "the run's first document (%d) or the previous run's "
                     "resumption (%d)" % (run_no, resumed, q, prev_resumed))
            prev_resumed = resumed
            dups += covered - q
            print("part 3 run %d: %s, %d documents, %d repeated, the "
                  "input resumed at %d" % (run_no, "killed" if rc else
                                           "exit 0", len(ids), covered - q,
                                           resumed), flush=True)
            covered = max(covered, q + len(ids))
        if rc == 0:
            done = True
            break
    ck.check(done, "part 3: no run reached the end")
    ck.eq(covered, len(want), "part 3: records delivered in all")
    ck.check(kills >= 2, "part 3: the agent was killed only %d times "
             "before it finished" % kills)
    print("part 3: %d records, %d kills (%d tore the output's last line, "
          "repaired by the test), %d records repeated in all" %
          (len(want), kills, repaired, dups), flush=True)


# ---- part 4 ----


class Follow:
    def __init__(self, args, ck, d, cfg):
        self.args, self.ck, self.d, self.cfg = args, ck, d, cfg
        self.out = os.path.join(d, "out.ndjson")
        self.proc = None

    def start(self):
        self.proc = it.Agent([self.args.bin, "-c", self.cfg],
                             os.path.join(self.d, "stderr.txt"), append=True)

    def docs(self):
        docs, _ = it.read_ndjson(self.out)
        return docs

    def wait_count(self, n, what):
        ok = it.wait_lines(self.out, n, WAIT)
        self.ck.check(ok, "part 4: %s: %d documents expected, %d came" %
                      (what, n, it.count_lines(self.out)))
        return ok

    def stop(self):
        if self.proc is None:
            return None
        rc = self.proc.stop(timeout=30)
        self.proc = None
        return rc


def part4(args, ck, tmp, cor):
    d = os.path.join(tmp, "p4")
    ind = os.path.join(d, "in")
    os.makedirs(ind)
    small = [n for n in cor.evtx if os.path.getsize(cor.path[n]) <= 70000]
    big = max(cor.evtx, key=lambda n: os.path.getsize(cor.path[n]))
    a, b = small[0], small[-1]
    with open(cor.path[a], "rb") as f, \
            open(os.path.join(ind, "a.evtx"), "wb") as g:
        g.write(f.read())
    cfg = agent_config(d, [("live", evtx_input(ind, follow=True,
                                               poll_interval="50ms"))],
                       os.path.join(d, "out.ndjson"))
    fo = Follow(args, ck, d, cfg)
    fo.start()
    try:
        want = cor.ids(a)
        fo.wait_count(len(want), "the file present at start")
        # A second file, written under a dot name and renamed in.
        with open(cor.path[b], "rb") as f, \
                open(os.path.join(ind, ".b.tmp"), "wb") as g:
            g.write(f.read())
        os.rename(os.path.join(ind, ".b.tmp"), os.path.join(ind, "b.evtx"))
        want += cor.ids(b)
        fo.wait_count(len(want), "a file renamed into the directory")
        # A third one grows: its header and first chunks, then the rest.
        with open(cor.path[big], "rb") as f:
            data = f.read()
        cut = 4096 + 65536 * 3
        with open(os.path.join(ind, "c.evtx"), "wb") as g:
            g.write(data[:cut])
        # Until records of its first chunks have come, not a fixed time.
        it.wait_for(lambda: it.count_lines(fo.out) > len(want), WAIT)
        part = len(fo.docs()) - len(want)
        ck.check(0 < part < len(cor.ids(big)), "part 4: records of the "
                 "first chunks of a growing file: %d of %d" %
                 (part, len(cor.ids(big))))
        with open(os.path.join(ind, "c.evtx"), "ab") as g:
            g.write(data[cut:])
        want += cor.ids(big)
        fo.wait_count(len(want), "a file that grew")
    finally:
        rc = fo.stop()
    ck.eq(rc, 0, "part 4: exit code after SIGTERM")
    ck.eq(it.record_ids(fo.docs()), want, "part 4: every record once, "
          "in order")
    ck.eq(read_pos(d, "live"), "file c.evtx record %d" %
          len(cor.ids(big)), "part 4: position file after SIGTERM")
    res = it.run(args.bin, ["-c", cfg, "--once"], timeout=60)
    ck.eq(res.returncode, 0, "part 4: restart --once exit code")
    ck.eq(len(fo.docs()), len(want), "part 4: documents after a restart "
          "(nothing new)")
    print("part 4: follow: %d records (%d, %d, %d) once each" %
          (len(want), len(cor.ids(a)), len(cor.ids(b)),
           len(cor.ids(big))), flush=True)

    # One file, not there yet at start, then written in two steps.
    d3 = os.path.join(tmp, "p4-file")
    os.mkdir(d3)
    one = os.path.join(d3, "live.evtx")
    cfg3 = agent_config(d3, [("one", evtx_input(one, follow=True,
                                                poll_interval="50ms"))],
                        os.path.join(d3, "out.ndjson"))
    fo3 = Follow(args, ck, d3, cfg3)
    fo3.start()
    try:
        # Until the agent says it waits for the file.
        it.wait_log(fo3.proc.err_path, r"does not exist yet", WAIT)
        with open(one, "wb") as g:
            g.write(data[:cut])
        it.wait_for(lambda: it.count_lines(fo3.out) > 0, WAIT)
        with open(one, "ab") as g:
            g.write(data[cut:])
        fo3.wait_count(len(cor.ids(big)), "one file, created later, grown")
    finally:
        rc = fo3.stop()
    ck.eq(rc, 0, "part 4: one file: exit code")
    ck.eq(it.record_ids(fo3.docs()), cor.ids(big), "part 4: one file "
          "created later and grown: every record once, in order")
    ck.eq(read_pos(d3, "one"), "file live.evtx record %d" %
          len(cor.ids(big)), "part 4: one file: position file")

    # start = end: what is there at the first run is skipped.
    d2 = os.path.join(tmp, "p4-end")
    os.mkdir(d2)
    cfg2 = agent_config(d2, [("tail", evtx_input(ind, follow=True,
                                                 poll_interval="50ms",
                                                 start="end"))],
                        os.path.join(d2, "out.ndjson"))
    fo2 = Follow(args, ck, d2, cfg2)
    fo2.start()
    try:
        it.wait_for(lambda: read_pos(d2, "tail") is not None, WAIT)
        # Nothing so far; anything read from the files already there
        # would come before the new file's records (checked at the end).
        ck.eq(len(fo2.docs()), 0, "part 4: start = end: documents from "
              "the files already there")
        with open(cor.path[a], "rb") as f, \
                open(os.path.join(ind, ".d.tmp"), "wb") as g:
            g.write(f.read())
        os.rename(os.path.join(ind, ".d.tmp"), os.path.join(ind, "d.evtx"))
        fo2.wait_count(len(cor.ids(a)), "start = end: a new file")
    finally:
        rc = fo2.stop()
    ck.eq(rc, 0, "part 4: start = end: exit code")
    ck.eq(it.record_ids(fo2.docs()), cor.ids(a), "part 4: start = end: "
          "only the new file's records")


# ---- part 5 ----


def part5(args, ck, tmp, cor, rnd):
    d = os.path.join(tmp, "p5")
    ind = os.path.join(d, "in")
    os.makedirs(ind)
    small = [n for n in cor.evtx if os.path.getsize(cor.path[n]) <= 70000]
    good = small[0]
    with open(cor.path[good], "rb") as f:
        src = f.read()
    with open(cor.path[small[1]], "rb") as f:
        other = f.read()
    used = len(other)
    # The end of the records in the first chunk (free space offset).
    free = int.from_bytes(other[4096 + 48:4096 + 52], "little")
    bad = {
        "00_empty.evtx": b"",
        "01_garbage.evtx": bytes(rnd.randrange(256) for _ in range(9000)),
        "02_header_only.evtx": other[:4096],
        "03_cut_in_chunk.evtx": other[:4096 + 30000],
    }
    b = bytearray(other)
    b[4096 + 48:4096 + 52] = (70000).to_bytes(4, "little")
    bad["04_bad_chunk_header.evtx"] = bytes(b)
    for k in range(6):
        b = bytearray(other)
        for _ in range(1 + k * 3):
            b[rnd.randrange(4096 + 512, 4096 + min(free, 65536))] = \
                rnd.randrange(256)
        bad["05_overwritten_%d.evtx" % k] = bytes(b)
    b = bytearray(other)
    b[4096 + 512 + 4:4096 + 512 + 8] = (0xfffff).to_bytes(4, "little")
    bad["06_bad_record_size.evtx"] = bytes(b)
    for name, data in bad.items():
        with open(os.path.join(ind, name), "wb") as f:
            f.write(data)
    with open(os.path.join(ind, "99_good.evtx"), "wb") as f:
        f.write(src)
    out = os.path.join(d, "out.ndjson")
    cfg = agent_config(d, [("dmg", evtx_input(ind))], out, keep=True)
    supp = os.path.join(d, "lsan.supp")
    with open(supp, "w") as f:
        f.write("leak:libcdata_\nleak:libfdata_\nleak:libfvalue_\n"
                "leak:libfwevt_\n")
    env = dict(os.environ)
    env["LSAN_OPTIONS"] = ("suppressions=%s:print_suppressions=0" % supp +
                           (":" + env["LSAN_OPTIONS"]
                            if env.get("LSAN_OPTIONS") else ""))
    res = it.run(args.bin, ["-c", cfg, "--once"], timeout=120, env=env)
    err = res.stderr.decode(errors="replace")
    ck.eq(res.returncode, 0, "part 5: exit code (stderr: %s)" % err[-1500:])
    docs, problems = it.read_ndjson(out)
    for p in problems:
        ck.fail("part 5: " + p)
    n = len(cor.lines[good])
    check_file_docs(ck, "part 5 intact file", docs[-n:], cor.lines[good],
                    {})
    sums = it.summary_numbers(err)
    print("part 5: %d damaged files next to an intact one: %d documents "
          "(%d from the damaged files), %s records undecodable (counted "
          "as ignored)" % (len(bad), len(docs), len(docs) - n,
                           sums["ignored"] if sums else "?"), flush=True)


def main():
    def body(args, ck, tmp):
        cor = Corpus(args.corpus)
        part1(args, ck, tmp, cor)
        part2(args, ck, tmp, cor)
        part3(args, ck, tmp, cor, args.rnd)
        part4(args, ck, tmp, cor)
        part5(args, ck, tmp, cor, args.rnd)
    it.run_parts("integration_evtx", "sysmonfwd-evtx-", body, seed=True)


if __name__ == "__main__":
    main()
