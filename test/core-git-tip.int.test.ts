/**
 * The branch tip read from .git's files (core/git-tip.ts) must agree with git wherever it
 * answers, and must not answer where the layout is not the plain one; and the journal's memo of
 * its last commit (core/commit-memo.ts) must never hide a config change: an edit, a removal, a
 * commit made behind its back, a torn or malformed memo.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readBranchTip } from '../src/core/git-tip.js';
import { GitJournal } from '../src/core/journal.js';
import { createTask } from '../src/core/ops/tasks.js';
import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import { cliOk, runJson } from './support/cli-run.js';
import { gitOut, makeWorkspace, tempDir, testActor } from './support/core-workspace.js';

const memoFile = (root: string) => join(root, '.orchestra', 'last-commit.json');
const committedText = (root: string, path: string) => gitOut(root, 'show', `HEAD:${path}`);
const inHead = (root: string, path: string) => gitOut(root, 'ls-tree', '--name-only', 'HEAD', '--', path) === path;

test('git tip: agrees with git for a loose and a packed ref; no answer for unborn, detached, linked or garbled', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const branch = gitOut(root, 'symbolic-ref', 'HEAD');
  assert.deepEqual(readBranchTip(root), { branch, commit: gitOut(root, 'rev-parse', 'HEAD') });

  gitOut(root, 'pack-refs', '--all'); // the loose ref file is gone: packed-refs holds it
  assert.deepEqual(readBranchTip(root), { branch, commit: gitOut(root, 'rev-parse', 'HEAD') });

  const head = join(root, '.git', 'HEAD');
  const tip = gitOut(root, 'rev-parse', 'HEAD');
  writeFileSync(head, `${tip}\n`); // detached
  assert.equal(readBranchTip(root), undefined);
  writeFileSync(head, 'ref: refs/heads/../../config\n');
  assert.equal(readBranchTip(root), undefined, 'a ref name git could not have made');
  writeFileSync(head, 'ref: refs/heads/never-made\n'); // unborn
  assert.equal(readBranchTip(root), undefined);
  unlinkSync(head);
  writeFileSync(join(root, 'elsewhere'), `ref: ${branch}\n`);
  symlinkSync(join(root, 'elsewhere'), head);
  assert.equal(readBranchTip(root), undefined, 'a linked HEAD is not followed');
  rmSync(head);
  writeFileSync(head, `ref: ${branch}\n`);
  mkdirSync(join(root, '.git', 'refs', 'heads'), { recursive: true });
  writeFileSync(join(root, '.git', ...branch.split('/')), 'not an id\n');
  assert.equal(readBranchTip(root), undefined, 'a garbled ref');
  writeFileSync(join(root, '.git', ...branch.split('/')), `${tip}\n`);
  assert.deepEqual(readBranchTip(root), { branch, commit: tip });

  const bare = tempDir(t);
  assert.equal(readBranchTip(bare), undefined, 'no .git at all');
});

test('commit memo: config edits, removals and commits made by hand are all committed; a torn or malformed memo changes nothing', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const write = async (title: string) => {
    await createTask(ws, { title, workstream: 'default' }, { actor: testActor });
    await ws.journal.flush();
  };
  await write('first');
  const memo = JSON.parse(readFileSync(memoFile(root), 'utf8')) as { commit: string; config: Record<string, string> };
  assert.equal(memo.commit, gitOut(root, 'rev-parse', 'HEAD'), 'the memo names the last commit');
  assert.equal(memo.config['orchestra.json'], gitOut(root, 'rev-parse', 'HEAD:orchestra.json'), 'and the blob git holds');

  // An edit and a new prompt file: the next write's commit carries them.
  const config = JSON.parse(committedText(root, 'orchestra.json')) as Record<string, unknown>;
  writeFileSync(join(root, 'orchestra.json'), JSON.stringify({ ...config, note: 'edited' }, null, 2));
  mkdirSync(join(root, 'ai', 'planner'), { recursive: true });
  writeFileSync(join(root, 'ai', 'planner', 'role.md'), 'override\n');
  await write('second');
  assert.match(committedText(root, 'orchestra.json'), /"note": "edited"/);
  assert.equal(committedText(root, 'ai/planner/role.md'), 'override');

  // Removed: the deletion is committed.
  rmSync(join(root, 'ai', 'planner', 'role.md'));
  await write('third');
  assert.equal(inHead(root, 'ai/planner/role.md'), false);

  // A file replaced by a directory of the same name, and back: both land, nothing stays behind.
  writeFileSync(join(root, 'ai', 'notes'), 'one\n');
  await write('file');
  rmSync(join(root, 'ai', 'notes'));
  mkdirSync(join(root, 'ai', 'notes'));
  writeFileSync(join(root, 'ai', 'notes', 'inner.md'), 'two\n');
  await write('file to directory');
  assert.equal(committedText(root, 'ai/notes/inner.md'), 'two');
  rmSync(join(root, 'ai', 'notes'), { recursive: true });
  writeFileSync(join(root, 'ai', 'notes'), 'three\n');
  await write('directory to file');
  assert.equal(committedText(root, 'ai/notes'), 'three');
  assert.equal(gitOut(root, 'status', '--porcelain', '--', 'ai'), '');

  // A commit made by hand (the memo names an older commit): the next edit is still seen.
  writeFileSync(join(root, 'orchestra.json'), JSON.stringify({ ...config, note: 'by hand' }, null, 2));
  gitOut(root, '-c', 'user.name=t', '-c', 'user.email=t@localhost', 'commit', '-q', '-m', 'by hand', '--', 'orchestra.json');
  writeFileSync(join(root, 'orchestra.json'), JSON.stringify({ ...config, note: 'after hand' }, null, 2));
  await write('fourth');
  assert.match(committedText(root, 'orchestra.json'), /"note": "after hand"/);

  // A torn memo, then a malformed one naming the current commit: both read as none.
  writeFileSync(join(root, 'orchestra.json'), JSON.stringify({ ...config, note: 'torn memo' }, null, 2));
  writeFileSync(memoFile(root), '{"commit": "'); // torn
  await write('fifth');
  assert.match(committedText(root, 'orchestra.json'), /"note": "torn memo"/, 'a torn memo reads as none');
  writeFileSync(memoFile(root), JSON.stringify({ commit: gitOut(root, 'rev-parse', 'HEAD'), config: { 'orchestra.json': 'not-an-id' } }));
  writeFileSync(join(root, 'orchestra.json'), JSON.stringify({ ...config, note: 'malformed memo' }, null, 2));
  await write('sixth');
  assert.match(committedText(root, 'orchestra.json'), /"note": "malformed memo"/, 'a malformed memo reads as none');
  assert.equal(gitOut(root, 'status', '--porcelain', '--', 'orchestra.json', 'ai'), '', 'nothing left uncommitted');
});

test('a CLI write on a committed workspace starts two git processes: the commit and the index refresh', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  await cliOk(root, ['task', 'new', 'first', '--workstream', 'default']); // leaves the memo of its commit
  const shimDir = tempDir(t);
  const log = join(shimDir, 'calls.log');
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  writeFileSync(join(shimDir, 'git'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 });
  writeFileSync(log, '');
  await cliOk(root, ['task', 'new', 'second', '--workstream', 'default'], { env: { PATH: `${shimDir}:${process.env.PATH ?? ''}` } });
  const calls = readFileSync(log, 'utf8').trim().split('\n').map((line) => line.replace(/^(-c \S+ )+/, '').split(' ')[0]);
  assert.deepEqual(calls, ['fast-import', 'reset'], readFileSync(log, 'utf8'));
  assert.equal(gitOut(root, 'status', '--porcelain'), '', 'the workspace is clean after it');
  assert.match(gitOut(root, 'log', '-1', '--format=%s'), /created "second"/);
});

test('the committer lock: one just created (empty or half-written) is live, a dead holder\'s is taken over', async (t) => {
  const ws = await makeWorkspace(t);
  const lock = join(ws.paths.runtime, 'committer.lock');
  for (const text of ['', '{"pid":']) {
    writeFileSync(lock, text);
    assert.equal(await ws.journal.acquire(), false, `a lock reading ${JSON.stringify(text)} is being written, not stale`);
  }
  writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 7, host: hostname(), at: Date.now() }));
  assert.equal(await ws.journal.acquire(), true, 'a dead holder on this host');
  assert.match(readFileSync(lock, 'utf8'), new RegExp(`"pid":${process.pid},`));
  await ws.journal.release();
});

test('the committer lock is renewed while held: a long operation under it is never taken for a dead holder', async (t) => {
  const ws = await makeWorkspace(t);
  const lock = join(ws.paths.runtime, 'committer.lock');
  assert.equal(await ws.journal.acquire(), true);
  t.after(() => ws.journal.release());
  // As if the holder had been inside one long commit for half a minute.
  const old = new Date(Date.now() - 30_000);
  utimesSync(lock, old, old);
  const other = new GitJournal(ws.paths, ws.config);
  const deadline = Date.now() + 15_000;
  while (Date.now() - statSync(lock).mtimeMs > 5_000) {
    assert.ok(Date.now() < deadline, 'the holder renewed its lock');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(await other.acquire(), false, 'a renewed lock is live');
  await ws.journal.release();
  assert.equal(await other.acquire(), true, 'once released, it is free');
  await other.release();
});

test('the commit tick and a sync round taking the lock at once in one process: both hold it, it stays renewed, and release removes it', async (t) => {
  const ws = await makeWorkspace(t);
  const lock = join(ws.paths.runtime, 'committer.lock');
  t.after(() => ws.journal.release());
  for (let round = 0; round < 20; round++) {
    const taken = await Promise.all([ws.journal.acquire(), ws.journal.acquire(), ws.journal.acquire()]);
    assert.deepEqual(taken, [true, true, true], `round ${round}`);
    assert.equal(await new GitJournal(ws.paths, ws.config).acquire(), false, 'another committer is kept out');
  }
  const old = new Date(Date.now() - 30_000);
  utimesSync(lock, old, old);
  const deadline = Date.now() + 15_000;
  while (Date.now() - statSync(lock).mtimeMs > 5_000) {
    assert.ok(Date.now() < deadline, 'still renewed after the concurrent takes');
    await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.all([ws.journal.release(), ws.journal.acquire().then(() => ws.journal.release())]);
  assert.equal(existsSync(lock), false, 'released: the lock file is gone');
});

test('a lock taken over by a process with the same pid on another host (containers) is not ours: not renewed, not overwritten', async (t) => {
  const ws = await makeWorkspace(t);
  const lock = join(ws.paths.runtime, 'committer.lock');
  assert.equal(await ws.journal.acquire(), true);
  t.after(() => ws.journal.release());
  const theirs = JSON.stringify({ pid: process.pid, host: 'another-host', at: Date.now() - 60_000, id: 'theirs' });
  writeFileSync(lock, theirs);
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);
  await new Promise((r) => setTimeout(r, 3_000)); // past one heartbeat (2.5 s)
  assert.ok(Date.now() - statSync(lock).mtimeMs > 50_000, 'their lock was not renewed by us');
  assert.equal(await ws.journal.acquire(), true, 'judged stale (not renewed for 10 s), so taken over properly');
  assert.notEqual(readFileSync(lock, 'utf8'), theirs);
  writeFileSync(lock, theirs); // fresh this time: theirs, live
  assert.equal(await ws.journal.acquire(), false, 'a live lock of another host with our pid is not ours to rewrite');
  assert.equal(readFileSync(lock, 'utf8'), theirs);
  await ws.journal.release();
  assert.equal(readFileSync(lock, 'utf8'), theirs, 'nor ours to remove');
});

test('eight CLI writes at once: every one exits 0 and is committed, the workspace is clean', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const ids: string[] = [];
  for (let round = 0; round < 2; round++) {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => runJson(root, ['task', 'new', `burst ${round}-${i}`, '--workstream', 'default'])));
    for (const r of results) {
      assert.equal(r.json.status, 'ok', r.stdout + r.stderr);
      ids.push(r.json.data.id);
    }
  }
  // Handed-over files are committed by a later committer (a holder looks at the notes again once
  // it has released, but in a burst of eight the last note can still miss every holder): one more
  // write collects any note left.
  await cliOk(root, ['task', 'new', 'last', '--workstream', 'default']);
  const committed = gitOut(root, 'ls-tree', '-r', '--name-only', 'HEAD', '--', 'tasks');
  for (const id of ids) assert.match(committed, new RegExp(`/${id}/events/0000000001\\.json$`, 'm'), `${id} committed`);
  assert.equal(gitOut(root, 'status', '--porcelain'), '');
});
