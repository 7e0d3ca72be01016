#!/usr/bin/env bash
#
# cross-build.sh - compile the Windows sources of the agent with Debian's
# mingw-w64 cross compiler, so CI fails on a compile error in code that no
# Linux build sees: the `eventlog` input (agent/source/source_eventlog.c),
# the Service Control Manager part of the watchdog (agent/health/watchdog_win.c)
# and the portable helpers they use (agent/source/eventlog_util.c), the
# bottom room (agent/base/*.c, with sys_win.c: the clocks and files of
# Windows) and the disk ring (buffer/*.c, with zlib's headers from
# libz-mingw-w64-dev and libdeflate's from the prefix of
# packaging/windows/build-deps.sh, which is built here when it is not yet:
# Debian has no libdeflate for mingw-w64).
#
# It compiles (-c) these sources alone, without the other Windows
# libraries; the whole sysmonfwd.exe is built and run under Wine by
# tests/cross/agent-wine.sh.  Each object is then checked to be a
# PE/COFF x86-64 object that defines what it should, and they are linked
# into one relocatable object (ld -r).  Then the ring's smoke test
# (tests/cross/ring_smoke.c) is linked into an .exe with base, buffer and
# the static zlib and libdeflate: nothing the ring calls is missing on
# Windows.  Running it under Wine is tests/cross/ring-wine.sh's job.
#
# Exits non-zero on any error.  Skips (exit 0, with a message) only when
# x86_64-w64-mingw32-gcc is not installed, and not under CI (CI=true):
# there a missing compiler is a failure, since packaging/install-deps.sh
# installs it.  CC_MINGW=... picks another compiler.
set -euo pipefail
cd "$(dirname "$0")/../.."

# in_ci, need
# shellcheck source=tests/cross/common.sh
. tests/cross/common.sh

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
	-I agent/base -I agent/event -I agent/health -I agent/policy
	-I agent/source
	-I buffer -I config -I transport)
# zlib for Windows (buffer/): libz-mingw-w64-dev, in the compiler's own
# include and lib directories.
zlib_a=/usr/x86_64-w64-mingw32/lib/libz.a
sources=(agent/source/eventlog_util.c agent/source/source_eventlog.c
	agent/health/watchdog_win.c
	agent/base/log.c agent/base/sys.c agent/base/sys_win.c
	agent/base/base64.c buffer/buffer.c buffer/segment.c)
# What each object must define (nm): the entry points the agent calls.
declare -A wants=(
	[agent/source/eventlog_util.c]="eventlog_xml_one_line eventlog_bookmark_parse"
	[agent/source/source_eventlog.c]="source_eventlog_open"
	[agent/health/watchdog_win.c]="watchdog_win_probe"
	[agent/base/log.c]="log_init log_warnx"
	[agent/base/sys.c]="mem_grow"
	[agent/base/sys_win.c]="mono_now_ms time_now_ms file_write_atomic
		fsync_dir file_mkdirs fs_open fs_close fs_pread fs_pwrite
		fs_append fs_sync fs_datasync fs_truncate fs_size fs_lock
		fs_rename fs_remove fs_fopen fs_mkdir fs_list"
	[agent/base/base64.c]="base64_encode"
	[buffer/buffer.c]="buffer_open buffer_append buffer_read buffer_ack
		buffer_close buffer_inspect"
	[buffer/segment.c]="segment_header_make block_frame block_decode"
)
# Without zlib for mingw-w64, buffer/ and the smoke test are left out.
# Under CI that fails once packaging/install-deps.sh installs the package
# (until then CI would fail for what no script installs).
have_zlib=true
if [ ! -f /usr/x86_64-w64-mingw32/include/zlib.h ] || [ ! -f "$zlib_a" ]; then
	if in_ci && grep -q libz-mingw-w64-dev packaging/install-deps.sh; then
		echo "cross-build.sh: FAILED: zlib for mingw-w64 is not" \
			"installed under CI (libz-mingw-w64-dev)" >&2
		exit 1
	fi
	echo "cross-build.sh: SKIPPED: buffer/ and ring_smoke.exe: zlib for" \
		"mingw-w64 is not installed (apt-get install" \
		"libz-mingw-w64-dev)" >&2
	have_zlib=false
	sources=("${sources[@]/buffer\/*/}")
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# libdeflate for Windows (buffer/): the static library and header of
# build-deps.sh's prefix (seconds when cached; about 12 minutes cold).
# Only its header joins the include path, not the prefix's others.
if $have_zlib; then
	echo "cross-build.sh: libdeflate: packaging/windows/build-deps.sh"
	deps=$(bash packaging/windows/build-deps.sh | tail -n 1)
	deflate_a=$deps/lib/libdeflate.a
	[ -f "$deflate_a" ] && [ -f "$deps/include/libdeflate.h" ] || {
		echo "cross-build.sh: no libdeflate in $deps" >&2
		exit 1
	}
	mkdir -p "$out/include"
	cp "$deps/include/libdeflate.h" "$out/include/"
	flags+=(-I "$out/include")
fi

nm=${cc%gcc}nm
objdump=${cc%gcc}objdump
echo "cross-build.sh: $("$cc" --version | head -n 1)"
for src in "${sources[@]}"; do
	[ -n "$src" ] || continue
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
# One relocatable object of them all: no symbol defined twice.
ld=${cc%gcc}ld
if have "$ld"; then
	echo "cross-build.sh: $ld -r (the objects together)"
	"$ld" -r -o "$out/windows.o" "$out"/*.o
fi
if ! $have_zlib; then
	echo "cross-build.sh: OK: the Windows sources but buffer/ compiled"
	exit 0
fi
# The ring's smoke test, linked: base and buffer need nothing Windows
# lacks.  Static (libgcc, zlib): the .exe needs only KERNEL32, ADVAPI32
# (base's file_make_private(): DACLs) and the C runtime.
echo "cross-build.sh: $cc -static -o ring_smoke.exe tests/cross/ring_smoke.c" \
	"(base, buffer, $zlib_a, $deflate_a)"
"$cc" "${flags[@]}" -static -o "$out/ring_smoke.exe" tests/cross/ring_smoke.c \
	"$out/log.o" "$out/sys.o" "$out/sys_win.o" "$out/base64.o" \
	"$out/buffer.o" "$out/segment.o" "$zlib_a" "$deflate_a"
if have "$objdump"; then
	for dll in $("$objdump" -p "$out/ring_smoke.exe" | sed -n \
		's/^[[:space:]]*DLL Name: //p'); do
		case $dll in
		KERNEL32.dll | ADVAPI32.dll | msvcrt.dll | ucrtbase.dll | \
		api-ms-win-crt-*) ;;
		*)	echo "cross-build.sh: ring_smoke.exe imports $dll" \
				"(wanted the system and the C runtime only)" >&2
			exit 1 ;;
		esac
	done
fi
echo "cross-build.sh: OK: ${#sources[@]} Windows sources compiled," \
	"ring_smoke.exe linked"
