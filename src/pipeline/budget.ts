import { LimitsSchema, type Limits } from '../core/config.js';
import { OrchestraError } from '../core/errors.js';
import type { TaskView } from '../core/model/task.js';
import type { Profile } from '../core/security-profiles.js';
import { formatUsd } from '../core/text-sanitize.js';

/**
 * Global limits from config, overridden per task by its `limits` field, then capped by the step's
 * profile budget. A task made by an actor config does not trust (`trusted: false`) may only lower
 * a limit: nothing but a config change widens what a run may spend.
 */
export function effectiveLimits(global: Limits, task: TaskView, opts: { trusted?: boolean; budget?: Profile['budget'] } = {}): Limits {
  const raw = task.fields.limits ?? {};
  const override = LimitsSchema.partial().safeParse(raw);
  if (!override.success) throw new OrchestraError('INVALID_INPUT', `task field "limits": ${override.error.issues[0]!.message}`);
  const limits: Limits = { ...global };
  for (const [key, value] of Object.entries(override.data) as [keyof Limits, number | undefined][]) {
    // Only the keys the task names: the schema's defaults fill in the others, and those must not
    // replace the configured limits (a config maxCostUsd of 0.5 was silently back at 5).
    if (value === undefined || !Object.hasOwn(raw as object, key)) continue;
    limits[key] = opts.trusted === false ? Math.min(value, global[key]) : value;
  }
  for (const [key, cap] of Object.entries(opts.budget ?? {}) as [keyof Limits, number | undefined][]) {
    if (cap !== undefined && key in limits) limits[key] = Math.min(limits[key], cap);
  }
  return limits;
}

export interface Spent { turns: number; testRuns: number; inputTokens: number; outputTokens: number; costUsd: number; startedAt: number }

/**
 * Checked outside the model loop, before every model call and test run: the first limit that is
 * reached ends the run. Returns the reason in one plain sentence, or undefined.
 */
export function exceededLimit(limits: Limits, spent: Spent, now = Date.now()): string | undefined {
  if (spent.turns >= limits.maxTurns) return `the turn limit (${limits.maxTurns} model turns) was reached before the task was finished`;
  if (spent.testRuns > limits.maxTestRuns) return `the test-run limit (${limits.maxTestRuns} runs) was reached`;
  if (spent.inputTokens >= limits.maxInputTokens) return `the input-token limit (${limits.maxInputTokens}) was reached`;
  if (spent.outputTokens >= limits.maxOutputTokens) return `the output-token limit (${limits.maxOutputTokens}) was reached`;
  if (spent.costUsd >= limits.maxCostUsd) return `the cost limit (${formatUsd(limits.maxCostUsd)}) was reached (${formatUsd(spent.costUsd)} spent)`;
  if ((now - spent.startedAt) / 1000 >= limits.maxWallClockSeconds) return `the time limit (${limits.maxWallClockSeconds} s) was reached`;
  return undefined;
}
