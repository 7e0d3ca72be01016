#!/bin/sh
# install.sh - install the sysmonfwd decoders and rules on a Wazuh 4.x manager.
#
# Copies decoders/*.xml into PREFIX/etc/decoders/ and rules/*.xml into
# PREFIX/etc/rules/ (PREFIX: --prefix, else $WAZUH_HOME, else /var/ossec),
# owner wazuh:wazuh (ossec:ossec on old managers; no chown when neither
# exists or when not run as root), mode 0660 like Wazuh's own files.
# It never touches a stock file: it writes only the three file names below,
# and refuses to overwrite a file of that name that it did not install (one
# without the marker line).  Running it twice gives the same result; files
# already identical are reported "unchanged" and left alone (mtime too).
#
#   install.sh [--prefix DIR] [--check] [--uninstall] [--force]
#
#   --check      dry run: say what would change, change nothing
#   --uninstall  remove the files installed by this script (only those)
#   --force      accept a prefix without etc/ossec.conf, and overwrite a
#                target file that lacks the marker
#
# Exit status: 0 done (or nothing to do), 1 error, 2 usage error.
set -eu

MARKER="sysmonfwd-wazuh-package"
DECODERS="0005-sysmonfwd_decoders.xml 0005-sysmonfwd-linux_decoders.xml"
RULES="sysmonfwd_rules.xml"

prog=${0##*/}
srcdir=$(cd "$(dirname "$0")" && pwd)
prefix=${WAZUH_HOME:-/var/ossec}
check=0
uninstall=0
force=0
changes=0

usage() {
	echo "usage: $prog [--prefix DIR] [--check] [--uninstall] [--force]" >&2
	exit 2
}

die() {
	echo "$prog: error: $*" >&2
	exit 1
}

say() {
	echo "$prog: $*"
}

while [ $# -gt 0 ]; do
	case $1 in
	--prefix)
		[ $# -ge 2 ] || usage
		prefix=$2
		shift 2
		;;
	--prefix=*)
		prefix=${1#--prefix=}
		shift
		;;
	--check | -n)
		check=1
		shift
		;;
	--uninstall)
		uninstall=1
		shift
		;;
	--force)
		force=1
		shift
		;;
	-h | --help)
		sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		usage
		;;
	esac
done

[ -n "$prefix" ] || usage
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/

if [ ! -f "$prefix/etc/ossec.conf" ]; then
	if [ "$force" -eq 0 ]; then
		die "$prefix does not look like a Wazuh manager (no" \
		    "etc/ossec.conf); give --prefix or WAZUH_HOME, or --force"
	fi
	say "warning: no $prefix/etc/ossec.conf, going on (--force)"
fi
for d in decoders rules; do
	if [ ! -d "$prefix/etc/$d" ]; then
		if [ "$check" -eq 1 ] || [ "$uninstall" -eq 1 ]; then
			continue
		fi
		if [ "$force" -eq 0 ]; then
			die "$prefix/etc/$d is missing (not a manager?); use --force"
		fi
		mkdir -p "$prefix/etc/$d"
	fi
done

# The owner Wazuh's own files in etc/ have: wazuh (4.3 and later), ossec
# (older).  Only root can give files away.
owner=
if [ "$(id -u)" -eq 0 ]; then
	if id wazuh >/dev/null 2>&1; then
		owner=wazuh:wazuh
	elif id ossec >/dev/null 2>&1; then
		owner=ossec:ossec
	fi
fi

# is_ours FILE: FILE carries the marker line of this package.
is_ours() {
	grep -q "$MARKER" "$1" 2>/dev/null
}

# mode_of FILE / owner_of FILE: as stat prints them (GNU or BSD stat).
mode_of() {
	stat -c %a "$1" 2>/dev/null || stat -f %Lp "$1"
}

owner_of() {
	stat -c %U:%G "$1" 2>/dev/null || stat -f %Su:%Sg "$1"
}

# install_one SRC DESTDIR
install_one() {
	src=$1
	dst=$2/${1##*/}
	[ -f "$src" ] || die "missing source file $src"
	if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
		fix=
		[ "$(mode_of "$dst")" = 660 ] || fix="mode"
		if [ -n "$owner" ] && [ "$(owner_of "$dst")" != "$owner" ]; then
			fix="${fix:+$fix, }owner"
		fi
		if [ -z "$fix" ]; then
			say "unchanged: $dst"
			return 0
		fi
		changes=$((changes + 1))
		if [ "$check" -eq 1 ]; then
			say "would fix $fix: $dst"
			return 0
		fi
		chmod 660 "$dst"
		[ -z "$owner" ] || chown "$owner" "$dst"
		say "fixed $fix: $dst"
		return 0
	fi
	changes=$((changes + 1))
	verb=installed
	[ -e "$dst" ] && verb=updated
	if [ "$check" -eq 1 ]; then
		say "would be $verb: $dst"
		return 0
	fi
	# Write next to the target and rename: analysisd never reads a
	# half-written file.
	tmp="$2/.${1##*/}.sysmonfwd-tmp.$$"
	trap 'rm -f "$tmp"' EXIT INT TERM
	cp "$src" "$tmp"
	chmod 660 "$tmp"
	[ -z "$owner" ] || chown "$owner" "$tmp"
	mv -f "$tmp" "$dst"
	trap - EXIT INT TERM
	say "$verb: $dst"
}

# remove_one NAME DESTDIR
remove_one() {
	dst=$2/$1
	if [ ! -e "$dst" ]; then
		say "not installed: $dst"
		return 0
	fi
	changes=$((changes + 1))
	if [ "$check" -eq 1 ]; then
		say "would remove: $dst"
		return 0
	fi
	rm -f "$dst"
	say "removed: $dst"
}

# refuse_foreign NAME DESTDIR: stop before writing anything when a target
# exists that this script did not install.
refuse_foreign() {
	dst=$2/$1
	if [ -e "$dst" ] && ! is_ours "$dst" && [ "$force" -eq 0 ]; then
		die "$dst exists and was not installed by sysmonfwd;" \
		    "not touching it (use --force)"
	fi
}

for f in $DECODERS; do
	refuse_foreign "$f" "$prefix/etc/decoders"
done
for f in $RULES; do
	refuse_foreign "$f" "$prefix/etc/rules"
done

if [ "$uninstall" -eq 1 ]; then
	for f in $DECODERS; do
		remove_one "$f" "$prefix/etc/decoders"
	done
	for f in $RULES; do
		remove_one "$f" "$prefix/etc/rules"
	done
else
	for f in $DECODERS; do
		install_one "$srcdir/decoders/$f" "$prefix/etc/decoders"
	done
	for f in $RULES; do
		install_one "$srcdir/rules/$f" "$prefix/etc/rules"
	done
	[ -n "$owner" ] || say "note: files not chowned (not root, or no" \
	    "wazuh/ossec user)"
fi

if [ "$check" -eq 1 ]; then
	say "check: $changes change(s) pending, nothing written"
	exit 0
fi

if [ -f "$prefix/etc/ossec.conf" ]; then
	for d in decoder rule; do
		if ! grep -q "<${d}_dir>etc/${d}s</${d}_dir>" \
		    "$prefix/etc/ossec.conf"; then
			say "warning: $prefix/etc/ossec.conf has no" \
			    "<${d}_dir>etc/${d}s</${d}_dir> in <ruleset>;" \
			    "add it or the files are not loaded"
		fi
	done
fi

if [ "$changes" -eq 0 ]; then
	say "nothing to do"
	exit 0
fi
if [ "$uninstall" -eq 1 ]; then
	cat <<EOF
$prog: done.  Restart the manager to unload them:
  systemctl restart wazuh-manager   (or $prefix/bin/wazuh-control restart)
EOF
	exit 0
fi
cat <<EOF
$prog: done.  Next:
  check the ruleset:    $prefix/bin/wazuh-analysisd -t
  restart the manager:  systemctl restart wazuh-manager
                        (or $prefix/bin/wazuh-control restart)
  test an event:        $prefix/bin/wazuh-logtest
                        (paste a line from $srcdir/logtest/)
EOF
