# common.sh - sourced by the scripts of tests/cross/: what they share.
# shellcheck shell=bash

# Under CI (CI set to anything but empty, 0, false or no) nothing may be
# skipped.
in_ci() {
	case ${CI:-} in
	'' | 0 | false | FALSE | False | no) return 1 ;;
	*) return 0 ;;
	esac
}

# need WHAT HOW: WHAT is missing (HOW installs it): fail under CI, else
# skip the whole script (exit 0) with a message.
need() {
	local me
	me=$(basename "$0")
	if in_ci; then
		echo "$me: FAILED: $1 is missing under CI ($2)" >&2
		exit 1
	fi
	echo "$me: SKIPPED: $1 is missing ($2)" >&2
	exit 0
}
