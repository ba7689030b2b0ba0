import type { Command } from 'commander';
import { OrchestraError } from '../core/errors.js';
import type { Workspace } from '../core/workspace.js';
import type { Output } from './output.js';

/**
 * What every command group gets from main.ts: the output for this run (--json or text), the
 * workspace (its directory, or opened), and `act`, the wrapper most actions run in.
 * Each file in commands/ exports `register(program, ctx)`; heavy modules are imported inside
 * the actions (`await import(...)`), so a read command starts fast.
 */
export interface CliContext {
  out(): Output;
  wsDir(): string;
  open(): Promise<Workspace>;
  /** Wraps an action: opens the workspace, runs, commits what was written, reports errors plainly. */
  act<A extends unknown[]>(fn: (ws: Workspace, o: Output, ...args: A) => Promise<void>): (...args: A) => Promise<void>;
}

export type Register = (program: Command, ctx: CliContext) => void;

/** Commander option parser for a repeatable option. */
export const collect = (value: string, prev: string[] = []) => [...prev, value];

/** Commander option parser for a whole number >= 0. */
export const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new OrchestraError('INVALID_INPUT', `${name} must be a whole number`);
  return n;
};

/** `--owner`: the lock owner a write is made as; a task locked by another owner refuses it (TASK_LOCKED). */
export const OWNER = ['--owner <name>', 'write as this lock owner (a task locked by someone else refuses writes)'] as const;
