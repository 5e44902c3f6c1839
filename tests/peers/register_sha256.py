#!/usr/bin/env python3
"""REGISTER against a SIP registrar with a real third-party UA (pjsip's pjsua2)
and check which digest algorithm was used (RFC 7616 / RFC 8760).

Usage:
  python3 register_sha256.py --server 127.0.0.1:5060 --transport udp \
      --user alice --password secret --domain 127.0.0.1 \
      [--algorithm SHA-256] [--expect 200] [--timeout 10]

Exit status: 0 when the final REGISTER response code equals --expect (and, if
an Authorization header was sent, it used --algorithm); nonzero otherwise:
  1  final code differs from --expect
  2  an Authorization header used another algorithm than --algorithm
  3  --expect 200 but the server never challenged (no Authorization sent);
     pass --allow-no-auth to accept that
  4  no final response within --timeout
  5  usage / library error

How pjsip 2.15.1 picks a challenge, and how the algorithm is forced
-------------------------------------------------------------------
pjsip answers WWW-Authenticate challenges in header order, but for the same
realm a later challenge whose nonce differs from the Authorization it has just
built is treated like a "stale" retry: the earlier header is erased and the
later challenge answered.  With a plain-text password (--cred-mode plain) a
401 carrying [SHA-256, MD5] (RFC 8760's preferred-first order) is therefore
answered with MD5 -- the last supported challenge wins.  (Same nonce in both
challenges: the first one wins.)

Default --cred-mode ha1 instead hands pjsip a pre-computed digest credential,
HA1 = H(user ":" realm ":" password) with H = --algorithm and realm = --realm
(default: --domain).  pjsip only uses a digest credential for challenges of
the same algorithm, so it can never answer MD5 when SHA-256 is asked for.
pjsua2 2.15.1 drops AuthCredInfo.algoType on the way to pjsua, so the
algorithm is set on the live account through pjsua's C API (see
set_cred_algorithm below).  Against [SHA-256, MD5] with distinct nonces the
stale quirk above still erases the SHA-256 answer until pjsip's stale counter
for the MD5 challenge reaches PJSIP_MAX_STALE_COUNT (3): the client sends 3
REGISTERs without Authorization, then one with the SHA-256 answer (4 in all).
Against a SHA-256-only 401, or [MD5, SHA-256], it is the usual 2 REGISTERs.

qop=auth (and no qop) are supported; qop=auth-int alone is refused by pjsip.
stale=true (or any new nonce) is retried up to 3 times per challenge.
"""
import argparse
import hashlib
import os
import re
import sys
import time

try:
    import pjsua2 as pj
except ImportError as exc:  # pragma: no cover
    sys.stderr.write("cannot import pjsua2 (pip install -r requirements.txt): %s\n" % exc)
    sys.exit(5)

ALGORITHMS = {
    # IANA name: (hashlib constructor, pjsip algorithm type)
    "MD5": (hashlib.md5, pj.PJSIP_AUTH_ALGORITHM_MD5),
    "SHA-256": (hashlib.sha256, pj.PJSIP_AUTH_ALGORITHM_SHA256),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 5, not argparse's 2
        self.print_usage(sys.stderr)
        sys.stderr.write("%s: error: %s\n" % (self.prog, message))
        sys.exit(5)


def parse_args(argv=None):
    p = _Parser(description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--server", required=True, help="registrar host:port")
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--domain", required=True, help="domain of the AOR sip:user@domain")
    p.add_argument("--realm", default=None,
                   help="digest realm expected in the challenge (default: --domain)")
    p.add_argument("--algorithm", choices=sorted(ALGORITHMS), default="SHA-256")
    p.add_argument("--expect", type=int, default=200, help="expected final status code")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the final response")
    p.add_argument("--expires", type=int, default=300)
    p.add_argument("--registrar-uri", default=None,
                   help="Request-URI of the REGISTER (default: sip:SERVER;transport=T)")
    p.add_argument("--bind", default="127.0.0.1", help="local address to bind the SIP transport to")
    p.add_argument("--cred-mode", choices=("ha1", "plain"), default="ha1",
                   help="ha1: pre-computed HA1 for --algorithm only (forces it); "
                        "plain: plain password, pjsip picks among the challenges")
    p.add_argument("--allow-no-auth", action="store_true",
                   help="accept a 200 that was obtained without sending Authorization")
    p.add_argument("--unregister", action="store_true",
                   help="after the final response, send REGISTER Expires: 0 (default: leave the binding)")
    p.add_argument("--verbose", "-v", action="store_true", help="print the full pjsip log")
    p.add_argument("--log-file", default=None, help="write the full pjsip log (with SIP messages) here")
    return p.parse_args(argv)


class CapturingLogWriter(pj.LogWriter):
    """Collects pjsip log lines; message logging gives us the raw SIP traffic."""

    def __init__(self, verbose):
        pj.LogWriter.__init__(self)
        self.entries = []
        self.verbose = verbose

    def write(self, entry):
        self.entries.append(entry.msg)
        if self.verbose:
            sys.stderr.write(entry.msg if entry.msg.endswith("\n") else entry.msg + "\n")

    def text(self):
        return "".join(m if m.endswith("\n") else m + "\n" for m in self.entries)


class RegAccount(pj.Account):
    def __init__(self):
        pj.Account.__init__(self)
        self.events = []  # (code, reason, expiration)

    def onRegState(self, prm):
        self.events.append((prm.code, prm.reason, prm.expiration))


def header_lines(entries, direction, names):
    """Header lines named `names` from the SIP messages pjsip logged as TX or RX."""
    out = []
    for entry in entries:
        lines = entry.split("\n")
        if not re.search(r"\b%s \d+ bytes " % direction, lines[0]):
            continue
        for line in lines[1:]:
            line = line.rstrip("\r")
            if line.startswith("--end msg--") or not line:
                break
            if line.split(":", 1)[0].strip().lower() in names:
                out.append(line.strip())
    return out


def param(header, name):
    m = re.search(r'[\s,]%s\s*=\s*(?:"([^"]*)"|([^\s,]+))' % re.escape(name), header, re.I)
    if not m:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2)


# --- pjsua2 2.15.1 work-around -------------------------------------------
# pjsua2's AccountConfig::toPj() does not copy AuthCredInfo.algoType into the
# pjsip_cred_info it hands to pjsua (still true on pjproject master), so a
# pre-computed digest credential always ends up as MD5.  We fix the live
# account's copy through pjsua's C API, which the extension module exports:
# pjsua_acc_get_config() -> set algorithm_type -> pjsua_acc_modify().
# The pjsip_cred_info layout (pjsip/sip_auth.h, 2.14+) is
#   pj_str_t realm, scheme, username; int data_type; pj_str_t data;
#   pjsip_auth_algorithm_type algorithm_type; union ext {...}
# and the entry is located by content, so no pjsua_acc_config offsets are
# hard-coded; anything unexpected aborts instead of guessing.
CRED_ALGO_OFFSET = 72  # 3*16 (pj_str_t) + 4 (int) + 4 (pad) + 16 (pj_str_t)


def _lib():
    import ctypes
    import importlib
    mod = importlib.import_module("pjsua2._pjsua2")
    lib = ctypes.CDLL(mod.__file__)
    lib.pjsua_pool_create.restype = ctypes.c_void_p
    lib.pjsua_pool_create.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t]
    lib.pj_pool_release.argtypes = [ctypes.c_void_p]
    lib.pjsua_acc_get_config.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    lib.pjsua_acc_modify.argtypes = [ctypes.c_int, ctypes.c_void_p]
    return lib


def _find_cred(buf, realm, username, data):
    import ctypes
    import struct
    raw = bytes(buf)
    want = [realm.encode(), b"digest", username.encode()]
    for off in range(0, len(raw) - 136, 8):
        ok = True
        for k, w in enumerate(want):
            ptr, slen = struct.unpack_from("<Qq", raw, off + 16 * k)
            if slen != len(w) or not ptr or ctypes.string_at(ptr, slen) != w:
                ok = False
                break
        if not ok:
            continue
        dtype, = struct.unpack_from("<i", raw, off + 48)
        ptr, slen = struct.unpack_from("<Qq", raw, off + 56)
        if dtype == pj.PJSIP_CRED_DATA_DIGEST and slen == len(data) and ptr \
                and ctypes.string_at(ptr, slen) == data.encode():
            return off
    return None


def set_cred_algorithm(acc_id, realm, username, data, algo_type):
    """Give the account's digest credential the algorithm pjsua2 dropped."""
    import ctypes
    import struct
    lib = _lib()
    pool = lib.pjsua_pool_create(b"credfix", 4096, 4096)
    if not pool:
        raise RuntimeError("pjsua_pool_create failed")
    try:
        buf = ctypes.create_string_buffer(1 << 20)  # >> sizeof(pjsua_acc_config)
        if lib.pjsua_acc_get_config(acc_id, pool, buf) != 0:
            raise RuntimeError("pjsua_acc_get_config failed")
        off = _find_cred(buf, realm, username, data)
        if off is None:
            raise RuntimeError("credential not found in pjsua_acc_config")
        cur, = struct.unpack_from("<i", buf, off + CRED_ALGO_OFFSET)
        if cur not in (pj.PJSIP_AUTH_ALGORITHM_NOT_SET, pj.PJSIP_AUTH_ALGORITHM_MD5, algo_type):
            raise RuntimeError("unexpected algorithm_type %d in credential" % cur)
        struct.pack_into("<i", buf, off + CRED_ALGO_OFFSET, algo_type)
        if lib.pjsua_acc_modify(acc_id, buf) != 0:
            raise RuntimeError("pjsua_acc_modify failed")
        # read back
        if lib.pjsua_acc_get_config(acc_id, pool, buf) != 0:
            raise RuntimeError("pjsua_acc_get_config failed")
        off = _find_cred(buf, realm, username, data)
        got = struct.unpack_from("<i", buf, off + CRED_ALGO_OFFSET)[0] if off is not None else None
        if got != algo_type:
            raise RuntimeError("algorithm_type not applied (got %r)" % got)
    finally:
        lib.pj_pool_release(pool)


def main(argv=None):
    args = parse_args(argv)
    realm = args.realm if args.realm is not None else args.domain
    hash_ctor, algo_type = ALGORITHMS[args.algorithm]

    ep = pj.Endpoint()
    # libCreate() logs a few lines to stdout before our LogWriter is installed.
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        ep.libCreate()
    finally:
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
        os.close(devnull)
    writer = CapturingLogWriter(args.verbose)
    ep_cfg = pj.EpConfig()
    ep_cfg.uaConfig.threadCnt = 0          # we poll libHandleEvents() ourselves
    ep_cfg.uaConfig.mainThreadOnly = True
    ep_cfg.uaConfig.userAgent = "pjsua2-%s register_sha256.py" % ep.libVersion().full
    ep_cfg.medConfig.threadCnt = 0
    ep_cfg.logConfig.msgLogging = True
    ep_cfg.logConfig.level = 5
    ep_cfg.logConfig.consoleLevel = 5
    ep_cfg.logConfig.writer = writer
    ep.libInit(ep_cfg)

    tcfg = pj.TransportConfig()
    tcfg.boundAddress = args.bind
    tcfg.publicAddress = args.bind
    tcfg.port = 0
    ttype = pj.PJSIP_TRANSPORT_UDP if args.transport == "udp" else pj.PJSIP_TRANSPORT_TCP
    ep.transportCreate(ttype, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()       # headless: no sound device needed

    acfg = pj.AccountConfig()
    acfg.idUri = "sip:%s@%s" % (args.user, args.domain)
    acfg.regConfig.registrarUri = args.registrar_uri or "sip:%s;transport=%s" % (args.server, args.transport)
    # ha1 mode registers only after the credential fix below.
    acfg.regConfig.registerOnAdd = args.cred_mode == "plain"
    acfg.regConfig.disableRegOnModify = True
    acfg.regConfig.timeoutSec = args.expires
    acfg.regConfig.retryIntervalSec = 0    # no automatic re-registration on failure
    acfg.regConfig.firstRetryIntervalSec = 0
    acfg.natConfig.contactRewriteUse = 0
    acfg.natConfig.viaRewriteUse = 0
    acfg.natConfig.sdpNatRewriteUse = 0
    acfg.natConfig.sipOutboundUse = 0
    acfg.natConfig.iceEnabled = False

    cred = pj.AuthCredInfo()
    cred.scheme = "digest"
    cred.username = args.user
    if args.cred_mode == "ha1":
        cred.realm = realm
        cred.dataType = pj.PJSIP_CRED_DATA_DIGEST
        cred.data = hash_ctor(("%s:%s:%s" % (args.user, realm, args.password)).encode()).hexdigest()
        cred.algoType = algo_type
    else:
        cred.realm = "*"
        cred.dataType = pj.PJSIP_CRED_DATA_PLAIN_PASSWD
        cred.data = args.password
    acfg.sipConfig.authCreds.append(cred)

    acc = RegAccount()
    acc.create(acfg)
    if args.cred_mode == "ha1":
        try:
            set_cred_algorithm(acc.getId(), cred.realm, cred.username, cred.data, algo_type)
        except RuntimeError as exc:
            print("ERROR: cannot set the credential's digest algorithm: %s" % exc)
            return 5
        acc.setRegistration(True)

    deadline = time.monotonic() + args.timeout
    while not acc.events and time.monotonic() < deadline:
        ep.libHandleEvents(20)

    final = acc.events[0] if acc.events else None
    if final and args.unregister and final[0] // 100 == 2:
        n = len(acc.events)
        acc.setRegistration(False)
        end = time.monotonic() + args.timeout
        while len(acc.events) == n and time.monotonic() < end:
            ep.libHandleEvents(20)
        if len(acc.events) > n:
            print("unregister: %d %s" % acc.events[n][:2])

    log_text = writer.text()
    sent = header_lines(writer.entries, "TX", ("authorization",))
    offered = header_lines(writer.entries, "RX", ("www-authenticate",))

    # Shut down without any further network traffic: pjsua_destroy2() with
    # NO_NETWORK skips the implicit un-REGISTER that Account.shutdown() sends.
    ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    del acc
    if args.log_file:
        with open(args.log_file, "w") as fh:
            fh.write(log_text)

    n_reg = sum(1 for e in writer.entries
                if re.search(r"\bTX \d+ bytes Request msg REGISTER/", e.split("\n", 1)[0]))
    print("REGISTER requests sent: %d" % n_reg)
    for h in offered:
        print("challenge received: %s" % h)
    for h in sent:
        print("authorization sent: %s" % h)
    used = sorted({(param(h, "algorithm") or "MD5").upper() for h in sent})
    print("algorithm used: %s" % (", ".join(used) if used else "none (no Authorization sent)"))
    if final is None:
        print("final status: none (timeout after %.1fs)" % args.timeout)
        return 4
    code, reason, expiration = final
    print("final status: %d %s" % (code, reason))
    if not sent and offered and args.cred_mode == "ha1":
        print("note: no challenge matched realm=%r algorithm=%s (see --realm/--algorithm)"
              % (realm, args.algorithm))

    if code != args.expect:
        print("FAIL: expected %d, got %d" % (args.expect, code))
        return 1
    if sent and used != [args.algorithm.upper()]:
        print("FAIL: expected only algorithm=%s in Authorization" % args.algorithm)
        return 2
    if args.expect == 200 and not sent and not args.allow_no_auth:
        print("FAIL: 200 without any digest challenge/Authorization (use --allow-no-auth)")
        return 3
    print("OK")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except pj.Error as exc:  # pjsua2 raises pj.Error for library failures
        print("ERROR: pjsua2: %s" % (exc.info() if hasattr(exc, "info") else exc))
        sys.exit(5)
