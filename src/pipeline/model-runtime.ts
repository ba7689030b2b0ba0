import { isAbsolute, join } from 'node:path';
import type { ModelRoleConfig } from '../core/config.js';
import type { ModelEndpoint } from '../core/model-config.js';
import type { Lease } from '../core/leases.js';
import type { Workspace } from '../core/workspace.js';
import { OrchestraError } from '../core/errors.js';
import { costUsd, DEFAULT_PRICE_TABLE, findPrice } from '../providers/pricing.js';
import { createChain } from '../providers/factory.js';
import type { ModelProvider, ModelReply, ModelRequest, ProviderSettings } from '../providers/types.js';

export type ModelRole = 'planner' | 'executor' | 'agent';

export interface RoleModel { provider: ModelProvider; settings: ModelRoleConfig }

/**
 * Builds the provider for a role from the workspace config (scripts resolve against the
 * workspace): the primary, and its `fallback` entries as one chain when there are any.
 */
export function roleModel(ws: Workspace, settings: ModelRoleConfig): RoleModel {
  const provider = createChain([settings, ...settings.fallback].map((endpoint) => providerSettings(ws, endpoint)));
  return { provider, settings };
}

function providerSettings(ws: Workspace, e: ModelEndpoint): ProviderSettings {
  const scriptFile = e.scriptFile && !isAbsolute(e.scriptFile) ? join(ws.paths.root, e.scriptFile) : e.scriptFile;
  return {
    kind: e.provider, model: e.model, streaming: e.streaming, promptCaching: e.promptCaching,
    ...(scriptFile ? { scriptFile } : {}),
    ...(e.baseURL ? { baseURL: e.baseURL } : {}),
    ...(e.apiKeyEnv ? { apiKeyEnv: e.apiKeyEnv } : {}),
    ...(e.apiKey ? { apiKey: e.apiKey } : {}),
    ...(e.maxRetries !== undefined ? { maxRetries: e.maxRetries } : {}),
    ...(e.timeoutMs !== undefined ? { timeoutMs: e.timeoutMs } : {}),
  };
}

/**
 * Refuses a role whose model (or any model of its fallback chain) has no price while a dollar
 * limit applies: an unpriced model would be counted at $0 and silently switch the limit off. The
 * scripted provider spends nothing; neither does a local OpenAI-compatible server (a loopback
 * `baseURL`, or `apiKey: "none"`): its calls are recorded at $0 with `priced: false`.
 */
export function assertPriced(ws: Workspace, model: RoleModel): void {
  for (const link of [model.settings, ...model.settings.fallback]) {
    if (link.provider === 'scripted' || isLocalEndpoint(link)) continue;
    if (findPrice(link.model, { ...DEFAULT_PRICE_TABLE, ...ws.config.prices })) continue;
    throw new OrchestraError('INVALID_INPUT', `model "${link.model}" has no price, so the cost limit could not be kept: add it to config "prices" ({"${link.model}": {"inputPerMTok": ..., "outputPerMTok": ...}})`);
  }
}

/** An OpenAI-compatible server on this machine, or one that takes no key: it costs nothing we can count. */
export function isLocalEndpoint(e: Pick<ModelEndpoint, 'provider' | 'baseURL' | 'apiKey'>): boolean {
  if (e.provider !== 'openai') return false;
  if (e.apiKey === 'none') return true;
  if (!e.baseURL) return false;
  const host = new URL(e.baseURL).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * One model call whose reply is recorded (fenced by the lease) before the caller acts on it, with
 * the configured model (which prices it; the name the server answered with is `servedModel`), a hash of the prompt set, token usage (cached input read and written counted apart)
 * and cost. When a fallback served the turn, the record names the provider that did and the ones
 * that failed before it, with why (statuses and messages, never keys). Replay reads these records
 * and never calls a model.
 */
export async function recordedTurn(ws: Workspace, lease: Lease, role: ModelRole, model: RoleModel, promptHash: string, request: Omit<ModelRequest, 'model' | 'maxOutputTokens'>): Promise<{ reply: ModelReply; costUsd: number }> {
  const reply = await model.provider.complete({ ...request, model: model.settings.model, maxOutputTokens: model.settings.maxOutputTokens });
  const provider = reply.servedBy?.provider ?? model.provider.kind;
  // Priced by the configured model of the link that served the turn, never by the name the server
  // answers with: a gateway or hostile server naming an unknown model would cost $0 and switch the
  // dollar limit off. The served name is recorded for information only.
  const modelName = reply.servedBy?.model ?? model.settings.model;
  const servedModel = reply.model && reply.model !== modelName ? reply.model.slice(0, 200) : undefined;
  // Estimated counts (a scripted model) are not priced: that would report money never spent.
  const cost = reply.usageEstimated
    ? { usd: 0, priced: false }
    : costUsd(reply.usage, modelName, { ...DEFAULT_PRICE_TABLE, ...ws.config.prices }, provider);
  const { cachedInputTokens = 0, cacheWriteTokens = 0 } = reply.usage;
  await lease.append([{
    type: 'model.called',
    data: {
      role, provider, model: modelName, ...(servedModel ? { servedModel } : {}), promptHash,
      inputTokens: reply.usage.inputTokens, outputTokens: reply.usage.outputTokens,
      ...(cachedInputTokens ? { cachedInputTokens } : {}), ...(cacheWriteTokens ? { cacheWriteTokens } : {}),
      costUsd: cost.usd, priced: cost.priced,
      ...(reply.fallbacks?.length ? { fallbackFrom: reply.fallbacks } : {}),
      stopReason: reply.stopReason, text: reply.text, toolCalls: reply.toolCalls,
    },
  }]);
  return { reply, costUsd: cost.usd };
}
