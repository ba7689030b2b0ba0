import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { IntakeLoop } from '../../src/loops/intake.js';
import type { Workspace } from '../../src/core/workspace.js';
import { forEachParallel, inboxName, inboxTaskJson, loopEnv, makeWorkspace, now, sleep, type BenchContext, type Section } from '../harness.js';

export const INTAKE_FILES = 5000;

interface IntakeRun { dropMs: number; intakeMs: number; tasks: number; commitMs: number; committed: number }

async function dropFiles(ws: Workspace, payloads: string[]): Promise<number> {
  const started = now();
  await forEachParallel(payloads, 8, (content, i) => fs.writeFile(join(ws.paths.inbox, inboxName(i)), content));
  return now() - started;
}

async function runIntake(ctx: BenchContext, label: string, fsync: boolean, payloads: string[]): Promise<IntakeRun> {
  const root = await ctx.dir(`intake-${label}`);
  const ws = await makeWorkspace(root, { fsync });
  const dropMs = await dropFiles(ws, payloads);
  // Every file must be older than settleMs, or the pass would (rightly) leave it for later.
  await sleep(ws.config.loops.settleMs + 20);
  ctx.log(`intake (${label}): ${payloads.length} files dropped in ${Math.round(dropMs)} ms; running one intake pass`);

  const loop = new IntakeLoop(loopEnv(ws, 'intake'));
  const started = now();
  await loop.start();
  while (!(await loop.idle())) { /* idle() scans again when something is left */ }
  const intakeMs = now() - started;
  await loop.stop();
  const tasks = loop.outcomes.filter((o) => o.result === 'task').length;
  if (tasks !== payloads.length) throw new Error(`intake recorded ${tasks} of ${payloads.length} files (${JSON.stringify(loop.outcomes.find((o) => o.result !== 'task'))})`);

  ctx.log(`intake (${label}): recorded in ${Math.round(intakeMs)} ms; committing`);
  const commitStarted = now();
  const committed = await ws.journal.commitPending();
  const commitMs = now() - commitStarted;
  ctx.log(`intake (${label}): committed ${committed} files in ${Math.round(commitMs)} ms`);
  return { dropMs, intakeMs, tasks, commitMs, committed };
}

export const intakeSection: Section = {
  name: 'intake',
  title: `Inbox intake: ${INTAKE_FILES} task files, one intake pass, then the journal commit`,
  async run(ctx) {
    const payloads = Array.from({ length: INTAKE_FILES }, (_, i) => inboxTaskJson(i));
    ctx.shared.set('intake.payloads', payloads);
    for (const [label, fsync] of [['fsyncOn', true], ['fsyncOff', false]] as const) {
      const r = await runIntake(ctx, label, fsync, payloads);
      const mode = fsync ? 'fsync on (default)' : 'fsync off';
      ctx.record({ key: `intake.${label}.filesPerSec`, label: `intake throughput, ${mode}`, value: r.tasks / (r.intakeMs / 1000), unit: 'files/s', note: `${r.tasks} files in ${Math.round(r.intakeMs)} ms (start() incl. watcher setup, until idle())` });
      ctx.record({ key: `intake.${label}.ms`, label: `intake pass wall time, ${mode}`, value: r.intakeMs, unit: 'ms' });
      ctx.record({ key: `intake.${label}.commitMs`, label: `journal commitPending() after intake, ${mode}`, value: r.commitMs, unit: 'ms', note: `${r.committed} files (record + original per task)` });
      ctx.record({ key: `intake.${label}.totalMs`, label: `intake + commit, ${mode}`, value: r.intakeMs + r.commitMs, unit: 'ms', note: `${Math.round(r.tasks / ((r.intakeMs + r.commitMs) / 1000))} files/s end to end` });
    }
  },
};
