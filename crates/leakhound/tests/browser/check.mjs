// Opens a leakhound HTML report in headless Chromium and checks it:
// no console errors, no page errors, no network requests, charts drawn.
// Saves a full-page PNG screenshot.
//
//   node check.mjs REPORT.html SCREENSHOT.png [MIN_CHARTS]
//
// Chromium: $CHROMIUM or /usr/bin/chromium (Debian package `chromium`).
// Prints a JSON summary; exits 1 when a check fails, 2 on a usage error.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [report, shot, minChartsArg] = process.argv.slice(2);
if (!report || !shot) {
  console.error('usage: node check.mjs REPORT.html SCREENSHOT.png [MIN_CHARTS]');
  process.exit(2);
}
const minCharts = Number(minChartsArg ?? 1);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'leakhound-chromium-'));
const errors = [];
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { errors.push(`dialog opened: ${d.message()}`); d.dismiss().catch(() => {}); });
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    errors.push(`network request: ${url}`);
    return route.abort();
  });
  await page.goto(pathToFileURL(path.resolve(report)).href, { waitUntil: 'load' });
  await page.waitForTimeout(200);
  const facts = await page.evaluate(() => ({
    title: document.title,
    charts: document.querySelectorAll('.chart svg').length,
    shapes: document.querySelectorAll('.chart svg rect, .chart svg path').length,
    empty: Array.from(document.querySelectorAll('[data-chart]')).filter((c) => !c.firstChild).length,
    height: document.documentElement.scrollHeight,
  }));
  if (facts.charts < minCharts) errors.push(`expected at least ${minCharts} charts, found ${facts.charts}`);
  if (facts.empty > 0) errors.push(`${facts.empty} chart containers were left empty`);
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify({ ...facts, errors }));
} catch (e) {
  errors.push(`failed: ${e.message}`);
  console.log(JSON.stringify({ errors }));
} finally {
  if (context) await context.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(errors.length ? 1 : 0);
