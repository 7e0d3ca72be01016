#!/usr/bin/env bash
#
# agent-wine.sh - the whole agent on Windows, run under Wine: builds
# build-win/sysmonfwd.exe (cmake with packaging/windows/mingw-w64.cmake,
# against the cached libraries of packaging/windows/build-deps.sh) and
# checks, under Wine:
#
#   1. it is a static x86-64 PE executable importing only system DLLs;
#   2. --version and --help (exit 0);
#   3. --check-config: a valid config (exit 0, "configuration OK"), and an
#      invalid one (exit 2, "FILE:LINE: key: problem" lines, among them
#      "type: journald is Linux only");
#   4. file -> file with --once, for each Windows XML file of the corpus
#      (../shared/corpus/windows-xml/*.xml.log, or SYSMONFWD_CORPUS_DIR):
#      every record forwarded, and, when a Linux build is at hand
#      (SYSMONFWD=path, else build/sysmonfwd, else build-exe/sysmonfwd),
#      the documents equal to the Linux build's for the same input once
#      the fields that carry the wall clock of the run are set aside (the
#      agent's own alert and heartbeat documents: @timestamp and
#      sysmonfwd.sysmon.changed / last_record); the fields set aside are
#      printed;
#   5. the stdout output: the same bytes as the file output (no "\r\n");
#   6. follow mode: lines appended while the agent runs reach the output
#      within a few seconds, and the idle agent uses (almost) no CPU time
#      (no busy polling).  The agent is then killed: Wine gives a process
#      started without a console no Ctrl+C, so the console stop request
#      (SetConsoleCtrlHandler) is not exercised here;
#   7. evtx -> file: the corpus's .evtx files (libevtx in the exe) equal to
#      the Linux build's documents; followed, a file replaced by another
#      of the same name is read anew (identity: volume and file index).
#
# Not in tests/run-all.sh or .ci/run yet.  WINEPREFIX (default
# /tmp/wine-agent) is created when missing; WINE picks the Wine loader
# (default /usr/lib/wine/wine64, else wine).  Exits non-zero on any
# failure; skips (exit 0) when mingw-w64, Wine or the built Windows
# libraries are missing, except under CI (CI=true), where that fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD

# in_ci, need
# shellcheck source=tests/cross/common.sh
. tests/cross/common.sh

fails=0
fail() {
	echo "agent-wine.sh: FAILED: $*" >&2
	fails=$((fails + 1))
}

# wine, cc, build, exe, linux, WINEPREFIX (default /tmp/wine-agent)
win_setup agent-wine.sh

# 1. what was built
desc=$(file -b "$exe")
case $desc in
*PE32+*x86-64*) ;;
*) fail "$exe is not a PE32+ x86-64 executable: $desc" ;;
esac
dlls=$(x86_64-w64-mingw32-objdump -p "$exe" | awk '/DLL Name:/ {print $3}' |
    tr '[:upper:]' '[:lower:]' | sort -u | tr '\n' ' ')
echo "agent-wine.sh: $exe imports: $dlls"
for d in $dlls; do
	case $d in
	msvcrt.dll | kernel32.dll | advapi32.dll | bcrypt.dll | crypt32.dll | \
	    user32.dll | ws2_32.dll | wevtapi.dll) ;;
	*) fail "$exe needs $d, which is not a system DLL (not static?)" ;;
	esac
done

work=$(mktemp -d)
follow_pid=
cleanup() {
	if [ -n "$follow_pid" ]; then
		kill "$follow_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# Run the exe in directory $1 with the rest as arguments; the output
# with Wine's "\r\n" made "\n" in $work/out.txt, the exit code in rc.
run() {
	local dir=$1
	shift
	rc=0
	(cd "$dir" && "$wine" "$exe" "$@") >"$work/out.txt" 2>&1 || rc=$?
	tr -d '\r' <"$work/out.txt" >"$work/out.tmp"
	mv "$work/out.tmp" "$work/out.txt"
}

# 2. --version, --help
run "$work" --version
if [ "$rc" != 0 ] || ! grep -q '^sysmonfwd [0-9]' "$work/out.txt"; then
	fail "--version: exit $rc: $(cat "$work/out.txt")"
else
	echo "agent-wine.sh: --version: $(cat "$work/out.txt")"
fi
run "$work" --help
if [ "$rc" != 0 ] || ! grep -q -- '--check-config' "$work/out.txt"; then
	fail "--help: exit $rc"
else
	echo "agent-wine.sh: --help: exit 0, $(wc -l <"$work/out.txt") lines"
fi

# 3. --check-config
mkdir -p "$work/cfg"
cat >"$work/cfg/good.conf" <<'EOF'
[agent]
name = wine-check
state_dir = state
[input:corpus]
type = file
path = in.log
follow = false
[output:out]
type = file
path = out.ndjson
EOF
cat >"$work/cfg/bad.conf" <<'EOF'
[agent]
state_dir = state
[input:journal]
type = journald
[input:x]
type = file
bogus = 1
[output:out]
type = file
EOF
run "$work/cfg" --check-config -c good.conf
if [ "$rc" != 0 ] || ! grep -q 'configuration OK' "$work/out.txt"; then
	fail "--check-config of a valid config: exit $rc:" \
	    "$(cat "$work/out.txt")"
else
	echo "agent-wine.sh: --check-config (valid): exit 0"
fi
run "$work/cfg" --check-config -c bad.conf
echo "agent-wine.sh: --check-config (invalid): exit $rc:"
sed 's/^/    /' "$work/out.txt"
[ "$rc" = 2 ] || fail "--check-config of an invalid config: exit $rc, not 2"
for want in 'bad.conf:4: type: journald is Linux only' \
    'bad.conf:7: bogus: unknown key in \[input:x\]' \
    'bad.conf:8: path: missing in \[output:out\]'; do
	grep -q "^$want" "$work/out.txt" || fail "--check-config: no '$want'"
done

# 4. file -> file, the corpus's Windows records
corpus=${SYSMONFWD_CORPUS_DIR:-$top/../shared/corpus}/windows-xml
[ -n "$linux" ] || echo "agent-wine.sh: no Linux build (build/sysmonfwd):" \
    "the documents are not compared with Linux's"

# The documents of two runs, equal but for the wall-clock fields of the
# agent's own documents; prints what was set aside.  Exit 1 on a
# difference.
compare() {
	python3 "$top/tests/cross/compare_docs.py" "$1" "$2"
}

n=0
for f in "$corpus"/*.xml.log; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	name=$(basename "$f" .xml.log)
	for side in win lin; do
		mkdir -p "$work/$side/$n"
		cp "$f" "$work/$side/$n/in.log"
		cp "$work/cfg/good.conf" "$work/$side/$n/"
	done
	records=$(grep -c '<Event[ >]' "$f" || true)
	run "$work/win/$n" --once -c good.conf
	got=$(grep -c '"kind":"event"' "$work/win/$n/out.ndjson" 2>/dev/null ||
	    true)
	if [ "$rc" != 0 ]; then
		fail "$name: --once under Wine: exit $rc:" \
		    "$(tail -3 "$work/out.txt")"
		continue
	fi
	if [ -z "$linux" ]; then
		echo "agent-wine.sh: $name: exit 0, $got documents of events"
		continue
	fi
	(cd "$work/lin/$n" && "$linux" --once -c good.conf) \
	    >"$work/lin.txt" 2>&1 ||
	    fail "$name: --once on Linux: $(tail -3 "$work/lin.txt")"
	if compare "$work/win/$n/out.ndjson" "$work/lin/$n/out.ndjson" \
	    >"$work/cmp.txt"; then
		echo "agent-wine.sh: $name: exit 0, $got documents of" \
		    "events ($records <Event> lines), the same as Linux's"
		sort -u "$work/cmp.txt" >>"$work/aside.txt"
	else
		fail "$name: documents differ from Linux's:"
		cat "$work/cmp.txt" >&2
	fi
done
[ "$n" -gt 0 ] || fail "no corpus file in $corpus"
if [ -s "$work/aside.txt" ]; then
	sort -u "$work/aside.txt"
fi

# 5. stdout: the same bytes as the file output
if [ "$n" -gt 0 ]; then
	mkdir -p "$work/so"
	cp "$work/win/1/in.log" "$work/so/"
	sed -e '/^\[output:out\]$/,$s/^type = file$/type = stdout/' \
	    -e '/^path = out.ndjson$/d' "$work/cfg/good.conf" \
	    >"$work/so/good.conf"
	rc=0
	(cd "$work/so" && "$wine" "$exe" --once -c good.conf) \
	    >"$work/so/stdout.ndjson" 2>"$work/so/err.txt" || rc=$?
	if [ "$rc" != 0 ]; then
		fail "stdout output: exit $rc: $(cat "$work/so/err.txt")"
	elif grep -q $'\r' "$work/so/stdout.ndjson"; then
		fail "stdout output: \\r in the documents (text mode)"
	elif ! diff <(grep '"kind":"event"' "$work/so/stdout.ndjson") \
	    <(grep '"kind":"event"' "$work/win/1/out.ndjson") >/dev/null; then
		fail "stdout output: not the file output's documents"
	else
		echo "agent-wine.sh: stdout output: the file output's" \
		    "documents, byte for byte"
	fi
fi

# 6. follow: appended lines arrive; the idle agent does not spin
if [ "$n" -gt 0 ]; then
	mkdir -p "$work/fo"
	f=$(find "$corpus" -name "*.xml.log" | sort | head -1)
	head -3 "$f" >"$work/fo/in.log"
	sed 's/^follow = false$/follow = true/' "$work/cfg/good.conf" \
	    >"$work/fo/good.conf"
	(cd "$work/fo" && exec "$wine" "$exe" -c good.conf) \
	    >"$work/fo/err.txt" 2>&1 &
	follow_pid=$!
	ticks() {
		awk '{print $14 + $15}' "/proc/$follow_pid/stat" 2>/dev/null ||
		    echo 0
	}
	count() {
		local c
		c=$(grep -c '"kind":"event"' "$work/fo/out.ndjson" \
		    2>/dev/null || true)
		echo "${c:-0}"
	}
	for _ in $(seq 50); do
		[ "$(count)" -ge 3 ] && break
		sleep 0.2
	done
	t0=$(ticks)
	sleep 3
	t1=$(ticks)
	hz=$(getconf CLK_TCK)
	sed -n '4,6p' "$f" >>"$work/fo/in.log"
	for _ in $(seq 50); do
		[ "$(count)" -ge 6 ] && break
		sleep 0.2
	done
	got=$(count)
	kill "$follow_pid" 2>/dev/null || true
	wait "$follow_pid" 2>/dev/null || true
	follow_pid=
	echo "agent-wine.sh: follow: CPU time idle for 3 s:" \
	    "$((t1 - t0)) ticks of 1/$hz s; $got of 6 records forwarded" \
	    "(3 appended while running)"
	[ "$got" -ge 6 ] || fail "follow: $got of 6 records forwarded"
	# More than 10 % of a CPU while idle is polling.
	[ $((t1 - t0)) -le $((3 * hz / 10)) ] ||
	    fail "follow: $((t1 - t0)) ticks of CPU in 3 s idle (polling?)"
fi

# 7. evtx -> file: the corpus's .evtx files through libevtx inside the
# exe, a directory read whole, equal to the Linux build's documents; then,
# followed, a file replaced by another of the same name is read anew (the
# file's identity is the volume and file index on Windows).
evtx=${SYSMONFWD_CORPUS_DIR:-$top/../shared/corpus}/evtx
if [ -d "$evtx" ] && [ -n "$linux" ]; then
	for side in win lin; do
		mkdir -p "$work/ev-$side/logs"
		cp "$evtx"/*.evtx "$work/ev-$side/logs/"
		cat >"$work/ev-$side/ev.conf" <<'EOF2'
[agent]
name = wine-evtx
state_dir = state
[input:evtx]
type = evtx
path = logs
start = beginning
follow = false
[output:out]
type = file
path = out.ndjson
EOF2
	done
	run "$work/ev-win" --once -c ev.conf
	[ "$rc" = 0 ] || fail "evtx: --once under Wine: exit $rc:" \
	    "$(tail -3 "$work/out.txt")"
	(cd "$work/ev-lin" && "$linux" --once -c ev.conf) \
	    >"$work/lin.txt" 2>&1 ||
	    fail "evtx: --once on Linux: $(tail -3 "$work/lin.txt")"
	got=$(grep -c '"kind":"event"' "$work/ev-win/out.ndjson" 2>/dev/null ||
	    true)
	if compare "$work/ev-win/out.ndjson" "$work/ev-lin/out.ndjson" \
	    >"$work/cmp.txt" && [ "${got:-0}" -gt 0 ]; then
		echo "agent-wine.sh: evtx: $got documents from" \
		    "$(find "$evtx" -name '*.evtx' | wc -l) .evtx files, the" \
		    "same as Linux's"
	else
		fail "evtx: ${got:-0} documents, not Linux's:"
		cat "$work/cmp.txt" >&2
	fi

	# Followed: one file, then another .evtx copied over it.
	mkdir -p "$work/evf/logs"
	a=$(find "$evtx" -name '*.evtx' | sort | head -1)
	b=$(find "$evtx" -name '*.evtx' | sort | sed -n 2p)
	cp "$a" "$work/evf/logs/sysmon.evtx"
	sed -e 's/^follow = false$/follow = true/' \
	    -e 's/^path = logs$/path = logs\/sysmon.evtx/' \
	    "$work/ev-win/ev.conf" >"$work/evf/ev.conf"
	na=$(cd "$work/ev-lin" && mkdir -p one && cp "$a" one/x.evtx &&
	    sed 's/^path = logs$/path = one/; s/out.ndjson/one.ndjson/' \
	    ev.conf >one.conf && "$linux" --once -c one.conf >/dev/null 2>&1 &&
	    grep -c '"kind":"event"' one.ndjson)
	nb=$(cd "$work/ev-lin" && mkdir -p two && cp "$b" two/x.evtx &&
	    sed 's/^path = logs$/path = two/; s/out.ndjson/two.ndjson/' \
	    ev.conf >two.conf && "$linux" --once -c two.conf >/dev/null 2>&1 &&
	    grep -c '"kind":"event"' two.ndjson)
	(cd "$work/evf" && exec "$wine" "$exe" -c ev.conf) \
	    >"$work/evf/err.txt" 2>&1 &
	follow_pid=$!
	evcount() {
		local c
		c=$(grep -c '"kind":"event"' "$work/evf/out.ndjson" \
		    2>/dev/null || true)
		[ "${c:-0}" -ge "$1" ]
	}
	if ! wait_for 120 evcount "$na"; then
		fail "evtx follow: the first file's $na records did not arrive"
	else
		cp "$b" "$work/evf/logs/sysmon.evtx.new"
		mv "$work/evf/logs/sysmon.evtx.new" "$work/evf/logs/sysmon.evtx"
		if wait_for 120 evcount $((na + nb)); then
			echo "agent-wine.sh: evtx follow: $na records, then the" \
			    "$nb of a file put in its place"
		else
			fail "evtx follow: the replacing file's $nb records did" \
			    "not arrive: $(tr -d '\r' <"$work/evf/err.txt" |
			    tail -3)"
		fi
	fi
	kill "$follow_pid" 2>/dev/null || true
	wait "$follow_pid" 2>/dev/null || true
	follow_pid=
elif in_ci; then
	fail "evtx: no corpus .evtx ($evtx) or no Linux build"
fi

if [ "$fails" -gt 0 ]; then
	echo "agent-wine.sh: $fails check(s) FAILED" >&2
	exit 1
fi
echo "agent-wine.sh: OK"
