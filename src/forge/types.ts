/**
 * The forge: the code host's REST API, the little of it Orchestra uses. One interface, two
 * implementations (github.ts through @octokit/rest, gitlab.ts through fetch). Callers never see
 * a wire shape, only these types; every failure is an OrchestraError with code FORGE_AUTH
 * (token missing, wrong or without scope), FORGE_UNAVAILABLE (5xx, network, rate limit; its
 * details carry `retryAfterMs` when the forge said), NOT_FOUND or INVALID_INPUT, and its message
 * never holds the token. Nothing here merges or approves anything: there is no such method.
 */

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
  url: string;
  createdAt: string;
}

export interface ForgeComment {
  id: number;
  author: string;
  body: string;
  createdAt: string;
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
  /** The open or closed request whose head is `branch` (the newest if several), or undefined. */
  findPullRequest(branch: string): Promise<PullRequest | undefined>;
  createPullRequest(req: { head: string; base: string; title: string; body: string; draft: boolean }): Promise<PullRequest>;
  updatePullRequest(number: number, body: string): Promise<PullRequest>;
  /** Open issues with `label`, oldest first, at most one page (100). */
  listLabelledIssues(label: string, etag?: string): Promise<Polled<ForgeIssue>>;
  /** Comments on a thread, oldest first, at most one page (100), after `sinceId` when given. */
  listComments(thread: Thread, opts?: { etag?: string; sinceId?: number }): Promise<Polled<ForgeComment>>;
  postComment(thread: Thread, body: string): Promise<void>;
  /** Epoch ms before which the forge asked not to be called (rate-limit headers); 0 when free. */
  readyAt(): number;
}
