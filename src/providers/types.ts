/**
 * Neutral model-provider interface used by the planner (Claude) and executor (Gemini)
 * tool-calling loops. Concrete providers import from here; the factory that knows them all
 * is in factory.ts, so nothing here depends on them.
 */
import { z } from 'zod';
import { ModelEndpointSchema, ProviderKindSchema } from '../core/model-config.js';

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema object describing the tool's arguments. */
  parameters: Record<string, unknown>;
}

export interface ToolCall {
  id: string;
  name: string;
  args: Record<string, unknown>;
  /**
   * Opaque provider token that must be sent back unchanged with this call in later turns
   * (Gemini `thoughtSignature`; thinking models reject history without it). Persist it
   * together with the call.
   */
  signature?: string;
}

export interface ToolResult {
  callId: string;
  name: string;
  output: string;
  isError?: boolean;
}

export type ChatMessage =
  | { role: 'user'; text: string }
  | { role: 'assistant'; text?: string; toolCalls: ToolCall[] }
  | { role: 'tool'; results: ToolResult[] };

export interface ModelRequest {
  model: string;
  system: string;
  messages: ChatMessage[];
  tools: ToolSpec[];
  maxOutputTokens?: number;
  signal?: AbortSignal;
}

export interface Usage {
  /** All prompt tokens, cached ones included. */
  inputTokens: number;
  /** All generated tokens, thinking tokens included. */
  outputTokens: number;
  /** Of `inputTokens`, those read from the provider's prompt cache (priced lower). */
  cachedInputTokens?: number;
  /** Of `inputTokens`, those written to the prompt cache (Anthropic prices them higher). */
  cacheWriteTokens?: number;
}

/** A provider of a fallback chain that could not serve a turn, and why (never a key). */
export interface FallbackFailure {
  provider: ProviderKind;
  model: string;
  reason: string;
  status?: number;
}

export interface ModelReply {
  text: string;
  toolCalls: ToolCall[];
  usage: Usage;
  model: string;
  stopReason: string;
  /** The token counts are the provider's own guess (a scripted model): budgets use them, prices do not. */
  usageEstimated?: boolean;
  /** Which provider answered, when it is not the one the role names first (a fallback chain). */
  servedBy?: { provider: ProviderKind; model: string };
  /** The providers tried before the one that answered, in order. */
  fallbacks?: FallbackFailure[];
}

export type ProviderKind = z.infer<typeof ProviderKindSchema>;

export interface ModelProvider {
  readonly kind: ProviderKind;
  complete(req: ModelRequest): Promise<ModelReply>;
}

/** Unknown keys are stripped, so a larger config object can be passed as is. */
export const ProviderSettingsSchema = z.object({
  kind: ProviderKindSchema,
  model: z.string().min(1),
  /** Use the SDK's streaming API and assemble the final message (anthropic, gemini). */
  streaming: z.boolean().optional(),
  /** Scripted provider: path to a JSON or YAML script file. */
  scriptFile: z.string().min(1).optional(),
  /** Scripted provider: inline script, either `{ replies: [...] }` or the replies array itself. */
  script: z.unknown().optional(),
  /** Per-attempt request timeout in milliseconds. */
  timeoutMs: z.number().int().positive().optional(),
  /** SDK-level retries on 408/429/5xx (default 2). */
  maxRetries: z.number().int().min(0).max(10).optional(),
  /** OpenAI-compatible: the server's base URL, the key's variable, or `apiKey: "none"` (config: model-config.ts). */
  baseURL: ModelEndpointSchema.shape.baseURL,
  apiKeyEnv: ModelEndpointSchema.shape.apiKeyEnv,
  apiKey: ModelEndpointSchema.shape.apiKey,
  /** Anthropic prompt caching (default on). */
  promptCaching: z.boolean().optional(),
});
export type ProviderSettings = z.infer<typeof ProviderSettingsSchema>;

