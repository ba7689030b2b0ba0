/**
 * A local stand-in for an OpenAI-compatible chat completions server (`POST /v1/chat/completions`,
 * what OpenAI, OpenRouter, Ollama, vLLM, llama.cpp server and LM Studio speak), JSON and SSE
 * streaming, so the official `openai` SDK can be pointed at it:
 *
 *   const srv = await startFakeOpenAi({ respond: (body, i) => ({ toolCalls: [{ name: 'x', args: {} }] }) });
 *   createProvider({ kind: 'openai', model: 'gpt-x', baseURL: `${srv.url}/v1`, maxRetries: 0 }, { OPENAI_API_KEY: 'k' });
 *   ...; await srv.close();
 *
 * Scripted replies per request; it records every request (body, headers, key) it received and
 * can answer with an error status (429, 500, 529, 401...) or with hostile bodies (raw argument
 * strings, huge content) to test the provider's defences.
 */
import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { serveOnLoopback, readBody, waitUnlessClosed } from './http-util.js';

export interface FakeOpenAiToolCall {
  name: string;
  args?: Record<string, unknown>;
  /** Sent as the `arguments` string as is (malformed JSON tests); overrides `args`. */
  rawArguments?: string;
  /** Defaults to `call_fake_<request>_<n>`. */
  id?: string;
}

export interface FakeOpenAiTurn {
  text?: string;
  toolCalls?: FakeOpenAiToolCall[];
  usage?: { inputTokens?: number; outputTokens?: number; cachedTokens?: number };
  /** Defaults to 'tool_calls' when there are tool calls, else 'stop'. */
  finishReason?: string;
  /** Error injection: answer with this HTTP status and an OpenAI error body. */
  status?: number;
  errorMessage?: string;
  /** Wait this long before answering (abort / timeout tests). */
  delayMs?: number;
  /** Send this many bytes of text content (a hostile, huge reply), streamed in 64 KiB pieces. */
  hugeContentBytes?: number;
  /** Answer with this model name instead of the requested one (a gateway, or a hostile server). */
  model?: string;
}

export type OpenAiRequestBody = Record<string, any>;

export interface FakeOpenAiOptions {
  respond: (body: OpenAiRequestBody, index: number) => FakeOpenAiTurn | Promise<FakeOpenAiTurn>;
  /** Required key (Authorization: Bearer); by default any request is accepted, with or without one. */
  apiKey?: string;
}

export interface FakeOpenAiServer {
  /** Base URL without the `/v1`, e.g. http://127.0.0.1:43123 */
  url: string;
  requests: OpenAiRequestBody[];
  headers: IncomingHttpHeaders[];
  /** The bearer token each request carried (undefined: no Authorization header). */
  apiKeys: (string | undefined)[];
  close(): Promise<void>;
}

const ERROR_TYPES: Record<number, string> = { 400: 'invalid_request_error', 401: 'invalid_request_error', 404: 'not_found_error', 429: 'rate_limit_exceeded' };

export async function startFakeOpenAi(opts: FakeOpenAiOptions): Promise<FakeOpenAiServer> {
  const requests: OpenAiRequestBody[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const apiKeys: (string | undefined)[] = [];


  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || path !== '/v1/chat/completions') return sendError(res, 404, `no route ${req.method} ${path}`);
    const body = JSON.parse(await readBody(req)) as OpenAiRequestBody;
    const index = requests.length;
    requests.push(body);
    headers.push(req.headers);
    const key = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    apiKeys.push(key);
    if (opts.apiKey !== undefined && key !== opts.apiKey) return sendError(res, 401, 'Incorrect API key provided.');

    const turn = await opts.respond(body, index);
    if (turn.delayMs && !(await waitUnlessClosed(res, turn.delayMs))) return;
    if (turn.status && turn.status >= 400) return sendError(res, turn.status, turn.errorMessage ?? `injected error ${turn.status}`);
    if (turn.hugeContentBytes) return sendHuge(res, body, turn.hugeContentBytes, index);
    const completion = buildCompletion(body, turn, index);
    if (body.stream) writeStream(res, completion, body.stream_options?.include_usage === true);
    else {
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_fake_${index}` });
      res.end(JSON.stringify(completion));
    }
  }

  const { url, close } = await serveOnLoopback(handle, (res, err) => sendError(res, 500, `fake server failure: ${String(err)}`));
  return { url, requests, headers, apiKeys, close };
}

function buildCompletion(body: OpenAiRequestBody, turn: FakeOpenAiTurn, index: number) {
  const toolCalls = (turn.toolCalls ?? []).map((c, n) => ({
    id: c.id ?? `call_fake_${index}_${n}`,
    type: 'function',
    function: { name: c.name, arguments: c.rawArguments ?? JSON.stringify(c.args ?? {}) },
  }));
  const cached = turn.usage?.cachedTokens;
  return {
    id: `chatcmpl-fake-${index}`,
    object: 'chat.completion',
    created: 1_700_000_000,
    model: turn.model ?? String(body.model),
    choices: [{
      index: 0,
      message: { role: 'assistant', content: turn.text ?? null, refusal: null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
      logprobs: null,
      finish_reason: turn.finishReason ?? (toolCalls.length ? 'tool_calls' : 'stop'),
    }],
    usage: {
      prompt_tokens: turn.usage?.inputTokens ?? 10,
      completion_tokens: turn.usage?.outputTokens ?? 5,
      total_tokens: (turn.usage?.inputTokens ?? 10) + (turn.usage?.outputTokens ?? 5),
      ...(cached !== undefined ? { prompt_tokens_details: { cached_tokens: cached } } : {}),
    },
  };
}

/** The documented chunk flow: role, content deltas, tool-call deltas by index (arguments in two pieces), finish, usage. */
function writeStream(res: ServerResponse, completion: ReturnType<typeof buildCompletion>, includeUsage: boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const base = { id: completion.id, object: 'chat.completion.chunk', created: completion.created, model: completion.model };
  const send = (choices: unknown[], extra: Record<string, unknown> = {}) => res.write(`data: ${JSON.stringify({ ...base, choices, ...extra })}\n\n`);
  const choice = completion.choices[0]!;
  send([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
  for (const piece of halves(choice.message.content ?? '')) send([{ index: 0, delta: { content: piece }, finish_reason: null }]);
  (choice.message.tool_calls ?? []).forEach((call, index) => {
    const [first, second] = halves(call.function.arguments);
    send([{ index: 0, delta: { tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: first ?? '' } }] }, finish_reason: null }]);
    if (second) send([{ index: 0, delta: { tool_calls: [{ index, function: { arguments: second } }] }, finish_reason: null }]);
  });
  send([{ index: 0, delta: {}, finish_reason: choice.finish_reason }]);
  if (includeUsage) send([], { usage: completion.usage });
  res.end('data: [DONE]\n\n');
}

/** A reply whose content is `bytes` long, written in pieces without a content-length (chunked). */
function sendHuge(res: ServerResponse, body: OpenAiRequestBody, bytes: number, index: number): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const head = JSON.stringify(buildCompletion(body, { text: '@@' }, index)).split('"@@"');
  res.write(`${head[0]}"`);
  const piece = 'x'.repeat(64 * 1024);
  let sent = 0;
  const pump = () => {
    while (sent < bytes) {
      sent += piece.length;
      if (!res.write(piece)) return void res.once('drain', pump);
      if (res.destroyed) return;
    }
    res.end(`"${head[1]}`);
  };
  res.on('error', () => undefined);
  pump();
}

function halves(s: string): string[] {
  const mid = Math.ceil(s.length / 2);
  return s.length < 2 ? (s ? [s] : []) : [s.slice(0, mid), s.slice(mid)];
}

function sendError(res: ServerResponse, status: number, message: string): void {
  const type = ERROR_TYPES[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
  const retry = status === 429 || status >= 500;
  // retry-after-ms keeps SDK retries fast in tests (the SDK honours it).
  res.writeHead(status, { 'content-type': 'application/json', 'x-should-retry': String(retry), 'retry-after-ms': '5' });
  res.end(JSON.stringify({ error: { message, type, param: null, code: null } }));
}
