import { ASSET_VERSION } from '../assets.js';
import { html, type HtmlValue, type SafeHtml } from '../html.js';

/** Small pieces every page uses, and the page frame. */
export const stateClass = (state: string) => `badge s-${state.replace(/[^a-z0-9_-]/gi, '')}`;
export const time = (iso: string): SafeHtml => html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')}</time>`;

/** `45 s`, `3 min 12 s`, `2 h 5 min`: a running time (app.js has the same function). */
export function elapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export interface PageOptions {
  title: string; csrf?: string; page: 'list' | 'task' | 'message'; taskId?: string;
  /** false: no `orchestra up` with an intake loop was seen running: the banner shows (app.js keeps it current). */
  upRunning?: boolean;
}

export const NO_UP_TEXT = 'No orchestra up is running: submitted tasks wait in the inbox.';

/** The banner shown while no loop takes up the inbox. */
export const noUpBanner = (upRunning: boolean): SafeHtml =>
  html`<p id="no-up" class="banner" role="alert"${upRunning ? html` hidden` : ''}>${NO_UP_TEXT} Start it with <code>orchestra up</code>.</p>`;

export function layout(opts: PageOptions, main: HtmlValue): SafeHtml {
  const app = opts.page !== 'message';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
${opts.csrf ? html`<meta name="csrf-token" content="${opts.csrf}">\n` : ''}<title>${opts.title} · Orchestra</title>
<link rel="stylesheet" href="/static/app.css?v=${ASSET_VERSION}">
${app ? html`<script src="/static/app.js?v=${ASSET_VERSION}" defer></script>\n` : ''}</head>
<body data-page="${opts.page}"${opts.taskId ? html` data-task="${opts.taskId}"` : ''}>
<header class="top"><a class="brand" href="/">Orchestra</a>${app ? html`<span id="live" class="live" title="connecting">live</span>` : ''}</header>
${app ? html`${noUpBanner(opts.upRunning ?? true)}\n` : ''}<p id="notice" class="notice" role="status" hidden></p>
<main>
${main}
</main>
</body>
</html>
`;
}

export function messagePage(title: string, text: string): SafeHtml {
  return layout({ title, page: 'message' }, html`<section class="card"><h1>${title}</h1><p>${text}</p><p><a href="/">Back to the task list</a></p></section>`);
}

/** The bare page of a refused request (401/403): no script, no frame. */
export function refusalPage(status: number, text: string): SafeHtml {
  return html`<!doctype html><meta charset="utf-8"><title>${status}</title><p>${text}</p>\n`;
}

/** Continues to `target` (a same-site path) with a same-site navigation. */
export function continuePage(target: string): SafeHtml {
  return html`<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${target}"><title>Orchestra</title><p><a href="${target}">Continue</a></p>\n`;
}
