/**
 * Thin wrapper over simple-git used by every module in src/vcs.
 *
 * - Any non-zero exit is an error (simple-git alone lets silent failures such as
 *   `rev-parse --verify --quiet` resolve with an empty string).
 * - Failures become OrchestraError('GIT_ERROR') with a readable message.
 * - Network commands never prompt for credentials (GIT_TERMINAL_PROMPT=0).
 */
import { simpleGit, type SimpleGit } from 'simple-git';
import { OrchestraError } from '../core/errors.js';

export interface GitOptions {
  /** `-c key=value` settings for this one command. */
  config?: string[];
  /** Extra environment variables (allowed explicitly through simple-git's environment guard). */
  env?: Record<string, string>;
  /** Talks to a remote: disables credential prompts and uses a longer idle timeout. */
  network?: boolean;
  /** Kill git after this many ms without output. */
  timeoutMs?: number;
}

/** Carries the exit code and stderr of a failed git process. */
export class GitExitError extends Error {
  constructor(
    readonly exitCode: number,
    readonly stderr: string,
    readonly stdout: string = '',
  ) {
    super(stderr.trim() || stdout.trim() || `git exited with code ${exitCode}`);
    this.name = 'GitExitError';
  }
}

/** Environment keys simple-git guards besides every GIT_* key. */
const GUARDED_PLAIN_KEYS = new Set(['editor', 'pager', 'prefix', 'ssh_askpass', 'visual']);

function ambientEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    const key = k.toLowerCase().trim();
    if (v === undefined || key.startsWith('git_') || GUARDED_PLAIN_KEYS.has(key)) continue;
    out[k] = v;
  }
  return out;
}

function client(cwd: string, opts: GitOptions): SimpleGit {
  const extra: Record<string, string> = { ...(opts.network ? { GIT_TERMINAL_PROMPT: '0' } : {}), ...opts.env };
  const git = simpleGit({
    baseDir: cwd,
    config: opts.config ?? [],
    maxConcurrentProcesses: 4,
    allowEnvironment: Object.keys(extra),
    timeout: { block: opts.timeoutMs ?? (opts.network ? 300_000 : 120_000) },
    errors(error, result) {
      if (error && !Buffer.isBuffer(error)) return error;
      if (result.exitCode === 0) return undefined;
      return new GitExitError(
        result.exitCode,
        Buffer.concat(result.stdErr).toString('utf8'),
        Buffer.concat(result.stdOut).toString('utf8'),
      );
    },
  });
  if (Object.keys(extra).length > 0) git.env({ ...ambientEnv(), ...extra });
  return git;
}

function describe(args: readonly string[]): string {
  return `git ${args.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ')}`.trim();
}

/** Runs git and returns stdout (untrimmed). Throws OrchestraError('GIT_ERROR') on failure. */
export async function git(cwd: string, args: string[], opts: GitOptions = {}): Promise<string> {
  try {
    return await client(cwd, opts).raw(args);
  } catch (err) {
    if (err instanceof OrchestraError) throw err;
    const exitCode = err instanceof GitExitError ? err.exitCode : undefined;
    const msg = err instanceof Error ? err.message : String(err);
    const firstLines = msg.trim().split('\n').slice(0, 6).join('\n');
    throw new OrchestraError('GIT_ERROR', `${describe(args)} failed in ${cwd}: ${firstLines}`, {
      cwd,
      args,
      exitCode,
      stderr: msg,
      stdout: err instanceof GitExitError ? err.stdout : undefined,
    });
  }
}

/** Like `git` but trimmed. */
export async function gitLine(cwd: string, args: string[], opts: GitOptions = {}): Promise<string> {
  return (await git(cwd, args, opts)).trim();
}

/** Trimmed stdout, or null when git fails (e.g. a ref that does not exist). */
export async function gitMaybe(cwd: string, args: string[], opts: GitOptions = {}): Promise<string | null> {
  try {
    return (await git(cwd, args, opts)).trim();
  } catch (err) {
    if (err instanceof OrchestraError && err.code === 'GIT_ERROR') return null;
    throw err;
  }
}

/** True when git exits 0. */
export async function gitOk(cwd: string, args: string[], opts: GitOptions = {}): Promise<boolean> {
  return (await gitMaybe(cwd, args, opts)) !== null;
}

/** Full ref exists? (`refs/heads/x`, `refs/remotes/origin/x`, ...) */
export async function refExists(cwd: string, fullRef: string): Promise<boolean> {
  return (await gitMaybe(cwd, ['rev-parse', '--verify', '--quiet', fullRef])) !== null;
}

/** Commit sha a ref points at, or null. */
export async function revParse(cwd: string, ref: string): Promise<string | null> {
  const out = await gitMaybe(cwd, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  return out ? out : null;
}

/** Refuse anything that git could read as an option. */
export function assertNotOption(value: string, what: string): void {
  if (value.startsWith('-')) {
    throw new OrchestraError('INVALID_INPUT', `${what} must not start with '-': ${value}`);
  }
}
