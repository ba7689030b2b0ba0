import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { filesUnder } from '../src/core/commit-scope.js';
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

  // A later scan is a changed-directories one (its deep mark stays); once the commit the last scan
  // saw is no longer in HEAD's history (sync moved HEAD, a reset), the next scan is deep again.
  const afterRecent = JSON.parse(readFileSync(scanRecord(ws), 'utf8')) as { since: number; deepAt: number; head: string };
  assert.equal(afterRecent.deepAt, record.deepAt, 'the second scan was not deep');
  assert.equal(afterRecent.head, gitOut(ws.paths.root, 'rev-parse', 'HEAD'), 'the record names the commit that holds what it found');
  writeFileSync(scanRecord(ws), JSON.stringify({ ...afterRecent, head: 'f'.repeat(40) }));
  await scan(ws);
  const afterMove = JSON.parse(readFileSync(scanRecord(ws), 'utf8')) as { since: number; deepAt: number };
  assert.ok(afterMove.deepAt > afterRecent.deepAt && afterMove.deepAt === afterMove.since, 'a deep scan after HEAD lost the recorded commit');
});

test('journal scan walk: unchanged directories are not listed when link counts hold; a deep walk lists them', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  mkdirSync(join(root, 'audit', 'x', 'events'), { recursive: true });
  writeFileSync(join(root, 'audit', 'x', 'events', '0000000001.json'), '{}');
  const future = Date.now() + 3600_000; // "changed since" a time after every stamp here
  assert.deepEqual(await filesUnder(root, 'audit/x', { changedSince: future, trustLinkCounts: true }), [], 'an unchanged task-like directory costs two lstats, no listing');
  assert.deepEqual(await filesUnder(root, 'audit/x', { changedSince: future, trustLinkCounts: false }), [], 'without trusted link counts it is listed, its old files still skipped');
  assert.deepEqual(await filesUnder(root, 'audit/x'), ['audit/x/events/0000000001.json'], 'a deep walk finds the file');
  const past = (Date.now() - 3600_000) / 1000;
  utimesSync(join(root, 'audit', 'x', 'events'), past, past); // mtime old, ctime now: still changed
  assert.deepEqual(await filesUnder(root, 'audit/x', { changedSince: Date.now() - 60_000, trustLinkCounts: true }), ['audit/x/events/0000000001.json'], 'a directory moved or re-stamped (ctime) counts as changed');
});
