import { z } from 'zod';
import { describeActor, type Actor } from '../actor.js';
import type { StreamRecord, StoredEvent } from '../record.js';
import { taskExtensions } from './task-extension.js';

export const TaskCreatedSchema = z.object({
  id: z.string(),
  workstream: z.string(),
  title: z.string(),
  description: z.string().default(''),
  tags: z.array(z.string()).default([]),
  fields: z.record(z.string(), z.unknown()).default({}),
  state: z.string(),
  /** The original inbox file, kept as a record of the task (relative to the workspace). */
  original: z.string().optional(),
  /** The task's per-workspace number (`#12`), claimed at creation (see task-ref.ts); absent on older tasks. */
  number: z.number().int().positive().optional(),
});

export interface LeaseView {
  attempt: number;
  owner: string;
  purpose: string;
  acquiredAt: string;
  ttlMs: number;
  released: boolean;
}

/** Sections of the view that workstreams add (see task-extension.ts), declared by module augmentation. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface TaskExtensions {}

export interface TaskView extends TaskExtensions {
  id: string;
  /** Per-workspace number, the short handle `#12` (tasks created before numbering have none). */
  number?: number;
  workstream: string;
  title: string;
  description: string;
  tags: string[];
  fields: Record<string, unknown>;
  state: string;
  /** Seq of the record that moved the task into its current state: triggers key on it. */
  stateSeq: number;
  stateSince: string;
  archived: boolean;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  lastSeq: number;
  original?: string;
  comments: Array<{ at: string; by: string; text: string }>;
  lease?: LeaseView;
  /** Number of leases ever granted: the fencing token of the next one is attempts + 1. */
  attempts: number;
  /** Leases granted per purpose (how many times each step claimed this task). */
  claims: Record<string, number>;
  retries: number;
  retryExhausted: boolean;
  firedTriggers: string[];
  /** Idempotency keys (record causes) already applied to this task. */
  causes: string[];
  /** `task.moved` events the state map does not allow from the state the task was in: ignored. */
  illegalMoves: IllegalMove[];
}

export interface IllegalMove { seq: number; from: string; to: string; claimedFrom: string }

/** Whether a workstream allows a move; absent, every move is taken as recorded (no map known). */
export type TransitionCheck = (from: string, to: string) => boolean;

export const triggerKey = (triggerId: string, stateSeq: number) => `${triggerId}@${stateSeq}`;

function applyCoreEvent(view: TaskView, event: StoredEvent, record: StreamRecord, allowed?: TransitionCheck): boolean {
  const d = event.data as Record<string, any>;
  switch (event.type) {
    case 'task.moved':
      // Writers check moves before appending; a record that breaks the map was forged or written
      // around the API. It is not applied (the task stays where it was) and verify reports it.
      if (allowed && (String(d.from) !== view.state || !allowed(view.state, String(d.to)))) {
        view.illegalMoves.push({ seq: record.seq, from: view.state, to: String(d.to), claimedFrom: String(d.from) });
        return true;
      }
      view.state = String(d.to);
      view.stateSeq = record.seq;
      view.stateSince = record.at;
      return true;
    case 'task.updated':
      if (typeof d.title === 'string') view.title = d.title;
      if (typeof d.description === 'string') view.description = d.description;
      if (Array.isArray(d.tags)) view.tags = d.tags.map(String);
      if (d.fields && typeof d.fields === 'object') view.fields = { ...view.fields, ...d.fields };
      return true;
    case 'task.commented':
      view.comments.push({ at: record.at, by: describeActor(record.actor), text: String(d.text) });
      return true;
    case 'task.archived':
      view.archived = true;
      return true;
    case 'task.retried':
      view.retries += 1;
      return true;
    case 'retry.exhausted':
      view.retryExhausted = true;
      return true;
    case 'lease.acquired':
      view.attempts = Number(d.attempt);
      view.claims[String(d.purpose)] = (view.claims[String(d.purpose)] ?? 0) + 1;
      view.lease = { attempt: Number(d.attempt), owner: String(d.owner), purpose: String(d.purpose), acquiredAt: record.at, ttlMs: Number(d.ttlMs), released: false };
      return true;
    case 'lease.released':
    case 'lease.expired':
      if (view.lease && view.lease.attempt === Number(d.attempt)) view.lease.released = true;
      return true;
    case 'trigger.firing':
      view.firedTriggers.push(triggerKey(String(d.triggerId), Number(d.stateSeq)));
      return true;
    case 'trigger.fired':
      return true;
    default:
      return false;
  }
}

/** The workstream named by the stream's `task.created` event. */
export function workstreamOfTask(records: StreamRecord[]): string | undefined {
  for (const record of records) {
    const created = record.events.find((e) => e.type === 'task.created');
    if (created) return String((created.data as { workstream?: unknown }).workstream ?? '');
  }
  return undefined;
}

/**
 * Folds a task stream into its current view. Pure: the same records (and the same check) always
 * give the same view. `allowed` is the workstream's transition check (see transitionCheck).
 */
export function foldTask(records: StreamRecord[], allowed?: TransitionCheck): TaskView | undefined {
  let view: TaskView | undefined;
  for (const record of records) {
    for (const event of record.events) {
      if (event.type === 'task.created') {
        const data = TaskCreatedSchema.parse(event.data);
        view = {
          ...data,
          stateSeq: record.seq,
          stateSince: record.at,
          archived: false,
          createdAt: record.at,
          createdBy: describeActor(record.actor),
          updatedAt: record.at,
          lastSeq: record.seq,
          comments: [],
          attempts: 0,
          claims: {},
          retries: 0,
          retryExhausted: false,
          firedTriggers: [],
          causes: [],
          illegalMoves: [],
        } as unknown as TaskView;
        for (const ext of taskExtensions()) (view as unknown as Record<string, unknown>)[ext.key] = ext.empty();
        continue;
      }
      if (!view) continue;
      if (applyCoreEvent(view, event, record, allowed)) continue;
      for (const ext of taskExtensions()) if (ext.apply((view as unknown as Record<string, unknown>)[ext.key], event, record)) break;
    }
    if (view) {
      view.lastSeq = record.seq;
      view.updatedAt = record.at;
      if (record.cause) view.causes.push(record.cause);
    }
  }
  return view;
}

export type { Actor };
