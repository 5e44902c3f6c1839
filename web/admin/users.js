// SIP users (add, reset password, remove) and meeting ids (add, remove).
import { api, h, when, errorText, canChange, main } from './api.js';

const app = main();
const note = h('p', { id: 'status', role: 'status' });
const users = h('tbody', { id: 'users' });
const meetings = h('tbody', { id: 'meetings' });
const uName = h('input', { id: 'user-name', placeholder: 'name', required: true });
const uPw = h('input', { id: 'user-password', type: 'password', placeholder: 'password', autocomplete: 'new-password' });
const m = {
  id: h('input', { id: 'meeting-id', placeholder: 'digits', size: 8 }),
  room: h('input', { id: 'meeting-room', placeholder: 'room', size: 12 }),
  pin: h('input', { id: 'meeting-pin', placeholder: 'PIN (optional)', size: 10 }),
  mod: h('input', { id: 'meeting-moderator-pin', placeholder: 'moderator PIN', size: 10 }),
};

app.append(note,
  h('h2', {}, 'SIP users'),
  h('form', { class: 'admin-only', onsubmit: addUser }, uName, ' ', uPw, ' ', h('button', { type: 'submit' }, 'Add user')),
  h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Realm', 'Added', ''].map((t) => h('th', {}, t)))), users),
  h('h2', {}, 'Meeting ids (typed in the IVR)'),
  h('form', { class: 'admin-only', onsubmit: addMeeting }, m.id, ' ', m.room, ' ', m.pin, ' ', m.mod, ' ', h('button', { type: 'submit' }, 'Add meeting id')),
  h('table', {}, h('thead', {}, h('tr', {}, ['Id', 'Room', 'PIN', 'Moderator PIN', ''].map((t) => h('th', {}, t)))), meetings));

function report(r, done) { note.className = r.ok ? 'ok' : 'error'; note.textContent = r.ok ? done : errorText(r); }

async function addUser(e) {
  e.preventDefault();
  const r = await api('POST', '/users', { name: uName.value.trim(), password: uPw.value });
  report(r, `Added ${uName.value.trim()}.`);
  if (r.ok) { uName.value = ''; uPw.value = ''; }
  load();
}

async function resetPassword(name) {
  const pw = prompt(`New password for ${name}:`);
  if (!pw) return;
  report(await api('PUT', `/users/${encodeURIComponent(name)}/password`, { password: pw }), `Password of ${name} changed.`);
}

async function removeUser(name) {
  if (!confirm(`Remove ${name} and its registrations?`)) return;
  report(await api('DELETE', `/users/${encodeURIComponent(name)}`), `Removed ${name}.`);
  load();
}

async function addMeeting(e) {
  e.preventDefault();
  const body = { id: m.id.value.trim(), room: m.room.value.trim() };
  if (m.pin.value.trim()) body.pin = m.pin.value.trim();
  if (m.mod.value.trim()) body.moderator_pin = m.mod.value.trim();
  const r = await api('POST', '/meetings', body);
  report(r, `Added meeting id ${body.id}.`);
  if (r.ok) Object.values(m).forEach((i) => { i.value = ''; });
  load();
}

async function removeMeeting(id) {
  report(await api('DELETE', `/meetings/${encodeURIComponent(id)}`), `Removed meeting id ${id}.`);
  load();
}

async function load() {
  const [u, mt] = await Promise.all([api('GET', '/users'), api('GET', '/meetings')]);
  if (u.ok) users.replaceChildren(...u.data.users.map((x) => h('tr', { 'data-name': x.name },
    h('td', {}, x.name), h('td', {}, x.realm), h('td', {}, when(x.created_at)),
    h('td', { class: 'admin-only' },
      h('button', { onclick: () => resetPassword(x.name) }, 'Reset password'), ' ',
      h('button', { onclick: () => removeUser(x.name) }, 'Remove')))));
  if (mt.ok) meetings.replaceChildren(...mt.data.meetings.map((x) => h('tr', { 'data-id': x.id },
    h('td', {}, x.id), h('td', {}, x.room), h('td', {}, x.pin ?? ''), h('td', {}, x.moderator_pin ?? ''),
    h('td', { class: 'admin-only' }, h('button', { onclick: () => removeMeeting(x.id) }, 'Remove')))));
  if (!canChange) document.querySelectorAll('.admin-only').forEach((e) => e.remove());
}

load();
