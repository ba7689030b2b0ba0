/**
 * Draft pull / merge requests after the push: the real pipeline (scripted models), the real
 * @octokit/rest and fetch clients against the local GitHub and GitLab stand-ins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { runCli } from './support/cli-run.js';
import { approveAndWait, dropTask, eventsOfType, filesContaining, FIXER_REPLIES, makePipeline, PLANNER_REPLIES, startLoops, taskCommits } from './support/pipeline-harness.js';
import { startFakeGitHub } from './support/fake-github.js';
import { startFakeGitLab } from './support/fake-gitlab.js';
import { selectForge } from '../src/forge/select.js';
import { ensurePullRequest } from '../src/pipeline/pull-request.js';
import { renderCompleted } from '../src/adapters/telegram/format.js';
import { summarize } from '../src/adapters/web/views/task-list.js';
import { taskPage } from '../src/adapters/web/views/task-page.js';
import { loadTaskPage } from '../src/adapters/web/task-data.js';

const TOKEN = `ghp_forgetest${process.pid}x${Math.floor(Math.random() * 1e9)}`;
const scripts = { planner: PLANNER_REPLIES, executor: FIXER_REPLIES };

function withEnv(t: { after: (fn: () => void) => void }, vars: Record<string, string | undefined>): void {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  t.after(() => {
    for (const [k, v] of Object.entries(before)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  });
}

test('a completed task has exactly one draft pull request built from its records, and its link is the PR', async (t) => {
  const gh = await startFakeGitHub({ token: TOKEN });
  t.after(() => gh.close());
  withEnv(t, { GITHUB_TOKEN: TOKEN });
  const p = await makePipeline(t, { scripts, config: { forge: { kind: 'github', repo: 'o/r', apiBase: gh.url } } });
  const loops = await startLoops(p);
  const id = await dropTask(p, 'pr');
  const view = await approveAndWait(p, id, ['completed', 'failed'], 60_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);

  assert.equal(gh.pulls.length, 1);
  const pr = gh.pulls[0]!;
  assert.equal(pr.head, `task/${id}`);
  assert.equal(pr.base, 'development');
  assert.equal(pr.draft, true);
  assert.equal(pr.title, 'Fix add() so the tests pass');
  assert.match(pr.body, new RegExp(`task \`${id}\``));
  assert.match(pr.body, /## Plan v1 \(approved\)/);
  assert.match(pr.body, /add\(\) subtracts; make it add\./);
  assert.match(pr.body, /src\/math\.js/, 'the diff stat names the changed file');
  assert.match(pr.body, /run 1 failed, run 2 passed \(red → green\)/);
  assert.match(pr.body, /model calls, \d+ input \/ \d+ output tokens, \$/);

  const opened = eventsOfType(p, id, 'forge.pr-opened');
  assert.equal(opened.length, 1);
  assert.equal(opened[0]!.data.created, true);
  assert.equal(view.dev.link, `${gh.url}/o/r/pull/${pr.number}`);
  assert.equal(view.dev.pullRequest?.number, pr.number);
  // Every view links the pull request: the CLI, Telegram's result message, the web task page and list.
  const prUrl = `${gh.url}/o/r/pull/${pr.number}`;
  assert.ok(renderCompleted(view).includes(`href="${prUrl}"`));
  assert.equal(summarize(view).link, prUrl);
  const page = String(taskPage((await loadTaskPage(p.ws, id))!, 'csrf'));
  assert.ok(page.includes(`id="pr-link" href="${prUrl}"`), 'the web task page links the PR');
  const shown = await runCli(p.root, ['task', 'show', id]);
  assert.match(shown.stdout, new RegExp(`link: +${gh.url.replace(/[.]/g, '\\.')}/o/r/pull/${pr.number}`));
  assert.equal(taskCommits(p, id).length, 1);

  // Every API call carried the token; none of it reached a record, a log or the workspace's history.
  assert.ok(gh.requests.every((r) => r.headers.authorization === `token ${TOKEN}`));
  assert.deepEqual(filesContaining(p.dir, TOKEN), []);
  await loops.stop(); // the committer commits what is still pending when it stops
  const history = execFileSync('git', ['log', '-p', '--all'], { cwd: p.root, encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.ok(history.includes('forge.pr-opened'), 'the record is in the history');
  assert.ok(!history.includes(TOKEN));
});

test('no token: the task completes with the branch link, no request, no error', async (t) => {
  const gh = await startFakeGitHub({ token: TOKEN });
  t.after(() => gh.close());
  withEnv(t, { GITHUB_TOKEN: undefined });
  const p = await makePipeline(t, { scripts, config: { forge: { kind: 'github', repo: 'o/r', apiBase: gh.url } } });
  await startLoops(p);
  const id = await dropTask(p, 'notoken');
  const view = await approveAndWait(p, id, ['completed', 'failed'], 60_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  assert.equal(gh.requests.length, 0);
  assert.equal(view.dev.pullRequest, undefined);
  assert.equal(view.dev.link, view.dev.push!.link);
  assert.match(view.dev.link!, new RegExp(`#task/${id}$`));
  assert.equal(eventsOfType(p, id, 'forge.pr-failed').length, 0);
});

test('a forge that keeps failing: retried, then the task completes with the branch link and a pr-failed warning', async (t) => {
  const gh = await startFakeGitHub({ token: TOKEN });
  t.after(() => gh.close());
  withEnv(t, { GITHUB_TOKEN: TOKEN });
  gh.failNext(5, 502);
  const p = await makePipeline(t, { scripts, config: { forge: { kind: 'github', repo: 'o/r', apiBase: gh.url, attempts: 2 } } });
  await startLoops(p);
  const id = await dropTask(p, 'down');
  const view = await approveAndWait(p, id, ['completed', 'failed'], 60_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  assert.equal(gh.pulls.length, 0);
  assert.equal(gh.requests.length, 2, 'one call per attempt, two attempts');
  const failed = eventsOfType(p, id, 'forge.pr-failed');
  assert.equal(failed.length, 1);
  assert.match(String(failed[0]!.data.reason), /502/);
  assert.ok(!String(failed[0]!.data.reason).includes(TOKEN));
  assert.equal(view.dev.link, view.dev.push!.link);
});

test('a rate-limited then recovering forge: one pull request after the wait', async (t) => {
  const gh = await startFakeGitHub({ token: TOKEN });
  t.after(() => gh.close());
  withEnv(t, { GITHUB_TOKEN: TOKEN });
  gh.failNext(1, 403);
  const p = await makePipeline(t, { scripts, config: { forge: { kind: 'github', repo: 'o/r', apiBase: gh.url } } });
  await startLoops(p);
  const id = await dropTask(p, 'limited');
  const view = await approveAndWait(p, id, ['completed', 'failed'], 60_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  assert.equal(gh.pulls.length, 1);
  assert.equal(gh.requests[0]!.status, 403);
  assert.equal(view.dev.link, `${gh.url}/o/r/pull/${gh.pulls[0]!.number}`);
});

test('GitLab: one draft merge request, found again instead of duplicated', async (t) => {
  const GL = `glpat-forgetest${process.pid}`;
  const gl = await startFakeGitLab({ token: GL, project: 'group/sub/proj' });
  t.after(() => gl.close());
  withEnv(t, { GITLAB_TOKEN: GL });
  const p = await makePipeline(t, { scripts, config: { forge: { kind: 'gitlab', repo: 'group/sub/proj', apiBase: gl.apiBase } } });
  await startLoops(p);
  const id = await dropTask(p, 'mr');
  const view = await approveAndWait(p, id, ['completed', 'failed'], 60_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  assert.equal(gl.mrs.length, 1);
  const mr = gl.mrs[0]!;
  assert.equal(mr.source_branch, `task/${id}`);
  assert.equal(mr.target_branch, 'development');
  assert.match(mr.title, /^Draft: Fix add\(\)/);
  assert.match(mr.description, /## Plan v1/);
  assert.equal(view.dev.pullRequest?.kind, 'gitlab');
  assert.equal(view.dev.link, `${gl.url}/group/sub/proj/-/merge_requests/${mr.iid}`);
  assert.deepEqual(filesContaining(p.dir, GL), []);

  // A second publisher run (a crash before the record) finds it instead of opening another.
  const choice = selectForge(p.ws.config.forge, { env: { GITLAB_TOKEN: GL } });
  const again = await ensurePullRequest(choice.forge!, { head: `task/${id}`, base: 'development', title: 't', body: 'b', draft: true });
  assert.deepEqual([again.created, again.pr.number, gl.mrs.length], [false, mr.iid, 1]);
});
