import { promises as fs, lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { isTempName } from './fsutil.js';
import { isBlob } from './git-import.js';
import type { Pause } from './time-slice.js';

/**
 * What the next workspace commit holds, found by comparing the disk with the last commit's tree
 * (never with git's index, whose size is the whole workspace): record files under the looked-at
 * directories that the tree lacks, and config files added, edited or removed.
 * Only regular files count (a planted link or FIFO is never committed); temp files never do.
 */

/** Parses `git ls-tree -r -z` output: `<mode> <type> <sha>\t<path>` entries. */
export function parseLsTree(out: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of out.split('\0')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const [, , sha] = line.slice(0, tab).split(' ');
    if (sha) entries.set(line.slice(tab + 1), sha);
  }
  return entries;
}

/**
 * How a walk looks: `changedSince` (ms, on the filesystem's clock) skips the files of directories
 * not changed since then (neither mtime nor ctime: their entries are the same as then, so a scan
 * made since saw those files); `trustLinkCounts` lets a directory's link count say how many
 * subdirectories it has (the caller checked that this filesystem counts them); `pause` lets the
 * event loop turn between directories (see time-slice.ts); `onError` hears of a directory that
 * could not be read for any reason but its absence (the walk is then incomplete).
 */
export interface WalkOptions {
  changedSince?: number;
  trustLinkCounts?: boolean;
  pause?: Pause;
  onError?: (path: string, err: unknown) => void;
}

/** The one subdirectory a task directory usually has: looked up by name instead of listing. */
const USUAL_SUBDIR = 'events';
const ABSENT = new Set(['ENOENT', 'ENOTDIR']);

/**
 * Every regular file under `dir` (relative to root), temp files and their directories skipped.
 * Listed synchronously on purpose, one directory per step: async listings run on the thread
 * pool, whose per-thread malloc arenas kept ~150 MB of an idle `up`'s memory after a scan of
 * 100,000 tasks. With `changedSince` and `trustLinkCounts`, an unchanged directory is not listed
 * at all when its link count shows no subdirectory (2), or exactly one that is `events` (3):
 * 100,000 unchanged tasks cost two lstats each instead of two listings.
 */
export async function filesUnder(root: string, dir: string, opts: WalkOptions = {}): Promise<string[]> {
  const found: string[] = [];
  const since = opts.changedSince;
  const statOf = (rel: string): Stats | undefined => {
    try {
      return lstatSync(join(root, rel), { throwIfNoEntry: false });
    } catch {
      return undefined; // unreadable: listed (and its error reported) below
    }
  };
  const walk = async (rel: string, st: Stats | undefined): Promise<void> => {
    await opts.pause?.();
    const recent = since === undefined || st === undefined || Math.max(st.mtimeMs, st.ctimeMs) >= since;
    if (!recent && opts.trustLinkCounts) {
      if (st!.nlink === 2) return;
      if (st!.nlink === 3) {
        const only = `${rel}/${USUAL_SUBDIR}`;
        const sub = statOf(only);
        if (sub?.isDirectory()) return walk(only, sub);
      }
    }
    let entries;
    try {
      entries = readdirSync(join(root, rel), { withFileTypes: true });
    } catch (err) {
      if (!ABSENT.has((err as NodeJS.ErrnoException).code ?? '')) opts.onError?.(rel, err);
      return; // gone, or not a directory: nothing to commit there
    }
    for (const e of entries) {
      if (isTempName(e.name)) continue;
      const path = `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(path, since === undefined ? undefined : statOf(path));
      else if (e.isFile() && recent) found.push(path);
    }
  };
  const top = await fs.lstat(join(root, dir)).catch(() => undefined);
  if (top?.isFile()) return [dir];
  if (top?.isDirectory()) await walk(dir, top);
  return found;
}

/**
 * Config paths whose bytes differ from the committed tree's (added or edited), those removed, and
 * the committed blob ids the next commit keeps as they are (unchanged files, and unreadable ones),
 * which the journal remembers with the ids of what it commits (commit-memo.ts).
 */
export async function configChanges(root: string, configPaths: readonly string[], committed: Map<string, string>): Promise<{ changed: string[]; removed: string[]; kept: Map<string, string> }> {
  const kept = new Map<string, string>();
  const onDisk = new Set<string>();
  const changed: string[] = [];
  for (const top of configPaths) {
    for (const path of await filesUnder(root, top)) {
      onDisk.add(path);
      const bytes = await fs.readFile(join(root, path)).catch(() => undefined);
      const was = committed.get(path);
      if (bytes && !isBlob(bytes, was)) changed.push(path);
      else if (was) kept.set(path, was); // unchanged, or unreadable now: the commit keeps what it had
    }
  }
  const isConfig = (path: string) => configPaths.some((top) => path === top || path.startsWith(`${top}/`));
  const removed = [...committed.keys()].filter((path) => isConfig(path) && !onDisk.has(path));
  return { changed, removed, kept };
}
