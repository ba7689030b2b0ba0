/** Pipeline commands against running loops: a stale approval is refused; abort stops a test run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventsOf } from './support/core-workspace.js';
import { runJson } from './support/cli-run.js';
import {
  dropCommand, dropTask, eventsOfType, FIXER_REPLIES, git, makePipeline, PLANNER_REPLIES, procsWith, startLoops, TEST_CMD, waitFor, waitState,
} from './support/pipeline-harness.js';

test('approving a superseded plan version is refused with CONFLICT; the task stays planned', async (t) => {
  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES } });
  await startLoops(p, ['intake', 'planner']);
  const id = await dropTask(p, 'stale');
  await waitState(p, id, ['planned']);
  const fed = await runJson(p.root, ['feedback', id, 'also mention the README']);
  assert.equal(fed.code, 0, fed.stdout);
  const v2 = await waitFor('plan v2', async () => ((await p.ws.task(id)).dev.plans.length === 2 ? p.ws.task(id) : undefined));
  assert.equal(v2.state, 'planned');

  const cli = await runJson(p.root, ['approve', id, '--version', '1']);
  assert.notEqual(cli.code, 0);
  assert.equal(cli.json.code, 'CONFLICT');
  assert.match(cli.json.message, /v1 is stale: the latest is v2/);

  // The same through the inbox: the command file is rejected, nothing is recorded on the task.
  const before = eventsOf(p.root, `tasks/${id}`).length;
  dropCommand(p, 'approve-v1', { command: 'approve', task: id, version: 1 });
  const rejected = await waitFor('inbox rejection', () => eventsOf(p.root, 'audit').find((e) => e.type === 'inbox.rejected' && e.data.file.includes('approve-v1')));
  assert.equal(rejected.data.code, 'CONFLICT');
  assert.ok(existsSync(join(p.root, 'inbox', 'rejected')));
  const after = await p.ws.task(id);
  assert.equal(after.state, 'planned');
  assert.equal(after.dev.approvedVersion, undefined);
  assert.equal(eventsOf(p.root, `tasks/${id}`).length, before);
  assert.equal(eventsOfType(p, id, 'plan.approved').length, 0);
});

test('abort during a slow test run kills the tests; the task is aborted and its worktree kept', async (t) => {
  const token = `30.${process.pid}${Math.floor(Math.random() * 1e5)}`;
  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES } });
  await startLoops(p);
  const id = await dropTask(p, 'slow', { test: `sleep ${token}; ${TEST_CMD}` });
  await waitState(p, id, ['planned']);
  assert.equal((await runJson(p.root, ['approve', id])).code, 0);
  await waitFor('the slow test run', () => procsWith(token).length > 0, 20_000);

  const started = Date.now();
  const aborted = await runJson(p.root, ['abort', id, '--reason', 'taking too long']);
  assert.equal(aborted.code, 0, aborted.stdout);
  assert.equal(aborted.json.data.state, 'aborted');
  const stopped = await waitFor('exec.stopped', () => eventsOfType(p, id, 'exec.stopped')[0], 10_000);
  assert.equal(stopped.data.reason, 'aborted');
  assert.deepEqual(procsWith(token), [], 'the test processes are gone');
  assert.ok(Date.now() - started < 8000, `stopping took ${Date.now() - started} ms`);

  const run = eventsOfType(p, id, 'tests.ran');
  assert.equal(run.length, 1);
  assert.equal(run[0]!.data.aborted, true);
  assert.equal(run[0]!.data.passed, false);
  assert.ok(run[0]!.data.durationMs < 8000);
  const view = await p.ws.task(id);
  assert.equal(view.state, 'aborted');
  assert.equal(view.lease?.released, true);
  const worktree = view.dev.execution!.worktree;
  assert.ok(existsSync(join(worktree, 'src', 'math.js')), 'the worktree is kept');
  assert.equal(git(worktree, 'rev-parse', '--abbrev-ref', 'HEAD'), `task/${id}`);
  assert.equal(readFileSync(join(worktree, 'src', 'math.js'), 'utf8').includes('a - b'), true);
  assert.equal(eventsOfType(p, id, 'git.pushed').length, 0);
  assert.equal(git(p.remote, 'branch', '--list', `task/${id}`), '');
});
