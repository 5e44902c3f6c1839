// Shared by the meeting-page scripts: Debian's chromium (through
// playwright-core) whose fake microphone plays a WAV file and whose fake
// camera shows Chromium's test pattern, with WebRTC allowed on loopback;
// and polling a page until a condition holds.
import { chromium } from 'playwright-core';

/** A headless Chromium whose microphone plays `wav`. */
export function launchWithTone(wav) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`,
      '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows'],
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn(arg)` in `page` until it returns a truthy value or `ms` pass; returns the last value. */
export async function until(page, fn, arg, ms) {
  const deadline = Date.now() + ms;
  let v;
  for (;;) {
    v = await page.evaluate(fn, arg);
    if (v || Date.now() > deadline) return v;
    await sleep(250);
  }
}
