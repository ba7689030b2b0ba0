import { Worker } from 'node:worker_threads';

/**
 * Runs short child processes (git in target repositories) from a worker thread, so the event
 * loop does not stop while one starts.
 *
 * Why: starting a process blocks the calling thread until the child has exec'd (libuv waits for
 * it), and with two tasks in flight on two cores that wait was 3-5 ms a spawn, about ten spawns a
 * task: the largest single cost of the pipeline's main thread. A worker thread waits instead.
 * Only a long-running process turns this on (`enableOffThreadRuns`, by `up`): starting the worker
 * costs more than a one-shot command's few spawns.
 *
 * Contract: `runOffThread` resolves with what the process did (exit code or signal, its output
 * as UTF-8, whether it timed out or overflowed the output cap); it rejects only when the process
 * could not be started, or the worker died. The worker never keeps the process alive by itself:
 * it is referenced only while a run is pending. A dead worker fails its pending runs, and the
 * next run starts a new one.
 */
export interface OffThreadRun {
  file: string;
  args: string[];
  cwd: string;
  /** The whole environment of the child (nothing is inherited). */
  env: Record<string, string>;
  timeoutMs: number;
  /** Output cap per stream, bytes: past it the child is killed and the run marked `overflow`. */
  maxBuffer: number;
}

export interface OffThreadResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  overflow: boolean;
}

// The worker's code is a fixed string of ours (no file to find: the CLI also runs from a bundle).
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const KILL_GRACE_MS = 2000;
parentPort.on('message', (job) => {
  let done = false;
  const finish = (message) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    clearTimeout(forceKill);
    parentPort.postMessage({ id: job.id, ...message });
  };
  let timer, forceKill, child;
  try {
    child = spawn(job.file, job.args, { cwd: job.cwd, env: job.env, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    finish({ startError: String((err && err.message) || err) });
    return;
  }
  const streams = { stdout: [], stderr: [] };
  const sizes = { stdout: 0, stderr: 0 };
  let timedOut = false;
  let overflow = false;
  const stop = () => {
    child.kill('SIGTERM');
    forceKill = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  };
  for (const name of ['stdout', 'stderr']) {
    child[name].on('data', (chunk) => {
      if (overflow) return;
      sizes[name] += chunk.length;
      if (sizes[name] > job.maxBuffer) {
        overflow = true;
        stop();
        return;
      }
      streams[name].push(chunk);
    });
  }
  timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, job.timeoutMs);
  child.on('error', (err) => finish({ startError: String((err && err.message) || err) }));
  child.on('close', (code, signal) =>
    finish({
      exitCode: code,
      signal,
      stdout: Buffer.concat(streams.stdout).toString('utf8'),
      stderr: Buffer.concat(streams.stderr).toString('utf8'),
      timedOut,
      overflow,
    }),
  );
});
`;

interface Pending {
  owner: Worker;
  resolve: (r: OffThreadResult) => void;
  reject: (e: Error) => void;
}

let enabled = false;
let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, Pending>();

/** Turns off-thread runs on for this process (a long-running one: see the top of this file). */
export function enableOffThreadRuns(): void {
  enabled = true;
}

export function offThreadRunsEnabled(): boolean {
  return enabled;
}

/** Turns off-thread runs off and stops the worker (tests); pending runs fail. Left running otherwise: an idle worker is unreferenced. */
export async function stopOffThreadRuns(): Promise<void> {
  enabled = false;
  const w = worker;
  worker = undefined;
  if (w) await w.terminate();
}

export function runOffThread(job: OffThreadRun): Promise<OffThreadResult> {
  const w = ensureWorker();
  const id = nextId++;
  return new Promise<OffThreadResult>((resolve, reject) => {
    if (pendingOf(w) === 0) w.ref();
    pending.set(id, { owner: w, resolve, reject });
    w.postMessage({ id, ...job });
  });
}

function ensureWorker(): Worker {
  if (worker) return worker;
  // No inherited flags: the code is CommonJS even in a process run with --input-type=module.
  const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
  w.unref();
  w.on('message', (message: { id: number; startError?: string } & OffThreadResult) => {
    const p = pending.get(message.id);
    if (!p) return;
    settle(w, message.id);
    if (message.startError !== undefined) p.reject(new Error(message.startError));
    else p.resolve(message);
  });
  const failAll = (why: string) => {
    if (worker === w) worker = undefined;
    for (const [id, p] of pending) {
      if (p.owner !== w) continue;
      pending.delete(id);
      p.reject(new Error(why));
    }
  };
  w.on('error', (err) => failAll(`the process-runner thread failed: ${err.message}`));
  w.on('exit', (code) => failAll(`the process-runner thread exited (${code})`));
  worker = w;
  return w;
}

function settle(w: Worker, id: number): void {
  pending.delete(id);
  if (pendingOf(w) === 0) w.unref();
}

function pendingOf(w: Worker): number {
  let n = 0;
  for (const p of pending.values()) if (p.owner === w) n++;
  return n;
}
