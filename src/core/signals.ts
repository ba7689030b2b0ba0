import { promises as fs, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readdirSafe, readFileSafe, writeInPlace } from './fsutil.js';
import { SignalLog, type LogCursor } from './signal-log.js';
import { watchDir, type DirWatcher } from './watch.js';
import { timeSlicer } from './time-slice.js';

/**
 * The one way to learn that a stream grew. Every append (by any process) writes the stream's
 * last seq into `.orchestra/signals/<name>` (a task id, or `_audit`); this feed turns those files
 * into calls `onSignal(name, seq)` for each subscriber.
 *
 * Sources, in order of speed: appends made by this process (at once), a watch of the signals
 * directory (other processes; see watch.ts for why fs.watch), and a reconcile every `scanMs`
 * that reads the lines appended to the shared signal log since the last one (watchers miss
 * events; see signal-log.ts). Its cost follows the appends, not the number of streams: a full
 * scan of the signal files (re-reading those whose mtime changed) runs only at start,
 * when the log cannot account for a gap, and every `FULL_SCAN_MS` as a last resort.
 *
 * Invariants: each subscriber has its own checkpoint (the seq it was last given per name) and is
 * called only when a seq passes it, so a burst of hints becomes one call per new seq; a
 * subscriber that starts `fromNow` is given nothing that existed before it subscribed; signals
 * are hints about what to re-read, never the data itself (a consumer re-folds the stream).
 */
export const AUDIT_SIGNAL = '_audit';
/** Any other shared stream (workstreams, artifacts): only "something was written" matters. */
export const SHARED_SIGNAL = '_shared';
const SIGNAL_NAME = /^(?:[0-9A-Za-z]{1,64}|_audit|_shared)$/;
/** The safety-net full scan's period (writers of an older version do not append to the log). */
const FULL_SCAN_MS = 10 * 60 * 1000;

export interface Subscription {
  /**
   * Highest seq given to this subscriber per name: its checkpoint. A `fromNow` subscriber's entry
   * appears when a name first changes after it subscribed (not copied for every name at start:
   * with 100,000 tasks that copy per subscriber was most of an idle `up`'s memory).
   */
  readonly checkpoint: Map<string, number>;
  close(): void;
}

interface Subscriber extends Subscription {
  onSignal(name: string, seq: number, previous: number): void;
  /** Checkpoint for a name never delivered (e.g. from a state file); default 0. */
  initial?(name: string): number;
  /** Streams as they were at subscription count as delivered. */
  fromNow: boolean;
}

const SEQ_DIGITS = 16;

/**
 * A signal file's text: the seq twice, fixed width. Files are rewritten in place (writeInPlace),
 * so a reader racing a writer could see a mix of the old and new digits; the two
 * copies then differ and the text is ignored (a hint lost, never a wrong seq: one too high would
 * hide the next real signal). Every text has the same length, so a rewrite covers the last one.
 */
export function signalText(seq: number): string {
  const digits = String(seq).padStart(SEQ_DIGITS, '0');
  return `${digits} ${digits}\n`;
}

/** The seq a signal file says: both copies equal, or the one-number text of older versions; else undefined. */
export function parseSignalText(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const pair = /^(\d{1,16}) (\d{1,16})\n?$/.exec(text);
  const seq = pair ? (pair[1] === pair[2] ? Number(pair[1]) : NaN) : /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}

export class SignalFeed {
  private readonly subscribers = new Set<Subscriber>();
  /** Last seq seen per name, from any source. */
  private readonly known = new Map<string, number>();
  /** mtime of each signal file at the last scan (a number: 100,000 strings cost megabytes). */
  private readonly prints = new Map<string, number>();
  private watcher?: DirWatcher;
  private timer?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private started?: Promise<void>;
  private readonly log: SignalLog;
  private cursor?: LogCursor;
  private lastFullScan = 0;

  constructor(private readonly dir: string, logDir: string, private readonly scanMs: number) {
    this.log = new SignalLog(logDir);
  }

  /** Writes the signal of a stream that reached `seq` (called for every append of this process). */
  async write(name: string, seq: number): Promise<void> {
    this.seen(name, seq);
    try {
      writeInPlace(join(this.dir, name), signalText(seq)); // sync: a few bytes, less than a thread-pool round trip
    } catch {
      // a hint: the log line below and the full scans still carry it
    }
    await this.log.append(name, seq);
  }

  /** The last seq seen of a stream (from any source), 0 if none: what a full scan or the log said. */
  lastSeq(name: string): number {
    return this.known.get(name) ?? 0;
  }

  /**
   * Calls `onSignal(name, seq, previous)` whenever a stream passes this subscriber's checkpoint
   * (`previous`). With `fromNow`, streams as they are at subscription count as delivered; else
   * `initial(name)` (default 0) is the starting checkpoint. Resolves once the feed is watching.
   */
  async subscribe(onSignal: (name: string, seq: number, previous: number) => void, opts: { fromNow?: boolean; initial?: (name: string) => number } = {}): Promise<Subscription> {
    await this.ensureStarted();
    const sub: Subscriber = {
      checkpoint: new Map(),
      onSignal,
      fromNow: opts.fromNow === true,
      ...(opts.initial ? { initial: opts.initial } : {}),
      close: () => {
        this.subscribers.delete(sub);
        if (this.subscribers.size === 0) this.shutdown();
      },
    };
    this.subscribers.add(sub);
    if (!opts.fromNow) for (const [name, seq] of this.known) this.deliver(sub, name, seq);
    return sub;
  }

  /** Catches up now (tests and `--once` use it instead of waiting for the timer). */
  scan(): Promise<void> {
    this.scanning ??= this.reconcile().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  /** Reads the log since the cursor; falls back to a full scan without a cursor, on a gap, or when it is due. */
  private async reconcile(): Promise<void> {
    if (this.cursor && Date.now() - this.lastFullScan < FULL_SCAN_MS) {
      const read = await this.log.readSince(this.cursor);
      this.cursor = read.cursor;
      for (const [name, seq] of read.entries) if (SIGNAL_NAME.test(name)) this.seen(name, seq);
      if (!read.lost) return;
    }
    // The cursor is taken before the scan: a line appended during it is read (again) next time.
    this.cursor = await this.log.mark();
    this.lastFullScan = Date.now();
    await this.scanFiles();
  }

  private ensureStarted(): Promise<void> {
    this.started ??= (async () => {
      await fs.mkdir(this.dir, { recursive: true });
      this.watcher = watchDir(this.dir, (name) => void this.readOne(name));
      await this.scan();
      const tick = () => {
        void this.scan().finally(() => {
          if (this.started) this.timer = setTimeout(tick, this.scanMs);
        });
      };
      this.timer = setTimeout(tick, this.scanMs);
    })();
    return this.started;
  }

  private shutdown(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.started = undefined;
  }

  /**
   * Stats every signal file and re-reads those whose mtime changed. Synchronous calls in
   * slices (a signal file is a few bytes, usually cached): one await per file made the first scan
   * of 100,000 signals take minutes on a busy machine; the event loop gets a turn between slices.
   */
  private async scanFiles(): Promise<void> {
    const names = (await readdirSafe(this.dir)).filter((name) => SIGNAL_NAME.test(name));
    const pause = timeSlicer();
    for (const name of names) {
      await pause();
      const path = join(this.dir, name);
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      if (this.prints.get(name) === st.mtimeMs) continue;
      this.prints.set(name, st.mtimeMs);
      let text: string | undefined;
      try {
        text = readFileSync(path, 'latin1');
      } catch {
        // vanished or unreadable: the next scan looks again
      }
      this.seenText(name, text);
    }
  }

  private async readOne(name: string): Promise<void> {
    if (!SIGNAL_NAME.test(name)) return;
    this.seenText(name, await readFileSafe(join(this.dir, name)).catch(() => undefined));
  }

  /** A signal file's text is a seq; anything else (torn, planted, empty) is ignored. */
  private seenText(name: string, text: string | undefined): void {
    const seq = parseSignalText(text);
    if (seq !== undefined) this.seen(name, seq);
  }

  private seen(name: string, seq: number): void {
    // What was known before this change: for a `fromNow` subscriber that has no entry for the
    // name yet, that is the seq the name had when it subscribed (any later change would have
    // given it an entry).
    const before = this.known.get(name) ?? 0;
    if (before >= seq) return;
    this.known.set(name, seq);
    for (const sub of this.subscribers) this.deliver(sub, name, seq, before);
  }

  private deliver(sub: Subscriber, name: string, seq: number, before = 0): void {
    const at = sub.checkpoint.get(name) ?? (sub.fromNow ? before : sub.initial?.(name) ?? 0);
    if (seq <= at) return;
    sub.checkpoint.set(name, seq);
    try {
      sub.onSignal(name, seq, at);
    } catch {
      // A consumer's failure is its own; the feed goes on.
    }
  }
}
