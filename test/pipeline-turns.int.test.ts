import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeAnthropic } from './support/fake-anthropic.js';
import { startFakeGemini } from './support/fake-gemini.js';
import { byTurn, dropCommand, dropTask, eventsOfType, FIX_CALL, makePipeline, PLANNER_REPLIES, startLoops, waitState } from './support/pipeline-harness.js';

test('an overloaded model (529) is retried in place by the turn loop: the plan arrives, no failed call is recorded', async (t) => {
  const OVERLOADED_CALLS = 3; // more than the SDK's own retries (2), so the turn loop's retry is what saves the run
  let calls = 0;
  const byPlannerTurn = byTurn(PLANNER_REPLIES);
  const anthropic = await startFakeAnthropic({
    apiKey: 'sk-ant-test',
    respond: (body) => (++calls <= OVERLOADED_CALLS ? { status: 529, errorMessage: 'Overloaded' } : byPlannerTurn(body)),
  });
  Object.assign(process.env, { ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: anthropic.url });
  const p = await makePipeline(t, { config: { planner: { provider: 'anthropic', model: 'claude-sonnet-4-6' } } });
  p.defer(() => anthropic.close());
  await startLoops(p, ['intake', 'planner']);
  const id = await dropTask(p, 'survives an overload');
  const view = await waitState(p, id, ['planned', 'failed'], 30_000);
  assert.equal(view.state, 'planned', view.dev.failure?.reason);
  assert.equal(eventsOfType(p, id, 'model.called').length, PLANNER_REPLIES.length, 'one record per answered call, none for the overloaded ones');
  assert.equal(calls, OVERLOADED_CALLS + PLANNER_REPLIES.length);
  assert.equal(view.attempts, 1, 'retried within the same lease, not by failing and re-claiming');
});

test('an unpriced model is refused before any call while a dollar limit applies (it would count as $0)', async (t) => {
  let calls = 0;
  const anthropic = await startFakeAnthropic({ apiKey: 'sk-ant-test', respond: (body) => { calls++; return byTurn(PLANNER_REPLIES)(body); } });
  Object.assign(process.env, { ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: anthropic.url });
  const p = await makePipeline(t, { config: { planner: { provider: 'anthropic', model: 'claude-unknown-9' } } });
  p.defer(() => anthropic.close());
  await startLoops(p, ['intake', 'planner']);
  const id = await dropTask(p, 'unpriced');
  const view = await waitState(p, id, ['planned', 'failed'], 30_000);
  assert.equal(view.state, 'failed');
  assert.match(view.dev.failure!.reason, /model "claude-unknown-9" has no price.*config "prices"/);
  assert.equal(calls, 0, 'no model call was made');
});

test('a long run (18 executor turns through the real Gemini SDK, with test runs) adds no abort listener per turn', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.after(() => void process.off('warning', onWarning));
  const READS = 14;
  const turns = [
    ...Array.from({ length: READS }, () => ({ toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] })),
    { toolCalls: [{ name: 'run_tests', args: {} }] },
    { toolCalls: [FIX_CALL] },
    { toolCalls: [{ name: 'run_tests', args: {} }] },
    { toolCalls: [{ name: 'finish', args: { summary: 'add() adds' } }] },
  ];
  const gemini = await startFakeGemini({ respond: byTurn(turns, 'model') });
  Object.assign(process.env, { GEMINI_API_KEY: 'test-gemini-key', GOOGLE_GEMINI_BASE_URL: gemini.url });
  const p = await makePipeline(t, {
    scripts: { planner: PLANNER_REPLIES },
    config: { executor: { provider: 'gemini', model: 'gemini-3-flash', streaming: false }, limits: { maxTurns: 40 } },
  });
  p.defer(() => gemini.close());
  await startLoops(p, ['intake', 'planner', 'executor']);
  const id = await dropTask(p, 'many turns');
  await waitState(p, id, ['planned']);
  dropCommand(p, 'approve-many', { command: 'approve', task: id, version: 1 });
  const view = await waitState(p, id, ['publishing', 'failed'], 60_000);
  assert.equal(view.state, 'publishing', view.dev.failure?.reason);
  assert.equal(eventsOfType(p, id, 'model.called').filter((e) => e.data.role === 'executor').length, turns.length);
  await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
  assert.deepEqual(warnings.filter((w) => /MaxListeners/.test(w)), []);
});
