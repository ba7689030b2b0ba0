/**
 * Key rotation of the context store.
 *
 * `rotateKeys`: makes a new key version (ring mode; with ORCHESTRA_CONTEXT_KEY the environment's
 * key is already the current one and none is made), appends every current secret sealed under
 * another key again as a new version (`context.written`, reason `rotation`) under the current
 * key, then retires (deletes) every ring key that no current secret needs any more. Old records
 * stay in the streams and in git, still sealed with the old keys (spec.md §14 says what that means).
 * `maybeAutoRotate` does the same when the current ring key is older than
 * `context.rotateAfterDays`.
 *
 * Invariants: a secret is re-sealed only when its latest version is still the one that was read
 * (decided inside the append, so a concurrent `set` wins); a key is retired only after a fresh
 * listing shows no current secret sealed with it; a secret that cannot be opened (its key is
 * already gone) is reported, never dropped, and keeps nothing else from rotating.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Actor } from '../actor.js';
import { describeError, OrchestraError } from '../errors.js';
import { AUDIT_STREAM } from '../paths.js';
import type { Workspace } from '../workspace.js';
import { CONTEXT_WRITTEN, foldEntry, scopeText } from './entry.js';
import { createNextKey, keyRingDir, retireKey, sealValue } from './keyring.js';
import { decryptEntry, keyRingOf, listContext } from './store.js';

export const KEY_ROTATED = 'context.key-rotated';
const DAY_MS = 24 * 60 * 60 * 1000;
const ROTATION_LOCK_STALE_MS = 10 * 60_000;

export interface RotationReport {
  from?: string;
  to: string;
  created: boolean;
  reencrypted: number;
  retired: string[];
  /** Keys kept because a current secret still needs them (it could not be re-sealed). */
  kept: string[];
  failures: Array<{ ref: string; code: string; message: string }>;
}

/**
 * One rotation at a time per workspace: `.orchestra/context-keys/rotating.lock`, created
 * exclusively; a lock older than ROTATION_LOCK_STALE_MS is a crashed rotation's and is taken over.
 * Two rotations at once could otherwise retire the key the other is re-sealing with.
 */
async function withRotationLock<T>(ws: Workspace, fn: () => Promise<T>): Promise<T> {
  const dir = keyRingDir(ws.paths);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const lock = join(dir, 'rotating.lock');
  try {
    await fs.writeFile(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = Date.now() - (await fs.stat(lock).then((s) => s.mtimeMs, () => Date.now()));
    if (age < ROTATION_LOCK_STALE_MS) throw new OrchestraError('CONFLICT', 'another key rotation is running in this workspace; try again when it has finished');
    await fs.writeFile(lock, `${process.pid}\n`, { mode: 0o600 });
  }
  try {
    return await fn();
  } finally {
    await fs.unlink(lock).catch(() => undefined);
  }
}

export async function rotateKeys(ws: Workspace, actor: Actor, opts: { newKey?: boolean } = {}): Promise<RotationReport> {
  return withRotationLock(ws, () => rotateLocked(ws, actor, opts));
}

async function rotateLocked(ws: Workspace, actor: Actor, opts: { newKey?: boolean }): Promise<RotationReport> {
  const before = await keyRingOf(ws, true);
  let created = false;
  if (opts.newKey !== false && before.current?.source !== 'env') created = (await createNextKey(ws.paths)).created;
  const ring = await keyRingOf(ws, true);
  const current = ring.current!;
  let reencrypted = 0;
  const failures: RotationReport['failures'] = [];
  for (const entry of await listContext(ws, { kind: 'secret' })) {
    if (entry.sealed!.keyId === current.id) continue;
    try {
      const value = await decryptEntry(ws, entry);
      const sealed = sealValue(current, entry.stream, value);
      const { record } = await ws.appendTo(entry.stream, (s) => foldEntry(s.stream, s.records), (latest) =>
        !latest || latest.removed || latest.version !== entry.version ? null : { actor, events: [{ type: CONTEXT_WRITTEN, data: { key: entry.key, scope: scopeText(entry.scope), kind: 'secret', sealed, reason: 'rotation' } }] });
      if (record) reencrypted++;
    } catch (err) {
      failures.push({ ref: entry.ref, ...describeError(err) });
    }
  }
  const needed = new Set((await listContext(ws, { kind: 'secret' })).map((e) => e.sealed!.keyId));
  const retired: string[] = [];
  const kept: string[] = [];
  for (const key of ring.keys.values()) {
    if (key.source !== 'ring' || key.id === current.id) continue;
    if (needed.has(key.id)) kept.push(key.id);
    else {
      await retireKey(ws.paths, key.id);
      retired.push(key.id);
    }
  }
  await keyRingOf(ws, true);
  const report: RotationReport = { ...(before.current ? { from: before.current.id } : {}), to: current.id, created, reencrypted, retired, kept, failures };
  await ws.appendTo(AUDIT_STREAM, (s) => s, () => ({ actor, events: [{ type: KEY_ROTATED, data: { ...report, failures: failures.map((f) => f.ref) } }] }));
  return report;
}

/** How old the current key is, and whether automatic rotation is due (ring keys only). */
export async function keyStatus(ws: Workspace): Promise<{ current?: { id: string; source: 'ring' | 'env'; createdAt: string; ageDays?: number }; rotationDue: boolean; keys: Array<{ id: string; source: 'ring' | 'env'; createdAt: string; secrets: number }> }> {
  const ring = await keyRingOf(ws, true);
  const secrets = await listContext(ws, { kind: 'secret' });
  const count = (id: string) => secrets.filter((s) => s.sealed!.keyId === id).length;
  const c = ring.current;
  const ageDays = c && c.source === 'ring' ? (Date.now() - Date.parse(c.createdAt)) / DAY_MS : undefined;
  return {
    ...(c ? { current: { id: c.id, source: c.source, createdAt: c.createdAt, ...(ageDays !== undefined ? { ageDays: Math.floor(ageDays * 10) / 10 } : {}) } } : {}),
    rotationDue: await rotationDue(ws),
    keys: [...ring.keys.values()].map((k) => ({ id: k.id, source: k.source, createdAt: k.createdAt, secrets: count(k.id) })).sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true })),
  };
}

/** True when the current key is a ring key older than `context.rotateAfterDays` (reads only the key ring). */
export async function rotationDue(ws: Workspace): Promise<boolean> {
  const after = ws.config.context.rotateAfterDays;
  if (after <= 0) return false;
  const current = (await keyRingOf(ws, true)).current;
  return current?.source === 'ring' && !((Date.now() - Date.parse(current.createdAt)) / DAY_MS < after);
}

/** Rotates when `rotationDue`; undefined when not due. */
export async function maybeAutoRotate(ws: Workspace, actor: Actor): Promise<RotationReport | undefined> {
  if (!(await rotationDue(ws))) return undefined;
  return rotateKeys(ws, actor);
}
