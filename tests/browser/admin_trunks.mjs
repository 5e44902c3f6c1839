// The trunks page in a real browser (playwright-core driving Debian's
// chromium): after logging in, every trunk named on the command line shows
// the registration text it is expected to contain (matched in the page,
// which polls the API every 5 s). Prints one JSON line: each trunk's text.
//
// usage: node admin_trunks.mjs BASE_URL USER PASSWORD SCREENSHOT TRUNK=TEXT...
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, user, password, shot, ...wanted] = process.argv.slice(2);
setTimeout(() => { console.error('admin_trunks.mjs: timed out'); process.exit(2); }, 90000).unref();

const profile = mkdtempSync(join(tmpdir(), 'dialroom-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 600 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let code = 0;
try {
  const page = browser.pages()[0] ?? await browser.newPage();
  page.setDefaultTimeout(20000);
  page.on('pageerror', (e) => console.error(`page error: ${e}`));
  await page.goto(`${base}/admin/login`);
  await page.fill('input[name=name]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type=submit]')]);
  await page.goto(`${base}/admin/trunks`);
  const seen = {};
  for (const w of wanted) {
    const [name, text] = w.split(/=(.*)/s);
    const cell = `tr[data-name="${name}"] td.registration`;
    await page.waitForFunction(([c, t]) => document.querySelector(c)?.textContent.includes(t), [cell, text]);
    seen[name] = await page.textContent(cell);
  }
  await page.screenshot({ path: shot });
  console.log(JSON.stringify(seen));
} catch (e) {
  console.error(`admin_trunks.mjs: ${e}`);
  code = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
