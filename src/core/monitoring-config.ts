import { z } from 'zod';

/**
 * Config section `monitoring`: the Prometheus endpoint, who the admins are, and the alert rules.
 * Defaults are safe: no metrics port (nothing listens) until one is set, and then only on
 * 127.0.0.1; every rule has a default and can be switched off with `enabled: false`.
 * The admin web token is not kept here: it comes from ORCHESTRA_WEB_ADMIN_TOKEN (config files
 * are committed to the workspace's history, tokens must not be).
 */
const minutes = z.number().positive().max(7 * 24 * 60);

export const AlertRulesSchema = z.object({
  /** Tasks moved to `failed` over tasks finished (failed or completed) in the window. */
  failureRate: z.object({
    enabled: z.boolean().default(true),
    windowMinutes: minutes.default(60),
    minFailures: z.number().int().min(1).default(3),
    ratio: z.number().min(0).max(1).default(0.5),
  }).prefault({}),
  /** An open task whose state has not changed for `minutes` (states in `monitoring.idleStates` wait for a person and are not watched). */
  stuckTask: z.object({
    enabled: z.boolean().default(true),
    minutes: minutes.default(60),
  }).prefault({}),
  /** Model spend in the last hour, in USD. */
  spendRate: z.object({
    enabled: z.boolean().default(true),
    usdPerHour: z.number().positive().default(10),
  }).prefault({}),
  /** Refusals (refused access, rejected inbox files, refused tool calls) per source in the window. */
  refusalBurst: z.object({
    enabled: z.boolean().default(true),
    windowMinutes: minutes.default(10),
    count: z.number().int().min(1).default(20),
  }).prefault({}),
  /** An `orchestra up` whose presence file is no longer touched (killed, hung, machine asleep). */
  heartbeatMissing: z.object({
    enabled: z.boolean().default(true),
  }).prefault({}),
});
export type AlertRules = z.infer<typeof AlertRulesSchema>;
export type AlertRuleName = keyof AlertRules;

export const MonitoringConfigSchema = z.object({
  /** false: `up` runs no health monitor, no alert evaluator and no metrics endpoint. */
  enabled: z.boolean().default(true),
  /** Port of the Prometheus endpoint (`GET /metrics`) served by `orchestra up`; absent: none; 0: a free port (logged). */
  metricsPort: z.number().int().min(0).max(65535).optional(),
  /** Interface of the endpoint; loopback by default (put a proxy in front to expose it). */
  metricsHost: z.string().default('127.0.0.1'),
  /** How often `up` evaluates the alert rules. */
  evaluateIntervalMs: z.number().int().min(50).max(3_600_000).default(30_000),
  /** States where a task waits for a person, not for the system: not "waiting", never "stuck". */
  idleStates: z.array(z.string()).default(['planned', 'failed', 'aborted']),
  /** Telegram user ids told about every alert and its resolution. */
  telegramAdmins: z.array(z.union([z.string(), z.number()]).transform(String)).default([]),
  alerts: AlertRulesSchema.prefault({}),
});
export type MonitoringConfig = z.infer<typeof MonitoringConfigSchema>;
