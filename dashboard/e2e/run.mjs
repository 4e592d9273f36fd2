// The dashboard end to end, in real Chromium against a real `sh0 serve` with real Docker
// (started by tests/dashboard.rs, which passes what it needs in the environment). Each
// step is what a person does; the run fails at the first thing that does not work, and
// prints one JSON summary line last.
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { axe, catalog, totp, visibleTexts } from './lib.mjs';

const URL_ = process.env.SH0_URL;
const TOKEN = process.env.SH0_BOOTSTRAP;
const ARCHIVE = process.env.SH0_ARCHIVE;
const BAD_ARCHIVE = process.env.SH0_BAD_ARCHIVE;
const BODY = process.env.SH0_APP_BODY;
const SHOTS = process.env.SH0_SCREENSHOTS || '';
const MODEL_URL = process.env.SH0_MODEL_URL;
const T = 90_000;
const summary = { steps: [], axe: {}, locales: {}, cross_origin: {} };
const step = (name, extra = {}) => {
  summary.steps.push(name);
  console.error(`e2e: ${name}`, Object.keys(extra).length ? JSON.stringify(extra) : '');
};
const fail = (msg) => {
  throw new Error(msg);
};

const browser = await chromium.launch({ executablePath: process.env.SH0_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const errors = [];
async function newPage(viewport = { width: 1280, height: 860 }) {
  const ctx = await browser.newContext({ viewport, locale: 'en-US' });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  // Any CSP violation or uncaught error in the app fails the run.
  page.on('console', (m) => m.type() === 'error' && !/status of 4\d\d/.test(m.text()) && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  return page;
}
const go = (page, path) => page.goto(`${URL_}${path}`);

try {
  // --- First run: the owner account, then TOTP ------------------------------------------
  const page = await newPage();
  await go(page, '/');
  await page.waitForURL(/\/login\?next=/);
  await page.getByRole('link', { name: 'Set up the owner account' }).click();
  await page.getByLabel('Bootstrap token').fill(TOKEN);
  await page.getByLabel('Your name').fill('Ada');
  await page.getByLabel('Email').fill('ada@example.test');
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Create the owner account' }).click();
  await page.waitForURL(/\/account\?welcome=1/);
  step('owner set up');
  await page.getByTestId('totp-enroll').click();
  const secret = (await page.getByTestId('totp-secret').textContent()).trim();
  await page.getByLabel('Authentication code').fill(totp(secret));
  await page.getByTestId('totp-confirm').click();
  await page.getByTestId('backup-codes').waitFor();
  step('totp enrolled');
  await page.getByTestId('sign-out').click();
  await page.waitForURL(/\/login/);
  step('signed out');

  // --- Sign in with the second factor; back where we were -------------------------------
  await go(page, '/keys');
  await page.waitForURL(/\/login\?next=%2Fkeys/);
  await page.getByLabel('Email').fill('ada@example.test');
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The code just used is refused (replay); the next step's is within the allowed skew.
  await page.getByLabel('Authentication code').fill(totp(secret, 1));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/keys$/);
  step('signed in with totp, returned to /keys');

  // --- Projects, through the command palette's generated form ---------------------------
  for (const name of ['demo', 'other']) {
    await page.keyboard.press('Control+k');
    await page.getByTestId('palette-input').fill('project_create');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/tools\/project_create$/);
    await page.getByLabel(/^name/).fill(name);
    await page.getByTestId('tool-run').click();
    await page.getByTestId('tool-result').getByText(name, { exact: true }).first().waitFor();
  }
  step('projects created from the palette');

  // --- Deploy an archive; the live build log reaches "running" --------------------------
  await go(page, '/deploy');
  await page.getByLabel('App name').fill('web');
  await page.getByLabel('Project').selectOption('demo');
  await page.getByLabel('Port').fill('8080');
  await page.getByTestId('archive-input').setInputFiles(ARCHIVE);
  await page.getByTestId('deploy-submit').click();
  await page.waitForURL(/\/apps\/web\/deployments\?d=dep_/);
  const deployment = new URL(page.url()).searchParams.get('d');
  await page.getByTestId('log-state').getByText('Finished').waitFor({ timeout: 180_000 });
  await page.locator('section[aria-label="Deployment"] [data-status="running"]').waitFor();
  const buildLog = await page.getByTestId('live-log').textContent();
  if (buildLog.trim().split('\n').length < 3) fail(`the live build log is nearly empty: ${buildLog}`);
  step('deployed, live log reached running', { deployment, log_lines: buildLog.trim().split('\n').length });

  // --- The app's URL answers -------------------------------------------------------------
  await go(page, '/apps/web');
  const appUrl = await page.getByTestId('app-url').getAttribute('href');
  const appPage = await page.context().newPage();
  await appPage.goto(appUrl);
  if (!(await appPage.content()).includes(BODY)) fail(`the app at ${appUrl} did not serve its page`);
  await appPage.close();
  step('app url serves', { url: appUrl });

  // --- An environment variable, and the redeploy it asks for -----------------------------
  await go(page, '/apps/web/env');
  await page.getByLabel('Name', { exact: true }).fill('GREETING');
  await page.getByLabel('Value', { exact: true }).fill('hello');
  await page.getByTestId('env-save').click();
  await page.waitForURL((u) => u.pathname === '/apps/web/deployments' && u.searchParams.get('d') !== deployment);
  await page.getByTestId('log-state').getByText('Finished').waitFor({ timeout: 180_000 });
  await page.locator('section[aria-label="Deployment"] [data-status="running"]').waitFor();
  await go(page, '/apps/web/env');
  await page.getByTestId('env-table').getByText('GREETING').waitFor();
  step('env var set, redeployed');

  // --- A domain ---------------------------------------------------------------------------
  await go(page, '/apps/web/domains');
  await page.getByLabel('Domain', { exact: true }).fill('web.example.test');
  await page.getByTestId('domain-add').click();
  await page.getByTestId('domains-table').getByText('web.example.test').waitFor();
  step('domain attached');

  // --- The assistant: its model set on the settings page, then a conversation -----------
  // The model is the test's scripted one (it speaks the chat-completions wire format); its
  // answers are queued by tests/dashboard.rs in the order of the messages below.
  await go(page, '/settings');
  // Server settings first: the 2FA policy as it is, a base image set and reset.
  if (await page.getByTestId('require-2fa').isChecked()) fail('the 2FA policy shows as required on a new server');
  const images = page.getByTestId('base-images');
  const staticRow = images.locator('tr[data-image="static"]');
  await staticRow.getByLabel('Image for static').fill('registry.local/busybox:1.36');
  await images.getByRole('button', { name: 'Save', exact: true }).click();
  await staticRow.getByText('Set here').waitFor();
  await staticRow.getByRole('button', { name: 'Reset' }).click();
  await staticRow.getByText("sh0's default").waitFor();
  if ((await staticRow.getByLabel('Image for static').inputValue()) !== 'busybox:stable') fail('a reset base image does not show the default again');
  step('server settings: base image set and reset');
  const aiForm = page.locator('form[aria-labelledby="ai-h"]');
  await aiForm.getByLabel('Endpoint (OpenAI-compatible)').fill(MODEL_URL);
  await aiForm.getByLabel('Model', { exact: true }).fill('scripted');
  await aiForm.getByRole('button', { name: 'Save' }).click();
  await aiForm.getByText('Configured (from settings).').waitFor();
  await page.getByTestId('open-assistant').click();
  const panel = page.getByTestId('assistant');
  const ask = async (text) => {
    await panel.getByLabel('Message the assistant').fill(text);
    await panel.getByRole('button', { name: 'Send' }).click();
  };
  const card = (tool, status) => panel.getByTestId('tool-card').filter({ hasText: tool }).locator(`[data-status="${status}"]`);
  // A read runs at once, as a card, and the answer streams in.
  await ask('What apps do I have?');
  await card('app_list', 'done').waitFor();
  await panel.getByText('You have one app: web.').waitFor();
  // A change waits for Approve.
  await ask('Set FROM_ASSISTANT=1 on web');
  await panel.getByTestId('approval').getByText('env_set').waitFor();
  await panel.getByTestId('approval').getByRole('button', { name: 'Approve' }).click();
  await card('env_set', 'done').waitFor();
  await panel.getByText('FROM_ASSISTANT is set on web.').waitFor();
  // A destructive one also asks for its target's name to be typed.
  await ask('Remove it again');
  const destructive = panel.getByTestId('approval');
  const approveTyped = destructive.getByRole('button', { name: 'Approve' });
  if (await approveTyped.isEnabled()) fail('a destructive approval is possible before the name is typed');
  await destructive.getByTestId('confirm-input').fill('FROM_ASSISTANT');
  await approveTyped.click();
  await card('env_unset', 'done').waitFor();
  await panel.getByText('Removed FROM_ASSISTANT.').waitFor();
  // Declined: nothing runs, the model is told.
  await ask('Stop web');
  await panel.getByTestId('approval').getByRole('button', { name: 'Decline' }).click();
  await card('app_stop', 'declined').waitFor();
  await panel.getByText('Understood, web keeps running.').waitFor();
  if (await panel.getByTestId('approval').count()) fail('an approval is still pending');
  const cards = await panel.getByTestId('tool-card').locator('[data-status]').evaluateAll((els) => els.map((e) => e.dataset.status));
  if (cards.join(',') !== 'done,done,done,declined') fail(`the tool cards are ${cards}: one per call, each with its outcome`);
  const found = await axe(page);
  if (found.length) fail(`axe with the assistant open: ${JSON.stringify(found, null, 1)}`);
  if (SHOTS) {
    // The page and the conversation from their tops: the question, the cards, the answers.
    await page.evaluate(() => {
      window.scrollTo(0, 0);
      document.querySelector('[data-testid="assistant"] ol')?.scrollTo(0, 0);
    });
    await page.screenshot({ path: `${SHOTS}/assistant-light.png` });
  }
  await panel.getByRole('button', { name: 'Close the assistant' }).click();
  step('assistant: a read ran, a change approved, a destructive one typed and approved, one declined');

  // --- A deployment that fails: the previous version serves on, the diagnosis shows -----
  await go(page, '/deploy?app=web');
  await page.getByTestId('archive-input').setInputFiles(BAD_ARCHIVE);
  await page.getByTestId('deploy-submit').click();
  await page.waitForURL(/\/apps\/web\/deployments\?d=dep_/);
  await page.getByTestId('log-state').getByText('Finished').waitFor({ timeout: 180_000 });
  await page.locator('section[aria-label="Deployment"] [data-status="failed"]').waitFor();
  await go(page, '/apps/web');
  const diagnosis = page.getByTestId('diagnosis');
  await diagnosis.waitFor();
  const report = (await diagnosis.textContent()).replace(/\s+/g, ' ').trim();
  if (!report.includes('exit 3')) fail(`the diagnosis does not show what failed: ${report}`);
  const still = await page.context().newPage();
  await still.goto(appUrl);
  if (!(await still.content()).includes(BODY)) fail('the previous version stopped serving after a failed deployment');
  await still.close();
  step('failed deployment: diagnosis on the app page, previous version serving', { diagnosis: report.slice(0, 120) });

  // --- A read-only key, shown once ------------------------------------------------------
  await go(page, '/keys');
  await page.getByLabel('Name', { exact: true }).fill('read only');
  await page.getByLabel('Scope').selectOption('read');
  await page.getByTestId('key-create').click();
  const key = (await page.getByTestId('new-key-value').textContent()).trim();
  if (!key.startsWith('sh0_')) fail(`the new key is not shown: ${key}`);
  step('read-only key created');

  // --- Invitations: a developer of one project, a viewer ---------------------------------
  async function invite(email, role, project) {
    await go(page, '/users');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Role', { exact: true }).selectOption(role);
    if (project) await page.getByRole('checkbox', { name: project, exact: true }).check();
    await page.getByTestId('invite-submit').click();
    return (await page.getByTestId('invite-url').textContent()).trim();
  }
  async function accept(link, name) {
    const p = await newPage();
    await p.goto(link);
    await p.getByLabel('Your name').fill(name);
    await p.getByLabel('Password').fill(`${name} has a long password`);
    await p.getByRole('button', { name: 'Create my account' }).click();
    await p.waitForURL((u) => u.pathname === '/');
    return p;
  }
  const dev = await accept(await invite('dev@example.test', 'developer', 'demo'), 'dev');
  await dev.getByTestId('apps-table').getByText('web', { exact: true }).waitFor();
  const devProjects = await dev.locator('section[aria-labelledby="projects-h"] li a').allTextContents();
  if (devProjects.join(',') !== 'demo') fail(`the developer sees projects ${devProjects}`);
  step('developer sees only their project', { projects: devProjects });
  const viewer = await accept(await invite('viewer@example.test', 'viewer', 'demo'), 'viewer');
  await viewer.keyboard.press('Control+k');
  await viewer.getByTestId('palette-input').waitFor();
  const offered = await viewer.locator('#palette-list [data-tool]').evaluateAll((els) => els.map((e) => e.getAttribute('data-tool')));
  const catalogOf = await viewer.evaluate(async () => (await (await fetch('/api/v1/tools')).json()).tools);
  const byName = Object.fromEntries(catalogOf.map((t) => [t.name, t]));
  const tools = offered.filter((n) => n in byName);
  // A viewer changes nothing of the platform: every tool offered is a read, or one on their
  // own account (their sessions, second factor, keys, conversations, schedules and jobs).
  const own = new Set(['account', 'chat', 'keys_manage', 'jobs_write']);
  const writes = tools.filter((n) => byName[n].safety !== 'read' && (byName[n].min_role !== 'viewer' || !own.has(byName[n].permission)));
  const missing = ['app_list', 'deployment_list'].filter((n) => !tools.includes(n));
  if (tools.length !== catalogOf.length || writes.length > 0 || tools.includes('app_delete') || missing.length)
    fail(`the viewer's palette offers ${tools.length}/${catalogOf.length} tools; platform writes: ${writes}`);
  step('viewer palette: reads and own-account tools only', { tools: tools.length, own_account: tools.filter((n) => byName[n].safety !== 'read').length });
  await viewer.keyboard.press('Escape');

  // --- Cross-origin: a CSRF attempt and a WebSocket to the log stream are refused -------
  const evil = createServer((_, res) => res.end('<!doctype html><title>elsewhere</title>'));
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  const evilPage = await page.context().newPage();
  await evilPage.goto(`http://127.0.0.1:${evil.address().port}/`);
  const target = URL_.replace('127.0.0.1', 'localhost');
  summary.cross_origin = await evilPage.evaluate(
    async ({ target, deployment }) => {
      const post = await fetch(`${target}/api/v1/tools/project_create`, {
        method: 'POST',
        mode: 'no-cors',
        credentials: 'include',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify({ name: 'evil' })
      }).then(() => 'sent', (e) => `blocked: ${e}`);
      const ws = await new Promise((resolve) => {
        const s = new WebSocket(`${target.replace('http', 'ws')}/api/v1/deployments/${deployment}/logs/ws`);
        let got = 0;
        s.onmessage = () => got++;
        s.onerror = () => resolve({ opened: false, messages: got });
        s.onopen = () => setTimeout(() => resolve({ opened: true, messages: got }), 1000);
      });
      return { post, ws };
    },
    { target, deployment }
  );
  evil.close();
  await evilPage.close();
  if (summary.cross_origin.ws.opened) fail(`a cross-site WebSocket to the log stream opened: ${JSON.stringify(summary.cross_origin)}`);
  step('cross-origin websocket refused', summary.cross_origin);

  // --- Accessibility (both themes), languages, screenshots, phone width -----------------
  const pages = ['/', '/projects/demo', '/apps/web', '/apps/web/deployments', '/apps/web/logs', '/apps/web/env', '/apps/web/domains', '/apps/web/traffic', '/apps/web/settings', '/deploy', '/keys', '/users', '/audit', '/settings', '/account', '/tools/app_list'];
  // A page is ready when the shell is there and nothing is loading any more.
  const settle = (p) =>
    p.waitForFunction(() => document.querySelector('main') && !document.querySelector('[aria-busy="true"]'), null, { timeout: 15_000 }).catch(() => {});
  const publicPage = await newPage();
  await go(publicPage, '/login');
  for (const theme of ['light', 'dark']) {
    // The theme is read when a page loads: remember it, then visit each page.
    for (const p of [page, publicPage]) await p.evaluate((t) => localStorage.setItem('sh0.theme', t), theme);
    for (const [p, path] of [...pages.map((x) => [page, x]), [publicPage, '/login'], [publicPage, '/setup']]) {
      await go(p, path);
      await settle(p);
      const found = await axe(p);
      summary.axe[`${theme} ${path}`] = found.length;
      if (found.length) fail(`axe on ${path} (${theme}): ${JSON.stringify(found, null, 1)}`);
      if (SHOTS && ['/', '/apps/web/deployments', '/apps/web', '/keys', '/login'].includes(path)) {
        mkdirSync(SHOTS, { recursive: true });
        await p.screenshot({ path: `${SHOTS}/${path === '/' ? 'overview' : path.slice(1).replaceAll('/', '-')}-${theme}.png` });
      }
    }
  }
  step('axe: no serious or critical violations', { pages: Object.keys(summary.axe).length });
  await page.evaluate(() => localStorage.removeItem('sh0.theme'));

  const en = catalog('en');
  for (const locale of ['fr', 'es', 'pt', 'sw']) {
    const messages = catalog(locale);
    // English texts that this locale says differently: none may be on its pages.
    const english = new Set(Object.keys(en).filter((k) => messages[k] !== en[k] && !en[k].includes('{')).map((k) => en[k]));
    const keys = new Set(Object.keys(en));
    for (const p of [page, publicPage]) await p.evaluate((l) => localStorage.setItem('sh0.locale', l), locale);
    let checked = 0;
    for (const [p, path] of [...pages.map((x) => [page, x]), [publicPage, '/login'], [publicPage, '/setup']]) {
      await go(p, path);
      await settle(p);
      for (const text of await visibleTexts(p)) {
        if (keys.has(text)) fail(`${locale} ${path}: a message key is shown raw: ${text}`);
        if (english.has(text)) fail(`${locale} ${path}: untranslated English: "${text}"`);
        checked++;
      }
    }
    summary.locales[locale] = checked;
  }
  await page.evaluate(() => localStorage.removeItem('sh0.locale'));
  step('every locale: no raw keys, no untranslated English', summary.locales);

  const phone = await newPage({ width: 360, height: 740 });
  await phone.context().addCookies(await page.context().cookies());
  for (const path of pages) {
    await go(phone, path);
    await settle(phone);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) {
      // Name the innermost elements that stick out, so that the failure says what to fix.
      const culprits = await phone.evaluate(() =>
        [...document.querySelectorAll('body *')]
          .filter((e) => {
            // Sticking out: its box, or its content past a box that does not scroll.
            const spills = (x) => getComputedStyle(x).overflowX === 'visible' && x.scrollWidth > x.clientWidth + 1;
            const out = (x) => x.getBoundingClientRect().right > window.innerWidth + 1 || spills(x);
            let a = e.parentElement;
            while (a && getComputedStyle(a).overflowX === 'visible') a = a.parentElement;
            const clipped = a && a !== document.body && a !== document.documentElement;
            return out(e) && !clipped && ![...e.children].some(out);
          })
          .slice(0, 5)
          .map((e) => `<${e.tagName.toLowerCase()} class="${e.className}">${(e.textContent ?? '').slice(0, 60)}`)
      );
      fail(`${path} is ${overflow}px wider than a 360px phone: ${culprits.join(' | ')}`);
    }
  }
  step('usable at 360px');

  // --- Delete the app by typing its name; verify the audit chain -------------------------
  await go(page, '/apps/web/settings');
  await page.getByTestId('confirm-input').fill('web');
  await page.getByRole('button', { name: 'Delete app' }).click();
  await page.waitForURL((u) => u.pathname === '/');
  await page.getByText('No apps yet').waitFor();
  step('app deleted by typing its name');
  await go(page, '/audit');
  await page.getByTestId('audit-verify').click();
  const verdict = await page.getByTestId('audit-verified').textContent();
  if (!verdict.includes('intact')) fail(`audit verification: ${verdict}`);
  step('audit chain verified', { verdict: verdict.trim() });

  if (errors.length) fail(`errors in the browser console: ${errors.join(' | ')}`);
  summary.ok = true;
} catch (e) {
  summary.ok = false;
  summary.error = String(e?.stack ?? e);
  summary.console = errors;
  process.exitCode = 1;
  // What the page looked like when it failed.
  for (const [i, p] of browser.contexts().flatMap((c) => c.pages()).entries()) {
    await p.screenshot({ path: `${SHOTS || '/tmp'}/failure-${i}.png` }).catch(() => {});
    summary[`failure_${i}_url`] = p.url();
  }
} finally {
  await browser.close();
  console.log(JSON.stringify(summary));
}
