/**
 * Which link targets may reach an `href` in a page: absolute http(s) and mailto URLs, same-site
 * paths (`/x`) and fragments (`#x`). Nothing else: no `javascript:`/`data:` and no URL a browser
 * could read as protocol-relative (`//host`, `/\host`, `\\host`, `\/host`), which would leave
 * the site while looking like a local path.
 *
 * Browsers remove ASCII tab, LF and CR anywhere in a URL and C0 controls and spaces at its ends
 * before parsing, and treat `\` like `/` in http(s) URLs; the policy does the same first, so
 * `java\tscript:` and `/\t/evil` are judged as `javascript:` and `//evil`. Percent-encoded
 * slashes and backslashes at the start of a path (`/%5Cevil`, `/%2F/evil`) are refused too: a
 * server or proxy that decodes them before redirecting would send the reader off-site.
 *
 * Returns the cleaned target (safe once HTML-escaped), or undefined when it is refused.
 */
const SCHEMES = new Set(['http:', 'https:', 'mailto:']);

export function safeHref(value: unknown): string | undefined {
  // eslint-disable-next-line no-control-regex
  const text = String(value ?? '').replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');
  if (!text) return undefined;
  if (text.startsWith('#')) return text;
  if (text.startsWith('/') || text.startsWith('\\')) return isSameSitePath(text) ? text : undefined;
  try {
    const url = new URL(text);
    return SCHEMES.has(url.protocol) ? url.href : undefined;
  } catch {
    return undefined; // a relative path without a leading slash, or not a URL at all
  }
}

/** A root-relative path whose second character does not make it protocol-relative. */
function isSameSitePath(text: string): boolean {
  let decoded = text;
  // Decode %2F / %5C (any case, also double-encoded %252F) so encoded forms are judged as what they become.
  for (let i = 0; i < 3; i++) decoded = decoded.replace(/%25/gi, '%').replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  if (decoded[0] !== '/') return false; // a leading backslash reads as a slash: "\/x" and "\\x" leave the site
  const second = decoded[1];
  if (second === '/' || second === '\\') return false;
  // Any other escape right after the first slash (an encoded tab, an overlong "/" like %C0%AF,
  // IIS-style %u002f) could also be decoded into a second slash by a lenient server: refused.
  return !/^\/(%|\\u)/i.test(text);
}
