// The dashboard: calls, participants, rooms and registrations now.
import { api, h, main } from './api.js';

const app = main();
const cards = h('div', { class: 'cards', id: 'cards' });
app.append(cards, h('p', {}, h('a', { href: '/metrics' }, 'Prometheus metrics'), ' · ', h('a', { href: '/health' }, 'health')));

const card = (label, value) => h('div', { class: 'card' }, h('b', {}, String(value)), label);

async function refresh() {
  const [health, rooms, metrics] = await Promise.all([
    fetch('/health').then((r) => r.json()).catch(() => ({})),
    api('GET', '/rooms'),
    fetch('/metrics').then((r) => r.text()).catch(() => ''),
  ]);
  const metric = (name) => Number((metrics.match(new RegExp(`^${name} (\\S+)$`, 'm')) ?? [])[1] ?? 0);
  const rs = rooms.ok ? rooms.data.rooms : [];
  cards.replaceChildren(
    card('calls', metric('dialroom_calls')),
    card('participants', rs.reduce((n, r) => n + r.participants.length, 0)),
    card('rooms', rs.length),
    card('registrations', health.registrations ?? '?'),
    card('SIP / database', `${health.sip ? 'up' : 'down'} / ${health.database ? 'up' : 'down'}`));
}

refresh();
setInterval(refresh, 5000);
