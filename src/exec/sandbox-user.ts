/**
 * The unprivileged user a sandboxed command runs as when Orchestra itself runs as root.
 *
 * Why: the kernel exempts real uid 0 from RLIMIT_NPROC (and root ignores file permissions), so a
 * command left as root is not bound by `sandbox.processes`. It runs as a high uid instead.
 *
 * Invariants:
 * - The uid is a pure function of the directory's real path, in [SANDBOX_UID_MIN, SANDBOX_UID_MAX]:
 *   one task keeps its uid across runs; two tasks (almost surely) differ, so one task's processes
 *   never count against, or can signal, another's. gid = uid.
 * - grantDirectory never follows a symbolic link (lchown; it descends only into real
 *   directories) and never touches the top-level `.git` (file or directory).
 * - grantDirectory refuses a top-level directory and one that is, or holds, a system directory,
 *   node's prefix, the temp directory or $HOME (a caller bug must not hand /usr, /tmp or /root to
 *   the sandbox user).
 * - The directory itself keeps its owner (git refuses a worktree whose top directory another
 *   user owns): it only gets the sandbox group with group rwx. Everything beneath it is owned by
 *   the sandbox uid, so the command can edit and create files anywhere in it.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, lchownSync, lstatSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { SYSTEM_DIRS } from './bwrap-args.js';

export const SANDBOX_UID_MIN = 200_000;
export const SANDBOX_UID_MAX = 299_999;

export interface SandboxUser {
  uid: number;
  gid: number;
}

/** The uid/gid for commands run in `dir` (an absolute, real path). */
export function sandboxUserFor(dir: string): SandboxUser {
  const digest = createHash('sha256').update(dir).digest();
  const uid = SANDBOX_UID_MIN + (digest.readUInt32BE(0) % (SANDBOX_UID_MAX - SANDBOX_UID_MIN + 1));
  return { uid, gid: uid };
}

/** Makes `dir` writable for `user` (see the invariants above). Returns how many entries changed. */
export function grantDirectory(dir: string, user: SandboxUser): number {
  const protectedDirs = [...SYSTEM_DIRS, path.dirname(path.dirname(process.execPath)), os.homedir(), os.tmpdir()];
  const holds = (d: string) => d === dir || d.startsWith(dir === '/' ? '/' : `${dir}/`);
  const depth = dir.split('/').filter(Boolean).length;
  if (!path.isAbsolute(dir) || depth < 2 || protectedDirs.some(holds)) {
    throw new OrchestraError('INVALID_INPUT', `Refusing to run a command in ${dir}: it is a top-level directory, or is or contains a system directory, the temp directory or $HOME`, { dir });
  }
  let changed = 0;
  const top = lstatSync(dir);
  if (!top.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (top.gid !== user.gid) {
    chownSync(dir, top.uid, user.gid);
    changed++;
  }
  if ((top.mode & 0o070) !== 0o070) {
    chmodSync(dir, (top.mode & 0o7777) | 0o070);
    changed++;
  }
  const visit = (d: string, isTop: boolean) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (isTop && entry.name === '.git') continue;
      const full = path.join(d, entry.name);
      let st;
      try {
        st = lstatSync(full);
      } catch {
        continue; // vanished meanwhile
      }
      if (st.uid !== user.uid || st.gid !== user.gid) {
        lchownSync(full, user.uid, user.gid);
        changed++;
      }
      if (st.isDirectory()) visit(full, false);
    }
  };
  visit(dir, true);
  return changed;
}

/** Orchestra runs as root: commands then run as a per-worktree unprivileged uid. */
export const isRoot = (): boolean => process.getuid?.() === 0;
