import { foldWorkstream } from './model/workstream.js';
import { taskExtensions } from './model/task-extension.js';
import type { StreamState } from './stream-store.js';
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
  const scan = new Map<string, StreamState>(); // each workstream's map read once
  for (const stream of await allStreams(ws)) {
    const state = await ws.readStream(stream);
    summary.streams++;
    summary.records += state.records.length;
    summary.damaged += state.damaged.length;
    for (const r of state.records) summary.events += r.events.length;
    if (stream.startsWith('tasks/')) {
      const task = await ws.findTask(stream.slice('tasks/'.length), scan);
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
