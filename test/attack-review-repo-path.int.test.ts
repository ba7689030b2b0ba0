/**
 * Attack review (todo, not fixed): a chat user may name any local path (or a file:// URL) as a
 * task's repository, the workspace itself included. The planner then reads, and the executor's
 * worktree and the test code get, a clone of the workspace's history: every other user's task,
 * the audit stream, the context store's records. Intake should let an untrusted actor name only a
 * configured repository or a network URL (the Telegram adapter today offers "a repository known
 * only by its path", test/telegram.int.test.ts, so this is a product decision, left open).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkNewTask } from '../src/pipeline/run-command.js';
import { makeWorkspace } from './support/core-workspace.js';

const telegramUser = { kind: 'adapter' as const, name: 'telegram', user: '4242' };

test('an untrusted actor cannot point a dev task at the workspace itself', { todo: 'untrusted actors may still name local paths' }, async (t) => {
  const ws = await makeWorkspace(t, { rateLimits: { enabled: false } });
  for (const repo of [ws.paths.root, '.', `file://${ws.paths.root}`]) {
    await assert.rejects(checkNewTask(ws, { workstream: 'dev', fields: { repo } }, telegramUser), /repositor/i, `repo ${repo} was accepted`);
  }
});
