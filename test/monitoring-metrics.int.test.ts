import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killIfRunning, spawnCli, type Running } from './support/cli-run.js';
import { makeWorkspace, testActor, waitFor } from './support/core-workspace.js';
import { EXPECTED, seed } from './support/monitoring-fixture.js';
import { parsePrometheusText, valueOf, type Exposition } from './support/prom-text.js';
import { devEvent } from '../src/pipeline/dev-events.js';

/** Starts `orchestra up` with the metrics endpoint on a free port; resolves with its address from the log. */
async function upWithMetrics(t: { after: (fn: () => void) => void }, root: string): Promise<{ up: Running; url: string }> {
  const up = spawnCli(root, ['up', '--only', 'intake'], { ORCHESTRA_LOG: 'info' });
  t.after(() => killIfRunning(up));
  const url = await waitFor('the metrics endpoint address in the log', () => /metrics endpoint ready url=(http:\/\/\S+\/metrics)/.exec(up.output())?.[1], 20_000);
  return { up, url };
}

async function scrape(url: string): Promise<Exposition> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

test('/metrics serves the workspace picture, counts what is appended while up runs, and resets its counters at a restart', async (t) => {
  const ws = await makeWorkspace(t, { monitoring: { metricsPort: 0, evaluateIntervalMs: 200 } });
  let { up, url } = await upWithMetrics(t, ws.paths.root);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'loopback only by default');
  const ids = await seed(ws);

  // up learns of the other process's records through the signal feed.
  const m = await waitFor('the seeded records counted', async () => {
    const e = await scrape(url);
    // The last of the seeded records of each stream: the tool refusal (task) and the secret read (audit).
    const done = [['orchestra_secret_reads_total', 1], ['orchestra_refusals_total', 1], ['orchestra_step_duration_seconds_count', 2]].every(([name, value]) => e.samples.some((s) => s.name === name && s.value === value))
      && e.samples.some((s) => s.name === 'orchestra_refusals_total' && s.labels.reason === 'TOOL_REFUSED');
    return done ? e : undefined;
  });
  assert.equal(m.types.get('orchestra_tasks'), 'gauge');
  assert.equal(m.types.get('orchestra_step_duration_seconds'), 'histogram');
  assert.equal(m.types.get('orchestra_model_tokens_total'), 'counter');
  for (const state of ['pending', 'in_progress', 'failed']) assert.equal(valueOf(m, 'orchestra_tasks', { workstream: 'default', state }), 1, state);
  assert.equal(m.samples.filter((s) => s.name === 'orchestra_tasks' && s.labels.state === 'completed').length, 0, 'a completed task is settled, not queued');
  assert.equal(valueOf(m, 'orchestra_tasks_settled'), 1);
  for (const u of EXPECTED.usage) {
    assert.equal(valueOf(m, 'orchestra_model_tokens_total', { provider: u.provider, model: u.model, direction: 'input' }), u.inputTokens);
    assert.equal(valueOf(m, 'orchestra_model_tokens_total', { provider: u.provider, model: u.model, direction: 'output' }), u.outputTokens);
    assert.equal(valueOf(m, 'orchestra_model_usd_total', { provider: u.provider, model: u.model }), u.costUsd);
  }
  for (const [result, n] of Object.entries(EXPECTED.testRuns)) assert.equal(valueOf(m, 'orchestra_test_runs_total', { result }), n);
  for (const [reason, n] of Object.entries(EXPECTED.refusals)) assert.equal(valueOf(m, 'orchestra_refusals_total', { reason }), n, reason);
  assert.equal(valueOf(m, 'orchestra_lease_takeovers_total'), EXPECTED.takeovers);
  // Two steps finished (released); the lease that expired is a takeover, not a finished step.
  assert.equal(valueOf(m, 'orchestra_step_duration_seconds_count', { step: 'worker' }), 2);
  assert.equal(valueOf(m, 'orchestra_step_duration_seconds_bucket', { step: 'worker', le: '+Inf' }), 2);
  assert.ok(Math.abs(valueOf(m, 'orchestra_spend_today_usd') - EXPECTED.spendUsd) < 1e-9);
  assert.ok(valueOf(m, 'orchestra_commit_lag_seconds') >= 0, 'up holds the committer lock: the lag is a number');
  assert.ok(valueOf(m, 'orchestra_up_heartbeat_age_seconds', { pid: String(up.child.pid) }) >= 0, 'the running up heartbeats');

  // A further record reaches the next scrape, counted once.
  await ws.appendToTask(ids.working, () => ({ actor: testActor, events: [devEvent('model.called', { role: 'executor', provider: 'gemini', model: 'gemini-y', inputTokens: 5, outputTokens: 1, costUsd: 0.01 })] }));
  await waitFor('the new call counted', async () => valueOf(await scrape(url), 'orchestra_model_tokens_total', { provider: 'gemini', model: 'gemini-y', direction: 'input' }) === 1005);

  // Only GET /metrics is served.
  assert.equal((await fetch(url, { method: 'POST', body: 'x' })).status, 405);
  assert.equal((await fetch(url.replace(/\/metrics$/, '/admin'))).status, 404);
  assert.equal((await fetch(`${url}?x=${'a'.repeat(5000)}`)).status, 200, 'parameters are ignored');

  // A restart resets the counters (nothing counted twice); gauges come back from the records.
  up.child.kill('SIGTERM');
  assert.equal((await up.exited).code, 0);
  ({ up, url } = await upWithMetrics(t, ws.paths.root));
  const again = await scrape(url);
  assert.equal(again.samples.filter((s) => s.name === 'orchestra_model_tokens_total').length, 0, 'no call since the restart');
  assert.equal(valueOf(again, 'orchestra_lease_takeovers_total'), 0);
  assert.ok(Math.abs(valueOf(again, 'orchestra_spend_today_usd') - EXPECTED.spendUsd - 0.01) < 1e-9, "today's spend is read back from the recent records");
  assert.equal(valueOf(again, 'orchestra_tasks', { workstream: 'default', state: 'pending' }), 1);
  await ws.appendToTask(ids.working, () => ({ actor: testActor, events: [devEvent('model.called', { role: 'executor', provider: 'gemini', model: 'gemini-y', inputTokens: 7, outputTokens: 1, costUsd: 0.01 })] }));
  await waitFor('the call after the restart counted alone', async () => {
    const e = await scrape(url);
    return e.samples.some((s) => s.name === 'orchestra_model_tokens_total') && valueOf(e, 'orchestra_model_tokens_total', { provider: 'gemini', model: 'gemini-y', direction: 'input' }) === 7;
  });
});
