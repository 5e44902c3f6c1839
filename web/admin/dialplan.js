// The dialplan editor: the running TOML with line numbers, server-side
// checks on save (errors at line:column, lines highlighted, text kept),
// a call simulator against the draft, and the history with diffs and rollback.
import { api, h, when, errorText, canChange, main } from './api.js';

const app = main();
const status = h('p', { id: 'status', role: 'status' });
const gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' });
const backdrop = h('pre', { 'aria-hidden': 'true' });
const text = h('textarea', { id: 'editor', spellcheck: 'false', wrap: 'off', 'aria-label': 'Dialplan TOML', readonly: !canChange });
const errors = h('ul', { id: 'errors' });
const comment = h('input', { id: 'comment', placeholder: 'What changed (for the history)', size: 50 });
const save = h('button', { id: 'save', onclick: onSave }, 'Save');
let bad = new Map(); // line -> messages

const sim = {
  to: h('input', { id: 'sim-to', value: '1234' }),
  from: h('input', { id: 'sim-from', value: 'anonymous' }),
  source: h('input', { id: 'sim-source', value: '127.0.0.1' }),
  headers: h('textarea', { id: 'sim-headers', rows: 3, placeholder: 'Name: value (one per line)' }),
  at: h('input', { id: 'sim-at', placeholder: 'now, or e.g. mon 09:30' }),
  result: h('div', { id: 'sim-result', 'aria-live': 'polite' }),
};
const history = h('tbody');
const diffFrom = h('select', { id: 'diff-from' });
const diffTo = h('select', { id: 'diff-to' });
const diffOut = h('div', { id: 'diff', class: 'diff' });

app.append(
  h('div', { class: 'cols' },
    h('section', {},
      h('div', { class: 'editor' }, gutter, h('div', { class: 'code' }, backdrop, text)),
      errors,
      h('p', { class: 'admin-only' }, comment, ' ', save),
      status),
    h('section', { class: 'sim' },
      h('h2', {}, 'Call simulator (tries the text in the editor)'),
      h('label', {}, 'To (dialled) ', sim.to),
      h('label', {}, 'From ', sim.from),
      h('label', {}, 'Source address ', sim.source),
      h('label', {}, 'Headers ', sim.headers),
      h('label', {}, 'Time ', sim.at),
      h('button', { id: 'sim-run', onclick: onSimulate }, 'Try this call'),
      h('h2', {}, 'Result'), sim.result)),
  h('h2', {}, 'History'),
  h('table', { id: 'history' },
    h('thead', {}, h('tr', {}, ['Version', 'When', 'Who', 'Comment', ''].map((t) => h('th', {}, t)))),
    history),
  h('p', {}, 'Compare ', diffFrom, ' with ', diffTo, ' ', h('button', { id: 'diff-show', onclick: onDiff }, 'Show diff')),
  diffOut,
);

function paint() {
  const lines = text.value.split('\n');
  gutter.replaceChildren(...lines.map((_, i) =>
    h('div', { class: bad.has(i + 1) ? 'bad' : null, title: bad.get(i + 1)?.join('\n') }, String(i + 1))));
  backdrop.replaceChildren(...lines.map((l, i) =>
    h('div', { class: bad.has(i + 1) ? 'bad' : null }, l === '' ? ' ' : l)));
  syncScroll();
}
function syncScroll() {
  gutter.scrollTop = text.scrollTop;
  backdrop.scrollTop = text.scrollTop;
  backdrop.scrollLeft = text.scrollLeft;
}
text.addEventListener('input', paint);
text.addEventListener('scroll', syncScroll);

/** Puts the cursor at line:column. */
function goTo(line, column) {
  const lines = text.value.split('\n');
  let pos = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
  pos += Math.max(0, column - 1);
  text.focus();
  text.setSelectionRange(pos, pos + 1);
}

function showErrors(list) {
  bad = new Map();
  for (const e of list) {
    if (!bad.has(e.line)) bad.set(e.line, []);
    bad.get(e.line).push(e.message);
  }
  errors.replaceChildren(...list.map((e) =>
    h('li', { class: 'error', onclick: () => goTo(e.line, e.column) }, `line ${e.line}, column ${e.column}: ${e.message}`)));
  paint();
}

async function load() {
  const r = await api('GET', '/dialplan');
  if (r.ok) {
    text.value = r.data.toml;
    status.textContent = `Running version ${r.data.id}, saved ${when(r.data.created_at)} by ${r.data.author}.`;
  } else {
    status.textContent = errorText(r);
  }
  showErrors([]);
  await loadHistory();
}

async function onSave() {
  save.disabled = true;
  status.textContent = 'Checking…';
  const r = await api('PUT', '/dialplan', { toml: text.value, comment: comment.value });
  save.disabled = false;
  if (r.status === 422) {
    showErrors(r.data.error.errors);
    status.className = 'error';
    status.textContent = `Not saved: ${r.data.error.message}. The running dialplan is unchanged.`;
    return;
  }
  if (!r.ok) { status.className = 'error'; status.textContent = errorText(r); return; }
  showErrors([]);
  comment.value = '';
  status.className = 'ok';
  status.textContent = `Saved as version ${r.data.id}: new calls follow it.`;
  await loadHistory();
}

async function onSimulate() {
  const headers = sim.headers.value.split('\n').map((l) => l.trim()).filter(Boolean);
  const body = { toml: text.value, to: sim.to.value, from: sim.from.value, source: sim.source.value, headers };
  if (sim.at.value.trim()) body.at = sim.at.value.trim();
  const r = await api('POST', '/dialplan/simulate', body);
  if (r.status === 422) {
    showErrors(r.data.error.errors);
    sim.result.replaceChildren(h('p', { class: 'error' }, 'The draft has errors (see the editor).'));
    return;
  }
  if (!r.ok) { sim.result.replaceChildren(h('p', { class: 'error' }, errorText(r))); return; }
  const d = r.data;
  sim.result.replaceChildren(
    h('p', {}, 'Route: ', h('b', { id: 'sim-route' }, d.route ? d.route.name : 'none'),
      d.route ? ` (line ${d.route.line})` : ' (no route matched)'),
    h('p', {}, 'Captures: ', h('code', { id: 'sim-captures' },
      d.captures.length ? d.captures.map((c, i) => `$${i}="${c}"`).join(' ') : '(none)')),
    h('p', {}, 'What happens: ', h('b', { id: 'sim-decision' }, d.decision.description)));
}

async function loadHistory() {
  const r = await api('GET', '/dialplan/versions');
  if (!r.ok) return;
  const vs = r.data.versions;
  history.replaceChildren(...vs.map((v) => h('tr', { 'data-id': v.id },
    h('td', {}, String(v.id), v.running ? h('b', {}, ' (running)') : ''),
    h('td', {}, when(v.created_at)),
    h('td', {}, v.author),
    h('td', {}, v.comment),
    h('td', {},
      h('button', { onclick: () => view(v.id) }, 'Open in editor'), ' ',
      v.running ? '' : h('button', { class: 'rollback admin-only', 'data-id': v.id, onclick: () => rollback(v.id) }, 'Roll back to this')))));
  const opts = (sel, pick) => sel.replaceChildren(...vs.map((v) => h('option', { value: v.id, selected: v.id === pick }, `version ${v.id}`)));
  opts(diffTo, vs[0]?.id);
  opts(diffFrom, vs[1]?.id ?? vs[0]?.id);
}

async function view(id) {
  const r = await api('GET', `/dialplan/versions/${id}`);
  if (r.ok) { text.value = r.data.toml; showErrors([]); status.textContent = `Version ${id} in the editor (not saved).`; }
}

async function rollback(id) {
  const r = await api('POST', `/dialplan/versions/${id}/rollback`);
  if (!r.ok) { status.className = 'error'; status.textContent = errorText(r); return; }
  status.className = 'ok';
  status.textContent = `Rolled back: version ${r.data.id} has version ${id}'s text and runs now.`;
  text.value = r.data.toml;
  showErrors([]);
  await loadHistory();
}

async function onDiff() {
  const r = await api('GET', `/dialplan/diff?from=${diffFrom.value}&to=${diffTo.value}`);
  if (!r.ok) { diffOut.replaceChildren(errorText(r)); return; }
  const sign = { equal: ' ', insert: '+', delete: '-' };
  diffOut.replaceChildren(...r.data.lines.map((l) => h('div', { class: l.op },
    h('span', { class: 'n' }, l.old_line ?? ''), h('span', { class: 'n' }, l.new_line ?? ''), `${sign[l.op]} ${l.text}`)));
}

load();
