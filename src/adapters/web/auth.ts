import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { Actor } from '../../core/actor.js';
import { OrchestraError } from '../../core/errors.js';
import type { Workspace } from '../../core/workspace.js';
import { webTokenEnv } from '../../core/environment.js';

/** Cookies are shared by all ports of a host: the port in the name keeps two instances apart. */
export const sessionCookieName = (port: number) => `orchestra_web_${port}`;
const SESSION_MAX_AGE_S = 30 * 24 * 3600;

export type TokenSource = 'option' | 'env' | 'config' | 'file' | 'generated';

export function tokenFile(ws: Workspace): string {
  return join(ws.paths.runtime, 'web-token');
}

/**
 * The access token: given explicitly, from ORCHESTRA_WEB_TOKEN, from config `web.token`, or the
 * one stored in `.orchestra/web-token` (created at first start: 32 random bytes, hex, mode 0600).
 */
export async function resolveToken(ws: Workspace, explicit?: string): Promise<{ token: string; source: TokenSource }> {
  const given: Array<[string | undefined, TokenSource]> = [[explicit, 'option'], [webTokenEnv(), 'env'], [ws.config.web.token, 'config']];
  for (const [value, source] of given) {
    if (value === undefined || value === '') continue;
    if (!/^[\x21-\x7e]{8,512}$/.test(value)) throw new OrchestraError('INVALID_INPUT', `the web token (${source}) must be 8 to 512 printable characters without spaces`);
    return { token: value, source };
  }
  const path = tokenFile(ws);
  await fs.mkdir(ws.paths.runtime, { recursive: true });
  const fresh = randomBytes(32).toString('hex');
  try {
    await fs.writeFile(path, fresh + '\n', { mode: 0o600, flag: 'wx' });
    return { token: fresh, source: 'generated' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const stored = (await fs.readFile(path, 'utf8')).trim();
  if (!/^[\x21-\x7e]{8,512}$/.test(stored)) throw new OrchestraError('INVALID_INPUT', `${path} does not hold a usable token: delete it to get a new one`);
  await fs.chmod(path, 0o600).catch(() => undefined);
  return { token: stored, source: 'file' };
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time comparison (over digests, so lengths do not leak either). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Sessions are stateless: the cookie is `<id>.<hmac(token, id)>` and the CSRF token is another
 * HMAC of the id. They survive a restart and all die when the access token changes.
 */
export class Sessions {
  constructor(private readonly token: string) {}

  private mac(purpose: string, id: string): string {
    return createHmac('sha256', this.token).update(`${purpose}:${id}`).digest('base64url');
  }

  create(): { id: string; cookie: string } {
    const id = randomBytes(18).toString('base64url');
    return { id, cookie: `${id}.${this.mac('session', id)}` };
  }

  /** The session id of a valid cookie value, else undefined. */
  verify(cookie: string | undefined): string | undefined {
    if (!cookie) return undefined;
    const m = /^([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{20,128})$/.exec(cookie);
    if (!m) return undefined;
    return sameSecret(m[2]!, this.mac('session', m[1]!)) ? m[1] : undefined;
  }

  csrf(sessionId: string): string {
    return this.mac('csrf', sessionId);
  }

  checkCsrf(sessionId: string, given: string | undefined): boolean {
    return typeof given === 'string' && given.length > 0 && sameSecret(given, this.csrf(sessionId));
  }

  setCookieHeader(name: string, cookie: string): string {
    return `${name}=${cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MAX_AGE_S}`;
  }
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at < 1) continue;
    const name = part.slice(0, at).trim();
    if (!(name in out)) out[name] = part.slice(at + 1).trim();
  }
  return out;
}

export function bearerOf(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}


/** How a request proved it holds the token. */
export type Auth = { kind: 'session'; session: string } | { kind: 'bearer' };

/** The request's bearer token or session cookie, checked; undefined when it has neither valid. */
export function authenticate(req: IncomingMessage, token: string, sessions: Sessions, port: number): Auth | undefined {
  const bearer = bearerOf(req);
  if (bearer !== undefined) return sameSecret(bearer, token) ? { kind: 'bearer' } : undefined;
  const session = sessions.verify(parseCookies(req.headers.cookie)[sessionCookieName(port)]);
  return session ? { kind: 'session', session } : undefined;
}

/** Who the inbox files of an authenticated request are from. */
export function actorFor(base: Actor, auth: Auth): Actor {
  return { ...base, user: auth.kind === 'bearer' ? 'bearer' : `session-${auth.session.slice(0, 8)}` };
}
