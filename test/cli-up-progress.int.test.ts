/** `orchestra up` prints one line per step per task, in order; JSON lines with --log-format json; nothing with ORCHESTRA_LOG=silent. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killIfRunning, runCli, runJson, spawnCli } from './support/cli-run.js';
import { dropTask, FIXER_REPLIES, makePipeline, PLANNER_REPLIES, waitFor, waitState } from './support/pipeline-harness.js';

const LOOPS = 'intake,planner,executor,publisher';

test('up prints each step of a task as it happens, in order: claimed, plan ready, red with the count, green, pushed', async (t) => {
  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES } });
  const up = spawnCli(p.root, ['up', '--only', LOOPS], { ORCHESTRA_LOG: '' });
  p.defer(() => killIfRunning(up));
  await waitFor('up to start', () => up.output().includes('loops running'), 20_000);
  const id = await dropTask(p, 'progress');
  await waitFor('the plan line', () => up.output().includes(`plan v1 ready: orchestra approve ${id} --version 1`), 30_000);
  assert.equal((await runJson(p.root, ['approve', id, '--version', '1'])).code, 0);
  // On a timeout the error carries what up printed: the step that stalled is in it.
  await waitState(p, id, ['completed', 'failed'], 60_000).catch((err: Error) => { throw new Error(`${err.message}\n--- up printed:\n${up.output().slice(-6000)}`); });
  await waitFor('the pushed line', () => up.output().includes('completed\n'), 30_000);

  const prefix = `${id.slice(0, 10)}… "Fix add() so the tests pass": `;
  const mine = up.output().split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
  const expected = [
    /^new task \(planning\)$/, /^claimed by planner$/, new RegExp(`^plan v1 ready: orchestra approve ${id} --version 1$`), /^plan v1 approved$/,
    /^claimed by executor$/, new RegExp(`^executing plan v1 on task/${id}$`), /^setup: /, /^test run 1 red: 1 failing$/, /^test run 2 green$/,
    /^finished \(1 file changed\): add\(\) adds$/, /^claimed by publisher$/, /^committed [0-9a-f]{10}$/, /^pushed: \S/, /^completed$/,
  ];
  assert.equal(mine.length, expected.length, mine.join('\n'));
  expected.forEach((re, i) => assert.match(mine[i]!, re));
});

test('--log-format json prints progress and log lines as JSON; ORCHESTRA_LOG=silent prints neither', async (t) => {
  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES } });
  const up = spawnCli(p.root, ['up', '--only', 'intake,planner', '--log-format', 'json'], { ORCHESTRA_LOG: '' });
  p.defer(() => killIfRunning(up));
  await waitFor('up to start', () => up.output().includes('loops running'), 20_000);
  const id = await dropTask(p, 'json');
  await waitFor('the plan line', () => up.output().includes('plan v1 ready'), 30_000);
  up.child.kill('SIGTERM');
  const { stdout, stderr } = await up.exited;
  const progress = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((o) => o.kind === 'progress');
  assert.deepEqual(progress.map((o) => [o.task, o.event]), [[id, 'task.created'], [id, 'lease.acquired'], [id, 'plan.proposed']]);
  const logs = stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.ok(logs.some((o) => o.level === 'info' && o.message === 'loops running' && o.loop === 'orchestra'), stderr);

  writeFileSync(join(p.root, 'inbox', 'quiet.md'), '---\ntitle: Quiet\nrepo: sample\n---\nbody\n');
  const quiet = await runCli(p.root, ['up', '--only', 'intake', '--once'], { env: { ORCHESTRA_LOG: 'silent' } });
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, '');
  assert.doesNotMatch(quiet.stdout, /new task|"Quiet"/);
  assert.ok((await p.ws.tasks()).some((v) => v.title === 'Quiet'), 'the task was made: there was something to print');
});
