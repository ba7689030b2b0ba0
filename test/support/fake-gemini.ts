/**
 * A local stand-in for the Gemini Developer API, speaking the real REST wire format so the
 * official `@google/genai` SDK can be pointed at it:
 *   POST /v1beta/models/{model}:generateContent            → JSON GenerateContentResponse
 *   POST /v1beta/models/{model}:streamGenerateContent?alt=sse → SSE `data: {...}` chunks
 * The SDK sends the key in the `x-goog-api-key` header (`?key=` is accepted too).
 *
 *   const srv = await startFakeGemini({ respond: (body, i) => ({ text: 'hi' }) });
 *   createProvider({ kind: 'gemini', model: 'gemini-2.5-flash', maxRetries: 0 },
 *                  { GEMINI_API_KEY: 'test-key', GOOGLE_GEMINI_BASE_URL: srv.url });
 */
import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { serveOnLoopback, readBody, waitUnlessClosed } from './http-util.js';

export interface FakeGeminiToolCall {
  name: string;
  args: Record<string, unknown>;
  /** Gemini usually sends no id; set one to emulate models that do. */
  id?: string;
  /** Emitted as the part's `thoughtSignature`. */
  signature?: string;
}

export interface FakeTurn {
  text?: string;
  toolCalls?: FakeGeminiToolCall[];
  usage?: { inputTokens?: number; outputTokens?: number; thoughtsTokens?: number; /** Reported as cachedContentTokenCount (implicit caching). */ cachedTokens?: number };
  /** Candidate finishReason, default 'STOP'. */
  stopReason?: string;
  /** Error injection: answer with this HTTP status and a Google error body. */
  status?: number;
  errorMessage?: string;
  /** Wait this long before answering (abort / timeout tests). */
  delayMs?: number;
}
export type FakeGeminiTurn = FakeTurn;

/** Parsed request body as the SDK sent it (REST GenerateContentRequest shape). */
export type GeminiRequestBody = Record<string, any>;

export interface FakeGeminiRequestInfo {
  model: string;
  stream: boolean;
  headers: IncomingHttpHeaders;
}

export interface FakeGeminiOptions {
  respond: (body: GeminiRequestBody, index: number, info: FakeGeminiRequestInfo) => FakeTurn | Promise<FakeTurn>;
  /** Required key; by default any non-empty key is accepted. */
  apiKey?: string;
}

export interface FakeGeminiServer {
  /** Base URL for GOOGLE_GEMINI_BASE_URL, e.g. http://127.0.0.1:43123 */
  url: string;
  /** Bodies of the generate requests received, in order (rejected ones included). */
  requests: GeminiRequestBody[];
  /** Model, streaming flag and headers of those requests, same order. */
  infos: FakeGeminiRequestInfo[];
  close(): Promise<void>;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const ROUTE = /^\/v1(?:beta|alpha)?\/models\/([^:]+):(generateContent|streamGenerateContent)$/;

export async function startFakeGemini(opts: FakeGeminiOptions): Promise<FakeGeminiServer> {
  const requests: GeminiRequestBody[] = [];
  const infos: FakeGeminiRequestInfo[] = [];


  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const match = ROUTE.exec(url.pathname);
    if (req.method !== 'POST' || !match) return sendError(res, 404, `no route ${req.method} ${url.pathname}`);
    const body = JSON.parse(await readBody(req)) as GeminiRequestBody;
    const info: FakeGeminiRequestInfo = {
      model: decodeURIComponent(match[1]!),
      stream: match[2] === 'streamGenerateContent',
      headers: req.headers,
    };
    const index = requests.length;
    requests.push(body);
    infos.push(info);
    const key = req.headers['x-goog-api-key'] ?? url.searchParams.get('key');
    if (!key || (opts.apiKey !== undefined && key !== opts.apiKey)) {
      return sendError(res, 400, 'API key not valid. Please pass a valid API key.');
    }

    const turn = await opts.respond(body, index, info);
    if (turn.delayMs && !(await waitUnlessClosed(res, turn.delayMs))) return;
    if (turn.status && turn.status >= 400) {
      return sendError(res, turn.status, turn.errorMessage ?? `injected error ${turn.status}`);
    }
    if (info.stream) writeStream(res, turn, info.model);
    else {
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(response(textParts(turn.text), callParts(turn), turn, info.model, true)));
    }
  }

  const { url, close } = await serveOnLoopback(handle, (res, err) => sendError(res, 500, `fake server failure: ${String(err)}`));
  return {
    url,
    requests,
    infos,
    close,
  };
}

function textParts(text: string | undefined): Record<string, unknown>[] {
  return text === undefined ? [] : [{ text }];
}

function callParts(turn: FakeTurn): Record<string, unknown>[] {
  return (turn.toolCalls ?? []).map((c) => ({
    functionCall: { ...(c.id ? { id: c.id } : {}), name: c.name, args: c.args },
    ...(c.signature ? { thoughtSignature: c.signature } : {}),
  }));
}

/** One GenerateContentResponse; `last` adds finishReason and usageMetadata as the API does. */
function response(parts: Record<string, unknown>[], calls: Record<string, unknown>[], turn: FakeTurn, model: string, last: boolean) {
  const input = turn.usage?.inputTokens ?? 10;
  const output = turn.usage?.outputTokens ?? 5;
  const thoughts = turn.usage?.thoughtsTokens;
  return {
    candidates: [
      {
        content: { role: 'model', parts: [...parts, ...calls] },
        ...(last ? { finishReason: turn.stopReason ?? 'STOP' } : {}),
        index: 0,
      },
    ],
    ...(last
      ? {
          usageMetadata: {
            promptTokenCount: input,
            candidatesTokenCount: output,
            ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
            ...(turn.usage?.cachedTokens ? { cachedContentTokenCount: turn.usage.cachedTokens } : {}),
            totalTokenCount: input + output + (thoughts ?? 0),
          },
        }
      : {}),
    modelVersion: model,
    responseId: 'fake-response',
  };
}

/** Text arrives in two chunks; function calls and the final metadata in the last one. */
function writeStream(res: ServerResponse, turn: FakeTurn, model: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\r\n\r\n`);
  const text = turn.text ?? '';
  const mid = Math.ceil(text.length / 2);
  if (text.length > 1) send(response(textParts(text.slice(0, mid)), [], turn, model, false));
  const rest = text.length > 1 ? text.slice(mid) : turn.text;
  send(response(textParts(rest), callParts(turn), turn, model, true));
  res.end();
}

function sendError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify({ error: { code: status, message, status: STATUS_NAMES[status] ?? 'UNKNOWN' } }));
}
