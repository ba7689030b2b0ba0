import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runUp } from '../src/app/up.js';
import { createLogger } from '../src/core/log.js';
import { createTask } from '../src/core/ops/tasks.js';
import { addTrigger } from '../src/core/ops/workstreams.js';
import { eventsOf, makeWorkspace, testActor, waitFor } from './support/core-workspace.js';

test('record files: same content is idempotent; other content conflicts, or takes a -tryN name when asked', async (t) => {
  const ws = await makeWorkspace(t);
  const task = await createTask(ws, { title: 'files', workstream: 'default' }, { actor: testActor });
  const first = await ws.writeTaskFile(task.id, 'plan-v1.md', 'one');
  assert.equal(await ws.writeTaskFile(task.id, 'plan-v1.md', 'one'), first);
  await assert.rejects(ws.writeTaskFile(task.id, 'plan-v1.md', 'two'), { code: 'CONFLICT' });
  // A step re-run after its holder died between writing the file and recording the event.
  const second = await ws.writeTaskFile(task.id, 'plan-v1.md', 'two', { onTaken: 'newName' });
  assert.match(second, /records\/plan-v1-try2\.md$/);
  assert.equal(readFileSync(join(ws.paths.root, second), 'utf8'), 'two');
  assert.equal(readFileSync(join(ws.paths.root, first), 'utf8'), 'one', 'the first file is never changed');
  assert.equal(await ws.writeTaskFile(task.id, 'plan-v1.md', 'two', { onTaken: 'newName' }), second);
});

test('a trigger added while the triggers loop runs fires for the next task entering its state', async (t) => {
  const ws = await makeWorkspace(t);
  const up = await runUp(ws, { only: ['triggers'], log: createLogger('test', () => undefined) });
  t.after(() => up.stop());
  // Trigger commands run sandboxed (the workspace is invisible to them): the recorded output shows it fired.
  await addTrigger(ws, 'default', { on: 'pending', action: { kind: 'run_command', command: 'echo fired-{task_id}' } }, testActor);
  const task = await createTask(ws, { title: 'after the trigger', workstream: 'default' }, { actor: testActor });
  const fired = await waitFor('the new trigger fired', () => eventsOf(ws.paths.root, `tasks/${task.id}`).find((e) => e.type === 'trigger.fired'), 10_000);
  assert.equal(fired.data.ok, true, fired.data.output);
  assert.equal(fired.data.output, `fired-${task.id}`);
  await up.stop(); // before the workspace is removed: a running committer would still write in .git
});
