// For `cargo bench --bench dashboard`: time from navigation to the overview showing its 50
// apps, against a bare fetch of the same REST call from the same page (median of 15 each);
// then the layout shift while each main page loads (Cumulative Layout Shift, summed by the
// browser's own `layout-shift` entries: the "no layout jump" of the pages, as a figure).
import { chromium } from 'playwright-core';

const URL_ = process.env.SH0_URL;
const browser = await chromium.launch({ executablePath: process.env.SH0_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
// Every page sums its layout shifts from its first paint on.
await context.addInitScript(() => {
  window.__cls = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
  }).observe({ type: 'layout-shift', buffered: true });
});
const page = await context.newPage();
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

const shifts = [];
for (const path of ['/', '/projects/bench', '/apps/app-00', '/apps/app-00/deployments', '/apps/app-00/env', '/keys', '/users', '/audit', '/settings', '/tools/app_list']) {
  await page.goto(`${URL_}${path}`);
  await page.waitForFunction(() => document.querySelector('main') && !document.querySelector('[aria-busy="true"]'));
  await page.waitForTimeout(1000);
  shifts.push([path, await page.evaluate(() => window.__cls)]);
}
const worst = shifts.reduce((a, b) => (b[1] > a[1] ? b : a));
console.log(`layout shift while loading (CLS, 0 is none; Web Vitals call below 0.1 good): worst ${worst[1].toFixed(3)} on ${worst[0]}; ${shifts.map(([p, v]) => `${p} ${v.toFixed(3)}`).join(', ')}`);
await browser.close();
