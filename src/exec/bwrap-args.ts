/**
 * The bubblewrap arguments for one run: namespaces, and a filesystem view that holds only what the
 * command needs. The new root is an empty tmpfs; only what is listed here appears in it:
 * - SYSTEM_DIRS read-only (those that exist; a symlink such as /bin -> usr/bin stays a symlink);
 * - /dev (bwrap's minimal one), /proc of the command's own PID namespace (or no /proc at all when
 *   `proc` is false: never the host's), a private /tmp (mode 1777);
 * - `readOnly` paths read-only (node's install prefix, `sandbox.readPaths`);
 * - the working directory read-write, its `.git` read-only over itself, the gitdir and the shared
 *   repository it points to read-only, with the repository's other worktrees' metadata hidden;
 * - `writable` paths read-write.
 *
 * Invariants:
 * - Mounts are ordered parent before child (by path depth, a tmpfs before a bind at equal depth), so
 *   a tmpfs never covers a bind made for a path beneath it, and `.git` is bound read-only after
 *   (over) the read-write working directory.
 * - A `hide` path (e.g. $HOME, the workspace) that would be visible through a bound directory is
 *   covered by an empty tmpfs; one that is not under any bound directory is absent anyway.
 * - When the command runs as another user (`otherUser`, i.e. Orchestra is root), a visible
 *   ancestor of a bound path that others cannot traverse (no o+x, e.g. /root 0700) is replaced by
 *   an empty tmpfs, so the bound path beneath it stays reachable without exposing its siblings.
 * - Every bound path is absolute and real; missing `readOnly`/`writable` paths are skipped.
 */
import { accessSync, constants, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { gitPathsOf } from './git-paths.js';

/** Read-only system directories of the view (bound when present). */
export const SYSTEM_DIRS: readonly string[] = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt'];

export interface MountPlan {
  /** The working directory (absolute, real), bound read-write. */
  cwd: string;
  writable: readonly string[];
  readOnly: readonly string[];
  hide: readonly string[];
  network: 'off' | 'on';
  proc: boolean;
  /** The command runs as a uid other than Orchestra's (so traversal rests on o+x). */
  otherUser: boolean;
}

interface Mount {
  dest: string;
  /** 0 = tmpfs, 1 = directory, 2 = bind: at equal depth a tmpfs goes first. */
  rank: number;
  args: string[];
}

const depth = (p: string) => (p === '/' ? 0 : p.split('/').length - 1);
const under = (p: string, dir: string) => p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);
const strictlyUnder = (p: string, dir: string) => p !== dir && under(p, dir);

function realOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

function traversable(dir: string, otherUser: boolean): boolean {
  try {
    if (otherUser) return (statSync(dir).mode & 0o001) !== 0;
    accessSync(dir, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Namespace and mount arguments (everything between `bwrap` and `--`). */
export function bwrapArgs(plan: MountPlan): string[] {
  const args = ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--die-with-parent', '--new-session'];
  if (plan.network === 'off') args.push('--unshare-net'); // bwrap brings loopback up itself
  const visible: string[] = []; // host directories shown with their content, at their own path
  for (const dir of SYSTEM_DIRS) {
    let st;
    try {
      st = lstatSync(dir);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
    else if (st.isDirectory()) {
      args.push('--ro-bind', dir, dir);
      visible.push(dir);
    }
  }
  args.push('--dev', '/dev');
  if (plan.proc) args.push('--proc', '/proc');
  args.push('--perms', '1777', '--tmpfs', '/tmp');

  const mounts: Mount[] = [];
  const binds: string[] = [];
  const tmpfs: string[] = [];
  const bind = (flag: '--ro-bind' | '--bind', p: string) => {
    mounts.push({ dest: p, rank: 2, args: [flag, p, p] });
    visible.push(p);
    binds.push(p);
  };
  const cover = (p: string) => {
    if (tmpfs.includes(p)) return;
    mounts.push({ dest: p, rank: 0, args: ['--tmpfs', p] });
    tmpfs.push(p);
  };

  const shownBySystemDir = (r: string) =>
    visible.some((v) => under(r, v) && !plan.hide.some((h) => strictlyUnder(h, v) && under(r, h)));
  for (const p of plan.readOnly) {
    const r = realOrNull(p);
    if (r && r !== '/' && !shownBySystemDir(r)) bind('--ro-bind', r);
  }
  bind('--bind', plan.cwd);
  for (const p of plan.writable) {
    const r = realOrNull(p);
    if (r && r !== '/') bind('--bind', r);
  }
  const git = gitPathsOf(plan.cwd);
  if (git.commonDir) bind('--ro-bind', git.commonDir);
  if (git.gitDir && git.gitDir !== git.commonDir) {
    const others = git.commonDir ? path.join(git.commonDir, 'worktrees') : null;
    if (others && strictlyUnder(git.gitDir, others)) cover(others); // other tasks' HEAD, index, logs
    bind('--ro-bind', git.gitDir);
  }
  if (git.dotGit) bind('--ro-bind', git.dotGit);

  const isVisible = (p: string) => visible.some((v) => strictlyUnder(p, v)) && !tmpfs.some((t) => under(p, t));
  for (const h of plan.hide) {
    const r = realOrNull(h);
    if (!r || r === '/' || SYSTEM_DIRS.some((s) => under(s, r)) || visible.includes(r)) continue;
    if (isVisible(r)) cover(r);
  }
  for (const p of binds) {
    const ancestors: string[] = [];
    for (let a = path.dirname(p); a !== '/'; a = path.dirname(a)) ancestors.unshift(a);
    for (const a of ancestors) {
      // Shallowest first: the topmost one that blocks is covered, bwrap recreates the rest.
      if (tmpfs.some((t) => under(a, t))) break; // beneath a tmpfs: bwrap creates it, mode 0755
      if (isVisible(a) && !traversable(a, plan.otherUser)) {
        cover(a);
        break;
      }
    }
  }

  // bwrap creates missing mount points' parents with mode 0700, which an unprivileged command
  // could not traverse: create them first, 0555, wherever they do not exist in the view.
  const containers = [...visible.map((v) => ({ p: v, shows: true })), ...tmpfs.map((t) => ({ p: t, shows: false })), { p: '/tmp', shows: false }];
  const existsInView = (a: string) => {
    let best: { p: string; shows: boolean } | undefined;
    for (const c of containers) if (under(a, c.p) && (!best || c.p.length > best.p.length)) best = c;
    return best !== undefined && (best.shows || best.p === a);
  };
  for (const p of [...binds, ...tmpfs]) {
    for (let a = path.dirname(p); a !== '/'; a = path.dirname(a)) {
      if (!existsInView(a)) mounts.push({ dest: a, rank: 1, args: ['--perms', '0555', '--dir', a] });
    }
  }

  const seen = new Set<string>();
  mounts
    .map((m, i) => ({ m, i }))
    .sort((x, y) => depth(x.m.dest) - depth(y.m.dest) || x.m.rank - y.m.rank || x.i - y.i)
    .forEach(({ m }) => {
      const key = m.args.join('\0');
      if (seen.has(key)) return;
      seen.add(key);
      args.push(...m.args);
    });
  args.push('--chdir', plan.cwd);
  return args;
}
