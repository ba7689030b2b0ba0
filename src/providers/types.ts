/**
 * Neutral model-provider interface used by the planner (Claude) and executor (Gemini)
 * tool-calling loops. Provider modules only `import type` from here, so `createProvider`
 * can live in this file without a runtime import cycle.
 */
import { z } from 'zod';
import { OrchestraError } from '../core/errors.js';
import { AnthropicProvider } from './anthropic.js';
import { GeminiProvider } from './gemini.js';
import { formatZodIssues } from './common.js';
export { DEFAULT_MAX_OUTPUT_TOKENS } from './common.js';
import { ScriptedProvider } from './scripted.js';

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
}

export interface ModelReply {
  text: string;
  toolCalls: ToolCall[];
  usage: Usage;
  model: string;
  stopReason: string;
}

export type ProviderKind = 'anthropic' | 'gemini' | 'scripted';

export interface ModelProvider {
  readonly kind: ProviderKind;
  complete(req: ModelRequest): Promise<ModelReply>;
}

export interface ProviderSettings {
  kind: ProviderKind;
  model: string;
  /** Use the SDK's streaming API and assemble the final message (anthropic, gemini). */
  streaming?: boolean;
  /** Scripted provider: path to a JSON or YAML script file. */
  scriptFile?: string;
  /** Scripted provider: inline script, either `{ replies: [...] }` or the replies array itself. */
  script?: unknown;
  /** Per-attempt request timeout in milliseconds. */
  timeoutMs?: number;
  /** SDK-level retries on 408/429/5xx (default 2). */
  maxRetries?: number;
}

/** Unknown keys are stripped, so a larger config object can be passed as is. */
export const ProviderSettingsSchema = z.object({
  kind: z.enum(['anthropic', 'gemini', 'scripted']),
  model: z.string().min(1),
  streaming: z.boolean().optional(),
  scriptFile: z.string().min(1).optional(),
  script: z.unknown().optional(),
  timeoutMs: z.number().int().positive().optional(),
  maxRetries: z.number().int().min(0).max(10).optional(),
});

/** Validates provider settings read from a config file; INVALID_INPUT with a readable message. */
export function parseProviderSettings(raw: unknown): ProviderSettings {
  const parsed = ProviderSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new OrchestraError('INVALID_INPUT', `Invalid provider settings: ${formatZodIssues(parsed.error)}`);
  }
  return parsed.data as ProviderSettings;
}

export function createProvider(settings: ProviderSettings, env: NodeJS.ProcessEnv = process.env): ModelProvider {
  const s = parseProviderSettings(settings);
  switch (s.kind) {
    case 'anthropic':
      return new AnthropicProvider(s, env);
    case 'gemini':
      return new GeminiProvider(s, env);
    case 'scripted':
      return new ScriptedProvider(s);
  }
}
