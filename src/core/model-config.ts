import { z } from 'zod';
import { isSecretName } from './env-secrets.js';

/**
 * The model settings of a role (`planner`, `executor`) and of an agent's front matter: which
 * provider and model, where to reach it, where its key comes from, its fallback chain, prompt
 * caching, and the price table's entry shape. Core, because the config schema is; the providers
 * layer reads the same schemas (one source for the provider kinds and the settings).
 *
 * Invariants: a key is never in the config, only the NAME of the variable holding it
 * (`apiKeyEnv`, which must look like a secret so its value is masked wherever output is shown);
 * `apiKey: "none"` says a server needs no key (a local Ollama, vLLM, llama.cpp or LM Studio);
 * a fallback entry has no fallback of its own (the chain is flat and finite).
 */

/** The model providers there are: one list for config, agents and the provider factory. */
export const ProviderKindSchema = z.enum(['anthropic', 'gemini', 'openai', 'scripted']);

/** Output-token cap of one model reply when a role does not set `maxOutputTokens`. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 8192;

/** USD per million tokens; cached reads and cache writes default to the provider's multiple of input. */
export const PriceSchema = z.object({
  inputPerMTok: z.number().min(0),
  outputPerMTok: z.number().min(0),
  /** Cached input tokens read (default: Anthropic 0.1x, OpenAI 0.5x, Gemini 0.25x of input). */
  cachedInputPerMTok: z.number().min(0).optional(),
  /** Input tokens written to the cache (default: Anthropic 1.25x of input, others 1x). */
  cacheWritePerMTok: z.number().min(0).optional(),
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Where one model is reached: the fields a role and each of its fallback entries share. */
export const ModelEndpointSchema = z.object({
  provider: ProviderKindSchema,
  model: z.string().min(1).max(200),
  streaming: z.boolean().default(false),
  /** For the scripted provider: a JSON/YAML file of replies (relative to the workspace). */
  scriptFile: z.string().optional(),
  /** OpenAI-compatible server: e.g. http://127.0.0.1:11434/v1 (Ollama), https://openrouter.ai/api/v1. */
  baseURL: z
    .string()
    .max(2000)
    .refine((u) => /^https?:\/\/[^\s]+$/i.test(u) && URL.canParse(u), 'must be an http(s) URL')
    .optional(),
  /** The variable holding this endpoint's key (default OPENAI_API_KEY for `openai`). */
  apiKeyEnv: z
    .string()
    .regex(ENV_NAME, 'must be an environment variable name')
    .refine((name) => isSecretName(name), 'must look like a secret (e.g. end in _KEY or _TOKEN) so its value is masked in output')
    .optional(),
  /** `none`: the server takes no key (local servers); nothing is sent. */
  apiKey: z.literal('none').optional(),
  /** SDK-level retries on 408/429/5xx before a fallback takes the turn (default 2). */
  maxRetries: z.number().int().min(0).max(10).optional(),
  /** Per-attempt request timeout in milliseconds. */
  timeoutMs: z.number().int().positive().optional(),
  /** Anthropic: cache_control on the system prompt and the conversation's stable prefix. */
  promptCaching: z.boolean().default(true),
});
export type ModelEndpoint = z.infer<typeof ModelEndpointSchema>;

/** `baseURL`, `apiKeyEnv` and `apiKey` mean something only to `openai`: elsewhere they would be silently ignored. */
function openAiOnly(e: { provider: string; baseURL?: string; apiKeyEnv?: string; apiKey?: string }, ctx: z.RefinementCtx): void {
  if (e.provider === 'openai') return;
  for (const key of ['baseURL', 'apiKeyEnv', 'apiKey'] as const) {
    if (e[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `only for provider "openai" (${e.provider} reads its own key and base URL variables)` });
  }
}

/** A role: its model, output cap, and the chain that takes a turn the primary cannot serve. */
export const ModelRoleConfigSchema = ModelEndpointSchema.extend({
  maxOutputTokens: z.number().int().positive().default(DEFAULT_MAX_OUTPUT_TOKENS),
  /** Tried in order when the one before is overloaded, rate limited or down (never on 400/401). */
  fallback: z.array(ModelEndpointSchema.strict().superRefine(openAiOnly)).max(5).default([]),
}).superRefine(openAiOnly);
export type ModelRoleConfig = z.infer<typeof ModelRoleConfigSchema>;
