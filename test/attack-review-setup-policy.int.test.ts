/**
 * Attack review: which tasks' setup steps may get the setup profile's secrets. An untrusted actor
 * chooses the tree setup runs from by its `repo` (any path or URL) and by its `base` branch (e.g.
 * `task/<id>`, which Orchestra pushed with an earlier model's edits, a setup.sh among them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskView } from '../src/core/model/task.js';
import { secretsAllowedFor } from '../src/pipeline/setup-run.js';
import { makeWorkspace } from './support/core-workspace.js';

const view = (createdBy: string, fields: Record<string, unknown>) => ({ createdBy, fields } as unknown as TaskView);

test('setup secrets: trusted creators, or a configured repository at its default base', async (t) => {
  const ws = await makeWorkspace(t, { repos: { app: '/srv/app' } });
  const chat = 'adapter:telegram:4242';
  assert.equal(secretsAllowedFor(ws, view(chat, { repo: 'app' })), true);
  assert.equal(secretsAllowedFor(ws, view(chat, { repo: '/srv/app' })), false, 'a path');
  assert.equal(secretsAllowedFor(ws, view(chat, { repo: 'https://example.com/evil.git' })), false, 'a URL');
  assert.equal(secretsAllowedFor(ws, view(chat, { repo: 'app', base: 'task/01M94PQ9A76TFC27EJJXKSF2R8' })), false, 'a chosen base');
  assert.equal(secretsAllowedFor(ws, view('cli:orchestra:me@host#1', { repo: '/srv/app', base: 'dev' })), true, 'the CLI user');
});
