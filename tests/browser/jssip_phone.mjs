// A browser softphone (tests/jssip_over_websocket_joins_a_room.rs): JsSIP
// (npm, bundled here with esbuild) in one Chromium whose fake microphone
// plays a WAV tone registers as USER over SIP over WebSocket (RFC 7118,
// /sip-ws on the web port), calls ROOM with WebRTC media (ICE, DTLS-SRTP),
// and measures what it hears with the meeting page's WebAudio Goertzel
// (web/meet/audio.js): the level of PEER_HZ, of its own tone and of an
// unused one. Then it puts the call on hold and resumes it. The script only observes and prints one JSON object on
// stdout; the Rust test asserts on it.
//
// With ROOM "-answer" it waits to be rung instead (a `user` route to USER)
// and answers.
//
// usage: node jssip_phone.mjs BASE_URL USER PASSWORD ROOM|-answer WAV PEER_HZ OWN_HZ LISTEN_S
// exit: 0 when the run finished (whatever it observed), 2 when it crashed.
import { fileURLToPath } from 'node:url';
import esbuild from 'esbuild';
import { launchWithTone } from './fake_media.mjs';

const [base, user, password, room, wav, peerHz, ownHz, listenS] = process.argv.slice(2);
setTimeout(() => { console.error('jssip_phone.mjs: timed out'); process.exit(2); }, 90000).unref();
const out = { errors: [] };

const bundle = await esbuild.build({
  entryPoints: [fileURLToPath(new URL('./node_modules/jssip/lib/JsSIP.js', import.meta.url))],
  bundle: true,
  format: 'iife',
  globalName: 'JsSIP',
  platform: 'browser',
  write: false,
  logLevel: 'silent',
});

const browser = await launchWithTone(wav);
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => out.errors.push(`page error: ${e}`));
  // An http://127.0.0.1 page is a secure context: getUserMedia works there.
  await page.goto(`${base}/`);
  await page.addScriptTag({ content: bundle.outputFiles[0].text });
  Object.assign(out, await page.evaluate(async ([base, user, password, room, peerHz, ownHz, listenS]) => {
    const r = {};
    const host = new URL(base).hostname;
    const ws = base.replace(/^http/, 'ws') + '/sip-ws';
    const { RemoteAudio } = await import(`${base}/meet/static/audio.js`);
    const remote = new RemoteAudio();
    const socket = new JsSIP.WebSocketInterface(ws);
    const ua = new JsSIP.UA({ sockets: [socket], uri: `sip:${user}@${host}`, password, register: true, session_timers: false });
    r.registered = await new Promise((resolve) => {
      ua.on('registered', () => resolve(true));
      ua.on('registrationFailed', (e) => { r.registration_error = e.cause; resolve(false); });
      ua.start();
      setTimeout(() => resolve(false), 10000);
    });
    if (!r.registered) return r;
    // No echo cancellation or noise suppression: they take a test tone for noise.
    const media = { mediaConstraints: { audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false }, video: false }, pcConfig: { iceServers: [] } };
    // ROOM "-answer": wait to be rung (the server offers WebRTC) and answer.
    const session = room === '-answer'
      ? await new Promise((resolve) => {
        ua.on('newRTCSession', (e) => { if (e.originator === 'remote') resolve(e.session); });
        setTimeout(() => resolve(null), 20000);
      })
      : ua.call(`sip:${room}@${host}`, media);
    if (!session) { r.call = 'never rung'; return r; }
    // Chrome renders remote WebRTC audio (and feeds WebAudio) only while an
    // element plays it, as the meeting page does.
    const attach = (track) => {
      if (remote.meters.has('call')) return;
      r.track_events = (r.track_events ?? 0) + 1;
      const a = document.createElement('audio');
      a.autoplay = true;
      a.srcObject = new MediaStream([track]);
      document.body.append(a);
      a.play().catch((e) => { r.play_error = String(e); });
      remote.add('call', 'call', track);
    };
    session.on('peerconnection', (e) => {
      e.peerconnection.addEventListener('track', (t) => attach(t.track));
    });
    if (room === '-answer') session.answer(media);
    r.call = await new Promise((resolve) => {
      session.on('confirmed', () => resolve('confirmed'));
      session.on('failed', (e) => resolve(`failed: ${e.cause}`));
      setTimeout(() => resolve('no answer'), 15000);
    });
    if (r.call !== 'confirmed') return r;
    r.answer_sdp = session.connection.remoteDescription?.sdp ?? '';
    // The remote track, whether or not the track event came first.
    for (const rx of session.connection.getReceivers()) {
      if (rx.track?.kind === 'audio') attach(rx.track);
    }
    const sleep = (ms) => new Promise((s) => setTimeout(s, ms));
    // Wait for the peer's tone, then listen.
    for (let i = 0; i < 40 && remote.toneLevel(peerHz) < 0.1; i++) await sleep(250);
    await sleep(listenS * 1000);
    r.levels = { peer: remote.toneLevel(peerHz), own: remote.toneLevel(ownHz), other: remote.toneLevel(660) };
    r.ice = session.connection.iceConnectionState;
    const stats = await session.connection.getStats();
    stats.forEach((st) => {
      if (st.type === 'inbound-rtp' && st.kind === 'audio') r.inbound = { packets: st.packetsReceived, bytes: st.bytesReceived, level: st.audioLevel, emitted: st.jitterBufferEmittedCount, discarded: st.packetsDiscarded };
      if (st.type === 'outbound-rtp' && st.kind === 'audio') r.outbound = { packets: st.packetsSent };
    });
    // Hold and resume (re-INVITEs with sendonly, then sendrecv). JsSIP
    // emits "hold"/"unhold" before it sends them; its `done` callback runs
    // once the server's 2xx is applied. On hold the server sends nothing
    // (silence after the analyser's 0.68 s window); after the resume the
    // peer's tone comes back.
    const reinvite = (what) => new Promise((resolve) => {
      setTimeout(() => resolve('no answer'), 5000);
      const done = () => resolve('ok');
      const sent = what === 'hold' ? session.hold({}, done) : session.unhold({}, done);
      if (!sent) resolve('not sent');
    });
    r.hold = await reinvite('hold');
    await sleep(1500);
    r.held_rms = remote.levels().get('call') ?? null;
    r.resume = await reinvite('unhold');
    await sleep(1500);
    r.after_resume = remote.toneLevel(peerHz);
    session.terminate();
    await sleep(500);
    ua.stop();
    await sleep(300);
    return r;
  }, [base, user, password, room, Number(peerHz), Number(ownHz), Number(listenS)]));
} catch (e) {
  out.errors.push(String(e));
}
await browser.close();
console.log(JSON.stringify(out));
