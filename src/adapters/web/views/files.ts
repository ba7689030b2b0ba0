import { html, type SafeHtml } from '../html.js';
import { rawHref, type ShownFile } from '../task-data.js';

/** A record file's rendered body, or why it cannot be shown; a link to the whole file when shortened. */
export function fileBlock(taskId: string, file: ShownFile, body: SafeHtml): SafeHtml {
  if (file.missing) return html`<p class="muted">The file ${file.rel} cannot be read.</p>`;
  const whole = rawHref(taskId, file.rel);
  const more = file.truncated ? html`<p class="muted">Shortened.${whole ? html` <a href="${whole}" target="_blank" rel="noopener">Whole file</a>` : ''}</p>` : '';
  return html`${body}${more}`;
}

/** A unified diff with its file, hunk, added and removed lines marked. */
export function diffHtml(text: string): SafeHtml {
  return html`${text.split('\n').map((line, i) => {
    const cls = line.startsWith('+++') || line.startsWith('---') || line.startsWith('diff ') ? 'd-file'
      : line.startsWith('@@') ? 'd-hunk' : line.startsWith('+') ? 'd-add' : line.startsWith('-') ? 'd-del' : '';
    return html`${i ? '\n' : ''}${cls ? html`<span class="${cls}">${line}</span>` : line}`;
  })}`;
}
