import { z } from 'zod';
import type { Actor } from '../actor.js';
import { OrchestraError } from '../errors.js';
import { isUlid, newId } from '../ids.js';
import { leaseStatus, LOCK_PURPOSE, readHeartbeat, type Heartbeat } from '../leases.js';
import type { TaskView } from '../model/task.js';
import { assertTransition } from '../model/workstream.js';
import type { StoredEvent } from '../record.js';
import type { Workspace } from '../workspace.js';
import { allocateTaskNumber } from '../task-ref.js';
import { cleanStrings, multiLine, singleLine } from '../text-sanitize.js';
import { MAX_NESTING, measure } from '../value-limits.js';

/** Caps that keep one task's record small whatever door it came through. */
export const TASK_LIMITS = { titleChars: 300, descriptionChars: 200_000, fieldsBytes: 64 * 1024, fieldKeyChars: 128 } as const;

/** Titles and tags are single lines: control characters (NUL, ESC, CR/LF, bidi marks) become spaces. */
const titleText = z.string().min(1, 'title is required').max(TASK_LIMITS.titleChars).transform((t) => singleLine(t).trim()).pipe(z.string().min(1, 'title is required'));
const tagText = z.string().min(1).max(64).transform((t) => singleLine(t).trim()).pipe(z.string().min(1));
const descriptionText = z.string().max(TASK_LIMITS.descriptionChars).transform(multiLine);
const fieldsValue = z.record(z.string().max(TASK_LIMITS.fieldKeyChars), z.unknown()).superRefine((fields, ctx) => {
  const { depth, bytes } = measure(fields);
  if (bytes > TASK_LIMITS.fieldsBytes) ctx.addIssue({ code: 'custom', message: `fields take ${bytes} bytes; the limit is ${TASK_LIMITS.fieldsBytes}` });
  if (depth > MAX_NESTING) ctx.addIssue({ code: 'custom', message: `fields are nested more than ${MAX_NESTING} levels deep` });
}).transform((fields) => cleanStrings(fields) as Record<string, unknown>);

/** What it takes to create a task, from any door (CLI, inbox file, adapter). */
export const NewTaskSchema = z.object({
  id: z.string().refine(isUlid, 'id must be a ULID (26 characters of Crockford base32)').optional(),
  title: titleText,
  description: descriptionText.default(''),
  workstream: z.string().max(200).optional(),
  tags: z.array(tagText).max(50).default([]),
  fields: fieldsValue.default({}),
});
export type NewTask = z.input<typeof NewTaskSchema>;

export interface CreateOptions {
  actor: Actor;
  cause?: string;
  /** The original submission, kept among the task's records. */
  original?: { name: string; content: string | Buffer };
}

export async function createTask(ws: Workspace, input: NewTask, opts: CreateOptions): Promise<TaskView> {
  const parsed = NewTaskSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OrchestraError('INVALID_INPUT', `${issue.path.join('.') || 'task'}: ${issue.message}`);
  }
  const task = parsed.data;
  const workstream = await ws.workstream(task.workstream ?? ws.config.defaultWorkstream);
  for (const field of workstream.requiredFields) {
    if (task.fields[field] === undefined || task.fields[field] === '') {
      throw new OrchestraError('INVALID_INPUT', `workstream ${workstream.name} needs the field "${field}"`);
    }
  }
  const id = task.id ?? newId();
  // Before the original is written: a duplicate must not leave a file among another task's records.
  const before = await ws.findTask(id);
  if (before) {
    if (opts.cause && before.causes.includes(opts.cause)) return before;
    throw new OrchestraError('CONFLICT', `a task with id ${id} already exists`);
  }
  const number = await allocateTaskNumber(ws);
  const original = opts.original ? await ws.writeTaskFile(id, `original-${opts.original.name}`, opts.original.content) : undefined;
  const { view } = await ws.appendToTask(id, (existing) => {
    if (existing) {
      if (opts.cause && existing.causes.includes(opts.cause)) return null;
      throw new OrchestraError('CONFLICT', `a task with id ${id} already exists`);
    }
    return {
      actor: opts.actor,
      ...(opts.cause ? { cause: opts.cause } : {}),
      events: [{
        type: 'task.created',
        data: { id, workstream: workstream.name, title: task.title, description: task.description, tags: task.tags, fields: task.fields, state: workstream.initial, number, ...(original ? { original } : {}) },
      }],
    };
  });
  if (!view) throw new OrchestraError('INTERNAL', `task ${id} was not created`);
  return view;
}

export interface ChangeOptions {
  actor: Actor;
  cause?: string;
  /** Who asks, as a lock owner: the holder of a manual lock on the task may still write it. */
  owner?: string;
}

/**
 * Refuses a write while someone else holds a manual lock (`orchestra lock acquire`, purpose
 * LOCK_PURPOSE, unexpired, unreleased). Leases taken by loops (plan, execute, publish, trigger,
 * agents) do not block people's commands: `abort` must reach a running step.
 */
export function assertNotLockedByOther(view: TaskView, heartbeat: Heartbeat | undefined, owner: string | undefined): void {
  const status = leaseStatus(view, heartbeat);
  if (status.state !== 'held' || status.lease.purpose !== LOCK_PURPOSE || status.lease.owner === owner) return;
  throw new OrchestraError('TASK_LOCKED', `task ${view.id} is locked by ${status.lease.owner} until ${new Date(status.expiresAt).toISOString()}; only its owner may change it until the lock is released or expires`, { owner: status.lease.owner });
}

/**
 * Appends events to an existing task after `check` approves its current view. Idempotent per
 * cause: a request already applied (same cause) is not applied twice. Refused with TASK_LOCKED
 * while another owner holds a manual lock on the task.
 */
export async function changeTask(ws: Workspace, id: string, opts: ChangeOptions, decide: (view: TaskView) => StoredEvent[] | null): Promise<TaskView> {
  const heartbeat = await readHeartbeat(ws, id);
  const { view } = await ws.appendToTask(id, (current) => {
    if (!current) throw new OrchestraError('NOT_FOUND', `no task with id ${id}`);
    if (opts.cause && current.causes.includes(opts.cause)) return null;
    assertNotLockedByOther(current, heartbeat, opts.owner);
    const events = decide(current);
    if (!events) return null;
    return { actor: opts.actor, events, ...(opts.cause ? { cause: opts.cause } : {}) };
  });
  return view!;
}

export async function moveTask(ws: Workspace, id: string, to: string, opts: ChangeOptions & { reason?: string }): Promise<TaskView> {
  const current = await ws.task(id);
  const workstream = await ws.workstream(current.workstream);
  return changeTask(ws, id, opts, (view) => {
    if (view.archived) throw new OrchestraError('INVALID_TRANSITION', `task ${id} is archived`);
    assertTransition(workstream, view.state, to);
    return [{ type: 'task.moved', data: { from: view.state, to, ...(opts.reason ? { reason: singleLine(opts.reason).slice(0, 2000) } : {}) } }];
  });
}

export async function commentTask(ws: Workspace, id: string, text: string, opts: ChangeOptions): Promise<TaskView> {
  const trimmed = multiLine(text).trim();
  if (!trimmed) throw new OrchestraError('INVALID_INPUT', 'a comment needs some text');
  return changeTask(ws, id, opts, () => [{ type: 'task.commented', data: { text: trimmed.slice(0, 20_000) } }]);
}

export async function archiveTask(ws: Workspace, id: string, opts: ChangeOptions): Promise<TaskView> {
  return changeTask(ws, id, opts, (view) => (view.archived ? null : [{ type: 'task.archived', data: {} }]));
}

export const TaskUpdateSchema = z.object({
  title: titleText.optional(),
  description: descriptionText.optional(),
  tags: z.array(tagText).max(50).optional(),
  /** Fields to set (merged over the current ones). */
  fields: fieldsValue.optional(),
});

/**
 * Changes a task's title, description, tags or fields. `check` sees the current view inside the
 * optimistic append (so it holds against concurrent writers) and throws to refuse.
 */
export async function updateTask(ws: Workspace, id: string, update: z.input<typeof TaskUpdateSchema>, opts: ChangeOptions, check?: (view: TaskView) => void): Promise<TaskView> {
  const parsed = TaskUpdateSchema.safeParse(update);
  if (!parsed.success) throw new OrchestraError('INVALID_INPUT', parsed.error.issues[0]!.message);
  const data = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined));
  return changeTask(ws, id, opts, (view) => {
    check?.(view);
    return [{ type: 'task.updated', data }];
  });
}

export interface TaskFilter { state?: string; workstream?: string; tags?: string[]; includeArchived?: boolean }

export function matchesFilter(view: TaskView, filter: TaskFilter): boolean {
  if (!filter.includeArchived && view.archived) return false;
  if (filter.state && view.state !== filter.state) return false;
  if (filter.workstream && view.workstream !== filter.workstream) return false;
  if (filter.tags && !filter.tags.every((t) => view.tags.includes(t))) return false;
  return true;
}
