import { z } from 'zod';
import { ActorSchema, type Actor } from './actor.js';
import { SEAL_KEY, sealMatches } from './inbox-seal.js';
import { OrchestraError } from './errors.js';
import { isUlid, ULID_PATTERN } from './ids.js';
import { parseFrontMatter } from './front-matter.js';
import { multiLine, singleLine } from './text-sanitize.js';
import { NewTaskSchema, type NewTask } from './ops/tasks.js';
import { assertJsonDepth } from './value-limits.js';

/**
 * Commands that act on an existing task. The same shapes come from inbox files, the CLI and the
 * chat adapters, so there is one definition.
 */
const lineText = (max: number) => z.string().max(max).transform(singleLine);
const longText = z.string().min(1).max(20_000).transform(multiLine);
const taskRef = z.string().regex(new RegExp(`^${ULID_PATTERN}$`), 'task must be a task id (ULID)');
export const CommandSchema = z.discriminatedUnion('command', [
  z.object({ command: z.literal('comment'), task: taskRef, text: longText }),
  z.object({ command: z.literal('move'), task: taskRef, to: z.string().min(1).max(200), reason: lineText(2000).optional() }),
  z.object({ command: z.literal('archive'), task: taskRef }),
  z.object({ command: z.literal('approve'), task: taskRef, version: z.number().int().positive().optional() }),
  z.object({ command: z.literal('feedback'), task: taskRef, text: longText }),
  z.object({ command: z.literal('abort'), task: taskRef, reason: lineText(2000).optional() }),
  z.object({ command: z.literal('retry'), task: taskRef, replan: z.boolean().default(false) }),
]);
export type Command = z.infer<typeof CommandSchema>;

/**
 * `actor`: who wrote the file, present only when the file's seal proves it (see inbox-seal.ts).
 * `claimedActor`: an actor the file names without a valid seal; shown in logs, never recorded as the writer.
 */
export type InboxItem =
  | { kind: 'task'; task: NewTask; actor?: Actor; claimedActor?: Actor }
  | { kind: 'command'; command: Command; actor?: Actor; claimedActor?: Actor; nonce?: string };

/** Keys that would reach an object's prototype when copied by assignment. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const TASK_KEYS = new Set(['id', 'title', 'workstream', 'tags', 'body', 'description', 'actor', 'fields', SEAL_KEY]);

function firstIssue(error: z.ZodError, what: string): OrchestraError {
  const issue = error.issues[0]!;
  return new OrchestraError('INVALID_INPUT', `${what}: ${issue.path.join('.') || 'value'}: ${issue.message}`);
}

function decodeText(bytes: Buffer): string {
  if (bytes.length === 0) throw new OrchestraError('INVALID_INPUT', 'the file is empty');
  if (bytes.includes(0)) throw new OrchestraError('INVALID_INPUT', 'the file is binary, not text');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw new OrchestraError('INVALID_INPUT', 'the file is not valid UTF-8 text');
  }
}

function actorOf(raw: unknown, sealed: boolean): Pick<InboxItem, 'actor' | 'claimedActor'> {
  if (raw === undefined) return {};
  const actor = ActorSchema.safeParse(raw);
  if (!actor.success) throw firstIssue(actor.error, 'actor');
  return sealed ? { actor: actor.data } : { claimedActor: actor.data };
}

function toTask(raw: Record<string, unknown>, description: unknown, sealed: boolean): InboxItem {
  const given = raw.fields;
  if (given !== undefined && (!given || typeof given !== 'object' || Array.isArray(given))) throw new OrchestraError('INVALID_INPUT', 'task: fields must be a mapping');
  const fields: Record<string, unknown> = {};
  const put = (key: string, value: unknown) => Object.defineProperty(fields, key, { value, enumerable: true, writable: true, configurable: true });
  for (const [key, value] of Object.entries((given as Record<string, unknown>) ?? {})) {
    if (FORBIDDEN_KEYS.has(key)) throw new OrchestraError('INVALID_INPUT', `task: fields: the key "${key}" is not allowed`);
    put(key, value);
  }
  for (const [key, value] of Object.entries(raw)) if (!TASK_KEYS.has(key)) put(key, value);
  const tags = typeof raw.tags === 'string' ? raw.tags.split(',').map((t) => t.trim()).filter(Boolean) : raw.tags;
  const task = NewTaskSchema.safeParse({ id: raw.id, title: raw.title, workstream: raw.workstream, tags, description: description ?? '', fields });
  if (!task.success) throw firstIssue(task.error, 'task');
  return { kind: 'task', task: task.data, ...actorOf(raw.actor, sealed) };
}

function assertPlainKeys(raw: Record<string, unknown>, where: string): void {
  for (const key of Object.keys(raw)) if (FORBIDDEN_KEYS.has(key)) throw new OrchestraError('INVALID_INPUT', `${where}: the key "${key}" is not allowed`);
}

/** JSON with its nesting bounded before parsing (a deep file cannot exhaust the stack). */
export function parseJsonText(text: string): unknown {
  assertJsonDepth(text);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OrchestraError('INVALID_JSON', `not valid JSON: ${(err as Error).message.split('\n')[0]!.slice(0, 200)}`);
  }
}

/**
 * Parses an inbox file (Markdown with YAML front matter, or JSON) into a task or a command.
 * Preconditions: `bytes` is at most the configured inbox.maxBytes (the caller checks the size
 * before reading). Nothing here evaluates code: JSON.parse and the safe YAML loader only.
 */
export function parseInboxFile(name: string, bytes: Buffer, key?: Buffer): InboxItem {
  const text = decodeText(bytes);
  const lower = name.toLowerCase();
  if (lower.endsWith('.error.json')) throw new OrchestraError('INVALID_INPUT', 'names ending in .error.json are reserved for rejection records; rename the file');
  if (lower.endsWith('.json')) {
    const raw = parseJsonText(text);
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new OrchestraError('INVALID_INPUT', 'a JSON inbox file must hold one object');
    assertPlainKeys(raw as Record<string, unknown>, 'task');
    const { [SEAL_KEY]: seal, ...obj } = raw as Record<string, unknown>;
    const sealed = sealMatches(key, obj, seal);
    if ('command' in obj) {
      const { actor: rawActor, nonce: rawNonce, ...rest } = obj;
      const command = CommandSchema.safeParse(rest);
      if (!command.success) throw firstIssue(command.error, `command ${String(obj.command).slice(0, 40)}`);
      // A sealed nonce names the request (an adapter's command): copies of the file are the same request.
      const nonce = sealed && typeof rawNonce === 'string' && isUlid(rawNonce) ? { nonce: rawNonce } : {};
      return { kind: 'command', command: command.data, ...actorOf(rawActor, sealed), ...nonce };
    }
    return toTask(obj, obj.body ?? obj.description, sealed);
  }
  if (lower.endsWith('.md') || lower.endsWith('.markdown')) {
    const parsed = parseFrontMatter(text, 'the YAML front matter');
    if (!parsed.present) throw new OrchestraError('INVALID_INPUT', 'a Markdown task needs YAML front matter (--- title: ... ---)');
    assertPlainKeys(parsed.data, 'front matter');
    return toTask(parsed.data, parsed.content.trim(), false); // adapters write sealed JSON; Markdown is never sealed
  }
  throw new OrchestraError('INVALID_INPUT', 'unsupported file type: use .md (front matter) or .json');
}
