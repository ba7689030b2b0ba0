import { z } from 'zod';
import type { StoredEvent } from '../core/record.js';

/**
 * The dev pipeline's event types and their data: one zod schema per type, the single source of
 * what each event carries. Folds read events only through `parseDevEvent`, so a fold cannot read
 * a field an event does not have, and an event whose data does not fit (forged, or written by a
 * broken build) is skipped instead of folding into NaN or "undefined". Writers build events with
 * `devEvent`, which checks the data against the same schema at the edge.
 */
const str = z.string();
const int = z.number().int();
const strings = z.array(z.string()).default([]);
/** The security profile a run ran under and its hash (security-profiles.ts); absent in older records. */
const profiled = { profile: str.optional(), profileHash: str.optional() };

export const DevEventSchemas = {
  'plan.proposed': z.object({ version: int.positive(), file: str, summary: str.default(''), steps: strings, criteria: strings, risks: strings, base: str.optional(), baseCommit: str.optional(), ...profiled }),
  'plan.feedback': z.object({ onVersion: int.min(0), text: str }),
  'plan.approved': z.object({ version: int.positive() }),
  /** Feedback on a completed task: round `round` (2, 3, ...) starts on top of the pushed `onCommit` (rounds.ts). */
  'round.started': z.object({ round: int.min(2), text: str, onCommit: str, onVersion: int.min(0), branch: str.optional() }),
  'model.called': z.object({
    role: str, provider: str.optional(), model: str.optional(), promptHash: str.optional(),
    /** The model name the server answered with, when it differs from `model` (the configured one, which prices the turn). */
    servedModel: str.optional(),
    inputTokens: z.number().min(0).default(0), outputTokens: z.number().min(0).default(0), costUsd: z.number().min(0).default(0),
    priced: z.boolean().optional(), stopReason: str.optional(), text: str.optional(), toolCalls: z.array(z.unknown()).optional(),
    /** Of inputTokens: read from and written to the provider's prompt cache (absent: none). */
    cachedInputTokens: z.number().min(0).default(0), cacheWriteTokens: z.number().min(0).default(0),
    /** A fallback served this turn: the providers that could not, in order, and why. */
    fallbackFrom: z.array(z.object({ provider: str, model: str, reason: str, status: int.optional() })).optional(),
  }),
  /** A tool call the step refused or that failed (the model saw this reason as the call's result). */
  'tool.refused': z.object({ role: str.optional(), name: str, reason: str.default('') }),
  'exec.started': z.object({ worktree: str, branch: str, base: str, baseCommit: str, planVersion: int, ...profiled }),
  'exec.resumed': z.object({ attempt: int }),
  'tests.ran': z.object({
    run: int, passed: z.boolean(), exitCode: int.nullable().default(null), timedOut: z.boolean().default(false), aborted: z.boolean().optional(),
    durationMs: z.number().min(0).default(0), file: str, isolation: str.optional(), ...profiled,
  }),
  'setup.ran': z.object({
    command: str, source: z.enum(['task', 'config', 'repository', 'detected', 'none']), passed: z.boolean(), cached: z.boolean().default(false),
    exitCode: int.nullable().default(null), durationMs: z.number().min(0).default(0), file: str, ...profiled,
  }),
  /** `index`: SHA-256 of the index the final diff was staged in, kept for the commit (changes.ts). */
  'exec.finished': z.object({ summary: str.default(''), diffStat: str.optional(), diffFile: str.optional(), files: z.array(str).optional(), index: z.string().regex(/^[0-9a-f]{64}$/).optional() }),
  'exec.stopped': z.object({ reason: str, patchFile: str.optional() }),
  'git.committed': z.object({ sha: str, created: z.boolean().optional(), message: str.default('') }),
  'git.pushed': z.object({ remote: str, branch: str, sha: str, link: str, pushed: z.boolean().optional() }),
  'task.failed': z.object({ step: str.default(''), reason: str, patchFile: str.optional() }).loose(),
  'abort.requested': z.object({ reason: str.optional() }),
  'retry.requested': z.object({ replan: z.boolean().default(false) }),
  /** The pull (merge) request of the pushed branch (pull-request.ts); `created` false when it was already there. */
  'forge.pr-opened': z.object({ kind: z.enum(['github', 'gitlab']), repo: str, number: int.positive(), url: str, draft: z.boolean().default(true), created: z.boolean() }),
  /** No request could be opened after the attempts: the task completes with the branch link. */
  'forge.pr-failed': z.object({ kind: z.enum(['github', 'gitlab']), repo: str, reason: str }),
  'agent.ran': z.object({ agent: str, ok: z.boolean(), turns: int.optional(), output: str.default(''), ...profiled }),
} as const;

export type DevEventType = keyof typeof DevEventSchemas;
export type DevEvent = { [K in DevEventType]: { type: K; data: z.infer<(typeof DevEventSchemas)[K]> } }[DevEventType];

export const isDevEventType = (type: string): type is DevEventType => Object.hasOwn(DevEventSchemas, type);

/** The event as its typed form, or undefined when it is not a dev event or its data does not fit. */
export function parseDevEvent(event: StoredEvent): DevEvent | undefined {
  if (!isDevEventType(event.type)) return undefined;
  const parsed = DevEventSchemas[event.type].safeParse(event.data);
  return parsed.success ? ({ type: event.type, data: parsed.data } as DevEvent) : undefined;
}

/** A dev event to append, its data checked against its schema (a programming error throws). */
export function devEvent<K extends DevEventType>(type: K, data: z.input<(typeof DevEventSchemas)[K]>): StoredEvent {
  return { type, data: DevEventSchemas[type].parse(data) as Record<string, unknown> };
}
