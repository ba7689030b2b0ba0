/**
 * Fallback chains: a turn the primary cannot serve (529 overloaded, 429, 5xx, no connection,
 * after the SDK's own retries) goes to the next provider of the role's chain, and the record
 * says who served it and who failed with what; a configuration error (400, 401) never falls
 * back and fails the step with a clear message; no key appears in any record.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { isOrchestraError } from '../src/core/errors.js';
import { createChain } from '../src/providers/factory.js';
import type { ModelRequest, ProviderSettings } from '../src/providers/types.js';
import { startFakeAnthropic } from './support/fake-anthropic.js';
import { startFakeOpenAi, type FakeOpenAiServer, type FakeOpenAiTurn } from './support/fake-openai.js';
import { byTurn, dropTask, eventsOfType, filesContaining, git, makePipeline, startLoops, waitState } from './support/pipeline-harness.js';

const ANTHROPIC_KEY = 'sk-ant-fallback-test-0831';
const OPENAI_KEY = 'sk-openai-fallback-test-7719';
const PLAN = { summary: 'add() subtracts; make it add.', steps: ['Make add() return a + b'], criteria: ['tests pass'], risks: [] };

describe('a chain of providers (createChain)', () => {
  /** Each model name is a behaviour: `status-529`, `ok`, ... */
  let srv: FakeOpenAiServer;
  before(async () => {
    srv = await startFakeOpenAi({
      respond: (body): FakeOpenAiTurn => {
        const m = /^status-(\d+)$/.exec(body.model);
        return m ? { status: Number(m[1]), errorMessage: `injected ${m[1]} for ${body.model}` } : { text: `served by ${body.model}` };
      },
    });
  });
  after(() => srv.close());
  const link = (model: string, extra: Partial<ProviderSettings> = {}): ProviderSettings => ({ kind: 'openai', model, baseURL: `${srv.url}/v1`, maxRetries: 0, ...extra });
  const env = { OPENAI_API_KEY: OPENAI_KEY };
  const req = (extra: Partial<ModelRequest> = {}): ModelRequest => ({ model: '', system: 's', messages: [{ role: 'user', text: 'hi' }], tools: [], ...extra });
  const served = (models: string[]) => srv.requests.slice(-models.length).map((b) => b.model);

  for (const status of [429, 500, 503, 529]) {
    it(`falls back on ${status} and says who failed`, async () => {
      const reply = await createChain([link(`status-${status}`), link('ok')], env).complete(req({ model: `status-${status}` }));
      assert.equal(reply.text, 'served by ok');
      assert.deepEqual(reply.servedBy, { provider: 'openai', model: 'ok' });
      assert.equal(reply.fallbacks?.length, 1);
      assert.equal(reply.fallbacks![0]!.status, status);
      assert.match(reply.fallbacks![0]!.reason, new RegExp(`HTTP ${status}`));
      assert.deepEqual(served(['a', 'b']), [`status-${status}`, 'ok']);
    });
  }

  for (const status of [400, 401]) {
    it(`does not fall back on ${status}: the error surfaces`, async () => {
      const count = srv.requests.length;
      await assert.rejects(createChain([link(`status-${status}`), link('ok')], env).complete(req({ model: `status-${status}` })), (err: unknown) => {
        assert.ok(isOrchestraError(err, 'PROVIDER_ERROR'));
        assert.match(err.message, new RegExp(`HTTP ${status}`));
        return true;
      });
      assert.equal(srv.requests.length, count + 1, 'the fallback was not asked');
    });
  }

  it('walks the whole chain, and when every link fails says so, still retryable', async () => {
    await assert.rejects(createChain([link('status-529'), link('status-503'), link('status-429')], env).complete(req({ model: 'status-529' })), (err: unknown) => {
      assert.ok(isOrchestraError(err, 'PROVIDER_ERROR'));
      assert.match(err.message, /HTTP 429.*after openai status-529 \(529\), openai status-503 \(503\) could not serve the turn/);
      assert.equal(err.details?.retryable, true);
      return true;
    });
  });

  it('falls back when the primary cannot be reached at all', async () => {
    const reply = await createChain([link('ok', { baseURL: 'http://127.0.0.1:9/v1' }), link('ok')], env).complete(req({ model: 'ok' }));
    assert.equal(reply.text, 'served by ok');
    assert.match(reply.fallbacks![0]!.reason, /connection/i);
  });

  it('does not fall back once the caller aborted', async () => {
    const count = srv.requests.length;
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(createChain([link('ok'), link('ok')], env).complete(req({ model: 'ok', signal: controller.signal })), /aborted/);
    assert.equal(srv.requests.length, count);
  });

  it('masks a key a hostile server echoes back in its error', async () => {
    const echo = await startFakeOpenAi({ respond: () => ({ status: 503, errorMessage: `bad key ${OPENAI_KEY} here` }) });
    try {
      const reply = await createChain([link('x', { baseURL: `${echo.url}/v1` }), link('ok')], env).complete(req({ model: 'x' }));
      assert.doesNotMatch(reply.fallbacks![0]!.reason, new RegExp(OPENAI_KEY));
      assert.match(reply.fallbacks![0]!.reason, /\[redacted\]/);
    } finally {
      await echo.close();
    }
  });

  it('refuses a chain whose fallback has no key, at once', () => {
    assert.throws(() => createChain([link('ok'), link('ok', { apiKeyEnv: 'OTHER_API_KEY' })], env), (err: unknown) => isOrchestraError(err, 'MISSING_API_KEY'));
  });
});

/** The planner's primary is Anthropic answering `status`; its fallback an OpenAI-compatible server. */
async function plannerWithFallback(t: { after: (fn: () => unknown) => void }, status: number) {
  const anthropic = await startFakeAnthropic({ respond: () => ({ status, errorMessage: status === 529 ? 'Overloaded' : 'invalid x-api-key' }) });
  const planner = byTurn([
    { toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] },
    { toolCalls: [{ name: 'submit_plan', args: PLAN }] },
  ]);
  const openai = await startFakeOpenAi({ apiKey: OPENAI_KEY, respond: (body) => ({ usage: { inputTokens: 100, outputTokens: 10 }, ...planner(body) }) });
  Object.assign(process.env, { ANTHROPIC_API_KEY: ANTHROPIC_KEY, ANTHROPIC_BASE_URL: anthropic.url, OPENAI_API_KEY: OPENAI_KEY });
  const p = await makePipeline(t, {
    config: {
      planner: { provider: 'anthropic', model: 'claude-sonnet-4-6', maxRetries: 1, fallback: [{ provider: 'openai', model: 'fallback-gpt', baseURL: `${openai.url}/v1` }] },
      prices: { 'fallback-gpt': { inputPerMTok: 1, outputPerMTok: 2 } },
    },
  });
  p.defer(() => anthropic.close());
  p.defer(() => openai.close());
  const up = await startLoops(p, ['intake', 'planner']);
  return { p, anthropic, openai, up };
}

test('a 529 from the primary (after the SDK retries) hands each planner turn to the fallback; the records say so', async (t) => {
  const { p, anthropic, openai, up } = await plannerWithFallback(t, 529);
  const id = await dropTask(p, 'overloaded');
  const view = await waitState(p, id, ['planned', 'failed']);
  await up.stop();
  assert.equal(view.state, 'planned', view.dev.failure?.reason);
  assert.equal(anthropic.requests.length, 4, 'two turns, each tried twice (maxRetries 1) by the SDK');
  assert.equal(openai.requests.length, 2);

  const calls = eventsOfType(p, id, 'model.called');
  assert.equal(calls.length, 2);
  for (const c of calls) {
    assert.equal(c.data.provider, 'openai');
    assert.equal(c.data.model, 'fallback-gpt');
    assert.equal(c.data.priced, true);
    assert.equal(c.data.costUsd, (100 * 1 + 10 * 2) / 1e6);
    assert.equal(c.data.fallbackFrom.length, 1);
    assert.deepEqual({ ...c.data.fallbackFrom[0], reason: undefined }, { provider: 'anthropic', model: 'claude-sonnet-4-6', status: 529, reason: undefined });
    assert.match(c.data.fallbackFrom[0].reason, /HTTP 529 \(overloaded\)/);
  }
  assert.deepEqual(filesContaining(p.root, ANTHROPIC_KEY), []);
  assert.deepEqual(filesContaining(p.root, OPENAI_KEY), []);
  const history = git(p.root, 'log', '-p', '--all');
  assert.ok(!history.includes(ANTHROPIC_KEY) && !history.includes(OPENAI_KEY), 'no key in the workspace history');
});

test('a 401 from the primary does not fall back: the plan step fails saying to check the key', async (t) => {
  const { p, anthropic, openai, up } = await plannerWithFallback(t, 401);
  const id = await dropTask(p, 'bad-key');
  const view = await waitState(p, id, ['planned', 'failed']);
  await up.stop();
  assert.equal(view.state, 'failed');
  assert.match(view.dev.failure?.reason ?? '', /Anthropic API returned HTTP 401 \(check the API key\)/);
  assert.equal(anthropic.requests.length, 1, 'a 401 is not retried');
  assert.equal(openai.requests.length, 0, 'the fallback was never asked');
  assert.equal(eventsOfType(p, id, 'model.called').length, 0);
  assert.deepEqual(filesContaining(p.root, ANTHROPIC_KEY), []);
});
