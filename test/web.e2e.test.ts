import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { runUp } from '../src/app/up.js';
import { append, newDevTask, proposePlan, startFixture, waitFor } from './support/web-harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const SCREENSHOT = '/tmp/orchestra-web-phone.png';

async function launch(t: { after: (fn: () => unknown) => void }): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  t.after(() => browser.close());
  return browser;
}

test('browser: submit, live plan, approve, completion with branch link; phone-sized', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  const f = await startFixture();
  t.after(() => f.close());
  const up = await runUp(f.ws, { only: ['intake'] });
  t.after(() => up.stop());
  const browser = await launch(t);
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(msg.text()); });

  // opening with the token sets the cookie and drops the token from the address
  await page.goto(f.web.openUrl);
  assert.equal(page.url(), f.web.url);
  await page.locator('#live.on').waitFor();
  await page.evaluate(() => { (window as unknown as { stay: boolean }).stay = true; });

  // submit a task through the form: intake records it and it appears in the list live
  await page.fill('input[name=repo]', 'shop');
  await page.fill('input[name=title]', 'Add a <b>health</b> endpoint');
  await page.fill('textarea[name=description]', 'GET /health returns **200** and the version.');
  await page.fill('input[name=test]', 'npm test');
  await page.click('button:has-text("Submit task")');
  await page.locator('form [data-notice]:has-text("Task submitted")').waitFor();
  const row = page.locator('#tasks li.task', { hasText: 'Add a <b>health</b> endpoint' });
  await row.waitFor({ timeout: 10_000 });
  assert.equal(await row.locator('.badge').textContent(), 'planning');
  assert.equal(await page.evaluate(() => (window as unknown as { stay?: boolean }).stay), true, 'no page reload');
  const id = (await row.getAttribute('data-id'))!;
  assert.equal((await f.ws.task(id)).fields.test, 'npm test');

  // the task page: the planner's plan appears live, rendered from Markdown
  await row.locator('a').click();
  await page.waitForURL(`${f.web.url}tasks/${id}`);
  await page.locator('#live.on').waitFor();
  assert.equal(await page.locator('#task-title').textContent(), 'Add a <b>health</b> endpoint');
  await page.evaluate(() => { (window as unknown as { stay: boolean }).stay = true; });
  await proposePlan(f.ws, id, 1, '# Health endpoint\n\n1. Add the route\n2. Test it\n\n<script>alert(1)</script>\n');
  await page.locator('#plan .md h1', { hasText: 'Health endpoint' }).waitFor();
  assert.equal(await page.locator('#task-state').textContent(), 'planned');
  assert.equal(await page.locator('#plan .md ol li').count(), 2);
  assert.equal(await page.locator('#plan script').count(), 0, 'raw HTML is not interpreted');
  assert.equal(await page.evaluate(() => (window as unknown as { stay?: boolean }).stay), true, 'no page reload');

  // Approve v1: an approve command is written, intake applies it, the page follows
  await page.click('#approve');
  await page.locator('#task-state', { hasText: 'approved' }).waitFor();
  const view = await f.ws.task(id);
  assert.equal(view.dev.approvedVersion, 1);
  assert.match(JSON.stringify(view.causes), /[0-9A-Z]{26}/);

  // simulate execution and publishing: test output, diff, usage, the pushed branch
  const executor = { kind: 'loop' as const, name: 'executor' };
  const out = await f.ws.writeTaskFile(id, 'test-run-1.txt', '> npm test\n\n  ✓ health returns 200\n\n1 passing\n');
  const diff = await f.ws.writeTaskFile(id, 'final.diff', 'diff --git a/src/app.js b/src/app.js\n--- a/src/app.js\n+++ b/src/app.js\n@@ -1,2 +1,3 @@\n const app = express();\n+app.get("/health", (req, res) => res.json({ ok: true }));\n-// todo\n');
  await append(f.ws, id, [
    { type: 'task.moved', data: { from: 'approved', to: 'executing' } },
    { type: 'exec.started', data: { worktree: '/tmp/wt', branch: 'orchestra/health', base: 'main', baseCommit: 'a1b2c3d4e5f6', planVersion: 1 } },
  ], executor);
  await append(f.ws, id, [
    { type: 'model.called', data: { role: 'executor', inputTokens: 12000, outputTokens: 800, costUsd: 0.0123 } },
    { type: 'tests.ran', data: { run: 1, passed: true, exitCode: 0, timedOut: false, durationMs: 2300, file: out } },
    { type: 'exec.finished', data: { summary: 'Added `/health`.', diffStat: ' src/app.js | 2 +-\n 1 file changed', diffFile: diff } },
    { type: 'git.committed', data: { sha: '9f8e7d6c5b4a39281706', message: 'Add health endpoint' } },
    { type: 'task.moved', data: { from: 'executing', to: 'publishing' } },
  ], executor);
  const link = 'https://git.example.com/shop/compare/main...orchestra/health';
  await append(f.ws, id, [
    { type: 'git.pushed', data: { remote: 'origin', branch: 'orchestra/health', sha: '9f8e7d6c5b4a39281706', link } },
    { type: 'task.moved', data: { from: 'publishing', to: 'completed' } },
  ], { kind: 'loop', name: 'publisher' });
  await page.locator('#branch-link').waitFor();
  assert.equal(await page.locator('#branch-link').getAttribute('href'), link);
  assert.equal(await page.locator('#task-state').textContent(), 'completed');
  assert.match((await page.locator('#usage').textContent())!, /\$0\.0123/);
  await page.locator('#execution details.run summary').click();
  assert.match((await page.locator('#execution pre.out').textContent())!, /1 passing/);
  assert.deepEqual([await page.locator('#changes .d-add').count(), await page.locator('#changes .d-del').count()], [1, 1]);
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= 390, `no sideways scrolling on a phone (page is ${scrollWidth}px wide)`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: SCREENSHOT });
  assert.deepEqual(pageErrors, [], 'no script errors or CSP violations');

  // the same page from a same-site but cross-origin page: the POST is refused (Origin), nothing is written
  const evil = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<form id="f" method="post" action="${f.web.url}tasks/${id}/retry"><input name="replan" value="true"></form><script>document.getElementById('f').submit()</script>`);
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  t.after(() => evil.close());
  const refused = page.waitForResponse((r) => r.url().endsWith(`/tasks/${id}/retry`));
  await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
  assert.equal((await refused).status(), 403);
  await page.goto(`${f.web.url}tasks/${id}`);
  const status = await page.evaluate(async (taskId) => (await fetch(`/tasks/${taskId}/abort`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'reason=x' })).status, id);
  assert.equal(status, 403, 'a same-origin POST without the CSRF token is refused');
  assert.deepEqual(readdirSync(f.ws.paths.inbox).filter((n) => n.endsWith('.json')), []);

  // without the token: 401
  const stranger = await browser.newContext();
  const response = await (await stranger.newPage()).goto(`${f.web.url}tasks/${id}`);
  assert.equal(response!.status(), 401);
  await stranger.close();
  await waitFor('refusals recorded', async () => (await f.ws.readStream('audit')).records.length > 0);
});

test('browser: the no-up banner follows orchestra up live; live rows show repo, needs you, cost and running time', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  const f = await startFixture();
  t.after(() => f.close());
  const browser = await launch(t);
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true })).newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(f.web.openUrl);
  await page.locator('#live.on').waitFor();
  const banner = page.locator('#no-up');
  assert.equal(await banner.isVisible(), true, 'no up: the banner shows');
  assert.match((await banner.textContent())!, /No orchestra up is running: submitted tasks wait in the inbox\. Start it with orchestra up\./);

  // a task created meanwhile arrives live with its repo; its plan makes it "need you"
  const id = await newDevTask(f.ws, 'Live row');
  const row = page.locator(`#tasks li[data-id="${id}"]`);
  await row.locator('.t-repo', { hasText: '/tmp/repo' }).waitFor();
  await append(f.ws, id, [{ type: 'model.called', data: { role: 'planner', inputTokens: 1, outputTokens: 1, costUsd: 0.0123 } }]);
  await proposePlan(f.ws, id, 1, '# Plan\n');
  await row.locator('.needs-you').waitFor();
  assert.equal(await row.locator('.t-cost').textContent(), '$0.0123');
  await append(f.ws, id, [{ type: 'plan.approved', data: { version: 1 } }, { type: 'task.moved', data: { from: 'planned', to: 'approved' } }]);
  await append(f.ws, id, [
    { type: 'exec.started', data: { worktree: '/tmp/wt', branch: 'b', base: 'main', baseCommit: 'abc', planVersion: 1 } },
    { type: 'task.moved', data: { from: 'approved', to: 'executing' } },
  ], { kind: 'loop', name: 'executor' });
  const running = row.locator('.elapsed');
  await running.waitFor();
  assert.equal(await row.locator('.needs-you').count(), 0);
  const first = await running.textContent();
  await waitFor('the running time ticks', async () => (await running.textContent()) !== first, 4000);

  // orchestra up starts: the banner goes away without a reload, and comes back when it stops
  const up = await runUp(f.ws, { only: ['intake'] });
  t.after(() => up.stop());
  await banner.waitFor({ state: 'hidden', timeout: 8000 });
  await up.stop();
  await banner.waitFor({ state: 'visible', timeout: 8000 });
  assert.deepEqual(pageErrors, []);
});
