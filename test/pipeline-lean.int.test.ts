/**
 * The lean pipeline (issue #12): the base is resolved once per task (the execution forks at the
 * commit the approved plan was made on, even when the base branch moved since), and a task on a
 * repository already mirrored costs at most 9 git processes from inbox to pushed branch: fetch,
 * branch refs, the root listing, worktree add, the final diff's three (HEAD's tree read into a
 * fresh index, the worktree staged, one diff), commit (of the index that diff kept) and push.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OrchestraError } from '../src/core/errors.js';
import { diffAgainstBase } from '../src/vcs/changes.js';
import { ensureMirror } from '../src/vcs/repo-source.js';
import { prepareWorktree } from '../src/vcs/worktree.js';
import { makeFixture } from './support/git-fixtures.js';
import { approveAndWait, dropTask, eventsOfType, FIXER_REPLIES, git, makePipeline, PLANNER_REPLIES, startLoops, waitFor, waitState } from './support/pipeline-harness.js';

/** A `git` first in PATH that appends its working directory and argv (NUL-terminated) to `log`. */
function countGitCalls(dir: string): { log: string; calls: (exceptCwd: string) => string[]; restore: () => void } {
  const bin = join(dir, 'gitshim');
  const log = join(dir, 'git-calls.log');
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  mkdirSync(bin);
  writeFileSync(join(bin, 'git'), `#!/bin/sh\nprintf '%s\\t%s\\000' "$PWD" "$*" >> '${log}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 });
  writeFileSync(log, '');
  const before = process.env.PATH;
  process.env.PATH = `${bin}:${before ?? ''}`;
  return {
    log,
    calls: (exceptCwd) => readFileSync(log, 'utf8').split('\0').filter((l) => l && !l.startsWith(`${exceptCwd}\t`)),
    restore: () => void (process.env.PATH = before),
  };
}

test('a task forks at the planned commit and costs at most 9 git processes once its repository is mirrored', async (t) => {
  const p = await makePipeline(t, { scripts: { planner: [...PLANNER_REPLIES, ...PLANNER_REPLIES], executor: [...FIXER_REPLIES, ...FIXER_REPLIES] } });
  const counter = countGitCalls(p.dir);
  t.after(counter.restore);
  await startLoops(p);

  // The first task mirrors the repository (its clone is a one-time cost).
  const first = await dropTask(p, 'first');
  await approveAndWait(p, first, ['completed'], 60_000);
  await waitFor('the first worktree removed', () => !existsSync(join(p.ws.paths.worktrees, first)));

  writeFileSync(counter.log, '');
  const second = await dropTask(p, 'second');
  await waitState(p, second, ['planned']);
  const planned = eventsOfType(p, second, 'plan.proposed')[0]!.data as { base: string; baseCommit: string };
  // Someone moves the base branch after the plan was made.
  const moved = join(p.dir, 'mover');
  execFileSync('git', ['clone', '-q', '-b', planned.base, p.remote, moved], { stdio: 'pipe' });
  writeFileSync(join(moved, 'LATER.md'), 'pushed after the plan\n');
  for (const args of [['add', '-A'], ['commit', '-qm', 'later'], ['push', '-q', 'origin', planned.base]]) {
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: moved, stdio: 'pipe' });
  }
  await approveAndWait(p, second, ['completed'], 60_000);
  await waitFor('the second worktree removed', () => !existsSync(join(p.ws.paths.worktrees, second)));
  // Counted from the moment the second task was dropped, without the workspace's own commits, the
  // mover's git and the planner model's two repository reads (list_files, read_file: one each).
  const all = counter.calls(p.root).filter((l) => !l.startsWith(`${moved}\t`) && !/\tclone -q -b /.test(l));
  const modelReads = all.filter((l) => / ls-tree -r | show /.test(l));
  assert.equal(modelReads.length, 2, 'the model read the repository twice');
  const taskCalls = all.filter((l) => !modelReads.includes(l));

  const started = eventsOfType(p, second, 'exec.started')[0]!.data as { baseCommit: string };
  assert.equal(started.baseCommit, planned.baseCommit, 'the execution starts where the plan was made');
  assert.equal(git(p.remote, 'rev-parse', `task/${second}~1`), planned.baseCommit, 'the pushed branch sits on the planned commit');
  assert.notEqual(git(p.remote, 'rev-parse', planned.base), planned.baseCommit);

  assert.ok(taskCalls.length <= 9, `${taskCalls.length} git processes for one task:\n${taskCalls.map((l) => l.replace(/-c \S+ |--git-dir=\S+ |--work-tree=\S+ /g, '').slice(0, 200)).join('\n')}`);
});

test('one diff gives file list, stat and patch even for names built to confuse its parser', async (t) => {
  const f = makeFixture();
  t.after(() => f.cleanup());
  const mirror = await ensureMirror(f.repo, f.cache);
  const wt = await prepareWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId: 'names' });
  // A name that looks like a raw entry, one with a newline, content that looks like a diff header, a rename and a binary file.
  const rawLike = ':100644 100644 0000000 1111111 M';
  writeFileSync(join(wt.path, rawLike), 'x\n');
  writeFileSync(join(wt.path, 'two\nlines.txt'), 'diff --git a/README.md b/README.md\n');
  writeFileSync(join(wt.path, 'blob.bin'), Buffer.from([0, 1, 2, 0, 255]));
  execFileSync('git', ['-C', wt.path, 'mv', 'README.md', 'READ-ME.md']);
  const diff = await diffAgainstBase(wt.path, wt.baseCommit);
  assert.deepEqual(diff.files, [rawLike, 'READ-ME.md', 'blob.bin', 'two\nlines.txt'].sort());
  assert.match(diff.stat, /4 files changed/);
  assert.match(diff.stat, / => /, 'the rename shows as one');
  assert.ok(diff.patch.startsWith('diff --git '), diff.patch.slice(0, 80));
  // The patch is whole: it applies to the base and gives back exactly the worktree's tree.
  const check = join(f.root, 'apply-check');
  execFileSync('git', ['clone', '-q', f.remote, check], { stdio: 'pipe' });
  execFileSync('git', ['-C', check, 'checkout', '-q', wt.baseCommit], { stdio: 'pipe' });
  execFileSync('git', ['-C', check, 'apply', '--index', '-'], { input: diff.patch, stdio: ['pipe', 'pipe', 'pipe'] });
  const tree = (dir: string) => execFileSync('git', ['-C', dir, 'write-tree'], { encoding: 'utf8' }).trim();
  execFileSync('git', ['-C', wt.path, 'add', '-A']);
  assert.equal(tree(check), tree(wt.path));

  // A nested repository among them is still refused.
  execFileSync('git', ['init', '-q', join(wt.path, 'inner')]);
  execFileSync('git', ['-C', join(wt.path, 'inner'), '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'x']);
  await assert.rejects(diffAgainstBase(wt.path, wt.baseCommit), (err: unknown) => err instanceof OrchestraError && err.code === 'PUSH_REFUSED');
});
