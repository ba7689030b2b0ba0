/**
 * Where a follow-up round starts: the commit the previous round pushed to `task/<id>`, or a
 * commit the remote branch gained on top of it since (someone pushed more: we build on theirs).
 *
 * Preconditions: `mirror` is a sealed mirror (ensureMirror/sealMirror); `remote` is the push
 * remote (resolvePushRemote); `pushedSha` is the sha recorded by the previous round's push.
 * Invariants: nothing is written to the remote; the remote branch is only read (ls-remote) and,
 * when it moved, fetched into the mirror (no ref is written, FETCH_HEAD only). A remote branch
 * that no longer contains `pushedSha` (rewritten, force-pushed by someone else) is
 * BRANCH_DIVERGED: the round never starts, so nothing of theirs can be overwritten. A deleted
 * remote branch starts from `pushedSha` (pushing it again recreates the branch, a fast-forward
 * from nothing).
 */
import { OrchestraError } from '../core/errors.js';
import { isObjectId } from '../core/ids.js';
import { git, gitOk } from './git.js';
import { assertPushAllowed } from './push.js';
import { remoteBranchSha } from './remote.js';
import { redactUrl, transportOptions } from './repo-source.js';

export interface FollowUpStart {
  /** The commit the round's worktree starts from. */
  commit: string;
  /** What the remote branch pointed at (null: the branch is gone). */
  remoteSha: string | null;
  /** The remote branch had commits on top of the recorded push. */
  ahead: boolean;
}

const hasCommit = (repo: string, sha: string) => gitOk(repo, ['cat-file', '-e', `${sha}^{commit}`]);

export async function followUpStart(opts: { mirror: string; remote: string; branch: string; pushedSha: string; protectedBranches?: readonly string[] }): Promise<FollowUpStart> {
  const { mirror, remote, pushedSha } = opts;
  assertPushAllowed(opts.branch, opts.protectedBranches);
  if (!isObjectId(pushedSha)) throw new OrchestraError('INVALID_INPUT', `the recorded push "${pushedSha.slice(0, 80)}" is not a commit id`);
  const branch = opts.branch.replace(/^refs\/heads\//, '');
  const shown = redactUrl(remote);
  const remoteSha = await remoteBranchSha(remote, branch, mirror);
  if (remoteSha !== null && remoteSha !== pushedSha) {
    if (!(await hasCommit(mirror, remoteSha))) await git(mirror, ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--', remote, `refs/heads/${branch}`], transportOptions(remote)).catch(() => undefined);
    // A fetch that failed or a remote that raced us leaves the commit missing: not provably on top, so refused.
    const onTop = (await hasCommit(mirror, remoteSha)) && (await gitOk(mirror, ['merge-base', '--is-ancestor', pushedSha, remoteSha]));
    if (!onTop) {
      throw new OrchestraError(
        'BRANCH_DIVERGED',
        `${branch} on ${shown} was moved by someone else to ${remoteSha.slice(0, 10)}, which does not contain the pushed ${pushedSha.slice(0, 10)}: not building on it and not overwriting it; restore the branch (or push it back to ${pushedSha.slice(0, 10)}) and retry`,
        { branch, remote: shown, remoteSha, pushedSha },
      );
    }
    return { commit: remoteSha, remoteSha, ahead: true };
  }
  if (!(await hasCommit(mirror, pushedSha))) {
    if (remoteSha === pushedSha) await git(mirror, ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--', remote, `refs/heads/${branch}`], transportOptions(remote)).catch(() => undefined);
    if (!(await hasCommit(mirror, pushedSha))) {
      throw new OrchestraError('NOT_FOUND', `the pushed commit ${pushedSha.slice(0, 10)} of ${branch} is neither in the repository cache nor on ${shown}${remoteSha === null ? ' (the branch is gone)' : ''}`, { branch, pushedSha });
    }
  }
  return { commit: pushedSha, remoteSha, ahead: false };
}
