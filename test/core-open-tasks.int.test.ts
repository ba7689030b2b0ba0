import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { archiveTask, commentTask, createTask, moveTask } from '../src/core/ops/tasks.js';
import { OpenTaskIndex } from '../src/core/open-tasks.js';
import { parseSignalText } from '../src/core/signals.js';
import { streamOfTask } from '../src/core/paths.js';
import { StreamStore } from '../src/core/stream-store.js';
import { verifyWorkspace } from '../src/core/verify.js';
import { Workspace } from '../src/core/workspace.js';
import { makeWorkspace, testActor, waitFor } from './support/core-workspace.js';

const opts = { actor: testActor };

/** Counts the task streams a workspace instance reads (a fresh instance has an empty cache). */
function countReads(ws: Workspace): Map<string, number> {
  const reads = new Map<string, number>();
  const read = ws.store.read.bind(ws.store);
  ws.store.read = (stream: string) => {
    if (stream.startsWith('tasks/')) reads.set(stream.slice(6), (reads.get(stream.slice(6)) ?? 0) + 1);
    return read(stream);
  };
  return reads;
}

async function seed(ws: Workspace) {
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push((await createTask(ws, { title: `task ${i}` }, opts)).id);
  for (const id of ids.slice(0, 3)) {
    await moveTask(ws, id, 'in_progress', opts);
    await moveTask(ws, id, 'completed', opts);
  }
  await archiveTask(ws, ids[3]!, opts);
  return { settled: ids.slice(0, 4), open: ids.slice(4) };
}

test('open tasks: loops see only open tasks; a new process skips settled ones by the persisted index', async (t) => {
  const ws = await makeWorkspace(t);
  const { settled, open } = await seed(ws);
  const first = ws.openTasks();
  t.after(() => first.close());
  assert.deepEqual((await first.views()).map((v) => v.id).sort(), [...open].sort());
  const saved = JSON.parse(readFileSync(join(ws.paths.runtime, 'index', 'settled.json'), 'utf8'));
  assert.deepEqual(Object.keys(saved.settled).sort(), [...settled].sort());

  // A fresh process: the settled tasks are not read at all (once their signal files are written:
  // the writer does that just after each append).
  for (const id of settled) {
    const seq = (await ws.task(id)).lastSeq;
    await waitFor(`signal of ${id}`, () => parseSignalText(readFileSync(join(ws.paths.signals, id), 'utf8')) === seq || undefined);
  }
  const fresh = await Workspace.open(ws.paths.root);
  const reads = countReads(fresh);
  const handle = fresh.openTasks();
  t.after(() => handle.close());
  assert.deepEqual((await handle.views()).map((v) => v.id).sort(), [...open].sort());
  for (const id of settled) assert.equal(reads.get(id), undefined, `settled task ${id} was read`);
  for (const id of open) assert.ok(reads.get(id), `open task ${id} was read`);

  // Another process writes to a settled task: its signal moves past the index entry, so it is read again.
  await commentTask(ws, settled[0]!, 'a late note', opts);
  await waitFor('the late record re-read', async () => {
    await fresh.signals.scan();
    await handle.views();
    return reads.get(settled[0]!);
  });
  assert.deepEqual((await handle.views()).map((v) => v.id).sort(), [...open].sort(), 'still settled, still not offered');

  // An open task that settles leaves the open set without a full re-read.
  await moveTask(ws, open[0]!, 'in_progress', opts);
  await moveTask(ws, open[0]!, 'completed', opts);
  await waitFor('the completed task leaves the open set', async () => {
    await fresh.signals.scan();
    return !(await handle.views()).some((v) => v.id === open[0]) || undefined;
  });
});

test('open tasks: a settled index that contradicts the records is reported by verify', async (t) => {
  const ws = await makeWorkspace(t);
  const { open } = await seed(ws);
  const handle = ws.openTasks();
  t.after(() => handle.close());
  await handle.views();
  assert.equal((await verifyWorkspace(ws)).findings.filter((f) => f.kind === 'index-stale').length, 0);
  const path = join(ws.paths.runtime, 'index', 'settled.json');
  const index = JSON.parse(readFileSync(path, 'utf8'));
  const task = await ws.task(open[0]!);
  index.settled[task.id] = task.lastSeq; // claims an open task is settled
  writeFileSync(path, JSON.stringify(index));
  const stale = (await verifyWorkspace(ws)).findings.filter((f) => f.kind === 'index-stale');
  assert.equal(stale.length, 1);
  assert.match(stale[0]!.message, new RegExp(task.id));
});

test('open tasks: a record appended without a signal (writer killed before signalling) is seen by the periodic check', async (t) => {
  const ws = await makeWorkspace(t);
  const task = await createTask(ws, { title: 'open, then moved by a writer that never signals' }, opts);
  const index = new OpenTaskIndex(ws, OpenTaskIndex.pathIn(ws.paths.runtime), 0);
  t.after(() => index.close());
  assert.equal((await index.views()).find((v) => v.id === task.id)?.state, 'pending');
  // Straight to the store: a record on disk that no signal announces.
  const other = await Workspace.open(ws.paths.root);
  const state = await other.store.read(streamOfTask(task.id));
  await other.store.append(streamOfTask(task.id), state.lastSeq, { actor: testActor, events: [{ type: 'task.moved', data: { from: 'pending', to: 'in_progress' } }] });
  assert.equal((await index.views()).find((v) => v.id === task.id)?.state, 'in_progress', 'the next pass checks the open task and re-reads it');
});

test('open tasks: a settled task that got a record without a signal is read again by the next process', async (t) => {
  const ws = await makeWorkspace(t);
  const { settled } = await seed(ws);
  const first = ws.openTasks();
  await first.views(); // writes the settled index
  first.close();
  const done = settled[0]!;
  await waitFor(`signal of ${done}`, async () => parseSignalText(readFileSync(join(ws.paths.signals, done), 'utf8')) === (await ws.task(done)).lastSeq || undefined);
  // A record appended straight to the store (no signal), as by a writer killed before signalling.
  const bare = new StreamStore(ws.paths, { fsync: false, maxRecordBytes: 1 << 20 }); // no signal, no journal
  const state = await bare.read(streamOfTask(done));
  await bare.append(streamOfTask(done), state.lastSeq, { actor: testActor, events: [{ type: 'task.commented', data: { text: 'late' } }] });
  const fresh = await Workspace.open(ws.paths.root);
  const reads = countReads(fresh);
  const handle = fresh.openTasks();
  t.after(() => handle.close());
  await handle.views();
  assert.ok(reads.get(done), 'the index entry is not trusted past a record on disk: the task is read');
  for (const id of settled.slice(1)) assert.equal(reads.get(id), undefined, `settled task ${id} with no new record is still skipped`);
});
