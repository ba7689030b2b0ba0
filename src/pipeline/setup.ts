import { createHash } from 'node:crypto';
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkCommand } from '../core/command-allow.js';
import { repoSetup, type Config } from '../core/config.js';
import { isTrustedActor, resolveProfile } from '../core/security-profiles.js';
import type { TaskView } from '../core/model/task.js';

/**
 * What installs a repository's dependencies before its tests can run: the setup step of an
 * execution. Chosen, first match wins, from:
 * 1. the task's `setup` field, when a trusted actor made the task (config `security.trustedActors`,
 *    default the CLI) or the command is on the `setup` profile's allow-list (a chat or inbox
 *    writer cannot choose freely what runs with network);
 * 2. config `repos.<name>.setup`;
 * 3. a committed `.orchestra/setup.sh` in the repository;
 * 4. the lockfile at the repository root (package-lock.json -> npm ci, pnpm-lock.yaml, yarn.lock,
 *    uv.lock, poetry.lock, requirements.txt, go.mod, Cargo.lock). Without a lockfile nothing is
 *    installed: an unpinned install would change with the registry between runs (and write a
 *    lockfile into the task's changes).
 * Pure apart from reading the worktree's root files. A plan with `installs` names the directory
 * the install fills (node_modules, .venv): that tree is what the dependency cache keeps.
 */
export interface SetupPlan {
  command: string;
  source: 'task' | 'config' | 'repository' | 'detected';
  /** The lockfile whose bytes key the cache (detected plans only). */
  lockfile?: string;
  /** Directory (relative to the worktree) the install creates: cached and restored whole. */
  installs?: string;
}

interface Detector { lockfile: string; command: string; installs?: string }

/** Root files, in order of preference, and what each installs. Offline-friendly flags throughout. */
const DETECTORS: Detector[] = [
  { lockfile: 'package-lock.json', command: 'npm ci --no-audit --no-fund --loglevel=error', installs: 'node_modules' },
  { lockfile: 'npm-shrinkwrap.json', command: 'npm ci --no-audit --no-fund --loglevel=error', installs: 'node_modules' },
  { lockfile: 'pnpm-lock.yaml', command: 'pnpm install --frozen-lockfile', installs: 'node_modules' },
  { lockfile: 'yarn.lock', command: 'yarn install --frozen-lockfile --non-interactive', installs: 'node_modules' },
  { lockfile: 'uv.lock', command: 'uv sync --frozen', installs: '.venv' },
  { lockfile: 'poetry.lock', command: 'poetry config virtualenvs.in-project true --local && poetry install --no-interaction --no-root', installs: '.venv' },
  { lockfile: 'requirements.txt', command: 'python3 -m venv .venv && .venv/bin/pip install --disable-pip-version-check -q -r requirements.txt', installs: '.venv' },
  { lockfile: 'go.mod', command: 'go mod download' },
  { lockfile: 'Cargo.lock', command: 'cargo fetch --locked' },
];

export const REPO_SETUP_FILE = '.orchestra/setup.sh';

/** Whether a regular file (not a link) exists at `path`. */
function regularFile(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}

/** The setup step from the worktree's root files only (also used for the planner's context). */
export function detectSetup(rootNames: readonly string[], hasRepoSetupFile = false): SetupPlan | undefined {
  if (hasRepoSetupFile) return { command: `sh ${REPO_SETUP_FILE}`, source: 'repository' };
  for (const d of DETECTORS) {
    if (rootNames.includes(d.lockfile)) return { command: d.command, source: 'detected', lockfile: d.lockfile, ...(d.installs ? { installs: d.installs } : {}) };
  }
  return undefined;
}

type SetupConfig = Pick<Config, 'repos' | 'security' | 'sandbox'>;

/** True when the task's own `setup` command may be run: made by a trusted actor, or allowed by the setup profile. */
export function trustsTaskSetup(task: TaskView, config: SetupConfig, command: string): boolean {
  return isTrustedActor(config, task.createdBy) || checkCommand(command, resolveProfile(config, 'setup').commands).allowed;
}

/** The setup step of a task's execution in `worktree` (see the order above), or undefined: none needed. */
export function planSetup(task: TaskView, config: SetupConfig, worktree: string): SetupPlan | undefined {
  const names = DETECTORS.map((d) => d.lockfile).filter((n) => regularFile(join(worktree, n)));
  return planSetupFromNames(task, config, names, regularFile(join(worktree, REPO_SETUP_FILE)));
}

/** The same choice as planSetup from the names at the repository's root (the planner's view of a commit). */
export function planSetupFromNames(task: TaskView, config: SetupConfig, rootNames: readonly string[], hasRepoSetupFile: boolean): SetupPlan | undefined {
  const own = task.fields.setup;
  if (typeof own === 'string' && own.trim() && trustsTaskSetup(task, config, own.trim())) return { command: own.trim(), source: 'task' };
  const configured = typeof task.fields.repo === 'string' ? repoSetup(config, task.fields.repo) : undefined;
  if (configured) return { command: configured, source: 'config' };
  return detectSetup(rootNames, hasRepoSetupFile);
}

/**
 * Key of the installed tree in the dependency cache: the repository, the command and the
 * lockfile's bytes. Undefined when nothing pins the result (no lockfile, or no tree to keep).
 */
export function cacheKey(plan: SetupPlan, repoSource: string, worktree: string): string | undefined {
  if (!plan.lockfile || !plan.installs) return undefined;
  const path = join(worktree, plan.lockfile);
  if (!regularFile(path)) return undefined;
  return createHash('sha256').update(repoSource).update('\0').update(plan.command).update('\0').update(readFileSync(path)).digest('hex').slice(0, 32);
}
