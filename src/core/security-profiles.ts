import { createHash } from 'node:crypto';
import { describeActor, type Actor } from './actor.js';
import { checkCommand, patternCovers } from './command-allow.js';
import type { Config } from './config.js';
import { OrchestraError } from './errors.js';
import { ProfileInputSchema, type ProfileInput } from './security-config.js';

/**
 * Security profiles: what one step (planner, executor, setup, tests, publisher, triggers) or one
 * agent may do, resolved from the built-in defaults below and config `security.profiles`, and
 * optionally narrowed by an agent's front matter. Every check that refuses names its rule as
 * `profile NAME: <what> not in <field>`, so a refusal can be traced to one line of config.
 *
 * Invariants: resolution is pure (config in, profile out) and total over valid config; a
 * profile's `hash` is the sha256 of its canonical JSON (sorted keys), so the same effective
 * profile always has the same hash and any change of what it grants changes it; narrowing never
 * widens: a front matter that would is refused with INVALID_INPUT naming the field.
 */
export interface Profile {
  name: string;
  /** The agent (or other source) that narrowed the named profile, if any. */
  narrowedBy?: string;
  tools: string[];
  commands: string[];
  network: 'off' | 'on';
  writablePaths: string[];
  limits: { timeoutSeconds: number; cpuSeconds?: number; memoryMb?: number; processes?: number; fileSizeMb?: number };
  budget: { maxTurns?: number; maxTestRuns?: number; maxInputTokens?: number; maxOutputTokens?: number; maxCostUsd?: number; maxWallClockSeconds?: number };
  context: string[];
  secrets: string[];
  hash: string;
}

/** The steps' own profile names; an agent without `profile:` in its front matter gets `agent`. */
export const STEP_PROFILES = ['planner', 'executor', 'setup', 'tests', 'publisher', 'triggers', 'agent'] as const;
export type StepProfile = (typeof STEP_PROFILES)[number];

const TRIGGER_TIMEOUT_SECONDS = 600;

/** What each built-in profile grants (limits left unset inherit config `sandbox`). */
/** The context store's model tools (knowledge only; pipeline/tools/context-tools.ts). */
const CONTEXT_TOOLS = ['context_list', 'context_read', 'context_write'];
const BUILT_IN: Record<StepProfile, ProfileInput> = {
  planner: { tools: ['list_files', 'read_file', 'search', 'submit_plan', ...CONTEXT_TOOLS], network: 'off', context: ['*'] },
  executor: { tools: ['list_files', 'read_file', 'search', 'write_file', 'replace_in_file', 'run_tests', 'finish', ...CONTEXT_TOOLS], network: 'off', writablePaths: ['**'], context: ['*'] },
  // Exact install commands only: an argument would let a chat user install any package with network.
  setup: {
    network: 'on',
    writablePaths: ['**'],
    commands: [
      'npm ci', 'npm ci --no-audit --no-fund --loglevel=error', 'pnpm install --frozen-lockfile', 'yarn install --frozen-lockfile',
      'yarn install --frozen-lockfile --non-interactive', 'uv sync --frozen', 'poetry install --no-interaction --no-root',
      'go mod download', 'cargo fetch --locked', 'bundle install --frozen',
    ],
  },
  tests: {
    writablePaths: ['**'],
    commands: [
      'npm test ...', 'npm run test ...', 'pnpm test ...', 'yarn test ...', 'node --test ...', 'npx vitest run ...', 'npx jest ...',
      'pytest ...', 'python -m pytest ...', 'python3 -m pytest ...', 'go test ...', 'cargo test ...', 'make test', 'make check',
    ],
  },
  publisher: { network: 'on' },
  triggers: { network: 'off', limits: { timeoutSeconds: TRIGGER_TIMEOUT_SECONDS } },
  agent: { tools: ['task_show', 'task_comment', 'task_move', 'artifact_put', 'artifact_get', ...CONTEXT_TOOLS], network: 'off', context: ['*'] },
};

type Settings = Pick<Config, 'sandbox'> & { security: Pick<Config['security'], 'profiles'> };

/** Every profile name config and the built-ins define. */
export function profileNames(config: Settings): string[] {
  return [...new Set([...STEP_PROFILES, ...Object.keys(config.security.profiles)])].sort();
}

const isBuiltIn = (name: string): name is StepProfile => (STEP_PROFILES as readonly string[]).includes(name);

/**
 * The effective profile `name`: the built-in's fields, with config's fields for that name put
 * over them (a new name starts from nothing granted), unset limits taken from config `sandbox`.
 */
export function resolveProfile(config: Settings, name: string): Profile {
  if (!isBuiltIn(name) && !Object.hasOwn(config.security.profiles, name)) {
    throw new OrchestraError('NOT_FOUND', `no security profile "${name}" (known: ${profileNames(config).join(', ')})`);
  }
  const base = isBuiltIn(name) ? BUILT_IN[name] : {};
  const own = Object.hasOwn(config.security.profiles, name) ? config.security.profiles[name]! : {};
  const s = config.sandbox;
  const timeoutSeconds = name === 'setup' ? s.setupTimeoutSeconds : name === 'triggers' ? TRIGGER_TIMEOUT_SECONDS : s.testTimeoutSeconds;
  const inherited = { timeoutSeconds, cpuSeconds: s.cpuSeconds, memoryMb: s.memoryMb, processes: s.processes, fileSizeMb: s.fileSizeMb };
  return seal({
    name,
    tools: own.tools ?? base.tools ?? [],
    commands: own.commands ?? base.commands ?? [],
    network: own.network ?? base.network ?? (name === 'tests' ? s.network : 'off'),
    writablePaths: own.writablePaths ?? base.writablePaths ?? [],
    limits: defined({ ...inherited, ...defined(base.limits ?? {}), ...defined(own.limits ?? {}) }) as Profile['limits'],
    budget: defined({ ...(base.budget ?? {}), ...(own.budget ?? {}) }),
    context: own.context ?? base.context ?? [],
    secrets: own.secrets ?? base.secrets ?? [],
  });
}

/**
 * The profile `name`, narrowed by `narrow` (an agent's front matter) when given. The one function
 * other work calls for what a step or agent may do, including the context keys and secrets it
 * may read (`context`, `secrets`).
 */
export function profileFor(config: Settings, name: string, narrowing?: { by: string; narrow: unknown }): Profile {
  const profile = resolveProfile(config, name);
  return narrowing ? narrowProfile(profile, narrowing.by, narrowing.narrow) : profile;
}

/**
 * `parent` with the fields of `narrow` in place of its own, each of which may only shrink: lists
 * a subset (a pattern only where a parent pattern covers it), network `off` only, limits and
 * budget at most the parent's. Anything else is INVALID_INPUT naming `by`, the profile and the rule.
 */
export function narrowProfile(parent: Profile, by: string, narrow: unknown): Profile {
  const parsed = ProfileInputSchema.safeParse(narrow ?? {});
  const where = `${by}: narrowing profile ${parent.name}`;
  if (!parsed.success) throw new OrchestraError('INVALID_INPUT', `${where}: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
  const n = parsed.data;
  const widen = (what: string) => new OrchestraError('INVALID_INPUT', `${where} would widen it: ${what} (a profile is widened only in config security.profiles)`);
  const subset = (field: 'tools' | 'commands' | 'writablePaths' | 'context' | 'secrets', covers: (p: string, c: string) => boolean) => {
    const wanted = n[field];
    if (!wanted) return parent[field];
    for (const item of wanted) if (!parent[field].some((p) => covers(p, item))) throw widen(`${singular[field]} "${item}" not in ${field}`);
    return [...new Set(wanted)];
  };
  const atMost = <K extends string>(field: 'limits' | 'budget', values: Partial<Record<K, number>> | undefined, current: Partial<Record<K, number>>) => {
    for (const [key, value] of Object.entries(values ?? {}) as [K, number | undefined][]) {
      const limit = current[key];
      if (value !== undefined && limit !== undefined && value > limit) throw widen(`${field}.${key} ${value} is above ${limit}`);
    }
    return { ...current, ...defined(values ?? {}) };
  };
  if (n.network === 'on' && parent.network !== 'on') throw widen('network "on" where the profile has "off"');
  const { hash: _hash, ...rest } = parent;
  return seal({
    ...rest,
    narrowedBy: by,
    tools: subset('tools', (p, c) => p === c),
    commands: subset('commands', patternCovers),
    writablePaths: subset('writablePaths', pathMatches),
    context: subset('context', keyMatches),
    secrets: subset('secrets', keyMatches),
    network: n.network ?? parent.network,
    limits: atMost('limits', n.limits, parent.limits) as Profile['limits'],
    budget: atMost('budget', n.budget, parent.budget),
  });
}

const singular = { tools: 'tool', commands: 'command', writablePaths: 'path', context: 'context key', secrets: 'secret' } as const;

/** The name and hash a run record carries. */
export function profileRef(profile: Profile): { profile: string; profileHash: string } {
  return { profile: profile.name, profileHash: profile.hash };
}

/** Why a call of `tool` is refused under `profile`, or undefined when the profile grants it. */
export function toolRefusal(profile: Profile, tool: string): string | undefined {
  return profile.tools.includes(tool) ? undefined : `${label(profile)}: tool "${tool}" not in tools`;
}

/** Why writing `relPath` (relative to the worktree) is refused under `profile`, or undefined. */
export function writeRefusal(profile: Profile, relPath: string): string | undefined {
  return profile.writablePaths.some((p) => pathMatches(p, relPath)) ? undefined : `${label(profile)}: path "${relPath}" not in writablePaths`;
}

/** The secrets among `names` the profile lets its holder read, and a refusal naming the rule for each other. */
export function grantedSecrets(profile: Profile, names: readonly string[]): { granted: string[]; refused: { name: string; reason: string }[] } {
  return grantOf(profile, 'secrets', names);
}

/** The context keys among `keys` the profile lets its holder read, and a refusal for each other. */
export function grantedContext(profile: Profile, keys: readonly string[]): { granted: string[]; refused: { name: string; reason: string }[] } {
  return grantOf(profile, 'context', keys);
}

/** Throws PROFILE_DENIED naming the rule unless the profile grants the secret (or context key). */
export function assertGranted(profile: Profile, field: 'secrets' | 'context', name: string): void {
  const { refused } = grantOf(profile, field, [name]);
  if (refused.length) throw new OrchestraError('PROFILE_DENIED', refused[0]!.reason);
}

function grantOf(profile: Profile, field: 'secrets' | 'context', names: readonly string[]) {
  const granted: string[] = [];
  const refused: { name: string; reason: string }[] = [];
  for (const name of names) {
    if (profile[field].some((p) => keyMatches(p, name))) granted.push(name);
    else refused.push({ name, reason: `${label(profile)}: ${singular[field]} "${name}" not in ${field}` });
  }
  return { granted, refused };
}

/**
 * Whether `actor` (a record's actor, or a task's `createdBy` text) is trusted by config
 * `security.trustedActors` to choose commands: an entry `kind`, `kind:name` or `kind:name:user`.
 */
export function isTrustedActor(config: Pick<Config, 'security'>, actor: Actor | string): boolean {
  const text = typeof actor === 'string' ? actor : describeActor(actor);
  return config.security.trustedActors.some((entry) => {
    if (!text.startsWith(entry)) return false;
    const next = text.charAt(entry.length);
    const full = entry.split(':').length === 3;
    return next === '' || next === '@' || (!full && next === ':');
  });
}

/** The task fields that name a command, and the profile whose allow-list holds them. */
export const TASK_COMMAND_FIELDS = { test: 'tests', setup: 'setup' } as const;

/**
 * Throws COMMAND_NOT_ALLOWED unless `command` (from `what`, e.g. "the task's test field") is on
 * the allow-list of `profile`; the message names the profile and the rule that refused.
 */
export function assertCommandAllowed(profile: Profile, what: string, command: string): void {
  const verdict = checkCommand(command, profile.commands);
  if (verdict.allowed) return;
  const shown = command.length > 200 ? `${command.slice(0, 200)}…` : command;
  throw new OrchestraError('COMMAND_NOT_ALLOWED', `${what} ${JSON.stringify(shown)} is not allowed: ${label(profile)}: ${verdict.reason}. Only a trusted actor (config security.trustedActors) may choose any command`, { profile: profile.name, profileHash: profile.hash });
}

/**
 * The intake check of a new task's command fields: an actor config does not trust may only name
 * a `test` or `setup` command its step's profile allows. Throws COMMAND_NOT_ALLOWED, or returns.
 */
export function checkTaskCommands(config: Settings & Pick<Config, 'security'>, fields: Record<string, unknown> | undefined, actor: Actor | string): void {
  if (!fields || isTrustedActor(config, actor)) return;
  for (const [field, profileName] of Object.entries(TASK_COMMAND_FIELDS)) {
    const value = fields[field];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new OrchestraError('INVALID_INPUT', `task field "${field}" must be a command line (text)`);
    assertCommandAllowed(resolveProfile(config, profileName), `the task's ${field} command`, value);
  }
}

const label = (profile: Profile) => `profile ${profile.narrowedBy ? `${profile.name} (narrowed by ${profile.narrowedBy})` : profile.name}`;

function keyMatches(pattern: string, name: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}
function pathMatches(pattern: string, path: string): boolean {
  if (pattern === '**') return true;
  if (pattern.endsWith('/**')) return path.startsWith(pattern.slice(0, -2));
  return path === pattern;
}

function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** The hash of everything the profile is (sorted keys, no undefined), added as `hash`. */
function seal(profile: Omit<Profile, 'hash'>): Profile {
  return { ...profile, hash: createHash('sha256').update(canonicalJson(profile)).digest('hex') };
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
