"""Garbage mixed into a real corpus file is forwarded tagged, never fatal.

A real Windows corpus file (sysmon_1_7_elevate_uacbypass_sysprep, 15
records, one of them with a value that is a single newline) gets bad lines
inserted between its records: random binary bytes (invalid UTF-8, control
characters, a NUL), a real record cut in the middle, a real record with
mismatched tags, a plain text line, a billion-laughs <!DOCTYPE entity bomb
in front of an <Event> that references it, a real record with a NUL byte
inside, a real record with an invalid UTF-8 byte inside, and a 3 MiB line
(longer than the default max_line_size of 1 MiB) that starts like a record.
The agent runs with follow = false and --once.  Checked: exit code 0; the
output file is valid NDJSON (strict UTF-8, strict JSON); every real record
comes out in order and unchanged (compared with xml.etree like the
conformance test); each bad line gives exactly one document with tags
containing sysmonfwd_parse_error, event.kind pipeline_error, a non-empty
error.message and message holding the raw text (exactly, or with invalid
bytes replaced by U+FFFD); only the overlong line's document has the tag
sysmonfwd_truncated and its message is the first 1 MiB of the line; the
entity bomb is not expanded; the stderr summary counts the parse errors and
the cut line.
"""
import os
import random
import sys
import tempfile

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402

MAX_LINE = 1 << 20
FFFD = "\ufffd"


def random_binary(seed):
    rnd = random.Random(seed)
    # Fixed nasties first: NUL, control characters, ESC, DEL, a lone
    # continuation byte, a cut 2-byte sequence, an overlong '/', a UTF-16
    # surrogate encoded in UTF-8, 0xFF/0xFE, a code point past U+10FFFF.
    b = bytearray(b"\x00\x01\x02\x07\x08\x0b\x0c\x1b\x7f\x80\xc3(\xc0\xaf"
                  b"\xed\xa0\x80\xff\xfe\xf4\x90\x80\x80 \t valid text \xe2"
                  b"\x82\xac (euro) ")
    b += bytes(rnd.randrange(256) for _ in range(600))
    b = b.replace(b"\n", b"\x00")
    if b.endswith(b"\r"):
        b += b"x"
    return bytes(b)


def billion_laughs():
    ents = b'<!ENTITY lol "lol">'
    for i in range(1, 10):
        prev = b"lol" if i == 1 else b"lol%d" % (i - 1)
        ents += b'<!ENTITY lol%d "%s">' % (i, (b"&" + prev + b";") * 10)
    return (b'<?xml version="1.0"?><!DOCTYPE Event [' + ents + b"]>"
            b"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/"
            b"event'><System><Provider Name='Microsoft-Windows-Sysmon'/>"
            b"<EventID>1</EventID><EventRecordID>1</EventRecordID></System>"
            b"<EventData><Data Name='CommandLine'>&lol9;</Data></EventData>"
            b"</Event>")


def main():
    args = it.parse_args()
    ck = it.Checker("integration_malformed")
    src = os.path.join(args.corpus, "windows-xml",
                       "sysmon_1_7_elevate_uacbypass_sysprep.xml.log")
    with open(src, "rb") as f:
        real = [l for l in f.read().split(b"\n") if b"<Event" in l]
    ck.eq(len(real), 15, "records in " + os.path.basename(src))

    r0 = real[0]
    cmd_at = r0.index(b"<Data Name='CommandLine'>") + len(
        b"<Data Name='CommandLine'>")
    bad = [
        ("random binary", random_binary(20240601)),
        ("cut record", real[1][:len(real[1]) // 2]),
        ("mismatched tags", real[2].replace(b"</System>", b"</Sytem>", 1)),
        ("plain text", b"this is just a plain line of text, not a record"),
        ("entity bomb", billion_laughs()),
        ("NUL in record", r0[:cmd_at] + b"cmd\x00.exe" + r0[cmd_at:]),
        ("invalid UTF-8 in record", r0[:cmd_at] + b"caf\xe9 \xff" +
         r0[cmd_at:]),
        ("3 MiB line", r0[:cmd_at] + b"A" * (3 * MAX_LINE) + r0[cmd_at:]),
    ]
    # Interleave: real, bad, real, bad, ... then the remaining real ones.
    layout = []
    for i, rec in enumerate(real):
        layout.append(("real", i, rec))
        if i < len(bad):
            layout.append(("bad", i, bad[i][1]))

    with tempfile.TemporaryDirectory(prefix="sysmonfwd-bad-") as tmp:
        inp = os.path.join(tmp, "mixed.log")
        out = os.path.join(tmp, "out.ndjson")
        with open(inp, "wb") as f:
            for _, _, line in layout:
                f.write(line + b"\n")
        cfg = it.write_config(os.path.join(tmp, "a.conf"),
                              it.simple_config(tmp, inp, out, name="mixed"))
        res = it.run(args.bin, ["-c", cfg, "--once"], timeout=60)
        err = res.stderr.decode("utf-8", "replace")
        ck.eq(res.returncode, 0, "exit code")
        docs, problems = it.read_ndjson(out)
        for p in problems:
            ck.fail(p)
        ck.eq(len(docs), len(layout), "number of documents (one per line)")

        for n, ((kind, i, line), doc) in enumerate(zip(layout, docs)):
            if not isinstance(doc, dict):
                continue
            if kind == "real":
                it.compare(ck, "real record %d (output line %d)" %
                           (i + 1, n + 1), doc, it.expected_from_line(line))
                continue
            what = "bad line %r (output line %d)" % (bad[i][0], n + 1)
            tags = doc.get("tags")
            ck.check(isinstance(tags, list) and
                     "sysmonfwd_parse_error" in tags,
                     "%s: tags %r lack sysmonfwd_parse_error" % (what, tags))
            truncated = bad[i][0] == "3 MiB line"
            ck.eq(isinstance(tags, list) and "sysmonfwd_truncated" in tags,
                  truncated, what + ": has tag sysmonfwd_truncated")
            ck.eq(doc.get("event", {}).get("kind"), "pipeline_error",
                  what + ": event.kind")
            ck.check("winlog" not in doc, what + ": has a winlog object")
            emsg = doc.get("error", {}).get("message")
            ck.check(isinstance(emsg, str) and emsg.strip() != "",
                     "%s: error.message missing or empty: %r" % (what, emsg))
            ck.eq(doc.get("labels", {}).get("sysmonfwd_input"), "mixed",
                  what + ": labels.sysmonfwd_input")
            msg = doc.get("message")
            if not ck.check(isinstance(msg, str), what + ": no message"):
                continue
            raw = line[:MAX_LINE] if truncated else line
            try:
                exact = raw.decode("utf-8")
            except UnicodeDecodeError:
                exact = None
            if exact is not None:
                ck.eq(msg, exact, what + ": message")
            else:
                # Per-byte or per-subpart replacement are both fine; what
                # is left must be the valid text, in order, and there must
                # be at least as many U+FFFD as Python's decoder puts.
                want = raw.decode("utf-8", "replace")
                ck.eq(msg.replace(FFFD, ""), want.replace(FFFD, ""),
                      what + ": message without U+FFFD")
                ck.check(msg.count(FFFD) >= want.count(FFFD),
                         "%s: %d U+FFFD in message, expected at least %d" %
                         (what, msg.count(FFFD), want.count(FFFD)))
            if bad[i][0] == "entity bomb":
                ck.check("lollollol" not in msg and len(msg) < 4096,
                         what + ": the entity bomb was expanded")
            if truncated:
                ck.eq(len(msg.encode("utf-8")), MAX_LINE,
                      what + ": message length in bytes")

        summ = it.summary_numbers(err)
        if ck.check(summ is not None, "no summary on stderr: " + err):
            ck.eq(summ["parse_errors"], len(bad), "summary: parse errors")
            ck.eq(summ["truncated"], 1, "summary: cut at max_line_size")
            ck.eq(summ["read"], len(layout), "summary: records read")
            ck.eq(summ["delivered"], len(layout), "summary: delivered")
        ck.check("max_line_size" in err and "warn" in err,
                 "stderr does not warn about the overlong line: " + err)
    ck.finish()


if __name__ == "__main__":
    main()
