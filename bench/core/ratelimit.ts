import { promises as fs } from 'node:fs';
import type { Actor } from '../../src/core/actor.js';
import { newId } from '../../src/core/ids.js';
import { streamOfTask, WorkspacePaths } from '../../src/core/paths.js';
import { rateLimitKey, streamOfLimits } from '../../src/core/rate-limits.js';
import type { StoredEvent } from '../../src/core/record.js';
import { StreamStore } from '../../src/core/stream-store.js';
import { Workspace } from '../../src/core/workspace.js';
import { admit } from '../../src/pipeline/rate-limit.js';
import { forEachParallel, makeWorkspace, now, type Section } from '../harness.js';
import { round, summarize } from '../stats.js';

const TASKS = 10_000;
const LIGHT_TASKS = 100;
const LIGHT_OPEN = 10;
const light: Actor = { kind: 'adapter', name: 'telegram', user: '1' };
const heavy: Actor = { kind: 'adapter', name: 'telegram', user: '2' };
/** Limits nobody reaches: every check runs in full (a null limit would skip its reads). */
const HIGH = { perMinute: 1e9, perDay: 1e9, inFlight: 1e9, usdPerDay: 1e9 };

/** A task's records: created, (for a done one) moved to completed, and one priced model call. */
function task(id: string, done: boolean): StoredEvent[][] {
  const records: StoredEvent[][] = [
    [{ type: 'task.created', data: { id, workstream: 'default', title: `bench ${id}`, description: '', tags: [], fields: {}, state: 'pending' } }],
    [{ type: 'model.called', data: { role: 'planner', inputTokens: 1000, outputTokens: 100, costUsd: 0.01 } }],
  ];
  if (done) records.push([{ type: 'task.moved', data: { from: 'pending', to: 'in_progress' } }, { type: 'task.moved', data: { from: 'in_progress', to: 'completed' } }]);
  return records;
}

/** Writes an actor's ledger: one `limit.admitted` per task, 400 events a record. */
async function ledger(store: StreamStore, actor: Actor, ids: string[]): Promise<void> {
  const key = rateLimitKey(actor);
  for (let i = 0, seq = 0; i < ids.length; i += 400, seq++) {
    const events = ids.slice(i, i + 400).map((id) => ({ type: 'limit.admitted', data: { key, what: 'task', task: id } }));
    await store.append(streamOfLimits(key), seq, { actor, events });
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = now();
  await fn();
  return now() - started;
}

/**
 * What a rate-limit check costs on a 10,000-task workspace: for an ordinary actor (100 tasks of
 * its own, 10 open) and for one that created all 10,000 (9,900 completed): the first check of a
 * fresh process (cold) and later checks (warm), dry and recording.
 */
export const ratelimitSection: Section = {
  name: 'ratelimit',
  title: `Rate-limit check (admit) on a ${TASKS.toLocaleString('en')}-task workspace, per actor size, cold then warm`,
  async run(ctx) {
    const root = await ctx.dir('ratelimit');
    await makeWorkspace(root, { fsync: false });
    const config = JSON.parse(await fs.readFile(new WorkspacePaths(root).config, 'utf8'));
    await fs.writeFile(new WorkspacePaths(root).config, JSON.stringify({ ...config, rateLimits: { default: HIGH } }, null, 2));
    const store = new StreamStore(new WorkspacePaths(root), { fsync: false });
    const ids = Array.from({ length: TASKS }, () => newId());
    ctx.log(`ratelimit: generating ${TASKS} tasks`);
    await forEachParallel(ids, 16, async (id, i) => {
      let seq = 0;
      for (const events of task(id, i >= LIGHT_OPEN)) await store.append(streamOfTask(id), seq++, { actor: heavy, events });
    });
    await ledger(store, light, ids.slice(0, LIGHT_TASKS));
    await ledger(store, heavy, ids);

    for (const [name, actor, owned] of [['light', light, LIGHT_TASKS], ['heavy', heavy, TASKS]] as const) {
      const ws = await Workspace.open(root);
      const cold = await timed(() => admit(ws, actor, { kind: 'task' }, { dryRun: true }));
      const dry: number[] = [];
      for (let i = 0; i < 20; i++) dry.push(await timed(() => admit(ws, actor, { kind: 'task' }, { dryRun: true })));
      const recorded: number[] = [];
      for (let i = 0; i < 20; i++) recorded.push(await timed(() => admit(ws, actor, { kind: 'task', taskId: newId() })));
      const d = summarize(dry);
      const r = summarize(recorded);
      const what = `${owned.toLocaleString('en')} tasks of its own (${name === 'light' ? `${LIGHT_OPEN} open` : `${LIGHT_OPEN} open, ${TASKS - LIGHT_OPEN} completed`})`;
      ctx.record({ key: `ratelimit.${name}.coldMs`, label: `first check in a fresh process, actor with ${what}`, value: round(cold), unit: 'ms' });
      ctx.record({ key: `ratelimit.${name}.warmDryMs`, label: `later check (dry run), actor with ${what}, p50`, value: round(d.p50), unit: 'ms', note: `max ${round(d.max)} ms over 20` });
      ctx.record({ key: `ratelimit.${name}.warmAdmitMs`, label: `later admission (check + ledger record), actor with ${what}, p50`, value: round(r.p50), unit: 'ms', note: `max ${round(r.max)} ms over 20; fsync off` });
    }
  },
};
