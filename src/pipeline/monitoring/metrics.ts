import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HealthSnapshot } from './health.js';

/**
 * The Prometheus metrics of a workspace (prom-client, its own registry: no process defaults mixed
 * in), set from the health snapshot taken at each scrape (`update`):
 *   - gauges are the workspace now (tasks by state, spend today, heartbeats, commit lag, alerts);
 *   - the `_total` counters and `orchestra_step_duration_seconds` count the records appended since
 *     this `up` started watching: they start at zero in each process, so a restart is a counter
 *     reset (Prometheus' `rate()` and `increase()` account for it) and nothing is counted twice.
 *     Every `up` of a workspace counts every process's records: scrape one `up` per workspace, or
 *     aggregate with `max`, never `sum`.
 */
export const STEP_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600];

export class OrchestraMetrics {
  readonly registry = new Registry();
  private readonly tasks = new Gauge({ name: 'orchestra_tasks', help: 'Open tasks (not archived, not in a state without exits) by workstream and state.', labelNames: ['workstream', 'state'], registers: [this.registry] });
  private readonly settled = new Gauge({ name: 'orchestra_tasks_settled', help: 'Tasks archived or in a state without exits (completed).', registers: [this.registry] });
  private readonly oldestWaiting = new Gauge({ name: 'orchestra_oldest_waiting_task_age_seconds', help: 'Time the oldest task waiting for the system has been in its state (0 when none waits).', registers: [this.registry] });
  private readonly steps = new Histogram({ name: 'orchestra_step_duration_seconds', help: 'Duration of steps finished since this up started (lease acquired to released), by step.', labelNames: ['step'], buckets: STEP_BUCKETS, registers: [this.registry] });
  private readonly tokens = new Counter({ name: 'orchestra_model_tokens_total', help: 'Model tokens recorded (model.called) since this up started, by provider, model and direction.', labelNames: ['provider', 'model', 'direction'], registers: [this.registry] });
  private readonly usd = new Counter({ name: 'orchestra_model_usd_total', help: 'Model cost in USD recorded (model.called) since this up started, by provider and model.', labelNames: ['provider', 'model'], registers: [this.registry] });
  private readonly testRuns = new Counter({ name: 'orchestra_test_runs_total', help: 'Sandboxed test runs recorded since this up started, by result (passed, failed, timeout).', labelNames: ['result'], registers: [this.registry] });
  private readonly refusals = new Counter({ name: 'orchestra_refusals_total', help: 'Refused access, rejected inbox files and refused tool calls recorded since this up started, by reason code.', labelNames: ['reason'], registers: [this.registry] });
  private readonly takeovers = new Counter({ name: 'orchestra_lease_takeovers_total', help: 'Leases taken over after they expired (lease.expired) since this up started.', registers: [this.registry] });
  private readonly secretReads = new Counter({ name: 'orchestra_secret_reads_total', help: 'Secrets read from the context store (audit context.secret-read) since this up started.', registers: [this.registry] });
  private readonly commitLag = new Gauge({ name: 'orchestra_commit_lag_seconds', help: 'Age of the oldest record not yet committed to the workspace git (NaN while another process holds the committer lock).', registers: [this.registry] });
  private readonly spendToday = new Gauge({ name: 'orchestra_spend_today_usd', help: 'Model cost recorded today (UTC).', registers: [this.registry] });
  private readonly upAge = new Gauge({ name: 'orchestra_up_heartbeat_age_seconds', help: 'Seconds since each orchestra up process last touched its presence file.', labelNames: ['host', 'pid'], registers: [this.registry] });
  private readonly alerts = new Gauge({ name: 'orchestra_alerts_active', help: 'Open alert incidents by rule.', labelNames: ['rule'], registers: [this.registry] });

  /** One finished step (the health monitor's `onStep`). */
  observeStep(step: string, seconds: number): void {
    this.steps.observe({ step }, seconds);
  }

  /** Sets every value from the snapshot (called at each scrape). */
  update(s: HealthSnapshot): void {
    this.tasks.reset();
    for (const q of s.queue) this.tasks.set({ workstream: q.workstream, state: q.state }, q.count);
    this.settled.set(s.tasks.settled);
    this.oldestWaiting.set(s.oldestWaiting?.ageSeconds ?? 0);
    const c = s.sinceStart;
    this.tokens.reset();
    this.usd.reset();
    for (const u of c?.usage ?? []) {
      this.tokens.inc({ provider: u.provider, model: u.model, direction: 'input' }, u.inputTokens);
      this.tokens.inc({ provider: u.provider, model: u.model, direction: 'output' }, u.outputTokens);
      this.usd.inc({ provider: u.provider, model: u.model }, u.costUsd);
    }
    this.testRuns.reset();
    for (const [result, n] of Object.entries(c?.testRuns ?? {})) this.testRuns.inc({ result }, n);
    this.refusals.reset();
    for (const [reason, n] of Object.entries(c?.refusalsByReason ?? {})) this.refusals.inc({ reason }, n);
    this.takeovers.reset();
    this.takeovers.inc(c?.leaseTakeovers ?? 0);
    this.secretReads.reset();
    this.secretReads.inc(c?.secretReads ?? 0);
    this.commitLag.set(s.commitLagSeconds ?? Number.NaN);
    this.spendToday.set(s.spend.todayUsd);
    this.upAge.reset();
    for (const up of s.ups) this.upAge.set({ host: up.host, pid: String(up.pid) }, Math.max(0, up.ageSeconds));
    this.alerts.reset();
    for (const a of s.alerts) this.alerts.inc({ rule: a.rule });
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
