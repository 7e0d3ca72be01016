#!/usr/bin/env bash
#
# smoke.sh - prove the Windows libraries of build-deps.sh work: build
# smoke.c into a static smoke.exe with mingw-w64.cmake (the toolchain file
# the agent's build uses, and pkg_check_modules on the prefix's .pc files,
# as CMakeLists.txt does), then run it under Wine against a local Python
# HTTPS server with a throwaway test CA.
#
#   bash packaging/windows/smoke.sh [PREFIX]
#
# PREFIX defaults to the one `build-deps.sh --print-prefix` names; usually
# run as `build-deps.sh --smoke`. Exits 0 only if every check passed.
# Everything it starts (the HTTPS server, the Wine prefix's wineserver) it
# stops; its files are in a temporary directory under /tmp, removed at exit.
#
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
say() { echo "smoke.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

prefix=${1:-}
if [ -z "$prefix" ]; then
	prefix=$(bash "$here/build-deps.sh" --print-prefix) ||
		die "the Windows libraries are not built: run $here/build-deps.sh"
fi
[ -f "$prefix/deps.cmake" ] || die "$prefix is not a build-deps.sh prefix"

if command -v wine64 >/dev/null 2>&1; then
	wine=(wine64)
elif [ -x /usr/lib/wine/wine64 ]; then
	# Debian's wine64 package: the loader is not on PATH (`wine` runs it)
	export WINELOADER=/usr/lib/wine/wine64
	wine=(/usr/lib/wine/wine64)
else
	die "wine64 is missing: run packaging/install-deps.sh"
fi
for tool in openssl python3 cmake; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: run packaging/install-deps.sh"
done

tmp=$(mktemp -d /tmp/sysmonfwd-winsmoke.XXXXXX)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ -d "$tmp/wine" ]; then
		WINEPREFIX="$tmp/wine" wineserver -k 2>/dev/null || true
		WINEPREFIX="$tmp/wine" wineserver -w 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- build smoke.exe with the toolchain file -------------------------------
mkdir -p "$tmp/src"
cp "$here/smoke.c" "$tmp/src/"
cat >"$tmp/src/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(sysmonfwd_win_smoke C)
find_package(PkgConfig REQUIRED)
pkg_check_modules(EXPAT REQUIRED IMPORTED_TARGET expat)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET openssl)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(EVTX REQUIRED IMPORTED_TARGET libevtx)
add_executable(smoke smoke.c)
set_property(TARGET smoke PROPERTY C_STANDARD 11)
target_compile_options(smoke PRIVATE -Wall -Wextra -Werror)
target_compile_definitions(smoke PRIVATE SMOKE_INIH_VERSION="${INIH_VERSION}")
target_link_libraries(smoke PRIVATE
	PkgConfig::EXPAT PkgConfig::CJSON PkgConfig::INIH PkgConfig::CURL
	PkgConfig::ZLIB PkgConfig::OPENSSL PkgConfig::MHD PkgConfig::EVTX)
EOF
say "building smoke.exe against $prefix"
if ! { cmake -S "$tmp/src" -B "$tmp/build" \
	-DCMAKE_TOOLCHAIN_FILE="$here/mingw-w64.cmake" \
	-DSYSMONFWD_WIN_DEPS="$prefix" -DCMAKE_BUILD_TYPE=Release &&
	cmake --build "$tmp/build" --verbose; } >"$tmp/build.log" 2>&1; then
	tail -n 60 "$tmp/build.log" | sed 's/^/    /' >&2
	die "smoke.exe did not build"
fi
exe="$tmp/build/smoke.exe"
if x86_64-w64-mingw32-objdump -p "$exe" | grep -i 'DLL Name' |
	grep -viE '(KERNEL32|msvcrt|WS2_32|CRYPT32|ADVAPI32|USER32|GDI32|bcrypt|IPHLPAPI|SHELL32|ole32|WLDAP32|api-ms-win-[a-z0-9-]*)\.dll' >&2; then
	die "smoke.exe needs a DLL beyond Windows' own (listed above): not static"
fi
say "smoke.exe: $(stat -c %s "$exe") bytes, DLLs: $(x86_64-w64-mingw32-objdump -p "$exe" |
	sed -n 's/.*DLL Name: //p' | tr '\n' ' ')"

# ---- a throwaway CA, a server certificate for 127.0.0.1, a wrong CA -------
cd "$tmp"
{
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout ca.key -out ca.pem -days 2 -subj "/CN=sysmonfwd smoke CA"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout wrong-ca.key -out wrong-ca.pem -days 2 -subj "/CN=sysmonfwd wrong CA"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout server.key -out server.csr -subj "/CN=127.0.0.1"
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >san.ext
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-out server.pem -days 2 -extfile san.ext
} >certs.log 2>&1 || { cat certs.log >&2; die "openssl could not make the test certificates"; }

# ---- a local HTTPS server ---------------------------------------------------
cat >server.py <<'EOF'
import http.server, ssl, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"sysmonfwd-smoke\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("server: " + fmt % args + "\n")

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("server.pem", "server.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open("port.tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename("port.tmp", "port")
srv.serve_forever()
EOF
python3 server.py 2>server.log &
server_pid=$!
for _ in $(seq 100); do
	[ -s port ] && break
	kill -0 "$server_pid" 2>/dev/null || { cat server.log >&2; die "the HTTPS server did not start"; }
	sleep 0.1
done
[ -s port ] || die "the HTTPS server did not start"
port=$(cat port)

# ---- run it under Wine ------------------------------------------------------
export WINEPREFIX="$tmp/wine" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
say "running smoke.exe under ${wine[*]} (WINEPREFIX=$WINEPREFIX, HTTPS server on 127.0.0.1:$port)"
rc=0
timeout 300 "${wine[@]}" "$exe" "$port" ca.pem wrong-ca.pem >smoke.out 2>smoke.err || rc=$?
tr -d '\r' <smoke.out
if [ "$rc" -ne 0 ]; then
	tr -d '\r' <smoke.err | tail -n 20 >&2
	say "server log:"
	tail -n 20 server.log >&2
	die "smoke.exe exited with $rc"
fi
say "passed"
