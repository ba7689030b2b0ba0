import { WorkspacePaths } from '../src/core/paths.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { GENESIS_PREV } from '../src/core/chain.js';
import { seal, type StreamRecord, type UnsealedRecord } from '../src/core/record.js';
import { cliOk, runJson } from './support/cli-run.js';
import { makeWorkspace, rawRecords, testActor } from './support/core-workspace.js';

// Forgeries by someone who can write the workspace's files and knows the format: each record is
// re-sealed with a valid checksum, so only the chain and the state map can tell.

const file = (seq: number) => `${String(seq).padStart(10, '0')}.json`;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const serialize = (record: StreamRecord) => JSON.stringify(record, null, 1) + '\n';

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=forger', '-c', 'user.email=f@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8' });
}

/** Appends a record the way a careful forger would: right seq, right prev, valid checksum. */
/** A stream's events directory as verify names it: relative to the root, as on disk (tasks are sharded). */
const eventsRel = (root: string, stream: string) => relative(root, new WorkspacePaths(root).streamDir(stream));

function appendForged(root: string, stream: string, events: UnsealedRecord['events']): number {
  const dir = new WorkspacePaths(root).streamDir(stream);
  const seq = readdirSync(dir).filter((n) => /^\d{10}\.json$/.test(n)).length + 1;
  const prev = seq === 1 ? GENESIS_PREV : sha256(readFileSync(join(dir, file(seq - 1))));
  const record = seal({ v: 1, stream, seq, id: `01FORGED${seq}`, at: new Date().toISOString(), actor: testActor, events, prev });
  writeFileSync(join(dir, file(seq)), serialize(record));
  return seq;
}

/** Replaces the whole git history by one commit of the current files: no commit shows a change. */
function rewriteHistory(root: string): void {
  rmSync(join(root, '.git'), { recursive: true, force: true });
  git(root, 'init', '-q', '-b', 'main');
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '--no-verify', '-m', 'workspace initialised');
}

const damage = (report: any) => report.json.data.findings.filter((f: any) => f.severity === 'damage');

test('a record rewritten, re-sealed and committed into a rewritten history breaks the chain: verify names the next record', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const id = await cliOk(root, ['task', 'new', 'chained']);
  await cliOk(root, ['task', 'comment', id, 'the real comment']);
  await cliOk(root, ['task', 'move', id, 'in_progress']);
  const stream = `tasks/${id}`;
  assert.deepEqual(damage(await runJson(root, ['verify'])), [], 'the untouched workspace verifies clean');
  const records = rawRecords(root, stream);
  assert.equal(records[1]!.prev, sha256(readFileSync(join(new WorkspacePaths(root).streamDir(stream), file(1)))), 'each record carries the hash of its predecessor');
  assert.equal(records[0]!.prev, GENESIS_PREV);

  // The forger edits the comment, re-seals record 2 (checksum valid) and hides the edit from git.
  const { sum: _sum, ...unsealed } = records[1]!;
  const forged = seal({ ...unsealed, events: [{ type: 'task.commented', data: { text: 'a forged comment' } }] });
  writeFileSync(join(new WorkspacePaths(root).streamDir(stream), file(2)), serialize(forged));
  rewriteHistory(root);

  const report = await runJson(root, ['verify']);
  assert.notEqual(report.code, 0, 'verify fails');
  const found = damage(report);
  assert.deepEqual(found.map((f: any) => [f.kind, f.path]), [['chain-break', `${eventsRel(root, stream)}/${file(3)}`]], JSON.stringify(found));
  assert.match(found[0].message, /does not chain to record 2/);
});

test('variant: a rewritten record that drops its prev (a downgrade to the unchained format) is reported', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const id = await cliOk(root, ['task', 'new', 'downgrade']);
  await cliOk(root, ['task', 'comment', id, 'real']);
  const stream = `tasks/${id}`;
  const { sum: _sum, prev: _prev, ...bare } = rawRecords(root, stream)[1]!;
  writeFileSync(join(new WorkspacePaths(root).streamDir(stream), file(2)), serialize(seal({ ...bare, events: [{ type: 'task.commented', data: { text: 'forged' } }] })));
  rewriteHistory(root);
  const found = damage(await runJson(root, ['verify']));
  assert.deepEqual(found.map((f: any) => [f.kind, f.path]), [['chain-break', `${eventsRel(root, stream)}/${file(2)}`]], JSON.stringify(found));
  assert.match(found[0].message, /no "prev"/);
});

test('an appended record with a valid checksum and chain that makes an illegal move (failed -> publishing) is ignored and reported', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const id = await cliOk(root, ['task', 'new', 'failed dev task', '--workstream', 'dev', '--field', 'repo=.']);
  await cliOk(root, ['task', 'move', id, 'failed']);
  const stream = `tasks/${id}`;
  const seq = appendForged(root, stream, [{ type: 'task.moved', data: { from: 'failed', to: 'publishing', reason: 'forged' } }]);

  const show = await runJson(root, ['task', 'show', id]);
  assert.equal(show.json.data.state, 'failed', 'the fold does not apply a move the state map forbids');
  const found = damage(await runJson(root, ['verify']));
  assert.deepEqual(found.map((f: any) => [f.kind, f.path]), [['illegal-transition', eventsRel(root, stream)]], JSON.stringify(found));
  assert.match(found[0].message, new RegExp(`record ${seq} .*failed -> publishing`));
  const replay = await runJson(root, ['replay']);
  assert.deepEqual(replay.json.data.byState, { failed: 1 }, 'replay folds the same way');

  // Legal writes go on from the real state.
  await cliOk(root, ['task', 'move', id, 'planning']);
  assert.equal((await runJson(root, ['task', 'show', id])).json.data.state, 'planning');
});

test('variant: a forged move that lies about where the task is (claims executing -> publishing while failed) is ignored', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const id = await cliOk(root, ['task', 'new', 'liar', '--workstream', 'dev', '--field', 'repo=.']);
  await cliOk(root, ['task', 'move', id, 'failed']);
  const seq = appendForged(root, `tasks/${id}`, [{ type: 'task.moved', data: { from: 'executing', to: 'publishing' } }]);
  assert.equal((await runJson(root, ['task', 'show', id])).json.data.state, 'failed');
  const found = damage(await runJson(root, ['verify']));
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.match(found[0].message, new RegExp(`record ${seq} .*executing -> publishing.*from failed`));
});
