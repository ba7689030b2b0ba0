/**
 * The model's context tools (src/pipeline/tools/context-tools.ts) given hostile calls, and an agent
 * granted context_list/context_read by its front matter (the reviewer's tools).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseScope } from '../src/core/context/entry.js';
import { listContext, readContext, writeContext } from '../src/core/context/store.js';
import { profileFor } from '../src/core/security-profiles.js';
import { runAgent } from '../src/pipeline/agents.js';
import { contextRefsText, contextTools } from '../src/pipeline/tools/context-tools.js';
import { cliOk } from './support/cli-run.js';
import { eventsOf, makeWorkspace, testActor } from './support/core-workspace.js';

const TASK = '01JD0000000000000000000001';
const OTHER_TASK = '01JD0000000000000000000002';
const TOKEN = 'tok_toolsSecret_77110aa';

test('hostile context tool calls get readable refusals and write nothing; writes are scoped and record their writer', async (t) => {
  const ws = await makeWorkspace(t, { context: { maxContentBytes: 2048, maxRefsInPrompt: 2 } });
  await writeContext(ws, { scope: parseScope('workspace'), key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  await writeContext(ws, { scope: parseScope(`task:${OTHER_TASK}`), key: 'private', kind: 'knowledge', value: 'another task\'s note', actor: testActor });
  const tools = contextTools(ws, { role: 'executor', taskId: TASK, repo: 'app', actor: testActor });
  const call = (name: string, args: Record<string, unknown>) => tools.run({ id: 'c1', name, args });

  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    ['context_write', { key: '../../etc/passwd', content: 'x' }, /"key" must be/],
    ['context_write', { key: { toString: 'x' }, content: 'x' }, /"key" must be/],
    ['context_write', { key: 'k', content: 42 }, /"content" must be non-empty text/],
    ['context_write', { key: 'k', content: '   ' }, /non-empty/],
    ['context_write', { key: 'k', content: 'x'.repeat(2049) }, /over the limit of 2048 bytes/],
    ['context_write', { key: 'k', content: 'x', scope: 'workspace' }, /"scope" is "repo" or "task"/],
    ['context_read', { ref: 'workspace/NPM_TOKEN' }, /is a secret; secrets are never given to a model/],
    ['context_read', { ref: 'NPM_TOKEN' }, /is a secret/],
    ['context_read', { ref: `task:${OTHER_TASK}/private` }, /outside this task's scopes/],
    ['context_read', { ref: 'repo:other/notes' }, /outside this task's scopes/],
    ['context_read', { ref: 'repo:app/../../x' }, /INVALID_INPUT/],
    ['context_read', { ref: ['workspace/x'] }, /INVALID_INPUT/],
    ['context_read', { ref: 'repo:app/missing' }, /NOT_FOUND/],
    ['context_delete', {}, /unknown tool/],
  ];
  for (const [name, args, reason] of refusals) {
    const outcome = await call(name, args);
    assert.equal(outcome.isError, true, `${name} ${JSON.stringify(args)}`);
    assert.match(outcome.output, reason);
    assert.equal(outcome.output.includes(TOKEN), false);
  }
  assert.deepEqual(readdirSync(join(ws.paths.root, 'context')).sort(), [`task.${OTHER_TASK}+private`, 'workspace+NPM_TOKEN'], 'no refused call wrote anything');

  // A secret cannot be overwritten through a tool either (the same key in the same scope).
  await writeContext(ws, { scope: parseScope('repo:app'), key: 'DEPLOY_KEY', kind: 'secret', value: 'deploy-secret-value', actor: testActor });
  const overwrite = await call('context_write', { key: 'DEPLOY_KEY', content: 'replaced' });
  assert.equal(overwrite.isError, true);
  assert.match(overwrite.output, /is a secret; secrets cannot be written/);
  assert.equal((await readContext(ws, 'repo:app/DEPLOY_KEY')).kind, 'secret');

  // Good calls: repository scope by default, task scope on request, control characters cleaned.
  const written = await call('context_write', { key: 'build', content: 'Build: make\u001b[31m all\nthen make test' });
  assert.equal(written.isError, false, written.output);
  assert.match(written.output, /^recorded repo:app\/build@1: Build: make \[31m all$/);
  assert.equal((await call('context_write', { key: 'scratch', content: 'only for this task', scope: 'task' })).isError, false);
  const [record] = eventsOf(ws.paths.root, 'context/repo.app+build');
  assert.deepEqual(record!.data.writer, { role: 'executor', task: TASK });
  assert.equal((await call('context_read', { ref: 'repo:app/build' })).output.includes('then make test'), true);
  const listed = await call('context_list', {});
  assert.deepEqual(listed.output.split('\n'), ['repo:app/build@1: Build: make [31m all', `task:${TASK}/scratch@1: only for this task`], 'knowledge of its own scopes only, no secrets');

  // The refs in an opening message: capped (maxRefsInPrompt 2), most specific scope first.
  await writeContext(ws, { scope: parseScope('workspace'), key: 'style', kind: 'knowledge', value: 'Tabs.', actor: testActor });
  const refs = await contextRefsText(ws, { taskId: TASK, repo: 'app' });
  assert.deepEqual(refs.split('\n').slice(1), [`- task:${TASK}/scratch@1: only for this task`, '- repo:app/build@1: Build: make [31m all', '- ... and 1 more (context_list)']);
  assert.equal((await listContext(ws, { kind: 'secret' })).length, 2);

  // A profile whose `context` grants only some keys: the others are neither read, listed nor referenced.
  const narrow = profileFor(ws.config, 'executor', { by: 'test', narrow: { context: ['bui*'] } });
  const limited = contextTools(ws, { role: 'executor', taskId: TASK, repo: 'app', actor: testActor, profile: narrow });
  const denied = await limited.run({ id: 'c2', name: 'context_read', args: { ref: 'workspace/style' } });
  assert.deepEqual([denied.isError, /profile executor \(narrowed by test\): context key "style" not in context/.test(denied.output)], [true, true], denied.output);
  assert.equal((await limited.run({ id: 'c3', name: 'context_list', args: {} })).output, 'repo:app/build@1: Build: make [31m all');
  assert.deepEqual((await contextRefsText(ws, { taskId: TASK, repo: 'app', profile: narrow })).split('\n').slice(1), ['- repo:app/build@1: Build: make [31m all']);
});

test('an agent granted context_list and context_read reads knowledge; a tool it was not granted, and any secret, are refused', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  await writeContext(ws, { scope: parseScope('workspace'), key: 'release-notes', kind: 'knowledge', value: 'Release notes live in CHANGELOG.md (agent-marker-5512)', actor: testActor });
  await writeContext(ws, { scope: parseScope('workspace'), key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  mkdirSync(join(root, 'ai', 'agents'), { recursive: true });
  writeFileSync(join(root, 'ai', 'agents', 'scout.md'), '---\nname: scout\nprovider: scripted\nmodel: scripted-1\nscriptFile: scout.json\ntools: [context_list, context_read]\n---\nRead the context and summarise it.\n');
  writeFileSync(join(root, 'scout.json'), JSON.stringify({ replies: [
    { toolCalls: [{ name: 'context_list', args: {} }] },
    { toolCalls: [{ name: 'context_read', args: { ref: 'workspace/release-notes' } }, { name: 'context_read', args: { ref: 'workspace/NPM_TOKEN' } }, { name: 'context_write', args: { key: 'x', content: 'y' } }] },
    { text: 'Release notes are in CHANGELOG.md.' },
  ] }));
  const id = await cliOk(root, ['task', 'new', 'Tidy the release notes', '--workstream', 'default']);
  const result = await runAgent(ws, 'scout', id, testActor);
  assert.deepEqual([result.ok, result.output], [true, 'Release notes are in CHANGELOG.md.']);
  const refused = eventsOf(root, `tasks/${id}`).filter((e) => e.type === 'tool.refused').map((e) => `${e.data.name}: ${e.data.reason}`);
  assert.equal(refused.length, 2, refused.join('\n'));
  assert.match(refused.find((r) => r.startsWith('context_read'))!, /is a secret/);
  assert.match(refused.find((r) => r.startsWith('context_write'))!, /tool "context_write" not in tools/);
  assert.equal(readdirSync(join(root, 'context')).length, 2, 'the agent wrote nothing');
});
