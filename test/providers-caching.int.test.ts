/**
 * Prompt caching: the Anthropic request carries `cache_control` on the system prompt and on the
 * conversation's stable prefix (the newest turn, and the turn that ended the previous request),
 * so a tool loop reads its prefix from the cache; the cached tokens (read and written) are
 * recorded on `model.called`, folded into the task's usage, shown by `task show`, and priced as
 * such (a long loop costs less than without caching). `promptCaching: false` sends no marks.
 * Gemini's cachedContentTokenCount is recorded too.
 */
import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { costUsd, createProvider, type ChatMessage, type ModelProvider, type ToolSpec } from '../src/providers/index.js';
import { startFakeAnthropic, systemText } from './support/fake-anthropic.js';
import { startFakeGemini } from './support/fake-gemini.js';
import { runCli } from './support/cli-run.js';
import { byTurn, dropTask, eventsOfType, makePipeline, startLoops, waitState } from './support/pipeline-harness.js';

const SYSTEM = `You are a careful engineer. ${'Follow the rules of the repository. '.repeat(200)}`;
const tool: ToolSpec = { name: 'read_file', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } };
const ANTHROPIC_ENV = (url: string) => ({ ANTHROPIC_API_KEY: 'sk-cache-test', ANTHROPIC_BASE_URL: url });

/** A tool loop of `turns` turns against `provider`; returns each reply's usage. */
async function loop(provider: ModelProvider, turns: number) {
  const messages: ChatMessage[] = [{ role: 'user', text: 'Read every file.' }];
  const usages = [];
  for (let i = 0; i < turns; i++) {
    const reply = await provider.complete({ model: 'claude-sonnet-4-6', system: SYSTEM, messages, tools: [tool] });
    usages.push(reply.usage);
    messages.push({ role: 'assistant', text: reply.text, toolCalls: reply.toolCalls });
    messages.push({ role: 'tool', results: reply.toolCalls.map((c) => ({ callId: c.id, name: c.name, output: `contents of file ${i}: ${'data '.repeat(100)}` })) });
  }
  return usages;
}

describe('Anthropic prompt caching (provider)', () => {
  it('marks the system prompt and the stable prefix, reads the prefix back, and costs less', async () => {
    const srv = await startFakeAnthropic({ promptCache: true, respond: (_b, i) => ({ toolCalls: [{ name: 'read_file', args: { path: `f${i}` } }], usage: { outputTokens: 20 } }) });
    try {
      const cached = await loop(createProvider({ kind: 'anthropic', model: 'claude-sonnet-4-6', maxRetries: 0, promptCaching: true }, ANTHROPIC_ENV(srv.url)), 6);
      const third = srv.requests[2]!;
      assert.deepEqual(third.system, [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral' } }]);
      assert.equal(systemText(third), SYSTEM);
      const marked = third.messages.map((m: any) => m.content.at(-1).cache_control?.type ?? null);
      assert.deepEqual(marked, [null, null, 'ephemeral', null, 'ephemeral'], 'the previous turn\'s end and the newest turn');

      assert.equal(cached[0]!.cachedInputTokens, undefined, 'nothing to read on the first call');
      assert.ok(cached[0]!.cacheWriteTokens! > 1000, 'the system prompt is written');
      for (const u of cached.slice(1)) {
        assert.ok(u.cachedInputTokens! > cached[0]!.cacheWriteTokens! - 1, `the prefix is read: ${JSON.stringify(u)}`);
        assert.ok(u.cacheWriteTokens! < 300, `only the new turn is written: ${JSON.stringify(u)}`);
        assert.equal(u.inputTokens, u.cachedInputTokens! + u.cacheWriteTokens! + (u.inputTokens - u.cachedInputTokens! - u.cacheWriteTokens!));
      }

      const plain = await startFakeAnthropic({ promptCache: true, respond: (_b, i) => ({ toolCalls: [{ name: 'read_file', args: { path: `f${i}` } }], usage: { outputTokens: 20 } }) });
      try {
        const uncached = await loop(createProvider({ kind: 'anthropic', model: 'claude-sonnet-4-6', maxRetries: 0, promptCaching: false }, ANTHROPIC_ENV(plain.url)), 6);
        assert.ok(!JSON.stringify(plain.requests).includes('cache_control'), 'caching off: no marks');
        assert.ok(uncached.every((u) => !u.cachedInputTokens && !u.cacheWriteTokens));
        const total = (us: typeof cached) => us.reduce((sum, u) => sum + costUsd(u, 'claude-sonnet-4-6').usd, 0);
        const inputs = (us: typeof cached) => us.reduce((sum, u) => sum + u.inputTokens, 0);
        assert.ok(Math.abs(inputs(cached) - inputs(uncached)) < inputs(uncached) * 0.01, 'about the same prompt tokens either way (the system prompt as a block is a few characters longer)');
        assert.ok(total(cached) < total(uncached) * 0.6, `cached ${total(cached)} vs uncached ${total(uncached)}`);
      } finally {
        await plain.close();
      }
    } finally {
      await srv.close();
    }
  });

  it('reports the cache usage of a streamed reply too', async () => {
    const srv = await startFakeAnthropic({ promptCache: true, respond: (_b, i) => ({ toolCalls: [{ name: 'read_file', args: { path: `f${i}` } }] }) });
    try {
      const usages = await loop(createProvider({ kind: 'anthropic', model: 'claude-sonnet-4-6', maxRetries: 0, promptCaching: true, streaming: true }, ANTHROPIC_ENV(srv.url)), 2);
      assert.ok(srv.requests.every((b) => b.stream === true));
      assert.ok(usages[0]!.cacheWriteTokens! > 1000 && !usages[0]!.cachedInputTokens);
      assert.ok(usages[1]!.cachedInputTokens! >= usages[0]!.cacheWriteTokens!);
    } finally {
      await srv.close();
    }
  });

  it('prices cache reads at 0.1x and writes at 1.25x of the input price, or as configured', () => {
    const usage = { inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 500_000, cacheWriteTokens: 400_000 };
    // 100k plain at $3, 500k read at $0.30, 400k written at $3.75 (per MTok).
    assert.equal(costUsd(usage, 'claude-sonnet-4-6').usd, 0.3 + 0.15 + 1.5);
    assert.equal(costUsd(usage, 'claude-sonnet-4-6', { claude: { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0, cacheWritePerMTok: 3 } }).usd, 0.3 + 1.2);
    // Counts a hostile server could send (more cached than input) never price below zero or above the input.
    assert.equal(costUsd({ inputTokens: 10, outputTokens: 0, cachedInputTokens: 1e9, cacheWriteTokens: 1e9 }, 'claude-sonnet-4-6').usd, Math.round(10 * 0.3) / 1e6);
  });

  it('records Gemini\'s cachedContentTokenCount', async () => {
    const srv = await startFakeGemini({ respond: () => ({ text: 'ok', usage: { inputTokens: 5000, outputTokens: 10, cachedTokens: 4000 } }) });
    try {
      const provider = createProvider({ kind: 'gemini', model: 'gemini-2.5-flash', maxRetries: 0 }, { GEMINI_API_KEY: 'g-key', GOOGLE_GEMINI_BASE_URL: srv.url });
      const reply = await provider.complete({ model: 'gemini-2.5-flash', system: 's', messages: [{ role: 'user', text: 'hi' }], tools: [] });
      assert.deepEqual(reply.usage, { inputTokens: 5000, outputTokens: 10, cachedInputTokens: 4000 });
    } finally {
      await srv.close();
    }
  });
});

test('a planner tool loop on Anthropic records cached tokens, folds and shows them, and pays less for them', async (t) => {
  const planner = byTurn([
    { toolCalls: [{ name: 'list_files', args: {} }] },
    { toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] },
    { toolCalls: [{ name: 'read_file', args: { path: 'test/math.test.js' } }] },
    { toolCalls: [{ name: 'submit_plan', args: { summary: 'make add() add', steps: ['fix it'], criteria: ['tests pass'], risks: [] } }] },
  ]);
  const srv = await startFakeAnthropic({ promptCache: true, respond: (body) => ({ usage: { outputTokens: 30 }, ...planner(body) }) });
  Object.assign(process.env, ANTHROPIC_ENV(srv.url));
  const p = await makePipeline(t, { config: { planner: { provider: 'anthropic', model: 'claude-sonnet-4-6' } } });
  p.defer(() => srv.close());
  const up = await startLoops(p, ['intake', 'planner']);
  const id = await dropTask(p, 'cached-plan');
  const view = await waitState(p, id, ['planned', 'failed']);
  await up.stop();
  assert.equal(view.state, 'planned', view.dev.failure?.reason);

  assert.ok(srv.requests.every((b) => Array.isArray(b.system) && b.system[0].cache_control?.type === 'ephemeral'), 'caching is on by default');
  const calls = eventsOfType(p, id, 'model.called');
  assert.equal(calls.length, 4);
  assert.ok(calls[0]!.data.cacheWriteTokens > 0 && !calls[0]!.data.cachedInputTokens);
  for (const c of calls.slice(1)) {
    assert.ok(c.data.cachedInputTokens > 0, JSON.stringify(c.data));
    const uncached = (c.data.inputTokens * 3 + c.data.outputTokens * 15) / 1e6;
    assert.ok(c.data.costUsd < uncached, `turn cost ${c.data.costUsd} < ${uncached} without caching`);
  }
  const sum = (k: string) => calls.reduce((s, c) => s + (c.data[k] ?? 0), 0);
  assert.equal(view.dev.usage.cachedInputTokens, sum('cachedInputTokens'));
  assert.equal(view.dev.usage.cacheWriteTokens, sum('cacheWriteTokens'));
  const show = await runCli(p.root, ['task', 'show', id]);
  assert.match(show.stdout, new RegExp(`usage:.*\\(${sum('cachedInputTokens')} cached, ${sum('cacheWriteTokens')} cache writes\\)`));
  const log = await runCli(p.root, ['task', 'log', id]);
  assert.match(log.stdout + log.stderr, /planner model claude-sonnet-4-6: \d+ in \(\d+ cached/);
});
