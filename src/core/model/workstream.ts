import { z } from 'zod';
import { describeActor } from '../actor.js';
import { OrchestraError } from '../errors.js';
import type { StreamRecord } from '../record.js';

export const RetryPolicySchema = z.object({
  maxRetries: z.number().int().min(0).max(100).default(0),
  backoff: z.enum(['exponential', 'fixed']).default('exponential'),
  baseSeconds: z.number().min(0).default(30),
  maxSeconds: z.number().min(0).default(3600),
});
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;

/** `state -> allowed next states`; the first key is the initial state. */
export const StateMapSchema = z
  .record(z.string().regex(/^[a-z][a-z0-9_]*$/), z.array(z.string()))
  .refine((m) => Object.keys(m).length > 0, 'a state map needs at least one state')
  .refine((m) => Object.values(m).every((next) => next.every((s) => s in m)), 'every target state must be declared');
export type StateMap = z.infer<typeof StateMapSchema>;

export const TriggerActionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('run_command'), command: z.string().min(1) }),
  z.object({ kind: z.literal('run_agent'), agent: z.string().min(1) }),
]);
export const TriggerSchema = z.object({
  id: z.string(),
  on: z.string(),
  action: TriggerActionSchema,
});
export type Trigger = z.infer<typeof TriggerSchema>;

export const WorkstreamCreatedSchema = z.object({
  name: z.string(),
  parent: z.string().optional(),
  description: z.string().default(''),
  states: StateMapSchema,
  retry: RetryPolicySchema.prefault({}),
  /** Task fields a new task of this workstream must carry (e.g. `repo` for dev tasks). */
  requiredFields: z.array(z.string()).default([]),
  /**
   * States no loop acts on although a person's command leads out of them (the dev workstream's
   * `completed`, left by feedback): a task there is settled like one in a state without exits,
   * until a command appends to it. Optional without a default, so an update that omits it keeps it.
   */
  settledStates: z.array(z.string()).optional(),
});

export interface WorkstreamView {
  name: string;
  parent?: string;
  description: string;
  states: StateMap;
  initial: string;
  retry: RetryPolicy;
  requiredFields: string[];
  settledStates?: string[];
  /** Each with the actor who added it (from its record, never from its data): commands are trusted by who chose them. */
  triggers: Array<Trigger & { addedBy?: string }>;
  createdAt: string;
  lastSeq: number;
}

export const DEFAULT_STATES: StateMap = {
  pending: ['in_progress'],
  in_progress: ['completed', 'failed', 'pending'],
  completed: [],
  failed: ['pending'],
};

export function foldWorkstream(records: StreamRecord[]): WorkstreamView | undefined {
  let view: WorkstreamView | undefined;
  for (const record of records) {
    for (const event of record.events) {
      if (event.type === 'workstream.created') {
        const data = WorkstreamCreatedSchema.parse(event.data);
        view = { ...data, initial: Object.keys(data.states)[0]!, triggers: [], createdAt: record.at, lastSeq: record.seq };
      } else if (!view) {
        continue;
      } else if (event.type === 'workstream.updated') {
        const data = WorkstreamCreatedSchema.partial().parse(event.data);
        // Only the keys the update names: zod fills defaults (requiredFields [], description '') for the others.
        Object.assign(view, Object.fromEntries(Object.entries(data).filter(([k, v]) => v !== undefined && Object.hasOwn(event.data, k))));
        view.initial = Object.keys(view.states)[0]!;
      } else if (event.type === 'trigger.added') {
        view.triggers.push({ ...TriggerSchema.parse(event.data), addedBy: describeActor(record.actor) });
      } else if (event.type === 'trigger.removed') {
        view.triggers = view.triggers.filter((t) => t.id !== event.data.id);
      }
    }
    if (view) view.lastSeq = record.seq;
  }
  return view;
}

/**
 * The check task folds apply to `task.moved` records of this workstream: a move is legal when any
 * version of the state map allowed it, so moves made before a map was narrowed stay valid.
 */
export function transitionCheck(records: StreamRecord[]): (from: string, to: string) => boolean {
  const allowed = new Set<string>();
  for (const record of records) {
    for (const event of record.events) {
      if (event.type !== 'workstream.created' && event.type !== 'workstream.updated') continue;
      const states = StateMapSchema.safeParse((event.data as { states?: unknown }).states);
      if (!states.success) continue;
      for (const [from, next] of Object.entries(states.data)) for (const to of next) allowed.add(`${from}>${to}`);
    }
  }
  return (from, to) => allowed.has(`${from}>${to}`);
}

export function assertTransition(ws: WorkstreamView, from: string, to: string): void {
  if (!(to in ws.states)) {
    throw new OrchestraError('INVALID_TRANSITION', `workstream ${ws.name} has no state "${to}" (states: ${Object.keys(ws.states).join(', ')})`);
  }
  const allowed = ws.states[from] ?? [];
  if (!allowed.includes(to)) {
    throw new OrchestraError(
      'INVALID_TRANSITION',
      `cannot move from "${from}" to "${to}" in workstream ${ws.name} (allowed: ${allowed.join(', ') || 'none'})`,
      { from, to },
    );
  }
}

/** Delay before retry number `retryNumber` (1-based), with +-20% jitter so retries spread out. */
export function backoffMs(policy: RetryPolicy, retryNumber: number, random = Math.random): number {
  const base = policy.baseSeconds * 1000;
  const raw = policy.backoff === 'fixed' ? base : base * 2 ** (retryNumber - 1);
  const capped = Math.min(raw, policy.maxSeconds * 1000);
  return Math.round(capped * (0.8 + 0.4 * random()));
}
