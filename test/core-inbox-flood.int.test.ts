import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { foldTask } from '../src/core/model/task.js';
import { Workspace } from '../src/core/workspace.js';
import { killIfRunning, runJson, spawnCli } from './support/cli-run.js';
import { gitOut, makeWorkspace, taskIdsIn, waitFor } from './support/core-workspace.js';

const TOTAL = 5000;
const HALF = TOTAL / 2;
const title = (i: number) => `flood task ${String(i).padStart(4, '0')}`;

/** Half JSON, half Markdown with front matter, like people and adapters would drop them. */
function drop(inbox: string, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    if (i % 2) writeFileSync(join(inbox, `task-${i}.json`), JSON.stringify({ title: title(i), tags: ['flood'], body: `body ${i}` }));
    else writeFileSync(join(inbox, `task-${i}.md`), `---\ntitle: ${title(i)}\ntags: [flood]\n---\nbody ${i}\n`);
  }
}

test('5,000 files dropped into the inbox at once, half while no loop runs: all recorded, once', async (t) => {
  const ws = await makeWorkspace(t, { fsync: false });
  const root = ws.paths.root;
  drop(ws.paths.inbox, 0, HALF); // no loop is running yet

  const started = Date.now();
  const up = spawnCli(root, ['up', '--only', 'intake']);
  t.after(() => killIfRunning(up));
  // The second half lands while intake is busy with the first.
  await waitFor('intake started recording', () => taskIdsIn(ws.paths.root).length > 0, 30_000);
  drop(ws.paths.inbox, HALF, TOTAL);

  const pending = () => readdirSync(ws.paths.inbox).filter((n) => n !== 'rejected').length + readdirSync(ws.paths.intake).length;
  await waitFor('inbox drained', () => pending() === 0, 150_000, 100);
  t.diagnostic(`5,000 files recorded after ${Date.now() - started} ms`);
  const tracked = () => gitOut(root, 'ls-tree', '-r', '--name-only', 'HEAD', '--', 'tasks').split('\n').filter((f) => f.endsWith('/events/0000000001.json')).length;
  await waitFor('every record committed', () => tracked() === TOTAL, 60_000, 200);

  t.diagnostic(`committed after ${Date.now() - started} ms`);
  up.child.kill('SIGTERM');
  const exit = await up.exited;
  assert.equal(exit.code, 0, `up exits cleanly on SIGTERM: ${exit.stderr}`);

  t.diagnostic(`stopped after ${Date.now() - started} ms`);
  assert.deepEqual(readdirSync(ws.paths.inbox), ['rejected'], 'the inbox is empty');
  assert.deepEqual(readdirSync(ws.paths.rejected), [], 'nothing was rejected');

  const fresh = await Workspace.open(root);
  const ids = await fresh.taskIds();
  assert.equal(ids.length, TOTAL, 'exactly 5,000 task streams');
  const seen = new Map<string, number>();
  for (const id of ids) {
    const state = await fresh.readStream(`tasks/${id}`);
    assert.equal(state.damaged.length, 0);
    assert.equal(state.records.length, 1, `task ${id} was recorded once`);
    const view = foldTask(state.records)!;
    seen.set(view.title, (seen.get(view.title) ?? 0) + 1);
  }
  const expected = Array.from({ length: TOTAL }, (_, i) => title(i));
  assert.deepEqual([...seen.keys()].sort(), expected, 'every dropped title became a task');
  assert.deepEqual([...seen.values()].filter((n) => n !== 1), [], 'each title exactly once');

  t.diagnostic(`folded after ${Date.now() - started} ms`);
  assert.equal(gitOut(root, 'status', '--porcelain', '--', 'tasks'), '', 'nothing left uncommitted');
  assert.match(gitOut(root, 'log', '-1', '--format=%s'), /records across|task /);
  const verify = await runJson(root, ['verify']);
  assert.equal(verify.json.data.ok, true, JSON.stringify(verify.json.data.findings.slice(0, 5)));
  assert.equal(verify.json.data.records, TOTAL + 2, '5,000 task records plus the two workstreams');
});
