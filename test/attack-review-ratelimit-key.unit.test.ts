/**
 * Attack review: a user name chosen to equal another actor's hashed key part (`h-<16 hex>`, which
 * the safe-part pattern lets through as written) shared that actor's ledger and used up its limits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rateLimitKey } from '../src/core/rate-limits.js';

test('a user named like another actor\'s hash does not get its rate-limit key', () => {
  const odd = { kind: 'adapter' as const, name: 'forge', user: 'Ünïcode user' };
  const hashed = rateLimitKey(odd);
  assert.match(hashed, /^forge:h-[0-9a-f]{16}$/);
  const mimic = { kind: 'adapter' as const, name: 'forge', user: hashed.slice('forge:'.length) };
  assert.notEqual(rateLimitKey(mimic), hashed);
  assert.equal(rateLimitKey({ kind: 'adapter', name: 'telegram', user: '12345' }), 'telegram:12345');
});
