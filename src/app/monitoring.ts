import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loopActor } from '../core/actor.js';
import { describeError, OrchestraError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Workspace } from '../core/workspace.js';
import { AlertEvaluator } from '../pipeline/monitoring/alerts.js';
import { HealthMonitor } from '../pipeline/monitoring/health.js';
import type { OrchestraMetrics } from '../pipeline/monitoring/metrics.js';

/**
 * What `orchestra up` runs for monitoring: one HealthMonitor following the signal feed, the alert
 * evaluator (config `monitoring.alerts`, every `monitoring.evaluateIntervalMs`) and, when
 * `monitoring.metricsPort` is set, the Prometheus endpoint on `monitoring.metricsHost`
 * (127.0.0.1 by default). The endpoint answers `GET /metrics` only; it reads, never writes, takes
 * no request body and no parameters, and answers one scrape at a time (a second concurrent scrape
 * waits for the first snapshot instead of taking another).
 */
export interface Monitoring {
  monitor: HealthMonitor;
  evaluator: AlertEvaluator;
  /** The endpoint's address (`http://127.0.0.1:9464/metrics`), when it listens. */
  metricsUrl?: string;
  stop(): Promise<void>;
}

export async function startMonitoring(ws: Workspace, log: Logger, opts: { metricsPort?: number; alerts?: boolean } = {}): Promise<Monitoring> {
  const port = opts.metricsPort ?? ws.config.monitoring.metricsPort;
  // prom-client is loaded only when the endpoint is wanted (it costs memory in every `up`).
  const metrics = port !== undefined ? new (await import('../pipeline/monitoring/metrics.js')).OrchestraMetrics() : undefined;
  const monitor = new HealthMonitor(ws, { onStep: (step, seconds) => metrics?.observeStep(step, seconds) });
  await monitor.follow();
  const evaluator = new AlertEvaluator(ws, monitor, loopActor('monitor'), log);
  if (opts.alerts !== false) evaluator.start();
  let server: Server | undefined;
  let metricsUrl: string | undefined;
  if (metrics && port !== undefined) {
    try {
      server = await serveMetrics(metrics, monitor, ws.config.monitoring.metricsHost, port, log);
      const address = server.address() as AddressInfo;
      metricsUrl = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/metrics`;
      log.info('metrics endpoint ready', { url: metricsUrl });
      if (!['127.0.0.1', '::1', 'localhost'].includes(ws.config.monitoring.metricsHost)) log.warn('the metrics endpoint is reachable from other machines: it has no authentication', { host: ws.config.monitoring.metricsHost });
    } catch (err) {
      await evaluator.stop();
      monitor.stop();
      throw err;
    }
  }
  return {
    monitor, evaluator,
    ...(metricsUrl ? { metricsUrl } : {}),
    stop: async () => {
      await evaluator.stop();
      monitor.stop();
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
      }
    },
  };
}

async function serveMetrics(metrics: OrchestraMetrics, monitor: HealthMonitor, host: string, port: number, log: Logger): Promise<Server> {
  let scraping: Promise<{ contentType: string; body: string }> | undefined;
  const scrape = () => (scraping ??= (async () => {
    metrics.update(await monitor.snapshot());
    return metrics.text();
  })().finally(() => (scraping = undefined)));
  const server = createServer((req, res) => {
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    scrape().then(
      ({ contentType, body }) => void res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => {
        log.warn('metrics scrape failed', describeError(err));
        res.writeHead(500, { 'content-type': 'text/plain' }).end('the metrics could not be collected; the log has the details\n');
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.maxHeadersCount = 50;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new OrchestraError('INVALID_INPUT', err.code === 'EADDRINUSE'
      ? `metrics port ${port} on ${host} is taken: choose another in config monitoring.metricsPort`
      : `cannot serve metrics on ${host}:${port}: ${err.message}`)));
    server.listen(port, host, () => resolve());
  });
  return server;
}
