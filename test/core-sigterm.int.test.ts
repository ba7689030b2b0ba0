import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRecord, RECORD_FILE } from '../src/core/record.js';
import { cliOk, killIfRunning, runJson, spawnCli } from './support/cli-run.js';
import { eventsOf, gitOut, makeWorkspace, procsWith, waitFor, walk } from './support/core-workspace.js';

test('SIGTERM during work: leases released, nothing half-recorded', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  // A unique duration makes the trigger's process findable in /proc.
  const token = `30.${process.pid}${Math.floor(Math.random() * 1e5)}`;
  await cliOk(root, ['trigger', 'add', 'default', '--on', 'pending', '--id', 'slow', '--command', `sleep ${token}`]);
  const id = await cliOk(root, ['task', 'new', 'interrupted work']);
  const stream = `tasks/${id}`;

  const up = spawnCli(root, ['up', '--only', 'triggers']);
  t.after(() => killIfRunning(up));
  t.after(() => procsWith(token).forEach((pid) => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }));
  await waitFor('the trigger is firing', () => eventsOf(root, stream).some((e) => e.type === 'trigger.firing'), 15_000);
  await waitFor('the trigger command is running', () => procsWith(token).length > 0, 5_000);
  const held = await runJson(root, ['lock', 'status', id]);
  assert.equal(held.json.data.state, 'held', 'the trigger loop holds the lease while the command runs');
  assert.match(held.json.data.owner, /^triggers@/);
  assert.ok(existsSync(join(ws.paths.heartbeats, `${id}.json`)), 'the lease is being heartbeated');

  const sentAt = Date.now();
  up.child.kill('SIGTERM');
  const exit = await up.exited;
  const took = Date.now() - sentAt;
  assert.equal(exit.code, 0, `up exits 0 on SIGTERM (signal ${exit.signal}): ${exit.stderr}`);
  assert.ok(took < 8_000, `up stopped promptly, not after the 30 s command (${took} ms)`);
  await waitFor('the trigger command is gone', () => procsWith(token).length === 0, 3_000);

  // The lease was released in a record of its own attempt, and the heartbeat file is gone.
  const events = eventsOf(root, stream);
  const acquired = events.filter((e) => e.type === 'lease.acquired');
  assert.equal(acquired.length, 1);
  const attempt = acquired[0]!.data.attempt;
  const released = events.filter((e) => e.type === 'lease.released');
  assert.deepEqual(released.map((e) => e.data.attempt), [attempt], 'lease.released recorded for the attempt');
  assert.equal(events.at(-1)!.type, 'lease.released', 'nothing was written after the release');
  assert.ok(!existsSync(join(ws.paths.heartbeats, `${id}.json`)));
  const status = await runJson(root, ['lock', 'status', id]);
  assert.equal(status.json.data.state, 'free', 'the task is free for the next process right away');

  // Every trigger.firing has its trigger.fired: the interrupted run is recorded as a failed run.
  const firing = events.filter((e) => e.type === 'trigger.firing').map((e) => `${e.data.triggerId}@${e.data.stateSeq}`);
  const fired = events.filter((e) => e.type === 'trigger.fired');
  assert.deepEqual(fired.map((e) => `${e.data.triggerId}@${e.data.stateSeq}`), firing);
  assert.equal(fired[0]!.data.ok, false, 'the interrupted command is not reported as a success');
  for (const e of events.filter((e) => e.record.fence)) assert.equal(e.record.fence!.attempt, attempt);

  // Every record file on disk parses, no temp file is left, and all of it reached git.
  const files = ['tasks', 'workstreams', 'audit'].flatMap((d) => walk(join(root, d)).map((f) => `${d}/${f}`));
  assert.deepEqual(files.filter((f) => f.split('/').some((p) => p.startsWith('.tmp-'))), [], 'no temp files left');
  assert.ok(files.filter((f) => RECORD_FILE.test(f.split('/').at(-1)!)).length >= 5, 'the record files were found');
  for (const f of files) {
    const match = RECORD_FILE.exec(f.split('/').at(-1)!);
    if (!match) continue;
    const parsed = parseRecord(readFileSync(join(root, f), 'utf8'), Number(match[1]));
    assert.ok(parsed.ok, `${f} parses: ${parsed.ok ? '' : parsed.reason}`);
  }
  const verify = await runJson(root, ['verify']);
  assert.equal(verify.code, 0, verify.stdout);
  assert.equal(verify.json.data.ok, true);
  assert.deepEqual(verify.json.data.findings, [], 'no damage and no leftovers (everything committed on the way out)');
  assert.equal(gitOut(root, 'status', '--porcelain', '--', 'tasks'), '');
});
