/** HTML escaping for everything that reaches a page: titles, file contents, error messages. */
export { escapeHtml as esc } from '../../core/quote.js';

/** The link policy lives in its own module; re-exported for the renderers. */
export { safeHref } from './url-policy.js';
