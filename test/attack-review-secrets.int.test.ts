/**
 * Attack review (context secrets granted to the setup step):
 *  1. a granted secret the setup step leaves in the worktree (the usual `.npmrc` line) must not
 *     reach the test output file, the task's records or the model through its tools;
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeContext } from '../src/core/context/store.js';
import { approveAndWait, dropTask, FIXER_REPLIES, filesContaining, git, makePipeline, PLANNER_REPLIES, startLoops } from './support/pipeline-harness.js';
import { commitSetupScript as commitSetup } from './support/pipeline-harness.js';
import { testActor } from './support/core-workspace.js';

const TOKEN = 'npm_attackReviewToken_5e4d3c2b1a';

test('a granted secret left in the worktree by setup never reaches test output files, records or the model', async (t) => {
  const p = await makePipeline(t, {
    scripts: { planner: PLANNER_REPLIES, executor: [{ toolCalls: [{ name: 'read_file', args: { path: '.npmrc' } }] }, ...FIXER_REPLIES] },
    config: {
      security: { trustedActors: ['cli', 'inbox'], profiles: { setup: { secrets: ['NPM_TOKEN'] } } },
      // A test command (config: trusted) whose output shows the worktree's .npmrc, as a test printing its config would.
      testCommand: 'sh -c "cat .npmrc; env -u NODE_TEST_CONTEXT node --test"',
    },
    repoSetup: (repo) => commitSetup(repo, 'printf "//registry.example/:_authToken=%s\\n" "$NPM_TOKEN" > .npmrc\n'),
  });
  await writeContext(p.ws, { scope: { kind: 'workspace' }, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  await startLoops(p);
  const id = await dropTask(p, 'npmrc-leak');
  await approveAndWait(p, id, ['completed', 'failed'], 90_000);
  await p.ws.journal.flush();
  // The only plaintext copy is the .npmrc the setup script wrote in the worktree.
  const hits = filesContaining(p.root, TOKEN).map((f) => f.slice(p.root.length)).filter((f) => !f.endsWith(`/worktrees/${id}/.npmrc`));
  assert.deepEqual(hits, [], `the token is on disk in ${hits.join(', ')}`);
  assert.equal(git(p.root, 'log', '-p', '--all').includes(TOKEN), false, 'the token is in the workspace history');
});
