import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { runUp } from '../src/app/up.js';
import { presenceDir, runningUps, startPresence } from '../src/core/presence.js';
import { formatUsd } from '../src/core/text-sanitize.js';
import { renderStatus } from '../src/adapters/telegram/format.js';
import { append, http, newDevTask, proposePlan, startFixture, TOKEN, waitFor } from './support/web-harness.js';

const auth = { authorization: `Bearer ${TOKEN}` };
const BANNER = /<p id="no-up" class="banner" role="alert"( hidden)?>No orchestra up is running: submitted tasks wait in the inbox\. Start it with <code>orchestra up<\/code>\.<\/p>/;
const bannerShown = (body: string) => {
  const m = BANNER.exec(body);
  assert.ok(m, 'the banner is on the page');
  return m[1] === undefined;
};

/** Reads SSE frames until `until` matches the text so far. */
function sse(url: string, until: (text: string) => boolean, ms = 8000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const req = httpRequest(url, { headers: auth }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (until(text)) { req.destroy(); resolve(text); }
      });
    });
    const timer = setTimeout(() => { req.destroy(); reject(new Error(`no match in: ${text}`)); }, ms);
    req.on('close', () => clearTimeout(timer));
    req.on('error', () => undefined);
    req.end();
  });
}

test('presence: up writes .orchestra/up/<host>-<pid>.json while it runs; stale files do not count', async (t) => {
  const f = await startFixture();
  t.after(() => f.close());
  assert.deepEqual(await runningUps(f.ws.paths), []);
  const up = await runUp(f.ws, { only: ['intake'] });
  const [me] = await runningUps(f.ws.paths);
  assert.ok(me, 'a fresh presence file');
  assert.deepEqual([me.pid, me.loops], [process.pid, ['intake']]);
  assert.ok(existsSync(join(presenceDir(f.ws.paths), `${me.host}-${process.pid}.json`)));
  await up.stop();
  assert.deepEqual(await runningUps(f.ws.paths), [], 'removed at stop');

  // a file left by a killed process: stale after three of its intervals
  mkdirSync(presenceDir(f.ws.paths), { recursive: true });
  const old = new Date(Date.now() - 16_000).toISOString();
  writeFileSync(join(presenceDir(f.ws.paths), 'gone-1.json'), JSON.stringify({ host: 'gone', pid: 1, loops: ['intake'], startedAt: old, at: old, intervalMs: 5000 }));
  writeFileSync(join(presenceDir(f.ws.paths), 'junk-2.json'), '{not json');
  assert.deepEqual(await runningUps(f.ws.paths), []);
  assert.equal((await runningUps(f.ws.paths, Date.now() - 10_000)).length, 1, 'fresh within 15 s');
});

test('banner: shown while no up runs intake, hidden while one does, updated live over SSE', async (t) => {
  const f = await startFixture();
  t.after(() => f.close());
  // web's own hub polls every 2 s by default: a fast one for this test
  const { startWeb } = await import('../src/adapters/web/index.js');
  const web = await startWeb(f.ws, { port: 0, token: TOKEN, presencePollMs: 100 });
  t.after(() => web.stop());

  assert.equal(bannerShown((await http(web.url, { headers: auth })).body), true);
  const id = await newDevTask(f.ws, 'A task');
  assert.equal(bannerShown((await http(`${web.url}tasks/${id}`, { headers: auth })).body), true, 'on the task page too');

  // an up that runs only the web loop does not take up the inbox
  const webOnly = await startPresence(f.ws.paths, ['web'], { intervalMs: 100 });
  assert.equal(bannerShown((await http(web.url, { headers: auth })).body), true);
  await webOnly.stop();

  const first = await sse(`${web.url}events`, (s) => s.includes('event: presence'));
  assert.match(first, /event: snapshot[\s\S]*event: presence\ndata: \{"up":false\}/);

  const waiting = sse(`${web.url}events`, (s) => s.includes('{"up":true}'));
  await new Promise((r) => setTimeout(r, 300));
  const presence = await startPresence(f.ws.paths, ['intake', 'planner'], { intervalMs: 100 });
  assert.match(await waiting, /event: presence\ndata: \{"up":true\}/, 'pushed to an open page');
  assert.equal(bannerShown((await http(web.url, { headers: auth })).body), false);

  const again = sse(`${web.url}events`, (s) => s.includes('{"up":false}') && s.lastIndexOf('{"up":false}') > s.indexOf('{"up":true}'));
  await new Promise((r) => setTimeout(r, 300));
  await presence.stop();
  await again;
  assert.equal(bannerShown((await http(web.url, { headers: auth })).body), true);
});

test('task list: repo, cost, needs you and running time; the same cost as Telegram; Approve after the plan', async (t) => {
  const f = await startFixture();
  t.after(() => f.close());
  const id = await newDevTask(f.ws, 'Add a flag', 'Add a --verbose flag.');
  await append(f.ws, id, [{ type: 'model.called', data: { role: 'planner', inputTokens: 100, outputTokens: 10, costUsd: 0.00421 } }]);
  await proposePlan(f.ws, id, 1, '# The plan\n\n1. edit\n');

  const [summary] = JSON.parse((await http(`${f.web.url}api/tasks`, { headers: auth })).body);
  assert.equal(summary.repo, '/tmp/repo');
  assert.equal(summary.cost, '$0.0042');
  assert.equal(summary.needsYou, true);
  assert.equal(summary.runningSince, undefined);
  const list = (await http(f.web.url, { headers: auth })).body;
  const row = /<li class="task"[\s\S]*?<\/li>/.exec(list)![0];
  assert.match(row, /<span class="badge needs-you">needs you<\/span><span class="badge s-planned">planned<\/span>/);
  assert.match(row, /<span class="t-repo">\/tmp\/repo<\/span> · plan v1 · <span class="t-cost">\$0\.0042<\/span>/);

  // the task page: the plan first, then Approve
  let page = (await http(`${f.web.url}tasks/${id}`, { headers: auth })).body;
  assert.ok(page.indexOf('id="plan"') < page.indexOf('id="approve"'), 'Approve comes after the plan');
  assert.match(page, /href="#actions">needs you/);
  assert.equal((await f.ws.task(id)).dev.usage.costUsd, 0.00421);
  assert.ok(renderStatus(await f.ws.task(id)).includes(`Model cost: ${formatUsd(0.00421)} (1 model call)`), 'Telegram shows the same figure');
  assert.match(page, /<dt>Cost<\/dt><dd>\$0\.0042<\/dd>/);

  // executing: running time and cost so far, in the list and on the page
  await append(f.ws, id, [{ type: 'plan.approved', data: { version: 1 } }, { type: 'task.moved', data: { from: 'planned', to: 'approved' } }]);
  await append(f.ws, id, [
    { type: 'exec.started', data: { worktree: '/tmp/wt', branch: 'orchestra/flag', base: 'main', baseCommit: 'abc', planVersion: 1 } },
    { type: 'task.moved', data: { from: 'approved', to: 'executing' } },
    { type: 'model.called', data: { role: 'executor', inputTokens: 100, outputTokens: 10, costUsd: 1.5 } },
  ], { kind: 'loop', name: 'executor' });
  const [running] = JSON.parse((await http(`${f.web.url}api/tasks`, { headers: auth })).body);
  assert.equal(running.cost, '$1.50');
  assert.equal(running.needsYou, false);
  assert.match(running.runningSince, /^\d{4}-/);
  assert.match((await http(f.web.url, { headers: auth })).body, /running <span class="elapsed" data-since="[^"]+">\d+ s<\/span> · <span class="t-cost">\$1\.50<\/span>/);
  page = (await http(`${f.web.url}tasks/${id}`, { headers: auth })).body;
  assert.match(page, /<p id="running" class="running">Running for <span class="elapsed" data-since="[^"]+">\d+ s<\/span> · cost so far <span class="cost">\$1\.50<\/span><\/p>/);
  assert.ok(page.indexOf('id="actions"') < page.indexOf('id="plan"'), 'without a plan to approve, the actions stay on top');

  await append(f.ws, id, [{ type: 'task.moved', data: { from: 'executing', to: 'failed' } }], { kind: 'loop', name: 'executor' });
  await waitFor('not running', async () => !JSON.parse((await http(`${f.web.url}api/tasks`, { headers: auth })).body)[0].runningSince);
  assert.doesNotMatch((await http(`${f.web.url}tasks/${id}`, { headers: auth })).body, /id="running"/);
});
