/**
 * The slash commands: /task, /list, /status, /plan and the people commands (/feedback,
 * /approve, /abort, /retry), plus /help and /cancel. Parsing here; the rules in ../actions.ts.
 */
import type { Bot, Context } from 'grammy';
import type { TaskView } from '../../../core/model/task.js';
import { availableActions } from '../../../pipeline/decide.js';
import { DEV_WORKSTREAM } from '../../../pipeline/dev-workstream.js';
import { abort, approve, feedback, retry } from '../actions.js';
import { renderList, renderStatus, stateLabel } from '../format.js';
import { HELP } from '../help.js';
import { bold, clip, code, esc } from '../html.js';
import { resolveTaskId, type Session } from '../session.js';

const devTasks = async (s: Session) => (await s.ws.tasks()).filter((t) => !t.archived && t.workstream === DEV_WORKSTREAM);

/** Replies with an action's problem, if it has one. */
const answer = async (s: Session, ctx: Context, problem: string) => {
  if (problem) await s.reply(ctx, problem);
};

/** A task waits for you with a plan to review, or failed (retry or let it be). */
const waitsForYou = (t: TaskView) => availableActions(t).needsYou || t.state === 'failed';

export function installCommands(bot: Bot, s: Session): void {
  const { ws, state, notifier } = s.deps;

  bot.command(['start', 'help'], (ctx) => s.reply(ctx, HELP));

  bot.command('cancel', async (ctx) => {
    s.conversations.drop(ctx);
    await s.reply(ctx, 'OK, dropped.');
  });

  bot.command('task', async (ctx) => {
    const args = ctx.match.trim();
    s.conversations.drop(ctx);
    if (!args) return s.askRepo(ctx);
    const repo = args.split(/\s+/)[0]!;
    const text = args.slice(repo.length).trim();
    if (!text) return s.answerRepo(ctx, repo);
    await s.newTask(ctx, repo, text);
  });

  bot.command('list', async (ctx) => {
    await s.reply(ctx, renderList(await devTasks(s)));
  });

  bot.command('status', async (ctx) => {
    const arg = ctx.match.trim().split(/\s+/)[0];
    if (arg) {
      const view = await s.loadTask(ctx, arg);
      if (view) await s.reply(ctx, renderStatus(view));
      return;
    }
    const tasks = await devTasks(s);
    const counts = new Map<string, number>();
    for (const t of tasks) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
    const waiting = tasks.filter(waitsForYou);
    const lines = [`<b>Tasks</b>: ${[...counts].map(([st, n]) => `${esc(st)} ${n}`).join(', ') || 'none'}`];
    if (waiting.length) lines.push('', '<b>Waiting for you</b>', ...waiting.slice(-15).map((t) => `${stateLabel(t.state)} ${code(t.id)}\n   ${esc(clip(t.title, 80))}`));
    await s.reply(ctx, lines.join('\n'));
  });

  bot.command('plan', async (ctx) => {
    const view = await s.loadTask(ctx, ctx.match.trim().split(/\s+/)[0]);
    if (!view) return;
    const plan = view.dev.plans.at(-1);
    if (!plan) return answer(s, ctx, `${bold(view.title)} has no plan yet (state: ${esc(view.state)}).`);
    await s.adopt(ctx, view.id);
    await notifier.sendPlan(ctx.chat!.id, view, plan);
    await state.save();
  });

  bot.command('feedback', async (ctx) => {
    const usage = 'Usage: /feedback &lt;id&gt; &lt;what should change&gt;';
    const args = ctx.match.trim();
    const arg = args.split(/\s+/)[0] ?? '';
    const byArg = arg ? await resolveTaskId(ws, arg) : { error: '' };
    const replied = ctx.msg.reply_to_message ? state.taskOfMessage(ctx.chat.id, ctx.msg.reply_to_message.message_id) : undefined;
    let taskId: string;
    let text: string;
    if ('id' in byArg) [taskId, text] = [byArg.id, args.slice(arg.length).trim()];
    else if (replied) [taskId, text] = [replied, args];
    else return answer(s, ctx, byArg.error || usage);
    if (!text) return answer(s, ctx, usage);
    const view = await ws.findTask(taskId);
    if (view) await answer(s, ctx, await feedback(s, ctx, view, text));
  });

  bot.command('approve', async (ctx) => {
    const [arg, v] = ctx.match.trim().split(/\s+/);
    const view = await s.loadTask(ctx, arg);
    if (!view) return;
    const version = v ? Number(/^v?(\d+)$/i.exec(v)?.[1] ?? NaN) : undefined;
    if (Number.isNaN(version)) return answer(s, ctx, 'Usage: /approve &lt;id&gt; [version]');
    await answer(s, ctx, await approve(s, ctx, view, version));
  });

  bot.command('abort', async (ctx) => {
    const arg = ctx.match.trim().split(/\s+/)[0];
    const view = await s.loadTask(ctx, arg);
    if (!view) return;
    await answer(s, ctx, await abort(s, ctx, view, ctx.match.trim().slice(arg!.length).trim() || undefined));
  });

  bot.command('retry', async (ctx) => {
    const [arg, mode] = ctx.match.trim().split(/\s+/);
    const view = await s.loadTask(ctx, arg);
    if (!view) return;
    await answer(s, ctx, await retry(s, ctx, view, mode?.toLowerCase() === 'replan'));
  });
}
