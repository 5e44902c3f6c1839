// Who is registered, from where, until when. Refreshed every five seconds.
import { api, h, errorText, main } from './api.js';

const app = main();
const note = h('p', { id: 'status', role: 'status' });
const rows = h('tbody', { id: 'registrations' });
app.append(note, h('table', {},
  h('thead', {}, h('tr', {}, ['User', 'Contact', 'From (source)', 'Until', 'User-Agent'].map((t) => h('th', {}, t)))), rows));

async function refresh() {
  const r = await api('GET', '/registrations');
  if (!r.ok) { note.textContent = errorText(r); return; }
  const list = r.data.registrations;
  note.textContent = `${list.length} registration${list.length === 1 ? '' : 's'}.`;
  rows.replaceChildren(...list.map((x) => h('tr', {},
    h('td', {}, x.user), h('td', {}, x.contact), h('td', {}, x.received ?? ''),
    h('td', {}, `${new Date(x.expires_at * 1000).toLocaleTimeString()} (in ${x.expires_in} s)`),
    h('td', {}, x.user_agent ?? ''))));
}

refresh();
setInterval(refresh, 5000);
