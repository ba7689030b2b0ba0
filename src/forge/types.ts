/**
 * The forge: the code host's REST API, the little of it Orchestra uses. One interface, two
 * implementations (github.ts through @octokit/rest, gitlab.ts through fetch). Callers never see
 * a wire shape, only these types; every failure is an OrchestraError with code FORGE_AUTH
 * (token missing, wrong or without scope), FORGE_UNAVAILABLE (5xx, network, rate limit; its
 * details carry `retryAfterMs` when the forge said), NOT_FOUND or INVALID_INPUT, and its message
 * never holds the token. Nothing here merges or approves anything: there is no such method.
 */

/** Pages of 100 read at most per list call (a thread or an issue list longer than that goes on at the next pass). */
export const MAX_PAGES = 10;
export const PAGE_SIZE = 100;

/** A pull request (GitHub) or merge request (GitLab); `number` is the MR's iid on GitLab. */
export interface PullRequest {
  number: number;
  url: string;
  draft: boolean;
  /** open, closed or merged. */
  state: string;
  head: string;
}

export interface ForgeIssue {
  number: number;
  title: string;
  body: string;
  author: string;
  /** The author's numeric account id, when the forge gave it (it stays with the account, a login does not). */
  authorId?: number;
  url: string;
  createdAt: string;
}

export interface ForgeComment {
  id: number;
  author: string;
  authorId?: number;
  body: string;
  createdAt: string;
  /** Later than `createdAt` when someone edited it (who did is not told, so the text is not the author's). */
  updatedAt: string;
}

/** An issue or a pull request, where comments live. */
export interface Thread {
  kind: 'issue' | 'pull';
  number: number;
}

/** A conditional read: `notModified` when the forge answered 304 to the ETag we sent (costs no quota). */
export type Polled<T> = { notModified: true; etag?: string } | { notModified: false; etag?: string; items: T[] };

export interface Forge {
  readonly kind: 'github' | 'gitlab';
  /** owner/name or the GitLab project path. */
  readonly repo: string;
  /**
   * Our open or closed request whose head is `branch` (the newest if several), or undefined. Ours:
   * its head is in this repository (never a fork's branch of the same name), it was opened by the
   * bot (the token's user, config `forge.bot`) and, when `base` is given, it targets `base`.
   */
  findPullRequest(branch: string, base?: string): Promise<PullRequest | undefined>;
  createPullRequest(req: { head: string; base: string; title: string; body: string; draft: boolean }): Promise<PullRequest>;
  updatePullRequest(number: number, body: string): Promise<PullRequest>;
  /**
   * Open issues with `label`, most recently updated first (a new issue or a label just added is on
   * the first page whatever the number of open ones). Further pages are read while a page holds
   * an issue `known` does not know, at most MAX_PAGES; the ETag is the first page's.
   */
  listLabelledIssues(label: string, opts?: { etag?: string; known?: (issue: number) => boolean }): Promise<Polled<ForgeIssue>>;
  /**
   * Comments on a thread after `sinceId` (and written or edited at or after `since`, an ISO time,
   * when given), oldest first, reading as many pages as needed up to MAX_PAGES: a thread with
   * more comments than a page never hides the new ones. The ETag is the first page's.
   */
  listComments(thread: Thread, opts?: { etag?: string; sinceId?: number; since?: string }): Promise<Polled<ForgeComment>>;
  postComment(thread: Thread, body: string): Promise<void>;
  /** The numeric id of the account that holds `login` now, or undefined when there is none. */
  userId(login: string): Promise<number | undefined>;
  /** Epoch ms before which the forge asked not to be called (rate-limit headers); 0 when free. */
  readyAt(): number;
}
