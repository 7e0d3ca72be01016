"""compare_docs.py - the documents of sysmonfwd.exe under Wine against the
Linux build's for the same records, field by field: shared by the Wine
scenarios of tests/cross/.

    python3 tests/cross/compare_docs.py WINE.ndjson LINUX.ndjson

Exit 0 when every document is equal but for the fields that carry the
wall clock of the run in the agent's own documents (alerts, heartbeats:
@timestamp, sysmonfwd.sysmon.changed, sysmonfwd.sysmon.last_record), each
set aside printed as "set aside (wall clock of the run): KIND: FIELD";
exit 1 with every difference printed.  Nothing of a Sysmon record is ever
set aside.  compare() is importable.
"""
import json
import sys

CLOCK = {"@timestamp", "sysmonfwd.sysmon.changed",
         "sysmonfwd.sysmon.last_record"}


def docs(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def flat(d, pre=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, pre + k + "."))
        else:
            out[pre + k] = v
    return out


def compare(wine, linux, out=sys.stdout):
    """1 when the documents of the two files differ, else 0."""
    w, l = docs(wine), docs(linux)
    bad = 0
    aside = set()
    if len(w) != len(l):
        print(f"    {len(w)} documents under Wine, {len(l)} on Linux",
              file=out)
        bad = 1
    for i, (a, b) in enumerate(zip(w, l)):
        fa, fb = flat(a), flat(b)
        own = fa.get("event.kind") in ("alert", "metric")
        for k in sorted(set(fa) | set(fb)):
            if fa.get(k) == fb.get(k):
                continue
            if own and k in CLOCK:
                aside.add(f"{fa.get('event.kind')}: {k}")
                continue
            print(f"    document {i + 1}: {k}: Wine {fa.get(k)!r},"
                  f" Linux {fb.get(k)!r}", file=out)
            bad = 1
    for a in sorted(aside):
        print(f"    set aside (wall clock of the run): {a}", file=out)
    return bad


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: compare_docs.py WINE.ndjson LINUX.ndjson")
    sys.exit(compare(sys.argv[1], sys.argv[2]))
