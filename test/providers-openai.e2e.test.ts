/**
 * The whole dev pipeline with both roles on an OpenAI-compatible server (the local stand-in,
 * through the real `openai` SDK): inbox task -> plan -> approve -> red/green -> pushed branch.
 * The planner talks JSON, the executor SSE; every turn is recorded with its provider, usage
 * (cached tokens apart) and cost from the config's prices; the key is in no record, no workspace
 * file and no commit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAi } from './support/fake-openai.js';
import { runCli } from './support/cli-run.js';
import { approveAndWait, byTurn, dropTask, eventsOfType, filesContaining, git, makePipeline, startLoops, taskCommits, waitState } from './support/pipeline-harness.js';

const KEY = 'sk-e2e-openai-key-58213377';
const PLAN = { summary: 'add() subtracts; make it add.', steps: ['Make add() return a + b', 'Run the tests'], criteria: ['node --test passes'], risks: [] };

test('planner and executor on an OpenAI-compatible server: plan, red/green, pushed branch, recorded usage, no key anywhere', async (t) => {
  const planner = byTurn([
    { text: 'Looking.', toolCalls: [{ name: 'list_files', args: {} }] },
    { toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] },
    { toolCalls: [{ name: 'submit_plan', args: PLAN }] },
  ]);
  const executor = byTurn([
    { toolCalls: [{ name: 'run_tests', args: {} }] },
    { text: 'Red, as expected.', toolCalls: [{ name: 'replace_in_file', args: { path: 'src/math.js', old_text: 'return a - b;', new_text: 'return a + b;' } }] },
    { toolCalls: [{ name: 'run_tests', args: {} }] },
    { toolCalls: [{ name: 'finish', args: { summary: 'add() adds' } }] },
  ]);
  const srv = await startFakeOpenAi({
    apiKey: KEY,
    respond: (body) => (body.model === 'fake-planner'
      ? { usage: { inputTokens: 1000, outputTokens: 100 }, ...planner(body) }
      : { usage: { inputTokens: 2000, outputTokens: 50, cachedTokens: 1500 }, ...executor(body) }),
  });
  process.env.OPENAI_API_KEY = KEY;
  const baseURL = `${srv.url}/v1`;
  const p = await makePipeline(t, {
    config: {
      planner: { provider: 'openai', model: 'fake-planner', baseURL },
      executor: { provider: 'openai', model: 'fake-executor', baseURL, streaming: true },
      prices: { 'fake-planner': { inputPerMTok: 3, outputPerMTok: 15 }, 'fake-executor': { inputPerMTok: 1, outputPerMTok: 4 } },
    },
  });
  p.defer(() => srv.close());
  const up = await startLoops(p);

  const id = await dropTask(p, 'fix-add-openai');
  const planned = await waitState(p, id, ['planned', 'failed']);
  assert.equal(planned.state, 'planned', planned.dev.failure?.reason);
  const view = await approveAndWait(p, id, ['completed', 'failed'], 45_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  await up.stop();

  // The wire: tools offered as functions, results sent back as tool messages, SSE for the executor.
  const plannerRequests = srv.requests.filter((b) => b.model === 'fake-planner');
  const executorRequests = srv.requests.filter((b) => b.model === 'fake-executor');
  assert.equal(plannerRequests.length, 3);
  assert.equal(executorRequests.length, 4);
  assert.ok(plannerRequests.every((b) => !b.stream) && executorRequests.every((b) => b.stream === true));
  assert.ok(plannerRequests[0]!.tools.some((tool: any) => tool.function.name === 'submit_plan'));
  const toolMessage = executorRequests[1]!.messages.at(-1);
  assert.equal(toolMessage.role, 'tool');
  assert.match(toolMessage.content, /fail/i, 'the red run went back to the model');
  assert.ok(srv.apiKeys.every((k) => k === KEY));
  assert.deepEqual(view.dev.testRuns.map((r) => r.passed), [false, true]);
  assert.equal(taskCommits(p, id).length, 1);
  assert.ok(git(p.remote, 'show', `task/${id}:src/math.js`).includes('return a + b;'));

  // The records: provider, tokens (cached apart), cost from the configured prices.
  const calls = eventsOfType(p, id, 'model.called');
  assert.equal(calls.length, 7);
  assert.ok(calls.every((c) => c.data.provider === 'openai' && c.data.priced === true && typeof c.data.promptHash === 'string'));
  const executorCalls = calls.filter((c) => c.data.role === 'executor');
  assert.ok(executorCalls.every((c) => c.data.cachedInputTokens === 1500 && c.data.inputTokens === 2000));
  const cost = 3 * (1000 * 3 + 100 * 15) / 1e6 + 4 * (500 * 1 + 1500 * 0.5 + 50 * 4) / 1e6;
  assert.ok(Math.abs(view.dev.usage.costUsd - cost) < 1e-9, `cost ${view.dev.usage.costUsd} vs ${cost}`);
  const show = await runCli(p.root, ['task', 'show', id]);
  assert.match(show.stdout, /usage:\s+7 model calls, 11000 tokens in \/ 500 out \(6000 cached\)/);

  // The key is in no file of the workspace (records, prompts, config, its git) nor in the remote.
  assert.deepEqual(filesContaining(p.root, KEY), []);
  assert.deepEqual(filesContaining(p.remote, KEY), []);
  // Git objects are compressed: the histories are read through git.
  assert.ok(!git(p.root, 'log', '-p', '--all').includes(KEY), 'not in the workspace history');
  assert.ok(!git(p.remote, 'log', '-p', '--all').includes(KEY), 'not in the pushed history');
});
