import type { Actor } from '../core/actor.js';
import type { Command } from '../core/inbox-format.js';
import type { TaskView } from '../core/model/task.js';
import { archiveTask, commentTask, moveTask } from '../core/ops/tasks.js';
import type { Workspace } from '../core/workspace.js';
import { checkTaskCommands } from '../core/security-profiles.js';
import { abortTask, approvePlan, givePlanFeedback, retryTask } from './commands.js';
import { DEV_WORKSTREAM } from './dev-workstream.js';
import { admit } from './rate-limit.js';
import { checkRepoSpec } from './target.js';

/**
 * The check of a new task from any door: the actor's rate limits first (cheap, and it counts the
 * submission whatever a later check says); then for the dev workstream its repository must
 * resolve, and an actor config does not trust may name only `test`/`setup` commands its profiles
 * allow (COMMAND_NOT_ALLOWED, naming the rule, before anything is recorded or run).
 */
export async function checkNewTask(ws: Workspace, task: { id?: string; workstream?: string; fields?: Record<string, unknown> }, actor: Actor, cause?: string): Promise<void> {
  await admit(ws, actor, { kind: 'task', ...(task.id ? { taskId: task.id } : {}), ...(cause ? { cause } : {}) });
  const workstream = task.workstream ?? ws.config.defaultWorkstream;
  if (workstream !== DEV_WORKSTREAM) return;
  checkTaskCommands(ws.config, task.fields, actor);
  const repo = task.fields?.repo;
  if (typeof repo === 'string' && repo.trim()) await checkRepoSpec(ws, repo, actor);
}

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
