/**
 * kill -9 of the publisher (`orchestra up --only publisher`, a real child process) while it opens
 * the pull request, then a restart: still exactly one pull request, recorded once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killIfRunning, spawnCli } from './support/cli-run.js';
import { approveAndWait, dropTask, eventsOfType, FIXER_REPLIES, git, makePipeline, PLANNER_REPLIES, startLoops, waitState } from './support/pipeline-harness.js';
import { startFakeGitHub } from './support/fake-github.js';

const TOKEN = `ghp_crashtest${process.pid}x${Math.floor(Math.random() * 1e9)}`;

for (const when of ['after', 'before'] as const) {
  const where = when === 'after' ? 'after the forge created the request, before its answer' : 'after the push, before the request is created';
  test(`the publisher killed ${where}: one pull request after the restart`, async (t) => {
    const gh = await startFakeGitHub({ token: TOKEN });
    t.after(() => gh.close());
    const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES }, config: { forge: { kind: 'github', repo: 'o/r', apiBase: gh.url } } });
    const inProcess = await startLoops(p, ['intake', 'planner', 'executor']);
    const id = await dropTask(p, `crash-${when}`);
    await approveAndWait(p, id, ['publishing', 'failed']);
    await inProcess.stop();

    // 'after': the forge made the request, the publisher died before the answer; 'before': it died while looking it up.
    const held = when === 'after' ? gh.hold('POST', /\/pulls$/, 'after') : gh.hold('GET', /\/pulls$/, 'before');
    const first = spawnCli(p.root, ['up', '--only', 'publisher'], { GITHUB_TOKEN: TOKEN });
    p.defer(() => killIfRunning(first));
    await held.reached;
    first.child.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    held.release();

    // The branch is on the remote, nothing about it is recorded yet.
    assert.ok(git(p.remote, 'rev-parse', `task/${id}`));
    assert.equal((await p.ws.task(id)).state, 'publishing');
    assert.equal(eventsOfType(p, id, 'git.pushed').length, 0);
    assert.equal(gh.pulls.length, when === 'after' ? 1 : 0);

    const second = spawnCli(p.root, ['up', '--only', 'publisher'], { GITHUB_TOKEN: TOKEN });
    p.defer(() => killIfRunning(second));
    const view = await waitState(p, id, ['completed', 'failed'], 45_000);
    assert.equal(view.state, 'completed', `${view.dev.failure?.reason}\n${second.output()}`);
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);

    assert.equal(gh.pulls.length, 1, 'exactly one pull request');
    const opened = eventsOfType(p, id, 'forge.pr-opened');
    assert.equal(opened.length, 1);
    assert.equal(opened[0]!.data.created, when === 'before', 'found again when the killed run had created it');
    assert.equal(view.dev.link, `${gh.url}/o/r/pull/${gh.pulls[0]!.number}`);
    assert.equal(gh.requests.filter((r) => r.method === 'POST').length, 1, 'created once, by whichever run got that far');
  });
}
