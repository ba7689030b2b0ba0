import { closeSync, constants, fsync, linkSync, lstatSync, mkdirSync, openSync, promises as fs, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { newId } from './ids.js';

export const TEMP_PREFIX = '.tmp-';
export const isTempName = (name: string) => name.startsWith(TEMP_PREFIX);

/**
 * Creates `path` with `content` only if it does not exist yet, atomically: the content is
 * written and fsynced under a temp name in the same directory, then hard-linked into place.
 * link(2) fails with EEXIST when another writer got there first, so exactly one wins and no
 * reader ever sees a partial file. Returns false when the path was taken.
 */
export async function createExclusive(path: string, content: string | Buffer, opts: { fsync?: boolean } = {}): Promise<boolean> {
  const dir = dirname(path);
  const temp = join(dir, `${TEMP_PREFIX}${newId()}`);
  // open, write, close, link and unlink are synchronous: each is a few microseconds on a local
  // disk, less than the thread-pool round trip and promise of its async form (the async calls
  // were half of intake's main-thread time). Only fsync, which waits for the disk, is async.
  let fd: number;
  try {
    fd = openSync(temp, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdirp(dir);
    fd = openSync(temp, 'wx');
  }
  try {
    writeAllSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    if (opts.fsync !== false) await fsyncFd(fd);
  } catch (err) {
    closeSync(fd);
    unlinkQuietly(temp);
    throw err;
  }
  closeSync(fd);
  try {
    linkSync(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkQuietly(temp);
  }
}

function writeAllSync(fd: number, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
}

const fsyncFd = promisify(fsync);

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone, or the directory went away: nothing to clean up
  }
}

/** Replaces a whole (ephemeral) file atomically: temp + rename (synchronous: small files, see createExclusive). */
export async function writeAtomic(path: string, content: string): Promise<void> {
  const temp = join(dirname(path), `${TEMP_PREFIX}${newId()}`);
  try {
    writeFileSync(temp, content);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdirp(dirname(path));
    writeFileSync(temp, content);
  }
  try {
    renameSync(temp, path);
  } catch (err) {
    unlinkQuietly(temp);
    throw err;
  }
}

/**
 * writeAtomic, unless `path` is already a regular file holding exactly `content`: a compare
 * (one lstat, one bounded read) costs far less than the new inode a rewrite makes. The bytes
 * compared are the bytes a rewrite would leave, so the result is the same either way.
 */
export async function writeAtomicIfDifferent(path: string, content: string): Promise<void> {
  const bytes = Buffer.from(content);
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (stat?.isFile() && stat.size === bytes.length) {
    const current = await fs.readFile(path).catch(() => undefined);
    if (current?.equals(bytes)) return;
  }
  await writeAtomic(path, content);
}

/**
 * Writes `text` over the start of `path` (made if missing) without truncating it: the file keeps
 * its block, where truncating and refilling it cost 0.25-0.8 ms (the block freed and allocated
 * again) against ~10 µs. For small files whose every text has the same length, so each write
 * covers the last; readers must tolerate a read racing a write (a mix of old and new bytes).
 * Never through a link, never blocking on a FIFO. Throws as the syscalls do.
 */
export function writeInPlace(path: string, text: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    writeSync(fd, text, 0);
  } finally {
    closeSync(fd);
  }
}

/**
 * mkdir -p that reports the real reason of a failure: node's recursive mkdir says ENOENT on a
 * read-only or full file system; a plain mkdir of the first missing directory says EROFS/ENOSPC.
 */
export async function mkdirp(dir: string): Promise<void> {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const parent = dirname(dir);
    if (parent !== dir) await mkdirp(parent);
    try {
      mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

export async function readdirSafe(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export async function readFileSafe(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch {
    return false;
  }
}
