import type { PlanRef } from '../../../pipeline/dev-fold.js';
import { planSections } from '../../../pipeline/plan.js';
import { html, join, type SafeHtml } from '../html.js';
import { markdown } from '../markdown.js';
import type { TaskPageData } from '../task-data.js';
import { fileBlock } from './files.js';
import { time } from './layout.js';

/** A plan from its recorded fields, section by section as the pipeline names them (when its file is gone). */
export function planSectionsHtml(plan: PlanRef): SafeHtml {
  return html`${planSections(plan).map((section) => {
    if (section.key === 'summary') return section.text ? html`<h4>${section.label}</h4><p>${section.text}</p>` : '';
    if (!section.items.length) return '';
    const items = section.items.map((s) => html`<li>${s}</li>`);
    return section.numbered ? html`<h4>${section.label}</h4><ol>${items}</ol>` : html`<h4>${section.label}</h4><ul>${items}</ul>`;
  })}`;
}

/** Every plan version, newest first and open, with its status and the feedback it got. */
export function planCard(d: TaskPageData): SafeHtml | '' {
  const { view: v } = d;
  if (!v.dev.plans.length) {
    return v.state === 'planning' ? html`<section class="card" id="plan"><h2>Plan</h2><p class="muted">The planner is working on it.</p></section>` : '';
  }
  const versions = [...v.dev.plans].reverse().map((p, i) => {
    const file = d.plans.get(p.version)!;
    const feedback = v.dev.feedback.filter((f) => f.onVersion === p.version)
      .map((f) => html`<blockquote class="feedback"><p class="muted">Feedback ${time(f.at)}</p>${markdown(f.text)}</blockquote>`);
    const body = file.missing ? planSectionsHtml(p) : fileBlock(v.id, file, html`<div class="md">${markdown(file.text)}</div>`);
    // An earlier round's approved plan stays "approved"; with rounds, each version names its round.
    const round = v.dev.rounds.find((r) => r.plans.includes(p.version));
    const ofRound = v.dev.round > 1 && round ? html` <span class="muted">round ${round.round}</span>` : '';
    const status = v.dev.approvedVersion === p.version || round?.approvedVersion === p.version ? html`<span class="badge s-completed">approved</span>`
      : i === 0 && v.state === 'planned' ? html`<span class="badge s-planned">awaiting approval</span>` : '';
    return html`<details class="plan" data-key="plan-v${p.version}"${i === 0 ? html` open` : ''}><summary>Version ${p.version}${ofRound} ${status} <span class="muted">${time(p.at)}</span></summary>${body}${feedback}</details>`;
  });
  return html`<section class="card" id="plan"><h2>Plan</h2>${join(versions, '\n')}</section>`;
}
