/**
 * Commits everything in the task worktree, idempotently, with a `Task-Id:` trailer. Hooks never
 * run (see git.ts) and nothing containing a known secret is committed (see secret-guard.ts).
 */
import { OrchestraError } from '../core/errors.js';
import type { NamedSecret } from '../core/secret-scan.js';
import { rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { assertNoNestedRepos, indexDigest, stagedIndexPath } from './changes.js';
import { git, gitLine, gitOk, revParse } from './git.js';
import { identityEnv, type GitIdentity } from './identity.js';
import { assertNoSecrets, scanChanges, scannerFor } from './secret-guard.js';

export type { GitIdentity } from './identity.js';

export const TASK_TRAILER = 'Task-Id';

/** Message with the `Task-Id: <taskId>` trailer appended (unless already present). */
export function withTaskTrailer(message: string, taskId: string): string {
  const body = message.replace(/\s+$/, '');
  if (taskIdFromMessage(body) === taskId) return `${body}\n`;
  return `${body}\n\n${TASK_TRAILER}: ${taskId}\n`;
}

/** The `Task-Id` trailer value in a commit message's last paragraph, if any. */
export function taskIdFromMessage(message: string): string | undefined {
  const paragraphs = message.trim().split(/\n\s*\n/);
  const last = paragraphs[paragraphs.length - 1] ?? '';
  const m = new RegExp(`^${TASK_TRAILER}:[ \\t]*(\\S+)[ \\t]*$`, 'mi').exec(last);
  return m?.[1];
}

export interface CommitResult { sha: string; created: boolean; ref?: string }

const COMMIT = ['commit', '--no-verify', '--no-gpg-sign', '--cleanup=whitespace', '-m'];

/** The commit `git commit` reported (its summary line names the branch and, with core.abbrev=no, the full id). */
async function made(worktreePath: string, out: string): Promise<CommitResult> {
  const summary = /^\[(\S+)(?: \([^)\n]*\))? ([0-9a-f]{40}|[0-9a-f]{64})\]/.exec(out);
  if (summary) return { sha: summary[2]!, created: true, ref: `refs/heads/${summary[1]!}` };
  const [sha = '', ref] = (await gitLine(worktreePath, ['rev-parse', 'HEAD', '--symbolic-full-name', 'HEAD'])).split('\n');
  return { sha, created: true, ...(ref?.startsWith('refs/heads/') ? { ref } : {}) };
}

/**
 * Commits the index kept by the final diff when it still has `digest`, then makes it the
 * worktree's index (so `git status` there is clean). Undefined, with nothing changed, when it is
 * missing, changed, or git refuses it (e.g. a re-run: HEAD already holds it): the caller stages
 * the worktree instead. The kept index lives in the mirror, read-only to every sandbox; its
 * digest pins it to the diff that was recorded and checked.
 */
async function commitKeptIndex(worktreePath: string, digest: string, message: string, env: Record<string, string>, scanner: ReturnType<typeof scannerFor>, baseCommit?: string): Promise<CommitResult | undefined> {
  const kept = stagedIndexPath(worktreePath);
  if (!kept || (await indexDigest(kept)) !== digest) return undefined;
  const gopts = { env: { ...env, GIT_INDEX_FILE: kept } };
  if (!scanner.empty) {
    // The publisher's secrets may be more than the executor's: the staged changes are scanned again.
    const from = (baseCommit && (await revParse(worktreePath, baseCommit))) || (await revParse(worktreePath, 'HEAD'));
    const hits = from ? await scanChanges(worktreePath, from, undefined, scanner, gopts) : [];
    if (hits.length > 0) {
      await rm(kept, { force: true });
      assertNoSecrets(hits, 'commit');
    }
  }
  let out: string;
  try {
    out = await git(worktreePath, [...COMMIT, message], { ...gopts, config: ['core.abbrev=no'] });
  } catch {
    return undefined;
  }
  await rename(kept, join(dirname(kept), 'index')).catch(() => undefined);
  return made(worktreePath, out);
}

async function existingTaskCommit(worktreePath: string, taskId: string, baseCommit?: string): Promise<string | null> {
  const head = await revParse(worktreePath, 'HEAD');
  if (!head) return null;
  const message = await git(worktreePath, ['log', '-1', '--format=%B', head]);
  if (taskIdFromMessage(message) !== taskId) return null;
  if (baseCommit) {
    const base = await revParse(worktreePath, baseCommit);
    if (!base || base === head || !(await gitOk(worktreePath, ['merge-base', '--is-ancestor', base, head]))) return null;
  }
  return head;
}

/**
 * Stages everything (`git add -A`) and commits as `author` with a `Task-Id: <taskId>` trailer.
 * Re-running after success returns the existing commit with created:false. A clean tree with
 * no task commit on HEAD is an error (INVALID_INPUT "nothing to commit"). The staged changes
 * (from `baseCommit`, else HEAD) and the message are scanned for known secrets first: a hit is
 * SECRET_IN_CHANGES and the index is reset, so nothing is committed.
 */
export async function commitAll(opts: {
  worktreePath: string;
  message: string;
  author: GitIdentity;
  taskId: string;
  /** When given, an existing task commit only counts if it sits on top of this commit. */
  baseCommit?: string;
  /** Secrets to look for; by default the secret-named variables of this process. */
  secrets?: readonly NamedSecret[];
  /**
   * The digest of the index the final diff kept (diffAgainstBase `index`): when that index is
   * still there unchanged, exactly it is committed, with no second staging and nested-repository
   * check (the diff made both). Anything else falls back to staging the worktree.
   */
  stagedIndex?: string;
}): Promise<CommitResult> {
  const { worktreePath, taskId } = opts;
  if (!opts.message.trim()) throw new OrchestraError('INVALID_INPUT', 'Commit message is empty');
  const env = identityEnv(opts.author);
  const scanner = scannerFor(opts.secrets);
  assertNoSecrets(scanner.scanText(opts.message, 'the commit message'), 'commit');
  const message = withTaskTrailer(opts.message, taskId);
  if (opts.stagedIndex) {
    const committed = await commitKeptIndex(worktreePath, opts.stagedIndex, message, env, scanner, opts.baseCommit);
    if (committed) return committed;
  }

  // `add -A`, then one raw diff of the index against HEAD: whether anything is staged, and that it adds no nested repository.
  await git(worktreePath, ['add', '-A']);
  const staged = await assertNoNestedRepos(worktreePath, 'HEAD').then(
    (paths) => paths.length > 0,
    async (err: unknown) => {
      // No HEAD yet (an unborn branch): anything in the index is staged.
      if (err instanceof OrchestraError && err.code === 'GIT_ERROR' && !(await revParse(worktreePath, 'HEAD'))) {
        return !(await gitOk(worktreePath, ['diff', '--cached', '--quiet', '--no-ext-diff', '--no-textconv', '--ignore-submodules=dirty']));
      }
      await git(worktreePath, ['reset', '-q']);
      throw err;
    },
  );
  if (staged) {
    if (!scanner.empty) {
      const from = (opts.baseCommit && (await revParse(worktreePath, opts.baseCommit))) || (await revParse(worktreePath, 'HEAD'));
      const hits = from ? await scanChanges(worktreePath, from, undefined, scanner) : [];
      if (hits.length > 0) {
        await git(worktreePath, ['reset', '-q']);
        assertNoSecrets(hits, 'commit');
      }
    }
    return made(worktreePath, await git(worktreePath, [...COMMIT, message], { env, config: ['core.abbrev=no'] }));
  }
  const existing = await existingTaskCommit(worktreePath, taskId, opts.baseCommit);
  if (existing) return { sha: existing, created: false };
  throw new OrchestraError('INVALID_INPUT', `nothing to commit in ${worktreePath}: the task made no changes`, { worktreePath, taskId });
}
