"""type = journald reads Sysmon for Linux records from journal files.

Journal files are built at test time: entries in the journal export
format (binary-safe form for values holding a newline) are fed to
systemd-journal-remote, which writes them to a journal file in a staging
directory; the file is then renamed into the directory the input reads
(journal_dir), as journald would add a file.  Timestamps grow across every
file, as on one machine.  The Sysmon entries carry the <Event> part of
each line of the shared corpus's linux-syslog/ files as MESSAGE, with
SYSLOG_IDENTIFIER=sysmon; other programs' entries are mixed in (one of
them holds a Sysmon record in its MESSAGE too, and must not come out).

Part 1 (start = oldest, --once): exactly the Sysmon records come out, in
order, each equal to the corpus (event_data and System values), with the
syslog-style header "Mmm dd HH:MM:SS HOST sysmon[PID]: " in front of the
MESSAGE (event.original); Sysmon's start-up banner is counted as ignored;
a record over 64 KiB (a padded Data value) comes whole, and one with a
newline inside a value too.  With max_line_size = 16KiB the big record
alone comes cut and tagged.  A match with "+" (OR) between groups selects
what it says; a match that is not FIELD=value stops the agent with an
error.

Part 2 (follow): a file added to the directory while the agent runs, and
entries appended to it in place afterwards, are read (the agent waits on
the journal's fd: the delay is printed, and the idle agent must use no
CPU); SIGTERM exits 0; records added while it is stopped, and only
those, come out at the next start.

Part 3 (start = newest, the default): a first run skips what the journal
holds, and saves that position at once: a second --once run delivers only
the entries added after the first; an agent following from the newest
entry delivers only the entries added after it started.

Part 4 (kill -9): a journal of 3 files and 18000 records is read with the
agent killed with SIGKILL at random times, then restarted, several times,
before a last run goes to the end.  Every record must come out, in order
of first appearance, and each run's documents must go strictly up: the
input never puts an entry into the ring twice (it resumes after the
cursor the ring kept with the records), so the only repeats are a run
sending again, first thing, what the last run wrote to the output but had
not yet confirmed (the file output confirms after its fsync).  How many
that was is printed.

Part 5 (a vanished cursor): the journal file holding the saved cursor is
deleted and a fresh one added; the next run logs an error and delivers a
gap document (event.action records-dropped, count unknown) and then the
fresh file's records; a run after that delivers nothing new (the gap is
not announced twice).
"""
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
WAIT = 60       # deadline (s) for records to come through; not a measure
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec")
LINE_RE = re.compile(rb"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+) "
                     rb"([^\s\[:]+)(?:\[(\d+)\])?: (.*)$", re.S)
NOISE = [("cron", b"(root) CMD (cd / && run-parts --report /etc/cron.hourly)"),
         ("sshd", b"Accepted publickey for admin from 192.0.2.7 port 50522"),
         ("systemd", b"Started Daily apt download activities."),
         ("kernel", b"audit: type=1400 apparmor=\"STATUS\"")]


class Entry:
    def __init__(self, usec, host, ident, pid, message, export):
        self.usec, self.host, self.ident = usec, host, ident
        self.pid, self.message, self.export = pid, message, export

    def header(self):
        t = time.gmtime(self.usec // 1000000)
        return ("%s %2d %02d:%02d:%02d %s %s[%d]: " %
                (MONTHS[t.tm_mon - 1], t.tm_mday, t.tm_hour, t.tm_min,
                 t.tm_sec, self.host, self.ident, self.pid)).encode()


class Journal:
    """Writes journal files; timestamps grow across all of them."""

    def __init__(self, tmp, rnd):
        self.staging = os.path.join(tmp, "staging")
        os.makedirs(self.staging, exist_ok=True)
        self.usec = 1700000000000000 + rnd.randrange(10 ** 12)
        self.mono = 5000000
        self.boot = "%032x" % rnd.getrandbits(128)

    def entry(self, ident, message, host="jrn-host", pid=4242):
        step = 1000 + (len(message) % 997)
        self.usec += step
        self.mono += step
        fields = [("__REALTIME_TIMESTAMP", b"%d" % self.usec),
                  ("__MONOTONIC_TIMESTAMP", b"%d" % self.mono),
                  ("_BOOT_ID", self.boot.encode()),
                  ("_HOSTNAME", host.encode()),
                  ("SYSLOG_IDENTIFIER", ident.encode()),
                  ("_PID", b"%d" % pid),
                  ("_TRANSPORT", b"syslog"),
                  ("MESSAGE", message)]
        out = []
        for k, v in fields:
            if b"\n" in v:      # the binary-safe form
                out.append(k.encode() + b"\n" + struct.pack("<Q", len(v)) +
                           v + b"\n")
            else:
                out.append(k.encode() + b"=" + v + b"\n")
        out.append(b"\n")
        return Entry(self.usec, host, ident, pid, message, b"".join(out))

    def write(self, directory, name, entries, in_place=False):
        """Write entries as directory/name (a *.journal file); in_place:
        append them to that file where it is, as journald does."""
        path = os.path.join(directory if in_place else self.staging, name)
        res = subprocess.run([JOURNAL_REMOTE, "--output=" + path, "-"],
                             input=b"".join(e.export for e in entries),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=120)
        if res.returncode != 0:
            raise RuntimeError("systemd-journal-remote failed: %s" %
                               res.stderr.decode(errors="replace"))
        if not in_place:
            os.makedirs(directory, exist_ok=True)
            os.rename(path, os.path.join(directory, name))


def corpus_entries(corpus):
    """(host, ident, pid, message) of every line of linux-syslog/."""
    out = []
    for path, line in it.linux_syslog_lines(corpus):
        m = LINE_RE.match(line)
        if m is None:
            raise ValueError("%s: not a syslog line: %r" % (path, line[:80]))
        msg = m.group(4)
        if b"<Event" in msg:
            msg = msg[msg.find(b"<Event"):]
        out.append((m.group(1).decode(), m.group(2).decode(),
                    int(m.group(3) or 3099), msg))
    return out


def sysmon_records(corpus):
    return [c[3] for c in corpus_entries(corpus) if b"<Event" in c[3]]


def unique_messages(corpus, first_id, count):
    base = sysmon_records(corpus)
    return [it.with_record_id(base[i % len(base)], first_id + i)
            for i in range(count)]


def with_noise(jrn, messages, every=4, host="jrn-host"):
    """Entries for messages (ident sysmon), another program's entry
    after every `every` of them."""
    out = []
    for i, m in enumerate(messages):
        out.append(jrn.entry("sysmon", m, host=host))
        if i % every == every - 1:
            ident, text = NOISE[i % len(NOISE)]
            out.append(jrn.entry(ident, text, host=host, pid=100 + i))
    return out


def config(state, jdir, out, name="jrn", extra_in=None, extra_out=None):
    kv = {"type": "journald", "journal_dir": jdir}
    kv.update(extra_in or {})
    okv = {"type": "file", "path": out}
    okv.update(extra_out or {})
    return it.file_config(state, [(name, kv)], [("out", okv)])


def docs_of(ck, where, out):
    if not os.path.exists(out):
        return []
    docs, problems = it.read_ndjson(out)
    for p in problems:
        ck.fail("%s: %s" % (where, p))
    return docs


def is_gap(doc):
    return (isinstance(doc, dict) and
            doc.get("event", {}).get("action") == "records-dropped")


def start_agent(args, tmp, cfg, tag):
    """The agent running in the background (follow)."""
    return it.Agent([args.bin, "-c", cfg],
                    os.path.join(tmp, "agent-%s.err" % tag))


def wait_docs(out, n, timeout=WAIT):
    return it.wait_lines(out, n, timeout)


# ---- part 1 ----------------------------------------------------------------


def big_record(corpus, pad):
    """A corpus record with a Data value padded by pad bytes."""
    for msg in sysmon_records(corpus):
        m = re.search(rb'<Data Name="CommandLine">([^<]*)</Data>', msg)
        if m is not None:
            return (msg[:m.end(1)] + b"A" * pad + msg[m.end(1):])
    raise ValueError("no record with a CommandLine in the corpus")


def newline_record(corpus):
    for msg in sysmon_records(corpus):
        m = re.search(rb'<Data Name="CommandLine">([^<]*)</Data>', msg)
        if m is not None:
            return (msg[:m.end(1)] + b"\nsecond line\tand a tab" +
                    msg[m.end(1):])
    raise ValueError("no record with a CommandLine in the corpus")


def part1(args, ck, tmp, rnd):
    d = os.path.join(tmp, "p1")
    jdir = os.path.join(d, "journal")
    jrn = Journal(d, rnd)
    entries, want, banner = [], [], 0
    big = big_record(args.corpus, 100 * 1024)
    for i, (host, ident, pid, msg) in enumerate(corpus_entries(args.corpus)):
        e = jrn.entry(ident, msg, host=host, pid=pid)
        entries.append(e)
        if b"<Event" in msg:
            want.append(e)
        else:
            banner += 1
        if i % 3 == 2:
            nident, text = NOISE[i % len(NOISE)]
            entries.append(jrn.entry(nident, text, host=host, pid=200 + i))
        if i == 20:
            # Another program's entry holding a Sysmon record.
            entries.append(jrn.entry("not-sysmon", msg if b"<Event" in msg
                                     else big, host=host, pid=999))
            for m in (big, newline_record(args.corpus)):
                e = jrn.entry("sysmon", m, host=host, pid=pid)
                entries.append(e)
                want.append(e)
    jrn.write(jdir, "system.journal", entries)
    big_len = len(big)
    ck.check(big_len > 64 * 1024, "part 1: the big record has %d bytes" %
             big_len)

    out = os.path.join(d, "out.ndjson")
    cfg = it.write_config(os.path.join(d, "c.conf"), config(
        os.path.join(d, "state"), jdir, out, extra_in={"start": "oldest"},
        extra_out={"keep_original": "true"}))
    res = it.run(args.bin, ["-c", cfg, "--once"])
    err = res.stderr.decode(errors="replace")
    ck.eq(res.returncode, 0, "part 1: exit code (stderr: %s)" % err[-500:])
    docs = docs_of(ck, "part 1", out)
    ck.eq(len(docs), len(want), "part 1: number of documents (the Sysmon "
          "records only)")
    for i, (doc, e) in enumerate(zip(docs, want)):
        where = "part 1 doc %d" % (i + 1)
        it.compare(ck, where, doc, it.expected_from_line(e.message))
        orig = (doc or {}).get("event", {}).get("original")
        ck.eq(orig, (e.header() + e.message).decode(), where +
              " event.original (header + MESSAGE)")
    for i, e in enumerate(want):
        if e.message == big and i < len(docs):
            v = docs[i].get("winlog", {}).get("event_data", {}).get(
                "CommandLine", "")
            ck.check(len(v) > 100 * 1024, "part 1: the big record's "
                     "CommandLine has %d bytes (cut?)" % len(v))
    nums = it.summary_numbers(err)
    ck.eq(nums and (nums["read"], nums["ignored"], nums["truncated"],
                    nums["parse_errors"]), (len(want), banner, 0, 0),
          "part 1: summary (read, ignored, truncated, parse errors)")

    # max_line_size: the big record alone is cut and tagged.
    out2 = os.path.join(d, "out2.ndjson")
    cfg = it.write_config(os.path.join(d, "c2.conf"), config(
        os.path.join(d, "state2"), jdir, out2,
        extra_in={"start": "oldest", "max_line_size": "16KiB"}))
    res = it.run(args.bin, ["-c", cfg, "--once"])
    ck.eq(res.returncode, 0, "part 1 max_line_size: exit code")
    docs = docs_of(ck, "part 1 max_line_size", out2)
    ck.eq(len(docs), len(want), "part 1 max_line_size: number of documents")
    cut = [i for i, doc in enumerate(docs)
           if "sysmonfwd_truncated" in (doc or {}).get("tags", [])]
    ck.eq(cut, [i for i, e in enumerate(want) if e.message == big],
          "part 1 max_line_size: the documents tagged sysmonfwd_truncated")
    nums = it.summary_numbers(res.stderr.decode(errors="replace"))
    ck.eq(nums and nums["truncated"], 1, "part 1 max_line_size: summary "
          "count of records cut")

    # match: OR between groups, AND between fields of a group.
    out3 = os.path.join(d, "out3.ndjson")
    host = "202-u20-dev-agent"
    cfg = it.write_config(os.path.join(d, "c3.conf"), config(
        os.path.join(d, "state3"), jdir, out3, extra_in={
            "start": "oldest", "match": "SYSLOG_IDENTIFIER=no-such-program "
            "+ SYSLOG_IDENTIFIER=sysmon _HOSTNAME=%s" % host}))
    res = it.run(args.bin, ["-c", cfg, "--once"])
    ck.eq(res.returncode, 0, "part 1 match: exit code")
    docs = docs_of(ck, "part 1 match", out3)
    ck.eq(it.record_ids(docs), [it.expected_from_line(e.message)["record_id"]
                                for e in want if e.host == host],
          "part 1 match: record ids of the records of host %s" % host)
    ck.check(len(docs) > 0, "part 1 match: no document")

    cfg = it.write_config(os.path.join(d, "c4.conf"), config(
        os.path.join(d, "state4"), jdir, os.path.join(d, "out4.ndjson"),
        extra_in={"match": "SYSLOG_IDENTIFIER=sysmon lowercase"}))
    res = it.run(args.bin, ["-c", cfg, "--once"])
    err = res.stderr.decode(errors="replace")
    ck.check(res.returncode != 0, "part 1 bad match: exit code 0")
    ck.check("lowercase" in err and "match" in err, "part 1 bad match: the "
             "error does not name the term: %s" % err[-400:])


# ---- part 2 ----------------------------------------------------------------


def part2(args, ck, tmp, rnd):
    d = os.path.join(tmp, "p2")
    jdir = os.path.join(d, "journal")
    jrn = Journal(d, rnd)
    out = os.path.join(d, "out.ndjson")
    cfg = it.write_config(os.path.join(d, "c.conf"), config(
        os.path.join(d, "state"), jdir, out, extra_in={"start": "oldest"},
        extra_out={"flush_interval": "50ms"}))
    msgs = unique_messages(args.corpus, 20000, 75)
    want = [it.expected_from_line(m)["record_id"] for m in msgs]
    jrn.write(jdir, "a.journal", with_noise(jrn, msgs[:20]))
    agent = start_agent(args, d, cfg, "p2")
    ok = ck.check(wait_docs(out, 20), "part 2: the first file's 20 records "
                  "did not come (%d lines)" % it.count_lines(out))
    for name, lo, hi, in_place in (("b.journal", 20, 35, False),
                                   ("b.journal", 35, 50, True)):
        if not ok:
            break
        how = "appended to" if in_place else "added as"
        t0 = time.monotonic()
        jrn.write(jdir, name, with_noise(jrn, msgs[lo:hi]), in_place)
        ok = ck.check(wait_docs(out, hi), "part 2: the records %s %s while "
                      "the agent runs did not come (%d lines)" %
                      (how, name, it.count_lines(out)))
        print("part 2: records %s %s read %.2f s later" %
              (how, name, time.monotonic() - t0))
    if ok:
        # Idle: waiting on the journal's fd, not polling.  The agent's
        # CPU time over 2 s (an observation window: a loaded machine only
        # gives a polling agent less CPU, never an idle one more).
        c0 = agent.cpu_seconds()
        time.sleep(2)
        used = agent.cpu_seconds() - c0
        ck.check(used < 0.2, "part 2: the idle agent used %.2f s of CPU in "
                 "2 s" % used)
    rc = agent.stop(timeout=30)
    ck.eq(rc, 0, "part 2: exit code after SIGTERM (stderr: %s)" %
          agent.stderr()[-400:])
    docs = docs_of(ck, "part 2", out)
    ck.eq(it.record_ids(docs), want[:50], "part 2: record ids while "
          "following")
    for i, (doc, m) in enumerate(zip(docs, msgs)):
        it.compare(ck, "part 2 doc %d" % (i + 1), doc,
                   it.expected_from_line(m))
    ck.check(os.path.exists(os.path.join(d, "state", "positions",
                                         "jrn.pos")),
             "part 2: no position file after SIGTERM")
    # Added while the agent is stopped: these, and only these, next time.
    jrn.write(jdir, "d.journal", with_noise(jrn, msgs[50:]))
    res = it.run(args.bin, ["-c", cfg, "--once"])
    ck.eq(res.returncode, 0, "part 2 restart: exit code")
    docs = docs_of(ck, "part 2 restart", out)
    ck.eq(it.record_ids(docs), want, "part 2 restart: record ids (no "
          "repeat, nothing missing)")
    ck.check("resuming after the journal entry" in
             res.stderr.decode(errors="replace"),
             "part 2 restart: no 'resuming' message")


# ---- part 3 ----------------------------------------------------------------


def part3(args, ck, tmp, rnd):
    d = os.path.join(tmp, "p3")
    jdir = os.path.join(d, "journal")
    jrn = Journal(d, rnd)
    out = os.path.join(d, "out.ndjson")
    cfg = it.write_config(os.path.join(d, "c.conf"), config(
        os.path.join(d, "state"), jdir, out))     # start: the default
    msgs = unique_messages(args.corpus, 30000, 30)
    ids = [it.expected_from_line(m)["record_id"] for m in msgs]
    jrn.write(jdir, "a.journal", with_noise(jrn, msgs[:10]))
    res = it.run(args.bin, ["-c", cfg, "--once"])
    err = res.stderr.decode(errors="replace")
    ck.eq(res.returncode, 0, "part 3 first run: exit code")
    ck.eq(it.record_ids(docs_of(ck, "part 3", out)), [], "part 3 first run "
          "(start = newest): documents")
    ck.check("start = newest" in err, "part 3: the first run does not say "
             "it starts at the newest entry: %s" % err[-400:])
    ck.check(os.path.exists(os.path.join(d, "state", "positions",
                                         "jrn.pos")),
             "part 3: no position saved by the first run")
    jrn.write(jdir, "b.journal", with_noise(jrn, msgs[10:17]))
    res = it.run(args.bin, ["-c", cfg, "--once"])
    ck.eq(res.returncode, 0, "part 3 second run: exit code")
    ck.eq(it.record_ids(docs_of(ck, "part 3", out)), ids[10:17],
          "part 3 second run: only the entries added after the first run")

    # Following from the newest entry.
    d2 = os.path.join(d, "follow")
    jdir2 = os.path.join(d2, "journal")
    out2 = os.path.join(d2, "out.ndjson")
    cfg2 = it.write_config(os.path.join(d, "c2.conf"), config(
        os.path.join(d2, "state"), jdir2, out2,
        extra_out={"flush_interval": "50ms"}))
    jrn.write(jdir2, "a.journal", with_noise(jrn, msgs[17:25]))
    agent = start_agent(args, d, cfg2, "p3")
    pos = os.path.join(d2, "state", "positions", "jrn.pos")
    ck.check(it.wait_for(lambda: os.path.exists(pos), WAIT),
             "part 3 follow: no position saved at the start")
    jrn.write(jdir2, "b.journal", with_noise(jrn, msgs[25:29]))
    ck.check(wait_docs(out2, 4), "part 3 follow: the records added did "
             "not come")
    # The end marker: one more entry, after which nothing else may come.
    jrn.write(jdir2, "c.journal", with_noise(jrn, msgs[29:]))
    ck.check(wait_docs(out2, 5), "part 3 follow: the last record added "
             "did not come")
    rc = agent.stop(timeout=30)
    ck.eq(rc, 0, "part 3 follow: exit code after SIGTERM")
    ck.eq(it.record_ids(docs_of(ck, "part 3 follow", out2)), ids[25:],
          "part 3 follow: only the entries added after the start")


# ---- part 4 ----------------------------------------------------------------


def part4(args, ck, tmp, rnd):
    d = os.path.join(tmp, "p4")
    jdir = os.path.join(d, "journal")
    jrn = Journal(d, rnd)
    out = os.path.join(d, "out.ndjson")
    batch = 200
    cfg = it.write_config(os.path.join(d, "c.conf"), config(
        os.path.join(d, "state"), jdir, out, extra_in={"start": "oldest"},
        extra_out={"batch_max_events": str(batch)}))
    total, per_file = 18000, 6000
    msgs = unique_messages(args.corpus, 100000, total)
    want = [str(100000 + i) for i in range(total)]
    for k in range(total // per_file):
        jrn.write(jdir, "f%d.journal" % k, with_noise(
            jrn, msgs[k * per_file:(k + 1) * per_file], every=10))
    seen, seen_set, repaired, kills = [], set(), 0, 0
    for run_no in range(1, 8):
        last = run_no == 7
        start_lines = it.count_lines(out)
        p = it.popen([args.bin, "-c", cfg, "--once"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if last:
            rc = p.wait(timeout=120)
        else:
            target = start_lines + rnd.randint(total // 25, total // 8)
            it.wait_for(lambda: it.count_lines(out) >= target or
                        p.poll() is not None, 60, step=0.005)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            rc = p.wait()
        if it.repair_torn_tail(out):
            repaired += 1
        docs = docs_of(ck, "part 4", out)
        ids = it.record_ids(docs)[len(seen):]
        odd = [i for i in ids if i is None]
        ck.check(not odd, "part 4 run %d: %d documents are not records" %
                 (run_no, len(odd)))
        repeats = sum(1 for i in ids if i in seen_set)
        print("part 4 run %d: %s, %d documents, %d of them sent again "
              "(written but not confirmed by the last run)" %
              (run_no, "killed" if rc == -signal.SIGKILL else "exit %d" % rc,
               len(ids), repeats), flush=True)
        nums = [int(i) for i in ids if i is not None]
        back = [k for k in range(1, len(nums)) if nums[k] <= nums[k - 1]]
        ck.check(not back, "part 4 run %d: record ids do not go strictly "
                 "up (an entry went into the ring twice?): %s" %
                 (run_no, it.short([nums[k - 1:k + 1] for k in back[:5]])))
        if seen_set and nums:
            first_unseen = next(100000 + k for k in range(total + 1)
                                if str(100000 + k) not in seen_set)
            ck.check(nums[0] <= first_unseen, "part 4 run %d: starts at "
                     "record %d, but %d was never delivered (skipped)" %
                     (run_no, nums[0], first_unseen))
        seen += ids
        seen_set.update(ids)
        if rc == 0:
            break
        if last:
            ck.fail("part 4: the last run exited with %d" % rc)
    ck.check(kills >= 2, "part 4: only %d kills" % kills)
    first = []
    once = set()
    for i in seen:
        if i not in once:
            once.add(i)
            first.append(i)
    ck.eq(len(set(want) - once), 0, "part 4: records never delivered")
    ck.check(first == want, "part 4: records out of order (first "
             "appearances)")
    print("part 4: %d kills, %d duplicates in all, %d torn last lines "
          "repaired by the test" % (kills, len(seen) - len(first), repaired))


# ---- part 5 ----------------------------------------------------------------


def part5(args, ck, tmp, rnd):
    d = os.path.join(tmp, "p5")
    jdir = os.path.join(d, "journal")
    jrn = Journal(d, rnd)
    out = os.path.join(d, "out.ndjson")
    cfg = it.write_config(os.path.join(d, "c.conf"), config(
        os.path.join(d, "state"), jdir, out, extra_in={"start": "oldest"}))
    msgs = unique_messages(args.corpus, 40000, 18)
    ids = [it.expected_from_line(m)["record_id"] for m in msgs]
    jrn.write(jdir, "a.journal", with_noise(jrn, msgs[:10]))
    res = it.run(args.bin, ["-c", cfg, "--once"])
    ck.eq(res.returncode, 0, "part 5 first run: exit code")
    ck.eq(it.record_ids(docs_of(ck, "part 5", out)), ids[:10],
          "part 5 first run: record ids")
    # The file holding the cursor goes (vacuumed); a fresh one comes.
    os.unlink(os.path.join(jdir, "a.journal"))
    jrn.write(jdir, "b.journal", with_noise(jrn, msgs[10:]))
    res = it.run(args.bin, ["-c", cfg, "--once"])
    err = res.stderr.decode(errors="replace")
    ck.eq(res.returncode, 0, "part 5 vanished cursor: exit code")
    docs = docs_of(ck, "part 5", out)[10:]
    ck.check(len(docs) > 0 and is_gap(docs[0]), "part 5 vanished cursor: "
             "the first document is not a gap document (event.action "
             "records-dropped): %s" % it.short(docs[:1]))
    if docs and is_gap(docs[0]):
        g = docs[0]
        ck.eq(g.get("event", {}).get("dataset"), "sysmonfwd.gap",
              "part 5 gap: event.dataset")
        ck.eq(g.get("sysmonfwd", {}).get("gap", {}).get("sources"), ["jrn"],
              "part 5 gap: sysmonfwd.gap.sources")
        ck.check("vacuumed" in g.get("message", ""), "part 5 gap: the "
                 "message does not say why: %s" % g.get("message"))
    ck.eq(it.record_ids(docs[1:]), ids[10:], "part 5 vanished cursor: the "
          "records after the gap document")
    ck.check("error" in err and "no longer holds" in err,
             "part 5 vanished cursor: no error logged: %s" % err[-400:])
    res = it.run(args.bin, ["-c", cfg, "--once"])
    ck.eq(res.returncode, 0, "part 5 third run: exit code")
    ck.eq(len(docs_of(ck, "part 5", out)), 10 + 1 + 8,
          "part 5 third run: documents in all (nothing new, no second gap)")


def main():
    def body(args, ck, tmp):
        if not os.access(JOURNAL_REMOTE, os.X_OK):
            sys.exit("FAIL: %s is missing (apt-get install "
                     "systemd-journal-remote)" % JOURNAL_REMOTE)
        seed = int(os.environ.get("SYSMONFWD_TEST_SEED", time.time()))
        print("random seed %d (SYSMONFWD_TEST_SEED)" % seed)
        rnd = random.Random(seed)
        for part in (part1, part2, part3, part4, part5):
            t0 = time.monotonic()
            part(args, ck, tmp, rnd)
            print("%s done in %.1f s" % (part.__name__,
                                         time.monotonic() - t0), flush=True)
    it.run_parts("test_journald", "sysmonfwd-journald-", body)


if __name__ == "__main__":
    main()
