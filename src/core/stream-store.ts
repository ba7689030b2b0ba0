import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { chainProblem, EMPTY_HASH, fileHash, GENESIS_PREV } from './chain.js';
import { OrchestraError } from './errors.js';
import { newId } from './ids.js';
import { jsonExceeds } from './json-size.js';
import { createExclusive, isTempName, readdirSafe } from './fsutil.js';
import { isTaskShard, streamOfTask, WorkspacePaths } from './paths.js';
import { parseRecord, RECORD_FILE, recordFileName, seal, UnsealedRecordSchema, type StreamRecord, type UnsealedRecord } from './record.js';
import { readRegularFileSync } from './safe-read.js';

/**
 * A record file folds skip. `kind`: `unreadable` (torn, edited, wrong format or checksum),
 * `oversized` (over the record size cap: skipped without reading), `not-regular` (a symlink,
 * directory, FIFO or device planted under a record name).
 */
export interface DamagedRecord { stream: string; seq: number; file: string; reason: string; kind: 'unreadable' | 'oversized' | 'not-regular' }

/** A readable record that does not link to its predecessor (see chain.ts): folded, but reported. */
export interface ChainBreak { stream: string; seq: number; file: string; reason: string }

export interface StreamState {
  stream: string;
  /** The readable records, in order: what folds see. Records with a chain problem are included. */
  records: StreamRecord[];
  /** Record files folds skip. */
  damaged: DamagedRecord[];
  /** Records whose `prev` does not match: evidence of a rewrite, reported by verify. */
  chainBreaks: ChainBreak[];
  temps: string[];
  /** Highest sequence number taken by any file, readable or not: the next append goes after it. */
  lastSeq: number;
  /** sha256 of the bytes of the file at `lastSeq` (EMPTY_HASH if unreadable, GENESIS_PREV for none): the next record's `prev`. */
  tailHash: string;
  /** True once a record with `prev` was read: later records must carry one too. */
  chained: boolean;
}

export type RecordDraft = Pick<UnsealedRecord, 'actor' | 'events' | 'fence' | 'cause'>;

export interface StoreOptions {
  fsync: boolean;
  /** Serialized size cap of one record file (config storage.maxRecordBytes). */
  maxRecordBytes: number;
}

export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

/** Sync's rewrite lock, in the directory of the generation marker (see sync/integrate.ts). */
export const REWRITE_LOCK = 'rewrite.lock';

export function readGeneration(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Append-only streams of records, one file per record named by its sequence number.
 * Precondition of `append`: the caller decided on the state up to `expectedLastSeq`.
 * Outcome: the record is stored at `expectedLastSeq + 1`, chained to the file at
 * `expectedLastSeq` by `prev`; or CONFLICT if another writer took that position first (the
 * caller re-reads and decides again); or RECORD_TOO_LARGE (nothing written) if its file would
 * exceed `maxRecordBytes`. Records are immutable, so each process caches what it has read and
 * only reads files past its cached position. Reading never follows a symlink, never blocks on a
 * planted FIFO and never reads a file over the cap: such files are reported as damaged.
 */
export class StreamStore {
  private readonly cache = new Map<string, StreamState>();
  private readonly listeners: Array<(record: StreamRecord) => void> = [];
  private readonly opts: StoreOptions;

  constructor(readonly paths: WorkspacePaths, opts: Partial<StoreOptions> = {}) {
    this.opts = { fsync: opts.fsync ?? true, maxRecordBytes: opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES };
  }

  get maxRecordBytes(): number {
    return this.opts.maxRecordBytes;
  }

  onAppend(listener: (record: StreamRecord) => void): void {
    this.listeners.push(listener);
  }

  /**
   * With sync on (spec §20): a marker file whose content changes whenever unaccepted records were
   * renumbered, by any process. A read that finds it changed drops every cached stream first:
   * cached records are immutable only once accepted. Unset (no remote): no cost at all.
   */
  private generation?: { file: string; seen: string };

  watchGeneration(file: string): void {
    this.generation = { file, seen: readGeneration(file) };
  }

  /** True (and the caches dropped) when the marker changed since this process last looked. */
  private checkGeneration(): boolean {
    if (!this.generation) return false;
    const now = readGeneration(this.generation.file);
    if (now === this.generation.seen) return false;
    this.generation.seen = now;
    this.cache.clear();
    return true;
  }

  /** With sync on: sync's rewrite lock (next to the marker) is held by the syncing process. */
  private rewriting(): boolean {
    return this.generation !== undefined && existsSync(join(dirname(this.generation.file), REWRITE_LOCK));
  }

  /**
   * Before an append with sync on: a rewrite under way or finished since the caller read the
   * stream makes its decision void (CONFLICT: the caller re-reads and decides again).
   */
  private async refuseStaleDecision(stream: string): Promise<void> {
    if (!this.generation) return;
    if (this.rewriting()) {
      for (let i = 0; i < 500 && this.rewriting(); i++) await new Promise((r) => setTimeout(r, 10));
      this.cache.clear();
      throw new OrchestraError('CONFLICT', `stream ${stream} was being renumbered by sync while this write was decided`, { stream });
    }
    if (this.checkGeneration()) throw new OrchestraError('CONFLICT', `stream ${stream} was renumbered by sync while this write was decided`, { stream });
  }

  /** Drops every cached stream (records renumbered by sync in this process). */
  forgetAll(): void {
    this.cache.clear();
    if (this.generation) this.generation.seen = readGeneration(this.generation.file);
  }

  /**
   * The stream's records. A cached stream is listed again only when a file exists at one of the
   * next two positions: appends are exclusive creates at lastSeq + 1, so an lstat tells whether
   * it grew (a listing is five syscalls, and an append read its stream three times). The second
   * position catches a record past a one-record gap (one taken back under a peer's append), so a
   * writer appends after it, not into the gap. `list` forces the listing, for what only a listing
   * shows (temp leftovers, files past a wider gap): verify. Sync drops the caches when it
   * renumbers or brings records in, so they are listed then.
   */
  async read(stream: string, opts: { list?: boolean } = {}): Promise<StreamState> {
    this.checkGeneration();
    const known = this.cache.get(stream);
    if (known && !opts.list && !this.hasRecordAfter(stream, known.lastSeq) && !this.hasRecordAfter(stream, known.lastSeq + 1)) return known;
    const dir = this.paths.streamDir(stream);
    let names: string[];
    try {
      names = readdirSync(dir); // synchronous for the same reason as the record reads below
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      names = [];
    }
    const cached = this.cache.get(stream) ?? emptyState(stream);
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
    const next: StreamState = { ...cached, records: [...cached.records], damaged: [...cached.damaged], chainBreaks: [...cached.chainBreaks], temps };
    for (const { seq, name } of fresh) {
      const file = relative(this.paths.root, join(dir, name)); // where it is on disk (tasks are sharded)
      // The predecessor's hash; a gap (missing predecessor) counts as an empty file.
      const prevHash = seq === 1 ? GENESIS_PREV : seq - 1 === next.lastSeq ? next.tailHash : EMPTY_HASH;
      // Synchronous on purpose: records are small, immutable and usually in the page cache, and
      // one await per file made replay of 50,000 files 4x slower (bench: 8.7 s -> 2 s).
      const read = readRegularFileSync(join(dir, name), this.opts.maxRecordBytes);
      if (read.ok) {
        const parsed = parseRecord(read.bytes.toString('utf8'), seq);
        if (parsed.ok) {
          next.records.push(parsed.record);
          const problem = chainProblem({ prevHash, chained: next.chained }, parsed.record);
          if (problem) next.chainBreaks.push({ stream, seq, file, reason: problem });
          if (parsed.record.prev !== undefined) next.chained = true;
        } else next.damaged.push({ stream, seq, file, reason: parsed.reason, kind: 'unreadable' });
        next.tailHash = fileHash(read.bytes);
      } else {
        const kind = read.problem === 'too-large' ? 'oversized' : read.problem === 'not-regular' ? 'not-regular' : 'unreadable';
        next.damaged.push({ stream, seq, file, reason: read.reason, kind });
        next.tailHash = EMPTY_HASH;
      }
      next.lastSeq = seq;
    }
    this.cache.set(stream, next);
    return next;
  }

  /** A stream's first record, read alone and not cached (undefined when missing or unreadable). */
  readFirst(stream: string): StreamRecord | undefined {
    const read = readRegularFileSync(join(this.paths.streamDir(stream), recordFileName(1)), this.opts.maxRecordBytes);
    if (!read.ok) return undefined;
    const parsed = parseRecord(read.bytes.toString('utf8'), 1);
    return parsed.ok ? parsed.record : undefined;
  }

  /** Whether a record file after `seq` exists (one stat, nothing read): a cheap "did it grow". */
  hasRecordAfter(stream: string, seq: number): boolean {
    // lstat without throwing: existsSync builds an exception per missing file (~30 µs each).
    return lstatSync(join(this.paths.streamDir(stream), recordFileName(seq + 1)), { throwIfNoEntry: false }) !== undefined;
  }

  /** Drops a stream from the cache (records are re-read on the next `read`). */
  forget(stream: string): void {
    this.cache.delete(stream);
  }

  /** With sync on: whether the file at `lastSeq` still hashes to `prev` (it was not renumbered meanwhile). */
  private stillChained(stream: string, lastSeq: number, prev: string): boolean {
    if (lastSeq === 0) return true;
    const read = readRegularFileSync(join(this.paths.streamDir(stream), recordFileName(lastSeq)), this.opts.maxRecordBytes);
    return (read.ok ? fileHash(read.bytes) : EMPTY_HASH) === prev;
  }

  /** The `prev` of a record appended after `lastSeq`: from the cache, or the file itself. */
  private prevFor(stream: string, lastSeq: number): string {
    if (lastSeq === 0) return GENESIS_PREV;
    const cached = this.cache.get(stream);
    if (cached && cached.lastSeq === lastSeq) return cached.tailHash;
    const read = readRegularFileSync(join(this.paths.streamDir(stream), recordFileName(lastSeq)), this.opts.maxRecordBytes);
    return read.ok ? fileHash(read.bytes) : EMPTY_HASH;
  }

  async append(stream: string, expectedLastSeq: number, draft: RecordDraft): Promise<StreamRecord> {
    await this.refuseStaleDecision(stream);
    // Before serializing: shared sub-values (YAML aliases) could expand to gigabytes of JSON.
    if (jsonExceeds(draft.events, this.opts.maxRecordBytes)) throw this.tooLarge(stream, draft, `more than ${this.opts.maxRecordBytes}`);
    const seq = expectedLastSeq + 1;
    const draftRecord: UnsealedRecord = {
      v: 1,
      stream,
      seq,
      id: newId(),
      at: new Date().toISOString(),
      actor: draft.actor,
      ...(draft.fence ? { fence: draft.fence } : {}),
      ...(draft.cause ? { cause: draft.cause } : {}),
      events: draft.events,
      prev: this.prevFor(stream, expectedLastSeq),
    };
    // Sealed in the shape a reader parses it to (key order, defaults, no unknown keys): a writer
    // passing an actor or event with its keys in another order must not write a record whose
    // checksum fails on reading (folds would skip it and verify would call it damage).
    const normalised = UnsealedRecordSchema.safeParse(draftRecord);
    if (!normalised.success) {
      const issue = normalised.error.issues[0]!;
      throw new OrchestraError('INVALID_INPUT', `refused to write a malformed record to ${stream}: ${issue.path.join('.')}: ${issue.message}`, { stream });
    }
    const record = seal(normalised.data);
    const text = JSON.stringify(record, null, 1) + '\n';
    const size = Buffer.byteLength(text);
    if (size > this.opts.maxRecordBytes) throw this.tooLarge(stream, draft, String(size));
    // The bytes must read back as this record; anything else is a bug here, never a file on disk.
    const check = parseRecord(text, seq);
    if (!check.ok) throw new OrchestraError('INTERNAL', `a record for ${stream} would not read back (${check.reason}); nothing was written`, { stream, seq });
    const path = this.recordPath(stream, seq);
    const created = await createExclusive(path, text, { fsync: this.opts.fsync });
    if (!created) {
      throw new OrchestraError('CONFLICT', `stream ${stream} moved past ${expectedLastSeq} while this write was decided`, { stream, seq });
    }
    if (this.generation && (this.rewriting() || !this.stillChained(stream, expectedLastSeq, record.prev!))) {
      // Sync renumbered the predecessor while this was decided: the decision is void. The file is
      // ours and unaccepted, so taking it back is safe; the caller re-reads and decides again.
      await unlink(path).catch(() => undefined);
      this.cache.delete(stream);
      throw new OrchestraError('CONFLICT', `stream ${stream} was renumbered by sync while this write was decided`, { stream, seq });
    }
    // The writer knows what it wrote: extend its cache instead of re-reading the file. A stream
    // this write began (a new task) is cached too: the exclusive create of record 1 proves it was
    // empty, so reading it back (a listing and a file, 8 syscalls) would only find this record.
    const cached = this.cache.get(stream) ?? (expectedLastSeq === 0 ? emptyState(stream) : undefined);
    if (cached && cached.lastSeq === expectedLastSeq) {
      this.cache.set(stream, { ...cached, records: [...cached.records, record], lastSeq: seq, tailHash: fileHash(text), chained: true });
    }
    for (const listener of this.listeners) listener(record);
    return record;
  }

  /** Where the record at `seq` of `stream` lives (absolute). */
  recordPath(stream: string, seq: number): string {
    return join(this.paths.streamDir(stream), recordFileName(seq));
  }

  private tooLarge(stream: string, draft: RecordDraft, size: string): OrchestraError {
    const types = [...new Set(draft.events.map((e) => e.type))].join(', ');
    return new OrchestraError('RECORD_TOO_LARGE', `refused to write a record of ${size} bytes (${types}) to ${stream}: the limit is ${this.opts.maxRecordBytes} bytes (config storage.maxRecordBytes); shorten the text or store the content as an artifact`, { stream, limit: this.opts.maxRecordBytes });
  }

  async listStreams(kindDir: string): Promise<string[]> {
    if (kindDir === 'tasks') return (await listTaskIds(this.paths)).map(streamOfTask);
    return (await readdirSafe(join(this.paths.root, kindDir))).filter((n) => !n.startsWith('.')).map((n) => `${kindDir}/${n}`);
  }
}

/** What a stream with no file at all reads as. */
function emptyState(stream: string): StreamState {
  return { stream, records: [], damaged: [], chainBreaks: [], temps: [], lastSeq: 0, tailHash: GENESIS_PREV, chained: false };
}

/** Every task id with a directory: those in the shards, and those of the flat layout (older workspaces). */
export async function listTaskIds(paths: WorkspacePaths): Promise<string[]> {
  const ids: string[] = [];
  for (const name of await readdirSafe(paths.tasks)) {
    if (name.startsWith('.')) continue;
    if (isTaskShard(name)) ids.push(...(await readdirSafe(join(paths.tasks, name))).filter((n) => !n.startsWith('.')));
    else ids.push(name);
  }
  return ids;
}
