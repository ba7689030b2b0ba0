/** Fail-closed limits of an execution run, and retry of the failed task. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runJson } from './support/cli-run.js';
import { dropTask, eventsOfType, makePipeline, PLANNER_REPLIES, procsWith, startLoops, waitFor, waitState } from './support/pipeline-harness.js';

const EDIT_THEN_READ_FOREVER = [
  { toolCalls: [{ name: 'replace_in_file', args: { path: 'src/math.js', old_text: 'return a - b;', new_text: 'return a + b; // turn-limit-edit' } }] },
  { toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] }, // repeats forever
];

test('a model that never finishes fails at the turn limit with its patch saved; retry and retry --replan', async (t) => {
  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES, executor: EDIT_THEN_READ_FOREVER } });
  await startLoops(p);
  const id = await dropTask(p, 'forever', { limits: { maxTurns: 4 } });
  await waitState(p, id, ['planned']);
  assert.equal((await runJson(p.root, ['approve', id, '--version', '1'])).code, 0);

  let view = await waitState(p, id, ['failed', 'completed']);
  assert.equal(view.state, 'failed');
  assert.match(view.dev.failure!.reason, /turn limit \(4 model turns\)/);
  assert.equal(view.dev.failure!.step, 'execute');
  assert.equal(eventsOfType(p, id, 'model.called').filter((e) => e.data.role === 'executor').length, 4);
  const patchFile = view.dev.failure!.patchFile!;
  assert.match(patchFile, /exec1-patch\.diff$/);
  const patch = readFileSync(join(p.root, patchFile), 'utf8');
  assert.match(patch, /^-  return a - b;$/m);
  assert.match(patch, /^\+  return a \+ b; \/\/ turn-limit-edit$/m);
  // The patch is named once: by its field, not again inside the reason.
  assert.doesNotMatch(view.dev.failure!.reason, /exec1-patch\.diff/);
  assert.match(view.dev.failure!.reason, /saved as a patch/);
  const show = await runJson(p.root, ['task', 'show', id]);
  assert.equal(show.json.data.dev.failure.patchFile, patchFile);
  const shown = await runCli(p.root, ['task', 'show', id]);
  assert.equal(shown.stdout.split('exec1-patch.diff').length - 1, 1, shown.stdout);

  // retry: back to approved with the same plan; the executor runs it again (and fails again).
  const retried = await runJson(p.root, ['retry', id]);
  assert.equal(retried.code, 0, retried.stdout);
  assert.equal(retried.json.data.state, 'approved');
  assert.equal(retried.json.data.dev.approvedVersion, 1);
  assert.equal(retried.json.data.dev.plans.length, 1);
  assert.equal(retried.json.data.dev.failure, undefined);
  view = await waitFor('the second execution to fail', async () => {
    const v = await p.ws.task(id);
    return v.state === 'failed' && v.dev.executions === 2 ? v : undefined;
  }, 30_000);
  assert.match(view.dev.failure!.patchFile!, /exec2-patch\.diff$/);
  assert.ok(existsSync(join(p.root, view.dev.failure!.patchFile!)));

  // retry --replan: back to planning, and the planner makes plan v2.
  const replanned = await runJson(p.root, ['retry', id, '--replan']);
  assert.equal(replanned.json.data.state, 'planning');
  view = await waitFor('plan v2', async () => {
    const v = await p.ws.task(id);
    return v.state === 'planned' && v.dev.plans.length === 2 ? v : undefined;
  }, 30_000);
  assert.deepEqual(eventsOfType(p, id, 'retry.requested').map((e) => e.data.replan), [false, true]);
});

test('a runaway test is killed at its timeout with its background grandchild', async (t) => {
  const token = `60.${process.pid}${Math.floor(Math.random() * 1e5)}`;
  const p = await makePipeline(t, {
    config: { sandbox: { testTimeoutSeconds: 2 } },
    scripts: { planner: PLANNER_REPLIES, executor: [{ toolCalls: [{ name: 'run_tests', args: {} }] }, { toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] }] },
  });
  await startLoops(p);
  const id = await dropTask(p, 'runaway', { test: `(sleep ${token} &); echo started; sleep ${token}`, limits: { maxTurns: 2 } });
  await waitState(p, id, ['planned']);
  assert.equal((await runJson(p.root, ['approve', id])).code, 0);
  await waitFor('the runaway test', () => procsWith(token).length >= 2, 20_000);
  const started = Date.now();

  const view = await waitState(p, id, ['failed', 'completed'], 30_000);
  const elapsed = Date.now() - started;
  assert.equal(view.state, 'failed');
  assert.match(view.dev.failure!.reason, /turn limit/);
  const [run] = eventsOfType(p, id, 'tests.ran');
  assert.equal(run!.data.timedOut, true);
  assert.equal(run!.data.passed, false);
  assert.ok(run!.data.durationMs >= 1900 && run!.data.durationMs < 6000, `the run took ${run!.data.durationMs} ms`);
  assert.ok(elapsed < 10_000, `the task took ${elapsed} ms after the test started`);
  assert.equal(view.dev.testRuns[0]!.timedOut, true);
  const output = readFileSync(join(p.root, run!.data.file), 'utf8');
  assert.match(output, /killed at the timeout/);
  assert.match(output, /started/);
  await waitFor('no survivors', () => procsWith(token).length === 0, 2000).catch(() => undefined);
  assert.deepEqual(procsWith(token), [], 'no process of the test survives');
  assert.equal(eventsOfType(p, id, 'model.called').filter((e) => e.data.role === 'executor').length, 2);
});
