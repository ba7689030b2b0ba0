import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { killIfRunning, runCli, runJson, spawnCli } from './support/cli-run.js';
import { makeWorkspace, waitFor } from './support/core-workspace.js';
import { EXPECTED, HOSTILE, seed } from './support/monitoring-fixture.js';
import { presenceDir, runningUps } from '../src/core/presence.js';

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

test('orchestra status: loops by heartbeat, queue depth, oldest waiting task, last hour, spend today (text and --json)', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const ids = await seed(ws);
  const dir = presenceDir(ws.paths);
  mkdirSync(dir, { recursive: true });
  const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
  // Another machine's up that stopped heartbeating an hour ago, and a dead up of this host.
  writeFileSync(join(dir, 'far-away-4242.json'), JSON.stringify({ host: 'far-away', pid: 4242, loops: ['planner'], startedAt: hourAgo, at: hourAgo, intervalMs: 5000 }));
  let deadPid = 4_000_000;
  while (pidAlive(deadPid)) deadPid++;
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || 'host';
  const dead = join(dir, `${host}-${deadPid}.json`);
  writeFileSync(dead, JSON.stringify({ host, pid: deadPid, loops: ['intake'], startedAt: hourAgo, at: hourAgo, intervalMs: 5000 }));
  // Hostile presence files: garbage, a huge one, a link to a file elsewhere: ignored.
  writeFileSync(join(dir, 'garbage.json'), '{"host": [1,2');
  writeFileSync(join(dir, 'huge.json'), JSON.stringify({ host: 'x', pid: 1, loops: [], at: new Date().toISOString(), pad: 'x'.repeat(100_000) }));
  symlinkSync('/etc/hostname', join(dir, 'link.json'));

  const up = spawnCli(root, ['up', '--only', 'intake']);
  t.after(() => killIfRunning(up));
  await waitFor('the up heartbeats', async () => (await runningUps(ws.paths)).some((p) => p.pid === up.child.pid));
  assert.ok(!existsSync(dead), 'a new up clears the presence file of a dead up of its host');

  // up's alert evaluator notices the far-away up that stopped heartbeating; status shows the incident.
  const s = await waitFor('the heartbeat alert in status', async () => {
    const { json, code } = await runJson(root, ['status']);
    assert.equal(code, 0);
    return json.data.alerts.length > 0 && json.data;
  });
  assert.deepEqual(s.alerts.map((a: any) => a.key), ['heartbeatMissing:far-away-4242']);
  const mine = s.ups.find((u: any) => u.pid === up.child.pid);
  assert.deepEqual([mine.alive, mine.loops], [true, ['intake']]);
  const far = s.ups.find((u: any) => u.host === 'far-away');
  assert.equal(far.alive, false, 'a presence file not touched for an hour is a loop that stopped heartbeating');
  assert.ok(far.ageSeconds >= 3590);
  assert.equal(s.ups.length, 2, 'unreadable presence files are ignored');
  const depth = Object.fromEntries(s.queue.map((q: any) => [`${q.workstream}/${q.state}`, q.count]));
  assert.deepEqual(depth, { 'default/pending': 1, 'default/in_progress': 1, 'default/failed': 1 }, 'open tasks by state');
  assert.deepEqual(s.tasks, { total: 4, open: 3, settled: 1 });
  assert.equal(s.oldestWaiting.id, ids.pending, 'the oldest task waiting for the system (failed waits for a person)');
  assert.equal(s.oldestWaiting.title, HOSTILE);
  assert.deepEqual([s.lastHour.failures, s.lastHour.completions, s.lastHour.refusals], [1, 1, 4]);
  assert.deepEqual(s.lastHour.refusalsByReason, EXPECTED.refusals);
  assert.ok(Math.abs(s.spend.todayUsd - EXPECTED.spendUsd) < 1e-9);
  assert.equal(s.spend.day, new Date().toISOString().slice(0, 10));
  assert.equal(s.sinceStart, undefined, 'a one-shot reader has no counters of its own');

  const text = await runCli(root, ['status']);
  assert.equal(text.code, 0);
  assert.match(text.stdout, new RegExp(`orchestra up: 1 running\\n  \\S+ pid ${up.child.pid}: intake`));
  assert.match(text.stdout, /STOPPED HEARTBEATING far-away pid 4242: planner \(last heartbeat 60 min ago\)/);
  assert.match(text.stdout, /tasks: 4 \(3 open, 1 settled\)\n  default\/failed: 1\n  default\/in_progress: 1\n  default\/pending: 1\n/);
  assert.match(text.stdout, /last hour: 1 failed, 1 completed, 4 refusals \(/);
  assert.match(text.stdout, /RATE_LIMITED/);
  assert.match(text.stdout, /spend today \(UTC\): \$0\.7500; last hour \$0\.7500/);
  assert.ok(text.stdout.includes(ids.pending));
  assert.match(text.stdout, /alerts: 1 open\n  \[heartbeatMissing\] orchestra up on far-away \(pid 4242, loops planner\) stopped heartbeating/);

  up.child.kill('SIGTERM');
  assert.equal((await up.exited).code, 0);
  const after = (await runJson(root, ['status'])).json.data;
  assert.deepEqual(after.ups.map((u: any) => [u.host, u.alive]), [['far-away', false]], 'a stopped up removes its presence file');
  assert.equal((await runJson(root, ['status', '--since', 'x'])).json.code, 'INVALID_INPUT');
});
