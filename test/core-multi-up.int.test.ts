import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliOk, killIfRunning, spawnCli } from './support/cli-run.js';
import { eventsOf, gitOut, makeWorkspace, taskIdsIn, waitFor } from './support/core-workspace.js';

const FILES = 600;

/** Two `orchestra up` processes share one workspace: both take inbox files and both run triggers. */
test('two up processes on one workspace: every inbox file recorded once, every trigger fired once, one git writer', async (t) => {
  const ws = await makeWorkspace(t, { fsync: false });
  const root = ws.paths.root;
  // A trigger on task creation prints the task id. Triggers run sandboxed (the workspace is not
  // visible to them), so each run is counted from its recorded output: a double firing would show.
  await cliOk(root, ['trigger', 'add', 'default', '--on', 'pending', '--command', 'echo fired-{task_id}']);

  const a = spawnCli(root, ['up', '--only', 'intake,triggers']);
  const b = spawnCli(root, ['up', '--only', 'intake,triggers']);
  t.after(() => { killIfRunning(a); killIfRunning(b); });
  for (let i = 0; i < FILES; i++) writeFileSync(join(ws.paths.inbox, `t-${i}.json`), JSON.stringify({ title: `shared ${i}`, workstream: 'default' }));

  const ids = () => taskIdsIn(root);
  await waitFor('all files recorded', () => ids().length === FILES && readdirSync(ws.paths.inbox).filter((n) => n !== 'rejected').length === 0, 90_000, 100);
  await waitFor('every trigger fired', () => ids().every((id) => eventsOf(root, `tasks/${id}`).some((e) => e.type === 'trigger.fired')), 120_000, 200);
  a.child.kill('SIGTERM');
  b.child.kill('SIGTERM');
  assert.deepEqual([(await a.exited).code, (await b.exited).code], [0, 0]);

  const titles = ids().map((id) => eventsOf(root, `tasks/${id}`).find((e) => e.type === 'task.created')!.data.title as string);
  assert.equal(new Set(titles).size, FILES, 'each file became exactly one task');
  for (const id of ids()) {
    const fired = eventsOf(root, `tasks/${id}`).filter((e) => e.type === 'trigger.fired');
    assert.equal(fired.length, 1, `the trigger ran exactly once for ${id}`);
    assert.equal(fired[0]!.data.ok, true, String(fired[0]!.data.output));
    assert.equal(String(fired[0]!.data.output).trim(), `fired-${id}`);
  }
  const firers = new Set(ids().flatMap((id) => eventsOf(root, `tasks/${id}`).filter((e) => e.type === 'trigger.firing').map((e) => e.record.actor.pid)));
  t.diagnostic(`trigger firings came from ${firers.size} process(es)`); // one may win them all under load
  assert.equal(gitOut(root, 'status', '--porcelain', '--', 'tasks'), '', 'all records committed, no index.lock left behind');
});
