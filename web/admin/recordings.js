// Recordings: every job with its state, who started it, length and size;
// a finished one plays in the page (the room mix, Ogg Opus), downloads
// (each of its files) and, for admins, is deleted with its files.
// Refreshed every five seconds.
import { api, h, errorText, main, canChange, when } from './api.js';

const app = main();
const note = h('p', { id: 'status', role: 'status' });
const rows = h('tbody', { id: 'recordings' });
const player = h('audio', { id: 'player', controls: true, preload: 'none', hidden: true });
const playing = h('p', { id: 'playing', class: 'muted' });
app.append(note, player, playing, h('table', {},
  h('thead', {}, h('tr', {}, ['Room', 'State', 'Started by', 'When', 'Length', 'Size', 'Files', ''].map((t) => h('th', {}, t)))), rows));

const size = (b) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${Math.ceil(b / 1024)} KiB`);
const length = (ms) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};
const base = (id) => `/api/v1/recordings/${encodeURIComponent(id)}`;

function play(r) {
  player.src = `${base(r.id)}/file`;
  player.hidden = false;
  playing.textContent = `Playing the room mix of ${r.room} (${when(Math.floor(r.created_at / 1000))}).`;
  player.play().catch(() => {});
}

async function remove(r) {
  if (!confirm(`Delete the recording of ${r.room} and its files?`)) return;
  const res = await api('DELETE', `/recordings/${encodeURIComponent(r.id)}`);
  note.textContent = res.ok ? `Deleted the recording of ${r.room}.` : errorText(res);
  refresh();
}

async function refresh() {
  const r = await api('GET', '/recordings');
  if (!r.ok) { note.textContent = errorText(r); return; }
  const list = r.data.recordings;
  if (!note.textContent.startsWith('Deleted')) {
    note.textContent = `${list.length} recording${list.length === 1 ? '' : 's'}.`;
  }
  rows.replaceChildren(...list.map((x) => {
    const done = x.state === 'done';
    const busy = x.state === 'pending' || x.state === 'recording' || x.state === 'finalizing';
    return h('tr', { 'data-id': x.id, 'data-state': x.state },
      h('td', {}, x.room),
      h('td', {}, x.state, x.reason ? h('span', { class: 'muted' }, ` (${x.reason})`) : ''),
      h('td', {}, x.started_by),
      h('td', {}, when(Math.floor(x.created_at / 1000))),
      h('td', {}, length(x.duration_ms)),
      h('td', {}, size(x.size_bytes)),
      h('td', {}, x.files.flatMap((f) => [h('a', { href: `${base(x.id)}/files/${encodeURIComponent(f)}`, download: f }, f), ' '])),
      h('td', {},
        done && x.files.length ? h('button', { class: 'play', onclick: () => play(x) }, 'Play') : '', ' ',
        canChange && !busy ? h('button', { class: 'admin-only delete', onclick: () => remove(x) }, 'Delete') : ''));
  }));
}

refresh();
setInterval(refresh, 5000);
