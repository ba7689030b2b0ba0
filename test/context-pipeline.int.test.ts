/**
 * The context store in the dev pipeline, through the real SDKs against the fake Anthropic and
 * Gemini servers: the planner records a finding (context_write), the executor reads it
 * (context_read), a follow-up task on the same repository gets its ref in the briefing; a model
 * asking for a secret through a tool is refused; the setup step granted a secret gets it as an
 * environment variable and its recorded output is masked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readContext, writeContext } from '../src/core/context/store.js';
import { startFakeAnthropic } from './support/fake-anthropic.js';
import { startFakeGemini } from './support/fake-gemini.js';
import { approveAndWait, byTurn, dropTask, eventsOf, eventsOfType, FIX_CALL, FIXER_REPLIES, filesContaining, git, makePipeline, PLANNER_REPLIES, startLoops, waitState } from './support/pipeline-harness.js';
import { testActor } from './support/core-workspace.js';

const TOKEN = 'npm_registryToken_9f8e7d6c5b';
const FINDING = 'Tests: node --test, files under test/ (context-marker-3391)\nsrc/math.js holds add().';
const PLAN = { summary: 'add() subtracts; make it add.', steps: ['Change a - b to a + b in src/math.js'], criteria: ['node --test passes'], risks: [] };

function addSetupScript(repo: string): void {
  mkdirSync(join(repo, '.orchestra'), { recursive: true });
  // The script needs the token, prints it, and prints an encoding of it: both must be masked.
  writeFileSync(join(repo, '.orchestra', 'setup.sh'), 'test -n "$NPM_TOKEN" || { echo "NPM_TOKEN missing"; exit 4; }\necho "registry token: $NPM_TOKEN"\nprintf %s "$NPM_TOKEN" | base64\n');
  for (const args of [['add', '-A'], ['commit', '-q', '-m', 'setup needs a token'], ['push', '-q', 'origin', 'main'], ['branch', '-f', 'development'], ['push', '-q', '-f', 'origin', 'development']]) {
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo, stdio: 'pipe' });
  }
}

test('planner records knowledge, executor reads it, a follow-up task starts from it; secrets never reach a model; setup gets its secret masked', async (t) => {
  const firstPlanner = byTurn([
    { toolCalls: [{ name: 'context_list', args: {} }] },
    { toolCalls: [{ name: 'context_write', args: { key: 'test-layout', content: FINDING } }] },
    { toolCalls: [{ name: 'context_read', args: { ref: 'workspace/NPM_TOKEN' } }, { name: 'context_read', args: { ref: 'repo:other/test-layout' } }, { name: 'context_write', args: { key: '../../escape', content: 'x' } }] },
    { toolCalls: [{ name: 'submit_plan', args: PLAN }] },
  ]);
  const anthropic = await startFakeAnthropic({
    respond: (body) => (JSON.stringify(body.messages[0]).includes('second task') ? { toolCalls: [{ name: 'submit_plan', args: PLAN }] } : firstPlanner(body)),
  });
  const gemini = await startFakeGemini({
    respond: byTurn([
      { toolCalls: [{ name: 'context_read', args: { ref: 'repo:sample/test-layout' } }] },
      { toolCalls: [{ name: 'context_read', args: { ref: 'workspace/NPM_TOKEN' } }, { name: 'context_write', args: { key: 'NPM_TOKEN', content: 'overwrite the secret', scope: 'task' } }] },
      { toolCalls: [FIX_CALL] },
      { toolCalls: [{ name: 'run_tests', args: {} }] },
      { toolCalls: [{ name: 'finish', args: { summary: 'add() adds' } }] },
    ], 'model'),
  });
  Object.assign(process.env, { ANTHROPIC_API_KEY: 'test-anthropic-key', GEMINI_API_KEY: 'test-gemini-key', ANTHROPIC_BASE_URL: anthropic.url, GOOGLE_GEMINI_BASE_URL: gemini.url });
  const p = await makePipeline(t, {
    config: {
      planner: { provider: 'anthropic', model: 'claude-sonnet-4-6' },
      executor: { provider: 'gemini', model: 'gemini-3-flash' },
      security: { profiles: { setup: { secrets: ['NPM_TOKEN'] } } },
    },
    repoSetup: addSetupScript,
  });
  p.defer(() => anthropic.close());
  p.defer(() => gemini.close());
  await writeContext(p.ws, { scope: { kind: 'workspace' }, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  await startLoops(p);

  const id = await dropTask(p, 'fix-add');
  const done = await approveAndWait(p, id, ['completed', 'failed'], 60_000);
  assert.equal(done.state, 'completed', done.dev.failure?.reason);

  // The planner's finding is a record of the repository's scope, with its writer.
  const [written] = eventsOf(p.root, 'context/repo.sample+test-layout');
  assert.equal(written!.data.content, FINDING);
  assert.deepEqual(written!.data.writer, { role: 'planner', task: id });
  assert.deepEqual([written!.record.actor.kind, written!.record.actor.name], ['loop', 'planner']);
  // The executor's opening message carries the ref and summary, not the text; context_read gave it the text.
  const opening = JSON.stringify(gemini.requests[0]!.contents[0]);
  assert.match(opening, /repo:sample\/test-layout@1: Tests: node --test, files under test\/ \(context-marker-3391\)/);
  assert.doesNotMatch(opening, /src\/math\.js holds add/);
  assert.match(JSON.stringify(gemini.requests[1]!.contents.at(-1)), /src\/math\.js holds add\(\)/);

  // Secrets through tools: refused for both steps, readable reasons, no value anywhere in what a model got.
  const refused = eventsOfType(p, id, 'tool.refused').map((e) => `${e.data.role} ${e.data.name}: ${e.data.reason}`);
  assert.ok(refused.some((r) => /^planner context_read: .*workspace\/NPM_TOKEN is a secret/.test(r)), refused.join('\n'));
  assert.ok(refused.some((r) => /^planner context_read: .*outside this task's scopes/.test(r)), refused.join('\n'));
  assert.ok(refused.some((r) => /^planner context_write: .*"key" must be/.test(r)), refused.join('\n'));
  assert.ok(refused.some((r) => /^executor context_read: .*is a secret/.test(r)), refused.join('\n'));
  assert.equal((await readContext(p.ws, 'workspace/NPM_TOKEN')).versions, 1, 'a tool write never touches the secret');
  for (const body of [...anthropic.requests, ...gemini.requests]) assert.equal(JSON.stringify(body).includes(TOKEN), false, 'no model request holds the secret');

  // Setup got the secret (it would have exited 4 without it); its recorded output is masked.
  const [setup] = eventsOfType(p, id, 'setup.ran');
  assert.equal(setup!.data.passed, true);
  const output = readFileSync(join(p.root, setup!.data.file), 'utf8');
  assert.match(output, /registry token: \[redacted\]/);
  assert.equal(output.includes(TOKEN) || output.includes(Buffer.from(TOKEN).toString('base64')), false, output);
  const reads = eventsOf(p.root, 'audit').filter((e) => e.type === 'context.secret-read' && e.data.task === id);
  assert.deepEqual(reads.filter((r) => r.data.purpose === 'setup').map((r) => [r.data.ref, r.record.actor.name]), [['workspace/NPM_TOKEN', 'executor']]);
  // The kept diff, the commit and the push were scanned for it too: each such read is audited.
  assert.deepEqual([...new Set(reads.map((r) => `${r.data.purpose} by ${r.record.actor.name}`))].sort(), ['publish scan by executor', 'publish scan by publisher', 'setup by executor']);

  // A follow-up task on the same repository: its planner's briefing lists the finding.
  const second = await dropTask(p, 'second', { title: 'second task on the same repo' });
  await waitState(p, second, ['planned']);
  const briefing = JSON.stringify(anthropic.requests.find((b) => JSON.stringify(b.messages[0]).includes('second task'))!.messages[0]);
  assert.match(briefing, /repo:sample\/test-layout@1: Tests: node --test/);

  // The plaintext is nowhere on disk and nowhere in the workspace's history.
  await p.ws.journal.flush();
  assert.equal(git(p.root, 'log', '-p', '--all').includes(TOKEN), false);
  assert.deepEqual(filesContaining(p.dir, TOKEN), []);
});

test('a granted secret that the setup step writes into the worktree is never published: SECRET_IN_CHANGES', async (t) => {
  const p = await makePipeline(t, {
    scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES },
    config: { security: { profiles: { setup: { secrets: ['NPM_*'] } } } },
    repoSetup: (repo) => {
      mkdirSync(join(repo, '.orchestra'), { recursive: true });
      writeFileSync(join(repo, '.orchestra', 'setup.sh'), 'printf "//registry.example/:_authToken=%s\\n" "$NPM_TOKEN" > .npmrc\n');
      for (const args of [['add', '-A'], ['commit', '-q', '-m', 'setup writes .npmrc'], ['push', '-q', 'origin', 'main'], ['branch', '-f', 'development'], ['push', '-q', '-f', 'origin', 'development']]) {
        execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo, stdio: 'pipe' });
      }
    },
  });
  await writeContext(p.ws, { scope: { kind: 'workspace' }, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  await startLoops(p);
  const id = await dropTask(p, 'leaky-setup');
  const done = await approveAndWait(p, id, ['completed', 'failed'], 60_000);
  assert.equal(done.state, 'failed');
  assert.match(done.dev.failure?.reason ?? '', /context secret NPM_TOKEN/);
  assert.equal(git(p.remote, 'branch', '--list', `task/${id}`), '', 'nothing was pushed');
  await p.ws.journal.flush();
  assert.equal(git(p.root, 'log', '-p', '--all').includes(TOKEN), false);
  // The one copy on disk is the file the setup script itself wrote in the (kept) worktree.
  assert.deepEqual(filesContaining(p.root, TOKEN).map((f) => f.slice(p.root.length)), [`/.orchestra/worktrees/${id}/.npmrc`]);
});
