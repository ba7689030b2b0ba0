/**
 * What the handlers share: the bot's dependencies, the open questions (conversations) and the
 * small steps every handler uses (reply, find a task, submit to the inbox, remember the chat).
 * Every change goes through the inbox (`submitTask`, `submitCommand`); reads come from the workspace.
 */
import type { Context } from 'grammy';
import type { Actor } from '../../core/actor.js';
import type { Command } from '../../core/inbox-format.js';
import type { Logger } from '../../core/log.js';
import type { TaskView } from '../../core/model/task.js';
import type { Workspace } from '../../core/workspace.js';
import { describeError } from '../../core/errors.js';
import { resolveTaskRef } from '../../core/task-ref.js';
import { DEV_WORKSTREAM } from '../../pipeline/dev-workstream.js';
import type { Submission } from '../../pipeline/rate-limit.js';
import { DoorLimits } from '../rate-limited.js';
import { checkRepoSpec } from '../../pipeline/target.js';
import { submitCommand, submitTask } from '../inbox-port.js';
import { bold, code, esc, titleOf } from './html.js';
import type { Messenger, SendOptions } from './messenger.js';
import type { Notifier } from './notifier.js';
import type { StateFile } from './state.js';

export const MIN_PREFIX = 6;
const CONVERSATION_TTL_MS = 30 * 60_000;

export interface BotDeps {
  ws: Workspace;
  log: Logger;
  allowed: Set<string>;
  state: StateFile;
  messenger: Messenger;
  notifier: Notifier;
}

export const telegramActor = (userId: number | string): Actor => ({ kind: 'adapter', name: 'telegram', user: String(userId) });

/** Resolves a task number (#12), a full id or a unique prefix (at least 6 characters); the error is a reply text. */
export async function resolveTaskId(ws: Workspace, arg: string | undefined): Promise<{ id: string } | { error: string }> {
  const wanted = (arg ?? '').trim().toUpperCase();
  if (!wanted) return { error: 'Which task? Give its number (#12), its id or a unique prefix of at least 6 characters.' };
  if (/^#?\d{1,9}$/.test(wanted)) {
    try {
      return { id: await resolveTaskRef(ws, wanted) };
    } catch (err) {
      return { error: esc(describeError(err).message) };
    }
  }
  if (!/^[0-9A-Z]+$/.test(wanted)) return { error: `${code(arg)} is not a task id.` };
  if (wanted.length < MIN_PREFIX) return { error: `Give at least ${MIN_PREFIX} characters of the task id.` };
  const matches = (await ws.taskIds()).filter((id) => id.startsWith(wanted));
  if (matches.length === 1) return { id: matches[0]! };
  if (matches.length === 0) return { error: `No task matches ${code(wanted)}.` };
  return { error: `${matches.length} tasks start with ${code(wanted)}: give more characters.` };
}

/** A question the bot asked and waits for an answer to (per chat and user, for half an hour). */
export type Conversation =
  | { kind: 'repo'; at: number; text?: string }
  | { kind: 'text'; repo: string; at: number }
  | { kind: 'feedback'; taskId: string; at: number };

type Open<C> = C extends Conversation ? Omit<C, 'at'> : never;

export class Conversations {
  private readonly open = new Map<string, Conversation>();

  private key(ctx: Context): string {
    return `${ctx.chat?.id}:${ctx.from?.id}`;
  }

  ask(ctx: Context, conv: Open<Conversation>): void {
    this.open.set(this.key(ctx), { ...conv, at: Date.now() } as Conversation);
  }

  /** The open question, unless it is too old (then it is dropped). */
  current(ctx: Context): Conversation | undefined {
    const conv = this.open.get(this.key(ctx));
    if (conv && Date.now() - conv.at <= CONVERSATION_TTL_MS) return conv;
    this.drop(ctx);
    return undefined;
  }

  drop(ctx: Context): void {
    this.open.delete(this.key(ctx));
  }
}

export class Session {
  readonly conversations = new Conversations();

  private readonly limits: DoorLimits;

  constructor(readonly deps: BotDeps) {
    this.limits = new DoorLimits(deps.ws, deps.log, 'telegram');
  }

  get ws(): Workspace {
    return this.deps.ws;
  }

  reply(ctx: Context, html: string, opts: SendOptions = {}): Promise<number[]> {
    return this.deps.messenger.send(ctx.chat!.id, html, opts);
  }

  actorOf(ctx: Context): Actor {
    return telegramActor(ctx.from!.id);
  }

  /** The chat that acts on a task is the one to tell about it, unless one is known already. */
  async adopt(ctx: Context, taskId: string): Promise<void> {
    const note = this.deps.state.task(taskId);
    if (note.chat === undefined) {
      note.chat = ctx.chat!.id;
      await this.deps.state.save();
    }
  }

  /** The task named by an id or prefix, or undefined after telling the chat why not. */
  async loadTask(ctx: Context, arg: string | undefined): Promise<TaskView | undefined> {
    const found = await resolveTaskId(this.ws, arg);
    if ('error' in found) {
      await this.reply(ctx, found.error);
      return undefined;
    }
    const view = await this.ws.findTask(found.id);
    if (!view) await this.reply(ctx, `No task ${code(found.id)}.`);
    return view;
  }

  /** Drops a command into the inbox, watches for its refusal and confirms with `done`. */
  async submit(ctx: Context, view: TaskView, cmd: Command, done: string): Promise<void> {
    if (await this.limitReached(ctx, { kind: 'command', command: cmd })) return;
    const { file } = await submitCommand(this.ws, cmd, this.actorOf(ctx));
    await this.adopt(ctx, view.id);
    this.deps.notifier.watchSubmission(file, ctx.chat!.id, `The ${cmd.command} command for ${view.title}`);
    await this.reply(ctx, done);
  }

  /**
   * Submits a new task: the repo is checked first (as the execution will resolve it); an unknown
   * one is said and asked for again, the text kept for when the answer comes.
   */
  async newTask(ctx: Context, repo: string, text: string): Promise<void> {
    const problem = await this.repoProblem(repo);
    if (problem) return this.askRepo(ctx, problem, text);
    this.conversations.drop(ctx);
    if (await this.limitReached(ctx, { kind: 'task' })) return;
    const title = titleOf(text);
    const { taskId, file } = await submitTask(this.ws, { title, description: text.trim(), workstream: DEV_WORKSTREAM, fields: { repo } }, this.actorOf(ctx));
    this.deps.state.task(taskId).chat = ctx.chat!.id;
    await this.deps.state.save();
    this.deps.notifier.watchSubmission(file, ctx.chat!.id, `The task ${title}`);
    await this.reply(ctx, `📝 Task submitted: ${bold(title)}\n${code(taskId)} · repo ${code(repo)}\nI will send the plan when it is ready.`);
  }

  /**
   * Says a rate limit the user has already reached, instead of submitting (a check only: the
   * intake's check counts and records; a refusal there is reported by the submission watch).
   */
  private async limitReached(ctx: Context, submission: Submission): Promise<boolean> {
    const refusal = await this.limits.refusal(this.actorOf(ctx), submission);
    if (refusal) await this.reply(ctx, `⏳ ${esc(refusal)}`);
    return refusal !== undefined;
  }

  /** Why `repo` cannot be a task's repo (not a configured name, an existing git root or a URL), or undefined. */
  async repoProblem(repo: string): Promise<string | undefined> {
    if (repo.length > 1000) return 'That repo name is too long.';
    try {
      await checkRepoSpec(this.ws, repo);
      return undefined;
    } catch (err) {
      return `Unknown repo ${code(repo)}: ${esc(describeError(err).message)}`;
    }
  }

  /** Asks which repo (again, after `problem`), with the configured names as buttons; `text` is the task waiting for it. */
  async askRepo(ctx: Context, problem?: string, text?: string): Promise<void> {
    this.conversations.ask(ctx, { kind: 'repo', ...(text ? { text } : {}) });
    const known = Object.keys(this.ws.config.repos).filter((r) => Buffer.byteLength(`repo:${r}`) <= 64).slice(0, 12);
    const keyboard = known.length ? { inline_keyboard: known.map((r) => [{ text: r, callback_data: `repo:${r}` }]) } : undefined;
    const hint = known.length ? '' : '\n(a path to a git repository on this machine, or a URL)';
    await this.reply(ctx, `${problem ? `${problem}\n\n` : ''}Which repo?${hint}`, keyboard ? { keyboard } : { forceReply: true });
  }

  /** The answer to "Which repo?": checked, then the task (if its text came already) or the question what to do. */
  async answerRepo(ctx: Context, repo: string): Promise<void> {
    const conv = this.conversations.current(ctx);
    const text = conv?.kind === 'repo' ? conv.text : undefined;
    const problem = await this.repoProblem(repo);
    if (problem) return this.askRepo(ctx, problem, text);
    if (text) return this.newTask(ctx, repo, text);
    await this.askText(ctx, repo);
  }

  /** Asks for the text of a new task in `repo`. */
  async askText(ctx: Context, repo: string): Promise<void> {
    this.conversations.ask(ctx, { kind: 'text', repo });
    await this.reply(ctx, `What should be done in ${code(repo)}?`, { forceReply: true });
  }
}
