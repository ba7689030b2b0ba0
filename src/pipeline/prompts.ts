import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OrchestraError } from '../core/errors.js';
import type { Workspace } from '../core/workspace.js';
import { promptHash } from '../providers/prompt-hash.js';

/** The prompts shipped with Orchestra; a workspace may override any file under its own ai/. */
export const PACKAGE_AI_DIR = fileURLToPath(new URL('../../../ai/', import.meta.url));

export const PROMPT_SETS = {
  planner: ['system/base.md', 'planner/role.md', 'planner/constraints.md'],
  executor: ['system/base.md', 'executor/role.md', 'executor/coding_rules.md', 'testing/rules.md'],
} as const;

/** Reads a prompt file now (edits take effect on the next call, no restart). */
export async function readPrompt(ws: Workspace, relative: string): Promise<string> {
  for (const dir of [join(ws.paths.root, 'ai'), PACKAGE_AI_DIR]) {
    try {
      return await fs.readFile(join(dir, relative), 'utf8');
    } catch {
      continue;
    }
  }
  throw new OrchestraError('NOT_FOUND', `prompt file ai/${relative} is missing`);
}

export interface PromptSet { system: string; hash: string; files: string[] }

export async function loadPromptSet(ws: Workspace, files: readonly string[]): Promise<PromptSet> {
  const texts = await Promise.all(files.map((f) => readPrompt(ws, f)));
  return { system: texts.map((t) => t.trim()).join('\n\n---\n\n'), hash: promptHash(texts), files: [...files] };
}
