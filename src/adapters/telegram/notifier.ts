/**
 * Tells chats what happened to their tasks. Learns of changes from the signal files (one per
 * task, touched on each append) and a periodic scan; decides from the folded task view and the
 * state file what is new: a plan version, execution progress (one message per run, edited in
 * place), or a final state.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../../core/errors.js';
import { readdirSafe, readFileSafe } from '../../core/fsutil.js';
import { isUlid } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import type { PlanRef } from '../../core/model/dev.js';
import type { TaskView } from '../../core/model/task.js';
import type { Workspace } from '../../core/workspace.js';
import { watchDir, type DirWatcher } from '../../loops/watch.js';
import { DEV_WORKSTREAM, TERMINAL_DEV_STATES } from '../../pipeline/dev-workstream.js';
import {
  esc, htmlToText, MAX_PLAN_PARTS, renderAborted, renderCompleted, renderFailed, renderPlan, renderPlanShort, renderProgress, splitHtml,
} from './format.js';
import { isPermanent, type Messenger } from './messenger.js';
import type { StateFile, TaskNote } from './state.js';

/** A full scan (every task, not only signalled ones) every this many ticks. */
const FULL_SCAN_EVERY = 30;
const SUBMISSION_TTL_MS = 10 * 60_000;

export const planKeyboard = (taskId: string, version: number) => ({
  inline_keyboard: [[
    { text: `Approve v${version}`, callback_data: `approve:${taskId}:${version}` },
    { text: 'Revise', callback_data: `revise:${taskId}:${version}` },
    { text: 'Abort', callback_data: `abort:${taskId}` },
  ]],
});

/** The chat of a task created through this bot: in a private chat the chat id is the user id. */
export function chatFromCreator(view: TaskView): number | undefined {
  const m = /^adapter:telegram:(-?\d+)(?:@|$)/.exec(view.createdBy);
  return m ? Number(m[1]) : undefined;
}

interface Submission { file: string; chat: number; label: string; at: number }

export class Notifier {
  private watcher?: DirWatcher;
  private timer?: NodeJS.Timeout;
  private readonly dirty = new Set<string>();
  private draining?: Promise<void>;
  private ticks = 0;
  private stopping = false;
  private ready = false;
  private readonly backoff = new Map<string, { until: number; failures: number }>();
  private readonly submissions: Submission[] = [];

  constructor(
    private readonly ws: Workspace,
    private readonly state: StateFile,
    private readonly messenger: Messenger,
    private readonly log: Logger,
    private readonly opts: { scanIntervalMs: number; defaultChat?: number },
  ) {}

  async start(): Promise<void> {
    await fs.mkdir(this.ws.paths.signals, { recursive: true });
    this.watcher = watchDir(this.ws.paths.signals, (name) => this.hint(name));
    // First sight of a workspace (no state file): record what exists without telling anyone.
    const baseline = !this.state.existed;
    for (const id of await this.ws.taskIds()) await this.process(id, baseline).catch((err) => this.log.warn('notify failed', { task: id, ...describeError(err) }));
    await this.state.save();
    this.ready = true;
    this.drain();
    const tick = () => {
      if (this.stopping) return;
      void this.tick().finally(() => {
        if (!this.stopping) this.timer = setTimeout(tick, this.opts.scanIntervalMs);
      });
    };
    this.timer = setTimeout(tick, this.opts.scanIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    await this.draining?.catch(() => undefined);
    await this.state.save().catch(() => undefined);
  }

  hint(taskId: string): void {
    if (!isUlid(taskId) || this.stopping) return;
    this.dirty.add(taskId);
    this.drain();
  }

  idle(): boolean {
    return this.dirty.size === 0 && !this.draining;
  }

  /** After an inbox submission: tell the chat if the intake refuses the file. */
  watchSubmission(file: string, chat: number, label: string): void {
    this.submissions.push({ file, chat, label, at: Date.now() });
  }

  private drain(): void {
    if (this.draining || this.stopping || !this.ready) return;
    this.draining = (async () => {
      while (this.dirty.size > 0 && !this.stopping) {
        const id = this.dirty.values().next().value!;
        this.dirty.delete(id);
        await this.process(id, false).catch((err) => this.log.warn('notify failed', { task: id, ...describeError(err) }));
      }
    })().finally(() => (this.draining = undefined));
  }

  private async tick(): Promise<void> {
    try {
      this.ticks += 1;
      if (this.ticks % FULL_SCAN_EVERY === 0) {
        for (const id of await this.ws.taskIds()) this.dirty.add(id);
      } else {
        // Signals carry the last seq: only tasks with something new are folded.
        for (const id of await readdirSafe(this.ws.paths.signals)) {
          if (!isUlid(id)) continue;
          const seq = Number(await readFileSafe(join(this.ws.paths.signals, id)).catch(() => undefined));
          const seen = this.state.state.tasks[id]?.seq ?? 0;
          if (!Number.isFinite(seq) || seq > seen) this.dirty.add(id);
        }
      }
      this.drain();
      await this.checkSubmissions();
    } catch (err) {
      this.log.warn('telegram scan failed', describeError(err));
    }
  }

  private async checkSubmissions(): Promise<void> {
    if (this.submissions.length === 0) return;
    const { inbox, intake, rejected } = this.ws.paths;
    const pending = new Set([...(await readdirSafe(inbox)), ...(await readdirSafe(intake)).map((n) => n.replace(/^[0-9A-Z]{26}--/, ''))]);
    for (const sub of [...this.submissions]) {
      const error = await readFileSafe(join(rejected, `${sub.file}.error.json`));
      const done = error !== undefined || !pending.has(sub.file) || Date.now() - sub.at > SUBMISSION_TTL_MS;
      if (!done) continue;
      this.submissions.splice(this.submissions.indexOf(sub), 1);
      if (error === undefined) continue;
      let message = 'it was refused';
      try {
        message = String((JSON.parse(error) as { message?: string }).message ?? message);
      } catch { /* keep the generic text */ }
      await this.messenger.send(sub.chat, `⚠️ ${esc(sub.label)} was not accepted: ${esc(message)}`).catch((err) => this.log.warn('telegram send failed', describeError(err)));
    }
  }

  /** Sends a plan with its buttons: as messages, or as a document when it is very long. */
  async sendPlan(chat: number, view: TaskView, plan: PlanRef): Promise<void> {
    const markdown = await this.ws.readWorkspaceFile(plan.file).catch(() => undefined);
    const html = renderPlan(view, plan, { markdown });
    // Buttons only while this version waits for approval (/plan also shows older states).
    const waiting = view.state === 'planned' && view.dev.plans.at(-1)?.version === plan.version;
    const keyboard = waiting ? planKeyboard(view.id, plan.version) : undefined;
    const ids: number[] = [];
    if (splitHtml(html).length > MAX_PLAN_PARTS) {
      const name = `plan-v${plan.version}-${view.id}.md`;
      ids.push(await this.messenger.document(chat, name, markdown ?? htmlToText(html), `Plan v${plan.version}: ${view.title}`));
      ids.push(...(await this.messenger.send(chat, renderPlanShort(view, plan), keyboard ? { keyboard } : {})));
    } else {
      ids.push(...(await this.messenger.send(chat, html, keyboard ? { keyboard } : {})));
    }
    for (const id of ids) this.state.rememberMessage(chat, id, view.id);
  }

  private chatOf(view: TaskView, note: TaskNote): number | undefined {
    return note.chat ?? chatFromCreator(view) ?? this.opts.defaultChat;
  }

  /** Looks at one task and sends what the chat has not been told yet. */
  private async process(id: string, baseline: boolean): Promise<void> {
    const wait = this.backoff.get(id);
    if (wait && wait.until > Date.now()) return;
    const view = await this.ws.findTask(id);
    if (!view || view.workstream !== DEV_WORKSTREAM) return;
    const note = this.state.task(id);
    if (note.seq === view.lastSeq) return;
    const chat = this.chatOf(view, note);
    if (baseline || chat === undefined) {
      note.state = view.state;
      note.plan = view.dev.plans.at(-1)?.version;
      note.seq = view.lastSeq;
      return;
    }
    try {
      await this.tell(chat, view, note);
      note.seq = view.lastSeq;
      this.backoff.delete(id);
    } catch (err) {
      if (isPermanent(err)) {
        this.log.warn('telegram refused a notification; not retrying', { task: id, chat, ...describeError(err) });
        note.seq = view.lastSeq;
        note.state = view.state;
      } else {
        const failures = (wait?.failures ?? 0) + 1;
        this.backoff.set(id, { failures, until: Date.now() + Math.min(300_000, 1000 * 2 ** failures) });
        this.log.warn('telegram notification failed; will retry', { task: id, ...describeError(err) });
      }
    } finally {
      await this.state.save().catch((err) => this.log.warn('saving telegram state failed', describeError(err)));
    }
  }

  private async tell(chat: number, view: TaskView, note: TaskNote): Promise<void> {
    const plan = view.dev.plans.at(-1);
    if (view.state === 'planned' && plan && plan.version > (note.plan ?? 0)) {
      await this.sendPlan(chat, view, plan);
      note.plan = plan.version;
    }
    const exec = view.dev.execution;
    // A run already reported as finished (before a retry starts the next one) is not edited again.
    const finishedRun = note.progress?.run === exec?.startedAt && TERMINAL_DEV_STATES.has(note.state ?? '');
    if (exec && !finishedRun) {
      const live = view.state === 'executing' || view.state === 'publishing';
      const text = renderProgress(view);
      if (note.progress?.run === exec.startedAt) {
        if (note.progress.text !== text) {
          await this.messenger.edit(chat, note.progress.messageId, text);
          note.progress.text = text;
        }
      } else if (live) {
        const [messageId] = await this.messenger.send(chat, text);
        note.progress = { run: exec.startedAt, messageId: messageId!, text };
        this.state.rememberMessage(chat, messageId!, view.id);
      }
    }
    if (view.state !== note.state) {
      const final = view.state === 'completed' ? renderCompleted(view) : view.state === 'failed' ? renderFailed(view) : view.state === 'aborted' ? renderAborted(view) : undefined;
      if (final) for (const id of await this.messenger.send(chat, final)) this.state.rememberMessage(chat, id, view.id);
      note.state = view.state;
    }
  }
}
