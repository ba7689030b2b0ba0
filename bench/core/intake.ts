import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { IntakeLoop } from '../../src/loops/intake.js';
import { runCommand } from '../../src/pipeline/run-command.js';
import type { Workspace } from '../../src/core/workspace.js';
import { cpuSince, forEachParallel, inboxName, inboxTaskJson, loopEnv, makeWorkspace, now, sleep, waitForGitGc, type BenchContext, type Section } from '../harness.js';

export const INTAKE_FILES = 5000;

async function dropFiles(ws: Workspace, payloads: string[]): Promise<number> {
  const started = now();
  await forEachParallel(payloads, 8, (content, i) => fs.writeFile(join(ws.paths.inbox, inboxName(i)), content));
  return now() - started;
}

/** Drops the files, waits until they are settled, then times start() -> idle() of a fresh IntakeLoop. */
async function runIntake(ctx: BenchContext, label: string, fsync: boolean, payloads: string[]) {
  const root = await ctx.dir(`intake-${label}`);
  const ws = await makeWorkspace(root, { fsync });
  const dropMs = await dropFiles(ws, payloads);
  // Every file must be older than settleMs, or the pass would (rightly) leave it for later.
  await sleep(ws.config.loops.settleMs + 20);
  ctx.log(`intake (${label}): ${payloads.length} files dropped in ${Math.round(dropMs)} ms; running one intake pass`);

  const loop = new IntakeLoop(loopEnv(ws, 'intake'), runCommand);
  const cpu = process.cpuUsage();
  const started = now();
  await loop.start();
  // idle() scans again when something is left, but returns at once while a scan runs: yield between polls.
  while (!(await loop.idle())) await sleep(5);
  const intakeMs = now() - started;
  const cpuMs = cpuSince(cpu);
  await loop.stop();
  const tasks = loop.outcomes.filter((o) => o.result === 'task').length;
  if (tasks !== payloads.length) throw new Error(`intake recorded ${tasks} of ${payloads.length} files (${JSON.stringify(loop.outcomes.find((o) => o.result !== 'task'))})`);
  ctx.log(`intake (${label}): recorded in ${Math.round(intakeMs)} ms (${Math.round(tasks / (intakeMs / 1000))} files/s)`);
  return { ws, intakeMs, cpuMs, tasks };
}

export const intakeSection: Section = {
  name: 'intake',
  title: `Inbox intake: ${INTAKE_FILES} task files, one intake pass (start() until idle()), then the journal commit`,
  async run(ctx) {
    const payloads = Array.from({ length: INTAKE_FILES }, (_, i) => inboxTaskJson(i));
    ctx.shared.set('intake.payloads', payloads);
    for (const [label, fsync] of [['fsyncOn', true], ['fsyncOff', false]] as const) {
      const { ws, intakeMs, cpuMs, tasks } = await runIntake(ctx, label, fsync, payloads);
      const mode = fsync ? 'fsync on (default)' : 'fsync off';
      ctx.record({ key: `intake.${label}.filesPerSec`, label: `intake throughput, ${mode}`, value: tasks / (intakeMs / 1000), unit: 'files/s', note: `${tasks} files in ${Math.round(intakeMs)} ms incl. watcher setup; process CPU (all threads) ${Math.round(cpuMs)} ms` });
      if (!fsync) continue;

      // The commit step, once (default durability): every record + original file in one commit.
      ctx.log('intake: committing with ws.journal.commitPending()');
      const started = now();
      const committed = await ws.journal.commitPending();
      const commitMs = now() - started;
      ctx.log(`intake: committed ${committed} files in ${Math.round(commitMs)} ms`);
      ctx.record({ key: 'intake.commitMs', label: `journal commitPending() of the ${tasks} intake records`, value: commitMs, unit: 'ms', note: `${committed} files (record + original per task) in one commit` });
      ctx.record({ key: 'intake.totalMs', label: 'intake + commit, fsync on (default)', value: intakeMs + commitMs, unit: 'ms', note: `${Math.round(tasks / ((intakeMs + commitMs) / 1000))} files/s end to end` });
      ctx.shared.set('intake.intakeMs', intakeMs);
      // A commit this large trips `git gc --auto`, which git runs detached; let it finish so it does not skew what follows.
      const gcMs = await waitForGitGc(root(ws));
      if (gcMs > 0) {
        ctx.log(`intake: background git gc --auto ran for ~${Math.round(gcMs)} ms after the commit`);
        ctx.record({ key: 'intake.gcMs', label: 'background `git gc --auto` after that commit (waited for)', value: gcMs, unit: 'ms', note: 'git detaches it; not part of the commit time above' });
      }
    }
  },
};

const root = (ws: Workspace) => ws.paths.root;
