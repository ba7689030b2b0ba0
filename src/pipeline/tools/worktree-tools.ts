import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ToolCall, ToolSpec } from '../../providers/types.js';
import { git, gitMaybe } from '../../vcs/git.js';
import { ok, READ_TOOL_SPECS, refuse, safeRelative, stringArg, type Toolbox, type ToolOutcome } from './common.js';

export const EDIT_TOOL_SPECS: ToolSpec[] = [
  { name: 'write_file', description: 'Create or overwrite a file with the given content (use for new files).', parameters: { type: 'object', properties: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path', 'content'] } },
  { name: 'replace_in_file', description: 'Replace old_text with new_text in a file. old_text must match exactly once.', parameters: { type: 'object', properties: { path: { type: 'string' }, old_text: { type: 'string' }, new_text: { type: 'string' } }, required: ['path', 'old_text', 'new_text'] } },
];

/** Resolves a model path inside the worktree, refusing escapes through `..` or symlinks. */
async function confine(root: string, raw: unknown): Promise<string | undefined> {
  const rel = safeRelative(raw);
  if (rel === undefined) return undefined;
  const full = join(root, rel);
  const realRoot = await fs.realpath(root);
  let probe = full;
  // The deepest existing ancestor must resolve inside the worktree (a symlink could point out).
  for (;;) {
    const real = await fs.realpath(probe).catch(() => undefined);
    if (real) return real === realRoot || real.startsWith(realRoot + '/') ? full : undefined;
    const parent = dirname(probe);
    if (parent === probe) return undefined;
    probe = parent;
  }
}

const outside = (call: ToolCall) => refuse(`refused: "${String(call.args.path)}" is outside the worktree; paths must be relative to the repository root`);

/** The executor's file tools over its own worktree. Edits touch only files inside it. */
export function worktreeTools(root: string): Toolbox & { edits: () => number } {
  let edits = 0;
  const run = async (call: ToolCall): Promise<ToolOutcome> => {
    const full = await confine(root, call.args.path);
    if (full === undefined) return outside(call);
    const rel = full.slice(root.length + 1);
    try {
      switch (call.name) {
        case 'list_files': {
          const out = await git(root, ['ls-files', '--cached', '--others', '--exclude-standard', '--', ...(rel ? [rel] : [])]);
          const files = [...new Set(out.split('\n').filter(Boolean))];
          return ok(files.length ? files.slice(0, 2000).join('\n') : `no files under "${rel}"`);
        }
        case 'read_file': {
          const stat = await fs.stat(full).catch(() => undefined);
          if (!stat?.isFile()) return refuse(`no file "${rel}" (use list_files)`);
          return ok(await fs.readFile(full, 'utf8'));
        }
        case 'search': {
          const pattern = stringArg(call, 'pattern');
          if (!pattern) return refuse('search needs a pattern');
          const out = await gitMaybe(root, ['grep', '-n', '-I', '--untracked', '-E', '-e', pattern, '--', ...(rel ? [rel] : [])]);
          const lines = (out ?? '').split('\n').filter(Boolean);
          return ok(lines.length ? lines.slice(0, 300).join('\n') : 'no matches');
        }
        case 'write_file': {
          const content = stringArg(call, 'content');
          if (!rel) return refuse('write_file needs a file path');
          if (content === undefined) return refuse('write_file needs "content" as a string');
          await fs.mkdir(dirname(full), { recursive: true });
          await fs.writeFile(full, content);
          edits++;
          return ok(`wrote ${rel} (${Buffer.byteLength(content)} bytes)`);
        }
        case 'replace_in_file': {
          const oldText = stringArg(call, 'old_text');
          const newText = stringArg(call, 'new_text');
          if (!oldText || newText === undefined) return refuse('replace_in_file needs non-empty "old_text" and a "new_text" string');
          const text = await fs.readFile(full, 'utf8').catch(() => undefined);
          if (text === undefined) return refuse(`no file "${rel}"; use write_file to create it`);
          const count = text.split(oldText).length - 1;
          if (count === 0) return refuse(`old_text was not found in ${rel}; read the file again and copy the text exactly (whitespace matters)`);
          if (count > 1) return refuse(`old_text matches ${count} places in ${rel}; include more surrounding lines so it matches exactly once`);
          await fs.writeFile(full, text.replace(oldText, () => newText));
          edits++;
          return ok(`replaced 1 occurrence in ${rel}`);
        }
        default:
          return refuse(`unknown tool ${call.name}`);
      }
    } catch (err) {
      return refuse(`${call.name} failed: ${(err as Error).message.split('\n')[0]}`);
    }
  };
  return { specs: [...READ_TOOL_SPECS, ...EDIT_TOOL_SPECS], run, edits: () => edits };
}
