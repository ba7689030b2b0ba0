/**
 * The forge against hostile users (review findings 1, 5, 6, 7, 9): a fork's merge request or
 * someone else's pull request on our task branch's name is never adopted; a thread or an issue
 * list longer than a page does not hide what comes after it; an edited comment is not taken as
 * its author's command; the label alone does not make a task; two pollers, or one that died
 * after posting, never say the same thing twice. The real clients against the local fakes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventsOf, makePipeline, PLANNER_REPLIES, startLoops, waitFor, waitState } from './support/pipeline-harness.js';
import { startFakeGitHub } from './support/fake-github.js';
import { PROJECT_ID, startFakeGitLab } from './support/fake-gitlab.js';
import { createPoller, ForgePoller } from '../src/adapters/forge/index.js';
import { foldForgeState, forgeStream } from '../src/adapters/forge/state.js';
import { ForgeConfigSchema } from '../src/core/forge-config.js';
import { createLogger } from '../src/core/log.js';
import { selectForge } from '../src/forge/select.js';
import { ensurePullRequest } from '../src/pipeline/pull-request.js';

const TOKEN = `ghp_hostile${process.pid}x${Math.floor(Math.random() * 1e9)}`;
const GL = `glpat-hostile${process.pid}`;
const quiet = createLogger('test', () => undefined);
const env = { GITHUB_TOKEN: TOKEN, GITLAB_TOKEN: GL };
const ghConfig = (url: string, extra: Record<string, unknown> = {}) => ({ forge: { kind: 'github', repo: 'o/r', apiBase: url, taskRepo: 'sample', allowedUsers: ['alice'], bot: 'orchestra', ...extra } });
const ours = { head: 'task/01HZZZZZZZZZZZZZZZZZZZZZZZ', base: 'development', title: 'Ours', body: 'our reviewed plan', draft: true };

async function github(t: { after: (fn: () => unknown) => void }) {
  const gh = await startFakeGitHub({ token: TOKEN });
  t.after(() => gh.close());
  return gh;
}

test('GitLab: a fork\'s merge request from a branch named like ours is not adopted; ours is created', async (t) => {
  const gl = await startFakeGitLab({ token: GL, project: 'g/p' });
  t.after(() => gl.close());
  gl.mrs.push({ iid: 7, title: 'evil', description: 'attacker text', source_branch: ours.head, target_branch: 'development', state: 'opened', source_project_id: PROJECT_ID + 1, author: 'mallory' });
  const forge = selectForge(ForgeConfigSchema.parse({ kind: 'gitlab', repo: 'g/p', apiBase: gl.apiBase }), { env }).forge!;
  const got = await ensurePullRequest(forge, ours);
  assert.equal(got.created, true);
  assert.notEqual(got.pr.number, 7);
  assert.equal(gl.mrs.find((m) => m.iid === 7)!.description, 'attacker text', 'the fork\'s request is left alone');
  assert.equal(gl.requests.filter((r) => r.method === 'PUT').length, 0);
  // Found again on a re-run: ours, not the fork's.
  const again = await ensurePullRequest(forge, ours);
  assert.deepEqual([again.created, again.pr.number], [false, got.pr.number]);
});

test('GitLab: a same-project merge request by someone else is not adopted either: ours is refused as a duplicate, theirs keeps its text', async (t) => {
  const gl = await startFakeGitLab({ token: GL, project: 'g/p' });
  t.after(() => gl.close());
  gl.mrs.push({ iid: 3, title: 'theirs', description: 'their text', source_branch: ours.head, target_branch: 'development', state: 'opened', author: 'mallory' });
  const forge = selectForge(ForgeConfigSchema.parse({ kind: 'gitlab', repo: 'g/p', apiBase: gl.apiBase }), { env }).forge!;
  await assert.rejects(ensurePullRequest(forge, ours), /409/);
  assert.equal(gl.mrs.find((m) => m.iid === 3)!.description, 'their text');
});

test('GitHub: a pull request by another user on our branch name, or from a fork, is never ours', async (t) => {
  const gh = await github(t);
  const forge = selectForge(ForgeConfigSchema.parse({ kind: 'github', repo: 'o/r', apiBase: gh.url }), { env }).forge!;
  const fork = gh.addPull({ head: ours.head, author: 'mallory', headRepo: 'mallory/r', body: 'fork text' });
  const got = await ensurePullRequest(forge, ours);
  assert.equal(got.created, true);
  assert.notEqual(got.pr.number, fork.number);
  assert.equal(fork.body, 'fork text');

  const other = { ...ours, head: 'task/01HYYYYYYYYYYYYYYYYYYYYYYY' };
  const theirs = gh.addPull({ head: other.head, author: 'mallory', body: 'their text' });
  await assert.rejects(ensurePullRequest(forge, other), /422/);
  assert.equal(theirs.body, 'their text', 'someone else\'s request keeps its body');
  assert.equal(gh.requests.filter((r) => r.method === 'PATCH').length, 0);
});

test('150 strangers\' comments do not hide an allowed /approve, and 120 open issues do not hide a new one (GitHub)', async (t) => {
  const gh = await github(t);
  const p = await makePipeline(t, { config: ghConfig(gh.url, { allowedUsers: ['alice', 'bob'] }) });
  for (let i = 0; i < 120; i++) gh.addIssue({ title: `Issue ${i}`, labels: ['orchestra'], author: 'bob' });
  const poller = createPoller(p.ws, quiet, env);
  assert.equal((await poller.pollOnce()).issuesTaken, 120);
  const late = gh.addIssue({ title: 'The 121st', labels: ['orchestra'], author: 'bob' });
  assert.equal((await poller.pollOnce()).issuesTaken, 1);
  const state = foldForgeState(await p.ws.readStream(forgeStream('github', 'o/r')));
  assert.ok(state.issues.has(late.number));

  const issue = gh.issues[0]!;
  // All in one second, as a flood is on GitHub (its times have second precision).
  const second = new Date().toISOString();
  for (let i = 0; i < 150; i++) gh.addComment(issue.number, { author: `stranger${i}`, body: 'me too' }).created_at = second;
  await poller.pollOnce();
  gh.addComment(issue.number, { author: 'alice', body: '/approve v1' });
  const pass = await poller.pollOnce();
  assert.equal(pass.commands, 1, JSON.stringify(pass));
  assert.ok(gh.requests.some((r) => /\/comments\?.*since=/.test(r.path)), 'reads start where the last one stopped');
  assert.equal((await poller.pollOnce()).commands, 0, 'read once');
});

test('GitLab: a new issue after 120 open ones, and a note after 120 others, are seen', async (t) => {
  const gl = await startFakeGitLab({ token: GL, project: 'g/p' });
  t.after(() => gl.close());
  const p = await makePipeline(t, { config: { forge: { kind: 'gitlab', repo: 'g/p', apiBase: gl.apiBase, taskRepo: 'sample', allowedUsers: ['alice', 'bob'] } } });
  gl.issues.push({ iid: 3, title: 'From GitLab', description: 'body', labels: ['orchestra'], author: 'bob' });
  for (let i = 0; i < 120; i++) gl.issues.push({ iid: 10 + i, title: `Issue ${i}`, description: 'b', labels: ['orchestra'], author: 'bob' });
  const poller = createPoller(p.ws, quiet, env);
  assert.equal((await poller.pollOnce()).issuesTaken, 121);
  gl.issues.push({ iid: 500, title: 'The newest', description: 'b', labels: ['orchestra'], author: 'bob', updated_at: new Date(Date.now() + 1000).toISOString() });
  assert.equal((await poller.pollOnce()).issuesTaken, 1);
  for (let i = 0; i < 120; i++) gl.notes.push({ id: 1000 + i, on: 'issues', iid: 3, author: `stranger${i}`, body: 'me too' });
  await poller.pollOnce();
  gl.notes.push({ id: 5000, on: 'issues', iid: 3, author: 'alice', body: '/approve v1' });
  assert.equal((await poller.pollOnce()).commands, 1);
  assert.equal((await poller.pollOnce()).commands, 0);
});

test('an allowed user\'s comment edited (by anyone) into /approve is refused and audited', async (t) => {
  const gh = await github(t);
  const p = await makePipeline(t, { config: ghConfig(gh.url, { allowedUsers: ['alice', 'bob'] }) });
  const issue = gh.addIssue({ title: 'x', labels: ['orchestra'], author: 'bob' });
  const poller = createPoller(p.ws, quiet, env);
  await poller.pollOnce();
  const c = gh.addComment(issue.number, { author: 'alice', body: 'Thanks, looking.' });
  gh.editComment(c.id, '/approve v1');
  const pass = await poller.pollOnce();
  assert.deepEqual([pass.commands, pass.refused], [0, 1]);
  const audit = eventsOf(p.root, 'audit').filter((e) => e.type === 'access.refused' && e.data.comment === c.id);
  assert.equal(audit.length, 1);
  assert.match(String(audit[0]!.data.reason), /edited/);
});

test('a labelled issue by a user not allowed is refused and audited once; with issueAuthors: anyone it is taken', async (t) => {
  const gh = await github(t);
  const p = await makePipeline(t, { config: ghConfig(gh.url) });
  const issue = gh.addIssue({ title: 'Spend money', labels: ['orchestra'], author: 'mallory' });
  const poller = createPoller(p.ws, quiet, env);
  const pass = await poller.pollOnce();
  assert.deepEqual([pass.issuesTaken, pass.refused], [0, 1]);
  assert.equal((await poller.pollOnce()).refused, 0, 'refused once');
  const audit = eventsOf(p.root, 'audit').filter((e) => e.type === 'access.refused' && e.record.actor.user === 'github:mallory');
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!.data.issue, issue.number);
  assert.equal((await p.ws.tasks()).length, 0);

  const open = await makePipeline(t, { config: ghConfig(gh.url, { issueAuthors: 'anyone' }) });
  assert.equal((await createPoller(open.ws, quiet, env).pollOnce()).issuesTaken, 1);
});

test('two pollers and a poller that died after posting: the plan is said once', async (t) => {
  const gh = await github(t);
  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES }, config: ghConfig(gh.url, { allowedUsers: ['alice', 'bob'] }) });
  const issue = gh.addIssue({ title: 'Fix add()', body: 'add(2, 3) should be 5.', labels: ['orchestra'], author: 'bob' });
  await startLoops(p, ['intake', 'planner']);
  const a = createPoller(p.ws, quiet, env);
  await a.pollOnce();
  const task = await waitFor('the task', async () => (await p.ws.tasks())[0]);
  await waitState(p, task.id, ['planned']);

  // A posts; the forge creates the comment and A waits for the answer (or died waiting).
  const held = gh.hold('POST', /\/comments$/, 'after');
  const first = a.pollOnce();
  await held.reached;
  // A second poller meanwhile leaves A's fresh intent alone.
  assert.equal((await createPoller(p.ws, quiet, env).pollOnce()).told, 0);
  // A restarted poller, once A's intent is stale, finds the comment on the thread instead of posting again.
  const config = p.ws.config.forge;
  const restarted = new ForgePoller(p.ws, selectForge(config, { env }).forge!, { config, taskRepo: 'sample', log: quiet, intentStaleMs: 0 });
  assert.equal((await restarted.pollOnce()).told, 1);
  held.release();
  await first;
  await a.pollOnce();
  const plans = gh.comments.filter((c) => c.issue === issue.number && /Plan v1/.test(c.body));
  assert.equal(plans.length, 1, 'said once');
  assert.equal(gh.requests.filter((r) => r.method === 'POST' && /\/comments$/.test(r.path)).length, 1);
});

test('allowed logins are pinned to their account ids: the login re-registered by someone else approves nothing', async (t) => {
  const gh = await github(t);
  const p = await makePipeline(t, { config: ghConfig(gh.url, { allowedUsers: ['alice', 'bob'] }) });
  const issue = gh.addIssue({ title: 'x', labels: ['orchestra'], author: 'bob' });
  const poller = createPoller(p.ws, quiet, env);
  await poller.pollOnce();
  const state = foldForgeState(await p.ws.readStream(forgeStream('github', 'o/r')));
  assert.deepEqual([...state.pins.keys()].sort(), ['alice', 'bob']);
  const lookups = gh.requests.filter((r) => r.path.startsWith('/users/')).length;
  assert.equal(lookups, 2);

  gh.reRegister('alice');
  const c = gh.addComment(issue.number, { author: 'alice', body: '/approve v1' });
  const pass = await poller.pollOnce();
  assert.deepEqual([pass.commands, pass.refused], [0, 1]);
  const audit = eventsOf(p.root, 'audit').filter((e) => e.type === 'access.refused' && e.data.comment === c.id);
  assert.match(String(audit[0]!.data.reason), /another account/);
  assert.equal(gh.requests.filter((r) => r.path.startsWith('/users/')).length, lookups, 'resolved once');
});
