// The dashboard: calls, participants, rooms and registrations now, and a
// small chart of the last hour (one sample a minute, kept by the server).
import { api, h, errorText, main } from './api.js';

const app = main();
const cards = h('div', { class: 'cards', id: 'cards' });
const chart = h('div', { id: 'chart' });
const note = h('p', { id: 'status', role: 'status' });
app.append(cards, h('h2', {}, 'Last hour'), chart, note,
  h('p', {}, h('a', { href: '/metrics' }, 'Prometheus metrics'), ' · ', h('a', { href: '/health' }, 'health')));

const card = (label, value) => h('div', { class: 'card' }, h('b', {}, String(value)), label);
const SERIES = [['calls', '#1f3a5f'], ['legs', '#b35c00'], ['registrations', '#17692f']];
const NS = 'http://www.w3.org/2000/svg';
const svg = (tag, attrs, ...kids) => {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...kids);
  return e;
};

function draw(points, nowT) {
  const W = 640, H = 160, P = 24;
  const max = Math.max(1, ...points.flatMap((p) => SERIES.map(([k]) => p[k])));
  const x = (t) => P + ((t - (nowT - 3600)) / 3600) * (W - 2 * P);
  const y = (v) => H - P - (v / max) * (H - 2 * P);
  const lines = SERIES.map(([k, color]) => svg('polyline', {
    fill: 'none', stroke: color, 'stroke-width': 2,
    points: points.map((p) => `${x(p.t).toFixed(1)},${y(p[k]).toFixed(1)}`).join(' '),
  }));
  const legend = SERIES.map(([k, color], i) => svg('text', { x: P + i * 200, y: 14, fill: color, 'font-size': 12 }, k === 'legs' ? 'participants (phone legs)' : k));
  chart.replaceChildren(svg('svg', { class: 'chart', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'calls, participants and registrations over the last hour' },
    svg('line', { x1: P, y1: H - P, x2: W - P, y2: H - P, stroke: '#999' }),
    svg('text', { x: P, y: H - 6, 'font-size': 11, fill: '#777' }, '-60 min'),
    svg('text', { x: W - P - 20, y: H - 6, 'font-size': 11, fill: '#777' }, 'now'),
    svg('text', { x: 2, y: y(max) + 4, 'font-size': 11, fill: '#777' }, String(max)),
    ...lines, ...legend));
}

async function refresh() {
  const [stats, rooms, health] = await Promise.all([
    api('GET', '/stats'),
    api('GET', '/rooms'),
    fetch('/health').then((r) => r.json()).catch(() => ({})),
  ]);
  if (!stats.ok) { note.textContent = errorText(stats); return; }
  const now = stats.data.now;
  const rs = rooms.ok ? rooms.data.rooms : [];
  cards.replaceChildren(
    card('calls', now.calls),
    card('participants', rs.reduce((n, r) => n + r.participants.length, 0)),
    card('rooms', rs.length),
    card('registrations', now.registrations),
    card('SIP / database', `${health.sip ? 'up' : 'down'} / ${health.database ? 'up' : 'down'}`));
  draw([...stats.data.last_hour, now], now.t);
}

refresh();
setInterval(refresh, 10000);
