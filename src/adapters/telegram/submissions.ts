/**
 * Tells a chat when the intake refuses a file the bot dropped into the inbox: the refusals are
 * `inbox.rejected` events in the audit stream, read from the last audit seq seen.
 */
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { AUDIT_STREAM } from '../../core/paths.js';
import type { Workspace } from '../../core/workspace.js';
import { rateLimitNotice } from '../../pipeline/rate-limit.js';
import { esc } from './html.js';
import type { Messenger } from './messenger.js';

const SUBMISSION_TTL_MS = 10 * 60_000;
const MAX_SUBMISSIONS = 1000;

interface Submission { file: string; chat: number; label: string; at: number }

export class SubmissionWatch {
  /** Audit records already checked for refused submissions. */
  seen = 0;
  private checking?: Promise<void>;
  private readonly submissions: Submission[] = [];

  constructor(private readonly ws: Workspace, private readonly messenger: Messenger, private readonly log: Logger) {}

  /** Starts after what the audit stream holds now. */
  async start(): Promise<void> {
    this.seen = (await this.ws.readStream(AUDIT_STREAM)).lastSeq;
  }

  /** After an inbox submission: tell the chat if the intake refuses the file. */
  watch(file: string, chat: number, label: string): void {
    if (this.submissions.length >= MAX_SUBMISSIONS) this.submissions.shift();
    this.submissions.push({ file, chat, label, at: Date.now() });
  }

  /** Reads the audit records appended since the last check; tells the chats whose files were refused. */
  check(): void {
    const run = async () => {
      const audit = await this.ws.readStream(AUDIT_STREAM);
      const fresh = audit.records.filter((r) => r.seq > this.seen);
      this.seen = audit.lastSeq;
      const now = Date.now();
      for (const sub of [...this.submissions]) if (now - sub.at > SUBMISSION_TTL_MS) this.submissions.splice(this.submissions.indexOf(sub), 1);
      for (const event of fresh.flatMap((r) => r.events)) {
        if (event.type !== 'inbox.rejected') continue;
        const names = [event.data.file, event.data.original].map(String);
        const sub = this.submissions.find((s) => names.includes(s.file));
        if (!sub) continue;
        this.submissions.splice(this.submissions.indexOf(sub), 1);
        const message = String(event.data.message ?? 'it was refused');
        const text = event.data.code === 'RATE_LIMITED'
          ? `⏳ ${esc(sub.label)} was not accepted. ${esc(rateLimitNotice(event.data))}`
          : `⚠️ ${esc(sub.label)} was not accepted: ${esc(message)}`;
        await this.messenger.send(sub.chat, text).catch((err) => this.log.warn('telegram send failed', describeError(err)));
      }
    };
    // One check at a time; a signal during a check runs another after it.
    this.checking = (this.checking ?? Promise.resolve()).then(run).catch((err) => this.log.warn('telegram audit check failed', describeError(err)));
  }

  /** Waits for the check under way. */
  async stop(): Promise<void> {
    await this.checking?.catch(() => undefined);
  }
}
