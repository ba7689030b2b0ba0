/**
 * A local stand-in for the GitHub REST API, the subset @octokit/rest calls for the forge:
 *   GET/POST /repos/{o}/{r}/pulls (list by `head=owner:branch`, create), PATCH .../pulls/{n}
 *   GET /repos/{o}/{r}/issues (labels, state=open), GET/POST .../issues/{n}/comments
 * with GitHub's shapes, `authorization: token|Bearer <token>` (401 otherwise), an ETag on every
 * list and 304 to a matching If-None-Match (a 304 is not counted against the quota, as on
 * GitHub), x-ratelimit-* headers, and injected failures (`failNext`: a 5xx, or a 403 with an
 * exhausted quota). `hold` lets a test stop a request mid-way (to kill the caller then).
 * Lists are paged as on GitHub (`per_page`, `page`, a `Link: <…>; rel="next"` header); issues
 * honour `sort`/`direction`, comments `since` (updated at or after). A pull request's head may
 * be a fork's (`headRepo`) and its author anyone (`author`); `editComment` bumps `updated_at`.
 * Users have numeric ids (GET /users/{login}); `reRegister` gives a login to a new account.
 *
 *   const gh = await startFakeGitHub({ token: 't' });
 *   new Octokit({ auth: 't', baseUrl: gh.url });
 */
import { createHash } from 'node:crypto';
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { serveOnLoopback, readBody } from './http-util.js';

export interface FakePull { number: number; title: string; body: string; head: string; base: string; draft: boolean; state: string; author?: string; headRepo?: string }
export interface FakeIssue { number: number; title: string; body: string; labels: string[]; author: string; state: string; created_at: string; updated_at?: string }
export interface FakeComment { id: number; issue: number; author: string; body: string; created_at: string; updated_at?: string }
export interface SeenRequest { method: string; path: string; status: number; headers: IncomingMessage['headers'] }

export interface FakeGitHub {
  url: string;
  pulls: FakePull[];
  issues: FakeIssue[];
  comments: FakeComment[];
  requests: SeenRequest[];
  /** Requests that counted against the quota (not 304s). */
  quotaUsed(): number;
  addIssue(i: { title: string; body?: string; labels?: string[]; author?: string }): FakeIssue;
  addComment(issue: number, c: { author: string; body: string }): FakeComment;
  /** Someone edits a comment: new body, `updated_at` later than `created_at`. */
  editComment(id: number, body: string): void;
  /** The login's account is gone and someone else registered the login: a new id from now on. */
  reRegister(login: string): void;
  /** A pull request opened by someone else (another author, or from a fork's branch). */
  addPull(p: { head: string; base?: string; author: string; headRepo?: string; body?: string }): FakePull;
  /** The next `count` requests (matching `path`, if given) answer `status` (403 = rate limited). */
  failNext(count: number, status: number, path?: RegExp): void;
  /** The next request matching method + path waits until the returned release() is called. */
  hold(method: string, path: RegExp, when?: 'before' | 'after'): { reached: Promise<void>; release: () => void };
  close(): Promise<void>;
}

const etagOf = (body: string) => `"${createHash('sha1').update(body).digest('hex')}"`;

export async function startFakeGitHub(opts: { token: string; owner?: string; rateLimit?: number }): Promise<FakeGitHub> {
  const pulls: FakePull[] = [];
  const issues: FakeIssue[] = [];
  const comments: FakeComment[] = [];
  const requests: SeenRequest[] = [];
  const failures: Array<{ status: number; path?: RegExp }> = [];
  const holds: Array<{ method: string; path: RegExp; when: 'before' | 'after'; reach: () => void; released: Promise<void> }> = [];
  let nextNumber = 1;
  let nextComment = 1000;
  let used = 0;
  const limit = opts.rateLimit ?? 5000;
  let url = '';
  const userIds = new Map<string, number>();
  let nextUser = 1;
  const user = (login: string) => {
    const key = login.toLowerCase();
    if (!userIds.has(key)) userIds.set(key, nextUser++);
    return { login, id: userIds.get(key)! };
  };

  const pullJson = (p: FakePull) => ({
    number: p.number, html_url: `${url}/o/r/pull/${p.number}`, url: `${url}/repos/o/r/pulls/${p.number}`, title: p.title, body: p.body, draft: p.draft, state: p.state, merged_at: null,
    head: { ref: p.head, label: `${(p.headRepo ?? 'o/r').split('/')[0]}:${p.head}`, repo: { full_name: p.headRepo ?? 'o/r' } }, base: { ref: p.base }, user: user(p.author ?? 'orchestra'),
  });
  const issueJson = (i: FakeIssue) => ({ number: i.number, title: i.title, body: i.body, state: i.state, html_url: `${url}/o/r/issues/${i.number}`, created_at: i.created_at, updated_at: i.updated_at ?? i.created_at, user: user(i.author), labels: i.labels.map((name) => ({ name })) });
  const commentJson = (c: FakeComment) => ({ id: c.id, body: c.body, user: user(c.author), created_at: c.created_at, updated_at: c.updated_at ?? c.created_at, html_url: `${url}/o/r/issues/${c.issue}#issuecomment-${c.id}` });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const text = await readBody(req);
    const send = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      const json = body === undefined ? '' : JSON.stringify(body);
      if (status !== 304) used++;
      const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': String(Math.max(0, limit - used)), 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600), ...extra };
      requests.push({ method, path: u.pathname + u.search, status, headers: req.headers });
      res.writeHead(status, headers).end(json);
    };
    const auth = req.headers.authorization ?? '';
    if (auth !== `token ${opts.token}` && auth !== `Bearer ${opts.token}`) return send(401, { message: 'Bad credentials' });
    const failAt = failures.findIndex((f) => !f.path || f.path.test(u.pathname));
    if (failAt >= 0) {
      const [f] = failures.splice(failAt, 1);
      if (f!.status === 403) return send(403, { message: 'API rate limit exceeded' }, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 1), 'retry-after': '1' });
      return send(f!.status, { message: 'Server Error' });
    }
    const holdAt = holds.findIndex((h) => h.method === method && h.path.test(u.pathname));
    const hold = holdAt >= 0 ? holds.splice(holdAt, 1)[0] : undefined;
    if (hold?.when === 'before') {
      hold.reach();
      await hold.released;
    }
    const list = (all: unknown[]) => {
      const perPage = Math.min(100, Number(u.searchParams.get('per_page') ?? 30) || 30);
      const page = Math.max(1, Number(u.searchParams.get('page') ?? 1) || 1);
      const items = all.slice((page - 1) * perPage, page * perPage);
      const body = JSON.stringify(items);
      const etag = etagOf(body);
      const link: Record<string, string> = {};
      if (page * perPage < all.length) {
        const next = new URL(u.toString());
        next.searchParams.set('page', String(page + 1));
        link.link = `<${url}${next.pathname}${next.search}>; rel="next"`;
      }
      if (req.headers['if-none-match'] === etag) return send(304, undefined, { etag, ...link });
      return send(200, items, { etag, ...link });
    };
    const who = /^\/users\/([^/]+)$/.exec(u.pathname);
    if (who && method === 'GET') return userIds.has(decodeURIComponent(who[1]!).toLowerCase()) || /^[a-z]/i.test(who[1]!) ? send(200, user(decodeURIComponent(who[1]!))) : send(404, { message: 'Not Found' });
    const m = /^\/repos\/([^/]+)\/([^/]+)\/(pulls|issues)(?:\/(\d+))?(?:\/(comments))?$/.exec(u.pathname);
    if (!m) return send(404, { message: 'Not Found' });
    const [, , , kind, num, sub] = m;
    const body = text ? (JSON.parse(text) as Record<string, any>) : {};
    if (kind === 'pulls' && !num && method === 'GET') {
      const [owner, ...rest] = (u.searchParams.get('head') ?? '').split(':');
      const head = rest.join(':');
      // As on GitHub: `head=owner:branch` names the owner of the head's repository.
      return list(pulls.filter((p) => !head || (p.head === head && (p.headRepo ?? 'o/r').split('/')[0] === owner)).map(pullJson));
    }
    if (kind === 'pulls' && !num && method === 'POST') {
      if (pulls.some((p) => p.head === body.head && !p.headRepo && p.state === 'open')) return send(422, { message: 'Validation Failed', errors: [{ message: `A pull request already exists for o:${body.head}.` }] });
      const p: FakePull = { number: nextNumber++, title: String(body.title), body: String(body.body ?? ''), head: String(body.head), base: String(body.base), draft: Boolean(body.draft), state: 'open' };
      pulls.push(p);
      if (hold?.when === 'after') {
        hold.reach();
        await hold.released;
      }
      return send(201, pullJson(p));
    }
    if (kind === 'pulls' && num && method === 'PATCH') {
      const p = pulls.find((x) => x.number === Number(num));
      if (!p) return send(404, { message: 'Not Found' });
      if (typeof body.body === 'string') p.body = body.body;
      return send(200, pullJson(p));
    }
    if (kind === 'issues' && !num && method === 'GET') {
      const labels = (u.searchParams.get('labels') ?? '').split(',').filter(Boolean);
      const key = u.searchParams.get('sort') === 'updated' ? (i: FakeIssue) => i.updated_at ?? i.created_at : (i: FakeIssue) => i.created_at;
      const dir = u.searchParams.get('direction') === 'asc' ? 1 : -1;
      const open = issues.filter((i) => i.state === 'open' && labels.every((l) => i.labels.includes(l)));
      open.sort((a, b) => dir * (key(a).localeCompare(key(b)) || a.number - b.number));
      return list(open.map(issueJson));
    }
    if (kind === 'issues' && num && sub === 'comments' && method === 'GET') {
      const since = u.searchParams.get('since');
      return list(comments.filter((c) => c.issue === Number(num) && (!since || Date.parse(c.updated_at ?? c.created_at) >= Date.parse(since))).map(commentJson));
    }
    if (kind === 'issues' && num && sub === 'comments' && method === 'POST') {
      const c = api.addComment(Number(num), { author: 'orchestra', body: String(body.body ?? '') });
      if (hold?.when === 'after') {
        hold.reach();
        await hold.released;
      }
      return send(201, commentJson(c));
    }
    return send(404, { message: 'Not Found' });
  }

  const listening = await serveOnLoopback(handle, (res, err) => res.writeHead(500).end(JSON.stringify({ message: String(err) })));
  url = listening.url;
  const api: FakeGitHub = {
    url, pulls, issues, comments, requests,
    quotaUsed: () => used,
    addIssue(i) {
      const issue = { number: nextNumber++, title: i.title, body: i.body ?? '', labels: i.labels ?? [], author: i.author ?? 'someone', state: 'open', created_at: new Date().toISOString() };
      issues.push(issue);
      return issue;
    },
    reRegister(login) {
      userIds.set(login.toLowerCase(), nextUser++);
    },
    editComment(id, body) {
      const c = comments.find((x) => x.id === id)!;
      c.body = body;
      c.updated_at = new Date(Date.parse(c.created_at) + 5000).toISOString();
    },
    addPull(p) {
      const pull: FakePull = { number: nextNumber++, title: 'someone else', body: p.body ?? 'theirs', head: p.head, base: p.base ?? 'development', draft: false, state: 'open', author: p.author, ...(p.headRepo ? { headRepo: p.headRepo } : {}) };
      pulls.push(pull);
      return pull;
    },
    addComment(issue, c) {
      const comment = { id: nextComment++, issue, author: c.author, body: c.body, created_at: new Date().toISOString() };
      comments.push(comment);
      return comment;
    },
    failNext(count, status, path) {
      for (let i = 0; i < count; i++) failures.push({ status, ...(path ? { path } : {}) });
    },
    hold(method, path, when = 'before') {
      let reach!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((r) => (reach = r));
      const released = new Promise<void>((r) => (release = r));
      holds.push({ method, path, when, reach, released });
      return { reached, release };
    },
    close: async () => {
      for (const h of holds) h.reach();
      await listening.close();
    },
  };
  return api;
}
