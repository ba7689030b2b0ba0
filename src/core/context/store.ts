/**
 * The context store's read and write API over the workspace's records (entry.ts says the format).
 *
 * Writes go through `ws.appendTo` (optimistic, append-only); a secret is sealed inside the decide
 * function, so its plaintext only ever exists in memory. Reads fold an entry's stream and keep the
 * folded view per stream state: the store hands back the same state object until the stream grows,
 * so a repeated read costs one directory listing and no parsing (bench: `npm run bench`, section
 * `context`).
 *
 * Preconditions: callers check who may read or write what (tools refuse secrets; profiles grant
 * secret names); this module validates keys, scopes and sizes, and refuses hostile input with
 * INVALID_INPUT before anything is written.
 */
import type { Actor } from '../actor.js';
import { MIN_REDACT_LENGTH } from '../env-secrets.js';
import { OrchestraError } from '../errors.js';
import { readdirSafe } from '../fsutil.js';
import type { StreamState } from '../stream-store.js';
import { multiLine } from '../text-sanitize.js';
import type { Workspace } from '../workspace.js';
import { checkKey, CONTEXT_DIR, CONTEXT_REMOVED, CONTEXT_WRITTEN, entryStream, foldEntry, formatRef, parseEntryStream, parseRef, scopeText, summaryOf, type EntryKind, type EntryRef, type EntryView, type Scope, type Writer } from './entry.js';
import { createNextKey, loadKeyRing, openValue, sealValue, type KeyRing } from './keyring.js';

/** Largest secret value (bytes): tokens and keys, not files. */
export const MAX_SECRET_BYTES = 16 * 1024;

const views = new WeakMap<Workspace, Map<string, { state: StreamState; view: EntryView | undefined }>>();
const rings = new WeakMap<Workspace, KeyRing>();

/** The key ring, loaded once per workspace object; `fresh` re-reads it (another process may have rotated). */
export async function keyRingOf(ws: Workspace, fresh = false): Promise<KeyRing> {
  const cached = rings.get(ws);
  if (cached && !fresh) return cached;
  const ring = await loadKeyRing(ws.paths);
  rings.set(ws, ring);
  return ring;
}

/** The current key for a new seal; the first secret of a workspace makes key k1. */
async function writingKey(ws: Workspace) {
  let ring = await keyRingOf(ws, true);
  if (!ring.current) {
    await createNextKey(ws.paths);
    ring = await keyRingOf(ws, true);
  }
  if (!ring.current) throw new OrchestraError('CONTEXT_KEY_MISSING', 'no context key could be made under .orchestra/context-keys');
  return ring.current;
}

function viewOf(ws: Workspace, state: StreamState): EntryView | undefined {
  let byStream = views.get(ws);
  if (!byStream) views.set(ws, (byStream = new Map()));
  const cached = byStream.get(state.stream);
  if (cached && cached.state === state) return cached.view;
  const view = foldEntry(state.stream, state.records);
  byStream.set(state.stream, { state, view });
  return view;
}

export interface ContextWrite {
  scope: Scope;
  key: string;
  kind: EntryKind;
  /** The content (knowledge) or plaintext value (secret). */
  value: string;
  actor: Actor;
  /** The agent step and task that wrote it (model writes). */
  writer?: Writer;
  maxContentBytes?: number;
}

/** Appends a new version of an entry; returns its view (a secret's without the value). */
export async function writeContext(ws: Workspace, w: ContextWrite): Promise<EntryView> {
  checkKey(w.key, w.kind);
  if (typeof w.value !== 'string') throw new OrchestraError('INVALID_INPUT', 'a context value must be text');
  const stream = entryStream(w.scope, w.key);
  const scope = scopeText(w.scope);
  const bytes = Buffer.byteLength(w.value, 'utf8');
  let event: { type: string; data: Record<string, unknown> };
  if (w.kind === 'knowledge') {
    const max = w.maxContentBytes ?? ws.config.context.maxContentBytes;
    if (bytes > max) throw new OrchestraError('INVALID_INPUT', `context content of ${bytes} bytes is over the limit of ${max} bytes (config context.maxContentBytes); write a shorter summary`);
    const content = multiLine(w.value);
    if (!content.trim()) throw new OrchestraError('INVALID_INPUT', 'context content is empty');
    event = { type: CONTEXT_WRITTEN, data: { key: w.key, scope, kind: 'knowledge', summary: summaryOf(content), content, ...(w.writer ? { writer: w.writer } : {}) } };
  } else {
    // Shorter values cannot be masked in output without masking ordinary text too (env-secrets.ts).
    if (w.value.length < MIN_REDACT_LENGTH || bytes > MAX_SECRET_BYTES) throw new OrchestraError('INVALID_INPUT', `a secret value must be ${MIN_REDACT_LENGTH} characters to ${MAX_SECRET_BYTES} bytes (got ${bytes} bytes)`);
    const key = await writingKey(ws);
    event = { type: CONTEXT_WRITTEN, data: { key: w.key, scope, kind: 'secret', sealed: sealValue(key, stream, w.value), reason: 'set' } };
  }
  const { record } = await ws.appendTo(stream, (s) => viewOf(ws, s), (current) => {
    // A secret never becomes readable text by a forgotten --secret: its new value would be in git
    // and in every model's context (its summary is its first line).
    if (w.kind === 'knowledge' && current && !current.removed && current.kind === 'secret') {
      throw new OrchestraError('INVALID_INPUT', `${current.ref} is a secret: write it with --secret (kind secret), or remove it first to make it knowledge`);
    }
    return { actor: w.actor, events: [event] };
  });
  // A rotation in another process may have retired the key between sealing and appending: the
  // value is sealed again under the current key, so no current secret needs a retired key.
  if (w.kind === 'secret' && !(await keyRingOf(ws, true)).keys.has((event.data.sealed as { keyId: string }).keyId)) return writeContext(ws, w);
  const view = viewOf(ws, await ws.readStream(stream));
  if (!view || !record) throw new OrchestraError('INTERNAL', `context entry ${formatRef(w.scope, w.key)} was not readable after writing it`);
  return view;
}

/** Appends a tombstone: the entry no longer lists or reads (its versions stay in the records). */
export async function removeContext(ws: Workspace, scope: Scope, key: string, actor: Actor): Promise<EntryView> {
  const stream = entryStream(scope, key);
  const { state } = await ws.appendTo(stream, (s) => viewOf(ws, s), (view) => {
    if (!view || view.removed) throw new OrchestraError('NOT_FOUND', `no context entry ${formatRef(scope, key)}`);
    return { actor, events: [{ type: CONTEXT_REMOVED, data: { key, scope: scopeText(scope) } }] };
  });
  return state!;
}

/** The entry a ref names (its latest version, or `@N`); NOT_FOUND when missing or removed. */
export async function readContext(ws: Workspace, ref: string | EntryRef): Promise<EntryView> {
  const r = typeof ref === 'string' ? parseRef(ref) : ref;
  const stream = entryStream(r.scope, r.key);
  const state = await ws.readStream(stream);
  const view = r.version === undefined ? viewOf(ws, state) : foldEntry(stream, state.records, r.version);
  if (!view || view.removed) throw new OrchestraError('NOT_FOUND', `no context entry ${formatRef(r.scope, r.key)} (see: orchestra context list)`);
  if (r.version !== undefined && view.version !== r.version) throw new OrchestraError('NOT_FOUND', `context entry ${formatRef(r.scope, r.key)} has no version ${r.version}`);
  return view;
}

export interface ListOptions {
  /** Only these scopes (default: all). */
  scopes?: Scope[];
  kind?: EntryKind;
  includeRemoved?: boolean;
}

/** The entries of the given scopes, sorted by ref; only the matching streams are read. */
export async function listContext(ws: Workspace, opts: ListOptions = {}): Promise<EntryView[]> {
  const wanted = opts.scopes?.map(scopeText);
  const out: EntryView[] = [];
  for (const name of (await readdirSafe(`${ws.paths.root}/${CONTEXT_DIR}`)).sort()) {
    const where = parseEntryStream(`${CONTEXT_DIR}/${name}`);
    if (!where || (wanted && !wanted.includes(scopeText(where.scope)))) continue;
    const view = viewOf(ws, await ws.readStream(`${CONTEXT_DIR}/${name}`));
    if (!view || (view.removed && !opts.includeRemoved) || (opts.kind && view.kind !== opts.kind)) continue;
    out.push(view);
  }
  return out;
}

/**
 * The plaintext of a secret entry's current version. Internal to the store: callers outside it use
 * `openSecrets` (secrets.ts), which audits the read.
 */
export async function decryptEntry(ws: Workspace, view: EntryView): Promise<string> {
  if (view.kind !== 'secret' || !view.sealed) throw new OrchestraError('INVALID_INPUT', `${view.ref} is not a secret`);
  let ring = await keyRingOf(ws);
  // A key made by another process (a rotation) since this process loaded the ring.
  if (!ring.keys.has(view.sealed.keyId)) ring = await keyRingOf(ws, true);
  return openValue(ring, view.stream, view.sealed, `secret ${view.ref}@${view.version}`);
}
