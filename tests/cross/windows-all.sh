#!/usr/bin/env bash
#
# windows-all.sh - the Windows agent, built and tested under Wine: what
# .ci/run runs after the Linux suite (tests/run-all.sh).
#
#   1. the Windows libraries from Debian's source packages
#      (packaging/windows/build-deps.sh: about 6 minutes cold, seconds
#      when cached) and the smoke program linked with all of them;
#   2. sysmonfwd.exe (cmake with packaging/windows/mingw-w64.cmake, in
#      SYSMONFWD_WIN_BUILD, default build-win), built once here and used
#      by every scenario;
#   3. each Wine scenario of tests/cross/ in a prefix of its own, made
#      fresh and removed after: agent-wine.sh (the exe, the config check,
#      file to file equal to Linux's documents, follow without polling),
#      eventlog-wine.sh (the Event Log source against the wevtapi.dll
#      stand-in), outputs-wine.sh (HEC, Elasticsearch, Wazuh over TLS,
#      the monitor, secrets' ACLs), service-wine.sh (the service, the demo,
#      the watchdog against a dummy Sysmon64 service);
#   4. the release zip (packaging/windows/make-zip.sh), its contents
#      checked.
#
# Every scenario runs even when an earlier one failed; the script fails
# when any did, and prints each one's time.  A Linux build (build/, made
# by tests/run-all.sh) is used to compare documents when present;
# SYSMONFWD points elsewhere.
set -euo pipefail
cd "$(dirname "$0")/../.."

# in_ci, need, win_setup, wait_for
# shellcheck source=tests/cross/common.sh
. tests/cross/common.sh

t0=$SECONDS
echo "== windows: the libraries (packaging/windows/build-deps.sh --smoke)"
bash packaging/windows/build-deps.sh --smoke >/dev/null
echo "windows-all.sh: libraries ready in $((SECONDS - t0)) s"

t0=$SECONDS
echo "== windows: sysmonfwd.exe"
export SYSMONFWD_WIN_BUILD=${SYSMONFWD_WIN_BUILD:-$PWD/build-win}
# win_setup builds the exe; its prefix is not used here.
setup_prefix=$(mktemp -d)
WINEPREFIX=$setup_prefix win_setup windows-all.sh
WINEPREFIX=$setup_prefix wineserver -k 2>/dev/null || true
rm -rf "$setup_prefix"
echo "windows-all.sh: $exe built in $((SECONDS - t0)) s"

failed=()
for s in agent-wine eventlog-wine outputs-wine service-wine; do
	t0=$SECONDS
	echo "== windows: tests/cross/$s.sh"
	prefix=$(mktemp -d)
	rc=0
	WINEPREFIX=$prefix bash "tests/cross/$s.sh" || rc=$?
	WINEPREFIX=$prefix wineserver -k 2>/dev/null || true
	rm -rf "$prefix"
	echo "windows-all.sh: $s.sh: exit $rc in $((SECONDS - t0)) s"
	[ "$rc" = 0 ] || failed+=("$s.sh")
done

t0=$SECONDS
echo "== windows: the release zip (packaging/windows/make-zip.sh)"
zip=$(bash packaging/windows/make-zip.sh "$SYSMONFWD_WIN_BUILD") ||
	failed+=(make-zip.sh)
if [ -n "${zip:-}" ]; then
	echo "windows-all.sh: $zip in $((SECONDS - t0)) s:"
	python3 -m zipfile -l "$zip" | sed 's/^/    /'
fi

if [ "${#failed[@]}" -gt 0 ]; then
	echo "windows-all.sh: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "windows-all.sh: OK"
