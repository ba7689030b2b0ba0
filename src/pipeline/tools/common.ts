import { posix } from 'node:path';
import type { ToolCall, ToolSpec } from '../../providers/types.js';
import { clip as clipText } from '../../core/text-sanitize.js';

export interface ToolOutcome { output: string; isError: boolean }

/** A set of tools the model may call; each call returns text for the model, never throws. */
export interface Toolbox {
  specs: ToolSpec[];
  run(call: ToolCall): Promise<ToolOutcome>;
}

export const MAX_TOOL_OUTPUT = 60_000;

export const clip = (text: string, max = MAX_TOOL_OUTPUT): string =>
  clipText(text, max, (dropped) => `\n[... ${dropped} more characters not shown; read a narrower range or search instead]`);

export const ok = (output: string): ToolOutcome => ({ output: clip(output), isError: false });
export const refuse = (output: string): ToolOutcome => ({ output, isError: true });

/**
 * Normalises a model-given relative path; undefined when it is absolute, leaves the root, or
 * touches .git. The caller turns undefined into a refusal the model can read.
 */
export function safeRelative(path: unknown): string | undefined {
  if (path === undefined || path === null || path === '' || path === '.') return '';
  if (typeof path !== 'string' || path.includes('\0')) return undefined;
  if (path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path)) return undefined;
  const normal = posix.normalize(path.replace(/\\/g, '/')).replace(/\/+$/, '');
  if (normal === '..' || normal.startsWith('../')) return undefined;
  // No `.git` anywhere on the path (any case): a nested repository or gitfile is never written.
  if (normal.split('/').some((part) => part.toLowerCase() === '.git')) return undefined;
  return normal === '.' ? '' : normal;
}

export const stringArg = (call: ToolCall, name: string): string | undefined => (typeof call.args[name] === 'string' ? (call.args[name] as string) : undefined);

const pathParam = { type: 'string', description: 'path relative to the repository root' };
export const READ_TOOL_SPECS: ToolSpec[] = [
  { name: 'list_files', description: 'List files of the repository, optionally under a directory.', parameters: { type: 'object', properties: { path: { ...pathParam, description: 'directory to list (default: the whole repository)' } } } },
  { name: 'read_file', description: 'Read a text file of the repository.', parameters: { type: 'object', properties: { path: pathParam }, required: ['path'] } },
  { name: 'search', description: 'Search file contents with an extended regular expression; returns path:line:text matches.', parameters: { type: 'object', properties: { pattern: { type: 'string' }, path: { ...pathParam, description: 'limit the search to this directory or file' } }, required: ['pattern'] } },
];
