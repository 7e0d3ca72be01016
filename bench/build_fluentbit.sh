#!/usr/bin/env bash
# Build Fluent Bit v5.1.1 from its source for bench/versus_fluentbit.sh
# (issue 17), outside this repository's build trees.  Run by hand, never in
# CI; idempotent: when the binary is already built it only prints its path.
#
#   bash bench/build_fluentbit.sh            # prints the fluent-bit path
#   FLUENTBIT=$(bash bench/build_fluentbit.sh | tail -1) \
#       bash bench/versus_fluentbit.sh
#
# Source: a git clone of github.com/fluent/fluent-bit holding the tag
# v5.1.1, given as FLUENTBIT_GIT (a work tree or a bare repository).  The
# default is the mirror the helper sessions fetch
# (/work/.mirror/fluent+fluent-bit/repo).  The tag is exported with `git
# archive` into $FLUENTBIT_HOME/src (default ~/.cache/sysmonfwd/fluent-bit/
# v5.1.1), built in .../build, and the binary is .../build/bin/fluent-bit.
#
# Configuration: FLB_MINIMAL=On (every plugin off) plus the plugins the
# benchmark uses -- in_tail, in_splunk, out_splunk, in_elasticsearch,
# out_es, in_storage_backlog (filesystem storage replays through it), and
# out_null for the counting receiver -- and FLB_RELEASE=On, the build type
# of Fluent Bit's own packages (RelWithDebInfo, -O2 -g).  SQLite comes from
# Debian's libsqlite3 (FLB_PREFER_SYSTEM_LIB_SQLITE=On) because the mirrored
# tree may lack the bundled amalgamation (its 9 MB
# lib/sqlite-amalgamation-*/sqlite3.c is absent from the helper sessions'
# mirror), so that file is left out of the export.
# LuaJIT, WASM and Kafka are turned off: no plugin of this build uses them
# and they are most of the build time; they are statically linked, so
# pages of theirs that are never run would not be resident anyway.
#
# Build dependencies (Debian 12 packages; not in packaging/install-deps.sh,
# the benchmark is run by hand):
#   build-essential cmake pkg-config flex bison libssl-dev libyaml-dev
#   libsqlite3-dev zlib1g-dev git
# flex and bison are needed by the record accessor, which out_splunk and
# out_es use.
set -euo pipefail

TAG=v5.1.1
GIT=${FLUENTBIT_GIT:-/work/.mirror/fluent+fluent-bit/repo}
HOME_DIR=${FLUENTBIT_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/sysmonfwd/fluent-bit/$TAG}
SRC=$HOME_DIR/src
BLD=$HOME_DIR/build
BIN=$BLD/bin/fluent-bit
JOBS=${JOBS:-$(nproc)}

die() { echo "build_fluentbit.sh: $*" >&2; exit 1; }

OPTS=(
    -DFLB_RELEASE=On
    -DFLB_MINIMAL=On
    -DFLB_IN_TAIL=On
    -DFLB_IN_SPLUNK=On
    -DFLB_OUT_SPLUNK=On
    -DFLB_IN_ELASTICSEARCH=On
    -DFLB_OUT_ES=On
    -DFLB_IN_STORAGE_BACKLOG=On
    -DFLB_OUT_NULL=On
    -DFLB_PREFER_SYSTEM_LIB_SQLITE=On
    -DFLB_LUAJIT=Off
    -DFLB_WASM=Off
    -DFLB_KAFKA=Off
    -DFLB_EXAMPLES=Off
    -DFLB_SHARED_LIB=Off
    -DFLB_TESTS_RUNTIME=Off
    -DFLB_TESTS_INTERNAL=Off
)
STAMP=$BLD/sysmonfwd-bench-options

# Built already with these options: nothing to do.
if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "${OPTS[*]}" ] &&
    "$BIN" --version >/dev/null 2>&1; then
	echo "build_fluentbit.sh: already built: $("$BIN" --version | head -1)" >&2
	echo "$BIN"
	exit 0
fi

for t in cmake make cc flex bison pkg-config git; do
	command -v "$t" >/dev/null ||
	    die "$t is missing (apt-get install cmake build-essential flex bison pkg-config git)"
done
for m in openssl yaml-0.1 sqlite3 zlib; do
	pkg-config --exists "$m" ||
	    die "pkg-config $m: missing (apt-get install libssl-dev libyaml-dev libsqlite3-dev zlib1g-dev)"
done

if [ ! -f "$SRC/CMakeLists.txt" ]; then
	git -C "$GIT" rev-parse -q --verify "$TAG^{commit}" >/dev/null ||
	    die "no tag $TAG in $GIT: clone github.com/fluent/fluent-bit and set FLUENTBIT_GIT"
	rm -rf "$SRC.tmp"
	mkdir -p "$SRC.tmp"
	# The bundled SQLite is left out: Debian's is used (see above).  With
	# the mirror, git still reports "invalid object" for that file and
	# goes on (exit 0); everything else is exported.
	git -C "$GIT" archive --format=tar "$TAG" -- . \
	    ':(exclude)lib/sqlite-amalgamation-*/sqlite3.c' |
	    tar -x -C "$SRC.tmp"
	rm -rf "$SRC"
	mv "$SRC.tmp" "$SRC"
fi

cmake -S "$SRC" -B "$BLD" "${OPTS[@]}" >"$HOME_DIR/cmake.log" 2>&1 ||
    die "cmake failed: see $HOME_DIR/cmake.log"
cmake --build "$BLD" -j"$JOBS" >"$HOME_DIR/build.log" 2>&1 ||
    die "build failed: see $HOME_DIR/build.log"
[ -x "$BIN" ] || die "built, but $BIN is not there"
echo "${OPTS[*]}" >"$STAMP"
echo "build_fluentbit.sh: built $("$BIN" --version | head -1)" >&2
echo "$BIN"
