/**
 * The door: only allow-listed users reach the handlers. A stranger gets no effect and no data;
 * the refusal is audited (once per user and command a minute) and answered (once per user a
 * minute, in a private chat). An update that fails is logged and answered with the reason.
 */
import type { Context, MiddlewareFn } from 'grammy';
import { describeError } from '../../core/errors.js';
import { RefusalLimiter, recordRefusal } from '../inbox-port.js';
import { clip, esc, htmlToText } from './html.js';
import { telegramActor, type Session } from './session.js';

const REFUSAL_REPLY_EVERY_MS = 60_000;

export interface Access {
  middleware: MiddlewareFn<Context>;
  /** An allowed update is being handled. */
  busy: () => boolean;
}

export function accessControl(s: Session): Access {
  const { ws, log, allowed } = s.deps;
  const refusalRecords = new RefusalLimiter(REFUSAL_REPLY_EVERY_MS, 60);
  const refusalReplies = new RefusalLimiter(REFUSAL_REPLY_EVERY_MS, 60);
  let inFlight = 0;

  async function refuse(ctx: Context, userId: number): Promise<void> {
    const text = ctx.message?.text ?? '';
    const what = ctx.callbackQuery ? 'telegram.callback' : text.startsWith('/') ? 'telegram.command' : 'telegram.message';
    const detail = { chat: ctx.chat?.id, ...(what === 'telegram.command' ? { command: text.split(/\s/)[0]!.slice(0, 40) } : {}) };
    if (refusalRecords.allow(`${userId}:${what}:${detail.command ?? ''}`)) {
      await recordRefusal(ws, telegramActor(userId), what, detail).catch((err) => log.warn('recording a refusal failed', describeError(err)));
    }
    if (ctx.callbackQuery) {
      await ctx.answerCallbackQuery({ text: 'Not authorised.' }).catch(() => undefined);
    } else if (ctx.chat?.type === 'private' && refusalReplies.allow(String(userId))) {
      await ctx.reply(`Not authorised. Your Telegram user id is ${userId}.`).catch(() => undefined);
    }
  }

  const middleware: MiddlewareFn<Context> = async (ctx, next) => {
    const from = ctx.from;
    if (!from || from.is_bot) return;
    if (!allowed.has(String(from.id))) return refuse(ctx, from.id);
    inFlight += 1;
    try {
      await next();
    } catch (err) {
      log.error('telegram update failed', { update: ctx.update.update_id, ...describeError(err) });
      const text = `Sorry, that did not work: ${esc(describeError(err).message)}`;
      if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: clip(htmlToText(text), 190) }).catch(() => undefined);
      else if (ctx.chat) await s.reply(ctx, text).catch(() => undefined);
    } finally {
      inFlight -= 1;
    }
  };

  return { middleware, busy: () => inFlight > 0 };
}
