import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { newId } from '../src/core/ids.js';
import { createTask, moveTask } from '../src/core/ops/tasks.js';
import { Workspace } from '../src/core/workspace.js';
import { WorkspacePaths } from '../src/core/paths.js';
import { runCli } from './support/cli-run.js';
import { eventsOf, makeWorkspace, testActor } from './support/core-workspace.js';

type Bad = { name: string; code: string; message: RegExp; write: (path: string) => void };
const text = (content: string | Buffer) => (path: string) => writeFileSync(path, content);
const json = (value: unknown) => text(JSON.stringify(value));

function corpus(root: string, existing: string, pending: string): Bad[] {
  return [
    { name: 'empty.md', code: 'INVALID_INPUT', message: /empty/, write: text('') },
    { name: 'binary.json', code: 'INVALID_INPUT', message: /binary/, write: text(Buffer.from([0x7b, 0x00, 0x01, 0xff, 0x00, 0x7d])) },
    { name: 'latin1.md', code: 'INVALID_INPUT', message: /UTF-8/, write: text(Buffer.from('---\ntitle: caf\xe9\n---\n', 'latin1')) },
    { name: 'bad-yaml.md', code: 'INVALID_INPUT', message: /front matter/, write: text('---\ntitle: [unclosed\n  - : :\n---\nbody\n') },
    { name: 'no-front-matter.md', code: 'INVALID_INPUT', message: /front matter/, write: text('# Just a heading\n\nSome text.\n') },
    { name: 'invalid.json', code: 'INVALID_JSON', message: /not valid JSON/, write: text('{"title": "oops",') },
    { name: 'array.json', code: 'INVALID_INPUT', message: /one object/, write: json([{ title: 'in an array' }]) },
    { name: 'title-number.json', code: 'INVALID_INPUT', message: /title/, write: json({ title: 42 }) },
    { name: 'tags-objects.json', code: 'INVALID_INPUT', message: /tags/, write: json({ title: 'bad tags', tags: [{ a: 1 }, { b: 2 }] }) },
    { name: 'tags-number.md', code: 'INVALID_INPUT', message: /tags/, write: text('---\ntitle: numeric tags\ntags: 7\n---\n') },
    { name: 'missing-title.md', code: 'INVALID_INPUT', message: /title/, write: text('---\ntags: [a]\n---\nno title here\n') },
    { name: 'unknown-workstream.json', code: 'NOT_FOUND', message: /no workstream named "nowhere"/, write: json({ title: 'lost', workstream: 'nowhere' }) },
    { name: 'bad-move.json', code: 'INVALID_TRANSITION', message: /cannot move from "pending" to "completed"/, write: json({ command: 'move', task: pending, to: 'completed' }) },
    { name: 'oversized.json', code: 'INVALID_INPUT', message: /limit is 1048576/, write: json({ title: 'huge', body: 'x'.repeat(1024 * 1024 + 10) }) },
    { name: 'path-id.json', code: 'INVALID_INPUT', message: /id must be a ULID/, write: json({ id: '../../etc', title: 'escape' }) },
    { name: 'duplicate-id.json', code: 'CONFLICT', message: /already exists/, write: json({ id: existing, title: 'same id again' }) },
    { name: 'link.json', code: 'INVALID_INPUT', message: /symbolic links/, write: (p) => symlinkSync(join(root, 'outside-good.json'), p) },
    { name: 'folder', code: 'INVALID_INPUT', message: /directories/, write: (p) => { mkdirSync(p); writeFileSync(join(p, 'inner.json'), JSON.stringify({ title: 'inner' })); } },
    { name: 'unknown-task.json', code: 'NOT_FOUND', message: /no task with id/, write: json({ command: 'comment', task: newId(), text: 'hello?' }) },
    { name: 'notes.txt', code: 'INVALID_INPUT', message: /unsupported file type/, write: text('title: plain text\n') },
    { name: 'explode.json', code: 'INVALID_INPUT', message: /command/, write: json({ command: 'explode', task: existing }) },
  ];
}

test('inbox: a corpus of 21 kinds of bad input, each rejected with a clear error record; the good files next to them all accepted', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const existing = (await createTask(ws, { title: 'already here' }, { actor: testActor })).id;
  const pending = (await createTask(ws, { title: 'stays pending' }, { actor: testActor })).id;
  const mover = (await createTask(ws, { title: 'will move' }, { actor: testActor })).id;
  await ws.journal.flush();
  // Target of the symlink: a perfectly good task file, which must not be read through the link.
  writeFileSync(join(dirname(root), 'outside-good.json'), JSON.stringify({ title: 'via symlink' }));

  const bad = corpus(dirname(root), existing, pending);
  for (const b of bad) b.write(join(ws.paths.inbox, b.name));
  const good = [
    ['good.md', '---\ntitle: Good markdown\ntags: [ok, md]\n---\nDo the thing.\n'],
    ['good.json', JSON.stringify({ title: 'Good json', tags: 'ok, json', priority: 2 })],
    ['good-comment.json', JSON.stringify({ command: 'comment', task: pending, text: 'a fine comment' })],
    ['good-move.json', JSON.stringify({ command: 'move', task: mover, to: 'in_progress', reason: 'picked up' })],
  ] as const;
  for (const [name, content] of good) writeFileSync(join(ws.paths.inbox, name), content);

  const up = await runCli(root, ['up', '--once', '--only', 'intake'], { timeoutMs: 60_000 });
  assert.equal(up.code, 0, up.stderr);

  assert.deepEqual(readdirSync(ws.paths.inbox), ['rejected'], 'every inbox file was handled');
  const rejected = readdirSync(ws.paths.rejected).sort();
  const expectedFiles = bad.flatMap((b) => [b.name, `${b.name}.error.json`]).sort();
  assert.deepEqual(rejected, expectedFiles, 'each bad file (and only those) moved to inbox/rejected with its error record');
  for (const b of bad) {
    const error = JSON.parse(readFileSync(join(ws.paths.rejected, `${b.name}.error.json`), 'utf8'));
    assert.equal(error.code, b.code, `${b.name}: code (${error.message})`);
    assert.match(error.message, b.message, `${b.name}: message`);
    assert.doesNotMatch(error.message, /\n\s+at |Error:|\.js:\d+/, `${b.name}: message has no stack trace`);
    assert.ok(error.message.length < 500, `${b.name}: message is short`);
    assert.ok(!Number.isNaN(Date.parse(error.at)) && Math.abs(Date.now() - Date.parse(error.at)) < 120_000, `${b.name}: at is a timestamp`);
    assert.equal(error.file, b.name);
  }
  // The audit stream has one inbox.rejected per bad file, with the same codes.
  const audit = eventsOf(root, 'audit').filter((e) => e.type === 'inbox.rejected').map((e) => `${e.data.file}:${e.data.code}`).sort();
  assert.deepEqual(audit, bad.map((b) => `${b.name}:${b.code}`).sort());

  const fresh = await Workspace.open(root);
  const tasks = await fresh.tasks();
  const titles = tasks.map((v) => v.title).sort();
  assert.deepEqual(titles, ['Good json', 'Good markdown', 'already here', 'stays pending', 'will move'], 'only the good task files became tasks');
  const md = tasks.find((v) => v.title === 'Good markdown')!;
  assert.deepEqual(md.tags, ['ok', 'md']);
  assert.equal(md.description, 'Do the thing.');
  assert.ok(existsSync(join(root, md.original!)), 'the original inbox file is kept among the task records');
  const js = tasks.find((v) => v.title === 'Good json')!;
  assert.deepEqual(js.tags, ['ok', 'json']);
  assert.equal(js.fields.priority, 2);
  const stays = tasks.find((v) => v.id === pending)!;
  assert.equal(stays.state, 'pending', 'the refused move changed nothing');
  assert.deepEqual(stays.comments.map((c) => c.text), ['a fine comment']);
  assert.equal(tasks.find((v) => v.id === mover)!.state, 'in_progress');
  assert.equal(tasks.find((v) => v.id === existing)!.title, 'already here', 'the duplicate id did not touch the existing task');
  assert.deepEqual(readdirSync(new WorkspacePaths(root).taskDir(existing)), ['events'], 'the duplicate left no file among the existing task\'s records');
  assert.ok(!existsSync(join(dirname(root), 'etc')) && !existsSync(join(root, 'etc')), 'the path-like id created nothing');
  assert.ok(existsSync(join(dirname(root), 'outside-good.json')), 'the symlink target is untouched');

  // Intake and commands keep working after the rejections: a new file is taken on the next run.
  writeFileSync(join(ws.paths.inbox, 'late.json'), JSON.stringify({ title: 'after the storm' }));
  await moveTask(fresh, mover, 'completed', { actor: testActor });
  assert.equal((await runCli(root, ['up', '--once', '--only', 'intake'])).code, 0);
  assert.ok((await (await Workspace.open(root)).tasks()).some((v) => v.title === 'after the storm'));
});
