"""The embedded demo: sysmonfwd without -c and without a system config.

With HOME and TMPDIR pointing to a temporary directory (and
SYSMONFWD_DEMO_DATA unset), running the binary with no -c must run the
embedded demo, since /etc/sysmonfwd/sysmonfwd.conf does not exist: exit 0,
write $TMPDIR/sysmonfwd-demo-<uid>/events.ndjson (in a directory of mode
0700), and print "demo: N documents written to <that path>" on standard
output, where N is the number of lines of
packaging/demo/indextts-sysmon.xml.log.  The documents must be valid
NDJSON, one per demo line, in order, with the record ids xml.etree finds in
the demo lines and no parse errors.  A second run replays from the start
(again N documents, the file holds N lines, not 2N).  The demo directory
must be refused (exit 1, nothing written) when it is not private (mode
0755) or when it is a symbolic link.  If /etc/sysmonfwd/sysmonfwd.conf
exists on the machine, the no -c run cannot be the demo: the test then
runs an equivalent configuration with -c instead and says so.
"""
import os
import re
import shutil
import stat
import sys
import tempfile

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402

SYSTEM_CONFIG = "/etc/sysmonfwd/sysmonfwd.conf"


def main():
    def extra(ap):
        ap.add_argument("--source-dir", required=True)
    args = it.parse_args(extra)
    ck = it.Checker("integration_demo")
    demo = os.path.join(args.source_dir, "packaging", "demo",
                        "indextts-sysmon.xml.log")
    if not os.path.isfile(demo):
        ck.fail("demo data %s does not exist" % demo)
        ck.finish()
    with open(demo, "rb") as f:
        data = f.read()
    nlines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data
                                  else 1)
    want = [it.expected_from_line(l)["record_id"]
            for l in data.split(b"\n") if b"<Event" in l]
    ck.check(nlines > 0, "demo data is empty")
    ck.eq(len(want), nlines, "record lines in the demo data (every line "
          "should be a record)")

    with tempfile.TemporaryDirectory(prefix="sysmonfwd-demo-test-") as tmp:
        env = dict(os.environ)
        env["HOME"] = tmp
        env["TMPDIR"] = tmp
        env.pop("SYSMONFWD_DEMO_DATA", None)
        ddir = os.path.join(tmp, "sysmonfwd-demo-%d" % os.getuid())
        out = os.path.join(ddir, "events.ndjson")
        argv = []
        system = os.path.exists(SYSTEM_CONFIG)
        if system:
            ck.note("%s exists on this machine: the binary would use it, "
                    "so this run uses -c with a configuration equivalent "
                    "to the embedded demo instead" % SYSTEM_CONFIG)
            os.mkdir(ddir, 0o700)
            cfg = it.write_config(os.path.join(tmp, "demo.conf"),
                                  it.file_config(
                                      os.path.join(ddir, "state"),
                                      [("demo", {"type": "file",
                                                 "path": demo,
                                                 "follow": "false"})],
                                      [("demo", {"type": "file",
                                                 "path": out})]))
            argv = ["-c", cfg]

        for run in (1, 2):
            if system and run == 2:
                os.unlink(out)
                shutil.rmtree(os.path.join(ddir, "state"))
            res = it.run(args.bin, argv, env=env, timeout=60)
            what = "run %d" % run
            err = res.stderr.decode("utf-8", "replace")
            if not ck.eq(res.returncode, 0, what + ": exit code"):
                print(err)
            docs, problems = it.read_ndjson(out)
            for p in problems:
                ck.fail("%s: %s" % (what, p))
            # The watchdog and heartbeats are on in the demo: Sysmon's
            # state (here: not installed) goes out as an alert.
            status = [d for d in docs if isinstance(d, dict) and
                      d.get("event", {}).get("dataset") in
                      ("sysmonfwd.alert", "sysmonfwd.heartbeat")]
            docs = [d for d in docs if d not in status]
            for d in status:
                ck.check(d["event"]["dataset"] == "sysmonfwd.heartbeat" or
                         d.get("event", {}).get("action") ==
                         "sysmon-state-changed",
                         what + ": a status document is a heartbeat or a "
                         "watchdog alert: %s" % it.short(d))
            ck.eq(len(docs), nlines, what + ": documents in " + out)
            ck.eq(it.record_ids(docs), want, what + ": record ids")
            for d in docs:
                if isinstance(d, dict) and "tags" in d and \
                        d["tags"] != ["sysmon_tamper"]:
                    ck.fail("%s: tagged document %s" % (what, it.short(d)))
            if not system:
                ck.eq(res.stdout.decode("utf-8", "replace"),
                      "demo: %d documents written to %s\n" % (nlines, out),
                      what + ": standard output")
                ck.check("embedded demo" in err, what + ": stderr does "
                         "not say the embedded demo runs: %r" % err)
                mode = stat.S_IMODE(os.lstat(ddir).st_mode)
                ck.eq(oct(mode), oct(0o700), what + ": demo directory mode")

        if not system:
            # A demo directory that is not private is refused.
            os.chmod(ddir, 0o755)
            os.unlink(out)
            res = it.run(args.bin, [], env=env, timeout=30)
            ck.eq(res.returncode, 1, "non-private demo directory: exit code")
            ck.check(re.search(rb"private", res.stderr) is not None,
                     "non-private demo directory: stderr %r" % res.stderr)
            ck.check(not os.path.exists(out), "non-private demo directory: "
                     "events.ndjson was written")
            # So is a symbolic link in its place.
            shutil.rmtree(ddir)
            target = os.path.join(tmp, "elsewhere")
            os.mkdir(target, 0o700)
            os.symlink(target, ddir)
            res = it.run(args.bin, [], env=env, timeout=30)
            ck.eq(res.returncode, 1, "demo directory a symlink: exit code")
            ck.check(os.listdir(target) == [], "demo directory a symlink: "
                     "files written through it: %s" % os.listdir(target))
    ck.finish()


if __name__ == "__main__":
    main()
