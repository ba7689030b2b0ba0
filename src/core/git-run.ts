import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { runWhole } from './run-whole.js';

/**
 * Runs one git process in the workspace repository (never a shell) and collects its output.
 * The workspace's writers are one-shot CLI processes too, so this stays on node:child_process:
 * importing execa costs 90–140 ms (about 100 modules), more than the rest of a CLI write.
 * Input is read whole first and the run goes through runWhole (the spawn server in a
 * long-running process); only input past the limit is streamed to a git spawned here.
 * Invariants: input that cannot be made (a file gone) starts no git (`feedError` set); a git that
 * dies before reading all of a streamed input resolves with its exit code and output (the feed's
 * error kept), never hangs waiting for stdin to drain.
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

/** Input past this size is streamed to a git spawned here instead of being held whole. */
const WHOLE_INPUT_MAX_BYTES = 64 * 1024 * 1024;
let wholeInputMax = WHOLE_INPUT_MAX_BYTES;

/** How much input runGit holds whole before it streams the rest instead (tests lower it). */
export function setWholeInputLimit(bytes = WHOLE_INPUT_MAX_BYTES): void {
  wholeInputMax = bytes;
}

const TIMEOUT_MS = 6 * 60 * 60 * 1000;
const MAX_OUTPUT_BYTES = 1024 * 1024 * 1024;

export async function runGit(args: string[], opts: GitRunOptions): Promise<GitRun> {
  let held: { bytes: Buffer; rest?: AsyncIterator<Buffer> };
  try {
    held = await holdInput(opts.input);
  } catch (feedError) {
    // The input could not be made (a file it reads is gone): git is never started, nothing is half-done.
    return { code: 128, stdout: '', stderr: '', feedError };
  }
  if (held.rest) return streamGit(args, { ...opts, input: chain(held.bytes, held.rest) });
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env ?? process.env)) if (v !== undefined) env[k] = v;
  const r = await runWhole({ file: 'git', args, cwd: opts.cwd, env, ...(opts.input === undefined ? {} : { input: held.bytes }), timeoutMs: TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES });
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

/** A git fed `input` as a stream (input too large to hold whole), spawned here. */
async function streamGit(args: string[], opts: GitRunOptions): Promise<GitRun> {
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
