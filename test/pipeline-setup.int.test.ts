import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runJson } from './support/cli-run.js';
import { addTwiceDependency, run } from './support/npm-fixture.js';
import { approveAndWait, dropTask, eventsOfType, FIXER_REPLIES, git, makePipeline, PLANNER_REPLIES, startLoops, waitState } from './support/pipeline-harness.js';

/** The sample repo with a dependency its tests need (see support/npm-fixture.ts). */
const addDependency = (repo: string, dir: string) => addTwiceDependency(repo, dir, { withTest: true, push: true });

test('a repository with dependencies: setup installs them before any model turn, the task goes green; the next task restores them from the cache', async (t) => {
  const p = await makePipeline(t, {
    scripts: { 'planner': PLANNER_REPLIES, 'executor': FIXER_REPLIES },
    repoSetup: addDependency,
  });
  await startLoops(p);
  const first = await dropTask(p, 'fix add');
  await waitState(p, first, ['planned']);
  assert.match(JSON.stringify((await runJson(p.root, ['task', 'show', first])).json), /planned/);
  assert.equal((await runJson(p.root, ['approve', first])).code, 0);
  const done = await waitState(p, first, ['completed', 'failed'], 60_000);
  assert.equal(done.state, 'completed', done.dev.failure?.reason);

  const [setup] = eventsOfType(p, first, 'setup.ran');
  assert.deepEqual([setup!.data.passed, setup!.data.cached, setup!.data.source], [true, false, 'detected']);
  assert.match(String(setup!.data.command), /^npm ci/);
  const firstRun = readFileSync(join(p.root, done.dev.testRuns[0]!.file), 'utf8');
  assert.doesNotMatch(firstRun, /Cannot find module|ERR_MODULE_NOT_FOUND/, 'the dependency was there for the first test run');
  assert.match(firstRun, /the dependency is installed/);
  const events = eventsOfType(p, first, 'setup.ran').concat(eventsOfType(p, first, 'model.called'));
  assert.ok(events[0]!.type === 'setup.ran', 'setup ran before the executor\'s first model call');
  assert.equal(git(p.remote, 'ls-tree', '-r', '--name-only', `task/${first}`).split('\n').some((f) => f.startsWith('node_modules/') || f.startsWith('.orchestra-cache/')), false, 'installed files are never committed');

  // Second task on the same repository and lockfile: restored, not installed again.
  const second = await dropTask(p, 'fix add again');
  await waitState(p, second, ['planned']);
  assert.equal((await runJson(p.root, ['approve', second])).code, 0);
  const again = await waitState(p, second, ['completed', 'failed'], 60_000);
  assert.equal(again.state, 'completed', again.dev.failure?.reason);
  const [cached] = eventsOfType(p, second, 'setup.ran');
  assert.deepEqual([cached!.data.passed, cached!.data.cached], [true, true]);
  t.diagnostic(`setup: install ${setup!.data.durationMs} ms, restore from cache ${cached!.data.durationMs} ms`);
});

test('a failing setup ends the task failed ("setup failed") before any executor model call', async (t) => {
  const p = await makePipeline(t, {
    scripts: { 'planner': PLANNER_REPLIES, 'executor': FIXER_REPLIES },
    repoSetup: (repo) => {
      mkdirSync(join(repo, '.orchestra'), { recursive: true });
      writeFileSync(join(repo, '.orchestra', 'setup.sh'), 'echo "installing the world"\necho "registry unreachable" >&2\nexit 3\n');
      for (const args of [['add', '-A'], ['commit', '-q', '-m', 'setup script'], ['push', '-q', 'origin', 'main'], ['branch', '-f', 'development'], ['push', '-q', '-f', 'origin', 'development']]) {
        run(repo, 'git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args]);
      }
    },
  });
  await startLoops(p);
  const id = await dropTask(p, 'setup breaks');
  const view = await approveAndWait(p, id, ['completed', 'failed'], 60_000);
  assert.equal(view.state, 'failed');
  assert.match(view.dev.failure!.reason, /^setup failed: `sh \.orchestra\/setup\.sh` exited 3 .*registry unreachable/s);
  assert.equal(view.dev.failure!.step, 'setup');
  assert.deepEqual(eventsOfType(p, id, 'model.called').filter((e) => e.data.role === 'executor'), [], 'no executor model call was spent');
  assert.equal(view.dev.testRuns.length, 0);
});
