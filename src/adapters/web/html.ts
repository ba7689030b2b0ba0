/** HTML escaping for everything that reaches a page: titles, file contents, error messages. */
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** A link target fit for an href: http(s) or mailto only, so no `javascript:` or `data:` URL gets through. */
export function safeHref(value: unknown): string | undefined {
  const text = String(value ?? '').trim();
  if (!text) return undefined;
  if (/^(\/(?!\/)|#)/.test(text)) return text;
  try {
    const url = new URL(text);
    return ['http:', 'https:', 'mailto:'].includes(url.protocol) ? url.href : undefined;
  } catch {
    return undefined;
  }
}
