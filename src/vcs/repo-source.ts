/**
 * Where the target repository comes from: a configured name, a local path or a git URL;
 * and a local object source for it (the repo itself, or a cached bare mirror of a URL).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { assertNotOption, git, gitLine, gitMaybe, refExists } from './git.js';

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
  return { spec: trimmed, source: real, kind: 'path' };
}

/** Drops `user:password@` from a URL so it can be logged or shown. */
export function redactUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@]*@/, (_m, scheme: string) => scheme);
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

/**
 * Local repository to create worktrees from. A local path is used as is. A URL is cloned
 * once (bare) into `cacheDir/<safe-name>` and fetched on later calls; its fresh branches are
 * the remote-tracking refs `refs/remotes/origin/*`.
 */
export async function ensureMirror(source: string | ResolvedRepo, cacheDir: string): Promise<string> {
  const repo: ResolvedRepo =
    typeof source === 'string'
      ? isRemoteUrl(source)
        ? { spec: source, source, kind: 'url' }
        : { spec: source, source: resolve(source), kind: 'path' }
      : source;
  if (repo.kind === 'path') return repo.source;

  const url = repo.source;
  validateUrl(url);
  await mkdir(cacheDir, { recursive: true });
  const dir = join(resolve(cacheDir), mirrorDirName(url));

  if (existsSync(dir)) {
    await checkMirrorOrigin(dir, url);
    await git(dir, ['fetch', '--prune', '--quiet', 'origin'], { network: true });
    return dir;
  }

  // Clone to a temporary name, then rename: a crash never leaves a half-made mirror at `dir`.
  const tmp = `${dir}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await git(cacheDir, ['clone', '--bare', '--quiet', '--', url, tmp], { network: true });
    await git(tmp, ['config', 'remote.origin.fetch', '+refs/heads/*:refs/remotes/origin/*']);
    await git(tmp, ['config', MIRROR_MARKER, 'true']);
    await git(tmp, ['fetch', '--prune', '--quiet', 'origin'], { network: true });
    const head = await gitMaybe(tmp, ['symbolic-ref', '--quiet', 'HEAD']);
    if (head?.startsWith('refs/heads/')) {
      const remoteHead = `refs/remotes/origin/${head.slice('refs/heads/'.length)}`;
      if (await refExists(tmp, remoteHead)) {
        await git(tmp, ['symbolic-ref', 'refs/remotes/origin/HEAD', remoteHead]);
      }
    }
    try {
      await rename(tmp, dir);
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

async function checkMirrorOrigin(dir: string, url: string): Promise<void> {
  const origin = await gitMaybe(dir, ['config', '--get', 'remote.origin.url']);
  if (origin === null) {
    throw new OrchestraError('WORKSPACE_DAMAGED', `Mirror directory ${dir} is not a usable git repository; remove it and retry`, { dir });
  }
  if (origin !== url) {
    throw new OrchestraError('CONFLICT', `Mirror directory ${dir} belongs to ${redactUrl(origin)}, not ${redactUrl(url)}`, { dir });
  }
}
