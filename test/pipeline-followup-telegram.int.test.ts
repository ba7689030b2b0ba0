/**
 * Follow-up rounds from Telegram (fake Bot API): the completed message carries a Follow up button
 * and takes replies; both become sealed `feedback` inbox commands; intake starts round 2, and the
 * next plan message says the round. An old plan's Revise button does not start a round.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loopActor } from '../src/core/actor.js';
import { createLogger } from '../src/core/log.js';
import type { StoredEvent } from '../src/core/record.js';
import { IntakeLoop } from '../src/loops/intake.js';
import { runCommand } from '../src/pipeline/run-command.js';
import { telegramWorkspace } from './support/telegram-workspace.js';

process.env.ORCHESTRA_LOG = 'silent';
const ALLOWED = 111;
const SHA = 'c'.repeat(40);

test('telegram: Follow up button and a reply to the completed message start round 2; the plan message says the round', async (t) => {
  const { ws, tg } = await telegramWorkspace(t, 'orchestra-followup-tg-', ALLOWED);
  const intake = new IntakeLoop({ ws, actor: loopActor('intake'), log: createLogger() }, runCommand);

  const inbox = () => readdirSync(ws.paths.inbox).filter((n) => n !== 'rejected' && !n.startsWith('.'));
  const commands = () => inbox().map((n) => JSON.parse(readFileSync(join(ws.paths.inbox, n), 'utf8'))).filter((i) => 'command' in i).map(({ command, task, text }) => ({ command, task, text }));
  const say = async (text: string, o: { replyTo?: number } = {}) => tg.handled(tg.sendText(ALLOWED, text, o));
  const append = (id: string, events: StoredEvent[]) => ws.appendToTask(id, () => ({ actor: loopActor('test'), events }));
  const moved = (from: string, to: string): StoredEvent => ({ type: 'task.moved', data: { from, to } });

  await say('/task web Fix the button');
  await intake.scan();
  const [task] = await ws.tasks();
  const id = task!.id;
  const plan = (version: number): StoredEvent => ({ type: 'plan.proposed', data: { version, file: `records/plan-v${version}.md`, summary: `Plan ${version}`, steps: ['do it'] } });
  await append(id, [plan(1), moved('planning', 'planned')]);
  const planMessage = await tg.waitFor(() => tg.messages(ALLOWED).find((m) => m.text.includes('Plan v1')));
  await append(id, [{ type: 'plan.approved', data: { version: 1 } }, moved('planned', 'approved')]);
  await append(id, [{ type: 'exec.started', data: { worktree: '/tmp/wt', branch: `task/${id}`, base: 'main', baseCommit: 'a'.repeat(40), planVersion: 1 } }, moved('approved', 'executing')]);
  await append(id, [{ type: 'exec.finished', data: { summary: 'Fixed' } }, moved('executing', 'publishing')]);
  await append(id, [{ type: 'git.pushed', data: { remote: 'origin', branch: `task/${id}`, sha: SHA, link: 'https://git.example/web/tree/x' } }, moved('publishing', 'completed')]);
  const done = await tg.waitFor(() => tg.messages(ALLOWED).find((m) => m.text.includes('Completed') && m.reply_markup));
  assert.deepEqual(done.reply_markup.inline_keyboard[0].map((b: { text: string; callback_data: string }) => [b.text, b.callback_data]), [['Follow up', `followup:${id}`]]);
  assert.match(done.text, /Reply to this message \(or press Follow up\)/);

  // The old plan's Revise button does not start a round; the Follow up button asks, the answer is feedback.
  await tg.handled(tg.press(ALLOWED, planMessage.message_id, `revise:${id}:1`));
  assert.deepEqual(commands(), []);
  await tg.handled(tg.press(ALLOWED, done.message_id, `followup:${id}`));
  assert.match(tg.messages(ALLOWED).at(-1)!.text, /What should change next on task\/.* Send your feedback: round 2/);
  await say('Also handle the disabled state');
  assert.deepEqual(commands(), [{ command: 'feedback', task: id, text: 'Also handle the disabled state' }]);
  assert.match(tg.messages(ALLOWED).at(-1)!.text, /Follow-up sent .* round 2 will be planned on task\//);
  for (const n of inbox()) rmSync(join(ws.paths.inbox, n));

  // A reply to the completed message is feedback too; intake starts round 2.
  await say('Also handle the disabled state', { replyTo: done.message_id });
  assert.equal(commands().length, 1);
  await intake.scan();
  const view = await ws.task(id);
  assert.equal(view.state, 'planning');
  assert.equal(view.dev.round, 2);

  // Round 2's plan message says the round.
  await append(id, [plan(2), moved('planning', 'planned')]);
  const second = await tg.waitFor(() => tg.messages(ALLOWED).find((m) => m.text.includes('Plan v2')));
  assert.match(second.text, /round 2/);
  assert.ok(second.reply_markup.inline_keyboard[0].some((b: { text: string }) => b.text === 'Approve v2'));
});
