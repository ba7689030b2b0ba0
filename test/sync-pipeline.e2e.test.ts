/**
 * Several machines on one host: a bare workspace remote and three clones, each with its own
 * `orchestra up` child process (one intake clone, two worker clones), the scripted pipeline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSampleRepo } from '../src/app/demo.js';
import { initWorkspace } from '../src/app/setup.js';
import type { TaskView } from '../src/core/model/task.js';
import { Workspace } from '../src/core/workspace.js';
import { killIfRunning, runJson, spawnCli, type Running } from './support/cli-run.js';
import { tempDir, waitFor } from './support/core-workspace.js';
import { eventsOf, FIXER_REPLIES, PLANNER_REPLIES, TEST_CMD, scripted } from './support/pipeline-harness.js';

type Cleanup = { after: (fn: () => void | Promise<void>) => void };

interface Machines { dir: string; remote: string; roots: string[]; workspaceRemote: string }

/** A sample target repo, a bare workspace remote, and `count` clones of one workspace. */
async function machines(t: Cleanup, count: number, testCommand = TEST_CMD): Promise<Machines> {
  const dir = tempDir(t, 'orchestra-sync-e2e-');
  const { repo, remote } = await makeSampleRepo(dir);
  const workspaceRemote = join(dir, 'workspace.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', workspaceRemote]);
  const first = join(dir, 'm0');
  mkdirSync(first);
  writeFileSync(join(first, 'orchestra.json'), JSON.stringify({
    defaultWorkstream: 'dev',
    loops: { scanIntervalMs: 200, leaseTtlMs: 1500, settleMs: 20 },
    git: { commitIntervalMs: 100 },
    fsync: false,
    security: { trustedActors: ['cli', 'inbox'] },
    repos: { sample: repo },
    testCommand,
    planner: scripted('planner.json'),
    executor: scripted('executor.json', 'gemini-3-flash'),
    // The cross-machine TTL must cover the longest step (heartbeats stay local): 20 s on a loaded 2-core host.
    sync: { intervalMs: 300, debounceMs: 50, leaseTtlMs: 20_000, confirmTimeoutMs: 20_000 },
  }, null, 2));
  await initWorkspace(first);
  const init = await runJson(first, ['init', '--remote', workspaceRemote]);
  assert.equal(init.code, 0, init.stdout);
  const roots = [first];
  for (let i = 1; i < count; i++) {
    const root = join(dir, `m${i}`);
    const joined = await runJson(dir, ['join', workspaceRemote, root]);
    assert.equal(joined.code, 0, joined.stdout + joined.stderr);
    roots.push(root);
  }
  // The scripts are local files (not records): each machine has its own copy.
  for (const root of roots) {
    writeFileSync(join(root, 'planner.json'), JSON.stringify({ replies: PLANNER_REPLIES }));
    writeFileSync(join(root, 'executor.json'), JSON.stringify({ replies: FIXER_REPLIES }));
  }
  return { dir, remote, roots, workspaceRemote };
}

function up(t: Cleanup, root: string, loops: string): Running {
  const running = spawnCli(root, ['up', '--only', loops]);
  t.after(() => killIfRunning(running));
  return running;
}

function dropTasks(root: string, n: number, prefix: string): void {
  for (let i = 0; i < n; i++) {
    const file = join(root, 'inbox', `${prefix}${i}.md`);
    writeFileSync(`${file}.tmp`, `---\ntitle: "Fix add() #${i}"\nrepo: "sample"\n---\nadd(2, 3) should be 5.\n`);
    execFileSync('mv', [`${file}.tmp`, file]);
  }
}

/** The tasks of a clone, each plan approved through its CLI (the person's step) once seen. */
async function approvePlanned(root: string, approved: Set<string>): Promise<TaskView[]> {
  const views = await (await Workspace.open(root)).tasks();
  for (const v of views) {
    if (v.state === 'planned' && !approved.has(v.id)) {
      const r = await runJson(root, ['approve', v.id]);
      if (r.code === 0) approved.add(v.id);
    }
  }
  return views;
}

/** Waits until `n` tasks exist on the clone, approving each plan, and all are settled. */
async function driveToEnd(root: string, n: number, timeoutMs: number, approved = new Set<string>()): Promise<TaskView[]> {
  let views: TaskView[] = [];
  await waitFor(`${n} tasks completed`, async () => {
    views = await approvePlanned(root, approved);
    return views.length === n && views.every((v) => v.state === 'completed' || v.state === 'failed');
  }, timeoutMs, 500);
  return views;
}

async function stopAll(procs: Running[]): Promise<void> {
  for (const p of procs) p.child.kill('SIGTERM');
  for (const p of procs) {
    const exit = await p.exited;
    assert.equal(exit.code, 0, exit.stderr.slice(-2000));
  }
}

/** What must be the same on every clone: the replay summary without its timing, and verify. */
async function converged(roots: string[]): Promise<void> {
  const summaries = [];
  for (const root of roots) {
    const synced = await runJson(root, ['sync']);
    assert.equal(synced.code, 0, synced.stdout);
  }
  for (const root of roots) {
    await runJson(root, ['sync']);
    const replay = await runJson(root, ['replay']);
    const { ms: _ms, ...rest } = replay.json.data;
    summaries.push(rest);
    const verify = await runJson(root, ['verify']);
    assert.equal(verify.json.data.ok, true, JSON.stringify(verify.json.data.findings));
  }
  for (const s of summaries.slice(1)) assert.deepEqual(s, summaries[0]);
}

const ofType = (root: string, id: string, type: string) => eventsOf(root, `tasks/${id}`).filter((e) => e.type === type);

test('10 tasks, one intake machine and two worker machines: each executed once, each branch pushed once, every replay identical', async (t) => {
  const m = await machines(t, 3);
  const [front, w1, w2] = m.roots as [string, string, string];
  const procs = [up(t, front, 'intake'), up(t, w1, 'planner,executor,publisher'), up(t, w2, 'planner,executor,publisher')];
  const N = 10;
  dropTasks(front, N, 'task');
  const views = await driveToEnd(front, N, 240_000);
  await stopAll(procs);
  assert.deepEqual(views.map((v) => v.state), Array(N).fill('completed'), views.map((v) => v.dev.failure?.reason ?? '').join('; '));
  const byMachine = new Map<string, number>();
  for (const v of views) {
    assert.equal(ofType(front, v.id, 'exec.started').length, 1, `${v.id} executed once`);
    assert.equal(ofType(front, v.id, 'git.pushed').length, 1, `${v.id} pushed once`);
    assert.equal(ofType(front, v.id, 'plan.proposed').length, 1, `${v.id} planned once`);
    const commits = execFileSync('git', ['log', '--format=%H', `development..task/${v.id}`], { cwd: m.remote, encoding: 'utf8' }).split('\n').filter(Boolean);
    assert.equal(commits.length, 1, `${v.id}: one commit on its branch`);
    const owner = String(ofType(front, v.id, 'lease.acquired').find((e) => e.data.purpose === 'execute')?.data.owner);
    byMachine.set(owner.split('#')[1]!, (byMachine.get(owner.split('#')[1]!) ?? 0) + 1);
  }
  await converged(m.roots);
  t.diagnostic(`executions per worker process: ${JSON.stringify(Object.fromEntries(byMachine))}`);
});

test('kill -9 of a worker machine mid-work: its tasks finish once it is back, nothing lost or done twice', async (t) => {
  // Test runs take a few seconds, so the kill lands in the middle of an execution.
  const m = await machines(t, 3, `sleep 3; ${TEST_CMD}`);
  const [front, w1, w2] = m.roots as [string, string, string];
  const procs = [up(t, front, 'intake'), up(t, w2, 'planner,executor,publisher')];
  let victim = up(t, w1, 'planner,executor,publisher');
  const N = 4;
  dropTasks(front, N, 'k');
  // Kill w1 while it executes a task under a claim the remote accepted.
  const approved = new Set<string>();
  const executing = await waitFor('an execution by the victim', async () => {
    const views = await approvePlanned(front, approved);
    return views.find((v) => v.state === 'executing' && v.lease && !v.lease.released && v.lease.owner.endsWith(`#${victim.child.pid}`));
  }, 120_000, 200);
  victim.child.kill('SIGKILL');
  assert.equal((await victim.exited).signal, 'SIGKILL');
  const killedAttempt = executing.lease!.attempt;
  victim = up(t, w1, 'planner,executor,publisher');
  procs.push(victim);
  const views = await driveToEnd(front, N, 240_000, approved);
  await stopAll(procs);
  assert.deepEqual(views.map((v) => v.state), Array(N).fill('completed'), views.map((v) => v.dev.failure?.reason ?? '').join('; '));
  assert.deepEqual(ofType(front, executing.id, 'lease.expired').map((e) => e.data.attempt), [killedAttempt], 'the killed claim expired and was taken over');
  assert.equal(ofType(front, executing.id, 'exec.started').length, 1, 'resumed, not started again');
  for (const v of views) {
    assert.equal(ofType(front, v.id, 'git.pushed').length, 1, `${v.id} pushed once`);
    assert.equal(ofType(front, v.id, 'git.committed').length, 1, `${v.id} committed once`);
    assert.equal(ofType(front, v.id, 'task.moved').filter((e) => e.data.to === 'completed').length, 1);
  }
  await converged(m.roots);
});

test('the remote made unreachable: the worker keeps its local records, starts no execution, and finishes once the remote is back', async (t) => {
  const m = await machines(t, 2);
  const [front, worker] = m.roots as [string, string];
  const procs = [up(t, front, 'intake'), up(t, worker, 'planner,executor,publisher')];
  dropTasks(front, 1, 'off');
  const planned = await waitFor('the plan on the worker', async () => (await (await Workspace.open(worker)).tasks()).find((v) => v.state === 'planned'), 90_000, 200);
  const away = `${m.workspaceRemote}.away`;
  renameSync(m.workspaceRemote, away);
  let back = false;
  t.after(() => { if (!back) renameSync(away, m.workspaceRemote); });

  // Approved on the worker while cut off: the executor claims locally but cannot confirm the claim.
  assert.equal((await runJson(worker, ['approve', planned.id])).code, 0);
  await waitFor('an unconfirmed claim released', () => ofType(worker, planned.id, 'lease.released').some((e) => e.data.outcome === 'released by loop'), 60_000, 200);
  assert.equal(ofType(worker, planned.id, 'exec.started').length, 0, 'no execution started without a confirmed claim');
  assert.equal((await (await Workspace.open(worker)).task(planned.id)).state, 'approved');
  // `up` holds this clone's committer lock, so it syncs; a CLI round says so instead of racing it.
  const byHand = await runJson(worker, ['sync']);
  assert.equal(byHand.json.data.state, 'skipped', byHand.stdout);

  renameSync(away, m.workspaceRemote);
  back = true;
  const [done] = await driveToEnd(front, 1, 120_000);
  await stopAll(procs);
  assert.equal(done!.state, 'completed', done!.dev.failure?.reason);
  assert.equal(ofType(front, done!.id, 'exec.started').length, 1);
  assert.equal(ofType(front, done!.id, 'git.pushed').length, 1);
  await converged(m.roots);
});
