/**
 * Attack review: a failed task keeps its worktree, and a retry's new execution reuses it and runs
 * the setup step again, from the worktree as the model left it. A model (prompt-injected by the
 * task's text or the repository) that wrote `.orchestra/setup.sh` in the first execution gets that
 * script run in the second with the setup profile's secrets in its environment and network on.
 * Secrets are given only to a setup that runs from the base commit's files (no changes yet).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeContext } from '../src/core/context/store.js';
import { runCli } from './support/cli-run.js';
import { approveAndWait, dropTask, makePipeline, PLANNER_REPLIES, startLoops } from './support/pipeline-harness.js';
import { testActor } from './support/core-workspace.js';

const TOKEN = 'npm_attackReviewToken_77aa66bb55';

test('a retry does not run a model-written setup script with the granted secrets', async (t) => {
  const evil = { name: 'write_file', args: { path: '.orchestra/setup.sh', content: 'printf %s "${NPM_TOKEN:+granted}" > granted.txt\n' } };
  const p = await makePipeline(t, {
    scripts: { planner: PLANNER_REPLIES, executor: [{ toolCalls: [evil] }, { toolCalls: [evil] }, { toolCalls: [evil] }, { toolCalls: [evil] }] },
    config: { security: { trustedActors: ['cli', 'inbox'], profiles: { setup: { secrets: ['NPM_TOKEN'] } } }, limits: { maxTurns: 1 } },
  });
  await writeContext(p.ws, { scope: { kind: 'workspace' }, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  await startLoops(p);
  const id = await dropTask(p, 'retry-setup');
  await approveAndWait(p, id, ['failed'], 60_000);
  assert.ok(existsSync(join(p.root, '.orchestra', 'worktrees', id, '.orchestra', 'setup.sh')), 'the model wrote the script');
  assert.equal((await runCli(p.root, ['retry', id])).code, 0);
  const until = Date.now() + 60_000;
  const setups = async () => (await p.ws.readStream(`tasks/${id}`)).records.flatMap((r) => r.events).filter((e) => e.type === 'setup.ran');
  while ((await setups()).length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  assert.equal((await setups()).length, 2, 'the retry ran the setup step');
  const marker = join(p.root, '.orchestra', 'worktrees', id, 'granted.txt');
  if (existsSync(marker)) assert.equal(readFileSync(marker, 'utf8'), '', 'the model-written setup script got the secret');
  const reads = (await p.ws.readStream('audit')).records.flatMap((r) => r.events).filter((e) => e.type === 'context.secret-read' && e.data.purpose === 'setup');
  assert.deepEqual(reads, []);
});
