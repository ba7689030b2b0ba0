import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { importCommit } from '../../src/core/git-import.js';
import { makeWorkspace, now, type Section } from '../harness.js';
import { generateTasks } from './idle.js';
import { orchestraWrites } from './writes.js';

/**
 * The write-cost goal at a million record files: the same CLI writes as the `writes` section, on
 * a workspace of ~513,000 tasks (95% with two records, the rest one). Opt-in (run it by name:
 * `node dist/bench/main.js huge`): generating and committing that many files takes 20-40 minutes
 * on the 2-core machine. The generated tasks are committed through one fast-import, as the
 * journal commits, so git's index stays empty, as it does for a workspace only orchestra writes.
 */
const RECORD_FILES = Number(process.env.ORCHESTRA_BENCH_HUGE_RECORDS ?? 1_000_000);
const RECORDS_PER_TASK = 1.95;

export const hugeSection: Section = {
  name: 'huge',
  optIn: true,
  title: `One CLI write at ${RECORD_FILES.toLocaleString('en')} record files (opt-in: name it to run it)`,
  async run(ctx) {
    const tasks = Math.ceil(RECORD_FILES / RECORDS_PER_TASK);
    const root = await ctx.dir('huge');
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
    files.length = 0;

    ctx.log('huge: timing CLI writes');
    const t = orchestraWrites(root);
    for (const op of ['create', 'move', 'lock'] as const) {
      ctx.record({ key: `writes.huge.${op}`, label: `${RECORD_FILES.toLocaleString('en')} record files: ${op === 'create' ? '`task new`' : op === 'move' ? '`task move`' : '`lock acquire` + `release`'} (median of 7)`, value: Math.round(t[op]), unit: 'ms' });
      const small = ctx.figure(`writes.small.${op}`);
      if (small) ctx.record({ key: `writes.hugeRatio.${op}`, label: `${op}: ${RECORD_FILES.toLocaleString('en')} record files / 100 tasks`, value: Math.round((t[op] / small.value) * 100) / 100, unit: 'x', note: 'target <= 1.2' });
    }
    if (!ctx.figure('writes.small.create')) ctx.log('huge: run the writes section with it for the ratio to 100 tasks');
  },
};
