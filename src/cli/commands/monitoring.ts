/** orchestra status: the workspace's health now (loops by heartbeat, queues, failures, refusals, spend, alerts). */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { formatUsd, shortLine } from '../../core/text-sanitize.js';
import type { HealthSnapshot } from '../../pipeline/monitoring/health.js';

const ago = (seconds: number) => (seconds < 0 ? 'never' : seconds < 90 ? `${seconds} s` : seconds < 5400 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`);
const counts = (byKey: Record<string, number>) => Object.entries(byKey).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${k}`).join(', ');

export function statusLines(s: HealthSnapshot): string[] {
  const alive = s.ups.filter((u) => u.alive);
  const silent = s.ups.filter((u) => !u.alive);
  const lines = [
    alive.length === 0 ? 'orchestra up: none running' : `orchestra up: ${alive.length} running`,
    ...alive.map((u) => `  ${u.host} pid ${u.pid}: ${u.loops.join(', ') || 'no loops'} (heartbeat ${ago(u.ageSeconds)} ago)`),
    ...silent.map((u) => `  STOPPED HEARTBEATING ${u.host} pid ${u.pid}: ${u.loops.join(', ') || 'no loops'} (last heartbeat ${ago(u.ageSeconds)} ago)`),
    `tasks: ${s.tasks.total} (${s.tasks.open} open, ${s.tasks.settled} settled)`,
    ...s.queue.map((q) => `  ${q.workstream}/${q.state}: ${q.count}`),
    s.oldestWaiting
      ? `oldest waiting: ${s.oldestWaiting.number ? `#${s.oldestWaiting.number} ` : ''}"${shortLine(s.oldestWaiting.title, 60)}" ${s.oldestWaiting.state} for ${ago(s.oldestWaiting.ageSeconds)} (${s.oldestWaiting.id})`
      : 'oldest waiting: none',
    `last hour: ${s.lastHour.failures} failed, ${s.lastHour.completions} completed, ${s.lastHour.refusals} refusals${s.lastHour.refusals ? ` (${counts(s.lastHour.refusalsByReason)})` : ''}`,
    `spend today (UTC): ${formatUsd(s.spend.todayUsd)}; last hour ${formatUsd(s.lastHour.spendUsd)}`,
    ...(s.partial ? ['(more tasks changed recently than were read: the last hour and today are lower bounds)'] : []),
    ...(s.commitLagSeconds !== undefined ? [`commit lag: ${s.commitLagSeconds.toFixed(1)} s`] : []),
    s.alerts.length === 0 ? 'alerts: none open' : `alerts: ${s.alerts.length} open`,
    ...s.alerts.map((a) => `  [${a.rule}] ${a.message} (since ${a.firedAt})`),
  ];
  return lines;
}

export function register(program: Command, ctx: CliContext): void {
  program.command('status').description('loops alive, queue depth, oldest waiting task, failures and refusals in the last hour, spend today, open alerts')
    .action(ctx.act(async (ws, o) => {
      const { HealthMonitor } = await import('../../pipeline/monitoring/health.js');
      const snapshot = await new HealthMonitor(ws).snapshot();
      o.ok(snapshot, statusLines(snapshot));
    }));
}
