import type { ServerResponse } from 'node:http';
import { isUlid } from '../../core/ids.js';
import type { Subscription } from '../../core/signals.js';
import type { Workspace } from '../../core/workspace.js';
import { intakeRunning } from '../../core/presence.js';
import { summarize, type TaskSummary } from './render.js';

const KEEPALIVE_MS = 20_000;
/** How often the presence files of `orchestra up` are looked at while a page is open. */
export const PRESENCE_POLL_MS = 2_000;
export const MAX_CLIENTS = 64;

/** Frames for a client wait in `queue` until its snapshot is written, so they never arrive before it. */
interface Client { res: ServerResponse; task?: string; queue?: string[] }

/**
 * Pushes changed task summaries to server-sent-event clients. It learns of changes from the
 * workspace's signal feed (appends by any process; the feed's reconcile scan catches what its
 * watcher misses); a change is pushed once per new sequence number. It also tells whether an
 * `orchestra up` with an intake loop is running (`event: presence`, polled from its presence file).
 */
export class LiveHub {
  private readonly clients = new Set<Client>();
  /** Last sequence number pushed per task. */
  private readonly sent = new Map<string, number>();
  private readonly pending = new Set<string>();
  private signals?: Subscription;
  private keepalive?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private stopped = false;
  private presenceTimer?: NodeJS.Timeout;
  /** Last presence told to the clients. */
  private upRunning?: boolean;

  constructor(private readonly ws: Workspace, private readonly opts: { presencePollMs?: number } = {}) {}

  get clientCount(): number {
    return this.clients.size;
  }

  async start(): Promise<void> {
    this.signals = await this.ws.signals.subscribe((name) => this.hint(name), { fromNow: true });
    this.keepalive = setInterval(() => {
      for (const c of this.clients) if (!c.queue) c.res.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
    this.presenceTimer = setInterval(() => void this.checkPresence(), this.opts.presencePollMs ?? PRESENCE_POLL_MS);
    this.presenceTimer.unref();
  }

  private async checkPresence(): Promise<void> {
    if (this.stopped || this.clients.size === 0) return;
    const up = await intakeRunning(this.ws.paths).catch(() => this.upRunning ?? true);
    if (up === this.upRunning || this.stopped) return;
    this.upRunning = up;
    const frame = presenceFrame(up);
    for (const c of this.clients) {
      if (c.queue) c.queue.push(frame);
      else c.res.write(frame);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signals?.close();
    if (this.keepalive) clearInterval(this.keepalive);
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    await this.flushing?.catch(() => undefined);
  }

  /** Registers an SSE response and sends it the current state: all tasks, or the one it follows. */
  async add(res: ServerResponse, task?: string): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.write('retry: 2000\n\n');
    const client: Client = { res, queue: [], ...(task ? { task } : {}) };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    let snapshot: TaskSummary[];
    if (task) {
      const view = await this.ws.findTask(task);
      snapshot = view ? [summarize(view)] : [];
    } else {
      snapshot = (await this.ws.tasks()).filter((v) => !v.archived).map(summarize);
    }
    const up = await intakeRunning(this.ws.paths).catch(() => true);
    // `sent` is shared by all clients: a snapshot for one must not mark changes as sent to the others.
    const queued = client.queue ?? [];
    client.queue = undefined;
    if (!this.clients.has(client)) return;
    res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
    res.write(presenceFrame(up));
    for (const frame of queued) res.write(frame);
  }

  private hint(name: string): void {
    if (!isUlid(name) || this.stopped || this.clients.size === 0) return;
    this.pending.add(name);
    void this.flush();
  }

  private flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (this.pending.size ? this.flush() : undefined));
    this.flushing = (async () => {
      while (this.pending.size && !this.stopped) {
        const ids = [...this.pending];
        this.pending.clear();
        for (const id of ids) {
          const view = await this.ws.findTask(id).catch(() => undefined);
          if (!view) continue;
          if (this.sent.get(id) === view.lastSeq) continue;
          this.sent.set(id, view.lastSeq);
          this.broadcast(summarize(view));
        }
      }
    })().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private broadcast(summary: TaskSummary): void {
    const frame = `event: task\ndata: ${JSON.stringify(summary)}\n\n`;
    for (const c of this.clients) {
      if (c.task && c.task !== summary.id) continue;
      if (c.queue) c.queue.push(frame);
      else c.res.write(frame);
    }
  }
}

const presenceFrame = (up: boolean) => `event: presence\ndata: ${JSON.stringify({ up })}\n\n`;
