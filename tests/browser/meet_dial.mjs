// A browser moderator dials out (tests/dial_out_through_a_provider.rs): one
// Chromium whose fake microphone plays a WAV tone joins ROOM alone (so it is
// the moderator), asks the focus (Rayo <dial>) to call a number the dialplan
// refuses, then one it allows; waits for the callee to show up as a phone
// participant, measures the callee's tone and other frequencies in what it
// receives, hangs the call up (Rayo <hangup> to the <ref>) and waits for the
// participant to go. The script only observes and prints one JSON object on
// stdout; the Rust test asserts on it.
//
// usage: node meet_dial.mjs BASE_URL ROOM WAV NUMBER REFUSED_NUMBER PHONE_HZ OWN_HZ SCREENSHOT
// exit: 0 when the run finished (whatever it observed), 2 when it crashed.
import { launchWithTone, until } from './fake_media.mjs';

const [base, room, wav, number, refusedNumber, phoneHz, ownHz, shot] = process.argv.slice(2);
setTimeout(() => { console.error('meet_dial.mjs: timed out'); process.exit(2); }, 90000).unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = { errors: [] };

const browser = await launchWithTone(wav);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => out.errors.push(`page error: ${e}`));
  await page.goto(`${base}/meet/${room}?name=Ann&audioProcessing=off`);
  out.state = await until(page, () => window.meet.state === 'joined' && 'joined', null, 15000) || await page.evaluate(() => `${window.meet.state}: ${window.meet.error}`);
  out.role = await until(page, () => window.meet.role === 'moderator' && 'moderator', null, 5000) || await page.evaluate(() => window.meet.role);
  out.form = await page.evaluate(() => !document.getElementById('dial').hidden);
  // A number the dialplan refuses: an error, shown in the banner.
  out.refused = await page.evaluate((n) => window.meet.dial(n), refusedNumber);
  out.banner = await page.evaluate(() => document.getElementById('banner').textContent);
  // Through the form, as a person would.
  await page.fill('#dial-number', number);
  const dialed = page.waitForFunction(() => document.querySelector('#dialed li, #people li.phone')?.dataset.id ?? null, null, { timeout: 10000 });
  await page.click('#dial button[type=submit]');
  out.dialed = await (await dialed).jsonValue();
  out.phone = await until(page, (id) => window.meet.participants().find((p) => p.id === id), out.dialed, 20000);
  await until(page, (hz) => window.meet.toneLevel(hz).then((l) => l > 0.1), Number(phoneHz), 10000);
  await sleep(3000);
  out.levels = await page.evaluate(async ([p, o]) => ({
    phone: await window.meet.toneLevel(p),
    own: await window.meet.toneLevel(o),
    other: await window.meet.toneLevel(660),
  }), [Number(phoneHz), Number(ownHz)]);
  await page.screenshot({ path: shot });
  out.hangup = await page.evaluate((id) => window.meet.hangUp(id), out.dialed);
  out.gone = await until(page, (id) => !window.meet.participants().some((p) => p.id === id), out.dialed, 10000);
  await page.evaluate(() => window.meet.leave());
  await sleep(500);
} catch (e) {
  out.errors.push(String(e));
}
await browser.close();
console.log(JSON.stringify(out));
