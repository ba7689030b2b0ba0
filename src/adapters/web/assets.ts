import { createHash } from 'node:crypto';

/**
 * The page's only script, served as a file (the CSP allows no inline script): form posts with
 * the CSRF token, and live updates from the server-sent event stream. No framework.
 */
export const APP_JS = String.raw`'use strict';
(function () {
  var body = document.body;
  var page = body.getAttribute('data-page');
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute('content') : '';
  var liveMark = document.getElementById('live');

  function fmtTime(root) {
    root.querySelectorAll('time[datetime]').forEach(function (el) {
      var d = new Date(el.getAttribute('datetime'));
      if (isNaN(d.getTime())) return;
      el.textContent = d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
      el.title = d.toISOString();
    });
  }

  function notify(el, text, bad) {
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
    el.classList.toggle('bad', !!bad);
    clearTimeout(el._t);
    if (!bad) el._t = setTimeout(function () { el.hidden = true; }, 8000);
  }

  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-ajax')) return;
    ev.preventDefault();
    var notice = form.querySelector('[data-notice]') || document.getElementById('notice');
    var data;
    try { data = new URLSearchParams(new FormData(form, ev.submitter || null)); } catch (e) { data = new URLSearchParams(new FormData(form)); }
    var buttons = form.querySelectorAll('button');
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: 'POST', body: data, credentials: 'same-origin',
      headers: { 'Accept': 'application/json', 'X-CSRF-Token': csrf || '' },
    }).then(function (res) {
      return res.json().catch(function () { return { ok: false, error: 'the server answered ' + res.status }; });
    }).then(function (res) {
      notify(notice, res.ok ? res.message : res.error || 'refused', !res.ok);
      if (res.ok && form.hasAttribute('data-reset')) form.reset();
    }).catch(function () {
      notify(notice, 'The server cannot be reached.', true);
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  });

  function connect(url, onSummary) {
    if (!window.EventSource) return;
    var es = new EventSource(url);
    es.onopen = function () { if (liveMark) { liveMark.classList.add('on'); liveMark.title = 'live updates on'; } };
    es.onerror = function () { if (liveMark) { liveMark.classList.remove('on'); liveMark.title = 'reconnecting'; } };
    es.addEventListener('snapshot', function (e) { onSummary(JSON.parse(e.data), true); });
    es.addEventListener('task', function (e) { onSummary([JSON.parse(e.data)], false); });
    es.addEventListener('presence', function (e) {
      var banner = document.getElementById('no-up');
      if (banner) banner.hidden = !!JSON.parse(e.data).up;
    });
  }

  // running times: the same words as the server's elapsed() (views/layout.ts)
  function elapsed(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + (s % 60) + ' s';
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  }
  function tick() {
    document.querySelectorAll('.elapsed[data-since]').forEach(function (n) {
      var since = Date.parse(n.getAttribute('data-since'));
      if (!isNaN(since)) n.textContent = elapsed(Date.now() - since);
    });
  }
  setInterval(tick, 1000);

  // ---- the task list ----
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function buildRow(s) {
    var li = el('li', 'task');
    li.setAttribute('data-id', s.id);
    li.setAttribute('data-seq', String(s.lastSeq));
    var a = el('a');
    a.href = '/tasks/' + encodeURIComponent(s.id);
    a.appendChild(el('span', 't-title', s.title));
    var badges = el('span', 't-badges');
    if (s.needsYou) badges.appendChild(el('span', 'badge needs-you', 'needs you'));
    badges.appendChild(el('span', 'badge s-' + String(s.state).replace(/[^a-z0-9_-]/gi, ''), s.state));
    a.appendChild(badges);
    // the same parts as taskRow (views/task-list.ts)
    var m = el('span', 't-meta');
    var parts = [];
    parts.push(s.repo ? el('span', 't-repo', s.repo) : document.createTextNode(s.workstream));
    if (s.round) parts.push(document.createTextNode('round ' + s.round));
    if (s.planVersion) parts.push(document.createTextNode('plan v' + s.planVersion));
    if (s.runningSince) {
      var r = el('span');
      r.appendChild(document.createTextNode('running '));
      var e = el('span', 'elapsed', elapsed(Date.now() - Date.parse(s.runningSince)));
      e.setAttribute('data-since', s.runningSince);
      r.appendChild(e);
      parts.push(r);
    }
    if (s.cost) parts.push(el('span', 't-cost', s.cost));
    if (s.link) parts.push(document.createTextNode('pushed'));
    parts.forEach(function (p) { m.appendChild(p); m.appendChild(document.createTextNode(' · ')); });
    var t = el('time');
    t.setAttribute('datetime', s.updatedAt);
    m.appendChild(t);
    a.appendChild(m);
    li.appendChild(a);
    fmtTime(li);
    return li;
  }
  function upsert(list, s) {
    var row = list.querySelector('li[data-id="' + CSS.escape(s.id) + '"]');
    if (s.archived) { if (row) row.remove(); return; }
    if (row && Number(row.getAttribute('data-seq')) >= s.lastSeq) return;
    var fresh = buildRow(s);
    if (row) row.replaceWith(fresh);
    else {
      var next = null;
      list.querySelectorAll('li[data-id]').forEach(function (r) { if (!next && r.getAttribute('data-id') < s.id) next = r; });
      list.insertBefore(fresh, next);
    }
    fresh.classList.add('changed');
  }
  if (page === 'list') {
    var list = document.getElementById('tasks');
    var empty = document.getElementById('no-tasks');
    connect('/events', function (items, snapshot) {
      if (snapshot) {
        var ids = {};
        items.forEach(function (s) { ids[s.id] = true; });
        list.querySelectorAll('li[data-id]').forEach(function (r) { if (!ids[r.getAttribute('data-id')]) r.remove(); });
      }
      items.forEach(function (s) { upsert(list, s); });
      empty.hidden = list.querySelector('li[data-id]') !== null;
    });
  }

  // ---- a task page ----
  if (page === 'task') {
    var id = body.getAttribute('data-task');
    var holder = document.getElementById('task-live');
    var busy = false, again = false;
    var seqNow = function () { var t = document.getElementById('task'); return t ? Number(t.getAttribute('data-seq')) : 0; };
    var refresh = function () {
      if (busy) { again = true; return; }
      busy = true;
      fetch('/tasks/' + encodeURIComponent(id) + '?part=live', { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
        .then(function (res) { if (!res.ok) throw new Error(String(res.status)); return res.text(); })
        .then(function (html) {
          var open = {}, values = {};
          holder.querySelectorAll('details[data-key]').forEach(function (d) { open[d.getAttribute('data-key')] = d.open; });
          holder.querySelectorAll('textarea[name], input[name]:not([type=hidden])').forEach(function (f) {
            if (f.value) values[(f.form ? f.form.getAttribute('action') : '') + '#' + f.name] = f.value;
          });
          var focused = document.activeElement && holder.contains(document.activeElement) ? document.activeElement : null;
          var focusKey = focused && focused.name ? (focused.form ? focused.form.getAttribute('action') : '') + '#' + focused.name : null;
          holder.innerHTML = html;
          holder.querySelectorAll('details[data-key]').forEach(function (d) { var k = d.getAttribute('data-key'); if (k in open) d.open = open[k]; });
          holder.querySelectorAll('textarea[name], input[name]:not([type=hidden])').forEach(function (f) {
            var k = (f.form ? f.form.getAttribute('action') : '') + '#' + f.name;
            if (k in values) f.value = values[k];
            if (k === focusKey) f.focus();
          });
          fmtTime(holder);
        })
        .catch(function () { /* the next event retries */ })
        .finally(function () { busy = false; if (again) { again = false; refresh(); } });
    };
    connect('/events?task=' + encodeURIComponent(id), function (items) {
      items.forEach(function (s) { if (s.id === id && s.lastSeq > seqNow()) refresh(); });
    });
  }

  fmtTime(document);
})();
`;

export const APP_CSS = `:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --fg: #1d2026; --muted: #667085; --card: #fff; --line: #dfe3ea; --accent: #2f5bd3; --accent-fg: #fff;
  --bad: #b42318; --good: #067647; --warn: #b54708; --code: #eef1f5;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #111317; --fg: #e6e8ec; --muted: #98a2b3; --card: #1a1d23; --line: #2c313a; --accent: #6d8dfa; --accent-fg: #0b0d10;
    --bad: #f97066; --good: #47cd89; --warn: #fdb022; --code: #22262e; }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--accent); }
main { max-width: 60rem; margin: 0 auto; padding: 0.75rem; }
.top { position: sticky; top: 0; z-index: 2; display: flex; align-items: center; justify-content: space-between; padding: 0.6rem 1rem; background: var(--card); border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; text-decoration: none; color: var(--fg); }
.live { font-size: 0.8rem; color: var(--muted); }
.live::before { content: ""; display: inline-block; width: 0.55rem; height: 0.55rem; margin-right: 0.35rem; border-radius: 50%; background: var(--muted); }
.live.on::before { background: var(--good); }
.notice { margin: 0.5rem auto; max-width: 60rem; padding: 0.5rem 0.75rem; border-radius: 0.5rem; background: var(--code); border-left: 4px solid var(--good); }
#notice { position: sticky; top: 3rem; z-index: 1; margin: 0.5rem 0.75rem; }
.notice.bad { border-left-color: var(--bad); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 0.75rem; padding: 0.75rem 1rem; margin: 0 0 0.75rem; overflow-wrap: anywhere; }
h1 { font-size: 1.35rem; margin: 0.2rem 0 0.4rem; line-height: 1.3; }
h2 { font-size: 1.05rem; margin: 0.25rem 0 0.5rem; }
h3, h4 { font-size: 0.95rem; margin: 0.75rem 0 0.25rem; }
.muted { color: var(--muted); font-size: 0.875rem; }
.bad { color: var(--bad); }
.crumbs { margin: 0 0 0.5rem; }
summary { cursor: pointer; font-weight: 600; padding: 0.35rem 0; }
label { display: block; font-size: 0.9rem; font-weight: 600; }
input, textarea { display: block; width: 100%; margin-top: 0.25rem; padding: 0.6rem; font: inherit; font-weight: 400; color: inherit; background: var(--bg); border: 1px solid var(--line); border-radius: 0.5rem; }
textarea { resize: vertical; }
.stack > * + * { margin-top: 0.6rem; }
.two { display: grid; gap: 0.6rem; grid-template-columns: 1fr; }
@media (min-width: 40rem) { .two { grid-template-columns: 1fr 1fr; } }
.actions { display: flex; flex-wrap: wrap; gap: 0.5rem; }
form.inline { display: inline-block; margin: 0 0.5rem 0.6rem 0; }
button { min-height: 2.75rem; padding: 0.5rem 1rem; font: inherit; font-weight: 600; border-radius: 0.5rem; border: 1px solid var(--line); background: var(--bg); color: var(--fg); cursor: pointer; }
button.primary { background: var(--accent); color: var(--accent-fg); border-color: var(--accent); }
button.danger { background: var(--bad); color: #fff; border-color: var(--bad); }
button:disabled { opacity: 0.6; }
details.danger { margin-top: 0.4rem; }
.tasks { list-style: none; margin: 0; padding: 0; }
.task a { display: grid; grid-template-columns: 1fr auto; gap: 0.15rem 0.5rem; padding: 0.7rem 0.9rem; margin-bottom: 0.5rem; background: var(--card); border: 1px solid var(--line); border-radius: 0.75rem; color: inherit; text-decoration: none; }
.task .t-title { font-weight: 600; overflow-wrap: anywhere; }
.task .t-meta { grid-column: 1 / -1; color: var(--muted); font-size: 0.82rem; }
.task .t-badges { display: flex; flex-wrap: wrap; gap: 0.3rem; justify-content: flex-end; align-self: start; }
.task .t-repo { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.banner { margin: 0.5rem 0.75rem; padding: 0.6rem 0.9rem; border-radius: 0.5rem; background: #fef0c7; color: #93370d; border-left: 4px solid var(--warn); font-weight: 600; }
.banner code { background: rgba(255, 255, 255, 0.6); }
.banner[hidden], .notice[hidden] { display: none; }
.running { margin: 0.25rem 0; font-size: 0.9rem; }
a.badge { text-decoration: none; }
.task.changed a { animation: flash 1.2s ease-out; }
@keyframes flash { from { border-color: var(--accent); box-shadow: 0 0 0 2px var(--accent); } to { box-shadow: none; } }
.empty { color: var(--muted); }
.badge { display: inline-block; align-self: start; padding: 0.05rem 0.55rem; border-radius: 999px; font-size: 0.8rem; font-weight: 600; background: var(--code); color: var(--muted); white-space: nowrap; }
.s-planning, .s-pending { color: #175cd3; background: #d1e9ff; }
.s-planned, .needs-you { color: #93370d; background: #fef0c7; }
.s-approved, .s-executing, .s-publishing, .s-in_progress { color: #5925dc; background: #ebe9fe; }
.s-completed { color: #05603a; background: #d1fadf; }
.s-failed { color: #912018; background: #fee4e2; }
.s-aborted { color: #344054; background: #eaecf0; }
.tag { font-size: 0.8rem; padding: 0 0.4rem; border: 1px solid var(--line); border-radius: 0.3rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 0.75rem; margin: 0.25rem 0; }
dt { color: var(--muted); font-size: 0.875rem; }
dd { margin: 0; min-width: 0; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85rem; }
code { background: var(--code); padding: 0 0.25rem; border-radius: 0.25rem; overflow-wrap: anywhere; }
pre { background: var(--code); padding: 0.6rem; border-radius: 0.5rem; overflow-x: auto; max-height: 70vh; white-space: pre; }
pre code { background: none; padding: 0; }
.md { overflow-wrap: anywhere; }
.md :first-child { margin-top: 0; }
.md h1 { font-size: 1.2rem; margin: 0.6rem 0 0.3rem; }
.md h2 { font-size: 1.05rem; }
.md h3 { font-size: 0.95rem; }
.md table { border-collapse: collapse; display: block; overflow-x: auto; }
.md th, .md td { border: 1px solid var(--line); padding: 0.25rem 0.5rem; }
blockquote { margin: 0.5rem 0; padding: 0.25rem 0.75rem; border-left: 3px solid var(--line); }
.d-add { color: var(--good); }
.d-del { color: var(--bad); }
.d-hunk { color: var(--accent); }
.d-file { font-weight: 700; }
.timeline { margin: 0; padding: 0; list-style: none; font-size: 0.9rem; }
.timeline li { padding: 0.3rem 0; border-top: 1px solid var(--line); }
.timeline .actor { display: block; color: var(--muted); font-size: 0.78rem; overflow-wrap: anywhere; }
`;

export const ASSET_VERSION = createHash('sha256').update(APP_JS).update(APP_CSS).digest('hex').slice(0, 10);
