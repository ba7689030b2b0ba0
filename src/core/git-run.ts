import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Runs one git process in the workspace repository (never a shell) and collects its output.
 * The workspace's writers are one-shot CLI processes too, so this stays on node:child_process:
 * importing execa costs 90–140 ms (about 100 modules), more than the rest of a CLI write.
 * Git in target repositories (vcs/) keeps execa; a dev task pays that once per loop process.
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

export async function runGit(args: string[], opts: GitRunOptions): Promise<GitRun> {
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
