// The trunks page in a real browser (playwright-core driving Debian's
// chromium): after logging in, the trunks given as +NAME=REGISTRAR|ACCOUNT|PASSWORD[|REALM]
// are added through the page's form, then every trunk named as TRUNK=TEXT
// shows the registration text it is expected to contain (matched in the
// page, which polls the API every 5 s). Prints one JSON line: each trunk's text.
//
// usage: node admin_trunks.mjs BASE_URL USER PASSWORD SCREENSHOT [+NAME=REG|ACCT|PW[|REALM]]... TRUNK=TEXT...
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
  for (const a of wanted.filter((w) => w.startsWith('+'))) {
    const [name, rest] = a.slice(1).split(/=(.*)/s);
    const [registrar, account, pw, realm] = rest.split('|');
    await page.fill('#trunk-name', name);
    await page.fill('#trunk-registrar', registrar);
    await page.fill('#trunk-username', account);
    await page.fill('#trunk-password', pw);
    if (realm) await page.fill('#trunk-realm', realm);
    await page.click('#trunk-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#status')?.textContent);
    const said = await page.textContent('#status');
    if (!said.includes(`Added ${name}`)) throw new Error(`adding ${name}: ${said}`);
  }
  const seen = {};
  for (const w of wanted.filter((x) => !x.startsWith('+'))) {
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
