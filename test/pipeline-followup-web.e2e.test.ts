/**
 * The web follow-up form in a real browser (Debian's chromium through playwright-core): on a
 * completed task's page, send feedback; intake starts round 2 and the page shows it live.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { runUp } from '../src/app/up.js';
import type { StoredEvent } from '../src/core/record.js';
import { append, newDevTask, proposePlan, startFixture } from './support/web-harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const moved = (from: string, to: string): StoredEvent => ({ type: 'task.moved', data: { from, to } });

test('browser: the follow-up form on a completed task starts round 2, shown live', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  const f = await startFixture();
  t.after(() => f.close());
  const id = await newDevTask(f.ws, 'Fix the cart');
  await proposePlan(f.ws, id, 1, '# Plan v1\n');
  await append(f.ws, id, [{ type: 'plan.approved', data: { version: 1 } }, moved('planned', 'approved')]);
  await append(f.ws, id, [{ type: 'exec.started', data: { worktree: '/tmp/wt', branch: `task/${id}`, base: 'main', baseCommit: 'a'.repeat(40), planVersion: 1 } }, moved('approved', 'executing')]);
  await append(f.ws, id, [{ type: 'exec.finished', data: { summary: 'fixed' } }, moved('executing', 'publishing')]);
  await append(f.ws, id, [{ type: 'git.pushed', data: { remote: '/r.git', branch: `task/${id}`, sha: 'b'.repeat(40), link: '/r.git#x' } }, moved('publishing', 'completed')]);
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
