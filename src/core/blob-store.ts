import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { OrchestraError } from './errors.js';
import { TEMP_PREFIX } from './fsutil.js';
import { newId } from './ids.js';
import { openRegularFile } from './safe-read.js';

/**
 * Content-addressed blobs: the file `<dir>/<sha256>` holds the bytes whose hash is its name.
 * Invariants:
 * - a put streams its input to a private temp file, hashing and counting as it goes, and stops
 *   with ARTIFACT_TOO_LARGE (temp removed) at the first byte over `maxBytes`: memory and disk use
 *   are bounded whatever the source sends;
 * - a blob is published by a hard link of the finished temp file, so it is whole or absent; an
 *   existing regular file under the name is kept (same name, same bytes), anything else planted
 *   there (a symlink, a directory, a FIFO) is replaced;
 * - neither the blob directory nor a blob is ever followed through a symbolic link, and a read
 *   checks the bytes against the name: a swapped blob is WORKSPACE_DAMAGED, never served.
 */
export interface BlobRef { sha256: string; size: number }

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * The blob directory and its parent (`artifacts/blobs` under the trusted workspace root), each
 * created if missing without following links; refused when something planted a link or a file
 * in place of either (mkdir -p would follow a linked parent and create the blobs elsewhere).
 */
async function blobDir(dir: string): Promise<string> {
  for (const path of [dirname(dir), dir]) {
    const st = await fs.lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!st) await fs.mkdir(path).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'EEXIST') throw err; });
    const now = st ?? (await fs.lstat(path));
    if (!now.isDirectory()) throw new OrchestraError('WORKSPACE_DAMAGED', `${path} is not a directory (a symbolic link or file was planted there); artifacts are refused until it is removed`);
  }
  return dir;
}

function tooLarge(maxBytes: number): OrchestraError {
  return new OrchestraError('ARTIFACT_TOO_LARGE', `the artifact is over the size limit of ${maxBytes} bytes (config storage.maxArtifactBytes); nothing was stored`, { limit: maxBytes });
}

/** Streams `source` into the store. */
export async function putBlob(dir: string, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: { maxBytes: number; fsync: boolean }): Promise<BlobRef> {
  const base = await blobDir(dir);
  const temp = join(base, `${TEMP_PREFIX}${newId()}`);
  const handle = await fs.open(temp, 'wx', 0o644);
  const hash = createHash('sha256');
  let size = 0;
  try {
    try {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > opts.maxBytes) throw tooLarge(opts.maxBytes);
        hash.update(chunk);
        await handle.write(chunk);
      }
      if (opts.fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    const sha256 = hash.digest('hex');
    await publish(temp, join(base, sha256));
    return { sha256, size };
  } finally {
    await fs.unlink(temp).catch(() => undefined);
  }
}

async function publish(temp: string, path: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.link(temp, path);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = await fs.lstat(path).catch(() => undefined);
    if (st?.isFile()) return; // stored before: same name, same bytes (checked on every read)
    if (st) await fs.rm(path, { recursive: true, force: true }); // planted: not a blob of ours
  }
  throw new OrchestraError('CONFLICT', `could not store blob ${path}: something keeps replacing it`);
}

/** The bytes of blob `sha256`, at most `maxBytes`, checked against their name. */
export async function readBlob(dir: string, sha256: string, maxBytes: number): Promise<Buffer> {
  if (!SHA256.test(sha256)) throw new OrchestraError('WORKSPACE_DAMAGED', `artifact record names an invalid blob "${sha256.slice(0, 80)}"`);
  const opened = await openRegularFile(join(await blobDir(dir), sha256));
  if (!opened.ok) {
    if (opened.problem === 'missing') throw new OrchestraError('NOT_FOUND', `blob ${sha256.slice(0, 12)} is missing from ${dir}`);
    throw new OrchestraError('WORKSPACE_DAMAGED', `blob ${sha256.slice(0, 12)} ${opened.reason}; not served`);
  }
  try {
    if (opened.size > maxBytes) throw new OrchestraError('WORKSPACE_DAMAGED', `blob ${sha256.slice(0, 12)} is ${opened.size} bytes, over the artifact limit of ${maxBytes}; not served`);
    // Never more than the size seen on open (+1 to notice growth): a file growing meanwhile is not read whole.
    const buffer = Buffer.alloc(opened.size + 1);
    const { bytesRead } = await opened.handle.read(buffer, 0, buffer.length, 0);
    const bytes = buffer.subarray(0, bytesRead);
    if (createHash('sha256').update(bytes).digest('hex') !== sha256) {
      throw new OrchestraError('WORKSPACE_DAMAGED', `blob ${sha256.slice(0, 12)} does not match its hash (replaced or damaged); not served`);
    }
    return bytes;
  } finally {
    await opened.handle.close();
  }
}
