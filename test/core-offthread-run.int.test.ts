/**
 * Target-repository git from a worker thread (core/offthread-run.ts, on in `up`): the results a
 * caller sees are those of a process run on the main thread (output, exit code, timeouts, caps,
 * a command that cannot start), git() through it behaves as through execa, and the worker never
 * keeps a process alive. And the race that moving git off the main thread made visible: a fetch
 * in a mirror while another task's worktree is being added to it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enableOffThreadRuns, runOffThread, stopOffThreadRuns } from '../src/core/offthread-run.js';
import { OrchestraError } from '../src/core/errors.js';
import { git, gitLine } from '../src/vcs/git.js';
import { ensureMirror } from '../src/vcs/repo-source.js';
import { makeFixture } from './support/git-fixtures.js';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
const job = (file: string, args: string[], over: Partial<Parameters<typeof runOffThread>[0]> = {}) =>
  runOffThread({ file, args, cwd: process.cwd(), env, timeoutMs: 60_000, maxBuffer: 1 << 20, ...over });

test('off-thread runs: output, exit codes, cwd and env, timeouts, the output cap, a command that cannot start', async (t) => {
  t.after(stopOffThreadRuns);
  const ok = await job('sh', ['-c', 'pwd; echo "$FOO"; echo oops >&2; exit 3'], { cwd: '/tmp', env: { ...env, FOO: 'bar' } });
  assert.deepEqual([ok.exitCode, ok.stdout, ok.stderr, ok.timedOut, ok.overflow], [3, '/tmp\nbar\n', 'oops\n', false, false]);

  const parallel = await Promise.all(Array.from({ length: 8 }, (_, i) => job('sh', ['-c', `echo ${i}`])));
  assert.deepEqual(parallel.map((r) => r.stdout), Array.from({ length: 8 }, (_, i) => `${i}\n`), 'each answer reaches its own caller');

  const slow = await job('sleep', ['30'], { timeoutMs: 200 });
  assert.equal(slow.timedOut, true);
  assert.equal(slow.signal, 'SIGTERM');

  const flood = await job('head', ['-c', '5000000', '/dev/zero'], { maxBuffer: 10_000 });
  assert.equal(flood.overflow, true);
  assert.ok(flood.stdout.length <= 10_000, 'never more than the cap is kept');

  await assert.rejects(job('orchestra-no-such-command', []), /ENOENT/);
  assert.equal((await job('true', [])).exitCode, 0, 'the worker goes on after a failure');
});

test('git() from the worker thread answers as from the main thread, failures included', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  t.after(stopOffThreadRuns);
  const onMain = await gitLine(fx.repo, ['rev-parse', 'HEAD']);
  const mainFailure = await git(fx.repo, ['rev-parse', '--verify', 'no-such-ref']).catch((err: unknown) => err);
  enableOffThreadRuns();
  assert.equal(await gitLine(fx.repo, ['rev-parse', 'HEAD']), onMain);
  const failure = await git(fx.repo, ['rev-parse', '--verify', 'no-such-ref']).catch((err: unknown) => err);
  assert.ok(failure instanceof OrchestraError && mainFailure instanceof OrchestraError);
  assert.deepEqual([failure.code, failure.message], [mainFailure.code, mainFailure.message]);
});

test('an idle worker does not keep the process alive', async () => {
  const module = fileURLToPath(new URL('../src/core/offthread-run.js', import.meta.url));
  const script = `const m = await import(${JSON.stringify(module)}); m.enableOffThreadRuns();
    const r = await m.runOffThread({ file: 'true', args: [], cwd: '/', env: { PATH: process.env.PATH }, timeoutMs: 10000, maxBuffer: 1000 });
    console.log('ran', r.exitCode);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  assert.deepEqual([code, signal, out.trim()], [0, null, 'ran 0'], 'it exited by itself once the run was done');
});

test('a mirror fetch that meets a worktree being added (its placeholder HEAD) is tried again; a lasting one still fails', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const cache = fx.cache;
  const mirror = await ensureMirror(fx.repo, cache);
  // What `git worktree add` leaves for a moment: a worktree entry whose HEAD is all zeros.
  const entry = join(mirror, 'worktrees', 'being-added');
  mkdirSync(entry, { recursive: true });
  writeFileSync(join(entry, 'HEAD'), `${'0'.repeat(40)}\n`);
  writeFileSync(join(entry, 'gitdir'), join(fx.root, 'wt', '.git') + '\n');
  writeFileSync(join(entry, 'commondir'), '../..\n');
  execFileSync('git', ['-C', fx.repo, 'commit', '-q', '--allow-empty', '-m', 'next'], { env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@localhost', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@localhost' } });

  // The add finishes (its real HEAD lands) while the fetch waits: the fetch succeeds.
  const finished = new Promise<void>((resolve) => setTimeout(() => {
    writeFileSync(join(entry, 'HEAD'), `${execFileSync('git', ['-C', fx.repo, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()}\n`);
    resolve();
  }, 150)); // after the first attempt has met the placeholder, before the retries run out
  await ensureMirror(fx.repo, cache);
  await finished;
  assert.equal(gitLineSync(mirror, 'rev-parse', 'refs/remotes/origin/main'), gitLineSync(fx.repo, 'rev-parse', 'HEAD'));

  // One that never finishes: the fetch fails with git's own reason, after its few retries.
  writeFileSync(join(entry, 'HEAD'), `${'0'.repeat(40)}\n`);
  await assert.rejects(ensureMirror(fx.repo, cache), /bad object worktrees\/being-added\/HEAD/);
});

const gitLineSync = (cwd: string, ...args: string[]) => execFileSync('git', ['-C', cwd, ...args], { encoding: 'utf8' }).trim();
