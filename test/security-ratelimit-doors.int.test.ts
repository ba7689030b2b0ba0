/**
 * What a person is told when a rate limit stops them: the Telegram user (fake Bot API) gets
 * "Too many tasks ... try again at HH:MM UTC (in N min)", both when intake refuses a file and, once
 * the limit is known, at once without a file; the web form answers 429 with the same words, for
 * every session of the token holder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { loopActor } from '../src/core/actor.js';
import { createLogger } from '../src/core/log.js';
import { Workspace } from '../src/core/workspace.js';
import { IntakeLoop } from '../src/loops/intake.js';
import { checkNewTask } from '../src/pipeline/new-task-check.js';
import { runCommand } from '../src/pipeline/run-command.js';
import { telegramWorkspace } from './support/telegram-workspace.js';
import { http, login, startFixture, waitFor } from './support/web-harness.js';

process.env.ORCHESTRA_LOG = 'silent';
const USER = 111;

const intakeOf = (ws: Workspace) => new IntakeLoop({ ws, actor: loopActor('intake'), log: createLogger() }, runCommand, checkNewTask);
const drain = (intake: IntakeLoop) => waitFor('intake to take every inbox file', () => intake.idle(), 30_000);
const inboxFiles = (ws: Workspace) => readdirSync(ws.paths.inbox).filter((n) => n !== 'rejected' && !n.startsWith('.'));
/** "HH:MM UTC" of an ISO time. */
const clock = (iso: string) => `${iso.slice(11, 16)} UTC`;

test('telegram: a user over the per-minute limit is told when to try again, by the refusal and then at once', async (t) => {
  const { ws, tg } = await telegramWorkspace(t, 'orchestra-ratelimit-tg-', USER, { rateLimits: { default: { perMinute: 2, inFlight: null } } });
  const intake = intakeOf(ws);

  // Three before intake has run: the bot cannot know yet, all three become inbox files.
  for (const n of [1, 2, 3]) await tg.handled(tg.sendText(USER, `/task web Fix ${n}`));
  assert.equal(inboxFiles(ws).length, 3);
  await drain(intake);
  assert.equal((await ws.tasks()).length, 2, 'two of three taken');
  const refusal = (await ws.readStream('audit')).records.flatMap((r) => r.events).find((e) => e.type === 'inbox.rejected')!;
  assert.equal(refusal.data.code, 'RATE_LIMITED');
  const retryAt = String(refusal.data.retryAt);
  const told = await tg.waitFor(() => tg.messages(USER).find((m) => m.text.startsWith('⏳ The task Fix')));
  assert.match(told.text, /^⏳ The task Fix \d was not accepted\. Too many tasks: you reached the limit of new tasks per minute; try again at \d\d:\d\d UTC \(in 1 min\)\.$/);
  assert.ok(told.text.includes(clock(retryAt)), `${told.text} names ${retryAt}`);

  // Now the ledger knows: the next /task is answered at once and drops no file.
  const before = tg.messages(USER).length;
  await tg.handled(tg.sendText(USER, '/task web Fix 4'));
  const now = tg.messages(USER).slice(before);
  assert.equal(now.length, 1);
  assert.equal(now[0]!.text, `⏳ Too many tasks: you reached the limit of new tasks per minute; try again at ${clock(retryAt)} (in 1 min).`);
  assert.equal(inboxFiles(ws).length, 0, 'nothing was submitted');
  // The refusal at the door is audited for monitoring, with who, which limit and when.
  const atDoor = (await ws.readStream('audit')).records.filter((r) => r.events.some((e) => e.type === 'access.refused'));
  assert.equal(atDoor.length, 1);
  assert.equal(atDoor[0]!.actor.user, String(USER));
  assert.deepEqual(atDoor[0]!.events[0]!.data, { what: 'telegram submission over a rate limit', code: 'RATE_LIMITED', limit: 'perMinute', retryAt });
});

test('web: a reached limit is answered 429 with when to try again, in JSON and on the page, for every session', async (t) => {
  const f = await startFixture();
  t.after(() => f.close());
  const intake = intakeOf(f.ws);
  const self = f.web.url.replace(/\/$/, '');
  const { cookie, csrf } = await login(f.web);
  const form = (title: string) => new URLSearchParams({ repo: 'shop', title }).toString();
  const post = (title: string, session = { cookie, csrf }, json = true) =>
    http(`${f.web.url}tasks`, {
      method: 'POST',
      body: json ? form(title) : `${form(title)}&_csrf=${encodeURIComponent(session.csrf)}`,
      headers: { cookie: session.cookie, origin: self, 'content-type': 'application/x-www-form-urlencoded', ...(json ? { accept: 'application/json', 'x-csrf-token': session.csrf } : {}) },
    });

  // The defaults: three tasks in flight.
  for (const n of [1, 2, 3]) assert.equal((await post(`task ${n}`)).status, 202);
  await drain(intake);
  assert.equal((await f.ws.tasks()).length, 3);
  const full = await post('task 4');
  assert.equal(full.status, 429);
  assert.deepEqual(JSON.parse(full.body), { ok: false, error: 'Too many tasks: you reached the limit of tasks in flight; try again when one of your tasks ends.' });
  const page = await post('task 4', { cookie, csrf }, false);
  assert.equal(page.status, 429);
  assert.match(page.body, /<h1>Not accepted<\/h1>/);
  assert.match(page.body, /Too many tasks: you reached the limit of tasks in flight; try again when one of your tasks ends\./);
  // A new session is the same token holder: logging in again does not reset anything.
  const again = await login(f.web);
  assert.notEqual(again.cookie, cookie);
  assert.equal((await post('task 4', again)).status, 429);
  assert.equal(inboxFiles(f.ws).length, 0, 'no refused request reached the inbox');

  // With in-flight unlimited for the web door (as an edited orchestra.json would say), the
  // per-minute default (5) is next: two more, then the time to come back.
  (f.ws.config.rateLimits.doors as Record<string, object>).web = { inFlight: null };
  for (const n of [4, 5]) assert.equal((await post(`task ${n}`)).status, 202);
  await drain(intake);
  assert.equal((await f.ws.tasks()).length, 5);
  const minute = await post('task 6');
  assert.equal(minute.status, 429);
  assert.match(JSON.parse(minute.body).error, /^Too many tasks: you reached the limit of new tasks per minute; try again at \d\d:\d\d UTC \(in 1 min\)\.$/);
  // Five refusals at the door within a minute: one audit record for the token holder, not five.
  const atDoor = (await f.ws.readStream('audit')).records.flatMap((r) => r.events).filter((e) => e.type === 'access.refused' && e.data.code === 'RATE_LIMITED');
  assert.equal(atDoor.length, 1);
  assert.equal(atDoor[0]!.data.limit, 'inFlight');
});
