/**
 * What this machine can do to confine a command, probed once per process, and how to wrap a
 * command line with it.
 *
 * Composition (outermost first): `prlimit <limits> -- [bwrap ... | unshare -n] -- /bin/sh -c SCRIPT`.
 * prlimit and unshare exec (no extra process), so the shell keeps the spawned pid, process group
 * and session; bwrap forks but stays in the group, and with --unshare-pid/--die-with-parent the
 * kernel takes down its whole namespace when it dies. Either way killing the group reaches all.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SandboxLimits {
  cpuSeconds?: number;
  memoryMb?: number;
  processes?: number;
  fileSizeMb?: number;
}

export interface IsolationCapabilities {
  /** Absolute path of a working prlimit, or null. */
  prlimit: string | null;
  /** A working network-namespace wrapper, e.g. ['/usr/bin/unshare', '-n'] (root) or [..., '-rn']. */
  unshareNet: string[] | null;
  /** `ip`, to bring loopback up inside a fresh namespace (so local test servers still work). */
  ip: string | null;
  /** bwrap and the filesystem arguments that worked here, or null. */
  bwrap: { path: string; args: string[] } | null;
  /** Why a facility is missing, for logs. */
  notes: string[];
}

export interface IsolationReport {
  network: 'namespace' | 'none';
  limits: 'prlimit' | 'none';
  filesystem: 'bwrap' | 'cwd-only';
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

function runsOk(file: string, args: string[], timeoutMs = 5000): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      resolve({ ok: !err, detail: err ? `${err.message} ${String(stderr).trim()}`.trim() : '' });
    });
  });
}

async function probe(): Promise<IsolationCapabilities> {
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

  let bwrap: IsolationCapabilities['bwrap'] = null;
  const bwrapPath = findExecutable('bwrap');
  if (bwrapPath) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestra-bwrap-probe-'));
    try {
      const variants = [
        ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'],
        ['--ro-bind', '/', '/', '--dev-bind', '/dev', '/dev', '--tmpfs', '/tmp'],
      ];
      for (const fsArgs of variants) {
        const args = ['--unshare-net', '--unshare-pid', '--die-with-parent', ...fsArgs];
        const r = await runsOk(bwrapPath, [...args, '--bind', dir, dir, '--chdir', dir, '--', sh, '-c', 'touch ok']);
        if (r.ok && existsFile(path.join(dir, 'ok'))) {
          bwrap = { path: bwrapPath, args: ['--unshare-pid', '--die-with-parent', ...fsArgs] };
          break;
        }
        notes.push(`bwrap ${fsArgs.join(' ')} failed: ${r.detail}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else notes.push('bwrap not found');

  return { prlimit, unshareNet, ip: findExecutable('ip'), bwrap, notes };
}

function existsFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

let cached: Promise<IsolationCapabilities> | undefined;

/** Probes once per process; later calls share the result. */
export function probeIsolation(): Promise<IsolationCapabilities> {
  cached ??= probe();
  return cached;
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
  cwd: string;
  timeoutMs: number;
  network: 'off' | 'on';
  limits: SandboxLimits;
  writablePaths: readonly string[];
}

export interface WrappedCommand {
  file: string;
  args: string[];
  /** Variables to add to the child's environment. */
  env: Record<string, string>;
  isolation: IsolationReport;
}

/** Builds the argv that runs `command` under what `caps` offers. */
export function wrapCommand(opts: WrapOptions, caps: IsolationCapabilities): WrappedCommand {
  const isolation: IsolationReport = { network: 'none', limits: 'none', filesystem: 'cwd-only' };
  const env: Record<string, string> = {};
  const lines = ['exec 2>&1']; // one stream: stdout and stderr interleave in order
  let argv: string[] = [];

  if (caps.bwrap) {
    const binds = [opts.cwd, ...opts.writablePaths].flatMap((p) => ['--bind', p, p]);
    argv = [caps.bwrap.path, ...(opts.network === 'off' ? ['--unshare-net'] : []), ...caps.bwrap.args, ...binds, '--chdir', opts.cwd, '--'];
    isolation.filesystem = 'bwrap';
    if (opts.network === 'off') isolation.network = 'namespace'; // bwrap brings loopback up itself
    // HOME is read-only in here: point caches at the private /tmp so npm, go, pip still work.
    env.XDG_CACHE_HOME = '/tmp/.cache';
    env.npm_config_cache = '/tmp/.npm';
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
  return { file: argv[0]!, args: argv.slice(1), env, isolation };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
