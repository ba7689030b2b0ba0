import { promises as fs, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isTempName } from './fsutil.js';
import { isBlob } from './git-import.js';

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
 * Every regular file under `dir` (relative to root), temp files and their directories skipped.
 * Listed synchronously on purpose: a full scan walks one shard (a few hundred directories) per
 * call, and async listings run on the thread pool, whose per-thread malloc arenas kept ~150 MB of
 * an idle `up`'s memory after a scan of 100,000 tasks.
 */
export async function filesUnder(root: string, dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = (rel: string): void => {
    let entries;
    try {
      entries = readdirSync(join(root, rel), { withFileTypes: true });
    } catch {
      return; // gone, or not a directory: nothing to commit there
    }
    for (const e of entries) {
      if (isTempName(e.name)) continue;
      const path = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(path);
      else if (e.isFile()) found.push(path);
    }
  };
  const top = await fs.lstat(join(root, dir)).catch(() => undefined);
  if (top?.isFile()) return [dir];
  if (top?.isDirectory()) walk(dir);
  return found;
}

/** Record files under `dirs` that the committed tree does not hold. */
export async function newRecordFiles(root: string, dirs: Iterable<string>, committed: Map<string, string>): Promise<string[]> {
  const fresh: string[] = [];
  for (const dir of dirs) for (const path of await filesUnder(root, dir)) if (!committed.has(path)) fresh.push(path);
  return fresh;
}

/** Config paths whose bytes differ from the committed tree's (added or edited), and those removed. */
export async function configChanges(root: string, configPaths: readonly string[], committed: Map<string, string>): Promise<{ changed: string[]; removed: string[] }> {
  const onDisk = new Set<string>();
  const changed: string[] = [];
  for (const top of configPaths) {
    for (const path of await filesUnder(root, top)) {
      onDisk.add(path);
      const bytes = await fs.readFile(join(root, path)).catch(() => undefined);
      if (bytes && !isBlob(bytes, committed.get(path))) changed.push(path);
    }
  }
  const removed = [...committed.keys()].filter((path) => configPaths.some((top) => path === top || path.startsWith(`${top}/`)) && !onDisk.has(path));
  return { changed, removed };
}
