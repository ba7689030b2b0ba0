/**
 * A link a person can open to see a pushed branch. Pure: no I/O beyond path resolution.
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redactUrl } from './repo-source.js';

type Forge = 'github' | 'gitlab' | 'bitbucket';

interface ParsedRemote {
  /** `https` or `http` for the web UI. */
  scheme: string;
  /** Host for the web UI (with port only for http(s) remotes). */
  host: string;
  /** Repository path without leading/trailing slashes and without `.git`. */
  repoPath: string;
}

function forgeOf(host: string): Forge | undefined {
  const h = host.toLowerCase();
  if (h.includes('github')) return 'github';
  if (h.includes('gitlab')) return 'gitlab';
  if (h.includes('bitbucket')) return 'bitbucket';
  return undefined;
}

function cleanRepoPath(p: string): string {
  return p.replace(/^\/+/, '').replace(/\/+$/, '').replace(/\.git$/i, '').replace(/^~/, '');
}

function parseRemote(url: string): ParsedRemote | undefined {
  const scp = /^(?:[^@/\s]+@)?([A-Za-z0-9.-]+):(?!\/\/)(.+)$/.exec(url);
  if (scp && !/^[A-Za-z]:[\\/]/.test(url)) {
    return { scheme: 'https', host: scp[1]!.toLowerCase(), repoPath: cleanRepoPath(scp[2]!) };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const proto = u.protocol.replace(/:$/, '').toLowerCase();
  if (!['http', 'https', 'ssh', 'git', 'git+ssh', 'ssh+git'].includes(proto) || !u.hostname) return undefined;
  const web = proto === 'http' || proto === 'https';
  return {
    scheme: proto === 'http' ? 'http' : 'https',
    host: (web ? u.host : u.hostname).toLowerCase(),
    repoPath: cleanRepoPath(decodeURIComponent(u.pathname)),
  };
}

function encodeBranch(branch: string): string {
  return branch.split('/').map(encodeURIComponent).join('/');
}

/**
 * GitHub `https://github.com/o/r/tree/<branch>`, GitLab `https://gitlab.com/g/sub/r/-/tree/<branch>`,
 * Bitbucket `https://bitbucket.org/o/r/branch/<branch>` (https, ssh and scp-like remotes, and
 * self-hosted hosts whose name contains github/gitlab/bitbucket); a local path or file:// remote
 * → `<absolute path>#<branch>`; anything else → `<url>#<branch>`.
 */
export function branchLink(remoteUrl: string, branch: string): string {
  const url = remoteUrl.trim();
  if (/^file:/i.test(url)) {
    try {
      return `${fileURLToPath(url)}#${branch}`;
    } catch {
      return `${url}#${branch}`;
    }
  }
  const looksLikeUrl = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url);
  const parsed = looksLikeUrl || !isAbsolute(url) ? parseRemote(url) : undefined;
  if (!parsed) {
    if (!looksLikeUrl && !/^[^@/\s]+@[^:/\s]+:/.test(url)) return `${resolve(url)}#${branch}`;
    return `${redactUrl(url)}#${branch}`;
  }
  const forge = forgeOf(parsed.host);
  const base = `${parsed.scheme}://${parsed.host}/${parsed.repoPath}`;
  const b = encodeBranch(branch);
  switch (forge) {
    case 'github':
      return `${base}/tree/${b}`;
    case 'gitlab':
      return `${base}/-/tree/${b}`;
    case 'bitbucket':
      return `${base}/branch/${b}`;
    default:
      return `${redactUrl(url)}#${branch}`;
  }
}
