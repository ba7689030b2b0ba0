import { join, relative } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Actor } from '../../core/actor.js';
import { describeError, OrchestraError } from '../../core/errors.js';
import { isUlid } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import type { Workspace } from '../../core/workspace.js';
import { intakeRunning } from '../../core/presence.js';
import { recordRefusal, type RefusalLimiter } from '../inbox-port.js';
import type { DoorLimits } from '../rate-limited.js';
import { APP_CSS, APP_JS, ASSET_VERSION } from './assets.js';
import { actorFor, authenticate, sameSecret, sessionCookieName, type Sessions } from './auth.js';
import { post } from './commands.js';
import { crossSiteReason, hostAllowed } from './csrf.js';
import { HTML, HttpError, JSON_TYPE, readForm, SECURITY_HEADERS, send, TEXT, wantsJson } from './http.js';
import { type LiveHub, MAX_CLIENTS } from './live.js';
import { continuePage, listPage, messagePage, refusalPage, summarize, taskLive, taskPage } from './render.js';
import { loadTaskPage, readTaskFile, RECORD_NAME } from './task-data.js';
import { securityRoute, type SecurityContext } from './security.js';

/** What the routes need of the running server; `port` is set once it listens. */
export interface WebContext extends SecurityContext {
  ws: Workspace;
  log: Logger;
  token: string;
  sessions: Sessions;
  limiter: RefusalLimiter;
  /** Says a reached rate limit at once (429). */
  doorLimits: DoorLimits;
  actor: Actor;
  hub: LiveHub;
  host: string;
  port: number;
  allowedHosts?: string[];
}

/** The request handler: Host check, static files, token login, authentication, then the routes. */
export function createHandler(ctx: WebContext): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { ws, log, token, sessions } = ctx;

  const refuse = async (req: IncomingMessage, res: ServerResponse, status: 401 | 403, reason: string) => {
    const remote = req.socket.remoteAddress ?? 'unknown';
    if (ctx.limiter.allow(remote)) {
      const path = (req.url ?? '').split('?')[0]!.slice(0, 200);
      await recordRefusal(ws, ctx.actor, status === 401 ? 'web request without a valid token' : 'web request refused', {
        reason, remote, method: req.method, path, userAgent: String(req.headers['user-agent'] ?? '').slice(0, 200),
      }).catch((err) => log.warn('could not record a refusal', describeError(err)));
    }
    log.warn('request refused', { status, reason, remote });
    const text = status === 401
      ? 'Access needs the token. Open the address that "orchestra web" printed (it ends in ?token=...), or send "Authorization: Bearer <token>".'
      : `Refused: ${reason}.`;
    send(res, status, HTML, refusalPage(status, text));
  };

  return async function handle(req, res) {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const reading = method === 'GET' || method === 'HEAD';

    if (!hostAllowed(req.headers.host, ctx)) return refuse(req, res, 403, `unexpected Host header ${String(req.headers.host ?? '').slice(0, 100)}`);

    if (reading && path.startsWith('/static/')) {
      res.setHeader('cache-control', url.searchParams.get('v') === ASSET_VERSION ? 'public, max-age=86400, immutable' : 'no-cache');
      if (path === '/static/app.js') return send(res, 200, 'text/javascript; charset=utf-8', APP_JS);
      if (path === '/static/app.css') return send(res, 200, 'text/css; charset=utf-8', APP_CSS);
      return send(res, 404, TEXT, 'not found\n');
    }
    if (reading && path === '/favicon.ico') {
      res.setHeader('cache-control', 'public, max-age=86400');
      res.writeHead(204).end();
      return;
    }

    res.setHeader('cache-control', 'no-store');
    const given = url.searchParams.get('token');
    if (given !== null) {
      if (!reading || !sameSecret(given, token)) return refuse(req, res, 401, 'wrong token in the address');
      const { cookie } = sessions.create();
      res.setHeader('set-cookie', sessions.setCookieHeader(sessionCookieName(ctx.port), cookie));
      url.searchParams.delete('token');
      // Never `//host/...`: that would redirect to another site.
      const target = /^\/(?![/\\])/.test(path) ? `${path}${url.search}` : '/';
      if (req.headers['sec-fetch-site'] === 'cross-site') {
        // A SameSite=Strict cookie is not sent on a redirect that a cross-site navigation started:
        // continue with a same-site navigation instead.
        return send(res, 200, HTML, continuePage(target));
      }
      res.writeHead(303, { location: target }).end();
      return;
    }

    const auth = authenticate(req, token, sessions, ctx.port);
    if (!auth) return refuse(req, res, 401, req.headers.authorization ? 'wrong bearer token' : req.headers.cookie?.includes(`${sessionCookieName(ctx.port)}=`) ? 'invalid session cookie' : 'no token');
    const csrf = auth.kind === 'session' ? sessions.csrf(auth.session) : '';
    if (path === '/security') return securityRoute(ctx, req, res, url, (status, reason) => refuse(req, res, status, reason));

    if (reading) return get(ctx, req, res, url, csrf);
    if (method !== 'POST') {
      res.setHeader('allow', 'GET, HEAD, POST');
      return send(res, 405, TEXT, 'method not allowed\n');
    }
    const form = await readForm(req);
    const reason = crossSiteReason(req, auth, form, sessions);
    if (reason) return refuse(req, res, 403, reason);
    return post(ws, log, req, res, path, form, actorFor(ctx.actor, auth), ctx.doorLimits);
  };
}

/** The pages, the task list as JSON, record files and the live event stream. */
async function get({ ws, hub, health }: WebContext, req: IncomingMessage, res: ServerResponse, url: URL, csrf: string): Promise<void> {
  const path = url.pathname;
  if (path === '/') {
    const tasks = (await ws.tasks()).filter((v) => !v.archived).map(summarize);
    const monitor = await health();
    await monitor.refresh();
    return send(res, 200, HTML, listPage(tasks, csrf, await intakeRunning(ws.paths), monitor.openIncidents()));
  }
  if (path === '/events') {
    if (req.method !== 'GET') throw new HttpError(405, 'The event stream answers GET only.');
    const task = url.searchParams.get('task') ?? undefined;
    if (task !== undefined && !isUlid(task)) throw new HttpError(400, 'not a task id');
    if (hub.clientCount >= MAX_CLIENTS) throw new HttpError(503, 'too many live connections');
    return hub.add(res, task);
  }
  if (path === '/api/tasks') {
    const tasks = (await ws.tasks()).map(summarize);
    return send(res, 200, JSON_TYPE, JSON.stringify(tasks));
  }
  let m = /^\/tasks\/([^/]+)$/.exec(path);
  if (m) {
    const id = m[1]!;
    const data = isUlid(id) ? await loadTaskPage(ws, id) : undefined;
    if (!data) throw new HttpError(404, `There is no task ${id} (yet: a task just submitted appears once intake records it).`);
    if (url.searchParams.get('part') === 'live') return send(res, 200, HTML, taskLive(data, csrf));
    return send(res, 200, HTML, taskPage(data, csrf, await intakeRunning(ws.paths)));
  }
  m = /^\/tasks\/([^/]+)\/records\/([^/]+)$/.exec(path);
  if (m) {
    const [id, name] = [m[1]!, decodeURIComponent(m[2]!)];
    if (!isUlid(id) || !RECORD_NAME.test(name)) throw new HttpError(404, 'no such record file');
    const file = await readTaskFile(ws, id, relative(ws.paths.root, join(ws.paths.taskRecords(id), name)), 16 * 1024 * 1024);
    if (file.missing) throw new HttpError(404, 'no such record file');
    res.setHeader('content-security-policy', "default-src 'none'; sandbox; frame-ancestors 'none'");
    return send(res, 200, TEXT, file.text);
  }
  throw new HttpError(404, 'There is no such page.');
}

/** A failed request's answer: its HttpError status, 400 for invalid input, else 500 (details only in the log). */
export function sendError(req: IncomingMessage, res: ServerResponse, err: unknown, log: Logger): void {
  const status = err instanceof HttpError ? err.status : err instanceof OrchestraError && err.code === 'INVALID_INPUT' ? 400 : 500;
  const message = err instanceof HttpError || status === 400 ? (err as Error).message : 'Something went wrong on the server; the log has the details.';
  if (status === 500) log.error('request failed', { url: req.url?.split('?')[0], ...describeError(err) });
  if (res.headersSent) return void res.end();
  if (wantsJson(req)) return send(res, status, JSON_TYPE, JSON.stringify({ ok: false, error: message }));
  send(res, status, HTML, status === 404 ? messagePage('Not found', message) : messagePage(status === 400 || status === 429 ? 'Not accepted' : 'Error', message));
}
