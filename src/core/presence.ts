import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readdirSafe, writeAtomic } from './fsutil.js';
import type { WorkspacePaths } from './paths.js';
import { readRegularFileSync } from './safe-read.js';

/**
 * Who is running loops on this workspace: each `orchestra up` touches
 * `.orchestra/up/<host>-<pid>.json` (its loops and the time) every few seconds and removes it
 * when it stops. A file not touched for `STALE_INTERVALS` of its own interval belongs to a process
 * that is gone (killed, or its machine asleep). Ephemeral, like the rest of `.orchestra/`: never a
 * record, only a hint for the adapters (the web page's "no orchestra up is running" banner).
 */
export interface Presence {
  host: string;
  pid: number;
  loops: string[];
  startedAt: string;
  /** Last touched. */
  at: string;
  intervalMs: number;
}

export const PRESENCE_INTERVAL_MS = 5_000;
export const STALE_INTERVALS = 3;
const MAX_FILE_BYTES = 16 * 1024;

export const presenceDir = (paths: WorkspacePaths) => join(paths.runtime, 'up');

const safeHost = () => hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || 'host';

/** Starts touching this process's presence file; `stop()` removes it. Write failures are only logged by the caller. */
export async function startPresence(
  paths: WorkspacePaths,
  loops: string[],
  opts: { intervalMs?: number; onError?: (err: unknown) => void } = {},
): Promise<{ file: string; stop: () => Promise<void> }> {
  const intervalMs = opts.intervalMs ?? PRESENCE_INTERVAL_MS;
  const host = safeHost();
  const file = join(presenceDir(paths), `${host}-${process.pid}.json`);
  const startedAt = new Date().toISOString();
  let writing: Promise<void> = Promise.resolve();
  let stopped = false;
  const touch = () => {
    writing = writing.then(async () => {
      if (stopped) return;
      const p: Presence = { host, pid: process.pid, loops, startedAt, at: new Date().toISOString(), intervalMs };
      await writeAtomic(file, JSON.stringify(p) + '\n');
    }).catch((err) => opts.onError?.(err));
    return writing;
  };
  await touch();
  const timer = setInterval(touch, intervalMs);
  timer.unref();
  return {
    file,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await writing;
      await fs.rm(file, { force: true }).catch((err) => opts.onError?.(err));
    },
  };
}

function parse(text: string): Presence | undefined {
  try {
    const p = JSON.parse(text) as Partial<Presence>;
    if (typeof p.host !== 'string' || typeof p.pid !== 'number' || !Array.isArray(p.loops) || typeof p.at !== 'string') return undefined;
    const intervalMs = typeof p.intervalMs === 'number' && p.intervalMs > 0 ? Math.min(p.intervalMs, 600_000) : PRESENCE_INTERVAL_MS;
    return {
      host: p.host.slice(0, 100), pid: p.pid, loops: p.loops.filter((l): l is string => typeof l === 'string').slice(0, 50),
      startedAt: typeof p.startedAt === 'string' ? p.startedAt : p.at, at: p.at, intervalMs,
    };
  } catch {
    return undefined;
  }
}

/** The `orchestra up` processes seen running now: presence files touched within their stale limit. */
export async function runningUps(paths: WorkspacePaths, now = Date.now()): Promise<Presence[]> {
  const dir = presenceDir(paths);
  const found: Presence[] = [];
  for (const name of await readdirSafe(dir)) {
    if (!name.endsWith('.json')) continue;
    const read = readRegularFileSync(join(dir, name), MAX_FILE_BYTES);
    if (!read.ok) continue;
    const p = parse(read.bytes.toString('utf8'));
    if (!p) continue;
    const at = Date.parse(p.at);
    if (Number.isFinite(at) && now - at <= STALE_INTERVALS * p.intervalMs) found.push(p);
  }
  return found;
}

/** True when some running `orchestra up` runs the intake loop, so inbox files get taken up. */
export async function intakeRunning(paths: WorkspacePaths, now = Date.now()): Promise<boolean> {
  return (await runningUps(paths, now)).some((p) => p.loops.includes('intake'));
}
