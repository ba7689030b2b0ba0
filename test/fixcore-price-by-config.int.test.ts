import { test } from 'node:test';
import assert from 'node:assert/strict';
import { approveAndWait, byTurn, dropTask, eventsOfType, FIXER_REPLIES, makePipeline, PLANNER_REPLIES, startLoops } from './support/pipeline-harness.js';
import { startFakeOpenAi } from './support/fake-openai.js';

// Review finding 3: a turn is priced by the model the config names, not by the name the server
// answers with. An OpenAI-compatible stand-in answers every turn as "free-unlisted-model" (no
// price); the configured model costs $1000 per million tokens, so the first turn ($1) is over
// the $0.50 limit and the execution must stop there.

test('a server answering with an unpriced model name is priced by the configured model, and the dollar limit trips', async (t) => {
  const executor = FIXER_REPLIES.map((r) => ({ toolCalls: r.toolCalls, model: 'free-unlisted-model', usage: { inputTokens: 900, outputTokens: 100 } }));
  const server = await startFakeOpenAi({ respond: byTurn(executor) });
  t.after(() => server.close());
  const p = await makePipeline(t, {
    scripts: { planner: PLANNER_REPLIES },
    config: {
      executor: { provider: 'openai', model: 'gpt-priced', baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 },
      prices: { 'gpt-priced': { inputPerMTok: 1000, outputPerMTok: 1000 } },
      limits: { maxCostUsd: 0.5 },
    },
  });
  await startLoops(p);
  const id = await dropTask(p, 'priced');
  const view = await approveAndWait(p, id, ['completed', 'failed'], 45_000);
  assert.equal(view.state, 'failed', 'the limit stopped the execution');
  assert.match(view.dev.failure?.reason ?? '', /cost limit \(\$0\.50+\) was reached \(\$1\.00 spent\)/);
  const calls = eventsOfType(p, id, 'model.called').filter((e) => e.data.role === 'executor');
  assert.equal(calls.length, 1, 'no turn after the one that went over');
  assert.equal(server.requests.length, 1);
  assert.deepEqual([calls[0]!.data.model, calls[0]!.data.servedModel, calls[0]!.data.priced, calls[0]!.data.costUsd], ['gpt-priced', 'free-unlisted-model', true, 1]);
});
