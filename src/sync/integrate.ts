import { promises as fs } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { createExclusive, mkdirp, TEMP_PREFIX } from '../core/fsutil.js';
import { newId } from '../core/ids.js';
import { CONFIG_PATHS, RECORD_DIRS } from '../core/paths.js';
import { parseRecord, recordFileName, seal, type StreamRecord } from '../core/record.js';
import type { Workspace } from '../core/workspace.js';
import { gitText, readBlobs, runGit } from './git-run.js';
import { isBlob } from '../core/git-import.js';
import { grantsOf, redecide } from './redecide.js';
import { foldTask } from '../core/model/task.js';
import { logWithdrawn, type Withdrawn } from './withdrawn.js';

/**
 * Brings the remote's accepted records into this clone when the remote moved past what this
 * clone holds (spec §20). Preconditions: the caller holds the committer lock, no commit of this
 * process runs and no append of this process is between read and write (Workspace.exclusive).
 *
 * What it does, from the merge base of HEAD and the remote tip R:
 * 1. Every file R added since the base is compared with this clone's file at that path: absent
 *    -> written; same bytes -> nothing; different bytes -> a conflict. A conflicting record file
 *    means the remote took a stream position this clone also wrote: every local record of that
 *    stream from that position on is withdrawn (read before anything is overwritten).
 * 2. HEAD and the index become R (a compare-and-swap on HEAD): local commits were never accepted,
 *    their record files stay on disk and are committed again on top of R, unchanged.
 * 3. R's files are written (atomically, by rename); withdrawn positions R did not fill are removed.
 * 4. Each withdrawn record is re-decided on the accepted stream (redecide.ts): valid ones are
 *    renumbered at the tail (new seq, new prev, same id and content, re-sealed), invalid ones are
 *    logged under .orchestra/sync/withdrawn/ and dropped.
 * A record R holds is never changed, so accepted history only grows. Never a merge commit.
 */
export interface Integration {
  /** Files taken from the remote. */
  received: number;
  /** Streams whose records changed here (for signals and cache drops). */
  streams: Set<string>;
  renumbered: number;
  withdrawn: Withdrawn[];
}

const EVENT_FILE = /^(.+)\/events\/(\d{10})\.json$/;
/** A task's directory, flat (`tasks/<id>`) or sharded (`tasks/<xx>/<id>`, the lead's layout): its stream is `tasks/<id>`. */
const TASK_DIR = /^tasks\/(?:[0-9a-f]{2}\/)?([0-9A-Za-z]{3,64})\//;

/** The stream a record file path belongs to, and its seq; undefined for any other file. */
function streamOfPath(path: string): { stream: string; seq: number } | undefined {
  const m = EVENT_FILE.exec(path);
  if (!m) return undefined;
  const task = TASK_DIR.exec(path);
  return { stream: task ? `tasks/${task[1]}` : m[1]!, seq: Number(m[2]) };
}
const inDirs = (path: string, dirs: readonly string[]) => dirs.some((d) => path === d || path.startsWith(`${d}/`));

interface Added { path: string; blob: string; config: boolean; baseBlob?: string }

export async function integrate(ws: Workspace, remoteTip: string, head: string): Promise<Integration> {
  const root = ws.paths.root;
  const mergeBase = await runGit(root, ['merge-base', head, remoteTip]);
  if (mergeBase.code !== 0) {
    throw new OrchestraError('SYNC_DIVERGED', 'the remote holds the history of another workspace (no common commit); join it with "orchestra join URL DIR" instead');
  }
  const base = mergeBase.stdout.toString('utf8').trim();
  const added = await changedSince(root, base, remoteTip);
  const result: Integration = { received: 0, streams: new Set(), renumbered: 0, withdrawn: [] };

  // 1. Compare, and note the first conflicting position of each stream.
  const toWrite: Added[] = [];
  const firstConflict = new Map<string, number>();
  for (const entry of added) {
    const local = await readLocal(join(root, entry.path));
    if (local && isBlob(local, entry.blob)) continue;
    toWrite.push(entry);
    if (!local) continue;
    const event = streamOfPath(entry.path);
    if (event) {
      firstConflict.set(event.stream, Math.min(event.seq, firstConflict.get(event.stream) ?? event.seq));
    } else if (!(entry.config && isBlob(local, entry.baseBlob))) {
      // Not a numbered record (a plan file, a blob, config edited on both sides): R's copy wins.
      result.withdrawn.push(await logWithdrawn(ws, { path: entry.path, reason: 'the remote accepted other content at this path first', content: local.toString('utf8') }));
    }
  }
  const withdrawn = new Map<string, StreamRecord[]>();
  for (const [stream, from] of firstConflict) withdrawn.set(stream, await localRecordsFrom(ws, stream, from, result));

  // 2. HEAD and index become R; the local files stay. Those of local commits are no longer in HEAD:
  // the journal is told exactly which, so its next commit adds them again (no listing).
  const localOnly = (await runGit(root, ['diff', '--name-only', '-z', '--no-renames', base, head, '--', ...RECORD_DIRS])).stdout.toString('utf8').split('\0').filter(Boolean);
  for (const path of localOnly) ws.journal.markFile(join(root, path));
  await gitText(root, ['read-tree', remoteTip]);
  await gitText(root, ['update-ref', '-m', 'orchestra: sync', 'HEAD', remoteTip, head]);

  // 3. R's files in place; withdrawn positions left over are removed.
  const blobs = await readBlobs(root, [...new Set(toWrite.map((e) => e.blob))]);
  for (const entry of toWrite) {
    const bytes = blobs.get(entry.blob);
    if (!bytes) throw new OrchestraError('GIT_ERROR', `the fetched remote lacks the content of ${entry.path}`);
    await replaceFile(join(root, entry.path), bytes);
    result.received++;
    const event = streamOfPath(entry.path);
    if (event) result.streams.add(event.stream);
  }
  const remoteFiles = new Set(toWrite.map((e) => join(root, e.path)));
  for (const [stream, records] of withdrawn) {
    for (const r of records) {
      const file = join(ws.paths.streamDir(stream), recordFileName(r.seq));
      if (!remoteFiles.has(file)) await fs.unlink(file).catch(() => undefined);
    }
  }
  ws.store.forgetAll();

  // 4. Re-decide each withdrawn record on the accepted stream, in order.
  for (const [stream, records] of withdrawn) {
    result.streams.add(stream);
    // What each withdrawn record was decided on: the records both sides share, then the local ones.
    const local = (await ws.store.read(stream)).records.filter((r) => r.seq < firstConflict.get(stream)!);
    for (const record of records) {
      const state = await ws.store.read(stream);
      const view = stream.startsWith('tasks/') ? await ws.findTask(stream.slice('tasks/'.length)) : undefined;
      const decidedOn = stream.startsWith('tasks/') ? foldTask(local) : undefined;
      local.push(record);
      const verdict = redecide(view, grantsOf(state.records), record, decidedOn);
      if (!verdict.ok) {
        result.withdrawn.push(await logWithdrawn(ws, { path: relative(root, join(ws.paths.streamDir(stream), recordFileName(record.seq))), reason: verdict.reason, record }));
        continue;
      }
      ws.journal.markFile(await renumber(ws, stream, record));
      result.renumbered++;
    }
  }
  ws.store.forgetAll();
  return result;
}

/** Files R added (records) or changed (config) since the base, with their blob ids. */
async function changedSince(root: string, base: string, tip: string): Promise<Added[]> {
  const raw = (await runGit(root, ['diff', '--raw', '-z', '--no-renames', '--no-abbrev', base, tip, '--', ...RECORD_DIRS, ...CONFIG_PATHS])).stdout.toString('utf8');
  const parts = raw.split('\0');
  const out: Added[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const m = /^:(\d+) (\d+) ([0-9a-f]+) ([0-9a-f]+) ([A-Z])/.exec(parts[i]!);
    const path = parts[i + 1]!;
    // Paths come from another machine: no temp names, no climbing out, nothing under a .git.
    if (!m || path.split('/').some((p) => p.startsWith(TEMP_PREFIX) || p === '..' || p === '.' || p === '' || p.toLowerCase() === '.git')) continue;
    const config = inDirs(path, CONFIG_PATHS);
    // Records are add-only: a remote commit that modifies or deletes one is not taken (verify reports it).
    if (m[5] === 'A' || (config && m[5] === 'M')) out.push({ path, blob: m[4]!, config, ...(m[5] === 'M' ? { baseBlob: m[3]! } : {}) });
  }
  return out;
}

async function readLocal(path: string): Promise<Buffer | undefined> {
  try {
    const st = await fs.lstat(path);
    if (!st.isFile()) return Buffer.alloc(0); // a link or FIFO planted under a record name: replaced
    return await fs.readFile(path);
  } catch {
    return undefined;
  }
}

/** The local records of `stream` from seq `from` on, as files on disk (unaccepted by definition here). */
async function localRecordsFrom(ws: Workspace, stream: string, from: number, result: Integration): Promise<StreamRecord[]> {
  const dir = ws.paths.streamDir(stream);
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => /^\d{10}\.json$/.test(n)).sort();
  const records: StreamRecord[] = [];
  for (const name of names) {
    const seq = Number(name.slice(0, 10));
    if (seq < from) continue;
    const bytes = await readLocal(join(dir, name));
    const parsed = bytes ? parseRecord(bytes.toString('utf8'), seq) : { ok: false as const, reason: 'unreadable' };
    if (parsed.ok) records.push(parsed.record);
    else result.withdrawn.push(await logWithdrawn(ws, { path: relative(ws.paths.root, join(ws.paths.streamDir(stream), name)), reason: `unreadable local record: ${parsed.reason}`, content: bytes?.toString('utf8') ?? '' }));
  }
  return records;
}

/** Appends `record` at the stream's tail with a new seq and prev; id, time, actor and events unchanged. */
/** Writes the record at the stream's tail; returns the file's path. */
async function renumber(ws: Workspace, stream: string, record: StreamRecord): Promise<string> {
  for (let tries = 0; tries < 1000; tries++) {
    const state = await ws.store.read(stream);
    const { sum: _sum, ...rest } = record;
    const moved = seal({ ...rest, seq: state.lastSeq + 1, prev: state.tailHash });
    const text = JSON.stringify(moved, null, 1) + '\n';
    const path = join(ws.paths.streamDir(stream), recordFileName(moved.seq));
    if (await createExclusive(path, text, { fsync: ws.config.fsync })) return path;
    ws.store.forget(stream); // another process of this clone appended there meanwhile: go after it
  }
  throw new OrchestraError('CONFLICT', `stream ${stream} is too busy to renumber record ${record.id}`);
}

/** Replaces a file by rename, so no reader ever sees it half-written. */
async function replaceFile(path: string, bytes: Buffer): Promise<void> {
  await mkdirp(dirname(path));
  const temp = join(dirname(path), `${TEMP_PREFIX}${newId()}`);
  await fs.writeFile(temp, bytes);
  await fs.rename(temp, path);
}

