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
  await clearDeadPresences(paths).catch((err) => opts.onError?.(err));
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

/** A presence file as read: `stale` when not touched within its stale limit (the process stopped heartbeating). */
export interface PresenceSeen extends Presence {
  file: string;
  ageMs: number;
  stale: boolean;
}

/** Every presence file, fresh or stale (at most `limit`, unreadable ones skipped). */
export async function readPresences(paths: WorkspacePaths, now = Date.now(), limit = 1000): Promise<PresenceSeen[]> {
  const dir = presenceDir(paths);
  const found: PresenceSeen[] = [];
  for (const name of await readdirSafe(dir)) {
    if (!name.endsWith('.json') || found.length >= limit) continue;
    const read = readRegularFileSync(join(dir, name), MAX_FILE_BYTES);
    if (!read.ok) continue;
    const p = parse(read.bytes.toString('utf8'));
    if (!p) continue;
    const at = Date.parse(p.at);
    const ageMs = Number.isFinite(at) ? Math.max(0, now - at) : Number.POSITIVE_INFINITY;
    found.push({ ...p, file: name, ageMs, stale: ageMs > STALE_INTERVALS * p.intervalMs });
  }
  return found;
}

/** The `orchestra up` processes seen running now: presence files touched within their stale limit. */
export async function runningUps(paths: WorkspacePaths, now = Date.now()): Promise<Presence[]> {
  return (await readPresences(paths, now)).filter((p) => !p.stale).map(({ file: _f, ageMs: _a, stale: _s, ...p }) => p);
}

/**
 * Removes this host's presence files whose process is gone (a killed `up`): a new `up` on the
 * same host clears them, so "an up stopped heartbeating" ends when it is restarted.
 */
export async function clearDeadPresences(paths: WorkspacePaths): Promise<string[]> {
  const host = safeHost();
  const removed: string[] = [];
  for (const p of await readPresences(paths)) {
    if (p.host !== host || p.pid === process.pid || p.file !== `${host}-${p.pid}.json` || pidAlive(p.pid)) continue;
    await fs.rm(join(presenceDir(paths), p.file), { force: true }).catch(() => undefined);
    removed.push(p.file);
  }
  return removed;
}

/** True when a process with this pid runs on this host (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when some running `orchestra up` runs the intake loop, so inbox files get taken up. */
export async function intakeRunning(paths: WorkspacePaths, now = Date.now()): Promise<boolean> {
  return (await runningUps(paths, now)).some((p) => p.loops.includes('intake'));
}
