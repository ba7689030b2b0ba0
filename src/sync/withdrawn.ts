import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { mkdirp } from '../core/fsutil.js';
import { newId } from '../core/ids.js';
import type { StreamRecord } from '../core/record.js';
import type { Workspace } from '../core/workspace.js';

/**
 * The local log of what sync dropped (spec §20): a record re-decided as invalid on the accepted
 * records, or a non-record file whose path the remote filled with other content first. One JSON
 * file each under .orchestra/sync/withdrawn/ (local state, never committed); `orchestra sync`
 * reports the new ones.
 */
export interface Withdrawn { at: string; path: string; reason: string; recordId?: string; stream?: string; events?: string[] }

export const withdrawnDir = (ws: Workspace) => join(ws.paths.runtime, 'sync', 'withdrawn');

export async function logWithdrawn(ws: Workspace, entry: { path: string; reason: string; record?: StreamRecord; content?: string }): Promise<Withdrawn> {
  const item: Withdrawn = {
    at: new Date().toISOString(),
    path: entry.path,
    reason: entry.reason,
    ...(entry.record ? { recordId: entry.record.id, stream: entry.record.stream, events: entry.record.events.map((e) => e.type) } : {}),
  };
  const dir = withdrawnDir(ws);
  await mkdirp(dir);
  await fs.writeFile(join(dir, `${Date.now()}-${newId()}.json`), JSON.stringify({ ...item, record: entry.record, content: entry.content }, null, 1) + '\n');
  return item;
}

/** Whether a record id was withdrawn here (a claim that never counted). */
export async function wasWithdrawn(ws: Workspace, recordId: string): Promise<boolean> {
  const dir = withdrawnDir(ws);
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const text = await fs.readFile(join(dir, name), 'utf8').catch(() => '');
    if (text.includes(`"recordId": "${recordId}"`)) return true;
  }
  return false;
}

/**
 * The entries logged since the last call (by any process of this clone: `up`'s rounds too), then
 * marks them reported. The checkpoint is the last file name reported (names start with the time).
 */
export async function takeUnreported(ws: Workspace, limit = 1000): Promise<Withdrawn[]> {
  const dir = withdrawnDir(ws);
  const mark = join(ws.paths.runtime, 'sync', 'withdrawn-reported');
  const last = (await fs.readFile(mark, 'utf8').catch(() => '')).trim();
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => /^\d+-[0-9A-Za-z]+\.json$/.test(n) && n > last).sort();
  const out: Withdrawn[] = [];
  for (const name of names.slice(0, limit)) {
    try {
      const { record: _r, content: _c, ...item } = JSON.parse(await fs.readFile(join(dir, name), 'utf8')) as Withdrawn & { record?: unknown; content?: unknown };
      out.push(item);
    } catch {
      // a torn entry: skipped
    }
  }
  if (names.length) await fs.writeFile(mark, names[Math.min(names.length, limit) - 1]!);
  return out;
}
