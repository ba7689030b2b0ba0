import { Marked, type Tokens } from 'marked';
import { esc, safeHref } from './html.js';

/**
 * Markdown (plans, descriptions) to HTML that is safe to embed: raw HTML in the source is shown
 * escaped, never interpreted; links keep only http(s)/mailto/relative targets; images become
 * links (the CSP would block remote images anyway).
 */
const marked = new Marked({
  async: false,
  gfm: true,
  breaks: false,
  renderer: {
    html(token: Tokens.HTML | Tokens.Tag): string {
      const text = esc(token.text);
      return 'block' in token && token.block ? `<pre class="raw-html">${text}</pre>\n` : text;
    },
    link(token: Tokens.Link): string {
      const inner = this.parser.parseInline(token.tokens);
      const href = safeHref(token.href);
      if (!href) return inner;
      const title = token.title ? ` title="${esc(token.title)}"` : '';
      return `<a href="${esc(href)}"${title} rel="noopener noreferrer nofollow" target="_blank">${inner}</a>`;
    },
    image(token: Tokens.Image): string {
      const href = safeHref(token.href);
      const label = esc(token.text || 'image');
      return href ? `<a href="${esc(href)}" rel="noopener noreferrer nofollow" target="_blank">[${label}]</a>` : `[${label}]`;
    },
  },
});

export function renderMarkdown(source: string): string {
  return marked.parse(source) as string;
}
