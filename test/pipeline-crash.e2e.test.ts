/** kill -9 of `orchestra up --only executor` in the middle of a test run, then a restart. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killIfRunning, runJson, spawnCli } from './support/cli-run.js';
import {
  dropTask, eventsOfType, FIXER_REPLIES, git, makePipeline, PLANNER_REPLIES, procsWith, startLoops, taskCommits, taskEvents, TEST_CMD, waitFor, waitState,
} from './support/pipeline-harness.js';

test('the executor killed mid-run resumes after lease expiry: one completion, one commit, one push', async (t) => {
  const token = `2.${process.pid}${Math.floor(Math.random() * 1e5)}`;
  const p = await makePipeline(t, {
    scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES },
    config: { testCommand: `sleep ${token}; ${TEST_CMD}` },
  });
  const planning = await startLoops(p, ['intake', 'planner']);
  const id = await dropTask(p, 'crash');
  await waitState(p, id, ['planned']);
  assert.equal((await runJson(p.root, ['approve', id, '--version', '1'])).code, 0);
  await planning.stop();

  const first = spawnCli(p.root, ['up', '--only', 'executor']);
  p.defer(() => killIfRunning(first));
  await waitFor('a test run in progress', () => procsWith(token).length > 0, 20_000);
  const running = await p.ws.task(id);
  assert.equal(running.state, 'executing');
  const killedAttempt = running.lease!.attempt;
  first.child.kill('SIGKILL');
  const gone = await first.exited;
  assert.equal(gone.signal, 'SIGKILL');
  const orphaned = await p.ws.task(id);
  assert.equal(orphaned.state, 'executing');
  assert.equal(orphaned.lease!.released, false, 'the dead holder never released its lease');
  assert.equal(eventsOfType(p, id, 'tests.ran').length, 0, 'the killed run left no result');

  const restartedAt = Date.now();
  const second = spawnCli(p.root, ['up', '--only', 'executor,publisher']);
  p.defer(() => killIfRunning(second));
  const view = await waitState(p, id, ['completed', 'failed'], 45_000);
  assert.equal(view.state, 'completed', `${view.dev.failure?.reason}\n${second.output()}`);
  second.child.kill('SIGTERM');
  const stopped = await second.exited;
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.ok(Date.now() - restartedAt < 30_000);

  // Resumed by a new attempt once the dead lease expired.
  const expired = eventsOfType(p, id, 'lease.expired');
  assert.deepEqual(expired.map((e) => e.data.attempt), [killedAttempt]);
  const resumed = eventsOfType(p, id, 'exec.resumed');
  assert.equal(resumed.length, 1);
  assert.equal(resumed[0]!.data.attempt, killedAttempt + 1);
  assert.equal(eventsOfType(p, id, 'exec.started').length, 1);
  assert.deepEqual(view.dev.testRuns.map((r) => r.passed), [false, true]);

  // Completed once, committed once, pushed once.
  const moves = eventsOfType(p, id, 'task.moved').map((e) => e.data.to);
  assert.equal(moves.filter((to) => to === 'completed').length, 1);
  assert.equal(moves.filter((to) => to === 'executing').length, 1);
  assert.equal(eventsOfType(p, id, 'git.committed').length, 1);
  const pushes = eventsOfType(p, id, 'git.pushed');
  assert.equal(pushes.length, 1);
  assert.equal(pushes[0]!.data.pushed, true);
  const commits = taskCommits(p, id);
  assert.equal(commits.length, 1);
  assert.equal(commits[0], view.dev.commit!.sha);
  assert.match(git(p.remote, 'log', '-1', '--format=%B', `task/${id}`), new RegExp(`Task-Id: ${id}`));
  // Every record is fenced: nothing was appended by the dead attempt after the new one took over.
  const takeover = taskEvents(p, id).findIndex((e) => e.type === 'lease.expired');
  assert.ok(taskEvents(p, id).slice(takeover + 1).every((e) => e.record.fence === undefined || e.record.fence.attempt !== killedAttempt));
});
