/**
 * The whole dev pipeline through the real SDKs, against local fake Anthropic and Gemini servers:
 * inbox task -> plan v1 -> feedback -> plan v2 -> stale approve refused -> approve v2 -> edits,
 * red run, fix, green run, finish -> commit + push of task/<id> -> task show -> replay offline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeAnthropic } from './support/fake-anthropic.js';
import { startFakeGemini } from './support/fake-gemini.js';
import { runCli, runJson } from './support/cli-run.js';
import { byTurn, dropCommand, dropTask, eventsOfType, git, makePipeline, startLoops, taskCommits, waitFor, waitState } from './support/pipeline-harness.js';

const PLAN_V1 = { summary: 'add() subtracts instead of adding.', steps: ['Make add() return a + b'], criteria: ['tests pass'], risks: ['none known'] };
const PLAN_V2 = { summary: 'add() subtracts; fix it and keep the change minimal.', steps: ['Run the tests', 'Make add() return a + b', 'Run the tests again'], criteria: ['node --test passes'], risks: ['callers of add() see new results'] };
const FEEDBACK = 'Please run the tests before and after the change (feedback-marker-7731).';
const PLANNER_USAGE = { inputTokens: 1000, outputTokens: 100 };
const EXECUTOR_USAGE = { inputTokens: 2000, outputTokens: 50 };

test('task file -> plan v1 -> feedback -> plan v2 -> approve -> red/green -> pushed branch, via the real SDKs', async (t) => {
  const firstPlan = byTurn([
    { text: 'Looking around.', toolCalls: [{ name: 'list_files', args: {} }] },
    { toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] },
    { toolCalls: [{ name: 'submit_plan', args: PLAN_V1 }] },
  ]);
  const anthropic = await startFakeAnthropic({
    respond: (body) => {
      const revising = JSON.stringify(body.messages[0]).includes('The developer answered');
      return { usage: PLANNER_USAGE, ...(revising ? { text: 'Revised.', toolCalls: [{ name: 'submit_plan', args: PLAN_V2 }] } : firstPlan(body)) };
    },
  });
  const gemini = await startFakeGemini({
    respond: (body) => ({ usage: EXECUTOR_USAGE, ...byTurn([
      { text: 'Reading the code.', toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] },
      { toolCalls: [{ name: 'replace_in_file', args: { path: 'src/math.js', old_text: 'return a - b;', new_text: 'return a * b;' } }] },
      { toolCalls: [{ name: 'run_tests', args: {} }] },
      { text: 'Still red: 2 * 3 is 6. Fixing.', toolCalls: [{ name: 'replace_in_file', args: { path: 'src/math.js', old_text: 'return a * b;', new_text: 'return a + b; // sum' } }] },
      { toolCalls: [{ name: 'run_tests', args: {} }] },
      { toolCalls: [{ name: 'finish', args: { summary: 'add() adds its arguments\nThe test passes' } }] },
    ], 'model')(body) }),
  });
  Object.assign(process.env, { ANTHROPIC_API_KEY: 'test-anthropic-key', GEMINI_API_KEY: 'test-gemini-key', ANTHROPIC_BASE_URL: anthropic.url, GOOGLE_GEMINI_BASE_URL: gemini.url });
  const p = await makePipeline(t, {
    config: {
      planner: { provider: 'anthropic', model: 'claude-sonnet-4-6', streaming: true },
      executor: { provider: 'gemini', model: 'gemini-3-flash', streaming: false },
    },
  });
  p.defer(() => anthropic.close());
  p.defer(() => gemini.close());
  const up = await startLoops(p);

  const id = await dropTask(p, 'fix-add', { tags: ['bug'] });
  let view = await waitState(p, id, ['planned', 'failed']);
  assert.equal(view.state, 'planned', view.dev.failure?.reason);
  assert.deepEqual(view.dev.plans.map((pl) => pl.version), [1]);
  assert.equal(anthropic.requests.length, 3);
  assert.ok(anthropic.requests.every((b) => b.stream === true), 'the planner streams');
  // The second request carries the list_files result back as a tool_result.
  assert.match(JSON.stringify(anthropic.requests[1]!.messages), /tool_result[^]*src\/math\.js/);

  // Feedback through the inbox (a command file), then plan v2.
  dropCommand(p, 'feedback-1', { command: 'feedback', task: id, text: FEEDBACK });
  view = await waitFor('plan v2', async () => {
    const v = await p.ws.task(id);
    return v.state === 'failed' || (v.state === 'planned' && v.dev.plans.length === 2) ? v : undefined;
  }, 30_000);
  assert.equal(view.state, 'planned', view.dev.failure?.reason);
  assert.deepEqual(view.dev.plans.map((pl) => pl.version), [1, 2]);
  const v2Request = JSON.stringify(anthropic.requests[3]!.messages);
  assert.ok(v2Request.includes('feedback-marker-7731'), 'the planner was sent the feedback');
  assert.ok(v2Request.includes('You proposed plan v1') && v2Request.includes(PLAN_V1.summary), 'the planner was sent plan v1');

  // Approving the superseded v1 is refused; the task stays planned.
  const stale = await runJson(p.root, ['approve', id, '--version', '1']);
  assert.notEqual(stale.code, 0);
  assert.equal(stale.json.status, 'error');
  assert.equal(stale.json.code, 'CONFLICT');
  assert.equal((await p.ws.task(id)).state, 'planned');

  const approved = await runCli(p.root, ['approve', id, '--version', '2']);
  assert.equal(approved.code, 0, approved.stderr);
  view = await waitState(p, id, ['completed', 'failed'], 45_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  await up.stop();

  // Executor: non-streaming Gemini; the red run's output went back to the model.
  assert.equal(gemini.requests.length, 6);
  assert.ok(gemini.infos.every((i) => !i.stream && i.model === 'gemini-3-flash'));
  assert.match(JSON.stringify(gemini.requests[3]!.contents.at(-1)), /FAILED/);
  assert.deepEqual(view.dev.testRuns.map((r) => r.passed), [false, true]);

  // One commit on task/<id> in the bare remote, with the trailers.
  const commits = taskCommits(p, id);
  assert.equal(commits.length, 1, `commits on task/${id}: ${commits.join(' ')}`);
  const message = git(p.remote, 'log', '-1', '--format=%B', `task/${id}`);
  assert.match(message, new RegExp(`^Task-Id: ${id}$`, 'm'));
  assert.match(message, /^Plan-Version: v2$/m);
  // The subject says what was done (approved plan v2's summary), not what was asked (the title).
  assert.equal(message.split('\n')[0], 'fix: add() subtracts; fix it and keep the change minimal');
  // The publisher's first attempt, although the task had planner and executor leases before it.
  assert.match(message, /^Orchestra-Attempt: 1$/m);
  assert.ok(view.attempts > 1);
  assert.equal(git(p.remote, 'show', `task/${id}:src/math.js`).includes('return a + b;'), true);
  assert.equal(eventsOfType(p, id, 'git.pushed').length, 1);

  // Usage: every model call recorded with its tokens and cost.
  const calls = eventsOfType(p, id, 'model.called');
  assert.equal(calls.length, 10);
  assert.deepEqual(calls.map((c) => c.data.role), [...Array(4).fill('planner'), ...Array(6).fill('executor')]);
  for (const c of calls) {
    assert.ok(c.data.inputTokens > 0 && c.data.outputTokens > 0 && c.data.costUsd > 0 && c.data.priced, JSON.stringify(c.data));
    assert.match(c.data.promptHash, /\w{8,}/);
  }
  const cost = 4 * (1000 * 3 + 100 * 15) / 1e6 + 6 * (2000 * 0.5 + 50 * 3) / 1e6;
  assert.ok(Math.abs(view.dev.usage.costUsd - cost) < 1e-9, `cost ${view.dev.usage.costUsd} vs ${cost}`);
  const show = await runCli(p.root, ['task', 'show', id]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /state:\s+completed/);
  assert.match(show.stdout, new RegExp(`link:\\s+${p.remote.replace(/[.]/g, '\\.')}#task/${id}`));
  assert.match(show.stdout, /usage:\s+10 model calls, 16000 tokens in \/ 700 out, \$0\.0249/);
  assert.ok(existsSync(join(p.root, view.dev.diffFile!)));

  // Replay reads only the records: the fake servers are gone.
  await anthropic.close();
  await gemini.close();
  const replay = await runJson(p.root, ['replay']);
  assert.equal(replay.code, 0, replay.stdout);
  assert.deepEqual(replay.json.data.byState, { completed: 1 });
  assert.equal(replay.json.data.usage.modelCalls, 10);
  assert.ok(Math.abs(replay.json.data.usage.costUsd - view.dev.usage.costUsd) < 1e-9);
  assert.equal(replay.json.data.damaged, 0);
  const after = await runJson(p.root, ['task', 'show', id]);
  assert.equal(after.json.data.state, 'completed');
  assert.deepEqual(after.json.data.dev.push, view.dev.push);
});
