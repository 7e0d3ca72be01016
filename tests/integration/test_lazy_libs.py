"""libsystemd and libevtx are loaded only when a configuration needs them.

On Linux the binary does not link them: the journald input, the evtx input
and the watchdog's question to systemd dlopen() them on first use
(agent/base/dynlib.c).  Each part reads the running agent's
/proc/PID/maps once its log says "started:" (the inputs are open then).

1. A file input (following an empty file), the watchdog off: neither
   library, nor libbfio, is mapped.
2. A journald input (an empty journal_dir) and an evtx input (an empty
   directory, follow): both libraries are mapped, and the agent runs;
   the control that part 1 can fail.
3. A library that cannot be loaded: LD_LIBRARY_PATH names a directory
   holding an empty libsystemd.so.0 and libevtx.so.1, which the dynamic
   loader finds first and refuses ("file too short"), as it would a
   missing one.  The file input still runs (--once, exit 0, the record
   out: nothing else needs them); a journald input, then an evtx input,
   stops the agent as any input that cannot start does (exit 1) with one
   error line naming the library and its Debian package.
4. The watchdog with that same LD_LIBRARY_PATH, in a private mount
   namespace (unshare, root) where /run/systemd/system exists so that it
   asks systemd: it logs once that it cannot load libsystemd.so.0 (and
   libsystemd0) and looks at /proc instead, finding a stand-in Sysmon
   running.  Without the override it maps libsystemd after its first
   check.
"""
import os
import shutil
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402

WAIT = 60       # deadline (s) for a positive signal; never a measure
LAZY = ("libsystemd.so.0", "libevtx.so.1", "libbfio.so.1")
STARTED = r"info: started: "


def mapped(pid):
    """The sonames of the libraries process pid maps (libfoo.so.1 for
    /usr/lib/.../libfoo.so.1.2.3)."""
    names = set()
    with open("/proc/%d/maps" % pid) as f:
        for ln in f:
            name = os.path.basename(ln.split()[-1])
            if ".so." in name and len(ln.split()) >= 6:
                stem, ver = name.split(".so.", 1)
                names.add("%s.so.%s" % (stem, ver.split(".")[0]))
    return names


def start(args, tmp, name, inputs):
    """The agent on inputs (a list of (name, {key: value})) and a file
    output, in the background, the watchdog off; its stderr in
    tmp/name/err.txt."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    conf = it.file_config(os.path.join(d, "state"), inputs,
                          [("out", {"type": "file",
                                    "path": os.path.join(d, "out.ndjson")})])
    it.write_config(os.path.join(d, "c.conf"), conf)
    return it.Agent([args.bin, "-c", os.path.join(d, "c.conf")],
                    os.path.join(d, "err.txt"))


def wait_started(ck, a, what):
    if not ck.check(it.wait_log(a.err_path, STARTED, WAIT),
                    "%s: no \"started:\" line within %d s: %s" %
                    (what, WAIT, it.short(a.stderr()))):
        return None
    return mapped(a.pid)


def part_file_only(args, ck, tmp):
    what = "1. file input only"
    empty = os.path.join(tmp, "empty.log")
    open(empty, "w").close()
    a = start(args, tmp, "file", [("in", {"type": "file", "path": empty,
                                            "follow": "true"})])
    try:
        libs = wait_started(ck, a, what)
        if libs is not None:
            for lib in LAZY:
                ck.check(lib not in libs, "%s: %s is mapped" % (what, lib))
            ck.check("libc.so.6" in libs and "libexpat.so.1" in libs,
                     "%s: the maps do not show libc.so.6 and "
                     "libexpat.so.1: they are not read right" % what)
        a.stop_ok(ck, what)
    finally:
        a.close()


def part_both_inputs(args, ck, tmp):
    what = "2. journald and evtx inputs"
    jdir = os.path.join(tmp, "journal")
    edir = os.path.join(tmp, "evtx")
    os.makedirs(jdir)
    os.makedirs(edir)
    a = start(args, tmp, "both", [
        ("j", {"type": "journald", "journal_dir": jdir, "start": "oldest"}),
        ("e", {"type": "evtx", "path": edir, "follow": "true"})])
    try:
        libs = wait_started(ck, a, what)
        if libs is not None:
            for lib in LAZY:
                ck.check(lib in libs, "%s: %s is not mapped" % (what, lib))
        a.stop_ok(ck, what)
    finally:
        a.close()


def broken_libs(tmp):
    """A directory with an empty file under each library's name."""
    d = os.path.join(tmp, "badlibs")
    os.makedirs(d)
    for lib in LAZY[:2]:
        open(os.path.join(d, lib), "w").close()
    return d


def part_missing(args, ck, tmp, bad):
    env = dict(os.environ, LD_LIBRARY_PATH=bad)
    d = os.path.join(tmp, "missing")
    os.makedirs(d)
    rec = os.path.join(d, "in.log")
    line = it.windows_lines(args.corpus)[0]
    with open(rec, "wb") as f:
        f.write(line.rstrip(b"\r\n") + b"\n")
    out = os.path.join(d, "out.ndjson")
    inputs = {
        "file": ("in", {"type": "file", "path": rec}),
        "journald": ("j", {"type": "journald", "journal_dir": d}),
        "evtx": ("e", {"type": "evtx", "path": d}),
    }
    for kind, (lib, pkg) in (("file", (None, None)),
                             ("journald", ("libsystemd.so.0", "libsystemd0")),
                             ("evtx", ("libevtx.so.1", "libevtx1"))):
        what = "3. %s input, libraries unloadable" % kind
        conf = it.write_config(os.path.join(d, kind + ".conf"), it.file_config(
            os.path.join(d, "state-" + kind), [inputs[kind]],
            [("out", {"type": "file", "path": out})]))
        res = it.run(args.bin, ["-c", conf, "--once"], timeout=WAIT, env=env)
        err = res.stderr.decode("utf-8", "replace")
        if lib is None:
            ck.eq(res.returncode, 0, what + ": exit code")
            ck.eq(it.count_lines(out), 1, what + ": documents out")
            continue
        ck.eq(res.returncode, 1, what + ": exit code")
        lines = [ln for ln in err.splitlines() if lib in ln]
        if ck.eq(len(lines), 1, what + ": log lines naming " + lib):
            ln = lines[0]
            ck.check(ln.startswith("sysmonfwd: error: input %s: the %s "
                                   "input needs %s, which cannot be loaded"
                                   % (inputs[kind][0], kind, lib))
                     and pkg in ln and "file too short" in ln,
                     what + ": the line: " + ln)


def part_watchdog(args, ck, tmp, bad):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        ck.skip_or_fail("4. the watchdog needs root and unshare(1) for a "
                        "private /run/systemd")
        return
    sb = it.Standin(tmp, "sfwd-lazy-sm")
    sb.start()
    try:
        for override in (False, True):
            what = "4. watchdog, %s" % ("libsystemd unloadable" if override
                                       else "libsystemd there")
            d = os.path.join(tmp, "wd-%d" % override)
            os.makedirs(d)
            empty = os.path.join(d, "empty.log")
            open(empty, "w").close()
            conf = it.write_config(os.path.join(d, "c.conf"), "\n".join([
                "[agent]", "state_dir = %s" % os.path.join(d, "state"),
                "heartbeat_interval = 0",
                "[watchdog]", "sysmon_service = sfwd-lazy-sm",
                "check_interval = 1s",
                "[input:in]", "type = file", "path = " + empty,
                "follow = true",
                "[output:out]", "type = file",
                "path = " + os.path.join(d, "out.ndjson")]) + "\n")
            inner = ("mount -t tmpfs sfwd-lazy /run/systemd 2>/dev/null || "
                     "{ mkdir -p /run/systemd && mount -t tmpfs sfwd-lazy "
                     "/run/systemd; } && mkdir /run/systemd/system && "
                     "exec \"$@\"")
            argv = ["unshare", "--mount", "--propagation", "private", "--",
                    "sh", "-c", inner, "sh"]
            if override:
                argv += ["env", "LD_LIBRARY_PATH=" + bad]
            a = it.Agent(argv + [args.bin, "-c", conf],
                         os.path.join(d, "err.txt"))
            try:
                ok = ck.check(it.wait_log(
                    a.err_path, r"watchdog: Sysmon \(sfwd-lazy-sm\) is "
                    r"running", WAIT), "%s: the watchdog did not find the "
                    "stand-in running within %d s: %s" %
                    (what, WAIT, it.short(a.stderr())))
                if ok and not override:
                    ck.check("libsystemd.so.0" in mapped(a.pid),
                             what + ": libsystemd.so.0 is not mapped after "
                             "the first check")
                err = a.stop_ok(ck, what)
                lines = [ln for ln in err.splitlines()
                         if "libsystemd.so.0" in ln]
                if override:
                    ck.eq(len(lines), 1, what + ": log lines naming "
                          "libsystemd.so.0")
                    ck.check(lines and lines[0].startswith(
                        "sysmonfwd: warn: watchdog: asking systemd needs "
                        "libsystemd.so.0, which cannot be loaded") and
                        "libsystemd0" in lines[0] and
                        "looking at /proc instead" in lines[0],
                        what + ": the line: %r" % lines)
                else:
                    ck.eq(lines, [], what + ": log lines naming "
                          "libsystemd.so.0")
            finally:
                a.close()
    finally:
        sb.kill()


def body(args, ck, tmp):
    part_file_only(args, ck, tmp)
    part_both_inputs(args, ck, tmp)
    bad = broken_libs(tmp)
    part_missing(args, ck, tmp, bad)
    part_watchdog(args, ck, tmp, bad)


if __name__ == "__main__":
    it.run_parts("lazy_libs", "sfwd-lazy-", body)
