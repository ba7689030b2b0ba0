import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Actor } from './actor.js';
import { OrchestraError } from './errors.js';
import { writeAtomic } from './fsutil.js';
import type { LeaseView, TaskView } from './model/task.js';
import type { StoredEvent } from './record.js';
import type { Workspace } from './workspace.js';

/**
 * A lease is a claim of a task by one holder for one purpose. Granting it is a record in the
 * task's stream (so two claimants racing for the same position cannot both win, and the
 * history shows who worked when); renewing it only touches an ephemeral heartbeat file outside
 * git. The attempt number is the fencing token: writes stating an older attempt are refused.
 */
export interface Heartbeat { attempt: number; at: number }

/** The purpose of a person's manual lock (`orchestra lock acquire`): it refuses others' task writes. */
export const LOCK_PURPOSE = 'lock';

export async function readHeartbeat(ws: Workspace, taskId: string): Promise<Heartbeat | undefined> {
  try {
    return JSON.parse(await fs.readFile(join(ws.paths.heartbeats, `${taskId}.json`), 'utf8')) as Heartbeat;
  } catch {
    return undefined;
  }
}

export function leaseExpiresAt(lease: LeaseView, heartbeat?: Heartbeat): number {
  const granted = Date.parse(lease.acquiredAt);
  const renewed = heartbeat && heartbeat.attempt === lease.attempt ? heartbeat.at : 0;
  return Math.max(granted, renewed) + lease.ttlMs;
}

export type LeaseStatus =
  | { state: 'free'; attempt: number }
  | { state: 'held'; lease: LeaseView; expiresAt: number }
  | { state: 'expired'; lease: LeaseView; expiresAt: number };

export function leaseStatus(view: TaskView, heartbeat: Heartbeat | undefined, now = Date.now()): LeaseStatus {
  const lease = view.lease;
  if (!lease || lease.released) return { state: 'free', attempt: view.attempts };
  const expiresAt = leaseExpiresAt(lease, heartbeat);
  return expiresAt > now ? { state: 'held', lease, expiresAt } : { state: 'expired', lease, expiresAt };
}

export async function taskLeaseStatus(ws: Workspace, view: TaskView): Promise<LeaseStatus> {
  return leaseStatus(view, await readHeartbeat(ws, view.id));
}

export interface ClaimOptions {
  purpose: string;
  owner: string;
  ttlMs: number;
  actor: Actor;
  /** Only claim while this holds (e.g. the task is still in the state the loop works on). */
  when?: (view: TaskView) => boolean;
}

export class Lease {
  constructor(readonly ws: Workspace, readonly taskId: string, readonly attempt: number, readonly owner: string, readonly actor: Actor, readonly claimId?: string) {}

  /** Extends the lease; fails with LEASE_LOST if it was reclaimed meanwhile. */
  async renew(): Promise<void> {
    const view = await this.ws.task(this.taskId);
    this.check(view, await readHeartbeat(this.ws, this.taskId));
    await writeAtomic(join(this.ws.paths.heartbeats, `${this.taskId}.json`), JSON.stringify({ attempt: this.attempt, at: Date.now() }));
  }

  check(view: TaskView | undefined, heartbeat: Heartbeat | undefined): TaskView {
    if (!view) throw new OrchestraError('NOT_FOUND', `no task ${this.taskId}`);
    const status = leaseStatus(view, heartbeat);
    // The owner too: two machines can grant the same attempt number until sync keeps one (spec §20).
    if (status.state !== 'held' || status.lease.attempt !== this.attempt || status.lease.owner !== this.owner) {
      throw new OrchestraError('LEASE_LOST', `lease attempt ${this.attempt} on task ${this.taskId} is no longer current (${status.state === 'free' ? 'released' : status.state === 'expired' ? 'expired' : `attempt ${status.lease.attempt} holds it`})`);
    }
    return view;
  }

  /**
   * Appends events fenced by this lease: refused with LEASE_LOST unless this attempt still
   * holds the task at the moment of the append. `decide` may inspect the view first.
   */
  async append(decide: StoredEvent[] | ((view: TaskView) => StoredEvent[] | null), opts: { cause?: string } = {}) {
    const heartbeat = await readHeartbeat(this.ws, this.taskId);
    return this.ws.appendToTask(this.taskId, (view) => {
      const current = this.check(view, heartbeat);
      const events = typeof decide === 'function' ? decide(current) : decide;
      if (!events || events.length === 0) return null;
      return { actor: this.actor, fence: { attempt: this.attempt }, events, ...(opts.cause ? { cause: opts.cause } : {}) };
    });
  }

  /** Releases the lease, optionally recording final events in the same record. */
  async release(finalEvents: StoredEvent[] | ((view: TaskView) => StoredEvent[] | null) = [], outcome = 'done'): Promise<void> {
    const released: StoredEvent = { type: 'lease.released', data: { attempt: this.attempt, outcome } };
    await this.append((view) => [...((typeof finalEvents === 'function' ? finalEvents(view) : finalEvents) ?? []), released]);
    await fs.unlink(join(this.ws.paths.heartbeats, `${this.taskId}.json`)).catch(() => undefined);
  }
}

/**
 * Claims the task if it is free (or its lease expired). Returns null when someone else holds
 * it or `when` says no; the caller moves on. Exactly one of several racing claimants wins.
 */
export async function claimTask(ws: Workspace, taskId: string, opts: ClaimOptions): Promise<Lease | null> {
  const heartbeat = await readHeartbeat(ws, taskId);
  let attempt = 0;
  const { record } = await ws.appendToTask(taskId, (view) => {
    if (!view || view.archived) return null;
    if (opts.when && !opts.when(view)) return null;
    const status = leaseStatus(view, heartbeat);
    if (status.state === 'held') return null;
    const events: StoredEvent[] = [];
    if (status.state === 'expired') events.push({ type: 'lease.expired', data: { attempt: status.lease.attempt, owner: status.lease.owner } });
    attempt = view.attempts + 1;
    events.push({ type: 'lease.acquired', data: { attempt, owner: opts.owner, purpose: opts.purpose, ttlMs: opts.ttlMs } });
    return { actor: opts.actor, events };
  });
  if (!record) return null;
  await writeAtomic(join(ws.paths.heartbeats, `${taskId}.json`), JSON.stringify({ attempt, at: Date.now() }));
  return new Lease(ws, taskId, attempt, opts.owner, opts.actor, record.id);
}
