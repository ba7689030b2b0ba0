/**
 * One contract for every model provider. Each fixture knows how to start its fake server (the
 * real SDKs pointed at test/support/fake-*.ts) and build the provider; the cases below run
 * against every fixture, in each streaming mode it supports. What only one wire format can show
 * (tool_result blocks, functionResponse parts, thought signatures, synthesized ids) lives in the
 * fixture's `wire` hooks, called from the shared cases. Cases that do not apply to a fixture
 * (HTTP errors for the scripted provider, say) are registered as skipped with the reason.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOrchestraError, type OrchestraError } from '../src/core/errors.js';
import {
  costUsd,
  createProvider,
  promptHash,
  type ChatMessage,
  type ModelProvider,
  type ModelReply,
  type ModelRequest,
  type ProviderKind,
  type ToolCall,
  type ToolSpec,
} from '../src/providers/index.js';
import { startFakeAnthropic, type AnthropicRequestBody, type FakeTurn } from './support/fake-anthropic.js';
import { startFakeGemini, type FakeGeminiTurn, type GeminiRequestBody } from './support/fake-gemini.js';
import { startFakeOpenAi, type FakeOpenAiTurn, type OpenAiRequestBody } from './support/fake-openai.js';

// ---------------------------------------------------------------------------------------------
// Shared request shapes and assertions
// ---------------------------------------------------------------------------------------------

const readTool: ToolSpec = {
  name: 'read_file',
  description: 'Read a file',
  parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
};

/**
 * The first user message names the scenario: the fake servers answer by it, the scripted
 * fixture builds its script from it.
 */
type Scenario = 'plain' | 'tool' | 'count' | 'rate-limited' | 'server-error' | 'overloaded' | 'overloaded-stream' | 'bad-request' | 'slow' | 'fatal';

const ask = (scenario: Scenario): ChatMessage => ({ role: 'user', text: scenario });

/**
 * The server's request count once no request has arrived for a while: retries of an earlier case
 * may still be on their way (SDK backoff on a loaded machine) and would be taken for this case's.
 */
async function quietCount(wire: { requestCount(): number }): Promise<number> {
  for (let last = -1; last !== wire.requestCount(); ) {
    last = wire.requestCount();
    await new Promise((r) => setTimeout(r, 500));
  }
  return wire.requestCount();
}
const request = (model: string, messages: ChatMessage[], extra: Partial<ModelRequest> = {}): ModelRequest => ({
  model,
  system: 'You are terse.',
  messages,
  tools: [readTool],
  ...extra,
});

/** Asserts a rejection is `code` with a readable one-line message matching `re`; returns the error. */
async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<OrchestraError> {
  let caught: OrchestraError | undefined;
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isOrchestraError(err), `not an OrchestraError: ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, re);
    assert.doesNotMatch(err.message, /\n\s+at /);
    caught = err;
    return true;
  });
  return caught!;
}

/** Usage the fake servers and the script report for the scenarios below. */
const TOOL_TURN_USAGE = { inputTokens: 21, outputTokens: 8 };
const ANSWER_TURN_USAGE = { inputTokens: 40, outputTokens: 6 };
const PLAIN_USAGE = { inputTokens: 7, outputTokens: 3 };
const COUNT_USAGE = { inputTokens: 1234, outputTokens: 56 };
const PLAIN_TEXT = 'Hello there.';

/** Turn 0 asks for a tool; later turns echo what the tool said, so the answer proves the round-trip. */
function toolThenAnswer(toolOutput: string | undefined, index: number): FakeTurn & FakeGeminiTurn {
  if (toolOutput === undefined) return { text: 'Reading.', toolCalls: [{ name: 'read_file', args: { path: 'a.txt' } }], usage: { ...TOOL_TURN_USAGE } };
  return { text: `file says: ${toolOutput} (#${index})`, usage: { ...ANSWER_TURN_USAGE } };
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

interface MakeOptions {
  scenario: Scenario;
  streaming: boolean;
  maxRetries?: number;
  /** Overrides the key the fake server accepts (a wrong key). */
  apiKey?: string;
}

/** An error the fixture can be driven into, and what the provider must report for it. */
interface ErrorCase {
  scenario: Scenario;
  /** HTTP status in `details.status`, when the error came with one. */
  status?: number;
  message: RegExp;
  streamingOnly?: boolean;
}

/** Checks only one wire format can make, called from the shared cases. */
interface WireChecks {
  /** The last request was sent to the streaming endpoint / with `stream: true`. */
  lastStreamed(): boolean;
  /** The request carried the system prompt, tool schema and key in this provider's format. */
  checkRequestShape(): void;
  /** The last request carried the assistant turn and the tool result in this provider's format. */
  checkToolHistory(call: ToolCall, output: string, isError: boolean): void;
  /** Provider-specific checks on the tool-calling reply (ids, signatures). */
  checkToolReply?(first: ModelReply, again: () => Promise<ModelReply>): Promise<void>;
  /** How many requests reached the server so far. */
  requestCount(): number;
}

interface Harness {
  make(opts: MakeOptions): ModelProvider;
  wire?: WireChecks;
  close(): Promise<void>;
}

interface ProviderFixture {
  name: ProviderKind;
  model: string;
  streamingModes: boolean[];
  stopReasons: { toolUse: string; endTurn: string };
  /** Usage the provider reports for the COUNT_USAGE turn (Gemini adds thinking tokens). */
  countUsage: { inputTokens: number; outputTokens: number };
  /** Usage reported on the tool-calling turn. */
  toolTurnUsage: { inputTokens: number; outputTokens: number };
  retryable: ErrorCase[];
  nonRetryable: ErrorCase[];
  /** A wrong API key: what the provider reports (undefined: the provider takes no key). */
  badKey?: ErrorCase;
  /** Key variables in order of preference; the first is named when none is set. */
  keyVars?: string[];
  /** True when the request can be aborted while it is in flight (else only before it starts). */
  abortsInFlight: boolean;
  start(): Promise<Harness>;
}

const anthropic: ProviderFixture = {
  name: 'anthropic',
  model: 'claude-sonnet-4-6',
  streamingModes: [false, true],
  stopReasons: { toolUse: 'tool_use', endTurn: 'end_turn' },
  countUsage: COUNT_USAGE,
  toolTurnUsage: TOOL_TURN_USAGE,
  retryable: [
    { scenario: 'rate-limited', status: 429, message: /HTTP 429 \(rate limited\).*slow down please/ },
    { scenario: 'server-error', status: 500, message: /HTTP 500.*slow down please/ },
    { scenario: 'overloaded', status: 529, message: /HTTP 529 \(overloaded\).*Overloaded/ },
    { scenario: 'overloaded-stream', message: /overloaded_error: Overloaded/, streamingOnly: true },
  ],
  nonRetryable: [{ scenario: 'bad-request', status: 400, message: /Anthropic API returned HTTP 400: invalid_request_error: max_tokens is too large/ }],
  badKey: { scenario: 'plain', status: 401, message: /Anthropic API returned HTTP 401 \(check the API key\).*invalid x-api-key/ },
  keyVars: ['ANTHROPIC_API_KEY'],
  abortsInFlight: true,
  async start() {
    const firstText = (body: AnthropicRequestBody) => body.messages[0]?.content?.[0]?.text as Scenario | undefined;
    const srv = await startFakeAnthropic({
      apiKey: 'sk-test',
      respond: (body, i): FakeTurn => {
        switch (firstText(body)) {
          case 'plain': return { text: PLAIN_TEXT, usage: { ...PLAIN_USAGE } };
          case 'count': return { text: 'counted', usage: { ...COUNT_USAGE } };
          case 'rate-limited': return { status: 429, errorMessage: 'slow down please' };
          case 'server-error': return { status: 500, errorMessage: 'slow down please' };
          case 'overloaded': return { status: 529, errorMessage: 'Overloaded' };
          case 'overloaded-stream': return { streamError: { type: 'overloaded_error', message: 'Overloaded' } };
          case 'bad-request': return { status: 400, errorMessage: 'max_tokens is too large' };
          case 'slow': return { text: 'late', delayMs: 2000 };
          default: return toolThenAnswer(body.messages.at(-1).content.find((c: any) => c.type === 'tool_result')?.content, i);
        }
      },
    });
    return {
      make: ({ streaming, maxRetries = 0, apiKey = 'sk-test' }) =>
        createProvider({ kind: 'anthropic', model: this.model, streaming, maxRetries }, { ANTHROPIC_API_KEY: apiKey, ANTHROPIC_BASE_URL: srv.url }),
      close: () => srv.close(),
      wire: {
        lastStreamed: () => srv.requests.at(-1)!.stream ?? false,
        requestCount: () => srv.requests.length,
        checkRequestShape() {
          const sent = srv.requests.at(-1)!;
          assert.equal(sent.model, 'claude-sonnet-4-6');
          assert.equal(sent.system, 'You are terse.');
          assert.deepEqual(sent.tools[0].input_schema, readTool.parameters);
          assert.equal(srv.apiKeys.at(-1), 'sk-test');
        },
        checkToolHistory(call, output, isError) {
          const sent = srv.requests.at(-1)!;
          assert.deepEqual(sent.messages[1], {
            role: 'assistant',
            content: [
              { type: 'text', text: 'Reading.' },
              { type: 'tool_use', id: call.id, name: 'read_file', input: { path: 'a.txt' } },
            ],
          });
          assert.deepEqual(sent.messages[2], {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: call.id, content: output, ...(isError ? { is_error: true } : {}) }],
          });
        },
      },
    };
  },
};

const gemini: ProviderFixture = {
  name: 'gemini',
  model: 'gemini-2.5-flash',
  streamingModes: [false, true],
  stopReasons: { toolUse: 'STOP', endTurn: 'STOP' },
  // Thinking tokens count as output.
  countUsage: { inputTokens: COUNT_USAGE.inputTokens, outputTokens: COUNT_USAGE.outputTokens + 7 },
  toolTurnUsage: { inputTokens: TOOL_TURN_USAGE.inputTokens, outputTokens: TOOL_TURN_USAGE.outputTokens + 3 },
  retryable: [
    { scenario: 'rate-limited', status: 429, message: /HTTP 429 \(rate limited\).*quota gone/ },
    { scenario: 'server-error', status: 500, message: /HTTP 500.*quota gone/ },
    { scenario: 'overloaded', status: 503, message: /HTTP 503: UNAVAILABLE: The model is overloaded/ },
  ],
  nonRetryable: [{ scenario: 'bad-request', status: 400, message: /Gemini API returned HTTP 400: INVALID_ARGUMENT: maxOutputTokens is too large/ }],
  // The Gemini API answers a bad key with 400 INVALID_ARGUMENT, not 401.
  badKey: { scenario: 'plain', status: 400, message: /Gemini API returned HTTP 400.*API key not valid/ },
  keyVars: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
  abortsInFlight: true,
  async start() {
    const firstText = (body: GeminiRequestBody) => body.contents[0]?.parts?.[0]?.text as Scenario | undefined;
    const srv = await startFakeGemini({
      apiKey: 'g-test',
      respond: (body, i): FakeGeminiTurn => {
        switch (firstText(body)) {
          case 'plain': return { text: PLAIN_TEXT, usage: { ...PLAIN_USAGE } };
          case 'count': return { text: 'counted', usage: { ...COUNT_USAGE, thoughtsTokens: 7 } };
          case 'rate-limited': return { status: 429, errorMessage: 'quota gone' };
          case 'server-error': return { status: 500, errorMessage: 'quota gone' };
          case 'overloaded': return { status: 503, errorMessage: 'The model is overloaded' };
          case 'bad-request': return { status: 400, errorMessage: 'maxOutputTokens is too large' };
          case 'slow': return { text: 'late', delayMs: 2000 };
          default: {
            const response = body.contents.at(-1).parts.find((p: any) => p.functionResponse)?.functionResponse.response;
            const turn = toolThenAnswer(response?.output ?? response?.error, i);
            for (const c of turn.toolCalls ?? []) c.signature = 'sig-1';
            return { ...turn, usage: { ...turn.usage, thoughtsTokens: turn.toolCalls ? 3 : undefined } };
          }
        }
      },
    });
    return {
      make: ({ streaming, maxRetries = 0, apiKey = 'g-test' }) =>
        createProvider({ kind: 'gemini', model: this.model, streaming, maxRetries }, { GEMINI_API_KEY: apiKey, GOOGLE_GEMINI_BASE_URL: srv.url }),
      close: () => srv.close(),
      wire: {
        lastStreamed: () => srv.infos.at(-1)!.stream,
        requestCount: () => srv.requests.length,
        checkRequestShape() {
          const sent = srv.requests.at(-1)!;
          assert.equal(srv.infos.at(-1)!.model, 'gemini-2.5-flash');
          assert.equal(srv.infos.at(-1)!.headers['x-goog-api-key'], 'g-test');
          assert.deepEqual(sent.systemInstruction.parts, [{ text: 'You are terse.' }]);
          assert.deepEqual(sent.tools[0].functionDeclarations[0].parametersJsonSchema, readTool.parameters);
        },
        checkToolHistory(_call, output, isError) {
          const sent = srv.requests.at(-1)!;
          // Synthesized ids are never sent back; the thought signature is.
          assert.deepEqual(sent.contents[1], {
            role: 'model',
            parts: [{ text: 'Reading.' }, { functionCall: { name: 'read_file', args: { path: 'a.txt' } }, thoughtSignature: 'sig-1' }],
          });
          assert.deepEqual(sent.contents[2], {
            role: 'user',
            parts: [{ functionResponse: { name: 'read_file', response: isError ? { error: output } : { output } } }],
          });
        },
        async checkToolReply(first, again) {
          const call = first.toolCalls[0]!;
          assert.equal(call.signature, 'sig-1', 'the thought signature is kept with the call');
          assert.ok(call.id.length > 0);
          assert.equal((await again()).toolCalls[0]!.id, call.id, 'synthesized ids are stable');
        },
      },
    };
  },
};

/** Canned replies per scenario: indexed by assistant turns, so the tool scenario has two. */
const SCRIPTS: Partial<Record<Scenario, unknown>> = {
  plain: [{ text: PLAIN_TEXT, usage: PLAIN_USAGE }],
  count: [{ text: 'counted', usage: COUNT_USAGE }],
  tool: [
    { text: 'Reading.', toolCalls: [{ name: 'read_file', args: { path: 'a.txt' } }], usage: TOOL_TURN_USAGE },
    { text: 'file says: hello (#1)', usage: ANSWER_TURN_USAGE },
  ],
  slow: [{ text: 'late' }],
  fatal: [{ error: 'model exploded' }],
};

const scripted: ProviderFixture = {
  name: 'scripted',
  model: 'script',
  streamingModes: [false],
  stopReasons: { toolUse: 'tool_use', endTurn: 'end_turn' },
  countUsage: COUNT_USAGE,
  toolTurnUsage: TOOL_TURN_USAGE,
  retryable: [],
  nonRetryable: [{ scenario: 'fatal', message: /Scripted provider error: model exploded/ }],
  abortsInFlight: false,
  async start() {
    return {
      make: ({ scenario }) => createProvider({ kind: 'scripted', model: 'script', script: SCRIPTS[scenario] ?? SCRIPTS.plain }),
      close: async () => undefined,
    };
  },
};

const openai: ProviderFixture = {
  name: 'openai',
  model: 'gpt-test',
  streamingModes: [false, true],
  stopReasons: { toolUse: 'tool_use', endTurn: 'end_turn' },
  countUsage: COUNT_USAGE,
  toolTurnUsage: TOOL_TURN_USAGE,
  retryable: [
    { scenario: 'rate-limited', status: 429, message: /HTTP 429 \(rate limited\).*slow down please/ },
    { scenario: 'server-error', status: 500, message: /HTTP 500.*slow down please/ },
    { scenario: 'overloaded', status: 529, message: /HTTP 529 \(overloaded\).*Overloaded/ },
  ],
  nonRetryable: [{ scenario: 'bad-request', status: 400, message: /OpenAI-compatible API returned HTTP 400: invalid_request_error: max_completion_tokens is too large/ }],
  badKey: { scenario: 'plain', status: 401, message: /HTTP 401 \(check the API key\)/ },
  keyVars: ['OPENAI_API_KEY'],
  abortsInFlight: true,
  async start() {
    const firstText = (body: OpenAiRequestBody) => body.messages.find((m: { role: string }) => m.role === 'user')?.content as Scenario | undefined;
    const srv = await startFakeOpenAi({
      apiKey: 'sk-test',
      respond: (body, i): FakeOpenAiTurn => {
        switch (firstText(body)) {
          case 'plain': return { text: PLAIN_TEXT, usage: { ...PLAIN_USAGE } };
          case 'count': return { text: 'counted', usage: { ...COUNT_USAGE } };
          case 'rate-limited': return { status: 429, errorMessage: 'slow down please' };
          case 'server-error': return { status: 500, errorMessage: 'slow down please' };
          case 'overloaded': return { status: 529, errorMessage: 'Overloaded' };
          case 'bad-request': return { status: 400, errorMessage: 'max_completion_tokens is too large' };
          case 'slow': return { text: 'late', delayMs: 2000 };
          default: {
            const last = body.messages.at(-1);
            return toolThenAnswer(last.role === 'tool' ? String(last.content).replace(/^error: /, '') : undefined, i);
          }
        }
      },
    });
    return {
      make: ({ streaming, maxRetries = 0, apiKey = 'sk-test' }) =>
        createProvider({ kind: 'openai', model: this.model, streaming, maxRetries, baseURL: `${srv.url}/v1` }, { OPENAI_API_KEY: apiKey }),
      close: () => srv.close(),
      wire: {
        lastStreamed: () => srv.requests.at(-1)!.stream ?? false,
        requestCount: () => srv.requests.length,
        checkRequestShape() {
          const sent = srv.requests.at(-1)!;
          assert.equal(sent.model, 'gpt-test');
          assert.deepEqual(sent.messages[0], { role: 'system', content: 'You are terse.' });
          assert.deepEqual(sent.tools[0].function.parameters, readTool.parameters);
          assert.equal(srv.apiKeys.at(-1), 'sk-test');
        },
        checkToolHistory(call, output, isError) {
          const sent = srv.requests.at(-1)!;
          assert.deepEqual(sent.messages[2], {
            role: 'assistant',
            content: 'Reading.',
            tool_calls: [{ id: call.id, type: 'function', function: { name: 'read_file', arguments: '{"path":"a.txt"}' } }],
          });
          assert.deepEqual(sent.messages[3], { role: 'tool', tool_call_id: call.id, content: isError ? `error: ${output}` : output });
        },
      },
    };
  },
};

const fixtures: ProviderFixture[] = [anthropic, gemini, openai, scripted];

// ---------------------------------------------------------------------------------------------
// The contract
// ---------------------------------------------------------------------------------------------

for (const fixture of fixtures) {
  describe(`${fixture.name} provider contract`, () => {
    let h: Harness;
    before(async () => {
      h = await fixture.start();
    });
    after(() => h.close());
    const complete = (p: ModelProvider, messages: ChatMessage[], extra: Partial<ModelRequest> = {}) => p.complete(request(fixture.model, messages, extra));

    for (const streaming of fixture.streamingModes) {
      const mode = fixture.streamingModes.length > 1 ? ` (streaming=${streaming})` : '';

      it(`plain text reply${mode}`, async () => {
        const reply = await complete(h.make({ scenario: 'plain', streaming }), [ask('plain')]);
        assert.equal(reply.text, PLAIN_TEXT);
        assert.deepEqual(reply.toolCalls, []);
        assert.equal(reply.stopReason, fixture.stopReasons.endTurn);
        assert.equal(reply.model, fixture.model);
        if (h.wire) {
          assert.equal(h.wire.lastStreamed(), streaming, 'the streaming setting picks the endpoint');
          h.wire.checkRequestShape();
        }
      });

      for (const isError of [false, true]) {
        it(`tool calls round trip, tool result ${isError ? 'marked as an error' : 'ok'}${mode}`, async () => {
          const p = h.make({ scenario: 'tool', streaming });
          const first = await complete(p, [ask('tool')]);
          assert.equal(first.text, 'Reading.');
          assert.equal(first.toolCalls.length, 1);
          const call = first.toolCalls[0]!;
          assert.deepEqual({ name: call.name, args: call.args }, { name: 'read_file', args: { path: 'a.txt' } });
          assert.ok(call.id.length > 0, 'every call has an id to answer');
          assert.deepEqual(first.usage, fixture.toolTurnUsage);
          assert.equal(first.stopReason, fixture.stopReasons.toolUse);
          assert.equal(first.model, fixture.model);
          await h.wire?.checkToolReply?.(first, () => complete(p, [ask('tool')]));

          const history: ChatMessage[] = [
            ask('tool'),
            { role: 'assistant', text: first.text, toolCalls: first.toolCalls },
            { role: 'tool', results: [{ callId: call.id, name: call.name, output: 'hello', ...(isError ? { isError: true } : {}) }] },
          ];
          const second = await complete(p, history);
          assert.match(second.text, /^file says: hello/);
          assert.deepEqual(second.toolCalls, []);
          assert.equal(second.stopReason, fixture.stopReasons.endTurn);
          assert.deepEqual(second.usage, ANSWER_TURN_USAGE);
          if (h.wire) {
            assert.equal(h.wire.lastStreamed(), streaming);
            h.wire.checkRequestShape();
            h.wire.checkToolHistory(call, 'hello', isError);
          }
        });
      }

      it(`usage: token counts as the provider reports them${mode}`, async () => {
        const reply = await complete(h.make({ scenario: 'count', streaming }), [ask('count')]);
        assert.equal(reply.text, 'counted');
        assert.deepEqual(reply.usage, fixture.countUsage);
        assert.equal(reply.usageEstimated, undefined, 'reported counts are not estimates');
      });

      const retryable = fixture.retryable.filter((e) => streaming || !e.streamingOnly);
      it(`retryable errors surface as PROVIDER_ERROR with retryable true${mode}`, { skip: retryable.length === 0 && 'no transport errors' }, async () => {
        for (const e of retryable) {
          const before = h.wire ? await quietCount(h.wire) : undefined;
          const err = await rejectsWith(complete(h.make({ scenario: e.scenario, streaming }), [ask(e.scenario)]), 'PROVIDER_ERROR', e.message);
          assert.equal(err.details?.retryable, true, `${e.scenario} is retryable`);
          assert.ok(err.details?.provider, 'the provider is named');
          if (e.status !== undefined) assert.equal(err.details?.status, e.status);
          if (before !== undefined) assert.equal(h.wire!.requestCount() - before, 1, 'maxRetries 0 means one request');
        }
      });

      it(`non-retryable errors surface as PROVIDER_ERROR with retryable false and a readable message${mode}`, async () => {
        for (const e of fixture.nonRetryable.filter((x) => streaming || !x.streamingOnly)) {
          const err = await rejectsWith(complete(h.make({ scenario: e.scenario, streaming }), [ask(e.scenario)]), 'PROVIDER_ERROR', e.message);
          assert.equal(err.details?.retryable, false, `${e.scenario} is not retryable`);
          if (e.status !== undefined) assert.equal(err.details?.status, e.status);
        }
        if (fixture.badKey) {
          const e = fixture.badKey;
          const err = await rejectsWith(complete(h.make({ scenario: e.scenario, streaming, apiKey: 'wrong-key' }), [ask(e.scenario)]), 'PROVIDER_ERROR', e.message);
          assert.equal(err.details?.retryable, false, 'a wrong key is not retryable');
          assert.equal(err.details?.status, e.status);
          assert.ok(!err.message.includes('wrong-key'), 'the key is not echoed');
        }
      });

      it(`an aborted request gives PROVIDER_ERROR marked aborted${mode}`, async () => {
        const signal = fixture.abortsInFlight ? AbortSignal.timeout(50) : AbortSignal.abort();
        const started = Date.now();
        const err = await rejectsWith(complete(h.make({ scenario: 'slow', streaming }), [ask('slow')], { signal }), 'PROVIDER_ERROR', /aborted/);
        assert.equal(err.details?.aborted, true);
        assert.equal(err.details?.retryable, false);
        assert.ok(Date.now() - started < 1500, 'the abort does not wait for the answer');
      });

      it(`SDK retries: maxRetries 0 sends one request, maxRetries 1 sends two${mode}`, { skip: !fixture.retryable.length && 'no transport retries' }, async () => {
        const e = fixture.retryable[0]!;
        const before = await quietCount(h.wire!);
        await rejectsWith(complete(h.make({ scenario: e.scenario, streaming }), [ask(e.scenario)]), 'PROVIDER_ERROR', e.message);
        assert.equal(h.wire!.requestCount() - before, 1, 'maxRetries 0 means one request');
        await rejectsWith(complete(h.make({ scenario: e.scenario, streaming, maxRetries: 1 }), [ask(e.scenario)]), 'PROVIDER_ERROR', e.message);
        assert.equal(h.wire!.requestCount() - before, 3, 'maxRetries 1 means two requests');
      });
    }

    it('missing API key gives MISSING_API_KEY naming the variable', { skip: !fixture.keyVars && 'takes no API key' }, () => {
      const vars = fixture.keyVars!;
      for (const env of [{}, { [vars[0]!]: '   ' }]) {
        assert.throws(() => createProvider({ kind: fixture.name, model: fixture.model }, env), (e: unknown) => {
          assert.ok(isOrchestraError(e, 'MISSING_API_KEY'), String(e));
          assert.ok(e.message.includes(vars[0]!), e.message);
          assert.equal(e.details?.variable, vars[0]);
          return true;
        });
      }
      for (const name of vars) assert.equal(createProvider({ kind: fixture.name, model: fixture.model }, { [name]: 'x' }).kind, fixture.name, `${name} is accepted`);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Scripted provider specifics (not part of the shared contract)
// ---------------------------------------------------------------------------------------------

describe('scripted provider specifics', () => {
  const replies = [
    { text: 'step 1', toolCalls: [{ name: 'read_file', args: { path: 'x' } }], usage: { inputTokens: 3, outputTokens: 4 } },
    { text: 'done' },
  ];
  const first: ChatMessage = { role: 'user', text: 'read a.txt' };
  const assistant = (n: number): ChatMessage[] =>
    Array.from({ length: n }, () => [{ role: 'assistant', toolCalls: [] } as ChatMessage, { role: 'user', text: 'go on' } as ChatMessage]).flat();

  it('indexes replies by assistant turns and repeats the last one', async () => {
    const p = createProvider({ kind: 'scripted', model: 'script', script: { replies } });
    const r0 = await p.complete(request('script', [first]));
    assert.deepEqual(r0.toolCalls, [{ id: 'script_0_0', name: 'read_file', args: { path: 'x' } }]);
    assert.deepEqual(r0.usage, { inputTokens: 3, outputTokens: 4 });
    assert.equal(r0.stopReason, 'tool_use');
    assert.deepEqual(await p.complete(request('script', [first])), r0, 'stateless: same history, same reply');
    assert.equal((await p.complete(request('script', [first, ...assistant(1)]))).text, 'done');
    const r4 = await p.complete(request('script', [first, ...assistant(4)]));
    assert.equal(r4.text, 'done');
    assert.equal(r4.stopReason, 'end_turn');
    assert.ok(r4.usage.inputTokens > 0, 'usage is estimated when the script gives none');
    assert.equal(r4.usageEstimated, true);
  });

  it('reads JSON and YAML files and rejects bad ones with INVALID_INPUT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orchestra-script-'));
    try {
      writeFileSync(join(dir, 's.json'), JSON.stringify({ replies }));
      writeFileSync(join(dir, 's.yaml'), 'replies:\n  - text: from yaml\n    toolCalls:\n      - name: run\n        args: { cmd: ls }\n');
      writeFileSync(join(dir, 'bad.yaml'), 'replies:\n  - toolCalls:\n      - args: {}\n');
      const fromJson = createProvider({ kind: 'scripted', model: 's', scriptFile: join(dir, 's.json') });
      assert.equal((await fromJson.complete(request('s', [first, ...assistant(1)]))).text, 'done');
      const fromYaml = createProvider({ kind: 'scripted', model: 's', scriptFile: join(dir, 's.yaml') });
      assert.deepEqual((await fromYaml.complete(request('s', [first]))).toolCalls[0]!.args, { cmd: 'ls' });
      assert.throws(
        () => createProvider({ kind: 'scripted', model: 's', scriptFile: join(dir, 'bad.yaml') }),
        (e: unknown) => isOrchestraError(e, 'INVALID_INPUT') && /replies\.0\.toolCalls\.0\.name/.test(e.message),
      );
      assert.throws(() => createProvider({ kind: 'scripted', model: 's', scriptFile: join(dir, 'none.json') }), /Cannot read script file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pricing and prompt hash', () => {
  it('prices by longest prefix and flags unknown models', () => {
    const mtok = { inputTokens: 1_000_000, outputTokens: 1_000_000 };
    assert.deepEqual(costUsd(mtok, 'claude-sonnet-4-5-20250929'), { usd: 18, priced: true, matchedKey: 'claude-sonnet' });
    assert.equal(costUsd(mtok, 'models/gemini-2.5-flash-lite').usd, 0.5);
    assert.equal(costUsd(mtok, 'gemini-2.5-flash').usd, 2.8);
    assert.equal(costUsd({ inputTokens: 500_000, outputTokens: 0 }, 'claude-opus-4-1').usd, 7.5);
    assert.deepEqual(costUsd(mtok, 'mystery-model'), { usd: 0, priced: false });
    assert.equal(costUsd(mtok, 'mine-v2', { mine: { inputPerMTok: 1, outputPerMTok: 2 } }).usd, 3);
  });

  it('promptHash is short, stable and boundary-sensitive', () => {
    assert.match(promptHash(['a', 'b']), /^[0-9a-f]{16}$/);
    assert.equal(promptHash(['a', 'b']), promptHash(['a', 'b']));
    assert.notEqual(promptHash(['ab', 'c']), promptHash(['a', 'bc']));
  });
});
