/**
 * The forge adapter's text rules, pure: what a comment asks for, what an issue becomes, and the
 * comments Orchestra writes back. Issues and comments are hostile text: capped before anything
 * else, control characters removed, never parsed as YAML or code (a task is written as a sealed
 * JSON file, so front matter in a body is plain text). Text written back quotes model output
 * with every @mention defused, so a plan can neither ping people nor smuggle a `/approve` line.
 */
import { createHash } from 'node:crypto';
import type { Actor } from '../../core/actor.js';
import type { TaskView } from '../../core/model/task.js';
import { clip, multiLine, singleLine } from '../../core/text-sanitize.js';
import type { ForgeIssue } from '../../forge/types.js';

export const LIMITS = { titleChars: 200, bodyChars: 50_000, feedbackChars: 10_000 } as const;

/** Who a forge user is to Orchestra: an adapter actor, never trusted unless config names it. */
export const forgeActor = (kind: string, login: string): Actor => ({ kind: 'adapter', name: 'forge', user: `${kind}:${login}` });

/** A login as the forge sends it; anything else (too long, odd characters) is not acted on. */
export const isPlainLogin = (login: string) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(login);

export type CommentAction = { kind: 'approve'; version: number } | { kind: 'feedback'; text: string } | undefined;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `/approve vN` alone on a line approves version N; otherwise a comment that mentions `@bot` is
 * feedback (the mention removed); anything else is conversation and ignored.
 */
export function commentAction(body: string, bot: string): CommentAction {
  const text = multiLine(clip(body, LIMITS.feedbackChars * 2));
  const approve = /^[ \t]*\/approve[ \t]+v?(\d{1,6})[ \t]*$/im.exec(text);
  if (approve) return { kind: 'approve', version: Number(approve[1]) };
  const mention = new RegExp(`(^|[^A-Za-z0-9_/-])@${escapeRe(bot)}(?![A-Za-z0-9_-])`, 'gi');
  if (!mention.test(text)) return undefined;
  const feedback = clip(text.replace(mention, '$1').trim(), LIMITS.feedbackChars);
  return feedback ? { kind: 'feedback', text: feedback } : undefined;
}

/** A ULID named by `seed`: the same comment always gives the same request nonce (applied once). */
export function nonceFor(seed: string): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  const bytes = createHash('sha256').update(seed).digest();
  let out = '';
  for (let i = 0; i < 26; i++) out += alphabet[bytes[i]! % 32];
  // The first character of a ULID is at most 7 (48-bit time).
  return String(bytes[26]! % 8) + out.slice(1);
}

/** The task an issue becomes: its title and body capped and cleaned, where it came from on top. */
export function taskFromIssue(issue: ForgeIssue, repo: string, kind: string, taskRepo: string): { title: string; description: string; tags: string[]; fields: Record<string, unknown> } {
  const title = clip(singleLine(issue.title).trim(), LIMITS.titleChars) || `Issue #${issue.number}`;
  const body = clip(multiLine(issue.body), LIMITS.bodyChars, (n) => `\n\n[… ${n} more characters cut]`);
  return {
    title,
    description: `From ${kind} issue ${repo}#${issue.number} (${clip(singleLine(issue.url), 500)}) by ${clip(singleLine(issue.author), 100)}:\n\n${body}`,
    tags: ['forge'],
    fields: { repo: taskRepo, forgeIssue: issue.number },
  };
}

const quoted = (text: string, max: number) => clip(multiLine(text), max).replace(/@(?=[A-Za-z0-9])/g, '@\u200b').split('\n').map((l) => `> ${l}`).join('\n');

export function planComment(task: TaskView, bot: string, allowed: readonly string[]): string {
  const plan = task.dev.plans.at(-1)!;
  const steps = plan.steps.slice(0, 30).map((s, i) => `> ${i + 1}. ${quoted(singleLine(s), 500).slice(2)}`);
  const who = allowed.length ? allowed.map((u) => `\`${u}\``).join(', ') : 'nobody yet (config forge.allowedUsers)';
  return [
    `**Plan v${plan.version}** for Orchestra task \`${task.id}\`:`, '',
    quoted(plan.summary, 4000), ...(steps.length ? ['>', ...steps] : []), '',
    `To approve, comment \`/approve v${plan.version}\` (allowed: ${who}). For changes, mention @${bot} with what to change.`,
  ].join('\n');
}

export function resultComment(task: TaskView): string {
  const dev = task.dev;
  if (task.state === 'completed') {
    const link = dev.pullRequest?.url ?? dev.link ?? dev.push?.link ?? '';
    return `Orchestra task \`${task.id}\` is done: ${dev.pullRequest ? `${dev.pullRequest.kind === 'gitlab' ? 'merge' : 'pull'} request ${link}` : `branch ${link}`}.`;
  }
  if (task.state === 'failed') return `Orchestra task \`${task.id}\` failed:\n\n${quoted(dev.failure?.reason ?? 'no reason recorded', 1500)}`;
  return `Orchestra task \`${task.id}\` was ${singleLine(task.state)}.`;
}
