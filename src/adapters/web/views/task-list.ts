import type { TaskView } from '../../../core/model/task.js';
import { formatUsd } from '../../../core/text-sanitize.js';
import { availableActions } from '../../../pipeline/decide.js';
import { html, join, safeHref, type SafeHtml } from '../html.js';
import { elapsed, layout, stateClass, time } from './layout.js';

/** What the list and the live stream say about a task. */
export interface TaskSummary {
  id: string;
  title: string;
  state: string;
  workstream: string;
  updatedAt: string;
  lastSeq: number;
  planVersion?: number;
  approvedVersion?: number;
  /** The round once a follow-up started (2, 3, ...); absent in round 1. */
  round?: number;
  link?: string;
  archived: boolean;
  /** The task's `repo` field. */
  repo?: string;
  /** Model cost so far, as every view shows it (formatUsd); absent before the first model call. */
  cost?: string;
  /** A plan waits for this person's approval or feedback (`availableActions`). */
  needsYou: boolean;
  /** When the current execution started, while it runs (executing or publishing). */
  runningSince?: string;
}

export function summarize(view: TaskView): TaskSummary {
  const shown = view.dev.link ?? view.dev.push?.link;
  const link = shown ? safeHref(shown) : undefined;
  return {
    id: view.id,
    title: view.title,
    state: view.state,
    workstream: view.workstream,
    updatedAt: view.updatedAt,
    lastSeq: view.lastSeq,
    ...(view.dev.plans.length ? { planVersion: view.dev.plans.at(-1)!.version } : {}),
    ...(view.dev.round > 1 ? { round: view.dev.round } : {}),
    ...(view.dev.approvedVersion !== undefined ? { approvedVersion: view.dev.approvedVersion } : {}),
    ...(link ? { link } : {}),
    archived: view.archived,
    ...(typeof view.fields.repo === 'string' && view.fields.repo ? { repo: view.fields.repo } : {}),
    ...(view.dev.usage.calls ? { cost: formatUsd(view.dev.usage.costUsd) } : {}),
    needsYou: availableActions(view).needsYou,
    ...(view.dev.execution && (view.state === 'executing' || view.state === 'publishing') ? { runningSince: view.dev.execution.startedAt } : {}),
  };
}

/**
 * One row: title, state (and "needs you"), then repo, plan version, running time, cost, pushed,
 * last change. app.js builds the same row from a live summary (buildRow): keep the two in step.
 */
export function taskRow(s: TaskSummary, now = Date.now()): SafeHtml {
  const running = s.runningSince ? html`running <span class="elapsed" data-since="${s.runningSince}">${elapsed(now - Date.parse(s.runningSince))}</span>` : '';
  const meta = join([s.repo ? html`<span class="t-repo">${s.repo}</span>` : s.workstream, s.round ? `round ${s.round}` : '', s.planVersion ? `plan v${s.planVersion}` : '', running,
    s.cost ? html`<span class="t-cost">${s.cost}</span>` : '', s.link ? 'pushed' : ''], ' · ');
  const needsYou = s.needsYou ? html`<span class="badge needs-you">needs you</span>` : '';
  return html`<li class="task" data-id="${s.id}" data-seq="${s.lastSeq}"><a href="/tasks/${s.id}">\
<span class="t-title">${s.title}</span><span class="t-badges">${needsYou}<span class="${stateClass(s.state)}">${s.state}</span></span>\
<span class="t-meta">${meta} · ${time(s.updatedAt)}</span></a></li>`;
}

/** Open alert incidents (monitoring), shown above the list while any is open. */
export const alertsSection = (alerts: ReadonlyArray<{ rule: string; message: string; firedAt: string }>): SafeHtml =>
  alerts.length === 0 ? html`` : html`<section class="card" id="alerts" role="alert"><h2>Active alerts (${alerts.length})</h2><ul>${alerts.map((a) => html`<li><b>${a.rule}</b>: ${a.message} (since ${time(a.firedAt)})</li>`)}</ul></section>\n`;

export function listPage(tasks: TaskSummary[], csrf: string, upRunning = true, alerts: ReadonlyArray<{ rule: string; message: string; firedAt: string }> = []): SafeHtml {
  const now = Date.now();
  const rows = join([...tasks].sort((a, b) => (a.id < b.id ? 1 : -1)).map((s) => taskRow(s, now)), html`\n`);
  const main = html`${alertsSection(alerts)}<section class="card">
<details id="new-task" data-key="new-task"${tasks.length ? '' : html` open`}>
<summary>New task</summary>
<form method="post" action="/tasks" data-ajax data-reset class="stack">
<input type="hidden" name="_csrf" value="${csrf}">
<label>Repository <input name="repo" required maxlength="1000" autocomplete="off" autocapitalize="off" spellcheck="false" placeholder="path, URL or configured name"></label>
<label>Title <input name="title" required maxlength="300" autocomplete="off"></label>
<label>Description <textarea name="description" rows="5" maxlength="200000" placeholder="What should be done? Markdown is fine."></textarea></label>
<div class="two">
<label>Base branch <input name="base" maxlength="200" autocomplete="off" autocapitalize="off" spellcheck="false" placeholder="default branch"></label>
<label>Test command <input name="test" maxlength="2000" autocomplete="off" autocapitalize="off" spellcheck="false" placeholder="detected if empty"></label>
</div>
<div class="actions"><button type="submit" class="primary">Submit task</button></div>
<p class="notice" role="status" data-notice hidden></p>
</form>
</details>
</section>
<section>
<h2>Tasks</h2>
<ul id="tasks" class="tasks">
${rows}
</ul>
<p id="no-tasks" class="empty"${tasks.length ? html` hidden` : ''}>No tasks yet.</p>
</section>`;
  return layout({ title: 'Tasks', csrf, page: 'list', upRunning }, main);
}
