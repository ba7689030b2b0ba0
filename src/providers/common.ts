import type { z } from 'zod';
import { OrchestraError } from '../core/errors.js';
import type { ChatMessage, ProviderSettings } from './types.js';

/** Helpers shared by the provider modules (kept out of types.ts to avoid import cycles). */

/** Default when a request does not say how long the answer may be. */
export { DEFAULT_MAX_OUTPUT_TOKENS } from '../core/model-config.js';

const MAX_MESSAGE = 400;

/** SDK-level retries on 408/429/5xx when the settings name none. */
export const DEFAULT_MAX_RETRIES = 2;

/** Statuses worth retrying later (rate limit, overload, server trouble, timeouts). */
function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** First line, trimmed and bounded: provider messages sometimes carry whole bodies. */
export function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_MESSAGE ? `${flat.slice(0, MAX_MESSAGE)}…` : flat;
}

/** The caller's signal fired (as opposed to an SDK-internal timeout abort). */
export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  return err instanceof Error && err.name === 'APIUserAbortError';
}

/** An abort the caller did not ask for: the SDK's per-attempt timeout. */
export function isTimeout(err: unknown): boolean {
  const name = err instanceof Error ? err.name : '';
  return name === 'AbortError' || name === 'TimeoutError' || name === 'APIConnectionTimeoutError';
}

export function abortedError(provider: string): OrchestraError {
  return new OrchestraError('PROVIDER_ERROR', `${provider} request was aborted.`, { provider, aborted: true, retryable: false });
}

export function httpError(
  provider: string,
  status: number,
  detail: string,
  extra: Record<string, unknown> = {},
): OrchestraError {
  const hint =
    status === 401 || status === 403
      ? ' (check the API key)'
      : status === 429
        ? ' (rate limited)'
        : status === 529
          ? ' (overloaded)'
          : '';
  const text = detail ? `: ${oneLine(detail)}` : '';
  return new OrchestraError('PROVIDER_ERROR', `${provider} API returned HTTP ${status}${hint}${text}`, {
    provider,
    status,
    retryable: isRetryableStatus(status),
    ...extra,
  });
}

export function otherError(provider: string, err: unknown, what = 'request failed'): OrchestraError {
  // Network failures hide the useful part (ECONNREFUSED, ENOTFOUND…) in the cause chain.
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 4; depth++) {
    const msg = cur instanceof Error ? cur.message : String(cur);
    const code = (cur as { code?: unknown }).code;
    const piece = typeof code === 'string' && !msg.includes(code) ? `${msg} [${code}]` : msg;
    if (piece && !parts.includes(piece)) parts.push(piece);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return new OrchestraError('PROVIDER_ERROR', `${provider} ${what}: ${oneLine(parts.join(' <- '))}`, {
    provider,
    retryable: true,
  });
}

/** One line per problem, e.g. `replies.0.toolCalls.1.name: expected string`. */
export function formatZodIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/** The key from the first variable that is set, or MISSING_API_KEY naming the first one. */
export function requireApiKey(env: NodeJS.ProcessEnv, variables: string[], message: string): string {
  for (const name of variables) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  throw new OrchestraError('MISSING_API_KEY', message, { variable: variables[0] });
}

/**
 * Turns anything an SDK throws into PROVIDER_ERROR: our own errors pass through, then the
 * caller's abort, then what only this SDK can tell (`specific`), then timeouts and the rest.
 */
export function mapProviderError(provider: string, err: unknown, signal: AbortSignal | undefined, specific: (err: unknown) => OrchestraError | undefined): OrchestraError {
  // Our own refusal (reply-guard.ts), also when the SDK wrapped it (a body that errored while read).
  for (let cur: unknown = err, depth = 0; cur && depth < 5; depth++) {
    if (cur instanceof OrchestraError) return cur;
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  if (isAbort(err, signal)) return abortedError(provider);
  const known = specific(err);
  if (known) return known;
  if (isTimeout(err)) return otherError(provider, err, 'request timed out');
  return otherError(provider, err);
}

/** How many model turns a conversation already holds. */
export function assistantTurns(messages: ChatMessage[]): number {
  return messages.filter((m) => m.role === 'assistant').length;
}

/** The variables each hosted provider takes its API key from, and what to say when none is set. */
export const API_KEY_SOURCES = {
  anthropic: { variables: ['ANTHROPIC_API_KEY'], message: 'ANTHROPIC_API_KEY is not set: export your Anthropic API key (https://console.anthropic.com) before using a Claude model.' },
  gemini: { variables: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'], message: 'GEMINI_API_KEY is not set: export your Gemini API key (https://aistudio.google.com/apikey) as GEMINI_API_KEY (or GOOGLE_API_KEY) before using a Gemini model.' },
} as const;


/**
 * The key of an OpenAI-compatible endpoint: from the role's `apiKeyEnv` when it names one (a
 * gateway's key is never swapped for OPENAI_API_KEY), else OPENAI_API_KEY; undefined when the
 * role says `apiKey: "none"` (a local server). MISSING_API_KEY names the variable, never a value.
 */
export function openAiKey(settings: Pick<ProviderSettings, 'apiKey' | 'apiKeyEnv' | 'baseURL'>, env: NodeJS.ProcessEnv): string | undefined {
  if (settings.apiKey === 'none') return undefined;
  const variable = settings.apiKeyEnv ?? 'OPENAI_API_KEY';
  const where = settings.baseURL ? ` for ${settings.baseURL}` : '';
  return requireApiKey(env, [variable], `${variable} is not set: export the API key${where} as ${variable}, or set "apiKey": "none" for a local server that takes no key.`);
}
