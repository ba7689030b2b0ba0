import { z } from 'zod';

/**
 * Config section `forge`: the code host a task branch's pull (GitHub) or merge (GitLab) request is
 * opened on, and where labelled issues and comments are polled from. Off by default (`kind:
 * none`). Tokens are never kept here: they come only from GITHUB_TOKEN / GITLAB_TOKEN
 * (environment.ts), because this file is committed to the workspace's history.
 * Invariants: `repo` is a plain `owner/name` or GitLab group path (no `..`, no URL), `apiBase`
 * is an http(s) URL, a bot mention is a plain login; everything here is operator-trusted.
 */
const login = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a plain login name');

export const ForgeKindSchema = z.enum(['none', 'auto', 'github', 'gitlab']);

export const ForgeConfigSchema = z.object({
  /** `auto`: github for a push remote on github.com, gitlab for gitlab.com, else none. */
  kind: ForgeKindSchema.default('none'),
  /** REST API root: GitHub Enterprise `https://host/api/v3`, self-hosted GitLab `https://host/api/v4`. */
  apiBase: z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL').optional(),
  /** `owner/name` (GitHub) or `group/sub/project` (GitLab); default: derived from the push remote's URL. */
  repo: z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/, 'must be owner/name').refine((r) => !r.split('/').some((s) => s === '.' || s === '..'), 'must be owner/name').optional(),
  /** Open requests as drafts (never merged, never approved by Orchestra in any case). */
  draft: z.boolean().default(true),
  /** Issues carrying this label become tasks. */
  label: z.string().min(1).max(50).default('orchestra'),
  /** The bot's login: a comment on one of its pull requests that mentions `@<bot>` becomes feedback. */
  bot: login.default('orchestra'),
  /** Forge logins whose `/approve vN` comment approves a plan; nobody by default. */
  allowedUsers: z.array(login).max(1000).default([]),
  /**
   * Whose labelled issues become tasks (and spend planner money): `allowed` (default) only issues
   * opened by a user in `allowedUsers`, since issue templates can set the label for anyone;
   * `anyone` every labelled issue.
   */
  issueAuthors: z.enum(['allowed', 'anyone']).default('allowed'),
  /** The repository tasks from issues work on (a `repos` name, URL or path); default: the forge's clone URL of `repo`. */
  taskRepo: z.string().min(1).max(2000).optional(),
  /** Poll issues and comments (`orchestra up` starts the poller); off by default. */
  poll: z.boolean().default(false),
  pollIntervalMs: z.number().int().min(1000).max(24 * 3600_000).default(60_000),
  /** API attempts for one pull-request step before the task completes with the branch link. */
  attempts: z.number().int().min(1).max(10).default(3),
});
export type ForgeConfig = z.infer<typeof ForgeConfigSchema>;
