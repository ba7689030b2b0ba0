import { Marked, type Tokens } from 'marked';
import { html, raw, safeHref, type SafeHtml } from './html.js';

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
      return String('block' in token && token.block ? html`<pre class="raw-html">${token.text}</pre>\n` : html`${token.text}`);
    },
    link(token: Tokens.Link): string {
      const inner = raw(this.parser.parseInline(token.tokens));
      const href = safeHref(token.href);
      if (!href) return String(inner);
      return String(html`<a href="${href}"${token.title ? html` title="${token.title}"` : ''} rel="noopener noreferrer nofollow" target="_blank">${inner}</a>`);
    },
    image(token: Tokens.Image): string {
      const href = safeHref(token.href);
      const label = token.text || 'image';
      return String(href ? html`<a href="${href}" rel="noopener noreferrer nofollow" target="_blank">[${label}]</a>` : html`[${label}]`);
    },
  },
});

export function renderMarkdown(source: string): string {
  return marked.parse(source) as string;
}

/** Rendered Markdown as a fragment for the views (marked's output is escaped by the renderer above). */
export function markdown(source: string): SafeHtml {
  return raw(renderMarkdown(source));
}
