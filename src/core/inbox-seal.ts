import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { OrchestraError } from './errors.js';
import { mkdirp } from './fsutil.js';
import { readRegularFileSync } from './safe-read.js';
import type { WorkspacePaths } from './paths.js';

/**
 * Who wrote an inbox file? Anyone who can write the inbox folder can put any `actor` in a file,
 * so an actor is believed only when the file carries a seal: an HMAC-SHA256 over the file's JSON
 * object (without `seal`), keyed by `.orchestra/inbox.key`. The key lives outside git, mode
 * 0600, in the runtime folder that sandboxed commands never see; the adapters of this machine
 * (Telegram, web) seal what they write. Anything else is recorded as written by the inbox file.
 */
export const SEAL_KEY = 'seal';
const KEY_BYTES = 32;

const keyPath = (paths: WorkspacePaths) => join(paths.runtime, 'inbox.key');

/** The workspace's inbox key, created (0600) on first use. */
export async function inboxKey(paths: WorkspacePaths): Promise<Buffer> {
  const existing = readKey(paths);
  if (existing) return existing;
  await mkdirp(paths.runtime);
  try {
    await fs.writeFile(keyPath(paths), randomBytes(KEY_BYTES), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = readKey(paths);
  if (!key) throw new OrchestraError('WORKSPACE_DAMAGED', `${keyPath(paths)} is not a ${KEY_BYTES}-byte regular file; remove it and start again`);
  return key;
}

/** The key if it exists and is sound; never follows a link planted in its place. */
export function readKey(paths: WorkspacePaths): Buffer | undefined {
  const read = readRegularFileSync(keyPath(paths), KEY_BYTES);
  return read.ok && read.bytes.length === KEY_BYTES ? read.bytes : undefined;
}

export function sealOf(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('hex');
}

/** A sealed object: the fields, then `seal` over their JSON text. */
export function sealObject(key: Buffer, fields: Record<string, unknown>): Record<string, unknown> {
  return { ...fields, [SEAL_KEY]: sealOf(key, JSON.stringify(fields)) };
}

/** True when `seal` is the key's HMAC of `fields` (the object as parsed, `seal` removed). */
export function sealMatches(key: Buffer | undefined, fields: Record<string, unknown>, seal: unknown): boolean {
  if (!key || typeof seal !== 'string' || !/^[0-9a-f]{64}$/.test(seal)) return false;
  return timingSafeEqual(Buffer.from(sealOf(key, JSON.stringify(fields)), 'hex'), Buffer.from(seal, 'hex'));
}
