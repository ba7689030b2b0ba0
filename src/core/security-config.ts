import { z } from 'zod';
import { isCommandPattern } from './command-allow.js';

/**
 * Config section `security`: per-step and per-agent security profiles (`security.profiles`) and
 * the actors whose task commands are trusted (`security.trustedActors`). The one schema of what a
 * profile holds; resolution, narrowing and hashing are in security-profiles.ts.
 *
 * A profile grants, and grants nothing it does not list: the tools a step or agent may call, the
 * commands an untrusted actor may choose (command-allow.ts patterns), network, the paths the
 * model's file tools may write, sandbox limits, a token/USD budget, and the context keys and
 * secrets it may read. Unset limits and budget fields inherit config `sandbox` and `limits`.
 */
const name = z.string().min(1).max(100).regex(/^(?!__proto__$|constructor$|prototype$)[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - (not __proto__, constructor, prototype)');
/** A key or secret pattern: a name, or a prefix ending in `*` (`DEPLOY_*`); `*` alone is everything. */
const keyPattern = z.string().min(1).max(200).regex(/^[A-Za-z0-9_./:-]*\*?$/, 'a name, or a prefix ending in *');
/** A writable path pattern relative to the worktree: `**` (everything), `dir/**`, or one file. */
const pathPattern = z.string().min(1).max(500).refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !(p.endsWith('/**') ? p.slice(0, -3) : p === '**' ? '' : p).includes('*'), 'a relative path, `dir/**` or `**`');
const commandPattern = z.string().min(1).max(500).refine(isCommandPattern, 'plain words, optionally ending in "..." (no shell characters)');

export const ProfileLimitsSchema = z.object({
  timeoutSeconds: z.number().positive().optional(),
  cpuSeconds: z.number().int().positive().optional(),
  memoryMb: z.number().int().positive().optional(),
  processes: z.number().int().positive().optional(),
  fileSizeMb: z.number().int().positive().optional(),
}).strict();

export const ProfileBudgetSchema = z.object({
  maxTurns: z.number().int().positive().optional(),
  maxTestRuns: z.number().int().positive().optional(),
  maxInputTokens: z.number().int().positive().optional(),
  maxOutputTokens: z.number().int().positive().optional(),
  maxCostUsd: z.number().positive().optional(),
  maxWallClockSeconds: z.number().positive().optional(),
}).strict();

/** A profile as config or front matter writes it: every field optional. */
export const ProfileInputSchema = z.object({
  tools: z.array(name).max(100).optional(),
  commands: z.array(commandPattern).max(200).optional(),
  network: z.enum(['off', 'on']).optional(),
  writablePaths: z.array(pathPattern).max(100).optional(),
  limits: ProfileLimitsSchema.optional(),
  budget: ProfileBudgetSchema.optional(),
  context: z.array(keyPattern).max(100).optional(),
  secrets: z.array(keyPattern).max(100).optional(),
}).strict();
export type ProfileInput = z.infer<typeof ProfileInputSchema>;

/** Actor patterns: `kind`, `kind:name` or `kind:name:user` (e.g. `cli`, `adapter:telegram:12345`). */
const actorPattern = z.string().min(1).max(300).regex(/^(cli|loop|adapter|inbox|system|agent)(:[^:@#]+(:[^@#]+)?)?$/, 'kind, kind:name or kind:name:user');

export const SecurityConfigSchema = z.object({
  /**
   * Who may choose a command freely (a task's `test`/`setup`, a trigger's command); everyone
   * else is held to the step's profile allow-list. Default: the local CLI user, and `system`
   * (Orchestra's own writes; no adapter or inbox file can write as it).
   */
  trustedActors: z.array(actorPattern).default(['cli', 'system']),
  /** Profiles by name: a built-in name changes the fields given; a new name grants only what it lists. */
  profiles: z.record(name, ProfileInputSchema).default({}),
}).prefault({});
export type SecurityConfig = z.infer<typeof SecurityConfigSchema>;
