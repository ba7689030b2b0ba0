import { describeActor } from '../core/actor.js';
import { summarizeEvent } from '../core/journal.js';
import type { TaskView } from '../core/model/task.js';
import type { StreamRecord } from '../core/record.js';
import { taskHandle } from '../core/task-ref.js';
import { formatUsd, plural, shortLine } from '../core/text-sanitize.js';

export function taskLine(t: TaskView): string {
  return `${taskHandle(t).padEnd(5)} ${t.id}  ${t.state.padEnd(11)} ${t.workstream.padEnd(10)} ${t.title.slice(0, 60)}${t.tags.length ? `  [${t.tags.join(',')}]` : ''}${roundNote(t)}`;
}

/** `  round 2 · plan v3` once a follow-up round started (round 1 lines stay as they were). */
function roundNote(t: TaskView): string {
  const d = t.dev;
  if (!d || d.round < 2) return '';
  const plan = d.plans.at(-1);
  return `  round ${d.round}${plan && d.rounds.at(-1)!.plans.includes(plan.version) ? ` · plan v${plan.version}` : ''}`;
}

/** One line per round: its plans, commits and pushes, and the feedback that started it. */
function roundLines(t: TaskView): string[] {
  const d = t.dev;
  if (!d || d.round < 2) return [];
  const lines = [`  round:      ${d.round}`];
  for (const r of d.rounds) {
    const parts = [
      r.plans.length ? `plan ${r.plans.map((v) => `v${v}`).join(', ')}` : 'no plan yet',
      ...(r.commits.length ? [plural(r.commits.length, 'commit')] : []),
      ...(r.pushes.length ? [`pushed ${r.pushes.at(-1)!.sha.slice(0, 10)}`] : []),
      ...(r.feedback ? [`feedback "${shortLine(r.feedback, 60)}"`] : []),
    ];
    lines.push(`${r.round === 1 ? '  rounds:     ' : '              '}${r.round}: ${parts.join(' · ')}`);
  }
  return lines;
}

export function taskDetails(t: TaskView, lease?: string): string[] {
  const d = t.dev;
  const lines = [
    `${t.title}`,
    `  id:         ${t.id}${typeof t.number === 'number' ? ` (${taskHandle(t)})` : ''}`,
    `  workstream: ${t.workstream}`,
    `  state:      ${t.state} (since ${t.stateSince})${t.archived ? ' [archived]' : ''}`,
    `  created:    ${t.createdAt} by ${t.createdBy}`,
  ];
  if (t.tags.length) lines.push(`  tags:       ${t.tags.join(', ')}`);
  for (const [k, v] of Object.entries(t.fields)) lines.push(`  ${(k + ':').padEnd(12)}${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (lease) lines.push(`  lease:      ${lease}`);
  lines.push(...roundLines(t));
  if (d.plans.length) lines.push(`  plan:       v${d.plans.at(-1)!.version}${d.approvedVersion ? ` (approved v${d.approvedVersion})` : ' (awaiting approval)'}`);
  if (d.execution) lines.push(`  branch:     ${d.execution.branch} from ${d.execution.base}`);
  if (d.testRuns.length) lines.push(`  tests:      ${plural(d.testRuns.length, 'run')}, last ${d.testRuns.at(-1)!.passed ? 'passed' : 'failed'}`);
  if (d.usage.calls) lines.push(`  usage:      ${plural(d.usage.calls, 'model call')}, ${plural(d.usage.inputTokens, 'token')} in / ${d.usage.outputTokens} out${cacheNote(d.usage)}, ${formatUsd(d.usage.costUsd)}`);
  if (d.summary) lines.push(`  summary:    ${d.summary.split('\n').join('\n              ')}`);
  if (d.diffStat) lines.push(`  diff:       ${d.diffStat.trim().split('\n').join('\n              ')}${d.diffFile ? `\n              (orchestra diff ${taskHandle(t)})` : ''}`);
  if (d.commit) lines.push(`  commit:     ${d.commit.sha}`);
  if (d.push) lines.push(`  link:       ${d.link ?? d.push.link}`);
  if (d.pullRequestFailure && !d.pullRequest) lines.push(`  no PR:      ${d.pullRequestFailure}`);
  if (d.failure) lines.push(`  failure:    ${d.failure.reason}${d.failure.patchFile ? ` (work saved: ${d.failure.patchFile})` : ''}`);
  if (t.description) lines.push('', ...t.description.split('\n').map((l) => `  ${l}`));
  for (const c of t.comments) lines.push(`  # ${c.at} ${c.by}: ${c.text}`);
  return lines;
}

/** Lease bookkeeping: hidden from `task log` unless --all. */
export const isBookkeeping = (type: string) => type === 'lease.acquired' || type === 'lease.released' || type === 'lease.expired';

/** A recorded tool call, briefly: `name(first argument)`. */
function toolCallText(call: unknown): string {
  const c = call as { name?: unknown; args?: Record<string, unknown> } | null;
  const name = typeof c?.name === 'string' ? c.name : '?';
  const first = c?.args && typeof c.args === 'object' ? Object.values(c.args).find((v) => typeof v === 'string') : undefined;
  return typeof first === 'string' ? `${name}(${shortLine(first, 40)})` : name;
}

/** `task log`: one line per event; model calls show their tool calls; lease bookkeeping collapsed unless `all`. */
export function logLines(records: StreamRecord[], all: boolean): string[] {
  const lines: string[] = [];
  let hidden = 0;
  for (const r of records) {
    for (const e of r.events) {
      if (!all && isBookkeeping(e.type)) { hidden++; continue; }
      const d = e.data as Record<string, any>;
      let text = summarizeEvent(e.type, d);
      if (e.type === 'model.called') {
        const calls = Array.isArray(d.toolCalls) ? d.toolCalls : [];
        const fellBack = Array.isArray(d.fallbackFrom) && d.fallbackFrom.length ? ` (${d.provider} after ${d.fallbackFrom.map((f: any) => `${f.provider} ${f.status ?? 'failed'}`).join(', ')})` : '';
        text = `${d.role} model ${d.model ?? ''}${fellBack}: ${d.inputTokens ?? 0} in${cacheNote(d)} / ${d.outputTokens ?? 0} out tokens${typeof d.costUsd === 'number' && d.costUsd > 0 ? `, ${formatUsd(d.costUsd)}` : ''}${calls.length ? `; ${calls.map(toolCallText).join(', ')}` : d.text ? `; says "${shortLine(String(d.text), 60)}"` : ''}`;
      }
      lines.push(`#${String(r.seq).padEnd(4)} ${r.at}  ${text.padEnd(50)} ${describeActor(r.actor)}`);
    }
  }
  if (hidden) lines.push(`(${plural(hidden, 'lease event')} hidden; --all shows them)`);
  return lines;
}

/** ` (N cached, M cache writes)` when a prompt cache was used, else nothing. */
function cacheNote(u: { cachedInputTokens?: unknown; cacheWriteTokens?: unknown }): string {
  const parts: string[] = [];
  if (typeof u.cachedInputTokens === 'number' && u.cachedInputTokens > 0) parts.push(`${u.cachedInputTokens} cached`);
  if (typeof u.cacheWriteTokens === 'number' && u.cacheWriteTokens > 0) parts.push(`${u.cacheWriteTokens} cache writes`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}
