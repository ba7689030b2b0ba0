import { watch } from 'node:fs';
import { isTempName } from './fsutil.js';

export interface DirWatcher { close(): void }

/**
 * Watches one directory (not recursively) and calls `onHint(name)` for entries added, changed or
 * removed. Events are hints only: every loop also scans on a timer, because watchers miss events
 * (bursts, queue overflow, the gap between a scan and the watch starting).
 *
 * One inotify watch through node's fs.watch, not chokidar: chokidar re-reads and stats the
 * directory on every change, which makes draining a directory of n files O(n^2). Measured on the
 * 2-core machine, 5,000 files created then renamed away: 47-75 s with chokidar (even with every
 * child ignored) against 1.7 s with fs.watch and 1.3 s with no watcher at all.
 * The watch is in place when this returns, so no "ready" event is needed.
 */
export function watchDir(dir: string, onHint: (name: string) => void): DirWatcher {
  try {
    const inner = watch(dir, { persistent: true }, (_event, name) => {
      if (name && !isTempName(String(name))) onHint(String(name));
    });
    inner.on('error', () => undefined);
    return { close: () => inner.close() };
  } catch {
    // The directory is missing or cannot be watched: the periodic scans still find everything.
    return { close: () => undefined };
  }
}
