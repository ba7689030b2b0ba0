import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Actor } from '../core/actor.js';
import { ModelRoleConfigSchema } from '../core/config.js';
import { describeError, OrchestraError } from '../core/errors.js';
import { parseFrontMatter } from '../core/front-matter.js';
import { claimTask, type Lease } from '../core/leases.js';
import { getArtifact, putArtifact } from '../core/ops/artifacts.js';
import { commentTask, moveTask } from '../core/ops/tasks.js';
import { readdirSafe } from '../core/fsutil.js';
import { isSlug } from '../core/ids.js';
import type { Workspace } from '../core/workspace.js';
import { profileFor, profileRef, toolRefusal, type Profile } from '../core/security-profiles.js';
import type { ChatMessage, ToolCall, ToolSpec } from '../providers/types.js';
import { roleModel } from './model-runtime.js';
import { runTurns } from './turns.js';
import { PACKAGE_AI_DIR, loadPromptSet } from './prompts.js';
import { contextTools, CONTEXT_TOOL_NAMES, CONTEXT_TOOL_SPECS } from './tools/context-tools.js';

/** Orchestra operations an agent may be granted, by name, in its front matter. */
const AGENT_TOOLS: Record<string, ToolSpec> = {
  task_show: { name: 'task_show', description: 'Show the task: title, description, state, fields, comments and latest plan.', parameters: { type: 'object', properties: {} } },
  task_comment: { name: 'task_comment', description: 'Add a comment to the task.', parameters: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } },
  task_move: { name: 'task_move', description: 'Move the task to another state allowed by its workstream.', parameters: { type: 'object', properties: { to: { type: 'string' }, reason: { type: 'string' } }, required: ['to'] } },
  artifact_put: { name: 'artifact_put', description: 'Store a text artifact at a path.', parameters: { type: 'object', properties: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path', 'content'] } },
  artifact_get: { name: 'artifact_get', description: 'Read a stored artifact.', parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] } },
  // The context store (knowledge only; scoped to the task, its repository and the workspace).
  ...Object.fromEntries(CONTEXT_TOOL_SPECS.map((spec) => [spec.name, spec])),
};

export const AgentDefSchema = z.object({
  name: z.string().refine(isSlug, 'lower-case letters, digits, - and _'),
  description: z.string().default(''),
  provider: ModelRoleConfigSchema.shape.provider,
  model: z.string().min(1),
  scriptFile: z.string().optional(),
  /** The model settings a role has (model-config.ts): an OpenAI-compatible server, its key, a fallback chain. */
  baseURL: ModelRoleConfigSchema.shape.baseURL,
  apiKeyEnv: ModelRoleConfigSchema.shape.apiKeyEnv,
  apiKey: ModelRoleConfigSchema.shape.apiKey,
  maxRetries: ModelRoleConfigSchema.shape.maxRetries,
  timeoutMs: ModelRoleConfigSchema.shape.timeoutMs,
  promptCaching: ModelRoleConfigSchema.shape.promptCaching,
  fallback: ModelRoleConfigSchema.shape.fallback,
  /** The tools it uses: they narrow its profile's tools (a tool the profile lacks is an error at load). */
  tools: z.array(z.enum(Object.keys(AGENT_TOOLS) as [string, ...string[]])).default([]),
  maxTurns: z.number().int().positive().max(50).default(10),
  /** Its security profile (config `security.profiles` or a built-in; default `agent`). */
  profile: z.string().min(1).max(100).optional(),
  /** Fields that narrow the profile further (security-config.ts ProfileInputSchema; they may only shrink it). */
  narrow: z.record(z.string(), z.unknown()).optional(),
  /** The secrets and context keys it reads: they narrow the profile's (and must be granted by it). */
  secrets: z.array(z.string()).optional(),
  context: z.array(z.string()).optional(),
});
export type AgentDef = z.infer<typeof AgentDefSchema> & { prompt: string; file: string; securityProfile: Profile };

async function agentFiles(ws: Workspace): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const dir of [join(PACKAGE_AI_DIR, 'agents'), join(ws.paths.root, 'ai', 'agents')]) {
    for (const name of await readdirSafe(dir)) if (name.endsWith('.md')) files.set(name.slice(0, -3), join(dir, name));
  }
  return files;
}

function parseAgent(ws: Workspace, file: string, text: string): AgentDef {
  const parsed = parseFrontMatter(text, `${file}: the front matter`);
  if (!parsed.present) throw new OrchestraError('INVALID_INPUT', `${file}: an agent needs YAML front matter (--- name: ... ---)`);
  const def = AgentDefSchema.safeParse(parsed.data);
  if (!def.success) throw new OrchestraError('INVALID_INPUT', `${file}: ${def.error.issues[0]!.path.join('.')}: ${def.error.issues[0]!.message}`);
  return { ...def.data, prompt: parsed.content.trim(), file, securityProfile: agentProfile(ws, def.data, file) };
}

/**
 * The agent's effective profile: the one its front matter names, narrowed by its `narrow`,
 * `tools`, `secrets` and `context`. A front matter that would widen the profile is refused here,
 * when the agent is loaded, with the rule named (INVALID_INPUT).
 */
function agentProfile(ws: Workspace, def: z.infer<typeof AgentDefSchema>, file: string): Profile {
  const narrow = { ...def.narrow, tools: def.tools, ...(def.secrets ? { secrets: def.secrets } : {}), ...(def.context ? { context: def.context } : {}) };
  try {
    return profileFor(ws.config, def.profile ?? 'agent', { by: `agent ${def.name}`, narrow });
  } catch (err) {
    const { message } = describeError(err);
    throw new OrchestraError('INVALID_INPUT', `${file}: ${message}`);
  }
}

export async function listAgents(ws: Workspace): Promise<AgentDef[]> {
  const agents: AgentDef[] = [];
  for (const [, file] of await agentFiles(ws)) agents.push(parseAgent(ws, file, await fs.readFile(file, 'utf8')));
  return agents.sort((a, b) => a.name.localeCompare(b.name));
}

export async function loadAgent(ws: Workspace, name: string): Promise<AgentDef> {
  const file = (await agentFiles(ws)).get(name);
  if (!file) throw new OrchestraError('NOT_FOUND', `no agent "${name}" (looked in ai/agents/)`);
  return parseAgent(ws, file, await fs.readFile(file, 'utf8'));
}

/**
 * Runs an agent against a task: its prompt, only the tools it declares, its model calls recorded
 * on the task. Uses the caller's lease (a trigger) or claims one for the run.
 */
export async function runAgent(ws: Workspace, name: string, taskId: string, actor: Actor, opts: { lease?: Lease; signal?: AbortSignal } = {}): Promise<{ ok: boolean; output: string; turns: number }> {
  const agent = await loadAgent(ws, name);
  const lease = opts.lease ?? (await claimTask(ws, taskId, { purpose: `agent:${name}`, owner: `agent:${name}@${actor.host ?? 'cli'}#${process.pid}`, ttlMs: ws.config.loops.leaseTtlMs, actor }));
  if (!lease) throw new OrchestraError('TASK_LOCKED', `task ${taskId} is being worked on; try again when its lease is free`);
  const agentActor: Actor = { kind: 'agent', name, ...(actor.host ? { host: actor.host } : {}), pid: process.pid };
  const { provider, model: modelName, scriptFile, baseURL, apiKeyEnv, apiKey, maxRetries, timeoutMs, promptCaching, fallback } = agent;
  const model = roleModel(ws, ModelRoleConfigSchema.parse({ provider, model: modelName, scriptFile, baseURL, apiKeyEnv, apiKey, maxRetries, timeoutMs, promptCaching, fallback, streaming: false, maxOutputTokens: 4096 }));
  const tools = agent.tools.map((t) => AGENT_TOOLS[t]!);
  const maxTurns = Math.min(agent.maxTurns, agent.securityProfile.budget.maxTurns ?? Infinity);
  // The agent's own prompt is part of the set, so the recorded hash names the whole system text.
  const prompt = await loadPromptSet(ws, ['system/base.md'], [agent.prompt]);
  const messages: ChatMessage[] = [{ role: 'user', text: `Task id: ${taskId}. Do your work on this task now.` }];
  let output = '';
  let ok = false;
  let turns = 0;
  try {
    const outcome = await runTurns<string>({
      ws, lease, role: 'agent', model, messages, tools, maxTurns, profile: agent.securityProfile,
      ...(opts.signal ? { signal: opts.signal } : {}),
      prompts: async () => prompt,
      onText: (reply) => ({ done: reply.text.trim() }),
      runCall: (call) => runTool(ws, agent, taskId, agentActor, call),
    });
    turns = outcome.turns;
    ok = outcome.kind === 'done';
    output = outcome.kind === 'done' ? outcome.value : outcome.kind === 'aborted' ? `agent ${name} was stopped` : `agent ${name} did not finish within ${maxTurns} turns`;
  } catch (err) {
    output = describeError(err).message;
  }
  await lease.append([{ type: 'agent.ran', data: { agent: name, ok, turns, output: output.slice(0, 4000), ...profileRef(agent.securityProfile) } }]).catch(() => undefined);
  if (!opts.lease) await lease.release([], ok ? 'agent done' : 'agent failed').catch(() => undefined);
  return { ok, output, turns };
}

async function runTool(ws: Workspace, agent: AgentDef, taskId: string, actor: Actor, call: ToolCall): Promise<{ output: string; isError: boolean }> {
  const reply = (output: string, isError = false) => ({ output, isError });
  const refusal = toolRefusal(agent.securityProfile, call.name);
  if (refusal || !agent.tools.includes(call.name)) return reply(`refused: agent ${agent.name} may not use "${call.name}" (${refusal ?? 'not in its tools'})`, true);
  const arg = (k: string) => (typeof call.args[k] === 'string' ? (call.args[k] as string) : '');
  if (CONTEXT_TOOL_NAMES.has(call.name)) {
    const repo = (await ws.task(taskId)).fields.repo;
    return contextTools(ws, { role: agent.name, taskId, ...(typeof repo === 'string' ? { repo } : {}), actor, profile: agent.securityProfile }).run(call);
  }
  try {
    switch (call.name) {
      case 'task_show': {
        const t = await ws.task(taskId);
        const plan = t.dev.plans.at(-1);
        return reply(JSON.stringify({ id: t.id, title: t.title, description: t.description, state: t.state, workstream: t.workstream, tags: t.tags, fields: t.fields, comments: t.comments, plan: plan ? await ws.readWorkspaceFile(plan.file) : null }, null, 2));
      }
      case 'task_comment': await commentTask(ws, taskId, arg('text'), { actor }); return reply('comment added');
      case 'task_move': return reply(`moved to ${(await moveTask(ws, taskId, arg('to'), { actor, reason: arg('reason') || `by agent ${agent.name}` })).state}`);
      case 'artifact_put': return reply(`stored ${(await putArtifact(ws, arg('path'), Buffer.from(arg('content')), actor, taskId)).path}`);
      case 'artifact_get': return reply((await getArtifact(ws, arg('path'))).content.toString('utf8'));
      default: return reply(`unknown tool ${call.name}`, true);
    }
  } catch (err) {
    return reply(describeError(err).message, true);
  }
}
