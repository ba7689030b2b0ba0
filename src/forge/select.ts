/**
 * Which forge (if any) a push remote's task branches get their pull requests on: config `forge`
 * plus the token from the environment. Pure apart from reading the env it is given.
 * No forge configured, `auto` on a host that is neither github.com nor gitlab.com, no repo to
 * name, or no token: `undefined` with the reason, never an error (the branch link stays the link).
 */
import type { ForgeConfig } from '../core/forge-config.js';
import { forgeTokenEnv } from '../core/environment.js';
import { createGitHubForge } from './github.js';
import { createGitLabForge } from './gitlab.js';
import type { Forge } from './types.js';

/** Host and repository path of a remote URL (https, ssh or scp-like `git@host:o/r.git`), or undefined. */
export function remoteRepo(remote: string | undefined): { host: string; path: string } | undefined {
  if (!remote) return undefined;
  const url = remote.trim();
  const scp = /^(?:[^@/\s]+@)?([A-Za-z0-9.-]+):(?!\/\/)([^\s]+)$/.exec(url);
  let host: string;
  let path: string;
  if (scp && !url.includes('://')) {
    host = scp[1]!;
    path = scp[2]!;
  } else {
    try {
      const u = new URL(url);
      if (!['https:', 'http:', 'ssh:', 'git:'].includes(u.protocol) || !u.hostname) return undefined;
      host = u.hostname;
      path = decodeURIComponent(u.pathname);
    } catch {
      return undefined;
    }
  }
  path = path.replace(/^\/+|\/+$/g, '').replace(/\.git$/i, '');
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/.test(path) || path.split('/').some((s) => s === '..' || s === '.')) return undefined;
  return { host: host.toLowerCase(), path };
}

export type ForgeChoice = { forge: Forge } | { forge?: undefined; reason: string };

export function selectForge(config: ForgeConfig, opts: { pushRemote?: string; env?: NodeJS.ProcessEnv } = {}): ForgeChoice {
  if (config.kind === 'none') return { reason: 'no forge is configured' };
  const remote = remoteRepo(opts.pushRemote);
  const kind = config.kind !== 'auto' ? config.kind : remote?.host === 'github.com' ? 'github' : remote?.host === 'gitlab.com' ? 'gitlab' : undefined;
  if (!kind) return { reason: 'forge.kind is auto and the push remote is on neither github.com nor gitlab.com' };
  const repo = config.repo ?? remote?.path;
  if (!repo) return { reason: 'forge.repo is not set and the push remote names no repository' };
  const token = forgeTokenEnv(kind, opts.env);
  if (!token) return { reason: `${kind === 'github' ? 'GITHUB_TOKEN' : 'GITLAB_TOKEN'} is not set` };
  const settings = { repo, token, bot: config.bot, ...(config.apiBase ? { apiBase: config.apiBase } : {}) };
  return { forge: kind === 'github' ? createGitHubForge(settings) : createGitLabForge(settings) };
}
