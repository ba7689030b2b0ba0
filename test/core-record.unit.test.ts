import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOrchestraError } from '../src/core/errors.js';
import { parseInboxFile } from '../src/core/inbox-format.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkspacePaths } from '../src/core/paths.js';
import { checksum, parseRecord, recordFileName, seal, RECORD_FILE, type UnsealedRecord } from '../src/core/record.js';
import { StreamStore, type RecordDraft } from '../src/core/stream-store.js';

const unsealed = (over: Partial<UnsealedRecord> = {}): UnsealedRecord => ({
  v: 1, stream: 'tasks/T', seq: 3, id: 'R', at: '2030-01-01T00:00:00.000Z',
  actor: { kind: 'cli', name: 'orchestra', user: 'u', pid: 1, host: 'h' },
  fence: { attempt: 2 }, cause: 'c', events: [{ type: 'task.moved', data: { from: 'a', to: 'b' } }], ...over,
});
// The exact bytes the store writes.
const file = (r: ReturnType<typeof seal>) => JSON.stringify(r, null, 1) + '\n';

test('record checksum: a sealed record parses back unchanged; any edit, tear or misplacement is detected', () => {
  const record = seal(unsealed());
  assert.match(record.sum, /^[0-9a-f]{24}$/);
  assert.equal(checksum(unsealed()), record.sum, 'the checksum is deterministic');
  assert.notEqual(checksum(unsealed({ events: [{ type: 'task.moved', data: { from: 'a', to: 'c' } }] })), record.sum);
  const parsed = parseRecord(file(record), 3);
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.record, record);

  const edited = parseRecord(file(record).replace('"to": "b"', '"to": "z"'), 3);
  assert.deepEqual(edited, { ok: false, reason: 'checksum mismatch (edited or torn)' });
  const refenced = parseRecord(file(record).replace('"attempt": 2', '"attempt": 1'), 3);
  assert.equal(refenced.ok, false, 'the fence is covered by the checksum');
  const text = file(record);
  for (const cut of [1, 10, Math.floor(text.length / 2), text.length - 3]) {
    const torn = parseRecord(text.slice(0, cut), 3);
    assert.deepEqual(torn, { ok: false, reason: 'not valid JSON (torn or half-written)' }, `cut at ${cut}`);
  }
  assert.deepEqual(parseRecord('', 3), { ok: false, reason: 'not valid JSON (torn or half-written)' });
  assert.equal(parseRecord(file(record), 4).ok, false, 'a record stored under another seq is refused');
  const { sum: _sum, ...noSum } = record;
  assert.deepEqual(parseRecord(JSON.stringify(noSum), 3), { ok: false, reason: 'does not match the record format' });
  assert.equal(parseRecord(JSON.stringify(seal(unsealed({ events: [] }))), 3).ok, false, 'a record holds at least one event');
});

test('store: an actor (or event) given in any key order seals and verifies', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'orchestra-record-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const writer = new StreamStore(new WorkspacePaths(root), { fsync: false });
  const entries: Array<[string, unknown]> = [['kind', 'agent'], ['name', 'reviewer'], ['user', 'u'], ['pid', 7], ['host', 'h']];
  // Every order of the actor's keys, among them the agents' {kind, name, host, pid}.
  const orders = (items: Array<[string, unknown]>): Array<Array<[string, unknown]>> =>
    items.length <= 1 ? [items] : items.flatMap((item, i) => orders([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
  const actors = [...orders(entries).map((o) => Object.fromEntries(o)), { kind: 'agent', name: 'reviewer', host: 'h', pid: 7 }];
  let seq = 0;
  for (const actor of actors) {
    const draft = { actor, events: [{ data: { text: 'hi' }, type: 'task.commented' }, { type: 'task.archived' }], fence: { attempt: 1 }, cause: 'c' } as unknown as RecordDraft;
    const written = await writer.append('tasks/T', seq, draft);
    seq = written.seq;
  }
  const reader = new StreamStore(new WorkspacePaths(root), { fsync: false });
  const state = await reader.read('tasks/T');
  assert.deepEqual(state.damaged, [], 'no record fails its own checksum');
  assert.deepEqual(state.chainBreaks, []);
  assert.equal(state.records.length, actors.length);
  assert.deepEqual(state.records.at(-1)!.actor, { kind: 'agent', name: 'reviewer', pid: 7, host: 'h' });
  assert.deepEqual(state.records.at(-1)!.events, [{ type: 'task.commented', data: { text: 'hi' } }, { type: 'task.archived', data: {} }]);
  assert.deepEqual((await writer.read('tasks/T')).records, state.records, 'the writer caches what a reader parses');
});

test('record file names: zero-padded sequence numbers that sort in order', () => {
  assert.equal(recordFileName(7), '0000000007.json');
  assert.ok(RECORD_FILE.test(recordFileName(1234567890)));
  assert.ok(!RECORD_FILE.test('.tmp-0000000007.json') && !RECORD_FILE.test('0000000007.json.tmp') && !RECORD_FILE.test('7.json'));
  const names = [10, 9, 100, 1].map(recordFileName).sort();
  assert.deepEqual(names.map((n) => Number(RECORD_FILE.exec(n)![1])), [1, 9, 10, 100]);
});

test('inbox format: Markdown front matter and JSON map to the same task; commands parse; bad input names the problem', () => {
  const md = parseInboxFile('a.md', Buffer.from('\uFEFF---\ntitle: Fix it\ntags: x, y\nrepo: /r\n---\n\nDetails here.\n'));
  const plain = (v: unknown) => JSON.parse(JSON.stringify(v));
  assert.deepEqual(plain(md), { kind: 'task', task: { title: 'Fix it', tags: ['x', 'y'], description: 'Details here.', fields: { repo: '/r' } } });
  const json = parseInboxFile('a.JSON', Buffer.from(JSON.stringify({ title: 'Fix it', tags: ['x', 'y'], body: 'Details here.', repo: '/r' })));
  assert.deepEqual(plain(json), plain(md));
  const cmd = parseInboxFile('c.json', Buffer.from(JSON.stringify({ command: 'move', task: '01ARZ3NDEKTSV4RRFFQ69G5FAV', to: 'done', actor: { kind: 'adapter', name: 'bot' } })));
  assert.deepEqual(cmd, { kind: 'command', command: { command: 'move', task: '01ARZ3NDEKTSV4RRFFQ69G5FAV', to: 'done' }, claimedActor: { kind: 'adapter', name: 'bot' } }, 'an unsealed actor is only a claim');

  const bad: Array<[string, string | Buffer, string, RegExp]> = [
    ['e.md', '', 'INVALID_INPUT', /empty/],
    ['b.json', Buffer.from([0x7b, 0, 0x7d]), 'INVALID_INPUT', /binary/],
    ['u.md', Buffer.from([0x2d, 0xc3, 0x28]), 'INVALID_INPUT', /UTF-8/],
    ['j.json', '{', 'INVALID_JSON', /not valid JSON/],
    ['n.json', 'null', 'INVALID_INPUT', /one object/],
    ['t.json', '{"title":""}', 'INVALID_INPUT', /title/],
    ['i.json', '{"title":"x","id":"../../etc"}', 'INVALID_INPUT', /ULID/],
    ['a.json', '{"title":"x","actor":{"kind":"root","name":"x"}}', 'INVALID_INPUT', /actor/],
    ['c.json', '{"command":"move","task":"../x","to":"a"}', 'INVALID_INPUT', /task id/],
    ['y.md', '---\n- a list\n---\n', 'INVALID_INPUT', /mapping|title/],
    ['x.yaml', 'title: x', 'INVALID_INPUT', /unsupported/],
  ];
  for (const [name, content, code, message] of bad) {
    assert.throws(() => parseInboxFile(name, Buffer.from(content)), (err) => isOrchestraError(err, code as never) && message.test(err.message), name);
  }
});
