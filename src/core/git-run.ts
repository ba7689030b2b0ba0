import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Runs one git process in the workspace repository (never a shell) and collects its output.
 * The workspace's writers are one-shot CLI processes too, so this stays on node:child_process:
 * importing execa costs 90–140 ms (about 100 modules), more than the rest of a CLI write.
 * A long-running process hands it a WholeRunner (the spawn server, see useWholeRunner).
 * Invariant: a git that dies before reading all of `input` makes the call resolve with its exit
 * code and output (the feed's error kept), never hang waiting for stdin to drain.
 */
export interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Why feeding stdin failed (git exited early), if it did. */
  feedError?: unknown;
}

export interface GitRunOptions {
  cwd: string;
  /** Written to git's stdin, then closed; stdin is empty when absent. */
  input?: string | Buffer | AsyncIterable<Buffer>;
  env?: NodeJS.ProcessEnv;
}

/**
 * A runner that takes a program's whole input and gives back its whole output: exec/spawner.ts's
 * runBuffered, set by long-running processes (app/up.ts) so that their workspace git is forked
 * by the small spawn server, not by them (core does not depend on exec: the runner is given).
 */
export type WholeRunner = (req: { file: string; args: string[]; cwd: string; env: Record<string, string>; input?: Buffer; timeoutMs: number; maxBuffer: number }) => Promise<{ exitCode: number | null; signal: string | null; stdout: Buffer; stderr: Buffer; timedOut: boolean; overflow: boolean; error?: string }>;

let wholeRunner: WholeRunner | undefined;
/** Input past this size is streamed to a git spawned here instead of being held whole. */
const WHOLE_INPUT_MAX_BYTES = 64 * 1024 * 1024;
let wholeInputMax = WHOLE_INPUT_MAX_BYTES;

/** Runs later workspace git through `runner` (undefined: spawned here again). */
export function useWholeRunner(runner: WholeRunner | undefined, maxInputBytes = WHOLE_INPUT_MAX_BYTES): void {
  wholeRunner = runner;
  wholeInputMax = maxInputBytes;
}

const WHOLE_TIMEOUT_MS = 6 * 60 * 60 * 1000;
const WHOLE_MAX_OUTPUT_BYTES = 1024 * 1024 * 1024;

export async function runGit(args: string[], opts: GitRunOptions): Promise<GitRun> {
  if (!wholeRunner) return spawnGit(args, opts);
  let held: { bytes: Buffer; rest?: AsyncIterator<Buffer> };
  try {
    held = await holdInput(opts.input);
  } catch (feedError) {
    // The input could not be made (a file it reads is gone): git is never started, nothing is half-done.
    return { code: 128, stdout: '', stderr: '', feedError };
  }
  if (held.rest) return spawnGit(args, { ...opts, input: chain(held.bytes, held.rest) });
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env ?? process.env)) if (v !== undefined) env[k] = v;
  const r = await wholeRunner({ file: 'git', args, cwd: opts.cwd, env, ...(opts.input === undefined ? {} : { input: held.bytes }), timeoutMs: WHOLE_TIMEOUT_MS, maxBuffer: WHOLE_MAX_OUTPUT_BYTES });
  const stderr = r.error !== undefined ? `cannot run git: ${r.error}` : r.stderr.toString('utf8');
  return { code: r.exitCode ?? (r.error !== undefined ? 127 : 1), stdout: r.stdout.toString('utf8'), stderr };
}

/** The input whole when it is at most wholeInputMax bytes; else what was read, and the rest to stream. */
async function holdInput(input: GitRunOptions['input']): Promise<{ bytes: Buffer; rest?: AsyncIterator<Buffer> }> {
  if (input === undefined) return { bytes: Buffer.alloc(0) };
  if (typeof input === 'string' || Buffer.isBuffer(input)) return { bytes: Buffer.from(input) };
  const parts: Buffer[] = [];
  let size = 0;
  const it = input[Symbol.asyncIterator]();
  for (;;) {
    const next = await it.next();
    if (next.done) return { bytes: Buffer.concat(parts) };
    parts.push(next.value);
    size += next.value.length;
    if (size > wholeInputMax) return { bytes: Buffer.concat(parts), rest: it };
  }
}

async function* chain(first: Buffer, rest: AsyncIterator<Buffer>): AsyncIterable<Buffer> {
  yield first;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

async function spawnGit(args: string[], opts: GitRunOptions): Promise<GitRun> {
  const child = spawn('git', args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}) });
  const out: Buffer[] = [];
  const errors: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => errors.push(b));
  // A git that cannot start (not installed, no such directory) is an exit code like any other,
  // so callers report it as GIT_ERROR with the reason, as they do a failed git.
  const exited = new Promise<number>((resolve) => {
    child.on('error', (err) => {
      errors.push(Buffer.from(`cannot run git: ${err.message}`));
      resolve(127);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
  const source = opts.input === undefined ? [] : typeof opts.input === 'string' || Buffer.isBuffer(opts.input) ? [opts.input] : opts.input;
  // pipeline() ends stdin, and fails (instead of waiting for a drain that never comes) when git dies early.
  const fed = pipeline(Readable.from(source), child.stdin).then(() => undefined, (e: unknown) => e ?? new Error('stdin closed'));
  const [code, feedError] = await Promise.all([exited, fed]);
  return {
    code,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(errors).toString('utf8'),
    ...(feedError === undefined ? {} : { feedError }),
  };
}
