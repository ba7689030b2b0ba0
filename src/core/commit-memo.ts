import { join } from 'node:path';
import { writeAtomic } from './fsutil.js';
import { isObjectId } from './ids.js';
import type { WorkspacePaths } from './paths.js';
import { readRegularFileSync } from './safe-read.js';

/**
 * What the journal remembers of the last commit it made: the commit's id and the blob id of every
 * config file in its tree (orchestra.json, ai/). The next commit needs those blobs to see whether
 * the config changed; with the memo it does not ask `git ls-tree` for them.
 * Invariant: the memo is used only while the branch tip is exactly its commit, and a commit's
 * tree never changes, so a memo is either right or ignored. It is local state (.orchestra/), never
 * committed; a missing, torn or malformed memo reads as none.
 */
export interface CommitMemo {
  commit: string;
  /** Config path (relative, '/'-separated) -> blob id, for every config file in the commit. */
  config: Map<string, string>;
}

/** Config is a handful of files; a memo past this size was not written by the journal. */
const MEMO_CAP = 256 * 1024;

const memoPath = (paths: WorkspacePaths) => join(paths.runtime, 'last-commit.json');

/** The memo if it is there, well formed, and about `commit`; undefined otherwise. */
export function readCommitMemo(paths: WorkspacePaths, commit: string): CommitMemo | undefined {
  const read = readRegularFileSync(memoPath(paths), MEMO_CAP);
  if (!read.ok) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(read.bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { commit: memoCommit, config } = raw as { commit?: unknown; config?: unknown };
  if (memoCommit !== commit || typeof config !== 'object' || config === null || Array.isArray(config)) return undefined;
  const blobs = new Map<string, string>();
  for (const [path, id] of Object.entries(config)) {
    if (typeof id !== 'string' || !isObjectId(id)) return undefined;
    blobs.set(path, id);
  }
  return { commit, config: blobs };
}

/** Replaces the memo (temp + rename: a reader sees the old one or the new one). */
export async function writeCommitMemo(paths: WorkspacePaths, memo: CommitMemo): Promise<void> {
  await writeAtomic(memoPath(paths), JSON.stringify({ commit: memo.commit, config: Object.fromEntries(memo.config) }));
}
