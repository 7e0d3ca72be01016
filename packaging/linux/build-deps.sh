#!/usr/bin/env bash
#
# build-deps.sh - build the static libcurl and libmicrohttpd the Linux
# agent links, from Debian's source packages, with only what sysmonfwd
# uses, into a cached prefix.
#
#   bash packaging/linux/build-deps.sh                 build (or reuse) and print the prefix
#   bash packaging/linux/build-deps.sh --print-prefix  print the prefix; exit 1 if not built
#
# Why: Debian's libcurl4 loads GnuTLS (through librtmp), p11-kit, nettle,
# gmp, Kerberos, LDAP, SASL, libssh2, nghttp2, libpsl, libidn2, brotli and
# zstd into the agent, and libmicrohttpd12 loads GnuTLS again: about 3 MiB
# of resident memory at idle, for protocols the agent never speaks. Here
# curl is HTTP and HTTPS only, over the system's OpenSSL (libssl3) and zlib,
# with the threaded resolver, proxies, CONNECT_ONLY, client certificates
# and pinned keys (what transport/http.c asks of it); libmicrohttpd is
# plain HTTP (the /health and /metrics endpoint, agent/health/monitor.c),
# no TLS, no POST processor, no authentication, no Upgrade. Both are static
# archives; OpenSSL and zlib stay the system's shared libraries, so their
# security updates still reach the agent through apt.
#
# The prefix is the only thing written to standard output (its last line);
# progress goes to standard error, each step's output to a log file that is
# shown when the step fails. CMakeLists.txt runs this script at configure
# time (unless -DSYSMONFWD_SYSTEM_CURL=ON).
#
# Sources: curl and libmicrohttpd from bookworm at the exact Debian
# versions pinned below (curl's pin is packaging/windows/build-deps.sh's),
# fetched with `apt-get source` through a private apt state under the cache
# directory (the machine's apt sources are never touched; apt checks the
# Release signatures and the hashes as usual) and unpacked with dpkg-source,
# so Debian's patches, security fixes included, are applied. Compiler flags
# are Debian's (dpkg-buildflags, hardening=+all).
#
# Cache: ${SYSMONFWD_LINUX_DEPS_CACHE:-$HOME/.cache/sysmonfwd/linux-deps}/<key>,
# where <key> is a hash of this script (the pins and the whole recipe), of
# the compiler's version, of Debian's build flags and of the libssl-dev and
# zlib1g-dev versions built against. A prefix is used only once complete
# (.complete); a failed or interrupted build is started again from scratch.
#
# Environment: SYSMONFWD_LINUX_DEPS_CACHE (cache root),
# SYSMONFWD_LINUX_DEPS_JOBS (make -j, default: the number of CPUs),
# SYSMONFWD_DEBIAN_MIRROR (default http://deb.debian.org/debian; the
# security archive is ${SYSMONFWD_DEBIAN_MIRROR}-security).
#
set -euo pipefail

# ---- pins: exact Debian source versions ---------------------------------
# When one of them leaves the archive this script stops and names it; pick
# the version Debian offers then (the error lists them) and update the pin
# (and packaging/windows/build-deps.sh's).
pins=(
	"curl 7.88.1-10+deb12u15"
	"libmicrohttpd 0.9.75-6"
)

jobs=${SYSMONFWD_LINUX_DEPS_JOBS:-$(nproc 2>/dev/null || echo 2)}
mirror=${SYSMONFWD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache_root=${SYSMONFWD_LINUX_DEPS_CACHE:-$HOME/.cache/sysmonfwd/linux-deps}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"

say() { echo "build-deps.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

mode=build
for arg in "$@"; do
	case $arg in
	--print-prefix) mode=print ;;
	-h | --help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$arg' (--print-prefix, --help)" ;;
	esac
done

for tool in gcc dpkg-buildflags dpkg-query; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: run packaging/install-deps.sh"
done
# The libraries curl is built against: their headers now, their shared
# libraries at run time.
devs=""
for pkg in libssl-dev zlib1g-dev; do
	v=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
	[ -n "$v" ] || die "$pkg is not installed: run packaging/install-deps.sh"
	devs="$devs $pkg=$v"
done

# Debian's flags, as its packages are built (libmicrohttpd's rules ask for
# hardening=+all), without the prefix maps of the current directory (which
# would give every build directory a key, and a build, of its own).
export DEB_BUILD_MAINT_OPTIONS="hardening=+all reproducible=-fixfilepath,-fixdebugpath"
deb_cflags=$(dpkg-buildflags --get CFLAGS)
deb_cppflags=$(dpkg-buildflags --get CPPFLAGS)
deb_ldflags=$(dpkg-buildflags --get LDFLAGS)
unset DEB_BUILD_MAINT_OPTIONS

key=$( {
	cat "$self"
	gcc --version | head -n 1
	echo "$deb_cflags | $deb_cppflags | $deb_ldflags"
	echo "$devs"
} | sha256sum | cut -c1-16)
prefix="$cache_root/$key"

if [ "$mode" = print ]; then
	echo "$prefix"
	[ -f "$prefix/.complete" ] || { say "$prefix is not built yet: run $self"; exit 1; }
	exit 0
fi

if [ -f "$prefix/.complete" ]; then
	say "cached: $prefix"
	echo "$prefix"
	exit 0
fi

for tool in apt-get apt-cache dpkg-source cmake make perl pkg-config flock; do
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
	*) die "pinned $name $version is no longer in Debian's archive (bookworm, bookworm-updates, bookworm-security); offered now: ${offered:-none}. Update its pin in $self." ;;
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

# ---- the build -------------------------------------------------------------
export PKG_CONFIG_PATH=
unset CFLAGS CPPFLAGS LDFLAGS CC AR RANLIB || true

build_curl() {
	# HTTP and HTTPS only, as sysmonfwd speaks them (transport/http.c):
	# HTTP/1.1 (no nghttp2), OpenSSL with Debian's CA bundle and path (as
	# libcurl4's debian/rules configures them) and Debian's openssl.cnf
	# (its security level), zlib, the threaded resolver, IPv6, proxies
	# (the outputs' proxy key and the environment's https_proxy) with
	# Basic proxy credentials, curl_multi_wakeup's socketpair, error
	# strings (the agent logs them). Left out: every other protocol, IDN,
	# PSL, brotli, zstd, SSH, GSSAPI, LDAP, cookies, HSTS, Alt-Svc, DoH,
	# MIME, netrc, Unix sockets, digest/NTLM/Negotiate (the agent sends its
	# own Authorization headers), the curl tool and its manual.
	cd "$src/curl"
	run curl cmake -S . -B build -G "Unix Makefiles" \
		-DCMAKE_BUILD_TYPE=None \
		-DCMAKE_C_FLAGS="$deb_cflags $deb_cppflags" \
		-DCMAKE_POSITION_INDEPENDENT_CODE=ON \
		-DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
		-DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF \
		-DBUILD_CURL_EXE=OFF -DENABLE_MANUAL=OFF -DPICKY_COMPILER=OFF \
		-DHTTP_ONLY=ON \
		-DCURL_USE_OPENSSL=ON -DCURL_USE_MBEDTLS=OFF -DCURL_USE_BEARSSL=OFF \
		-DCURL_USE_WOLFSSL=OFF -DCURL_USE_NSS=OFF -DCURL_USE_GNUTLS=OFF \
		-DCURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
		-DCURL_CA_PATH=/etc/ssl/certs -DCURL_CA_FALLBACK=OFF \
		-DCURL_ZLIB=ON -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF \
		-DUSE_NGHTTP2=OFF -DUSE_NGTCP2=OFF -DUSE_QUICHE=OFF -DUSE_MSH3=OFF \
		-DUSE_LIBIDN2=OFF -DCURL_USE_LIBPSL=OFF \
		-DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DCURL_USE_GSSAPI=OFF \
		-DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON \
		-DENABLE_THREADED_RESOLVER=ON -DENABLE_ARES=OFF -DENABLE_IPV6=ON \
		-DENABLE_UNIX_SOCKETS=OFF -DENABLE_WEBSOCKETS=OFF \
		-DCURL_DISABLE_COOKIES=ON -DCURL_DISABLE_HSTS=ON \
		-DCURL_DISABLE_ALTSVC=ON -DCURL_DISABLE_DOH=ON \
		-DCURL_DISABLE_MIME=ON -DCURL_DISABLE_NETRC=ON \
		-DCURL_DISABLE_CRYPTO_AUTH=ON -DCURL_DISABLE_NTLM=ON \
		-DCURL_DISABLE_PROGRESS_METER=ON
	local want
	for want in USE_OPENSSL USE_THREADS_POSIX HAVE_LIBZ ENABLE_IPV6; do
		grep -q "^#define $want 1" build/lib/curl_config.h ||
			{ say "curl: $want is not configured"; exit 1; }
	done
	run curl cmake --build build -j "$jobs"
	run curl cmake --install build
}

build_libmicrohttpd() {
	# Plain HTTP (the monitor serves /health and /metrics without TLS):
	# no GnuTLS, no POST processor, no basic or digest authentication, no
	# Upgrade, no docs, examples or tests; epoll (the monitor asks for
	# MHD_USE_EPOLL) and error messages (its external logger) kept.
	cd "$src/libmicrohttpd"
	run libmicrohttpd ./configure \
		--prefix="$prefix" --libdir="$prefix/lib" \
		--disable-shared --enable-static --with-pic \
		--disable-nls --disable-dependency-tracking --enable-silent-rules \
		--disable-doc --disable-examples --disable-curl \
		--disable-https --without-gnutls \
		--disable-postprocessor --disable-bauth --disable-dauth \
		--disable-httpupgrade \
		--with-threads=posix --enable-epoll=yes \
		CFLAGS="$deb_cflags" CPPFLAGS="$deb_cppflags" LDFLAGS="$deb_ldflags"
	grep -q "^#define EPOLL_SUPPORT 1" MHD_config.h ||
		{ say "libmicrohttpd: configured without epoll"; exit 1; }
	! grep -q "^#define HTTPS_SUPPORT 1" MHD_config.h ||
		{ say "libmicrohttpd: configured with HTTPS"; exit 1; }
	run libmicrohttpd make -j"$jobs" -C src/microhttpd
	run libmicrohttpd make -C src/include install
	run libmicrohttpd make -C src/microhttpd install
	run libmicrohttpd make install-pkgconfigDATA
}

version_of() {
	local pin
	for pin in "${pins[@]}"; do
		[ "${pin%% *}" != "$1" ] || { echo "${pin#* }"; return; }
	done
}

# Both at once, each with make -j$jobs: a lane is a background subshell
# under set -e, its first failing command ends it.
lane() {
	local t0 version
	t0=$SECONDS
	version=$(version_of "$1")
	say "building $1 $version"
	"build_$1" "$version"
	say "built $1 in $((SECONDS - t0)) s"
}
lane curl &
lane_a=$!
lane libmicrohttpd &
lane_b=$!
rc=0
wait "$lane_a" || rc=1
wait "$lane_b" || rc=1
[ "$rc" -eq 0 ] || die "the build failed; logs in $logs"

# ---- pkg-config files for static linking ----------------------------------
# CMake's pkg_check_modules(IMPORTED_TARGET) reads Libs and Cflags only:
# fold Libs.private in, name the system's shared libraries by -l (curl's
# CMake writes their full paths), leave out the compiler's own runtime
# libraries (curl's CMake copies them in), and keep each library once at
# its last place (the order static linking needs).
for pc in "$prefix"/lib/pkgconfig/*.pc; do
	perl -0pi -e '
		my ($libs) = /^Libs:[ \t]*(.*)$/m;
		my ($lp) = /^Libs\.private:[ \t]*(.*)$/m;
		my @t;
		for my $w (split " ", join(" ", $libs // "", $lp // "")) {
			$w = "-l$1" if $w =~ m{^/\S*/lib([^/]+)\.(so|a)$};
			next if $w =~ /^-l(gcc|gcc_s|c)$/;
			push @t, $w;
		}
		my (%seen, @out);
		for my $w (reverse @t) {
			next if $seen{$w}++;
			unshift @out, $w;
		}
		s/^Libs\.private:.*\n//m;
		s/^Requires\.private:.*\n//m;
		s/^Libs:.*$/"Libs: " . join(" ", @out)/me;
	' "$pc"
done
rm -f "$prefix"/lib/*.la

# ---- check: what the archives hold is what the agent asks for -------------
# A program linked as the agent is (pkg-config --libs) prints curl's
# protocols and features and libmicrohttpd's; both must be exactly these.
cat >"$work/check.c" <<'CHECK'
#include <stdio.h>
#include <curl/curl.h>
#include <microhttpd.h>

int
main(void)
{
	curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	for (const char *const *p = v->protocols; *p != NULL; p++)
		printf("%s ", *p);
	printf("| %s%s%s%s%s%s%s%s%s| %s | %s%s%s\n",
	    v->features & CURL_VERSION_SSL ? "SSL " : "",
	    v->features & CURL_VERSION_LIBZ ? "libz " : "",
	    v->features & CURL_VERSION_ASYNCHDNS ? "AsynchDNS " : "",
	    v->features & CURL_VERSION_IPV6 ? "IPv6 " : "",
	    v->features & CURL_VERSION_HTTPS_PROXY ? "HTTPS-proxy " : "",
	    v->features & CURL_VERSION_HTTP2 ? "HTTP2 " : "",
	    v->features & CURL_VERSION_IDN ? "IDN " : "",
	    v->features & CURL_VERSION_GSSAPI ? "GSSAPI " : "",
	    v->features & CURL_VERSION_NTLM ? "NTLM " : "",
	    v->ssl_version,
	    MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES ? "TLS " : "",
	    MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? "epoll " : "",
	    MHD_is_feature_supported(MHD_FEATURE_MESSAGES) == MHD_YES ?
	    "messages" : "");
	return 0;
}
CHECK
# shellcheck disable=SC2046 # pkg-config's flags are a list of words
run check gcc -o "$work/check" "$work/check.c" \
	$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs libcurl libmicrohttpd)
got=$("$work/check")
case $got in
"http https | SSL libz AsynchDNS IPv6 HTTPS-proxy | OpenSSL/"*" | epoll messages") ;;
*) die "the built libraries are not what the agent needs: $got" ;;
esac
say "check: $got"
needed=$(readelf -d "$work/check" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
case $needed in
*curl* | *microhttpd* | *gnutls* | *nghttp2* | *gssapi* | *ldap* | *ssh* | *rtmp*)
	die "the check program needs $needed" ;;
esac

{
	for pin in "${pins[@]}"; do echo "$pin (Debian source package)"; done
	echo "built against:$devs"
	gcc --version | head -n 1
	echo "CFLAGS=$deb_cflags CPPFLAGS=$deb_cppflags LDFLAGS=$deb_ldflags"
} >"$prefix/VERSIONS"

# The licences of what a binary linking these archives carries: each
# source package's debian/copyright.
for pin in "${pins[@]}"; do
	name=${pin%% *}
	mkdir -p "$prefix/share/licenses/$name"
	cp "$src/$name/debian/copyright" "$prefix/share/licenses/$name/copyright"
done

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
echo "$prefix"
