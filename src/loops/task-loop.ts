import { describeError, OrchestraError } from '../core/errors.js';
import { claimTask, taskLeaseStatus, type Lease } from '../core/leases.js';
import { isUlid } from '../core/ids.js';
import type { TaskView } from '../core/model/task.js';
import type { Loop, LoopEnv } from './loop.js';
import type { Subscription } from '../core/signals.js';

export interface TaskWork {
  lease: Lease;
  task: TaskView;
  /** Aborted when the loop stops or the lease is lost: stop at the next safe point. */
  signal: AbortSignal;
}

export interface TaskLoopSpec {
  name: string;
  /** Lease purpose recorded in the claim. */
  purpose: string;
  wants(task: TaskView): boolean;
  /** Does the work; should release the lease with its final events. Throwing releases it too. */
  work(job: TaskWork): Promise<void>;
  concurrency?: number;
  leaseTtlMs?: number;
  /** Refreshes what `wants` depends on besides the task (e.g. workstream triggers) before each scan. */
  beforeScan?: () => Promise<void>;
  /**
   * While a task is worked on, each signal of it re-folds the task and aborts the work's signal
   * when this says no (e.g. the task was aborted by a person): the step stops at its next safe point.
   */
  keepWorkingWhile?: (task: TaskView) => boolean;
  /**
   * Called (with the lease still held) when `work` has thrown `loops.maxStepFailures` times in a
   * row on one task: ends the task with the reason (e.g. moves it to failed). Without it the loop
   * stops taking that task until this process restarts. Either way a task whose step always
   * throws is not claimed and released forever.
   */
  giveUp?: (lease: Lease, reason: string) => Promise<void>;
}

/**
 * Runs a TaskLoopSpec: learns of tasks from the signal feed (hints) and periodic scans (truth),
 * claims each wanted task with a lease, renews it while working, and releases it at the end.
 */
export class TaskLoop implements Loop {
  readonly name: string;
  private readonly queue = new Set<string>();
  private readonly running = new Map<string, AbortController>();
  /** Consecutive failures of `work` per task (reset when it returns), and tasks given up on. */
  private readonly failures = new Map<string, number>();
  private readonly parked = new Set<string>();
  /** Tasks whose claim could not be confirmed (remote unreachable): not claimed again before then. */
  private readonly resting = new Map<string, number>();
  /** Tasks signalled while running here: looked at again when the run ends. */
  private readonly again = new Set<string>();
  private signals?: Subscription;
  /** The workspace's open tasks, shared by the loops of this process; closed at stop. */
  private readonly open: { views(): Promise<TaskView[]>; close(): void };
  private timer?: NodeJS.Timeout;
  private stopping = false;
  private pumping = false;
  private wake?: () => void;

  constructor(private readonly env: LoopEnv, private readonly spec: TaskLoopSpec) {
    this.name = spec.name;
    this.open = env.ws.openTasks();
  }

  private get ttl() { return this.env.ws.acceptance.leaseTtlMs(this.spec.leaseTtlMs ?? this.env.ws.config.loops.leaseTtlMs); }
  private get concurrency() { return this.spec.concurrency ?? this.env.ws.config.loops.concurrency; }

  async start(): Promise<void> {
    // Signals are hints that shorten the wait; the scan below and the periodic ones are the truth.
    this.signals = await this.env.ws.signals.subscribe((taskId) => this.onSignal(taskId), { fromNow: true });
    await this.scan();
    const tick = async () => {
      if (this.stopping) return;
      await this.scan().catch((err) => this.env.log.warn('scan failed', describeError(err)));
      this.timer = setTimeout(tick, this.env.ws.config.loops.scanIntervalMs);
    };
    this.timer = setTimeout(tick, this.env.ws.config.loops.scanIntervalMs);
  }

  /** Queues every task this loop would take now; returns how many. */
  async scan(): Promise<number> {
    await this.spec.beforeScan?.();
    let found = 0;
    for (const task of await this.open.views()) {
      if (!task.archived && this.spec.wants(task) && !this.running.has(task.id) && !this.parked.has(task.id) && !this.isResting(task.id)) {
        if (task.lease && !task.lease.released && (await taskLeaseStatus(this.env.ws, task)).state === 'held') continue;
        found++;
        this.enqueue(task.id);
      }
    }
    return found;
  }

  private isResting(taskId: string): boolean {
    const until = this.resting.get(taskId);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.resting.delete(taskId);
    return false;
  }

  private onSignal(taskId: string): void {
    const running = this.running.get(taskId);
    const keep = this.spec.keepWorkingWhile;
    if (!running || !keep) return this.enqueue(taskId);
    void this.env.ws.findTask(taskId).then(
      (view) => { if (view && !keep(view)) running.abort(new OrchestraError('INVALID_TRANSITION', `the task moved to ${view.state}`)); },
      () => undefined, // unreadable for a moment: the next signal or scan looks again
    );
  }

  private enqueue(taskId: string): void {
    if (this.stopping || !isUlid(taskId) || this.parked.has(taskId) || this.isResting(taskId)) return;
    this.queue.add(taskId);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.stopping && this.queue.size > 0) {
        if (this.running.size >= this.concurrency) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        const taskId = this.queue.values().next().value as string;
        this.queue.delete(taskId);
        if (this.running.has(taskId)) {
          // A signal that lands while the task's step runs (or while a look at it is in flight)
          // is looked at again when that ends, not dropped until the next scan.
          this.again.add(taskId);
          continue;
        }
        const controller = new AbortController();
        this.running.set(taskId, controller);
        void this.runOne(taskId, controller).finally(() => {
          this.running.delete(taskId);
          if (this.again.delete(taskId)) this.enqueue(taskId);
          this.wake?.();
          this.wake = undefined;
        });
      }
    } finally {
      this.pumping = false;
    }
  }

  private async runOne(taskId: string, controller: AbortController): Promise<void> {
    const { ws, actor, log } = this.env;
    let lease: Lease | null = null;
    try {
      const view = await ws.findTask(taskId);
      if (!view || view.archived || !this.spec.wants(view)) return;
      lease = await claimTask(ws, taskId, { purpose: this.spec.purpose, owner: `${this.name}@${actor.host}#${actor.pid}`, ttlMs: this.ttl, actor, when: (v) => this.spec.wants(v) });
      if (!lease) return;
      const held = lease;
      const heartbeat = setInterval(() => {
        held.renew().catch((err) => {
          log.warn('lease lost, stopping work', { task: taskId, ...describeError(err) });
          controller.abort(new OrchestraError('LEASE_LOST', 'lease lost'));
        });
      }, Math.max(50, Math.floor(this.ttl / 3)));
      try {
        // With a remote, the claim counts only once accepted there (spec §20); no-op without one.
        await ws.acceptance.confirm(held, controller.signal);
        const task = await ws.task(taskId);
        // The accepted records may have moved the task meanwhile (another machine): then not ours to do.
        if (!this.spec.wants(task)) return;
        await this.spec.work({ lease: held, task, signal: controller.signal });
        this.failures.delete(taskId);
      } finally {
        clearInterval(heartbeat);
      }
    } catch (err) {
      const { code, message } = describeError(err);
      if (code === 'CLAIM_UNCONFIRMED') {
        // Not the step's fault: no effect started; the task is taken again once the remote answers.
        log.warn('claim not confirmed by the remote, will retry', { task: taskId, message });
        this.resting.set(taskId, Date.now() + Math.max(1000, this.env.ws.config.loops.scanIntervalMs * 2));
      } else if (code !== 'LEASE_LOST') {
        log.error('work failed', { task: taskId, code, message });
        if (!controller.signal.aborted) await this.countFailure(taskId, lease, message);
      }
    } finally {
      if (lease) await this.releaseIfHeld(lease);
    }
  }

  private async countFailure(taskId: string, lease: Lease | null, message: string): Promise<void> {
    const count = (this.failures.get(taskId) ?? 0) + 1;
    this.failures.set(taskId, count);
    const limit = this.env.ws.config.loops.maxStepFailures;
    if (count < limit) return;
    this.failures.delete(taskId);
    const reason = `${this.name} gave up after ${count} failures in a row: ${message}`;
    if (lease && this.spec.giveUp) {
      await this.spec.giveUp(lease, reason).catch((err) => this.env.log.error('giving up failed', { task: taskId, ...describeError(err) }));
      return;
    }
    this.parked.add(taskId);
    this.env.log.error('not taking this task again until restart', { task: taskId, reason });
  }

  private async releaseIfHeld(lease: Lease): Promise<void> {
    const view = await this.env.ws.findTask(lease.taskId);
    if (view?.lease && !view.lease.released && view.lease.attempt === lease.attempt) {
      await lease.release([], 'released by loop').catch(() => undefined);
    }
  }

  async idle(): Promise<boolean> {
    if (this.queue.size > 0 || this.running.size > 0) return false;
    return (await this.scan()) === 0;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.queue.clear();
    this.signals?.close();
    this.open.close();
    for (const controller of this.running.values()) controller.abort(new OrchestraError('INTERNAL', 'loop stopping'));
    while (this.running.size > 0) await new Promise((r) => setTimeout(r, 20));
  }
}
