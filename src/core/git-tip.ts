import { join } from 'node:path';
import { isObjectId } from './ids.js';
import { readRegularFileSync } from './safe-read.js';

/**
 * The workspace branch and its tip, read from the files under .git instead of from a git process
 * (a one-shot CLI write starts four; this is one of them).
 * Only the plain layout is understood: .git a directory, HEAD a symbolic ref to refs/heads/<name>,
 * that ref a loose file or a line of packed-refs. Anything else (detached HEAD, an unborn branch,
 * reftable, a .git file, a link, a torn or oversized file) answers undefined and the caller asks git.
 * Invariant: a wrong answer cannot lose a commit: fast-import refuses to move a branch to a commit
 * that does not contain the branch's current tip, so a stale tip fails the commit, which is retried.
 */
export interface BranchTip {
  /** Full ref name, `refs/heads/<name>`. */
  branch: string;
  commit: string;
}

/** A branch name git could have made: no `..`, no control characters, no trailing `.lock`. */
const BRANCH_REF = /^refs\/heads\/(?!.*\.\.)(?!.*\.lock$)[^\0-\x20~^:?*[\\\x7f]+$/;
const SMALL_FILE = 4096;
const PACKED_REFS_CAP = 1024 * 1024;

export function readBranchTip(root: string): BranchTip | undefined {
  const gitDir = join(root, '.git');
  const head = readText(join(gitDir, 'HEAD'), SMALL_FILE)?.match(/^ref: (\S+)\n?$/)?.[1];
  if (!head || !BRANCH_REF.test(head)) return undefined;
  const loose = readText(join(gitDir, ...head.split('/')), SMALL_FILE);
  const commit = loose !== undefined ? loose.trim() : packedRef(gitDir, head);
  return commit && isObjectId(commit) ? { branch: head, commit } : undefined;
}

/** The id packed-refs gives `ref`, if the file is there and names it. */
function packedRef(gitDir: string, ref: string): string | undefined {
  const text = readText(join(gitDir, 'packed-refs'), PACKED_REFS_CAP);
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0 && line.slice(space + 1) === ref) return line.slice(0, space);
  }
  return undefined;
}

function readText(path: string, maxBytes: number): string | undefined {
  const read = readRegularFileSync(path, maxBytes);
  return read.ok ? read.bytes.toString('utf8') : undefined;
}
