#!/usr/bin/env bash
#
# service-wine.sh - sysmonfwd.exe as a Windows service, under Wine's
# service manager (services.exe, sc.exe, reg.exe), and the watchdog
# against a stand-in Sysmon64 service.  Builds the exe (win_setup, as
# agent-wine.sh does), the stand-in (tests/windows/dummy_service/) and the
# log rotation check (tests/windows/log_rotate/), then checks:
#
#   1. the demo: sysmonfwd.exe with no -c and no configuration under
#      %ProgramData% replays packaging/demo (the exe's own copy, written
#      into %TEMP%\sysmonfwd-demo, equal to the file) into that directory
#      (exit 0, one document per demo line, "demo: N documents written
#      to ..."); a second run replays from the start (N again, not 2N);
#      once that directory is opened to others (mode 755, which Wine shows
#      as an Everyone ACE) the demo refuses it (exit 1);
#   2. the log file: log_open_file() with a 4 KiB cap rotates into
#      t.log.1 and t.log.2, no file over the cap, no line lost or cut
#      (the service's 10 MiB cap is the same code);
#   3. --install-service (no -c): exit 0; the registry (reg query) has the
#      service: Start 2 (automatic), Type 0x10, ObjectName LocalSystem,
#      the description, ImagePath "EXE" --service -c
#      "C:\ProgramData\sysmonfwd\sysmonfwd.conf"; the directories
#      ProgramData\sysmonfwd\{state,log} exist and give nothing to
#      Everyone (the agent's read-back of the DACL; Wine keeps a DACL as
#      mode bits: no "other" bits); the default configuration is written,
#      equal byte for byte to packaging/windows/sysmonfwd.conf, and
#      passes --check-config; the agent says, setting by setting, what
#      was set and what the system refused;
#      installed again: "already installed, as asked", exit 0, the
#      configuration kept; with another -c: refused, exit 1; with a
#      configuration that has errors: its diagnostics, exit 2, nothing
#      installed; --uninstall-service: exit 0, the registry key gone, the
#      data kept; again: "not installed", exit 0; --service from a
#      console: said, and runs in the foreground;
#   4. the service: the stand-in Sysmon64 created and started (sc), then
#      --install-service -c with a configuration reading a file (follow)
#      into a file, with the watchdog checking every second and a
#      heartbeat every second; sc start sysmonfwd: RUNNING, the log file
#      appears under ProgramData\sysmonfwd\log with the service's states
#      and "started:", the N records reach the output;
#   5. the watchdog: a heartbeat says Sysmon (Sysmon64) is running, with
#      no alert; sc stop Sysmon64: an alert document (sysmon-state-changed,
#      stopped, previously running); sc start Sysmon64: the recovery
#      alert (running, previously stopped); exactly those two alerts;
#      then Sysmon64 deleted: an alert not_installed; and the stand-in
#      created as "Sysmon" (32-bit Sysmon's name, the probe's second):
#      an alert running, previously not_installed;
#   6. sc stop sysmonfwd: STOP_PENDING with a wait hint, then STOPPED with
#      exit code 0 within that hint; the log says the stop, the summary
#      and STOPPED; the input's position is saved;
#   7. restart: M records appended while stopped, sc start: the output
#      holds N + M documents of events, each record once (no duplicate,
#      none lost);
#   8. --uninstall-service while it runs: it is stopped first (exit code
#      0), then removed (sc query: no such service, no registry key); the
#      data is kept (configuration, log); the output still N + M, each
#      once;
#   9. a configuration broken after the install: sc start, and the
#      service ends STOPPED with ERROR_SERVICE_SPECIFIC_ERROR (1066) and
#      its exit code 2, the configuration's error in its log.
#
# Wine 8's service manager, and what this script does about it:
#   - it does not store delayed automatic start, failure-action flags,
#     service SID types or required privileges (ChangeServiceConfig2W
#     fails with ERROR_INVALID_LEVEL), and stores no failure actions
#     while saying it did (success, a FIXME): the agent says which
#     settings the system refused; the script prints those lines, checks
#     that each is there, and checks in the registry only what Wine keeps.
#     So delayed start, restart on failure, the per-service SID and the
#     reduced privileges are NOT verified here (Windows only);
#   - there is no "sc qc": the registry is read with reg query (live,
#     where system.reg is written only now and then);
#   - services.exe hands its services ProgramData=C:\users\Public: the
#     agent takes ProgramData from the registry (ProfileList) and says so
#     in its log;
#   - SetNamedSecurityInfoW() succeeds without changing a file's DACL;
#     the agent falls back to SetFileSecurityW(), which Wine maps onto
#     the mode bits, and reads the DACL back;
#   - after wineboot -i a fresh prefix can be left with two services.exe,
#     and a new session starts the installed automatic services: the
#     session is restarted once (wineserver -k), then kept up with
#     wineserver -p for the whole run and ended at the exit, and what an
#     earlier run left installed is removed first;
#   - processes of the session (services.exe and the services it starts)
#     inherit the standard output of the wine command that started the
#     session: every wine command here writes to a file, never to a pipe,
#     and the session is started with /dev/null;
#   - console output ends lines with "\r\n": stripped before matching;
#   - a process started without a console gets no Ctrl+C, so the console
#     stop (and the close/logoff/shutdown wait of evloop_win.c) is not
#     exercised here.
# Everything awaited is a positive signal (an sc state, a log line, a
# document) with a generous bound (WAIT s); there are no fixed sleeps.
#
# WINEPREFIX defaults to /tmp/wine-service-wine.sh (created when
# missing); WINE picks the loader.  Exits non-zero on any failure; skips
# (exit 0) when mingw-w64, Wine or the Windows libraries are missing,
# except under CI (CI=true), where that fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
me=service-wine.sh
WAIT=60

# in_ci, need, win_setup, wait_for (and wine, cc, build, exe)
# shellcheck source=tests/cross/common.sh disable=SC2154
. tests/cross/common.sh

fails=0
fail() {
	echo "$me: FAILED: $*" >&2
	fails=$((fails + 1))
}
ok() {
	echo "$me: $*"
}

# wine, cc, build, exe, WINEPREFIX, WINEDEBUG
win_setup "$me"

work=$(mktemp -d)
session=
cleanup() {
	set +e
	if [ -n "$session" ]; then
		# Our services first, so nothing is left to auto-start.
		"$wine" sc stop sysmonfwd >/dev/null 2>&1
		"$wine" sc delete sysmonfwd >/dev/null 2>&1
		for s in Sysmon64 Sysmon; do
			"$wine" sc stop $s >/dev/null 2>&1
			"$wine" sc delete $s >/dev/null 2>&1
		done
		wineserver -k >/dev/null 2>&1
		wineserver -w >/dev/null 2>&1
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# Unix path to the Windows one Wine maps it to (Z: is /).
winp() {
	local p=$1
	printf 'Z:%s' "${p//\//\\}"
}
drive_c=$WINEPREFIX/drive_c
pd=$drive_c/ProgramData/sysmonfwd
log=$pd/log/sysmonfwd.log

# Run a Windows program (the rest) into $work/out.txt, "\r" stripped;
# the exit code in rc.  Never a pipe (see above).
run() {
	rc=0
	(cd "$work" && "$wine" "$@") >"$work/raw.txt" 2>&1 || rc=$?
	tr -d '\r' <"$work/raw.txt" >"$work/out.txt"
}
out_has() {
	grep -q -- "$1" "$work/out.txt"
}
# The state sc reports for service $1 (RUNNING, STOPPED...), or NONE.
svc_state() {
	local st
	"$wine" sc query "$1" >"$work/sc.raw" 2>&1 || true
	tr -d '\r' <"$work/sc.raw" >"$work/sc.txt"
	st=$(awk '$1 == "STATE" {print $4}' "$work/sc.txt")
	echo "${st:-NONE}"
}
state_is() {
	[ "$(svc_state "$1")" = "$2" ]
}
# reg query of the service's key into $work/reg.txt; 1 when it is gone.
reg_svc() {
	"$wine" reg query \
	    "HKLM\\System\\CurrentControlSet\\Services\\$1" \
	    >"$work/reg.raw" 2>&1 || return 1
	tr -d '\r' <"$work/reg.raw" >"$work/reg.txt"
}
reg_value() {
	awk -v k="$1" '$1 == k {$1 = ""; $2 = ""; sub(/^ +/, ""); print}' \
	    "$work/reg.txt"
}
# Documents of events in the file $1 (0 when absent).
events() {
	local c
	c=$(grep -c '"kind":"event"' "$1" 2>/dev/null || true)
	echo "${c:-0}"
}

# The session: one wineserver for the run (see above).
wineserver -k >/dev/null 2>&1 || true
wineserver -w >/dev/null 2>&1 || true
wineserver -p </dev/null >/dev/null 2>&1
session=yes
"$wine" cmd /c exit </dev/null >/dev/null 2>&1 || true
# What an earlier run may have left.
for s in sysmonfwd Sysmon64 Sysmon; do
	if [ "$(svc_state $s)" != NONE ]; then
		echo "$me: removing the service $s an earlier run left"
		"$wine" sc stop $s >/dev/null 2>&1 || true
		wait_for $WAIT state_is $s STOPPED || true
		"$wine" sc delete $s >/dev/null 2>&1 || true
	fi
done
rm -rf "$pd"

# The stand-in Sysmon service and the log rotation check.
"$cc" -O2 -Wall -Wextra -municode -o "$work/Sysmon64.exe" \
    tests/windows/dummy_service/dummy_sysmon.c
"$cc" -O2 -Wall -Wextra -Iagent/base -o "$work/log_rotate.exe" \
    tests/windows/log_rotate/log_rotate.c "$build/agent/libbase.a"

# 1. the demo
demo=$top/packaging/demo/indextts-sysmon.xml.log
nlines=$(wc -l <"$demo")
demo_dir=
for round in 1 2; do
	run "$exe"
	line=$(grep '^demo: ' "$work/out.txt" || true)
	# "demo: N documents written to C:\users\...\events.ndjson"
	wpath=${line#*written to }
	rel=${wpath#C:\\}
	upath=$drive_c/${rel//\\//}
	got=$(events "$upath")
	if [ "$rc" != 0 ] || [ -z "$line" ]; then
		fail "demo run $round: exit $rc: $(tail -3 "$work/out.txt")"
	elif [ "$got" != "$nlines" ]; then
		fail "demo run $round: $got documents in $upath, not $nlines"
	else
		ok "demo run $round: exit 0, $got documents of events (one" \
		    "per demo line) in $wpath"
		demo_dir=$(dirname "$upath")
	fi
	# The records are the exe's own copy, written beside the output.
	if ! out_has 'sysmonfwd-demo.indextts-sysmon.xml.log' ||
	    ! cmp -s "$(dirname "$upath")/indextts-sysmon.xml.log" "$demo"
	then
		fail "demo run $round: not a replay of the exe's own copy of" \
		    "packaging/demo: $(grep 'a replay of' "$work/out.txt")"
	fi
done
if [ -n "$demo_dir" ]; then
	chmod 755 "$demo_dir"
	run "$exe"
	if [ "$rc" = 1 ] && out_has 'is not a private directory'; then
		ok "demo: a directory others may read is refused (exit 1)"
	else
		fail "demo: a directory of mode 755 was not refused: exit $rc"
	fi
	rm -rf "$demo_dir"
fi

# 2. the log file's rotation
mkdir -p "$work/lr"
run "$work/log_rotate.exe" "$(winp "$work/lr")"
if [ "$rc" = 0 ]; then
	ok "log rotation: $(grep -c ': ok: ' "$work/out.txt") checks" \
	    "passed (4 KiB cap, 3 files)"
else
	fail "log rotation:"
	cat "$work/out.txt" >&2
fi

# 3. install, again, uninstall
run "$exe" --install-service
cp "$work/out.txt" "$work/install.txt"
echo "$me: --install-service: exit $rc:"
sed 's/^/    /' "$work/install.txt"
[ "$rc" = 0 ] || fail "--install-service: exit $rc"
conf_w='C:\ProgramData\sysmonfwd\sysmonfwd.conf'
for want in "configuration: wrote the default $conf_w" \
    'installed the service sysmonfwd' 'ACL D:' '  description: set'; do
	grep -qF -- "$want" "$work/install.txt" ||
	    fail "--install-service: no '$want'"
done
grep 'ACL D:' "$work/install.txt" | grep -q ';;;WD)' &&
    fail "--install-service: the data directory's ACL has Everyone"
# Each setting is said: set, or refused by this system.
for s in 'delayed automatic start' 'restart on failure' \
    'restart after an exit with an error code too' 'service SID' \
    'privileges cut to SeChangeNotifyPrivilege'; do
	grep -q "^  $s.*: \(set\|NOT set, this system refused it\)" \
	    "$work/install.txt" || fail "--install-service: nothing said of: $s"
done
if reg_svc sysmonfwd; then
	image=$(reg_value ImagePath)
	want_image="\"$(winp "$exe")\" --service -c \"$conf_w\""
	[ "$(reg_value Start)" = 0x2 ] ||
	    fail "registry: Start $(reg_value Start), not 0x2 (automatic)"
	[ "$(reg_value Type)" = 0x10 ] ||
	    fail "registry: Type $(reg_value Type), not 0x10 (own process)"
	[ "$(reg_value ObjectName)" = LocalSystem ] ||
	    fail "registry: ObjectName $(reg_value ObjectName)"
	reg_value Description | grep -q 'Forwards the records of Sysmon' ||
	    fail "registry: no description"
	[ "$image" = "$want_image" ] ||
	    fail "registry: ImagePath $image, not $want_image"
	for v in DelayedAutostart FailureActions; do
		if [ -n "$(reg_value $v)" ]; then
			ok "registry: $v = $(reg_value $v)"
		else
			echo "$me: registry: no $v: Wine does not store it" \
			    "(not verified here; the agent's word above)"
		fi
	done
	ok "registry: Start 0x2, Type 0x10, LocalSystem, the description," \
	    "ImagePath $image"
else
	fail "registry: no key for the service sysmonfwd"
fi
for d in "$pd" "$pd/state" "$pd/log"; do
	if [ ! -d "$d" ]; then
		fail "no directory $d"
	elif [ $(($(stat -c '0%a' "$d") & 07)) != 0 ]; then
		fail "$d: mode $(stat -c %a "$d"): others have access"
	fi
done
if cmp -s "$pd/sysmonfwd.conf" packaging/windows/sysmonfwd.conf; then
	ok "ProgramData\\sysmonfwd\\{state,log} made, mode" \
	    "$(stat -c %a "$pd") (no access for others), the default" \
	    "configuration is packaging/windows/sysmonfwd.conf"
else
	fail "the default configuration is not packaging/windows/sysmonfwd.conf"
fi
run "$exe" -c "$conf_w" --check-config
{ [ "$rc" = 0 ] && out_has 'configuration OK'; } ||
    fail "--check-config of the default configuration: exit $rc:" \
    "$(cat "$work/out.txt")"

echo '# kept' >>"$pd/sysmonfwd.conf"
run "$exe" --install-service
if [ "$rc" = 0 ] && out_has 'already installed, as asked' &&
    out_has 'kept the existing' && tail -1 "$pd/sysmonfwd.conf" |
    grep -q '^# kept$'; then
	ok "installed again: exit 0, already installed, the configuration kept"
else
	fail "installed again: exit $rc: $(cat "$work/out.txt")"
fi
cp packaging/windows/sysmonfwd.conf "$work/other.conf"
run "$exe" --install-service -c "$(winp "$work/other.conf")"
if [ "$rc" = 1 ] && out_has 'runs another command line'; then
	ok "installed again with another -c: refused, exit 1"
else
	fail "installed again with another -c: exit $rc:" \
	    "$(cat "$work/out.txt")"
fi
run "$exe" --uninstall-service
if [ "$rc" = 0 ] && out_has 'removed the service sysmonfwd' &&
    ! reg_svc sysmonfwd && [ -f "$pd/sysmonfwd.conf" ]; then
	ok "--uninstall-service: exit 0, the registry key gone, the data kept"
else
	fail "--uninstall-service: exit $rc: $(cat "$work/out.txt")"
fi
run "$exe" --uninstall-service
{ [ "$rc" = 0 ] && out_has 'is not installed'; } ||
    fail "--uninstall-service when not installed: exit $rc"
printf '[agent]\nstate_dir = x\n[input:a]\ntype = file\nbogus = 1\n' \
    >"$work/bad.conf"
run "$exe" --install-service -c "$(winp "$work/bad.conf")"
if [ "$rc" = 2 ] && out_has 'bad.conf:5: bogus' &&
    [ "$(svc_state sysmonfwd)" = NONE ]; then
	ok "--install-service with a bad configuration: its errors, exit 2," \
	    "nothing installed"
else
	fail "--install-service with a bad configuration: exit $rc:" \
	    "$(cat "$work/out.txt")"
fi
run "$exe" --service --check-config -c "$(winp "$work/other.conf")"
if [ "$rc" = 0 ] && out_has 'not started by the Service Control Manager' &&
    out_has 'configuration OK'; then
	ok "--service from a console: said, and run in the foreground"
else
	fail "--service from a console: exit $rc: $(cat "$work/out.txt")"
fi

# 4. the service, with the stand-in Sysmon64
run sc create Sysmon64 binPath= "$(winp "$work/Sysmon64.exe")"
run sc start Sysmon64
wait_for $WAIT state_is Sysmon64 RUNNING ||
    fail "the stand-in Sysmon64 is $(svc_state Sysmon64), not RUNNING"

corpus=${SYSMONFWD_CORPUS_DIR:-$top/../shared/corpus}/windows-xml
files=("$corpus"/*.xml.log)
src=${files[0]}
[ -f "$src" ] || fail "no corpus file in $corpus"
# 40 records (awk: no early close of a pipe under pipefail).
awk '/<Event[ >]/ && n < 40 {print; n++}' "$src" >"$work/all.log"
N=25
M=$(($(wc -l <"$work/all.log") - N))
head -$N "$work/all.log" >"$work/in.log"
mkdir -p "$work/state"
cat >"$work/svc.conf" <<EOF
[agent]
name = wine-service
state_dir = $(winp "$work/state")
heartbeat_interval = 1s
[watchdog]
check_interval = 1s
[input:corpus]
type = file
path = $(winp "$work/in.log")
follow = true
[output:out]
type = file
path = $(winp "$work/out.ndjson")
EOF
out=$work/out.ndjson
run "$exe" --install-service -c "$(winp "$work/svc.conf")"
[ "$rc" = 0 ] || fail "--install-service -c svc.conf: exit $rc:" \
    "$(cat "$work/out.txt")"
run sc start sysmonfwd
if wait_for $WAIT state_is sysmonfwd RUNNING; then
	ok "sc start sysmonfwd: RUNNING"
else
	fail "sc start sysmonfwd: $(svc_state sysmonfwd), not RUNNING"
fi
log_has() {
	grep -q -- "$1" "$log" 2>/dev/null
}
if wait_for $WAIT log_has 'service: RUNNING'; then
	for want in 'service: START_PENDING' \
	    'started: 1 input(s), 1 output(s)'; do
		log_has "$want" || fail "the service's log has no '$want'"
	done
	ok "the log: ProgramData\\sysmonfwd\\log\\sysmonfwd.log, stamped:" \
	    "$(grep -m1 'service: RUNNING' "$log")"
else
	fail "no 'service: RUNNING' in $log"
fi
have_events() {
	[ "$(events "$out")" -ge "$1" ]
}
if wait_for $WAIT have_events $N; then
	ok "records flow: $(events "$out") of $N in the output"
else
	fail "records: $(events "$out") of $N in the output"
fi

# 5. the watchdog
# The alerts and the last heartbeat's Sysmon state, one line each.
status() {
	python3 - "$out" <<'EOF'
import json, sys
alerts, hb = [], None
for l in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(l)
    ds = d.get("event", {}).get("dataset")
    s = d.get("sysmonfwd", {}).get("sysmon", {})
    if ds == "sysmonfwd.alert":
        alerts.append("%s:%s:%s" % (d["event"].get("action"),
                                     s.get("state"), s.get("previous_state")))
    elif ds == "sysmonfwd.heartbeat":
        hb = s.get("state")
print("alerts=" + ",".join(alerts))
print("heartbeat=%s" % hb)
print("last=" + (alerts[-1] if alerts else ""))
EOF
}
# status_has LINE: the status has the line LINE (a glob pattern).
status_has() {
	local l
	status >"$work/status.txt" 2>/dev/null || return 1
	while IFS= read -r l; do
		# shellcheck disable=SC2053
		[[ $l == $1 ]] && return 0
	done <"$work/status.txt"
	return 1
}
if wait_for $WAIT status_has 'heartbeat=running' &&
    status_has 'alerts='; then
	ok "watchdog: a heartbeat says Sysmon is running, no alert"
else
	fail "watchdog: $(tr '\n' ' ' <"$work/status.txt")"
fi
run sc stop Sysmon64
A1='sysmon-state-changed:stopped:running'
A2='sysmon-state-changed:running:stopped'
if wait_for $WAIT status_has "alerts=$A1"; then
	ok "watchdog: sc stop Sysmon64: alert $A1"
else
	fail "watchdog: after sc stop Sysmon64:" \
	    "$(tr '\n' ' ' <"$work/status.txt")"
fi
run sc start Sysmon64
if wait_for $WAIT status_has "alerts=$A1,$A2"; then
	ok "watchdog: sc start Sysmon64: alert $A2"
else
	fail "watchdog: after sc start Sysmon64:" \
	    "$(tr '\n' ' ' <"$work/status.txt")"
fi
grep -q 'watchdog: Sysmon (sysmon) is stopped (it was running)' "$log" ||
    fail "the log does not say Sysmon stopped"
# Sysmon64 gone: not installed (through stopped or not: the deletion may
# fall between two checks); then a 32-bit Sysmon's service, "Sysmon": the
# probe's second name, running.
run sc stop Sysmon64
wait_for $WAIT state_is Sysmon64 STOPPED || fail "Sysmon64 did not stop"
run sc delete Sysmon64
if wait_for $WAIT status_has 'last=sysmon-state-changed:not_installed:*'; then
	ok "watchdog: Sysmon64 deleted: alert" \
	    "$(sed -n 's/^last=//p' "$work/status.txt")"
else
	fail "watchdog: after sc delete Sysmon64:" \
	    "$(tr '\n' ' ' <"$work/status.txt")"
fi
run sc create Sysmon binPath= "$(winp "$work/Sysmon64.exe") Sysmon"
run sc start Sysmon
# Running again, straight from not installed, or through stopped when a
# check of the agent fell between sc create and sc start (a loaded
# machine): both are what happened, each said by its alerts in order.
A3='sysmon-state-changed:running:not_installed'
A4='sysmon-state-changed:stopped:not_installed'
A5='sysmon-state-changed:running:stopped'
running_again() {
	status_has "alerts=*,sysmon-state-changed:not_installed:*,$A3" ||
	    status_has "alerts=*,sysmon-state-changed:not_installed:*,$A4,$A5"
}
if wait_for $WAIT running_again; then
	ok "watchdog: a service named Sysmon (the 32-bit name) started:" \
	    "alert $(sed -n 's/^last=//p' "$work/status.txt")"
else
	fail "watchdog: after sc start Sysmon:" \
	    "$(tr '\n' ' ' <"$work/status.txt")"
fi

# 6. sc stop
t0=$SECONDS
run sc stop sysmonfwd
cp "$work/out.txt" "$work/stop.txt"
said=$(awk '$1 == "STATE" {print $4}' "$work/stop.txt")
hint=$(awk '$1 == "WAIT_HINT" {print $3}' "$work/stop.txt")
case $said in
STOP_PENDING) [ $((hint)) -gt 0 ] ||
    fail "sc stop: STOP_PENDING without a wait hint" ;;
STOPPED) hint=0 ;;	# done before sc asked: within any hint
*) fail "sc stop: the answer says $said, not STOP_PENDING" ;;
esac
if wait_for $WAIT state_is sysmonfwd STOPPED; then
	took=$((SECONDS - t0))
	code=$(awk '$1 == "WIN32_EXIT_CODE" {print $3}' "$work/sc.txt")
	if [ "$said" = STOP_PENDING ] &&
	    [ $((took * 1000)) -gt $((hint)) ]; then
		fail "sc stop: STOPPED after ${took} s, past the wait hint" \
		    "($((hint)) ms)"
	else
		ok "sc stop: $said (wait hint $((hint)) ms), STOPPED within" \
		    "${took} s (whole seconds), exit code $code"
	fi
	[ "$code" = 0 ] || fail "sc stop: exit code $code"
else
	fail "sc stop: $(svc_state sysmonfwd) after $WAIT s"
fi
for want in 'service: stop requested' 'done: ' 'service: STOPPED'; do
	log_has "$want" || fail "the log has no '$want' after the stop"
done
[ -f "$work/state/positions/corpus.pos" ] ||
    fail "no saved position (state/positions/corpus.pos)"

# 7. restart: what was appended arrives, nothing twice
tail -$M "$work/all.log" >>"$work/in.log"
run sc start sysmonfwd
wait_for $WAIT state_is sysmonfwd RUNNING ||
    fail "restart: $(svc_state sysmonfwd), not RUNNING"
# Each record once: (computer, record id) pairs, none twice, all there.
once() {
	python3 - "$out" "$work/all.log" <<'EOF'
import json, re, sys
got = []
for l in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(l)
    if d.get("event", {}).get("kind") == "event":
        w = d["winlog"]
        got.append((w.get("computer_name"), w.get("record_id")))
want = []
for l in open(sys.argv[2], encoding="utf-8"):
    c = re.search(r"<Computer>([^<]*)</Computer>", l).group(1)
    r = re.search(r"<EventRecordID>([^<]*)</EventRecordID>", l).group(1)
    want.append((c, r))
print("%d documents, %d distinct, %d records" % (len(got), len(set(got)),
      len(want)))
sys.exit(0 if sorted(got) == sorted(want) else 1)
EOF
}
if wait_for $WAIT have_events $((N + M)) && once >"$work/once.txt"; then
	ok "restart: $M appended records arrive: $(cat "$work/once.txt")," \
	    "each once"
else
	once >"$work/once.txt" || true
	fail "restart: $(cat "$work/once.txt")"
fi

# 8. uninstall while running
run "$exe" --uninstall-service
cp "$work/out.txt" "$work/uninstall.txt"
if [ "$rc" = 0 ] && out_has 'stopping the service' &&
    out_has 'stopped (exit code 0)' && out_has 'removed the service'; then
	ok "--uninstall-service while running: stopped (exit code 0), removed"
else
	fail "--uninstall-service while running: exit $rc:" \
	    "$(cat "$work/uninstall.txt")"
fi
wait_for $WAIT state_is sysmonfwd NONE ||
    fail "after --uninstall-service: sc query says $(svc_state sysmonfwd)"
reg_svc sysmonfwd && fail "after --uninstall-service: the registry key stays"
if [ -f "$log" ] && [ -f "$pd/sysmonfwd.conf" ] && [ -d "$pd/state" ]; then
	ok "after --uninstall-service: no service, no registry key; the" \
	    "configuration, state\\ and the log ($(wc -l <"$log") lines) kept"
else
	fail "after --uninstall-service: the data is not all kept"
fi
if once >"$work/once.txt"; then
	ok "in the end: $(cat "$work/once.txt")"
else
	fail "in the end: $(cat "$work/once.txt")"
fi

# 9. a configuration broken after the install: the service ends with
# exit code 2 as its service-specific code, its errors in the log
cp "$work/svc.conf" "$work/late.conf"
run "$exe" --install-service -c "$(winp "$work/late.conf")"
[ "$rc" = 0 ] || fail "--install-service -c late.conf: exit $rc"
printf '[output:x]\ntype = nosuch\n' >>"$work/late.conf"
run sc start sysmonfwd
if wait_for $WAIT state_is sysmonfwd STOPPED; then
	w32=$(awk '$1 == "WIN32_EXIT_CODE" {print $3}' "$work/sc.txt")
	own=$(awk '$1 == "SERVICE_EXIT_CODE" {print $3}' "$work/sc.txt")
	if [ "$w32" = 1066 ] && [ "$own" = 2 ] &&
	    log_has 'late.conf:15: type: '; then
		ok "a broken configuration: STOPPED, WIN32_EXIT_CODE 1066" \
		    "(service-specific), SERVICE_EXIT_CODE 2, the error in" \
		    "the log: $(grep -m1 'late.conf:15: type: ' "$log" |
		    sed 's/.*sysmonfwd: //')"
	else
		fail "a broken configuration: WIN32_EXIT_CODE $w32," \
		    "SERVICE_EXIT_CODE $own, not 1066 and 2, or no error" \
		    "in the log"
	fi
else
	fail "a broken configuration: $(svc_state sysmonfwd), not STOPPED"
fi
run "$exe" --uninstall-service
[ "$rc" = 0 ] || fail "--uninstall-service of the stopped service: exit $rc"

if [ "$fails" -gt 0 ]; then
	echo "$me: the service's log:" >&2
	sed 's/^/    /' "$log" >&2 2>/dev/null || true
	echo "$me: $fails check(s) FAILED" >&2
	exit 1
fi
echo "$me: OK"
