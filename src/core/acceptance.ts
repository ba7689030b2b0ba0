/**
 * Whether a claim counts (spec §20). With a git remote a lease grant counts only once its record
 * reached the remote ("accepted"); before an external effect a step asks `confirm`. The sync
 * layer installs the real implementation on the workspace; without a remote every claim is
 * accepted at once and nothing waits (ALWAYS_ACCEPTED).
 * Outcomes of `confirm`: resolves when the claim record is accepted and the accepted records
 * still give this lease the task; LEASE_LOST when it was withdrawn or another claim holds the
 * task; CLAIM_UNCONFIRMED when the remote cannot be reached in bounded time (no effect may start,
 * the task is retried later).
 */
export interface ClaimRef {
  taskId: string;
  attempt: number;
  owner: string;
  /** The id of the record that granted the lease. */
  claimId?: string;
}

export interface Acceptance {
  confirm(claim: ClaimRef, signal?: AbortSignal): Promise<void>;
  /** The TTL a loop claims with, given its local one (longer when heartbeats cannot cross machines). */
  leaseTtlMs(localTtlMs: number): number;
  /**
   * Whether this machine holds a path a step needs (an execution's worktree is on the machine
   * that ran it): with several machines, a step that needs one is left to the machine that has it.
   */
  holdsLocally(path: string | undefined): boolean;
}

export const ALWAYS_ACCEPTED: Acceptance = {
  confirm: async () => undefined,
  leaseTtlMs: (ttl) => ttl,
  holdsLocally: () => true,
};

/**
 * The sync generation marker, relative to the runtime dir (.orchestra/): its content changes
 * whenever sync renumbered unaccepted records. A process whose workspace has it watches it
 * (StreamStore.watchGeneration); one without it (no remote) never looks.
 */
export const SYNC_GENERATION_FILE = 'sync/generation';
