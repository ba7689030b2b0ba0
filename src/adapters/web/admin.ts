import type { IncomingMessage } from 'node:http';
import { OrchestraError } from '../../core/errors.js';
import { webAdminTokenEnv } from '../../core/environment.js';
import { parseCookies, sameSecret, Sessions } from './auth.js';

/**
 * Who is the web's admin: whoever holds the admin token (option, else ORCHESTRA_WEB_ADMIN_TOKEN;
 * never config, which is committed). The admin token is a second secret on top of the access
 * token: an admin request is authenticated as usual and also proves the admin token, by the
 * `X-Orchestra-Admin-Token` header or by an admin session cookie, got once from
 * `/security?admin=<token>` (stateless like the access session: an HMAC under the admin token,
 * HttpOnly, SameSite=Strict). Without an admin token there is no admin and no Security view.
 */
export const ADMIN_HEADER = 'x-orchestra-admin-token';
export const adminCookieName = (port: number) => `orchestra_admin_${port}`;

export class AdminAccess {
  readonly sessions: Sessions;

  constructor(private readonly token: string) {
    this.sessions = new Sessions(token);
  }

  /** The admin token or nothing; refuses a weak or malformed one (INVALID_INPUT) and one equal to the access token. */
  static resolve(accessToken: string, explicit?: string): AdminAccess | undefined {
    const token = explicit ?? webAdminTokenEnv();
    if (token === undefined || token === '') return undefined;
    if (!/^[\x21-\x7e]{16,512}$/.test(token)) throw new OrchestraError('INVALID_INPUT', 'the web admin token (ORCHESTRA_WEB_ADMIN_TOKEN) must be 16 to 512 printable characters without spaces');
    if (sameSecret(token, accessToken)) throw new OrchestraError('INVALID_INPUT', 'the web admin token must differ from the access token');
    return new AdminAccess(token);
  }

  matches(given: string): boolean {
    return sameSecret(given, this.token);
  }

  /** Whether the request proves the admin token (header or admin session cookie). */
  isAdmin(req: IncomingMessage, port: number): boolean {
    const header = req.headers[ADMIN_HEADER];
    if (typeof header === 'string') return this.matches(header);
    return this.sessions.verify(parseCookies(req.headers.cookie)[adminCookieName(port)]) !== undefined;
  }
}
