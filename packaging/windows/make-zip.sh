#!/usr/bin/env bash
#
# make-zip.sh - the Windows release artefact: sysmonfwd-VERSION-win64.zip.
#
#   bash packaging/windows/make-zip.sh [BUILD_DIR]
#
# BUILD_DIR (default build-win) holds a sysmonfwd.exe built with
# packaging/windows/mingw-w64.cmake; the zip is written there and its path
# is the only line printed on standard output.  Inside, under one folder
# sysmonfwd-VERSION-win64\:
#
#   sysmonfwd.exe     the agent, stripped of its debugging symbols
#   sysmonfwd.conf    the default Windows configuration (the one
#                     --install-service writes when there is none)
#   README.txt        packaging/windows/README-windows.txt: install,
#                     files, uninstall
#   sysmon\           packaging/sysmon/indextts-windows.xml, the Sysmon
#                     configuration for IndexTTS hosts
#   filters\          packaging/filters/*.xml, the [filter] (noise) and
#                     [tag] (detections) rules for it
#   licenses\         the copyright files of every library linked into
#                     the exe (each Debian source package's
#                     debian/copyright, kept by build-deps.sh) and of the
#                     mingw-w64 runtime, and VERSIONS: what was built from
#                     which Debian package
#
# The zip is reproducible: entries in a fixed order, every timestamp the
# last commit's (SOURCE_DATE_EPOCH when set), text files with CRLF line
# ends for Notepad.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top/build-win}" && pwd)
host=x86_64-w64-mingw32

die() { echo "make-zip.sh: $*" >&2; exit 1; }

exe=$build/sysmonfwd.exe
[ -f "$exe" ] || die "no $exe: build it first (README, Windows)"
case $(file -b "$exe") in
*PE32+*x86-64*) ;;
*) die "$exe is not a PE32+ x86-64 executable" ;;
esac
version=$(sed -n 's/^project(sysmonfwd VERSION \([0-9.]*\).*/\1/p' \
    "$top/CMakeLists.txt")
[ -n "$version" ] || die "no version in $top/CMakeLists.txt"
conf=$here/sysmonfwd.conf
[ -f "$conf" ] || die "no default Windows configuration $conf"
prefix=$(bash "$here/build-deps.sh" --print-prefix 2>/dev/null) ||
    die "the Windows libraries are not built (bash $here/build-deps.sh)"
[ -d "$prefix/share/licenses" ] ||
    die "$prefix has no share/licenses: rebuild it with $here/build-deps.sh"

name=sysmonfwd-$version-win64
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/$name
mkdir -p "$root/licenses"
cp "$conf" "$root/sysmonfwd.conf"
# The commands in the README name this version's folder.
sed "s/sysmonfwd-VERSION-win64/$name/g" "$here/README-windows.txt" \
    >"$root/README.txt"
# The IndexTTS Sysmon configuration for Windows, and the [filter] and
# [tag] rule files that go with it.
mkdir -p "$root/sysmon" "$root/filters"
cp "$top/packaging/sysmon/indextts-windows.xml" "$root/sysmon/"
cp "$top"/packaging/filters/*.xml "$root/filters/"
for d in "$prefix"/share/licenses/*/; do
	cp "$d/copyright" "$root/licenses/$(basename "$d").txt"
done
for p in mingw-w64-common gcc-mingw-w64-base; do
	cp "/usr/share/doc/$p/copyright" "$root/licenses/$p.txt"
done
cp "$prefix/VERSIONS" "$root/licenses/VERSIONS.txt"

epoch=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null ||
    date +%s)}
# strip stamps the PE header with the time, unless SOURCE_DATE_EPOCH.
SOURCE_DATE_EPOCH=$epoch "$host-strip" -o "$root/sysmonfwd.exe" "$exe"
zip=$build/$name.zip
python3 - "$stage" "$name" "$zip" "$epoch" <<'PY'
import os, sys, time, zipfile
stage, name, out, epoch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# A zip's timestamps start in 1980.
when = time.gmtime(max(epoch, 315532800))[:6]
text = (".txt", ".conf", ".xml")
with zipfile.ZipFile(out + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
    for dirpath, dirs, files in os.walk(os.path.join(stage, name)):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            arc = os.path.relpath(path, stage).replace(os.sep, "/")
            data = open(path, "rb").read()
            if f.endswith(text):
                data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            info = zipfile.ZipInfo(arc, when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
os.replace(out + ".tmp", out)
PY
echo "$zip"
