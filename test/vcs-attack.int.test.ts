/**
 * Issue #7, item 2: test code (or anything the model writes) must not reach the user's repository
 * or run code in Orchestra's git calls. Real repositories, real git processes, the real publisher.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, rmSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { diffAgainstBase } from '../src/vcs/changes.js';
import { commitAll } from '../src/vcs/commit.js';
import { FIXED_CONFIG, gitArgv, gitEnv } from '../src/vcs/git.js';
import { pushTaskBranch } from '../src/vcs/push.js';
import { ensureMirror, sealMirror } from '../src/vcs/repo-source.js';
import { prepareWorktree } from '../src/vcs/worktree.js';
import { branches, makeFixture, sh, tempDir } from './support/git-fixtures.js';
import { approveAndWait, dropTask, FIXER_REPLIES, git, makePipeline, PLANNER_REPLIES, startLoops, taskCommits, waitState } from './support/pipeline-harness.js';

/** relative path -> sha256 (or link target) of every entry under `dir`: a byte-for-byte snapshot. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const st = lstatSync(full);
      const rel = relative(dir, full);
      if (st.isDirectory()) {
        out[`${rel}/`] = `dir ${st.mode}`;
        visit(full);
      } else if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(full)}`;
      else out[rel] = `${st.mode} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`;
    }
  };
  visit(dir);
  return out;
}

/** A script that leaves a marker, then tries what the attack did: move the remote's main. */
function evilScript(dir: string, name: string, remote: string): string {
  const file = join(dir, `${name}.sh`);
  writeFileSync(file, [
    '#!/bin/sh',
    `echo "$0 $* :: $(tr '\\0' ' ' < /proc/$PPID/cmdline)" >> '${join(dir, 'RAN')}-${name}'`,
    // the payload (once: the push would run the planted hooks again), not in the controls
    `if [ -z "$EVIL_RAN$EVIL_CONTROL" ]; then EVIL_RAN=1 git push --force '${remote}' HEAD:refs/heads/main HEAD:refs/heads/development >/dev/null 2>&1; fi`,
    'cat',
    'exit 0',
    '',
  ].join('\n'));
  chmodSync(file, 0o755);
  return file;
}

function plantHooks(hooksDir: string, script: string): void {
  mkdirSync(hooksDir, { recursive: true });
  for (const hook of ['pre-commit', 'prepare-commit-msg', 'commit-msg', 'post-commit', 'pre-push', 'post-checkout', 'reference-transaction', 'post-index-change', 'fsmonitor-watchman']) {
    writeFileSync(join(hooksDir, hook), `#!/bin/sh\nexec '${script}'\n`);
    chmodSync(join(hooksDir, hook), 0o755);
  }
}

const ran = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('RAN')).map((n) => `${n}: ${readFileSync(join(dir, n), 'utf8')}`);

test('the attack: hooks in the common dir, a .git redirect and core.fsmonitor planted before publishing change nothing but task/<id>', async (t) => {
  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES } });
  const evil = join(p.dir, 'evil');
  mkdirSync(evil);
  const script = evilScript(evil, 'x', p.remote);
  const userRepoBefore = snapshot(join(p.repo, '.git'));
  const remoteBefore = branches(p.remote);

  const first = await startLoops(p, ['intake', 'planner', 'executor']);
  const id = await dropTask(p, 'attack');
  const view = await approveAndWait(p, id, ['publishing', 'failed'], 45_000);
  assert.equal(view.state, 'publishing', view.dev.failure?.reason);
  await first.stop();
  const wt = view.dev.execution!.worktree;

  // What a test run in the worktree could do if it could write there (plain git, as the test would).
  const common = resolve(wt, git(wt, 'rev-parse', '--git-common-dir'));
  assert.ok(!common.startsWith(p.repo), 'the worktree does not belong to the user repository');
  plantHooks(join(common, 'hooks'), script);
  plantHooks(join(evil, 'hooks'), script);
  for (const [k, v] of [['core.fsmonitor', script], ['core.hooksPath', join(evil, 'hooks')], ['filter.evil.clean', script], ['filter.evil.process', script], ['diff.evil.textconv', script], ['diff.external', script], ['core.pager', script], ['core.sshCommand', script], ['credential.helper', `!${script}`]]) {
    git(wt, 'config', k!, v!);
  }
  writeFileSync(join(wt, '.gitattributes'), '* filter=evil diff=evil\n');
  // A .git redirect to a repository whose config runs code.
  git(evil, 'init', '-q', 'other');
  const redirect = join(evil, 'other', '.git');
  plantHooks(join(redirect, 'hooks'), script);
  git(redirect, 'config', 'core.fsmonitor', script);
  git(redirect, 'config', 'core.hooksPath', join(evil, 'hooks'));
  writeFileSync(join(wt, '.git'), `gitdir: ${redirect}\n`);
  // Control: the plant is live, plain git in the worktree runs it.
  try { execFileSync('git', ['-C', wt, '-c', 'user.name=x', '-c', 'user.email=x@y.invalid', 'commit', '-q', '--allow-empty', '-m', 'control'], { stdio: 'ignore', env: { ...process.env, EVIL_CONTROL: '1' } }); } catch { /* only the marker matters */ }
  assert.ok(ran(evil).length > 0, 'the planted code runs under plain git');
  for (const n of readdirSync(evil).filter((x) => x.startsWith('RAN'))) rmSync(join(evil, n));

  const second = await startLoops(p, ['publisher']);
  const done = await waitState(p, id, ['completed', 'failed'], 45_000);
  await second.stop();
  assert.equal(done.state, 'completed', done.dev.failure?.reason);

  assert.deepEqual(ran(evil), [], 'no planted hook, fsmonitor, filter, pager or helper ran');
  assert.equal(git(p.remote, 'rev-parse', 'main'), remoteBefore['refs/heads/main']);
  assert.equal(git(p.remote, 'rev-parse', 'development'), remoteBefore['refs/heads/development']);
  assert.deepEqual(Object.keys(branches(p.remote)).sort(), ['refs/heads/development', 'refs/heads/main', `refs/heads/task/${id}`]);
  assert.equal(taskCommits(p, id).length, 1);
  assert.match(git(p.remote, 'show', `task/${id}:src/math.js`), /return a \+ b;/);
  assert.deepEqual(snapshot(join(p.repo, '.git')), userRepoBefore, "the user's repository is byte-for-byte untouched");
  const mirrorConfig = readFileSync(join(common, 'config'), 'utf8');
  assert.doesNotMatch(mirrorConfig, /fsmonitor|hooksPath|evil|sshCommand|helper/, 'the mirror config was made ours again');
});

test('variant: an evil global config (HOME, XDG), injected GIT_CONFIG_* variables and a filter driver run nothing', async (t) => {
  const f = makeFixture();
  const { dir: home, cleanup } = tempDir('orchestra-home-');
  const saved = { ...process.env };
  const restoreEnv = () => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  };
  t.after(() => {
    restoreEnv();
    cleanup();
    f.cleanup();
  });
  const script = evilScript(home, 'g', f.remote);
  plantHooks(join(home, 'hooks'), script);
  const evilConfig = [
    '[core]', `\tfsmonitor = ${script}`, `\thooksPath = ${join(home, 'hooks')}`, `\tpager = ${script}`, `\tsshCommand = ${script}`, `\tattributesFile = ${join(home, 'attributes')}`,
    '[filter "evil"]', `\tclean = ${script}`, `\tsmudge = ${script}`, '[diff "evil"]', `\ttextconv = ${script}`, `\tcommand = ${script}`,
    '[diff]', `\texternal = ${script}`, '[credential]', `\thelper = !${script}`, '',
  ].join('\n');
  writeFileSync(join(home, '.gitconfig'), evilConfig);
  mkdirSync(join(home, '.config', 'git'), { recursive: true });
  writeFileSync(join(home, '.config', 'git', 'config'), evilConfig);
  writeFileSync(join(home, 'attributes'), '* filter=evil diff=evil\n');
  writeFileSync(join(home, '.config', 'git', 'attributes'), '* filter=evil diff=evil\n');
  const userRepoBefore = snapshot(join(f.repo, '.git'));
  Object.assign(process.env, {
    HOME: home, XDG_CONFIG_HOME: join(home, '.config'),
    GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'core.fsmonitor', GIT_CONFIG_VALUE_0: script,
    GIT_CONFIG_PARAMETERS: `'core.hooksPath'='${join(home, 'hooks')}'`, GIT_EXTERNAL_DIFF: script, GIT_PAGER: script, GIT_DIR: join(home, 'nowhere'),
  });

  const mirror = await ensureMirror(f.repo, f.cache);
  const wt = await prepareWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId: 'v1' });
  writeFileSync(join(wt.path, '.gitattributes'), '* filter=evil diff=evil\n');
  writeFileSync(join(wt.path, 'data.txt'), 'plain data\n');
  // Control: plain git with this environment runs the planted code.
  try { execFileSync('git', ['-C', wt.path, 'hash-object', '--path=data.txt', 'data.txt'], { stdio: 'ignore', env: { ...process.env, GIT_DIR: '', EVIL_CONTROL: '1' } }); } catch { /* only the marker matters */ }
  assert.ok(ran(home).length > 0, 'the planted code runs under plain git');
  for (const n of readdirSync(home).filter((x) => x.startsWith('RAN'))) rmSync(join(home, n));
  const diff = await diffAgainstBase(wt.path, wt.baseCommit);
  assert.deepEqual(diff.files, ['.gitattributes', 'data.txt']);
  const c = await commitAll({ worktreePath: wt.path, message: 'v', author: { name: 'A', email: 'a@b.invalid' }, taskId: 'v1', baseCommit: wt.baseCommit });
  const pushed = await pushTaskBranch({ worktreePath: wt.path, remote: f.remote, branch: wt.branch, protectedBranches: [], baseCommit: wt.baseCommit });
  assert.equal(pushed.sha, c.sha);
  restoreEnv();

  assert.deepEqual(ran(home), [], 'nothing from the global config or the environment ran');
  const remote = branches(f.remote);
  assert.deepEqual(Object.keys(remote).sort(), ['refs/heads/development', 'refs/heads/main', 'refs/heads/task/v1']);
  assert.equal(remote['refs/heads/main'], sh(f.repo, 'rev-parse', 'main'));
  assert.equal(sh(f.remote, 'cat-file', '-p', 'task/v1:data.txt'), 'plain data', 'committed unfiltered');
  assert.deepEqual(snapshot(join(f.repo, '.git')), userRepoBefore);
});

test('the runner: fixed flags, scrubbed environment, explicit git dir in a worktree', async (t) => {
  const saved = process.env.SOME_SERVICE_API_KEY;
  process.env.SOME_SERVICE_API_KEY = 'k-1234567890';
  t.after(() => (saved === undefined ? delete process.env.SOME_SERVICE_API_KEY : (process.env.SOME_SERVICE_API_KEY = saved)));
  const env = gitEnv();
  assert.equal(env.SOME_SERVICE_API_KEY, undefined);
  assert.equal(env.GIT_CONFIG_NOSYSTEM, '1');
  assert.equal(env.GIT_CONFIG_GLOBAL, '/dev/null');
  assert.equal(env.GIT_TERMINAL_PROMPT, '0');
  assert.equal(gitEnv({ network: true }).GIT_CONFIG_GLOBAL, undefined, 'a push may read the global config (credentials)');
  assert.equal(gitEnv({ network: true }).SOME_SERVICE_API_KEY, undefined);
  for (const c of ['core.hooksPath=/dev/null', 'core.fsmonitor=false', 'protocol.ext.allow=never', 'protocol.allow=never']) assert.ok(FIXED_CONFIG.includes(c), c);
  assert.ok(gitArgv('/', ['status']).includes('protocol.file.allow=never'));
  assert.ok(gitArgv('/', ['status'], { allowFile: true }).includes('protocol.file.allow=always'));

  const f = makeFixture();
  t.after(() => f.cleanup());
  const wt = await prepareWorktree({ repoPath: await ensureMirror(f.repo, f.cache), worktreesDir: f.worktrees, taskId: 'r1' });
  const argv = gitArgv(wt.path, ['status']);
  const gitDir = argv.find((a) => a.startsWith('--git-dir='))!;
  assert.ok(gitDir.startsWith('--git-dir=') && gitDir.includes(join('worktrees', 'r1')), gitDir);
  assert.ok(argv.includes(`--work-tree=${wt.path}`));
  assert.ok(existsSync(gitDir.slice('--git-dir='.length)));
});

test('a nested repository planted in the worktree (its own filter config) is never entered by our git and never committed', async (t) => {
  const f = makeFixture();
  t.after(() => f.cleanup());
  const { dir: scratch, cleanup } = tempDir('orchestra-nested-');
  t.after(cleanup);
  const script = evilScript(scratch, 'nested', f.remote);
  const mirror = await ensureMirror(f.repo, f.cache);
  const wt = await prepareWorktree({ repoPath: mirror, worktreesDir: f.worktrees, taskId: 'n1' });
  // What a test could do in its worktree: a repository of its own whose config runs code on `git status`.
  const nested = join(wt.path, 'x');
  mkdirSync(nested);
  execFileSync('git', ['init', '-q', nested]);
  writeFileSync(join(nested, 'f'), 'd\n');
  execFileSync('git', ['-C', nested, '-c', 'user.name=a', '-c', 'user.email=a@b', 'add', 'f']);
  execFileSync('git', ['-C', nested, '-c', 'user.name=a', '-c', 'user.email=a@b', 'commit', '-qm', 'x']);
  execFileSync('git', ['-C', nested, 'config', 'filter.x.clean', script]);
  execFileSync('git', ['-C', nested, 'config', 'core.fsmonitor', script]);
  writeFileSync(join(nested, '.gitattributes'), '* filter=x\n');
  execFileSync('touch', ['-d', '2000-01-01', join(nested, 'f')]);
  writeFileSync(join(wt.path, 'real.txt'), 'a real change\n');

  await assert.rejects(diffAgainstBase(wt.path, wt.baseCommit), (err: any) => err.code === 'PUSH_REFUSED' && /nested git repository \(x\)/.test(err.message));
  await assert.rejects(
    commitAll({ worktreePath: wt.path, message: 'n', author: { name: 'A', email: 'a@b.invalid' }, taskId: 'n1', baseCommit: wt.baseCommit }),
    (err: any) => err.code === 'PUSH_REFUSED',
  );
  assert.equal(sh(wt.path, 'diff', '--cached', '--name-only'), '', 'the index is left clean');
  assert.equal(sh(wt.path, 'rev-parse', 'HEAD'), wt.baseCommit, 'nothing was committed');
  assert.deepEqual(ran(scratch), [], 'no command of the nested repository ran');

  // Variant: a `.git` file (gitfile) pointing at another repository is refused the same way.
  rmSync(nested, { recursive: true, force: true });
  mkdirSync(join(wt.path, 'y'));
  writeFileSync(join(wt.path, 'y', '.git'), `gitdir: ${mirror}\n`);
  await assert.rejects(diffAgainstBase(wt.path, wt.baseCommit), (err: any) => err.code === 'PUSH_REFUSED');
  assert.deepEqual(ran(scratch), []);
  rmSync(join(wt.path, 'y'), { recursive: true, force: true });
  const ok = await commitAll({ worktreePath: wt.path, message: 'n', author: { name: 'A', email: 'a@b.invalid' }, taskId: 'n1', baseCommit: wt.baseCommit });
  assert.equal(ok.created, true, 'once removed, the real change commits');
});

test('credentials in a repository URL never reach the mirror config that sandboxes can read', async (t) => {
  const { dir, cleanup } = tempDir('orchestra-creds-');
  t.after(cleanup);
  execFileSync('git', ['init', '-q', '--bare', dir]);
  await sealMirror(dir, { source: 'https://bot:ghp_REALTOKEN1234567890@github.example/org/repo.git', kind: 'url' });
  const config = readFileSync(join(dir, 'config'), 'utf8');
  assert.doesNotMatch(config, /ghp_REALTOKEN|bot:/);
  assert.match(config, /url = "?https:\/\/github\.example\/org\/repo\.git"?/);
});
