import { isAbsolute, join } from 'node:path';
import type { ModelRoleConfig } from '../core/config.js';
import type { Lease } from '../core/leases.js';
import type { Workspace } from '../core/workspace.js';
import { OrchestraError } from '../core/errors.js';
import { costUsd, DEFAULT_PRICE_TABLE, findPrice } from '../providers/pricing.js';
import { createProvider } from '../providers/factory.js';
import type { ModelProvider, ModelReply, ModelRequest } from '../providers/types.js';

export type ModelRole = 'planner' | 'executor' | 'agent';

export interface RoleModel { provider: ModelProvider; settings: ModelRoleConfig }

/** Builds the provider for a role from the workspace config (scripts resolve against the workspace). */
export function roleModel(ws: Workspace, settings: ModelRoleConfig): RoleModel {
  const scriptFile = settings.scriptFile && !isAbsolute(settings.scriptFile) ? join(ws.paths.root, settings.scriptFile) : settings.scriptFile;
  const provider = createProvider({ kind: settings.provider, model: settings.model, streaming: settings.streaming, ...(scriptFile ? { scriptFile } : {}) });
  return { provider, settings };
}

/**
 * Refuses a role whose model has no price while a dollar limit applies: an unpriced model would
 * be counted at $0 and silently switch the limit off. (The scripted provider spends nothing.)
 */
export function assertPriced(ws: Workspace, model: RoleModel): void {
  if (model.settings.provider === 'scripted') return;
  if (findPrice(model.settings.model, { ...DEFAULT_PRICE_TABLE, ...ws.config.prices })) return;
  throw new OrchestraError('INVALID_INPUT', `model "${model.settings.model}" has no price, so the cost limit could not be kept: add it to config "prices" ({"${model.settings.model}": {"inputPerMTok": ..., "outputPerMTok": ...}})`);
}

/**
 * One model call whose reply is recorded (fenced by the lease) before the caller acts on it, with
 * the model, a hash of the prompt set, token usage and cost. Replay reads these records and never
 * calls a model.
 */
export async function recordedTurn(ws: Workspace, lease: Lease, role: ModelRole, model: RoleModel, promptHash: string, request: Omit<ModelRequest, 'model' | 'maxOutputTokens'>): Promise<{ reply: ModelReply; costUsd: number }> {
  const reply = await model.provider.complete({ ...request, model: model.settings.model, maxOutputTokens: model.settings.maxOutputTokens });
  // Estimated counts (a scripted model) are not priced: that would report money never spent.
  const cost = reply.usageEstimated
    ? { usd: 0, priced: false }
    : costUsd(reply.usage, reply.model || model.settings.model, { ...DEFAULT_PRICE_TABLE, ...ws.config.prices });
  await lease.append([{
    type: 'model.called',
    data: {
      role, provider: model.provider.kind, model: reply.model || model.settings.model, promptHash,
      inputTokens: reply.usage.inputTokens, outputTokens: reply.usage.outputTokens, costUsd: cost.usd, priced: cost.priced,
      stopReason: reply.stopReason, text: reply.text, toolCalls: reply.toolCalls,
    },
  }]);
  return { reply, costUsd: cost.usd };
}
