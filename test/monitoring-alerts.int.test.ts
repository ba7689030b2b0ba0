import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killIfRunning, spawnCli, type Running } from './support/cli-run.js';
import { eventsOf, makeWorkspace, testActor, waitFor } from './support/core-workspace.js';
import { startFakeTelegram } from './support/fake-telegram.js';
import { createTask, moveTask } from '../src/core/ops/tasks.js';

const ADMIN = 111;
/** Allowed to use the bot, not an admin: told nothing about alerts. */
const USER = 222;
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
    const up = spawnCli(root, ['up', '--only', 'telegram'], { TELEGRAM_BOT_TOKEN: tg.token, TELEGRAM_API_ROOT: tg.url, TELEGRAM_ALLOWED_USERS: `${ADMIN},${USER}` });
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
  assert.deepEqual(tg.calls('sendMessage').filter((c) => Number(c.params.chat_id) !== ADMIN), [], 'only admins are told');
  up.child.kill('SIGTERM');
  assert.equal((await up.exited).code, 0);
});

test('every default rule fires from the records, once per incident, however many evaluators run', async (t) => {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { AlertEvaluator } = await import('../src/pipeline/monitoring/alerts.js');
  const { HealthMonitor } = await import('../src/pipeline/monitoring/health.js');
  const { presenceDir } = await import('../src/core/presence.js');
  const { createLogger } = await import('../src/core/log.js');
  const { seed } = await import('./support/monitoring-fixture.js');
  const ws = await makeWorkspace(t, {
    monitoring: {
      alerts: {
        failureRate: { minFailures: 1, ratio: 0.5 },
        stuckTask: { minutes: 0.0001 },
        spendRate: { usdPerHour: 0.5 },
        refusalBurst: { count: 1 },
      },
    },
  });
  const ids = await seed(ws);
  mkdirSync(presenceDir(ws.paths), { recursive: true });
  const old = new Date(Date.now() - 600_000).toISOString();
  writeFileSync(join(presenceDir(ws.paths), 'elsewhere-7.json'), JSON.stringify({ host: 'elsewhere', pid: 7, loops: ['executor'], startedAt: old, at: old, intervalMs: 5000 }));
  const evaluator = () => new AlertEvaluator(ws, new HealthMonitor(ws), testActor, createLogger('test', () => undefined));
  const [a, b] = [evaluator(), evaluator()];
  await Promise.all([a.evaluate(), b.evaluate(), a.evaluate()]);
  await Promise.all([a.evaluate(), b.evaluate()]);
  const fired = eventsOf(ws.paths.root, 'audit').filter((e) => e.type === 'alert.fired').map((e) => e.data.key).sort();
  assert.deepEqual(fired, [
    'failureRate:all',
    'heartbeatMissing:elsewhere-7',
    'refusalBurst:access',
    'refusalBurst:inbox',
    'refusalBurst:tool',
    'spendRate:all',
    `stuckTask:${ids.pending}`,
    `stuckTask:${ids.working}`,
  ].sort(), 'each incident once; the failed and completed tasks are not stuck');
  const messages = eventsOf(ws.paths.root, 'audit').filter((e) => e.type === 'alert.fired').map((e) => e.data.message);
  assert.ok(messages.some((m) => /1 of 2 tasks finished in the last 60 min failed \(50 %\)/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /model spend in the last hour is \$0\.7500/.test(m)));
  assert.ok(messages.some((m) => /2 inbox refusals in the last 10 min \(1 INVALID_INPUT, 1 RATE_LIMITED\)|2 inbox refusals in the last 10 min \(1 RATE_LIMITED, 1 INVALID_INPUT\)/.test(m)));
});
