import { after, before, describe, it } from 'node:test';
import { readKey, sealMatches } from '../src/core/inbox-seal.js';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTelegram, type TelegramLoop } from '../src/adapters/telegram/index.js';
import { initWorkspace } from '../src/app/setup.js';
import { loopActor } from '../src/core/actor.js';
import { createLogger } from '../src/core/log.js';
import type { StoredEvent } from '../src/core/record.js';
import { Workspace } from '../src/core/workspace.js';
import { IntakeLoop } from '../src/loops/intake.js';
import { runCommand } from '../src/pipeline/run-command.js';
import { startFakeTelegram, type FakeTelegram } from './support/fake-telegram.js';

process.env.ORCHESTRA_LOG = 'silent';
const ALLOWED = 111;
const STRANGER = 222;
const ME = { kind: 'adapter', name: 'telegram', user: String(ALLOWED) };
const NASTY = 'Fix _*[]()~`>#+-=|{}.!<& "q" now';

describe('telegram bot against a fake Bot API', () => {
  let dir: string;
  let ws: Workspace;
  let tg: FakeTelegram;
  let bot: TelegramLoop;
  let intake: IntakeLoop;
  let taskId: string;
  /** Git repositories for the configured names `web` and `api`, and one known only by its path. */
  let repos: { web: string; api: string; bare: string };
  const start = () => runTelegram(ws, { token: tg.token, apiRoot: tg.url, allowedUsers: [ALLOWED], env: {}, pollTimeoutSeconds: 1 });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'orchestra-telegram-'));
    await initWorkspace(dir);
    const config = JSON.parse(readFileSync(join(dir, 'orchestra.json'), 'utf8'));
    Object.assign(config.loops, { scanIntervalMs: 200, settleMs: 0 });
    repos = { web: join(dir, 'git', 'web'), api: join(dir, 'git', 'api'), bare: join(dir, 'git', 'by-path') };
    for (const path of Object.values(repos)) {
      mkdirSync(path, { recursive: true });
      execFileSync('git', ['init', '-q', path]);
    }
    writeFileSync(join(dir, 'orchestra.json'), JSON.stringify({ ...config, fsync: false, repos: { web: repos.web, api: repos.api } }));
    ws = await Workspace.open(dir);
    tg = await startFakeTelegram({ maxPollMs: 300 });
    bot = await start();
    intake = new IntakeLoop({ ws, actor: loopActor('intake'), log: createLogger() }, runCommand);
  });
  after(async () => {
    await bot.stop();
    await tg.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  });

  const inbox = () => readdirSync(ws.paths.inbox).filter((n) => n !== 'rejected' && !n.startsWith('.'));
  /** Reads and removes the inbox files (commands are checked, not carried out). */
  const takeInbox = () => inbox().map((name) => {
    const { seal, ...item } = JSON.parse(readFileSync(join(ws.paths.inbox, name), 'utf8'));
    assert.ok(sealMatches(readKey(ws.paths), item, seal), 'the adapter seals what it writes, so intake believes its actor');
    rmSync(join(ws.paths.inbox, name));
    // A command carries a fresh nonce (its idempotency key); the rest is compared as written.
    if ('command' in item) {
      assert.match(String(item.nonce), /^[0-9A-HJKMNP-TV-Z]{26}$/, 'a sealed command carries a nonce');
      delete item.nonce;
    }
    return item;
  });
  const say = async (text: string, from = ALLOWED, o: { replyTo?: number } = {}) => tg.handled(tg.sendText(from, text, o));
  const lastText = (chat = ALLOWED) => tg.messages(chat).at(-1)!.text;
  const append = (id: string, events: StoredEvent[]) => ws.appendToTask(id, () => ({ actor: loopActor('test'), events }));
  const moved = (from: string, to: string): StoredEvent => ({ type: 'task.moved', data: { from, to } });
  const withButton = (label: string, id: string) => () =>
    tg.messages(ALLOWED).find((m) => m.reply_markup?.inline_keyboard?.[0]?.some((b: any) => b.text === label && b.callback_data.includes(id)));
  async function propose(id: string, version: number, steps: string[], summary = 'Make the button work') {
    const md = `# Plan v${version}\n\n${summary}\n\n${steps.map((s, i) => `${i + 1}. ${s}`).join('\n')}\n`;
    const file = await ws.writeTaskFile(id, `plan-v${version}.md`, md);
    const plan = { version, file, summary, steps, criteria: ['the button submits'], risks: ['CSS <regressions> & more'] };
    await append(id, [{ type: 'plan.proposed', data: plan }, moved('planning', 'planned')]);
    return md;
  }
  async function createViaBot(args: string): Promise<string> {
    await say(`/task ${args}`);
    const [name] = inbox();
    const id = JSON.parse(readFileSync(join(ws.paths.inbox, name!), 'utf8')).id as string;
    await intake.scan();
    return id;
  }

  it('turns /task from an allowed user into one inbox file and a dev task', async () => {
    await say('/task web Fix x\nThe submit button does nothing.');
    const files = inbox();
    assert.equal(files.length, 1);
    const item = JSON.parse(readFileSync(join(ws.paths.inbox, files[0]!), 'utf8'));
    assert.equal(item.workstream, 'dev');
    assert.equal(item.title, 'Fix x');
    assert.equal(item.body, 'Fix x\nThe submit button does nothing.');
    assert.deepEqual(item.fields, { repo: 'web' });
    assert.deepEqual(item.actor, ME);
    assert.ok(lastText().includes(item.id), 'the reply names the new task');
    await intake.scan();
    assert.equal(inbox().length, 0);
    const task = await ws.task(item.id);
    assert.equal(task.fields.repo, 'web');
    assert.equal(task.createdBy, 'adapter:telegram:111');
    assert.equal(task.state, 'planning');
    taskId = item.id;
    await say('/list');
    assert.ok(lastText().includes(taskId) && lastText().includes('Fix x'));
  });

  it('gives a stranger no effect and no data, and audits the refusal', async () => {
    await say('/task web Evil plan', STRANGER);
    await say('/list', STRANGER);
    assert.equal(inbox().length, 0);
    const replies = tg.messages(STRANGER);
    assert.ok(replies.length >= 1 && replies.length <= 2);
    for (const r of replies) {
      assert.match(r.text, /^Not authorised/);
      assert.ok(!r.text.includes(taskId) && !r.text.includes('Fix x'));
    }
    const events = (await ws.readStream('audit')).records.flatMap((r) => r.events.map((e) => ({ ...e, user: r.actor.user })));
    const refused = events.filter((e) => e.type === 'access.refused');
    assert.equal(refused.length, 2);
    assert.deepEqual(refused.map((e) => [e.user, e.data.command]), [['222', '/task'], ['222', '/list']]);
  });

  it('sends a plan with buttons; Approve and a reply become inbox commands', async () => {
    await propose(taskId, 1, ['Edit the button handler', 'Add a test']);
    const plan = await tg.waitFor(withButton('Approve v1', taskId));
    assert.match(plan.text, /Plan v1[\s\S]*Make the button work[\s\S]*1\. Edit the button handler\n2\. Add a test[\s\S]*CSS <regressions> & more/);
    const press = tg.press(ALLOWED, plan.message_id, `approve:${taskId}:1`);
    await tg.handled(press);
    assert.deepEqual(takeInbox(), [{ command: 'approve', task: taskId, version: 1, actor: ME }]);
    assert.ok(tg.calls('answerCallbackQuery').some((c) => c.params.callback_query_id === `cb${press}`));
    await say('Keep the old colour.', ALLOWED, { replyTo: plan.message_id });
    assert.deepEqual(takeInbox(), [{ command: 'feedback', task: taskId, text: 'Keep the old colour.', actor: ME }]);
  });

  it('reports execution in one message edited in place, then completion with the link', async () => {
    await append(taskId, [{ type: 'plan.approved', data: { version: 1 } }, moved('planned', 'approved')]);
    await append(taskId, [
      { type: 'exec.started', data: { worktree: '/tmp/wt', branch: 'orchestra/fix-x', base: 'main', baseCommit: 'abc', planVersion: 1 } },
      moved('approved', 'executing'),
    ]);
    const progress = await tg.waitFor(() => tg.messages(ALLOWED).find((m) => m.text.includes('Executing')));
    const sends = tg.calls('sendMessage').length;
    const run = (n: number, passed: boolean): StoredEvent => ({ type: 'tests.ran', data: { run: n, passed, exitCode: passed ? 0 : 1, durationMs: 5, file: 'x' } });
    await append(taskId, [run(1, false)]);
    await tg.waitFor(() => tg.message(ALLOWED, progress.message_id)!.text.includes('test run 1 failed, fixing...'));
    await append(taskId, [run(2, false)]);
    await tg.waitFor(() => tg.message(ALLOWED, progress.message_id)!.text.includes('test run 2 failed, fixing...'));
    assert.equal(tg.calls('sendMessage').length, sends, 'progress is edited, not sent again');
    assert.ok(tg.calls('editMessageText').length >= 2);

    const diffStat = ' src/button.ts | 3 ++-\n 1 file changed, 2 insertions(+), 1 deletion(-)';
    await append(taskId, [run(3, true), { type: 'exec.finished', data: { summary: 'Fixed the handler', diffStat } }, moved('executing', 'publishing')]);
    const link = 'https://git.example/web/tree/orchestra/fix-x';
    await append(taskId, [{ type: 'git.pushed', data: { remote: 'origin', branch: 'orchestra/fix-x', sha: 'abc', link } }, moved('publishing', 'completed')]);
    const done = await tg.waitFor(() => tg.messages(ALLOWED).find((m) => m.message_id !== progress.message_id && m.text.includes('Completed')));
    assert.ok(done.html!.includes(`<a href="${link}">`));
    assert.ok(done.text.includes('1 file changed, 2 insertions(+), 1 deletion(-)'));
    // the progress message's last edit shows how the run ended, not "Executing"
    const last = tg.message(ALLOWED, progress.message_id)!.text;
    assert.match(last, /^✅ Completed Fix x[\s\S]*test run 3 passed[\s\S]*finished: completed/);
    assert.ok(!last.includes('Executing'), last);
    assert.equal(tg.messages(ALLOWED).filter((m) => m.text.includes('Executing')).length, 0);
    assert.equal(tg.calls('sendMessage').length, sends + 1, 'one progress message, then the completion');
  });

  it('does not repeat itself after a restart', async () => {
    const sends = tg.calls('sendMessage').length;
    await bot.stop();
    bot = await start();
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(tg.calls('sendMessage').length, sends);
    assert.equal(await bot.idle(), true);
  });

  it('keeps special characters intact and splits or attaches long plans', async () => {
    const id = await createViaBot(`web ${NASTY}\nDetails <b>not bold</b>`);
    assert.ok(tg.messages(ALLOWED).at(-1)!.text.includes(NASTY));
    await say(`/status ${id.slice(0, 13)}`);
    assert.ok(lastText().includes(NASTY) && lastText().includes('Details <b>not bold</b>'));
    await say(`/status ${id.slice(0, 6)}`);
    assert.match(lastText(), /2 tasks start with/);

    const steps = Array.from({ length: 60 }, (_, i) => `step ${i + 1}: ${NASTY} `.padEnd(90, 'x'));
    const seen = tg.messages(ALLOWED).length;
    await propose(id, 1, steps, NASTY);
    await tg.waitFor(withButton('Approve v1', id));
    const parts = tg.messages(ALLOWED).slice(seen);
    assert.equal(parts.length, 2);
    assert.ok(!parts[0]!.reply_markup && parts[1]!.reply_markup);
    const shown = parts.map((p) => p.text).join('\n');
    for (const s of [steps[0]!, steps[59]!, `Summary\n${NASTY}`]) assert.ok(shown.includes(s.trim()), s);

    await append(id, [{ type: 'plan.feedback', data: { onVersion: 1, text: 'more' } }, moved('planned', 'planning')]);
    const md = await propose(id, 2, Array.from({ length: 400 }, (_, i) => `long step ${i} `.padEnd(100, '-')));
    const doc = await tg.waitFor(() => tg.calls('sendDocument').at(-1));
    assert.equal(doc.params.document.filename, `plan-v2-${id}.md`);
    assert.equal(doc.params.document.content, md);
    const approveV2 = await tg.waitFor(withButton('Approve v2', id));

    // Revise asks for the feedback; the answer becomes a feedback command.
    await tg.handled(tg.press(ALLOWED, approveV2.message_id, `revise:${id}:2`));
    assert.match(lastText(), /What should change in plan v2/);
    await say('Fewer steps, please.');
    assert.deepEqual(takeInbox(), [{ command: 'feedback', task: id, text: 'Fewer steps, please.', actor: ME }]);
    // A command the intake refuses (the task moved on meanwhile) is reported back.
    await say(`/feedback ${id} Also rename it.`);
    await append(id, [{ type: 'plan.approved', data: { version: 2 } }, moved('planned', 'approved')]);
    await intake.scan();
    await tg.waitFor(() => /was not accepted: feedback applies to a planned or completed task/.test(lastText()));
  });

  it('asks for repo and text when /task comes alone', async () => {
    await say('/task');
    assert.equal(lastText(), 'Which repo?');
    await say('api');
    assert.match(lastText(), /What should be done in api\?/);
    await say('Add rate limiting\nper user');
    const [item] = takeInbox();
    assert.deepEqual([item.title, item.body, item.fields, item.actor], ['Add rate limiting', 'Add rate limiting\nper user', { repo: 'api' }, ME]);
  });

  it('guided /task: a path is the answer to "Which repo?"; unknown repos are said and asked again', async () => {
    await say('/task');
    assert.match(lastText(), /^Which repo\?/);
    // clients mark "/home/..." as a bot command: it is the answer, checked, not an unknown command
    await say('/nowhere/at/all');
    assert.match(lastText(), /^Unknown repo \/nowhere\/at\/all: Repository path does not exist: \/nowhere\/at\/all; known repositories: web, api\n\nWhich repo\?/);
    // the next free text is not taken as the repo unchecked
    await say('Add a health check');
    assert.match(lastText(), /^Unknown repo Add: Unknown repository 'Add': not a configured name \(known: web, api\)/);
    assert.match(lastText(), /Which repo\?$/);
    // a bare unknown command is still one, and the question stays open
    await say('/frobnicate');
    assert.equal(lastText(), 'Unknown command. See /help');
    await say(repos.bare);
    assert.equal(lastText(), `What should be done in ${repos.bare}?`);
    await say('Add a /health endpoint. It returns 200 and the version.\nAlso document it.');
    const [item] = takeInbox();
    assert.deepEqual([item.title, item.body, item.fields], ['Add a /health endpoint', 'Add a /health endpoint. It returns 200 and the version.\nAlso document it.', { repo: repos.bare }]);
    assert.match(lastText(), /Task submitted: Add a \/health endpoint/);
  });

  it('/task with an unknown repo keeps the text and asks for the repo; the title is short, the description whole', async () => {
    const long = `Make the export faster. ${'It takes minutes on large workspaces and should take seconds. '.repeat(3)}`.trim();
    await say(`/task nosuch ${long}`);
    assert.equal(inbox().length, 0);
    assert.match(lastText(), /^Unknown repo nosuch: Unknown repository 'nosuch'[\s\S]*Which repo\?/);
    await say('api');
    const [item] = takeInbox();
    assert.deepEqual([item.title, item.body, item.fields], ['Make the export faster', long, { repo: 'api' }]);

    const oneLine = `Rename ${'every_old_function_name_in_the_module '.repeat(4)}to the new style`;
    await say(`/task web ${oneLine}`);
    const [second] = takeInbox();
    assert.ok(second.title.length <= 80 && second.title.endsWith('…'), second.title);
    assert.ok(oneLine.startsWith(second.title.slice(0, -1)));
    assert.equal(second.body, oneLine);
  });
});
