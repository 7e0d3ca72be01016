#!/usr/bin/env bash
#
# ring-wine.sh - the disk ring on Windows, run under Wine: the file calls
# of agent/base/sys_win.c (CreateFileW, ReadFile/WriteFile at offsets,
# FlushFileBuffers, SetEndOfFile, LockFileEx, MoveFileExW, FindFirstFileW,
# UTF-8 paths as UTF-16) doing what the ring needs, and the on-disk format
# being the same on both systems.  tests/cross/ring_smoke.c is built twice,
# natively and with mingw-w64, and:
#
#   1. selftest under Wine (lock, append, read, acknowledge, reopen,
#      position, torn tail cut off, inspect) in a directory with a
#      non-ASCII name;
#   2. a ring written on Linux is read under Wine, and one written under
#      Wine is read on Linux; the two rings, written from the same
#      records, are compared file by file (equal byte for byte);
#   3. the lock between processes: a ring held open by one Wine process
#      cannot be opened by another;
#   4. when a Linux sysmonfwd is at hand (SYSMONFWD=path, else
#      build/sysmonfwd if it exists) and the corpus too: the agent's own
#      ring after forwarding the corpus's Windows records is dumped on
#      both systems, record by record (seq, source, time, length, CRC),
#      and the dumps compared.
#
# Run by tests/run-all.sh after cross-build.sh, in a fresh prefix (about
# 10 s, the prefix's creation included).  libdeflate for Windows comes
# from packaging/windows/build-deps.sh's prefix (built when missing:
# about 12 minutes cold).  WINEPREFIX (default
# /tmp/wine-ring) is created when missing.  Exits non-zero on any
# failure; skips (exit 0) when mingw-w64, its zlib or Wine is missing,
# except under CI (CI=true), where that fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

# in_ci, need
# shellcheck source=tests/cross/common.sh
. tests/cross/common.sh

cc=${CC_MINGW:-x86_64-w64-mingw32-gcc}
wine=${WINE:-wine}
zlib_a=/usr/x86_64-w64-mingw32/lib/libz.a
command -v "$cc" >/dev/null 2>&1 ||
	need "$cc" "apt-get install gcc-mingw-w64-x86-64-win32"
[ -f "$zlib_a" ] ||
	need "zlib for mingw-w64" "apt-get install libz-mingw-w64-dev"
command -v "$wine" >/dev/null 2>&1 || need "$wine" "apt-get install wine64"

export WINEPREFIX=${WINEPREFIX:-/tmp/wine-ring}
export WINEDEBUG=${WINEDEBUG:--all}
if [ ! -f "$WINEPREFIX/system.reg" ]; then
	echo "ring-wine.sh: creating the Wine prefix $WINEPREFIX"
	wineboot -i >/dev/null 2>&1
fi

work=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null || true; rm -rf "$work"' EXIT

# The warnings of the Linux build, as errors, on both.
warn=(-std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2
	-Wno-format-nonliteral -Werror -I agent/base -I buffer)
common=(tests/cross/ring_smoke.c agent/base/log.c agent/base/sys.c
	agent/base/base64.c buffer/buffer.c buffer/segment.c)
echo "ring-wine.sh: building ring_smoke (gcc) and ring_smoke.exe ($cc)"
deps=$(bash packaging/windows/build-deps.sh | tail -n 1)
mkdir -p "$work/include"
cp "$deps/include/libdeflate.h" "$work/include/"
gcc "${warn[@]}" -D_GNU_SOURCE -o "$work/ring_smoke" "${common[@]}" -lz \
	-ldeflate
"$cc" "${warn[@]}" -I "$work/include" -D_WIN32_WINNT=0x0601 -static \
	-o "$work/ring_smoke.exe" "${common[@]}" agent/base/sys_win.c \
	"$zlib_a" "$deps/lib/libdeflate.a"

lin() { "$work/ring_smoke" "$@"; }
# Wine's Z: is the host's /; its console ends lines with CR LF.
win() {
	local mode=$1 dir=$2
	"$wine" "$work/ring_smoke.exe" "$mode" "Z:$dir" | tr -d '\r'
}

echo "== 1. selftest under Wine"
win selftest "$work/win-self"
# The UTF-8 name reached Windows as the right UTF-16 and came back.
[ -d "$work/win-self/ring-ü日/cursors" ] || {
	echo "ring-wine.sh: the ring's UTF-8 directory name was not kept" >&2
	exit 1
}

echo "== 2. one format: Linux -> Windows, Windows -> Linux"
lin write "$work/lin"
win write "$work/win"
(cd "$work/lin" && find . -type f | sort) >"$work/lin.files"
(cd "$work/win" && find . -type f | sort) >"$work/win.files"
diff "$work/lin.files" "$work/win.files"
while read -r f; do
	cmp "$work/lin/$f" "$work/win/$f"
done <"$work/lin.files"
echo "ring-wine.sh: the rings written on Linux and under Wine are equal" \
	"byte for byte ($(wc -l <"$work/lin.files") files)"
cp -r "$work/lin" "$work/lin-to-win"
cp -r "$work/win" "$work/win-to-lin"
win read "$work/lin-to-win"
lin read "$work/win-to-lin"

echo "== 3. the lock between two Wine processes"
mkfifo "$work/hold.in"
# Not through win(): tr would hold "holding" back in its buffer.
"$wine" "$work/ring_smoke.exe" hold "Z:$work/win" <"$work/hold.in" \
	>"$work/hold.out" &
holder=$!
exec 3>"$work/hold.in"
for _ in $(seq 100); do
	grep -q holding "$work/hold.out" && break
	sleep 0.2
done
grep -q holding "$work/hold.out" || {
	echo "ring-wine.sh: the holding process did not open the ring" >&2
	exit 1
}
win busy "$work/win"
exec 3>&-
wait "$holder"
win read "$work/win"

echo "== 4. the agent's ring (sysmonfwd on Linux) read under Wine"
bin=${SYSMONFWD:-build/sysmonfwd}
corpus=${SYSMONFWD_CORPUS_DIR:-$(pwd)/../shared/corpus}
if [ ! -x "$bin" ] || [ ! -d "$corpus/windows-xml" ]; then
	echo "ring-wine.sh: SKIPPED: no $bin or no corpus at $corpus"
else
	cat >"$work/agent.conf" <<EOF
[agent]
name = ring-wine
state_dir = $work/agent
[input:corpus]
type = file
path = $corpus/windows-xml/*.log
follow = false
[output:local]
type = file
path = $work/agent.ndjson
EOF
	"$bin" -c "$work/agent.conf" --once 2>"$work/agent.log" || {
		cat "$work/agent.log" >&2
		exit 1
	}
	cp -r "$work/agent/buffer" "$work/agent-lin"
	cp -r "$work/agent/buffer" "$work/agent-win"
	lin dump "$work/agent-lin" | grep -v '^ring_smoke' >"$work/dump.lin"
	win dump "$work/agent-win" | grep -v '^ring_smoke' >"$work/dump.win"
	diff "$work/dump.lin" "$work/dump.win"
	echo "ring-wine.sh: the agent's ring reads the same under Wine:" \
		"$(grep -c '^rec ' "$work/dump.win") records;" \
		"$(grep '^inspect' "$work/dump.win")"
fi
echo "ring-wine.sh: OK"
