import { promises as fs } from 'node:fs';
import { OrchestraError } from '../core/errors.js';
import { NO_FOLLOW_READ } from './intake-reject.js';

/**
 * Reading a claimed inbox file, which anyone could have planted: never through a link, never a
 * FIFO, socket or device (no blocking), never more than `maxBytes` (the size is checked before and
 * while reading), and the file read is the one checked (same inode). A failure that is the
 * file's fault is INVALID_INPUT (the file is rejected); anything else is thrown as it is.
 */
const UNREADABLE = new Set(['EACCES', 'EPERM', 'ELOOP', 'EISDIR', 'ENXIO', 'EIO', 'EINVAL', 'ENAMETOOLONG', 'EAGAIN', 'EOPNOTSUPP', 'ENODEV']);

export async function readInboxFile(path: string, maxBytes: number): Promise<Buffer> {
  let stat;
  try {
    stat = await fs.lstat(path);
  } catch (err) {
    throw unreadable(err);
  }
  if (stat.isSymbolicLink()) throw new OrchestraError('INVALID_INPUT', 'symbolic links are not accepted in the inbox (copy the file instead)');
  if (stat.isDirectory()) throw new OrchestraError('INVALID_INPUT', 'directories are not accepted in the inbox; drop one file per task');
  if (!stat.isFile()) throw new OrchestraError('INVALID_INPUT', 'only regular files are accepted in the inbox (not FIFOs, sockets or devices)');
  if (stat.size > maxBytes) throw new OrchestraError('INVALID_INPUT', `the file is ${stat.size} bytes; the limit is ${maxBytes}`);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, NO_FOLLOW_READ);
  } catch (err) {
    throw unreadable(err);
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile() || opened.ino !== stat.ino) throw new OrchestraError('INVALID_INPUT', 'the file changed while it was read');
    // Sized by the file (zeroing maxBytes per file was most of intake's allocation), grown while
    // the file grows, never past maxBytes + 1: one byte over is enough to refuse it.
    let buffer = Buffer.alloc(Math.min(maxBytes + 1, Math.max(opened.size, stat.size) + 1));
    let length = 0;
    for (;;) {
      if (length === buffer.length) buffer = grown(buffer, maxBytes + 1);
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new OrchestraError('INVALID_INPUT', `the file is over the limit of ${maxBytes} bytes`);
    }
    return buffer.subarray(0, length);
  } catch (err) {
    throw err instanceof OrchestraError ? err : unreadable(err);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** A copy of `buffer` twice as long, at most `cap` bytes. */
function grown(buffer: Buffer<ArrayBuffer>, cap: number): Buffer<ArrayBuffer> {
  const bigger = Buffer.alloc(Math.min(cap, Math.max(64, buffer.length * 2)));
  buffer.copy(bigger);
  return bigger;
}

/** A read failure of the file itself as INVALID_INPUT (rejected); anything else unchanged. */
export function unreadable(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && UNREADABLE.has(code)) return new OrchestraError('INVALID_INPUT', code === 'ELOOP' ? 'symbolic links are not accepted in the inbox (copy the file instead)' : `the file cannot be read (${code})`);
  return err;
}
