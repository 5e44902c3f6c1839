#!/usr/bin/env python3
"""A real XMPP client (slixmpp) against dialroom's XMPP service.

Each subcommand connects over plain TCP (or, with --tls-ca, insists on
STARTTLS and trusts only that CA for the server's certificate), does one thing and prints what it observed as one JSON object on stdout;
the Rust tests assert on it.  Exit status: 0 when the run finished (whatever
it observed), 2 when slixmpp could not even connect, 5 on usage errors.

  login  --user U --password P   PLAIN (or ANONYMOUS without --user); prints the bound JID or the SASL
                                 failure, and whether the stream was encrypted
  muc    --room R                two anonymous clients join R; A says hello; prints what each saw
  focus  --room R                the Jitsi conference IQ to focus.<domain>, then a join; prints result and occupants
  kick   --room R                A (owner) kicks B; prints B's unavailable presence status codes
"""
import argparse
import asyncio
import json
import logging
import sys
import xml.etree.ElementTree as ET

try:
    import slixmpp
    from slixmpp.exceptions import IqError, IqTimeout, PresenceError
except ImportError as exc:  # pragma: no cover
    sys.stderr.write("cannot import slixmpp (pip install -r requirements.txt): %s\n" % exc)
    sys.exit(5)

MUC_USER = "{http://jabber.org/protocol/muc#user}"


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, tls_ca=None):
        super().__init__(jid, password,
                         plugin_config={"feature_mechanisms": {"unencrypted_plain": tls_ca is None}})
        self.enable_direct_tls = False
        if tls_ca:
            # STARTTLS only, verified against the test's own CA.
            self.enable_starttls = True
            self.enable_plaintext = False
            self.ssl_context.load_verify_locations(cafile=tls_ca)
        else:
            self.enable_starttls = False
            self.enable_plaintext = True
        self.encrypted = False
        self.add_event_handler("tls_success", self._tls)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0045")
        self.register_plugin("xep_0199")
        self.started = asyncio.Event()
        self.failed = asyncio.Event()
        self.failure = None
        self.presences = []   # (from, type, [status codes], item attrs)
        self.groupchat = []   # (from, body)
        self.add_event_handler("session_start", lambda _e: self.started.set())
        self.add_event_handler("failed_auth", self._failed)
        # No mechanism both sides have (e.g. the server offers no ANONYMOUS):
        # slixmpp fires these instead of failed_auth, then disconnects.
        self.add_event_handler("failed_all_auth", lambda _e: self._failed("failed_all_auth"))
        self.add_event_handler("no_auth", lambda _e: self._failed("no_auth"))
        self.add_event_handler("connection_failed", self._failed)
        self.add_event_handler("groupchat_message", self._groupchat)
        self.add_event_handler("groupchat_presence", self._presence)

    def _tls(self, _e):
        self.encrypted = True

    def _failed(self, e):
        self.failure = str(e) if e is not None else "failed"
        self.failed.set()

    def _groupchat(self, msg):
        if msg["body"]:
            self.groupchat.append((str(msg["from"]), msg["body"]))

    def _presence(self, p):
        x = p.xml.find(MUC_USER + "x")
        codes, item = [], {}
        if x is not None:
            codes = [s.get("code") for s in x.findall(MUC_USER + "status")]
            it = x.find(MUC_USER + "item")
            if it is not None:
                item = dict(it.attrib)
        self.presences.append({"from": str(p["from"]), "type": p["type"], "codes": codes, "item": item})


async def start(args, jid=None, password=""):
    c = Client(jid or args.domain, password, args.tls_ca)
    c.connect(host="127.0.0.1", port=args.port)
    done, _ = await asyncio.wait(
        [asyncio.ensure_future(c.started.wait()), asyncio.ensure_future(c.failed.wait())],
        timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED)
    return c


async def settle(cond, timeout):
    end = asyncio.get_event_loop().time() + timeout
    while not cond() and asyncio.get_event_loop().time() < end:
        await asyncio.sleep(0.05)


async def cmd_login(args):
    jid = "%s@%s" % (args.user, args.domain) if args.user else None
    c = await start(args, jid, args.password or "")
    out = {"bound": str(c.boundjid) if c.started.is_set() else None, "failure": c.failure,
           "encrypted": c.encrypted}
    if c.started.is_set():
        ping = c.make_iq_get(ito=args.domain)
        ping.append(ET.Element("{urn:xmpp:ping}ping"))
        try:
            r = await ping.send(timeout=5)
            out["ping"] = r["type"]
        except (IqError, IqTimeout) as e:
            out["ping"] = "error: %s" % e
        c.disconnect()
    return out


async def cmd_muc(args):
    room = "%s@conference.%s" % (args.room, args.domain)
    a = await start(args)
    b = await start(args)
    if not (a.started.is_set() and b.started.is_set()):
        return {"error": "login failed", "a": a.failure, "b": b.failure}
    await a.plugin["xep_0045"].join_muc_wait(slixmpp.JID(room), "alice", timeout=5)
    await b.plugin["xep_0045"].join_muc_wait(slixmpp.JID(room), "bob", timeout=5)
    await settle(lambda: any(p["from"] == room + "/bob" for p in a.presences), 5)
    a.send_message(mto=room, mbody="hello from alice", mtype="groupchat")
    await settle(lambda: b.groupchat and a.groupchat, 5)
    conflict = None
    c = await start(args)
    try:
        await c.plugin["xep_0045"].join_muc_wait(slixmpp.JID(room), "alice", timeout=5)
        conflict = "joined"
    except PresenceError as e:
        conflict = e.condition
    out = {
        "a_jid": str(a.boundjid), "b_jid": str(b.boundjid),
        "a_presences": a.presences, "b_presences": b.presences,
        "a_groupchat": a.groupchat, "b_groupchat": b.groupchat,
        "third_as_alice": conflict,
    }
    for x in (a, b, c):
        x.disconnect()
    return out


async def cmd_focus(args):
    room = "%s@conference.%s" % (args.room, args.domain)
    a = await start(args)
    if not a.started.is_set():
        return {"error": "login failed", "failure": a.failure}
    iq = a.make_iq_set(ito="focus.%s" % args.domain)
    conf = ET.Element("{http://jitsi.org/protocol/focus}conference",
                      {"room": room, "machine-uid": "6f1c0000"})
    ET.SubElement(conf, "{http://jitsi.org/protocol/focus}property",
                  {"name": "rtcstatsEnabled", "value": "false"})
    iq.append(conf)
    out = {}
    try:
        r = await iq.send(timeout=5)
        c = r.xml.find("{http://jitsi.org/protocol/focus}conference")
        out["result"] = dict(c.attrib) if c is not None else None
        out["properties"] = {p.get("name"): p.get("value") for p in c} if c is not None else {}
    except (IqError, IqTimeout) as e:
        out["result"] = "error: %s" % e
    bad = a.make_iq_set(ito="focus.%s" % args.domain)
    bad.append(ET.Element("{http://jitsi.org/protocol/focus}conference"))
    try:
        await bad.send(timeout=5)
        out["without_room"] = "result"
    except IqError as e:
        out["without_room"] = e.condition
    await a.plugin["xep_0045"].join_muc_wait(slixmpp.JID(room), a.boundjid.user[:8], timeout=5)
    await settle(lambda: len(a.presences) >= 2, 2)
    out["presences"] = a.presences
    a.disconnect()
    return out


async def cmd_kick(args):
    room = "%s@conference.%s" % (args.room, args.domain)
    a = await start(args)
    b = await start(args)
    await a.plugin["xep_0045"].join_muc_wait(slixmpp.JID(room), "owner", timeout=5)
    await b.plugin["xep_0045"].join_muc_wait(slixmpp.JID(room), "guest", timeout=5)
    out = {}
    try:
        await b.plugin["xep_0045"].set_role(slixmpp.JID(room), "owner", "none")
        out["guest_kicks_owner"] = "result"
    except IqError as e:
        out["guest_kicks_owner"] = e.condition
    await a.plugin["xep_0045"].set_role(slixmpp.JID(room), "guest", "none", reason="bye")
    await settle(lambda: any(p["type"] == "unavailable" for p in b.presences), 5)
    out["guest_saw"] = [p for p in b.presences if p["type"] == "unavailable"]
    out["owner_saw"] = [p for p in a.presences if p["type"] == "unavailable"]
    for x in (a, b):
        x.disconnect()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=("login", "muc", "focus", "kick"))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--domain", default="localhost")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--room", default="room1")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--tls-ca", help="insist on STARTTLS; trust this CA certificate (PEM)")
    p.add_argument("--verbose", "-v", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR,
                        stream=sys.stderr, format="%(levelname)s %(message)s")
    fn = {"login": cmd_login, "muc": cmd_muc, "focus": cmd_focus, "kick": cmd_kick}[args.command]
    out = asyncio.run(asyncio.wait_for(fn(args), timeout=60))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
