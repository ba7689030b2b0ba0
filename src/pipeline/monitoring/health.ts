import { statSync } from 'node:fs';
import { join } from 'node:path';
import { readdirSafe } from '../../core/fsutil.js';
import { AlertIncidents, type Incident } from '../../core/model/alerts.js';
import type { MonitoringConfig } from '../../core/monitoring-config.js';
import { readPresences } from '../../core/presence.js';
import type { StreamRecord, StoredEvent } from '../../core/record.js';
import { AUDIT_STREAM, streamOfTask } from '../../core/paths.js';
import { AUDIT_SIGNAL, SHARED_SIGNAL, type Subscription } from '../../core/signals.js';
import type { TaskView } from '../../core/model/task.js';
import type { OpenTasksHandle, Workspace } from '../../core/workspace.js';
import { parseDevEvent } from '../dev-events.js';
import '../dev-fold.js';
import { refusalOf, SECRET_READ, type Refusal } from './refusals.js';
import { timeSlicer } from '../../core/time-slice.js';
import { isTaskName } from '../../core/ids.js';

/**
 * The one read-side picture of the workspace's health: which `orchestra up` processes heartbeat
 * (presence files), queue depth per workstream and state of the open tasks, the oldest waiting
 * task, failures, completions, refusals and spend in the recent window, spend today, model usage,
 * test runs, lease takeovers and step durations since this process started watching, and the open
 * alert incidents. `orchestra status`, `/metrics`, the alert evaluator and the web's Security view
 * all read it; nothing else counts these things.
 *
 * Cost, at any number of tasks: open tasks come from the workspace's open-task index
 * (`ws.openTasks()`, O(open tasks)); the recent window is filled once at start from the tasks
 * whose signal file changed within it (one stat per task, then only those tasks' streams); after
 * that `refresh()` folds only the records the signal feed reports. Settled tasks read for the
 * window leave the caches again (`ws.forget`). The audit stream is read whole (one stream).
 * Invariants: a record is counted once (a per-stream seq checkpoint; a stream first seen through
 * a signal counts the records dated since the monitor started); the `sinceStart` counters start
 * at zero in each process (Prometheus counter semantics: a restart is a reset, which `rate()` and
 * `increase()` handle); what comes from records is hostile, so label values are reduced to a
 * bounded vocabulary (see refusals.ts).
 */
export interface UpHealth { host: string; pid: number; loops: string[]; startedAt: string; lastHeartbeat: string; ageSeconds: number; alive: boolean }
export interface QueueEntry { workstream: string; state: string; count: number }
export interface WaitingTask { id: string; number?: number; title: string; workstream: string; state: string; since: string; ageSeconds: number }
export interface UsageLine { provider: string; model: string; inputTokens: number; outputTokens: number; costUsd: number }
export interface SecurityEvent { at: string; kind: 'refusal' | 'secret-read'; source: string; reason: string; summary: string; stream: string }

export interface SinceStart {
  /** When this monitor started counting. */
  since: string;
  usage: UsageLine[];
  testRuns: Record<string, number>;
  refusalsByReason: Record<string, number>;
  leaseTakeovers: number;
  secretReads: number;
}

export interface HealthSnapshot {
  at: string;
  ups: UpHealth[];
  /** `settled`: archived, or in a state without a way out or a settled state (completed). */
  tasks: { total: number; open: number; settled: number };
  /** Open tasks by workstream and state. */
  queue: QueueEntry[];
  oldestWaiting?: WaitingTask;
  lastHour: { failures: number; completions: number; refusals: number; refusalsByReason: Record<string, number>; spendUsd: number };
  spend: { day: string; todayUsd: number };
  /** True when more tasks changed in the recent window than were read at start: `lastHour` and `spend` are lower bounds. */
  partial: boolean;
  commitLagSeconds?: number;
  alerts: Incident[];
  /** Counters of a following monitor (`up`, the web); absent for a one-shot reader (the CLI). */
  sinceStart?: SinceStart;
}

type Recent = { at: number; kind: 'failure' | 'completion' } | { at: number; kind: 'refusal'; refusal: Refusal } | { at: number; kind: 'cost'; usd: number };

const HOUR_MS = 3_600_000;
/** Caps that keep hostile volumes bounded in memory. */
const MAX_RECENT = 200_000;
const MAX_SECURITY_EVENTS = 500;
const MAX_USAGE_LINES = 200;
const MAX_STEPS = 50;
/** Records dated further ahead than this (a skewed clock, a forgery) stay out of the recent window. */
const MAX_FUTURE_MS = 5 * 60_000;
/** Tasks read at start to fill the recent window, most recently signalled first. */
const MAX_BACKFILL_TASKS = 5_000;
/** How long a count of the task directory is reused (a signal of a stream not seen before ends it sooner). */
const TOTAL_TTL_MS = 10_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const startOfDay = (ms: number) => Date.parse(`${dayOf(ms)}T00:00:00.000Z`);
const label = (value: unknown) => (typeof value === 'string' && /^[\x21-\x7e]{1,80}$/.test(value) ? value : 'unknown');

export class HealthMonitor {
  /** Seq folded so far per stream (task id, or AUDIT_SIGNAL). */
  private readonly seen = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private readonly usage = new Map<string, UsageLine>();
  private readonly spendByDay = new Map<string, number>();
  private readonly testRuns: Record<string, number> = {};
  private readonly refusalTotals: Record<string, number> = {};
  private readonly steps = new Set<string>();
  private readonly security: SecurityEvent[] = [];
  private readonly incidents = new AlertIncidents();
  private recent: Recent[] = [];
  private takeovers = 0;
  private secretReads = 0;
  private readonly startedAt: number;
  private subscription?: Subscription;
  private openTasks?: OpenTasksHandle;
  private lastOpen: TaskView[] = [];
  private backfilled?: Promise<void>;
  private refreshing?: Promise<void>;
  private total?: { count: number; at: number };
  /** The start-up fill of the recent window read only the most recent tasks. */
  private partial = false;

  constructor(
    private readonly ws: Workspace,
    private readonly opts: {
      /** Called once per finished step (a lease released) seen while following: the duration histogram. */
      onStep?: (step: string, seconds: number) => void;
      /** How far back the recent window reaches (the longest alert window); at least an hour. */
      windowMs?: number;
      now?: () => number;
    } = {},
  ) {
    this.startedAt = this.now();
  }

  private get config(): MonitoringConfig {
    return this.ws.config.monitoring;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private get following(): boolean {
    return this.subscription !== undefined;
  }

  /** Follows the signal feed (a long-running process): counts what is appended from now on. */
  async follow(): Promise<void> {
    this.subscription ??= await this.ws.signals.subscribe((name) => {
      if (name !== SHARED_SIGNAL) this.dirty.add(name);
    }, { fromNow: true });
    await this.refresh();
  }

  stop(): void {
    this.subscription?.close();
    this.subscription = undefined;
    this.openTasks?.close();
    this.openTasks = undefined;
  }

  /** Brings the picture up to date: the recent window once, then the streams that grew. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    await (this.backfilled ??= this.backfill());
    const names = [...this.dirty];
    this.dirty.clear();
    for (const name of names) {
      if (name === AUDIT_SIGNAL || !isTaskName(name)) continue;
      if (!this.seen.has(name)) this.total = undefined; // perhaps a new task: count them again
      await this.foldTask(name, true);
    }
    // While following, the audit stream is re-read only when its signal says it grew.
    if (!this.following || !this.seen.has(AUDIT_SIGNAL) || names.includes(AUDIT_SIGNAL)) await this.foldAudit();
    this.prune();
  }

  /**
   * Fills the recent window (and today's spend) from the tasks whose signal file changed since
   * its start: one stat per signal file, then only those streams, the most recent
   * MAX_BACKFILL_TASKS of them (beyond that the window's counts are lower bounds: `partial`).
   */
  private async backfill(): Promise<void> {
    const now = this.now();
    const from = Math.min(now - this.windowMs(), startOfDay(now));
    const recent: Array<{ name: string; mtime: number }> = [];
    const names = await readdirSafe(this.ws.paths.signals);
    // Synchronous stats in time slices: far cheaper than one promise per file, and the loop still turns.
    const pause = timeSlicer();
    for (const name of names) {
      await pause();
      if (!isTaskName(name)) continue;
      const st = statSync(join(this.ws.paths.signals, name), { throwIfNoEntry: false });
      if (st && st.mtimeMs >= from) recent.push({ name, mtime: st.mtimeMs });
    }
    recent.sort((a, b) => b.mtime - a.mtime);
    this.partial = recent.length > MAX_BACKFILL_TASKS;
    for (const { name } of recent.slice(0, MAX_BACKFILL_TASKS)) await this.foldTask(name, false, from);
  }

  /**
   * Folds a task's records past its checkpoint. `counting`: they were appended while following
   * (the since-start counters take them); a stream seen for the first time then counts only the
   * records dated since the monitor started. `from`: the backfill's window start.
   */
  private async foldTask(id: string, counting: boolean, from?: number): Promise<void> {
    const state = await this.ws.readStream(streamOfTask(id));
    const checkpoint = this.seen.get(id);
    for (const record of state.records) {
      if (checkpoint !== undefined && record.seq <= checkpoint) continue;
      const at = Date.parse(record.at);
      if (checkpoint === undefined && (counting ? !(at >= this.startedAt) : !(at >= (from ?? 0)))) continue;
      for (const event of record.events) this.foldEvent(event, record, at, state.records, counting);
    }
    this.seen.set(id, state.lastSeq);
    // A settled task's records leave this process's caches again (the open-task index does the same).
    const view = await this.ws.findTask(id);
    if (view && (await this.ws.isSettled(view))) this.ws.forget(id);
  }

  private foldEvent(event: StoredEvent, record: StreamRecord, at: number, records: readonly StreamRecord[], counting: boolean): void {
    const d = event.data as Record<string, unknown>;
    switch (event.type) {
      case 'task.moved':
        if (d.to === 'failed') this.remember({ at, kind: 'failure' });
        else if (d.to === 'completed') this.remember({ at, kind: 'completion' });
        return;
      case 'lease.released':
        if (counting) this.finishedStep(records, d.attempt, at);
        return;
      case 'lease.expired':
        if (counting) this.takeovers += 1;
        return;
      default:
        break;
    }
    const refusal = refusalOf(event);
    if (refusal) return this.refused(refusal, record, at, counting);
    const dev = parseDevEvent(event);
    if (dev?.type === 'model.called') {
      if (counting) {
        const provider = label(dev.data.provider);
        const model = label(dev.data.model);
        const key = this.usage.size >= MAX_USAGE_LINES && !this.usage.has(`${provider}\0${model}`) ? 'other\0other' : `${provider}\0${model}`;
        const [p, m] = key.split('\0') as [string, string];
        const line = this.usage.get(key) ?? { provider: p, model: m, inputTokens: 0, outputTokens: 0, costUsd: 0 };
        line.inputTokens += dev.data.inputTokens;
        line.outputTokens += dev.data.outputTokens;
        line.costUsd += dev.data.costUsd;
        this.usage.set(key, line);
      }
      if (Number.isFinite(at) && dev.data.costUsd > 0) {
        this.spendByDay.set(dayOf(at), (this.spendByDay.get(dayOf(at)) ?? 0) + dev.data.costUsd);
        this.remember({ at, kind: 'cost', usd: dev.data.costUsd });
      }
    } else if (dev?.type === 'tests.ran' && counting) {
      const result = dev.data.passed ? 'passed' : dev.data.timedOut ? 'timeout' : 'failed';
      this.testRuns[result] = (this.testRuns[result] ?? 0) + 1;
    }
  }

  /** A released lease: its duration from the `lease.acquired` of the same attempt in the stream. */
  private finishedStep(records: readonly StreamRecord[], attempt: unknown, at: number): void {
    for (let i = records.length - 1; i >= 0; i--) {
      const acquired = records[i]!.events.find((e) => e.type === 'lease.acquired' && e.data.attempt === attempt);
      if (!acquired) continue;
      const since = Date.parse(records[i]!.at);
      if (Number.isFinite(since) && Number.isFinite(at) && at >= since) this.opts.onStep?.(this.stepLabel(acquired.data.purpose), (at - since) / 1000);
      return;
    }
  }

  /** A step (lease purpose) as a metric label: a short lower-case word, at most MAX_STEPS distinct, else `other`. */
  private stepLabel(purpose: unknown): string {
    if (typeof purpose !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/.test(purpose)) return 'other';
    if (!this.steps.has(purpose) && this.steps.size >= MAX_STEPS) return 'other';
    this.steps.add(purpose);
    return purpose;
  }

  private refused(refusal: Refusal, record: StreamRecord, at: number, counting: boolean): void {
    if (counting) this.refusalTotals[refusal.reason] = (this.refusalTotals[refusal.reason] ?? 0) + 1;
    this.remember({ at, kind: 'refusal', refusal });
    this.noteSecurity({ at: record.at, kind: 'refusal', source: refusal.source, reason: refusal.reason, summary: refusal.summary, stream: record.stream });
  }

  private noteSecurity(e: SecurityEvent): void {
    this.security.push(e);
    if (this.security.length > MAX_SECURITY_EVENTS) this.security.splice(0, this.security.length - MAX_SECURITY_EVENTS);
  }

  /** The audit stream (one stream, read whole): incidents, and refusals and secret reads for the window and the Security view. */
  private async foldAudit(): Promise<void> {
    const state = await this.ws.readStream(AUDIT_STREAM);
    const from = this.seen.get(AUDIT_SIGNAL) ?? 0;
    if (state.lastSeq === from) return;
    for (const record of state.records) {
      if (record.seq <= from) continue;
      const at = Date.parse(record.at);
      const counting = this.following && at >= this.startedAt;
      for (const event of record.events) {
        const refusal = refusalOf(event);
        if (refusal) this.refused(refusal, record, at, counting);
        else if (event.type === SECRET_READ) {
          if (counting) this.secretReads += 1;
          const d = event.data as Record<string, unknown>;
          this.noteSecurity({ at: record.at, kind: 'secret-read', source: 'context', reason: 'SECRET_READ', summary: `${label(d.key ?? d.name)} read by ${label(d.by ?? d.role ?? record.actor.name)}`, stream: record.stream });
        }
      }
    }
    this.incidents.apply(state.records);
    this.seen.set(AUDIT_SIGNAL, state.lastSeq);
  }

  private remember(r: Recent): void {
    const now = this.now();
    if (!Number.isFinite(r.at) || r.at < now - this.windowMs() || r.at > now + MAX_FUTURE_MS) return;
    this.recent.push(r);
    if (this.recent.length > MAX_RECENT) this.recent.splice(0, this.recent.length - MAX_RECENT);
  }

  private windowMs(): number {
    const rules = this.config.alerts;
    const longest = Math.max(rules.failureRate.windowMinutes, rules.refusalBurst.windowMinutes) * 60_000;
    return Math.max(HOUR_MS, longest, this.opts.windowMs ?? 0);
  }

  private prune(): void {
    const cutoff = this.now() - this.windowMs();
    if (this.recent.length > 0 && this.recent[0]!.at < cutoff) this.recent = this.recent.filter((r) => r.at >= cutoff);
  }

  /** The open tasks now: the workspace's open-task index, kept while following. */
  private async openViews(): Promise<TaskView[]> {
    const handle = this.openTasks ?? this.ws.openTasks();
    try {
      return (this.lastOpen = await handle.views());
    } finally {
      if (this.following) this.openTasks = handle;
      else handle.close();
    }
  }

  private async taskCount(now: number): Promise<number> {
    // While following, the open-task index knows every task: no listing of 100,000 directories.
    const known = this.following ? this.openTasks?.count() : undefined;
    if (known !== undefined) return known;
    if (!this.total || now - this.total.at > TOTAL_TTL_MS || !this.following) this.total = { count: (await this.ws.taskIds()).length, at: now };
    return this.total.count;
  }

  // ---- reading ----

  /** Counts of the recent window since `sinceMs` (bounded by the window kept). */
  recentCounts(sinceMs: number): { failures: number; completions: number; refusals: Refusal[]; spendUsd: number } {
    const out = { failures: 0, completions: 0, refusals: [] as Refusal[], spendUsd: 0 };
    for (const r of this.recent) {
      if (r.at < sinceMs) continue;
      if (r.kind === 'failure') out.failures++;
      else if (r.kind === 'completion') out.completions++;
      else if (r.kind === 'refusal') out.refusals.push(r.refusal);
      else if (r.kind === 'cost') out.spendUsd += r.usd;
    }
    return out;
  }

  /** Open tasks not in an idle state (waiting for the system), oldest first, as of the last snapshot. */
  waiting(now = this.now()): WaitingTask[] {
    const idle = new Set(this.config.idleStates);
    const list: WaitingTask[] = [];
    for (const v of this.lastOpen) {
      if (idle.has(v.state)) continue;
      const since = Date.parse(v.stateSince);
      list.push({ id: v.id, ...(v.number ? { number: v.number } : {}), title: v.title, workstream: v.workstream, state: v.state, since: v.stateSince, ageSeconds: Number.isFinite(since) ? Math.max(0, Math.round((now - since) / 1000)) : 0 });
    }
    return list.sort((a, b) => a.since.localeCompare(b.since));
  }

  openIncidents(): Incident[] {
    return [...this.incidents.open.values()];
  }

  resolvedIncidents(): Incident[] {
    return [...this.incidents.resolved];
  }

  /** Newest first: refusals and secret reads, as the Security view lists them. */
  securityEvents(): SecurityEvent[] {
    return [...this.security].reverse();
  }

  async ups(now = this.now()): Promise<UpHealth[]> {
    return (await readPresences(this.ws.paths, now)).map((p) => ({
      host: p.host, pid: p.pid, loops: p.loops, startedAt: p.startedAt, lastHeartbeat: p.at,
      ageSeconds: Number.isFinite(p.ageMs) ? Math.round(p.ageMs / 1000) : -1, alive: !p.stale,
    }));
  }

  /** The picture now (after a refresh). */
  async snapshot(): Promise<HealthSnapshot> {
    await this.refresh();
    const open = await this.openViews();
    const now = this.now();
    const counts = new Map<string, number>();
    for (const v of open) counts.set(`${v.workstream}\0${v.state}`, (counts.get(`${v.workstream}\0${v.state}`) ?? 0) + 1);
    const queue = [...counts].map(([key, count]) => {
      const [workstream, state] = key.split('\0') as [string, string];
      return { workstream, state, count };
    }).sort((a, b) => a.workstream.localeCompare(b.workstream) || a.state.localeCompare(b.state));
    const total = Math.max(await this.taskCount(now), open.length);
    const hour = this.recentCounts(now - HOUR_MS);
    const byReason: Record<string, number> = {};
    for (const r of hour.refusals) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
    const lag = this.ws.journal.lagMs(now);
    const oldest = this.waiting(now)[0];
    return {
      at: new Date(now).toISOString(),
      ups: await this.ups(now),
      tasks: { total, open: open.length, settled: total - open.length },
      queue,
      ...(oldest ? { oldestWaiting: oldest } : {}),
      lastHour: { failures: hour.failures, completions: hour.completions, refusals: hour.refusals.length, refusalsByReason: byReason, spendUsd: hour.spendUsd },
      spend: { day: dayOf(now), todayUsd: this.spendByDay.get(dayOf(now)) ?? 0 },
      partial: this.partial,
      ...(lag !== undefined ? { commitLagSeconds: lag / 1000 } : {}),
      alerts: this.openIncidents(),
      ...(this.following ? {
        sinceStart: {
          since: new Date(this.startedAt).toISOString(),
          usage: [...this.usage.values()].map((u) => ({ ...u })),
          testRuns: { ...this.testRuns },
          refusalsByReason: { ...this.refusalTotals },
          leaseTakeovers: this.takeovers,
          secretReads: this.secretReads,
        },
      } : {}),
    };
  }
}
