/**
 * GitLab's REST API v4 through plain `fetch`. Not @gitbeaker: it is a large client for the whole
 * API while we use seven endpoints, and it brings its own retry and rate-limit handling that we
 * would have to switch off to keep the callers' (the publisher's attempts, the poller's
 * interval); fetch is built into Node 20 and keeps the wire format visible here.
 * Merge requests are drafts by the `Draft: ` title prefix (GitLab's own convention); `number` is
 * the MR's or issue's iid. Responses are read with a size cap and parsed as plain JSON only.
 * Preconditions: `repo` is the project path; the token comes from GITLAB_TOKEN (sent as
 * PRIVATE-TOKEN, never in a URL, never in a message).
 */
import { OrchestraError } from '../core/errors.js';
import { forgeHttpError, waitFromHeaders } from './http-errors.js';
import { MAX_PAGES, PAGE_SIZE, type Forge, type ForgeComment, type ForgeIssue, type Polled, type PullRequest, type Thread } from './types.js';

const TIMEOUT_MS = 30_000;
const MAX_RESPONSE_BYTES = 8 << 20;

interface GitLabMr {
  iid: number; web_url: string; draft?: boolean; work_in_progress?: boolean; state: string; source_branch: string; target_branch?: string;
  source_project_id?: number; target_project_id?: number; author?: { username?: string };
}
const idOf = (user: { id?: unknown } | undefined) => (typeof user?.id === 'number' ? { authorId: user.id } : {});
interface GitLabNote { id: number; body: string; author?: { username?: string; id?: number }; created_at: string; updated_at?: string; system?: boolean }

const toPull = (m: GitLabMr): PullRequest => ({ number: m.iid, url: m.web_url, draft: Boolean(m.draft ?? m.work_in_progress), state: m.state === 'opened' ? 'open' : m.state, head: m.source_branch });

async function readCapped(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new OrchestraError('FORGE_UNAVAILABLE', `the forge's answer is larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `bot`: the token's username; only merge requests it opened are ever taken as ours. */
export function createGitLabForge(opts: { repo: string; token: string; bot: string; apiBase?: string }): Forge {
  const base = (opts.apiBase ?? 'https://gitlab.com/api/v4').replace(/\/+$/, '');
  const project = `${base}/projects/${encodeURIComponent(opts.repo)}`;
  let readyAt = 0;

  async function call<T>(what: string, method: string, path: string, body?: unknown, etag?: string, root = project): Promise<{ data: T; etag?: string; next: boolean } | undefined> {
    const headers: Record<string, string> = { 'PRIVATE-TOKEN': opts.token, accept: 'application/json', 'user-agent': 'orchestra' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (etag) headers['if-none-match'] = etag;
    let res: Response;
    try {
      res = await fetch(`${root}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
    } catch (err) {
      throw forgeHttpError(`${what} on ${opts.repo}`, undefined, (err as Error).message, () => undefined, opts.token);
    }
    const get = (name: string) => res.headers.get(name) ?? undefined;
    const wait = waitFromHeaders(get);
    if (wait > 0) readyAt = Math.max(readyAt, Date.now() + wait);
    if (res.status === 304) {
      await res.body?.cancel();
      return undefined;
    }
    const text = await readCapped(res);
    if (!res.ok) {
      let message = '';
      try {
        const parsed = JSON.parse(text) as { message?: unknown; error?: unknown };
        message = typeof parsed.message === 'string' ? parsed.message : typeof parsed.error === 'string' ? parsed.error : JSON.stringify(parsed.message ?? '');
      } catch {
        message = '';
      }
      throw forgeHttpError(`${what} on ${opts.repo}`, res.status, message, get, opts.token);
    }
    let data: T;
    try {
      data = JSON.parse(text) as T;
    } catch {
      throw new OrchestraError('FORGE_UNAVAILABLE', `${what} on ${opts.repo} failed: the forge's answer is not JSON`);
    }
    const tag = res.headers.get('etag');
    return { data, next: /^\d+$/.test(res.headers.get('x-next-page') ?? ''), ...(tag ? { etag: tag } : {}) };
  }
  const threadPath = (t: Thread) => `/${t.kind === 'pull' ? 'merge_requests' : 'issues'}/${t.number}/notes`;
  const list = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);

  return {
    kind: 'gitlab',
    repo: opts.repo,
    readyAt: () => readyAt,
    async findPullRequest(branch, base) {
      const res = await call<unknown>('looking up the merge request', 'GET', `/merge_requests?source_branch=${encodeURIComponent(branch)}&state=all&per_page=10`);
      // The list holds every request into this project, forks' too: a fork's `task/<id>` has the
      // same source_branch. Ours come from this project itself, were opened by the bot, into `base`.
      const ours = (m: GitLabMr) => m.source_branch === branch && typeof m.source_project_id === 'number' && m.source_project_id === m.target_project_id
        && (m.author?.username ?? '').toLowerCase() === opts.bot.toLowerCase() && (base === undefined || m.target_branch === base);
      const found = list<GitLabMr>(res?.data).filter(ours).sort((a, b) => b.iid - a.iid)[0];
      return found ? toPull(found) : undefined;
    },
    async createPullRequest(req) {
      const title = req.draft && !/^draft:/i.test(req.title) ? `Draft: ${req.title}` : req.title;
      const res = await call<GitLabMr>('opening a merge request', 'POST', '/merge_requests', { source_branch: req.head, target_branch: req.base, title, description: req.body, remove_source_branch: false });
      return toPull(res!.data);
    },
    async updatePullRequest(number, body) {
      const res = await call<GitLabMr>('updating a merge request', 'PUT', `/merge_requests/${number}`, { description: body });
      return toPull(res!.data);
    },
    async listLabelledIssues(label, o = {}): Promise<Polled<ForgeIssue>> {
      const items: ForgeIssue[] = [];
      let etag: string | undefined;
      for (let page = 1; page <= MAX_PAGES; page++) {
        const res = await call<unknown>('listing issues', 'GET', `/issues?labels=${encodeURIComponent(label)}&state=opened&order_by=updated_at&sort=desc&per_page=${PAGE_SIZE}&page=${page}`, undefined, page === 1 ? o.etag : undefined);
        if (!res) {
          if (page === 1) return { notModified: true, ...(o.etag ? { etag: o.etag } : {}) };
          break;
        }
        if (page === 1) etag = res.etag;
        const issues = list<{ iid: number; title: string; description: string | null; author?: { username?: string; id?: number }; web_url: string; created_at: string }>(res.data)
          .map((i) => ({ number: i.iid, title: String(i.title ?? ''), body: String(i.description ?? ''), author: String(i.author?.username ?? ''), ...idOf(i.author), url: String(i.web_url ?? ''), createdAt: String(i.created_at ?? '') }));
        items.push(...issues);
        if (!res.next || (o.known && issues.length > 0 && issues.every((i) => o.known!(i.number)))) break;
      }
      return { notModified: false, items, ...(etag ? { etag } : {}) };
    },
    async listComments(thread, o = {}): Promise<Polled<ForgeComment>> {
      // Newest first, back to the last one read: a thread longer than a page never hides new notes.
      const items: ForgeComment[] = [];
      let etag: string | undefined;
      const since = o.since ? Date.parse(o.since) : NaN;
      const old = (n: GitLabNote) => (o.sinceId !== undefined && n.id <= o.sinceId) || Date.parse(String(n.created_at)) < since;
      for (let page = 1; page <= MAX_PAGES; page++) {
        const res = await call<unknown>('listing comments', 'GET', `${threadPath(thread)}?sort=desc&order_by=created_at&per_page=${PAGE_SIZE}&page=${page}`, undefined, page === 1 ? o.etag : undefined);
        if (!res) {
          if (page === 1) return { notModified: true, ...(o.etag ? { etag: o.etag } : {}) };
          break;
        }
        if (page === 1) etag = res.etag;
        const notes = list<GitLabNote>(res.data);
        items.push(...notes.filter((n) => !n.system && !old(n))
          .map((n) => ({ id: n.id, author: String(n.author?.username ?? ''), ...idOf(n.author), body: String(n.body ?? ''), createdAt: String(n.created_at ?? ''), updatedAt: String(n.updated_at ?? n.created_at ?? '') })));
        if (!res.next || notes.some(old)) break;
      }
      items.sort((a, b) => a.id - b.id);
      return { notModified: false, items, ...(etag ? { etag } : {}) };
    },
    async userId(login) {
      const res = await call<unknown>('looking up a user', 'GET', `/users?username=${encodeURIComponent(login)}`, undefined, undefined, base);
      const user = list<{ id?: unknown; username?: unknown }>(res?.data).find((u) => typeof u.username === 'string' && u.username.toLowerCase() === login.toLowerCase());
      return typeof user?.id === 'number' ? user.id : undefined;
    },
    async postComment(thread, body) {
      await call('commenting', 'POST', threadPath(thread), { body });
    },
  };
}
