import type { Incident } from '../../../core/model/alerts.js';
import type { SecurityEvent } from '../../../pipeline/monitoring/health.js';
import { html, type SafeHtml } from '../html.js';
import { layout, time } from './layout.js';

/**
 * The admin's Security view: open alerts, recently resolved ones, refusals by reason (the last
 * hour, and since the web's monitor started), rate-limit hits, secret reads and the latest refusals. Every value comes
 * from records (hostile text) and goes through the escaping html`` template.
 */
export interface SecurityData {
  alerts: Incident[];
  resolved: Incident[];
  /** Since when the counts run (the web server's monitor started). */
  since: string;
  refusalsByReason: Record<string, number>;
  lastHourByReason: Record<string, number>;
  /** Secret reads since `since`. */
  secretReads: number;
  events: SecurityEvent[];
}

const RATE_LIMITED = 'RATE_LIMITED';
const SHOWN = 100;

const reasonRows = (since: Record<string, number>, hour: Record<string, number>): SafeHtml[] =>
  [...new Set([...Object.keys(hour), ...Object.keys(since)])].sort((a, b) => (hour[b] ?? 0) - (hour[a] ?? 0) || (since[b] ?? 0) - (since[a] ?? 0))
    .map((reason) => html`<tr><td><code>${reason}</code></td><td>${hour[reason] ?? 0}</td><td>${since[reason] ?? 0}</td></tr>`);

const eventRows = (events: SecurityEvent[]): SafeHtml[] =>
  events.slice(0, SHOWN).map((e) => html`<tr><td>${time(e.at)}</td><td>${e.source}</td><td><code>${e.reason}</code></td><td>${e.summary}</td><td>${e.stream}</td></tr>`);

const table = (head: string[], rows: SafeHtml[], empty: string) =>
  rows.length === 0 ? html`<p>${empty}</p>` : html`<table><thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table>`;

export function securityPage(d: SecurityData): SafeHtml {
  const rateLimited = d.events.filter((e) => e.reason === RATE_LIMITED);
  const secretReads = d.events.filter((e) => e.kind === 'secret-read');
  const refusals = d.events.filter((e) => e.kind === 'refusal');
  return layout({ title: 'Security', page: 'message' }, html`<section class="card" id="security">
<h1>Security</h1>
<h2>Active alerts (${d.alerts.length})</h2>
${table(['since', 'rule', 'alert'], d.alerts.map((a) => html`<tr class="alert"><td>${time(a.firedAt)}</td><td>${a.rule}</td><td>${a.message}</td></tr>`), 'No alert is open.')}
<h2>Resolved alerts</h2>
${table(['fired', 'resolved', 'rule', 'alert'], [...d.resolved].reverse().slice(0, 20).map((a) => html`<tr><td>${time(a.firedAt)}</td><td>${a.resolvedAt ? time(a.resolvedAt) : ''}</td><td>${a.rule}</td><td>${a.message}</td></tr>`), 'None yet.')}
<h2>Refusals by reason</h2>
${table(['reason', 'last hour', 'since the web started'], reasonRows(d.refusalsByReason, d.lastHourByReason), 'Nothing was refused.')}
<p>Counting since ${time(d.since)}.</p>
<h2>Rate-limit hits (${d.lastHourByReason[RATE_LIMITED] ?? 0} in the last hour)</h2>
${table(['time', 'source', 'reason', 'what', 'stream'], eventRows(rateLimited), 'No rate limit was hit.')}
<h2>Secret reads (${d.secretReads} since the web started)</h2>
${table(['time', 'source', 'kind', 'what', 'stream'], eventRows(secretReads), 'No secret was read.')}
<h2>Latest refusals</h2>
${table(['time', 'source', 'reason', 'what', 'stream'], eventRows(refusals), 'Nothing was refused.')}
<p><a href="/">Back to the task list</a></p>
</section>`);
}
