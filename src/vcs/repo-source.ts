/**
 * Where the target repository comes from: a configured name, a local path or a git URL;
 * and a local bare mirror of it in the workspace's repo cache (for a path as for a URL).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, realpathSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { isOrchestraError, OrchestraError } from '../core/errors.js';
import { writeAtomicIfDifferent } from '../core/fsutil.js';
import { assertNotOption, git, gitLine, gitMaybe, refExists, type GitOptions } from './git.js';
import { redactUrlCredentials } from '../core/redact.js';

export type RepoKind = 'path' | 'url';

export interface ResolvedRepo {
  /** What the task said (a name, path or URL). */
  spec: string;
  /** Absolute path of the repository (work tree root, or git dir for a bare repo), or a URL. */
  source: string;
  kind: RepoKind;
}

/** Config key set on mirrors made by ensureMirror: their remote-tracking refs are the fresh ones. */
export const MIRROR_MARKER = 'orchestra.mirror';

const URL_SCHEMES = new Set(['http', 'https', 'ssh', 'git', 'file', 'git+ssh', 'ssh+git']);

/** True for `scheme://...` and scp-like `user@host:path`. */
export function isRemoteUrl(spec: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(spec) || /^[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:(?!\/\/)/.test(spec);
}

function validateUrl(url: string): void {
  assertNotOption(url, 'Repository URL');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined && !URL_SCHEMES.has(scheme)) {
    throw new OrchestraError('INVALID_INPUT', `Unsupported repository URL scheme '${scheme}': ${url}`);
  }
  if (/\s/.test(url)) throw new OrchestraError('INVALID_INPUT', `Repository URL contains whitespace: ${url}`);
}

function expandHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return p;
}

/**
 * Turns a task's `repo` into a validated source. Named entries (config `repos`) win over paths.
 * Local paths must be the root of a git repository (or a bare repository).
 */
export async function resolveRepo(
  spec: string,
  named: Record<string, string> = {},
  opts: { cwd?: string } = {},
): Promise<ResolvedRepo> {
  const trimmed = (spec ?? '').trim();
  if (!trimmed) throw new OrchestraError('INVALID_INPUT', 'No repository given: set `repo` to a path, URL or configured name');
  const target = Object.hasOwn(named, trimmed) ? named[trimmed]!.trim() : trimmed;
  const viaName = target !== trimmed || Object.hasOwn(named, trimmed);

  if (/^[A-Za-z0-9+.-]+::/.test(target)) {
    throw new OrchestraError('INVALID_INPUT', `Git transport helpers (<transport>::) are not allowed: ${target}`);
  }
  if (isRemoteUrl(target)) {
    validateUrl(target);
    return { spec: trimmed, source: target, kind: 'url' };
  }

  assertNotOption(target, 'Repository path');
  const abs = resolve(opts.cwd ?? process.cwd(), expandHome(target));
  if (!existsSync(abs)) {
    const looksLikeName = !viaName && !/[\\/]/.test(target) && !target.startsWith('.') && !target.startsWith('~');
    const known = Object.keys(named);
    throw new OrchestraError(
      'NOT_FOUND',
      looksLikeName
        ? `Unknown repository '${trimmed}': not a configured name (${known.length ? `known: ${known.join(', ')}` : 'no repos configured'}) and no such path`
        : `Repository path does not exist: ${abs}${viaName ? ` (configured as '${trimmed}')` : ''}`,
      { spec: trimmed, path: abs },
    );
  }
  if (!statSync(abs).isDirectory()) {
    throw new OrchestraError('INVALID_INPUT', `Repository path is not a directory: ${abs}`, { spec: trimmed });
  }
  const real = realpathSync(abs);
  const print = repoPrint(real);
  if (print && validatedRoots.get(real) === print) return { spec: trimmed, source: real, kind: 'path' };
  const bare = await gitMaybe(real, ['rev-parse', '--is-bare-repository']);
  if (bare === null) {
    throw new OrchestraError('INVALID_INPUT', `Not a git repository: ${abs}`, { spec: trimmed });
  }
  let root: string;
  if (bare === 'true') {
    root = realpathSync(resolve(real, await gitLine(real, ['rev-parse', '--git-dir'])));
  } else {
    const top = await gitMaybe(real, ['rev-parse', '--show-toplevel']);
    if (!top) throw new OrchestraError('INVALID_INPUT', `Not inside a git work tree: ${abs}`, { spec: trimmed });
    root = realpathSync(top);
  }
  if (root !== real) {
    throw new OrchestraError(
      'INVALID_INPUT',
      `${abs} is not the root of a git repository (it is inside ${root}); pass the repository root`,
      { spec: trimmed, root },
    );
  }
  if (print) validatedRoots.set(real, print);
  return { spec: trimmed, source: real, kind: 'path' };
}

/**
 * Repository roots this process has validated, with the print they had then: a task's repository
 * is resolved at intake and by each step, and the check costs two git processes. A changed print
 * (the directory or its `.git` replaced or touched) validates again.
 */
const validatedRoots = new Map<string, string>();

function repoPrint(dir: string): string | undefined {
  try {
    const d = statSync(dir);
    const dotGit = lstatSync(join(dir, '.git'), { throwIfNoEntry: false });
    return `${d.dev}:${d.ino}:${d.mtimeMs}:${dotGit ? `${dotGit.ino}:${dotGit.mtimeMs}` : '-'}`;
  } catch {
    return undefined;
  }
}

/** Drops `user:password@` from a URL so it can be logged or shown (core/redact.ts: one rule for every URL). */
export function redactUrl(url: string): string {
  return redactUrlCredentials(url);
}

/** Stable, filesystem-safe directory name for a URL's mirror. */
export function mirrorDirName(url: string): string {
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 10);
  const readable = redactUrl(url)
    .replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, '')
    .replace(/^[^@/]+@/, '')
    .replace(/\.git\/?$/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(-60);
  return `${readable || 'repo'}-${hash}`;
}

/** Config key set on mirrors made by ensureMirror: `path` or `url`, the kind of their source. */
export const MIRROR_SOURCE_KIND = 'orchestra.source';

/** Refspecs of a mirror: the source's branches, and (for a local repo) its origin's branches. */
function mirrorRefspecs(kind: RepoKind): string[] {
  return kind === 'path'
    ? ['+refs/heads/*:refs/remotes/origin/*', '+refs/remotes/origin/*:refs/remotes/origin-tracking/*']
    : ['+refs/heads/*:refs/remotes/origin/*'];
}

/** A git config string value, quoted. Newlines and NULs cannot be represented: refused. */
function configValue(v: string): string {
  if (/[\n\r\0]/.test(v)) throw new OrchestraError('INVALID_INPUT', 'Repository source contains a line break');
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** True for a source git reaches through the `file` transport (a path or file:// URL). */
export function usesFileTransport(source: string): boolean {
  return !isRemoteUrl(source) || /^file:/i.test(source);
}

/**
 * Runner options for talking to `remote`: a local one (path, file://) gets the `file` transport
 * and no user config; a network one may read the user's global config for credentials.
 */
export function transportOptions(remote: string): GitOptions {
  return usesFileTransport(remote) ? { allowFile: true, timeoutMs: 900_000 } : { network: true };
}

/** Paths the setup step creates in a worktree (installed trees, package-manager caches). */
export const SETUP_EXCLUDES: readonly string[] = ['/.orchestra-cache/', '/node_modules/', '/.venv/'];

/**
 * Makes the mirror's configuration ours again, whatever was written into it: the whole `config`
 * file is replaced (only the object format is carried over), and `info/attributes`,
 * `info/grafts` and `hooks/` are removed, and `info/exclude` lists SETUP_EXCLUDES. Nothing a test
 * wrote there survives to our next git call. A file that already holds exactly those bytes is
 * left as it is (compared, not rewritten: three seals per task made six inodes).
 */
export async function sealMirror(dir: string, repo: Pick<ResolvedRepo, 'source' | 'kind'>): Promise<void> {
  // A repository's object format never changes: read once per process (the rest is rewritten each time).
  const format = sealedMirrors.get(dir)?.format ?? (await gitMaybe(dir, ['config', '--file', join(dir, 'config'), '--get', 'extensions.objectformat'])) ?? '';
  if (format && format !== 'sha1' && format !== 'sha256') {
    throw new OrchestraError('WORKSPACE_DAMAGED', `Mirror ${dir} has an unknown object format; remove it and retry`, { dir });
  }
  const lines = [
    '[core]',
    `\trepositoryformatversion = ${format ? 1 : 0}`,
    '\tfilemode = true',
    '\tbare = true',
    ...(format ? ['[extensions]', `\tobjectformat = ${format}`] : []),
    '[remote "origin"]',
    // Without credentials: the mirror is readable inside the sandbox. Fetches pass the full URL.
    `\turl = ${configValue(redactUrl(repo.source))}`,
    ...mirrorRefspecs(repo.kind).map((r) => `\tfetch = ${r}`),
    '[orchestra]',
    '\tmirror = true',
    `\tsource = ${repo.kind}`,
    '',
  ];
  await writeAtomicIfDifferent(join(dir, 'config'), lines.join('\n'));
  for (const p of ['info/attributes', 'info/grafts', 'hooks']) await rm(join(dir, p), { recursive: true, force: true });
  // What the setup step creates in a worktree is never committed (tracked files are unaffected).
  await mkdir(join(dir, 'info'), { recursive: true });
  await writeAtomicIfDifferent(join(dir, 'info', 'exclude'), SETUP_EXCLUDES.map((p) => `${p}\n`).join(''));
  sealedMirrors.set(dir, { format, origin: redactUrl(repo.source), kind: repo.kind });
}

/**
 * Mirrors this process sealed, with what it wrote into them. Only this process's git calls and
 * sandboxed commands (which see the mirror read-only) touch a mirror between two seals, so what
 * was written is what is there: later checks read it from here instead of spawning git.
 */
const sealedMirrors = new Map<string, { format: string; origin: string; kind: RepoKind }>();

/** True when this process sealed `dir` as a mirror (see sealMirror). */
export function isSealedMirror(dir: string): boolean {
  return sealedMirrors.has(dir);
}

/** What this process wrote into the mirror at `dir` when it sealed it (kind and origin of its source), if it did. */
export function sealedMirrorSource(dir: string): { kind: RepoKind; origin: string } | undefined {
  const sealed = sealedMirrors.get(dir);
  return sealed && { kind: sealed.kind, origin: sealed.origin };
}

/**
 * Local bare mirror to create worktrees from, for a URL and for a local path alike: cloned once
 * (bare, without templates: no hooks, a config we write) into `cacheDir/<safe-name>` and fetched
 * on every call; its fresh branches are `refs/remotes/origin/*`. The user's repository itself is
 * only ever read (cloned and fetched from), never written, and no worktree is made in it.
 * Concurrent calls for one mirror share git's work (see fetchOnce): one clone, and one fetch for
 * all the calls made while another fetch ran; each call still sees a fetch that began after it
 * was made.
 */
export async function ensureMirror(source: string | ResolvedRepo, cacheDir: string): Promise<string> {
  const repo: ResolvedRepo =
    typeof source === 'string'
      ? isRemoteUrl(source)
        ? { spec: source, source, kind: 'url' }
        : { spec: source, source: realpathSync(resolve(source)), kind: 'path' }
      : source;
  if (repo.kind === 'url') validateUrl(repo.source);
  else assertNotOption(repo.source, 'Repository path');
  const url = repo.source;
  const net = transportOptions(url);
  await mkdir(cacheDir, { recursive: true });
  const dir = join(realpathSync(resolve(cacheDir)), mirrorDirName(url));

  const cloning = clones.get(dir);
  if (cloning) return cloning;
  if (existsSync(dir)) {
    await checkMirrorOrigin(dir, url);
    await sealMirror(dir, repo);
    await fetchOnce(dir, () => fetchMirror(dir, repo, net));
    return dir;
  }
  const clone = cloneMirror(dir, repo, cacheDir, net).finally(() => clones.delete(dir));
  clones.set(dir, clone);
  return clone;
}

/** Mirrors being cloned by this process, by directory: a second task on the same repository waits for the first clone. */
const clones = new Map<string, Promise<string>>();
/** Per mirror: the fetch running now, and the one queued after it (shared by every call that arrives meanwhile). */
const runningFetches = new Map<string, Promise<void>>();
const queuedFetches = new Map<string, Promise<void>>();

/**
 * Runs `fetch` for `dir` so that it begins after this call was made, sharing it with the other
 * calls waiting for the same: at most one fetch per mirror runs at a time, plus one queued.
 */
function fetchOnce(dir: string, fetch: () => Promise<void>): Promise<void> {
  const queued = queuedFetches.get(dir);
  if (queued) return queued;
  const before = runningFetches.get(dir) ?? Promise.resolve();
  const next: Promise<void> = before
    .catch(() => undefined)
    .then(async () => {
      queuedFetches.delete(dir);
      runningFetches.set(dir, next);
      try {
        await fetch();
      } finally {
        if (runningFetches.get(dir) === next) runningFetches.delete(dir);
      }
    });
  queuedFetches.set(dir, next);
  return next;
}

async function cloneMirror(dir: string, repo: ResolvedRepo, cacheDir: string, net: GitOptions): Promise<string> {
  const url = repo.source;

  // Clone to a temporary name, then rename: a crash never leaves a half-made mirror at `dir`.
  const tmp = `${dir}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await git(cacheDir, ['clone', '--bare', '--quiet', '--template=', '--', url, tmp], net);
    await sealMirror(tmp, repo);
    await fetchMirror(tmp, repo, net);
    const head = await gitMaybe(tmp, ['symbolic-ref', '--quiet', 'HEAD']);
    if (head?.startsWith('refs/heads/')) {
      const remoteHead = `refs/remotes/origin/${head.slice('refs/heads/'.length)}`;
      if (await refExists(tmp, remoteHead)) {
        await git(tmp, ['symbolic-ref', 'refs/remotes/origin/HEAD', remoteHead]);
      }
    }
    try {
      await rename(tmp, dir);
      const sealed = sealedMirrors.get(tmp);
      sealedMirrors.delete(tmp);
      if (sealed) sealedMirrors.set(dir, sealed);
    } catch (err) {
      if (!existsSync(dir)) throw err; // someone else finished first: use theirs
      await rm(tmp, { recursive: true, force: true });
      await checkMirrorOrigin(dir, url);
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return dir;
}

/**
 * Fetches with the full source URL on the command line: credentials never sit in the mirror's
 * config. `git worktree add` writes a placeholder HEAD (all zeros) into the mirror's
 * `worktrees/<name>/` before the real one, and a fetch that checks the mirror's refs at that
 * moment fails with "bad object worktrees/<name>/HEAD" (or "failed to read" it, before it is
 * written): another task's worktree being made, not a problem of this fetch. Such a fetch is
 * tried again, a few times, a moment later.
 */
async function fetchMirror(dir: string, repo: Pick<ResolvedRepo, 'source' | 'kind'>, net: GitOptions): Promise<void> {
  const args = ['fetch', '--prune', '--quiet', '--', repo.source, ...mirrorRefspecs(repo.kind)];
  for (let attempt = 0; ; attempt++) {
    try {
      await git(dir, args, net);
      return;
    } catch (err) {
      if (attempt >= WORKTREE_RACE_RETRIES.length || !isWorktreeBeingAdded(err)) throw err;
      await new Promise((r) => setTimeout(r, WORKTREE_RACE_RETRIES[attempt]));
    }
  }
}

const WORKTREE_RACE_RETRIES = [50, 150, 400];

function isWorktreeBeingAdded(err: unknown): boolean {
  return isOrchestraError(err, 'GIT_ERROR') && /^fatal: (bad object|failed to read) worktrees\/[^/\s]+\/HEAD\b/m.test(String(err.details?.stderr ?? ''));
}

async function checkMirrorOrigin(dir: string, url: string): Promise<void> {
  const origin = sealedMirrors.get(dir)?.origin ?? (await gitMaybe(dir, ['config', '--file', join(dir, 'config'), '--get', 'remote.origin.url']));
  if (origin === null) {
    throw new OrchestraError('WORKSPACE_DAMAGED', `Mirror directory ${dir} is not a usable git repository; remove it and retry`, { dir });
  }
  if (origin !== url && origin !== redactUrl(url)) {
    throw new OrchestraError('CONFLICT', `Mirror directory ${dir} belongs to ${redactUrl(origin)}, not ${redactUrl(url)}`, { dir });
  }
}
