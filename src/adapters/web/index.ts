import type { Loop, LoopEnv } from '../../loops/loop.js';
import { startWeb, type WebOptions, type WebServer } from './server.js';

export { startWeb, type WebOptions, type WebServer } from './server.js';
export { resolveToken, tokenFile } from './auth.js';
export { renderMarkdown } from './markdown.js';

/** The web UI as a loop of `orchestra up`: it serves until stopped and never has pending work. */
export class WebLoop implements Loop {
  readonly name = 'web';
  server?: WebServer;

  constructor(private readonly env: LoopEnv, private readonly opts: WebOptions = {}) {}

  async start(): Promise<void> {
    if (this.server) return;
    this.server = await startWeb(this.env.ws, { log: this.env.log, ...this.opts });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.stop();
  }

  async idle(): Promise<boolean> {
    return true;
  }
}

export function createWebLoop(env: LoopEnv, opts: WebOptions = {}): Loop {
  return new WebLoop(env, opts);
}
