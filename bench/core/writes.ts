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

/** Each operation's median over rounds. */
export const medians = (rounds: Timings[]): Timings => ({ create: median(rounds.map((r) => r.create)), move: median(rounds.map((r) => r.move)), lock: median(rounds.map((r) => r.lock)) });

/** Median wall time of `task new`, `task move` and `lock acquire` + `lock release` through the CLI. */
export function orchestraWrites(root: string): Timings {
  return medians(Array.from({ length: REPEAT }, (_, i) => writeRound(root, i)));
}

/** One of each write through the CLI on a new task: its creation, a move, a lock taken and given back. */
export function writeRound(root: string, i: number, env: NodeJS.ProcessEnv = process.env): Timings {
  const cli = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args, '-w', root], { encoding: 'utf8', env: { ...env, ORCHESTRA_LOG: 'silent' } }).trim();
  let id = '';
  const create = timed(() => (id = cli('task', 'new', `bench write ${i}`, '--workstream', 'default')));
  const move = timed(() => cli('task', 'move', id, 'in_progress'));
  const lock = timed(() => { cli('lock', 'acquire', id, '--owner', 'bench'); cli('lock', 'release', id, '--owner', 'bench'); });
  return { create, move, lock };
}

/**
 * The same three operations through orchestra-python's CLI, on a base dir holding `count` tasks:
 * returns one round. The interpreter is the one `python3` resolves to, called directly: a
 * version manager's shim in PATH (pyenv's is a bash script) would add its own start to every
 * call, and that is not the reference's cost.
 */
function pythonReference(ref: string, dir: string, count: number): { python: string; round: (i: number) => Timings } {
  const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  const py = (...args: string[]) => JSON.parse(execFileSync(python, ['-m', 'orchestration.cli', '--base-dir', dir, ...args], { cwd: ref, encoding: 'utf8' })) as { id?: string; data?: { id?: string } };
  const idOf = (out: { id?: string; data?: { id?: string } }) => String(out.id ?? out.data?.id);
  const ws = idOf(py('workstream', 'create', '--name', 'bench'));
  for (let i = 0; i < count; i++) py('task', 'create', ws, '--title', `seed ${i}`);
  const round = (i: number): Timings => {
    let id = '';
    const create = timed(() => (id = idOf(py('task', 'create', ws, '--title', `bench write ${i}`))));
    const move = timed(() => py('task', 'update', id, '--status', 'in_progress'));
    const lock = timed(() => { py('lock', 'acquire', id, '--agent', 'bench'); py('lock', 'release', id, '--agent', 'bench'); });
    return { create, move, lock };
  };
  return { python, round };
}

/** Median wall time of a bare interpreter start (`node -e 0`, `python -c 0`), for the notes. */
function startMs(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  return median(Array.from({ length: REPEAT }, () => timed(() => execFileSync(cmd, args, { env, stdio: 'ignore' }))));
}

/**
 * Orchestra and orchestra-python alternated round by round (the machine's drift hits both). When
 * NODE_EXTRA_CA_CERTS is set, Node reads and parses that certificate file at every start, before
 * any of Orchestra's code runs; Python ignores it. Orchestra is then also timed without it.
 */
function compareWithPython(ctx: BenchContext, ref: string, small: string, pyDir: string): void {
  const { python, round: pyRound } = pythonReference(ref, pyDir, SMALL);
  const withoutCa = process.env.NODE_EXTRA_CA_CERTS ? (({ NODE_EXTRA_CA_CERTS: _, ...rest }) => rest)(process.env) : undefined;
  const ours: Timings[] = [];
  const theirs: Timings[] = [];
  const oursNoCa: Timings[] = [];
  for (let i = 0; i < REPEAT; i++) {
    ours.push(writeRound(small, 1000 + i));
    theirs.push(pyRound(i));
    if (withoutCa) oursNoCa.push(writeRound(small, 2000 + i, withoutCa));
  }
  const refT = medians(theirs);
  const starts = `bare starts: node ${Math.round(startMs(process.execPath, ['-e', '0']))} ms, python ${Math.round(startMs(python, ['-c', '0']))} ms`;
  record(ctx, 'writes.python', `orchestra-python, ${SMALL} tasks`, refT, `${python} called directly; ${starts}`);
  const ratios = (key: string, label: string, t: Timings) => {
    for (const op of ['create', 'move', 'lock'] as const) {
      ctx.record({ key: `${key}.${op}`, label: `${op}: ${label}`, value: Math.round((t[op] / refT[op]) * 100) / 100, unit: 'x', note: 'target <= 0.8' });
    }
  };
  ratios('writes.vsPython', `orchestra / orchestra-python at ${SMALL} tasks, rounds alternated`, medians(ours));
  if (withoutCa) {
    const noCa = medians(oursNoCa);
    const nodeNoCa = Math.round(startMs(process.execPath, ['-e', '0'], withoutCa));
    record(ctx, 'writes.noExtraCa', `${SMALL} tasks, NODE_EXTRA_CA_CERTS unset`, noCa, `node -e 0 without it: ${nodeNoCa} ms`);
    ratios('writes.vsPythonNoExtraCa', `the same, NODE_EXTRA_CA_CERTS unset for orchestra`, noCa);
  }
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
      compareWithPython(ctx, ref, small, await ctx.dir('writes-python'));
    } else ctx.log('writes: ORCHESTRA_BENCH_PYTHON_REF not set: no comparison with orchestra-python');
  },
};
