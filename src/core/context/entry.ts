/**
 * Context entries: what agents and people share through the workspace instead of calling each
 * other. An entry is a key in a scope (the workspace, a repository, a task) of one kind
 * (`knowledge`: readable text; `secret`: AES-256-GCM ciphertext, see keyring.ts).
 *
 * Storage: one stream per scope + key, `context/<scope-tag>+<key>`, whose records are the entry's
 * versions (`context.written`) and its removal (`context.removed`, a tombstone); a version is the
 * record's seq. Nothing here is ever rewritten: an older version stays readable in the stream.
 *
 * Invariants: keys and scope names are validated against fixed patterns before they become a path
 * segment (no `/`, no `..`, no `+`), and an event whose key or scope disagrees with its stream is
 * not applied (a record copied into another entry's stream does not change that entry).
 */
import { z } from 'zod';
import { createHash } from 'node:crypto';
import { OrchestraError } from '../errors.js';
import { isSlug, isUlid } from '../ids.js';
import type { StreamRecord } from '../record.js';
import { singleLine } from '../text-sanitize.js';

export const CONTEXT_DIR = 'context';
export const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** Secrets are delivered as environment variables, so their keys are variable names. */
export const SECRET_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
export const KEY_ID_PATTERN = /^(k[1-9][0-9]{0,5}|env-[0-9a-f]{12})$/;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const SUMMARY_CHARS = 120;

export type Scope = { kind: 'workspace' } | { kind: 'repo'; name: string } | { kind: 'task'; id: string };
export type EntryKind = 'knowledge' | 'secret';

export function isEntryKey(key: unknown): key is string {
  return typeof key === 'string' && KEY_PATTERN.test(key);
}

/** What a refusal may quote of a hostile value: a string's start, else its type (never String(obj)). */
const shown = (value: unknown) => (typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : `of type ${value === null ? 'null' : typeof value}`);

export function checkKey(key: unknown, kind: EntryKind = 'knowledge'): string {
  if (!isEntryKey(key)) throw new OrchestraError('INVALID_INPUT', `bad context key ${shown(key)}: use 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  if (kind === 'secret' && !SECRET_KEY_PATTERN.test(key)) throw new OrchestraError('INVALID_INPUT', `bad secret key "${key}": a secret is delivered as an environment variable, so its key must be a variable name (letters, digits, "_", e.g. NPM_TOKEN)`);
  return key;
}

/** `workspace`, `repo:NAME` or `task:ID` (a task id is a ULID). */
export function parseScope(text: unknown): Scope {
  if (text === undefined || text === null || text === '' || text === 'workspace') return { kind: 'workspace' };
  if (typeof text === 'string') {
    const [kind, name, ...rest] = text.split(':');
    if (rest.length === 0 && kind === 'repo' && name !== undefined && isSlug(name)) return { kind: 'repo', name };
    if (rest.length === 0 && kind === 'task' && name !== undefined && isUlid(name)) return { kind: 'task', id: name };
  }
  throw new OrchestraError('INVALID_INPUT', `bad context scope ${shown(text)}: use "workspace", "repo:NAME" (lower-case letters, digits, "-", "_") or "task:ID" (a task id)`);
}

export function scopeText(scope: Scope): string {
  return scope.kind === 'workspace' ? 'workspace' : scope.kind === 'repo' ? `repo:${scope.name}` : `task:${scope.id}`;
}

/**
 * The repository scope of a task's `repo` field (a configured name, a path or a URL): the name
 * itself when it is a slug, else a readable slug of its last path segment plus a hash of the
 * whole spec, so two tasks on the same repository share their knowledge.
 */
export function repoScopeName(spec: string): string {
  if (isSlug(spec)) return spec;
  const last = spec.replace(/[/\\]+$/, '').split(/[/\\:]/).pop() ?? '';
  const readable = last.replace(/\.git$/i, '').toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[-_]+/, '').slice(0, 40) || 'repo';
  return `${readable}-${createHash('sha256').update(spec).digest('hex').slice(0, 8)}`;
}

const scopeTag = (scope: Scope) => (scope.kind === 'workspace' ? 'workspace' : scope.kind === 'repo' ? `repo.${scope.name}` : `task.${scope.id}`);

/** The stream of one entry: `context/<scope-tag>+<key>`. */
export function entryStream(scope: Scope, key: string): string {
  return `${CONTEXT_DIR}/${scopeTag(scope)}+${checkKey(key)}`;
}

/** The scope and key of a stream name under context/, or undefined for anything else. */
export function parseEntryStream(stream: string): { scope: Scope; key: string } | undefined {
  const m = /^context\/(workspace|repo\.([a-z0-9][a-z0-9_-]{0,63})|task\.([0-9A-HJKMNP-TV-Z]{26}))\+([A-Za-z0-9][A-Za-z0-9._-]{0,99})$/.exec(stream);
  if (!m) return undefined;
  const scope: Scope = m[2] ? { kind: 'repo', name: m[2] } : m[3] ? { kind: 'task', id: m[3] } : { kind: 'workspace' };
  return { scope, key: m[4]! };
}

/** A ref names an entry (`repo:app/build-notes`), optionally one version (`...@3`). */
export interface EntryRef { scope: Scope; key: string; version?: number }

export function formatRef(scope: Scope, key: string, version?: number): string {
  return `${scopeText(scope)}/${key}${version !== undefined ? `@${version}` : ''}`;
}

export function parseRef(text: unknown): EntryRef {
  if (typeof text !== 'string' || text.length > 240) throw new OrchestraError('INVALID_INPUT', 'a context ref is a string like "repo:NAME/KEY", "workspace/KEY" or "task:ID/KEY@VERSION"');
  const slash = text.lastIndexOf('/');
  const scope = parseScope(slash < 0 ? 'workspace' : text.slice(0, slash));
  const rest = slash < 0 ? text : text.slice(slash + 1);
  const m = /^([^@]+)(?:@([1-9][0-9]{0,9}))?$/.exec(rest);
  if (!m) throw new OrchestraError('INVALID_INPUT', `bad context ref ${shown(text)}: expected SCOPE/KEY or SCOPE/KEY@VERSION`);
  return { scope, key: checkKey(m[1]), ...(m[2] ? { version: Number(m[2]) } : {}) };
}

/** The first non-empty line of a text, single-line and cut: what a context ref shows. */
export function summaryOf(content: string): string {
  const line = content.split('\n').map((l) => singleLine(l).trim()).find((l) => l.length > 0) ?? '';
  return Array.from(line).length > SUMMARY_CHARS ? `${Array.from(line).slice(0, SUMMARY_CHARS - 1).join('')}…` : line;
}

// ---- events ----

const WriterSchema = z.object({ role: z.string().min(1).max(64), task: z.string().max(64).optional() });
export type Writer = z.infer<typeof WriterSchema>;

/** An AES-256-GCM ciphertext: 12-byte nonce, 16-byte tag, the id of the key that sealed it (never the key). */
export const SealedSchema = z.object({
  alg: z.literal('aes-256-gcm'),
  keyId: z.string().regex(KEY_ID_PATTERN),
  /** Key check value (keyring.ts keyCheck): a wrong key is told apart from a changed ciphertext. */
  kcv: z.string().regex(/^[0-9a-f]{12}$/),
  nonce: z.string().length(16).regex(B64),
  tag: z.string().length(24).regex(B64),
  ciphertext: z.string().max(1024 * 1024).regex(B64),
});
export type Sealed = z.infer<typeof SealedSchema>;

const Base = { key: z.string().regex(KEY_PATTERN), scope: z.string().max(100) };
export const KnowledgeWrittenSchema = z.object({ ...Base, kind: z.literal('knowledge'), summary: z.string().max(400), content: z.string(), writer: WriterSchema.optional() });
export const SecretWrittenSchema = z.object({ ...Base, kind: z.literal('secret'), sealed: SealedSchema, reason: z.enum(['set', 'rotation']).default('set') });
export const EntryWrittenSchema = z.discriminatedUnion('kind', [KnowledgeWrittenSchema, SecretWrittenSchema]);
export const EntryRemovedSchema = z.object(Base);
export type EntryWritten = z.infer<typeof EntryWrittenSchema>;

export const CONTEXT_WRITTEN = 'context.written';
export const CONTEXT_REMOVED = 'context.removed';
/** Appended to the audit stream for every read of a secret's value (never the value). */
export const SECRET_READ = 'context.secret-read';

/** The current state of one entry: its latest version, or its tombstone. */
export interface EntryView {
  ref: string;
  stream: string;
  scope: Scope;
  key: string;
  kind: EntryKind;
  /** The seq of the record holding this version. */
  version: number;
  /** How many versions were written (rotation re-encryptions included). */
  versions: number;
  at: string;
  writtenBy: string;
  writer?: Writer;
  summary: string;
  /** Knowledge only. */
  content?: string;
  /** Secrets only. */
  sealed?: Sealed;
  removed: boolean;
}

/**
 * Folds an entry's stream. Pure and total: events it does not know, that do not parse, or whose
 * key/scope differ from the stream's are skipped. `upTo` stops at a version (a ref's `@N`).
 */
export function foldEntry(stream: string, records: readonly StreamRecord[], upTo?: number): EntryView | undefined {
  const where = parseEntryStream(stream);
  if (!where) return undefined;
  const scope = scopeText(where.scope);
  let view: EntryView | undefined;
  let versions = 0;
  for (const record of records) {
    if (upTo !== undefined && record.seq > upTo) break;
    for (const event of record.events) {
      if (event.type === CONTEXT_WRITTEN) {
        const parsed = EntryWrittenSchema.safeParse(event.data);
        if (!parsed.success || parsed.data.key !== where.key || parsed.data.scope !== scope) continue;
        const d = parsed.data;
        versions++;
        view = {
          ref: formatRef(where.scope, where.key), stream, scope: where.scope, key: where.key, kind: d.kind, version: record.seq, versions, at: record.at,
          writtenBy: `${record.actor.kind}:${record.actor.name}${record.actor.user ? `:${record.actor.user}` : ''}`,
          ...(d.kind === 'knowledge' ? { summary: singleLine(d.summary), content: d.content, ...(d.writer ? { writer: d.writer } : {}) } : { summary: '(secret)', sealed: d.sealed }),
          removed: false,
        };
      } else if (event.type === CONTEXT_REMOVED && view) {
        const parsed = EntryRemovedSchema.safeParse(event.data);
        if (!parsed.success || parsed.data.key !== where.key || parsed.data.scope !== scope) continue;
        view = { ...view, version: record.seq, at: record.at, removed: true, content: undefined, sealed: undefined };
      }
    }
  }
  return view;
}
