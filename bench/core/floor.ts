import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { round, summarize } from '../stats.js';
import { forEachParallel, inboxName, inboxTaskJson, now, waitForGitGc, writeDurably, type BenchContext, type Section } from '../harness.js';
import { INTAKE_FILES } from './intake.js';
import { APPENDS } from './append.js';
import { runChild } from './replay.js';

const run = promisify(execFile);
const git = (cwd: string, ...args: string[]) =>
  run('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@localhost', '-c', 'commit.gpgsign=false', ...args], { cwd, maxBuffer: 64 << 20 });

/** The same payloads as raw files (8 writes in flight, like intake) plus one `git add -A && git commit`. */
async function rawWriteAndCommit(ctx: BenchContext, label: string, payloads: string[]) {
  const dir = await ctx.dir(`floor-write-${label}`);
  await git(dir, 'init', '-q', '-b', 'main');
  return timeWriteThenCommit(dir, `${payloads.length} files`, () => forEachParallel(payloads, 8, (content, i) => fs.writeFile(join(dir, inboxName(i)), content)));
}

/** Times `write`, then one `git add -A && git commit` of what it left in `dir`. */
async function timeWriteThenCommit(dir: string, message: string, write: () => Promise<unknown>) {
  const started = now();
  await write();
  const writeMs = now() - started;
  const gitStarted = now();
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-q', '--no-verify', '-m', message);
  const gitMs = now() - gitStarted;
  return { dir, writeMs, gitMs, totalMs: writeMs + gitMs };
}

/**
 * The fsync'd floor of intake: what a plain script must do at least to take each inbox file
 * durably into a task directory of its own (read it, mkdir, write the record and fsync it, remove
 * the inbox file; 8 in flight), then one `git add -A && git commit` of the directories.
 */
async function rawDurableIntake(ctx: BenchContext, payloads: string[]) {
  const dir = await ctx.dir('floor-intake-fsync');
  const inbox = join(dir, 'inbox');
  await fs.mkdir(inbox);
  await forEachParallel(payloads, 8, (content, i) => fs.writeFile(join(inbox, inboxName(i)), content));
  await git(dir, 'init', '-q', '-b', 'main');
  return timeWriteThenCommit(dir, `${payloads.length} tasks`, () =>
    forEachParallel(payloads, 8, async (_, i) => {
      const from = join(inbox, inboxName(i));
      const content = await fs.readFile(from);
      const taskDir = join(dir, 'tasks', String(i).padStart(6, '0'));
      await fs.mkdir(taskDir, { recursive: true });
      await writeDurably(join(taskDir, 'record.json'), content.toString('utf8'));
      await fs.unlink(from);
    }),
  );
}

async function rawAppends(ctx: BenchContext, label: string, content: string, fsync: boolean): Promise<number[]> {
  const dir = await ctx.dir(`floor-append-${label}`);
  const samples: number[] = [];
  for (let i = 0; i < APPENDS; i++) {
    const path = join(dir, `${String(i).padStart(10, '0')}.json`);
    const started = now();
    if (fsync) await writeDurably(path, content);
    else await fs.writeFile(path, content);
    samples.push(now() - started);
  }
  return samples;
}

export const floorSection: Section = {
  name: 'floor',
  title: 'The floor: the same work as raw file writes + git, and "orchestra / floor" ratios',
  async run(ctx) {
    const ratio = (key: string, label: string, orchestraKey: string, floorMs: number, note: string) => {
      const o = ctx.figure(orchestraKey);
      if (!o) return ctx.log(`floor: no ${orchestraKey} figure (its section did not run); ratio skipped`);
      ctx.record({ key, label, value: o.value / floorMs, unit: 'x', note: `${round(o.value)} ms / ${round(floorMs)} ms; ${note}` });
    };

    // 1. intake + commit vs raw writes + git add/commit
    const payloads = (ctx.shared.get('intake.payloads') as string[] | undefined) ?? Array.from({ length: INTAKE_FILES }, (_, i) => inboxTaskJson(i));
    ctx.log(`floor: ${payloads.length} raw writes + git add -A && git commit`);
    const raw = await rawWriteAndCommit(ctx, 'plain', payloads);
    ctx.record({ key: 'floor.write.totalMs', label: `raw: ${payloads.length} fs.writeFile (8 in flight) + git add -A + git commit`, value: raw.totalMs, unit: 'ms', note: `writes ${Math.round(raw.writeMs)} ms, git ${Math.round(raw.gitMs)} ms` });
    ratio('ratio.intake.total', 'intake + commit (fsync on) / raw writes + git', 'intake.totalMs', raw.totalMs, 'orchestra commits 2 files per task (record + original)');
    const intakeMs = ctx.shared.get('intake.intakeMs') as number | undefined;
    if (intakeMs !== undefined) ctx.record({ key: 'ratio.intake.pass', label: 'intake pass (fsync on) / raw writes', value: intakeMs / raw.writeMs, unit: 'x', note: `${Math.round(intakeMs)} ms / ${Math.round(raw.writeMs)} ms` });
    ratio('ratio.commit', 'journal commit / raw git add -A + commit', 'intake.commitMs', raw.gitMs, 'orchestra: 10,000 files in 5,000 task dirs (~25k git objects) vs 5,000 files in one dir (~5k)');
    await waitForGitGc(raw.dir);
    ctx.log(`floor: ${payloads.length} inbox files taken durably into task directories + git add -A && git commit`);
    const durable = await rawDurableIntake(ctx, payloads);
    ctx.record({ key: 'floor.intakeFsync.totalMs', label: `raw, fsync'd: ${payloads.length} × (read inbox file, mkdir task dir, write + fsync record, unlink), 8 in flight, + git add -A + commit`, value: durable.totalMs, unit: 'ms', note: `writes ${Math.round(durable.writeMs)} ms (${Math.round(payloads.length / (durable.writeMs / 1000))} files/s), git ${Math.round(durable.gitMs)} ms` });
    ratio('ratio.intake.fsyncFloor', 'intake + commit (fsync on) / the fsync\'d per-task-directory floor', 'intake.totalMs', durable.totalMs, 'target <= 1.5; orchestra also writes the original, a task number and a signal per task');
    await waitForGitGc(durable.dir);

    // 2. append vs one raw file write
    const sample = (ctx.shared.get('append.sampleRecord') as string | undefined) ?? inboxTaskJson(0);
    ctx.log(`floor: ${APPENDS} raw single-file writes`);
    const rawPlain = summarize(await rawAppends(ctx, 'plain', sample, false));
    const rawDurable = summarize(await rawAppends(ctx, 'fsync', sample, true));
    ctx.record({ key: 'floor.append.p50', label: 'raw fs.writeFile of one record-sized file p50 / p99', value: rawPlain.p50, unit: 'ms', note: `p99 ${round(rawPlain.p99)}` });
    ctx.record({ key: 'floor.appendFsync.p50', label: 'raw open+write+fsync+close of one file p50 / p99', value: rawDurable.p50, unit: 'ms', note: `p99 ${round(rawDurable.p99)}` });
    ratio('ratio.append.fsyncOn.p50', 'append p50, fsync on / raw write+fsync p50', 'append.fsyncOn.p50', rawDurable.p50, 'read-fold-decide-write-reread');
    ratio('ratio.append.fsyncOff.p50', 'append p50, fsync off / raw writeFile p50', 'append.fsyncOff.p50', rawPlain.p50, 'same');
    // The p99 target is judged on the append section's alternated pairs (ratio.append.alternated.p99):
    // p99s measured minutes apart on this machine differ by the disk's mood more than by the code.

    // 3. replay vs reading + JSON.parse of the same files
    const root = ctx.shared.get('replay.root') as string | undefined;
    if (!root) return ctx.log('floor: replay section did not run; replay floor skipped');
    ctx.log('floor: reading + JSON.parse of the replay workspace in child processes');
    const async_ = await runChild('floor-async', root);
    const parallel = await runChild('floor-parallel', root);
    const sync = await runChild('floor-sync', root);
    ctx.record({ key: 'floor.replayAsync.ms', label: `raw: readFile + JSON.parse of ${async_.files} files, one await at a time`, value: async_.ms, unit: 'ms', note: `peak RSS ${Math.round(async_.maxRssKb / 1024)} MB` });
    ctx.record({ key: 'floor.replayParallel.ms', label: `raw: readFile + JSON.parse of ${parallel.files} files, 16 streams in flight, a stream's files at once`, value: parallel.ms, unit: 'ms', note: `peak RSS ${Math.round(parallel.maxRssKb / 1024)} MB` });
    ctx.record({ key: 'floor.replaySync.ms', label: `raw: readFileSync + JSON.parse of ${sync.files} files`, value: sync.ms, unit: 'ms', note: `peak RSS ${Math.round(sync.maxRssKb / 1024)} MB` });
    ratio('ratio.replay.async', 'replay / raw async read+parse', 'replay.ms', async_.ms, 'same I/O pattern (one await per file): the rest is validation, checksums, folding');
    ratio('ratio.replay.parallel', 'replay / raw read+parse, 16 streams in flight', 'replay.ms', parallel.ms, '');
    ratio('ratio.replay.sync', 'replay / raw sync read+parse', 'replay.ms', sync.ms, '');
  },
};
