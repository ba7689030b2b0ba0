import { createHash } from 'node:crypto';
import type { StreamRecord } from './record.js';

/**
 * Records chain to their predecessor so that rewriting history shows. Rules:
 * - `prev` of the record at seq n is the lowercase hex sha256 of the exact bytes of the file of
 *   seq n-1 in the same stream, as stored on disk. At seq 1 it is GENESIS_PREV (64 zeros).
 * - A predecessor that is missing, not a regular file or over the record size cap counts as
 *   zero bytes (EMPTY_HASH), so writers and readers agree without reading a planted huge file.
 * - Streams written before chaining start with records without `prev` (legacy). Once a record
 *   with `prev` appears, every later record must carry one: a record without `prev` after a
 *   chained one is a downgrade and reported.
 * The full hash of the file bytes (not the 96-bit `sum`, not a re-serialisation) is used: a
 * 96-bit value admits birthday collisions at ~2^48 work, and hashing the bytes leaves no room
 * for two encodings of one record; `sha256sum` on the predecessor checks a link by hand.
 * Pure: no I/O here.
 */
export const GENESIS_PREV = '0'.repeat(64);
export const fileHash = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');
export const EMPTY_HASH = fileHash('');

/** What a reader knows about the stream just before a record. */
export interface ChainCursor {
  /** Hash of the predecessor's bytes (EMPTY_HASH if unreadable or missing); GENESIS_PREV before seq 1. */
  prevHash: string;
  /** True once a record with `prev` was seen in this stream. */
  chained: boolean;
}

export const chainStart = (): ChainCursor => ({ prevHash: GENESIS_PREV, chained: false });

/** Why `record` does not link to what precedes it, or undefined when it does. */
export function chainProblem(cursor: ChainCursor, record: StreamRecord): string | undefined {
  if (record.prev === undefined) {
    return cursor.chained ? `record ${record.seq} has no "prev" although an earlier record is chained (a downgrade: forged or rewritten)` : undefined;
  }
  if (record.prev !== cursor.prevHash) {
    return record.seq === 1
      ? 'record 1 does not start the chain (prev is not the genesis value)'
      : `record ${record.seq} does not chain to record ${record.seq - 1} (prev mismatch): record ${record.seq - 1} was rewritten after ${record.seq} was written, or ${record.seq} is forged`;
  }
  return undefined;
}
