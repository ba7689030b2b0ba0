/**
 * The one git runner for everything Orchestra runs in a target repository, mirror or worktree.
 *
 * Invariants (every command):
 * - No hooks, no fsmonitor, no pager, no editor, no askpass, no terminal prompt, no system or
 *   global config (except `network` commands, which may read the user's global config for push
 *   credentials, with the same overrides on top), no `ext::` transport, `file` only when asked.
 * - The environment is scrubbed of secrets (scrubEnv) and of every ambient GIT_* variable.
 * - In a worktree made by prepareWorktree, git gets `--git-dir=<the recorded gitdir>
 *   --work-tree=<worktree>`: a `.git` file rewritten by a test cannot redirect git.
 * - Any non-zero exit is OrchestraError('GIT_ERROR') with a readable message (no stack) that holds
 *   no credentials: URL user info (a push remote's token) and secret variables' values are masked
 *   in the message and in its details (args, stdout, stderr).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { isObjectId } from '../core/ids.js';
import { runWhole } from '../core/run-whole.js';
import { scrubEnv } from '../core/env-secrets.js';
import { redactCredentials, redactUrlCredentials } from '../core/redact.js';

export interface GitOptions {
  /** Extra `-c key=value` settings for this one command (applied after the fixed ones). */
  config?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /**
   * Talks to a remote over the network (ssh, https, git): the user's global config is read (for
   * credential helpers, ssh settings, `insteadOf`), the ssh agent socket is kept, and the fixed
   * overrides still apply on top. Local remotes (paths, file://) use `allowFile` instead and read
   * no user config at all.
   */
  network?: boolean;
  /** Read the user's global config (implied by `network`): only for push credentials and identity. */
  userConfig?: boolean;
  /** Allow the `file` transport (local paths and file:// URLs). Off unless set. */
  allowFile?: boolean;
  /** Kill git after this many ms. */
  timeoutMs?: number;
  /** Explicit git dir (and work tree): overrides discovery and the worktree registry. */
  gitDir?: string;
  workTree?: string;
}

/** Hooks directory: /dev/null is a directory nobody can put a file in, so no hook ever runs. */
export const NO_HOOKS = '/dev/null';

/** `-c` settings on every command. Command-line config wins over every config file. */
export const FIXED_CONFIG: readonly string[] = [
  `core.hooksPath=${NO_HOOKS}`,
  'core.fsmonitor=false',
  'core.untrackedCache=false',
  'core.attributesFile=/dev/null',
  'core.pager=cat',
  'core.editor=false',
  'core.askPass=',
  'commit.gpgSign=false',
  'tag.gpgSign=false',
  'push.gpgSign=false',
  'color.ui=false',
  'gc.auto=0',
  'maintenance.auto=false',
  'submodule.recurse=false',
  'fetch.recurseSubmodules=false',
  'push.recurseSubmodules=no',
  'protocol.allow=never',
  'protocol.ext.allow=never',
  'protocol.https.allow=always',
  'protocol.http.allow=always',
  'protocol.ssh.allow=always',
  'protocol.git.allow=always',
];

const DROPPED_PLAIN_KEYS = new Set(['editor', 'visual', 'pager', 'ssh_askpass', 'less', 'lv', 'prefix']);

/** The scrubbed environment git runs with. Exported for tests. */
export function gitEnv(opts: Pick<GitOptions, 'network' | 'userConfig' | 'env'> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(scrubEnv(process.env))) {
    const key = k.toLowerCase();
    if (v === undefined || key.startsWith('git_') || DROPPED_PLAIN_KEYS.has(key)) continue;
    out[k] = v;
  }
  // A push or fetch over ssh/https may need the operator's agent or ssh command; nothing else gets them.
  if (opts.network) {
    for (const k of ['SSH_AUTH_SOCK', 'GIT_SSH_COMMAND', 'GIT_SSH', 'GIT_SSL_CAINFO', 'GIT_SSL_CAPATH']) {
      const v = process.env[k];
      if (v) out[k] = v;
    }
  }
  Object.assign(out, {
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_PAGER: 'cat',
    PAGER: 'cat',
    GIT_EDITOR: 'false',
    GIT_SEQUENCE_EDITOR: 'false',
    GIT_ASKPASS: 'false',
    SSH_ASKPASS_REQUIRE: 'never',
    GIT_OPTIONAL_LOCKS: '0',
    GIT_PROTOCOL_FROM_USER: '0',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_ATTR_NOSYSTEM: '1',
  });
  if (!opts.network && !opts.userConfig) out.GIT_CONFIG_GLOBAL = '/dev/null';
  return { ...out, ...opts.env };
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

/** Registry file beside a worktree directory naming its git dir and mirror (written by prepareWorktree). */
export function worktreeRecordPath(worktreePath: string): string {
  const abs = resolve(worktreePath);
  if (!basename(abs)) return join(abs, '.orchestra-no-worktree'); // the file-system root is never a worktree
  return join(dirname(abs), `.${basename(abs)}.orchestra-gitdir`);
}

export interface WorktreeRecord {
  /** The worktree's admin directory inside the mirror (`<mirror>/worktrees/<name>`). */
  gitDir: string;
  /** The mirror (common git dir). */
  mirror: string;
  /** The worktree directory. */
  workTree: string;
}

/**
 * The recorded git dir of a worktree made by prepareWorktree, validated against the mirror:
 * its `commondir` must lead to the recorded mirror and its `gitdir` back to this worktree.
 * Undefined when `path` is not such a worktree (no record). Throws WORKSPACE_DAMAGED when the
 * metadata was changed.
 */
export function worktreeRecord(path: string): WorktreeRecord | undefined {
  const file = worktreeRecordPath(path);
  if (!existsSync(file)) return undefined;
  let rec: { gitDir?: unknown; mirror?: unknown };
  try {
    rec = JSON.parse(readFileSync(file, 'utf8')) as typeof rec;
  } catch {
    throw new OrchestraError('WORKSPACE_DAMAGED', `Worktree record ${file} is unreadable; remove the worktree and retry`);
  }
  if (typeof rec.gitDir !== 'string' || typeof rec.mirror !== 'string' || !isAbsolute(rec.gitDir) || !isAbsolute(rec.mirror)) {
    throw new OrchestraError('WORKSPACE_DAMAGED', `Worktree record ${file} is malformed; remove the worktree and retry`);
  }
  const workTree = realpathSync(resolve(path));
  const damaged = (what: string) =>
    new OrchestraError('WORKSPACE_DAMAGED', `The git metadata of worktree ${workTree} was modified (${what}); refusing to use it`, { workTree });
  try {
    const common = readFileSync(join(rec.gitDir, 'commondir'), 'utf8').trim();
    if (realpathSync(resolve(rec.gitDir, common)) !== realpathSync(rec.mirror)) throw damaged('commondir');
    const back = readFileSync(join(rec.gitDir, 'gitdir'), 'utf8').trim();
    if (basename(back) !== '.git' || realpathSync(dirname(resolve(rec.gitDir, back))) !== workTree) throw damaged('gitdir');
  } catch (err) {
    if (err instanceof OrchestraError) throw err;
    throw damaged('missing files');
  }
  return { gitDir: rec.gitDir, mirror: rec.mirror, workTree };
}

function globalArgs(cwd: string, opts: GitOptions): string[] {
  if (opts.gitDir) return [`--git-dir=${opts.gitDir}`, ...(opts.workTree ? [`--work-tree=${opts.workTree}`] : [])];
  const rec = worktreeRecord(cwd);
  if (rec) return [`--git-dir=${rec.gitDir}`, `--work-tree=${rec.workTree}`];
  return [];
}

/** `git <subcommand> <first operand>` for a message: a URL operand loses its credentials. */
function describe(args: readonly string[]): string {
  return `git ${args.filter((a) => !a.startsWith('-')).slice(0, 2).map(redactUrlCredentials).join(' ')}`.trim();
}

/** The full argument vector (without `git`) for a command. Exported for tests. */
export function gitArgv(cwd: string, args: string[], opts: GitOptions = {}): string[] {
  const config = [...FIXED_CONFIG, `protocol.file.allow=${opts.allowFile ? 'always' : 'never'}`, ...(opts.config ?? [])];
  return ['--no-pager', '--no-replace-objects', ...globalArgs(cwd, opts), ...config.flatMap((c) => ['-c', c]), ...args];
}

/** What one git command may print (stdout and stderr together) before it is stopped. */
const MAX_OUTPUT_BYTES = 512 * 1024 * 1024;

/** Runs git and returns stdout (untrimmed). Throws OrchestraError('GIT_ERROR') on failure. */
export async function git(cwd: string, args: string[], opts: GitOptions = {}): Promise<string> {
  const argv = gitArgv(cwd, args, opts);
  const result = await runWhole({
    file: 'git',
    args: argv,
    cwd,
    env: gitEnv(opts),
    maxBuffer: MAX_OUTPUT_BYTES,
    timeoutMs: opts.timeoutMs ?? (opts.network ? 900_000 : 600_000),
  });
  if (result.error !== undefined) {
    const why = redactCredentials(result.error.split('\n')[0] ?? '');
    throw new OrchestraError('GIT_ERROR', `${describe(args)} could not run in ${cwd}: ${why}`, { cwd, args: args.map(redactUrlCredentials) });
  }
  if (result.exitCode === 0 && !result.timedOut && !result.overflow) return result.stdout.toString('utf8');
  const stderr = redactCredentials(result.stderr.toString('utf8'));
  const stdout = redactCredentials(result.stdout.toString('utf8'));
  const why = result.timedOut ? 'timed out' : result.overflow ? `printed more than ${MAX_OUTPUT_BYTES} bytes` : stderr.trim() || stdout.trim() || `exit code ${result.exitCode ?? result.signal}`;
  const firstLines = why.split('\n').slice(0, 6).join('\n');
  throw new OrchestraError('GIT_ERROR', `${describe(args)} failed in ${cwd}: ${firstLines}`, {
    cwd,
    args: args.map(redactUrlCredentials),
    exitCode: result.exitCode,
    stderr,
    stdout,
  });
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
  // A full commit id once found stays found (objects are never removed under a task), so it is checked once per process and place.
  const key = `${cwd}\0${ref}`;
  if (knownCommits.has(key)) return ref;
  const out = await gitMaybe(cwd, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  if (out && out === ref && isObjectId(out) && knownCommits.size < 10_000) knownCommits.add(key);
  return out ? out : null;
}
const knownCommits = new Set<string>();

/** Refuse anything that git could read as an option. */
export function assertNotOption(value: string, what: string): void {
  if (value.startsWith('-')) {
    throw new OrchestraError('INVALID_INPUT', `${what} must not start with '-': ${value}`);
  }
}
