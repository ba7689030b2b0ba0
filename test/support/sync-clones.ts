/** A bare git remote and workspace clones of it in temp dirs, each opened in this process with its sync engine. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initWorkspace } from '../../src/app/setup.js';
import type { Actor } from '../../src/core/actor.js';
import { Workspace } from '../../src/core/workspace.js';
import { attachRemote, cloneWorkspace } from '../../src/sync/clone.js';
import { SyncEngine } from '../../src/sync/engine.js';
import { FAST_CONFIG, tempDir, testActor } from './core-workspace.js';

type Cleanup = { after: (fn: () => void | Promise<void>) => void };

export interface Clone { name: string; ws: Workspace; sync: SyncEngine; actor: Actor }

export interface SyncFixture {
  dir: string;
  /** The bare repository's path (rename it away to cut every clone off). */
  remote: string;
  clones: Clone[];
  /** Opens the clone's workspace again: another process's view of it. */
  reopen(clone: Clone): Promise<Workspace>;
}

/** `count` clones sharing one bare remote; the first created the workspace and pushed it. */
export async function makeClones(t: Cleanup, count: number, overrides: Record<string, unknown> = {}): Promise<SyncFixture> {
  const dir = tempDir(t, 'orchestra-sync-');
  const remote = join(dir, 'remote.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', remote]);
  const first = join(dir, 'c0');
  mkdirSync(first);
  const config: Record<string, unknown> = { ...FAST_CONFIG, sync: { intervalMs: 200, debounceMs: 20, confirmTimeoutMs: 5000, gitTimeoutMs: 5000, leaseTtlMs: 200 } };
  for (const [key, value] of Object.entries(overrides)) {
    const base = config[key];
    config[key] = base && typeof base === 'object' && value && typeof value === 'object' ? { ...base, ...value } : value;
  }
  writeFileSync(join(first, 'orchestra.json'), JSON.stringify(config, null, 2));
  await initWorkspace(first, testActor);
  const roots = [first];
  const ws0 = await Workspace.open(first);
  await attachRemote(ws0, remote);
  const engine0 = (await SyncEngine.open(ws0))!;
  await engine0.round();
  await ws0.journal.release();
  for (let i = 1; i < count; i++) {
    const root = await cloneWorkspace(remote, join(dir, `c${i}`));
    await initWorkspace(root, testActor);
    roots.push(root);
  }
  const clones: Clone[] = [];
  for (const [i, root] of roots.entries()) {
    const ws = i === 0 ? ws0 : await Workspace.open(root);
    const sync = i === 0 ? engine0 : (await SyncEngine.open(ws))!;
    clones.push({ name: `c${i}`, ws, sync, actor: { kind: 'loop', name: `machine${i}`, host: `host${i}`, pid: 1000 + i } });
  }
  return { dir, remote, clones, reopen: (clone) => Workspace.open(clone.ws.paths.root) };
}
