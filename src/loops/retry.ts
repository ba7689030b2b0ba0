import { createHash } from 'node:crypto';
import { describeError } from '../core/errors.js';
import type { TaskView } from '../core/model/task.js';
import { backoffMs, type WorkstreamView } from '../core/model/workstream.js';
import { changeTask } from '../core/ops/tasks.js';
import type { Loop, LoopEnv } from './loop.js';

/** A stable jitter per (task, retry) so every process computes the same due time. */
function jitter(taskId: string, retry: number): number {
  return createHash('sha256').update(`${taskId}:${retry}`).digest()[0]! / 255;
}

export function retryDueAt(task: TaskView, ws: WorkstreamView): number | 'exhausted' | undefined {
  if (task.state !== 'failed' || task.archived || task.retryExhausted || ws.retry.maxRetries === 0) return undefined;
  if (task.retries >= ws.retry.maxRetries) return 'exhausted';
  return Date.parse(task.stateSince) + backoffMs(ws.retry, task.retries + 1, () => jitter(task.id, task.retries + 1));
}

/**
 * Sends failed tasks back to the first state their map allows after `failed`, once the backoff
 * has passed; after the last retry it records `retry.exhausted` and leaves the task for a person.
 */
export function createRetryLoop(env: LoopEnv): Loop {
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  const open = env.ws.openTasks();

  /** One pass over the failed tasks; returns how many it acted on and when the next retry is due. */
  const pass = async (): Promise<{ acted: number; nextDue: number }> => {
    const workstreams = new Map((await env.ws.workstreams()).map((w) => [w.name, w]));
    let acted = 0;
    let nextDue = Infinity;
    for (const task of await open.views()) {
      const workstream = workstreams.get(task.workstream);
      const due = workstream && retryDueAt(task, workstream);
      if (!workstream || due === undefined) continue;
      if (due !== 'exhausted' && due > Date.now()) {
        nextDue = Math.min(nextDue, due);
        continue;
      }
      const target = workstream.states.failed?.[0];
      await changeTask(env.ws, task.id, { actor: env.actor }, (view) => {
        const now = retryDueAt(view, workstream);
        if (now === undefined || view.stateSeq !== task.stateSeq) return null;
        if (now === 'exhausted' || !target) return [{ type: 'retry.exhausted', data: { retries: view.retries } }];
        return [
          { type: 'task.retried', data: { retry: view.retries + 1 } },
          { type: 'task.moved', data: { from: 'failed', to: target, reason: `automatic retry ${view.retries + 1} of ${workstream.retry.maxRetries}` } },
        ];
      }).then(() => acted++, (err) => env.log.warn('retry failed', { task: task.id, ...describeError(err) }));
    }
    return { acted, nextDue };
  };
  const tick = async () => {
    if (stopping) return;
    let wait = env.ws.config.loops.scanIntervalMs;
    try {
      const { nextDue } = await pass();
      wait = Math.max(20, Math.min(wait, nextDue - Date.now()));
    } catch (err) {
      env.log.warn('retry scan failed', describeError(err));
    }
    if (!stopping) timer = setTimeout(() => void tick(), wait);
  };
  return {
    name: 'retry',
    start: async () => { await tick(); },
    stop: async () => { stopping = true; if (timer) clearTimeout(timer); open.close(); },
    idle: async () => (await pass()).acted === 0,
  };
}
