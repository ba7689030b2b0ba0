import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { createExclusive } from '../core/fsutil.js';
import { packageFacts } from '../core/package-root.js';
import type { Workspace } from '../core/workspace.js';
import { promptHash } from '../providers/prompt-hash.js';

/** The prompts shipped with Orchestra; a workspace may override any file under its own ai/. */
export const PACKAGE_AI_DIR = join(packageFacts().root, 'ai');

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

/**
 * The system prompt of `files` (and `extra` texts after them, e.g. an agent's own prompt) and
 * the hash that `model.called` records. The text of each distinct hash is kept once, as
 * `prompts/<hash>.md` in the workspace (committed with the records), so a recorded hash can
 * always be traced to the exact system text the model got.
 */
export async function loadPromptSet(ws: Workspace, files: readonly string[], extra: readonly string[] = []): Promise<PromptSet> {
  const texts = [...(await Promise.all(files.map((f) => readPrompt(ws, f)))), ...extra];
  const set = { system: texts.map((t) => t.trim()).join('\n\n---\n\n'), hash: promptHash(texts), files: [...files] };
  await recordPromptText(ws, set.hash, set.system);
  return set;
}

/** Hashes whose text this process has stored (or found stored), per workspace root. */
const storedPrompts = new Map<string, Set<string>>();

/** Writes `prompts/<hash>.md` once (exclusive create: an existing file is never replaced). */
export async function recordPromptText(ws: Workspace, hash: string, system: string): Promise<void> {
  const known = storedPrompts.get(ws.paths.root) ?? new Set<string>();
  storedPrompts.set(ws.paths.root, known);
  if (known.has(hash)) return;
  await createExclusive(ws.paths.promptText(hash), system, { fsync: ws.config.fsync });
  ws.journal.markFile(ws.paths.promptText(hash));
  known.add(hash);
}
