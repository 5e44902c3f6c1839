// Shared helpers of the admin pages: the JSON API with the session's CSRF
// token, a tiny DOM builder, and the viewer/admin switch.
const meta = (n) => document.querySelector(`meta[name="${n}"]`)?.content ?? '';
const csrf = meta('csrf-token');

/** The logged-in role: 'admin' changes things, 'viewer' only reads. */
export const role = meta('role');
export const canChange = role === 'admin';

/** Calls /api/v1 PATH; returns {status, ok, data}. Changes carry X-CSRF-Token. */
export async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch('/api/v1' + path, opts);
  const text = await r.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: { code: 'bad_response', message: text } }; }
  }
  if (r.status === 401) location.href = '/admin/login';
  return { status: r.status, ok: r.ok, data };
}

/** h('p', {class: 'x', onclick: f}, 'text', child...) -> Element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v == null) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Unix seconds -> local date and time. */
export const when = (unix) => new Date(unix * 1000).toLocaleString();

/** The error message of an API answer. */
export const errorText = (r) => r.data?.error ? `${r.data.error.message} (${r.data.error.code})` : `HTTP ${r.status}`;

/** The page's main element, emptied below its heading. */
export function main() {
  const m = document.getElementById('app');
  m.querySelectorAll(':scope > :not(h1)').forEach((e) => e.remove());
  return m;
}
