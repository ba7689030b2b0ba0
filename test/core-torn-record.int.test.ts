import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { seal } from '../src/core/record.js';
import { cliOk, runCli, runJson } from './support/cli-run.js';
import { gitOut, makeWorkspace, rawRecords, testActor } from './support/core-workspace.js';

const file = (seq: number) => `${String(seq).padStart(10, '0')}.json`;

async function taskWithHistory(t: Parameters<typeof makeWorkspace>[0]) {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const id = await cliOk(root, ['task', 'new', 'survives damage', '--tag', 'keep']);
  await cliOk(root, ['task', 'comment', id, 'first comment']);
  await cliOk(root, ['task', 'move', id, 'in_progress']);
  const events = ws.paths.streamDir(`tasks/${id}`);
  return { root, id, events, rel: relative(root, events) };
}

test('torn (half-written) record: verify exits non-zero naming the file; the task view folds the good records', async (t) => {
  const { root, id, events, rel } = await taskWithHistory(t);
  const whole = readFileSync(join(events, file(3)), 'utf8');
  // The crash case: the last record's file holds only its first half.
  writeFileSync(join(events, file(4)), readFileSync(join(events, file(2)), 'utf8').replace('"seq": 2', '"seq": 4').slice(0, 90));

  const verify = await runCli(root, ['verify']);
  assert.notEqual(verify.code, 0, 'verify fails on a torn record');
  assert.match(verify.stdout, /DAMAGE FOUND/);
  assert.ok(verify.stdout.includes(`${rel}/${file(4)}`), `verify names the torn file:\n${verify.stdout}`);
  assert.match(verify.stdout, /torn-record/);
  const json = await runJson(root, ['verify']);
  assert.equal(json.json.data.ok, false);
  assert.deepEqual(json.json.data.findings.filter((f: any) => f.severity === 'damage').map((f: any) => f.path), [`${rel}/${file(4)}`]);

  const show = await runJson(root, ['task', 'show', id]);
  assert.equal(show.code, 0, show.stderr);
  assert.equal(show.json.data.title, 'survives damage');
  assert.equal(show.json.data.state, 'in_progress');
  assert.deepEqual(show.json.data.comments.map((c: any) => c.text), ['first comment']);
  assert.equal(show.json.data.lastSeq, 3);

  // Writing goes on after the damage: the next record takes the position after the torn one.
  await cliOk(root, ['task', 'comment', id, 'after the tear']);
  assert.ok(existsSync(join(events, file(5))), 'the next append lands at seq 5');
  assert.equal(readFileSync(join(events, file(3)), 'utf8'), whole, 'good records are never rewritten');
  const after = await runJson(root, ['task', 'show', id]);
  assert.deepEqual(after.json.data.comments.map((c: any) => c.text), ['first comment', 'after the tear']);
  const list = await runJson(root, ['task', 'list', '--tag', 'keep']);
  assert.deepEqual(list.json.data.map((v: any) => v.id), [id]);
  const replay = await runJson(root, ['replay']);
  assert.equal(replay.json.data.damaged, 1);
  assert.deepEqual(replay.json.data.byState, { in_progress: 1 });
});

test('edited record (valid JSON, wrong checksum) is damage too and is not folded', async (t) => {
  const { root, id, events, rel } = await taskWithHistory(t);
  const path = join(events, file(2));
  writeFileSync(path, readFileSync(path, 'utf8').replace('first comment', 'forged comment'));
  const verify = await runJson(root, ['verify']);
  assert.notEqual(verify.code, 0);
  const damage = verify.json.data.findings.filter((f: any) => f.severity === 'damage');
  assert.ok(damage.some((f: any) => f.kind === 'torn-record' && f.path === `${rel}/${file(2)}` && /checksum/.test(f.message)), JSON.stringify(damage));
  assert.ok(damage.some((f: any) => f.kind === 'record-changed'), 'git sees the committed record was modified');
  const show = await runJson(root, ['task', 'show', id]);
  assert.deepEqual(show.json.data.comments, [], 'the forged comment is not part of the state');
  assert.equal(show.json.data.state, 'in_progress');
});

test('leftover .tmp-* file: verify warns (exit 0, names it) and readers ignore its content', async (t) => {
  const { root, id, events, rel } = await taskWithHistory(t);
  // A complete, well-formed record that never got linked into place: it must not count.
  const stray = seal({ v: 1, stream: `tasks/${id}`, seq: 4, id: 'stray', at: new Date().toISOString(), actor: testActor, events: [{ type: 'task.moved', data: { from: 'in_progress', to: 'completed' } }] });
  const tempName = '.tmp-01STRAYTEMPFILE0000000000';
  writeFileSync(join(events, tempName), JSON.stringify(stray));

  const verify = await runJson(root, ['verify']);
  assert.equal(verify.code, 0, `a temp file is not damage: ${verify.stdout}`);
  assert.equal(verify.json.data.ok, true);
  const warnings = verify.json.data.findings.filter((f: any) => f.kind === 'stray-temp');
  assert.deepEqual(warnings.map((f: any) => [f.severity, f.path]), [['warning', `${rel}/${tempName}`]]);
  const text = await runCli(root, ['verify']);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /no damage/);
  assert.ok(text.stdout.includes(tempName), text.stdout);

  const show = await runJson(root, ['task', 'show', id]);
  assert.equal(show.json.data.state, 'in_progress', 'the temp file\'s move is not applied');
  assert.equal(show.json.data.lastSeq, 3);
  // The next real write takes seq 4, and the committer never stages the temp file.
  await cliOk(root, ['task', 'move', id, 'completed']);
  assert.equal(rawRecords(root, `tasks/${id}`).length, 4);
  const tracked = gitOut(root, 'ls-tree', '-r', '--name-only', 'HEAD', '--', relative(root, dirname(events)));
  assert.ok(tracked.includes(`events/${file(4)}`), 'the real record was committed');
  assert.ok(!tracked.includes('.tmp-'), 'the temp file never enters git');
});
