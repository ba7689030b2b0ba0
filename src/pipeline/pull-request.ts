/**
 * The pull (merge) request of a pushed task branch: exactly one per branch, its body built from
 * the task's records. An effect like the push, made idempotent the same way: the forge is asked
 * first (our request whose head is the branch, in any state), and only when there is none is one
 * created. Ours: from the repository itself, opened by the bot, into the base (Forge.findPullRequest);
 * a fork's or another user's request on the same branch name is never updated or linked. A crash between the push and the creation, or between the creation and its record,
 * therefore still leaves one request: the re-run publisher finds it (`created: false`).
 * A forge failure never fails the task: the pushed branch is the product and a request is a
 * convenience, so after `forge.attempts` tries (backoff, honouring the forge's rate-limit
 * wait) the result is a `forge.pr-failed` warning and the branch link stays the link.
 * Never merges, approves or closes anything (the Forge interface has no such call).
 */
import { describeError, isOrchestraError } from '../core/errors.js';
import type { ForgeConfig } from '../core/forge-config.js';
import type { TaskView } from '../core/model/task.js';
import type { StoredEvent } from '../core/record.js';
import { clip, multiLine, singleLine } from '../core/text-sanitize.js';
import { selectForge } from '../forge/select.js';
import type { Forge, PullRequest } from '../forge/types.js';
import { devEvent } from './dev-events.js';

/** GitHub refuses bodies over 65,536 characters; GitLab's limit is larger. */
const MAX_BODY = 60_000;
const MAX_WAIT_MS = 30_000;

/** Model-written text in a request body: no control characters, no @mentions that would ping people. */
function quiet(text: string, max: number): string {
  return clip(multiLine(text), max).replace(/@(?=[A-Za-z0-9])/g, '@\u200b');
}

function testRunsLine(task: TaskView): string {
  const runs = task.dev.testRuns;
  if (!runs.length) return 'No test run was recorded.';
  const said = runs.map((r) => `run ${r.run} ${r.passed ? 'passed' : r.timedOut ? 'timed out' : 'failed'}`).join(', ');
  const redToGreen = runs.length > 1 && !runs[0]!.passed && runs[runs.length - 1]!.passed ? ' (red → green)' : '';
  return `${said}${redToGreen}`;
}

/** The request's title: the task's, one line. */
export function pullRequestTitle(task: TaskView): string {
  return clip(singleLine(task.title), 200);
}

/** The request's body, from the records only: task, approved plan, diff stat, test runs, usage. */
export function pullRequestBody(task: TaskView): string {
  const dev = task.dev;
  const version = dev.execution?.planVersion ?? dev.approvedVersion;
  const plan = dev.plans.find((p) => p.version === version);
  const lines: string[] = [`Orchestra task \`${task.id}\`: ${quiet(singleLine(task.title), 200)}`, ''];
  lines.push(`## Plan v${version ?? '?'} (approved)`, '');
  if (plan) {
    if (plan.summary) lines.push(quiet(plan.summary, 4000), '');
    plan.steps.slice(0, 50).forEach((s, i) => lines.push(`${i + 1}. ${quiet(singleLine(s), 500)}`));
    if (plan.steps.length) lines.push('');
  }
  if (dev.summary) lines.push('## Result', '', quiet(dev.summary, 4000), '');
  lines.push('## Changes', '', '```', dev.diffStat ? clip(multiLine(dev.diffStat), 20_000).replace(/```/g, "'''") : '(no diff stat recorded)', '```', '');
  lines.push('## Tests', '', testRunsLine(task), '');
  const u = dev.usage;
  lines.push('## Usage', '', `${u.calls} model calls, ${u.inputTokens} input / ${u.outputTokens} output tokens, $${u.costUsd.toFixed(4)}`, '');
  lines.push('---', `Opened as a draft by Orchestra; Orchestra never merges or approves. Task-Id: ${task.id}`);
  return clip(lines.join('\n'), MAX_BODY);
}

/** Finds the branch's request or creates it; updates the body of one that was already there. */
export async function ensurePullRequest(forge: Forge, req: { head: string; base: string; title: string; body: string; draft: boolean }): Promise<{ pr: PullRequest; created: boolean }> {
  const existing = await forge.findPullRequest(req.head, req.base);
  if (existing) {
    if (existing.state === 'open') await forge.updatePullRequest(existing.number, req.body);
    return { pr: existing, created: false };
  }
  try {
    return { pr: await forge.createPullRequest(req), created: true };
  } catch (err) {
    // Someone (another publisher, a person) opened it between our look-up and create.
    if (isOrchestraError(err, 'INVALID_INPUT')) {
      const raced = await forge.findPullRequest(req.head, req.base);
      if (raced) return { pr: raced, created: false };
    }
    throw err;
  }
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => {
    clearTimeout(timer);
    resolve();
  }, { once: true });
});

/**
 * The events recording the pull request of a just-pushed branch: `forge.pr-opened`, or
 * `forge.pr-failed` after the attempts, or none when no forge (or no token) is configured.
 */
export async function pullRequestEvents(opts: {
  config: ForgeConfig;
  task: TaskView;
  branch: string;
  base: string;
  pushRemote: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** For tests: the first wait between attempts (doubles each time). */
  backoffMs?: number;
}): Promise<StoredEvent[]> {
  const choice = selectForge(opts.config, { pushRemote: opts.pushRemote, env: opts.env ?? process.env });
  if (!choice.forge) return [];
  const forge = choice.forge;
  const req = { head: opts.branch, base: opts.base, title: pullRequestTitle(opts.task), body: pullRequestBody(opts.task), draft: opts.config.draft };
  let reason = '';
  for (let attempt = 1; attempt <= opts.config.attempts; attempt++) {
    try {
      const { pr, created } = await ensurePullRequest(forge, req);
      return [devEvent('forge.pr-opened', { kind: forge.kind, repo: forge.repo, number: pr.number, url: pr.url, draft: pr.draft, created })];
    } catch (err) {
      reason = describeError(err).message;
      const retryable = isOrchestraError(err, 'FORGE_UNAVAILABLE');
      if (!retryable || attempt === opts.config.attempts || opts.signal?.aborted) break;
      const backoff = (opts.backoffMs ?? 1000) * 2 ** (attempt - 1);
      await sleep(Math.min(MAX_WAIT_MS, Math.max(backoff, forge.readyAt() - Date.now())), opts.signal);
    }
  }
  return [devEvent('forge.pr-failed', { kind: forge.kind, repo: forge.repo, reason: clip(reason, 500) })];
}
