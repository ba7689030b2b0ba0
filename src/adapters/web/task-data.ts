import { promises as fs } from 'node:fs';
import { resolve } from 'node:path';
import type { TaskView } from '../../core/model/task.js';
import type { StreamRecord } from '../../core/record.js';
import type { Workspace } from '../../core/workspace.js';

/** What the task page shows, read from the workspace: the view, its records and its files. */
const MAX_SHOWN_BYTES = 256 * 1024;

export interface ShownFile { rel: string; text: string; truncated: boolean; missing: boolean }

/** Reads a record file of this task (never anything outside the task's directory), capped in size. */
export async function readTaskFile(ws: Workspace, taskId: string, rel: string, max = MAX_SHOWN_BYTES): Promise<ShownFile> {
  const base = resolve(ws.paths.taskDir(taskId)) + '/';
  const full = resolve(ws.paths.root, rel);
  if (!full.startsWith(base)) return { rel, text: '', truncated: false, missing: true };
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(full, 'r');
    const size = (await handle.stat()).size;
    const buf = Buffer.alloc(Math.min(size, max));
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return { rel, text: buf.subarray(0, bytesRead).toString('utf8'), truncated: size > max, missing: false };
  } catch {
    return { rel, text: '', truncated: false, missing: true };
  } finally {
    await handle?.close();
  }
}

export interface TaskPageData {
  view: TaskView;
  records: StreamRecord[];
  plans: Map<number, ShownFile>;
  tests: Map<number, ShownFile>;
  diff?: ShownFile;
}

export async function loadTaskPage(ws: Workspace, id: string): Promise<TaskPageData | undefined> {
  const view = await ws.findTask(id);
  if (!view) return undefined;
  const { records } = await ws.readStream(`tasks/${id}`);
  const plans = new Map<number, ShownFile>();
  for (const p of view.dev.plans) plans.set(p.version, await readTaskFile(ws, id, p.file));
  const tests = new Map<number, ShownFile>();
  for (const r of view.dev.testRuns) tests.set(r.run, await readTaskFile(ws, id, r.file, 64 * 1024));
  const diff = view.dev.diffFile ? await readTaskFile(ws, id, view.dev.diffFile) : undefined;
  return { view, records, plans, tests, diff };
}

/** The name of a record file of this task that `/tasks/<id>/records/<name>` serves. */
export const RECORD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$/;

/** `/tasks/<id>/records/<name>` for a record file of this task, if it is one. */
export function rawHref(taskId: string, rel: string): string | undefined {
  // tasks/<shard>/<id>/records/<name>, or tasks/<id>/records/<name> in a workspace made before shards
  const parts = rel.split('/');
  const at = parts[0] === 'tasks' ? parts.indexOf(taskId) : -1;
  if ((at !== 1 && at !== 2) || parts.length !== at + 3 || parts[at + 1] !== 'records') return undefined;
  const name = parts[at + 2]!;
  return RECORD_NAME.test(name) ? `/tasks/${encodeURIComponent(taskId)}/records/${encodeURIComponent(name)}` : undefined;
}
