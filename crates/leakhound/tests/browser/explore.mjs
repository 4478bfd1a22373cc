// Drives `leakhound explore` in headless Chromium the way a person would:
// filter a class, open an instance, expand its retainers to the leak's
// holder, follow the dominator chain, open the comparison and the leaks
// view, open a flame graph. Checks: no console or page errors, no request
// outside the explorer's own loopback origin. Saves a screenshot per step.
//
//   node explore.mjs URL SCREENSHOT_DIR CLASS HOLDER_PROPERTY PROFILE_INDEX
//
// Chromium: $CHROMIUM or /usr/bin/chromium. Prints a JSON summary; exits 1
// when a check fails, 2 on a usage error.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, shots, className, holder, profileIndex] = process.argv.slice(2);
if (!url || !shots || !className || !holder || profileIndex === undefined) {
  console.error('usage: node explore.mjs URL SCREENSHOT_DIR CLASS HOLDER_PROPERTY PROFILE_INDEX');
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });
const origin = new URL(url).origin;
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'leakhound-chromium-'));
const errors = [];
const steps = [];
const requests = new Set();
let context;

function check(cond, what) {
  if (!cond) errors.push(what);
}

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { errors.push(`dialog opened: ${d.message()}`); d.dismiss().catch(() => {}); });
  await page.route('**/*', (route) => {
    const u = new URL(route.request().url());
    requests.add(u.host);
    if (u.origin === origin && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) return route.continue();
    errors.push(`request outside loopback: ${u.href}`);
    return route.abort();
  });
  const shot = async (name) => {
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: false });
    steps.push(name);
  };

  // 1. Summary: filter the class.
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('#summary tr.class-row');
  await page.fill('#class-filter', className);
  await page.waitForFunction((c) => {
    const rows = [...document.querySelectorAll('#summary tr.class-row')];
    return rows.length > 0 && rows.every((r) => r.textContent.toLowerCase().includes(c.toLowerCase()));
  }, className);
  await shot('1-summary-filtered');

  // 2. Expand the class, open its first (biggest) instance.
  const row = page.locator('#summary tr.class-row', { hasText: className }).first();
  await row.locator('a.class-name').click();
  await page.waitForSelector('#summary tr.instance a.obj');
  await page.locator('#summary tr.instance a.obj').first().click();
  await page.waitForSelector('#object-title');
  check((await page.textContent('#object-title')).includes(className), 'object view shows the class');
  check(/#\/object\/\d+\?s=\d+$/.test(page.url()), `shareable object URL: ${page.url()}`);
  await page.waitForSelector('#retainers tr.retainer');
  await shot('2-object');

  // 3. Expand the first retainer (the array) until the holder's property shows.
  let found = false;
  for (let level = 0; level < 4 && !found; level++) {
    const texts = await page.locator('#retainers tr.retainer').allTextContents();
    if (texts.some((t) => t.includes(holder))) { found = true; break; }
    const toggles = page.locator(`#retainers tr.retainer[data-depth="${level}"] .toggle`, { hasText: '▸' });
    if (await toggles.count() === 0) break;
    const before = await page.locator('#retainers tr.retainer').count();
    await toggles.first().click();
    await page.waitForFunction((n) => document.querySelectorAll('#retainers tr.retainer').length > n, before);
  }
  const texts = await page.locator('#retainers tr.retainer').allTextContents();
  found = texts.some((t) => t.includes(holder));
  check(found, `retainers reach the holder ${holder}: ${JSON.stringify(texts.slice(0, 12))}`);
  await shot('3-retainers-expanded');

  // 4. Follow the dominator chain: open the immediate dominator, then its own.
  const firstDominator = page.locator('#dominators a.obj').first();
  const domId = (await firstDominator.getAttribute('href')).match(/object\/(\d+)/)[1];
  await firstDominator.click();
  await page.waitForFunction((id) => document.querySelector('#object-title')?.textContent.includes('@' + id), domId);
  await page.waitForSelector('#dominators li');
  const chain = await page.locator('#dominators li').count();
  check(chain >= 1, 'the dominator has its own dominators');
  await shot('4-dominator');
  await page.goBack();
  await page.waitForSelector('#object-title');

  // 5. Comparison of the first and last snapshots.
  await page.locator('nav a', { hasText: 'Comparison' }).click();
  await page.waitForSelector('#comparison tr.diff-row');
  await page.fill('#compare-filter', className);
  await page.waitForFunction((c) => {
    const rows = [...document.querySelectorAll('#comparison tr.diff-row')];
    return rows.length > 0 && rows.every((r) => r.textContent.includes(c));
  }, className);
  await page.locator('#comparison tr.diff-row td').first().click();
  await page.waitForSelector('#comparison ul.added a.obj');
  await shot('5-comparison');

  // 6. The leaks view names the holder.
  await page.locator('nav a', { hasText: 'Leaks' }).click();
  await page.waitForSelector('.cluster, #no-leak');
  check(await page.locator('.cluster').count() >= 1, 'the leaks view shows a cluster');
  check((await page.textContent('main')).includes(holder), 'the leak is held by the holder');
  await shot('6-leaks');

  // 7. A flame graph of the heap profile, then with Node internals folded.
  await page.selectOption('#file', String(profileIndex));
  await page.waitForSelector('#flame div');
  const boxes = await page.locator('#flame div').count();
  check(boxes >= 3, `flame graph has boxes (${boxes})`);
  await page.waitForSelector('#bottom-up tr.bottom-up-row');
  await shot('7-flame');
  await page.check('#fold-internals');
  await page.waitForFunction(() => location.hash.includes('fold=1'));
  await page.waitForSelector('#flame div');
  await page.locator('#bottom-up tr.bottom-up-row td').first().click();
  await page.waitForSelector('#bottom-up tr.sub li');
  await shot('8-flame-folded');
} catch (e) {
  errors.push(`failed: ${e.message.split('\n')[0]}`);
} finally {
  if (context) await context.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify({ steps, hosts: [...requests], errors }));
process.exit(errors.length ? 1 : 0);
