import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { esc, htmlToText, renderFailed, renderPlan, renderProgress, splitHtml, titleOf } from '../src/adapters/telegram/format.js';
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
    const failure = { reason: 'tests <still> fail', step: 'execute', patchFile: 'tasks/X/records/patch.diff', at: '' };
    const failed = parseTelegramHtml(renderFailed(task({ state: 'failed', dev: { ...emptyDevView(), failure } })));
    assert.match(failed, /Failed[\s\S]*Reason: tests <still> fail \(step execute\)[\s\S]*Saved patch: tasks\/X\/records\/patch\.diff/);
  });

  it('finds the chat of a task created through the bot', () => {
    assert.equal(chatFromCreator(task()), 111);
    assert.equal(chatFromCreator(task({ createdBy: 'cli:orchestra:me@host#1' })), undefined);
  });
});
