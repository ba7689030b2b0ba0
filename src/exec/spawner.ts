/**
 * Runs short programs (core/run-whole.ts runWhole, once useSpawnServer hands it runBuffered) either here or through the spawn server
 * (spawn-server-main.ts), a small helper process that forks them instead of this one: a fork
 * copies the forking process's page tables, so from a long-running process holding hundreds of
 * megabytes each spawn blocked the event loop for 10-50 ms. Long-running commands (`up` and the
 * doors) turn the server on with useSpawnServer(); one-shot commands, small and short, spawn
 * directly.
 *
 * Invariants: a request is answered exactly once (by the server, or with `error` when the server
 * died under it: never run twice, since it may have had its effect, and the dead server's process
 * group is killed so it has no more); the server is started on demand, told to leave after
 * IDLE_MS without a request, and never keeps this process alive while nothing is in flight; when
 * it cannot be started, or dies at start MAX_START_FAILURES times, programs are spawned here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageFacts } from '../core/package-root.js';
import { encodeFrame, FrameReader } from './spawn-frames.js';
import { runDirect, useRunner, type RunRequest, type RunResult } from '../core/run-whole.js';

const IDLE_MS = 30_000;
const MAX_START_FAILURES = 3;

let wanted = false;
let idleMs = IDLE_MS;
let server: SpawnServer | undefined;
let startFailures = 0;

/**
 * Runs later programs through the spawn server (on Linux; ORCHESTRA_SPAWN_SERVER=0 turns it off).
 * `quietMs`: how long the server is kept without a request (tests shorten it).
 */
export function useSpawnServer(on = true, quietMs = IDLE_MS): void {
  wanted = on && process.platform === 'linux' && process.env.ORCHESTRA_SPAWN_SERVER !== '0';
  idleMs = quietMs;
  useRunner(wanted ? runBuffered : undefined); // core's runWhole (every git of this process) goes through it
  if (!wanted) server?.close();
}

/** The server's process id while one runs (for tests and `status`). */
export function spawnServerPid(): number | undefined {
  return server?.pid;
}

export function runBuffered(req: RunRequest): Promise<RunResult> {
  if (!wanted || startFailures >= MAX_START_FAILURES) return runDirect(req);
  if (!server) {
    const script = join(packageFacts().root, 'dist', 'src', 'exec', 'spawn-server-main.js');
    if (!existsSync(script)) return runDirect(req);
    server = new SpawnServer(script, () => (server = undefined));
  }
  return server.run(req);
}

interface Pending { resolve: (r: RunResult) => void }

const KILL_GRACE_MS = 1_000;

/** SIGTERM to a dead server's group (git removes its lock files), SIGKILL a moment later. */
function killGroup(pgid: number): void {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pgid, s);
    } catch {
      // the group is empty
    }
  };
  signal('SIGTERM');
  setTimeout(() => signal('SIGKILL'), KILL_GRACE_MS).unref();
}

class SpawnServer {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private answered = false;
  private idleTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(script: string, private readonly onGone: () => void) {
    // Its own process group (and session): what it starts is in that group, so when it dies
    // unexpectedly the group is killed from here (see gone); and a Ctrl-C meant for this process's
    // terminal group does not cut it down under a graceful stop.
    this.child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env, detached: true });
    const reader = new FrameReader<{ id: number } & Omit<RunResult, 'stdout' | 'stderr'>>(
      ({ header, buffers }) => this.answer(header, buffers),
      (why) => this.gone(`the spawn server sent ${why}`),
    );
    this.child.stdout!.on('data', (chunk: Buffer) => reader.push(chunk));
    this.child.on('error', (err) => this.gone(`the spawn server could not run: ${err.message}`));
    // 'close', not 'exit': answers it wrote before exiting are read first (stdout ends before 'close').
    this.child.on('close', (code, signal) => this.gone(`the spawn server exited (${code ?? signal})`));
    this.child.stdin!.on('error', () => undefined); // its exit is reported by 'exit'
    this.release();
  }

  get pid(): number | undefined {
    return this.closed ? undefined : this.child.pid;
  }

  run(req: RunRequest): Promise<RunResult> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve });
      this.hold();
      const { input, ...rest } = req;
      this.child.stdin!.write(encodeFrame({ id, ...rest, hasInput: input !== undefined }, input ? [input] : []));
    });
  }

  /** Nothing in flight: the server is told to leave (it kills nothing: a daemon git left, e.g. a credential cache, stays). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onGone();
    this.child.stdin!.end(encodeFrame({ bye: true }));
  }

  private answer(header: { id: number } & Omit<RunResult, 'stdout' | 'stderr'>, buffers: Buffer[]): void {
    const waiting = this.pending.get(header.id);
    if (!waiting) return;
    this.answered = true;
    this.pending.delete(header.id);
    const { id: _id, sizes: _sizes, ...result } = header as typeof header & { sizes?: unknown };
    waiting.resolve({ ...result, stdout: buffers[0] ?? Buffer.alloc(0), stderr: buffers[1] ?? Buffer.alloc(0) });
    if (this.pending.size === 0) this.release();
  }

  /**
   * The server is gone: every request still waiting is answered with an error, never run again,
   * and its process group is killed, so no program it ran (nor their children) goes on unwatched,
   * past its timeout, to take effect after its caller was told it failed.
   */
  private gone(why: string): void {
    if (!this.closed && this.child.pid !== undefined) killGroup(this.child.pid);
    if (!this.answered && !this.closed) startFailures++;
    if (!this.closed) {
      this.closed = true;
      this.onGone();
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const { resolve } of this.pending.values()) {
      resolve({ exitCode: null, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), timedOut: false, overflow: false, error: why });
    }
    this.pending.clear();
    this.child.unref();
  }

  /** Requests in flight: the pipes keep this process alive until they are answered. */
  private hold(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.child.ref();
    (this.child.stdout as unknown as { ref?: () => void }).ref?.();
  }

  /** Nothing in flight: nothing of the server keeps this process alive; after IDLE_MS it is closed. */
  private release(): void {
    this.child.unref();
    (this.child.stdout as unknown as { unref?: () => void }).unref?.();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.close(), idleMs);
    this.idleTimer.unref();
  }
}
