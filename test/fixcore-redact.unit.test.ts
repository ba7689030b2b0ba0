import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactCredentials, redactUrlCredentials } from '../src/core/redact.js';
import { failureEvents } from '../src/pipeline/steps/step-outcome.js';
import { createLogger } from '../src/core/log.js';

test('URL user info goes, the rest of the URL and text stays', () => {
  assert.equal(redactUrlCredentials('git ls-remote https://x-access-token:ghp_abc123@github.com/o/r.git failed'), 'git ls-remote https://github.com/o/r.git failed');
  assert.equal(redactUrlCredentials("fatal: 'ssh://git@host/x' and http://u:p@h:1/ and plain a@b"), "fatal: 'ssh://host/x' and http://h:1/ and plain a@b");
  assert.equal(redactUrlCredentials('no url here'), 'no url here');
});

test('secret variables are masked in a failure reason and in both of its records', () => {
  const name = 'FIXCORE_TEST_TOKEN';
  process.env[name] = 'tok-VALUE-123456';
  try {
    const reason = `setup failed: curl -H "Authorization: tok-VALUE-123456" https://me:pw-123456@example.test/`;
    assert.equal(redactCredentials(reason), 'setup failed: curl -H "Authorization: [redacted]" https://example.test/');
    const events = failureEvents('executing', 'setup', reason);
    assert.equal(JSON.stringify(events).includes('tok-VALUE'), false);
    assert.equal(JSON.stringify(events).includes('pw-123456'), false);
    assert.equal(events[0]!.data.reason, events[1]!.data.reason);
  } finally {
    delete process.env[name];
  }
});

test('a log line holds no URL credentials or secret values, in text or JSON form', () => {
  const name = 'FIXCORE_LOG_SECRET';
  process.env[name] = 'log-secret-987654';
  const silenced = process.env.ORCHESTRA_LOG;
  delete process.env.ORCHESTRA_LOG;
  try {
    for (const format of ['text', 'json'] as const) {
      const lines: string[] = [];
      createLogger('t', (l) => lines.push(l), format).error('push failed https://u:hunter2hunter2@h/x', { why: 'log-secret-987654' });
      assert.equal(lines.length, 1);
      assert.doesNotMatch(lines[0]!, /hunter2|log-secret-987654/);
      assert.match(lines[0]!, /https:\/\/h\/x/);
    }
  } finally {
    delete process.env[name];
    if (silenced !== undefined) process.env.ORCHESTRA_LOG = silenced;
  }
});

test('hostile input: a huge line of near-URLs is redacted in bounded time', () => {
  const started = performance.now();
  for (const text of ['a'.repeat(1_000_000), 'a://'.repeat(200_000) + 'x@'.repeat(100_000), `https://${'u'.repeat(1_000_000)}`]) redactCredentials(text);
  assert.ok(performance.now() - started < 2000, `${performance.now() - started} ms`);
});

test('the configured limits hold for a task that names none (schema defaults do not replace them)', async () => {
  const { effectiveLimits } = await import('../src/pipeline/budget.js');
  const { LimitsSchema } = await import('../src/core/config.js');
  const global = LimitsSchema.parse({ maxCostUsd: 0.5, maxTurns: 7 });
  const task = (limits?: unknown) => ({ fields: limits === undefined ? {} : { limits } }) as never;
  for (const trusted of [true, false]) {
    assert.deepEqual([effectiveLimits(global, task(), { trusted }).maxCostUsd, effectiveLimits(global, task(), { trusted }).maxTurns], [0.5, 7]);
  }
  assert.equal(effectiveLimits(global, task({ maxTurns: 3 }), { trusted: true }).maxCostUsd, 0.5);
  assert.equal(effectiveLimits(global, task({ maxCostUsd: 2 }), { trusted: true }).maxCostUsd, 2);
  assert.equal(effectiveLimits(global, task({ maxCostUsd: 2 }), { trusted: false }).maxCostUsd, 0.5);
});
