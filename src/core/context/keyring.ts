/**
 * The context store's keys and its cipher (AES-256-GCM, node:crypto).
 *
 * Where keys live: never in a record, a log or git. Either the workspace's key ring,
 * `.orchestra/context-keys/k<N>.json` (directory 0700, files 0600; `.orchestra/` is git-ignored),
 * one file per key version, the highest N being the current key; or, for deployments, one key
 * from ORCHESTRA_CONTEXT_KEY / ORCHESTRA_CONTEXT_KEY_FILE (id `env-<fingerprint>`), which is then
 * the current key (ring files still open what they sealed).
 *
 * Invariants:
 * - A ciphertext is bound to its entry and key: the AAD is `orchestra.context.v1`, the entry's
 *   stream (scope + key) and the key id, so a ciphertext moved to another entry, or relabelled
 *   with another key id, fails authentication.
 * - Opening never returns unauthenticated bytes: a changed ciphertext, nonce or tag, or a wrong key
 *   is CONTEXT_DECRYPT_FAILED; a key id that is not available is CONTEXT_KEY_MISSING.
 * - A key file that is not a regular file, over 4 KiB, or readable by group or others is refused
 *   (the key is never read from it); in the ring a link is refused too (ORCHESTRA_CONTEXT_KEY_FILE
 *   is the operator's own path and may be a link, as mounted secret volumes are).
 * - Nonces are 12 random bytes per seal (a key seals far fewer than 2^32 values).
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { contextKeyEnv } from '../environment.js';
import { OrchestraError } from '../errors.js';
import type { WorkspacePaths } from '../paths.js';
import { KEY_ID_PATTERN, type Sealed } from './entry.js';

export interface ContextKey { id: string; key: Buffer; createdAt: string; source: 'ring' | 'env'; file?: string }
export interface KeyRing { current?: ContextKey; keys: Map<string, ContextKey> }

const KEY_FILE = /^(k[1-9][0-9]{0,5})\.json$/;
const MAX_KEY_FILE_BYTES = 4096;
const KeyFileSchema = z.object({ v: z.literal(1), id: z.string().regex(/^k[1-9][0-9]{0,5}$/), createdAt: z.string(), key: z.string() });

export const keyRingDir = (paths: WorkspacePaths) => join(paths.runtime, 'context-keys');
const versionOf = (id: string) => Number(id.slice(1));

/** A key check value: tells a wrong key from a changed ciphertext, reveals nothing of the key. */
export function keyCheck(key: Buffer): string {
  return createHmac('sha256', key).update('orchestra.context.kcv').digest('hex').slice(0, 12);
}

function decodeKey(text: string, where: string): Buffer {
  const t = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(t) ? Buffer.from(t, 'base64') : undefined;
  if (!bytes || bytes.length !== 32) throw new OrchestraError('INVALID_INPUT', `${where} is not a 32-byte key (give it as 64 hex digits or base64; e.g. "openssl rand -base64 32")`);
  return bytes;
}

/** Reads a key file without following links; refuses one others could read. */
async function readKeyFile(path: string, where: string, opts: { followLinks?: boolean } = {}): Promise<string> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, constants.O_RDONLY | constants.O_NONBLOCK | (opts.followLinks ? 0 : constants.O_NOFOLLOW));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OrchestraError(code === 'ENOENT' ? 'CONTEXT_KEY_MISSING' : 'INVALID_INPUT', `${where} ${code === 'ENOENT' ? 'does not exist' : code === 'ELOOP' ? 'is a symbolic link (never followed)' : `cannot be read (${code})`}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new OrchestraError('INVALID_INPUT', `${where} is not a regular file`);
    if (st.size > MAX_KEY_FILE_BYTES) throw new OrchestraError('INVALID_INPUT', `${where} is too large to be a key file`);
    if ((st.mode & 0o077) !== 0) throw new OrchestraError('INVALID_INPUT', `${where} can be read by other users (mode ${(st.mode & 0o777).toString(8)}); make it private: chmod 600`);
    return (await handle.readFile()).toString('utf8');
  } finally {
    await handle.close();
  }
}

async function envKey(env: NodeJS.ProcessEnv): Promise<ContextKey | undefined> {
  const { key, file } = contextKeyEnv(env);
  if (!key && !file) return undefined;
  const bytes = key ? decodeKey(key, 'ORCHESTRA_CONTEXT_KEY') : decodeKey(await readKeyFile(file!, `ORCHESTRA_CONTEXT_KEY_FILE (${file})`, { followLinks: true }), `ORCHESTRA_CONTEXT_KEY_FILE (${file})`);
  const id = `env-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}`;
  return { id, key: bytes, createdAt: new Date(0).toISOString(), source: 'env' };
}

/** Every key this process can use: the ring's files and the environment's key. */
export async function loadKeyRing(paths: WorkspacePaths, env: NodeJS.ProcessEnv = process.env): Promise<KeyRing> {
  const keys = new Map<string, ContextKey>();
  const dir = keyRingDir(paths);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  let newest: ContextKey | undefined;
  for (const name of names) {
    const m = KEY_FILE.exec(name);
    if (!m) continue;
    const file = join(dir, name);
    let parsed: z.infer<typeof KeyFileSchema>;
    try {
      parsed = KeyFileSchema.parse(JSON.parse(await readKeyFile(file, `key file ${file}`)));
    } catch (err) {
      if (err instanceof OrchestraError) throw err;
      throw new OrchestraError('INVALID_INPUT', `key file ${file} is not a key file of this format`);
    }
    if (parsed.id !== m[1]) throw new OrchestraError('INVALID_INPUT', `key file ${file} holds key ${parsed.id}, not ${m[1]}`);
    const key: ContextKey = { id: parsed.id, key: decodeKey(parsed.key, `key file ${file}`), createdAt: parsed.createdAt, source: 'ring', file };
    keys.set(key.id, key);
    if (!newest || versionOf(key.id) > versionOf(newest.id)) newest = key;
  }
  const fromEnv = await envKey(env);
  if (fromEnv) keys.set(fromEnv.id, fromEnv);
  const current = fromEnv ?? newest;
  return { ...(current ? { current } : {}), keys };
}

/** Highest key version in the ring directory (0 when none), whatever is loadable. */
async function highestVersion(paths: WorkspacePaths): Promise<number> {
  const names = await fs.readdir(keyRingDir(paths)).catch(() => [] as string[]);
  return Math.max(0, ...names.map((n) => KEY_FILE.exec(n)?.[1]).filter((id): id is string => !!id).map(versionOf));
}

/**
 * Makes the next key version `k<N+1>` (32 random bytes, file 0600, exclusive create). Of two
 * processes racing, one creates it; the other gets `false` and uses the winner's.
 */
export async function createNextKey(paths: WorkspacePaths): Promise<{ id: string; created: boolean }> {
  const dir = keyRingDir(paths);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700);
  const id = `k${(await highestVersion(paths)) + 1}`;
  const body = JSON.stringify({ v: 1, id, createdAt: new Date().toISOString(), key: randomBytes(32).toString('base64') }) + '\n';
  try {
    // 'wx' with mode 0600: the file never exists with wider permissions, not even for a moment.
    await fs.writeFile(join(dir, `${id}.json`), body, { flag: 'wx', mode: 0o600 });
    return { id, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { id, created: false };
    throw err;
  }
}

/** Deletes a ring key's file: what it sealed can no longer be opened with this workspace. */
export async function retireKey(paths: WorkspacePaths, id: string): Promise<void> {
  if (!/^k[1-9][0-9]{0,5}$/.test(id)) return;
  await fs.unlink(join(keyRingDir(paths), `${id}.json`)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

const aad = (stream: string, keyId: string) => Buffer.from(`orchestra.context.v1\0${stream}\0${keyId}`, 'utf8');

/** Encrypts `plaintext` for the entry of `stream` under `key`. */
export function sealValue(key: ContextKey, stream: string, plaintext: string): Sealed {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce);
  cipher.setAAD(aad(stream, key.id));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { alg: 'aes-256-gcm', keyId: key.id, kcv: keyCheck(key.key), nonce: nonce.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ciphertext: ciphertext.toString('base64') };
}

/** Decrypts a sealed value of the entry of `stream`; authenticated or a typed error, never garbage. */
export function openValue(ring: KeyRing, stream: string, sealed: Sealed, what: string): string {
  if (!KEY_ID_PATTERN.test(sealed.keyId)) throw new OrchestraError('CONTEXT_DECRYPT_FAILED', `${what}: the record names no valid key`);
  const key = ring.keys.get(sealed.keyId);
  if (!key) {
    throw new OrchestraError('CONTEXT_KEY_MISSING', `${what} is sealed with key ${sealed.keyId}, which this workspace does not have (retired by a rotation, or the key file/ORCHESTRA_CONTEXT_KEY is not set here); set the secret again`, { keyId: sealed.keyId });
  }
  if (sealed.kcv !== keyCheck(key.key)) {
    throw new OrchestraError('CONTEXT_DECRYPT_FAILED', `${what} cannot be opened: key ${sealed.keyId} here is not the key it was sealed with (wrong key file or ORCHESTRA_CONTEXT_KEY)`, { keyId: sealed.keyId });
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(sealed.nonce, 'base64'));
    decipher.setAAD(aad(stream, sealed.keyId));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]);
    return plain.toString('utf8');
  } catch {
    throw new OrchestraError('CONTEXT_DECRYPT_FAILED', `${what} failed authentication with key ${sealed.keyId}: its ciphertext was changed, moved from another entry, or the key is wrong; nothing was decrypted`, { keyId: sealed.keyId });
  }
}
