import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loopActor } from '../../src/core/actor.js';
import { streamOfTask, WorkspacePaths } from '../../src/core/paths.js';
import type { StoredEvent } from '../../src/core/record.js';
import { StreamStore } from '../../src/core/stream-store.js';
import { newId } from '../../src/core/ids.js';
import { forEachParallel, makeWorkspace, now, type BenchContext, type Section } from '../harness.js';

export const REPLAY_TASKS = 10_000;
/** Events of one task's life, grouped into records the way the loops write them (a release carries the step's final events). */
const EVENTS_PER_TASK = 10;
export const RECORDS_PER_TASK = 5;

const CHILD = fileURLToPath(new URL('./replay-child.js', import.meta.url));

export interface ChildResult { mode: string; ms: number; maxRssKb: number; wallMs: number; [k: string]: unknown }

/** Runs replay-child.js in a fresh node process and returns its figures plus the spawn-to-exit wall time. */
export function runChild(mode: string, root: string): Promise<ChildResult> {
  const started = now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD, mode, root], { maxBuffer: 1 << 20, timeout: 120_000, env: { ...process.env, ORCHESTRA_LOG: 'silent' } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${mode} child failed: ${err.message}\n${stderr}`));
      resolve({ ...(JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildResult), wallMs: now() - started });
    });
  });
}

/**
 * Ten events in five records per task, shaped like a task's life: created; claimed; moved +
 * commented + released; claimed again; commented + moved + released + a review comment.
 */
function lifecycle(id: string, i: number): StoredEvent[][] {
  const owner = `executor@bench#${1000 + (i % 7)}`;
  const e: StoredEvent[] = [
    { type: 'task.created', data: { id, workstream: 'default', title: `Replay task ${i}: update the docs of module ${i % 53}`, description: 'Generated for the replay bench. Rewrite the paragraph about the removed flag and check the links.', tags: ['bench', `b${i % 10}`], fields: {}, state: 'pending' } },
    { type: 'lease.acquired', data: { attempt: 1, owner, purpose: 'execute', ttlMs: 60000 } },
    { type: 'task.moved', data: { from: 'pending', to: 'in_progress' } },
    { type: 'task.commented', data: { text: `Started on task ${i}; the flag is mentioned in two places.` } },
    { type: 'lease.released', data: { attempt: 1, outcome: 'released by loop' } },
    { type: 'lease.acquired', data: { attempt: 2, owner, purpose: 'execute', ttlMs: 60000 } },
    { type: 'task.commented', data: { text: 'Second paragraph reworded; links checked.' } },
    { type: 'task.moved', data: { from: 'in_progress', to: 'completed', reason: 'done' } },
    { type: 'lease.released', data: { attempt: 2, outcome: 'done' } },
    { type: 'task.commented', data: { text: 'Reviewed, thanks.' } },
  ];
  return [[e[0]!], [e[1]!], [e[2]!, e[3]!, e[4]!], [e[5]!], [e[6]!, e[7]!, e[8]!, e[9]!]];
}


/** Writes the records straight through a StreamStore (fsync off, no signal files, no reads). */
async function generate(root: string): Promise<number> {
  const store = new StreamStore(new WorkspacePaths(root), { fsync: false });
  const actor = loopActor('bench');
  const ids = Array.from({ length: REPLAY_TASKS }, () => newId());
  await forEachParallel(ids, 16, async (id, i) => {
    const stream = streamOfTask(id);
    let seq = 0;
    for (const events of lifecycle(id, i)) {
      const released = events.find((e) => e.type === 'lease.released');
      await store.append(stream, seq, { actor, events, ...(released ? { fence: { attempt: Number(released.data.attempt) } } : {}) });
      seq++;
    }
  });
  return REPLAY_TASKS * RECORDS_PER_TASK;
}

export const replaySection: Section = {
  name: 'replay',
  title: `Full replay: ${REPLAY_TASKS * EVENTS_PER_TASK} events in ${REPLAY_TASKS * RECORDS_PER_TASK} records (1-4 events each) in ${REPLAY_TASKS} task streams, replayWorkspace() in a fresh process`,
  async run(ctx) {
    const root = await ctx.dir('replay');
    await makeWorkspace(root, { fsync: false });
    ctx.log(`replay: generating ${REPLAY_TASKS} tasks x ${RECORDS_PER_TASK} records x ${EVENTS_PER_TASK / RECORDS_PER_TASK} events on average`);
    const genStarted = now();
    const records = await generate(root);
    const genMs = now() - genStarted;
    ctx.log(`replay: generated ${records} records in ${Math.round(genMs)} ms; replaying in a child process`);
    ctx.shared.set('replay.root', root);

    const baseline = await runChild('baseline', root);
    const r = await runChild('replay', root);
    if ((r.events as number) < REPLAY_TASKS * EVENTS_PER_TASK || r.tasks !== REPLAY_TASKS || r.damaged !== 0) {
      throw new Error(`replay saw ${r.events} events / ${r.tasks} tasks / ${r.damaged} damaged`);
    }
    ctx.log(`replay: ${Math.round(r.ms)} ms, maxRSS ${Math.round(r.maxRssKb / 1024)} MB`);
    ctx.record({ key: 'replay.generateMs', label: 'generate workspace (store.append, fsync off, 16 streams in parallel)', value: genMs, unit: 'ms', note: `${Math.round(records / (genMs / 1000))} records/s` });
    ctx.record({ key: 'replay.ms', label: 'replayWorkspace() time', value: r.ms, unit: 'ms', note: `${r.records} records, ${r.events} events: ${Math.round((r.events as number) / (r.ms / 1000))} events/s; warm page cache; child wall ${Math.round(r.wallMs)} ms incl. node start + imports` });
    ctx.record({ key: 'replay.maxRssMb', label: 'replay child peak RSS', value: r.maxRssKb / 1024, unit: 'MB', note: `child that only loads the modules: ${Math.round(baseline.maxRssKb / 1024)} MB` });
  },
};
