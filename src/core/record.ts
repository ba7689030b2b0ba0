import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ActorSchema } from './actor.js';

/** One fact inside a record. `type` is namespaced (`task.created`, `plan.proposed`, ...). */
export const EventSchema = z.object({
  type: z.string().min(1),
  data: z.record(z.string(), z.unknown()).default({}),
});
export type StoredEvent = z.infer<typeof EventSchema>;

/** A fencing token: the lease attempt the writer believes it holds. */
export const FenceSchema = z.object({ attempt: z.number().int().positive() });

/**
 * A record is one append to a stream: one file, written once, never changed. It holds one or
 * more events so that a multi-event step (result + release) is recorded whole or not at all.
 */
export const RecordSchema = z.object({
  v: z.literal(1),
  stream: z.string(),
  seq: z.number().int().positive(),
  id: z.string(),
  at: z.string(),
  actor: ActorSchema,
  fence: FenceSchema.optional(),
  /** Idempotency key of the request that produced this record (an inbox claim id, say). */
  cause: z.string().optional(),
  events: z.array(EventSchema).min(1),
  /**
   * The chain link: sha256 (64 hex) of the exact bytes of the previous record file of this
   * stream, or GENESIS_PREV at seq 1 (see chain.ts). Absent only in records written before
   * chaining existed; covered by `sum`.
   */
  prev: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  sum: z.string(),
});
export type StreamRecord = z.infer<typeof RecordSchema>;
export type UnsealedRecord = Omit<StreamRecord, 'sum'>;

/**
 * A record before sealing, as a reader will see it: parsing puts every object's keys in the
 * schema's order (an actor given as {kind, name, host, pid} comes back as {kind, name, pid,
 * host}), fills defaults (an event's `data`) and drops unknown keys. The store seals this
 * output, so the checksum is over exactly what a reader re-serialises.
 */
export const UnsealedRecordSchema = RecordSchema.omit({ sum: true });

export const RECORD_FILE = /^(\d{10})\.json$/;
export const recordFileName = (seq: number) => `${String(seq).padStart(10, '0')}.json`;

/**
 * Checksum over the record's content without `sum`, so a torn or accidentally edited record is
 * detected. It is not a defence against forgery (anyone can recompute it): the chain is.
 * The JSON key order is the schema's order (v, stream, seq, id, at, actor, fence, cause,
 * events, prev), which is also the order the store writes.
 */
export function checksum(record: UnsealedRecord): string {
  return createHash('sha256').update(JSON.stringify(record)).digest('hex').slice(0, 24);
}

export function seal(record: UnsealedRecord): StreamRecord {
  return { ...record, sum: checksum(record) };
}

export type ParsedRecord =
  | { ok: true; record: StreamRecord }
  | { ok: false; reason: string };

export function parseRecord(text: string, expectedSeq: number): ParsedRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not valid JSON (torn or half-written)' };
  }
  const parsed = RecordSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: 'does not match the record format' };
  const { sum, ...rest } = parsed.data;
  if (checksum(rest) !== sum) return { ok: false, reason: 'checksum mismatch (edited or torn)' };
  if (parsed.data.seq !== expectedSeq) return { ok: false, reason: `seq ${parsed.data.seq} stored under file ${expectedSeq}` };
  return { ok: true, record: parsed.data };
}
