import { OrchestraError } from '../core/errors.js';
import type { Lease } from '../core/leases.js';
import type { Workspace } from '../core/workspace.js';
import { toolRefusal, type Profile } from '../core/security-profiles.js';
import type { ChatMessage, ModelReply, ToolCall, ToolResult, ToolSpec } from '../providers/types.js';
import { devEvent } from './dev-events.js';
import { recordedTurn, type ModelRole, type RoleModel } from './model-runtime.js';

/**
 * The one tool-calling loop of the pipeline (planner, executor, agents): call the model with the
 * step's tools, record the reply before acting on it, run the calls it asks for, send the
 * results back, until a call ends the step, a limit stops it, or the turns run out.
 *
 * Invariants: every reply is recorded (`model.called`, fenced by the lease) before any of its
 * tool calls runs; `beforeTurn` is checked before every model call (budgets fail closed); an
 * abort signal stops at the next safe point (between calls); a retryable provider error (429,
 * 5xx, 529 overloaded, a timeout) is retried in place with backoff, the same for every step, and
 * after that rethrown for the step to decide (see `retryLater`).
 */
export interface TurnLoop<R> {
  ws: Workspace;
  lease: Lease;
  role: ModelRole;
  model: RoleModel;
  /** The system prompt and its hash, read again before each turn (prompt edits apply at once). */
  prompts: () => Promise<{ system: string; hash: string }>;
  tools: ToolSpec[];
  /**
   * The step's security profile: only the tools it grants are offered, and a call of any other is
   * refused (never run) with the rule named, e.g. `profile executor: tool "run_shell" not in tools`.
   */
  profile?: Profile;
  messages: ChatMessage[];
  signal?: AbortSignal;
  maxTurns: number;
  /** Why the next model call must not happen (a budget reached), or undefined. */
  beforeTurn?: () => string | undefined;
  /** Accounting after each recorded reply. */
  afterReply?: (reply: ModelReply, costUsd: number) => void;
  /** A reply without tool calls: end with a value, or return the message that asks for tools. */
  onText: (reply: ModelReply) => { done: R } | { nudge: string };
  /** Runs one call; `done` ends the loop once the turn's results are recorded in `messages`. */
  runCall: (call: ToolCall) => Promise<{ output: string; isError: boolean; done?: R }>;
}

export type TurnOutcome<R> =
  | { kind: 'done'; value: R; turns: number }
  | { kind: 'stopped'; reason: string; turns: number }
  | { kind: 'out-of-turns'; turns: number }
  | { kind: 'aborted'; turns: number };

/** In-place retries of one model call on a retryable provider error, and their waits. */
export const PROVIDER_RETRIES = 2;
const RETRY_BASE_MS = 1000;

export async function runTurns<R>(loop: TurnLoop<R>): Promise<TurnOutcome<R>> {
  let turns = 0;
  const profile = loop.profile;
  const tools = profile ? loop.tools.filter((t) => !toolRefusal(profile, t.name)) : loop.tools;
  while (turns < loop.maxTurns) {
    if (loop.signal?.aborted) return { kind: 'aborted', turns };
    const reason = loop.beforeTurn?.();
    if (reason) return { kind: 'stopped', reason, turns };
    const prompts = await loop.prompts();
    // Each call gets a signal of its own, tied to the run's by one listener removed after the
    // call: SDKs add abort listeners to the signal they are given and do not all remove them, so
    // passing the run's signal leaked one per turn (MaxListenersExceededWarning after 10 turns).
    const call = turnSignal(loop.signal);
    const { reply, costUsd } = await withProviderRetries(loop.signal, () =>
      recordedTurn(loop.ws, loop.lease, loop.role, loop.model, prompts.hash, { system: prompts.system, messages: loop.messages, tools, ...(call ? { signal: call.signal } : {}) }),
    ).finally(() => call?.dispose());
    turns++;
    loop.afterReply?.(reply, costUsd);
    loop.messages.push({ role: 'assistant', text: reply.text, toolCalls: reply.toolCalls });
    if (reply.toolCalls.length === 0) {
      const next = loop.onText(reply);
      if ('done' in next) return { kind: 'done', value: next.done, turns };
      loop.messages.push({ role: 'user', text: next.nudge });
      continue;
    }
    const results: ToolResult[] = [];
    let done: { value: R } | undefined;
    for (const call of reply.toolCalls) {
      if (loop.signal?.aborted) break;
      const refusal = profile && toolRefusal(profile, call.name);
      const { done: value, ...outcome } = refusal ? { output: `refused: there is no tool "${call.name}" you may call (${refusal})`, isError: true, done: undefined } : await loop.runCall(call);
      results.push({ callId: call.id, name: call.name, ...outcome });
      if (value !== undefined) done = { value };
    }
    loop.messages.push({ role: 'tool', results });
    // Refused or failed tool calls, compactly, so the task's log shows why (one record a turn).
    const refused = results.filter((r) => r.isError).map((r) => devEvent('tool.refused', { role: loop.role, name: r.name, reason: r.output.slice(0, 500) }));
    if (refused.length) await loop.lease.append(refused);
    if (done) return { kind: 'done', value: done.value, turns };
  }
  return { kind: 'out-of-turns', turns };
}

export function isRetryableProviderError(err: unknown): boolean {
  return err instanceof OrchestraError && err.code === 'PROVIDER_ERROR' && err.details?.retryable === true;
}

/**
 * After in-place retries failed: a step ends without failing the task (its lease is released and
 * the next scan tries again) while the task has had fewer than `maxAttempts` leases.
 */
export function retryLater(err: unknown, attempts: number, maxAttempts = 3): boolean {
  return isRetryableProviderError(err) && attempts < maxAttempts;
}

async function withProviderRetries<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!isRetryableProviderError(err) || attempt >= PROVIDER_RETRIES || signal?.aborted) throw err;
      await abortableSleep(RETRY_BASE_MS * 4 ** attempt, signal);
    }
  }
}

/** A signal that aborts with `parent`, through one listener that `dispose` removes. */
export function turnSignal(parent: AbortSignal | undefined): { signal: AbortSignal; dispose: () => void } | undefined {
  if (!parent) return undefined;
  const controller = new AbortController();
  const abort = () => controller.abort(parent.reason);
  if (parent.aborted) abort();
  else parent.addEventListener('abort', abort, { once: true });
  return { signal: controller.signal, dispose: () => parent.removeEventListener('abort', abort) };
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
