import { OrchestraError } from '../core/errors.js';
import type { TaskView } from '../core/model/task.js';
import type { StoredEvent } from '../core/record.js';
import { clip, multiLine } from '../core/text-sanitize.js';
import { DEV_WORKSTREAM, TERMINAL_DEV_STATES } from './dev-workstream.js';

/**
 * The dev pipeline's people commands as pure deciders: given the task as folded, a command
 * either yields the events to append, or nothing (already done), or throws the typed error a
 * person sees. The commands (commands.ts) append what these decide; the adapters ask
 * `availableActions` which buttons to show. No I/O here: the unit tests need no workspace.
 */
export type Decision = StoredEvent[] | null;

export function latestPlanVersion(view: TaskView): number {
  return view.dev.plans.at(-1)?.version ?? 0;
}

const isDev = (view: TaskView) => view.workstream === DEV_WORKSTREAM;

/** Explicit approval of one plan version; a stale or unknown version is refused. */
export function decideApprove(view: TaskView, version: number | undefined): Decision {
  const latest = latestPlanVersion(view);
  if (view.state !== 'planned' || latest === 0) {
    throw new OrchestraError('INVALID_TRANSITION', `task ${view.id} has no plan waiting for approval (state: ${view.state})`);
  }
  const wanted = version ?? latest;
  if (wanted !== latest) {
    throw new OrchestraError('CONFLICT', `plan v${wanted} is stale: the latest is v${latest}; review it and approve v${latest}`, { latest });
  }
  return [
    { type: 'plan.approved', data: { version: wanted } },
    { type: 'task.moved', data: { from: view.state, to: 'approved', reason: `plan v${wanted} approved` } },
  ];
}

/** The most a round's feedback keeps (code points); the rest is cut with a marker. */
export const FEEDBACK_MAX_CHARS = 20_000;

/**
 * Feedback: on a plan waiting for approval, the planner makes the next version from it; on a
 * completed task that pushed its branch, it starts the next round (`round.started`), planned with
 * the previous result in view and executed on top of the pushed commit. The text is hostile:
 * control characters are replaced and it is capped.
 */
export function decideFeedback(view: TaskView, text: string): Decision {
  const trimmed = clip(multiLine(text).trim(), FEEDBACK_MAX_CHARS, (n) => `… [${n} characters cut]`);
  if (!trimmed) throw new OrchestraError('INVALID_INPUT', 'feedback needs some text');
  if (view.state === 'completed' && isDev(view)) {
    const pushed = view.dev.push;
    if (!pushed) throw new OrchestraError('INVALID_TRANSITION', `task ${view.id} completed without a pushed branch: there is nothing to follow up on`);
    const round = view.dev.round + 1;
    return [
      { type: 'round.started', data: { round, text: trimmed, onCommit: pushed.sha, onVersion: latestPlanVersion(view), branch: pushed.branch } },
      { type: 'task.moved', data: { from: 'completed', to: 'planning', reason: `feedback: round ${round} on ${pushed.branch}` } },
    ];
  }
  if (view.state !== 'planned') throw new OrchestraError('INVALID_TRANSITION', `feedback applies to a planned or completed task; task ${view.id} is ${view.state}`);
  return [
    { type: 'plan.feedback', data: { onVersion: latestPlanVersion(view), text: trimmed } },
    { type: 'task.moved', data: { from: 'planned', to: 'planning', reason: 'feedback on the plan' } },
  ];
}

/** Stops the task: it moves to `aborted` now; a loop working on it stops at its next safe point. */
export function decideAbort(view: TaskView, reason: string | undefined): Decision {
  if (view.state === 'aborted') return null;
  if (TERMINAL_DEV_STATES.has(view.state)) throw new OrchestraError('INVALID_TRANSITION', `task ${view.id} is already ${view.state}`);
  return [
    { type: 'abort.requested', data: { reason: reason ?? 'aborted by request' } },
    { type: 'task.moved', data: { from: view.state, to: 'aborted', reason: reason ?? 'aborted by request' } },
  ];
}

/** Sends a failed (or aborted) task back: to `approved` with the same plan, or to `planning`. */
export function decideRetry(view: TaskView, replan: boolean): Decision {
  if (view.state !== 'failed' && view.state !== 'aborted') throw new OrchestraError('INVALID_TRANSITION', `only a failed or aborted task can be retried; task ${view.id} is ${view.state}`);
  const to = replan || view.dev.approvedVersion === undefined ? 'planning' : 'approved';
  return [
    { type: 'retry.requested', data: { replan: to === 'planning' } },
    { type: 'task.moved', data: { from: view.state, to, reason: to === 'planning' ? 'retry with a new plan' : `retry with plan v${view.dev.approvedVersion}` } },
  ];
}

export interface AvailableActions {
  /** The plan version Approve would approve, when a plan waits for approval. */
  approve?: number;
  /** Feedback is taken: on a plan waiting (a revision) or on a completed task (`followUp`: the next round). */
  feedback: boolean;
  followUp: boolean;
  abort: boolean;
  retry: boolean;
  /** The task waits for a person (a plan to review). */
  needsYou: boolean;
}

/** What a person can do with the task now: the same rules as the deciders, for showing buttons. */
export function availableActions(view: TaskView): AvailableActions {
  if (!isDev(view)) return { feedback: false, followUp: false, abort: false, retry: false, needsYou: false };
  const can = (decide: () => Decision) => {
    try {
      return decide() !== null;
    } catch {
      return false;
    }
  };
  const waiting = view.state === 'planned' && latestPlanVersion(view) > 0;
  const followUp = view.state === 'completed' && view.dev.push !== undefined;
  return {
    ...(waiting ? { approve: latestPlanVersion(view) } : {}),
    feedback: waiting || followUp,
    followUp,
    abort: can(() => decideAbort(view, undefined)),
    retry: can(() => decideRetry(view, false)),
    needsYou: waiting,
  };
}
