/**
 * Base-branch detection and the per-task git worktree on branch `task/<taskId>`.
 * Every function checks the world first so a step can be re-run after a crash. Worktrees are made
 * only from a mirror (ensureMirror), and their git dir is recorded beside them so every later git
 * command names it explicitly (see worktreeRecord).
 */
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { isObjectId } from '../core/ids.js';
import { writeAtomic } from '../core/fsutil.js';
import { hasChanges } from './changes.js';
import { assertNotOption, git, gitLine, gitMaybe, gitOk, refExists, worktreeRecord, worktreeRecordPath } from './git.js';
import { isSealedMirror, MIRROR_MARKER } from './repo-source.js';

export const TASK_BRANCH_PREFIX = 'task/';
const TASK_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Validates a task id for use in a branch and directory name; returns `task/<taskId>`. */
export function taskBranchName(taskId: string): string {
  if (typeof taskId !== 'string' || !TASK_ID_RE.test(taskId) || taskId.includes('..') || /(\.lock|\.)$/.test(taskId)) {
    throw new OrchestraError('INVALID_INPUT', `Task id '${taskId}' cannot be used as a branch name (use letters, digits, '.', '_', '-')`);
  }
  return `${TASK_BRANCH_PREFIX}${taskId}`;
}

export interface BaseInfo {
  /** Branch name, e.g. `development`. */
  branch: string;
  /** Full ref the branch resolves to in this repo (local or remote-tracking). */
  ref: string;
  commit: string;
  source: 'requested' | 'development' | 'default';
  /** A base was requested but no such branch exists (we fell back). */
  requestedMissing: boolean;
}

async function isMirror(repoPath: string): Promise<boolean> {
  if (isSealedMirror(repoPath)) return true;
  return (await gitMaybe(repoPath, ['config', '--bool', '--default', 'false', '--get', MIRROR_MARKER])) === 'true';
}

/**
 * The branch refs of a repository (local and remote-tracking) with the commits they point at and
 * the targets of symbolic ones: read with one git process, then every lookup of a base detection
 * or a worktree preparation is answered from it.
 */
export interface BranchRefs { commits: Map<string, string | null>; symrefs: Map<string, string>; mirror: boolean }

export async function readBranchRefs(repoPath: string): Promise<BranchRefs> {
  const format = '%(refname)%00%(objecttype)%00%(objectname)%00%(*objectname)%00%(symref)';
  const out = await gitLine(repoPath, ['for-each-ref', `--format=${format}`, 'refs/heads', 'refs/remotes']);
  const commits = new Map<string, string | null>();
  const symrefs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [ref, type, oid, peeled, symref] = line.split('\0');
    if (!ref) continue;
    commits.set(ref, type === 'commit' ? oid! : type === 'tag' && peeled ? peeled : null);
    if (symref) symrefs.set(ref, symref);
  }
  return { commits, symrefs, mirror: await isMirror(repoPath) };
}

/**
 * Full ref for a branch name: local `refs/heads/<b>` or remote-tracking `refs/remotes/<remote>/<b>`
 * (origin first). In a mirror made by ensureMirror the remote-tracking ref wins (it is the fresh one).
 */
function resolveBranchRef(refs: BranchRefs, branch: string): string | null {
  const name = branch.trim().replace(/^refs\/heads\//, '');
  if (!name) return null;
  assertNotOption(name, 'Branch name');
  const local = `refs/heads/${name}`;
  const origin = `refs/remotes/origin/${name}`;
  const order = refs.mirror ? [origin, local] : [local, origin];
  for (const ref of order) if (refs.commits.has(ref)) return ref;
  for (const r of refs.commits.keys()) if (r.startsWith('refs/remotes/') && r.split('/').length === name.split('/').length + 3 && r.endsWith(`/${name}`)) return r;
  if (refs.commits.has(`refs/remotes/${name}`)) return `refs/remotes/${name}`; // e.g. 'origin/main'
  if (name.startsWith('refs/') && refs.commits.has(name)) return name;
  return null;
}

async function defaultBranch(repoPath: string, refs: BranchRefs): Promise<string | null> {
  const originHead = refs.symrefs.get('refs/remotes/origin/HEAD');
  if (originHead?.startsWith('refs/remotes/origin/')) {
    const b = originHead.slice('refs/remotes/origin/'.length);
    if (resolveBranchRef(refs, b)) return b;
  }
  const head = await gitMaybe(repoPath, ['symbolic-ref', '--quiet', 'HEAD']);
  if (head?.startsWith('refs/heads/')) {
    const b = head.slice('refs/heads/'.length);
    if (!b.startsWith(TASK_BRANCH_PREFIX) && resolveBranchRef(refs, b)) return b;
  }
  for (const b of ['main', 'master']) if (resolveBranchRef(refs, b)) return b;
  return null;
}

/**
 * `requested` when that branch exists (locally or remote-tracking), else `development` when it
 * exists, else the default branch (origin's HEAD, else the current HEAD branch, else main/master).
 */
export async function detectBase(repoPath: string, requested?: string, known?: BranchRefs): Promise<BaseInfo> {
  const refs = known ?? (await readBranchRefs(repoPath));
  const want = requested?.trim() || undefined;
  const candidates: Array<[string | null | undefined, BaseInfo['source']]> = [
    [want, 'requested'],
    ['development', 'development'],
  ];
  for (const [branch, source] of candidates) {
    if (!branch) continue;
    const ref = resolveBranchRef(refs, branch);
    if (ref) return finish(branch, ref, source);
  }
  const def = await defaultBranch(repoPath, refs);
  if (def) return finish(def, resolveBranchRef(refs, def)!, 'default');
  throw new OrchestraError('NOT_FOUND', `No base branch found in ${repoPath}${want ? ` (requested '${want}')` : ''}: the repository has no commits on development, main or master`, { repoPath });

  function finish(branch: string, ref: string, source: BaseInfo['source']): BaseInfo {
    const commit = refs.commits.get(ref);
    if (!commit) throw new OrchestraError('GIT_ERROR', `Branch ${ref} does not point at a commit`);
    return { branch: branch.replace(/^refs\/heads\//, ''), ref, commit, source, requestedMissing: !!want && source !== 'requested' };
  }
}

export interface PreparedWorktree {
  path: string;
  branch: string;
  /** Base branch name. */
  base: string;
  /** Commit the task branch forked from (merge-base with the base branch). */
  baseCommit: string;
  /** False when an existing worktree was reused. */
  created: boolean;
}

/**
 * The worktree at `path` when it is a registered worktree of `mirror` (see worktreeRecord), with
 * the branch it has checked out; undefined when it is not one.
 */
async function inspectWorktree(mirror: string, path: string): Promise<{ branch: string | null; gitDir: string } | undefined> {
  const rec = worktreeRecord(path);
  if (!rec || realpathSync(rec.mirror) !== realpathSync(mirror)) return undefined;
  const head = await gitMaybe(path, ['symbolic-ref', '--quiet', 'HEAD']);
  return { branch: head?.startsWith('refs/heads/') ? head.slice('refs/heads/'.length) : null, gitDir: rec.gitDir };
}

/** Throws unless `repoPath` is a bare mirror made by ensureMirror: worktrees are never made in a user's repository. */
async function assertMirror(repoPath: string): Promise<void> {
  if (isSealedMirror(repoPath)) return; // sealed by this process: a bare mirror by construction
  if (!(await isMirror(repoPath)) || (await gitLine(repoPath, ['rev-parse', '--is-bare-repository'])) !== 'true') {
    throw new OrchestraError('INVALID_INPUT', `${repoPath} is not an Orchestra mirror: worktrees are made only from a mirror in the repo cache (ensureMirror), never in a user's repository`, { repoPath });
  }
}

/** True when `mirror` has any worktree registration (live or stale) for `path` or a directory of the same name. */
function hasRegistration(mirror: string, path: string): boolean {
  const base = join(mirror, 'worktrees');
  if (!existsSync(base)) return false;
  const name = path.split('/').pop()!;
  for (const entry of readdirSync(base)) {
    if (entry.startsWith(name)) return true; // git names it after the directory, with a number when taken
    const file = join(base, entry, 'gitdir');
    if (existsSync(file) && dirname(resolve(base, entry, readFileSync(file, 'utf8').trim())) === path) return true;
  }
  return false;
}

/** The admin directory git made for the worktree at `path` (`<mirror>/worktrees/<name>`). */
async function findAdminDir(mirror: string, path: string): Promise<string> {
  const base = join(mirror, 'worktrees');
  for (const name of existsSync(base) ? readdirSync(base) : []) {
    const file = join(base, name, 'gitdir');
    if (existsSync(file) && realOrSelf(dirname(resolve(base, name, readFileSync(file, 'utf8').trim()))) === path) return join(base, name);
  }
  throw new OrchestraError('GIT_ERROR', `git did not register the worktree ${path} in ${mirror}`);
}

/** Records the worktree's git dir beside it (outside the worktree), then points its `.git` file there. */
async function recordWorktree(mirror: string, path: string): Promise<void> {
  const real = realpathSync(path);
  const gitDir = await findAdminDir(mirror, real);
  await writeAtomic(worktreeRecordPath(real), `${JSON.stringify({ gitDir, mirror: realpathSync(mirror) })}\n`);
  await restoreDotGit(real, gitDir);
}

/** Rewrites the worktree's `.git` file (a test may have replaced it); a directory there is left alone. */
async function restoreDotGit(path: string, gitDir: string): Promise<void> {
  const dotGit = join(path, '.git');
  const want = `gitdir: ${gitDir}\n`;
  const st = lstatSafe(dotGit);
  if (st?.isDirectory()) return;
  if (st?.isFile() && readFileSync(dotGit, 'utf8') === want) return;
  await rm(dotGit, { force: true });
  await writeFile(dotGit, want);
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

function lstatSafe(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function isEmptyDir(p: string): boolean {
  return statSync(p).isDirectory() && readdirSync(p).length === 0;
}

/**
 * Creates `worktreesDir/<taskId>` as a worktree on a new branch `task/<taskId>` from `base`
 * (detected when omitted). Reuses it when it already exists on that branch; re-attaches the
 * branch when only the branch survived a crash.
 */
export async function prepareWorktree(opts: {
  repoPath: string;
  worktreesDir: string;
  taskId: string;
  base?: string;
  /**
   * A follow-up round (follow-up.ts): the branch starts at this commit (the previous round's
   * push, or the remote's tip on top of it) instead of at the base, and `baseCommit` is this
   * commit, so diffs show what the round changed. A reused worktree must hold it in its history.
   */
  startAt?: string;
  /** The mirror's branch refs as just read (readBranchRefs, e.g. by the base detection): not read again. */
  refs?: BranchRefs;
}): Promise<PreparedWorktree> {
  const branch = taskBranchName(opts.taskId);
  const repoPath = realpathSync(resolve(opts.repoPath));
  const path = resolve(opts.worktreesDir, opts.taskId);
  await assertMirror(repoPath);
  if (opts.startAt !== undefined) assertNotOption(opts.startAt, 'Start commit');
  const refs = opts.refs ?? (await readBranchRefs(repoPath));
  const baseBranch = opts.base?.trim() || (await detectBase(repoPath, undefined, refs)).branch;
  const baseRef = resolveBranchRef(refs, baseBranch);
  if (!baseRef) throw new OrchestraError('NOT_FOUND', `Base branch '${baseBranch}' does not exist in ${repoPath}`, { repoPath, base: baseBranch });

  const result = async (created: boolean, forkedFrom?: string): Promise<PreparedWorktree> => {
    const baseCommit = forkedFrom ?? (await gitLine(repoPath, ['merge-base', baseRef, `refs/heads/${branch}`]));
    return { path: realpathSync(path), branch, base: baseBranch, baseCommit, created };
  };

  // A `worktree add` killed before our record was written: registered in the mirror but never
  // used (an execution starts only after the record), so it is removed and made again.
  if (existsSync(path) && !worktreeRecord(path) && hasRegistration(repoPath, path)) {
    await rm(path, { recursive: true, force: true });
    await git(repoPath, ['worktree', 'prune']);
  }
  if (existsSync(path) && !isEmptyDir(path)) {
    const wt = await inspectWorktree(repoPath, path);
    if (!wt) {
      throw new OrchestraError('CONFLICT', `${path} exists but is not a worktree of ${repoPath}; move it away and retry`, { path });
    }
    if (wt.branch !== branch) {
      throw new OrchestraError('CONFLICT', `Worktree ${path} is on ${wt.branch ?? 'a detached HEAD'}, expected ${branch}`, { path, branch: wt.branch });
    }
    await restoreDotGit(realpathSync(path), wt.gitDir);
    if (opts.startAt && !(await gitOk(path, ['merge-base', '--is-ancestor', opts.startAt, 'HEAD']))) {
      throw new OrchestraError('CONFLICT', `Worktree ${path} is not on top of ${opts.startAt.slice(0, 10)} (the commit this round builds on); move it away and retry`, { path });
    }
    return result(false, opts.startAt);
  }

  await mkdir(opts.worktreesDir, { recursive: true });
  // A registration whose directory vanished (a crash, a cleared cache) makes `worktree add` refuse the path.
  if (hasRegistration(repoPath, path)) await git(repoPath, ['worktree', 'prune']);
  if (opts.startAt) {
    // Only the mirror's own copy of the branch is moved (no worktree has it checked out here): the remote is never touched.
    if (refs.commits.has(`refs/heads/${branch}`)) await git(repoPath, ['branch', '-f', '--no-track', branch, opts.startAt]);
    else await git(repoPath, ['branch', '--no-track', branch, opts.startAt]);
    await git(repoPath, ['worktree', 'add', path, branch]);
    await recordWorktree(repoPath, path);
    return result(true, opts.startAt);
  }
  if (refs.commits.has(`refs/heads/${branch}`)) {
    await git(repoPath, ['worktree', 'add', path, branch]);
    await recordWorktree(repoPath, path);
    return result(true);
  }
  await git(repoPath, ['worktree', 'add', '--no-track', '-b', branch, path, baseRef]);
  await recordWorktree(repoPath, path);
  return result(true, refs.commits.get(baseRef) ?? undefined); // a new branch forks at the base ref's commit
}

/**
 * The fast path of prepareWorktree for a new task whose base was resolved earlier (the planner's
 * recorded base branch and commit): one `git worktree add -b task/<id>` at `commit`, no ref read.
 * Throws (nothing made) when the directory, its registration or the branch already exists, or the
 * commit is not in the mirror: the caller then takes prepareWorktree, which handles those.
 */
export async function addWorktreeAt(opts: { repoPath: string; worktreesDir: string; taskId: string; base: string; commit: string }): Promise<PreparedWorktree> {
  const branch = taskBranchName(opts.taskId);
  const repoPath = realpathSync(resolve(opts.repoPath));
  const path = resolve(opts.worktreesDir, opts.taskId);
  await assertMirror(repoPath);
  if (!isObjectId(opts.commit)) throw new OrchestraError('INVALID_INPUT', `Base commit must be a full commit id: ${opts.commit}`);
  if (existsSync(path) || hasRegistration(repoPath, path)) throw new OrchestraError('CONFLICT', `${path} or its registration exists`, { path });
  await mkdir(opts.worktreesDir, { recursive: true });
  // `-b` refuses an existing branch: a branch left by a crash is never moved by this path.
  await git(repoPath, ['worktree', 'add', '--no-track', '-b', branch, path, `${opts.commit}^{commit}`]);
  await recordWorktree(repoPath, path);
  return { path: realpathSync(path), branch, base: opts.base, baseCommit: opts.commit, created: true };
}

/**
 * Removes the task's worktree (idempotent). Refuses a dirty worktree unless `force`.
 * With `deleteBranch`, also deletes the local `task/<taskId>` branch.
 */
export async function removeWorktree(opts: {
  repoPath: string;
  worktreesDir: string;
  taskId: string;
  force?: boolean;
  deleteBranch?: boolean;
}): Promise<{ removed: boolean; branchDeleted: boolean }> {
  const branch = taskBranchName(opts.taskId);
  const repoPath = resolve(opts.repoPath);
  const path = resolve(opts.worktreesDir, opts.taskId);
  let removed = false;
  let adminDir: string | undefined;
  if (existsSync(path)) {
    // The record (validated against the mirror) says it is our worktree: no git process needed to know.
    const rec = worktreeRecord(path);
    if (!rec || realpathSync(rec.mirror) !== realpathSync(repoPath)) throw new OrchestraError('CONFLICT', `${path} is not a worktree of ${repoPath}; not removing it`, { path });
    if (!opts.force && (await hasChanges(path))) {
      throw new OrchestraError('CONFLICT', `Worktree ${path} has uncommitted changes; not removing it`, { path });
    }
    // Not `git worktree remove`: it would trust the worktree's own `.git` file.
    await rm(path, { recursive: true, force: true });
    removed = true;
    if (realpathSync(dirname(rec.gitDir)) === join(realpathSync(repoPath), 'worktrees')) adminDir = rec.gitDir;
  }
  await rm(worktreeRecordPath(path), { force: true });
  // The registration of the directory just removed is its admin dir: removed as `git worktree prune` would.
  if (adminDir) await rm(adminDir, { recursive: true, force: true });
  else await git(repoPath, ['worktree', 'prune']);
  let branchDeleted = false;
  if (opts.deleteBranch && (await refExists(repoPath, `refs/heads/${branch}`))) {
    await git(repoPath, ['branch', '-D', branch]);
    branchDeleted = true;
  }
  return { removed, branchDeleted };
}
