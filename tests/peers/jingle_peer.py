#!/usr/bin/env python3
"""Browser-like participants made of slixmpp (XMPP) and aiortc (WebRTC)
against dialroom's focus and SFU, as Jitsi's client would join: anonymous
login, the focus conference IQ, the MUC join, then Jingle from the focus
turned into an SDP offer for aiortc, and aiortc's answer sent back as
session-accept.  ICE and DTLS then run against the SFU's one UDP port.

  conference --port P --room R   B (1000 Hz) joins, then A (440 Hz); each
                                 records what it decodes; C (660 Hz) joins and
                                 leaves; A sends malformed Jingle.  Prints one
                                 JSON object with what everyone observed; the
                                 Rust test (tests/jingle_sfu_forwards_a_tone.rs)
                                 asserts on it.

  bridge --port P --room R      A (440 Hz) joins a room where a phone caller
                                 (baresip, started by the Rust test) already is;
                                 reports the phone occupant's presence, the
                                 sources A was offered, the tone it decodes,
                                 mutes the phone through the focus (A is the
                                 moderator) and reports the tone again,
                                 then (after writing --ready-file) waits up to
                                 --linger s for the phone to leave (presence
                                 unavailable and source-remove).
                                 tests/phone_and_browser_hear_each_other.rs

Exit status: 0 when the run finished (whatever it observed), 2 when a
client could not connect, 5 on usage errors.
"""
import argparse
import asyncio
import fractions
import json
import logging
import math
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from array import array

try:
    import aioice.ice
    import av
    import slixmpp
    from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
    from slixmpp.exceptions import IqError, IqTimeout
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
except ImportError as exc:  # pragma: no cover
    sys.stderr.write("cannot import slixmpp/aiortc (pip install -r requirements.txt): %s\n" % exc)
    sys.exit(5)

# Loopback only: aioice leaves 127.0.0.1 out of its host candidates.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

J = "urn:xmpp:jingle:1"
RTP = "urn:xmpp:jingle:apps:rtp:1"
ICE = "urn:xmpp:jingle:transports:ice-udp:1"
DTLS = "urn:xmpp:jingle:apps:dtls:0"
SSMA = "urn:xmpp:jingle:apps:rtp:ssma:0"
FB = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0"
HDR = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"
GROUPING = "urn:xmpp:jingle:apps:grouping:0"
JITMEET = "http://jitsi.org/jitmeet"
FOCUS = "http://jitsi.org/protocol/focus"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
RATE = 48000


def q(ns, name):
    return "{%s}%s" % (ns, name)


class Tone(MediaStreamTrack):
    """A sine wave as 20 ms s16 mono frames, paced in real time."""
    kind = "audio"

    def __init__(self, freq):
        super().__init__()
        self.freq = freq
        self.n = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.n / RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        samples = 960
        pcm = array("h", (int(8000 * math.sin(2 * math.pi * self.freq * (self.n + i) / RATE))
                          for i in range(samples)))
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(pcm.tobytes())
        frame.sample_rate = RATE
        frame.pts = self.n
        frame.time_base = fractions.Fraction(1, RATE)
        self.n += samples
        return frame


def goertzel(x, rate, freq):
    """Relative power of `freq` in `x` (normalised by the signal's energy)."""
    if not x:
        return 0.0
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for v in x:
        s0 = v + k * s1 - s2
        s2, s1 = s1, s0
    p = s1 * s1 + s2 * s2 - k * s1 * s2
    energy = sum(v * v for v in x) or 1.0
    return p / (energy * len(x) / 2)


def jingle_to_sdp(jingle):
    """The focus's session-initiate as an SDP offer (what Jitsi's client does)."""
    lines = ["v=0", "o=- %d 2 IN IP4 0.0.0.0" % int(time.time()), "s=-", "t=0 0",
             # The SFU is ICE-lite (an SDP-only fact: Jingle has no element for it).
             "a=ice-lite", "a=msid-semantic: WMS *"]
    group = jingle.find(q(GROUPING, "group"))
    if group is not None:
        lines.append("a=group:BUNDLE " + " ".join(c.get("name") for c in group.findall(q(GROUPING, "content"))))
    for content in jingle.findall(q(J, "content")):
        desc = content.find(q(RTP, "description"))
        tr = content.find(q(ICE, "transport"))
        pts = desc.findall(q(RTP, "payload-type"))
        lines.append("m=%s 9 UDP/TLS/RTP/SAVPF %s" % (desc.get("media"), " ".join(p.get("id") for p in pts)))
        lines += ["c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
                  "a=ice-ufrag:" + tr.get("ufrag"), "a=ice-pwd:" + tr.get("pwd")]
        fp = tr.find(q(DTLS, "fingerprint"))
        lines += ["a=fingerprint:%s %s" % (fp.get("hash"), fp.text.strip()), "a=setup:" + fp.get("setup", "actpass"),
                  "a=mid:" + content.get("name"), "a=sendrecv", "a=rtcp-mux"]
        for p in pts:
            ch = "/" + p.get("channels") if p.get("channels") else ""
            lines.append("a=rtpmap:%s %s/%s%s" % (p.get("id"), p.get("name"), p.get("clockrate"), ch))
            params = [(x.get("name"), x.get("value")) for x in p.findall(q(RTP, "parameter"))]
            if params:
                lines.append("a=fmtp:%s %s" % (p.get("id"), ";".join("%s=%s" % kv for kv in params)))
            for fb in p.findall(q(FB, "rtcp-fb")):
                lines.append("a=rtcp-fb:%s %s%s" % (p.get("id"), fb.get("type"),
                                                     " " + fb.get("subtype") if fb.get("subtype") else ""))
        for h in desc.findall(q(HDR, "rtp-hdrext")):
            lines.append("a=extmap:%s %s" % (h.get("id"), h.get("uri")))
        for s in desc.findall(q(SSMA, "source")):
            info = s.find(q(JITMEET, "ssrc-info"))
            owner = info.get("owner") if info is not None else "x"
            lines.append("a=ssrc:%s cname:%s" % (s.get("ssrc"), owner))
        for c in tr.findall(q(ICE, "candidate")):
            lines.append("a=candidate:%s %s %s %s %s %s typ %s" % (
                c.get("foundation"), c.get("component"), c.get("protocol"), c.get("priority"),
                c.get("ip"), c.get("port"), c.get("type")))
        lines.append("a=end-of-candidates")
    return "\r\n".join(lines) + "\r\n"


def sdp_to_accept(sdp, sid, responder):
    """aiortc's answer as a session-accept (sources, transport, fingerprint)."""
    jingle = ET.Element(q(J, "jingle"), {"action": "session-accept", "sid": sid, "responder": responder})
    group = ET.SubElement(jingle, q(GROUPING, "group"), {"semantics": "BUNDLE"})
    session = {}
    media = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            media.append({"kind": line[2:].split()[0], "attrs": []})
        elif line.startswith("a="):
            (media[-1]["attrs"] if media else session.setdefault("attrs", [])).append(line[2:])
    for m in media:
        attrs = m["attrs"] + session.get("attrs", [])
        get = lambda k: next((a[len(k) + 1:] for a in attrs if a.startswith(k + ":")), None)
        mid = get("mid") or m["kind"]
        ET.SubElement(group, q(GROUPING, "content"), {"name": mid})
        content = ET.SubElement(jingle, q(J, "content"), {"creator": "responder", "name": mid, "senders": "both"})
        desc = ET.SubElement(content, q(RTP, "description"), {"media": m["kind"]})
        seen = []
        for a in m["attrs"]:
            if a.startswith("ssrc:"):
                ssrc = a[5:].split()[0]
                if ssrc not in seen:
                    seen.append(ssrc)
                    ET.SubElement(desc, q(SSMA, "source"), {"ssrc": ssrc})
            elif a.startswith("ssrc-group:"):
                parts = a[11:].split()
                g = ET.SubElement(desc, q(SSMA, "ssrc-group"), {"semantics": parts[0]})
                for s in parts[1:]:
                    ET.SubElement(g, q(SSMA, "source"), {"ssrc": s})
        ET.SubElement(desc, q(RTP, "rtcp-mux"))
        tr = ET.SubElement(content, q(ICE, "transport"), {"ufrag": get("ice-ufrag"), "pwd": get("ice-pwd")})
        hash_, value = get("fingerprint").split(" ", 1)
        fp = ET.SubElement(tr, q(DTLS, "fingerprint"), {"hash": hash_, "setup": get("setup") or "active"})
        fp.text = value
        for i, a in enumerate(x for x in m["attrs"] if x.startswith("candidate:")):
            f = a[len("candidate:"):].split()
            ET.SubElement(tr, q(ICE, "candidate"), {
                "foundation": f[0], "component": f[1], "protocol": f[2].lower(), "priority": f[3],
                "ip": f[4], "port": f[5], "type": f[7], "generation": "0", "id": "c%d" % i})
    return jingle


def sources_in(jingle):
    out = []
    for s in jingle.iter(q(SSMA, "source")):
        info = s.find(q(JITMEET, "ssrc-info"))
        if s.get("ssrc") and info is not None:
            out.append({"ssrc": int(s.get("ssrc")), "owner": info.get("owner")})
    return out


class Participant(slixmpp.ClientXMPP):
    def __init__(self, args, name, freq):
        super().__init__(args.domain, "")
        self.enable_starttls = False
        self.enable_direct_tls = False
        self.enable_plaintext = True
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0045")
        self.args = args
        self.name = name
        self.freq = freq
        self.room = "%s@conference.%s" % (args.room, args.domain)
        self.started = asyncio.Event()
        self.initiated = asyncio.Event()
        self.connected = asyncio.Event()
        self.failure = None
        self.sid = None
        self.pc = None
        self.log = {"initiate_sources": [], "source_add": [], "source_remove": [], "local_ssrcs": [],
                    "samples": 0, "ice": None, "errors": []}
        self.pcm = []
        self.recv_tasks = []
        self.presences = []
        self.add_event_handler("groupchat_presence", self._presence)
        self.add_event_handler("session_start", lambda _e: self.started.set())
        self.add_event_handler("connection_failed", self._failed)
        self.add_event_handler("failed_all_auth", self._failed)
        self.register_handler(Callback("jingle", MatchXPath("{jabber:client}iq/{%s}jingle" % J), self._jingle))

    def _presence(self, pres):
        x = pres.xml
        nick = x.find("{http://jabber.org/protocol/nick}nick")
        features = [f.get("var") for f in x.iter("{jabber:client}feature")]
        muted = x.find("{jabber:client}audiomuted")
        self.presences.append({
            "from": str(pres["from"]),
            "type": pres["type"],
            "nick": nick.text if nick is not None else None,
            "features": features,
            "audiomuted": muted.text if muted is not None else None,
        })

    def _failed(self, e):
        self.failure = str(e)
        self.started.set()

    @property
    def nick(self):
        return str(self.boundjid.user)[:8]

    def _jingle(self, iq):
        if iq["type"] != "set":
            return
        jingle = iq.xml.find(q(J, "jingle"))
        action = jingle.get("action")
        iq.reply().send()
        if action == "session-initiate":
            self.sid = jingle.get("sid")
            self.log["initiate_sources"] = sources_in(jingle)
            asyncio.ensure_future(self._answer(iq["from"], jingle))
        elif action == "source-add":
            self.log["source_add"].append(sources_in(jingle))
        elif action == "source-remove":
            self.log["source_remove"].append(sources_in(jingle))

    async def _answer(self, focus, jingle):
        try:
            self.pc = RTCPeerConnection()

            @self.pc.on("track")
            def on_track(track):
                if track.kind == "audio":
                    self.recv_tasks.append(asyncio.ensure_future(self._record(track)))

            @self.pc.on("connectionstatechange")
            def on_state():
                self.log["ice"] = self.pc.connectionState
                if self.pc.connectionState == "connected":
                    self.connected.set()

            await self.pc.setRemoteDescription(RTCSessionDescription(jingle_to_sdp(jingle), "offer"))
            for t in self.pc.getTransceivers():
                if t.kind == "audio":
                    t.sender.replaceTrack(Tone(self.freq))
                    t.direction = "sendrecv"
                else:
                    t.direction = "recvonly"
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            sdp = self.pc.localDescription.sdp
            self.log["local_ssrcs"] = sorted({int(a.split()[0][7:]) for a in sdp.splitlines() if a.startswith("a=ssrc:")})
            accept = sdp_to_accept(sdp, self.sid, str(self.boundjid))
            req = self.make_iq_set(ito=focus)
            req.append(accept)
            await req.send(timeout=10)
            self.initiated.set()
        except Exception as e:  # noqa: BLE001 - reported to the test
            self.log["errors"].append("answer: %r" % e)
            self.initiated.set()

    async def _record(self, track):
        while True:
            try:
                frame = await track.recv()
            except Exception:  # noqa: BLE001 - track ended
                return
            ch = len(frame.layout.channels)
            # Packed s16: the plane may be padded past the samples.
            pcm = array("h", bytes(frame.planes[0])[: frame.samples * ch * 2])
            mono = pcm[::ch] if ch > 1 else pcm
            self.log["samples"] += len(mono)
            self.log["rate"] = frame.sample_rate
            self.pcm.extend(mono)

    async def join(self):
        self.connect(host="127.0.0.1", port=self.args.port)
        await asyncio.wait_for(self.started.wait(), 10)
        if self.failure:
            raise RuntimeError(self.failure)
        conf = self.make_iq_set(ito="focus." + self.args.domain)
        c = ET.Element(q(FOCUS, "conference"), {"room": self.room, "machine-uid": uuid.uuid4().hex})
        conf.append(c)
        await conf.send(timeout=10)
        self.plugin["xep_0045"].join_muc(self.room, self.nick)

    def tone_report(self, seconds):
        rate = self.log.get("rate", RATE)
        tail = self.pcm[-int(seconds * rate):]
        rms = math.sqrt(sum(v * v for v in tail) / len(tail)) if tail else 0.0
        return {"rms": rms, "p440": goertzel(tail, rate, 440), "p660": goertzel(tail, rate, 660),
                "p1000": goertzel(tail, rate, 1000), "p300": goertzel(tail, rate, 300)}

    async def leave(self):
        if self.pc:
            await self.pc.close()
        for t in self.recv_tasks:
            t.cancel()
        self.disconnect()


async def malformed(p):
    """Jingle the focus must refuse with bad-request (and keep serving)."""
    out = []
    bodies = [
        ET.fromstring("<jingle xmlns='%s' action='session-accept'/>" % J),
        ET.fromstring("<jingle xmlns='%s' action='source-add' sid='%s'><content name='audio'>"
                      "<description xmlns='%s' media='audio'><source xmlns='%s' ssrc='not-a-number'/>"
                      "</description></content></jingle>" % (J, p.sid, RTP, SSMA)),
    ]
    for body in bodies:
        req = p.make_iq_set(ito="%s/focus" % p.room)
        req.append(body)
        try:
            await req.send(timeout=5)
            out.append("result")
        except IqError as e:
            out.append(e.iq["error"]["condition"])
        except IqTimeout:
            out.append("timeout")
    return out


async def conference(args):
    a, b, c = Participant(args, "a", 440), Participant(args, "b", 1000), Participant(args, "c", 660)
    report = {}
    try:
        await b.join()
        await asyncio.wait_for(b.initiated.wait(), 15)
        await a.join()
        await asyncio.wait_for(a.initiated.wait(), 15)
        for p in (a, b):
            try:
                await asyncio.wait_for(p.connected.wait(), 15)
            except asyncio.TimeoutError:
                p.log["errors"].append("not connected")
        await asyncio.sleep(args.seconds)
        report["a_tone"] = a.tone_report(args.seconds - 1)
        report["b_tone"] = b.tone_report(args.seconds - 1)
        report["malformed"] = await malformed(a)
        await c.join()
        await asyncio.wait_for(c.initiated.wait(), 15)
        await asyncio.sleep(2)
        report["c_ssrcs"] = c.log["local_ssrcs"]
        report["c_nick"] = c.nick
        await c.leave()
        await asyncio.sleep(2)
    finally:
        for p in (a, b):
            report[p.name] = dict(p.log, nick=p.nick)
        for p in (a, b, c):
            try:
                await p.leave()
            except Exception:  # noqa: BLE001
                pass
    return report


async def bridge(args):
    a = Participant(args, "a", 440)
    report = {}
    try:
        await a.join()
        await asyncio.wait_for(a.initiated.wait(), 15)
        try:
            await asyncio.wait_for(a.connected.wait(), 15)
        except asyncio.TimeoutError:
            a.log["errors"].append("not connected")
        await asyncio.sleep(args.seconds)
        report["a_tone"] = a.tone_report(args.seconds - 1)
        # As the room's moderator, mute the phone caller through the focus.
        phone = next((p["from"] for p in a.presences
                      if "http://jitsi.org/protocol/jigasi" in p["features"]), None)
        if phone:
            req = a.make_iq_set(ito="%s/focus" % a.room)
            m = ET.Element("{http://jitsi.org/jitmeet/audio}mute", {"jid": phone})
            m.text = "true"
            req.append(m)
            try:
                await req.send(timeout=5)
                report["mute"] = "result"
            except IqError as e:
                report["mute"] = e.iq["error"]["condition"]
            except IqTimeout:
                report["mute"] = "timeout"
            # Half a second for the mute to take effect, then two seconds
            # of what arrives (a muted caller sends nothing at all).
            await asyncio.sleep(0.5)
            mark = len(a.pcm)
            await asyncio.sleep(2.0)
            after = a.pcm[mark:]
            rms = math.sqrt(sum(v * v for v in after) / len(after)) if after else 0.0
            report["a_muted"] = {"seconds": len(after) / RATE, "rms": rms}
        if args.ready_file:
            with open(args.ready_file, "w") as f:
                f.write("ready")
        deadline = time.monotonic() + args.linger
        while time.monotonic() < deadline and not a.log["source_remove"]:
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
    finally:
        report["a"] = dict(a.log, nick=a.nick)
        report["presences"] = a.presences
        try:
            await a.leave()
        except Exception:  # noqa: BLE001
            pass
    return report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["conference", "bridge"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--domain", default="localhost")
    ap.add_argument("--room", default="tone")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--linger", type=float, default=10.0)
    ap.add_argument("--ready-file")
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR, stream=sys.stderr)
    try:
        run = conference if args.command == "conference" else bridge
        report = asyncio.run(asyncio.wait_for(run(args), 120))
    except Exception as e:  # noqa: BLE001
        print(json.dumps({"fatal": repr(e)}))
        sys.exit(2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
