#!/usr/bin/env bash
#
# run-all.sh - build sysmonfwd and run every test (unit, integration, fault)
# twice: a normal build with warnings as errors, then a build under
# AddressSanitizer + UndefinedBehaviorSanitizer.  This is the README's test
# command (after packaging/install-deps.sh) and what .ci/run runs.
#
# The tests read the shared Sysmon corpus from ../shared/corpus (next to
# the repository); set SYSMONFWD_CORPUS_DIR to use another place.
set -euo pipefail
cd "$(dirname "$0")/.."

corpus=${SYSMONFWD_CORPUS_DIR:-$(pwd)/../shared/corpus}
if [ ! -f "$corpus/MANIFEST.md" ]; then
	echo "run-all.sh: no Sysmon corpus at $corpus" >&2
	exit 1
fi
jobs=$(nproc 2>/dev/null || echo 2)

run() {
	local dir=$1
	shift
	echo "== build $dir ($*)"
	cmake -S . -B "$dir" -DSYSMONFWD_WERROR=ON \
		-DSYSMONFWD_CORPUS_DIR="$corpus" "$@" >/dev/null
	cmake --build "$dir" -j"$jobs"
	echo "== test $dir"
	(cd "$dir" && ctest --output-on-failure -j"$jobs")
}

run build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run build-asan -DSYSMONFWD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
bash tests/cross/cross-build.sh	# the Windows-only sources (mingw-w64)

# A short libFuzzer run over the parser and every renderer (attacker-
# controlled text), seeded with the real corpus read in place.  Any crash,
# leak, undefined behaviour or invalid JSON fails the run.
echo "== fuzz tests/fuzz/fuzz_event.c (30 s)"
fuzz_dir=$(mktemp -d)
trap 'rm -rf "$fuzz_dir"' EXIT
clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
	-Iagent -Ibuffer -Iconfig tests/fuzz/fuzz_event.c agent/event.c \
	agent/render.c agent/render_wazuh.c agent/strbuf.c agent/timeutil.c \
	-lexpat -lcjson -lcrypto \
	-o "$fuzz_dir/fuzz_event"
mkdir "$fuzz_dir/corpus"
# A finding is written under $fuzz_dir and its report shown in full.
if ! "$fuzz_dir/fuzz_event" -max_total_time=30 -max_len=8192 \
	-print_final_stats=1 -artifact_prefix="$fuzz_dir/" \
	"$fuzz_dir/corpus" "$corpus/windows-xml" "$corpus/linux-syslog" \
	>"$fuzz_dir/log" 2>&1; then
	grep -v '^#[0-9]' "$fuzz_dir/log" | tail -n 60
	for f in "$fuzz_dir"/crash-* "$fuzz_dir"/leak-* "$fuzz_dir"/oom-*; do
		[ -f "$f" ] && { echo "input $f:"; od -c "$f" | head -n 20; }
	done
	echo "fuzz: FAILED" >&2
	exit 1
fi
tail -n 3 "$fuzz_dir/log"
echo "fuzz: no crash"
