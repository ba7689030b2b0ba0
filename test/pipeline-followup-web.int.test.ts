/**
 * Follow-up rounds from the web UI (HTTP): a completed task's page offers the follow-up form
 * (CSRF-checked like every form); its post becomes a `feedback` inbox command; intake starts
 * round 2, and the page, the list API and the rounds card show it. Hostile posts are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loopActor } from '../src/core/actor.js';
import { createLogger } from '../src/core/log.js';
import { IntakeLoop } from '../src/loops/intake.js';
import { runCommand } from '../src/pipeline/run-command.js';
import { completedDevTask, http, login, proposePlan, startFixture, waitFor } from './support/web-harness.js';

test('web: a completed task takes a follow-up (CSRF-checked); intake starts round 2 and the page says so', async (t) => {
  const f = await startFixture();
  t.after(() => f.close());
  const id = await completedDevTask(f.ws, 'Fix the cart');

  const { cookie, csrf } = await login(f.web);
  const self = f.web.url.replace(/\/$/, '');
  const page = await http(`${f.web.url}tasks/${id}`, { headers: { cookie } });
  assert.equal(page.status, 200);
  assert.match(page.body, new RegExp(`<form method="post" action="/tasks/${id}/feedback"[^>]*id="follow-up"><input type="hidden" name="_csrf" value="${csrf}">`));
  assert.match(page.body, /Start round 2/);
  assert.doesNotMatch(page.body, /needs you/, 'a completed task does not need you');

  const post = (body: Record<string, string>, headers: Record<string, string> = {}) => http(`${f.web.url}tasks/${id}/feedback`, {
    method: 'POST', body: new URLSearchParams(body).toString(),
    headers: { cookie, origin: self, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
  });
  const inboxFiles = () => readdirSync(f.ws.paths.inbox).filter((n) => n.endsWith('.json'));
  assert.equal((await post({ text: 'more' })).status, 403, 'no CSRF token');
  assert.equal((await post({ text: 'more' }, { 'x-csrf-token': csrf, origin: 'http://evil.example' })).status, 403, 'foreign Origin');
  assert.equal((await post({ text: 'x'.repeat(20_001) }, { 'x-csrf-token': csrf })).status, 400, 'too long');
  assert.equal((await post({ text: '   ' }, { 'x-csrf-token': csrf })).status, 400, 'empty');
  assert.deepEqual(inboxFiles(), [], 'nothing was written');

  const ok = await post({ text: 'Also empty the cart on logout <script>alert(1)</script>' }, { 'x-csrf-token': csrf });
  assert.equal(ok.status, 202, ok.body);
  assert.match(ok.body, /next round/);
  const [file] = inboxFiles();
  const command = JSON.parse(readFileSync(join(f.ws.paths.inbox, file!), 'utf8'));
  assert.equal(command.command, 'feedback');
  assert.equal(command.task, id);

  // Intake takes a file once it has settled (config loops.settleMs): scan until it is taken.
  const intake = new IntakeLoop({ ws: f.ws, actor: loopActor('intake'), log: createLogger() }, runCommand);
  await waitFor('intake takes the follow-up', async () => (await intake.scan(), inboxFiles().length === 0));
  const view = await f.ws.task(id);
  assert.equal(view.state, 'planning');
  assert.equal(view.dev.round, 2);
  await proposePlan(f.ws, id, 2, '# Plan v2\n');

  const after = await http(`${f.web.url}tasks/${id}`, { headers: { cookie } });
  assert.match(after.body, /<span id="task-round" class="badge">round 2 · plan v2<\/span>/);
  assert.match(after.body, /<section class="card" id="rounds">[\s\S]*Round 1[\s\S]*pushed <code>bbbbbbbbbb<\/code>[\s\S]*Round 2[\s\S]*plan v2/);
  assert.match(after.body, /Also empty the cart on logout/, 'the feedback is shown');
  assert.doesNotMatch(after.body, /<script>alert\(1\)/, 'and escaped');
  assert.match(after.body, /Approve v2/);
  const list = await http(`${f.web.url}`, { headers: { cookie } });
  assert.match(list.body, /round 2 · plan v2/);
});
