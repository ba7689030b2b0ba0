/**
 * Inline-button presses: a repo chosen for a new task (`repo:<name>`), and the buttons under a
 * plan (`approve:<id>:<version>`, `revise:<id>:<version>`, `abort:<id>`), and the one under a
 * completed task (`followup:<id>`: its feedback starts the next round on the task's branch).
 */
import type { Bot } from 'grammy';
import { availableActions } from '../../../pipeline/decide.js';
import { abort, approve } from '../actions.js';
import { bold, clip, htmlToText } from '../html.js';
import type { Session } from '../session.js';

/** A button's answer is a short plain-text toast. */
const toast = (html: string) => clip(htmlToText(html), 190);

export function installCallbacks(bot: Bot, s: Session): void {
  const { ws, state } = s.deps;

  bot.on('callback_query:data', async (ctx) => {
    const [action, taskId = '', arg] = ctx.callbackQuery.data.split(':');
    const chat = ctx.chat?.id;
    if (action === 'repo' && chat !== undefined) {
      const repo = ctx.callbackQuery.data.slice('repo:'.length);
      await ctx.answerCallbackQuery();
      await s.answerRepo(ctx, repo);
      return;
    }
    const view = await ws.findTask(taskId);
    if (!view || chat === undefined) return void (await ctx.answerCallbackQuery({ text: 'That task is gone.' }));
    if (action === 'approve') {
      const problem = await approve(s, ctx, view, Number(arg));
      await ctx.answerCallbackQuery({ text: problem ? toast(problem) : `Plan v${arg} approved` });
      if (!problem) await ctx.editMessageReplyMarkup().catch(() => undefined);
    } else if (action === 'revise') {
      // Only a plan waiting: an old plan's button on a completed task does not start a round.
      if (availableActions(view).approve === undefined) return void (await ctx.answerCallbackQuery({ text: `The task is ${view.state}: nothing to revise.` }));
      s.conversations.ask(ctx, { kind: 'feedback', taskId: view.id });
      await ctx.answerCallbackQuery();
      const [asked] = await s.reply(ctx, `What should change in plan v${arg} of ${bold(view.title)}? Send your feedback.`, { forceReply: true });
      if (asked !== undefined) state.rememberMessage(chat, asked, view.id);
      await s.adopt(ctx, view.id);
    } else if (action === 'followup') {
      if (!availableActions(view).followUp) return void (await ctx.answerCallbackQuery({ text: `The task is ${view.state}: a follow-up applies to a completed task.` }));
      s.conversations.ask(ctx, { kind: 'feedback', taskId: view.id });
      await ctx.answerCallbackQuery();
      const [asked] = await s.reply(ctx, `What should change next on ${bold(view.dev.push?.branch ?? 'the branch')} of ${bold(view.title)}? Send your feedback: round ${view.dev.round + 1} builds on the pushed work.`, { forceReply: true });
      if (asked !== undefined) state.rememberMessage(chat, asked, view.id);
      await s.adopt(ctx, view.id);
    } else if (action === 'abort') {
      const problem = await abort(s, ctx, view);
      await ctx.answerCallbackQuery({ text: problem ? toast(problem) : 'Abort requested' });
      if (!problem) await ctx.editMessageReplyMarkup().catch(() => undefined);
    } else {
      await ctx.answerCallbackQuery();
    }
  });
}
