#!/usr/bin/env bash
#
# sweep.sh - the full torture sweep, by hand (issue 12): every allocation
# and every file call of the ring and the positions failing in turn, for
# the file output, Splunk HEC, Elasticsearch and Wazuh.  CI runs only a
# sample (ctest -L torture); this runs every N and prints the figures:
# sites tried per output, mode, call kind and errno, runs failed and their
# N, then the stack of each distinct failure site (report.json has them
# all, with each failed run's directory kept for a look).
#
#   tests/torture/sweep.sh [BUILD_DIR] [torture.py options...]
#
# BUILD_DIR (default build-torture) is configured and built here, without
# sanitizers (an interposed malloc does not mix with ASan).  Examples:
#
#   tests/torture/sweep.sh                          # everything (hours)
#   tests/torture/sweep.sh build-torture --modes io --jobs 2
#   tests/torture/sweep.sh build-torture --modes alloc --outputs hec \
#       --records 100
#   tests/torture/sweep.sh build-torture --only 1234 --modes alloc \
#       --outputs es --keep                         # reproduce one N
#
# Options worth knowing (python3 tests/torture/torture.py --help): --jobs N
# (parallel runs; the machine's cores), --records N (records replayed:
# fewer means fewer allocation sites, the same code paths), --errnos
# EIO,ENOSPC,SHORT, --kinds open,write,..., --stride K (every K-th N),
# --all-later (N and every call after it fail), --scope all (count every
# allocation, OpenSSL's and GnuTLS's too).
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build-torture
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	build=$1
	shift
fi
corpus=${SYSMONFWD_CORPUS_DIR:-$(pwd)/../shared/corpus}
if [ ! -f "$corpus/MANIFEST.md" ]; then
	echo "sweep.sh: no Sysmon corpus at $corpus" >&2
	exit 1
fi
cmake -S . -B "$build" -DSYSMONFWD_SANITIZE=OFF \
	-DSYSMONFWD_CORPUS_DIR="$corpus" >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" \
	--target sysmonfwd faultinject >/dev/null

work=${SWEEP_DIR:-$(mktemp -d /tmp/sysmonfwd-sweep-XXXXXX)}
mkdir -p "$work"
echo "sweep: runs under $work (report: $work/report.json)"
exec nice python3 tests/torture/torture.py --bin "$build/sysmonfwd" \
	--lib "$build/tests/torture/faultinject.so" --corpus "$corpus" \
	--full --workdir "$work/runs" --report "$work/report.json" "$@"
