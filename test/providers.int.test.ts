import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOrchestraError } from '../src/core/errors.js';
import {
  costUsd,
  createProvider,
  promptHash,
  type ChatMessage,
  type ModelRequest,
  type ToolSpec,
} from '../src/providers/index.js';
import { startFakeAnthropic, type FakeAnthropicServer, type FakeTurn } from './support/fake-anthropic.js';
import { startFakeGemini, type FakeGeminiServer, type FakeGeminiTurn } from './support/fake-gemini.js';

const readTool: ToolSpec = {
  name: 'read_file',
  description: 'Read a file',
  parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
};
const ask: ChatMessage = { role: 'user', text: 'read a.txt' };
const request = (model: string, messages: ChatMessage[], extra: Partial<ModelRequest> = {}): ModelRequest => ({
  model,
  system: 'You are terse.',
  messages,
  tools: [readTool],
  ...extra,
});

/** Asserts a rejection is PROVIDER_ERROR (or `code`) with a readable one-line message matching `re`. */
async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isOrchestraError(err), `not an OrchestraError: ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, re);
    assert.doesNotMatch(err.message, /\n\s+at /);
    return true;
  });
}

/** Turn 0 asks for a tool; later turns echo what the tool said, so the answer proves the round-trip. */
function toolThenAnswer(lastToolOutput: (body: any) => string | undefined) {
  return (body: any, index: number): FakeTurn & FakeGeminiTurn => {
    const fromBody = lastToolOutput(body);
    if (fromBody === undefined) {
      return { text: 'Reading.', toolCalls: [{ name: 'read_file', args: { path: 'a.txt' } }], usage: { inputTokens: 21, outputTokens: 8 } };
    }
    return { text: `file says: ${fromBody} (#${index})`, usage: { inputTokens: 40, outputTokens: 6 } };
  };
}

for (const streaming of [false, true]) {
  describe(`anthropic provider (streaming=${streaming})`, () => {
    let srv: FakeAnthropicServer;
    let fails = 0;
    before(async () => {
      srv = await startFakeAnthropic({
        apiKey: 'sk-test',
        respond: (body, i) =>
          body.messages[0]?.content?.[0]?.text === 'overload'
            ? { streamError: { type: 'overloaded_error', message: 'Overloaded' } }
            : body.messages[0]?.content?.[0]?.text === 'fail'
            ? { status: fails++ % 2 ? 500 : 429, errorMessage: 'slow down please' }
            : toolThenAnswer((b) => b.messages.at(-1).content.find((c: any) => c.type === 'tool_result')?.content)(body, i),
      });
    });
    after(() => srv.close());
    const make = (maxRetries = 0) =>
      createProvider(
        { kind: 'anthropic', model: 'claude-sonnet-4-6', streaming, maxRetries },
        { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: srv.url },
      );

    it('parses tool calls and sends tool results back as tool_result blocks', async () => {
      const p = make();
      const first = await p.complete(request('claude-sonnet-4-6', [ask]));
      assert.equal(first.text, 'Reading.');
      assert.equal(first.toolCalls.length, 1);
      assert.deepEqual({ name: first.toolCalls[0]!.name, args: first.toolCalls[0]!.args }, { name: 'read_file', args: { path: 'a.txt' } });
      assert.deepEqual(first.usage, { inputTokens: 21, outputTokens: 8 });
      assert.equal(first.stopReason, 'tool_use');
      assert.equal(first.model, 'claude-sonnet-4-6');

      const call = first.toolCalls[0]!;
      const history: ChatMessage[] = [
        ask,
        { role: 'assistant', text: first.text, toolCalls: first.toolCalls },
        { role: 'tool', results: [{ callId: call.id, name: call.name, output: 'hello', isError: true }] },
      ];
      const second = await p.complete(request('claude-sonnet-4-6', history));
      assert.match(second.text, /^file says: hello/);
      assert.equal(second.stopReason, 'end_turn');
      assert.deepEqual(second.toolCalls, []);

      const sent = srv.requests.at(-1)!;
      assert.equal(sent.system, 'You are terse.');
      assert.equal(sent.stream ?? false, streaming);
      assert.deepEqual(sent.tools[0].input_schema, readTool.parameters);
      assert.deepEqual(sent.messages[1], {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Reading.' },
          { type: 'tool_use', id: call.id, name: 'read_file', input: { path: 'a.txt' } },
        ],
      });
      assert.deepEqual(sent.messages[2], {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: call.id, content: 'hello', is_error: true }],
      });
      assert.equal(srv.apiKeys.at(-1), 'sk-test');
    });

    it('maps 429 and 500 to PROVIDER_ERROR with the status and message', async () => {
      const before = srv.requests.length;
      await rejectsWith(make().complete(request('claude-sonnet-4-6', [{ role: 'user', text: 'fail' }])), 'PROVIDER_ERROR', /HTTP 429.*slow down please/);
      await rejectsWith(make().complete(request('claude-sonnet-4-6', [{ role: 'user', text: 'fail' }])), 'PROVIDER_ERROR', /HTTP 500.*slow down please/);
      assert.equal(srv.requests.length - before, 2, 'maxRetries 0 means one request each');
      await rejectsWith(make(1).complete(request('claude-sonnet-4-6', [{ role: 'user', text: 'fail' }])), 'PROVIDER_ERROR', /HTTP (429|500)/);
      assert.equal(srv.requests.length - before, 4, 'maxRetries 1 means two requests');
      if (streaming) {
        const overload = make().complete(request('claude-sonnet-4-6', [{ role: 'user', text: 'overload' }]));
        await rejectsWith(overload, 'PROVIDER_ERROR', /overloaded_error: Overloaded/);
      }
    });
  });

  describe(`gemini provider (streaming=${streaming})`, () => {
    let srv: FakeGeminiServer;
    let fails = 0;
    before(async () => {
      srv = await startFakeGemini({
        apiKey: 'g-test',
        respond: (body, i) => {
          if (body.contents[0]?.parts?.[0]?.text === 'fail') return { status: fails++ % 2 ? 500 : 429, errorMessage: 'quota gone' };
          const turn = toolThenAnswer((b) => b.contents.at(-1).parts.find((p: any) => p.functionResponse)?.functionResponse.response.output)(body, i);
          for (const c of turn.toolCalls ?? []) c.signature = 'sig-1';
          return { ...turn, usage: { ...turn.usage, thoughtsTokens: turn.toolCalls ? 3 : undefined } };
        },
      });
    });
    after(() => srv.close());
    const make = () =>
      createProvider({ kind: 'gemini', model: 'gemini-2.5-flash', streaming, maxRetries: 0 }, { GEMINI_API_KEY: 'g-test', GOOGLE_GEMINI_BASE_URL: srv.url });

    it('parses function calls, synthesizes stable ids and sends functionResponse parts back', async () => {
      const p = make();
      const first = await p.complete(request('gemini-2.5-flash', [ask]));
      assert.equal(first.text, 'Reading.');
      assert.equal(first.toolCalls.length, 1);
      const call = first.toolCalls[0]!;
      assert.deepEqual({ name: call.name, args: call.args, signature: call.signature }, { name: 'read_file', args: { path: 'a.txt' }, signature: 'sig-1' });
      assert.ok(call.id.length > 0);
      assert.equal((await p.complete(request('gemini-2.5-flash', [ask]))).toolCalls[0]!.id, call.id, 'synthesized ids are stable');
      assert.deepEqual(first.usage, { inputTokens: 21, outputTokens: 8 + 3 });
      assert.equal(first.stopReason, 'STOP');

      const history: ChatMessage[] = [
        ask,
        { role: 'assistant', text: first.text, toolCalls: first.toolCalls },
        { role: 'tool', results: [{ callId: call.id, name: call.name, output: 'hello' }] },
      ];
      const second = await p.complete(request('gemini-2.5-flash', history));
      assert.match(second.text, /^file says: hello/);
      assert.deepEqual(second.toolCalls, []);
      assert.deepEqual(second.usage, { inputTokens: 40, outputTokens: 6 });

      const sent = srv.requests.at(-1)!;
      assert.equal(srv.infos.at(-1)!.stream, streaming);
      assert.equal(srv.infos.at(-1)!.model, 'gemini-2.5-flash');
      assert.equal(srv.infos.at(-1)!.headers['x-goog-api-key'], 'g-test');
      assert.deepEqual(sent.systemInstruction.parts, [{ text: 'You are terse.' }]);
      assert.deepEqual(sent.tools[0].functionDeclarations[0].parametersJsonSchema, readTool.parameters);
      assert.deepEqual(sent.contents[1], {
        role: 'model',
        parts: [{ text: 'Reading.' }, { functionCall: { name: 'read_file', args: { path: 'a.txt' } }, thoughtSignature: 'sig-1' }],
      });
      assert.deepEqual(sent.contents[2], {
        role: 'user',
        parts: [{ functionResponse: { name: 'read_file', response: { output: 'hello' } } }],
      });
    });

    it('maps 429 and 500 to PROVIDER_ERROR with the status and message', async () => {
      await rejectsWith(make().complete(request('gemini-2.5-flash', [{ role: 'user', text: 'fail' }])), 'PROVIDER_ERROR', /HTTP 429.*quota gone/);
      await rejectsWith(make().complete(request('gemini-2.5-flash', [{ role: 'user', text: 'fail' }])), 'PROVIDER_ERROR', /HTTP 500.*quota gone/);
    });
  });
}

describe('provider setup', () => {
  it('missing keys give MISSING_API_KEY naming the variable', () => {
    assert.throws(() => createProvider({ kind: 'anthropic', model: 'claude-sonnet-4-6' }, {}), (e: unknown) => {
      return isOrchestraError(e, 'MISSING_API_KEY') && /ANTHROPIC_API_KEY/.test(e.message);
    });
    assert.throws(() => createProvider({ kind: 'gemini', model: 'gemini-2.5-flash' }, {}), (e: unknown) => {
      return isOrchestraError(e, 'MISSING_API_KEY') && /GEMINI_API_KEY/.test(e.message);
    });
    assert.equal(createProvider({ kind: 'gemini', model: 'gemini-2.5-flash' }, { GOOGLE_API_KEY: 'x' }).kind, 'gemini');
  });

  it('an aborted request gives PROVIDER_ERROR marked aborted', async () => {
    const srv = await startFakeAnthropic({ respond: () => ({ text: 'late', delayMs: 2000 }) });
    try {
      const p = createProvider({ kind: 'anthropic', model: 'm', maxRetries: 0 }, { ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: srv.url });
      const signal = AbortSignal.timeout(50);
      await rejectsWith(p.complete(request('m', [ask], { signal })), 'PROVIDER_ERROR', /aborted/);
    } finally {
      await srv.close();
    }
  });
});

describe('scripted provider', () => {
  const replies = [
    { text: 'step 1', toolCalls: [{ name: 'read_file', args: { path: 'x' } }], usage: { inputTokens: 3, outputTokens: 4 } },
    { text: 'done' },
  ];
  const assistant = (n: number): ChatMessage[] =>
    Array.from({ length: n }, () => [{ role: 'assistant', toolCalls: [] } as ChatMessage, { role: 'user', text: 'go on' } as ChatMessage]).flat();

  it('indexes replies by assistant turns and repeats the last one', async () => {
    const p = createProvider({ kind: 'scripted', model: 'script', script: { replies } });
    const r0 = await p.complete(request('script', [ask]));
    assert.deepEqual(r0.toolCalls, [{ id: 'script_0_0', name: 'read_file', args: { path: 'x' } }]);
    assert.deepEqual(r0.usage, { inputTokens: 3, outputTokens: 4 });
    assert.equal(r0.stopReason, 'tool_use');
    assert.deepEqual(await p.complete(request('script', [ask])), r0, 'stateless: same history, same reply');
    assert.equal((await p.complete(request('script', [ask, ...assistant(1)]))).text, 'done');
    const r4 = await p.complete(request('script', [ask, ...assistant(4)]));
    assert.equal(r4.text, 'done');
    assert.equal(r4.stopReason, 'end_turn');
    assert.ok(r4.usage.inputTokens > 0, 'usage is estimated when the script gives none');
  });

  it('reads JSON and YAML files and rejects bad ones with INVALID_INPUT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orchestra-script-'));
    try {
      writeFileSync(join(dir, 's.json'), JSON.stringify({ replies }));
      writeFileSync(join(dir, 's.yaml'), 'replies:\n  - text: from yaml\n    toolCalls:\n      - name: run\n        args: { cmd: ls }\n');
      writeFileSync(join(dir, 'bad.yaml'), 'replies:\n  - toolCalls:\n      - args: {}\n');
      const fromJson = createProvider({ kind: 'scripted', model: 's', scriptFile: join(dir, 's.json') });
      assert.equal((await fromJson.complete(request('s', [ask, ...assistant(1)]))).text, 'done');
      const fromYaml = createProvider({ kind: 'scripted', model: 's', scriptFile: join(dir, 's.yaml') });
      assert.deepEqual((await fromYaml.complete(request('s', [ask]))).toolCalls[0]!.args, { cmd: 'ls' });
      assert.throws(
        () => createProvider({ kind: 'scripted', model: 's', scriptFile: join(dir, 'bad.yaml') }),
        (e: unknown) => isOrchestraError(e, 'INVALID_INPUT') && /replies\.0\.toolCalls\.0\.name/.test(e.message),
      );
      assert.throws(() => createProvider({ kind: 'scripted', model: 's', scriptFile: join(dir, 'none.json') }), /Cannot read script file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a scripted error reply fails with PROVIDER_ERROR', async () => {
    const p = createProvider({ kind: 'scripted', model: 's', script: [{ error: 'model exploded' }] });
    await rejectsWith(p.complete(request('s', [ask])), 'PROVIDER_ERROR', /model exploded/);
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
