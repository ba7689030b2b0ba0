import { promises as fs } from 'node:fs';
import { resolve } from 'node:path';
import { describeActor } from '../../core/actor.js';
import { summarizeEvent } from '../../core/journal.js';
import type { TaskView } from '../../core/model/task.js';
import type { StreamRecord } from '../../core/record.js';
import type { Workspace } from '../../core/workspace.js';
import { ASSET_VERSION } from './assets.js';
import { esc, safeHref } from './html.js';
import { renderMarkdown } from './markdown.js';

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
  link?: string;
  archived: boolean;
}

export function summarize(view: TaskView): TaskSummary {
  const link = view.dev.push?.link ? safeHref(view.dev.push.link) : undefined;
  return {
    id: view.id,
    title: view.title,
    state: view.state,
    workstream: view.workstream,
    updatedAt: view.updatedAt,
    lastSeq: view.lastSeq,
    ...(view.dev.plans.length ? { planVersion: view.dev.plans.at(-1)!.version } : {}),
    ...(view.dev.approvedVersion !== undefined ? { approvedVersion: view.dev.approvedVersion } : {}),
    ...(link ? { link } : {}),
    archived: view.archived,
  };
}

const stateClass = (state: string) => `badge s-${state.replace(/[^a-z0-9_-]/gi, '')}`;
const time = (iso: string) => `<time datetime="${esc(iso)}">${esc(iso.slice(0, 16).replace('T', ' '))}</time>`;

interface PageOptions { title: string; csrf?: string; page: 'list' | 'task' | 'message'; taskId?: string }

export function layout(opts: PageOptions, main: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
${opts.csrf ? `<meta name="csrf-token" content="${esc(opts.csrf)}">\n` : ''}<title>${esc(opts.title)} · Orchestra</title>
<link rel="stylesheet" href="/static/app.css?v=${ASSET_VERSION}">
${opts.page === 'message' ? '' : `<script src="/static/app.js?v=${ASSET_VERSION}" defer></script>\n`}</head>
<body data-page="${opts.page}"${opts.taskId ? ` data-task="${esc(opts.taskId)}"` : ''}>
<header class="top"><a class="brand" href="/">Orchestra</a>${opts.page === 'message' ? '' : '<span id="live" class="live" title="connecting">live</span>'}</header>
<p id="notice" class="notice" role="status" hidden></p>
<main>
${main}
</main>
</body>
</html>
`;
}

export function messagePage(title: string, text: string): string {
  return layout({ title, page: 'message' }, `<section class="card"><h1>${esc(title)}</h1><p>${esc(text)}</p><p><a href="/">Back to the task list</a></p></section>`);
}

// ---- list ----

export function taskRow(s: TaskSummary): string {
  const meta = [s.workstream, s.planVersion ? `plan v${s.planVersion}` : '', s.link ? 'pushed' : ''].filter(Boolean).map(esc).join(' · ');
  return `<li class="task" data-id="${esc(s.id)}" data-seq="${s.lastSeq}"><a href="/tasks/${esc(s.id)}">`
    + `<span class="t-title">${esc(s.title)}</span><span class="${stateClass(s.state)}">${esc(s.state)}</span>`
    + `<span class="t-meta">${meta} · ${time(s.updatedAt)}</span></a></li>`;
}

export function listPage(tasks: TaskSummary[], csrf: string): string {
  const rows = [...tasks].sort((a, b) => (a.id < b.id ? 1 : -1)).map(taskRow).join('\n');
  const main = `<section class="card">
<details id="new-task" data-key="new-task"${tasks.length ? '' : ' open'}>
<summary>New task</summary>
<form method="post" action="/tasks" data-ajax data-reset class="stack">
<input type="hidden" name="_csrf" value="${esc(csrf)}">
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
<p id="no-tasks" class="empty"${tasks.length ? ' hidden' : ''}>No tasks yet.</p>
</section>`;
  return layout({ title: 'Tasks', csrf, page: 'list' }, main);
}

// ---- task page ----

const MAX_SHOWN_BYTES = 256 * 1024;

export interface ShownFile { rel: string; text: string; truncated: boolean; missing: boolean }

/** Reads a record file of this task (never anything outside `tasks/<id>/`), capped in size. */
export async function readTaskFile(ws: Workspace, taskId: string, rel: string, max = MAX_SHOWN_BYTES): Promise<ShownFile> {
  const base = resolve(ws.paths.tasks, taskId) + '/';
  const full = resolve(ws.paths.root, rel);
  if (!full.startsWith(base)) return { rel, text: '', truncated: false, missing: true };
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(full, 'r');
    const size = (await handle.stat()).size;
    const buf = Buffer.alloc(Math.min(size, max));
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return { rel, text: buf.subarray(0, bytesRead).toString('utf8'), truncated: size > max, missing: false };
  } catch {
    return { rel, text: '', truncated: false, missing: true };
  } finally {
    await handle?.close();
  }
}

export interface TaskPageData {
  view: TaskView;
  records: StreamRecord[];
  plans: Map<number, ShownFile>;
  tests: Map<number, ShownFile>;
  diff?: ShownFile;
}

export async function loadTaskPage(ws: Workspace, id: string): Promise<TaskPageData | undefined> {
  const view = await ws.findTask(id);
  if (!view) return undefined;
  const { records } = await ws.readStream(`tasks/${id}`);
  const plans = new Map<number, ShownFile>();
  for (const p of view.dev.plans) plans.set(p.version, await readTaskFile(ws, id, p.file));
  const tests = new Map<number, ShownFile>();
  for (const r of view.dev.testRuns) tests.set(r.run, await readTaskFile(ws, id, r.file, 64 * 1024));
  const diff = view.dev.diffFile ? await readTaskFile(ws, id, view.dev.diffFile) : undefined;
  return { view, records, plans, tests, diff };
}

/** `/tasks/<id>/records/<name>` for a record file of this task, if it is one. */
function rawHref(taskId: string, rel: string): string | undefined {
  const prefix = `tasks/${taskId}/records/`;
  if (!rel.startsWith(prefix)) return undefined;
  const name = rel.slice(prefix.length);
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$/.test(name) ? `/tasks/${encodeURIComponent(taskId)}/records/${encodeURIComponent(name)}` : undefined;
}

function fileBlock(taskId: string, file: ShownFile, body: string): string {
  if (file.missing) return `<p class="muted">The file ${esc(file.rel)} cannot be read.</p>`;
  const raw = rawHref(taskId, file.rel);
  const more = file.truncated ? `<p class="muted">Shortened.${raw ? ` <a href="${esc(raw)}" target="_blank" rel="noopener">Whole file</a>` : ''}</p>` : '';
  return body + more;
}

function diffHtml(text: string): string {
  return text.split('\n').map((line) => {
    const cls = line.startsWith('+++') || line.startsWith('---') || line.startsWith('diff ') ? 'd-file'
      : line.startsWith('@@') ? 'd-hunk' : line.startsWith('+') ? 'd-add' : line.startsWith('-') ? 'd-del' : '';
    return cls ? `<span class="${cls}">${esc(line)}</span>` : esc(line);
  }).join('\n');
}

const TERMINAL = new Set(['completed', 'failed', 'aborted']);

function actionsCard(v: TaskView, csrf: string): string {
  const id = esc(v.id);
  const hidden = `<input type="hidden" name="_csrf" value="${esc(csrf)}">`;
  const parts: string[] = [];
  const latest = v.dev.plans.at(-1);
  if (v.state === 'planned' && latest) {
    parts.push(`<form method="post" action="/tasks/${id}/approve" data-ajax class="inline">${hidden}<input type="hidden" name="version" value="${latest.version}"><button type="submit" class="primary" id="approve">Approve v${latest.version}</button></form>`);
    parts.push(`<form method="post" action="/tasks/${id}/feedback" data-ajax data-reset class="stack">${hidden}<label>Feedback on v${latest.version} <textarea name="text" rows="3" required maxlength="20000" placeholder="What should the next version change?"></textarea></label><div class="actions"><button type="submit">Send feedback</button></div></form>`);
  }
  if (v.state === 'failed' || v.state === 'aborted') {
    if (v.dev.approvedVersion !== undefined) {
      parts.push(`<form method="post" action="/tasks/${id}/retry" data-ajax class="inline">${hidden}<button type="submit" class="primary">Retry with plan v${v.dev.approvedVersion}</button></form>`);
    }
    parts.push(`<form method="post" action="/tasks/${id}/retry" data-ajax class="inline">${hidden}<input type="hidden" name="replan" value="true"><button type="submit">Retry with a new plan</button></form>`);
  }
  if (v.workstream === 'dev' && !TERMINAL.has(v.state)) {
    parts.push(`<details class="danger" data-key="abort"><summary>Abort…</summary><form method="post" action="/tasks/${id}/abort" data-ajax class="stack">${hidden}<label>Reason (optional) <input name="reason" maxlength="2000" autocomplete="off"></label><div class="actions"><button type="submit" class="danger">Abort task</button></div></form></details>`);
  }
  if (!parts.length) return '';
  return `<section class="card" id="actions"><h2>Actions</h2>${parts.join('\n')}</section>`;
}

function planCard(d: TaskPageData): string {
  const { view: v } = d;
  if (!v.dev.plans.length) {
    return v.state === 'planning' ? `<section class="card" id="plan"><h2>Plan</h2><p class="muted">The planner is working on it.</p></section>` : '';
  }
  const versions = [...v.dev.plans].reverse().map((p, i) => {
    const file = d.plans.get(p.version)!;
    const feedback = v.dev.feedback.filter((f) => f.onVersion === p.version)
      .map((f) => `<blockquote class="feedback"><p class="muted">Feedback ${time(f.at)}</p>${renderMarkdown(f.text)}</blockquote>`).join('');
    const fallback = [
      p.summary ? `<p>${esc(p.summary)}</p>` : '',
      p.steps.length ? `<h4>Steps</h4><ol>${p.steps.map((s) => `<li>${esc(s)}</li>`).join('')}</ol>` : '',
      p.criteria.length ? `<h4>Done when</h4><ul>${p.criteria.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>` : '',
      p.risks.length ? `<h4>Risks</h4><ul>${p.risks.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>` : '',
    ].join('');
    const body = file.missing ? fallback : fileBlock(v.id, file, `<div class="md">${renderMarkdown(file.text)}</div>`);
    const status = v.dev.approvedVersion === p.version ? '<span class="badge s-completed">approved</span>'
      : i === 0 && v.state === 'planned' ? '<span class="badge s-planned">awaiting approval</span>' : '';
    return `<details class="plan" data-key="plan-v${p.version}"${i === 0 ? ' open' : ''}><summary>Version ${p.version} ${status} <span class="muted">${time(p.at)}</span></summary>${body}${feedback}</details>`;
  });
  return `<section class="card" id="plan"><h2>Plan</h2>${versions.join('\n')}</section>`;
}

function executionCard(d: TaskPageData): string {
  const x = d.view.dev;
  if (!x.execution && !x.testRuns.length && !x.summary) return '';
  const rows: string[] = [];
  if (x.execution) {
    rows.push(`<dt>Branch</dt><dd><code>${esc(x.execution.branch)}</code> from <code>${esc(x.execution.base)}</code> (${esc(x.execution.baseCommit.slice(0, 10))})</dd>`);
    rows.push(`<dt>Plan</dt><dd>v${x.execution.planVersion}, started ${time(x.execution.startedAt)}</dd>`);
  }
  if (x.turns) rows.push(`<dt>Turns</dt><dd>${x.turns}</dd>`);
  const runs = x.testRuns.map((r) => {
    const file = d.tests.get(r.run)!;
    const label = r.timedOut ? 'timed out' : r.passed ? 'passed' : 'failed';
    return `<details class="run" data-key="run-${r.run}"><summary>Test run ${r.run} <span class="badge ${r.passed ? 's-completed' : 's-failed'}">${label}</span> <span class="muted">exit ${esc(r.exitCode ?? '–')}, ${(r.durationMs / 1000).toFixed(1)} s</span></summary>${fileBlock(d.view.id, file, `<pre class="out">${esc(file.text)}</pre>`)}</details>`;
  }).join('\n');
  return `<section class="card" id="execution"><h2>Execution</h2>${rows.length ? `<dl>${rows.join('')}</dl>` : ''}${x.summary ? `<div class="md">${renderMarkdown(x.summary)}</div>` : ''}${runs ? `<h3>Tests</h3>${runs}` : ''}</section>`;
}

function changesCard(d: TaskPageData): string {
  const x = d.view.dev;
  if (!x.diffStat && !d.diff) return '';
  const stat = x.diffStat ? `<pre class="stat">${esc(x.diffStat)}</pre>` : '';
  const diff = d.diff ? `<details data-key="diff"><summary>Diff</summary>${fileBlock(d.view.id, d.diff, `<pre class="diff">${diffHtml(d.diff.text)}</pre>`)}</details>` : '';
  return `<section class="card" id="changes"><h2>Changes</h2>${stat}${diff}</section>`;
}

function resultCard(v: TaskView): string {
  const x = v.dev;
  const rows: string[] = [];
  if (x.commit) rows.push(`<dt>Commit</dt><dd><code>${esc(x.commit.sha.slice(0, 12))}</code> ${esc(x.commit.message.split('\n')[0])}</dd>`);
  if (x.push) {
    const href = safeHref(x.push.link);
    const branch = `<code>${esc(x.push.branch)}</code> on ${esc(x.push.remote)}`;
    rows.push(`<dt>Branch</dt><dd>${href ? `<a id="branch-link" href="${esc(href)}" target="_blank" rel="noopener noreferrer">${branch}</a>` : `${branch}${x.push.link ? ` <span class="muted">(${esc(x.push.link)})</span>` : ''}`}</dd>`);
  }
  if (x.failure) {
    const raw = x.failure.patchFile ? rawHref(v.id, x.failure.patchFile) : undefined;
    rows.push(`<dt>Failure</dt><dd class="bad">${esc(x.failure.reason)}${x.failure.step ? ` <span class="muted">(${esc(x.failure.step)})</span>` : ''}${x.failure.patchFile ? `<br>Work saved: ${raw ? `<a href="${esc(raw)}" target="_blank" rel="noopener">${esc(x.failure.patchFile)}</a>` : esc(x.failure.patchFile)}` : ''}</dd>`);
  }
  if (!rows.length) return '';
  return `<section class="card" id="result"><h2>Result</h2><dl>${rows.join('')}</dl></section>`;
}

function usageCard(v: TaskView): string {
  const u = v.dev.usage;
  if (!u.calls) return '';
  const n = (x: number) => x.toLocaleString('en-US');
  return `<section class="card" id="usage"><h2>Usage</h2><dl><dt>Model calls</dt><dd>${n(u.calls)}</dd><dt>Tokens</dt><dd>${n(u.inputTokens)} in · ${n(u.outputTokens)} out</dd><dt>Cost</dt><dd>$${u.costUsd.toFixed(4)}</dd></dl></section>`;
}

function timelineCard(records: StreamRecord[]): string {
  const items = records.flatMap((r) => r.events.map((e) => {
    const extra = e.type === 'task.commented' ? `: ${esc(String((e.data as Record<string, unknown>).text ?? '').slice(0, 200))}` : '';
    return `<li><span class="muted">#${r.seq} ${time(r.at)}</span> ${esc(summarizeEvent(e.type, e.data))}${extra} <span class="actor">${esc(describeActor(r.actor))}</span></li>`;
  }));
  return `<section class="card" id="timeline"><details data-key="timeline" open><summary>Timeline (${items.length})</summary><ol class="timeline">${items.join('')}</ol></details></section>`;
}

/** The part of the task page that is replaced live. */
export function taskLive(d: TaskPageData, csrf: string): string {
  const v = d.view;
  const fields: string[] = [`<dt>Id</dt><dd><code>${esc(v.id)}</code></dd>`, `<dt>Workstream</dt><dd>${esc(v.workstream)}</dd>`];
  for (const [key, value] of Object.entries(v.fields)) {
    fields.push(`<dt>${esc(key)}</dt><dd><code>${esc(typeof value === 'string' ? value : JSON.stringify(value))}</code></dd>`);
  }
  fields.push(`<dt>Created</dt><dd>${time(v.createdAt)} by ${esc(v.createdBy)}</dd>`);
  fields.push(`<dt>Updated</dt><dd>${time(v.updatedAt)}</dd>`);
  if (v.tags.length) fields.push(`<dt>Tags</dt><dd>${v.tags.map((t) => `<span class="tag">${esc(t)}</span>`).join(' ')}</dd>`);
  const comments = v.comments.length
    ? `<section class="card" id="comments"><h2>Comments</h2>${v.comments.map((c) => `<blockquote><p class="muted">${time(c.at)} ${esc(c.by)}</p>${renderMarkdown(c.text)}</blockquote>`).join('')}</section>` : '';
  return `<div id="task" data-seq="${v.lastSeq}">
<section class="card head">
<h1 id="task-title">${esc(v.title)}</h1>
<p><span id="task-state" class="${stateClass(v.state)}">${esc(v.state)}</span>${v.archived ? ' <span class="badge">archived</span>' : ''} <span class="muted">since ${time(v.stateSince)}</span></p>
<details data-key="details"><summary>Details</summary><dl>${fields.join('')}</dl></details>
${v.description ? `<div class="md description">${renderMarkdown(v.description)}</div>` : ''}
</section>
${actionsCard(v, csrf)}
${resultCard(v)}
${planCard(d)}
${executionCard(d)}
${changesCard(d)}
${usageCard(v)}
${comments}
${timelineCard(d.records)}
</div>`;
}

export function taskPage(d: TaskPageData, csrf: string): string {
  return layout({ title: d.view.title, csrf, page: 'task', taskId: d.view.id }, `<p class="crumbs"><a href="/">← Tasks</a></p>\n<div id="task-live">${taskLive(d, csrf)}</div>`);
}
