// Live rooms: who is in each room (phone or browser, muted, moderator),
// whether it is recorded, with mute, kick, lock and record for admins.
// Refreshed every two seconds.
import { api, h, errorText, canChange, main } from './api.js';

const app = main();
const list = h('div', { id: 'rooms' });
const note = h('p', { id: 'status', role: 'status' });
app.append(note, list);

async function act(method, path, body) {
  const r = await api(method, path, body);
  note.textContent = r.ok ? 'Done.' : errorText(r);
  refresh();
}

async function refresh() {
  const r = await api('GET', '/rooms');
  if (!r.ok) { note.textContent = errorText(r); return; }
  const rooms = r.data.rooms;
  if (!rooms.length) { list.replaceChildren(h('p', { class: 'muted' }, 'No live rooms.')); return; }
  list.replaceChildren(...rooms.map((room) => h('section', { 'data-room': room.name },
    h('h2', {}, `${room.name} — ${room.participants.length} participant${room.participants.length === 1 ? '' : 's'}`,
      room.locked ? ' (locked)' : '', ' ',
      room.recording ? h('span', { class: 'badge recording' }, '● recording') : '', ' ',
      canChange ? h('button', { class: 'admin-only', onclick: () => act('POST', `/rooms/${encodeURIComponent(room.name)}/lock`, { locked: !room.locked }) }, room.locked ? 'Unlock' : 'Lock') : '', ' ',
      canChange ? h('button', { class: 'admin-only record', onclick: () => act('POST', `/rooms/${encodeURIComponent(room.name)}/recording`, { recording: !room.recording }) }, room.recording ? 'Stop recording' : 'Record') : ''),
    h('table', {},
      h('thead', {}, h('tr', {}, ['Who', 'Joined by', 'Muted / talking', 'Moderator', 'Audio from them', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, room.participants.map((p) => h('tr', { 'data-id': p.id },
        h('td', {}, p.display || `#${p.id}`),
        h('td', {}, p.kind === 'phone' ? '☎ phone' : '🖥 browser'),
        h('td', {}, p.muted ? 'muted' : '', p.talking ? h('span', { class: 'badge talking', title: 'heard in the mix now' }, 'talking') : ''),
        h('td', {}, p.moderator ? 'yes' : ''),
        h('td', { class: 'rtp' }, rtpText(p.rtp)),
        // A browser is asked to mute itself (it unmutes itself too).
        h('td', { class: 'admin-only' },
          p.kind === 'phone' || !p.muted
            ? h('button', { onclick: () => act('POST', `/rooms/${encodeURIComponent(room.name)}/participants/${p.id}/mute`, { muted: p.kind === 'phone' ? !p.muted : true }) }, p.muted ? 'Unmute' : 'Mute')
            : '', ' ',
          h('button', { onclick: () => act('POST', `/rooms/${encodeURIComponent(room.name)}/participants/${p.id}/kick`) }, 'Kick')))))))));
}

// A phone leg's receive quality: loss (lost + late over all expected),
// jitter and the frames the server had to make up.
function rtpText(r) {
  if (!r) return '';
  const expected = r.received + r.lost;
  const loss = expected ? (100 * (r.lost + r.late)) / expected : 0;
  return `loss ${loss.toFixed(1)} % · jitter ${(r.jitter_us / 1000).toFixed(1)} ms · buffer ${r.buffer_ms} ms · concealed ${r.concealed}`;
}

refresh();
setInterval(refresh, 2000);
