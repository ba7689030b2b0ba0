/**
 * Attack review: `orchestra context set NPM_TOKEN --stdin` without `--secret` (rotating a token,
 * the flag forgotten) wrote the new value as knowledge: plaintext in git, readable by every model
 * (context `*`), and its first line, the token, in every step's opening message. A secret entry
 * now refuses a knowledge version; removing it first is the explicit way to change its kind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readContext, removeContext, writeContext } from '../src/core/context/store.js';
import { makeWorkspace, testActor } from './support/core-workspace.js';

test('a secret entry cannot be overwritten by a plaintext (knowledge) version', async (t) => {
  const ws = await makeWorkspace(t);
  const scope = { kind: 'workspace' } as const;
  await writeContext(ws, { scope, key: 'NPM_TOKEN', kind: 'secret', value: 'npm_old_token_123456', actor: testActor });
  await assert.rejects(writeContext(ws, { scope, key: 'NPM_TOKEN', kind: 'knowledge', value: 'npm_new_token_654321', actor: testActor }), /is a secret/);
  assert.equal((await readContext(ws, 'workspace/NPM_TOKEN')).kind, 'secret');
  // Explicit: remove, then write knowledge.
  await removeContext(ws, scope, 'NPM_TOKEN', testActor);
  assert.equal((await writeContext(ws, { scope, key: 'NPM_TOKEN', kind: 'knowledge', value: 'not a token any more', actor: testActor })).kind, 'knowledge');
});
