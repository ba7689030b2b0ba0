/**
 * The web follow-up form in a real browser (Debian's chromium through playwright-core): on a
 * completed task's page, send feedback; intake starts round 2 and the page shows it live.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { runUp } from '../src/app/up.js';
import { completedDevTask, startFixture } from './support/web-harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
test('browser: the follow-up form on a completed task starts round 2, shown live', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  const f = await startFixture();
  t.after(() => f.close());
  const id = await completedDevTask(f.ws, 'Fix the cart');
  const up = await runUp(f.ws, { only: ['intake'] });
  t.after(() => up.stop());
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await page.goto(f.web.openUrl);
  await page.goto(`${f.web.url}tasks/${id}`);
  await page.locator('#live.on').waitFor();
  assert.equal(await page.locator('#task-state').textContent(), 'completed');
  await page.fill('#follow-up textarea[name=text]', 'Also empty the cart on logout.');
  await page.click('#follow-up button:has-text("Start round 2")');
  await page.locator('#task-round', { hasText: 'round 2' }).waitFor({ timeout: 15_000 });
  await page.locator('#task-state', { hasText: 'planning' }).waitFor();
  const view = await f.ws.task(id);
  assert.equal(view.dev.round, 2);
  assert.equal(view.dev.rounds[1]!.feedback, 'Also empty the cart on logout.');
  assert.equal(await page.locator('#follow-up').count(), 0, 'the form is gone once the round started');
  assert.deepEqual(pageErrors, []);
});
