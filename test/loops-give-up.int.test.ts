import { test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { loopActor } from '../src/core/actor.js';
import { createLogger } from '../src/core/log.js';
import { createTask } from '../src/core/ops/tasks.js';
import { TaskLoop } from '../src/loops/task-loop.js';
import { runCli, runJson } from './support/cli-run.js';
import { eventsOf, makeWorkspace, testActor, waitFor } from './support/core-workspace.js';

// A step that always throws must not claim and release its task forever.

const quiet = createLogger('test', () => undefined);
const claims = (root: string, id: string) => eventsOf(root, `tasks/${id}`).filter((e) => e.type === 'lease.acquired').length;

test('a step that throws maxStepFailures times in a row gives up: giveUp ends the task, nothing is claimed again', async (t) => {
  const ws = await makeWorkspace(t, { loops: { scanIntervalMs: 50, maxStepFailures: 3 } });
  const id = (await createTask(ws, { title: 'always breaks' }, { actor: testActor })).id;
  const givenUp: string[] = [];
  const loop = new TaskLoop({ ws, actor: loopActor('breaker'), log: quiet }, {
    name: 'breaker',
    purpose: 'break',
    wants: (task) => task.state === 'pending' && !task.comments.length,
    work: async () => { throw new Error('the step is broken'); },
    giveUp: async (lease, reason) => {
      givenUp.push(reason);
      await lease.release([{ type: 'task.commented', data: { text: reason } }], 'gave up');
    },
  });
  await loop.start();
  t.after(() => loop.stop());
  await waitFor('the loop gives up', () => givenUp.length === 1, 10_000);
  assert.match(givenUp[0]!, /breaker gave up after 3 failures in a row: the step is broken/);
  const seen = claims(ws.paths.root, id);
  assert.equal(seen, 3);
  await new Promise((r) => setTimeout(r, 400)); // several scan intervals
  assert.equal(claims(ws.paths.root, id), 3, 'never claimed again');
  assert.deepEqual((await ws.task(id)).comments.map((c) => c.text), [givenUp[0]]);
});

test('without giveUp the loop parks the task instead of looping on it', async (t) => {
  const ws = await makeWorkspace(t, { loops: { scanIntervalMs: 50, maxStepFailures: 2 } });
  const id = (await createTask(ws, { title: 'always breaks' }, { actor: testActor })).id;
  const loop = new TaskLoop({ ws, actor: loopActor('breaker'), log: quiet }, {
    name: 'breaker', purpose: 'break', wants: (task) => task.state === 'pending',
    work: async () => { throw new Error('broken'); },
  });
  await loop.start();
  t.after(() => loop.stop());
  await waitFor('two claims', () => claims(ws.paths.root, id) >= 2, 10_000);
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(claims(ws.paths.root, id), 2);
  assert.equal(await loop.idle(), true, 'a parked task does not keep the loop busy (up --once ends)');
});

test('a dev task whose limits field is not an object fails at once with the reason, without looping', async (t) => {
  const ws = await makeWorkspace(t, { planner: { provider: 'scripted', model: 'm', scriptFile: 'planner.json' } });
  const root = ws.paths.root;
  writeFileSync(join(root, 'planner.json'), JSON.stringify({ replies: [{ text: 'never reached' }] }));
  const bad = await runJson(root, ['task', 'new', 'bad limits', '--workstream', 'dev', '--field', 'repo=.', '--field', 'limits={"maxTurns":2}']);
  assert.equal(bad.code, 0, bad.stdout);
  const id = bad.json.data.id ?? bad.json.data;
  const up = await runCli(root, ['up', '--once', '--only', 'planner'], { timeoutMs: 60_000 });
  assert.equal(up.code, 0, up.stderr);
  const view = (await runJson(root, ['task', 'show', id])).json.data;
  assert.equal(view.state, 'failed');
  assert.match(view.dev.failure.reason, /limits/);
  assert.ok(claims(root, id) <= 3, `claimed ${claims(root, id)} times`);
});
