import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTask } from '../src/core/ops/tasks.js';
import { Workspace } from '../src/core/workspace.js';
import { makeWorkspace, testActor } from './support/core-workspace.js';

test('task numbers: a copy without the runtime hint (a fresh clone) continues above the numbers the records hold, caching nothing', async (t) => {
  const ws = await makeWorkspace(t);
  for (let i = 0; i < 3; i++) await createTask(ws, { title: `t${i}`, workstream: 'default' }, { actor: testActor });
  rmSync(join(ws.paths.runtime, 'task-numbers'), { recursive: true, force: true }); // .orchestra/ is not in git
  const fresh = await Workspace.open(ws.paths.root);
  const reads: string[] = [];
  const read = fresh.store.read.bind(fresh.store);
  fresh.store.read = (stream: string) => {
    reads.push(stream);
    return read(stream);
  };
  const next = await createTask(fresh, { title: 'after the copy', workstream: 'default' }, { actor: testActor });
  assert.equal(next.number, 4, 'numbered after the highest recorded one');
  assert.equal(reads.filter((s) => s.startsWith('tasks/') && s !== `tasks/${next.id}`).length, 0, 'no other task was folded (first records read alone)');
});

test('task numbers: an empty hint (its writer killed between creating and writing it) is no hint, not 0: numbering goes on above the records', async (t) => {
  const ws = await makeWorkspace(t);
  for (let i = 0; i < 3; i++) await createTask(ws, { title: `t${i}`, workstream: 'default' }, { actor: testActor });
  rmSync(join(ws.paths.runtime, 'task-numbers'), { recursive: true, force: true }); // a fresh clone...
  const fresh = await Workspace.open(ws.paths.root);
  mkdirSync(join(ws.paths.runtime, 'task-numbers'), { recursive: true });
  writeFileSync(join(ws.paths.runtime, 'task-numbers', 'last'), ''); // ...whose first hint write was cut short
  const next = await createTask(fresh, { title: 'after the cut', workstream: 'default' }, { actor: testActor });
  assert.equal(next.number, 4, 'not #1 again');
});
