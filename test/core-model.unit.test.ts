import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOrchestraError } from '../src/core/errors.js';
import { foldTask, triggerKey } from '../src/core/model/task.js';
import { assertTransition, backoffMs, DEFAULT_STATES, foldWorkstream, RetryPolicySchema, type WorkstreamView } from '../src/core/model/workstream.js';
import { seal, type StoredEvent, type StreamRecord } from '../src/core/record.js';
import { leaseStatus } from '../src/core/leases.js';
import { retryDueAt } from '../src/loops/retry.js';

const actor = { kind: 'system' as const, name: 'unit' };
const T0 = Date.parse('2030-01-01T00:00:00.000Z');

/** A stream of sealed records, one per event list, one second apart. */
function stream(name: string, ...eventLists: StoredEvent[][]): StreamRecord[] {
  return eventLists.map((events, i) => seal({ v: 1, stream: name, seq: i + 1, id: `r${i + 1}`, at: new Date(T0 + i * 1000).toISOString(), actor, events }));
}
const ev = (type: string, data: Record<string, unknown> = {}): StoredEvent => ({ type, data });

const RESEARCH = { todo: ['doing'], doing: ['done', 'todo'], done: [] };

test('foldWorkstream: created, triggers added and removed, update recomputes the initial state', () => {
  const records = stream('workstreams/research',
    [ev('trigger.added', { id: 'early', on: 'todo', action: { kind: 'run_command', command: 'true' } })],
    [ev('workstream.created', { name: 'research', states: RESEARCH, retry: { maxRetries: 2 } })],
    [ev('trigger.added', { id: 'a', on: 'doing', action: { kind: 'run_command', command: 'echo {task_id}' } })],
    [ev('trigger.added', { id: 'b', on: 'done', action: { kind: 'run_agent', agent: 'reviewer' } })],
    [ev('trigger.removed', { id: 'a' })],
  );
  const view = foldWorkstream(records)!;
  assert.equal(view.name, 'research');
  assert.equal(view.initial, 'todo', 'the first state is the initial one');
  assert.deepEqual(view.triggers.map((t) => t.id), ['b'], 'events before creation are ignored; removed triggers are gone');
  assert.deepEqual(view.retry, { maxRetries: 2, backoff: 'exponential', baseSeconds: 30, maxSeconds: 3600 });
  assert.equal(view.lastSeq, 5);
  assert.equal(view.createdAt, new Date(T0 + 1000).toISOString());

  const update = seal({ v: 1, stream: 'workstreams/research', seq: 6, id: 'r6', at: new Date(T0 + 6000).toISOString(), actor, events: [ev('workstream.updated', { states: { backlog: ['todo'], ...RESEARCH } })] });
  const updated = foldWorkstream([...records, update])!;
  assert.equal(updated.initial, 'backlog');
  assert.equal(foldWorkstream(stream('workstreams/x', [ev('trigger.added', { id: 'a', on: 'x', action: { kind: 'run_command', command: 'x' } })])), undefined);
});

test('assertTransition: allowed moves pass; others throw INVALID_TRANSITION naming what is allowed', () => {
  const ws = { name: 'default', states: DEFAULT_STATES } as WorkstreamView;
  assert.doesNotThrow(() => assertTransition(ws, 'pending', 'in_progress'));
  assert.doesNotThrow(() => assertTransition(ws, 'failed', 'pending'));
  assert.throws(() => assertTransition(ws, 'pending', 'completed'), (err) => isOrchestraError(err, 'INVALID_TRANSITION') && /allowed: in_progress/.test(err.message) && err.details?.to === 'completed');
  assert.throws(() => assertTransition(ws, 'completed', 'pending'), (err) => isOrchestraError(err, 'INVALID_TRANSITION') && /allowed: none/.test(err.message));
  assert.throws(() => assertTransition(ws, 'pending', 'limbo'), (err) => isOrchestraError(err, 'INVALID_TRANSITION') && /no state "limbo"/.test(err.message));
});

test('backoffMs: exponential doubling, fixed delay, cap, and +-20% jitter bounds', () => {
  const exp = RetryPolicySchema.parse({ maxRetries: 5, baseSeconds: 10, maxSeconds: 60 });
  const mid = () => 0.5;
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffMs(exp, n, mid)), [10_000, 20_000, 40_000, 60_000, 60_000]);
  const fixed = RetryPolicySchema.parse({ backoff: 'fixed', baseSeconds: 7 });
  assert.deepEqual([1, 2, 9].map((n) => backoffMs(fixed, n, mid)), [7000, 7000, 7000]);
  assert.equal(backoffMs(exp, 2, () => 0), 16_000, 'lowest jitter: -20%');
  assert.equal(backoffMs(exp, 2, () => 1), 24_000, 'highest jitter: +20%');
  for (let i = 0; i < 200; i++) {
    const ms = backoffMs(exp, 3);
    assert.ok(ms >= 32_000 && ms <= 48_000, `${ms} within jitter bounds`);
  }
});

test('retryDueAt: failed tasks get a stable due time after the backoff; exhausted after the last retry', () => {
  const ws = foldWorkstream(stream('workstreams/default', [ev('workstream.created', { name: 'default', states: DEFAULT_STATES, retry: { maxRetries: 2, baseSeconds: 10 } })]))!;
  const created = ev('task.created', { id: 'T1', workstream: 'default', title: 't', state: 'pending' });
  const toFailed = [ev('task.moved', { from: 'pending', to: 'in_progress' })];
  const failed = stream('tasks/T1', [created], toFailed, [ev('task.moved', { from: 'in_progress', to: 'failed' })]);
  const view = foldTask(failed)!;
  const due = retryDueAt(view, ws) as number;
  const failedAt = T0 + 2000;
  assert.ok(due >= failedAt + 8000 && due <= failedAt + 12_000, `first retry due 10 s +-20% after failing (${due - failedAt} ms)`);
  assert.equal(retryDueAt(foldTask(failed)!, ws), due, 'every process computes the same due time');
  assert.equal(retryDueAt(foldTask(failed.slice(0, 2))!, ws), undefined, 'not failed: nothing due');
  const twice = stream('tasks/T1', [created], [ev('task.retried', { retry: 1 })], [ev('task.retried', { retry: 2 })], [ev('task.moved', { from: 'in_progress', to: 'failed' })]);
  assert.equal(retryDueAt(foldTask(twice)!, ws), 'exhausted');
  const noRetries = { ...ws, retry: { ...ws.retry, maxRetries: 0 } };
  assert.equal(retryDueAt(view, noRetries), undefined);
});

test('foldTask: state, leases and attempts, trigger keys, causes; events before creation ignored', () => {
  const records = stream('tasks/T2',
    [ev('task.commented', { text: 'too early' })],
    [ev('task.created', { id: 'T2', workstream: 'default', title: 'fold me', tags: ['a'], state: 'pending' })],
    [ev('lease.acquired', { attempt: 1, owner: 'w1', purpose: 'p', ttlMs: 1000 })],
    [ev('lease.expired', { attempt: 1, owner: 'w1' }), ev('lease.acquired', { attempt: 2, owner: 'w2', purpose: 'p', ttlMs: 1000 })],
    [ev('task.moved', { from: 'pending', to: 'in_progress' }), ev('trigger.firing', { triggerId: 'go', stateSeq: 5 })],
    [ev('lease.released', { attempt: 2 }), ev('task.updated', { title: 'renamed', tags: ['b'] })],
  );
  records[5] = seal({ ...records[5]!, cause: 'claim-1' });
  const view = foldTask(records)!;
  assert.equal(view.title, 'renamed');
  assert.deepEqual(view.tags, ['b']);
  assert.deepEqual(view.comments, []);
  assert.equal(view.state, 'in_progress');
  assert.equal(view.stateSeq, 5);
  assert.equal(view.attempts, 2);
  assert.deepEqual(view.lease && [view.lease.owner, view.lease.attempt, view.lease.released], ['w2', 2, true]);
  assert.deepEqual(view.firedTriggers, [triggerKey('go', 5)]);
  assert.deepEqual(view.causes, ['claim-1']);
  assert.equal(view.lastSeq, 6);
  assert.equal(foldTask(records.slice(0, 1)), undefined);

  const held = foldTask(records.slice(0, 4))!;
  const acquiredAt = T0 + 3000;
  assert.equal(leaseStatus(held, undefined, acquiredAt + 999).state, 'held');
  assert.equal(leaseStatus(held, undefined, acquiredAt + 1000).state, 'expired');
  assert.equal(leaseStatus(held, { attempt: 2, at: acquiredAt + 5000 }, acquiredAt + 5500).state, 'held', 'a heartbeat extends the lease');
  assert.equal(leaseStatus(held, { attempt: 1, at: acquiredAt + 5000 }, acquiredAt + 5500).state, 'expired', 'a heartbeat of an older attempt does not');
  assert.deepEqual(leaseStatus(view, undefined), { state: 'free', attempt: 2 });
});
