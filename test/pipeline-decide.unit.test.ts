import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOrchestraError } from '../src/core/errors.js';
import { foldTask } from '../src/core/model/task.js';
import type { StoredEvent, StreamRecord } from '../src/core/record.js';
import { availableActions, decideAbort, decideApprove, decideFeedback, decideRetry } from '../src/pipeline/decide.js';
import '../src/pipeline/dev-workstream.js';

// Given these events, when this command, then these events or this error: no workspace needed.

const ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
function given(...batches: StoredEvent[][]) {
  const records: StreamRecord[] = [
    [{ type: 'task.created', data: { id: ID, workstream: 'dev', title: 't', state: 'planning', fields: { repo: 'r' } } }],
    ...batches,
  ].map((events, i) => ({ v: 1, stream: `tasks/${ID}`, seq: i + 1, id: `r${i}`, at: '2026-12-01T00:00:00.000Z', actor: { kind: 'system', name: 't' }, events, sum: '' }));
  return foldTask(records)!;
}
const moved = (from: string, to: string): StoredEvent => ({ type: 'task.moved', data: { from, to } });
const proposed = (version: number): StoredEvent => ({ type: 'plan.proposed', data: { version, file: `p${version}.md`, summary: 's', steps: ['a'] } });
const planned = (...versions: number[]) => versions.flatMap((v, i) => [[proposed(v), moved(i === 0 ? 'planning' : 'planning', 'planned')], ...(i < versions.length - 1 ? [[moved('planned', 'planning')]] : [])]);
const fails = (fn: () => unknown, code: string, message: RegExp) => assert.throws(fn, (e) => isOrchestraError(e, code as never) && message.test((e as Error).message));
const types = (events: StoredEvent[] | null) => events?.map((e) => (e.type === 'task.moved' ? `moved ${e.data.from}->${e.data.to}` : `${e.type} ${JSON.stringify(e.data)}`));

test('approve: the latest version only, and only while planned', () => {
  const view = given(...planned(1, 2));
  assert.deepEqual(types(decideApprove(view, undefined)), ['plan.approved {"version":2}', 'moved planned->approved']);
  assert.deepEqual(types(decideApprove(view, 2)), ['plan.approved {"version":2}', 'moved planned->approved']);
  fails(() => decideApprove(view, 1), 'CONFLICT', /plan v1 is stale: the latest is v2/);
  fails(() => decideApprove(given(), undefined), 'INVALID_TRANSITION', /no plan waiting for approval \(state: planning\)/);
  fails(() => decideApprove(given(...planned(1), [moved('planned', 'approved')]), 1), 'INVALID_TRANSITION', /state: approved/);
});

test('feedback: text required, on a planned task, names the version it answers', () => {
  assert.deepEqual(types(decideFeedback(given(...planned(1)), '  more tests ')), ['plan.feedback {"onVersion":1,"text":"more tests"}', 'moved planned->planning']);
  fails(() => decideFeedback(given(...planned(1)), '   '), 'INVALID_INPUT', /needs some text/);
  fails(() => decideFeedback(given(), 'x'), 'INVALID_TRANSITION', /planning/);
});

test('abort: from any active state; nothing when already aborted; refused when finished', () => {
  assert.deepEqual(types(decideAbort(given(), 'stop')), ['abort.requested {"reason":"stop"}', 'moved planning->aborted']);
  assert.equal(decideAbort(given([moved('planning', 'aborted')]), undefined), null);
  fails(() => decideAbort(given([moved('planning', 'failed')]), undefined), 'INVALID_TRANSITION', /already failed/);
});

test('retry: failed or aborted only; back to the approved plan, or to planning without one or with replan', () => {
  const approvedThenFailed = given(...planned(1), [{ type: 'plan.approved', data: { version: 1 } }, moved('planned', 'approved')], [moved('approved', 'failed')]);
  assert.deepEqual(types(decideRetry(approvedThenFailed, false)), ['retry.requested {"replan":false}', 'moved failed->approved']);
  assert.deepEqual(types(decideRetry(approvedThenFailed, true)), ['retry.requested {"replan":true}', 'moved failed->planning']);
  assert.deepEqual(types(decideRetry(given([moved('planning', 'failed')]), false)), ['retry.requested {"replan":true}', 'moved failed->planning']);
  fails(() => decideRetry(given(), false), 'INVALID_TRANSITION', /only a failed or aborted task/);
});

test('available actions follow the same rules: what the adapters show as buttons', () => {
  assert.deepEqual(availableActions(given(...planned(1, 2))), { approve: 2, feedback: true, followUp: false, abort: true, retry: false, needsYou: true });
  assert.deepEqual(availableActions(given()), { feedback: false, followUp: false, abort: true, retry: false, needsYou: false });
  assert.deepEqual(availableActions(given([moved('planning', 'failed')])), { feedback: false, followUp: false, abort: false, retry: true, needsYou: false });
  assert.deepEqual(availableActions(given([moved('planning', 'aborted')])), { feedback: false, followUp: false, abort: false, retry: true, needsYou: false });
});
