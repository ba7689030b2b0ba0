import { describeActor } from '../../../core/actor.js';
import { summarizeEvent } from '../../../core/journal.js';
import type { TaskView } from '../../../core/model/task.js';
import type { StreamRecord } from '../../../core/record.js';
import { html, join, safeHref, type SafeHtml } from '../html.js';
import { markdown } from '../markdown.js';
import { rawHref, type TaskPageData } from '../task-data.js';
import { actionsCard } from './actions.js';
import { diffHtml, fileBlock } from './files.js';
import { elapsed, layout, stateClass, time } from './layout.js';
import { planCard } from './plan.js';
import { formatUsd } from '../../../core/text-sanitize.js';
import { availableActions } from '../../../pipeline/decide.js';

/** While the execution runs: for how long, and what the model calls cost so far. */
function runningLine(v: TaskView, now: number): SafeHtml | '' {
  const x = v.dev.execution;
  if (!x || (v.state !== 'executing' && v.state !== 'publishing')) return '';
  return html`<p id="running" class="running">Running for <span class="elapsed" data-since="${x.startedAt}">${elapsed(now - Date.parse(x.startedAt))}</span> · cost so far <span class="cost">${formatUsd(v.dev.usage.costUsd)}</span></p>`;
}

function executionCard(d: TaskPageData): SafeHtml | '' {
  const x = d.view.dev;
  if (!x.execution && !x.testRuns.length && !x.summary) return '';
  const rows: SafeHtml[] = [];
  if (x.execution) {
    rows.push(html`<dt>Branch</dt><dd><code>${x.execution.branch}</code> from <code>${x.execution.base}</code> (${x.execution.baseCommit.slice(0, 10)})</dd>`);
    rows.push(html`<dt>Plan</dt><dd>v${x.execution.planVersion}, started ${time(x.execution.startedAt)}</dd>`);
  }
  if (x.turns) rows.push(html`<dt>Turns</dt><dd>${x.turns}</dd>`);
  const runs = x.testRuns.map((r) => {
    const file = d.tests.get(r.run)!;
    const label = r.timedOut ? 'timed out' : r.passed ? 'passed' : 'failed';
    return html`<details class="run" data-key="run-${r.run}"><summary>Test run ${r.run} <span class="badge ${r.passed ? 's-completed' : 's-failed'}">${label}</span> <span class="muted">exit ${r.exitCode ?? '–'}, ${(r.durationMs / 1000).toFixed(1)} s</span></summary>${fileBlock(d.view.id, file, html`<pre class="out">${file.text}</pre>`)}</details>`;
  });
  return html`<section class="card" id="execution"><h2>Execution</h2>${rows.length ? html`<dl>${rows}</dl>` : ''}${x.summary ? html`<div class="md">${markdown(x.summary)}</div>` : ''}${runs.length ? html`<h3>Tests</h3>${join(runs, '\n')}` : ''}</section>`;
}

function changesCard(d: TaskPageData): SafeHtml | '' {
  const x = d.view.dev;
  if (!x.diffStat && !d.diff) return '';
  const stat = x.diffStat ? html`<pre class="stat">${x.diffStat}</pre>` : '';
  const diff = d.diff ? html`<details data-key="diff"><summary>Diff</summary>${fileBlock(d.view.id, d.diff, html`<pre class="diff">${diffHtml(d.diff.text)}</pre>`)}</details>` : '';
  return html`<section class="card" id="changes"><h2>Changes</h2>${stat}${diff}</section>`;
}

function resultCard(v: TaskView): SafeHtml | '' {
  const x = v.dev;
  const rows: SafeHtml[] = [];
  if (x.commit) rows.push(html`<dt>Commit</dt><dd><code>${x.commit.sha.slice(0, 12)}</code> ${x.commit.message.split('\n')[0]}</dd>`);
  if (x.push) {
    const href = safeHref(x.push.link);
    const branch = html`<code>${x.push.branch}</code> on ${x.push.remote}`;
    rows.push(html`<dt>Branch</dt><dd>${href
      ? html`<a id="branch-link" href="${href}" target="_blank" rel="noopener noreferrer">${branch}</a>`
      : html`${branch}${x.push.link ? html` <span class="muted">(${x.push.link})</span>` : ''}`}</dd>`);
  }
  if (x.pullRequest) {
    const href = safeHref(x.pullRequest.url);
    const label = html`${x.pullRequest.kind === 'gitlab' ? 'merge' : 'pull'} request #${x.pullRequest.number}${x.pullRequest.draft ? ' (draft)' : ''}`;
    rows.push(html`<dt>Review</dt><dd>${href ? html`<a id="pr-link" href="${href}" target="_blank" rel="noopener noreferrer">${label}</a>` : html`${label} <span class="muted">(${x.pullRequest.url})</span>`}</dd>`);
  }
  if (x.failure) {
    const { reason, step, patchFile } = x.failure;
    const saved = patchFile ? rawHref(v.id, patchFile) : undefined;
    rows.push(html`<dt>Failure</dt><dd class="bad">${reason}${step ? html` <span class="muted">(${step})</span>` : ''}${patchFile
      ? html`<br>Work saved: ${saved ? html`<a href="${saved}" target="_blank" rel="noopener">${patchFile}</a>` : patchFile}` : ''}</dd>`);
  }
  if (!rows.length) return '';
  return html`<section class="card" id="result"><h2>Result</h2><dl>${rows}</dl></section>`;
}

function usageCard(v: TaskView): SafeHtml | '' {
  const u = v.dev.usage;
  if (!u.calls) return '';
  const n = (x: number) => x.toLocaleString('en-US');
  return html`<section class="card" id="usage"><h2>Usage</h2><dl><dt>Model calls</dt><dd>${n(u.calls)}</dd><dt>Tokens</dt><dd>${n(u.inputTokens)} in${u.cachedInputTokens ? ` (${n(u.cachedInputTokens)} cached)` : ''} · ${n(u.outputTokens)} out</dd><dt>Cost</dt><dd>${formatUsd(u.costUsd)}</dd></dl></section>`;
}

function timelineCard(records: StreamRecord[]): SafeHtml {
  const items = records.flatMap((r) => r.events.map((e) => {
    const extra = e.type === 'task.commented' ? `: ${String((e.data as Record<string, unknown>).text ?? '').slice(0, 200)}` : '';
    return html`<li><span class="muted">#${r.seq} ${time(r.at)}</span> ${summarizeEvent(e.type, e.data)}${extra} <span class="actor">${describeActor(r.actor)}</span></li>`;
  }));
  return html`<section class="card" id="timeline"><details data-key="timeline" open><summary>Timeline (${items.length})</summary><ol class="timeline">${items}</ol></details></section>`;
}

function detailsList(v: TaskView): SafeHtml {
  const fields = Object.entries(v.fields).map(([key, value]) =>
    html`<dt>${key}</dt><dd><code>${typeof value === 'string' ? value : JSON.stringify(value)}</code></dd>`);
  return html`<dt>Id</dt><dd><code>${v.id}</code></dd><dt>Workstream</dt><dd>${v.workstream}</dd>${fields}\
<dt>Created</dt><dd>${time(v.createdAt)} by ${v.createdBy}</dd><dt>Updated</dt><dd>${time(v.updatedAt)}</dd>\
${v.tags.length ? html`<dt>Tags</dt><dd>${join(v.tags.map((t) => html`<span class="tag">${t}</span>`), ' ')}</dd>` : ''}`;
}

/** `round 2 · plan v3` once a follow-up round started (round 1 pages look as before). */
function roundBadge(v: TaskView): SafeHtml | '' {
  const d = v.dev;
  if (!d || d.round < 2) return '';
  const plan = d.plans.at(-1);
  const ofRound = plan && d.rounds.at(-1)!.plans.includes(plan.version);
  return html` <span id="task-round" class="badge">round ${d.round}${ofRound ? html` · plan v${plan.version}` : ''}</span>`;
}

/** Each round: its plans, commits, pushes and the feedback that started it. */
function roundsCard(v: TaskView): SafeHtml | '' {
  const d = v.dev;
  if (!d || d.round < 2) return '';
  const items = d.rounds.map((r) => html`<li data-round="${r.round}"><b>Round ${r.round}</b> · ${r.plans.length ? `plan ${r.plans.map((p) => `v${p}`).join(', ')}` : 'no plan yet'}${r.commits.length ? ` · ${r.commits.length} commit${r.commits.length === 1 ? '' : 's'}` : ''}${r.pushes.length ? html` · pushed <code>${r.pushes.at(-1)!.sha.slice(0, 10)}</code>` : ''}${r.feedback ? html`<blockquote class="feedback">${markdown(r.feedback)}</blockquote>` : ''}</li>`);
  return html`<section class="card" id="rounds"><h2>Rounds</h2><ol class="rounds">${items}</ol></section>`;
}

/** The part of the task page that is replaced live. */
export function taskLive(d: TaskPageData, csrf: string, now = Date.now()): SafeHtml {
  const v = d.view;
  // A plan waiting for approval is read first: the buttons follow it.
  const afterPlan = availableActions(v).approve !== undefined;
  const actions = actionsCard(v, csrf);
  const comments = v.comments.length
    ? html`<section class="card" id="comments"><h2>Comments</h2>${v.comments.map((c) => html`<blockquote><p class="muted">${time(c.at)} ${c.by}</p>${markdown(c.text)}</blockquote>`)}</section>` : '';
  return html`<div id="task" data-seq="${v.lastSeq}">
<section class="card head">
<h1 id="task-title">${v.title}</h1>
<p><span id="task-state" class="${stateClass(v.state)}">${v.state}</span>${roundBadge(v)}${v.archived ? html` <span class="badge">archived</span>` : ''} <span class="muted">since ${time(v.stateSince)}</span>${afterPlan ? html` <a class="badge needs-you" href="#actions">needs you: review the plan</a>` : ''}</p>
${runningLine(v, now)}
<details data-key="details"><summary>Details</summary><dl>${detailsList(v)}</dl></details>
${v.description ? html`<div class="md description">${markdown(v.description)}</div>` : ''}
</section>
${afterPlan ? '' : actions}
${resultCard(v)}
${roundsCard(v)}
${planCard(d)}
${afterPlan ? actions : ''}
${executionCard(d)}
${changesCard(d)}
${usageCard(v)}
${comments}
${timelineCard(d.records)}
</div>`;
}

export function taskPage(d: TaskPageData, csrf: string, upRunning = true): SafeHtml {
  return layout({ title: d.view.title, csrf, page: 'task', taskId: d.view.id, upRunning }, html`<p class="crumbs"><a href="/">← Tasks</a></p>\n<div id="task-live">${taskLive(d, csrf)}</div>`);
}
