import type { TaskView } from '../core/model/task.js';
import { OrchestraError } from '../core/errors.js';

/** The conventional type of a task's commit, from its tags and title. */
export function commitType(task: TaskView): string {
  const text = `${task.tags.join(' ')} ${task.title}`.toLowerCase();
  if (/\b(fix|bug|broken|crash|error|fail)/.test(text)) return 'fix';
  if (/\b(doc|docs|readme|documentation)\b/.test(text)) return 'docs';
  if (/\b(test|tests|coverage)\b/.test(text)) return 'test';
  if (/\b(refactor|clean ?up|rename)\b/.test(text)) return 'refactor';
  if (/\b(chore|bump|upgrade|dependency|dependencies)\b/.test(text)) return 'chore';
  return 'feat';
}

/**
 * The subject line's text: the first sentence of the approved plan's summary (what was done),
 * else the task's title (what was asked), without a leading type word ("Fix the login" becomes
 * "the login" after "fix: ") and cut to fit 72 characters with its type.
 */
export function commitSubject(task: TaskView, type = commitType(task)): string {
  const plan = task.dev.plans.find((p) => p.version === (task.dev.approvedVersion ?? task.dev.execution?.planVersion));
  const fromPlan = plan?.summary.trim().split('\n')[0]!.split(/(?<=[.!?])\s+/)[0]!.trim();
  let title = (fromPlan || task.title).trim().replace(/[.!]$/, '').replace(new RegExp(`^${type}(es|ed|s)?\\s+`, 'i'), '');
  title = title.charAt(0).toLowerCase() + title.slice(1);
  if (title.length > 68) title = `${title.slice(0, 67)}…`;
  return title;
}

/**
 * Takes the ```template block of ai/git/rules.md and fills it in for this task. `attempt` is the
 * publish step's attempt (how many times the publisher claimed the task), not the task's lease count.
 */
export function renderCommitMessage(rules: string, task: TaskView, attempt: number): string {
  const template = /```template\n([\s\S]*?)```/.exec(rules)?.[1];
  if (!template) throw new OrchestraError('INVALID_INPUT', 'ai/git/rules.md has no ```template block for the commit message');
  const type = commitType(task);
  const title = commitSubject(task, type);
  const summary = task.dev.summary?.trim() || 'changes as planned';
  const bullets = summary.split('\n').map((l) => l.trim().replace(/^[-*]\s*/, '')).filter(Boolean).map((l) => `- ${l}`);
  const values: Record<string, string> = {
    type, title, bullets: bullets.join('\n'), task_id: task.id,
    plan_version: String(task.dev.approvedVersion ?? task.dev.execution?.planVersion ?? ''), attempt: String(attempt),
    // A follow-up round says so in a trailer; round 1's message is as it always was.
    round: String(task.dev.round), round_trailer: task.dev.round > 1 ? `Orchestra-Round: ${task.dev.round}` : '',
  };
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => values[key] ?? whole).trim() + '\n';
}
