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
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { bwrapArgs } from './bwrap-args.js';
import { grantDirectory, sandboxUserFor, type SandboxUser } from './sandbox-user.js';
import { shellQuote } from '../core/quote.js';

export interface SandboxLimits {
  cpuSeconds?: number;
  memoryMb?: number;
  processes?: number;
  fileSizeMb?: number;
}

export interface IsolationCapabilities {
  /** Absolute path of a working prlimit, or null. */
  prlimit: string | null;
  /** A working network-namespace wrapper (unconfined mode only), e.g. ['/usr/bin/unshare', '-n']. */
  unshareNet: string[] | null;
  /** `ip`, to bring loopback up inside a fresh namespace (unconfined mode only). */
  ip: string | null;
  /**
   * A bwrap that ran the probe command in the full sandbox, or null. `proc`: whether it can mount
   * a /proc for the new PID namespace (else /proc is left out). `setpriv`: the setpriv used to
   * drop root (null when Orchestra is not root).
   */
  bwrap: { path: string; proc: boolean; setpriv: string | null } | null;
  /** Why a facility is missing, for logs and the refusal message. */
  notes: string[];
}

export type IsolationMode = 'bwrap' | 'unconfined';

export interface IsolationReport {
  mode: IsolationMode;
  network: 'namespace' | 'none';
  limits: 'prlimit' | 'none';
  filesystem: 'bwrap' | 'none';
  /** /proc as the command sees it: its own PID namespace's, none at all, or the host's. */
  proc: 'private' | 'hidden' | 'host';
  /** The uid the command ran as when Orchestra is root (else null: Orchestra's own uid). */
  uid: number | null;
}

/**
 * Defaults chosen so npm/node/python/cargo still start. Memory is RLIMIT_DATA, not RLIMIT_AS:
 * V8 reserves large address ranges (WebAssembly guard regions, e.g. undici's llhttp behind fetch)
 * and fails under an address-space cap of a few GiB; RLIMIT_DATA counts only writable memory.
 */
export const DEFAULT_LIMITS: Required<Omit<SandboxLimits, 'cpuSeconds'>> = {
  memoryMb: 4096,
  processes: 2048,
  fileSizeMb: 1024,
};

const SEARCH_EXTRA = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function findExecutable(name: string, pathEnv = process.env.PATH ?? ''): string | null {
  const dirs = [...pathEnv.split(path.delimiter).filter(Boolean), ...SEARCH_EXTRA];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

function runsOk(file: string, args: string[], timeoutMs = 5000): Promise<{ ok: boolean; detail: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ ok: !err, stdout: String(stdout), detail: err ? `${err.message} ${String(stderr).trim()}`.trim() : '' });
    });
  });
}

async function probe(bwrapPath: string | null): Promise<IsolationCapabilities> {
  const notes: string[] = [];
  const sh = '/bin/sh';

  let prlimit = findExecutable('prlimit');
  if (prlimit) {
    const r = await runsOk(prlimit, ['--core=0', '--', sh, '-c', 'true']);
    if (!r.ok) {
      notes.push(`prlimit unusable: ${r.detail}`);
      prlimit = null;
    }
  } else notes.push('prlimit not found');

  let unshareNet: string[] | null = null;
  const unshare = findExecutable('unshare');
  if (unshare) {
    // As root a plain network namespace keeps real uids (files owned by others stay writable);
    // otherwise map ourselves to root in a new user namespace.
    const variants = process.getuid?.() === 0 ? [['-n'], ['-rn']] : [['-rn']];
    for (const flags of variants) {
      const r = await runsOk(unshare, [...flags, '--', sh, '-c', 'true']);
      if (r.ok) {
        unshareNet = [unshare, ...flags];
        break;
      }
      notes.push(`unshare ${flags.join(' ')} failed: ${r.detail}`);
    }
  } else notes.push('unshare not found');

  const bwrap = await probeBwrap(notes, bwrapPath);
  return { prlimit, unshareNet, ip: findExecutable('ip'), bwrap, notes };
}

const isRoot = () => process.getuid?.() === 0;

/** Runs `id -u` in the full sandbox (with and then without /proc) and checks the uid it reports. */
async function probeBwrap(notes: string[], configured: string | null): Promise<IsolationCapabilities['bwrap']> {
  const bwrapPath = configured ?? findExecutable('bwrap');
  if (!bwrapPath) {
    notes.push('bwrap (bubblewrap) is not installed');
    return null;
  }
  try {
    accessSync(bwrapPath, constants.X_OK);
  } catch {
    notes.push(`bwrap is not an executable at ${bwrapPath}`);
    return null;
  }
  let setpriv: string | null = null;
  if (isRoot()) {
    setpriv = findExecutable('setpriv');
    if (!setpriv) {
      notes.push('setpriv (util-linux) is not installed: it is needed to run commands as an unprivileged user when Orchestra runs as root');
      return null;
    }
  }
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'orchestra-bwrap-probe-')));
  try {
    const user = isRoot() ? sandboxUserFor(dir) : null;
    if (user) grantDirectory(dir, user);
    const expected = String(user?.uid ?? process.getuid?.());
    for (const proc of [true, false]) {
      const caps = { path: bwrapPath, proc, setpriv };
      const argv = sandboxArgv(caps, { cwd: dir, network: 'off', readOnly: [nodePrefix()], writable: [], hide: [] }, user);
      const check = proc ? 'test -r /proc/self/status && id -u' : 'id -u';
      const r = await runsOk(argv[0]!, [...argv.slice(1), '/bin/sh', '-c', check]);
      if (r.ok && r.stdout.trim() === expected) return caps;
      notes.push(`bwrap ${proc ? 'with' : 'without'} /proc failed: ${r.detail || `ran as uid ${r.stdout.trim()}, expected ${expected}`}`);
    }
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Node's install prefix (bin/node, lib/node_modules/npm), readable in the sandbox. */
export function nodePrefix(): string {
  return path.dirname(path.dirname(process.execPath));
}

const cached = new Map<string, Promise<IsolationCapabilities>>();

/**
 * Probes once per process (per bwrap path: `bwrapPath` is config `sandbox.bwrapPath`, default
 * the bwrap found on PATH); later calls share the result.
 */
export function probeIsolation(bwrapPath?: string): Promise<IsolationCapabilities> {
  const key = bwrapPath ?? '';
  let probed = cached.get(key);
  if (!probed) {
    probed = probe(bwrapPath ?? null);
    cached.set(key, probed);
  }
  return probed;
}

/** Soft limits currently in force (from /proc/self/limits); Infinity = unlimited or unknown. */
function currentSoftLimits(): Record<string, number> {
  const out: Record<string, number> = {};
  let text: string;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    out[m[1]!] = m[2] === 'unlimited' ? Infinity : Number(m[2]);
  }
  return out;
}

const MB = 1024 * 1024;

/** prlimit options for these limits, never above what is already in force (raising would fail). */
export function prlimitArgs(limits: SandboxLimits, timeoutMs: number): string[] {
  const current = currentSoftLimits();
  const cap = (name: string, value: number) => Math.max(1, Math.floor(Math.min(value, current[name] ?? Infinity)));
  // CPU is a per-process backstop: a process can not use more than wall time x cores before the
  // timeout kills it, so by default this never fires earlier than the timeout.
  const cpu = limits.cpuSeconds ?? Math.ceil(timeoutMs / 1000) * os.availableParallelism() + 5;
  const cpuSoft = cap('Max cpu time', cpu);
  const cpuHard = Math.max(cpuSoft, cap('Max cpu time', cpu + 1));
  return [
    `--cpu=${cpuSoft}:${cpuHard}`,
    `--data=${cap('Max data size', (limits.memoryMb ?? DEFAULT_LIMITS.memoryMb) * MB)}`,
    `--nproc=${cap('Max processes', limits.processes ?? DEFAULT_LIMITS.processes)}`,
    `--fsize=${cap('Max file size', (limits.fileSizeMb ?? DEFAULT_LIMITS.fileSizeMb) * MB)}`,
    '--core=0',
  ];
}

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

/** bwrap ... -- [setpriv ... --]: everything before `/bin/sh -c SCRIPT`. */
function sandboxArgv(
  bwrap: NonNullable<IsolationCapabilities['bwrap']>,
  view: { cwd: string; network: 'off' | 'on'; readOnly: readonly string[]; writable: readonly string[]; hide: readonly string[] },
  user: SandboxUser | null,
  extra: readonly string[] = [],
): string[] {
  const argv = [bwrap.path, ...bwrapArgs({ ...view, proc: bwrap.proc, otherUser: user !== null }), ...extra, '--'];
  if (user) {
    if (!bwrap.setpriv) throw new Error('setpriv is required to drop root');
    argv.push(
      bwrap.setpriv,
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--',
    );
  }
  return argv;
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
