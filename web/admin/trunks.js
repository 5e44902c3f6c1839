// Trunks: peers (providers, SBCs, PBXs) whose calls are taken without digest
// auth, by source address or by dialroom's registration to them. The config
// file's are listed read-only; admins add and remove the others (the SIP core
// takes them in within a second), by source addresses and/or an account to
// register to a provider with. Every registration shows its state.
import { api, h, errorText, canChange, main } from './api.js';

const app = main();
const note = h('p', { id: 'status', role: 'status' });
const rows = h('tbody', { id: 'trunks' });
const name = h('input', { id: 'trunk-name', placeholder: 'name', required: true, size: 16 });
const sources = h('input', { id: 'trunk-sources', placeholder: 'source blocks: 192.0.2.0/24, 2001:db8::/32', size: 36 });
const registrar = h('input', { id: 'trunk-registrar', placeholder: 'registrar: sip.example.net or sips:host:5061', size: 30 });
const username = h('input', { id: 'trunk-username', placeholder: 'account', size: 14, autocomplete: 'off' });
const password = h('input', { id: 'trunk-password', type: 'password', placeholder: 'password', size: 14, autocomplete: 'new-password' });
const realm = h('input', { id: 'trunk-realm', placeholder: 'realm (default: host)', size: 16 });

app.append(note,
  h('p', { class: 'muted' }, 'Calls from these address blocks, and calls a provider sends to the account dialroom registers there, are taken without a password and routed by the dialplan (its trunk condition). Give source blocks, a registrar with its account, or both. The password is kept only as digests for the realm.'),
  h('form', { class: 'admin-only', id: 'trunk-form', onsubmit: add }, name, ' ', sources, ' ', registrar, ' ', username, ' ', password, ' ', realm, ' ', h('button', { type: 'submit' }, 'Add trunk')),
  h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Source address blocks', 'Registration', 'Defined in', ''].map((t) => h('th', {}, t)))), rows));

function report(r, done) { note.className = r.ok ? 'ok' : 'error'; note.textContent = r.ok ? done : errorText(r); }

async function add(e) {
  e.preventDefault();
  const list = sources.value.split(/[\s,]+/).filter(Boolean);
  const body = { name: name.value.trim(), sources: list };
  if (registrar.value.trim()) {
    Object.assign(body, { registrar: registrar.value.trim(), username: username.value.trim(), password: password.value });
    if (realm.value.trim()) body.realm = realm.value.trim();
  }
  const r = await api('POST', '/trunks', body);
  report(r, `Added ${name.value.trim()}.`);
  if (r.ok) for (const f of [name, sources, registrar, username, password, realm]) f.value = '';
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
