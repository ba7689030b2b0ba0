/**
 * Tells the admins (config `monitoring.telegramAdmins`) of every alert incident: one message when
 * it fires (`alert.fired` in the audit stream) and one when it is resolved (`alert.resolved`).
 * It reads the audit stream past its checkpoint, `.orchestra/telegram/alerts.json` (the audit seq
 * told), so a restart neither repeats nor skips a message; on the first start (no checkpoint) it
 * begins after what the stream holds. A send that fails for a transient reason is retried with
 * backoff from the same record; a chat Telegram refuses for good (blocked bot, unknown chat) is
 * skipped with a log line. Delivery is at least once: a crash between the send and the
 * checkpoint repeats that one message.
 */
import { describeError } from '../../core/errors.js';
import { readFileSafe, writeAtomic } from '../../core/fsutil.js';
import type { Logger } from '../../core/log.js';
import { ALERT_FIRED, ALERT_RESOLVED, AlertEventSchema } from '../../core/model/alerts.js';
import { AUDIT_STREAM } from '../../core/paths.js';
import { AUDIT_SIGNAL, type Subscription } from '../../core/signals.js';
import type { Workspace } from '../../core/workspace.js';
import { join } from 'node:path';
import { esc } from './html.js';
import { isPermanent, type Messenger } from './messenger.js';

const MAX_BACKOFF_MS = 300_000;

export class AlertNotices {
  private seq = 0;
  private readonly file: string;
  private signals?: Subscription;
  private checking?: Promise<void>;
  private again = false;
  private retry?: NodeJS.Timeout;
  private failures = 0;
  private stopped = false;

  constructor(private readonly ws: Workspace, private readonly messenger: Messenger, private readonly admins: number[], private readonly log: Logger) {
    this.file = join(ws.paths.runtime, 'telegram', 'alerts.json');
  }

  async start(): Promise<void> {
    const saved = checkpointIn(await readFileSafe(this.file).catch(() => undefined));
    if (Number.isInteger(saved) && saved >= 0) this.seq = saved;
    else {
      this.seq = (await this.ws.readStream(AUDIT_STREAM)).lastSeq;
      await this.save();
    }
    this.signals = await this.ws.signals.subscribe((name) => name === AUDIT_SIGNAL && this.check(), { fromNow: true });
    this.check();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signals?.close();
    if (this.retry) clearTimeout(this.retry);
    await this.checking;
  }

  idle(): boolean {
    return !this.checking;
  }

  /** Sends what was recorded since the checkpoint; one pass at a time, a hint during a pass runs another. */
  check(): void {
    if (this.stopped) return;
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = this.pass()
      .catch((err) => this.log.warn('telegram alert check failed', describeError(err)))
      .finally(() => {
        this.checking = undefined;
        if (this.again) {
          this.again = false;
          this.check();
        }
      });
  }

  private async pass(): Promise<void> {
    const audit = await this.ws.readStream(AUDIT_STREAM);
    for (const record of audit.records) {
      if (record.seq <= this.seq || this.stopped) continue;
      for (const event of record.events) {
        if (event.type !== ALERT_FIRED && event.type !== ALERT_RESOLVED) continue;
        const alert = AlertEventSchema.safeParse(event.data);
        if (!alert.success) continue;
        const html = event.type === ALERT_FIRED
          ? `🚨 <b>Alert</b> (${esc(alert.data.rule)}): ${esc(alert.data.message)}`
          : `✅ <b>Resolved</b> (${esc(alert.data.rule)}): ${esc(alert.data.message)}`;
        for (const chat of this.admins) {
          try {
            await this.messenger.send(chat, html);
          } catch (err) {
            if (!isPermanent(err)) return this.retryLater(err);
            this.log.warn('telegram refused an alert message for an admin; skipped', { chat, ...describeError(err) });
          }
        }
      }
      this.seq = record.seq;
      this.failures = 0;
      await this.save();
    }
  }

  private retryLater(err: unknown): void {
    this.failures += 1;
    const waitMs = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.failures);
    this.log.warn('telegram alert message failed; will retry', { retryInMs: waitMs, ...describeError(err) });
    if (this.retry) clearTimeout(this.retry);
    this.retry = setTimeout(() => this.check(), waitMs);
    this.retry.unref();
  }

  private save(): Promise<void> {
    return writeAtomic(this.file, JSON.stringify({ seq: this.seq }) + '\n');
  }
}

/** The seq in a checkpoint file's text; NaN when absent or damaged (then the stream's end is taken). */
function checkpointIn(text: string | undefined): number {
  if (text === undefined || text.length > 1024) return Number.NaN;
  try {
    return Number((JSON.parse(text) as { seq?: unknown }).seq);
  } catch {
    return Number.NaN;
  }
}

/** Admin chat ids from config: whole numbers only (a private chat's id is the user's id). */
export function adminChats(ids: readonly string[]): number[] {
  return [...new Set(ids.map((id) => id.trim()).filter((id) => /^-?\d{1,20}$/.test(id)).map(Number).filter(Number.isSafeInteger))];
}
