import { remembered } from './remember.js';

/**
 * Quoting text for the languages it is embedded in. Every HTML page and Telegram message escapes
 * through escapeHtml; every value substituted into a shell command line through shellQuote.
 */
const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text as HTML character data or a quoted attribute value (also valid Telegram HTML). */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** One POSIX shell word holding exactly `value`, whatever it contains. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * A `*` glob as an anchored, case-insensitive RegExp: `*` matches within one path segment,
 * `**` across segments, nothing else is special. Used for branch patterns and variable names;
 * compiled once per glob (they are tested per log line and per variable).
 */
export const globToRegExp: (glob: string) => RegExp = remembered(512, (glob) => {
  const body = glob
    .split('**')
    .map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('[^/]*'))
    .join('.*');
  // No `g` flag: `test` keeps no state, so one RegExp per glob is shared by every caller.
  return new RegExp(`^${body}$`, 'i');
});
