import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { Actor } from '../../core/actor.js';
import { describeError, OrchestraError } from '../../core/errors.js';
import { isUlid } from '../../core/ids.js';
import type { Command } from '../../core/inbox-format.js';
import { createLogger, type Logger } from '../../core/log.js';
import type { Workspace } from '../../core/workspace.js';
import { DEV_WORKSTREAM } from '../../pipeline/dev-workstream.js';
import { RefusalLimiter, recordRefusal, submitCommand, submitTask } from '../inbox-port.js';
import { APP_CSS, APP_JS, ASSET_VERSION } from './assets.js';
import { bearerOf, parseCookies, resolveToken, sameSecret, sessionCookieName, Sessions, type TokenSource } from './auth.js';
import type { SafeHtml } from './html.js';
import { LiveHub, MAX_CLIENTS } from './live.js';
import { continuePage, listPage, loadTaskPage, messagePage, readTaskFile, refusalPage, summarize, taskLive, taskPage } from './render.js';

export interface WebOptions {
  /** Interface to listen on; default config `web.host` (127.0.0.1). */
  host?: string;
  /** Port; default config `web.port`; 0 picks a free one. */
  port?: number;
  /** Access token; default ORCHESTRA_WEB_TOKEN, config `web.token`, or `.orchestra/web-token`. */
  token?: string;
  log?: Logger;
  /** Who the inbox files are from; default `{kind: 'adapter', name: 'web'}`. */
  actor?: Actor;
  /** Extra Host header values to accept (a reverse proxy's name). */
  allowedHosts?: string[];
}

export interface WebServer {
  /** Base address, e.g. http://127.0.0.1:8377/ */
  url: string;
  /** The address to open in a browser: `url` plus `?token=...`. */
  openUrl: string;
  token: string;
  tokenSource: TokenSource;
  host: string;
  port: number;
  server: Server;
  stop(): Promise<void>;
}

const MAX_BODY = 256 * 1024;
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

type Auth = { kind: 'session'; session: string } | { kind: 'bearer' };

const isWildcard = (host: string) => host === '0.0.0.0' || host === '::' || host === '';
const hostForUrl = (host: string) => (isWildcard(host) ? '127.0.0.1' : isIP(host) === 6 ? `[${host}]` : host);

/** Starts the web UI. It only reads the workspace and writes inbox files through inbox-port. */
export async function startWeb(ws: Workspace, opts: WebOptions = {}): Promise<WebServer> {
  const log = opts.log ?? createLogger('web');
  const host = opts.host ?? ws.config.web.host;
  const wantedPort = opts.port ?? ws.config.web.port;
  const { token, source: tokenSource } = await resolveToken(ws, opts.token);
  const sessions = new Sessions(token);
  const limiter = new RefusalLimiter();
  const actorBase: Actor = opts.actor ?? { kind: 'adapter', name: 'web' };
  const hub = new LiveHub(ws);
  let port = wantedPort;

  const hostAllowed = (header: string | undefined): boolean => {
    if (!header) return false;
    const value = header.toLowerCase();
    const names = new Set([...LOOPBACK_NAMES, hostForUrl(host).toLowerCase(), ...(opts.allowedHosts ?? []).map((h) => h.toLowerCase())]);
    for (const name of names) if (value === `${name}:${port}` || value === name) return true;
    if (isWildcard(host)) {
      // Listening on all interfaces was asked for: accept this machine's addresses and name.
      const m = /^(\[[0-9a-f:.]+\]|[^:]+)(?::(\d+))?$/.exec(value);
      if (!m || (m[2] !== undefined && Number(m[2]) !== port)) return false;
      const bare = m[1]!.replace(/^\[|\]$/g, '');
      return isIP(bare) !== 0 || bare === hostname().toLowerCase() || bare === `${hostname().toLowerCase()}.local`;
    }
    return false;
  };

  const refuse = async (req: IncomingMessage, res: ServerResponse, status: 401 | 403, reason: string) => {
    const remote = req.socket.remoteAddress ?? 'unknown';
    if (limiter.allow(remote)) {
      const path = (req.url ?? '').split('?')[0]!.slice(0, 200);
      await recordRefusal(ws, actorBase, status === 401 ? 'web request without a valid token' : 'web request refused', {
        reason, remote, method: req.method, path, userAgent: String(req.headers['user-agent'] ?? '').slice(0, 200),
      }).catch((err) => log.warn('could not record a refusal', describeError(err)));
    }
    log.warn('request refused', { status, reason, remote });
    const text = status === 401
      ? 'Access needs the token. Open the address that "orchestra web" printed (it ends in ?token=...), or send "Authorization: Bearer <token>".'
      : `Refused: ${reason}.`;
    send(res, status, 'text/html; charset=utf-8', refusalPage(status, text));
  };

  const authenticate = (req: IncomingMessage): Auth | undefined => {
    const bearer = bearerOf(req);
    if (bearer !== undefined) return sameSecret(bearer, token) ? { kind: 'bearer' } : undefined;
    const session = sessions.verify(parseCookies(req.headers.cookie)[sessionCookieName(port)]);
    return session ? { kind: 'session', session } : undefined;
  };

  /** State-changing requests: same origin only, and a session must show its CSRF token. */
  const crossSiteReason = (req: IncomingMessage, auth: Auth, form: Record<string, string>): string | undefined => {
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
  };

  const actorFor = (auth: Auth): Actor => ({ ...actorBase, user: auth.kind === 'bearer' ? 'bearer' : `session-${auth.session.slice(0, 8)}` });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const reading = method === 'GET' || method === 'HEAD';

    if (!hostAllowed(req.headers.host)) return refuse(req, res, 403, `unexpected Host header ${String(req.headers.host ?? '').slice(0, 100)}`);

    if (reading && path.startsWith('/static/')) {
      res.setHeader('cache-control', url.searchParams.get('v') === ASSET_VERSION ? 'public, max-age=86400, immutable' : 'no-cache');
      if (path === '/static/app.js') return send(res, 200, 'text/javascript; charset=utf-8', APP_JS);
      if (path === '/static/app.css') return send(res, 200, 'text/css; charset=utf-8', APP_CSS);
      return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
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
      res.setHeader('set-cookie', sessions.setCookieHeader(sessionCookieName(port), cookie));
      url.searchParams.delete('token');
      // Never `//host/...`: that would redirect to another site.
      const target = /^\/(?![/\\])/.test(path) ? `${path}${url.search}` : '/';
      if (req.headers['sec-fetch-site'] === 'cross-site') {
        // A SameSite=Strict cookie is not sent on a redirect that a cross-site navigation started:
        // continue with a same-site navigation instead.
        return send(res, 200, 'text/html; charset=utf-8', continuePage(target));
      }
      res.writeHead(303, { location: target }).end();
      return;
    }

    const auth = authenticate(req);
    if (!auth) return refuse(req, res, 401, req.headers.authorization ? 'wrong bearer token' : req.headers.cookie?.includes(`${sessionCookieName(port)}=`) ? 'invalid session cookie' : 'no token');
    const csrf = auth.kind === 'session' ? sessions.csrf(auth.session) : '';

    if (reading) return get(req, res, url, csrf);
    if (method !== 'POST') {
      res.setHeader('allow', 'GET, HEAD, POST');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    const form = await readForm(req);
    const reason = crossSiteReason(req, auth, form);
    if (reason) return refuse(req, res, 403, reason);
    return post(req, res, path, form, actorFor(auth));
  }

  async function get(req: IncomingMessage, res: ServerResponse, url: URL, csrf: string): Promise<void> {
    const path = url.pathname;
    if (path === '/') {
      const tasks = (await ws.tasks()).filter((v) => !v.archived).map(summarize);
      return send(res, 200, 'text/html; charset=utf-8', listPage(tasks, csrf));
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
      return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(tasks));
    }
    let m = /^\/tasks\/([^/]+)$/.exec(path);
    if (m) {
      const id = m[1]!;
      const data = isUlid(id) ? await loadTaskPage(ws, id) : undefined;
      if (!data) throw new HttpError(404, `There is no task ${id} (yet: a task just submitted appears once intake records it).`);
      if (url.searchParams.get('part') === 'live') return send(res, 200, 'text/html; charset=utf-8', taskLive(data, csrf));
      return send(res, 200, 'text/html; charset=utf-8', taskPage(data, csrf));
    }
    m = /^\/tasks\/([^/]+)\/records\/([^/]+)$/.exec(path);
    if (m) {
      const [id, name] = [m[1]!, decodeURIComponent(m[2]!)];
      if (!isUlid(id) || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$/.test(name)) throw new HttpError(404, 'no such record file');
      const file = await readTaskFile(ws, id, `tasks/${id}/records/${name}`, 16 * 1024 * 1024);
      if (file.missing) throw new HttpError(404, 'no such record file');
      res.setHeader('content-security-policy', "default-src 'none'; sandbox; frame-ancestors 'none'");
      return send(res, 200, 'text/plain; charset=utf-8', file.text);
    }
    throw new HttpError(404, 'There is no such page.');
  }

  async function post(req: IncomingMessage, res: ServerResponse, path: string, form: Record<string, string>, actor: Actor): Promise<void> {
    const wantsJson = String(req.headers.accept ?? '').includes('application/json');
    const done = (message: string, location: string, extra: Record<string, unknown> = {}) => {
      if (wantsJson) return send(res, 202, 'application/json; charset=utf-8', JSON.stringify({ ok: true, message, ...extra }));
      res.writeHead(303, { location }).end();
    };
    const text = (key: string, max: number) => {
      const value = (form[key] ?? '').trim();
      if (value.length > max) throw new HttpError(400, `${key} is too long (at most ${max} characters)`);
      return value;
    };

    if (path === '/tasks') {
      const title = text('title', 300);
      const repo = text('repo', 1000);
      if (!title) throw new HttpError(400, 'A task needs a title.');
      if (!repo) throw new HttpError(400, 'A task needs a repository.');
      const fields: Record<string, string> = { repo };
      const base = text('base', 200);
      const test = text('test', 2000);
      if (base) fields.base = base;
      if (test) fields.test = test;
      const { taskId } = await submitTask(ws, { title, description: text('description', 200_000), workstream: DEV_WORKSTREAM, fields }, actor);
      log.info('task submitted', { task: taskId, title });
      return done(`Task submitted: it appears in the list once intake records it.`, '/', { taskId });
    }

    const m = /^\/tasks\/([^/]+)\/(approve|feedback|abort|retry)$/.exec(path);
    if (!m) throw new HttpError(404, 'There is no such action.');
    const [id, action] = [m[1]!, m[2]!];
    if (!isUlid(id) || !(await ws.findTask(id))) throw new HttpError(404, `There is no task ${id}.`);
    let command: Command;
    let message: string;
    switch (action) {
      case 'approve': {
        const version = form.version ? Number(form.version) : undefined;
        if (version !== undefined && !(Number.isInteger(version) && version > 0)) throw new HttpError(400, 'The plan version must be a positive whole number.');
        command = { command: 'approve', task: id, ...(version ? { version } : {}) };
        message = `Approval of ${version ? `plan v${version}` : 'the latest plan'} sent.`;
        break;
      }
      case 'feedback': {
        const feedback = text('text', 20_000);
        if (!feedback) throw new HttpError(400, 'Feedback needs some text.');
        command = { command: 'feedback', task: id, text: feedback };
        message = 'Feedback sent: the planner will make a new version.';
        break;
      }
      case 'abort': {
        const reason = text('reason', 2000);
        command = { command: 'abort', task: id, ...(reason ? { reason } : {}) };
        message = 'Abort requested.';
        break;
      }
      default: {
        const replan = ['true', 'on', '1'].includes(form.replan ?? '');
        command = { command: 'retry', task: id, replan };
        message = replan ? 'Retry with a new plan requested.' : 'Retry requested.';
      }
    }
    await submitCommand(ws, command, actor);
    log.info('command submitted', { command: command.command, task: id });
    return done(message, `/tasks/${id}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : err instanceof OrchestraError && err.code === 'INVALID_INPUT' ? 400 : 500;
      const message = err instanceof HttpError || status === 400 ? (err as Error).message : 'Something went wrong on the server; the log has the details.';
      if (status === 500) log.error('request failed', { url: req.url?.split('?')[0], ...describeError(err) });
      if (res.headersSent) return void res.end();
      if (String(req.headers.accept ?? '').includes('application/json')) {
        return send(res, status, 'application/json; charset=utf-8', JSON.stringify({ ok: false, error: message }));
      }
      send(res, status, 'text/html; charset=utf-8', status === 404 ? messagePage('Not found', message) : messagePage(status === 400 ? 'Not accepted' : 'Error', message));
    });
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;

  await hub.start();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(wantedPort, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await hub.stop();
    const code = (err as NodeJS.ErrnoException).code;
    throw new OrchestraError('INVALID_INPUT', code === 'EADDRINUSE'
      ? `port ${wantedPort} on ${host} is taken: choose another with --port or config web.port`
      : `cannot listen on ${host}:${wantedPort}: ${(err as Error).message}`);
  }
  port = (server.address() as AddressInfo).port;
  const url = `http://${hostForUrl(host)}:${port}/`;
  const openUrl = `${url}?token=${encodeURIComponent(token)}`;
  if (!LOOPBACK_NAMES.includes(hostForUrl(host)) && host !== '::1') {
    log.warn('the web UI is reachable from other machines: plain HTTP, protect the token', { host });
  }
  log.info('web UI ready', { open: openUrl, token: tokenSource === 'generated' ? 'new, stored in .orchestra/web-token' : tokenSource });

  let stopping: Promise<void> | undefined;
  return {
    url, openUrl, token, tokenSource, host, port, server,
    stop: () => (stopping ??= (async () => {
      await hub.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })()),
  };
}

function send(res: ServerResponse, status: number, type: string, content: string | SafeHtml): void {
  const body = String(content);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readForm(req: IncomingMessage): Promise<Record<string, string>> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'The request is too large.');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  if (type === 'application/x-www-form-urlencoded') {
    const out: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(text)) if (!(k in out)) out[k] = v;
    return out;
  }
  if (type === 'application/json') {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new HttpError(400, 'The body is not valid JSON.');
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new HttpError(400, 'The body must be a JSON object.');
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  }
  throw new HttpError(415, 'Send the form as application/x-www-form-urlencoded or application/json.');
}
