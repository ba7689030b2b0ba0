/**
 * What a person can do in the chat. Every change goes through the inbox (`submitTask`,
 * `submitCommand`); reads come from the workspace. The checks made here (state, plan version)
 * only give a quick, clear answer: the intake validates every command again.
 */
import type { Bot, Context } from 'grammy';
import type { Actor } from '../../core/actor.js';
import { describeError } from '../../core/errors.js';
import type { Command } from '../../core/inbox-format.js';
import type { Logger } from '../../core/log.js';
import type { TaskView } from '../../core/model/task.js';
import type { Workspace } from '../../core/workspace.js';
import { DEV_WORKSTREAM, TERMINAL_DEV_STATES } from '../../pipeline/dev-workstream.js';
import { RefusalLimiter, recordRefusal, submitCommand, submitTask } from '../inbox-port.js';
import { bold, clip, code, esc, HELP, htmlToText, renderList, renderStatus, stateLabel, titleOf } from './format.js';
import type { Messenger } from './messenger.js';
import type { Notifier } from './notifier.js';
import type { StateFile } from './state.js';

export const MIN_PREFIX = 6;
const CONVERSATION_TTL_MS = 30 * 60_000;
const REFUSAL_REPLY_EVERY_MS = 60_000;

type Conversation =
  | { kind: 'repo'; at: number }
  | { kind: 'text'; repo: string; at: number }
  | { kind: 'feedback'; taskId: string; at: number };

export interface BotDeps {
  ws: Workspace;
  log: Logger;
  allowed: Set<string>;
  state: StateFile;
  messenger: Messenger;
  notifier: Notifier;
}

export const telegramActor = (userId: number | string): Actor => ({ kind: 'adapter', name: 'telegram', user: String(userId) });

/** Resolves a full id or a unique prefix (at least 6 characters); the error is a reply text. */
export async function resolveTaskId(ws: Workspace, arg: string | undefined): Promise<{ id: string } | { error: string }> {
  const wanted = (arg ?? '').trim().toUpperCase();
  if (!wanted) return { error: 'Which task? Give its id (or a unique prefix of at least 6 characters).' };
  if (!/^[0-9A-Z]+$/.test(wanted)) return { error: `${code(arg)} is not a task id.` };
  if (wanted.length < MIN_PREFIX) return { error: `Give at least ${MIN_PREFIX} characters of the task id.` };
  const matches = (await ws.taskIds()).filter((id) => id.startsWith(wanted));
  if (matches.length === 1) return { id: matches[0]! };
  if (matches.length === 0) return { error: `No task matches ${code(wanted)}.` };
  return { error: `${matches.length} tasks start with ${code(wanted)}: give more characters.` };
}

export function installHandlers(bot: Bot, deps: BotDeps): { busy: () => boolean } {
  const { ws, log, allowed, state, messenger, notifier } = deps;
  const conversations = new Map<string, Conversation>();
  // Refusals are recorded once per user and command a minute, and answered once per user a minute.
  const refusalRecords = new RefusalLimiter(REFUSAL_REPLY_EVERY_MS, 60);
  const refusalReplies = new RefusalLimiter(REFUSAL_REPLY_EVERY_MS, 60);
  let inFlight = 0;

  const convKey = (ctx: Context) => `${ctx.chat?.id}:${ctx.from?.id}`;
  const reply = (ctx: Context, html: string, opts: Parameters<Messenger['send']>[2] = {}) => messenger.send(ctx.chat!.id, html, opts);
  const actorOf = (ctx: Context) => telegramActor(ctx.from!.id);

  /** The chat that acts on a task is the one to tell about it, unless one is known already. */
  const adopt = async (ctx: Context, taskId: string) => {
    const note = state.task(taskId);
    if (note.chat === undefined) {
      note.chat = ctx.chat!.id;
      await state.save();
    }
  };

  async function loadTask(ctx: Context, arg: string | undefined): Promise<TaskView | undefined> {
    const found = await resolveTaskId(ws, arg);
    if ('error' in found) {
      await reply(ctx, found.error);
      return undefined;
    }
    const view = await ws.findTask(found.id);
    if (!view) await reply(ctx, `No task ${code(found.id)}.`);
    return view;
  }

  async function command(ctx: Context, view: TaskView, cmd: Command, done: string): Promise<void> {
    const { file } = await submitCommand(ws, cmd, actorOf(ctx));
    await adopt(ctx, view.id);
    notifier.watchSubmission(file, ctx.chat!.id, `The ${cmd.command} command for ${view.title}`);
    await reply(ctx, done);
  }

  async function newTask(ctx: Context, repo: string, text: string): Promise<void> {
    const title = titleOf(text);
    const { taskId, file } = await submitTask(ws, { title, description: text, workstream: DEV_WORKSTREAM, fields: { repo } }, actorOf(ctx));
    state.task(taskId).chat = ctx.chat!.id;
    await state.save();
    notifier.watchSubmission(file, ctx.chat!.id, `The task ${title}`);
    await reply(ctx, `📝 Task submitted: ${bold(title)}\n${code(taskId)} · repo ${code(repo)}\nI will send the plan when it is ready.`);
  }

  /** A repo name the workspace knows, or anything that looks like a path or URL. */
  function repoProblem(repo: string): string | undefined {
    const known = Object.keys(ws.config.repos);
    if (repo.length > 300) return 'That repo name is too long.';
    if (known.length === 0 || known.includes(repo) || /[/:~.]/.test(repo)) return undefined;
    return `Unknown repo ${code(repo)}. Known repos: ${known.map(code).join(', ')}.\nUsage: /task &lt;repo&gt; &lt;what to do&gt;`;
  }

  async function feedback(ctx: Context, view: TaskView, text: string): Promise<void> {
    if (view.state !== 'planned') {
      await reply(ctx, `Feedback applies to a plan waiting for approval; ${bold(view.title)} is ${esc(view.state)}.`);
      return;
    }
    const version = view.dev.plans.at(-1)?.version ?? 0;
    await command(ctx, view, { command: 'feedback', task: view.id, text }, `✍️ Feedback on plan v${version} sent for ${bold(view.title)}; a revised plan will follow.`);
  }

  async function approve(ctx: Context, view: TaskView, version: number | undefined): Promise<string> {
    const latest = view.dev.plans.at(-1)?.version;
    if (view.state !== 'planned' || latest === undefined) return `${bold(view.title)} has no plan waiting for approval (state: ${esc(view.state)}).`;
    if (version !== undefined && version !== latest) return `Plan v${version} is stale: the latest is v${latest}. See /plan ${view.id}`;
    await command(ctx, view, { command: 'approve', task: view.id, version: latest }, `👍 Plan v${latest} of ${bold(view.title)} approved; execution starts shortly.`);
    return '';
  }

  async function abort(ctx: Context, view: TaskView, reason?: string): Promise<string> {
    if (TERMINAL_DEV_STATES.has(view.state)) return `${bold(view.title)} is already ${esc(view.state)}.`;
    await command(ctx, view, { command: 'abort', task: view.id, ...(reason ? { reason: clip(reason, 2000) } : {}) }, `⏹ Abort requested for ${bold(view.title)}.`);
    return '';
  }

  // ---- access: only allow-listed users reach anything below ----
  bot.use(async (ctx, next) => {
    const from = ctx.from;
    if (!from || from.is_bot) return;
    if (!allowed.has(String(from.id))) {
      const text = ctx.message?.text ?? '';
      const what = ctx.callbackQuery ? 'telegram.callback' : text.startsWith('/') ? 'telegram.command' : 'telegram.message';
      const detail = { chat: ctx.chat?.id, ...(what === 'telegram.command' ? { command: text.split(/\s/)[0]!.slice(0, 40) } : {}) };
      if (refusalRecords.allow(`${from.id}:${what}:${detail.command ?? ''}`)) {
        await recordRefusal(ws, telegramActor(from.id), what, detail).catch((err) => log.warn('recording a refusal failed', describeError(err)));
      }
      if (ctx.callbackQuery) {
        await ctx.answerCallbackQuery({ text: 'Not authorised.' }).catch(() => undefined);
      } else if (ctx.chat?.type === 'private' && refusalReplies.allow(String(from.id))) {
        await ctx.reply(`Not authorised. Your Telegram user id is ${from.id}.`).catch(() => undefined);
      }
      return;
    }
    inFlight += 1;
    try {
      await next();
    } catch (err) {
      log.error('telegram update failed', { update: ctx.update.update_id, ...describeError(err) });
      const text = `Sorry, that did not work: ${esc(describeError(err).message)}`;
      if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: clip(htmlToText(text), 190) }).catch(() => undefined);
      else if (ctx.chat) await reply(ctx, text).catch(() => undefined);
    } finally {
      inFlight -= 1;
    }
  });

  bot.command(['start', 'help'], (ctx) => reply(ctx, HELP));

  bot.command('cancel', async (ctx) => {
    conversations.delete(convKey(ctx));
    await reply(ctx, 'OK, dropped.');
  });

  bot.command('task', async (ctx) => {
    const args = ctx.match.trim();
    conversations.delete(convKey(ctx));
    if (!args) {
      conversations.set(convKey(ctx), { kind: 'repo', at: Date.now() });
      const known = Object.keys(ws.config.repos).filter((r) => Buffer.byteLength(`repo:${r}`) <= 64).slice(0, 12);
      const keyboard = known.length ? { inline_keyboard: known.map((r) => [{ text: r, callback_data: `repo:${r}` }]) } : undefined;
      await reply(ctx, 'Which repo?', keyboard ? { keyboard } : { forceReply: true });
      return;
    }
    const repo = args.split(/\s+/)[0]!;
    const text = args.slice(repo.length).trim();
    const problem = repoProblem(repo);
    if (problem) return void (await reply(ctx, problem));
    if (!text) {
      conversations.set(convKey(ctx), { kind: 'text', repo, at: Date.now() });
      await reply(ctx, `What should be done in ${code(repo)}?`, { forceReply: true });
      return;
    }
    await newTask(ctx, repo, text);
  });

  bot.command('list', async (ctx) => {
    const tasks = (await ws.tasks()).filter((t) => !t.archived && t.workstream === DEV_WORKSTREAM);
    await reply(ctx, renderList(tasks));
  });

  bot.command('status', async (ctx) => {
    const arg = ctx.match.trim().split(/\s+/)[0];
    if (arg) {
      const view = await loadTask(ctx, arg);
      if (view) await reply(ctx, renderStatus(view));
      return;
    }
    const tasks = (await ws.tasks()).filter((t) => !t.archived && t.workstream === DEV_WORKSTREAM);
    const counts = new Map<string, number>();
    for (const t of tasks) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
    const waiting = tasks.filter((t) => t.state === 'planned' || t.state === 'failed');
    const lines = [`<b>Tasks</b>: ${[...counts].map(([s, n]) => `${esc(s)} ${n}`).join(', ') || 'none'}`];
    if (waiting.length) lines.push('', '<b>Waiting for you</b>', ...waiting.slice(-15).map((t) => `${stateLabel(t.state)} ${code(t.id)}\n   ${esc(clip(t.title, 80))}`));
    await reply(ctx, lines.join('\n'));
  });

  bot.command('plan', async (ctx) => {
    const view = await loadTask(ctx, ctx.match.trim().split(/\s+/)[0]);
    if (!view) return;
    const plan = view.dev.plans.at(-1);
    if (!plan) return void (await reply(ctx, `${bold(view.title)} has no plan yet (state: ${esc(view.state)}).`));
    await adopt(ctx, view.id);
    await notifier.sendPlan(ctx.chat!.id, view, plan);
    await state.save();
  });

  bot.command('feedback', async (ctx) => {
    const args = ctx.match.trim();
    const arg = args.split(/\s+/)[0] ?? '';
    const byArg = arg ? await resolveTaskId(ws, arg) : { error: '' };
    const replied = ctx.msg.reply_to_message ? state.taskOfMessage(ctx.chat.id, ctx.msg.reply_to_message.message_id) : undefined;
    let taskId: string;
    let text: string;
    if ('id' in byArg) [taskId, text] = [byArg.id, args.slice(arg.length).trim()];
    else if (replied) [taskId, text] = [replied, args];
    else return void (await reply(ctx, byArg.error || 'Usage: /feedback &lt;id&gt; &lt;what should change&gt;'));
    if (!text) return void (await reply(ctx, 'Usage: /feedback &lt;id&gt; &lt;what should change&gt;'));
    const view = await ws.findTask(taskId);
    if (view) await feedback(ctx, view, text);
  });

  bot.command('approve', async (ctx) => {
    const [arg, v] = ctx.match.trim().split(/\s+/);
    const view = await loadTask(ctx, arg);
    if (!view) return;
    const version = v ? Number(/^v?(\d+)$/i.exec(v)?.[1] ?? NaN) : undefined;
    if (Number.isNaN(version)) return void (await reply(ctx, 'Usage: /approve &lt;id&gt; [version]'));
    const problem = await approve(ctx, view, version);
    if (problem) await reply(ctx, problem);
  });

  bot.command('abort', async (ctx) => {
    const arg = ctx.match.trim().split(/\s+/)[0];
    const view = await loadTask(ctx, arg);
    if (!view) return;
    const problem = await abort(ctx, view, ctx.match.trim().slice(arg!.length).trim() || undefined);
    if (problem) await reply(ctx, problem);
  });

  bot.command('retry', async (ctx) => {
    const [arg, mode] = ctx.match.trim().split(/\s+/);
    const view = await loadTask(ctx, arg);
    if (!view) return;
    if (view.state !== 'failed' && view.state !== 'aborted') return void (await reply(ctx, `Only a failed or aborted task can be retried; ${bold(view.title)} is ${esc(view.state)}.`));
    const replan = mode?.toLowerCase() === 'replan';
    await command(ctx, view, { command: 'retry', task: view.id, replan }, `🔁 Retry requested for ${bold(view.title)}${replan ? ' with a new plan' : ''}.`);
  });

  bot.on('callback_query:data', async (ctx) => {
    const [action, taskId = '', arg] = ctx.callbackQuery.data.split(':');
    const chat = ctx.chat?.id;
    if (action === 'repo' && chat !== undefined) {
      const repo = ctx.callbackQuery.data.slice('repo:'.length);
      conversations.set(convKey(ctx), { kind: 'text', repo, at: Date.now() });
      await ctx.answerCallbackQuery();
      await reply(ctx, `What should be done in ${code(repo)}?`, { forceReply: true });
      return;
    }
    const view = await ws.findTask(taskId);
    if (!view || chat === undefined) return void (await ctx.answerCallbackQuery({ text: 'That task is gone.' }));
    if (action === 'approve') {
      const problem = await approve(ctx, view, Number(arg));
      await ctx.answerCallbackQuery({ text: problem ? clip(htmlToText(problem), 190) : `Plan v${arg} approved` });
      if (!problem) await ctx.editMessageReplyMarkup().catch(() => undefined);
    } else if (action === 'revise') {
      if (view.state !== 'planned') return void (await ctx.answerCallbackQuery({ text: `The task is ${view.state}: nothing to revise.` }));
      conversations.set(convKey(ctx), { kind: 'feedback', taskId: view.id, at: Date.now() });
      await ctx.answerCallbackQuery();
      const [asked] = await reply(ctx, `What should change in plan v${arg} of ${bold(view.title)}? Send your feedback.`, { forceReply: true });
      if (asked !== undefined) state.rememberMessage(chat, asked, view.id);
      await adopt(ctx, view.id);
    } else if (action === 'abort') {
      const problem = await abort(ctx, view);
      await ctx.answerCallbackQuery({ text: problem ? clip(htmlToText(problem), 190) : 'Abort requested' });
      if (!problem) await ctx.editMessageReplyMarkup().catch(() => undefined);
    } else {
      await ctx.answerCallbackQuery();
    }
  });

  bot.on('message:text', async (ctx) => {
    const text = ctx.msg.text;
    if (text.startsWith('/')) return void (await reply(ctx, 'Unknown command. See /help'));
    const key = convKey(ctx);
    const replyTo = ctx.msg.reply_to_message?.message_id;
    const repliedTask = replyTo !== undefined ? state.taskOfMessage(ctx.chat.id, replyTo) : undefined;
    if (repliedTask) {
      conversations.delete(key);
      const view = await ws.findTask(repliedTask);
      if (view) await feedback(ctx, view, text);
      return;
    }
    const conv = conversations.get(key);
    if (!conv || Date.now() - conv.at > CONVERSATION_TTL_MS) {
      conversations.delete(key);
      await reply(ctx, 'Send /task &lt;repo&gt; &lt;what to do&gt; to start a task, or /help.');
      return;
    }
    if (conv.kind === 'repo') {
      const repo = text.trim().split(/\s+/)[0] ?? '';
      const problem = repoProblem(repo);
      if (problem) return void (await reply(ctx, problem));
      conversations.set(key, { kind: 'text', repo, at: Date.now() });
      await reply(ctx, `What should be done in ${code(repo)}?`, { forceReply: true });
    } else if (conv.kind === 'text') {
      conversations.delete(key);
      await newTask(ctx, conv.repo, text);
    } else {
      conversations.delete(key);
      const view = await ws.findTask(conv.taskId);
      if (view) await feedback(ctx, view, text);
    }
  });

  bot.catch((err) => log.error('telegram update failed', { update: err.ctx.update.update_id, ...describeError(err.error) }));

  return { busy: () => inFlight > 0 };
}
