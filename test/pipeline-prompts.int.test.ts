/**
 * Prompt provenance: a workspace's ai/ overrides and orchestra.json are committed to the
 * workspace history, and the system text of every recorded prompt hash is kept as
 * prompts/<hash>.md, so a `model.called` record can be traced to the exact text the model got.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runJson } from './support/cli-run.js';
import { startFakeAnthropic, systemText } from './support/fake-anthropic.js';
import { byTurn, dropTask, eventsOfType, git, makePipeline, PLANNER_REPLIES, startLoops, waitState } from './support/pipeline-harness.js';

test('an ai/ override is committed, and prompts/<hash>.md holds the exact system text the recorded hash names', async (t) => {
  const anthropic = await startFakeAnthropic({ respond: byTurn(PLANNER_REPLIES) });
  Object.assign(process.env, { ANTHROPIC_API_KEY: 'test-anthropic-key', ANTHROPIC_BASE_URL: anthropic.url });
  const p = await makePipeline(t, { config: { planner: { provider: 'anthropic', model: 'claude-sonnet-4-6', streaming: false } } });
  p.defer(() => anthropic.close());
  const override = join(p.root, 'ai', 'planner', 'role.md');
  mkdirSync(join(p.root, 'ai', 'planner'), { recursive: true });
  const roleV1 = 'You plan changes (override v1, marker-5521).\n';
  writeFileSync(override, roleV1);
  // orchestra.json edited after init: a config change is committed too.
  const config = JSON.parse(readFileSync(join(p.root, 'orchestra.json'), 'utf8'));
  writeFileSync(join(p.root, 'orchestra.json'), JSON.stringify({ ...config, loops: { ...config.loops, settleMs: 30 } }, null, 2));

  const up = await startLoops(p, ['intake', 'planner']);
  const id = await dropTask(p, 'plan-me');
  const view = await waitState(p, id, ['planned', 'failed']);
  assert.equal(view.state, 'planned', view.dev.failure?.reason);
  await up.stop();

  const calls = eventsOfType(p, id, 'model.called');
  assert.equal(calls.length, PLANNER_REPLIES.length);
  const hash = calls[0]!.data.promptHash as string;
  assert.ok(calls.every((c) => c.data.promptHash === hash), 'one prompt set, one hash');
  const stored = readFileSync(join(p.root, 'prompts', `${hash}.md`), 'utf8');
  assert.equal(stored, systemText(anthropic.requests[0]!), 'the stored text is exactly the system prompt the model got');
  assert.ok(stored.includes('marker-5521'), 'with the override in it');

  // Committed: the prompt text (a record, add-only), the override and the config change.
  assert.equal(git(p.root, 'ls-tree', '--name-only', 'HEAD', '--', `prompts/${hash}.md`), `prompts/${hash}.md`);
  assert.equal(git(p.root, 'show', `HEAD:prompts/${hash}.md`), stored.trimEnd());
  assert.equal(git(p.root, 'show', 'HEAD:ai/planner/role.md'), roleV1.trimEnd());
  assert.match(git(p.root, 'show', 'HEAD:orchestra.json'), /"settleMs": 30/);
  assert.equal(git(p.root, 'status', '--porcelain', '--', 'ai', 'orchestra.json', 'prompts'), '', 'nothing left uncommitted');

  // A later edit of the override is a new commit; the old text stays in history.
  writeFileSync(override, 'You plan changes (override v2).\n');
  await p.ws.journal.flush();
  const commits = git(p.root, 'log', '--format=%H', '--', 'ai/planner/role.md').split('\n');
  assert.equal(commits.length, 2, 'each version of the override has its commit');
  assert.equal(git(p.root, 'show', `${commits[1]}:ai/planner/role.md`), roleV1.trimEnd());
  assert.match(git(p.root, 'log', '-1', '--format=%s', '--', 'ai/planner/role.md'), /config: ai\/planner\/role\.md changed/);

  const verify = await runJson(p.root, ['verify']);
  assert.equal(verify.code, 0, JSON.stringify(verify.json.data?.findings));

  // Stored prompt texts are immutable like records: an edit is damage.
  writeFileSync(join(p.root, 'prompts', `${hash}.md`), 'rewritten');
  const damaged = await runJson(p.root, ['verify']);
  assert.equal(damaged.code, 2);
  assert.ok(damaged.json.data.findings.some((f: { kind: string; path: string }) => f.kind === 'record-changed' && f.path === `prompts/${hash}.md`));
});
