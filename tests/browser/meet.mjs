// The meeting page in real browsers (playwright-core driving Debian's
// chromium, one browser process per participant so each has its own fake
// microphone file): Alice and Bob join one room and should see and hear
// each other; Alice chats, Bob mutes and turns his camera off; Carol joins
// through the name prompt and leaves. The script
// only observes and prints one JSON object on stdout; the Rust test
// (tests/meet_page_two_browsers.rs) asserts on it.
//
// Halfway it prints `step: phone` and waits for `go` on stdin: the test
// then has a phone caller (endpoint id PHONE_ID) join the room.
//
// usage: node meet.mjs BASE_URL ROOM SCREENSHOT_DIR WAV_ALICE WAV_BOB WAV_CAROL PHONE_ID
// exit: 0 when the run finished (whatever it observed), 2 when it crashed.
import { launchWithTone, until } from './fake_media.mjs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [base, room, shots, wavA, wavB, wavC, phoneId] = process.argv.slice(2);
const rl = createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();
setTimeout(() => { console.error('meet.mjs: timed out'); process.exit(2); }, 120000).unref();

const started = Date.now();
const log = (m) => console.error(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${m}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const browsers = [];

/** A browser of its own for `who`, at the page (with `?name=` when `name` is given). */
async function open(who, name, wav) {
  const browser = await launchWithTone(wav);
  browsers.push(browser);
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => log(`${who}: page error: ${e}`));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log(`${who}: console ${m.type()}: ${m.text()}`); });
  // `audioProcessing=off`: noise suppression would treat the test tone as noise.
  const q = name ? `name=${encodeURIComponent(name)}&` : '';
  await page.goto(`${base}/meet/${room}?${q}audioProcessing=off`);
  return page;
}


const joined = (page) => until(page, () => window.meet.state === 'joined' && window.meet.id, null, 15000);

/** Waits until `page` sees `other` with live video and hears `hz`. */
async function media(page, other, hz) {
  return until(page, async ([id, f]) => {
    const v = (await window.meet.videoStats()).find((s) => s.id === id);
    const p = window.meet.participants().some((x) => x.id === id);
    return p && v && v.width > 0 && v.notBlack && (await window.meet.toneLevel(f)) > 0.3;
  }, [other, hz], 25000);
}

async function observe(page) {
  return page.evaluate(async () => ({
    state: window.meet.state,
    error: window.meet.error,
    id: window.meet.id,
    role: window.meet.role,
    muteButtons: document.querySelectorAll('#people .mute-other').length,
    participants: window.meet.participants(),
    video: await window.meet.videoStats(),
    tones: {
      440: await window.meet.toneLevel(440),
      660: await window.meet.toneLevel(660),
      1000: await window.meet.toneLevel(1000),
      1500: await window.meet.toneLevel(1500),
    },
    sourceEvents: window.meet.sourceEvents,
    chat: window.meet.chat,
    banner: document.querySelector('#banner').hidden ? null : document.querySelector('#banner').textContent,
  }));
}

const report = { errors: [] };
try {
  const alice = await open('alice', 'Alice', wavA);
  report.alice_id = await joined(alice);
  log(`alice joined as ${report.alice_id}`);
  const bob = await open('bob', 'Bob', wavB);
  report.bob_id = await joined(bob);
  log(`bob joined as ${report.bob_id}`);

  report.alice_media = await media(alice, report.bob_id, 1000);
  report.bob_media = await media(bob, report.alice_id, 440);
  log(`media flowing: alice ${report.alice_media}, bob ${report.bob_media}`);
  await sleep(1000);
  report.alice = await observe(alice);
  report.bob = await observe(bob);

  // Chat: Alice types, Bob reads.
  await alice.fill('#chat-input', 'Hello from Alice');
  await alice.click('#chat-form button[type=submit]');
  report.bob_chat = await until(bob, () => window.meet.chat.find((m) => m.text === 'Hello from Alice') ?? null, null, 5000);
  await alice.screenshot({ path: join(shots, 'meet-page.png') });

  // Bob mutes: Alice's list says so, his tone and talking ring go.
  await bob.click('#mic');
  report.alice_sees_bob_muted = await until(alice, (id) => window.meet.participants().find((p) => p.id === id)?.muted, report.bob_id, 5000);
  report.alice_bob_quiet = await until(alice, async (id) => {
    const p = window.meet.participants().find((x) => x.id === id);
    const level = await window.meet.toneLevel(1000);
    return p && !p.talking && level < 0.1 ? { talking: p.talking, level } : null;
  }, report.bob_id, 5000);
  await bob.click('#mic');
  // Bob's camera off: the browser sends black frames, which Alice's check sees.
  await bob.click('#camera');
  report.alice_sees_bob_black = await until(alice, async (id) => {
    const v = (await window.meet.videoStats()).find((s) => s.id === id);
    return v && !v.notBlack ? v : null;
  }, report.bob_id, 8000);
  await bob.click('#camera');
  report.alice_sees_bob_again = await until(alice, async (id) => {
    const v = (await window.meet.videoStats()).find((s) => s.id === id);
    return v && v.notBlack ? v : null;
  }, report.bob_id, 10000);

  // A phone caller joins (the test makes one): listed as on the phone,
  // its audio source announced, an avatar instead of video.
  console.log('step: phone');
  const { value } = await lines.next();
  if (value?.trim() !== 'go') throw new Error(`the test said ${JSON.stringify(value)} after step phone`);
  report.alice_sees_phone = await until(alice, (id) => {
    const p = window.meet.participants().find((x) => x.id === id);
    return p && window.meet.sourceEvents.some((e) => e.action === 'source-add' && e.owner === id) ? p : null;
  }, phoneId, 10000);
  report.phone_tile = await alice.evaluate((id) => {
    const t = document.querySelector(`.tile[data-id="${id}"]`);
    return t && { avatar: !t.querySelector('.avatar').hidden, label: t.querySelector('.label').textContent };
  }, phoneId);
  await alice.screenshot({ path: join(shots, 'meet-page-phone.png') });

  // Carol comes (through the name prompt) and goes.
  const carol = await open('carol', '', wavC);
  report.carol_prompt = await carol.evaluate(() => window.meet.state);
  await carol.fill('#name', 'Carol');
  await carol.click('#join');
  report.carol_id = await joined(carol);
  log(`carol joined as ${report.carol_id}`);
  report.alice_saw_carol_add = await until(alice, (id) => window.meet.sourceEvents.some((e) => e.action === 'source-add' && e.owner === id), report.carol_id, 15000);
  await carol.click('#leave');
  report.carol_after_leave = await carol.evaluate(() => window.meet.state);
  report.alice_saw_carol_remove = await until(alice, (id) => window.meet.sourceEvents.some((e) => e.action === 'source-remove' && e.owner === id), report.carol_id, 15000);
  report.alice_after_carol = await until(alice, (id) => !window.meet.participants().some((p) => p.id === id), report.carol_id, 5000);
  report.alice_end = await observe(alice);
  log('done');
} catch (e) {
  report.errors.push(String(e.stack || e));
}
for (const b of browsers) await b.close().catch(() => {});
rl.close();
console.log(JSON.stringify(report));
process.exit(0);
