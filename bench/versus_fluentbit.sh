#!/usr/bin/env bash
# sysmonfwd against Fluent Bit v5.1.1, side by side, on the HEC path and the
# Elasticsearch path (issue 17).  Run by hand, never in CI: it takes about
# 10 minutes (25 with --steady) and its figures depend on the machine.
#
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
#       cmake --build build-bench -j2 --target sysmonfwd
#   bash bench/build_fluentbit.sh        # once; about 5 to 10 minutes
#   bash bench/versus_fluentbit.sh [--steady] [--smaps] [--runs 3]
#       [--records 200000] [--paths hec,es] [--perf DIR] [--keep]
#       [--output-set compression=none] [--buffer-set compression_level=1]
#
# Environment: SYSMONFWD (default build-bench/sysmonfwd), FLUENTBIT (default
# fluent-bit on PATH, else the binary bench/build_fluentbit.sh built),
# SYSMONFWD_CORPUS_DIR (default ../shared/corpus next to the repository).
# The method, what is measured and how, is at the top of
# bench/versus_fluentbit.py.  Needs python3 and openssl (test certificates)
# and, for --perf, linux-perf.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

sysmonfwd=${SYSMONFWD:-$root/build-bench/sysmonfwd}
if [ ! -x "$sysmonfwd" ]; then
	echo "versus_fluentbit.sh: no sysmonfwd at $sysmonfwd: build it" \
	    "(see the top of this file) or set SYSMONFWD" >&2
	exit 2
fi

built=${FLUENTBIT_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/sysmonfwd/fluent-bit/v5.1.1}/build/bin/fluent-bit
if [ -n "${FLUENTBIT:-}" ]; then
	fluentbit=$FLUENTBIT
	how="FLUENTBIT"
elif fluentbit=$(command -v fluent-bit); then
	how="PATH"
elif [ -x "$built" ]; then
	fluentbit=$built
	how="bench/build_fluentbit.sh's build"
else
	echo "versus_fluentbit.sh: Fluent Bit is missing: no FLUENTBIT," \
	    "no fluent-bit on PATH, nothing at $built." >&2
	echo "Build it with: bash bench/build_fluentbit.sh" \
	    "(then run this again)" >&2
	exit 2
fi
if ! version=$("$fluentbit" --version 2>/dev/null | head -1); then
	echo "versus_fluentbit.sh: $fluentbit does not run" >&2
	exit 2
fi
case $version in
*v5.1.1*) ;;
*) echo "versus_fluentbit.sh: warning: $fluentbit is '$version'," \
       "the figures of issue 17 are against v5.1.1" >&2 ;;
esac

corpus=${SYSMONFWD_CORPUS_DIR:-$root/../shared/corpus}

# The binary may be older than the tree: say when it was built and what
# the tree's HEAD is now.
echo "sysmonfwd:  $sysmonfwd ($("$sysmonfwd" --version 2>&1 | head -1)," \
    "built $(date -u -r "$sysmonfwd" '+%F %H:%M UTC'); HEAD now" \
    "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo ?))"
echo "Fluent Bit: $fluentbit ($version, found via $how)"
echo "machine:    $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
exec python3 "$here/versus_fluentbit.py" --sysmonfwd "$sysmonfwd" \
    --fluentbit "$fluentbit" --corpus "$corpus" "$@"
