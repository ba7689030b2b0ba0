import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { esc, htmlToText, renderCompleted, renderFailed, renderPlan, renderProgress, renderStatus, splitHtml, titleOf } from '../src/adapters/telegram/format.js';
import { formatUsd } from '../src/core/text-sanitize.js';
import { chatFromCreator, planKeyboard } from '../src/adapters/telegram/notifier.js';
import { emptyDevView } from '../src/pipeline/dev-fold.js';
import type { TaskView } from '../src/core/model/task.js';
import { parseTelegramHtml } from './support/fake-telegram.js';

const NASTY = 'Fix _*[]()~`>#+-=|{}.!<& "q" \\ now';

function task(extra: Partial<TaskView> = {}): TaskView {
  return {
    id: '01JABCDEFGHJKMNPQRSTVWXYZ0', workstream: 'dev', title: NASTY, description: '', tags: [], fields: { repo: 'web<1>' }, state: 'planning',
    stateSeq: 1, stateSince: '2025-01-01T00:00:00.000Z', archived: false, createdAt: '', createdBy: 'adapter:telegram:111', updatedAt: '', lastSeq: 1,
    comments: [], attempts: 0, claims: {}, retries: 0, retryExhausted: false, firedTriggers: [], causes: [], illegalMoves: [], dev: emptyDevView(), ...extra,
  };
}

describe('telegram formatting', () => {
  it('escapes HTML so Telegram shows the text as written', () => {
    assert.equal(parseTelegramHtml(`<b>${esc(NASTY)}</b>`), NASTY);
    assert.equal(htmlToText(`<b>${esc(NASTY)}</b>`), NASTY);
    assert.throws(() => parseTelegramHtml('a < b'), /parse entities/);
    assert.throws(() => parseTelegramHtml('<b>x'), /parse entities/);
    assert.equal(titleOf(`\n  ${'y'.repeat(100)}\nmore`).length, 80);
    assert.equal(titleOf('Add a --verbose flag. It prints every step.'), 'Add a --verbose flag');
    assert.equal(titleOf('Why is it slow? Profile it.'), 'Why is it slow?');
    assert.equal(titleOf('Use e.g. the cache for v1.2 builds'), 'Use e.g. the cache for v1.2 builds');
    assert.equal(titleOf(`${'word '.repeat(30)}end`), `${'word '.repeat(15).trim()}…`);
  });

  it('splits long HTML under the limit without breaking tags or entities', () => {
    const lines = Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? `<b>${esc(NASTY)} <i>${i}</i></b>` : `${i}. ${esc(NASTY.repeat(i % 5))}`));
    const html = `<b>Plan</b>\n${lines.join('\n')}\n<pre>${esc('x'.repeat(9000))}</pre>\n${esc('&'.repeat(5000))}`;
    const parts = splitHtml(html);
    assert.ok(parts.length > 4);
    for (const part of parts) {
      assert.ok(part.length <= 4096, `part of ${part.length}`);
      parseTelegramHtml(part);
    }
    const flat = (s: string) => s.replace(/\n/g, '');
    assert.equal(flat(parts.map(htmlToText).join('')), flat(htmlToText(html)));
    assert.deepEqual(splitHtml('<b>short</b>'), ['<b>short</b>']);
  });

  it('renders plans, progress and failures', () => {
    const plan = { version: 3, file: 'p.md', summary: 'S <1>', steps: ['a & b', 'c'], criteria: ['ok'], risks: ['r'], at: '' };
    const text = parseTelegramHtml(renderPlan(task({ state: 'planned' }), plan));
    assert.match(text, /Plan v3 for Fix[\s\S]*repo web<1>[\s\S]*S <1>[\s\S]*1\. a & b\n2\. c/);
    assert.deepEqual(planKeyboard('ID', 3).inline_keyboard[0]!.map((b) => b.callback_data), ['approve:ID:3', 'revise:ID:3', 'abort:ID']);

    const dev = { ...emptyDevView(), testRuns: [{ run: 2, passed: false, exitCode: 1, timedOut: false, durationMs: 1, file: 'f', at: '' }] };
    assert.match(parseTelegramHtml(renderProgress(task({ state: 'executing', dev }))), /test run 2 failed, fixing\.\.\./);
    // the last edit of the progress message shows how the run ended
    const execution = { worktree: 'w', branch: 'b', base: 'main', baseCommit: 'c', planVersion: 1, startedAt: '' };
    for (const [state, head] of [['executing', '⚙️ Executing'], ['publishing', '📤 Publishing'], ['completed', '✅ Completed'], ['failed', '❌ Failed'], ['aborted', '⏹ Aborted']]) {
      const shown = parseTelegramHtml(renderProgress(task({ state: state!, dev: { ...dev, execution } })));
      assert.ok(shown.startsWith(`${head} Fix`), shown);
      if (state !== 'executing') assert.doesNotMatch(shown, /Executing|fixing/);
    }
    const failure = { reason: 'tests <still> fail', step: 'execute', patchFile: 'tasks/X/records/patch.diff', at: '' };
    const failed = parseTelegramHtml(renderFailed(task({ state: 'failed', dev: { ...emptyDevView(), failure } })));
    assert.match(failed, /Failed[\s\S]*Reason: tests <still> fail \(step execute\)[\s\S]*Saved patch: tasks\/X\/records\/patch\.diff/);
  });

  it('shows the cost as every view does (formatUsd, not rounded to cents) with the right plural', () => {
    const usage = (calls: number, costUsd: number) => ({ ...emptyDevView(), usage: { calls, inputTokens: 1, outputTokens: 1, costUsd } });
    assert.match(parseTelegramHtml(renderStatus(task({ dev: usage(1, 0.0042) }))), /Model cost: \$0\.0042 \(1 model call\)/);
    assert.match(parseTelegramHtml(renderCompleted(task({ state: 'completed', dev: usage(3, 2.5) }))), /Model cost: \$2\.50 \(3 model calls\)/);
    assert.match(parseTelegramHtml(renderFailed(task({ state: 'failed', dev: usage(2, 0.0123) }))), new RegExp(`Model cost: \\${formatUsd(0.0123)} \\(2 model calls\\)`));
  });

  it('finds the chat of a task created through the bot', () => {
    assert.equal(chatFromCreator(task()), 111);
    assert.equal(chatFromCreator(task({ createdBy: 'cli:orchestra:me@host#1' })), undefined);
  });
});
