/** The test helpers themselves: waits scale with ORCHESTRA_TEST_TIMEOUT_SCALE; spawned children die with their process group. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killIfRunning, spawnNode } from './support/cli-run.js';
import { procsWith, tempDir, waitFor } from './support/core-workspace.js';
import { timeoutScale } from './support/timeouts.js';

test('ORCHESTRA_TEST_TIMEOUT_SCALE: default 1, a positive number, else 1', () => {
  assert.equal(timeoutScale({}), 1);
  assert.equal(timeoutScale({ ORCHESTRA_TEST_TIMEOUT_SCALE: '2.5' }), 2.5);
  assert.equal(timeoutScale({ ORCHESTRA_TEST_TIMEOUT_SCALE: '0' }), 1);
  assert.equal(timeoutScale({ ORCHESTRA_TEST_TIMEOUT_SCALE: 'lots' }), 1);
});

test('a spawned child runs in its own process group and is killed with what it started', async (t) => {
  const dir = tempDir(t);
  const token = `reaper-${process.pid}-${Date.now()}`;
  const script = join(dir, 'parent.mjs');
  // The grandchild is not detached: it stays in the child's group, as git or a test command would.
  writeFileSync(script, `import { spawn } from 'node:child_process';\nspawn('sh', ['-c', 'sleep 300; : ${token}'], { stdio: 'ignore' });\nsetInterval(() => {}, 1000);\n`);
  const running = spawnNode(script, []);
  await waitFor('the grandchild', () => procsWith(token).length > 0, 10_000);
  killIfRunning(running);
  await running.exited;
  await waitFor('the grandchild to die with its group', () => procsWith(token).length === 0, 10_000);
});
