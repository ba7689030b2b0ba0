import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { runCommand } from '../../src/pipeline/run-command.js';
import { makeSampleRepo } from '../../src/app/demo.js';
import { runUp } from '../../src/app/up.js';
import { Workspace } from '../../src/core/workspace.js';
import { newId } from '../../src/core/ids.js';
import { round, summarize } from '../stats.js';
import { makeWorkspace, now, silentLogger, sleep, type BenchContext, type Section } from '../harness.js';

const run = promisify(execFile);
const TASKS = Number(process.env.BENCH_PIPELINE_TASKS ?? 20);

/** Zero-latency scripted models: plan at once; write a file, run the (trivial) tests, finish. */
export const PLANNER = { replies: [{ toolCalls: [{ name: 'submit_plan', args: { summary: 'add a note', steps: ['write notes/bench.txt'], criteria: ['tests pass'], risks: [] } }] }] };
export const EXECUTOR = {
  replies: [
    { toolCalls: [{ name: 'write_file', args: { path: 'notes/bench.txt', content: 'benchmark\n' } }] },
    { toolCalls: [{ name: 'run_tests', args: {} }] },
    { toolCalls: [{ name: 'finish', args: { summary: 'added notes/bench.txt' } }] },
  ],
};

/**
 * A `git` first in PATH that logs its working directory and argv, then runs the real git: the
 * pipeline's git processes are counted, not estimated. Returns the log path and the restore.
 */
async function countGit(dir: string): Promise<{ log: string; restore: () => void }> {
  const realGit = (await run('sh', ['-c', 'command -v git'])).stdout.trim();
  const bin = join(dir, 'gitshim');
  const log = join(dir, 'git-calls.log');
  await fs.mkdir(bin, { recursive: true });
  await fs.writeFile(join(bin, 'git'), `#!/bin/sh\nprintf '%s\\t%s\\000' "$PWD" "$*" >> '${log}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 });
  await fs.writeFile(log, '');
  const before = process.env.PATH;
  process.env.PATH = `${bin}:${before ?? ''}`;
  return { log, restore: () => void (process.env.PATH = before) };
}

/** Git processes logged by countGit, split into the workspace's own commits and the task work. */
async function gitCalls(log: string, workspace: string): Promise<{ workspace: number; task: number; bySubcommand: Record<string, number> }> {
  // One record per process, NUL-terminated (an argument such as a commit message can hold newlines).
  const lines = (await fs.readFile(log, 'utf8')).split('\0').filter(Boolean);
  const out = { workspace: 0, task: 0, bySubcommand: {} as Record<string, number> };
  for (const line of lines) {
    const [cwd, argv = ''] = line.split('\t');
    if (cwd === workspace) {
      out.workspace++;
      continue;
    }
    out.task++;
    const words = argv.split(/\s+/);
    let sub = '?';
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      if (w === '-c' || w === '-C') i++;
      else if (!w.startsWith('-')) {
        sub = w;
        break;
      }
    }
    out.bySubcommand[sub] = (out.bySubcommand[sub] ?? 0) + 1;
  }
  return out;
}

async function configure(ws: Workspace, repo: string): Promise<void> {
  const path = ws.paths.config;
  const config = JSON.parse(await fs.readFile(path, 'utf8'));
  await fs.writeFile(join(ws.paths.root, 'planner.json'), JSON.stringify(PLANNER));
  await fs.writeFile(join(ws.paths.root, 'executor.json'), JSON.stringify(EXECUTOR));
  Object.assign(config, {
    repos: { sample: repo },
    testCommand: 'true',
    planner: { provider: 'scripted', model: 'bench-planner', scriptFile: 'planner.json' },
    executor: { provider: 'scripted', model: 'bench-executor', scriptFile: 'executor.json' },
  });
  await fs.writeFile(path, JSON.stringify(config, null, 2));
}

/** The floor: the same git work per task done by a plain script (worktree, commit, push), timed with the same git shim in PATH. */
async function floor(ctx: BenchContext, count: number): Promise<number[]> {
  const { repo } = await makeSampleRepo(await ctx.dir('pipeline-floor'));
  const git = (cwd: string, ...args: string[]) => run('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@localhost', ...args], { cwd });
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = now();
    const wt = join(repo, '..', `wt-${i}`);
    await git(repo, 'worktree', 'add', '-q', '-b', `task/floor-${i}`, wt, 'development');
    await fs.mkdir(join(wt, 'notes'), { recursive: true });
    await fs.writeFile(join(wt, 'notes', 'bench.txt'), 'benchmark\n');
    await run('true');
    await git(wt, 'add', '-A');
    await git(wt, 'commit', '-q', '-m', 'add a note');
    await git(wt, 'push', '-q', 'origin', `task/floor-${i}`);
    await git(repo, 'worktree', 'remove', wt);
    times.push(now() - started);
  }
  return times;
}

export const pipelineSection: Section = {
  name: 'pipeline',
  title: `dev pipeline overhead: ${TASKS} tasks inbox -> pushed branch with zero-latency scripted models and a trivial test command`,
  async run(ctx) {
    const dir = await ctx.dir('pipeline');
    const { repo } = await makeSampleRepo(dir);
    const ws = await makeWorkspace(join(dir, 'workspace'), { fsync: true, loops: { scanIntervalMs: 500, settleMs: 0, concurrency: Number(process.env.BENCH_CONCURRENCY ?? 2) } });
    await configure(ws, repo);
    const fresh = await Workspace.open(ws.paths.root);
    const counter = await countGit(dir);
    const up = await runUp(fresh, { only: ['intake', 'planner', 'executor', 'publisher'], log: silentLogger });
    // Stopped and PATH restored whatever happens: a failing section never leaves loops running.
    let totalMs: number;
    // How long the loops' event loop was held at a time while the tasks ran (spawns, folds, fsyncs).
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const landed = new Map<string, number>();
    const done = new Map<string, number>();
    try {
      const started = now();
      for (let i = 0; i < TASKS; i++) {
        const id = newId();
        const file = join(fresh.paths.inbox, `bench-${i}.json`);
        await fs.writeFile(`${file}.tmp`, JSON.stringify({ id, title: `bench task ${i}`, repo: 'sample' }));
        await fs.rename(`${file}.tmp`, file);
        landed.set(id, now());
      }
      // The person's approval, done as soon as each plan appears.
      while (done.size < TASKS) {
        for (const task of await fresh.tasks()) {
          if (task.state === 'planned') await runCommand(fresh, { command: 'approve', task: task.id }, { kind: 'cli', name: 'bench' }).catch(() => undefined);
          if ((task.state === 'completed' || task.state === 'failed') && !done.has(task.id)) {
            if (task.state === 'failed') throw new Error(`bench task failed: ${task.dev.failure?.reason}`);
            done.set(task.id, now());
          }
        }
        if (now() - started > 240_000) throw new Error('pipeline bench timed out');
        await sleep(20);
      }
      totalMs = now() - started;
    } finally {
      loopDelay.disable();
      await up.stop();
      counter.restore();
    }
    const calls = await gitCalls(counter.log, ws.paths.root);
    ctx.log(`git processes: ${calls.task} for the task work (${JSON.stringify(calls.bySubcommand)}), ${calls.workspace} for the workspace's own commits`);
    const perTask = [...done].map(([id, at]) => at - landed.get(id)!);
    const s = summarize(perTask);
    // The floor's git goes through the same counting shim as the pipeline's: the shim costs a
    // shell per call, and only one side paying it made the floor look cheaper than it is.
    const floorDir = await ctx.dir('pipeline-floor-shim');
    const floorCounter = await countGit(floorDir);
    let floorTimes: number[];
    try {
      floorTimes = await floor(ctx, TASKS);
    } finally {
      floorCounter.restore();
    }
    const floorCalls = await gitCalls(floorCounter.log, '');
    const f = summarize(floorTimes);
    const floorPerMin = 60_000 / (floorTimes.reduce((a, b) => a + b, 0) / TASKS);
    const perMin = (TASKS / totalMs) * 60_000;
    ctx.record({ key: 'pipeline.latency.p50', label: 'inbox -> pushed branch, per task (p50)', value: round(s.p50), unit: 'ms', note: `${TASKS} tasks submitted at once, 2 per loop in parallel` });
    ctx.record({ key: 'pipeline.latency.p99', label: 'inbox -> pushed branch, per task (p99)', value: round(s.p99), unit: 'ms' });
    ctx.record({ key: 'pipeline.tasksPerMin', label: 'tasks per minute through the whole pipeline', value: round(perMin), unit: 'tasks/min' });
    ctx.record({ key: 'pipeline.floor.perTask', label: 'floor: plain script worktree+commit+push per task (mean)', value: round(f.mean), unit: 'ms' });
    ctx.record({ key: 'pipeline.floor.tasksPerMin', label: 'floor: plain script tasks per minute (sequential)', value: round(floorPerMin), unit: 'tasks/min' });
    ctx.record({ key: 'pipeline.ratio.throughput', label: 'throughput ratio orchestra / floor', value: Math.round((perMin / floorPerMin) * 100) / 100, unit: 'x' });
    ctx.record({ key: 'pipeline.git.perTask', label: 'git processes per task in the target repository (mirror, worktree, commit, push)', value: round(calls.task / TASKS), unit: 'processes', note: `target: at most 10; the floor script ran ${round(floorCalls.task / TASKS)}; by command: ${Object.entries(calls.bySubcommand).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${round(v / TASKS)}`).join(', ')}` });
    ctx.record({ key: 'pipeline.git.workspacePerTask', label: 'git processes per task for the workspace journal (record commits)', value: round(calls.workspace / TASKS), unit: 'processes' });
    ctx.record({ key: 'pipeline.eventLoopDelay.p99', label: 'event-loop delay while the tasks ran, p99 (the loops share one event loop)', value: round(loopDelay.percentile(99) / 1e6), unit: 'ms', note: `p50 ${round(loopDelay.percentile(50) / 1e6)} ms, max ${round(loopDelay.max / 1e6)} ms` });
    ctx.record({ key: 'pipeline.overhead.perTask', label: 'orchestration overhead per task (wall time per task minus floor)', value: round(totalMs / TASKS - f.mean), unit: 'ms', note: 'includes one sandboxed test run, ~20 fsynced records and the workspace commits' });
  },
};
