/**
 * The spawn server (exec/spawner.ts, exec/spawn-server-main.ts): programs run through it give
 * exactly what they give when run here (bytes, exit codes, signals, timeouts, input), every
 * answer reaches its own caller, a server that dies answers what it had with an error and is
 * replaced, and nothing it started outlives its caller, kill -9 included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDirect, type RunRequest } from '../src/core/run-whole.js';
import { runBuffered, spawnServerPid, useSpawnServer } from '../src/exec/spawner.js';
import { setWholeInputLimit } from '../src/core/git-run.js';
import { createTask } from '../src/core/ops/tasks.js';
import { gitOut, makeWorkspace, testActor } from './support/core-workspace.js';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
const sh = (script: string, extra: Partial<RunRequest> = {}): RunRequest => ({ file: 'sh', args: ['-c', script], cwd: tmpdir(), env, timeoutMs: 30_000, maxBuffer: 64 * 1024 * 1024, ...extra });
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    assert.ok(Date.now() < deadline, `timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A temporary directory removed after the test, and the path of one of our compiled modules. */
function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'orchestra-spawner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
const moduleFile = (name: string) => fileURLToPath(new URL(`../src/exec/${name}.js`, import.meta.url));

test('through the server a program gives what it gives when run here: bytes, exit code, signal, input, errors', async (t) => {
  useSpawnServer(true, 60_000);
  t.after(() => useSpawnServer(false));
  const blob = randomBytes(3 * 1024 * 1024);
  const cases: RunRequest[] = [
    sh('printf "out\\0put"; printf "err" >&2; exit 3'),
    sh('cat', { input: blob }), // 3 MB of binary through stdin and back: many pipe chunks both ways
    sh('kill -TERM $$'),
    sh('head -c 10; exit 0', { input: Buffer.alloc(1024 * 1024, 7) }), // exits without reading it all
    { file: 'no-such-program-orchestra', args: [], cwd: tmpdir(), env, timeoutMs: 5000, maxBuffer: 1024 },
    sh('true', { cwd: join(tmpdir(), 'no-such-dir-orchestra') }),
  ];
  for (const req of cases) {
    const [served, direct] = [await runBuffered(req), await runDirect(req)];
    assert.ok(spawnServerPid(), 'a server ran it');
    assert.equal(served.exitCode, direct.exitCode, req.args.join(' '));
    assert.equal(served.signal, direct.signal);
    assert.ok(served.stdout.equals(direct.stdout), 'stdout bytes');
    assert.ok(served.stderr.equals(direct.stderr), 'stderr bytes');
    assert.equal(served.error === undefined, direct.error === undefined, `error: ${served.error} / ${direct.error}`);
  }
  const echoed = await runBuffered(sh('cat', { input: blob }));
  assert.ok(echoed.stdout.equals(blob), 'binary input comes back unchanged');
});

test('many requests at once: each caller gets its own answer; a timeout and an overflow stop only their program', async (t) => {
  useSpawnServer(true, 60_000);
  t.after(() => useSpawnServer(false));
  const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => runBuffered(sh(`sleep 0.0${i % 10}; printf ${i}; exit ${i % 7}`))));
  replies.forEach((r, i) => {
    assert.equal(r.stdout.toString(), String(i));
    assert.equal(r.exitCode, i % 7);
  });
  const [slow, loud, fine] = await Promise.all([
    runBuffered(sh('sleep 30', { timeoutMs: 300 })),
    runBuffered(sh('head -c 5000000 /dev/zero', { maxBuffer: 100_000 })),
    runBuffered(sh('printf ok')),
  ]);
  assert.equal(slow.timedOut, true);
  assert.equal(slow.signal, 'SIGTERM');
  assert.equal(loud.overflow, true);
  assert.ok(loud.stdout.length <= 100_000);
  assert.equal(fine.stdout.toString(), 'ok');
});

test('a server killed under a request answers it with an error (never runs it twice) and is replaced', async (t) => {
  useSpawnServer(true, 60_000);
  t.after(() => useSpawnServer(false));
  const marks = join(scratch(t), 'marks');
  await runBuffered(sh('true'));
  const first = spawnServerPid()!;
  const pending = runBuffered(sh(`echo $$ >> ${marks}; exec sleep 30`, { timeoutMs: 60_000 }));
  await until('the program started', () => existsSync(marks) && readFileSync(marks, 'utf8').endsWith('\n'));
  const program = Number(readFileSync(marks, 'utf8'));
  process.kill(first, 'SIGKILL');
  const answer = await pending;
  assert.match(answer.error ?? '', /spawn server exited/);
  assert.equal(readFileSync(marks, 'utf8').split('\n').filter(Boolean).length, 1, 'run once');
  await until('the program the dead server ran is killed too (it would run on unwatched)', () => !alive(program));
  const next = await runBuffered(sh('printf again'));
  assert.equal(next.stdout.toString(), 'again');
  assert.notEqual(spawnServerPid(), first, 'a new server');
});

test('nothing the server started outlives its caller: kill -9 of the caller ends the server and its programs', async (t) => {
  const pids = join(scratch(t), 'pids');
  const spawner = moduleFile('spawner');
  const script = `
    import { writeFileSync } from 'node:fs';
    const { runBuffered, spawnServerPid, useSpawnServer } = await import(${JSON.stringify(spawner)});
    useSpawnServer(true, 60000);
    const running = runBuffered({ file: 'sh', args: ['-c', 'echo $$ > ${pids}.sleep; exec sleep 60'], cwd: '/', env: { PATH: process.env.PATH }, timeoutMs: 120000, maxBuffer: 1024 });
    writeFileSync(${JSON.stringify(pids)}, String(spawnServerPid()));
    await running;`;
  const caller = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
  t.after(() => caller.kill('SIGKILL'));
  await until('the program runs', () => existsSync(`${pids}.sleep`) && existsSync(pids));
  const server = Number(readFileSync(pids, 'utf8'));
  const sleeper = Number(readFileSync(`${pids}.sleep`, 'utf8'));
  assert.ok(alive(server) && alive(sleeper));
  caller.kill('SIGKILL');
  await until('the server is gone', () => !alive(server));
  await until('its program is gone', () => !alive(sleeper));
});

test('after a quiet spell the server is closed, and this process never waits for it', async (t) => {
  useSpawnServer(true, 200);
  t.after(() => useSpawnServer(false));
  await runBuffered(sh('true'));
  const pid = spawnServerPid()!;
  await until('the idle server exits', () => !alive(pid));
  assert.equal(spawnServerPid(), undefined);
  // A process that used the server and has nothing left to do exits at once (no open handle of it).
  const spawner = moduleFile('spawner');
  execFileSync(process.execPath, ['--input-type=module', '-e', `const s = await import(${JSON.stringify(spawner)}); s.useSpawnServer(true); const r = await s.runBuffered({ file: 'true', args: [], cwd: '/', env: { PATH: process.env.PATH }, timeoutMs: 5000, maxBuffer: 1024 }); if (r.exitCode !== 0) process.exit(9);`], { stdio: 'pipe', timeout: 20_000 });
  // (execFileSync's timeout fails the test if the caller waited for the 30 s quiet spell.)
});

test('the workspace journal commits through the server, streams input past its limit, and starts no git for input it cannot make', async (t) => {
  useSpawnServer(true, 60_000);
  t.after(() => {
    setWholeInputLimit();
    useSpawnServer(false);
  });
  const ws = await makeWorkspace(t);
  for (const [limit, title] of [[64 * 1024 * 1024, 'held whole'], [1, 'streamed past the limit']] as const) {
    setWholeInputLimit(limit);
    const task = await createTask(ws, { title }, { actor: testActor });
    await ws.journal.flush();
    assert.ok(spawnServerPid(), 'the server ran the commit');
    assert.match(gitOut(ws.paths.root, 'log', '-1', '--format=%B'), new RegExp(task.id), `committed (${title})`);
    assert.equal(gitOut(ws.paths.root, 'status', '--porcelain'), '', 'the index refreshed through the server too');
  }
  // fast-import's input reads the record files: one gone before the commit means no git at all.
  setWholeInputLimit();
  const lost = await createTask(ws, { title: 'lost' }, { actor: testActor });
  const head = gitOut(ws.paths.root, 'rev-parse', 'HEAD');
  rmSync(join(ws.paths.root, ws.store.recordPath(`tasks/${lost.id}`, 1).slice(ws.paths.root.length + 1)));
  await ws.journal.commitPending().catch(() => 0);
  assert.equal(gitOut(ws.paths.root, 'rev-parse', 'HEAD'), head, 'nothing half-committed');
});

test('without the server, a process that exits takes the programs it was running along', async (t) => {
  const pidFile = join(scratch(t), 'pid');
  const runner = fileURLToPath(new URL('../src/core/run-whole.js', import.meta.url));
  const script = `
    import { existsSync } from 'node:fs';
    const { runDirect } = await import(${JSON.stringify(runner)});
    void runDirect({ file: 'sh', args: ['-c', 'echo $$ > ${pidFile}; exec sleep 60'], cwd: '/', env: { PATH: process.env.PATH }, timeoutMs: 120000, maxBuffer: 1024 });
    while (!existsSync(${JSON.stringify(pidFile)})) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    process.exit(0);`;
  execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe', timeout: 20_000 });
  const program = Number(readFileSync(pidFile, 'utf8'));
  await until('the program is gone', () => !alive(program));
});
