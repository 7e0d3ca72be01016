#!/usr/bin/env bash
#
# deb-test.sh - build the Debian package and hold it to issue 18, as root
# on a Debian 12 host that need not run systemd (CI, a container).
#
#   tests/package/deb-test.sh [BUILD_DIR]
#
# 1. Builds the package as the README says (a fresh build directory under
#    $TMPDIR configured with -DCMAKE_INSTALL_PREFIX=/usr, or BUILD_DIR),
#    which also checks sysmonfwd.conf(5) against config/config.c; shows
#    that check failing on a page or a key table that drifted.
# 2. lintian: no error, no warning.
# 3. The package's file list, owners and modes, exactly; its conffiles;
#    its dependencies against the libraries the binary needs; the
#    copyright file against them too; the man pages render cleanly.
# 4. dpkg -i: the user and group, its groups, the modes of the
#    configuration and the state directory, the unit enabled;
#    --check-config as the sysmonfwd user (and refused to another user);
#    the unit's own ExecStartPre; a replay of the demo events into a file
#    as that user; systemd-analyze security --offline=true gives <= 2.0.
# 5. dpkg -i again over a locally edited configuration: the edit stays.
#    The README's HEC output and token file pass --check-config.
# 6. dpkg -r keeps the configuration, state and user, and installing again
#    resumes with them; dpkg --purge removes them, the statoverride and
#    the unit's enablement: nothing of sysmonfwd is left.
#
# It refuses to run where a sysmonfwd package or user already exists, and
# purges what it installed on any exit.  Skips (exit 0) when not root or
# a tool is missing, except under CI (CI=true), where that fails.  Under
# a minute on two idle cores (the build is most of it), under three on
# two cores kept busy.
set -euo pipefail
cd "$(dirname "$0")/../.."

# in_ci, need
# shellcheck source=tests/cross/common.sh
. tests/cross/common.sh

me="deb-test.sh"
pkg=sysmonfwd
installed_by_us=false
work=$(mktemp -d)
trap cleanup EXIT
# A command that fails outside a check says where.
trap 'echo "$me: FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR

cleanup() {
	local rc=$?
	if $installed_by_us && is_installed; then
		echo "$me: purging the package after a failure"
		dpkg --purge "$pkg" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
	exit "$rc"
}

# Whether dpkg knows the package (installed, or removed with its
# configuration left).
is_installed() {
	local st
	st=$(dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st##* }" != not-installed ]
}

fail() {
	echo "$me: FAILED: $*" >&2
	exit 1
}

ok() {
	echo "$me: ok: $*"
}

[ "$(id -u)" -eq 0 ] || need "root (dpkg -i)" "run as root"
for tool in cmake dpkg-deb dpkg-shlibdeps lintian systemd-analyze \
    runuser python3 adduser man gzip readelf; do
	command -v "$tool" >/dev/null 2>&1 ||
		need "$tool" "bash packaging/install-deps.sh"
done
command -v deb-systemd-helper >/dev/null 2>&1 ||
	need deb-systemd-helper "apt-get install init-system-helpers"

if is_installed; then
	fail "a $pkg package is already on this host: not touching it"
fi
getent passwd "$pkg" >/dev/null && fail "a user $pkg already exists"
getent group "$pkg" >/dev/null && fail "a group $pkg already exists"
[ -e /etc/sysmonfwd ] && fail "/etc/sysmonfwd already exists"
[ -e /var/lib/sysmonfwd ] && fail "/var/lib/sysmonfwd already exists"

# --- 1. build ------------------------------------------------------------

version=$(sed -n 's/^project(sysmonfwd VERSION \([0-9.]*\).*/\1/p' \
	CMakeLists.txt)
[ -n "$version" ] || fail "no version in CMakeLists.txt"
arch=$(dpkg --print-architecture)
build=${1:-$work/build}
echo "$me: building the package in $build"
if [ $# -eq 0 ]; then
	cmake -S . -B "$build" -DCMAKE_INSTALL_PREFIX=/usr \
		-DSYSMONFWD_BUILD_TESTS=OFF >"$work/cmake.log" 2>&1 ||
		{ cat "$work/cmake.log"; fail "cmake configure"; }
fi
deb=$build/${pkg}_${version}_${arch}.deb
rm -f "$deb"
cmake --build "$build" -j"$(nproc)" --target package >"$work/build.log" \
	2>&1 || { tail -n 40 "$work/build.log"; fail "the package target"; }
[ -f "$deb" ] || fail "no $deb after the package target"
grep 'check-conf-man:' "$work/build.log"
ok "built $(basename "$deb")"

# The man page check fails on drift, both ways.  A copy of the three files
# it reads, broken one way at a time.
drift() {
	local what=$1 file=$2 expr=$3 t=$work/drift
	rm -rf "$t"
	mkdir -p "$t/config" "$t/packaging/man"
	cp config/config.c "$t/config/"
	cp packaging/man/sysmonfwd.conf.5 "$t/packaging/man/"
	cp packaging/sysmonfwd.conf "$t/packaging/"
	python3 - "$t/$file" "$expr" <<'EOF'
import re, sys
path, expr = sys.argv[1], sys.argv[2]
old, new = expr.split("=>")
text = open(path).read()
if old not in text:
    sys.exit("drift: %r not in %s" % (old, path))
open(path, "w").write(text.replace(old, new, 1))
EOF
	if python3 packaging/man/check-conf-man.py "$t" >"$t.log" 2>&1; then
		fail "check-conf-man.py did not notice: $what"
	fi
	ok "check-conf-man.py notices $what: $(grep -m1 -o '\[.*' "$t.log")"
}
drift "a key missing from the page" packaging/man/sysmonfwd.conf.5 \
	$'.TP\n.B keepalive_interval\n=>.TP\n'
drift "a new key in config.c" config/config.c \
	'{ SEC_AGENT, "name",=>{ SEC_AGENT, "nickname", K_STRING, AG(name), NULL, 1, 2, NULL, ALL, false },
	{ SEC_AGENT, "name",'
drift "a changed default" config/config.c '"256MiB"=>"512MiB"'
drift "a key moved to other output types" config/config.c \
	'OUT(agent_groups), NULL, 1,
	  1024, NULL, WA,=>OUT(agent_groups), NULL, 1,
	  1024, NULL, WA | HEC,'
drift "a new enumerated value" config/config.c \
	'{ "never", CONFIG_FSYNC_NEVER }=>{ "never", CONFIG_FSYNC_NEVER }, { "sometimes", 3 }'

# --- 2. lintian ----------------------------------------------------------

echo "$me: lintian $(lintian --version | awk '{print $2}')"
rc=0
lintian --fail-on error,warning --display-info "$deb" >"$work/lintian.log" \
	2>&1 || rc=$?
sed 's/^/    /' "$work/lintian.log"
if grep -E '^[EW]: ' "$work/lintian.log" || [ "$rc" -ne 0 ]; then
	fail "lintian reports errors or warnings, or failed (exit $rc)"
fi
ok "lintian: no error, no warning"

# --- 3. what the package holds -------------------------------------------

# Every entry: mode owner path, sorted.
dpkg-deb -c "$deb" | awk '{ p = $6; sub(/^\./, "", p); sub(/\/$/, "", p);
	print $1, $2, p }' | sort -k3 >"$work/list"
awk '$2 != "root/root" { print; bad = 1 } END { exit bad }' \
	"$work/list" || fail "entries not owned by root/root (above)"

# The expected list: the fixed files, and the shared files of packaging/.
{
	for d in /etc /etc/sysmonfwd /lib /lib/systemd /lib/systemd/system \
	    /usr /usr/sbin /usr/share /usr/share/doc /usr/share/doc/sysmonfwd \
	    /usr/share/man /usr/share/man/man5 /usr/share/man/man8 \
	    /usr/share/sysmonfwd /usr/share/lintian \
	    /usr/share/lintian/overrides; do
		echo "drwxr-xr-x $d"
	done
	echo "-rw-r--r-- /etc/sysmonfwd/sysmonfwd.conf"
	echo "-rw-r--r-- /lib/systemd/system/sysmonfwd.service"
	echo "-rwxr-xr-x /usr/sbin/sysmonfwd"
	echo "-rw-r--r-- /usr/share/doc/sysmonfwd/changelog.gz"
	echo "-rw-r--r-- /usr/share/doc/sysmonfwd/copyright"
	# the static libcurl (packaging/debian/lintian-overrides says why)
	echo "-rw-r--r-- /usr/share/lintian/overrides/sysmonfwd"
	echo "-rw-r--r-- /usr/share/man/man5/sysmonfwd.conf.5.gz"
	echo "-rw-r--r-- /usr/share/man/man8/sysmonfwd.8.gz"
	(cd packaging && find wazuh dashboards sysmon detections filters demo \
	    \( -type d -printf 'drwxr-xr-x /usr/share/sysmonfwd/%p\n' \) -o \
	    \( -type f -perm -u+x \
	    -printf '-rwxr-xr-x /usr/share/sysmonfwd/%p\n' \) -o \
	    \( -type f -printf '-rw-r--r-- /usr/share/sysmonfwd/%p\n' \))
} | sort -k2 >"$work/want"
awk '{ print $1, $3 }' "$work/list" >"$work/got"
if ! diff -u "$work/want" "$work/got"; then
	fail "the package's files or modes differ from the expected (- want, + got)"
fi
ok "file list and modes: $(wc -l <"$work/got") entries, all root/root"

mkdir "$work/x"
dpkg-deb -x "$deb" "$work/x"
dpkg-deb -e "$deb" "$work/x/DEBIAN"
cmp -s packaging/sysmonfwd.conf "$work/x/etc/sysmonfwd/sysmonfwd.conf" ||
	fail "the packaged configuration is not packaging/sysmonfwd.conf"
[ "$(cat "$work/x/DEBIAN/conffiles")" = /etc/sysmonfwd/sysmonfwd.conf ] ||
	fail "conffiles: $(cat "$work/x/DEBIAN/conffiles")"
for s in postinst prerm postrm; do
	[ "$(stat -c %a "$work/x/DEBIAN/$s")" = 755 ] || fail "$s not 0755"
done
ftype=$(file "$work/x/usr/sbin/sysmonfwd")
[[ $ftype == *", stripped"* ]] ||
	fail "the binary is not stripped"
unit=$work/x/lib/systemd/system/sysmonfwd.service
grep -q '^ExecStart=/usr/sbin/sysmonfwd ' "$unit" ||
	fail "the unit does not start /usr/sbin/sysmonfwd"
! grep -n '/usr/local' "$unit" || fail "the unit names /usr/local"
ok "conffiles, maintainer scripts, stripped binary, unit paths"

# Dependencies: each library the binary needs, by the package that holds
# it, is in Depends (dpkg-shlibdeps), and the copyright file names it.
depends=$(dpkg-deb -f "$deb" Depends)
echo "$me: Depends: $depends"
readelf -d "$work/x/usr/sbin/sysmonfwd" |
	sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' >"$work/needed"
[ -s "$work/needed" ] || fail "no NEEDED libraries in the binary"
ldconfig -p >"$work/ldconfig"
deplist=$(tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/ .*//')
while read -r so; do
	path=$(awk -v so="$so" '$1 == so && !p { p = $NF } END { print p }' \
		"$work/ldconfig")
	[ -n "$path" ] || fail "$so: not found by ldconfig"
	# dpkg knows a library by the path its package installed, which
	# usrmerge may have put behind a link: both are asked.
	owner=
	for p in "$path" "$(readlink -f "$path")" \
	    "${path#/usr}" "$(readlink -f "$path" | sed 's,^/usr,,')"; do
		owner=$(dpkg -S "$p" 2>/dev/null | cut -d: -f1 | head -n 1) ||
			true
		[ -z "$owner" ] || break
	done
	[ -n "$owner" ] || fail "$so ($path): no package holds it"
	grep -qx -- "$owner" <<<"$deplist" ||
		fail "$so ($owner) is not in Depends"
	grep -q "^  $so  *$owner " "$work/x/usr/share/doc/sysmonfwd/copyright" ||
		fail "$so ($owner) is not listed in the copyright file"
done <"$work/needed"
grep -qx adduser <<<"$deplist" || fail "adduser is not in Depends"
# libsystemd and libevtx are opened at run time: named by hand.
grep -qx libsystemd0 <<<"$deplist" || fail "libsystemd0 is not in Depends"
dpkg-deb -f "$deb" Recommends | grep -qw libevtx1 ||
	fail "libevtx1 is not in Recommends"
# ... and the copyright file names no library the binary does not need.
sed -n 's/^  \(lib[^ ]*\.so\.[^ ]*\) .*/\1/p' \
	"$work/x/usr/share/doc/sysmonfwd/copyright" | sort >"$work/listed"
sort "$work/needed" | diff -u - "$work/listed" ||
	fail "the copyright file's libraries are not the binary's (- needed, + listed)"
ok "Depends and copyright cover the $(wc -l <"$work/needed") libraries"

for page in man8/sysmonfwd.8.gz man5/sysmonfwd.conf.5.gz; do
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z \
	    "$work/x/usr/share/man/$page" 2>"$work/man.err" >/dev/null ||
		fail "man $page"
	[ ! -s "$work/man.err" ] || { cat "$work/man.err"; fail "groff warns: $page"; }
done
ok "man pages render without warnings"

# sysmonfwd(8) names every option of the binary's --help, and its version.
"$work/x/usr/sbin/sysmonfwd" --help >"$work/help" 2>&1 ||
	fail "sysmonfwd --help"
man8=$(zcat "$work/x/usr/share/man/man8/sysmonfwd.8.gz")
while read -r opt; do
	[[ $man8 == *"${opt//-/\\-}"* ]] ||
		fail "sysmonfwd(8) does not document $opt"
done < <(grep -o -- '--[a-z-]*' "$work/help" | sort -u)
[[ $man8 == *"\"sysmonfwd $version\""* ]] ||
	fail "sysmonfwd(8) is not for version $version"
ok "sysmonfwd(8) documents the $(grep -o -- '--[a-z-]*' "$work/help" |
	sort -u | wc -l) options of --help"

# --- 4. install ----------------------------------------------------------

echo "$me: dpkg -i (systemd running: $([ -d /run/systemd/system ] &&
	echo yes || echo no))"
installed_by_us=true
dpkg -i "$deb" </dev/null >"$work/dpkg.log" 2>&1 ||
	{ cat "$work/dpkg.log"; fail "dpkg -i"; }

IFS=: read -r _ _ uid _ _ home shell < <(getent passwd "$pkg") ||
	fail "no user $pkg after install"
[ "$shell" = /usr/sbin/nologin ] || fail "the user's shell is $shell"
[ ! -e "$home" ] || fail "the user has a home: $home"
[ "$uid" -lt 1000 ] || fail "the user is not a system user (uid $uid)"
getent group "$pkg" >/dev/null || fail "no group $pkg"
for g in systemd-journal adm; do
	if getent group "$g" >/dev/null; then
		[[ " $(id -nG "$pkg") " == *" $g "* ]] ||
			fail "$pkg is not in $g"
	fi
done
ok "user $pkg (uid $uid, $shell, home $home), groups: $(id -nG "$pkg")"

[ "$(stat -c '%a %U %G' /etc/sysmonfwd/sysmonfwd.conf)" = \
    "640 root sysmonfwd" ] ||
	fail "configuration: $(stat -c '%a %U %G' /etc/sysmonfwd/sysmonfwd.conf)"
[ "$(stat -c '%a %U %G' /var/lib/sysmonfwd)" = "750 sysmonfwd sysmonfwd" ] ||
	fail "state directory: $(stat -c '%a %U %G' /var/lib/sysmonfwd)"
ok "/etc/sysmonfwd/sysmonfwd.conf 0640 root:sysmonfwd, /var/lib/sysmonfwd 0750"

wants=/etc/systemd/system/multi-user.target.wants/sysmonfwd.service
[ "$(readlink "$wants")" = /lib/systemd/system/sysmonfwd.service ] ||
	fail "the unit is not enabled ($wants)"
ok "the unit is enabled ($wants)"

out=$(runuser -u "$pkg" -- /usr/sbin/sysmonfwd \
	-c /etc/sysmonfwd/sysmonfwd.conf --check-config 2>&1) ||
	fail "--check-config as $pkg: $out"
[ "$out" = "configuration OK" ] || fail "--check-config said: $out"
ok "--check-config as $pkg: $out"
if runuser -u nobody -- /usr/sbin/sysmonfwd \
    -c /etc/sysmonfwd/sysmonfwd.conf --check-config >/dev/null 2>&1; then
	fail "user nobody can read the configuration"
fi
ok "user nobody cannot read it"

# The unit's own ExecStartPre, word for word, as the unit's user.
pre=$(sed -n 's/^ExecStartPre=//p' /lib/systemd/system/sysmonfwd.service)
read -r -a prev <<<"$pre"
runuser -u "$pkg" -- "${prev[@]}" >/dev/null 2>&1 ||
	fail "the unit's ExecStartPre ($pre) fails"
ok "the unit's ExecStartPre passes: $pre"

# A replay of the installed demo events into a file, as the user, in a
# directory of the state directory (the only place the unit lets it
# write).
demo=/usr/share/sysmonfwd/demo/indextts-sysmon.xml.log
replay=/var/lib/sysmonfwd/deb-test
install -d -o "$pkg" -g "$pkg" -m 0750 "$replay"
cat >"$replay/replay.conf" <<EOF
[agent]
name = deb-test
state_dir = $replay/state
heartbeat_interval = 0
[watchdog]
enabled = false
[input:demo]
type = file
path = $demo
follow = false
[output:out]
type = file
path = $replay/out.ndjson
EOF
chown root:"$pkg" "$replay/replay.conf"
chmod 0640 "$replay/replay.conf"
runuser -u "$pkg" -- timeout 120 /usr/sbin/sysmonfwd \
	-c "$replay/replay.conf" --once >"$work/replay.log" 2>&1 ||
	{ cat "$work/replay.log"; fail "the replay as $pkg"; }
want=$(grep -c '<Event' "$demo")
python3 - "$replay/out.ndjson" "$want" <<'EOF' ||
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
want = int(sys.argv[2])
ids = [d.get("winlog", {}).get("record_id") for d in docs]
if len(docs) != want or len(set(ids)) != want:
    sys.exit("%d documents (%d records), want %d" %
             (len(docs), len(set(ids)), want))
if any(d["agent"]["name"] != "deb-test" for d in docs):
    sys.exit("a document without agent.name deb-test")
EOF
	fail "the replay's output"
[ "$(stat -c %U "$replay/out.ndjson")" = "$pkg" ] ||
	fail "the output is not owned by $pkg"
ok "replay as $pkg: $want records in, $want documents out"

echo "$me: systemd-analyze security --offline=true"
systemd-analyze security --offline=true \
	/lib/systemd/system/sysmonfwd.service >"$work/sec.log" 2>&1 ||
	{ cat "$work/sec.log"; fail "systemd-analyze security"; }
exposure=$(sed -n 's/.*Overall exposure level for sysmonfwd.service: \([0-9.]*\).*/\1/p' \
	"$work/sec.log")
[ -n "$exposure" ] || { cat "$work/sec.log"; fail "no exposure level"; }
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' ||
	{ cat "$work/sec.log"; fail "exposure $exposure > 2.0"; }
ok "systemd-analyze security --offline=true: exposure $exposure (<= 2.0)"

# --- 5. upgrade over itself ----------------------------------------------

sed -i 's/^log_level = info$/log_level = debug/' \
	/etc/sysmonfwd/sysmonfwd.conf
echo "; edited by deb-test.sh" >>/etc/sysmonfwd/sysmonfwd.conf
dpkg -i "$deb" </dev/null >"$work/dpkg2.log" 2>&1 ||
	{ cat "$work/dpkg2.log"; fail "dpkg -i over itself"; }
if ! grep -qx 'log_level = debug' /etc/sysmonfwd/sysmonfwd.conf ||
    ! grep -qx '; edited by deb-test.sh' /etc/sysmonfwd/sysmonfwd.conf; then
	fail "the local edit did not survive the upgrade"
fi
[ "$(stat -c '%a %U %G' /etc/sysmonfwd/sysmonfwd.conf)" = \
    "640 root sysmonfwd" ] || fail "the upgrade changed the mode"
[ ! -e /etc/sysmonfwd/sysmonfwd.conf.dpkg-dist ] ||
	fail "the upgrade left a .dpkg-dist"
[ -f "$replay/out.ndjson" ] || fail "the upgrade lost the state"
runuser -u "$pkg" -- /usr/sbin/sysmonfwd -c /etc/sysmonfwd/sysmonfwd.conf \
	--check-config >/dev/null || fail "--check-config after the upgrade"
ok "upgrade over itself: the edit, the mode and the state kept"

# The README's "Send to a SIEM", word for word: a HEC output, its token
# in a file of its own.  The same token file readable by others is
# refused.
cat >>/etc/sysmonfwd/sysmonfwd.conf <<'EOF'

[output:splunk]
type = splunk_hec
url = https://splunk.example.com:8088
token_file = /etc/sysmonfwd/hec.token
EOF
printf '%s\n' 'YOUR-HEC-TOKEN' | install -m 0640 -g sysmonfwd /dev/stdin /etc/sysmonfwd/hec.token
out=$(runuser -u sysmonfwd -- sysmonfwd --check-config 2>&1) ||
	fail "the README's HEC output: $out"
[ "$out" = "configuration OK" ] || fail "the README's HEC output: $out"
chmod 0644 /etc/sysmonfwd/hec.token
if out=$(runuser -u sysmonfwd -- sysmonfwd --check-config 2>&1); then
	fail "a token file others may read was accepted"
fi
[[ $out == *"readable by other users"* ]] ||
	fail "a token file others may read: $out"
ok "the README's HEC output passes --check-config; a 0644 token does not"

# --- 6. remove, then purge -----------------------------------------------

dpkg -r "$pkg" </dev/null >"$work/dpkg3.log" 2>&1 ||
	{ cat "$work/dpkg3.log"; fail "dpkg -r"; }
[ ! -e /usr/sbin/sysmonfwd ] || fail "dpkg -r left the binary"
[ -f /etc/sysmonfwd/sysmonfwd.conf ] || fail "dpkg -r removed the config"
[ -d /var/lib/sysmonfwd ] || fail "dpkg -r removed the state"
getent passwd "$pkg" >/dev/null || fail "dpkg -r removed the user"
ok "dpkg -r keeps the configuration, the state and the user"

# Installing again resumes: the same user, the edited configuration, the
# state, the unit enabled again.
dpkg -i "$deb" </dev/null >"$work/dpkg5.log" 2>&1 ||
	{ cat "$work/dpkg5.log"; fail "dpkg -i after dpkg -r"; }
[ "$(id -u "$pkg")" = "$uid" ] || fail "the user changed on reinstall"
grep -qx 'log_level = debug' /etc/sysmonfwd/sysmonfwd.conf ||
	fail "reinstalling lost the edited configuration"
[ -f "$replay/out.ndjson" ] || fail "reinstalling lost the state"
[ "$(readlink "$wants")" = /lib/systemd/system/sysmonfwd.service ] ||
	fail "the unit is not enabled again after reinstalling"
ok "dpkg -i after dpkg -r: same user, configuration and state, enabled"

dpkg --purge "$pkg" </dev/null >"$work/dpkg4.log" 2>&1 ||
	{ cat "$work/dpkg4.log"; fail "dpkg --purge"; }
installed_by_us=false
left=()
getent passwd "$pkg" >/dev/null && left+=("user $pkg")
getent group "$pkg" >/dev/null && left+=("group $pkg")
grep -qw "$pkg" /etc/group && left+=("$pkg in /etc/group")
for p in /etc/sysmonfwd /var/lib/sysmonfwd /usr/sbin/sysmonfwd \
    /usr/share/sysmonfwd /lib/systemd/system/sysmonfwd.service; do
	[ -e "$p" ] && left+=("$p")
done
[[ $(dpkg-statoverride --list) == *sysmonfwd* ]] && left+=("a statoverride")
while read -r f; do left+=("$f"); done < <(find /etc/systemd \
	/var/lib/systemd/deb-systemd-helper-enabled \
	/var/lib/systemd/deb-systemd-helper-masked -name '*sysmonfwd*' \
	2>/dev/null)
is_installed && left+=("the package's dpkg record")
[ ${#left[@]} -eq 0 ] || fail "dpkg --purge left: ${left[*]}"
ok "dpkg --purge: no user, group, configuration, state or unit left"

echo "$me: all checks passed"
