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

test('/metrics serves the workspace picture, follows new records, and keeps its totals across a restart', async (t) => {
  const ws = await makeWorkspace(t, { monitoring: { metricsPort: 0, evaluateIntervalMs: 200 } });
  const ids = await seed(ws);
  let { up, url } = await upWithMetrics(t, ws.paths.root);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'loopback only by default');

  const m = await scrape(url);
  assert.equal(m.types.get('orchestra_tasks'), 'gauge');
  assert.equal(m.types.get('orchestra_step_duration_seconds'), 'histogram');
  assert.equal(m.types.get('orchestra_model_tokens_total'), 'counter');
  for (const state of ['pending', 'in_progress', 'completed', 'failed']) assert.equal(valueOf(m, 'orchestra_tasks', { workstream: 'default', state }), 1, state);
  for (const u of EXPECTED.usage) {
    assert.equal(valueOf(m, 'orchestra_model_tokens_total', { provider: u.provider, model: u.model, direction: 'input' }), u.inputTokens);
    assert.equal(valueOf(m, 'orchestra_model_tokens_total', { provider: u.provider, model: u.model, direction: 'output' }), u.outputTokens);
    assert.equal(valueOf(m, 'orchestra_model_usd_total', { provider: u.provider, model: u.model }), u.costUsd);
  }
  for (const [result, n] of Object.entries(EXPECTED.testRuns)) assert.equal(valueOf(m, 'orchestra_test_runs_total', { result }), n);
  for (const [reason, n] of Object.entries(EXPECTED.refusals)) assert.equal(valueOf(m, 'orchestra_refusals_total', { reason }), n, reason);
  assert.equal(valueOf(m, 'orchestra_lease_takeovers_total'), EXPECTED.takeovers);
  assert.equal(valueOf(m, 'orchestra_secret_reads_total'), 1);
  // Two steps finished (released); the lease that expired is a takeover, not a finished step.
  assert.equal(valueOf(m, 'orchestra_step_duration_seconds_count', { step: 'worker' }), 2);
  assert.equal(valueOf(m, 'orchestra_step_duration_seconds_bucket', { step: 'worker', le: '+Inf' }), 2);
  assert.ok(Math.abs(valueOf(m, 'orchestra_spend_today_usd') - EXPECTED.spendUsd) < 1e-9);
  assert.ok(valueOf(m, 'orchestra_commit_lag_seconds') >= 0, 'up holds the committer lock: the lag is a number');
  assert.ok(valueOf(m, 'orchestra_up_heartbeat_age_seconds', { pid: String(up.child.pid) }) >= 0, 'the running up heartbeats');

  // A record written while up runs reaches the next scrape through the signal feed.
  await ws.appendToTask(ids.working, () => ({ actor: testActor, events: [devEvent('model.called', { role: 'executor', provider: 'gemini', model: 'gemini-y', inputTokens: 5, outputTokens: 1, costUsd: 0.01 })] }));
  await waitFor('the new call counted', async () => valueOf(await scrape(url), 'orchestra_model_tokens_total', { provider: 'gemini', model: 'gemini-y', direction: 'input' }) === 1005);

  // Only GET /metrics is served.
  assert.equal((await fetch(url, { method: 'POST', body: 'x' })).status, 405);
  assert.equal((await fetch(url.replace(/\/metrics$/, '/admin'))).status, 404);
  assert.equal((await fetch(`${url}/../../etc/passwd`)).status, 404);

  // A restart derives the same totals from the records: nothing counted twice, nothing reset.
  up.child.kill('SIGTERM');
  assert.equal((await up.exited).code, 0);
  ({ up, url } = await upWithMetrics(t, ws.paths.root));
  const again = await scrape(url);
  assert.equal(valueOf(again, 'orchestra_model_tokens_total', { provider: 'gemini', model: 'gemini-y', direction: 'input' }), 1005);
  assert.equal(valueOf(again, 'orchestra_lease_takeovers_total'), EXPECTED.takeovers);
  assert.equal(valueOf(again, 'orchestra_step_duration_seconds_count', { step: 'worker' }), 2);
  for (const [reason, n] of Object.entries(EXPECTED.refusals)) assert.equal(valueOf(again, 'orchestra_refusals_total', { reason }), n, reason);
});
