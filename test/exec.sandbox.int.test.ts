/**
 * What a sandboxed command (a repository's tests, a trigger) can reach, with real bwrap and real
 * processes: nothing outlives the run, the process limit binds (also as root), $HOME, /root,
 * /etc/shadow, the workspace and other processes' /proc are out of sight, writes stay in the
 * worktree, and the worktree's git metadata is read-only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { probeIsolation, runSandboxed } from '../src/exec/sandbox.js';
import { procsWith, waitFor } from './support/core-workspace.js';

type Cleanup = { after: (fn: () => void) => void };

function tempDir(t: Cleanup, parent = os.tmpdir(), prefix = 'orchestra-exec-'): string {
  const dir = realpathSync(mkdtempSync(path.join(parent, prefix)));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A unique `sleep` duration: a process with it in its argv is one this test started. */
function token(t: Cleanup, seconds = 3): string {
  const tok = `${seconds}.${process.pid}${Math.floor(Math.random() * 1e6)}`;
  t.after(() => procsWith(tok).forEach((pid) => process.kill(pid, 'SIGKILL'))); // if a test fails
  return tok;
}

const isRoot = process.getuid?.() === 0;
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@localhost', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

test('the sandbox is bwrap with its own /proc, and as root an unprivileged uid without capabilities', { timeout: 20_000 }, async (t) => {
  const caps = await probeIsolation();
  assert.ok(caps.bwrap, `bwrap must be usable for these tests: ${caps.notes.join('; ')}`);
  const r = await runSandboxed({ command: 'grep -E "^(Uid|CapEff|CapBnd|NoNewPrivs):" /proc/self/status; echo pid=$$', cwd: tempDir(t), timeoutMs: 10_000 });
  assert.equal(r.passed, true, r.output);
  assert.equal(r.isolation.mode, 'bwrap');
  assert.equal(r.isolation.filesystem, 'bwrap');
  assert.equal(r.isolation.proc, 'private');
  const uid = Number(/^Uid:\s+(\d+)/m.exec(r.output)?.[1]);
  if (isRoot) {
    assert.ok(r.isolation.uid! >= 200_000 && r.isolation.uid! < 300_000, `uid ${r.isolation.uid}`);
    assert.match(r.output, new RegExp(`^Uid:\\s+${r.isolation.uid}\\s+${r.isolation.uid}\\s+${r.isolation.uid}\\s+${r.isolation.uid}$`, 'm'), 'real, effective, saved and fs uid');
    assert.match(r.output, /^CapEff:\s+0+$/m);
    assert.match(r.output, /^CapBnd:\s+0+$/m);
  } else assert.equal(uid, process.getuid?.());
  assert.match(r.output, /^NoNewPrivs:\s+1$/m);
  assert.match(r.output, /^pid=2$/m, 'the command is pid 2 of its own PID namespace');
});

test('nothing outlives the run: setsid -f, nohup and double-fork escapes die with it', { timeout: 20_000 }, async (t) => {
  const cwd = tempDir(t);
  const tok = token(t);
  const command = [
    `setsid -f sh -c 'sleep ${tok}; echo late > marker-setsid'`,
    `(nohup sh -c 'sleep ${tok}; echo late > marker-nohup' >/dev/null 2>&1 &)`,
    `(setsid sh -c '(sleep ${tok}; echo late > marker-double) &' &)`,
    // Wait until all three are running, so the run ends with them alive.
    `while [ "$(pgrep -fc 'sleep ${tok}')" -lt 3 ]; do :; done`,
    'echo started',
  ].join('\n');
  const r = await runSandboxed({ command, cwd, timeoutMs: 10_000 });
  assert.equal(r.passed, true, r.output);
  assert.equal(r.output, 'started');
  assert.ok(r.durationMs < 5000, `took ${r.durationMs} ms`);
  // Gone as the run returns (a short wait only for the kernel to finish reaping).
  await waitFor('the escaped processes to be gone', () => procsWith(tok).length === 0, 2000);
  for (const m of ['marker-setsid', 'marker-nohup', 'marker-double']) assert.equal(existsSync(path.join(cwd, m)), false, m);
});

test('sandbox.processes binds, also as root: 150 background processes under a limit of 64 are refused', { timeout: 30_000 }, async (t) => {
  const cwd = tempDir(t);
  const tok = token(t, 30);
  const command = `i=0; while [ $i -lt 150 ]; do sleep ${tok} & i=$((i+1)); echo $i > started; done; echo all-started`;
  const r = await runSandboxed({ command, cwd, timeoutMs: 20_000, limits: { processes: 64 } });
  const started = Number(readFileSync(path.join(cwd, 'started'), 'utf8'));
  assert.equal(r.passed, false, r.output);
  assert.doesNotMatch(r.output, /all-started/);
  assert.match(r.output, /fork/i, 'the shell was refused a fork');
  assert.ok(started < 64, `${started} processes started`);
  if (isRoot) assert.ok(started >= 40, `only ${started} started: the limit should count the sandbox uid's processes alone`);
  await waitFor('the sleeps to be gone', () => procsWith(tok).length === 0, 3000);
});

test('the filesystem view: no $HOME, /root or /etc/shadow; writes outside the worktree fail', { timeout: 20_000 }, async (t) => {
  const canary = `home-canary-${process.pid}-${Date.now()}`;
  // A file in the real home directory of the user running Orchestra.
  const realHome = tempDir(t, os.homedir(), '.orchestra-exec-home-');
  writeFileSync(path.join(realHome, 'secret.txt'), canary);
  // A HOME-like private dir inside a directory the sandbox may read (sandbox.readPaths).
  // World-readable, so only the hiding keeps the secret out of reach (not file permissions).
  const readable = tempDir(t);
  chmodSync(readable, 0o755);
  writeFileSync(path.join(readable, 'shared.txt'), 'shared-content', { mode: 0o644 });
  mkdirSync(path.join(readable, 'home'), { mode: 0o755 });
  writeFileSync(path.join(readable, 'home', 'secret.txt'), canary, { mode: 0o644 });
  const work = tempDir(t);
  const wt = path.join(work, 'ws', 'wt');
  mkdirSync(wt, { recursive: true });
  writeFileSync(path.join(work, 'ws', 'records.txt'), canary);
  const hostTmp = tempDir(t);
  const evil = `evil-${process.pid}-${Date.now()}`;
  const command = [
    `cat ${realHome}/secret.txt; echo rc-realhome=$?`,
    `cat ${readable}/home/secret.txt; echo rc-home=$?`,
    `cat ${readable}/shared.txt; echo`,
    `echo root-entries=$(ls -A /root 2>/dev/null | wc -l)`,
    'cat /etc/shadow; echo rc-shadow=$?',
    `cat ${work}/ws/records.txt; echo rc-records=$?`,
    `echo x > ${work}/ws/${evil}; echo rc-ws=$?`,
    `echo x > ${hostTmp}/${evil}; echo rc-hosttmp=$?`,
    `echo x > /tmp/${evil}; echo rc-privtmp=$?`,
    `echo x > ${readable}/${evil}; echo rc-readpath=$?`,
    'echo ok > inside.txt; echo rc-inside=$?',
    'echo HOME=$HOME; touch "$HOME/.rc"; echo rc-ownhome=$?',
  ].join('\n');
  const r = await runSandboxed({ command, cwd: wt, timeoutMs: 10_000, readPaths: [readable], env: { ...process.env, HOME: path.join(readable, 'home') } });
  const rc = (name: string) => Number(new RegExp(`^rc-${name}=(\\d+)$`, 'm').exec(r.output)?.[1]);
  assert.equal(r.output.includes(canary), false, r.output);
  assert.match(r.output, /home\/secret\.txt: No such file or directory/, 'the HOME-like dir is hidden (an empty tmpfs), not just unreadable');
  for (const name of ['realhome', 'home', 'shadow', 'records', 'ws', 'hosttmp', 'readpath']) assert.notEqual(rc(name), 0, `${name}: ${r.output}`);
  for (const name of ['privtmp', 'inside', 'ownhome']) assert.equal(rc(name), 0, `${name}: ${r.output}`);
  assert.match(r.output, /^shared-content$/m, 'readPaths are readable');
  assert.match(r.output, /^root-entries=0$/m, '/root shows nothing');
  assert.match(r.output, /^HOME=\/tmp\/home$/m, 'HOME is private and writable');
  for (const p of [path.join(work, 'ws', evil), path.join(hostTmp, evil), path.join(os.tmpdir(), evil), path.join(readable, evil)]) {
    assert.equal(existsSync(p), false, `${p} was written`);
  }
  assert.equal(readFileSync(path.join(wt, 'inside.txt'), 'utf8'), 'ok\n');
});

test('/proc holds only the sandbox: no other process environment is readable', { timeout: 20_000 }, async (t) => {
  const tok = token(t, 60);
  const canary = `proc-canary-${process.pid}-${Date.now()}`;
  const host = spawn('sleep', [tok], { env: { ...process.env, ORCHESTRA_PROC_CANARY: canary }, stdio: 'ignore' });
  t.after(() => host.kill('SIGKILL'));
  await waitFor('the host process', () => procsWith(tok).length === 1);
  const command = `cat /proc/1/environ; echo; cat /proc/[0-9]*/environ | tr '\\0' '\\n'; echo pids=$(ls -d /proc/[0-9]* | wc -l); ls /proc/${host.pid} >/dev/null 2>&1; echo rc-hostpid=$?`;
  const cwd = tempDir(t);
  const r = await runSandboxed({ command, cwd, timeoutMs: 10_000, maxOutputBytes: 64 << 20 });
  assert.equal(r.truncated, false);
  assert.equal(r.output.includes(canary), false, 'a host process environment was read');
  assert.ok(Number(/^pids=(\d+)$/m.exec(r.output)?.[1]) <= 6, r.output);
  assert.match(r.output, /^rc-hostpid=[1-9]\d*$/m);
  // The control: without the sandbox the same command does read it (the probe is sound).
  const open = await runSandboxed({ command, cwd, timeoutMs: 10_000, isolation: 'unconfined', network: 'on', maxOutputBytes: 64 << 20 });
  assert.equal(open.isolation.mode, 'unconfined');
  assert.ok(open.output.includes(canary), 'the unconfined control sees the host environment');
});

test('git metadata is read-only: no hook can be planted, .git cannot be replaced, git status works', { timeout: 30_000 }, async (t) => {
  const work = tempDir(t);
  const repo = path.join(work, 'repos', 'sample');
  mkdirSync(repo, { recursive: true });
  git(repo, 'init', '-q', '-b', 'main');
  writeFileSync(path.join(repo, 'file.txt'), 'one\n');
  git(repo, 'add', 'file.txt');
  git(repo, 'commit', '-qm', 'first');
  const wt = path.join(work, 'worktrees', 'task1');
  const other = path.join(work, 'worktrees', 'task2');
  git(repo, 'worktree', 'add', '-q', '-b', 'task/1', wt);
  git(repo, 'worktree', 'add', '-q', '-b', 'task/2', other);
  const dotGit = readFileSync(path.join(wt, '.git'), 'utf8');
  const command = [
    'git status --porcelain >/dev/null && echo status-ok',
    'common="$(git rev-parse --git-common-dir)"',
    'echo "#!/bin/sh" > "$common/hooks/post-commit"; echo rc-hook=$?',
    'echo "[core]" >> "$common/config"; echo rc-config=$?',
    'echo "gitdir: /tmp/elsewhere" > .git; echo rc-dotgit=$?',
    'rm -f .git; echo rc-rm=$?',
    'mv .git moved; echo rc-mv=$?',
    'echo two > file.txt; echo rc-edit=$?',
    'echo worktrees=$(ls "$common/worktrees")',
    `ls ${other} >/dev/null 2>&1; echo rc-other=$?`,
  ].join('\n');
  const r = await runSandboxed({ command, cwd: wt, timeoutMs: 10_000 });
  const rc = (name: string) => Number(new RegExp(`^rc-${name}=(\\d+)$`, 'm').exec(r.output)?.[1]);
  assert.match(r.output, /^status-ok$/m, r.output);
  for (const name of ['hook', 'config', 'dotgit', 'rm', 'mv', 'other']) assert.notEqual(rc(name), 0, `${name}: ${r.output}`);
  assert.equal(rc('edit'), 0, r.output);
  assert.match(r.output, /^worktrees=task1$/m, "other worktrees' metadata is hidden");
  assert.equal(existsSync(path.join(repo, '.git', 'hooks', 'post-commit')), false);
  assert.equal(readFileSync(path.join(wt, '.git'), 'utf8'), dotGit);
  // Orchestra's own git still works on the worktree after the run (no "dubious ownership").
  assert.equal(git(wt, 'status', '--porcelain'), 'M file.txt');
  git(wt, 'commit', '-qam', 'second');
  assert.equal(git(repo, 'log', '-1', '--format=%s', 'task/1'), 'second');
});
