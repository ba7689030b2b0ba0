/**
 * GitHub through its maintained client, @octokit/rest (pointed at `apiBase` for GitHub
 * Enterprise or a stand-in). No retry or throttling plugin: the callers own retries (the
 * publisher's attempts, the poller's interval), and this module only remembers what the
 * rate-limit headers said (`readyAt`). Conditional reads send If-None-Match; a 304, which GitHub
 * does not count against the quota, comes back as `notModified`.
 * Preconditions: `repo` is `owner/name`; the token comes from the environment (GITHUB_TOKEN).
 */
import { Octokit } from '@octokit/rest';
import { isOrchestraError } from '../core/errors.js';
import { forgeHttpError, waitFromHeaders, type HeaderGet } from './http-errors.js';
import { MAX_PAGES, PAGE_SIZE, type Forge, type ForgeComment, type ForgeIssue, type Polled, type PullRequest, type Thread } from './types.js';

const TIMEOUT_MS = 30_000;
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

type Headers = Record<string, string | number | undefined>;
const getter = (headers: Headers | undefined): HeaderGet => (name) => {
  const v = headers?.[name];
  return v === undefined ? undefined : String(v);
};

const idOf = (user: { id?: number } | null | undefined) => (typeof user?.id === 'number' ? { authorId: user.id } : {});
const hasNext = (headers: Headers | undefined) => /rel="next"/.test(String(headers?.link ?? ''));
const same = (a: string | undefined | null, b: string) => (a ?? '').toLowerCase() === b.toLowerCase();

function toPull(p: { number: number; html_url: string; draft?: boolean | null; state: string; merged_at?: string | null; head: { ref: string } }): PullRequest {
  return { number: p.number, url: p.html_url, draft: Boolean(p.draft), state: p.merged_at ? 'merged' : p.state, head: p.head.ref };
}

/** `bot`: the token's login; only requests it opened are ever taken as ours. */
export function createGitHubForge(opts: { repo: string; token: string; bot: string; apiBase?: string }): Forge {
  const [owner, name] = [opts.repo.split('/')[0]!, opts.repo.split('/').slice(1).join('/')];
  const octokit = new Octokit({ auth: opts.token, baseUrl: opts.apiBase ?? 'https://api.github.com', log: quiet, userAgent: 'orchestra' });
  let readyAt = 0;

  const note = (headers: Headers | undefined) => {
    const wait = waitFromHeaders(getter(headers));
    if (wait > 0) readyAt = Math.max(readyAt, Date.now() + wait);
  };

  /** Runs one call; a 304 is returned as undefined, anything else that failed is a typed error. */
  async function call<T>(what: string, fn: (signal: AbortSignal) => Promise<{ data: T; headers: Headers }>): Promise<{ data: T; etag?: string; next: boolean } | undefined> {
    try {
      const res = await fn(AbortSignal.timeout(TIMEOUT_MS));
      note(res.headers);
      return { data: res.data, next: hasNext(res.headers), ...(res.headers.etag ? { etag: String(res.headers.etag) } : {}) };
    } catch (err) {
      const e = err as { status?: number; response?: { headers?: Headers; data?: { message?: string } }; message?: string };
      note(e.response?.headers);
      if (e.status === 304) return undefined;
      const message = e.response?.data?.message ?? (e.status ? '' : (e.message ?? ''));
      throw forgeHttpError(`${what} on ${opts.repo}`, e.status, message, getter(e.response?.headers), opts.token);
    }
  }
  const conditional = (etag?: string) => (etag ? { 'if-none-match': etag } : {});

  return {
    kind: 'github',
    repo: opts.repo,
    readyAt: () => readyAt,
    async findPullRequest(branch, base) {
      const res = await call('looking up the pull request', (signal) =>
        octokit.rest.pulls.list({ owner, repo: name, head: `${owner}:${branch}`, state: 'all', per_page: 10, request: { signal } }));
      // The head filter already names our owner; checked again, with the author and the base, so
      // a fork's branch of the same name or a request someone else opened is never taken as ours.
      const found = (res?.data ?? [])
        .filter((p) => p.head.ref === branch && same(p.head.repo?.full_name, opts.repo) && same(p.user?.login, opts.bot) && (base === undefined || p.base.ref === base))
        .sort((a, b) => b.number - a.number)[0];
      return found ? toPull(found) : undefined;
    },
    async createPullRequest(req) {
      const res = await call('opening a pull request', (signal) =>
        octokit.rest.pulls.create({ owner, repo: name, head: req.head, base: req.base, title: req.title, body: req.body, draft: req.draft, request: { signal } }));
      return toPull(res!.data);
    },
    async updatePullRequest(number, body) {
      const res = await call('updating a pull request', (signal) => octokit.rest.pulls.update({ owner, repo: name, pull_number: number, body, request: { signal } }));
      return toPull(res!.data);
    },
    async listLabelledIssues(label, o = {}): Promise<Polled<ForgeIssue>> {
      const items: ForgeIssue[] = [];
      let etag: string | undefined;
      for (let page = 1; page <= MAX_PAGES; page++) {
        const res = await call('listing issues', (signal) =>
          octokit.rest.issues.listForRepo({ owner, repo: name, labels: label, state: 'open', sort: 'updated', direction: 'desc', per_page: PAGE_SIZE, page, headers: page === 1 ? conditional(o.etag) : {}, request: { signal } }));
        if (!res) {
          if (page === 1) return { notModified: true, ...(o.etag ? { etag: o.etag } : {}) };
          break;
        }
        if (page === 1) etag = res.etag;
        const issues = res.data
          .filter((i) => !i.pull_request)
          .map((i) => ({ number: i.number, title: i.title, body: i.body ?? '', author: i.user?.login ?? '', ...idOf(i.user), url: i.html_url, createdAt: i.created_at }));
        items.push(...issues);
        // A page of issues all known: the rest were seen before (they were updated earlier).
        if (!res.next || (o.known && issues.length > 0 && issues.every((i) => o.known!(i.number)))) break;
      }
      return { notModified: false, items, ...(etag ? { etag } : {}) };
    },
    async listComments(thread: Thread, o = {}): Promise<Polled<ForgeComment>> {
      // A pull request's conversation comments are issue comments on GitHub. `since` (updated at or
      // after) starts the list near where we were, so a long thread never freezes on page 1.
      const items: ForgeComment[] = [];
      let etag: string | undefined;
      for (let page = 1; page <= MAX_PAGES; page++) {
        const res = await call('listing comments', (signal) =>
          octokit.rest.issues.listComments({ owner, repo: name, issue_number: thread.number, per_page: PAGE_SIZE, page, ...(o.since ? { since: o.since } : {}), headers: page === 1 ? conditional(o.etag) : {}, request: { signal } }));
        if (!res) {
          if (page === 1) return { notModified: true, ...(o.etag ? { etag: o.etag } : {}) };
          break;
        }
        // Oldest first, so new comments land on the last page: page 1's ETag stands for the whole
        // answer only when there is no other page (else the next read is unconditional).
        if (page === 1 && !res.next) etag = res.etag;
        items.push(...res.data
          .map((c) => ({ id: c.id, author: c.user?.login ?? '', ...idOf(c.user), body: c.body ?? '', createdAt: c.created_at, updatedAt: c.updated_at ?? c.created_at }))
          .filter((c) => o.sinceId === undefined || c.id > o.sinceId));
        if (!res.next) break;
      }
      return { notModified: false, items, ...(etag ? { etag } : {}) };
    },
    async userId(login) {
      try {
        const res = await call('looking up a user', (signal) => octokit.rest.users.getByUsername({ username: login, request: { signal } }));
        return typeof res?.data.id === 'number' && same(res.data.login, login) ? res.data.id : undefined;
      } catch (err) {
        if (isOrchestraError(err, 'NOT_FOUND')) return undefined;
        throw err;
      }
    },
    async postComment(thread, body) {
      await call('commenting', (signal) => octokit.rest.issues.createComment({ owner, repo: name, issue_number: thread.number, body, request: { signal } }));
    },
  };
}
