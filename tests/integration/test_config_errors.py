"""Configuration errors exit 2 with "file:line: key: problem" on stderr.

Each bad configuration below differs from a good one by one mistake: an
unknown key, an unknown section, a bad boolean, a size below its minimum
(max_line_size = 10), a bad duration, a missing `type`, a missing `path`
for an input and for an output of type file, a `path` given for an output
of type stdout, a key set twice, a section given twice, an undefined
${VAR}, a [buffer] max_size below twice its segment_size, and a line
that is not key = value.  For each, the agent must exit
with code 2, print nothing on stdout, and print exactly one diagnostic on
stderr of the form "FILE:LINE: KEY: problem" naming the right line and
key.  A file holding several of these mistakes must report all of them
(one line each).  Also: --check-config prints "configuration OK" and exits
0 on a good file without running anything; ${VAR} taken from the
environment and $$ (a literal $) work in a value; a valid configuration
that cannot run (input file missing with follow = false, state_dir not
creatable) exits 1; an unknown command-line
flag, an unexpected argument and a missing -c file exit 2; --version and
--help exit 0.
"""
import os
import re
import sys
import tempfile

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402


def good_lines(st, inp, out):
    return ["[agent]",                      # 1
            "state_dir = %s" % st,          # 2
            "[input:in]",                   # 3
            "type = file",                  # 4
            "path = %s" % inp,              # 5
            "follow = false",               # 6
            "[output:out]",                 # 7
            "type = file",                  # 8
            "path = %s" % out]              # 9


def cases(st, inp, out):
    g = good_lines(st, inp, out)

    def edit(i, new):           # replace line i (1-based)
        lines = list(g)
        lines[i - 1] = new
        return lines

    def insert(i, *new):        # insert before line i
        lines = list(g)
        lines[i - 1:i - 1] = list(new)
        return lines

    def delete(i):
        lines = list(g)
        del lines[i - 1]
        return lines

    # (name, lines, [(line, key-or-section, regex on the problem)])
    return [
        ("unknown key", insert(7, "colour = blue"),
         [(7, "colour", r"unknown key")]),
        ("unknown key in [agent]", insert(3, "nmae = x"),
         [(3, "nmae", r"unknown key")]),
        ("unknown section", insert(7, "[filter:x]", "a = b"),
         [(7, "[filter:x]", r"unknown section")]),
        ("bad boolean", edit(6, "follow = maybe"),
         [(6, "follow", r"maybe.*not a boolean")]),
        ("size below minimum", insert(7, "max_line_size = 10"),
         [(7, "max_line_size", r"10.*below minimum")]),
        ("bad size", insert(7, "max_line_size = 12 parsecs"),
         [(7, "max_line_size", r"unit|size")]),
        ("bad duration", insert(7, "poll_interval = soon"),
         [(7, "poll_interval", r"soon.*duration")]),
        ("bad duration unit", insert(7, "poll_interval = 5 fortnights"),
         [(7, "poll_interval", r"duration unit")]),
        ("missing type (input)", delete(4),
         [(3, "type", r"missing")]),
        ("missing type (output)", delete(8),
         [(7, "type", r"missing")]),
        ("missing path for input type file", delete(5),
         [(3, "path", r"missing.*file")]),
        ("missing path for output type file", delete(9),
         [(7, "path", r"missing.*file")]),
        ("path for type stdout", edit(8, "type = stdout"),
         [(9, "path", r"not used by type stdout")]),
        ("unknown type", edit(4, "type = kafka"),
         [(4, "type", r"kafka")]),
        ("duplicate key", insert(7, "follow = true"),
         [(7, "follow", r"twice.*line 6")]),
        ("duplicate section", g + ["[input:in]", "type = file",
                                   "path = %s" % inp],
         [(10, "[input:in]", r"twice.*line 3")]),
        ("undefined ${VAR}",
         edit(9, "path = ${SYSMONFWD_IT_SURELY_UNDEFINED}/x"),
         [(9, "path", r"SYSMONFWD_IT_SURELY_UNDEFINED.*not set")]),
        ("buffer max_size below twice segment_size",
         insert(3, "[buffer]", "max_size = 4MiB", "segment_size = 8MiB"),
         [(3, "max_size", r"twice")]),
        ("not key = value", insert(7, "this line has no equals sign"),
         [(7, None, r"key = value")]),
        ("several errors",
         ["[agent]", "state_dir = %s" % st, "bogus = 1",      # 3
          "[input:in]", "type = file", "path = %s" % inp,
          "follow = perhaps",                                  # 7
          "max_line_size = 10",                                # 8
          "poll_interval = soon",                              # 9
          "follow = true",                                     # 10
          "[nonsense]",                                        # 11
          "[output:out]", "type = stdout",
          "path = %s" % out,                                   # 14
          "random words here",                                 # 15
          "[output:other]",                                    # 16
          "type = file",
          "[input:in]"],                                       # 18
         [(3, "bogus", r"unknown key"),
          (7, "follow", r"not a boolean"),
          (8, "max_line_size", r"below minimum"),
          (9, "poll_interval", r"duration"),
          (10, "follow", r"twice"),
          (11, "[nonsense]", r"unknown section"),
          (14, "path", r"not used by type stdout"),
          (15, None, r"key = value"),
          (16, "path", r"missing"),
          (18, "[input:in]", r"twice")]),
    ]


def check_diags(ck, name, cfg, res, expected):
    err = res.stderr.decode("utf-8", "replace")
    ck.eq(res.returncode, 2, "%s: exit code" % name)
    ck.eq(res.stdout, b"", "%s: stdout" % name)
    lines = [l for l in err.splitlines() if l.strip()]
    ck.eq(len(lines), len(expected), "%s: number of diagnostics (stderr: "
          "%r)" % (name, err))
    for line, key, pat in expected:
        prefix = "%s:%d: " % (cfg, line)
        if key is not None:
            prefix += key + ": "
        hits = [l for l in lines if l.startswith(prefix) and
                re.search(pat, l[len(prefix):])]
        ck.check(len(hits) == 1, "%s: expected one diagnostic %r + /%s/, "
                 "stderr was:\n%s" % (name, prefix, pat, err))
    for l in lines:
        ck.check(re.match(re.escape(cfg) + r":\d+: \S", l) is not None,
                 "%s: diagnostic not of the form file:line: ...: %r" %
                 (name, l))


def main():
    args = it.parse_args()
    ck = it.Checker("integration_config_errors")
    env = dict(os.environ)
    env.pop("SYSMONFWD_IT_SURELY_UNDEFINED", None)
    with tempfile.TemporaryDirectory(prefix="sysmonfwd-cfg-") as tmp:
        st = os.path.join(tmp, "state")
        inp = os.path.join(tmp, "in.log")
        out = os.path.join(tmp, "out.ndjson")
        rec = it.unique_records(args.corpus, 7001, 3)
        with open(inp, "wb") as f:
            f.writelines(rec)

        for n, (name, lines, expected) in enumerate(cases(st, inp, out)):
            cfg = it.write_config(os.path.join(tmp, "bad%d.conf" % n),
                                  "\n".join(lines) + "\n")
            res = it.run(args.bin, ["-c", cfg, "--once"], env=env)
            check_diags(ck, name, cfg, res, expected)
            res = it.run(args.bin, ["-c", cfg, "--check-config"], env=env)
            ck.eq(res.returncode, 2, "%s: --check-config exit code" % name)
            ck.check(not os.path.exists(out), "%s: output written despite "
                     "the bad configuration" % name)

        # --check-config on a good file: OK, exit 0, nothing run.
        good = it.write_config(os.path.join(tmp, "good.conf"),
                               "\n".join(good_lines(st, inp, out)) + "\n")
        res = it.run(args.bin, ["-c", good, "--check-config"], env=env)
        ck.eq(res.returncode, 0, "--check-config good file: exit code")
        ck.eq(res.stdout.decode(), "configuration OK\n",
              "--check-config good file: stdout")
        ck.check(not os.path.exists(out), "--check-config ran the agent "
                 "(output file created)")

        # ${VAR} from the environment and $$ for a literal $.
        env2 = dict(env)
        env2["SYSMONFWD_IT_DIR"] = tmp
        lines = good_lines(st, inp, out)
        lines[8] = "path = ${SYSMONFWD_IT_DIR}/from$$env.ndjson"
        cfg = it.write_config(os.path.join(tmp, "env.conf"),
                              "\n".join(lines) + "\n")
        res = it.run(args.bin, ["-c", cfg, "--once"], env=env2)
        ck.eq(res.returncode, 0, "${VAR} config: exit code (stderr %r)" %
              res.stderr)
        expanded = os.path.join(tmp, "from$env.ndjson")
        docs, problems = it.read_ndjson(expanded)
        ck.check(not problems, "${VAR} config: %s" % problems)
        docs = it.without_status(docs)
        ck.eq(it.record_ids(docs), ["7001", "7002", "7003"],
              "${VAR} config: record ids written to the expanded path")

        # Runtime failures (a valid configuration that cannot run): 1.
        with open(os.path.join(tmp, "a-file"), "w"):
            pass
        for what, st2, inp2, out2 in (
                ("input missing (follow = false)", st,
                 os.path.join(tmp, "no-such-input.log"), out),
                ("state_dir not creatable", os.path.join(tmp, "a-file", "s"),
                 inp, out)):
            cfg = it.write_config(os.path.join(tmp, "rt.conf"), "\n".join(
                good_lines(st2, inp2, out2)) + "\n")
            res = it.run(args.bin, ["-c", cfg, "--check-config"], env=env)
            ck.eq(res.returncode, 0, "%s: --check-config exit code" % what)
            res = it.run(args.bin, ["-c", cfg, "--once"], env=env)
            ck.eq(res.returncode, 1, "%s: exit code (stderr %r)" %
                  (what, res.stderr[-300:]))
            ck.check(b"error" in res.stderr, "%s: no error logged" % what)

        # Command line.
        for argv, code, what in (
                (["--no-such-flag"], 2, "unknown flag"),
                (["-c", good, "extra-arg"], 2, "unexpected argument"),
                (["-c", os.path.join(tmp, "missing.conf")], 2,
                 "missing config file"),
                (["--version"], 0, "--version"),
                (["--help"], 0, "--help")):
            res = it.run(args.bin, argv, env=env)
            ck.eq(res.returncode, code, "%s: exit code (stderr %r)" %
                  (what, res.stderr[:300]))
            if what == "--version":
                ck.check(re.fullmatch(rb"sysmonfwd \d+\.\d+\.\d+\n",
                                      res.stdout) is not None,
                         "--version output: %r" % res.stdout)
            if code == 2:
                ck.check(res.stderr.strip() != b"", what + ": no message "
                         "on stderr")
    ck.finish()


if __name__ == "__main__":
    main()
