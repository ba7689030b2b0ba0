import matter from 'gray-matter';
import { z } from 'zod';
import { ActorSchema, type Actor } from './actor.js';
import { OrchestraError } from './errors.js';
import { NewTaskSchema, type NewTask } from './ops/tasks.js';

/**
 * Commands that act on an existing task. The same shapes come from inbox files, the CLI and the
 * chat adapters, so there is one definition.
 */
const taskRef = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'task must be a task id (ULID)');
export const CommandSchema = z.discriminatedUnion('command', [
  z.object({ command: z.literal('comment'), task: taskRef, text: z.string().min(1).max(20_000) }),
  z.object({ command: z.literal('move'), task: taskRef, to: z.string().min(1), reason: z.string().max(2000).optional() }),
  z.object({ command: z.literal('archive'), task: taskRef }),
  z.object({ command: z.literal('approve'), task: taskRef, version: z.number().int().positive().optional() }),
  z.object({ command: z.literal('feedback'), task: taskRef, text: z.string().min(1).max(20_000) }),
  z.object({ command: z.literal('abort'), task: taskRef, reason: z.string().max(2000).optional() }),
  z.object({ command: z.literal('retry'), task: taskRef, replan: z.boolean().default(false) }),
]);
export type Command = z.infer<typeof CommandSchema>;

export type InboxItem =
  | { kind: 'task'; task: NewTask; actor?: Actor }
  | { kind: 'command'; command: Command; actor?: Actor };

const TASK_KEYS = new Set(['id', 'title', 'workstream', 'tags', 'body', 'description', 'actor', 'fields']);

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

function toTask(raw: Record<string, unknown>, description: unknown): InboxItem {
  const fields: Record<string, unknown> = { ...((raw.fields as Record<string, unknown>) ?? {}) };
  for (const [key, value] of Object.entries(raw)) if (!TASK_KEYS.has(key)) fields[key] = value;
  const tags = typeof raw.tags === 'string' ? raw.tags.split(',').map((t) => t.trim()).filter(Boolean) : raw.tags;
  const task = NewTaskSchema.safeParse({ id: raw.id, title: raw.title, workstream: raw.workstream, tags, description: description ?? '', fields });
  if (!task.success) throw firstIssue(task.error, 'task');
  const actor = raw.actor === undefined ? undefined : ActorSchema.safeParse(raw.actor);
  if (actor && !actor.success) throw firstIssue(actor.error, 'actor');
  return { kind: 'task', task: task.data, ...(actor ? { actor: actor.data } : {}) };
}

/** Parses an inbox file (Markdown with front matter, or JSON) into a task or a command. */
export function parseInboxFile(name: string, bytes: Buffer): InboxItem {
  const text = decodeText(bytes);
  const lower = name.toLowerCase();
  if (lower.endsWith('.json')) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new OrchestraError('INVALID_JSON', `not valid JSON: ${(err as Error).message}`);
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new OrchestraError('INVALID_INPUT', 'a JSON inbox file must hold one object');
    const obj = raw as Record<string, unknown>;
    if ('command' in obj) {
      const { actor: rawActor, ...rest } = obj;
      const command = CommandSchema.safeParse(rest);
      if (!command.success) throw firstIssue(command.error, `command ${String(obj.command)}`);
      const actor = rawActor === undefined ? undefined : ActorSchema.safeParse(rawActor);
      if (actor && !actor.success) throw firstIssue(actor.error, 'actor');
      return { kind: 'command', command: command.data, ...(actor ? { actor: actor.data } : {}) };
    }
    return toTask(obj, obj.body ?? obj.description);
  }
  if (lower.endsWith('.md') || lower.endsWith('.markdown')) {
    let parsed: matter.GrayMatterFile<string>;
    try {
      // gray-matter caches by content; a fresh options object disables that cache.
      parsed = matter(text, {});
    } catch (err) {
      throw new OrchestraError('INVALID_INPUT', `the YAML front matter does not parse: ${(err as Error).message.split('\n')[0]}`);
    }
    if (!text.trimStart().startsWith('---')) throw new OrchestraError('INVALID_INPUT', 'a Markdown task needs YAML front matter (--- title: ... ---)');
    if (!parsed.data || typeof parsed.data !== 'object' || Array.isArray(parsed.data)) throw new OrchestraError('INVALID_INPUT', 'the front matter must be a YAML mapping');
    return toTask(parsed.data as Record<string, unknown>, parsed.content.trim());
  }
  throw new OrchestraError('INVALID_INPUT', 'unsupported file type: use .md (front matter) or .json');
}
