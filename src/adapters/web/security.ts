import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthMonitor } from '../../pipeline/monitoring/health.js';
import { adminCookieName, type AdminAccess } from './admin.js';
import { HTML, HttpError, send } from './http.js';
import { securityPage } from './views/security.js';

/**
 * GET /security: the admin's Security view (views/security.ts). Reached only by authenticated
 * requests (routes.ts checks the access token first); then the admin token is required too.
 * Without an admin token configured the page does not exist (404); a request without admin proof,
 * or with a wrong `?admin=`, is refused with 403 and recorded like any refused request.
 */
export interface SecurityContext {
  admin?: AdminAccess;
  port: number;
  /** The web server's health monitor, started on first use. */
  health(): Promise<HealthMonitor>;
}

export async function securityRoute(ctx: SecurityContext, req: IncomingMessage, res: ServerResponse, url: URL, refuse: (status: 403, reason: string) => Promise<void>): Promise<void> {
  if (!ctx.admin) throw new HttpError(404, 'There is no such page.');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    throw new HttpError(405, 'The Security view answers GET only.');
  }
  const given = url.searchParams.get('admin');
  if (given !== null) {
    if (!ctx.admin.matches(given)) return refuse(403, 'wrong admin token');
    const { cookie } = ctx.admin.sessions.create();
    res.setHeader('set-cookie', ctx.admin.sessions.setCookieHeader(adminCookieName(ctx.port), cookie));
    res.writeHead(303, { location: '/security' }).end();
    return;
  }
  if (!ctx.admin.isAdmin(req, ctx.port)) return refuse(403, 'the Security view is for the admin (admin token required)');
  const monitor = await ctx.health();
  const snapshot = await monitor.snapshot();
  send(res, 200, HTML, securityPage({
    alerts: snapshot.alerts,
    resolved: monitor.resolvedIncidents(),
    since: snapshot.sinceStart?.since ?? snapshot.at,
    refusalsByReason: snapshot.sinceStart?.refusalsByReason ?? {},
    lastHourByReason: snapshot.lastHour.refusalsByReason,
    secretReads: snapshot.sinceStart?.secretReads ?? 0,
    events: monitor.securityEvents(),
  }));
}
