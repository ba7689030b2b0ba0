/** Temp workspaces with short timings, record readers and polling helpers for the core tests. */
import { isTaskShard, WorkspacePaths } from '../../src/core/paths.js';
import { execFileSync } from 'node:child_process';
import { reapUnder } from './reaper.js';
import { scaled } from './timeouts.js';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { initWorkspace } from '../../src/app/setup.js';
import type { Actor } from '../../src/core/actor.js';
import { RECORD_FILE, type StreamRecord } from '../../src/core/record.js';
import { Workspace } from '../../src/core/workspace.js';

process.env.ORCHESTRA_LOG = 'silent';

export const testActor: Actor = { kind: 'system', name: 'test', pid: process.pid };

/** Short loop timings; durability off unless a test is about it. */
export const FAST_CONFIG = {
  defaultWorkstream: 'default',
  loops: { scanIntervalMs: 200, leaseTtlMs: 1500, settleMs: 50 },
  git: { commitIntervalMs: 200 },
  fsync: false,
};

type Cleanup = { after: (fn: () => void | Promise<void>) => void };

/**
 * Waits (up to 60 s) until no `git gc --auto` that a commit detached is running in a repository
 * under `dir` (git holds `.git/gc.pid` meanwhile): removing the directory under it fails.
 */
export async function gcFinished(dir: string): Promise<void> {
  const pidFiles = () => {
    const found: string[] = [];
    for (const sub of ['', ...readdirSync(dir)]) {
      const file = join(dir, sub, '.git', 'gc.pid');
      if (existsSync(file)) found.push(file);
    }
    return found;
  };
  const until = Date.now() + 60_000;
  while (pidFiles().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
}

/** A fresh temp dir removed after the test. */
export function tempDir(t: Cleanup, prefix = 'orchestra-core-'): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  // Processes still working in it die first; retries: git may still be writing in a background
  // `gc --auto` after a large commit.
  t.after(async () => {
    await reapUnder(dir);
    await gcFinished(dir);
    rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 200 });
  });
  return dir;
}

/**
 * An initialised workspace (git repo, default + dev workstreams) whose orchestra.json holds
 * FAST_CONFIG merged with `overrides` (one level deep). Returns it opened in this process.
 */
export async function makeWorkspace(t: Cleanup, overrides: Record<string, unknown> = {}): Promise<Workspace> {
  const root = join(tempDir(t), 'ws');
  mkdirSync(root, { recursive: true });
  const config: Record<string, unknown> = { ...FAST_CONFIG };
  for (const [key, value] of Object.entries(overrides)) {
    const base = config[key];
    config[key] = base && typeof base === 'object' && value && typeof value === 'object' ? { ...base, ...value } : value;
  }
  writeFileSync(join(root, 'orchestra.json'), JSON.stringify(config, null, 2));
  await initWorkspace(root, testActor);
  return Workspace.open(root);
}

/** Every record file of a stream as parsed JSON, in sequence order (no validation). */
export function rawRecords(root: string, stream: string): StreamRecord[] {
  const dir = new WorkspacePaths(root).streamDir(stream);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => RECORD_FILE.test(n)).sort().map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as StreamRecord);
}

/** All events of a stream, flattened, with the record they came from. */
export function eventsOf(root: string, stream: string): Array<{ type: string; data: Record<string, any>; record: StreamRecord }> {
  return rawRecords(root, stream).flatMap((record) => record.events.map((e) => ({ type: e.type, data: e.data as Record<string, any>, record })));
}

/** Names of every file under `dir` (recursively), relative to it. */
export function walk(dir: string, prefix = ''): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

/** Runs git in `cwd` and returns trimmed stdout. */
export function gitOut(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Polls `cond` until it returns something truthy; throws with `what` after `ms`. */
export async function waitFor<T>(what: string, cond: () => T | Promise<T>, ms = 10_000, every = 25): Promise<NonNullable<T>> {
  const limit = scaled(ms);
  const end = Date.now() + limit;
  for (;;) {
    const value = await cond();
    if (value) return value as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${limit} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** Pids of live processes whose command line contains `token`. */
export function procsWith(token: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(token)) found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** The ids of the tasks with a directory (the shards under tasks/, and flat directories of older workspaces). */
export function taskIdsIn(root: string): string[] {
  const tasks = join(root, 'tasks');
  let names: string[];
  try {
    names = readdirSync(tasks);
  } catch {
    return [];
  }
  return names.flatMap((n) => (isTaskShard(n) ? readdirSync(join(tasks, n)) : [n]));
}
