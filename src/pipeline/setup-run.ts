import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loopActor } from '../core/actor.js';
import { repoScopeName } from '../core/context/entry.js';
import { secretEnvFor } from '../core/context/secrets.js';
import type { Lease } from '../core/leases.js';
import { newId } from '../core/ids.js';
import type { TaskView } from '../core/model/task.js';
import type { Workspace } from '../core/workspace.js';
import { runSandboxed } from '../exec/sandbox.js';
import { profileSandboxOptions } from '../exec/profile-sandbox.js';
import { isTrustedActor, profileRef, resolveProfile, type Profile } from '../core/security-profiles.js';
import { devEvent } from './dev-events.js';
import { diffAgainstBase } from '../vcs/changes.js';
import { grantedSecretNames } from './granted-secrets.js';
import { cacheKey, planSetup, type SetupPlan } from './setup.js';

/**
 * Runs an execution's setup step once, before the executor's first model turn (see setup.ts for
 * what the step is). It runs in the sandbox like a test, but with network (it downloads) and its
 * own time limit; its output is a record file and `setup.ran` says how it went.
 *
 * Dependency cache: the tree a detected install fills (node_modules, .venv) is copied, after a
 * successful install and before any test runs, to `.orchestra/deps/<key>/`, keyed by repository,
 * command and lockfile bytes (setup.ts `cacheKey`). The next execution with the same key copies it
 * back (reflinks where the file system has them) instead of installing: no network, no install
 * scripts. Test code never writes the cached copy: it runs after the copy was taken, in its own.
 * Only an install from the files the task forked from is kept (no change since the fork commit):
 * a later round's or retry's files were written by a model, and the key covers the lockfile only.
 *
 * Package-manager caches and toolchain homes go to `.orchestra-cache/` inside the worktree, which
 * the mirror's exclude file keeps out of every commit (see vcs/repo-source.ts `sealMirror`).
 */
export interface SetupOutcome { profile: Profile; plan?: SetupPlan; passed: boolean; cached: boolean; exitCode: number | null; durationMs: number; output: string }

const run = promisify(execFile);
const TAIL_CHARS = 1500;

/** Where package managers keep their caches in a worktree, and the variables that say so. */
function toolEnv(worktree: string): Record<string, string> {
  const cache = join(worktree, '.orchestra-cache');
  return {
    npm_config_cache: join(cache, 'npm'),
    npm_config_update_notifier: 'false',
    PIP_CACHE_DIR: join(cache, 'pip'),
    UV_CACHE_DIR: join(cache, 'uv'),
    GOMODCACHE: join(cache, 'go', 'mod'),
    GOPATH: join(cache, 'go'),
    GOFLAGS: '-modcacherw',
    CARGO_HOME: join(cache, 'cargo'),
  };
}
/** The environment of a command in a worktree (setup or tests): the toolchain caches passed through. */
export function worktreeEnv(ws: Workspace, worktree: string): { env: NodeJS.ProcessEnv; passEnv: string[] } {
  const tools = toolEnv(worktree);
  return { env: { ...process.env, ...tools }, passEnv: [...ws.config.sandbox.passEnv, ...Object.keys(tools)] };
}

/** Copies a directory tree (reflinks where possible; links inside it kept as links). */
async function copyTree(from: string, to: string): Promise<void> {
  await run('cp', ['-R', '--reflink=auto', '--no-dereference', '--preserve=mode,timestamps,links', '--', from, to], { maxBuffer: 1024 * 1024 });
}

function cacheDir(ws: Workspace, key: string): string {
  return join(ws.paths.runtime, 'deps', key);
}

/** Restores the cached tree of `key` into the worktree; false when there is none. */
async function restore(ws: Workspace, key: string, installs: string, worktree: string): Promise<boolean> {
  const cached = join(cacheDir(ws, key), installs);
  if (!existsSync(cached)) return false;
  const target = join(worktree, installs);
  await rm(target, { recursive: true, force: true });
  await copyTree(cached, target);
  return true;
}

/** Keeps the freshly installed tree under `key` (whole or not at all: copied aside, then renamed). */
async function keep(ws: Workspace, key: string, installs: string, worktree: string): Promise<void> {
  const source = join(worktree, installs);
  const dir = cacheDir(ws, key);
  if (!existsSync(source) || existsSync(dir)) return;
  const temp = `${dir}.tmp-${newId()}`;
  await mkdir(temp, { recursive: true });
  try {
    await copyTree(source, join(temp, installs));
    await rename(temp, dir).catch(() => undefined); // another execution kept it first: fine
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

export async function runSetup(ws: Workspace, task: TaskView, repoSource: string, worktree: string, signal: AbortSignal, baseCommit?: string): Promise<SetupOutcome> {
  const plan = planSetup(task, ws.config, worktree);
  // The setup profile: network (on by default: it downloads), time and resource limits.
  const profile = resolveProfile(ws.config, 'setup');
  if (!plan) return { profile, passed: true, cached: false, exitCode: 0, durationMs: 0, output: 'no setup step: no lockfile or .orchestra/setup.sh at the repository root\n' };
  const key = cacheKey(plan, repoSource, worktree);
  const started = performance.now();
  if (key && plan.installs && (await restore(ws, key, plan.installs, worktree))) {
    return { profile, plan, passed: true, cached: true, exitCode: 0, durationMs: Math.round(performance.now() - started), output: `restored ${plan.installs} from the dependency cache (${key})\n` };
  }
  // Secrets the setup profile grants, opened only when the command really runs: audited, set in
  // its environment, masked in its output. Only for a repository the operator chose (a configured
  // name) or a task a trusted actor made: a chat user may name any repository, whose own
  // setup.sh or install scripts run here with network and would send the secrets anywhere.
  const names = await grantedSecretNames(ws, task);
  const cacheable = Boolean(key && plan.installs);
  // Compared before the command runs (an install adds files). Undefined: not needed, or no base.
  const changed = baseCommit !== undefined && (names.length > 0 || cacheable) ? await changedSince(worktree, baseCommit) : undefined;
  // A retry's execution reuses the worktree as the last one left it: a setup script, lockfile or
  // package manifest the model wrote there must not run with the secrets (and network).
  const pristine = names.length === 0 || changed !== true;
  const mayHave = pristine && secretsAllowedFor(ws, task);
  const granted = mayHave ? names : [];
  const secrets = granted.length
    ? await secretEnvFor(ws, granted, { actor: loopActor('executor'), purpose: 'setup', task: task.id, repo: repoScopeName(repoSource) })
    : undefined;
  const result = await runSandboxed({
    ...profileSandboxOptions(ws.config.sandbox, profile),
    ...(secrets ? { grantedEnv: secrets.env } : {}),
    command: plan.command,
    cwd: worktree,
    signal,
    hidePaths: [ws.paths.root],
    ...worktreeEnv(ws, worktree),
  });
  // The cache is shared by later executions and tasks: it is filled only by an install of the files
  // the task forked from. A later round or retry runs on model-written files (package.json scripts,
  // .npmrc, setup.sh) that the lockfile-based key does not cover.
  if (result.passed && key && plan.installs && changed === false) await keep(ws, key, plan.installs, worktree).catch(() => undefined);
  const why = !pristine ? 'the worktree holds changes since the base commit (an earlier execution\'s edits): setup runs from them' : 'the task was made by an untrusted actor on a repository that is not configured (config repos)';
  const note = names.length && !mayHave ? `# the secrets the setup profile grants (${names.join(', ')}) were not given: ${why}\n` : '';
  return { profile, plan, passed: result.passed, cached: false, exitCode: result.exitCode, durationMs: result.durationMs, output: note + result.output };
}

/** Whether the worktree differs from `baseCommit` (committed, staged, unstaged or untracked; a nested repository counts). */
async function changedSince(worktree: string, baseCommit: string): Promise<boolean> {
  try {
    return (await diffAgainstBase(worktree, baseCommit)).files.length > 0;
  } catch {
    return true;
  }
}

/**
 * Whether the setup step of `task` may get the secrets its profile grants: the task was made by a
 * trusted actor, or its repository is one config names (`repos`), not a path or URL its creator chose,
 * at its default base (no `base` branch its creator chose).
 */
export function secretsAllowedFor(ws: Workspace, task: TaskView): boolean {
  const repo = typeof task.fields.repo === 'string' ? task.fields.repo.trim() : '';
  // A chosen base branch is a chosen tree too (e.g. task/<id>, pushed with an earlier model's edits).
  const base = typeof task.fields.base === 'string' ? task.fields.base.trim() : '';
  return isTrustedActor(ws.config, task.createdBy) || (repo !== '' && base === '' && Object.hasOwn(ws.config.repos, repo));
}

/** Runs the setup step and records it; returns the outcome (the caller fails the task when it did not pass). */
export async function recordedSetup(ws: Workspace, lease: Lease, task: TaskView, exec: { number: number; worktree: string; baseCommit?: string }, repoSource: string, signal: AbortSignal): Promise<SetupOutcome & { file: string }> {
  // From round 2 the branch holds what earlier rounds' models wrote (committed and pushed): secrets
  // go only to a setup running from the files the task forked from, so the comparison is with round
  // 1's start, not this round's (a start that is not recorded is no commit: counted as changed).
  const forkedAt = task.dev.round > 1 ? (task.dev.rounds[0]?.startCommit ?? 'no-recorded-fork-commit') : exec.baseCommit;
  const outcome = await runSetup(ws, task, repoSource, exec.worktree, signal, forkedAt);
  const header = outcome.plan
    ? `$ ${outcome.plan.command}\n# ${outcome.cached ? 'restored from the dependency cache' : `exit ${outcome.exitCode}`}, ${outcome.durationMs} ms, setup from ${outcome.plan.source}${outcome.plan.lockfile ? ` (${outcome.plan.lockfile})` : ''}\n`
    : '';
  const file = await ws.writeTaskFile(task.id, `exec${exec.number}-setup.txt`, header + outcome.output, { onTaken: 'newName' });
  await lease.append([devEvent('setup.ran', {
    command: outcome.plan?.command ?? '', source: outcome.plan?.source ?? 'none', passed: outcome.passed, cached: outcome.cached,
    exitCode: outcome.exitCode, durationMs: outcome.durationMs, file, ...profileRef(outcome.profile),
  })]);
  return { ...outcome, file };
}

/** The end of the setup output, for a failure reason a person can act on. */
export function setupTail(outcome: SetupOutcome): string {
  const text = outcome.output.trim();
  return text.length > TAIL_CHARS ? `...${text.slice(-TAIL_CHARS)}` : text;
}
