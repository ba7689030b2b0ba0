/** What a model may not do (push, write outside its worktree) and what it may not see (secrets). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OrchestraError } from '../src/core/errors.js';
import { assertPushAllowed, pushTaskBranch } from '../src/vcs/push.js';
import { startFakeAnthropic } from './support/fake-anthropic.js';
import { startFakeGemini } from './support/fake-gemini.js';
import { runCli } from './support/cli-run.js';
import { sh } from './support/git-fixtures.js';
import { approveAndWait, byTurn, dropTask, FIX_CALL as FIX, eventsOfType, filesContaining, git, makePipeline, PLANNER_REPLIES, startLoops, taskCommits, TEST_CMD } from './support/pipeline-harness.js';

const refusedPush = (err: unknown) => err instanceof OrchestraError && err.code === 'PUSH_REFUSED';

test('pushing main is refused in code, whoever asks', async (t) => {
  for (const branch of ['main', 'refs/heads/main', 'master', 'development', 'dev', 'Main', 'feature/x', 'task/../main', '']) {
    assert.throws(() => assertPushAllowed(branch), refusedPush, branch);
  }
  assert.throws(() => assertPushAllowed('task/01ABC', ['task/*']), refusedPush);
  assert.doesNotThrow(() => assertPushAllowed('task/01ABC'));
  const p = await makePipeline(t);
  writeFileSync(join(p.repo, 'README.md'), 'changed locally\n');
  sh(p.repo, 'commit', '-qam', 'local change on main');
  const before = git(p.remote, 'rev-parse', 'main');
  await assert.rejects(pushTaskBranch({ worktreePath: p.repo, remote: p.remote, branch: 'main', protectedBranches: [] }), refusedPush);
  await assert.rejects(pushTaskBranch({ worktreePath: p.repo, remote: 'origin', branch: 'refs/heads/main', protectedBranches: [] }), refusedPush);
  assert.equal(git(p.remote, 'rev-parse', 'main'), before);
});

test('a model asking to push main or to write outside its worktree is refused and told so', async (t) => {
  const marker = `EVIL-${process.pid}-${Date.now()}`;
  let absTarget = '';
  const gemini = await startFakeGemini({
    respond: (body) => byTurn([
      {
        text: 'Let me push and plant some files.',
        toolCalls: [
          { name: 'git_push', args: { branch: 'main' } },
          { name: 'write_file', args: { path: '../../evil.txt', content: marker } },
          { name: 'write_file', args: { path: absTarget, content: marker } },
          { name: 'write_file', args: { path: 'escape/evil-link.txt', content: marker } },
          { name: 'replace_in_file', args: { path: 'escape/../../sample-app/src/math.js', old_text: 'return a - b;', new_text: marker } },
        ],
      },
      { toolCalls: [FIX] },
      { toolCalls: [{ name: 'run_tests', args: {} }] },
      { toolCalls: [{ name: 'finish', args: { summary: 'fixed add()' } }] },
    ], 'model')(body),
  });
  Object.assign(process.env, { GEMINI_API_KEY: 'test-gemini-key', GOOGLE_GEMINI_BASE_URL: gemini.url });
  let outside = '';
  const p = await makePipeline(t, {
    scripts: { planner: PLANNER_REPLIES },
    config: { executor: { provider: 'gemini', model: 'gemini-3-flash', streaming: true } },
    // A committed symlink in the target repo that points out of the worktree.
    repoSetup: (repo, dir) => {
      outside = join(dir, 'outside');
      mkdirSync(outside);
      sh(repo, 'checkout', '-q', 'development');
      symlinkSync(outside, join(repo, 'escape'));
      sh(repo, 'add', 'escape');
      sh(repo, 'commit', '-qm', 'a link out');
      sh(repo, 'push', '-q', 'origin', 'development');
      sh(repo, 'checkout', '-q', 'main');
    },
  });
  p.defer(() => gemini.close());
  absTarget = join(outside, '..', 'evil-abs.txt'); // an absolute path in this test's temp dir
  const mainBefore = git(p.remote, 'rev-parse', 'main');
  const devBefore = git(p.remote, 'rev-parse', 'development');
  await startLoops(p);
  // The committed link's target is (rightly) invisible in the sandbox, and a bare `node --test`
  // walks the whole worktree into it: this task names its test directory instead.
  const id = await dropTask(p, 'escape', { test: `${TEST_CMD} test/` });
  const view = await approveAndWait(p, id, ['completed', 'failed'], 45_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);

  // Each refusal went back to the model in its next request.
  const parts = gemini.requests[1]!.contents.at(-1).parts.map((x: any) => x.functionResponse);
  assert.deepEqual(parts.map((r: any) => r.name), ['git_push', 'write_file', 'write_file', 'write_file', 'replace_in_file']);
  assert.match(parts[0].response.error, /refused: there is no tool "git_push"/);
  for (const r of [parts[1], parts[2], parts[4]]) assert.match(r.response.error, /refused: .* is outside the worktree/);
  assert.match(parts[3].response.error, /refused: "escape" is a symbolic link/);
  assert.ok(parts.every((r: any) => r.response.output === undefined));
  // ... and is recorded compactly (tool.refused), so `task log` shows why.
  const refused = eventsOfType(p, id, 'tool.refused').map((e: any) => e.data ?? e);
  assert.deepEqual(refused.map((d: any) => d.name), ['git_push', 'write_file', 'write_file', 'write_file', 'replace_in_file']);
  assert.match(refused[0].reason, /there is no tool "git_push"/);
  assert.match((await runCli(p.root, ['task', 'log', id])).stdout, /executor tool git_push refused: refused: there is no tool "git_push"/);

  // Nothing was written outside; only task/<id> reached the remote.
  assert.deepEqual(readdirSync(outside), []);
  assert.equal(existsSync(join(p.root, '.orchestra', 'evil.txt')), false);
  assert.equal(existsSync(absTarget), false);
  assert.deepEqual(filesContaining(p.dir, marker).filter((f) => !f.startsWith(join(p.root, 'tasks') + '/')), []);
  assert.equal(readFileSync(join(p.repo, 'src', 'math.js'), 'utf8').includes('return a - b;'), true);
  assert.equal(git(p.remote, 'rev-parse', 'main'), mainBefore);
  assert.equal(git(p.remote, 'rev-parse', 'development'), devBefore);
  assert.deepEqual(git(p.remote, 'for-each-ref', '--format=%(refname:short)', 'refs/heads').split('\n').sort(), ['development', 'main', `task/${id}`]);
  assert.equal(taskCommits(p, id).length, 1);
  assert.equal(eventsOfType(p, id, 'git.pushed')[0]!.data.branch, `task/${id}`);
});

test('a test command that prints the environment leaks no key into any record or history', async (t) => {
  const tag = `${process.pid}x${Date.now()}`;
  const secrets = { ANTHROPIC_API_KEY: `sk-ant-LEAK-${tag}`, GEMINI_API_KEY: `AIzaLEAK-${tag}`, GITHUB_TOKEN: `ghp_LEAK${tag}`, MY_SECRET: `my-secret-LEAK-${tag}` };
  const anthropic = await startFakeAnthropic({ apiKey: secrets.ANTHROPIC_API_KEY, respond: byTurn(PLANNER_REPLIES) });
  const gemini = await startFakeGemini({
    apiKey: secrets.GEMINI_API_KEY,
    respond: byTurn([{ toolCalls: [{ name: 'run_tests', args: {} }] }, { toolCalls: [FIX] }, { toolCalls: [{ name: 'run_tests', args: {} }] }, { toolCalls: [{ name: 'finish', args: { summary: 'fixed' } }] }], 'model'),
  });
  Object.assign(process.env, secrets, { ANTHROPIC_BASE_URL: anthropic.url, GOOGLE_GEMINI_BASE_URL: gemini.url, ORCHESTRA_CANARY: `visible-${tag}` });
  const p = await makePipeline(t, {
    config: {
      testCommand: `env; ${TEST_CMD}`,
      // The canary is passed on purpose (sandbox.passEnv), so the test can see that env was printed.
      sandbox: { passEnv: ['ORCHESTRA_CANARY'] },
      planner: { provider: 'anthropic', model: 'claude-sonnet-4-6' },
      executor: { provider: 'gemini', model: 'gemini-3-flash', streaming: true },
    },
  });
  p.defer(() => anthropic.close());
  p.defer(() => gemini.close());
  const up = await startLoops(p);
  const id = await dropTask(p, 'env');
  const view = await approveAndWait(p, id, ['completed', 'failed'], 45_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  await up.stop();
  assert.deepEqual(view.dev.testRuns.map((r) => r.passed), [false, true]);
  // The env really was printed into the records (and to the model).
  const output = readFileSync(join(p.root, view.dev.testRuns[0]!.file), 'utf8');
  assert.match(output, new RegExp(`ORCHESTRA_CANARY=visible-${tag}`));
  assert.match(JSON.stringify(gemini.requests[1]), /ORCHESTRA_CANARY/);

  const history = git(p.root, 'log', '-p', '--all') + git(p.remote, 'log', '-p', '--all');
  assert.ok(history.includes('ORCHESTRA_CANARY'), 'the history holds the test output');
  for (const [name, value] of Object.entries(secrets)) {
    assert.deepEqual(filesContaining(p.root, value), [], `${name} found in workspace files`);
    assert.equal(history.includes(value), false, `${name} found in git history`);
    assert.equal(JSON.stringify([gemini.requests, anthropic.requests]).includes(value), false, `${name} sent to a model`);
    assert.equal(output.includes(name + '='), false, `${name} reached the test command`);
  }
});
