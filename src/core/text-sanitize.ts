/**
 * Text hygiene for anything that reaches a record, a commit message or a terminal.
 * Preconditions: none; every function is total over strings.
 *
 * - `singleLine`: for titles, tags, names, reasons: control characters (C0, DEL, C1), line and
 *   paragraph separators and bidi overrides become a space; runs of spaces collapse.
 * - `multiLine`: for descriptions and comments: the same, but newlines and tabs are kept and
 *   CRLF/CR become LF.
 * - `forTerminal`: for human CLI output: control characters other than LF/TAB are printed as
 *   visible escapes (`\x1b`), so text from a record can never drive the terminal.
 */

// C0 controls except TAB/LF, DEL, C1 controls, U+2028/2029 and the bidi embedding/override/isolate marks.
const CONTROL_BUT_TAB_LF = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const ANY_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function singleLine(text: string): string {
  return text.replace(ANY_CONTROL, ' ').replace(/ {2,}/g, ' ');
}

export function multiLine(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(CONTROL_BUT_TAB_LF, ' ');
}

export function hasControl(text: string): boolean {
  return new RegExp(ANY_CONTROL.source).test(text);
}

export function forTerminal(text: string): string {
  return text.replace(CONTROL_BUT_TAB_LF, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Deep copy of a JSON-like value with every string passed through `multiLine` and keys through `singleLine`. */
export function cleanStrings(value: unknown): unknown {
  if (typeof value === 'string') return multiLine(value);
  if (Array.isArray(value)) return value.map(cleanStrings);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, singleLine(k), { value: cleanStrings(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

/**
 * `text` cut to at most `max` code points (never inside a surrogate pair); when cut, `marker`
 * (given how many code points were dropped) is appended.
 */
export function clip(text: string, max: number, marker: (dropped: number) => string = () => '…'): string {
  if (text.length <= max) return text;
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  return chars.slice(0, Math.max(1, max)).join('') + marker(chars.length - max);
}

/** One line of at most `n` characters: control characters removed, whitespace runs collapsed. */
export function shortLine(value: unknown, n = 60): string {
  return singleLine(String(value ?? '')).replace(/\s+/g, ' ').slice(0, n);
}

/** A dollar amount as every view shows it: 4 decimals below $1 (model calls cost cents), else 2. */
export function formatUsd(usd: number): string {
  return `$${usd.toFixed(Math.abs(usd) < 1 ? 4 : 2)}`;
}

/** `1 model call`, `2 model calls`: a count with its noun, singular or plural. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}
