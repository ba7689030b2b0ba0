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

/** Takes the ```template block of ai/git/rules.md and fills it in for this task. */
export function renderCommitMessage(rules: string, task: TaskView, attempt: number): string {
  const template = /```template\n([\s\S]*?)```/.exec(rules)?.[1];
  if (!template) throw new OrchestraError('INVALID_INPUT', 'ai/git/rules.md has no ```template block for the commit message');
  const type = commitType(task);
  // "Fix the login" becomes "fix: the login", not "fix: fix the login".
  let title = task.title.trim().replace(/\.$/, '').replace(new RegExp(`^${type}(es|ed|s)?\\s+`, 'i'), '');
  title = title.charAt(0).toLowerCase() + title.slice(1);
  if (title.length > 68) title = `${title.slice(0, 67)}…`;
  const summary = task.dev.summary?.trim() || 'changes as planned';
  const bullets = summary.split('\n').map((l) => l.trim().replace(/^[-*]\s*/, '')).filter(Boolean).map((l) => `- ${l}`);
  const values: Record<string, string> = {
    type, title, bullets: bullets.join('\n'), task_id: task.id,
    plan_version: String(task.dev.approvedVersion ?? task.dev.execution?.planVersion ?? ''), attempt: String(attempt),
  };
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => values[key] ?? whole).trim() + '\n';
}
