import { git, gitMaybe } from '../../vcs/git.js';
import type { ToolCall } from '../../providers/types.js';
import { ok, READ_TOOL_SPECS, refuse, safeRelative, stringArg, type Toolbox, type ToolOutcome } from './common.js';

/**
 * The planner's read-only view of the repository at one commit (the base), read from git
 * objects: nothing is checked out and nothing can be written.
 */
export function repoReader(repoPath: string, commit: string): Toolbox {
  const run = async (call: ToolCall): Promise<ToolOutcome> => {
    const path = safeRelative(call.args.path);
    if (path === undefined) return refuse(`refused: "${String(call.args.path)}" is outside the repository`);
    try {
      switch (call.name) {
        case 'list_files': {
          const out = await git(repoPath, ['--literal-pathspecs', 'ls-tree', '-r', '--name-only', commit, '--', ...(path ? [path] : [])]);
          const files = out.split('\n').filter(Boolean);
          return ok(files.length ? files.slice(0, 2000).join('\n') + (files.length > 2000 ? `\n[${files.length - 2000} more]` : '') : `no files under "${path}"`);
        }
        case 'read_file': {
          if (!path) return refuse('read_file needs a file path');
          const text = await gitMaybe(repoPath, ['show', `${commit}:${path}`]);
          return text === null ? refuse(`no file "${path}" in the repository (use list_files)`) : ok(text);
        }
        case 'search': {
          const pattern = stringArg(call, 'pattern');
          if (!pattern) return refuse('search needs a pattern');
          const out = await gitMaybe(repoPath, ['--literal-pathspecs', 'grep', '-n', '-I', '-E', '-e', pattern, commit, '--', ...(path ? [path] : [])]);
          const lines = (out ?? '').split('\n').filter(Boolean).map((l) => l.slice(commit.length + 1));
          return ok(lines.length ? lines.slice(0, 300).join('\n') + (lines.length > 300 ? `\n[${lines.length - 300} more matches]` : '') : 'no matches');
        }
        default:
          return refuse(`unknown tool ${call.name}`);
      }
    } catch (err) {
      return refuse(`${call.name} failed: ${(err as Error).message.split('\n')[0]}`);
    }
  };
  return { specs: READ_TOOL_SPECS, run };
}
