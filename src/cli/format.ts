import type { TaskView } from '../core/model/task.js';
import { formatUsd, plural } from '../core/text-sanitize.js';

export function taskLine(t: TaskView): string {
  return `${t.id}  ${t.state.padEnd(11)} ${t.workstream.padEnd(10)} ${t.title.slice(0, 60)}${t.tags.length ? `  [${t.tags.join(',')}]` : ''}`;
}

export function taskDetails(t: TaskView, lease?: string): string[] {
  const d = t.dev;
  const lines = [
    `${t.title}`,
    `  id:         ${t.id}`,
    `  workstream: ${t.workstream}`,
    `  state:      ${t.state} (since ${t.stateSince})${t.archived ? ' [archived]' : ''}`,
    `  created:    ${t.createdAt} by ${t.createdBy}`,
  ];
  if (t.tags.length) lines.push(`  tags:       ${t.tags.join(', ')}`);
  for (const [k, v] of Object.entries(t.fields)) lines.push(`  ${(k + ':').padEnd(12)}${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (lease) lines.push(`  lease:      ${lease}`);
  if (d.plans.length) lines.push(`  plan:       v${d.plans.at(-1)!.version}${d.approvedVersion ? ` (approved v${d.approvedVersion})` : ' (awaiting approval)'}`);
  if (d.execution) lines.push(`  branch:     ${d.execution.branch} from ${d.execution.base}`);
  if (d.testRuns.length) lines.push(`  tests:      ${d.testRuns.length} run(s), last ${d.testRuns.at(-1)!.passed ? 'passed' : 'failed'}`);
  if (d.usage.calls) lines.push(`  usage:      ${plural(d.usage.calls, 'model call')}, ${d.usage.inputTokens} in / ${d.usage.outputTokens} out tokens, ${formatUsd(d.usage.costUsd)}`);
  if (d.commit) lines.push(`  commit:     ${d.commit.sha}`);
  if (d.push) lines.push(`  link:       ${d.push.link}`);
  if (d.failure) lines.push(`  failure:    ${d.failure.reason}${d.failure.patchFile ? ` (work saved: ${d.failure.patchFile})` : ''}`);
  if (t.description) lines.push('', ...t.description.split('\n').map((l) => `  ${l}`));
  for (const c of t.comments) lines.push(`  # ${c.at} ${c.by}: ${c.text}`);
  return lines;
}
