import type { Actor } from '../actor.js';
import { OrchestraError } from '../errors.js';
import { isSlug, newId } from '../ids.js';
import { DEFAULT_STATES, foldWorkstream, TriggerActionSchema, WorkstreamCreatedSchema, type StateMap, type Trigger, type WorkstreamView } from '../model/workstream.js';
import { streamOfWorkstream } from '../paths.js';
import type { Workspace } from '../workspace.js';
import type { z } from 'zod';

export type NewWorkstream = z.input<typeof WorkstreamCreatedSchema>;

/**
 * `ifMissing`: an existing workstream is left as it is. `addMissingTransitions` (with ifMissing):
 * an existing workstream gains the moves of `input.states` and the `settledStates` it lacks (a
 * built-in map that grew in a later version), by one `workstream.updated`; nothing it had is taken away.
 */
export async function createWorkstream(ws: Workspace, input: Partial<NewWorkstream> & { name: string }, actor: Actor, opts: { ifMissing?: boolean; addMissingTransitions?: boolean } = {}): Promise<WorkstreamView> {
  if (!isSlug(input.name)) throw new OrchestraError('INVALID_INPUT', `workstream name "${input.name}" must be lower-case letters, digits, - or _`);
  const parsed = WorkstreamCreatedSchema.safeParse({ states: DEFAULT_STATES, ...input });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OrchestraError('INVALID_INPUT', `workstream ${issue.path.join('.')}: ${issue.message}`);
  }
  if (parsed.data.parent) await ws.workstream(parsed.data.parent);
  const { state } = await ws.appendTo(streamOfWorkstream(input.name), (s) => foldWorkstream(s.records), (existing) => {
    if (existing) {
      if (opts.ifMissing && opts.addMissingTransitions) {
        const merged = mergeStates(existing.states, parsed.data.states);
        const wantSettled = parsed.data.settledStates ?? [];
        const settled = wantSettled.some((st) => !existing.settledStates?.includes(st)) ? [...new Set([...(existing.settledStates ?? []), ...wantSettled])] : undefined;
        if (!merged && !settled) return null;
        return { actor, events: [{ type: 'workstream.updated', data: { ...(merged ? { states: merged } : {}), ...(settled ? { settledStates: settled } : {}) } }] };
      }
      if (opts.ifMissing) return null;
      throw new OrchestraError('CONFLICT', `workstream ${input.name} already exists`);
    }
    return { actor, events: [{ type: 'workstream.created', data: parsed.data }] };
  });
  return state!;
}

/** `current` plus the moves of `wanted` it lacks (keeping current's state order), or null when none lack. */
function mergeStates(current: StateMap, wanted: StateMap): StateMap | null {
  const merged: StateMap = Object.fromEntries(Object.entries(current).map(([from, next]) => [from, [...next]]));
  let changed = false;
  for (const [from, next] of Object.entries(wanted)) {
    if (!merged[from]) merged[from] = [];
    for (const to of next) {
      if (merged[from]!.includes(to)) continue;
      merged[from]!.push(to);
      changed = true;
    }
  }
  for (const to of Object.values(merged).flat()) if (!merged[to]) merged[to] = [];
  return changed ? merged : null;
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
