import type { Actor } from '../core/actor.js';
import { OrchestraError } from '../core/errors.js';
import type { TaskView } from '../core/model/task.js';
import { assertTransition } from '../core/model/workstream.js';
import { changeTask } from '../core/ops/tasks.js';
import type { Workspace } from '../core/workspace.js';

interface Opts { actor: Actor; cause?: string }

async function devChange(ws: Workspace, id: string, opts: Opts, decide: (view: TaskView) => ReturnType<Parameters<typeof changeTask>[3]>) {
  const workstream = await ws.workstream((await ws.task(id)).workstream);
  return changeTask(ws, id, opts, (view) => {
    const events = decide(view);
    for (const e of events ?? []) if (e.type === 'task.moved') assertTransition(workstream, String(e.data.from), String(e.data.to));
    return events;
  });
}

export function latestPlanVersion(view: TaskView): number {
  return view.dev.plans.at(-1)?.version ?? 0;
}

/** Explicit approval of one plan version; a stale or unknown version is refused. */
export async function approvePlan(ws: Workspace, id: string, version: number | undefined, opts: Opts): Promise<TaskView> {
  return devChange(ws, id, opts, (view) => {
    const latest = latestPlanVersion(view);
    if (view.state !== 'planned' || latest === 0) {
      throw new OrchestraError('INVALID_TRANSITION', `task ${id} has no plan waiting for approval (state: ${view.state})`);
    }
    const wanted = version ?? latest;
    if (wanted !== latest) {
      throw new OrchestraError('CONFLICT', `plan v${wanted} is stale: the latest is v${latest}; review it and approve v${latest}`, { latest });
    }
    return [
      { type: 'plan.approved', data: { version: wanted } },
      { type: 'task.moved', data: { from: view.state, to: 'approved', reason: `plan v${wanted} approved` } },
    ];
  });
}

/** Feedback on the latest plan: the planner makes the next version from it. */
export async function givePlanFeedback(ws: Workspace, id: string, text: string, opts: Opts): Promise<TaskView> {
  const trimmed = text.trim();
  if (!trimmed) throw new OrchestraError('INVALID_INPUT', 'feedback needs some text');
  return devChange(ws, id, opts, (view) => {
    if (view.state !== 'planned') throw new OrchestraError('INVALID_TRANSITION', `feedback applies to a planned task; task ${id} is ${view.state}`);
    return [
      { type: 'plan.feedback', data: { onVersion: latestPlanVersion(view), text: trimmed } },
      { type: 'task.moved', data: { from: 'planned', to: 'planning', reason: 'feedback on the plan' } },
    ];
  });
}

/** Stops the task: it moves to `aborted` now; a loop working on it stops at its next safe point. */
export async function abortTask(ws: Workspace, id: string, reason: string | undefined, opts: Opts): Promise<TaskView> {
  return devChange(ws, id, opts, (view) => {
    if (view.state === 'aborted') return null;
    if (view.state === 'completed' || view.state === 'failed') throw new OrchestraError('INVALID_TRANSITION', `task ${id} is already ${view.state}`);
    return [
      { type: 'abort.requested', data: { reason: reason ?? 'aborted by request' } },
      { type: 'task.moved', data: { from: view.state, to: 'aborted', reason: reason ?? 'aborted by request' } },
    ];
  });
}

/** Sends a failed (or aborted) task back: to `approved` with the same plan, or to `planning`. */
export async function retryTask(ws: Workspace, id: string, replan: boolean, opts: Opts): Promise<TaskView> {
  return devChange(ws, id, opts, (view) => {
    if (view.state !== 'failed' && view.state !== 'aborted') throw new OrchestraError('INVALID_TRANSITION', `only a failed or aborted task can be retried; task ${id} is ${view.state}`);
    const to = replan || view.dev.approvedVersion === undefined ? 'planning' : 'approved';
    return [
      { type: 'retry.requested', data: { replan: to === 'planning' } },
      { type: 'task.moved', data: { from: view.state, to, reason: to === 'planning' ? 'retry with a new plan' : `retry with plan v${view.dev.approvedVersion}` } },
    ];
  });
}
