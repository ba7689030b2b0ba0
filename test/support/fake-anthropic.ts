/**
 * A local stand-in for the Anthropic Messages API (`POST /v1/messages`), speaking the real
 * wire format (JSON and SSE streaming) so the official SDK can be pointed at it:
 *
 *   const srv = await startFakeAnthropic({ respond: (body, i) => ({ toolCalls: [{ name: 'x', args: {} }] }) });
 *   createProvider({ kind: 'anthropic', model: 'claude-sonnet-4-5', maxRetries: 0 },
 *                  { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: srv.url });
 *   ...; await srv.close();
 */
import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { serveOnLoopback, readBody, waitUnlessClosed } from './http-util.js';

export interface FakeToolCall {
  name: string;
  args: Record<string, unknown>;
  /** Defaults to `toolu_fake_<request>_<n>`. */
  id?: string;
}

export interface FakeTurn {
  text?: string;
  toolCalls?: FakeToolCall[];
  usage?: { inputTokens?: number; outputTokens?: number };
  /** Defaults to 'tool_use' when there are tool calls, else 'end_turn'. */
  stopReason?: string;
  /** Error injection: answer with this HTTP status and an Anthropic error body. */
  status?: number;
  errorMessage?: string;
  /** Streaming only: after the first content delta, send an SSE `error` event of this type and stop. */
  streamError?: { type: string; message: string };
  /** Wait this long before answering (abort / timeout tests). */
  delayMs?: number;
}

/** Parsed request body as the SDK sent it (Messages API shape). */
export type AnthropicRequestBody = Record<string, any>;

export interface FakeAnthropicOptions {
  respond: (body: AnthropicRequestBody, index: number) => FakeTurn | Promise<FakeTurn>;
  /**
   * Required API key; by default any non-empty key is accepted. Read from `x-api-key` or from
   * `Authorization: Bearer <key>`, which is how `@anthropic-ai/sdk` 1.x sends an API key.
   */
  apiKey?: string;
  /**
   * Emulate prompt caching as the API reports it: the text up to each `cache_control` breakpoint
   * (tools, system, messages; 4 characters a token) is written to a cache on first sight
   * (`cache_creation_input_tokens`) and read from it on later requests with the same prefix
   * (`cache_read_input_tokens`); `input_tokens` is what comes after the last breakpoint. Used
   * when a turn gives no `usage.inputTokens`. Off: the usage of the turn (default 10 in / 5 out).
   */
  promptCache?: boolean;
}

export interface FakeAnthropicServer {
  /** Base URL for ANTHROPIC_BASE_URL, e.g. http://127.0.0.1:43123 */
  url: string;
  /** Bodies of the /v1/messages requests received, in order (rejected ones included). */
  requests: AnthropicRequestBody[];
  /** Headers of those requests, same order. */
  headers: IncomingHttpHeaders[];
  /** The API key each request carried (x-api-key, or the Bearer token SDK 1.x sends), same order. */
  apiKeys: (string | undefined)[];
  close(): Promise<void>;
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

export async function startFakeAnthropic(opts: FakeAnthropicOptions): Promise<FakeAnthropicServer> {
  const requests: AnthropicRequestBody[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const apiKeys: (string | undefined)[] = [];

  const cache = new Set<string>();


  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || path !== '/v1/messages') return sendError(res, 404, `no route ${req.method} ${path}`);
    const body = JSON.parse(await readBody(req)) as AnthropicRequestBody;
    const index = requests.length;
    requests.push(body);
    headers.push(req.headers);
    const key = apiKeyOf(req.headers);
    apiKeys.push(key);
    if (!key || (opts.apiKey !== undefined && key !== opts.apiKey)) return sendError(res, 401, 'invalid x-api-key');

    const turn = await opts.respond(body, index);
    if (turn.delayMs && !(await waitUnlessClosed(res, turn.delayMs))) return;
    if (turn.status && turn.status >= 400) {
      return sendError(res, turn.status, turn.errorMessage ?? `injected error ${turn.status}`);
    }
    const cached = opts.promptCache && turn.usage?.inputTokens === undefined ? cacheUsage(body, cache) : undefined;
    const message = buildMessage(body, turn, index, cached);
    if (body.stream) writeStream(res, message, turn.streamError);
    else {
      res.writeHead(turn.status ?? 200, { 'content-type': 'application/json', 'request-id': `req_fake_${index}` });
      res.end(JSON.stringify(message));
    }
  }

  const { url, close } = await serveOnLoopback(handle, (res, err) => sendError(res, 500, `fake server failure: ${String(err)}`));
  return {
    url,
    requests,
    headers,
    apiKeys,
    close,
  };
}

interface CacheUsage { input_tokens: number; cache_creation_input_tokens: number; cache_read_input_tokens: number }

/** What the API would report for this request's prompt against what `cache` has seen. */
function cacheUsage(body: AnthropicRequestBody, cache: Set<string>): CacheUsage {
  let text = '';
  const breakpoints: number[] = [];
  const add = (block: unknown) => {
    const { cache_control, ...rest } = (block && typeof block === 'object' ? block : { text: block }) as Record<string, unknown>;
    text += JSON.stringify(rest);
    if (cache_control) breakpoints.push(text.length);
  };
  for (const tool of body.tools ?? []) add(tool);
  if (typeof body.system === 'string') add(body.system);
  else for (const block of body.system ?? []) add(block);
  for (const m of body.messages ?? []) {
    text += `|${m.role}|`;
    if (typeof m.content === 'string') add(m.content);
    else for (const block of m.content) add(block);
  }
  const tokens = (chars: number) => Math.ceil(chars / 4);
  const last = breakpoints.at(-1) ?? 0;
  const read = Math.max(0, ...breakpoints.filter((at) => cache.has(text.slice(0, at))));
  for (const at of breakpoints) cache.add(text.slice(0, at));
  return { input_tokens: tokens(text.length - last), cache_creation_input_tokens: tokens(last - read), cache_read_input_tokens: tokens(read) };
}

/** The system prompt's text, whether sent as a string or as text blocks (prompt caching). */
export function systemText(body: AnthropicRequestBody): string {
  return typeof body.system === 'string' ? body.system : (body.system ?? []).map((b: { text?: string }) => b.text ?? '').join('');
}

function buildMessage(body: AnthropicRequestBody, turn: FakeTurn, index: number, cached?: CacheUsage) {
  const content: Record<string, unknown>[] = [];
  if (turn.text !== undefined) content.push({ type: 'text', text: turn.text });
  (turn.toolCalls ?? []).forEach((c, n) =>
    content.push({ type: 'tool_use', id: c.id ?? `toolu_fake_${index}_${n}`, name: c.name, input: c.args }),
  );
  return {
    id: `msg_fake_${index}`,
    type: 'message',
    role: 'assistant',
    model: String(body.model),
    content,
    stop_reason: turn.stopReason ?? (turn.toolCalls?.length ? 'tool_use' : 'end_turn'),
    stop_sequence: null,
    usage: { ...(cached ?? { input_tokens: turn.usage?.inputTokens ?? 10 }), output_tokens: turn.usage?.outputTokens ?? 5 } as CacheUsage & { output_tokens: number },
  };
}

/** The documented event flow; text and tool input are split in two deltas to exercise assembly. */
function writeStream(res: ServerResponse, message: ReturnType<typeof buildMessage>, streamError?: FakeTurn['streamError']): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (type: string, data: Record<string, unknown>) =>
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  send('message_start', {
    message: { ...message, content: [], stop_reason: null, usage: { ...message.usage, output_tokens: 1 } },
  });
  send('ping', {});
  if (streamError) {
    send('error', { error: streamError });
    res.end();
    return;
  }
  message.content.forEach((block, index) => {
    if (block.type === 'text') {
      send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      for (const piece of halves(String(block.text))) send('content_block_delta', { index, delta: { type: 'text_delta', text: piece } });
    } else {
      send('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      for (const piece of halves(JSON.stringify(block.input)))
        send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } });
    }
    send('content_block_stop', { index });
  });
  send('message_delta', {
    delta: { stop_reason: message.stop_reason, stop_sequence: null },
    usage: { output_tokens: message.usage.output_tokens },
  });
  send('message_stop', {});
  res.end();
}

function halves(s: string): string[] {
  const mid = Math.ceil(s.length / 2);
  return s.length < 2 ? [s] : [s.slice(0, mid), s.slice(mid)];
}

function sendError(res: ServerResponse, status: number, message: string): void {
  const type = ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  const retry = status === 429 || status >= 500;
  // retry-after-ms keeps SDK retries fast in tests (the SDK honours it).
  res.writeHead(status, { 'content-type': 'application/json', 'x-should-retry': String(retry), 'retry-after-ms': '5' });
  res.end(JSON.stringify({ type: 'error', error: { type, message } }));
}

function apiKeyOf(h: IncomingHttpHeaders): string | undefined {
  const direct = h['x-api-key'];
  if (typeof direct === 'string' && direct) return direct;
  const bearer = /^Bearer\s+(.+)$/i.exec(h.authorization ?? '');
  return bearer?.[1];
}
