import type { Actor } from '../actor.js';
import { OrchestraError } from '../errors.js';
import { claimTask, LOCK_PURPOSE, readHeartbeat, taskLeaseStatus, Lease, type LeaseStatus } from '../leases.js';
import type { Workspace } from '../workspace.js';

/**
 * The Orchestra "lock": an exclusive, expiring claim of a task by a named owner (a lease of
 * purpose LOCK_PURPOSE). While it holds, task writes through `changeTask` by anyone but that
 * owner are refused with TASK_LOCKED.
 */
export async function acquireLock(ws: Workspace, taskId: string, owner: string, ttlMs: number, actor: Actor): Promise<{ attempt: number; expiresAt: number }> {
  const view = await ws.task(taskId);
  const status = await taskLeaseStatus(ws, view);
  if (status.state === 'held') {
    if (status.lease.owner === owner) {
      const lease = new Lease(ws, taskId, status.lease.attempt, owner, actor);
      await lease.renew();
      return { attempt: lease.attempt, expiresAt: Date.now() + status.lease.ttlMs };
    }
    throw new OrchestraError('TASK_LOCKED', `task ${taskId} is locked by ${status.lease.owner} until ${new Date(status.expiresAt).toISOString()}`);
  }
  const lease = await claimTask(ws, taskId, { purpose: LOCK_PURPOSE, owner, ttlMs, actor });
  if (!lease) {
    const now = await taskLeaseStatus(ws, await ws.task(taskId));
    throw new OrchestraError('TASK_LOCKED', `task ${taskId} was locked by ${now.state === 'free' ? 'another owner' : now.lease.owner} first`);
  }
  return { attempt: lease.attempt, expiresAt: Date.now() + ttlMs };
}

export async function releaseLock(ws: Workspace, taskId: string, owner: string, actor: Actor): Promise<void> {
  const view = await ws.task(taskId);
  const status = await taskLeaseStatus(ws, view);
  if (status.state === 'free') throw new OrchestraError('NOT_FOUND', `task ${taskId} is not locked`);
  if (status.lease.owner !== owner) throw new OrchestraError('NOT_OWNER', `task ${taskId} is locked by ${status.lease.owner}, not ${owner}`);
  await ws.appendToTask(taskId, (current) => {
    if (!current?.lease || current.lease.released || current.lease.attempt !== status.lease.attempt) return null;
    return { actor, events: [{ type: 'lease.released', data: { attempt: status.lease.attempt, outcome: 'released by owner' } }] };
  });
}

export async function lockStatus(ws: Workspace, taskId: string): Promise<LeaseStatus> {
  const view = await ws.task(taskId);
  return taskLeaseStatus(ws, view);
}

export { readHeartbeat };
