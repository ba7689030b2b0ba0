/**
 * The people commands as the chat offers them: approve, feedback, abort, retry. Whether one
 * applies now is the pipeline's rule (`availableActions`, the same deciders the commands run);
 * the check here only gives a quick, clear answer: the intake validates every command again.
 * Each returns the problem to show, or '' once the command is in the inbox.
 */
import type { Context } from 'grammy';
import type { TaskView } from '../../core/model/task.js';
import { availableActions } from '../../pipeline/decide.js';
import { DEV_WORKSTREAM } from '../../pipeline/dev-workstream.js';
import { bold, clip, code, esc } from './html.js';
import type { Session } from './session.js';

/** For a task outside the dev pipeline, where the usual refusal would not say why. */
const notDev = (view: TaskView, what: string) => `${bold(view.title)} is in the ${code(view.workstream)} workstream: ${what} applies to dev tasks.`;

export async function feedback(s: Session, ctx: Context, view: TaskView, text: string): Promise<string> {
  const can = availableActions(view);
  if (!can.feedback) return `Feedback applies to a plan waiting for approval or a completed task; ${bold(view.title)} is ${esc(view.state)}.`;
  if (can.followUp) {
    await s.submit(ctx, view, { command: 'feedback', task: view.id, text }, `🔁 Follow-up sent for ${bold(view.title)}: round ${view.dev.round + 1} will be planned on ${code(view.dev.push?.branch ?? 'its branch')}.`);
    return '';
  }
  const version = view.dev.plans.at(-1)?.version ?? 0;
  await s.submit(ctx, view, { command: 'feedback', task: view.id, text }, `✍️ Feedback on plan v${version} sent for ${bold(view.title)}; a revised plan will follow.`);
  return '';
}

export async function approve(s: Session, ctx: Context, view: TaskView, version: number | undefined): Promise<string> {
  const latest = availableActions(view).approve;
  if (latest === undefined) return `${bold(view.title)} has no plan waiting for approval (state: ${esc(view.state)}).`;
  if (version !== undefined && version !== latest) return `Plan v${version} is stale: the latest is v${latest}. See /plan ${view.id}`;
  await s.submit(ctx, view, { command: 'approve', task: view.id, version: latest }, `👍 Plan v${latest} of ${bold(view.title)} approved; execution starts shortly.`);
  return '';
}

export async function abort(s: Session, ctx: Context, view: TaskView, reason?: string): Promise<string> {
  if (!availableActions(view).abort) return view.workstream === DEV_WORKSTREAM ? `${bold(view.title)} is already ${esc(view.state)}.` : notDev(view, 'abort');
  await s.submit(ctx, view, { command: 'abort', task: view.id, ...(reason ? { reason: clip(reason, 2000) } : {}) }, `⏹ Abort requested for ${bold(view.title)}.`);
  return '';
}

export async function retry(s: Session, ctx: Context, view: TaskView, replan: boolean): Promise<string> {
  if (!availableActions(view).retry) {
    return view.workstream === DEV_WORKSTREAM ? `Only a failed or aborted task can be retried; ${bold(view.title)} is ${esc(view.state)}.` : notDev(view, 'retry');
  }
  await s.submit(ctx, view, { command: 'retry', task: view.id, replan }, `🔁 Retry requested for ${bold(view.title)}${replan ? ' with a new plan' : ''}.`);
  return '';
}
