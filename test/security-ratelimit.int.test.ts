/**
 * Per-actor rate limits (issue #11): a flood of sealed submissions from one Telegram user through
 * the real intake loop stops at the limit, the limit holds in a new process and a new Workspace,
 * other users and the CLI are unaffected, tasks in flight and USD per day refuse, hostile actor
 * fields stay bounded. Real files, real git, the real CLI for the restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { submitTask } from '../src/adapters/inbox-port.js';
import { cliActor, loopActor, type Actor } from '../src/core/actor.js';
import { parseConfig } from '../src/core/config.js';
import { isOrchestraError, OrchestraError } from '../src/core/errors.js';
import { newId } from '../src/core/ids.js';
import { inboxKey, sealObject } from '../src/core/inbox-seal.js';
import { createLogger } from '../src/core/log.js';
import { createTask, moveTask } from '../src/core/ops/tasks.js';
import { KEY_MAX, rateLimitKey } from '../src/core/rate-limits.js';
import { Workspace } from '../src/core/workspace.js';
import { IntakeLoop } from '../src/loops/intake.js';
import { devEvent } from '../src/pipeline/dev-events.js';
import { admit } from '../src/pipeline/rate-limit.js';
import { checkNewTask } from '../src/pipeline/new-task-check.js';
import { runCommand } from '../src/pipeline/run-command.js';
import { runCli } from './support/cli-run.js';
import { eventsOf, gitOut, makeWorkspace, testActor, waitFor } from './support/core-workspace.js';

const telegram = (user: number | string): Actor => ({ kind: 'adapter', name: 'telegram', user: String(user) });

function intakeOf(ws: Workspace): IntakeLoop {
  return new IntakeLoop({ ws, actor: loopActor('intake'), log: createLogger() }, runCommand, checkNewTask);
}

/** Runs intake until the inbox and its claims are empty (idle() scans while they are not). */
async function drain(intake: IntakeLoop): Promise<void> {
  await waitFor('intake to take every inbox file', () => intake.idle(), 30_000);
}

const rejections = (root: string) => eventsOf(root, 'audit').filter((e) => e.type === 'inbox.rejected');
const tasksBy = async (ws: Workspace, createdBy: string) => (await ws.tasks()).filter((t) => t.createdBy === createdBy);

/** What `admit` throws, or undefined when it admits. */
async function refusal(fn: () => Promise<unknown>): Promise<OrchestraError | undefined> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    if (isOrchestraError(err, 'RATE_LIMITED')) return err;
    throw err;
  }
}

test('a flood of 100 submissions from one Telegram user stops at the limit, and the limit holds across a restart', async (t) => {
  const ws = await makeWorkspace(t, { rateLimits: { default: { perMinute: 5, perDay: 7, inFlight: null, usdPerDay: null } } });
  const root = ws.paths.root;
  const started = Date.now();
  for (let i = 0; i < 100; i++) await submitTask(ws, { title: `flood ${i}`, workstream: 'default' }, telegram(111));
  await submitTask(ws, { title: 'another user', workstream: 'default' }, telegram(222));
  // The local CLI user is exempt by default: ten tasks, past every limit, all taken.
  for (let i = 0; i < 10; i++) {
    await checkNewTask(ws, { workstream: 'default' }, cliActor());
    await createTask(ws, { title: `cli ${i}`, workstream: 'default' }, { actor: cliActor() });
  }
  await drain(intakeOf(ws));

  assert.equal((await tasksBy(ws, 'adapter:telegram:111')).length, 5, 'exactly the per-minute limit of the flood is accepted');
  assert.equal((await tasksBy(ws, 'adapter:telegram:222')).length, 1, 'another user is unaffected');
  assert.equal((await ws.tasks()).filter((task) => task.createdBy.startsWith('cli:')).length, 10, 'the CLI user is exempt');

  const refused = rejections(root);
  assert.equal(refused.length, 95);
  for (const e of refused) {
    assert.equal(e.data.code, 'RATE_LIMITED');
    assert.deepEqual(e.data.actor, { kind: 'adapter', name: 'telegram', user: '111' }, 'the audit record names who was limited');
    assert.equal(e.data.limit, 'perMinute');
    const retryAt = Date.parse(e.data.retryAt);
    assert.ok(retryAt > started && retryAt <= Date.now() + 60_000, `retryAt ${e.data.retryAt} is within the next minute`);
    assert.match(e.data.message, /^Too many tasks from telegram:111: at most 5 new tasks per minute \(5 in the last minute\); try again at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(in 1 minute\)\.$/);
  }
  // The error record next to each rejected file says the same.
  const errorFiles = readdirSync(ws.paths.rejected).filter((n) => n.endsWith('.error.json'));
  assert.equal(errorFiles.length, 95);
  const errorRecord = JSON.parse(readFileSync(join(ws.paths.rejected, errorFiles[0]!), 'utf8'));
  assert.equal(errorRecord.code, 'RATE_LIMITED');
  assert.equal(errorRecord.limit, 'perMinute');
  assert.ok(!Number.isNaN(Date.parse(errorRecord.retryAt)));
  // One ledger record per admitted submission: the refused ones cost no ledger record.
  const ledgers = readdirSync(join(root, 'limits'));
  const ledger111 = ledgers.find((n) => n.startsWith('telegram_111-'))!;
  assert.equal(eventsOf(root, `limits/${ledger111}`).length, 5);

  // Restart: a new process (the CLI's one-shot intake) knows only the records.
  await submitTask(ws, { title: 'after restart', workstream: 'default' }, telegram(111));
  await submitTask(ws, { title: 'other after restart', workstream: 'default' }, telegram(222));
  const up = await runCli(root, ['up', '--once', '--only', 'intake'], { timeoutMs: 60_000 });
  assert.equal(up.code, 0, up.stderr);
  const fresh = await Workspace.open(root);
  assert.equal((await tasksBy(fresh, 'adapter:telegram:111')).length, 5, 'the limit holds in a new process');
  assert.equal((await tasksBy(fresh, 'adapter:telegram:222')).length, 2);
  const last = rejections(root).at(-1)!;
  assert.equal(last.data.code, 'RATE_LIMITED');
  assert.equal(last.data.actor.user, '111');
  // The ledgers are records like the others: committed, and verify reads them.
  assert.ok(gitOut(root, 'ls-files', 'limits').split('\n').length >= 7, 'ledger records are committed');
  const verify = await runCli(root, ['verify']);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);

  // A new Workspace instance a minute later (simulated clock): the minute has passed, the day has
  // not. Two more fit under perDay = 7, the third is refused until the first one is a day old.
  const later = Date.now() + 61_000;
  for (let i = 0; i < 2; i++) await admit(fresh, telegram(111), { kind: 'task', taskId: newId() }, { now: later });
  const daily = await refusal(() => admit(fresh, telegram(111), { kind: 'task', taskId: newId() }, { now: later }));
  assert.ok(daily, 'the daily limit refuses');
  assert.equal(daily.details?.limit, 'perDay');
  const firstAdmitted = Math.min(...eventsOf(root, `limits/${ledger111}`).map((e) => Date.parse(e.record.at)));
  assert.equal(daily.details?.retryAt, new Date(firstAdmitted + 86_400_000).toISOString(), 'free again when the oldest admission is a day old');
  assert.match(daily.message, /at most 7 new tasks per day \(7 in the last 24 hours\); try again at .* \(in 14\d\d minutes\)/);
});

test('two intake processes at once admit no more than the limit between them', async (t) => {
  const ws = await makeWorkspace(t, { rateLimits: { default: { perMinute: 5, inFlight: null, usdPerDay: null } } });
  const root = ws.paths.root;
  for (let i = 0; i < 40; i++) await submitTask(ws, { title: `race ${i}`, workstream: 'default' }, telegram(555));
  const [a, b] = await Promise.all([0, 1].map(() => runCli(root, ['up', '--once', '--only', 'intake'], { timeoutMs: 60_000 })));
  assert.equal(a!.code, 0, a!.stderr);
  assert.equal(b!.code, 0, b!.stderr);
  const fresh = await Workspace.open(root);
  assert.equal((await tasksBy(fresh, 'adapter:telegram:555')).length, 5);
  assert.equal(rejections(root).filter((e) => e.data.code === 'RATE_LIMITED').length, 35);
});

test('tasks in flight and USD per day each refuse; retry is checked, a comment is not', async (t) => {
  const ws = await makeWorkspace(t, { rateLimits: { default: { perMinute: null, perDay: null, inFlight: 2, usdPerDay: 1 }, actors: { 'telegram:666': { perMinute: 0 } } } });
  const root = ws.paths.root;
  const intake = intakeOf(ws);
  for (let i = 0; i < 3; i++) await submitTask(ws, { title: `work ${i}`, workstream: 'default' }, telegram(333));
  await drain(intake);
  const mine = await tasksBy(ws, 'adapter:telegram:333');
  assert.equal(mine.length, 2, 'two in flight, the third refused');
  const inFlight = rejections(root).at(-1)!;
  assert.equal(inFlight.data.limit, 'inFlight');
  assert.equal(inFlight.data.retryAt, undefined, 'no time: a task has to end first');
  assert.match(inFlight.data.message, /at most 2 tasks in flight \(2 not finished\); try again when one of them ends/);

  // One task ends: there is room for one more.
  await moveTask(ws, mine[0]!.id, 'in_progress', { actor: testActor });
  await moveTask(ws, mine[0]!.id, 'completed', { actor: testActor });
  await submitTask(ws, { title: 'fits again', workstream: 'default' }, telegram(333));
  await drain(intake);
  const now = await tasksBy(ws, 'adapter:telegram:333');
  assert.equal(now.length, 3);
  const fits = now.find((task) => task.title === 'fits again')!;
  await moveTask(ws, fits.id, 'in_progress', { actor: testActor });
  await moveTask(ws, fits.id, 'completed', { actor: testActor });

  // $1.25 of model calls on one of the user's tasks: over $1 a day.
  const { record } = await ws.appendToTask(mine[1]!.id, () => ({ actor: loopActor('planner'), events: [devEvent('model.called', { role: 'planner', costUsd: 1.25 })] }));
  await moveTask(ws, mine[1]!.id, 'in_progress', { actor: testActor });
  await moveTask(ws, mine[1]!.id, 'failed', { actor: testActor });
  await submitTask(ws, { title: 'too expensive', workstream: 'default' }, telegram(333));
  await runCommand(ws, { command: 'comment', task: mine[1]!.id, text: 'a comment costs nothing' }, telegram(333));
  const retry = await refusal(() => runCommand(ws, { command: 'retry', task: mine[1]!.id, replan: false }, telegram(333)));
  await drain(intake);
  const spend = rejections(root).at(-1)!;
  assert.equal(spend.data.limit, 'usdPerDay');
  assert.equal(spend.data.retryAt, new Date(Date.parse(record!.at) + 86_400_000).toISOString(), 'free when the spend is a day old');
  assert.match(spend.data.message, /at most \$1\.00 of model spend per day \(\$1\.25 in the last 24 hours\)/);
  assert.equal(retry?.details?.limit, 'usdPerDay', 'a retry spends money: refused too');
  assert.equal((await ws.task(mine[1]!.id)).state, 'failed');
  assert.ok((await ws.task(mine[1]!.id)).comments.some((c) => c.text === 'a comment costs nothing'));

  // Someone else's spend and tasks are not this user's.
  await submitTask(ws, { title: 'someone else', workstream: 'default' }, telegram(444));
  await drain(intake);
  assert.equal((await tasksBy(ws, 'adapter:telegram:444')).length, 1);

  // A failed dev task is terminal: not in flight, though it can be retried.
  const repo = join(root, '..', 'repo');
  mkdirSync(repo);
  execFileSync('git', ['init', '-q', repo]);
  for (let i = 0; i < 2; i++) await submitTask(ws, { title: `dev ${i}`, workstream: 'dev', fields: { repo } }, telegram(777));
  await drain(intake);
  const dev = await tasksBy(ws, 'adapter:telegram:777');
  assert.equal(dev.length, 2);
  assert.equal((await refusal(() => admit(ws, telegram(777), { kind: 'task', taskId: newId() }, { dryRun: true })))?.details?.limit, 'inFlight', 'planning counts');
  await moveTask(ws, dev[0]!.id, 'failed', { actor: testActor });
  assert.equal(await refusal(() => admit(ws, telegram(777), { kind: 'task', taskId: newId() }, { dryRun: true })), undefined, 'failed does not');

  // A limit of 0 for one actor: refused with no time to come back.
  const zero = await refusal(() => admit(ws, telegram(666), { kind: 'task', taskId: newId() }));
  assert.equal(zero?.message, 'Too many tasks from telegram:666: at most 0 new tasks per minute (0 in the last minute); this limit is 0: ask the operator to raise it.');
  assert.equal(zero?.details?.retryAt, undefined);
});

test('hostile actor fields: odd and huge names are keyed by a hash, ledgers stay bounded, floods still stop', async (t) => {
  const ws = await makeWorkspace(t, { rateLimits: { default: { perMinute: 2, inFlight: null, usdPerDay: null } } });
  const root = ws.paths.root;
  const key = await inboxKey(ws.paths);
  const hostile: Actor[] = [
    { kind: 'adapter', name: 'telegram', user: `../../etc/passwd\u0000${'x'.repeat(180)}` },
    { kind: 'adapter', name: `forge\n<script>${'é'.repeat(150)}`, user: 'a:b:c' },
    { kind: 'adapter', name: '..', user: '..' },
    { kind: 'agent', name: 'x'.repeat(200) },
  ];
  for (const [i, actor] of hostile.entries()) {
    for (let n = 0; n < 4; n++) writeFileSync(join(ws.paths.inbox, `hostile-${i}-${n}.json`), JSON.stringify(sealObject(key, { title: `h${i}.${n}`, workstream: 'default', actor })));
  }
  // Over ActorSchema's bound: not believed as an actor at all.
  writeFileSync(join(ws.paths.inbox, 'huge-user.json'), JSON.stringify(sealObject(key, { title: 'huge', workstream: 'default', actor: { kind: 'adapter', name: 'telegram', user: 'u'.repeat(100_000) } })));
  const started = Date.now();
  await drain(intakeOf(ws));
  t.diagnostic(`17 hostile files in ${Date.now() - started} ms`);

  for (const actor of hostile) {
    const k = rateLimitKey(actor);
    assert.match(k, /^[A-Za-z0-9._:@-]+$/);
    assert.ok(k.length <= KEY_MAX, k);
  }
  const tasks = await ws.tasks();
  for (let i = 0; i < hostile.length; i++) assert.equal(tasks.filter((task) => task.title.startsWith(`h${i}.`)).length, 2, `actor ${i}: two of four`);
  const ledgers = readdirSync(join(root, 'limits'));
  assert.equal(ledgers.length, hostile.length);
  for (const name of ledgers) assert.match(name, /^[A-Za-z0-9._-]{1,80}$/, 'a ledger directory name is short and plain');
  for (const e of rejections(root).filter((r) => r.data.code === 'RATE_LIMITED')) {
    assert.ok(JSON.stringify(e.data).length < 2000, 'a rejection record stays small');
  }
  assert.ok(!tasks.some((task) => task.title === 'huge' && task.createdBy.includes('u'.repeat(300))), 'an over-long actor is never recorded as one');

  // Config is checked too: a negative limit is refused with the path of the field.
  assert.throws(() => parseConfig({ rateLimits: { default: { perMinute: -1 } } }), /rateLimits\.default\.perMinute/);
  assert.throws(() => parseConfig({ rateLimits: { actors: { 'telegram:1': { inFlight: 'many' } } } }), /rateLimits\.actors/);
});
