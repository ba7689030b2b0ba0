/**
 * A local stand-in for the Telegram Bot API (`POST /bot<token>/<method>`), enough for grammY's
 * long polling and the methods the bot uses. It validates what Telegram validates and the tests
 * rely on: HTML entities (parse_mode HTML), the 4096-character limit, callback data size.
 *
 *   const tg = await startFakeTelegram();
 *   new Bot(token, { client: { apiRoot: tg.url } });
 *   const id = tg.sendText(111, '/task web Fix x'); await tg.handled(id);
 *   tg.calls('sendMessage') ...; await tg.close();
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { scaled } from './timeouts.js';

export interface Call { method: string; params: Record<string, any>; at: number }
export interface SentMessage { message_id: number; chat: number; text: string; html?: string; reply_markup?: any; document?: { filename: string; content: string } }

const TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'a', 'code', 'pre', 'span', 'tg-spoiler', 'blockquote', 'tg-emoji']);

/** Parses Telegram HTML like the server does; returns the visible text or throws its error text. */
export function parseTelegramHtml(html: string): string {
  let text = '';
  const stack: string[] = [];
  const re = /<(\/?)([a-z-]+)((?:\s+[a-z-]+="[^"<>]*")*)\s*>|&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);|([<>&])|([^<>&]+)/gi;
  for (let m: RegExpExecArray | null; (m = re.exec(html)); ) {
    if (m[2]) {
      const name = m[2].toLowerCase();
      if (!TAGS.has(name)) throw new Error(`can't parse entities: unsupported start tag "${name}"`);
      if (m[1]) {
        if (stack.pop() !== name) throw new Error(`can't parse entities: unmatched end tag "${name}"`);
      } else stack.push(name);
    } else if (m[4]) {
      const e = m[4];
      text += e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'amp' ? '&' : e === 'quot' ? '"' : String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
    } else if (m[5]) {
      throw new Error(`can't parse entities: unexpected "${m[5]}" at byte offset ${m.index}`);
    } else text += m[6];
  }
  if (stack.length) throw new Error(`can't parse entities: unclosed tag "${stack.at(-1)}"`);
  return text;
}

function parseMultipart(body: Buffer, boundary: string): Record<string, any> {
  const out: Record<string, any> = {};
  const raw = body.toString('latin1');
  for (const part of raw.split(`--${boundary}`)) {
    const at = part.indexOf('\r\n\r\n');
    if (at < 0) continue;
    const head = part.slice(0, at);
    const value = Buffer.from(part.slice(at + 4).replace(/\r\n$/, ''), 'latin1');
    const name = /name="([^"]*)"/i.exec(head)?.[1];
    const filename = /filename=("?)([^"\r\n;]*)\1/i.exec(head)?.[2];
    if (!name) continue;
    out[name] = filename !== undefined ? { filename, content: value.toString('utf8') } : value.toString('utf8');
  }
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === 'string' && value.startsWith('attach://')) out[key] = out[value.slice('attach://'.length)];
  }
  return out;
}

export async function startFakeTelegram(opts: { token?: string; maxPollMs?: number } = {}) {
  const token = opts.token ?? '123456:TEST';
  const calls: Call[] = [];
  const updates: any[] = [];
  const messages = new Map<string, SentMessage>();
  const waiters = new Set<() => void>();
  let nextUpdate = 1;
  let nextMessage = 1000;
  let confirmed = 0;
  const wake = () => { for (const w of [...waiters]) w(); };
  const key = (chat: number, id: number) => `${chat}:${id}`;

  const answer = async (method: string, p: Record<string, any>, req: IncomingMessage): Promise<{ status: number; body: any }> => {
    const ok = (result: unknown) => ({ status: 200, body: { ok: true, result } });
    const bad = (description: string) => ({ status: 400, body: { ok: false, error_code: 400, description: `Bad Request: ${description}` } });
    const checkText = (text: string, mode?: string) => {
      const visible = mode === 'HTML' ? parseTelegramHtml(text) : text;
      if (!visible.trim()) throw new Error('message text is empty');
      if (visible.length > 4096) throw new Error('message is too long');
      return visible;
    };
    const checkMarkup = (markup: any) => {
      for (const row of markup?.inline_keyboard ?? []) for (const b of row) if (Buffer.byteLength(b.callback_data ?? '') > 64) throw new Error('BUTTON_DATA_INVALID');
    };
    try {
      switch (method) {
        case 'getMe': return ok({ id: 42, is_bot: true, first_name: 'Orchestra', username: 'orchestra_test_bot', can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false });
        case 'getUpdates': {
          const offset = Number(p.offset ?? 0);
          if (offset > 0) {
            confirmed = Math.max(confirmed, offset - 1);
            while (updates.length && updates[0].update_id < offset) updates.shift();
            wake();
          }
          const waitMs = Math.min(Number(p.timeout ?? 0) * 1000, opts.maxPollMs ?? 1000);
          if (!updates.length && waitMs > 0) {
            await new Promise<void>((resolve) => {
              const done = () => { waiters.delete(done); clearTimeout(timer); resolve(); };
              const timer = setTimeout(done, waitMs);
              waiters.add(done);
              req.once('close', done);
            });
          }
          return ok(updates.slice(0, Number(p.limit ?? 100)));
        }
        case 'sendMessage': {
          const text = checkText(String(p.text), p.parse_mode);
          checkMarkup(p.reply_markup);
          const msg: SentMessage = { message_id: nextMessage++, chat: Number(p.chat_id), text, ...(p.parse_mode ? { html: p.text } : {}), reply_markup: p.reply_markup };
          messages.set(key(msg.chat, msg.message_id), msg);
          return ok({ message_id: msg.message_id, date: Math.floor(Date.now() / 1000), chat: { id: msg.chat, type: 'private' }, text });
        }
        case 'editMessageText': {
          const msg = messages.get(key(Number(p.chat_id), Number(p.message_id)));
          if (!msg) return bad('message to edit not found');
          const text = checkText(String(p.text), p.parse_mode);
          if (text === msg.text) return bad('message is not modified');
          Object.assign(msg, { text, html: p.parse_mode ? p.text : undefined });
          return ok({ message_id: msg.message_id, date: 0, chat: { id: msg.chat, type: 'private' }, text });
        }
        case 'editMessageReplyMarkup': {
          const msg = messages.get(key(Number(p.chat_id), Number(p.message_id)));
          if (msg) msg.reply_markup = p.reply_markup;
          return ok(true);
        }
        case 'sendDocument': {
          const doc = p.document;
          if (!doc || typeof doc !== 'object') return bad('there is no document in the request');
          const msg: SentMessage = { message_id: nextMessage++, chat: Number(p.chat_id), text: String(p.caption ?? ''), document: doc };
          messages.set(key(msg.chat, msg.message_id), msg);
          return ok({ message_id: msg.message_id, date: 0, chat: { id: msg.chat, type: 'private' }, document: { file_id: 'f', file_unique_id: 'u', file_name: doc.filename } });
        }
        case 'answerCallbackQuery': case 'deleteWebhook': case 'setMyCommands': return ok(true);
        default: return { status: 404, body: { ok: false, error_code: 404, description: 'Not Found: method not found' } };
      }
    } catch (err) {
      return bad((err as Error).message);
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(req.url ?? '');
      const send = (status: number, body: unknown) => { if (!res.writableEnded) res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)); };
      if (!m) return send(404, { ok: false, error_code: 404, description: 'Not Found' });
      if (m[1] !== token) return send(401, { ok: false, error_code: 401, description: 'Unauthorized' });
      const body = Buffer.concat(chunks);
      const type = req.headers['content-type'] ?? '';
      const boundary = /boundary=(.+)$/.exec(type)?.[1];
      let params: Record<string, any> = {};
      if (boundary) params = parseMultipart(body, boundary);
      else if (body.length) params = JSON.parse(body.toString('utf8'));
      for (const k of ['reply_markup', 'reply_parameters']) if (typeof params[k] === 'string') params[k] = JSON.parse(params[k]);
      calls.push({ method: m[2]!, params, at: Date.now() });
      const { status, body: out } = await answer(m[2]!, params, req);
      send(status, out);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const user = (id: number) => ({ id, is_bot: false, first_name: `User${id}` });
  const push = (update: Record<string, unknown>) => {
    const update_id = nextUpdate++;
    updates.push({ update_id, ...update });
    wake();
    return update_id;
  };

  const fake = {
    url,
    token,
    calls: (method?: string) => calls.filter((c) => !method || c.method === method),
    /** What a chat shows now (after edits), oldest first. */
    messages: (chat: number) => [...messages.values()].filter((m) => m.chat === chat),
    message: (chat: number, id: number) => messages.get(key(chat, id)),
    /** A text message from a user in their private chat (chat id = user id); returns the update id. */
    sendText(from: number, text: string, o: { replyTo?: number } = {}) {
      const cmd = /^\/[a-z_]+/i.exec(text);
      return push({
        message: {
          message_id: nextMessage++, date: Math.floor(Date.now() / 1000), chat: { id: from, type: 'private' }, from: user(from), text,
          ...(cmd ? { entities: [{ type: 'bot_command', offset: 0, length: cmd[0].length }] } : {}),
          ...(o.replyTo ? { reply_to_message: { message_id: o.replyTo, date: 0, chat: { id: from, type: 'private' }, text: messages.get(key(from, o.replyTo))?.text ?? '' } } : {}),
        },
      });
    },
    /** A press on an inline button of a message the bot sent. */
    press(from: number, messageId: number, data: string) {
      const msg = messages.get(key(from, messageId));
      return push({
        callback_query: {
          id: `cb${nextUpdate}`, from: user(from), chat_instance: 'ci', data,
          message: { message_id: messageId, date: 0, chat: { id: from, type: 'private' }, text: msg?.text ?? '' },
        },
      });
    },
    /** Resolves once the bot confirmed the update (its next getUpdates asked past it: handled). */
    handled(updateId: number, timeoutMs = 5000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`update ${updateId} not handled in ${scaled(timeoutMs)} ms`)); }, scaled(timeoutMs));
        const check = () => { if (confirmed >= updateId) { clearTimeout(timer); waiters.delete(check); resolve(); } };
        waiters.add(check);
        check();
      });
    },
    /** Polls until `find` returns something (calls or messages appear asynchronously). */
    async waitFor<T>(find: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
      const until = Date.now() + scaled(timeoutMs);
      for (;;) {
        const found = find();
        if (found) return found;
        if (Date.now() > until) throw new Error('timed out waiting');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      wake();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

export type FakeTelegram = Awaited<ReturnType<typeof startFakeTelegram>>;
