/**
 * Pushes a task branch. The safety rules live here, in code: only `task/<id>` branches, never a
 * protected name, never --force, only the refspec `refs/heads/<b>:refs/heads/<b>`, never a merge,
 * never into the user's local repository (a mirror's `path` source is only read), and never
 * changes that contain a known secret. Every push is a fast-forward (the remote branch is absent
 * or its commit is an ancestor of ours; a follow-up round's push adds commits on top of the
 * previous round's): git itself refuses anything else, since the refspec has no `+` and no force
 * option is ever given, so the remote is not read first; when git rejects the push, the remote's
 * branch is read (`ls-remote`) to tell BRANCH_DIVERGED from another failure. Cost of a push: the
 * `push` alone when the caller passes the HEAD commitAll left, else one `rev-parse` before it.
 */
import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OrchestraError } from '../core/errors.js';
import type { NamedSecret } from '../core/secret-scan.js';
import { git, gitMaybe, gitOk, revParse, worktreeRecord } from './git.js';
import { branchLink } from './links.js';
import { normalizeRemote, remoteBranchSha } from './remote.js';
import { isRemoteUrl, MIRROR_SOURCE_KIND, sealedMirrorSource, redactUrl, transportOptions } from './repo-source.js';
import { assertNoSecrets, scanChanges, scannerFor } from './secret-guard.js';
import { globToRegExp } from '../core/quote.js';

/** Branches that are never pushed to, whatever the configuration says. */
export const ALWAYS_PROTECTED_BRANCHES: readonly string[] = ['main', 'master', 'dev', 'development'];

const TASK_BRANCH_RE = /^task\/[A-Za-z0-9._-]+$/;

function refuse(branch: string, reason: string): never {
  throw new OrchestraError('PUSH_REFUSED', `Refusing to push '${branch}': ${reason}`, { branch, reason });
}

/**
 * Throws PUSH_REFUSED unless `branch` may be pushed: it must look like `task/<id>` and must not
 * be main/master/dev/development or match a configured protected name (`*` and `**` globs allowed).
 */
export function assertPushAllowed(branch: string, protectedBranches: readonly string[] = []): void {
  if (typeof branch !== 'string' || !branch.trim()) refuse(String(branch), 'no branch name given');
  const name = branch.replace(/^refs\/heads\//, '');
  for (const p of [...ALWAYS_PROTECTED_BRANCHES, ...protectedBranches]) {
    const pat = p.trim().replace(/^refs\/heads\//, '');
    if (pat && globToRegExp(pat).test(name)) {
      refuse(branch, ALWAYS_PROTECTED_BRANCHES.includes(pat) ? `'${pat}' is always protected` : `it matches the protected branch '${pat}'`);
    }
  }
  if (!TASK_BRANCH_RE.test(name)) refuse(branch, "only task branches ('task/<id>', letters, digits, '.', '_', '-') may be pushed");
  const id = name.slice('task/'.length);
  if (id.startsWith('.') || id.startsWith('-') || id.includes('..') || /(\.lock|\.)$/.test(id)) {
    refuse(branch, 'not a valid git branch name');
  }
}

export interface PushResult {
  /** Where it was pushed (credentials removed). */
  remoteUrl: string;
  branch: string;
  sha: string;
  /** False when the remote branch already pointed at `sha`. */
  pushed: boolean;
  alreadyThere: boolean;
  /** Web (or path) link to the branch. */
  link: string;
}

/**
 * Pushes the worktree's task branch to `remote` (a remote name, URL or path). Idempotent: when the
 * remote branch already points at the local branch head nothing is pushed. A remote that has moved
 * on (non-fast-forward) is BRANCH_DIVERGED (GIT_ERROR when it moved between the check and the
 * push and git rejected it); it is never overwritten.
 */
export async function pushTaskBranch(opts: {
  worktreePath: string;
  remote: string;
  branch: string;
  protectedBranches: readonly string[];
  /** The commit the task forked from: everything after it is scanned for secrets before the push. */
  baseCommit?: string;
  /** Secrets to look for; by default the secret-named variables of this process. */
  secrets?: readonly NamedSecret[];
  /** The worktree's HEAD as commitAll just left it (its commit and full branch name): not read again. */
  head?: { sha: string; ref: string };
}): Promise<PushResult> {
  const { worktreePath, protectedBranches } = opts;
  assertPushAllowed(opts.branch, protectedBranches);
  const branch = opts.branch.replace(/^refs\/heads\//, '');
  const ref = `refs/heads/${branch}`;

  const sha = opts.head?.ref === ref ? opts.head.sha : await headCommitOn(worktreePath, ref, branch);

  const remoteUrl = await normalizeRemote(worktreePath, opts.remote);
  await assertNotMirrorSource(worktreePath, remoteUrl, branch);
  const shown = redactUrl(remoteUrl);
  const link = branchLink(shown, branch);
  // Fast-forward only: a remote commit we do not have, or one off our history, is never overwritten.
  const assertFastForward = async (): Promise<string | null> => {
    const remoteSha = await remoteBranchSha(remoteUrl, branch, worktreePath);
    if (remoteSha !== null && remoteSha !== sha && !(await gitOk(worktreePath, ['merge-base', '--is-ancestor', remoteSha, sha]))) {
      throw new OrchestraError('BRANCH_DIVERGED', `Remote ${shown} has ${branch} at ${remoteSha.slice(0, 10)}, which is not in this branch's history: not pushing (never forced) and not overwriting it`, { branch, remoteUrl: shown, remoteSha, sha });
    }
    return remoteSha;
  };

  const scanner = scannerFor(opts.secrets);
  if (!scanner.empty) {
    const from = (opts.baseCommit && (await revParse(worktreePath, opts.baseCommit))) || (await revParse(worktreePath, `${sha}~1`));
    if (from) assertNoSecrets(await scanChanges(worktreePath, from, sha, scanner), `push ${branch}`);
  }

  // One explicit refspec; no --force, --mirror, --all or --tags; push.default never consulted.
  const args = ['push', '--porcelain', '--no-follow-tags', '--no-signed', '--no-verify', '--recurse-submodules=no', '--', remoteUrl, `${ref}:${ref}`];
  let out: string;
  try {
    out = await git(worktreePath, args, { ...transportOptions(remoteUrl), config: ['push.followTags=false'] });
  } catch (err) {
    // Rejected: the remote has moved on. Read it to say so (BRANCH_DIVERGED), or to find it already holds our commit.
    if (await assertFastForward().then((remoteSha) => remoteSha === sha, (e) => { if (e instanceof OrchestraError && e.code === 'BRANCH_DIVERGED') throw e; return false; })) {
      return { remoteUrl: shown, branch, sha, pushed: false, alreadyThere: true, link };
    }
    const text =
      err instanceof OrchestraError ? `${String(err.details?.stdout ?? '')}\n${String(err.details?.stderr ?? err.message)}` : String(err);
    const rejected = /\[rejected\]|non-fast-forward|fetch first|\[remote rejected\]/.test(text);
    const detail = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('hint:') && l !== 'Done')
      .slice(0, 4)
      .join(' ');
    throw new OrchestraError(
      'GIT_ERROR',
      rejected
        ? `Remote ${shown} rejected ${branch} (not forcing; the remote branch has commits this one does not): ${detail}`
        : `Push of ${branch} to ${shown} failed: ${detail}`,
      { branch, remoteUrl: shown, rejected },
    );
  }
  // `--porcelain` marks a ref the remote already had at this commit with `=`.
  const upToDate = out.split('\n').some((l) => l.startsWith('=\t') && l.includes(`${ref}:${ref}`));
  return { remoteUrl: shown, branch, sha, pushed: !upToDate, alreadyThere: upToDate, link };
}

/**
 * The commit of `ref` when the worktree has it checked out: one `rev-parse` for both (HEAD's
 * commit, then HEAD's full name). INVALID_INPUT when HEAD is elsewhere, NOT_FOUND when unborn.
 */
async function headCommitOn(worktreePath: string, ref: string, branch: string): Promise<string> {
  const [sha, name] = ((await gitMaybe(worktreePath, ['rev-parse', 'HEAD', '--symbolic-full-name', 'HEAD'])) ?? '').split('\n');
  if (sha && name === ref && /^[0-9a-f]{40,64}$/.test(sha)) return sha;
  const head = await gitMaybe(worktreePath, ['symbolic-ref', '--quiet', 'HEAD']);
  if (head !== ref) {
    throw new OrchestraError('INVALID_INPUT', `Worktree ${worktreePath} is on ${head ?? 'a detached HEAD'}, not ${branch}`, { worktreePath, branch });
  }
  const commit = await revParse(worktreePath, ref);
  if (!commit) throw new OrchestraError('NOT_FOUND', `Branch ${branch} has no commits in ${worktreePath}`);
  return commit;
}

/** Local path a remote URL names (a path or file:// URL), else undefined. */
function localPathOf(url: string): string | undefined {
  if (/^file:/i.test(url)) {
    try {
      return fileURLToPath(url);
    } catch {
      return undefined;
    }
  }
  return isRemoteUrl(url) || !isAbsolute(url) ? undefined : url;
}

function realOrSelf(p: string): string {
  return existsSync(p) ? realpathSync(p) : p;
}

/**
 * Refuses a push into the local repository a mirror was made from: the user's repository is only
 * ever read. (Its own remote, e.g. its `origin`, is where task branches go.)
 */
async function assertNotMirrorSource(worktreePath: string, remoteUrl: string, branch: string): Promise<void> {
  const rec = worktreeRecord(worktreePath);
  const target = localPathOf(remoteUrl);
  if (!rec || !target) return;
  const cfg = join(rec.mirror, 'config');
  const sealed = sealedMirrorSource(rec.mirror);
  if ((sealed?.kind ?? (await gitMaybe(rec.mirror, ['config', '--file', cfg, '--get', MIRROR_SOURCE_KIND]))) !== 'path') return;
  const source = sealed?.origin ?? (await gitMaybe(rec.mirror, ['config', '--file', cfg, '--get', 'remote.origin.url']));
  if (source && realOrSelf(source) === realOrSelf(target)) {
    refuse(branch, `${target} is the local repository the task was made from, which Orchestra only reads; push to its remote instead`);
  }
}
