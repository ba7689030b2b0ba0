import { cliActor } from '../../src/core/actor.js';
import { commentTask, createTask } from '../../src/core/ops/tasks.js';
import { streamOfTask } from '../../src/core/paths.js';
import { round, summarize } from '../stats.js';
import { join } from 'node:path';
import { makeWorkspace, now, writeDurably, type BenchContext, type Section } from '../harness.js';

export const APPENDS = 2000;
const TASKS = 100;

/**
 * The appends, and with fsync on, after each one the floor's durable write of a file of the same
 * size (a new file, written, fsynced): alternated one for one, so the disk's slow moments fall on
 * both and the p99s compare (measured minutes apart they did not).
 */
async function measure(ctx: BenchContext, label: string, fsync: boolean): Promise<{ samples: number[]; floor: number[] }> {
  const ws = await makeWorkspace(await ctx.dir(`append-${label}`), { fsync });
  const actor = cliActor();
  const ids: string[] = [];
  for (let i = 0; i < TASKS; i++) ids.push((await createTask(ws, { title: `append target ${i}`, workstream: 'default' }, { actor })).id);
  const comment = (i: number) => commentTask(ws, ids[i % TASKS]!, `Bench comment ${i}: the second paragraph still mentions the removed flag; please reword it.`, { actor });
  await comment(TASKS - 1); // one first, for a record of the size the loop writes
  const sample = JSON.stringify((await ws.readStream(streamOfTask(ids[TASKS - 1]!))).records.at(-1)!, null, 1) + '\n';
  ctx.shared.set('append.sampleRecord', sample);
  const floorDir = fsync ? await ctx.dir(`append-${label}-floor`) : undefined;
  const samples: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < APPENDS; i++) {
    let started = now();
    await comment(i);
    samples.push(now() - started);
    if (!floorDir) continue;
    started = now();
    await writeDurably(join(floorDir, `${String(i).padStart(10, '0')}.json`), sample);
    floor.push(now() - started);
  }
  return { samples, floor };
}

export const appendSection: Section = {
  name: 'append',
  title: `Append latency: ${APPENDS} sequential commentTask() appends round-robin over ${TASKS} tasks`,
  async run(ctx) {
    for (const [label, fsync] of [['fsyncOn', true], ['fsyncOff', false]] as const) {
      ctx.log(`append (${label}): ${APPENDS} appends`);
      const measured = await measure(ctx, label, fsync);
      const s = summarize(measured.samples);
      const mode = fsync ? 'fsync on (default)' : 'fsync off';
      ctx.log(`append (${label}): p50 ${round(s.p50)} ms, p99 ${round(s.p99)} ms`);
      ctx.record({ key: `append.${label}.p50`, label: `append latency p50, ${mode}`, value: s.p50, unit: 'ms' });
      ctx.record({ key: `append.${label}.p99`, label: `append latency p99, ${mode}`, value: s.p99, unit: 'ms', note: `mean ${round(s.mean)}, max ${round(s.max)}; ${Math.round(1000 / s.mean)} appends/s sequential` });
      if (measured.floor.length === 0) continue;
      const f = summarize(measured.floor);
      ctx.record({ key: 'append.floor.p50', label: 'raw create+write+fsync of a record-sized file, alternated with the appends, p50 / p99', value: f.p50, unit: 'ms', note: `p99 ${round(f.p99)}` });
      ctx.record({ key: 'ratio.append.alternated.p50', label: 'append p50 / raw write+fsync p50, alternated', value: s.p50 / f.p50, unit: 'x', note: 'read-fold-decide-write-reread' });
      ctx.record({ key: 'ratio.append.alternated.p99', label: 'append p99 / raw write+fsync p99, alternated', value: s.p99 / f.p99, unit: 'x', note: 'target <= 2' });
    }
  },
};
