/** The lines `orchestra up` prints per step: pure formatting, and failing tests counted from output. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countFailures, progressItems, progressText, renderProgress } from '../src/app/progress.js';
import type { StreamRecord } from '../src/core/record.js';

const ID = '01JD0ABCDEFGHJKMNPQRSTVWXY';
const ev = (type: string, data: Record<string, unknown> = {}) => ({ type, data });

test('failing tests are counted from TAP, pytest, jest, cargo and go output; unknown output gives undefined', () => {
  assert.equal(countFailures('TAP version 13\nnot ok 1 - adds\nok 2 - x\n# tests 2\n# pass 1\n# fail 1\n'), 1);
  assert.equal(countFailures('not ok 1 - a\nnot ok 2 - b\n'), 2, 'TAP without a summary: its not-ok lines');
  assert.equal(countFailures('FAILED t.py::a\n==== 3 failed, 10 passed in 0.12s ====\n'), 3);
  assert.equal(countFailures('Tests:       2 failed, 5 passed, 7 total\n'), 2);
  assert.equal(countFailures('test result: FAILED. 4 passed; 5 failed; 0 ignored\n'), 5);
  assert.equal(countFailures('--- FAIL: TestA (0.00s)\n--- FAIL: TestB (0.00s)\nFAIL\n'), 2);
  assert.equal(countFailures('Segmentation fault\n'), undefined);
});

test('one plain line per step: claimed, plan ready with the approve command, setup, red with the count, green, pushed, failed', () => {
  assert.equal(progressText(ID, ev('lease.acquired', { owner: 'planner@host#12', purpose: 'plan', attempt: 1 })), 'claimed by planner');
  assert.equal(progressText(ID, ev('plan.proposed', { version: 2, file: 'p.md' })), `plan v2 ready: orchestra approve ${ID} --version 2`);
  assert.equal(progressText(ID, ev('setup.ran', { command: 'npm ci', source: 'detected', passed: true, cached: true, file: 'f' })), 'setup: npm ci (restored from cache)');
  assert.equal(progressText(ID, ev('setup.ran', { command: 'npm ci', source: 'detected', passed: true, cached: false, file: 'f' })), 'setup: npm ci (installed)');
  assert.equal(progressText(ID, ev('tests.ran', { run: 3, passed: false, exitCode: 1, file: 'f' }), { failures: 2 }), 'test run 3 red: 2 failing');
  assert.equal(progressText(ID, ev('tests.ran', { run: 3, passed: false, exitCode: 1, file: 'f' })), 'test run 3 red: exit 1', 'count unknown: the exit code');
  assert.equal(progressText(ID, ev('tests.ran', { run: 3, passed: false, exitCode: null, timedOut: true, file: 'f' })), 'test run 3 red: killed at the timeout');
  assert.equal(progressText(ID, ev('tests.ran', { run: 4, passed: true, exitCode: 0, file: 'f' })), 'test run 4 green');
  assert.equal(progressText(ID, ev('git.pushed', { remote: 'r', branch: 'task/x', sha: 'abc', link: 'file:///r (branch task/x)' })), 'pushed: file:///r (branch task/x)');
  assert.equal(progressText(ID, ev('task.failed', { step: 'execute', reason: 'Stopped: the turn limit.', patchFile: 'tasks/x/records/exec1-patch.diff' })),
    'failed: Stopped: the turn limit. (work saved as tasks/x/records/exec1-patch.diff)');
  assert.equal(progressText(ID, ev('task.moved', { from: 'publishing', to: 'completed' })), 'completed');
  assert.equal(progressText(ID, ev('task.moved', { from: 'planning', to: 'planned' })), undefined, 'moves that come with their own step event print nothing');
  assert.equal(progressText(ID, ev('model.called', { role: 'executor' })), undefined);
  assert.equal(progressText(ID, ev('tests.ran', { run: 'x' })), undefined, 'malformed data prints nothing');
});

test('only records past the checkpoint are printed; lines are one terminal-safe line, or JSON', () => {
  const rec = (seq: number, events: Array<{ type: string; data: Record<string, unknown> }>) => ({ seq, at: `2025-01-01T00:00:0${seq}.000Z`, events }) as unknown as StreamRecord;
  const records = [rec(1, [ev('lease.acquired', { owner: 'planner@h#1' })]), rec(2, [ev('plan.proposed', { version: 1, file: 'p' }), ev('task.moved', { to: 'planned' })]), rec(3, [ev('plan.approved', { version: 1 })])];
  const task = { id: ID, title: 'Fix add\x1b[2J\nnow' };
  const items = progressItems(task, records, 1);
  assert.deepEqual(items.map((i) => [i.seq, i.text]), [[2, `plan v1 ready: orchestra approve ${ID} --version 1`], [3, 'plan v1 approved']]);
  const line = renderProgress(items[1]!);
  assert.equal(line, '01JD0ABCDE… "Fix add [2J now": plan v1 approved');
  const json = JSON.parse(renderProgress(items[1]!, 'json'));
  assert.deepEqual({ task: json.task, event: json.event, text: json.text, kind: json.kind }, { task: ID, event: 'plan.approved', text: 'plan v1 approved', kind: 'progress' });
});
