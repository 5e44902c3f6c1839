// @xmpp/client (npm; an XMPP library nobody here wrote) over dialroom's
// WebSocket (RFC 7395): log in anonymously, send the focus's conference IQ,
// join the MUC, receive the focus's Jingle session-initiate, and send
// malformed stanzas. Prints one JSON object of what it observed; the Rust
// test (tests/xmpp_client_over_websocket_gets_a_jingle_offer.rs) asserts.
//
// usage: node xmpp_client.mjs WS_URL DOMAIN ROOM [stay]
// With `stay` it prints `joined NICK` once offered a session and then waits
// (up to 20 s) for the focus's mute IQ and for being kicked (status 307),
// which the Rust test asks of the admin API, instead of the malformed stanzas.
import { client, xml } from '@xmpp/client';
import { WebSocket as WsWebSocket } from 'ws';

// @xmpp/websocket uses the global WebSocket, which Node has only from 22
// (20 behind a flag): the `ws` package stands in where it is missing.
globalThis.WebSocket ??= WsWebSocket;

const [service, domain, room, mode] = process.argv.slice(2);
const out = { errors: [], malformed: [] };
setTimeout(() => { out.errors.push('timed out'); console.log(JSON.stringify(out)); process.exit(0); }, 30000).unref();
const muc = `${room}@conference.${domain}`;
const J = 'urn:xmpp:jingle:1';

const xmpp = client({ service, domain, timeout: 10000 });
xmpp.on('error', (e) => out.errors.push(`error: ${e.condition ?? e.message}`));
let initiate;
const gotInitiate = new Promise((resolve) => { initiate = resolve; });
let muted;
const gotMute = new Promise((resolve) => { muted = resolve; });
xmpp.iqCallee.set('http://jitsi.org/jitmeet/audio', 'mute', (ctx) => {
  muted({ from: ctx.stanza.attrs.from, value: ctx.element.text() });
  return true;
});
let kicked;
const gotKicked = new Promise((resolve) => { kicked = resolve; });
xmpp.on('stanza', (st) => {
  if (st.is('presence') && st.attrs.type === 'unavailable') {
    const x = st.getChild('x', 'http://jabber.org/protocol/muc#user');
    const codes = x?.getChildren('status').map((c) => c.attrs.code) ?? [];
    if (codes.includes('110')) kicked({ codes });
  }
});
xmpp.iqCallee.set(J, 'jingle', (ctx) => {
  const j = ctx.element;
  if (j.attrs.action === 'session-initiate') initiate(ctx.stanza);
  return true;
});

try {
  const me = await xmpp.start();
  out.jid = me.toString();
  out.anonymous = !me.local.includes('@') && me.local.length > 0;
  const nick = me.local.slice(0, 8);
  const conf = await xmpp.iqCaller.set(
    xml('conference', { xmlns: 'http://jitsi.org/protocol/focus', room: muc, 'machine-uid': nick }),
    `focus.${domain}`);
  out.conference = { ready: conf.attrs.ready, focusjid: conf.attrs.focusjid };
  await xmpp.send(xml('presence', { to: `${muc}/${nick}` }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })));
  const iq = await Promise.race([gotInitiate, new Promise((r) => setTimeout(() => r(null), 10000))]);
  if (iq) {
    const j = iq.getChild('jingle', J);
    out.initiate = {
      from: iq.attrs.from,
      sid: j.attrs.sid,
      contents: j.getChildren('content').map((c) => {
        const desc = c.getChild('description', 'urn:xmpp:jingle:apps:rtp:1');
        const tr = c.getChild('transport', 'urn:xmpp:jingle:transports:ice-udp:1');
        const fp = tr?.getChild('fingerprint', 'urn:xmpp:jingle:apps:dtls:0');
        return {
          name: c.attrs.name,
          media: desc?.attrs.media,
          payloads: desc?.getChildren('payload-type').map((p) => p.attrs.name) ?? [],
          sources: desc?.getChildren('source', 'urn:xmpp:jingle:apps:rtp:ssma:0').map((s) => Number(s.attrs.ssrc)) ?? [],
          ufrag: tr?.attrs.ufrag,
          pwd: tr?.attrs.pwd,
          fingerprint: fp ? { hash: fp.attrs.hash, setup: fp.attrs.setup, value: fp.text() } : null,
          candidates: tr?.getChildren('candidate').map((x) => `${x.attrs.protocol} ${x.attrs.ip}:${x.attrs.port} ${x.attrs.type}`) ?? [],
        };
      }),
    };
  }
  if (mode === 'stay') {
    console.log(`joined ${nick}`);
    const timeout = (ms) => new Promise((r) => setTimeout(() => r(null), ms));
    out.mute = await Promise.race([gotMute, timeout(20000)]);
    out.kicked = await Promise.race([gotKicked, timeout(20000)]);
    console.log(JSON.stringify(out));
    process.exit(0);
  }
  // Malformed: a conference IQ without a room, Jingle without a sid, an IQ with no payload.
  const bad = [
    [xml('conference', { xmlns: 'http://jitsi.org/protocol/focus' }), `focus.${domain}`],
    [xml('jingle', { xmlns: J, action: 'session-accept' }), `${muc}/focus`],
    [xml('query', { xmlns: 'urn:example:nothing' }), domain],
  ];
  for (const [payload, to] of bad) {
    try {
      await xmpp.iqCaller.set(payload, to, 5000);
      out.malformed.push('result');
    } catch (e) {
      out.malformed.push(e.condition ?? String(e));
    }
  }
  // Still served afterwards.
  await xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), domain);
  out.ping_after = true;
  await xmpp.stop();
} catch (e) {
  out.errors.push(String(e.condition ?? e.message ?? e));
}
console.log(JSON.stringify(out));
process.exit(0);
