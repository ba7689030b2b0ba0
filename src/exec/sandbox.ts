/**
 * Runs a repository's test command as safely as this machine allows: scrubbed environment, secrets
 * masked in the output, resource limits (prlimit), no network (network namespace / bwrap), writes
 * confined to the worktree (bwrap), bounded output, and the whole process tree killed at the
 * timeout or on abort. Each facility degrades to nothing where the OS lacks it; the result says
 * which were in force.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { OrchestraError } from '../core/errors.js';
import { scrubEnv, secretValues } from './env.js';
import {
  probeIsolation,
  wrapCommand,
  type IsolationCapabilities,
  type IsolationReport,
  type SandboxLimits,
} from './isolation.js';
import { DEFAULT_MAX_OUTPUT_BYTES, OutputCollector } from './output.js';
import { ProcessTree } from './process-tree.js';

export { scrubEnv, isSecretName, DEFAULT_ENV_DENY, SECRET_NAME_PATTERNS } from './env.js';
export { probeIsolation, DEFAULT_LIMITS } from './isolation.js';
export type { IsolationCapabilities, IsolationReport, SandboxLimits } from './isolation.js';

export interface SandboxRequest {
  /** A shell command line, run with /bin/sh -c. */
  command: string;
  cwd: string;
  timeoutMs: number;
  limits?: SandboxLimits;
  /** Default 'off'. */
  network?: 'off' | 'on';
  /** Default 64 KiB. */
  maxOutputBytes?: number;
  /** Base environment, default process.env; secrets are dropped from it. */
  env?: NodeJS.ProcessEnv;
  /** Extra secret values to mask in the output (only those of >= 6 chars). */
  redact?: string[];
  signal?: AbortSignal;
  /** Extra variable names (or `*` globs) to drop from the environment. */
  envDeny?: string[];
  /** Extra paths writable under bwrap (the cwd always is). */
  writablePaths?: string[];
  /** Time between SIGTERM and SIGKILL when stopping the tree, default 1000 ms. */
  killGraceMs?: number;
  /** Use these instead of probing the machine (tests, or to turn facilities off). */
  capabilities?: IsolationCapabilities;
}

export interface SandboxResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
  /** stdout+stderr interleaved as they came, capped (head + tail), secrets masked, trimmed. */
  output: string;
  truncated: boolean;
  passed: boolean;
  isolation: IsolationReport;
}

/** How long to wait for the output pipes to close once the command has exited. */
const PIPE_DRAIN_MS = 1000;
/** How often to note the tree's members (to catch escaped, later orphaned processes). */
const TRACK_INTERVAL_MS = 1000;

function isUnder(p: string, dirs: readonly string[]): boolean {
  const abs = path.resolve(p);
  return dirs.some((d) => abs === d || abs.startsWith(d.endsWith(path.sep) ? d : d + path.sep));
}

function validate(req: SandboxRequest): void {
  if (typeof req.command !== 'string' || req.command.trim() === '') {
    throw new OrchestraError('INVALID_INPUT', 'The command to run is empty.');
  }
  if (!Number.isFinite(req.timeoutMs) || req.timeoutMs <= 0) {
    throw new OrchestraError('INVALID_INPUT', `The timeout must be a positive number of ms (got ${req.timeoutMs}).`);
  }
  if (req.maxOutputBytes !== undefined && (!Number.isInteger(req.maxOutputBytes) || req.maxOutputBytes < 16)) {
    throw new OrchestraError('INVALID_INPUT', 'maxOutputBytes must be an integer of at least 16.');
  }
  for (const [name, value] of Object.entries(req.limits ?? {})) {
    if (value !== undefined && (!Number.isFinite(value) || value <= 0)) {
      throw new OrchestraError('INVALID_INPUT', `Limit ${name} must be a positive number (got ${value}).`);
    }
  }
  let isDir = false;
  try {
    isDir = statSync(req.cwd).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new OrchestraError('NOT_FOUND', `The directory to run in does not exist: ${req.cwd}`, { cwd: req.cwd });
}

export async function runSandboxed(req: SandboxRequest): Promise<SandboxResult> {
  validate(req);
  const cwd = path.resolve(req.cwd);
  const writablePaths = (req.writablePaths ?? []).map((p) => path.resolve(p));
  const caps = req.capabilities ?? (await probeIsolation());
  const wrapped = wrapCommand(
    { command: req.command, cwd, timeoutMs: req.timeoutMs, network: req.network ?? 'off', limits: req.limits ?? {}, writablePaths },
    caps,
  );
  const baseEnv = req.env ?? process.env;
  const scrubOptions = { deny: req.envDeny };
  const env = scrubEnv(baseEnv, scrubOptions);
  for (const [name, value] of Object.entries(wrapped.env)) {
    const own = env[name];
    if (own === undefined || !isUnder(own, [cwd, ...writablePaths])) env[name] = value;
  }
  const secrets = secretValues(baseEnv, req.redact ?? [], scrubOptions);
  const collector = new OutputCollector(req.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES);
  const started = performance.now();
  const finish = (exitCode: number | null, signal: string | null, timedOut: boolean, aborted: boolean): SandboxResult => ({
    exitCode,
    signal,
    timedOut,
    aborted,
    durationMs: Math.round(performance.now() - started),
    output: collector.render(secrets),
    truncated: collector.truncated,
    passed: exitCode === 0 && !timedOut && !aborted,
    isolation: wrapped.isolation,
  });
  if (req.signal?.aborted) return finish(null, null, false, true);

  const child = spawn(wrapped.file, wrapped.args, {
    cwd,
    env,
    detached: true, // own session + process group, so the whole tree can be signalled
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const onData = (chunk: Buffer) => collector.push(chunk);
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const failed = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(new OrchestraError('INTERNAL', `Could not start the command: ${err.message}`, { command: req.command })),
    ),
  );
  failed.catch(() => undefined); // observed via the races below
  if (child.pid === undefined) return await failed;

  const tree = new ProcessTree(child.pid);
  const tracker = setInterval(() => tree.scan(), TRACK_INTERVAL_MS);
  tracker.unref();
  let exitedYet = false;
  void exited.then(() => (exitedYet = true));

  let stop!: (why: 'timeout' | 'abort') => void;
  const stopRequested = new Promise<'timeout' | 'abort'>((resolve) => (stop = resolve));
  const timer = setTimeout(() => stop('timeout'), req.timeoutMs);
  const onAbort = () => stop('abort');
  req.signal?.addEventListener('abort', onAbort, { once: true });

  let timedOut = false;
  let aborted = false;
  try {
    const first = await Promise.race([exited.then(() => 'exited' as const), stopRequested, failed]);
    if (first !== 'exited') {
      if (first === 'timeout') timedOut = true;
      else aborted = true;
      tree.kill('SIGTERM');
      const deadline = performance.now() + (req.killGraceMs ?? 1000);
      while (performance.now() < deadline) {
        await sleep(Math.min(50, Math.max(1, deadline - performance.now())));
        if (exitedYet && tree.scan().length === 0) break;
      }
      tree.kill('SIGKILL');
    }
    const { code, signal } = await Promise.race([exited, failed]);
    tree.kill('SIGKILL'); // leftovers (background servers, daemons) die with the command
    await Promise.race([closed, sleep(PIPE_DRAIN_MS)]);
    child.stdout!.destroy();
    child.stderr!.destroy();
    return finish(code, signal, timedOut, aborted);
  } finally {
    clearTimeout(timer);
    clearInterval(tracker);
    req.signal?.removeEventListener('abort', onAbort);
  }
}
