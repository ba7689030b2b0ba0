import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { Auth, Sessions } from './auth.js';

/** Which requests come from where they should: the Host header, and Origin/Referer/CSRF token on writes. */
export const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

export const isWildcard = (host: string) => host === '0.0.0.0' || host === '::' || host === '';
/** The host as it appears in a URL (a wildcard reads as loopback, IPv6 in brackets). */
export const hostForUrl = (host: string) => (isWildcard(host) ? '127.0.0.1' : isIP(host) === 6 ? `[${host}]` : host);

export interface Listening { host: string; port: number; allowedHosts?: string[] }

/** Whether a Host header names this server (DNS rebinding defence). */
export function hostAllowed(header: string | undefined, at: Listening): boolean {
  if (!header) return false;
  const value = header.toLowerCase();
  const names = new Set([...LOOPBACK_NAMES, hostForUrl(at.host).toLowerCase(), ...(at.allowedHosts ?? []).map((h) => h.toLowerCase())]);
  for (const name of names) if (value === `${name}:${at.port}` || value === name) return true;
  if (isWildcard(at.host)) {
    // Listening on all interfaces was asked for: accept this machine's addresses and name.
    const m = /^(\[[0-9a-f:.]+\]|[^:]+)(?::(\d+))?$/.exec(value);
    if (!m || (m[2] !== undefined && Number(m[2]) !== at.port)) return false;
    const bare = m[1]!.replace(/^\[|\]$/g, '');
    return isIP(bare) !== 0 || bare === hostname().toLowerCase() || bare === `${hostname().toLowerCase()}.local`;
  }
  return false;
}

/** State-changing requests: same origin only, and a session must show its CSRF token. Returns why not, or undefined. */
export function crossSiteReason(req: IncomingMessage, auth: Auth, form: Record<string, string>, sessions: Sessions): string | undefined {
  const self = `http://${req.headers.host}`;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `cross-site request (${site})`;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    if (origin !== self) return `foreign origin ${origin}`;
  } else if (req.headers.referer !== undefined) {
    if (!req.headers.referer.startsWith(`${self}/`)) return 'foreign referer';
  }
  if (auth.kind === 'session') {
    const given = (req.headers['x-csrf-token'] as string | undefined) ?? form._csrf;
    if (!sessions.checkCsrf(auth.session, given)) return 'missing or wrong CSRF token';
  }
  return undefined;
}
