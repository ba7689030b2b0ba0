/**
 * Agents end to end: the shipped `reviewer` agent (ai/agents/reviewer.md, provider anthropic)
 * run by a `run_agent` trigger in `orchestra up`, its model served by the fake Anthropic server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliOk, runCli, runJson } from './support/cli-run.js';
import { eventsOf, makeWorkspace, rawRecords } from './support/core-workspace.js';
import { startFakeAnthropic, systemText } from './support/fake-anthropic.js';

test('the shipped reviewer agent, fired by a run_agent trigger, leaves a comment that task show lists and verify accepts', async (t) => {
  const root = (await makeWorkspace(t)).paths.root;
  const review = 'Clear request. Missing: which browsers. Risk: cache headers.';
  const server = await startFakeAnthropic({
    respond: (body) => {
      const n = (body.messages as Array<{ role: string }>).filter((m) => m.role === 'assistant').length;
      if (n === 0) return { toolCalls: [{ name: 'task_show', args: {} }] };
      if (n === 1) return { toolCalls: [{ name: 'task_comment', args: { text: review } }] };
      return { text: 'Reviewed: clear, one risk.' };
    },
  });
  t.after(() => server.close());
  const env = { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: server.url };

  await cliOk(root, ['trigger', 'add', 'default', '--on', 'pending', '--id', 'review', '--agent', 'reviewer']);
  const id = await cliOk(root, ['task', 'new', 'Add a cache to the image proxy', '--workstream', 'default']);
  const up = await runCli(root, ['up', '--once', '--only', 'triggers'], { env, timeoutMs: 60_000 });
  assert.equal(up.code, 0, up.stderr);

  assert.equal(server.requests.length, 3, 'show, comment, summary');
  const fired = eventsOf(root, `tasks/${id}`).find((e) => e.type === 'trigger.fired');
  assert.equal(fired?.data.ok, true, JSON.stringify(fired?.data));
  const agentRecords = rawRecords(root, `tasks/${id}`).filter((r) => r.actor.kind === 'agent');
  assert.ok(agentRecords.some((r) => r.events.some((e) => e.type === 'task.commented')), 'the comment was written by the agent');

  const shown = await runJson(root, ['task', 'show', id]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.deepEqual(shown.json.data.comments.map((c: { text: string }) => c.text), [review], 'the agent\'s comment is folded into the task');
  assert.match(await cliOk(root, ['task', 'show', id]), /Missing: which browsers/);

  // The recorded prompt hash covers the agent's own prompt, and its text is kept.
  const called = eventsOf(root, `tasks/${id}`).find((e) => e.type === 'model.called')!;
  const stored = readFileSync(join(root, 'prompts', `${called.data.promptHash}.md`), 'utf8');
  assert.equal(stored, systemText(server.requests[0]!));
  assert.match(stored, /You review tasks in Orchestra/);

  const verify = await runJson(root, ['verify']);
  assert.equal(verify.code, 0, JSON.stringify(verify.json.data?.findings));
  assert.deepEqual(verify.json.data.findings.filter((f: { severity: string }) => f.severity === 'damage'), []);
});
