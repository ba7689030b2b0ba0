/**
 * Review finding 4: a model server that sends its headers and then trickles the body, or an SSE
 * stream of keep-alives that never ends, must not hold a turn past the role's `timeoutMs`: the
 * real SDKs (openai, Anthropic, Gemini) against hostile loopback stand-ins, streaming and not.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { isOrchestraError } from '../src/core/errors.js';
import { createProvider, type ProviderSettings } from '../src/providers/index.js';
import { guardedFetch } from '../src/providers/reply-guard.js';
import { listenOnLoopback } from './support/http-util.js';

type Mode = 'trickle' | 'keepalive' | 'silent';

const completion = JSON.stringify({ id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'hi '.repeat(200) } }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
const message = JSON.stringify({ id: 'msg', type: 'message', role: 'assistant', model: 'claude-sonnet-4-6', content: [{ type: 'text', text: 'hi '.repeat(200) }], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 1 } });
const gemini = JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: 'hi '.repeat(200) }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1 } });
const anthropicStart = `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'msg', type: 'message', role: 'assistant', model: 'claude-sonnet-4-6', content: [], stop_reason: null, usage: { input_tokens: 1, output_tokens: 0 } } })}\n\n`;

/** Writes `first`, then `piece()` every 100 ms until the client goes away. */
function drip(res: ServerResponse, contentType: string, first: string, piece: () => string | undefined): void {
  res.writeHead(200, { 'content-type': contentType });
  res.write(first);
  const timer = setInterval(() => {
    const next = piece();
    if (next !== undefined) res.write(next);
  }, 100);
  res.on('close', () => clearInterval(timer));
}

let url = '';
let close: () => Promise<void>;
before(async () => {
  const server = createServer((req, res) => {
    req.resume();
    const [, api, mode] = /^\/(openai|anthropic|gemini)-(trickle|keepalive|silent)\//.exec(req.url ?? '') ?? [];
    const streaming = /stream/.test(req.url ?? '') || req.headers.accept === 'text/event-stream';
    req.on('end', () => {
      const body = api === 'openai' ? completion : api === 'anthropic' ? message : gemini;
      let at = 0;
      const trickle = () => (at < body.length ? body.slice(at, (at += 4)) : undefined);
      if (mode === 'silent') return drip(res, 'application/json', body.slice(0, 10), () => undefined);
      if (mode === 'trickle') return drip(res, 'application/json', '', trickle);
      // keep-alives forever: an SSE comment (openai, gemini) or Anthropic's ping event
      if (api === 'anthropic') return drip(res, 'text/event-stream', anthropicStart, () => 'event: ping\ndata: {"type": "ping"}\n\n');
      return drip(res, 'text/event-stream', '', () => ': keep-alive\n\n');
    });
    void streaming;
  });
  ({ url, close } = await listenOnLoopback(server));
});
after(() => close());

const TIMEOUT_MS = 1000;

async function failsInTime(settings: Omit<ProviderSettings, 'timeoutMs' | 'maxRetries'>, env: NodeJS.ProcessEnv): Promise<void> {
  const provider = createProvider({ ...settings, timeoutMs: TIMEOUT_MS, maxRetries: 0 } as ProviderSettings, env);
  const started = Date.now();
  await assert.rejects(provider.complete({ model: settings.model, system: 's', messages: [{ role: 'user', text: 'hi' }], tools: [] }), (err: unknown) => {
    assert.ok(isOrchestraError(err, 'PROVIDER_ERROR'), String(err));
    assert.match(err.message, /timed out/);
    return true;
  });
  const took = Date.now() - started;
  // The trickled body alone would take ~19 s (4 bytes / 100 ms); keep-alives never end.
  assert.ok(took < TIMEOUT_MS + 1500, `failed after ${took} ms, the timeout is ${TIMEOUT_MS} ms`);
}

for (const mode of ['trickle', 'keepalive'] as Mode[]) {
  for (const streaming of [false, true]) {
    if ((mode === 'keepalive') !== streaming) continue; // a trickled JSON body, or an endless event stream
    test(`openai (${streaming ? 'streaming' : 'not streaming'}): a ${mode} reply fails within the timeout`, () =>
      failsInTime({ kind: 'openai', model: 'gpt-x', baseURL: `${url}/openai-${mode}/v1`, apiKey: 'none', streaming }, {}));
    test(`anthropic (${streaming ? 'streaming' : 'not streaming'}): a ${mode} reply fails within the timeout`, () =>
      failsInTime({ kind: 'anthropic', model: 'claude-sonnet-4-6', streaming }, { ANTHROPIC_API_KEY: 'k-test', ANTHROPIC_BASE_URL: `${url}/anthropic-${mode}` }));
    test(`gemini (${streaming ? 'streaming' : 'not streaming'}): a ${mode} reply fails within the timeout`, () =>
      failsInTime({ kind: 'gemini', model: 'gemini-3-flash', streaming }, { GEMINI_API_KEY: 'k-test', GOOGLE_GEMINI_BASE_URL: `${url}/gemini-${mode}` }));
  }
}

test('openai and anthropic streaming: a trickled event stream fails within the timeout too', async () => {
  await failsInTime({ kind: 'openai', model: 'gpt-x', baseURL: `${url}/openai-trickle/v1`, apiKey: 'none', streaming: true }, {});
  await failsInTime({ kind: 'anthropic', model: 'claude-sonnet-4-6', streaming: true }, { ANTHROPIC_API_KEY: 'k-test', ANTHROPIC_BASE_URL: `${url}/anthropic-trickle` });
});

test('a body that goes silent after its first bytes fails at the idle gap, long before the deadline', async () => {
  const fetchGuarded = guardedFetch('Test', { deadlineMs: 20_000, idleMs: 300, maxBytes: 1 << 20 });
  const started = Date.now();
  const res = await fetchGuarded(`${url}/openai-silent/v1/chat/completions`, { method: 'POST', body: '{}' });
  await assert.rejects(res.text(), (err: unknown) => isOrchestraError(err, 'PROVIDER_ERROR') && /no data for 300 ms/.test(err.message));
  assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
});

test('a body over the byte cap is refused while it arrives, not retried', async () => {
  const fetchGuarded = guardedFetch('Test', { deadlineMs: 20_000, idleMs: 5_000, maxBytes: 64 });
  const res = await fetchGuarded(`${url}/openai-keepalive/v1/chat/completions`, { method: 'POST', body: '{}' });
  await assert.rejects(res.text(), (err: unknown) => isOrchestraError(err, 'PROVIDER_ERROR') && /over the 64-byte limit/.test(err.message) && err.details?.retryable === false);
});
