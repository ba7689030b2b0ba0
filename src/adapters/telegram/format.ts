/**
 * What the bot says, as Telegram HTML (`parse_mode: 'HTML'`). Everything that comes from a task
 * goes through `esc`; `splitHtml` cuts long texts under Telegram's limit without breaking a tag
 * or an entity. Pure functions: the unit tests cover them without a bot.
 */
import type { PlanRef } from '../../pipeline/dev-fold.js';
import { planSections } from '../../pipeline/plan.js';
import type { TaskView } from '../../core/model/task.js';
import { escapeHtml } from '../../core/quote.js';
import { clip as clipText } from '../../core/text-sanitize.js';

/** Telegram's limit on one message's text. */
export const MESSAGE_LIMIT = 4096;
/** A plan longer than this many messages goes out as a document instead of a message series. */
export const MAX_PLAN_PARTS = 3;

export const esc = escapeHtml;

export const code = (text: unknown) => `<code>${esc(text)}</code>`;
export const bold = (text: unknown) => `<b>${esc(text)}</b>`;

/** Cuts a string to `max` characters (by code point), the last one marking the cut. */
export const clip = (text: string, max: number): string => clipText(text, Math.max(1, max - 1));

/** First non-empty line, at most 80 characters: a task title from free text. */
export function titleOf(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
  return clip(line, 80);
}

/** A link when the target is a web URL, otherwise the target as code. */
export function linkOrCode(target: string, label = target): string {
  return /^https?:\/\/\S+$/i.test(target) ? `<a href="${esc(target)}">${esc(label)}</a>` : code(target);
}

/** Strips tags and decodes entities: the text a person sees (fallback for plain sends). */
export function htmlToText(html: string): string {
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&');
}

interface OpenTag { name: string; raw: string }
const closing = (stack: OpenTag[]) => stack.slice().reverse().map((t) => `</${t.name}>`).join('');
const opening = (stack: OpenTag[]) => stack.map((t) => t.raw).join('');

/**
 * Splits HTML into parts of at most `limit` characters, preferring line breaks. A cut inside a
 * tag pair closes the open tags at the end of the part and reopens them in the next one; a tag
 * or an entity is never cut.
 */
export function splitHtml(html: string, limit = MESSAGE_LIMIT): string[] {
  if (html.length <= limit) return [html];
  const budget = limit - 128; // room for closing tags
  const piece = Math.max(16, Math.floor(budget / 4));
  const tokens = html.match(/<[^>]*>|&[#A-Za-z0-9]+;|\n|[^<&\n]+|[<&]/g) ?? [];
  const parts: string[] = [];
  let stack: OpenTag[] = [];
  let cur = '';
  let cut: { pos: number; stack: OpenTag[] } | undefined;
  const push = (part: string) => {
    if (htmlToText(part).trim()) parts.push(part);
  };
  for (const token of tokens) {
    const pieces: string[] = [];
    if (token.length > piece && !token.startsWith('<') && !token.startsWith('&')) {
      const chars = Array.from(token);
      for (let i = 0; i < chars.length; i += piece) pieces.push(chars.slice(i, i + piece).join(''));
    } else pieces.push(token);
    for (const p of pieces) {
      if (cur.length + p.length > budget) {
        if (cut && cut.pos > budget / 2) {
          push(cur.slice(0, cut.pos) + closing(cut.stack));
          cur = opening(cut.stack) + cur.slice(cut.pos + 1);
        } else {
          push(cur + closing(stack));
          cur = opening(stack);
        }
        cut = undefined;
      }
      cur += p;
      const tag = /^<(\/?)([A-Za-z][A-Za-z0-9-]*)[^>]*?(\/?)>$/.exec(p);
      if (tag) {
        if (tag[1]) {
          const at = stack.map((t) => t.name).lastIndexOf(tag[2]!.toLowerCase());
          if (at >= 0) stack = stack.slice(0, at);
        } else if (!tag[3]) stack = [...stack, { name: tag[2]!.toLowerCase(), raw: p }];
      }
      if (p === '\n') cut = { pos: cur.length - 1, stack };
    }
  }
  push(cur + closing(stack));
  return parts;
}

const STATE_ICON: Record<string, string> = {
  planning: '📝', planned: '👀', approved: '👍', executing: '⚙️', publishing: '📤', completed: '✅', failed: '❌', aborted: '⏹',
};
export const stateLabel = (state: string) => `${STATE_ICON[state] ?? '•'} ${state}`;

const repoOf = (task: TaskView) => (typeof task.fields.repo === 'string' ? task.fields.repo : undefined);

function taskHead(task: TaskView): string {
  const repo = repoOf(task);
  return `${bold(task.title)}\n${code(task.id)}${repo ? ` · repo ${code(repo)}` : ''}`;
}

const bullets = (items: string[], numbered = false) =>
  items.map((item, i) => `${numbered ? `${i + 1}.` : '•'} ${esc(item.trim())}`).join('\n');

/** The plan as a message: its sections (`planSections`: order and labels), empty lists left out. */
export function renderPlan(task: TaskView, plan: PlanRef, opts: { markdown?: string } = {}): string {
  const out = [`📋 <b>Plan v${plan.version}</b> for ${taskHead(task)}`];
  for (const section of planSections(plan)) {
    if (section.key === 'summary') {
      if (section.text.trim()) out.push(`${bold(section.label)}\n${esc(section.text.trim())}`);
    } else if (section.items.length) out.push(`${bold(section.label)}\n${bullets(section.items, section.numbered)}`);
  }
  if (!plan.summary.trim() && !plan.steps.length && opts.markdown) out.push(esc(opts.markdown.trim()));
  out.push(`<i>Approve, revise (or reply to this message with feedback), or abort.</i>`);
  return out.join('\n\n');
}

/** The short form sent with the buttons when the whole plan goes out as a document: the summary and the number of steps. */
export function renderPlanShort(task: TaskView, plan: PlanRef): string {
  let head = '';
  for (const section of planSections(plan)) {
    if (section.key === 'summary') head += section.text.trim() ? `\n\n${bold(section.label)}\n${esc(clip(section.text.trim(), 1500))}` : '';
    else if (section.key === 'steps') head += section.items.length ? `\n\n${bold(section.label)}: ${section.items.length}` : '';
  }
  return `📋 <b>Plan v${plan.version}</b> for ${taskHead(task)}${head}\n\n<i>The full plan is attached. Approve, revise (or reply with feedback), or abort.</i>`;
}

export function renderProgress(task: TaskView): string {
  const dev = task.dev;
  const version = dev.execution?.planVersion ?? dev.approvedVersion;
  const lines = [`⚙️ <b>Executing</b> ${taskHead(task)}${version ? `\nplan v${version}` : ''}`];
  const last = dev.testRuns.at(-1);
  if (last) {
    if (last.passed) lines.push(`✔️ test run ${last.run} passed`);
    else if (task.state === 'executing') lines.push(`🔧 test run ${last.run} failed, fixing...`);
    else lines.push(`test run ${last.run} failed`);
  }
  if (task.state === 'publishing') lines.push('📤 publishing...');
  else if (task.state !== 'executing') lines.push(`finished: ${esc(task.state)}`);
  return lines.join('\n');
}

/** The last line of a `git diff --stat` plus the first files. */
export function shortDiffStat(diffStat: string, maxFiles = 15): string {
  const lines = diffStat.split('\n').map((l) => l.trimEnd()).filter(Boolean);
  if (lines.length <= maxFiles + 1) return lines.join('\n');
  return [...lines.slice(0, maxFiles), `... ${lines.length - maxFiles - 1} more files`, lines.at(-1)!].join('\n');
}

const cost = (task: TaskView) => (task.dev.usage.calls ? `\nModel cost: $${task.dev.usage.costUsd.toFixed(2)} (${task.dev.usage.calls} calls)` : '');

export function renderCompleted(task: TaskView): string {
  const push = task.dev.push;
  const lines = [`✅ <b>Completed</b> ${taskHead(task)}`];
  if (push) lines.push(`Branch ${code(push.branch)}: ${linkOrCode(push.link)}`);
  if (task.dev.summary) lines.push(esc(clip(task.dev.summary, 1000)));
  if (task.dev.diffStat) lines.push(`<pre>${esc(clip(shortDiffStat(task.dev.diffStat), 2000))}</pre>`);
  return lines.join('\n') + cost(task);
}

export function renderFailed(task: TaskView): string {
  const f = task.dev.failure;
  const lines = [`❌ <b>Failed</b> ${taskHead(task)}`];
  if (f) {
    lines.push(`Reason: ${esc(clip(f.reason, 1500))}${f.step ? ` (step ${esc(f.step)})` : ''}`);
    if (f.patchFile) lines.push(`Saved patch: ${code(f.patchFile)}`);
  }
  lines.push(`Retry: ${code(`/retry ${task.id}`)}`);
  return lines.join('\n') + cost(task);
}

export function renderAborted(task: TaskView): string {
  return `⏹ <b>Aborted</b> ${taskHead(task)}`;
}

export function renderStatus(task: TaskView): string {
  const dev = task.dev;
  const lines = [taskHead(task), `State: ${stateLabel(task.state)} since ${esc(task.stateSince.slice(0, 16).replace('T', ' '))}`];
  const plan = dev.plans.at(-1);
  if (plan) lines.push(`Plan: v${plan.version}${dev.approvedVersion ? ` (approved v${dev.approvedVersion})` : ''}`);
  if (dev.execution) lines.push(`Branch: ${code(dev.execution.branch)}`);
  if (dev.testRuns.length) {
    const last = dev.testRuns.at(-1)!;
    lines.push(`Test runs: ${dev.testRuns.length}, last ${last.passed ? 'passed' : 'failed'}`);
  }
  if (dev.push) lines.push(`Pushed: ${linkOrCode(dev.push.link)}`);
  if (dev.diffStat) lines.push(`<pre>${esc(clip(shortDiffStat(dev.diffStat, 8), 1200))}</pre>`);
  if (dev.failure) lines.push(`Failure: ${esc(clip(dev.failure.reason, 800))}${dev.failure.patchFile ? `\nSaved patch: ${code(dev.failure.patchFile)}` : ''}`);
  if (dev.usage.calls) lines.push(`Model cost: $${dev.usage.costUsd.toFixed(2)} (${dev.usage.calls} calls)`);
  if (task.description && task.description !== task.title) lines.push(`\n${esc(clip(task.description, 1500))}`);
  return lines.join('\n');
}

export function renderList(tasks: TaskView[], max = 30): string {
  if (tasks.length === 0) return 'No tasks yet. Create one with /task &lt;repo&gt; &lt;what to do&gt;.';
  const shown = tasks.slice(-max).reverse();
  const lines = shown.map((t) => `${STATE_ICON[t.state] ?? '•'} ${code(t.id)} ${esc(t.state)}\n   ${esc(clip(t.title, 80))}`);
  const more = tasks.length > shown.length ? `\n… and ${tasks.length - shown.length} older` : '';
  return `<b>Tasks</b> (newest first)\n${lines.join('\n')}${more}`;
}

export const HELP = [
  '<b>Orchestra</b> turns chat messages into tasks and commands.',
  '',
  '/task &lt;repo&gt; &lt;what to do&gt; — new dev task (or /task alone and answer two questions)',
  '/list — recent tasks',
  '/status [id] — a task in detail, or what needs you',
  '/plan &lt;id&gt; — the latest plan with its buttons',
  '/feedback &lt;id&gt; &lt;text&gt; — ask for a revised plan (or reply to a plan message)',
  '/approve &lt;id&gt; [version] — approve a plan',
  '/abort &lt;id&gt; — stop a task',
  '/retry &lt;id&gt; [replan] — retry a failed or aborted task',
  '/cancel — drop a question in progress',
  '',
  'An id can be shortened to a unique prefix of at least 6 characters.',
].join('\n');

export const BOT_COMMANDS = [
  { command: 'task', description: 'New task: /task <repo> <what to do>' },
  { command: 'list', description: 'Recent tasks' },
  { command: 'status', description: 'Task status: /status [id]' },
  { command: 'plan', description: 'Show the latest plan: /plan <id>' },
  { command: 'feedback', description: 'Revise a plan: /feedback <id> <text>' },
  { command: 'approve', description: 'Approve a plan: /approve <id> [version]' },
  { command: 'abort', description: 'Stop a task: /abort <id>' },
  { command: 'retry', description: 'Retry a task: /retry <id>' },
  { command: 'help', description: 'What the bot can do' },
];
