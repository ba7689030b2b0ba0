import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Actor } from '../src/core/actor.js';
import { foldTask } from '../src/core/model/task.js';
import type { StoredEvent, StreamRecord } from '../src/core/record.js';
import { grantsOf, redecide } from '../src/sync/redecide.js';

const A: Actor = { kind: 'loop', name: 'executor', host: 'a', pid: 1 };
const B: Actor = { kind: 'loop', name: 'executor', host: 'b', pid: 2 };
const STREAM = 'tasks/T1';

function rec(seq: number, events: StoredEvent[], extra: Partial<StreamRecord> = {}): StreamRecord {
  return { v: 1, stream: STREAM, seq, id: `r${seq}-${Math.random()}`, at: new Date(0).toISOString(), actor: A, events, sum: 'x', ...extra };
}
const created = rec(1, [{ type: 'task.created', data: { id: 'T1', workstream: 'default', title: 't', state: 'todo' } }]);
const claim = (seq: number, attempt: number, actor: Actor, owner: string) => rec(seq, [{ type: 'lease.acquired', data: { attempt, owner, purpose: 'x', ttlMs: 60_000 } }], { actor });

/** The verdict on `candidate` given the accepted records. */
const verdict = (accepted: StreamRecord[], candidate: StreamRecord) => redecide(foldTask(accepted), grantsOf(accepted), candidate);

test('a claim withdrawn after another claim was accepted is invalid; the next attempt after a release is valid', () => {
  const accepted = [created, claim(2, 1, B, 'b')];
  const mine = claim(2, 1, A, 'a');
  const v = verdict(accepted, mine);
  assert.equal(v.ok, false);
  assert.match((v as { reason: string }).reason, /attempt 1 \(b\) holds the task/);
  const released = [...accepted, rec(3, [{ type: 'lease.released', data: { attempt: 1, outcome: 'done' } }], { actor: B })];
  assert.equal(verdict(released, mine).ok, false, 'attempt 1 was already granted: a stale token');
  assert.equal(verdict(released, claim(3, 2, A, 'a')).ok, true);
});

test('a fenced write is valid only under an attempt granted to the same actor', () => {
  const accepted = [created, claim(2, 1, B, 'b')];
  const note = (actor: Actor) => rec(3, [{ type: 'task.commented', data: { text: 'x' } }], { actor, fence: { attempt: 1 } });
  assert.equal(verdict(accepted, note(B)).ok, true);
  assert.equal(verdict(accepted, note(A)).ok, false, 'same attempt number, another claimant');
  assert.equal(verdict(accepted, rec(3, [{ type: 'x', data: {} }], { fence: { attempt: 2 } })).ok, false);
});

test('moves from a state the task left, duplicate causes and creations are dropped; shared streams always keep', () => {
  const moved = rec(2, [{ type: 'task.moved', data: { from: 'todo', to: 'doing' } }], { cause: 'c1' });
  const accepted = [created, moved];
  assert.equal(verdict(accepted, rec(3, [{ type: 'task.moved', data: { from: 'todo', to: 'done' } }])).ok, false);
  assert.equal(verdict([created], rec(3, [{ type: 'task.moved', data: { from: 'todo', to: 'done' } }])).ok, true);
  assert.equal(verdict(accepted, rec(3, [{ type: 'task.commented', data: { text: 'again' } }], { cause: 'c1' })).ok, false);
  assert.equal(verdict(accepted, rec(3, created.events)).ok, false);
  assert.equal(redecide(undefined, new Map(), { ...rec(9, [{ type: 'audit.note', data: {} }]), stream: 'audit' }).ok, true);
  assert.equal(verdict([], claim(1, 1, A, 'a')).ok, false, 'a claim of a task that does not exist');
});
