"""Conformance of the agent's documents to the real Sysmon corpus.

The agent is run once per corpus source file (every windows-xml/*.log file,
the elastic Sysmon for Linux sample with its CRLF line ends and the eight
Wazuh Sysmon for Linux files), with follow = false, a file output and
--once.  Each line of those files that contains "<Event" is parsed
independently with Python's xml.etree.ElementTree (the part from "<Event"
on), and the documents are compared with it record by record, in order:
winlog.event_id, winlog.record_id, winlog.computer_name, winlog.channel,
winlog.provider_name, winlog.provider_guid, winlog.time_created,
winlog.user.identifier and every winlog.event_data key and value (the Data
elements' Name attribute and text, '' when empty), as exact strings and in
the same order; @timestamp must be TimeCreated cut to milliseconds with a
"Z".  The number of documents must equal the number of records per file
(no parse errors, non-record syslog lines ignored), the Windows total must
be 845, and the two Security-Auditing events (4624, 5145) of the
ImpersonateUser file must be present like the Sysmon ones.
"""
import os
import sys
import tempfile

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysmonfwd_it as it  # noqa: E402


def main():
    args = it.parse_args()
    ck = it.Checker("integration_conformance")
    corpus = args.corpus
    win = it.windows_files(corpus)
    linux = it.linux_files(corpus)
    ck.eq(len(win), 13, "number of windows-xml/*.log files")
    ck.eq(len(linux), 9, "number of linux-syslog files")

    totals = {"windows": 0, "linux": 0}
    providers = {}
    with tempfile.TemporaryDirectory(prefix="sysmonfwd-conf-") as tmp:
        for n, path in enumerate(win + linux):
            kind = "windows" if path in win else "linux"
            name = os.path.basename(path)
            with open(path, "rb") as f:
                raw = f.read()
            lines = raw.split(b"\n")
            records = [l for l in lines if b"<Event" in l]
            others = [l for l in lines if b"<Event" not in l and
                      l.strip(b"\r") != b""]
            expected = [it.expected_from_line(l) for l in records]
            out = os.path.join(tmp, "out%d.ndjson" % n)
            cfg = it.write_config(os.path.join(tmp, "c%d.conf" % n),
                                  it.simple_config(tmp, path, out,
                                                   state_dir=os.path.join(
                                                       tmp, "st%d" % n)))
            res = it.run(args.bin, ["-c", cfg, "--once"], timeout=60)
            err = res.stderr.decode("utf-8", "replace")
            if not ck.eq(res.returncode, 0, "%s: exit code" % name):
                print(err)
                continue
            docs, problems = it.read_ndjson(out)
            for p in problems:
                ck.fail("%s: %s" % (name, p))
            ck.eq(len(docs), len(records), "%s: number of documents" % name)
            summ = it.summary_numbers(err)
            if ck.check(summ is not None, "%s: no summary on stderr: %s" %
                        (name, err)):
                ck.eq(summ["parse_errors"], 0, name + ": parse errors")
                ck.eq(summ["read"], len(records), name + ": records read")
                ck.eq(summ["ignored"], len(others),
                      name + ": non-record lines ignored")
            for i, (doc, exp) in enumerate(zip(docs, expected)):
                it.compare(ck, "%s record %d (id %s)" % (name, i + 1,
                                                     exp["record_id"]),
                        doc, exp)
                if isinstance(doc, dict):
                    p = doc.get("winlog", {}).get("provider_name")
                    eid = doc.get("winlog", {}).get("event_id")
                    providers[(p, eid)] = providers.get((p, eid), 0) + 1
            totals[kind] += len(docs)

    ck.eq(totals["windows"], 845, "total Windows documents")
    ck.eq(totals["linux"], 36 + 18, "total Sysmon for Linux documents")
    for eid in ("4624", "5145"):
        ck.eq(providers.get(("Microsoft-Windows-Security-Auditing", eid)),
              1, "Security-Auditing %s documents" % eid)
    ck.eq(providers.get(("Microsoft-Windows-Sysmon", "7")), 541,
          "Sysmon EventID 7 documents")
    ck.finish()


if __name__ == "__main__":
    main()
