import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { describeError } from '../../core/errors.js';
import { readdirSafe } from '../../core/fsutil.js';
import type { Logger } from '../../core/log.js';
import type { Workspace } from '../../core/workspace.js';
import { watchDir, type DirWatcher } from '../../loops/watch.js';
import { summarize, type TaskSummary } from './render.js';

const KEEPALIVE_MS = 20_000;
export const MAX_CLIENTS = 64;

/** Frames for a client wait in `queue` until its snapshot is written, so they never arrive before it. */
interface Client { res: ServerResponse; task?: string; queue?: string[] }

/**
 * Pushes changed task summaries to server-sent-event clients. Every append touches
 * `.orchestra/signals/<task id>` (whichever process appended), so the signals directory is
 * watched; a periodic scan of it (and of the task list) catches what the watcher misses.
 */
export class LiveHub {
  private readonly clients = new Set<Client>();
  /** Signal file fingerprints (mtime and size) seen by the last scan. */
  private readonly seen = new Map<string, string>();
  /** Last sequence number pushed per task. */
  private readonly sent = new Map<string, number>();
  private readonly pending = new Set<string>();
  private watcher?: DirWatcher;
  private timer?: NodeJS.Timeout;
  private keepalive?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private stopped = false;

  constructor(private readonly ws: Workspace, private readonly log: Logger, private readonly scanMs: number) {}

  get clientCount(): number {
    return this.clients.size;
  }

  async start(): Promise<void> {
    await fs.mkdir(this.ws.paths.signals, { recursive: true });
    this.watcher = watchDir(this.ws.paths.signals, (name) => this.hint(name));
    await this.scan(false);
    const tick = () => {
      if (this.stopped) return;
      this.scan(true).catch((err) => this.log.warn('live scan failed', describeError(err))).finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.scanMs);
      });
    };
    this.timer = setTimeout(tick, this.scanMs);
    this.keepalive = setInterval(() => {
      for (const c of this.clients) if (!c.queue) c.res.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.keepalive) clearInterval(this.keepalive);
    this.watcher?.close();
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
    // `sent` is shared by all clients: a snapshot for one must not mark changes as sent to the others.
    const queued = client.queue ?? [];
    client.queue = undefined;
    if (!this.clients.has(client)) return;
    res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
    for (const frame of queued) res.write(frame);
  }

  private hint(name: string): void {
    if (!/^[0-9A-Za-z]{1,64}$/.test(name) || this.stopped || this.clients.size === 0) return;
    this.pending.add(name);
    void this.flush();
  }

  /** Compares signal files (and the task list) with the last scan; changed tasks are pushed. */
  private async scan(push: boolean): Promise<void> {
    if (push && this.clients.size === 0) return;
    const dir = this.ws.paths.signals;
    for (const name of await readdirSafe(dir)) {
      if (!/^[0-9A-Za-z]{1,64}$/.test(name)) continue;
      const stat = await fs.stat(join(dir, name)).catch(() => undefined);
      if (!stat) continue;
      const print = `${stat.mtimeMs}:${stat.size}`;
      if (this.seen.get(name) !== print) {
        this.seen.set(name, print);
        if (push) this.pending.add(name);
      }
    }
    if (push) {
      for (const id of await this.ws.taskIds()) if (!this.sent.has(id) && !this.seen.has(id)) this.pending.add(id);
      await this.flush();
    }
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
