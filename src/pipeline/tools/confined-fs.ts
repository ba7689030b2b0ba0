/**
 * File access for model tools, confined to one directory tree (a worktree) without following
 * links.
 *
 * Threat: the tree is hostile. The repository may commit symlinks, and the code its tests run may
 * plant more (dangling ones included: `gcfg -> $HOME/.gitconfig`), FIFOs that block a reader,
 * hardlinks to outside inodes, or huge files. A check on the deepest existing ancestor followed by
 * a plain open is not enough: the open follows a link the check did not see.
 *
 * Invariants:
 * - Every component below the root is examined with lstat; a symlink anywhere on the path is
 *   refused, and the final open uses O_NOFOLLOW, so no link is ever followed.
 * - Missing directories are created one level at a time (never `mkdir -p` through a link).
 * - Only regular files are read or written; reads open with O_NONBLOCK (a FIFO never blocks) and
 *   read at most `maxReadBytes`; a file with more than one hard link is never written.
 * Precondition: the caller has normalised the path (`safeRelative`): relative, no `..`, no `.git`.
 */
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';

/** Why a path cannot be used; the message is written for the model to read. */
export class ConfinedPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfinedPathError';
  }
}

const MISSING = Symbol('missing');

async function lstatOrMissing(path: string): Promise<import('node:fs').Stats | typeof MISSING> {
  try {
    return await fs.lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return MISSING;
    throw err;
  }
}

/**
 * Walks `rel` below `root` and checks every directory component. Returns the absolute path.
 * With `createDirs`, missing directories are made one by one (each re-checked after creation).
 */
async function walkParents(root: string, rel: string, createDirs: boolean): Promise<string> {
  const parts = rel.split('/').filter(Boolean);
  let current = root;
  for (const [i, part] of parts.slice(0, -1).entries()) {
    current = join(current, part);
    const shown = parts.slice(0, i + 1).join('/');
    let st = await lstatOrMissing(current);
    if (st === MISSING) {
      if (!createDirs) throw new ConfinedPathError(`no such directory "${shown}"`);
      await fs.mkdir(current).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      st = await fs.lstat(current);
    }
    if (st.isSymbolicLink()) throw new ConfinedPathError(`refused: "${shown}" is a symbolic link; links are not followed`);
    if (!st.isDirectory()) throw new ConfinedPathError(`"${shown}" is not a directory`);
  }
  return join(root, ...parts);
}

/** Reads a regular file inside `root`; refuses links, non-regular files; reads at most maxReadBytes. */
export async function readConfined(root: string, rel: string, maxReadBytes: number): Promise<{ text: string; truncatedBytes: number }> {
  const full = await walkParents(root, rel, false);
  const st = await lstatOrMissing(full);
  if (st === MISSING) throw new ConfinedPathError(`no file "${rel}" (use list_files)`);
  if (st.isSymbolicLink()) throw new ConfinedPathError(`refused: "${rel}" is a symbolic link; links are not followed`);
  if (!st.isFile()) throw new ConfinedPathError(`"${rel}" is not a regular file`);
  const handle = await fs.open(full, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw new ConfinedPathError(`"${rel}" is not a regular file`);
    const length = Math.min(opened.size, maxReadBytes);
    const buffer = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const { bytesRead } = await handle.read(buffer, read, length - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return { text: buffer.subarray(0, read).toString('utf8'), truncatedBytes: Math.max(0, opened.size - read) };
  } finally {
    await handle.close();
  }
}

/** Creates or replaces a regular file inside `root` without following any link. */
export async function writeConfined(root: string, rel: string, content: string): Promise<void> {
  const full = await walkParents(root, rel, true);
  const st = await lstatOrMissing(full);
  if (st !== MISSING) {
    if (st.isSymbolicLink()) throw new ConfinedPathError(`refused: "${rel}" is a symbolic link; links are not followed`);
    if (!st.isFile()) throw new ConfinedPathError(`"${rel}" is not a regular file`);
  }
  const handle = await fs.open(full, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw new ConfinedPathError(`"${rel}" is not a regular file`);
    // A hard link made by test code could point at an inode outside the tree.
    if (opened.nlink > 1) throw new ConfinedPathError(`refused: "${rel}" has other hard links; replace it with a new file name`);
    await handle.truncate(0);
    await handle.write(content, 0, 'utf8');
  } finally {
    await handle.close();
  }
}

/** Refuses `rel` when any existing component of it, the last included, is a symbolic link. */
export async function assertNoLinks(root: string, rel: string): Promise<void> {
  if (!rel) return;
  const full = await walkParents(root, rel, false).catch((err) => {
    if (err instanceof ConfinedPathError && err.message.startsWith('no such directory')) return undefined;
    throw err;
  });
  if (full === undefined) return;
  const st = await lstatOrMissing(full);
  if (st !== MISSING && st.isSymbolicLink()) throw new ConfinedPathError(`refused: "${rel}" is a symbolic link; links are not followed`);
}
