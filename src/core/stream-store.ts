import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OrchestraError } from './errors.js';
import { newId } from './ids.js';
import { createExclusive, isTempName, readdirSafe } from './fsutil.js';
import { WorkspacePaths } from './paths.js';
import { parseRecord, RECORD_FILE, recordFileName, seal, type StreamRecord, type UnsealedRecord } from './record.js';

export interface DamagedRecord { stream: string; seq: number; file: string; reason: string }

export interface StreamState {
  stream: string;
  records: StreamRecord[];
  damaged: DamagedRecord[];
  temps: string[];
  /** Highest sequence number taken by any file, readable or not: the next append goes after it. */
  lastSeq: number;
}

export type RecordDraft = Pick<UnsealedRecord, 'actor' | 'events' | 'fence' | 'cause'>;

/**
 * Append-only streams of records, one file per record named by its sequence number.
 * Precondition of `append`: the caller decided on the state up to `expectedLastSeq`.
 * Outcome: the record is stored at `expectedLastSeq + 1`, or CONFLICT if another writer took
 * that position first (the caller re-reads and decides again). Records are immutable, so each
 * process caches what it has read and only reads files past its cached position.
 */
export class StreamStore {
  private readonly cache = new Map<string, StreamState>();
  private readonly listeners: Array<(record: StreamRecord) => void> = [];

  constructor(readonly paths: WorkspacePaths, private readonly opts: { fsync: boolean } = { fsync: true }) {}

  onAppend(listener: (record: StreamRecord) => void): void {
    this.listeners.push(listener);
  }

  async read(stream: string): Promise<StreamState> {
    const dir = this.paths.streamDir(stream);
    let names: string[];
    try {
      names = readdirSync(dir); // synchronous for the same reason as the record reads below
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      names = [];
    }
    const cached = this.cache.get(stream) ?? { stream, records: [], damaged: [], temps: [], lastSeq: 0 };
    const fresh: Array<{ seq: number; name: string }> = [];
    const temps: string[] = [];
    for (const name of names) {
      const match = RECORD_FILE.exec(name);
      if (match) {
        const seq = Number(match[1]);
        if (seq > cached.lastSeq) fresh.push({ seq, name });
      } else if (isTempName(name)) temps.push(name);
    }
    if (fresh.length === 0 && temps.length === cached.temps.length) return cached;
    fresh.sort((a, b) => a.seq - b.seq);
    const next: StreamState = { stream, records: [...cached.records], damaged: [...cached.damaged], temps, lastSeq: cached.lastSeq };
    for (const { seq, name } of fresh) {
      // Synchronous on purpose: records are small, immutable and usually in the page cache, and
      // one await per file made replay of 50,000 files 4x slower (bench: 8.7 s -> 2 s).
      let text = '';
      try {
        text = readFileSync(join(dir, name), 'utf8');
      } catch {
        // vanished or unreadable: reported as damaged below
      }
      const parsed = parseRecord(text, seq);
      if (parsed.ok) next.records.push(parsed.record);
      else next.damaged.push({ stream, seq, file: join(stream, 'events', name), reason: parsed.reason });
      next.lastSeq = seq;
    }
    this.cache.set(stream, next);
    return next;
  }

  async append(stream: string, expectedLastSeq: number, draft: RecordDraft): Promise<StreamRecord> {
    const seq = expectedLastSeq + 1;
    const unsealed: UnsealedRecord = {
      v: 1,
      stream,
      seq,
      id: newId(),
      at: new Date().toISOString(),
      actor: draft.actor,
      ...(draft.fence ? { fence: draft.fence } : {}),
      ...(draft.cause ? { cause: draft.cause } : {}),
      events: draft.events,
    };
    const record = seal(unsealed);
    const path = join(this.paths.streamDir(stream), recordFileName(seq));
    const created = await createExclusive(path, JSON.stringify(record, null, 1) + '\n', { fsync: this.opts.fsync });
    if (!created) {
      throw new OrchestraError('CONFLICT', `stream ${stream} moved past ${expectedLastSeq} while this write was decided`, { stream, seq });
    }
    // The writer knows what it wrote: extend its cache instead of re-reading the file.
    const cached = this.cache.get(stream);
    if (cached && cached.lastSeq === expectedLastSeq) this.cache.set(stream, { ...cached, records: [...cached.records, record], lastSeq: seq });
    for (const listener of this.listeners) listener(record);
    return record;
  }

  async listStreams(kindDir: string): Promise<string[]> {
    return (await readdirSafe(join(this.paths.root, kindDir))).filter((n) => !n.startsWith('.')).map((n) => `${kindDir}/${n}`);
  }
}
