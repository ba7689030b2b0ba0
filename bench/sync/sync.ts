import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeSampleRepo } from '../../src/app/demo.js';
import { initWorkspace } from '../../src/app/setup.js';
import { newId } from '../../src/core/ids.js';
import { AUDIT_STREAM } from '../../src/core/paths.js';
import { Workspace } from '../../src/core/workspace.js';
import { runCommand } from '../../src/pipeline/run-command.js';
import { round, summarize } from '../stats.js';
import { now, sleep, type BenchContext, type Section, CLI } from '../harness.js';
import { EXECUTOR, PLANNER } from '../pipeline/pipeline.js';

/**
 * Several machines on this host (spec §20): a bare workspace remote and clones, each with its
 * own `orchestra up` child process. Throughput of the scripted pipeline with 1, 2 and 3 executor
 * clones (plus one intake clone), and the delay from a record written on one clone to its arrival
 * on another. Every child is killed and every clone removed even when a step throws.
 */
const run = promisify(execFile);
const TASKS = 10;
const DELAY_SAMPLES = 20;
const SYNC = { intervalMs: 1000, debounceMs: 100, leaseTtlMs: 60_000 };


interface Cluster { roots: string[]; children: ChildProcess[] }

/** A workspace pushed to a bare remote, and `count - 1` clones joined from it. */
async function cluster(dir: string, count: number, repo: string): Promise<Cluster> {
  const remote = join(dir, 'workspace.git');
  await run('git', ['init', '-q', '--bare', '-b', 'main', remote]);
  const first = join(dir, 'm0');
  await fs.mkdir(first, { recursive: true });
  await fs.writeFile(join(first, 'orchestra.json'), JSON.stringify({
    loops: { scanIntervalMs: 500, settleMs: 0 },
    repos: { sample: repo },
    testCommand: 'true',
    planner: { provider: 'scripted', model: 'bench-planner', scriptFile: 'planner.json' },
    executor: { provider: 'scripted', model: 'bench-executor', scriptFile: 'executor.json' },
    sync: SYNC,
  }, null, 2));
  await initWorkspace(first, { kind: 'system', name: 'bench' });
  await cli(first, ['init', '--remote', remote]);
  const roots = [first];
  for (let i = 1; i < count; i++) {
    const root = join(dir, `m${i}`);
    await cli(dir, ['join', remote, root]);
    roots.push(root);
  }
  for (const root of roots) {
    await fs.writeFile(join(root, 'planner.json'), JSON.stringify(PLANNER));
    await fs.writeFile(join(root, 'executor.json'), JSON.stringify(EXECUTOR));
  }
  return { roots, children: [] };
}

async function cli(root: string, args: string[]): Promise<void> {
  await run(process.execPath, [CLI, '-w', root, ...args], { env: { ...process.env, ORCHESTRA_LOG: 'silent' } });
}

function up(c: Cluster, root: string, loops: string): void {
  c.children.push(spawn(process.execPath, [CLI, '-w', root, 'up', '--only', loops], { env: { ...process.env, ORCHESTRA_LOG: 'silent' }, stdio: 'ignore', detached: true }));
}

async function stopAll(c: Cluster): Promise<void> {
  await Promise.all(c.children.map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      resolve();
    }
    setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 15_000).unref();
  })));
}

/** Tasks per minute through intake (clone 0) and `executors` worker clones. */
async function throughput(ctx: BenchContext, executors: number): Promise<number> {
  const dir = await ctx.dir(`sync-${executors}`);
  const { repo } = await makeSampleRepo(dir);
  const c = await cluster(dir, executors + 1, repo);
  try {
    up(c, c.roots[0]!, 'intake');
    for (const root of c.roots.slice(1)) up(c, root, 'planner,executor,publisher');
    const front = await Workspace.open(c.roots[0]!);
    const started = now();
    for (let i = 0; i < TASKS; i++) {
      const file = join(front.paths.inbox, `bench-${i}.json`);
      await fs.writeFile(`${file}.tmp`, JSON.stringify({ id: newId(), title: `bench task ${i}`, repo: 'sample', workstream: 'dev' }));
      await fs.rename(`${file}.tmp`, file);
    }
    const approved = new Set<string>();
    for (;;) {
      const tasks = await front.tasks();
      for (const task of tasks) {
        if (task.state === 'planned' && !approved.has(task.id)) {
          await runCommand(front, { command: 'approve', task: task.id }, { kind: 'cli', name: 'bench' }).then(() => approved.add(task.id), () => undefined);
          await front.journal.flush();
        }
        if (task.state === 'failed') throw new Error(`bench task failed: ${task.dev.failure?.reason}`);
      }
      if (tasks.length === TASKS && tasks.every((t) => t.state === 'completed')) break;
      if (now() - started > 600_000) throw new Error(`sync bench with ${executors} executor clone(s) timed out`);
      await sleep(100);
    }
    return (TASKS / (now() - started)) * 60_000;
  } finally {
    await stopAll(c);
  }
}

/** Milliseconds from an audit record appended on clone 0 to its file on clone 1 (both running `up`). */
async function delays(ctx: BenchContext): Promise<number[]> {
  const dir = await ctx.dir('sync-delay');
  const { repo } = await makeSampleRepo(dir);
  const c = await cluster(dir, 2, repo);
  try {
    for (const root of c.roots) up(c, root, 'intake');
    const [a, b] = [await Workspace.open(c.roots[0]!), await Workspace.open(c.roots[1]!)];
    await sleep(2000);
    const out: number[] = [];
    for (let i = 0; i < DELAY_SAMPLES; i++) {
      const started = now();
      const { record } = await a.appendTo(AUDIT_STREAM, (s) => s, () => ({ actor: { kind: 'system', name: 'bench' }, events: [{ type: 'bench.ping', data: { i } }] }));
      // As the CLI does after a write: the running `up` holds the committer lock, so this hands it the file.
      await a.journal.flush();
      for (;;) {
        const state = await b.readStream(AUDIT_STREAM);
        if (state.records.some((r) => r.id === record!.id)) break;
        if (now() - started > 60_000) throw new Error('a record did not reach the other clone in 60 s');
        await sleep(10);
      }
      out.push(now() - started);
      await sleep(Math.random() * 500);
    }
    return out;
  } finally {
    await stopAll(c);
  }
}

export const syncSection: Section = {
  name: 'sync',
  title: `several machines through a git remote: ${TASKS} tasks with 1, 2, 3 executor clones; record delay between clones (sync.intervalMs ${SYNC.intervalMs}, debounceMs ${SYNC.debounceMs})`,
  async run(ctx) {
    for (const executors of [1, 2, 3]) {
      ctx.log(`sync: ${executors} executor clone(s)`);
      const perMin = await throughput(ctx, executors);
      ctx.record({ key: `sync.tasksPerMin.executors${executors}`, label: `tasks per minute, intake clone + ${executors} executor clone(s)`, value: round(perMin), unit: 'tasks/min', note: 'each clone its own `up` process on this host' });
    }
    const d = summarize(await delays(ctx));
    ctx.record({ key: 'sync.delay.p50', label: 'record written on one clone -> present on another (p50)', value: round(d.p50), unit: 'ms', note: 'writer pushes after debounce; reader fetches every intervalMs' });
    ctx.record({ key: 'sync.delay.p99', label: 'record written on one clone -> present on another (p99)', value: round(d.p99), unit: 'ms' });
  },
};
