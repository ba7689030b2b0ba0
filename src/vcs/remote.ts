/**
 * Which remote a task branch is pushed to, and what a remote branch points at.
 */
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { redactCredentials } from '../core/redact.js';
import { assertNotOption, git, gitMaybe } from './git.js';
import { isRemoteUrl, redactUrl, transportOptions, type ResolvedRepo } from './repo-source.js';

const REMOTE_NAME_RE = /^[A-Za-z0-9._-]+$/;

/**
 * URL (or absolute path) that git would push to for a remote name, or null if no such remote.
 * Asked of git once per repository config: the answer is kept while the repository's `config`
 * file reads the same (a config with `include` directives is asked every time).
 */
export async function remoteUrlOf(cwd: string, name: string): Promise<string | null> {
  if (!REMOTE_NAME_RE.test(name)) return null;
  const key = `${resolve(cwd)}\0${name}`;
  const config = repoConfigText(cwd);
  const known = remoteUrls.get(key);
  if (config !== undefined && known?.config === config) return known.url;
  const url = await gitMaybe(cwd, ['remote', 'get-url', '--push', name]);
  if (config !== undefined && !/^\s*\[\s*include/im.test(config) && remoteUrls.size < 1_000) remoteUrls.set(key, { config, url });
  return url;
}
const remoteUrls = new Map<string, { config: string; url: string | null }>();

/** The text of the config file of the repository at `cwd` (its `.git/config`, or `config` of a bare one); undefined when neither is a plain file. */
function repoConfigText(cwd: string): string | undefined {
  for (const [file, beside] of [[join(cwd, '.git', 'config'), join(cwd, '.git', 'HEAD')], [join(cwd, 'config'), join(cwd, 'HEAD')]] as const) {
    try {
      if (statSync(file).isFile() && statSync(beside).isFile()) return readFileSync(file, 'utf8');
    } catch {
      // not this layout
    }
  }
  return undefined;
}

/**
 * Turns `remote` (a remote name, URL or local path) into something to hand to git directly:
 * names resolve to their push URL, relative paths become absolute (relative to `cwd`).
 */
export async function normalizeRemote(cwd: string, remote: string): Promise<string> {
  const r = remote.trim();
  if (!r) throw new OrchestraError('INVALID_INPUT', 'Remote is empty');
  assertNotOption(r, 'Remote');
  if (/^[A-Za-z0-9+.-]+::/.test(r)) throw new OrchestraError('INVALID_INPUT', `Git transport helpers are not allowed as remotes: ${r}`);
  if (isRemoteUrl(r)) return r;
  const byName = await remoteUrlOf(cwd, r);
  if (byName) return isRemoteUrl(byName) || isAbsolute(byName) ? byName : resolve(cwd, byName);
  if (REMOTE_NAME_RE.test(r) && !r.startsWith('.')) {
    throw new OrchestraError('NOT_FOUND', `No git remote named '${r}' in ${cwd}`, { remote: r });
  }
  return resolve(cwd, r);
}

/**
 * Where to push: the configured remote if given, else the repository's `origin` (push URL),
 * else the URL the repository was cloned from (URL-form repos).
 */
export async function resolvePushRemote(opts: {
  configured?: string;
  /** The target repository (from resolveRepo). */
  repo?: ResolvedRepo;
  /** A worktree or repo whose `origin` to use when nothing is configured. */
  cwd?: string;
}): Promise<string> {
  const cwd = opts.cwd ?? (opts.repo?.kind === 'path' ? opts.repo.source : undefined);
  if (opts.configured?.trim()) return normalizeRemote(cwd ?? process.cwd(), opts.configured);
  if (opts.repo?.kind === 'url') return opts.repo.source;
  if (cwd) {
    const origin = await remoteUrlOf(cwd, 'origin');
    if (origin) return isRemoteUrl(origin) || isAbsolute(origin) ? origin : resolve(cwd, origin);
  }
  throw new OrchestraError(
    'NOT_FOUND',
    `No remote to push to${opts.repo ? ` for ${opts.repo.spec}` : ''}: the repository has no 'origin'; configure a push remote`,
  );
}

/** Sha of `refs/heads/<branch>` on the remote (via `git ls-remote`), or null if absent. */
export async function remoteBranchSha(remoteUrl: string, branch: string, cwd: string = process.cwd()): Promise<string | null> {
  assertNotOption(remoteUrl, 'Remote');
  const ref = `refs/heads/${branch.replace(/^refs\/heads\//, '')}`;
  const target = isRemoteUrl(remoteUrl) || isAbsolute(remoteUrl) ? remoteUrl : resolve(cwd, remoteUrl);
  let out: string;
  try {
    out = await git(cwd, ['ls-remote', '--heads', '--', target, ref], transportOptions(target));
  } catch (err) {
    if (err instanceof OrchestraError) {
      throw new OrchestraError('GIT_ERROR', `Cannot read branches of ${redactUrl(target)}: ${redactCredentials(err.message)}`, err.details);
    }
    throw err;
  }
  for (const line of out.split('\n')) {
    const [sha, name] = line.trim().split(/\s+/);
    if (name === ref && sha) return sha;
  }
  return null;
}
