// For `cargo bench --bench dashboard`: time from navigation to the overview showing its 50
// apps, against a bare fetch of the same REST call from the same page (median of 15 each).
import { chromium } from 'playwright-core';

const URL_ = process.env.SH0_URL;
const browser = await chromium.launch({ executablePath: process.env.SH0_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await (await browser.newContext()).newPage();
await page.goto(`${URL_}/setup`);
await page.getByLabel('Bootstrap token').fill(process.env.SH0_BOOTSTRAP);
await page.getByLabel('Email').fill('bench@example.test');
await page.getByLabel('Password').fill('a long bench password');
await page.getByRole('button', { name: 'Create the owner account' }).click();
await page.waitForURL(/\/account/);
const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
const pageMs = [];
const fetchMs = [];
for (let i = 0; i < 15; i++) {
  const t = Date.now();
  await page.goto(`${URL_}/`);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="apps-table"] tbody tr').length === 50);
  pageMs.push(Date.now() - t);
  fetchMs.push(await page.evaluate(async () => {
    const t0 = performance.now();
    await (await fetch('/api/v1/apps')).json();
    return performance.now() - t0;
  }));
}
const p = median(pageMs);
const f = median(fetchMs);
console.log(`overview: navigation to 50 apps shown ${p.toFixed(0)} ms vs the bare GET /api/v1/apps from the page ${f.toFixed(1)} ms (${(p / f).toFixed(1)}x)`);
await browser.close();
