import { foldTask } from './model/task.js';
import { foldWorkstream, transitionCheck } from './model/workstream.js';
import { workstreamOfTask } from './model/task.js';
import { taskExtensions } from './model/task-extension.js';
import { streamOfWorkstream } from './paths.js';
import { Workspace } from './workspace.js';
import { allStreams } from './verify.js';

export interface ReplaySummary {
  streams: number;
  records: number;
  events: number;
  damaged: number;
  tasks: number;
  byState: Record<string, number>;
  workstreams: number;
  usage: { modelCalls: number; costUsd: number };
  ms: number;
}

/** Rebuilds all state from the records alone (a fresh store, no caches) and summarises it. */
export async function replayWorkspace(root: string): Promise<ReplaySummary> {
  const started = performance.now();
  const ws = await Workspace.open(root);
  const summary: ReplaySummary = { streams: 0, records: 0, events: 0, damaged: 0, tasks: 0, byState: {}, workstreams: 0, usage: { modelCalls: 0, costUsd: 0 }, ms: 0 };
  const checks = new Map<string, ReturnType<typeof transitionCheck> | undefined>();
  const checkOf = async (name: string) => {
    if (!checks.has(name)) {
      const workstream = await ws.findWorkstream(name);
      checks.set(name, workstream ? transitionCheck((await ws.readStream(streamOfWorkstream(workstream.name))).records) : undefined);
    }
    return checks.get(name);
  };
  for (const stream of await allStreams(ws)) {
    const state = await ws.readStream(stream);
    summary.streams++;
    summary.records += state.records.length;
    summary.damaged += state.damaged.length;
    for (const r of state.records) summary.events += r.events.length;
    if (stream.startsWith('tasks/')) {
      const task = foldTask(state.records, await checkOf(workstreamOfTask(state.records) ?? ''));
      if (task) {
        summary.tasks++;
        summary.byState[task.state] = (summary.byState[task.state] ?? 0) + 1;
        for (const ext of taskExtensions()) {
          const used = ext.usage?.((task as unknown as Record<string, unknown>)[ext.key]);
          summary.usage.modelCalls += used?.modelCalls ?? 0;
          summary.usage.costUsd += used?.costUsd ?? 0;
        }
      }
    } else if (stream.startsWith('workstreams/') && foldWorkstream(state.records)) summary.workstreams++;
  }
  summary.ms = Math.round(performance.now() - started);
  return summary;
}
