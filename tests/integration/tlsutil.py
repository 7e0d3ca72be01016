"""Test certificates for the TLS tests, made at test time with openssl.

Not a test itself: test_hec.py and hec_server.py import it.  make_pki()
writes into a given directory, with the openssl command-line tool, a test
certificate authority and the certificates the scenarios need:

- ca.pem / ca.key: the test CA (self-signed, CA:TRUE);
- server.pem / server.key: a server certificate signed by that CA whose
  subjectAltName is IP:127.0.0.1 and DNS:localhost;
- wrong-host.pem / wrong-host.key: a server certificate signed by the same
  CA whose only subjectAltName is DNS:wrong.example (the host name does
  not match 127.0.0.1);
- client.pem / client.key: a client certificate signed by the CA, for
  mutual TLS;
- other-ca.pem / other-ca.key: an unrelated second CA, and
  other-server.pem / other-server.key: a server certificate for 127.0.0.1
  signed by it (a server the agent must not trust).

Keys are EC P-256 and every certificate is valid for 2 days.  pinned_pubkey()
gives curl's pinned public key string (sha256//BASE64 of the DER
SubjectPublicKeyInfo) of a certificate.
"""
import base64
import hashlib
import os
import subprocess

_CONF = """\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = sysmonfwd test

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1, DNS:localhost

[wrong_host]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class PkiError(Exception):
    pass


def _openssl(args, cwd, input=None):
    r = subprocess.run(["openssl"] + args, cwd=cwd, input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise PkiError("openssl %s failed (exit %d): %s" %
                       (" ".join(args), r.returncode,
                        r.stderr.decode("utf-8", "replace").strip()))
    return r.stdout


def _key(d, name):
    _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt",
              "ec_paramgen_curve:P-256", "-out", name + ".key"], d)
    os.chmod(os.path.join(d, name + ".key"), 0o600)


def _ca(d, name, cn):
    _key(d, name)
    _openssl(["req", "-config", "openssl.cnf", "-new", "-x509",
              "-key", name + ".key", "-out", name + ".pem", "-days", "2",
              "-subj", "/CN=" + cn, "-extensions", "v3_ca", "-sha256"], d)


def _leaf(d, name, cn, ca, section):
    _key(d, name)
    _openssl(["req", "-config", "openssl.cnf", "-new", "-key",
              name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn], d)
    _openssl(["x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
              "-CAkey", ca + ".key", "-CAcreateserial", "-out",
              name + ".pem", "-days", "2", "-sha256", "-extfile",
              "openssl.cnf", "-extensions", section], d)
    os.unlink(os.path.join(d, name + ".csr"))


def make_pki(directory):
    """Create the files listed above in directory; return their paths as a
    dict (ca, ca_key, server, server_key, wrong_host, wrong_host_key,
    client, client_key, other_ca, other_ca_key, other_server,
    other_server_key).  Raises PkiError when openssl fails."""
    d = directory
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "openssl.cnf"), "w") as f:
        f.write(_CONF)
    _ca(d, "ca", "sysmonfwd test CA")
    _leaf(d, "server", "127.0.0.1", "ca", "server")
    _leaf(d, "wrong-host", "wrong.example", "ca", "wrong_host")
    _leaf(d, "client", "sysmonfwd test client", "ca", "client")
    _ca(d, "other-ca", "unrelated test CA")
    _leaf(d, "other-server", "127.0.0.1", "other-ca", "server")
    out = {}
    for key, name in (("ca", "ca"), ("server", "server"),
                      ("wrong_host", "wrong-host"), ("client", "client"),
                      ("other_ca", "other-ca"),
                      ("other_server", "other-server")):
        out[key] = os.path.join(d, name + ".pem")
        out[key + "_key"] = os.path.join(d, name + ".key")
    return out


def pinned_pubkey(cert_path):
    """curl's pinned public key string of the certificate at cert_path:
    "sha256//" + base64(sha256(DER SubjectPublicKeyInfo)), the same as
    openssl x509 -pubkey | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64."""
    d = os.path.dirname(os.path.abspath(cert_path))
    pem = _openssl(["x509", "-in", cert_path, "-noout", "-pubkey"], d)
    der = _openssl(["pkey", "-pubin", "-outform", "der"], d, input=pem)
    return "sha256//" + base64.b64encode(hashlib.sha256(der).digest()
                                         ).decode("ascii")
