import type { Lease } from '../../core/leases.js';
import { redactCredentials } from '../../core/redact.js';
import type { StoredEvent } from '../../core/record.js';
import type { Workspace } from '../../core/workspace.js';

/** True while the task is still in `state` (an abort or another writer may have moved it). */
export async function stillInState(ws: Workspace, taskId: string, state: string): Promise<boolean> {
  return (await ws.findTask(taskId))?.state === state;
}

/**
 * Ends a pipeline step as failed with one plain sentence (and any saved work referenced), in the
 * same record that releases the lease. A task already stopped (aborted) is left as it is. The
 * reason is recorded without credentials (URL user info, secret variables' values).
 */
export async function failTask(lease: Lease, step: string, reason: string, extra: Record<string, unknown> = {}): Promise<void> {
  await lease.release((view) => (view.state === 'aborted' || view.state === 'failed' || view.state === 'completed' ? [] : failureEvents(view.state, step, reason, extra)), 'failed');
}

export function failureEvents(from: string, step: string, reason: string, extra: Record<string, unknown> = {}): StoredEvent[] {
  // A reason is recorded for good (workspace history) and may be posted on a forge: no credentials.
  reason = redactCredentials(reason);
  return [
    { type: 'task.failed', data: { step, reason, ...extra } },
    { type: 'task.moved', data: { from, to: 'failed', reason } },
  ];
}
