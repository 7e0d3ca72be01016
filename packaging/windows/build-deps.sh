#!/usr/bin/env bash
#
# build-deps.sh - build the static x86-64 Windows libraries sysmonfwd.exe
# links against, from Debian's source packages, into a cached prefix.
#
#   bash packaging/windows/build-deps.sh              build (or reuse) and print the prefix
#   bash packaging/windows/build-deps.sh --smoke      the same, then run the smoke check
#                                                     (smoke.sh: smoke.c under wine64)
#   bash packaging/windows/build-deps.sh --print-prefix
#                                                     print the prefix; exit 1 if not built
#
# The prefix is the only thing written to standard output (its last line);
# progress goes to standard error, each step's output to a log file that is
# shown when the step fails.
#
# Sources: OpenSSL, curl, expat, cJSON, libmicrohttpd, libevtx, PCRE2 and
# libdeflate from bookworm, inih from trixie (bookworm's libinih 55 source
# is not downloadable here), each at the exact Debian version pinned below,
# fetched with `apt-get source` through a private apt state under the cache
# directory (the machine's apt sources are never touched; apt checks the
# Release signatures and the hashes as usual) and unpacked with dpkg-source,
# so Debian's patches, security fixes included, are applied. zlib is Debian's
# mingw-w64 binary package libz-mingw-w64-dev, copied into the prefix.
#
# Cache: ${SYSMONFWD_WIN_DEPS_CACHE:-$HOME/.cache/sysmonfwd/win-deps}/<key>,
# where <key> is a hash of this script (which holds the pins and the whole
# recipe), of the cross compiler's version and of libz-mingw-w64-dev's
# version. A prefix is used only once complete (.complete); a failed or
# interrupted build is started again from scratch.
#
# Environment: SYSMONFWD_WIN_DEPS_CACHE (cache root), SYSMONFWD_WIN_DEPS_JOBS
# (make -j, default 2), SYSMONFWD_DEBIAN_MIRROR (default
# http://deb.debian.org/debian; the security archive is
# ${SYSMONFWD_DEBIAN_MIRROR}-security).
#
set -euo pipefail

# ---- pins: exact Debian source versions ---------------------------------
# When one of them leaves the archive this script stops and names it; pick
# the version Debian offers then (the error lists them) and update the pin.
# bookworm-security's openssl 3.0.22-1~deb12u2 and expat 2.5.0-1+deb12u5
# are listed in its index but their .dsc answer 404 here, so the pins are
# the newest bookworm versions that download; so is pcre2 10.42-1 (its
# bookworm-security 10.42-1+deb12u2 answers 404 too).
pins=(
	"openssl 3.0.20-1~deb12u2"
	"curl 7.88.1-10+deb12u15"
	"expat 2.5.0-1+deb12u2"
	"cjson 1.7.15-1+deb12u4"
	"libinih 59-1"
	"libmicrohttpd 0.9.75-6"
	"libevtx 20181227-2"
	"pcre2 10.42-1"
	"libdeflate 1.14-1"
)
zlib_package=libz-mingw-w64-dev
zlib_version=1.2.13+dfsg-1

host=x86_64-w64-mingw32
jobs=${SYSMONFWD_WIN_DEPS_JOBS:-2}
mirror=${SYSMONFWD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache_root=${SYSMONFWD_WIN_DEPS_CACHE:-$HOME/.cache/sysmonfwd/win-deps}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"

say() { echo "build-deps.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

mode=build
for arg in "$@"; do
	case $arg in
	--smoke) mode=smoke ;;
	--print-prefix) mode=print ;;
	-h | --help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$arg' (--smoke, --print-prefix, --help)" ;;
	esac
done

command -v "$host-gcc" >/dev/null 2>&1 ||
	die "$host-gcc is missing: run packaging/install-deps.sh"
zlib_installed=$(dpkg-query -W -f='${Version}' "$zlib_package" 2>/dev/null || true)
[ "$zlib_installed" = "$zlib_version" ] ||
	die "$zlib_package $zlib_version is needed (installed: ${zlib_installed:-none}); run packaging/install-deps.sh"

key=$( {
	cat "$self"
	"$host-gcc" --version | head -n 1
	echo "$zlib_package $zlib_installed"
} | sha256sum | cut -c1-16)
prefix="$cache_root/$key"

if [ "$mode" = print ]; then
	echo "$prefix"
	[ -f "$prefix/.complete" ] || { say "$prefix is not built yet: run $self"; exit 1; }
	exit 0
fi

run_smoke() {
	if [ "$mode" = smoke ]; then
		bash "$here/smoke.sh" "$prefix" >&2
	fi
}

if [ -f "$prefix/.complete" ]; then
	say "cached: $prefix"
	run_smoke
	echo "$prefix"
	exit 0
fi

for tool in apt-get apt-cache dpkg-source cmake make perl pkg-config "$host-ar" "$host-ranlib"; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: run packaging/install-deps.sh"
done

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock-$key"
if ! flock -n 9; then
	say "another build of $key is running; waiting for it"
	flock 9
fi
if [ -f "$prefix/.complete" ]; then
	say "cached: $prefix (built meanwhile)"
	run_smoke
	echo "$prefix"
	exit 0
fi

start=$SECONDS
work="$cache_root/$key.build"
logs="$work/logs"
rm -rf "$prefix" "$work"
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include" "$logs"

# run LOG CMD...: CMD's output goes to $logs/LOG.log; on failure, show its
# end and exit (the script, or the subshell of a build lane)
run() {
	local log="$logs/$1.log"
	shift
	if ! "$@" >>"$log" 2>&1; then
		say "failed: $*"
		say "last lines of $log:"
		tail -n 60 "$log" | sed 's/^/    /' >&2
		exit 1
	fi
}

# ---- sources: apt-get source with a private apt state -------------------
apt_dir="$cache_root/apt"
dl="$cache_root/sources"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" \
	"$apt_dir/sources.list.d" "$dl"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die "$keyring is missing (package debian-archive-keyring)"
cat >"$apt_dir/sources.list" <<EOF
deb-src [signed-by=$keyring] $mirror bookworm main
deb-src [signed-by=$keyring] $mirror bookworm-updates main
deb-src [signed-by=$keyring] $mirror-security bookworm-security main
deb-src [signed-by=$keyring] $mirror trixie main
EOF
apt_opts=(
	-o "Dir::Etc::SourceList=$apt_dir/sources.list"
	-o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
	-o "Dir::State::Lists=$apt_dir/lists"
	-o "Dir::Cache=$apt_dir/cache"
)
# As root apt drops to _apt for downloads, and _apt cannot write into a
# home directory; the signature and hash checks do not depend on it.
[ "$(id -u)" -ne 0 ] || apt_opts+=(-o "APT::Sandbox::User=root")

say "updating the private source lists ($apt_dir)"
run apt apt-get "${apt_opts[@]}" update

src="$work/src"
mkdir -p "$src"
for pin in "${pins[@]}"; do
	read -r name version <<<"$pin"
	offered=$(apt-cache "${apt_opts[@]}" showsrc --only-source "$name" 2>/dev/null |
		sed -n 's/^Version: //p' | sort -u | tr '\n' ' ')
	case " $offered " in
	*" $version "*) ;;
	*) die "pinned $name $version is no longer in Debian's archive (bookworm, bookworm-updates, bookworm-security, trixie); offered now: ${offered:-none}. Update its pin in $self." ;;
	esac
	say "fetching $name $version"
	if ! (cd "$dl" && apt-get "${apt_opts[@]}" source --download-only "$name=$version" \
		>>"$logs/fetch-$name.log" 2>&1); then
		tail -n 20 "$logs/fetch-$name.log" | sed 's/^/    /' >&2
		die "could not download $name $version from Debian's archive (see above)"
	fi
	dsc="$dl/${name}_${version#*:}.dsc"
	[ -f "$dsc" ] || die "$dsc missing after apt-get source"
	run "unpack-$name" dpkg-source -x "$dsc" "$src/$name"
done

# ---- the cross toolchain for the CMake-built libraries ------------------
export PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig"
export PKG_CONFIG_PATH=
unset PKG_CONFIG_SYSROOT_DIR CFLAGS CPPFLAGS LDFLAGS CC AR RANLIB || true
opt_cflags="-O2"

toolchain="$work/toolchain.cmake"
cat >"$toolchain" <<EOF
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER $host-gcc)
set(CMAKE_RC_COMPILER $host-windres)
set(CMAKE_FIND_ROOT_PATH "$prefix" /usr/$host)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
EOF
cmake_common=(
	-G "Unix Makefiles"
	-DCMAKE_TOOLCHAIN_FILE="$toolchain"
	-DCMAKE_BUILD_TYPE=Release
	-DCMAKE_C_FLAGS_RELEASE="$opt_cflags -DNDEBUG"
	-DCMAKE_INSTALL_PREFIX="$prefix"
	-DCMAKE_INSTALL_LIBDIR=lib
	-DBUILD_SHARED_LIBS=OFF
	-DBUILD_TESTING=OFF
)
autoconf_common=(
	--host="$host"
	--build="$(gcc -dumpmachine)"
	--prefix="$prefix"
	--libdir="$prefix/lib"
	--disable-shared
	--enable-static
	--disable-nls
	--disable-dependency-tracking
	--enable-silent-rules
)

# ---- one function per library --------------------------------------------
build_zlib() {
	# Debian's binary package, copied so that the prefix is complete alone
	# and -lz finds the static libz.a (not zlib1.dll's import library).
	cp /usr/$host/include/zlib.h /usr/$host/include/zconf.h "$prefix/include/"
	cp /usr/$host/lib/libz.a "$prefix/lib/"
	# shellcheck disable=SC2016 # ${prefix} and ${libdir} are pkg-config's
	sed -e 's|^prefix=.*|prefix='"$prefix"'|' \
		-e 's|^exec_prefix=.*|exec_prefix=${prefix}|' \
		-e 's|^libdir=.*|libdir=${prefix}/lib|' \
		-e 's|^sharedlibdir=.*|sharedlibdir=${libdir}|' \
		-e 's|^includedir=.*|includedir=${prefix}/include|' \
		/usr/$host/lib/pkgconfig/zlib.pc >"$prefix/lib/pkgconfig/zlib.pc"
}

build_openssl() {
	# Debian's own choices (debian/rules CONFARGS) where they apply, its
	# default security level 2 (set in its openssl.cnf on Linux) built in,
	# and everything a TLS client does not use left out; no engines, no
	# loadable modules, no DSO.
	# OPENSSLDIR (where libssl reads openssl.cnf from; curl asks for it)
	# must be a directory only administrators can create, never a path
	# under this prefix (C:\root\.cache\... could be made by any user to
	# plant a configuration in a service running as SYSTEM). Configure
	# takes "C:/..." for a relative path and puts the prefix before it, so
	# the directories are given to make instead: those of OpenSSL's own
	# Windows builds.
	local dirs=(
		"OPENSSLDIR=C:/Program Files/Common Files/SSL"
		"ENGINESDIR=C:/Program Files/OpenSSL/lib/engines-3"
		"MODULESDIR=C:/Program Files/OpenSSL/lib/ossl-modules"
	)
	cd "$src/openssl"
	run openssl env CFLAGS="$opt_cflags" ./Configure mingw64 \
		--cross-compile-prefix="$host-" \
		--prefix="$prefix" --libdir=lib \
		no-shared no-tests no-module no-engine no-dso \
		no-idea no-mdc2 no-rc5 no-zlib no-ssl3 no-ssl3-method \
		no-comp no-srp no-whirlpool no-seed no-camellia no-aria \
		no-sm2 no-sm3 no-sm4 no-cmp no-ts no-ct no-dtls no-sctp \
		no-srtp no-async no-ec2m \
		enable-ec_nistp_64_gcc_128 \
		-DOPENSSL_TLS_SECURITY_LEVEL=2
	run openssl make -j"$jobs" "${dirs[@]}" build_libs
	run openssl make "${dirs[@]}" install_dev
}

build_curl() {
	cd "$src/curl"
	run curl cmake -S . -B build "${cmake_common[@]}" \
		-DBUILD_CURL_EXE=OFF -DENABLE_MANUAL=OFF -DBUILD_LIBCURL_DOCS=OFF \
		-DHTTP_ONLY=ON \
		-DCURL_USE_OPENSSL=ON -DOPENSSL_ROOT_DIR="$prefix" -DOPENSSL_USE_STATIC_LIBS=ON \
		-DCURL_USE_SCHANNEL=OFF -DCURL_WINDOWS_SSPI=OFF \
		-DCURL_USE_MBEDTLS=OFF -DCURL_USE_BEARSSL=OFF -DCURL_USE_WOLFSSL=OFF \
		-DCURL_USE_NSS=OFF -DCURL_USE_GNUTLS=OFF \
		-DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DCURL_USE_GSSAPI=OFF \
		-DUSE_LIBIDN2=OFF -DUSE_WIN32_IDN=OFF -DUSE_NGHTTP2=OFF \
		-DUSE_NGTCP2=OFF -DUSE_QUICHE=OFF -DUSE_MSH3=OFF \
		-DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DCURL_ZLIB=ON \
		-DZLIB_INCLUDE_DIR="$prefix/include" -DZLIB_LIBRARY="$prefix/lib/libz.a" \
		-DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON \
		-DENABLE_THREADED_RESOLVER=ON -DENABLE_UNIX_SOCKETS=OFF \
		-DCURL_CA_BUNDLE=none -DCURL_CA_PATH=none -DCURL_CA_FALLBACK=OFF \
		-DPICKY_COMPILER=OFF
	# threads of the resolver: Win32's; the -lpthread curl's CMake writes
	# into libcurl.pc is not needed (and would pull in winpthread's DLL
	# where a consumer resolves it to libpthread.dll.a)
	grep -q '^#define USE_THREADS_WIN32 1' build/lib/curl_config.h ||
		{ say "curl: not configured for Win32 threads"; exit 1; }
	run curl cmake --build build -j "$jobs"
	run curl cmake --install build
	sed -i '/^Libs/s/ -lpthread\b//g' "$prefix/lib/pkgconfig/libcurl.pc"
}

build_expat() {
	# bookworm's orig tarball is a git snapshot: the library is in expat/
	# Its security patches test `#if XML_DTD == 1`, as in the config header
	# of Debian's autotools build; give CMake's header the same values.
	cd "$src/expat/expat"
	sed -i -e 's/^#cmakedefine XML_DTD$/#cmakedefine XML_DTD 1/' \
		-e 's/^#cmakedefine XML_NS$/#cmakedefine XML_NS 1/' expat_config.h.cmake
	grep -q '^#cmakedefine XML_DTD 1$' expat_config.h.cmake
	run expat cmake -S . -B build "${cmake_common[@]}" \
		-DEXPAT_SHARED_LIBS=OFF -DEXPAT_BUILD_TOOLS=OFF \
		-DEXPAT_BUILD_EXAMPLES=OFF -DEXPAT_BUILD_TESTS=OFF \
		-DEXPAT_BUILD_DOCS=OFF -DEXPAT_BUILD_FUZZERS=OFF \
		-DEXPAT_BUILD_PKGCONFIG=ON
	run expat cmake --build build -j "$jobs"
	run expat cmake --install build
}

build_cjson() {
	# Debian's build is cmake with the defaults; static here, symbols not
	# dllexported (CJSON_HIDE_SYMBOLS, also in libcjson.pc), without the
	# project's -Werror/-fstack-protector flag set (libssp is not linked).
	cd "$src/cjson"
	run cjson cmake -S . -B build "${cmake_common[@]}" \
		-DENABLE_CJSON_TEST=OFF -DENABLE_CJSON_UTILS=OFF \
		-DENABLE_CUSTOM_COMPILER_FLAGS=OFF -DENABLE_TARGET_EXPORT=OFF \
		-DENABLE_PUBLIC_SYMBOLS=OFF -DENABLE_HIDDEN_SYMBOLS=ON
	run cjson cmake --build build -j "$jobs"
	run cjson cmake --install build
}

build_libinih() {
	# Debian builds inih with meson -Ddistro_install=true, whose only
	# effect on the library is -DINI_HANDLER_LINENO=1 (its patch 0005) and
	# none on consumers (inih.pc has no Cflags); one file, compiled here
	# the same way.
	cd "$src/libinih"
	run libinih "$host-gcc" $opt_cflags -DINI_HANDLER_LINENO=1 -c ini.c -o ini.o
	run libinih "$host-ar" rcs libinih.a ini.o
	cp libinih.a "$prefix/lib/"
	cp ini.h "$prefix/include/"
	local version=${1%%-*}
	[ -n "$version" ] || { say "libinih: no version"; exit 1; }
	cat >"$prefix/lib/pkgconfig/inih.pc" <<EOF
prefix=$prefix
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: inih
Description: simple .INI file parser
Version: $version
Libs: -L\${libdir} -linih
Cflags: -I\${includedir}
EOF
}

build_libmicrohttpd() {
	# HTTP only (the monitor serves /health and /metrics on plain HTTP):
	# no GnuTLS, no examples, no docs; only the library is built. Threads:
	# "auto" picks W32 threads on Windows (0.9.75's configure only probes
	# them under auto, so --with-threads=w32 fails); checked below.
	cd "$src/libmicrohttpd"
	run libmicrohttpd ./configure "${autoconf_common[@]}" \
		--disable-doc --disable-examples --disable-curl \
		--disable-https --without-gnutls --with-threads=auto
	grep -q "^#define MHD_USE_W32_THREADS 1" MHD_config.h ||
		{ say "libmicrohttpd: configure did not choose W32 threads"; exit 1; }
	run libmicrohttpd make -j"$jobs" -C src/microhttpd
	run libmicrohttpd make -C src/include install
	run libmicrohttpd make -C src/microhttpd install
	run libmicrohttpd make install-pkgconfigDATA
}

build_libevtx() {
	# The libyal libraries it needs are bundled in its tarball and built
	# into libevtx.a; the tools, the Python bindings and the libraries only
	# the tools use (libexe, libregf, libwrc, libcdirectory) are skipped.
	#
	# Debian's patch ac-path-pkgconfig (AC_PATH_PROG -> AC_PATH_TOOL for
	# pkg-config, so that cross builds find the host's) edits configure.ac,
	# which would make `make` rerun automake; Debian's build autoreconfs.
	# Here PKGCONFIG names pkg-config outright, which PKG_CONFIG_LIBDIR
	# already confines to the prefix (what the patch is for), and the
	# generated files are given one timestamp so nothing is regenerated.
	cd "$src/libevtx"
	find . \( -name configure.ac -o -name '*.m4' -o -name configure -o -name Makefile.am \
		-o -name Makefile.in -o -name 'config.h.in' \) -exec touch -d @0 {} +
	find . \( -name aclocal.m4 -o -name configure -o -name Makefile.in \
		-o -name 'config.h.in' \) -exec touch -d @1 {} +
	local subdirs="include common libcerror libcthreads libcdata libclocale libcnotify libcsplit libuna libcfile libcpath libbfio libfcache libfdata libfdatetime libfguid libfvalue libfwevt libfwnt libevtx"
	# libcthreads includes <Synchapi.h>, <Processthreadsapi.h> and
	# <Threadpoolapiset.h> as spelt on Windows' case-insensitive file
	# systems; mingw-w64 ships them in lower case.
	mkdir -p mingw-case
	local h
	for h in Synchapi Processthreadsapi Threadpoolapiset; do
		echo "#include <${h,,}.h>" >"mingw-case/$h.h"
	done
	run libevtx env CFLAGS="$opt_cflags -I$PWD/mingw-case" PKGCONFIG="$(command -v pkg-config)" \
		./configure "${autoconf_common[@]}" \
		--disable-python --disable-python2 --disable-python3
	run libevtx make -j"$jobs" SUBDIRS="$subdirs"
	run libevtx make install SUBDIRS="include libevtx"
}

build_pcre2() {
	# The 8-bit library only (the agent's [redact:] patterns), as Debian
	# builds it with autotools, static; no JIT (the agent never asks for
	# it: every match runs in the interpreter under a match limit), no
	# pcre2grep or pcre2test. Its .pc then carries -DPCRE2_STATIC. The
	# generated files get one timestamp, so that Debian's patches never
	# make `make` run the autotools again.
	cd "$src/pcre2"
	find . \( -name configure.ac -o -name '*.m4' -o -name Makefile.am \) \
		-exec touch -d @0 {} +
	find . \( -name aclocal.m4 -o -name configure -o -name Makefile.in \
		-o -name 'config.h.in' \) -exec touch -d @1 {} +
	run pcre2 env CFLAGS="$opt_cflags" ./configure "${autoconf_common[@]}" \
		--enable-pcre2-8 --disable-pcre2-16 --disable-pcre2-32 \
		--disable-jit --enable-unicode \
		--disable-pcre2grep-libz --disable-pcre2grep-libbz2 \
		--disable-pcre2test-libedit --disable-pcre2test-libreadline
	run pcre2 make -j"$jobs" libpcre2-8.la
	run pcre2 make install-libLTLIBRARIES install-nodist_includeHEADERS \
		install-pkgconfigDATA
	grep -q -- '-DPCRE2_STATIC' "$prefix/lib/pkgconfig/libpcre2-8.pc" ||
		sed -i 's|^Cflags:\(.*\)$|Cflags:\1 -DPCRE2_STATIC|' \
			"$prefix/lib/pkgconfig/libpcre2-8.pc"
}

build_libdeflate() {
	# The ring's blocks and the request gzip. 1.14 builds with its own
	# Makefile (CMake came in 1.15); for mingw it names the static library
	# libdeflatestatic.lib, installed here as libdeflate.a so that
	# -ldeflate takes it. Its header exports nothing unless LIBDEFLATE_DLL
	# is defined, so static consumers need no define. Debian's build adds
	# profile-guided optimisation, which a cross build cannot run.
	cd "$src/libdeflate"
	run libdeflate make -j"$jobs" CC="$host-gcc" AR="$host-ar" \
		CFLAGS="$opt_cflags" libdeflatestatic.lib
	cp libdeflatestatic.lib "$prefix/lib/libdeflate.a"
	cp libdeflate.h "$prefix/include/"
	local version=${1%%-*}
	cat >"$prefix/lib/pkgconfig/libdeflate.pc" <<EOF
prefix=$prefix
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: libdeflate
Description: Fast implementation of DEFLATE, zlib, and gzip
Version: $version
Libs: -L\${libdir} -ldeflate
Cflags: -I\${includedir}
EOF
}

version_of() {
	local pin
	for pin in "${pins[@]}"; do
		[ "${pin%% *}" != "$1" ] || { echo "${pin#* }"; return; }
	done
}

# Two lanes in parallel: OpenSSL then curl (which needs it), and the rest.
# Each make runs with -j$jobs. A lane is a background subshell under set -e:
# its first failing command ends it.
lane() {
	local lib t0 version
	for lib in "$@"; do
		t0=$SECONDS
		version=$(version_of "$lib")
		say "building $lib $version"
		"build_$lib" "$version"
		say "built $lib in $((SECONDS - t0)) s"
	done
}
build_zlib
lane openssl curl &
lane_a=$!
lane expat cjson libinih libmicrohttpd libevtx pcre2 libdeflate &
lane_b=$!
rc=0
wait "$lane_a" || rc=1
wait "$lane_b" || rc=1
[ "$rc" -eq 0 ] || die "the build failed; logs in $logs"

# ---- pkg-config files for static linking ----------------------------------
# CMake's pkg_check_modules(IMPORTED_TARGET) and plain `pkg-config --libs`
# read Libs and Cflags only: fold Libs.private and Requires.private in, name
# the prefix's archives by -l (curl's CMake writes their full paths), leave
# out the compiler's own runtime libraries (curl's CMake copies them in),
# keep each library once at its last place (the order static linking
# needs) with the system libraries after the prefix's archives, and add
# the defines static consumers need.
add_cflags() {
	grep -q -- "^Cflags:.*$2" "$prefix/lib/pkgconfig/$1.pc" ||
		sed -i "s|^Cflags:\(.*\)$|Cflags:\1 $2|" "$prefix/lib/pkgconfig/$1.pc"
}
# libmicrohttpd's configure links it with ws2_32 but leaves it out of the
# .pc file (its Libs.private only lists the libraries of other features)
sed -i 's/^Libs\.private:\(.*\)$/Libs.private:\1 -lws2_32/' \
	"$prefix/lib/pkgconfig/libmicrohttpd.pc"
for pc in "$prefix"/lib/pkgconfig/*.pc; do
	PREFIX="$prefix" perl -0pi -e '
		my $prefix = $ENV{PREFIX};
		my ($libs) = /^Libs:[ \t]*(.*)$/m;
		my ($lp) = /^Libs\.private:[ \t]*(.*)$/m;
		my ($req) = /^Requires:[ \t]*(.*)$/m;
		my ($rp) = /^Requires\.private:[ \t]*(.*)$/m;
		my @t;
		for my $w (split " ", join(" ", $libs // "", $lp // "")) {
			$w = "-l$1" if $w =~ m{^\Q$prefix\E/lib/lib([^/]+)\.a$};
			next if $w =~ /^-l(mingw32|gcc|gcc_s|moldname|mingwex|msvcrt)$/;
			push @t, $w;
		}
		my (%seen, @out);
		for my $w (reverse @t) {
			next if $seen{$w}++ && $w !~ /^-L/;
			unshift @out, $w;
		}
		%seen = ();
		@out = grep { !/^-L/ || !$seen{$_}++ } @out;
		# the prefix archives first, Windows import libraries last
		my $ours = sub { $_[0] =~ /^-l(.+)$/ && -e "$prefix/lib/lib$1.a" };
		@out = ((grep { /^-L/ } @out), (grep { $ours->($_) } @out),
			(grep { !/^-L/ && !$ours->($_) } @out));
		my $r = join(", ", grep { defined && /\S/ } $req, $rp);
		s/^Libs\.private:.*\n//m;
		s/^Requires\.private:.*\n//m;
		s/^Requires:.*\n//m;
		s/^Libs:.*$/"Libs: " . join(" ", @out)/me;
		s/^(Libs:)/Requires: $r\n$1/m if $r ne "";
	' "$pc"
done
add_cflags libcurl -DCURL_STATICLIB
add_cflags expat -DXML_STATIC
add_cflags libcjson -DCJSON_HIDE_SYMBOLS
rm -f "$prefix"/lib/*.la

for m in openssl libcurl expat libcjson inih libmicrohttpd libevtx libpcre2-8 libdeflate zlib; do
	pkg-config --exists "$m" || die "$m.pc missing or broken in $prefix/lib/pkgconfig"
done

# ---- what the toolchain file reads ----------------------------------------
{
	echo "# generated by packaging/windows/build-deps.sh; included by mingw-w64.cmake"
	echo "set(SYSMONFWD_WIN_DEPS_KEY \"$key\")"
	printf 'set(SYSMONFWD_WIN_DEPS_VERSIONS "'
	for pin in "${pins[@]}"; do printf '%s=%s;' "${pin%% *}" "${pin#* }"; done
	printf '%s=%s")\n' "$zlib_package" "$zlib_installed"
	echo "set(SYSMONFWD_WIN_DEPS_STATIC_DEFINES CURL_STATICLIB XML_STATIC CJSON_HIDE_SYMBOLS PCRE2_STATIC)"
	echo "set(OPENSSL_ROOT_DIR \"\${CMAKE_CURRENT_LIST_DIR}\")"
	echo "set(OPENSSL_USE_STATIC_LIBS TRUE)"
	echo "set(ZLIB_ROOT \"\${CMAKE_CURRENT_LIST_DIR}\")"
} >"$prefix/deps.cmake"
{
	for pin in "${pins[@]}"; do echo "$pin (Debian source package)"; done
	echo "$zlib_package $zlib_installed (Debian binary package)"
	"$host-gcc" --version | head -n 1
} >"$prefix/VERSIONS"

# The licences that travel with a binary linking these libraries
# (packaging/windows/make-zip.sh puts them in the release zip): each
# source package's debian/copyright, and zlib's from its binary package.
for pin in "${pins[@]}"; do
	name=${pin%% *}
	mkdir -p "$prefix/share/licenses/$name"
	cp "$src/$name/debian/copyright" "$prefix/share/licenses/$name/copyright"
done
mkdir -p "$prefix/share/licenses/zlib"
cp "/usr/share/doc/$zlib_package/copyright" "$prefix/share/licenses/zlib/copyright"

cp -r "$logs" "$prefix/build-logs"
rm -rf "$work"
touch "$prefix/.complete"

# Other recipes' leftovers: unfinished builds go, and complete prefixes
# beyond the two newest (with this one, three are kept); a key whose lock
# another build holds is left alone.
prune_old() {
	local k n=0
	cd "$cache_root" || return 0
	for k in $(find . -maxdepth 1 -regextype posix-extended \
		-regex '\./[0-9a-f]{16}(\.build)?' -printf '%T@ %f\n' |
		sort -rn | awk '{ sub(/\.build$/, "", $2); if (!seen[$2]++) print $2 }'); do
		[ "$k" != "$key" ] || continue
		exec 8>".lock-$k"
		if flock -n 8; then
			if [ -f "$k/.complete" ] && [ ! -d "$k.build" ] && [ "$n" -lt 2 ]; then
				n=$((n + 1))
			else
				say "removing $cache_root/$k (another recipe's build)"
				rm -rf "$k" "$k.build" ".lock-$k"
			fi
		fi
		exec 8>&-
	done
}
(prune_old) || true
say "built $prefix in $((SECONDS - start)) s"
run_smoke
echo "$prefix"
