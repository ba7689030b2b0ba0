import type { TaskView } from '../../../core/model/task.js';
import { availableActions, latestPlanVersion } from '../../../pipeline/decide.js';
import { html, join, type SafeHtml } from '../html.js';

/**
 * The buttons a person has for the task now. Which ones is the pipeline's decision
 * (`availableActions`, the same rules as the commands); each posts to a route in commands.ts.
 */
export function actionsCard(v: TaskView, csrf: string): SafeHtml | '' {
  const can = availableActions(v);
  const hidden = html`<input type="hidden" name="_csrf" value="${csrf}">`;
  const action = (name: string) => `/tasks/${v.id}/${name}`;
  const parts: SafeHtml[] = [];
  if (can.approve !== undefined) {
    parts.push(html`<form method="post" action="${action('approve')}" data-ajax class="inline">${hidden}<input type="hidden" name="version" value="${can.approve}"><button type="submit" class="primary" id="approve">Approve v${can.approve}</button></form>`);
  }
  if (can.followUp) {
    // A completed task: the feedback starts the next round on its pushed branch.
    parts.push(html`<form method="post" action="${action('feedback')}" data-ajax data-reset class="stack" id="follow-up">${hidden}<label>Follow up: round ${v.dev.round + 1} on <code>${v.dev.push?.branch ?? ''}</code> <textarea name="text" rows="3" required maxlength="20000" placeholder="What should change next? The new plan builds on the pushed work."></textarea></label><div class="actions"><button type="submit">Start round ${v.dev.round + 1}</button></div></form>`);
  } else if (can.feedback) {
    parts.push(html`<form method="post" action="${action('feedback')}" data-ajax data-reset class="stack">${hidden}<label>Feedback on v${latestPlanVersion(v)} <textarea name="text" rows="3" required maxlength="20000" placeholder="What should the next version change?"></textarea></label><div class="actions"><button type="submit">Send feedback</button></div></form>`);
  }
  if (can.retry) {
    if (v.dev.approvedVersion !== undefined) {
      parts.push(html`<form method="post" action="${action('retry')}" data-ajax class="inline">${hidden}<button type="submit" class="primary">Retry with plan v${v.dev.approvedVersion}</button></form>`);
    }
    parts.push(html`<form method="post" action="${action('retry')}" data-ajax class="inline">${hidden}<input type="hidden" name="replan" value="true"><button type="submit">Retry with a new plan</button></form>`);
  }
  if (can.abort) {
    parts.push(html`<details class="danger" data-key="abort"><summary>Abort…</summary><form method="post" action="${action('abort')}" data-ajax class="stack">${hidden}<label>Reason (optional) <input name="reason" maxlength="2000" autocomplete="off"></label><div class="actions"><button type="submit" class="danger">Abort task</button></div></form></details>`);
  }
  if (!parts.length) return '';
  const needsYou = can.needsYou ? html` <span class="badge needs-you">needs you</span>` : '';
  return html`<section class="card" id="actions"><h2>Actions${needsYou}</h2>${join(parts, '\n')}</section>`;
}
