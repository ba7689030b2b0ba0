import { watch, type FSWatcher } from 'chokidar';

/**
 * Watches one directory (not recursively) and calls `onHint(name)` for files added or changed.
 * Events are hints only: every loop also scans on a timer, because watchers miss events (bursts,
 * queue overflow, the gap between a scan and the watch starting).
 */
export function watchDir(dir: string, onHint: (name: string) => void): FSWatcher {
  const watcher = watch(dir, { depth: 0, ignoreInitial: true, persistent: true, ignored: (path) => path.includes('/.tmp-') });
  const hint = (path: string) => onHint(path.slice(path.lastIndexOf('/') + 1));
  watcher.on('add', hint).on('change', hint).on('error', () => undefined);
  return watcher;
}
