/**
 * Attack review: a chat user archives its own task while a step still works on it. The rate
 * limiter took every archived task as settled (not in flight, its spend final and remembered), but
 * the executor keeps working on an archived task: create, approve, archive, repeat, and neither
 * `inFlight` nor `usdPerDay` holds. A task with a live lease is not settled for the limits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Actor } from '../src/core/actor.js';
import { isOrchestraError } from '../src/core/errors.js';
import { newId } from '../src/core/ids.js';
import { claimTask } from '../src/core/leases.js';
import { archiveTask, createTask } from '../src/core/ops/tasks.js';
import { admit } from '../src/pipeline/rate-limit.js';
import { makeWorkspace, testActor } from './support/core-workspace.js';

const user: Actor = { kind: 'adapter', name: 'telegram', user: '5151' };

async function limitHit(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    if (isOrchestraError(err, 'RATE_LIMITED')) return String(err.details?.limit);
    throw err;
  }
}

test('archiving a task that is still being worked on frees neither its in-flight slot nor its spend', async (t) => {
  const ws = await makeWorkspace(t, { rateLimits: { default: { perMinute: null, perDay: null, inFlight: 1, usdPerDay: 1 } } });
  const id = newId();
  await admit(ws, user, { kind: 'task', taskId: id });
  await createTask(ws, { id, title: 'spend', workstream: 'default' }, { actor: user });
  // A step claims it (as the executor does) and the user archives it meanwhile.
  const lease = await claimTask(ws, id, { purpose: 'work', owner: 'test-worker', ttlMs: 60_000, actor: testActor });
  assert.ok(lease);
  await archiveTask(ws, id, { actor: user });
  assert.equal(await limitHit(() => admit(ws, user, { kind: 'task', taskId: newId() }, { dryRun: true })), 'inFlight', 'the archived task still being worked on is in flight');
  // The step goes on spending after the archive.
  await lease!.append([{ type: 'model.called', data: { role: 'executor', costUsd: 5, inputTokens: 1, outputTokens: 1 } }]);
  await lease!.release([], 'done');
  assert.equal(await limitHit(() => admit(ws, user, { kind: 'task', taskId: newId() }, { dryRun: true })), 'usdPerDay', 'the spend after the archive counts');
});
