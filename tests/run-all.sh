#!/usr/bin/env bash
#
# run-all.sh - build sysmonfwd and run every test (unit, integration, fault)
# twice: a normal build with warnings as errors, then a build under
# AddressSanitizer + UndefinedBehaviorSanitizer, then short fuzz runs,
# then the Windows agent under Wine (tests/cross/windows-all.sh).  This is
# the README's test command (after packaging/install-deps.sh) and what
# .ci/run runs.
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
# The ring on Windows, under Wine (a fresh prefix: about 10 s): the file
# calls of agent/base/sys_win.c, and the same on-disk format both ways.
wine_prefix=$(mktemp -d)
WINEPREFIX=$wine_prefix bash tests/cross/ring-wine.sh
WINEPREFIX=$wine_prefix wineserver -k 2>/dev/null || true
rm -rf "$wine_prefix"

# Short libFuzzer runs (30 s each) over whatever reads text the agent does
# not control: records (the parser and every renderer, seeded with the real
# corpus read in place), the configuration, the saved positions and cursor
# files, the answers of Elasticsearch, Splunk HEC and Wazuh, and what a
# Wazuh manager (remoted, authd) sends the wazuh_agent output (seeds in
# tests/fuzz/seeds/).  Each harness checks invariants (tests/fuzz/*.c say
# which); a crash, leak, undefined behaviour or broken invariant fails the
# run with the report and the input shown in full.
fuzz_dir=$(mktemp -d)
# Scratch files of the harnesses (fuzz_cursor's ring) on tmpfs when there
# is one: fsync there costs nothing, 20 times the runs of a disk.
fuzz_tmp=$(mktemp -d -p /dev/shm 2>/dev/null) || fuzz_tmp=$fuzz_dir/tmp
trap 'rm -rf "$fuzz_dir" "$fuzz_tmp"' EXIT

# fuzz NAME "SOURCES -lLIBS" [libFuzzer options and seed directories...]
fuzz() {
	local name=$1 srcs=$2 out=$fuzz_dir/$1 secs=${FUZZ_SECONDS:-30} f
	shift 2
	echo "== fuzz tests/fuzz/$name.c ($secs s)"
	mkdir -p "$out/corpus" "$fuzz_tmp/$name"
	# shellcheck disable=SC2086	# srcs is a list of words
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -D_GNU_SOURCE \
		-Iagent/base -Iagent/event -Iagent/health -Iagent/policy \
		-Iagent/render -Iagent/source -Ibuffer -Iconfig -Itransport \
		"tests/fuzz/$name.c" $srcs -o "$out/$name"
	# New inputs go to $out/corpus (the first directory), findings to
	# $out/.
	if ! TMPDIR=$fuzz_tmp/$name "$out/$name" -max_total_time="$secs" \
		-print_final_stats=1 -artifact_prefix="$out/" \
		"$out/corpus" "$@" </dev/null >"$out/log" 2>&1; then
		grep -v '^#[0-9]' "$out/log" | tail -n 60
		for f in "$out"/crash-* "$out"/leak-* "$out"/oom-* \
			"$out"/timeout-*; do
			[ -f "$f" ] && { echo "input $f:"; od -c "$f" | head -n 20; }
		done
		echo "fuzz $name: FAILED" >&2
		exit 1
	fi
	grep -E '^#[0-9]+[[:space:]]+DONE' "$out/log" | tail -n 1
	echo "fuzz $name: no crash"
}

fuzz fuzz_event "agent/event/event.c agent/render/render.c
	agent/render/render_wazuh.c agent/event/strbuf.c agent/event/timeutil.c
	agent/event/tags.c agent/base/base64.c agent/base/sys.c agent/base/log.c
	-lexpat -lcjson -lcrypto" \
	-max_len=8192 "$corpus/windows-xml" "$corpus/linux-syslog"
fuzz fuzz_rules "agent/policy/rules.c agent/event/event.c
	agent/event/strbuf.c agent/event/timeutil.c agent/event/tags.c
	agent/base/sys.c agent/base/log.c -lexpat" \
	-max_len=16384 tests/fuzz/seeds/rules
fuzz fuzz_config "config/config.c -linih -lpcre2-8" \
	-dict=tests/fuzz/config.dict tests/fuzz/seeds/config
fuzz fuzz_redact "agent/policy/redact.c agent/event/strbuf.c
	agent/event/timeutil.c agent/event/tags.c agent/base/sys.c
	agent/base/log.c -lpcre2-8 -lcrypto" \
	-max_len=8192 tests/fuzz/seeds/redact
fuzz fuzz_position "agent/source/eventlog_util.c agent/source/position.c
	agent/event/strbuf.c agent/event/timeutil.c agent/base/sys.c
	agent/base/log.c" \
	tests/fuzz/seeds/position
fuzz fuzz_cursor "buffer/buffer.c buffer/segment.c agent/base/log.c
	agent/base/sys.c -lz -ldeflate" \
	tests/fuzz/seeds/cursor
fuzz fuzz_answer_es "transport/answer.c -lcjson" tests/fuzz/seeds/answer_es
fuzz fuzz_answer_hec "transport/answer.c -lcjson" tests/fuzz/seeds/answer_hec
fuzz fuzz_answer_wazuh "transport/answer.c -lcjson" \
	tests/fuzz/seeds/answer_wazuh
fuzz fuzz_wazuh_proto "transport/wazuh_proto.c transport/transport.c
	agent/base/sys.c agent/base/log.c agent/base/base64.c -lcrypto -lz" \
	-max_len=70000 tests/fuzz/seeds/wazuh_proto

bash tests/package/deb-test.sh	# the .deb: lintian, dpkg -i, purge (root)
# The Windows agent, after the Linux suite (tests/cross/windows-all.sh):
# the Windows libraries from Debian's source packages (about 6 minutes
# cold, cached after), sysmonfwd.exe, the Wine scenarios (the agent, the
# Event Log against the wevtapi.dll stand-in, HEC, Elasticsearch and Wazuh
# over TLS, the monitor, the secrets' ACLs, the service, the watchdog), the
# release zip.  The documents are compared with the Linux build's above.
echo "== windows (tests/cross/windows-all.sh)"
SYSMONFWD=$PWD/build/sysmonfwd SYSMONFWD_CORPUS_DIR=$corpus \
	bash tests/cross/windows-all.sh
