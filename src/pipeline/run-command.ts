import type { Actor } from '../core/actor.js';
import type { Command } from '../core/inbox-format.js';
import type { TaskView } from '../core/model/task.js';
import { archiveTask, commentTask, moveTask } from '../core/ops/tasks.js';
import type { Workspace } from '../core/workspace.js';
import { abortTask, approvePlan, givePlanFeedback, retryTask } from './commands.js';
import { admit } from './rate-limit.js';

/**
 * Carries out one command, whichever door it came through (inbox file, CLI, adapter). The intake
 * loop gets it from the app wiring, so the runtime does not depend on the pipeline. `owner` is the
 * lock owner the caller writes as (a task locked by another owner refuses the command).
 */
export async function runCommand(ws: Workspace, command: Command, actor: Actor, cause?: string, owner?: string): Promise<TaskView> {
  const opts = { actor, ...(cause ? { cause } : {}), ...(owner ? { owner } : {}) };
  await admit(ws, actor, { kind: 'command', command, ...(cause ? { cause } : {}) });
  switch (command.command) {
    case 'comment': return commentTask(ws, command.task, command.text, opts);
    case 'move': return moveTask(ws, command.task, command.to, { ...opts, ...(command.reason ? { reason: command.reason } : {}) });
    case 'archive': return archiveTask(ws, command.task, opts);
    case 'approve': return approvePlan(ws, command.task, command.version, opts);
    case 'feedback': return givePlanFeedback(ws, command.task, command.text, opts);
    case 'abort': return abortTask(ws, command.task, command.reason, opts);
    case 'retry': return retryTask(ws, command.task, command.replan, opts);
  }
}
