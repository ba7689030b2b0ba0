/**
 * Contract of the append-only stream store (src/core/stream-store.ts, chain.ts, safe-read.ts),
 * tested on StreamStore itself in real temp dirs.
 *
 * Covered elsewhere, through the CLI and `verify` (which reports StreamStore's `damaged` and
 * `chainBreaks`), and so not repeated here:
 * - a torn or edited (checksum) record is damage, is not folded, and appends continue after it:
 *   core-torn-record.int.test.ts;
 * - a rewritten middle record breaks the chain at the next record, a dropped `prev` is a
 *   downgrade: core-forgery.int.test.ts;
 * - a leftover `.tmp-*` file is not a record: core-torn-record.int.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Actor } from '../src/core/actor.js';
import { EMPTY_HASH, GENESIS_PREV } from '../src/core/chain.js';
import { isOrchestraError } from '../src/core/errors.js';
import { WorkspacePaths } from '../src/core/paths.js';
import { recordFileName, type StreamRecord } from '../src/core/record.js';
import { StreamStore, type RecordDraft, type StoreOptions } from '../src/core/stream-store.js';

const actor: Actor = { kind: 'system', name: 'store-contract', pid: process.pid };
const STREAM = 'tasks/01STORECONTRACT';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const note = (n: number | string, extra: Partial<RecordDraft> = {}): RecordDraft => ({ actor, events: [{ type: 'test.note', data: { n } }], ...extra });

type Cleanup = { after: (fn: () => void) => void };

/** A temp workspace root (removed after the test) and a store on it. */
function setup(t: Cleanup, opts: Partial<StoreOptions> = {}) {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'orchestra-store-')));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const paths = new WorkspacePaths(root);
  const open = (more: Partial<StoreOptions> = {}) => new StreamStore(paths, { fsync: false, ...opts, ...more });
  const dir = paths.streamDir(STREAM);
  const fileOf = (seq: number) => join(dir, recordFileName(seq));
  /** Every name in the stream's events dir, sorted (record files and anything else). */
  const names = () => {
    try {
      return readdirSync(dir).sort();
    } catch {
      return [];
    }
  };
  return { root, paths, store: open(), open, dir, fileOf, names };
}

/** Appends `n` records in order and returns them. */
async function appendMany(store: StreamStore, n: number, from = 0): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  for (let i = 0; i < n; i++) out.push(await store.append(STREAM, from + i, note(from + i + 1)));
  return out;
}

const conflict = (err: unknown) => isOrchestraError(err, 'CONFLICT');

test('append at the expected position: seq follows it; a stale position is CONFLICT and nothing is overwritten', async (t) => {
  const { store, fileOf, names } = setup(t);
  const first = await store.append(STREAM, 0, note(1));
  assert.equal(first.seq, 1);
  assert.equal(first.stream, STREAM);
  const second = await store.append(STREAM, 1, note(2));
  assert.equal(second.seq, 2);
  assert.deepEqual(names(), [recordFileName(1), recordFileName(2)]);

  const before = readFileSync(fileOf(1));
  await assert.rejects(store.append(STREAM, 0, note('late')), (err: unknown) => {
    assert.ok(conflict(err), String(err));
    assert.deepEqual(err.details, { stream: STREAM, seq: 1 });
    assert.match(err.message, /moved past 0/);
    return true;
  });
  assert.deepEqual(readFileSync(fileOf(1)), before, 'the record at the taken position is unchanged');
  assert.deepEqual(names(), [recordFileName(1), recordFileName(2)], 'no file added, no temp left');
  const state = await store.read(STREAM);
  assert.equal(state.lastSeq, 2);
  assert.deepEqual(state.records.map((r) => r.events[0]!.data.n), [1, 2]);
});

test('appends racing for one position: exactly one wins, every other gets CONFLICT (one store and across stores)', async (t) => {
  const { open, names } = setup(t);
  const stores = [open(), open(), open(), open()];
  for (let position = 0; position < 8; position++) {
    // Half the rounds race inside one store (one process), half across four (four processes' views).
    const racers = position % 2 ? stores : stores.map(() => stores[0]!);
    const results = await Promise.allSettled(racers.map((s, i) => s.append(STREAM, position, note(`p${position}-r${i}`))));
    const won = results.filter((r): r is PromiseFulfilledResult<StreamRecord> => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1, `one winner at position ${position}`);
    assert.equal(lost.length, racers.length - 1);
    for (const l of lost) assert.ok(conflict(l.reason), String(l.reason));
    // Whoever reads sees the winner's record, whichever store it used.
    const state = await stores[(position + 1) % stores.length]!.read(STREAM);
    assert.deepEqual(state.records.at(-1), won[0]!.value);
    assert.equal(state.lastSeq, position + 1);
  }
  assert.deepEqual(names(), Array.from({ length: 8 }, (_, i) => recordFileName(i + 1)), 'one file per position, no temp left behind');
  const state = await open().read(STREAM);
  assert.deepEqual(state.chainBreaks, [], 'the winners chain to each other');
  assert.deepEqual(state.damaged, []);
});

test('records read back in order and equal to what was written (fresh reader, incremental reader)', async (t) => {
  const { store, open } = setup(t);
  const reader = open();
  assert.deepEqual((await reader.read(STREAM)).records, [], 'an absent stream reads as empty');
  const written: StreamRecord[] = [];
  written.push(await store.append(STREAM, 0, { actor, events: [{ type: 'test.created', data: { title: 'ünïcødé ✓ "quoted" \n line' } }] }));
  written.push(await store.append(STREAM, 1, { actor, fence: { attempt: 3 }, cause: 'claim-42', events: [{ type: 'a', data: { nested: { list: [1, null, true, 'x'] } } }, { type: 'b', data: {} }] }));
  const middle = await reader.read(STREAM);
  assert.deepEqual(middle.records, written, 'the reader sees the first two');
  await store.read(STREAM); // from here on the writer extends its cache with what it appends
  written.push(...(await appendMany(store, 5, 2)));

  const fresh = await open().read(STREAM);
  assert.deepEqual(fresh.records, written, 'a fresh store reads exactly what was written, in order');
  assert.deepEqual(fresh.records.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(fresh.lastSeq, 7);
  assert.deepEqual([fresh.damaged, fresh.chainBreaks, fresh.temps], [[], [], []]);
  const again = await reader.read(STREAM);
  assert.deepEqual(again.records, written, 'a reader that cached the first two picks up the rest');
  assert.deepEqual(await store.read(STREAM), fresh, "the writer's extended cache equals a fresh read");
});

test('prev chains each record to the sha256 of the previous file (GENESIS at seq 1), whichever store wrote it', async (t) => {
  const { store, open, fileOf } = setup(t);
  const other = open();
  // Alternate writers, so `prev` comes sometimes from the writer's cache, sometimes from the file.
  let last = (await store.append(STREAM, 0, note(0))).seq;
  await store.read(STREAM);
  await other.read(STREAM);
  for (let i = 1; i < 6; i++) {
    const writer = i % 2 ? other : store;
    last = (await writer.append(STREAM, last, note(i))).seq;
  }
  const records = (await open().read(STREAM)).records;
  assert.equal(records.length, 6);
  assert.equal(records[0]!.prev, GENESIS_PREV);
  for (let seq = 2; seq <= 6; seq++) assert.equal(records[seq - 1]!.prev, sha256(readFileSync(fileOf(seq - 1))), `record ${seq} links to file ${seq - 1}`);
  const state = await open().read(STREAM);
  assert.equal(state.tailHash, sha256(readFileSync(fileOf(6))));
  assert.equal(state.chained, true);
  assert.deepEqual(state.chainBreaks, []);
});

test('a record over maxRecordBytes is refused with RECORD_TOO_LARGE and nothing is written', async (t) => {
  const limit = 2048;
  const { store, names } = setup(t, { maxRecordBytes: limit });
  await store.append(STREAM, 0, note(1));
  const before = names();
  // Just over: the events fit, the record file with its envelope does not (serialized-size check).
  const envelope = Buffer.byteLength(readFileSync(join(store.paths.streamDir(STREAM), recordFileName(1)), 'utf8')) - 1;
  const justOver = { actor, events: [{ type: 'test.big', data: { text: 'x'.repeat(limit - envelope + 50) } }] };
  // Far over: refused before serializing (shared sub-values could expand to gigabytes).
  const shared = { text: 'y'.repeat(1000) };
  const farOver = { actor, events: [{ type: 'test.huge', data: { parts: Array.from({ length: 10_000 }, () => shared) } }] };
  for (const [what, draft] of [['just over', justOver], ['far over', farOver]] as const) {
    await assert.rejects(store.append(STREAM, 1, draft), (err: unknown) => {
      assert.ok(isOrchestraError(err, 'RECORD_TOO_LARGE'), `${what}: ${String(err)}`);
      assert.equal(err.details?.limit, limit);
      assert.equal(err.details?.stream, STREAM);
      assert.match(err.message, new RegExp(`limit is ${limit} bytes`));
      assert.match(err.message, /test\.(big|huge)/, 'the message names the event type');
      return true;
    });
    assert.deepEqual(names(), before, `${what}: no record file and no temp file`);
  }
  assert.equal((await store.read(STREAM)).lastSeq, 1);
  const next = await store.append(STREAM, 1, note(2));
  assert.equal(next.seq, 2, 'the position stays free for a record that fits');
});

test('a symlink, FIFO or directory planted under a record name is damaged "not-regular", never followed or blocked on; appends go after it', async (t) => {
  const { root, store, open, dir, fileOf } = setup(t);
  await appendMany(store, 1);
  // Targets that would be trouble if followed: a valid record elsewhere, and a FIFO nobody writes.
  const outside = join(root, 'outside');
  mkdirSync(outside);
  // A valid record 2 of this stream, chained to a valid record 1: read through the link, it would fold.
  const decoys = await appendMany(new StreamStore(new WorkspacePaths(outside), { fsync: false }), 2);
  assert.equal(decoys[1]!.seq, 2);
  const fifo = join(outside, 'fifo');
  execFileSync('mkfifo', [fifo]);
  symlinkSync(join(new WorkspacePaths(outside).streamDir(STREAM), recordFileName(2)), fileOf(2));
  symlinkSync(fifo, fileOf(3));
  execFileSync('mkfifo', [fileOf(4)]);
  mkdirSync(fileOf(5));

  const started = Date.now();
  const state = await open().read(STREAM);
  assert.ok(Date.now() - started < 5000, 'reading did not block');
  assert.deepEqual(state.records.map((r) => r.seq), [1]);
  assert.deepEqual(state.damaged.map((d) => [d.seq, d.kind]), [[2, 'not-regular'], [3, 'not-regular'], [4, 'not-regular'], [5, 'not-regular']]);
  assert.match(state.damaged[0]!.reason, /symbolic link \(never followed\)/);
  assert.match(state.damaged[1]!.reason, /symbolic link/);
  assert.match(state.damaged[2]!.reason, /FIFO/);
  assert.match(state.damaged[3]!.reason, /directory/);
  assert.equal(state.damaged[0]!.file, relative(root, fileOf(2)), 'the damaged file is named where it is on disk');
  assert.equal(state.lastSeq, 5, 'planted files take their positions');
  assert.equal(state.tailHash, EMPTY_HASH, 'a planted predecessor counts as zero bytes');

  // The writer (its cache is at seq 1) has to find the position itself: CONFLICT, then read and append.
  await assert.rejects(store.append(STREAM, 1, note('stale')), conflict);
  const after = await store.read(STREAM);
  const next = await store.append(STREAM, after.lastSeq, note(6));
  assert.equal(next.seq, 6);
  assert.equal(next.prev, EMPTY_HASH);
  const reread = await open().read(STREAM);
  assert.deepEqual(reread.records.map((r) => r.seq), [1, 6]);
  assert.deepEqual(reread.chainBreaks, [], 'readers and writers agree on the link over a planted file');
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.')), [], 'no temp left');
});

test('an oversized planted record file is damaged "oversized" and not read; the next append chains over it as zero bytes', async (t) => {
  const limit = 4096;
  const { store, open, fileOf } = setup(t, { maxRecordBytes: limit });
  await appendMany(store, 1);
  // A sparse 1 GiB file: reading it (or allocating for it) would fail or take ages.
  writeFileSync(fileOf(2), '');
  truncateSync(fileOf(2), 1024 ** 3);
  // And one only just over the cap, full of a valid-looking record prefix.
  writeFileSync(fileOf(3), '{"v":1,' + ' '.repeat(limit));

  const started = Date.now();
  const state = await open().read(STREAM);
  assert.ok(Date.now() - started < 5000, 'the big file was not read');
  assert.deepEqual(state.records.map((r) => r.seq), [1]);
  assert.deepEqual(state.damaged.map((d) => [d.seq, d.kind]), [[2, 'oversized'], [3, 'oversized']]);
  assert.match(state.damaged[0]!.reason, new RegExp(`${1024 ** 3} bytes is over the size cap of ${limit} bytes \\(not read\\)`));
  assert.equal(state.tailHash, EMPTY_HASH);

  // A writer that never read the stream computes prev from the file itself: also zero bytes.
  const cold = open();
  const next = await cold.append(STREAM, 3, note(4));
  assert.equal(next.seq, 4);
  assert.equal(next.prev, EMPTY_HASH);
  const reread = await open().read(STREAM);
  assert.deepEqual(reread.records.map((r) => r.seq), [1, 4]);
  assert.deepEqual(reread.chainBreaks, []);
});

test("a second StreamStore (another process's view) sees the first one's appends, and the first sees its", async (t) => {
  const { store: a, open } = setup(t);
  const b = open();
  const fromA = await appendMany(a, 1);
  assert.equal((await b.read(STREAM)).lastSeq, 1, 'b caches the stream at seq 1');
  fromA.push(...(await appendMany(a, 2, 1)));
  const seenByB = await b.read(STREAM);
  assert.deepEqual(seenByB.records, fromA, 'b sees every record a appended after b cached the stream');
  assert.equal(seenByB.lastSeq, 3);

  const fromB = await b.append(STREAM, seenByB.lastSeq, note('from b'));
  assert.equal(fromB.seq, 4);
  assert.equal(fromB.prev, sha256(readFileSync(join(a.paths.streamDir(STREAM), recordFileName(3)))));
  // a's cache is at 3: appending there again conflicts, a re-read shows b's record.
  await assert.rejects(a.append(STREAM, 3, note('stale')), conflict);
  const seenByA = await a.read(STREAM);
  assert.deepEqual(seenByA.records, [...fromA, fromB]);
  assert.deepEqual(seenByA.chainBreaks, []);

  // Listeners fire for the store's own appends only.
  const heardByA: number[] = [];
  const heardByB: number[] = [];
  a.onAppend((r) => heardByA.push(r.seq));
  b.onAppend((r) => heardByB.push(r.seq));
  await a.append(STREAM, 4, note(5));
  assert.deepEqual([heardByA, heardByB], [[5], []]);
  assert.deepEqual((await b.read(STREAM)).records.map((r) => r.seq), [1, 2, 3, 4, 5]);
});

test('a cached reader sees a record past a one-record gap (another process wrote it), and a writer appends after it, not into the gap', async (t) => {
  const { store: a, open, fileOf } = setup(t);
  await appendMany(a, 2);
  const b = open();
  assert.equal((await b.read(STREAM)).lastSeq, 2, 'b caches the stream at seq 2');
  await appendMany(a, 2, 2); // records 3 and 4, then 3 taken back: a gap before 4
  rmSync(fileOf(3));
  const seen = await b.read(STREAM);
  assert.equal(seen.lastSeq, 4, 'the record past the gap is read');
  const next = await b.append(STREAM, seen.lastSeq, note('after the gap'));
  assert.equal(next.seq, 5, 'the append goes after the record past the gap');
  assert.deepEqual((await open().read(STREAM, { list: true })).records.map((r) => r.seq), [1, 2, 4, 5]);
});
