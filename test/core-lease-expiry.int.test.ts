import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { isOrchestraError } from '../src/core/errors.js';
import { claimTask, Lease, type ClaimOptions } from '../src/core/leases.js';
import { createTask } from '../src/core/ops/tasks.js';
import { Workspace } from '../src/core/workspace.js';
import { killIfRunning, spawnNode, type Running } from './support/cli-run.js';
import { eventsOf, makeWorkspace, rawRecords, testActor, waitFor } from './support/core-workspace.js';

const HOLDER = fileURLToPath(new URL('./support/core-hold-worker.js', import.meta.url));
const TTL = 1500;
const claim = (owner: string): ClaimOptions => ({ purpose: 'reclaim', owner, ttlMs: TTL, actor: testActor });

async function startHolder(t: { after: (fn: () => void) => void }, root: string, taskId: string): Promise<Running> {
  const holder = spawnNode(HOLDER, [root, taskId, String(TTL), 'holder']);
  t.after(() => killIfRunning(holder));
  const line = await waitFor('holder claimed', () => holder.output().split('\n').find((l) => l.startsWith('{')), 15_000);
  assert.deepEqual(JSON.parse(line), { claimed: true, attempt: 1 });
  return holder;
}

const replies = (r: Running) => r.output().split('\n').filter((l) => l.startsWith('{"write"')).map((l) => JSON.parse(l));

test('kill -9 of a lease holder: after expiry the task is reclaimed with attempt 2 and lease.expired', async (t) => {
  const ws = await makeWorkspace(t);
  const { id } = await createTask(ws, { title: 'held then orphaned' }, { actor: testActor });
  const holder = await startHolder(t, ws.paths.root, id);

  // While the holder heartbeats, its lease outlives the TTL: nobody else can claim it.
  await sleep(TTL + 300);
  assert.equal(await claimTask(ws, id, claim('early')), null, 'a live, heartbeating holder keeps its lease past the TTL');

  const killedAt = Date.now();
  holder.child.kill('SIGKILL');
  const exit = await holder.exited;
  assert.equal(exit.signal, 'SIGKILL');

  const other = await Workspace.open(ws.paths.root);
  const lease = await waitFor('reclaim after expiry', () => claimTask(other, id, claim('second')), 4 * TTL, 50);
  const waited = Date.now() - killedAt;
  // The last heartbeat came at most ttl/3 before the kill: the lease cannot expire sooner than that.
  assert.ok(waited >= (TTL * 2) / 3 - 100, `reclaimed only after the lease expired (waited ${waited} ms)`);
  assert.equal(lease.attempt, 2);

  const events = eventsOf(ws.paths.root, `tasks/${id}`);
  const leaseEvents = events.filter((e) => e.type.startsWith('lease.')).map((e) => [e.type, e.data.attempt, e.data.owner ?? null]);
  assert.deepEqual(leaseEvents, [
    ['lease.acquired', 1, 'holder'],
    ['lease.expired', 1, 'holder'],
    ['lease.acquired', 2, 'second'],
  ]);
  const expiredRecord = events.find((e) => e.type === 'lease.expired')!.record;
  assert.ok(expiredRecord.events.some((e) => e.type === 'lease.acquired'), 'expiry and the new grant are one record');

  // A late write in the name of the killed holder's attempt is refused and leaves no trace.
  const before = rawRecords(ws.paths.root, `tasks/${id}`).length;
  const ghost = new Lease(ws, id, 1, 'holder', testActor);
  await assert.rejects(ghost.append([{ type: 'test.late-write', data: {} }]), (err) => isOrchestraError(err, 'LEASE_LOST'));
  await assert.rejects(ghost.renew(), (err) => isOrchestraError(err, 'LEASE_LOST'));
  assert.equal(rawRecords(ws.paths.root, `tasks/${id}`).length, before);
  // The new holder's fenced writes go through.
  await lease.append([{ type: 'test.current-write', data: {} }]);
  const last = rawRecords(ws.paths.root, `tasks/${id}`).at(-1)!;
  assert.deepEqual(last.fence, { attempt: 2 });
});

test('stalled holder (SIGSTOP): reclaimed after the TTL; after SIGCONT its fenced lease.append fails with LEASE_LOST', async (t) => {
  const ws = await makeWorkspace(t);
  const { id } = await createTask(ws, { title: 'held then stalled' }, { actor: testActor });
  const holder = await startHolder(t, ws.paths.root, id);

  // Sanity: the holder's fenced write works while it holds the lease.
  holder.child.stdin!.write('write\n');
  await waitFor('first write reply', () => replies(holder).length === 1);
  assert.deepEqual(replies(holder)[0], { write: 'ok' });

  holder.child.kill('SIGSTOP');
  const lease = await waitFor('reclaim of the stalled holder', () => claimTask(ws, id, claim('rescuer')), 4 * TTL, 50);
  assert.equal(lease.attempt, 2);
  const countBefore = rawRecords(ws.paths.root, `tasks/${id}`).length;

  holder.child.kill('SIGCONT');
  await lease.renew();
  holder.child.stdin!.write('write\n');
  await waitFor('late write reply', () => replies(holder).length === 2);
  const late = replies(holder)[1];
  assert.equal(late.write, 'error');
  assert.equal(late.code, 'LEASE_LOST');
  assert.match(late.message, /attempt 1.*no longer current/);

  // Give the resumed holder's heartbeat timer a chance to (wrongly) renew, then check nothing moved.
  await sleep(TTL / 2);
  const records = rawRecords(ws.paths.root, `tasks/${id}`);
  assert.equal(records.length, countBefore, 'the stalled holder wrote nothing after losing its lease');
  const lateWrites = records.flatMap((r) => r.events.filter((e) => e.type === 'test.late-write').map(() => r.fence?.attempt));
  assert.deepEqual(lateWrites, [1], 'only the write made while holding the lease exists');
  // The rescuer still holds the task: the resumed holder's renewals did not take it back.
  assert.equal(await claimTask(ws, id, claim('third')), null);
  await lease.release();
  assert.equal(eventsOf(ws.paths.root, `tasks/${id}`).at(-1)!.type, 'lease.released');
});
