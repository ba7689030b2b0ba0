import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isOrchestraError } from '../src/core/errors.js';
import { diffAgainstBase, hasChanges } from '../src/vcs/changes.js';
import { commitAll } from '../src/vcs/commit.js';
import { pushTaskBranch } from '../src/vcs/push.js';
import { remoteBranchSha, resolvePushRemote } from '../src/vcs/remote.js';
import { ensureMirror, resolveRepo } from '../src/vcs/repo-source.js';
import { detectBase, prepareWorktree, removeWorktree } from '../src/vcs/worktree.js';
import { branches, makeFixture, sh, tempDir } from './support/git-fixtures.js';

const author = { name: 'Orchestra Bot', email: 'bot@orchestra.invalid' };

test('detectBase: requested, development, default', async () => {
  const withDev = makeFixture();
  const noDev = makeFixture({ development: false });
  try {
    const d = await detectBase(withDev.repo);
    assert.equal(d.branch, 'development');
    assert.equal(d.source, 'development');
    assert.equal((await detectBase(withDev.repo, 'main')).branch, 'main');
    const missing = await detectBase(withDev.repo, 'nope');
    assert.deepEqual([missing.branch, missing.requestedMissing], ['development', true]);
    // remote-tracking only branch counts
    sh(withDev.remote, 'branch', 'feature/r', 'main');
    sh(withDev.repo, 'fetch', '-q', 'origin');
    assert.equal((await detectBase(withDev.repo, 'feature/r')).ref, 'refs/remotes/origin/feature/r');
    const n = await detectBase(noDev.repo);
    assert.deepEqual([n.branch, n.source], ['main', 'default']);
  } finally {
    withDev.cleanup();
    noDev.cleanup();
  }
});

test('resolveRepo validates paths and names', async () => {
  const f = makeFixture();
  try {
    assert.deepEqual(await resolveRepo(f.repo, {}), { spec: f.repo, source: f.repo, kind: 'path' });
    assert.equal((await resolveRepo('app', { app: f.repo })).source, f.repo);
    assert.equal((await resolveRepo('git@github.com:o/r.git', {})).kind, 'url');
    const code = async (spec: string) => {
      try {
        await resolveRepo(spec, { app: f.repo });
      } catch (e) {
        assert.ok(isOrchestraError(e));
        return e.code;
      }
      return 'ok';
    };
    assert.equal(await code('unknown-name'), 'NOT_FOUND');
    assert.equal(await code(join(f.root, 'missing')), 'NOT_FOUND');
    mkdirSync(join(f.root, 'plain'));
    assert.equal(await code(join(f.root, 'plain')), 'INVALID_INPUT');
    mkdirSync(join(f.repo, 'sub'));
    assert.equal(await code(join(f.repo, 'sub')), 'INVALID_INPUT');
    assert.equal(await code('ext::sh -c evil'), 'INVALID_INPUT');
    assert.equal(await code(''), 'INVALID_INPUT');
  } finally {
    f.cleanup();
  }
});

test('worktree, diff, commit, push: idempotent end to end', async () => {
  const f = makeFixture();
  try {
    const mirror = await ensureMirror(f.repo, f.cache);
    assert.ok(mirror.startsWith(f.cache), 'a local repo is mirrored too');
    const userRepoBefore = sh(f.repo, 'for-each-ref');
    const wt = await prepareWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId: 't1' });
    assert.equal(wt.branch, 'task/t1');
    assert.equal(wt.base, 'development');
    assert.equal(wt.baseCommit, sh(f.repo, 'rev-parse', 'development'));
    assert.equal(sh(wt.path, 'symbolic-ref', '--short', 'HEAD'), 'task/t1');
    assert.ok(existsSync(join(wt.path, 'dev.txt')));
    const again = await prepareWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId: 't1' });
    assert.deepEqual({ ...again, created: true }, wt);
    assert.equal(again.created, false);

    assert.equal(await hasChanges(wt.path), false);
    await assert.rejects(commitAll({ worktreePath: wt.path, message: 'x', author, taskId: 't1' }), /nothing to commit/);

    writeFileSync(join(wt.path, 'README.md'), '# changed\n');
    writeFileSync(join(wt.path, 'new.txt'), 'brand new\n');
    writeFileSync(join(wt.path, 'ignored.txt'), 'ignored\n');
    assert.equal(await hasChanges(wt.path), true);
    const indexBefore = sh(wt.path, 'ls-files', '--stage');
    const diff = await diffAgainstBase(wt.path, wt.baseCommit);
    assert.deepEqual(diff.files, ['README.md', 'new.txt']);
    assert.match(diff.patch, /\+brand new/);
    assert.match(diff.stat, /2 files changed/);
    assert.equal(sh(wt.path, 'ls-files', '--stage'), indexBefore, 'real index untouched');
    assert.match(sh(wt.path, 'status', '--porcelain'), /\?\? new.txt/);

    const c1 = await commitAll({ worktreePath: wt.path, message: 'Do the task', author, taskId: 't1', baseCommit: wt.baseCommit });
    assert.equal(c1.created, true);
    const c2 = await commitAll({ worktreePath: wt.path, message: 'Do the task', author, taskId: 't1', baseCommit: wt.baseCommit });
    assert.deepEqual(c2, { sha: c1.sha, created: false });
    assert.equal(sh(wt.path, 'rev-list', '--count', `${wt.baseCommit}..HEAD`), '1');
    assert.equal(sh(wt.path, 'log', '-1', '--format=%an <%ae>|%cn'), 'Orchestra Bot <bot@orchestra.invalid>|Orchestra Bot');
    assert.match(sh(wt.path, 'log', '-1', '--format=%B'), /Task-Id: t1$/);
    assert.deepEqual((await diffAgainstBase(wt.path, wt.baseCommit)).files, ['README.md', 'new.txt']);

    const remote = await resolvePushRemote({ repo: await resolveRepo(f.repo, {}) });
    assert.equal(remote, f.remote);
    // the mirror's origin is the user's repository: only ever read, never pushed to
    await assert.rejects(pushTaskBranch({ worktreePath: wt.path, remote: 'origin', branch: wt.branch, protectedBranches: [] }), (e: unknown) => isOrchestraError(e, 'PUSH_REFUSED'));
    await assert.rejects(pushTaskBranch({ worktreePath: wt.path, remote: f.repo, branch: wt.branch, protectedBranches: [] }), (e: unknown) => isOrchestraError(e, 'PUSH_REFUSED'));
    const p1 = await pushTaskBranch({ worktreePath: wt.path, remote, branch: wt.branch, protectedBranches: [] });
    assert.deepEqual([p1.pushed, p1.alreadyThere, p1.sha, p1.remoteUrl], [true, false, c1.sha, f.remote]);
    assert.equal(p1.link, `${f.remote}#task/t1`);
    assert.equal(branches(f.remote)['refs/heads/task/t1'], c1.sha);
    const p2 = await pushTaskBranch({ worktreePath: wt.path, remote: f.remote, branch: wt.branch, protectedBranches: [] });
    assert.deepEqual([p2.pushed, p2.alreadyThere], [false, true]);
    assert.equal(await remoteBranchSha(f.remote, 'task/t1'), c1.sha);
    assert.equal(await remoteBranchSha(f.remote, 'task/none'), null);

    const rm1 = await removeWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId: 't1', deleteBranch: true });
    assert.deepEqual(rm1, { removed: true, branchDeleted: true });
    assert.deepEqual(await removeWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId: 't1' }), { removed: false, branchDeleted: false });
    assert.equal(sh(f.repo, 'for-each-ref'), userRepoBefore, "the user's repository was only read");
    await assert.rejects(prepareWorktree({ repoPath: f.repo, worktreesDir: f.worktrees, taskId: 't9' }), /not an Orchestra mirror/);
  } finally {
    f.cleanup();
  }
});

test('re-prepare after the worktree directory vanished re-attaches the branch', async () => {
  const f = makeFixture();
  try {
    const mirror = await ensureMirror(f.repo, f.cache);
    const wt = await prepareWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId: 't2', base: 'main' });
    writeFileSync(join(wt.path, 'a.txt'), 'a\n');
    const c = await commitAll({ worktreePath: wt.path, message: 'a', author, taskId: 't2' });
    rmSync(wt.path, { recursive: true, force: true }); // crash left only the branch behind
    const back = await prepareWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId: 't2', base: 'main' });
    assert.equal(sh(back.path, 'rev-parse', 'HEAD'), c.sha);
    assert.equal(back.baseCommit, sh(f.repo, 'rev-parse', 'main'));
  } finally {
    f.cleanup();
  }
});

test('refused pushes leave the remote unchanged', async () => {
  const f = makeFixture();
  try {
    const before = branches(f.remote);
    const wt = await prepareWorktree({ repoPath: await ensureMirror(f.repo, f.cache), worktreesDir: f.worktrees, taskId: 't3' });
    writeFileSync(join(wt.path, 'x.txt'), 'x\n');
    await commitAll({ worktreePath: wt.path, message: 'x', author, taskId: 't3' });
    const cases: Array<[string, string[]]> = [
      ['main', []],
      ['development', []],
      ['task/t3', ['task/t3']],
      ['feature/x', []],
    ];
    for (const [branch, prot] of cases) {
      await assert.rejects(
        pushTaskBranch({ worktreePath: wt.path, remote: f.remote, branch, protectedBranches: prot }),
        (e: unknown) => isOrchestraError(e, 'PUSH_REFUSED') && e.message.includes(branch),
      );
    }
    // a real branch the worktree is not on is refused too (wrong HEAD), still no push
    sh(wt.path, 'branch', 'task/other');
    await assert.rejects(pushTaskBranch({ worktreePath: wt.path, remote: f.remote, branch: 'task/other', protectedBranches: [] }), /not task\/other/);
    assert.deepEqual(branches(f.remote), before);
    // a diverged remote task branch is never overwritten
    const foreign = sh(f.repo, 'commit-tree', '-p', 'main', '-m', 'foreign', 'main^{tree}');
    sh(f.repo, 'push', '-q', 'origin', `${foreign}:refs/heads/task/t3`);
    await assert.rejects(
      pushTaskBranch({ worktreePath: wt.path, remote: f.remote, branch: 'task/t3', protectedBranches: [] }),
      (e: unknown) => isOrchestraError(e, 'BRANCH_DIVERGED') && /not overwriting/.test(e.message),
    );
    assert.equal(branches(f.remote)['refs/heads/task/t3'], foreign);
  } finally {
    f.cleanup();
  }
});

test('URL-form repo is mirrored into cacheDir and worktrees come from it', async () => {
  const f = makeFixture();
  const { dir: other, cleanup } = tempDir();
  try {
    const url = pathToFileURL(f.remote).href;
    const repo = await resolveRepo(url, {});
    assert.equal(repo.kind, 'url');
    const mirror = await ensureMirror(repo, f.cache);
    assert.ok(mirror.startsWith(f.cache));
    assert.equal(await ensureMirror(repo, f.cache), mirror, 'second call reuses (fetch)');
    // new commit on the remote's development shows up after ensureMirror fetches
    sh(other, 'clone', '-q', f.remote, 'c');
    const c = join(other, 'c');
    sh(c, 'checkout', '-q', 'development');
    writeFileSync(join(c, 'later.txt'), 'later\n');
    sh(c, 'add', '-A');
    sh(c, 'commit', '-q', '-m', 'later');
    sh(c, 'push', '-q', 'origin', 'development');
    await ensureMirror(url, f.cache);
    const base = await detectBase(mirror);
    assert.deepEqual([base.branch, base.ref, base.commit], ['development', 'refs/remotes/origin/development', sh(c, 'rev-parse', 'HEAD')]);

    const wt = await prepareWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId: 'u1' });
    assert.ok(existsSync(join(wt.path, 'later.txt')));
    writeFileSync(join(wt.path, 'u.txt'), 'u\n');
    const commit = await commitAll({ worktreePath: wt.path, message: 'u', author, taskId: 'u1' });
    const remote = await resolvePushRemote({ repo, cwd: wt.path });
    assert.equal(remote, url);
    const pushed = await pushTaskBranch({ worktreePath: wt.path, remote, branch: wt.branch, protectedBranches: [] });
    assert.equal(pushed.pushed, true);
    assert.equal(branches(f.remote)['refs/heads/task/u1'], commit.sha);
    assert.equal((await detectBase(mirror, 'main')).branch, 'main');
  } finally {
    cleanup();
    f.cleanup();
  }
});
