import {
  ApiError,
  GoogleGenAI,
  type Content,
  type FunctionDeclaration,
  type GenerateContentConfig,
  type GenerateContentResponse,
  type GenerateContentResponseUsageMetadata,
  type Part,
} from '@google/genai';
import { OrchestraError } from '../core/errors.js';
import { guardedFetch, replyLimits } from './reply-guard.js';
import { API_KEY_SOURCES, DEFAULT_MAX_OUTPUT_TOKENS, DEFAULT_MAX_RETRIES, assistantTurns, httpError, mapProviderError, requireApiKey } from './common.js';
import type {
  ChatMessage,
  ModelProvider,
  ModelReply,
  ModelRequest,
  ProviderSettings,
  ToolCall,
  ToolSpec,
} from './types.js';

const PROVIDER = 'Gemini';
const DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com';
/** Ids we invent for calls the API returned without one; never sent back to the API. */
const SYNTH_PREFIX = 'gemini_call_';

/** Gemini through the official `@google/genai` SDK (function declarations / functionCall parts). */
export class GeminiProvider implements ModelProvider {
  readonly kind = 'gemini' as const;
  private readonly client: GoogleGenAI;

  constructor(
    private readonly settings: ProviderSettings,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const apiKey = requireApiKey(env, [...API_KEY_SOURCES.gemini.variables], API_KEY_SOURCES.gemini.message);
    const maxRetries = settings.maxRetries ?? DEFAULT_MAX_RETRIES;
    // The SDK reads GOOGLE_GEMINI_BASE_URL / GOOGLE_GENAI_USE_VERTEXAI from process.env only
    // and only when httpOptions.baseUrl / vertexai are unset; setting both makes `env` win.
    this.client = new GoogleGenAI({
      apiKey,
      vertexai: false,
      httpOptions: {
        baseUrl: env.GOOGLE_GEMINI_BASE_URL?.trim() || DEFAULT_BASE_URL,
        ...(settings.timeoutMs ? { timeout: settings.timeoutMs } : {}),
        // The whole reply (not only its headers) is bounded in time and size: reply-guard.ts.
        fetch: guardedFetch(PROVIDER, replyLimits(settings.timeoutMs)),
        ...(maxRetries > 0 ? { retryOptions: { attempts: maxRetries + 1 } } : {}),
      },
    });
  }

  async complete(req: ModelRequest): Promise<ModelReply> {
    const model = req.model || this.settings.model;
    const config: GenerateContentConfig = {
      maxOutputTokens: req.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
      automaticFunctionCalling: { disable: true },
      ...(req.system ? { systemInstruction: req.system } : {}),
      ...(req.tools.length ? { tools: [{ functionDeclarations: req.tools.map(toDeclaration) }] } : {}),
      ...(req.signal ? { abortSignal: req.signal } : {}),
    };
    const params = { model, contents: toGeminiContents(req.messages), config };
    const turn = assistantTurns(req.messages);
    let response: GenerateContentResponse;
    try {
      if (this.settings.streaming) {
        const chunks: GenerateContentResponse[] = [];
        for await (const chunk of await this.client.models.generateContentStream(params)) chunks.push(chunk);
        response = mergeChunks(chunks);
      } else {
        response = await this.client.models.generateContent(params);
      }
    } catch (err) {
      throw mapGeminiError(err, req.signal);
    }
    return fromGeminiResponse(response, model, turn);
  }
}

function toDeclaration(tool: ToolSpec): FunctionDeclaration {
  return { name: tool.name, description: tool.description, parametersJsonSchema: { type: 'object', ...tool.parameters } };
}

/** Neutral history → Gemini contents; tool results are `user` turns of functionResponse parts. */
export function toGeminiContents(messages: ChatMessage[]): Content[] {
  const out: Content[] = [];
  const push = (role: 'user' | 'model', parts: Part[]) => {
    if (parts.length === 0) return;
    const last = out[out.length - 1];
    if (last && last.role === role) last.parts = [...(last.parts ?? []), ...parts];
    else out.push({ role, parts });
  };
  for (const m of messages) {
    if (m.role === 'user') push('user', [{ text: m.text }]);
    else if (m.role === 'assistant') {
      const parts: Part[] = m.text ? [{ text: m.text }] : [];
      for (const c of m.toolCalls) {
        parts.push({
          functionCall: { ...(c.id.startsWith(SYNTH_PREFIX) ? {} : { id: c.id }), name: c.name, args: c.args },
          ...(c.signature ? { thoughtSignature: c.signature } : {}),
        });
      }
      push('model', parts);
    } else {
      push(
        'user',
        m.results.map((r) => ({
          functionResponse: {
            ...(r.callId.startsWith(SYNTH_PREFIX) ? {} : { id: r.callId }),
            name: r.name,
            response: r.isError ? { error: r.output } : { output: r.output },
          },
        })),
      );
    }
  }
  return out;
}

/** Streaming: concatenate the first candidate's parts; finishReason/usage come from the last chunk carrying them. */
function mergeChunks(chunks: GenerateContentResponse[]): GenerateContentResponse {
  const parts: Part[] = [];
  let finishReason: string | undefined;
  let usage: GenerateContentResponseUsageMetadata | undefined;
  let modelVersion: string | undefined;
  let blockReason: string | undefined;
  for (const c of chunks) {
    const cand = c.candidates?.[0];
    parts.push(...(cand?.content?.parts ?? []));
    finishReason = cand?.finishReason ?? finishReason;
    usage = c.usageMetadata ?? usage;
    modelVersion = c.modelVersion ?? modelVersion;
    blockReason = c.promptFeedback?.blockReason ?? blockReason;
  }
  return {
    candidates: parts.length || finishReason ? [{ content: { role: 'model', parts }, finishReason }] : [],
    usageMetadata: usage,
    modelVersion,
    ...(blockReason ? { promptFeedback: { blockReason } } : {}),
  } as GenerateContentResponse;
}

function fromGeminiResponse(res: GenerateContentResponse, model: string, turn: number): ModelReply {
  const cand = res.candidates?.[0];
  if (!cand && res.promptFeedback?.blockReason) {
    throw new OrchestraError('PROVIDER_ERROR', `Gemini blocked the prompt (${res.promptFeedback.blockReason}).`, {
      provider: PROVIDER,
      retryable: false,
    });
  }
  let text = '';
  const toolCalls: ToolCall[] = [];
  for (const part of cand?.content?.parts ?? []) {
    if (typeof part.text === 'string' && !part.thought) text += part.text;
    if (part.functionCall) {
      const fc = part.functionCall;
      toolCalls.push({
        id: fc.id || `${SYNTH_PREFIX}${turn}_${toolCalls.length}`,
        name: fc.name ?? '',
        args: fc.args ?? {},
        ...(part.thoughtSignature ? { signature: part.thoughtSignature } : {}),
      });
    }
  }
  const u = res.usageMetadata;
  return {
    text,
    toolCalls,
    usage: {
      inputTokens: u?.promptTokenCount ?? 0,
      outputTokens: (u?.candidatesTokenCount ?? 0) + (u?.thoughtsTokenCount ?? 0),
      ...(u?.cachedContentTokenCount ? { cachedInputTokens: u.cachedContentTokenCount } : {}),
    },
    model: res.modelVersion || model,
    stopReason: cand?.finishReason ?? 'unknown',
  };
}

function mapGeminiError(err: unknown, signal?: AbortSignal): OrchestraError {
  return mapProviderError(PROVIDER, err, signal, (e) => {
    if (!(e instanceof ApiError)) return undefined;
    // The SDK's message is the JSON error body: { error: { code, message, status } }.
    let detail = e.message;
    let status: string | undefined;
    try {
      const body = JSON.parse(e.message) as { error?: { message?: string; status?: string } };
      if (body.error?.message) detail = body.error.message;
      status = body.error?.status;
    } catch {
      /* not JSON: keep the raw message */
    }
    return httpError(PROVIDER, e.status, status && status !== detail ? `${status}: ${detail}` : detail);
  });
}
