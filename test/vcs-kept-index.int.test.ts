/**
 * The final diff keeps the index it staged, and the publisher commits exactly that index (issue
 * #12: two git processes less per task). What is pushed is what the recorded diff shows; a kept
 * index that was changed or replaced is never trusted: the worktree is staged and checked again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OrchestraError } from '../src/core/errors.js';
import { diffAgainstBase, stagedIndexPath } from '../src/vcs/changes.js';
import { commitAll } from '../src/vcs/commit.js';
import { ensureMirror } from '../src/vcs/repo-source.js';
import { prepareWorktree } from '../src/vcs/worktree.js';
import { makeFixture, sh } from './support/git-fixtures.js';

const author = { name: 'Orchestra Bot', email: 'bot@orchestra.invalid' };

async function worktree(t: { after: (fn: () => void) => void }, taskId: string) {
  const f = makeFixture();
  t.after(() => f.cleanup());
  const mirror = await ensureMirror(f.repo, f.cache);
  return prepareWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId });
}

const showAt = (wt: string, rev: string, path: string) => sh(wt, 'show', `${rev}:${path}`);
const changedIn = (wt: string, rev: string) => sh(wt, 'diff-tree', '--no-commit-id', '--name-only', '-r', rev).split('\n').filter(Boolean).sort();

test('the publisher commits exactly what the final diff showed, and leaves the worktree clean', async (t) => {
  const wt = await worktree(t, 'kept');
  writeFileSync(join(wt.path, 'README.md'), 'the recorded change\n');
  writeFileSync(join(wt.path, 'NEW.md'), 'a new file\n');
  const diff = await diffAgainstBase(wt.path, wt.baseCommit, { keepIndex: true });
  assert.match(diff.index ?? '', /^[0-9a-f]{64}$/, 'the diff names the index it kept');
  assert.ok(existsSync(stagedIndexPath(wt.path)!));

  const commit = await commitAll({ worktreePath: wt.path, message: 'Do it', author, taskId: 'kept', baseCommit: wt.baseCommit, stagedIndex: diff.index! });
  assert.equal(commit.created, true);
  assert.equal(commit.sha, sh(wt.path, 'rev-parse', 'HEAD'));
  assert.deepEqual(changedIn(wt.path, commit.sha), diff.files);
  assert.equal(showAt(wt.path, commit.sha, 'README.md'), 'the recorded change');
  assert.equal(sh(wt.path, 'status', '--porcelain'), '', 'the committed index became the worktree index');
  assert.ok(!existsSync(stagedIndexPath(wt.path)!), 'the kept index is used once');

  // A re-run (a crash after the commit) finds the commit it made.
  const again = await commitAll({ worktreePath: wt.path, message: 'Do it', author, taskId: 'kept', baseCommit: wt.baseCommit, stagedIndex: diff.index! });
  assert.deepEqual(again, { sha: commit.sha, created: false });
});

test('an edit after the final diff is not pushed: the commit is the recorded diff', async (t) => {
  const wt = await worktree(t, 'late');
  writeFileSync(join(wt.path, 'README.md'), 'the recorded change\n');
  const diff = await diffAgainstBase(wt.path, wt.baseCommit, { keepIndex: true });
  writeFileSync(join(wt.path, 'README.md'), 'written after the diff was recorded\n');
  writeFileSync(join(wt.path, 'LATE.md'), 'late\n');
  const commit = await commitAll({ worktreePath: wt.path, message: 'Do it', author, taskId: 'late', baseCommit: wt.baseCommit, stagedIndex: diff.index! });
  assert.deepEqual(changedIn(wt.path, commit.sha), ['README.md']);
  assert.equal(showAt(wt.path, commit.sha, 'README.md'), 'the recorded change');
});

test('a kept index that was replaced is not trusted: the worktree is staged and checked again', async (t) => {
  const wt = await worktree(t, 'swapped');
  writeFileSync(join(wt.path, 'README.md'), 'the recorded change\n');
  const diff = await diffAgainstBase(wt.path, wt.baseCommit, { keepIndex: true });
  // Another index put in its place (one that stages a nested repository, which the diff would have refused).
  sh(wt.path, 'init', '-q', 'inner');
  sh(join(wt.path, 'inner'), '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'x');
  sh(wt.path, 'add', '-A');
  const real = join(stagedIndexPath(wt.path)!, '..', 'index');
  writeFileSync(stagedIndexPath(wt.path)!, readFileSync(real));
  await assert.rejects(
    commitAll({ worktreePath: wt.path, message: 'Do it', author, taskId: 'swapped', baseCommit: wt.baseCommit, stagedIndex: diff.index! }),
    (err: unknown) => err instanceof OrchestraError && err.code === 'PUSH_REFUSED',
  );
  assert.equal(sh(wt.path, 'rev-parse', 'HEAD'), wt.baseCommit, 'nothing was committed');
});

test('a secret the publisher knows is refused even in the kept index', async (t) => {
  const wt = await worktree(t, 'secret');
  const secret = 'sk-test-0123456789abcdefghij';
  writeFileSync(join(wt.path, 'config.txt'), `token=${secret}\n`);
  const diff = await diffAgainstBase(wt.path, wt.baseCommit, { keepIndex: true, secrets: [] });
  assert.ok(diff.index, 'the executor knew no secret: the index was kept');
  await assert.rejects(
    commitAll({ worktreePath: wt.path, message: 'Do it', author, taskId: 'secret', baseCommit: wt.baseCommit, stagedIndex: diff.index!, secrets: [{ name: 'API_TOKEN', value: secret }] }),
    (err: unknown) => err instanceof OrchestraError && err.code === 'SECRET_IN_CHANGES',
  );
  assert.equal(sh(wt.path, 'rev-parse', 'HEAD'), wt.baseCommit, 'nothing was committed');
  assert.ok(!existsSync(stagedIndexPath(wt.path)!), 'the refused index is dropped');
});

test('a diff with a secret keeps no index', async (t) => {
  const wt = await worktree(t, 'nokeep');
  const secret = 'sk-test-abcdefghij0123456789';
  writeFileSync(join(wt.path, 'config.txt'), `token=${secret}\n`);
  const diff = await diffAgainstBase(wt.path, wt.baseCommit, { keepIndex: true, secrets: [{ name: 'API_TOKEN', value: secret }] });
  assert.equal(diff.secrets.length, 1);
  assert.equal(diff.index, undefined);
  assert.ok(!existsSync(stagedIndexPath(wt.path)!));
});

test('what HEAD tracks stays tracked: ignored files, a submodule not checked out and CRLF files under text=auto are neither shown nor committed as changes', async (t) => {
  const f = makeFixture({ development: false });
  t.after(() => f.cleanup());
  const sub = join(f.root, 'sub');
  sh(f.root, 'init', '-q', '-b', 'main', sub);
  writeFileSync(join(sub, 's.txt'), 's\n');
  sh(sub, 'add', '-A');
  sh(sub, 'commit', '-q', '-m', 's');
  writeFileSync(join(f.repo, '.gitignore'), '*.log\n');
  writeFileSync(join(f.repo, 'keep.log'), 'tracked although ignored\n');
  mkdirSync(join(f.repo, 'node_modules', 'pkg'), { recursive: true }); // the mirror's info/exclude ignores it
  writeFileSync(join(f.repo, 'node_modules', 'pkg', 'index.js'), 'vendored\n');
  writeFileSync(join(f.repo, 'win.txt'), 'a\r\nb\r\n');
  sh(f.repo, 'add', '-f', '-A');
  sh(f.repo, '-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', sub, 'libsub');
  sh(f.repo, 'commit', '-q', '-m', 'tracked oddities');
  writeFileSync(join(f.repo, '.gitattributes'), '* text=auto\n');
  sh(f.repo, 'add', '-A');
  sh(f.repo, 'commit', '-q', '-m', 'attributes');
  const mirror = await ensureMirror(f.repo, f.cache);
  const wt = await prepareWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId: 'tracked' });
  writeFileSync(join(wt.path, 'NOTE.md'), 'the one change\n');
  const diff = await diffAgainstBase(wt.path, wt.baseCommit, { keepIndex: true });
  assert.deepEqual(diff.files, ['NOTE.md'], 'the recorded diff shows only the change');
  const commit = await commitAll({ worktreePath: wt.path, message: 'Do it', author, taskId: 'tracked', baseCommit: wt.baseCommit, stagedIndex: diff.index! });
  assert.deepEqual(changedIn(wt.path, commit.sha), ['NOTE.md'], 'the commit holds only the change');
});
