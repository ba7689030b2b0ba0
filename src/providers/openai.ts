import OpenAI, { APIConnectionError, APIError } from 'openai';
import { OrchestraError } from '../core/errors.js';
import { assertJsonDepth } from '../core/value-limits.js';
import { DEFAULT_MAX_OUTPUT_TOKENS, DEFAULT_MAX_RETRIES, httpError, isTimeout, mapProviderError, oneLine, openAiKey, otherError } from './common.js';
import { guardedFetch, replyLimits } from './reply-guard.js';
import type { ChatMessage, ModelProvider, ModelReply, ModelRequest, ProviderSettings, ToolCall, ToolSpec } from './types.js';

/**
 * Any server that speaks OpenAI's chat completions with tools (function calling) through the
 * official `openai` SDK: OpenAI itself, gateways (OpenRouter) and local servers (Ollama, vLLM,
 * llama.cpp server, LM Studio) by `baseURL`.
 *
 * Preconditions: the key comes from the role's `apiKeyEnv` or OPENAI_API_KEY, or the role says
 * `apiKey: "none"` and no Authorization header is sent at all. Everything the server answers is
 * hostile: the body is read through a byte cap and a whole-reply deadline with an idle-gap limit
 * (reply-guard.ts: a huge or trickled reply is refused without being held in memory), tool arguments must be a JSON object of bounded depth, and a
 * reply with neither text nor a tool call nor a choice is an error, not an empty turn.
 */

const PROVIDER = 'OpenAI-compatible';
const DEFAULT_BASE_URL = 'https://api.openai.com/v1';
export { MAX_REPLY_BYTES } from './reply-guard.js';

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type Completion = OpenAI.Chat.Completions.ChatCompletion;

export class OpenAiProvider implements ModelProvider {
  readonly kind = 'openai' as const;
  private readonly client: OpenAI;
  /** OpenAI's own API wants max_completion_tokens (its reasoning models refuse max_tokens). */
  private readonly tokenLimitField: 'max_completion_tokens' | 'max_tokens';

  constructor(
    private readonly settings: ProviderSettings,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const apiKey = openAiKey(settings, env);
    const baseURL = settings.baseURL ?? (env.OPENAI_BASE_URL?.trim() || DEFAULT_BASE_URL);
    this.tokenLimitField = URL.canParse(baseURL) && new URL(baseURL).hostname === 'api.openai.com' ? 'max_completion_tokens' : 'max_tokens';
    // Every option the SDK would otherwise read from process.env is given here, so `env` and the
    // role's settings are the only sources (no stray OPENAI_ORG_ID or admin key is sent).
    this.client = new OpenAI({
      apiKey: apiKey ?? 'none',
      adminAPIKey: null,
      organization: null,
      project: null,
      webhookSecret: null,
      baseURL,
      maxRetries: settings.maxRetries ?? DEFAULT_MAX_RETRIES,
      fetch: guardedFetch(PROVIDER, replyLimits(settings.timeoutMs)),
      logLevel: 'off',
      ...(apiKey ? {} : { defaultHeaders: { Authorization: null } }),
      ...(settings.timeoutMs ? { timeout: settings.timeoutMs } : {}),
    });
  }

  async complete(req: ModelRequest): Promise<ModelReply> {
    const model = req.model || this.settings.model;
    const maxTokens = req.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
    const body = {
      model,
      // Compatible servers (Ollama, llama.cpp, vLLM, gateways) all understand max_tokens.
      [this.tokenLimitField]: maxTokens,
      messages: toOpenAiMessages(req.system, req.messages),
      ...(req.tools.length ? { tools: req.tools.map(toOpenAiTool) } : {}),
    };
    const options = req.signal ? { signal: req.signal } : {};
    let completion: Completion;
    try {
      completion = this.settings.streaming
        ? await collectStream(await this.client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }, options))
        : await this.client.chat.completions.create(body, options);
    } catch (err) {
      throw mapOpenAiError(err, req.signal);
    }
    return fromCompletion(completion, model);
  }
}

function toOpenAiTool(tool: ToolSpec): OpenAI.Chat.Completions.ChatCompletionTool {
  return { type: 'function', function: { name: tool.name, description: tool.description, parameters: { type: 'object', ...tool.parameters } } };
}

/** Neutral history → chat messages: the system prompt first, each tool result its own `tool` message. */
export function toOpenAiMessages(system: string, messages: ChatMessage[]): Message[] {
  const out: Message[] = system ? [{ role: 'system', content: system }] : [];
  for (const m of messages) {
    if (m.role === 'user') out.push({ role: 'user', content: m.text });
    else if (m.role === 'assistant') {
      out.push({
        role: 'assistant',
        content: m.text || null,
        ...(m.toolCalls.length
          ? { tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: JSON.stringify(c.args) } })) }
          : {}),
      });
    } else {
      // Chat completions has no error flag on a tool result: the text says it.
      for (const r of m.results) out.push({ role: 'tool', tool_call_id: r.callId, content: r.isError ? `error: ${r.output}` : r.output });
    }
  }
  return out;
}

/** finish_reason in the names the rest of the system uses (Anthropic's). */
const STOP_REASONS: Record<string, string> = { stop: 'end_turn', tool_calls: 'tool_use', function_call: 'tool_use', length: 'max_tokens', content_filter: 'refusal' };

function fromCompletion(completion: Completion, model: string): ModelReply {
  const choice = completion.choices?.[0];
  if (!choice?.message) throw refused('the reply has no choice');
  const message = choice.message;
  const toolCalls: ToolCall[] = [];
  for (const [n, call] of (message.tool_calls ?? []).entries()) {
    if (call.type !== 'function' || !call.function) throw refused(`tool call ${n} is not a function call`);
    toolCalls.push({ id: call.id || `openai_call_${n}`, name: String(call.function.name ?? ''), args: parseArguments(call.function.name, call.function.arguments) });
  }
  const u = completion.usage;
  const cached = u?.prompt_tokens_details?.cached_tokens ?? 0;
  const finish = choice.finish_reason ?? 'unknown';
  return {
    text: typeof message.content === 'string' ? message.content : '',
    toolCalls,
    usage: { inputTokens: u?.prompt_tokens ?? 0, outputTokens: u?.completion_tokens ?? 0, ...(cached ? { cachedInputTokens: cached } : {}) },
    model: completion.model || model,
    stopReason: STOP_REASONS[finish] ?? finish,
  };
}

/** A tool call's arguments: a JSON object of bounded depth, or the reply is refused. */
function parseArguments(name: string, raw: unknown): Record<string, unknown> {
  const text = typeof raw === 'string' ? raw : '';
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    assertJsonDepth(text);
    value = JSON.parse(text);
  } catch (err) {
    throw refused(`the arguments of tool call "${oneLine(String(name)).slice(0, 80)}" are not valid JSON (${oneLine(err instanceof Error ? err.message : String(err)).slice(0, 120)})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw refused(`the arguments of tool call "${oneLine(String(name)).slice(0, 80)}" are not a JSON object`);
  return value as Record<string, unknown>;
}

function refused(why: string): OrchestraError {
  return new OrchestraError('PROVIDER_ERROR', `The ${PROVIDER} server sent a reply that was refused: ${why}.`, { provider: PROVIDER, retryable: false });
}

/** Streaming: the chunks assembled into one completion (text, tool calls by index, usage, finish). */
async function collectStream(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>): Promise<Completion> {
  let text = '';
  let model = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  const calls: Array<{ id: string; name: string; arguments: string }> = [];
  for await (const chunk of stream) {
    model ||= chunk.model ?? '';
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    finish = choice.finish_reason ?? finish;
    const delta = choice.delta ?? {};
    if (typeof delta.content === 'string') text += delta.content;
    for (const d of delta.tool_calls ?? []) {
      const index = typeof d.index === 'number' && d.index >= 0 && d.index < 256 ? d.index : calls.length;
      const call = (calls[index] ??= { id: '', name: '', arguments: '' });
      if (d.id) call.id = d.id;
      if (d.function?.name) call.name += d.function.name;
      if (d.function?.arguments) call.arguments += d.function.arguments;
    }
  }
  const toolCalls = calls.filter(Boolean).map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } }));
  return {
    id: 'stream',
    object: 'chat.completion',
    created: 0,
    model,
    choices: [{ index: 0, logprobs: null, finish_reason: (finish ?? 'stop') as 'stop', message: { role: 'assistant', content: text, refusal: null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) } }],
    ...(usage ? { usage } : {}),
  };
}

function mapOpenAiError(err: unknown, signal?: AbortSignal): OrchestraError {
  return mapProviderError(PROVIDER, err, signal, (e) => {
    if (e instanceof APIError && typeof e.status === 'number') {
      const body = e.error as { message?: string; type?: string; code?: string } | undefined;
      const detail = body?.message ?? e.message.replace(/^\d{3}\s*/, '');
      return httpError(PROVIDER, e.status, body?.type ? `${body.type}: ${detail}` : detail, { requestId: e.requestID ?? undefined });
    }
    if (e instanceof APIConnectionError && !isTimeout(e)) return otherError(PROVIDER, e, 'connection failed');
    return undefined;
  });
}
