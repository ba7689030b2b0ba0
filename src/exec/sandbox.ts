/**
 * Runs a repository's (or a trigger's) command confined: under bubblewrap in its own PID, network
 * (when off), IPC and UTS namespaces with a minimal filesystem view (see bwrap-args.ts), as an
 * unprivileged uid when Orchestra is root, with a scrubbed environment, resource limits
 * (prlimit), secrets masked in the bounded output, and everything it started killed when it ends,
 * times out or is aborted.
 *
 * Invariants:
 * - Nothing runs unconfined unless the caller asked for `isolation: 'unconfined'`: without a
 *   usable bwrap this throws SANDBOX_UNAVAILABLE before any side effect.
 * - The result's `isolation` says what was in force.
 * - When runSandboxed returns, no process the command started is alive (the PID namespace dies
 *   with its pid 1; the process-tree scan is the second line, and the only one when unconfined).
 */
import { spawn } from 'node:child_process';
import { realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../core/config.js';
import { OrchestraError } from '../core/errors.js';
import { sandboxEnv, secretValues } from '../core/env-secrets.js';
import {
  probeIsolation,
  wrapCommand,
  type IsolationCapabilities,
  type IsolationMode,
  type IsolationReport,
  type SandboxLimits,
} from './isolation.js';
import { grantDirectory } from './sandbox-user.js';
import { knownSecrets, SecretScanner } from '../core/secret-scan.js';
import { DEFAULT_MAX_OUTPUT_BYTES, OutputCollector } from './output.js';
import { ProcessGroup, ProcessTree } from './process-tree.js';

export { scrubEnv } from '../core/env-secrets.js';
export { probeIsolation, DEFAULT_LIMITS, SANDBOX_HOME } from './isolation.js';
export type { IsolationCapabilities, IsolationMode, IsolationReport, SandboxLimits } from './isolation.js';

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
  /** Base environment, default process.env: the command sees only its allow-listed names (sandboxEnv). */
  env?: NodeJS.ProcessEnv;
  /** Names or `*` globs passed on top of the allow-list (config `sandbox.passEnv`). */
  passEnv?: string[];
  /** Extra secret values to mask in the output (only those of >= 6 chars). */
  redact?: string[];
  /**
   * Secrets granted to this command (context store, `secretEnvFor`): set in its environment past
   * the allow-list, and their values masked in its output like `redact`.
   */
  grantedEnv?: Record<string, string>;
  signal?: AbortSignal;
  /** Extra variable names (or `*` globs) to drop from the environment. */
  envDeny?: string[];
  /** Extra paths writable under bwrap (the cwd always is); they must be writable by the sandbox user. */
  writablePaths?: string[];
  /** Extra paths readable under bwrap (config `sandbox.readPaths`). */
  readPaths?: string[];
  /** Paths to keep invisible under bwrap on top of $HOME and the cwd's parent (e.g. the workspace). */
  hidePaths?: string[];
  /** 'bwrap' (default): refuse without bubblewrap. 'unconfined': run without isolation (unsafe). */
  isolation?: IsolationMode;
  /** Time between SIGTERM and SIGKILL when stopping the tree, default 1000 ms. */
  killGraceMs?: number;
  /** Use these instead of probing the machine (tests, or to turn facilities off). */
  capabilities?: IsolationCapabilities;
  /** The bwrap to probe and use instead of the one on PATH (config `sandbox.bwrapPath`). */
  bwrapPath?: string;
  /**
   * A further redaction of the rendered output, after the exact secret values are masked: the
   * place for a scanner of encoded secrets (reversed, base64, hex) to plug in.
   */
  redactOutput?: (text: string) => string;
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
  const cwd = realpathSync(req.cwd);
  const writablePaths = (req.writablePaths ?? []).map((p) => path.resolve(p));
  const baseEnv = req.env ?? process.env;
  const caps = req.capabilities ?? (await probeIsolation(req.bwrapPath));
  const wrapped = wrapCommand(
    {
      command: req.command,
      cwd,
      timeoutMs: req.timeoutMs,
      network: req.network ?? 'off',
      limits: req.limits ?? {},
      writablePaths,
      readPaths: (req.readPaths ?? []).map((p) => path.resolve(p)),
      hidePaths: [os.homedir(), ...(baseEnv.HOME ? [baseEnv.HOME] : []), path.dirname(cwd), ...(req.hidePaths ?? [])].map((p) => path.resolve(p)),
      mode: req.isolation ?? 'bwrap',
    },
    caps,
  );
  const scrubOptions = { deny: req.envDeny };
  const env = { ...sandboxEnv(baseEnv, req.passEnv), ...req.grantedEnv, ...wrapped.env };
  const redact = [...(req.redact ?? []), ...Object.values(req.grantedEnv ?? {})];
  const secrets = secretValues(baseEnv, redact, scrubOptions);
  // Exact values are masked by the collector; encoded copies (reversed, base64, hex) by the scanner.
  const scanner = new SecretScanner(knownSecrets(baseEnv, redact, scrubOptions));
  const redactOutput = req.redactOutput ?? ((text: string) => scanner.redact(text));
  const collector = new OutputCollector(req.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES);
  const started = performance.now();
  const finish = (exitCode: number | null, signal: string | null, timedOut: boolean, aborted: boolean): SandboxResult => ({
    exitCode,
    signal,
    timedOut,
    aborted,
    durationMs: Math.round(performance.now() - started),
    output: redactOutput(collector.render(secrets)),
    truncated: collector.truncated,
    passed: exitCode === 0 && !timedOut && !aborted,
    isolation: wrapped.isolation,
  });
  if (req.signal?.aborted) return finish(null, null, false, true);
  if (wrapped.user) grantDirectory(cwd, wrapped.user);

  const child = spawn(wrapped.file, wrapped.args, {
    cwd,
    env,
    detached: true, // own session + process group, so the whole tree can be signalled
    stdio: ['ignore', 'pipe', 'pipe', ...wrapped.fdData.map(() => 'pipe' as const)],
  });
  wrapped.fdData.forEach((data, i) => {
    const stream = child.stdio[3 + i] as NodeJS.WritableStream & { on(e: 'error', f: () => void): void };
    stream.on('error', () => undefined); // bwrap failed before reading: reported by its exit
    // Once sent, the data waits in the socket for bwrap; closing our end lets 'close' fire.
    stream.end(data, () => (stream as unknown as { destroy(): void }).destroy());
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

  // Under bwrap the PID namespace is the container: its processes die with bwrap (killed through
  // the process group) or with the command, so no /proc scan (O(host processes)) is needed.
  const inPidNamespace = wrapped.isolation.mode === 'bwrap';
  const tree = inPidNamespace ? new ProcessGroup(child.pid) : new ProcessTree(child.pid);
  const tracker = inPidNamespace ? undefined : setInterval(() => tree.scan(), TRACK_INTERVAL_MS);
  tracker?.unref();
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

/** The request fields that come from the config's `sandbox` section (timeout: the test timeout). */
export function sandboxOptions(
  c: Config['sandbox'],
): Pick<SandboxRequest, 'timeoutMs' | 'network' | 'maxOutputBytes' | 'limits' | 'isolation' | 'readPaths' | 'bwrapPath' | 'passEnv'> {
  return {
    timeoutMs: c.testTimeoutSeconds * 1000,
    network: c.network,
    maxOutputBytes: c.maxOutputBytes,
    limits: { cpuSeconds: c.cpuSeconds, memoryMb: c.memoryMb, processes: c.processes, fileSizeMb: c.fileSizeMb },
    isolation: c.isolation,
    readPaths: c.readPaths,
    passEnv: c.passEnv,
    ...(c.bwrapPath ? { bwrapPath: c.bwrapPath } : {}),
  };
}
