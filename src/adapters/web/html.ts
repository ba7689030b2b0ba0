import { escapeHtml } from '../../core/quote.js';

/**
 * HTML that is safe to put in a page as it is. Views build it with the `html` tagged template,
 * which escapes every interpolated value unless it already is SafeHtml; `raw` marks a string that
 * is already safe (rendered Markdown, a fixed snippet). One missed escape cannot happen: a plain
 * string in `${...}` is always text.
 */
const MINT = Symbol('SafeHtml');

export class SafeHtml {
  readonly #html: string;

  /** Only this module makes SafeHtml: views use `html` and `raw`. */
  constructor(key: typeof MINT, value: string) {
    if (key !== MINT) throw new TypeError('SafeHtml is made with html`...` or raw()');
    this.#html = value;
  }

  toString(): string {
    return this.#html;
  }

  toJSON(): string {
    return this.#html;
  }
}

/** What may be interpolated: text (escaped), SafeHtml (as is), lists of either (joined), nothing. */
export type HtmlValue = SafeHtml | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

export function isSafeHtml(value: unknown): value is SafeHtml {
  return value instanceof SafeHtml;
}

/** Marks already-safe HTML (never text that came from a person or a file) to pass through unescaped. */
export function raw(trusted: string | SafeHtml): SafeHtml {
  return trusted instanceof SafeHtml ? trusted : new SafeHtml(MINT, String(trusted));
}

function render(value: HtmlValue): string {
  if (value === undefined || value === null || value === false) return '';
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(value);
}

/**
 * The auto-escaping template tag: html`<p title="${title}">${text}</p>`. Every interpolation is
 * escaped as text (valid in element content and in quoted attribute values); SafeHtml passes
 * through; arrays are joined without a separator; undefined, null and false render nothing.
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new SafeHtml(MINT, out);
}

/** Fragments joined with a separator (escaped unless SafeHtml); fragments that render empty are left out. */
export function join(parts: readonly HtmlValue[], separator: HtmlValue = ''): SafeHtml {
  const sep = render(separator);
  return new SafeHtml(MINT, parts.map(render).filter((p) => p !== '').join(sep));
}

/** The link policy lives in its own module; re-exported for the views. */
export { safeHref } from './url-policy.js';
