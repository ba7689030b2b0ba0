import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignalLog } from '../src/core/signal-log.js';
import { SignalFeed } from '../src/core/signals.js';

const tempDir = (t: { after(fn: () => void): void }) => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-siglog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

test('signal log: a reader gets exactly the lines appended after its mark, across rotations', async (t) => {
  const dir = tempDir(t);
  const log = new SignalLog(dir, { rotateBytes: 100 });
  await log.append('OLD', 1);
  let cursor = await log.mark();
  const written: Array<[string, number]> = [];
  for (let i = 1; i <= 60; i++) {
    const name = `T${i % 7}`;
    written.push([name, i]);
    await log.append(name, i);
  }
  assert.ok(readdirSync(dir).filter((n) => n.endsWith('.log')).length >= 3, 'the log rotated several times');
  const got: Array<[string, number]> = [];
  for (let round = 0; round < 5; round++) {
    const read = await log.readSince(cursor);
    assert.equal(read.lost, false);
    got.push(...read.entries);
    cursor = read.cursor;
  }
  assert.deepEqual(got, written, 'every line once, in order, none from before the mark');
  assert.deepEqual((await log.readSince(cursor)).entries, [], 'nothing new: nothing read');
});

test('signal log: a half-written line waits; a pruned file is reported as lost', async (t) => {
  const dir = tempDir(t);
  const log = new SignalLog(dir, { rotateBytes: 100, keepMs: 0 });
  await log.append('A', 1);
  const cursor = await log.mark();
  writeFileSync(join(dir, 'current'), 'A 1\nB 2\nC', { flag: 'w' }); // same inode, a line still being written
  const partial = await log.readSince({ file: cursor.file, offset: 4 });
  assert.deepEqual(partial.entries, [['B', 2]]);
  // The reader's file is rotated and pruned before it looks again: it cannot know what it missed.
  for (let i = 0; i < 20; i++) await log.append('X', 10 + i);
  for (const name of readdirSync(dir)) if (name.endsWith('.log')) unlinkSync(join(dir, name));
  assert.equal((await log.readSince(partial.cursor)).lost, true);
});

test('signal feed: a subscriber in another process learns of appends through the log even without file signals', async (t) => {
  const dir = tempDir(t);
  const signals = join(dir, 'signals');
  const logDir = join(dir, 'log');
  const reader = new SignalFeed(signals, logDir, 60_000); // the timer never fires in this test
  const got: Array<[string, number]> = [];
  const sub = await reader.subscribe((name, seq) => got.push([name, seq]));
  t.after(() => sub.close());
  // Another process's appends, seen only through the log (as if the watcher had missed them).
  const other = new SignalLog(logDir);
  await other.append('TASKA', 3);
  await other.append('TASKB', 1);
  await other.append('TASKA', 2); // an older seq than known: not delivered again
  await reader.scan();
  assert.deepEqual(got, [['TASKA', 3], ['TASKB', 1]]);
  assert.equal(reader.lastSeq('TASKA'), 3);
});
