import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Actor } from '../../core/actor.js';
import { OrchestraError } from '../../core/errors.js';
import { createLogger, type Logger } from '../../core/log.js';
import type { Workspace } from '../../core/workspace.js';
import { RefusalLimiter } from '../inbox-port.js';
import { DoorLimits } from '../rate-limited.js';
import { resolveToken, Sessions, type TokenSource } from './auth.js';
import { hostForUrl, LOOPBACK_NAMES } from './csrf.js';
import { LiveHub } from './live.js';
import { createHandler, sendError, type WebContext } from './routes.js';
import { AdminAccess } from './admin.js';
import { HealthMonitor } from '../../pipeline/monitoring/health.js';

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
  /** How often open pages learn whether an `orchestra up` runs (default 2 s). */
  presencePollMs?: number;
  /** Admin token (the Security view); default ORCHESTRA_WEB_ADMIN_TOKEN; none: no admin. See admin.ts. */
  adminToken?: string;
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

/** Starts the web UI. It only reads the workspace and writes inbox files through inbox-port. */
export async function startWeb(ws: Workspace, opts: WebOptions = {}): Promise<WebServer> {
  const log = opts.log ?? createLogger('web');
  const host = opts.host ?? ws.config.web.host;
  const wantedPort = opts.port ?? ws.config.web.port;
  const { token, source: tokenSource } = await resolveToken(ws, opts.token);
  const admin = AdminAccess.resolve(token, opts.adminToken);
  let health: Promise<HealthMonitor> | undefined;
  const ctx: WebContext = {
    ws, log, token, host,
    port: wantedPort,
    sessions: new Sessions(token),
    limiter: new RefusalLimiter(),
    doorLimits: new DoorLimits(ws, log, 'web'),
    actor: opts.actor ?? { kind: 'adapter', name: 'web' },
    hub: new LiveHub(ws, opts.presencePollMs ? { presencePollMs: opts.presencePollMs } : {}),
    ...(opts.allowedHosts ? { allowedHosts: opts.allowedHosts } : {}),
    ...(admin ? { admin } : {}),
    health: () => (health ??= (async () => {
      const monitor = new HealthMonitor(ws);
      await monitor.follow();
      return monitor;
    })()),
  };
  const handle = createHandler(ctx);
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => sendError(req, res, err, log));
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;

  await ctx.hub.start();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(wantedPort, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await ctx.hub.stop();
    const code = (err as NodeJS.ErrnoException).code;
    throw new OrchestraError('INVALID_INPUT', code === 'EADDRINUSE'
      ? `port ${wantedPort} on ${host} is taken: choose another with --port or config web.port`
      : `cannot listen on ${host}:${wantedPort}: ${(err as Error).message}`);
  }
  const port = (ctx.port = (server.address() as AddressInfo).port);
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
      await ctx.hub.stop();
      if (health) (await health.catch(() => undefined))?.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })()),
  };
}
