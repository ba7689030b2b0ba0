import { lstatSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { filesUnder } from './commit-scope.js';
import { readFileSafe, writeAtomic } from './fsutil.js';
import { isTaskShard, RECORD_DIRS, type WorkspacePaths } from './paths.js';
import { timeSlicer } from './time-slice.js';

/**
 * The committer's safety-net scan: record files on disk that the last commit lacks (a writer
 * killed between its write and its commit or note). It reads only directories changed since the
 * last completed scan began, less SCAN_SLACK_MS; it reads every directory (a deep scan) when no
 * scan is on record, the record is unreadable or from the future, the last deep scan is
 * DEEP_SCAN_MS old, or the commit the last scan saw is no longer in HEAD's history (sync
 * integration, a reset or a restored .git moved HEAD: files committed then may be missing now).
 *
 * Invariants: the scan's start is read from the filesystem's clock (the one that stamps the
 * directories), never the process's; the record is written only after the scan was complete
 * (every directory it had to read was read) and its commit made.
 */

/** How often a running committer scans. */
export const SCAN_EVERY_MS = 10 * 60_000;
const SCAN_SLACK_MS = 10 * 60_000;
const DEEP_SCAN_MS = 24 * 60 * 60_000;
/** `.orchestra/journal-scan.json`: `{since, deepAt, head}` of the last completed scan. */
const SCAN_RECORD = 'journal-scan.json';
const CLOCK_PROBE = 'journal-scan.clock';
/** Git is asked about exactly the files found while they are at most this many (else the unit). */
const EXACT_PATHS_MAX = 1000;

export interface ScanPlan {
  /** When this scan began, on the filesystem's clock. */
  startedAt: number;
  /** Read only directories changed since then; undefined: a deep scan. */
  changedSince?: number;
  /** When the last deep scan began (this one's start if it is deep). */
  deepAt: number;
}

interface ScanRecord { since: number; deepAt: number; head: string }

/** Lists a commit's files under the given paths: `path -> blob`. */
export type TreeLister = (parent: string, paths: string[]) => Promise<Map<string, string>>;
/** True when `ancestor` is in the history of `head`. */
export type AncestryCheck = (ancestor: string, head: string) => Promise<boolean>;

/** The filesystem's "now": the mtime of a file written to the runtime directory. */
export function filesystemNow(paths: WorkspacePaths): number {
  const probe = join(paths.runtime, CLOCK_PROBE);
  writeFileSync(probe, '');
  return statSync(probe).mtimeMs;
}

/** What the next scan must read, from the record of the last one. */
export async function planScan(paths: WorkspacePaths, head: string, isAncestor: AncestryCheck): Promise<ScanPlan> {
  const startedAt = filesystemNow(paths);
  const saved = await readScanRecord(paths);
  const usable = saved !== undefined && head !== '' && saved.since <= startedAt && startedAt - saved.deepAt < DEEP_SCAN_MS
    && (saved.head === head || (await isAncestor(saved.head, head).catch(() => false)));
  return usable ? { startedAt, changedSince: saved.since - SCAN_SLACK_MS, deepAt: saved.deepAt } : { startedAt, deepAt: startedAt };
}

/** The start of the last completed scan (for scheduling), if one is on record. */
export async function lastScanStart(paths: WorkspacePaths): Promise<number | undefined> {
  return (await readScanRecord(paths))?.since;
}

async function readScanRecord(paths: WorkspacePaths): Promise<ScanRecord | undefined> {
  try {
    const saved = JSON.parse((await readFileSafe(join(paths.runtime, SCAN_RECORD))) ?? '') as Partial<ScanRecord>;
    if (typeof saved.since === 'number' && typeof saved.deepAt === 'number' && typeof saved.head === 'string') return saved as ScanRecord;
  } catch {
    // none yet, unreadable or damaged: a deep scan
  }
  return undefined;
}

/** Records a completed scan; `head` is the commit that holds everything it found. */
export async function saveScanRecord(paths: WorkspacePaths, plan: ScanPlan, head: string): Promise<void> {
  await writeAtomic(join(paths.runtime, SCAN_RECORD), JSON.stringify({ since: plan.startedAt, deepAt: plan.deepAt, head })).catch(() => undefined);
}

/**
 * Record files on disk that `parent` lacks, compared one unit at a time (each task shard, each
 * other record directory) so that neither side is ever held whole in memory; git is asked only
 * about units where a file was found. `complete` is false when a directory could not be read.
 */
export async function uncommittedFiles(paths: WorkspacePaths, parent: string, plan: ScanPlan, listTree: TreeLister): Promise<{ files: string[]; complete: boolean }> {
  const found: string[] = [];
  let complete = true;
  const pause = timeSlicer();
  const { units, linkCountsHold } = scanUnits(paths);
  for (const unit of units) {
    const files = await filesUnder(paths.root, unit, {
      ...(plan.changedSince !== undefined ? { changedSince: plan.changedSince } : {}),
      trustLinkCounts: linkCountsHold,
      pause,
      onError: () => (complete = false),
    });
    if (files.length === 0) continue;
    const committed = parent ? await listTree(parent, files.length <= EXACT_PATHS_MAX ? files : [unit]) : new Map<string, string>();
    for (const f of files) if (!committed.has(f)) found.push(f);
  }
  return { files: found, complete };
}

/**
 * The units a scan compares one by one: each task shard and each other record directory (a
 * workspace made before shards is compared as one `tasks`). Whether this filesystem counts
 * subdirectories in a directory's link count is checked on tasks/ itself (btrfs says 1, some
 * network filesystems always 2): only then does the walk trust link counts.
 */
function scanUnits(paths: WorkspacePaths): { units: string[]; linkCountsHold: boolean } {
  let entries: Array<{ name: string; dir: boolean }> = [];
  try {
    entries = readdirSync(paths.tasks, { withFileTypes: true }).map((e) => ({ name: e.name, dir: e.isDirectory() }));
  } catch {
    // no tasks/ yet
  }
  const names = entries.map((e) => e.name).filter((n) => !n.startsWith('.'));
  const tasks = names.every(isTaskShard) ? names.map((n) => `tasks/${n}`) : ['tasks'];
  let nlink: number | undefined;
  try {
    nlink = lstatSync(paths.tasks, { throwIfNoEntry: false })?.nlink;
  } catch {
    // unreadable: link counts are not trusted
  }
  const linkCountsHold = nlink === 2 + entries.filter((e) => e.dir).length;
  return { units: [...tasks, ...RECORD_DIRS.filter((d) => d !== 'tasks')], linkCountsHold };
}
