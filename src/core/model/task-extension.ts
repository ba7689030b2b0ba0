import type { StreamRecord, StoredEvent } from '../record.js';

/**
 * How a workstream plugs its own events into core without core knowing them: a section of the
 * task view folded from its event types, a line per event for commit messages, and its usage for
 * `replay`. Core keeps only tasks, streams and leases; the dev pipeline registers the `dev`
 * section (src/pipeline/dev-fold.ts), and declares its type by merging into TaskExtensions.
 *
 * Invariants: `apply` is pure (same records, same view) and returns false for event types it
 * does not own; keys are unique. Registration happens when the workstream's module is loaded,
 * before any task is folded: every reader of a section imports its workstream module.
 */
export interface TaskExtension<V = unknown> {
  /** Property of the task view that holds the section. */
  key: string;
  empty(): V;
  apply(section: V, event: StoredEvent, record: StreamRecord): boolean;
  /** One short line for an event of this extension (commit messages), or undefined. */
  summarize?(type: string, data: Record<string, unknown>): string | undefined;
  /** Model usage of a task, summed by `replay`. */
  usage?(section: V): { modelCalls: number; costUsd: number };
}

const registered: TaskExtension<any>[] = [];

export function registerTaskExtension<V>(extension: TaskExtension<V>): void {
  const at = registered.findIndex((e) => e.key === extension.key);
  if (at >= 0) registered[at] = extension;
  else registered.push(extension);
}

export function taskExtensions(): readonly TaskExtension<any>[] {
  return registered;
}
