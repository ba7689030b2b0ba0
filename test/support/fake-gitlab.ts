/**
 * A local stand-in for GitLab's REST API v4, the subset the forge uses:
 *   GET/POST /api/v4/projects/{id}/merge_requests (source_branch filter), PUT .../merge_requests/{iid}
 *   GET /api/v4/projects/{id}/issues (labels), GET/POST .../{issues|merge_requests}/{iid}/notes
 * `{id}` is the URL-encoded project path; `PRIVATE-TOKEN` must match (401 otherwise); lists carry
 * an ETag and answer 304 to a matching If-None-Match. Lists are paged (`per_page`, `page`, an
 * `x-next-page` header); notes honour `sort`, issues `order_by=updated_at` + `sort`. The project
 * is id PROJECT_ID; a merge request from a fork has another `source_project_id` (and may carry
 * our task branch's name), its `author` is whoever opened it (default the token's user).
 */
import { createHash } from 'node:crypto';
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { serveOnLoopback, readBody } from './http-util.js';

export const PROJECT_ID = 4242;
/** A user's account id: a stable function of the (case-folded) username. */
export const userId = (name: string) => 100 + [...name.toLowerCase()].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 100_000, 7);
export interface FakeMr { iid: number; title: string; description: string; source_branch: string; target_branch: string; state: string; source_project_id?: number; author?: string }
export interface FakeNote { id: number; on: 'issues' | 'merge_requests'; iid: number; author: string; body: string; created_at?: string; updated_at?: string }

export interface FakeGitLab {
  url: string;
  apiBase: string;
  mrs: FakeMr[];
  notes: FakeNote[];
  issues: Array<{ iid: number; title: string; description: string; labels: string[]; author: string; updated_at?: string }>;
  requests: Array<{ method: string; path: string; status: number }>;
  close(): Promise<void>;
}

export async function startFakeGitLab(opts: { token: string; project: string }): Promise<FakeGitLab> {
  const mrs: FakeMr[] = [];
  const notes: FakeNote[] = [];
  const issues: FakeGitLab['issues'] = [];
  const requests: FakeGitLab['requests'] = [];
  let nextIid = 1;
  let nextNote = 500;
  let url = '';
  const mrJson = (m: FakeMr) => ({ iid: m.iid, id: 10_000 + m.iid, title: m.title, description: m.description, source_branch: m.source_branch, target_branch: m.target_branch, state: m.state,
    source_project_id: m.source_project_id ?? PROJECT_ID, target_project_id: PROJECT_ID, author: { username: m.author ?? 'orchestra' }, draft: /^draft:/i.test(m.title), web_url: `${url}/${opts.project}/-/merge_requests/${m.iid}` });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const u = new URL(raw, 'http://x');
    const method = req.method ?? 'GET';
    const text = await readBody(req);
    const send = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      requests.push({ method, path: raw, status });
      res.writeHead(status, { 'content-type': 'application/json', 'ratelimit-remaining': '1000', ...extra }).end(body === undefined ? '' : JSON.stringify(body));
    };
    if (req.headers['private-token'] !== opts.token) return send(401, { message: '401 Unauthorized' });
    if (u.pathname === '/api/v4/users' && method === 'GET') {
      const name = u.searchParams.get('username') ?? '';
      return send(200, name ? [{ id: userId(name), username: name }] : []);
    }
    const prefix = `/api/v4/projects/${encodeURIComponent(opts.project)}`;
    // The raw path keeps %2F: GitLab addresses a project by its encoded path.
    const rawPath = raw.split('?')[0]!;
    if (!rawPath.startsWith(prefix)) return send(404, { message: '404 Project Not Found' });
    const rest = rawPath.slice(prefix.length);
    const body = text ? (JSON.parse(text) as Record<string, any>) : {};
    const list = (all: unknown[]) => {
      const perPage = Math.min(100, Number(u.searchParams.get('per_page') ?? 20) || 20);
      const page = Math.max(1, Number(u.searchParams.get('page') ?? 1) || 1);
      const items = all.slice((page - 1) * perPage, page * perPage);
      const more = page * perPage < all.length;
      const etag = `W/"${createHash('sha1').update(JSON.stringify(items)).digest('hex')}"`;
      const next = { 'x-next-page': more ? String(page + 1) : '' };
      if (req.headers['if-none-match'] === etag) return send(304, undefined, { etag, ...next });
      return send(200, items, { etag, ...next });
    };
    if (rest === '/merge_requests' && method === 'GET') {
      const branch = u.searchParams.get('source_branch');
      return list(mrs.filter((m) => !branch || m.source_branch === branch).map(mrJson));
    }
    if (rest === '/merge_requests' && method === 'POST') {
      if (mrs.some((m) => m.source_branch === body.source_branch && !m.source_project_id && m.state === 'opened')) return send(409, { message: ['Another open merge request already exists for this source branch'] });
      const m: FakeMr = { iid: nextIid++, title: String(body.title), description: String(body.description ?? ''), source_branch: String(body.source_branch), target_branch: String(body.target_branch), state: 'opened' };
      mrs.push(m);
      return send(201, mrJson(m));
    }
    const put = /^\/merge_requests\/(\d+)$/.exec(rest);
    if (put && method === 'PUT') {
      const m = mrs.find((x) => x.iid === Number(put[1]));
      if (!m) return send(404, { message: '404 Not found' });
      if (typeof body.description === 'string') m.description = body.description;
      return send(200, mrJson(m));
    }
    if (rest === '/issues' && method === 'GET') {
      const labels = (u.searchParams.get('labels') ?? '').split(',').filter(Boolean);
      const shown = issues.filter((i) => labels.every((l) => i.labels.includes(l)));
      for (const i of shown) i.updated_at ??= new Date().toISOString();
      if (u.searchParams.get('order_by') === 'updated_at') shown.sort((a, b) => (u.searchParams.get('sort') === 'asc' ? 1 : -1) * (a.updated_at!.localeCompare(b.updated_at!) || a.iid - b.iid));
      return list(shown.map((i) => ({ iid: i.iid, title: i.title, description: i.description, author: { username: i.author, id: userId(i.author) }, web_url: `${url}/${opts.project}/-/issues/${i.iid}`, created_at: i.updated_at, updated_at: i.updated_at, labels: i.labels })));
    }
    const n = /^\/(issues|merge_requests)\/(\d+)\/notes$/.exec(rest);
    if (n && method === 'GET') {
      const on = notes.filter((x) => x.on === n[1] && x.iid === Number(n[2]));
      for (const x of on) {
        x.created_at ??= new Date().toISOString();
        x.updated_at ??= x.created_at;
      }
      on.sort((a, b) => (u.searchParams.get('sort') === 'asc' ? 1 : -1) * (a.id - b.id));
      return list(on.map((x) => ({ id: x.id, body: x.body, author: { username: x.author, id: userId(x.author) }, created_at: x.created_at, updated_at: x.updated_at, system: false })));
    }
    if (n && method === 'POST') {
      const now = new Date().toISOString();
      const note: FakeNote = { id: nextNote++, on: n[1] as FakeNote['on'], iid: Number(n[2]), author: 'orchestra', body: String(body.body ?? ''), created_at: now, updated_at: now };
      notes.push(note);
      return send(201, { id: note.id, body: note.body, author: { username: note.author, id: userId(note.author) } });
    }
    return send(404, { message: '404 Not Found' });
  }

  const listening = await serveOnLoopback(handle, (res, err) => res.writeHead(500).end(JSON.stringify({ message: String(err) })));
  url = listening.url;
  return { url, apiBase: `${url}/api/v4`, mrs, notes, issues, requests, close: listening.close };
}
