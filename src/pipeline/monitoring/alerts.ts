import type { Actor } from '../../core/actor.js';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { ALERT_FIRED, ALERT_RESOLVED, AlertIncidents, type AlertEvent, type Incident } from '../../core/model/alerts.js';
import type { AlertRules } from '../../core/monitoring-config.js';
import { AUDIT_STREAM } from '../../core/paths.js';
import { formatUsd, shortLine } from '../../core/text-sanitize.js';
import type { Workspace } from '../../core/workspace.js';
import type { HealthMonitor, HealthSnapshot } from './health.js';

/**
 * The alert rules (config `monitoring.alerts`) applied to the health picture, and the evaluator
 * `orchestra up` runs every `monitoring.evaluateIntervalMs`. A rule yields conditions keyed by
 * rule and subject; the evaluator compares them with the open incidents folded from the audit
 * stream and appends `alert.fired` for a new key and `alert.resolved` for a key whose condition
 * is gone. The decision is made inside the optimistic append on the current fold, so an incident
 * fires once however many evaluators run, and a restart neither re-fires nor forgets one.
 * Telegram and the web learn of incidents from those records (they never call the evaluator).
 */
export type Condition = AlertEvent;

const minutesText = (seconds: number) => (seconds >= 5400 ? `${Math.round(seconds / 3600)} h` : seconds >= 90 ? `${Math.round(seconds / 60)} min` : `${seconds} s`);

/** The conditions that hold now. Pure over the snapshot and the monitor's recent window. */
export function evaluateRules(rules: AlertRules, snapshot: HealthSnapshot, monitor: HealthMonitor, now: number): Condition[] {
  const out: Condition[] = [];
  const add = (rule: keyof AlertRules, subject: string, message: string) => out.push({ key: `${rule}:${subject}`.slice(0, 300), rule, subject: subject.slice(0, 200), message: shortLine(message, 1000) });
  if (rules.stuckTask.enabled) {
    for (const t of monitor.waiting(now)) {
      const ageMs = now - Date.parse(t.since);
      if (Number.isNaN(ageMs)) continue;
      if (ageMs < rules.stuckTask.minutes * 60_000) break; // oldest first: the rest are younger
      add('stuckTask', t.id, `task ${t.number ? `#${t.number} ` : ''}"${shortLine(t.title, 80)}" (${t.id}) has been ${t.state} for ${minutesText(t.ageSeconds)} (limit ${rules.stuckTask.minutes} min)`);
    }
  }
  if (rules.heartbeatMissing.enabled) {
    for (const up of snapshot.ups) {
      if (up.alive) continue;
      add('heartbeatMissing', `${up.host}-${up.pid}`, `orchestra up on ${up.host} (pid ${up.pid}, loops ${up.loops.join(', ') || 'none'}) stopped heartbeating ${up.ageSeconds >= 0 ? `${minutesText(up.ageSeconds)} ago` : ''}`.trim());
    }
  }
  if (rules.failureRate.enabled) {
    const { failures, completions } = monitor.recentCounts(now - rules.failureRate.windowMinutes * 60_000);
    const ratio = failures / Math.max(1, failures + completions);
    if (failures >= rules.failureRate.minFailures && ratio >= rules.failureRate.ratio) {
      add('failureRate', 'all', `${failures} of ${failures + completions} tasks finished in the last ${rules.failureRate.windowMinutes} min failed (${Math.round(ratio * 100)} %)`);
    }
  }
  if (rules.spendRate.enabled && snapshot.lastHour.spendUsd >= rules.spendRate.usdPerHour) {
    add('spendRate', 'all', `model spend in the last hour is ${formatUsd(snapshot.lastHour.spendUsd)} (limit ${formatUsd(rules.spendRate.usdPerHour)} per hour)`);
  }
  if (rules.refusalBurst.enabled) {
    const bySource = new Map<string, Map<string, number>>();
    for (const r of monitor.recentCounts(now - rules.refusalBurst.windowMinutes * 60_000).refusals) {
      const reasons = bySource.get(r.source) ?? new Map<string, number>();
      reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
      bySource.set(r.source, reasons);
    }
    for (const [source, reasons] of bySource) {
      const total = [...reasons.values()].reduce((a, b) => a + b, 0);
      if (total < rules.refusalBurst.count) continue;
      const top = [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([reason, n]) => `${n} ${reason}`).join(', ');
      add('refusalBurst', source, `${total} ${source} refusals in the last ${rules.refusalBurst.windowMinutes} min (${top})`);
    }
  }
  return out;
}

export class AlertEvaluator {
  private readonly incidents = new AlertIncidents();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly ws: Workspace,
    private readonly monitor: HealthMonitor,
    private readonly actor: Actor,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Evaluates every `intervalMs` (the first time at once) until stopped. */
  start(intervalMs = this.ws.config.monitoring.evaluateIntervalMs): void {
    const tick = () => {
      if (this.stopped) return;
      void this.evaluate().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, intervalMs);
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One pass: fire what newly holds, resolve what no longer does. Failures are logged, not thrown. */
  evaluate(): Promise<void> {
    this.running ??= this.pass()
      .catch((err) => this.log.warn('alert evaluation failed', describeError(err)))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    const snapshot = await this.monitor.snapshot();
    const now = this.now();
    const holding = new Map(evaluateRules(this.ws.config.monitoring.alerts, snapshot, this.monitor, now).map((c) => [c.key, c]));
    const open = this.incidents.apply((await this.ws.readStream(AUDIT_STREAM)).records).open;
    for (const condition of holding.values()) {
      if (!open.has(condition.key)) await this.change(ALERT_FIRED, condition);
    }
    for (const incident of [...open.values()]) {
      if (holding.has(incident.key)) continue;
      await this.change(ALERT_RESOLVED, { key: incident.key, rule: incident.rule, subject: incident.subject, message: resolution(incident, now) });
    }
  }

  /** Appends the change if the fold still calls for it (another evaluator may have made it). */
  private async change(type: typeof ALERT_FIRED | typeof ALERT_RESOLVED, e: AlertEvent): Promise<void> {
    const { record } = await this.ws.appendTo(AUDIT_STREAM, (s) => this.incidents.apply(s.records), (state) => {
      const isOpen = state.open.has(e.key);
      if (type === ALERT_FIRED ? isOpen : !isOpen) return null;
      return { actor: this.actor, events: [{ type, data: { ...e } }] };
    });
    if (record) this.log.info(type === ALERT_FIRED ? 'alert fired' : 'alert resolved', { rule: e.rule, subject: e.subject });
  }
}

function resolution(incident: Incident, now: number): string {
  const fired = Date.parse(incident.firedAt);
  const lasted = Number.isFinite(fired) ? ` after ${minutesText(Math.max(0, Math.round((now - fired) / 1000)))}` : '';
  return shortLine(`resolved${lasted}: ${incident.message}`, 1000);
}
