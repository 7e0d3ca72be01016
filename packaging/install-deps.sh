#!/usr/bin/env bash
#
# install-deps.sh - install every package needed to build and test
# sysmonfwd on Debian 12 (bookworm), with apt-get.
#
# Safe to run again: apt-get install leaves installed packages alone.
# Every test needs its package here: under CI=true a test that would skip
# for a missing tool fails instead (shellcheck lints the Wazuh install
# script, gcc-mingw-w64 cross-compiles the Windows sources, curl checks
# the test servers; stress-ng keeps the cores busy for the runs that
# prove the suite deterministic under load). The Windows build also needs
# what packaging/windows/build-deps.sh fetches and builds its libraries
# with (apt-get source, dpkg-source, make, perl, mingw zlib and
# pkg-config) and wine64 to run the result (libgnutls30 for Wine's TLS).
# Runs apt-get through sudo when not run as root.
#
set -euo pipefail

packages=(
	build-essential
	cmake
	pkg-config
	libcurl4-openssl-dev
	libssl-dev
	zlib1g-dev
	libdeflate-dev
	libcjson-dev
	libcmocka-dev
	libexpat1-dev
	libinih-dev
	libpcre2-dev
	libmicrohttpd-dev
	libsystemd-dev
	libevtx-dev
	systemd-journal-remote
	curl
	python3
	python3-yaml
	python3-cryptography
	openssl
	ca-certificates
	procps
	file
	clang
	libclang-rt-14-dev
	gcc-mingw-w64-x86-64-win32
	libz-mingw-w64-dev
	mingw-w64-tools
	dpkg-dev
	debian-archive-keyring
	xz-utils
	make
	perl
	wine64
	wine
	libgnutls30
	shellcheck
	stress-ng
	lintian
)

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "install-deps.sh: not root and sudo is not installed" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive

echo "install-deps.sh: updating the package lists"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq

echo "install-deps.sh: installing ${packages[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -qq -y --no-install-recommends "${packages[@]}" \
	>/dev/null

echo "install-deps.sh: done"
