import type { ToolCall, ToolSpec } from '../../providers/types.js';
import { git, gitMaybe } from '../../vcs/git.js';
import { assertNoLinks, ConfinedPathError, readConfined, writeConfined } from './confined-fs.js';
import { ok, READ_TOOL_SPECS, refuse, safeRelative, stringArg, type Toolbox, type ToolOutcome } from './common.js';

export const EDIT_TOOL_SPECS: ToolSpec[] = [
  { name: 'write_file', description: 'Create or overwrite a file with the given content (use for new files).', parameters: { type: 'object', properties: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path', 'content'] } },
  { name: 'replace_in_file', description: 'Replace old_text with new_text in a file. old_text must match exactly once.', parameters: { type: 'object', properties: { path: { type: 'string' }, old_text: { type: 'string' }, new_text: { type: 'string' } }, required: ['path', 'old_text', 'new_text'] } },
];

/** Largest file read_file returns in full; longer files are cut (the model reads ranges via search). */
const MAX_READ_BYTES = 1024 * 1024;

const outside = (call: ToolCall) => refuse(`refused: "${String(call.args.path)}" is outside the worktree; paths must be relative to the repository root`);

/** The executor's file tools over its own worktree. Edits touch only files inside it. */
export function worktreeTools(root: string): Toolbox & { edits: () => number } {
  let edits = 0;
  const run = async (call: ToolCall): Promise<ToolOutcome> => {
    const rel = safeRelative(call.args.path);
    if (rel === undefined) return outside(call);
    try {
      switch (call.name) {
        case 'list_files': {
          await assertNoLinks(root, rel);
          const out = await git(root, ['--literal-pathspecs', 'ls-files', '--cached', '--others', '--exclude-standard', '--', ...(rel ? [rel] : [])]);
          const files = [...new Set(out.split('\n').filter(Boolean))];
          return ok(files.length ? files.slice(0, 2000).join('\n') : `no files under "${rel}"`);
        }
        case 'read_file': {
          if (!rel) return refuse('read_file needs a file path');
          const { text, truncatedBytes } = await readConfined(root, rel, MAX_READ_BYTES);
          return ok(truncatedBytes ? `${text}\n[... ${truncatedBytes} more bytes not shown]` : text);
        }
        case 'search': {
          const pattern = stringArg(call, 'pattern');
          if (!pattern) return refuse('search needs a pattern');
          await assertNoLinks(root, rel);
          const out = await gitMaybe(root, ['--literal-pathspecs', 'grep', '-n', '-I', '--untracked', '-E', '-e', pattern, '--', ...(rel ? [rel] : [])]);
          const lines = (out ?? '').split('\n').filter(Boolean);
          return ok(lines.length ? lines.slice(0, 300).join('\n') : 'no matches');
        }
        case 'write_file': {
          const content = stringArg(call, 'content');
          if (!rel) return refuse('write_file needs a file path');
          if (content === undefined) return refuse('write_file needs "content" as a string');
          await writeConfined(root, rel, content);
          edits++;
          return ok(`wrote ${rel} (${Buffer.byteLength(content)} bytes)`);
        }
        case 'replace_in_file': {
          const oldText = stringArg(call, 'old_text');
          const newText = stringArg(call, 'new_text');
          if (!oldText || newText === undefined) return refuse('replace_in_file needs non-empty "old_text" and a "new_text" string');
          if (!rel) return refuse('replace_in_file needs a file path');
          const { text, truncatedBytes } = await readConfined(root, rel, MAX_READ_BYTES).catch((err) => {
            if (err instanceof ConfinedPathError && err.message.startsWith('no file')) throw new ConfinedPathError(`no file "${rel}"; use write_file to create it`);
            throw err;
          });
          if (truncatedBytes) return refuse(`${rel} is too large to edit with replace_in_file (over ${MAX_READ_BYTES} bytes)`);
          const count = text.split(oldText).length - 1;
          if (count === 0) return refuse(`old_text was not found in ${rel}; read the file again and copy the text exactly (whitespace matters)`);
          if (count > 1) return refuse(`old_text matches ${count} places in ${rel}; include more surrounding lines so it matches exactly once`);
          await writeConfined(root, rel, text.replace(oldText, () => newText));
          edits++;
          return ok(`replaced 1 occurrence in ${rel}`);
        }
        default:
          return refuse(`unknown tool ${call.name}`);
      }
    } catch (err) {
      if (err instanceof ConfinedPathError) return refuse(err.message);
      return refuse(`${call.name} failed: ${(err as Error).message.split('\n')[0]}`);
    }
  };
  return { specs: [...READ_TOOL_SPECS, ...EDIT_TOOL_SPECS], run, edits: () => edits };
}
