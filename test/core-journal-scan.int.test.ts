import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createTask } from '../src/core/ops/tasks.js';
import { streamOfTask } from '../src/core/paths.js';
import { StreamStore } from '../src/core/stream-store.js';
import type { Workspace } from '../src/core/workspace.js';
import { gitOut, makeWorkspace, testActor } from './support/core-workspace.js';

/**
 * The journal's safety-net scan: record files nobody noted (a writer killed between its write
 * and its commit) are committed by it; later scans read only directories modified since the
 * last scan began, and a deep scan (no scan on record, or the last deep one a day old) reads all.
 */

/** A record appended by a writer that never commits nor notes it: a bare store, no journal. */
async function unnotedRecord(ws: Workspace, taskId: string): Promise<string> {
  const store = new StreamStore(ws.paths, { fsync: false, maxRecordBytes: 1 << 20 });
  const stream = streamOfTask(taskId);
  const state = await store.read(stream);
  await store.append(stream, state.lastSeq, { actor: testActor, events: [{ type: 'task.commented', data: { text: 'written, never committed' } }] });
  return relative(ws.paths.root, join(ws.paths.streamDir(stream), '0000000002.json'));
}

const committed = (ws: Workspace, file: string) => gitOut(ws.paths.root, 'ls-tree', '--name-only', 'HEAD', '--', file) === file;
const scanRecord = (ws: Workspace) => join(ws.paths.runtime, 'journal-scan.json');

async function scan(ws: Workspace): Promise<void> {
  ws.journal.scanAll();
  await ws.journal.commitPending();
}

test('journal scan: an unnoted record is committed; later scans skip unchanged directories, a deep scan reads them all', async (t) => {
  const ws = await makeWorkspace(t);
  const a = await createTask(ws, { title: 'a', workstream: 'default' }, { actor: testActor });
  const b = await createTask(ws, { title: 'b', workstream: 'default' }, { actor: testActor });
  await ws.journal.flush();

  // No scan on record: a deep scan finds the unnoted file and records when it began.
  const first = await unnotedRecord(ws, a.id);
  assert.equal(committed(ws, first), false);
  await scan(ws);
  assert.equal(committed(ws, first), true, 'the unnoted record is committed by the scan');
  const record = JSON.parse(readFileSync(scanRecord(ws), 'utf8')) as { since: number; deepAt: number };
  assert.ok(record.since > 0 && record.deepAt === record.since, 'a deep scan is on record');

  // A file in a directory modified after the last scan began: found by the next (cheap) scan.
  const second = await unnotedRecord(ws, b.id);
  await scan(ws);
  assert.equal(committed(ws, second), true, 'a directory changed since the last scan is read');

  // A directory whose mtime says "unchanged for hours" is not read by a later scan (that is the
  // saving) — but a deep scan, due once a day, still finds what such a clock would hide.
  const hidden = await unnotedRecord(ws, (await createTask(ws, { title: 'c', workstream: 'default' }, { actor: testActor })).id);
  await ws.journal.flush();
  const hours = (Date.now() - 3 * 3600_000) / 1000;
  const eventsDir = join(ws.paths.root, hidden, '..');
  utimesSync(eventsDir, hours, hours);
  utimesSync(join(eventsDir, '..'), hours, hours);
  await scan(ws);
  assert.equal(committed(ws, hidden), false, 'a directory not modified since the last scan is not listed');
  const saved = JSON.parse(readFileSync(scanRecord(ws), 'utf8')) as { since: number; deepAt: number };
  writeFileSync(scanRecord(ws), JSON.stringify({ ...saved, deepAt: Date.now() - 25 * 3600_000 }));
  await scan(ws);
  assert.equal(committed(ws, hidden), true, 'the daily deep scan reads every directory');
});
