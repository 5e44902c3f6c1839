// The meeting page meets a phone caller (tests/meet_page_meets_a_phone_caller.rs):
// one Chromium (playwright-core, Debian's chromium) whose fake microphone
// plays a WAV tone joins ROOM, where a baresip phone (started by the Rust
// test) already is. It reports whom the page lists, the levels of the
// phone's tone and of other frequencies in what it receives, then, as the
// room's moderator, starts a recording through the focus (Jitsi's jibri
// IQ), waits for the recording indicator, stops it and waits for the
// indicator to go. The script only observes and prints one JSON object on
// stdout; the Rust test asserts on it.
//
// usage: node meet_phone.mjs BASE_URL ROOM WAV PHONE_HZ OWN_HZ SCREENSHOT
// exit: 0 when the run finished (whatever it observed), 2 when it crashed.
import { launchWithTone, until } from './fake_media.mjs';

const [base, room, wav, phoneHz, ownHz, shot] = process.argv.slice(2);
setTimeout(() => { console.error('meet_phone.mjs: timed out'); process.exit(2); }, 90000).unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = { errors: [] };


const browser = await launchWithTone(wav);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => out.errors.push(`page error: ${e}`));
  // `audioProcessing=off`: noise suppression would treat the test tone as noise.
  await page.goto(`${base}/meet/${room}?name=Ann&audioProcessing=off`);
  out.state = await until(page, () => window.meet.state === 'joined' && 'joined', null, 15000) || await page.evaluate(() => `${window.meet.state}: ${window.meet.error}`);
  out.phone = await until(page, () => window.meet.participants().find((p) => p.phone), null, 10000);
  // Let the phone's audio flow, then measure what arrives.
  await until(page, (hz) => window.meet.toneLevel(hz).then((l) => l > 0.1), Number(phoneHz), 10000);
  await sleep(2000);
  out.levels = await page.evaluate(async ([p, o]) => ({
    phone: await window.meet.toneLevel(p),
    own: await window.meet.toneLevel(o),
    other: await window.meet.toneLevel(660),
  }), [Number(phoneHz), Number(ownHz)]);
  out.talking = await page.evaluate(() => window.meet.participants().find((p) => p.phone)?.talking ?? null);
  out.role = await page.evaluate(() => window.meet.role);
  // Recording through the focus, and the indicator.
  out.record_start = await page.evaluate(() => window.meet.record(true));
  out.recording_on = await until(page, () => window.meet.recording && !document.getElementById('recording').hidden, null, 10000);
  await page.screenshot({ path: shot });
  await sleep(2500);
  out.record_stop = await page.evaluate(() => window.meet.record(false));
  out.recording_off = await until(page, () => !window.meet.recording && document.getElementById('recording').hidden, null, 10000);
  await page.evaluate(() => window.meet.leave());
  await sleep(500);
} catch (e) {
  out.errors.push(String(e));
}
await browser.close();
console.log(JSON.stringify(out));
