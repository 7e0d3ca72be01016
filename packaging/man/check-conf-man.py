#!/usr/bin/env python3
"""check-conf-man.py - sysmonfwd.conf(5) against the agent's key table.

    check-conf-man.py [SOURCE_DIR]

Reads the key table keys[] of config/config.c (the one the agent parses
its configuration with), packaging/man/sysmonfwd.conf.5 and
packaging/sysmonfwd.conf, and fails (exit 1, every mismatch listed) when:

  - a key of the table is not documented in the man page, or is documented
    for other input or output types than the table allows it for, or the
    man page documents a key the table does not have;
  - a key's entry does not state the table's default ("Default: VALUE"),
    or does not name every value of an enumerated key;
  - a section of the table has no heading in the man page;
  - a key of the table is missing from packaging/sysmonfwd.conf (every key
    is shown there as "key = ...", commented out or not).

The man page's layout that this reads: one .SS heading per section,
".SS \"[output:\\fIname\\fP] with type = A, B or C\"" for keys of some types
only (no "with type" for keys of every type), and each key as ".TP" then
".B key".  The package build (CPack) and tests/package/deb-test.sh run it,
so the page cannot drift from the code.
"""
import re
import sys
from pathlib import Path

SECTIONS = {
    "AGENT": "agent", "BUFFER": "buffer", "INPUT": "input",
    "OUTPUT": "output", "WATCHDOG": "watchdog", "MONITOR": "monitor",
    "FILTER": "filter", "TAG": "tag", "REDACT": "redact",
}
TYPED = ("input", "output")
# Keys that packaging/sysmonfwd.conf names only in its prose, not as a
# "key = ..." line: they must still appear there as a word.
PROSE_ONLY = {
    # "password follows the rules of the HEC token above"; the example
    # lines show password_file.
    ("output", "password"),
}


def enum_arrays(src):
    """{array name: [(value name, C constant)]} of struct enum_val."""
    arrays = {}
    for m in re.finditer(r"struct enum_val (\w+)\[\] = \{(.*?)\n\};", src,
                         re.S):
        arrays[m.group(1)] = re.findall(r'\{ "([^"]+)", (\w+) \}',
                                        m.group(2))
    return arrays


def type_masks(src, arrays):
    """Macro name -> (section, set of type names), from the #defines."""
    const = {}
    for sect, arr in (("input", "input_types"), ("output", "output_types")):
        for name, c in arrays[arr]:
            const[c] = (sect, name)
    masks = {}

    def resolve(expr):
        sect, names = None, set()
        expr = expr.strip()
        if expr.startswith("(") and expr.endswith(")"):
            expr = expr[1:-1]
        for term in re.split(r"\s*\|\s*", expr):
            m = re.fullmatch(r"T\((\w+)\)", term)
            if m and m.group(1) in const:
                s, n = const[m.group(1)]
                sect, names = s, names | {n}
            elif term in masks:
                sect, names = masks[term][0], names | masks[term][1]
            else:
                raise SystemExit("check-conf-man: config.c: cannot read "
                                 "the type mask %r" % term)
        return sect, names

    # The type masks: "#define HEC\tT(CONFIG_OUTPUT_SPLUNK_HEC)" and
    # unions of them such as "#define HTTP\t(HEC | ES | WZ)".
    for m in re.finditer(r"^#define ([A-Z]+)\t+(T\(\w+\)|\([A-Z |]+\))",
                         src, re.M):
        masks[m.group(1)] = resolve(m.group(2))
    return masks, resolve


def read_keys(src):
    """[(section, key, default or None, enum array or None, mask expr)]."""
    table = re.search(r"struct config_key keys\[\] = \{(.*?)\n\};", src,
                      re.S)
    if table is None:
        raise SystemExit("check-conf-man: config.c: no keys[] table")
    keys = []
    entry = re.compile(
        r'\{\s*SEC_(\w+),\s*"(\w+)",\s*(K_\w+),\s*\w+\(\w+\),\s*'
        r'(NULL|"[^"]*"),\s*[^,]+,\s*[^,]+,\s*(\w+),\s*([^,]+?),\s*'
        r'(?:true|false)\s*\}', re.S)
    count = len(re.findall(r"\{\s*SEC_", table.group(1)))
    for m in entry.finditer(table.group(1)):
        sect, key, ktype, default, enums, mask = m.groups()
        keys.append((SECTIONS[sect], key,
                     None if default == "NULL" else default.strip('"'),
                     None if enums == "NULL" else enums, mask.strip()))
    if len(keys) != count:
        raise SystemExit("check-conf-man: config.c: read %d of the %d "
                         "entries of keys[]" % (len(keys), count))
    return keys


def plain(text):
    """Man page text without font changes and escapes."""
    text = re.sub(r"\\f[BIRP]", "", text)
    return text.replace("\\-", "-").replace("\\~", " ").replace("\\&", "")


def read_man(path):
    """{(section, key): [(set of types or None, entry text)]}, sections."""
    doc, headings = {}, set()
    sect, types, key, body = None, None, None, []
    lines = path.read_text().splitlines()

    def flush():
        if key is not None and sect is not None:
            doc.setdefault((sect, key), []).append((types, plain(
                "\n".join(body))))

    i = 0
    while i < len(lines):
        line = lines[i]
        h = re.match(r'^\.S[SH] "?(.*?)"?$', line)
        if h:
            flush()
            key, body = None, []
            m = re.fullmatch(r"\[(\w+)(?::\\fI\w+\\fP)?\]"
                             r"(?: with type = (.*))?", h.group(1))
            if m and line.startswith(".SS"):
                sect = m.group(1)
                headings.add(sect)
                types = (set(re.split(r",\s*|\s+or\s+", m.group(2)))
                         if m.group(2) else None)
            else:
                sect = types = None
        elif line == ".TP" and i + 1 < len(lines) and \
                lines[i + 1].startswith(".B "):
            flush()
            key, body = lines[i + 1][3:].strip(), []
            i += 1
        elif key is not None:
            body.append(line)
        i += 1
    flush()
    return doc, headings


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else
                Path(__file__).resolve().parents[2])
    src = (root / "config/config.c").read_text()
    man, headings = read_man(root / "packaging/man/sysmonfwd.conf.5")
    example = (root / "packaging/sysmonfwd.conf").read_text()
    arrays = enum_arrays(src)
    masks, resolve = type_masks(src, arrays)
    keys = read_keys(src)
    errors = []

    for sect in sorted(set(SECTIONS.values()) - headings):
        errors.append("no .SS heading for section [%s]" % sect)
    table = {}
    for sect, key, default, enums, mask in keys:
        table.setdefault((sect, key), []).append((default, enums, mask))
    for (sect, key), rows in sorted(table.items()):
        entries = man.get((sect, key))
        if not entries:
            errors.append("[%s] %s: not documented" % (sect, key))
            continue
        text = "\n".join(t for _, t in entries)
        documented = set()
        for types, _ in entries:
            documented |= {"*"} if types is None else types
        want = set()
        for default, enums, mask in rows:
            if sect in TYPED and mask != "ALL":
                want |= resolve(mask)[1]
            else:
                want.add("*")
            if default is not None and not re.search(
                    r"Default: %s(?!\w)" % re.escape(default), text):
                errors.append("[%s] %s: the default %r is not stated as "
                              "'Default: %s'" % (sect, key, default,
                                                 default))
            for name, _ in arrays.get(enums, []) if enums else []:
                if not re.search(r"(?<![\w.])%s(?![\w])" % re.escape(name),
                                 text):
                    errors.append("[%s] %s: the value %r is not named" %
                                  (sect, key, name))
        if key == "type" and sect in TYPED:
            for name, _ in arrays["%s_types" % sect]:
                if not re.search(r"\b%s\b" % re.escape(name), text):
                    errors.append("[%s] type: %r is not named" %
                                  (sect, name))
        if documented != want:
            errors.append("[%s] %s: documented for types %s, the table "
                          "has it for %s" % (sect, key, sorted(documented),
                                             sorted(want)))
        shown = (r"\b%s\b" if (sect, key) in PROSE_ONLY else
                 r"^[#;]?\s*%s\s*=") % re.escape(key)
        if not re.search(shown, example, re.M):
            errors.append("packaging/sysmonfwd.conf: [%s] %s is not shown "
                          "as '%s = ...'" % (sect, key, key))
    for (sect, key) in sorted(set(man) - set(table)):
        errors.append("[%s] %s: documented, but config.c has no such key" %
                      (sect, key))
    for e in errors:
        print("check-conf-man: sysmonfwd.conf.5: %s" % e, file=sys.stderr)
    if errors:
        return 1
    print("check-conf-man: sysmonfwd.conf(5) documents the %d keys of "
          "config.c (%d sections)" % (len(keys), len(headings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
