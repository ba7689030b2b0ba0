/**
 * The OpenAI-compatible provider through the real `openai` SDK against the local stand-in:
 * tool calls both ways (JSON and SSE), finish reasons, usage with cached tokens and their price,
 * where the key comes from (OPENAI_API_KEY, a role's apiKeyEnv, none for a local server), a 401
 * that says to check the key, hostile replies refused in bounded time, and an agent whose front
 * matter names a local server (no key) with a fallback.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAgent } from '../src/pipeline/agents.js';
import { assertPriced, isLocalEndpoint, type RoleModel } from '../src/pipeline/model-runtime.js';
import type { Workspace } from '../src/core/workspace.js';
import { cliOk } from './support/cli-run.js';
import { eventsOf, makeWorkspace, testActor } from './support/core-workspace.js';
import { isOrchestraError } from '../src/core/errors.js';
import { ModelRoleConfigSchema } from '../src/core/model-config.js';
import { costUsd, createProvider, type ChatMessage, type ModelRequest, type ToolSpec } from '../src/providers/index.js';
import { startFakeOpenAi, type FakeOpenAiServer, type FakeOpenAiTurn } from './support/fake-openai.js';

const readTool: ToolSpec = { name: 'read_file', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] } };
const KEY = 'sk-openai-test-key-4417';

/** The stand-in answers by the first user message. */
const SCENARIOS: Record<string, FakeOpenAiTurn> = {
  tool: { text: 'Reading.', toolCalls: [{ name: 'read_file', args: { path: 'a.txt' } }], usage: { inputTokens: 1000, outputTokens: 20, cachedTokens: 800 } },
  long: { text: 'cut', finishReason: 'length' },
  'bad-args': { toolCalls: [{ name: 'read_file', rawArguments: '{"path": "a.txt"' }] },
  'array-args': { toolCalls: [{ name: 'read_file', rawArguments: '["a.txt"]' }] },
  'deep-args': { toolCalls: [{ name: 'read_file', rawArguments: `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}` }] },
  huge: { hugeContentBytes: 50 * 1024 * 1024 },
  unauthorized: { status: 401, errorMessage: 'Incorrect API key provided.' },
  'bad-request': { status: 400, errorMessage: 'max_completion_tokens is too large' },
  overloaded: { status: 529, errorMessage: 'Overloaded' },
};

let srv: FakeOpenAiServer;
before(async () => {
  srv = await startFakeOpenAi({
    respond: (body) => {
      const first = body.messages.find((m: { role: string }) => m.role === 'user')?.content as string;
      if (body.messages.at(-1).role === 'tool') return { text: `saw ${body.messages.at(-1).content}`, usage: { inputTokens: 1200, outputTokens: 5 } };
      return SCENARIOS[first] ?? { text: 'hello' };
    },
  });
});
after(() => srv.close());

const make = (extra: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = { OPENAI_API_KEY: KEY }) =>
  createProvider({ kind: 'openai', model: 'fake-gpt', baseURL: `${srv.url}/v1`, maxRetries: 0, ...extra }, env);
const request = (text: string, more: ChatMessage[] = []): ModelRequest => ({ model: 'fake-gpt', system: 'You are terse.', messages: [{ role: 'user', text }, ...more], tools: [readTool] });

async function refusedQuickly(p: Promise<unknown>, re: RegExp, withinMs: number): Promise<void> {
  const started = Date.now();
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isOrchestraError(err, 'PROVIDER_ERROR'), String(err));
    assert.match(err.message, re);
    assert.equal(err.details?.retryable, false);
    return true;
  });
  assert.ok(Date.now() - started < withinMs, `took ${Date.now() - started} ms`);
}

for (const streaming of [false, true]) {
  describe(`openai provider (${streaming ? 'SSE' : 'JSON'})`, () => {
    it('maps a tool call out and its result back, with finish reason, usage and cached tokens', async () => {
      const provider = make({ streaming });
      const reply = await provider.complete(request('tool'));
      assert.equal(reply.text, 'Reading.');
      assert.deepEqual(reply.toolCalls.map((c) => [c.name, c.args]), [['read_file', { path: 'a.txt' }]]);
      assert.equal(reply.stopReason, 'tool_use');
      assert.deepEqual(reply.usage, { inputTokens: 1000, outputTokens: 20, cachedInputTokens: 800 });
      const sent = srv.requests.at(-1)!;
      assert.equal(sent.stream ?? false, streaming);
      assert.deepEqual(sent.messages[0], { role: 'system', content: 'You are terse.' });
      assert.equal(sent.max_tokens, 8192, 'a compatible server gets max_tokens');
      assert.equal(sent.max_completion_tokens, undefined);
      assert.deepEqual(sent.tools[0], { type: 'function', function: { name: 'read_file', description: 'Read a file', parameters: readTool.parameters } });
      assert.equal(srv.apiKeys.at(-1), KEY);

      const call = reply.toolCalls[0]!;
      const second = await provider.complete(request('tool', [
        { role: 'assistant', text: reply.text, toolCalls: reply.toolCalls },
        { role: 'tool', results: [{ callId: call.id, name: call.name, output: 'file body 7', isError: false }] },
      ]));
      assert.equal(second.text, 'saw file body 7');
      assert.equal(second.stopReason, 'end_turn');
      const history = srv.requests.at(-1)!.messages;
      assert.deepEqual(history[2], { role: 'assistant', content: 'Reading.', tool_calls: [{ id: call.id, type: 'function', function: { name: 'read_file', arguments: '{"path":"a.txt"}' } }] });
      assert.deepEqual(history[3], { role: 'tool', tool_call_id: call.id, content: 'file body 7' });
    });

    it('refuses malformed, non-object and too deep tool arguments at once', async () => {
      const provider = make({ streaming });
      await refusedQuickly(provider.complete(request('bad-args')), /arguments of tool call "read_file" are not valid JSON/, 5000);
      await refusedQuickly(provider.complete(request('array-args')), /are not a JSON object/, 5000);
      await refusedQuickly(provider.complete(request('deep-args')), /not valid JSON/, 5000);
    });
  });
}

describe('openai provider', () => {
  it('maps finish_reason length to max_tokens', async () => {
    assert.equal((await make().complete(request('long'))).stopReason, 'max_tokens');
  });

  it('refuses a huge reply while it arrives, in bounded time and memory', async () => {
    const before = process.memoryUsage().rss;
    await refusedQuickly(make().complete(request('huge')), /over the 1048576-byte limit/, 10_000);
    assert.ok(process.memoryUsage().rss - before < 40 * 1024 * 1024, 'the 50 MB body was not held');
  });

  it('says to check the key on a 401 and does not retry it; a 400 is not retryable either', async () => {
    const count = srv.requests.length;
    await assert.rejects(make({ maxRetries: 2 }).complete(request('unauthorized')), (err: unknown) => {
      assert.ok(isOrchestraError(err, 'PROVIDER_ERROR'));
      assert.match(err.message, /HTTP 401 \(check the API key\)/);
      assert.equal(err.details?.retryable, false);
      assert.doesNotMatch(err.message, new RegExp(KEY));
      return true;
    });
    assert.equal(srv.requests.length, count + 1, 'no SDK retry of a 401');
    await assert.rejects(make().complete(request('bad-request')), /HTTP 400.*max_completion_tokens is too large/);
  });

  it('retries a 529 in the SDK, then reports it as retryable', async () => {
    const count = srv.requests.length;
    await assert.rejects(make({ maxRetries: 1 }).complete(request('overloaded')), (err: unknown) => {
      assert.ok(isOrchestraError(err, 'PROVIDER_ERROR'));
      assert.match(err.message, /HTTP 529 \(overloaded\)/);
      assert.equal(err.details?.retryable, true);
      return true;
    });
    assert.equal(srv.requests.length, count + 2);
  });

  it('takes the key from apiKeyEnv, sends none with apiKey "none", and names a missing variable', async () => {
    await make({ apiKeyEnv: 'GATEWAY_API_KEY' }, { GATEWAY_API_KEY: 'gw-key-991', OPENAI_API_KEY: KEY }).complete(request('hi'));
    assert.equal(srv.apiKeys.at(-1), 'gw-key-991');
    await make({ apiKey: 'none' }, { OPENAI_API_KEY: KEY }).complete(request('hi'));
    assert.equal(srv.apiKeys.at(-1), undefined);
    assert.equal(srv.headers.at(-1)!.authorization, undefined, 'no Authorization header at all');
    assert.throws(() => make({ apiKeyEnv: 'GATEWAY_API_KEY' }, { OPENAI_API_KEY: KEY }), (err: unknown) => {
      assert.ok(isOrchestraError(err, 'MISSING_API_KEY'));
      assert.match(err.message, /GATEWAY_API_KEY is not set/);
      return true;
    });
  });

  it('refuses config that would put a key where it is not masked, or a base URL that is not http(s)', () => {
    const parse = (extra: Record<string, unknown>) => ModelRoleConfigSchema.safeParse({ provider: 'openai', model: 'm', ...extra });
    assert.equal(parse({ apiKeyEnv: 'HOME' }).success, false, 'a variable that does not look like a secret');
    assert.equal(parse({ apiKeyEnv: 'X; rm -rf /' }).success, false);
    assert.equal(parse({ baseURL: 'file:///etc/passwd' }).success, false);
    assert.equal(parse({ apiKey: 'sk-literal-key' }).success, false, 'a literal key is not accepted, only "none"');
    assert.equal(parse({ fallback: [{ provider: 'openai', model: 'm', fallback: [] }] }).success, false, 'no nested chains');
    assert.equal(parse({ baseURL: 'http://127.0.0.1:11434/v1', apiKey: 'none' }).success, true);
    assert.equal(ModelRoleConfigSchema.safeParse({ provider: 'anthropic', model: 'm', apiKeyEnv: 'OTHER_API_KEY' }).success, false, 'openai-only settings are not silently ignored');
    assert.equal(parse({ fallback: [{ provider: 'gemini', model: 'g', baseURL: 'http://127.0.0.1:1/v1' }] }).success, false);
  });

  it('lets a local server run unpriced under a cost limit, but not a remote one or an unpriced fallback', () => {
    const ws = { config: { prices: { 'priced-gpt': { inputPerMTok: 1, outputPerMTok: 2 } } } } as unknown as Workspace;
    const role = (over: Record<string, unknown>): RoleModel => ({ provider: undefined as never, settings: ModelRoleConfigSchema.parse({ provider: 'openai', model: 'llama3.2', ...over }) });
    assert.doesNotThrow(() => assertPriced(ws, role({ baseURL: 'http://127.0.0.1:11434/v1' })));
    assert.doesNotThrow(() => assertPriced(ws, role({ baseURL: 'http://localhost:1234/v1' })));
    assert.doesNotThrow(() => assertPriced(ws, role({ baseURL: 'http://[::1]:8000/v1' })));
    assert.doesNotThrow(() => assertPriced(ws, role({ baseURL: 'http://gpu-box:8000/v1', apiKey: 'none' })));
    assert.throws(() => assertPriced(ws, role({ baseURL: 'https://openrouter.ai/api/v1' })), /model "llama3.2" has no price/);
    assert.throws(() => assertPriced(ws, role({ model: 'priced-gpt', fallback: [{ provider: 'anthropic', model: 'mystery-claude' }] })), /"mystery-claude" has no price/);
    assert.equal(isLocalEndpoint({ provider: 'openai', baseURL: 'http://127.evil.com/v1' }), false);
  });

  it('prices cached input at half the input price by default, or at the configured price', () => {
    const usage = { inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 800_000 };
    assert.equal(costUsd(usage, 'gpt-x', { 'gpt-x': { inputPerMTok: 2, outputPerMTok: 8 } }, 'openai').usd, 1.2);
    assert.equal(costUsd(usage, 'gpt-x', { 'gpt-x': { inputPerMTok: 2, outputPerMTok: 8, cachedInputPerMTok: 0.2 } }, 'openai').usd, 0.56);
    assert.deepEqual(costUsd(usage, 'llama3.2', {}, 'openai'), { usd: 0, priced: false });
  });
});

test('an agent on a local OpenAI-compatible server (no key) runs its tools; its overloaded primary hands over to its fallback', async (t) => {
  const review = 'Looks fine (agent-marker-3391).';
  const local = await startFakeOpenAi({
    respond: (body) => {
      if (body.model === 'busy-model') return { status: 529, errorMessage: 'Overloaded' };
      const n = (body.messages as Array<{ role: string }>).filter((m) => m.role === 'assistant').length;
      if (n === 0) return { toolCalls: [{ name: 'task_show', args: {} }] };
      if (n === 1) return { toolCalls: [{ name: 'task_comment', args: { text: review } }] };
      return { text: 'Reviewed.' };
    },
  });
  t.after(() => local.close());
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const baseURL = `${local.url}/v1`;
  mkdirSync(join(root, 'ai', 'agents'), { recursive: true });
  writeFileSync(join(root, 'ai', 'agents', 'local-reviewer.md'), [
    '---', 'name: local-reviewer', 'provider: openai', 'model: busy-model', `baseURL: ${baseURL}`, 'apiKey: none', 'maxRetries: 0',
    'fallback:', `  - { provider: openai, model: qwen-local, baseURL: "${baseURL}", apiKey: none }`,
    'tools: [task_show, task_comment]', '---', 'Review the task and comment.', '',
  ].join('\n'));
  const id = await cliOk(root, ['task', 'new', 'Add a cache to the image proxy', '--workstream', 'default']);
  const result = await runAgent(ws, 'local-reviewer', id, testActor);
  assert.deepEqual([result.ok, result.output], [true, 'Reviewed.']);
  assert.ok(local.apiKeys.every((k) => k === undefined), 'no key was sent');
  const events = eventsOf(root, `tasks/${id}`);
  assert.ok(events.some((e) => e.type === 'task.commented' && e.data.text === review));
  const calls = events.filter((e) => e.type === 'model.called');
  assert.equal(calls.length, 3);
  for (const c of calls) {
    assert.deepEqual([c.data.role, c.data.provider, c.data.model, c.data.priced, c.data.costUsd], ['agent', 'openai', 'qwen-local', false, 0]);
    assert.deepEqual(c.data.fallbackFrom.map((f: { model: string; status: number }) => [f.model, f.status]), [['busy-model', 529]]);
  }
});
