/**
 * What the task changed in its worktree, relative to the commit it forked from.
 * Untracked (not ignored) files are included by staging into a temporary index that starts as
 * HEAD's tree, so the worktree's real index is never touched.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { describeHits, type NamedSecret, type SecretHit } from '../core/secret-scan.js';
import { assertNotOption, git, revParse, worktreeRecord, type GitOptions } from './git.js';
import { scanChanges, scannerFor } from './secret-guard.js';

export interface WorktreeDiff {
  /** `git diff --binary` text (applies with `git apply`); empty when nothing changed. */
  patch: string;
  /** `git diff --stat` summary. */
  stat: string;
  /** Changed paths (new names for renames), sorted. */
  files: string[];
  /**
   * Known secrets found in the changes (see secret-guard.ts). When not empty, `patch` is a
   * redacted note instead of the diff, so the secret is never written into a record.
   */
  secrets: SecretHit[];
  /**
   * With `keepIndex`: the SHA-256 of the index these changes were staged in, kept as
   * `stagedIndexPath(worktree)` so the commit can be made of exactly what this diff shows.
   * Absent when nothing was kept (no changes, a secret, or not a worktree of prepareWorktree).
   */
  index?: string;
}

/**
 * Where a final diff's index is kept: in the worktree's admin directory inside the mirror, beside
 * git's own `index`. A sandboxed command sees that directory read-only (bwrap-args.ts), so no
 * test can rewrite it; the digest recorded with the diff covers any other change.
 */
export function stagedIndexPath(worktreePath: string): string | undefined {
  const rec = worktreeRecord(worktreePath);
  return rec ? join(rec.gitDir, KEPT_INDEX) : undefined;
}
const KEPT_INDEX = 'orchestra-staged-index';

/** SHA-256 of a kept index's bytes, or undefined when it cannot be read. */
export async function indexDigest(path: string): Promise<string | undefined> {
  const bytes = await readFile(path).catch(() => undefined);
  return bytes && createHash('sha256').update(bytes).digest('hex');
}

/**
 * Options that keep user diff configuration (external tools, textconv, colour) out of our output.
 * Submodules: only their commits are compared (a gitlink the task adds must show, to be refused).
 */
const DIFF_FLAGS = ['--no-color', '--no-ext-diff', '--no-textconv', '--ignore-submodules=dirty'];

/**
 * Stages the whole worktree into a fresh temporary index, so the worktree's real index is never
 * touched. The index starts as HEAD's tree (`read-tree`: entries without stat data), so every
 * file is hashed (a copied stat cache can call a same-size edit made within the checkout's second
 * unchanged: seen as an executor "finishing without changes" about one run in five), and what
 * HEAD tracks stays tracked: files matching an ignore rule, submodules not checked out, and
 * files committed with CRLF under `text=auto` (git leaves a file's line endings alone when its
 * indexed blob has CR). An index built from nothing dropped the first two and rewrote the third.
 */
async function withTempIndex<T>(worktreePath: string, fn: (opts: GitOptions, indexFile: string) => Promise<T>, dir = tmpdir()): Promise<T> {
  const tmpIndex = join(dir, `orchestra-index-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const opts: GitOptions = { env: { GIT_INDEX_FILE: tmpIndex } };
    await git(worktreePath, ['read-tree', 'HEAD'], opts).catch(async (err: unknown) => {
      if (await revParse(worktreePath, 'HEAD')) throw err; // only an unborn branch has nothing to start from
    });
    await git(worktreePath, ['add', '-A'], opts);
    return await fn(opts, tmpIndex);
  } finally {
    await rm(tmpIndex, { force: true });
  }
}

/**
 * Refuses staged changes that add or move a gitlink (a nested repository or a `.git` file inside
 * the worktree, as `git add -A` records them): git would run commands inside such a repository
 * with its own config (filters, fsmonitor) on later status calls, and a submodule is never what a
 * task is meant to publish. Compares the index (`gopts`' index, or the worktree's) with `base`
 * and returns the changed paths, so a caller needs no second diff for the file list or to know
 * whether anything is staged.
 */
export async function assertNoNestedRepos(worktreePath: string, base: string, gopts: GitOptions = {}): Promise<string[]> {
  const raw = await git(worktreePath, ['diff', '--cached', '--raw', '-z', '--no-renames', '--ignore-submodules=dirty', '--no-ext-diff', base, '--'], gopts);
  return refuseNested(parseRaw(raw).entries);
}

interface RawEntry { newMode: string; newSha: string; /** The new name (the old one too for a rename or copy, first). */ paths: string[] }

/**
 * Parses `git diff --raw -z` entries (`:<mode> <mode> <sha> <sha> <status>\0<path>\0`, two paths
 * for a rename or copy) from the start of `out`; `rest` is what follows them (with `--stat -p`:
 * the stat, a NUL, then the patch).
 */
export function parseRaw(out: string): { entries: RawEntry[]; rest: string } {
  const entries: RawEntry[] = [];
  let at = 0;
  while (out.startsWith(':', at)) {
    const end = out.indexOf('\0', at);
    if (end < 0) break;
    const [, newMode = '', , newSha = '', status = ''] = out.slice(at + 1, end).split(' ');
    const count = /^[RC]/.test(status) ? 2 : 1;
    const paths: string[] = [];
    at = end + 1;
    for (let k = 0; k < count; k++) {
      const stop = out.indexOf('\0', at);
      if (stop < 0) throw new OrchestraError('GIT_ERROR', 'git diff --raw output ended inside an entry');
      paths.push(out.slice(at, stop));
      at = stop + 1;
    }
    entries.push({ newMode, newSha, paths });
  }
  return { entries, rest: out.slice(at) };
}

/** The changed paths (new names), or PUSH_REFUSED when an entry adds or moves a gitlink. */
function refuseNested(entries: readonly RawEntry[]): string[] {
  const nested = entries.filter((e) => e.newMode === '160000' && !/^0+$/.test(e.newSha)).map((e) => e.paths[e.paths.length - 1]!);
  if (nested.length > 0) {
    throw new OrchestraError('PUSH_REFUSED', `the changes hold a nested git repository (${nested.slice(0, 3).join(', ')}${nested.length > 3 ? ', ...' : ''}): a .git inside the worktree is never committed; remove it`, { paths: nested.slice(0, 20) });
  }
  return entries.map((e) => e.paths[e.paths.length - 1]!);
}

/** What a diff record holds instead of a diff that contains a secret. */
export function withheldDiffNote(hits: readonly SecretHit[]): string {
  return `# This diff is withheld: it contains a secret (${describeHits(hits)}).\n# Nothing containing it is committed or pushed.\n`;
}

/**
 * Everything in the worktree (committed, staged, unstaged, untracked) versus `baseCommit`.
 * The changes are scanned for known secrets first; with a hit, `patch` is a redacted note.
 * Three git processes (four with secrets to scan): HEAD's tree read into a temporary index, `add -A`
 * into it, and one diff that gives the raw entries (nested repositories, the file list), the stat and the binary patch.
 * With `keepIndex`, an index with changes, no nested repository and no secret is kept (see
 * `index`): the publisher then commits it without staging and checking the worktree again.
 */
export async function diffAgainstBase(worktreePath: string, baseCommit: string, opts: { secrets?: readonly NamedSecret[]; keepIndex?: boolean } = {}): Promise<WorktreeDiff> {
  assertNotOption(baseCommit, 'Base commit');
  const scanner = scannerFor(opts.secrets);
  const keptAt = opts.keepIndex ? stagedIndexPath(worktreePath) : undefined;
  if (keptAt) await rm(keptAt, { force: true }); // an older diff's index never stands for this one
  return withTempIndex(worktreePath, async (gopts, indexFile) => {
    const out = await git(worktreePath, ['diff', '--cached', '--raw', '--stat', '--patch', '--binary', '-z', ...DIFF_FLAGS, baseCommit, '--'], gopts).catch(async (err: unknown) => {
      // Only a failed diff is looked into: a base that is not a commit here is NOT_FOUND.
      if (err instanceof OrchestraError && err.code === 'GIT_ERROR' && !(await revParse(worktreePath, baseCommit))) {
        throw new OrchestraError('NOT_FOUND', `Base commit ${baseCommit} not found in ${worktreePath}`);
      }
      throw err;
    });
    const { entries, rest } = parseRaw(out);
    const files = refuseNested(entries).map((f) => scanner.redact(f)).sort();
    const secrets = await scanChanges(worktreePath, baseCommit, undefined, scanner, gopts);
    // With -z the stat ends with a NUL; the patch follows it.
    const cut = rest.indexOf('\0');
    const stat = (cut < 0 ? rest : rest.slice(0, cut)).trimEnd();
    const patch = cut < 0 ? '' : rest.slice(cut + 1);
    const index = keptAt && files.length > 0 && secrets.length === 0 ? await keep(indexFile, keptAt) : undefined;
    return { patch: secrets.length > 0 ? withheldDiffNote(secrets) : patch, stat: scanner.redact(stat), files, secrets, ...(index ? { index } : {}) };
  }, keptAt ? dirname(keptAt) : undefined);
}

/** Moves the temporary index to `keptAt` (same directory, so one rename) and returns its digest. */
async function keep(indexFile: string, keptAt: string): Promise<string | undefined> {
  const digest = await indexDigest(indexFile);
  if (!digest) return undefined;
  return rename(indexFile, keptAt).then(() => digest, () => undefined);
}

/** Uncommitted changes in the worktree, untracked files included (ignored files excluded). */
export async function hasChanges(worktreePath: string): Promise<boolean> {
  // Never looks inside nested repositories: git would run their config (filters) as ours.
  const out = await git(worktreePath, ['status', '--porcelain=v1', '--untracked-files=all', '--ignore-submodules=all']);
  return out.trim().length > 0;
}
