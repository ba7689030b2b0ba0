import { join } from 'node:path';
import { readFileSafe, writeAtomic } from './fsutil.js';
import { isTaskName } from './ids.js';
import type { TaskView } from './model/task.js';
import type { SignalFeed, Subscription } from './signals.js';
import { timeSlicer, type Pause } from './time-slice.js';

/**
 * The tasks a loop might still act on, kept current without re-reading every task: what makes a
 * loop's periodic scan cost O(open tasks) instead of O(all tasks).
 *
 * A task is *settled* when it is archived or in a state its workstream's map gives no way out of,
 * or one the workstream names in `settledStates` (dev's `completed`: only a person's feedback
 * leads out, and that appends a record, so the task is re-read); every other task is open. The first pass reads every task, except those the
 * persisted index (`.orchestra/index/settled.json`, `{id: seq}`) says were settled at exactly
 * the seq their signal file shows now; later passes re-fold only the tasks the signal feed says
 * grew, and serve the other open tasks from their last view (re-read every OPEN_REFRESH_MS
 * anyway). A settled task's records leave the process's caches, so memory follows the open tasks
 * too. A full pass runs every FULL_PASS_MS.
 *
 * Invariants: an index entry is trusted only while the task's signal shows the same seq, so a
 * record appended by any process (any signal past that seq) makes the task re-read; the index is
 * a cache of what the records say (`verify` re-derives it, `index-stale` when it disagrees), and
 * a missing or unreadable index only costs one full read. A workstream map changed so that a
 * settled state gets a way out again is seen for its settled tasks only when they next change.
 */
export interface OpenTaskSource {
  taskIds(): Promise<string[]>;
  findTask(id: string): Promise<TaskView | undefined>;
  isSettled(view: TaskView): Promise<boolean>;
  /** Drops a settled task's records and view from this process's caches. */
  forget(id: string): void;
  /** Whether the task's stream has a record past `seq` on disk (one stat, no read). */
  grewPast(id: string, seq: number): boolean;
  /** Last seq of a workstream's stream (its state map): a change re-folds its open tasks. */
  workstreamSeq(name: string): Promise<number>;
  /** Changes whenever sync renumbered records (same length, other content): '' without sync. */
  syncGeneration(): string;
  readonly signals: SignalFeed;
}

const INDEX_VERSION = 1;
/** The index file is rewritten at most this often (it only saves a fresh process's reads). */
const SAVE_EVERY_MS = 60_000;
/** A full pass every so often re-reads tasks whose signals were lost (a crash between append and signal). */
const FULL_PASS_MS = 30 * 60_000;
/** Open tasks are checked this often for records no signal told of (one stat per open task). */
const OPEN_REFRESH_MS = 30_000;

export class OpenTaskIndex {
  /** Open tasks and their views as of their last signal: unchanged streams are not re-read. */
  private readonly open = new Map<string, TaskView>();
  private readonly settled = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private subscription?: Subscription;
  private lastFullPass = 0;
  private lastOpenRefresh = Date.now();
  private lastSave = 0;
  private unsaved = false;
  private passing?: Promise<TaskView[]>;
  private closed = false;
  /** What the 30 s check last saw: sync's generation marker and each workstream's last seq. */
  private generation?: string;
  private readonly workstreamSeqs = new Map<string, number>();

  /** `openRefreshMs`: how often open tasks are checked for unsignalled records (tests shorten it). */
  constructor(private readonly source: OpenTaskSource, private readonly indexPath: string, private readonly openRefreshMs = OPEN_REFRESH_MS) {}

  static pathIn(runtimeDir: string): string {
    return join(runtimeDir, 'index', 'settled.json');
  }

  /** The open tasks' current views. Concurrent callers share one pass. */
  views(): Promise<TaskView[]> {
    this.passing ??= this.pass().finally(() => (this.passing = undefined));
    return this.passing;
  }

  /**
   * How many tasks exist (open + settled) as of the last pass, or undefined before the first
   * full pass: what a count needs without listing every task directory.
   */
  count(): number | undefined {
    return this.subscription && !this.closed ? this.open.size + this.settled.size : undefined;
  }

  /** Stops following the feed; later calls (e.g. a loop's last idle check) read every task. */
  close(): void {
    this.closed = true;
    this.subscription?.close();
    this.subscription = undefined;
  }

  private async pass(): Promise<TaskView[]> {
    // Reads are synchronous underneath: the pauses let intake and the other loops run in between.
    const pause = timeSlicer();
    if (this.closed) for (const id of await this.source.taskIds()) this.dirty.add(id);
    else if (!this.subscription || Date.now() - this.lastFullPass > FULL_PASS_MS) await this.fullPass(pause);
    else if (Date.now() - this.lastOpenRefresh >= this.openRefreshMs) await this.checkOpen(pause);
    const ids = [...this.dirty];
    this.dirty.clear();
    for (const id of ids) {
      await pause();
      await this.classify(id);
    }
    await this.saveIfDue();
    return [...this.open.values()];
  }

  /**
   * Open tasks are checked now and then even without a signal: a lost hint (a writer killed
   * between its append and its signal) delays a task by this much at most, not until the next
   * full pass. A stat of the next record file, not a re-read: 5,000 open tasks cost ms. A sync
   * renumbering or a changed state map re-folds them all.
   */
  private async checkOpen(pause: Pause): Promise<void> {
    const generation = this.source.syncGeneration();
    const renumbered = this.generation !== undefined && generation !== this.generation;
    this.generation = generation;
    const mapChanged = await this.changedWorkstreams();
    for (const [id, view] of this.open) {
      await pause();
      if (renumbered || mapChanged.has(view.workstream) || this.source.grewPast(id, view.lastSeq)) this.dirty.add(id);
    }
    this.lastOpenRefresh = Date.now();
  }

  /** Workstreams of open tasks whose state map grew since the last look (their tasks are re-folded). */
  private async changedWorkstreams(): Promise<Set<string>> {
    const changed = new Set<string>();
    for (const name of new Set([...this.open.values()].map((v) => v.workstream))) {
      const seq = await this.source.workstreamSeq(name);
      if (this.workstreamSeqs.has(name) && this.workstreamSeqs.get(name) !== seq) changed.add(name);
      this.workstreamSeqs.set(name, seq);
    }
    return changed;
  }

  /** Reads every task not known to be settled at its current seq. */
  private async fullPass(pause: Pause): Promise<void> {
    this.subscription ??= await this.source.signals.subscribe((id) => { if (isTaskName(id)) this.dirty.add(id); }, { fromNow: true });
    const saved = this.settled.size ? this.settled : await this.load();
    this.lastFullPass = Date.now();
    this.generation = this.source.syncGeneration();
    for (const id of await this.source.taskIds()) {
      await pause();
      const seq = saved.get(id);
      // Trusted only while the signal agrees and no later record file exists (a writer killed
      // between its append and its signal would otherwise leave the task settled for good).
      if (seq !== undefined && seq === this.source.signals.lastSeq(id) && !this.source.grewPast(id, seq)) {
        this.settled.set(id, seq);
        this.open.delete(id);
      } else this.dirty.add(id);
    }
  }

  /** Re-folds one task and files it as open or settled; returns its view when open. */
  private async classify(id: string): Promise<TaskView | undefined> {
    const view = await this.source.findTask(id);
    if (!view) {
      this.open.delete(id);
      return undefined;
    }
    if (await this.source.isSettled(view)) {
      if (this.settled.get(id) !== view.lastSeq) this.unsaved = true;
      this.settled.set(id, view.lastSeq);
      this.open.delete(id);
      this.source.forget(id);
      return undefined;
    }
    if (this.settled.delete(id)) this.unsaved = true;
    this.open.set(id, view);
    return view;
  }

  private load(): Promise<Map<string, number>> {
    return loadSettledIndex(this.indexPath);
  }

  private async saveIfDue(): Promise<void> {
    if (!this.unsaved || Date.now() - this.lastSave < SAVE_EVERY_MS) return;
    this.unsaved = false;
    this.lastSave = Date.now();
    await writeAtomic(this.indexPath, JSON.stringify({ v: INDEX_VERSION, settled: Object.fromEntries(this.settled) })).catch(() => undefined);
  }
}

/** The persisted `{id: seq}` of settled tasks; empty when missing, unreadable or of another version. */
export async function loadSettledIndex(path: string): Promise<Map<string, number>> {
  const map = new Map<string, number>();
  try {
    const parsed = JSON.parse((await readFileSafe(path)) ?? '{}') as { v?: number; settled?: Record<string, unknown> };
    if (parsed.v !== INDEX_VERSION || typeof parsed.settled !== 'object' || !parsed.settled) return map;
    for (const [id, seq] of Object.entries(parsed.settled)) if (typeof seq === 'number' && Number.isSafeInteger(seq)) map.set(id, seq);
  } catch {
    // unreadable: one full read costs what it did before the index existed
  }
  return map;
}
