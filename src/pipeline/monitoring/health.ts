import { AlertIncidents, type Incident } from '../../core/model/alerts.js';
import type { MonitoringConfig } from '../../core/monitoring-config.js';
import { readPresences } from '../../core/presence.js';
import type { StreamRecord, StoredEvent } from '../../core/record.js';
import { AUDIT_STREAM, streamOfTask } from '../../core/paths.js';
import { AUDIT_SIGNAL, SHARED_SIGNAL, type Subscription } from '../../core/signals.js';
import type { TaskView } from '../../core/model/task.js';
import type { WorkstreamView } from '../../core/model/workstream.js';
import type { Workspace } from '../../core/workspace.js';
import { parseDevEvent } from '../dev-events.js';
import '../dev-fold.js';
import { refusalOf, SECRET_READ, type Refusal } from './refusals.js';

/**
 * The one read-side picture of the workspace's health: which `orchestra up` processes heartbeat
 * (presence files), queue depth per workstream and state, the oldest waiting task, failures and
 * refusals in the last hour, spend today, model usage totals, test runs, lease takeovers, step
 * durations, open alert incidents. `orchestra status`, `/metrics`, the alert evaluator and the
 * web's Security view all read it; nothing else counts these things.
 *
 * Cost: `load()` folds every task once (as any reader does at start); afterwards `refresh()`
 * re-reads only the streams the signal feed reported (the store reads only new record files),
 * and a snapshot walks the open tasks and the recent-event window, not the history.
 * Invariants: every record is counted once (a per-stream seq checkpoint); totals are derived
 * from records, so they are the same in every process and after a restart; what comes from
 * records is hostile, so label values are reduced to a bounded vocabulary (see refusals.ts).
 */
export interface UpHealth { host: string; pid: number; loops: string[]; startedAt: string; lastHeartbeat: string; ageSeconds: number; alive: boolean }
export interface QueueEntry { workstream: string; state: string; count: number }
export interface WaitingTask { id: string; number?: number; title: string; workstream: string; state: string; since: string; ageSeconds: number }
export interface UsageLine { provider: string; model: string; inputTokens: number; outputTokens: number; costUsd: number }
export interface SecurityEvent { at: string; kind: 'refusal' | 'secret-read'; source: string; reason: string; summary: string; stream: string }

export interface HealthSnapshot {
  at: string;
  ups: UpHealth[];
  tasks: { total: number; open: number; archived: number };
  queue: QueueEntry[];
  oldestWaiting?: WaitingTask;
  lastHour: { failures: number; completions: number; refusals: number; refusalsByReason: Record<string, number>; spendUsd: number };
  spend: { day: string; todayUsd: number };
  commitLagSeconds?: number;
  alerts: Incident[];
  totals: {
    usage: UsageLine[];
    testRuns: Record<string, number>;
    refusalsByReason: Record<string, number>;
    leaseTakeovers: number;
    secretReads: number;
  };
}

interface TaskSummary { id: string; number?: number; title: string; workstream: string; state: string; since: string; archived: boolean }
type Recent = { at: number; kind: 'failure' | 'completion' } | { at: number; kind: 'refusal'; refusal: Refusal } | { at: number; kind: 'cost'; usd: number };

const HOUR_MS = 3_600_000;
/** Caps that keep hostile volumes bounded in memory. */
const MAX_RECENT = 200_000;
const MAX_SECURITY_EVENTS = 500;
const MAX_USAGE_LINES = 200;
const MAX_STEPS = 50;
/** Records dated further ahead than this (a skewed clock, a forgery) stay out of the recent window. */
const MAX_FUTURE_MS = 5 * 60_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const label = (value: unknown) => (typeof value === 'string' && /^[\x21-\x7e]{1,80}$/.test(value) ? value : 'unknown');

export class HealthMonitor {
  private readonly seen = new Map<string, number>();
  private readonly summaries = new Map<string, TaskSummary>();
  private readonly maps = new Map<string, WorkstreamView | undefined>();
  private readonly dirty = new Set<string>();
  private readonly openLeases = new Map<string, { purpose: string; at: number }>();
  private readonly steps = new Set<string>();
  private readonly usage = new Map<string, UsageLine>();
  private readonly spendByDay = new Map<string, number>();
  private readonly testRuns: Record<string, number> = {};
  private readonly refusalTotals: Record<string, number> = {};
  private readonly security: SecurityEvent[] = [];
  private recent: Recent[] = [];
  private takeovers = 0;
  private secretReads = 0;
  private readonly incidents = new AlertIncidents();
  private subscription?: Subscription;
  private loaded?: Promise<void>;
  private refreshing?: Promise<void>;
  private allDirty = true;

  constructor(
    private readonly ws: Workspace,
    private readonly opts: {
      /** Called once per finished step (a lease released), in record order: the duration histogram. */
      onStep?: (step: string, seconds: number) => void;
      /** How far back the recent window reaches (the longest alert window); at least an hour. */
      windowMs?: number;
      now?: () => number;
    } = {},
  ) {}

  private get config(): MonitoringConfig {
    return this.ws.config.monitoring;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** Follows the signal feed (for a long-running process) and folds everything once. */
  async follow(): Promise<void> {
    this.subscription ??= await this.ws.signals.subscribe((name) => {
      if (name === SHARED_SIGNAL) this.maps.clear();
      this.dirty.add(name);
    }, { fromNow: true });
    await this.refresh();
  }

  stop(): void {
    this.subscription?.close();
    this.subscription = undefined;
  }

  /** Brings the picture up to date: everything at first, then the streams that grew. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    if (this.allDirty || !this.subscription) {
      this.allDirty = false;
      this.maps.clear();
      await this.ws.signals.scan().catch(() => undefined);
      for (const id of await this.ws.taskIds()) await this.foldTask(id);
      await this.foldAudit();
    } else {
      const names = [...this.dirty];
      this.dirty.clear();
      for (const name of names) {
        if (name === AUDIT_SIGNAL) await this.foldAudit();
        else if (name !== SHARED_SIGNAL) await this.foldTask(name);
      }
      if (names.includes(SHARED_SIGNAL)) for (const id of [...this.summaries.keys()]) this.place(id, this.summaries.get(id)!);
    }
    this.prune();
  }

  private async workstreamMap(name: string): Promise<WorkstreamView | undefined> {
    if (!this.maps.has(name)) this.maps.set(name, await this.ws.findWorkstream(name));
    return this.maps.get(name);
  }

  /** Open: not archived, and its workstream's map gives a way out of its state. */
  private isOpen(s: TaskSummary): boolean {
    if (s.archived) return false;
    const exits = this.maps.get(s.workstream)?.states[s.state];
    return exits === undefined || exits.length > 0;
  }

  private place(id: string, s: TaskSummary): void {
    if (this.isOpen(s)) this.summaries.set(id, s);
    else this.summaries.delete(id);
  }

  private readonly settledCounts = new Map<string, number>();
  private readonly settledOf = new Map<string, string>();

  private async foldTask(id: string): Promise<void> {
    if (!/^[0-9A-Za-z]{1,64}$/.test(id)) return;
    const view = await this.ws.findTask(id);
    if (!view) return;
    await this.workstreamMap(view.workstream);
    const from = this.seen.get(id) ?? 0;
    if (view.lastSeq <= from && (this.summaries.has(id) || this.settledOf.has(id))) return;
    const { records } = await this.ws.readStream(streamOfTask(id));
    for (const record of records) if (record.seq > from) this.foldRecord(id, record);
    this.seen.set(id, view.lastSeq);
    this.track(view);
  }

  /** Keeps open tasks as summaries and settled ones as counts only (memory follows the active set). */
  private track(view: TaskView): void {
    const s: TaskSummary = { id: view.id, ...(view.number ? { number: view.number } : {}), title: view.title, workstream: view.workstream, state: view.state, since: view.stateSince, archived: view.archived };
    const previous = this.settledOf.get(view.id);
    if (previous !== undefined) {
      this.settledCounts.set(previous, (this.settledCounts.get(previous) ?? 1) - 1);
      this.settledOf.delete(view.id);
    }
    if (this.isOpen(s)) {
      this.summaries.set(view.id, s);
      return;
    }
    this.summaries.delete(view.id);
    const key = `${s.archived ? 'archived' : 'settled'}\0${s.workstream}\0${s.state}`;
    this.settledOf.set(view.id, key);
    this.settledCounts.set(key, (this.settledCounts.get(key) ?? 0) + 1);
  }

  private foldRecord(taskId: string, record: StreamRecord): void {
    const at = Date.parse(record.at);
    for (const event of record.events) this.foldEvent(taskId, event, record, at);
  }

  private foldEvent(taskId: string, event: StoredEvent, record: StreamRecord, at: number): void {
    const d = event.data as Record<string, unknown>;
    switch (event.type) {
      case 'task.moved':
        if (d.to === 'failed') this.remember({ at, kind: 'failure' });
        else if (d.to === 'completed') this.remember({ at, kind: 'completion' });
        return;
      case 'lease.acquired':
        this.openLeases.set(`${taskId}:${String(d.attempt)}`, { purpose: this.stepLabel(d.purpose), at });
        return;
      case 'lease.released': {
        const key = `${taskId}:${String(d.attempt)}`;
        const open = this.openLeases.get(key);
        this.openLeases.delete(key);
        if (open && Number.isFinite(at) && Number.isFinite(open.at) && at >= open.at) this.opts.onStep?.(open.purpose, (at - open.at) / 1000);
        return;
      }
      case 'lease.expired':
        this.openLeases.delete(`${taskId}:${String(d.attempt)}`);
        this.takeovers += 1;
        return;
      default:
        break;
    }
    const refusal = refusalOf(event);
    if (refusal) return this.refused(refusal, record, at);
    const dev = parseDevEvent(event);
    if (dev?.type === 'model.called') {
      const provider = label(dev.data.provider);
      const model = label(dev.data.model);
      const key = this.usage.size >= MAX_USAGE_LINES && !this.usage.has(`${provider}\0${model}`) ? 'other\0other' : `${provider}\0${model}`;
      const [p, m] = key.split('\0') as [string, string];
      const line = this.usage.get(key) ?? { provider: p, model: m, inputTokens: 0, outputTokens: 0, costUsd: 0 };
      line.inputTokens += dev.data.inputTokens;
      line.outputTokens += dev.data.outputTokens;
      line.costUsd += dev.data.costUsd;
      this.usage.set(key, line);
      if (Number.isFinite(at) && dev.data.costUsd > 0) {
        this.spendByDay.set(dayOf(at), (this.spendByDay.get(dayOf(at)) ?? 0) + dev.data.costUsd);
        this.remember({ at, kind: 'cost', usd: dev.data.costUsd });
      }
    } else if (dev?.type === 'tests.ran') {
      const result = dev.data.passed ? 'passed' : dev.data.timedOut ? 'timeout' : 'failed';
      this.testRuns[result] = (this.testRuns[result] ?? 0) + 1;
    }
  }

  /** A step (lease purpose) as a metric label: a short lower-case word, at most MAX_STEPS distinct, else `other`. */
  private stepLabel(purpose: unknown): string {
    if (typeof purpose !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/.test(purpose)) return 'other';
    if (!this.steps.has(purpose) && this.steps.size >= MAX_STEPS) return 'other';
    this.steps.add(purpose);
    return purpose;
  }

  private refused(refusal: Refusal, record: StreamRecord, at: number): void {
    this.refusalTotals[refusal.reason] = (this.refusalTotals[refusal.reason] ?? 0) + 1;
    this.remember({ at, kind: 'refusal', refusal });
    this.noteSecurity({ at: record.at, kind: 'refusal', source: refusal.source, reason: refusal.reason, summary: refusal.summary, stream: record.stream });
  }

  private noteSecurity(e: SecurityEvent): void {
    this.security.push(e);
    if (this.security.length > MAX_SECURITY_EVENTS) this.security.splice(0, this.security.length - MAX_SECURITY_EVENTS);
  }

  private async foldAudit(): Promise<void> {
    const state = await this.ws.readStream(AUDIT_STREAM);
    const from = this.seen.get(AUDIT_SIGNAL) ?? 0;
    for (const record of state.records) {
      if (record.seq <= from) continue;
      const at = Date.parse(record.at);
      for (const event of record.events) {
        const refusal = refusalOf(event);
        if (refusal) this.refused(refusal, record, at);
        else if (event.type === SECRET_READ) {
          this.secretReads += 1;
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

  /** Open tasks not in an idle state (waiting for the system), oldest first. */
  waiting(now = this.now()): WaitingTask[] {
    const idle = new Set(this.config.idleStates);
    const list: WaitingTask[] = [];
    for (const s of this.summaries.values()) {
      if (idle.has(s.state)) continue;
      const since = Date.parse(s.since);
      list.push({ id: s.id, ...(s.number ? { number: s.number } : {}), title: s.title, workstream: s.workstream, state: s.state, since: s.since, ageSeconds: Number.isFinite(since) ? Math.max(0, Math.round((now - since) / 1000)) : 0 });
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
    const now = this.now();
    const counts = new Map<string, number>();
    for (const s of this.summaries.values()) counts.set(`${s.workstream}\0${s.state}`, (counts.get(`${s.workstream}\0${s.state}`) ?? 0) + 1);
    let archived = 0;
    let settled = 0;
    for (const [key, n] of this.settledCounts) {
      if (n <= 0) continue;
      const [kind, workstream, state] = key.split('\0') as [string, string, string];
      if (kind === 'archived') archived += n;
      else {
        settled += n;
        counts.set(`${workstream}\0${state}`, (counts.get(`${workstream}\0${state}`) ?? 0) + n);
      }
    }
    const queue = [...counts].map(([key, count]) => {
      const [workstream, state] = key.split('\0') as [string, string];
      return { workstream, state, count };
    }).sort((a, b) => a.workstream.localeCompare(b.workstream) || a.state.localeCompare(b.state));
    const hour = this.recentCounts(now - HOUR_MS);
    const byReason: Record<string, number> = {};
    for (const r of hour.refusals) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
    const lag = this.ws.journal.lagMs(now);
    const oldest = this.waiting(now)[0];
    return {
      at: new Date(now).toISOString(),
      ups: await this.ups(now),
      tasks: { total: this.summaries.size + settled + archived, open: this.summaries.size, archived },
      queue,
      ...(oldest ? { oldestWaiting: oldest } : {}),
      lastHour: { failures: hour.failures, completions: hour.completions, refusals: hour.refusals.length, refusalsByReason: byReason, spendUsd: hour.spendUsd },
      spend: { day: dayOf(now), todayUsd: this.spendByDay.get(dayOf(now)) ?? 0 },
      ...(lag !== undefined ? { commitLagSeconds: lag / 1000 } : {}),
      alerts: this.openIncidents(),
      totals: {
        usage: [...this.usage.values()].map((u) => ({ ...u })),
        testRuns: { ...this.testRuns },
        refusalsByReason: { ...this.refusalTotals },
        leaseTakeovers: this.takeovers,
        secretReads: this.secretReads,
      },
    };
  }
}
