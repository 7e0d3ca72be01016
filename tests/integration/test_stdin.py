"""Standard input as the input (path = -) and standard output as the output.

1. Records are piped into the agent's standard input in several writes
   with pauses (the last line without its newline) and the agent writes to
   a file output: documents must appear while standard input is still
   open, and once it is closed the agent must exit 0 by itself (no --once)
   with every record, in order; no position file is written for stdin.
2. The elastic Sysmon for Linux sample (CRLF line ends, syslog banner
   lines between records) is piped in with `type = stdout` as the output:
   standard output must hold exactly the 36 records as NDJSON (nothing
   else), in order, and the agent's log lines must go to standard error
   (which holds no document).
3. A regular file redirected to standard input (< file) is read to its
   end and the agent exits 0 with --once.
"""
import os
import subprocess
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402


def stdin_config(tmp, name, output):
    return it.file_config(os.path.join(tmp, "state-" + name),
                          [("stdin", {"type": "file", "path": "-"})],
                          [("out", output)])


def part1(args, ck, tmp):
    out = os.path.join(tmp, "p1.ndjson")
    cfg = it.write_config(os.path.join(tmp, "p1.conf"), stdin_config(
        tmp, "p1", {"type": "file", "path": out}))
    recs = it.unique_records(args.corpus, 300, 9)
    recs[-1] = recs[-1].rstrip(b"\n")           # last line: no newline
    err = open(os.path.join(tmp, "p1.err"), "w+b")
    p = it.popen([args.bin, "-c", cfg], stdin=subprocess.PIPE,
                 stdout=subprocess.DEVNULL, stderr=err)
    try:
        p.stdin.write(b"".join(recs[:3]))
        p.stdin.flush()
        ck.check(it.wait_for(lambda: it.count_lines(out) >= 3, 60),
                 "part 1: the first 3 records did not come out while "
                 "stdin is open (have %d)" % it.count_lines(out))
        ck.check(p.poll() is None, "part 1: the agent exited while stdin "
                 "was still open (exit %s)" % p.poll())
        line = recs[3]
        p.stdin.write(line[:100])               # half a line, read alone
        p.stdin.flush()
        ck.check(it.wait_pipe_read(p.stdin.fileno(), 60), "part 1: the "
                 "agent did not read the half line within 60 s")
        p.stdin.write(line[100:] + b"".join(recs[4:]))
        p.stdin.flush()
        ck.check(it.wait_pipe_read(p.stdin.fileno(), 60), "part 1: the "
                 "agent did not read the rest within 60 s")
        p.stdin.close()
        rc = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        ck.fail("part 1: the agent did not exit after stdin was closed")
        rc = None
    err.seek(0)
    errtext = err.read().decode("utf-8", "replace")
    err.close()
    if not ck.eq(rc, 0, "part 1: exit code after stdin closed"):
        print(errtext)
    docs, problems = it.read_ndjson(out)
    ck.check(not problems, "part 1: %s" % problems)
    ck.eq(it.record_ids(docs), [str(300 + i) for i in range(9)],
          "part 1: record ids")
    for d in docs:
        if isinstance(d, dict):
            ck.check("tags" not in d, "part 1: tagged document %s" %
                     it.short(d))
    posdir = os.path.join(tmp, "state-p1", "positions")
    ck.check(not os.path.exists(os.path.join(posdir, "stdin.pos")),
             "part 1: a position file was written for standard input")


def part2(args, ck, tmp):
    src = os.path.join(args.corpus, "linux-syslog",
                       "elastic-integrations_sysmon_linux_sample_sysmon.log")
    with open(src, "rb") as f:
        data = f.read()
    want = [it.expected_from_line(l)["record_id"]
            for l in data.split(b"\n") if b"<Event" in l]
    ck.eq(len(want), 36, "part 2: records in the elastic sample")
    cfg = it.write_config(os.path.join(tmp, "p2.conf"), stdin_config(
        tmp, "p2", {"type": "stdout"}))
    res = it.run(args.bin, ["-c", cfg], input=data, timeout=30)
    ck.eq(res.returncode, 0, "part 2: exit code")
    docs, problems = it.parse_ndjson_bytes(res.stdout)
    for pr in problems:
        ck.fail("part 2 stdout: " + pr)
    ck.eq(it.record_ids(docs), want, "part 2: record ids on stdout")
    for d in docs:
        if isinstance(d, dict):
            ck.eq(d.get("winlog", {}).get("provider_name"), "Linux-Sysmon",
                  "part 2: provider of a document on stdout")
    err = res.stderr.decode("utf-8", "replace")
    ck.check("sysmonfwd: info:" in err, "part 2: no log lines on stderr: "
             "%r" % err)
    ck.check("{\"@timestamp\"" not in err, "part 2: a document went to "
             "stderr")
    summ = it.summary_numbers(err)
    if ck.check(summ is not None, "part 2: no summary on stderr"):
        ck.eq(summ["ignored"], 14, "part 2: syslog banner lines ignored")
        ck.eq(summ["delivered"], 36, "part 2: delivered")


def part3(args, ck, tmp):
    inp = os.path.join(tmp, "p3.log")
    with open(inp, "wb") as f:
        f.writelines(it.unique_records(args.corpus, 900, 40))
    cfg = it.write_config(os.path.join(tmp, "p3.conf"), stdin_config(
        tmp, "p3", {"type": "stdout"}))
    with open(inp, "rb") as f:
        res = subprocess.run([args.bin, "-c", cfg, "--once"], stdin=f,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=30, preexec_fn=it._die_with_parent)
    ck.eq(res.returncode, 0, "part 3: exit code")
    docs, problems = it.parse_ndjson_bytes(res.stdout)
    ck.check(not problems, "part 3: %s" % problems)
    ck.eq(it.record_ids(docs), [str(900 + i) for i in range(40)],
          "part 3: record ids")


def main():
    def body(args, ck, tmp):
        part1(args, ck, tmp)
        part2(args, ck, tmp)
        part3(args, ck, tmp)
    it.run_parts("integration_stdin", "sysmonfwd-stdin-", body)


if __name__ == "__main__":
    main()
