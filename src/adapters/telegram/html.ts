/**
 * Telegram HTML (`parse_mode: 'HTML'`) building blocks. Everything that comes from a task goes
 * through `esc`; `splitHtml` cuts long texts under Telegram's limit without breaking a tag or an
 * entity. Pure functions: the unit tests cover them without a bot.
 */
import { escapeHtml } from '../../core/quote.js';
import { clip as clipText } from '../../core/text-sanitize.js';

/** Telegram's limit on one message's text. */
export const MESSAGE_LIMIT = 4096;

export const esc = escapeHtml;

export const code = (text: unknown) => `<code>${esc(text)}</code>`;
export const bold = (text: unknown) => `<b>${esc(text)}</b>`;

/** Cuts a string to `max` characters (by code point), the last one marking the cut. */
export const clip = (text: string, max: number): string => clipText(text, Math.max(1, max - 1));

/**
 * A short task title from free text: its first non-empty line, cut at the end of the first
 * sentence (a `.`, `!` or `?` followed by a space, after a word of two or more letters, so "e.g."
 * does not end it), at most `max` characters, cut at a word boundary when one is near.
 * The whole text stays the task's description.
 */
export function titleOf(text: string, max = 80): string {
  const line = text.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
  const end = /[^\s.!?]{2}[.!?](?=\s)/.exec(line);
  let title = end ? line.slice(0, end.index + 3) : line;
  title = title.replace(/(?<=[^.])\.$/, '');
  if (Array.from(title).length <= max) return title;
  const cut = Array.from(title).slice(0, max - 1).join('');
  const space = cut.lastIndexOf(' ');
  return `${space >= max * 0.6 ? cut.slice(0, space) : cut}…`;
}

/** A link when the target is a web URL, otherwise the target as code. */
export function linkOrCode(target: string, label = target): string {
  return /^https?:\/\/\S+$/i.test(target) ? `<a href="${esc(target)}">${esc(label)}</a>` : code(target);
}

/** Strips tags and decodes entities: the text a person sees (fallback for plain sends). */
export function htmlToText(html: string): string {
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&');
}

interface OpenTag { name: string; raw: string }
const closing = (stack: OpenTag[]) => stack.slice().reverse().map((t) => `</${t.name}>`).join('');
const opening = (stack: OpenTag[]) => stack.map((t) => t.raw).join('');

/**
 * Splits HTML into parts of at most `limit` characters, preferring line breaks. A cut inside a
 * tag pair closes the open tags at the end of the part and reopens them in the next one; a tag
 * or an entity is never cut.
 */
export function splitHtml(html: string, limit = MESSAGE_LIMIT): string[] {
  if (html.length <= limit) return [html];
  const budget = limit - 128; // room for closing tags
  const piece = Math.max(16, Math.floor(budget / 4));
  const tokens = html.match(/<[^>]*>|&[#A-Za-z0-9]+;|\n|[^<&\n]+|[<&]/g) ?? [];
  const parts: string[] = [];
  let stack: OpenTag[] = [];
  let cur = '';
  let cut: { pos: number; stack: OpenTag[] } | undefined;
  const push = (part: string) => {
    if (htmlToText(part).trim()) parts.push(part);
  };
  for (const token of tokens) {
    const pieces: string[] = [];
    if (token.length > piece && !token.startsWith('<') && !token.startsWith('&')) {
      const chars = Array.from(token);
      for (let i = 0; i < chars.length; i += piece) pieces.push(chars.slice(i, i + piece).join(''));
    } else pieces.push(token);
    for (const p of pieces) {
      if (cur.length + p.length > budget) {
        if (cut && cut.pos > budget / 2) {
          push(cur.slice(0, cut.pos) + closing(cut.stack));
          cur = opening(cut.stack) + cur.slice(cut.pos + 1);
        } else {
          push(cur + closing(stack));
          cur = opening(stack);
        }
        cut = undefined;
      }
      cur += p;
      const tag = /^<(\/?)([A-Za-z][A-Za-z0-9-]*)[^>]*?(\/?)>$/.exec(p);
      if (tag) {
        if (tag[1]) {
          const at = stack.map((t) => t.name).lastIndexOf(tag[2]!.toLowerCase());
          if (at >= 0) stack = stack.slice(0, at);
        } else if (!tag[3]) stack = [...stack, { name: tag[2]!.toLowerCase(), raw: p }];
      }
      if (p === '\n') cut = { pos: cur.length - 1, stack };
    }
  }
  push(cur + closing(stack));
  return parts;
}
