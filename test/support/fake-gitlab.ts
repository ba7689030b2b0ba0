/**
 * A local stand-in for GitLab's REST API v4, the subset the forge uses:
 *   GET/POST /api/v4/projects/{id}/merge_requests (source_branch filter), PUT .../merge_requests/{iid}
 *   GET /api/v4/projects/{id}/issues (labels), GET/POST .../{issues|merge_requests}/{iid}/notes
 * `{id}` is the URL-encoded project path; `PRIVATE-TOKEN` must match (401 otherwise); lists carry
 * an ETag and answer 304 to a matching If-None-Match.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, readBody } from './http-util.js';

export interface FakeMr { iid: number; title: string; description: string; source_branch: string; target_branch: string; state: string }
export interface FakeNote { id: number; on: 'issues' | 'merge_requests'; iid: number; author: string; body: string }

export interface FakeGitLab {
  url: string;
  apiBase: string;
  mrs: FakeMr[];
  notes: FakeNote[];
  issues: Array<{ iid: number; title: string; description: string; labels: string[]; author: string }>;
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
  const mrJson = (m: FakeMr) => ({ iid: m.iid, id: 10_000 + m.iid, title: m.title, description: m.description, source_branch: m.source_branch, target_branch: m.target_branch, state: m.state, draft: /^draft:/i.test(m.title), web_url: `${url}/${opts.project}/-/merge_requests/${m.iid}` });

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
    const prefix = `/api/v4/projects/${encodeURIComponent(opts.project)}`;
    // The raw path keeps %2F: GitLab addresses a project by its encoded path.
    const rawPath = raw.split('?')[0]!;
    if (!rawPath.startsWith(prefix)) return send(404, { message: '404 Project Not Found' });
    const rest = rawPath.slice(prefix.length);
    const body = text ? (JSON.parse(text) as Record<string, any>) : {};
    const list = (items: unknown[]) => {
      const etag = `W/"${createHash('sha1').update(JSON.stringify(items)).digest('hex')}"`;
      if (req.headers['if-none-match'] === etag) return send(304, undefined, { etag });
      return send(200, items, { etag });
    };
    if (rest === '/merge_requests' && method === 'GET') {
      const branch = u.searchParams.get('source_branch');
      return list(mrs.filter((m) => !branch || m.source_branch === branch).map(mrJson));
    }
    if (rest === '/merge_requests' && method === 'POST') {
      if (mrs.some((m) => m.source_branch === body.source_branch && m.state === 'opened')) return send(409, { message: ['Another open merge request already exists for this source branch'] });
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
      return list(issues.filter((i) => labels.every((l) => i.labels.includes(l))).map((i) => ({ iid: i.iid, title: i.title, description: i.description, author: { username: i.author }, web_url: `${url}/${opts.project}/-/issues/${i.iid}`, created_at: new Date().toISOString(), labels: i.labels })));
    }
    const n = /^\/(issues|merge_requests)\/(\d+)\/notes$/.exec(rest);
    if (n && method === 'GET') return list(notes.filter((x) => x.on === n[1] && x.iid === Number(n[2])).map((x) => ({ id: x.id, body: x.body, author: { username: x.author }, created_at: new Date().toISOString(), system: false })));
    if (n && method === 'POST') {
      const note: FakeNote = { id: nextNote++, on: n[1] as FakeNote['on'], iid: Number(n[2]), author: 'orchestra', body: String(body.body ?? '') };
      notes.push(note);
      return send(201, { id: note.id, body: note.body, author: { username: note.author } });
    }
    return send(404, { message: '404 Not Found' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => res.writeHead(500).end(JSON.stringify({ message: String(err) })));
  });
  const listening = await listenOnLoopback(server);
  url = listening.url;
  return { url, apiBase: `${url}/api/v4`, mrs, notes, issues, requests, close: listening.close };
}
