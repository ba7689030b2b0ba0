import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startWeb } from '../src/adapters/web/index.js';
import { FIXER_REPLIES, makePipeline, PLANNER_REPLIES, startLoops, taskCommits } from './support/pipeline-harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** No CLI and no simulated records: the browser drives the real loops from submission to branch link. */
test('browser drives the real pipeline: submit, live plan v1, approve, green tests, branch link', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES } });
  const loops = await startLoops(p);
  t.after(() => loops.stop());
  const web = await startWeb(p.ws, { port: 0, token: 'pipeline-token-0123456789' });
  t.after(() => web.stop());
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  t.after(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();

  await page.goto(web.openUrl);
  await page.fill('input[name=repo]', 'sample');
  await page.fill('input[name=title]', 'Fix add() so the tests pass');
  await page.fill('textarea[name=description]', 'add(2, 3) should be 5.');
  await page.click('button:has-text("Submit task")');
  const row = page.locator('#tasks li.task', { hasText: 'Fix add() so the tests pass' });
  await row.waitFor({ timeout: 15_000 });
  const id = (await row.getAttribute('data-id'))!;
  await row.locator('a').click();

  // The planner's plan appears without a reload; nothing runs before the click.
  await page.locator('#task-state', { hasText: 'planned' }).waitFor({ timeout: 20_000 });
  await page.locator('#plan .md li', { hasText: 'src/math.js' }).first().waitFor();
  assert.equal((await p.ws.task(id)).dev.execution, undefined, 'no execution before approval');

  await page.click('#approve');
  await page.locator('#task-state', { hasText: 'completed' }).waitFor({ timeout: 45_000 });
  const link = await page.locator('#branch-link').getAttribute('href');
  assert.equal(link, `${p.remote}#task/${id}`);
  assert.equal(taskCommits(p, id).length, 1, 'one commit on task/<id> in the remote');
  const view = await p.ws.task(id);
  assert.deepEqual(view.dev.testRuns.map((r) => r.passed), [false, true], 'a red run, a fix, a green run');
  assert.match((await page.locator('#changes').textContent())!, /return a \+ b;/);
});
