#!/usr/bin/env bash
#
# outputs-wine.sh - the HTTPS outputs, the monitor and the secret rules of
# the Windows agent, run under Wine: the real sysmonfwd.exe (built by
# win_setup into SYSMONFWD_WIN_BUILD, default build-win) against the
# Linux integration tests' own test servers (tests/integration/
# hec_server.py, es_server.py, wazuh_server.py, run here in Python on
# 127.0.0.1) over TLS with the test CA of tlsutil.py.  The scenarios are
# the integration tests' own functions (test_hec.py, test_es.py,
# test_wazuh.py: the same inputs, the same assertions), handed a wrapper
# that runs the exe under Wine instead of the Linux binary.  Windows
# records come from the corpus (../shared/corpus, or
# SYSMONFWD_CORPUS_DIR), read in place.  It checks:
#
#   For each of the three, (l) the same inputs sent by the Linux build
#     (SYSMONFWD, else build/sysmonfwd or build-exe/sysmonfwd) to a second
#     server of the same kind: the server took the same, byte for byte
#     (HEC envelopes, Elasticsearch _ids and documents, Wazuh events).
#   HEC: (a) every record of three Windows corpus files and one Sysmon for
#     Linux file arrives once over mutual TLS with gzip, in the envelope
#     the Splunk add-ons expect, health asked first; (d) an unknown and a
#     disabled token are permanent refusals: every record dead-lettered
#     once on Windows, with its reason, the token logged once and never
#     printed; (e) a partial batch: event 7 dead-lettered, the rest
#     stored once; (f) indexer acknowledgement: late acks (all indexed
#     once) and a lost ack (that batch alone resent after ack_timeout).
#   Elasticsearch: (a) every record stored once in the integrations'
#     data streams with their document shape and deterministic _ids;
#     (e) mapping errors dead-lettered with type and reason.
#   Wazuh: (a) every record accepted once in the shape of Wazuh's
#     eventchannel decoding; (d) failed_items retried or dead-lettered.
#   For each of the three, a wrong CA (tls_ca_file = an unrelated CA):
#     nothing is sent over the refused connection, the agent says
#     "certificate of 127.0.0.1:PORT is not trusted ... set tls_ca_file"
#     and keeps retrying, the records wait in the ring (--buffer-stat
#     under Wine: all of them unacknowledged), no dead letter; with the
#     right CA they are all delivered, once.
#   HEC without tls_ca_file: verification is on by default and uses the
#     Windows certificate store (CURLSSLOPT_NATIVE_CA): the test CA is
#     not in it, so the connection is refused the same way; once the test
#     CA is added to the prefix's ROOT store (certstore.exe, compiled
#     here with mingw-w64), the same configuration delivers; the CA is
#     then removed again.
#   Monitor: [monitor] listen under Wine, beside a file output (the loop
#     waits in WaitForMultipleObjects()) and beside HEC (it sleeps in curl
#     while a helper thread waits on the monitor's event); curl from
#     Linux gets /health
#     (JSON, the output named) and /metrics (Prometheus text, records read
#     and backlog 0 once delivered), 404 for another path, two requests on
#     one kept-alive connection, and records appended to a followed file
#     counted; the idle agent with the monitor uses almost no CPU (no
#     polling).
#   Secrets: a token_file, and a configuration holding a token inline,
#     that Everyone may read (mode 644, which Wine shows as an Everyone
#     ACE) are refused by --check-config (exit 2, "is readable by other
#     users (its ACL lets Everyone read it): run icacls ..."); mode 600
#     (no Everyone ACE) is accepted; on the Z: drive (/tmp) and on the
#     prefix's C: drive.  Wine keeps a file's ACL as its Unix mode, so
#     Everyone is all a file there can show: config.c's DACL walk is run
#     besides on ACLs built in memory (acl_walk.exe, config.c included
#     whole): Users and Authenticated Users grants, GENERIC_READ and
#     GENERIC_ALL, a deny before a grant and after it, inherit-only ACEs.
#     No secret appears in any output of the agent.
#
# All of it is Wine's Windows, not Windows: Winsock, the ACLs Wine makes
# from Unix modes, Wine's crypt32 ROOT store.  Waits are for positive
# signals (a log line, a record stored, an exit) with generous bounds.
# Not in tests/run-all.sh; WINEPREFIX defaults to /tmp/wine-outputs-wine.sh.
# OUTPUTS_WINE_ONLY=REGEX runs only the scenarios whose function name
# matches (by hand, while working on one).
# Exits non-zero on any failure; skips (exit 0) when mingw-w64, Wine, the
# Windows libraries, openssl or curl are missing, except under CI
# (CI=true), where that fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD

# in_ci, need, win_setup, wait_for
# shellcheck source=tests/cross/common.sh
. tests/cross/common.sh

for tool in python3 openssl curl; do
	command -v "$tool" >/dev/null 2>&1 ||
		need "$tool" "bash packaging/install-deps.sh"
done

# wine, cc, build, exe, linux (a Linux build to compare with, or
# empty), WINEPREFIX (default /tmp/wine-outputs-wine.sh)
win_setup outputs-wine.sh

corpus=${SYSMONFWD_CORPUS_DIR:-$top/../shared/corpus}
[ -d "$corpus/windows-xml" ] || {
	echo "outputs-wine.sh: FAILED: no corpus at $corpus" >&2
	exit 1
}

work=$(mktemp -d /tmp/sysmonfwd-outputs-wine.XXXXXX)
cleanup() {
	rm -rf "$work"
}
trap cleanup EXIT

# The integration tests run "BIN -c CONF ...": BIN is this wrapper.  Paths
# stay Unix paths: an absolute "/tmp/x" is rooted at the current drive,
# Z:, which Wine maps to /.
cat >"$work/sysmonfwd-wine" <<EOF
#!/bin/sh
echo "\$*" >>"$work/runs.log"
exec "$wine" "$exe" "\$@"
EOF
chmod +x "$work/sysmonfwd-wine"

# certstore.exe add|del FILE.der: the test CA into or out of the ROOT
# stores (the user's and the machine's) that CURLSSLOPT_NATIVE_CA reads.
cat >"$work/certstore.c" <<'EOF'
#include <windows.h>
#include <wincrypt.h>
#include <stdio.h>
#include <string.h>

static int
one(PCCERT_CONTEXT c, DWORD where, int add)
{
	PCCERT_CONTEXT found;
	HCERTSTORE st;
	int rc = 0;

	st = CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, where, L"ROOT");
	if (st == NULL)
		return 4;
	if (add) {
		if (!CertAddCertificateContextToStore(st, c,
		    CERT_STORE_ADD_REPLACE_EXISTING, NULL))
			rc = 5;
	} else if ((found = CertFindCertificateInStore(st, X509_ASN_ENCODING,
	    0, CERT_FIND_EXISTING, c, NULL)) != NULL &&
	    !CertDeleteCertificateFromStore(found))
		rc = 6;
	CertCloseStore(st, 0);
	return rc;
}

int
main(int argc, char **argv)
{
	static BYTE der[16384];
	PCCERT_CONTEXT c;
	size_t n;
	FILE *f;
	int add, rc;

	if (argc != 3 || (f = fopen(argv[2], "rb")) == NULL)
		return 2;
	n = fread(der, 1, sizeof(der), f);
	fclose(f);
	if ((c = CertCreateCertificateContext(X509_ASN_ENCODING, der,
	    (DWORD)n)) == NULL)
		return 3;
	add = strcmp(argv[1], "add") == 0;
	if ((rc = one(c, CERT_SYSTEM_STORE_LOCAL_MACHINE, add)) != 0)
		return rc;
	return one(c, CERT_SYSTEM_STORE_CURRENT_USER, add);
}
EOF
"$cc" -O2 -o "$work/certstore.exe" "$work/certstore.c" -lcrypt32

# acl_walk.exe: config.c's DACL walk (acl_lets_read(), static) run on
# ACLs built in memory, the cases Wine's files cannot hold (Wine keeps a
# file's ACL as its Unix mode, so only Everyone is ever seen there).
# config.c is included whole, as curl's unit tests reach static functions.
cat >"$work/acl_walk.c" <<'EOF'
#include "config.c"

static int fails;

static void
expect(bool ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	fails += !ok;
}

static PSID
sid(WELL_KNOWN_SID_TYPE t, BYTE *buf)
{
	DWORD n = SECURITY_MAX_SID_SIZE;

	return CreateWellKnownSid(t, NULL, buf, &n) ? buf : NULL;
}

/* Whether any of the three "other users" groups may read by acl. */
static bool
others_read(PACL acl, PSID world, PSID users, PSID auth)
{
	return acl_lets_read(acl, world, world) ||
	    acl_lets_read(acl, users, world) || acl_lets_read(acl, auth, world);
}

int
main(void)
{
	BYTE w[SECURITY_MAX_SID_SIZE], u[SECURITY_MAX_SID_SIZE];
	BYTE au[SECURITY_MAX_SID_SIZE], ad[SECURITY_MAX_SID_SIZE];
	BYTE sy[SECURITY_MAX_SID_SIZE], buf[1024];
	PSID world = sid(WinWorldSid, w), users = sid(WinBuiltinUsersSid, u);
	PSID auth = sid(WinAuthenticatedUserSid, au);
	PSID admins = sid(WinBuiltinAdministratorsSid, ad);
	PSID system = sid(WinLocalSystemSid, sy);
	PACL acl = (PACL)buf;
	ACCESS_ALLOWED_ACE *ace;

#define FRESH()	InitializeAcl(acl, sizeof(buf), ACL_REVISION)
	FRESH();
	AddAccessAllowedAce(acl, ACL_REVISION, FILE_ALL_ACCESS, system);
	AddAccessAllowedAce(acl, ACL_REVISION, FILE_ALL_ACCESS, admins);
	expect(!others_read(acl, world, users, auth),
	    "SYSTEM and Administrators only: no other user reads");
	FRESH();
	AddAccessAllowedAce(acl, ACL_REVISION, FILE_GENERIC_READ, users);
	expect(acl_lets_read(acl, users, world) &&
	    !acl_lets_read(acl, world, world), "Users:R: Users read");
	FRESH();
	AddAccessAllowedAce(acl, ACL_REVISION, GENERIC_READ, auth);
	expect(acl_lets_read(acl, auth, world),
	    "Authenticated Users GENERIC_READ: they read");
	FRESH();
	AddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, world);
	expect(acl_lets_read(acl, world, world), "Everyone GENERIC_ALL: reads");
	FRESH();
	AddAccessAllowedAce(acl, ACL_REVISION, FILE_WRITE_DATA |
	    FILE_READ_ATTRIBUTES, world);
	expect(!acl_lets_read(acl, world, world),
	    "Everyone may write and read attributes, not the data: no read");
	FRESH();
	AddAccessDeniedAce(acl, ACL_REVISION, FILE_READ_DATA, world);
	AddAccessAllowedAce(acl, ACL_REVISION, FILE_GENERIC_READ, users);
	expect(!others_read(acl, world, users, auth),
	    "a deny of reading to Everyone first: Users' grant after it void");
	FRESH();
	AddAccessAllowedAce(acl, ACL_REVISION, FILE_GENERIC_READ, users);
	AddAccessDeniedAce(acl, ACL_REVISION, FILE_READ_DATA, world);
	expect(acl_lets_read(acl, users, world),
	    "a grant to Users before a deny: Users read (first ACE decides)");
	FRESH();
	AddAccessAllowedAceEx(acl, ACL_REVISION, INHERIT_ONLY_ACE |
	    OBJECT_INHERIT_ACE, FILE_GENERIC_READ, world);
	expect(!acl_lets_read(acl, world, world),
	    "an inherit-only grant to Everyone: not for this object");
	FRESH();
	AddAccessAllowedAce(acl, ACL_REVISION, FILE_GENERIC_READ, world);
	ace = NULL;
	expect(GetAce(acl, 0, (void **)&ace) && acl_lets_read(acl, world,
	    world), "Everyone:R: Everyone reads");
	return fails != 0;
}
EOF
deps=$(bash packaging/windows/build-deps.sh --print-prefix)
# config.c as the exe builds it: mingw-w64's C99 printf (%zu), PCRE2
# linked statically (the [redact] patterns are compiled there).
"$cc" -O1 -Wall -Wno-unused-function -D__USE_MINGW_ANSI_STDIO=1 \
    -DPCRE2_STATIC -I"$top/config" \
    -I"$deps/include" -o "$work/acl_walk.exe" "$work/acl_walk.c" \
    -L"$deps/lib" -linih -lpcre2-8 -ladvapi32

python3 - "$top" "$work" "$corpus" "$wine" "$linux" <<'PYEOF'
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

top, work, corpus, wine, LINUX = sys.argv[1:6]
sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(top, "tests", "integration"))
import sysmonfwd_it as it  # noqa: E402
import tlsutil  # noqa: E402
import test_hec  # noqa: E402
import test_es  # noqa: E402
import test_wazuh  # noqa: E402
import test_wazuh_agent  # noqa: E402

BIN = os.path.join(work, "sysmonfwd-wine")
WAIT = 120      # a deadline for a positive signal under Wine, not a measure
NOT_TRUSTED = r"certificate of 127\.0\.0\.1(:\d+)? is not trusted"


class Args:
    bin = BIN


Args.corpus = corpus
ck = it.Checker("outputs-wine.sh")
ck.wine_modes = True    # file modes are Wine's picture of a DACL
pki = tlsutil.make_pki(os.path.join(work, "pki"))
ctxs = []


def ctx_of(mod, name):
    """A context of the integration test module mod, its own directory."""
    d = os.path.join(work, name)
    os.makedirs(d)
    c = mod.Ctx(Args, ck, d, pki)
    ctxs.append(c)
    return c


def buffer_stat(conf, output):
    """--buffer-stat under Wine: the ring's state of output (a dict)."""
    r = it.run(BIN, ["-c", conf, "--buffer-stat"], timeout=WAIT)
    try:
        return json.loads(r.stdout.decode("utf-8"))["outputs"][output]
    except (ValueError, KeyError) as e:
        ck.fail("--buffer-stat: %r: %s %s" % (e, r.stdout[-300:],
                                              r.stderr[-300:]))
        return {}


def refused_then_delivered(ctx, label, dirname, config, output, count,
                           first_id, ca, fix=None):
    """The agent configured with tls_ca_file = ca (None: none) is refused
    by the server's certificate: nothing sent, the reason logged, the
    records kept in the ring; then the configuration fixed (fix(): the
    keys to change, default the test CA; or a function run before the
    same configuration is used again) delivers every record once."""
    ck_, what, d = ctx.begin(label, dirname, label)
    path, lines = ctx.unique_input(d, first_id, 30)
    s = ctx.server()
    conf = config(ctx, d, s.url, [("w", path)], tls_ca_file=ca)
    a = ctx.agent(conf, once=True)
    said = it.wait_log(a.err_path, NOT_TRUSTED, WAIT)
    retried = it.wait_for(lambda: s.connections >= 2, WAIT, 0.05)
    # The records wait in the ring: --buffer-stat, which may run beside
    # the agent, counts them once their block is on disk.
    st = {}

    def waiting():
        st.update(buffer_stat(conf, output))
        return st.get("unacked_records") == len(lines)
    it.wait_for(waiting, WAIT, 0.2)
    alive = a.alive()
    a.kill9()
    err = a.stderr()
    ck.check(said, "%s: stderr says the certificate is not trusted: %s" %
             (what, err[-500:]))
    ck.check("tls_ca_file" in err, "%s: stderr says to set tls_ca_file: %s"
             % (what, err[-300:]))
    ck.check(retried and alive, "%s: the agent keeps trying (%d "
             "connections, alive: %s)" % (what, s.connections, alive))
    ck.eq(len(s.request_log), 0, what + ": requests sent over the refused "
          "connection")
    ck.eq(count(s), 0, what + ": records accepted")
    ck.eq(ctx.dead_letters(d, output, what), [], what + ": dead letters "
          "(a TLS failure is not permanent)")
    ck.eq(st.get("unacked_records"), len(lines), what + ": records waiting "
          "in the ring (--buffer-stat under Wine, beside the agent)")
    if callable(fix):
        fix()
    else:
        conf = config(ctx, d, s.url, [("w", path)],
                      tls_ca_file=pki["ca"])
    rc, err = ctx.run_once(conf, WAIT)
    ck.eq(rc, 0, "%s, fixed: exit code (stderr: %s)" % (what, err[-600:]))
    ck.eq(count(s), len(lines), what + ", fixed: records delivered")
    st = buffer_stat(conf, output)
    ck.eq(st.get("unacked_records"), 0, what + ", fixed: records waiting "
          "in the ring")
    return s, lines


def hec_ids(s):
    return sorted(test_hec.rid_of(e) for e in s.stored())


def scenario_hec_wrong_ca(ctx):
    """HEC: a wrong CA is refused, the records wait in the ring; the right
    CA delivers them once"""
    s, lines = refused_then_delivered(
        ctx, "(w1) HEC, wrong CA", "wrongca", test_hec.hec_config, "hec",
        lambda s: len(s.stored()), 60000, pki["other_ca"])
    ck.eq(hec_ids(s), list(range(60000, 60000 + len(lines))),
          "(w1) HEC, wrong CA, fixed: each record once")


def scenario_hec_native_store(ctx):
    """HEC without tls_ca_file: the Windows ROOT store is used (the test CA
    is not in it: refused); with the test CA added to it, delivered"""
    der = os.path.join(work, "ca.der")
    subprocess.run(["openssl", "x509", "-in", pki["ca"], "-outform", "der",
                    "-out", der], check=True)
    store = [wine, os.path.join(work, "certstore.exe")]
    ck.eq(subprocess.run(store + ["del", der]).returncode, 0,
          "(w2) the test CA is not in the ROOT store to begin with")

    def trust():
        ck.eq(subprocess.run(store + ["add", der]).returncode, 0,
              "(w2) certstore.exe add: the test CA into the ROOT store")
    try:
        s, lines = refused_then_delivered(
            ctx, "(w2) HEC, no tls_ca_file (the Windows store)", "noca",
            test_hec.hec_config, "hec", lambda s: len(s.stored()), 61000,
            None, fix=trust)
    finally:
        ck.eq(subprocess.run(store + ["del", der]).returncode, 0,
              "(w2) certstore.exe del: the test CA out of the ROOT store")
    ck.eq(hec_ids(s), list(range(61000, 61000 + len(lines))),
          "(w2) HEC, the Windows store: each record once")


def scenario_es_wrong_ca(ctx):
    """Elasticsearch: a wrong CA is refused, the records wait in the ring;
    the right CA delivers them once"""
    refused_then_delivered(ctx, "(w3) Elasticsearch, wrong CA",
                           "wrongca", test_es.es_config, "es",
                           lambda s: s.stored_count(), 62000,
                           pki["other_ca"])


def scenario_wazuh_wrong_ca(ctx):
    """Wazuh: a wrong CA is refused, the records wait in the ring; the
    right CA delivers them once"""
    refused_then_delivered(ctx, "(w4) Wazuh, wrong CA",
                           "wrongca", test_wazuh.wz_config, "wz",
                           lambda s: len(s.events()), 63000,
                           pki["other_ca"])


# ---- the same as Linux ----


def same_as_linux(ctx, label, dirname, config, bodies, server=None):
    """The happy inputs sent by the exe under Wine and by the Linux build
    (LINUX) to two test servers of the same kind, each configured alike
    (config(ctx, dir, server, inputs); server(ctx) makes one, by default
    ctx.server()): what each server took (bodies(s): a sorted list of
    texts) is the same, byte for byte.  Return the two servers, Wine's
    first (None when there is no Linux build)."""
    ck_, what, d = ctx.begin(label, dirname, label)
    if not LINUX:
        ck.skip_or_fail(what + ": no Linux build (SYSMONFWD, build/sysmonfwd"
                        " or build-exe/sysmonfwd) to compare with")
        return None
    inputs, lines = it.happy_inputs(corpus)
    got, servers = {}, []
    for side in ("wine", "linux"):
        sd = os.path.join(d, side)
        os.makedirs(sd)
        s = server(ctx) if server is not None else ctx.server()
        servers.append(s)
        conf = config(ctx, sd, s, inputs)
        if side == "wine":
            rc, err = ctx.run_once(conf, WAIT)
        else:
            r = it.run(LINUX, ["-c", conf, "--once"], timeout=WAIT)
            rc, err = r.returncode, r.stderr.decode("utf-8", "replace")
        ck.eq(rc, 0, "%s: %s: exit code (stderr: %s)" % (what, side,
                                                          err[-600:]))
        got[side] = bodies(s)
    w, l = got["wine"], got["linux"]
    ck.eq(len(w), len(lines), what + ": records the server took from Wine")
    if not ck.check(w == l, "%s: the server took the same from Wine as "
                    "from Linux" % what):
        diff = [(a, b) for a, b in zip(w, l) if a != b][:1]
        print("    Wine:  %s\n    Linux: %s" % (
            it.short(diff[0][0] if diff else w[len(l):][:1], 600),
            it.short(diff[0][1] if diff else l[len(w):][:1], 600)))
    print("  %s: %d records, Wine and Linux alike: %s" %
          (what, len(w), w == l))
    return servers


def by_url(config):
    """config(ctx, dir, url, inputs) as same_as_linux() calls it."""
    return lambda ctx, d, s, inputs: config(ctx, d, s.url, inputs)


def scenario_hec_same_as_linux(ctx):
    """HEC: the events Splunk gets from Wine are Linux's, byte for byte"""
    same_as_linux(ctx, "(l1) HEC, the same as Linux", "same-linux",
                  by_url(test_hec.hec_config), lambda s: sorted(
                      e["raw"] for e in s.stored()))


def scenario_es_same_as_linux(ctx):
    """Elasticsearch: the documents stored from Wine are Linux's, _ids
    and all"""
    same_as_linux(ctx, "(l2) Elasticsearch, the same as Linux",
                  "same-linux", by_url(test_es.es_config), lambda s: sorted(
                      json.dumps(k) + " " + e["raw"]
                      for k, e in s.stored().items()))


def scenario_wazuh_same_as_linux(ctx):
    """Wazuh: the events accepted from Wine are Linux's, byte for byte"""
    same_as_linux(ctx, "(l3) Wazuh, the same as Linux", "same-linux",
                  by_url(test_wazuh.wz_config), lambda s: sorted(s.events()))


def scenario_wazuh_agent_same_as_linux(ctx):
    """Wazuh agent protocol: what remoted decrypts from Wine is Linux's,
    payload for payload (the Windows records as the Windows agent's
    f:EventChannel JSON), each side enrolled with its own manager"""
    what = "(l4) Wazuh agent protocol, the same as Linux"
    servers = same_as_linux(
        ctx, what, "same-linux-wa", test_wazuh_agent.wa_config,
        lambda m: sorted(e["payload"] for e in m.event_log()
                         if not e["payload"].startswith("1:wazuh-agent:")),
        server=lambda c: c.manager(password=test_wazuh_agent.AUTHD_PASS))
    if servers is None:
        return
    for side, m in zip(("wine", "linux"), servers):
        ck.eq([e["message"] for e in m.errors()][:3], [],
              "%s: %s: the manager refused nothing" % (what, side))
        ck.eq(len(m.enrollments()), 1, "%s: %s: one enrollment" %
              (what, side))
    ka = servers[0].keepalives()
    # The OS string of a Windows agent (getuname()'s Windows branch), as
    # Wine's Windows reports itself.
    ck.check(ka and "Microsoft Windows" in (ka[0].get("uname") or ""),
             "%s: the keepalive from Wine names Windows: %s" %
             (what, it.short(ka[:1], 300)))
    print("  %s: Wine's uname: %r" % (what, ka[0].get("uname") if ka
                                      else None))


# ---- the monitor ----


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def get(port, path, conn=None):
    """(status, content type, body text) of GET path, on conn when given
    (a kept-alive connection), else on a new one."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read().decode("utf-8", "replace")
    if conn is None:
        c.close()
    return r.status, r.getheader("Content-Type") or "", body


def metric(text, name, label=None):
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"(\w+)(\{[^}]*\})?\s+(\S+)$", line)
        if m and m.group(1) == name and (label is None or
                                         label in (m.group(2) or "")):
            return float(m.group(3))
    return None


def monitored(ctx, d, write_conf):
    """The agent on the configuration write_conf(path) gives, with
    [monitor] listen on a free port and follow = true (it keeps running):
    (agent, port) once the monitor listens.  A port taken between the
    choice and the listen: another one."""
    a = port = None
    for _ in range(3):
        port = free_port()
        conf = write_conf()
        text = open(conf).read().replace("follow = false", "follow = true")
        it.write_config(conf, text + "[monitor]\nlisten = 127.0.0.1:%d\n" %
                        port, 0o600)
        a = ctx.agent(conf, once=False)
        up = it.wait_log(a.err_path, r"monitor: listening on|cannot listen",
                         WAIT)
        if up and "cannot listen" not in a.stderr():
            break
        a.kill9()
    ck.check("listening on 127.0.0.1:%d" % port in a.stderr(),
             "the monitor listens: %s" % a.stderr()[-400:])
    return a, port


def scenario_monitor_file(ctx):
    """Monitor with only a file output (the loop then waits in
    WaitForMultipleObjects() itself, no curl): /health and /metrics
    answer, the records counted"""
    ck_, what, d = ctx.begin("(m1) monitor, file output", "monitor-file")
    path, lines = ctx.unique_input(d, 65000, 20)
    out = os.path.join(d, "out.ndjson")
    a, port = monitored(ctx, d, lambda: it.write_config(
        os.path.join(d, "agent.conf"), it.file_config(
            os.path.join(d, "state"),
            [("w", {"type": "file", "path": path, "follow": "false"})],
            [("out", {"type": "file", "path": out})])))
    ck.check(it.wait_for(lambda: it.count_lines(out) >= len(lines), WAIT,
                         0.05), what + ": the records are written")
    st, ct, body = get(port, "/health")
    ck.eq(st, 200, what + ": /health status: %s" % it.short(body, 300))
    ck.check(it.wait_for(lambda: metric(get(port, "/metrics")[2],
                                        "sysmonfwd_records_read_total") ==
                         len(lines), WAIT, 0.2),
             what + ": /metrics counts %d records read" % len(lines))
    t0 = a.cpu_seconds()
    time.sleep(3)       # a measure over 3 s, not a wait
    used = a.cpu_seconds() - t0
    ck.check(used < 0.3, "%s: %.2f CPU seconds in 3 s idle (polling?)" %
             (what, used))
    print("  monitor, file output: idle CPU %.2f s in 3 s" % used)
    a.kill9()


def scenario_monitor(ctx):
    """Monitor beside an HTTPS output (the loop sleeps in curl while a
    helper thread waits on the monitor's event): /health and /metrics
    answer curl from Linux, keep-alive, records counted, no polling when
    idle"""
    ck_, what, d = ctx.begin("(m2) monitor, HEC output", "monitor")
    path, lines = ctx.unique_input(d, 64000, 30)
    s = ctx.server()
    a, port = monitored(ctx, d, lambda: test_hec.hec_config(
        ctx, d, s.url, [("w", path)]))
    ck.check(it.wait_for(lambda: len(s.stored()) >= len(lines), WAIT, 0.05),
             what + ": the records reach HEC (%d)" % len(s.stored()))
    # curl, the tool a health check would use.
    r = subprocess.run(["curl", "-sS", "-m", "30", "-o", "-", "-w",
                        "\n%{http_code}", "http://127.0.0.1:%d/health" %
                        port], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout.decode("utf-8", "replace")
    body, _, code = out.rpartition("\n")
    ck.check(r.returncode == 0 and code in ("200", "503"),
             "%s: curl /health: exit %d, HTTP %s: %s" %
             (what, r.returncode, code, r.stderr[-200:]))
    try:
        h = json.loads(body)
    except ValueError:
        h = {}
    ck.check(any(o.get("name") == "hec" for o in h.get("outputs", [])),
             what + ": /health names the output: %s" % it.short(body, 300))
    ck.eq(h.get("version"), "0.1.0", what + ": /health version")

    def scraped(want_read):
        st, ct, text = get(port, "/metrics")
        return (st == 200 and metric(text, "sysmonfwd_records_read_total")
                == want_read and metric(text,
                                        "sysmonfwd_output_backlog_records",
                                        'output="hec"') == 0)
    ck.check(it.wait_for(lambda: scraped(len(lines)), WAIT, 0.2),
             "%s: /metrics: %d records read, backlog 0: %s" %
             (what, len(lines), it.short(get(port, "/metrics")[2], 600)))
    st, ct, text = get(port, "/metrics")
    ck.check(ct.startswith("text/plain; version=0.0.4"),
             what + ": /metrics Content-Type: %s" % ct)
    ck.eq(metric(text, "sysmonfwd_up"), 1.0, what + ": sysmonfwd_up")
    ck.eq(get(port, "/nope")[0], 404, what + ": another path is 404")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    a1 = get(port, "/health", conn)[0]
    a2 = get(port, "/metrics", conn)[0]
    conn.close()
    ck.check(a1 in (200, 503) and a2 == 200, "%s: two requests on one "
             "kept-alive connection: %s %s" % (what, a1, a2))
    # Records appended while it runs: read, delivered and counted.
    more = it.unique_records(corpus, 64100, 10)
    with open(path, "ab") as f:
        f.writelines(more)
    ck.check(it.wait_for(lambda: scraped(len(lines) + len(more)), WAIT,
                         0.2),
             what + ": appended records counted in /metrics")
    ck.check(it.wait_for(lambda: len(s.stored()) >= len(lines) + len(more),
                         WAIT, 0.05), what + ": appended records delivered")
    # Idle with the monitor registered: a measure over 3 s, not a wait.
    t0 = a.cpu_seconds()
    time.sleep(3)
    used = a.cpu_seconds() - t0
    ck.check(used < 0.3, "%s: %.2f CPU seconds in 3 s idle (polling?)" %
             (what, used))
    print("  monitor: idle CPU %.2f s in 3 s; /health %s" % (used, code))
    ck.check(a.alive(), what + ": the agent still runs")
    a.kill9()


# ---- secrets: ACLs ----


def scenario_acl(ctx):
    """Secrets: a token_file, and a configuration holding a token, that
    Everyone may read are refused by --check-config under Wine; 600 is
    accepted (on Z: and on the prefix's C: drive)"""
    drive_c = os.path.join(os.environ["WINEPREFIX"], "drive_c")
    places = [(os.path.join(work, "acl"), None),
              (os.path.join(drive_c, "sysmonfwd-acl"), "C:/sysmonfwd-acl")]
    for unix, win in places:
        shutil.rmtree(unix, ignore_errors=True)
        os.makedirs(unix)
        where = win or unix
        what = "(s) secrets on %s" % ("C:" if win else "Z:")
        tok = it.write_config(os.path.join(unix, "hec.token"),
                              test_hec.TOKEN + "\n", 0o600)
        base = ("[agent]\nstate_dir = %s/state\n[input:w]\ntype = file\n"
                "path = %s/in.log\nfollow = false\n[output:hec]\n"
                "type = splunk_hec\nurl = https://127.0.0.1:1\n"
                "tls_ca_file = %s\n" % (where, where, pki["ca"]))
        by_file = it.write_config(os.path.join(unix, "file.conf"), base +
                                  "token_file = %s/hec.token\n" % where,
                                  0o644)
        inline = it.write_config(os.path.join(unix, "inline.conf"), base +
                                 "token = %s\n" % test_hec.TOKEN, 0o600)

        def check(conf):
            r = it.run(BIN, ["--check-config", "-c", "%s/%s" % (
                where, os.path.basename(conf))], timeout=WAIT)
            out = (r.stdout + r.stderr).decode("utf-8", "replace")
            out = out.replace("\r\n", "\n")
            ctx.texts.append(("check-config " + conf, out))
            return r.returncode, out
        rc, out = check(by_file)
        ck.check(rc == 0 and "configuration OK" in out,
                 "%s: token_file 600 accepted (exit %d): %s" %
                 (what, rc, out[-300:]))
        os.chmod(tok, 0o644)
        rc, out = check(by_file)
        want = (r"file\.conf:\d+: token_file: %s/hec\.token is readable by "
                r"other users \(its ACL lets Everyone read it\): run icacls "
                r"\"%s/hec\.token\" /inheritance:r /grant:r SYSTEM:F "
                r"Administrators:F" % (re.escape(where), re.escape(where)))
        ck.check(rc == 2 and re.search(want, out),
                 "%s: token_file 644 refused (exit %d), /%s/: %s" %
                 (what, rc, want, out[-400:]))
        rc, out = check(inline)
        ck.check(rc == 0 and "configuration OK" in out,
                 "%s: a 600 configuration holding the token accepted "
                 "(exit %d): %s" % (what, rc, out[-300:]))
        os.chmod(inline, 0o644)
        rc, out = check(inline)
        want = (r"inline\.conf: holds the secret `token` of \[output:hec\] "
                r"but is readable by other users \(its ACL lets Everyone "
                r"read it\): run icacls")
        ck.check(rc == 2 and re.search(want, out),
                 "%s: a 644 configuration holding the token refused "
                 "(exit %d), /%s/: %s" % (what, rc, want, out[-400:]))
        print("  %s: %s" % (what, out.strip().splitlines()[-1]))
        shutil.rmtree(unix, ignore_errors=True)


ONLY = os.environ.get("OUTPUTS_WINE_ONLY")


def chosen(scenarios):
    """The scenarios whose name matches OUTPUTS_WINE_ONLY (all without)."""
    return tuple(sc for sc in scenarios
                 if not ONLY or re.search(ONLY, sc.__name__))


def scenario_acl_walk(ctx):
    """Secrets: config.c's DACL walk on ACLs Wine's files cannot hold
    (Users, Authenticated Users, deny order, inherit-only, GENERIC_*)"""
    r = subprocess.run([wine, os.path.join(work, "acl_walk.exe")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=WAIT)
    out = r.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    oks = [l for l in out.splitlines() if l.startswith("ok: ")]
    ck.check(r.returncode == 0 and len(oks) == 9 and "FAIL" not in out,
             "(s2) the DACL walk: exit %d, %d of 9 cases right:\n%s" %
             (r.returncode, len(oks), out))
    print("  (s2) the DACL walk: %d of 9 cases right" % len(oks))


t0 = time.monotonic()
try:
    hec = ctx_of(test_hec, "hec")
    if test_hec.preflight(hec):
        hec.run_scenarios(chosen((
            test_hec.scenario_happy, scenario_hec_same_as_linux,
            test_hec.scenario_tokens,
            test_hec.scenario_partial, test_hec.scenario_acks,
            scenario_hec_wrong_ca, scenario_hec_native_store,
            scenario_monitor_file, scenario_monitor, scenario_acl,
            scenario_acl_walk)))
    test_hec.check_no_token_leak(hec)
    es = ctx_of(test_es, "es")
    es.run_scenarios(chosen((test_es.scenario_happy,
                             scenario_es_same_as_linux,
                             test_es.scenario_mapping,
                             scenario_es_wrong_ca)))
    test_es.check_no_secret_leak(es)
    wz = ctx_of(test_wazuh, "wz")
    wz.run_scenarios(chosen((test_wazuh.scenario_happy,
                             scenario_wazuh_same_as_linux,
                             test_wazuh.scenario_failed_items,
                             scenario_wazuh_wrong_ca)))
    test_wazuh.check_no_secret_leak(wz)
    wa = ctx_of(test_wazuh_agent, "wa")
    wa.run_scenarios(chosen((test_wazuh_agent.scenario_corpus,
                             scenario_wazuh_agent_same_as_linux,
                             test_wazuh_agent.scenario_cut)))
    test_wazuh_agent.check_no_secret_leak(wa)
finally:
    for c in ctxs:
        c.close()
with open(os.path.join(work, "runs.log")) as f:
    runs = f.read().splitlines()
print("total %.1f s, %d runs of sysmonfwd.exe under Wine (%d with --once)"
      % (time.monotonic() - t0, len(runs),
         sum(1 for r in runs if "--once" in r)))
ck.finish()
PYEOF
