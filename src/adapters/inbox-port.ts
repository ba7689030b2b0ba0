import { join } from 'node:path';
import type { Actor } from '../core/actor.js';
import { OrchestraError } from '../core/errors.js';
import { writeAtomic } from '../core/fsutil.js';
import { isUlid, newId } from '../core/ids.js';
import { inboxKey, sealObject } from '../core/inbox-seal.js';
import { CommandSchema, type Command } from '../core/inbox-format.js';
import { NewTaskSchema, type NewTask } from '../core/ops/tasks.js';
import type { Workspace } from '../core/workspace.js';

/**
 * The only way an adapter changes anything: it drops a file into the inbox, exactly as a person
 * could, sealed with the workspace's inbox key so that its actor is believed (inbox-seal.ts).
 * The intake loop validates and records it; the adapter never calls a loop.
 * Returns the inbox file name; for a new task also the id it will get.
 */
export async function submitTask(ws: Workspace, task: NewTask, actor: Actor): Promise<{ file: string; taskId: string }> {
  const parsed = NewTaskSchema.safeParse(task);
  if (!parsed.success) throw new OrchestraError('INVALID_INPUT', parsed.error.issues[0]!.message);
  const taskId = parsed.data.id ?? newId();
  const { description, fields, ...rest } = parsed.data;
  const file = `${actor.name}-${taskId}.json`;
  const sealed = sealObject(await inboxKey(ws.paths), { ...rest, id: taskId, body: description, fields, actor });
  await writeAtomic(join(ws.paths.inbox, file), JSON.stringify(sealed, null, 2));
  return { file, taskId };
}

/**
 * `nonce`: a ULID naming the request; an adapter that may send the same request twice (a poller
 * re-reading a comment after a crash) passes one derived from the request, so it is applied once.
 */
export async function submitCommand(ws: Workspace, command: Command, actor: Actor, opts: { nonce?: string } = {}): Promise<{ file: string }> {
  const parsed = CommandSchema.safeParse(command);
  if (!parsed.success) throw new OrchestraError('INVALID_INPUT', parsed.error.issues[0]!.message);
  if (opts.nonce !== undefined && !isUlid(opts.nonce)) throw new OrchestraError('INVALID_INPUT', 'nonce must be a ULID');
  const nonce = opts.nonce ?? newId();
  const file = `${actor.name}-${parsed.data.command}-${nonce}.json`;
  // The sealed nonce becomes the command's cause: a copy of this file is the same request, applied once.
  await writeAtomic(join(ws.paths.inbox, file), JSON.stringify(sealObject(await inboxKey(ws.paths), { ...parsed.data, actor, nonce }), null, 2));
  return { file };
}

/** Refusals by adapters (unknown users, bad tokens) go to the audit stream. */
export async function recordRefusal(ws: Workspace, actor: Actor, what: string, detail: Record<string, unknown> = {}): Promise<void> {
  await ws.appendTo('audit', (s) => s, () => ({ actor, events: [{ type: 'access.refused', data: { what, ...detail } }] }));
}

/**
 * Decides whether a refusal gets an audit record (or a reply): at most one per key (a remote
 * address, a user and command) per window, and at most `globalMax` per window in all, so a
 * stranger cannot flood the audit stream.
 */
export class RefusalLimiter {
  private readonly last = new Map<string, number>();
  private windowStart = 0;
  private inWindow = 0;

  constructor(private readonly windowMs = 60_000, private readonly globalMax = 20, private readonly now: () => number = Date.now) {}

  allow(key: string): boolean {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.windowStart = t;
      this.inWindow = 0;
      if (this.last.size > 1000) for (const [k, at] of this.last) if (t - at >= this.windowMs) this.last.delete(k);
    }
    const prev = this.last.get(key);
    if (prev !== undefined && t - prev < this.windowMs) return false;
    if (this.inWindow >= this.globalMax) return false;
    this.last.set(key, t);
    this.inWindow++;
    return true;
  }
}
