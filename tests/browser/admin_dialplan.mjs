// The admin UI in a real browser (playwright-core driving Debian's
// chromium): log in, break the dialplan and see the error at its line,
// fix it, try it in the simulator, save, roll back, and look at a live
// room. Between steps it prints `step: NAME` and waits for a line on stdin,
// so the Rust test (tests/admin_ui_edits_the_dialplan.rs) can place SIPp
// calls and check which route they follow.
//
// usage: node admin_dialplan.mjs BASE_URL USER PASSWORD SCREENSHOT_DIR VIEWER VIEWER_PASSWORD
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [base, user, password, shots, viewer, viewerPassword] = process.argv.slice(2);
// A hung browser must not hang the test suite.
setTimeout(() => { console.error('admin_dialplan.mjs: timed out'); process.exit(2); }, 180000).unref();
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function step(name) {
  console.log(`step: ${name}`);
  const { value, done } = await lines.next();
  if (done || value.trim() !== 'go') throw new Error(`the test said ${JSON.stringify(value)} after ${name}`);
}
function expect(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

// The new plan: 5555 goes to a room. The old one rejects it (404).
const NEW_PLAN = `[[route]]
name = "five-room"
to = '^(5)555$'
action = "conference"
room = "r$1"

[[route]]
name = "lobby"
to = '^7777$'
action = "conference"
room = "lobby"

[[route]]
name = "rest"
action = "reject"
code = 404
`;

const profile = mkdtempSync(join(tmpdir(), 'dialroom-chromium-'));
// A fresh profile (playwright passes it to chromium as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 1000 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = browser.pages()[0] ?? await browser.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => console.error(`page error: ${e}`));

  // Log in.
  await page.goto(`${base}/admin/login`);
  await page.fill('input[name=name]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type=submit]')]);
  await page.waitForSelector('#chart svg polyline', { state: 'attached' });
  expect((await page.textContent('#cards')).includes('registrations'), 'the dashboard shows its numbers');
  await page.screenshot({ path: join(shots, 'admin-dashboard.png') });
  await page.goto(`${base}/admin/dialplan`);
  await page.waitForFunction(() => document.querySelector('#editor').value.includes('[[route]]'));
  const original = await page.inputValue('#editor');

  // Break it on purpose: an unclosed group on line 3. The error shows at its
  // line and column, the line is highlighted, the text stays.
  // (a function: in a replacement string $' would mean "the rest of the text")
  const broken = original.replace("to = '^5555$'", () => "to = '^(5555$'");
  expect(broken !== original, 'the seeded plan has the 5555 route on line 3');
  await page.fill('#editor', broken);
  await page.click('#save');
  await page.waitForSelector('#errors li');
  const err = await page.textContent('#errors li');
  expect(err.startsWith('line 3, column 8:') && /regex/.test(err), `the error at line 3, column 8: ${err}`);
  expect((await page.textContent('.gutter .bad')) === '3', 'line 3 highlighted in the gutter');
  expect((await page.inputValue('#editor')) === broken, 'the text is kept');
  expect(/Not saved/.test(await page.textContent('#status')), 'the status says not saved');
  await page.screenshot({ path: join(shots, 'admin-dialplan-error.png'), fullPage: true });
  await step('broken');

  // Fix it and try the draft in the simulator before saving.
  await page.fill('#editor', NEW_PLAN);
  await page.fill('#sim-to', '5555');
  await page.click('#sim-run');
  await page.waitForSelector('#sim-route');
  expect((await page.textContent('#sim-route')) === 'five-room', 'the simulator picks five-room');
  expect((await page.textContent('#sim-captures')).includes('$1="5"'), 'with its capture');
  expect((await page.textContent('#sim-decision')).includes('conference room "r5"'), 'and sends to room r5');
  await step('simulated');

  await page.fill('#comment', '5555 goes to room r5');
  await page.click('#save');
  await page.waitForFunction(() => /Saved as version/.test(document.querySelector('#status').textContent));
  await page.waitForSelector('#history tr[data-id="2"]');
  await page.screenshot({ path: join(shots, 'admin-dialplan-editor.png'), fullPage: true });
  await step('saved');

  // Roll back to version 1.
  await page.click('button.rollback[data-id="1"]');
  await page.waitForFunction(() => /Rolled back/.test(document.querySelector('#status').textContent));
  expect((await page.inputValue('#editor')) === original, 'the editor shows the old text');
  await page.selectOption('#diff-from', '2');
  await page.selectOption('#diff-to', '3');
  await page.click('#diff-show');
  await page.waitForSelector('#diff .delete');
  await step('rolled-back');

  // A live room with a phone caller in it (the test placed the call): mute, then kick.
  await page.goto(`${base}/admin/rooms`);
  await page.waitForSelector('#rooms tr[data-id]');
  const row = await page.textContent('#rooms tr[data-id]');
  expect(row.includes('phone'), `a phone participant: ${row}`);
  await page.click('#rooms tr[data-id] button:text("Mute")');
  await page.waitForFunction(() => document.querySelector('#rooms tr[data-id]')?.textContent.includes('muted'));
  // Record the room for a moment: the badge comes and goes.
  await page.click('#rooms button.record');
  await page.waitForSelector('#rooms .badge.recording');
  await page.screenshot({ path: join(shots, 'admin-live-room.png'), fullPage: true });
  await sleep(2000);
  await page.click('#rooms button.record');
  await page.waitForSelector('#rooms .badge.recording', { state: 'detached' });
  // Kick: the caller gets a BYE from the server (the test checks SIPp saw it).
  await page.click('#rooms tr[data-id] button:text("Kick")');
  await page.waitForSelector('#rooms tr[data-id]', { state: 'detached' });
  await step('room');

  // The recording: listed as done, its file downloads as Ogg, it plays in
  // the page, and an admin deletes it.
  await page.goto(`${base}/admin/recordings`);
  await page.waitForSelector('#recordings tr[data-state="done"]', { timeout: 20000 });
  const rec = await page.textContent('#recordings tr[data-state="done"]');
  expect(rec.includes('lobby') && rec.includes('admin:ann'), `the lobby's recording, by ann: ${rec}`);
  const magic = await page.evaluate(async () => {
    const a = document.querySelector('#recordings tr[data-state="done"] a[download]');
    if (!a) return `no file link in ${document.querySelector('#recordings tr[data-state="done"]').outerHTML}`;
    const r = await fetch(a.href);
    const b = new Uint8Array(await r.arrayBuffer());
    return `${r.status} ${String.fromCharCode(...b.slice(0, 4))} ${b.length}`;
  });
  expect(magic.startsWith('200 OggS'), `the download is an Ogg file: ${magic}`);
  await page.click('#recordings tr[data-state="done"] button.play');
  await page.waitForFunction(() => !document.getElementById('player').hidden && document.getElementById('player').src.endsWith('/file'));
  await page.screenshot({ path: join(shots, 'admin-recordings.png'), fullPage: true });
  page.once('dialog', (d) => d.accept());
  await page.click('#recordings tr[data-state="done"] button.delete');
  await page.waitForSelector('#recordings tr[data-state="done"]', { state: 'detached' });
  await step('recording');

  // A viewer sees the pages without anything that changes things.
  await page.click('header button[type=submit]'); // log out
  await page.waitForURL(`${base}/admin/login`);
  await page.fill('input[name=name]', viewer);
  await page.fill('input[name=password]', viewerPassword);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type=submit]')]);
  await page.goto(`${base}/admin/dialplan`);
  await page.waitForSelector('#history tr[data-id="1"]');
  expect(!(await page.isVisible('#save')), 'no Save button for a viewer');
  expect((await page.locator('button.rollback').filter({ visible: true }).count()) === 0, 'no rollback for a viewer');
  expect(await page.getAttribute('#editor', 'readonly') !== null, 'the editor is read-only');
  await page.click('#sim-run'); // the simulator still works: it changes nothing
  await page.waitForSelector('#sim-route');
  await page.goto(`${base}/admin/users`);
  await page.waitForSelector('#users', { state: 'attached' });
  await page.waitForLoadState('networkidle');
  expect((await page.locator('form').filter({ visible: true }).count()) === 1, 'only the logout form for a viewer');
  console.log('done');
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
// stdin stays open (the test holds it): end explicitly.
process.exit(0);
