/**
 * Runs one program to its end and hands back its exit and its whole output: the one way a short
 * command (git, in a target repository or the workspace) is run. A long-running process routes
 * these runs through the spawn server (exec/spawner.ts calls useRunner); the server itself runs
 * them with runDirect. Core depends on nothing: the server is handed in, never imported.
 *
 * Preconditions: `file` is run directly (never through a shell) with exactly `env` (nothing
 * inherited). Invariants: the call always resolves (a program that cannot start is `error`); a
 * program still running after `timeoutMs` gets SIGTERM, then SIGKILL KILL_GRACE_MS later; output
 * past `maxBuffer` bytes (stdout and stderr together) stops the program (SIGKILL) and sets
 * `overflow`; `input` is written to stdin and stdin closed (a program that exits without reading
 * it is not an error).
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface RunRequest {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  input?: Buffer;
  timeoutMs: number;
  maxBuffer: number;
}

export interface RunResult {
  /** null when the program was stopped by a signal or never started. */
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
  overflow: boolean;
  /** Why the program could not be started (ENOENT, EACCES, a missing cwd). */
  error?: string;
}

const KILL_GRACE_MS = 5_000;

/** Programs started by runDirect and not yet ended (the spawn server kills them when its caller goes). */
const running = new Set<ChildProcess>();

/**
 * `signal` to every program runDirect started that has not ended. SIGTERM lets git remove its
 * lock files (`index.lock`, a ref's `.lock`) on the way out; a SIGKILL would leave them behind.
 */
export function killAllRunning(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const child of running) child.kill(signal);
}

let killOnExit = false;

export function runDirect(req: RunRequest): Promise<RunResult> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    let overflow = false;
    let error: string | undefined;
    let settled = false;
    let child;
    try {
      child = spawn(req.file, req.args, { cwd: req.cwd, env: req.env, stdio: [req.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ exitCode: null, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), timedOut: false, overflow: false, error: (e as Error).message });
      return;
    }
    running.add(child);
    if (!killOnExit) {
      killOnExit = true;
      // As execa's cleanup did: a process that exits (not killed) takes its running programs along.
      process.on('exit', () => killAllRunning('SIGTERM'));
    }
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > req.maxBuffer) {
        if (!overflow) child.kill('SIGKILL');
        overflow = true;
        return;
      }
      into.push(chunk);
    };
    child.stdout!.on('data', collect(out));
    child.stderr!.on('data', collect(err));
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    }, req.timeoutMs);
    const finish = (exitCode: number | null, signal: string | null) => {
      if (settled) return;
      settled = true;
      running.delete(child);
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      resolve({ exitCode, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut, overflow, ...(error ? { error } : {}) });
    };
    child.on('error', (e) => {
      error = e.message;
      finish(null, null);
    });
    child.on('close', (code, signal) => finish(code, signal));
    if (req.input && child.stdin) {
      child.stdin.on('error', () => undefined); // EPIPE: the program exited without reading it all
      child.stdin.end(req.input);
    }
  });
}

/** Runs a request elsewhere (the spawn server) with runDirect's contract. */
export type Runner = (req: RunRequest) => Promise<RunResult>;

let runner: Runner | undefined;

/** Later runWhole calls go through `through` (undefined: run here again). */
export function useRunner(through: Runner | undefined): void {
  runner = through;
}

/** Runs `req` through the runner in use, else here. */
export function runWhole(req: RunRequest): Promise<RunResult> {
  return (runner ?? runDirect)(req);
}
