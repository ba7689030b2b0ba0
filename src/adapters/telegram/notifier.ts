/**
 * Tells chats what happened to their tasks. Learns of changes from the workspace's signal feed,
 * with the seqs in its state file as the checkpoint (so what happened while it was away is told
 * once); decides from the folded task view what is new: a plan version, execution progress (one
 * message per run, edited in place), or a final state. Refused submissions are found in the
 * audit stream (`inbox.rejected`, submissions.ts).
 */
import { describeError } from '../../core/errors.js';
import { isUlid } from '../../core/ids.js';
import { AUDIT_SIGNAL, type Subscription } from '../../core/signals.js';
import type { Logger } from '../../core/log.js';
import { availableActions, type AvailableActions } from '../../pipeline/decide.js';
import type { PlanRef } from '../../pipeline/dev-fold.js';
import type { TaskView } from '../../core/model/task.js';
import type { Workspace } from '../../core/workspace.js';
import { DEV_WORKSTREAM, TERMINAL_DEV_STATES } from '../../pipeline/dev-workstream.js';
import {
  htmlToText, MAX_PLAN_PARTS, renderAborted, renderCompleted, renderFailed, renderPlan, renderPlanShort, renderProgress, splitHtml,
} from './format.js';
import { isPermanent, type Messenger } from './messenger.js';
import type { StateFile, TaskNote } from './state.js';
import { SubmissionWatch } from './submissions.js';

/**
 * The buttons under a plan waiting for approval: Approve (this version), Revise, Abort, each only
 * when the shared rules (`availableActions`) allow it; without `actions`, all three.
 */
export const planKeyboard = (taskId: string, version: number, actions?: AvailableActions) => ({
  inline_keyboard: [[
    ...(!actions || actions.approve === version ? [{ text: `Approve v${version}`, callback_data: `approve:${taskId}:${version}` }] : []),
    ...(!actions || actions.feedback ? [{ text: 'Revise', callback_data: `revise:${taskId}:${version}` }] : []),
    ...(!actions || actions.abort ? [{ text: 'Abort', callback_data: `abort:${taskId}` }] : []),
  ]],
});

/** The button under a completed task's message: feedback there starts the next round on its branch. */
export const followUpKeyboard = (taskId: string) => ({ inline_keyboard: [[{ text: 'Follow up', callback_data: `followup:${taskId}` }]] });

/** The chat of a task created through this bot: in a private chat the chat id is the user id. */
export function chatFromCreator(view: TaskView): number | undefined {
  const m = /^adapter:telegram:(-?\d+)(?:@|$)/.exec(view.createdBy);
  return m ? Number(m[1]) : undefined;
}

export class Notifier {
  private signals?: Subscription;
  private readonly dirty = new Set<string>();
  private draining?: Promise<void>;
  private stopping = false;
  private ready = false;
  private readonly backoff = new Map<string, { until: number; failures: number }>();
  private readonly submissions: SubmissionWatch;

  constructor(
    private readonly ws: Workspace,
    private readonly state: StateFile,
    private readonly messenger: Messenger,
    private readonly log: Logger,
    private readonly opts: { defaultChat?: number },
  ) {
    this.submissions = new SubmissionWatch(ws, messenger, log);
  }

  async start(): Promise<void> {
    // First sight of a workspace (no state file): record what exists without telling anyone.
    const baseline = !this.state.existed;
    await this.submissions.start();
    for (const id of await this.ws.taskIds()) await this.process(id, baseline).catch((err) => this.log.warn('notify failed', { task: id, ...describeError(err) }));
    await this.state.save();
    this.ready = true;
    this.signals = await this.ws.signals.subscribe((name) => (name === AUDIT_SIGNAL ? this.submissions.check() : this.hint(name)), {
      initial: (name) => (name === AUDIT_SIGNAL ? this.submissions.seen : this.state.state.tasks[name]?.seq ?? 0),
    });
    this.drain();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.signals?.close();
    await this.draining?.catch(() => undefined);
    await this.submissions.stop();
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
    this.submissions.watch(file, chat, label);
  }

  private drain(): void {
    if (this.draining || this.stopping || !this.ready) return;
    this.draining = (async () => {
      while (this.dirty.size > 0 && !this.stopping) {
        const id = this.dirty.values().next().value!;
        this.dirty.delete(id);
        await this.process(id, false).catch((err) => this.log.warn('notify failed', { task: id, ...describeError(err) }));
      }
    })().finally(() => {
      this.draining = undefined;
      if (this.dirty.size > 0) this.drain(); // a hint that landed as the pass ended
    });
  }

  /** Sends a plan with its buttons: as messages, or as a document when it is very long. */
  async sendPlan(chat: number, view: TaskView, plan: PlanRef): Promise<void> {
    const markdown = await this.ws.readWorkspaceFile(plan.file).catch(() => undefined);
    const html = renderPlan(view, plan, { markdown });
    // Buttons only while this version waits for approval (/plan also shows older states).
    const actions = availableActions(view);
    const keyboard = actions.approve === plan.version ? planKeyboard(view.id, plan.version, actions) : undefined;
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
    const waiting = availableActions(view).approve;
    if (plan && waiting === plan.version && waiting > (note.plan ?? 0)) {
      await this.sendPlan(chat, view, plan);
      note.plan = plan.version;
    }
    const exec = view.dev.execution;
    // A run already reported as finished (before a retry starts the next one) is not edited again.
    const finishedRun = note.progress?.run === exec?.startedAt && TERMINAL_DEV_STATES.has(note.state ?? '');
    if (exec && !finishedRun) {
      const live = view.state === 'executing' || view.state === 'publishing';
      const text = renderProgress(view);
      // Edited while the run goes on and once when it ends; a retry's new states belong to the next run.
      if (note.progress?.run === exec.startedAt && (live || TERMINAL_DEV_STATES.has(view.state))) {
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
      const keyboard = view.state === 'completed' && availableActions(view).followUp ? followUpKeyboard(view.id) : undefined;
      if (final) for (const id of await this.messenger.send(chat, final, keyboard ? { keyboard } : {})) this.state.rememberMessage(chat, id, view.id);
      note.state = view.state;
    }
  }
}
