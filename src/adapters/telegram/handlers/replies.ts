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
    const replyTo = ctx.msg.reply_to_message?.message_id;
    const repliedTask = replyTo !== undefined ? state.taskOfMessage(ctx.chat.id, replyTo) : undefined;
    if (repliedTask) {
      s.conversations.drop(ctx);
      return feedbackOn(ctx, repliedTask, text);
    }
    // The open question's answer comes first: a path such as /home/me/app is an answer (clients
    // mark it as a bot command), only a bare /word is an unknown command.
    const conv = s.conversations.current(ctx);
    if (!conv || BARE_COMMAND.test(text.trim())) {
      if (text.startsWith('/')) return void (await s.reply(ctx, 'Unknown command. See /help'));
      return void (await s.reply(ctx, 'Send /task &lt;repo&gt; &lt;what to do&gt; to start a task, or /help.'));
    }
    if (conv.kind === 'repo') {
      await s.answerRepo(ctx, text.trim().split(/\s+/)[0] ?? '');
    } else if (conv.kind === 'text') {
      await s.newTask(ctx, conv.repo, text);
    } else {
      s.conversations.drop(ctx);
      await feedbackOn(ctx, conv.taskId, text);
    }
  });
}

/** `/word` or `/word@bot` alone: a command the bot does not know, not an answer. */
const BARE_COMMAND = /^\/[A-Za-z0-9_]+(?:@\w+)?$/;
