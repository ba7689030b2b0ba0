import type { StreamRecord, StoredEvent } from '../core/record.js';
import { registerTaskExtension } from '../core/model/task-extension.js';
import { shortLine } from '../core/text-sanitize.js';
import { parseDevEvent } from './dev-events.js';

/** What the dev-task pipeline adds to a task's view, folded from its own event types. */
export interface PlanRef {
  version: number;
  file: string;
  summary: string;
  steps: string[];
  criteria: string[];
  risks: string[];
  at: string;
  /** The base branch and the commit the planner read (the executor forks there: the base is resolved once). */
  base?: string;
  baseCommit?: string;
}

export interface TestRunRef {
  run: number;
  passed: boolean;
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  file: string;
  at: string;
}

/**
 * One round of work on the task's branch: round 1 is the original request, each later one starts
 * with feedback on the completed task (`round.started`) and builds on the commit round N-1 pushed.
 * Plan versions stay global: `plans` names the versions this round proposed.
 */
export interface RoundRef {
  round: number;
  startedAt?: string;
  /** The feedback that started the round (rounds 2+). */
  feedback?: string;
  /** The pushed commit the round builds on (rounds 2+): its diffs and commits are counted from it. */
  onCommit?: string;
  /** The commit the round's last execution started from (round 1: where the task forked from the base). */
  startCommit?: string;
  plans: number[];
  approvedVersion?: number;
  summary?: string;
  diffStat?: string;
  testRuns: number;
  lastTestPassed?: boolean;
  commits: string[];
  pushes: Array<{ sha: string; link: string; at: string }>;
}

export interface DevView {
  /** The current round (1 until feedback on a completed task starts round 2); `rounds` has each one. */
  round: number;
  rounds: RoundRef[];
  plans: PlanRef[];
  feedback: Array<{ onVersion: number; text: string; at: string }>;
  approvedVersion?: number;
  usage: { calls: number; inputTokens: number; outputTokens: number; costUsd: number; cachedInputTokens?: number; cacheWriteTokens?: number };
  execution?: { worktree: string; branch: string; base: string; baseCommit: string; planVersion: number; startedAt: string };
  /** How many executions were started (each retry starts one): names its record files. */
  executions: number;
  /** Executor model turns, usage and test runs of the current execution (reset on each start). */
  turns: number;
  runUsage: { inputTokens: number; outputTokens: number; costUsd: number };
  testRuns: TestRunRef[];
  /** The setup step of the current execution, once it ran. */
  setup?: { command: string; source: string; passed: boolean; cached: boolean; exitCode: number | null; durationMs: number; file: string; at: string };
  summary?: string;
  commit?: { sha: string; message: string };
  push?: { remote: string; branch: string; sha: string; link: string };
  /** The branch's pull (merge) request, once opened (forge.pr-opened). */
  pullRequest?: { kind: 'github' | 'gitlab'; repo: string; number: number; url: string; draft: boolean };
  /** Why no pull request could be opened (forge.pr-failed); the branch link is the link then. */
  pullRequestFailure?: string;
  /** The link a person gets for the result: the pull request's when there is one, else the pushed branch's. */
  link?: string;
  diffStat?: string;
  diffFile?: string;
  /** The digest of the index the final diff kept: what the publisher commits when it is unchanged. */
  stagedIndex?: string;
  failure?: { reason: string; step: string; patchFile?: string; at: string };
  abortRequested: boolean;
}

export function emptyDevView(): DevView {
  return { round: 1, rounds: [{ round: 1, plans: [], testRuns: 0, commits: [], pushes: [] }], plans: [], feedback: [], usage: { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, cachedInputTokens: 0, cacheWriteTokens: 0 }, executions: 0, turns: 0, runUsage: { inputTokens: 0, outputTokens: 0, costUsd: 0 }, testRuns: [], abortRequested: false };
}

/** Folds one event into the dev section; false when it is not a (well-formed) dev event. */
export function applyDevEvent(dev: DevView, event: StoredEvent, record: StreamRecord): boolean {
  const e = parseDevEvent(event);
  if (!e) return false;
  const round = dev.rounds.at(-1)!;
  switch (e.type) {
    case 'plan.proposed': {
      const { version, file, summary, steps, criteria, risks, base, baseCommit } = e.data;
      dev.plans.push({ version, file, summary, steps, criteria, risks, at: record.at, ...(base && baseCommit ? { base, baseCommit } : {}) });
      round.plans.push(version);
      round.startedAt ??= record.at;
      break;
    }
    case 'round.started': {
      // Rounds are numbered one after the other: a record out of sequence (forged) starts nothing.
      if (e.data.round !== dev.round + 1) break;
      dev.round = e.data.round;
      dev.rounds.push({ round: e.data.round, startedAt: record.at, feedback: e.data.text, onCommit: e.data.onCommit, plans: [], testRuns: 0, commits: [], pushes: [] });
      // What belongs to one round's work starts empty; `push` stays: it is the branch's tip.
      dev.approvedVersion = undefined;
      dev.summary = undefined;
      dev.diffStat = undefined;
      dev.diffFile = undefined;
      dev.stagedIndex = undefined;
      dev.commit = undefined;
      dev.failure = undefined;
      dev.abortRequested = false;
      break;
    }
    case 'plan.feedback':
      dev.feedback.push({ onVersion: e.data.onVersion, text: e.data.text, at: record.at });
      break;
    case 'plan.approved':
      dev.approvedVersion = e.data.version;
      round.approvedVersion = e.data.version;
      break;
    case 'model.called': {
      const { inputTokens, outputTokens, costUsd } = e.data;
      dev.usage.calls += 1;
      dev.usage.inputTokens += inputTokens;
      dev.usage.outputTokens += outputTokens;
      dev.usage.costUsd += costUsd;
      dev.usage.cachedInputTokens = (dev.usage.cachedInputTokens ?? 0) + e.data.cachedInputTokens;
      dev.usage.cacheWriteTokens = (dev.usage.cacheWriteTokens ?? 0) + e.data.cacheWriteTokens;
      if (e.data.role === 'executor') {
        dev.turns += 1;
        dev.runUsage.inputTokens += inputTokens;
        dev.runUsage.outputTokens += outputTokens;
        dev.runUsage.costUsd += costUsd;
      }
      break;
    }
    case 'exec.started':
      dev.execution = { ...e.data, startedAt: record.at };
      round.startCommit = e.data.baseCommit;
      dev.executions += 1;
      dev.turns = 0;
      dev.runUsage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
      dev.testRuns = [];
      dev.setup = undefined;
      dev.failure = undefined;
      dev.abortRequested = false;
      break;
    case 'setup.ran':
      dev.setup = { ...e.data, at: record.at };
      break;
    case 'tests.ran': {
      const { run, passed, exitCode, timedOut, durationMs, file } = e.data;
      dev.testRuns.push({ run, passed, exitCode, timedOut, durationMs, file, at: record.at });
      round.testRuns += 1;
      round.lastTestPassed = passed;
      break;
    }
    case 'exec.finished':
      dev.summary = e.data.summary;
      round.summary = e.data.summary;
      if (e.data.diffStat) dev.diffStat = round.diffStat = e.data.diffStat;
      if (e.data.diffFile) dev.diffFile = e.data.diffFile;
      dev.stagedIndex = e.data.index;
      break;
    case 'git.committed':
      dev.commit = { sha: e.data.sha, message: e.data.message };
      if (!round.commits.includes(e.data.sha)) round.commits.push(e.data.sha);
      break;
    case 'git.pushed':
      dev.push = { remote: e.data.remote, branch: e.data.branch, sha: e.data.sha, link: e.data.link };
      round.pushes.push({ sha: e.data.sha, link: e.data.link, at: record.at });
      dev.link = dev.pullRequest?.url ?? e.data.link;
      break;
    case 'forge.pr-opened': {
      const { kind, repo, number, url, draft } = e.data;
      dev.pullRequest = { kind, repo, number, url, draft };
      dev.pullRequestFailure = undefined;
      dev.link = url;
      break;
    }
    case 'forge.pr-failed':
      dev.pullRequestFailure = e.data.reason;
      break;
    case 'task.failed':
      dev.failure = { reason: e.data.reason, step: e.data.step, patchFile: e.data.patchFile, at: record.at };
      break;
    case 'abort.requested':
      dev.abortRequested = true;
      break;
    case 'retry.requested':
      dev.failure = undefined;
      dev.abortRequested = false;
      break;
    default:
      break; // typed but nothing to fold (exec.resumed, exec.stopped, agent.ran)
  }
  return true;
}

// What the dev pipeline adds to every task view (`task.dev`) and to commit messages.
declare module '../core/model/task.js' {
  interface TaskExtensions {
    dev: DevView;
  }
}

export function summarizeDevEvent(type: string, data: Record<string, unknown>): string | undefined {
  const d = data as Record<string, any>;
  const cut = shortLine;
  switch (type) {
    case 'task.failed': return `failed in ${d.step}: ${cut(d.reason, 100)}`;
    case 'plan.proposed': return `plan v${d.version} proposed`;
    case 'plan.approved': return `plan v${d.version} approved`;
    case 'plan.feedback': return `feedback on plan v${d.onVersion}: "${cut(d.text)}"`;
    case 'round.started': return `round ${d.round} started by feedback: "${cut(d.text)}"`;
    case 'model.called': return `${d.role} model ${d.model}${Array.isArray(d.fallbackFrom) && d.fallbackFrom.length ? ` (fallback ${d.provider})` : ''}: ${d.inputTokens} in / ${d.outputTokens} out tokens${Array.isArray(d.toolCalls) && d.toolCalls.length ? `, calls ${d.toolCalls.map((c: any) => c.name).join(', ')}` : ''}`;
    case 'tool.refused': return `${d.role ? `${d.role} ` : ''}tool ${d.name} refused: ${cut(d.reason, 100)}`;
    case 'exec.started': return `execution started on ${d.branch} from ${d.base}`;
    case 'exec.resumed': return `execution resumed (attempt ${d.attempt})`;
    case 'exec.finished': return `execution finished: ${cut(d.summary)}`;
    case 'exec.stopped': return `execution stopped (${d.reason})`;
    case 'setup.ran': return d.source === 'none' ? 'no setup step needed' : `setup ${d.cached ? 'restored from the dependency cache' : d.passed ? 'passed' : 'failed'}: ${cut(d.command)}${typeof d.durationMs === 'number' && !d.cached ? ` (${(d.durationMs / 1000).toFixed(1)} s)` : ''}`;
    case 'tests.ran': return `test run ${d.run} ${d.passed ? 'passed' : d.timedOut ? 'killed at the timeout' : 'failed'}${typeof d.exitCode === 'number' ? ` (exit ${d.exitCode})` : ''}`;
    case 'git.committed': return `committed ${String(d.sha).slice(0, 10)}${d.created === false ? ' (already there)' : ''}`;
    case 'git.pushed': return `pushed ${d.branch}${d.pushed === false ? ' (already there)' : ''}`;
    case 'abort.requested': return `abort requested${d.reason ? `: ${cut(d.reason)}` : ''}`;
    case 'retry.requested': return `retry requested${d.replan ? ' with a new plan' : ''}`;
    case 'forge.pr-opened': return `${d.kind === 'gitlab' ? 'merge' : 'pull'} request #${d.number} ${d.created ? 'opened' : 'found'}: ${cut(d.url, 200)}`;
    case 'forge.pr-failed': return `no ${d.kind === 'gitlab' ? 'merge' : 'pull'} request: ${cut(d.reason, 100)}`;
    case 'agent.ran': return `agent ${d.agent} ${d.ok ? 'done' : 'failed'}: ${cut(d.output)}`;
    default: return undefined;
  }
}

registerTaskExtension<DevView>({
  key: 'dev',
  empty: emptyDevView,
  apply: applyDevEvent,
  summarize: summarizeDevEvent,
  usage: (dev) => ({ modelCalls: dev.usage.calls, costUsd: dev.usage.costUsd }),
});
