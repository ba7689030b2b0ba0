/**
 * What the bot says about tasks, as Telegram HTML: plans, progress, outcomes, status and lists.
 * The HTML building blocks live in html.ts (re-exported here), the help texts in help.ts.
 * Pure functions: the unit tests cover them without a bot.
 */
import type { PlanRef } from '../../pipeline/dev-fold.js';
import { planSections } from '../../pipeline/plan.js';
import type { TaskView } from '../../core/model/task.js';
import { bold, clip, code, esc, linkOrCode } from './html.js';
import { formatUsd, plural } from '../../core/text-sanitize.js';

export { bold, clip, code, esc, htmlToText, linkOrCode, MESSAGE_LIMIT, splitHtml, titleOf } from './html.js';
export { BOT_COMMANDS, HELP } from './help.js';

/** A plan longer than this many messages goes out as a document instead of a message series. */
export const MAX_PLAN_PARTS = 3;

const STATE_ICON: Record<string, string> = {
  planning: '📝', planned: '👀', approved: '👍', executing: '⚙️', publishing: '📤', completed: '✅', failed: '❌', aborted: '⏹',
};
export const stateLabel = (state: string) => `${STATE_ICON[state] ?? '•'} ${state}`;

const repoOf = (task: TaskView) => (typeof task.fields.repo === 'string' ? task.fields.repo : undefined);

function taskHead(task: TaskView): string {
  const repo = repoOf(task);
  return `${bold(task.title)}\n${code(task.id)}${roundOf(task)}${repo ? ` · repo ${code(repo)}` : ''}`;
}

/** ` · round 2` once a follow-up round started (feedback on the completed task). */
const roundOf = (task: TaskView) => ((task.dev?.round ?? 1) > 1 ? ` · round ${task.dev.round}` : '');

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

/** The header of the progress message: what the run is doing now, or how it ended. */
const PROGRESS_HEAD: Record<string, string> = {
  executing: '⚙️ <b>Executing</b>', publishing: '📤 <b>Publishing</b>', completed: '✅ <b>Completed</b>', failed: '❌ <b>Failed</b>', aborted: '⏹ <b>Aborted</b>',
};

/**
 * The one message per run, edited in place: the header follows the state, so the last edit shows
 * how the run ended (not "Executing").
 */
export function renderProgress(task: TaskView): string {
  const dev = task.dev;
  const version = dev.execution?.planVersion ?? dev.approvedVersion;
  const head = PROGRESS_HEAD[task.state] ?? `${stateLabel(task.state)}`;
  const lines = [`${head} ${taskHead(task)}${version ? `\nplan v${version}` : ''}`];
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

const cost = (task: TaskView) => (task.dev.usage.calls ? `\nModel cost: ${formatUsd(task.dev.usage.costUsd)} (${plural(task.dev.usage.calls, 'model call')})` : '');

export function renderCompleted(task: TaskView): string {
  const push = task.dev.push;
  const lines = [`✅ <b>Completed</b> ${taskHead(task)}`];
  if (push) lines.push(`Branch ${code(push.branch)}: ${linkOrCode(push.link)}`);
  if (task.dev.pullRequest) lines.push(`Pull request: ${linkOrCode(task.dev.pullRequest.url)}`);
  if (task.dev.summary) lines.push(esc(clip(task.dev.summary, 1000)));
  if (task.dev.diffStat) lines.push(`<pre>${esc(clip(shortDiffStat(task.dev.diffStat), 2000))}</pre>`);
  if (push) lines.push(`<i>More to change? Reply to this message (or press Follow up) and the next round builds on this branch.</i>`);
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
  if (dev.pullRequest) lines.push(`Pull request: ${linkOrCode(dev.pullRequest.url)}`);
  if (dev.diffStat) lines.push(`<pre>${esc(clip(shortDiffStat(dev.diffStat, 8), 1200))}</pre>`);
  if (dev.failure) lines.push(`Failure: ${esc(clip(dev.failure.reason, 800))}${dev.failure.patchFile ? `\nSaved patch: ${code(dev.failure.patchFile)}` : ''}`);
  if (dev.usage.calls) lines.push(`Model cost: ${formatUsd(dev.usage.costUsd)} (${plural(dev.usage.calls, 'model call')})`);
  if (task.description && task.description !== task.title) lines.push(`\n${esc(clip(task.description, 1500))}`);
  return lines.join('\n');
}

export function renderList(tasks: TaskView[], max = 30): string {
  if (tasks.length === 0) return 'No tasks yet. Create one with /task &lt;repo&gt; &lt;what to do&gt;.';
  const shown = tasks.slice(-max).reverse();
  const lines = shown.map((t) => `${STATE_ICON[t.state] ?? '•'} ${code(t.id)} ${esc(t.state)}${roundOf(t)}\n   ${esc(clip(t.title, 80))}`);
  const more = tasks.length > shown.length ? `\n… and ${tasks.length - shown.length} older` : '';
  return `<b>Tasks</b> (newest first)\n${lines.join('\n')}${more}`;
}
