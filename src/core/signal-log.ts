import { closeSync, constants, fstatSync, openSync, promises as fs, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readdirSafe } from './fsutil.js';

/**
 * The append-only log of "stream X reached seq N" shared by every process of a workspace. The
 * signal feed reads only what was appended since its last look, so catching what the watcher
 * missed costs the number of appends since then, not the number of streams (a stat of every
 * signal file every few seconds was the largest cost of an idle `up` over a large workspace).
 *
 * Layout: `<dir>/current`, appended by every writer; `<dir>/<ms>-<hex>.log`, rotated files, in
 * name order. Readers keep a cursor (the identity, inode and birth time, and the offset of the
 * file they are in: an inode alone can be reused by a later `current` after a prune).
 *
 * Invariants:
 * - a line is written by one O_APPEND write() of under 100 bytes, so concurrent writers' lines do
 *   not interleave on a local file system; a reader consumes only complete lines;
 * - rotation renames `current` away; an append racing it lands in the rotated file, which a reader
 *   finishes (found by identity) before it reads the later rotated files and then `current`;
 * - when a reader cannot account for everything appended since its cursor (its file was pruned),
 *   it says `lost`, and the caller falls back to a full scan of the signal files.
 */

export interface LogCursor { file: string; offset: number }

/** A file's identity: its inode and birth time (an inode number alone is reused). */
const identity = (st: { ino: number; birthtimeMs: number }) => `${st.ino}:${st.birthtimeMs}`;
const NONE = '';
export interface LogRead { entries: Array<[name: string, seq: number]>; cursor: LogCursor; lost: boolean }

const CURRENT = 'current';
const ROTATED = /^\d{13}-[0-9a-f]{8}\.log$/;
/** At most this much is read per call: a reader far behind catches up over several calls. */
const READ_CAP = 4 * 1024 * 1024;

export class SignalLog {
  private readonly rotateBytes: number;
  private readonly keepMs: number;
  private ready?: Promise<void>;

  constructor(private readonly dir: string, opts: { rotateBytes?: number; keepMs?: number } = {}) {
    this.rotateBytes = opts.rotateBytes ?? 1024 * 1024;
    this.keepMs = opts.keepMs ?? 60 * 60 * 1000;
  }

  /** Appends one line; a failure is swallowed (signals are hints, and the full scan is the fallback). */
  async append(name: string, seq: number): Promise<void> {
    try {
      await (this.ready ??= fs.mkdir(this.dir, { recursive: true }).then(() => undefined));
      // Synchronous: one append of a short line, done once per record by every writer (the async
      // open/write/stat/close cost more than the work itself). Rotation stays async.
      const fd = openSync(join(this.dir, CURRENT), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      let st: { size: number; ino: number; birthtimeMs: number };
      try {
        writeSync(fd, `${name} ${seq}\n`);
        st = fstatSync(fd);
      } finally {
        closeSync(fd);
      }
      if (st.size >= this.rotateBytes) await this.rotate(identity(st));
    } catch {
      // the feed's full scans still see the signal file
    }
  }

  /** Where the log ends now: a reader starting here is given every later line. */
  async mark(): Promise<LogCursor> {
    const st = await fs.stat(join(this.dir, CURRENT)).catch(() => undefined);
    return st ? { file: identity(st), offset: st.size } : { file: NONE, offset: 0 };
  }

  /** The complete lines appended since `cursor`, and the cursor after them. */
  async readSince(cursor: LogCursor): Promise<LogRead> {
    const entries: LogRead['entries'] = [];
    const current = await fs.stat(join(this.dir, CURRENT)).catch(() => undefined);
    if (current && identity(current) === cursor.file) return this.readFile(CURRENT, cursor, entries, false);
    // The file the cursor was in was rotated (or `current` was never there): finish it, read the
    // files rotated after it, then `current`.
    const rotated = (await readdirSafe(this.dir)).filter((n) => ROTATED.test(n)).sort();
    let start = 0;
    let lost = false;
    if (cursor.file !== NONE) {
      const ids = await Promise.all(rotated.map((n) => fs.stat(join(this.dir, n)).then(identity, () => NONE)));
      start = ids.indexOf(cursor.file);
      lost = start < 0;
      if (lost) start = rotated.length; // pruned: what it held is unknown
    }
    for (let i = start; i < rotated.length; i++) {
      const offset = i === start && !lost && cursor.file !== NONE ? cursor.offset : 0;
      const st = await fs.stat(join(this.dir, rotated[i]!)).catch(() => undefined);
      if (!st) return { entries, cursor: await this.mark(), lost: true };
      const read = await this.readFile(rotated[i]!, { file: identity(st), offset }, entries, lost);
      if (read.cursor.offset < st.size) return read; // capped: go on next call from here
    }
    if (!current) return { entries, cursor: { file: NONE, offset: 0 }, lost };
    return this.readFile(CURRENT, { file: identity(current), offset: 0 }, entries, lost);
  }

  private async readFile(name: string, cursor: LogCursor, entries: LogRead['entries'], lost: boolean): Promise<LogRead> {
    let handle;
    try {
      handle = await fs.open(join(this.dir, name), 'r');
    } catch {
      return { entries, cursor, lost: true };
    }
    try {
      const st = await handle.stat();
      if (identity(st) !== cursor.file) return { entries, cursor, lost: true };
      const length = Math.min(Math.max(0, st.size - cursor.offset), READ_CAP);
      if (length === 0) return { entries, cursor, lost };
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buf, 0, length, cursor.offset);
      const text = buf.subarray(0, bytesRead).toString('latin1');
      const end = text.lastIndexOf('\n') + 1; // a line still being written waits for the next read
      for (const line of text.slice(0, end).split('\n')) {
        const space = line.indexOf(' ');
        const seq = Number(line.slice(space + 1));
        if (space > 0 && Number.isSafeInteger(seq) && seq > 0) entries.push([line.slice(0, space), seq]);
      }
      return { entries, cursor: { file: cursor.file, offset: cursor.offset + end }, lost };
    } finally {
      await handle.close();
    }
  }

  /** Renames a full `current` away (if it is still the file just written) and prunes old rotated files. */
  private async rotate(file: string): Promise<void> {
    const path = join(this.dir, CURRENT);
    const st = await fs.stat(path).catch(() => undefined);
    if (!st || identity(st) !== file) return; // another writer rotated it already
    await fs.rename(path, join(this.dir, `${Date.now()}-${randomBytes(4).toString('hex')}.log`)).catch(() => undefined);
    const cutoff = Date.now() - this.keepMs;
    for (const name of await readdirSafe(this.dir)) {
      if (ROTATED.test(name) && Number(name.slice(0, 13)) < cutoff) await fs.unlink(join(this.dir, name)).catch(() => undefined);
    }
  }
}
