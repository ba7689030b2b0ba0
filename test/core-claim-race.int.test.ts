import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createTask } from '../src/core/ops/tasks.js';
import { foldTask } from '../src/core/model/task.js';
import { claimTask } from '../src/core/leases.js';
import { Workspace } from '../src/core/workspace.js';
import { killIfRunning, spawnNode, type Running } from './support/cli-run.js';
import { eventsOf, makeWorkspace, testActor, waitFor } from './support/core-workspace.js';

const WORKER = fileURLToPath(new URL('./support/core-claim-worker.js', import.meta.url));
const TASKS = 200;
const WORKERS = 5;

test('5 processes racing to claim the same 200 tasks: each task claimed exactly once', async (t) => {
  const ws = await makeWorkspace(t);
  const created = new Set<string>();
  for (let i = 0; i < TASKS; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, (_, j) => createTask(ws, { title: `race ${i + j}` }, { actor: testActor })));
    for (const view of batch) created.add(view.id);
  }
  assert.equal(created.size, TASKS);

  const workers: Running[] = Array.from({ length: WORKERS }, (_, i) => spawnNode(WORKER, [ws.paths.root, `worker-${i}`, i % 2 ? 'rev' : 'fwd']));
  t.after(() => workers.forEach(killIfRunning));
  // Every worker has opened the workspace and listed the tasks before any of them claims.
  await waitFor('all workers ready', () => workers.every((w) => w.output().includes('ready')), 20_000);
  for (const w of workers) w.child.stdin!.end('go\n');
  const results = await Promise.all(workers.map((w) => w.exited));

  const wonBy = new Map<string, string[]>();
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 0, `worker ${i} failed: ${r.stderr}`);
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    assert.ok(line, `worker ${i} printed its result: ${r.stdout}`);
    const { owner, won } = JSON.parse(line) as { owner: string; won: string[] };
    for (const id of won) wonBy.set(id, [...(wonBy.get(id) ?? []), owner]);
  }
  const doubles = [...wonBy].filter(([, owners]) => owners.length > 1);
  assert.deepEqual(doubles, [], 'no task was won by two workers');
  assert.deepEqual([...wonBy.keys()].sort(), [...created].sort(), 'the union of the winners is exactly the 200 tasks');
  const winners = new Set([...wonBy.values()].map((o) => o[0]));
  assert.ok(winners.size >= 2, `the race was real: ${winners.size} worker(s) won tasks`);

  for (const id of created) {
    const acquired = eventsOf(ws.paths.root, `tasks/${id}`).filter((e) => e.type === 'lease.acquired');
    assert.equal(acquired.length, 1, `task ${id} has exactly one lease.acquired`);
    assert.equal(acquired[0]!.data.attempt, 1);
    assert.deepEqual(wonBy.get(id), [acquired[0]!.data.owner], `the recorded owner of ${id} is the worker that reported winning it`);
  }

  // A fresh reader (no cache) folds the same thing: every lease held by its single winner.
  const fresh = await Workspace.open(ws.paths.root);
  for (const id of created) {
    const view = foldTask((await fresh.readStream(`tasks/${id}`)).records)!;
    assert.equal(view.attempts, 1);
    assert.equal(view.lease?.owner, wonBy.get(id)![0]);
  }
});

test('claimTask in one process: racing claims of one task give one lease, the loser gets null', async (t) => {
  const ws = await makeWorkspace(t);
  const { id } = await createTask(ws, { title: 'contested' }, { actor: testActor });
  // Separate Workspace objects: separate caches, like separate processes.
  const claimants = await Promise.all(Array.from({ length: 8 }, () => Workspace.open(ws.paths.root)));
  const leases = await Promise.all(claimants.map((c, i) => claimTask(c, id, { purpose: 'race', owner: `c${i}`, ttlMs: 60_000, actor: testActor })));
  assert.equal(leases.filter(Boolean).length, 1, 'exactly one claimant won');
  assert.equal(eventsOf(ws.paths.root, `tasks/${id}`).filter((e) => e.type === 'lease.acquired').length, 1);
});
