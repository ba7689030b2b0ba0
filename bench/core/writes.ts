import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { makeWorkspace, now, type BenchContext, type Section, CLI } from '../harness.js';
import { summarize } from '../stats.js';
import { generateTasks } from './idle.js';

/**
 * What one CLI write costs (a process start, the record, and the commit a one-shot writer makes
 * when no `up` is running) on a small workspace and on the idle section's large one: the cost
 * must not grow with the workspace. With ORCHESTRA_BENCH_PYTHON_REF (a checkout of
 * Platform-Studio/orchestra-python) the same operations of the reference CLI are timed beside.
 */
export const REPEAT = 7;
export const SMALL = 100;

export type Timings = { create: number; move: number; lock: number };

function timed(fn: () => void): number {
  const started = now();
  fn();
  return now() - started;
}

export const median = (xs: number[]) => summarize(xs).p50;

/** Median wall time of `task new`, `task move` and `lock acquire` + `lock release` through the CLI. */
export function orchestraWrites(root: string): Timings {
  const rounds = Array.from({ length: REPEAT }, (_, i) => writeRound(root, i));
  return { create: median(rounds.map((r) => r.create)), move: median(rounds.map((r) => r.move)), lock: median(rounds.map((r) => r.lock)) };
}

/** One of each write through the CLI on a new task: its creation, a move, a lock taken and given back. */
export function writeRound(root: string, i: number): Timings {
  const cli = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args, '-w', root], { encoding: 'utf8', env: { ...process.env, ORCHESTRA_LOG: 'silent' } }).trim();
  let id = '';
  const create = timed(() => (id = cli('task', 'new', `bench write ${i}`, '--workstream', 'default')));
  const move = timed(() => cli('task', 'move', id, 'in_progress'));
  const lock = timed(() => { cli('lock', 'acquire', id, '--owner', 'bench'); cli('lock', 'release', id, '--owner', 'bench'); });
  return { create, move, lock };
}

/** The same three operations through orchestra-python's CLI, on a base dir holding `count` tasks. */
function pythonWrites(ref: string, dir: string, count: number): Timings {
  const py = (...args: string[]) => JSON.parse(execFileSync('python3', ['-m', 'orchestration.cli', '--base-dir', dir, ...args], { cwd: ref, encoding: 'utf8' })) as { id?: string; data?: { id?: string } };
  const idOf = (out: { id?: string; data?: { id?: string } }) => String(out.id ?? out.data?.id);
  const ws = idOf(py('workstream', 'create', '--name', 'bench'));
  for (let i = 0; i < count; i++) py('task', 'create', ws, '--title', `seed ${i}`);
  const ids: string[] = [];
  const create = median(Array.from({ length: REPEAT }, (_, i) => timed(() => ids.push(idOf(py('task', 'create', ws, '--title', `bench write ${i}`))))));
  const move = median(ids.map((id) => timed(() => py('task', 'update', id, '--status', 'in_progress'))));
  const lock = median(ids.map((id) => timed(() => { py('lock', 'acquire', id, '--agent', 'bench'); py('lock', 'release', id, '--agent', 'bench'); })));
  return { create, move, lock };
}

function record(ctx: BenchContext, key: string, label: string, t: Timings, note?: string): void {
  for (const op of ['create', 'move', 'lock'] as const) {
    ctx.record({ key: `${key}.${op}`, label: `${label}: ${op === 'create' ? '`task new`' : op === 'move' ? '`task move`' : '`lock acquire` + `release`'} (median of ${REPEAT})`, value: Math.round(t[op]), unit: 'ms', ...(note ? { note } : {}) });
  }
}

/** The 100-task workspace writes are compared against, committed. */
export async function smallWorkspace(root: string): Promise<string> {
  await makeWorkspace(root, { fsync: false }); // as the idle workspace (and orchestra-python, which never fsyncs)
  await generateTasks(root, SMALL);
  execFileSync('git', ['-C', root, 'add', '-A'], { stdio: 'ignore' });
  execFileSync('git', ['-C', root, '-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-q', '--no-verify', '-m', 'seed'], { stdio: 'ignore' });
  return root;
}

export const writesSection: Section = {
  name: 'writes',
  title: 'One CLI write (process start, record, commit) on a 100-task workspace and on the idle section\'s large one; orchestra-python beside it when ORCHESTRA_BENCH_PYTHON_REF is set',
  async run(ctx) {
    const small = await smallWorkspace(await ctx.dir('writes-small'));
    const smallT = orchestraWrites(small);
    record(ctx, 'writes.small', `${SMALL} tasks`, smallT);
    const large = ctx.shared.get('idle.root') as string | undefined;
    const largeCount = ctx.shared.get('idle.tasks') as number | undefined;
    if (large && largeCount) {
      const largeT = orchestraWrites(large);
      record(ctx, 'writes.large', `${largeCount.toLocaleString('en')} tasks`, largeT);
      for (const op of ['create', 'move', 'lock'] as const) {
        ctx.record({ key: `writes.ratio.${op}`, label: `${op}: ${largeCount.toLocaleString('en')} tasks / ${SMALL} tasks`, value: Math.round((largeT[op] / smallT[op]) * 100) / 100, unit: 'x', note: 'target <= 1.2' });
      }
    } else ctx.log('writes: no large workspace (run the idle section first) — small workspace only');
    const ref = process.env.ORCHESTRA_BENCH_PYTHON_REF;
    if (ref && existsSync(ref)) {
      const refT = pythonWrites(ref, await ctx.dir('writes-python'), SMALL);
      record(ctx, 'writes.python', `orchestra-python, ${SMALL} tasks`, refT);
      for (const op of ['create', 'move', 'lock'] as const) {
        ctx.record({ key: `writes.vsPython.${op}`, label: `${op}: orchestra / orchestra-python at ${SMALL} tasks`, value: Math.round((smallT[op] / refT[op]) * 100) / 100, unit: 'x', note: 'target <= 0.8' });
      }
    } else ctx.log('writes: ORCHESTRA_BENCH_PYTHON_REF not set: no comparison with orchestra-python');
  },
};
