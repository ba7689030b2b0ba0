/** Rate-limit config resolution, actor keys and the words a person is shown (pure functions). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigSchema } from '../src/core/config.js';
import { isExempt, KEY_MAX, limitsOf, RATE_LIMIT_DEFAULTS, rateLimitKey, streamOfLimits } from '../src/core/rate-limits.js';
import { rateLimitNotice, retryHint } from '../src/pipeline/rate-limit.js';

const configOf = (rateLimits: unknown) => ConfigSchema.parse({ rateLimits }).rateLimits;

test('limits: defaults, then the door, then the actor, field by field; null is unlimited', () => {
  const config = configOf({ default: { perMinute: 4 }, doors: { telegram: { perDay: 50, usdPerDay: null } }, actors: { 'telegram:7': { perDay: 500, inFlight: 0 } } });
  assert.deepEqual(limitsOf(config, 'telegram:7'), { ...RATE_LIMIT_DEFAULTS, perMinute: 4, perDay: 500, inFlight: 0, usdPerDay: null });
  assert.deepEqual(limitsOf(config, 'telegram:8'), { ...RATE_LIMIT_DEFAULTS, perMinute: 4, perDay: 50, usdPerDay: null });
  assert.deepEqual(limitsOf(config, 'web'), { ...RATE_LIMIT_DEFAULTS, perMinute: 4 });
  assert.deepEqual(ConfigSchema.parse({}).rateLimits.default, RATE_LIMIT_DEFAULTS, 'init writes the defaults out');
});

test('exempt: the CLI, loops, system and unsealed inbox by default; by key or door; everything when disabled', () => {
  const config = configOf({});
  for (const key of ['cli', 'loop:intake', 'system:test', 'inbox']) assert.ok(isExempt(config, key), key);
  for (const key of ['telegram:1', 'web', 'forge:alice', 'agent:helper']) assert.ok(!isExempt(config, key), key);
  assert.ok(isExempt(configOf({ exempt: ['telegram:1'] }), 'telegram:1'));
  assert.ok(!isExempt(configOf({ exempt: ['telegram:1'] }), 'telegram:2'));
  assert.ok(isExempt(configOf({ exempt: ['telegram'] }), 'telegram:2'));
  assert.ok(isExempt(configOf({ enabled: false }), 'telegram:2'));
});

test('actor keys: one per Telegram user, one web holder whatever the session, one inbox source whatever the name', () => {
  assert.equal(rateLimitKey({ kind: 'adapter', name: 'telegram', user: '12345' }), 'telegram:12345');
  assert.equal(rateLimitKey({ kind: 'adapter', name: 'web', user: 'session-abcdefgh' }), 'web');
  assert.equal(rateLimitKey({ kind: 'adapter', name: 'web', user: 'bearer' }), 'web');
  assert.equal(rateLimitKey({ kind: 'inbox', name: 'anything-the-writer-chose.md' }), 'inbox');
  assert.equal(rateLimitKey({ kind: 'adapter', name: 'forge', user: 'alice' }), 'forge:alice');
  assert.equal(rateLimitKey({ kind: 'adapter', name: 'forge' }), 'forge');
  const odd = [
    { kind: 'adapter' as const, name: 'telegram', user: '../../x' },
    { kind: 'adapter' as const, name: 'a'.repeat(200), user: 'b'.repeat(200) },
    { kind: 'agent' as const, name: 'line\nbreak\u0000' },
    { kind: 'adapter' as const, name: 'telegram', user: '1:2' },
  ];
  const keys = odd.map(rateLimitKey);
  for (const key of keys) {
    assert.match(key, /^[A-Za-z0-9._:@-]+$/);
    assert.ok(key.length <= KEY_MAX);
    assert.match(streamOfLimits(key), /^limits\/[A-Za-z0-9][A-Za-z0-9._-]{0,80}$/);
  }
  assert.equal(new Set(keys).size, keys.length, 'different odd actors, different keys');
  assert.notEqual(rateLimitKey({ kind: 'adapter', name: 'telegram', user: '1:2' }), rateLimitKey({ kind: 'adapter', name: 'telegram:1', user: '2' }), 'no collision through ":"');
  assert.notEqual(streamOfLimits('a:b'), streamOfLimits('a_b'), 'streams of keys that read alike differ by hash');
});

test('what a person is told: the limit in words and the time in UTC with minutes to wait', () => {
  const now = Date.parse('2026-12-06T14:02:10Z');
  assert.equal(retryHint('2026-12-06T14:05:00.000Z', now), '14:05 UTC (in 3 min)');
  assert.equal(retryHint('2026-12-07T09:00:00.000Z', now), '2026-12-07 09:00 UTC (in 1138 min)', 'another day names the date');
  assert.equal(retryHint('2026-12-06T14:02:10.000Z', now), '14:02 UTC (in 1 min)', 'never "in 0 min"');
  assert.equal(retryHint('not a time', now), undefined);
  assert.equal(rateLimitNotice({ limit: 'perMinute', retryAt: '2026-12-06T14:03:00.000Z' }, now), 'Too many tasks: you reached the limit of new tasks per minute; try again at 14:03 UTC (in 1 min).');
  assert.equal(rateLimitNotice({ limit: 'inFlight' }, now), 'Too many tasks: you reached the limit of tasks in flight; try again when one of your tasks ends.');
  assert.equal(rateLimitNotice({ limit: 'usdPerDay', retryAt: '2026-12-07T10:00:00.000Z' }, now), 'Spending limit: you reached the limit of model spend per day; try again at 2026-12-07 10:00 UTC (in 1198 min).');
  assert.equal(rateLimitNotice({ limit: 'commandsPerMinute', retryAt: '2026-12-06T14:03:00.000Z' }, now), 'Too many commands: you reached the limit of commands per minute; try again at 14:03 UTC (in 1 min).');
  assert.equal(rateLimitNotice({ limit: '<script>', retryAt: 7 }, now), 'Too many tasks: you reached a rate limit; ask the operator.', 'unknown recorded facts are not echoed');
});
