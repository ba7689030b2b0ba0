import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { newId } from '../../src/core/ids.js';
import { IntakeLoop } from '../../src/loops/intake.js';
import { runCommand } from '../../src/pipeline/run-command.js';
import { TaskLoop } from '../../src/loops/task-loop.js';
import { round, summarize } from '../stats.js';
import { inboxTaskJson, loopEnv, makeWorkspace, now, sleep, waitFor, type BenchContext, type Section } from '../harness.js';

export const REACTION_FILES = 200;
const GAP_MS = 20;

interface ReactionRun { settleMs: number; scanIntervalMs: number; landedToClaimed: number[]; landedToRecorded: number[]; recordedToClaimed: number[] }

/**
 * `orchestra up` in-process: the intake loop, a TaskLoop claiming pending tasks, and the journal
 * committing in the background. Each file is written under a temp name and renamed into the
 * inbox ("landing"); the time it lands, the time its task.created record is appended and the time
 * the task loop's work() starts (the claim is recorded) are taken from one clock.
 */
async function runReaction(ctx: BenchContext, label: string, format: 'json' | 'md'): Promise<ReactionRun> {
  const ws = await makeWorkspace(await ctx.dir(`reaction-${label}`));
  const landed = new Map<string, number>();
  const recorded = new Map<string, number>();
  const claimed = new Map<string, number>();
  ws.store.onAppend((record) => {
    if (record.events.some((e) => e.type === 'task.created')) recorded.set(record.stream.slice('tasks/'.length), now());
  });
  const intake = new IntakeLoop(loopEnv(ws, 'intake'), runCommand);
  const claimer = new TaskLoop(loopEnv(ws, 'bench-claimer'), {
    name: 'bench-claimer',
    purpose: 'bench',
    wants: (task) => task.workstream === 'default' && task.state === 'pending',
    work: async ({ lease, task }) => {
      if (!claimed.has(task.id)) claimed.set(task.id, now());
      // Leave `pending` in the release record so the loop does not claim the task again.
      await lease.release([{ type: 'task.moved', data: { from: 'pending', to: 'in_progress' } }], 'bench');
    },
  });
  ws.journal.start(undefined, (err) => ctx.log(`reaction: commit failed: ${String(err)}`));
  await intake.start();
  await claimer.start();
  ctx.log(`reaction (${label}): settleMs=${ws.config.loops.settleMs}; dropping ${REACTION_FILES} files ${GAP_MS} ms apart`);
  try {
    for (let i = 0; i < REACTION_FILES; i++) {
      const id = newId();
      const temp = join(ws.paths.inbox, `.tmp-${id}`);
      await fs.writeFile(temp, format === 'json' ? inboxTaskJson(i, id) : inboxTaskMarkdown(i, id));
      await fs.rename(temp, join(ws.paths.inbox, `react-${i}.${format}`));
      landed.set(id, now());
      await sleep(GAP_MS);
    }
    await waitFor(() => claimed.size >= REACTION_FILES, 60_000, `${REACTION_FILES} claims (have ${claimed.size})`, 10);
  } finally {
    await intake.stop();
    await claimer.stop();
    await ws.journal.stop();
  }
  const run: ReactionRun = { settleMs: ws.config.loops.settleMs, scanIntervalMs: ws.config.loops.scanIntervalMs, landedToClaimed: [], landedToRecorded: [], recordedToClaimed: [] };
  for (const [id, at] of landed) {
    const c = claimed.get(id)!;
    const r = recorded.get(id)!;
    run.landedToClaimed.push(c - at);
    run.landedToRecorded.push(r - at);
    run.recordedToClaimed.push(c - r);
  }
  return run;
}

/** The same task as inboxTaskJson, as a Markdown file with front matter. */
function inboxTaskMarkdown(i: number, id: string): string {
  const task = JSON.parse(inboxTaskJson(i, id)) as { id: string; title: string; workstream: string; body: string };
  return `---\nid: ${task.id}\ntitle: "${task.title}"\nworkstream: ${task.workstream}\n---\n${task.body}\n`;
}

export const reactionSection: Section = {
  name: 'reaction',
  title: `Reaction latency: ${REACTION_FILES} inbox files ${GAP_MS} ms apart, landing -> TaskLoop claim (intake + task loop + committer in one process)`,
  async run(ctx) {
    // JSON is taken as soon as it parses whole; Markdown has no such mark and waits settleMs.
    for (const [label, format] of [['json', 'json'], ['markdown', 'md']] as const) {
      const r = await runReaction(ctx, label, format);
      const total = summarize(r.landedToClaimed);
      const toRecord = summarize(r.landedToRecorded);
      const toClaim = summarize(r.recordedToClaimed);
      const mode = `${label} files, settleMs=${r.settleMs}`;
      ctx.log(`reaction (${label}): landing->claimed p50 ${round(total.p50)} ms, p99 ${round(total.p99)} ms`);
      ctx.record({ key: `reaction.${label}.p50`, label: `landing -> claimed p50, ${mode}`, value: total.p50, unit: 'ms', note: `scanIntervalMs=${r.scanIntervalMs}` });
      ctx.record({ key: `reaction.${label}.p99`, label: `landing -> claimed p99, ${mode}`, value: total.p99, unit: 'ms', note: `max ${round(total.max)}` });
      ctx.record({ key: `reaction.${label}.recordP50`, label: `  landing -> task.created appended p50 / p99, ${mode}`, value: toRecord.p50, unit: 'ms', note: `p99 ${round(toRecord.p99)}` });
      ctx.record({ key: `reaction.${label}.claimP50`, label: `  task.created -> claimed p50 / p99, ${mode}`, value: toClaim.p50, unit: 'ms', note: `p99 ${round(toClaim.p99)}` });
    }
  },
};
