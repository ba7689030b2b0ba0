import type { Actor } from '../core/actor.js';
import { OrchestraError } from '../core/errors.js';
import { taskLeaseStatus } from '../core/leases.js';
import type { Command } from '../core/inbox-format.js';
import type { TaskView } from '../core/model/task.js';
import { isExempt, limitsOf, rateLimitKey, streamOfLimits, type ResolvedRateLimit } from '../core/rate-limits.js';
import type { StreamRecord } from '../core/record.js';
import type { StreamState } from '../core/stream-store.js';
import { formatUsd } from '../core/text-sanitize.js';
import type { Workspace } from '../core/workspace.js';
import { parseDevEvent } from './dev-events.js';
import { DEV_WORKSTREAM, TERMINAL_DEV_STATES } from './dev-workstream.js';

/**
 * Per-actor rate limits (config `rateLimits`, core/rate-limits.ts), folded from records so they
 * hold across restarts and across several `up` processes.
 *
 * Each admitted submission is a `limit.admitted` record in the actor's ledger stream
 * (`limits/<key>`), appended with the workspace's optimistic append: the decision and the record
 * are one step, so concurrent intake workers or processes cannot admit past a limit (a lost race
 * re-folds and decides again). Counted: new tasks of the last minute and of the last 24 h,
 * commands of the last minute (retry and approve, which start model work, also against spend, and
 * retry against tasks in flight), tasks in flight (admitted and not yet in a terminal state) and the
 * `model.called` spend of the last 24 h of the actor's tasks. A submission that passes is counted
 * whatever happens to it later (refused by a later check, a bad repository), so a flood of
 * requests refused for another reason is not free; a RATE_LIMITED refusal itself is not
 * counted, so the time it names stays true if the actor waits.
 *
 * Cost: one ledger read (cached, re-folded only when it grew: O(the actor's admissions)), one view
 * read per task of the actor that can still move (settled ones, archived or in a state without
 * exits, are remembered per process with their final spend), and nothing about other actors' tasks. A new process pays one read of each of the
 * actor's tasks at its first check (figures: bench/core/ratelimit.ts, `npm run bench ratelimit`).
 *
 * A request with an intake claim id (`cause`) that the ledger already admitted is admitted again
 * without a new record: intake finishing a claim after a crash does not count it twice. Likewise a
 * task whose id the ledger already admitted (a replayed copy of a sealed file).
 */

export type Submission =
  | { kind: 'task'; taskId?: string; cause?: string }
  | { kind: 'command'; command: Command; cause?: string };

export type LimitName = keyof ResolvedRateLimit;

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** An admitted task that has no stream yet counts as in flight this long (intake is creating it). */
const PENDING_MS = 10 * MINUTE_MS;
/** Commands that start model work: checked against spend (and retry against tasks in flight). */
const SPENDING_COMMANDS = new Set(['retry', 'approve']);

interface Ledger {
  /** Times (ms) of command admissions in the last day, ascending. */
  commandTimes: number[];
  /** Times (ms) of task admissions in the last day, ascending. */
  taskTimes: number[];
  /** Every task the actor was admitted to create, with its admission time. */
  tasks: Map<string, number>;
  causes: Set<string>;
}

/** `inFlight`: not in a terminal state (for dev tasks: not completed, failed or aborted; for others: a state with exits). */
interface TaskInfo { inFlight: boolean; updatedMs: number; costs: Array<{ at: number; usd: number }> }

/** What one process remembers: ledger folds by stream state, and tasks known to be settled. */
interface Memory {
  ledgers: Map<string, { state: StreamState; ledger: Ledger }>;
  /**
   * Settled tasks (archived, or in a state without exits): nothing moves them again, so their
   * spend is final and they are never read again by this process.
   */
  settled: Map<string, TaskInfo>;
  costs: Map<string, { state: StreamState; costs: TaskInfo['costs'] }>;
}
const memories = new WeakMap<Workspace, Memory>();
function memoryOf(ws: Workspace): Memory {
  let memory = memories.get(ws);
  if (!memory) memories.set(ws, (memory = { ledgers: new Map(), settled: new Map(), costs: new Map() }));
  return memory;
}

function foldLedger(memory: Memory, state: StreamState, now: number): Ledger {
  const cached = memory.ledgers.get(state.stream);
  if (cached && cached.state === state) return cached.ledger;
  const ledger: Ledger = { commandTimes: [], taskTimes: [], tasks: new Map(), causes: new Set() };
  for (const record of state.records) {
    const at = Date.parse(record.at);
    for (const event of record.events) {
      if (event.type !== 'limit.admitted') continue;
      if (record.cause) ledger.causes.add(record.cause);
      const task = typeof event.data.task === 'string' ? event.data.task : undefined;
      if (event.data.what === 'task' && task) ledger.tasks.set(task, at);
      if (now - at < DAY_MS) (event.data.what === 'task' ? ledger.taskTimes : ledger.commandTimes).push(at);
    }
  }
  ledger.commandTimes.sort((a, b) => a - b);
  ledger.taskTimes.sort((a, b) => a - b);
  memory.ledgers.set(state.stream, { state, ledger });
  return ledger;
}

/** The `model.called` spend of a task's records, by time (cached per stream state). */
function costsOf(memory: Memory, state: StreamState): TaskInfo['costs'] {
  const cached = memory.costs.get(state.stream);
  if (cached && cached.state === state) return cached.costs;
  const costs: TaskInfo['costs'] = [];
  for (const record of state.records as StreamRecord[]) {
    for (const event of record.events) {
      const e = event.type === 'model.called' ? parseDevEvent(event) : undefined;
      if (e?.type === 'model.called' && e.data.costUsd > 0) costs.push({ at: Date.parse(record.at), usd: e.data.costUsd });
    }
  }
  memory.costs.set(state.stream, { state, costs });
  return costs;
}

/** The tasks of a ledger that may still count (open, or active in the last day), read now. */
async function readTasks(ws: Workspace, memory: Memory, ledger: Ledger, now: number): Promise<Map<string, TaskInfo | 'missing'>> {
  const out = new Map<string, TaskInfo | 'missing'>();
  for (const [id, admittedAt] of ledger.tasks) {
    const known = memory.settled.get(id);
    if (known) {
      if (now - known.updatedMs < DAY_MS) out.set(id, known); // its spend may still be in the window
      continue;
    }
    const view: TaskView | undefined = await ws.findTask(id);
    if (!view) {
      if (now - admittedAt >= PENDING_MS) out.set(id, 'missing');
      continue; // a recent admission without a stream is counted as in flight by the caller
    }
    // Final (settled): nothing moves it again. A failed or aborted dev task is terminal (not in
    // flight) but may be retried, so it is read again at the next check.
    // An archived task a step still holds a lease on is not settled: the step goes on (and spends)
    // after the archive, so archiving it must free neither its slot nor its spend.
    const working = !!view.lease && !view.lease.released && (await taskLeaseStatus(ws, view)).state === 'held';
    const final = !working && (await ws.isSettled(view));
    const inFlight = working || (!final && !(view.workstream === DEV_WORKSTREAM && TERMINAL_DEV_STATES.has(view.state)));
    const updatedMs = Date.parse(view.updatedAt);
    const info: TaskInfo = { inFlight, updatedMs, costs: costsOf(memory, await ws.readStream(`tasks/${id}`)) };
    if (final) {
      memory.settled.set(id, info);
      memory.costs.delete(`tasks/${id}`);
    }
    out.set(id, info);
  }
  return out;
}

export interface RateLimitDetails { limit: LimitName; key: string; max: number; count: number; retryAt?: string }

/** When `n` items with these ascending times fall to `max - 1` as each leaves the window. */
function freeAt(times: number[], max: number, windowMs: number): number | undefined {
  if (max <= 0) return undefined;
  return times[times.length - max]! + windowMs;
}

function refuse(key: string, limit: LimitName, max: number, count: number, retryMs: number | undefined, now: number, what: string): OrchestraError {
  const described: Record<LimitName, string> = {
    perMinute: `at most ${max} new task${max === 1 ? '' : 's'} per minute (${count} in the last minute)`,
    commandsPerMinute: `at most ${max} command${max === 1 ? '' : 's'} per minute (${count} in the last minute)`,
    perDay: `at most ${max} new task${max === 1 ? '' : 's'} per day (${count} in the last 24 hours)`,
    inFlight: `at most ${max} task${max === 1 ? '' : 's'} in flight (${count} not finished)`,
    usdPerDay: `at most ${formatUsd(max)} of model spend per day (${formatUsd(count)} in the last 24 hours)`,
  };
  let when: string;
  if (max <= 0) when = 'this limit is 0: ask the operator to raise it';
  else if (retryMs !== undefined) {
    const minutes = Math.max(1, Math.ceil((retryMs - now) / MINUTE_MS));
    when = `try again at ${new Date(retryMs).toISOString()} (in ${minutes} minute${minutes === 1 ? '' : 's'})`;
  } else when = 'try again when one of them ends';
  const details: RateLimitDetails = { limit, key, max, count, ...(retryMs !== undefined && max > 0 ? { retryAt: new Date(retryMs).toISOString() } : {}) };
  return new OrchestraError('RATE_LIMITED', `Too many ${what} from ${key}: ${described[limit]}; ${when}.`, details as unknown as Record<string, unknown>);
}

/**
 * Admits one submission of `actor` or throws RATE_LIMITED (details: RateLimitDetails). Exempt
 * actors (config `rateLimits.exempt`: by default the local CLI, the loops and system actors, and
 * unsealed inbox files) pass without a record.
 * With `dryRun` nothing is recorded: a door can tell a person at once (the web form does).
 */
export async function admit(ws: Workspace, actor: Actor, submission: Submission, opts: { dryRun?: boolean; now?: number } = {}): Promise<void> {
  const config = ws.config.rateLimits;
  const key = rateLimitKey(actor);
  if (isExempt(config, key)) return;
  const limits = limitsOf(config, key);
  const memory = memoryOf(ws);
  const stream = streamOfLimits(key);
  const now = opts.now ?? Date.now();
  const isTask = submission.kind === 'task';
  const command = submission.kind === 'command' ? submission.command : undefined;
  const spending = isTask || SPENDING_COMMANDS.has(command!.command);
  const what = isTask ? 'tasks' : 'requests';

  // The actor's tasks are read before the append (reads are async; `decide` is not). Tasks
  // admitted meanwhile by another writer are not in `tasks` and count as in flight.
  const needTasks = spending && (limits.inFlight !== null || limits.usdPerDay !== null);
  const tasks = needTasks ? await readTasks(ws, memory, foldLedger(memory, await ws.readStream(stream), now), now) : new Map<string, TaskInfo | 'missing'>();

  const check = (ledger: Ledger) => {
    // The clock at the decision, not at the call: other writers' admissions may be newer than the call.
    const now = opts.now ?? Date.now();
    const perMinute = isTask ? limits.perMinute : limits.commandsPerMinute;
    const minute = (isTask ? ledger.taskTimes : ledger.commandTimes).filter((t) => now - t < MINUTE_MS);
    if (perMinute !== null && minute.length >= perMinute) throw refuse(key, isTask ? 'perMinute' : 'commandsPerMinute', perMinute, minute.length, freeAt(minute, perMinute, MINUTE_MS), now, what);
    if (isTask && limits.perDay !== null) {
      const day = ledger.taskTimes.filter((t) => now - t < DAY_MS);
      if (day.length >= limits.perDay) throw refuse(key, 'perDay', limits.perDay, day.length, freeAt(day, limits.perDay, DAY_MS), now, what);
    }
    if ((isTask || command?.command === 'retry') && limits.inFlight !== null) {
      let open = 0;
      for (const id of ledger.tasks.keys()) {
        if (id === command?.task) continue; // a retried task is the one asked for, not another one
        const info = tasks.get(id);
        // Not read: settled long ago (remembered), or admitted since the read (in flight).
        if (info === undefined ? !memory.settled.has(id) : info !== 'missing' && info.inFlight) open++;
      }
      if (open >= limits.inFlight) throw refuse(key, 'inFlight', limits.inFlight, open, undefined, now, what);
    }
    if (spending && limits.usdPerDay !== null) {
      const costs = [...tasks.values()].flatMap((info) => (info === 'missing' ? [] : info.costs.filter((c) => now - c.at < DAY_MS))).sort((a, b) => a.at - b.at);
      const spent = costs.reduce((sum, c) => sum + c.usd, 0);
      if (spent >= limits.usdPerDay) {
        // Free when enough of the oldest spend leaves the window to bring the rest under the limit.
        let rest = spent;
        let retryMs: number | undefined;
        for (const c of costs) {
          rest -= c.usd;
          retryMs = c.at + DAY_MS;
          if (rest < limits.usdPerDay) break;
        }
        throw refuse(key, 'usdPerDay', limits.usdPerDay, Math.round(spent * 100) / 100, retryMs, now, what);
      }
    }
  };

  if (opts.dryRun) return check(foldLedger(memory, await ws.readStream(stream), now));
  const taskId = isTask ? submission.taskId : command!.task;
  await ws.appendTo(stream, (s) => foldLedger(memory, s, now), (ledger) => {
    if (submission.cause && ledger.causes.has(submission.cause)) return null;
    // A sealed task file names its id: the same file dropped again (a copy an inbox writer took)
    // is not counted again; it creates nothing (the id exists, or a later check refuses it again).
    if (isTask && taskId && ledger.tasks.has(taskId)) return null;
    check(ledger);
    return {
      actor,
      ...(submission.cause ? { cause: submission.cause } : {}),
      events: [{ type: 'limit.admitted', data: { key, what: isTask ? 'task' : command!.command, ...(taskId ? { task: taskId } : {}) } }],
    };
  });
}

const LIMIT_WORDS: Record<LimitName, string> = {
  perMinute: 'the limit of new tasks per minute',
  perDay: 'the limit of new tasks per day',
  inFlight: 'the limit of tasks in flight',
  usdPerDay: 'the limit of model spend per day',
  commandsPerMinute: 'the limit of commands per minute',
};
const isLimitName = (value: unknown): value is LimitName => typeof value === 'string' && Object.hasOwn(LIMIT_WORDS, value);

/** "14:05 UTC (in 3 min)" for a retry time, counted from `now`. */
export function retryHint(retryAt: string, now = Date.now()): string | undefined {
  const at = Date.parse(retryAt);
  if (Number.isNaN(at)) return undefined;
  const minutes = Math.max(1, Math.ceil((at - now) / MINUTE_MS));
  const clock = new Date(at).toISOString().slice(11, 16);
  const day = new Date(at).toISOString().slice(0, 10) === new Date(now).toISOString().slice(0, 10) ? '' : `${new Date(at).toISOString().slice(0, 10)} `;
  return `${day}${clock} UTC (in ${minutes} min)`;
}

/**
 * What a chat door tells a person whose submission was refused with RATE_LIMITED, from the
 * refusal's recorded `limit` and `retryAt` (audit `inbox.rejected` data, or the error's details).
 */
export function rateLimitNotice(facts: { limit?: unknown; retryAt?: unknown }, now = Date.now()): string {
  const which = isLimitName(facts.limit) ? LIMIT_WORDS[facts.limit] : 'a rate limit';
  const hint = typeof facts.retryAt === 'string' ? retryHint(facts.retryAt, now) : undefined;
  const when = hint ? `try again at ${hint}` : facts.limit === 'inFlight' ? 'try again when one of your tasks ends' : 'ask the operator';
  const what = facts.limit === 'commandsPerMinute' ? 'Too many commands' : facts.limit === 'usdPerDay' ? 'Spending limit' : 'Too many tasks';
  return `${what}: you reached ${which}; ${when}.`;
}
