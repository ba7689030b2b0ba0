/**
 * The model's tools over the context store: `context_write({key, content})`,
 * `context_read({ref})`, `context_list({})`. Agents share knowledge through these records, never
 * by calling each other: the planner records what it found out about the repository, the executor
 * (and a later task on the same repository) reads it.
 *
 * Confinement: a step sees the workspace scope, its task's repository scope and its task's scope,
 * and of those only the keys its security profile's `context` patterns grant;
 * it writes to the repository scope (or, with `scope: "task"`, its task's). Only knowledge:
 * a secret can be neither written nor read through a tool (the refusal says so), whatever the ref.
 * Every argument is hostile: keys and refs are checked against fixed patterns, content is capped
 * (config `context.maxContentBytes`); a bad call gets a refusal the model can read and writes
 * nothing. Writes record the writer (step and task).
 */
import type { Actor } from '../../core/actor.js';
import { formatRef, isEntryKey, parseRef, repoScopeName, scopeText, type Scope } from '../../core/context/entry.js';
import { listContext, readContext, writeContext } from '../../core/context/store.js';
import { describeError } from '../../core/errors.js';
import { grantedContext, type Profile } from '../../core/security-profiles.js';
import type { ToolCall, ToolSpec } from '../../providers/types.js';
import { ok, refuse, type Toolbox, type ToolOutcome } from './common.js';

export const CONTEXT_TOOL_SPECS: ToolSpec[] = [
  {
    name: 'context_write',
    description: 'Record a finding for later steps and later tasks on this repository (a new version if the key exists). The first line is its summary. Knowledge only: never put credentials here.',
    parameters: { type: 'object', properties: { key: { type: 'string', description: 'short name: letters, digits, ".", "_", "-" (e.g. "test-layout")' }, content: { type: 'string' }, scope: { type: 'string', enum: ['repo', 'task'], description: 'repo (default): shared with later tasks on this repository; task: this task only' } }, required: ['key', 'content'] },
  },
  { name: 'context_read', description: 'Read a context entry by its ref (as listed, e.g. "repo:app/test-layout").', parameters: { type: 'object', properties: { ref: { type: 'string' } }, required: ['ref'] } },
  { name: 'context_list', description: 'List the context entries this step can read: ref and one-line summary.', parameters: { type: 'object', properties: {} } },
];
export const CONTEXT_TOOL_NAMES = new Set(CONTEXT_TOOL_SPECS.map((s) => s.name));
const MAX_LISTED = 200;

export interface ContextToolsOptions {
  /** The step (`planner`, `executor`, an agent's name). */
  role: string;
  taskId: string;
  /** The task's `repo` field, if any. */
  repo?: string;
  actor: Actor;
  /** The step's security profile: its `context` patterns say which knowledge keys it may read. */
  profile?: Profile;
}

/** The scopes a step of this task can read, most specific first. */
export function stepScopes(o: Pick<ContextToolsOptions, 'taskId' | 'repo'>): Scope[] {
  return [{ kind: 'task', id: o.taskId }, ...(o.repo ? [{ kind: 'repo', name: repoScopeName(o.repo) } as const] : []), { kind: 'workspace' }];
}

export function contextTools(ws: import('../../core/workspace.js').Workspace, o: ContextToolsOptions): Toolbox {
  const scopes = stepScopes(o);
  const visible = new Set(scopes.map(scopeText));
  const readable = (key: string) => !o.profile || grantedContext(o.profile, [key]).refused.length === 0;
  const run = async (call: ToolCall): Promise<ToolOutcome> => {
    try {
      switch (call.name) {
        case 'context_write': {
          const { key, content, scope } = call.args as Record<string, unknown>;
          if (!isEntryKey(key)) return refuse('context_write refused: "key" must be 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit');
          if (typeof content !== 'string' || !content.trim()) return refuse('context_write refused: "content" must be non-empty text');
          if (scope !== undefined && scope !== 'repo' && scope !== 'task') return refuse('context_write refused: "scope" is "repo" or "task"');
          const target: Scope = scope === 'task' || !o.repo ? { kind: 'task', id: o.taskId } : { kind: 'repo', name: repoScopeName(o.repo) };
          const existing = await readContext(ws, { scope: target, key }).catch(() => undefined);
          if (existing?.kind === 'secret') return refuse(`context_write refused: ${existing.ref} is a secret; secrets cannot be written through tools`);
          const view = await writeContext(ws, { scope: target, key, kind: 'knowledge', value: content, actor: o.actor, writer: { role: o.role, task: o.taskId } });
          return ok(`recorded ${view.ref}@${view.version}: ${view.summary}`);
        }
        case 'context_read': {
          const ref = parseRef(call.args.ref);
          if (!visible.has(scopeText(ref.scope))) return refuse(`context_read refused: ${formatRef(ref.scope, ref.key)} is outside this task's scopes (${[...visible].join(', ')})`);
          if (o.profile && !readable(ref.key)) return refuse(`context_read refused: ${grantedContext(o.profile, [ref.key]).refused[0]!.reason}`);
          const view = await readContext(ws, ref);
          if (view.kind === 'secret') return refuse(`context_read refused: ${view.ref} is a secret; secrets are never given to a model (a step that needs one gets it as an environment variable of its sandboxed command)`);
          return ok(`${view.ref}@${view.version} (written by ${view.writer ? `${view.writer.role}${view.writer.task ? ` for task ${view.writer.task}` : ''}` : view.writtenBy}, ${view.at})\n\n${view.content}`);
        }
        case 'context_list': {
          const entries = (await listContext(ws, { scopes, kind: 'knowledge' })).filter((e) => readable(e.key));
          if (!entries.length) return ok('no context entries yet');
          const lines = entries.slice(0, MAX_LISTED).map((e) => `${e.ref}@${e.version}: ${e.summary}`);
          return ok(lines.join('\n') + (entries.length > MAX_LISTED ? `\n[${entries.length - MAX_LISTED} more not shown]` : ''));
        }
        default:
          return refuse(`unknown tool ${call.name}`);
      }
    } catch (err) {
      const { code, message } = describeError(err);
      return refuse(`${call.name} refused [${code}]: ${message}`);
    }
  };
  return { specs: CONTEXT_TOOL_SPECS, run };
}

/**
 * The context refs a step's opening message carries: ref + one-line summary of the knowledge
 * entries it can read, most specific scope first, at most `max`; the model reads what it needs.
 */
export async function contextRefsText(ws: import('../../core/workspace.js').Workspace, o: Pick<ContextToolsOptions, 'taskId' | 'repo' | 'profile'>, max = ws.config.context.maxRefsInPrompt): Promise<string> {
  if (max <= 0 || (o.profile && !o.profile.tools.includes('context_read'))) return '';
  const entries: Array<{ ref: string; version: number; summary: string }> = [];
  for (const scope of stepScopes(o)) {
    entries.push(...(await listContext(ws, { scopes: [scope], kind: 'knowledge' })).filter((e) => !o.profile || grantedContext(o.profile, [e.key]).refused.length === 0));
  }
  if (!entries.length) return 'Context entries: none yet.';
  const shown = entries.slice(0, max).map((e) => `- ${e.ref}@${e.version}: ${e.summary}`);
  return ['Context entries (read one with context_read; list all with context_list):', ...shown, ...(entries.length > max ? [`- ... and ${entries.length - max} more (context_list)`] : [])].join('\n');
}
