/**
 * Plain text: a reply to a plan message (or to the bot's feedback question) is feedback on that
 * task; otherwise the answer to the open question (which repo, what to do, what should change).
 */
import type { Bot, Context } from 'grammy';
import { feedback } from '../actions.js';
import type { Session } from '../session.js';

export function installReplies(bot: Bot, s: Session): void {
  const { ws, state } = s.deps;

  const feedbackOn = async (ctx: Context, taskId: string, text: string) => {
    const view = await ws.findTask(taskId);
    const problem = view ? await feedback(s, ctx, view, text) : '';
    if (problem) await s.reply(ctx, problem);
  };

  bot.on('message:text', async (ctx) => {
    const text = ctx.msg.text;
    if (text.startsWith('/')) return void (await s.reply(ctx, 'Unknown command. See /help'));
    const replyTo = ctx.msg.reply_to_message?.message_id;
    const repliedTask = replyTo !== undefined ? state.taskOfMessage(ctx.chat.id, replyTo) : undefined;
    if (repliedTask) {
      s.conversations.drop(ctx);
      return feedbackOn(ctx, repliedTask, text);
    }
    const conv = s.conversations.current(ctx);
    if (!conv) return void (await s.reply(ctx, 'Send /task &lt;repo&gt; &lt;what to do&gt; to start a task, or /help.'));
    if (conv.kind === 'repo') {
      const repo = text.trim().split(/\s+/)[0] ?? '';
      const problem = s.repoProblem(repo);
      if (problem) return void (await s.reply(ctx, problem));
      await s.askText(ctx, repo);
    } else if (conv.kind === 'text') {
      s.conversations.drop(ctx);
      await s.newTask(ctx, conv.repo, text);
    } else {
      s.conversations.drop(ctx);
      await feedbackOn(ctx, conv.taskId, text);
    }
  });
}
