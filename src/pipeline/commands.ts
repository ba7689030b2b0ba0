import type { Actor } from '../core/actor.js';
import { OrchestraError } from '../core/errors.js';
import type { TaskView } from '../core/model/task.js';
import { assertTransition } from '../core/model/workstream.js';
import { changeTask } from '../core/ops/tasks.js';
import type { Workspace } from '../core/workspace.js';
import { decideAbort, decideApprove, decideFeedback, decideRetry } from './decide.js';

export { latestPlanVersion } from './decide.js';

interface Opts { actor: Actor; cause?: string; owner?: string }

async function devChange(ws: Workspace, id: string, opts: Opts, decide: (view: TaskView) => ReturnType<Parameters<typeof changeTask>[3]>) {
  const workstream = await ws.workstream((await ws.task(id)).workstream);
  return changeTask(ws, id, opts, (view) => {
    const events = decide(view);
    for (const e of events ?? []) if (e.type === 'task.moved') assertTransition(workstream, String(e.data.from), String(e.data.to));
    return events;
  });
}

/** Explicit approval of one plan version; a stale or unknown version is refused. */
export async function approvePlan(ws: Workspace, id: string, version: number | undefined, opts: Opts): Promise<TaskView> {
  return devChange(ws, id, opts, (view) => decideApprove(view, version));
}

/** Feedback on the latest plan: the planner makes the next version from it. */
export async function givePlanFeedback(ws: Workspace, id: string, text: string, opts: Opts): Promise<TaskView> {
  if (!text.trim()) throw new OrchestraError('INVALID_INPUT', 'feedback needs some text');
  return devChange(ws, id, opts, (view) => decideFeedback(view, text));
}

/** Stops the task: it moves to `aborted` now; a loop working on it stops at its next safe point. */
export async function abortTask(ws: Workspace, id: string, reason: string | undefined, opts: Opts): Promise<TaskView> {
  return devChange(ws, id, opts, (view) => decideAbort(view, reason));
}

/** Sends a failed (or aborted) task back: to `approved` with the same plan, or to `planning`. */
export async function retryTask(ws: Workspace, id: string, replan: boolean, opts: Opts): Promise<TaskView> {
  return devChange(ws, id, opts, (view) => decideRetry(view, replan));
}
