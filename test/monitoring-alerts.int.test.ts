import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killIfRunning, spawnCli, type Running } from './support/cli-run.js';
import { eventsOf, makeWorkspace, testActor, waitFor } from './support/core-workspace.js';
import { startFakeTelegram } from './support/fake-telegram.js';
import { createTask, moveTask } from '../src/core/ops/tasks.js';

const ADMIN = 111;
const TITLE = 'stuck <b>&amp; "quoted"</b> <script>x</script>';

test('a stuck task raises one alert and, once it moves, one resolution on Telegram; a restart does not re-fire', async (t) => {
  const tg = await startFakeTelegram({ maxPollMs: 300 });
  t.after(() => tg.close());
  const ws = await makeWorkspace(t, {
    monitoring: {
      evaluateIntervalMs: 100,
      telegramAdmins: [ADMIN],
      // 1.2 s in a state counts as stuck here; the other rules stay quiet.
      alerts: { stuckTask: { minutes: 0.02 }, failureRate: { enabled: false }, spendRate: { enabled: false }, refusalBurst: { enabled: false } },
    },
  });
  const root = ws.paths.root;
  const start = (): Running => {
    const up = spawnCli(root, ['up', '--only', 'telegram'], { TELEGRAM_BOT_TOKEN: tg.token, TELEGRAM_API_ROOT: tg.url, TELEGRAM_ALLOWED_USERS: String(ADMIN) });
    t.after(() => killIfRunning(up));
    return up;
  };
  const toAdmin = () => tg.calls('sendMessage').filter((c) => Number(c.params.chat_id) === ADMIN).map((c) => ({ text: String(c.params.text), mode: c.params.parse_mode }));
  const about = (id: string, kind: 'Alert' | 'Resolved') => toAdmin().filter((m) => m.text.includes(id) && m.text.includes(`<b>${kind}</b>`));
  const audit = (id: string, type: string) => eventsOf(root, 'audit').filter((e) => e.type === type && e.data.subject === id);
  const stuck = async (title: string) => (await createTask(ws, { title, workstream: 'default' }, { actor: testActor })).id;

  let up = start();
  const first = await stuck(TITLE);
  const alert = (await waitFor('the alert for the stuck task', () => about(first, 'Alert')[0], 20_000));
  assert.equal(alert.mode, 'HTML');
  assert.ok(alert.text.includes('&lt;b&gt;&amp;amp; &quot;quoted&quot;&lt;/b&gt; &lt;script&gt;'), `the title is escaped: ${alert.text}`);
  assert.match(alert.text, /has been pending for/);
  assert.equal(audit(first, 'alert.fired').length, 1, 'one alert.fired record');

  // Restart while the incident is open: the new up neither fires it again nor messages again.
  up.child.kill('SIGTERM');
  assert.equal((await up.exited).code, 0);
  up = start();
  const second = await stuck('another one');
  await waitFor('the second task alerted after the restart', () => about(second, 'Alert').length > 0, 20_000);
  assert.equal(audit(first, 'alert.fired').length, 1, 'the open incident was not fired again');
  assert.equal(about(first, 'Alert').length, 1, 'nor told again');

  // It moves on: one resolution, with its own message.
  await moveTask(ws, first, 'in_progress', { actor: testActor });
  await moveTask(ws, first, 'completed', { actor: testActor });
  await waitFor('the resolution message', () => about(first, 'Resolved').length > 0, 20_000);
  assert.match(about(first, 'Resolved')[0]!.text, /resolved after/);

  // Later evaluations (until the second task's resolution) add nothing about the first.
  await moveTask(ws, second, 'in_progress', { actor: testActor });
  await moveTask(ws, second, 'completed', { actor: testActor });
  await waitFor('the second resolution', () => about(second, 'Resolved').length > 0, 20_000);
  for (const id of [first, second]) {
    assert.equal(about(id, 'Alert').length, 1, `one alert message for ${id}`);
    assert.equal(about(id, 'Resolved').length, 1, `one resolution message for ${id}`);
    assert.equal(audit(id, 'alert.fired').length, 1);
    assert.equal(audit(id, 'alert.resolved').length, 1);
  }
  up.child.kill('SIGTERM');
  assert.equal((await up.exited).code, 0);
});
