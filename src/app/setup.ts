import { cliActor, type Actor } from '../core/actor.js';
import { DEFAULT_STATES } from '../core/model/workstream.js';
import { createWorkstream } from '../core/ops/workstreams.js';
import { Workspace } from '../core/workspace.js';
import { DEV_STATES, DEV_WORKSTREAM, SETTLED_DEV_STATES } from '../pipeline/dev-workstream.js';

/** `orchestra init`: the workspace plus the built-in workstreams; safe to run again. */
export async function initWorkspace(root: string, actor: Actor = cliActor()): Promise<{ workspace: Workspace; created: boolean }> {
  const result = await Workspace.init(root);
  await ensureBuiltinWorkstreams(result.workspace, actor);
  await result.workspace.journal.flush();
  return result;
}

/**
 * Creates the built-in workstreams where missing; the dev workstream of an older workspace gains
 * the moves its map lacks (e.g. approved -> failed), since task folds now refuse unmapped moves.
 */
export async function ensureBuiltinWorkstreams(ws: Workspace, actor: Actor): Promise<void> {
  await createWorkstream(ws, { name: 'default', description: 'general tasks', states: DEFAULT_STATES }, actor, { ifMissing: true });
  await createWorkstream(
    ws,
    { name: DEV_WORKSTREAM, description: 'software tasks: plan, approve, execute, publish a branch', states: DEV_STATES, settledStates: SETTLED_DEV_STATES, requiredFields: ['repo'] },
    actor,
    { ifMissing: true, addMissingTransitions: true },
  );
}
