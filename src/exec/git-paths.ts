/**
 * Where a directory's git metadata lives, read from the files git itself reads (no git process):
 * `<dir>/.git` is either a directory, or a file `gitdir: <path>` (a linked worktree) whose gitdir
 * holds a `commondir` file naming the shared repository (objects, refs, config, hooks).
 *
 * Invariants: every returned path is absolute and real (symlinks resolved) and exists; anything
 * unreadable or malformed yields fewer paths, never an error (the command then just sees no git).
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';

export interface GitPaths {
  /** `<dir>/.git` (a file or a directory), or null when there is none. */
  dotGit: string | null;
  /** The worktree's own gitdir (HEAD, index), when `.git` is a file. */
  gitDir: string | null;
  /** The shared repository: `.git` itself for a plain repo, else the gitdir's commondir. */
  commonDir: string | null;
}

function real(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

function readTrimmed(p: string): string | null {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
}

export function gitPathsOf(dir: string): GitPaths {
  const none: GitPaths = { dotGit: null, gitDir: null, commonDir: null };
  const dotGit = path.join(dir, '.git');
  let isDir: boolean;
  try {
    isDir = statSync(dotGit).isDirectory();
  } catch {
    return none;
  }
  if (isDir) return { dotGit, gitDir: null, commonDir: real(dotGit) };
  const m = /^gitdir:\s*(.+)$/m.exec(readTrimmed(dotGit) ?? '');
  const gitDir = m ? real(path.resolve(dir, m[1]!.trim())) : null;
  if (!gitDir) return { dotGit, gitDir: null, commonDir: null };
  const common = readTrimmed(path.join(gitDir, 'commondir'));
  return { dotGit, gitDir, commonDir: common ? real(path.resolve(gitDir, common)) : gitDir };
}
