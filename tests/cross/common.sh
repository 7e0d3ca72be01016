# common.sh - sourced by the scripts of tests/cross/: what they share.
# shellcheck shell=bash

# Under CI (CI set to anything but empty, 0, false or no) nothing may be
# skipped.
in_ci() {
	case ${CI:-} in
	'' | 0 | false | FALSE | False | no) return 1 ;;
	*) return 0 ;;
	esac
}

# need WHAT HOW: WHAT is missing (HOW installs it): fail under CI, else
# skip the whole script (exit 0) with a message.
need() {
	local me
	me=$(basename "$0")
	if in_ci; then
		echo "$me: FAILED: $1 is missing under CI ($2)" >&2
		exit 1
	fi
	echo "$me: SKIPPED: $1 is missing ($2)" >&2
	exit 0
}

# win_setup NAME: what every Wine scenario needs, shared by the scripts.
# Sets wine (the loader: WINE, else /usr/lib/wine/wine64, else wine), cc
# (mingw-w64's gcc), build (SYSMONFWD_WIN_BUILD, default build-win) and
# exe ($build/sysmonfwd.exe, built here with cmake unless up to date),
# and linux (a Linux sysmonfwd: SYSMONFWD, else build/sysmonfwd, else
# build-exe/sysmonfwd; empty when none).  WINEPREFIX defaults to
# /tmp/wine-NAME and is created when missing; WINEDEBUG to -all.  Call
# from the top of the tree.
win_setup() {
	local me=$1 b blog
	cc=${CC_MINGW:-x86_64-w64-mingw32-gcc}
	command -v "$cc" >/dev/null 2>&1 ||
		need "$cc" "apt-get install gcc-mingw-w64-x86-64-win32"
	if [ -n "${WINE:-}" ]; then
		wine=$WINE
	elif [ -x /usr/lib/wine/wine64 ]; then
		wine=/usr/lib/wine/wine64
	else
		wine=wine
	fi
	command -v "$wine" >/dev/null 2>&1 ||
		need "$wine" "apt-get install wine64"
	# The Windows libraries: built once by build-deps.sh (minutes), cached.
	if ! bash packaging/windows/build-deps.sh --print-prefix \
	    >/dev/null 2>&1; then
		need "the Windows libraries" "build them once with: bash\
 packaging/windows/build-deps.sh, about 6 minutes cold"
	fi
	build=${SYSMONFWD_WIN_BUILD:-$PWD/build-win}
	blog=$build/$me-build.log
	mkdir -p "$build"
	if ! { cmake -S . -B "$build" \
	    -DCMAKE_TOOLCHAIN_FILE=packaging/windows/mingw-w64.cmake &&
	    cmake --build "$build" -j2; } >"$blog" 2>&1; then
		tail -40 "$blog" >&2
		echo "$me: FAILED: the Windows build (log: $blog)" >&2
		exit 1
	fi
	exe=$build/sysmonfwd.exe
	linux=${SYSMONFWD:-}
	if [ -z "$linux" ]; then
		for b in build/sysmonfwd build-exe/sysmonfwd; do
			if [ -x "$b" ]; then
				linux=$PWD/$b
				break
			fi
		done
	fi
	export WINEPREFIX=${WINEPREFIX:-/tmp/wine-$me}
	export WINEDEBUG=${WINEDEBUG:--all}
	if [ ! -f "$WINEPREFIX/system.reg" ]; then
		echo "$me: creating the Wine prefix $WINEPREFIX"
		wineboot -i >/dev/null 2>&1
	fi
}

# wait_for SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds
# (0) or SECONDS pass (1).  The bound is generous (a loaded machine):
# what is awaited is a positive signal, the bound only ends a failure.
wait_for() {
	local limit=$1 end
	shift
	end=$((SECONDS + limit))
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}
