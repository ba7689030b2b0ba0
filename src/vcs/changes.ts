/**
 * What the task changed in its worktree, relative to the commit it forked from.
 * Untracked (not ignored) files are included by staging into a throw-away copy of the
 * index, so the worktree's real index is never touched.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { describeHits, type NamedSecret, type SecretHit } from '../core/secret-scan.js';
import { git, revParse, type GitOptions } from './git.js';
import { scanChanges, scannerFor } from './secret-guard.js';

export interface WorktreeDiff {
  /** `git diff --binary` text (applies with `git apply`); empty when nothing changed. */
  patch: string;
  /** `git diff --stat` summary. */
  stat: string;
  /** Changed paths (new names for renames), sorted. */
  files: string[];
  /**
   * Known secrets found in the changes (see secret-guard.ts). When not empty, `patch` is a
   * redacted note instead of the diff, so the secret is never written into a record.
   */
  secrets: SecretHit[];
}

/** Options that keep user diff configuration (external tools, textconv, colour) out of our output. */
const DIFF_FLAGS = ['--no-color', '--no-ext-diff', '--no-textconv'];

/**
 * Stages the whole worktree into a fresh temporary index, so the worktree's real index is never
 * touched. The index is built from nothing (not copied from the real one) so every file is
 * hashed: a copied stat cache can call a same-size edit made within the checkout's second
 * unchanged (seen as an executor "finishing without changes" about one run in five).
 */
async function withTempIndex<T>(worktreePath: string, fn: (opts: GitOptions) => Promise<T>): Promise<T> {
  const tmpIndex = join(tmpdir(), `orchestra-index-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const opts: GitOptions = { env: { GIT_INDEX_FILE: tmpIndex } };
    await git(worktreePath, ['add', '-A'], opts);
    return await fn(opts);
  } finally {
    await rm(tmpIndex, { force: true });
  }
}

/** What a diff record holds instead of a diff that contains a secret. */
export function withheldDiffNote(hits: readonly SecretHit[]): string {
  return `# This diff is withheld: it contains a secret (${describeHits(hits)}).\n# Nothing containing it is committed or pushed.\n`;
}

/**
 * Everything in the worktree (committed, staged, unstaged, untracked) versus `baseCommit`.
 * The changes are scanned for known secrets first; with a hit, `patch` is a redacted note.
 */
export async function diffAgainstBase(worktreePath: string, baseCommit: string, opts: { secrets?: readonly NamedSecret[] } = {}): Promise<WorktreeDiff> {
  const base = await revParse(worktreePath, baseCommit);
  if (!base) throw new OrchestraError('NOT_FOUND', `Base commit ${baseCommit} not found in ${worktreePath}`);
  const scanner = scannerFor(opts.secrets);
  return withTempIndex(worktreePath, async (gopts) => {
    const secrets = await scanChanges(worktreePath, base, undefined, scanner, gopts);
    const stat = scanner.redact((await git(worktreePath, ['diff', '--cached', '--stat', ...DIFF_FLAGS, base], gopts)).trimEnd());
    const names = await git(worktreePath, ['diff', '--cached', '--name-only', '-z', ...DIFF_FLAGS, base], gopts);
    const files = names.split('\0').filter(Boolean).map((f) => scanner.redact(f)).sort();
    const patch = secrets.length > 0 ? withheldDiffNote(secrets) : await git(worktreePath, ['diff', '--cached', '--binary', ...DIFF_FLAGS, base], gopts);
    return { patch, stat, files, secrets };
  });
}

/** Uncommitted changes in the worktree, untracked files included (ignored files excluded). */
export async function hasChanges(worktreePath: string): Promise<boolean> {
  const out = await git(worktreePath, ['status', '--porcelain=v1', '--untracked-files=all', '--ignore-submodules=none']);
  return out.trim().length > 0;
}
