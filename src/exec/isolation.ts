/**
 * What this machine can do to confine a command (probed once per process), and how to wrap a
 * command line with it.
 *
 * Composition, outermost first (every wrapper but bwrap execs, so the spawned pid leads the group):
 *   prlimit <limits> -- bwrap <namespaces, view> -- [setpriv <drop to uid N>] -- /bin/sh -c SCRIPT
 * Invariants:
 * - Mode 'bwrap' (the default) never runs the command without bwrap: missing or unusable bwrap
 *   (or, as root, missing setpriv) throws SANDBOX_UNAVAILABLE before anything runs.
 * - As root the command runs with a non-zero REAL uid (setpriv --reuid), no capabilities, no
 *   supplementary groups and no_new_privs, so RLIMIT_NPROC binds and file permissions apply.
 *   Otherwise bwrap uses a user namespace and the command keeps Orchestra's (non-root) uid.
 * - The command is pid 2 of its own PID namespace under bwrap's pid 1: when it exits, or bwrap is
 *   killed (--die-with-parent), the kernel kills everything left in the namespace, whatever it
 *   did with sessions, process groups or double forks.
 * - Mode 'unconfined' (explicit opt-out, unsafe) is the old best effort: prlimit and a network
 *   namespace where available, the working directory only as a convention; the report says so.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { OrchestraError } from '../core/errors.js';
import { sandboxArgv } from './sandbox-argv.js';
import { isRoot, sandboxUserFor, type SandboxUser } from './sandbox-user.js';
import { shellQuote } from '../core/quote.js';

export { DEFAULT_LIMITS, prlimitArgs, type SandboxLimits } from './limits.js';
export { findExecutable, nodePrefix, probeIsolation, type IsolationCapabilities, type IsolationMode, type IsolationReport } from './probe.js';
import { prlimitArgs, type SandboxLimits } from './limits.js';
import { nodePrefix, type IsolationCapabilities, type IsolationMode, type IsolationReport } from './probe.js';

export interface WrapOptions {
  command: string;
  /** Absolute, real path. */
  cwd: string;
  timeoutMs: number;
  network: 'off' | 'on';
  limits: SandboxLimits;
  writablePaths: readonly string[];
  /** Extra read-only paths (bwrap mode). */
  readPaths: readonly string[];
  /** Paths to keep invisible (bwrap mode): $HOME, the workspace, ... */
  hidePaths: readonly string[];
  mode: IsolationMode;
}

export interface WrappedCommand {
  file: string;
  args: string[];
  /** Variables to set in the child's environment (they win over the caller's). */
  env: Record<string, string>;
  isolation: IsolationReport;
  /** The user the working directory must be granted to before the run (root only). */
  user: SandboxUser | null;
  /** Data to write to the child's extra file descriptors (3, 4, ...), read by bwrap at start. */
  fdData: string[];
}

/** HOME inside the sandbox: private, writable, gone after the run. */
export const SANDBOX_HOME = '/tmp/home';

function unavailable(caps: IsolationCapabilities): OrchestraError {
  const why = caps.notes.length > 0 ? caps.notes.join('; ') : 'bwrap is not usable here';
  return new OrchestraError(
    'SANDBOX_UNAVAILABLE',
    `Refusing to run the command: no sandbox is available (${why}). Install bubblewrap (apt-get install bubblewrap)` +
      `${isRoot() ? ' and util-linux (setpriv)' : ''} and make sure it can create namespaces, or set "sandbox.isolation": "unconfined" in orchestra.json to run commands without isolation (unsafe).`,
    { notes: caps.notes },
  );
}


/**
 * /etc/passwd and /etc/group with a `sandbox` entry for the sandbox uid, so that `whoami`,
 * os.userInfo() and the like work (bound over the originals from fds 3 and 4). Null when the
 * originals cannot be read (the command then runs without a name).
 */
function identityFiles(user: SandboxUser): { passwd: string; group: string } | null {
  try {
    const withNewline = (s: string) => (s === '' || s.endsWith('\n') ? s : `${s}\n`);
    return {
      passwd: `${withNewline(readFileSync('/etc/passwd', 'utf8'))}sandbox:x:${user.uid}:${user.gid}:Orchestra sandbox:${SANDBOX_HOME}:/bin/sh\n`,
      group: `${withNewline(readFileSync('/etc/group', 'utf8'))}sandbox:x:${user.gid}:\n`,
    };
  } catch {
    return null;
  }
}

/** /etc/resolv.conf's target when it points out of /etc (e.g. systemd-resolved's, under /run). */
function resolverTarget(): string[] {
  try {
    const target = realpathSync('/etc/resolv.conf');
    return target.startsWith('/etc/') ? [] : [target];
  } catch {
    return [];
  }
}

/** Builds the argv that runs `command` under what `caps` offers; throws SANDBOX_UNAVAILABLE. */
export function wrapCommand(opts: WrapOptions, caps: IsolationCapabilities): WrappedCommand {
  const isolation: IsolationReport = { mode: opts.mode, network: 'none', limits: 'none', filesystem: 'none', proc: 'host', uid: null };
  const env: Record<string, string> = {};
  const lines = ['exec 2>&1']; // one stream: stdout and stderr interleave in order
  let argv: string[] = [];
  let user: SandboxUser | null = null;
  const fdData: string[] = [];

  if (opts.mode === 'bwrap') {
    if (!caps.bwrap || (isRoot() && !caps.bwrap.setpriv)) throw unavailable(caps);
    user = isRoot() ? sandboxUserFor(opts.cwd) : null;
    const readOnly = [nodePrefix(), ...opts.readPaths, ...(opts.network === 'on' ? resolverTarget() : [])];
    const identity = user ? identityFiles(user) : null;
    if (identity) fdData.push(identity.passwd, identity.group);
    const extra = identity ? ['--perms', '0644', '--ro-bind-data', '3', '/etc/passwd', '--perms', '0644', '--ro-bind-data', '4', '/etc/group'] : [];
    argv = sandboxArgv(caps.bwrap, { cwd: opts.cwd, network: opts.network, readOnly, writable: opts.writablePaths, hide: opts.hidePaths }, user, extra);
    Object.assign(isolation, {
      filesystem: 'bwrap',
      network: opts.network === 'off' ? 'namespace' : 'none',
      proc: caps.bwrap.proc ? 'private' : 'hidden',
      uid: user?.uid ?? null,
    } satisfies Partial<IsolationReport>);
    Object.assign(env, {
      HOME: SANDBOX_HOME,
      TMPDIR: '/tmp',
      XDG_CACHE_HOME: '/tmp/.cache',
      npm_config_cache: '/tmp/.npm',
      // The worktree's top directory and its git metadata belong to Orchestra's user, not the
      // command's: without this git refuses them as "dubious ownership" (git status in tests).
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'safe.directory',
      GIT_CONFIG_VALUE_0: '*',
    });
    if (user) Object.assign(env, { USER: 'sandbox', LOGNAME: 'sandbox' });
    lines.push(`mkdir -p ${SANDBOX_HOME}`);
  } else if (opts.network === 'off' && caps.unshareNet) {
    argv = [...caps.unshareNet, '--'];
    isolation.network = 'namespace';
    if (caps.ip) lines.push(`${shellQuote(caps.ip)} link set lo up >/dev/null 2>&1`);
  }
  if (caps.prlimit) {
    argv = [caps.prlimit, ...prlimitArgs(opts.limits, opts.timeoutMs), '--', ...argv];
    isolation.limits = 'prlimit';
  }
  lines.push(opts.command);
  argv.push('/bin/sh', '-c', lines.join('\n'));
  return { file: argv[0]!, args: argv.slice(1), env, isolation, user, fdData };
}
