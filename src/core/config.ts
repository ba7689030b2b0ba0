import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { OrchestraError } from './errors.js';
import { writeAtomic } from './fsutil.js';
import { ContextConfigSchema } from './context/config.js';
import { RateLimitsSchema } from './rate-limits.js';
import { SecurityConfigSchema } from './security-config.js';
import { MonitoringConfigSchema } from './monitoring-config.js';
import { ForgeConfigSchema } from './forge-config.js';
import { SyncConfigSchema } from './sync-config.js';

// The model settings (provider kinds, roles, fallback chains, prices) live in model-config.ts.
export { DEFAULT_MAX_OUTPUT_TOKENS, ModelRoleConfigSchema, PriceSchema, ProviderKindSchema, type ModelRoleConfig } from './model-config.js';
import { ModelRoleConfigSchema, PriceSchema } from './model-config.js';

export const RepoSettingsSchema = z.object({
  path: z.string().min(1),
  /** Shell command that installs the repository's dependencies before the first test run. */
  setup: z.string().min(1).optional(),
});

/** Fail-closed budgets of one execution run; a task's `limits` field overrides any of them. */
export const LimitsSchema = z.object({
  maxTurns: z.number().int().positive().default(40),
  maxTestRuns: z.number().int().positive().default(15),
  maxInputTokens: z.number().int().positive().default(2_000_000),
  maxOutputTokens: z.number().int().positive().default(200_000),
  maxCostUsd: z.number().positive().default(5),
  maxWallClockSeconds: z.number().positive().default(1800),
  plannerMaxTurns: z.number().int().positive().default(25),
});
export type Limits = z.infer<typeof LimitsSchema>;

export const ConfigSchema = z.object({
  version: z.literal(1).default(1),
  /** Workstream a new task goes to when it names none. */
  defaultWorkstream: z.string().default('dev'),
  loops: z
    .object({
      /** How often each loop re-scans the workspace; watcher events are only hints. */
      scanIntervalMs: z.number().int().min(50).default(2000),
      leaseTtlMs: z.number().int().min(200).default(60_000),
      /** An inbox file is taken once it has not changed for this long (still-growing files wait). */
      settleMs: z.number().int().min(0).default(150),
      concurrency: z.number().int().min(1).max(64).default(2),
      /** A step that throws this many times in a row on one task gives up: the task fails with the error. */
      maxStepFailures: z.number().int().min(1).max(100).default(3),
    })
    .prefault({}),
  git: z
    .object({
      commitIntervalMs: z.number().int().min(50).default(500),
      author: z.object({ name: z.string(), email: z.string() }).default({ name: 'Orchestra', email: 'orchestra@localhost' }),
    })
    .prefault({}),
  inbox: z.object({ maxBytes: z.number().int().positive().default(1024 * 1024) }).prefault({}),
  /** Durability of record writes: fsync each record file before it becomes visible. */
  fsync: z.boolean().default(true),
  /**
   * Size caps of what the store keeps. A record over `maxRecordBytes` is refused at append and
   * skipped (unread) by readers; an artifact over `maxArtifactBytes` is refused while streaming.
   */
  storage: z
    .object({
      maxRecordBytes: z.number().int().min(4096).default(1024 * 1024),
      maxArtifactBytes: z.number().int().positive().default(50 * 1024 * 1024),
    })
    .prefault({}),
  /**
   * Names for repositories: `{"myapp": "/home/me/code/myapp"}`, or with settings
   * `{"myapp": {"path": "...", "setup": "make deps"}}` (`setup` replaces the detected install step).
   */
  repos: z.record(z.string(), z.union([z.string(), RepoSettingsSchema])).default({}),
  /** Push target override; by default the target repo's origin. */
  remote: z.string().optional(),
  protectedBranches: z.array(z.string()).default([]),
  testCommand: z.string().optional(),
  planner: ModelRoleConfigSchema.prefault({ provider: 'anthropic', model: 'claude-sonnet-5-5' }),
  executor: ModelRoleConfigSchema.prefault({ provider: 'gemini', model: 'gemini-3-flash' }),
  limits: LimitsSchema.prefault({}),
  prices: z.record(z.string(), PriceSchema).default({}),
  sandbox: z
    .object({
      testTimeoutSeconds: z.number().positive().default(600),
      /** Time limit of the dependency install step (it runs with network, once per lockfile). */
      setupTimeoutSeconds: z.number().positive().default(900),
      network: z.enum(['off', 'on']).default('off'),
      cpuSeconds: z.number().int().positive().optional(),
      memoryMb: z.number().int().positive().optional(),
      processes: z.number().int().positive().optional(),
      fileSizeMb: z.number().int().positive().optional(),
      maxOutputBytes: z.number().int().positive().default(64 * 1024),
      /**
       * 'bwrap' (default): test and trigger commands run only under bubblewrap (own PID, IPC, UTS
       * and, with network off, network namespaces; a minimal read-only filesystem view; an
       * unprivileged uid when Orchestra runs as root); without a usable bwrap they are refused
       * with SANDBOX_UNAVAILABLE. 'unconfined' runs them without any isolation: UNSAFE, only for
       * repositories and triggers you trust completely; every run record says so.
       */
      isolation: z.enum(['bwrap', 'unconfined', 'none']).default('bwrap').transform((v) => (v === 'none' ? 'unconfined' : v)),
      /** Extra absolute paths the sandboxed command may read (e.g. a toolchain outside /usr, /opt). */
      readPaths: z.array(z.string().refine((p) => p.startsWith('/'), 'must be an absolute path')).default([]),
      /**
       * Variables (names or `*` globs) a sandboxed command may see besides PATH, LANG, LC_*, TERM,
       * TZ, CI and the like; a secret-looking name is never passed (e.g. ["NODE_ENV", "JAVA_HOME"]).
       */
      passEnv: z.array(z.string().regex(/^[A-Za-z_*][A-Za-z0-9_*]*$/)).default([]),
      /** The bwrap to use (absolute path); default: `bwrap` found on PATH or in /usr/bin. */
      bwrapPath: z.string().refine((p) => p.startsWith('/'), 'must be an absolute path').optional(),
    })
    .prefault({}),
  /** Security profiles (what each step and agent may do) and trusted actors: security-config.ts. */
  security: SecurityConfigSchema,
  telegram: z
    .object({
      enabled: z.boolean().default(false),
      allowedUsers: z.array(z.union([z.string(), z.number()]).transform(String)).default([]),
      apiRoot: z.string().optional(),
    })
    .prefault({}),
  web: z
    .object({
      enabled: z.boolean().default(false),
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8377),
      token: z.string().optional(),
    })
    .prefault({}),
  context: ContextConfigSchema,
  /** Per-actor submission limits (see rate-limits.ts). */
  rateLimits: RateLimitsSchema.prefault({}),
  monitoring: MonitoringConfigSchema.prefault({}),
  forge: ForgeConfigSchema.prefault({}),
  /** Several machines through a git remote (sync-config.ts, spec §20). */
  sync: SyncConfigSchema,
});
export type Config = z.infer<typeof ConfigSchema>;

export function parseConfig(raw: unknown, source = 'orchestra.json'): Config {
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OrchestraError('INVALID_INPUT', `${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch {
    throw new OrchestraError('NOT_FOUND', `no workspace config at ${path}: run "orchestra init" first`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new OrchestraError('INVALID_JSON', `${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseConfig(raw, path);
}

export async function writeDefaultConfig(path: string): Promise<void> {
  const defaults = ConfigSchema.parse({});
  await writeAtomic(path, JSON.stringify(defaults, null, 2) + '\n');
}

/** Repository names to paths or URLs (what resolveRepo takes). */
export function repoPaths(config: Pick<Config, 'repos'>): Record<string, string> {
  return Object.fromEntries(Object.entries(config.repos).map(([name, value]) => [name, typeof value === 'string' ? value : value.path]));
}

/** The configured setup command of a repository named in config `repos`, if any. */
export function repoSetup(config: Pick<Config, 'repos'>, spec: string): string | undefined {
  const value = config.repos[spec.trim()];
  return value && typeof value !== 'string' ? value.setup : undefined;
}
