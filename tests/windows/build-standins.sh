#!/usr/bin/env bash
#
# build-standins.sh OUTDIR - build the test-only Windows stand-ins with
# mingw-w64 into OUTDIR: wevtapi.dll (tests/windows/wevtapi/, our model of
# the Windows Event Log; see its header comment).  CC_MINGW picks the
# compiler (default x86_64-w64-mingw32-gcc).  Rebuilt only when a source
# is newer than the DLL.  Exits non-zero when the build fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-standins.sh OUTDIR}
cc=${CC_MINGW:-x86_64-w64-mingw32-gcc}
mkdir -p "$out"
dll=$out/wevtapi.dll
src=$here/wevtapi/wevtapi.c
def=$here/wevtapi/wevtapi.def
if [ ! -f "$dll" ] || [ "$src" -nt "$dll" ] || [ "$def" -nt "$dll" ] ||
    [ "$0" -nt "$dll" ]; then
	"$cc" -std=c11 -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror \
	    -shared -static-libgcc -o "$dll.tmp" "$src" "$def"
	mv "$dll.tmp" "$dll"
fi
