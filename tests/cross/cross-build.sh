#!/usr/bin/env bash
#
# cross-build.sh - compile the Windows-only sources of the agent with
# Debian's mingw-w64 cross compiler, so CI fails on a compile error in code
# that no Linux build sees: the `eventlog` input (agent/source/source_eventlog.c),
# the Service Control Manager part of the watchdog (agent/health/watchdog_win.c)
# and the portable helpers they use (agent/source/eventlog_util.c).
#
# It compiles only (-c): the rest of the Windows build (an event loop on
# WaitForMultipleObjects, linking with wevtapi and advapi32, expat and
# zlib for Windows) is not written yet.  Each object is then checked to
# be a PE/COFF x86-64 object that defines what it should, and the three
# are linked into one relocatable object (ld -r).
#
# Exits non-zero on any error.  Skips (exit 0, with a message) only when
# x86_64-w64-mingw32-gcc is not installed, and not under CI (CI=true):
# there a missing compiler is a failure, since packaging/install-deps.sh
# installs it.  CC_MINGW=... picks another compiler.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Under CI (CI set to anything but empty, 0, false or no) nothing may be
# skipped.
in_ci() {
	case ${CI:-} in
	'' | 0 | false | FALSE | False | no) return 1 ;;
	*) return 0 ;;
	esac
}

cc=${CC_MINGW:-x86_64-w64-mingw32-gcc}
if ! command -v "$cc" >/dev/null 2>&1; then
	if ! in_ci; then
		echo "cross-build.sh: SKIPPED: $cc is not installed" \
			"(apt-get install gcc-mingw-w64-x86-64-win32);" \
			"the Windows sources were not compiled" \
			"(this fails under CI=true)" >&2
		exit 0
	fi
	echo "cross-build.sh: FAILED: $cc is not installed under CI" \
		"(CI=$CI): packaging/install-deps.sh installs" \
		"gcc-mingw-w64-x86-64-win32" >&2
	exit 1
fi

# The binutils of the cross compiler (its package depends on them): a
# check that needs a missing one is skipped, or fails under CI.
have() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if in_ci; then
		echo "cross-build.sh: FAILED: $1 is not installed under CI" \
			"(binutils-mingw-w64-x86-64)" >&2
		exit 1
	fi
	echo "cross-build.sh: SKIPPED: the check that needs $1 (not" \
		"installed)" >&2
	return 1
}

# The warnings of the Linux build (CMakeLists.txt), as errors.
flags=(-std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2
	-Wno-format-nonliteral -Werror -D_WIN32_WINNT=0x0601
	-I agent/base -I agent/event -I agent/health -I agent/source
	-I buffer -I config -I transport)
sources=(agent/source/eventlog_util.c agent/source/source_eventlog.c agent/health/watchdog_win.c)
# What each object must define (nm): the entry points the agent calls.
declare -A wants=(
	[agent/source/eventlog_util.c]="eventlog_xml_one_line eventlog_bookmark_parse"
	[agent/source/source_eventlog.c]="source_eventlog_open"
	[agent/health/watchdog_win.c]="watchdog_win_probe"
)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
nm=${cc%gcc}nm
objdump=${cc%gcc}objdump
echo "cross-build.sh: $("$cc" --version | head -n 1)"
for src in "${sources[@]}"; do
	obj=$out/$(basename "${src%.c}").o
	echo "cross-build.sh: $cc ${flags[*]} -c $src"
	"$cc" "${flags[@]}" -c "$src" -o "$obj"
	if have "$objdump"; then
		"$objdump" -f "$obj" | grep -q 'file format pe-x86-64' || {
			echo "cross-build.sh: $obj is not a pe-x86-64 object" >&2
			exit 1
		}
	fi
	if have "$nm"; then
		for sym in ${wants[$src]}; do
			"$nm" -g --defined-only "$obj" | grep -qw "$sym" || {
				echo "cross-build.sh: $obj does not define" \
					"$sym" >&2
				exit 1
			}
		done
	fi
done
# One relocatable object of all three: no symbol defined twice.
ld=${cc%gcc}ld
if have "$ld"; then
	echo "cross-build.sh: $ld -r (the objects together)"
	"$ld" -r -o "$out/windows.o" "$out"/*.o
fi
echo "cross-build.sh: OK: ${#sources[@]} Windows sources compiled"
