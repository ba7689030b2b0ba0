/**
 * Attack review: an inbox writer who copies a Telegram user's sealed file (it sits in inbox/ until
 * intake takes it, and a rejected one stays in inbox/rejected/) and drops it again and again must
 * not use up that user's rate limits: a sealed task names its id, and an id the user's ledger
 * already admitted is not counted twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { submitTask } from '../src/adapters/inbox-port.js';
import { loopActor, type Actor } from '../src/core/actor.js';
import { createLogger } from '../src/core/log.js';
import type { Workspace } from '../src/core/workspace.js';
import { IntakeLoop } from '../src/loops/intake.js';
import { admit } from '../src/pipeline/rate-limit.js';
import { checkNewTask } from '../src/pipeline/new-task-check.js';
import { runCommand } from '../src/pipeline/run-command.js';
import { makeWorkspace, waitFor } from './support/core-workspace.js';

const victim: Actor = { kind: 'adapter', name: 'telegram', user: '4242' };

function intakeOf(ws: Workspace): IntakeLoop {
  return new IntakeLoop({ ws, actor: loopActor('intake'), log: createLogger('test', () => undefined) }, runCommand, checkNewTask);
}

test('replaying a sealed task file does not use up its author\'s rate limits', async (t) => {
  const ws = await makeWorkspace(t, { rateLimits: { default: { perMinute: 3, perDay: 3, inFlight: null, usdPerDay: null } } });
  const { file } = await submitTask(ws, { title: 'mine', workstream: 'default' }, victim);
  const copy = readFileSync(join(ws.paths.inbox, file));
  const intake = intakeOf(ws);
  await waitFor('intake', () => intake.idle(), 30_000);
  // The attacker drops the captured sealed file five times.
  for (let i = 0; i < 5; i++) writeFileSync(join(ws.paths.inbox, `replay-${i}.json`), copy);
  await waitFor('intake', () => intake.idle(), 30_000);
  const ledger = (await ws.tasks()).filter((v) => v.createdBy.startsWith('adapter:telegram:4242'));
  assert.equal(ledger.length, 1, 'one task');
  // The victim may still submit: only one admission is on its ledger.
  await assert.doesNotReject(admit(ws, victim, { kind: 'task', taskId: 'X' }, { dryRun: true }), 'the replays used up the victim\'s limit');
});
