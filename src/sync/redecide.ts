import type { TaskView } from '../core/model/task.js';
import type { StreamRecord } from '../core/record.js';

/**
 * Re-deciding a withdrawn record (spec §20): a local record lost its stream position to a record
 * the remote accepted first, so the decision it recorded was taken on a state that no longer is.
 * This says whether it is still valid on the accepted state (then it is renumbered at the tail)
 * or not (then it is dropped and logged). Pure: the caller folds the accepted records.
 *
 * Rules, for task streams (`view` is the task folded from the accepted records plus the
 * withdrawn records already kept, `grants` maps each granted attempt to its record's actor):
 * - a record whose `cause` the task already applied is a duplicate;
 * - `task.created` on a task that exists is a duplicate;
 * - `task.moved` is valid only from the state the task is in now;
 * - `lease.acquired` is valid only as the next attempt (attempts + 1) while no other lease holds
 *   (or the same record expires it), and while the task is in the state it was claimed in
 *   (`decidedOn`: the task folded from the local records before the claim);
 * - a fenced record is valid only while its attempt holds the task and was granted to the same
 *   actor (two machines can both have granted attempt n; only the accepted grant counts).
 * Every other record (audit, workstreams, artifacts, context, limits, comments) stays valid.
 */
export type Verdict = { ok: true } | { ok: false; reason: string };

export function redecide(view: TaskView | undefined, grants: Map<number, string>, record: StreamRecord, decidedOn?: TaskView): Verdict {
  if (!record.stream.startsWith('tasks/')) return { ok: true };
  if (record.cause && view?.causes.includes(record.cause)) return { ok: false, reason: `request ${record.cause} was already applied on the accepted records` };
  if (record.fence) {
    const lease = view?.lease;
    if (!lease || lease.released || lease.attempt !== record.fence.attempt) return { ok: false, reason: `fenced by attempt ${record.fence.attempt}, which does not hold the task on the accepted records` };
    if (grants.get(lease.attempt) !== actorKey(record)) return { ok: false, reason: `attempt ${lease.attempt} was granted to another claimant on the accepted records` };
  }
  for (const event of record.events) {
    const d = event.data as Record<string, unknown>;
    if (event.type === 'task.created' && view) return { ok: false, reason: 'the task already exists on the accepted records' };
    if (event.type === 'task.moved' && view && String(d.from) !== view.state) return { ok: false, reason: `moves the task from ${String(d.from)}, but it is ${view.state} on the accepted records` };
    if (event.type === 'lease.acquired') {
      if (!view) return { ok: false, reason: 'claims a task that does not exist on the accepted records' };
      const held = view.lease && !view.lease.released;
      const expiresIt = record.events.some((e) => e.type === 'lease.expired' && Number((e.data as Record<string, unknown>).attempt) === view.lease?.attempt);
      if (held && !expiresIt) return { ok: false, reason: `attempt ${view.lease!.attempt} (${view.lease!.owner}) holds the task on the accepted records` };
      // A claim was decided for the state the task was in (the loop wanted it there).
      if (decidedOn && decidedOn.state !== view.state) return { ok: false, reason: `claimed the task in ${decidedOn.state}, but it is ${view.state} on the accepted records` };
      if (Number(d.attempt) !== view.attempts + 1) return { ok: false, reason: `claims attempt ${String(d.attempt)}, but the accepted records already granted attempt ${view.attempts}${view.lease ? ` (to ${view.lease.owner})` : ''}` };
    }
  }
  return { ok: true };
}

/** Who a record was written by, as compared between a grant and a fenced write. */
export const actorKey = (record: StreamRecord): string => JSON.stringify(record.actor);

/** The attempts granted in these records, each with its granting record's actor. */
export function grantsOf(records: StreamRecord[]): Map<number, string> {
  const grants = new Map<number, string>();
  for (const r of records) for (const e of r.events) if (e.type === 'lease.acquired') grants.set(Number((e.data as Record<string, unknown>).attempt), actorKey(r));
  return grants;
}
