import assert from 'node:assert/strict';
/**
 * The dev pipeline under test: the demo's sample repo (failing test, bare remote), a workspace
 * with short loop timings, scripted or fake-server models, loops run in this process, and
 * helpers to drop tasks, wait for states and read a task's records.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeSampleRepo } from '../../src/app/demo.js';
import { initWorkspace } from '../../src/app/setup.js';
import { runUp } from '../../src/app/up.js';
import { createLogger } from '../../src/core/log.js';
import type { TaskView } from '../../src/core/model/task.js';
import { Workspace } from '../../src/core/workspace.js';
import { eventsOf } from './core-workspace.js';
import { reapUnder } from './reaper.js';
import { scaled } from './timeouts.js';

process.env.ORCHESTRA_LOG = 'silent';

export { eventsOf, procsWith, walk, waitFor } from './core-workspace.js';
import { runJson } from './cli-run.js';

type Cleanup = { after: (fn: () => void | Promise<void>) => void };

/** A planner that looks around and proposes a plan (the scripted provider: reply = turn index). */
export const PLANNER_REPLIES = [
  { toolCalls: [{ name: 'list_files', args: {} }] },
  { toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] },
  { toolCalls: [{ name: 'submit_plan', args: { summary: 'add() subtracts; make it add.', steps: ['Change `a - b` to `a + b` in src/math.js', 'Run the tests'], criteria: ['node --test passes'], risks: [] } }] },
];

/**
 * The edit that fixes add(). Same size as the old line on purpose, made milliseconds after the
 * checkout: the case where a diff trusting a copied stat cache saw no change.
 */
export const FIX_CALL = { name: 'replace_in_file', args: { path: 'src/math.js', old_text: 'return a - b;', new_text: 'return a + b;' } };

/** An executor that runs the tests, fixes add() and finishes. */
export const FIXER_REPLIES = [
  { toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] },
  { toolCalls: [{ name: 'run_tests', args: {} }] },
  { toolCalls: [FIX_CALL] },
  { toolCalls: [{ name: 'run_tests', args: {} }] },
  { toolCalls: [{ name: 'finish', args: { summary: 'add() adds' } }] },
];

/**
 * The sample repo's tests. `node --test` run by a process that is itself under `node --test`
 * inherits NODE_TEST_CONTEXT and then skips every file, so the variable is dropped first.
 */
export const TEST_CMD = 'env -u NODE_TEST_CONTEXT node --test';

export const scripted = (file: string, model = 'claude-sonnet-4-6') => ({ provider: 'scripted', model, scriptFile: file });

export interface Pipeline {
  dir: string;
  repo: string;
  remote: string;
  root: string;
  ws: Workspace;
  /** Runs `fn` at cleanup, before the temp dir goes (last registered runs first). */
  defer(fn: () => unknown): void;
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = b && v && typeof b === 'object' && typeof v === 'object' && !Array.isArray(v) ? merge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/**
 * Sample repo + bare remote + workspace. `scripts` are written under the workspace as
 * `<name>.json` (`{replies}`) for scripted roles; `config` is merged over the fast defaults.
 */
export async function makePipeline(t: Cleanup, opts: { config?: Record<string, unknown>; scripts?: Record<string, unknown[]>; repoSetup?: (repo: string, dir: string) => void } = {}): Promise<Pipeline> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'orchestra-pipe-')));
  const cleanups: Array<() => unknown> = [
    () => process.env.PIPELINE_KEEP_DIRS || rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }),
    // Processes still working in it (a background `up` of a failed test) die first.
    () => reapUnder(dir),
  ];
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  const { repo, remote } = await makeSampleRepo(dir);
  opts.repoSetup?.(repo, dir);
  const root = join(dir, 'ws');
  mkdirSync(root, { recursive: true });
  for (const [name, replies] of Object.entries(opts.scripts ?? {})) writeFileSync(join(root, `${name}.json`), JSON.stringify({ replies }));
  const config = merge({
    defaultWorkstream: 'dev',
    loops: { scanIntervalMs: 200, leaseTtlMs: 1500, settleMs: 20 },
    git: { commitIntervalMs: 200 },
    fsync: false,
    // The tests' unsealed inbox files stand for the operator; test/security-allowlist.int.test.ts
    // checks the default, where an inbox writer is held to the profiles' allow-lists.
    security: { trustedActors: ['cli', 'inbox'] },
    repos: { sample: repo },
    testCommand: TEST_CMD,
    planner: scripted('planner.json'),
    executor: scripted('executor.json', 'gemini-3-flash'),
  }, opts.config ?? {});
  writeFileSync(join(root, 'orchestra.json'), JSON.stringify(config, null, 2));
  await initWorkspace(root);
  const ws = await Workspace.open(root);
  return { dir, repo, remote, root, ws, defer: (fn) => cleanups.push(fn) };
}

export const ALL_LOOPS = ['intake', 'planner', 'executor', 'publisher'];

/** Runs loops in this process until `stop()` (or cleanup). */
export async function startLoops(p: Pipeline, only = ALL_LOOPS): Promise<{ stop: () => Promise<void> }> {
  const up = await runUp(p.ws, { only, log: createLogger('test', () => undefined) });
  p.defer(() => up.stop());
  return up;
}

/** Drops a Markdown task file into the inbox and returns the id intake gave it. */
export async function dropTask(p: Pipeline, name: string, front: Record<string, unknown> = {}, body = 'add(2, 3) should be 5.'): Promise<string> {
  const fields = { title: 'Fix add() so the tests pass', repo: 'sample', ...front };
  const yaml = Object.entries(fields).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n');
  const file = join(p.root, 'inbox', `${name}.md`);
  writeFileSync(`${file}.tmp`, `---\n${yaml}\n---\n${body}\n`);
  execFileSync('mv', [`${file}.tmp`, file]);
  const until = Date.now() + scaled(15_000);
  for (;;) {
    for (const task of await p.ws.tasks()) if (task.createdBy.includes(`${name}.md`)) return task.id;
    if (Date.now() > until) throw new Error(`inbox file ${name}.md was not taken`);
    await sleep(50);
  }
}

/** Drops a JSON command (approve, feedback, ...) into the inbox. */
export function dropCommand(p: Pipeline, name: string, command: Record<string, unknown>): void {
  const file = join(p.root, 'inbox', `${name}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(command));
  execFileSync('mv', [`${file}.tmp`, file]);
}

export async function waitState(p: Pipeline, id: string, states: string[], wait = 30_000): Promise<TaskView> {
  const ms = scaled(wait);
  const until = Date.now() + ms;
  for (;;) {
    const view = await p.ws.findTask(id);
    if (view && states.includes(view.state)) return view;
    if (Date.now() > until) throw new Error(`task ${id} did not reach ${states.join('/')} in ${ms} ms (now ${view?.state}: ${view?.dev.failure?.reason ?? ''})`);
    await sleep(50);
  }
}

export const taskEvents = (p: Pipeline, id: string) => eventsOf(p.root, `tasks/${id}`);
export const eventsOfType = (p: Pipeline, id: string, type: string) => taskEvents(p, id).filter((e) => e.type === type);

/** Runs git and returns trimmed stdout. */
export const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** Commits on task/<id> in the bare remote that are not on the base branch. */
export const taskCommits = (p: Pipeline, id: string, base = 'development') => git(p.remote, 'log', '--format=%H', `${base}..task/${id}`).split('\n').filter(Boolean);

/** Reply `turns[n]` where n = the model turns already in the request (the last one repeats). */
export function byTurn<T>(turns: T[], modelRole: 'assistant' | 'model' = 'assistant') {
  return (body: Record<string, any>): T => {
    const n = ((body.messages ?? body.contents ?? []) as Array<{ role: string }>).filter((m) => m.role === modelRole).length;
    return turns[Math.min(n, turns.length - 1)]!;
  };
}

/** Every file under `dir` that contains `needle` (binary-safe). */
export function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  // Loops may still be removing a worktree while this walks: entries that vanish are skipped.
  const gone = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';
  const visit = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (err) {
      if (gone(err)) return;
      throw err;
    }
    for (const e of entries) {
      const full = join(d, e.name);
      if (e.isDirectory()) visit(full);
      else if (e.isFile()) {
        try {
          if (readFileSync(full).includes(needle)) hits.push(full);
        } catch (err) {
          if (!gone(err)) throw err;
        }
      }
    }
  };
  visit(dir);
  return hits;
}

/** Commits `.orchestra/setup.sh` with `script` to the sample repo's main and development, pushed to its origin. */
export function commitSetupScript(repo: string, script: string): void {
  mkdirSync(join(repo, '.orchestra'), { recursive: true });
  writeFileSync(join(repo, '.orchestra', 'setup.sh'), script);
  for (const args of [['add', '-A'], ['commit', '-q', '-m', 'setup script'], ['push', '-q', 'origin', 'main'], ['branch', '-f', 'development'], ['push', '-q', '-f', 'origin', 'development']]) {
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo, stdio: 'pipe' });
  }
}

/**
 * The usual walk of a dev task: wait for its plan, approve it through the CLI (which must
 * succeed), then wait until the task reaches one of `states`.
 */
export async function approveAndWait(p: Pipeline, id: string, states: string[], wait?: number): Promise<TaskView> {
  await waitState(p, id, ['planned']);
  const approved = await runJson(p.root, ['approve', id]);
  assert.equal(approved.code, 0, approved.stdout);
  return waitState(p, id, states, wait);
}
