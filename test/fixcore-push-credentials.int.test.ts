import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../src/core/log.js';
import { runUp } from '../src/app/up.js';
import { approveAndWait, dropTask, filesContaining, FIXER_REPLIES, git, makePipeline, PLANNER_REPLIES } from './support/pipeline-harness.js';

// Review finding 2: a push remote whose URL carries a token. The push fails (nothing listens on
// port 1); the failure reason, every record, the workspace history and the log lines must name
// the remote without its credentials.

test('a failed push to a remote URL with a token records and logs no token', async (t) => {
  const secret = `SECRETtok${process.pid}x${Date.now()}`;
  const url = `https://user:${secret}@127.0.0.1:1/x.git`;
  const p = await makePipeline(t, {
    scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES },
    // By remote name, so the token is not in orchestra.json (config is committed to the workspace).
    repoSetup: (repo) => git(repo, 'remote', 'add', 'pushto', url),
    config: { remote: 'pushto' },
  });
  const lines: string[] = [];
  const silenced = process.env.ORCHESTRA_LOG;
  process.env.ORCHESTRA_LOG = 'info';
  t.after(() => { process.env.ORCHESTRA_LOG = silenced; });
  const up = await runUp(p.ws, { only: ['intake', 'planner', 'executor', 'publisher'], log: createLogger('test', (l) => lines.push(l)) });
  p.defer(() => up.stop());

  const id = await dropTask(p, 'token');
  const view = await approveAndWait(p, id, ['completed', 'failed'], 60_000);
  await up.stop();
  assert.equal(view.state, 'failed');
  assert.equal(view.dev.failure?.step, 'publish');
  const reason = view.dev.failure?.reason ?? '';
  // The reason still says where the push went, without the user info.
  assert.match(reason, /https:\/\/127\.0\.0\.1:1\/x\.git/, reason);
  assert.equal(reason.includes(secret), false, reason);
  assert.ok(lines.length > 0, 'the loops logged');
  assert.deepEqual(lines.filter((l) => l.includes(secret)), [], 'a log line holds the token');
  assert.deepEqual(filesContaining(p.root, secret), [], 'a workspace file holds the token');
  assert.equal(git(p.root, 'log', '-p', '--all').includes(secret), false, 'the workspace history holds the token');
});
