import { promises as fs } from 'node:fs';
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
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdirp(dir);
    handle = await fs.open(temp, 'wx');
  }
  try {
    await handle.writeFile(content);
    if (opts.fsync !== false) await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.link(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.unlink(temp).catch(() => undefined);
  }
}

/** Replaces a whole (ephemeral) file atomically: temp + rename. */
export async function writeAtomic(path: string, content: string): Promise<void> {
  const temp = join(dirname(path), `${TEMP_PREFIX}${newId()}`);
  try {
    await fs.writeFile(temp, content);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdirp(dirname(path));
    await fs.writeFile(temp, content);
  }
  await fs.rename(temp, path);
}

/**
 * mkdir -p that reports the real reason of a failure: node's recursive mkdir says ENOENT on a
 * read-only or full file system; a plain mkdir of the first missing directory says EROFS/ENOSPC.
 */
export async function mkdirp(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const parent = dirname(dir);
    if (parent !== dir) await mkdirp(parent);
    await fs.mkdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
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
