import { z } from 'zod';
import type { StreamRecord } from '../record.js';

/**
 * Alert incidents, folded from the audit stream's `alert.fired` and `alert.resolved` events.
 * An incident is keyed by rule and subject (`stuckTask:01JD…`): it is open from its `alert.fired`
 * to its `alert.resolved`, and a key is fired again only after it was resolved. Because the
 * state lives in records, a restarted evaluator neither fires an open incident again nor forgets
 * one, and two evaluators deciding on the same fold cannot both fire it (the optimistic append
 * re-folds on conflict).
 *
 * The fold is incremental: `apply` takes the stream's records and folds only those past the
 * last seq it saw (records are immutable), so keeping it current costs the new records only.
 */
export const ALERT_FIRED = 'alert.fired';
export const ALERT_RESOLVED = 'alert.resolved';

export const AlertEventSchema = z.object({
  key: z.string().min(1).max(300),
  rule: z.string().min(1).max(64),
  subject: z.string().max(200),
  message: z.string().max(1000),
});
export type AlertEvent = z.infer<typeof AlertEventSchema>;

export interface Incident extends AlertEvent {
  firedAt: string;
  firedSeq: number;
  resolvedAt?: string;
  resolution?: string;
}

/** How many resolved incidents are kept for display (the records keep them all). */
const KEEP_RESOLVED = 200;

export class AlertIncidents {
  /** Audit seq folded so far. */
  seq = 0;
  readonly open = new Map<string, Incident>();
  /** Most recent resolved incidents, newest last. */
  readonly resolved: Incident[] = [];

  apply(records: readonly StreamRecord[]): this {
    let start = records.length;
    while (start > 0 && records[start - 1]!.seq > this.seq) start--;
    for (const record of records.slice(start)) {
      for (const event of record.events) {
        if (event.type !== ALERT_FIRED && event.type !== ALERT_RESOLVED) continue;
        const parsed = AlertEventSchema.safeParse(event.data);
        if (!parsed.success) continue;
        const e = parsed.data;
        if (event.type === ALERT_FIRED) {
          if (!this.open.has(e.key)) this.open.set(e.key, { ...e, firedAt: record.at, firedSeq: record.seq });
        } else {
          const incident = this.open.get(e.key);
          if (!incident) continue;
          this.open.delete(e.key);
          this.resolved.push({ ...incident, resolvedAt: record.at, resolution: e.message });
          if (this.resolved.length > KEEP_RESOLVED) this.resolved.splice(0, this.resolved.length - KEEP_RESOLVED);
        }
      }
      this.seq = record.seq;
    }
    return this;
  }
}
