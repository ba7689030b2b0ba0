import { cliActor } from '../../src/core/actor.js';
import { commentTask, createTask } from '../../src/core/ops/tasks.js';
import { streamOfTask } from '../../src/core/paths.js';
import { round, summarize } from '../stats.js';
import { makeWorkspace, now, type BenchContext, type Section } from '../harness.js';

export const APPENDS = 2000;
const TASKS = 100;

async function measure(ctx: BenchContext, label: string, fsync: boolean): Promise<number[]> {
  const ws = await makeWorkspace(await ctx.dir(`append-${label}`), { fsync });
  const actor = cliActor();
  const ids: string[] = [];
  for (let i = 0; i < TASKS; i++) ids.push((await createTask(ws, { title: `append target ${i}`, workstream: 'default' }, { actor })).id);
  const samples: number[] = [];
  for (let i = 0; i < APPENDS; i++) {
    const started = now();
    await commentTask(ws, ids[i % TASKS]!, `Bench comment ${i}: the second paragraph still mentions the removed flag; please reword it.`, { actor });
    samples.push(now() - started);
  }
  const last = (await ws.readStream(streamOfTask(ids[0]!))).records.at(-1)!;
  ctx.shared.set('append.sampleRecord', JSON.stringify(last, null, 1) + '\n');
  return samples;
}

export const appendSection: Section = {
  name: 'append',
  title: `Append latency: ${APPENDS} sequential commentTask() appends round-robin over ${TASKS} tasks`,
  async run(ctx) {
    for (const [label, fsync] of [['fsyncOn', true], ['fsyncOff', false]] as const) {
      ctx.log(`append (${label}): ${APPENDS} appends`);
      const s = summarize(await measure(ctx, label, fsync));
      const mode = fsync ? 'fsync on (default)' : 'fsync off';
      ctx.log(`append (${label}): p50 ${round(s.p50)} ms, p99 ${round(s.p99)} ms`);
      ctx.record({ key: `append.${label}.p50`, label: `append latency p50, ${mode}`, value: s.p50, unit: 'ms' });
      ctx.record({ key: `append.${label}.p99`, label: `append latency p99, ${mode}`, value: s.p99, unit: 'ms', note: `mean ${round(s.mean)}, max ${round(s.max)}; ${Math.round(1000 / s.mean)} appends/s sequential` });
    }
  },
};
