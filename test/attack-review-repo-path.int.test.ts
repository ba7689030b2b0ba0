/**
 * Attack review: a chat user could name the workspace itself (by path or file:// URL) as a task's
 * repository. The planner would then read, and the executor's worktree and the test code get, a
 * clone of the workspace's history: every other user's task, the audit stream, the context
 * store's records. The workspace (or a directory inside it) is now refused for every actor.
 * (Other local paths stay allowed to allowed chat users: test/telegram.int.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkNewTask } from '../src/pipeline/new-task-check.js';
import { makeWorkspace } from './support/core-workspace.js';

const telegramUser = { kind: 'adapter' as const, name: 'telegram', user: '4242' };

test('an untrusted actor cannot point a dev task at the workspace itself', async (t) => {
  const ws = await makeWorkspace(t, { rateLimits: { enabled: false } });
  for (const repo of [ws.paths.root, '.', `file://${ws.paths.root}`]) {
    await assert.rejects(checkNewTask(ws, { workstream: 'dev', fields: { repo } }, telegramUser), /repositor/i, `repo ${repo} was accepted`);
  }
});
