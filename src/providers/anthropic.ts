import Anthropic, { APIConnectionError, APIError } from '@anthropic-ai/sdk';
import { OrchestraError } from '../core/errors.js';
import { API_KEY_SOURCES, DEFAULT_MAX_OUTPUT_TOKENS, DEFAULT_MAX_RETRIES, httpError, isTimeout, mapProviderError, oneLine, otherError, requireApiKey } from './common.js';
import { guardedFetch, replyLimits } from './reply-guard.js';
import type {
  ChatMessage,
  ModelProvider,
  ModelReply,
  ModelRequest,
  ProviderSettings,
  ToolCall,
  ToolSpec,
} from './types.js';

const PROVIDER = 'Anthropic';
const DEFAULT_BASE_URL = 'https://api.anthropic.com';

type MessageParam = Anthropic.MessageParam;
type ContentBlockParam = Anthropic.ContentBlockParam;

/**
 * Claude through the official SDK's Messages API (tool_use / tool_result blocks). Every reply,
 * streamed or not, is read under reply-guard.ts: a byte cap, a whole-reply deadline, an idle gap.
 */
export class AnthropicProvider implements ModelProvider {
  readonly kind = 'anthropic' as const;
  private readonly client: Anthropic;

  constructor(
    private readonly settings: ProviderSettings,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const apiKey = requireApiKey(env, [...API_KEY_SOURCES.anthropic.variables], API_KEY_SOURCES.anthropic.message);
    // Passing the key and base URL explicitly makes `env` authoritative: the SDK would
    // otherwise read ANTHROPIC_BASE_URL / credential profiles from process.env itself.
    this.client = new Anthropic({
      apiKey,
      baseURL: env.ANTHROPIC_BASE_URL?.trim() || DEFAULT_BASE_URL,
      maxRetries: settings.maxRetries ?? DEFAULT_MAX_RETRIES,
      // The SDK's timeout ends at the headers: the whole reply is bounded in time and size here.
      fetch: guardedFetch(PROVIDER, replyLimits(settings.timeoutMs)),
      ...(settings.timeoutMs ? { timeout: settings.timeoutMs } : {}),
    });
  }

  async complete(req: ModelRequest): Promise<ModelReply> {
    const caching = this.settings.promptCaching === true;
    const messages = toAnthropicMessages(req.messages);
    if (caching) markCachePrefix(messages);
    const body: Anthropic.MessageCreateParamsNonStreaming = {
      model: req.model || this.settings.model,
      max_tokens: req.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
      messages,
      ...(req.system ? { system: caching ? [{ type: 'text' as const, text: req.system, cache_control: EPHEMERAL }] : req.system } : {}),
      ...(req.tools.length ? { tools: req.tools.map(toAnthropicTool) } : {}),
    };
    const options = req.signal ? { signal: req.signal } : {};
    let message: Anthropic.Message;
    try {
      message = this.settings.streaming
        ? await this.client.messages.stream(body, options).finalMessage()
        : await this.client.messages.create(body, options);
    } catch (err) {
      throw mapAnthropicError(err, req.signal);
    }
    return fromAnthropicMessage(message);
  }
}

function toAnthropicTool(tool: ToolSpec): Anthropic.Tool {
  const schema = { type: 'object', ...tool.parameters } as Anthropic.Tool.InputSchema;
  return { name: tool.name, description: tool.description, input_schema: schema };
}

const EPHEMERAL = { type: 'ephemeral' as const };

/**
 * Prompt caching: a breakpoint on the last block of the newest turn (this request's prefix is
 * written to the cache) and on the last block of the turn that ended the previous request (read
 * from the cache: it was the newest turn then). With the system prompt's breakpoint that is 3 of
 * the 4 the API allows. A tool loop thus pays the full input price only for what is new.
 */
export function markCachePrefix(messages: MessageParam[]): void {
  for (const at of [messages.length - 1, messages.length - 3]) {
    const content = messages[at]?.content;
    const last = Array.isArray(content) ? content.at(-1) : undefined;
    if (last && last.type !== 'thinking' && last.type !== 'redacted_thinking') (last as { cache_control?: typeof EPHEMERAL }).cache_control = EPHEMERAL;
  }
}

/** Neutral history → Messages API turns; consecutive user-side turns are merged. */
export function toAnthropicMessages(messages: ChatMessage[]): MessageParam[] {
  const out: MessageParam[] = [];
  const push = (role: 'user' | 'assistant', blocks: ContentBlockParam[]) => {
    if (blocks.length === 0) return;
    const last = out[out.length - 1];
    if (last && last.role === role && Array.isArray(last.content)) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const m of messages) {
    if (m.role === 'user') {
      push('user', [{ type: 'text', text: m.text }]);
    } else if (m.role === 'assistant') {
      const blocks: ContentBlockParam[] = [];
      if (m.text) blocks.push({ type: 'text', text: m.text });
      for (const c of m.toolCalls) blocks.push({ type: 'tool_use', id: c.id, name: c.name, input: c.args });
      push('assistant', blocks);
    } else {
      push(
        'user',
        m.results.map((r) => ({
          type: 'tool_result' as const,
          tool_use_id: r.callId,
          content: r.output,
          ...(r.isError ? { is_error: true } : {}),
        })),
      );
    }
  }
  return out;
}

function fromAnthropicMessage(message: Anthropic.Message): ModelReply {
  const texts: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of message.content) {
    if (block.type === 'text') texts.push(block.text);
    else if (block.type === 'tool_use') {
      const input = block.input;
      const args = input && typeof input === 'object' && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
      toolCalls.push({ id: block.id, name: block.name, args });
    }
  }
  const u = message.usage;
  return {
    text: texts.join(''),
    toolCalls,
    usage: {
      inputTokens: (u?.input_tokens ?? 0) + (u?.cache_creation_input_tokens ?? 0) + (u?.cache_read_input_tokens ?? 0),
      outputTokens: u?.output_tokens ?? 0,
      ...(u?.cache_read_input_tokens ? { cachedInputTokens: u.cache_read_input_tokens } : {}),
      ...(u?.cache_creation_input_tokens ? { cacheWriteTokens: u.cache_creation_input_tokens } : {}),
    },
    model: message.model,
    stopReason: message.stop_reason ?? 'unknown',
  };
}

function mapAnthropicError(err: unknown, signal?: AbortSignal): OrchestraError {
  return mapProviderError(PROVIDER, err, signal, (e) => {
    if (!(e instanceof APIError)) return undefined;
    const body = e.error as { error?: { type?: string; message?: string } } | undefined;
    if (typeof e.status === 'number') {
      const type = body?.error?.type;
      const detail = body?.error?.message ?? e.message.replace(/^\d{3}\s*/, '');
      return httpError(PROVIDER, e.status, type ? `${type}: ${detail}` : detail, { requestId: e.requestID ?? undefined });
    }
    if (!(e instanceof APIConnectionError) && body) {
      // An `event: error` inside an SSE stream: no HTTP status, the body says what happened.
      const type = body.error?.type ?? 'error';
      return new OrchestraError('PROVIDER_ERROR', `Anthropic stream failed: ${type}: ${oneLine(body.error?.message ?? '')}`, {
        provider: PROVIDER,
        type,
        retryable: ['overloaded_error', 'api_error', 'rate_limit_error'].includes(type),
      });
    }
    if (e instanceof APIConnectionError && !isTimeout(e)) return otherError(PROVIDER, e, 'connection failed');
    return undefined;
  });
}
