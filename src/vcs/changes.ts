/**
 * What the task changed in its worktree, relative to the commit it forked from.
 * Untracked (not ignored) files are included by staging into a throw-away copy of the
 * index, so the worktree's real index is never touched.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, rm, stat, utimes } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { git, gitLine, revParse, type GitOptions } from './git.js';

export interface WorktreeDiff {
  /** `git diff --binary` text (applies with `git apply`); empty when nothing changed. */
  patch: string;
  /** `git diff --stat` summary. */
  stat: string;
  /** Changed paths (new names for renames), sorted. */
  files: string[];
}

/** Options that keep user diff configuration (external tools, textconv, colour) out of our output. */
const DIFF_FLAGS = ['--no-color', '--no-ext-diff', '--no-textconv'];

async function withTempIndex<T>(worktreePath: string, fn: (opts: GitOptions) => Promise<T>): Promise<T> {
  const realIndex = resolve(worktreePath, await gitLine(worktreePath, ['rev-parse', '--git-path', 'index']));
  const tmpIndex = join(tmpdir(), `orchestra-index-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    if (existsSync(realIndex)) {
      // The copy keeps the stat cache (fast `add -A`) and must keep the index's own mtime too:
      // git treats entries as possibly changed ("racy") only when they are not older than the
      // index file, so a fresh mtime would hide a same-size edit made in the checkout's second.
      await copyFile(realIndex, tmpIndex);
      const { atime, mtime } = await stat(realIndex);
      await utimes(tmpIndex, atime, mtime);
    }
    const opts: GitOptions = { env: { GIT_INDEX_FILE: tmpIndex } };
    await git(worktreePath, ['add', '-A'], opts);
    return await fn(opts);
  } finally {
    await rm(tmpIndex, { force: true });
  }
}

/** Everything in the worktree (committed, staged, unstaged, untracked) versus `baseCommit`. */
export async function diffAgainstBase(worktreePath: string, baseCommit: string): Promise<WorktreeDiff> {
  const base = await revParse(worktreePath, baseCommit);
  if (!base) throw new OrchestraError('NOT_FOUND', `Base commit ${baseCommit} not found in ${worktreePath}`);
  return withTempIndex(worktreePath, async (opts) => {
    const patch = await git(worktreePath, ['diff', '--cached', '--binary', ...DIFF_FLAGS, base], opts);
    const stat = (await git(worktreePath, ['diff', '--cached', '--stat', ...DIFF_FLAGS, base], opts)).trimEnd();
    const names = await git(worktreePath, ['diff', '--cached', '--name-only', '-z', ...DIFF_FLAGS, base], opts);
    const files = names.split('\0').filter(Boolean).sort();
    return { patch, stat, files };
  });
}

/** Uncommitted changes in the worktree, untracked files included (ignored files excluded). */
export async function hasChanges(worktreePath: string): Promise<boolean> {
  const out = await git(worktreePath, ['status', '--porcelain=v1', '--untracked-files=all', '--ignore-submodules=none']);
  return out.trim().length > 0;
}

/** Paths with uncommitted changes (porcelain v1, untracked included). */
export async function changedFiles(worktreePath: string): Promise<string[]> {
  const out = await git(worktreePath, ['status', '--porcelain=v1', '-z', '--untracked-files=all']);
  const entries = out.split('\0');
  const files: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.length < 4) continue;
    files.push(e.slice(3));
    if (e[0] === 'R' || e[0] === 'C') i++; // next entry is the old name
  }
  return files.sort();
}
