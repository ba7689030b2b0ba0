import type { Actor } from '../core/actor.js';
import { checkTaskCommands } from '../core/security-profiles.js';
import type { Workspace } from '../core/workspace.js';
import { DEV_WORKSTREAM } from './dev-workstream.js';
import { admit } from './rate-limit.js';

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
  // Loaded here: target.js brings vcs/ and the mirror code, which a CLI write of any other task
  // must not pay.
  if (typeof repo === 'string' && repo.trim()) await (await import('./target.js')).checkRepoSpec(ws, repo, actor);
}
