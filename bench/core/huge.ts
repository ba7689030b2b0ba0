import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { importCommit } from '../../src/core/git-import.js';
import { makeWorkspace, now, type BenchContext, type Section } from '../harness.js';
import { generateTasks } from './idle.js';
import { median, REPEAT, smallWorkspace, SMALL, writeRound, type Timings } from './writes.js';

/**
 * The write-cost goal at a million record files: the same CLI writes as the `writes` section, on
 * a workspace of ~513,000 tasks (95% with two records, the rest one). Opt-in (run it by name:
 * `node dist/bench/main.js huge`): generating and committing that many files takes 7-11 minutes
 * on the 2-core machine; ORCHESTRA_BENCH_HUGE_DIR keeps the workspace there for the next run. The
 * generated tasks are committed through one fast-import, as the journal commits. The rounds on
 * the two workspaces alternate, so a change in the machine's load hits both alike.
 */
const RECORD_FILES = Number(process.env.ORCHESTRA_BENCH_HUGE_RECORDS ?? 1_000_000);
const RECORDS_PER_TASK = 1.95;

export const hugeSection: Section = {
  name: 'huge',
  optIn: true,
  title: `One CLI write at ${RECORD_FILES.toLocaleString('en')} record files against 100 tasks, rounds alternated (opt-in: name it to run it)`,
  async run(ctx) {
    const reuse = process.env.ORCHESTRA_BENCH_HUGE_DIR;
    const root = reuse && existsSync(join(reuse, 'orchestra.json')) ? reuse : await generate(ctx, reuse);
    const small = await smallWorkspace(await ctx.dir('huge-small'));
    ctx.log('huge: timing CLI writes, a round on each workspace in turn');
    const rounds: Record<'small' | 'huge', Timings[]> = { small: [], huge: [] };
    for (let i = 0; i < REPEAT; i++) {
      const order = i % 2 ? (['small', 'huge'] as const) : (['huge', 'small'] as const);
      for (const which of order) rounds[which].push(writeRound(which === 'huge' ? root : small, i));
    }
    for (const op of ['create', 'move', 'lock'] as const) {
      const [s, h] = [median(rounds.small.map((r) => r[op])), median(rounds.huge.map((r) => r[op]))];
      const name = op === 'create' ? '`task new`' : op === 'move' ? '`task move`' : '`lock acquire` + `release`';
      ctx.record({ key: `writes.huge.${op}`, label: `${RECORD_FILES.toLocaleString('en')} record files / ${SMALL} tasks: ${name} (median of ${REPEAT}, alternated)`, value: Math.round(h), unit: 'ms', note: `${SMALL} tasks: ${Math.round(s)} ms` });
      ctx.record({ key: `writes.hugeRatio.${op}`, label: `${op}: ${RECORD_FILES.toLocaleString('en')} record files / ${SMALL} tasks`, value: Math.round((h / s) * 100) / 100, unit: 'x', note: 'target <= 1.2' });
    }
  },
};

/**
 * The huge workspace: ~513,000 tasks, committed in one fast-import as the journal commits.
 * With ORCHESTRA_BENCH_HUGE_DIR it is made there and kept for later runs (generation is most
 * of the section's time).
 */
async function generate(ctx: BenchContext, keepAt?: string): Promise<string> {
  const tasks = Math.ceil(RECORD_FILES / RECORDS_PER_TASK);
  const root = keepAt ?? (await ctx.dir('huge'));
  await makeWorkspace(root, { fsync: false });
  ctx.log(`huge: generating ${tasks.toLocaleString('en')} tasks`);
  const files: string[] = [];
  let started = now();
  await generateTasks(root, tasks, { signals: false, onRecord: (path) => files.push(path) });
  ctx.record({ key: 'huge.generateMs', label: `generate ${tasks.toLocaleString('en')} tasks (${files.length.toLocaleString('en')} record files, fsync off)`, value: now() - started, unit: 'ms' });
  // As `up` leaves it: the number hint says where numbering goes on (generated tasks have none).
  await fs.mkdir(join(root, '.orchestra', 'task-numbers'), { recursive: true });
  await fs.writeFile(join(root, '.orchestra', 'task-numbers', 'last'), String(tasks));
  ctx.log(`huge: committing ${files.length.toLocaleString('en')} files in one fast-import`);
  started = now();
  const parent = execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const branch = execFileSync('git', ['-C', root, 'symbolic-ref', 'HEAD'], { encoding: 'utf8' }).trim();
  await importCommit(root, { branch, parent, message: 'huge bench records\n', committer: { name: 'bench', email: 'bench@localhost' }, add: files, remove: [] });
  ctx.record({ key: 'huge.commitMs', label: `commit of the ${files.length.toLocaleString('en')} record files (one git fast-import)`, value: now() - started, unit: 'ms' });
  return root;
}
