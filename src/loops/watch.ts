import { EventEmitter } from 'node:events';
import { watch } from 'node:fs';
import type { FSWatcher } from 'chokidar';

/**
 * Watches one directory (not recursively) and calls `onHint(name)` for files added, changed or
 * removed. Events are hints only: every loop also scans on a timer, because watchers miss events
 * (bursts, queue overflow, the gap between a scan and the watch starting).
 *
 * This is one inotify watch on the directory (node's fs.watch), not chokidar: chokidar re-reads
 * and lstats the whole directory on every change, which makes draining a directory of n files
 * O(n^2) and starves the thread pool (5,000 inbox files took ~40 s to claim instead of ~1 s).
 * The returned object keeps the part of chokidar's FSWatcher its callers use: `ready`, `close()`.
 */
export function watchDir(dir: string, onHint: (name: string) => void): FSWatcher {
  const emitter = new EventEmitter();
  let inner: ReturnType<typeof watch> | undefined;
  try {
    inner = watch(dir, { persistent: true }, (_event, name) => {
      if (name && !String(name).startsWith('.tmp-')) onHint(String(name));
    });
    inner.on('error', () => undefined);
  } catch {
    // The directory is missing or cannot be watched: the periodic scans still find everything.
  }
  const handle = Object.assign(emitter, { close: async () => inner?.close() });
  handle.on('error', () => undefined);
  setImmediate(() => handle.emit('ready'));
  return handle as unknown as FSWatcher;
}
