/**
 * A follow-up round through the real SDKs against the fake Anthropic and Gemini servers: a task
 * completes (round 1, pushed), feedback from the CLI starts round 2, the planner's request holds
 * round 1's result and the feedback, the approved plan is executed on top of the pushed branch,
 * and the push adds a commit to the same branch as a fast-forward (checked in the bare remote's
 * ancestry and its reflog).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeAnthropic } from './support/fake-anthropic.js';
import { startFakeGemini } from './support/fake-gemini.js';
import { runCli, runJson } from './support/cli-run.js';
import { approveAndWait, byTurn, dropTask, eventsOfType, git, makePipeline, startLoops, waitState } from './support/pipeline-harness.js';

const PLAN_R1 = { summary: 'Make add() add.', steps: ['Make add() return a + b'], criteria: ['tests pass'], risks: [] };
const PLAN_R2 = { summary: 'Document add() in NOTES.md.', steps: ['Write NOTES.md'], criteria: ['tests pass'], risks: [] };
const FEEDBACK = 'Looks good. Now add a NOTES.md that documents add() (followup-marker-5521).';

test('completed task + feedback -> round 2 plan with the previous result -> approve -> new commit on top of the pushed branch, never forced', async (t) => {
  const isRound2 = (first: unknown) => JSON.stringify(first).includes('This is round 2');
  const anthropic = await startFakeAnthropic({
    respond: (body) => ({ usage: { inputTokens: 100, outputTokens: 10 }, toolCalls: [{ name: 'submit_plan', args: isRound2(body.messages[0]) ? PLAN_R2 : PLAN_R1 }] }),
  });
  const round1 = byTurn([
    { toolCalls: [{ name: 'replace_in_file', args: { path: 'src/math.js', old_text: 'return a - b;', new_text: 'return a + b;' } }] },
    { toolCalls: [{ name: 'run_tests', args: {} }] },
    { toolCalls: [{ name: 'finish', args: { summary: 'add() adds now (summary-marker-8812)' } }] },
  ], 'model');
  const round2 = byTurn([
    { toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] },
    { toolCalls: [{ name: 'write_file', args: { path: 'NOTES.md', content: '# Notes\n\nadd(a, b) returns a + b.\n' } }] },
    { toolCalls: [{ name: 'run_tests', args: {} }] },
    { toolCalls: [{ name: 'finish', args: { summary: 'documented add()' } }] },
  ], 'model');
  const gemini = await startFakeGemini({
    respond: (body) => ({ usage: { inputTokens: 100, outputTokens: 10 }, ...(isRound2(body.contents[0]) ? round2(body) : round1(body)) }),
  });
  Object.assign(process.env, { ANTHROPIC_API_KEY: 'test-anthropic-key', GEMINI_API_KEY: 'test-gemini-key', ANTHROPIC_BASE_URL: anthropic.url, GOOGLE_GEMINI_BASE_URL: gemini.url });
  const p = await makePipeline(t, {
    config: {
      planner: { provider: 'anthropic', model: 'claude-sonnet-4-6' },
      executor: { provider: 'gemini', model: 'gemini-3-flash' },
    },
  });
  p.defer(() => anthropic.close());
  p.defer(() => gemini.close());
  // The bare remote logs every update of its refs: a forced update would show in the reflog.
  git(p.remote, 'config', 'core.logAllRefUpdates', 'always');
  await startLoops(p);

  // Round 1.
  const id = await dropTask(p, 'fix-add');
  let view = await approveAndWait(p, id, ['completed', 'failed'], 45_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  const first = view.dev.push!.sha;
  assert.equal(git(p.remote, 'rev-parse', `task/${id}`), first);

  // Feedback from the CLI starts round 2; the planner sees round 1's result and the feedback.
  const fb = await runCli(p.root, ['feedback', id, FEEDBACK]);
  assert.equal(fb.code, 0, fb.stderr);
  assert.match(fb.stdout, new RegExp(`round 2 started on task/${id}: plan v2 will follow`));
  view = await waitState(p, id, ['planned', 'failed']);
  assert.equal(view.state, 'planned', view.dev.failure?.reason);
  assert.equal(view.dev.round, 2);
  assert.deepEqual(view.dev.plans.map((pl) => pl.version), [1, 2], 'plan versions stay global');
  const request = JSON.stringify(anthropic.requests.at(-1)!.messages[0]);
  // The previous plan, the executor's summary, the diff stat, the commit, the test outcome and the feedback.
  const needles = ['This is round 2', 'Make add() add.', 'summary-marker-8812', 'src/math.js | 2 +-', `${first.slice(0, 7)}`, 'fix: make add() add', 'the last one passed', 'followup-marker-5521', 'Make plan v2 for round 2'];
  for (const needle of needles) {
    assert.ok(request.includes(needle), `the round 2 planner request mentions ${needle}`);
  }
  assert.ok(request.includes('> Looks good. Now add a NOTES.md'), 'the feedback is quoted as data');

  // Approve plan v2: executed on top of the pushed branch, pushed as a fast-forward.
  view = await approveAndWait(p, id, ['completed', 'failed'], 45_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  const second = view.dev.push!.sha;
  assert.notEqual(second, first);
  assert.equal(git(p.remote, 'rev-parse', `task/${id}`), second);
  git(p.remote, 'merge-base', '--is-ancestor', first, second); // throws when round 1's commit is not in round 2's history
  assert.deepEqual(git(p.remote, 'rev-list', `${first}..${second}`).split('\n'), [second], 'one new commit on top');
  assert.equal(git(p.remote, 'rev-parse', `${second}^`), first);
  const reflog = git(p.remote, 'reflog', 'show', '--format=%H', `refs/heads/task/${id}`).split('\n').reverse();
  assert.deepEqual(reflog, [first, second], 'the remote saw exactly the two pushes');
  for (let i = 1; i < reflog.length; i++) git(p.remote, 'merge-base', '--is-ancestor', reflog[i - 1]!, reflog[i]!);

  // The round's execution started from the pushed commit; its diff is only what round 2 changed.
  const started = eventsOfType(p, id, 'exec.started');
  assert.equal(started.length, 2);
  assert.equal(started[1]!.data.baseCommit, first);
  assert.deepEqual(view.dev.rounds[1]!.plans, [2]);
  const diff = readFileSync(join(p.root, view.dev.diffFile!), 'utf8');
  assert.match(diff, /NOTES\.md/);
  assert.doesNotMatch(diff, /src\/math\.js/);
  const message = git(p.remote, 'log', '-1', '--format=%B', second);
  assert.match(message, /^Plan-Version: v2$/m);
  assert.match(message, /^Orchestra-Round: 2$/m);
  assert.match(message.split('\n')[0]!, /document add\(\) in NOTES\.md/i);
  assert.equal(git(p.remote, 'show', `task/${id}:src/math.js`).includes('return a + b;'), true, 'round 1 work kept');

  // Every view says the round: task show --json has the rounds, the human views say "round 2".
  const shown = await runJson(p.root, ['task', 'show', id]);
  assert.equal(shown.json.data.dev.round, 2);
  assert.deepEqual(shown.json.data.dev.rounds.map((r: { round: number; plans: number[]; pushes: unknown[] }) => [r.round, r.plans, r.pushes.length]), [[1, [1], 1], [2, [2], 1]]);
  const human = await runCli(p.root, ['task', 'show', id]);
  assert.match(human.stdout, /round:\s+2/);
  const list = await runCli(p.root, ['task', 'list']);
  assert.match(list.stdout, /round 2/);
});
