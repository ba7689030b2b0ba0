import type { Actor } from '../actor.js';
import { OrchestraError } from '../errors.js';
import { isSlug, newId } from '../ids.js';
import { DEFAULT_STATES, foldWorkstream, TriggerActionSchema, WorkstreamCreatedSchema, type Trigger, type WorkstreamView } from '../model/workstream.js';
import { streamOfWorkstream } from '../paths.js';
import type { Workspace } from '../workspace.js';
import type { z } from 'zod';

export type NewWorkstream = z.input<typeof WorkstreamCreatedSchema>;

export async function createWorkstream(ws: Workspace, input: Partial<NewWorkstream> & { name: string }, actor: Actor, opts: { ifMissing?: boolean } = {}): Promise<WorkstreamView> {
  if (!isSlug(input.name)) throw new OrchestraError('INVALID_INPUT', `workstream name "${input.name}" must be lower-case letters, digits, - or _`);
  const parsed = WorkstreamCreatedSchema.safeParse({ states: DEFAULT_STATES, ...input });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OrchestraError('INVALID_INPUT', `workstream ${issue.path.join('.')}: ${issue.message}`);
  }
  if (parsed.data.parent) await ws.workstream(parsed.data.parent);
  const { state } = await ws.appendTo(streamOfWorkstream(input.name), (s) => foldWorkstream(s.records), (existing) => {
    if (existing) {
      if (opts.ifMissing) return null;
      throw new OrchestraError('CONFLICT', `workstream ${input.name} already exists`);
    }
    return { actor, events: [{ type: 'workstream.created', data: parsed.data }] };
  });
  return state!;
}

/** Parent first, children indented below: the workstream tree as lines. */
export function workstreamTree(all: WorkstreamView[]): string[] {
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const w of all.filter((x) => x.parent === parent)) {
      lines.push(`${'  '.repeat(depth)}${w.name}${w.description ? ` - ${w.description}` : ''}`);
      walk(w.name, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines;
}

export async function addTrigger(ws: Workspace, workstream: string, input: { id?: string; on: string; action: z.input<typeof TriggerActionSchema> }, actor: Actor): Promise<Trigger> {
  const action = TriggerActionSchema.safeParse(input.action);
  if (!action.success) throw new OrchestraError('INVALID_INPUT', `trigger action: ${action.error.issues[0]!.message}`);
  const id = input.id ?? `t-${newId().slice(-10).toLowerCase()}`;
  if (!isSlug(id)) throw new OrchestraError('INVALID_INPUT', `trigger id "${id}" must be a slug`);
  const trigger: Trigger = { id, on: input.on, action: action.data };
  await ws.appendTo(streamOfWorkstream(workstream), (s) => foldWorkstream(s.records), (view) => {
    if (!view) throw new OrchestraError('NOT_FOUND', `no workstream named "${workstream}"`);
    if (!(input.on in view.states)) throw new OrchestraError('INVALID_INPUT', `workstream ${workstream} has no state "${input.on}"`);
    if (view.triggers.some((t) => t.id === id)) throw new OrchestraError('CONFLICT', `trigger ${id} already exists`);
    return { actor, events: [{ type: 'trigger.added', data: trigger }] };
  });
  return trigger;
}

export async function removeTrigger(ws: Workspace, workstream: string, id: string, actor: Actor): Promise<void> {
  await ws.appendTo(streamOfWorkstream(workstream), (s) => foldWorkstream(s.records), (view) => {
    if (!view) throw new OrchestraError('NOT_FOUND', `no workstream named "${workstream}"`);
    if (!view.triggers.some((t) => t.id === id)) throw new OrchestraError('NOT_FOUND', `workstream ${workstream} has no trigger ${id}`);
    return { actor, events: [{ type: 'trigger.removed', data: { id } }] };
  });
}
