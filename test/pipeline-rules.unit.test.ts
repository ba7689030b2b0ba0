import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LimitsSchema } from '../src/core/config.js';
import { emptyDevView } from '../src/pipeline/dev-fold.js';
import type { TaskView } from '../src/core/model/task.js';
import { effectiveLimits, exceededLimit } from '../src/pipeline/budget.js';
import { PlanSchema, renderPlanMarkdown as renderPlan } from '../src/pipeline/plan.js';
import { commitSubject, commitType, renderCommitMessage } from '../src/pipeline/commit-message.js';
import { safeRelative } from '../src/pipeline/tools/common.js';

const rules = readFileSync(new URL('../../ai/git/rules.md', import.meta.url), 'utf8');
const task = (title: string, tags: string[] = [], fields: Record<string, unknown> = {}): TaskView =>
  ({ id: '01JD0000000000000000000000', title, tags, fields, dev: { ...emptyDevView(), summary: 'changed a\n- changed b', approvedVersion: 2 } }) as unknown as TaskView;

test('commit type follows the task: fix, docs, test, refactor, chore, else feat', () => {
  assert.equal(commitType(task('Fix the login bug')), 'fix');
  assert.equal(commitType(task('Login', ['bug'])), 'fix');
  assert.equal(commitType(task('Update the README')), 'docs');
  assert.equal(commitType(task('More tests for parser')), 'test');
  assert.equal(commitType(task('Refactor the store')), 'refactor');
  assert.equal(commitType(task('Bump dependencies')), 'chore');
  assert.equal(commitType(task('Add a --verbose flag')), 'feat');
});

test('the commit message fills the template of ai/git/rules.md with bullets and trailers', () => {
  const message = renderCommitMessage(rules, task('Fix the login bug.'), 3);
  const [title, , ...rest] = message.trim().split('\n');
  assert.equal(title, 'fix: the login bug');
  assert.deepEqual(rest.slice(0, 2), ['- changed a', '- changed b']);
  assert.match(message, /\n\nTask-Id: 01JD0000000000000000000000\nPlan-Version: v2\nOrchestra-Attempt: 3\n$/);
  assert.throws(() => renderCommitMessage('no template here', task('x'), 1), /template/);
});

test('the commit subject is what was done: the first sentence of the approved plan\'s summary, else the title', () => {
  const planned = task('Login is broken', ['bug']);
  const plan = (version: number, summary: string) => ({ version, file: '', summary, steps: [], criteria: [], risks: [], at: '' });
  planned.dev.plans = [plan(1, 'Rewrite the whole module.'), plan(2, 'Fix the session check in login(). It compared the wrong field.\nMore.')];
  const message = renderCommitMessage(rules, planned, 1);
  assert.equal(message.split('\n')[0], 'fix: the session check in login()');
  assert.match(message, /\nOrchestra-Attempt: 1\n$/);
  assert.equal(commitSubject(planned), 'the session check in login()');
  planned.dev.plans[1]!.summary = `Make ${'x'.repeat(100)}`;
  assert.equal(commitSubject(planned).length, 68);
  assert.equal(commitSubject(task('Add a --verbose flag.')), 'add a --verbose flag', 'no plan: the title');
});

test('limits: the first one reached ends the run, with a plain reason; task fields override', () => {
  const limits = LimitsSchema.parse({ maxTurns: 5, maxTestRuns: 2, maxCostUsd: 1, maxWallClockSeconds: 60 });
  const fresh = { turns: 0, testRuns: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, startedAt: Date.now() };
  assert.equal(exceededLimit(limits, fresh), undefined);
  assert.match(exceededLimit(limits, { ...fresh, turns: 5 })!, /turn limit \(5/);
  assert.match(exceededLimit(limits, { ...fresh, testRuns: 3 })!, /test-run limit/);
  assert.match(exceededLimit(limits, { ...fresh, costUsd: 1.2 })!, /cost limit \(\$1\.00\) was reached \(\$1\.20 spent\)/);
  assert.match(exceededLimit(limits, { ...fresh, startedAt: Date.now() - 61_000 })!, /time limit/);
  assert.equal(effectiveLimits(limits, task('x', [], { limits: { maxTurns: 2 } })).maxTurns, 2);
  assert.throws(() => effectiveLimits(limits, task('x', [], { limits: { maxTurns: 'many' } })), /limits/);
});

test('model paths: relative only, never out of the root or into .git', () => {
  for (const bad of ['/etc/passwd', '../x', 'a/../../x', '.git/config', 'sub/.git/hooks/x', 'C:\\x', 'a\0b', 42]) {
    assert.equal(safeRelative(bad), undefined, String(bad));
  }
  assert.equal(safeRelative('src/./a.ts'), 'src/a.ts');
  assert.equal(safeRelative('src/lib/../a.ts'), 'src/a.ts');
  assert.equal(safeRelative(undefined), '');
  assert.equal(safeRelative('.gitignore'), '.gitignore');
});

test('a plan needs steps and renders as readable Markdown', () => {
  assert.equal(PlanSchema.safeParse({ summary: 's', steps: [] }).success, false);
  const plan = PlanSchema.parse({ summary: 'Make add() add.', steps: ['edit src/math.js', 'run tests'], criteria: ['tests pass'] });
  const md = renderPlan('Fix add', 3, plan);
  assert.match(md, /^# Plan v3: Fix add\n/);
  assert.match(md, /## Steps\n\n1\. edit src\/math.js\n2\. run tests/);
  assert.match(md, /## Risks\n\n- \(none\)/);
});

test('published JSON Schemas come from the validating schemas', async () => {
  const { jsonSchema } = await import('../src/app/schemas.js');
  const task = jsonSchema('task') as { required: string[]; properties: Record<string, unknown> };
  assert.ok(task.required.includes('title'));
  assert.ok('workstream' in task.properties && 'fields' in task.properties);
  const command = jsonSchema('command') as { oneOf: Array<{ properties: { command: { const: string } } }> };
  assert.deepEqual(command.oneOf.map((c) => c.properties.command.const).sort(), ['abort', 'approve', 'archive', 'comment', 'feedback', 'move', 'retry']);
  assert.ok((jsonSchema('record') as { required: string[] }).required.includes('sum'));
});

test('scripted replies: estimated token counts are flagged (budgeted, never priced); given counts are not', async () => {
  const { createProvider } = await import('../src/providers/factory.js');
  const provider = createProvider({ kind: 'scripted', model: 'm', script: { replies: [{ text: 'a' }, { text: 'b', usage: { inputTokens: 10, outputTokens: 2 } }] } });
  const first = await provider.complete({ model: 'm', system: 's', messages: [{ role: 'user', text: 'go' }], tools: [] });
  assert.equal(first.usageEstimated, true);
  assert.ok(first.usage.inputTokens > 0);
  const second = await provider.complete({ model: 'm', system: 's', messages: [{ role: 'user', text: 'go' }, { role: 'assistant', text: 'a', toolCalls: [] }], tools: [] });
  assert.deepEqual([second.usageEstimated, second.usage], [undefined, { inputTokens: 10, outputTokens: 2 }]);
});
