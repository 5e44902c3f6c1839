// Trunks: peers (providers, SBCs, PBXs) whose calls are taken without digest
// auth, by source address or by dialroom's registration to them. The config
// file's are listed read-only, with their registration state; admins add and
// remove the others (the SIP core takes them in within a second).
import { api, h, errorText, canChange, main } from './api.js';

const app = main();
const note = h('p', { id: 'status', role: 'status' });
const rows = h('tbody', { id: 'trunks' });
const name = h('input', { id: 'trunk-name', placeholder: 'name', required: true, size: 16 });
const sources = h('input', { id: 'trunk-sources', placeholder: '192.0.2.0/24, 2001:db8::/32', required: true, size: 40 });

app.append(note,
  h('p', { class: 'muted' }, 'Calls from these address blocks, and calls a provider sends to the account dialroom registers there, are taken without a password and routed by the dialplan (its trunk condition). Registrations are set in the config file.'),
  h('form', { class: 'admin-only', onsubmit: add }, name, ' ', sources, ' ', h('button', { type: 'submit' }, 'Add trunk')),
  h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Source address blocks', 'Registration', 'Defined in', ''].map((t) => h('th', {}, t)))), rows));

function report(r, done) { note.className = r.ok ? 'ok' : 'error'; note.textContent = r.ok ? done : errorText(r); }

async function add(e) {
  e.preventDefault();
  const list = sources.value.split(/[\s,]+/).filter(Boolean);
  const r = await api('POST', '/trunks', { name: name.value.trim(), sources: list });
  report(r, `Added ${name.value.trim()}.`);
  if (r.ok) { name.value = ''; sources.value = ''; }
  load();
}

async function remove(t) {
  if (!confirm(`Remove the trunk ${t}? Its calls will be asked for a password.`)) return;
  report(await api('DELETE', `/trunks/${encodeURIComponent(t)}`), `Removed ${t}.`);
  load();
}

// "registered until 14:05", "failed: <reason> (retry 14:02)", or nothing.
function registration(t) {
  const r = t.registration;
  if (!r) return '';
  const at = (s) => new Date(s * 1000).toLocaleTimeString();
  const who = `${t.username} at ${t.registrar}: `;
  if (r.state === 'registered') return h('span', { class: 'ok' }, `${who}registered until ${at(r.expires_at)}`);
  if (r.state === 'failed') return h('span', { class: 'error' }, `${who}failed: ${r.reason} (retry ${at(r.retry_at)})`);
  return `${who}registering…`;
}

async function load() {
  const r = await api('GET', '/trunks');
  if (!r.ok) { report(r, ''); return; }
  rows.replaceChildren(...r.data.trunks.map((t) => h('tr', { 'data-name': t.name },
    h('td', {}, t.name), h('td', {}, t.sources.join(', ')),
    h('td', { class: 'registration' }, registration(t)),
    h('td', {}, t.origin === 'config' ? 'config file' : 'admin UI / API'),
    h('td', {}, canChange && t.origin === 'database' ? h('button', { class: 'admin-only', onclick: () => remove(t.name) }, 'Remove') : ''))));
}

load();
setInterval(load, 5000);
