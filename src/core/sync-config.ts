import { z } from 'zod';

/**
 * Config section `sync`: sharing this workspace with other machines through a git remote
 * (spec §20). Sync runs only when the workspace repo has a git remote named `remote` and
 * `enabled` is not false: a workspace without that remote behaves exactly as before.
 * The remote's URL lives in the repo's own git config (`git remote`), not here: each machine
 * may reach the same remote by a different URL, and this file is shared through that remote.
 */
export const SyncConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** The git remote (in the workspace repo) that accepts records. */
    remote: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/).default('origin'),
    branch: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$/).default('main'),
    /** Periodic fetch + push while `up` runs. */
    intervalMs: z.number().int().min(100).max(3_600_000).default(3000),
    /** Local appends are pushed this long after the first of a burst (batched). */
    debounceMs: z.number().int().min(0).max(60_000).default(200),
    /** How long a step waits for its claim to reach the remote before refusing its effect. */
    confirmTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    /** One git fetch or push is killed after this long (the remote counts as unreachable). */
    gitTimeoutMs: z.number().int().min(500).max(600_000).default(20_000),
    /**
     * Heartbeats stay on their machine, so a lease another machine holds is judged by its TTL
     * alone: loops claim with at least this TTL while sync is on (it must cover the longest step).
     */
    leaseTtlMs: z.number().int().min(200).default(600_000),
  })
  .prefault({});
export type SyncConfig = z.infer<typeof SyncConfigSchema>;
