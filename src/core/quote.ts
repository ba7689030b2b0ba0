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
 * Globs come from config and fixed lists and are tested per log line and per variable: compiled
 * once. The RegExps have no `g` flag, so `test` keeps no state and they can be shared.
 */
const compiledGlobs = new Map<string, RegExp>();
const MAX_COMPILED_GLOBS = 512;

/**
 * A `*` glob as an anchored, case-insensitive RegExp: `*` matches within one path segment,
 * `**` across segments, nothing else is special. Used for branch patterns and variable names.
 */
export function globToRegExp(glob: string): RegExp {
  let re = compiledGlobs.get(glob);
  if (re) return re;
  const body = glob
    .split('**')
    .map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('[^/]*'))
    .join('.*');
  re = new RegExp(`^${body}$`, 'i');
  if (compiledGlobs.size >= MAX_COMPILED_GLOBS) compiledGlobs.clear();
  compiledGlobs.set(glob, re);
  return re;
}
