/** HTML escaping for everything that reaches a page: titles, file contents, error messages. */
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The link policy lives in its own module; re-exported for the renderers. */
export { safeHref } from './url-policy.js';
