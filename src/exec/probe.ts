import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { sandboxArgv } from './sandbox-argv.js';
import { grantDirectory, isRoot, sandboxUserFor } from './sandbox-user.js';
import os from 'node:os';
import path from 'node:path';

/** What this machine can do to confine a command: probed once per process (and per bwrap path). */
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

