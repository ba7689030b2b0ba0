import { repoPaths } from '../core/config.js';
import type { TaskView } from '../core/model/task.js';
import type { Actor } from '../core/actor.js';
import { isTrustedActor } from '../core/security-profiles.js';
import { OrchestraError } from '../core/errors.js';
import type { Workspace } from '../core/workspace.js';
import { ensureMirror, mirrorDirName, resolveRepo, sealMirror, type ResolvedRepo } from '../vcs/repo-source.js';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectBase, readBranchRefs, type BaseInfo, type BranchRefs } from '../vcs/worktree.js';

export interface Target {
  resolved: ResolvedRepo;
  objects: string;
  base: Pick<BaseInfo, 'branch' | 'commit'>;
  /** The mirror's branch refs read for the base detection (resolveTarget only): the worktree is made from the same snapshot. */
  refs?: BranchRefs;
}

/**
 * Finds the task's repository (a path, a URL, or a name from config `repos`; relative paths are
 * taken from the workspace directory), a local copy of its objects, and the base branch.
 */
export async function resolveTarget(ws: Workspace, task: TaskView, base?: string): Promise<Target> {
  const spec = task.fields.repo;
  if (typeof spec !== 'string' || !spec) throw new OrchestraError('INVALID_INPUT', 'the task names no repo (field "repo")');
  const resolved = notTheWorkspace(ws, await resolveRepo(spec, repoPaths(ws.config), { cwd: ws.paths.root }), task.createdBy);
  const objects = await ensureMirror(resolved, ws.paths.repoCache);
  const requested = base ?? (typeof task.fields.base === 'string' ? task.fields.base : undefined);
  const refs = await readBranchRefs(objects);
  return { resolved, objects, base: await detectBase(objects, requested, refs), refs };
}

/**
 * The target of a running execution, without touching the network: the repository spec is
 * resolved again (cheap), its mirror (fetched when the execution started) is re-sealed before any
 * git call, and the recorded base is used. The executor's resume and the publisher use this, so
 * a task's repository is fetched once per execution.
 */
export async function executionTarget(ws: Workspace, task: TaskView, recorded: { base: string; baseCommit: string }): Promise<Target> {
  const spec = task.fields.repo;
  if (typeof spec !== 'string' || !spec) throw new OrchestraError('INVALID_INPUT', 'the task names no repo (field "repo")');
  const resolved = notTheWorkspace(ws, await resolveRepo(spec, repoPaths(ws.config), { cwd: ws.paths.root }), task.createdBy);
  const cached = join(realpathSync(ws.paths.repoCache), mirrorDirName(resolved.source));
  // The mirror is gone (the cache was cleared): fetch it again, once.
  const objects = existsSync(cached) ? cached : await ensureMirror(resolved, ws.paths.repoCache);
  await sealMirror(objects, resolved);
  return { resolved, objects, base: { branch: recorded.base, commit: recorded.baseCommit } };
}

/**
 * Checks a task's `repo` the way an execution will resolve it (a name from config `repos`, the
 * root of an existing git repository, or a URL), without the network: for every door that takes
 * a spec from a person. An unknown name or path is INVALID_INPUT naming the configured ones.
 */
export async function checkRepoSpec(ws: Workspace, spec: string, by?: Actor): Promise<ResolvedRepo> {
  const named = repoPaths(ws.config);
  try {
    return notTheWorkspace(ws, await resolveRepo(spec, named, { cwd: ws.paths.root }), by);
  } catch (err) {
    if (!(err instanceof OrchestraError)) throw err;
    const known = Object.keys(named);
    const list = known.length ? `known repositories: ${known.join(', ')}` : 'no repositories are configured (config "repos")';
    throw new OrchestraError('INVALID_INPUT', /known:|no repos configured/.test(err.message) ? err.message : `${err.message}; ${list}`, { spec });
  }
}

/**
 * Refuses the workspace's own repository as a task's repository when an untrusted actor's task
 * names it by path or file:// URL: its clone would hand the planner, the worktree and the tests every task, the audit
 * stream and the context records. A name from config `repos` is the operator's choice and stays
 * allowed. (Other repositories inside the workspace directory, or one holding the workspace in an
 * untracked subdirectory, are their own repositories: a clone carries none of the workspace.)
 */
function notTheWorkspace(ws: Workspace, repo: ResolvedRepo, by: Actor | string | undefined): ResolvedRepo {
  if (by === undefined || isTrustedActor(ws.config, by)) return repo; // the operator's own tasks (and doors' pre-checks: intake checks again with the actor)
  let path: string | undefined = repo.kind === 'path' ? repo.source : undefined;
  if (repo.kind === 'url' && /^file:/i.test(repo.source)) {
    try {
      path = fileURLToPath(repo.source);
    } catch {
      path = undefined;
    }
  }
  if (path === undefined || Object.hasOwn(ws.config.repos, repo.spec.trim())) return repo; // the operator named it in config
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // not there: resolveRepo or git will say so
  }
  const root = realpathSync(ws.paths.root);
  if (real === root) {
    throw new OrchestraError('INVALID_INPUT', `the workspace cannot be a task's repository (${repo.spec}): name the repository to work on (a configured name, its path or its URL)`, { spec: repo.spec });
  }
  return repo;
}

