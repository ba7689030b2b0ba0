import { GrammyError, InputFile, type Api } from 'grammy';
import type { InlineKeyboardMarkup } from 'grammy/types';
import type { Logger } from '../../core/log.js';
import { clip, htmlToText, splitHtml } from './html.js';

export interface SendOptions {
  keyboard?: InlineKeyboardMarkup;
  /** Ask the client to open a reply to this message (questions the bot asks). */
  forceReply?: boolean;
  replyTo?: number;
}

const isParseError = (err: unknown) => err instanceof GrammyError && err.error_code === 400 && /parse entities/i.test(err.description);
const isNotModified = (err: unknown) => err instanceof GrammyError && /not modified/i.test(err.description);
/** The chat is gone, the bot was blocked or the message cannot be sent at all: retrying will not help. */
export const isPermanent = (err: unknown) => err instanceof GrammyError && (err.error_code === 400 || err.error_code === 403);

/** Sends HTML texts: split under the limit, keyboard on the last part, plain text if HTML is refused. */
export class Messenger {
  constructor(private readonly api: Api, private readonly log: Logger) {}

  async send(chat: number, html: string, opts: SendOptions = {}): Promise<number[]> {
    const parts = splitHtml(html);
    const ids: number[] = [];
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1;
      const markup = last && opts.keyboard ? { reply_markup: opts.keyboard } : last && opts.forceReply ? { reply_markup: { force_reply: true as const, selective: true } } : {};
      const reply = i === 0 && opts.replyTo ? { reply_parameters: { message_id: opts.replyTo, allow_sending_without_reply: true } } : {};
      const other = { link_preview_options: { is_disabled: true }, ...markup, ...reply };
      try {
        ids.push((await this.api.sendMessage(chat, part, { parse_mode: 'HTML', ...other })).message_id);
      } catch (err) {
        if (!isParseError(err)) throw err;
        this.log.warn('telegram refused the HTML; sending plain text', { error: (err as GrammyError).description });
        ids.push((await this.api.sendMessage(chat, htmlToText(part), other)).message_id);
      }
    }
    return ids;
  }

  /** Replaces a message's text; an unchanged text is not an error. */
  async edit(chat: number, messageId: number, html: string): Promise<void> {
    const text = splitHtml(html)[0] ?? html;
    try {
      await this.api.editMessageText(chat, messageId, text, { parse_mode: 'HTML', link_preview_options: { is_disabled: true } });
    } catch (err) {
      if (isNotModified(err)) return;
      if (!isParseError(err)) throw err;
      await this.api.editMessageText(chat, messageId, htmlToText(text)).catch((e) => (isNotModified(e) ? undefined : Promise.reject(e)));
    }
  }

  async document(chat: number, filename: string, content: string, caption: string): Promise<number> {
    const file = new InputFile(Buffer.from(content, 'utf8'), filename);
    return (await this.api.sendDocument(chat, file, { caption: clip(caption, 1000) })).message_id;
  }
}
