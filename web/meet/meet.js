// The meeting page: a name prompt, the XMPP join (WebSocket, SASL
// ANONYMOUS, bind, the focus's conference IQ, the MUC), the focus's Jingle
// session as an RTCPeerConnection (jingle.js), tiles with talking rings,
// mute and camera toggles, chat, a participant list that marks phone
// callers, and leave. `window.meet` exposes the state to tests.

import { Xmpp, NS, esc, child, children, resourceOf, bareOf } from './xmpp.js';
import { Session, JNS, parseSources, sessionAccept, transportInfo } from './jingle.js';
import { RemoteAudio } from './audio.js';

const body = document.body;
const ROOM = body.dataset.room;
const DOMAIN = body.dataset.domain;
const MUC = body.dataset.muc;
const FOCUS = body.dataset.focus;
const ROOM_JID = `${ROOM}@${MUC}`;
const params = new URLSearchParams(location.search);
const WS_URL = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/xmpp-websocket`;

// ---- state ---------------------------------------------------------------

const st = {
  state: 'prompt',
  error: null,
  name: '',
  id: null,
  conn: null,
  pc: null,
  session: null,
  local: { stream: null, audio: null, video: null },
  audioMuted: false,
  videoMuted: false,
  occupants: new Map(), // id -> {id, name, phone, muted, videoMuted}
  role: 'participant', // ours in the MUC: moderators may mute others
  recording: false, // from the focus's jibri-recording-status
  dialed: new Map(), // occupant id -> number, for calls we placed
  tracks: new Map(), // mid -> {owner, media, track, el?}
  talking: new Map(), // owner -> last time above the threshold
  sourceEvents: [],
  chat: [],
  leaving: false,
  joinedOnce: false,
  backoff: 1000,
  reconnectTimer: null,
  negotiation: Promise.resolve(),
  generation: 0, // bumped on every (re)join so stale callbacks do nothing
};
const remoteAudio = new RemoteAudio();

// ---- DOM -----------------------------------------------------------------

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) el.append(k);
  return el;
}

const ui = {};
function buildUi() {
  const app = document.getElementById('app');
  ui.status = h('span', { id: 'status', class: 'status' }, 'Not connected');
  ui.mic = h('button', { id: 'mic', type: 'button', disabled: true, onclick: toggleMic, title: 'Mute or unmute your microphone' }, 'Mute');
  ui.cam = h('button', { id: 'camera', type: 'button', disabled: true, onclick: toggleCamera, title: 'Turn your camera off or on' }, 'Camera off');
  ui.leave = h('button', { id: 'leave', type: 'button', class: 'danger', disabled: true, onclick: () => leave('You left the meeting.') }, 'Leave');
  ui.rec = h('button', { id: 'record', type: 'button', hidden: true, onclick: () => record(!st.recording), title: 'Start or stop recording the meeting (moderators)' }, 'Record');
  ui.dialNumber = h('input', { id: 'dial-number', type: 'tel', maxlength: '32', placeholder: 'Phone number', autocomplete: 'off', 'aria-label': 'Phone number to call into the meeting' });
  ui.dialForm = h('form', { id: 'dial', class: 'dial', hidden: true, onsubmit: (e) => { e.preventDefault(); dial(ui.dialNumber.value.trim()); } },
    ui.dialNumber, h('button', { type: 'submit', title: 'Call this number into the meeting (moderators)' }, 'Call'));
  ui.dialed = h('ul', { id: 'dialed', class: 'people' });
  ui.recBadge = h('span', { id: 'recording', class: 'badge recording', hidden: true, title: 'This meeting is being recorded' }, '● Recording');
  ui.banner = h('div', { id: 'banner', role: 'status', 'aria-live': 'polite', hidden: true });
  ui.nameInput = h('input', { id: 'name', name: 'name', required: true, maxlength: '64', autocomplete: 'name', placeholder: 'Your name' });
  ui.micSelect = h('select', { id: 'mic-select', 'aria-label': 'Microphone', onchange: () => switchDevice('audio') }, h('option', { value: '' }, 'Default microphone'));
  ui.camSelect = h('select', { id: 'camera-select', 'aria-label': 'Camera', onchange: () => switchDevice('video') }, h('option', { value: '' }, 'Default camera'));
  ui.prompt = h('form', { id: 'prompt', class: 'prompt', onsubmit: (e) => { e.preventDefault(); join(ui.nameInput.value.trim()); } },
    h('h1', {}, `Join “${ROOM}”`),
    h('label', { for: 'name' }, 'Your name'), ui.nameInput,
    h('p', { class: 'hint' }, 'Devices can be changed in the side panel at any time.'),
    h('button', { type: 'submit', id: 'join', class: 'primary' }, 'Join meeting'));
  ui.tiles = h('div', { id: 'tiles', class: 'tiles' });
  ui.stage = h('section', { id: 'stage', class: 'stage', hidden: true }, ui.tiles);
  ui.people = h('ul', { id: 'people', class: 'people' });
  ui.chatLog = h('ol', { id: 'chat-log', class: 'chat-log' });
  ui.chatInput = h('input', { id: 'chat-input', maxlength: '2000', placeholder: 'Message everyone', autocomplete: 'off', disabled: true });
  ui.chatForm = h('form', { id: 'chat-form', class: 'chat-form', onsubmit: (e) => { e.preventDefault(); sendChat(); } },
    ui.chatInput, h('button', { type: 'submit' }, 'Send'));
  ui.audios = h('div', { id: 'remote-audio', hidden: true });
  app.append(
    h('header', {}, h('strong', {}, 'dialroom'), h('span', { class: 'room' }, ROOM), ui.status, ui.recBadge,
      h('div', { class: 'controls' }, ui.mic, ui.cam, ui.rec, ui.leave)),
    ui.banner,
    h('div', { class: 'layout' },
      h('div', { class: 'main' }, ui.prompt, ui.stage),
      h('aside', {},
        h('h2', {}, 'People'), ui.people, ui.dialForm, ui.dialed,
        h('h2', {}, 'Chat'), ui.chatLog, ui.chatForm,
        h('h2', {}, 'Devices'),
        h('label', {}, 'Microphone', ui.micSelect),
        h('label', {}, 'Camera', ui.camSelect))),
    ui.audios);
  document.addEventListener('click', () => remoteAudio.resume());
}

function setState(state, error = null) {
  st.state = state;
  st.error = error;
  body.dataset.state = state;
  ui.status.textContent = { prompt: 'Not connected', connecting: 'Connecting…', joined: 'In the meeting', error: 'Error' }[state] ?? state;
  const inCall = state === 'joined' || state === 'connecting';
  ui.prompt.hidden = inCall;
  ui.stage.hidden = !inCall;
  ui.mic.disabled = state !== 'joined' || !st.local.audio;
  ui.cam.disabled = state !== 'joined' || !st.local.video;
  ui.leave.disabled = !inCall;
  ui.chatInput.disabled = state !== 'joined';
  if (error) showMessage(error, 'error');
}

function showMessage(text, kind = 'info') {
  ui.banner.hidden = !text;
  ui.banner.className = `banner ${kind}`;
  ui.banner.replaceChildren(text ? h('span', {}, text) : '', text ? h('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', onclick: () => { ui.banner.hidden = true; } }, '×') : '');
}

// ---- local media ---------------------------------------------------------

function audioConstraints() {
  const id = ui.micSelect.value;
  // `?audioProcessing=off` sends the microphone as it is (music, test tones):
  // noise suppression would treat a steady tone as noise.
  const raw = params.get('audioProcessing') === 'off';
  return { ...(id ? { deviceId: { exact: id } } : {}), echoCancellation: !raw, noiseSuppression: !raw, autoGainControl: !raw };
}

function videoConstraints() {
  const id = ui.camSelect.value;
  return { ...(id ? { deviceId: { exact: id } } : {}), width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24, max: 30 } };
}

/** Microphone and camera, falling back to audio only, then to receiving only; says so in the page. */
async function getLocalMedia() {
  if (st.local.stream) return;
  const stream = new MediaStream();
  let note = null;
  if (!navigator.mediaDevices?.getUserMedia) {
    note = 'This browser gives the page no microphone or camera (a secure origin is needed): you can only watch and listen.';
  } else {
    try {
      const s = await navigator.mediaDevices.getUserMedia({ audio: audioConstraints(), video: videoConstraints() });
      s.getTracks().forEach((t) => stream.addTrack(t));
    } catch (e) {
      try {
        const s = await navigator.mediaDevices.getUserMedia({ audio: audioConstraints() });
        s.getTracks().forEach((t) => stream.addTrack(t));
        note = `No camera (${e.name}): you joined with audio only.`;
      } catch (e2) {
        note = `No microphone or camera (${e2.name}): you can only watch and listen.`;
      }
    }
  }
  st.local = { stream, audio: stream.getAudioTracks()[0] ?? null, video: stream.getVideoTracks()[0] ?? null };
  if (st.local.audio) st.local.audio.enabled = !st.audioMuted;
  if (st.local.video) st.local.video.enabled = !st.videoMuted;
  if (note) showMessage(note, 'warning');
  await listDevices();
}

async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  const fill = (select, kind, current, label) => {
    const chosen = select.value || current;
    select.replaceChildren(h('option', { value: '' }, label),
      ...devices.filter((d) => d.kind === kind && d.deviceId).map((d, i) =>
        h('option', { value: d.deviceId, selected: d.deviceId === chosen }, d.label || `${kind === 'audioinput' ? 'Microphone' : 'Camera'} ${i + 1}`)));
  };
  fill(ui.micSelect, 'audioinput', st.local.audio?.getSettings().deviceId, 'Default microphone');
  fill(ui.camSelect, 'videoinput', st.local.video?.getSettings().deviceId, 'Default camera');
}

/** A device was picked: a new track from it replaces the one we send. */
async function switchDevice(kind) {
  const old = kind === 'audio' ? st.local.audio : st.local.video;
  if (!old) return;
  try {
    const s = await navigator.mediaDevices.getUserMedia(kind === 'audio' ? { audio: audioConstraints() } : { video: videoConstraints() });
    const track = kind === 'audio' ? s.getAudioTracks()[0] : s.getVideoTracks()[0];
    track.enabled = old.enabled;
    const tr = st.pc?.getTransceivers().find((t) => t.mid === (kind === 'audio' ? '0' : '1'));
    if (tr) await tr.sender.replaceTrack(track);
    st.local.stream.removeTrack(old);
    st.local.stream.addTrack(track);
    old.stop();
    st.local[kind] = track;
    render();
  } catch (e) {
    showMessage(`Cannot switch the ${kind === 'audio' ? 'microphone' : 'camera'}: ${e.message}`, 'error');
  }
}

function toggleMic() {
  st.audioMuted = !st.audioMuted;
  if (st.local.audio) st.local.audio.enabled = !st.audioMuted;
  ui.mic.textContent = st.audioMuted ? 'Unmute' : 'Mute';
  ui.mic.setAttribute('aria-pressed', String(st.audioMuted));
  sendPresence();
  render();
}

function toggleCamera() {
  st.videoMuted = !st.videoMuted;
  if (st.local.video) st.local.video.enabled = !st.videoMuted;
  ui.cam.textContent = st.videoMuted ? 'Camera on' : 'Camera off';
  ui.cam.setAttribute('aria-pressed', String(st.videoMuted));
  sendPresence();
  render();
}

// ---- XMPP ----------------------------------------------------------------

function presenceXml(extra = '') {
  return `<presence xmlns="${NS.client}" to="${esc(ROOM_JID)}/${esc(st.id)}">${extra}`
    + `<nick xmlns="${NS.nick}">${esc(st.name)}</nick>`
    + `<audiomuted>${st.audioMuted || !st.local.audio}</audiomuted>`
    + `<videomuted>${st.videoMuted || !st.local.video}</videomuted></presence>`;
}

function sendPresence() {
  if (st.state === 'joined') st.conn?.send(presenceXml());
}

async function join(name) {
  if (!name) {
    ui.nameInput.focus();
    return;
  }
  st.name = name;
  st.leaving = false;
  clearTimeout(st.reconnectTimer);
  const gen = ++st.generation;
  setState('connecting');
  showMessage('');
  remoteAudio.resume();
  try {
    await getLocalMedia();
    if (gen !== st.generation) return;
    const conn = await Xmpp.connect(WS_URL, DOMAIN);
    if (gen !== st.generation) { conn.close(); return; }
    st.conn = conn;
    const node = conn.jid.split('@')[0].toLowerCase();
    st.id = /^[0-9a-f]{8}/.test(node) ? node.slice(0, 8) : [...crypto.getRandomValues(new Uint8Array(4))].map((b) => b.toString(16).padStart(2, '0')).join('');
    conn.onStanza = (el) => onStanza(el, gen);
    conn.onClose = (reason) => onConnectionLost(reason, gen);
    await conn.iq('set', FOCUS, `<conference xmlns="${NS.focus}" room="${esc(ROOM_JID)}" machine-uid="${esc(machineUid())}"/>`, 10000, 'the conference focus');
    if (gen !== st.generation) return;
    st.joining = true;
    conn.send(presenceXml(`<x xmlns="${NS.muc}"/>`));
  } catch (e) {
    if (gen !== st.generation) return;
    failJoin(e.message || String(e));
  }
}

function failJoin(message) {
  const wasJoined = st.joinedOnce;
  teardown();
  if (wasJoined && !st.leaving) {
    scheduleReconnect(`Could not rejoin: ${message}.`);
  } else {
    setState('error', `Could not join the meeting: ${message}`);
    ui.prompt.hidden = false;
  }
}

function machineUid() {
  let v = localStorage.getItem('dialroom-machine-uid');
  if (!v) {
    v = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
    try { localStorage.setItem('dialroom-machine-uid', v); } catch { /* private mode */ }
  }
  return v;
}

function onConnectionLost(reason, gen) {
  if (gen !== st.generation || st.leaving) return;
  teardown();
  scheduleReconnect(`${reason.charAt(0).toUpperCase()}${reason.slice(1)}.`);
}

/** Tries to join again after a delay that doubles up to 30 s (reset by a successful join). */
function scheduleReconnect(why) {
  const gen = st.generation;
  const delay = st.backoff;
  st.backoff = Math.min(st.backoff * 2, 30000);
  setState('connecting');
  showMessage(`${why} Reconnecting in ${Math.round(delay / 1000)} s…`, 'error');
  st.reconnectTimer = setTimeout(() => {
    if (gen === st.generation && !st.leaving) join(st.name);
  }, delay);
}

/** Drops the connection, the media session and everyone we knew; keeps our own devices. */
function teardown() {
  st.generation += 1;
  try { st.pc?.close(); } catch { /* closed */ }
  st.pc = null;
  st.session = null;
  st.negotiation = Promise.resolve();
  try { st.conn?.close(); } catch { /* closed */ }
  st.conn = null;
  st.joining = false;
  for (const t of st.tracks.values()) t.el?.remove();
  st.tracks.clear();
  remoteAudio.clear();
  st.occupants.clear();
  st.talking.clear();
  st.role = 'participant';
  st.recording = false;
  render();
}

function leave(message) {
  st.leaving = true;
  clearTimeout(st.reconnectTimer);
  const { conn, session } = st;
  if (conn && session) {
    conn.send(`<iq xmlns="${NS.client}" type="set" to="${esc(ROOM_JID)}/focus" id="leave${Date.now()}">`
      + `<jingle xmlns="${JNS.jingle}" action="session-terminate" sid="${esc(session.sid)}"><reason><success/></reason></jingle></iq>`);
  }
  if (conn) conn.send(`<presence xmlns="${NS.client}" type="unavailable" to="${esc(ROOM_JID)}/${esc(st.id)}"/>`);
  teardown();
  st.local.stream?.getTracks().forEach((t) => t.stop());
  st.local = { stream: null, audio: null, video: null };
  st.joinedOnce = false;
  st.backoff = 1000;
  ui.nameInput.value = st.name;
  setState('prompt');
  showMessage(message, 'info');
}

function onStanza(el, gen) {
  if (gen !== st.generation) return;
  const from = el.getAttribute('from') ?? '';
  switch (el.localName) {
    case 'presence':
      if (bareOf(from) === ROOM_JID) onPresence(el, resourceOf(from));
      break;
    case 'message':
      onMessage(el, from);
      break;
    case 'iq':
      onIq(el, from, gen);
      break;
    default:
  }
}

function onPresence(el, nick) {
  const type = el.getAttribute('type');
  const x = child(el, 'x', NS.mucUser);
  const codes = children(x, 'status').map((s) => s.getAttribute('code'));
  const self = codes.includes('110') || nick === st.id;
  if (type === 'error') {
    if (st.joining) {
      const cond = child(el, 'error')?.firstElementChild?.localName ?? 'error';
      failJoin(`the room refused us (${cond})`);
    }
    return;
  }
  if (type === 'unavailable') {
    if (self) {
      if (!st.leaving) {
        const kicked = codes.includes('307');
        st.leaving = kicked;
        teardown();
        if (kicked) {
          setState('prompt');
          showMessage('You were removed from the meeting by a moderator.', 'error');
        } else {
          scheduleReconnect('The room closed our place in it.');
        }
      }
      return;
    }
    st.occupants.delete(nick);
    st.talking.delete(nick);
    render();
    return;
  }
  if (self) {
    const role = child(x, 'item')?.getAttribute('role') ?? 'participant';
    if (role !== st.role) {
      st.role = role;
      render();
    }
    if (st.joining) {
      st.joining = false;
      st.joinedOnce = true;
      st.backoff = 1000;
      setState('joined');
      if (ui.banner.classList.contains('error')) showMessage('');
      const gen = st.generation;
      setTimeout(() => {
        if (gen === st.generation && st.state === 'joined' && !st.session) {
          showMessage('The server offered no media session yet: you can chat, but not see or hear anyone (is its SFU enabled?).', 'warning');
        }
      }, 10000);
    }
    return;
  }
  if (nick === 'focus') {
    // The recording indicator (jitsi.md §7): only the focus's presence says it.
    const status = child(el, 'jibri-recording-status', NS.jibri)?.getAttribute('status');
    if (status) {
      st.recording = status === 'on';
      render();
    }
    return;
  }
  if (!nick) return;
  const features = children(child(el, 'features'), 'feature').map((f) => f.getAttribute('var'));
  const text = (name) => child(el, name)?.textContent.trim();
  st.occupants.set(nick, {
    id: nick,
    name: text('nick') || nick,
    phone: features.includes(NS.jigasi),
    muted: text('audiomuted') === 'true',
    videoMuted: text('videomuted') === 'true',
  });
  render();
}

function onMessage(el, from) {
  if (el.getAttribute('type') === 'error') {
    showMessage('A chat message could not be delivered.', 'error');
    return;
  }
  if (el.getAttribute('type') !== 'groupchat' || bareOf(from) !== ROOM_JID) return;
  const text = child(el, 'body')?.textContent;
  if (!text) return;
  const nick = resourceOf(from);
  const who = nick === st.id ? 'You' : st.occupants.get(nick)?.name ?? child(el, 'nick', NS.nick)?.textContent ?? nick;
  st.chat.push({ from: nick, name: who, text });
  const time = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  ui.chatLog.append(h('li', { class: nick === st.id ? 'mine' : '' }, h('span', { class: 'who' }, who), h('time', {}, time), h('p', {}, text)));
  ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
}

/** As a moderator: asks the focus to mute participant `id` (a phone caller is muted by the server, a browser mutes itself). */
/** As a moderator, starts or stops the room's recording (Jitsi's jibri IQ). */
async function record(on) {
  try {
    await st.conn.iq('set', `${ROOM_JID}/focus`, `<jibri xmlns="${NS.jibri}" action="${on ? 'start' : 'stop'}" recording_mode="file"/>`, 10000, 'recording');
    return 'result';
  } catch (e) {
    showMessage(`Could not ${on ? 'start' : 'stop'} the recording (${e.condition ?? e.message}).`, 'error');
    return e.condition ?? 'error';
  }
}

/**
 * As a moderator, calls a phone number into the room (Rayo `<dial>` to the
 * focus, as Jitsi clients do); the callee shows up as a phone participant
 * when it answers. Resolves with the call's occupant id or the error.
 */
async function dial(number) {
  if (!number) return 'bad-request';
  try {
    const res = await st.conn.iq('set', `${ROOM_JID}/focus`,
      `<dial xmlns="${NS.rayo}" to="${esc(number)}" from="${esc(st.name)}"><header name="JvbRoomName" value="${esc(ROOM_JID)}"/></dial>`, 15000, 'call');
    const uri = child(res, 'ref', NS.rayo)?.getAttribute('uri') ?? '';
    const id = resourceOf(uri.replace(/^xmpp:/, ''));
    st.dialed.set(id, number);
    ui.dialNumber.value = '';
    render();
    return id;
  } catch (e) {
    showMessage(`Could not call ${number}: ${e.message.replace(/^call: /, '')}.`, 'error');
    return e.condition ?? 'error';
  }
}

/** As a moderator, hangs up a call placed with `dial` (Rayo `<hangup>` to its `<ref>`). */
async function hangUp(id) {
  try {
    await st.conn.iq('set', `${ROOM_JID}/${id}`, `<hangup xmlns="${NS.rayo}"/>`, 10000, 'hang-up');
    st.dialed.delete(id);
    render();
    return 'result';
  } catch (e) {
    showMessage(`Could not hang up (${e.condition ?? e.message}).`, 'error');
    return e.condition ?? 'error';
  }
}

async function muteOther(id) {
  const name = st.occupants.get(id)?.name ?? id;
  try {
    await st.conn.iq('set', `${ROOM_JID}/focus`, `<mute xmlns="${NS.audioMute}" jid="${esc(ROOM_JID)}/${esc(id)}">true</mute>`, 10000, 'mute');
    return 'result';
  } catch (e) {
    showMessage(`Could not mute ${name} (${e.condition ?? e.message}).`, 'error');
    return e.condition ?? 'error';
  }
}

function sendChat() {
  const text = ui.chatInput.value.trim();
  if (!text || st.state !== 'joined') return;
  st.conn.send(`<message xmlns="${NS.client}" type="groupchat" to="${esc(ROOM_JID)}"><body>${esc(text)}</body>`
    + `<nick xmlns="${NS.nick}">${esc(st.name)}</nick></message>`);
  ui.chatInput.value = '';
}

// ---- Jingle --------------------------------------------------------------

function onIq(el, from, gen) {
  const type = el.getAttribute('type');
  if (type !== 'set' && type !== 'get') return;
  const mute = child(el, 'mute', NS.audioMute);
  if (mute && type === 'set' && from === `${ROOM_JID}/focus`) {
    // A moderator muted us (the focus relays it, as jicofo does). Unmuting
    // stays with us.
    st.conn.sendIqResult(el);
    if (mute.textContent.trim() === 'true' && !st.audioMuted) {
      toggleMic();
      showMessage('A moderator muted you. Unmute when you want to speak.', 'info');
    }
    return;
  }
  const jingle = child(el, 'jingle', JNS.jingle);
  if (!jingle || type !== 'set') {
    st.conn.sendIqError(el, 'cancel', 'service-unavailable');
    return;
  }
  if (from !== `${ROOM_JID}/focus`) {
    // Only the focus's sessions (no peer-to-peer).
    st.conn.sendIqError(el, 'cancel', 'service-unavailable');
    return;
  }
  const action = jingle.getAttribute('action');
  if (action !== 'session-initiate' && st.session && jingle.getAttribute('sid') !== st.session.sid) {
    st.conn.sendIqError(el, 'cancel', 'item-not-found');
    return;
  }
  st.conn.sendIqResult(el);
  switch (action) {
    case 'session-initiate':
      startSession(jingle, gen);
      break;
    case 'source-add':
    case 'source-remove': {
      const change = parseSources(jingle);
      for (const s of change.sources) st.sourceEvents.push({ action, owner: s.owner, ssrc: s.ssrc });
      if (!st.session) break;
      const n = action === 'source-add' ? st.session.add(change) : st.session.remove(change);
      if (n) negotiate(gen, false);
      break;
    }
    case 'session-terminate': {
      const reason = child(child(jingle, 'reason'), 'text')?.textContent;
      closeSession();
      showMessage(`The server ended the media session${reason ? ` (${reason})` : ''}.`, 'error');
      break;
    }
    default:
      // transport-info (the SFU is ICE-lite with one candidate), session-info: nothing to do.
  }
}

function closeSession() {
  try { st.pc?.close(); } catch { /* closed */ }
  st.pc = null;
  st.session = null;
  for (const t of st.tracks.values()) t.el?.remove();
  st.tracks.clear();
  remoteAudio.clear();
  render();
}

function startSession(jingle, gen) {
  closeSession();
  if (ui.banner.textContent.startsWith('The server offered no media')) showMessage('');
  try {
    st.session = new Session(jingle, st.id);
  } catch (e) {
    showMessage(`The server's media offer is unusable: ${e.message}`, 'error');
    return;
  }
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  st.pc = pc;
  pc.ontrack = (ev) => onTrack(ev);
  pc.onconnectionstatechange = () => {
    if (pc !== st.pc) return;
    body.dataset.media = pc.connectionState;
    if (pc.connectionState === 'failed') showMessage('The media connection failed (no audio or video can pass).', 'error');
  };
  pc.onicecandidate = (ev) => {
    if (!ev.candidate || pc !== st.pc || !st.session?.accepted) return;
    const ld = pc.localDescription?.sdp ?? '';
    const ufrag = /a=ice-ufrag:(\S+)/.exec(ld)?.[1];
    const pwd = /a=ice-pwd:(\S+)/.exec(ld)?.[1];
    const xml = ufrag && pwd && transportInfo(st.session, ev.candidate.candidate, ufrag, pwd);
    if (xml) st.conn?.iq('set', `${ROOM_JID}/focus`, xml, 10000, 'transport-info').catch(() => {});
  };
  negotiate(gen, true);
}

/** Queues one offer/answer round with the current session model. */
function negotiate(gen, first) {
  st.negotiation = st.negotiation.then(async () => {
    const { pc, session } = st;
    if (gen !== st.generation || !pc || !session || pc.signalingState === 'closed') return;
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: session.offer() });
      if (first) {
        for (const [mid, kind] of [['0', 'audio'], ['1', 'video']]) {
          const tr = pc.getTransceivers().find((t) => t.mid === mid);
          const track = st.local[kind];
          if (!tr) continue;
          if (track) {
            await tr.sender.replaceTrack(track);
            tr.sender.setStreams?.(st.local.stream);
            tr.direction = 'sendonly';
          } else {
            tr.direction = 'inactive';
          }
        }
      }
      await pc.setLocalDescription(await pc.createAnswer());
      dropInactiveTracks();
      if (first) {
        await st.conn.iq('set', `${ROOM_JID}/focus`, sessionAccept(pc.localDescription.sdp, session, st.conn.jid), 10000, 'session-accept');
        session.accepted = true;
      }
    } catch (e) {
      if (gen !== st.generation) return;
      console.error('negotiation failed', e);
      showMessage(`Media negotiation failed: ${e.message}`, 'error');
    }
    render();
  });
}

function onTrack(ev) {
  const mid = ev.transceiver?.mid;
  const m = st.session?.byMid(mid);
  if (!m || m.local) return;
  const entry = { owner: m.owner, media: m.media, track: ev.track, mid };
  st.tracks.get(mid)?.el?.remove();
  st.tracks.set(mid, entry);
  if (m.media === 'audio') {
    // Played by an <audio> element (Chrome also needs one for WebAudio to
    // get a remote track's samples) and metered through WebAudio.
    const el = h('audio', { autoplay: true, 'data-owner': m.owner });
    el.srcObject = new MediaStream([ev.track]);
    el.play?.().catch(() => {});
    entry.el = el;
    ui.audios.append(el);
    remoteAudio.add(mid, m.owner, ev.track);
  }
  render();
}

/** Forgets the tracks of m-lines that went inactive (source-remove). */
function dropInactiveTracks() {
  for (const [mid, t] of [...st.tracks]) {
    const m = st.session?.byMid(mid);
    if (!m || !m.active) {
      t.el?.remove();
      remoteAudio.remove(mid);
      st.tracks.delete(mid);
    }
  }
}

// ---- rendering -----------------------------------------------------------

const tiles = new Map(); // id -> {el, video, avatar, label}

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('') || '?';
}

const PHONE_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1A17 17 0 0 1 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 3.6.1.3 0 .7-.2 1z"/></svg>';

function videoTrackOf(owner) {
  for (const t of st.tracks.values()) {
    if (t.owner === owner && t.media === 'video' && t.track.readyState === 'live') return t.track;
  }
  return null;
}

function tileFor(id) {
  let t = tiles.get(id);
  if (!t) {
    const video = h('video', { autoplay: true, playsinline: true, muted: true });
    video.muted = true;
    const avatar = h('div', { class: 'avatar' });
    const label = h('div', { class: 'label' });
    const el = h('figure', { class: 'tile', 'data-id': id }, video, avatar, label);
    t = { el, video, avatar, label, track: null };
    tiles.set(id, t);
    ui.tiles.append(el);
  }
  return t;
}

function updateTile(t, { name, phone, muted, videoMuted, talking, track, self }) {
  if (t.track !== track) {
    t.track = track;
    t.video.srcObject = track ? new MediaStream([track]) : null;
    if (track) t.video.play?.().catch(() => {});
  }
  const showVideo = Boolean(track) && !videoMuted;
  t.video.hidden = !showVideo;
  t.avatar.hidden = showVideo;
  t.el.classList.toggle('talking', Boolean(talking));
  t.el.classList.toggle('phone', Boolean(phone));
  t.el.classList.toggle('self', Boolean(self));
  if (phone) t.avatar.innerHTML = PHONE_ICON;
  else t.avatar.textContent = initials(name);
  t.label.textContent = `${name}${self ? ' (you)' : ''}${phone ? ' · on the phone' : ''}${muted ? ' · muted' : ''}`;
}

function participants() {
  return [...st.occupants.values()].map((o) => ({
    id: o.id,
    name: o.name,
    phone: o.phone,
    muted: o.muted,
    talking: (st.talking.get(o.id) ?? 0) > performance.now() - 600,
  }));
}

function render() {
  const inCall = st.state === 'joined' || st.state === 'connecting';
  ui.recBadge.hidden = !(inCall && st.recording);
  ui.rec.hidden = !(st.state === 'joined' && st.role === 'moderator');
  ui.rec.textContent = st.recording ? 'Stop recording' : 'Record';
  ui.dialForm.hidden = !(st.state === 'joined' && st.role === 'moderator');
  // Calls we placed that have not joined yet (they become participants when answered).
  ui.dialed.replaceChildren(...[...st.dialed].filter(([id]) => !st.occupants.has(id)).map(([id, number]) =>
    h('li', { 'data-id': id, class: 'phone dialing' }, h('span', { class: 'name' }, number), h('span', { class: 'badge' }, 'calling…'),
      h('button', { type: 'button', class: 'hang-up', title: `Hang up ${number}`, onclick: () => hangUp(id) }, 'Hang up'))));
  const want = new Set();
  if (inCall && st.id) {
    want.add(st.id);
    updateTile(tileFor(st.id), { name: st.name, muted: st.audioMuted, videoMuted: st.videoMuted, track: st.local.video, self: true });
  }
  for (const p of participants()) {
    const o = st.occupants.get(p.id);
    want.add(p.id);
    updateTile(tileFor(p.id), { ...p, videoMuted: o.videoMuted, track: videoTrackOf(p.id) });
  }
  for (const [id, t] of [...tiles]) {
    if (!want.has(id)) {
      t.el.remove();
      tiles.delete(id);
    }
  }
  ui.tiles.dataset.count = String(tiles.size);
  const rows = participants().map((p) => h('li', { 'data-id': p.id, class: [p.phone ? 'phone' : '', p.talking ? 'talking' : ''].join(' ').trim() },
    h('span', { class: 'name' }, p.name),
    p.phone ? h('span', { class: 'badge' }, 'on the phone') : null,
    p.muted ? h('span', { class: 'badge muted' }, 'muted') : null,
    st.role === 'moderator' && !p.muted && st.state === 'joined'
      ? h('button', { type: 'button', class: 'mute-other', title: `Mute ${p.name} for everyone`, onclick: () => muteOther(p.id) }, 'Mute') : null,
    st.role === 'moderator' && p.phone && st.state === 'joined'
      ? h('button', { type: 'button', class: 'hang-up', title: `Hang up ${p.name}`, onclick: () => hangUp(p.id) }, 'Hang up') : null));
  if (inCall && st.id) rows.unshift(h('li', { class: 'self' }, h('span', { class: 'name' }, `${st.name} (you)`), st.audioMuted ? h('span', { class: 'badge muted' }, 'muted') : null));
  ui.people.replaceChildren(...rows);
}

// The talking rings: remote audio levels every 100 ms.
setInterval(() => {
  if (st.state !== 'joined') return;
  const now = performance.now();
  let changed = false;
  for (const [owner, level] of remoteAudio.levels()) {
    if (level > 0.01) {
      const was = (st.talking.get(owner) ?? 0) > now - 600;
      st.talking.set(owner, now);
      if (!was) changed = true;
    }
  }
  for (const [id, t] of tiles) {
    const talking = (st.talking.get(id) ?? 0) > now - 600;
    if (t.el.classList.contains('talking') !== talking) changed = true;
  }
  if (changed) render();
}, 100);

// ---- test hooks ------------------------------------------------------------

const canvas = document.createElement('canvas');
canvas.width = 64;
canvas.height = 48;

function frameStats(video) {
  if (!video.videoWidth) return { notBlack: false, mean: 0, variance: 0 };
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.drawImage(video, 0, 0, canvas.width, canvas.height);
  const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  let sq = 0;
  const n = px.length / 4;
  for (let i = 0; i < px.length; i += 4) {
    const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
    sum += y;
    sq += y * y;
  }
  const mean = sum / n;
  const variance = sq / n - mean * mean;
  return { notBlack: mean > 20 || variance > 100, mean, variance };
}

window.meet = {
  get state() { return st.state; },
  get error() { return st.error; },
  get id() { return st.id; },
  get name() { return st.name; },
  /** Everyone in the room but us and the focus. */
  participants,
  /** Goertzel power at `hz` relative to all incoming remote audio (0..1), last ~0.5 s. */
  toneLevel: async (hz) => remoteAudio.toneLevel(Number(hz)),
  /** Per remote video tile: its size and whether its picture is not black. */
  videoStats: async () => [...tiles.entries()].filter(([id]) => id !== st.id && tiles.get(id).track).map(([id, t]) => {
    const { notBlack } = frameStats(t.video);
    return { id, width: t.video.videoWidth, height: t.video.videoHeight, notBlack };
  }),
  /** source-add / source-remove as received: {action, owner, ssrc}. */
  sourceEvents: st.sourceEvents,
  /** Chat messages received: {from, name, text}. */
  chat: st.chat,
  /** Our MUC role (`moderator` may mute others). */
  get role() { return st.role; },
  /** Whether the focus says the room is being recorded. */
  get recording() { return st.recording; },
  /** As a moderator, starts (true) or stops the recording; resolves with 'result' or the error condition. */
  record: (on) => record(Boolean(on)),
  /** As a moderator, mutes participant `id`; resolves with 'result' or the error condition. */
  mute: (id) => muteOther(id),
  /** As a moderator, calls `number` into the room; resolves with the call's participant id or the error condition. */
  dial: (number) => dial(String(number)),
  /** As a moderator, hangs up the call `id` (ringing or answered); resolves with 'result' or the error condition. */
  hangUp: (id) => hangUp(String(id)),
  join: (name) => join(name),
  leave: () => leave('You left the meeting.'),
};

// ---- start -----------------------------------------------------------------

buildUi();
setState('prompt');
render();
window.addEventListener('pagehide', () => {
  if (st.conn) leave('');
});
const preset = (params.get('name') ?? '').trim();
if (preset) {
  ui.nameInput.value = preset;
  join(preset);
} else {
  ui.nameInput.value = localStorage.getItem('dialroom-name') ?? '';
  ui.nameInput.focus();
  ui.nameInput.addEventListener('change', () => {
    try { localStorage.setItem('dialroom-name', ui.nameInput.value.trim()); } catch { /* private mode */ }
  });
}
