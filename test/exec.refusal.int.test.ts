/**
 * Where no sandbox can be built, nothing runs: the executor fails the task with the reason (no
 * crash, no retry), a trigger records the refusal as its outcome. Trigger commands that do run
 * are sandboxed like tests: secrets dropped and masked, the workspace invisible.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runUp } from '../src/app/up.js';
import { createLogger } from '../src/core/log.js';
import { createTask } from '../src/core/ops/tasks.js';
import { addTrigger } from '../src/core/ops/workstreams.js';
import { runJson } from './support/cli-run.js';
import { eventsOf, makeWorkspace, testActor, waitFor } from './support/core-workspace.js';
import { approveAndWait, dropTask, eventsOfType, FIXER_REPLIES, makePipeline, PLANNER_REPLIES, waitState } from './support/pipeline-harness.js';

const NO_BWRAP = '/nonexistent/orchestra-test/bwrap';

test('without bwrap up does not start the executor and says why; the task waits, no test runs', async (t) => {
  process.env.ORCHESTRA_LOG = ''; // this test reads up's log lines

  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES }, config: { sandbox: { bwrapPath: NO_BWRAP } } });
  const lines: string[] = [];
  const up = await runUp(p.ws, { only: ['intake', 'planner', 'executor', 'publisher'], log: createLogger('test', (l) => lines.push(l)) });
  p.defer(() => up.stop());
  const warning = lines.find((l) => l.includes('not starting executor'));
  assert.ok(warning, lines.join('\n'));
  assert.match(warning!, /no sandbox for test commands .*bwrap is not an executable at \/nonexistent.*apt-get install bubblewrap/);
  const id = await dropTask(p, 'waits');
  await waitState(p, id, ['planned']);
  assert.equal((await runJson(p.root, ['approve', id])).code, 0);
  await new Promise((r) => setTimeout(r, 1000)); // several scan intervals
  assert.equal((await p.ws.task(id)).state, 'approved', 'nobody takes it: it waits for an executor that can run');
  assert.deepEqual(eventsOfType(p, id, 'tests.ran'), []);
});

test('if bwrap goes away after up started, the executor fails the task with the reason and runs no test', async (t) => {
  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES }, config: { sandbox: { bwrapPath: NO_BWRAP } } });
  const up = await runUp(p.ws, { only: ['intake', 'planner', 'executor', 'publisher'], log: createLogger('test', () => undefined), checks: false });
  p.defer(() => up.stop());
  const id = await dropTask(p, 'refused');
  const view = await approveAndWait(p, id, ['failed', 'completed'], 30_000);
  assert.equal(view.state, 'failed');
  assert.match(view.dev.failure?.reason ?? '', /Refusing to run the command: no sandbox is available \(bwrap is not an executable at \/nonexistent/);
  assert.match(view.dev.failure?.reason ?? '', /apt-get install bubblewrap/);
  assert.doesNotMatch(view.dev.failure?.reason ?? '', /\n\s+at /, 'no stack trace');
  assert.deepEqual(eventsOfType(p, id, 'tests.ran'), []);
  assert.equal((await p.ws.findTask(id))?.state, 'failed', 'stays failed: no retry loop');
});

test('trigger commands run sandboxed: refused without bwrap; else no secret, no workspace', async (t) => {
  const secret = `trigger-secret-${process.pid}-${Date.now()}`;
  process.env.ORCHESTRA_TRIGGER_TEST_TOKEN = secret;
  t.after(() => delete process.env.ORCHESTRA_TRIGGER_TEST_TOKEN);
  const fire = async (overrides: Record<string, unknown>, command: (root: string) => string) => {
    const ws = await makeWorkspace(t, overrides);
    const up = await runUp(ws, { only: ['triggers'], log: createLogger('test', () => undefined) });
    t.after(() => up.stop());
    await addTrigger(ws, 'default', { on: 'pending', action: { kind: 'run_command', command: command(ws.paths.root) } }, testActor);
    const task = await createTask(ws, { title: 'fire', workstream: 'default' }, { actor: testActor });
    const fired = await waitFor('the trigger fired', () => eventsOf(ws.paths.root, `tasks/${task.id}`).find((e) => e.type === 'trigger.fired'), 15_000);
    return { ws, data: fired.data };
  };

  const refused = await fire({ sandbox: { bwrapPath: NO_BWRAP } }, () => 'echo ran');
  assert.equal(refused.data.ok, false);
  assert.match(refused.data.output, /no sandbox is available.*apt-get install bubblewrap/s);

  const command = (root: string) => [
    'echo "env=[$ORCHESTRA_TRIGGER_TEST_TOKEN]"',
    `echo "literal=${secret}"`,
    'echo "task=$ORCHESTRA_TASK_ID"',
    `ls ${root}/orchestra.json 2>/dev/null; echo "ws=$?"`,
    'echo x > planted; pwd',
  ].join('; ');
  const ran = await fire({}, command);
  const out = String(ran.data.output);
  assert.equal(ran.data.ok, true, out);
  assert.match(out, /^env=\[\]$/m, 'the secret variable is not passed');
  assert.match(out, /^literal=\[redacted\]$/m, 'a secret value in the output is masked');
  assert.equal(out.includes(secret), false);
  assert.match(out, /^task=\S+$/m);
  assert.match(out, /^ws=[1-9]/m, 'the workspace is not visible');
  const cwd = out.trim().split('\n').at(-1)!;
  assert.equal(cwd.startsWith(ran.ws.paths.root), false, 'runs outside the workspace');
  assert.equal(existsSync(join(ran.ws.paths.root, 'planted')), false);
  assert.equal(existsSync(cwd), false, 'its private directory is removed');
});
