import type { TaskView } from '../core/model/task.js';
import { OrchestraError } from '../core/errors.js';
import type { Workspace } from '../core/workspace.js';
import { ensureMirror, resolveRepo, type ResolvedRepo } from '../vcs/repo-source.js';
import { detectBase, type BaseInfo } from '../vcs/worktree.js';

export interface Target { resolved: ResolvedRepo; objects: string; base: BaseInfo }

/**
 * Finds the task's repository (a path, a URL, or a name from config `repos`; relative paths are
 * taken from the workspace directory), a local copy of its objects, and the base branch.
 */
export async function resolveTarget(ws: Workspace, task: TaskView, base?: string): Promise<Target> {
  const spec = task.fields.repo;
  if (typeof spec !== 'string' || !spec) throw new OrchestraError('INVALID_INPUT', 'the task names no repo (field "repo")');
  const resolved = await resolveRepo(spec, ws.config.repos, { cwd: ws.paths.root });
  const objects = await ensureMirror(resolved, ws.paths.repoCache);
  const requested = base ?? (typeof task.fields.base === 'string' ? task.fields.base : undefined);
  return { resolved, objects, base: await detectBase(objects, requested) };
}
