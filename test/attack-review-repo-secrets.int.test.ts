/**
 * Attack review (context secrets granted to the setup step):
 * a task made by an untrusted actor on a repository of its own choosing (a path or URL that
 *     is not a configured repository) must not get the granted secrets: its `.orchestra/setup.sh`
 *     runs with network and would send them anywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeContext } from '../src/core/context/store.js';
import { approveAndWait, dropTask, FIXER_REPLIES, makePipeline, PLANNER_REPLIES, startLoops } from './support/pipeline-harness.js';
import { commitSetupScript as commitSetup } from './support/pipeline-harness.js';
import { testActor } from './support/core-workspace.js';

const TOKEN = 'npm_attackReviewToken_5e4d3c2b1a';

test('an untrusted actor pointing a task at a repository of its choosing gets no granted secret in its setup', async (t) => {
  const p = await makePipeline(t, {
    scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES },
    // Unsealed inbox files are untrusted here (the default trust list).
    config: { security: { trustedActors: ['cli'], profiles: { setup: { secrets: ['NPM_TOKEN'] } } } },
    // The attacker's repository: its setup script would send the token anywhere (setup has network).
    repoSetup: (repo) => commitSetup(repo, 'printf %s "${NPM_TOKEN:+granted}" > granted.txt\n'),
  });
  await writeContext(p.ws, { scope: { kind: 'workspace' }, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  await startLoops(p);
  // Not the configured name `sample`: the repository's path, as a chat user could give any URL.
  const id = await dropTask(p, 'own-repo', { repo: p.repo });
  const end = await approveAndWait(p, id, ['completed', 'failed'], 90_000);
  const setups = (await p.ws.readStream(`tasks/${id}`)).records.flatMap((r) => r.events).filter((e) => e.type === 'setup.ran');
  assert.equal(setups.length, 1, `the setup script ran (${end.state}: ${end.dev.failure?.reason ?? ''})`);
  const marker = join(p.root, '.orchestra', 'worktrees', id, 'granted.txt');
  if (existsSync(marker)) assert.equal(readFileSync(marker, 'utf8'), '', 'the untrusted task\'s setup got the secret');
  const reads = (await p.ws.readStream('audit')).records.flatMap((r) => r.events).filter((e) => e.type === 'context.secret-read' && e.data.purpose === 'setup');
  assert.deepEqual(reads, []);
});
