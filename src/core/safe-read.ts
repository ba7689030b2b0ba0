import { closeSync, constants, fstatSync, openSync, promises as fs, readSync } from 'node:fs';

/**
 * Reading files that someone other than Orchestra may have planted: record files and blobs.
 * Invariants: a symbolic link is never followed (O_NOFOLLOW), a FIFO or device never blocks the
 * reader (O_NONBLOCK, then fstat must say "regular file"), and a file is never read past
 * `maxBytes` (the size is checked on the open descriptor before reading, and the read stops at
 * the cap even if the file grows meanwhile). Checks use the descriptor, not the path, so the
 * file cannot be swapped between the check and the read.
 */
export type BoundedRead =
  | { ok: true; bytes: Buffer }
  | { ok: false; problem: 'missing' | 'not-regular' | 'too-large' | 'unreadable'; reason: string; size?: number };

const NOFOLLOW_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function openProblem(err: unknown): BoundedRead & { ok: false } {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return { ok: false, problem: 'missing', reason: 'missing' };
  if (code === 'ELOOP') return { ok: false, problem: 'not-regular', reason: 'is a symbolic link (never followed)' };
  return { ok: false, problem: 'unreadable', reason: `unreadable (${code ?? String(err)})` };
}

const kindOf = (st: import('node:fs').Stats) => (st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSymbolicLink() ? 'a symbolic link' : st.isSocket() ? 'a socket' : 'a device or special file');

/** The whole file if it is a regular file of at most `maxBytes`; else why not (without reading it). */
export function readRegularFileSync(path: string, maxBytes: number): BoundedRead {
  let fd: number;
  try {
    fd = openSync(path, NOFOLLOW_FLAGS);
  } catch (err) {
    return openProblem(err);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, problem: 'not-regular', reason: `is ${kindOf(st)}, not a regular file` };
    const tooLarge = (size: number): BoundedRead => ({ ok: false, problem: 'too-large', reason: `${size} bytes is over the size cap of ${maxBytes} bytes (not read)`, size });
    if (st.size > maxBytes) return tooLarge(st.size);
    const buffer = Buffer.allocUnsafe(Math.min(st.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) return tooLarge(length); // it grew while being read
    }
    return { ok: true, bytes: buffer.subarray(0, length) };
  } catch (err) {
    return { ok: false, problem: 'unreadable', reason: `unreadable (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens a regular file for reading without following a symbolic link. Returns the handle and
 * its size, or why it cannot be opened; the caller closes the handle.
 */
export async function openRegularFile(path: string): Promise<{ ok: true; handle: fs.FileHandle; size: number } | (BoundedRead & { ok: false })> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, NOFOLLOW_FLAGS);
  } catch (err) {
    return openProblem(err);
  }
  const st = await handle.stat().catch(() => undefined);
  if (!st || !st.isFile()) {
    await handle.close();
    return { ok: false, problem: 'not-regular', reason: st ? `is ${kindOf(st)}, not a regular file` : 'unreadable' };
  }
  return { ok: true, handle, size: st.size };
}
